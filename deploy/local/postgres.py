"""PostgreSQL: our own cluster's initdb, its conf, TLS, start, stop, roles, wait, probe and the
component (its directories and OS user: ``postgres_dirs``; its roles: ``postgres_roles``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

from rich.console import Console

from vanphong.deploy.local.certs import Certs
from vanphong.deploy.local.component import Component
from vanphong.deploy.local.config import (
    LISTEN_HOST,
    PG_MAJOR,
    StackConfig,
)
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.install import install_pg
from vanphong.deploy.local.launch import wait_until_ready
from vanphong.deploy.local.postgres_dirs import (
    PgDirs,
    PgRunner,
    existing_pg_dirs,
    pg_runner,
    prepare_pg_dirs,
)
from vanphong.deploy.local.postgres_roles import ensure_roles
from vanphong.deploy.local.processes import alive, cmdline
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import now


def pg_login_probe(url: str, timeout: float = 5.0) -> str:
    """Log in with ``url`` (password auth over TCP); returns ``current_user``."""
    import asyncpg

    async def probe() -> str:
        conn = await asyncpg.connect(dsn=url, timeout=timeout)
        try:
            return str(await conn.fetchval("SELECT current_user"))
        finally:
            await conn.close()

    return asyncio.run(asyncio.wait_for(probe(), timeout + 1))


def init_pg(dirs: PgDirs, runner: PgRunner, progress: Progress) -> None:
    if (dirs.data / "PG_VERSION").exists():
        return
    if any(dirs.data.iterdir()):
        raise StackError(
            f"{dirs.data} is not empty but holds no PostgreSQL cluster",
            hint=f"remove it (rm -rf {dirs.data}) and run `vanphong stack up` again",
        )
    progress.step("initialising the PostgreSQL cluster (first run only)")
    result = subprocess.run(
        runner.cmd(
            "initdb",
            "-D",
            str(dirs.data),
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ),
        cwd=dirs.run,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise StackError(
            f"initdb failed for {dirs.data}",
            detail=(result.stdout + result.stderr)[-3000:],
            hint=f"remove {dirs.data} and run `vanphong stack up` again",
        )
    with (dirs.data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# the local stack's settings (deploy/local/postgres.py)\ninclude = 'vanphong.conf'\n"
        )


#: The server certificate and key in the data dir (PostgreSQL's default names), put there by
#: ``stack up --secure`` (:func:`install_pg_tls`); TLS is on whenever they are there.
PG_TLS_CERT = "server.crt"
PG_TLS_KEY = "server.key"


def pg_server_conf(port: int, socket_dir: Path, tls: bool = False) -> str:
    lines = [
        "# written by `vanphong stack up` (deploy/local/postgres.py) on every start: "
        "edit that, not this",
        f"listen_addresses = '{LISTEN_HOST}'",
        f"port = {port}",
        f"unix_socket_directories = '{socket_dir}'",
        "unix_socket_permissions = 0770",
        "max_connections = 100",
        "shared_buffers = 256MB",
        "password_encryption = 'scram-sha-256'",
        "logging_collector = off",
        "log_line_prefix = '%m [%p] %q%u@%d '",
        # durability stays at PostgreSQL's defaults (fsync, synchronous_commit, full_page_writes):
        # the product promises exactly-once effects
    ]
    if tls:
        # for everyone: clients that do not ask for TLS (sslmode=disable/prefer) still get in
        lines += [
            "ssl = on",
            f"ssl_cert_file = '{PG_TLS_CERT}'",
            f"ssl_key_file = '{PG_TLS_KEY}'",
            "ssl_min_protocol_version = 'TLSv1.2'",
        ]
    return "\n".join(lines) + "\n"


def pg_tls_installed(dirs: PgDirs) -> bool:
    return (dirs.data / PG_TLS_CERT).exists() and (dirs.data / PG_TLS_KEY).exists()


def write_pg_conf(dirs: PgDirs, port: int, runner: PgRunner) -> bool:
    """Write our part of the server's configuration; True if it changed."""
    conf = dirs.data / "vanphong.conf"
    text = pg_server_conf(port, dirs.run, tls=pg_tls_installed(dirs))
    try:
        changed = conf.read_text() != text
    except OSError:
        changed = True
    conf.write_text(text)
    if runner.prefix:
        entry = pwd.getpwnam(runner.os_user)
        os.chown(conf, entry.pw_uid, entry.pw_gid)
    return changed


