"""What a failed write to PostgreSQL means, by SQLSTATE class and never by message text, and
how the worker's pool follows the primary.

:func:`classify` sorts an error into *unavailable* (retried for as long as it lasts: nothing a
message contains causes it), *contention* (two writers met: retried within a budget) and
*deterministic* (judged by the safety net, vanphong/core/safetynet.py, with :func:`blame`).
A batch's write uses :func:`classify_write`, which also waits for a database that is gone for
a moment during a restore.

Following the primary (CONTRACT.md §1, a multi-host ``VANPHONG_DATABASE_URL``): asyncpg picks a
host by ``target_session_attrs`` only when it opens a connection, and its pool keeps connections
open otherwise. So a failover, a demotion or a shutdown that one write meets makes the pool
replace all its connections (:func:`reconnects`), and the next connection goes through the
host list again, to whichever host is the primary now; the worker's pool always asks for a
writable host (:func:`writable`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import asyncpg

from vanphong.core.rejection import Rejection, refused_by_database
from vanphong.core.safetynet import Blame
from vanphong.ground.dsn import parse_dsn

# SQLSTATE classes that mean "the database is not there right now": connection exceptions,
# insufficient resources (disk full, too many connections), operator intervention (shutdown,
# starting up). Retried without end: nothing a message contains causes them.
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57"})
# A server that no longer takes writes: a primary demoted to a standby, or any server in
# recovery ("cannot execute INSERT in a read-only transaction", "… during recovery": both
# read_only_sql_transaction). Another host of a multi-host URL is the primary now.
_READ_ONLY = "25006"
# Only while the worker writes (:meth:`PostgresSink.write`): the database is gone (3D000
# invalid_catalog_name), as while an operator restores a backup by renaming databases. At start
# it is a wrong setting instead, and every command fails fast naming VANPHONG_DATABASE_URL.
_DATABASE_GONE = "3D000"
# Two writers meeting: transaction rollbacks (serialization failure, deadlock), a unique
# violation from two writers inserting the same new entity at once, a lock not available. A
# retry normally goes through, but data can make the same error come back every time, so these
# get a budget (VANPHONG_CONTENTION_RETRIES), then count as deterministic.
_CONTENTION_CLASSES = frozenset({"40"})
_CONTENTION_CODES = frozenset({"23505", "55P03"})
# What a message's data causes when the database refuses it (vanphong/core/safetynet.py): data
# exceptions (U+0000 in text, out of range), integrity constraints, program limits (an index
# row too large).
_MESSAGE_CLASSES = frozenset({"22", "23", "54"})

Kind = Literal["unavailable", "contention", "deterministic"]


def classify(exc: BaseException) -> Kind:
    """What a failed write means: wait and retry (``unavailable``), retry within a budget
    (``contention``), or a deterministic failure for the safety net."""
    if isinstance(exc, asyncpg.InvalidCachedStatementError):
        return "contention"  # a table swapped under a prepared statement (vanphong rebuild)
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        if state[:2] in _UNAVAILABLE_CLASSES or state == _READ_ONLY:
            return "unavailable"
        if state[:2] in _CONTENTION_CLASSES or state in _CONTENTION_CODES:
            return "contention"
        return "deterministic"
    # InternalClientError: a connection the server cut off while idle (shutdown), caught by the
    # pool's reset or the next query mid-way through reading the server's FATAL message.
    if isinstance(
        exc,
        OSError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError
        | ConnectionError
        | TimeoutError,
    ):
        return "unavailable"
    return "deterministic"


def classify_write(exc: BaseException) -> Kind:
    """:func:`classify` for a batch's write, where a database that is gone (3D000) is waited
    for like an unreachable one: it is being restored, and comes back under its name."""
    if sqlstate_of(exc) == _DATABASE_GONE:
        return "unavailable"
    return classify(exc)


def reconnects(exc: BaseException) -> bool:
    """Whether the pool's connections must all be replaced after ``exc`` (an unavailable
    database, not one that is merely full): a failover, a demotion, a shutdown or a restore
    that broke one connection left the others on the same stale server, and asyncpg checks a
    multi-host URL's ``target_session_attrs`` only when it connects, so only a new connection
    finds the host that is the primary now."""
    state = sqlstate_of(exc) or ""
    return classify_write(exc) == "unavailable" and state[:2] != "53"


def is_transient(exc: BaseException) -> bool:
    """Retried rather than judged: the database is unavailable, or two writers met."""
    return classify(exc) != "deterministic"


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, or of the one it was raised from (a contention error
    whose budget is spent)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncpg.PostgresError):
            return seen.sqlstate
        seen = seen.__cause__
    return None


def blame(exc: BaseException) -> Blame:
    """Whose fault a write that failed on its own is (vanphong/core/safetynet.py): the message's
    when the database refused its data (SQLSTATE class 22, 23 or 54), the system's for anything
    else, our own Python bugs included."""
    state = sqlstate_of(exc)
    if state is not None and state[:2] in _MESSAGE_CLASSES:
        return Blame.MESSAGE
    return Blame.SYSTEM


def describe(exc: BaseException) -> str:
    """An error for a log line or a dead letter's detail: the class, the database's message and
    its DETAIL, except a "Failing row contains (…)" dump, which would copy a whole row (personal
    data included) into the logs."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, asyncpg.PostgresError):
        seen = seen.__cause__
    if seen is None:
        return f"{type(exc).__name__}: {exc}"
    text = f"{type(seen).__name__}: {seen.args[0] if seen.args else ''}"
    detail = getattr(seen, "detail", None)
    if detail and not detail.startswith("Failing row contains"):
        text += f" ({detail})"
    return text


def refusal(exc: BaseException) -> Rejection:
    """The dead letter of a message the database refused: SQLSTATE and the database's words."""
    return refused_by_database(sqlstate_of(exc) or "?", describe(exc))


def writable(url: str) -> str:
    """``url`` for the worker's pool: a URL of several hosts without ``target_session_attrs``
    gets ``read-write``, since the worker only ever needs the primary, and any host would
    otherwise do (libpq's default), a standby included, again after every reconnection."""
    dsn = parse_dsn(url)
    if len(dsn.hosts) < 2 or dsn.param("target_session_attrs") is not None:
        return url
    return replace(dsn, params=(*dsn.params, ("target_session_attrs", "read-write"))).render()
