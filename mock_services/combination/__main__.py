"""`python -m mock_services.combination`: run this one mock alone (see mock_services/README.md)."""

from mock_services.common.cli import run_single

raise SystemExit(run_single("combination"))
