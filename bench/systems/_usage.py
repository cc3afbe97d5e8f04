"""What a child process reports about itself when it is done: peak RSS and CPU time."""

from __future__ import annotations

import os
from pathlib import Path


def usage() -> dict[str, float]:
    """``peak_rss_mb`` (VmHWM) and ``cpu_s`` (user + system) of this process so far."""
    peak = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    times = os.times()
    return {"peak_rss_mb": peak, "cpu_s": times.user + times.system}
