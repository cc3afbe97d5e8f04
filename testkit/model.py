"""A reference model of CONTRACT.md §5, written independently of the production code.

It reads events in the ``vanphong publish`` JSON form, in the order the worker will consume them
within a partition, and says what every reporting view must contain. It shares no code with
``vanphong``: if both are wrong the same way, it is because the contract was misread twice.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

KEYS = {
    "unit.registered": "unit_id",
    "document.issued": "document_id",
    "meeting.held": "meeting_id",
    "office.merged": "merge_id",
    "award.granted": "award_id",
    "citizens.received": "reception_id",
    "task.assigned": "task_id",
    "task.completed": "task_id",
}
METRICS = [
    "documents_issued",
    "documents_appraised",
    "meetings_held",
    "meeting_attendees",
    "receptions_held",
    "citizens_received",
    "petitions_received",
    "awards_granted",
    "awards_received",
    "tasks_assigned",
    "tasks_completed_on_time",
    "tasks_completed_late",
]

Daily = dict[tuple[str, date], dict[str, int]]


class Model:
    def __init__(self, zone: str = "Asia/Ho_Chi_Minh", today: date | None = None) -> None:
        self.zone = ZoneInfo(zone)
        self.today = today or datetime.now(self.zone).date()
        self.current: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_type: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.rejected_merges: list[tuple[dict[str, Any], str]] = []

    def day(self, event: dict[str, Any]) -> date:
        ts = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
        return ts.astimezone(self.zone).date()

    def consume(self, event: dict[str, Any]) -> str:
        """'applied', 'unchanged' or 'rejected' (mergers only: others are valid by design)."""
        event = {
            k: unicodedata.normalize("NFC", v) if isinstance(v, str) else v
            for k, v in event.items()
        }  # §4: text is NFC on the way in
        key = (event["type"], event[KEYS[event["type"]]])
        old = self.current.get(key)
        if old is not None and event.get("revision", 1) <= old.get("revision", 1):
            return "unchanged"
        if event["type"] == "office.merged" and not event.get("voided"):
            reason = self._merge_breaks(event)
            if reason is not None:
                self.rejected_merges.append((event, reason))
                return "rejected"
        self.current[key] = event
        self.by_type[key[0]][key[1]] = event
        return "applied"

    def _live(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.by_type[event_type].values() if not e.get("voided")]

    def _merge_breaks(self, merge: dict[str, Any]) -> str | None:
        others = [m for m in self._live("office.merged") if m["merge_id"] != merge["merge_id"]]
        into = {u: m["into_unit_id"] for m in others for u in m["absorbed_unit_ids"]}
        if any(u in into for u in merge["absorbed_unit_ids"]):
            return "unit_already_merged"
        seen, unit = set(), merge["into_unit_id"]
        while unit in into and unit not in seen:
            seen.add(unit)
            unit = into[unit]
            if unit in merge["absorbed_unit_ids"]:
                return "merge_cycle"
        return None

    # --- attribution -------------------------------------------------------------------------

    def _edge(self, unit: str) -> tuple[str, date] | None:
        edges = {
            u: (m["into_unit_id"], date.fromisoformat(m["effective_date"]))
            for m in self._live("office.merged")
            for u in m["absorbed_unit_ids"]
        }
        return edges.get(unit)

    def attributed(self, unit: str, day: date) -> str:
        for _ in range(100):
            edge = self._edge(unit)
            if edge is None or edge[1] > day:
                return unit
            unit = edge[0]
        raise AssertionError("cycle")

    def final(self, unit: str) -> str:
        return self.attributed(unit, self.today)

    # --- raw contributions -------------------------------------------------------------------

    def contributions(self) -> list[tuple[str, date, str, str, int]]:
        """(recorded unit, day, metric, dimension, amount) of every live entity."""
        out: list[tuple[str, date, str, str, int]] = []
        for d in self._live("document.issued"):
            out.append((d["unit_id"], self.day(d), "documents_issued", d["doc_type"], 1))
            if d["appraised"]:
                out.append((d["unit_id"], self.day(d), "documents_appraised", d["doc_type"], 1))
        for m in self._live("meeting.held"):
            out.append((m["unit_id"], self.day(m), "meetings_held", m["kind"], 1))
            out.append((m["unit_id"], self.day(m), "meeting_attendees", m["kind"], m["attendees"]))
        for r in self._live("citizens.received"):
            out.append((r["unit_id"], self.day(r), "receptions_held", "", 1))
            out.append((r["unit_id"], self.day(r), "citizens_received", "", r["citizens"]))
            out.append((r["unit_id"], self.day(r), "petitions_received", "", r["petitions"]))
        for a in self._live("award.granted"):
            out.append((a["recipient_unit_id"], self.day(a), "awards_received", "", 1))
            if a.get("granted_by_unit_id"):
                out.append((a["granted_by_unit_id"], self.day(a), "awards_granted", "", 1))
        done = {c["task_id"]: c for c in self._live("task.completed")}
        for t in self._live("task.assigned"):
            out.append((t["unit_id"], self.day(t), "tasks_assigned", "", 1))
            c = done.get(t["task_id"])
            if c is not None:
                on_time = self.day(c) <= date.fromisoformat(t["due_date"])
                metric = "tasks_completed_on_time" if on_time else "tasks_completed_late"
                out.append((t["unit_id"], self.day(c), metric, "", 1))
        return out

    # --- views ---------------------------------------------------------------------------------

    def daily(self, consolidated: bool = False) -> Daily:
        cells: Daily = defaultdict(lambda: dict.fromkeys(METRICS, 0))
        for unit, day, metric, _dim, amount in self.contributions():
            owner = self.final(unit) if consolidated else self.attributed(unit, day)
            cells[(owner, day)][metric] += amount
        return {k: v for k, v in cells.items() if any(v.values())}

    def monthly(self, consolidated: bool = False) -> Daily:
        cells: Daily = defaultdict(lambda: dict.fromkeys(METRICS, 0))
        for (unit, day), metrics in self.daily(consolidated).items():
            for metric, n in metrics.items():
                cells[(unit, day.replace(day=1))][metric] += n
        return {k: v for k, v in cells.items() if any(v.values())}

    def documents_by_type(self) -> dict[tuple[str, date, str], int]:
        out: dict[tuple[str, date, str], int] = defaultdict(int)
        for unit, day, metric, dim, n in self.contributions():
            if metric == "documents_issued":
                out[(self.attributed(unit, day), day.replace(day=1), dim)] += n
        return {k: v for k, v in out.items() if v}

    def meetings_by_kind(self) -> dict[tuple[str, date, str], tuple[int, int]]:
        held: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0])
        for unit, day, metric, dim, n in self.contributions():
            if metric in ("meetings_held", "meeting_attendees"):
                cell = held[(self.attributed(unit, day), day.replace(day=1), dim)]
                cell[0 if metric == "meetings_held" else 1] += n
        return {k: (v[0], v[1]) for k, v in held.items() if v[0] or v[1]}

    def units(self) -> dict[str, dict[str, Any]]:
        """reporting.units: registered, active or merged, and where to."""
        registered = {u["unit_id"]: u for u in self._live("unit.registered")}
        known = set(registered) | {c[0] for c in self.contributions()}
        for m in self._live("office.merged"):
            known |= {m["into_unit_id"], *m["absorbed_unit_ids"]}
        out = {}
        for unit in known:
            edge = self._edge(unit)
            out[unit] = {
                "name": registered.get(unit, {}).get("name"),
                "registered": unit in registered,
                "status": "merged" if edge and edge[1] <= self.today else "active",
                "merged_into": edge[0] if edge else None,
                "merged_on": edge[1] if edge else None,
                "final_unit_id": self.final(unit),
            }
        return out

    def merges(self) -> set[tuple[str, str, str, date, tuple[str, ...]]]:
        return {
            (
                m["merge_id"],
                m["into_unit_id"],
                u,
                date.fromisoformat(m["effective_date"]),
                tuple(m["legal_basis"]),
            )
            for m in self._live("office.merged")
            for u in m["absorbed_unit_ids"]
        }

    def tasks(self) -> dict[str, tuple[str, date, date, date | None, str]]:
        done = {c["task_id"]: self.day(c) for c in self._live("task.completed")}
        out = {}
        for t in self._live("task.assigned"):
            due, completed = date.fromisoformat(t["due_date"]), done.get(t["task_id"])
            if completed is not None:
                status = "done_on_time" if completed <= due else "done_late"
            else:
                status = "overdue" if due < self.today else "open"
            out[t["task_id"]] = (t["unit_id"], self.day(t), due, completed, status)
        return out
