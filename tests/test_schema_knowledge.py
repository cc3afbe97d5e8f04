"""Schema knowledge read from the schemas (issue 10): which fields are timestamps and dates, the
§4 limits and the JSON input follow the registry in use, the registry is built from
``Settings`` (``VANPHONG_EXTRA_SCHEMAS_DIR``) and never at import, and event types are the
``EventType`` enum, equal to the type strings PostgreSQL stores. No broker or database needed."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from tests.events import event
from vanphong.core.batch import Accepted, Coordinates
from vanphong.core.rejection import Reason, Rejection
from vanphong.core.rules import accept
from vanphong.core.semantics import Entity, EntityRef, Fold
from vanphong.ground.settings import Settings, get_settings
from vanphong.publish import prepare_all
from vanphong.schemas import codec
from vanphong.schemas.catalog import EVENT_TYPES, EventType
from vanphong.schemas.known import KnownSchemas, load_known_schemas
from vanphong.schemas.logical import Temporal, temporal_fields
from vanphong.sinks.records import entities_to_json, record_from_json
from vanphong.streams.pipeline import prepare

AT = Coordinates("t.task-assigned.v1", 0, 0)

ROOT = Path(__file__).resolve().parents[1]
TASK = EventType.TASK_ASSIGNED
V2_FIELDS = [
    {
        "name": "signed_on",
        "type": ["null", {"type": "int", "logicalType": "date"}],
        "default": None,
    },
    {
        "name": "reminders",
        "type": {"type": "array", "items": {"type": "int", "logicalType": "date"}},
        "default": [],
    },
    {
        "name": "archived_at",
        "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
        "default": None,
    },
    {"name": "note", "type": ["null", "string"], "default": None},
]


def v2_root(root: Path) -> Path:
    """A schema root holding only v2/TaskAssigned.avsc: the shipped v1 plus an optional date,
    an array of dates, an optional timestamp and an optional text."""
    schema = json.loads((codec.SCHEMAS_DIR / "v1" / "TaskAssigned.avsc").read_text("utf-8"))
    schema["fields"].extend(V2_FIELDS)
    (root / "v2").mkdir(parents=True)
    (root / "v2" / "TaskAssigned.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return root


@pytest.fixture
def evolved(tmp_path: Path) -> KnownSchemas:
    return load_known_schemas((v2_root(tmp_path / "extra"),))


def v2_task(**fields: Any) -> dict[str, Any]:
    new = {
        "signed_on": date(2024, 3, 6),
        "reminders": [date(2024, 4, 1), date(2024, 5, 2)],
        "archived_at": datetime(2024, 7, 1, 3, 0, tzinfo=UTC),
        "note": "ghi chú",
    }
    return event(TASK, **{**new, **fields})


# -- timestamps and dates from the logical types ----------------------------------------------


def test_the_shipped_schemas_name_the_timestamps_and_dates_the_sink_always_read() -> None:
    shipped = codec.shipped_schemas()
    found = {(et, f) for et in EVENT_TYPES for f in shipped.temporal_fields(et)}
    assert {f.name for _, f in found if f.kind == "timestamp"} == {"occurred_at"}
    assert {f.name for _, f in found if f.kind == "date"} == {"due_date", "effective_date"}
    assert {et for et, f in found if f.name == "occurred_at"} == set(EVENT_TYPES)
    assert not any(f.array for _, f in found)


def test_temporal_fields_look_through_nullable_unions_and_arrays() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {
                "name": "at_us",
                "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
            },
            {"name": "on", "type": {"type": "int", "logicalType": "date"}},
            {
                "name": "days",
                "type": [
                    "null",
                    {"type": "array", "items": ["null", {"type": "int", "logicalType": "date"}]},
                ],
            },
            {"name": "count", "type": "int"},
            {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
        ],
    }
    assert temporal_fields(schema) == (
        Temporal("at", "timestamp", False),
        Temporal("at_us", "timestamp", False),
        Temporal("on", "date", False),
        Temporal("days", "date", True),
    )


def test_a_date_added_in_a_v2_schema_comes_back_from_the_stored_json_as_a_date(
    evolved: KnownSchemas,
) -> None:
    record = evolved.decode(evolved.encode(TASK, v2_task())).record
    accept(TASK, record, evolved)
    stored = orjson.dumps(record).decode()  # as sinks/records.py writes core.entities.record
    for read in (
        record_from_json(stored, TASK, evolved),
        record_from_json(stored, "task.assigned", evolved),  # the type string as stored
        record_from_json(stored, None, evolved),  # by name, over every event type
    ):
        assert read == record
        assert type(read["signed_on"]) is date and type(read["due_date"]) is date
        assert all(type(d) is date for d in read["reminders"])
        assert read["archived_at"] == datetime(2024, 7, 1, 3, 0, tzinfo=UTC)
    # a record stored before v2 has none of the new fields, or nulls: read as they are
    older = orjson.dumps({**record, "signed_on": None, "archived_at": None}).decode()
    assert record_from_json(older, TASK, evolved)["signed_on"] is None
    # the shipped schemas do not know the field, so with them it would stay text
    assert record_from_json(stored, TASK, codec.shipped_schemas())["signed_on"] == "2024-03-06"


def test_a_field_read_differently_by_two_event_types_needs_the_entity_type(
    tmp_path: Path,
) -> None:
    root = tmp_path / "extra"
    schema = json.loads((codec.SCHEMAS_DIR / "v1" / "MeetingHeld.avsc").read_text("utf-8"))
    schema["fields"].append({"name": "due_date", "type": ["null", "string"], "default": None})
    (root / "v2").mkdir(parents=True)
    (root / "v2" / "MeetingHeld.avsc").write_text(json.dumps(schema), encoding="utf-8")
    clashing = load_known_schemas((root,))
    text = orjson.dumps(event(EventType.MEETING_HELD, due_date="sớm")).decode()
    assert record_from_json(text, EventType.MEETING_HELD, clashing)["due_date"] == "sớm"
    with pytest.raises(RuntimeError, match=r"due_date.*needs the entity type"):
        record_from_json(text, None, clashing)


# -- the rules and the JSON input follow the registry --------------------------------------------


def test_a_string_field_added_in_v2_is_held_to_the_limits_of_section_4(
    evolved: KnownSchemas,
) -> None:
    record = evolved.decode(evolved.encode(TASK, v2_task(note="a\x00b"))).record
    with pytest.raises(Rejection) as caught:
        accept(TASK, record, evolved)
    assert caught.value == Rejection(
        Reason.INVALID_FIELD, "note contains U+0000 (NUL) at character 2"
    )


def test_publish_reads_and_encodes_with_the_settings_registry(tmp_path: Path) -> None:
    extra = v2_root(tmp_path / "extra")
    line = {
        "type": "task.assigned",
        **{k: v for k, v in event(TASK).items() if k not in ("occurred_at", "due_date")},
        "occurred_at": "2024-03-05T02:00:00Z",
        "due_date": "2024-06-30",
        "signed_on": "2024-03-06",
    }
    lines = [("l", 1, json.dumps(line, ensure_ascii=False))]
    messages, errors = prepare_all(lines, Settings(extra_schemas_dir=str(extra)))
    assert errors == []
    evolved = load_known_schemas((extra,))
    assert messages[0].value[2:10] == evolved.current(TASK).header[2:]
    assert evolved.decode(messages[0].value).record["signed_on"] == date(2024, 3, 6)
    # the shipped schemas have no such field: the same line is refused
    _, refused = prepare_all(lines, Settings(extra_schemas_dir=""))
    assert len(refused) == 1 and "unknown field 'signed_on'" in refused[0].reason


# -- the registry comes from Settings, on demand ----------------------------------------------


def test_extra_schema_dirs_are_a_setting_checked_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = v2_root(tmp_path / "extra")
    monkeypatch.setenv("VANPHONG_EXTRA_SCHEMAS_DIR", str(extra))
    settings = Settings()
    assert settings.extra_schema_dirs == (extra,)
    assert settings.known_schemas().current(TASK).version == 2
    assert settings.known_schemas() is Settings().known_schemas()  # built once
    assert Settings(extra_schemas_dir="").known_schemas().current(TASK).version == 1
    monkeypatch.setenv("VANPHONG_EXTRA_SCHEMAS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match=r"VANPHONG_EXTRA_SCHEMAS_DIR: .*missing"):
        Settings()


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_settings_registry_is_handed_to_readers_and_nothing_process_wide_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    extra = v2_root(tmp_path / "extra")
    message = load_known_schemas((extra,)).encode(TASK, v2_task())
    monkeypatch.setenv("VANPHONG_EXTRA_SCHEMAS_DIR", str(extra))
    settings = get_settings()  # what every command (the worker's too) calls first
    # the worker's path, handed the settings' registry, reads v2 ...
    item = prepare(AT, None, message, TASK, settings.known_schemas())
    assert isinstance(item.outcome, Accepted), item.outcome
    assert item.outcome.record["signed_on"] == date(2024, 3, 6)
    # ... while the codec's own functions still read the shipped schemas only: no global swapped
    with pytest.raises(codec.UnknownSchemaError):
        codec.decode(message)
    assert codec.current_schema(TASK).version == 1
    assert codec.shipped_schemas() is not settings.known_schemas()


def test_a_bad_extra_schema_fails_when_the_settings_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    bad = tmp_path / "bad" / "v2"
    bad.mkdir(parents=True)
    (bad / "TaskAssigned.avsc").write_text("{ not json", encoding="utf-8")
    monkeypatch.setenv("VANPHONG_EXTRA_SCHEMAS_DIR", str(tmp_path / "bad"))
    with pytest.raises(ValueError):  # json.JSONDecodeError, at start rather than mid-stream
        get_settings()


def test_importing_the_codec_and_its_users_builds_no_registry() -> None:
    code = (
        "import vanphong.schemas.codec, vanphong.schemas.json_input, vanphong.core.rules, "
        "vanphong.publish, vanphong.sinks.records, vanphong.ground.settings\n"
        "from vanphong.schemas.known import load_known_schemas\n"
        "assert load_known_schemas.cache_info().currsize == 0, load_known_schemas.cache_info()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_the_schemas_package_imports_nothing_of_ours() -> None:
    ours = {"vanphong", "streams", "sinks", "deploy", "tests", "bench"}
    for path in sorted((ROOT / "schemas").glob("*.py")):
        # its own modules, by their installed name, are the one exception
        def foreign(name: str) -> bool:
            return not name.startswith("vanphong.schemas") and name.split(".")[0] in ours

        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if foreign(n)], f"{path.name}: {names}"


# -- event types are the EventType enum; PostgreSQL keeps the strings -----------------------------


def test_an_event_type_is_its_type_string_for_every_purpose_that_stores_it() -> None:
    for et in EVENT_TYPES:
        assert et == et.type and hash(et) == hash(et.type) and EventType(et.type) is et
        assert orjson.dumps(et) == orjson.dumps(et.type)
    assert EntityRef(TASK, "t1") == EntityRef("task.assigned", "t1")  # type: ignore[arg-type]
    entity = Entity(EntityRef(TASK, "t1"), 1, False, "e", {"a": 1})
    assert json.loads(entities_to_json([entity]))[0][0] == "task.assigned"


def test_an_entity_loaded_with_its_stored_type_string_is_the_one_the_fold_looks_up() -> None:
    zone = Settings().zone
    assigned = event(TASK, due_date=date(2024, 6, 30))
    ref = EntityRef("task.assigned", "t1")  # type: ignore[arg-type]  # as the sink loads it
    fold = Fold(zone, {ref: Entity(ref, 1, False, assigned["event_id"], assigned)})
    assert fold.apply(EventType.TASK_COMPLETED, event(EventType.TASK_COMPLETED), "t1")
    assert {c[2] for c in fold.entities[ref].contributions} == {
        "tasks_assigned",
        "tasks_completed_on_time",
    }
