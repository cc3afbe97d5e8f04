"""The wire codec of CONTRACT.md §3: Avro single-object encoding over the shipped schemas.

A message value is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form + the Avro binary body. Writer schemas are looked up by
fingerprint among every version directory ``schemas/v<N>/`` (old versions are never deleted, so
old messages stay readable); records are read with the *current* schema of the same record (the
one in the highest version directory that has it) as reader schema, so new optional fields with
defaults can be added without breaking producers or old data.

Decoding is the workers' hot path: schemas are parsed once at import and each fingerprint maps
to a ready entry, so a decode is one dict lookup plus the body. Every body is first read by the
strict decoder generated for its *writer* schema (``_fastdecode``, ~1.6x fastavro), which alone
decides whether the bytes are well-formed; for the current schema (nearly all messages) its
record is the result, and an older writer schema's record then goes through fastavro's schema
resolution. So the same bytes get the same verdict whatever the version, and fastavro never sees
bytes that were not checked (it would read a boolean byte 02 as true, an enum index -1 as the
last symbol, an int beyond 32 bits as it is). A schema the strict decoder cannot read is refused
when the registry loads. Encoding is rarer (``vanphong publish``, the demo) and uses fastavro's
validation and writer.

Verdicts: a body that is not well-formed (truncated, trailing bytes, a boolean byte 02..ff, an
enum index or union branch out of range, an int beyond 32 bits, a length or block count beyond
the bytes left, invalid UTF-8, an over-long varint) is ``UndecodableError`` (``undecodable``); a
well-formed body with a timestamp-millis or date outside the years 1–9999 is
``OutOfRangeError`` (``invalid_field``), naming the field.

``VANPHONG_EXTRA_SCHEMAS_DIR`` (directories separated by ``os.pathsep``, each laid out like
``schemas/``: ``v<N>/<Record>.avsc``) adds schema versions to the shipped ones when the module is
imported, e.g. to let a worker read a version that is not shipped yet before `dlq replay`. The
same version of a record in two places must be the same schema.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any, Final, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import to_parsing_canonical_form
from fastavro.validation import ValidationError, validate

from schemas._fastdecode import DecodeError, Decoder, compile_decoder, unsupported
from schemas.catalog import BY_RECORD, EVENT_TYPES, EventType

__all__ = [
    "EXTRA_SCHEMAS_ENV",
    "HEADER_LENGTH",
    "MAGIC",
    "SCHEMAS_DIR",
    "CodecError",
    "Decoded",
    "InvalidDatumError",
    "OutOfRangeError",
    "SchemaRegistry",
    "SchemaVersion",
    "UndecodableError",
    "UnknownEventTypeError",
    "UnknownSchemaError",
    "crc64_avro",
    "current_schema",
    "decode",
    "encode",
    "extra_schema_dirs",
    "fingerprint_hex",
    "parsing_canonical_form",
    "registry",
    "schema_fingerprint",
]

MAGIC: Final = b"\xc3\x01"
HEADER_LENGTH: Final = 10  # magic (2) + fingerprint (8)
SCHEMAS_DIR: Final = Path(__file__).resolve().parent
EXTRA_SCHEMAS_ENV: Final = "VANPHONG_EXTRA_SCHEMAS_DIR"
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")

# --------------------------------------------------------------------------------------------
# CRC-64-AVRO (the 64-bit Rabin fingerprint of the Avro specification, "Schema Fingerprints")
# --------------------------------------------------------------------------------------------

_EMPTY64: Final = 0xC15D213AA4D7A795


def _rabin_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return tuple(table)


_FP_TABLE: Final = _rabin_table()


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO of ``data`` as an unsigned 64-bit int (written little-endian on the wire).

    Implemented here rather than taken from fastavro so the byte order is explicit: fastavro's
    ``fingerprint(..., "CRC-64-AVRO")`` returns the hex of the little-endian bytes.
    """
    fp = _EMPTY64
    table = _FP_TABLE
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def parsing_canonical_form(schema: Any) -> str:
    """The Parsing Canonical Form of a schema: a JSON-decoded value (dict, list, or a name such
    as ``"int"``), or schema JSON text (text starting with ``{``, ``[`` or ``"``)."""
    if isinstance(schema, bytes):
        schema = schema.decode("utf-8")
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        schema = json.loads(schema)
    return str(to_parsing_canonical_form(schema))


