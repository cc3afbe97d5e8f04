"""What a viewer may read, enforced by PostgreSQL: each request's transaction runs as the
viewer's province reader (``SET LOCAL ROLE``), so every view and ``activity_summary`` answer
only about that province's units (migration 0009, ``vanphong access``; the interface is
README's "Province readers").

The page connects as ``vanphong_reporting``, which is a member of every province reader. Per
transaction: a national viewer (or the page without a login) stays ``vanphong_reporting``; a
province viewer becomes the reader ``reporting.province_roles`` names for the province (none:
refused, never a national fallback); a viewer without a province is refused before any query.
``SET LOCAL`` ends with the transaction, so a pooled connection goes back clean."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from vanphong.reporting.labels import Lang
from vanphong.reporting.page.selection import BadRequest
from vanphong.reporting.page.viewer import Viewer, nothing_message

T = TypeVar("T")

ROLE_OF_PROVINCE = (
    "SELECT role_name FROM reporting.province_roles WHERE province = $1 ORDER BY role_name LIMIT 1"
)

_NO_READER = {
    "vi": "Chưa có vai trò đọc số liệu cho tỉnh “{value}”: quản trị viên cần chạy"
    " `vanphong access grant-province … --province '{value}'`.",
    "en": "There is no reader for the province “{value}”: an operator runs"
    " `vanphong access grant-province … --province '{value}'`.",
}
_NOT_YOURS = {
    "vi": "Đơn vị “{value}” không thuộc tỉnh của bạn.",
    "en": "The unit “{value}” is not your province's.",
}


def no_province(viewer: Viewer, lang: Lang) -> BadRequest:
    return BadRequest(403, "no_province", "", viewer.username, nothing_message(viewer, lang))


def not_yours(unit_id: str, lang: Lang) -> BadRequest:
    return BadRequest(403, "not_your_unit", "unit", unit_id, _NOT_YOURS[lang].format(value=unit_id))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def as_viewer(
    conn: asyncpg.Connection,
    viewer: Viewer,
    lang: Lang,
    work: Callable[[asyncpg.Connection], Awaitable[T]],
    unit_id: str = "",
) -> T:
    """``work`` in one read-only transaction as what ``viewer`` may read. PostgreSQL's refusal
    of another province's unit (42501) becomes :func:`not_yours` about ``unit_id``."""
    if viewer.scope == "none":
        raise no_province(viewer, lang)
    async with conn.transaction(readonly=True):
        if viewer.scope == "province":
            role = await conn.fetchval(ROLE_OF_PROVINCE, viewer.province)
            if role is None:
                value = viewer.province or ""
                raise BadRequest(403, "no_reader", "", value, _NO_READER[lang].format(value=value))
            await conn.execute(f"SET LOCAL ROLE {quote_ident(role)}")
            try:
                return await work(conn)
            except asyncpg.InsufficientPrivilegeError as exc:
                raise not_yours(unit_id, lang) from exc
        return await work(conn)
