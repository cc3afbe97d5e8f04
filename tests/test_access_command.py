"""``vanphong access`` as an operator runs it (CONTRACT.md §8): grant, grant again, move, list,
revoke, revoke again, each refusal in one line; the password from a file, used to log in.
The roles and the history are tests/test_province_readers.py's."""

from __future__ import annotations

import json
import unicodedata

import asyncpg

from tests.conftest import Env
from tests.test_province_readers import UNITS, A, B, Readers, readers, unit, write

__all__ = ["readers"]  # the fixture, used by name


def test_grant_revoke_and_list_are_idempotent_and_explain_refusals(
    env: Env, readers: Readers
) -> None:
    write(env, [unit(u, p) for u, (p, _) in UNITS.items()])
    role = readers.role(A)
    assert "created; password set" in readers.grant(A)
    assert "unchanged" in readers.grant(A)
    listed = readers.vanphong("access", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["role"], r["province"], r["units"], r["can_login"]) for r in rows] == [
        (role, A, 2, True)
    ]

    async def units_as(url: str) -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            return sorted(r[0] for r in await conn.fetch("SELECT unit_id FROM reporting.units"))
        finally:
            await conn.close()

    assert env.run(units_as(readers.url(role))) == ["a_tc", "a_vp"]  # the password works
    # The same role moved to another province (the NFD spelling is the same province).
    moved = readers.vanphong(
        "access", "grant-province", role, "--province", unicodedata.normalize("NFD", B)
    )
    assert moved.returncode == 0 and f"moved from {A}" in moved.stdout, moved
    assert env.run(units_as(readers.url(role))) == ["b_vp"]  # the password was kept

    refused = {
        "unknown province": ("grant-province", f"{readers.prefix}_x", "--province", "Tỉnh Z"),
        "bad role name": ("grant-province", "Bad-Name", "--province", A),
        "reserved": ("grant-province", "vanphong_reporting", "--province", A),
        "is not a province reader": ("grant-province", "vanphong", "--province", A),
        "expected one non-empty line": (
            "grant-province",
            role,
            "--province",
            A,
            "--password-file",
            "/dev/null",
        ),
    }
    for words, args in refused.items():
        done = readers.vanphong("access", *args)
        assert done.returncode == 1 and words in done.stderr, (words, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not env.fetch("SELECT FROM pg_roles WHERE rolname = $1", f"{readers.prefix}_x")
    assert not env.fetch(
        "SELECT FROM pg_roles WHERE rolname = 'vanphong' AND rolcanlogin"
        " AND rolname IN (SELECT role_name FROM core.province_readers)"
    )

    revoked = readers.vanphong("access", "revoke", role)
    assert revoked.returncode == 0 and "role dropped" in revoked.stdout, revoked
    again = readers.vanphong("access", "revoke", role)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again
    assert not env.fetch("SELECT FROM pg_roles WHERE rolname = $1", role)
    empty = readers.vanphong("access", "list", "--json")
    assert json.loads(empty.stdout) == []
    kept = readers.vanphong("access", "revoke", "vanphong_reporting")
    assert kept.returncode == 1 and "reserved" in kept.stderr
