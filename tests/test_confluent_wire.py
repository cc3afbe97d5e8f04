"""The Confluent wire format (CONTRACT.md §3, v1.1): ``00`` + a 4-byte big-endian schema id + the
Avro body, decoded with the writer schema a Schema Registry holds for the id (issue 12).

Pure tests: the readers of the ids are built here from schema texts, as the worker's edge
(streams/writer_schemas.py) builds them from the registry's answers; the edge itself is tested
with a stand-in client, without I/O.
"""

from __future__ import annotations

import asyncio
import json
from io import BytesIO
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import body_parts
from tests.test_codec import datum_strategy, sample
from tests.test_decoder_agreement import ADDED, EVOLVED, mutated_message
from vanphong.core.batch import Accepted, Coordinates
from vanphong.core.rejection import Reason, Rejection, TransientError
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.codec import (
    CodecError,
    KnownSchemas,
    Reader,
    UndecodableError,
    UnknownSchemaError,
    UnknownSchemaIdError,
    UnresolvableSchemaError,
    confluent_frame,
    confluent_schema_id,
    encode,
    shipped_schemas,
)
from vanphong.streams.pipeline import prepare
from vanphong.streams.writer_schemas import WriterSchemas

registry = shipped_schemas()  # the shipped schemas' registry

AT = Coordinates("t.document-issued.v1", 0, 0)


def schema_text(et: EventType, reg: KnownSchemas = registry) -> str:
    return json.dumps(reg.current(et).schema)


def with_added_field(et: EventType) -> dict[str, Any]:
    """The current schema of ``et`` with one more optional field: a writer schema that only a
    registry knows (an upstream team's newer version)."""
    schema = json.loads(schema_text(et))
    schema["fields"].append(ADDED)
    return dict(schema)


def body(data: bytes) -> bytes:
    return data[10:]  # after the single-object header


def test_the_schema_id_is_four_bytes_big_endian_after_a_zero_byte() -> None:
    framed = confluent_frame(0x01020304, b"\x02x")
    assert framed == b"\x00\x01\x02\x03\x04\x02x"
    assert confluent_schema_id(framed) == 0x01020304
    assert confluent_schema_id(b"\x00\x00\x00\x01") is None  # too short for an id
    assert confluent_schema_id(encode("meeting.held", sample(EventType.MEETING_HELD))) is None
    assert confluent_schema_id(None) is None


@pytest.mark.parametrize("et", EVENT_TYPES, ids=lambda e: e.type)
def test_a_confluent_message_with_a_shipped_schema_decodes_as_its_single_object_twin(
    et: EventType,
) -> None:
    single = encode(et, sample(et))
    reader = registry.registry_reader(schema_text(et), "schema id 7")
    assert reader is registry._readers[single[2:10]]  # the very reader of the shipped version
    decoded = registry.decode(confluent_frame(7, body(single)), {7: reader})
    assert decoded.record == registry.decode(single).record
    assert decoded.event_type is et and decoded.schema_id == 7
    assert decoded.writer_version == registry.current(et).version


def test_a_newer_writer_schema_from_the_registry_resolves_to_the_current_schema() -> None:
    et = EventType.MEETING_HELD
    writer = with_added_field(et)
    datum = {**sample(et), "note": "from upstream"}
    out = BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(writer), datum)
    reader = registry.registry_reader(json.dumps(writer), "schema id 42")
    assert reader.reader is not None  # resolved by fastavro after the strict decoder's verdict
    assert registry.registry_reader(json.dumps(writer)) is reader  # compiled once
    decoded = registry.decode(confluent_frame(42, out.getvalue()), {42: reader})
    assert decoded.record == registry.decode(encode(et, sample(et))).record  # the note dropped
    assert decoded.writer_version == 0


