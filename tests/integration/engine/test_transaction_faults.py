"""The fault table of two-phase commit, with real processes killed with SIGKILL: the
orchestrator (`aura serve`) and the three participating mocks (one process), each checked
afterwards through every service's durable state (its SQLite file), not only the run's.

A trial of a kill -9 row is one crash instant: on one mock process and one orchestrator
data directory, the trial starts its own PER_CRASH adopt_outfit runs, waits until they are
in the row's window, lets `offset` more pass (a different instant in the window each
trial, from 0 to OFFSET_SHARE of the recommendation mock's latency), kills the process
with SIGKILL, checks from the durable state that the kill did land in the window,
restarts the process, and checks its transactions in every service's durable state and
the runs, plus the cumulative state of every trial before it (exactly-once counts). Each
row needs CRASHES trials that landed in the window. A trial that missed it (a loaded
machine can stall a sleep or a kill past the window's end) never counts: its outcome is
still checked (atomic, exactly once), it is run again at the same offset, and more than
MAX_MISSES misses fail the row, naming each miss.

The recommendation mock answers every call (Prepare, Commit, Abort) after its latency,
which holds the window open: its Prepare in flight (before the decision) or its Commit in
flight (after it). The unreachable row freezes the participants once, with TRIALS
transactions in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from aura.transaction.v1 import participant_pb2 as tx
from orchestrator.runs import FINAL_RUN_STATES
from tests.helpers import eventually
from tests.integration.cli_process import OrchestratorProcess, free_port
from tests.integration.transaction_helpers import (
    ABORTED,
    COMMITTED,
    PREPARED,
    MockProcess,
    adoption_request,
    all_states,
    durable_state,
    prepare,
)

pytestmark = pytest.mark.integration

# The kill -9 rows: CRASHES trials (crash instants) each, PER_CRASH transactions in flight
# at every crash.
CRASHES = 20
PER_CRASH = 2
# The crash rows' recommendation latency (the window's length); a trial's crash comes
# from 0 to OFFSET_SHARE of it after the window was seen open, spread evenly over the
# trials. The rest is margin: seeing the window open lags its opening, the transactions of
# a trial start a little apart, and on a loaded machine a sleep and a kill overshoot (a
# kill meant 142 ms in landed 219 ms in, past a 300 ms window's end).
CRASH_LATENCY_MS = 400
OFFSET_SHARE = 0.3
CRASH_ROW_TIMEOUT_S = 150
# The unreachable row: TRIALS transactions in flight while the participants are frozen.
TRIALS = 20
LATENCY_MS = 1000
# The row: a participant unreachable for 30 s after the decision. AURA_TEST_UNREACHABLE_S
# shortens it for a quick local run; the suite runs the full 30 s.
UNREACHABLE_S = float(os.environ.get("AURA_TEST_UNREACHABLE_S", "30"))
# The branch id of each service's step in adopt_outfit.
BRANCH = {"style": "learn", "combination": "wardrobe", "recommendation": "feedback"}


@dataclass
class World:
    mocks: MockProcess
    orchestrator: OrchestratorProcess
    stub: orchestrator_pb2_grpc.OrchestratorServiceStub

    def freeze_orchestrator(self) -> None:
        assert self.orchestrator.process is not None
        self.orchestrator.process.send_signal(signal.SIGSTOP)

    def thaw_orchestrator(self) -> None:
        assert self.orchestrator.process is not None
        self.orchestrator.process.send_signal(signal.SIGCONT)


@dataclass(frozen=True)
class Adoption:
    run: str
    txn: str
    outfit: str


@asynccontextmanager
async def _world(data_dir: Path, latency_ms: int, **orchestrator_env: str) -> AsyncIterator[World]:
    mocks = MockProcess(data_dir / "mocks", AURA_MOCK_RECOMMENDATION_LATENCY_MS=str(latency_ms))
    await mocks.start()
    orchestrator = OrchestratorProcess(mocks, data_dir / "orchestrator", free_port())  # type: ignore[arg-type]
    orchestrator.env.update(AURA_LOG_LEVEL="ERROR", **orchestrator_env)
    await orchestrator.start()
    channel = grpc.aio.insecure_channel(orchestrator.address)
    try:
        yield World(mocks, orchestrator, orchestrator_pb2_grpc.OrchestratorServiceStub(channel))
    finally:
        await channel.close()
        if orchestrator.process is not None and orchestrator.process.returncode is None:
            orchestrator.process.send_signal(signal.SIGCONT)
        await orchestrator.terminate()
        await mocks.stop()


@pytest.fixture(name="world")
async def world_fixture(tmp_path: Path) -> AsyncIterator[World]:
    async with _world(tmp_path, LATENCY_MS) as world:
        yield world


@pytest.fixture(name="crash_world")
async def crash_world_fixture(tmp_path: Path) -> AsyncIterator[World]:
    async with _world(tmp_path, CRASH_LATENCY_MS) as world:
        yield world


async def _start_adoptions(world: World, outfits: list[str]) -> list[Adoption]:
    """One adopt_outfit run per outfit, all at once."""

    async def start(outfit: str) -> Adoption:
        run_input = struct_pb2.Struct()
        run_input.update(
            {"user_id": "ada", "outfit_id": outfit, "item_skus": ["TOP-001", "BTM-001"]}
        )
        answer = await world.stub.StartWorkflowRun(
            orchestrator_pb2.StartWorkflowRunRequest(
                workflow_definition="adopt_outfit", input=run_input
            ),
            timeout=10,
        )
        name = answer.workflow_run.name
        return Adoption(name, f"{name.removeprefix('workflowRuns/')}/adopt", outfit)

    return list(await asyncio.gather(*(start(outfit) for outfit in outfits)))


async def _runs(world: World, names: list[str]) -> list[run_pb2.WorkflowRun]:
    answers = await asyncio.gather(
        *(
            world.stub.GetWorkflowRun(
                orchestrator_pb2.GetWorkflowRunRequest(
                    name=name, view=orchestrator_pb2.WORKFLOW_RUN_VIEW_BASIC
                ),
                timeout=5,
            )
            for name in names
        )
    )
    return [answer.workflow_run for answer in answers]


async def _all_decided(world: World, names: list[str]) -> bool:
    runs = await _runs(world, names)
    return all(
        run.transactions
        and run.transactions[0].decision != run_pb2.TRANSACTION_DECISION_UNSPECIFIED
        for run in runs
    )


async def _all_committed(world: World, adoptions: list[Adoption]) -> None:
    """Until every run's COMMIT is on record (durable before any Commit goes out)."""
    names = [a.run for a in adoptions]
    await eventually(lambda: _all_decided(world, names), timeout_s=10, interval_s=0.005)
    decisions = {run.transactions[0].decision for run in await _runs(world, names)}
    assert decisions == {run_pb2.TRANSACTION_DECISION_COMMIT}


