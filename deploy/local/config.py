"""The local stack's configuration: versions, addresses and paths derived from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vanphong.deploy.local.errors import StackError
from vanphong.ground.dsn import DsnError, Host, parse_dsn
from vanphong.ground.settings import Settings, get_settings

KAFKA_VERSION = "4.1.2"
PG_MAJOR = 15


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LISTEN_HOST = "127.0.0.1"

#: The plain broker's port when VANPHONG_KAFKA_BOOTSTRAP names the secure cluster instead.
PLAIN_KAFKA_PORT = 9092

DEFAULT_TIMEOUT = 120.0  # for both services to accept clients once launched
STOP_TIMEOUT = 60.0


def secure_client_port(node: int) -> int:
    """The secure cluster's SASL_SSL listener of node ``node`` (1-based): 19192, 19292, …
    (deploy/local/cluster.py; its controller listens on the next port)."""
    return 19092 + 100 * node


SECURE_CLIENT_PORTS = frozenset(secure_client_port(n) for n in range(1, 10))


@dataclass(frozen=True)
class PgTarget:
    """Where and as whom the workers log in (from ``VANPHONG_DATABASE_URL``). ``host`` and
    ``port`` are the URL's first host, where the local stack runs its one PostgreSQL; ``others``
    the rest of a multi-host URL (CONTRACT.md §1), which the stack only checks are local."""

    host: str
    port: int
    user: str
    password: str
    database: str
    others: tuple[Host, ...] = ()


def parse_database_url(url: str) -> PgTarget:
    try:
        dsn = parse_dsn(url)
    except DsnError as exc:
        raise StackError(
            f"VANPHONG_DATABASE_URL {exc}",
            hint="use postgresql://vanphong:vanphong@127.0.0.1:5432/vanphong",
        ) from None
    user = dsn.user or "vanphong"
    if not dsn.password:
        raise StackError(
            "VANPHONG_DATABASE_URL has no password; the local stack uses password auth on TCP",
            hint="use postgresql://vanphong:vanphong@127.0.0.1:5432/vanphong",
        )
    first, *others = dsn.hosts or (Host(LISTEN_HOST),)
    return PgTarget(
        host=first.name or LISTEN_HOST,
        port=first.port_or_default,
        user=user,
        password=dsn.password,
        database=dsn.database or user,
        others=tuple(others),
    )


def parse_kafka_bootstrap(bootstrap: str) -> tuple[str, int]:
    """Host and port of the first bootstrap server (``host:port[,...]``, ``kafka://`` allowed)."""
    first = bootstrap.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, sep, port = first.rpartition(":")
    if not sep:
        host, port = first, "9092"
    host = host.strip("[]") or LISTEN_HOST
    try:
        return host, int(port)
    except ValueError:
        raise StackError(
            f"VANPHONG_KAFKA_BOOTSTRAP {bootstrap!r} is not host:port",
            hint="use 127.0.0.1:9092",
        ) from None


@dataclass(frozen=True)
class StackPaths:
    """Everything ``up`` writes lives under ``root`` (the stack dir), outside the repository."""

    root: Path

    @property
    def kafka_home(self) -> Path:  # cache of one Kafka version, reusable across stacks
        return self.root / f"kafka-{KAFKA_VERSION}"

    @property
    def libs(self) -> Path:
        return self.kafka_home / "libs"

    @property
    def libs_marker(self) -> Path:
        return self.libs / ".complete"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_logs(self) -> Path:
        return self.kafka_dir / "logs"

    @property
    def kafka_log(self) -> Path:
        return self.kafka_logs / "server.log"

    @property
    def kafka_out(self) -> Path:
        return self.kafka_dir / "kafka.out"

    @property
    def server_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.kafka_dir / "log4j2.properties"

    @property
    def pgdata(self) -> Path:  # the data dir, or a symlink to it (see prepare_pg_dirs)
        return self.root / "pgdata"

    @property
    def pgrun(self) -> Path:  # socket dir and server log, or a symlink to it
        return self.root / "pgrun"

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"


@dataclass(frozen=True)
class StackConfig:
    paths: StackPaths
    kafka_host: str
    kafka_port: int
    controller_port: int
    pg: PgTarget
    database_url: str

    @property
    def bootstrap(self) -> str:
        return f"{LISTEN_HOST}:{self.kafka_port}"

    @property
    def pg_address(self) -> str:
        return f"{LISTEN_HOST}:{self.pg.port}"

    @classmethod
    def from_settings(cls, settings: Settings) -> StackConfig:
        host, port = parse_kafka_bootstrap(settings.kafka_bootstrap)
        if port in SECURE_CLIENT_PORTS:
            # the settings of <stack_dir>/secure/client.env: the plain broker keeps its port
            port = PLAIN_KAFKA_PORT
        if host not in LOCAL_HOSTS:
            raise StackError(
                f"VANPHONG_KAFKA_BOOTSTRAP points at {host}, not this machine; the local stack "
                f"only runs a broker on {LISTEN_HOST}",
                hint="unset VANPHONG_KAFKA_BOOTSTRAP (or set 127.0.0.1:9092) to use the local "
                "stack, or leave the stack alone when you use an existing cluster",
            )
        pg = parse_database_url(settings.database_url)
        remote = [h for h in (pg.host, *(o.name for o in pg.others)) if h not in LOCAL_HOSTS]
        if remote:
            raise StackError(
                f"VANPHONG_DATABASE_URL points at {remote[0]}, not this machine; the local stack "
                f"only runs PostgreSQL on {LISTEN_HOST}",
                hint="unset VANPHONG_DATABASE_URL to use the local stack",
            )
        return cls(
            paths=StackPaths(Path(settings.stack_dir).expanduser().absolute()),
            kafka_host=host,
            kafka_port=port,
            controller_port=port + 1,
            pg=pg,
            database_url=settings.database_url,
        )


def reporting_database_url(settings: Settings | None = None) -> str:
    """The reporting role's URL (CONTRACT.md §1), as the read side derives it
    (:meth:`Settings.reporting_database`: ``VANPHONG_REPORTING_DATABASE_URL`` honoured)."""
    return (settings or get_settings()).reporting_database()[0]
