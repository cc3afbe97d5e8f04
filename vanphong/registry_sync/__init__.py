"""The shipped Avro schemas in a Schema Registry (issue 12; CONTRACT.md §3, v1.1): ``subjects``
registers every shipped version under its topic's subject and checks the current one against
the registry's latest, ``compatibility`` names the fields that break it (pure). The HTTP client
is vanphong/ground/schema_registry.py; the schemas themselves are vanphong/schemas/."""

from vanphong.registry_sync.compatibility import breaking_changes
from vanphong.registry_sync.subjects import (
    COMPATIBILITY,
    check_all,
    register_all,
    shipped_versions,
    subject,
)

__all__ = [
    "COMPATIBILITY",
    "breaking_changes",
    "check_all",
    "register_all",
    "shipped_versions",
    "subject",
]