def test_without_a_looked_up_id_the_message_is_unknown_schema_naming_the_setting() -> None:
    data = confluent_frame(5, b"\x02x")
    with pytest.raises(UnknownSchemaError, match="VANPHONG_SCHEMA_REGISTRY_URL") as info:
        registry.decode(data)
    assert info.value.reason == "unknown_schema"
    assert isinstance(info.value, UnknownSchemaIdError) and info.value.schema_id == 5


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ("not json", "is not an Avro schema"),
        ('{"type": "record", "name": "Foo", "namespace": "x", "fields": []}', "record x.Foo"),
        ('"string"', "not an Avro record schema"),
    ],
)
def test_a_registry_schema_that_is_no_event_record_is_refused_saying_why(
    schema: str, words: str
) -> None:
    with pytest.raises(UnresolvableSchemaError, match=words) as info:
        registry.registry_reader(schema, "schema id 3")
    assert info.value.reason == "invalid_field"
    assert "schema id 3" in str(info.value)


def test_a_registry_schema_that_does_not_resolve_is_invalid_field_saying_why() -> None:
    et = EventType.MEETING_HELD
    writer = json.loads(schema_text(et))
    writer["fields"] = [f for f in writer["fields"] if f["name"] != "unit_id"]  # no default
    reader = registry.registry_reader(json.dumps(writer), "schema id 9")
    datum = {k: v for k, v in sample(et).items() if k != "unit_id"}
    out = BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(writer), datum)
    with pytest.raises(UnresolvableSchemaError, match=r"schema id 9.*does not resolve") as info:
        registry.decode(confluent_frame(9, out.getvalue()), {9: reader})
    assert "unit_id" in str(info.value)
    item = prepare(AT, None, confluent_frame(9, out.getvalue()), et, shipped_schemas(), {9: reader})
    assert isinstance(item.outcome, Rejection) and item.outcome.reason == Reason.INVALID_FIELD


def test_a_record_of_another_event_type_is_invalid_field_on_the_topic() -> None:
    et = EventType.MEETING_HELD
    reader = registry.registry_reader(schema_text(et))
    data = confluent_frame(1, body(encode(et, sample(et))))
    item = prepare(AT, None, data, EventType.DOCUMENT_ISSUED, shipped_schemas(), {1: reader})
    assert isinstance(item.outcome, Rejection)
    assert item.outcome.reason == Reason.INVALID_FIELD
    assert "meeting.held record" in item.outcome.detail


def test_a_truncated_confluent_body_is_undecodable_naming_the_field() -> None:
    et = EventType.DOCUMENT_ISSUED
    reader = registry.registry_reader(schema_text(et))
    data = confluent_frame(1, body(encode(et, sample(et))))[:12]
    with pytest.raises(UndecodableError, match="body does not decode as DocumentIssued"):
        registry.decode(data, {1: reader})


# ---------------------------------------------------------------------------------------------
# One verdict: the fast path and the fastavro path agree on Confluent bodies too
# ---------------------------------------------------------------------------------------------


def confluent_verdict(reg: KnownSchemas, data: bytes) -> tuple[str, Any]:
    """The verdict on ``data``'s body framed as Confluent, the writer schema being the one its
    single-object header names (as an upstream registering our schema would send it)."""
    sv = registry.by_fingerprint(int.from_bytes(data[2:10], "little"))
    assert sv is not None
    reader = reg.registry_reader(json.dumps(sv.schema), "schema id 1")
    try:
        record = reg.decode(confluent_frame(1, data[10:]), {1: reader}).record
    except CodecError as exc:
        return type(exc).__name__, None
    if reg is EVOLVED:
        record = dict(record)
        assert record.pop("note") is None
    return "ok", record


def single_object_verdict(data: bytes) -> tuple[str, Any]:
    try:
        return "ok", registry.decode(data).record
    except CodecError as exc:
        return type(exc).__name__, None


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_message())
def test_property_confluent_bodies_get_the_single_object_verdict_on_both_paths(
    data: bytes,
) -> None:
    single = single_object_verdict(data)
    assert confluent_verdict(registry, data) == single  # the fast path
    assert confluent_verdict(EVOLVED, data) == single  # fastavro's resolution


@settings(max_examples=200, deadline=None)
@given(et=st.sampled_from(EVENT_TYPES), data=st.data())
def test_property_a_registry_only_writer_schema_reads_what_fastavro_reads(
    et: EventType, data: st.DataObject
) -> None:
    datum = data.draw(datum_strategy(et))
    note = data.draw(st.none() | st.text(max_size=5))
    writer = with_added_field(et)
    payload = b"".join(b for _, b in body_parts(et, datum))
    payload += b"\x00" if note is None else b"\x02" + fastavro_string(note)
    reader = registry.registry_reader(json.dumps(writer))
    got = registry.decode(confluent_frame(1, payload), {1: reader}).record
    expected = fastavro.schemaless_reader(
        BytesIO(payload), fastavro.parse_schema(writer), registry.current(et).parsed
    )
    assert got == expected == datum


