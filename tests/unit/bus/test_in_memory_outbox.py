"""The in-memory Outbox double keeps the contract every store's outbox keeps
(tests/outbox_contract.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from orchestrator.bus import InMemoryOutbox, Outbox
from tests.outbox_contract import CONTRACT, OutboxUnderTest


class InMemorySubject:
    def __init__(self) -> None:
        self.memory = InMemoryOutbox()
        self.outbox: Outbox = self.memory

    async def commit(self, topic: str, key: str, event_id: str, payload: dict[str, Any]) -> None:
        self.memory.add(topic, key, event_id, payload)


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
async def test_the_in_memory_outbox_keeps_the_contract(
    check: Callable[[OutboxUnderTest], Awaitable[None]],
) -> None:
    await check(InMemorySubject())


def test_the_double_is_an_outbox() -> None:
    assert isinstance(InMemoryOutbox(), Outbox)
