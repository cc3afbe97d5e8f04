"""The wire codec (CONTRACT.md §3): fingerprints, single-object framing, round trips, schema
resolution and the two dead-letter error types. No broker or database needed."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vanphong.schemas import codec
from vanphong.schemas._fastdecode import DecodeError, compile_decoder, unsupported
from vanphong.schemas.catalog import EVENT_TYPES, NAMESPACE, EventType
from vanphong.schemas.codec import (
    MAGIC,
    CodecError,
    Decoded,
    InvalidDatumError,
    KnownSchemas,
    OutOfRangeError,
    SchemaVersion,
    UndecodableError,
    UnknownEventTypeError,
    UnknownSchemaError,
    crc64_avro,
    decode,
    encode,
    parsing_canonical_form,
    schema_fingerprint,
    shipped_schemas,
)

registry = shipped_schemas()  # the shipped schemas' registry

# ---------------------------------------------------------------------------------------------
# CRC-64-AVRO test vectors.
#
# Source: Apache Avro, share/test/data/schema-tests.txt (the cross-language "<<INPUT",
# "<<canonical", "<<fingerprint" cases; the file notes that Java's direct implementation of the
# algorithm cross-checks the values). The numbers there are Java signed longs; the case number
# is the "// NNN" comment in that file. Case 026 is adapted: its input has "default":"true" on a
# boolean field, which fastavro rightly rejects; the default does not take part in the
# canonical form, so true gives the same canonical form and fingerprint.
# ---------------------------------------------------------------------------------------------
AVRO_SCHEMA_TESTS = [
    ("000", '"null"', '"null"', 7195948357588979594),
    ("001", '{"type":"null"}', '"null"', 7195948357588979594),
    ("002", '"boolean"', '"boolean"', -6970731678124411036),
    ("004", '"int"', '"int"', 8247732601305521295),
    ("006", '"long"', '"long"', -3434872931120570953),
    ("008", '"float"', '"float"', 5583340709985441680),
    ("010", '"double"', '"double"', -8181574048448539266),
    ("012", '"bytes"', '"bytes"', 5746618253357095269),
    ("014", '"string"', '"string"', -8142146995180207161),
    ("017", '[ "int"  ]', '["int"]', -5232228896498058493),
    ("018", '[ "int" , {"type":"boolean"} ]', '["int","boolean"]', 5392556393470105090),
    (
        "019",
        '{"fields":[], "type":"record", "name":"foo"}',
        '{"name":"foo","type":"record","fields":[]}',
        -4824392279771201922,
    ),
    (
        "020",
        '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
        '{"name":"x.y.foo","type":"record","fields":[]}',
        5916914534497305771,
    ),
    (
        "022",
        '{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}',
        '{"name":"foo","type":"record","fields":[]}',
        -4824392279771201922,
    ),
    (
        "026",
        '{"fields":[{"type":"boolean","aliases":[],"name":"f1","default":true},'
        '{"order":"descending","name":"f2","doc":"Hello","type":"int"}],'
        '"type":"record","name":"foo"}',
        '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},'
        '{"name":"f2","type":"int"}]}',
        -4860222112080293046,
    ),
    (
        "028",
        '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", '
        '"symbols":["A1", "A2"]}',
        '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
        -4448647247586288245,
    ),
    (
        "029",
        '{"name":"foo","type":"fixed","size":15}',
        '{"name":"foo","type":"fixed","size":15}',
        1756455273707447556,
    ),
    (
        "031",
        '{ "items":{"type":"null"}, "type":"array"}',
        '{"type":"array","items":"null"}',
        -589620603366471059,
    ),
    (
        "032",
        '{ "values":"string", "type":"map"}',
        '{"type":"map","values":"string"}',
        -8732877298790414990,
    ),
    (
        "033",
        '{"name":"PigValue","type":"record",'
        '"fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
        '{"name":"PigValue","type":"record",'
        '"fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
        -1759257747318642341,
    ),
]


@pytest.mark.parametrize(
    ("case", "schema", "canonical", "signed"),
    AVRO_SCHEMA_TESTS,
    ids=[c[0] for c in AVRO_SCHEMA_TESTS],
)
def test_avro_schema_tests_vectors(case: str, schema: str, canonical: str, signed: int) -> None:
    assert parsing_canonical_form(schema) == canonical
    assert crc64_avro(canonical.encode()) == signed % 2**64
    assert schema_fingerprint(json.loads(schema)) == signed % 2**64


def test_crc64_of_empty_input_is_the_spec_seed() -> None:
    # Avro specification, "Schema Fingerprints": fp starts at EMPTY = 0xc15d213aa4d7a795
    assert crc64_avro(b"") == 0xC15D213AA4D7A795


def test_int_fingerprint_goes_on_the_wire_little_endian() -> None:
    # "int" has fingerprint 8247732601305521295 = 0x7275d51a3f395c8f (schema-tests.txt 004);
    # single-object encoding writes it little-endian, i.e. 8f 5c ... 72 -- which is also the
    # hex string fastavro's fingerprint() returns for it.
    fp = schema_fingerprint("int")
    assert fp == 0x7275D51A3F395C8F
    assert fp.to_bytes(8, "little").hex() == "8f5c393f1ad57572"
    assert fastavro_fingerprint('"int"', "CRC-64-AVRO") == "8f5c393f1ad57572"


def test_shipped_fingerprints_agree_with_fastavro() -> None:
    for sv in registry.versions:
        expected = fastavro_fingerprint(sv.canonical_form, "CRC-64-AVRO")
        assert sv.fingerprint.to_bytes(8, "little").hex() == expected, sv.path


# ---------------------------------------------------------------------------------------------
# The shipped schemas are the contract: names, fields, docs
# ---------------------------------------------------------------------------------------------

COMMON = ["event_id", "occurred_at", "source", "revision", "voided"]
CONTRACT_FIELDS = {
    EventType.UNIT_REGISTERED: ["unit_id", "name", "kind", "parent_unit_id", "province"],
    EventType.DOCUMENT_ISSUED: [
        "document_id",
        "unit_id",
        "number",
        "doc_type",
        "issuing_organ",
        "title",
        "appraised",
        "secrecy",
        "urgency",
    ],
    EventType.MEETING_HELD: [
        "meeting_id",
        "unit_id",
        "kind",
        "title",
        "chaired_by",
        "attendees",
        "mode",
        "duration_minutes",
    ],
    EventType.OFFICE_MERGED: [
        "merge_id",
        "absorbed_unit_ids",
        "into_unit_id",
        "effective_date",
        "legal_basis",
    ],
    EventType.AWARD_GRANTED: [
        "award_id",
        "kind",
        "granted_by_unit_id",
        "granting_authority",
        "recipient_kind",
        "recipient_unit_id",
        "recipient_name",
        "decision_number",
    ],
    EventType.CITIZENS_RECEIVED: ["reception_id", "unit_id", "citizens", "petitions", "led_by"],
    EventType.TASK_ASSIGNED: [
        "task_id",
        "unit_id",
        "assigned_by",
        "title",
        "source_document",
        "due_date",
    ],
    EventType.TASK_COMPLETED: ["task_id", "unit_id"],
}
#: Fields that versions after v1 added (CONTRACT.md's names stay; these are optional).
ADDED_SINCE_V1 = {EventType.DOCUMENT_ISSUED: ["signed_by"]}


def shipped_v1(et: EventType) -> SchemaVersion:
    return next(sv for sv in registry.versions if sv.event_type is et and sv.version == 1)


NULLABLE = {
    "signed_by",  # added in schemas/v2
    "parent_unit_id",
    "province",
    "chaired_by",
    "duration_minutes",
    "granted_by_unit_id",
    "recipient_name",
    "decision_number",
    "led_by",
    "source_document",
}


@pytest.mark.parametrize("et", EVENT_TYPES, ids=lambda e: e.type)
def test_schema_matches_contract(et: EventType) -> None:
    sv = registry.current(et)
    schema = sv.schema
    assert schema["namespace"] == NAMESPACE
    assert schema["name"] == et.record
    assert sv.path.name == f"{et.record}.avsc"
    assert schema["doc"]
    names = [f["name"] for f in schema["fields"]]
    # the contract's fields, then those added by later versions: optional, with a default
    assert names == COMMON + CONTRACT_FIELDS[et] + ADDED_SINCE_V1.get(et, [])
    for name in ADDED_SINCE_V1.get(et, []):
        assert "default" in next(f for f in schema["fields"] if f["name"] == name), name
    assert [f["name"] for f in shipped_v1(et).schema["fields"]] == COMMON + CONTRACT_FIELDS[et]
    for field in schema["fields"]:
        assert field.get("doc"), field["name"]
        if field["name"] in NULLABLE:
            assert field["type"][0] == "null" and field["default"] is None, field["name"]
    by_name = {f["name"]: f for f in schema["fields"]}
    assert by_name["occurred_at"]["type"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert by_name["revision"]["default"] == 1
    assert by_name["voided"]["default"] is False
    assert et.key_field in by_name


def test_enum_symbols_match_contract() -> None:
    def enum(record: str, field: str) -> dict[str, Any]:
        fields = registry.current(record).schema["fields"]
        return next(f["type"] for f in fields if f["name"] == field)

    assert enum(EventType.DOCUMENT_ISSUED, "doc_type")["name"] == "DocType"
    assert len(enum(EventType.DOCUMENT_ISSUED, "doc_type")["symbols"]) == 19
    assert enum(EventType.DOCUMENT_ISSUED, "secrecy")["symbols"] == [
        "NONE",
        "MAT",
        "TOI_MAT",
        "TUYET_MAT",
    ]
    assert enum(EventType.DOCUMENT_ISSUED, "urgency")["symbols"] == [
        "NONE",
        "KHAN",
        "THUONG_KHAN",
        "HOA_TOC",
    ]
    assert enum(EventType.MEETING_HELD, "mode")["symbols"] == ["IN_PERSON", "ONLINE", "HYBRID"]
    assert enum(EventType.AWARD_GRANTED, "recipient_kind")["symbols"] == [
        "COLLECTIVE",
        "INDIVIDUAL",
    ]
    assert enum(EventType.UNIT_REGISTERED, "kind")["name"] == "UnitKind"
    assert enum(EventType.MEETING_HELD, "kind")["name"] == "MeetingKind"
    assert enum(EventType.AWARD_GRANTED, "kind")["name"] == "AwardKind"


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------

T0 = datetime(2024, 9, 30, 18, 30, 0, 123000, tzinfo=UTC)
COMMON_DATUM = {
    "event_id": "e-1",
    "occurred_at": T0,
    "source": "test",
    "revision": 3,
    "voided": False,
}
SAMPLES: dict[EventType, dict[str, Any]] = {
    EventType.UNIT_REGISTERED: {
        "unit_id": "VPTU",
        "name": "Văn phòng Tỉnh ủy",
        "kind": "OFFICE",
        "parent_unit_id": "TU",
        "province": None,
    },
    EventType.DOCUMENT_ISSUED: {
        "document_id": "d-1",
        "unit_id": "VPTU",
        "number": "86-KH/TU",
        "doc_type": "KE_HOACH",
        "issuing_organ": "BTV Tỉnh ủy",
        "title": "Kế hoạch thực hiện Nghị quyết",
        "appraised": True,
        "secrecy": "MAT",
        "urgency": "HOA_TOC",
        "signed_by": "Nguyễn Văn An",  # schemas/v2
    },
    EventType.MEETING_HELD: {
        "meeting_id": "m-1",
        "unit_id": "VPTU",
        "kind": "HOI_NGHI_BTV",
        "title": "Hội nghị Ban Thường vụ",
        "chaired_by": "Bí thư",
        "attendees": 35,
        "mode": "HYBRID",
        "duration_minutes": 180,
    },
    EventType.OFFICE_MERGED: {
        "merge_id": "mg-1",
        "absorbed_unit_ids": ["BTG", "BDV"],
        "into_unit_id": "BTGDV",
        "effective_date": date(2025, 3, 1),
        "legal_basis": ["18-NQ/TW", "86-KH/TU"],
    },
    EventType.AWARD_GRANTED: {
        "award_id": "a-1",
        "kind": "BANG_KHEN",
        "granted_by_unit_id": None,
        "granting_authority": "Thủ tướng Chính phủ",
        "recipient_kind": "INDIVIDUAL",
        "recipient_unit_id": "VPTU",
        "recipient_name": "Nguyễn Văn A",
        "decision_number": "123/QĐ-TTg",
    },
    EventType.CITIZENS_RECEIVED: {
        "reception_id": "r-1",
        "unit_id": "VPTU",
        "citizens": 12,
        "petitions": 4,
        "led_by": None,
    },
    EventType.TASK_ASSIGNED: {
        "task_id": "t-1",
        "unit_id": "BTC",
        "assigned_by": "Thường trực Tỉnh ủy",
        "title": "Báo cáo sơ kết",
        "source_document": "86-KH/TU",
        "due_date": date(2024, 10, 15),
    },
    EventType.TASK_COMPLETED: {"task_id": "t-1", "unit_id": "BTC"},
}


def sample(type_: EventType, **changes: Any) -> dict[str, Any]:
    return {**COMMON_DATUM, **SAMPLES[type_], **changes}


@pytest.mark.parametrize("et", EVENT_TYPES, ids=lambda e: e.type)
def test_round_trip_every_event_type(et: EventType) -> None:
    datum = sample(et)
    data = encode(et, datum)
    decoded = decode(data)
    assert isinstance(decoded, Decoded)
    assert decoded.event_type is et
    assert decoded.record == datum
    assert decoded.fingerprint == registry.current(et).fingerprint
    assert decoded.writer_version == registry.current(et).version
    # the generated fast decoder and fastavro agree
    body = BytesIO(data[10:])
    assert fastavro.schemaless_reader(body, registry.current(et).parsed, None) == datum


def test_defaults_fill_left_out_fields() -> None:
    datum = {k: v for k, v in sample(EventType.UNIT_REGISTERED).items()}
    for name in ("revision", "voided", "parent_unit_id", "province"):
        del datum[name]
    record = decode(encode(EventType.UNIT_REGISTERED, datum)).record
    assert record["revision"] == 1
    assert record["voided"] is False
    assert record["parent_unit_id"] is None and record["province"] is None


def test_encode_accepts_every_way_of_naming_the_record() -> None:
    et = EventType.TASK_COMPLETED
    datum = sample(et)
    expected = encode(et, datum)
    assert encode(et.type, datum) == expected
    assert encode(et.full_record_name, datum) == expected
    assert encode(et.record, datum) == expected


def test_timestamps_may_be_int_millis_and_any_zone() -> None:
    ms = int(T0.timestamp() * 1000)
    assert (
        decode(
            encode(EventType.TASK_COMPLETED, sample(EventType.TASK_COMPLETED, occurred_at=ms))
        ).record["occurred_at"]
        == T0
    )
    plus7 = T0.astimezone(timezone(timedelta(hours=7)))
    got = decode(
        encode(EventType.TASK_COMPLETED, sample(EventType.TASK_COMPLETED, occurred_at=plus7))
    ).record
    assert got["occurred_at"] == T0 and got["occurred_at"].tzinfo == UTC


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = encode(EventType.TASK_COMPLETED, sample(EventType.TASK_COMPLETED))
    assert (
        decode(bytearray(data)).record
        == decode(memoryview(data)).record
        == sample(EventType.TASK_COMPLETED)
    )


def test_nfd_text_passes_through_unchanged() -> None:
    import unicodedata

    nfd = unicodedata.normalize("NFD", "Văn phòng Tỉnh ủy")
    assert nfd != unicodedata.normalize("NFC", nfd)
    record = decode(
        encode(EventType.UNIT_REGISTERED, sample(EventType.UNIT_REGISTERED, name=nfd))
    ).record
    assert record["name"] == nfd


# ---------------------------------------------------------------------------------------------
# Property: random data of every schema round-trips, and the fast decoder agrees with fastavro
# ---------------------------------------------------------------------------------------------

_MIN_MS = -(2**41)  # years ~1900..2040 and well beyond: any long that datetime can hold
_MAX_MS = 2**42


def strategy_for(schema: Any) -> st.SearchStrategy[Any]:
    """Values of an Avro type as the codec accepts and returns them."""
    if isinstance(schema, list):
        return st.one_of(*(strategy_for(b) for b in schema))
    if isinstance(schema, dict):
        logical = schema.get("logicalType")
        if logical == "timestamp-millis":
            return st.integers(_MIN_MS, _MAX_MS).map(
                lambda ms: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
            )
        if logical == "date":
            return st.dates()
        if schema["type"] == "enum":
            return st.sampled_from(schema["symbols"])
        if schema["type"] == "array":
            return st.lists(strategy_for(schema["items"]), max_size=70)
        return strategy_for(schema["type"])
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "string": st.text(max_size=200),
    }[schema]


def datum_strategy(et: EventType) -> st.SearchStrategy[dict[str, Any]]:
    fields = registry.current(et).schema["fields"]
    return st.fixed_dictionaries({f["name"]: strategy_for(f["type"]) for f in fields})


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize("et", EVENT_TYPES, ids=lambda e: e.type)
def test_property_round_trip(et: EventType, data: st.DataObject) -> None:
    datum = data.draw(datum_strategy(et))
    encoded = encode(et, datum)
    assert decode(encoded).record == datum
    reference = fastavro.schemaless_reader(BytesIO(encoded[10:]), registry.current(et).parsed, None)
    assert reference == datum


@settings(max_examples=300)
@given(body=st.binary(max_size=120), et=st.sampled_from(EVENT_TYPES))
def test_property_garbage_body_is_undecodable_or_agrees_with_fastavro(
    body: bytes, et: EventType
) -> None:
    """Any body after a valid header either decodes (then exactly as fastavro reads it) or
    raises UndecodableError (or OutOfRangeError: well-formed, but a timestamp or date beyond the
    years 1–9999) -- never another exception."""
    message = registry.current(et).header + body
    try:
        got = decode(message).record
    except (UndecodableError, OutOfRangeError):
        return
    fo = BytesIO(body)
    assert fastavro.schemaless_reader(fo, registry.current(et).parsed, None) == got
    assert fo.tell() == len(body)


def test_fast_decoder_compiles_for_every_shipped_schema() -> None:
    for sv in registry.versions:
        assert compile_decoder(sv.schema) is not None, sv.path


def test_fast_decoder_handles_multibyte_lengths_and_block_arrays() -> None:
    long_text = "ắ" * 500  # length varint of two bytes
    datum = sample(
        EventType.OFFICE_MERGED,
        absorbed_unit_ids=[f"U{i}" for i in range(200)],
        legal_basis=[long_text],
    )
    assert decode(encode(EventType.OFFICE_MERGED, datum)).record == datum
    # a negative block count (followed by the block's byte size) is legal Avro; fastavro never
    # writes one, so build absorbed_unit_ids by hand between the fields before and after it
    writer = registry.current(EventType.OFFICE_MERGED)

    def part(names: list[str]) -> bytes:
        fields = [f for f in writer.schema["fields"] if f["name"] in names]
        return fastavro_bytes({"type": "record", "name": "P", "fields": fields}, datum)

    items = [b"\x04AB", b"\x04CD"]
    blocked = zigzag(-2) + zigzag(sum(map(len, items))) + b"".join(items) + b"\x00"
    message = (
        writer.header
        + part([*COMMON, "merge_id"])
        + blocked
        + part(["into_unit_id", "effective_date", "legal_basis"])
    )
    assert decode(message).record == {**datum, "absorbed_unit_ids": ["AB", "CD"]}
    reference = fastavro.schemaless_reader(BytesIO(message[10:]), writer.parsed, None)
    assert reference["absorbed_unit_ids"] == ["AB", "CD"]


SYNTHETIC = {
    "type": "record",
    "name": "Synthetic",
    "fields": [
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "b", "type": "bytes"},
        {"name": "x", "type": {"type": "fixed", "name": "Fx", "size": 3}},
        {"name": "l", "type": "long"},
        {"name": "u", "type": ["null", "string", "long", "boolean"]},
        {
            "name": "e",
            "type": {"type": "enum", "name": "Big", "symbols": [f"S{i}" for i in range(100)]},
        },
        {"name": "a", "type": {"type": "array", "items": {"type": "array", "items": "int"}}},
        {"name": "o", "type": ["null", {"type": "int", "logicalType": "date"}]},
        {"name": "m", "type": {"type": "map", "values": ["null", "long"]}},
        {
            "name": "r",
            "type": {
                "type": "record",
                "name": "Inner",
                "fields": [
                    {"name": "n", "type": "string"},
                    {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                ],
            },
        },
    ],
}
SYNTHETIC_DECODER = compile_decoder(SYNTHETIC)
SYNTHETIC_TIMESTAMP = {"type": "long", "logicalType": "timestamp-millis"}


@settings(max_examples=200)
@given(
    datum=st.fixed_dictionaries(
        {
            "f": st.floats(width=32, allow_nan=False),
            "d": st.floats(allow_nan=False),
            "b": st.binary(max_size=150),
            "x": st.binary(min_size=3, max_size=3),
            "l": st.integers(-(2**63), 2**63 - 1),
            "u": st.none()
            | st.text(max_size=80)
            | st.integers(-(2**63), 2**63 - 1)
            | st.booleans(),
            "e": st.sampled_from([f"S{i}" for i in range(100)]),
            "a": st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5), max_size=5),
            "o": st.none() | st.dates(),
            "m": st.dictionaries(
                st.text(max_size=10), st.none() | st.integers(-(2**63), 2**63 - 1)
            ),
            "r": st.fixed_dictionaries(
                {"n": st.text(max_size=20), "t": strategy_for(SYNTHETIC_TIMESTAMP)}
            ),
        }
    )
)
def test_property_fast_decoder_covers_types_the_shipped_schemas_do_not_use(
    datum: dict[str, Any],
) -> None:
    """float, double, bytes, fixed, wide unions, enums past 64 symbols, maps and nested records
    have generated code too: it must read exactly what fastavro writes."""
    assert SYNTHETIC_DECODER is not None
    body = fastavro_bytes(SYNTHETIC, datum)
    record, end, out_of_range = SYNTHETIC_DECODER(body, 0)
    assert end == len(body) and out_of_range is None
    assert record == fastavro.schemaless_reader(
        BytesIO(body), fastavro.parse_schema(SYNTHETIC), None
    )


def test_fast_decoder_declines_what_it_does_not_support() -> None:
    for field_type, why in (
        ({"type": "string", "logicalType": "uuid"}, "logical type uuid"),
        ({"type": "array", "items": "null"}, "zero-byte items"),
        (
            {"type": "array", "items": {"type": "record", "name": "Inner", "fields": []}},
            "zero-byte items",
        ),
        ({"type": "array", "items": "Named"}, "type 'Named'"),  # a reference by name
    ):
        schema = {"type": "record", "name": "R", "fields": [{"name": "f", "type": field_type}]}
        assert compile_decoder(schema) is None, field_type
        assert why in str(unsupported(schema))
    assert unsupported(SYNTHETIC) is None


def test_registry_refuses_a_schema_the_strict_decoder_cannot_read(tmp_path: Path) -> None:
    """Otherwise that version's bytes would be judged by fastavro alone, more leniently."""
    shutil.copytree(codec.SCHEMAS_DIR / "v1", tmp_path / "v1")
    (tmp_path / "v2").mkdir()
    shipped = json.loads((tmp_path / "v1" / "TaskCompleted.avsc").read_text(encoding="utf-8"))
    odd = {"name": "odd", "type": {"type": "string", "logicalType": "uuid"}, "default": ""}
    new = {**shipped, "fields": [*shipped["fields"], odd]}
    (tmp_path / "v2" / "TaskCompleted.avsc").write_text(json.dumps(new), encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"TaskCompleted\.avsc: the strict decoder .* uuid"):
        KnownSchemas(tmp_path)


