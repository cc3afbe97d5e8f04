"""Who is looking, from an ID token's claims (vanphong/reporting/page/viewer.py): pure."""

from __future__ import annotations

import pytest

from vanphong.reporting.page.viewer import nothing_message, viewer_from_claims

BASE = {"sub": "abc", "preferred_username": "vinhlong", "name": "Chuyên viên Vĩnh Long"}


def test_a_national_role_sees_every_province_whatever_its_groups() -> None:
    viewer = viewer_from_claims(
        BASE | {"vanphong_roles": ["offline_access", "vanphong-national"], "groups": ["/x"]}
    )
    assert (viewer.scope, viewer.province) == ("national", None)


def test_one_province_group_or_a_province_claim_names_the_province() -> None:
    grouped = viewer_from_claims(BASE | {"groups": ["/staff", "/provinces/Vĩnh Long"]})
    assert (grouped.scope, grouped.province) == ("province", "Vĩnh Long")
    attribute = viewer_from_claims(BASE | {"province": " Cần Thơ "})
    assert (attribute.scope, attribute.province) == ("province", "Cần Thơ")
    both_same = viewer_from_claims(BASE | {"groups": ["/provinces/Cần Thơ"], "province": "Cần Thơ"})
    assert both_same.province == "Cần Thơ"
    assert grouped.who == "vinhlong (abc)"


def test_no_province_or_two_sees_nothing_and_is_told_why() -> None:
    none = viewer_from_claims(BASE | {"groups": ["/provinces/"], "vanphong_roles": "national"})
    assert (none.scope, none.province) == ("none", None)
    assert "no province" in none.why_nothing
    assert "chưa được gán tỉnh" in nothing_message(none, "vi")
    two = viewer_from_claims(BASE | {"groups": ["/provinces/Vĩnh Long", "/provinces/Cần Thơ"]})
    assert two.scope == "none" and "Cần Thơ, Vĩnh Long" in two.why_nothing
    assert "assigned no province" in nothing_message(two, "en")


def test_only_loopback_addresses_are_open_without_a_login() -> None:
    from vanphong.ground.settings import Settings
    from vanphong.reporting.page.server import OpenToAll, check_exposure, loopback

    assert all(loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(loopback(h) for h in ("0.0.0.0", "::", "10.1.2.3", "baocao.example.vn"))
    open_page = Settings(oidc_issuer="")
    check_exposure(open_page, "127.0.0.1", no_auth=False)
    check_exposure(open_page, "0.0.0.0", no_auth=True)
    check_exposure(Settings(oidc_issuer="http://idp/realms/x"), "0.0.0.0", no_auth=False)
    with pytest.raises(OpenToAll, match="--no-auth"):
        check_exposure(open_page, "0.0.0.0", no_auth=False)
