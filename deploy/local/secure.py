"""``up --brokers 3 --secure``: the secure cluster (``cluster``) and PostgreSQL with TLS, in order.

Beside the plain stack, not instead of it: the plain broker is left as it is (running or not),
and PostgreSQL is the same instance, with TLS turned on for everyone (a reload, no restart: the
plain stack's clients keep working, with ``sslmode=prefer`` or ``disable``). ``down`` stops the
cluster with the rest (:func:`stop_cluster`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

from rich.console import Console
from rich.markup import escape

from vanphong.deploy.local.broker import fetch_kafka_jars, find_java
from vanphong.deploy.local.certs import ensure_certs
from vanphong.deploy.local.cluster import (
    DEFAULT_BROKERS,
    cluster_state,
    format_nodes,
    launch_node,
    node_pids,
    node_state,
    wait_cluster,
    write_node_configs,
)
from vanphong.deploy.local.cluster_files import (
    ADMIN_USER,
    SecurePaths,
    client_port,
    cluster_bootstrap,
    controller_port,
    ensure_users,
    tls_database_url,
    write_env_files,
)
from vanphong.deploy.local.component import ComponentStatus, probe_status
from vanphong.deploy.local.config import (
    DEFAULT_TIMEOUT,
    KAFKA_VERSION,
    PG_MAJOR,
    STOP_TIMEOUT,
    StackConfig,
)
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.install import check_free_space
from vanphong.deploy.local.launch import wait_until_ready
from vanphong.deploy.local.postgres import (
    Postgres,
    pg_login_probe,
)
from vanphong.deploy.local.processes import foreign_port_holder, stop_pid
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import read_state, stack_lock, write_state
from vanphong.ground.settings import Settings, get_settings


class SecureCluster:
    """The secure cluster as a component: the steps of ``component.Component``, for N nodes
    (pids by node number; its entry in ``stack.json`` is ``cluster``)."""

    key = "cluster"

    def __init__(self, cfg: StackConfig, brokers: int = DEFAULT_BROKERS) -> None:
        self.cfg = cfg
        self.sp = SecurePaths(cfg.paths)
        self.brokers = brokers
        self.java = ""
        self.users: dict[str, str] = {}

    def pids(self, state: dict[str, Any]) -> dict[int, int]:
        """Node → pid of our running broker."""
        return {n: pid for n, pid in node_pids(self.sp, state).items() if pid is not None}

    def check(self) -> None:
        self.java = find_java()

    def port_conflicts(self, running: dict[int, int]) -> list[str]:
        out: list[str] = []
        for node in range(1, self.brokers + 1):
            if node in running:
                continue
            for port in (client_port(node), controller_port(node)):
                holder = foreign_port_holder(port, own_marker=str(self.sp.server_properties(node)))
                if holder is not None:
                    out.append(
                        f"Kafka node {node}: {holder.describe()}\n  what to do: stop that "
                        f"process (the secure cluster's ports are {client_port(1)}, "
                        f"{controller_port(1)}, {client_port(2)}, … )"
                    )
        return out

    def credentials(self, progress: Progress) -> None:
        """The CA, the certificates and the SCRAM users: made once, then read back."""
        self.sp.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        progress.step("the CA, certificates and SCRAM users")
        ensure_certs(self.sp.certs)
        self.users = ensure_users(self.sp)

    def fetch(self, progress: Progress) -> None:
        fetch_kafka_jars(self.cfg.paths, progress)

    def configure(self, progress: Progress) -> None:
        write_node_configs(self.sp, self.brokers, self.users[ADMIN_USER])
        format_nodes(self.java, self.sp, self.brokers, self.users, progress)

    def start(self, running: dict[int, int], progress: Progress) -> list[int]:
        """Start the nodes not running (into ``running``); which were started."""
        missing = [n for n in range(1, self.brokers + 1) if n not in running]
        if missing:
            progress.step(f"starting Kafka {KAFKA_VERSION} nodes {', '.join(map(str, missing))}")
            for node in missing:
                running[node] = launch_node(self.java, self.sp, node)
        return missing

    def ready(self, pids: dict[int, int], deadline: float, timeout: float) -> None:
        wait_cluster(self.sp, pids, self.users[ADMIN_USER], deadline, timeout)

    def stop(self, state: dict[str, Any], progress: Progress, timeout: float) -> list[str]:
        return stop_cluster(self.sp, state, progress, timeout)

    def status(self, state: dict[str, Any]) -> tuple[ComponentStatus, ...]:
        return tuple(
            probe_status(
                f"Kafka {KAFKA_VERSION} node {node}",
                pid,
                client_port(node),
                f"127.0.0.1:{client_port(node)}",
                self.sp.log(node),
            )
            for node, pid in sorted(node_pids(self.sp, state).items())
        )

    def record(self, pids: dict[int, int]) -> dict[str, Any]:
        return cluster_state(self.sp, self.brokers, pids)


def _wait_pg_tls(url: str, deadline: float, timeout: float) -> None:
    def probe(seconds: float) -> bool:
        pg_login_probe(url, timeout=seconds)
        return True

    def timed_out(last: str) -> StackError:
        return StackError(
            f"PostgreSQL did not accept a TLS login (sslmode=verify-full) within "
            f"{timeout:.0f} s (last: {last})",
            hint="read the PostgreSQL log; the certificate is in <stack dir>/secure/tls",
        )

    wait_until_ready(
        probe,
        deadline=deadline,
        timeout=timeout,
        exited=lambda: None,
        timed_out=timed_out,
        last="no answer yet",
    )


def up_secure(timeout: float, brokers: int, settings: Settings, console: Console) -> int:
    """Start what is missing of the secure cluster and PostgreSQL (with TLS); return 0 once a
    SASL_SSL metadata request sees every broker and PostgreSQL accepts a verify-full login."""
    cfg = StackConfig.from_settings(settings)
    paths = cfg.paths
    cluster = SecureCluster(cfg, brokers)
    sp = cluster.sp
    pg = Postgres(cfg, console, tls=sp.certs)
    started = time.monotonic()
    with Progress(console) as progress, stack_lock(paths, progress):
        state = read_state(paths)
        running = cluster.pids(state)
        pg_pid = pg.pid(state)

        progress.step("checking prerequisites and ports")
        check_free_space(paths)
        cluster.check()
        conflicts = cluster.port_conflicts(running)
        if pg_pid is None:
            conflicts += [conflict.line() for conflict in pg.port_conflicts()]
        if conflicts:
            raise StackError(
                "a port the secure stack needs is held by another process:\n" + "\n".join(conflicts)
            )
        cluster.credentials(progress)
        cluster.fetch(progress)
        cluster.configure(progress)
        if cluster.start(running, progress):
            state[cluster.key] = cluster.record(running)
            write_state(paths, state)
        deadline = time.monotonic() + timeout  # the JVMs start while PostgreSQL does

        if pg_pid is None:
            pg.fetch(progress)
            pg.configure(progress)
            progress.step(pg.starting)
            pg_pid = pg.start(max(5.0, deadline - time.monotonic()))
            state[pg.key] = pg.record(pg_pid)
            write_state(paths, state)
        else:
            pg.turn_tls_on(progress)
        progress.step("creating the PostgreSQL roles and database")
        pg.ensure_roles()
        progress.step("waiting for PostgreSQL to accept a TLS login (verify-full)")
        pg.ready(pg_pid, deadline, timeout)
        _wait_pg_tls(tls_database_url(cfg.database_url, str(sp.certs.ca_cert)), deadline, timeout)
        progress.step(f"waiting for {brokers} brokers to answer over SASL_SSL")
        cluster.ready(running, deadline, timeout)
        write_env_files(sp, brokers, cluster.users, cfg.database_url)
    took = time.monotonic() - started
    console.print(
        f"[green]secure cluster up[/] in {took:.1f} s: {brokers} brokers at "
        f"{escape(cluster_bootstrap(brokers))} (SASL_SSL, SCRAM-SHA-512), PostgreSQL "
        f"{PG_MAJOR} with TLS at {escape(cfg.pg_address)}\n"
        f"settings for commands: set -a; . {escape(str(sp.env_file(ADMIN_USER)))}; set +a "
        f"(the admin; worker.env, publisher.env, operator.env beside it)"
    )
    return 0


def stop_cluster(
    sp: SecurePaths, state: dict[str, Any], progress: Progress, timeout: float
) -> list[str]:
    """Stop every node of the secure cluster ``up`` started (under the stack's lock); what was
    stopped, for ``down``'s closing line. Forgets the cluster in ``state``.

    All nodes are told at once: one by one, the last ones would wait for a quorum that has gone.
    """
    pids = {n: pid for n, pid in sorted(node_pids(sp, state).items()) if pid is not None}
    stopped: list[str] = []
    if pids:
        progress.step(
            f"stopping the secure cluster's nodes (pids {', '.join(map(str, pids.values()))})"
        )
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node, pid in pids.items():
            clean = stop_pid(pid, max(0.0, deadline - time.monotonic()))
            stopped.append(f"Kafka node {node} (pid {pid}{'' if clean else ', killed'})")
    state.pop("cluster", None)
    return stopped


def _cluster_entry(sp: SecurePaths, state: dict[str, Any], node: int) -> dict[str, Any]:
    entry = state.get("cluster") or {}
    nodes = {n.get("node") for n in entry.get("nodes") or []}
    if node not in nodes:
        raise StackError(
            f"the secure cluster has no node {node} (stack dir {sp.stack.root})",
            hint="`vanphong stack up --brokers 3 --secure` first; nodes are numbered from 1",
        )
    return dict(entry)


def stop_broker(
    node: int,
    timeout: float = STOP_TIMEOUT,
    *,
    kill: bool = False,
    settings: Settings | None = None,
) -> int:
    """Stop one node of the secure cluster (SIGTERM: a controlled shutdown; ``kill``: SIGKILL,
    a crash); return its pid. Its data stays; :func:`start_broker` starts it again."""
    paths = StackConfig.from_settings(settings or get_settings()).paths
    sp = SecurePaths(paths)
    with stack_lock(paths):
        state = read_state(paths)
        _cluster_entry(sp, state, node)
        pid = node_pids(sp, state).get(node)
        if pid is None:
            raise StackError(f"node {node} of the secure cluster is not running")
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stop_pid(pid, timeout)  # after a SIGKILL: only waits for it to be gone
    return pid


def start_broker(
    node: int, timeout: float = DEFAULT_TIMEOUT, *, settings: Settings | None = None
) -> int:
    """Start one stopped node of the secure cluster on its data, unless it runs; return its pid
    once every running node is registered again (a SASL_SSL metadata request as the admin)."""
    paths = StackConfig.from_settings(settings or get_settings()).paths
    sp = SecurePaths(paths)
    with stack_lock(paths):
        state = read_state(paths)
        entry = _cluster_entry(sp, state, node)
        pids = node_pids(sp, state)
        users = ensure_users(sp)
        pid = pids.get(node)
        if pid is None:
            write_node_configs(sp, int(entry["brokers"]), users[ADMIN_USER])
            pid = launch_node(find_java(), sp, node)
            pids[node] = pid
            nodes = [
                node_state(sp, node, pid) if old["node"] == node else old for old in entry["nodes"]
            ]
            state["cluster"] = {**entry, "nodes": nodes}
            write_state(paths, state)
        running = {n: p for n, p in pids.items() if p is not None}
        wait_cluster(sp, running, users[ADMIN_USER], time.monotonic() + timeout, timeout)
    return pid
