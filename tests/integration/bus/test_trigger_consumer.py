"""The trigger consumer against real Redis: one run per (trigger, event) whatever the
redeliveries, acknowledged only after the start returned, the seed chain, refusals
dead-lettered, and 20 SIGKILLs of a consumer process with events flowing."""

from __future__ import annotations

import asyncio
import collections
import random
import sys

import grpc
import pytest

from orchestrator.bus import (
    TRIGGER_GROUP,
    BusConnection,
    BusRuntime,
    DeadLetters,
    EventBus,
    EventPublisher,
    InMemoryOutbox,
    TriggerConsumer,
    TriggeredRun,
)
from orchestrator.errors import AuraError, InvalidArgument
from tests.helpers import REPO_ROOT, eventually
from tests.integration.bus.trigger_helpers import (
    OUTFITS,
    recording_start_run,
    run_finished,
    seed_workflows,
)
from tests.redis_fixtures import RedisServer, require_redis, settings_for_test

#: SIGKILLs of the consumer process, at random moments while events flow.
TRIALS = 20

pytestmark = pytest.mark.integration


class FakeRuns:
    """An idempotent start_run: one run per request_id, every call recorded."""

    def __init__(self, crash_first_ack: bool = False) -> None:
        self.calls: list[str] = []
        self.runs: dict[str, TriggeredRun] = {}
        self.crash_first_ack = crash_first_ack

    async def start_run(self, run: TriggeredRun) -> None:
        self.calls.append(run.request_id)
        self.runs.setdefault(run.request_id, run)
        if self.crash_first_ack and self.calls.count(run.request_id) == 1:
            raise RuntimeError("lost the answer after the run was created")


def _consumer(bus: BusConnection, runs: FakeRuns, name: str = "c") -> TriggerConsumer:
    workflows = seed_workflows()
    return TriggerConsumer(
        bus, consumer=name, definitions=lambda: workflows, start_run=runs.start_run
    )


async def _no_pending(bus: BusConnection) -> bool:
    stream = bus.settings.stream("run.finished")
    return int((await bus.commands.xpending(stream, TRIGGER_GROUP))["pending"]) == 0


async def test_redelivered_events_start_exactly_one_run_each(bus: BusConnection) -> None:
    runs = FakeRuns(crash_first_ack=True)
    consumer = _consumer(bus, runs)
    await consumer.start()
    try:
        await EventPublisher(bus).publish_many([run_finished(n) for n in range(20)])
        await eventually(lambda: len(runs.calls) == 40, timeout_s=10)
        await eventually(lambda: _no_pending(bus))
    finally:
        await consumer.stop()
    assert len(runs.runs) == 20
    assert set(collections.Counter(runs.calls).values()) == {2}  # the retry hit the same run
    run = runs.runs[next(iter(runs.runs))]
    assert run.workflow_definition == OUTFITS
    assert run.labels == {
        "aura_trigger": "after_style_analysis",
        "aura_event_topic": "run.finished",
    }


async def test_the_seed_chain_starts_outfits_only_after_a_successful_analysis(
    bus: BusConnection,
) -> None:
    runs = FakeRuns()
    consumer = _consumer(bus, runs)
    await consumer.start()
    try:
        publisher = EventPublisher(bus)
        await publisher.publish(run_finished(1, state="FAILED"))
        await publisher.publish(run_finished(2, definition=OUTFITS))
        await publisher.publish(run_finished(3))
        await eventually(lambda: len(runs.runs) == 1)
        await eventually(lambda: _no_pending(bus))
    finally:
        await consumer.stop()
    (run,) = runs.runs.values()
    assert run.input == {"user_id": "u3", "text": "an outfit for a wedding"}


async def test_a_start_refused_for_good_dead_letters_the_event_at_once(
    bus: BusConnection,
) -> None:
    async def refuse(run: TriggeredRun) -> None:
        raise InvalidArgument("outfit_recommendation needs input input.user_id")

    workflows = seed_workflows()
    consumer = TriggerConsumer(bus, consumer="c", definitions=lambda: workflows, start_run=refuse)
    dead = DeadLetters(bus)
    await consumer.start()
    try:
        await EventPublisher(bus).publish(run_finished(1))

        async def buried() -> list[object]:
            return (await dead.page("run.finished", 10))[0]  # type: ignore[return-value]

        (letter,) = await eventually(buried, timeout_s=5)
    finally:
        await consumer.stop()
    assert letter.deliveries == 1  # type: ignore[attr-defined]
    assert "INVALID_ARGUMENT" in letter.reason  # type: ignore[attr-defined]


