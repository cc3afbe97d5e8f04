"""The faust app around the worker's runtime (streams/runtime.py): the batch consumer, one
subscription per event type, logging, and the worker's main.

faust supplies the consumer group, rebalances and the worker's service tree; everything between a
fetch and a commit is :class:`~vanphong.streams.runtime.Runtime`'s. No faust tables, no faust
agents'
per-message machinery: the consumer hands whole fetches over (streams/transport.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any, cast

import faust
import structlog
from faust.sensors.monitor import Monitor as FaustMonitor
from faust.types import Message

from vanphong.ground.kafka import diagnose, kafka_security
from vanphong.ground.kafka_access import worker_access
from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.streams.monitor import TP, Monitor
from vanphong.streams.runtime import Runtime
from vanphong.streams.transport import BatchApp, BatchConsumer
from vanphong.streams.web import WebServer


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """faust's form of the Kafka security settings (vanphong.ground.kafka.kafka_security, the
    one translation): faust hands them to the consumer, the producer and its admin client
    (faust/transport/drivers/aiokafka.py, ``credentials_to_aiokafka_auth``). None: PLAINTEXT."""
    security = kafka_security(settings)
    protocol = security["security_protocol"]
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(security["ssl_context"])
    # SASL: faust picks SASL_SSL when given a TLS context, SASL_PLAINTEXT otherwise
    return faust.SASLCredentials(
        username=security["sasl_plain_username"],
        password=security["sasl_plain_password"],
        ssl_context=security.get("ssl_context"),
        mechanism=security["sasl_mechanism"],
    )


class _QuietFaustMonitor(FaustMonitor):
    """faust's main sensor without its per-message bookkeeping.

    faust's Monitor records every message in and out for its own web pages and statistics,
    which vanphong does not use (streams/monitor.py counts per batch)."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        return None

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: faust.StreamT, event: faust.EventT
    ) -> dict[str, Any] | None:
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: faust.StreamT,
        event: faust.EventT,
        state: dict[str, Any] | None = None,
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        return None


def create_app(settings: Settings, monitor: Monitor | None = None) -> faust.App:
    """The faust app: subscribed to every input topic, the runtime as a service. ``monitor``
    (created if not given) learns the assignment from the app's consumer once the sink is
    ready."""
    monitor = Monitor(settings) if monitor is None else monitor
    settings.worker_data_dir.mkdir(parents=True, exist_ok=True)  # faust makes only the leaf
    runtime = Runtime(settings, monitor)
    app = BatchApp(
        settings.consumer_group,
        on_fetched=runtime.on_fetched,
        datadir=str(settings.worker_data_dir),  # faust's default is the current directory
        broker=_broker_urls(settings.kafka_bootstrap),
        broker_credentials=broker_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        # faust's web stack (table pages) stays off, and is given no port (it refuses 0):
        # streams/web.py serves VANPHONG_WEB_PORT instead.
        web_enabled=False,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_max_poll_records=settings.batch_max_events,
        # How soon added partitions are noticed (a rebalance assigns them); the consumer thread
        # compares topic ids as often (streams/transport.py). aiokafka's default is 5 minutes.
        consumer_metadata_max_age_ms=int(settings.metadata_max_age_s * 1000),
        topic_check_s=settings.metadata_max_age_s,
        fence_check_s=settings.fence_interval_s,
        producer_acks=-1,
    )
    app.monitor = _QuietFaustMonitor()
    runtime.app = app
    app.service(runtime)  # type: ignore[arg-type]  # faust takes an instance too
    # A consumer found ahead of PostgreSQL goes back (vanphong/core/positions.py).
    monitor.rewind = lambda offsets: cast(BatchConsumer, app.consumer).rewind(offsets)

    def assignment() -> set[TP]:
        # The sink starts after faust's first rebalance; before that the consumer may not exist.
        if not runtime.ready.is_set():
            return set()
        return {(tp.topic, tp.partition) for tp in app.consumer.assignment()}

    monitor.assignment = assignment
    for event_type in EVENT_TYPES:
        _subscribe(app, settings, event_type)
    return app


def _subscribe(app: faust.App, settings: Settings, event_type: EventType) -> None:
    """Subscribe the consumer to the type's topic. ``acks=False``: faust tracks no acks for it,
    the Runtime commits (and faust's ack-based stall warnings stay quiet)."""
    topic = app.topic(
        settings.topic(event_type.topic),
        key_serializer="raw",
        value_serializer="raw",
        partitions=event_type.partitions,
        acks=False,
    )
    app.topics.add(topic)


def logging_config(settings: Settings) -> dict[str, Any] | None:
    """With ``VANPHONG_LOG_FORMAT=json``, the standard library's records (faust, mode, aiokafka)
    become JSON lines too, rendered by structlog like vanphong's own; ``None`` keeps faust's
    console format."""
    if settings.log_format != "json":
        return None
    level = logging.getLevelName(settings.log_level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": [
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                ],
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(ensure_ascii=False),
                ],
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def tune_garbage_collector() -> None:
    """Collect young objects every 50,000 allocations instead of 700.

    A batch allocates a few dicts and tuples per event that all die together when it is
    written; with the default threshold the collector ran every few dozen events and walked the
    whole backlog each time (about 15 % of the worker's CPU, docs/performance.md). What was
    allocated at start-up (modules, faust's objects) is frozen out of the collector's view."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


#: The worker's exit status when the brokers refuse its security settings (no retry helps).
EXIT_KAFKA_REFUSED = 3


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (faust's Worker handles the signals).

    The monitor and the web server start before the app and stop after it. Brokers that
    refuse the security settings (a wrong password, an unknown CA, another protocol) or whose
    ACLs deny what the worker needs stop it before it starts, naming the setting or permission
    to fix; unreachable brokers are faust's to wait for.
    """
    refused = asyncio.run(diagnose(settings)) or asyncio.run(worker_access(settings))
    if refused is not None:
        get_logger("vanphong.worker").error(
            "kafka_refuses_this_client",
            bootstrap=settings.kafka_bootstrap,
            detail=refused.detail,
            hint=refused.hint,
        )
        raise SystemExit(EXIT_KAFKA_REFUSED)
    tune_garbage_collector()
    monitor = Monitor(settings)
    app = create_app(settings, monitor)
    web = WebServer(settings, monitor)
    json_logs = settings.log_format == "json"
    worker = faust.Worker(
        app,
        monitor,
        web,
        loglevel=settings.log_level.lower(),
        logging_config=logging_config(settings),
        quiet=json_logs,  # no banner on stdout: every line is JSON
    )
    worker.execute_from_commandline()
