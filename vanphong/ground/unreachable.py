"""Errors for a service a command cannot ask: which one (Kafka, PostgreSQL), where, and what to
check. Shared by the commands that talk to both (``vanphong status``, ``vanphong dlq``, the
command line), so it sits on the ground floor and imports nothing of theirs; database URLs are
shown without their password (:func:`redact`).
"""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError, NodeNotReadyError

from vanphong.ground.dsn import DsnError, parse_dsn
from vanphong.ground.kafka import KafkaAccessError
from vanphong.ground.kafka_access import authorization_problem
from vanphong.ground.settings import Settings, get_settings

#: How long a command waits for an answer before it calls the service unreachable.
KAFKA_TIMEOUT_S = 20.0
PG_TIMEOUT_S = 10.0


class Unreachable(RuntimeError):
    """Kafka and/or PostgreSQL cannot be asked; the message names which, and what to check."""

    def __init__(
        self,
        component: str,
        where: str,
        detail: str,
        hint: str | None = None,
        state: str = "is unreachable",
    ) -> None:
        self.components = [component]
        variable = "VANPHONG_KAFKA_BOOTSTRAP" if component == "Kafka" else "VANPHONG_DATABASE_URL"
        hint = hint or f"is it running? Locally: `vanphong stack up`; elsewhere check {variable}"
        self.lines = [f"{component} at {where} {state}: {detail}; {hint}"]
        super().__init__("\n".join(self.lines))

    @classmethod
    def both(cls, first: Unreachable, second: Unreachable) -> Unreachable:
        combined = cls.__new__(cls)
        combined.components = first.components + second.components
        combined.lines = first.lines + second.lines
        RuntimeError.__init__(combined, "\n".join(combined.lines))
        return combined


def redact(url: str) -> str:
    """A database URL without its password, for messages (every host of a multi-host URL)."""
    try:
        return parse_dsn(url).redacted()
    except DsnError:
        return "<unparsable URL>"


def database_error(exc: BaseException, url: str) -> Unreachable:
    """The :class:`Unreachable` to raise for an error talking to PostgreSQL."""
    where = redact(url)
    if isinstance(exc, asyncpg.UndefinedTableError):
        return Unreachable(
            "PostgreSQL", where, f"{exc}", "run `vanphong init`", state="is not initialised"
        )
    if isinstance(
        exc, asyncpg.InvalidCatalogNameError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return Unreachable("PostgreSQL", where, f"{exc}", "check VANPHONG_DATABASE_URL")
    if isinstance(exc, OSError) and exc.strerror:
        detail = exc.strerror.lower()
    elif isinstance(exc, TimeoutError):
        detail = "no answer in time"
    else:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Unreachable("PostgreSQL", where, detail)


def _command_settings() -> Settings | None:
    """The settings the command runs with, to name its principal; None if they cannot load."""
    try:
        return get_settings()
    except ValueError:
        return None


def kafka_error(exc: BaseException, bootstrap: str) -> Unreachable:
    """The :class:`Unreachable` to raise for an error talking to Kafka."""
    denied = authorization_problem(exc, _command_settings())  # a missing ACL: name it
    if denied is not None:
        exc = denied
    if isinstance(exc, KafkaAccessError):  # the brokers answer, but refuse these settings
        return Unreachable("Kafka", bootstrap, exc.detail, exc.hint, state="refuses this client")
    if isinstance(exc, NodeNotReadyError):  # one broker of several, not the cluster
        return Unreachable(
            "Kafka",
            bootstrap,
            "a broker it asked did not answer (a node down or restarting)",
            "the others take over its partitions within seconds: try again",
            state="is missing a broker",
        )
    if isinstance(exc, KafkaConnectionError):
        detail = "no broker accepts connections"
    elif isinstance(exc, TimeoutError):
        detail = "no answer in time"
    else:
        text = str(exc)
        detail = text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"
    return Unreachable("Kafka", bootstrap, detail)


#: What asking PostgreSQL or Kafka raises when the service, not our code, is the problem.
DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
KAFKA_ERRORS = (KafkaError, OSError, TimeoutError)
