"""The dead-letter stream of a topic: where a consumer group puts an event it failed
`max_deliveries` times, listed and replayed from there.

Moving to it (XADD to the dead-letter stream + XACK + forgetting the failure) and
replaying (XADD back to the topic stream + XDEL) are each one Lua script, so an
event is never in both places nor in neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.bus.connection import BusConnection, redis_errors
from orchestrator.bus.model import BusEvent, DeadLetterEntry
from orchestrator.errors import NotFound
from orchestrator.names import DEFAULT_TENANT

MOVE_SCRIPT = """
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[2] .. ' ' .. ARGV[3])
return 1
"""
REPLAY_SCRIPT = """
local found = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields = found[1][2]
local event = {}
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'event_id' or name == 'key' or name == 'payload' then
    table.insert(event, name)
    table.insert(event, fields[i + 1])
  end
end
table.insert(event, 'replayed_from')
table.insert(event, ARGV[1])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(event))
redis.call('XDEL', KEYS[2], ARGV[1])
return {id, event}
"""


def _entry(topic: str, entry_id: str, fields: Mapping[str, str], tenant: str) -> DeadLetterEntry:
    return DeadLetterEntry(
        id=entry_id,
        event=BusEvent.from_entry(topic, fields.get("cursor", ""), fields, tenant),
        group=fields.get("group", ""),
        deliveries=int(fields.get("deliveries", "0")),
        reason=fields.get("reason", ""),
    )


class DeadLetters:
    def __init__(self, connection: BusConnection) -> None:
        self._connection = connection
        self._settings = connection.settings
        self._move = connection.commands.register_script(MOVE_SCRIPT)
        self._replay = connection.commands.register_script(REPLAY_SCRIPT)

    async def bury(self, event: BusEvent, group: str, deliveries: int, reason: str) -> None:
        """Moves a pending entry of `group` to the dead-letter stream, acknowledged."""
        s = self._settings
        fields = {
            **event.fields(),
            "cursor": event.cursor,
            "group": group,
            "deliveries": str(deliveries),
            "reason": reason[:1024],
        }
        flat = [part for pair in fields.items() for part in pair]
        topic, tenant = event.topic, event.tenant
        keys = [s.stream(topic, tenant), s.dead_letters(topic, tenant), s.failures(topic, tenant)]
        async with redis_errors():
            await self._move(keys=keys, args=[s.max_dead_letters, group, event.cursor, *flat])

    async def page(
        self, topic: str, limit: int, before: str = "", tenant: str = DEFAULT_TENANT
    ) -> tuple[list[DeadLetterEntry], str]:
        """`tenant`'s dead letters of `topic`, newest first."""
        upper = f"({before}" if before else "+"
        async with redis_errors():
            entries: Any = await self._connection.commands.xrevrange(
                self._settings.dead_letters(topic, tenant), max=upper, min="-", count=limit + 1
            )
        found = [_entry(topic, str(i), f, tenant) for i, f in entries[:limit]]
        return found, (found[-1].id if len(entries) > limit and found else "")

    async def replay(
        self, topic: str, dead_letter_id: str, tenant: str = DEFAULT_TENANT
    ) -> BusEvent:
        """Puts `tenant`'s dead letter's event back on the tenant's stream of the topic;
        NotFound when gone (or another tenant's: it is not on this tenant's stream)."""
        s = self._settings
        async with redis_errors():
            answer = await self._replay(
                keys=[s.stream(topic, tenant), s.dead_letters(topic, tenant)],
                args=[dead_letter_id, s.max_stream_length],
            )
        if not answer:
            raise NotFound(
                f"dead letter {dead_letter_id} of topic {topic} not found",
                reason="DEAD_LETTER_NOT_FOUND",
                resource_type="aura.events.v1.DeadLetter",
                resource_name=f"{topic}/{dead_letter_id}",
            )
        new_id, flat = answer
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        return BusEvent.from_entry(topic, str(new_id), fields, tenant)
