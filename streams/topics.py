"""Creating the contract's topics (CONTRACT.md §2), idempotently.

Topic administration goes through aiokafka's admin client, so no Kafka CLI jars are needed.
"""

from __future__ import annotations

import contextlib

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.catalog import DEAD_LETTER_PARTITIONS, DEAD_LETTER_TOPIC, EVENT_TYPES
from vanphong.ground.kafka import admin_client, partition_counts
from vanphong.ground.settings import Settings


def contract_topics(settings: Settings) -> dict[str, int]:
    """Full topic name → partitions, for every topic of the contract."""
    topics = {settings.topic(e.topic): e.partitions for e in EVENT_TYPES}
    topics[settings.topic(DEAD_LETTER_TOPIC)] = DEAD_LETTER_PARTITIONS
    return topics


async def create_topics(settings: Settings, replication_factor: int = 1) -> dict[str, str]:
    """Create missing topics; return topic → "created" / "exists" / a warning on a mismatch."""
    wanted = contract_topics(settings)
    async with admin_client(settings.kafka_bootstrap) as admin:
        existing = await partition_counts(admin, list(wanted))
        missing = [
            NewTopic(name, n, replication_factor)
            for name, n in wanted.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another init won the race
                await admin.create_topics(missing)
        result = {}
        for name, n in wanted.items():
            if name not in existing:
                result[name] = "created"
            elif existing[name] != n:  # fewer: keys still work; more: consumed, reported
                result[name] = f"exists with {existing[name]} partitions (contract: {n})"
            else:
                result[name] = "exists"
        return result
