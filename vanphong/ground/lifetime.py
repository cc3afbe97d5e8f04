"""Child processes that die with their parent.

A ``ProcessPoolExecutor``'s processes wait on their call queue for ever: when the parent is
killed (SIGKILL, the OOM killer), nothing tells them, and they stay, each holding its memory and
a PostgreSQL snapshot's connection until someone finds them. Linux can send a child a signal when
its parent dies (``prctl(PR_SET_PDEATHSIG)``); a pool's initializer calls :func:`die_with`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def die_with(parent: int) -> None:
    """From now on this process is killed when ``parent`` (its parent's pid) dies; if it died
    already (before this call could arm the signal), exit now. Elsewhere than Linux: nothing."""
    if sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
