"""Specialised Avro binary decoders, generated once per schema, for the decode hot path.

fastavro's ``schemaless_reader`` reads from a file object one ``read()`` call at a time and
re-walks the schema on every message; for our flat records that costs ~0.4 µs a field. Here a
record schema is compiled once into straight-line Python over the ``bytes`` (one function, no
per-field calls, one-byte varints inlined), which reads the same bodies ~1.5x faster.

Only what the shipped schemas need is supported: primitives, enums, arrays, unions, fixed and the
logical types ``timestamp-millis`` and ``date``. For anything else ``compile_decoder`` returns
None and the caller uses fastavro, which also stays in charge of schema resolution (reading with
a different writer schema). The tests check this decoder against fastavro on random data.

Decoders raise ``DecodeError`` (or IndexError, KeyError, UnicodeDecodeError, OverflowError on
garbage); the caller turns any exception into its own "undecodable" error, and checks that the
record ends where the message does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from struct import Struct
from typing import Any

__all__ = ["DecodeError", "compile_decoder"]

Decoder = Callable[[bytes, int], tuple[dict[str, Any], int]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS_SHIFT = date(1970, 1, 1).toordinal()
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class DecodeError(ValueError):
    """The body does not decode with the schema."""


class _Unsupported(Exception):
    pass


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    """Read a zig-zag varint at ``pos``: the multi-byte case, out of line."""
    n = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise DecodeError("varint longer than 10 bytes")
    if n >= 1 << 64:
        raise DecodeError("varint exceeds 64 bits")
    return (n >> 1) ^ -(n & 1), pos


def _read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _read_long(data, pos)
    end = pos + n
    if n < 0 or end > len(data):
        raise DecodeError("truncated bytes or string")
    return data[pos:end], end


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    raw, pos = _read_bytes(data, pos)
    return raw.decode(), pos


class _Gen:
    """Emits the body of one decoder function."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.counter = 0

    def tmp(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any, prefix: str) -> str:
        name = self.tmp(f"_{prefix}")
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def long(self, indent: int, target: str) -> None:
        # one-byte varints (-64..63) are the common case: no call, no loop
        self.emit(indent, "b = data[pos]")
        self.emit(indent, f"if b < 128: {target} = (b >> 1) ^ -(b & 1); pos += 1")
        self.emit(indent, f"else: {target}, pos = _read_long(data, pos)")

    def value(self, schema: Any, indent: int, target: str) -> None:
        """Emit code that reads one value of ``schema`` into the local ``target``."""
        if isinstance(schema, list):
            self.union(schema, indent, target)
            return
        if isinstance(schema, Mapping):
            logical = schema.get("logicalType")
            kind = schema.get("type")
            if logical is not None:
                if logical == "timestamp-millis" and kind == "long":
                    self.long(indent, target)
                    self.emit(
                        indent, f"{target} = _EPOCH + _timedelta(microseconds={target} * 1000)"
                    )
                    return
                if logical == "date" and kind == "int":
                    self.long(indent, target)
                    self.emit(indent, f"{target} = _fromordinal({target} + _DAYS_SHIFT)")
                    return
                raise _Unsupported(f"logical type {logical}")
            if kind == "enum":
                symbols = self.const(dict(enumerate(schema["symbols"])), "symbols")
                # keyed by the zig-zag byte of indexes 0..63, so no arithmetic on the fast path
                by_byte = self.const(
                    {2 * i: v for i, v in enumerate(schema["symbols"][:64])}, "byte"
                )
                self.emit(indent, "b = data[pos]")
                self.emit(indent, f"if b < 128: {target} = {by_byte}[b]; pos += 1")
                self.emit(indent, "else:")
                self.emit(indent + 1, f"{target}, pos = _read_long(data, pos)")
                self.emit(indent + 1, f"{target} = {symbols}[{target}]")
                return
            if kind == "array":
                self.array(schema["items"], indent, target)
                return
            if kind == "fixed":
                size = int(schema["size"])
                self.emit(indent, f"e = pos + {size}")
                self.emit(indent, "if e > end: raise _DecodeError('truncated fixed')")
                self.emit(indent, f"{target} = data[pos:e]")
                self.emit(indent, "pos = e")
                return
            if isinstance(kind, str) and kind in _PRIMITIVES:
                self.value(kind, indent, target)
                return
            raise _Unsupported(f"type {kind!r}")
        if schema == "null":
            self.emit(indent, f"{target} = None")
        elif schema == "boolean":
            self.emit(indent, f"{target} = _BOOL[data[pos]]")
            self.emit(indent, "pos += 1")
        elif schema in ("int", "long"):
            self.long(indent, target)
            if schema == "int":
                self.emit(
                    indent,
                    f"if not {_INT_MIN} <= {target} <= {_INT_MAX}: "
                    "raise _DecodeError('int out of range')",
                )
        elif schema in ("string", "bytes"):
            # a one-byte, even varint is a length of 0..63: the common case, inlined
            self.emit(indent, "b = data[pos]")
            self.emit(indent, "if b < 128 and not b & 1:")
            self.emit(indent + 1, "e = pos + 1 + (b >> 1)")
            self.emit(indent + 1, f"if e > end: raise _DecodeError('truncated {schema}')")
            if schema == "string":
                self.emit(indent + 1, f"{target} = data[pos + 1:e].decode()")
            else:
                self.emit(indent + 1, f"{target} = data[pos + 1:e]")
            self.emit(indent + 1, "pos = e")
            self.emit(indent, f"else: {target}, pos = _read_{schema}(data, pos)")
        elif schema in ("float", "double"):
            unpack = "_unpack_f" if schema == "float" else "_unpack_d"
            size = 4 if schema == "float" else 8
            self.emit(indent, f"{target} = {unpack}(data, pos)[0]")
            self.emit(indent, f"pos += {size}")
        else:
            raise _Unsupported(f"type {schema!r}")

    def union(self, branches: list[Any], indent: int, target: str) -> None:
        idx = self.tmp("u")
        if len(branches) <= 64:  # the branch index is one zig-zag byte: 2 * i
            self.emit(indent, f"{idx} = data[pos]")
            self.emit(indent, "pos += 1")
            for i, branch in enumerate(branches):
                self.emit(indent, f"{'if' if i == 0 else 'elif'} {idx} == {2 * i}:")
                self.value(branch, indent + 1, target)
        else:
            raise _Unsupported("union of more than 64 branches")
        self.emit(indent, "else: raise _DecodeError('union branch out of range')")

    def array(self, items: Any, indent: int, target: str) -> None:
        if items == "null" or (isinstance(items, Mapping) and items.get("type") == "null"):
            raise _Unsupported("array of null")  # zero-byte items: counts cannot be bounded
        count, item = self.tmp("c"), self.tmp("x")
        self.emit(indent, f"{target} = []")
        self.emit(indent, "while True:")
        self.long(indent + 1, count)
        self.emit(indent + 1, f"if {count} == 0: break")
        self.emit(indent + 1, f"if {count} < 0:")
        self.emit(indent + 2, f"{count} = -{count}")
        self.long(indent + 2, "_")
        # every item takes at least one byte, so a larger count is garbage, not a long array
        self.emit(indent + 1, f"if {count} > end - pos: raise _DecodeError('truncated array')")
        self.emit(indent + 1, f"for _ in range({count}):")
        self.value(items, indent + 2, item)
        self.emit(indent + 2, f"{target}.append({item})")


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def compile_decoder(schema: Mapping[str, Any]) -> Decoder | None:
    """A function ``(data, pos) -> (record, end_pos)`` decoding one record of this schema from
    ``data`` (``bytes``) at ``pos``, or None when the schema uses something not supported here."""
    if schema.get("type") != "record":
        return None
    gen = _Gen()
    names: list[tuple[str, str]] = []
    try:
        for i, field in enumerate(schema["fields"]):
            local = f"f{i}"
            gen.value(field["type"], 1, local)
            names.append((str(field["name"]), local))
    except _Unsupported:
        return None
    record = ", ".join(f"{name!r}: {local}" for name, local in names)
    source = "\n".join(
        [
            "def decode(data, pos):",
            "    end = len(data)",
            *gen.lines,
            f"    return {{{record}}}, pos",
        ]
    )
    namespace: dict[str, Any] = {
        "_read_long": _read_long,
        "_read_bytes": _read_bytes,
        "_read_string": _read_string,
        "_DecodeError": DecodeError,
        "_EPOCH": _EPOCH,
        "_timedelta": timedelta,
        "_fromordinal": date.fromordinal,
        "_DAYS_SHIFT": _DAYS_SHIFT,
        "_BOOL": (False, True),
        "_unpack_f": Struct("<f").unpack_from,
        "_unpack_d": Struct("<d").unpack_from,
        **gen.consts,
    }
    exec(compile(source, f"<avro decoder {schema.get('name')}>", "exec"), namespace)
    decoder: Decoder = namespace["decode"]
    decoder.__doc__ = source  # for debugging: the generated code
    return decoder
