"""The local stack: a single-node Kafka (KRaft) and a PostgreSQL 15 cluster on this machine.

``vanphong stack up | down | status`` (CONTRACT.md §1 and §8). ``up`` installs what is missing on
first use and returns once both services accept real clients:

* **Kafka** ``KAFKA_VERSION``, assembled from Maven Central jars (there is no Docker and no tarball
  download on our machines): ``mvn dependency:copy-dependencies`` driven by
  ``deploy/kafka/pom.xml`` fills ``<stack_dir>/kafka-<version>/libs`` once (a marker file is
  written only after a complete download), the storage is formatted once, and the broker runs
  detached as ``java -cp '<libs>/*' kafka.Kafka server.properties``, listening on the host and
  port of ``VANPHONG_KAFKA_BOOTSTRAP`` (controller on the next port).
* **PostgreSQL 15** from Debian (``apt-get install`` when run as root and it is missing), as our
  own cluster in ``<stack_dir>/pgdata``, run by the ``postgres`` OS user when we are root, on the
  port of ``VANPHONG_DATABASE_URL``, with the roles of CONTRACT.md §1 (password auth on TCP).

What ``up`` started is recorded in ``<stack_dir>/stack.json`` so that ``down`` stops only that.
``stop_kafka``/``start_kafka`` and ``stop_postgres``/``start_postgres`` stop and start one
component of a stack ``up`` set up, on the same data (the fault-tolerance tests use them).
Nothing sleeps blindly: every wait polls a condition against a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from vanphong.settings import Settings, get_settings

KAFKA_VERSION = "4.1.2"
PG_MAJOR = 15
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
# postgresql-contrib-15 is a virtual package provided by postgresql-15 on Debian 12; naming it
# documents that we rely on the contrib modules too.
PG_PACKAGES = ("postgresql-15", "postgresql-contrib-15")
PG_INSTALL_COMMAND = f"apt-get update && apt-get install -y {' '.join(PG_PACKAGES)}"

REPORTING_ROLE = "vanphong_reporting"
REPORTING_PASSWORD = "vanphong_reporting"

DEFAULT_TIMEOUT = 120.0  # for both services to accept clients once launched
STOP_TIMEOUT = 60.0
DOWNLOAD_TIMEOUT = 900.0  # the first jar download (Maven Central)
INSTALL_TIMEOUT = 900.0  # apt-get
LOCK_TIMEOUT = 1200.0  # another `vanphong stack` command may be downloading
POLL_INTERVAL = 0.2
MIN_FREE_BYTES = 1 << 30
EXIT_NOT_RUNNING = 3

DEPLOY_DIR = Path(__file__).resolve().parent
KAFKA_POM = DEPLOY_DIR / "kafka" / "pom.xml"
KAFKA_LOG4J = DEPLOY_DIR / "kafka" / "log4j2.properties"
KAFKA_MAIN_JAR = f"org.apache.kafka.kafka_2.13-{KAFKA_VERSION}.jar"
KAFKA_JVM_OPTS = (
    "-Xms512m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LISTEN_HOST = "127.0.0.1"

# Popen objects of brokers started by this process: kept so they are not collected (and warned
# about) while they run; `down` reaps them.
_CHILDREN: list[subprocess.Popen[bytes]] = []


# ----------------------------------------------------------------------------------------------
# errors


class StackError(RuntimeError):
    """A failure of ``up``/``down`` with what to do about it and the tail of the relevant logs."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        logs: Sequence[Path] = (),
        detail: str | None = None,
        tail_lines: int = 25,
    ) -> None:
        self.message = message
        self.hint = hint
        self.detail = (detail or "").strip()
        self.log_tails = [(p, tail(p, tail_lines)) for p in logs]
        super().__init__(self.render())

    def render(self) -> str:
        parts = [self.message]
        if self.detail:
            parts.append(_indent(self.detail))
        for path, text in self.log_tails:
            if text:
                parts.append(f"last lines of {path}:\n{_indent(text)}")
        if self.hint:
            parts.append(f"what to do: {self.hint}")
        return "\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


# ----------------------------------------------------------------------------------------------
# configuration derived from the settings


@dataclass(frozen=True)
class PgTarget:
    """Where and as whom the workers log in (from ``VANPHONG_DATABASE_URL``)."""

    host: str
    port: int
    user: str
    password: str
    database: str


def parse_database_url(url: str) -> PgTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise StackError(
            f"VANPHONG_DATABASE_URL {url!r} is not a postgresql:// URL",
            hint="use postgresql://vanphong:vanphong@127.0.0.1:5432/vanphong",
        )
    user = unquote(parts.username or "vanphong")
    password = unquote(parts.password or "")
    if not password:
        raise StackError(
            "VANPHONG_DATABASE_URL has no password; the local stack uses password auth on TCP",
            hint="use postgresql://vanphong:vanphong@127.0.0.1:5432/vanphong",
        )
    return PgTarget(
        host=parts.hostname or LISTEN_HOST,
        port=parts.port or 5432,
        user=user,
        password=password,
        database=unquote(parts.path.lstrip("/")) or user,
    )


