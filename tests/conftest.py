"""Fixtures for every test: PostgreSQL schemas (`postgres_schema`, `postgres_schemas`)."""

pytest_plugins = ["tests.postgres_fixtures"]
