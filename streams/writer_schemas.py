"""Writer schemas of Confluent-framed messages, looked up before a fetch is decoded.

A message in the Confluent wire format (``00`` + a 4-byte schema id) names its writer schema by
an id in a Schema Registry. The decode itself stays pure (schemas/wire.py): before a fetch goes
through streams/pipeline.py, :meth:`WriterSchemas.prefetch` finds the ids the fetch holds that
are not resolved yet, asks the registry for each (async I/O, once per id for the life of the
process) and keeps, per id, a ready reader or the error its messages get:

* an id the registry does not know: ``unknown_schema``;
* a schema that is not one of the contract's records, or that vanphong cannot read (a type the
  strict decoder does not read): ``invalid_field``, saying why (a schema that does not resolve
  to the current one is found while decoding, with the same verdict);
* no registry configured: ``unknown_schema``, naming ``VANPHONG_SCHEMA_REGISTRY_URL``.

A registry that does not answer raises ``TransientError``: the caller waits and retries, and
no message is dead-lettered for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vanphong.ground.schema_registry import SchemaRegistryClient
from vanphong.schemas.codec import (
    CONFLUENT_HEADER_LENGTH,
    CodecError,
    KnownSchemas,
    Reader,
    UnknownSchemaIdError,
    UnresolvableSchemaError,
)
from vanphong.schemas.errors import SCHEMA_REGISTRY_ENV

__all__ = ["WriterSchemas"]

NO_REGISTRY = f"no Schema Registry is configured: set {SCHEMA_REGISTRY_ENV}"


class WriterSchemas:
    """Per schema id, the reader of its messages or the error they get (kept for good: an id
    never changes meaning)."""

    def __init__(self, client: SchemaRegistryClient | None, registry: KnownSchemas) -> None:
        self.client = client
        self.registry = registry
        self._by_id: dict[int, Reader | CodecError] = {}

    @property
    def by_id(self) -> Mapping[int, Reader | CodecError]:
        """What :func:`vanphong.schemas.codec.decode` takes as ``by_id``."""
        return self._by_id

    def unresolved(self, values: Iterable[bytes | None]) -> set[int]:
        """The schema ids of Confluent-framed values among ``values`` not resolved yet (one byte
        compared per single-object message)."""
        known = self._by_id
        ids: set[int] = set()
        for value in values:
            # confluent_schema_id(), inlined: this runs on every message of every fetch
            if value and value[0] == 0 and len(value) >= CONFLUENT_HEADER_LENGTH:
                schema_id = int.from_bytes(value[1:CONFLUENT_HEADER_LENGTH], "big")
                if schema_id not in known:
                    ids.add(schema_id)
        return ids

    async def prefetch(self, values: Iterable[bytes | None]) -> None:
        """Resolve the schema ids of ``values`` not resolved yet; raises ``TransientError`` if
        the registry does not answer (what was resolved before the failure is kept)."""
        for schema_id in sorted(self.unresolved(values)):
            await self.resolve(schema_id)

    async def resolve(self, schema_id: int) -> Reader | CodecError:
        known = self._by_id.get(schema_id)
        if known is not None:
            return known
        outcome: Reader | CodecError
        if self.client is None:
            outcome = UnknownSchemaIdError(schema_id, NO_REGISTRY)
        else:
            text = await self.client.schema_by_id(schema_id)
            if text is None:
                outcome = UnknownSchemaIdError(
                    schema_id, f"the Schema Registry at {self.client.url} does not know it"
                )
            else:
                try:
                    outcome = self.registry.registry_reader(text, f"schema id {schema_id}")
                except UnresolvableSchemaError as exc:
                    outcome = exc
        self._by_id[schema_id] = outcome
        return outcome

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
