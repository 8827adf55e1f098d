"""Small test helpers shared by unit and integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T] | T],
    *,
    timeout_s: float = 5.0,
    interval_s: float = 0.01,
    message: str = "condition not met",
) -> T:
    """Poll `check` until it returns a truthy value (or stops raising AssertionError)."""
    deadline = time.monotonic() + timeout_s
    last_error: AssertionError | None = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
            if result:
                return result  # type: ignore[return-value]
        except AssertionError as error:
            last_error = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} within {timeout_s}s") from last_error
        await asyncio.sleep(interval_s)


# The repository's root, wherever the test module using it sits under tests/.
REPO_ROOT = Path(__file__).resolve().parents[1]
