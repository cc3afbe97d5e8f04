"""Party document numbers (số ký hiệu): ``<digits>-<type code>/<organ>[-<organ>…]``.

``86-KH/TU`` is plan no. 86 of the provincial committee; joint documents join organ codes with
``-`` (``05-QC/BTCTU-BDVTU``). State documents use the other order (``163/QĐ-UBND``) and are
not Party symbols, so they are rejected here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from vanphong.core.rejection import Reason, Rejection

# DocType -> the type codes accepted for it (CONTRACT.md §4). QĐ is both Quyết định and the
# newer spelling of Quy định (QĐi, 2018–2019 style).
CODES_BY_DOC_TYPE: dict[str, frozenset[str]] = {
    "NGHI_QUYET": frozenset({"NQ"}),
    "QUYET_DINH": frozenset({"QĐ"}),
    "CHI_THI": frozenset({"CT"}),
    "KET_LUAN": frozenset({"KL"}),
    "QUY_CHE": frozenset({"QC"}),
    "QUY_DINH": frozenset({"QĐi", "QĐ"}),
    "THONG_TRI": frozenset({"TT"}),
    "HUONG_DAN": frozenset({"HD"}),
    "THONG_BAO": frozenset({"TB"}),
    "THONG_CAO": frozenset({"TC"}),
    "BAO_CAO": frozenset({"BC"}),
    "KE_HOACH": frozenset({"KH"}),
    "QUY_HOACH": frozenset({"QH"}),
    "CHUONG_TRINH": frozenset({"CTr", "CTHĐ"}),
    "DE_AN": frozenset({"ĐA"}),
    "PHUONG_AN": frozenset({"PA"}),
    "TO_TRINH": frozenset({"TTr"}),
    "CONG_VAN": frozenset({"CV"}),
    "BIEN_BAN": frozenset({"BB"}),
}
ALL_CODES: frozenset[str] = frozenset().union(*CODES_BY_DOC_TYPE.values())

_ORGAN = r"[A-ZĐ][A-ZĐ0-9]*"
_PATTERN = re.compile(
    rf"^(?P<serial>[0-9]+)-(?P<code>[^/\s-]+)/(?P<organs>{_ORGAN}(?:-{_ORGAN})*)$"
)


@dataclass(frozen=True)
class DocumentNumber:
    serial: int
    code: str
    organs: tuple[str, ...]


def parse_document_number(number: str) -> DocumentNumber:
    """Parse a Party symbol; raise an ``invalid_document_number`` :class:`Rejection` if not."""
    text = unicodedata.normalize("NFC", number).strip()
    match = _PATTERN.match(text)
    if match is None:
        raise Rejection(
            Reason.INVALID_DOCUMENT_NUMBER,
            f"number {number!r} is not a Party symbol <digits>-<code>/<organ> (e.g. 86-KH/TU)",
        )
    code = match["code"]
    if code not in ALL_CODES:
        raise Rejection(
            Reason.INVALID_DOCUMENT_NUMBER,
            f"number {number!r}: unknown type code {code!r}"
            f" (known: {', '.join(sorted(ALL_CODES))})",
        )
    return DocumentNumber(int(match["serial"]), code, tuple(match["organs"].split("-")))


def check_document_number(number: str, doc_type: str) -> None:
    """Raise a :class:`Rejection` unless ``number`` is a Party symbol fitting ``doc_type``."""
    parsed = parse_document_number(number)
    allowed = CODES_BY_DOC_TYPE.get(doc_type, frozenset())
    if parsed.code not in allowed:
        raise Rejection(
            Reason.DOCUMENT_TYPE_MISMATCH,
            f"number {number!r} has type code {parsed.code!r}, but doc_type {doc_type} takes "
            f"{' or '.join(sorted(allowed)) or 'no code'}",
        )