async def test_an_existing_run_with_other_parameters_counts_as_started(
    bus: BusConnection,
) -> None:
    calls = []

    async def exists(run: TriggeredRun) -> None:
        calls.append(run.request_id)
        raise AuraError("request_id used", code=grpc.StatusCode.ALREADY_EXISTS)

    workflows = seed_workflows()
    consumer = TriggerConsumer(bus, consumer="c", definitions=lambda: workflows, start_run=exists)
    await consumer.start()
    try:
        await EventPublisher(bus).publish(run_finished(1))
        await eventually(lambda: calls)
        await eventually(lambda: _no_pending(bus))
    finally:
        await consumer.stop()
    assert len(calls) == 1


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_twenty_sigkills_of_the_consumer_lose_no_event_and_start_no_run_twice(
    bus: BusConnection,
) -> None:
    prefix = bus.settings.prefix
    publisher = EventPublisher(bus)
    rng = random.Random(13)
    published = 0
    for trial in range(TRIALS):
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.bus.trigger_child",
            require_redis(),
            prefix,
            f"replica-{trial % 3}",  # restarted under its old name, or a new one
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            assert ((await child.stdout.readline()).decode()).strip() == "ready"
            for _ in range(rng.randint(5, 25)):
                await publisher.publish(run_finished(published))
                published += 1
                await asyncio.sleep(rng.uniform(0, 0.01))
        finally:
            child.kill()
            await child.wait()

    assert int(await bus.commands.hlen(f"{prefix}runs")) > 0  # the killed ones did work
    workflows = seed_workflows()
    survivor = TriggerConsumer(
        bus,
        consumer="survivor",
        definitions=lambda: workflows,
        start_run=recording_start_run(bus),
    )

    async def all_started() -> bool:
        return int(await bus.commands.hlen(f"{prefix}runs")) == published and await _no_pending(bus)

    await survivor.start()
    try:
        # The dead consumer's entries come back after claim_idle_s (0.6 s here).
        await eventually(all_started, timeout_s=15)
    finally:
        await survivor.stop()
    runs = await bus.commands.hgetall(f"{prefix}runs")
    assert sorted(runs.values()) == sorted(f"run-finished:r{n}" for n in range(published))
    (trigger,) = next(w for w in workflows if w.name == OUTFITS).triggers
    assert set(runs) == {trigger.request_id(f"run-finished:r{n}") for n in range(published)}
    starts = int(await bus.commands.get(f"{prefix}starts"))
    assert starts >= published  # redeliveries called start_run again: absorbed


async def test_after_flushall_the_relay_and_the_consumer_recover_and_start_no_run_twice(
    private_redis: RedisServer,
) -> None:
    bus = EventBus.from_url(private_redis.url, settings_for_test())
    outbox = InMemoryOutbox()
    runs = FakeRuns()
    workflows = seed_workflows()
    runtime = BusRuntime(
        bus,
        replica_id="r1",
        outbox=outbox,
        definitions=lambda: workflows,
        start_run=runs.start_run,
    )
    try:
        async with runtime:
            for n in range(10):
                event = run_finished(n)
                outbox.add(event.topic, event.key, event.event_id, dict(event.payload))
            runtime.notify_commit()
            await eventually(lambda: len(runs.runs) == 10, timeout_s=10)
            await bus.connection.commands.flushall()  # the stream and the group are gone
            for n in range(10, 15):
                event = run_finished(n)
                outbox.add(event.topic, event.key, event.event_id, dict(event.payload))
            runtime.notify_commit()
            # The relay republishes all 15; the consumer makes its group again and reads
            # them all: the 10 known ones meet their runs, 5 new runs start.
            await eventually(lambda: len(runs.calls) >= 25, timeout_s=10)
    finally:
        await bus.close()
    assert len(runs.runs) == 15
    assert set(collections.Counter(runs.calls).values()) <= {1, 2}
