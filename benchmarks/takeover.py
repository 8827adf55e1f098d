"""`python -m benchmarks.takeover`: kill -9 one of three replicas holding in-flight runs.

Three orchestrator replicas (`python -m orchestrator.cli serve`, AURA_STORE_URL on one
PostgreSQL schema of their own, lease `--lease-s`) and the mock mesh (`--latency-ms`,
20 ms) run as their own processes; this process starts `--runs` runs (1,000) spread
round-robin over the replicas, kills one with SIGKILL (or, with `--pause`, stops it with
SIGSTOP for twice its lease and continues it), and follows every run to its end in the
database.

The runs are really in flight at the kill: the mesh is paused (SIGSTOP) while they are
started and continued (SIGCONT) right after the kill, so each run is waiting on its
first backend calls when its replica dies. They run a copy of complete_style_analysis
with patient step timeouts (`bench_scale_style_analysis`, as the scale benchmark does),
so the pause costs no step its deadline.

Reports (and writes as JSON with `--out`):
- takeover p50/p99/max: kill -> the first event committed by the new owner, per run the
  victim held (from an audit of the schema: triggers record each event's writer and each
  claim, by the database's clock);
- lost runs (not final within `--timeout-s`), runs not SUCCEEDED;
- histories with gaps, duplicates or more than one end;
- events committed by a fenced replica (at an old epoch after the claim that ended it)
  and by the victim after the kill.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from benchmarks import cluster_audit as audit
from benchmarks.loadgen import percentile
from benchmarks.procs import Orchestrator, start_mesh, start_orchestrator
from benchmarks.scenarios import _patient_definition
from benchmarks.workload import CHANNEL_OPTIONS, STYLE_INPUT, struct

log = logging.getLogger("benchmarks.takeover")

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REPLICAS = ("replica-a", "replica-b", "replica-c")
VICTIM = "replica-c"
FINAL_STATES = (3, 4, 5, 6)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.takeover", description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("AURA_BENCH_POSTGRES", DEFAULT_DSN))
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--lease-s", type=float, default=5.0)
    parser.add_argument("--timeout-s", type=float, default=180.0)
    parser.add_argument(
        "--pause",
        action="store_true",
        help="SIGSTOP the replica for twice its lease, then SIGCONT it, instead of SIGKILL",
    )
    parser.add_argument("--out", help="JSON file for the figures")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s takeover: %(message)s")
    results = asyncio.run(
        takeover(args.dsn, args.runs, args.latency_ms, args.lease_s, args.timeout_s, args.pause)
    )
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["ok"] else 1


async def takeover(
    dsn: str, runs: int, latency_ms: float, lease_s: float, timeout_s: float, pause: bool
) -> dict[str, Any]:
    schema = f"aura_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    store_url = f"{dsn}?search_path={schema}"
    mesh, addresses = await start_mesh(latency_ms)
    replicas: dict[str, Orchestrator] = {}
    db = await asyncpg.connect(store_url)
    try:
        env = {"AURA_STORE_URL": store_url, "AURA_REPLICA_LEASE_S": str(lease_s)}
        env |= {"AURA_MAX_ACTIVE_RUNS": str(runs * 2), "AURA_METRICS_PORT": "off"}
        env |= {"AURA_MAX_IN_FLIGHT_PER_SERVICE": str(runs * 2)}
        first = REPLICAS[0]
        replicas[first] = await start_orchestrator(
            addresses, extra_env={**env, "AURA_REPLICA_ID": first}
        )
        await audit.install_audit(db)  # the first replica made the tables
        async with grpc.aio.insecure_channel(replicas[first].address) as channel:
            definition = await _patient_definition(
                orchestrator_pb2_grpc.OrchestratorServiceStub(channel), latency_ms
            )
        others = await asyncio.gather(
            *(
                start_orchestrator(addresses, extra_env={**env, "AURA_REPLICA_ID": name})
                for name in REPLICAS[1:]
            )
        )
        replicas.update(zip(REPLICAS[1:], others, strict=True))
        log.info("3 replicas serving; pausing the mesh and starting %d runs", runs)
        mesh.process.send_signal(signal.SIGSTOP)
        try:
            names = await _start_runs(replicas, definition, runs)
            victim_unfinished = int(
                await db.fetchval(
                    "SELECT count(*) FROM runs WHERE owner = $1 AND state NOT IN (3, 4, 5, 6)",
                    VICTIM,
                )
            )
            killed_at = gone_at = time.time()
            victim = replicas[VICTIM].child.process
            victim.send_signal(signal.SIGSTOP if pause else signal.SIGKILL)
        finally:
            mesh.process.send_signal(signal.SIGCONT)
        all_final = asyncio.create_task(_wait_final(db, len(names), killed_at, timeout_s))
        if pause:  # twice its lease, then it wakes up to runs it no longer owns
            log.info("paused %s holding %d unfinished runs", VICTIM, victim_unfinished)
            await asyncio.sleep(2 * lease_s)
            victim.send_signal(signal.SIGCONT)
        else:
            await victim.wait()
            # From here it cannot write: a statement it sent just before the SIGKILL may
            # still commit in between (the server reads what is already in its socket).
            gone_at = time.time()
            log.info("killed %s holding %d unfinished runs", VICTIM, victim_unfinished)
        finished_in_s = await all_final
        if pause:
            await asyncio.sleep(lease_s)  # whatever the woken replica would write, it tried
        results = await _figures(
            db, names, killed_at, victim_unfinished, finished_in_s, runs, latency_ms, lease_s
        )
        # Events the victim committed once it could not write any more (see gone_at).
        results["events_by_the_victim_after_the_kill"] = (
            after
        ) = await audit.events_written_by_after(db, VICTIM, gone_at)
        results["ok"] = results["ok"] and after == 0
        return {"mode": "pause" if pause else "kill", **results}
    finally:
        for replica in replicas.values():
            await replica.stop()
        await mesh.stop()
        await db.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def _start_runs(replicas: dict[str, Orchestrator], definition: str, runs: int) -> list[str]:
    channels = [
        grpc.aio.insecure_channel(replica.address, options=CHANNEL_OPTIONS)
        for replica in replicas.values()
    ]
    stubs = [orchestrator_pb2_grpc.OrchestratorServiceStub(channel) for channel in channels]
    request = orchestrator_pb2.StartWorkflowRunRequest(
        workflow_definition=definition, input=struct(STYLE_INPUT)
    )
    gate = asyncio.Semaphore(100)

    async def start(index: int) -> str:
        async with gate:
            response = await stubs[index % len(stubs)].StartWorkflowRun(request, timeout=60)
            return response.workflow_run.name

    try:
        return list(await asyncio.gather(*(start(i) for i in range(runs))))
    finally:
        for channel in channels:
            await channel.close()


async def _wait_final(db: Any, runs: int, since: float, timeout_s: float) -> float | None:
    """Seconds from `since` (unix) until every run is final; None after `timeout_s`."""
    while time.time() - since < timeout_s:
        final = await db.fetchval("SELECT count(*) FROM runs WHERE state IN (3, 4, 5, 6)")
        if final >= runs:
            return time.time() - since
        await asyncio.sleep(0.25)
    return None


async def _figures(
    db: Any,
    names: list[str],
    killed_at: float,
    victim_unfinished: int,
    finished_in_s: float | None,
    runs: int,
    latency_ms: float,
    lease_s: float,
) -> dict[str, Any]:
    first_events = await audit.first_events_after_takeover(db, VICTIM)
    delays = sorted(at - killed_at for at in first_events.values())
    rows = await db.fetch("SELECT id, name, state FROM runs")
    states = {row["name"]: row["state"] for row in rows}
    lost = sum(1 for name in names if states.get(name) not in FINAL_STATES)
    not_succeeded = sum(1 for name in names if states.get(name) != 3)
    bad_histories = 0
    for name in names:
        bodies = await db.fetch(
            "SELECT e.seq, e.body FROM events e JOIN runs r ON r.id = e.run_id"
            " WHERE r.name = $1 ORDER BY e.seq",
            name,
        )
        events = [run_pb2.RunEvent.FromString(row["body"]) for row in bodies]
        seqs = [event.seq for event in events]
        ends = sum(1 for event in events if event.HasField("run_finished"))
        if seqs != list(range(1, len(seqs) + 1)) or ends != 1:
            bad_histories += 1
    taken_by = {
        row["new_owner"]: row["runs"]
        for row in await db.fetch(
            "SELECT new_owner, count(DISTINCT run_id) AS runs FROM claim_audit"
            " WHERE old_owner = $1 GROUP BY new_owner ORDER BY new_owner",
            VICTIM,
        )
    }
    fenced = await audit.fenced_writes(db)
    regressions = await audit.epoch_regressions(db)
    p99 = percentile(delays, 99)
    results: dict[str, Any] = {
        "runs": runs,
        "latency_ms": latency_ms,
        "lease_s": lease_s,
        "victim_unfinished_at_kill": victim_unfinished,
        "taken_over": len(first_events),
        "taken_over_by": taken_by,
        "takeover_p50_s": _round(percentile(delays, 50)),
        "takeover_p99_s": _round(p99),
        "takeover_max_s": _round(delays[-1] if delays else None),
        "all_final_after_kill_s": _round(finished_in_s),
        "lost_runs": lost,
        "runs_not_succeeded": not_succeeded,
        "histories_with_gaps_or_duplicates": bad_histories,
        "events_by_a_fenced_replica": fenced,
        "epoch_regressions": regressions,
    }
    results["ok"] = (
        lost == 0
        and bad_histories == 0
        and fenced == 0
        and regressions == 0
        and len(first_events) == victim_unfinished
        and p99 is not None
        and p99 <= 10.0
    )
    return results


def table(results: dict[str, Any]) -> str:
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in results.items()]
    return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


if __name__ == "__main__":
    raise SystemExit(main())
