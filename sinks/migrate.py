"""Database migrations: the ordered ``.sql`` files in ``sinks/migrations``, each applied once.

yoyo-migrations records what ran and takes a lock, so two ``vanphong init`` at once are safe.
The configured time zone is written to ``core.config`` on every run, because reporting views
need it to know what "today" and a day are.

A multi-host ``VANPHONG_DATABASE_URL`` (``h1:5432,h2:5432``, CONTRACT.md §1): yoyo reads its URL
with :func:`urllib.parse.urlsplit`, which takes one host, and opens several connections. So the
host is chosen once, by libpq (:func:`_chosen_host`: ``target_session_attrs`` honoured, each
host within ``connect_timeout``, so an old primary that hangs costs its 10 s once, not at every
connection), and yoyo gets that host alone, as libpq's ``host``/``port`` parameters
(:func:`_yoyo_url`; yoyo passes its query parameters on to ``psycopg.connect``). If the primary
moves between the choice and the migrations, ``target_session_attrs`` still applies to the one
host, and init fails with its one-line error; run it again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

from vanphong.ground.dsn import Dsn, DsnError, Host, parse_dsn
from vanphong.ground.pgconnect import PER_HOST_TIMEOUT_S

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _parsed(database_url: str) -> Dsn:
    try:
        return parse_dsn(database_url)
    except DsnError as exc:
        raise ValueError(f"VANPHONG_DATABASE_URL {exc}") from None


def _connect(dsn: Dsn) -> psycopg.Connection[tuple[object, ...]]:
    """A libpq connection, each host within ``connect_timeout`` (the URL's, else 10 s; libpq
    has none by default and would wait on a host that hangs for ever)."""
    timeout = int(dsn.param("connect_timeout") or PER_HOST_TIMEOUT_S)
    return psycopg.connect(dsn.render(), connect_timeout=timeout)


def _chosen_host(dsn: Dsn) -> Dsn:
    """``dsn`` with the one host libpq connects to now (of several; one is kept as it is)."""
    if len(dsn.hosts) < 2:
        return dsn
    with _connect(dsn) as conn:
        return dsn.with_hosts(Host(conn.info.host, conn.info.port))


def _yoyo_url(dsn: Dsn) -> str:
    """yoyo's URL for ``dsn``: the same login, database and parameters, the hosts and ports as
    libpq's ``host``/``port`` parameters (a list each, empty for a default port)."""
    params = [(k, v) for k, v in dsn.params if k not in ("host", "port")]
    if dsn.param("connect_timeout") is None:
        params.append(("connect_timeout", str(int(PER_HOST_TIMEOUT_S))))
    if dsn.hosts:
        params.append(("host", ",".join(h.name for h in dsn.hosts)))
        if any(h.port is not None for h in dsn.hosts):
            params.append(("port", ",".join(str(h.port or "") for h in dsn.hosts)))
    return replace(dsn, hosts=(), params=tuple(params), scheme="postgresql+psycopg").render()


def migrate(database_url: str, timezone: str) -> list[str]:
    """Apply pending migrations; return the ids applied (empty when up to date)."""
    dsn = _chosen_host(_parsed(database_url))
    backend = get_backend(_yoyo_url(dsn))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    with _connect(dsn) as conn:
        conn.execute(
            "INSERT INTO core.config (key, value) VALUES ('timezone', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (timezone,),
        )
    return [m.id for m in pending]
