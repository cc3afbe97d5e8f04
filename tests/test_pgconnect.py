"""A multi-host URL whose first host hangs (vanphong/ground/pgconnect.py): a listening socket
that never accepts stands in for a frozen old primary, or one whose machine is gone without a
reset. asyncpg's deadline covers every host together, so it never reaches the second; the
worker's pool and the commands go host by host, each host with its own deadline."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace

import asyncpg
import pytest

from tests.conftest import VANPHONG, Env
from tests.test_failures import registrations
from vanphong.ground import pgconnect
from vanphong.ground.dsn import Host, parse_dsn
from vanphong.schemas.codec import shipped_schemas
from vanphong.sinks.postgres import PostgresSink


@pytest.fixture
def hung_host() -> Iterator[Host]:
    """127.0.0.1:<port> where the kernel completes the handshake but nobody ever answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield Host("127.0.0.1", int(s.getsockname()[1]))


def behind(env: Env, first: Host) -> str:
    dsn = parse_dsn(env.settings.database_url)
    return replace(
        dsn.with_hosts(first, *dsn.hosts), params=(("target_session_attrs", "read-write"),)
    ).render()


def test_a_hung_first_host_is_passed_over(env: Env, hung_host: Host) -> None:
    url = behind(env, hung_host)

    async def go() -> None:
        with pytest.raises(TimeoutError):  # why: asyncpg alone waits on the first host
            await asyncpg.connect(url, timeout=2)
        conn = await pgconnect.connect(url, per_host_timeout_s=1)
        try:
            assert await conn.fetchval("SELECT NOT pg_is_in_recovery()")
        finally:
            await conn.close()
        sink = await PostgresSink.connect(url, env.settings.zone, shipped_schemas(), 1)
        try:
            assert (await sink.write(registrations(env, 0, 2))).applied
        finally:
            await sink.close()

    asyncio.run(go())

    status = subprocess.run(
        [str(VANPHONG), "status", "--json"],
        env={**env.workers.env(), "VANPHONG_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert sum(p["applied_offset"] for p in json.loads(status.stdout)["topics"]) == 2


def test_init_chooses_the_host_once_and_passes_a_hung_one_over(env: Env, hung_host: Host) -> None:
    """yoyo opens several connections: the host is chosen once, within libpq's connect_timeout
    (10 s unless the URL says; libpq has none by default and would wait for ever)."""
    url = behind(env, hung_host)
    init = subprocess.run(
        [str(VANPHONG), "init"],
        env={**env.workers.env(), "VANPHONG_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    assert "migrations: up to date" in init.stdout


def test_a_wrong_password_stops_at_the_first_host_that_says_so(env: Env) -> None:
    dsn = parse_dsn(env.settings.database_url)
    wrong = dsn.with_login(dsn.user or "vanphong", "wrong").with_hosts(*dsn.hosts, *dsn.hosts)

    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(pgconnect.connect(wrong.render(), per_host_timeout_s=5))
