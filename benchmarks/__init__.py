"""Benchmarks: orchestration overhead against a hand-written client, throughput, scale, peers.

`python -m benchmarks` (or `make bench`) starts the mock mesh and the orchestrator as separate
processes, runs every scenario from this process (the load generator) and prints a table plus
a JSON file. `python -m benchmarks --smoke` is the seconds-long form the test suite runs.
"""
