"""Which fields of a schema hold timestamps and dates: read from their Avro logical types.

``timestamp-millis`` (and ``-micros``, ``-nanos``) fields decode to aware UTC ``datetime``\\ s and
``date`` fields to ``datetime.date``\\ s. Whoever turns records into text and back (JSON in
PostgreSQL, JSON Lines input) and whoever checks a datum before encoding asks here, so a date
field added in a later schema version is a date everywhere without a list kept by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, NamedTuple

__all__ = ["TIMESTAMP_LOGICAL", "Temporal", "logical_type", "temporal_fields"]

TIMESTAMP_LOGICAL: Final = frozenset({"timestamp-millis", "timestamp-micros", "timestamp-nanos"})

Kind = Literal["timestamp", "date"]


class Temporal(NamedTuple):
    """A field of a record that holds timestamps or dates."""

    name: str
    kind: Kind  # "timestamp": aware datetimes; "date": datetime.date
    array: bool  # an array of them (each item, None allowed where the items are nullable)


def logical_type(field_type: Any) -> str | None:
    """The logical type of a field type, looking through a (nullable) union."""
    if isinstance(field_type, list):
        for branch in field_type:
            found = logical_type(branch)
            if found:
                return found
        return None
    if isinstance(field_type, Mapping):
        logical = field_type.get("logicalType")
        return logical if isinstance(logical, str) else None
    return None


def _kind(field_type: Any) -> Kind | None:
    logical = logical_type(field_type)
    if logical in TIMESTAMP_LOGICAL:
        return "timestamp"
    return "date" if logical == "date" else None


def _array_items(field_type: Any) -> Any:
    """The item type of an array type, also of a nullable array; None if not an array."""
    branches = field_type if isinstance(field_type, list) else [field_type]
    for branch in branches:
        if isinstance(branch, Mapping) and branch.get("type") == "array":
            return branch["items"]
    return None


def temporal_fields(schema: Mapping[str, Any]) -> tuple[Temporal, ...]:
    """Every field of a record schema that holds timestamps or dates, also as the branch of a
    nullable union and as the items of an array, in schema order."""
    out = []
    for field in schema["fields"]:
        name, field_type = str(field["name"]), field["type"]
        kind = _kind(field_type)
        if kind is not None:
            out.append(Temporal(name, kind, False))
            continue
        items = _array_items(field_type)
        kind = None if items is None else _kind(items)
        if kind is not None:
            out.append(Temporal(name, kind, True))
    return tuple(out)
