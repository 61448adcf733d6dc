"""Pure-function and construction tests of the database role, the task-pod isolation and the database CA."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from components import database_roles, database_urls
from components.airflow_chart import task_egress
from components.airflow_chart.values import BUILT_IN_SECRET_ENV_OFF
from components.platform import DatabaseAdminAccess
from components.settings.airflow import DatabaseSettings
from tests.conftest import SELF_HOSTED_FILES, render, stack_file
from tools.render import mask

ROOTS = Path(__file__).resolve().parents[2] / "components" / "azure" / "certs" / "flexible-server-roots.pem"
EXPECTED_ROOTS = {
    "CN=DigiCert Global Root G2,OU=www.digicert.com,O=DigiCert Inc,C=US": "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
    "CN=Microsoft RSA Root Certificate Authority 2017,O=Microsoft Corporation,C=US": (
        "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0"
    ),
}


# --------------------------------------------------------------------------- pure functions


def test_should_build_a_scram_verifier_that_proves_the_password():
    salt = bytes(range(16))
    verifier = database_roles.scram_verifier("pencil", salt)
    match = re.fullmatch(r"SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)", verifier)
    assert match and base64.b64decode(match[1]) == salt
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert base64.b64decode(match[2]) == hashlib.sha256(client_key).digest()
    assert database_roles.scram_verifier("pencil", salt) == verifier
    assert database_roles.scram_verifier("pencil2", salt) != verifier
    with pytest.raises(ValueError, match="salt must be at least 16 bytes"):
        database_roles.scram_verifier("pencil", b"short")


@pytest.mark.parametrize("bad", ['air"flow', "Airflow", "1airflow", "air flow", "a;drop"])
def test_should_refuse_identifiers_that_would_need_quoting(bad: str):
    with pytest.raises(ValueError, match="must match"):
        database_roles.bootstrap_sql(app_role=bad, database="airflow")
    with pytest.raises(ValueError, match="must match"):
        database_roles.bootstrap_sql(app_role="airflow_app", database=bad)


def test_should_grant_no_attribute_and_never_carry_a_password_in_the_sql():
    text = database_roles.bootstrap_sql(app_role="airflow_app", database="airflow")
    assert "PASSWORD :'app_verifier'" in text
    statements = [line for line in text.splitlines() if re.match(r"\s*(CREATE|ALTER) ROLE", line)]
    assert statements == ['    CREATE ROLE "airflow_app" LOGIN;', statements[1]]
    assert not re.search(r"(?<!NO)(SUPERUSER|CREATEROLE|CREATEDB|REPLICATION|BYPASSRLS)", statements[1])
    assert 'ALTER ROLE "airflow_app" WITH LOGIN NOCREATEDB NOCREATEROLE' in text
    assert text.count("BEGIN;") == 1 and "COMMIT;" in text


def test_should_require_a_ca_file_for_verify_modes():
    common = dict(pool_name="p", db_host="h", db_port=5432, database="d", pool_size=1, max_client_conn=10)
    with pytest.raises(ValueError, match="needs server_tls_ca_file"):
        database_urls.pgbouncer_ini(**common, server_tls_sslmode="verify-full")
    ini = database_urls.pgbouncer_ini(**common, server_tls_sslmode="verify-full", server_tls_ca_file="/etc/pgbouncer/root.crt")
    assert "server_tls_sslmode = verify-full\nserver_tls_ca_file = /etc/pgbouncer/root.crt\n" in ini


def test_should_allow_every_tcp_port_but_postgres_and_pgbouncer():
    ranges = task_egress.allowed_port_ranges()
    assert ranges == [(1, 5431), (5433, 6542), (6544, 65535)]
    covered = {p for first, last in ranges for p in range(first, last + 1)}
    assert covered == set(range(1, 65536)) - {5432, 6543}
    rules = task_egress.egress_rules()
    assert {"protocol": "UDP"} in rules[0]["ports"] and "to" not in rules[0]


def test_should_ship_the_azure_roots_with_the_recorded_fingerprints():
    certificates = x509.load_pem_x509_certificates(ROOTS.read_bytes())
    found = {c.subject.rfc4514_string(): c.fingerprint(hashes.SHA256()).hex() for c in certificates}
    assert found == EXPECTED_ROOTS
    text = ROOTS.read_text()
    for fingerprint in EXPECTED_ROOTS.values():
        assert fingerprint in text, "the origin note must carry each SHA-256"


def test_should_refuse_an_app_role_equal_to_the_administrator():
    with pytest.raises(ValueError, match="appUsername must differ"):
        DatabaseSettings(app_username="airflow_admin")
    with pytest.raises(ValueError, match="reserved"):
        DatabaseSettings(app_username="postgres")
    with pytest.raises(ValueError, match="PEM"):
        DatabaseSettings(ca_bundle="not a certificate")


def test_should_take_exactly_one_way_to_the_admin_password():
    with pytest.raises(ValueError, match="exactly one"):
        DatabaseAdminAccess()
    with pytest.raises(ValueError, match="fetch_command"):
        DatabaseAdminAccess(fetch_image="x:1")
    with pytest.raises(ValueError, match="fetch_output"):
        DatabaseAdminAccess(fetch_image="x:1", fetch_command=("sh",), fetch_output="yaml")  # type: ignore[arg-type]


def test_should_switch_off_the_chart_built_in_secret_variables():
    assert set(BUILT_IN_SECRET_ENV_OFF) == {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_CONN_AIRFLOW_DB"}


# --------------------------------------------------------------------------- rendered stacks


@pytest.mark.parametrize("path", SELF_HOSTED_FILES, ids=lambda p: p.stem.removeprefix("Pulumi."))
def test_should_connect_airflow_as_the_app_role_and_keep_the_admin_credential_to_the_job(path: Path):
    stack = render(path)
    secrets = {r.name: r for r in stack.by_type("kubernetes:core/v1:Secret")}
    uri = mask(secrets["airflow-secrets-metadata"].inputs["stringData"], show_secrets=True)["connection"]
    assert uri.startswith("postgresql://airflow_app:")
    (values,) = stack.helm_values(show_secrets=False)
    bootstrap_secret = secrets["db-bootstrap-secret"].inputs["metadata"]["name"]
    assert bootstrap_secret not in repr(values), "an Airflow pod would read the bootstrap Job's Secret"
    (job,) = [r for r in stack.by_type("kubernetes:batch/v1:Job") if r.name == "db-bootstrap-job"]
    spec = job.inputs["spec"]
    assert spec["ttlSecondsAfterFinished"] > 0
    assert spec["template"]["spec"]["serviceAccountName"] == "airflow-db-bootstrap"
    release = stack.by_type("kubernetes:helm.sh/v3:Release")[0]
    assert any(d.startswith("db-bootstrap") for d in release.depends_on), "the release must wait for the bootstrap Job"


def test_should_let_rds_manage_the_master_password_and_read_it_only_from_the_job():
    stack = render(stack_file("payments-prod"))
    (instance,) = stack.by_type("aws:rds/instance:Instance")
    assert instance.inputs["manageMasterUserPassword"] is True and "password" not in instance.inputs
    assert not [r for r in stack.by_type("random:index/randomPassword:RandomPassword") if r.name.startswith("metadata-db")]
    roles = {r.name: r for r in stack.by_type("aws:iam/role:Role")}
    trust = mask(roles["db-admin-reader-role"].inputs["assumeRolePolicy"], show_secrets=True)
    assert "system:serviceaccount:airflow:airflow-db-bootstrap" in trust and "*" not in trust.split("Condition")[1]
    (policy,) = [r for r in stack.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "db-admin-reader-read-master-secret"]
    document = mask(policy.inputs["policy"], show_secrets=True)
    assert "secret:rds!db-" in document and "GetSecretValue" in document and "*" not in document


def test_should_verify_the_database_certificate_on_azure_by_default():
    stack = render(stack_file("research-prod"))
    secrets = {r.name: mask(r.inputs["stringData"], show_secrets=True) for r in stack.by_type("kubernetes:core/v1:Secret")}
    config = secrets["airflow-secrets-pgbouncer-config"]
    assert "server_tls_sslmode = verify-full" in config["pgbouncer.ini"]
    assert config["root.crt"] == ROOTS.read_text()


def test_should_keep_task_pods_away_from_the_database_ports():
    stack = render(stack_file("payments-prod"))
    (policy,) = stack.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    spec = policy.inputs["spec"]
    assert spec["podSelector"]["matchLabels"] == {"tier": "airflow", "component": "worker", "release": "airflow"}
    assert spec["policyTypes"] == ["Egress"]
    ports = spec["egress"][0]["ports"]
    assert {"protocol": "TCP", "port": 5433, "endPort": 6542} in ports
