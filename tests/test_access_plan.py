"""vanphong/access/plan.py without a database: names, provinces, password files, and the
statements of a grant and a revoke for each state a role can be in."""

from __future__ import annotations

import unicodedata

import pytest

from vanphong.access.plan import (
    AccessError,
    RoleState,
    grant_statements,
    password_text,
    province_name,
    revoke_statements,
    role_name,
)


@pytest.mark.parametrize("name", ["hanoi_reader", "_r", "r" * 63, "tinh_a2"])
def test_plain_lower_case_names_are_accepted(name: str) -> None:
    assert role_name(name) == name


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Bad-Name", "bad role name"),
        ("", "bad role name"),
        ("1reader", "bad role name"),
        ("r" * 64, "bad role name"),
        ('x"; DROP ROLE postgres; --', "bad role name"),
        ("pg_monitor", "reserved"),
        ("vanphong_reporting", "reserved"),
        ("vanphong_province_readers", "reserved"),
        ("postgres", "reserved"),
        ("public", "reserved"),
    ],
)
def test_other_names_are_refused_saying_why(name: str, words: str) -> None:
    with pytest.raises(AccessError, match=words):
        role_name(name)


def test_a_province_is_matched_after_nfc_and_an_unknown_one_lists_the_known() -> None:
    known = ["Vĩnh Long", "Tuyên Quang"]
    assert province_name(unicodedata.normalize("NFD", " Vĩnh Long "), known) == "Vĩnh Long"
    with pytest.raises(AccessError, match=r"unknown province 'Hà Tây'.*Tuyên Quang, Vĩnh Long"):
        province_name("Hà Tây", known)
    with pytest.raises(AccessError, match="no unit is registered yet"):
        province_name("Hà Tây", [])


def test_a_password_file_is_one_utf8_line() -> None:
    assert password_text("mật khẩu\n".encode(), "f") == "mật khẩu"
    assert password_text(b"p\r\n", "f") == "p"
    for bad in (b"", b"\n", b"a\nb\n", b"a\x00b", b"\xff\xfe"):
        with pytest.raises(AccessError, match="f: "):
            password_text(bad, "f")


def test_a_new_role_is_created_joined_granted_to_the_page_and_mapped() -> None:
    sql = grant_statements("r_a", "Tỉnh A", RoleState(exists=False), "SCRAM-SHA-256$x")
    assert sql[0].startswith('CREATE ROLE "r_a" LOGIN NOSUPERUSER')
    assert sql[1] == "ALTER ROLE \"r_a\" LOGIN PASSWORD 'SCRAM-SHA-256$x'"
    assert 'GRANT "vanphong_province_readers" TO "r_a"' in sql
    assert 'GRANT "r_a" TO "vanphong_reporting"' in sql
    assert "VALUES ('r_a', 'Tỉnh A')" in sql[-1]


def test_granting_again_creates_nothing_and_keeps_the_password() -> None:
    sql = grant_statements("r_a", "Tỉnh A", RoleState(exists=True, province="Tỉnh A"), None)
    assert not any(s.startswith("CREATE") for s in sql)
    assert 'ALTER ROLE "r_a" LOGIN' in sql and not any("PASSWORD" in s for s in sql)


def test_a_role_that_is_not_a_province_reader_is_never_changed() -> None:
    with pytest.raises(AccessError, match="not a province reader"):
        grant_statements("vanphong", "Tỉnh A", RoleState(exists=True), None)
    with pytest.raises(AccessError, match="superuser"):
        grant_statements("r", "Tỉnh A", RoleState(True, "Tỉnh A", superuser=True), None)
    with pytest.raises(AccessError, match="not a province reader"):
        revoke_statements("vanphong", RoleState(exists=True))


def test_quotes_in_values_stay_inside_their_literals() -> None:
    sql = grant_statements("r", "O'Brien", RoleState(exists=False), "a'b")
    assert "PASSWORD 'a''b'" in sql[1] and "'O''Brien'" in sql[-1]


def test_revoke_forgets_and_drops_and_then_has_nothing_to_do() -> None:
    assert revoke_statements("r", RoleState(exists=True, province="Tỉnh A")) == [
        "DELETE FROM core.province_readers WHERE role_name = 'r'",
        'DROP ROLE "r"',
    ]
    assert revoke_statements("r", RoleState(exists=False, province="Tỉnh A")) == [
        "DELETE FROM core.province_readers WHERE role_name = 'r'"
    ]
    assert revoke_statements("r", RoleState(exists=False)) == []
