"""Contract: the bootstrap Job's SQL creates a least-privilege role that real Airflow migrates the database with.

The ``payments-prod`` stack is rendered under mocks. From it come the exact
shell command and SQL of the database bootstrap Job, the SCRAM verifier in its
Secret, and PgBouncer's ``pgbouncer.ini``/``users.txt`` and the metadata URI.
Against a throw-away PostgreSQL (TLS and SCRAM only over TCP, as in
``test_pgbouncer.py``) whose Airflow database belongs to an RDS-like
administrator (LOGIN CREATEROLE CREATEDB, no superuser), the Job's command runs
three times: as that administrator with the RDS-managed secret document, again
with a plain password file (the Azure path), and as a superuser. Then real
Airflow's CLI (``airflow.__main__``, one process per command) runs ``db migrate`` and ``db check`` as the app
role through the real PgBouncer, and the app role is shown unable to create a
role or a database or to connect to another database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import psycopg2
import pytest
from psycopg2 import sql

from components import database_roles
from tests.conftest import missing_tool, render, require_binary, stack_file
from tests.contract.probes.probe_support import run_airflow_cli
from tests.contract.test_pgbouncer import (
    CONNECT_TIMEOUT_S,
    SUPERUSER,
    Servers,
    _free_port,
    _ini_sections,
    _parse_users_txt,
    _self_signed,
    _stop,
    _userinfo,
    _with_netloc,
    service_user,
    start_postgres,
    start_rendered_pgbouncer,
)
from tools.render import mask

SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
JOB = "kubernetes:batch/v1:Job"
ADMIN = "airflow_admin"
ADMIN_PASSWORD = "Adm1n-pass-for-the-test"
MIGRATE_BUDGET_S = 90.0
"""Above this, ``airflow db migrate`` is reported as slow (it still passes up to the subprocess timeout)."""


@dataclass(frozen=True)
class Rendered:
    command: list[str]
    env: dict[str, str]
    sql: str
    verifier: str
    metadata_uri: str
    ini: str
    users_txt: str


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    stack = render(stack_file("payments-prod"))

    def one(typ: str, name: str):
        found = [r for r in stack.by_type(typ) if r.name == name]
        assert len(found) == 1, f"{typ} {name}: found {len(found)}"
        return found[0]

    job = one(JOB, "db-bootstrap-job").inputs
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    config = one(CONFIG_MAP, "db-bootstrap-config").inputs["data"]
    secret = mask(one(SECRET, "db-bootstrap-secret").inputs["stringData"], show_secrets=True)
    metadata = mask(one(SECRET, "airflow-secrets-metadata").inputs["stringData"], show_secrets=True)
    pgb = mask(one(SECRET, "airflow-secrets-pgbouncer-config").inputs["stringData"], show_secrets=True)
    return Rendered(
        command=container["command"],
        env=env,
        sql=config["bootstrap.sql"],
        verifier=secret["app-password-verifier"],
        metadata_uri=metadata["connection"],
        ini=pgb["pgbouncer.ini"],
        users_txt=pgb["users.txt"],
    )


def _app(r: Rendered) -> tuple[str, str]:
    user = unquote(_userinfo(r.metadata_uri)[0])
    return user, _parse_users_txt(r.users_txt)[user]


def _dbname(r: Rendered) -> str:
    ((entry,),) = [list(_ini_sections(r.ini)["databases"].values())]
    return dict(p.split("=", 1) for p in entry.split())["dbname"]


def test_should_render_the_job_around_the_pure_sql(rendered: Rendered):
    user, _ = _app(rendered)
    assert rendered.sql == database_roles.bootstrap_sql(app_role=user, database=_dbname(rendered))
    assert rendered.command[:3] == ["sh", "-c", database_roles.JOB_SCRIPT]
    assert rendered.env["PGUSER"] == ADMIN and rendered.env["PGDATABASE"] == _dbname(rendered)
    assert user != ADMIN, "Airflow must not connect as the administrator"
    assert rendered.verifier.startswith("SCRAM-SHA-256$4096:")


@dataclass
class Cluster:
    servers: Servers
    run_dir: Path


@pytest.fixture(scope="module")
def cluster(rendered: Rendered) -> Iterator[Cluster]:
    require_binary("pgbouncer", "/usr/sbin/pgbouncer")
    require_binary("psql", "/usr/bin/psql")
    service = service_user()
    run_dir = Path(tempfile.mkdtemp(prefix="contract-role-"))
    servers = Servers(run_dir=run_dir, pg_port=_free_port(), bouncer_port=_free_port())
    try:
        crt, key = _self_signed(run_dir)
        start_postgres(servers, service, crt=crt, key=key)

        conn = servers.superuser()
        try:
            with conn.cursor() as cur:  # what RDS creates: a master user with CREATEROLE CREATEDB owning the database
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD %s").format(sql.Identifier(ADMIN)), (ADMIN_PASSWORD,)
                )
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(_dbname(rendered)), sql.Identifier(ADMIN)))
        finally:
            conn.close()
        # a stack that connected as the administrator before: its tables must move to the app role
        admin = psycopg2.connect(
            host="127.0.0.1", port=servers.pg_port, user=ADMIN, password=ADMIN_PASSWORD, dbname=_dbname(rendered), sslmode="require"
        )
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE TABLE legacy (id serial PRIMARY KEY)")
        admin.close()

        start_rendered_pgbouncer(servers, service, ini=rendered.ini, users_txt=rendered.users_txt)
        yield Cluster(servers=servers, run_dir=run_dir)
    finally:
        _stop(servers)
        shutil.rmtree(run_dir, ignore_errors=True)


def _run_job(rendered: Rendered, cluster: Cluster, *, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The Job's container command, verbatim, with the Job's PG* settings pointed at the test server."""
    sql_file = cluster.run_dir / "bootstrap.sql"
    sql_file.write_text(rendered.sql)
    command = [*rendered.command[:-1], str(sql_file)]
    where_the_password_is = {database_roles.ADMIN_PASSWORD_FILE_ENV, database_roles.ADMIN_SECRET_JSON_FILE_ENV}
    base = {k: v for k, v in rendered.env.items() if v is not None and k not in where_the_password_is}
    base |= {"PGHOST": "127.0.0.1", "PGPORT": str(cluster.servers.pg_port), database_roles.VERIFIER_ENV: rendered.verifier}
    return subprocess.run(command, env={"PATH": os.environ["PATH"], **base, **env}, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def bootstrapped(rendered: Rendered, cluster: Cluster) -> list[subprocess.CompletedProcess]:
    document = cluster.run_dir / "admin-secret.json"
    document.write_text(json.dumps({"username": ADMIN, "password": ADMIN_PASSWORD}))  # the RDS-managed secret's shape
    password_file = cluster.run_dir / "admin-password"
    password_file.write_text(ADMIN_PASSWORD)
    runs = [
        _run_job(rendered, cluster, env={database_roles.ADMIN_SECRET_JSON_FILE_ENV: str(document)}),
        _run_job(rendered, cluster, env={database_roles.ADMIN_PASSWORD_FILE_ENV: str(password_file)}),
        # as the superuser, over the local socket (trust): the same script, a third time
        _run_job(
            rendered,
            cluster,
            env={
                database_roles.ADMIN_PASSWORD_FILE_ENV: str(password_file),
                "PGHOST": str(cluster.run_dir),
                "PGUSER": SUPERUSER,
                "PGSSLMODE": "disable",
            },
        ),
    ]
    return runs


def test_should_run_the_bootstrap_three_times_without_error(bootstrapped):
    for run in bootstrapped:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "owns database" in run.stdout


def test_should_refuse_to_run_without_a_verifier(rendered: Rendered, cluster: Cluster, bootstrapped):
    password_file = cluster.run_dir / "admin-password"
    run = _run_job(rendered, cluster, env={database_roles.ADMIN_PASSWORD_FILE_ENV: str(password_file), database_roles.VERIFIER_ENV: "x"})
    assert run.returncode != 0 and "SCRAM-SHA-256 verifier" in run.stdout + run.stderr


def test_should_give_the_app_role_no_attribute_and_no_membership(rendered: Rendered, cluster: Cluster, bootstrapped):
    user, _ = _app(rendered)
    conn = cluster.servers.superuser()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s",
                (user,),
            )
            assert cur.fetchone() == (False, False, False, False, False, True)
            cur.execute("SELECT count(*) FROM pg_auth_members WHERE member = %s::regrole", (user,))
            assert cur.fetchone() == (0,)
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (_dbname(rendered),))
            assert cur.fetchone() == (user,)
            cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (user,))
            assert cur.fetchone() == (rendered.verifier,), "the stored verifier is the one the program rendered"
    finally:
        conn.close()


