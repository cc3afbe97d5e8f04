"""Planning a replay: which dead letters go back to which topic and partition, which were
replayed already, and which cannot be. Pure, so ``--dry-run`` and the real replay decide alike;
also the ``vanphong.replay.of`` header that marks a replayed message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vanphong.dlq.model import DeadLetter, Place, Replay, select

REPLAY_OF = "vanphong.replay.of"  # header on a replayed message: "<dlq topic>:<partition>:<offset>"


@dataclass(frozen=True)
class Planned:
    letter: DeadLetter
    topic: str
    partition: int
    in_doubt: Replay | None = None  # set: a row exists, not found on the topic: send it now


@dataclass
class ReplayResult:
    # What to replay: from plan(), and from a dry run; a replay streams and keeps only counts.
    planned: list[Planned] = field(default_factory=list)
    replayable: int = 0  # planned in all (a dry run: would replay)
    already: int = 0  # matching dead letters replayed before: skipped
    rejected_again: int = 0  # dead letters of replayed messages, left alone (without --again)
    in_doubt: list[Replay] = field(default_factory=list)  # rows found in doubt at the start
    recovered: int = 0  # in-doubt rows whose message was on the topic: recorded, not re-sent
    found: int = 0  # replays on the topic the ledger had lost: recorded (counted in already)
    sent: int = 0  # messages produced and recorded
    errors: list[tuple[DeadLetter | Replay, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def plan(
    letters: Sequence[DeadLetter],
    replays: dict[Place, Replay],
    partitions: dict[str, int],
    input_topics: Sequence[str],
    reason: str | None,
    unresolved: Sequence[Replay] = (),
    again: bool = False,
) -> ReplayResult:
    """What to replay: pure, so ``--dry-run`` and the real thing decide alike.

    ``partitions`` are the existing topics' partition counts; ``unresolved`` are in-doubt rows
    whose message is not on the topic (they are sent whatever ``reason`` says, to finish an
    earlier replay). A dead letter of a message that a replay re-published (rejected again) is
    left alone unless ``again``: replaying it would only dead-letter it once more, unless what
    rejected it has been fixed since.
    """
    result = ReplayResult()
    replayed_to = {r.new_place: r.place for r in replays.values() if r.new_place is not None}
    by_place = {d.place: d for d in letters}
    for row in unresolved:
        letter = by_place.get(row.place)
        if letter is None:
            result.errors.append((row, "the dead letter is no longer on the dead-letter topic"))
            continue
        result.planned.append(Planned(letter, row.source[0], row.target_partition, row))
    pending = {r.place for r in unresolved}
    for letter in select(letters, reason):
        if letter.place in pending:
            continue
        replay = replays.get(letter.place)
        if replay is not None:
            if replay.source == letter.source:
                result.already += 1
            else:  # the place was reused: the dead-letter topic was deleted and recreated
                result.errors.append(
                    (
                        letter,
                        f"a replay of {replay.source} is recorded for this dead letter's place; "
                        "was the dead-letter topic recreated? (see docs/operations.md)",
                    )
                )
            continue
        if not again and letter.source in replayed_to:
            result.rejected_again += 1
            continue
        problem, target = _target(letter, partitions, input_topics)
        if problem is not None:
            result.errors.append((letter, problem))
            continue
        assert target is not None
        result.planned.append(Planned(letter, *target))
    result.planned.sort(key=lambda p: (p.topic, p.partition, p.letter.source or ()))
    return result


def _target(
    letter: DeadLetter, partitions: dict[str, int], input_topics: Sequence[str]
) -> tuple[str | None, tuple[str, int] | None]:
    source = letter.source
    if source is None:
        return "no source headers (vanphong.source.*): cannot tell where it came from", None
    topic, partition, _ = source
    if topic not in partitions:
        return f"source topic {topic} does not exist (any more)", None
    if topic not in input_topics:
        return f"source topic {topic} is not an input topic of this prefix", None
    if partition >= partitions[topic]:
        return (
            f"source partition {partition} does not exist ({topic} has {partitions[topic]})",
            None,
        )
    return None, (topic, partition)


def replay_marker(topic: str, place: Place) -> bytes:
    return f"{topic}:{place[0]}:{place[1]}".encode()