def parse_kafka_bootstrap(bootstrap: str) -> tuple[str, int]:
    """Host and port of the first bootstrap server (``host:port[,...]``, ``kafka://`` allowed)."""
    first = bootstrap.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, sep, port = first.rpartition(":")
    if not sep:
        host, port = first, "9092"
    host = host.strip("[]") or LISTEN_HOST
    try:
        return host, int(port)
    except ValueError:
        raise StackError(
            f"VANPHONG_KAFKA_BOOTSTRAP {bootstrap!r} is not host:port",
            hint="use 127.0.0.1:9092",
        ) from None


def reporting_database_url(settings: Settings | None = None) -> str:
    """The reporting role's URL on the same server and database (CONTRACT.md §1)."""
    target = parse_database_url((settings or get_settings()).database_url)
    return (
        f"postgresql://{REPORTING_ROLE}:{REPORTING_PASSWORD}@{target.host}:{target.port}/"
        f"{target.database}"
    )


@dataclass(frozen=True)
class StackPaths:
    """Everything ``up`` writes lives under ``root`` (the stack dir), outside the repository."""

    root: Path

    @property
    def kafka_home(self) -> Path:  # cache of one Kafka version, reusable across stacks
        return self.root / f"kafka-{KAFKA_VERSION}"

    @property
    def libs(self) -> Path:
        return self.kafka_home / "libs"

    @property
    def libs_marker(self) -> Path:
        return self.libs / ".complete"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_logs(self) -> Path:
        return self.kafka_dir / "logs"

    @property
    def kafka_log(self) -> Path:
        return self.kafka_logs / "server.log"

    @property
    def kafka_out(self) -> Path:
        return self.kafka_dir / "kafka.out"

    @property
    def server_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.kafka_dir / "log4j2.properties"

    @property
    def pgdata(self) -> Path:  # the data dir, or a symlink to it (see _prepare_pg_dirs)
        return self.root / "pgdata"

    @property
    def pgrun(self) -> Path:  # socket dir and server log, or a symlink to it
        return self.root / "pgrun"

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"


@dataclass(frozen=True)
class StackConfig:
    paths: StackPaths
    kafka_host: str
    kafka_port: int
    controller_port: int
    pg: PgTarget
    database_url: str

    @property
    def bootstrap(self) -> str:
        return f"{LISTEN_HOST}:{self.kafka_port}"

    @property
    def pg_address(self) -> str:
        return f"{LISTEN_HOST}:{self.pg.port}"

    @classmethod
    def from_settings(cls, settings: Settings) -> StackConfig:
        host, port = parse_kafka_bootstrap(settings.kafka_bootstrap)
        if host not in LOCAL_HOSTS:
            raise StackError(
                f"VANPHONG_KAFKA_BOOTSTRAP points at {host}, not this machine; the local stack "
                f"only runs a broker on {LISTEN_HOST}",
                hint="unset VANPHONG_KAFKA_BOOTSTRAP (or set 127.0.0.1:9092) to use the local "
                "stack, or leave the stack alone when you use an existing cluster",
            )
        pg = parse_database_url(settings.database_url)
        if pg.host not in LOCAL_HOSTS:
            raise StackError(
                f"VANPHONG_DATABASE_URL points at {pg.host}, not this machine; the local stack "
                f"only runs PostgreSQL on {LISTEN_HOST}",
                hint="unset VANPHONG_DATABASE_URL to use the local stack",
            )
        return cls(
            paths=StackPaths(Path(settings.stack_dir).expanduser().absolute()),
            kafka_host=host,
            kafka_port=port,
            controller_port=port + 1,
            pg=pg,
            database_url=settings.database_url,
        )


# ----------------------------------------------------------------------------------------------
# processes and ports


