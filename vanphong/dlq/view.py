"""What ``dlq list`` shows: each dead letter as JSON with what the ledger says about it
(:func:`annotate`, the ``--json`` output), and the rich table drawn from those rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from vanphong.dlq.model import DeadLetter, Place, Replay


def annotate(letter: DeadLetter, replays: dict[Place, Replay]) -> dict[str, Any]:
    """``as_json`` plus what the replays say: replayed when and where, and whether this dead
    letter is a replayed message that was rejected again."""
    out = letter.as_json()
    replay = replays.get(letter.place)
    out["replay"] = (
        None
        if replay is None or replay.source != letter.source
        else {
            "state": "in_doubt" if replay.in_doubt else "replayed",
            "replayed_at": None if replay.replayed_at is None else replay.replayed_at.isoformat(),
            "new_offset": replay.new_offset,
            "target_partition": replay.target_partition,
        }
    )
    again = {r.new_place: r.place for r in replays.values() if r.new_place is not None}
    origin = again.get(letter.source) if letter.source is not None else None
    out["replay_of"] = (
        None if origin is None else {"dlq_partition": origin[0], "dlq_offset": origin[1]}
    )
    return out


def render_list(rows: Sequence[dict[str, Any]], title: str, prefix: str) -> Table:
    """The table of ``dlq list`` from :func:`annotate`'d rows; source topics lose ``prefix``."""
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("dead letter\nfailed at", no_wrap=True)
    table.add_column("source\nkey", overflow="fold")
    table.add_column("reason\ndetail", overflow="fold", min_width=16)
    table.add_column("replayed", overflow="fold")
    for row in rows:
        src = row["source"]
        source = (
            "–"
            if src is None
            else f"{src['topic'].removeprefix(prefix)}\n[{src['partition']}]@{src['offset']}"
        )
        key = "no key" if row["key"] is None else f"key {row['key']}"
        replay = row["replay"]
        state = Text("–")
        if replay is not None and replay["state"] == "in_doubt":
            state = Text("in doubt", style="yellow")
        elif replay is not None:
            state = Text(f"→ [{replay['target_partition']}]@{replay['new_offset']}", style="green")
        if row["replay_of"] is not None:
            origin = row["replay_of"]
            state.append(f"\nrejected again:\nreplay of {origin['dlq_partition']}@")
            state.append(f"{origin['dlq_offset']}")
        failed_at = row["failed_at"][5:19].replace("T", " ")  # MM-DD hh:mm:ss
        table.add_row(
            f"{row['dlq_partition']}@{row['dlq_offset']}\n{failed_at}",
            Text(f"{source}\n{key}"),
            Text.assemble((row["reason"], "bold"), "\n", (row["detail"], "dim")),
            state,
        )
    return table
