"""Apicurio Registry as a component: a Schema Registry with the Confluent API
(``/apis/ccompat/v7``) in the stack.

Upstream producers that write the Confluent wire format (``00`` + a schema id) need a registry to
name their writer schema (CONTRACT.md §3, v1.1); the tests publish through real Confluent
clients, so the local stack runs one. It is a Quarkus fast-jar from Maven Central
(``io.apicurio:apicurio-registry-app:<version>:tar.gz:all``), fetched once by ``mvn
dependency:copy`` into ``<stack_dir>/apicurio-registry-<version>/`` (a marker file written only
after a complete unpack) and run detached as ``java -Xmx256m -jar quarkus-run.jar`` with its
default in-memory storage (a restart forgets every schema: ``vanphong init`` registers them
again), its HTTP port and its management port moved to ``VANPHONG_STACK_REGISTRY_PORT`` and
``VANPHONG_STACK_REGISTRY_MANAGEMENT_PORT`` on the loopback interface.

It needs Java 21 or newer, which is not the machine's default Java 17: :func:`find_registry_java`
looks at ``JAVA_HOME``, the JDKs under ``/usr/lib/jvm`` (a Temurin 25 JDK on our machines) and
``java`` on the path, and names what it looked at when none will do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vanphong.deploy.local.component import JavaApp
from vanphong.deploy.local.config import LISTEN_HOST, StackPaths
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.launch import gone, launch_detached, wait_until_ready
from vanphong.deploy.local.maven import fetch_archive, maven_cached
from vanphong.deploy.local.processes import alive, cmdline
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import now
from vanphong.ground.settings import Settings

REGISTRY_VERSION = "3.3.3"
REGISTRY_ARTIFACT = f"io.apicurio:apicurio-registry-app:{REGISTRY_VERSION}:tar.gz:all"
REGISTRY_NAME = f"Apicurio Registry {REGISTRY_VERSION}"
REGISTRY_JAVA_MAJOR = 21
# The JDK our machines have beside the default Java 17 (named in the error when none is found).
KNOWN_JDK = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
JVM_DIR = Path("/usr/lib/jvm")
REGISTRY_JVM_OPTS = ("-Xmx256m", "-Djava.awt.headless=true")
CCOMPAT = "/apis/ccompat/v7"


@dataclass(frozen=True)
class RegistryConfig:
    """Where the stack's registry lives and listens (from the settings)."""

    paths: StackPaths
    port: int
    management_port: int
    enabled: bool

    @classmethod
    def from_settings(cls, settings: Settings, paths: StackPaths) -> RegistryConfig:
        return cls(
            paths,
            settings.stack_registry_port,
            settings.stack_registry_management_port,
            settings.stack_registry,
        )

    @property
    def url(self) -> str:
        """What ``VANPHONG_SCHEMA_REGISTRY_URL`` is for this registry (the Confluent API)."""
        return f"http://{LISTEN_HOST}:{self.port}{CCOMPAT}"

    @property
    def address(self) -> str:
        return f"{LISTEN_HOST}:{self.port}"

    @property
    def home(self) -> Path:  # the unpacked application, reusable across starts
        return self.paths.root / f"apicurio-registry-{REGISTRY_VERSION}"

    @property
    def marker(self) -> Path:
        return self.home / ".complete"

    @property
    def run_dir(self) -> Path:
        return self.paths.root / "registry"

    @property
    def log(self) -> Path:
        return self.run_dir / "registry.out"

    @property
    def own_marker(self) -> str:
        """On our registry's command line, so its pid is known to be ours."""
        return f"-Dvanphong.stack={self.paths.root}"


def java_major(exe: str) -> int | None:
    """The major version ``exe -version`` reports, or None if it does not run."""
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _java_candidates() -> list[str]:
    found: list[str] = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        found.append(str(Path(java_home) / "bin" / "java"))
    found.append(str(KNOWN_JDK / "bin" / "java"))
    if JVM_DIR.is_dir():
        # newest first by the number in the directory name (temurin-25-jdk, java-21-openjdk)
        def number(p: Path) -> int:
            m = re.search(r"(\d+)", p.name)
            return int(m.group(1)) if m else 0

        found += [str(d / "bin" / "java") for d in sorted(JVM_DIR.iterdir(), key=number)[::-1]]
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    return list(dict.fromkeys(found))


def find_registry_java(who: str = REGISTRY_NAME, off: str = "VANPHONG_STACK_REGISTRY=false") -> str:
    """A ``java`` of version 21 or newer (Apicurio Registry 3 and Keycloak 26 need it), else a
    StackError that names where it looked and the JDK our machines have."""
    seen: list[str] = []
    for exe in _java_candidates():
        if not Path(exe).exists():
            continue
        major = java_major(exe)
        if major is not None and major >= REGISTRY_JAVA_MAJOR:
            return exe
        seen.append(f"{exe} (Java {major if major is not None else '?'})")
    looked = "; ".join(seen) if seen else "no java at all"
    raise StackError(
        f"{who} needs Java {REGISTRY_JAVA_MAJOR} or newer, and none was found "
        f"(looked at $JAVA_HOME, {JVM_DIR}/*, java on the PATH: {looked}); our machines have a "
        f"Temurin 25 JDK at {KNOWN_JDK}",
        hint=f"install a JDK {REGISTRY_JAVA_MAJOR}+ (e.g. apt-get install -y temurin-25-jdk, or "
        f"openjdk-21-jre-headless) so that {KNOWN_JDK}/bin/java or $JAVA_HOME/bin/java exists; "
        f"or run the stack without it: {off}",
    )


