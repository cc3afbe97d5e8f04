"""The secure cluster's files and names: where everything lives under ``<stack_dir>/secure``,
its ports, the SCRAM users and their passwords (made once, mode 0600), and the ``<user>.env``
files that point a command at the cluster as that user."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from vanphong.deploy.local.certs import Certs
from vanphong.deploy.local.config import LISTEN_HOST, StackPaths, secure_client_port

SASL_MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "admin"
#: The SCRAM users created at format time: the admin (a super user: the brokers' own listener and
#: ``init``), then one principal per role (issue 11, least privilege; ACLs are granted apart).
USERS = (ADMIN_USER, "worker", "publisher", "operator")


def client_port(node: int) -> int:
    """The SASL_SSL listener of node ``node`` (1-based): 19192, 19292, 19392, …"""
    return secure_client_port(node)


def controller_port(node: int) -> int:
    return client_port(node) + 1


def cluster_bootstrap(brokers: int) -> str:
    return ",".join(f"{LISTEN_HOST}:{client_port(n)}" for n in range(1, brokers + 1))


@dataclass(frozen=True)
class SecurePaths:
    """Everything of the secure cluster lives under ``<stack_dir>/secure``."""

    stack: StackPaths

    @property
    def root(self) -> Path:
        return self.stack.root / "secure"

    @property
    def certs(self) -> Certs:
        return Certs(self.root / "tls")

    @property
    def users(self) -> Path:
        return self.root / "users.json"

    def password_file(self, user: str) -> Path:
        return self.root / "passwords" / user

    def env_file(self, user: str) -> Path:
        return self.root / ("client.env" if user == ADMIN_USER else f"{user}.env")

    @property
    def cluster_id(self) -> Path:
        return self.root / "cluster.id"

    @property
    def brokers_file(self) -> Path:  # how many nodes it was set up with
        return self.root / "brokers"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.properties"

    def node_dir(self, node: int) -> Path:
        return self.root / f"node-{node}"

    def data(self, node: int) -> Path:
        return self.node_dir(node) / "data"

    def logs(self, node: int) -> Path:
        return self.node_dir(node) / "logs"

    def log(self, node: int) -> Path:
        return self.logs(node) / "server.log"

    def out(self, node: int) -> Path:
        return self.node_dir(node) / "kafka.out"

    def server_properties(self, node: int) -> Path:
        return self.node_dir(node) / "server.properties"


def write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def ensure_users(paths: SecurePaths) -> dict[str, str]:
    """User → password: made once (random), then read back, so a restart keeps the logins."""
    try:
        users = json.loads(paths.users.read_text())
    except (OSError, ValueError):
        users = {}
    if not isinstance(users, dict):
        users = {}
    missing = [u for u in USERS if not isinstance(users.get(u), str)]
    if missing:
        import secrets

        users.update({u: secrets.token_urlsafe(18) for u in missing})
        write_secret(paths.users, json.dumps(users, indent=2) + "\n")
    for user in USERS:
        write_secret(paths.password_file(user), users[user] + "\n")
    return {u: users[u] for u in USERS}


def tls_database_url(database_url: str, cafile: str) -> str:
    """The workers' URL, asking for TLS verified against the stack's CA (host name included)."""
    sep = "&" if "?" in database_url else "?"
    return f"{database_url}{sep}sslmode=verify-full&sslrootcert={cafile}"


def write_env_files(
    paths: SecurePaths, brokers: int, users: dict[str, str], database_url: str
) -> None:
    """``<user>.env``: the settings that point a vanphong command at the cluster as that user.

    The password is named by file (``VANPHONG_KAFKA_SASL_PASSWORD_FILE``), never inlined; the
    database URL asks for TLS verified against the stack's CA.
    """
    certs = paths.certs
    tls_url = tls_database_url(database_url, str(certs.ca_cert))
    for user in users:
        lines = [
            f"# written by `vanphong stack up --secure`: the secure cluster as {user!r}",
            f"# use: set -a; . {paths.env_file(user)}; set +a",
            f"VANPHONG_KAFKA_BOOTSTRAP={cluster_bootstrap(brokers)}",
            "VANPHONG_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
            f"VANPHONG_KAFKA_SASL_MECHANISM={SASL_MECHANISM}",
            f"VANPHONG_KAFKA_SASL_USERNAME={user}",
            f"VANPHONG_KAFKA_SASL_PASSWORD_FILE={paths.password_file(user)}",
            f"VANPHONG_KAFKA_SSL_CAFILE={certs.ca_cert}",
            f"VANPHONG_DATABASE_URL={tls_url}",
        ]
        write_secret(paths.env_file(user), "\n".join(lines) + "\n")
