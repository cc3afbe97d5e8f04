"""``vanphong demo``: the demo's history published, or written as JSON Lines with ``--out``;
the history is vanphong/demo/'s, the publishing vanphong/publish/'s."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from vanphong.cli.console import err, out
from vanphong.ground.settings import get_settings


def demo_command(
    seed: Annotated[int, typer.Option("--seed", help="same seed, same history")] = 2024,
    out_file: Annotated[
        str | None, typer.Option("--out", help="write JSON Lines here instead")
    ] = None,
) -> None:
    """Publish a realistic history of a provincial office, 2018–2025."""
    from vanphong.demo import demo_events
    from vanphong.publish import prepare_all, send_all

    settings = get_settings()
    events = demo_events(seed)
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    if out_file is not None:
        Path(out_file).write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.print(f"wrote {len(lines)} events to {out_file}")
        return
    messages, errors = prepare_all((("demo", n, t) for n, t in enumerate(lines, 1)), settings)
    if errors:  # the demo is generated: an invalid line is a bug in it
        raise RuntimeError(f"demo produced invalid events: {errors[:3]}")
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("publishing the demo", total=len(messages))
        sent = asyncio.run(send_all(messages, settings, lambda n: progress.advance(task, n)))
    out.print(f"published {sent} demo events (seed {seed})")
