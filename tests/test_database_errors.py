"""Every command that reads PostgreSQL answers a wrong password, an unknown database and a
refused port with one line naming VANPHONG_DATABASE_URL, exit status 2 and no traceback
(vanphong/cli/console.py ``database_errors``); ``dlq list``, whose dead letters come from Kafka,
still lists them under a one-line warning. ``report`` and ``serve``, which read as the
reporting role: tests/test_report_command.py and tests/test_serve.py."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import VANPHONG, Env
from tests.test_serve import refused_port
from vanphong.ground.dsn import parse_dsn


def bad_databases(env: Env, port: int) -> list[tuple[str, str]]:
    """(VANPHONG_DATABASE_URL, what the line says) for each way to get it wrong."""
    dsn = parse_dsn(env.settings.database_url)  # one host or several
    return [
        (dsn.with_login("vanphong", "wrong").render(), "password authentication failed"),
        (dsn.with_database("no_such_db").render(), '"no_such_db" does not exist'),
        (f"postgresql://vanphong:vanphong@127.0.0.1:{port}/x", "is it running?"),
    ]


def run(env: Env, args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VANPHONG), *args],
        env={**env.workers.env(), "VANPHONG_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [["init"], ["wait", "--timeout", "30"], ["status"], ["dlq", "replay"]],
    ids=["init", "wait", "status", "dlq replay"],
)
def test_a_database_that_cannot_be_asked_is_one_line_naming_the_setting_and_exit_2(
    env: Env, args: list[str]
) -> None:
    sock, port = refused_port()
    with sock:
        for url, says in bad_databases(env, port):
            done = run(env, args, url)
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 2, done.stderr
            assert "Traceback" not in done.stderr, done.stderr
            assert len(lines) == 1, done.stderr
            assert lines[0].startswith("error: PostgreSQL at postgresql://vanphong:"), lines[0]
            assert says in lines[0] and "VANPHONG_DATABASE_URL" in lines[0], lines[0]
            assert ":wrong@" not in done.stderr  # the password is never shown


def test_dlq_list_lists_from_kafka_under_one_warning_line_naming_the_setting(env: Env) -> None:
    sock, port = refused_port()
    with sock:
        for url, says in bad_databases(env, port):
            done = run(env, ["dlq", "list"], url)
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 0, done.stderr
            assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
            assert lines[0].startswith("warning: replays unknown"), lines[0]
            assert says in lines[0] and "VANPHONG_DATABASE_URL" in lines[0], lines[0]
            assert "no dead letters" in done.stdout, done.stdout
