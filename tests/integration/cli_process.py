"""Runs the real `aura` command in a child process, as a user's shell would."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

AURA = str(Path(sys.executable).parent / "aura")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any AURA_* of the machine, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    env.pop("FORCE_COLOR", None)
    env.pop("COLUMNS", None)
    return {**env, **overrides}


async def aura(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> Result:
    process = await asyncio.create_subprocess_exec(
        AURA,
        *args,
        env=env if env is not None else clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    assert process.returncode is not None
    return Result(process.returncode, ANSI.sub("", out.decode()), ANSI.sub("", err.decode()))


def free_port() -> int:
    """A port nothing listens on (the kernel's pick, released again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
