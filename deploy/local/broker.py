"""The plain single-node broker as a component: the jars from Maven Central, ``server.properties``,
storage format, start, wait, probe."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vanphong.deploy.local.component import Component
from vanphong.deploy.local.config import KAFKA_VERSION, LISTEN_HOST, StackConfig, StackPaths
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.launch import gone, launch_detached, wait_until_ready
from vanphong.deploy.local.maven import fetch_dependencies, read_marker, write_marker
from vanphong.deploy.local.processes import accepts_tcp, alive, cmdline
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import now

if TYPE_CHECKING:
    from aiokafka.admin import AIOKafkaAdminClient

T = TypeVar("T")

DEPLOY_DIR = Path(__file__).resolve().parent
KAFKA_POM = DEPLOY_DIR / "kafka" / "pom.xml"
KAFKA_LOG4J = DEPLOY_DIR / "kafka" / "log4j2.properties"
KAFKA_MAIN_JAR = f"org.apache.kafka.kafka_2.13-{KAFKA_VERSION}.jar"
#: Kafka's JVM flags but the heap (the secure cluster's nodes use them too, with a smaller start)
KAFKA_GC_OPTS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
KAFKA_JVM_OPTS = ("-Xms512m", "-Xmx512m", *KAFKA_GC_OPTS)


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    old = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(old)


def admin_round_trip(
    bootstrap: str,
    ask: Callable[[AIOKafkaAdminClient], Awaitable[T]],
    timeout: float = 5.0,
    **kwargs: Any,
) -> T:
    """One request with aiokafka's admin client (``kwargs``: its security settings), its
    answer, within ``timeout``; aiokafka's own logging is silenced meanwhile."""
    from aiokafka.admin import AIOKafkaAdminClient  # slow import: only when probing

    async def probe() -> T:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="vanphong-stack",
            request_timeout_ms=max(1000, int(timeout * 1000)),
            **kwargs,
        )
        try:
            await admin.start()
            return await ask(admin)
        finally:
            await admin.close()

    with _quiet("aiokafka"):
        return asyncio.run(asyncio.wait_for(probe(), timeout))


def kafka_probe(bootstrap: str, timeout: float = 5.0) -> list[str]:
    """One metadata round trip with aiokafka's admin client; returns the topic names."""

    async def topics(admin: AIOKafkaAdminClient) -> list[str]:
        return list(await admin.list_topics())

    return admin_round_trip(bootstrap, topics, timeout)


def find_java() -> str:
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


def _pom_digest() -> str:
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def kafka_jars_cached(paths: StackPaths) -> bool:
    marker = read_marker(paths.libs)
    return (
        marker is not None
        and marker.get("pom_sha256") == _pom_digest()
        and (paths.libs / KAFKA_MAIN_JAR).exists()
    )


def fetch_kafka_jars(paths: StackPaths, progress: Progress) -> None:
    if kafka_jars_cached(paths):
        return
    what = f"the Kafka {KAFKA_VERSION} jars"
    fetch_dependencies(KAFKA_POM, paths.kafka_home, paths.libs, what, KAFKA_MAIN_JAR, progress)
    jars = sorted(p.name for p in paths.libs.glob("*.jar"))
    write_marker(paths.libs, kafka_version=KAFKA_VERSION, pom_sha256=_pom_digest(), jars=jars)


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
        "# written by `vanphong stack up` (deploy/local/broker.py) on every start: "
        "edit that, not this",
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


def write_kafka_config(cfg: StackConfig) -> None:
    paths = cfg.paths
    paths.kafka_logs.mkdir(parents=True, exist_ok=True)
    paths.kafka_data.mkdir(parents=True, exist_ok=True)
    paths.server_properties.write_text(kafka_server_properties(cfg))
    shutil.copyfile(KAFKA_LOG4J, paths.log4j)


def format_kafka(java: str, paths: StackPaths, progress: Progress) -> None:
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
        out.write(f"--- {now()} storage format\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise StackError(
            f"formatting the Kafka storage in {paths.kafka_data} failed",
            detail=(result.stdout + result.stderr)[-3000:],
            hint=f"remove {paths.kafka_data} and run `vanphong stack up` again",
        )


