"""A PostgreSQL primary and an asynchronous streaming standby of its own, for the failover tests.

Built from the PostgreSQL 15 binaries the local stack runs (deploy/local/postgres.py), as the
``postgres`` OS user when we are root (initdb refuses root), in a directory of its own under
/tmp, on free ports, and removed at the end. The shared stack is never touched.

- :meth:`PgCluster.build`: ``initdb`` the primary (``trust`` on its socket, ``scram-sha-256``
  on TCP, replication from 127.0.0.1 trusted), the roles and database vanphong expects
  (:func:`vanphong.deploy.local.postgres_roles.roles_sql`), and the standby by ``pg_basebackup -R``
  (streaming, asynchronous: PostgreSQL's default, Patroni's and managed services' default).
- :meth:`PgCluster.cut_replication`: the standby stops receiving WAL while the primary goes on
  committing (PostgreSQL 13+ reloads ``primary_conninfo``: set to '' the WAL receiver stops and
  the startup process waits for WAL that will not come).
- :meth:`Node.crash`: ``pg_ctl stop -m immediate``, the primary's machine lost.
- :meth:`PgCluster.promote`: ``pg_ctl promote``, the standby becomes read-write on a new
  timeline, without the commits it never received.
- the address that moves to the promoted standby is tests/moving_address.py.
- :meth:`PgCluster.pitr_base` / :meth:`PgCluster.restore_to`: a base backup, the WAL archived
  (``archive_command``), and a point-in-time restore to an LSN (``recovery_target_lsn``).
- :meth:`Node.dump` / :meth:`Node.restore_as`: a backup by ``pg_dump -Fc`` and its restore by
  ``pg_restore`` into a new database, swapped in by name (:meth:`Node.swap_in`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from vanphong.deploy.local.config import PgTarget
from vanphong.deploy.local.postgres_dirs import PgRunner, pg_runner
from vanphong.deploy.local.postgres_roles import roles_sql

USER = "vanphong"
PASSWORD = "vanphong"


def free_port() -> int:
    """A port nothing listens on now. PostgreSQL cannot be told to choose one and say which, so
    this one is picked and released; the cluster's start fails loudly if it was taken since."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url(ports: list[int] | int, database: str, multi_host: bool = False) -> str:
    """``postgresql://vanphong:vanphong@127.0.0.1:P/db``; with several ports the multi-host form
    that follows the primary (``target_session_attrs=read-write``)."""
    hosts = ",".join(f"127.0.0.1:{p}" for p in ([ports] if isinstance(ports, int) else ports))
    tail = "?target_session_attrs=read-write" if multi_host else ""
    return f"postgresql://{USER}:{PASSWORD}@{hosts}/{database}{tail}"


