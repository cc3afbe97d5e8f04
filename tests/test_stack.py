"""The local stack (deploy/local/stack.py): `up` is idempotent and leaves both services accepting
real clients. The suite shares the stack, so nothing here stops it; `down` is exercised by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from unittest import mock

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console

from vanphong.deploy.local import install, lifecycle, stack
from vanphong.deploy.local.apicurio import Apicurio
from vanphong.deploy.local.broker import KafkaBroker
from vanphong.deploy.local.keycloak import Keycloak
from vanphong.deploy.local.postgres import Postgres
from vanphong.ground.settings import get_settings


def _quiet_console() -> Console:
    return Console(file=StringIO(), width=200)


@pytest.fixture(scope="module")
def running_stack() -> Iterator[None]:
    assert stack.up(console=_quiet_console()) == 0
    yield


# ---------------------------------------------------------------------------------------------
# integration: the real broker and database


#: What `up` does only for a service that is not running: none of it may run a second time
#: (the check of free space, and each component's fetch, configure and start).
COMPONENTS = (KafkaBroker, Postgres, Apicurio, Keycloak)
SET_UP_STEPS = (
    (lifecycle, "check_free_space"),
    *((c, step) for c in COMPONENTS for step in ("fetch", "configure", "start")),
)


@pytest.mark.integration
def test_up_again_is_idempotent_and_only_checks(running_stack: None) -> None:
    before = stack.stack_status()
    out = StringIO()
    with contextlib.ExitStack() as patches:
        steps = {
            f"{getattr(owner, '__name__', owner)}.{name}": patches.enter_context(
                mock.patch.object(
                    owner, name, side_effect=AssertionError(f"a second `up` ran {name}")
                )
            )
            for owner, name in SET_UP_STEPS
        }
        assert stack.up(console=Console(file=out, width=200)) == 0
    assert [name for name, step in steps.items() if step.called] == []
    assert "already running" in out.getvalue()
    after = stack.stack_status()
    assert (after.kafka.pid, after.postgres.pid) == (before.kafka.pid, before.postgres.pid)


@pytest.mark.integration
def test_status_reports_both_running(running_stack: None) -> None:
    st = stack.stack_status()
    assert st.kafka.running, st.kafka
    assert st.postgres.running, st.postgres
    assert st.kafka.pid and st.postgres.pid
    assert st.exit_code == 0
    out = StringIO()
    assert stack.status(console=Console(file=out, width=200)) == 0
    text = out.getvalue()
    assert text.count("running") == len(st.components)  # + the registry, the secure nodes
    assert st.kafka.address in text and st.postgres.address in text


@pytest.mark.integration
def test_kafka_answers_metadata(running_stack: None) -> None:
    host, port = stack.parse_kafka_bootstrap(get_settings().kafka_bootstrap)

    async def cluster() -> dict[str, object]:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"{host}:{port}")
        await admin.start()
        try:
            await admin.list_topics()
            return dict(await admin.describe_cluster())
        finally:
            await admin.close()

    info = asyncio.run(cluster())
    brokers = info["brokers"]
    assert isinstance(brokers, list) and len(brokers) == 1
    assert brokers[0]["port"] == port
    assert info["controller_id"] == brokers[0]["node_id"]


async def _login(url: str) -> tuple[str, str, bool]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        row = await conn.fetchrow(
            "SELECT current_user, current_database(), "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        )
        assert row is not None
        return row[0], row[1], row[2]
    finally:
        await conn.close()


@pytest.mark.integration
def test_postgres_login_as_vanphong(running_stack: None) -> None:
    target = stack.parse_database_url(get_settings().database_url)
    user, database, superuser = asyncio.run(_login(get_settings().database_url))
    assert (user, database, superuser) == (target.user, target.database, False)


@pytest.mark.integration
def test_postgres_login_as_reporting_role(running_stack: None) -> None:
    url = stack.reporting_database_url()
    user, _database, superuser = asyncio.run(_login(url))
    assert (user, superuser) == (stack.REPORTING_ROLE, False)


@pytest.mark.integration
def test_wrong_password_is_refused(running_stack: None) -> None:
    target = stack.parse_database_url(get_settings().database_url)
    url = f"postgresql://{target.user}:not-the-password@127.0.0.1:{target.port}/{target.database}"
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(_login(url))


# ---------------------------------------------------------------------------------------------
# unit: no stack needed


def test_foreign_port_holder_is_detected() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert stack.port_in_use(port)
        holder = stack.foreign_port_holder(port)
        assert holder is not None
        assert holder.port == port
        if holder.pid is not None:  # ss can always name our own processes
            assert holder.pid == os.getpid()
            assert f"pid {os.getpid()}" in holder.describe()
        # our own process (by pid or by a marker in its command line) is not foreign
        assert stack.foreign_port_holder(port, own_pids={os.getpid()}) is None
    assert not stack.port_in_use(port)
    assert stack.foreign_port_holder(port) is None


def test_foreign_port_holder_in_another_process() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        holder = stack.foreign_port_holder(port, own_pids={os.getpid()})
        assert holder is not None
        if holder.pid is not None:  # known when ss may see the process (root, or our user)
            assert holder.pid == child.pid
            assert stack.foreign_port_holder(port, own_marker="sys.stdin.read()") is None
    finally:
        child.kill()
        child.wait()


def test_urls_are_parsed() -> None:
    target = stack.parse_database_url("postgresql://vanphong:vanphong@127.0.0.1:5432/vanphong")
    assert target == stack.PgTarget("127.0.0.1", 5432, "vanphong", "vanphong", "vanphong")
    assert stack.parse_database_url("postgresql://u:p%40ss@localhost/db").password == "p@ss"
    assert stack.parse_kafka_bootstrap("127.0.0.1:9092,127.0.0.1:9094") == ("127.0.0.1", 9092)
    assert stack.parse_kafka_bootstrap("kafka://localhost:19092") == ("localhost", 19092)
    with pytest.raises(stack.StackError, match="password"):
        stack.parse_database_url("postgresql://vanphong@127.0.0.1/vanphong")


def test_remote_hosts_are_refused() -> None:
    settings = get_settings().model_copy(update={"kafka_bootstrap": "kafka.example.org:9092"})
    with pytest.raises(stack.StackError, match="not this machine"):
        stack.StackConfig.from_settings(settings)


def test_missing_postgres_names_the_install_command(tmp_path: Path) -> None:
    paths = stack.StackPaths(tmp_path)
    progress = mock.MagicMock()
    with (
        mock.patch.object(install, "pg_installed", return_value=False),
        mock.patch.object(install.os, "geteuid", return_value=1000),
        pytest.raises(stack.StackError) as info,
    ):
        install.install_pg(paths, progress, _quiet_console())
    assert stack.PG_INSTALL_COMMAND in info.value.render()
    assert "apt-get install -y postgresql-15" in info.value.render()


def test_kafka_config_is_single_node_kraft() -> None:
    cfg = stack.StackConfig.from_settings(get_settings())
    props = dict(
        line.split("=", 1)
        for line in stack.kafka_server_properties(cfg).splitlines()
        if line and not line.startswith("#")
    )
    assert props["process.roles"] == "broker,controller"
    assert props["auto.create.topics.enable"] == "false"
    assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{cfg.kafka_port}"
    assert props["controller.quorum.voters"] == f"1@127.0.0.1:{cfg.kafka_port + 1}"