def zigzag(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def fastavro_bytes(schema: Any, datum: dict[str, Any]) -> bytes:
    out = BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), datum)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Single-object framing and the dead-letter errors
# ---------------------------------------------------------------------------------------------


def test_single_object_header_layout() -> None:
    et = EventType.DOCUMENT_ISSUED
    datum = sample(et)
    data = encode(et, datum)
    fp = registry.current(et).fingerprint
    assert data[:2] == b"\xc3\x01" == MAGIC
    assert data[2:10] == fp.to_bytes(8, "little")
    assert int.from_bytes(data[2:10], "little") == schema_fingerprint(registry.current(et).schema)
    # the body is plain Avro binary of the current schema
    assert data[10:] == fastavro_bytes(registry.current(et).schema, datum)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty message"),
        (None, "null message"),
        (b"\xc3", "truncated header"),
        (b"\xc3\x01\x00\x01", "truncated header"),
        (b"\x00\x00\x00", "truncated header: 3 byte.s., a Confluent header has 5"),
        (b"\x01\x00\x00\x00\x05hello", "neither Avro single-object encoding .* starts 01 00"),
        (b'{"type": "task.completed"}', "starts 7b 22"),
        (b"\xc3\x02" + bytes(20), "starts c3 02"),
    ],
)
def test_undecodable_framing(data: bytes | None, words: str) -> None:
    with pytest.raises(UndecodableError, match=words) as info:
        decode(data)
    assert isinstance(info.value, CodecError) and isinstance(info.value, ValueError)
    assert info.value.reason == "undecodable"


