"""The dead-letter relay never holds the writer, and a broker that hangs mid-relay costs no
dead letter and sends none twice (streams/deadletters.py, streams/relay_loop.py).

The broker that hangs is a producer handed to the relay (the shared broker is left alone): it
accepts sends and leaves them unacknowledged; later it answers new sends again while the old
ones are still in flight; last, the old ones land, late. The worker's runtime (writers, sink,
relay loop) runs in this process on the real database and broker, without faust's consumer:
the test puts prepared batches straight into the writers' backlogs.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from testkit.history import to_message
from tests.conftest import Env
from vanphong.core.batch import Coordinates, Item
from vanphong.core.deadletter import source_of
from vanphong.schemas.catalog import BY_TYPE, DEAD_LETTER_PARTITIONS
from vanphong.schemas.codec import shipped_schemas
from vanphong.streams.deadletters import Producer
from vanphong.streams.monitor import Monitor
from vanphong.streams.pipeline import prepare
from vanphong.streams.runtime import Runtime

DOCUMENTS = BY_TYPE["document.issued"]


class HungBroker:
    """Makes producers that stop acknowledging while ``hanging``: a send is accepted and its
    future stays pending until :attr:`released`, when it is delivered to the real broker."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.hanging = True
        self.released = asyncio.Event()
        self.held = 0  # sends accepted while hanging
        self.passed = 0  # sends passed straight through

    def producer(self) -> Producer:
        return _HungProducer(self, AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all"))


class _HungProducer:
    def __init__(self, broker: HungBroker, real: AIOKafkaProducer) -> None:
        self.broker, self.real = broker, real
        self.late: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        await self.real.start()

    async def stop(self) -> None:
        await self.real.stop()

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        def through() -> Any:
            return self.real.send(topic, value, key=key, partition=partition, headers=headers)

        if not self.broker.hanging:
            self.broker.passed += 1
            return await through()
        self.broker.held += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def lands_late() -> None:
            await self.broker.released.wait()
            try:
                future.set_result(await (await through()))
            except Exception as exc:
                future.set_exception(exc)

        task = asyncio.ensure_future(lands_late())
        self.late.add(task)
        task.add_done_callback(self.late.discard)
        return future


async def until(condition: Callable[[], Any], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


def test_a_broker_that_hangs_mid_relay_holds_no_write_and_each_dead_letter_lands_once(
    env: Env,
) -> None:
    settings = env.settings.model_copy(
        update={
            "relay_timeout_s": 1.0,
            "relay_interval_s": 0.2,
            "relay_batch": 4,  # fewer than a partition's dead letters: rounds are bounded
            "batch_max_wait_s": 0.0,
        }
    )
    topic = settings.topic(DOCUMENTS.topic)
    next_offset = dict.fromkeys(range(DOCUMENTS.partitions), 0)
    document_number = iter(range(10**6))

    def batch(partition: int, good: int, bad: int) -> list[Item]:
        items = []
        for i in range(good + bad):
            at = Coordinates(topic, partition, next_offset[partition])
            next_offset[partition] += 1
            if i % 2 and bad:  # dead letters between good documents
                bad -= 1
                items.append(
                    prepare(at, b"junk", b"not avro %d" % at.offset, DOCUMENTS, shipped_schemas())
                )
                continue
            n = next(document_number)
            value = to_message(
                {
                    "type": "document.issued",
                    "document_id": f"d{n}",
                    "unit_id": "vptu",
                    "number": f"{n}-CV/TU",
                    "doc_type": "CONG_VAN",
                    "issuing_organ": "VP",
                    "title": "Công văn",
                    "appraised": False,
                    "secrecy": "NONE",
                    "urgency": "NONE",
                    "event_id": f"d{n}-r1",
                    "occurred_at": "2024-05-01T03:00:00Z",
                    "source": "test",
                }
            ).value
            items.append(prepare(at, f"d{n}".encode(), value, DOCUMENTS, shipped_schemas()))
        return items

    broker = HungBroker(settings.kafka_bootstrap)
    monitor = Monitor(settings)

    async def scenario() -> None:
        runtime = Runtime(settings, monitor, producer_factory=broker.producer)
        await runtime.start()
        conn = await asyncpg.connect(settings.database_url)

        async def put(partition: int, good: int, bad: int) -> None:
            await runtime.backlogs[partition % settings.writers].put(batch(partition, good, bad))

        async def committed() -> bool:
            rows = await conn.fetch(
                "SELECT partition, next_offset FROM core.sink_offsets WHERE topic = $1", topic
            )
            return {r["partition"]: r["next_offset"] for r in rows} == {
                p: o for p, o in next_offset.items() if o
            }

        async def unsent() -> int:
            n: int = await conn.fetchval(
                "SELECT count(*) FROM core.dead_letters WHERE sent_at IS NULL"
            )
            return n

        async def relay_failed() -> bool:
            value = monitor.metrics.registry.get_sample_value(
                "vanphong_transient_failures_total", {"kind": "dead_letter_relay"}
            )
            return bool(value)

        try:
            # 1. Dead letters in every dead-letter partition while the broker hangs.
            for partition in range(DOCUMENTS.partitions):
                await put(partition, good=4, bad=3)
            await until(committed, "the first batches committed")
            await until(relay_failed, "a relay round to time out")
            assert broker.held > 0

            # 2. The writers go on meanwhile: more batches, more dead letters, all committed.
            for partition in range(DOCUMENTS.partitions):
                await put(partition, good=6, bad=2)
            await until(committed, "more batches committed while the relay hangs")
            total = await conn.fetchval("SELECT count(*) FROM core.dead_letters")
            assert total == DOCUMENTS.partitions * 5
            assert await unsent() == total  # nothing recorded as sent: no send was acknowledged

            # 3. New sends would go through, but the hung ones are still in flight: the relay
            # waits for them (sending again now would make duplicates when they land).
            broker.hanging = False
            assert runtime.relay is not None
            relay = runtime.relay
            seen = relay.rounds

            async def two_more_rounds() -> bool:
                return relay.rounds >= seen + 2

            await until(two_more_rounds, "two more relay rounds")
            assert await unsent() == total and broker.passed == 0

            # 4. The hung sends land, late. The relay finds them on the topic and sends the rest.
            broker.released.set()

            async def all_sent() -> bool:
                return await unsent() == 0

            await until(all_sent, "every dead letter relayed")
            assert broker.passed > 0  # the rest went through, in rounds of at most 4
        finally:
            await conn.close()
            await runtime.stop()

    asyncio.run(scenario())

    letters = env.dead_letters()
    sources = Counter(source_of(m.headers) for m in letters)
    rows = env.fetch(
        'SELECT topic, partition, "offset", dlq_partition, dlq_offset FROM core.dead_letters'
    )
    assert sources == Counter((r["topic"], r["partition"], r["offset"]) for r in rows)  # once
    assert {(m.partition, m.offset) for m in letters} == {
        (r["dlq_partition"], r["dlq_offset"]) for r in rows
    }
    assert {m.partition for m in letters} == set(range(DEAD_LETTER_PARTITIONS))
    assert broker.held < len(rows)  # some were recovered from the tail, some sent afterwards
