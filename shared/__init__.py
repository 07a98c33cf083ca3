"""Code every Corral service shares: message models, configuration, Kafka plumbing.

Nothing in this package imports a service; services meet only through the
Kafka topics and the models defined here.
"""
