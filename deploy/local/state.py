"""What ``up`` started, recorded in ``<stack_dir>/stack.json``, and the stack dir's file lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.processes import POLL_INTERVAL

if TYPE_CHECKING:
    from vanphong.deploy.local.config import StackPaths
    from vanphong.deploy.local.spinner import Progress

LOCK_TIMEOUT = 1200.0  # another `vanphong stack` command may be downloading


def read_state(paths: StackPaths) -> dict[str, Any]:
    try:
        data = json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(paths: StackPaths, state: dict[str, Any]) -> None:
    tmp = paths.state.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, paths.state)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def stack_lock(paths: StackPaths, progress: Progress | None = None) -> Iterator[None]:
    """One ``vanphong stack`` command at a time per stack dir (pytest workers, terminals)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"another `vanphong stack` command still holds {paths.lock}",
                        hint="wait for it to finish, or find it with `fuser -v` on that file",
                    ) from None
                if not waiting and progress is not None:
                    progress.step("waiting for another `vanphong stack` command to finish")
                    waiting = True
                time.sleep(POLL_INTERVAL)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