def install_pg_tls(dirs: PgDirs, runner: PgRunner, cert: Path, key: Path) -> bool:
    """Put the server certificate and key (from the stack's CA) in the data dir, owned by the
    server's OS user, the key readable by it only; True if they changed."""
    changed = False
    for source, name, mode in ((cert, PG_TLS_CERT, 0o644), (key, PG_TLS_KEY, 0o600)):
        target = dirs.data / name
        data = source.read_bytes()
        if target.exists() and target.read_bytes() == data:
            continue
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        if runner.prefix:
            entry = pwd.getpwnam(runner.os_user)
            os.chown(tmp, entry.pw_uid, entry.pw_gid)
        os.replace(tmp, target)
        changed = True
    return changed


def reload_pg(dirs: PgDirs, runner: PgRunner) -> None:
    """Have the running server read its configuration again (TLS needs no restart since 10)."""
    result = subprocess.run(
        runner.cmd("pg_ctl", "reload", "-D", str(dirs.data), "-s"),
        cwd=dirs.run,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise StackError(
            "PostgreSQL did not reload its configuration",
            detail=(result.stdout + result.stderr)[-3000:],
            logs=[dirs.log],
        )


def our_pg_pid(dirs: PgDirs | None) -> int | None:
    """The postmaster running on our data dir, if any."""
    if dirs is None:
        return None
    try:
        first = (dirs.data / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first)
    except (OSError, ValueError, IndexError):
        return None
    if alive(pid) and str(dirs.data) in cmdline(pid):
        return pid
    return None


def start_pg(dirs: PgDirs, runner: PgRunner, timeout: float) -> int:
    wait = max(5, int(timeout))
    try:
        result = subprocess.run(
            runner.cmd(
                "pg_ctl",
                "start",
                "-D",
                str(dirs.data),
                "-l",
                str(dirs.log),
                "-w",
                "-t",
                str(wait),
                "-s",
            ),
            cwd=dirs.run,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            start_new_session=True,
            timeout=wait + 30,
        )
    except subprocess.TimeoutExpired:
        raise StackError(
            f"PostgreSQL did not start within {wait} s",
            hint="read the log; `vanphong stack down` stops it",
            logs=[dirs.log],
        ) from None
    pid = our_pg_pid(dirs)
    if result.returncode != 0 or pid is None:
        raise StackError(
            "PostgreSQL did not start",
            detail=(result.stdout + result.stderr)[-3000:],
            hint="read the log above; `vanphong stack down` then `vanphong stack up` again",
            logs=[dirs.log],
        )
    return pid


def wait_pg(cfg: StackConfig, dirs: PgDirs, deadline: float, timeout: float) -> None:
    def probe(seconds: float) -> bool:
        pg_login_probe(cfg.database_url, timeout=seconds)
        return True

    def exited() -> StackError | None:
        if our_pg_pid(dirs) is not None:
            return None
        return StackError(
            "PostgreSQL stopped during start-up",
            logs=[dirs.log],
            hint="read the log; then `vanphong stack up` again",
        )

    def timed_out(last: str) -> StackError:
        return StackError(
            f"PostgreSQL at {cfg.pg_address} did not accept a login as {cfg.pg.user!r} "
            f"within {timeout:.0f} s (last: {last})",
            hint="read the log; `vanphong stack down` then `vanphong stack up` again",
            logs=[dirs.log],
        )

    wait_until_ready(
        probe,
        deadline=deadline,
        timeout=timeout,
        exited=exited,
        timed_out=timed_out,
        last="no answer yet",
    )


def stop_pg(dirs: PgDirs, runner: PgRunner, timeout: float) -> None:
    wait = max(5, int(timeout))
    for mode in ("fast", "immediate"):
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                runner.cmd(
                    "pg_ctl", "stop", "-D", str(dirs.data), "-m", mode, "-w", "-t", str(wait), "-s"
                ),
                cwd=dirs.run,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=wait + 30,
            )
        if our_pg_pid(dirs) is None:
            return
    raise StackError(
        f"PostgreSQL on {dirs.data} did not stop",
        logs=[dirs.log],
        hint=f"stop it with: {' '.join(runner.cmd('pg_ctl', 'stop', '-D', str(dirs.data)))}",
    )


