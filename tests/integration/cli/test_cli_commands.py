"""The `aura` client commands against a real orchestrator, run as a user runs them:
JSON that a JSON parser reads, ids that survive a pipe and a narrow terminal, a cancelled
run without a result, and a plain sentence when no orchestrator answers."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from tests.helpers import eventually
from tests.integration.cli_process import AURA, aura, clean_env, free_port
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute

pytestmark = pytest.mark.integration


async def test_run_with_json_prints_only_the_finished_run_on_stdout(
    orchestrator: OrchestratorServer,
) -> None:
    result = await aura(
        "run",
        "complete_style_analysis",
        "--input",
        json.dumps(STYLE_INPUT),
        "--json",
        "--address",
        orchestrator.address,
    )
    assert result.code == 0, result.stderr
    run = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert run["state"] == "RUN_STATE_SUCCEEDED"
    assert "run_finished" in result.stderr, "the progress still shows, on stderr"


async def test_list_and_services_with_json_are_their_answers_as_json(
    orchestrator: OrchestratorServer, stub: Stub
) -> None:
    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    listed = await aura("list", "--json", "--address", orchestrator.address)
    assert listed.code == 0, listed.stderr
    assert [r["name"] for r in json.loads(listed.stdout)["workflowRuns"]] == [run.name]

    services = await aura("services", "--json", "--address", orchestrator.address)
    assert services.code == 0, services.stderr
    names = {s["service"] for s in json.loads(services.stdout)["services"]}
    assert "aura.nlu.v1.NluService" in names and len(names) == 5


async def test_services_shows_the_replicas_and_the_queue_in_a_terminal(
    orchestrator: OrchestratorServer, stub: Stub
) -> None:
    shown = await aura("services", "--address", orchestrator.address)
    assert shown.code == 0, shown.stderr
    assert "local (this one)" in shown.stdout and "alive" in shown.stdout
    assert "queued runs: 0" in shown.stdout


@pytest.mark.parametrize(
    "terminal", [{}, {"FORCE_COLOR": "1", "COLUMNS": "40"}], ids=["piped", "narrow-terminal"]
)
async def test_a_listed_run_name_can_be_pasted_into_get(
    orchestrator: OrchestratorServer, stub: Stub, terminal: dict[str, str]
) -> None:
    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    env = clean_env(**terminal)
    listed = await aura("list", "--address", orchestrator.address, env=env)
    assert listed.code == 0, listed.stderr
    pasted = next(word for word in listed.stdout.split() if word.startswith("workflowRuns/"))
    assert pasted == run.name

    got = await aura("get", pasted, "--address", orchestrator.address, env=env)
    assert got.code == 0, got.stderr
    assert run.name in got.stdout


async def test_a_run_cancelled_while_watched_prints_why_and_no_step_result(
    mesh: MockMesh, orchestrator: OrchestratorServer, stub: Stub
) -> None:
    mesh["recommendation"].faults.latency_ms = 30_000  # the run waits on its last steps
    process = asyncio.create_task(
        aura(
            "run",
            "complete_style_analysis",
            "--input",
            json.dumps(STYLE_INPUT),
            "--address",
            orchestrator.address,
        )
    )

    async def running_run() -> str:
        listed = await stub.ListWorkflowRuns(
            orchestrator_pb2.ListWorkflowRunsRequest(view=orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL)
        )
        runs = [r for r in listed.workflow_runs if r.state == run_pb2.RUN_STATE_RUNNING]
        done = [s for r in runs for s in r.steps if s.state == run_pb2.STEP_STATE_SUCCEEDED]
        return runs[0].name if runs and done else ""

    name = await eventually(running_run, timeout_s=30, interval_s=0.1)
    await stub.CancelWorkflowRun(
        orchestrator_pb2.CancelWorkflowRunRequest(name=name, reason="enough")
    )
    result = await process

    assert result.code == 2
    assert "result of step" not in result.stdout
    assert f"{name} RUN_STATE_CANCELLED" in result.stdout


async def test_ctrl_c_on_a_run_says_it_goes_on_and_how_to_follow_or_cancel_it(
    mesh: MockMesh, orchestrator: OrchestratorServer, stub: Stub
) -> None:
    mesh["recommendation"].faults.latency_ms = 30_000
    process = await asyncio.create_subprocess_exec(
        AURA,
        "run",
        "complete_style_analysis",
        "--input",
        json.dumps(STYLE_INPUT),
        "--address",
        orchestrator.address,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )

    assert process.stdout is not None
    shown = b""
    while b"step_started" not in shown:  # the client has the run's first events
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line, "aura run ended before the run started"
        shown += line
    process.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    listed = await stub.ListWorkflowRuns(
        orchestrator_pb2.ListWorkflowRunsRequest(view=orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL)
    )
    name = listed.workflow_runs[0].name

    assert process.returncode == 130
    text = (shown + out).decode()
    assert f"interrupted; {name} goes on" in text
    assert f"aura cancel {name}" in text
    assert "result of step" not in text
    got = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
    assert got.workflow_run.state == run_pb2.RUN_STATE_RUNNING


async def test_no_orchestrator_says_what_to_run_instead_of_the_transport_error() -> None:
    address = f"127.0.0.1:{free_port()}"
    for command in (("list",), ("get", "workflowRuns/x"), ("services",)):
        result = await aura(*command, "--address", address)
        assert result.code == 1
        assert f"no orchestrator answers at {address}" in result.stderr
        assert "aura up" in result.stderr
        assert "failed to connect" not in result.stderr
        assert "Traceback" not in result.stderr


async def test_a_bad_setting_is_one_line_naming_it_not_a_traceback() -> None:
    result = await aura("list", env=clean_env(AURA_PORT="eighty"))
    assert result.code == 2
    assert "AURA_PORT='eighty': expected a port number 0-65535" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_misspelt_setting_is_warned_about_with_the_right_name() -> None:
    result = await aura("config", env=clean_env(AURA_PROT="9000"))
    assert result.code == 0
    assert "AURA_PROT is not a setting and is ignored; did you mean AURA_PORT?" in result.stderr


async def test_config_prints_json_without_python_reprs() -> None:
    result = await aura("config", env=clean_env(AURA_MAX_ACTIVE_RUNS="7"))
    assert result.code == 0, result.stderr
    effective = json.loads(result.stdout)
    assert effective["AURA_MAX_ACTIVE_RUNS"] == 7
    assert "frozenset" not in result.stdout and "StatusCode" not in result.stdout


async def test_analytics_is_a_table_unless_json_is_asked_for(
    orchestrator: OrchestratorServer, stub: Stub
) -> None:
    await execute(stub, "complete_style_analysis", STYLE_INPUT)
    table = await aura("analytics", "--address", orchestrator.address)
    assert table.code == 0, table.stderr
    row = next(
        line for line in table.stdout.splitlines() if line.startswith("complete_style_analysis")
    )
    assert row.split()[1:3] == ["1", "100.0%"]
    assert "runCount" not in table.stdout

    as_json = await aura("analytics", "--json", "--address", orchestrator.address)
    assert json.loads(as_json.stdout)["definitions"][0]["runCount"] == "1"
