"""The secure cluster: three KRaft nodes with TLS, SASL/SCRAM-SHA-512 and the StandardAuthorizer.

``vanphong stack up --brokers 3 --secure`` runs it beside the plain single-node broker (the test
suite needs both), from the same Maven Central jars, in ``<stack_dir>/secure``:

* node ``n`` (1, 2, 3, …) is a broker and a controller in one JVM; its clients' listener is
  ``SASL_SSL://127.0.0.1:19<n>92`` (also the brokers' own listener, as ``User:admin``) and its
  controller listener ``SSL://127.0.0.1:19<n>93`` with mutual TLS (the brokers are
  ``User:CN=vanphong-broker`` there: SCRAM credentials live in the metadata the controllers
  serve, so the controllers cannot use them themselves);
* every topic gets replication factor 3 and ``min.insync.replicas=2`` by default (the broker
  defaults), the internal topics too;
* the SCRAM users (:data:`USERS`) are written into the metadata log when the storage is formatted;
  their passwords are made once and kept in ``users.json`` and ``passwords/<user>`` (mode 0600);
* ``super.users`` is the admin and the brokers; ``allow.everyone.if.no.acl.found=false``, so every
  other principal needs ACLs;
* ``<user>.env`` (and ``client.env``, the admin's) hold the ``VANPHONG_*`` lines that point a
  command at the cluster as that user: ``set -a; . ~/.cache/vanphong/secure/client.env; set +a``.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from typing import TYPE_CHECKING, Any

from vanphong.deploy.local.broker import (
    KAFKA_GC_OPTS,
    KAFKA_LOG4J,
    KAFKA_MAIN_JAR,
    admin_round_trip,
)
from vanphong.deploy.local.certs import BROKER_CN
from vanphong.deploy.local.cluster_files import (
    ADMIN_USER,
    SASL_MECHANISM,
    SecurePaths,
    client_port,
    cluster_bootstrap,
    controller_port,
    write_secret,
)
from vanphong.deploy.local.cluster_files import USERS as USERS  # the tests name them here
from vanphong.deploy.local.cluster_files import ensure_users as ensure_users
from vanphong.deploy.local.cluster_files import tls_database_url as tls_database_url
from vanphong.deploy.local.config import KAFKA_VERSION, LISTEN_HOST
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.launch import NotReady, gone, launch_detached, wait_until_ready
from vanphong.deploy.local.processes import accepts_tcp, alive, cmdline
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import now

if TYPE_CHECKING:
    from aiokafka.admin import AIOKafkaAdminClient

DEFAULT_BROKERS = 3
MIN_BROKERS = 3  # replication factor 3
MAX_BROKERS = 5
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
CLUSTER_JVM_OPTS = ("-Xms256m", "-Xmx512m", *KAFKA_GC_OPTS)


def node_properties(paths: SecurePaths, node: int, brokers: int, admin_password: str) -> str:
    """One node's configuration (broker and controller in one process)."""
    certs = paths.certs
    voters = ",".join(f"{n}@{LISTEN_HOST}:{controller_port(n)}" for n in range(1, brokers + 1))
    replication = min(REPLICATION_FACTOR, brokers)
    min_isr = min(MIN_INSYNC_REPLICAS, replication)
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN_USER}" password="{admin_password}";'
    )
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        "listeners": (
            f"SASL_SSL://{LISTEN_HOST}:{client_port(node)},"
            f"CONTROLLER://{LISTEN_HOST}:{controller_port(node)}"
        ),
        "advertised.listeners": f"SASL_SSL://{LISTEN_HOST}:{client_port(node)}",
        "listener.security.protocol.map": "CONTROLLER:SSL,SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "controller.listener.names": "CONTROLLER",
        # SASL/SCRAM for clients and between brokers (the admin user)
        "sasl.enabled.mechanisms": SASL_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SASL_MECHANISM,
        f"listener.name.sasl_ssl.{SASL_MECHANISM.lower()}.sasl.jaas.config": jaas,
        # TLS: the stack's CA; the brokers' certificate (also their client certificate on the
        # controller listener, where mutual TLS is required)
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(certs.broker_keystore),
        "ssl.keystore.password": certs.keystore_password(),
        "ssl.key.password": certs.keystore_password(),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs.ca_cert),
        "ssl.endpoint.identification.algorithm": "https",
        "listener.name.controller.ssl.client.auth": "required",
        # authorisation: nothing without an ACL, except for the super users
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN_USER};User:CN={BROKER_CN}",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": str(paths.data(node)),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(min_isr),
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
    }
    lines = [
        "# written by `vanphong stack up --secure` (deploy/local/cluster.py) on every start: "
        "edit that",
        *(f"{k}={v}" for k, v in props.items()),
    ]
    return "\n".join(lines) + "\n"


