"""Which fields break backward compatibility, by Avro schema resolution (reader = the schema
about to ship, writer = the registry's latest): ``vanphong schemas check`` names them, because the
registry's own answer is only yes or no. Pure: two parsed schemas in, one line per field out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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
