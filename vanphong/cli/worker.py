"""``vanphong worker``: the processors and the PostgreSQL sink, until SIGINT/SIGTERM; the
worker itself is vanphong/streams/."""

from __future__ import annotations

import sys

from vanphong.ground.settings import get_settings


def worker_command() -> None:
    """Run the processors and the PostgreSQL sink until SIGINT/SIGTERM."""
    from vanphong.ground.logs import configure
    from vanphong.streams.app import run_worker

    settings = get_settings()
    configure(settings)
    sys.argv = [sys.argv[0], "worker"]  # faust's Worker reads argv; keep ours out of it
    run_worker(settings)