def _node_cmd(java: str, paths: SecurePaths, node: int, main: str, *args: str) -> list[str]:
    return [
        java,
        *CLUSTER_JVM_OPTS,
        f"-Dlog4j2.configurationFile={paths.log4j}",
        f"-Dkafka.logs.dir={paths.logs(node)}",
        "-cp",
        f"{paths.stack.libs}/*",
        main,
        *args,
    ]


def write_node_configs(paths: SecurePaths, brokers: int, admin_password: str) -> None:
    shutil.copyfile(KAFKA_LOG4J, paths.log4j)
    for node in range(1, brokers + 1):
        paths.logs(node).mkdir(parents=True, exist_ok=True)
        paths.data(node).mkdir(parents=True, exist_ok=True)
        write_secret(
            paths.server_properties(node),
            node_properties(paths, node, brokers, admin_password),
        )


def formatted_brokers(paths: SecurePaths) -> int:
    """How many nodes the cluster was set up with (0: never)."""
    try:
        return int(paths.brokers_file.read_text())
    except (OSError, ValueError):
        return 0


def format_nodes(
    java: str, paths: SecurePaths, brokers: int, users: dict[str, str], progress: Progress
) -> None:
    """Format the storage of every node not formatted yet, with one cluster id and the SCRAM
    users (first run only), all at once: each is a JVM of its own that mostly starts up."""
    done = formatted_brokers(paths)
    if done and done != brokers:
        raise StackError(
            f"the secure cluster in {paths.root} was set up with {done} brokers, not {brokers}",
            hint=f"use --brokers {done}, or `vanphong stack down` and remove {paths.root} to "
            "start over",
        )
    missing = [n for n in range(1, brokers + 1) if not (paths.data(n) / "meta.properties").exists()]
    if not missing:
        return
    progress.step(f"formatting {len(missing)} KRaft nodes with the SCRAM users (first run only)")
    paths.brokers_file.write_text(f"{brokers}\n")
    if not paths.cluster_id.exists():
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid: never a leading dash
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        paths.cluster_id.write_text(cluster_id + "\n")
    cluster_id = paths.cluster_id.read_text().strip()
    scram: list[str] = []
    for user, password in users.items():
        scram += ["--add-scram", f"{SASL_MECHANISM}=[name={user},password={password}]"]
    running: dict[int, subprocess.Popen[str]] = {}
    for node in missing:
        cmd = _node_cmd(
            java,
            paths,
            node,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(paths.server_properties(node)),
            *scram,
        )
        # a short-lived tool: a small heap, and no optimising compiler to warm up
        cmd = [c for c in cmd if not c.startswith(("-Xms", "-Xmx"))]
        cmd.insert(1, "-XX:TieredStopAtLevel=1")
        running[node] = subprocess.Popen(
            cmd,
            cwd=paths.node_dir(node),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    failed: list[tuple[int, str]] = []
    for node, proc in running.items():
        try:
            output, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        with paths.out(node).open("a") as out:
            out.write(f"--- {now()} storage format\n{output}")
        if proc.returncode != 0:
            failed.append((node, output))
    if failed:
        node, output = failed[0]
        # the command line holds the passwords: never shown
        raise StackError(
            f"formatting the storage of node {node} in {paths.data(node)} failed",
            detail=output[-3000:],
            hint=f"`vanphong stack down`, remove {paths.root}, then "
            "`vanphong stack up --secure` again",
        )


def _is_our_node(pid: int, paths: SecurePaths, node: int) -> bool:
    cmd = cmdline(pid)
    return alive(pid) and "kafka.Kafka" in cmd and str(paths.server_properties(node)) in cmd


def node_pids(paths: SecurePaths, state: dict[str, Any]) -> dict[int, int | None]:
    """Node → pid of our running broker (None if it is not running), for the recorded nodes."""
    cluster = state.get("cluster") or {}
    out: dict[int, int | None] = {}
    for entry in cluster.get("nodes") or []:
        node, pid = entry.get("node"), entry.get("pid")
        if isinstance(node, int):
            ok = isinstance(pid, int) and _is_our_node(pid, paths, node)
            out[node] = pid if ok else None
    return out


def launch_node(java: str, paths: SecurePaths, node: int) -> int:
    return launch_detached(
        _node_cmd(java, paths, node, "kafka.Kafka", str(paths.server_properties(node))),
        cwd=paths.node_dir(node),
        log=paths.out(node),
        banner=f"starting Kafka {KAFKA_VERSION} node {node}",
    )


def node_state(paths: SecurePaths, node: int, pid: int) -> dict[str, Any]:
    return {
        "node": node,
        "pid": pid,
        "bootstrap": f"{LISTEN_HOST}:{client_port(node)}",
        "controller": f"{LISTEN_HOST}:{controller_port(node)}",
        "log": str(paths.log(node)),
        "started_at": now(),
    }


def cluster_state(paths: SecurePaths, brokers: int, pids: dict[int, int]) -> dict[str, Any]:
    """What ``stack.json`` records about the secure cluster."""
    return {
        "mode": "secure",
        "brokers": brokers,
        "version": KAFKA_VERSION,
        "bootstrap": cluster_bootstrap(brokers),
        "client_env": str(paths.env_file(ADMIN_USER)),
        "ca": str(paths.certs.ca_cert),
        "nodes": [node_state(paths, n, pid) for n, pid in sorted(pids.items())],
    }


def secure_admin_kwargs(paths: SecurePaths, user: str, password: str) -> dict[str, Any]:
    """aiokafka keyword arguments for SASL_SSL as ``user`` against this cluster."""
    from aiokafka.helpers import create_ssl_context

    return {
        "security_protocol": "SASL_SSL",
        "ssl_context": create_ssl_context(cafile=str(paths.certs.ca_cert)),
        "sasl_mechanism": SASL_MECHANISM,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


def cluster_probe(
    bootstrap: str, kwargs: dict[str, Any], timeout: float = 5.0
) -> list[dict[str, Any]]:
    """One metadata round trip over SASL_SSL; returns the brokers the cluster reports."""

    async def brokers(admin: AIOKafkaAdminClient) -> list[dict[str, Any]]:
        return list((await admin.describe_cluster())["brokers"])

    return admin_round_trip(bootstrap, brokers, timeout, **kwargs)


def wait_cluster(
    paths: SecurePaths, pids: dict[int, int], password: str, deadline: float, timeout: float
) -> None:
    """Until every node is registered as a broker (a metadata request as the admin says so)."""
    kwargs = secure_admin_kwargs(paths, ADMIN_USER, password)
    brokers = len(pids)

    def probe(seconds: float) -> bool:
        if not all(accepts_tcp(client_port(n)) for n in pids):
            return False
        seen = cluster_probe(cluster_bootstrap(brokers), kwargs, timeout=seconds)
        if len(seen) < brokers:
            raise NotReady(f"{len(seen)} of {brokers} brokers registered")
        return True

    def exited() -> StackError | None:
        for node, pid in pids.items():
            if gone(pid):
                return StackError(
                    f"Kafka node {node} (pid {pid}) exited during start-up",
                    hint="read the logs above; `vanphong stack down`, remove "
                    f"{paths.root} if its data is damaged, then `vanphong stack up --secure`",
                    logs=[paths.out(node), paths.log(node)],
                )
        return None

    def timed_out(last: str) -> StackError:
        return StackError(
            f"the secure cluster did not report {brokers} brokers at "
            f"{cluster_bootstrap(brokers)} within {timeout:.0f} s (last: {last})",
            hint="read the logs; `vanphong stack down` stops it; `--timeout 300` waits "
            "longer on a slow machine",
            logs=[paths.log(n) for n in pids],
        )

    wait_until_ready(probe, deadline=deadline, timeout=timeout, exited=exited, timed_out=timed_out)


def jars_present(paths: SecurePaths) -> bool:
    return (paths.stack.libs / KAFKA_MAIN_JAR).exists()