def fastavro_string(text: str) -> bytes:
    out = BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema("string"), text)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# The edge: ids looked up before the decode
# ---------------------------------------------------------------------------------------------


class StubClient:
    """A registry client without I/O: ids → schema texts; ``down`` makes it unreachable."""

    url = "http://registry.invalid/apis/ccompat/v7"

    def __init__(self, schemas: dict[int, str]) -> None:
        self.schemas = schemas
        self.down = False
        self.asked: list[int] = []

    async def schema_by_id(self, schema_id: int) -> str | None:
        self.asked.append(schema_id)
        if self.down:
            raise TransientError("the Schema Registry is unreachable")
        return self.schemas.get(schema_id)

    async def close(self) -> None:
        return None


def test_ids_are_looked_up_once_and_unknown_ids_are_unknown_schema() -> None:
    et = EventType.DOCUMENT_ISSUED
    stub = StubClient({1: schema_text(et)})
    writers = WriterSchemas(stub, registry)  # type: ignore[arg-type]
    good = confluent_frame(1, body(encode(et, sample(et))))
    unknown = confluent_frame(2, b"\x02x")
    single = encode(et, sample(et))
    asyncio.run(writers.prefetch([good, unknown, single, None, good]))
    asyncio.run(writers.prefetch([good, unknown]))
    assert stub.asked == [1, 2]
    assert isinstance(writers.by_id[1], Reader)
    accepted = prepare(AT, None, good, et, shipped_schemas(), writers.by_id)
    assert isinstance(accepted.outcome, Accepted)
    rejected = prepare(AT, None, unknown, et, shipped_schemas(), writers.by_id)
    assert isinstance(rejected.outcome, Rejection)
    assert rejected.outcome.reason == Reason.UNKNOWN_SCHEMA
    assert (
        "schema id 2" in rejected.outcome.detail and "does not know it" in rejected.outcome.detail
    )


def test_an_unreachable_registry_is_transient_and_nothing_is_decided() -> None:
    stub = StubClient({})
    stub.down = True
    writers = WriterSchemas(stub, registry)  # type: ignore[arg-type]
    with pytest.raises(TransientError):
        asyncio.run(writers.prefetch([confluent_frame(1, b"")]))
    assert writers.by_id == {}
    stub.down = False
    stub.schemas[1] = schema_text(EventType.MEETING_HELD)
    asyncio.run(writers.prefetch([confluent_frame(1, b"")]))
    assert isinstance(writers.by_id[1], Reader)


def test_without_a_registry_a_confluent_message_is_unknown_schema_naming_the_setting() -> None:
    writers = WriterSchemas(None, registry)
    value = confluent_frame(1, b"\x02x")
    asyncio.run(writers.prefetch([value]))
    item = prepare(AT, None, value, EventType.DOCUMENT_ISSUED, shipped_schemas(), writers.by_id)
    assert isinstance(item.outcome, Rejection)
    assert item.outcome.reason == Reason.UNKNOWN_SCHEMA
    assert "VANPHONG_SCHEMA_REGISTRY_URL" in item.outcome.detail


def test_a_registry_schema_of_no_event_record_dead_letters_its_messages_invalid_field() -> None:
    stub = StubClient({4: '{"type": "record", "name": "Other", "fields": []}'})
    writers = WriterSchemas(stub, registry)  # type: ignore[arg-type]
    value = confluent_frame(4, b"")
    asyncio.run(writers.prefetch([value]))
    assert isinstance(writers.by_id[4], CodecError)
    item = prepare(AT, None, value, EventType.DOCUMENT_ISSUED, shipped_schemas(), writers.by_id)
    assert isinstance(item.outcome, Rejection)
    assert item.outcome.reason == Reason.INVALID_FIELD
    assert "record Other is none of the contract's event records" in item.outcome.detail
