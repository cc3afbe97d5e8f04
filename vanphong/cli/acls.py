"""Least-privilege ACLs for vanphong's principals (``vanphong init --acls``, issue 11).

Dead letters carry raw input bytes, personal data included, so each principal gets only what
its commands use, every grant a LITERAL name (this prefix's topics and group, nothing else):

* the worker: READ on the input topics and its consumer group (faust's group,
  ``<prefix>-worker``), WRITE on the dead-letter topic, and READ on it too: the dead-letter
  relay reads the partition's tail after a send it is unsure of, so that it never sends twice
  (streams/deadletters.py);
* a publisher: WRITE on the input topics, nothing more (no READ anywhere: it cannot see the
  dead letters, nor what others published);
* an operator: DESCRIBE on the group (``status``: committed offsets), READ on the dead-letter
  topic (``dlq list``), and READ and WRITE on the input topics: ``dlq replay`` writes dead
  letters back to them, and reads their tail to find a replay that landed but was not recorded
  (vanphong/ground/tail.py). An operator who never replays can do without the WRITE.

READ, WRITE imply DESCRIBE in Kafka's authorizer; DESCRIBE is granted on its own anyway, so that
the table printed says in full what a principal can do. Idempotent producers need no
IDEMPOTENT_WRITE on the cluster since Kafka 3.0 (KIP-679: WRITE on a topic suffices), and
vanphong uses no Kafka transactions, so no transactional id is granted.

The ACLs are created through Kafka's own protocol (CreateAcls v1, DescribeAcls v1, through
aiokafka's client and its request structs), so that ``init`` needs neither the Kafka
distribution nor a JVM on the operator's machine, and uses the very settings (TLS, SASL, the
password file) every other command uses. The planning is pure (:func:`plan`); only
:func:`apply` talks to Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request
from rich.table import Table

from vanphong.ground.kafka import admin_client
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC, EVENT_TYPES


class ResourceType(IntEnum):
    """Kafka's resource type codes (org.apache.kafka.common.resource.ResourceType)."""

    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class Operation(IntEnum):
    """Kafka's ACL operation codes (org.apache.kafka.common.acl.AclOperation)."""

    ANY = 1
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ALLOW = 3  # AclPermissionType.ALLOW
ANY_PERMISSION = 1
LITERAL = 3  # PatternType.LITERAL
ANY_PATTERN = 1
ALL_HOSTS = "*"

