"""Small Kafka helpers shared by commands, the worker and tests.

Input topics are always read ``read_committed`` (CONTRACT.md §3: producers may publish inside
Kafka transactions, and only committed records count): a consumer made here never sees a record
of an aborted or still open transaction, and its ``end_offsets`` are the *last stable offsets*
(what a committed reader can reach), not the high watermarks.

Topic ids: Kafka gives every topic a UUID at creation, so a topic deleted and created again
under the same name has a new id (docs/operations.md, "Offsets that go backwards or jump").
aiokafka 0.14 speaks Metadata up to v5, which has no topic ids (they came with v10), and its
admin client's ``describe_topics`` uses that request; :func:`topic_ids` sends the smallest
request that carries them, Metadata v12 (Kafka 3.1 and later), through aiokafka's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.admin import DescribeGroupsRequest_v3, DescribeGroupsResponse_v3
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    AbstractType,
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from schemas.catalog import DEAD_LETTER_TOPIC, EVENT_TYPES
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


# --- topic ids: Metadata v12 ------------------------------------------------------------------


@dataclass(frozen=True)
class TopicInfo:
    """What the broker says about a topic now."""

    topic_id: str  # the UUID, as text
    partitions: int


class _Uuid(AbstractType[bytes]):
    """Kafka's UUID: 16 raw bytes."""

    @classmethod
    def encode(cls, value: bytes) -> bytes:
        return value

    @classmethod
    def decode(cls, data: BytesIO) -> bytes:
        value = data.read(16)
        if len(value) != 16:
            raise ValueError("Buffer underrun decoding a UUID")
        return value


