"""``vanphong dlq list`` and ``dlq replay``: inspect the dead-letter topic, and re-publish dead
letters to their source topic, each at most once (docs/operations.md, "Dead letters").

The dead-letter topic is the interface (CONTRACT.md §6): both commands read its messages and
headers, not PostgreSQL's outbox. PostgreSQL records the replays (``core.dlq_replays``).

Never twice, even if interrupted: a replay row is committed *before* its message is produced
("in doubt": ``new_offset`` NULL), the message is produced (acks=all, idempotent producer) to a
partition fixed in advance (the source partition), with a header ``vanphong.replay.of`` naming
the dead letter, and its offset is recorded afterwards. A later replay first resolves in-doubt
rows by reading the target partition from ``scan_from`` (its end offset before producing): a
message carrying the header is the earlier replay, so it is recorded, not sent again (the
recovery rule of vanphong/ground/tail.py, the one the dead-letter relay follows too). One replay at
a time holds a PostgreSQL advisory lock, so no replay can be in flight while another reads.
Never twice either when PostgreSQL went back in time and lost ledger rows: before a dead letter
without a row is replayed, its target partition is searched for the header
(:mod:`~vanphong.dlq.search`); a replay found there is recorded, not published again.

Both commands stream the topic (:func:`dead_letter_chunks`): partition by partition, in chunks
of at most :data:`CHUNK` dead letters; ``list`` keeps only the ``--limit`` most recent, and
``replay`` plans, records and sends each chunk before it reads the next.

The package, one job per module: :mod:`~vanphong.dlq.model` (the dead letter, pure),
:mod:`~vanphong.dlq.topic` (reading the topic), :mod:`~vanphong.dlq.ledger`
(``core.dlq_replays``), :mod:`~vanphong.dlq.view` (``dlq list``'s JSON and table),
:mod:`~vanphong.dlq.plan` (what to replay, pure), :mod:`~vanphong.dlq.search`
(replays on their target topic) and :mod:`~vanphong.dlq.execute` (the replay itself).
"""

from vanphong.dlq.execute import ReplayBusyError, replay
from vanphong.dlq.ledger import replays_of
from vanphong.dlq.model import DeadLetter, MostRecent, Place, Replay, select, show_bytes
from vanphong.dlq.plan import REPLAY_OF, Planned, ReplayResult, plan, replay_marker
from vanphong.dlq.topic import (
    CHUNK,
    Listing,
    dead_letter_chunks,
    list_dead_letters,
    read_dead_letters,
)
from vanphong.dlq.view import annotate, render_list

__all__ = [
    "CHUNK",
    "REPLAY_OF",
    "DeadLetter",
    "Listing",
    "MostRecent",
    "Place",
    "Planned",
    "Replay",
    "ReplayBusyError",
    "ReplayResult",
    "annotate",
    "dead_letter_chunks",
    "list_dead_letters",
    "plan",
    "read_dead_letters",
    "render_list",
    "replay",
    "replay_marker",
    "replays_of",
    "select",
    "show_bytes",
]