def schema_fingerprint(schema: Any) -> int:
    """CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form."""
    return crc64_avro(parsing_canonical_form(schema).encode("utf-8"))


def fingerprint_hex(fingerprint: int) -> str:
    """How fingerprints are shown in messages: the number, and the bytes as they are on the wire.

    Both forms circulate (Java prints the long, fastavro the little-endian bytes), so naming both
    saves a reader from guessing.
    """
    wire = fingerprint.to_bytes(8, "little").hex(" ")
    return f"0x{fingerprint:016x} (wire bytes {wire})"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class CodecError(ValueError):
    """Bad input to the codec. ``reason`` is the dead-letter reason of CONTRACT.md §6."""

    reason: str = "invalid_field"


class UndecodableError(CodecError):
    """The bytes are not a single-object-encoded Avro record (dead-letter ``undecodable``)."""

    reason = "undecodable"


class UnknownSchemaError(CodecError):
    """The fingerprint names no shipped schema (dead-letter ``unknown_schema``)."""

    reason = "unknown_schema"

    def __init__(self, fingerprint: int) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"unknown schema fingerprint {fingerprint_hex(fingerprint)}: "
            f"not among the schemas shipped in schemas/v*/"
        )


class OutOfRangeError(CodecError):
    """A well-formed body with a value outside what vanphong can hold (CONTRACT.md §4): a
    timestamp or date beyond the years 1–9999. Dead-letter ``invalid_field``; ``field`` names
    the culprit."""

    reason = "invalid_field"

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        super().__init__(detail)


class UnknownEventTypeError(CodecError):
    """``encode`` was asked for a record or event type that the catalog does not know."""

    def __init__(self, target: object) -> None:
        self.target = target
        known = ", ".join(e.type for e in EVENT_TYPES)
        super().__init__(
            f"unknown event type or record {target!r} (expected one of {known}, "
            f"or a record name such as {EVENT_TYPES[0].full_record_name})"
        )


class InvalidDatumError(CodecError):
    """A datum given to ``encode`` does not fit the schema; ``field`` names the culprit."""

    def __init__(self, record: str, field: str | None, message: str) -> None:
        self.record = record
        self.field = field
        where = f"{record}.{field}" if field else record
        super().__init__(f"{where}: {message}")


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One shipped schema file: ``schemas/v<version>/<Record>.avsc``."""

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
        return MAGIC + self.fingerprint.to_bytes(8, "little")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message: its event type, the record (read with the current schema) and the
    fingerprint of the schema it was written with."""

    event_type: EventType
    record: dict[str, Any]
    fingerprint: int
    writer_version: int

    @property
    def fingerprint_hex(self) -> str:
        return fingerprint_hex(self.fingerprint)


@dataclass(frozen=True, slots=True)
class _Reader:
    event_type: EventType
    writer: Any  # fastavro's parsed writer schema
    reader: Any  # None when the writer is the current schema: no resolution needed
    strict: Decoder  # the writer schema's generated decoder: the verdict on every body
    traced: Decoder  # the same, naming the field on error (run only on the error path)
    fingerprint: int
    version: int


@dataclass(frozen=True, slots=True)
class _Writer:
    current: SchemaVersion
    header: bytes
    field_names: frozenset[str]
    field_types: Mapping[str, Any]  # raw JSON field types, for error messages
    timestamp_fields: tuple[str, ...]  # fields that must not get naive datetimes
    date_fields: tuple[str, ...]  # fields that must get dates, not datetimes or strings


