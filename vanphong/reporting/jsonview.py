"""A report as JSON: what ``/api/report`` answers and ``vanphong report --format json``
prints. The keys of the old ``report --json`` (unit_id, unit_name, from, to, consolidated,
metrics) stay as they were."""

from __future__ import annotations

from typing import Any

from vanphong.core.semantics import METRICS
from vanphong.reporting.labels import (
    BASES,
    DOC_TYPES,
    MEETING_KINDS,
    METRIC_LABELS,
    TASK_STATES,
    Lang,
    label,
)
from vanphong.reporting.model import Report, Unit
from vanphong.reporting.summary import report_paragraph


def unit_json(unit: Unit) -> dict[str, Any]:
    return {
        "unit_id": unit.unit_id,
        "name": unit.name,
        "kind": unit.kind,
        "province": unit.province,
        "status": unit.status,
        "final_unit_id": unit.final_unit_id,
    }


def report_json(report: Report, lang: Lang = "vi", full: bool = True) -> dict[str, Any]:
    """The report; ``full`` adds the monthly, type, kind, task and history tables."""
    before = report.previous_period
    body: dict[str, Any] = {
        "unit_id": report.unit.unit_id,
        "unit_name": report.unit.name,
        "from": report.period.start.isoformat(),
        "to": report.period.end.isoformat(),
        "consolidated": report.consolidated,
        "metrics": report.metrics,
        "unit": unit_json(report.unit),
        "basis": report.basis,
        "basis_note": label(BASES, report.basis, lang),
        "period": {
            "kind": report.period.kind,
            "token": report.period.token,
            "from": report.period.start.isoformat(),
            "to": report.period.end.isoformat(),
        },
        "previous_period": {"from": before.start.isoformat(), "to": before.end.isoformat()},
        "comparison": report.period.comparison_kind,  # year_earlier | preceding
        "previous": report.previous,
        "labels": {m: label(METRIC_LABELS, m, lang) for m in METRICS},
        "language": lang,
        "summary": report_paragraph(report, lang),
    }
    if not full:
        return body
    body.update(
        {
            "whole_months": report.period.whole_months,
            "monthly": [{"month": row.month.isoformat(), **row.metrics} for row in report.monthly],
            "documents_by_type": [
                {
                    "doc_type": b.code,
                    "label": label(DOC_TYPES, b.code, lang),
                    "documents_issued": b.count,
                }
                for b in report.by_type
            ],
            "meetings_by_kind": [
                {
                    "kind": b.code,
                    "label": label(MEETING_KINDS, b.code, lang),
                    "meetings_held": b.count,
                    "meeting_attendees": b.attendees,
                }
                for b in report.by_kind
            ],
            "tasks": report.tasks.as_dict(),
            "task_labels": {k: label(TASK_STATES, k, lang) for k in TASK_STATES},
            "history": [
                {
                    "relation": step.relation,
                    "depth": step.depth,
                    "merge_id": step.merge.merge_id,
                    "absorbed_unit_id": step.merge.absorbed,
                    "absorbed_name": report.names.get(step.merge.absorbed),
                    "into_unit_id": step.merge.into,
                    "into_name": report.names.get(step.merge.into),
                    "effective_date": step.merge.effective.isoformat(),
                    "legal_basis": list(step.merge.legal_basis),
                }
                for step in report.history
            ],
        }
    )
    return body
