"""A PostgreSQL primary and an asynchronous streaming standby of its own, for the failover tests.

Built from the PostgreSQL 15 binaries the local stack runs (deploy/postgres.py), as the
``postgres`` OS user when we are root (initdb refuses root), in a directory of its own under
/tmp, on free ports, and removed at the end. The shared stack is never touched.

- :meth:`PgCluster.build`: ``initdb`` the primary (``trust`` on its socket, ``scram-sha-256``
  on TCP, replication from 127.0.0.1 trusted), the roles and database vanphong expects
  (:func:`deploy.postgres.roles_sql`), and the standby by ``pg_basebackup -R`` (streaming,
  asynchronous: PostgreSQL's default, Patroni's and managed services' default).
- :meth:`PgCluster.cut_replication`: the standby stops receiving WAL while the primary goes on
  committing (PostgreSQL 13+ reloads ``primary_conninfo``: set to '' the WAL receiver stops and
  the startup process waits for WAL that will not come).
- :meth:`Node.crash`: ``pg_ctl stop -m immediate``, the primary's machine lost.
- :meth:`PgCluster.promote`: ``pg_ctl promote``, the standby becomes read-write on a new
  timeline, without the commits it never received.
- :class:`MovingAddress`: a TCP proxy on a fixed port that forwards to one server; moved, it
  closes every connection it carries and forwards new ones to the other, as a virtual IP or a
  DNS name moves to the promoted standby.
- :meth:`Node.dump` / :meth:`Node.restore_as`: a backup by ``pg_dump -Fc`` and its restore by
  ``pg_restore`` into a new database, swapped in by name (:meth:`Node.swap_in`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from deploy.config import PgTarget
from deploy.postgres import PgRunner, pg_runner, roles_sql

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


PRIMARY_CONF = """\
max_connections = 60
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 5
wal_keep_size = 512MB
hot_standby = on
log_line_prefix = '%m [%p] %q%u@%d '
"""


@dataclass
class PgCluster:
    """A primary and its asynchronous streaming standby under ``base``."""

    base: Path
    primary: Node
    standby: Node
    database: str
    runner: PgRunner

    @classmethod
    def build(cls, database: str) -> PgCluster:
        runner = pg_runner()
        base = Path(tempfile.mkdtemp(prefix="vp-pgc-", dir="/tmp"))
        _chown(base, runner)

        def node(name: str) -> Node:
            run = base / f"{name}-run"
            run.mkdir()
            _chown(run, runner)
            return Node(name, base / name, run, free_port(), runner)

        primary, standby = node("primary"), node("standby")
        primary._run(
            "initdb", "-D", str(primary.data), "--auth-local=trust",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        hba = primary.data / "pg_hba.conf"
        hba.write_text("host replication all 127.0.0.1/32 trust\n" + hba.read_text())
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude = 'vanphong.conf'\n")
        primary.conf(PRIMARY_CONF)
        primary.start()
        target = PgTarget("127.0.0.1", primary.port, USER, PASSWORD, database)
        primary._run(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(primary.run),
            "-p", str(primary.port), "-U", runner.os_user, "-d", "postgres", "-f", "-",
            input=roles_sql(target),
        )  # fmt: skip
        cluster = cls(base, primary, standby, database, runner)
        try:
            primary._run(
                "pg_basebackup", "-D", str(standby.data), "-h", "127.0.0.1",
                "-p", str(primary.port), "-U", runner.os_user, "-R", "-X", "stream",
                "-c", "fast",
            )  # fmt: skip
            standby.conf(PRIMARY_CONF)
            standby.start()
            cluster.wait_streaming()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

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

    def destroy(self) -> None:
        for node in (self.standby, self.primary):
            with contextlib.suppress(Exception):
                if node.running():
                    node.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class MovingAddress:
    """127.0.0.1:``port`` forwards to 127.0.0.1:``target``; :meth:`move` points it elsewhere and
    cuts the connections it carries, as a virtual IP does when it moves to another machine."""

    target: int
    port: int = 0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _thread: threading.Thread | None = None
    _server: asyncio.AbstractServer | None = None

    def start(self) -> MovingAddress:
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="moving-address", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise AssertionError("the moving address did not start listening")
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()  # nothing there now: the client sees a refused connection
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def move(self, target: int) -> None:
        """Forward new connections to ``target``; every connection carried now is cut."""

        def go() -> None:
            self.target = target
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(go)

    def close(self) -> None:
        def stop() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        if self._thread is not None:
            self._thread.join(30)


@contextlib.contextmanager
def cluster(database: str) -> Iterator[PgCluster]:
    built = PgCluster.build(database)
    try:
        yield built
    finally:
        built.destroy()
