"""Creating the contract's topics (CONTRACT.md §2), idempotently.

Topic administration goes through aiokafka's admin client, so no Kafka CLI jars are needed.
"""

from __future__ import annotations

import contextlib

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from vanphong.ground.kafka import admin_client, partition_counts
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import DEAD_LETTER_PARTITIONS, DEAD_LETTER_TOPIC, EVENT_TYPES


def contract_topics(settings: Settings) -> dict[str, int]:
    """Full topic name → partitions, for every topic of the contract."""
    topics = {settings.topic(e.topic): e.partitions for e in EVENT_TYPES}
    topics[settings.topic(DEAD_LETTER_TOPIC)] = DEAD_LETTER_PARTITIONS
    return topics


#: Ask for the cluster's ``default.replication.factor`` (1 on the plain stack, 3 on the secure
#: one); ``min.insync.replicas`` is the cluster's default as well.
BROKER_DEFAULT = -1


def new_topic(name: str, partitions: int, replication_factor: int = BROKER_DEFAULT) -> NewTopic:
    """A topic to create; ``BROKER_DEFAULT`` leaves the replication factor to the cluster.

    aiokafka's ``NewTopic`` refuses -1 unless replica assignments are given; an empty mapping
    passes its check and sends none, and the brokers (Kafka ≥ 2.4) read -1 as their default.
    """
    if replication_factor == BROKER_DEFAULT:
        return NewTopic(name, partitions, BROKER_DEFAULT, replica_assignments={})
    return NewTopic(name, partitions, replication_factor)


async def create_topics(
    settings: Settings, replication_factor: int = BROKER_DEFAULT
) -> dict[str, str]:
    """Create missing topics; return topic → "created" / "exists" / a warning on a mismatch."""
    wanted = contract_topics(settings)
    async with admin_client(settings) as admin:
        existing = await partition_counts(admin, list(wanted))
        missing = [
            new_topic(name, n, replication_factor)
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
