"""Kafka's view of the assigned partitions, for the lag: end, beginning and committed offsets.

Apart from the monitor (streams/monitor.py) because this is its only network I/O, with clients of
its own: a standalone aiokafka consumer and admin client, outside the group. End offsets, not
faust's ``consumer.highwater(tp)``: that one is only the highwater of the last fetch response,
unknown for a partition not fetched yet and frozen while faust pauses a partition whose stream
buffer is full, which is what a hanging worker looks like. End offsets are read
``read_committed``: last stable offsets, so an open transaction is no lag. The committed offset
(or the beginning offset when the group has none) is a floor under the applied offset: it makes
a partition that was just assigned, and has applied nothing yet, measurable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from vanphong.core.lag import TP
from vanphong.ground.kafka import ISOLATION_LEVEL, kafka_client_kwargs
from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings

log = get_logger("vanphong.monitor")

#: A Kafka offsets request that takes longer than this counts as a failure.
OFFSETS_TIMEOUT_S = 10.0


@dataclass
class _KafkaClients:
    consumer: AIOKafkaConsumer
    admin: AIOKafkaAdminClient


class KafkaOffsets:
    """Reads the offsets of partitions on demand; the clients are made at the first read and
    dropped by :meth:`close` (after a failure too, so the next read starts afresh)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._kafka: _KafkaClients | None = None
        self._failing = False

    async def poll(self, assigned: list[TP]) -> tuple[dict[TP, int], dict[TP, int]] | None:
        """:meth:`read` within :data:`OFFSETS_TIMEOUT_S`; None when it failed (logged once per
        outage, not every poll; the clients are closed, the next poll makes new ones)."""
        try:
            offsets = await asyncio.wait_for(self.read(assigned), OFFSETS_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._failing:
                log.warning("kafka offsets not readable, lag is stale", error=describe(exc))
            self._failing = True
            await self.close()
            return None
        if self._failing:
            log.info("kafka offsets readable again")
        self._failing = False
        return offsets

    async def read(self, assigned: list[TP]) -> tuple[dict[TP, int], dict[TP, int]]:
        """End offsets and applied-offset floors (committed, or beginning) of ``assigned``."""
        kafka = await self._kafka_clients()
        tps = [TopicPartition(t, p) for t, p in assigned]
        ends = await kafka.consumer.end_offsets(tps)
        begins = await kafka.consumer.beginning_offsets(tps)
        committed = await kafka.admin.list_consumer_group_offsets(
            self.settings.consumer_group, partitions=tps
        )
        floor: dict[TP, int] = {}
        for tp in tps:
            meta = committed.get(tp)
            start = begins[tp]
            floor[(tp.topic, tp.partition)] = (
                max(meta.offset, start) if meta is not None and meta.offset >= 0 else start
            )
        return {(tp.topic, tp.partition): o for tp, o in ends.items()}, floor

    async def _kafka_clients(self) -> _KafkaClients:
        if self._kafka is None:
            consumer = AIOKafkaConsumer(
                **kafka_client_kwargs(self.settings),
                group_id=None,
                enable_auto_commit=False,
                isolation_level=ISOLATION_LEVEL,  # end offsets: the last stable offsets
            )
            admin = AIOKafkaAdminClient(**kafka_client_kwargs(self.settings))
            self._kafka = _KafkaClients(consumer, admin)
            await consumer.start()
            # aiokafka 0.14: let start()'s task run (see vanphong.ground.kafka)
            await asyncio.sleep(0)
            await admin.start()
        return self._kafka

    async def close(self) -> None:
        kafka, self._kafka = self._kafka, None
        if kafka is None:
            return
        for close in (kafka.consumer.stop, kafka.admin.close):
            try:
                await close()
            except (Exception, asyncio.CancelledError) as exc:  # closing half-open clients
                log.debug("closing a kafka client failed", error=describe(exc))


def describe(exc: BaseException) -> str:
    """An exception in a log field: its type, and its message when it has one."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