async def _finished(
    world: World, names: list[str], timeout_s: float = 20
) -> list[run_pb2.WorkflowRun]:
    """Until every run is finished."""

    async def check() -> list[run_pb2.WorkflowRun] | None:
        runs = await _runs(world, names)
        return runs if all(run.state in FINAL_RUN_STATES for run in runs) else None

    found: list[run_pb2.WorkflowRun] = await eventually(check, timeout_s=timeout_s, interval_s=0.05)
    return found


async def _all_final(
    world: World, names: list[str], state: int, timeout_s: float = 20
) -> list[run_pb2.WorkflowRun]:
    """Until every run is finished; each must have finished in `state`."""
    found = await _finished(world, names, timeout_s)
    assert [run_pb2.RunState.Name(run.state) for run in found] == [
        run_pb2.RunState.Name(state)
    ] * len(names)
    return found


def _branch(world: World, service: str, txn: str) -> int | None:
    return durable_state(world.mocks.data_dir, service).branches.get((txn, BRANCH[service]))


def _prepared(world: World, txns: list[str]) -> set[tuple[str, str]]:
    """(service, transaction id) of every branch of `txns` durably PREPARED now."""
    return {
        (service, txn)
        for service, state in all_states(world.mocks.data_dir).items()
        for txn in txns
        if state.branches.get((txn, BRANCH[service])) == PREPARED
    }


