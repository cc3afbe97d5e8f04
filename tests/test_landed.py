"""The relay's index of what a dead-letter partition holds (vanphong/core/deadletter.py): which
dead letter to send counts as already there, by source coordinates and the source topic's life."""

from __future__ import annotations

from datetime import UTC, datetime

from vanphong.core.deadletter import (
    SOURCE_TOPIC_ID,
    Landed,
    dead_letter_headers,
    source_of,
    topic_id_of,
)

DOCS = "vp.document-issued.v1"
OLD = "5b0c2c5e-0000-4000-8000-000000000001"
NEW = "5b0c2c5e-0000-4000-8000-000000000002"


def test_the_topic_id_header_is_written_only_when_known_and_read_back() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    with_id = dead_letter_headers((DOCS, 1, 7), "undecodable", "x", at, OLD.upper())
    without = dead_letter_headers((DOCS, 1, 7), "undecodable", "x", at)
    assert (SOURCE_TOPIC_ID, OLD.encode()) in with_id
    assert SOURCE_TOPIC_ID not in dict(without)
    assert topic_id_of(with_id) == OLD and topic_id_of(without) is None
    assert source_of(with_id) == source_of(without) == (DOCS, 1, 7)


def test_a_dead_letter_of_the_same_life_is_found_where_it_is() -> None:
    landed = Landed()
    landed.add((DOCS, 1, 7), OLD, 40)
    landed.add((DOCS, 1, 7), OLD, 90)  # a second copy from before the index: the first counts
    assert landed.find((DOCS, 1, 7), OLD.upper()) == 40
    assert landed.find((DOCS, 1, 8), OLD) is None
    assert landed.find((DOCS, 2, 7), OLD) is None


def test_another_life_of_the_source_topic_is_another_message() -> None:
    landed = Landed()
    landed.add((DOCS, 1, 7), OLD, 40)
    assert landed.find((DOCS, 1, 7), NEW) is None
    landed.add((DOCS, 1, 7), NEW, 95)
    assert landed.find((DOCS, 1, 7), NEW) == 95 and landed.find((DOCS, 1, 7), OLD) == 40
    assert len(landed) == 2


def test_an_unknown_id_on_either_side_matches_by_coordinates() -> None:
    landed = Landed()
    landed.add((DOCS, 1, 7), None, 3)  # legacy: written before the header
    assert landed.find((DOCS, 1, 7), NEW) == 3
    assert landed.find((DOCS, 1, 7), None) == 3
    landed.add((DOCS, 1, 9), OLD, 4)
    assert landed.find((DOCS, 1, 9), None) == 4  # a row whose topic id the worker never learnt


def test_a_legacy_dead_letter_of_a_recreated_topic_belongs_to_its_old_life() -> None:
    landed = Landed()
    landed.add((DOCS, 1, 7), None, 3)
    landed.add((DOCS, 1, 8), None, 4)
    # the outbox row sent to offset 3 was renamed when the topic was recreated
    landed.resolve([((DOCS, 1, 7), 3, OLD.upper()), ((DOCS, 1, 8), 99, OLD)])
    assert landed.find((DOCS, 1, 7), NEW) is None  # the new life's message is not there
    assert landed.find((DOCS, 1, 7), OLD) == 3
    assert landed.find((DOCS, 1, 8), NEW) == 4  # another offset: not this letter's row
