"""Fixtures for tests on the real broker and database that `make test` brings up.

Every integration test gets its own topic prefix (hence its own topics and consumer group) and
its own database, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from vanphong.ground.dsn import Host, parse_dsn
from vanphong.ground.kafka import kafka_client_kwargs, standalone_consumer
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import DEAD_LETTER_PARTITIONS, DEAD_LETTER_TOPIC
from vanphong.sinks.migrate import migrate
from vanphong.status.caught_up import wait_until_caught_up
from vanphong.streams.topics import contract_topics, create_topics

VANPHONG = Path(sys.executable).parent / "vanphong"


def wait_for(
    condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.1
) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def get(port: int, path: str) -> tuple[int, str]:
    """GET a worker's web endpoint on 127.0.0.1: (status, body); (0, "") while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


@pytest.fixture
def refused_host() -> Iterator[Host]:
    """A database host that is down, for multi-host URLs: 127.0.0.1 on a port that refuses
    connections until the test ends (bound, never listening: no other process can take it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield Host("127.0.0.1", int(sock.getsockname()[1]))


def _with_database(url: str, name: str) -> str:
    return parse_dsn(url).with_database(name).render()


@dataclass
class Workers:
    """`vanphong worker` processes started by a test, stopped at its end."""

    settings: Settings
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    port_files: dict[int, Path] = field(default_factory=dict)  # pid → where it wrote its port

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "VANPHONG_TOPIC_PREFIX": self.settings.topic_prefix,
                "VANPHONG_DATABASE_URL": self.settings.database_url,
                "VANPHONG_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
                "VANPHONG_TIMEZONE": self.settings.timezone,
                "VANPHONG_WEB_PORT": "0",  # the OS chooses; see web_port()
                "VANPHONG_SESSION_TIMEOUT_S": "8",
                "VANPHONG_HEARTBEAT_INTERVAL_S": "1",
                **self.extra_env,
            }
        )
        return env

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.procs)}.log").open("wb")
        port_file = self.logs / f"worker-{len(self.procs)}.port"
        proc = subprocess.Popen(
            [str(VANPHONG), "worker"],
            env={**self.env(), "VANPHONG_WEB_PORT_FILE": str(port_file)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        self.port_files[proc.pid] = port_file
        return proc

    def web_port(self, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
        """The port the worker's web server bound: the OS chose it (``VANPHONG_WEB_PORT=0``)
        and the worker wrote it to its ``VANPHONG_WEB_PORT_FILE`` once listening, so no port is
        picked, released and hoped for."""
        port_file = self.port_files[proc.pid]

        def written() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the worker exited before it listened\n{self.log_tail()}")
            return port_file.exists() and port_file.read_text().strip().isdigit()

        wait_for(written, timeout_s, f"the worker's web port in {port_file}")
        return int(port_file.read_text())

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        proc.send_signal(sig)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-n:])
            for p in sorted(self.logs.glob("worker-*.log"))
        )


@dataclass
class Env:
    settings: Settings
    workers: Workers

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def wait_caught_up(self, timeout_s: float = 300) -> None:
        def alive(_remaining: int) -> None:
            if self.workers.procs and all(p.poll() is not None for p in self.workers.procs):
                raise AssertionError(f"every worker exited\n{self.workers.log_tail()}")

        try:
            asyncio.run(wait_until_caught_up(self.settings, timeout_s, alive))
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.workers.log_tail()}") from exc

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def go() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.settings.database_url)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(go())

    def send_raw(self, messages: list[tuple[str, bytes | None, bytes | None]]) -> None:
        """Produce (topic, key, value) exactly as given, in order."""

        async def go() -> None:
            producer = AIOKafkaProducer(
                **kafka_client_kwargs(self.settings),
                acks="all",
                enable_idempotence=True,
                linger_ms=10,
            )
            await producer.start()
            try:
                futures = [await producer.send(t, v, key=k) for t, k, v in messages]
                for f in futures:
                    await f
            finally:
                await producer.stop()

        asyncio.run(go())

    def dead_letters(self) -> list[Any]:
        """Every message on the dead-letter topic."""

        async def go() -> list[Any]:
            topic = self.topic(DEAD_LETTER_TOPIC)
            async with standalone_consumer(self.settings) as consumer:
                tps = [TopicPartition(topic, p) for p in range(DEAD_LETTER_PARTITIONS)]
                ends = await consumer.end_offsets(tps)
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                out: list[Any] = []
                while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                    for batch in (await consumer.getmany(timeout_ms=1000)).values():
                        out.extend(batch)
                return out

        return asyncio.run(go())


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str, timeout_s: float = 30) -> None:
    """Drop the test's database. ``WITH (FORCE)`` ends our own role's sessions, but may not end
    another role's (the reporting role's: ``vanphong`` is no superuser); a session that was just
    closed on the client side may still be ending on the server, so wait for those to go."""
    conn = await asyncpg.connect(admin_url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                if time.monotonic() > deadline:
                    raise
                others = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
                )
                if others:  # still ending: look again shortly
                    await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))
    await admin.start()
    try:
        await admin.delete_topics(list(contract_topics(settings)))
    finally:
        await admin.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    base = Settings()
    prefix = f"t{uuid.uuid4().hex[:10]}"
    db_name = f"vanphong_{prefix}"
    asyncio.run(_create_database(base.database_url, db_name))
    settings = base.model_copy(
        update={"topic_prefix": prefix, "database_url": _with_database(base.database_url, db_name)}
    )
    asyncio.run(create_topics(settings))
    migrate(settings.database_url, settings.timezone)
    workers = Workers(settings, tmp_path)
    try:
        yield Env(settings, workers)
    finally:
        workers.stop_all()
        asyncio.run(_drop_database(base.database_url, db_name))
        asyncio.run(_delete_topics(settings))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the real broker and database are the ones that use ``env``."""
    for item in items:
        if "env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
