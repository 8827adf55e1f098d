"""Cross-replica hints over LISTEN/NOTIFY: what a commit, a Cancel or the queue says.

The channel is per schema and tenant (`aura_<schema>_<tenant>`, hashed down when longer
than PostgreSQL's 63-byte identifiers), so stores of other schemas never hear each other.
A payload is lines of at most `MAX_PAYLOAD_BYTES` in all (NOTIFY's limit is 8000):

- `c <run> <last_seq>`: events of `run` were committed up to `last_seq` (one line per
  run of a batch; a batch's lines are split over several NOTIFYs if needed);
- `x <run> [reason]`: a Cancel was asked for `run`;
- `q`: the queue changed (a run was queued, or one finished and freed a slot);
- `d <run>`: a finished run was deleted (replicas keeping its history in memory drop it).

NOTIFY is sent in the commit's transaction, so it is delivered at commit and never for
a rolled-back write. Hints only: a listener reads the store for the facts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import asyncpg

from aura.orchestrator.v1 import run_pb2

_log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 7900
_MAX_CHANNEL_BYTES = 63
_UNSAFE = re.compile(r"[^a-z0-9_]")


def channel_name(schema: str, tenant: str) -> str:
    """The NOTIFY channel of a schema and tenant: lower-case, at most 63 bytes."""
    name = _UNSAFE.sub("_", f"aura_{schema}_{tenant}".lower())
    if len(name) <= _MAX_CHANNEL_BYTES and name == f"aura_{schema}_{tenant}":
        return name
    digest = hashlib.blake2b(f"{schema}\0{tenant}".encode(), digest_size=8).hexdigest()
    return f"{name[: _MAX_CHANNEL_BYTES - 17]}_{digest}"


def queue_lock_key(schema: str, tenant: str) -> int:
    """The advisory lock serializing queue claims of one schema and tenant (signed 64-bit)."""
    digest = hashlib.blake2b(f"aura_queue\0{schema}\0{tenant}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def literal(text: str) -> str:
    """`text` as an SQL string literal (standard_conforming_strings is on by default)."""
    return "'" + text.replace("'", "''") + "'"


def commit_payloads(committed: Sequence[run_pb2.RunEvent], *, queued: bool = False) -> list[str]:
    """The NOTIFY payloads of one commit: each run's last seq, and `q` when a run was
    `queued` or finished (the queue may move)."""
    if not committed:
        return []
    last: dict[str, int] = {}
    queue_moved = queued
    for event in committed:
        last[event.run] = max(event.seq, last.get(event.run, 0))
        kind = event.WhichOneof("event")
        if kind == "run_finished":
            queue_moved = True
    lines = [f"c {run} {seq}" for run, seq in last.items()]
    if queue_moved:
        lines.append("q")
    return list(_split(lines))


def deleted_payloads(runs: Sequence[str]) -> list[str]:
    return list(_split([f"d {run}" for run in runs]))


def _split(lines: list[str]) -> Iterator[str]:
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > MAX_PAYLOAD_BYTES:
            yield "\n".join(chunk)
            chunk, size = [], 0
        chunk.append(line)
        size += len(line.encode()) + 1
    if chunk:
        yield "\n".join(chunk)


@dataclass
class Hints:
    """What one payload says."""

    commits: list[tuple[str, int]] = field(default_factory=list)
    cancels: list[tuple[str, str]] = field(default_factory=list)  # (run, reason or "")
    deleted: list[str] = field(default_factory=list)
    queue_changed: bool = False


def parse_payload(payload: str) -> Hints:
    """Reads a payload; lines it does not understand are skipped (a newer replica's)."""
    hints = Hints()
    for line in payload.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "c":
            parts = rest.split()
            for run, seq in zip(parts[::2], parts[1::2], strict=False):
                if seq.isdigit():
                    hints.commits.append((run, int(seq)))
        elif kind == "x" and rest:
            run, _, reason = rest.partition(" ")
            hints.cancels.append((run, reason))
        elif kind == "q":
            hints.queue_changed = True
        elif kind == "d" and rest:
            hints.deleted.append(rest)
    return hints


class NotificationListener:
    """The store's one LISTEN connection; after a loss it reconnects with backoff, and
    `on_reconnect` is told (hints may have been missed meanwhile)."""

    RETRY_MIN_S = 0.1
    RETRY_MAX_S = 2.0

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        channel: str,
        on_payload: Callable[[int, str], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._on_payload = on_payload
        self._on_reconnect = on_reconnect
        self._connection: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        await self._listen()

    async def stop(self) -> None:
        self._stopped = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), 2.0)
            except Exception:
                connection.terminate()

    async def _listen(self) -> None:
        connection = await self._connect()
        try:
            await connection.add_listener(self._channel, self._deliver)
        except BaseException:
            connection.terminate()
            raise
        connection.add_termination_listener(self._lost)
        self._connection = connection

    def _deliver(self, connection: object, pid: int, channel: str, payload: object) -> None:
        try:
            self._on_payload(pid, str(payload))
        except Exception:
            _log.exception("run store notification %r could not be handled", payload)

    def _lost(self, connection: object) -> None:
        if self._stopped or self._reconnecting is not None:
            return
        self._connection = None
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = self.RETRY_MIN_S
        while not self._stopped:
            await asyncio.sleep(delay)
            try:
                await self._listen()
            except Exception as error:
                _log.debug("LISTEN connection not back yet: %s", error)
                delay = min(2 * delay, self.RETRY_MAX_S)
                continue
            self._reconnecting = None
            _log.info("LISTEN connection on %s is back", self._channel)
            self._on_reconnect()
            return
