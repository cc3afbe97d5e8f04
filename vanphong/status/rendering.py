"""The table form of ``vanphong status`` with rich: progress per topic, messages per topic,
partitions with lag, dead letters, the sink, stalls and offset anomalies. Pure: a
:class:`~vanphong.status.model.Status` in, a renderable out; fits 80 columns.
"""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vanphong.status.model import PartitionStatus, Status, TopicCounters, iso


def ago(then: datetime | None, now: datetime) -> str:
    """``"12 s ago"``, ``"5 min ago"``, ``"3 h ago"``, ``"2 d ago"``; ``"never"`` for None."""
    if then is None:
        return "never"
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _lag_cell(lag: int, stalled: bool) -> Text:
    if stalled:
        return Text(f"{lag:,} stalled", style="bold red")
    return Text(f"{lag:,}", style="yellow" if lag else "green")


def render(status: Status, all_partitions: bool = False) -> RenderableType:
    """The table form: progress per topic, events per topic, partitions with lag (every one
    with ``all_partitions``), dead letters by reason, the sink. Fits 80 columns."""
    parts: list[RenderableType] = []
    counters = {c.topic: c for c in status.counters}
    by_topic: dict[str, list[PartitionStatus]] = {}
    for p in status.partitions:
        by_topic.setdefault(p.topic, []).append(p)

    progress = Table(
        title=f"Progress (lag = end − applied; consumer group {status.consumer_group})",
        title_justify="left",
    )
    progress.add_column("topic", no_wrap=True)
    for name in ["end", "committed", "applied", "lag"]:
        progress.add_column(name, justify="right")
    for topic, ps in by_topic.items():
        committed = [p.committed_offset for p in ps]
        progress.add_row(
            topic,
            _n(sum(p.end_offset for p in ps)),
            _n(None if all(x is None for x in committed) else sum(x or 0 for x in committed)),
            _n(sum(p.applied_offset for p in ps)),
            _lag_cell(sum(p.lag for p in ps), any(p.stalled for p in ps)),
        )
    parts.append(progress)
    parts.append(
        Text("committed: the group's Kafka commit · applied: PostgreSQL (the truth)", style="dim")
    )

    events = Table(title="Messages consumed per topic", title_justify="left")
    events.add_column("topic", no_wrap=True)
    for name in ["applied", "unchanged", "dead-\nlettered", "total"]:
        events.add_column(name, justify="right")
    for topic in by_topic:
        c = counters.get(topic, TopicCounters(topic, 0, 0, 0))
        events.add_row(topic, _n(c.applied), _n(c.unchanged), _n(c.dead_lettered), _n(c.consumed))
    parts.append(events)

    shown = [p for p in status.partitions if all_partitions or p.lag or p.stalled]
    if shown:
        short = f"{status.topic_prefix}." if status.topic_prefix else ""
        table = Table(
            title=("Partitions" if all_partitions else "Partitions with lag")
            + (f" (of {short}…)" if short else ""),
            title_justify="left",
        )
        table.add_column("partition", no_wrap=True)
        for name in ["end", "committed", "applied", "lag", "last applied"]:
            table.add_column(name, justify="right")
        for p in shown:
            table.add_row(
                f"{p.topic.removeprefix(short)}[{p.partition}]",
                _n(p.end_offset),
                _n(p.committed_offset),
                _n(p.applied_offset),
                _lag_cell(p.lag, p.stalled),
                ago(p.applied_at, status.generated_at),
            )
        parts.append(table)
    elif status.partitions:
        parts.append(Text("Every partition is caught up (lag 0).", style="green"))

    dead = Table(title="Dead letters", title_justify="left")
    dead.add_column("reason")
    dead.add_column("count", justify="right")
    for reason, count in sorted(status.dead_letters.items(), key=lambda kv: (-kv[1], kv[0])):
        dead.add_row(reason, _n(count))
    if not status.dead_letters:
        dead.add_row(Text("none", style="green"), "0")
    parts.append(dead)
    parts.append(Text(f"{status.dead_letter_messages:,} message(s) on {status.dead_letter_topic}"))
    if status.dead_letters_unrelayed:
        parts.append(
            Text(
                f"{status.dead_letters_unrelayed:,} dead letter(s) not yet on "
                f"{status.dead_letter_topic} (a worker relays them)",
                style="yellow",
            )
        )

    s = status.sink
    parts.append(
        Text.assemble(
            ("Sink: ", "bold"),
            "last commit ",
            (ago(s.last_commit_at, status.generated_at), "bold"),
            f" ({iso(s.last_commit_at) or '–'}); {s.workers_recent} worker(s) committed in the"
            f" last {status.stall_seconds:g} s, {s.workers_seen} seen; "
            f"{s.batches:,} batches, {s.events:,} events",
        )
    )
    if status.stalled:
        grouped: dict[str, list[str]] = {}
        for p in status.stalled:
            grouped.setdefault(p.topic, []).append(str(p.partition))
        names = ", ".join(f"{t}[{','.join(ps)}]" for t, ps in grouped.items())
        parts.append(
            Text(
                f"STALLED ({len(status.stalled)}): {names}: lag and nothing applied for "
                f"≥ {status.stall_seconds:g} s. Is a worker running? (`vanphong worker`)",
                style="bold red",
            )
        )
    if status.missing_topics:
        parts.append(
            Text(
                f"Missing topics: {', '.join(status.missing_topics)} (run `vanphong init`)",
                style="bold red",
            )
        )
    parts.extend(_render_retention(status))
    parts.extend(_render_anomalies(status))
    return Group(*parts)


