"""Opaque page tokens: the keyset cursor plus the filter they were issued for."""

from __future__ import annotations

import base64
import json

import pytest

from orchestrator.errors import InvalidArgument
from orchestrator.runs import PageCursor, decode_page_token, encode_page_token, parse_run_filter

CURSOR = PageCursor(create_time_us=1_767_225_600_123_456, name="workflowRuns/abc")


def test_token_round_trips_with_the_same_filter() -> None:
    run_filter = parse_run_filter('state = SUCCEEDED AND labels.team = "ml"')

    token = encode_page_token(CURSOR, run_filter)

    assert decode_page_token(token, run_filter) == CURSOR
    assert token.isascii() and "=" not in token and "/" not in token and "+" not in token


def test_same_filter_written_differently_accepts_the_token() -> None:
    token = encode_page_token(CURSOR, parse_run_filter("state = SUCCEEDED AND labels.team = ml"))

    equivalent = parse_run_filter('labels.team = "ml" AND state = RUN_STATE_SUCCEEDED')
    assert decode_page_token(token, equivalent) == CURSOR


def test_empty_token_means_first_page() -> None:
    assert decode_page_token("", parse_run_filter("")) is None


def test_token_from_another_filter_is_rejected() -> None:
    token = encode_page_token(CURSOR, parse_run_filter("state = SUCCEEDED"))

    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token, parse_run_filter("state = FAILED"))

    assert [v.field for v in raised.value.violations] == ["page_token"]
    assert "different filter" in raised.value.violations[0].description


def _b64(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "not a token!",
        "abc",
        _b64([1, 2, 3]),
        _b64({"v": 2, "t": 1, "n": "workflowRuns/a", "f": "x"}),
        _b64({"v": 1, "t": "1", "n": "workflowRuns/a", "f": "x"}),
        _b64({"v": 1, "t": 1, "f": "x"}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_malformed_tokens_are_rejected(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token, parse_run_filter(""))

    assert [v.field for v in raised.value.violations] == ["page_token"]
    assert "malformed" in raised.value.violations[0].description
