"""Database migrations: the ordered ``.sql`` files in ``sinks/migrations``, each applied once.

yoyo-migrations records what ran and takes a lock, so two ``vanphong init`` at once are safe.
The configured time zone is written to ``core.config`` on every run, because reporting views
need it to know what "today" and a day are.

A multi-host ``VANPHONG_DATABASE_URL`` (``h1:5432,h2:5432``, CONTRACT.md §1) is handed to yoyo
with its hosts and ports as the query parameters ``host=h1,h2&port=5432,5432`` (see
:func:`_yoyo_url`): yoyo reads its URL with :func:`urllib.parse.urlsplit`, which takes one host,
but passes the query parameters on to ``psycopg.connect``, so libpq itself chooses the host
(``target_session_attrs`` included) for the one connection that takes the lock and applies the
migrations. No host is chosen beforehand by us, so none can change between a choice and its use.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

from vanphong.ground.dsn import DsnError, parse_dsn

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _yoyo_url(database_url: str) -> str:
    """yoyo's URL for ``database_url``: the same login, database and parameters, the hosts and
    ports as libpq's ``host``/``port`` parameters (a list each, empty for a default port)."""
    try:
        dsn = parse_dsn(database_url)
    except DsnError as exc:
        raise ValueError(f"VANPHONG_DATABASE_URL {exc}") from None
    params = [(k, v) for k, v in dsn.params if k not in ("host", "port")]
    if dsn.hosts:
        params.append(("host", ",".join(h.name for h in dsn.hosts)))
        if any(h.port is not None for h in dsn.hosts):
            params.append(("port", ",".join(str(h.port or "") for h in dsn.hosts)))
    return replace(dsn, hosts=(), params=tuple(params), scheme="postgresql+psycopg").render()


def migrate(database_url: str, timezone: str) -> list[str]:
    """Apply pending migrations; return the ids applied (empty when up to date)."""
    backend = get_backend(_yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO core.config (key, value) VALUES ('timezone', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (timezone,),
        )
    return [m.id for m in pending]
