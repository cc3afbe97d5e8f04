"""A dead letter's headers (CONTRACT.md §6): what the relay writes and ``dlq`` reads back; and
:class:`Landed`, the relay's index of what one dead-letter partition holds.

Plain names and pure code, so that the relay (streams/deadletters.py) and the operator's ``dlq``
commands agree on them without one layer importing the other.

**The source topic's id** (an extension of §6, schemas/README.md): a topic deleted and created
again under the same name restarts its offsets at 0, so ``(topic, partition, offset)`` alone may
name two different messages, one per life of the topic. A dead letter therefore also carries
``vanphong.source.topic_id``, the source topic's id (the UUID Kafka gives a topic at creation),
when the worker knew it. Dead letters written before the header existed ("legacy") carry none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

REASON = "vanphong.error.reason"
DETAIL = "vanphong.error.detail"
SOURCE_TOPIC = "vanphong.source.topic"
SOURCE_PARTITION = "vanphong.source.partition"
SOURCE_OFFSET = "vanphong.source.offset"
SOURCE_TOPIC_ID = "vanphong.source.topic_id"  # extension: the source topic's id (module doc)
FAILED_AT = "vanphong.failed_at"

Source = tuple[str, int, int]
Headers = list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]


def dead_letter_headers(
    source: Source,
    reason: str,
    detail: str,
    failed_at: datetime,
    topic_id: str | None = None,
) -> list[tuple[str, bytes]]:
    """The headers of CONTRACT.md §6, and the source topic's id if it is known."""
    topic, partition, offset = source
    headers = [
        (REASON, reason.encode()),
        (DETAIL, detail.encode()),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
        (FAILED_AT, failed_at.isoformat().encode()),
    ]
    if topic_id is not None:
        headers.append((SOURCE_TOPIC_ID, topic_id.lower().encode()))
    return headers


def source_of(headers: Headers) -> Source | None:
    """The source coordinates a dead letter names, if it names them."""
    found = {k: v.decode(errors="replace") for k, v in headers}
    try:
        return (found[SOURCE_TOPIC], int(found[SOURCE_PARTITION]), int(found[SOURCE_OFFSET]))
    except (KeyError, ValueError):
        return None


def topic_id_of(headers: Headers) -> str | None:
    """The source topic's id a dead letter names (None for a legacy dead letter)."""
    for key, value in headers:
        if key == SOURCE_TOPIC_ID:
            return value.decode(errors="replace").lower() or None
    return None


@dataclass
class Landed:
    """Which source messages one dead-letter partition holds: the relay's index, built by reading
    the partition and extended by reading past :attr:`next_offset` before each send.

    A dead letter is identified by its source coordinates and the source topic's *life*: its id
    from the header, or for a legacy dead letter the life PostgreSQL's renamed outbox rows give
    it (``<topic>@<old id>``, see :meth:`resolve`), else unknown (None). :meth:`find` decides
    whether a dead letter to send is already there:

    * same coordinates and the same id: there;
    * either id unknown (a legacy dead letter of an unresolved life, or a row whose topic id the
      worker never learnt): there. This errs towards never sending twice; it can only hide a
      dead letter if a source topic was recreated *and* its ids are unknown;
    * another id: a message of another life of the topic, so not there.
    """

    next_offset: int = 0  # the partition is known below this offset
    lives: dict[Source, dict[str | None, int]] = field(default_factory=dict)  # → id → dlq offset

    def add(self, source: Source, topic_id: str | None, offset: int) -> None:
        """The partition holds a dead letter of ``source`` (of life ``topic_id``) at ``offset``;
        the first one found counts (a second copy, from before this index, changes nothing)."""
        life = None if topic_id is None else topic_id.lower()
        self.lives.setdefault(source, {}).setdefault(life, offset)

    def resolve(self, renamed: Iterable[tuple[Source, int, str]]) -> None:
        """Give legacy dead letters their life: ``renamed`` are outbox rows (source named by its
        *old* topic name, dlq offset, old topic id) renamed when the source topic was recreated;
        the legacy dead letter at that dlq offset belongs to that old life."""
        for source, offset, old_id in renamed:
            ids = self.lives.get(source)
            if ids is not None and ids.get(None) == offset:
                del ids[None]
                ids.setdefault(old_id.lower(), offset)

    def find(self, source: Source, topic_id: str | None) -> int | None:
        """The dlq offset of the dead letter of ``source`` (of the life ``topic_id``) if the
        partition holds it (class docstring), else None."""
        ids = self.lives.get(source)
        if not ids:
            return None
        if topic_id is None:
            return min(ids.values())
        topic_id = topic_id.lower()
        if topic_id in ids:
            return ids[topic_id]
        return ids.get(None)

    def __len__(self) -> int:
        return sum(len(ids) for ids in self.lives.values())
