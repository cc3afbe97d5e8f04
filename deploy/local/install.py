"""Prerequisites and the first-use install of PostgreSQL, before ``up`` launches anything.

Kept apart from the orchestration because it is the only part that changes the machine itself
(``apt-get``, Debian's own cluster) rather than the stack directory; ``up`` calls it only for a
PostgreSQL that is not running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from rich.console import Console

from vanphong.deploy.local.config import PG_MAJOR, StackPaths
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.postgres_dirs import PG_BIN
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import now

# postgresql-contrib-15 is a virtual package provided by postgresql-15 on Debian 12; naming it
# documents that we rely on the contrib modules too.
PG_PACKAGES = ("postgresql-15", "postgresql-contrib-15")
PG_INSTALL_COMMAND = f"apt-get update && apt-get install -y {' '.join(PG_PACKAGES)}"
INSTALL_TIMEOUT = 900.0  # apt-get
MIN_FREE_BYTES = 1 << 30


def check_free_space(paths: StackPaths) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(paths.root).free
    if free < MIN_FREE_BYTES:
        raise StackError(
            f"disk nearly full: only {free / 2**20:.0f} MiB free where the stack lives "
            f"({paths.root}); it needs about 1 GiB (Kafka jars, logs, PostgreSQL data)",
            hint="free some space, or put the stack elsewhere with VANPHONG_STACK_DIR=/path",
        )


def pg_installed() -> bool:
    return (PG_BIN / "postgres").exists()


def install_pg(paths: StackPaths, progress: Progress, console: Console) -> None:
    if pg_installed():
        return
    if os.geteuid() != 0:
        raise StackError(
            f"PostgreSQL {PG_MAJOR} is not installed ({PG_BIN / 'postgres'} is missing)",
            hint=f"run as root: {PG_INSTALL_COMMAND}  (then `vanphong stack up` again)",
        )
    if shutil.which("apt-get") is None:
        raise StackError(
            f"PostgreSQL {PG_MAJOR} is not installed and this is not a Debian system",
            hint=f"install PostgreSQL {PG_MAJOR} so that {PG_BIN / 'postgres'} exists",
        )
    progress.step(f"installing PostgreSQL {PG_MAJOR} with apt-get (first run only)")
    log = paths.root / "apt.log"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log.open("ab") as out:
        for argv in (["apt-get", "update"], ["apt-get", "install", "-y", *PG_PACKAGES]):
            out.write(f"--- {now()} {' '.join(argv)}\n".encode())
            out.flush()
            try:
                rc = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=INSTALL_TIMEOUT,
                ).returncode
            except subprocess.TimeoutExpired:
                rc = -1
            if rc != 0:
                raise StackError(
                    f"`{' '.join(argv)}` failed (exit {rc})",
                    hint=f"run it yourself: {PG_INSTALL_COMMAND}",
                    logs=[log],
                )
    if not pg_installed():
        raise StackError(
            f"apt-get installed {' '.join(PG_PACKAGES)} but {PG_BIN / 'postgres'} is missing",
            logs=[log],
        )
    _quiet_debian_main_cluster(console)


def _quiet_debian_main_cluster(console: Console) -> None:
    """Debian's package creates and may start cluster 15/main on 5432; we just installed it and
    run our own cluster, so stop it and keep it from starting at boot."""
    main = Path(f"/etc/postgresql/{PG_MAJOR}/main")
    if not main.is_dir():
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            ["pg_ctlcluster", str(PG_MAJOR), "main", "stop"],
            capture_output=True,
            timeout=120,
            cwd="/",
        )
    with contextlib.suppress(OSError):
        (main / "start.conf").write_text("manual\n")
    console.print(
        f"[yellow]note:[/] stopped Debian's own cluster {PG_MAJOR}/main (set to manual start); "
        "the stack runs its own cluster"
    )