def _committed_exactly_once(world: World, adoptions: list[Adoption]) -> None:
    """Every adoption so far committed once in every service, and nothing else applied."""
    for service, state in all_states(world.mocks.data_dir).items():
        assert state.applied == {a.outfit: 1 for a in adoptions}, service
        for adoption in adoptions:
            txn = adoption.txn
            assert state.branches[(txn, BRANCH[service])] == COMMITTED, (service, txn)
            assert state.count(txn, "commit") == 1, (service, txn)
            assert state.count(txn, "abort") == state.count(txn, "null_abort") == 0
    units = durable_state(world.mocks.data_dir, "recommendation").held_units
    assert units == 2 * len(adoptions)  # two items held per adoption, once each


def _aborted_everywhere(world: World, aborted: list[Adoption], committed: list[Adoption]) -> None:
    """Every adoption of `aborted` aborted in every service (nothing applied, nothing
    held), every one of `committed` committed once."""
    for service, state in all_states(world.mocks.data_dir).items():
        assert state.applied == {a.outfit: 1 for a in committed}, service
        for adoption in aborted:
            txn = adoption.txn
            assert state.branches[(txn, BRANCH[service])] == ABORTED, (service, txn)
            assert state.count(txn, "commit") == 0, (service, txn)
            assert state.count(txn, "abort") + state.count(txn, "null_abort") == 1
    units = durable_state(world.mocks.data_dir, "recommendation").held_units
    assert units == 2 * len(committed)


Trial = Callable[[World, int, list[Adoption], float], Awaitable[str | None]]
"""One trial: (world, crash, its adoptions just started, offset) -> None when the crash
landed in the row's window, else how it missed."""

MAX_MISSES = 5


async def _trials(
    world: World, trial: Trial, crashes: int = CRASHES, per_crash: int = PER_CRASH
) -> tuple[list[Adoption], list[Adoption]]:
    """(adoptions of the trials that hit the window, of those that missed it): `crashes`
    trials of one row, one after the other on the same processes, each with `per_crash`
    runs of its own and crashing `offset_s` into its window, the offsets spread evenly.
    A trial whose crash missed the window (a loaded machine stalls a sleep or a kill past
    it) has its outcome checked all the same but does not count: it is run again at the
    same offset, and more than MAX_MISSES misses fail the row."""
    hit: list[Adoption] = []
    missed: list[Adoption] = []
    misses: list[str] = []
    while len(hit) < crashes * per_crash:
        crash = len(hit) // per_crash
        attempt = crash + len(misses)
        adoptions = await _start_adoptions(
            world, [f"outfit-{attempt}-{k}" for k in range(per_crash)]
        )
        offset_s = crash / max(1, crashes - 1) * OFFSET_SHARE * CRASH_LATENCY_MS / 1000
        miss = await trial(world, crash, adoptions, offset_s)
        if miss is None:
            hit.extend(adoptions)
            continue
        missed.extend(adoptions)
        misses.append(miss)
        assert len(misses) <= MAX_MISSES, f"{len(misses)} crashes missed the window: {misses}"
    return hit, missed


def _into(crash: int, opened: float) -> str:
    return f"crash {crash}, {1000 * (time.monotonic() - opened):.0f} ms into the window"


async def _settled_atomically(world: World, adoptions: list[Adoption]) -> list[Adoption]:
    """Each transaction committed in every service or aborted in every one, as its run
    says; returns those that committed."""
    if not adoptions:
        return []
    runs = await _finished(world, [a.run for a in adoptions])
    states = all_states(world.mocks.data_dir)
    committed = []
    for adoption, run in zip(adoptions, runs, strict=True):
        branches = {states[n].branches.get((adoption.txn, b)) for n, b in BRANCH.items()}
        if run.state == run_pb2.RUN_STATE_SUCCEEDED:
            assert branches == {COMMITTED}, adoption
            committed.append(adoption)
        else:
            assert branches == {ABORTED}, adoption
    return committed


