"""Records and contributions to and from the JSON stored in ``core.entities``.

JSON has no dates, so the few temporal fields are written as ISO 8601 and read back by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from vanphong.semantics import Contribution

_TIMESTAMP_FIELDS = frozenset({"occurred_at"})
_DATE_FIELDS = frozenset({"due_date", "effective_date"})


def _default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a record")


def record_to_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, default=_default, ensure_ascii=False, separators=(",", ":"))


def record_from_json(text: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(text)
    for name in _TIMESTAMP_FIELDS & record.keys():
        record[name] = datetime.fromisoformat(record[name])
    for name in _DATE_FIELDS & record.keys():
        record[name] = date.fromisoformat(record[name])
    return record


def contributions_to_json(contributions: Iterable[Contribution]) -> str:
    return json.dumps(
        [[c.unit_id, c.day.isoformat(), c.metric, c.dimension, c.amount] for c in contributions],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def contributions_from_json(text: str) -> tuple[Contribution, ...]:
    return tuple(
        Contribution(unit, date.fromisoformat(day), metric, dim, amount)
        for unit, day, metric, dim, amount in json.loads(text)
    )
