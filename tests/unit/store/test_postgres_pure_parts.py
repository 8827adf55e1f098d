"""The PostgreSQL store's pure parts: NOTIFY channels and payloads, filters as SQL, URLs
without passwords, the shipped migrations. No server needed."""

from __future__ import annotations

import pytest

from orchestrator.runs import RunFilter, parse_run_filter
from orchestrator.store.postgres_filter import filter_to_sql
from orchestrator.store.postgres_notify import (
    MAX_PAYLOAD_BYTES,
    channel_name,
    commit_payloads,
    deleted_payloads,
    parse_payload,
    queue_lock_key,
)
from orchestrator.store.postgres_schema import migrations, redact, schema_version
from tests.unit.store.run_events import created, finished, scheduled


def test_a_channel_names_schema_and_tenant_and_fits_an_identifier() -> None:
    assert channel_name("aura_t_ab12", "default") == "aura_aura_t_ab12_default"
    long = channel_name("s" * 80, "default")
    odd = channel_name("Prod-Schema", "default")
    assert len(long.encode()) <= 63 and len(odd) <= 63
    assert long != channel_name("s" * 81, "default")  # hashed, not just cut
    assert odd == odd.lower() and odd != channel_name("prod_schema", "default")
    assert queue_lock_key("a", "default") != queue_lock_key("b", "default")
    assert -(2**63) <= queue_lock_key("a", "default") < 2**63


def test_a_commit_hints_each_runs_last_seq_and_a_finish_moves_the_queue() -> None:
    events = [created("a"), scheduled("a", 2), scheduled("b", 7), finished("a", 3)]

    [payload] = commit_payloads(events)

    hints = parse_payload(payload)
    assert hints.commits == [("workflowRuns/a", 3), ("workflowRuns/b", 7)]
    assert hints.queue_changed and hints.cancels == []
    assert not parse_payload(commit_payloads([created("c")])[0]).queue_changed
    assert parse_payload(commit_payloads([created("c")], queued=True)[0]).queue_changed
    assert commit_payloads([]) == []


def test_a_big_commit_is_split_into_payloads_notify_accepts() -> None:
    events = [scheduled(f"run-{index:05}", 2) for index in range(2000)]

    payloads = commit_payloads(events)

    assert len(payloads) > 1
    assert all(len(payload.encode()) <= MAX_PAYLOAD_BYTES for payload in payloads)
    heard = [hint for payload in payloads for hint in parse_payload(payload).commits]
    assert heard == [(f"workflowRuns/run-{index:05}", 2) for index in range(2000)]


def test_cancel_and_delete_hints_are_read_and_unknown_lines_skipped() -> None:
    hints = parse_payload(
        "x workflowRuns/a stop it now\nx workflowRuns/b\nz future\nc bad x\nd workflowRuns/c"
    )

    assert hints.cancels == [("workflowRuns/a", "stop it now"), ("workflowRuns/b", "")]
    assert hints.commits == [] and hints.deleted == ["workflowRuns/c"]
    assert deleted_payloads(["workflowRuns/c"]) == ["d workflowRuns/c"]


@pytest.mark.parametrize(
    ("text", "sql", "params"),
    [
        ("", "TRUE", []),
        ("state = SUCCEEDED", "state = $2::smallint", [3]),
        ("labels.team != ml", "(labels ->> $2) IS DISTINCT FROM $3", ["team", "ml"]),
        (
            'workflow_definition = quick_look AND create_time > "2026-01-01T00:00:00Z"',
            "workflow_definition = $2 AND create_time_us > $3::bigint",
            ["workflowDefinitions/quick_look", 1_767_225_600_000_000],
        ),
    ],
)
def test_filters_become_sql_with_numbered_parameters(
    text: str, sql: str, params: list[object]
) -> None:
    run_filter = parse_run_filter(text) if text else RunFilter()

    assert filter_to_sql(run_filter, 2) == (sql, params)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@db:5432/x?search_path=s", "postgresql://u@db:5432/x?search_path=s"),
        ("postgresql://u@db/x", "postgresql://u@db/x"),
        ("postgresql://u:secret@db:port/x", "postgresql://u@db:port/x"),
    ],
)
def test_urls_in_messages_have_no_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_the_shipped_migrations_are_numbered_from_1() -> None:
    shipped = migrations()

    assert [migration.version for migration in shipped] == list(range(1, len(shipped) + 1))
    assert schema_version() == len(shipped) >= 2
    assert "CREATE TABLE runs" in shipped[0].sql and "replicas" in shipped[1].sql
