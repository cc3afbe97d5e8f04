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

The ACLs are created through Kafka's own protocol (CreateAcls v1, DescribeAcls v1:
vanphong/ground/kafka_protocol.py), so that ``init`` needs neither the Kafka distribution nor a
JVM on the operator's machine, and uses the very settings (TLS, SASL, the password file) every
other command uses. The planning here is pure (:func:`plan`); only vanphong/acls/grant.py talks
to Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass

from vanphong.ground.kafka_protocol import Binding, Operation, ResourceType
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC, EVENT_TYPES

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
    def key(self) -> Binding:
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
