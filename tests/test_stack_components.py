"""The local stack's component interface (deploy/local/component.py) and its one wait until
ready (deploy/local/launch.py), offline: no service is started or stopped here."""

from __future__ import annotations

import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from vanphong.deploy.local.component import Component
from vanphong.deploy.local.config import StackConfig
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.launch import NotReady, gone, launch_detached, wait_until_ready
from vanphong.deploy.local.lifecycle import components
from vanphong.ground.settings import Settings


def _timed_out(last: str) -> StackError:
    return StackError(f"not ready (last: {last})")


def test_wait_until_ready_returns_once_the_probe_says_so() -> None:
    answers = iter([False, False, True])
    seen: list[float] = []

    def probe(seconds: float) -> bool:
        seen.append(seconds)
        return next(answers)

    deadline = time.monotonic() + 30
    wait_until_ready(
        probe, deadline=deadline, timeout=30, exited=lambda: None, timed_out=_timed_out
    )
    assert len(seen) == 3
    assert all(1.0 <= s <= 5.0 for s in seen)  # what is left of the deadline, within bounds


def test_wait_until_ready_names_the_last_answer_at_the_deadline() -> None:
    def probe(seconds: float) -> bool:
        raise NotReady("2 of 3 brokers registered")

    with pytest.raises(StackError, match=r"last: 2 of 3 brokers registered"):
        wait_until_ready(
            probe,
            deadline=time.monotonic() + 0.3,
            timeout=0.3,
            exited=lambda: None,
            timed_out=_timed_out,
        )

    def refused(seconds: float) -> bool:
        raise ConnectionRefusedError("refused")

    with pytest.raises(StackError, match=r"last: ConnectionRefusedError: refused"):
        wait_until_ready(
            refused,
            deadline=time.monotonic() + 0.3,
            timeout=0.3,
            exited=lambda: None,
            timed_out=_timed_out,
        )


def test_wait_until_ready_keeps_the_last_answer_while_nothing_listens() -> None:
    with pytest.raises(StackError, match=r"last: not listening yet"):
        wait_until_ready(
            lambda _s: False,
            deadline=time.monotonic() + 0.3,
            timeout=0.3,
            exited=lambda: None,
            timed_out=_timed_out,
        )


def test_a_process_that_died_stops_the_wait_at_once() -> None:
    died = StackError("it exited during start-up")
    started = time.monotonic()
    with pytest.raises(StackError, match="exited during start-up"):
        wait_until_ready(
            lambda _s: False,
            deadline=time.monotonic() + 60,
            timeout=60,
            exited=lambda: died,
            timed_out=_timed_out,
        )
    assert time.monotonic() - started < 5


def test_a_detached_launch_logs_a_banner_and_outlives_its_session(tmp_path: Path) -> None:
    log = tmp_path / "app.out"
    pid = launch_detached(
        [sys.executable, "-c", "print('hello from the app')"],
        cwd=tmp_path,
        log=log,
        banner="starting the app",
    )
    deadline = time.monotonic() + 30
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid)
    lines = log.read_text().splitlines()
    assert lines[0].startswith("--- ") and lines[0].endswith(" starting the app")
    assert lines[1] == "hello from the app"


def test_every_component_of_the_plain_stack_fills_in_the_interface(tmp_path: Path) -> None:
    settings = Settings(stack_dir=str(tmp_path))
    cfg = StackConfig.from_settings(settings)
    comps = components(settings, cfg, Console(file=StringIO()))
    assert [c.key for c in comps] == ["kafka", "postgres", "registry", "keycloak"]
    assert [c.label for c in comps][:2] == ["Kafka", "PostgreSQL"]
    for c in comps:
        assert isinstance(c, Component)
        assert c.ports and c.own_marker and c.address and c.waiting
        assert c.pid({}) is None  # nothing runs in an empty stack dir
        assert not c.port_conflicts() or all(p.label == c.label for p in c.port_conflicts())
    # `up` starts the JVMs first, detached, then PostgreSQL, whose start waits
    order = sorted(comps, key=lambda c: not c.detached)
    assert [c.key for c in order] == ["kafka", "registry", "keycloak", "postgres"]
    # a stack dir where `up` never ran has nothing to start one at a time
    assert not comps[0].set_up() and not comps[1].set_up()
