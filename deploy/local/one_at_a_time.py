"""One component at a time: stop or start only Kafka, only PostgreSQL or only the Schema Registry
of a stack ``up`` set up.

The fault-tolerance tests stop and start them under running workers, on the same data; these
functions never set anything up (but the registry, fetched on first use), so they refuse a stack
that ``up`` has not prepared.
"""

from __future__ import annotations

import time

from rich.console import Console

from vanphong.deploy.local.apicurio import REGISTRY_NAME
from vanphong.deploy.local.component import Component
from vanphong.deploy.local.config import DEFAULT_TIMEOUT, STOP_TIMEOUT, StackConfig
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.lifecycle import components
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import read_state, stack_lock, write_state
from vanphong.ground.settings import Settings, get_settings


def _component(label: str, settings: Settings | None) -> tuple[Component, StackConfig]:
    settings = settings or get_settings()
    cfg = StackConfig.from_settings(settings)
    quiet = Console(stderr=True, quiet=True)
    (found,) = [c for c in components(settings, cfg, quiet) if c.label == label]
    return found, cfg


def stop_one(label: str, timeout: float, settings: Settings | None) -> int:
    """Stop only the component ``label`` (its data stays); return its pid."""
    comp, cfg = _component(label, settings)
    with stack_lock(cfg.paths):
        state = read_state(cfg.paths)
        pid = comp.pid(state)
        if pid is None:
            raise StackError(f"the stack's {label} is not running (stack dir {cfg.paths.root})")
        comp.stop(pid, timeout)
        state.pop(comp.key, None)
        write_state(cfg.paths, state)
    return pid


def start_one(
    label: str, timeout: float, settings: Settings | None, progress: Progress | None = None
) -> int:
    """Start the component ``label`` of a stack ``up`` set up, on the same data, unless it runs;
    return its pid once it answers a real client."""
    comp, cfg = _component(label, settings)
    paths = cfg.paths
    with stack_lock(paths):
        if not comp.set_up():
            raise StackError(
                f"{label} was never set up in {paths.root}",
                hint="run `vanphong stack up` first: these functions only stop and start what "
                "it set up",
            )
        state = read_state(paths)
        pid = comp.pid(state)
        deadline = time.monotonic() + timeout
        if pid is None:
            conflicts = comp.port_conflicts()
            if conflicts:
                raise conflicts[0].error()
            comp.check()
            progress = progress or Progress(Console(stderr=True, quiet=True))
            comp.fetch(progress)
            comp.configure(progress)
            deadline = time.monotonic() + timeout  # a start that waits counts in the deadline
            pid = comp.start(timeout)
            if comp.detached:
                deadline = time.monotonic() + timeout
            state = read_state(paths)
            state[comp.key] = comp.record(pid)
            write_state(paths, state)
        comp.ready(pid, deadline, timeout)
    return pid


def stop_kafka(timeout: float = STOP_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Stop only the broker ``up`` started (SIGTERM: a controlled shutdown, SIGKILL after
    ``timeout``); return its pid. Its data stays; :func:`start_kafka` starts it again."""
    return stop_one("Kafka", timeout, settings)


def start_kafka(timeout: float = DEFAULT_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Start the broker of a stack ``up`` set up before, on the same data, unless it runs;
    return its pid once it answers a metadata request."""
    return start_one("Kafka", timeout, settings)


def stop_postgres(timeout: float = STOP_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Stop only the stack's PostgreSQL cluster (``pg_ctl stop -m fast``: clients are cut off,
    then ``immediate`` after ``timeout``); return the postmaster's pid."""
    return stop_one("PostgreSQL", timeout, settings)


def start_postgres(timeout: float = DEFAULT_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Start the stack's PostgreSQL cluster again unless it runs; return the postmaster's pid
    once the workers' role can log in."""
    return start_one("PostgreSQL", timeout, settings)


def start_registry(
    timeout: float = DEFAULT_TIMEOUT,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> int:
    """Start the stack's Schema Registry unless it runs (fetching it on first use); return its
    pid once its Confluent API answers. Its storage is in memory: a start begins empty."""
    return start_one(REGISTRY_NAME, timeout, settings, progress)


def stop_registry(timeout: float = STOP_TIMEOUT, *, settings: Settings | None = None) -> int:
    """Stop only the stack's Schema Registry; return its pid (what it held is gone: in memory)."""
    return stop_one(REGISTRY_NAME, timeout, settings)
