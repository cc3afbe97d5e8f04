"""The cost of the Confluent wire format next to single-object encoding, per message (issue 12).

``python -m bench.wire_formats`` times, on the same documents, in one process and without I/O:

* ``decode``: the codec alone, single-object (fingerprint → reader) vs Confluent (schema id →
  the reader its registry schema resolved to, cached: what the worker does after the first
  message of an id);
* ``look-up``: the worker's per-fetch scan for schema ids not resolved yet
  (``WriterSchemas.unresolved``), on a fetch of each framing: the cached id lookup's cost;
* ``prepare``: decode → validate → normalise (streams/pipeline.py), both framings.

Each figure is the best of several repeats (the least disturbed by other processes), in
microseconds per message. Pass ``--messages N`` to change the sample (default 20,000).

On a busy machine times mislead; ``--loop NAME`` runs one loop once, untimed, for
``valgrind --tool=callgrind``, which counts instructions whatever else runs: the difference
between a loop's total and ``--loop none``'s, divided by the messages, is the loop's cost per
message in instructions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable

from testkit.history import documents_and_meetings
from vanphong.core.batch import Coordinates
from vanphong.schemas.catalog import EventType
from vanphong.schemas.codec import confluent_frame, decode, shipped_schemas
from vanphong.streams.pipeline import prepare
from vanphong.streams.writer_schemas import WriterSchemas

DOCS = EventType.DOCUMENT_ISSUED


class _Cached:
    """A registry client that already holds the id (the worker after its first look-up)."""

    url = "cached"

    def __init__(self, schema: str) -> None:
        self.schema = schema

    async def schema_by_id(self, schema_id: int) -> str:
        return self.schema

    async def close(self) -> None:
        return None


LOOPS: dict[str, Callable[..., object]] = {
    "decode-single": lambda single, confluent, by_id, writers: [decode(v) for v in single],
    "decode-confluent": lambda single, confluent, by_id, writers: [
        decode(v, by_id) for v in confluent
    ],
    "scan-single": lambda single, confluent, by_id, writers: writers.unresolved(single),
    "scan-confluent": lambda single, confluent, by_id, writers: writers.unresolved(confluent),
}


def best_us(fn: Callable[[], object], n: int, repeats: int = 7) -> float:
    """Best time of ``fn`` over ``repeats`` runs, in µs per message (``fn`` handles ``n``)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--loop", choices=[*LOOPS, "none"], default=None)
    args = parser.parse_args()
    n_wanted = args.messages
    reg = shipped_schemas()
    history = documents_and_meetings(seed=1, documents=n_wanted, meetings=0)
    single = [m.value for m in history if m.topic == DOCS.topic and m.event is not None][:n_wanted]
    n = len(single)
    schema_id = 1
    current = reg.current(DOCS)
    confluent = [confluent_frame(schema_id, v[10:]) for v in single]
    writers = WriterSchemas(_Cached(json.dumps(current.schema)), reg)  # type: ignore[arg-type]
    asyncio.run(writers.prefetch(confluent[:1]))
    by_id = writers.by_id
    at = Coordinates("vanphong.document-issued.v1", 0, 0)
    if args.loop is not None:
        if args.loop != "none":
            LOOPS[args.loop](single, confluent, by_id, writers)
        print(f"{args.loop}: {n} messages")
        return

    rows = [
        ("decode, single-object", best_us(lambda: [decode(v) for v in single], n)),
        (
            "decode, Confluent (cached id)",
            best_us(lambda: [decode(v, by_id) for v in confluent], n),
        ),
        ("id scan of a fetch, single-object", best_us(lambda: writers.unresolved(single), n)),
        ("id scan of a fetch, Confluent", best_us(lambda: writers.unresolved(confluent), n)),
        (
            "prepare, single-object",
            best_us(
                lambda: [prepare(at, None, v, DOCS, shipped_schemas(), by_id) for v in single], n
            ),
        ),
        (
            "prepare, Confluent (cached id)",
            best_us(
                lambda: [prepare(at, None, v, DOCS, shipped_schemas(), by_id) for v in confluent],
                n,
            ),
        ),
    ]
    print(f"{n:,} documents (DocumentIssued v{current.version}), best of 7, µs per message")
    for name, us in rows:
        print(f"  {name:<36} {us:7.3f}")


if __name__ == "__main__":
    main()
