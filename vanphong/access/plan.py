"""What ``vanphong access grant-province`` and ``revoke`` do, decided without a database.

A grant, in one transaction: the role is created if missing (LOGIN, nothing else), its password
set when one is given (as a SCRAM verifier computed by the client: the server never sees the
password, nor does its log), it joins ``vanphong_province_readers`` (the group that holds the
read privileges of migration 0009), it is granted to ``vanphong_reporting`` (so the reporting
page, connected as that role, may ``SET LOCAL ROLE`` to it), and its province is recorded in
``core.province_readers``, which the views of ``reporting`` read. Running it again changes
nothing, or only the province and the password.

Only roles this command made are touched: an existing role that is not a province reader (the
owner, vanphong_reporting, a person's role) is refused rather than narrowed or dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

#: The national reporting role and the province readers' group (migration 0009).
NATIONAL_ROLE = "vanphong_reporting"
READERS_GROUP = "vanphong_province_readers"

#: Lower-case, unquoted-identifier names only: what an operator types is what PostgreSQL stores.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_RESERVED = frozenset(
    {
        NATIONAL_ROLE,
        READERS_GROUP,
        "postgres",
        "public",
        "none",
        "current_user",
        "session_user",
        "current_role",
        "all",
    }
)


class AccessError(Exception):
    """A request the operator must change (one line, printed as is; exit status 1)."""


@dataclass(frozen=True)
class RoleState:
    """What PostgreSQL knows of a role name: whether the role exists, and its province in this
    database's ``core.province_readers`` (None: not a province reader here)."""

    exists: bool
    province: str | None = None
    superuser: bool = False


def role_name(text: str) -> str:
    """``text`` as a province reader's role name, or AccessError saying what is wrong."""
    if not _ROLE_NAME.fullmatch(text):
        raise AccessError(
            f"bad role name {text!r}: 1-63 characters, lower-case letters, digits and _,"
            " not starting with a digit"
        )
    if text.startswith("pg_") or text in _RESERVED:
        raise AccessError(
            f"bad role name {text!r}: reserved (pg_*, {', '.join(sorted(_RESERVED))})"
        )
    return text


def province_name(text: str, known: Iterable[str]) -> str:
    """``text`` (normalised to NFC, as every event's text is) if it is the current province of
    a registered unit, else AccessError listing the known ones."""
    name = unicodedata.normalize("NFC", text.strip())
    provinces = sorted(set(known))
    if name in provinces:
        return name
    shown = ", ".join(provinces[:20]) + (" …" if len(provinces) > 20 else "")
    raise AccessError(
        f"unknown province {text!r}: no registered unit has it"
        + (f"; known: {shown}" if provinces else "; no unit is registered yet")
    )


def password_text(raw: bytes, source: str) -> str:
    """A password file's content: one line (its end of line dropped), UTF-8, not empty."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AccessError(f"{source}: the password is not UTF-8") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text or "\x00" in text or "\n" in text:
        raise AccessError(f"{source}: expected one non-empty line (the password)")
    return text


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def grant_statements(role: str, province: str, state: RoleState, verifier: str | None) -> list[str]:
    """The statements that make ``role`` a reader of ``province`` (idempotent), given what
    exists. ``verifier``: the password as a SCRAM verifier, or None to leave it as it is."""
    if state.exists and state.province is None:
        raise AccessError(
            f"role {role} exists and is not a province reader of this database:"
            " choose another name (only roles made by grant-province are changed)"
        )
    if state.superuser:
        raise AccessError(f"role {role} is a superuser: it would see everything")
    statements = []
    if not state.exists:
        statements.append(
            f"CREATE ROLE {ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
            " NOREPLICATION NOBYPASSRLS INHERIT"
        )
    login = f"ALTER ROLE {ident(role)} LOGIN"
    statements.append(login + (f" PASSWORD {literal(verifier)}" if verifier else ""))
    statements += [
        f"GRANT {ident(READERS_GROUP)} TO {ident(role)}",
        f"GRANT {ident(role)} TO {ident(NATIONAL_ROLE)}",
        "INSERT INTO core.province_readers (role_name, province)"
        f" VALUES ({literal(role)}, {literal(province)})"
        " ON CONFLICT (role_name) DO UPDATE SET province = excluded.province, granted_at = now()"
        " WHERE core.province_readers.province IS DISTINCT FROM excluded.province",
    ]
    return statements


def revoke_statements(role: str, state: RoleState) -> list[str]:
    """The statements that remove province reader ``role`` (empty: nothing to do)."""
    if state.exists and state.province is None:
        raise AccessError(f"role {role} is not a province reader of this database: left as it is")
    statements = []
    if state.province is not None:
        statements.append(f"DELETE FROM core.province_readers WHERE role_name = {literal(role)}")
    if state.exists:
        statements.append(f"DROP ROLE {ident(role)}")
    return statements
