"""The local stack: a single-node Kafka (KRaft) and a PostgreSQL 15 cluster on this machine.

``vanphong stack up | down | status`` (CONTRACT.md §1 and §8). ``up`` installs what is missing on
first use and returns once both services accept real clients:

* **Kafka** ``KAFKA_VERSION``, assembled from Maven Central jars (there is no Docker and no tarball
  download on our machines): ``mvn dependency:copy-dependencies`` driven by
  ``deploy/local/kafka/pom.xml`` fills ``<stack_dir>/kafka-<version>/libs`` once (a marker file is
  written only after a complete download), the storage is formatted once, and the broker runs
  detached as ``java -cp '<libs>/*' kafka.Kafka server.properties``, listening on the host and
  port of ``VANPHONG_KAFKA_BOOTSTRAP`` (controller on the next port).
* **PostgreSQL 15** from Debian (``apt-get install`` when run as root and it is missing), as our
  own cluster in ``<stack_dir>/pgdata``, run by the ``postgres`` OS user when we are root, on the
  port of ``VANPHONG_DATABASE_URL``, with the roles of CONTRACT.md §1 (password auth on TCP).

``up --brokers 3 --secure`` starts, beside those, a production-like cluster: three KRaft nodes
from the same jars with TLS, SASL/SCRAM-SHA-512 users and the StandardAuthorizer, replication
factor 3 and ``min.insync.replicas=2`` by default, and turns TLS on in PostgreSQL (certificates
from a CA the stack makes); the settings that reach it are in ``<stack_dir>/secure/client.env``.

What ``up`` started is recorded in ``<stack_dir>/stack.json`` so that ``down`` stops only that.
``stop_kafka``/``start_kafka`` and ``stop_postgres``/``start_postgres`` stop and start one
component of a stack ``up`` set up, on the same data (the fault-tolerance tests use them).
Nothing sleeps blindly: every wait polls a condition against a deadline.

This module is the front of the package: it holds no code, only the names other code imports
from it. Each service is a component (``component``: check, fetch, configure, start, ready,
stop, status, record): ``broker`` (the plain Kafka), ``postgres`` (with ``postgres_dirs`` and
``postgres_roles``), ``apicurio`` (the Schema Registry) and ``keycloak``; they share one fetch
from Maven Central (``maven``), one detached launch and one wait until ready (``launch``).
``lifecycle`` (``up``, ``down``) and ``one_at_a_time`` (one component stopped or started) loop
over components; ``status`` asks each. Beside them: ``config`` (settings, paths, timeouts),
``errors``, ``processes`` (pids, ports), ``state`` (``stack.json``, the lock), ``spinner`` (the
steps ``up`` and ``down`` show), ``install`` (free space, the first-use PostgreSQL install); for
the secure cluster ``certs`` (the CA), ``cluster_files`` (its paths, users, env files),
``cluster`` (its nodes) and ``secure`` (its ``up``, one node stopped or started).
The ``vanphong stack`` commands live in the command line (``vanphong/cli``).
"""

from __future__ import annotations

from vanphong.deploy.local.broker import kafka_jars_cached, kafka_probe, kafka_server_properties
from vanphong.deploy.local.cluster import DEFAULT_BROKERS as DEFAULT_SECURE_BROKERS
from vanphong.deploy.local.cluster import SecurePaths, cluster_bootstrap
from vanphong.deploy.local.component import ComponentStatus
from vanphong.deploy.local.config import (
    DEFAULT_TIMEOUT,
    KAFKA_VERSION,
    PG_MAJOR,
    STOP_TIMEOUT,
    PgTarget,
    StackConfig,
    StackPaths,
    parse_database_url,
    parse_kafka_bootstrap,
    reporting_database_url,
)
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.install import PG_INSTALL_COMMAND
from vanphong.deploy.local.lifecycle import down, up
from vanphong.deploy.local.one_at_a_time import (
    start_kafka,
    start_postgres,
    stop_kafka,
    stop_postgres,
)
from vanphong.deploy.local.postgres import pg_login_probe, pg_server_conf
from vanphong.deploy.local.postgres_roles import roles_sql
from vanphong.deploy.local.processes import find_port_holder, foreign_port_holder, port_in_use
from vanphong.deploy.local.secure import start_broker, stop_broker
from vanphong.deploy.local.status import (
    EXIT_NOT_RUNNING,
    StackStatus,
    stack_status,
    status,
)
from vanphong.ground.settings import REPORTING_ROLE

__all__ = [
    "DEFAULT_SECURE_BROKERS",
    "DEFAULT_TIMEOUT",
    "EXIT_NOT_RUNNING",
    "KAFKA_VERSION",
    "PG_INSTALL_COMMAND",
    "PG_MAJOR",
    "REPORTING_ROLE",
    "STOP_TIMEOUT",
    "ComponentStatus",
    "PgTarget",
    "SecurePaths",
    "StackConfig",
    "StackError",
    "StackPaths",
    "StackStatus",
    "cluster_bootstrap",
    "down",
    "find_port_holder",
    "foreign_port_holder",
    "kafka_jars_cached",
    "kafka_probe",
    "kafka_server_properties",
    "parse_database_url",
    "parse_kafka_bootstrap",
    "pg_login_probe",
    "pg_server_conf",
    "port_in_use",
    "reporting_database_url",
    "roles_sql",
    "stack_status",
    "start_broker",
    "start_kafka",
    "start_postgres",
    "status",
    "stop_broker",
    "stop_kafka",
    "stop_postgres",
    "up",
]
