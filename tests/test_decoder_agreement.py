"""One verdict on a message's bytes, whatever the version of its writer schema (issue 9, §3).

A message written with the current schema is read by the generated strict decoder alone (the
fast path); one written with an older schema is checked by the strict decoder of *that* schema
and then resolved by fastavro (the fastavro path). Here the shipped schemas are made "older" by
a registry whose v2 adds an optional field to every record, so the very same bytes go down the
fast path in the shipped registry and down the fastavro path in the evolved one: both must give
the same record, or the same rejection, for random bytes and for mutations of valid encodings.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import tracemalloc
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import HOSTILE, body_parts, varint, zigzag
from tests.test_codec import datum_strategy
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.codec import CodecError, KnownSchemas, shipped_schemas

registry = shipped_schemas()  # the shipped schemas' registry

ADDED = {"name": "note", "type": ["null", "string"], "default": None, "doc": "test-only"}


#: The version after every shipped one: the evolved registry's current version of each record.
TOP = max(sv.version for sv in registry.versions) + 1


def _evolved() -> KnownSchemas:
    """The shipped schemas, and a v<TOP> of every record: its current schema with one more
    optional field."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for sv in registry.versions:
            target = root / f"v{sv.version}" / sv.path.name
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(sv.path, target)
        (root / f"v{TOP}").mkdir()
        for et in EVENT_TYPES:
            schema = json.loads(registry.current(et).path.read_text(encoding="utf-8"))
            schema["fields"].append(ADDED)
            path = root / f"v{TOP}" / f"{et.record}.avsc"
            path.write_text(json.dumps(schema), encoding="utf-8")
        return KnownSchemas(root)  # everything is parsed and compiled here


EVOLVED = _evolved()


def test_the_evolved_registry_reads_the_shipped_schemas_through_fastavro() -> None:
    for et in EVENT_TYPES:
        shipped = registry.current(et)
        assert EVOLVED.current(et).version == TOP
        assert EVOLVED.by_fingerprint(shipped.fingerprint) is not None
        entry = EVOLVED._readers[shipped.header[2:]]
        assert entry.reader is not None  # resolution: the fastavro path
        assert registry._readers[shipped.header[2:]].reader is None  # the fast path


Verdict = tuple[str, Any]


def verdict(reg: KnownSchemas, data: bytes | None) -> Verdict:
    """("ok", record) or (error type, message); any other exception fails the test."""
    try:
        record = reg.decode(data).record
    except CodecError as exc:
        return type(exc).__name__, str(exc)
    if reg is EVOLVED:
        record = dict(record)
        assert record.pop("note") is None
    return "ok", record


def assert_one_verdict(data: bytes) -> Verdict:
    fast, resolved = verdict(registry, data), verdict(EVOLVED, data)
    assert fast == resolved
    if fast[0] == "ok":  # and fastavro alone reads exactly that record from those bytes
        et = registry.decode(data).event_type
        body = BytesIO(data[10:])
        assert fastavro.schemaless_reader(body, registry.current(et).parsed, None) == fast[1]
        assert body.tell() == len(data) - 10
    return fast


WITH_HEADER = [c for c in HOSTILE if c.value is not None and len(c.value) >= 10]


@pytest.mark.parametrize("case", WITH_HEADER, ids=lambda c: c.name)
def test_every_hostile_case_gets_one_verdict(case: Any) -> None:
    assert case.value is not None
    got = assert_one_verdict(case.value)
    if case.reason == "undecodable":
        assert got[0] == "UndecodableError", got
    elif case.reason == "unknown_schema":
        assert got[0] == "UnknownSchemaError", got


# ---------------------------------------------------------------------------------------------
# Random and mutated bytes
# ---------------------------------------------------------------------------------------------

SPECIAL = [
    0,
    -1,
    1,
    63,
    -64,
    64,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**40,
    -(2**40),
    2**62,
    -(2**62),
    2**63 - 1,
    -(2**63),
    2932896,  # the last day Python's date holds, in days since 1970
    2932897,
    -719162,
    -719163,
    253402300799999,  # the last millisecond of 9999
    253402300800000,
    -62135596800000,  # the first millisecond of the year 1
    -62135596800001,
]
RAW_TOKENS = [
    b"\xff" * 10 + b"\x01",  # 11-byte varint
    varint(1 << 64),  # beyond 64 bits
    b"\x80" * 5,  # unterminated varint
    b"\xc0\x80",  # over-long NUL
    b"\xed\xa0\x80",  # a surrogate
    b"\xff\xfe",
]


