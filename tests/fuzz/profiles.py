"""Hypothesis profiles for the fuzz suite.

`ci` (the default) is derandomized and bounded: the same examples on every run, about a minute
for the whole suite on a 2-core machine. `deep` (AURA_FUZZ_PROFILE=deep) draws fresh random
examples, twenty times as many, and keeps failures in .hypothesis/ to replay them.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Examples are real gRPC round trips, some of them whole workflow runs, on a shared CPU: a
# per-example deadline would measure the machine, not the server. Every call has a timeout.
_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("deep", derandomize=False, **_COMMON)  # type: ignore[arg-type]

PROFILE = os.environ.get("AURA_FUZZ_PROFILE", "ci")
_SCALE = {"ci": 1, "deep": 20}[PROFILE]


def budget(examples: int) -> int:
    """`examples` under the ci profile, scaled up under deep."""
    return examples * _SCALE
