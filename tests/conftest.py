"""Fixtures for every test: PostgreSQL schemas (`postgres_schema`, `postgres_schemas`) and
Redis with a key prefix per test (`bus`, `private_redis`)."""

pytest_plugins = ["tests.postgres_fixtures", "tests.redis_fixtures"]