def _alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def _reap(pid: int) -> None:
    """Collect the exit status of a child of ours (a broker this process started)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_in_use(port: int, host: str = LISTEN_HOST) -> bool:
    """True if something listens on ``host:port`` (a bind test, as the server itself would do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _accepts_tcp(port: int, host: str = LISTEN_HOST, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class PortHolder:
    """The process listening on a port (pid and name unknown when ``ss`` cannot tell)."""

    port: int
    pid: int | None
    name: str | None
    cmdline: str

    def describe(self) -> str:
        if self.pid is None:
            return (
                f"port {self.port} is held by another process "
                f"(run `ss -ltnp 'sport = :{self.port}'` as root to see which)"
            )
        what = self.cmdline or self.name or "?"
        if len(what) > 160:
            what = what[:157] + "..."
        return f"port {self.port} is held by pid {self.pid} ({self.name}): {what}"


def _ss_listener(port: int) -> tuple[int | None, str | None]:
    ss = shutil.which("ss")
    if ss is None:
        return None, None
    try:
        out = subprocess.run(
            [ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    match = re.search(r'\("([^"]*)",pid=(\d+)', out)
    if match is None:
        return None, None
    return int(match.group(2)), match.group(1)


def find_port_holder(port: int, host: str = LISTEN_HOST) -> PortHolder | None:
    """Who listens on ``host:port``, or None if the port is free."""
    if not port_in_use(port, host):
        return None
    pid, name = _ss_listener(port)
    return PortHolder(port=port, pid=pid, name=name, cmdline=_cmdline(pid) if pid else "")


def foreign_port_holder(
    port: int,
    own_pids: Collection[int] = (),
    own_marker: str | None = None,
    host: str = LISTEN_HOST,
) -> PortHolder | None:
    """The holder of ``port`` unless the port is free or held by one of our own processes.

    Ours means: its pid is in ``own_pids``, or its command line contains ``own_marker`` (our
    ``server.properties`` or data dir path).
    """
    holder = find_port_holder(port, host)
    if holder is None:
        return None
    if holder.pid is not None and holder.pid in own_pids:
        return None
    if own_marker and own_marker in holder.cmdline:
        return None
    return holder


def _port_hint(holder: PortHolder, variable: str) -> str:
    stop = f"stop pid {holder.pid}" if holder.pid else "stop that process"
    hint = f"{stop}, or point {variable} at a free port"
    if "postgres" in (holder.name or "") + holder.cmdline:
        hint += (
            f" (if it is Debian's own cluster: `pg_ctlcluster {PG_MAJOR} main stop`, and "
            f"`echo manual > /etc/postgresql/{PG_MAJOR}/main/start.conf` to keep it stopped)"
        )
    return hint


# ----------------------------------------------------------------------------------------------
# state file and lock


def _read_state(paths: StackPaths) -> dict[str, Any]:
    try:
        data = json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(paths: StackPaths, state: dict[str, Any]) -> None:
    tmp = paths.state.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, paths.state)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def _stack_lock(paths: StackPaths, progress: _Progress | None = None) -> Iterator[None]:
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


# ----------------------------------------------------------------------------------------------
# progress


class _Progress:
    """A rich spinner showing the current step; finished steps are printed with their time."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status = console.status("starting…")
        self._step: str | None = None
        self._t0 = 0.0

    def __enter__(self) -> _Progress:
        self._status.__enter__()
        return self

    def step(self, text: str) -> None:
        self._finish()
        self._step, self._t0 = text, time.monotonic()
        self._status.update(escape(text) + "…")

    def done(self) -> None:
        """Finish the current step (before printing a result under it)."""
        self._finish()

    def _finish(self, ok: bool = True) -> None:
        if self._step is not None:
            mark = "[green]✓[/]" if ok else "[red]✗[/]"
            took = time.monotonic() - self._t0
            self.console.print(f"{mark} {escape(self._step)} [dim]({took:.1f} s)[/]")
            self._step = None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._finish(ok=exc_type is None)
        self._status.__exit__(None, None, None)


# ----------------------------------------------------------------------------------------------
# probes: a real client round trip, not just a TCP connect


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    old = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(old)


def kafka_probe(bootstrap: str, timeout: float = 5.0) -> list[str]:
    """One metadata round trip with aiokafka's admin client; returns the topic names."""
    from aiokafka.admin import AIOKafkaAdminClient  # slow import: only when probing

    async def probe() -> list[str]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="vanphong-stack",
            request_timeout_ms=max(1000, int(timeout * 1000)),
        )
        try:
            await admin.start()
            return list(await admin.list_topics())
        finally:
            await admin.close()

    with _quiet("aiokafka"):
        return asyncio.run(asyncio.wait_for(probe(), timeout))


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


def _describe_exc(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ----------------------------------------------------------------------------------------------
# prerequisites


def _check_free_space(paths: StackPaths) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(paths.root).free
    if free < MIN_FREE_BYTES:
        raise StackError(
            f"disk nearly full: only {free / 2**20:.0f} MiB free where the stack lives "
            f"({paths.root}); it needs about 1 GiB (Kafka jars, logs, PostgreSQL data)",
            hint="free some space, or put the stack elsewhere with VANPHONG_STACK_DIR=/path",
        )


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    exe = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if exe is None:
        raise StackError(
            f"java is not installed; the Kafka {KAFKA_VERSION} broker needs Java 17 or newer",
            hint="apt-get install -y openjdk-17-jre-headless",
        )
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        raise StackError(f"cannot run {exe}: {exc}", hint="check the Java installation") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_392"
            major = int(match.group(2))
        if major < 17:
            raise StackError(
                f"{exe} is Java {major}; Kafka {KAFKA_VERSION} needs Java 17 or newer",
                hint="apt-get install -y openjdk-17-jre-headless (or set JAVA_HOME to a JDK 17+)",
            )
    return exe


# ----------------------------------------------------------------------------------------------
# Kafka


def _pom_digest() -> str:
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def kafka_jars_cached(paths: StackPaths) -> bool:
    try:
        marker = json.loads(paths.libs_marker.read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("pom_sha256") == _pom_digest()
        and (paths.libs / KAFKA_MAIN_JAR).exists()
    )


def _fetch_kafka_jars(paths: StackPaths, progress: _Progress) -> None:
    if kafka_jars_cached(paths):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            f"Maven (mvn) is not installed; it fetches the Kafka {KAFKA_VERSION} jars from "
            "Maven Central on first use",
            hint="apt-get install -y maven",
        )
    progress.step(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central (first run only)")
    build = paths.kafka_home / "build"
    build.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(KAFKA_POM, build / "pom.xml")
    partial = paths.kafka_home / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    log = paths.kafka_home / "mvn.log"
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(build / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        "-Dmdep.prependGroupId=true",
        f"-DoutputDirectory={partial}",
    ]
    try:
        with log.open("wb") as out:
            rc = subprocess.run(
                cmd,
                cwd=build,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=DOWNLOAD_TIMEOUT,
            ).returncode
    except subprocess.TimeoutExpired:
        raise StackError(
            f"fetching the Kafka jars took longer than {DOWNLOAD_TIMEOUT:.0f} s",
            hint="check the connection to Maven Central (repo.maven.apache.org), then run "
            "`vanphong stack up` again",
            logs=[log],
        ) from None
    if rc != 0:
        raise StackError(
            f"Maven could not fetch the Kafka {KAFKA_VERSION} jars (exit {rc})",
            hint="Maven Central (repo.maven.apache.org) must be reachable; behind a proxy, "
            "configure it in ~/.m2/settings.xml; then run `vanphong stack up` again",
            logs=[log],
        )
    if not (partial / KAFKA_MAIN_JAR).exists():
        raise StackError(
            f"Maven finished but {KAFKA_MAIN_JAR} is missing from {partial}",
            hint=f"check {KAFKA_POM}",
            logs=[log],
        )
    shutil.rmtree(paths.libs, ignore_errors=True)
    partial.rename(paths.libs)
    jars = sorted(p.name for p in paths.libs.glob("*.jar"))
    marker = {
        "kafka_version": KAFKA_VERSION,
        "pom_sha256": _pom_digest(),
        "fetched_at": _now(),
        "jars": jars,
    }
    paths.libs_marker.write_text(json.dumps(marker, indent=2) + "\n")


def kafka_server_properties(cfg: StackConfig) -> str:
    """The broker configuration: single-node KRaft, broker and controller in one process."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{LISTEN_HOST}:{cfg.controller_port}",
        "listeners": (
            f"PLAINTEXT://{LISTEN_HOST}:{cfg.kafka_port},CONTROLLER://{LISTEN_HOST}:"
            f"{cfg.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{LISTEN_HOST}:{cfg.kafka_port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(cfg.paths.kafka_data),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    lines = [
        "# written by `vanphong stack up` (deploy/stack.py) on every start: edit that, not this",
        *(f"{k}={v}" for k, v in props.items()),
    ]
    return "\n".join(lines) + "\n"


def _kafka_cmd(java: str, paths: StackPaths, main: str, *args: str) -> list[str]:
    return [
        java,
        *KAFKA_JVM_OPTS,
        f"-Dlog4j2.configurationFile={paths.log4j}",
        f"-Dkafka.logs.dir={paths.kafka_logs}",
        "-cp",
        f"{paths.libs}/*",
        main,
        *args,
    ]


def _write_kafka_config(cfg: StackConfig) -> None:
    paths = cfg.paths
    paths.kafka_logs.mkdir(parents=True, exist_ok=True)
    paths.kafka_data.mkdir(parents=True, exist_ok=True)
    paths.server_properties.write_text(kafka_server_properties(cfg))
    shutil.copyfile(KAFKA_LOG4J, paths.log4j)


def _format_kafka(java: str, paths: StackPaths, progress: _Progress) -> None:
    if (paths.kafka_data / "meta.properties").exists():
        return
    progress.step("formatting Kafka storage (first run only)")
    cluster_id = "-"
    while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid: never a leading dash
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    cmd = _kafka_cmd(
        java,
        paths,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(paths.server_properties),
    )
    # the storage tool needs no big heap
    cmd = [c for c in cmd if not c.startswith(("-Xms", "-Xmx"))]
    result = subprocess.run(
        cmd,
        cwd=paths.kafka_dir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    with paths.kafka_out.open("a") as out:
        out.write(f"--- {_now()} storage format\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise StackError(
            f"formatting the Kafka storage in {paths.kafka_data} failed",
            detail=(result.stdout + result.stderr)[-3000:],
            hint=f"remove {paths.kafka_data} and run `vanphong stack up` again",
        )


def _is_our_kafka(pid: int, paths: StackPaths) -> bool:
    cmd = _cmdline(pid)
    return _alive(pid) and "kafka.Kafka" in cmd and str(paths.server_properties) in cmd


def _our_kafka_pid(paths: StackPaths, state: dict[str, Any]) -> int | None:
    pid = (state.get("kafka") or {}).get("pid")
    if isinstance(pid, int) and _is_our_kafka(pid, paths):
        return pid
    return None


def _start_kafka(java: str, paths: StackPaths) -> int:
    cmd = _kafka_cmd(java, paths, "kafka.Kafka", str(paths.server_properties))
    with paths.kafka_out.open("ab") as out:
        out.write(f"--- {_now()} starting Kafka {KAFKA_VERSION}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=paths.kafka_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN.append(proc)
    return proc.pid


def _wait_kafka(cfg: StackConfig, pid: int, deadline: float, timeout: float) -> None:
    paths = cfg.paths
    last = "not listening yet"
    while True:
        _reap(pid)
        if not _alive(pid):
            raise StackError(
                f"Kafka (pid {pid}) exited during start-up",
                hint=f"read the logs above; if the data is damaged, remove {paths.kafka_data} "
                "and run `vanphong stack up` again",
                logs=[paths.kafka_out, paths.kafka_log],
            )
        if _accepts_tcp(cfg.kafka_port):
            try:
                kafka_probe(cfg.bootstrap, timeout=max(1.0, min(5.0, deadline - time.monotonic())))
                return
            except Exception as exc:
                last = _describe_exc(exc)
        if time.monotonic() >= deadline:
            raise StackError(
                f"Kafka (pid {pid}) did not answer a metadata request at {cfg.bootstrap} within "
                f"{timeout:.0f} s (last: {last})",
                hint="read the log; `vanphong stack down` stops it; `vanphong stack up "
                "--timeout 300` waits longer on a slow machine",
                logs=[paths.kafka_out, paths.kafka_log],
            )
        time.sleep(POLL_INTERVAL)


def _stop_pid(pid: int, timeout: float) -> bool:
    """SIGTERM, wait up to ``timeout``, then SIGKILL. True if it stopped before the SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            return True
        time.sleep(POLL_INTERVAL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 10
    while time.monotonic() < kill_deadline:
        _reap(pid)
        if not _alive(pid):
            break
        time.sleep(POLL_INTERVAL)
    return False


# ----------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass(frozen=True)
class PgRunner:
    """How PostgreSQL programs are run: as ``postgres`` through runuser when we are root."""

    prefix: tuple[str, ...]
    os_user: str  # also the cluster's superuser (initdb's default), reached by peer auth

    def cmd(self, program: str, *args: str) -> list[str]:
        return [*self.prefix, str(PG_BIN / program), *args]


def _pg_runner() -> PgRunner:
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


def _existing_pg_dirs(paths: StackPaths) -> PgDirs | None:
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


def _prepare_pg_dirs(paths: StackPaths, runner: PgRunner, console: Console) -> PgDirs:
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


def _pg_installed() -> bool:
    return (PG_BIN / "postgres").exists()


def _install_pg(paths: StackPaths, progress: _Progress, console: Console) -> None:
    if _pg_installed():
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
            out.write(f"--- {_now()} {' '.join(argv)}\n".encode())
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
    if not _pg_installed():
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


def _init_pg(dirs: PgDirs, runner: PgRunner, progress: _Progress) -> None:
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
        conf.write("\n# the local stack's settings (deploy/stack.py)\ninclude = 'vanphong.conf'\n")


def pg_server_conf(port: int, socket_dir: Path) -> str:
    lines = [
        "# written by `vanphong stack up` (deploy/stack.py) on every start: edit that, not this",
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
    return "\n".join(lines) + "\n"


def _write_pg_conf(dirs: PgDirs, port: int, runner: PgRunner) -> None:
    conf = dirs.data / "vanphong.conf"
    conf.write_text(pg_server_conf(port, dirs.run))
    if runner.prefix:
        entry = pwd.getpwnam(runner.os_user)
        os.chown(conf, entry.pw_uid, entry.pw_gid)


def _pg_pid(dirs: PgDirs | None) -> int | None:
    """The postmaster running on our data dir, if any."""
    if dirs is None:
        return None
    try:
        first = (dirs.data / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first)
    except (OSError, ValueError, IndexError):
        return None
    if _alive(pid) and str(dirs.data) in _cmdline(pid):
        return pid
    return None


def _start_pg(dirs: PgDirs, runner: PgRunner, timeout: float) -> int:
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
    pid = _pg_pid(dirs)
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
    per test. The reporting role gets nothing here; migrations grant it schema ``reporting``.
    """
    roles = (
        (target.user, target.password, "LOGIN CREATEDB"),
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
        f"SELECT format('CREATE DATABASE %I OWNER %I', {_literal(target.database)}, "
        f"{_literal(target.user)}) "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_literal(target.database)})"
        "\n\\gexec"
    )
    out.append(f"ALTER DATABASE {_ident(target.database)} OWNER TO {_ident(target.user)};")
    return "\n".join(out) + "\n"


def _ensure_roles(dirs: PgDirs, runner: PgRunner, target: PgTarget) -> None:
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


def _wait_pg(cfg: StackConfig, dirs: PgDirs, deadline: float, timeout: float) -> None:
    last = "no answer yet"
    while True:
        if _pg_pid(dirs) is None:
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
            last = _describe_exc(exc)
        if time.monotonic() >= deadline:
            raise StackError(
                f"PostgreSQL at {cfg.pg_address} did not accept a login as {cfg.pg.user!r} "
                f"within {timeout:.0f} s (last: {last})",
                hint="read the log; `vanphong stack down` then `vanphong stack up` again",
                logs=[dirs.log],
            )
        time.sleep(POLL_INTERVAL)


def _stop_pg(dirs: PgDirs, runner: PgRunner, timeout: float) -> None:
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
        if _pg_pid(dirs) is None:
            return
    raise StackError(
        f"PostgreSQL on {dirs.data} did not stop",
        logs=[dirs.log],
        hint=f"stop it with: {' '.join(runner.cmd('pg_ctl', 'stop', '-D', str(dirs.data)))}",
    )


# ----------------------------------------------------------------------------------------------
# status


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    detail: str = ""


@dataclass(frozen=True)
class StackStatus:
    kafka: ComponentStatus
    postgres: ComponentStatus

    @property
    def ok(self) -> bool:
        return self.kafka.running and self.postgres.running

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else EXIT_NOT_RUNNING


def _component_status(
    name: str, pid: int | None, port: int, address: str, log: Path | None
) -> ComponentStatus:
    if pid is not None:
        if _accepts_tcp(port):
            return ComponentStatus(name, True, pid, address, str(log) if log else "")
        return ComponentStatus(
            name,
            False,
            pid,
            address,
            f"process alive but not accepting connections (starting, or hung: see {log})",
        )
    holder = find_port_holder(port)
    detail = f"not ours: {holder.describe()}" if holder else ""
    return ComponentStatus(name, False, None, address, detail)


def stack_status(settings: Settings | None = None) -> StackStatus:
    """The state of both components, without printing anything."""
    cfg = StackConfig.from_settings(settings or get_settings())
    paths = cfg.paths
    kafka_pid = _our_kafka_pid(paths, _read_state(paths))
    dirs = _existing_pg_dirs(paths)
    return StackStatus(
        kafka=_component_status(
            f"Kafka {KAFKA_VERSION}", kafka_pid, cfg.kafka_port, cfg.bootstrap, paths.kafka_log
        ),
        postgres=_component_status(
            f"PostgreSQL {PG_MAJOR}",
            _pg_pid(dirs),
            cfg.pg.port,
            cfg.pg_address,
            dirs.log if dirs else None,
        ),
    )


def _running_line(st: StackStatus) -> str:
    return (
        f"{st.kafka.name} (pid {st.kafka.pid}) at {st.kafka.address}, "
        f"{st.postgres.name} (pid {st.postgres.pid}) at {st.postgres.address}"
    )


def _kafka_state(cfg: StackConfig, pid: int) -> dict[str, Any]:
    """What ``stack.json`` records about a broker we started."""
    return {
        "pid": pid,
        "version": KAFKA_VERSION,
        "bootstrap": cfg.bootstrap,
        "controller": f"{LISTEN_HOST}:{cfg.controller_port}",
        "log": str(cfg.paths.kafka_log),
        "started_at": _now(),
    }


def _pg_state(cfg: StackConfig, dirs: PgDirs, runner: PgRunner, pid: int) -> dict[str, Any]:
    """What ``stack.json`` records about the PostgreSQL cluster we started."""
    return {
        "pid": pid,
        "data_dir": str(dirs.data),
        "socket_dir": str(dirs.run),
        "address": cfg.pg_address,
        "os_user": runner.os_user,
        "log": str(dirs.log),
        "started_at": _now(),
    }


# ----------------------------------------------------------------------------------------------
# the commands


def up(
    timeout: float = DEFAULT_TIMEOUT,
    *,
    settings: Settings | None = None,
    console: Console | None = None,
) -> int:
    """Start whatever of the stack is not running; return 0 once both accept real clients.

    ``timeout`` bounds the wait for the services once launched (the first jar download and the
    apt-get install have their own limits). Raises :class:`StackError` on failure.
    """
    settings = settings or get_settings()
    console = console or Console(stderr=True)
    cfg = StackConfig.from_settings(settings)
    paths = cfg.paths
    started = time.monotonic()
    with _Progress(console) as progress, _stack_lock(paths, progress):
        state = _read_state(paths)
        kafka_pid = _our_kafka_pid(paths, state)
        dirs = _existing_pg_dirs(paths)
        pg_pid = _pg_pid(dirs)

        if kafka_pid is not None and pg_pid is not None and dirs is not None:
            progress.step("checking the running stack")
            deadline = time.monotonic() + timeout
            _ensure_roles(dirs, _pg_runner(), cfg.pg)
            _wait_kafka(cfg, kafka_pid, deadline, timeout)
            _wait_pg(cfg, dirs, deadline, timeout)
            progress.done()
            console.print(f"already running: {escape(_running_line(stack_status(settings)))}")
            return 0

        progress.step("checking prerequisites and ports")
        _check_free_space(paths)
        runner = _pg_runner()
        java = _java() if kafka_pid is None else ""
        conflicts: list[str] = []
        if kafka_pid is None:
            for port in (cfg.kafka_port, cfg.controller_port):
                holder = foreign_port_holder(port, own_marker=str(paths.server_properties))
                if holder is not None:
                    conflicts.append(
                        f"Kafka: {holder.describe()}\n  what to do: "
                        + _port_hint(holder, "VANPHONG_KAFKA_BOOTSTRAP")
                    )
        if pg_pid is None:
            marker = str(dirs.data) if dirs else str(paths.pgdata)
            holder = foreign_port_holder(cfg.pg.port, own_marker=marker)
            if holder is not None:
                conflicts.append(
                    f"PostgreSQL: {holder.describe()}\n  what to do: "
                    + _port_hint(holder, "VANPHONG_DATABASE_URL")
                )
        if conflicts:
            raise StackError(
                "a port the stack needs is held by another process:\n" + "\n".join(conflicts)
            )

        try:
            if kafka_pid is None:
                _fetch_kafka_jars(paths, progress)
                _write_kafka_config(cfg)
                _format_kafka(java, paths, progress)
                progress.step(f"starting Kafka {KAFKA_VERSION}")
                kafka_pid = _start_kafka(java, paths)
                progress.done()
                state["kafka"] = _kafka_state(cfg, kafka_pid)
                _write_state(paths, state)
            deadline = time.monotonic() + timeout  # Kafka's JVM starts while PostgreSQL does

            if pg_pid is None:
                _install_pg(paths, progress, console)
                dirs = _prepare_pg_dirs(paths, runner, console)
                _init_pg(dirs, runner, progress)
                _write_pg_conf(dirs, cfg.pg.port, runner)
                progress.step(f"starting PostgreSQL {PG_MAJOR}")
                pg_pid = _start_pg(dirs, runner, max(5.0, deadline - time.monotonic()))
                state["postgres"] = _pg_state(cfg, dirs, runner, pg_pid)
                _write_state(paths, state)
            assert dirs is not None
            progress.step(f"creating roles {cfg.pg.user!r}, {REPORTING_ROLE!r} and database")
            _ensure_roles(dirs, runner, cfg.pg)
            progress.step("waiting for PostgreSQL to accept a login")
            _wait_pg(cfg, dirs, deadline, timeout)
            progress.step("waiting for Kafka to answer a metadata request")
            _wait_kafka(cfg, kafka_pid, deadline, timeout)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StackError(
                    f"disk full: {exc}",
                    hint="free some space, or set VANPHONG_STACK_DIR to a disk with room",
                ) from exc
            raise
    took = time.monotonic() - started
    console.print(
        f"[green]stack up[/] in {took:.1f} s: {escape(_running_line(stack_status(settings)))}"
    )
    return 0


def down(
    timeout: float = STOP_TIMEOUT,
    *,
    settings: Settings | None = None,
    console: Console | None = None,
) -> int:
    """Stop what ``up`` started (Kafka by its recorded pid; our own PostgreSQL cluster)."""
    settings = settings or get_settings()
    console = console or Console(stderr=True)
    cfg = StackConfig.from_settings(settings)
    paths = cfg.paths
    if not paths.root.exists():
        console.print("nothing to stop: the stack was never started here")
        return 0
    stopped: list[str] = []
    with _Progress(console) as progress, _stack_lock(paths, progress):
        state = _read_state(paths)
        kafka_pid = _our_kafka_pid(paths, state)
        if kafka_pid is not None:
            progress.step(f"stopping Kafka (pid {kafka_pid})")
            clean = _stop_pid(kafka_pid, timeout)
            stopped.append(f"Kafka (pid {kafka_pid}{'' if clean else ', killed'})")
        state.pop("kafka", None)
        dirs = _existing_pg_dirs(paths)
        pg_pid = _pg_pid(dirs)
        if pg_pid is not None and dirs is not None:
            progress.step(f"stopping PostgreSQL (pid {pg_pid})")
            _stop_pg(dirs, _pg_runner(), timeout)
            stopped.append(f"PostgreSQL (pid {pg_pid})")
        state.pop("postgres", None)
        _write_state(paths, state)
    console.print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def status(*, settings: Settings | None = None, console: Console | None = None) -> int:
    """Print each component's state; return 0 if both run, 3 otherwise."""
    console = console or Console()
    st = stack_status(settings)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("component", "state", "pid", "address"):
        table.add_column(column, no_wrap=True)
    for comp in (st.kafka, st.postgres):
        table.add_row(
            comp.name,
            Text("running", style="green") if comp.running else Text("stopped", style="red"),
            str(comp.pid) if comp.pid else "-",
            comp.address,
        )
    console.print(table)
    for comp in (st.kafka, st.postgres):
        if comp.detail:
            label = "log" if comp.running else "note"
            console.print(Text(f"{comp.name} {label}: {comp.detail}"), soft_wrap=True)
    return st.exit_code


# ----------------------------------------------------------------------------------------------
# one component at a time (the fault-tolerance tests stop and start them under running workers)


def _not_set_up(component: str, paths: StackPaths) -> StackError:
    return StackError(
        f"{component} was never set up in {paths.root}",
        hint="run `vanphong stack up` first: these functions only stop and start what it set up",
    )


def stop_kafka(timeout: float = STOP_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Stop only the broker ``up`` started (SIGTERM: a controlled shutdown, SIGKILL after
    ``timeout``); return its pid. Its data stays; :func:`start_kafka` starts it again."""
    paths = StackConfig.from_settings(settings or get_settings()).paths
    with _stack_lock(paths):
        state = _read_state(paths)
        pid = _our_kafka_pid(paths, state)
        if pid is None:
            raise StackError(f"the stack's Kafka is not running (stack dir {paths.root})")
        _stop_pid(pid, timeout)
        state.pop("kafka", None)
        _write_state(paths, state)
    return pid


def start_kafka(timeout: float = DEFAULT_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Start the broker of a stack ``up`` set up before, on the same data, unless it runs;
    return its pid once it answers a metadata request."""
    cfg = StackConfig.from_settings(settings or get_settings())
    paths = cfg.paths
    with _stack_lock(paths):
        state = _read_state(paths)
        pid = _our_kafka_pid(paths, state)
        if pid is None:
            if not (kafka_jars_cached(paths) and (paths.kafka_data / "meta.properties").exists()):
                raise _not_set_up("Kafka", paths)
            for port in (cfg.kafka_port, cfg.controller_port):
                holder = foreign_port_holder(port, own_marker=str(paths.server_properties))
                if holder is not None:
                    raise StackError(
                        f"Kafka: {holder.describe()}",
                        hint=_port_hint(holder, "VANPHONG_KAFKA_BOOTSTRAP"),
                    )
            java = _java()
            _write_kafka_config(cfg)
            pid = _start_kafka(java, paths)
            state["kafka"] = _kafka_state(cfg, pid)
            _write_state(paths, state)
        _wait_kafka(cfg, pid, time.monotonic() + timeout, timeout)
    return pid


def stop_postgres(timeout: float = STOP_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Stop only the stack's PostgreSQL cluster (``pg_ctl stop -m fast``: clients are cut off,
    then ``immediate`` after ``timeout``); return the postmaster's pid."""
    paths = StackConfig.from_settings(settings or get_settings()).paths
    with _stack_lock(paths):
        dirs = _existing_pg_dirs(paths)
        pid = _pg_pid(dirs)
        if pid is None or dirs is None:
            raise StackError(f"the stack's PostgreSQL is not running (stack dir {paths.root})")
        _stop_pg(dirs, _pg_runner(), timeout)
        state = _read_state(paths)
        state.pop("postgres", None)
        _write_state(paths, state)
    return pid


def start_postgres(timeout: float = DEFAULT_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Start the stack's PostgreSQL cluster again unless it runs; return the postmaster's pid
    once the workers' role can log in."""
    cfg = StackConfig.from_settings(settings or get_settings())
    paths = cfg.paths
    with _stack_lock(paths):
        dirs = _existing_pg_dirs(paths)
        if dirs is None or not (dirs.data / "PG_VERSION").exists():
            raise _not_set_up("PostgreSQL", paths)
        deadline = time.monotonic() + timeout
        pid = _pg_pid(dirs)
        if pid is None:
            holder = foreign_port_holder(cfg.pg.port, own_marker=str(dirs.data))
            if holder is not None:
                raise StackError(
                    f"PostgreSQL: {holder.describe()}",
                    hint=_port_hint(holder, "VANPHONG_DATABASE_URL"),
                )
            runner = _pg_runner()
            _write_pg_conf(dirs, cfg.pg.port, runner)
            pid = _start_pg(dirs, runner, timeout)
            state = _read_state(paths)
            state["postgres"] = _pg_state(cfg, dirs, runner, pid)
            _write_state(paths, state)
        _wait_pg(cfg, dirs, deadline, timeout)
    return pid


# ----------------------------------------------------------------------------------------------
# CLI (mounted by the lead as `vanphong stack ...`)

stack_app = typer.Typer(
    name="stack",
    help="The local stack: a single-node Kafka and a PostgreSQL on this machine.",
    no_args_is_help=True,
    add_completion=False,
)


def _cli(action: Callable[[], int]) -> None:
    try:
        code = action()
    except StackError as exc:
        Console(stderr=True).print(Text("error: ", style="bold red") + Text(exc.render()))
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@stack_app.command("up")
def _up_command(
    timeout: Annotated[
        float,
        typer.Option(help="seconds to wait for both services to accept clients once launched"),
    ] = DEFAULT_TIMEOUT,
) -> None:
    """Start Kafka and PostgreSQL (installed on first use); return once both accept clients."""
    _cli(lambda: up(timeout=timeout))


@stack_app.command("down")
def _down_command(
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for a clean stop before killing")
    ] = STOP_TIMEOUT,
) -> None:
    """Stop what `vanphong stack up` started. Data and downloaded jars are kept."""
    _cli(lambda: down(timeout=timeout))


@stack_app.command("status")
def _status_command() -> None:
    """Per component: running or stopped, pid, address. Exit 0 if both run, 3 if not."""
    _cli(status)