class SchemaRegistry:
    """Every shipped schema version, indexed by fingerprint, with the current one per record."""

    def __init__(self, root: Path = SCHEMAS_DIR, extra_roots: Sequence[Path] = ()) -> None:
        self.root = root
        versions = _merge_versions([_load_versions(r) for r in (root, *extra_roots)])
        if not versions:
            raise RuntimeError(f"no schemas found under {root}/v*/")
        self.versions: tuple[SchemaVersion, ...] = tuple(versions)

        current: dict[EventType, SchemaVersion] = {}
        for sv in self.versions:  # sorted by version, so the last one wins
            current[sv.event_type] = sv
        missing = [e.full_record_name for e in EVENT_TYPES if e not in current]
        if missing:
            raise RuntimeError(f"no schema shipped for {', '.join(missing)} under {root}/v*/")
        self._current = current

        by_fp: dict[int, SchemaVersion] = {}
        readers: dict[bytes, _Reader] = {}
        for sv in self.versions:
            seen = by_fp.get(sv.fingerprint)
            if seen is not None:
                if seen.event_type != sv.event_type:
                    raise RuntimeError(
                        f"{sv.path} and {seen.path} share fingerprint "
                        f"{fingerprint_hex(sv.fingerprint)}"
                    )
                continue  # an unchanged copy in a later version: the older entry stands
            by_fp[sv.fingerprint] = sv
            cur = current[sv.event_type]
            # same canonical form as the current schema: read with the current file, whose
            # logical types (not part of the canonical form) are the ones that count
            same = cur.fingerprint == sv.fingerprint
            written = cur if same else sv
            strict = compile_decoder(written.schema)
            traced = compile_decoder(written.schema, traced=True)
            if strict is None or traced is None:
                raise RuntimeError(
                    f"{written.path}: the strict decoder (schemas/_fastdecode.py) cannot read "
                    f"this schema ({unsupported(written.schema)}), so its messages would get "
                    f"a different verdict than other versions'"
                )
            readers[sv.fingerprint.to_bytes(8, "little")] = _Reader(
                sv.event_type,
                written.parsed,
                None if same else cur.parsed,
                strict,
                traced,
                sv.fingerprint,
                sv.version,
            )
        self._by_fingerprint = by_fp
        self._readers = readers

        writers: dict[object, _Writer] = {}
        for et, cur in current.items():
            fields = {f["name"]: f["type"] for f in cur.schema["fields"]}
            writer = _Writer(
                current=cur,
                header=cur.header,
                field_names=frozenset(fields),
                field_types=fields,
                timestamp_fields=tuple(
                    n for n, t in fields.items() if _logical(t) in _TIMESTAMP_LOGICAL
                ),
                date_fields=tuple(n for n, t in fields.items() if _logical(t) == "date"),
            )
            for key in (et, et.type, et.full_record_name, et.record):
                writers[key] = writer
        self._writers = writers

    # -- look-ups ------------------------------------------------------------------------------

    def current(self, target: EventType | str) -> SchemaVersion:
        """The current (highest-version) schema of an event type or record."""
        return self._writer(target).current

    def by_fingerprint(self, fingerprint: int) -> SchemaVersion | None:
        """The shipped schema with this fingerprint, if any."""
        return self._by_fingerprint.get(fingerprint)

    def _writer(self, target: EventType | str) -> _Writer:
        try:
            return self._writers[target]
        except (KeyError, TypeError):
            raise UnknownEventTypeError(target) from None

    # -- codec ---------------------------------------------------------------------------------

    def encode(self, target: EventType | str, datum: Mapping[str, Any]) -> bytes:
        """Single-object encoding of ``datum`` with the current schema of ``target``."""
        w = self._writers.get(target) if isinstance(target, str | EventType) else None
        if w is None:
            raise UnknownEventTypeError(target)
        if not isinstance(datum, Mapping):
            raise InvalidDatumError(
                w.current.event_type.record, None, f"expected a mapping, got {type(datum).__name__}"
            )
        parsed = w.current.parsed
        # fastavro's validation is the type check; it does not see unknown keys (the writer
        # would drop them silently) nor naive datetimes (fastavro would read them as *local*
        # time), so those two are checked here.
        if (
            not validate(datum, parsed, raise_errors=False)
            or not w.field_names.issuperset(datum)
            or _bad_temporal(w, datum)
        ):
            raise _explain(w, datum)
        out = BytesIO()
        out.write(w.header)
        try:
            schemaless_writer(out, parsed, datum)
        except Exception as exc:  # validation passed, so this is unexpected: still name it
            raise InvalidDatumError(w.current.event_type.record, None, str(exc)) from exc
        return out.getvalue()

    def decode(self, data: bytes | bytearray | memoryview | None) -> Decoded:
        """Decode one message value; raises ``UndecodableError``, ``UnknownSchemaError`` or
        ``OutOfRangeError`` (nothing else, whatever the bytes)."""
        if data is None:
            raise UndecodableError("no value (a null message)")
        if type(data) is not bytes:
            data = bytes(data)
        size = len(data)
        if size == 0:
            raise UndecodableError("empty message")
        if data[:2] != MAGIC[:size]:
            raise UndecodableError(
                f"not Avro single-object encoding: starts {data[:2].hex(' ')} (expected c3 01)"
            )
        if size < HEADER_LENGTH:
            raise UndecodableError(
                f"truncated header: {size} byte(s), a single-object header has {HEADER_LENGTH}"
            )
        key = data[2:HEADER_LENGTH]
        entry = self._readers.get(key)
        if entry is None:
            raise UnknownSchemaError(int.from_bytes(key, "little"))
        try:
            record, end, out_of_range = entry.strict(data, HEADER_LENGTH)
        except Exception as exc:  # garbage raises anything: IndexError, UnicodeDecodeError, ...
            raise _undecodable(entry, data, exc) from exc
        if end != size:
            raise UndecodableError(
                f"{size - end} trailing byte(s) after the {entry.event_type.record} record "
                f"(fingerprint {fingerprint_hex(entry.fingerprint)})"
            )
        if out_of_range is not None:  # only once the whole body proved well-formed
            raise OutOfRangeError(out_of_range.field, out_of_range.detail)
        if entry.reader is not None:  # an older writer schema: fastavro resolves it
            try:
                fo = BytesIO(data)
                fo.seek(HEADER_LENGTH)
                record = cast(dict[str, Any], schemaless_reader(fo, entry.writer, entry.reader))
            except Exception as exc:  # e.g. an enum symbol the current schema dropped
                raise UndecodableError(
                    f"{entry.event_type.record} v{entry.version} "
                    f"(fingerprint {fingerprint_hex(entry.fingerprint)}) does not resolve to "
                    f"the current schema: {_why(exc)}"
                ) from exc
        return Decoded(entry.event_type, record, entry.fingerprint, entry.version)


