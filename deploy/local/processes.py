"""Processes and ports: liveness by pid, who holds a port, stopping a pid against a deadline."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from vanphong.deploy.local.config import LISTEN_HOST, PG_MAJOR

POLL_INTERVAL = 0.2


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def reap(pid: int) -> None:
    """Collect the exit status of a child of ours (a broker this process started)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_in_use(port: int, host: str = LISTEN_HOST) -> bool:
    """True if something listens on ``host:port`` (a bind test, as the server itself would do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def accepts_tcp(port: int, host: str = LISTEN_HOST, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class PortHolder:
    """The process listening on a port (pid and name unknown when ``ss`` cannot tell)."""

    port: int
    pid: int | None
    name: str | None
    cmdline: str

    def describe(self) -> str:
        if self.pid is None:
            return (
                f"port {self.port} is held by another process "
                f"(run `ss -ltnp 'sport = :{self.port}'` as root to see which)"
            )
        what = self.cmdline or self.name or "?"
        if len(what) > 160:
            what = what[:157] + "..."
        return f"port {self.port} is held by pid {self.pid} ({self.name}): {what}"


def _ss_listener(port: int) -> tuple[int | None, str | None]:
    ss = shutil.which("ss")
    if ss is None:
        return None, None
    try:
        out = subprocess.run(
            [ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    match = re.search(r'\("([^"]*)",pid=(\d+)', out)
    if match is None:
        return None, None
    return int(match.group(2)), match.group(1)


def find_port_holder(port: int, host: str = LISTEN_HOST) -> PortHolder | None:
    """Who listens on ``host:port``, or None if the port is free."""
    if not port_in_use(port, host):
        return None
    pid, name = _ss_listener(port)
    return PortHolder(port=port, pid=pid, name=name, cmdline=cmdline(pid) if pid else "")


def foreign_port_holder(
    port: int,
    own_pids: Collection[int] = (),
    own_marker: str | None = None,
    host: str = LISTEN_HOST,
) -> PortHolder | None:
    """The holder of ``port`` unless the port is free or held by one of our own processes.

    Ours means: its pid is in ``own_pids``, or its command line contains ``own_marker`` (our
    ``server.properties`` or data dir path).
    """
    holder = find_port_holder(port, host)
    if holder is None:
        return None
    if holder.pid is not None and holder.pid in own_pids:
        return None
    if own_marker and own_marker in holder.cmdline:
        return None
    return holder


def port_hint(holder: PortHolder, variable: str) -> str:
    stop = f"stop pid {holder.pid}" if holder.pid else "stop that process"
    hint = f"{stop}, or point {variable} at a free port"
    if "postgres" in (holder.name or "") + holder.cmdline:
        hint += (
            f" (if it is Debian's own cluster: `pg_ctlcluster {PG_MAJOR} main stop`, and "
            f"`echo manual > /etc/postgresql/{PG_MAJOR}/main/start.conf` to keep it stopped)"
        )
    return hint


def stop_pid(pid: int, timeout: float) -> bool:
    """SIGTERM, wait up to ``timeout``, then SIGKILL. True if it stopped before the SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(pid)
        if not alive(pid):
            return True
        time.sleep(POLL_INTERVAL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 10
    while time.monotonic() < kill_deadline:
        reap(pid)
        if not alive(pid):
            break
        time.sleep(POLL_INTERVAL)
    return False
