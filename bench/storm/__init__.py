"""Alert storms with ground truth, and the benchmark that replays them through Corral.

``python -m bench.storm`` (or ``make bench-triage``) generates a storm, plays
it through ingest's HTTP endpoint, Kafka and triage on the embedded broker,
and prints how well the incidents match the truth.
"""
