"""Strict Avro binary decoders, generated once per schema: the one verdict on a message's bytes.

fastavro's ``schemaless_reader`` reads from a file object one ``read()`` call at a time and
re-walks the schema on every message; for our flat records that costs ~0.4 µs a field. Here a
record schema is compiled once into straight-line Python over the ``bytes`` (one function, no
per-field calls, one-byte varints inlined), which reads the same bodies ~1.5x faster.

These decoders are also *strict*, and they are the only judge of whether bytes are well-formed:
the codec runs the writer schema's decoder on every message, also when fastavro then resolves an
older writer schema to the current one, so the same bytes get the same verdict whatever the
schema version. fastavro is lenient where the Avro specification leaves no room:

- a boolean is the byte 00 or 01; 02..ff are refused (fastavro reads them as true);
- an enum index or union branch must name a symbol or branch (fastavro takes -1 as the last);
- an ``int`` must fit 32 bits (fastavro returns the long it read);
- a varint has at most 10 bytes and 64 bits;
- a string is valid UTF-8; a length, or an array or map block count, never exceeds the bytes
  left, so nothing is allocated or looped over by a number just read (every item of a supported
  array or map takes at least one byte); a negative block count's byte size must be the size of
  the block's items, as a reader that skips blocks by their size would see them.

A value that is well-formed Avro but cannot be represented (a ``timestamp-millis`` or ``date``
outside the years 1–9999 that Python's ``datetime`` and ``date`` hold) does not fail the decode:
the field decodes as None and the decoder returns an :class:`OutOfRange` naming it, which the
codec turns into ``invalid_field`` once the whole body has proven well-formed (a malformed body
stays ``undecodable``).

Supported: primitives, enums, arrays, maps, unions, fixed, nested records (written inline, not
referenced by name) and the logical types ``timestamp-millis`` and ``date``. For anything else
``compile_decoder`` returns None and :func:`unsupported` says why; the codec refuses to load such a
schema rather than read it with fastavro alone.

What the generated code calls at run time (the out-of-line readers, the bounds, the errors) is
in ``_decoderuntime``; this module writes and compiles the code.

A decoder raises anything on garbage (``DecodeError``, IndexError at the end of the data,
UnicodeDecodeError, struct.error); the *traced* variant of the same decoder (``traced=True``, only
run on that error path) raises a ``DecodeError`` naming the field instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vanphong.schemas._decoderuntime import (
    DAY_MAX,
    DAY_MIN,
    DAYS_SHIFT,
    GENERATED_NAMES,
    INT_MAX,
    INT_MIN,
    MS_MAX,
    MS_MIN,
    DecodeError,
    OutOfRange,
)

__all__ = ["DecodeError", "Decoder", "OutOfRange", "compile_decoder", "unsupported"]

Decoder = Callable[[bytes, int], tuple[dict[str, Any], int, OutOfRange | None]]


class _Unsupported(Exception):
    pass


class _Gen:
    """Emits the body of one decoder function."""

    def __init__(self, traced: bool) -> None:
        self.traced = traced
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

    def int32(self, indent: int, target: str) -> None:
        self.long(indent, target)
        self.emit(indent, f"if not {INT_MIN} <= {target} <= {INT_MAX}: raise _bad_int({target})")

    def value(self, schema: Any, indent: int, target: str, label: str) -> None:
        """Emit code that reads one value of ``schema`` into the local ``target``; ``label`` is
        a Python expression naming the value in messages (the field, ``name[i]`` for items)."""
        if isinstance(schema, list):
            self.union(schema, indent, target, label)
            return
        if isinstance(schema, Mapping):
            logical = schema.get("logicalType")
            kind = schema.get("type")
            if logical is not None:
                self.logical(logical, kind, indent, target, label)
                return
            if kind == "enum":
                self.enum(schema, indent, target)
                return
            if kind == "array":
                self.blocks(schema["items"], None, indent, target, label)
                return
            if kind == "map":
                self.blocks(schema["values"], "string", indent, target, label)
                return
            if kind == "record":
                self.record(schema, indent, target, label)
                return
            if kind == "fixed":
                size = int(schema["size"])
                self.emit(indent, f"e = pos + {size}")
                self.emit(indent, "if e > end: raise _DecodeError('truncated fixed')")
                self.emit(indent, f"{target} = data[pos:e]")
                self.emit(indent, "pos = e")
                return
            if isinstance(kind, str) and kind in _PRIMITIVES:
                self.value(kind, indent, target, label)
                return
            raise _Unsupported(f"type {kind!r}")
        if schema == "null":
            self.emit(indent, f"{target} = None")
        elif schema == "boolean":
            self.emit(indent, "b = data[pos]")
            self.emit(indent, "if b > 1: raise _bad_boolean(b)")
            self.emit(indent, f"{target} = b == 1")
            self.emit(indent, "pos += 1")
        elif schema == "int":
            self.int32(indent, target)
        elif schema == "long":
            self.long(indent, target)
        elif schema in ("string", "bytes"):
            # a one-byte, even varint is a length of 0..63: the common case, inlined
            self.emit(indent, "b = data[pos]")
            self.emit(indent, "if b < 128 and not b & 1:")
            self.emit(indent + 1, "e = pos + 1 + (b >> 1)")
            self.emit(
                indent + 1,
                "if e > end: raise _DecodeError(f'length {b >> 1} but only {end - pos - 1} "
                "byte(s) left')",
            )
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

    def logical(self, logical: str, kind: Any, indent: int, target: str, label: str) -> None:
        """timestamp-millis and date; a value beyond the years 1–9999 decodes as None and is
        reported once the body has decoded (see the module docstring)."""
        if logical == "timestamp-millis" and kind == "long":
            self.long(indent, target)
            self.emit(indent, f"if {MS_MIN} <= {target} <= {MS_MAX}:")
            self.emit(indent + 1, f"{target} = _EPOCH + _timedelta(microseconds={target} * 1000)")
            self.emit(indent, "else:")
            self.emit(indent + 1, f"if bad is None: bad = _ms_out_of_range({label}, {target})")
            self.emit(indent + 1, f"{target} = None")
        elif logical == "date" and kind == "int":
            self.int32(indent, target)
            self.emit(indent, f"if {DAY_MIN} <= {target} <= {DAY_MAX}:")
            self.emit(indent + 1, f"{target} = _fromordinal({target} + {DAYS_SHIFT})")
            self.emit(indent, "else:")
            self.emit(indent + 1, f"if bad is None: bad = _days_out_of_range({label}, {target})")
            self.emit(indent + 1, f"{target} = None")
        else:
            raise _Unsupported(f"logical type {logical}")

    def enum(self, schema: Mapping[str, Any], indent: int, target: str) -> None:
        symbols = list(schema["symbols"])
        name, count = str(schema["name"]), len(symbols)
        table = self.const(tuple(symbols), "symbols")
        # indexed by the zig-zag byte 0..127: even bytes are indexes 0..63, odd ones negative
        by_byte = self.const(
            tuple(symbols[b >> 1] if not b & 1 and b >> 1 < count else None for b in range(128)),
            "byte",
        )
        self.emit(indent, "b = data[pos]")
        self.emit(indent, "if b < 128:")
        self.emit(indent + 1, f"{target} = {by_byte}[b]")
        self.emit(
            indent + 1,
            f"if {target} is None: raise _bad_enum((b >> 1) ^ -(b & 1), {name!r}, {count})",
        )
        self.emit(indent + 1, "pos += 1")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"{target}, pos = _read_long(data, pos)")
        self.emit(
            indent + 1,
            f"if not 0 <= {target} < {count}: raise _bad_enum({target}, {name!r}, {count})",
        )
        self.emit(indent + 1, f"{target} = {table}[{target}]")

    def union(self, branches: list[Any], indent: int, target: str, label: str) -> None:
        if len(branches) > 64:
            raise _Unsupported("union of more than 64 branches")
        idx = self.tmp("u")
        # the branch index is one zig-zag byte, 2 * i, unless written with redundant varint bytes
        self.emit(indent, f"{idx} = data[pos]")
        self.emit(indent, f"if {idx} < 128: pos += 1")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"{idx}, pos = _read_long(data, pos)")
        self.emit(indent + 1, f"{idx} = ({idx} << 1) ^ ({idx} >> 63)  # zig-zag again")
        for i, branch in enumerate(branches):
            self.emit(indent, f"{'if' if i == 0 else 'elif'} {idx} == {2 * i}:")
            self.value(branch, indent + 1, target, label)
        self.emit(indent, f"else: raise _bad_branch(({idx} >> 1) ^ -({idx} & 1), {len(branches)})")

    def blocks(self, items: Any, key: str | None, indent: int, target: str, label: str) -> None:
        """An array (``key`` None) or a map (``key`` "string"): blocks of items until a zero
        count; a negative count is followed by the block's size in bytes, which must be right."""
        what = "array" if key is None else "map"
        if key is None and _min_size(items) == 0:
            # zero-byte items: a count could not be bounded by the bytes left
            raise _Unsupported(f"array of zero-byte items ({items!r})")
        count, item, size, start = self.tmp("c"), self.tmp("x"), self.tmp("s"), self.tmp("p")
        self.emit(indent, f"{target} = {'[]' if key is None else '{}'}")
        self.emit(indent, "while True:")
        self.long(indent + 1, count)
        self.emit(indent + 1, f"if {count} == 0: break")
        self.emit(indent + 1, f"{size} = -1")
        self.emit(indent + 1, f"if {count} < 0:")
        self.emit(indent + 2, f"{count} = -{count}")
        self.long(indent + 2, size)
        self.emit(
            indent + 2, f"if {size} < 0: raise _DecodeError(f'{what} block size {{{size}}} < 0')"
        )
        # every item takes at least one byte, so a larger count is garbage, not a long array
        self.emit(
            indent + 1,
            f"if {count} > end - pos: raise _bad_count({count}, end - pos, {what!r})",
        )
        self.emit(indent + 1, f"{start} = pos")
        self.emit(indent + 1, f"for _ in range({count}):")
        if key is None:
            item_label = f"{label} + '[' + str(len({target})) + ']'"
            if self.traced:
                self.emit(indent + 2, f"at = {item_label}")
            self.value(items, indent + 2, item, item_label)
            self.emit(indent + 2, f"{target}.append({item})")
        else:
            k = self.tmp("k")
            self.value("string", indent + 2, k, label)
            item_label = f"{label} + '[' + repr({k}) + ']'"
            if self.traced:
                self.emit(indent + 2, f"at = {item_label}")
            self.value(items, indent + 2, item, item_label)
            self.emit(indent + 2, f"{target}[{k}] = {item}")
        if self.traced:
            self.emit(indent + 1, f"at = {label}")
        self.emit(
            indent + 1,
            f"if {size} >= 0 and pos - {start} != {size}: "
            f"raise _bad_block_size({size}, pos - {start}, {what!r})",
        )

    def record(self, schema: Mapping[str, Any], indent: int, target: str, label: str) -> None:
        """A record written inline: its fields, then one dict (as fastavro returns it)."""
        names: list[tuple[str, str]] = []
        for field in schema["fields"]:
            local = self.tmp("r")
            name = str(field["name"])
            sub = f"{label} + {'.' + name!r}"
            if self.traced:
                self.emit(indent, f"at = {sub}")
            self.value(field["type"], indent, local, sub)
            names.append((name, local))
        self.emit(indent, f"{target} = {{{', '.join(f'{n!r}: {v}' for n, v in names)}}}")


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def _min_size(schema: Any) -> int:
    """The fewest bytes a value of ``schema`` takes (0 for null, empty fixed or records)."""
    if isinstance(schema, list):
        return 1
    if isinstance(schema, Mapping):
        kind = schema.get("type")
        if kind == "record":
            return sum(_min_size(f["type"]) for f in schema["fields"])
        if kind == "fixed":
            return int(schema["size"])
        if isinstance(kind, str) and kind in _PRIMITIVES:
            return _min_size(kind)
        return 1  # enum, array, map: at least one varint
    return 0 if schema == "null" else 1  # anything unsupported fails later, by name


