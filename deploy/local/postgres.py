"""PostgreSQL: our own cluster's dirs, initdb, its conf, start, stop, roles, wait, probe."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from vanphong.deploy.local.config import (
    LISTEN_HOST,
    PG_MAJOR,
    REPORTING_PASSWORD,
    REPORTING_ROLE,
    PgTarget,
    StackConfig,
    StackPaths,
)
from vanphong.deploy.local.errors import StackError, describe_exc
from vanphong.deploy.local.processes import POLL_INTERVAL, alive, cmdline
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import now

PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")


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


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def roles_sql(target: PgTarget) -> str:
    """Idempotent SQL (psql, \\gexec): the owner role and database, and the reporting role.

    The owner role gets CREATEDB on this local cluster only: the test suite creates a database
    per test. It gets CREATEROLE too: ``vanphong access grant-province`` creates the province
    readers' login roles as the owner (docs/operations.md, "Province readers"). The reporting
    role gets nothing here; migrations grant it schema ``reporting``. The province readers'
    group (NOLOGIN) is made here as well, as an administrator would (migration 0009 grants it).
    """
    roles = (
        (target.user, target.password, "LOGIN CREATEDB CREATEROLE"),
        (REPORTING_ROLE, REPORTING_PASSWORD, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"),
    )
    out: list[str] = []
    for role, password, options in roles:
        out.append(
            f"SELECT format('CREATE ROLE %I LOGIN', {_literal(role)}) "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)})\n\\gexec"
        )
        out.append(f"ALTER ROLE {_ident(role)} WITH {options} PASSWORD {_literal(password)};")
    out.append(
        "SELECT 'CREATE ROLE vanphong_province_readers NOLOGIN' WHERE NOT EXISTS"
        " (SELECT FROM pg_roles WHERE rolname = 'vanphong_province_readers')\n\\gexec"
    )
    out.append(
        f"SELECT format('CREATE DATABASE %I OWNER %I', {_literal(target.database)}, "
        f"{_literal(target.user)}) "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_literal(target.database)})"
        "\n\\gexec"
    )
    out.append(f"ALTER DATABASE {_ident(target.database)} OWNER TO {_ident(target.user)};")
    return "\n".join(out) + "\n"


def ensure_roles(dirs: PgDirs, runner: PgRunner, target: PgTarget) -> None:
    result = subprocess.run(
        runner.cmd(
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(dirs.run),
            "-p",
            str(target.port),
            "-U",
            runner.os_user,
            "-d",
            "postgres",
            "-f",
            "-",
        ),
        input=roles_sql(target),
        cwd=dirs.run,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise StackError(
            f"creating the roles {target.user!r} and {REPORTING_ROLE!r} failed",
            detail=(result.stdout + result.stderr)[-3000:],
            logs=[dirs.log],
        )


def wait_pg(cfg: StackConfig, dirs: PgDirs, deadline: float, timeout: float) -> None:
    last = "no answer yet"
    while True:
        if our_pg_pid(dirs) is None:
            raise StackError(
                "PostgreSQL stopped during start-up",
                logs=[dirs.log],
                hint="read the log; then `vanphong stack up` again",
            )
        try:
            pg_login_probe(
                cfg.database_url, timeout=max(1.0, min(5.0, deadline - time.monotonic()))
            )
            return
        except Exception as exc:
            last = describe_exc(exc)
        if time.monotonic() >= deadline:
            raise StackError(
                f"PostgreSQL at {cfg.pg_address} did not accept a login as {cfg.pg.user!r} "
                f"within {timeout:.0f} s (last: {last})",
                hint="read the log; `vanphong stack down` then `vanphong stack up` again",
                logs=[dirs.log],
            )
        time.sleep(POLL_INTERVAL)


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
