"""Errors as types: why a message was rejected, and what is merely transient.

A :class:`Rejection` carries one of the contract's reasons (CONTRACT.md §6) and maps straight to
the dead-letter headers. A :class:`TransientError` (database or broker unavailable) is retried
by the worker and never dead-lettered; a :class:`ContentionError` (two writers raced) is retried
too, but within a budget, since data can make the same "race" happen every time. Anything else
that a write raises is a deterministic failure: the worker's safety net (vanphong/core/safetynet.py)
finds the message that causes it, or stops the worker if it is the system's.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    UNDECODABLE = "undecodable"
    UNKNOWN_SCHEMA = "unknown_schema"
    INVALID_FIELD = "invalid_field"
    INVALID_DOCUMENT_NUMBER = "invalid_document_number"
    DOCUMENT_TYPE_MISMATCH = "document_type_mismatch"
    MERGE_CYCLE = "merge_cycle"
    UNIT_ALREADY_MERGED = "unit_already_merged"


class Rejection(Exception):
    """A message that breaks the contract: it goes to the dead-letter topic, unchanged."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rejection) and (self.reason, self.detail) == (
            other.reason,
            other.detail,
        )

    def __hash__(self) -> int:
        return hash((self.reason, self.detail))


class TransientError(Exception):
    """A failure outside the message (database or broker down): retry, never dead-letter."""


class ContentionError(TransientError):
    """Two writers met (a unique violation on a new entity, a deadlock, a serialization failure,
    a lock not available): the retry normally finds the other's commit and goes through. Retried
    within ``VANPHONG_CONTENTION_RETRIES``; a batch that keeps failing this way is then treated as
    a deterministic failure (the original error is the ``__cause__``)."""


#: The longest ``vanphong.error.detail`` that the safety net writes (a database's message can
#: quote a whole row).
MAX_DETAIL = 2000


def refused_by_database(sqlstate: str, error: str) -> Rejection:
    """The dead letter of a message that PostgreSQL refused on its own, with a data error
    (vanphong/core/safetynet.py). The contract's list of reasons is closed and has none for "the
    database refused it", so it is ``invalid_field`` (a value outside what the sink can store);
    the detail says that PostgreSQL refused it, with the SQLSTATE and the database's words."""
    text = error.replace("\x00", "\\0")
    detail = f"PostgreSQL refused this message (SQLSTATE {sqlstate}): {text}"
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "…"
    return Rejection(Reason.INVALID_FIELD, detail)
