"""Response cache for idempotent reads: TTL per entry, bounded size (LRU eviction).

Keyed by full method path and the request's deterministic serialization, so two
runs asking the same question of the same method share the answer. Values are
kept as bytes: a hit yields a fresh message that no one else holds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from google.protobuf.message import Message

DEFAULT_MAX_ENTRIES = 1024


def cache_key(path: str, request: Message) -> tuple[str, bytes]:
    return path, request.SerializeToString(deterministic=True)


class ResponseCache:
    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._clock = clock
        # key -> (expires at, stored at, response bytes)
        self._entries: OrderedDict[tuple[str, bytes], tuple[float, float, bytes]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, bytes], response_class: type[Message]) -> Message | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return response_class.FromString(entry[2])

    def get_within(
        self, key: tuple[str, bytes], response_class: type[Message], max_age_s: float
    ) -> tuple[Message, float] | None:
        """The response stored under `key` and its age, when it is still held and at most
        `max_age_s` old (a stale read within the caller's own bound). Counts no hit or miss."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self._clock()
        age_s = now - entry[1]
        if entry[0] <= now:
            del self._entries[key]
            return None
        if age_s > max_age_s:
            return None
        self._entries.move_to_end(key)
        return response_class.FromString(entry[2]), age_s

    def put(self, key: tuple[str, bytes], response: Message, ttl_s: float) -> None:
        now = self._clock()
        self._entries[key] = (now + ttl_s, now, response.SerializeToString())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
