"""Corral's services. Each runs and scales alone; they meet only through Kafka."""
