"""The one detached launch and the one wait until ready, for every process of the stack.

A component starts its process detached (its own session, output appended to its log after a
dated banner), so that it outlives the command that started it; then ``up`` waits until it
answers a real client (a metadata request, a login, an HTTP request), polling against a
deadline: nothing sleeps blindly.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from vanphong.deploy.local.errors import StackError, describe_exc
from vanphong.deploy.local.processes import POLL_INTERVAL, alive, reap
from vanphong.deploy.local.state import now

# Popen objects of processes started by this process: kept so they are not collected (and
# warned about) while they run.
_CHILDREN: list[subprocess.Popen[bytes]] = []


def launch_detached(
    cmd: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    banner: str,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start ``cmd`` in a session of its own, stdout and stderr appended to ``log`` after
    ``--- <now> <banner>``; return its pid."""
    with log.open("ab") as out:
        out.write(f"--- {now()} {banner}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN.append(proc)
    return proc.pid


def gone(pid: int) -> bool:
    """True if the process ``pid`` has exited (collecting it if it is a child of ours)."""
    reap(pid)
    return not alive(pid)


class NotReady(Exception):
    """A probe's answer that is not yet what ready means (e.g. two of three brokers)."""


def wait_until_ready(
    probe: Callable[[float], bool],
    *,
    deadline: float,
    timeout: float,
    exited: Callable[[], StackError | None],
    timed_out: Callable[[str], StackError],
    probe_timeout: tuple[float, float] = (1.0, 5.0),
    transient: tuple[type[BaseException], ...] = (Exception,),
    last: str = "not listening yet",
) -> None:
    """Poll ``probe(seconds)`` until it returns True; False means "not listening yet" (the last
    answer stands), a ``transient`` exception is the last answer. ``exited()`` names a process
    that died meanwhile; ``timed_out(last)`` is raised at the deadline. Each probe gets what is
    left of the deadline, within ``probe_timeout`` (low, high)."""
    low, high = probe_timeout
    while True:
        error = exited()
        if error is not None:
            raise error
        try:
            if probe(max(low, min(high, deadline - time.monotonic()))):
                return
        except transient as exc:
            last = str(exc) if isinstance(exc, NotReady) else describe_exc(exc)
        if time.monotonic() >= deadline:
            raise timed_out(last)
        time.sleep(POLL_INTERVAL)