def _is_our_kafka(pid: int, paths: StackPaths) -> bool:
    cmd = cmdline(pid)
    return alive(pid) and "kafka.Kafka" in cmd and str(paths.server_properties) in cmd


def our_kafka_pid(paths: StackPaths, state: dict[str, Any]) -> int | None:
    pid = (state.get("kafka") or {}).get("pid")
    if isinstance(pid, int) and _is_our_kafka(pid, paths):
        return pid
    return None


def launch_kafka(java: str, paths: StackPaths) -> int:
    return launch_detached(
        _kafka_cmd(java, paths, "kafka.Kafka", str(paths.server_properties)),
        cwd=paths.kafka_dir,
        log=paths.kafka_out,
        banner=f"starting Kafka {KAFKA_VERSION}",
    )


def wait_kafka(cfg: StackConfig, pid: int, deadline: float, timeout: float) -> None:
    paths = cfg.paths
    logs = [paths.kafka_out, paths.kafka_log]

    def probe(seconds: float) -> bool:
        if not accepts_tcp(cfg.kafka_port):
            return False
        kafka_probe(cfg.bootstrap, timeout=seconds)
        return True

    def exited() -> StackError | None:
        if not gone(pid):
            return None
        return StackError(
            f"Kafka (pid {pid}) exited during start-up",
            hint=f"read the logs above; if the data is damaged, remove {paths.kafka_data} "
            "and run `vanphong stack up` again",
            logs=logs,
        )

    def timed_out(last: str) -> StackError:
        return StackError(
            f"Kafka (pid {pid}) did not answer a metadata request at {cfg.bootstrap} within "
            f"{timeout:.0f} s (last: {last})",
            hint="read the log; `vanphong stack down` stops it; `vanphong stack up "
            "--timeout 300` waits longer on a slow machine",
            logs=logs,
        )

    wait_until_ready(probe, deadline=deadline, timeout=timeout, exited=exited, timed_out=timed_out)


def kafka_state(cfg: StackConfig, pid: int) -> dict[str, Any]:
    """What ``stack.json`` records about a broker we started."""
    return {
        "pid": pid,
        "version": KAFKA_VERSION,
        "bootstrap": cfg.bootstrap,
        "controller": f"{LISTEN_HOST}:{cfg.controller_port}",
        "log": str(cfg.paths.kafka_log),
        "started_at": now(),
    }


class KafkaBroker(Component):
    """The plain single-node broker (KRaft, broker and controller in one JVM)."""

    key = "kafka"
    label = "Kafka"
    title = f"Kafka {KAFKA_VERSION}"
    port_variable = "VANPHONG_KAFKA_BOOTSTRAP"

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.paths = cfg.paths
        self.java = ""

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.cfg.kafka_port, self.cfg.controller_port)

    @property
    def own_marker(self) -> str:
        return str(self.paths.server_properties)

    @property
    def address(self) -> str:
        return self.cfg.bootstrap

    @property
    def log(self) -> Path:
        return self.paths.kafka_log

    @property
    def waiting(self) -> str:
        return "waiting for Kafka to answer a metadata request"

    def pid(self, state: dict[str, Any]) -> int | None:
        return our_kafka_pid(self.paths, state)

    def check(self) -> None:
        self.java = find_java()

    def set_up(self) -> bool:
        formatted = (self.paths.kafka_data / "meta.properties").exists()
        return kafka_jars_cached(self.paths) and formatted

    def fetch(self, progress: Progress) -> None:
        fetch_kafka_jars(self.paths, progress)

    def configure(self, progress: Progress) -> None:
        write_kafka_config(self.cfg)
        format_kafka(self.java, self.paths, progress)

    def start(self, timeout: float) -> int:
        return launch_kafka(self.java, self.paths)

    def ready(self, pid: int, deadline: float, timeout: float) -> None:
        wait_kafka(self.cfg, pid, deadline, timeout)

    def record(self, pid: int) -> dict[str, Any]:
        return kafka_state(self.cfg, pid)
