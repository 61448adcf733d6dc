"""Contract: PgBouncer with our rendered config verifies the database's certificate (``verify-full``).

The Azure example ``research-prod`` renders ``server_tls_sslmode = verify-full``
with ``server_tls_ca_file`` pointing at ``root.crt`` of the config Secret (the
shipped Azure roots). A throw-away PostgreSQL serves a certificate issued by a
test CA (generated with ``cryptography``) for ``localhost`` only. The rendered
``pgbouncer.ini`` runs in the real PgBouncer with only the environment values
rewritten and the CA file swapped: with the test CA and host ``localhost`` the
pool works; with the rendered Azure roots (a wrong CA for this server) or with
host ``127.0.0.1`` (not in the certificate) PgBouncer refuses the server. The
bootstrap Job's ``psql`` settings (``PGSSLMODE``/``PGSSLROOTCERT``) are checked
the same way through libpq.
"""

from __future__ import annotations

import datetime
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import psycopg2
import pytest
from psycopg2 import sql

from components.database_urls import PGBOUNCER_CA_FILE
from tests.conftest import render, require_binary, stack_file
from tests.contract.test_pgbouncer import (
    CONNECT_TIMEOUT_S,
    Servers,
    _free_port,
    _ini_sections,
    _parse_users_txt,
    _stop,
    _userinfo,
    _with_netloc,
    rewrite_ini,
    service_user,
    start_pgbouncer,
    start_postgres,
)
from tools.render import mask

STACK = "research-prod"
SECRET = "kubernetes:core/v1:Secret"


@dataclass(frozen=True)
class Files:
    ini: str
    users_txt: str
    root_crt: str
    metadata_uri: str
    job_env: dict[str, str]
    job_ca: str


@pytest.fixture(scope="module")
def files() -> Files:
    stack = render(stack_file(STACK))
    secrets = {r.name: mask(r.inputs["stringData"], show_secrets=True) for r in stack.by_type(SECRET)}
    config = secrets["airflow-secrets-pgbouncer-config"]
    (job,) = [r for r in stack.by_type("kubernetes:batch/v1:Job") if r.name == "db-bootstrap-job"]
    (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
    (config_map,) = [r for r in stack.by_type("kubernetes:core/v1:ConfigMap") if r.name == "db-bootstrap-config"]
    return Files(
        ini=config["pgbouncer.ini"],
        users_txt=config["users.txt"],
        root_crt=config["root.crt"],
        metadata_uri=secrets["airflow-secrets-metadata"]["connection"],
        job_env={e["name"]: e.get("value") for e in container["env"]},
        job_ca=config_map.inputs["data"]["ca.pem"],
    )


def test_should_render_verify_full_with_the_ca_file(files: Files):
    bouncer = _ini_sections(files.ini)["pgbouncer"]
    assert bouncer["server_tls_sslmode"] == "verify-full"
    assert bouncer["server_tls_ca_file"] == PGBOUNCER_CA_FILE
    assert files.root_crt.count("-----BEGIN CERTIFICATE-----") == 2
    assert files.job_env["PGSSLMODE"] == "verify-full" and files.job_env["PGSSLROOTCERT"].endswith("/ca.pem")
    assert files.job_ca == files.root_crt


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate it signs for DNS ``localhost`` only (no IP address)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("contract test CA"))
        .issuer_name(_name("contract test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, crt, pem = directory / "test-ca.crt", directory / "server.crt", directory / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    pem.chmod(0o600)
    return ca_file, crt, pem


@dataclass
class Setup:
    servers: Servers
    run_dir: Path
    test_ca: Path
    pools: dict[str, int]
    """Case -> PgBouncer port: ``good`` (test CA, localhost), ``wrong_ca`` (rendered roots), ``wrong_host`` (127.0.0.1)."""


def _app(files: Files) -> tuple[str, str]:
    user = unquote(_userinfo(files.metadata_uri)[0])
    return user, _parse_users_txt(files.users_txt)[user]


def _dbname(files: Files) -> str:
    ((entry,),) = [list(_ini_sections(files.ini)["databases"].values())]
    return dict(p.split("=", 1) for p in entry.split())["dbname"]


@pytest.fixture(scope="module")
def setup(files: Files) -> Iterator[Setup]:
    require_binary("pgbouncer", "/usr/sbin/pgbouncer")
    service = service_user()
    run_dir = Path(tempfile.mkdtemp(prefix="contract-tls-"))
    servers = Servers(run_dir=run_dir, pg_port=_free_port(), bouncer_port=_free_port())
    try:
        test_ca, crt, key = _issue(run_dir)
        start_postgres(servers, service, crt=crt, key=key, listen=("127.0.0.1", "::1"))
        user, password = _app(files)
        conn = servers.superuser()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(user)), (password,))
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(_dbname(files)), sql.Identifier(user)))
        finally:
            conn.close()

        users_txt = run_dir / "users.txt"
        users_txt.write_text(files.users_txt)
        users_txt.chmod(0o600)
        rendered_roots = run_dir / "root.crt"
        rendered_roots.write_text(files.root_crt)
        cases = {"good": ("localhost", test_ca), "wrong_ca": ("localhost", rendered_roots), "wrong_host": ("127.0.0.1", test_ca)}
        pools: dict[str, int] = {}
        for case, (host, ca) in cases.items():
            port = _free_port()
            case_dir = run_dir / case
            case_dir.mkdir()
            ini = rewrite_ini(files.ini, db_host=host, db_port=servers.pg_port, listen_port=port, auth_file=users_txt, run_dir=case_dir)
            assert f"server_tls_ca_file = {PGBOUNCER_CA_FILE}" in ini
            ini = ini.replace(f"server_tls_ca_file = {PGBOUNCER_CA_FILE}", f"server_tls_ca_file = {ca}")
            (case_dir / "pgbouncer.ini").write_text(ini)
            start_pgbouncer(servers, service, case_dir / "pgbouncer.ini", name=f"pgbouncer-{case}", port=port)
            pools[case] = port
        yield Setup(servers=servers, run_dir=run_dir, test_ca=test_ca, pools=pools)
    finally:
        _stop(servers)
        shutil.rmtree(run_dir, ignore_errors=True)


