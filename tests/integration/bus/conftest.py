"""Fixtures of the bus tests: Redis with a key prefix per test (tests/redis_fixtures.py)."""

from tests.redis_fixtures import bus, private_redis

__all__ = ["bus", "private_redis"]