def registry_cached(cfg: RegistryConfig) -> bool:
    return maven_cached(cfg.home, REGISTRY_ARTIFACT, "quarkus-run.jar")


def fetch_registry(cfg: RegistryConfig, progress: Progress) -> None:
    """Download the tar.gz from Maven Central and unpack it, once."""
    fetch_archive(
        REGISTRY_ARTIFACT,
        cfg.home,
        REGISTRY_NAME,
        "quarkus-run.jar",
        progress,
        "VANPHONG_STACK_REGISTRY=false",
    )


def registry_command(java: str, cfg: RegistryConfig) -> list[str]:
    return [
        java,
        *REGISTRY_JVM_OPTS,
        cfg.own_marker,
        f"-Dquarkus.http.host={LISTEN_HOST}",
        f"-Dquarkus.http.port={cfg.port}",
        f"-Dquarkus.management.host={LISTEN_HOST}",
        f"-Dquarkus.management.port={cfg.management_port}",
        "-jar",
        str(cfg.home / "quarkus-run.jar"),
    ]


def launch_registry(java: str, cfg: RegistryConfig) -> int:
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    return launch_detached(
        registry_command(java, cfg),
        cwd=cfg.run_dir,
        log=cfg.log,
        banner=f"starting {REGISTRY_NAME}",
    )


def our_registry_pid(cfg: RegistryConfig, state: dict[str, Any]) -> int | None:
    pid = (state.get("registry") or {}).get("pid")
    if isinstance(pid, int) and alive(pid):
        cmd = cmdline(pid)
        if "quarkus-run.jar" in cmd and cfg.own_marker in cmd:
            return pid
    return None


def registry_probe(cfg: RegistryConfig, timeout: float = 2.0) -> None:
    """One request to the Confluent API (the list of subjects); raises if it does not answer."""
    with urllib.request.urlopen(f"{cfg.url}/subjects", timeout=timeout) as response:
        json.loads(response.read())


def wait_registry(cfg: RegistryConfig, pid: int, deadline: float, timeout: float) -> None:
    def probe(seconds: float) -> bool:
        registry_probe(cfg, timeout=seconds)
        return True

    def exited() -> StackError | None:
        if not gone(pid):
            return None
        return StackError(
            f"{REGISTRY_NAME} (pid {pid}) exited during start-up",
            hint="read the log above",
            logs=[cfg.log],
        )

    def timed_out(last: str) -> StackError:
        return StackError(
            f"{REGISTRY_NAME} (pid {pid}) did not answer {cfg.url}/subjects within "
            f"{timeout:.0f} s (last: {last})",
            hint="read the log; `vanphong stack up --timeout 300` waits longer",
            logs=[cfg.log],
        )

    wait_until_ready(
        probe,
        deadline=deadline,
        timeout=timeout,
        exited=exited,
        timed_out=timed_out,
        probe_timeout=(0.5, 2.0),
        transient=(OSError, ValueError, urllib.error.URLError),
    )


def registry_state(cfg: RegistryConfig, pid: int) -> dict[str, Any]:
    """What ``stack.json`` records about the registry we started."""
    return {
        "pid": pid,
        "version": REGISTRY_VERSION,
        "url": cfg.url,
        "management": f"{LISTEN_HOST}:{cfg.management_port}",
        "log": str(cfg.log),
        "started_at": now(),
    }


class Apicurio(JavaApp[RegistryConfig]):
    """The stack's Schema Registry (Confluent API), in memory: a start begins empty."""

    key = "registry"
    label = REGISTRY_NAME
    title = REGISTRY_NAME
    port_variable = "VANPHONG_STACK_REGISTRY_PORT (or _MANAGEMENT_PORT)"
    port_extra = ", or VANPHONG_STACK_REGISTRY=false"

    @property
    def address(self) -> str:
        return self.cfg.url

    @property
    def waiting(self) -> str:
        return f"waiting for {REGISTRY_NAME} to answer at {self.cfg.url}"

    def pid(self, state: dict[str, Any]) -> int | None:
        return our_registry_pid(self.cfg, state)

    def check(self) -> None:
        self.java = find_registry_java()

    def fetch(self, progress: Progress) -> None:
        fetch_registry(self.cfg, progress)

    def start(self, timeout: float) -> int:
        return launch_registry(self.java, self.cfg)

    def ready(self, pid: int, deadline: float, timeout: float) -> None:
        wait_registry(self.cfg, pid, deadline, timeout)

    def record(self, pid: int) -> dict[str, Any]:
        return registry_state(self.cfg, pid)
