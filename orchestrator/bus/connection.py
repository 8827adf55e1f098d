"""Redis clients for the bus: one for commands, one for blocking reads whose socket
timeout exceeds the block time, and the one translation of Redis failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions

from orchestrator.bus.model import BusSettings
from orchestrator.errors import ResourceExhausted, Unavailable

#: A command (not a blocking read) that takes longer than this fails.
COMMAND_TIMEOUT_S = 5.0
#: What a client told UNAVAILABLE should wait before trying again.
RETRY_AFTER_S = 1.0
#: Connections of the command client; a command beyond them waits for a free one (up
#: to COMMAND_TIMEOUT_S) instead of failing: handlers run a batch at once.
MAX_COMMAND_CONNECTIONS = 32
#: Connections for blocking reads: one per open subscription (SubscribeEvents) plus one
#: per consumer; beyond them a new subscription answers RESOURCE_EXHAUSTED.
MAX_BLOCKING_CONNECTIONS = 256


@dataclass(frozen=True)
class BusConnection:
    """`commands` for everything that answers at once; `blocking` for XREAD/XREADGROUP
    BLOCK (socket timeout = block time + margin, so a quiet stream is not a timeout)."""

    commands: aioredis.Redis
    blocking: aioredis.Redis
    settings: BusSettings

    @classmethod
    def from_url(cls, url: str, settings: BusSettings | None = None) -> BusConnection:
        settings = settings or BusSettings()
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_COMMAND_CONNECTIONS,
            timeout=COMMAND_TIMEOUT_S,
            decode_responses=True,
            socket_timeout=COMMAND_TIMEOUT_S,
            socket_connect_timeout=COMMAND_TIMEOUT_S,
        )
        commands = aioredis.Redis(connection_pool=pool)
        blocking = aioredis.Redis.from_url(
            url,
            max_connections=MAX_BLOCKING_CONNECTIONS,
            decode_responses=True,
            socket_timeout=settings.block_s + settings.socket_margin_s,
            socket_connect_timeout=COMMAND_TIMEOUT_S,
        )
        return cls(commands, blocking, settings)

    async def close(self) -> None:
        await self.commands.aclose(close_connection_pool=True)
        await self.blocking.aclose()


def unavailable(error: redis.exceptions.RedisError) -> Unavailable:
    """A Redis failure as the client sees it: UNAVAILABLE with RetryInfo."""
    return Unavailable(
        f"the event bus cannot reach Redis: {type(error).__name__}",
        reason="BUS_UNAVAILABLE",
        retry_after_s=RETRY_AFTER_S,
    )


@asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Turns a Redis connection or timeout error into Unavailable (no connection left in
    the pool: ResourceExhausted); other Redis errors (a bug of ours, a wrong type at a
    key) stay what they are."""
    try:
        yield
    except redis.exceptions.MaxConnectionsError as error:
        raise ResourceExhausted(
            "the event bus has no Redis connection left for another blocking read",
            reason="BUS_CONNECTIONS_EXHAUSTED",
            retry_after_s=RETRY_AFTER_S,
        ) from error
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        raise unavailable(error) from error
