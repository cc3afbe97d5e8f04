"""How every client connects (VANPHONG_KAFKA_SECURITY_PROTOCOL, VANPHONG_KAFKA_SASL_*,
VANPHONG_KAFKA_SSL_*): one translation into aiokafka's arguments and faust's credentials,
secrets never shown, and a refusal by the brokers that fails fast naming the setting to fix.

The unit tests need nothing running; the `cluster` ones use the secure cluster of
`vanphong stack up --brokers 3 --secure` (tests/test_secure_stack.py).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from rich.console import Console

from tests.conftest import VANPHONG
from vanphong.deploy.local import cluster, stack
from vanphong.deploy.local.certs import Certs, ensure_certs
from vanphong.ground import settings as settings_module
from vanphong.ground.kafka import (
    KafkaAccessError,
    admin_client,
    kafka_client_kwargs,
    kafka_security,
    security_problem,
)
from vanphong.ground.settings import Settings, SettingsError, get_settings
from vanphong.ground.unreachable import kafka_error
from vanphong.streams.app import broker_credentials

SECRET = "s3cret-Passw0rd"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    made = Certs(tmp_path_factory.mktemp("tls"))
    ensure_certs(made)
    return made


def _sasl_ssl(certs: Certs, **update: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "worker",
        "kafka_sasl_password": SECRET,
        "kafka_ssl_cafile": str(certs.ca_cert),
        **update,
    }
    return Settings(**values)


# ---------------------------------------------------------------------------------------------
# unit


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:9092")
    assert kafka_security(settings) == {"security_protocol": "PLAINTEXT"}
    assert kafka_client_kwargs(settings) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert broker_credentials(settings) is None


def test_sasl_ssl_gives_aiokafka_a_verifying_tls_context_and_the_login(certs: Certs) -> None:
    security = kafka_security(_sasl_ssl(certs))
    context = security.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert security == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "worker",
        "sasl_plain_password": SECRET,
    }


def test_faust_gets_the_same_credentials(certs: Certs) -> None:
    sasl = broker_credentials(_sasl_ssl(certs))
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.protocol.value, sasl.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (sasl.username, sasl.password) == ("worker", SECRET)
    assert isinstance(sasl.ssl_context, ssl.SSLContext)
    assert SECRET not in repr(sasl)
    plain_sasl = broker_credentials(
        _sasl_ssl(certs, kafka_security_protocol="SASL_PLAINTEXT", kafka_ssl_cafile="")
    )
    assert isinstance(plain_sasl, faust.SASLCredentials)
    assert plain_sasl.protocol.value == "SASL_PLAINTEXT"
    tls = broker_credentials(
        Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(certs.ca_cert))
    )
    assert isinstance(tls, faust.SSLCredentials)
    assert tls.protocol.value == "SSL"


def test_mutual_tls_loads_the_client_certificate_and_key(certs: Certs) -> None:
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=str(certs.ca_cert),
        kafka_ssl_certfile=str(certs.cert("client")),
        kafka_ssl_keyfile=str(certs.key("client")),
    )
    assert isinstance(kafka_security(settings)["ssl_context"], ssl.SSLContext)
    wrong = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_certfile=str(certs.cert("client")),
        kafka_ssl_keyfile=str(certs.key("broker")),  # not this certificate's key
    )
    with pytest.raises(ssl.SSLError):
        kafka_security(wrong)


def test_the_password_may_come_from_a_file_read_when_a_client_is_made(
    certs: Certs, tmp_path: Path
) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(SECRET + "\n")
    settings = _sasl_ssl(certs, kafka_sasl_password="", kafka_sasl_password_file=str(secret_file))
    assert kafka_security(settings)["sasl_plain_password"] == SECRET
    secret_file.write_text("rotated\n")
    assert kafka_security(settings)["sasl_plain_password"] == "rotated"


@pytest.mark.parametrize(
    ("update", "named"),
    [
        ({"kafka_sasl_username": ""}, "VANPHONG_KAFKA_SASL_USERNAME"),
        ({"kafka_sasl_password": ""}, "VANPHONG_KAFKA_SASL_PASSWORD_FILE"),
        ({"kafka_sasl_password_file": __file__}, "exactly one of"),
        ({"kafka_ssl_cafile": "/nonexistent/ca.crt"}, "is not a file"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "use SSL or SASL_SSL"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "SCRAM-SHA-512"),
    ],
)
def test_incomplete_security_settings_are_refused_at_start_naming_the_variable(
    certs: Certs, update: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named) as info:
        _sasl_ssl(certs, **update)
    assert SECRET not in _describe_safely(info.value)


def _describe_safely(exc: BaseException) -> str:
    from pydantic import ValidationError

    from vanphong.ground.settings import _describe

    return _describe(exc) if isinstance(exc, ValidationError) else str(exc)


def test_the_entry_points_settings_error_never_repeats_a_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANPHONG_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("VANPHONG_KAFKA_SASL_PASSWORD", SECRET)  # but no username
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as info:
            settings_module.get_settings()
    finally:
        get_settings.cache_clear()
    assert "VANPHONG_KAFKA_SASL_USERNAME" in str(info.value)
    assert SECRET not in str(info.value)


def test_settings_never_show_the_password(certs: Certs) -> None:
    settings = _sasl_ssl(certs)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()


def test_what_the_brokers_refuse_names_the_setting_to_fix(certs: Certs) -> None:
    settings = _sasl_ssl(certs)
    cases: list[tuple[BaseException, str]] = [
        (SaslAuthenticationFailed("invalid credentials"), "VANPHONG_KAFKA_SASL_PASSWORD"),
        (UnsupportedSaslMechanismError(), "VANPHONG_KAFKA_SASL_MECHANISM"),
        (ConnectionResetError(), "VANPHONG_KAFKA_SECURITY_PROTOCOL"),
    ]
    for exc, named in cases:
        problem = security_problem(exc, settings)
        assert problem is not None and named in problem.hint, exc
        assert SECRET not in str(problem)
    closed = KafkaConnectionError("Connection at 127.0.0.1:19192 closed")
    plain = Settings(kafka_security_protocol="PLAINTEXT")
    refused = security_problem(closed, plain)
    assert refused is not None and "VANPHONG_KAFKA_SECURITY_PROTOCOL" in refused.hint
    # a refused address is an unreachable Kafka, not a security problem
    assert security_problem(ConnectionRefusedError(111, "refused"), settings) is None
    message = str(kafka_error(KafkaAccessError("refused", "check X"), "b:1"))
    assert "refuses this client" in message and "check X" in message


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


def _settings_of(sp: cluster.SecurePaths, user: str, **update: Any) -> Settings:
    given: dict[str, Any] = {
        k.removeprefix("VANPHONG_").lower(): v for k, v in _env_of(sp, user).items()
    }
    return Settings(**{**given, **update})


async def _topics(settings: Settings) -> list[str]:
    async with admin_client(settings) as admin:
        return list(await admin.list_topics())


@pytest.mark.integration
@pytest.mark.cluster
def test_a_wrong_password_or_an_unknown_ca_fails_fast_naming_the_setting(
    secure: cluster.SecurePaths, tmp_path: Path
) -> None:
    assert isinstance(asyncio.run(_topics(_settings_of(secure, "operator"))), list)
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    cases = [
        (
            _settings_of(secure, "operator", kafka_sasl_password_file=str(wrong)),
            "VANPHONG_KAFKA_SASL_PASSWORD",
        ),
        (
            _settings_of(secure, "operator", kafka_ssl_cafile="/etc/ssl/certs/ca-certificates.crt"),
            "VANPHONG_KAFKA_SSL_CAFILE",
        ),
        (
            _settings_of(secure, "operator", kafka_sasl_mechanism="SCRAM-SHA-256"),
            "VANPHONG_KAFKA_SASL_MECHANISM",
        ),
        (
            _settings_of(
                secure, "operator", kafka_security_protocol="SASL_PLAINTEXT", kafka_ssl_cafile=""
            ),
            "VANPHONG_KAFKA_SECURITY_PROTOCOL",
        ),
    ]
    for settings, named in cases:
        with pytest.raises(KafkaAccessError) as info:
            # a deadline against a hang: the refusal must come as an error
            asyncio.run(asyncio.wait_for(_topics(settings), 60))
        assert named in info.value.hint, (named, info.value)


@pytest.mark.integration
@pytest.mark.cluster
def test_commands_and_the_worker_refused_by_the_brokers_say_so_without_the_password(
    secure: cluster.SecurePaths, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    env = {
        **os.environ,
        **_env_of(secure, "operator"),
        "VANPHONG_KAFKA_SASL_PASSWORD_FILE": str(wrong),
        "VANPHONG_TOPIC_PREFIX": "refused",
        "VANPHONG_WEB_PORT": "0",
    }
    real = secure.password_file("operator").read_text().strip()
    status = subprocess.run(
        [str(VANPHONG), "status"], env=env, capture_output=True, text=True, timeout=120
    )
    assert status.returncode != 0
    assert "VANPHONG_KAFKA_SASL_PASSWORD" in status.stdout + status.stderr
    worker = subprocess.run(
        [str(VANPHONG), "worker"], env=env, capture_output=True, text=True, timeout=120
    )
    assert worker.returncode == 3, worker.stdout + worker.stderr
    assert "VANPHONG_KAFKA_SASL_PASSWORD" in worker.stdout + worker.stderr
    for out in (status.stdout, status.stderr, worker.stdout, worker.stderr):
        assert real not in out and "not-the-password" not in out
