"""Reading a topic: live subscription from a cursor (gap-free or OUT_OF_RANGE) and
pages of its recent events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import redis.exceptions

from orchestrator.bus.connection import BusConnection, redis_errors
from orchestrator.bus.model import BusEvent
from orchestrator.errors import AuraError, FieldViolation
from orchestrator.names import DEFAULT_TENANT

#: Entries read per XREAD of a subscription.
SUBSCRIBE_BATCH = 256


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def cursor_trimmed(cursor: str) -> AuraError:
    return AuraError(
        f"events after cursor {cursor} were trimmed from the stream; resume from "
        'a newer cursor or "0" (the oldest retained event)',
        code=grpc.StatusCode.OUT_OF_RANGE,
        reason="CURSOR_TRIMMED",
        violations=[FieldViolation("cursor", "older than the stream's retained events")],
    )


class TopicReader:
    def __init__(self, connection: BusConnection) -> None:
        self._connection = connection
        self._settings = connection.settings

    async def _check_not_trimmed(self, stream: str, cursor: str) -> None:
        """OUT_OF_RANGE when `cursor` is older than the stream's first entry while entries
        were trimmed: what followed it may be gone, and resuming would skip it silently.
        (A cursor that was itself the last trimmed entry is refused too: the stream
        cannot tell it apart.)"""
        try:
            info: dict[str, Any] = await self._connection.commands.xinfo_stream(stream)
        except redis.exceptions.ResponseError:
            return  # no stream (yet, or Redis was emptied): nothing to skip
        first = info.get("first-entry")
        trimmed = int(info.get("entries-added") or 0) > int(info.get("length") or 0)
        if first and trimmed and _id_key(cursor) < _id_key(str(first[0])):
            raise cursor_trimmed(cursor)

    async def latest_cursor(self, topic: str, tenant: str = DEFAULT_TENANT) -> str:
        """The cursor of the topic's last event, "0-0" for an empty topic."""
        async with redis_errors():
            last = await self._connection.commands.xrevrange(
                self._settings.stream(topic, tenant), count=1
            )
        return str(last[0][0]) if last else "0-0"

    async def subscribe(
        self, topic: str, cursor: str = "", tenant: str = DEFAULT_TENANT
    ) -> AsyncIterator[BusEvent]:
        """The events of `tenant` after `cursor` ("" = from now, "0" = the oldest
        retained), then live ones, forever. Each XREAD blocks at most BusSettings.block_s."""
        stream = self._settings.stream(topic, tenant)
        if not cursor:
            cursor = await self.latest_cursor(topic, tenant)
        elif cursor != "0":
            async with redis_errors():
                await self._check_not_trimmed(stream, cursor)
        block_ms = int(self._settings.block_s * 1000)
        while True:
            async with redis_errors():
                answer: Any = await self._connection.blocking.xread(
                    {stream: cursor}, count=SUBSCRIBE_BATCH, block=block_ms
                )
            for _, entries in answer:
                for entry_id, fields in entries:
                    cursor = str(entry_id)
                    yield BusEvent.from_entry(topic, cursor, fields, tenant)

    async def recent(
        self, topic: str, limit: int, before: str = "", tenant: str = DEFAULT_TENANT
    ) -> tuple[list[BusEvent], str]:
        """Up to `limit` events, newest first, older than cursor `before` (all when
        empty), and the token of the next page ("" on the last)."""
        upper = f"({before}" if before else "+"
        async with redis_errors():
            entries: Any = await self._connection.commands.xrevrange(
                self._settings.stream(topic, tenant), max=upper, min="-", count=limit + 1
            )
        events = [BusEvent.from_entry(topic, str(i), f, tenant) for i, f in entries[:limit]]
        more = len(entries) > limit
        return events, (events[-1].cursor if more and events else "")

    async def length(self, topic: str, tenant: str = DEFAULT_TENANT) -> int:
        async with redis_errors():
            return int(await self._connection.commands.xlen(self._settings.stream(topic, tenant)))
