"""``vanphong publish``: JSON Lines in, validated, Avro single-object messages out.

Every line is checked (JSON, structure, §4 rules) before anything is sent, so a file with a bad
line publishes nothing unless the caller asked to skip invalid lines. Lines are read, checked and
encoded with the current schemas of the settings' registry (``VANPHONG_EXTRA_SCHEMAS_DIR``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from vanphong.core.rejection import Rejection
from vanphong.core.rules import accept
from vanphong.ground.kafka import kafka_client_kwargs, start_client
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EventType
from vanphong.schemas.codec import CodecError
from vanphong.schemas.json_input import JsonInputError, parse_line
from vanphong.schemas.registry import SchemaRegistry


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class LineError:
    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


def numbered_lines(sources: Iterable[tuple[str, Iterable[str]]]) -> Iterator[tuple[str, int, str]]:
    """(source name, 1-based line number, text) of every non-blank line."""
    for name, lines in sources:
        for number, text in enumerate(lines, start=1):
            if text.strip():
                yield name, number, text


def to_message(text: str, settings: Settings, schemas: SchemaRegistry | None = None) -> Outgoing:
    """One JSON line as the message to send, with the current schemas of ``schemas`` (by default
    the settings' registry); raises ``ValueError`` with the reason."""
    if schemas is None:
        schemas = settings.schema_registry()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    try:
        event_type, datum = parse_line(obj, schemas)
        accept(event_type, dict(datum), schemas)  # validated on a copy: the line is sent as given
        value = schemas.encode(event_type, datum)
    except (JsonInputError, CodecError) as exc:
        raise ValueError(str(exc)) from exc
    except Rejection as rejection:
        raise ValueError(f"{rejection.reason}: {rejection.detail}") from rejection
    return _outgoing(event_type, datum[event_type.key_field], value, settings)


def _outgoing(event_type: EventType, key: str, value: bytes, settings: Settings) -> Outgoing:
    return Outgoing(settings.topic(event_type.topic), key.encode("utf-8"), value)


def prepare_all(
    lines: Iterable[tuple[str, int, str]], settings: Settings
) -> tuple[list[Outgoing], list[LineError]]:
    messages: list[Outgoing] = []
    errors: list[LineError] = []
    schemas = settings.schema_registry()
    for source, number, text in lines:
        try:
            messages.append(to_message(text, settings, schemas))
        except ValueError as exc:
            errors.append(LineError(source, number, str(exc)))
    return messages, errors


async def send_all(
    messages: list[Outgoing], settings: Settings, on_sent: object = None, chunk: int = 5000
) -> int:
    """Send with acks from every in-sync replica and idempotence; return the count sent.

    ``on_sent(n)`` is called after each chunk (progress bars)."""
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    futures: list[asyncio.Future[Any]] = []
    try:
        await start_client(producer, settings)  # inside: a refused start still closes it
        for start in range(0, len(messages), chunk):
            part = messages[start : start + chunk]
            futures = []
            for m in part:
                futures.append(await producer.send(m.topic, m.value, key=m.key))
            await _delivered(futures)
            if callable(on_sent):
                on_sent(len(part))
    finally:
        await producer.stop()
        _retrieve(futures)
    return len(messages)


async def _delivered(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Wait for every send of a chunk, then raise the first refusal: each future's outcome is
    retrieved (awaiting them one by one would leave the exceptions after the first unread, and
    asyncio prints "Future exception was never retrieved" for each at exit)."""
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _retrieve(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Mark the outcome of sends left behind by an error (``producer.send`` itself raising
    mid-chunk) as seen, now or when they end: the error already raised is the one reported."""
    for future in futures:
        if future.done():
            _seen(future)
        else:
            future.add_done_callback(_seen)


def _seen(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
