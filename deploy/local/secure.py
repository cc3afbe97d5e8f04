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
from vanphong.deploy.local.config import (
    DEFAULT_TIMEOUT,
    KAFKA_VERSION,
    PG_MAJOR,
    STOP_TIMEOUT,
    StackConfig,
)
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.install import check_free_space, install_pg
from vanphong.deploy.local.launch import wait_until_ready
from vanphong.deploy.local.postgres import (
    existing_pg_dirs,
    init_pg,
    install_pg_tls,
    our_pg_pid,
    pg_login_probe,
    pg_runner,
    pg_state,
    prepare_pg_dirs,
    reload_pg,
    start_pg,
    wait_pg,
    write_pg_conf,
)
from vanphong.deploy.local.postgres_roles import ensure_roles
from vanphong.deploy.local.processes import foreign_port_holder, port_hint, stop_pid
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import read_state, stack_lock, write_state
from vanphong.ground.settings import Settings, get_settings


def _conflicts(
    cfg: StackConfig, sp: SecurePaths, brokers: int, running: dict[int, int], pg_pid: int | None
) -> list[str]:
    out: list[str] = []
    for node in range(1, brokers + 1):
        if node in running:
            continue
        for port in (client_port(node), controller_port(node)):
            holder = foreign_port_holder(port, own_marker=str(sp.server_properties(node)))
            if holder is not None:
                out.append(
                    f"Kafka node {node}: {holder.describe()}\n  what to do: stop that process "
                    f"(the secure cluster's ports are {client_port(1)}, {controller_port(1)}, "
                    f"{client_port(2)}, … )"
                )
    if pg_pid is None:
        dirs = existing_pg_dirs(cfg.paths)
        marker = str(dirs.data) if dirs else str(cfg.paths.pgdata)
        holder = foreign_port_holder(cfg.pg.port, own_marker=marker)
        if holder is not None:
            out.append(
                f"PostgreSQL: {holder.describe()}\n  what to do: "
                + port_hint(holder, "VANPHONG_DATABASE_URL")
            )
    return out


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
    sp = SecurePaths(paths)
    started = time.monotonic()
    with Progress(console) as progress, stack_lock(paths, progress):
        state = read_state(paths)
        running = {n: pid for n, pid in node_pids(sp, state).items() if pid is not None}
        dirs = existing_pg_dirs(paths)
        pg_pid = our_pg_pid(dirs)

        progress.step("checking prerequisites and ports")
        check_free_space(paths)
        runner = pg_runner()
        java = find_java()
        conflicts = _conflicts(cfg, sp, brokers, running, pg_pid)
        if conflicts:
            raise StackError(
                "a port the secure stack needs is held by another process:\n" + "\n".join(conflicts)
            )
        sp.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        progress.step("the CA, certificates and SCRAM users")
        ensure_certs(sp.certs)
        users = ensure_users(sp)

        fetch_kafka_jars(paths, progress)
        write_node_configs(sp, brokers, users[ADMIN_USER])
        format_nodes(java, sp, brokers, users, progress)
        missing = [n for n in range(1, brokers + 1) if n not in running]
        if missing:
            progress.step(f"starting Kafka {KAFKA_VERSION} nodes {', '.join(map(str, missing))}")
            for node in missing:
                running[node] = launch_node(java, sp, node)
            state["cluster"] = cluster_state(sp, brokers, running)
            write_state(paths, state)
        deadline = time.monotonic() + timeout  # the JVMs start while PostgreSQL does

        if pg_pid is None:
            install_pg(paths, progress, console)
            dirs = prepare_pg_dirs(paths, runner, console)
            init_pg(dirs, runner, progress)
            install_pg_tls(dirs, runner, sp.certs.cert("postgres"), sp.certs.key("postgres"))
            write_pg_conf(dirs, cfg.pg.port, runner)
            progress.step(f"starting PostgreSQL {PG_MAJOR} with TLS")
            pg_pid = start_pg(dirs, runner, max(5.0, deadline - time.monotonic()))
            state["postgres"] = pg_state(cfg, dirs, runner, pg_pid)
            write_state(paths, state)
        else:
            assert dirs is not None
            changed = install_pg_tls(
                dirs, runner, sp.certs.cert("postgres"), sp.certs.key("postgres")
            )
            if write_pg_conf(dirs, cfg.pg.port, runner) or changed:
                progress.step("turning TLS on in the running PostgreSQL (a reload)")
                reload_pg(dirs, runner)
        assert dirs is not None
        progress.step("creating the PostgreSQL roles and database")
        ensure_roles(dirs, runner, cfg.pg)
        progress.step("waiting for PostgreSQL to accept a TLS login (verify-full)")
        wait_pg(cfg, dirs, deadline, timeout)
        _wait_pg_tls(tls_database_url(cfg.database_url, str(sp.certs.ca_cert)), deadline, timeout)
        progress.step(f"waiting for {brokers} brokers to answer over SASL_SSL")
        wait_cluster(sp, running, users[ADMIN_USER], deadline, timeout)
        write_env_files(sp, brokers, users, cfg.database_url)
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
