"""``vanphong access`` against PostgreSQL: what exists, and the plan of
:mod:`vanphong.access.plan` run in one transaction, as the owner (VANPHONG_DATABASE_URL).

psycopg, because libpq computes the password's SCRAM verifier on the client
(``PQencryptPasswordConn``): the server, its log and ``pg_stat_activity`` see the verifier only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from vanphong.access.plan import (
    AccessError,
    RoleState,
    grant_statements,
    province_name,
    revoke_statements,
    role_name,
)


@dataclass(frozen=True)
class Reader:
    """One row of ``vanphong access list``."""

    role: str
    province: str
    granted_at: datetime
    role_exists: bool
    can_login: bool
    units: int


def _check_ready(conn: psycopg.Connection, create: bool = True) -> None:
    """Migration 0009 is applied and (``create``) the owner may create roles: else one line
    saying what to do."""
    row = conn.execute(
        "SELECT current_user, rolcreaterole OR rolsuper, to_regclass('core.province_readers')"
        " IS NOT NULL FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row is not None
    user, can_create, migrated = row
    if not migrated:
        raise AccessError("core.province_readers is missing: run `vanphong init` first")
    if create and not can_create:
        raise AccessError(
            f"{user} (VANPHONG_DATABASE_URL) may not create roles: as an administrator,"
            f" ALTER ROLE {user} CREATEROLE"
        )


def _state(conn: psycopg.Connection, role: str) -> RoleState:
    row = conn.execute(
        "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = %(r)s),"
        " (SELECT province FROM core.province_readers WHERE role_name = %(r)s)",
        {"r": role},
    ).fetchone()
    assert row is not None
    superuser, province = row
    return RoleState(exists=superuser is not None, province=province, superuser=bool(superuser))


def _run(conn: psycopg.Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.execute(statement.encode())  # built from checked names and quoted literals only


def grant(url: str, role: str, province: str, password: str | None) -> str:
    """Make ``role`` a reader of ``province``; what was done, in words."""
    role = role_name(role)
    with psycopg.connect(url, autocommit=False) as conn:
        _check_ready(conn)
        known = [r[0] for r in conn.execute("SELECT DISTINCT province FROM core.province_units")]
        province = province_name(province, known)
        # One grant at a time per database (two operators, or a retried command).
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('vanphong.access', 0))")
        state = _state(conn, role)
        verifier = None
        if password is not None:
            verifier = conn.pgconn.encrypt_password(
                password.encode(), role.encode(), b"scram-sha-256"
            ).decode()
        _run(conn, grant_statements(role, province, state, verifier))
        conn.commit()
    if not state.exists:
        done = "created"
    elif state.province != province:
        done = f"moved from {state.province}"
    else:
        done = "unchanged"
    extra = "; password set" if password is not None else ""
    if not state.exists and password is None:
        extra = "; no password (--password-file sets one)"
    return f"{role}: reads province {province} ({done}{extra})"


def revoke(url: str, role: str) -> str:
    """Remove province reader ``role`` (drop the role); what was done, in words."""
    role = role_name(role)
    with psycopg.connect(url, autocommit=False) as conn:
        _check_ready(conn)
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('vanphong.access', 0))")
        state = _state(conn, role)
        statements = revoke_statements(role, state)
        _run(conn, statements)
        conn.commit()
    if not statements:
        return f"{role}: not a province reader (nothing to do)"
    return f"{role}: revoked (was province {state.province})" + (
        "; role dropped" if state.exists else ""
    )


def readers(url: str) -> list[Reader]:
    """Every province reader of this database, by role name."""
    with psycopg.connect(url, autocommit=True) as conn:
        _check_ready(conn, create=False)
        rows = conn.execute(
            "SELECT r.role_name::text, r.province, r.granted_at, a.rolname IS NOT NULL,"
            " coalesce(a.rolcanlogin, false),"
            " (SELECT count(*) FROM core.province_units p WHERE p.province = r.province)"
            " FROM core.province_readers r LEFT JOIN pg_roles a ON a.rolname = r.role_name"
            " ORDER BY r.role_name"
        ).fetchall()
    return [Reader(*row) for row in rows]