@pytest.fixture(scope="module")
def migrated(rendered: Rendered, cluster: Cluster, bootstrapped) -> dict[str, float]:
    if importlib_missing("airflow"):
        missing_tool("apache-airflow in the venv")
    home = Path(tempfile.mkdtemp(prefix="contract-airflow-home-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _with_netloc(rendered.metadata_uri, host="127.0.0.1", port=cluster.servers.bouncer_port),
        # Airflow 3 also builds an async engine from the URI at start-up (asyncpg, which the Airflow image ships
        # and this venv does not); db migrate/check never use it, so it points at a throw-away SQLite file.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"sqlite+aiosqlite:///{home}/unused-async.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    }
    commands = [["db", "migrate"], ["db", "check"], ["db", "check-migrations", "--migration-wait-timeout=1"]]
    try:
        run, ran = run_airflow_cli(sys.executable, commands, env=env, workdir=home, timeout=900)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert run.returncode == 0 and [(c["argv"], c["exit"]) for c in ran] == [(c, 0) for c in commands], (
        f"airflow {ran}\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}\n{cluster.servers.logs()}"
    )
    timings = {" ".join(c["argv"]): c["seconds"] for c in ran}
    print(f"\nairflow timings (s): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    if timings["db migrate"] > MIGRATE_BUDGET_S:
        print(f"NOTE: airflow db migrate took {timings['db migrate']:.0f}s, above the {MIGRATE_BUDGET_S:.0f}s budget")
    return timings


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def test_should_migrate_and_check_as_the_app_role_through_pgbouncer(rendered: Rendered, cluster: Cluster, migrated):
    user, _ = _app(rendered)
    app = psycopg2.connect(_with_netloc(rendered.metadata_uri, host="127.0.0.1", port=cluster.servers.bouncer_port))
    try:
        with app.cursor() as cur:
            cur.execute("SELECT count(*), count(*) FILTER (WHERE tableowner = current_user) FROM pg_tables WHERE schemaname = 'public'")
            total, owned = cur.fetchone()
            cur.execute("SELECT version_num FROM alembic_version")
            assert cur.fetchone()[0]
    finally:
        app.close()
    assert total > 40 and owned == total, f"{owned} of {total} tables owned by {user}"


def _app_connect(rendered: Rendered, cluster: Cluster, dbname: str):
    user, password = _app(rendered)
    return psycopg2.connect(
        host="127.0.0.1",
        port=cluster.servers.pg_port,
        user=user,
        password=password,
        dbname=dbname,
        sslmode="require",
        connect_timeout=CONNECT_TIMEOUT_S,
    )


def test_should_not_let_the_app_role_create_roles_or_databases(rendered: Rendered, cluster: Cluster, bootstrapped):
    conn = _app_connect(rendered, cluster, _dbname(rendered))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("CREATE ROLE intruder LOGIN")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("CREATE DATABASE intruder")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(_app(rendered)[0])))
    finally:
        conn.close()


@pytest.mark.parametrize("other", ["postgres", "template1"])
def test_should_not_let_the_app_role_connect_to_another_database(rendered: Rendered, cluster: Cluster, bootstrapped, other: str):
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        _app_connect(rendered, cluster, other)


def test_should_hand_the_administrators_tables_to_the_app_role(rendered: Rendered, cluster: Cluster, bootstrapped):
    conn = _app_connect(rendered, cluster, _dbname(rendered))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'legacy'")
            assert cur.fetchone() == (_app(rendered)[0],)
            cur.execute("ALTER TABLE legacy ADD COLUMN note text")  # an owner's right, as migrations need
    finally:
        conn.rollback()
        conn.close()