@dataclass
class Node:
    """One PostgreSQL server: its data directory, its socket directory and its port."""

    name: str
    data: Path
    run: Path
    port: int
    runner: PgRunner

    @property
    def log(self) -> Path:
        return self.run / "postgres.log"

    def _run(self, program: str, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            self.runner.cmd(program, *args),
            cwd=self.run,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed on {self.name}: "
                f"{(result.stdout + result.stderr)[-2000:]}\n{self.log_tail()}"
            )
        return result.stdout

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-n:]
        except OSError:
            return ""
        return f"--- {self.name} log\n" + "\n".join(lines)

    def conf(self, text: str) -> None:
        """Our settings, included last by postgresql.conf."""
        (self.data / "vanphong.conf").write_text(
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.run}'\n{text}"
        )
        _chown(self.data / "vanphong.conf", self.runner)

    def start(self) -> None:
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` shuts down cleanly; ``immediate`` is a crash (no shutdown checkpoint)."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def crash(self) -> None:
        self.stop("immediate")

    def running(self) -> bool:
        result = subprocess.run(
            self.runner.cmd("pg_ctl", "status", "-D", str(self.data)),
            cwd=self.run,
            capture_output=True,
            timeout=30,
        )
        return result.returncode == 0

    def sql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser over the socket; the rows, unaligned."""
        return self._run(
            "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.run), "-p", str(self.port), "-U", self.runner.os_user, "-d", database,
            "-c", sql,
        ).strip()  # fmt: skip

    def in_recovery(self) -> bool:
        return self.sql("SELECT pg_is_in_recovery()") == "t"

    def dump(self, database: str, to: Path) -> None:
        """A logical backup (``pg_dump -Fc``): one consistent snapshot of the database."""
        self._run(
            "pg_dump", "-Fc", "-h", str(self.run), "-p", str(self.port),
            "-U", self.runner.os_user, "-f", str(to), database,
        )  # fmt: skip

    def restore_as(self, backup: Path, database: str) -> None:
        """A new database ``database`` owned by vanphong, with the backup restored into it."""
        self.sql(f'CREATE DATABASE "{database}" OWNER "{USER}"')
        self._run(
            "pg_restore", "-h", str(self.run), "-p", str(self.port), "-U", self.runner.os_user,
            "-d", database, "--exit-on-error", str(backup),
        )  # fmt: skip

    def swap_in(self, restored: str, live: str, timeout_s: float = 60) -> None:
        """What an operator does to put a restored database in the live one's place under a
        running application: close the live one to new connections, end its sessions, rename it
        aside, rename the restored one to its name, open it."""
        aside = f"{live}_before_restore"
        self.sql(f'ALTER DATABASE "{live}" WITH ALLOW_CONNECTIONS false')
        deadline = time.monotonic() + timeout_s
        while True:
            self.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{live}' AND pid <> pg_backend_pid()"
            )
            try:
                self.sql(f'ALTER DATABASE "{live}" RENAME TO "{aside}"')
                break
            except RuntimeError as exc:  # a session still ending: "being accessed by others"
                if "being accessed" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.sql(f'ALTER DATABASE "{restored}" RENAME TO "{live}"')


def _chown(path: Path, runner: PgRunner) -> None:
    if runner.prefix:
        entry = pwd.getpwnam(runner.os_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def server_conf(archive: Path) -> str:
    """Every node's settings. Each segment of WAL is archived (for a point-in-time restore);
    durability stays at PostgreSQL's defaults, like the stack's (deploy/local/postgres.py)."""
    return (
        "max_connections = 60\nshared_buffers = 32MB\nwal_level = replica\n"
        "max_wal_senders = 5\nwal_keep_size = 512MB\nhot_standby = on\n"
        "log_line_prefix = '%m [%p] %q%u@%d '\narchive_mode = on\n"
        f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'\n"
    )


@dataclass
class PgCluster:
    """A primary and its asynchronous streaming standby under ``base``."""

    base: Path
    primary: Node
    standby: Node
    database: str
    runner: PgRunner
    others: list[Node] = field(default_factory=list)  # restored copies (point in time)

    @property
    def archive(self) -> Path:
        return self.base / "archive"

    @staticmethod
    def _node(base: Path, name: str, runner: PgRunner) -> Node:
        run = base / f"{name}-run"
        run.mkdir()
        _chown(run, runner)
        return Node(name, base / name, run, free_port(), runner)

    @classmethod
    def build(cls, database: str) -> PgCluster:
        runner = pg_runner()
        base = Path(tempfile.mkdtemp(prefix="vp-pgc-", dir="/tmp"))
        _chown(base, runner)
        (base / "archive").mkdir()
        _chown(base / "archive", runner)
        primary, standby = cls._node(base, "primary", runner), cls._node(base, "standby", runner)
        primary._run(
            "initdb", "-D", str(primary.data), "--auth-local=trust",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        hba = primary.data / "pg_hba.conf"
        hba.write_text("host replication all 127.0.0.1/32 trust\n" + hba.read_text())
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude = 'vanphong.conf'\n")
        primary.conf(server_conf(base / "archive"))
        primary.start()
        target = PgTarget("127.0.0.1", primary.port, USER, PASSWORD, database)
        primary._run(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(primary.run),
            "-p", str(primary.port), "-U", runner.os_user, "-d", "postgres", "-f", "-",
            input=roles_sql(target),
        )  # fmt: skip
        cluster = cls(base, primary, standby, database, runner)
        try:
            cluster.base_backup(standby, "-R")
            standby.conf(server_conf(cluster.archive))
            standby.start()
            cluster.wait_streaming()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def base_backup(self, node: Node, *options: str) -> None:
        """``pg_basebackup`` of the primary into ``node``'s data directory."""
        self.primary._run(
            "pg_basebackup", "-D", str(node.data), "-h", "127.0.0.1", "-p",
            str(self.primary.port), "-U", self.runner.os_user, "-X", "stream", "-c", "fast",
            *options,
        )  # fmt: skip

    def wait_streaming(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.primary.sql("SELECT count(*) FROM pg_stat_replication") != "1":
            if time.monotonic() > deadline:
                raise AssertionError(f"the standby never streamed\n{self.standby.log_tail()}")
            time.sleep(0.1)

    def url(self, port: int | None = None) -> str:
        return url(port or self.primary.port, self.database)

    def multi_host_url(self) -> str:
        return url([self.primary.port, self.standby.port], self.database, multi_host=True)

    def cut_replication(self, timeout_s: float = 60) -> None:
        """The standby stops receiving WAL; the primary goes on committing without it."""
        self.standby.sql("ALTER SYSTEM SET primary_conninfo = ''")
        self.standby.sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + timeout_s
        while (
            self.standby.sql("SELECT count(*) FROM pg_stat_wal_receiver") != "0"
            or self.primary.sql("SELECT count(*) FROM pg_stat_replication") != "0"
        ):
            if time.monotonic() > deadline:
                raise AssertionError(f"replication still runs\n{self.standby.log_tail()}")
            time.sleep(0.1)

    def promote(self) -> None:
        self.standby._run("pg_ctl", "promote", "-D", str(self.standby.data), "-w", "-t", "60")
        if self.standby.in_recovery():
            raise AssertionError(f"the standby is still in recovery\n{self.standby.log_tail()}")

    def pitr_base(self) -> Node:
        """A base backup kept for a point-in-time restore (not started)."""
        node = self._node(self.base, f"pitr{len(self.others)}", self.runner)
        self.base_backup(node)
        self.others.append(node)
        return node

    def lsn(self) -> str:
        """The primary's current WAL position: a recovery target."""
        return self.primary.sql("SELECT pg_current_wal_lsn()")

    def restore_to(self, node: Node, lsn: str, timeout_s: float = 120) -> None:
        """Point-in-time restore: ``node``'s base backup replays the archived WAL up to ``lsn``
        and is promoted (read-write, a new timeline). The primary's WAL up to there is archived
        first (``pg_switch_wal``), as its archiver would do within ``archive_timeout``."""
        segment = self.primary.sql(f"SELECT pg_walfile_name('{lsn}')")
        self.primary.sql("SELECT pg_switch_wal()")
        deadline = time.monotonic() + timeout_s
        while not (self.archive / segment).exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"{segment} never archived\n{self.primary.log_tail()}")
            time.sleep(0.1)
        node.conf(
            server_conf(self.archive)
            + f"restore_command = 'cp {self.archive}/%f %p'\n"
            + f"recovery_target_lsn = '{lsn}'\nrecovery_target_action = 'promote'\n"
        )
        (node.data / "recovery.signal").touch()
        _chown(node.data / "recovery.signal", self.runner)
        node.start()
        while node.in_recovery():
            if time.monotonic() > deadline:
                raise AssertionError(f"the restore never finished\n{node.log_tail()}")
            time.sleep(0.1)

    def destroy(self) -> None:
        for node in (*self.others, self.standby, self.primary):
            with contextlib.suppress(Exception):
                if node.running():
                    node.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
