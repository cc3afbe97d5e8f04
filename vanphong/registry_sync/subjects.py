"""The shipped schemas in a Schema Registry: ``vanphong init`` registers them, ``vanphong schemas
check`` guards them (issue 12; CONTRACT.md §3, v1.1).

Subjects follow the TopicNameStrategy, the default of Confluent's serializers: the schemas of a
topic's values live under ``<topic>-value`` (``vanphong.document-issued.v1-value``). Every
shipped version of a record is registered under it in version order, so the registry's ids cover
every schema an upstream may still write with, and the subject's compatibility is ``BACKWARD``:
the registry itself then refuses a new version that the current readers could not read.

``schemas check`` runs before shipping: it asks the registry whether the current schema of each
record is compatible with the subject's latest version, and when it is not, names the fields
that break it (the registry's own answer is only yes or no).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vanphong.ground.schema_registry import SchemaRegistryClient
from vanphong.ground.settings import Settings
from vanphong.registry_sync.compatibility import breaking_changes
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.codec import KnownSchemas, SchemaVersion

COMPATIBILITY = "BACKWARD"


def subject(settings: Settings, event_type: EventType) -> str:
    """The TopicNameStrategy subject of an event type's topic: ``<topic>-value``."""
    return f"{settings.topic(event_type.topic)}-value"


def shipped_versions(registry: KnownSchemas, event_type: EventType) -> list[SchemaVersion]:
    """Every distinct version of the record, oldest first (an unchanged copy counts once)."""
    seen: set[int] = set()
    found = []
    for sv in registry.versions:
        if sv.event_type is event_type and sv.fingerprint not in seen:
            seen.add(sv.fingerprint)
            found.append(sv)
    return found


def schema_json(sv: SchemaVersion) -> str:
    """The text registered for a version: the shipped JSON, the same bytes on every run."""
    return json.dumps(sv.schema, ensure_ascii=False)


@dataclass(frozen=True)
class Registered:
    subject: str
    ids: tuple[int, ...]  # per shipped version, oldest first


async def register_all(client: SchemaRegistryClient, settings: Settings) -> list[Registered]:
    """Set ``BACKWARD`` on each subject and register each shipped version in order
    (idempotent: a schema the subject holds keeps its id and adds no version)."""
    registry = settings.known_schemas()
    done = []
    for et in EVENT_TYPES:
        name = subject(settings, et)
        await client.set_compatibility(name, COMPATIBILITY)
        ids = [
            await client.register(name, schema_json(sv)) for sv in shipped_versions(registry, et)
        ]
        done.append(Registered(name, tuple(ids)))
    return done


@dataclass(frozen=True)
class Verdict:
    subject: str
    ok: bool
    message: str


async def check_all(client: SchemaRegistryClient, settings: Settings) -> list[Verdict]:
    registry = settings.known_schemas()
    verdicts = []
    for et in EVENT_TYPES:
        name = subject(settings, et)
        current = registry.current(et)
        latest = await client.latest(name)
        if latest is None:
            verdicts.append(Verdict(name, False, "not registered: run `vanphong init`"))
            continue
        text = schema_json(current)
        if await client.lookup(name, text) is not None:
            verdicts.append(Verdict(name, True, f"v{current.version} registered"))
            continue
        if await client.is_compatible(name, text):
            verdicts.append(
                Verdict(
                    name,
                    True,
                    f"v{current.version} is {COMPATIBILITY} compatible, not registered yet "
                    "(`vanphong init` registers it)",
                )
            )
            continue
        writer = json.loads(str(latest["schema"]))
        why = breaking_changes(writer, dict(current.schema)) or [
            "the registry says incompatible (no field-level difference found here)"
        ]
        verdicts.append(
            Verdict(
                name,
                False,
                f"v{current.version} ({current.path}) is not {COMPATIBILITY} compatible with "
                f"the registry's version {latest.get('version')}: " + "; ".join(why),
            )
        )
    return verdicts
