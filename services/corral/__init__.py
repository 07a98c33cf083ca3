"""The ``corral`` command: the one place that knows every service.

Services never import each other; this package may, because it is the entry
point that starts them (``corral up``) and validates their whole config.
"""
