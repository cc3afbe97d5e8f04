"""Apicurio Registry: a Schema Registry with the Confluent API (``/apis/ccompat/v7``) in the stack.

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
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vanphong.deploy.local.config import LISTEN_HOST, StackPaths
from vanphong.deploy.local.errors import StackError, describe_exc
from vanphong.deploy.local.processes import (
    POLL_INTERVAL,
    alive,
    cmdline,
    foreign_port_holder,
    port_hint,
    reap,
)
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
DOWNLOAD_TIMEOUT = 900.0
CCOMPAT = "/apis/ccompat/v7"

_CHILDREN: list[subprocess.Popen[bytes]] = []


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


def maven_cached(home: Path, artifact: str, must_contain: str) -> bool:
    """True if ``home`` holds a complete unpack of ``artifact`` (its marker says so)."""
    try:
        marker = json.loads((home / ".complete").read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("artifact") == artifact
        and (home / must_contain).exists()
    )


def registry_cached(cfg: RegistryConfig) -> bool:
    return maven_cached(cfg.home, REGISTRY_ARTIFACT, "quarkus-run.jar")


def fetch_from_maven(
    artifact: str, home: Path, name: str, must_contain: str, progress: Progress, off: str
) -> None:
    """Download ``artifact`` (a tar.gz or a zip) from Maven Central with ``mvn dependency:copy``
    and unpack it into ``home``, once: a marker is written only after a complete unpack. An
    archive with one top directory (a zip distribution) is unpacked without it. ``off`` says
    how to run the stack without this component, for the errors."""
    if maven_cached(home, artifact, must_contain):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            f"Maven (mvn) is not installed; it fetches {name} from Maven Central",
            hint=f"apt-get install -y maven (or {off})",
        )
    progress.step(f"fetching {name} from Maven Central (first run only)")
    download = home.with_name(home.name + ".download")
    partial = home.with_name(home.name + ".partial")
    shutil.rmtree(download, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)
    download.mkdir(parents=True)
    log = home.with_name(home.name + "-mvn.log")
    cmd = [
        mvn,
        "-q",
        "-B",
        "dependency:copy",
        f"-Dartifact={artifact}",
        f"-DoutputDirectory={download}",
    ]
    try:
        with log.open("wb") as out:
            rc = subprocess.run(
                cmd,
                cwd=download,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=DOWNLOAD_TIMEOUT,
            ).returncode
    except subprocess.TimeoutExpired:
        raise StackError(
            f"fetching {name} took longer than {DOWNLOAD_TIMEOUT:.0f} s",
            hint="check the connection to Maven Central, then run `vanphong stack up` again",
            logs=[log],
        ) from None
    archives = [*download.glob("*.tar.gz"), *download.glob("*.zip")]
    if rc != 0 or len(archives) != 1:
        raise StackError(
            f"Maven could not fetch {artifact} (exit {rc})",
            hint="Maven Central must be reachable (behind a proxy: ~/.m2/settings.xml); then "
            "run `vanphong stack up` again",
            logs=[log],
        )
    progress.step(f"unpacking {name}")
    _unpack(archives[0], partial)
    tops = list(partial.iterdir())
    root = tops[0] if len(tops) == 1 and tops[0].is_dir() else partial
    if not (root / must_contain).exists():
        raise StackError(f"{archives[0]} holds no {must_contain}", logs=[log])
    shutil.rmtree(home, ignore_errors=True)
    root.rename(home)
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(download, ignore_errors=True)
    (home / ".complete").write_text(
        json.dumps({"artifact": artifact, "fetched_at": now()}, indent=2) + "\n"
    )


def _unpack(archive: Path, into: Path) -> None:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                target = Path(z.extract(info, into))
                mode = info.external_attr >> 16  # the Unix mode bits a zip keeps, if any
                if mode and not info.is_dir():
                    target.chmod(mode & 0o755 | 0o600)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")


def fetch_registry(cfg: RegistryConfig, progress: Progress) -> None:
    """Download the tar.gz from Maven Central and unpack it, once."""
    fetch_from_maven(
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
    with cfg.log.open("ab") as out:
        out.write(f"--- {now()} starting {REGISTRY_NAME}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            registry_command(java, cfg),
            cwd=cfg.run_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN.append(proc)
    return proc.pid


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
    last = "not listening yet"
    while True:
        reap(pid)
        if not alive(pid):
            raise StackError(
                f"{REGISTRY_NAME} (pid {pid}) exited during start-up",
                hint="read the log above",
                logs=[cfg.log],
            )
        try:
            registry_probe(cfg, timeout=max(0.5, min(2.0, deadline - time.monotonic())))
            return
        except (OSError, ValueError, urllib.error.URLError) as exc:
            last = describe_exc(exc)
        if time.monotonic() >= deadline:
            raise StackError(
                f"{REGISTRY_NAME} (pid {pid}) did not answer {cfg.url}/subjects within "
                f"{timeout:.0f} s (last: {last})",
                hint="read the log; `vanphong stack up --timeout 300` waits longer",
                logs=[cfg.log],
            )
        time.sleep(POLL_INTERVAL)


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


def registry_port_conflicts(cfg: RegistryConfig) -> list[str]:
    """What holds a port the registry about to start needs, with what to do about it."""
    conflicts = []
    for port in (cfg.port, cfg.management_port):
        holder = foreign_port_holder(port, own_marker=cfg.own_marker)
        if holder is not None:
            conflicts.append(
                f"{REGISTRY_NAME}: {holder.describe()}\n  what to do: "
                + port_hint(holder, "VANPHONG_STACK_REGISTRY_PORT (or _MANAGEMENT_PORT)")
                + ", or VANPHONG_STACK_REGISTRY=false"
            )
    return conflicts
