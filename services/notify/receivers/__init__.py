"""Receivers: the integrations that carry a notification to a service."""
