"""`python -m orchestrator.cli ...` is the `aura` command."""

import sys

from orchestrator.cli.main import main

sys.exit(main())