def test_unknown_fingerprint() -> None:
    data = MAGIC + (0x0123456789ABCDEF).to_bytes(8, "little") + b"\x02x"
    with pytest.raises(UnknownSchemaError) as info:
        decode(data)
    assert info.value.reason == "unknown_schema"
    assert info.value.fingerprint == 0x0123456789ABCDEF
    assert "0x0123456789abcdef" in str(info.value)
    assert "ef cd ab 89 67 45 23 01" in str(info.value)  # as on the wire
    assert isinstance(info.value, CodecError)


def test_big_endian_fingerprint_is_unknown() -> None:
    data = encode(EventType.TASK_COMPLETED, sample(EventType.TASK_COMPLETED))
    swapped = data[:2] + data[2:10][::-1] + data[10:]
    with pytest.raises(UnknownSchemaError):
        decode(swapped)


def test_every_truncation_is_undecodable() -> None:
    data = encode(EventType.MEETING_HELD, sample(EventType.MEETING_HELD))
    for cut in range(len(data)):
        with pytest.raises(UndecodableError):
            decode(data[:cut])


def test_truncated_body_message_names_record_and_fingerprint() -> None:
    data = encode(EventType.MEETING_HELD, sample(EventType.MEETING_HELD))
    with pytest.raises(
        UndecodableError, match=r"MeetingHeld v1 \(fingerprint 0x[0-9a-f]{16}.*truncated"
    ):
        decode(data[:-3])


