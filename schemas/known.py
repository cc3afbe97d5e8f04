"""The schema versions known here: every version indexed by fingerprint, and per record the
*current* one (the highest version that has it), which is the reader schema of every message
and the writer schema of every encode. Not the Schema Registry service (which upstream
producers may use, and whose client is vanphong/ground/schema_registry.py): this is the local
index that a message's writer schema is looked up in.

The known schemas are built from directories (the shipped ``schemas/`` plus any extra roots)
when asked for, never at import: :func:`load_known_schemas` builds one set per set of roots and
keeps it, and ``vanphong.ground.settings.Settings.known_schemas`` asks it with the configured
extra roots.
Building parses every schema and generates its strict decoder; a schema the strict decoder
cannot read is refused here, so no message is ever judged by fastavro alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from vanphong.schemas._fastdecode import Decoder, compile_decoder, unsupported
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.errors import CodecError, UnknownEventTypeError, UnresolvableSchemaError
from vanphong.schemas.fingerprints import fingerprint_hex, schema_fingerprint
from vanphong.schemas.logical import Temporal, temporal_fields
from vanphong.schemas.versions import (
    SCHEMAS_DIR,
    SchemaVersion,
    from_registry,
    load_versions,
    merge_versions,
)
from vanphong.schemas.wire import Decoded, Reader, Writer, decode_message, encode_datum

__all__ = ["KnownSchemas", "load_known_schemas"]


class KnownSchemas:
    """Every schema version under ``root`` and ``extra_roots``, indexed by fingerprint, with the
    current one per record."""

    def __init__(self, root: Path = SCHEMAS_DIR, extra_roots: Sequence[Path] = ()) -> None:
        self.root = root
        self.extra_roots = tuple(extra_roots)
        versions = merge_versions([load_versions(r) for r in (root, *extra_roots)])
        if not versions:
            raise RuntimeError(f"no schemas found under {root}/v*/")
        self.versions: tuple[SchemaVersion, ...] = tuple(versions)
        current: dict[EventType, SchemaVersion] = {}
        for sv in self.versions:  # sorted by version, so the last one wins
            current[sv.event_type] = sv
        missing = [e.full_record_name for e in EVENT_TYPES if e not in current]
        if missing:
            raise RuntimeError(f"no schema shipped for {', '.join(missing)} under {root}/v*/")
        self._by_fingerprint, self._readers = _index(self.versions, current)
        writers: dict[object, Writer] = {}
        for et, cur in current.items():
            fields = frozenset(str(f["name"]) for f in cur.schema["fields"])
            writer = Writer(cur, cur.header, fields, temporal_fields(cur.schema))
            for key in (et, et.full_record_name, et.record):  # et is also its type string
                writers[key] = writer
        self._writers = writers
        self._current = current
        self._registry_readers: dict[int, Reader] = {}  # by fingerprint

    # -- look-ups ------------------------------------------------------------------------------

    def current(self, target: EventType | str) -> SchemaVersion:
        """The current (highest-version) schema of an event type or record."""
        return self._writer(target).current

    def by_fingerprint(self, fingerprint: int) -> SchemaVersion | None:
        """The schema version with this fingerprint, if any."""
        return self._by_fingerprint.get(fingerprint)

    def temporal_fields(self, target: EventType | str) -> tuple[Temporal, ...]:
        """The timestamp and date fields of the current schema: what a decoded record holds
        as ``datetime`` and ``date`` values (from the fields' logical types)."""
        return self._writer(target).temporal

    def _writer(self, target: EventType | str) -> Writer:
        try:
            return self._writers[target]
        except (KeyError, TypeError):
            raise UnknownEventTypeError(target) from None

    # -- codec ---------------------------------------------------------------------------------

    def encode(self, target: EventType | str, datum: Mapping[str, Any]) -> bytes:
        """Single-object encoding of ``datum`` with the current schema of ``target``.

        Timestamps may be aware datetimes or int epoch milliseconds, dates ``datetime.date`` or
        int days. Raises ``InvalidDatumError`` (a ``ValueError``) naming the offending field.
        """
        w = self._writers.get(target) if isinstance(target, str) else None
        if w is None:
            raise UnknownEventTypeError(target)
        return encode_datum(w, datum)

    def decode(
        self,
        data: bytes | bytearray | memoryview | None,
        by_id: Mapping[int, Reader | CodecError] | None = None,
    ) -> Decoded:
        """Decode one message value with its writer schema, resolved to the current schema.

        ``by_id``: for the Confluent wire format, the reader of each schema id (from
        :meth:`registry_reader`) or the error that id gets; see ``schemas.wire``.

        Raises ``UndecodableError`` (dead-letter reason ``undecodable``), ``UnknownSchemaError``
        (``unknown_schema``), ``OutOfRangeError`` (``invalid_field``: a well-formed timestamp
        or date beyond the years 1–9999) or ``UnresolvableSchemaError`` (``invalid_field``: a
        registry schema that does not resolve); nothing else, whatever the bytes.
        """
        return decode_message(self._readers, data, by_id)

    def registry_reader(self, schema: str | Mapping[str, Any], where: str = "") -> Reader:
        """The reader of messages written with a schema from a Schema Registry (its JSON text
        or value; ``where`` names it in messages, e.g. ``schema id 7``). A schema with the
        canonical form of a shipped version is read exactly as that version; another one gets
        its own strict decoder and is resolved to the current schema. Cached by fingerprint.

        Raises ``UnresolvableSchemaError`` (``invalid_field``) saying why vanphong cannot read
        messages written with it: not JSON, not one of the contract's records, or a type the
        strict decoder does not read.
        """
        label = where or "the registry's schema"
        try:
            value = json.loads(schema) if isinstance(schema, str) else schema
            fingerprint = schema_fingerprint(value)
        except Exception as exc:  # not JSON, or not an Avro schema fastavro can read
            raise UnresolvableSchemaError(f"{label} is not an Avro schema: {exc}") from exc
        shipped = self._readers.get(fingerprint.to_bytes(8, "little"))
        if shipped is not None:
            return shipped
        known = self._registry_readers.get(fingerprint)
        if known is not None:
            return known
        try:
            sv = from_registry(value, Path(label))
        except Exception as exc:
            raise UnresolvableSchemaError(f"{label}: {exc}") from exc
        decoders = _decoders(sv.schema)
        if decoders is None:
            raise UnresolvableSchemaError(
                f"{label} ({sv.event_type.record}) uses what the strict decoder does not read: "
                f"{unsupported(sv.schema)}"
            )
        cur = self._current[sv.event_type]
        reader = Reader(
            sv.event_type, sv.parsed, cur.parsed, *decoders, sv.fingerprint, sv.version, sv
        )
        self._registry_readers[fingerprint] = reader
        return reader


def _decoders(schema: Mapping[str, Any]) -> tuple[Decoder, Decoder] | None:
    """The strict decoder of ``schema`` and its traced twin, or None when it uses what they do
    not read."""
    strict = compile_decoder(schema)
    traced = compile_decoder(schema, traced=True)
    return None if strict is None or traced is None else (strict, traced)


def _index(
    versions: Iterable[SchemaVersion], current: Mapping[EventType, SchemaVersion]
) -> tuple[dict[int, SchemaVersion], dict[bytes, Reader]]:
    """Versions by fingerprint, and a ready reader per fingerprint (by its wire bytes)."""
    by_fp: dict[int, SchemaVersion] = {}
    readers: dict[bytes, Reader] = {}
    for sv in versions:
        seen = by_fp.get(sv.fingerprint)
        if seen is not None:
            if seen.event_type != sv.event_type:
                raise RuntimeError(
                    f"{sv.path} and {seen.path} share fingerprint {fingerprint_hex(sv.fingerprint)}"
                )
            continue  # an unchanged copy in a later version: the older entry stands
        by_fp[sv.fingerprint] = sv
        cur = current[sv.event_type]
        # same canonical form as the current schema: read with the current file, whose logical
        # types (not part of the canonical form) are the ones that count
        same = cur.fingerprint == sv.fingerprint
        written = cur if same else sv
        decoders = _decoders(written.schema)
        if decoders is None:
            raise RuntimeError(
                f"{written.path}: the strict decoder (schemas/_fastdecode.py) cannot read this "
                f"schema ({unsupported(written.schema)}), so its messages would get a different "
                f"verdict than other versions'"
            )
        readers[sv.fingerprint.to_bytes(8, "little")] = Reader(
            sv.event_type,
            written.parsed,
            None if same else cur.parsed,
            *decoders,
            sv.fingerprint,
            sv.version,
            sv,
        )
    return by_fp, readers


@lru_cache(maxsize=8)
def load_known_schemas(extra_roots: tuple[Path, ...] = ()) -> KnownSchemas:
    """The registry of the shipped schemas plus ``extra_roots``, built on first use and kept
    (building one parses and compiles every schema: about a tenth of a second)."""
    return KnownSchemas(SCHEMAS_DIR, extra_roots)