def _generate(schema: Mapping[str, Any], traced: bool) -> tuple[str, dict[str, Any]]:
    """The Python source of the decoder and the constants it names; raises ``_Unsupported``."""
    if schema.get("type") != "record":
        raise _Unsupported("not a record schema")
    gen = _Gen(traced)
    names: list[tuple[str, str]] = []
    indent = 2 if traced else 1
    for i, field in enumerate(schema["fields"]):
        local = f"f{i}"
        name = str(field["name"])
        if traced:
            gen.emit(indent, f"at = {name!r}")
        gen.value(field["type"], indent, local, repr(name))
        names.append((name, local))
    record = ", ".join(f"{name!r}: {local}" for name, local in names)
    head = ["def decode(data, pos):", "    end = len(data)", "    bad = None"]
    if not traced:
        return "\n".join([*head, *gen.lines, f"    return {{{record}}}, pos, bad"]), gen.consts
    source = "\n".join(
        [
            *head,
            "    at = None",
            "    try:",
            *gen.lines,
            "    except Exception as exc:",
            "        raise _located(at, exc) from exc",
            f"    return {{{record}}}, pos, bad",
        ]
    )
    return source, gen.consts


def unsupported(schema: Mapping[str, Any]) -> str | None:
    """Why no decoder can be generated for ``schema``, or None when one can."""
    try:
        _generate(schema, traced=False)
    except _Unsupported as exc:
        return str(exc)
    return None


def compile_decoder(schema: Mapping[str, Any], *, traced: bool = False) -> Decoder | None:
    """A function ``(data, pos) -> (record, end_pos, out_of_range)`` decoding one record of this
    schema from ``data`` (``bytes``) at ``pos``, or None when the schema uses something not
    supported here. ``traced``: the slower variant whose every error is a ``DecodeError`` naming
    the field (run it on bytes the fast one failed on, to say where)."""
    try:
        source, consts = _generate(schema, traced)
    except _Unsupported:
        return None
    namespace: dict[str, Any] = dict(GENERATED_NAMES)
    namespace.update(consts)
    kind = "traced decoder" if traced else "decoder"
    exec(compile(source, f"<avro {kind} {schema.get('name')}>", "exec"), namespace)
    decoder: Decoder = namespace["decode"]
    decoder.__doc__ = source  # for debugging: the generated code
    return decoder