def test_trailing_bytes_are_undecodable() -> None:
    data = encode(EventType.TASK_COMPLETED, sample(EventType.TASK_COMPLETED))
    with pytest.raises(UndecodableError, match="1 trailing byte"):
        decode(data + b"\x00")


def test_garbage_values_are_undecodable() -> None:
    header = registry.current(EventType.DOCUMENT_ISSUED).header
    # a bad enum index: take a good message and set urgency (before a null signed_by, the last
    # byte) to index 50
    good = encode(EventType.DOCUMENT_ISSUED, sample(EventType.DOCUMENT_ISSUED, signed_by=None))
    with pytest.raises(UndecodableError, match="urgency"):
        decode(good[:-2] + zigzag(50) + good[-1:])
    with pytest.raises(UndecodableError, match="UTF-8"):
        decode(header + b"\x04\xff\xfe" + good[10 + 4 :])
    with pytest.raises(UndecodableError):
        decode(header + b"\xff" * 12)  # an over-long varint


# ---------------------------------------------------------------------------------------------
# Encode errors name the field
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"doc_type": "FOO"}, r"DocumentIssued\.doc_type: 'FOO' \(str\) is not one of DocType's"),
        ({"appraised": "yes"}, r"DocumentIssued\.appraised: 'yes' \(str\) is not a boolean"),
        ({"revision": 2**31}, r"DocumentIssued\.revision: 2147483648 \(int\) is not an int"),
        ({"title": None}, r"DocumentIssued\.title: None \(NoneType\) is not a string"),
        ({"foo": 1}, r"DocumentIssued\.foo: unknown field 'foo'"),
        (
            {"occurred_at": datetime(2024, 1, 1, 12, 0)},
            r"DocumentIssued\.occurred_at: datetime without a time zone",
        ),
    ],
)
def test_encode_rejects_bad_datum(change: dict[str, Any], pattern: str) -> None:
    with pytest.raises(InvalidDatumError, match=pattern) as info:
        encode(EventType.DOCUMENT_ISSUED, sample(EventType.DOCUMENT_ISSUED, **change))
    assert isinstance(info.value, ValueError)
    assert info.value.field == next(iter(change))