class _MetadataResponseV12(Response):
    API_KEY = 3
    API_VERSION = 12
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", CompactString("utf-8")),
                ("port", Int32),
                ("rack", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", CompactString("utf-8")),
                ("topic_id", _Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _MetadataRequestV12(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 12
    RESPONSE_TYPE = _MetadataResponseV12
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)
            ),
        ),
        ("allow_auto_topic_creation", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _TopicIdsRequest(Request[_MetadataRequestV12]):
    """Metadata of named topics, never creating one."""

    API_KEY = 3

    def __init__(self, topics: Sequence[str], authorized_operations: bool = False) -> None:
        self._topics = list(topics)
        self._authorized_operations = authorized_operations

    def build(self, request_struct_class: type[_MetadataRequestV12]) -> _MetadataRequestV12:
        return request_struct_class(
            [(bytes(16), t, {}) for t in self._topics], False, self._authorized_operations, {}
        )


async def topic_ids(client: AIOKafkaClient, topics: Sequence[str]) -> dict[str, TopicInfo]:
    """Topic → its id and partition count, for those of ``topics`` that exist.

    ``client`` is an aiokafka client that is started (a consumer's or an admin client's
    ``_client``). Raises ``NotImplementedError`` on a broker without Metadata v12 (before Kafka
    3.1), aiokafka's errors when the broker cannot be asked."""
    if not topics:
        return {}
    node = client.get_random_node()
    if node is None:  # no metadata yet: ask for it once
        await client.force_metadata_update()
        node = client.get_random_node()
    response: Any = await client.send(node, _TopicIdsRequest(topics))
    found: dict[str, TopicInfo] = {}
    for error_code, name, raw_id, _internal, partitions, *_ in response.topics:
        if error_code == 0 and name is not None:
            found[name] = TopicInfo(str(uuid.UUID(bytes=raw_id)), len(partitions))
    return found


async def known_topic_ids(client: AIOKafkaClient, topics: Sequence[str]) -> dict[str, TopicInfo]:
    """:func:`topic_ids`, or none on a broker that cannot tell them (before Kafka 3.1): a
    recreated topic is then recognised by its offsets alone."""
    try:
        return await topic_ids(client, topics)
    except NotImplementedError:
        return {}


# --- permissions: what the brokers' ACLs let this client do ------------------------------------

#: Kafka's ACL operation codes (AclOperation): bit n of an "authorized operations" field.
ACL_OPERATIONS = {"READ": 3, "WRITE": 4, "DESCRIBE": 8}
_GROUP_AUTHORIZATION_FAILED = 30
_TOPIC_AUTHORIZATION_FAILED = 29


class _DescribeGroupsV3(RequestStruct):
    """DescribeGroups v3 with its own response (aiokafka 0.14 parses v3 answers as v2, without
    ``authorized_operations``)."""

    API_KEY = 15
    API_VERSION = 3
    RESPONSE_TYPE = DescribeGroupsResponse_v3
    SCHEMA = DescribeGroupsRequest_v3.SCHEMA


class _GroupOperationsRequest(Request[_DescribeGroupsV3]):
    API_KEY = 15

    def __init__(self, group: str) -> None:
        self._group = group

    def build(self, request_struct_class: type[_DescribeGroupsV3]) -> _DescribeGroupsV3:
        return request_struct_class([self._group], True)


def principal_of(settings: Settings) -> str:
    """Who the brokers see, for messages: the SASL user, else the client certificate."""
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        return f"User:{settings.kafka_sasl_username}"
    if settings.kafka_ssl_certfile:
        return f"the principal of {settings.kafka_ssl_certfile} (User:CN=...)"
    return "User:ANONYMOUS"


def _allowed(bits: int, operation: str) -> bool:
    return bool(bits & (1 << ACL_OPERATIONS[operation]))


async def missing_permissions(
    admin: AIOKafkaAdminClient,
    topics: Mapping[str, Sequence[str]],
    group: tuple[str, Sequence[str]] | None = None,
) -> list[str]:
    """``"READ on topic x"`` for each operation of ``topics`` (name → operations) and ``group``
    the brokers' ACLs do not let this client perform; a topic that does not exist is not
    judged. The brokers say it themselves (the authorized operations of Metadata v12 and
    DescribeGroups v3), so nothing is tried and nothing is changed."""
    client: Any = admin._client
    missing: list[str] = []
    if topics:
        node = client.get_random_node()
        response: Any = await client.send(node, _TopicIdsRequest(list(topics), True))
        for error_code, name, _id, _internal, _partitions, bits, *_ in response.topics:
            if error_code == _TOPIC_AUTHORIZATION_FAILED:
                bits = 0
            elif error_code:
                continue
            missing += [f"{op} on topic {name}" for op in topics[name] if not _allowed(bits, op)]
    if group is not None:
        name, operations = group
        try:
            coordinator = await admin.find_coordinator(name)
            described: Any = await client.send(coordinator, _GroupOperationsRequest(name))
            error_code, bits = described.groups[0][0], described.groups[0][-1]
        except GroupAuthorizationFailedError:
            error_code, bits = _GROUP_AUTHORIZATION_FAILED, 0
        if error_code in (0, _GROUP_AUTHORIZATION_FAILED):
            missing += [f"{op} on group {name}" for op in operations if not _allowed(bits, op)]
    return missing


def _grouped(missing: Sequence[str]) -> list[str]:
    """``["READ on topic a", "DESCRIBE on topic a"]`` → ``["READ, DESCRIBE on topic a"]``."""
    by_resource: dict[str, list[str]] = {}
    for item in missing:
        operation, _, resource = item.partition(" on ")
        by_resource.setdefault(resource, []).append(operation)
    return [f"{', '.join(ops)} on {resource}" for resource, ops in by_resource.items()]


def access_denied(settings: Settings | None, missing: Sequence[str]) -> KafkaAccessError:
    """The error for permissions the brokers' ACLs do not give this client, naming them."""
    who = principal_of(settings) if settings is not None else "this client"
    return KafkaAccessError(
        f"the brokers' ACLs deny {who} {'; '.join(_grouped(missing))}",
        "grant them (a cluster admin: `vanphong init --acls`, docs/operations.md, "
        '"Joining an existing cluster")',
    )


def worker_needs(settings: Settings) -> tuple[dict[str, list[str]], tuple[str, list[str]]]:
    """What the worker does on Kafka: READ its input topics and its group, WRITE the
    dead-letter topic and READ its tail (streams/deadletters.py)."""
    topics = {settings.topic(e.topic): ["READ", "DESCRIBE"] for e in EVENT_TYPES}
    topics[settings.topic(DEAD_LETTER_TOPIC)] = ["READ", "WRITE", "DESCRIBE"]
    return topics, (settings.consumer_group, ["READ", "DESCRIBE"])


async def worker_access(settings: Settings, timeout_s: float = 30.0) -> KafkaAccessError | None:
    """Before the worker starts: the permissions its principal lacks, as an error naming them,
    or None (also when the brokers cannot tell: older than Kafka 3.1)."""
    topics, group = worker_needs(settings)

    async def ask() -> list[str]:
        async with admin_client(settings) as admin:
            return await missing_permissions(admin, topics, group)

    try:
        missing = await asyncio.wait_for(ask(), timeout_s)
    except KafkaAccessError as exc:
        return exc
    except (NotImplementedError, KafkaError, OSError, TimeoutError):
        return None  # brokers that cannot answer now are faust's to wait for
    return access_denied(settings, missing) if missing else None


#: The authorization errors of the brokers: the kind of resource each is about (aiokafka puts
#: the topic or group in the error's message).
_DENIED = {
    "TopicAuthorizationFailedError": "topic",
    "GroupAuthorizationFailedError": "group",
    "ClusterAuthorizationFailedError": "cluster",
    "TransactionalIdAuthorizationFailed": "transactional id",
}


def authorization_problem(
    exc: BaseException, settings: Settings | None = None, operation: str = ""
) -> KafkaAccessError | None:
    """A refused operation (a missing ACL) as a :class:`KafkaAccessError` naming the permission
    to grant; None for any other error. ``operation`` (READ, WRITE, DESCRIBE): what the caller
    was attempting, when it knows."""
    kind = _DENIED.get(type(exc).__name__)
    if kind is None:
        return None
    prefix = f"[Error {getattr(exc, 'errno', '')}] {type(exc).__name__}: "
    names = ", ".join(
        str(a).removeprefix(prefix).removeprefix("Unable to get coordinator id for ")
        for a in exc.args
        if a
    )
    # commands other than the worker only look at groups; topics they read or look at
    wanted = operation or {"group": "DESCRIBE", "topic": "READ or DESCRIBE"}.get(kind, "ALTER")
    resource = f"{kind} {names}".strip() if kind != "cluster" else "the cluster"
    return access_denied(settings, [f"{wanted} ({type(exc).__name__}) on {resource}"])
