"""A dead letter's headers (CONTRACT.md §6): what the relay writes and ``dlq`` reads back.

Plain names and two pure functions, so that the relay (streams/deadletters.py) and the operator's
``dlq`` commands agree on them without one layer importing the other.
"""

from __future__ import annotations

from datetime import datetime

REASON = "vanphong.error.reason"
DETAIL = "vanphong.error.detail"
SOURCE_TOPIC = "vanphong.source.topic"
SOURCE_PARTITION = "vanphong.source.partition"
SOURCE_OFFSET = "vanphong.source.offset"
FAILED_AT = "vanphong.failed_at"

Source = tuple[str, int, int]


def dead_letter_headers(
    source: Source, reason: str, detail: str, failed_at: datetime
) -> list[tuple[str, bytes]]:
    """The headers of CONTRACT.md §6."""
    topic, partition, offset = source
    return [
        (REASON, reason.encode()),
        (DETAIL, detail.encode()),
        (SOURCE_TOPIC, topic.encode()),
        (SOURCE_PARTITION, str(partition).encode()),
        (SOURCE_OFFSET, str(offset).encode()),
        (FAILED_AT, failed_at.isoformat().encode()),
    ]


def source_of(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> Source | None:
    """The source coordinates a dead letter names, if it names them."""
    found = {k: v.decode() for k, v in headers}
    try:
        return (found[SOURCE_TOPIC], int(found[SOURCE_PARTITION]), int(found[SOURCE_OFFSET]))
    except (KeyError, ValueError):
        return None