def test_encode_rejects_missing_required_field() -> None:
    datum = sample(EventType.DOCUMENT_ISSUED)
    del datum["title"]
    with pytest.raises(InvalidDatumError, match=r"DocumentIssued\.title: missing field") as info:
        encode(EventType.DOCUMENT_ISSUED, datum)
    assert info.value.field == "title"


def test_encode_rejects_datetime_for_date_and_bad_array_item() -> None:
    with pytest.raises(InvalidDatumError, match=r"OfficeMerged\.effective_date: expected a date"):
        encode(EventType.OFFICE_MERGED, sample(EventType.OFFICE_MERGED, effective_date=T0))
    with pytest.raises(InvalidDatumError, match=r"TaskAssigned\.due_date: expected a date"):
        encode(EventType.TASK_ASSIGNED, sample(EventType.TASK_ASSIGNED, due_date="2024-10-15"))
    with pytest.raises(InvalidDatumError, match=r"OfficeMerged\.legal_basis: .* \(each item a"):
        encode(
            EventType.OFFICE_MERGED, sample(EventType.OFFICE_MERGED, legal_basis=["18-NQ/TW", 5])
        )


def test_encode_rejects_unknown_event_type() -> None:
    with pytest.raises(UnknownEventTypeError, match=r"unknown event type or record 'task\.done'"):
        encode("task.done", {})
    with pytest.raises(UnknownEventTypeError):
        encode(42, {})  # type: ignore[arg-type]


