"""Least-privilege ACLs for vanphong's principals (``vanphong init --acls``, issue 11): ``plan``
(which bindings each principal needs, and why: pure) and ``grant`` (creating the missing ones,
or removing exact ones, on the brokers)."""

from vanphong.acls.grant import apply, revoke
from vanphong.acls.plan import (
    DEFAULT_OPERATOR,
    DEFAULT_PUBLISHER,
    DEFAULT_WORKER,
    AclError,
    Grant,
    Principals,
    plan,
)
from vanphong.ground.kafka_protocol import Operation, ResourceType

__all__ = [
    "DEFAULT_OPERATOR",
    "DEFAULT_PUBLISHER",
    "DEFAULT_WORKER",
    "AclError",
    "Grant",
    "Operation",
    "Principals",
    "ResourceType",
    "apply",
    "plan",
    "revoke",
]
