"""One component at a time: stop or start only Kafka, only PostgreSQL or only the Schema Registry
of a stack ``up`` set up.

The fault-tolerance tests stop and start them under running workers, on the same data; these
functions never set anything up, so they refuse a stack that ``up`` has not prepared.
"""

from __future__ import annotations

import time

from rich.console import Console

from vanphong.deploy.local.apicurio import (
    REGISTRY_NAME,
    RegistryConfig,
    fetch_registry,
    find_registry_java,
    launch_registry,
    our_registry_pid,
    registry_state,
    wait_registry,
)
from vanphong.deploy.local.broker import (
    find_java,
    kafka_jars_cached,
    kafka_state,
    launch_kafka,
    our_kafka_pid,
    wait_kafka,
    write_kafka_config,
)
from vanphong.deploy.local.config import DEFAULT_TIMEOUT, STOP_TIMEOUT, StackConfig, StackPaths
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.postgres import (
    existing_pg_dirs,
    our_pg_pid,
    pg_runner,
    pg_state,
    start_pg,
    stop_pg,
    wait_pg,
    write_pg_conf,
)
from vanphong.deploy.local.processes import foreign_port_holder, port_hint, stop_pid
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import read_state, stack_lock, write_state
from vanphong.ground.settings import Settings, get_settings


def _not_set_up(component: str, paths: StackPaths) -> StackError:
    return StackError(
        f"{component} was never set up in {paths.root}",
        hint="run `vanphong stack up` first: these functions only stop and start what it set up",
    )


def stop_kafka(timeout: float = STOP_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Stop only the broker ``up`` started (SIGTERM: a controlled shutdown, SIGKILL after
    ``timeout``); return its pid. Its data stays; :func:`start_kafka` starts it again."""
    paths = StackConfig.from_settings(settings or get_settings()).paths
    with stack_lock(paths):
        state = read_state(paths)
        pid = our_kafka_pid(paths, state)
        if pid is None:
            raise StackError(f"the stack's Kafka is not running (stack dir {paths.root})")
        stop_pid(pid, timeout)
        state.pop("kafka", None)
        write_state(paths, state)
    return pid


def start_kafka(timeout: float = DEFAULT_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Start the broker of a stack ``up`` set up before, on the same data, unless it runs;
    return its pid once it answers a metadata request."""
    cfg = StackConfig.from_settings(settings or get_settings())
    paths = cfg.paths
    with stack_lock(paths):
        state = read_state(paths)
        pid = our_kafka_pid(paths, state)
        if pid is None:
            if not (kafka_jars_cached(paths) and (paths.kafka_data / "meta.properties").exists()):
                raise _not_set_up("Kafka", paths)
            for port in (cfg.kafka_port, cfg.controller_port):
                holder = foreign_port_holder(port, own_marker=str(paths.server_properties))
                if holder is not None:
                    raise StackError(
                        f"Kafka: {holder.describe()}",
                        hint=port_hint(holder, "VANPHONG_KAFKA_BOOTSTRAP"),
                    )
            java = find_java()
            write_kafka_config(cfg)
            pid = launch_kafka(java, paths)
            state["kafka"] = kafka_state(cfg, pid)
            write_state(paths, state)
        wait_kafka(cfg, pid, time.monotonic() + timeout, timeout)
    return pid


def stop_postgres(timeout: float = STOP_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Stop only the stack's PostgreSQL cluster (``pg_ctl stop -m fast``: clients are cut off,
    then ``immediate`` after ``timeout``); return the postmaster's pid."""
    paths = StackConfig.from_settings(settings or get_settings()).paths
    with stack_lock(paths):
        dirs = existing_pg_dirs(paths)
        pid = our_pg_pid(dirs)
        if pid is None or dirs is None:
            raise StackError(f"the stack's PostgreSQL is not running (stack dir {paths.root})")
        stop_pg(dirs, pg_runner(), timeout)
        state = read_state(paths)
        state.pop("postgres", None)
        write_state(paths, state)
    return pid


def start_postgres(timeout: float = DEFAULT_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Start the stack's PostgreSQL cluster again unless it runs; return the postmaster's pid
    once the workers' role can log in."""
    cfg = StackConfig.from_settings(settings or get_settings())
    paths = cfg.paths
    with stack_lock(paths):
        dirs = existing_pg_dirs(paths)
        if dirs is None or not (dirs.data / "PG_VERSION").exists():
            raise _not_set_up("PostgreSQL", paths)
        deadline = time.monotonic() + timeout
        pid = our_pg_pid(dirs)
        if pid is None:
            holder = foreign_port_holder(cfg.pg.port, own_marker=str(dirs.data))
            if holder is not None:
                raise StackError(
                    f"PostgreSQL: {holder.describe()}",
                    hint=port_hint(holder, "VANPHONG_DATABASE_URL"),
                )
            runner = pg_runner()
            write_pg_conf(dirs, cfg.pg.port, runner)
            pid = start_pg(dirs, runner, timeout)
            state = read_state(paths)
            state["postgres"] = pg_state(cfg, dirs, runner, pid)
            write_state(paths, state)
        wait_pg(cfg, dirs, deadline, timeout)
    return pid


def start_registry(
    timeout: float = DEFAULT_TIMEOUT,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> int:
    """Start the stack's Schema Registry unless it runs (fetching it on first use); return its
    pid once its Confluent API answers. Its storage is in memory: a start begins empty."""
    settings = settings or get_settings()
    cfg = StackConfig.from_settings(settings)
    reg = RegistryConfig.from_settings(settings, cfg.paths)
    with stack_lock(cfg.paths):
        state = read_state(cfg.paths)
        pid = our_registry_pid(reg, state)
        if pid is None:
            for port in (reg.port, reg.management_port):
                holder = foreign_port_holder(port, own_marker=reg.own_marker)
                if holder is not None:
                    raise StackError(
                        f"{REGISTRY_NAME}: {holder.describe()}",
                        hint=port_hint(holder, "VANPHONG_STACK_REGISTRY_PORT"),
                    )
            java = find_registry_java()
            fetch_registry(reg, progress or Progress(Console(stderr=True, quiet=True)))
            pid = launch_registry(java, reg)
            state["registry"] = registry_state(reg, pid)
            write_state(cfg.paths, state)
        wait_registry(reg, pid, time.monotonic() + timeout, timeout)
    return pid


def stop_registry(timeout: float = STOP_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Stop only the stack's Schema Registry; return its pid (what it held is gone: in memory)."""
    settings = settings or get_settings()
    cfg = StackConfig.from_settings(settings)
    reg = RegistryConfig.from_settings(settings, cfg.paths)
    with stack_lock(cfg.paths):
        state = read_state(cfg.paths)
        pid = our_registry_pid(reg, state)
        if pid is None:
            raise StackError(
                f"the stack's {REGISTRY_NAME} is not running (stack dir {cfg.paths.root})"
            )
        stop_pid(pid, timeout)
        state.pop("registry", None)
        write_state(cfg.paths, state)
    return pid
