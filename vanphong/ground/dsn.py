"""libpq connection URLs (``VANPHONG_DATABASE_URL``), parsed and rendered by one module.

``postgresql://[user[:password]@][host[:port][,host[:port]…]][/database][?name=value&…]`` is
libpq's URI form (PostgreSQL docs, "Connection URIs"). Several hosts name a primary and its
standbys, and ``target_session_attrs=read-write`` makes libpq, psycopg and asyncpg connect to
whichever of them accepts writes now (CONTRACT.md §1, v1.2). :mod:`urllib.parse` reads a URL as
having one host, so ``urlsplit(url).port`` fails on ``h1:5432,h2:5432``: every place that takes
such a URL apart or builds one (the reporting role's URL, a test's own database, messages
without the password, the migrations' connection) goes through :func:`parse_dsn` and
:meth:`Dsn.render` instead.

Every part is percent-decoded when parsed and encoded again when rendered, so a password with
``@``, ``:`` or ``/`` survives a round trip; an IPv6 address is written in brackets
(``[::1]:5432``); a host without a port keeps none (libpq then uses ``port=`` or 5432). Query
parameters are kept in order, byte for byte after decoding (``+`` is a plus, as in libpq, not a
space). The key=value form of libpq (``host=… dbname=…``) is not a URL and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432

_BRACKETED = re.compile(r"\[([^\]]*)\](?::(.*))?")


class DsnError(ValueError):
    """Not a libpq connection URL; the message says which part is wrong (never the password)."""


@dataclass(frozen=True)
class Host:
    """One ``host[:port]`` of the list; ``port`` None when the URL gives none."""

    name: str
    port: int | None = None

    @property
    def port_or_default(self) -> int:
        return DEFAULT_PORT if self.port is None else self.port

    def render(self) -> str:
        # IPv6 in brackets; a Unix socket's directory percent-encoded (libpq's "%2Fvar%2Frun")
        name = f"[{self.name}]" if ":" in self.name else quote(self.name, safe="")
        return name if self.port is None else f"{name}:{self.port}"


@dataclass(frozen=True)
class Dsn:
    """A libpq connection URL as data; None means "not in the URL" (libpq's defaults apply)."""

    hosts: tuple[Host, ...] = ()
    user: str | None = None
    password: str | None = None
    database: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    scheme: str = "postgresql"

    def with_login(self, user: str, password: str | None) -> Dsn:
        return replace(self, user=user, password=password)

    def with_database(self, database: str) -> Dsn:
        return replace(self, database=database)

    def with_hosts(self, *hosts: Host) -> Dsn:
        return replace(self, hosts=tuple(hosts))

    def param(self, name: str) -> str | None:
        """The last value of the query parameter ``name`` (libpq takes the last), or None."""
        found = [v for k, v in self.params if k == name]
        return found[-1] if found else None

    def render(self) -> str:
        """The URL again, every part encoded so that libpq reads back these parts."""
        return self._render(None if self.password is None else quote(self.password, safe=""))

    def redacted(self) -> str:
        """The URL for messages and logs: the password, if any, as ``***``."""
        return self._render(None if self.password is None else "***")

    def _render(self, password: str | None) -> str:
        login = ""
        if self.user is not None or password is not None:
            login = quote(self.user or "", safe="")
            if password is not None:
                login += ":" + password
            login += "@"
        hosts = ",".join(h.render() for h in self.hosts)
        path = "" if self.database is None else "/" + quote(self.database, safe="")
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='/:,')}" for k, v in self.params)
        return f"{self.scheme}://{login}{hosts}{path}" + (f"?{query}" if query else "")


def parse_dsn(url: str) -> Dsn:
    """Read a libpq connection URL; raise :class:`DsnError` naming what is wrong."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme not in SCHEMES:
        raise DsnError("is not a postgresql:// URL (postgresql://user:password@host:port/db)")
    rest, _, query = rest.partition("?")
    rest = rest.partition("#")[0]
    netloc, slash, path = rest.partition("/")
    login, at, hostlist = netloc.rpartition("@")
    user = password = None
    if at:
        user_part, colon, password_part = login.partition(":")
        user = unquote(user_part)
        password = unquote(password_part) if colon else None
    return Dsn(
        hosts=_hosts(hostlist),
        user=user,
        password=password,
        database=unquote(path) if slash and path else None,
        params=_params(query),
        scheme=scheme,
    )


def _hosts(hostlist: str) -> tuple[Host, ...]:
    if not hostlist:
        return ()
    return tuple(_host(spec) for spec in hostlist.split(","))


def _host(spec: str) -> Host:
    if spec.startswith("["):
        match = _BRACKETED.fullmatch(spec)
        if match is None:
            raise DsnError(f"host {spec!r} is not an IPv6 address in brackets ([::1]:5432)")
        name, port = match.group(1), match.group(2) or ""
    else:
        name, _, port = spec.partition(":")
    name = unquote(name)
    if not port:
        return Host(name)
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise DsnError(f"port {port!r} of host {name!r} is not a port number")
    return Host(name, int(port))


def _params(query: str) -> tuple[tuple[str, str], ...]:
    params = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, eq, value = pair.partition("=")
        if not eq:
            raise DsnError(f"query parameter {unquote(name)!r} has no value (name=value)")
        params.append((unquote(name), unquote(value)))
    return tuple(params)
