"""``up`` and ``down``: the whole stack, started in order or stopped, under the stack's lock.

``up`` decides which components are missing and takes each through its steps (``component``):
the same loop for Kafka, PostgreSQL, the registry and Keycloak; what it started is recorded in
``stack.json`` (``state``) so that ``down`` stops only that.
"""

from __future__ import annotations

import errno
import time

from rich.console import Console
from rich.markup import escape

from vanphong.deploy.local.apicurio import (
    Apicurio,
    RegistryConfig,
)
from vanphong.deploy.local.broker import (
    KafkaBroker,
)
from vanphong.deploy.local.cluster import MAX_BROKERS, MIN_BROKERS
from vanphong.deploy.local.component import Component
from vanphong.deploy.local.config import DEFAULT_TIMEOUT, STOP_TIMEOUT, StackConfig
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.install import check_free_space
from vanphong.deploy.local.keycloak import Keycloak, KeycloakConfig
from vanphong.deploy.local.postgres import Postgres
from vanphong.deploy.local.secure import SecureCluster, up_secure
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import read_state, stack_lock, write_state
from vanphong.deploy.local.status import running_line, stack_status
from vanphong.ground.settings import REPORTING_ROLE, Settings, get_settings


def components(
    settings: Settings, cfg: StackConfig, console: Console
) -> tuple[KafkaBroker, Postgres, Apicurio, Keycloak]:
    """Every component of the plain stack, in the order ``status`` shows them."""
    reg = RegistryConfig.from_settings(settings, cfg.paths)
    kc = KeycloakConfig.from_settings(settings, cfg.paths)
    return KafkaBroker(cfg), Postgres(cfg, console), Apicurio(reg), Keycloak(kc)


def _running(pids: dict[Component, int | None], c: Component) -> int:
    pid = pids[c]
    assert pid is not None
    return pid


def up(
    timeout: float = DEFAULT_TIMEOUT,
    *,
    brokers: int = 1,
    secure: bool = False,
    keycloak: bool = False,
    settings: Settings | None = None,
    console: Console | None = None,
) -> int:
    """Start whatever of the stack is not running; return 0 once all accept real clients (Kafka,
    PostgreSQL and, unless ``VANPHONG_STACK_REGISTRY=false``, the Schema Registry).

    ``timeout`` bounds the wait for the services once launched (the first jar download and the
    apt-get install have their own limits). Raises :class:`StackError` on failure.

    ``secure``: the production-like cluster of ``brokers`` nodes (TLS, SASL/SCRAM, ACLs) and
    PostgreSQL with TLS, beside the plain broker (deploy/local/secure.py).

    ``keycloak``: Keycloak too, with the realm of the reporting page's login
    (deploy/local/keycloak.py).
    """
    settings = settings or get_settings()
    console = console or Console(stderr=True)
    if secure or brokers != 1:
        if not secure:
            raise StackError(
                f"--brokers {brokers} needs --secure: the plain stack is one broker",
                hint="vanphong stack up --brokers 3 --secure",
            )
        if not MIN_BROKERS <= brokers <= MAX_BROKERS:
            raise StackError(
                f"the secure cluster has {MIN_BROKERS} to {MAX_BROKERS} brokers, not {brokers}",
                hint="vanphong stack up --brokers 3 --secure",
            )
        return up_secure(timeout, brokers, settings, console)
    cfg = StackConfig.from_settings(settings)
    paths = cfg.paths
    started = time.monotonic()
    kafka, pg, reg, kc = components(settings, cfg, console)
    wanted: list[Component] = [kafka, pg]
    if reg.cfg.enabled:  # on unless VANPHONG_STACK_REGISTRY=false
        wanted.append(reg)
    if keycloak:
        wanted.append(kc)
    with Progress(console) as progress, stack_lock(paths, progress):
        state = read_state(paths)
        pids = {c: c.pid(state) for c in wanted}
        missing = [c for c in wanted if pids[c] is None]

        if not missing:
            progress.step("checking the running stack")
            deadline = time.monotonic() + timeout
            pg.ensure_roles()
            for c in wanted:
                c.ready(_running(pids, c), deadline, timeout)
            progress.done()
            console.print(f"already running: {escape(running_line(stack_status(settings)))}")
            return 0

        progress.step("checking prerequisites and ports")
        check_free_space(paths)
        for c in missing:
            c.check()
        conflicts = [conflict.line() for c in missing for conflict in c.port_conflicts()]
        if conflicts:
            raise StackError(
                "a port the stack needs is held by another process:\n" + "\n".join(conflicts)
            )

        try:
            # the JVMs first, started detached; then PostgreSQL, whose start waits while they start
            waits_from: float | None = None  # when the deadline of the waits starts
            for c in sorted(missing, key=lambda c: not c.detached):
                if not c.detached and waits_from is None:
                    waits_from = time.monotonic()
                c.fetch(progress)
                c.configure(progress)
                progress.step(c.starting)
                pids[c] = pid = c.start(max(5.0, (waits_from or 0.0) + timeout - time.monotonic()))
                progress.done()
                state[c.key] = c.record(pid)
                write_state(paths, state)
            deadline = (waits_from or time.monotonic()) + timeout

            progress.step(f"creating roles {cfg.pg.user!r}, {REPORTING_ROLE!r} and database")
            pg.ensure_roles()
            for c in sorted(wanted, key=lambda c: c.detached):  # PostgreSQL first
                progress.step(c.waiting)
                c.ready(_running(pids, c), deadline, timeout)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StackError(
                    f"disk full: {exc}",
                    hint="free some space, or set VANPHONG_STACK_DIR to a disk with room",
                ) from exc
            raise
    took = time.monotonic() - started
    console.print(
        f"[green]stack up[/] in {took:.1f} s: {escape(running_line(stack_status(settings)))}"
    )
    return 0


def down(
    timeout: float = STOP_TIMEOUT,
    *,
    settings: Settings | None = None,
    console: Console | None = None,
) -> int:
    """Stop what ``up`` started (Kafka by its recorded pid, the secure cluster's nodes too; our
    own PostgreSQL cluster)."""
    settings = settings or get_settings()
    console = console or Console(stderr=True)
    cfg = StackConfig.from_settings(settings)
    paths = cfg.paths
    if not paths.root.exists():
        console.print("nothing to stop: the stack was never started here")
        return 0
    stopped: list[str] = []
    kafka, pg, reg, kc = components(settings, cfg, console)
    with Progress(console) as progress, stack_lock(paths, progress):
        state = read_state(paths)
        for c in (reg, kc, kafka, pg):  # the registry and Keycloak first: they use nothing else
            pid = c.pid(state)
            if pid is not None:
                progress.step(f"stopping {c.label} (pid {pid})")
                clean = c.stop(pid, timeout)
                stopped.append(f"{c.label} (pid {pid}{'' if clean else ', killed'})")
            state.pop(c.key, None)
        stopped += SecureCluster(cfg).stop(state, progress, timeout)
        write_state(paths, state)
    console.print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    return 0
