"""libpq connection URLs (vanphong/ground/dsn.py): parsed as libpq parses them, rendered so that
libpq reads back the same parts. libpq itself (psycopg's ``conninfo_to_dict``) is the oracle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from vanphong.ground.dsn import Dsn, DsnError, Host, parse_dsn


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://vanphong:vanphong@127.0.0.1:5432/vanphong",
            Dsn((Host("127.0.0.1", 5432),), "vanphong", "vanphong", "vanphong"),
        ),
        (
            "postgresql://u:p@h1:5432,h2:5433/db?target_session_attrs=read-write",
            Dsn(
                (Host("h1", 5432), Host("h2", 5433)),
                "u",
                "p",
                "db",
                (("target_session_attrs", "read-write"),),
            ),
        ),
        (
            "postgres://u@[::1]:5432,[2001:db8::7],db2/x",
            Dsn(
                (Host("::1", 5432), Host("2001:db8::7"), Host("db2")),
                "u",
                None,
                "x",
                (),
                "postgres",
            ),
        ),
        ("postgresql://h", Dsn((Host("h"),))),
        ("postgresql:///db?host=%2Ftmp", Dsn((), None, None, "db", (("host", "/tmp"),))),
        (
            "postgresql://a%40b:p%3Aw%2Fo%40rd%25@h:1/d%20b",
            Dsn((Host("h", 1),), "a@b", "p:w/o@rd%", "d b"),
        ),
        (
            "postgresql://u:p@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=a+b",
            Dsn(
                (Host("h"),),
                "u",
                "p",
                "db",
                (
                    ("sslmode", "verify-full"),
                    ("sslrootcert", "/etc/ca.pem"),
                    ("application_name", "a+b"),
                ),
            ),
        ),
        (
            "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
            Dsn((Host("/var/run/postgresql"),), database="db"),
        ),
    ],
)
def test_a_url_is_read_as_libpq_reads_it(url: str, expected: Dsn) -> None:
    assert parse_dsn(url) == expected
    assert conninfo_to_dict(parse_dsn(url).render()) == conninfo_to_dict(url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u:p@h/db", "postgresql://"),
        ("host=h dbname=db", "postgresql://"),
        ("postgresql://u:p@h1:5432,h2:x/db", "port 'x' of host 'h2'"),
        ("postgresql://u:p@h1:99999/db", "port '99999'"),
        ("postgresql://u:p@[::1/db", "IPv6"),
        ("postgresql://u:p@h/db?sslmode", "'sslmode' has no value"),
    ],
)
def test_what_is_not_a_libpq_url_is_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(DsnError, match=None) as raised:
        parse_dsn(url)
    assert says in str(raised.value)
    assert ":p@" not in str(raised.value)  # never the password


def test_the_password_is_hidden_in_messages() -> None:
    dsn = parse_dsn("postgresql://u:s%40cret@h1:5432,h2:5432/db?target_session_attrs=read-write")
    assert dsn.redacted() == "postgresql://u:***@h1:5432,h2:5432/db?target_session_attrs=read-write"
    assert parse_dsn("postgresql://u@h/db").redacted() == "postgresql://u@h/db"


def test_login_and_database_are_replaced_and_everything_else_kept() -> None:
    dsn = parse_dsn(
        "postgresql://u:p@[::1]:5432,h2/db?target_session_attrs=read-write&sslmode=require"
    )
    other = dsn.with_login("vanphong_reporting", "r").with_database("reports")
    assert other.render() == (
        "postgresql://vanphong_reporting:r@[::1]:5432,h2/reports"
        "?target_session_attrs=read-write&sslmode=require"
    )
    assert other.param("target_session_attrs") == "read-write"
    assert other.param("port") is None


_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_hostname = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)
_ipv6 = st.ip_addresses(v=6).map(str)
_port = st.none() | st.integers(1, 65535)
_hosts = st.lists(st.builds(Host, _hostname | _ipv6, _port), min_size=1, max_size=4)
_param_names = st.sampled_from(
    ["target_session_attrs", "sslmode", "application_name", "connect_timeout", "options"]
)


@given(
    hosts=_hosts,
    user=st.none() | _text.filter(bool),
    password=st.none() | _text,
    database=st.none() | _text.filter(bool),
    params=st.lists(st.tuples(_param_names, _text), max_size=3, unique_by=lambda p: p[0]),
)
def test_a_rendered_url_reads_back_the_same_here_and_in_libpq(
    hosts: list[Host],
    user: str | None,
    password: str | None,
    database: str | None,
    params: list[tuple[str, str]],
) -> None:
    if user is None:
        password = None  # a password needs a user in a URL
    dsn = Dsn(tuple(hosts), user, password, database, tuple(params))
    url = dsn.render()
    assert parse_dsn(url) == dsn
    libpq = conninfo_to_dict(url)
    assert libpq.get("host", "").split(",") == [h.name for h in hosts]
    ports = [str(h.port) if h.port is not None else "" for h in hosts]
    assert libpq.get("port", "").split(",") == ports
    assert libpq.get("user") == (user or None)
    assert libpq.get("password") == (password or None)  # libpq: empty is none
    assert libpq.get("dbname") == database
    for name, value in params:
        assert libpq.get(name) == value
