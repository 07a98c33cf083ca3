"""``make bench``: Corral's throughput, latency and memory against its broker's own limit."""
