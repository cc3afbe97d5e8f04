"""Database migrations: the ordered ``.sql`` files in ``sinks/migrations``, each applied once.

yoyo-migrations records what ran and takes a lock, so two ``vanphong init`` at once are safe.
The configured time zone is written to ``core.config`` on every run, because reporting views
need it to know what "today" and a day are.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _yoyo_url(database_url: str) -> str:
    scheme, rest = database_url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"VANPHONG_DATABASE_URL must be a postgresql:// URL, not {scheme}://")
    return f"postgresql+psycopg://{rest}"


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
