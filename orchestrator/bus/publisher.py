"""Publishing: one Lua script makes dedupe, append and trimming one atomic step.

KEYS: the topic's stream of the event's tenant, the event's dedupe key (also the
tenant's) and the topic's tenants set. When the dedupe key exists the
event was published before: its stream id is returned and nothing is appended.
Otherwise the entry is appended with XADD MAXLEN ~ (length bound), entries older than
the age bound are trimmed with XTRIM MINID ~ (Redis server time), and the dedupe key
is set to the new id with a TTL; a tenant other than the default one is added to the
topic's tenants set (what a shared definition's trigger reads). Answers once Redis has
executed it: the entry is then visible to every reader. (Redis here keeps nothing on
disk: across a Redis restart the outbox relay, not Redis, is what keeps orchestrator
events.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import redis.asyncio as aioredis

from orchestrator.bus.connection import BusConnection, redis_errors
from orchestrator.bus.model import BusEvent
from orchestrator.names import DEFAULT_TENANT

PUBLISH_SCRIPT = """
local existing = redis.call('GET', KEYS[2])
if existing then return {existing, 1} end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 5))
if ARGV[4] ~= '' then redis.call('SADD', KEYS[3], ARGV[4]) end
local age_ms = tonumber(ARGV[2])
if age_ms > 0 then
  local now = redis.call('TIME')
  local min_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - age_ms
  if min_ms > 0 then redis.call('XTRIM', KEYS[1], 'MINID', '~', min_ms) end
end
redis.call('SET', KEYS[2], id, 'PX', ARGV[3])
return {id, 0}
"""


@dataclass(frozen=True)
class Published:
    event: BusEvent
    """With its cursor (for a duplicate: the first publish's)."""
    duplicate: bool


class EventPublisher:
    def __init__(self, connection: BusConnection) -> None:
        self._connection = connection
        self._settings = connection.settings
        self._script = connection.commands.register_script(PUBLISH_SCRIPT)

    def _call(self, event: BusEvent) -> tuple[list[str], list[str | int]]:
        s = self._settings
        fields = [part for pair in event.fields().items() for part in pair]
        args: list[str | int] = [
            s.max_stream_length,
            int(s.max_event_age_s * 1000),
            int(s.dedupe_ttl_s * 1000),
            "" if event.tenant in ("", DEFAULT_TENANT) else event.tenant,
            *fields,
        ]
        keys = [
            s.stream(event.topic, event.tenant),
            s.dedupe(event.topic, event.event_id, event.tenant),
            s.tenants(event.topic),
        ]
        return keys, args

    async def publish(self, event: BusEvent) -> Published:
        """Appends `event` to its tenant's stream unless its (tenant, topic, event_id) was
        published within the dedupe TTL."""
        keys, args = self._call(event)
        async with redis_errors():
            cursor, duplicate = await self._script(keys=keys, args=args)
        return Published(replace(event, cursor=str(cursor)), bool(duplicate))

    async def publish_many(self, events: Sequence[BusEvent]) -> list[Published]:
        """Every event in one round trip (a pipeline, not a transaction: each publish is
        atomic on its own, and dedupe makes a repeat of the batch harmless)."""
        if not events:
            return []
        # `async with`: the pipeline gives its connection back even when execute() fails
        # or is cancelled before its own cleanup starts (loading the script runs first).
        pipeline: aioredis.client.Pipeline = self._connection.commands.pipeline(transaction=False)
        async with redis_errors(), pipeline as pipe:
            for event in events:
                keys, args = self._call(event)
                await self._script(keys=keys, args=args, client=pipe)
            answers = await pipe.execute()
        return [
            Published(replace(event, cursor=str(cursor)), bool(duplicate))
            for event, (cursor, duplicate) in zip(events, answers, strict=True)
        ]
