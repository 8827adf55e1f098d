"""Parsing the ListWorkflowRuns filter (AIP-160 subset)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import InvalidArgument
from orchestrator.runs import (
    CreateTimeCondition,
    DefinitionCondition,
    LabelCondition,
    Operator,
    RunFilter,
    StateCondition,
    parse_run_filter,
)

JAN_1_2026_US = 1_767_225_600 * 1_000_000


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_filter_matches_everything(text: str) -> None:
    assert parse_run_filter(text) == RunFilter()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state = SUCCEEDED", StateCondition(Operator.EQ, run_pb2.RUN_STATE_SUCCEEDED)),
        ("state = RUN_STATE_FAILED", StateCondition(Operator.EQ, run_pb2.RUN_STATE_FAILED)),
        ('state != "RUNNING"', StateCondition(Operator.NE, run_pb2.RUN_STATE_RUNNING)),
        ("state=CANCELLED", StateCondition(Operator.EQ, run_pb2.RUN_STATE_CANCELLED)),
        (
            'workflow_definition = "complete_style_analysis"',
            DefinitionCondition(Operator.EQ, "workflowDefinitions/complete_style_analysis"),
        ),
        (
            "workflow_definition != workflowDefinitions/quick_look",
            DefinitionCondition(Operator.NE, "workflowDefinitions/quick_look"),
        ),
        ('labels.team = "ml"', LabelCondition("team", Operator.EQ, "ml")),
        ("labels.env != prod", LabelCondition("env", Operator.NE, "prod")),
        (
            'labels.note = "a \\"quoted\\" word"',
            LabelCondition("note", Operator.EQ, 'a "quoted" word'),
        ),
        ('labels.team = ""', LabelCondition("team", Operator.EQ, "")),
        ('create_time > "2026-01-01T00:00:00Z"', CreateTimeCondition(Operator.GT, JAN_1_2026_US)),
        ("create_time >= 2026-01-01T00:00:00Z", CreateTimeCondition(Operator.GE, JAN_1_2026_US)),
        (
            'create_time < "2026-01-01T02:00:00.5+02:00"',
            CreateTimeCondition(Operator.LT, JAN_1_2026_US + 500_000),
        ),
        ('create_time <= "2026-01-01t00:00:00z"', CreateTimeCondition(Operator.LE, JAN_1_2026_US)),
    ],
)
def test_single_comparisons(text: str, expected: object) -> None:
    assert parse_run_filter(text) == RunFilter((expected,))  # type: ignore[arg-type]


def test_comparisons_joined_by_and() -> None:
    parsed = parse_run_filter(
        'state = SUCCEEDED AND labels.team = "ml" AND create_time > "2026-01-01T00:00:00Z"'
    )

    assert parsed.conditions == (
        StateCondition(Operator.EQ, run_pb2.RUN_STATE_SUCCEEDED),
        LabelCondition("team", Operator.EQ, "ml"),
        CreateTimeCondition(Operator.GT, JAN_1_2026_US),
    )


def test_canonical_text_parses_back_to_the_same_filter() -> None:
    parsed = parse_run_filter(
        'state=SUCCEEDED AND workflow_definition = x AND labels.k != "a \\"b\\"" '
        'AND create_time <= "2026-03-04T05:06:07.123456Z"'
    )

    assert parse_run_filter(str(parsed)) == parsed


def test_fingerprint_ignores_condition_order_and_spelling() -> None:
    one = parse_run_filter('state = SUCCEEDED AND labels.team = "ml"')
    two = parse_run_filter("labels.team = ml AND state = RUN_STATE_SUCCEEDED")

    assert one.fingerprint == two.fingerprint
    assert one.fingerprint != parse_run_filter("state = SUCCEEDED").fingerprint
    assert RunFilter().fingerprint == parse_run_filter("").fingerprint


@dataclass
class Run:
    state: int = run_pb2.RUN_STATE_SUCCEEDED
    workflow_definition: str = "workflowDefinitions/demo"
    labels: dict[str, str] = field(default_factory=dict)
    create_time: float = 1_767_225_600.0


@pytest.mark.parametrize(
    ("text", "run", "matches"),
    [
        ("state = SUCCEEDED", Run(), True),
        ("state != SUCCEEDED", Run(), False),
        ("workflow_definition = demo", Run(), True),
        ("labels.team = ml", Run(labels={"team": "ml"}), True),
        ("labels.team = ml", Run(), False),
        ("labels.team != ml", Run(), True),  # a missing label is "not ml"
        ("labels.team != ml", Run(labels={"team": "ml"}), False),
        ('create_time >= "2026-01-01T00:00:00Z"', Run(), True),
        ('create_time > "2026-01-01T00:00:00Z"', Run(), False),
        ('create_time < "2026-01-01T00:00:00.000001Z"', Run(), True),
        ("state = SUCCEEDED AND labels.team = ml", Run(labels={"team": "ml"}), True),
        ("state = SUCCEEDED AND labels.team = ml", Run(labels={"team": "ops"}), False),
    ],
)
def test_reference_semantics(text: str, run: Run, matches: bool) -> None:
    assert parse_run_filter(text).matches(run) is matches


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("status = SUCCEEDED", "unknown field 'status'"),
        ("state = DONE", "unknown state 'DONE'"),
        ("state = UNSPECIFIED", "unknown state"),
        ("state = succeeded", "unknown state"),
        ("state > SUCCEEDED", "operator '>' is not supported for state"),
        ("labels.team < ml", "operator '<' is not supported for labels.team"),
        ("workflow_definition >= x", "not supported for workflow_definition"),
        ('create_time = "2026-01-01T00:00:00Z"', "operator '=' is not supported for create_time"),
        ('create_time > "yesterday"', "expected an RFC 3339 timestamp"),
        ('create_time > "2026-01-01T00:00:00"', "UTC offset"),
        ('create_time > "2026-01-01"', "UTC offset"),
        ("workflow_definition = Bad-Name", "invalid workflow_definition"),
        ("workflow_definition = workflowDefinitions/", "invalid workflow_definition"),
        ("labels. = x", "invalid label key"),
        ("labels.a.b = x", "invalid label key"),
        ("labels:team", "has operator ':' is not supported"),
        ("state = SUCCEEDED and labels.team = ml", "keywords are case-sensitive"),
        ("state = SUCCEEDED OR state = FAILED", "OR is not supported"),
        ("NOT state = FAILED", "NOT at position 0 is not supported"),
        ("state = FAILED AND AND state = FAILED", "AND at position 19 is not supported"),
        ("state = SUCCEEDED state = FAILED", "expected AND"),
        ("state = SUCCEEDED AND", "expected a comparison after AND"),
        ("state =", "incomplete comparison"),
        ("state", "incomplete comparison"),
        ("state SUCCEEDED x", "expected an operator"),
        ("state = = SUCCEEDED", "expected a value"),
        ('labels.team = "ml', "unterminated string"),
        ("(state = FAILED)", "parentheses are not supported"),
        ("state == FAILED", "expected a value"),
        ("labels.team = 'ml'", "unexpected character"),
        ('"state" = FAILED', "expected a field name"),
    ],
)
def test_bad_filters_are_invalid_argument_on_the_filter_field(text: str, complaint: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_run_filter(text)

    violations = raised.value.violations
    assert [violation.field for violation in violations] == ["filter"]
    assert complaint in violations[0].description
    assert complaint in raised.value.message
