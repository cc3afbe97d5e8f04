"""CSV and XLSX files of a report's tables. CSV: one table per file, UTF-8 with a byte-order
mark so that Excel reads the Vietnamese headers, ISO dates. XLSX (XlsxWriter): one sheet per
table, integers as numbers with a thousands format, dates as real dates shown dd/mm/yyyy.
:func:`write` is ``vanphong report --format csv|xlsx``'s: the file, or the CSV text to print."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import xlsxwriter

from vanphong.reporting.labels import Lang
from vanphong.reporting.model import Report, ReportError
from vanphong.reporting.summary import report_paragraph
from vanphong.reporting.tables import Table, cell_text, metrics_table, tables

#: What ``vanphong report --format`` takes.
Format = Literal["table", "json", "csv", "xlsx"]

#: Excel's own codes: shown with the reader's separators (40.572 in a Vietnamese Excel).
INT_FORMAT = "#,##0"
DATE_FORMAT = "dd/mm/yyyy"
MONTH_FORMAT = "mm/yyyy"


def csv_text(table: Table, lang: Lang = "vi") -> str:
    """One table as CSV text (no byte-order mark: :func:`csv_bytes` adds it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.header(lang) for c in table.columns])
    for row in table.rows:
        writer.writerow([cell_text(v) for v in row])
    return buffer.getvalue()


def csv_bytes(table: Table, lang: Lang = "vi") -> bytes:
    return ("\ufeff" + csv_text(table, lang)).encode("utf-8")


def xlsx_bytes(report: Report, lang: Lang = "vi") -> bytes:
    """The workbook: a sheet per table, then one with the summary paragraph."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    _write_tables(book, tables(report, lang), lang)
    sheet = book.add_worksheet("Tóm tắt" if lang == "vi" else "Summary")
    sheet.set_column(0, 0, 120)
    sheet.write_string(
        0,
        0,
        report_paragraph(report, lang),
        book.add_format({"text_wrap": True, "valign": "top"}),
    )
    book.close()
    return buffer.getvalue()


def tables_xlsx_bytes(sheets: list[Table], lang: Lang = "vi") -> bytes:
    """A workbook of ``sheets``, one sheet per table (the task board's downloads)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    _write_tables(book, sheets, lang)
    book.close()
    return buffer.getvalue()


def write(report: Report, fmt: Format, output: Path | None, lang: Lang = "vi") -> str | None:
    """Write a CSV or XLSX ``output`` file; the CSV text to print when there is none."""
    if fmt == "xlsx":
        if output is None:
            raise ReportError("--format xlsx needs --output FILE.xlsx", field="output")
        output.write_bytes(xlsx_bytes(report, lang))
        return None
    if output is not None:
        output.write_bytes(csv_bytes(metrics_table(report, lang), lang))
        return None
    return csv_text(metrics_table(report, lang), lang)


def _write_tables(book: xlsxwriter.Workbook, sheets: list[Table], lang: Lang) -> None:
    """A sheet per table: numbers as numbers, dates as dates, the header row frozen."""
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    formats = {
        "int": book.add_format({"num_format": INT_FORMAT}),
        "date": book.add_format({"num_format": DATE_FORMAT}),
        "month": book.add_format({"num_format": MONTH_FORMAT}),
    }
    for table in sheets:
        sheet = book.add_worksheet(table.title(lang)[:31])
        for col, column in enumerate(table.columns):
            sheet.write_string(0, col, column.header(lang), bold)
            sheet.set_column(col, col, 14 if column.kind != "text" else 24)
        for r, row in enumerate(table.rows, start=1):
            for col, (column, value) in enumerate(zip(table.columns, row, strict=True)):
                if value is None:
                    continue
                if column.kind in ("date", "month") and isinstance(value, date):
                    sheet.write_datetime(r, col, _midnight(value), formats[column.kind])
                elif column.kind == "int" and isinstance(value, int):
                    sheet.write_number(r, col, value, formats["int"])
                else:
                    sheet.write_string(r, col, str(value))
        sheet.freeze_panes(1, 0)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)
