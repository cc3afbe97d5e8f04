"""Records and contributions to and from the JSON stored in ``core.entities``.

JSON has no dates, so the few temporal fields are written as ISO 8601 and read back by name.
orjson writes dates and aware datetimes as ``date.isoformat()`` and ``datetime.isoformat()``
would, and is several times faster than :mod:`json`: every applied event writes one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import orjson

from vanphong.semantics import Contribution, Entity

_TIMESTAMP_FIELDS = frozenset({"occurred_at"})
_DATE_FIELDS = frozenset({"due_date", "effective_date"})


def record_from_json(text: str) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(text)
    for name in _TIMESTAMP_FIELDS & record.keys():
        record[name] = datetime.fromisoformat(record[name])
    for name in _DATE_FIELDS & record.keys():
        record[name] = date.fromisoformat(record[name])
    return record


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
