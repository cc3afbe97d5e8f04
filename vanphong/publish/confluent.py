"""``vanphong publish --wire confluent``: the prepared single-object messages re-framed as
Confluent's serializers write them (``00`` + the Schema Registry's id of the topic's subject), for
upstream teams trying the framing before they write their own serializer. The ids are looked up,
never registered (``vanphong init`` registers: vanphong/registry_sync/subjects.py)."""

from __future__ import annotations

import asyncio

from vanphong.ground.schema_registry import RegistryError, SchemaRegistryClient
from vanphong.ground.settings import Settings
from vanphong.publish.prepare import Outgoing
from vanphong.registry_sync.subjects import schema_json, subject
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.schemas.codec import HEADER_LENGTH, confluent_frame


async def confluent_ids(client: SchemaRegistryClient, settings: Settings) -> dict[str, int]:
    """Per full topic name, the registry's id of the current shipped schema under its subject
    (looked up, never registered); raises ``RegistryError`` for a subject that lacks it."""
    registry = settings.known_schemas()
    ids = {}
    for et in EVENT_TYPES:
        name = subject(settings, et)
        found = await client.lookup(name, schema_json(registry.current(et)))
        if found is None:
            raise RegistryError(
                f"{name} does not hold the current {et.record} schema: run `vanphong init`",
                404,
                None,
            )
        ids[settings.topic(et.topic)] = found
    return ids


def confluent_framed(messages: list[Outgoing], settings: Settings) -> list[Outgoing]:
    """``vanphong publish --wire confluent``: the same Avro bodies behind ``00`` + the schema id
    of each topic's subject, as Confluent's serializers write them (the messages come from
    ``vanphong.publish.prepare_all``, single-object encoded with the current schemas)."""
    client = SchemaRegistryClient.from_settings(settings)
    if client is None:
        raise RegistryError(
            "--wire confluent needs a Schema Registry: set VANPHONG_SCHEMA_REGISTRY_URL", 0, None
        )

    async def go() -> dict[str, int]:
        async with client:
            return await confluent_ids(client, settings)

    ids = asyncio.run(go())
    return [
        Outgoing(m.topic, m.key, confluent_frame(ids[m.topic], m.value[HEADER_LENGTH:]))
        for m in messages
    ]
