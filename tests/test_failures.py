"""A demoted primary, a database gone for a restore, a multi-host URL: what a failed write means
and how the worker's pool follows the primary (sinks/failures.py, PostgresSink.write).

The real failover, with a promoted standby, is tests/test_failover.py's; here the server that no
longer takes writes is the shared one's test database made read-only for *new* sessions
(``ALTER DATABASE … SET default_transaction_read_only``: the server's own settings are never
touched). A session keeps the setting it started with, so a write that goes through after the
database is writable again proves that the pool replaced its connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.conftest import Env
from tests.events import event
from vanphong.core.batch import Accepted, Coordinates, Item
from vanphong.core.rejection import ContentionError, TransientError
from vanphong.ground.dsn import Host, parse_dsn
from vanphong.schemas.catalog import BY_TYPE
from vanphong.schemas.codec import shipped_schemas
from vanphong.sinks.failures import classify, classify_write, reconnects, writable
from vanphong.sinks.postgres import PostgresSink


def pg(cls: type[asyncpg.PostgresError]) -> asyncpg.PostgresError:
    return cls("boom")


@pytest.mark.parametrize(
    ("error", "kind", "write_kind", "replaces_connections"),
    [
        (pg(asyncpg.ReadOnlySQLTransactionError), "unavailable", "unavailable", True),  # 25006
        (pg(asyncpg.InvalidCatalogNameError), "deterministic", "unavailable", True),  # 3D000
        (pg(asyncpg.AdminShutdownError), "unavailable", "unavailable", True),  # 57P01
        (pg(asyncpg.ConnectionFailureError), "unavailable", "unavailable", True),  # 08006
        (asyncpg.TargetServerAttributeNotMatched("no primary"), "unavailable", "unavailable", True),
        (ConnectionRefusedError(), "unavailable", "unavailable", True),
        (pg(asyncpg.TooManyConnectionsError), "unavailable", "unavailable", False),  # 53300
        (pg(asyncpg.DiskFullError), "unavailable", "unavailable", False),  # 53100
        (pg(asyncpg.SerializationError), "contention", "contention", False),  # 40001
        (pg(asyncpg.UntranslatableCharacterError), "deterministic", "deterministic", False),
        (KeyError("a bug of ours"), "deterministic", "deterministic", False),
    ],
)
def test_a_demoted_primary_or_a_database_being_restored_is_waited_for_not_judged(
    error: BaseException, kind: str, write_kind: str, replaces_connections: bool
) -> None:
    assert classify(error) == kind  # what the commands and the worker's start see
    assert classify_write(error) == write_kind  # what a batch's write sees
    assert reconnects(error) is replaces_connections


@pytest.mark.parametrize(
    ("url", "expected_attrs"),
    [
        ("postgresql://u:p@h1:5432,h2:5432/db", "read-write"),
        ("postgresql://u:p@h1,h2/db?sslmode=require", "read-write"),
        ("postgresql://u:p@h1:5432,h2:5432/db?target_session_attrs=primary", "primary"),
        ("postgresql://u:p@h1:5432/db", None),  # one host: nothing to choose from
    ],
)
def test_the_worker_asks_a_multi_host_url_for_a_writable_host(
    url: str, expected_attrs: str | None
) -> None:
    given, used = parse_dsn(url), parse_dsn(writable(url))
    assert used.param("target_session_attrs") == expected_attrs
    assert (used.hosts, used.user, used.password, used.database) == (
        given.hosts,
        given.user,
        given.password,
        given.database,
    )
    assert set(given.params) <= set(used.params)


class FakePool:
    """Connections that fail with ``error`` inside the transaction; counts expirations."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.expired = 0

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        yield self

    def transaction(self) -> Any:
        error = self.error

        class Failing:
            async def __aenter__(self) -> None:
                raise error

            async def __aexit__(self, *exc: object) -> None:
                return None

        return Failing()

    async def expire_connections(self) -> None:
        self.expired += 1


@pytest.mark.parametrize(
    ("error", "raised", "expired"),
    [
        (pg(asyncpg.ReadOnlySQLTransactionError), TransientError, 1),
        (pg(asyncpg.InvalidCatalogNameError), TransientError, 1),
        (pg(asyncpg.DiskFullError), TransientError, 0),
        (pg(asyncpg.DeadlockDetectedError), ContentionError, 0),
        (pg(asyncpg.CheckViolationError), asyncpg.CheckViolationError, 0),
    ],
)
def test_a_write_that_meets_a_stale_server_expires_the_pool_and_is_retried(
    error: BaseException, raised: type[BaseException], expired: int
) -> None:
    pool = FakePool(error)
    sink = PostgresSink(pool, ZoneInfo("Asia/Ho_Chi_Minh"), shipped_schemas())  # type: ignore[arg-type]
    with pytest.raises(raised):
        asyncio.run(sink.write([]))
    assert pool.expired == expired


READ_ONLY = "default_transaction_read_only"


def registrations(env: Env, first_offset: int, n: int) -> list[Item]:
    """``n`` units registered, at offsets ``first_offset``… of the topic's partition 0."""
    topic = env.topic(BY_TYPE["unit.registered"].topic)
    return [
        Item(
            Coordinates(topic, 0, offset),
            None,
            b"",
            Accepted(BY_TYPE["unit.registered"], event("unit.registered", unit_id=f"u{offset}")),
        )
        for offset in range(first_offset, first_offset + n)
    ]


def test_a_pool_on_a_server_that_stopped_taking_writes_reconnects_and_writes_again(
    env: Env, refused_host: Host
) -> None:
    dsn = parse_dsn(env.settings.database_url)
    database, real = dsn.database, dsn.hosts[0]
    # The URL's first host refuses connections: every connection goes on to the next.
    hosts = (refused_host, real)
    read_write = dsn.with_hosts(*hosts).render()
    any_host = replace(dsn.with_hosts(*hosts), params=(("target_session_attrs", "any"),))

    async def go() -> None:
        admin = await asyncpg.connect(env.settings.database_url)
        sink = None
        try:
            # The server takes no writes (new sessions of this database are read-only, as every
            # session of a demoted primary is): the worker's pool, which asks for a writable
            # host, finds none, and waits (unavailable), never judging a message.
            await admin.execute(
                f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
            )
            with pytest.raises(TransientError):
                await PostgresSink.connect(read_write, env.settings.zone, shipped_schemas(), 2)
            # A pool that took the read-only host anyway (target_session_attrs=any) has its write
            # refused with 25006: unavailable, and the pool's connections are expired.
            sink = await PostgresSink.connect(
                any_host.render(), env.settings.zone, shipped_schemas(), 2
            )
            async with sink.pool.acquire() as conn:
                stale = conn.get_server_pid()
            with pytest.raises(TransientError, match="ReadOnlySQLTransaction"):
                await sink.write(registrations(env, 0, 3))
            # Writable again (the primary back, or another host it now): the next write goes
            # through on a new connection (the stale session would still be read-only).
            await admin.execute(f'ALTER DATABASE "{database}" RESET {READ_ONLY}')
            plan = await sink.write(registrations(env, 0, 3))
            assert plan.applied
            async with sink.pool.acquire() as conn:
                assert conn.get_server_pid() != stale
            stored = await admin.fetchval(
                "SELECT next_offset FROM core.sink_offsets WHERE topic = $1 AND partition = 0",
                env.topic(BY_TYPE["unit.registered"].topic),
            )
            assert stored == 3
        finally:
            await admin.execute(f'ALTER DATABASE "{database}" RESET {READ_ONLY}')
            await admin.close()
            if sink is not None:
                await sink.close()

    asyncio.run(go())
