"""What grpc.aio itself holds for calls left open: the floor under the scale scenario's RSS.

At the scale scenario's peak the orchestrator holds one watch stream per run (a server
stream it serves) and the backend calls of every run's first steps (unary calls waiting on
30 s backends). A holder process with no orchestrator code holds the same numbers of each:
it serves server streams that send one message and stay open, and keeps unary calls
waiting on a sink process that never answers. Its RSS growth is grpc.aio's own cost of
holding them, measured in the same `make bench` as the orchestrator's peak RSS.

`python -m benchmarks.call_memory sink` / `holder SINK_PORT`: the two processes; each prints
the loopback port it serves on.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc

from benchmarks.procs import Child, spawn_child

SERVICE = "aura.bench.CallFloor"
HOLD = f"/{SERVICE}/Hold"  # server stream: one message, then open until cancelled
HANG = f"/{SERVICE}/Hang"  # unary: never answered
OPEN = f"/{SERVICE}/Open"  # unary on the holder: open N calls to the sink, answer once all arrived
COUNT = f"/{SERVICE}/Count"  # unary on the sink: how many Hang calls arrived
WARMUP = 100
STREAM_CHANNELS = 16  # as the scale scenario's clients
BACKEND_CHANNELS = 5  # one per mock service, as the orchestrator's pool
REQUEST = b"\x0a\x40" + b"r" * 64  # a small request, about a step's size


def _bytes(value: bytes) -> bytes:
    return value


async def _serve(handlers: dict[str, grpc.RpcMethodHandler]) -> None:
    server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)  # the parent's spawn_child reads it
    await server.wait_for_termination()


async def _sink() -> None:
    arrived = [0]
    never = asyncio.Event()

    async def hang(request: bytes, context: Any) -> bytes:
        arrived[0] += 1
        await never.wait()
        return b""

    async def count(request: bytes, context: Any) -> bytes:
        return str(arrived[0]).encode()

    await _serve(
        {
            "Hang": grpc.unary_unary_rpc_method_handler(hang, _bytes, _bytes),
            "Count": grpc.unary_unary_rpc_method_handler(count, _bytes, _bytes),
        },
    )


async def _holder(sink_port: int) -> None:
    never = asyncio.Event()
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{sink_port}", options=(("grpc.enable_retries", 0),))
        for _ in range(BACKEND_CHANNELS)
    ]
    held: list[Any] = []

    async def hold(request: bytes, context: Any) -> Any:
        yield b"\x01"
        await never.wait()

    async def open_calls(request: bytes, context: Any) -> bytes:
        wanted = int(request.decode())
        before = len(held)
        for index in range(wanted):
            call = channels[index % len(channels)].unary_unary(HANG, _bytes, _bytes)
            held.append(call(REQUEST, timeout=3600))
        count = channels[0].unary_unary(COUNT, _bytes, _bytes)
        for _ in range(6000):  # the sink says when all arrived (at most 5 minutes)
            if int((await count(b"", timeout=30)).decode()) >= before + wanted:
                return b""
            await asyncio.sleep(0.05)
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the sink did not get them all")

    await _serve(
        {
            "Hold": grpc.unary_stream_rpc_method_handler(hold, _bytes, _bytes),
            "Open": grpc.unary_unary_rpc_method_handler(open_calls, _bytes, _bytes),
        },
    )


async def _start(role: str, *args: str) -> tuple[Child, int]:
    child, line = await spawn_child(f"call_memory {role}", "benchmarks.call_memory", role, *args)
    if not line.strip():
        await child.stop()
        raise RuntimeError(f"benchmarks.call_memory {role} ended before printing its port")
    return child, int(line)


async def grpc_call_floor(streams: int, calls: int) -> dict[str, Any]:
    """RSS growth of a grpc.aio process holding `streams` served streams and `calls` unary
    calls in flight (after a warm-up of a few of each, which is not counted)."""
    sink, sink_port = await _start("sink")
    try:
        holder, holder_port = await _start("holder", str(sink_port))
    except BaseException:
        await sink.stop()
        raise
    address = f"127.0.0.1:{holder_port}"
    clients = [grpc.aio.insecure_channel(address) for _ in range(STREAM_CHANNELS)]
    opened: list[Any] = []
    try:
        for channel in clients:
            await asyncio.wait_for(channel.channel_ready(), 30)
        open_calls = clients[0].unary_unary(OPEN, _bytes, _bytes)

        async def hold(count: int) -> None:
            batch = [
                clients[index % len(clients)].unary_stream(HOLD, _bytes, _bytes)(
                    REQUEST, timeout=3600
                )
                for index in range(count)
            ]
            opened.extend(batch)
            await asyncio.gather(*(call.read() for call in batch))

        await hold(WARMUP)
        await open_calls(str(WARMUP).encode(), timeout=120)
        await asyncio.sleep(0.5)
        before = holder.stats().rss_mib or 0.0
        await hold(streams)
        await asyncio.sleep(0.5)
        with_streams = holder.stats().rss_mib or 0.0
        await open_calls(str(calls).encode(), timeout=300)
        await asyncio.sleep(0.5)
        after = holder.stats().rss_mib or 0.0
    finally:
        for call in opened:
            call.cancel()
        for channel in clients:
            await channel.close()
        for child in (holder, sink):
            await child.stop()
    streams_mib, calls_mib = with_streams - before, after - with_streams
    return {
        "watch_streams": streams,
        "backend_calls": calls,
        "holder_rss_before_mib": round(before, 1),
        "streams_mib": round(streams_mib, 1),
        "calls_mib": round(calls_mib, 1),
        "kib_per_stream": round(streams_mib * 1024 / streams, 2) if streams else None,
        "kib_per_call": round(calls_mib * 1024 / calls, 2) if calls else None,
        "floor_mib": round(streams_mib + calls_mib, 1),
    }


def main(argv: list[str]) -> None:
    role, *rest = argv
    if role == "sink":
        asyncio.run(_sink())
    elif role == "holder":
        asyncio.run(_holder(int(rest[0])))
    else:
        raise SystemExit(f"unknown role {role!r}: sink or holder")


if __name__ == "__main__":
    main(sys.argv[1:])
