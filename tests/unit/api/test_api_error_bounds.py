"""Errors cross the wire bounded: whatever a request held, its status fits small trailers."""

from __future__ import annotations

import base64
from urllib.parse import quote

from google.rpc import error_details_pb2

from orchestrator.errors import (
    MAX_FIELD_VIOLATIONS,
    FieldViolation,
    InvalidArgument,
    NotFound,
    echo,
    shorten,
)

HUGE = "🦄" * 20_000  # four UTF-8 bytes each, nine once percent-encoded
TRAILER_BUDGET_BYTES = 6 * 1024


def unpack(status: object, kind: type) -> object:
    for detail in status.details:  # type: ignore[attr-defined]
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            return message
    raise AssertionError(f"no {kind.__name__} detail")


def trailer_bytes(status: object) -> int:
    """grpc-message is percent-encoded, grpc-status-details-bin base64-encoded."""
    message = quote(status.message.encode(), safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")  # type: ignore[attr-defined]
    details = base64.b64encode(status.SerializeToString())  # type: ignore[attr-defined]
    return len("grpc-message") + len(message) + len("grpc-status-details-bin") + len(details)


def test_an_error_made_of_huge_input_still_fits_the_trailer_budget() -> None:
    error = InvalidArgument(
        HUGE,
        reason=HUGE,
        metadata={f"{HUGE}{index}": HUGE for index in range(50)},
        violations=[FieldViolation(HUGE, HUGE) for _ in range(10_000)],
        retry_after_s=1.0,
        resource_type=HUGE,
        resource_name=HUGE,
    )

    status = error.to_status()

    assert trailer_bytes(status) < TRAILER_BUDGET_BYTES
    status.message.encode()  # still valid UTF-8 after shortening


def test_field_violations_beyond_the_cap_are_summed_up_as_and_n_more() -> None:
    violations = [FieldViolation(f"steps[{index}].method", "unknown") for index in range(10_000)]

    status = InvalidArgument("bad definition", violations=violations).to_status()

    bad = unpack(status, error_details_pb2.BadRequest)
    fields = [v.field for v in bad.field_violations]  # type: ignore[attr-defined]
    assert fields[:-1] == [f"steps[{index}].method" for index in range(MAX_FIELD_VIOLATIONS)]
    assert bad.field_violations[-1].description == f"and {10_000 - MAX_FIELD_VIOLATIONS} more"  # type: ignore[attr-defined]
    info = unpack(status, error_details_pb2.ErrorInfo)
    assert info.metadata["field_violation_count"] == "10000"  # type: ignore[attr-defined]


def test_a_few_violations_pass_unchanged() -> None:
    violations = [FieldViolation("name", "required"), FieldViolation("steps", "needs a step")]

    status = InvalidArgument("bad", violations=violations).to_status()

    bad = unpack(status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [  # type: ignore[attr-defined]
        ("name", "required"),
        ("steps", "needs a step"),
    ]
    assert "field_violation_count" not in unpack(status, error_details_pb2.ErrorInfo).metadata  # type: ignore[attr-defined]


def test_long_resource_names_are_shortened_not_dropped() -> None:
    status = NotFound("gone", resource_name="workflowRuns/" + "x" * 5000).to_status()

    name = unpack(status, error_details_pb2.ResourceInfo).resource_name  # type: ignore[attr-defined]
    assert name.startswith("workflowRuns/xxx") and name.endswith("…") and len(name) <= 128


def test_shorten_cuts_on_character_boundaries_and_marks_the_cut() -> None:
    assert shorten("short", 10) == "short"
    cut = shorten("é" * 100, 21)
    assert cut.endswith("…") and len(cut.encode()) <= 21 and set(cut[:-1]) == {"é"}


def test_echo_quotes_at_most_a_recognisable_prefix() -> None:
    assert echo("abc") == "'abc'"
    assert echo("y" * 5000) == "'" + "y" * 64 + "…'"