def _undecodable(entry: _Reader, data: bytes, exc: Exception) -> UndecodableError:
    """Why a body failed the strict decoder, naming the field: its traced twin reads the same
    bytes down the same path and says where (this runs only on the error path)."""
    try:
        entry.traced(data, HEADER_LENGTH)
    except DecodeError as located:
        why = str(located)
    except Exception as other:  # the traced decoder turns everything into a DecodeError
        why = _why(other)
    else:  # cannot happen: both decoders are generated from one schema
        why = _why(exc)
    return UndecodableError(
        f"body does not decode as {entry.event_type.record} v{entry.version} "
        f"(fingerprint {fingerprint_hex(entry.fingerprint)}): {why}"
    )


def _why(exc: Exception) -> str:
    """What went wrong while decoding a body, in words."""
    if isinstance(exc, IndexError | EOFError):
        return "the body ends early (truncated message)"
    if isinstance(exc, UnicodeDecodeError):
        return f"a string is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    return f"{type(exc).__name__}: {exc}"


_TIMESTAMP_LOGICAL: Final = frozenset({"timestamp-millis", "timestamp-micros", "timestamp-nanos"})


def _logical(field_type: Any) -> str | None:
    """The logical type of a field type, looking through a nullable union."""
    if isinstance(field_type, list):
        for branch in field_type:
            found = _logical(branch)
            if found:
                return found
        return None
    if isinstance(field_type, dict):
        lt = field_type.get("logicalType")
        return lt if isinstance(lt, str) else None
    return None


