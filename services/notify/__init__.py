"""notify: triaged incidents in, notifications out to receivers (the sinks)."""
