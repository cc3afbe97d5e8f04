"""The ACLs planned (vanphong/acls/plan.py) made so on the brokers, or taken back: ``vanphong
init --acls`` and a prefix taken out of service. Idempotent: a binding already there is left
alone, and nothing broader than an exact binding is ever removed. The requests themselves are
vanphong/ground/kafka_protocol.py's."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import for_code

from vanphong.acls.plan import AclError, Grant
from vanphong.ground.kafka import admin_client
from vanphong.ground.kafka_protocol import (
    ALL_HOSTS,
    ALLOW,
    LITERAL,
    Binding,
    CreateAclsRequest,
    DeleteAclsRequest,
    DescribeAclsRequest,
)
from vanphong.ground.settings import Settings


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


async def _existing(client: Any, principals: set[str]) -> set[Binding]:
    """The ALLOW, LITERAL, any-host bindings the principals have now."""
    found: set[Binding] = set()
    for principal in sorted(principals):
        response: Any = await client.send(client.get_random_node(), DescribeAclsRequest(principal))
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
            response: Any = await client.send(
                client.get_random_node(), CreateAclsRequest([g.key for g in missing])
            )
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
        response: Any = await client.send(
            client.get_random_node(), DeleteAclsRequest([g.key for g in grants])
        )
    removed = 0
    for grant, (error_code, message, matching) in zip(
        grants, response.filter_responses, strict=True
    ):
        if error_code:
            raise _refusal(error_code, message, f"remove {grant}")
        removed += len(matching)
    return removed
