"""Who is looking at the reporting page, read from the claims of an OpenID Connect ID token.
Pure: the claims in, a :class:`Viewer` out, and the words that tell a person why they see
nothing.

The rule (README, "The reporting page: who is looking"):

* **national**: the claim ``vanphong_roles`` (Keycloak: the realm roles, by a protocol mapper)
  holds ``vanphong-national``: the viewer sees every province, as ``vanphong_reporting``;
* **a province**: the claim ``groups`` (Keycloak: group membership, full paths) holds exactly
  one group under ``/provinces/``; its last segment is the province, spelled as in
  ``reporting.units.province`` (``/provinces/Vĩnh Long`` → ``Vĩnh Long``). A plain string
  claim ``province`` (an attribute mapped by another identity provider) is read the same way;
* **nothing**: no such claim, or two provinces (which one would be a guess): the page shows
  no figures and says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

NATIONAL_CLAIM = "vanphong_roles"
NATIONAL_ROLE = "vanphong-national"
GROUPS_CLAIM = "groups"
PROVINCE_GROUP = "/provinces/"
PROVINCE_CLAIM = "province"

Scope = Literal["national", "province", "none"]


@dataclass(frozen=True)
class Viewer:
    """A person logged in (or ``anonymous`` when the page runs without OpenID Connect)."""

    subject: str
    username: str
    name: str
    scope: Scope
    province: str | None = None
    why_nothing: str = ""  # for scope "none": which claim was missing or ambiguous

    @property
    def who(self) -> str:
        """For the audit log: the user name and the stable subject."""
        return f"{self.username} ({self.subject})"

    def as_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "name": self.name,
            "scope": self.scope,
            "province": self.province,
            "why_nothing": self.why_nothing,
        }


ANONYMOUS = Viewer("-", "anonymous", "", "national")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def provinces_in(claims: Mapping[str, Any]) -> list[str]:
    """The provinces the claims name: groups under ``/provinces/`` and a ``province`` string."""
    found = [
        g[len(PROVINCE_GROUP) :].split("/")[0]
        for g in _strings(claims.get(GROUPS_CLAIM))
        if g.startswith(PROVINCE_GROUP) and len(g) > len(PROVINCE_GROUP)
    ]
    found += [p.strip() for p in _strings(claims.get(PROVINCE_CLAIM)) if p.strip()]
    return sorted(set(found))


def viewer_from_claims(claims: Mapping[str, Any]) -> Viewer:
    """The viewer an ID token's claims describe (see the module's docstring for the rule)."""
    subject = str(claims.get("sub", ""))
    username = str(claims.get("preferred_username") or subject)
    name = str(claims.get("name") or username)
    if NATIONAL_ROLE in _strings(claims.get(NATIONAL_CLAIM)):
        return Viewer(subject, username, name, "national")
    provinces = provinces_in(claims)
    if len(provinces) == 1:
        return Viewer(subject, username, name, "province", provinces[0])
    why = (
        f"more than one province ({', '.join(provinces)})"
        if provinces
        else f"no province (claim {GROUPS_CLAIM!r} has no {PROVINCE_GROUP}… group, and no"
        f" {PROVINCE_CLAIM!r} claim)"
    )
    return Viewer(subject, username, name, "none", why_nothing=why)


NOTHING_VI = (
    "Tài khoản {user} chưa được gán tỉnh nào ({why}), nên trang không hiển thị số liệu nào."
    " Hãy đề nghị quản trị viên thêm tài khoản vào nhóm tỉnh (/provinces/<tên tỉnh>) hoặc gán"
    " vai trò {role}."
)
NOTHING_EN = (
    "The account {user} is assigned no province ({why}), so the page shows no figures. Ask an"
    " administrator to add it to a province group (/provinces/<province>) or give it the role"
    " {role}."
)


def nothing_message(viewer: Viewer, lang: str) -> str:
    """Why a viewer with no province sees nothing, in the page's language."""
    template = NOTHING_VI if lang == "vi" else NOTHING_EN
    return template.format(user=viewer.username, why=viewer.why_nothing, role=NATIONAL_ROLE)
