"""The peer: the same per-unit, per-day aggregation into PostgreSQL written with Quix Streams.

Written the way Quix's documentation shows a stateful pipeline: an ``Application`` with
``processing_guarantee="exactly-once"`` (the setting that keeps state, intermediate topics and
offsets consistent, the closest Quix gets to vanphong's guarantee), one ``StreamingDataFrame``
per input topic with a custom ``Deserializer`` for our Avro single-object values, stateful
``apply`` steps, an intermediate topic, and Quix's own ``PostgreSQLSink`` in upsert mode.

Stage 1, per entity (the input topics are keyed by entity): state holds the entity's highest
revision and what it contributes now, so a retry or stale correction changes nothing and a
correction emits the difference. The two task topics are concatenated (both keyed by task id,
6 partitions) so a task's state sees its assignment and its completion. Stage 1 emits per-unit,
per-day *deltas* to an intermediate topic keyed ``unit|day``.

Stage 2, per ``unit|day``: state holds the 12 running totals; every delta yields the new totals
row, which ``PostgreSQLSink`` upserts on ``(unit_id, day)`` at each checkpoint (rows of a batch
are de-duplicated by key, the latest wins). The table therefore holds absolute totals, by
*recorded* unit: the peer does not attribute through mergers (vanphong does that in SQL views),
and it does not validate §4 rules or dead-letter anything; it trusts the input.

Unit registrations and mergers are consumed and dropped: they contribute no figure.

Run with the peer's own interpreter (``bench/.venv-peer``, see requirements-peer.txt) and the
repository on ``PYTHONPATH`` (for ``vanphong.schemas.codec``):
``python -m bench.systems.peer BOOTSTRAP PREFIX GROUP DATABASE_URL TIMEZONE STATE_DIR``.
It runs until SIGTERM; the harness decides when it is done by reading PostgreSQL.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from quixstreams import Application, State
from quixstreams.models import TopicConfig
from quixstreams.models.serializers import Deserializer, SerializationContext
from quixstreams.sinks.community.postgresql import PostgreSQLSink

from vanphong.core.semantics import METRICS  # the names only; the peer folds on its own
from vanphong.schemas.catalog import BY_TYPE
from vanphong.schemas.codec import decode

# "unit|day" -> metric -> amount: what an entity contributes now (JSON-friendly for the state).
Cells = dict[str, dict[str, int]]


class AvroSingleObject(Deserializer):
    """Our wire format (CONTRACT.md §3), decoded with the product's codec."""

    def __call__(self, value: bytes, ctx: SerializationContext) -> dict[str, Any]:
        decoded = decode(value)
        record = decoded.record
        record["type"] = decoded.event_type.type
        return record


def _day(record: dict[str, Any], zone: ZoneInfo) -> str:
    return record["occurred_at"].astimezone(zone).date().isoformat()


def _add(cells: Cells, unit: str, day: str, metric: str, amount: int) -> None:
    if amount:
        cell = cells.setdefault(f"{unit}|{day}", {})
        cell[metric] = cell.get(metric, 0) + amount


def entity_cells(record: dict[str, Any], zone: ZoneInfo) -> Cells:
    """What a current, non-voided document, meeting, reception or award contributes."""
    cells: Cells = {}
    day, kind = _day(record, zone), record["type"]
    if kind == "document.issued":
        _add(cells, record["unit_id"], day, "documents_issued", 1)
        _add(cells, record["unit_id"], day, "documents_appraised", int(record["appraised"]))
    elif kind == "meeting.held":
        _add(cells, record["unit_id"], day, "meetings_held", 1)
        _add(cells, record["unit_id"], day, "meeting_attendees", record["attendees"])
    elif kind == "citizens.received":
        _add(cells, record["unit_id"], day, "receptions_held", 1)
        _add(cells, record["unit_id"], day, "citizens_received", record["citizens"])
        _add(cells, record["unit_id"], day, "petitions_received", record["petitions"])
    elif kind == "award.granted":
        _add(cells, record["recipient_unit_id"], day, "awards_received", 1)
        if record.get("granted_by_unit_id"):
            _add(cells, record["granted_by_unit_id"], day, "awards_granted", 1)
    return cells


def task_cells(assigned: dict[str, Any] | None, completed: dict[str, Any] | None) -> Cells:
    """A task's contributions from its stored (already JSON-friendly) halves."""
    cells: Cells = {}
    if assigned is None:
        return cells
    _add(cells, assigned["unit_id"], assigned["day"], "tasks_assigned", 1)
    if completed is not None:
        late = completed["day"] > assigned["due"]  # ISO dates compare as strings
        metric = "tasks_completed_late" if late else "tasks_completed_on_time"
        _add(cells, assigned["unit_id"], completed["day"], metric, 1)
    return cells


