"""What runs of the stack: the state of each component (model and collection) and its table.

Read-only: it looks at pids, ports and the stack directory and never starts or stops anything,
so ``status`` is safe while others use the stack, and ``up`` uses it for its closing line.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vanphong.deploy.local.apicurio import Apicurio, RegistryConfig
from vanphong.deploy.local.broker import KafkaBroker
from vanphong.deploy.local.cluster_files import ADMIN_USER, SecurePaths
from vanphong.deploy.local.component import ComponentStatus
from vanphong.deploy.local.config import StackConfig
from vanphong.deploy.local.keycloak import Keycloak, KeycloakConfig
from vanphong.deploy.local.postgres import Postgres
from vanphong.deploy.local.secure import SecureCluster
from vanphong.deploy.local.state import read_state
from vanphong.ground.settings import Settings, get_settings

EXIT_NOT_RUNNING = 3


@dataclass(frozen=True)
class StackStatus:
    kafka: ComponentStatus
    postgres: ComponentStatus
    registry: ComponentStatus | None = None  # None: VANPHONG_STACK_REGISTRY=false
    # the secure cluster's nodes (`up --secure`, deploy/local/secure.py), if it was started
    cluster: tuple[ComponentStatus, ...] = ()
    # False when only the secure cluster was started: the plain broker is then not expected
    plain: bool = True
    client_env: str = ""  # the secure cluster's settings file (paths only: no secret here)
    keycloak: ComponentStatus | None = None  # only once `up --keycloak` started it

    @property
    def components(self) -> tuple[ComponentStatus, ...]:
        registry = () if self.registry is None else (self.registry,)
        keycloak = () if self.keycloak is None else (self.keycloak,)
        return (self.kafka, self.postgres, *registry, *keycloak, *self.cluster)

    @property
    def mode(self) -> str:
        """plain (1 broker), secure (N brokers), or both side by side."""
        secure = f"secure ({len(self.cluster)} brokers, SASL_SSL)" if self.cluster else ""
        if self.plain and secure:
            return f"plain (1 broker) + {secure}"
        return secure or "plain (1 broker)"

    @property
    def ok(self) -> bool:
        # Keycloak is optional (`up --keycloak`): shown, but the stack is up without it
        expected = [
            c
            for c in self.components
            if (self.plain or c is not self.kafka) and c is not self.keycloak
        ]
        return all(c.running for c in expected)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else EXIT_NOT_RUNNING


def stack_status(settings: Settings | None = None) -> StackStatus:
    """The state of both components, without printing anything."""
    settings = settings or get_settings()
    cfg = StackConfig.from_settings(settings)
    paths = cfg.paths
    state = read_state(paths)
    kafka = KafkaBroker(cfg)
    pg = Postgres(cfg, Console(stderr=True, quiet=True))
    reg = Apicurio(RegistryConfig.from_settings(settings, paths))
    kc = Keycloak(KeycloakConfig.from_settings(settings, paths))
    sp = SecurePaths(paths)
    cluster = SecureCluster(cfg).status(state)
    return StackStatus(
        kafka=kafka.status(state),
        postgres=pg.status(state),
        registry=reg.status(state) if reg.cfg.enabled else None,
        cluster=cluster,
        plain="kafka" in state or not cluster,
        client_env=str(sp.env_file(ADMIN_USER)) if cluster else "",
        keycloak=kc.status(state) if "keycloak" in state else None,
    )


def running_line(st: StackStatus) -> str:
    return ", ".join(f"{c.name} (pid {c.pid}) at {c.address}" for c in st.components)


def status(*, settings: Settings | None = None, console: Console | None = None) -> int:
    """Print each component's state; return 0 if all run, 3 otherwise."""
    console = console or Console()
    st = stack_status(settings)
    console.print(Text(f"mode: {st.mode}"))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("component", "state", "pid", "address"):
        table.add_column(column, no_wrap=True)
    for comp in st.components:
        table.add_row(
            comp.name,
            Text("running", style="green") if comp.running else Text("stopped", style="red"),
            str(comp.pid) if comp.pid else "-",
            comp.address,
        )
    console.print(table)
    for comp in st.components:
        if comp.detail:
            label = "log" if comp.running else "note"
            console.print(Text(f"{comp.name} {label}: {comp.detail}"), soft_wrap=True)
    if st.client_env:
        console.print(Text(f"secure cluster settings: set -a; . {st.client_env}; set +a"))
    return st.exit_code