def _bad_temporal(w: _Writer, datum: Mapping[str, Any]) -> bool:
    for name in w.timestamp_fields:
        value = datum.get(name)
        if isinstance(value, datetime) and value.utcoffset() is None:
            return True
    # fastavro would also take an ISO string for a date; we keep the accepted types exact
    return any(isinstance(datum.get(name), datetime | str) for name in w.date_fields)


def _describe(field_type: Any) -> str:
    """A short English description of a schema type, for error messages."""
    if isinstance(field_type, list):
        return " or ".join(_describe(b) for b in field_type)
    if isinstance(field_type, dict):
        logical = field_type.get("logicalType")
        if logical in _TIMESTAMP_LOGICAL:
            return f"a {logical} timestamp (an aware datetime, or an int)"
        if logical == "date":
            return "a date (datetime.date, or an int of days since 1970-01-01)"
        kind = field_type.get("type")
        if kind == "enum":
            return f"one of {field_type['name']}'s symbols ({', '.join(field_type['symbols'])})"
        if kind == "array":
            return f"an array (each item {_describe(field_type['items'])})"
        if kind == "map":
            return f"a map (each value {_describe(field_type['values'])})"
        if kind == "record":
            return f"a {field_type['name']} record"
        return _describe(kind)
    return {
        "null": "null",
        "boolean": "a boolean",
        "int": "an int (32-bit)",
        "long": "a long (64-bit int)",
        "float": "a float",
        "double": "a double",
        "string": "a string",
        "bytes": "bytes",
    }.get(str(field_type), str(field_type))


def _explain(w: _Writer, datum: Mapping[str, Any]) -> InvalidDatumError:
    """Turn a failed check into one precise message; only runs on the error path."""
    record = w.current.event_type.record
    unknown = sorted(str(k) for k in datum if k not in w.field_names)
    if unknown:
        names = ", ".join(f"'{k}'" for k in unknown)
        return InvalidDatumError(
            record, unknown[0], f"unknown field{'s' if len(unknown) > 1 else ''} {names}"
        )
    for name in w.timestamp_fields:
        value = datum.get(name)
        if isinstance(value, datetime) and value.utcoffset() is None:
            return InvalidDatumError(
                record, name, f"datetime without a time zone: {value.isoformat()}"
            )
    for name in w.date_fields:
        value = datum.get(name)
        if isinstance(value, datetime | str):
            return InvalidDatumError(
                record,
                name,
                f"expected a date (datetime.date, or an int of days since 1970-01-01), "
                f"got {_short_repr(value)}",
            )
    try:
        validate(datum, w.current.parsed, raise_errors=True)
    except ValidationError as exc:
        prefix = w.current.event_type.full_record_name + "."
        for err in exc.errors:
            path = str(getattr(err, "field", "") or "")
            name = path[len(prefix) :] if path.startswith(prefix) else path
            top = name.split(".", 1)[0]
            expected = _describe(w.field_types.get(top, getattr(err, "schema", "?")))
            if top and top not in datum:
                return InvalidDatumError(record, top, f"missing field (expected {expected})")
            value = datum.get(top) if top else datum
            return InvalidDatumError(record, top or None, f"{_short_repr(value)} is not {expected}")
        return InvalidDatumError(record, None, str(exc))
    return InvalidDatumError(record, None, "does not fit the schema")


