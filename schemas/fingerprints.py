"""How a message names its writer schema (CONTRACT.md §3): the single-object header.

A message value starts ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form (Avro specification, "Single object encoding" and "Schema
Fingerprints").
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastavro.schema import to_parsing_canonical_form

__all__ = [
    "HEADER_LENGTH",
    "MAGIC",
    "crc64_avro",
    "fingerprint_hex",
    "parsing_canonical_form",
    "schema_fingerprint",
]

MAGIC: Final = b"\xc3\x01"
HEADER_LENGTH: Final = 10  # magic (2) + fingerprint (8)

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


def header(fingerprint: int) -> bytes:
    """The 10-byte single-object header of messages written with the schema of ``fingerprint``."""
    return MAGIC + fingerprint.to_bytes(8, "little")
