"""Records and contributions to and from the JSON stored in ``core.entities``.

JSON has no dates, so temporal fields are written as ISO 8601 and read back as ``datetime`` or
``date``. Which fields those are comes from the logical types of the current schemas
(``timestamp-millis``: datetime, ``date``: date; also nullable, also each item of an array), so
a date field added in a later schema version comes back as a date, not as a string. orjson
writes dates and aware datetimes as ``date.isoformat()`` and ``datetime.isoformat()`` would, and
is several times faster than :mod:`json`: every applied event writes one row.

The entity type is stored as its string (``core.entities.entity_type``): an ``EventType`` is
that string, so it is written as it always was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson

from vanphong.core.semantics import Contribution, Entity
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.known import KnownSchemas
from vanphong.schemas.logical import Temporal

#: How a temporal field is read back from its ISO 8601 text: (name, parse, is an array).
_Reading = tuple[str, Callable[[str], Any], bool]
_PARSE: dict[str, Callable[[str], Any]] = {
    "timestamp": datetime.fromisoformat,
    "date": date.fromisoformat,
}


def record_from_json(
    text: str, entity_type: EventType | str | None, schemas: KnownSchemas
) -> dict[str, Any]:
    """A stored record with its timestamps and dates as ``datetime`` and ``date`` again, by the
    current schema of ``entity_type`` in ``schemas`` (the settings' registry). Without an entity
    type, the temporal fields of every event type are read by name."""
    record: dict[str, Any] = orjson.loads(text)
    for name, parse, array in _readings(schemas, entity_type):
        value = record.get(name)
        if value is None:
            continue
        record[name] = [None if v is None else parse(v) for v in value] if array else parse(value)
    return record


@lru_cache(maxsize=64)
def _readings(schemas: KnownSchemas, entity_type: EventType | str | None) -> tuple[_Reading, ...]:
    """The temporal fields of one event type (or of all, by name), worked out once."""
    if entity_type is not None:
        fields: Iterable[Temporal] = schemas.temporal_fields(entity_type)
    else:
        fields = _by_name(schemas)
    return tuple((f.name, _PARSE[f.kind], f.array) for f in fields)


def _by_name(schemas: KnownSchemas) -> list[Temporal]:
    """The temporal fields of every event type, by name. A name that two event types read
    differently (a date in one, a timestamp or anything else in another) can only be read with
    the entity type."""
    found: dict[str, Temporal] = {}
    ambiguous: set[str] = set()
    plain: set[str] = set()
    for et in EVENT_TYPES:
        temporal = {f.name: f for f in schemas.temporal_fields(et)}
        for spec in schemas.current(et).schema["fields"]:
            name = str(spec["name"])
            field = temporal.get(name)
            if field is None:
                plain.add(name)
            elif found.setdefault(name, field) != field:
                ambiguous.add(name)
    ambiguous |= plain & found.keys()
    if ambiguous:
        raise RuntimeError(
            f"{', '.join(sorted(ambiguous))}: temporal in one event type and not, or not alike, "
            f"in another; record_from_json needs the entity type to read them"
        )
    return list(found.values())


def contributions_from_json(text: str) -> tuple[Contribution, ...]:
    return tuple(
        (unit, date.fromisoformat(day), metric, dim, amount)
        for unit, day, metric, dim, amount in orjson.loads(text)
    )


def entities_to_json(entities: Iterable[Entity]) -> str:
    """Rows ``[type, id, revision, voided, event_id, record, contributions]`` for
    ``jsonb_array_elements`` (sinks/postgres.py): one JSON parameter per batch costs far less in
    asyncpg than seven arrays, whose encoder checks every element's type."""
    return orjson.dumps(
        [
            (
                e.ref.entity_type,
                e.ref.entity_id,
                e.revision,
                e.voided,
                e.event_id,
                e.record,
                e.contributions,
            )
            for e in entities
        ]
    ).decode()


def rows_to_json(rows: Iterable[Iterable[Any]]) -> str:
    """Rows as a JSON array of arrays (dates as ISO 8601), for ``jsonb_array_elements``."""
    return orjson.dumps([tuple(r) for r in rows]).decode()
