"""The secure stack's certificates: a local CA and the certificates it signs, made with openssl.

Made once and kept (``up`` reuses them): a CA, one certificate for the brokers (their TLS
listeners, and their client certificate on the controller listener, where mutual TLS names them
``User:CN=vanphong-broker``), one for PostgreSQL, and one client certificate for mutual TLS from
Python clients. Every server certificate names ``localhost`` and ``127.0.0.1`` (the hosts the
stack listens on), so clients can verify the host name (``sslmode=verify-full``, Kafka's
``ssl.endpoint.identification.algorithm=https``). PEM files for Python clients and PostgreSQL;
a PKCS#12 keystore for the brokers (Kafka accepts a PEM keystore only with an encrypted key).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vanphong.deploy.local.errors import StackError

CA_SUBJECT = "/CN=vanphong local CA"
BROKER_CN = "vanphong-broker"
POSTGRES_CN = "localhost"
CLIENT_CN = "vanphong-client"
SERVER_SAN = "DNS:localhost,IP:127.0.0.1"
DAYS = 825


@dataclass(frozen=True)
class Certs:
    """Where the CA and the certificates live (``<stack_dir>/secure/tls``)."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    def cert(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    @property
    def broker_keystore(self) -> Path:
        return self.dir / "broker.p12"

    @property
    def keystore_password_file(self) -> Path:
        return self.dir / "broker.p12.password"

    def keystore_password(self) -> str:
        return self.keystore_password_file.read_text().strip()

    @property
    def complete_marker(self) -> Path:
        return self.dir / ".complete"


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise StackError(
            "openssl is not installed; the secure stack makes its CA and certificates with it",
            hint="apt-get install -y openssl",
        )
    result = subprocess.run(
        [exe, *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise StackError(
            f"openssl {args[0]} failed while making the secure stack's certificates",
            detail=(result.stdout + result.stderr)[-2000:],
            hint=f"remove {cwd} and run `vanphong stack up --secure` again",
        )


def _issue(certs: Certs, name: str, cn: str, *, server: bool) -> None:
    """A key and a certificate signed by the CA (server ones with the SAN of this host)."""
    ext = certs.dir / f"{name}.ext"
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=" + ("serverAuth,clientAuth" if server else "clientAuth"),
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid,issuer",
    ]
    if server:
        lines.append(f"subjectAltName={SERVER_SAN}")
    ext.write_text("\n".join(lines) + "\n")
    csr = certs.dir / f"{name}.csr"
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(certs.key(name)),
        "-out", str(csr), "-subj", f"/CN={cn}", cwd=certs.dir,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(certs.ca_cert), "-CAkey", str(certs.ca_key),
        "-set_serial", str(secrets.randbits(63)), "-days", str(DAYS), "-sha256",
        "-extfile", str(ext), "-out", str(certs.cert(name)), cwd=certs.dir,
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    certs.key(name).chmod(0o600)


def ensure_certs(certs: Certs) -> bool:
    """Make the CA and the certificates unless a complete set exists; True if made now."""
    if certs.complete_marker.exists():
        return False
    shutil.rmtree(certs.dir, ignore_errors=True)
    certs.dir.mkdir(parents=True, mode=0o700)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(certs.ca_key),
        "-out", str(certs.ca_cert), "-days", str(DAYS + 30), "-sha256", "-subj", CA_SUBJECT,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=certs.dir,
    )  # fmt: skip
    certs.ca_key.chmod(0o600)
    _issue(certs, "broker", BROKER_CN, server=True)
    _issue(certs, "postgres", POSTGRES_CN, server=True)
    _issue(certs, "client", CLIENT_CN, server=False)
    password = secrets.token_urlsafe(18)
    fd = os.open(certs.keystore_password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    _openssl(
        "pkcs12", "-export", "-in", str(certs.cert("broker")), "-inkey", str(certs.key("broker")),
        "-certfile", str(certs.ca_cert), "-name", "broker", "-out", str(certs.broker_keystore),
        "-passout", f"file:{certs.keystore_password_file}", cwd=certs.dir,
    )  # fmt: skip
    certs.broker_keystore.chmod(0o600)
    certs.complete_marker.write_text("ok\n")
    return True
