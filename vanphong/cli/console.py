"""What every command prints through, and how it reports a service it cannot reach: one line
per service (``error: PostgreSQL at … is unreachable: …; check VANPHONG_DATABASE_URL``), exit
status 2, never a traceback, because a wrong setting is the operator's to fix, not a bug."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:  # imported when an error is met: asyncpg and psycopg would slow every --help
    from vanphong.ground.unreachable import Unreachable

out = Console()
err = Console(stderr=True)


def quiet_kafka_client() -> None:
    """These commands report an unreachable broker themselves, once; aiokafka's own log lines
    (printed by logging's last-resort handler) would only repeat it."""
    import logging

    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    logging.getLogger("aiokafka").propagate = False


def unreachable_exit(exc: Exception) -> typer.Exit:
    """Print ``exc`` as ``error:`` lines, one per line of its message and never wrapped (a
    terminal or a log then shows one line per service), and the exit to raise: status 2."""
    for line in str(exc).splitlines():
        err.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


#: What libpq says (psycopg, under yoyo's migrations) when the server refuses these settings.
_REFUSED_SETTINGS = re.compile(
    r"password authentication failed|no password supplied|role \S+ does not exist"
    r"|database \S+ does not exist"
)


def _libpq_problem(exc: BaseException, url: str) -> Unreachable | None:
    """psycopg's connection failure as :class:`Unreachable`, in the words of
    vanphong/ground/unreachable.py ``database_error`` (which reads asyncpg's): libpq gives no
    error class, only a message of one line per address tried, of which the first says it."""
    import psycopg

    from vanphong.ground.unreachable import Unreachable, redact

    if not isinstance(exc, psycopg.OperationalError):
        return None
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    detail = first.rpartition(" failed: ")[2] or first
    detail = re.sub(r"^FATAL:\s*", "", detail).strip()
    if _REFUSED_SETTINGS.search(detail):
        return Unreachable("PostgreSQL", redact(url), detail, "check VANPHONG_DATABASE_URL")
    return Unreachable("PostgreSQL", redact(url), detail[:1].lower() + detail[1:])


def database_problem(exc: BaseException, url: str) -> Unreachable | None:
    """The one-line :class:`Unreachable` for an error of the database at ``url`` or of its
    settings (a wrong password, an unknown database, a refused port, a database never
    initialised), from asyncpg or psycopg; None for anything else (a bug: it stays loud)."""
    from vanphong.ground.unreachable import DATABASE_ERRORS, Unreachable, database_error

    if isinstance(exc, Unreachable):
        return exc
    if isinstance(exc, DATABASE_ERRORS):
        return database_error(exc, url)
    return _libpq_problem(exc, url)


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Around the part of a command that asks PostgreSQL at ``url`` (VANPHONG_DATABASE_URL):
    a problem of the database or its settings exits with one line naming the setting and what
    to check (:func:`database_problem`), status 2; anything else propagates unchanged."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        problem = database_problem(exc, url)
        if problem is None:
            raise
        raise unreachable_exit(problem) from None
