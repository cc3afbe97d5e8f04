"""One typed settings object, read from the environment at the edge.

Every command reads the same variables (CONTRACT.md §1), so pointing them at another cluster
and database is all it takes to leave the local stack. A bad value fails at start, naming the
variable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vanphong.ground.dsn import DsnError, Host, parse_dsn
from vanphong.schemas.known import KnownSchemas, load_known_schemas
from vanphong.schemas.versions import extra_schema_dirs as parse_schema_dirs

#: The read side's role (CONTRACT.md §1); the local stack gives it this name as its password.
REPORTING_ROLE = "vanphong_reporting"
REPORTING_PASSWORD = "vanphong_reporting"


class Settings(BaseSettings):
    """Configuration of every vanphong command (``VANPHONG_*`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="VANPHONG_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    # How every Kafka client connects: the worker (faust's clients too) and every command
    # (vanphong/ground/kafka.py, kafka_security). SASL needs a username and a password, given
    # inline or (better: not in the environment) as a file; TLS verifies the brokers against
    # the CA file (the system's CAs if empty), with a client certificate and key for mutual TLS.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_sasl_password_file: str = ""
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    database_url: str = "postgresql://vanphong:vanphong@127.0.0.1:5432/vanphong"
    timezone: str = "Asia/Ho_Chi_Minh"
    topic_prefix: str = Field(default="vanphong", pattern=r"^[A-Za-z0-9._-]+$")
    # 0: the OS chooses a free port; the worker logs it, and writes it to web_port_file if set
    # (for supervisors and tests that start many workers on one host).
    web_port: int = Field(default=6066, ge=0, le=65535)
    web_port_file: str = ""
    # The worker's metrics/health/operator page listen here; 0.0.0.0 to expose them.
    web_host: str = "127.0.0.1"
    stall_seconds: float = Field(default=60.0, gt=0)
    log_format: str = Field(default="console", pattern=r"^(console|json)$")
    log_level: str = "INFO"
    # How long the group waits for a silent worker before moving its partitions elsewhere: a
    # SIGKILLed worker's partitions stall this long. Kafka accepts 6–1800 s by default.
    session_timeout_s: float = Field(default=30.0, ge=6, le=1800)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    # A batch is what gathered while the writer's previous transaction ran, at most this many;
    # a part-full one waits up to batch_max_wait_s for more (streams/backlog.py).
    batch_max_events: int = Field(default=4000, ge=1)
    batch_max_wait_s: float = Field(default=0.05, ge=0, le=10)
    # Transactions in flight at once, each for a fixed share of the partitions (partition number
    # modulo writers): one is planned in Python while the other is in PostgreSQL.
    writers: int = Field(default=2, ge=1, le=16)
    # Failures with bounds (streams/write_policy.py, vanphong/core/safetynet.py). A race between
    # two writers (unique violation on a new entity, deadlock, serialization failure) is retried
    # this many times, then counts as deterministic; a deterministic failure that is the system's
    # is retried this many times (backoff 0.2 s doubling to 10 s), then the worker exits non-zero.
    contention_retries: int = Field(default=10, ge=0, le=1000)
    fault_retries: int = Field(default=5, ge=0, le=1000)
    # The dead-letter relay (streams/deadletters.py): a deadline on every Kafka call, at most
    # this many dead letters per dead-letter partition and round, a round this often (and after
    # every commit with dead letters).
    relay_timeout_s: float = Field(default=10.0, gt=0, le=600)
    relay_batch: int = Field(default=500, ge=1, le=100_000)
    relay_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # How soon the worker notices partitions added to a topic (aiokafka's metadata refresh,
    # 5 minutes by default) and a topic deleted and created again without a rebalance (the
    # topic ids are compared as often): streams/transport.py, vanphong/core/positions.py.
    metadata_max_age_s: float = Field(default=30.0, ge=1, le=3600)
    # How soon a worker with nothing to read finds that PostgreSQL went back in time (failover,
    # restore): each idle partition's position is checked against the stored offset this often
    # (a heartbeat mark, vanphong/core/batch.py). Busy partitions are checked at every batch.
    fence_interval_s: float = Field(default=5.0, gt=0, le=3600)
    stack_dir: str = "~/.cache/vanphong"
    # More schema versions beside the shipped schemas/v*/: directories separated by ":", each
    # laid out like schemas/ (v<N>/<Record>.avsc), e.g. so that a worker reads a version that is
    # not shipped yet before `dlq replay` (docs/operations.md). Read through schema_registry().
    extra_schemas_dir: str = ""
    # A Schema Registry (Confluent API, e.g. Apicurio's /apis/ccompat/v7) for messages in the
    # Confluent wire format (00 + schema id): none by default, and then such a message is
    # dead-lettered unknown_schema. Basic auth when a username is set; a CA file for https.
    schema_registry_url: str = ""
    schema_registry_username: str = ""
    schema_registry_password: SecretStr = SecretStr("")
    schema_registry_ca_file: str = ""
    schema_registry_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # The local stack's Apicurio Registry (deploy/local/apicurio.py): `stack up` starts it unless
    # false, on these loopback ports (its HTTP API and its management/health interface).
    stack_registry: bool = True
    stack_registry_port: int = Field(default=8081, ge=1, le=65535)
    stack_registry_management_port: int = Field(default=9001, ge=1, le=65535)
    # The read side (`vanphong report`, `vanphong serve`) connects as the reporting role, never
    # as the worker's. Empty: the role vanphong_reporting (the local stack's password) on
    # database_url's server and database (Settings.reporting_database).
    reporting_database_url: str = ""
    # The reporting page (`vanphong serve`): 0 lets the OS choose a free port, written to
    # serve_port_file if set (for supervisors and tests).
    serve_host: str = "127.0.0.1"
    serve_port: int = Field(default=6070, ge=0, le=65535)
    serve_port_file: str = ""
    # Who is looking (vanphong/reporting/page/auth.py): OpenID Connect when oidc_issuer is set (the
    # local stack's Keycloak: http://127.0.0.1:8180/realms/vanphong). Sessions are signed and
    # encrypted cookies, valid for serve_session_max_age_s, under serve_session_secret (empty: a
    # random one per process, so a restart logs everyone out). serve_public_url is the page's
    # address as people reach it (behind a TLS proxy: https://..., which makes cookies Secure);
    # empty: the address the request came to.
    oidc_issuer: str = ""
    oidc_client_id: str = "vanphong-page"
    oidc_client_secret: SecretStr = SecretStr("")
    serve_session_secret: SecretStr = SecretStr("")
    serve_session_max_age_s: int = Field(default=8 * 3600, ge=60, le=30 * 86400)
    serve_public_url: str = ""
    # The local stack's Keycloak (deploy/local/keycloak.py), started by `stack up --keycloak`.
    stack_keycloak_port: int = Field(default=8180, ge=1, le=65535)
    stack_keycloak_management_port: int = Field(default=9180, ge=1, le=65535)

    @field_validator("database_url", "reporting_database_url")
    @classmethod
    def _libpq_url(cls, value: str) -> str:
        """A libpq URL, one host or several (vanphong/ground/dsn.py); wrong, it fails here."""
        if value:
            try:
                parse_dsn(value)
            except DsnError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("extra_schemas_dir")
    @classmethod
    def _existing_schema_dirs(cls, value: str) -> str:
        try:
            parse_schema_dirs(value)
        except RuntimeError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("schema_registry_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("schema_registry_ca_file")
    @classmethod
    def _existing_file(cls, value: str) -> str:
        if value and not Path(value).expanduser().is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @field_validator(
        "kafka_sasl_password_file", "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"
    )
    @classmethod
    def _readable_file(cls, value: str) -> str:
        if value and not Path(value).expanduser().is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> Settings:
        """What a security protocol needs is there, and nothing contradicts it (named by the
        variable to set)."""
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL"):
            if not self.kafka_sasl_username:
                raise ValueError(
                    f"VANPHONG_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                    "VANPHONG_KAFKA_SASL_USERNAME"
                )
            inline = bool(self.kafka_sasl_password.get_secret_value())
            if inline == bool(self.kafka_sasl_password_file):
                raise ValueError(
                    f"VANPHONG_KAFKA_SECURITY_PROTOCOL={protocol} needs exactly one of "
                    "VANPHONG_KAFKA_SASL_PASSWORD and VANPHONG_KAFKA_SASL_PASSWORD_FILE"
                )
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("VANPHONG_KAFKA_SSL_KEYFILE needs VANPHONG_KAFKA_SSL_CERTFILE")
        tls_files = self.kafka_ssl_cafile or self.kafka_ssl_certfile
        if tls_files and protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(
                "VANPHONG_KAFKA_SSL_* files are set but VANPHONG_KAFKA_SECURITY_PROTOCOL is "
                f"{protocol}: use SSL or SASL_SSL"
            )
        return self

    def kafka_sasl_secret(self) -> str:
        """The SASL password: inline, or read from its file now (so a rotated file is read by
        the next client). Never logged: callers hand it to the client only."""
        if self.kafka_sasl_password_file:
            path = Path(self.kafka_sasl_password_file).expanduser()
            try:
                return path.read_text().strip()
            except OSError as exc:
                raise RuntimeError(
                    f"VANPHONG_KAFKA_SASL_PASSWORD_FILE {path} cannot be read: {exc.strerror}"
                ) from None
        return self.kafka_sasl_password.get_secret_value()

    @property
    def extra_schema_dirs(self) -> tuple[Path, ...]:
        """The directories of ``extra_schemas_dir``, in order."""
        return tuple(parse_schema_dirs(self.extra_schemas_dir))

    def known_schemas(self) -> KnownSchemas:
        """The schema versions these settings read and write with: the shipped ones plus the
        extra directories. Built on first use and shared by every caller naming the same
        directories (schemas/ reads no environment: the directories are passed in here)."""
        return load_known_schemas(self.extra_schema_dirs)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def worker_data_dir(self) -> Path:
        """faust's data directory (it holds nothing but faust's own bookkeeping: no tables)."""
        return Path(self.stack_dir).expanduser() / "worker-data" / self.topic_prefix

    @property
    def consumer_group(self) -> str:
        """Derived from the prefix so two prefixes on one cluster never share offsets."""
        return f"{self.topic_prefix}-worker"

    def reporting_database(self) -> tuple[str, str]:
        """The reporting role's database URL, and the variable a person fixes when it is wrong:
        ``VANPHONG_REPORTING_DATABASE_URL`` when set, else the role ``vanphong_reporting``
        (password the local stack's) on ``VANPHONG_DATABASE_URL``'s servers and database, every
        host and parameter kept (a multi-host URL's ``target_session_attrs`` too: the read side
        follows the primary like the worker). A URL with no host means 127.0.0.1, and one with
        no database the worker's user's (libpq's default for the worker, not for the role).
        The one place both the read side and the local stack derive it."""
        if self.reporting_database_url:
            return self.reporting_database_url, "VANPHONG_REPORTING_DATABASE_URL"
        dsn = parse_dsn(self.database_url)
        if not dsn.hosts and dsn.param("host") is None:
            dsn = dsn.with_hosts(Host("127.0.0.1"))
        if dsn.database is None and dsn.user:
            dsn = dsn.with_database(dsn.user)
        login = dsn.with_login(REPORTING_ROLE, REPORTING_PASSWORD)
        return login.render(), "VANPHONG_DATABASE_URL"

    def topic(self, name: str) -> str:
        """The full topic name of a contract topic name such as ``document-issued.v1``."""
        return f"{self.topic_prefix}.{name}"


class SettingsError(ValueError):
    """Bad ``VANPHONG_*`` values, described without the values themselves: pydantic's own
    message repeats every input, passwords included."""


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        name = f"VANPHONG_{where.upper()}: " if where else ""
        lines.append(f"{name}{error['msg']}")
    return "bad settings:\n  " + "\n  ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process's command. Every entry point gets its settings here before
    anything else. With extra schema directories, their registry is built now, so that a bad
    schema fails at start; it changes nothing process-wide: whoever reads or writes with it is
    handed :meth:`Settings.schema_registry` (vanphong/schemas/codec.py)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    if settings.extra_schema_dirs:
        settings.known_schemas()
    return settings
