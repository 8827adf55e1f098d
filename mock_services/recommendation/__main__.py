"""`python -m mock_services.recommendation`: run this one mock alone (see README.md)."""

from mock_services.common.cli import run_single

raise SystemExit(run_single("recommendation"))
