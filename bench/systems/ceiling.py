"""The ceiling: a plain aiokafka consumer that only fetches and Avro-decodes the messages.

No group (partitions assigned directly, so no join or rebalance), no validation, no state, no
database: the most a single Python process can do with this broker, client and codec, which
puts every other number in proportion. It decodes with the product's codec
(``vanphong.schemas.codec``),
the same per-message cost vanphong and the other systems pay.

Run as ``python -m bench.systems.ceiling BOOTSTRAP PREFIX TOTAL``; prints one JSON line:
``{"done_at": <wall clock>, "first_fetch_at": ..., "events": N}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bench.systems._reading import read_everything
from bench.systems._usage import usage
from vanphong.schemas.codec import decode


async def consume(bootstrap: str, prefix: str, total: int) -> dict[str, float | int]:
    consumer = await read_everything(bootstrap, prefix)
    try:
        seen = 0
        first_fetch = 0.0
        while seen < total:
            fetched = await consumer.getmany(timeout_ms=1000)
            if fetched and not first_fetch:
                first_fetch = time.time()
            for messages in fetched.values():
                for message in messages:
                    decode(message.value)
                seen += len(messages)
        done = time.time()
        return {"done_at": done, "first_fetch_at": first_fetch, "events": seen, **usage()}
    finally:
        await consumer.stop()


def main() -> None:
    bootstrap, prefix, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(consume(bootstrap, prefix, total))), flush=True)


if __name__ == "__main__":
    main()
