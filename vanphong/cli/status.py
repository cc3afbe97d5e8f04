"""``vanphong status``: lag, dead letters and the sink's last commit, as a table or JSON; the
collecting and the rendering are vanphong/status/'s."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from vanphong.cli.console import out, quiet_kafka_client, unreachable_exit
from vanphong.ground.settings import get_settings


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    partitions: Annotated[
        bool, typer.Option("--partitions", help="list every partition, not only those with lag")
    ] = False,
) -> None:
    """Lag per topic and partition, dead letters by reason, when the sink last committed."""
    from vanphong.ground.unreachable import Unreachable
    from vanphong.status import collect, render

    settings = get_settings()
    quiet_kafka_client()
    try:
        state = asyncio.run(collect(settings))
    except Unreachable as exc:
        raise unreachable_exit(exc) from exc
    if as_json:
        out.print_json(json.dumps(state.as_json(), ensure_ascii=False))
        return
    out.print(render(state, all_partitions=partitions))