def pg_state(cfg: StackConfig, dirs: PgDirs, runner: PgRunner, pid: int) -> dict[str, Any]:
    """What ``stack.json`` records about the PostgreSQL cluster we started."""
    return {
        "pid": pid,
        "data_dir": str(dirs.data),
        "socket_dir": str(dirs.run),
        "address": cfg.pg_address,
        "os_user": runner.os_user,
        "log": str(dirs.log),
        "started_at": now(),
    }


class Postgres(Component):
    """Our own PostgreSQL cluster; with ``tls`` (the secure stack's CA), TLS on for everyone."""

    key = "postgres"
    label = "PostgreSQL"
    title = f"PostgreSQL {PG_MAJOR}"
    detached = False  # pg_ctl start -w: the start waits
    port_variable = "VANPHONG_DATABASE_URL"

    def __init__(self, cfg: StackConfig, console: Console, tls: Certs | None = None) -> None:
        self.cfg = cfg
        self.paths = cfg.paths
        self.console = console
        self.tls = tls
        self.runner = pg_runner()
        self.dirs = existing_pg_dirs(cfg.paths)

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.cfg.pg.port,)

    @property
    def own_marker(self) -> str:
        return str(self.dirs.data) if self.dirs else str(self.paths.pgdata)

    @property
    def address(self) -> str:
        return self.cfg.pg_address

    @property
    def log(self) -> Path | None:
        return self.dirs.log if self.dirs else None

    @property
    def starting(self) -> str:
        return f"starting {self.title}" + (" with TLS" if self.tls else "")

    @property
    def waiting(self) -> str:
        return "waiting for PostgreSQL to accept a login"

    def pid(self, state: dict[str, Any]) -> int | None:
        self.dirs = existing_pg_dirs(self.paths)  # read again: under the lock, as it is now
        return our_pg_pid(self.dirs)

    def set_up(self) -> bool:
        self.dirs = existing_pg_dirs(self.paths)
        return self.dirs is not None and (self.dirs.data / "PG_VERSION").exists()

    def fetch(self, progress: Progress) -> None:
        install_pg(self.paths, progress, self.console)

    def configure(self, progress: Progress) -> None:
        self.dirs = dirs = prepare_pg_dirs(self.paths, self.runner, self.console)
        init_pg(dirs, self.runner, progress)
        if self.tls is not None:
            install_pg_tls(dirs, self.runner, self.tls.cert("postgres"), self.tls.key("postgres"))
        write_pg_conf(dirs, self.cfg.pg.port, self.runner)

    def start(self, timeout: float) -> int:
        assert self.dirs is not None
        return start_pg(self.dirs, self.runner, timeout)

    def turn_tls_on(self, progress: Progress) -> None:
        """In the running server: the certificate and key, then a reload if anything changed."""
        assert self.dirs is not None and self.tls is not None
        dirs, runner = self.dirs, self.runner
        changed = install_pg_tls(dirs, runner, self.tls.cert("postgres"), self.tls.key("postgres"))
        if write_pg_conf(dirs, self.cfg.pg.port, runner) or changed:
            progress.step("turning TLS on in the running PostgreSQL (a reload)")
            reload_pg(dirs, runner)

    def ensure_roles(self) -> None:
        assert self.dirs is not None
        ensure_roles(self.dirs, self.runner, self.cfg.pg)

    def ready(self, pid: int, deadline: float, timeout: float) -> None:
        assert self.dirs is not None
        wait_pg(self.cfg, self.dirs, deadline, timeout)

    def stop(self, pid: int, timeout: float) -> bool:
        assert self.dirs is not None
        stop_pg(self.dirs, self.runner, timeout)
        return True  # or a StackError: pg_ctl stop -m immediate

    def record(self, pid: int) -> dict[str, Any]:
        assert self.dirs is not None
        return pg_state(self.cfg, self.dirs, self.runner, pid)