def test_encode_rejects_non_mapping() -> None:
    with pytest.raises(InvalidDatumError, match="expected a mapping, got list"):
        encode(EventType.TASK_COMPLETED, [])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Schema evolution: old writer schemas stay readable
# ---------------------------------------------------------------------------------------------


def evolved_registry(tmp_path: Path) -> tuple[KnownSchemas, dict[str, Any]]:
    """A schemas root with three TaskAssigned versions: v1, test-only, lacks the optional
    source_document; v2 is the shipped set; v3 adds a test-only `priority` int, default 3."""
    v1, v2, v3 = tmp_path / "v1", tmp_path / "v2", tmp_path / "v3"
    shutil.copytree(codec.SCHEMAS_DIR / "v1", v2)
    v1.mkdir()
    v3.mkdir()
    shipped = json.loads((v2 / "TaskAssigned.avsc").read_text(encoding="utf-8"))
    old = {**shipped, "fields": [f for f in shipped["fields"] if f["name"] != "source_document"]}
    (v1 / "TaskAssigned.avsc").write_text(json.dumps(old), encoding="utf-8")
    new = {
        **shipped,
        "fields": [
            *shipped["fields"],
            {"name": "priority", "type": "int", "default": 3, "doc": "test-only field"},
        ],
    }
    (v3 / "TaskAssigned.avsc").write_text(json.dumps(new), encoding="utf-8")
    return KnownSchemas(tmp_path), old


