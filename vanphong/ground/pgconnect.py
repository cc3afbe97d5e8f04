"""Connecting through a multi-host ``VANPHONG_DATABASE_URL`` host by host, each with its own
deadline, as libpq's ``connect_timeout`` does.

asyncpg accepts several hosts and ``target_session_attrs``, but its ``timeout`` covers all the
hosts together: a first host that never answers (a frozen server, a machine gone without a
reset, a firewall that drops packets: exactly an old primary after a failover) uses the whole
deadline, and the next host, the new primary, is never tried. The worker's pool would then fail
every reconnection for as long as the old primary stays listed first. :func:`connect` tries the
hosts in order instead, each within ``per_host_timeout_s``, and moves on when one does not
answer, refuses, is starting or shutting down, or is not what ``target_session_attrs`` asks for.
A wrong password or database stops at once, as in asyncpg, since every host would say the
same. A URL of one host, or ``target_session_attrs=prefer-standby`` (which needs every host
seen), is asyncpg's own business.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from vanphong.ground.dsn import parse_dsn

#: How long one host may take to accept a session (libpq: ``connect_timeout``).
PER_HOST_TIMEOUT_S = 10.0

#: What makes the next host worth trying (asyncpg's own rule, plus no answer in time).
_NEXT_HOST = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.TargetServerAttributeNotMatched,
)


async def connect(
    dsn: str, *, per_host_timeout_s: float = PER_HOST_TIMEOUT_S, **kwargs: Any
) -> asyncpg.Connection:
    """``asyncpg.connect(dsn, **kwargs)``, host by host (see the module docstring); raises what
    the last host raised. Usable as a pool's ``connect=``: the pool's arguments pass through,
    and a ``timeout`` among them bounds each host instead of ``per_host_timeout_s``."""
    url = parse_dsn(dsn)
    if len(url.hosts) < 2 or url.param("target_session_attrs") == "prefer-standby":
        return await asyncpg.connect(dsn, **kwargs)
    timeout = kwargs.pop("timeout", None) or per_host_timeout_s
    last: BaseException | None = None
    for host in url.hosts:
        try:
            return await asyncpg.connect(url.with_hosts(host).render(), timeout=timeout, **kwargs)
        except _NEXT_HOST as exc:
            last = exc
    assert last is not None
    raise last