def deltas(old: Cells, new: Cells) -> list[dict[str, Any]]:
    """Per ``unit|day``, what changed: one message each for the intermediate topic."""
    out = []
    for key in old.keys() | new.keys():
        before, after = old.get(key, {}), new.get(key, {})
        change = {m: after.get(m, 0) - before.get(m, 0) for m in before.keys() | after.keys()}
        change = {m: d for m, d in change.items() if d}
        if change:
            unit, day = key.split("|", 1)
            out.append({"unit_id": unit, "day": day, "deltas": change})
    return out


def make_revise(zone: ZoneInfo) -> Any:
    def revise(record: dict[str, Any], state: State) -> list[dict[str, Any]]:
        """Stage 1 for standalone entities: only a higher revision changes anything."""
        if record["revision"] <= state.get("revision", 0):
            return []
        new = {} if record["voided"] else entity_cells(record, zone)
        old = state.get("cells", {})
        state.set("revision", record["revision"])
        state.set("cells", new)
        return deltas(old, new)

    return revise


def make_revise_task(zone: ZoneInfo) -> Any:
    def revise_task(record: dict[str, Any], state: State) -> list[dict[str, Any]]:
        """Stage 1 for tasks: both halves in one state, contributions recomputed from both."""
        half = "assigned" if record["type"] == "task.assigned" else "completed"
        if record["revision"] <= state.get(f"{half}_revision", 0):
            return []
        state.set(f"{half}_revision", record["revision"])
        if record["voided"]:
            state.delete(half)
        elif half == "assigned":
            due = record["due_date"].isoformat()
            state.set(half, {"unit_id": record["unit_id"], "day": _day(record, zone), "due": due})
        else:
            state.set(half, {"day": _day(record, zone)})
        new = task_cells(state.get("assigned"), state.get("completed"))
        old = state.get("cells", {})
        state.set("cells", new)
        return deltas(old, new)

    return revise_task


def accumulate(delta: dict[str, Any], state: State) -> dict[str, Any]:
    """Stage 2, per unit and day: running totals, emitted as the row to upsert."""
    totals = state.get("totals") or dict.fromkeys(METRICS, 0)
    for metric, amount in delta["deltas"].items():
        totals[metric] += amount
    state.set("totals", totals)
    return {"unit_id": delta["unit_id"], "day": delta["day"], **totals}


def build(
    bootstrap: str, prefix: str, group: str, database_url: str, timezone: str, state_dir: str
) -> Application:
    zone = ZoneInfo(timezone)
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee=os.environ.get("BENCH_PEER_GUARANTEE", "exactly-once"),
        commit_interval=float(os.environ.get("BENCH_PEER_COMMIT_S", "1.0")),
        state_dir=state_dir,
        loglevel=os.environ.get("BENCH_PEER_LOGLEVEL", "INFO"),
        consumer_extra_config=json.loads(os.environ.get("BENCH_PEER_CONSUMER", "{}")),
    )
    avro = AvroSingleObject()

    def source(event_type: str) -> Any:
        topic = app.topic(f"{prefix}.{BY_TYPE[event_type].topic}", value_deserializer=avro)
        return app.dataframe(topic)

    deltas_topic = app.topic(
        f"{group}-deltas",
        key_serializer="str",
        key_deserializer="str",
        config=TopicConfig(num_partitions=6, replication_factor=1),
    )

    def to_deltas(sdf: Any) -> None:
        sdf.to_topic(deltas_topic, key=lambda d: f"{d['unit_id']}|{d['day']}")

    revise = make_revise(zone)
    for event_type in ("document.issued", "meeting.held", "citizens.received", "award.granted"):
        to_deltas(source(event_type).apply(revise, stateful=True, expand=True))
    tasks = source("task.assigned").concat(source("task.completed"))
    to_deltas(tasks.apply(make_revise_task(zone), stateful=True, expand=True))
    for event_type in ("unit.registered", "office.merged"):
        source(event_type).filter(lambda _record: False)  # consumed; no figure

    url = urlsplit(database_url)
    sink = PostgreSQLSink(
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        dbname=url.path.lstrip("/"),
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        table_name="unit_activity_daily",
        schema_name="peer",
        primary_key_columns=["unit_id", "day"],
        upsert_on_primary_key=True,
        include_metadata=False,
    )
    totals = app.dataframe(deltas_topic).apply(accumulate, stateful=True)
    totals.sink(sink)
    return app


def main() -> None:
    bootstrap, prefix, group, database_url, timezone, state_dir = sys.argv[1:7]
    build(bootstrap, prefix, group, database_url, timezone, state_dir).run()


if __name__ == "__main__":
    main()
