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

The pieces live beside this module: ``config`` (settings, paths), ``errors``, ``processes``
(pids, ports, deadlines), ``state`` (``stack.json``, the lock), ``progress``, ``kafka`` and
``postgres``; this module orchestrates them and keeps the names other code imports from it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from deploy.config import (
    KAFKA_VERSION,
    PG_MAJOR,
    REPORTING_PASSWORD,
    REPORTING_ROLE,
    PgTarget,
    StackConfig,
    StackPaths,
    parse_database_url,
    parse_kafka_bootstrap,
)
from deploy.errors import StackError
from deploy.kafka import (
    _fetch_kafka_jars,
    _format_kafka,
    _java,
    _kafka_state,
    _our_kafka_pid,
    _start_kafka,
    _wait_kafka,
    _write_kafka_config,
    kafka_jars_cached,
    kafka_probe,
    kafka_server_properties,
)
from deploy.postgres import (
    PG_BIN,
    _ensure_roles,
    _existing_pg_dirs,
    _init_pg,
    _pg_pid,
    _pg_runner,
    _pg_state,
    _prepare_pg_dirs,
    _start_pg,
    _stop_pg,
    _wait_pg,
    _write_pg_conf,
    pg_login_probe,
    pg_server_conf,
    roles_sql,
)
from deploy.processes import (
    _accepts_tcp,
    _port_hint,
    _stop_pid,
    find_port_holder,
    foreign_port_holder,
    port_in_use,
)
from deploy.progress import _Progress
from deploy.state import _now, _read_state, _stack_lock, _write_state
from vanphong.settings import Settings, get_settings

__all__ = [
    "EXIT_NOT_RUNNING",
    "KAFKA_VERSION",
    "PG_INSTALL_COMMAND",
    "PG_MAJOR",
    "REPORTING_ROLE",
    "ComponentStatus",
    "PgTarget",
    "StackConfig",
    "StackError",
    "StackPaths",
    "StackStatus",
    "down",
    "find_port_holder",
    "foreign_port_holder",
    "kafka_jars_cached",
    "kafka_probe",
    "kafka_server_properties",
    "parse_database_url",
    "parse_kafka_bootstrap",
    "pg_login_probe",
    "pg_server_conf",
    "port_in_use",
    "reporting_database_url",
    "roles_sql",
    "stack_app",
    "stack_status",
    "start_kafka",
    "start_postgres",
    "status",
    "stop_kafka",
    "stop_postgres",
    "up",
]

# postgresql-contrib-15 is a virtual package provided by postgresql-15 on Debian 12; naming it
# documents that we rely on the contrib modules too.
PG_PACKAGES = ("postgresql-15", "postgresql-contrib-15")
PG_INSTALL_COMMAND = f"apt-get update && apt-get install -y {' '.join(PG_PACKAGES)}"

DEFAULT_TIMEOUT = 120.0  # for both services to accept clients once launched
STOP_TIMEOUT = 60.0
INSTALL_TIMEOUT = 900.0  # apt-get
MIN_FREE_BYTES = 1 << 30
EXIT_NOT_RUNNING = 3


def reporting_database_url(settings: Settings | None = None) -> str:
    """The reporting role's URL on the same server and database (CONTRACT.md §1)."""
    target = parse_database_url((settings or get_settings()).database_url)
    return (
        f"postgresql://{REPORTING_ROLE}:{REPORTING_PASSWORD}@{target.host}:{target.port}/"
        f"{target.database}"
    )


# ----------------------------------------------------------------------------------------------
# prerequisites and first-use install (the PostgreSQL install stays here: tests/test_stack.py
# patches `stack._pg_installed`, which only works while `_install_pg` looks it up in this module)


def _check_free_space(paths: StackPaths) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(paths.root).free
    if free < MIN_FREE_BYTES:
        raise StackError(
            f"disk nearly full: only {free / 2**20:.0f} MiB free where the stack lives "
            f"({paths.root}); it needs about 1 GiB (Kafka jars, logs, PostgreSQL data)",
            hint="free some space, or put the stack elsewhere with VANPHONG_STACK_DIR=/path",
        )


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
