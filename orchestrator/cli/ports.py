"""Which of the ports a command is about to listen on are taken already, and by whom."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable
from pathlib import Path

LOCAL_HOSTS = ("", "127.0.0.1", "localhost", "0.0.0.0", "::", "[::]")


def split_address(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    return (host, int(port)) if port.isdigit() else None


def taken_ports(wanted: Iterable[tuple[str, int, str]]) -> list[str]:
    """For each (host, port, what it is for) that cannot be listened on, one line naming
    the port, its use, the process holding it when /proc tells, and the setting to change."""
    problems = []
    for host, port, purpose in wanted:
        if port == 0 or host not in LOCAL_HOSTS or _bindable(host, port):
            continue
        holder = listener_of(port)
        by = f" by {holder}" if holder else ""
        problems.append(f"port {port} ({purpose}) is already in use{by}")
    return problems


def _bindable(host: str, port: int) -> bool:
    bind_host = "127.0.0.1" if host in ("", "localhost") else host.strip("[]")
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: a port in TIME_WAIT is free; no SO_REUSEPORT, so a listener is seen.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bind_host, port))
        except OSError:
            return False
    return True


def listener_of(port: int) -> str:
    """`pid 123 (python -m x)` of the process listening on `port`, from Linux's /proc; ""
    when it cannot be told (another OS, another user's process)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rpartition(":")[2], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    if not inodes:
        return ""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                    command = " ".join(raw.decode(errors="replace").replace("\0", " ").split())
                    return f"pid {pid} ({command[:80]})" if command else f"pid {pid}"
    return ""
