"""Permissions: what the brokers' ACLs let this client do, asked before doing it.

The brokers say it themselves (the authorized operations of Metadata v12 and DescribeGroups v3),
so nothing is tried and nothing is changed: the worker checks its principal's permissions before
it starts (:func:`worker_access`, streams/app.py), ``vanphong init --acls`` checks what it
granted (vanphong/acls/), and a refused operation met later is turned into one error
naming the permission to grant (:func:`authorization_problem`, vanphong/ground/unreachable.py).

Apart from vanphong/ground/kafka.py because it sits above it: it needs a started admin client
and the requests of vanphong/ground/kafka_protocol.py (Metadata v12, DescribeGroups v3), while
the clients need only the error both raise, :class:`~vanphong.ground.kafka.KafkaAccessError`,
which stays with them (a refused login is found while a client starts, before any permission
can be asked).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError

from vanphong.ground.kafka import KafkaAccessError, admin_client
from vanphong.ground.kafka_protocol import GroupOperationsRequest, Operation, TopicIdsRequest
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC, EVENT_TYPES

#: The operations asked about, by name: bit n of an "authorized operations" field is code n.
ACL_OPERATIONS = {op.name: int(op) for op in (Operation.READ, Operation.WRITE, Operation.DESCRIBE)}
_GROUP_AUTHORIZATION_FAILED = 30
_TOPIC_AUTHORIZATION_FAILED = 29


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
        response: Any = await client.send(node, TopicIdsRequest(list(topics), True))
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
            described: Any = await client.send(coordinator, GroupOperationsRequest(name))
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


def unseen_topic_error(
    settings: Settings | None, topic: str, error_code: int | None
) -> KafkaAccessError | LookupError:
    """Why ``topic`` is not among the topics this client sees, from the brokers' Metadata answer
    for it (``error_code``; None when they cannot be asked, before Kafka 3.1): its principal may
    not DESCRIBE it (TOPIC_AUTHORIZATION_FAILED: Kafka then says nothing of whether it exists),
    or it does not exist."""
    if error_code == _TOPIC_AUTHORIZATION_FAILED:
        denied = access_denied(settings, [f"DESCRIBE on topic {topic}"])
        return KafkaAccessError(
            f"{denied.detail} (the brokers do not say whether it exists to a principal that may"
            " not DESCRIBE it)",
            denied.hint,
        )
    if error_code is None:
        return LookupError(
            f"topic {topic} is not visible: it does not exist (run `vanphong init`), or"
            " this principal may not DESCRIBE it (these brokers cannot tell which)"
        )
    return LookupError(f"topic {topic} does not exist (run `vanphong init`)")


async def why_unseen(
    admin: AIOKafkaAdminClient, settings: Settings | None, topic: str
) -> KafkaAccessError | LookupError:
    """:func:`unseen_topic_error` for a ``topic`` missing from the topics ``admin`` lists,
    asking the brokers about it by name (Metadata v12, never creating it)."""
    client: Any = admin._client
    try:
        response: Any = await client.send(client.get_random_node(), TopicIdsRequest([topic]))
    except NotImplementedError:  # brokers before Kafka 3.1
        return unseen_topic_error(settings, topic, None)
    codes = [error_code for error_code, name, *_ in response.topics if name == topic]
    return unseen_topic_error(settings, topic, codes[0] if codes else None)


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
