"""What the generated strict decoders (``_fastdecode``) call at run time: reading Avro varints,
bytes and strings out of line, the bounds they check, and the errors they raise.

The generated code names these through the namespace :data:`GENERATED_NAMES` (its names start
with ``_``, so a decoder's source reads as one private function); the generator itself only uses
the bounds, which it writes into the code as literals.
"""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta
from struct import Struct
from typing import Any, NamedTuple

__all__ = [
    "DAYS_SHIFT",
    "DAY_MAX",
    "DAY_MIN",
    "GENERATED_NAMES",
    "INT_MAX",
    "INT_MIN",
    "MS_MAX",
    "MS_MIN",
    "DecodeError",
    "OutOfRange",
    "bad_block_size",
    "bad_boolean",
    "bad_branch",
    "bad_count",
    "bad_enum",
    "bad_int",
    "days_out_of_range",
    "located",
    "ms_out_of_range",
    "read_bytes",
    "read_long",
    "read_string",
]


class OutOfRange(NamedTuple):
    """A well-formed value that no Python value can hold: ``detail`` names the field."""

    field: str
    detail: str


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAYS_SHIFT = date(1970, 1, 1).toordinal()
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# what datetime and date hold, in the units Avro writes (ms and days since 1970-01-01)
MS_MIN = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)
MS_MAX = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH) // timedelta(
    milliseconds=1
)
DAY_MIN = date.min.toordinal() - DAYS_SHIFT
DAY_MAX = date.max.toordinal() - DAYS_SHIFT


class DecodeError(ValueError):
    """The body does not decode with the schema; ``field`` names where, when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message if field is None else f"field {field}: {message}")
        self.field = field


def read_long(data: bytes, pos: int) -> tuple[int, int]:
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


def read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = read_long(data, pos)
    end = pos + n
    if n < 0:
        raise DecodeError(f"negative length {n}")
    if end > len(data):
        raise DecodeError(f"length {n:,} but only {len(data) - pos:,} byte(s) left")
    return data[pos:end], end


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    raw, pos = read_bytes(data, pos)
    return raw.decode(), pos


def bad_boolean(b: int) -> DecodeError:
    return DecodeError(f"boolean byte {b:#04x} (only 0x00 and 0x01 are booleans)")


def bad_enum(index: int, name: str, count: int) -> DecodeError:
    return DecodeError(f"enum index {index} but {name} has {count} symbols (0–{count - 1})")


def bad_branch(index: int, count: int) -> DecodeError:
    return DecodeError(f"union branch {index} but the union has {count} branches (0–{count - 1})")


def bad_int(value: int) -> DecodeError:
    return DecodeError(f"int {value:,} does not fit 32 bits")


def bad_count(count: int, left: int, what: str) -> DecodeError:
    return DecodeError(f"{what} block of {count:,} items but only {left:,} byte(s) left")


def bad_block_size(size: int, actual: int, what: str) -> DecodeError:
    return DecodeError(f"{what} block says {size:,} bytes but its items take {actual:,}")


def ms_out_of_range(field: str, ms: int) -> OutOfRange:
    return OutOfRange(
        field, f"{field} is outside the years 1–9999 ({ms:,} ms from 1970-01-01T00:00:00Z)"
    )


def days_out_of_range(field: str, days: int) -> OutOfRange:
    return OutOfRange(field, f"{field} is outside the years 1–9999 ({days:,} days from 1970-01-01)")


def located(at: str | None, exc: Exception) -> DecodeError:
    """Any exception of a traced decoder as a ``DecodeError`` naming the field being read."""
    if isinstance(exc, DecodeError):
        return DecodeError(str(exc), at)
    if isinstance(exc, IndexError | struct.error):
        return DecodeError("the body ends inside this field (truncated message)", at)
    if isinstance(exc, UnicodeDecodeError):
        return DecodeError(f"string is not valid UTF-8 ({exc.reason} at byte {exc.start})", at)
    return DecodeError(f"{type(exc).__name__}: {exc}", at)


# The names a generated decoder's source uses, and what they are.
GENERATED_NAMES: dict[str, Any] = {
    "_read_long": read_long,
    "_read_bytes": read_bytes,
    "_read_string": read_string,
    "_DecodeError": DecodeError,
    "_bad_boolean": bad_boolean,
    "_bad_enum": bad_enum,
    "_bad_branch": bad_branch,
    "_bad_int": bad_int,
    "_bad_count": bad_count,
    "_bad_block_size": bad_block_size,
    "_ms_out_of_range": ms_out_of_range,
    "_days_out_of_range": days_out_of_range,
    "_located": located,
    "_EPOCH": EPOCH,
    "_timedelta": timedelta,
    "_fromordinal": date.fromordinal,
    "_unpack_f": Struct("<f").unpack_from,
    "_unpack_d": Struct("<d").unpack_from,
}
