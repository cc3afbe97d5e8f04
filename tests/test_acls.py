"""Least privilege (issue 11): ``vanphong init --acls`` grants the worker, a publisher and an
operator what their commands use and nothing more, and a missing ACL fails fast naming the
permission to grant.

The unit tests need nothing running; the `cluster` ones use the secure cluster of
`vanphong stack up --brokers 3 --secure` (users admin, worker, publisher, operator), each with
its own topic prefix, consumer group and database (PostgreSQL over TLS, verify-full).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr
from rich.console import Console

from testkit.history import documents_and_meetings
from tests.conftest import (
    VANPHONG,
    Env,
    Workers,
    _create_database,
    _delete_topics,
    _drop_database,
    _with_database,
)
from tests.verify import (
    assert_counts_add_up,
    assert_dead_letters_once,
    assert_views_match,
    model_of,
)
from vanphong.acls import (
    AclError,
    Grant,
    Operation,
    Principals,
    ResourceType,
    apply,
    plan,
    revoke,
)
from vanphong.deploy.local import cluster, stack
from vanphong.ground.kafka import admin_client, kafka_client_kwargs, standalone_consumer
from vanphong.ground.kafka_access import authorization_problem, missing_permissions, worker_access
from vanphong.ground.settings import Settings, get_settings
from vanphong.ground.unreachable import kafka_error
from vanphong.reporting.database import reporting_url
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC, EVENT_TYPES
from vanphong.sinks.migrate import migrate
from vanphong.streams.topics import create_topics

PREFIX = "acl"
SETTINGS = Settings(topic_prefix=PREFIX)
INPUTS = {SETTINGS.topic(e.topic) for e in EVENT_TYPES}
DEAD = SETTINGS.topic(DEAD_LETTER_TOPIC)


def _of(grants: list[Grant], principal: str) -> set[tuple[ResourceType, str, Operation]]:
    return {(g.resource_type, g.resource, g.operation) for g in grants if g.principal == principal}


# ---------------------------------------------------------------------------------------------
# unit: the plan


def test_a_publisher_may_write_the_input_topics_and_nothing_else() -> None:
    grants = _of(plan(SETTINGS, Principals()), "User:publisher")
    topic = ResourceType.TOPIC
    assert grants == {(topic, t, Operation.WRITE) for t in INPUTS} | {
        (topic, t, Operation.DESCRIBE) for t in INPUTS
    }
    assert not any(op == Operation.READ for (_t, _n, op) in grants)
    assert not any(name == DEAD for (_t, name, _op) in grants)


def test_the_worker_reads_its_input_and_group_and_writes_the_dead_letters() -> None:
    grants = _of(plan(SETTINGS, Principals()), "User:worker")
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    for name in INPUTS:
        assert (topic, name, Operation.READ) in grants
        assert (topic, name, Operation.WRITE) not in grants  # never writes its own input
    assert (group, f"{PREFIX}-worker", Operation.READ) in grants
    assert {(topic, DEAD, Operation.WRITE), (topic, DEAD, Operation.READ)} <= grants
    assert {name for (_t, name, _op) in grants} == INPUTS | {DEAD, f"{PREFIX}-worker"}


def test_the_operator_sees_offsets_and_dead_letters_and_replays_to_the_inputs() -> None:
    grants = _of(plan(SETTINGS, Principals()), "User:operator")
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    assert (group, f"{PREFIX}-worker", Operation.DESCRIBE) in grants
    assert (group, f"{PREFIX}-worker", Operation.READ) not in grants  # never joins the group
    assert (topic, DEAD, Operation.READ) in grants and (topic, DEAD, Operation.WRITE) not in grants
    assert {(topic, t, Operation.WRITE) for t in INPUTS} <= grants  # dlq replay


def test_principals_are_given_a_type_and_never_empty() -> None:
    grants = plan(SETTINGS, Principals("vp-worker", "User:CN=publisher,O=tinh-uy", "User:op"))
    assert {g.principal for g in grants} == {
        "User:vp-worker",
        "User:CN=publisher,O=tinh-uy",
        "User:op",
    }
    assert len(grants) == len({g.key for g in grants})  # no binding twice
    with pytest.raises(AclError, match="may not be empty"):
        plan(SETTINGS, Principals(worker=" "))


def test_a_refused_operation_names_the_permission_and_who_lacks_it() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="publisher",
        kafka_sasl_password=SecretStr("pw"),
    )
    denied = authorization_problem(
        TopicAuthorizationFailedError("acl.dead-letter.v1"), settings, "WRITE"
    )
    assert denied is not None
    assert "User:publisher WRITE (TopicAuthorizationFailedError) on topic acl.dead-letter.v1" in (
        denied.detail
    )
    assert "vanphong init --acls" in denied.hint
    group = GroupAuthorizationFailedError("Unable to get coordinator id for acl-worker")
    message = str(kafka_error(group, "b:1"))
    assert "refuses this client" in message and "DESCRIBE" in message
    assert "on group acl-worker" in message and "is it running" not in message
    assert authorization_problem(ValueError("x"), settings) is None


def test_a_broker_of_several_that_does_not_answer_is_not_an_unreachable_cluster() -> None:
    from aiokafka.errors import NodeNotReadyError

    message = str(kafka_error(NodeNotReadyError("node 2"), "b1:9093,b2:9093,b3:9093"))
    assert "is missing a broker" in message and "try again" in message
    assert "is it running" not in message


# ---------------------------------------------------------------------------------------------
# integration: the secure cluster


@pytest.fixture(scope="module")
def secure() -> Iterator[cluster.SecurePaths]:
    quiet = Console(file=StringIO(), width=200)
    assert stack.up(brokers=3, secure=True, console=quiet) == 0
    yield cluster.SecurePaths(stack.StackConfig.from_settings(get_settings()).paths)


def _env_of(sp: cluster.SecurePaths, user: str) -> dict[str, str]:
    lines = sp.env_file(user).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@dataclass
class AclEnv:
    """A prefix on the secure cluster with its ACLs granted, a database over TLS, and how to run
    commands and clients as each user."""

    env: Env
    secure: cluster.SecurePaths
    granted: str  # what `vanphong init --acls` printed

    def as_user(self, user: str) -> Settings:
        given: dict[str, Any] = {
            k.removeprefix("VANPHONG_").lower(): v for k, v in _env_of(self.secure, user).items()
        }
        given |= {
            "topic_prefix": self.env.settings.topic_prefix,
            "database_url": self.env.settings.database_url,
        }
        return Settings(**given)

    def command(
        self, user: str, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        environ = {
            **os.environ,
            **_env_of(self.secure, user),
            "VANPHONG_TOPIC_PREFIX": self.env.settings.topic_prefix,
            "VANPHONG_DATABASE_URL": self.env.settings.database_url,
            "VANPHONG_WEB_PORT": "0",
            "COLUMNS": "250",
        }
        return subprocess.run(
            [str(VANPHONG), *args],
            env=environ,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def acl_env(secure: cluster.SecurePaths, tmp_path: Path) -> Iterator[AclEnv]:
    with acl_environment(secure, tmp_path) as made:
        yield made


@contextmanager
def acl_environment(secure: cluster.SecurePaths, tmp_path: Path) -> Iterator[AclEnv]:
    """A new prefix, its topics (as the admin) and database, ``vanphong init --acls`` run as
    the admin, and workers that run as ``worker``; all removed on the way out."""
    admin = _env_of(secure, cluster.ADMIN_USER)
    given: dict[str, Any] = {k.removeprefix("VANPHONG_").lower(): v for k, v in admin.items()}
    base = Settings(**given)
    prefix = f"a{uuid.uuid4().hex[:10]}"
    db_name = f"vanphong_{prefix}"
    asyncio.run(_create_database(base.database_url, db_name))
    settings = base.model_copy(
        update={"topic_prefix": prefix, "database_url": _with_database(base.database_url, db_name)}
    )
    asyncio.run(create_topics(settings))
    migrate(settings.database_url, settings.timezone)
    workers = Workers(
        settings,
        tmp_path,
        extra_env={
            k: v for k, v in _env_of(secure, "worker").items() if k.startswith("VANPHONG_KAFKA_")
        },
    )
    acl = AclEnv(Env(settings, workers), secure, "")
    try:
        init = acl.command(cluster.ADMIN_USER, "init", "--acls")
        assert init.returncode == 0, init.stdout + init.stderr
        acl.granted = init.stdout
        yield acl
    finally:
        workers.stop_all()
        asyncio.run(_drop_database(base.database_url, db_name))
        asyncio.run(_delete_topics(settings))
        asyncio.run(revoke(settings, plan(settings, Principals())))


@pytest.mark.integration
@pytest.mark.cluster
def test_init_acls_prints_what_it_granted_and_a_second_run_grants_nothing_new(
    acl_env: AclEnv,
) -> None:
    prefix = acl_env.env.settings.topic_prefix
    rows = [line for line in acl_env.granted.splitlines() if "User:" in line]
    assert len(rows) == len(plan(acl_env.env.settings, Principals()))
    assert all(" granted " in row for row in rows), acl_env.granted
    assert any("User:publisher" in r and "WRITE" in r and prefix in r for r in rows)
    again = acl_env.command(cluster.ADMIN_USER, "init", "--acls")
    assert again.returncode == 0, again.stderr
    rows = [line for line in again.stdout.splitlines() if "User:" in line]
    assert rows and all(" existed " in row for row in rows), again.stdout
    # only an admin may grant: the operator is refused, and told why
    refused = acl_env.command("operator", "init", "--acls")
    assert refused.returncode == 2
    assert "ClusterAuthorizationFailed" in refused.stderr and "cluster admin" in refused.stderr
    # revoked, exactly: the next init grants them all again
    grants = plan(acl_env.env.settings, Principals())
    assert asyncio.run(revoke(acl_env.env.settings, grants)) == len(grants)
    assert asyncio.run(revoke(acl_env.env.settings, grants)) == 0
    regranted = acl_env.command(cluster.ADMIN_USER, "init", "--acls")
    rows = [line for line in regranted.stdout.splitlines() if "User:" in line]
    assert len(rows) == len(grants) and all(" granted " in row for row in rows)


@pytest.mark.integration
@pytest.mark.cluster
def test_the_worker_running_as_worker_counts_what_the_publisher_published(
    acl_env: AclEnv,
) -> None:
    env = acl_env.env
    messages = documents_and_meetings(seed=111, documents=300, meetings=60)
    publisher = acl_env.as_user("publisher")

    async def publish() -> None:
        producer = AIOKafkaProducer(
            **kafka_client_kwargs(publisher), acks="all", enable_idempotence=True, linger_ms=10
        )
        await producer.start()
        try:
            futures = [
                await producer.send(env.topic(m.topic), m.value, key=m.key) for m in messages
            ]
            for future in futures:
                await future
        finally:
            await producer.stop()

    asyncio.run(publish())
    env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(messages))
    assert_counts_add_up(env, messages)
    assert_dead_letters_once(env, messages)  # the worker wrote them, as `worker`
    assert "Authenticated as worker" in env.workers.log_tail(n=100_000)


@pytest.mark.integration
@pytest.mark.cluster
def test_a_publisher_can_neither_read_the_dead_letters_nor_write_anywhere_else(
    acl_env: AclEnv,
) -> None:
    env = acl_env.env
    publisher = acl_env.as_user("publisher")
    other = f"{env.settings.topic_prefix}-elsewhere"

    async def create_other() -> None:
        async with admin_client(env.settings) as admin:
            await admin.create_topics([NewTopic(other, 1, 3)])

    async def write(topic: str) -> None:
        producer = AIOKafkaProducer(**kafka_client_kwargs(publisher), acks="all")
        await producer.start()
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, b"x", key=b"k"), 60)
        finally:
            await producer.stop()

    async def read(topic: str) -> Any:
        async with standalone_consumer(publisher) as consumer:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            return await asyncio.wait_for(consumer.getmany(tp, timeout_ms=5000), 60)

    async def denied_by_the_brokers(topic: str) -> list[str]:
        # a topic it may not even DESCRIBE is one aiokafka's consumer waits for forever, so
        # ask the brokers what they allow instead (their Metadata answer: error 29)
        async with admin_client(publisher) as admin:
            return await missing_permissions(admin, {topic: ["READ", "DESCRIBE"]})

    asyncio.run(create_other())
    try:
        for topic in (env.topic(DEAD_LETTER_TOPIC), other):
            with pytest.raises(TopicAuthorizationFailedError):
                asyncio.run(write(topic))
        with pytest.raises(TopicAuthorizationFailedError):  # a Fetch, refused
            asyncio.run(read(env.topic(EVENT_TYPES[0].topic)))
        dead = env.topic(DEAD_LETTER_TOPIC)
        assert asyncio.run(denied_by_the_brokers(dead)) == [
            f"READ on topic {dead}",
            f"DESCRIBE on topic {dead}",
        ]
        asyncio.run(write(env.topic(EVENT_TYPES[0].topic)))  # where it may write, it can
    finally:
        asyncio.run(_delete_other(env.settings, other))
    # `dlq list` as the publisher: told it may not DESCRIBE the topic, not that it is missing
    listed = acl_env.command("publisher", "dlq", "list")
    said = " ".join(listed.stderr.split())
    assert listed.returncode == 2, listed.stdout + listed.stderr
    assert f"deny User:publisher DESCRIBE on topic {dead}" in said, said
    assert "does not exist (run" not in said, said
    # `vanphong publish` as a principal without WRITE: fast, and it names what to grant
    line = (
        '{"type": "unit.registered", "event_id": "u-acl-1", "occurred_at": "2018-01-01T01:29:00Z",'
        ' "source": "test", "unit_id": "acl-u1", "name": "Phòng", "kind": "OTHER",'
        ' "parent_unit_id": "vptu", "province": "Vĩnh Long"}'
    )
    denied = acl_env.command("worker", "publish", stdin=line + "\n")
    assert denied.returncode == 2, denied.stdout + denied.stderr
    topic = env.topic(EVENT_TYPES[0].topic)
    assert f"deny User:worker WRITE (TopicAuthorizationFailedError) on topic {topic}" in (
        denied.stderr
    ), denied.stderr
    assert "vanphong init --acls" in denied.stderr


async def _delete_other(settings: Settings, name: str) -> None:
    async with admin_client(settings) as admin:
        await admin.delete_topics([name])


@pytest.mark.integration
@pytest.mark.cluster
def test_the_operator_sees_status_and_dead_letters_and_others_are_told_what_they_lack(
    acl_env: AclEnv,
) -> None:
    env = acl_env.env
    status = acl_env.command("operator", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert env.settings.consumer_group in status.stdout
    listed = acl_env.command("operator", "dlq", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    # a publisher may not look at the group: status fails fast, naming the permission
    refused = acl_env.command("publisher", "status")
    assert refused.returncode == 2
    wanted = f"DESCRIBE (GroupAuthorizationFailedError) on group {env.settings.consumer_group}"
    assert f"deny User:publisher {wanted}" in " ".join(refused.stderr.split()), refused.stderr
    # a worker on a prefix it was granted nothing for stops at once, naming what it lacks
    environ = {"VANPHONG_TOPIC_PREFIX": f"{env.settings.topic_prefix}x"}
    worker = subprocess.run(
        [str(VANPHONG), "worker"],
        env={**env.workers.env(), **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 3, worker.stdout + worker.stderr
    output = worker.stdout + worker.stderr
    assert f"READ, DESCRIBE on group {env.settings.topic_prefix}x-worker" in output, output
    assert "vanphong init --acls" in output


@pytest.mark.integration
@pytest.mark.cluster
def test_the_reporting_role_reads_reporting_only_over_verified_tls(acl_env: AclEnv) -> None:
    url, _variable = reporting_url(acl_env.env.settings)
    assert "sslmode=verify-full" in url and "sslrootcert=" in url

    async def check() -> tuple[bool, int]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            ssl_on = await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            count = await conn.fetchval("SELECT count(*) FROM reporting.unit_activity_daily")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("SELECT * FROM core.entities LIMIT 1")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("SELECT * FROM core.dead_letters LIMIT 1")
            return bool(ssl_on), int(count)
        finally:
            await conn.close()

    ssl_on, count = asyncio.run(check())
    assert ssl_on and count >= 0


@pytest.mark.integration
def test_on_a_cluster_without_an_authorizer_the_worker_lacks_nothing_and_init_says_why() -> None:
    assert asyncio.run(worker_access(Settings(topic_prefix=f"p{uuid.uuid4().hex[:8]}"))) is None
    with pytest.raises(AclError, match="no authorizer"):
        asyncio.run(apply(Settings(), plan(Settings(), Principals())[:1]))
