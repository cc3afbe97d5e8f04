"""The report builder's pure parts: periods, the summary paragraph, the unit's history and
attribution along mergers, the page's URL selection, the tables and their CSV/XLSX files, and
the vendored chart library. No broker, no database."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vanphong.core.semantics import METRICS
from vanphong.reporting import periods
from vanphong.reporting.exports import csv_bytes, csv_text, xlsx_bytes
from vanphong.reporting.jsonview import report_json
from vanphong.reporting.model import (
    Breakdown,
    Merge,
    MonthRow,
    Report,
    Tasks,
    Unit,
    attributed_to,
    consolidated_members,
    history,
)
from vanphong.reporting.page.selection import BadRequest, parse
from vanphong.reporting.periods import Period, PeriodError
from vanphong.reporting.summary import number, paragraph, percent_change
from vanphong.reporting.tables import TABLE_KEYS, metrics_table, tables

TODAY = date(2026, 11, 29)
STATIC = Path(__file__).parents[1] / "vanphong" / "reporting" / "page" / "static"

ARTICLE = {  # Văn phòng Tỉnh ủy Vĩnh Long, 01/01/2019–30/09/2024 (the demo's own figures)
    "documents_issued": 40572,
    "documents_appraised": 18942,
    "meetings_held": 971,
    "meeting_attendees": 124579,
    "receptions_held": 276,
    "citizens_received": 1854,
    "petitions_received": 889,
    "awards_granted": 66,
    "awards_received": 6,
    "tasks_assigned": 57,
    "tasks_completed_on_time": 35,
    "tasks_completed_late": 12,
}


# ---------------------------------------------------------------------------------- periods


def test_a_year_is_its_first_to_its_last_day() -> None:
    assert periods.year("2024") == Period("year", date(2024, 1, 1), date(2024, 12, 31))


def test_a_term_is_whole_years_and_accepts_an_en_dash() -> None:
    assert periods.term("2020-2025") == Period("term", date(2020, 1, 1), date(2025, 12, 31))
    assert periods.term("2020 – 2025") == periods.term("2020-2025")


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"year_text": "24"}, "malformed_year", "year"),
        ({"year_text": "abcd"}, "malformed_year", "year"),
        ({"term_text": "2020"}, "malformed_term", "term"),
        ({"term_text": "2025-2020"}, "reversed_range", "term"),
        ({"from_text": "2024-13-01", "to_text": "2024-12-31"}, "malformed_date", "from"),
        ({"from_text": "2024-01-01", "to_text": "31/12/2024"}, "malformed_date", "to"),
        ({"from_text": "20240101", "to_text": "2024-12-31"}, "malformed_date", "from"),
        ({"from_text": "2024-12-31", "to_text": "2024-01-01"}, "reversed_range", "from"),
        ({"from_text": "2024-01-01"}, "malformed_date", "to"),
        ({"year_text": "2024", "term_text": "2020-2025"}, "ambiguous_period", "year"),
        ({}, "missing_period", "year"),
    ],
)
def test_a_bad_period_is_refused_naming_its_field(
    kwargs: dict[str, str], code: str, field: str
) -> None:
    with pytest.raises(PeriodError) as caught:
        periods.choose(**kwargs)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == (code, field)


def test_no_period_is_the_default_year_when_there_is_one() -> None:
    assert periods.choose(default_year=2026) == periods.year("2026")


def test_a_year_earlier_keeps_the_days_and_moves_29_february_to_the_28th() -> None:
    leap = periods.days("2024-02-29", "2024-02-29").year_earlier()
    assert (leap.start, leap.end) == (date(2023, 2, 28), date(2023, 2, 28))
    term = periods.term("2020-2025").year_earlier()
    assert (term.start, term.end) == (date(2019, 1, 1), date(2024, 12, 31))


@given(st.dates(date(1902, 1, 1), date(9998, 12, 31)), st.integers(0, 2000))
def test_a_range_a_year_earlier_is_never_reversed_and_a_year_back(start: date, days: int) -> None:
    end = date.fromordinal(min(start.toordinal() + days, date(9998, 12, 31).toordinal()))
    before = Period("range", start, end).year_earlier()
    assert before.start <= before.end
    assert before.start.year == start.year - 1 and before.end.year == end.year - 1


def test_a_period_longer_than_a_year_is_compared_with_the_one_as_long_just_before() -> None:
    article = periods.days("2019-01-01", "2024-09-30")  # 69 whole months
    assert article.comparison_kind == "preceding"
    before = article.comparison()
    assert (before.start, before.end) == (date(2013, 4, 1), date(2018, 12, 31))
    term = periods.term("2020-2025").comparison()
    assert (term.start, term.end) == (date(2014, 1, 1), date(2019, 12, 31))
    odd = periods.days("2023-03-15", "2024-03-15").comparison()  # 367 days
    assert (odd.start, odd.end) == (date(2022, 3, 13), date(2023, 3, 14))
    for year_or_less in (periods.year("2024"), periods.days("2023-03-15", "2024-03-14")):
        assert year_or_less.comparison_kind == "year_earlier"
        assert year_or_less.comparison() == year_or_less.year_earlier()


@given(st.dates(date(1902, 1, 1), date(9998, 12, 31)), st.integers(0, 4000))
def test_what_a_period_is_compared_with_never_overlaps_a_long_one(start: date, days: int) -> None:
    end = date.fromordinal(min(start.toordinal() + days, date(9998, 12, 31).toordinal()))
    period = Period("range", start, end)
    before = period.comparison()
    assert before.start <= before.end
    if period.comparison_kind == "year_earlier":
        assert before == period.year_earlier()
        return
    assert date.fromordinal(before.end.toordinal() + 1) == start  # just before, no overlap
    length = end.toordinal() - start.toordinal()
    if not period.whole_months:
        assert before.end.toordinal() - before.start.toordinal() == length
    else:
        assert before.whole_months


def test_whole_months_are_the_periods_the_monthly_views_cover_exactly() -> None:
    assert periods.year("2024").whole_months
    assert periods.days("2024-02-01", "2024-02-29").whole_months
    assert not periods.days("2019-01-01", "2024-09-29").whole_months
    assert not periods.days("2019-01-02", "2024-09-30").whole_months


# ---------------------------------------------------------------------------------- summary


def test_numbers_are_grouped_with_dots_in_vietnamese_and_commas_in_english() -> None:
    assert [number(n) for n in (0, 971, 40572, 1234567)] == ["0", "971", "40.572", "1.234.567"]
    assert number(40572, "en") == "40,572"


def test_the_paragraph_reads_like_the_articles() -> None:
    text = paragraph("Văn phòng Tỉnh ủy", periods.days("2019-01-01", "2024-09-30"), ARTICLE, None)
    assert text.startswith(
        "Từ ngày 01/01/2019 đến ngày 30/09/2024, Văn phòng Tỉnh ủy đã tham mưu ban hành"
        " 40.572 văn bản (thẩm định 18.942 văn bản), phục vụ 971 cuộc hội nghị, cuộc họp"
        " với 124.579 lượt đại biểu; "
    )
    assert "tiếp 1.854 lượt công dân" in text and "tiếp nhận 889 đơn thư" in text
    assert "trao 66 và được nhận 6 hình thức khen thưởng" in text
    assert "được giao 57 nhiệm vụ, hoàn thành đúng hạn 35, trễ hạn 12." in text
    assert "So với cùng kỳ" not in text  # nothing to compare with


def test_a_year_opens_with_the_year_and_compares_with_the_year_before() -> None:
    before = {**ARTICLE, "documents_issued": 40000, "meetings_held": 1000}
    text = paragraph("Văn phòng Tỉnh ủy", periods.year("2024"), ARTICLE, before)
    assert text.startswith("Năm 2024, Văn phòng Tỉnh ủy đã tham mưu ban hành 40.572 văn bản")
    assert text.endswith("So với cùng kỳ năm trước, số văn bản tăng 1,4%, số cuộc họp giảm 2,9%.")


def test_clauses_without_figures_are_left_out_and_an_empty_period_says_so() -> None:
    only = dict.fromkeys(METRICS, 0) | {"meetings_held": 3}
    text = paragraph("Ban Tổ chức Tỉnh ủy", periods.year("2024"), only)
    assert text == "Năm 2024, Ban Tổ chức Tỉnh ủy đã phục vụ 3 cuộc hội nghị, cuộc họp."
    empty = paragraph("Ban Tổ chức Tỉnh ủy", periods.year("2024"), dict.fromkeys(METRICS, 0))
    assert empty == "Năm 2024, Ban Tổ chức Tỉnh ủy chưa có số liệu hoạt động được ghi nhận."


def test_consolidated_says_that_predecessors_are_included_and_english_reads_naturally() -> None:
    text = paragraph("Tỉnh ủy", periods.term("2020-2025"), ARTICLE, None, consolidated=True)
    assert text.startswith("Từ ngày 01/01/2020 đến ngày 31/12/2025, Tỉnh ủy (tính cả các đơn vị")
    english = paragraph("Provincial office", periods.year("2024"), ARTICLE, ARTICLE, lang="en")
    assert english.startswith(
        "In 2024, Provincial office advised on the issue of 40,572 documents (appraising 18,942)"
    )
    assert english.endswith(
        "Compared with a year earlier: documents unchanged, meetings unchanged."
    )


def test_a_change_needs_something_to_compare_with() -> None:
    assert percent_change(5, 0) is None
    assert percent_change(105, 100) == "tăng 5,0%"
    assert percent_change(95, 100, "en") == "down 5.0%"
    assert percent_change(1100, 10) == "tăng 10.900,0%"


# ------------------------------------------------------------------------- history, mergers

MERGES = [
    Merge("2019-vp-ban", "vptu", "vp-btctu", date(2019, 1, 1), ("18-NQ/TW", "86-KH/TU")),
    Merge("2019-vp-ban", "vptu", "vp-btgtu", date(2019, 1, 1), ("18-NQ/TW", "86-KH/TU")),
    Merge("x", "vp-btctu", "old", date(2015, 5, 1), ("1-QĐ/TU",)),
    Merge("2025", "tu", "vptu", date(2025, 7, 1), ("60-NQ/TW",)),
]


def test_the_history_lists_predecessors_through_chains_and_the_successor() -> None:
    steps = history("vptu", MERGES)
    assert [(s.relation, s.merge.absorbed, s.merge.into, s.depth) for s in steps] == [
        ("predecessor", "vp-btctu", "vptu", 1),
        ("predecessor", "vp-btgtu", "vptu", 1),
        ("predecessor", "old", "vp-btctu", 2),
        ("successor", "vptu", "tu", 1),
    ]
    assert steps[0].merge.legal_basis == ("18-NQ/TW", "86-KH/TU")
    assert history("hu-longho", MERGES) == []


def test_attribution_follows_the_chain_as_of_the_day() -> None:
    assert attributed_to("old", date(2014, 1, 1), MERGES) == "old"
    assert attributed_to("old", date(2016, 1, 1), MERGES) == "vp-btctu"
    assert attributed_to("old", date(2020, 1, 1), MERGES) == "vptu"
    assert attributed_to("old", date(2025, 7, 1), MERGES) == "tu"


def test_the_consolidated_basis_gathers_the_units_whose_chain_ends_at_the_unit() -> None:
    finals = {"tu": "tu", "vptu": "tu", "vp-btctu": "tu", "bnctu": "bnctu"}
    assert consolidated_members("tu", finals) == ["tu", "vp-btctu", "vptu"]
    assert consolidated_members("vptu", finals) == []


# -------------------------------------------------------------------------- the page's URL


def test_the_url_is_the_whole_selection_and_round_trips() -> None:
    for query in (
        {"unit": "vptu", "year": "2024", "basis": "attributed", "lang": "vi"},
        {"unit": "tu", "term": "2020-2025", "basis": "consolidated", "lang": "en"},
        {
            "unit": "vptu",
            "from": "2019-01-01",
            "to": "2024-09-30",
            "basis": "attributed",
            "lang": "vi",
        },
    ):
        assert parse(query, TODAY).query() == query


def test_a_url_without_a_period_is_this_year_in_vietnamese() -> None:
    selection = parse({"unit": "vptu"}, TODAY)
    assert (selection.period, selection.basis, selection.lang) == (
        periods.year("2026"),
        "attributed",
        "vi",
    )


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ({}, "missing_unit", "Hãy chọn một đơn vị."),
        (
            {"unit": "vptu", "from": "2024-13-01", "to": "2024-12-31"},
            "malformed_date",
            "“2024-13-01” không phải là ngày hợp lệ (định dạng YYYY-MM-DD).",
        ),
        (
            {"unit": "vptu", "from": "2024-12-31", "to": "2024-01-01", "lang": "en"},
            "reversed_range",
            "The range is reversed: 2024-12-31 → 2024-01-01.",
        ),
        ({"unit": "vptu", "basis": "x"}, "bad_basis", "“x” không phải là cách tính"),
        (
            {"unit": "vptu", "year": "2024", "term": "2020-2025"},
            "ambiguous_period",
            "Chỉ chọn một kỳ báo cáo",
        ),
    ],
)
def test_bad_input_gets_a_400_with_a_message_in_the_pages_language(
    query: dict[str, str], code: str, message: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(query, TODAY)
    assert caught.value.status == 400 and caught.value.code == code
    assert caught.value.message.startswith(message)


# ----------------------------------------------------------------------- tables and files


def sample_report() -> Report:
    before = {m: v - 10 for m, v in ARTICLE.items()}
    return Report(
        Unit("vptu", "Văn phòng Tỉnh ủy", "OFFICE", "Vĩnh Long", "active", "vptu"),
        periods.days("2019-01-01", "2024-09-30"),
        "attributed",
        dict(ARTICLE),
        before,
        monthly=[MonthRow(date(2019, 1, 1), dict(ARTICLE))],
        by_type=[Breakdown("CONG_VAN", 12223), Breakdown("NGHI_QUYET", 873)],
        by_kind=[Breakdown("GIAO_BAN", 275, 4000)],
        tasks=Tasks(35, 12, 9),
        history=history("vptu", MERGES),
        names={"vptu": "Văn phòng Tỉnh ủy", "tu": "Tỉnh ủy Vĩnh Long"},
    )


def test_the_metrics_csv_has_vietnamese_headers_a_bom_and_plain_integers() -> None:
    report = sample_report()
    data = csv_bytes(metrics_table(report))
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [
        "Mã chỉ tiêu",
        "Chỉ tiêu",
        "Kỳ này (01/01/2019–30/09/2024)",
        "Kỳ liền trước cùng độ dài (01/04/2013–31/12/2018)",  # longer than a year
        "Chênh lệch",
    ]
    assert rows[1] == ["documents_issued", "Văn bản ban hành", "40572", "40562", "10"]
    assert len(rows) == 1 + len(METRICS)
    assert csv_text(metrics_table(report, "en"), "en").startswith("Metric,Name,This period")


def test_the_workbook_has_a_sheet_per_table_with_numbers_and_real_dates() -> None:
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(sample_report())))
    assert book.sheetnames == [
        "Chỉ tiêu",
        "Theo tháng",
        "Văn bản theo loại",
        "Hội họp theo loại",
        "Nhiệm vụ",
        "Lịch sử đơn vị",
        "Tóm tắt",
    ]
    metrics = book["Chỉ tiêu"]
    assert metrics["A2"].value == "documents_issued" and metrics["C2"].value == 40572
    assert metrics["C2"].number_format == "#,##0"
    monthly = book["Theo tháng"]
    assert monthly["A1"].value == "Tháng" and monthly["A2"].value == datetime(2019, 1, 1)
    assert monthly["A2"].is_date and monthly["A2"].number_format == "mm/yyyy"
    past = book["Lịch sử đơn vị"]
    assert past["F1"].value == "Ngày hiệu lực" and past["F2"].value == datetime(2019, 1, 1)
    assert past["F2"].number_format == "dd/mm/yyyy" and past["G2"].value == "18-NQ/TW, 86-KH/TU"
    assert book["Tóm tắt"]["A1"].value.startswith("Từ ngày 01/01/2019 đến ngày 30/09/2024,")


def test_every_table_can_be_named_in_a_url_and_has_as_many_cells_as_columns() -> None:
    built = tables(sample_report(), "en")
    assert tuple(t.key for t in built) == TABLE_KEYS
    for table in built:
        assert all(len(row) == len(table.columns) for row in table.rows), table.key
        assert len(table.vi) <= 31  # Excel's limit for a sheet's name


def test_the_json_keeps_the_old_report_keys_and_adds_the_rest() -> None:
    body = report_json(sample_report(), "vi")
    assert {"unit_id", "unit_name", "from", "to", "consolidated", "metrics"} <= set(body)
    assert body["metrics"] == ARTICLE and body["previous"]["documents_issued"] == 40562
    assert body["tasks"] == {"on_time": 35, "late": 12, "overdue": 9}
    assert body["documents_by_type"][0] == {
        "doc_type": "CONG_VAN",
        "label": "Công văn",
        "documents_issued": 12223,
    }
    assert body["history"][-1]["into_name"] == "Tỉnh ủy Vĩnh Long"


# ------------------------------------------------------------------------ vendored ECharts


def test_the_vendored_echarts_is_the_one_vendored_md_names() -> None:
    folder = STATIC / "echarts"
    notes = (folder / "VENDORED.md").read_text()
    expected = re.search(r"file sha512 \(hex\) \| `([0-9a-f]{128})`", notes)
    assert expected is not None
    digest = hashlib.sha512((folder / "echarts.min.js").read_bytes()).hexdigest()
    assert digest == expected[1]
    assert "version **5.6.0**" in notes and (folder / "LICENSE").is_file()


def test_a_monthly_table_has_every_month_the_period_touches() -> None:
    from vanphong.reporting.model import months_of

    months = months_of(periods.days("2023-11-15", "2024-02-10"), [])
    assert months == [date(2023, 11, 1), date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1)]
    assert len(months_of(periods.term("2020-2025"), [])) == 72
    assert months_of(periods.term("1901-9998"), [date(2024, 5, 1)]) == [date(2024, 5, 1)]


def test_database_problems_are_one_line_naming_the_setting_and_bugs_stay_bugs() -> None:
    import asyncpg

    from vanphong.ground.settings import Settings
    from vanphong.reporting.database import connection_problem, reporting_url

    settings = Settings(
        database_url="postgresql://vanphong:secret@db.example:5433/office",
        reporting_database_url="",
    )
    url, variable = reporting_url(settings)
    assert url == "postgresql://vanphong_reporting:vanphong_reporting@db.example:5433/office"
    assert variable == "VANPHONG_DATABASE_URL"
    own = Settings(reporting_database_url="postgresql://r:pw@h/d")
    assert reporting_url(own) == ("postgresql://r:pw@h/d", "VANPHONG_REPORTING_DATABASE_URL")
    cases = [
        (asyncpg.UndefinedTableError('relation "reporting.units" does not exist'), "vanphong init"),
        (ConnectionRefusedError(111, "Connect call failed"), "connection refused"),
        (asyncpg.InvalidCatalogNameError('database "x" does not exist'), "database name"),
    ]
    for exc, says in cases:
        problem = connection_problem(exc, url, variable)
        assert problem is not None and len(str(problem).splitlines()) == 1
        assert says in str(problem) and variable in str(problem)
        assert "secret" not in str(problem) and ":***@" in str(problem)
    assert connection_problem(ValueError("our bug"), url, variable) is None
    assert connection_problem(asyncpg.UndefinedColumnError("x"), url, variable) is None