async def _kill_orchestrator_before_the_decision(
    world: World, crash: int, adoptions: list[Adoption], offset_s: float
) -> str | None:
    data, txns = world.mocks.data_dir, [a.txn for a in adoptions]

    # The window: style and combination prepared; recommendation's Prepare, held by its
    # latency, not answered yet.
    def window_open() -> bool:
        prepared = _prepared(world, txns)
        return all((s, t) in prepared for s in ("style", "combination") for t in txns)

    await eventually(window_open, timeout_s=10, interval_s=0.005)
    opened = time.monotonic()
    await asyncio.sleep(offset_s)
    await world.orchestrator.kill()
    into = _into(crash, opened)
    states = all_states(data)
    late = [t for t in txns if (t, BRANCH["recommendation"]) in states["recommendation"].branches]
    if late:
        await world.orchestrator.start()
        await _settled_atomically(world, adoptions)
        return f"{into}: recommendation had prepared {late}"
    assert not {COMMITTED} & {
        s.branches.get((t, BRANCH[n])) for n, s in states.items() for t in txns
    }

    await world.orchestrator.start()
    restarted = time.monotonic()
    await eventually(lambda: not _prepared(world, txns), timeout_s=10, interval_s=0.02)
    assert time.monotonic() - restarted < 10, f"{into}: still prepared 10 s after the restart"
    runs = await _all_final(world, [a.run for a in adoptions], run_pb2.RUN_STATE_FAILED)
    for run in runs:
        transaction = run.transactions[0]
        assert transaction.state == run_pb2.TRANSACTION_STATE_ABORTED, into
        # The orchestrator's own history: the crash came before it decided.
        assert "not decided when its coordinator restarted" in transaction.error.message, into
        assert "TRANSACTION_ABORTED" in str(run.error.details), into
    for service, state in all_states(data).items():
        assert {state.branches[(t, BRANCH[service])] for t in txns} == {ABORTED}, (into, service)

    # Abort before Prepare: recommendation never recorded these Prepares (the kill ended
    # them in flight), so the resumed coordinator's Abort fenced them; a late Prepare is
    # refused and holds nothing.
    effects = durable_state(data, "recommendation").effects
    for txn in txns:
        assert [e for t, _, e in effects if t == txn] == ["null_abort"], (into, txn)
    held = durable_state(data, "recommendation").held_units
    address = world.mocks.address("recommendation")
    answers = await asyncio.gather(
        *(
            prepare(
                address, t, BRANCH["recommendation"], adoption_request("recommendation", "ada", t)
            )
            for t in txns
        )
    )
    assert {answer.vote for answer in answers} == {tx.VOTE_NO}, into
    assert durable_state(data, "recommendation").held_units == held, into
    return None


async def _aborted_before_the_decision(world: World, crashes: int, per_crash: int) -> None:
    hit, missed = await _trials(world, _kill_orchestrator_before_the_decision, crashes, per_crash)

    assert len(hit) == crashes * per_crash
    committed = await _settled_atomically(world, missed)
    _aborted_everywhere(world, [*hit, *(a for a in missed if a not in committed)], committed)


@pytest.mark.timeout(CRASH_ROW_TIMEOUT_S)
async def test_orchestrator_killed_before_the_decision_every_participant_aborts(
    crash_world: World,
) -> None:
    await _aborted_before_the_decision(crash_world, CRASHES, PER_CRASH)


async def test_orchestrator_killed_before_its_events_are_committed_never_prepares_again(
    tmp_path: Path,
) -> None:
    """The store holds events up to AURA_STORE_LINGER_MS before committing them (here a
    long while): the transaction's start must be on record before its first Prepare, or
    the restarted orchestrator finds no transaction, runs the steps anew and prepares (and
    commits) what the crash should have aborted. One run per trial: the linger would
    stagger the transactions of several."""
    linger = {"AURA_STORE_LINGER_MS": "500"}
    async with _world(tmp_path, CRASH_LATENCY_MS, **linger) as world:
        await _aborted_before_the_decision(world, crashes=2, per_crash=1)


