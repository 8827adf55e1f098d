"""The peers scenario, driven from the main benchmark process (the project's venv).

Per backend latency it starts the mock mesh (`procs.start_mesh`), then runs each peer module
in its own process with the peers' venv (benchmarks/.venv-peers, made by setup.sh): DBOS and
Prefect are not dependencies of the project, and each peer gets a fresh store and process.

`python -m benchmarks.peers.run [--levels 100,1000] [--duration-s 10] [--out FILE]` runs it
alone and prints the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.procs import ROOT, start_mesh

VENV_PYTHON = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
PEERS: dict[str, list[str]] = {
    "dbos": ["-m", "benchmarks.peers.dbos_flow"],
    # Prefect's documented way to run tasks concurrently: .submit() to the task runner.
    "prefect": ["-m", "benchmarks.peers.prefect_flow", "--style", "submit"],
    # The same flow written async (asyncio.gather of awaited tasks), as the other clients are.
    "prefect_async": ["-m", "benchmarks.peers.prefect_flow", "--style", "async"],
}
STARTUP_ALLOWANCE_S = 120.0  # per peer process: imports, store creation, Prefect's API server


async def run_peers(
    levels: Sequence[int] = (100, 1000),
    *,
    latency_ms: float = 20.0,
    c1_latencies_ms: Sequence[float] = (0.0, 20.0),
    c1_warmup_s: float = 2.0,
    c1_duration_s: float = 10.0,
    warmup_s: float = 3.0,
    duration_s: float = 10.0,
    level_cap_s: float = 180.0,
    peers: Sequence[str] = tuple(PEERS),
    memoize: bool = True,
) -> dict[str, Any]:
    """c=1 at each of `c1_latencies_ms`, then each of `levels` at `latency_ms`, per peer.

    Returns {"config": {...}, "<peer>": {"version", "setup", "store", "checked_run",
    "c1_0ms": {...}, "c1_20ms": {...}, "c100_20ms": {...}, "c1000_20ms": {...}}}. A level
    dict has concurrency, completed, errors, first_error, window_s, runs_per_s, p50_ms, p99_ms,
    mean_ms, steady, cut_at_cap, level_wall_s, cores_busy, cpu_ms_per_run, warmup_s (and
    api_client_retries for Prefect), or {"concurrency", "skipped": why} when the throughput
    so far says the level cannot finish within `level_cap_s`. A peer process that failed
    leaves "failed": {"<latency>ms": "..."} instead of that session's levels. Without the
    peers' venv: {"skipped": "run benchmarks/peers/setup.sh first"}.
    """
    if not VENV_PYTHON.exists():
        return {"skipped": "run benchmarks/peers/setup.sh first"}
    unknown = [name for name in peers if name not in PEERS]
    if unknown:
        raise ValueError(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
    results: dict[str, Any] = {
        "config": {
            "levels": list(levels),
            "latency_ms": latency_ms,
            "c1_latencies_ms": list(c1_latencies_ms),
            "c1_warmup_s": c1_warmup_s,
            "c1_duration_s": c1_duration_s,
            "warmup_s": warmup_s,
            "duration_s": duration_s,
            "level_cap_s": level_cap_s,
            "mesh_memoize": memoize,
        }
    }
    sessions: dict[float, list[int]] = {}  # backend latency -> concurrency levels
    for latency in c1_latencies_ms:
        sessions.setdefault(latency, []).append(1)
    sessions.setdefault(latency_ms, []).extend(c for c in levels if c != 1)
    common = [
        f"--c1-warmup-s={c1_warmup_s}",
        f"--c1-duration-s={c1_duration_s}",
        f"--warmup-s={warmup_s}",
        f"--duration-s={duration_s}",
        f"--level-cap-s={level_cap_s}",
    ]
    for latency, session_levels in sessions.items():
        if not session_levels:
            continue
        mesh, addresses = await start_mesh(latency, memoize=memoize)
        try:
            for name in peers:
                peer = results.setdefault(name, {})
                # Each level ends by its cap (at least its own warmup + window + 5 s).
                budget = STARTUP_ALLOWANCE_S + sum(
                    max(level_cap_s, c1_warmup_s + c1_duration_s + 5, warmup_s + duration_s + 5)
                    for _ in session_levels
                )
                args = [
                    *PEERS[name],
                    f"--addresses={json.dumps(addresses)}",
                    f"--latency-ms={latency}",
                    f"--levels={','.join(map(str, session_levels))}",
                    *common,
                ]
                try:
                    output = await _run_peer(args, budget)
                except Exception as error:
                    peer.setdefault("failed", {})[f"{latency:g}ms"] = str(error)[-2000:]
                    continue
                for key in ("version", "setup", "store", "checked_run"):
                    peer.setdefault(key, output.get(key))
                for concurrency, level in output["levels"].items():
                    peer[f"c{concurrency}_{latency:g}ms"] = level
        finally:
            await mesh.stop()
    return results


async def _run_peer(args: list[str], timeout_s: float) -> dict[str, Any]:
    """One peer process; its JSON result. Killed with everything it started on timeout."""
    with tempfile.TemporaryDirectory(prefix="aura-peers-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "stderr.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("VIRTUAL_ENV", "PYTHONHOME") and not key.startswith("PREFECT_")
        }
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "stubs")])
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                str(VENV_PYTHON),
                *args,
                f"--out={out}",
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group: Prefect's API server included
            )
            try:
                code = await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
                raise RuntimeError(f"timed out after {timeout_s:.0f}s") from None
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)  # leftovers of a finished peer
        if code != 0 or not out.exists():
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"exit {code}: {tail}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.run", description=__doc__)
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--levels", default="100,1000", help="concurrency levels above 1")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--c1-latencies-ms", default="0,20")
    parser.add_argument("--c1-warmup-s", type=float, default=2.0)
    parser.add_argument("--c1-duration-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--level-cap-s", type=float, default=180.0)
    parser.add_argument("--out", help="JSON file (default: stdout)")
    args = parser.parse_args()
    result = asyncio.run(
        run_peers(
            [int(c) for c in args.levels.split(",") if c],
            latency_ms=args.latency_ms,
            c1_latencies_ms=[float(x) for x in args.c1_latencies_ms.split(",") if x],
            c1_warmup_s=args.c1_warmup_s,
            c1_duration_s=args.c1_duration_s,
            warmup_s=args.warmup_s,
            duration_s=args.duration_s,
            level_cap_s=args.level_cap_s,
            peers=[p for p in args.peers.split(",") if p],
        )
    )
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