def _render_retention(status: Status) -> list[RenderableType]:
    """How far back in time the database may go before Kafka can no longer refill it, per
    topic (vanphong/status/retention.py; docs/operations.md, "Failover and restores")."""
    if not status.retention:
        return []
    short = f"{status.topic_prefix}." if status.topic_prefix else ""
    lines: list[RenderableType] = [Text("Restores: what Kafka can still refill", style="bold")]
    whole = [r.topic.removeprefix(short) for r in status.retention if r.holds_everything]
    if whole:
        lines.append(
            Text(
                f"{', '.join(whole)}: Kafka holds every message since offset 0; a restore of"
                " any age is refilled",
                style="green",
            )
        )
    for r in status.retention:
        if not r.holds_everything:
            lines.append(Text(r.describe(), style="yellow"))
    return lines


def _render_anomalies(status: Status) -> list[RenderableType]:
    """Offsets that went backwards or jumped: what workers recorded, what nobody handled yet,
    topics whose partition count is not the contract's (docs/operations.md)."""
    parts: list[RenderableType] = []
    short = f"{status.topic_prefix}." if status.topic_prefix else ""
    if status.offset_anomalies:
        shown = len(status.offset_anomalies)
        table = Table(
            title=f"Offset anomalies ({status.offset_anomalies_total:,} recorded"
            + (f", the {shown} most recent" if shown < status.offset_anomalies_total else "")
            + ")",
            title_justify="left",
        )
        table.add_column("when", no_wrap=True)
        table.add_column("what")
        table.add_column("partition", no_wrap=True)
        # "read again" only when a database went back in time: 80 columns keep the kinds whole
        reread = any(r.anomaly.reread for r in status.offset_anomalies)
        for name in ["stored", "log", "lost", *(["read again"] if reread else [])]:
            table.add_column(name, justify="right")
        for r in status.offset_anomalies:
            a = r.anomaly
            table.add_row(
                ago(r.detected_at, status.generated_at),
                a.kind.replace("_", " "),
                f"{a.topic.removeprefix(short)}[{a.partition}]",
                _n(a.stored_offset),
                f"{_n(a.log_start)}–{_n(a.log_end)}",
                Text(_n(a.lost), style="bold red" if a.lost else ""),
                *([_n(a.reread)] if reread else []),
            )
        parts.append(table)
    for a in status.pending_anomalies:
        parts.append(Text(f"NOT HANDLED YET: {a.describe()}", style="bold red"))
    if status.pending_anomalies:
        parts.append(
            Text(
                "A worker handles these when it resumes the partition (read again from the"
                " start, or the loss counted); docs/operations.md, “Offsets that go backwards"
                " or jump”.",
                style="dim",
            )
        )
    for topic, (n, contract) in sorted(status.partitions_differ.items()):
        parts.append(
            Text(
                f"{topic} has {n} partitions, the contract {contract}"
                + (": the added ones are consumed from their start" if n > contract else ""),
                style="yellow",
            )
        )
    return parts
