"""PostgreSQL only: a process writing through the store is killed with SIGKILL. Every
creation and event it was told is durable is in the database, and no run has a gap."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tests.helpers import REPO_ROOT
from tests.postgres_fixtures import PostgresSchema

pytestmark = pytest.mark.integration

ACKNOWLEDGED_BEFORE_KILL = 400


async def test_every_acknowledged_write_survives_a_kill_9(postgres_schema: PostgresSchema) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.store.contract.pg_writer_process",
        postgres_schema.url,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while len(lines) < ACKNOWLEDGED_BEFORE_KILL:
                line = await child.stdout.readline()
                assert line, "the writer process ended early"
                lines.append(line.decode().strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    lines += (await child.stdout.read()).decode().split()  # acknowledged before the kill
    assert child.returncode == -signal.SIGKILL

    acknowledged_runs = {line.split()[1] for line in lines if line.startswith("c ")}
    acknowledged_seq: dict[str, int] = {}
    for line in lines:
        if line.startswith("e "):
            _, run, seq = line.split()
            acknowledged_seq[run] = max(acknowledged_seq.get(run, 1), int(seq))
    connection = await postgres_schema.connect()
    try:
        rows = await connection.fetch(
            "SELECT r.name, r.last_seq, array_agg(e.seq ORDER BY e.seq) AS seqs "
            "FROM runs r JOIN events e ON e.run_id = r.id GROUP BY r.name, r.last_seq"
        )
    finally:
        await connection.close()
    stored = {row["name"]: (row["last_seq"], list(row["seqs"])) for row in rows}

    assert acknowledged_runs and acknowledged_runs <= stored.keys()
    for run, seq in acknowledged_seq.items():
        assert stored[run][0] >= seq, f"{run}: seq {seq} was acknowledged, not stored"
    for run, (last_seq, seqs) in stored.items():
        assert seqs == list(range(1, last_seq + 1)), f"{run} has a gap: {seqs}"