REFUSED_WAIT_S = 2
"""How long a refused client waits: PgBouncer holds it while it retries the server, which fails in milliseconds
(the log shows why); libpq's shortest ``connect_timeout``."""


def _through(files: Files, setup: Setup, case: str, timeout: int = CONNECT_TIMEOUT_S):
    return psycopg2.connect(_with_netloc(files.metadata_uri, host="127.0.0.1", port=setup.pools[case]), connect_timeout=timeout)


def _log(setup: Setup, case: str) -> str:
    return (setup.run_dir / case / "pgbouncer.log").read_text(errors="replace")


def test_should_connect_with_the_right_ca_and_host_name(files: Files, setup: Setup):
    conn = _through(files, setup, "good")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert cur.fetchone() == (True,)
    finally:
        conn.close()


def test_should_refuse_a_server_certificate_from_another_ca(files: Files, setup: Setup):
    with pytest.raises(psycopg2.OperationalError):
        _through(files, setup, "wrong_ca", REFUSED_WAIT_S).close()
    assert re.search(r"certificate verify failed|unable to get local issuer", _log(setup, "wrong_ca")), _log(setup, "wrong_ca")[-2000:]


def test_should_refuse_a_server_certificate_for_another_host_name(files: Files, setup: Setup):
    with pytest.raises(psycopg2.OperationalError):
        _through(files, setup, "wrong_host", REFUSED_WAIT_S).close()
    log = _log(setup, "wrong_host")
    assert re.search(r"name .*does not match|hostname|certificate", log, re.IGNORECASE), log[-2000:]
    assert "certificate verify failed" not in log, "the CA is right here: only the name must fail"


@pytest.mark.parametrize(
    ("host", "ca", "ok"), [("localhost", "test", True), ("localhost", "rendered", False), ("127.0.0.1", "test", False)]
)
def test_should_verify_the_server_from_the_bootstrap_job_too(files: Files, setup: Setup, host: str, ca: str, ok: bool):
    """libpq with the Job's PGSSLMODE, and PGSSLROOTCERT holding the test CA or the rendered bundle."""
    root = setup.test_ca if ca == "test" else setup.run_dir / "root.crt"
    user, password = _app(files)
    kwargs = dict(
        host=host,
        port=setup.servers.pg_port,
        user=user,
        password=password,
        dbname=_dbname(files),
        sslmode=files.job_env["PGSSLMODE"],
        sslrootcert=str(root),
        connect_timeout=CONNECT_TIMEOUT_S,
    )
    if ok:
        psycopg2.connect(**kwargs).close()
    else:
        with pytest.raises(psycopg2.OperationalError, match=r"certificate|does not match"):
            psycopg2.connect(**kwargs)
