"""The Redis fixture skips with its reason when Redis is unreachable, and fails
instead when AURA_REQUIRE_SERVICES=1 (CI)."""

from __future__ import annotations

import pytest

from tests.redis_fixtures import require_redis

pytestmark = pytest.mark.integration
NOBODY = "redis://127.0.0.1:45098/0"  # a port of this suite's range where nothing listens


def test_an_unreachable_redis_skips_the_test_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURA_TEST_REDIS_URL", NOBODY)
    monkeypatch.delenv("AURA_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"Redis at {NOBODY} is unreachable"):
        require_redis()


def test_an_unreachable_redis_fails_the_test_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AURA_TEST_REDIS_URL", NOBODY)
    monkeypatch.setenv("AURA_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="AURA_REQUIRE_SERVICES=1"):
        require_redis()