def _strings(n: int) -> bytes:
    return b"".join(zigzag(2) + b"u%d" % (i % 10) for i in range(n))


@st.composite
def negative_block(draw: st.DrawFn) -> bytes:
    """An array block with a negative count and a byte size, right or wrong."""
    n = draw(st.integers(1, 3))
    items = _strings(n)
    size = len(items) + draw(st.sampled_from([0, 0, 1, -1, 2**40, -len(items) - 1]))
    return zigzag(-n) + zigzag(size) + items + draw(st.sampled_from([b"\x00", b""]))


TOKENS = st.one_of(
    st.sampled_from(SPECIAL).map(zigzag),
    st.integers(-(2**64), 2**64).map(zigzag),
    st.sampled_from(RAW_TOKENS),
    st.integers(2, 255).map(lambda b: bytes([b])),  # boolean bytes, odd (negative) enum bytes
    st.integers(-70, 70).map(zigzag),  # enum indexes and union branches, in and out of range
    st.sampled_from(SPECIAL).map(lambda n: zigzag(n) + b"abc"),  # string lengths
    negative_block(),
)


@st.composite
def mutated_message(draw: st.DrawFn) -> bytes:
    et: EventType = draw(st.sampled_from(EVENT_TYPES))
    header = registry.current(et).header
    kind = draw(st.sampled_from(["random", "flip", "truncate", "insert", "splice", "splice"]))
    if kind == "random":
        return header + draw(st.binary(max_size=120))
    parts = body_parts(et, draw(datum_strategy(et)))
    body = b"".join(data for _, data in parts)
    if kind == "flip":
        i = draw(st.integers(0, len(body) - 1))
        mask = draw(st.integers(1, 255))
        return header + body[:i] + bytes([body[i] ^ mask]) + body[i + 1 :]
    if kind == "truncate":
        return header + body[: draw(st.integers(0, len(body) - 1))]
    if kind == "insert":
        i = draw(st.integers(0, len(body)))
        return header + body[:i] + draw(st.binary(min_size=1, max_size=12)) + body[i:]
    # splice a hostile token at a field boundary, replacing the field or before it
    k = draw(st.integers(0, len(parts) - 1))
    token = draw(TOKENS) + draw(st.binary(max_size=4))
    before = b"".join(data for _, data in parts[:k])
    after = b"".join(data for _, data in parts[k + (1 if draw(st.booleans()) else 0) :])
    return header + before + token + after


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_message())
def test_property_fast_path_and_fastavro_path_give_one_verdict(data: bytes) -> None:
    assert_one_verdict(data)


@settings(max_examples=300, deadline=None)
@given(et=st.sampled_from(EVENT_TYPES), data=st.data())
def test_property_valid_encodings_decode_the_same_on_both_paths(
    et: EventType, data: st.DataObject
) -> None:
    datum = data.draw(datum_strategy(et))
    message = registry.current(et).header + b"".join(b for _, b in body_parts(et, datum))
    assert assert_one_verdict(message) == ("ok", datum)


# ---------------------------------------------------------------------------------------------
# Nothing is allocated by a length or count just read
# ---------------------------------------------------------------------------------------------

CLAIMS_2_40 = [c for c in HOSTILE if "2⁴⁰" in c.name]


@pytest.mark.parametrize("case", CLAIMS_2_40, ids=lambda c: c.name)
@pytest.mark.parametrize("reg", [registry, EVOLVED], ids=["fast path", "fastavro path"])
def test_a_claim_of_2_40_items_or_bytes_allocates_nothing_of_that_size(
    case: Any, reg: KnownSchemas
) -> None:
    assert case.value is not None
    tracemalloc.start()
    try:
        with pytest.raises(CodecError):
            reg.decode(case.value)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, peak


def test_the_catalogue_has_claims_of_2_40() -> None:
    assert {c.name for c in CLAIMS_2_40} >= {
        "a string claiming 2⁴⁰ bytes",
        "an array claiming 2⁴⁰ items",
        "an array block of -2⁴⁰ items with a byte size",
    }
