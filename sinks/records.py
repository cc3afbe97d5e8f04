"""Records and contributions to and from the JSON stored in ``core.entities``.

JSON has no dates, so the few temporal fields are written as ISO 8601 and read back by name.
orjson writes dates and aware datetimes as ``date.isoformat()`` and ``datetime.isoformat()``
would, and is several times faster than :mod:`json`: every applied event writes one row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import orjson

from vanphong.semantics import Contribution

_TIMESTAMP_FIELDS = frozenset({"occurred_at"})
_DATE_FIELDS = frozenset({"due_date", "effective_date"})


def record_to_json(record: Mapping[str, Any]) -> str:
    return orjson.dumps(record).decode()


def record_from_json(text: str) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(text)
    for name in _TIMESTAMP_FIELDS & record.keys():
        record[name] = datetime.fromisoformat(record[name])
    for name in _DATE_FIELDS & record.keys():
        record[name] = date.fromisoformat(record[name])
    return record


def contributions_to_json(contributions: Iterable[Contribution]) -> str:
    return orjson.dumps([tuple(c) for c in contributions]).decode()


def contributions_from_json(text: str) -> tuple[Contribution, ...]:
    return tuple(
        Contribution(unit, date.fromisoformat(day), metric, dim, amount)
        for unit, day, metric, dim, amount in orjson.loads(text)
    )