def test_old_writer_schema_is_resolved_to_current(tmp_path: Path) -> None:
    reg, old = evolved_registry(tmp_path)
    datum = sample(EventType.TASK_ASSIGNED)
    del datum["source_document"]
    old_fp = schema_fingerprint(old)
    message = MAGIC + old_fp.to_bytes(8, "little") + fastavro_bytes(old, datum)

    decoded = reg.decode(message)
    assert decoded.fingerprint == old_fp
    assert decoded.writer_version == 1
    assert decoded.record == {**datum, "source_document": None, "priority": 3}

    # data written with the shipped schema (v2 here) is resolved to v3 as well
    shipped_message = encode(EventType.TASK_ASSIGNED, sample(EventType.TASK_ASSIGNED))
    got = reg.decode(shipped_message)
    assert got.writer_version == 2
    assert got.record == {**sample(EventType.TASK_ASSIGNED), "priority": 3}

    # encoding uses the current (v3) schema
    current = reg.current(EventType.TASK_ASSIGNED)
    assert current.version == 3
    fresh = reg.encode(EventType.TASK_ASSIGNED, {**sample(EventType.TASK_ASSIGNED), "priority": 1})
    assert fresh[2:10] == current.fingerprint.to_bytes(8, "little")
    assert reg.decode(fresh).record["priority"] == 1


