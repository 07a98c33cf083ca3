"""What every worker's HTTP listener shares: TLS, authentication, roles and bounds.

``config`` reads the web configuration file (Prometheus' format), ``tls`` and
``auth`` turn it into a TLS context and an authenticator, ``guard`` is the
middleware every request passes, ``openapi`` describes each worker's API and
``client`` is the other side: how Corral's own commands and tests call a
protected worker.
"""
