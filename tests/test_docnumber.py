import unicodedata

import pytest

from vanphong.core.docnumber import CODES_BY_DOC_TYPE, check_document_number, parse_document_number
from vanphong.core.rejection import Reason, Rejection

EVERY_CODE = [(doc_type, code) for doc_type, codes in CODES_BY_DOC_TYPE.items() for code in codes]


@pytest.mark.parametrize(("doc_type", "code"), EVERY_CODE)
def test_every_doc_type_accepts_each_of_its_codes(doc_type: str, code: str) -> None:
    check_document_number(f"12-{code}/TU", doc_type)


@pytest.mark.parametrize(("doc_type", "code"), EVERY_CODE)
def test_every_code_is_refused_for_a_doc_type_it_does_not_belong_to(
    doc_type: str, code: str
) -> None:
    other = next(t for t, codes in CODES_BY_DOC_TYPE.items() if code not in codes)
    with pytest.raises(Rejection) as caught:
        check_document_number(f"12-{code}/TU", other)
    assert caught.value.reason is Reason.DOCUMENT_TYPE_MISMATCH
    assert code in caught.value.detail and other in caught.value.detail


def test_qd_is_both_a_decision_and_a_regulation() -> None:
    check_document_number("05-QĐ/TU", "QUYET_DINH")
    check_document_number("05-QĐ/TU", "QUY_DINH")
    check_document_number("05-QĐi/TU", "QUY_DINH")


def test_joint_documents_join_organ_codes_with_a_dash() -> None:
    assert parse_document_number("05-QC/BTCTU-BDVTU").organs == ("BTCTU", "BDVTU")


def test_nfd_input_compares_after_normalisation() -> None:
    nfd = unicodedata.normalize("NFD", "03-CTHĐ/ĐU")
    assert parse_document_number(nfd).code == "CTHĐ"


@pytest.mark.parametrize(
    "number",
    ["163/QĐ-UBND", "KH/TU", "86-KH", "86-XX/TU", "86-KH/", "86-KH/tu", "-KH/TU", "86 - KH/TU", ""],
)
def test_what_is_not_a_party_symbol_is_an_invalid_document_number(number: str) -> None:
    with pytest.raises(Rejection) as caught:
        parse_document_number(number)
    assert caught.value.reason is Reason.INVALID_DOCUMENT_NUMBER
