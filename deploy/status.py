"""What runs of the stack: the state of each component (model and collection) and its table.

Read-only: it looks at pids, ports and the stack directory and never starts or stops anything,
so ``status`` is safe while others use the stack, and ``up`` uses it for its closing line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from deploy.config import KAFKA_VERSION, PG_MAJOR, StackConfig
from deploy.kafka import our_kafka_pid
from deploy.postgres import existing_pg_dirs, our_pg_pid
from deploy.processes import accepts_tcp, find_port_holder
from deploy.state import read_state
from vanphong.ground.settings import Settings, get_settings

EXIT_NOT_RUNNING = 3


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
        if accepts_tcp(port):
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
    kafka_pid = our_kafka_pid(paths, read_state(paths))
    dirs = existing_pg_dirs(paths)
    return StackStatus(
        kafka=_component_status(
            f"Kafka {KAFKA_VERSION}", kafka_pid, cfg.kafka_port, cfg.bootstrap, paths.kafka_log
        ),
        postgres=_component_status(
            f"PostgreSQL {PG_MAJOR}",
            our_pg_pid(dirs),
            cfg.pg.port,
            cfg.pg_address,
            dirs.log if dirs else None,
        ),
    )


def running_line(st: StackStatus) -> str:
    return (
        f"{st.kafka.name} (pid {st.kafka.pid}) at {st.kafka.address}, "
        f"{st.postgres.name} (pid {st.postgres.pid}) at {st.postgres.address}"
    )


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
