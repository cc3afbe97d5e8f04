"""Schema files on disk: every ``v<N>/<Record>.avsc`` under one or more roots.

The shipped schemas live beside this module (``schemas/v<N>/``) and are never deleted, so old
messages stay readable. More roots laid out the same way (``VANPHONG_EXTRA_SCHEMAS_DIR``, read by
``vanphong.ground.settings``, which passes the directories in) add versions that are not shipped
yet; the same version of a record in two roots must be the same schema.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fastavro import parse_schema

from vanphong.schemas.catalog import BY_RECORD, EventType
from vanphong.schemas.fingerprints import crc64_avro, header, parsing_canonical_form

__all__ = [
    "EXTRA_SCHEMAS_ENV",
    "REGISTRY_VERSION",
    "SCHEMAS_DIR",
    "SchemaVersion",
    "extra_schema_dirs",
    "load_versions",
    "merge_versions",
]

SCHEMAS_DIR: Final = Path(__file__).resolve().parent
# The name of the setting that lists extra roots (vanphong.ground.settings reads it): named in
# messages.
EXTRA_SCHEMAS_ENV: Final = "VANPHONG_EXTRA_SCHEMAS_DIR"
# The version of a writer schema that came from a Schema Registry rather than schemas/v<N>/.
REGISTRY_VERSION: Final = 0
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")


@dataclass(frozen=True, slots=True, eq=False)
class SchemaVersion:
    """One schema file: ``<root>/v<version>/<Record>.avsc``. Compared and hashed by identity:
    one file read once, so what is derived from it can be cached by it."""

    event_type: EventType
    version: int
    path: Path
    schema: Mapping[str, Any]  # the JSON as shipped (with docs)
    canonical_form: str
    fingerprint: int
    parsed: Any  # fastavro's parsed schema; parse once, reuse on every call

    @property
    def header(self) -> bytes:
        """The 10-byte single-object header of messages written with this schema."""
        return header(self.fingerprint)


def load_versions(root: Path) -> list[SchemaVersion]:
    """Read every ``v<N>/*.avsc`` under ``root``, checking each against the catalog."""
    out: list[SchemaVersion] = []
    dirs = []
    for d in root.iterdir() if root.is_dir() else ():
        m = _VERSION_DIR.match(d.name)
        if m and d.is_dir():
            dirs.append((int(m.group(1)), d))
    for version, d in sorted(dirs):
        for path in sorted(d.glob("*.avsc")):
            out.append(_read(path, version))
    return out


def record_name(schema: Mapping[str, Any]) -> str:
    """The full name of a record schema (``vanphong.events.DocumentIssued``)."""
    name = str(schema.get("name", ""))
    return name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip(".")


def from_registry(schema: Mapping[str, Any], where: Path) -> SchemaVersion:
    """A writer schema that a Schema Registry holds, as a version (:data:`REGISTRY_VERSION`) of
    the catalog's record it names; raises ``ValueError`` saying why it is none."""
    if not isinstance(schema, Mapping) or schema.get("type") != "record":
        raise ValueError("not an Avro record schema")
    full = record_name(schema)
    et = BY_RECORD.get(full)
    if et is None:
        raise ValueError(f"record {full} is none of the contract's event records")
    return _version(schema, et, REGISTRY_VERSION, where)


def _version(schema: Mapping[str, Any], et: EventType, version: int, path: Path) -> SchemaVersion:
    canonical = parsing_canonical_form(schema)
    return SchemaVersion(
        event_type=et,
        version=version,
        path=path,
        schema=schema,
        canonical_form=canonical,
        fingerprint=crc64_avro(canonical.encode("utf-8")),
        parsed=parse_schema(dict(schema)),
    )


def _read(path: Path, version: int) -> SchemaVersion:
    schema = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise RuntimeError(f"{path}: not an Avro record schema")
    full = record_name(schema)
    et = BY_RECORD.get(full)
    if et is None:
        raise RuntimeError(f"{path}: record {full} is not in schemas/catalog.py")
    if path.stem != et.record:
        raise RuntimeError(f"{path}: file name does not match record {et.record}")
    return _version(schema, et, version, path)


def merge_versions(loaded: Iterable[list[SchemaVersion]]) -> list[SchemaVersion]:
    """Versions of several roots, sorted by version (stable, so the first root comes first); a
    record's version given twice must be the same schema and is kept once."""
    seen: dict[tuple[int, str], SchemaVersion] = {}
    out: list[SchemaVersion] = []
    for sv in sorted((sv for versions in loaded for sv in versions), key=lambda v: v.version):
        key = (sv.version, sv.event_type.record)
        other = seen.get(key)
        if other is None:
            seen[key] = sv
            out.append(sv)
        elif other.fingerprint != sv.fingerprint:
            raise RuntimeError(f"{sv.path} and {other.path}: two different schemas for one version")
    return out


def extra_schema_dirs(value: str = "") -> list[Path]:
    """The directories named by a ``VANPHONG_EXTRA_SCHEMAS_DIR`` value (separated by
    ``os.pathsep``); a missing one fails, naming it. The value is passed in: this package reads
    no environment (``vanphong.ground.settings.Settings.extra_schemas_dir`` does)."""
    dirs = [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]
    for d in dirs:
        if not d.is_dir():
            raise RuntimeError(f"{EXTRA_SCHEMAS_ENV}: {d} is not a directory")
    return dirs
