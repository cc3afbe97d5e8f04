"""What a request to the reporting page asks for, read from its URL: the unit, the period (a
year, a term, or from–to), the basis and the language. The URL is the whole selection, so a
link shows the same report to whoever opens it. Pure: parsing and the people's messages for
bad input, in the page's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import cast

from vanphong.reporting.labels import LANGS, Lang
from vanphong.reporting.model import Basis, ReportError
from vanphong.reporting.periods import Period, PeriodError, choose
from vanphong.reporting.tables import TABLE_KEYS


@dataclass(frozen=True)
class Selection:
    unit_id: str
    period: Period
    basis: Basis
    lang: Lang

    def query(self) -> dict[str, str]:
        """The URL parameters that select this report again."""
        params = {"unit": self.unit_id, "basis": self.basis, "lang": self.lang}
        if self.period.kind == "year":
            params["year"] = str(self.period.start.year)
        elif self.period.kind == "term":
            params["term"] = self.period.token
        else:
            params["from"] = self.period.start.isoformat()
            params["to"] = self.period.end.isoformat()
        return params


@dataclass(frozen=True)
class BadRequest(Exception):
    """Input the page cannot answer: an HTTP status, a code for programs, a field, the value
    given, and a message in the request's language."""

    status: int
    code: str
    field: str
    value: str
    message: str

    def as_json(self) -> dict[str, object]:
        return {
            "error": {
                "code": self.code,
                "field": self.field,
                "value": self.value,
                "message": self.message,
            }
        }


def language(params: Mapping[str, str]) -> Lang:
    """The page's language: ``vi`` unless ``lang=en`` (an unknown one falls back to ``vi``)."""
    value = params.get("lang", "vi")
    return cast(Lang, value) if value in LANGS else "vi"


_VI: dict[str, str] = {
    "unknown_unit": "Không tìm thấy đơn vị “{value}”: đơn vị này chưa đăng ký và chưa có hoạt"
    " động nào.",
    "missing_unit": "Hãy chọn một đơn vị.",
    "malformed_date": "“{value}” không phải là ngày hợp lệ (định dạng YYYY-MM-DD).",
    "malformed_year": "“{value}” không phải là năm hợp lệ (YYYY, từ 1901 đến 9998).",
    "malformed_term": "“{value}” không phải là nhiệm kỳ hợp lệ (YYYY-YYYY, ví dụ 2020-2025).",
    "reversed_range": "Khoảng thời gian bị đảo ngược: {value}. Ngày bắt đầu phải trước ngày kết"
    " thúc.",
    "ambiguous_period": "Chỉ chọn một kỳ báo cáo: một năm, một nhiệm kỳ, hoặc từ ngày đến ngày.",
    "missing_period": "Hãy chọn kỳ báo cáo: một năm, một nhiệm kỳ, hoặc từ ngày đến ngày.",
    "bad_basis": "“{value}” không phải là cách tính hợp lệ (attributed hoặc consolidated).",
    "bad_table": "“{value}” không phải là bảng hợp lệ.",
    "missing_document": "Hãy chọn một văn bản giao nhiệm vụ.",
}
_EN: dict[str, str] = {
    "unknown_unit": "Unknown unit “{value}”: it is neither registered nor has any activity.",
    "missing_unit": "Choose a unit.",
    "malformed_date": "“{value}” is not a valid date (YYYY-MM-DD).",
    "malformed_year": "“{value}” is not a valid year (YYYY, 1901 to 9998).",
    "malformed_term": "“{value}” is not a valid term (YYYY-YYYY, e.g. 2020-2025).",
    "reversed_range": "The range is reversed: {value}. The first day must come before the last.",
    "ambiguous_period": "Choose one period: a year, a term, or from–to.",
    "missing_period": "Choose a period: a year, a term, or from–to.",
    "bad_basis": "“{value}” is not a basis (attributed or consolidated).",
    "bad_table": "“{value}” is not a table.",
    "missing_document": "Choose a source document.",
}


def bad_request(code: str, field: str, value: str, lang: Lang, status: int = 400) -> BadRequest:
    template = (_VI if lang == "vi" else _EN).get(code, "{value}")
    return BadRequest(status, code, field, value, template.format(value=value))


def from_period_error(exc: PeriodError, params: Mapping[str, str], lang: Lang) -> BadRequest:
    if exc.code == "reversed_range":
        if exc.field == "term":
            value = params.get("term", "")
        else:
            value = f"{params.get('from', '')} → {params.get('to', '')}"
    else:
        value = params.get(exc.field, "")
    return bad_request(exc.code, exc.field, value, lang)


def from_report_error(exc: ReportError, unit_id: str, lang: Lang) -> BadRequest:
    status = 404 if exc.code == "unknown_unit" else 400
    return bad_request(exc.code, exc.field or "unit", unit_id, lang, status)


def parse(params: Mapping[str, str], today: date) -> Selection:
    """The selection a URL names; :class:`BadRequest` says what is wrong with it. No period
    means this year (in the configured time zone: ``today``)."""
    lang = language(params)
    unit_id = params.get("unit", "").strip()
    if not unit_id:
        raise bad_request("missing_unit", "unit", "", lang)
    basis = params.get("basis", "attributed") or "attributed"
    if basis not in ("attributed", "consolidated"):
        raise bad_request("bad_basis", "basis", basis, lang)
    return Selection(unit_id, period_of(params, today), cast(Basis, basis), lang)


def period_of(params: Mapping[str, str], today: date) -> Period:
    """The period a URL names (a year, a term, or from–to; ``today``'s year when none is
    named); :class:`BadRequest` says what is wrong with it."""
    try:
        return choose(
            year_text=params.get("year") or None,
            term_text=params.get("term") or None,
            from_text=params.get("from") or None,
            to_text=params.get("to") or None,
            default_year=today.year,
        )
    except PeriodError as exc:
        raise from_period_error(exc, params, language(params)) from exc


def table_key(params: Mapping[str, str], lang: Lang) -> str:
    key = params.get("table", "metrics")
    if key not in TABLE_KEYS:
        raise bad_request("bad_table", "table", key, lang)
    return key
