"""What is refused before anything reaches PostgreSQL (issue 9, §0 and §3), through the path of
one message (streams/pipeline.py: decode → validate → normalise): every hostile case of
tests/hostile.py becomes a Rejection with the contract's reason and a detail naming the field,
and nothing else escapes. No broker or database needed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.events import event
from tests.hostile import HOSTILE, Case, message, zigzag
from tests.test_decoder_agreement import EVOLVED
from vanphong.core.batch import Accepted, Coordinates
from vanphong.core.rejection import Rejection
from vanphong.schemas.catalog import BY_TYPE
from vanphong.schemas.codec import (
    KnownSchemas,
    OutOfRangeError,
    UndecodableError,
    encode,
    shipped_schemas,
)
from vanphong.streams.pipeline import prepare

registry = shipped_schemas()  # the shipped schemas' registry

AT = Coordinates("vanphong.document-issued.v1", 0, 42)


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_every_hostile_message_is_rejected_with_its_reason_naming_the_field(case: Case) -> None:
    item = prepare(AT, b"key", case.value, BY_TYPE[case.event_type], shipped_schemas())
    assert isinstance(item.outcome, Rejection), item.outcome
    assert item.outcome.reason == case.reason, item.outcome.detail
    if case.field is not None:
        assert case.field in item.outcome.detail
    assert "\x00" not in item.outcome.detail  # the detail itself goes into a text column
    assert len(item.outcome.detail) < 1000  # and never repeats a 6,000-character value


def test_the_catalogue_covers_the_classes_the_issue_names() -> None:
    names = " / ".join(c.name for c in HOSTILE)
    for words in (
        "NUL in a document's title",
        "NUL in a document_id",
        "document_id of 6,000",
        "title of 10,001",
        "event_id of 129",
        "id of 200",
        "boolean byte 0x02",
        "negative enum index",
        "int beyond 32 bits",
        "string claiming 2⁴⁰ bytes",
        "array claiming 2⁴⁰ items",
        "timestamp beyond the year 9999",
    ):
        assert words in names


@pytest.mark.parametrize("reg", [registry, EVOLVED], ids=["fast path", "fastavro path"])
def test_a_malformed_body_is_undecodable_even_with_a_timestamp_out_of_range(
    reg: KnownSchemas,
) -> None:
    """A timestamp beyond 9999 in a body that then turns out malformed: the body's shape is
    judged first, on both paths (invalid_field is for well-formed values only)."""
    value = message("document.issued", occurred_at=zigzag(1 << 62), appraised=b"\x02")
    with pytest.raises(UndecodableError, match="field appraised: boolean byte 0x02"):
        reg.decode(value)
    with pytest.raises(OutOfRangeError, match="occurred_at is outside the years 1–9999"):
        reg.decode(message("document.issued", occurred_at=zigzag(1 << 62)))


def test_valid_edges_are_accepted() -> None:
    """The limits themselves are allowed: 128-character ids, 10,000-character text, the last
    day Python's date holds as a due date, and a timestamp on 9999-12-30."""
    for type_, fields in (
        ("document.issued", {"document_id": "x" * 128, "title": "T" * 10_000}),
        ("task.assigned", {"due_date": date(9999, 12, 31)}),
        ("meeting.held", {"occurred_at": datetime(9999, 12, 30, 23, tzinfo=UTC)}),
        ("office.merged", {"effective_date": date(1, 1, 1)}),
    ):
        value = encode(type_, event(type_, event_id="e", **fields))
        assert isinstance(
            prepare(AT, None, value, BY_TYPE[type_], shipped_schemas()).outcome, Accepted
        )
