"""One typed settings object, read from the environment at the edge.

Every command reads the same variables (CONTRACT.md §1), so pointing them at another cluster
and database is all it takes to leave the local stack. A bad value fails at start, naming the
variable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of every vanphong command (``VANPHONG_*`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="VANPHONG_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql://vanphong:vanphong@127.0.0.1:5432/vanphong"
    timezone: str = "Asia/Ho_Chi_Minh"
    topic_prefix: str = Field(default="vanphong", pattern=r"^[A-Za-z0-9._-]+$")
    web_port: int = Field(default=6066, ge=1, le=65535)
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
    stack_dir: str = "~/.cache/vanphong"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

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

    def topic(self, name: str) -> str:
        """The full topic name of a contract topic name such as ``document-issued.v1``."""
        return f"{self.topic_prefix}.{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
