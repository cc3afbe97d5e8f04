"""Where PostgreSQL runs and as whom: the server's programs (``PG_BIN``), run as ``postgres``
through runuser when we are root, and our cluster's data and socket directories, made so that
this OS user can reach them."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from vanphong.deploy.local.config import PG_MAJOR, StackPaths
from vanphong.deploy.local.errors import StackError

PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")


@dataclass(frozen=True)
class PgRunner:
    """How PostgreSQL programs are run: as ``postgres`` through runuser when we are root."""

    prefix: tuple[str, ...]
    os_user: str  # also the cluster's superuser (initdb's default), reached by peer auth

    def cmd(self, program: str, *args: str) -> list[str]:
        return [*self.prefix, str(PG_BIN / program), *args]


def pg_runner() -> PgRunner:
    if os.geteuid() == 0:
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return PgRunner((runuser, "-u", "postgres", "--"), "postgres")
    return PgRunner((), pwd.getpwuid(os.geteuid()).pw_name)


@dataclass(frozen=True)
class PgDirs:
    data: Path
    run: Path

    @property
    def log(self) -> Path:
        return self.run / "postgres.log"


def existing_pg_dirs(paths: StackPaths) -> PgDirs | None:
    if not (paths.pgdata.exists() and paths.pgrun.exists()):
        return None
    return PgDirs(paths.pgdata.resolve(), paths.pgrun.resolve())


def _can_reach(runner: PgRunner, path: Path) -> bool:
    if not runner.prefix:
        return True
    result = subprocess.run(
        [*runner.prefix, "test", "-x", str(path)], capture_output=True, cwd="/", timeout=30
    )
    return result.returncode == 0


def prepare_pg_dirs(paths: StackPaths, runner: PgRunner, console: Console) -> PgDirs:
    """``<stack_dir>/pgdata`` and ``<stack_dir>/pgrun``, owned by the server's OS user.

    When we are root and the ``postgres`` user cannot reach the stack dir (the default
    ``~/.cache/vanphong`` under a private ``/root``), both live in ``postgres``'s home instead
    and the stack dir holds symlinks to them: opening ``/root`` to other users is not ours to do.
    """
    owner = pwd.getpwnam(runner.os_user) if runner.prefix else None
    if paths.pgdata.is_symlink() or paths.pgdata.exists():
        data = paths.pgdata.resolve()
        run = paths.pgrun.resolve() if paths.pgrun.exists() else data.parent / "pgrun"
    elif owner is not None and not _can_reach(runner, paths.root):
        base = Path(owner.pw_dir) / (
            "vanphong-" + hashlib.sha256(str(paths.root).encode()).hexdigest()[:10]
        )
        base.mkdir(parents=True, exist_ok=True)
        os.chown(base, owner.pw_uid, owner.pw_gid)
        base.chmod(0o700)
        data, run = base / "pgdata", base / "pgrun"
        console.print(
            f"[yellow]note:[/] the {runner.os_user} user cannot reach {escape(str(paths.root))}; "
            f"the PostgreSQL data lives in {escape(str(base))} (symlinked from the stack dir)"
        )
    else:
        data, run = paths.pgdata, paths.pgrun
    for directory, mode in ((data, 0o700), (run, 0o755)):
        directory.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        directory.chmod(mode)
    for link, target in ((paths.pgdata, data), (paths.pgrun, run)):
        if target != link and not link.exists() and not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    if runner.prefix and not _can_reach(runner, data):
        raise StackError(
            f"the {runner.os_user} user cannot reach {data}",
            hint=f"make every parent directory searchable by {runner.os_user}, or set "
            "VANPHONG_STACK_DIR to a directory it can reach",
        )
    socket_path = run / f".s.PGSQL.{99999}"
    if len(str(socket_path).encode()) > 100:
        raise StackError(
            f"the socket path under {run} is too long for a Unix socket",
            hint="use a shorter VANPHONG_STACK_DIR",
        )
    return PgDirs(data, run)
