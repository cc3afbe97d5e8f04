"""The secure cluster beside the plain stack (`vanphong stack up --brokers 3 --secure`): three
KRaft nodes with TLS, SASL/SCRAM-SHA-512 and the StandardAuthorizer, replication factor 3 and
min.insync.replicas 2 by default, and PostgreSQL with TLS verified against the stack's CA.

The suite shares the cluster, so nothing here stops it; `stack down` stops it with the rest.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from io import StringIO
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError
from rich.console import Console

from testkit.history import documents_and_meetings
from tests.conftest import (
    Env,
    Workers,
    _create_database,
    _delete_topics,
    _drop_database,
    _with_database,
    wait_for,
)
from tests.verify import (
    assert_counts_add_up,
    assert_dead_letters_once,
    assert_views_match,
    model_of,
)
from vanphong.deploy.local import cluster, stack
from vanphong.deploy.local.postgres import pg_server_conf
from vanphong.ground.settings import Settings, get_settings
from vanphong.sinks.migrate import migrate
from vanphong.streams.topics import contract_topics, create_topics

BROKERS = 3


def _quiet_console() -> Console:
    return Console(file=StringIO(), width=200)


@pytest.fixture(scope="module")
def secure() -> Iterator[cluster.SecurePaths]:
    assert stack.up(brokers=BROKERS, secure=True, console=_quiet_console()) == 0
    yield cluster.SecurePaths(stack.StackConfig.from_settings(get_settings()).paths)


def _secure_settings(sp: cluster.SecurePaths, user: str = cluster.ADMIN_USER) -> Settings:
    """The settings of ``<user>.env``: the cluster over SASL_SSL as ``user``, PostgreSQL over
    TLS (verify-full)."""
    lines = _env_lines(sp.env_file(user))
    given: dict[str, Any] = {k.removeprefix("VANPHONG_").lower(): v for k, v in lines.items()}
    return Settings(**given)


def _password(sp: cluster.SecurePaths, user: str) -> str:
    return sp.password_file(user).read_text().strip()


@asynccontextmanager
async def _admin(
    sp: cluster.SecurePaths, user: str, password: str | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=cluster.cluster_bootstrap(BROKERS),
        request_timeout_ms=10_000,
        **cluster.secure_admin_kwargs(sp, user, password or _password(sp, user)),
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


def _run(coro: Any, deadline_s: float = 60.0) -> Any:
    """Run a coroutine with a deadline: a refusal must come as an error, never as a hang."""
    return asyncio.run(asyncio.wait_for(coro, deadline_s))


# ---------------------------------------------------------------------------------------------
# integration: the real cluster and database


@pytest.mark.integration
@pytest.mark.cluster
def test_three_brokers_answer_over_sasl_ssl_and_status_shows_the_mode(
    secure: cluster.SecurePaths,
) -> None:
    async def brokers() -> list[dict[str, Any]]:
        async with _admin(secure, cluster.ADMIN_USER) as admin:
            return list((await admin.describe_cluster())["brokers"])

    seen = _run(brokers())
    assert sorted(b["port"] for b in seen) == [cluster.client_port(n) for n in (1, 2, 3)]
    st = stack.stack_status()
    assert [c.running for c in st.cluster] == [True] * BROKERS, st.cluster
    assert f"secure ({BROKERS} brokers" in st.mode
    out = StringIO()
    stack.status(console=Console(file=out, width=200))
    text = out.getvalue()
    assert "mode:" in text and "secure" in text
    for n in (1, 2, 3):
        assert f"127.0.0.1:{cluster.client_port(n)}" in text
    for user in cluster.USERS:  # status names files, never a password
        assert _password(secure, user) not in text


@pytest.mark.integration
@pytest.mark.cluster
def test_every_topic_init_creates_gets_three_replicas_and_min_insync_two(
    secure: cluster.SecurePaths,
) -> None:
    settings = _secure_settings(secure).model_copy(
        update={"topic_prefix": f"sec{uuid.uuid4().hex[:8]}"}
    )
    wanted = contract_topics(settings)

    async def describe() -> tuple[dict[str, list[int]], dict[str, str]]:
        async with _admin(secure, cluster.ADMIN_USER) as admin:
            described = await admin.describe_topics(list(wanted))
            replicas = {
                t["topic"]: [len(p["replicas"]) for p in t["partitions"]]
                for t in described
                if t["error_code"] == 0
            }
            configs = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted]
            )
            min_isr = {
                resource[3]: value
                for response in configs
                for resource in response.resources
                if resource[0] == 0
                for (key, value, *_rest) in resource[4]
                if key == "min.insync.replicas"
            }
            return replicas, min_isr

    seen: list[tuple[dict[str, list[int]], dict[str, str]]] = []

    def described_everywhere() -> bool:
        # the broker asked may learn of new topics a moment after the controller made them
        seen.append(_run(describe()))
        replicas, min_isr = seen[-1]
        return set(replicas) == set(wanted) == set(min_isr)

    assert set(_run(create_topics(settings)).values()) == {"created"}
    try:
        wait_for(described_everywhere, 60, "every new topic described")
    finally:
        _run(_delete_topics(settings))
    replicas, min_isr = seen[-1]
    assert replicas == {name: [3] * n for name, n in wanted.items()}
    assert min_isr == {name: "2" for name in wanted}


@pytest.mark.integration
@pytest.mark.cluster
def test_a_scram_login_works_and_a_wrong_password_is_refused(
    secure: cluster.SecurePaths,
) -> None:
    async def topics(user: str, password: str | None = None) -> list[str]:
        async with _admin(secure, user, password) as admin:
            return list(await admin.list_topics())

    assert isinstance(_run(topics(cluster.ADMIN_USER)), list)
    with pytest.raises(KafkaConnectionError):
        _run(topics(cluster.ADMIN_USER, "not-the-password"))
    with pytest.raises(KafkaConnectionError):
        _run(topics("nobody", "whatever"))


@pytest.mark.integration
@pytest.mark.cluster
def test_a_principal_without_acls_may_not_create_topics(secure: cluster.SecurePaths) -> None:
    from aiokafka.admin import NewTopic

    name = f"sec-denied-{uuid.uuid4().hex[:8]}"

    async def create_as_publisher() -> Any:
        async with _admin(secure, "publisher") as admin:
            return await admin.create_topics([NewTopic(name, 1, 3)])

    response = _run(create_as_publisher())
    codes = [error_code for (_topic, error_code, *_rest) in response.topic_errors]
    assert codes == [29], response  # TOPIC_AUTHORIZATION_FAILED


@pytest.mark.integration
@pytest.mark.cluster
def test_postgres_accepts_verify_full_with_the_stack_ca_and_not_without_it(
    secure: cluster.SecurePaths, tmp_path: Path
) -> None:
    url = cluster.tls_database_url(get_settings().database_url, str(secure.certs.ca_cert))

    async def ssl_in_use(dsn: str) -> bool:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return bool(
                await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
        finally:
            await conn.close()

    assert _run(ssl_in_use(url)) is True
    # a CA that did not sign the server's certificate: verify-full refuses it
    other_ca = tmp_path / "other-ca.crt"
    other = cluster.SecurePaths(stack.StackPaths(tmp_path))
    from vanphong.deploy.local.certs import ensure_certs

    ensure_certs(other.certs)
    other_ca.write_bytes(other.certs.ca_cert.read_bytes())
    wrong = cluster.tls_database_url(get_settings().database_url, str(other_ca))
    with pytest.raises((ssl.SSLError, ssl.SSLCertVerificationError, OSError)):
        _run(ssl_in_use(wrong))
    # the plain stack's clients keep working without asking for TLS
    plain = get_settings().database_url
    sep = "&" if "?" in plain else "?"
    assert _run(ssl_in_use(f"{plain}{sep}sslmode=disable")) is False


@pytest.mark.integration
@pytest.mark.cluster
def test_the_settings_files_name_the_password_file_and_are_private(
    secure: cluster.SecurePaths,
) -> None:
    for user in cluster.USERS:
        env = secure.env_file(user)
        assert stat.S_IMODE(env.stat().st_mode) == 0o600
        assert stat.S_IMODE(secure.password_file(user).stat().st_mode) == 0o600
        lines = dict(
            line.split("=", 1)
            for line in env.read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert lines["VANPHONG_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert lines["VANPHONG_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert lines["VANPHONG_KAFKA_SASL_USERNAME"] == user
        assert lines["VANPHONG_KAFKA_SASL_PASSWORD_FILE"] == str(secure.password_file(user))
        assert lines["VANPHONG_KAFKA_BOOTSTRAP"] == cluster.cluster_bootstrap(BROKERS)
        assert "sslmode=verify-full" in lines["VANPHONG_DATABASE_URL"]
        assert _password(secure, user) not in env.read_text()
    state = json.loads((secure.stack.state).read_text())
    assert len(state["cluster"]["nodes"]) == BROKERS


def _env_lines(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    )


@pytest.fixture
def secure_env(secure: cluster.SecurePaths, tmp_path: Path) -> Iterator[Env]:
    """As conftest's ``env``, on the secure cluster as the admin and on PostgreSQL over TLS
    (verify-full): its own topic prefix and database, and workers started with the settings
    of ``client.env``."""
    lines = _env_lines(secure.env_file(cluster.ADMIN_USER))
    base = _secure_settings(secure)
    prefix = f"s{uuid.uuid4().hex[:10]}"
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
        extra_env={k: v for k, v in lines.items() if k.startswith("VANPHONG_KAFKA_")},
    )
    try:
        yield Env(settings, workers)
    finally:
        workers.stop_all()
        asyncio.run(_drop_database(base.database_url, db_name))
        asyncio.run(_delete_topics(settings))


@pytest.mark.integration
@pytest.mark.cluster
def test_the_worker_counts_what_is_published_over_sasl_ssl_on_three_brokers(
    secure: cluster.SecurePaths, secure_env: Env
) -> None:
    env = secure_env
    assert env.settings.kafka_security_protocol == "SASL_SSL"
    assert "sslmode=verify-full" in env.settings.database_url
    messages = documents_and_meetings(seed=11, documents=400, meetings=80)
    env.send_raw([(env.topic(m.topic), m.key, m.value) for m in messages])
    worker = env.workers.start()
    env.wait_caught_up()
    assert_views_match(env, model_of(messages))
    assert_counts_add_up(env, messages)
    assert_dead_letters_once(env, messages)
    # the worker's log never carries the password
    env.workers.stop_all()
    assert worker.returncode is not None
    log = env.workers.log_tail(n=100_000)
    assert _password(secure, cluster.ADMIN_USER) not in log


# ---------------------------------------------------------------------------------------------
# unit: no cluster needed


def _props(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def test_a_node_is_configured_for_tls_scram_acls_and_three_replicas(tmp_path: Path) -> None:
    sp = cluster.SecurePaths(stack.StackPaths(tmp_path))
    sp.certs.dir.mkdir(parents=True)
    sp.certs.keystore_password_file.write_text("ks-secret\n")
    props = _props(cluster.node_properties(sp, 2, 3, "admin-secret"))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19193,2@127.0.0.1:19293,3@127.0.0.1:19393"
    )
    assert props["listeners"] == "SASL_SSL://127.0.0.1:19292,CONTROLLER://127.0.0.1:19293"
    assert props["listener.security.protocol.map"] == "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:CN=vanphong-broker"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("3", "2")
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"


def test_postgres_turns_tls_on_only_with_a_certificate() -> None:
    plain = pg_server_conf(5432, Path("/run"))
    assert "ssl = on" not in plain
    with_tls = pg_server_conf(5432, Path("/run"), tls=True)
    assert "ssl = on" in with_tls and "ssl_cert_file = 'server.crt'" in with_tls


def test_the_ca_signs_server_certificates_for_this_host(tmp_path: Path) -> None:
    from vanphong.deploy.local.certs import Certs, ensure_certs

    certs = Certs(tmp_path / "tls")
    assert ensure_certs(certs) is True
    assert ensure_certs(certs) is False  # made once, then kept
    for name in ("broker", "postgres", "client"):
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", str(certs.ca_cert), str(certs.cert(name))],
            capture_output=True,
            text=True,
            check=False,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        # each key belongs to its certificate
        ssl.create_default_context().load_cert_chain(str(certs.cert(name)), str(certs.key(name)))
    decoded = ssl._ssl._test_decode_cert(str(certs.cert("broker")))  # type: ignore[attr-defined]
    assert ("IP Address", "127.0.0.1") in decoded["subjectAltName"]
    assert ("DNS", "localhost") in decoded["subjectAltName"]
    assert stat.S_IMODE(certs.key("broker").stat().st_mode) == 0o600


def test_more_brokers_without_secure_is_refused() -> None:
    with pytest.raises(stack.StackError, match="needs --secure"):
        stack.up(brokers=3, console=_quiet_console())
    with pytest.raises(stack.StackError, match="3 to 5"):
        stack.up(brokers=2, secure=True, console=_quiet_console())


@pytest.mark.integration
@pytest.mark.cluster
@pytest.mark.faults
def test_a_killed_broker_is_missed_then_comes_back_on_its_data(
    secure: cluster.SecurePaths,
) -> None:
    async def registered() -> int:
        """Brokers the cluster reports; -1 when the node asked was the one that is gone."""
        try:
            async with _admin(secure, cluster.ADMIN_USER) as admin:
                return len((await admin.describe_cluster())["brokers"])
        except KafkaError:
            return -1

    killed = stack.stop_broker(BROKERS, kill=True)
    try:
        st = stack.stack_status()
        assert [c.running for c in st.cluster] == [True] * (BROKERS - 1) + [False]
        assert st.exit_code == stack.EXIT_NOT_RUNNING
        # the controllers notice the missing broker once its session times out
        wait_for(lambda: _run(registered()) == BROKERS - 1, 90, "the cluster to miss a broker")
    finally:
        pid = stack.start_broker(BROKERS)
    assert pid != killed
    assert _run(registered()) == BROKERS
    assert stack.stack_status().cluster[-1].running


def test_down_stops_every_node_it_started_and_forgets_the_cluster(tmp_path: Path) -> None:
    from vanphong.deploy.local.processes import alive
    from vanphong.deploy.local.secure import stop_cluster
    from vanphong.deploy.local.spinner import Progress

    sp = cluster.SecurePaths(stack.StackPaths(tmp_path))
    nodes = [
        subprocess.Popen(  # stands in for a broker: its command line names its config
            [
                sys.executable,
                "-c",
                "import sys, time; time.sleep(120)",
                "kafka.Kafka",
                str(sp.server_properties(n)),
            ]
        )
        for n in (1, 2)
    ]
    try:
        state: dict[str, Any] = {
            "cluster": cluster.cluster_state(sp, 2, {1: nodes[0].pid, 2: nodes[1].pid}),
            "kafka": {"pid": 1},
        }
        with Progress(_quiet_console()) as progress:
            stopped = stop_cluster(sp, state, progress, timeout=30)
        assert [line.split(" (")[0] for line in stopped] == ["Kafka node 1", "Kafka node 2"]
        assert [alive(p.pid) for p in nodes] == [False, False]
        assert "cluster" not in state and "kafka" in state
    finally:
        for p in nodes:
            p.kill()
            p.wait()


def test_the_stack_commands_find_the_plain_broker_with_client_env_sourced() -> None:
    settings = get_settings().model_copy(
        update={"kafka_bootstrap": cluster.cluster_bootstrap(BROKERS)}
    )
    assert stack.StackConfig.from_settings(settings).kafka_port == 9092
