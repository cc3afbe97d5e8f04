"""``vanphong publish``'s first half: JSON Lines in, validated, Avro single-object messages out
(the second, sending them: vanphong/publish/send.py).

Every line is checked (JSON, structure, §4 rules) before anything is sent, so a file with a bad
line publishes nothing unless the caller asked to skip invalid lines. Lines are read, checked and
encoded with the current schemas of the settings' registry (``VANPHONG_EXTRA_SCHEMAS_DIR``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vanphong.core.rejection import Rejection
from vanphong.core.rules import accept
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import EventType
from vanphong.schemas.codec import CodecError
from vanphong.schemas.json_input import JsonInputError, parse_line
from vanphong.schemas.known import KnownSchemas


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


def to_message(text: str, settings: Settings, schemas: KnownSchemas | None = None) -> Outgoing:
    """One JSON line as the message to send, with the current schemas of ``schemas`` (by default
    the settings' registry); raises ``ValueError`` with the reason."""
    if schemas is None:
        schemas = settings.known_schemas()
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
    schemas = settings.known_schemas()
    for source, number, text in lines:
        try:
            messages.append(to_message(text, settings, schemas))
        except ValueError as exc:
            errors.append(LineError(source, number, str(exc)))
    return messages, errors