@pytest.mark.timeout(CRASH_ROW_TIMEOUT_S)
async def test_orchestrator_killed_after_the_decision_every_participant_commits_once(
    crash_world: World,
) -> None:
    done: list[Adoption] = []

    async def trial(
        world: World, crash: int, adoptions: list[Adoption], offset_s: float
    ) -> str | None:
        txns = [a.txn for a in adoptions]
        # The window: the COMMIT on record; recommendation's Commit, held by its latency,
        # not answered yet.
        await _all_committed(world, adoptions)
        opened = time.monotonic()
        await asyncio.sleep(offset_s)
        await world.orchestrator.kill()
        into = _into(crash, opened)
        answered = [t for t in txns if _branch(world, "recommendation", t) != PREPARED]

        await world.orchestrator.start()
        runs = await _all_final(world, [a.run for a in adoptions], run_pb2.RUN_STATE_SUCCEEDED)
        states = {run.transactions[0].state for run in runs}
        assert states == {run_pb2.TRANSACTION_STATE_COMMITTED}, into
        done.extend(adoptions)
        _committed_exactly_once(world, done)  # this trial's and every one's before it
        return f"{into}: recommendation had committed {answered}" if answered else None

    hit, missed = await _trials(crash_world, trial)

    assert len(hit) == CRASHES * PER_CRASH
    assert set(done) == {*hit, *missed}


@pytest.mark.timeout(CRASH_ROW_TIMEOUT_S)
async def test_participant_killed_after_voting_yes_stays_prepared_and_commits(
    crash_world: World,
) -> None:
    done: list[Adoption] = []

    async def trial(
        world: World, crash: int, adoptions: list[Adoption], offset_s: float
    ) -> str | None:
        txns = [a.txn for a in adoptions]
        # The window: every YES vote in and the COMMIT on record; recommendation's Commit,
        # held by its latency, not applied yet.
        await _all_committed(world, adoptions)
        opened = time.monotonic()
        await asyncio.sleep(offset_s)
        await world.mocks.kill()
        into = _into(crash, opened)
        prepared = _prepared(world, txns)
        missed = [t for t in txns if ("recommendation", t) not in prepared]
        world.freeze_orchestrator()  # so phase two cannot reach them before we look
        try:
            await world.mocks.start()
            assert _prepared(world, txns) == prepared, f"{into}: not prepared after the restart"
        finally:
            world.thaw_orchestrator()
        await _all_final(world, [a.run for a in adoptions], run_pb2.RUN_STATE_SUCCEEDED)
        done.extend(adoptions)
        _committed_exactly_once(world, done)  # this trial's and every one's before it
        return f"{into}: recommendation had committed {missed}" if missed else None

    hit, missed = await _trials(crash_world, trial)

    assert len(hit) == CRASHES * PER_CRASH
    assert set(done) == {*hit, *missed}


@pytest.mark.timeout(UNREACHABLE_S + 120)
async def test_a_participant_unreachable_after_the_decision_converges_and_nobody_decides_alone(
    world: World,
) -> None:
    started = await _start_adoptions(world, [f"outfit-{trial}" for trial in range(TRIALS)])
    names, txns = [a.run for a in started], [a.txn for a in started]

    await eventually(lambda: _all_decided(world, names), timeout_s=10, interval_s=0.02)
    world.mocks.freeze()  # SIGSTOP: calls to it hang, connections stay open
    try:
        await asyncio.sleep(UNREACHABLE_S)
        runs = await _runs(world, names)
        assert {run.state for run in runs} == {run_pb2.RUN_STATE_RUNNING}
        assert {run.transactions[0].state for run in runs} == {run_pb2.TRANSACTION_STATE_COMMITTING}
        assert {_branch(world, "recommendation", t) for t in txns} == {PREPARED}
    finally:
        world.mocks.thaw()
    # The participants learn the COMMIT at once (they ask), the runs once the orchestrator's
    # Commit gets through: its circuit breaker, tripped by the calls that hung, opens for up
    # to 30 s (x1.2 jitter) at a time, so its next probe may come that long after the thaw,
    # and a probe that meets the thawed mock still answering its hung calls may trip it for
    # one more window (a CI run of 2026-12-03 did not finish within 45 s): two windows.
    await _all_final(world, names, run_pb2.RUN_STATE_SUCCEEDED, timeout_s=90)
    _committed_exactly_once(world, started)
