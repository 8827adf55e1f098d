"""Documented limits of names, tokens, filters and durations: past them, INVALID_ARGUMENT
on the field, never an unexpected error further in."""

from __future__ import annotations

import base64

import pytest
from google.protobuf import duration_pb2

from orchestrator.api.definition_page_token import (
    decode_definition_token,
    encode_definition_token,
)
from orchestrator.api.request_limits import MAX_ID_LENGTH, check_resource_name
from orchestrator.errors import InvalidArgument
from orchestrator.workflows import duration_problem


def field_of(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


def test_definition_tokens_round_trip_and_nothing_else_passes() -> None:
    issued = encode_definition_token("workflowDefinitions/style_only")
    assert decode_definition_token(issued) == "workflowDefinitions/style_only"
    for bad in [
        base64.urlsafe_b64encode(b"after:" + b"a" * 5000).decode(),
        base64.urlsafe_b64encode(b"after:workflowDefinitions/Bad Id").decode(),
        base64.urlsafe_b64encode(b"before:workflowDefinitions/a").decode(),
        "not base64!",
    ]:
        with pytest.raises(InvalidArgument) as raised:
            decode_definition_token(bad)
        assert field_of(raised) == ["page_token"]


def test_resource_names_have_a_maximum_id_length() -> None:
    assert check_resource_name("workflowRuns/" + "a" * MAX_ID_LENGTH, "name", "workflowRuns/")
    for bad in ["a" * (MAX_ID_LENGTH + 1), "workflowRuns/" + "a" * (MAX_ID_LENGTH + 1)]:
        with pytest.raises(InvalidArgument) as raised:
            check_resource_name(bad, "name", "workflowRuns/")
        assert field_of(raised) == ["name"]
        assert "a" * 10 not in raised.value.message


@pytest.mark.parametrize(
    ("seconds", "nanos", "valid"),
    [
        (1, 500, True),
        (-1, -500, True),
        (315_576_000_000, 999_999_999, True),
        (315_576_000_001, 0, False),
        (0, 1_000_000_000, False),
        (1, -1, False),
        (-1, 1, False),
    ],
)
def test_durations_must_be_in_protobufs_range(seconds: int, nanos: int, valid: bool) -> None:
    problem = duration_problem(duration_pb2.Duration(seconds=seconds, nanos=nanos))
    assert (problem is None) == valid
