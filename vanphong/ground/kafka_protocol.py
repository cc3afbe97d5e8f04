"""The Kafka protocol requests aiokafka does not make, in one place: wire structs that an aiokafka
upgrade may break, and that tests/test_faust_internals.py guards.

- **Topic ids** (:func:`topic_ids`): which incarnation of a topic the broker has now. Kafka gives
  every topic a UUID at creation, so a topic deleted and created again under the same name has a
  new id (docs/operations.md, "Offsets that go backwards or jump"). aiokafka 0.14 speaks
  Metadata up to v5, which has no topic ids (they came with v10), and its admin client's
  ``describe_topics`` uses that request; :class:`TopicIdsRequest` is the smallest request that
  carries them, Metadata v12 (Kafka 3.1 and later), sent through aiokafka's own client. With
  ``authorized_operations`` it also says what this client may do on each topic
  (vanphong/ground/kafka_access.py).
- **A group's authorized operations** (:class:`GroupOperationsRequest`, DescribeGroups v3: aiokafka
  parses v3 answers as v2, without them).
- **ACLs** (:class:`CreateAclsRequest`, :class:`DescribeAclsRequest`,
  :class:`DeleteAclsRequest`, v1, with Kafka's codes :class:`ResourceType` and
  :class:`Operation`): ``vanphong init --acls`` (vanphong/acls/) needs neither the Kafka
  distribution nor a JVM, and uses the settings every other command uses.

Only the wire is here: what to ask and what the answer means for vanphong is the caller's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from io import BytesIO
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
    DescribeGroupsRequest_v3,
    DescribeGroupsResponse_v3,
)
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


class TopicIdsRequest(Request[_MetadataRequestV12]):
    """Metadata of named topics, never creating one; with ``authorized_operations``, also what
    this client may do on each (vanphong/ground/kafka_access.py, ``missing_permissions``)."""

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
    response: Any = await client.send(node, TopicIdsRequest(topics))
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


class _DescribeGroupsV3(RequestStruct):
    """DescribeGroups v3 with its own response (aiokafka 0.14 parses v3 answers as v2, without
    ``authorized_operations``)."""

    API_KEY = 15
    API_VERSION = 3
    RESPONSE_TYPE = DescribeGroupsResponse_v3
    SCHEMA = DescribeGroupsRequest_v3.SCHEMA


class GroupOperationsRequest(Request[_DescribeGroupsV3]):
    """One group's description with what this client may do on it (``authorized_operations``)."""

    API_KEY = 15

    def __init__(self, group: str) -> None:
        self._group = group

    def build(self, request_struct_class: type[_DescribeGroupsV3]) -> _DescribeGroupsV3:
        return request_struct_class([self._group], True)


class ResourceType(IntEnum):
    """Kafka's resource type codes (org.apache.kafka.common.resource.ResourceType)."""

    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class Operation(IntEnum):
    """Kafka's ACL operation codes (org.apache.kafka.common.acl.AclOperation); bit n of an
    "authorized operations" field is operation n."""

    ANY = 1
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ALLOW = 3  # AclPermissionType.ALLOW
ANY_PERMISSION = 1
LITERAL = 3  # PatternType.LITERAL
ANY_PATTERN = 1
ALL_HOSTS = "*"

#: An ALLOW binding on a LITERAL resource from any host: (principal, resource type, resource
#: name, operation), as a grant's ``key`` says it.
Binding = tuple[str, int, str, int]


def _allow_entries(bindings: Sequence[Binding]) -> list[tuple[int, str, int, str, str, int, int]]:
    """CreateAcls creations and DeleteAcls filters share one shape: exact, literal, any host."""
    return [
        (resource_type, resource, LITERAL, principal, ALL_HOSTS, operation, ALLOW)
        for principal, resource_type, resource, operation in bindings
    ]


class CreateAclsRequest(Request[CreateAclsRequest_v1]):
    """CreateAcls with many creations in one request (aiokafka's builds one)."""

    API_KEY = 30

    def __init__(self, bindings: Sequence[Binding]) -> None:
        self._bindings = list(bindings)

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(_allow_entries(self._bindings))


class DescribeAclsRequest(Request[DescribeAclsRequest_v1]):
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


class DeleteAclsRequest(Request[DeleteAclsRequest_v1]):
    """DeleteAcls with one exact filter per binding (nothing broader is ever removed)."""

    API_KEY = 31

    def __init__(self, bindings: Sequence[Binding]) -> None:
        self._bindings = list(bindings)

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(_allow_entries(self._bindings))
