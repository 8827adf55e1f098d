"""ListWorkflowRuns' documented limits: page tokens are checked fully (at most 512
characters, an int64 time, a run name) and filters have at most 2048 characters and 32
comparisons, with create_time within the years 0001-9999 in UTC."""

from __future__ import annotations

import base64
import json

import pytest

from orchestrator.errors import InvalidArgument
from orchestrator.runs import PageCursor, decode_page_token, encode_page_token, parse_run_filter

NO_FILTER = parse_run_filter("")


def field_of(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


def token(**payload: object) -> str:
    genuine = {"v": 1, "t": 1, "n": "workflowRuns/a", "f": NO_FILTER.fingerprint}
    raw = json.dumps({**genuine, **payload}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [
        token(t=2**63),
        token(t=-1),
        token(t=True),
        token(t=1.0),
        token(v=True),
        token(n="elsewhere/a"),
        token(n="workflowRuns/" + "a" * 200),
        token(extra=1),
        "[" * 400,
        "A" * (513),
    ],
)
def test_run_page_tokens_are_checked_fully(bad: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(bad, NO_FILTER)
    assert field_of(raised) == ["page_token"]


def test_the_largest_cursor_round_trips() -> None:
    cursor = PageCursor(create_time_us=2**63 - 1, name="workflowRuns/" + "f" * 32)
    assert decode_page_token(encode_page_token(cursor, NO_FILTER), NO_FILTER) == cursor


@pytest.mark.parametrize(
    "text",
    [
        " AND ".join(["state = SUCCEEDED"] * 1000),
        " AND ".join(["state=FAILED"] * (33)),
        "labels.k = " + "v" * 2048,
        'create_time > "0001-01-01T00:00:00+23:59"',
        'create_time < "9999-12-31T23:59:59-23:59"',
    ],
)
def test_filters_past_their_limits_are_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_run_filter(text)
    assert field_of(raised) == ["filter"]


def test_a_filter_at_its_limits_parses() -> None:
    parsed = parse_run_filter(" AND ".join(["state=FAILED"] * 32))
    assert len(parsed.conditions) == 32
    edge = parse_run_filter('create_time >= "0001-01-01T00:00:00Z"')
    assert parse_run_filter(str(edge)) == edge
