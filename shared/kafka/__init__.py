"""Kafka plumbing shared by the workers: clients, topics, the consume loop, changelogs."""
