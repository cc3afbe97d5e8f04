"""``up`` and ``down``: the whole stack, started in order or stopped, under the stack's lock.

``up`` decides what is missing and calls the pieces (``install``, ``kafka``, ``postgres``) in
order; what it started is recorded in ``stack.json`` (``state``) so that ``down`` stops only that.
"""

from __future__ import annotations

import errno
import time

from rich.console import Console
from rich.markup import escape

from vanphong.deploy.local.apicurio import (
    REGISTRY_NAME,
    RegistryConfig,
    fetch_registry,
    find_registry_java,
    launch_registry,
    our_registry_pid,
    registry_port_conflicts,
    registry_state,
    wait_registry,
)
from vanphong.deploy.local.broker import (
    fetch_kafka_jars,
    find_java,
    format_kafka,
    kafka_state,
    launch_kafka,
    our_kafka_pid,
    wait_kafka,
    write_kafka_config,
)
from vanphong.deploy.local.cluster import MAX_BROKERS, MIN_BROKERS, SecurePaths
from vanphong.deploy.local.config import (
    DEFAULT_TIMEOUT,
    KAFKA_VERSION,
    PG_MAJOR,
    REPORTING_ROLE,
    STOP_TIMEOUT,
    StackConfig,
)
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.install import check_free_space, install_pg
from vanphong.deploy.local.keycloak import (
    KEYCLOAK_NAME,
    KeycloakConfig,
    fetch_keycloak,
    keycloak_port_conflicts,
    keycloak_state,
    launch_keycloak,
    our_keycloak_pid,
    wait_keycloak,
)
from vanphong.deploy.local.postgres import (
    PgDirs,
    ensure_roles,
    existing_pg_dirs,
    init_pg,
    our_pg_pid,
    pg_runner,
    pg_state,
    prepare_pg_dirs,
    start_pg,
    stop_pg,
    wait_pg,
    write_pg_conf,
)
from vanphong.deploy.local.processes import foreign_port_holder, port_hint, stop_pid
from vanphong.deploy.local.secure import stop_cluster, up_secure
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import read_state, stack_lock, write_state
from vanphong.deploy.local.status import running_line, stack_status
from vanphong.ground.settings import Settings, get_settings


