"""The read side of vanphong for people who don't write SQL: a unit's figures over a year, a
term or a range of days, beside the same period a year earlier, with monthly, type, kind, task
and history tables, a summary paragraph in the offices' own style, and CSV/XLSX exports. Used
by ``vanphong report`` and ``vanphong serve``; reads schema ``reporting`` only, as the role
``vanphong_reporting`` (CONTRACT.md §7).

Pure parts: :mod:`.periods`, :mod:`.model`, :mod:`.summary`, :mod:`.labels`, :mod:`.tables`,
:mod:`.jsonview`, :mod:`.board_tables`; I/O: :mod:`.database` (the reporting role's
connections), :mod:`.queries` and :mod:`.board` (PostgreSQL), :mod:`.exports` (file bytes).
:mod:`.page` is the reporting web page (``vanphong serve``). A layer of its own: it imports
only ground, core and schemas of ours, and of the product only the command line imports it
(the contracts in pyproject.toml)."""

from vanphong.reporting.model import Basis, Report, ReportError, Unit
from vanphong.reporting.periods import Period, PeriodError

__all__ = ["Basis", "Period", "PeriodError", "Report", "ReportError", "Unit"]
