"""Errors as types: why a message was rejected, and what is merely transient.

A :class:`Rejection` carries one of the contract's reasons (CONTRACT.md §6) and maps straight to
the dead-letter headers. A :class:`TransientError` (database or broker unavailable) is retried
by the worker and never dead-lettered.
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
