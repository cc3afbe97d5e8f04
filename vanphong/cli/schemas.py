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

import asyncio
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from vanphong.cli.console import err, out
from vanphong.core.rejection import TransientError
from vanphong.ground.schema_registry import RegistryError, SchemaRegistryClient
from vanphong.ground.settings import Settings, get_settings
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.codec import HEADER_LENGTH, SchemaRegistry, SchemaVersion, confluent_frame

if TYPE_CHECKING:  # the publish module imports aiokafka: only when publishing
    from vanphong.publish import Outgoing

__all__ = [
    "COMPATIBILITY",
    "breaking_changes",
    "check",
    "confluent_framed",
    "register_shipped",
    "schemas_app",
    "shipped_versions",
    "subject",
]

COMPATIBILITY = "BACKWARD"

schemas_app = typer.Typer(
    no_args_is_help=True,
    help="The Avro schemas in the Schema Registry: check them before shipping.",
)


def subject(settings: Settings, event_type: EventType) -> str:
    """The TopicNameStrategy subject of an event type's topic: ``<topic>-value``."""
    return f"{settings.topic(event_type.topic)}-value"


def shipped_versions(registry: SchemaRegistry, event_type: EventType) -> list[SchemaVersion]:
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
    registry = settings.schema_registry()
    done = []
    for et in EVENT_TYPES:
        name = subject(settings, et)
        await client.set_compatibility(name, COMPATIBILITY)
        ids = [
            await client.register(name, schema_json(sv)) for sv in shipped_versions(registry, et)
        ]
        done.append(Registered(name, tuple(ids)))
    return done


def register_shipped(settings: Settings) -> None:
    """``vanphong init``'s part: register the shipped schemas when a registry is configured."""
    client = SchemaRegistryClient.from_settings(settings)
    if client is None:
        out.print("schema registry: none configured (VANPHONG_SCHEMA_REGISTRY_URL), skipped")
        return

    async def go() -> list[Registered]:
        async with client:
            return await register_all(client, settings)

    try:
        registered = asyncio.run(go())
    except (TransientError, RegistryError) as exc:
        err.print(f"schema registry: {exc}")
        raise typer.Exit(2) from exc
    for r in registered:
        ids = ", ".join(str(i) for i in r.ids)
        out.print(f"subject {r.subject}: ids {ids}, compatibility {COMPATIBILITY}", soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# schemas check
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    subject: str
    ok: bool
    message: str


async def check_all(client: SchemaRegistryClient, settings: Settings) -> list[Verdict]:
    registry = settings.schema_registry()
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


@schemas_app.command("check")
def check() -> None:
    """Compare schemas/ with the registry: exit 1 naming the field on an incompatible change."""
    settings = get_settings()
    client = SchemaRegistryClient.from_settings(settings)
    if client is None:
        err.print("no Schema Registry configured: set VANPHONG_SCHEMA_REGISTRY_URL")
        raise typer.Exit(2)

    async def go() -> list[Verdict]:
        async with client:
            return await check_all(client, settings)

    try:
        verdicts = asyncio.run(go())
    except (TransientError, RegistryError) as exc:
        err.print(f"schema registry: {exc}")
        raise typer.Exit(2) from exc
    for v in verdicts:
        line = f"{'ok' if v.ok else 'FAIL'}  {v.subject}: {v.message}"
        (out if v.ok else err).print(line, soft_wrap=True, markup=False)
    if not all(v.ok for v in verdicts):
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------
# Which fields break backward compatibility (Avro schema resolution, reader = new schema)
# ---------------------------------------------------------------------------------------------

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def breaking_changes(writer: Any, reader: Any) -> list[str]:
    """Why data written with ``writer`` (the registry's latest) cannot be read with ``reader``
    (the schema about to ship), one line per field; [] when it can."""
    return list(_problems(writer, reader, ""))


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, Mapping):
        return str(schema.get("type"))
    return str(schema)


def _problems(writer: Any, reader: Any, where: str) -> Iterator[str]:
    wk, rk = _kind(writer), _kind(reader)
    label = where or "the record"
    if wk == "union":
        for branch in writer:
            if not _readable(branch, reader):
                yield f"{label}: the writer's union branch {_kind(branch)} has no match"
        return
    if rk == "union":
        if not any(_readable(writer, branch) for branch in reader):
            yield f"{label}: {wk} is in no branch of the new union"
        return
    if wk == "record" and rk == "record":
        written = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", [])]
            old = next((written[n] for n in names if n in written), None)
            path = f"{where}.{field['name']}" if where else str(field["name"])
            if old is None:
                if "default" not in field:
                    yield f"field {path} is new and has no default"
                continue
            yield from _problems(old["type"], field["type"], path)
        return
    if wk == "enum" and rk == "enum":
        lost = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if lost and "default" not in reader:
            yield f"field {label}: enum symbols {', '.join(lost)} removed"
        return
    if wk == "array" and rk == "array":
        yield from _problems(writer["items"], reader["items"], f"{where}[]")
        return
    if wk == "map" and rk == "map":
        yield from _problems(writer["values"], reader["values"], f"{where}{{}}")
        return
    if wk == "fixed" and rk == "fixed":
        if writer.get("size") != reader.get("size"):
            yield f"field {label}: fixed size {writer.get('size')} → {reader.get('size')}"
        return
    if rk in _PROMOTIONS.get(wk, {wk}):
        return
    yield f"field {label}: type {wk} → {rk}"


def _readable(writer: Any, reader: Any) -> bool:
    return not any(True for _ in _problems(writer, reader, ""))


# ---------------------------------------------------------------------------------------------
# vanphong publish --wire confluent
# ---------------------------------------------------------------------------------------------


async def confluent_ids(client: SchemaRegistryClient, settings: Settings) -> dict[str, int]:
    """Per full topic name, the registry's id of the current shipped schema under its subject
    (looked up, never registered); raises ``RegistryError`` for a subject that lacks it."""
    registry = settings.schema_registry()
    ids = {}
    for et in EVENT_TYPES:
        name = subject(settings, et)
        found = await client.lookup(name, schema_json(registry.current(et)))
        if found is None:
            raise RegistryError(
                f"{name} does not hold the current {et.record} schema: run `vanphong init`",
                404,
                None,
            )
        ids[settings.topic(et.topic)] = found
    return ids


def confluent_framed(messages: list[Outgoing], settings: Settings) -> list[Outgoing]:
    """``vanphong publish --wire confluent``: the same Avro bodies behind ``00`` + the schema id
    of each topic's subject, as Confluent's serializers write them (the messages come from
    ``vanphong.publish.prepare_all``, single-object encoded with the current schemas)."""
    client = SchemaRegistryClient.from_settings(settings)
    if client is None:
        raise RegistryError(
            "--wire confluent needs a Schema Registry: set VANPHONG_SCHEMA_REGISTRY_URL", 0, None
        )

    async def go() -> dict[str, int]:
        async with client:
            return await confluent_ids(client, settings)

    from vanphong.publish import Outgoing

    ids = asyncio.run(go())
    return [
        Outgoing(m.topic, m.key, confluent_frame(ids[m.topic], m.value[HEADER_LENGTH:]))
        for m in messages
    ]
