"""The bus's vocabulary: an event as stored, its Redis field encoding, the key names
of a topic, and the tunables with their documented bounds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator.names import DEFAULT_TENANT

#: Consumer group of the orchestrator's triggers.
TRIGGER_GROUP: Final = "triggers"
#: In a consumer's (tenant, topic) source: the topic of every tenant that has published
#: on it (the tenants set of the topic), the default tenant included. Tenant names are
#: [a-z0-9-] (orchestrator.security), so it names none.
EVERY_TENANT_OF_TOPIC: Final = "*"


@dataclass(frozen=True)
class BusSettings:
    """How the bus uses Redis. Defaults are the documented bounds (README, event model)."""

    prefix: str = "aura:"
    #: Each stream keeps about this many entries (XADD MAXLEN ~: Redis trims whole
    #: nodes, so a stream may hold up to ~100 more).
    max_stream_length: int = 100_000
    #: ...and nothing older than this (XTRIM MINID ~ at every publish); 0 keeps by length only.
    max_event_age_s: float = 7 * 24 * 3600.0
    #: How long a publish's event_id is remembered for dedupe.
    dedupe_ttl_s: float = 24 * 3600.0
    #: XREADGROUP / XREAD BLOCK time; the blocking connection's socket timeout is
    #: this plus `socket_margin_s` (redis-py's default of none/5 s breaks longer blocks).
    block_s: float = 10.0
    socket_margin_s: float = 5.0
    #: An entry pending this long on a consumer is taken over by another (XAUTOCLAIM)...
    claim_idle_s: float = 5.0
    #: ...checked this often: a dead consumer's entries are redelivered within
    #: claim_idle_s + reclaim_interval_s (6 s by default).
    reclaim_interval_s: float = 1.0
    #: Deliveries after which a failing entry goes to the topic's dead-letter stream.
    max_deliveries: int = 5
    #: Entries read per call.
    batch_size: int = 64
    max_dead_letters: int = 10_000

    def _space(self, tenant: str) -> str:
        """Where a tenant's keys live: the default tenant keeps the keys the bus had before
        tenants (so its streams, groups and cursors carry over), any other one is under
        `<prefix><tenant>/`. Tenant names never hold a "/" or a brace."""
        if not tenant or tenant == DEFAULT_TENANT:
            return self.prefix
        return f"{self.prefix}{tenant}/"

    def stream(self, topic: str, tenant: str = DEFAULT_TENANT) -> str:
        # The hash tag {topic} keeps a topic's keys in one Redis Cluster slot, so the
        # publish script (stream + dedupe key + tenants set) is one atomic call there too.
        return f"{self._space(tenant)}{{{topic}}}:events"

    def dedupe(self, topic: str, event_id: str, tenant: str = DEFAULT_TENANT) -> str:
        return f"{self._space(tenant)}{{{topic}}}:dedupe:{event_id}"

    def dead_letters(self, topic: str, tenant: str = DEFAULT_TENANT) -> str:
        return f"{self._space(tenant)}{{{topic}}}:dead"

    def failures(self, topic: str, tenant: str = DEFAULT_TENANT) -> str:
        """Hash "<group> <entry id>" -> the last failure reported for a pending entry."""
        return f"{self._space(tenant)}{{{topic}}}:failures"

    def tenants(self, topic: str) -> str:
        """Set of the tenants other than the default one that published on `topic`
        (what a shared definition's trigger listens to)."""
        return f"{self.prefix}{{{topic}}}:tenants"

    def relay_epoch(self) -> str:
        """Set by the outbox relay; gone means Redis was emptied or restarted."""
        return f"{self.prefix}relay:epoch"

    def topic_of(self, stream: str) -> str:
        start = stream.index("{", len(self.prefix)) + 1
        return stream[start : stream.index("}", start)]


@dataclass(frozen=True)
class BusEvent:
    """One event as it is on its topic's stream."""

    topic: str
    key: str
    event_id: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    #: The stream entry id ("1733107200000-0"); empty before it is published.
    cursor: str = ""
    #: Whose event it is: its stream is that tenant's (BusSettings.stream).
    tenant: str = DEFAULT_TENANT

    @property
    def publish_time_ms(self) -> int:
        return int(self.cursor.partition("-")[0] or 0)

    def fields(self) -> dict[str, str]:
        """The stream entry's fields."""
        return {
            "event_id": self.event_id,
            "key": self.key,
            "payload": json.dumps(self.payload, separators=(",", ":")),
        }

    @classmethod
    def from_entry(
        cls, topic: str, cursor: str, fields: Mapping[str, str], tenant: str = DEFAULT_TENANT
    ) -> BusEvent:
        return cls(
            topic=topic,
            key=fields.get("key", ""),
            event_id=fields.get("event_id", ""),
            payload=json.loads(fields.get("payload") or "{}"),
            cursor=cursor,
            tenant=tenant or DEFAULT_TENANT,
        )


@dataclass(frozen=True)
class DeadLetterEntry:
    """An event a consumer group gave up on, as kept on the topic's dead-letter stream."""

    id: str
    event: BusEvent
    group: str
    deliveries: int
    reason: str

    @property
    def dead_letter_time_ms(self) -> int:
        return int(self.id.partition("-")[0] or 0)
