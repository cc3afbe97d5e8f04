"""Outages of one component of the local stack, for the fault-tolerance tests.

The tests act on the stack the ``VANPHONG_*`` variables point at, which must be one that
``vanphong stack up`` started on this machine (deploy/local/stack.py); otherwise they are skipped.
Whatever happens inside an :func:`outage`, the component is started again on the way out, so
the stack is left as the test found it.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import pytest

from testkit.history import Message
from tests.conftest import Env, Workers, wait_for
from tests.verify import (
    assert_counts_add_up,
    assert_dead_letters_once,
    assert_views_match,
    model_of,
)
from vanphong.deploy.local import stack
from vanphong.ground.settings import Settings

Component = Literal["postgres", "kafka"]

_STOP: dict[Component, Callable[..., int]] = {
    "postgres": stack.stop_postgres,
    "kafka": stack.stop_kafka,
}
_START: dict[Component, Callable[..., int]] = {
    "postgres": stack.start_postgres,
    "kafka": stack.start_kafka,
}


def require_local_stack(settings: Settings) -> None:
    """Skip unless both services are ones ``vanphong stack up`` started here (so we may stop
    and start them)."""
    try:
        status = stack.stack_status(settings)
    except stack.StackError as exc:
        pytest.skip(f"fault tests need the local stack: {exc.message}")
    for component in (status.kafka, status.postgres):
        if not component.running or component.pid is None:
            pytest.skip(
                f"fault tests stop and start the local stack's services, but {component.name} "
                f"at {component.address} was not started by `vanphong stack up` "
                f"(stack dir {settings.stack_dir})"
            )


@dataclass
class Outage:
    component: Component
    stopped_pid: int
    stopped_at: float  # time.monotonic()
    started_at: float | None = None

    def last(self, seconds: float) -> None:
        """The deliberate outage: return ``seconds`` after the component was stopped."""
        time.sleep(max(0.0, self.stopped_at + seconds - time.monotonic()))

    @property
    def seconds(self) -> float:
        end = self.started_at if self.started_at is not None else time.monotonic()
        return end - self.stopped_at


@contextlib.contextmanager
def outage(component: Component) -> Iterator[Outage]:
    """Stop ``component`` of the stack, and start it again (waiting until it accepts real
    clients) however the block ends."""
    settings = Settings()  # the stack itself, not a test's own database
    require_local_stack(settings)
    pid = _STOP[component](settings=settings)
    down = Outage(component, pid, time.monotonic())
    try:
        yield down
    finally:
        _START[component](settings=settings)
        down.started_at = time.monotonic()


def worker_log(workers: Workers) -> str:
    return "\n".join(
        p.read_text(errors="replace") for p in sorted(workers.logs.glob("worker-*.log"))
    )


def log_lines(workers: Workers, pattern: str) -> list[str]:
    """Worker log lines matching the regular expression ``pattern``."""
    regex = re.compile(pattern)
    return [line for line in worker_log(workers).splitlines() if regex.search(line)]


def wait_for_log(workers: Workers, pattern: str, timeout_s: float) -> list[str]:
    """Poll the worker logs until a line matches ``pattern``; return the matching lines."""
    try:
        wait_for(lambda: bool(log_lines(workers, pattern)), timeout_s, f"a log line /{pattern}/")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{workers.log_tail()}") from None
    return log_lines(workers, pattern)


def assert_alive(workers: Workers) -> None:
    """Every worker started is still the same running process: none crashed or exited."""
    dead = [p.pid for p in workers.procs if p.poll() is not None]
    assert not dead, f"worker(s) {dead} exited\n{workers.log_tail()}"


def assert_no_agent_crashed(workers: Workers) -> None:
    """No agent died with a batch in hand (faust would restart it, but the batch it held would
    never be acked: its partition's committed offset would stick there, and the worker would
    hang on SIGTERM waiting for those acks)."""
    crashes = log_lines(workers, r"Crashed reason=|Restarting dead")
    assert not crashes, "\n".join(crashes) + "\n" + workers.log_tail()


def wait_until(env: Env, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """:func:`wait_for`, failing at once (with the logs) if every worker has exited."""

    def check() -> bool:
        assert_alive(env.workers)
        return condition()

    wait_for(check, timeout_s, what)


def stop_cleanly(workers: Workers, timeout_s: float = 30) -> None:
    """SIGTERM every worker; each must exit by itself within ``timeout_s`` (CONTRACT.md §8)."""
    running = [p for p in workers.procs if p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    hung = []
    for proc in running:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            hung.append(proc.pid)
    assert not hung, f"worker(s) {hung} still running {timeout_s} s after SIGTERM\n" + (
        workers.log_tail()
    )


def wait_dead_letters_relayed(env: Env, timeout_s: float = 120) -> None:
    """The outbox (core.dead_letters) is sent: every row has reached the dead-letter topic."""

    def relayed() -> bool:
        return env.fetch("SELECT count(*) FROM core.dead_letters WHERE sent_at IS NULL")[0][0] == 0

    try:
        wait_for(relayed, timeout_s, "every dead letter relayed to Kafka", poll_s=0.25)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{env.workers.log_tail()}") from None


def assert_counted_once(env: Env, messages: list[Message]) -> None:
    """Nothing lost, nothing applied twice: the views equal the reference model of
    ``messages``, the counters add up, and every dead letter is on the topic exactly once."""
    assert_views_match(env, model_of(messages))
    assert_counts_add_up(env, messages)
    wait_dead_letters_relayed(env)
    assert_dead_letters_once(env, messages)
