"""Keycloak as a component: the local stack's OpenID Connect provider, for the reporting page's
login.

``vanphong stack up --keycloak`` starts it beside the rest (``make test`` does; ``make run``
stays lean). It is the Quarkus distribution from Maven Central
(``org.keycloak:keycloak-quarkus-dist:<version>:zip``), fetched and unpacked once by the
shared Maven fetch (``maven``) into ``<stack_dir>/keycloak-<version>/``, run detached as
``kc.sh start-dev`` on the loopback interface (``VANPHONG_STACK_KEYCLOAK_PORT``, management
``VANPHONG_STACK_KEYCLOAK_MANAGEMENT_PORT``) with the registry's Java 21+.

Its realm is ``deploy/local/keycloak/vanphong-realm.json``, imported at every start
(``--import-realm``) into an empty development database: the realm is exactly the file,
whatever was clicked in the admin console before. It holds the client ``vanphong-page``
(confidential, PKCE S256 required, redirects to loopback addresses only), the realm role
``vanphong-national``, the groups ``/provinces/<province>``, and four users (password = user
name): ``trunguong`` (national), ``vinhlong`` and ``cantho`` (one province each) and ``khach``
(no province). A development provider: not for production (README, "who is looking").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vanphong.deploy.local.apicurio import find_registry_java
from vanphong.deploy.local.component import JavaApp
from vanphong.deploy.local.config import LISTEN_HOST, StackPaths
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.launch import gone, launch_detached, wait_until_ready
from vanphong.deploy.local.maven import fetch_archive
from vanphong.deploy.local.processes import alive, cmdline
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import now
from vanphong.ground.settings import Settings

KEYCLOAK_VERSION = "26.5.6"
KEYCLOAK_ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
KEYCLOAK_NAME = f"Keycloak {KEYCLOAK_VERSION}"
REALM = "vanphong"
REALM_FILE = Path(__file__).parent / "keycloak" / "vanphong-realm.json"
CLIENT_ID = "vanphong-page"
CLIENT_SECRET = "vanphong-page-local-secret"  # the local realm's; never a production one
KEYCLOAK_START_S = 400.0
OFF = "run `vanphong stack up` without --keycloak"


@dataclass(frozen=True)
class KeycloakConfig:
    paths: StackPaths
    port: int
    management_port: int

    @classmethod
    def from_settings(cls, settings: Settings, paths: StackPaths) -> KeycloakConfig:
        return cls(paths, settings.stack_keycloak_port, settings.stack_keycloak_management_port)

    @property
    def issuer(self) -> str:
        """What ``VANPHONG_OIDC_ISSUER`` is for this Keycloak's realm."""
        return f"http://{LISTEN_HOST}:{self.port}/realms/{REALM}"

    @property
    def home(self) -> Path:
        return self.paths.root / f"keycloak-{KEYCLOAK_VERSION}"

    @property
    def log(self) -> Path:
        return self.paths.root / "keycloak" / "keycloak.out"

    @property
    def own_marker(self) -> str:
        return f"-Dvanphong.stack={self.paths.root}"


def fetch_keycloak(cfg: KeycloakConfig, progress: Progress) -> None:
    fetch_archive(KEYCLOAK_ARTIFACT, cfg.home, KEYCLOAK_NAME, "bin/kc.sh", progress, OFF)