def _short_repr(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _load_versions(root: Path) -> list[SchemaVersion]:
    """Read every ``v<N>/*.avsc`` under ``root``, checking each against the catalog."""
    out: list[SchemaVersion] = []
    dirs = []
    for d in root.iterdir() if root.is_dir() else ():
        m = _VERSION_DIR.match(d.name)
        if m and d.is_dir():
            dirs.append((int(m.group(1)), d))
    for version, d in sorted(dirs):
        for path in sorted(d.glob("*.avsc")):
            schema = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(schema, dict) or schema.get("type") != "record":
                raise RuntimeError(f"{path}: not an Avro record schema")
            name = str(schema["name"])
            full = name if "." in name else f"{schema.get('namespace', '')}.{name}"
            et = BY_RECORD.get(full)
            if et is None:
                raise RuntimeError(f"{path}: record {full} is not in schemas/catalog.py")
            if path.stem != et.record:
                raise RuntimeError(f"{path}: file name does not match record {et.record}")
            canonical = parsing_canonical_form(schema)
            out.append(
                SchemaVersion(
                    event_type=et,
                    version=version,
                    path=path,
                    schema=schema,
                    canonical_form=canonical,
                    fingerprint=crc64_avro(canonical.encode("utf-8")),
                    parsed=parse_schema(schema),
                )
            )
    return out


def _merge_versions(loaded: list[list[SchemaVersion]]) -> list[SchemaVersion]:
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


def extra_schema_dirs(value: str | None = None) -> list[Path]:
    """The directories named by ``VANPHONG_EXTRA_SCHEMAS_DIR``; a missing one fails, naming it."""
    raw = os.environ.get(EXTRA_SCHEMAS_ENV, "") if value is None else value
    dirs = [Path(part).expanduser() for part in raw.split(os.pathsep) if part.strip()]
    for d in dirs:
        if not d.is_dir():
            raise RuntimeError(f"{EXTRA_SCHEMAS_ENV}: {d} is not a directory")
    return dirs


# --------------------------------------------------------------------------------------------
# Module-level API over the shipped schemas, loaded once at import
# --------------------------------------------------------------------------------------------

registry: Final = SchemaRegistry(extra_roots=extra_schema_dirs())


def encode(target: EventType | str, datum: Mapping[str, Any]) -> bytes:
    """Encode ``datum`` for an event type (``"document.issued"``, an ``EventType``) or record
    name (``"vanphong.events.DocumentIssued"``) with its current schema.

    Timestamps may be aware datetimes or int epoch milliseconds, dates ``datetime.date`` or int
    days. Raises ``InvalidDatumError`` (a ``ValueError``) naming the offending field.
    """
    return registry.encode(target, datum)


def decode(data: bytes | bytearray | memoryview | None) -> Decoded:
    """Decode one message value with its writer schema, resolved to the current schema.

    Raises ``UndecodableError`` (dead-letter reason ``undecodable``), ``UnknownSchemaError``
    (``unknown_schema``) or ``OutOfRangeError`` (``invalid_field``: a well-formed timestamp or
    date beyond the years 1–9999); all are ``CodecError``s with ``reason`` set accordingly.
    """
    return registry.decode(data)


def current_schema(target: EventType | str) -> SchemaVersion:
    """The current schema of an event type or record name."""
    return registry.current(target)


def _main() -> None:
    """``python -m schemas.codec``: list the shipped schemas and their fingerprints."""
    for sv in registry.versions:
        cur = registry.current(sv.event_type) is sv
        print(
            f"v{sv.version}  {sv.event_type.full_record_name:<36} {sv.event_type.type:<18} "
            f"{fingerprint_hex(sv.fingerprint)}{'  current' if cur else ''}"
        )


if __name__ == "__main__":
    _main()