def _port_conflicts(
    cfg: StackConfig, kafka_pid: int | None, pg_pid: int | None, dirs: PgDirs | None
) -> list[str]:
    """What holds a port that a component about to start needs, with what to do about it."""
    paths = cfg.paths
    conflicts: list[str] = []
    if kafka_pid is None:
        for port in (cfg.kafka_port, cfg.controller_port):
            holder = foreign_port_holder(port, own_marker=str(paths.server_properties))
            if holder is not None:
                conflicts.append(
                    f"Kafka: {holder.describe()}\n  what to do: "
                    + port_hint(holder, "VANPHONG_KAFKA_BOOTSTRAP")
                )
    if pg_pid is None:
        marker = str(dirs.data) if dirs else str(paths.pgdata)
        holder = foreign_port_holder(cfg.pg.port, own_marker=marker)
        if holder is not None:
            conflicts.append(
                f"PostgreSQL: {holder.describe()}\n  what to do: "
                + port_hint(holder, "VANPHONG_DATABASE_URL")
            )
    return conflicts


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
    with Progress(console) as progress, stack_lock(paths, progress):
        state = read_state(paths)
        kafka_pid = our_kafka_pid(paths, state)
        dirs = existing_pg_dirs(paths)
        pg_pid = our_pg_pid(dirs)
        # the Schema Registry (deploy/local/apicurio.py): on unless VANPHONG_STACK_REGISTRY=false
        reg = RegistryConfig.from_settings(settings, paths)
        reg_pid = our_registry_pid(reg, state) if reg.enabled else None
        reg_missing = reg.enabled and reg_pid is None
        kc = KeycloakConfig.from_settings(settings, paths)
        kc_pid = our_keycloak_pid(kc, state) if keycloak else None
        kc_missing = keycloak and kc_pid is None

        if (
            kafka_pid is not None
            and pg_pid is not None
            and dirs is not None
            and not reg_missing
            and not kc_missing
        ):
            progress.step("checking the running stack")
            deadline = time.monotonic() + timeout
            ensure_roles(dirs, pg_runner(), cfg.pg)
            wait_kafka(cfg, kafka_pid, deadline, timeout)
            wait_pg(cfg, dirs, deadline, timeout)
            if reg_pid is not None:
                wait_registry(reg, reg_pid, deadline, timeout)
            if kc_pid is not None:
                wait_keycloak(kc, kc_pid, deadline, timeout)
            progress.done()
            console.print(f"already running: {escape(running_line(stack_status(settings)))}")
            return 0

        progress.step("checking prerequisites and ports")
        check_free_space(paths)
        runner = pg_runner()
        java = find_java() if kafka_pid is None else ""
        reg_java = find_registry_java() if reg_missing else ""
        kc_java = find_registry_java(KEYCLOAK_NAME, "without --keycloak") if kc_missing else ""
        conflicts = _port_conflicts(cfg, kafka_pid, pg_pid, dirs)
        if reg_missing:
            conflicts += registry_port_conflicts(reg)
        if kc_missing:
            conflicts += keycloak_port_conflicts(kc)
        if conflicts:
            raise StackError(
                "a port the stack needs is held by another process:\n" + "\n".join(conflicts)
            )

        try:
            if kafka_pid is None:
                fetch_kafka_jars(paths, progress)
                write_kafka_config(cfg)
                format_kafka(java, paths, progress)
                progress.step(f"starting Kafka {KAFKA_VERSION}")
                kafka_pid = launch_kafka(java, paths)
                progress.done()
                state["kafka"] = kafka_state(cfg, kafka_pid)
                write_state(paths, state)
            if reg_missing:
                fetch_registry(reg, progress)
                progress.step(f"starting {REGISTRY_NAME}")
                reg_pid = launch_registry(reg_java, reg)
                progress.done()
                state["registry"] = registry_state(reg, reg_pid)
                write_state(paths, state)
            if kc_missing:
                fetch_keycloak(kc, progress)
                progress.step(f"starting {KEYCLOAK_NAME}")
                kc_pid = launch_keycloak(kc_java, kc)
                progress.done()
                state["keycloak"] = keycloak_state(kc, kc_pid)
                write_state(paths, state)
            deadline = time.monotonic() + timeout  # Kafka's JVM starts while PostgreSQL does

            if pg_pid is None:
                install_pg(paths, progress, console)
                dirs = prepare_pg_dirs(paths, runner, console)
                init_pg(dirs, runner, progress)
                write_pg_conf(dirs, cfg.pg.port, runner)
                progress.step(f"starting PostgreSQL {PG_MAJOR}")
                pg_pid = start_pg(dirs, runner, max(5.0, deadline - time.monotonic()))
                state["postgres"] = pg_state(cfg, dirs, runner, pg_pid)
                write_state(paths, state)
            assert dirs is not None
            progress.step(f"creating roles {cfg.pg.user!r}, {REPORTING_ROLE!r} and database")
            ensure_roles(dirs, runner, cfg.pg)
            progress.step("waiting for PostgreSQL to accept a login")
            wait_pg(cfg, dirs, deadline, timeout)
            progress.step("waiting for Kafka to answer a metadata request")
            wait_kafka(cfg, kafka_pid, deadline, timeout)
            if reg_pid is not None:
                progress.step(f"waiting for {REGISTRY_NAME} to answer at {reg.url}")
                wait_registry(reg, reg_pid, deadline, timeout)
            if kc_pid is not None:
                progress.step(f"waiting for {KEYCLOAK_NAME} to answer at {kc.issuer}")
                wait_keycloak(kc, kc_pid, deadline, timeout)
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
    with Progress(console) as progress, stack_lock(paths, progress):
        state = read_state(paths)
        reg = RegistryConfig.from_settings(settings, paths)
        reg_pid = our_registry_pid(reg, state)
        if reg_pid is not None:
            progress.step(f"stopping {REGISTRY_NAME} (pid {reg_pid})")
            clean = stop_pid(reg_pid, timeout)
            stopped.append(f"{REGISTRY_NAME} (pid {reg_pid}{'' if clean else ', killed'})")
        state.pop("registry", None)
        kc_pid = our_keycloak_pid(KeycloakConfig.from_settings(settings, paths), state)
        if kc_pid is not None:
            progress.step(f"stopping {KEYCLOAK_NAME} (pid {kc_pid})")
            clean = stop_pid(kc_pid, timeout)
            stopped.append(f"{KEYCLOAK_NAME} (pid {kc_pid}{'' if clean else ', killed'})")
        state.pop("keycloak", None)
        kafka_pid = our_kafka_pid(paths, state)
        if kafka_pid is not None:
            progress.step(f"stopping Kafka (pid {kafka_pid})")
            clean = stop_pid(kafka_pid, timeout)
            stopped.append(f"Kafka (pid {kafka_pid}{'' if clean else ', killed'})")
        state.pop("kafka", None)
        dirs = existing_pg_dirs(paths)
        pg_pid = our_pg_pid(dirs)
        if pg_pid is not None and dirs is not None:
            progress.step(f"stopping PostgreSQL (pid {pg_pid})")
            stop_pg(dirs, pg_runner(), timeout)
            stopped.append(f"PostgreSQL (pid {pg_pid})")
        state.pop("postgres", None)
        stopped += stop_cluster(SecurePaths(paths), state, progress, timeout)
        write_state(paths, state)
    console.print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    return 0