DEFAULT_WORKER = "User:worker"
DEFAULT_PUBLISHER = "User:publisher"
DEFAULT_OPERATOR = "User:operator"


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW binding: ``principal`` may ``operation`` the LITERAL resource, from any host."""

    principal: str
    resource_type: ResourceType
    resource: str
    operation: Operation
    why: str = ""

    @property
    def key(self) -> tuple[str, int, str, int]:
        """What identifies the binding in Kafka (``why`` is ours)."""
        return (self.principal, int(self.resource_type), self.resource, int(self.operation))

    def __str__(self) -> str:
        return (
            f"{self.operation.name} on {self.resource_type.name.lower()} {self.resource} "
            f"for {self.principal}"
        )


@dataclass(frozen=True)
class Principals:
    """Who runs what: Kafka principals such as ``User:worker`` (SASL) or ``User:CN=...`` (mTLS)."""

    worker: str = DEFAULT_WORKER
    publisher: str = DEFAULT_PUBLISHER
    operator: str = DEFAULT_OPERATOR


class AclError(RuntimeError):
    """Kafka refused to list or create the ACLs; the message says why and what to do."""


def _principal(text: str) -> str:
    """``worker`` → ``User:worker``; a principal with a type is kept as given."""
    text = text.strip()
    if not text:
        raise AclError("a principal may not be empty (e.g. User:worker)")
    return text if ":" in text else f"User:{text}"


def plan(settings: Settings, principals: Principals) -> list[Grant]:
    """Every binding the three principals need, for this prefix's topics and group (the module
    docstring says why each one)."""
    inputs = [settings.topic(e.topic) for e in EVENT_TYPES]
    dead = settings.topic(DEAD_LETTER_TOPIC)
    group = settings.consumer_group
    worker, publisher, operator = (
        _principal(principals.worker),
        _principal(principals.publisher),
        _principal(principals.operator),
    )
    topic, grp = ResourceType.TOPIC, ResourceType.GROUP
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    grants: list[Grant] = []
    for name in inputs:
        grants += [
            Grant(worker, topic, name, read, "consume the input"),
            Grant(worker, topic, name, describe, "metadata, offsets"),
            Grant(publisher, topic, name, write, "publish"),
            Grant(publisher, topic, name, describe, "metadata"),
            Grant(operator, topic, name, describe, "status: end offsets"),
            Grant(operator, topic, name, read, "dlq replay: find what landed"),
            Grant(operator, topic, name, write, "dlq replay: write back"),
        ]
    grants += [
        Grant(worker, grp, group, read, "join the group, commit offsets"),
        Grant(worker, grp, group, describe, "committed offsets"),
        Grant(worker, topic, dead, write, "dead letters"),
        Grant(worker, topic, dead, read, "relay: never send twice"),
        Grant(worker, topic, dead, describe, "metadata"),
        Grant(operator, grp, group, describe, "status: committed offsets"),
        Grant(operator, topic, dead, read, "dlq list, dlq replay"),
        Grant(operator, topic, dead, describe, "status: dead letters"),
    ]
    return sorted(
        set(grants), key=lambda g: (g.principal, g.resource_type, g.resource, g.operation)
    )


# --- the protocol: CreateAcls v1 and DescribeAcls v1 through aiokafka's client -----------------


class _CreateAcls(Request[CreateAclsRequest_v1]):
    """CreateAcls with many creations in one request (aiokafka's builds one)."""

    API_KEY = 30

    def __init__(self, grants: list[Grant]) -> None:
        self._grants = grants

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(
            [
                (
                    int(g.resource_type),
                    g.resource,
                    LITERAL,
                    g.principal,
                    ALL_HOSTS,
                    int(g.operation),
                    ALLOW,
                )
                for g in self._grants
            ]
        )


class _DescribeAcls(Request[DescribeAclsRequest_v1]):
    """Every ACL of one principal (any resource, pattern, operation and permission)."""

    API_KEY = 29

    def __init__(self, principal: str) -> None:
        self._principal = principal

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        return request_struct_class(
            int(ResourceType.ANY),
            None,
            ANY_PATTERN,
            self._principal,
            None,
            int(Operation.ANY),
            ANY_PERMISSION,
        )


class _DeleteAcls(Request[DeleteAclsRequest_v1]):
    """DeleteAcls with one exact filter per binding (nothing broader is ever removed)."""

    API_KEY = 31

    def __init__(self, grants: list[Grant]) -> None:
        self._grants = grants

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(
            [
                (
                    int(g.resource_type),
                    g.resource,
                    LITERAL,
                    g.principal,
                    ALL_HOSTS,
                    int(g.operation),
                    ALLOW,
                )
                for g in self._grants
            ]
        )


def _refusal(error_code: int, message: str | None, what: str) -> AclError:
    """The error to raise for a refused ACL request, saying what to do."""
    name = for_code(error_code).__name__
    if error_code == 54:  # SECURITY_DISABLED
        hint = "the cluster has no authorizer (authorizer.class.name): ACLs do not apply there"
    elif error_code == 31:  # CLUSTER_AUTHORIZATION_FAILED
        hint = (
            "the principal of VANPHONG_KAFKA_SASL_USERNAME (or the client certificate) needs "
            "ALTER on the cluster to grant ACLs (DESCRIBE to list them): run `vanphong init "
            "--acls` as a cluster admin"
        )
    else:
        hint = "see the brokers' log"
    return AclError(f"Kafka refused to {what}: {name} ({message or 'no message'}); {hint}")


async def _existing(client: Any, principals: set[str]) -> set[tuple[str, int, str, int]]:
    """The ALLOW, LITERAL, any-host bindings the principals have now."""
    found: set[tuple[str, int, str, int]] = set()
    for principal in sorted(principals):
        response: Any = await client.send(client.get_random_node(), _DescribeAcls(principal))
        if response.error_code:
            raise _refusal(response.error_code, response.error_message, "list the ACLs")
        for resource_type, name, pattern, acls in response.resources:
            if pattern != LITERAL:
                continue
            for acl_principal, host, operation, permission in acls:
                if permission == ALLOW and host == ALL_HOSTS:
                    found.add((acl_principal, resource_type, name, operation))
    return found


async def apply(settings: Settings, grants: list[Grant]) -> list[tuple[Grant, str]]:
    """Create the bindings that are missing; each grant with "granted" or "existed".

    Idempotent: a binding already there is left alone (Kafka would accept it again, but the
    table then says which are new)."""
    async with admin_client(settings) as admin:
        client: Any = admin._client  # aiokafka's admin client has no ACL calls (0.14)
        before = await _existing(client, {g.principal for g in grants})
        missing = [g for g in grants if g.key not in before]
        if missing:
            response: Any = await client.send(client.get_random_node(), _CreateAcls(missing))
            for grant, (error_code, message) in zip(
                missing, response.creation_responses, strict=True
            ):
                if error_code:
                    raise _refusal(error_code, message, f"grant {grant}")
    new = {g.key for g in missing}
    return [(g, "granted" if g.key in new else "existed") for g in grants]


async def revoke(settings: Settings, grants: list[Grant]) -> int:
    """Remove exactly these bindings (a prefix taken out of service); how many were there."""
    if not grants:
        return 0
    async with admin_client(settings) as admin:
        client: Any = admin._client
        response: Any = await client.send(client.get_random_node(), _DeleteAcls(grants))
    removed = 0
    for grant, (error_code, message, matching) in zip(
        grants, response.filter_responses, strict=True
    ):
        if error_code:
            raise _refusal(error_code, message, f"remove {grant}")
        removed += len(matching)
    return removed


def grants_table(granted: list[tuple[Grant, str]]) -> Table:
    """What ``init --acls`` granted, one binding a row."""
    table = Table(title="ACLs (ALLOW, literal names, any host)")
    for column in ("principal", "resource", "operation", "state", "why"):
        table.add_column(column, overflow="fold")  # never cut a name short
    for grant, state in granted:
        table.add_row(
            grant.principal,
            f"{grant.resource_type.name.lower()} {grant.resource}",
            grant.operation.name,
            state,
            grant.why,
        )
    return table