def launch_keycloak(java: str, cfg: KeycloakConfig) -> int:
    """Start ``kc.sh start-dev`` detached, with the realm imported. When the realm file is not
    the one imported last, the development database starts empty, so that the realm is
    exactly the file (the import keeps a realm that exists)."""
    realm = REALM_FILE.read_bytes()
    digest = hashlib.sha256(realm).hexdigest()
    imported = cfg.home / "data" / "realm.sha256"
    if not imported.exists() or imported.read_text().strip() != digest:
        shutil.rmtree(cfg.home / "data", ignore_errors=True)
    imports = cfg.home / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    (imports / REALM_FILE.name).write_bytes(realm)
    imported.write_text(digest + "\n")
    cfg.log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "JAVA_HOME": str(Path(java).resolve().parent.parent),
        "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m",
    }
    command = [
        "bash",
        str(cfg.home / "bin" / "kc.sh"),
        "start-dev",
        cfg.own_marker,
        f"--http-host={LISTEN_HOST}",
        f"--http-port={cfg.port}",
        f"--http-management-port={cfg.management_port}",
        "--import-realm",
    ]
    banner = f"starting {KEYCLOAK_NAME}"
    return launch_detached(command, cwd=cfg.home, log=cfg.log, banner=banner, env=env)


def our_keycloak_pid(cfg: KeycloakConfig, state: dict[str, Any]) -> int | None:
    pid = (state.get("keycloak") or {}).get("pid")
    if isinstance(pid, int) and alive(pid):
        cmd = cmdline(pid)
        # kc.sh, or the java it becomes after its first build (exec): both carry the marker
        if cfg.own_marker in cmd and str(cfg.home) in cmd:
            return pid
    return None


def keycloak_probe(cfg: KeycloakConfig, timeout: float = 2.0) -> None:
    """The realm's discovery document; raises if it does not answer."""
    url = f"{cfg.issuer}/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        json.loads(response.read())


def wait_keycloak(cfg: KeycloakConfig, pid: int, deadline: float, timeout: float) -> None:
    """Until the realm answers; at least KEYCLOAK_START_S (its first start builds itself and
    creates its database: minutes on a busy machine)."""
    timeout = max(timeout, KEYCLOAK_START_S)
    deadline = max(deadline, time.monotonic() + KEYCLOAK_START_S)

    def probe(seconds: float) -> bool:
        keycloak_probe(cfg, timeout=seconds)
        return True

    def exited() -> StackError | None:
        if not gone(pid):
            return None
        return StackError(f"{KEYCLOAK_NAME} (pid {pid}) exited during start-up", logs=[cfg.log])

    def timed_out(last: str) -> StackError:
        return StackError(
            f"{KEYCLOAK_NAME} (pid {pid}) did not answer {cfg.issuer} within {timeout:.0f} s"
            f" (last: {last})",
            hint="read the log; `vanphong stack up --keycloak --timeout 300` waits longer",
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


def keycloak_state(cfg: KeycloakConfig, pid: int) -> dict[str, Any]:
    return {
        "pid": pid,
        "version": KEYCLOAK_VERSION,
        "issuer": cfg.issuer,
        "log": str(cfg.log),
        "started_at": now(),
    }


class Keycloak(JavaApp[KeycloakConfig]):
    """The reporting page's OpenID Connect provider (``up --keycloak``)."""

    key = "keycloak"
    label = KEYCLOAK_NAME
    title = KEYCLOAK_NAME
    port_variable = "VANPHONG_STACK_KEYCLOAK_PORT (or _MANAGEMENT_PORT)"

    @property
    def address(self) -> str:
        return self.cfg.issuer

    @property
    def waiting(self) -> str:
        return f"waiting for {KEYCLOAK_NAME} to answer at {self.cfg.issuer}"

    def pid(self, state: dict[str, Any]) -> int | None:
        return our_keycloak_pid(self.cfg, state)

    def check(self) -> None:
        self.java = find_registry_java(KEYCLOAK_NAME, "without --keycloak")

    def fetch(self, progress: Progress) -> None:
        fetch_keycloak(self.cfg, progress)

    def start(self, timeout: float) -> int:
        return launch_keycloak(self.java, self.cfg)

    def ready(self, pid: int, deadline: float, timeout: float) -> None:
        wait_keycloak(self.cfg, pid, deadline, timeout)

    def record(self, pid: int) -> dict[str, Any]:
        return keycloak_state(self.cfg, pid)
