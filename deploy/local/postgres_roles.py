"""The roles and database of CONTRACT.md §1 on our cluster, made idempotently by psql as the
cluster's superuser (peer auth over the socket): on every ``up``, so that a changed password in
``VANPHONG_DATABASE_URL`` takes effect."""

from __future__ import annotations

import subprocess

from vanphong.deploy.local.config import PgTarget
from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.postgres_dirs import PgDirs, PgRunner
from vanphong.ground.settings import REPORTING_PASSWORD, REPORTING_ROLE


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def roles_sql(target: PgTarget) -> str:
    """Idempotent SQL (psql, \\gexec): the owner role and database, and the reporting role.

    The owner role gets CREATEDB on this local cluster only: the test suite creates a database
    per test. It gets CREATEROLE too: ``vanphong access grant-province`` creates the province
    readers' login roles as the owner (docs/operations.md, "Province readers"). The reporting
    role gets nothing here; migrations grant it schema ``reporting``. The province readers'
    group (NOLOGIN) is made here as well, as an administrator would (migration 0009 grants it).
    """
    roles = (
        (target.user, target.password, "LOGIN CREATEDB CREATEROLE"),
        (REPORTING_ROLE, REPORTING_PASSWORD, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"),
    )
    out: list[str] = []
    for role, password, options in roles:
        out.append(
            f"SELECT format('CREATE ROLE %I LOGIN', {_literal(role)}) "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)})\n\\gexec"
        )
        out.append(f"ALTER ROLE {_ident(role)} WITH {options} PASSWORD {_literal(password)};")
    out.append(
        "SELECT 'CREATE ROLE vanphong_province_readers NOLOGIN' WHERE NOT EXISTS"
        " (SELECT FROM pg_roles WHERE rolname = 'vanphong_province_readers')\n\\gexec"
    )
    out.append(
        f"SELECT format('CREATE DATABASE %I OWNER %I', {_literal(target.database)}, "
        f"{_literal(target.user)}) "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_literal(target.database)})"
        "\n\\gexec"
    )
    out.append(f"ALTER DATABASE {_ident(target.database)} OWNER TO {_ident(target.user)};")
    return "\n".join(out) + "\n"


def ensure_roles(dirs: PgDirs, runner: PgRunner, target: PgTarget) -> None:
    result = subprocess.run(
        runner.cmd(
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(dirs.run),
            "-p",
            str(target.port),
            "-U",
            runner.os_user,
            "-d",
            "postgres",
            "-f",
            "-",
        ),
        input=roles_sql(target),
        cwd=dirs.run,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise StackError(
            f"creating the roles {target.user!r} and {REPORTING_ROLE!r} failed",
            detail=(result.stdout + result.stderr)[-3000:],
            logs=[dirs.log],
        )
