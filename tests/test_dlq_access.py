"""``dlq list`` tells a dead-letter topic this principal may not DESCRIBE apart from one that
does not exist (issue 20): the brokers list neither, but answer a Metadata request for it by
name with TOPIC_AUTHORIZATION_FAILED (29) or UNKNOWN_TOPIC_OR_PARTITION (3).

The refusal on a cluster with ACLs is tests/test_acls.py's (the publisher's ``dlq list``); here
the rule, and the real broker's answer for a topic that does not exist.
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import VANPHONG, Env
from vanphong.ground.kafka import KafkaAccessError, admin_client
from vanphong.ground.kafka_access import unseen_topic_error, why_unseen
from vanphong.ground.settings import Settings
from vanphong.schemas.catalog import DEAD_LETTER_TOPIC

TOPIC = "p.dead-letters.v1"


def _settings(**given: Any) -> Settings:
    return Settings(**given)


def test_a_topic_the_principal_may_not_describe_is_an_access_error_naming_describe() -> None:
    error = unseen_topic_error(
        _settings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="publisher",
            kafka_sasl_password=SecretStr("pw"),
        ),
        TOPIC,
        29,
    )
    assert isinstance(error, KafkaAccessError)
    assert f"deny User:publisher DESCRIBE on topic {TOPIC}" in error.detail
    assert "does not exist" not in error.detail and "vanphong init --acls" in error.hint


def test_a_topic_the_brokers_do_not_know_does_not_exist() -> None:
    error = unseen_topic_error(_settings(), TOPIC, 3)
    assert type(error) is LookupError
    assert str(error) == f"topic {TOPIC} does not exist (run `vanphong init`)"


def test_brokers_that_cannot_tell_get_both_causes_named() -> None:
    error = unseen_topic_error(_settings(), TOPIC, None)
    assert type(error) is LookupError
    assert "does not exist" in str(error) and "may not DESCRIBE" in str(error)


@pytest.mark.integration
def test_the_broker_says_a_missing_topic_does_not_exist_and_dlq_list_says_so(env: Env) -> None:
    missing = env.settings.model_copy(update={"topic_prefix": f"{env.settings.topic_prefix}x"})
    topic = missing.topic(DEAD_LETTER_TOPIC)

    async def ask() -> KafkaAccessError | LookupError:
        async with admin_client(missing) as admin:
            return await why_unseen(admin, missing, topic)

    assert type(asyncio.run(ask())) is LookupError
    listed = subprocess.run(
        [str(VANPHONG), "dlq", "list"],
        env={**env.workers.env(), "VANPHONG_TOPIC_PREFIX": missing.topic_prefix, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 2, listed.stdout + listed.stderr
    said = " ".join(listed.stderr.split())
    assert f"topic {topic} does not exist" in said and "DESCRIBE" not in said, said
