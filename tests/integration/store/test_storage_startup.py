"""`aura serve` on a data directory or file it cannot use: one clear line, a non-zero exit.

Each case starts a real `python -m orchestrator.cli serve` process and reads its stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.cli.processes import wait_serving
from orchestrator.store import SqliteRunStore
from tests.helpers import REPO_ROOT
from tests.integration.cli_process import free_port
from tests.unit.store.run_events import created, finished, started

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAGE_SIZE = 4096


def serve_env(data_dir: Path, port: int) -> dict[str, str]:
    return dict(
        os.environ,
        AURA_PORT=str(port),
        AURA_DATA_DIR=str(data_dir),
        AURA_LOG_LEVEL="WARNING",
        AURA_METRICS_PORT="off",
    )


async def serve_until_exit(data_dir: Path) -> tuple[int, list[str]]:
    """Runs `aura serve`, expecting it to refuse to start; returns (exit code, stderr lines)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        "serve",
        env=serve_env(data_dir, free_port()),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("aura serve kept running on an unusable store") from None
    assert process.returncode is not None
    return process.returncode, [line for line in stderr.decode().splitlines() if line.strip()]


def assert_one_clear_line(lines: list[str], *expected: str) -> None:
    assert len(lines) == 1, "\n".join(lines)
    assert not any("Traceback" in line for line in lines)
    for part in expected:
        assert part in lines[0], lines[0]


async def write_some_runs(path: Path, runs: int = 300) -> None:
    async with SqliteRunStore(path) as store:
        for index in range(runs):
            await store.create_run(created(f"r{index}", labels={"pad": "p" * 60}))
            await store.append([started(f"r{index}"), finished(f"r{index}", 3)])


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """A directory nobody can write in: a read-only mount as root, else mode 0555."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    if shutil.which("mount") is None:
        pytest.skip("root without mount(8): no read-only directory to be had")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


async def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "aura.db").write_text("these are somebody's notes, not a database\n" * 20)

    code, lines = await serve_until_exit(tmp_path)

    assert code != 0
    assert_one_clear_line(lines, str(tmp_path / "aura.db"), "not a SQLite database")


async def test_a_truncated_database(tmp_path: Path) -> None:
    database = tmp_path / "aura.db"
    await write_some_runs(database)
    os.truncate(database, database.stat().st_size // 2)

    code, lines = await serve_until_exit(tmp_path)

    assert code != 0
    assert_one_clear_line(lines, str(database), "damaged")


async def test_a_database_with_a_damaged_page(tmp_path: Path) -> None:
    database = tmp_path / "aura.db"
    await write_some_runs(database)
    pages = database.stat().st_size // PAGE_SIZE
    with database.open("r+b") as file:  # a page in the middle overwritten, size unchanged
        file.seek(PAGE_SIZE * (pages // 2))
        file.write(b"\xff" * PAGE_SIZE)

    code, lines = await serve_until_exit(tmp_path)

    assert code != 0
    assert_one_clear_line(lines, str(database), "damaged")


async def test_a_read_only_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with read_only(data_dir):
        code, lines = await serve_until_exit(data_dir)

    assert code != 0
    assert_one_clear_line(lines, str(data_dir), "read-only")


async def test_a_missing_data_directory_whose_parent_is_read_only(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    with read_only(parent):
        code, lines = await serve_until_exit(parent / "data")

    assert code != 0
    assert_one_clear_line(lines, str(parent / "data"), "cannot be created")


async def test_a_missing_data_directory_is_created_and_served(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator.cli",
        "serve",
        env=serve_env(data_dir, port),
        cwd=REPO_ROOT,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_serving(f"127.0.0.1:{port}", timeout_s=30)
        assert (data_dir / "aura.db").is_file()
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=15) == 0
