"""Databases, topics, publishing and child processes: the plumbing every measurement shares.

Each measured system gets its own database, created as the ``vanphong`` role (it has
CREATEDB), the way ``tests/conftest.py`` gives each test one. Topics are created with the
product's own ``create_topics`` so partition counts are the contract's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from vanphong.ground.dsn import parse_dsn
from vanphong.ground.kafka import (
    admin_client,
    kafka_client_kwargs,
    partition_counts,
    standalone_consumer,
)
from vanphong.ground.settings import Settings
from vanphong.publish import Outgoing, send_all
from vanphong.schemas.catalog import EVENT_TYPES
from vanphong.sinks.migrate import migrate
from vanphong.sinks.postgres import is_transient
from vanphong.streams.topics import contract_topics, create_topics

Offsets = dict[tuple[str, int], int]


def base_settings() -> Settings:
    """The ``VANPHONG_*`` environment as given (the local stack by default)."""
    return Settings()


def with_database(url: str, name: str) -> str:
    return parse_dsn(url).with_database(name).render()  # one host or several


def settings_for(base: Settings, prefix: str, database: str) -> Settings:
    return base.model_copy(
        update={"topic_prefix": prefix, "database_url": with_database(base.database_url, database)}
    )


def input_topics(prefix: str) -> list[str]:
    return [f"{prefix}.{e.topic}" for e in EVENT_TYPES]


# -- PostgreSQL ---------------------------------------------------------------------------------


#: Every database this harness created (or began to): :func:`drop_created` drops them all, so
#: that a run leaves none behind, whatever failed (a latency database is about 257 MB).
_CREATED: list[str] = []


async def create_database(base: Settings, name: str, *, migrated: bool) -> str:
    """A fresh database; with ``migrated``, vanphong's schema applied (``vanphong init``'s
    migrations). Returns its URL. Remembered for :func:`drop_created`."""
    if name not in _CREATED:
        _CREATED.append(name)  # before it exists: a failure half-way still drops it
    await drop_database(base, name)
    conn = await asyncpg.connect(base.database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(base.database_url, name)
    if migrated:
        await asyncio.to_thread(migrate, url, base.timezone)
    return url


async def drop_database(base: Settings, name: str) -> None:
    conn = await asyncpg.connect(base.database_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_created(base: Settings, also: Sequence[str] = ()) -> list[str]:
    """Drop every database :func:`create_database` made in this process, and ``also``; returns
    ``"name: error"`` for each that could not be dropped (to be said, never swallowed)."""
    failures: list[str] = []
    for name in dict.fromkeys([*_CREATED, *also]):
        try:
            await drop_database(base, name)
        except Exception as exc:  # the next one may still go: report each
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            with suppress(ValueError):
                _CREATED.remove(name)
    return failures


# -- Kafka --------------------------------------------------------------------------------------


async def create_prefix_topics(base: Settings, prefix: str) -> None:
    await create_topics(base.model_copy(update={"topic_prefix": prefix}))


async def delete_topics(base: Settings, names: Sequence[str]) -> None:
    async with admin_client(base) as admin:
        present = set(await admin.list_topics())
        doomed = [n for n in names if n in present]
        if doomed:
            await admin.delete_topics(doomed)


async def topics_with_prefix(base: Settings, prefix: str) -> list[str]:
    """Every topic whose name starts with ``prefix`` (the contract's and any a peer created)."""
    async with admin_client(base) as admin:
        return [t for t in await admin.list_topics() if t.startswith(prefix)]


def contract_topic_names(base: Settings, prefix: str) -> list[str]:
    return list(contract_topics(base.model_copy(update={"topic_prefix": prefix})))


async def publish(base: Settings, messages: list[Outgoing]) -> float:
    """Send with the product's producer settings; returns the seconds it took."""
    started = time.monotonic()
    await send_all(messages, base)
    return time.monotonic() - started


async def end_offsets(base: Settings, topics: list[str]) -> Offsets:
    async with admin_client(base) as admin:
        counts = await partition_counts(admin, topics)
    tps = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    async with standalone_consumer(base) as consumer:
        ends = await consumer.end_offsets(tps)
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def committed_offsets(base: Settings, group: str) -> Offsets:
    """A consumer group's committed offsets (what Kafka holds, not what a sink applied)."""
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(base))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def rewind_group(base: Settings, group: str, topics: list[str]) -> None:
    """Commit the beginning of every partition for ``group`` (like ``kafka-consumer-groups
    --reset-offsets --to-earliest``), so the next consumer of that group starts from the start.

    Why: vanphong's consumer group is ``<prefix>-worker`` with no override, so a second vanphong
    run over the *same* topics would otherwise resume where the first one stopped. The group
    must be empty (its workers stopped) when this runs.
    """
    async with admin_client(base) as admin:
        counts = await partition_counts(admin, topics)
    tps = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(base), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await asyncio.sleep(0)
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        await consumer.commit(dict(begins))
    finally:
        await asyncio.sleep(0)
        await consumer.stop()


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (the peak resident set) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (from /proc/<pid>/stat)."""
    stat = _stat(pid)
    if stat is None:
        return None
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 on: state, ppid, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def postgres_cpu_seconds() -> float | None:
    """CPU time of every PostgreSQL process on this machine so far: the backends, the
    background processes (WAL writer, checkpointer, autovacuum) and, through the postmaster's
    children's times, the backends that have exited. The difference over a run is what
    PostgreSQL spent on it, when nothing else uses the server. None without a local server."""
    total, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        stat = _stat(entry.name)
        if stat is None:
            continue
        found = True
        total += sum(int(v) for v in stat[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK") if found else None


@dataclass
class Child:
    """A measured process: started at ``started`` (wall clock, before exec), log in ``log``."""

    name: str
    proc: subprocess.Popen[bytes]
    started: float
    log: Path
    _out: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._out is not None:
            self._out.close()
        return self.proc.returncode

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def spawn(
    name: str, argv: list[str], env: dict[str, str], logs: Path, cwd: Path | None = None
) -> Child:
    """Start ``argv`` in its own session, output to ``logs/<name>.log``. ``cwd`` defaults to a
    scratch directory under ``logs`` (faust writes a ``<app>-data`` directory into its cwd)."""
    logs.mkdir(parents=True, exist_ok=True)
    workdir = cwd or logs / f"{name}.cwd"
    workdir.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    out = log.open("wb")
    started = time.time()
    proc = subprocess.Popen(
        argv, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    child = Child(name, proc, started, log, out)
    _SPAWNED.append(child)
    return child


_SPAWNED: list[Child] = []


def stop_all_children() -> None:
    """Stop every process this harness started that is still running: whatever went wrong,
    no worker may outlive the run (an orphan would compete with the next measurement)."""
    for child in _SPAWNED:
        if child.alive():
            child.stop(timeout_s=15)


def vanphong_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``vanphong worker`` for ``settings`` (its own web port)."""
    env = dict(os.environ)
    env.update(
        {
            "VANPHONG_TOPIC_PREFIX": settings.topic_prefix,
            "VANPHONG_DATABASE_URL": settings.database_url,
            "VANPHONG_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "VANPHONG_TIMEZONE": settings.timezone,
            "VANPHONG_WEB_PORT": str(free_port()),
            **extra,
        }
    )
    return env


class Poller:
    """A polling connection that survives the database restarting under it.

    The local stack is shared (fault tests stop and start it); a poll that loses its connection
    reconnects and counts it, and the run's notes say the measurement was interrupted.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: asyncpg.Connection | None = None
        self.reconnects = 0

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        while True:
            try:
                if self.conn is None or self.conn.is_closed():
                    self.conn = await asyncpg.connect(self.url)
                return list(await self.conn.fetch(sql, *args))
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self.reconnects += 1
                self.conn = None
                await asyncio.sleep(0.5)

    async def fetchval(self, sql: str, *args: object) -> object:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None

    async def close(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()