def test_unchanged_schema_copied_into_new_version_keeps_reading(tmp_path: Path) -> None:
    reg, _ = evolved_registry(tmp_path)
    data = encode(EventType.UNIT_REGISTERED, sample(EventType.UNIT_REGISTERED))
    assert reg.current(EventType.UNIT_REGISTERED).version == 2
    assert reg.decode(data).record == sample(EventType.UNIT_REGISTERED)


def test_registry_rejects_inconsistent_schema_files(tmp_path: Path) -> None:
    shutil.copytree(codec.SCHEMAS_DIR / "v1", tmp_path / "v1")
    bad = tmp_path / "v1" / "Stray.avsc"
    bad.write_text(
        json.dumps({"type": "record", "name": "Stray", "namespace": NAMESPACE, "fields": []}),
        encoding="utf-8",
    )
    with pytest.raises(RuntimeError, match=r"not in schemas/catalog\.py"):
        KnownSchemas(tmp_path)
    bad.unlink()
    (tmp_path / "v1" / "TaskCompleted.avsc").rename(tmp_path / "v1" / "Wrong.avsc")
    with pytest.raises(RuntimeError, match="file name does not match"):
        KnownSchemas(tmp_path)
    (tmp_path / "v1" / "Wrong.avsc").unlink()
    with pytest.raises(
        RuntimeError, match=r"no schema shipped for vanphong\.events\.TaskCompleted"
    ):
        KnownSchemas(tmp_path)


# ---------------------------------------------------------------------------------------------
# Strictness of the generated decoder on the types the shipped schemas do not use
# ---------------------------------------------------------------------------------------------

CLAIMS = {
    "type": "record",
    "name": "Claims",
    "fields": [
        {"name": "b", "type": "bytes"},
        {"name": "m", "type": {"type": "map", "values": "string"}},
        {"name": "a", "type": {"type": "array", "items": {"type": "array", "items": "long"}}},
    ],
}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (zigzag(2**40) + b"xyz", "field b: length 1,099,511,627,776 but only 3 byte(s) left"),
        (b"\x00" + zigzag(2**40) + b"\x02k\x02v\x00", "field m: map block of 1,099,511,627,776"),
        (b"\x00" + zigzag(-(2**40)) + zigzag(4) + b"\x02k\x02v\x00", "field m: map block of"),
        (b"\x00\x00" + zigzag(1) + zigzag(2**40) + b"\x02\x00\x00", "field a[0]: array block of"),
        (b"\x00" + zigzag(-1) + zigzag(3) + b"\x02k\x02v\x00", "field m: map block says 3 bytes"),
        (b"\x00" + zigzag(-1) + zigzag(-4) + b"\x02k\x02v\x00", "field m: map block size -4 < 0"),
    ],
)
def test_claims_beyond_the_bytes_left_fail_before_anything_is_allocated(
    body: bytes, words: str
) -> None:
    strict, traced = compile_decoder(CLAIMS), compile_decoder(CLAIMS, traced=True)
    assert strict is not None and traced is not None
    with pytest.raises(Exception):  # noqa: B017 -- the fast variant may raise anything
        strict(body, 0)
    with pytest.raises(DecodeError) as info:
        traced(body, 0)
    assert words in str(info.value)
