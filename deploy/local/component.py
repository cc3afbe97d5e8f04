"""One component of the local stack, the shape every service has: Kafka, PostgreSQL, the
Apicurio registry and Keycloak each fill it in, and ``up``, ``down``, ``status`` and the
one-at-a-time start and stop (``one_at_a_time``) only loop over components.

The steps, in the order ``up`` takes them for a component that is not running:
``check`` (prerequisites: a Java) and ``port_conflicts``, ``fetch`` (download or install, once),
``configure`` (its configuration, written on every start; storage formatted once), ``start``
(its process, detached), ``ready`` (wait until it answers a real client); ``stop`` and
``status`` the other way. What ``stack.json`` records is ``record``, read back by ``pid``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.processes import (
    PortHolder,
    accepts_tcp,
    find_port_holder,
    foreign_port_holder,
    port_hint,
    stop_pid,
)
from vanphong.deploy.local.spinner import Progress


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    detail: str = ""


@dataclass(frozen=True)
class PortConflict:
    """A port a component needs, held by a process that is not ours."""

    label: str
    holder: PortHolder
    hint: str

    def line(self) -> str:
        """For ``up``'s list of every conflict."""
        return f"{self.label}: {self.holder.describe()}\n  what to do: {self.hint}"

    def error(self) -> StackError:
        """For starting one component."""
        return StackError(f"{self.label}: {self.holder.describe()}", hint=self.hint)


class Component(ABC):
    """A service of the local stack, by its steps (module docstring)."""

    #: its entry in ``stack.json``
    key: str
    #: in ``down``'s and the errors' words ("Kafka"); ``title`` has the version ("Kafka 4.1.2")
    label: str
    title: str
    #: True if ``start`` returns at once (a JVM); False if it waits (``pg_ctl start -w``)
    detached: bool = True
    #: what names its ports, for the hint of a conflict; and what else to say there
    port_variable: str = ""
    port_extra: str = ""

    @property
    @abstractmethod
    def ports(self) -> tuple[int, ...]:
        """The ports it listens on (the first is the one its clients use)."""

    @property
    @abstractmethod
    def own_marker(self) -> str:
        """On our process's command line, so that a process holding its port is known ours."""

    @property
    @abstractmethod
    def address(self) -> str:
        """Where its clients reach it."""

    @property
    @abstractmethod
    def log(self) -> Path | None:
        """Its log, named by ``status`` and the errors."""

    @property
    def starting(self) -> str:
        """The step ``up`` shows while it starts it."""
        return f"starting {self.title}"

    @property
    @abstractmethod
    def waiting(self) -> str:
        """The step ``up`` shows while it waits for it."""

    @abstractmethod
    def pid(self, state: dict[str, Any]) -> int | None:
        """Our running process, if any (``state``: ``stack.json``)."""

    def check(self) -> None:
        """Its prerequisites, before anything is started (a Java of the right version)."""
        return None  # nothing, unless the component has something to do

    def port_conflicts(self) -> list[PortConflict]:
        out = []
        for port in self.ports:
            holder = foreign_port_holder(port, own_marker=self.own_marker)
            if holder is not None:
                hint = port_hint(holder, self.port_variable) + self.port_extra
                out.append(PortConflict(self.label, holder, hint))
        return out

    def set_up(self) -> bool:
        """True if ``up`` set it up (fetched, storage formatted): it may be started alone."""
        return True

    def fetch(self, progress: Progress) -> None:
        """Download or install it, once."""
        return None  # nothing, unless the component has something to do

    def configure(self, progress: Progress) -> None:
        """Write its configuration (every start) and prepare its storage (once)."""
        return None  # nothing, unless the component has something to do

    @abstractmethod
    def start(self, timeout: float) -> int:
        """Start its process; its pid. ``timeout`` bounds a start that waits."""

    @abstractmethod
    def ready(self, pid: int, deadline: float, timeout: float) -> None:
        """Return once it answers a real client; a StackError at ``deadline``."""

    def stop(self, pid: int, timeout: float) -> bool:
        """SIGTERM, SIGKILL after ``timeout``; True if it stopped before the SIGKILL."""
        return stop_pid(pid, timeout)

    @abstractmethod
    def record(self, pid: int) -> dict[str, Any]:
        """What ``stack.json`` records about the process we started."""

    def status(self, state: dict[str, Any]) -> ComponentStatus:
        """Running means our process is there and accepts connections on its port."""
        return probe_status(self.title, self.pid(state), self.ports[0], self.address, self.log)


class AppPorts(Protocol):
    """What a Java application's settings say of it: its two ports, its marker and its log."""

    @property
    def port(self) -> int: ...
    @property
    def management_port(self) -> int: ...
    @property
    def own_marker(self) -> str: ...
    @property
    def log(self) -> Path: ...


C = TypeVar("C", bound=AppPorts)


class JavaApp(Component, Generic[C]):
    """A component that is one Java application (the registry, Keycloak): an HTTP port and a
    management port on the loopback interface, our marker on its command line, one log; its
    ``java`` is found by ``check``."""

    def __init__(self, cfg: C) -> None:
        self.cfg = cfg
        self.java = ""

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.cfg.port, self.cfg.management_port)

    @property
    def own_marker(self) -> str:
        return self.cfg.own_marker

    @property
    def log(self) -> Path:
        return self.cfg.log


def probe_status(
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
