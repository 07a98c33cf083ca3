"""Kafka plumbing shared by the workers: clients, topics, the consume loop, the state layer."""
