"""HTTP routes from google.api.http rules: templates as patterns, requests built from the
path, the query and the body through protobuf's JSON mapping."""

from __future__ import annotations

import pytest

from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.gateway import HttpRoute, RequestError, compile_template, routes_of

SERVICE = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]
ROUTES = {route.method.name: route for route in routes_of(SERVICE)}


def bound(route: HttpRoute, verb: str, path: str) -> dict[str, str] | None:
    return route.match(verb, path)


def test_a_variable_with_a_pattern_binds_the_whole_resource_name() -> None:
    pattern, variables = compile_template("/v1/{name=workflowRuns/*}:cancel")
    found = pattern.fullmatch("/v1/workflowRuns/abc:cancel")
    assert found is not None and found.group("v0") == "workflowRuns/abc"
    assert variables == ("name",)
    assert pattern.fullmatch("/v1/workflowRuns/a/b:cancel") is None


def test_a_double_star_spans_segments() -> None:
    route = ROUTES["GetTransactionOutcome"]
    assert bound(route, "GET", "/v1/transactionOutcomes/run1/adopt") == {
        "transaction_id": "run1/adopt"
    }


def test_the_verb_and_the_custom_method_tell_routes_of_one_path_apart() -> None:
    get, delete, cancel = (
        ROUTES["GetWorkflowRun"],
        ROUTES["DeleteWorkflowRun"],
        ROUTES["CancelWorkflowRun"],
    )
    assert bound(get, "GET", "/v1/workflowRuns/x") == {"name": "workflowRuns/x"}
    assert bound(delete, "GET", "/v1/workflowRuns/x") is None
    assert bound(delete, "DELETE", "/v1/workflowRuns/x") == {"name": "workflowRuns/x"}
    assert bound(get, "GET", "/v1/workflowRuns/x:cancel") is None
    assert bound(cancel, "POST", "/v1/workflowRuns/x:cancel") == {"name": "workflowRuns/x"}
    assert bound(ROUTES["ListWorkflowRuns"], "GET", "/v1/workflowRuns:execute") is None


def test_query_parameters_fill_the_fields_the_path_and_body_leave() -> None:
    request = ROUTES["ListWorkflowRuns"].build_request(
        {},
        [("pageSize", "10"), ("filter", "state = FAILED"), ("view", "WORKFLOW_RUN_VIEW_FULL")],
        b"",
    )
    assert request == orchestrator_pb2.ListWorkflowRunsRequest(
        page_size=10, filter="state = FAILED", view=orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL
    )


def test_snake_case_durations_bools_and_map_entries_are_accepted_in_the_query() -> None:
    analytics = ROUTES["GetAnalytics"].build_request({}, [("window", "90s")], b"")
    assert analytics.window.seconds == 90
    create = ROUTES["CreateWorkflowDefinition"].build_request(
        {}, [("validate_only", "true")], b'{"name": "workflowDefinitions/x"}'
    )
    assert create.validate_only
    assert create.workflow_definition.name == "workflowDefinitions/x"


def test_a_body_star_takes_every_field_and_the_path_wins_no_clash() -> None:
    cancel = ROUTES["CancelWorkflowRun"]
    request = cancel.build_request({"name": "workflowRuns/x"}, [], b'{"reason": "why"}')
    assert request == orchestrator_pb2.CancelWorkflowRunRequest(name="workflowRuns/x", reason="why")
    with pytest.raises(RequestError, match="set by the path"):
        cancel.build_request({"name": "workflowRuns/x"}, [], b'{"name": "workflowRuns/y"}')
    with pytest.raises(RequestError, match="in the body"):
        cancel.build_request({"name": "workflowRuns/x"}, [("reason", "q")], b"{}")


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ([("pageSize", "ten")], b"", "pageSize"),
        ([("nothing", "1")], b"", 'no field "nothing"'),
        ([("pageToken.x", "1")], b"", "not a message field"),
        ([], b"{", "not valid JSON"),
    ],
)
def test_what_is_not_the_request_is_a_request_error(
    query: list[tuple[str, str]], body: bytes, message: str
) -> None:
    route = ROUTES["ListWorkflowRuns"] if not body else ROUTES["StartWorkflowRun"]
    with pytest.raises(RequestError, match=message):
        route.build_request({}, query, body)


def test_a_method_without_a_body_refuses_one() -> None:
    with pytest.raises(RequestError, match="takes no body"):
        ROUTES["GetWorkflowRun"].build_request({"name": "workflowRuns/x"}, [], b'{"view": 1}')
