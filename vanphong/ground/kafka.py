"""The Kafka clients every command, the worker and the tests make: how to connect, and why not.

Input topics are always read ``read_committed`` (CONTRACT.md §3: producers may publish inside
Kafka transactions, and only committed records count): a consumer made here never sees a record
of an aborted or still open transaction, and its ``end_offsets`` are the *last stable offsets*
(what a committed reader can reach), not the high watermarks.

A client that cannot start because the brokers refuse its security settings fails with
:class:`KafkaAccessError` naming the setting to fix (:func:`start_client`). That error lives
here, with the clients, because they raise it first; the modules above raise it too:
vanphong/ground/kafka_access.py (the permissions the brokers' ACLs refuse) and
vanphong/ground/unreachable.py. Topic ids (Metadata v12) are in vanphong/ground/kafka_protocol.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from vanphong.ground.settings import Settings

#: Every consumer of input topics reads only committed records (module docstring).
ISOLATION_LEVEL = "read_committed"


def kafka_security(settings: Settings) -> dict[str, Any]:
    """aiokafka's security keyword arguments (``VANPHONG_KAFKA_SECURITY_PROTOCOL`` and the
    ``VANPHONG_KAFKA_SASL_*``/``VANPHONG_KAFKA_SSL_*`` settings): the one place every client we
    create, faust's included (streams/app.py), learns how to connect.

    The result holds the SASL password: hand it to a client, never log or show it.
    """
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile or None,
            certfile=settings.kafka_ssl_certfile or None,
            keyfile=settings.kafka_ssl_keyfile or None,
        )
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_secret()
    return kwargs


def kafka_client_kwargs(settings: Settings) -> dict[str, Any]:
    """Where and how to connect: ``bootstrap_servers`` and :func:`kafka_security`'s arguments,
    for any aiokafka client (``AIOKafkaProducer(**kafka_client_kwargs(settings), acks=...)``)."""
    return {"bootstrap_servers": settings.kafka_bootstrap, **kafka_security(settings)}


class KafkaAccessError(KafkaConnectionError):
    """The brokers answer, but not to these security settings: ``detail`` says what they
    refused and ``hint`` names the setting to fix. A :class:`KafkaConnectionError`, so whatever
    handles an unreachable Kafka handles it too (vanphong/ground/unreachable.py)."""

    def __init__(self, detail: str, hint: str) -> None:
        self.detail = detail
        self.hint = hint
        super().__init__(f"{detail}; {hint}")


def security_problem(exc: BaseException, settings: Settings) -> KafkaAccessError | None:
    """What a failed connection says about the security settings, if anything (a refused or
    unresolvable address says nothing: that is an unreachable Kafka, reported as such)."""
    protocol = settings.kafka_security_protocol
    mechanism = settings.kafka_sasl_mechanism
    if isinstance(exc, SaslAuthenticationFailed):
        return KafkaAccessError(
            f"the brokers refused the SASL login of {settings.kafka_sasl_username!r} ({mechanism})",
            "check VANPHONG_KAFKA_SASL_USERNAME and VANPHONG_KAFKA_SASL_PASSWORD "
            "(or VANPHONG_KAFKA_SASL_PASSWORD_FILE)",
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return KafkaAccessError(
            f"the brokers do not offer the SASL mechanism {mechanism}",
            "check VANPHONG_KAFKA_SASL_MECHANISM",
        )
    if isinstance(exc, IllegalSaslStateError):
        return KafkaAccessError(
            f"the brokers' listener does not expect SASL ({protocol})",
            "check VANPHONG_KAFKA_SECURITY_PROTOCOL",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return KafkaAccessError(
            f"the brokers' TLS certificate did not verify ({exc.verify_message})",
            "check VANPHONG_KAFKA_SSL_CAFILE (the CA that signed the brokers' certificates)",
        )
    if isinstance(exc, ssl.SSLError):
        return KafkaAccessError(
            f"the TLS handshake failed ({exc.reason or exc})",
            "check VANPHONG_KAFKA_SECURITY_PROTOCOL, VANPHONG_KAFKA_SSL_CERTFILE and "
            "VANPHONG_KAFKA_SSL_KEYFILE",
        )
    if protocol in ("SSL", "SASL_SSL") and isinstance(exc, ConnectionResetError):
        return KafkaAccessError(
            "the brokers dropped the TLS handshake: the listener may not speak TLS",
            "check VANPHONG_KAFKA_SECURITY_PROTOCOL",
        )
    if (
        protocol in ("PLAINTEXT", "SASL_PLAINTEXT")
        and isinstance(exc, KafkaConnectionError)
        and "closed" in str(exc)
    ):
        return KafkaAccessError(
            f"the brokers closed the connection before answering: the listener may want TLS "
            f"or SASL, not {protocol}",
            "check VANPHONG_KAFKA_SECURITY_PROTOCOL",
        )
    return None


async def diagnose(settings: Settings, timeout_s: float = 10.0) -> KafkaAccessError | None:
    """Connect to each bootstrap server alone (aiokafka's bootstrap error hides why it failed);
    the first refusal of the security settings, or None if one server accepts them or none
    answers at all."""
    security = kafka_security(settings)
    found: KafkaAccessError | None = None
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            continue
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host.strip("[]"),
                    int(port),
                    request_timeout_ms=int(timeout_s * 1000),
                    **security,
                ),
                timeout_s,
            )
        except Exception as exc:
            found = found or security_problem(exc, settings)
            continue
        conn.close()
        return None
    return found


async def start_client(client: Any, settings: Settings) -> None:
    """``await client.start()`` for any aiokafka client; when it cannot bootstrap, find out
    whether the security settings are why and raise :class:`KafkaAccessError` naming the one to
    fix, fast, rather than the bare "Unable to bootstrap"."""
    try:
        await client.start()
    except KafkaConnectionError:
        problem = await diagnose(settings)
        if problem is None:
            raise
        with contextlib.suppress(Exception):
            await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
        raise problem from None


@asynccontextmanager
async def standalone_consumer(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer outside any group, for reading end offsets and topic tails; ``read_committed``
    (module docstring).

    aiokafka 0.14.0 starts a background task in ``start()`` that, if cancelled before it ever
    ran, makes ``stop()`` raise ``CancelledError``; yielding to the loop once lets it start.
    """
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        isolation_level=ISOLATION_LEVEL,
    )
    try:
        await start_client(consumer, settings)
        await asyncio.sleep(0)
        yield consumer
    finally:
        await asyncio.sleep(0)
        await consumer.stop()


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))
    await start_client(admin, settings)
    try:
        yield admin
    finally:
        await admin.close()


async def partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Topic → number of partitions, for those of ``names`` that exist."""
    present = set(await admin.list_topics())
    asked = [n for n in names if n in present]
    if not asked:
        return {}
    described = await admin.describe_topics(asked)
    return {d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code")}
