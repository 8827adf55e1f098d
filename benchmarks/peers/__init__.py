"""The same workflow on other engines (DBOS, Prefect 3), for comparison with the orchestrator.

The peer frameworks live in their own venv (benchmarks/.venv-peers, `setup.sh`), never in the
project's: `run.run_peers` drives them from the main benchmark as separate processes.
"""
