"""The safety net: a batch that fails deterministically is split until the message at fault is
found, which is dead-lettered; the rest goes through.

Validation (vanphong/core/rules.py) refuses what we know PostgreSQL cannot store. This catches the
classes nobody foresaw: a write that fails with an error that is neither transient nor a race
that a retry resolves. Without it, one message would stop its writer for good, and a restart
would read the same batch and fail again.

The rule (:func:`write_netted`):

1. Write the batch. If it fails, write its first half, then its second half, each the same way
   (bisection). The halves are written in order, so a partition's offsets still commit in
   offset order, and every message that can be written is written exactly once.
2. A single message that fails on its own is judged by the error (``blame``) and, where the
   error alone cannot tell, by a rehearsal:

   * **the message's** when the database refuses its data: SQLSTATE class 22 (data exception:
     U+0000 in text, a value out of range), 23 (integrity: a CHECK, NOT NULL or unique
     constraint, including a unique violation that outlasted its race budget) or 54 (program
     limit: an index row too large). It is written as a dead letter (``invalid_field``, with the
     SQLSTATE and the database's message in the detail) and the batch goes on.
   * otherwise (an exception raised by code inside the database (P0), an undefined table or a
     missing privilege (42), a corrupt index (XX), our own Python bug) the message is written
     once more on its own (a glitch goes away), then **rehearsed**: a stand-in with the same
     content under other identities (its ids replaced) is written in a transaction that is
     rolled back. If the stand-in goes through, the system works and this message is at fault
     (say a trigger that refuses one entity): it is dead-lettered and the batch goes on. If the
     stand-in fails too, the fault is **the system's**: it is retried with backoff within a
     budget (a migration in progress), then :class:`SystemFault` is raised and the worker exits
     non-zero, so that a supervisor restarts it and the restart reads the batch again: nothing
     is skipped.

Why a rehearsal rather than only "the others went through" (the issue's first rule, which the
bisection still honours: a message that fails while its neighbours go through is the one that is
rehearsed): a poison message at the quiet end of a topic is often alone in its batch, with
nothing to compare it with, and a publisher that retries sends the same bad record several times
in a row; either would make the worker crash, restart, read the same batch and crash again,
which is the failure this net exists to end. The rehearsal asks the question directly — does the
system write a message like this one? — whatever batch the message lands in. When every message
fails and every stand-in fails with it, the fault is the system's, and the worker stops. What it
costs: a fault of the system that makes the database refuse *every* message with a data error
(say, a CHECK constraint added by hand that every row breaks) dead-letters them instead of
stopping; each dead letter names the SQLSTATE and the constraint, the dead-letter alert fires,
and ``vanphong dlq replay`` applies them once the fault is removed.

Everything here is pure apart from the callables it is given, so the rule is tested with a fake
writer (tests/test_safetynet.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Generic, TypeVar

from vanphong.core.rules import text_fields
from vanphong.schemas.catalog import EventType
from vanphong.schemas.known import KnownSchemas

T = TypeVar("T")


class Blame(StrEnum):
    MESSAGE = "message"
    SYSTEM = "system"


class SystemFault(Exception, Generic[T]):
    """A write failed for a reason that is the system's, and kept failing through the retry
    budget: the worker must stop. ``item`` is the message it was writing when it gave up (the
    batch's coordinates are the caller's), ``error`` the last error."""

    def __init__(self, error: BaseException, item: T, attempts: int) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error
        self.item = item
        self.attempts = attempts


#: Writes these items in one transaction, or raises (transient failures already retried).
Write = Callable[[Sequence[T]], Awaitable[object]]
#: Writes one item as a dead letter, because of this error.
DeadLetter = Callable[[T, BaseException], Awaitable[object]]
#: Writes a stand-in of the item (same content, other identities) and rolls it back: True if it
#: went through, so the system works and the item itself is at fault.
Rehearse = Callable[[T], Awaitable[bool]]
#: Called before retrying a failure blamed on the system: wait, then say whether to retry
#: (False: the budget is spent). Arguments: the error and the number of the retry (1, 2, …).
Retry = Callable[[BaseException, int], Awaitable[bool]]


async def write_netted(
    items: Sequence[T],
    write: Write[T],
    dead_letter: DeadLetter[T],
    blame: Callable[[BaseException], Blame],
    retry: Retry,
    rehearse: Rehearse[T],
) -> list[tuple[T, BaseException]]:
    """Write ``items``, bisecting around failures (module docstring). Returns the items that were
    dead-lettered, with their errors, in order; raises :class:`SystemFault`.

    A loop over a stack of parts, not a recursive closure: a closure that refers to itself is a
    reference cycle, which would keep every batch alive until a full garbage collection."""
    poisoned: list[tuple[T, BaseException]] = []
    todo: list[Sequence[T]] = [items]  # parts still to write, the next one last
    while todo:
        part = todo.pop()
        try:
            await write(part)
            continue
        except Exception as exc:
            error: BaseException = exc
        if len(part) > 1:
            middle = len(part) // 2
            todo += [part[middle:], part[:middle]]  # the first half first: offsets in order
            continue
        refused = await _alone(part, error, write, blame, retry, rehearse)
        if refused is not None:
            await _dead_letter(part[0], refused, dead_letter, retry)
            poisoned.append((part[0], refused))
    return poisoned


async def _alone(
    part: Sequence[T],
    error: BaseException,
    write: Write[T],
    blame: Callable[[BaseException], Blame],
    retry: Retry,
    rehearse: Rehearse[T],
) -> BaseException | None:
    """One message that failed on its own: None once it is written (the failure went away within
    the budget), or the error that makes it the message's: its class says so, or it fails again
    right after a stand-in of it went through."""
    retries = 0
    while blame(error) is Blame.SYSTEM:
        retries += 1
        if not await retry(error, retries):
            raise SystemFault(error, part[0], retries) from error
        try:
            await write(part)
            return None
        except Exception as exc:
            error = exc
        if await rehearse(part[0]):
            try:  # once more, so that a fault that has just gone away is not blamed on it
                await write(part)
                return None
            except Exception as exc:
                return exc
    return error


async def _dead_letter(
    item: T, error: BaseException, dead_letter: DeadLetter[T], retry: Retry
) -> None:
    """Write ``item`` as a dead letter of ``error``. That write stores bytes and offsets, none
    of the message's data: if it fails, the fault is the system's."""
    retries = 0
    while True:
        try:
            await dead_letter(item, error)
            return
        except Exception as exc:
            retries += 1
            if not await retry(exc, retries):
                raise SystemFault(exc, item, retries) from exc


PROBE_ID = "vanphong-rehearsal"


def stand_in(
    event_type: EventType, record: Mapping[str, Any], schemas: KnownSchemas
) -> dict[str, Any]:
    """The record a rehearsal writes: the same content with every identity replaced (its
    ``event_id``, every ``*_id`` and each item of every ``*_ids``), so that a fault tied to one
    entity or unit stays behind while a fault tied to the system, or to the content, comes
    along."""
    twin = dict(record)
    for field in text_fields(event_type, schemas):
        if field.name == "event_id" or field.name.endswith("_id"):
            if twin.get(field.name) is not None:
                twin[field.name] = PROBE_ID
        elif field.array and field.name.endswith("_ids"):
            twin[field.name] = [f"{PROBE_ID}-{i}" for i in range(len(twin[field.name]))]
    return twin
