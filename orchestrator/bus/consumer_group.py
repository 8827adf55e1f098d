"""A consumer of a Redis consumer group over one or more topics.

- What it reads: `topics()`, each a topic name (the default tenant's stream of it) or a
  (tenant, topic) pair; tenant EVERY_TENANT_OF_TOPIC is the topic's stream of every
  tenant that published on it (its tenants set, read at each step). Each tenant's
  stream of a topic has its own group, pending entries, failures and dead letters; a
  handled event carries its stream's tenant.
- New entries: XREADGROUP ... BLOCK on the blocking connection (its socket timeout
  exceeds the block time), `batch_size` at a time, handled concurrently.
- An entry is acknowledged (XACK) only after its handler returned.
- A handler that raises leaves its entry pending; its reason is kept in the topic's
  failures hash. Every `reclaim_interval_s` the consumer takes over (XAUTOCLAIM) every
  entry of the group idle for `claim_idle_s`: its own failed ones (a retry) and those
  of a dead consumer (SIGKILL, lost host). Entries still being handled here are
  touched first (XCLAIM JUSTID to itself, which resets their idle time without
  counting a delivery), so a slow handler is not given a duplicate while it runs.
- An entry delivered `max_deliveries` times without success, or whose handler raised
  PermanentFailure, goes to the topic's dead-letter stream (see dead_letters).
- The group is created at "0" (MKSTREAM) the first time a topic is read, and again
  when Redis lost it (NOGROUP after a flush or restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.exceptions

from orchestrator.bus.alerts import dead_letter_alert, raise_alert
from orchestrator.bus.connection import BusConnection, redis_errors
from orchestrator.bus.dead_letters import DeadLetters
from orchestrator.bus.metrics import BusMetrics
from orchestrator.bus.model import EVERY_TENANT_OF_TOPIC, BusEvent
from orchestrator.bus.publisher import EventPublisher
from orchestrator.errors import Unavailable
from orchestrator.names import DEFAULT_TENANT

log = logging.getLogger(__name__)

#: handler(event, deliveries): deliveries is 1 on the first delivery.
Handler = Callable[[BusEvent, int], Awaitable[None]]
#: (tenant, topic): one stream.
Source = tuple[str, str]
#: Pause after Redis was unreachable, before the next try.
ERROR_PAUSE_S = 0.5


class PermanentFailure(Exception):
    """Raised by a handler for an event that can never succeed: dead-lettered at once."""


class GroupConsumer:
    def __init__(
        self,
        connection: BusConnection,
        *,
        group: str,
        consumer: str,
        topics: Callable[[], Iterable[str | Source]],
        handler: Handler,
        metrics: BusMetrics | None = None,
    ) -> None:
        self._connection = connection
        self._settings = connection.settings
        self.group = group
        self.consumer = consumer
        self._topics = topics
        self._handler = handler
        self._metrics = metrics or BusMetrics()
        self._dead_letters = DeadLetters(connection)
        self._alerts = EventPublisher(connection)
        self._ready: set[str] = set()
        self._in_flight: dict[Source, set[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if not self._tasks:
            self._stopping = False
            self._tasks = [
                asyncio.create_task(self._loop(self.read_once, 0.0), name="bus-read"),
                asyncio.create_task(
                    self._loop(self.reclaim_once, self._settings.reclaim_interval_s),
                    name="bus-reclaim",
                ),
            ]

    async def stop(self) -> None:
        """Idempotent. Entries being handled stay pending and are reclaimed elsewhere."""
        tasks, self._tasks = self._tasks, []
        # A cancelled Redis read may surface as a connection error rather than as the
        # cancellation: the flag ends the loop either way.
        self._stopping = True
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> GroupConsumer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _loop(self, step: Callable[[], Awaitable[int]], pause_s: float) -> None:
        while not self._stopping:
            try:
                await step()
            except Unavailable:
                log.warning("event bus: Redis unreachable, %s retrying", self.group)
                self._ready.clear()
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            except Exception:
                log.exception("event bus: %s consumer step failed", self.group)
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            if pause_s:
                await asyncio.sleep(pause_s)

    # -- one step each --------------------------------------------------------------------

    async def _sources(self) -> list[Source]:
        wanted: set[Source] = set()
        for item in self._topics():
            tenant, topic = (DEFAULT_TENANT, item) if isinstance(item, str) else item
            if tenant != EVERY_TENANT_OF_TOPIC:
                wanted.add((tenant or DEFAULT_TENANT, topic))
                continue
            wanted.add((DEFAULT_TENANT, topic))
            members: Any = await self._connection.commands.smembers(self._settings.tenants(topic))
            wanted.update((str(member), topic) for member in members)
        return sorted(wanted)

    async def _streams(self) -> dict[str, Source]:
        """stream -> (tenant, topic) of every stream to read, its group ensured."""
        streams = {}
        for source in await self._sources():
            stream = self._settings.stream(source[1], source[0])
            if stream not in self._ready:
                with contextlib.suppress(redis.exceptions.ResponseError):  # BUSYGROUP
                    await self._connection.commands.xgroup_create(
                        stream, self.group, id="0", mkstream=True
                    )
                self._ready.add(stream)
            streams[stream] = source
        return streams

    async def read_once(self) -> int:
        """Reads and handles new entries (blocking up to block_s); how many were read."""
        async with redis_errors():
            streams = await self._streams()
            if not streams:
                await asyncio.sleep(self._settings.reclaim_interval_s)
                return 0
            try:
                answer: Any = await self._connection.blocking.xreadgroup(
                    self.group,
                    self.consumer,
                    dict.fromkeys(streams, ">"),
                    count=self._settings.batch_size,
                    block=int(self._settings.block_s * 1000),
                )
            except redis.exceptions.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self._ready.clear()
                return 0
            count = 0
            for stream, entries in answer or []:
                batch = [(str(i), f, 1) for i, f in entries if f]
                count += len(batch)
                await self._handle_batch(streams[stream], batch)
            return count

    async def reclaim_once(self) -> int:
        """Touches the entries in flight here, then takes over every entry of the group
        idle for claim_idle_s and handles it; how many were taken over."""
        commands = self._connection.commands
        idle_ms = int(self._settings.claim_idle_s * 1000)
        total = 0
        async with redis_errors():
            streams = await self._streams()
            for stream, source in streams.items():
                await self._touch(stream, source)
                start = "0-0"
                for _ in range(16):  # at most 16 pages per tick
                    try:
                        answer = await commands.xautoclaim(
                            stream,
                            self.group,
                            self.consumer,
                            idle_ms,
                            start_id=start,
                            count=self._settings.batch_size,
                        )
                    except redis.exceptions.ResponseError as error:
                        if "NOGROUP" not in str(error):
                            raise
                        self._ready.discard(stream)
                        break
                    start, entries = str(answer[0]), answer[1]
                    claimed = [
                        (str(i), f)
                        for i, f in entries
                        if f and str(i) not in self._in_flight.get(source, set())
                    ]
                    if claimed:
                        total += len(claimed)
                        await self._handle_batch(
                            source, await self._with_deliveries(stream, claimed)
                        )
                    if start == "0-0":
                        break
                await self._sample(stream, source[1])
        return total

    async def _touch(self, stream: str, source: Source) -> None:
        ids: list[Any] = sorted(self._in_flight.get(source, ()))
        if ids:
            await self._connection.commands.xclaim(
                stream, self.group, self.consumer, 0, ids, justid=True
            )

    async def _with_deliveries(
        self, stream: str, claimed: list[tuple[str, Any]]
    ) -> list[tuple[str, Any, int]]:
        rows = await self._connection.commands.xpending_range(
            stream,
            self.group,
            min=claimed[0][0],
            max=claimed[-1][0],
            count=len(claimed) + 64,
            consumername=self.consumer,
        )
        counts = {str(row["message_id"]): int(row["times_delivered"]) for row in rows}
        return [(i, f, counts.get(i, 2)) for i, f in claimed]

    async def _sample(self, stream: str, topic: str) -> None:
        commands = self._connection.commands
        summary = await commands.xpending(stream, self.group)
        self._metrics.pending.labels(topic, self.group).set(int(summary["pending"]))
        self._metrics.stream_length.labels(topic).set(int(await commands.xlen(stream)))

    # -- handling --------------------------------------------------------------------------

    async def _handle_batch(self, source: Source, batch: list[tuple[str, Any, int]]) -> None:
        if not batch:
            return
        tenant, topic = source
        flight = self._in_flight.setdefault(source, set())
        flight.update(entry_id for entry_id, _, _ in batch)
        try:
            done = await asyncio.gather(
                *(self._handle(source, i, f, deliveries) for i, f, deliveries in batch)
            )
            acked = [b[0] for b, ok in zip(batch, done, strict=True) if ok]
            if acked:
                stream = self._settings.stream(topic, tenant)
                failures = self._settings.failures(topic, tenant)
                async with self._connection.commands.pipeline(transaction=True) as pipe:
                    pipe.xack(stream, self.group, *acked)
                    pipe.hdel(failures, *(f"{self.group} {i}" for i in acked))
                    await pipe.execute()
        finally:
            flight.difference_update(entry_id for entry_id, _, _ in batch)

    async def _handle(self, source: Source, entry_id: str, fields: Any, deliveries: int) -> bool:
        """True when the entry is to be acknowledged (handled)."""
        tenant, topic = source
        failures = self._settings.failures(topic, tenant)
        event = BusEvent.from_entry(topic, entry_id, fields, tenant)
        if deliveries > 1:
            self._metrics.redeliveries.labels(topic, self.group).inc()
        if deliveries > self._settings.max_deliveries:
            reason: Any = await self._connection.commands.hget(failures, f"{self.group} {entry_id}")
            await self._bury(event, deliveries, reason or "delivered without acknowledgement")
            return False
        try:
            await self._handler(event, deliveries)
        except asyncio.CancelledError:
            raise
        except PermanentFailure as error:
            await self._bury(event, deliveries, str(error))
            return False
        except Exception as error:
            self._metrics.handler_failures.labels(topic, self.group).inc()
            reason = f"{type(error).__name__}: {error}"
            log.warning("event %s/%s delivery %d failed: %s", topic, entry_id, deliveries, reason)
            if deliveries >= self._settings.max_deliveries:
                await self._bury(event, deliveries, reason)
            else:
                await self._connection.commands.hset(
                    failures, f"{self.group} {entry_id}", reason[:1024]
                )
            return False
        return True

    async def _bury(self, event: BusEvent, deliveries: int, reason: str) -> None:
        log.error("event %s/%s dead-lettered: %s", event.topic, event.cursor, reason)
        await self._dead_letters.bury(event, self.group, deliveries, reason)
        self._metrics.dead_letters.labels(event.topic, self.group).inc()
        await raise_alert(self._alerts, dead_letter_alert(event, self.group, deliveries, reason))
