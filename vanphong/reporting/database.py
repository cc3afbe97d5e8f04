"""The reporting role's connections: which URL (``VANPHONG_REPORTING_DATABASE_URL``, or the
role ``vanphong_reporting`` on ``VANPHONG_DATABASE_URL``'s server and database), read-only
sessions, and one line naming the setting to check for every problem of the database or its
settings (a wrong password, an unknown database, a refused port, a database never
initialised) rather than a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, TypeVar

import asyncpg

from vanphong.ground import pgconnect
from vanphong.ground.dsn import DsnError, parse_dsn
from vanphong.ground.settings import Settings
from vanphong.ground.unreachable import PG_TIMEOUT_S, Unreachable, redact
from vanphong.reporting.model import ReportError

T = TypeVar("T")

#: Every session the read side opens reads only (the role may only read anyway).
SERVER_SETTINGS = {"default_transaction_read_only": "on"}


def reporting_url(settings: Settings) -> tuple[str, str]:
    """:meth:`Settings.reporting_database`, a bad ``VANPHONG_DATABASE_URL`` as a report error."""
    try:
        return settings.reporting_database()
    except DsnError as exc:
        raise ReportError(f"VANPHONG_DATABASE_URL {exc}") from None


def _detail(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def connection_problem(exc: BaseException, url: str, variable: str) -> Unreachable | None:
    """The one-line error for a problem of the database or its settings, or None when ``exc``
    is something else (a bug of ours, which must stay loud)."""
    where = redact(url)
    also = (
        " (or set VANPHONG_REPORTING_DATABASE_URL)" if variable == "VANPHONG_DATABASE_URL" else ""
    )
    if isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return Unreachable(
            "PostgreSQL",
            where,
            _detail(exc),
            f"check the user and password in {variable}{also}",
            state="refused the login",
        )
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return Unreachable(
            "PostgreSQL",
            where,
            _detail(exc),
            f"check the database name in {variable}{also}",
            state="has no such database",
        )
    if isinstance(
        exc,
        asyncpg.UndefinedTableError
        | asyncpg.UndefinedFunctionError
        | asyncpg.InvalidSchemaNameError
        | asyncpg.InsufficientPrivilegeError,
    ):
        return Unreachable(
            "PostgreSQL",
            where,
            _detail(exc),
            f"run `vanphong init` on this database, or check {variable}{also}",
            state="has no readable reporting schema",
        )
    if isinstance(
        exc,
        OSError
        | TimeoutError
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.TooManyConnectionsError
        | asyncpg.InterfaceError,
    ):
        return Unreachable(
            "PostgreSQL",
            where,
            _detail(exc),
            f"is it running? Locally: `vanphong stack up`; elsewhere check the host and port"
            f" in {variable}{also}",
        )
    return None


async def guarded(url: str, variable: str, work: Awaitable[T]) -> T:
    """``await work``, turning a problem of the database into :class:`Unreachable`."""
    try:
        return await work
    except (ReportError, Unreachable):
        raise
    except Exception as exc:
        problem = connection_problem(exc, url, variable)
        if problem is None:
            raise
        raise problem from exc


def read_only_sessions(url: str) -> str:
    """``url`` for sessions that set ``default_transaction_read_only`` themselves: asyncpg's
    ``target_session_attrs=read-write`` reads that very setting, so it would refuse every host
    of a multi-host URL; ``primary`` (not in recovery) picks the host the worker writes to."""
    dsn = parse_dsn(url)
    if dsn.param("target_session_attrs") != "read-write":
        return url
    params = tuple((k, "primary" if k == "target_session_attrs" else v) for k, v in dsn.params)
    return replace(dsn, params=params).render()


async def connect(url: str) -> asyncpg.Connection:
    return await pgconnect.connect(
        read_only_sessions(url), timeout=PG_TIMEOUT_S, server_settings=SERVER_SETTINGS
    )


async def create_pool(url: str, variable: str) -> asyncpg.Pool:
    """A small pool for ``vanphong serve``; the first connection is made now, so a wrong
    setting fails at start with one line."""
    pool = asyncpg.create_pool(
        read_only_sessions(url),
        min_size=1,
        max_size=4,
        timeout=PG_TIMEOUT_S,
        server_settings=SERVER_SETTINGS,
        connect=pgconnect.connect,
    )
    return await guarded(url, variable, _opened(pool))


async def _opened(pool: Any) -> asyncpg.Pool:
    await pool
    try:  # the schema is there and the role may read it, or say so now
        await pool.fetchval("SELECT count(*) FROM reporting.merges")
    except BaseException:
        await pool.close()
        raise
    return pool  # type: ignore[no-any-return]


@asynccontextmanager
async def connection(url: str, variable: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await guarded(url, variable, connect(url))
    try:
        yield conn
    finally:
        await conn.close()
