"""Contract tests for the AWS stack: what the program produces, read by the real software.

The program runs under Pulumi mocks (``tests.conftest.render``). What it
registers is handed to the software that consumes it in production:

* a real moto Secrets Manager server on loopback holds exactly the secrets the
  program declares;
* Airflow's own configuration code reads an ``airflow.cfg`` written the way the
  official chart writes ``config:`` (contracts section 9.1) and builds the real
  ``SecretsManagerBackend``, ``DagBundlesManager``, ``GitDagBundle``/``GitHook``
  and Fernet from it, in a fresh interpreter (``tests/contract/probes/aws_probe.py``);
* ``cryptography`` reads the generated Fernet key and parliament lints the IAM
  permission policy.

Expected values come from the stack file's declared settings (and from the
libraries themselves), never from the program's document builders.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import importlib
import importlib.resources
import json
import types
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import naming
from components.settings.airflow import DagBundle
from components.settings.errors import SettingsError
from tests.conftest import CHART_DIR, missing_tool, render, render_config, stack_file
from tests.contract.conftest import AirflowEnv
from tests.contract.expectations import expected_connection
from tests.contract.probes import probe_support
from tests.contract.probes.probe_support import base_env
from tests.support.stacks import unwrap
from tools.render import HELM_RELEASE, Rendered

STACK = "payments-prod"
PROBE = Path(__file__).parent / "probes" / "aws_probe.py"
PROBE_TIMEOUT_SECONDS = 120

SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
"""Airflow's class path of the backend (contracts section 3)."""
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
K8S_SECRET = "kubernetes:core/v1:Secret"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
"""Annotation the EKS pod-identity webhook reads (contracts section 9.4)."""
SECRETS_READING_COMPONENTS = ("scheduler", "apiServer", "dagProcessor", "triggerer", "workers")
"""Chart components whose pods read connections (contracts sections 5.2, 7 and 8)."""
UNDECLARED_CONN_ID = "contract_aws_undeclared_conn"
SEVERE = {"MEDIUM", "HIGH", "CRITICAL"}


# --------------------------------------------------------------------------- what the program produced


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return render(stack_file(STACK))


@pytest.fixture(scope="module")
def values(rendered: Rendered) -> dict[str, Any]:
    return unwrap(rendered.one(HELM_RELEASE).inputs["values"])


@pytest.fixture(scope="module")
def declared(rendered: Rendered) -> dict[str, Any]:
    """The stack file's settings (project namespace, Pulumi.yaml defaults applied)."""
    return rendered.stack.project_values()


def conn_ids_of(declared: dict[str, Any]) -> list[str]:
    """The declared connections and the one the program adds with ``taskLogs`` (the task-log handler's)."""
    generated = [naming.TASK_LOGS_CONN_ID] if declared.get("taskLogs", {}).get("enabled") else []
    return [c["connId"] for c in declared["connections"]] + generated


def region_of(rendered: Rendered) -> str:
    return rendered.stack.values["aws:region"]


def declared_secrets(rendered: Rendered) -> dict[str, str]:
    """Secrets Manager name -> SecretString, pairing each version with its secret by ARN."""
    secrets = rendered.by_type(SECRET)
    versions = rendered.by_type(SECRET_VERSION)
    by_arn = {unwrap(s.outputs["arn"]): s for s in secrets}
    assert len(by_arn) == len(secrets), "two secrets share an ARN"
    found: dict[str, str] = {}
    for version in versions:
        secret = by_arn.get(unwrap(version.inputs["secretId"]))
        assert secret is not None, f"{version.name} points at no declared secret"
        assert version.name == f"{secret.name}-value", (version.name, secret.name)
        name = unwrap(secret.inputs["name"])
        assert name not in found, f"secret {name} has two versions"
        found[name] = unwrap(version.inputs["secretString"])
    assert len(found) == len(secrets), "a declared secret has no value"
    return found


def secret_name_by_conn_id(rendered: Rendered, conn_id: str) -> str:
    return unwrap(rendered.one(SECRET, f"connections-{conn_id}").inputs["name"])


def k8s_secret_data(rendered: Rendered, secret_name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(metadata, stringData) of the Kubernetes Secret called ``secret_name``."""
    matches = [r for r in rendered.by_type(K8S_SECRET) if unwrap(r.inputs["metadata"]).get("name") == secret_name]
    assert len(matches) == 1, f"expected one Kubernetes Secret named {secret_name}, found {len(matches)}"
    return unwrap(matches[0].inputs["metadata"]), unwrap(matches[0].inputs["stringData"])


# --------------------------------------------------------------------------- airflow.cfg as the chart writes it


def _go_to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _go_to_json(value: Any) -> str:
    """Helm ``toJson``: Go's encoding/json (sorted keys, compact, HTML characters escaped)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def chart_airflow_cfg(values: dict[str, Any]) -> str:
    """``airflow.cfg`` as chart 1.20.0's ``configmap.yaml`` renders it (contracts section 9.1).

    Helm coalesces our ``config`` over the chart's default ``config``; every
    value goes through ``toString`` and ``tpl``. The one template that matters
    here, ``dag_bundle_config_list``, is the ``toJson`` of
    ``dagProcessor.dagBundleConfigList``; other templated chart defaults
    (executor, dags_folder, statsd host, ...) need Helm itself and are left out.
    """
    path = CHART_DIR / "values.yaml"
    if not path.exists():
        missing_tool(f"chart values at {path} (set AIRFLOW_CHART_DIR)")
    chart = yaml.safe_load(path.read_text())
    config = _deep_merge(chart["config"], values.get("config", {}))
    bundles = values.get("dagProcessor", {}).get("dagBundleConfigList", chart["dagProcessor"]["dagBundleConfigList"])
    lines: list[str] = []
    for section in sorted(config):  # Go ranges over maps in key order
        lines.append(f"[{section}]")
        for key in sorted(config[section]):
            text = _go_to_string(config[section][key])
            if "{{" in text:
                if (section, key) != ("dag_processor", "dag_bundle_config_list"):
                    continue
                assert text.strip() == '{{ include "dag_bundle_config_list" . }}', text
                text = _go_to_json(bundles)
            assert "\n" not in text, f"[{section}] {key} spans lines and would break airflow.cfg"
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- moto and the Airflow probe


@pytest.fixture(scope="module")
def moto_server(rendered: Rendered):
    """A real Secrets Manager API on loopback holding exactly the secrets the program declared."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        missing_tool(f"moto[server] and boto3 ({error})")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        wanted = declared_secrets(rendered)
        assert wanted, "the stack declares no Secrets Manager secret; nothing to check"
        with pytest.MonkeyPatch.context() as env:
            env.setenv("NO_PROXY", "127.0.0.1,localhost")  # a developer's proxy must not see loopback traffic
            client = boto3.client(
                "secretsmanager",
                region_name=region_of(rendered),
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for name, secret_string in wanted.items():
                client.create_secret(Name=name, SecretString=secret_string)
            pages = client.get_paginator("list_secrets").paginate()
            stored = [s["Name"] for page in pages for s in page["SecretList"]]
        assert sorted(stored) == sorted(wanted)
        yield types.SimpleNamespace(endpoint=endpoint, secrets=wanted)
    finally:
        server.stop()


def run_probe(
    mode: str,
    request: dict[str, Any],
    *,
    values: dict[str, Any],
    rendered: Rendered,
    endpoint: str | None,
    home: Path,
    airflow_env: AirflowEnv,
) -> dict[str, Any]:
    """Run ``probes/aws_probe.py`` in a fresh interpreter with only what a chart-made pod would have."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "airflow.cfg").write_text(chart_airflow_cfg(values))
    _, fernet_data = k8s_secret_data(rendered, values["fernetKeySecretName"])
    env = {
        **base_env(home),
        # The chart injects this into every Airflow container from fernetKeySecretName/fernet-key.
        "AIRFLOW__CORE__FERNET_KEY": fernet_data["fernet-key"],
        # Stand-ins for the IRSA web-identity credentials; nothing that names a region.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # Hermetic: anything not on loopback goes to a closed local port instead of the internet.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if endpoint is not None:
        # Reach moto instead of AWS, with the rendered backend_kwargs and airflow.cfg untouched: botocore's own
        # service endpoint variable (Airflow's per-key AIRFLOW__SECRETS__BACKEND_KWARG__* exists from 3.2 only).
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = endpoint
    return probe_support.run_probe(
        PROBE, [mode], request, workdir=home, env=env, timeout=PROBE_TIMEOUT_SECONDS, stem=mode, python=airflow_env.python
    )


FERNET_PLAINTEXT = "contract-aws-fernet-plaintext"


@pytest.fixture(scope="module")
def probe_reports(rendered, values, declared, moto_server, airflow_env, tmp_path_factory) -> dict[str, Any]:
    """The connections, bundles and Fernet probes of one Airflow version: one interpreter imports Airflow with the
    chart's airflow.cfg and the pod's environment, and each probe runs in its own child forked from it."""
    conn_ids = conn_ids_of(declared)
    assert UNDECLARED_CONN_ID not in conn_ids
    requests = {
        "connections": {"conn_ids": conn_ids, "undeclared": UNDECLARED_CONN_ID},
        "bundles": {},
        "fernet": {"plaintext": FERNET_PLAINTEXT},
    }
    reports = run_probe(
        "modes",
        requests,
        values=values,
        rendered=rendered,
        endpoint=moto_server.endpoint,
        home=tmp_path_factory.mktemp("airflow-probes"),
        airflow_env=airflow_env,
    )
    assert sorted(reports) == sorted(requests)
    return reports


@pytest.fixture(scope="module")
def connections_report(probe_reports) -> dict[str, Any]:
    return probe_reports["connections"]


def backend_report(report: dict[str, Any], side: str) -> dict[str, Any]:
    """One side's view of the backend; fails first if Airflow could not even build its client."""
    backend = report[side]
    assert backend is not None, f"{side}: Airflow configured no custom secrets backend"
    assert "client_error" not in backend, f"{side}: Airflow could not build the Secrets Manager client: {backend['client_error']}"
    return backend


# --------------------------------------------------------------------------- 1. connections through the real backend


def test_should_configure_airflow_with_the_secrets_manager_backend(connections_report, rendered, declared):
    report = connections_report
    assert report["backend_setting"] == SECRETS_MANAGER_BACKEND
    assert report["server_chain"][0] == SECRETS_MANAGER_BACKEND, "custom backend must come first on servers"
    assert report["worker_chain"] and report["worker_chain"][0] == SECRETS_MANAGER_BACKEND, "workers fall back to [secrets]"
    for side in ("server", "worker"):
        assert "role_arn" not in report[side]["client_kwargs"], "IRSA: role_arn would chain an AssumeRole (contracts 3.1)"
        backend = backend_report(report, side)
        assert backend["class"] == SECRETS_MANAGER_BACKEND
        assert backend["client_region"] == region_of(rendered), "region_name must reach the boto3 client"
        if not declared.get("variablesPrefix"):
            assert backend["variables_prefix"] is None, "variables are off in this stack; the backend must not look them up"


@pytest.mark.parametrize("side", ["server", "worker"])
def test_should_resolve_every_declared_connection_through_the_real_backend(
    connections_report, rendered, declared, moto_server, airflow_env, side
):
    backend = backend_report(connections_report, side)
    assert declared["connections"], "the stack declares no connection; nothing to check"
    for spec in declared["connections"]:
        got = backend["connections"][spec["connId"]]
        assert got is not None, f"{side}: Airflow found no connection {spec['connId']!r} in Secrets Manager"
        assert "error" not in got, f"{side}: looking up {spec['connId']!r} failed: {got['error']}"
        want = expected_connection(rendered.stack, spec)
        assert {k: got[k] for k in want} == want, f"{side}: {spec['connId']}"
    expected_class = {"server": "airflow.models.connection.Connection", "worker": airflow_env.task_connection_class}
    assert {c["python_class"] for c in backend["connections"].values()} == {expected_class[side]}
    lookups = [c for c in backend["calls"] if c.get("operation") == "GetSecretValue"]
    assert lookups and all(c["url"].startswith(moto_server.endpoint) for c in backend["calls"]), "lookups must reach moto"


@pytest.mark.parametrize("side", ["server", "worker"])
def test_should_return_none_for_an_undeclared_connection_after_asking_the_server(connections_report, moto_server, side):
    backend = backend_report(connections_report, side)
    assert backend["undeclared"] is None
    calls = backend["undeclared_calls"]
    assert len(calls) == 1 and calls[0]["url"].startswith(moto_server.endpoint), calls
    assert (calls[0]["operation"], calls[0]["error"]) == ("GetSecretValue", "ResourceNotFoundException")
    assert 400 <= calls[0]["status"] < 500, "the server itself answered 'not found'"


def test_should_not_query_variable_or_config_prefixes_the_stack_leaves_off(connections_report, declared):
    for side in ("server", "worker"):
        backend = backend_report(connections_report, side)
        assert backend["config_prefix"] is None
        if not declared.get("variablesPrefix"):
            assert backend["variable"] is None and backend["config"] is None
            assert backend["variable_and_config_calls"] == [], "a disabled prefix still costs Secrets Manager calls"


# --------------------------------------------------------------------------- 2. DAG bundles through DagBundlesManager


@pytest.fixture(scope="module")
def bundles_report(probe_reports) -> dict[str, Any]:
    return probe_reports["bundles"]


def test_should_build_exactly_the_declared_dag_bundles(bundles_report, declared):
    names = [b["name"] for b in declared["dagBundles"]]
    assert sorted(bundles_report["bundle_names"]) == sorted(names), "no example bundles, nothing missing"


def test_should_configure_each_bundle_as_declared(bundles_report, rendered, declared, airflow_env):
    connections = {c["connId"]: c for c in declared["connections"]}
    for raw in declared["dagBundles"]:
        bundle = DagBundle.model_validate(raw)  # the declared entry with its documented defaults
        got = bundles_report["bundles"][bundle.name]
        assert "error" not in got, f"Airflow could not build bundle {bundle.name}: {got['error']}"
        assert got["refresh_interval"] == bundle.refresh_interval_seconds, bundle.name
        if bundle.kind == "local":
            assert got["is_local"] and got["path"] == bundle.path, got
            continue
        assert got["is_git"], f"{bundle.name} is {got['python_class']}"
        assert (got["tracking_ref"], got["subdir"]) == (bundle.tracking_ref, bundle.subdir), bundle.name
        hook = got["hook"]
        if bundle.git_conn_id is None:
            assert got["repo_url"] == bundle.repo_url
            assert hook is None or hook["auth_token"] is None, "a public bundle must not pick up credentials"
            continue
        conn = expected_connection(rendered.stack, connections[bundle.git_conn_id])
        assert got["git_conn_id"] == bundle.git_conn_id
        assert hook is not None, f"{bundle.name}: GitHook could not resolve {bundle.git_conn_id} through the backend"
        repo_url = airflow_env.git_hook_repo_url(bundle.repo_url or conn["host"], conn["login"], conn["password"])
        assert hook["repo_url"] == repo_url == got["repo_url"]
        assert hook["auth_token"] == conn["password"], "the token must come from Secrets Manager"
        if conn["login"] is not None:
            assert hook["user_name"] == conn["login"]
        if bundle.known_hosts:  # Git over SSH: the key from Secrets Manager, host keys always checked
            assert hook["private_key"] == conn["extra_dejson"]["private_key"]
            assert hook["strict_host_key_checking"] == "yes", "GitHook's default trusts unknown host keys"
            if not airflow_env.release.providers["git"].startswith("0."):
                assert hook["known_hosts_file"] == "/etc/ssh/ssh_known_hosts"


def test_should_keep_a_percent_sign_in_a_bundle_setting_readable_by_airflow(rendered, moto_server, airflow_env, tmp_path):
    """Settings accept '%' in subdir/repoUrl/trackingRef; either reject it or make Airflow read it back intact."""
    stack = rendered.stack
    config = copy.deepcopy(stack.values)
    bundles = config[f"{stack.project}:dagBundles"]
    bundles[0]["subdir"] = "dags%20v2"
    try:
        variant = render_config(dataclasses.replace(stack, values=config))
    except SettingsError:
        return  # refusing the value up front is a fix as well
    variant_values = unwrap(variant.one(HELM_RELEASE).inputs["values"])
    report = run_probe(
        "bundles", {}, values=variant_values, rendered=variant, endpoint=moto_server.endpoint, home=tmp_path, airflow_env=airflow_env
    )
    assert report["bundles"][bundles[0]["name"]]["subdir"] == "dags%20v2"


# --------------------------------------------------------------------------- 3. Fernet key


def test_should_generate_a_fernet_key_cryptography_and_airflow_accept(rendered, values, probe_reports):
    from cryptography.fernet import Fernet

    metadata, data = k8s_secret_data(rendered, values["fernetKeySecretName"])
    assert metadata.get("namespace") == rendered.stack.project_values()["namespace"]
    key = data["fernet-key"]  # the key name the chart reads (contracts section 9.3)
    fernet = Fernet(key.encode())
    assert fernet.decrypt(fernet.encrypt(b"contract")) == b"contract"

    plaintext = FERNET_PLAINTEXT
    report = probe_reports["fernet"]
    assert report["is_encrypted"] is True, "Airflow did not take the key (it would store values in clear)"
    assert report["round_trip"] == plaintext
    assert fernet.decrypt(report["token"].encode()).decode() == plaintext, "Airflow must encrypt with this very key"
    assert report["connection_password_encrypted"] is True and report["connection_password"] == plaintext
    assert report["connection_stored_password"] != plaintext
    assert fernet.decrypt(report["connection_stored_password"].encode()).decode() == plaintext


# --------------------------------------------------------------------------- 4. IAM


def _parliament():
    """parliament 1.6 imports ``pkg_resources`` (setuptools < 81, pinned in pyproject.toml's dev group)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module("parliament")
    except ModuleNotFoundError as error:
        missing_tool(f"parliament ({error})")


def _severe_findings(policy: str) -> list[tuple[str, str, Any]]:
    parliament = _parliament()
    analyzed = parliament.analyze_policy_string(policy, include_community_auditors=True)
    findings = [parliament.enhance_finding(f) for f in analyzed.findings]
    return [(f.issue, f.severity, f.detail) for f in findings if f.severity in SEVERE]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _account(declared: dict[str, Any]) -> tuple[str, str]:
    """(partition, account id) of the stack's EKS OIDC provider ARN."""
    parts = declared["aws"]["oidcProviderArn"].split(":")
    return parts[1], parts[4]


def test_should_pass_parliament_without_medium_or_worse_findings(rendered):
    policy = unwrap(rendered.one(ROLE_POLICY, "secrets-reader-read-secrets").inputs["policy"])
    assert _severe_findings(policy) == []
    # The linter is live: the same policy pointed at the wrong service is flagged.
    broken = json.loads(policy)
    for statement in broken["Statement"]:
        statement["Resource"] = "arn:aws:s3:::not-a-secret"
    assert _severe_findings(json.dumps(broken)), "parliament flagged nothing on a mismatched policy"


def test_should_grant_read_on_exactly_the_backend_prefixes(rendered, declared, connections_report):
    policy = json.loads(unwrap(rendered.one(ROLE_POLICY, "secrets-reader-read-secrets").inputs["policy"]))
    statements = policy["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    partition, account = _account(declared)
    region = region_of(rendered)
    backend = backend_report(connections_report, "server")
    prefixes = [p for p in (backend["connections_prefix"], backend["variables_prefix"], backend["config_prefix"]) if p is not None]
    expected = {f"arn:{partition}:secretsmanager:{region}:{account}:secret:{p}{backend['sep']}*" for p in prefixes}

    secret_statements = [s for s in statements if any(a.startswith("secretsmanager:") for a in _as_list(s["Action"]))]
    actions = {a for s in secret_statements for a in _as_list(s["Action"])}
    resources = {r for s in secret_statements for r in _as_list(s["Resource"])}
    assert "secretsmanager:GetSecretValue" in actions, "the backend calls GetSecretValue"
    assert actions <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, actions
    assert resources == expected

    def allowed(arn: str) -> bool:
        return any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources)

    for reg in rendered.by_type(SECRET):
        assert allowed(unwrap(reg.outputs["arn"])), f"{reg.name} is outside the role's reach"
    outside = f"arn:{partition}:secretsmanager:{region}:{account}:secret:{backend['connections_prefix']}-other/x-AbCdEf"
    assert not allowed(outside), "the grant must stop at the prefix boundary"


def test_should_restrict_kms_decrypt_to_secrets_manager(rendered, declared):
    policy = json.loads(unwrap(rendered.one(ROLE_POLICY, "secrets-reader-read-secrets").inputs["policy"]))
    kms = [s for s in policy["Statement"] if any(a.startswith("kms:") for a in _as_list(s["Action"]))]
    key_arn = declared["aws"].get("kmsKeyArn")
    if key_arn is None:
        assert kms == []
        return
    for reg in rendered.by_type(SECRET):
        assert unwrap(reg.inputs.get("kmsKeyId")) == key_arn, f"{reg.name} is not encrypted with the stack's key"
    assert len(kms) == 1
    statement = kms[0]
    assert _as_list(statement["Action"]) == ["kms:Decrypt"]
    assert _as_list(statement["Resource"]) == [key_arn]
    via = statement["Condition"]["StringEquals"]["kms:ViaService"]
    assert _as_list(via) == [f"secretsmanager.{region_of(rendered)}.amazonaws.com"]
    assert set(statement["Condition"]) == {"StringEquals", "StringLike"}
    assert set(statement["Condition"]["StringEquals"]) == {"kms:ViaService"}
    # Secrets Manager's encryption context names the secret: the key decrypts only this stack's secrets.
    read = next(s for s in policy["Statement"] if "secretsmanager:GetSecretValue" in _as_list(s["Action"]))
    assert statement["Condition"]["StringLike"] == {"kms:EncryptionContext:SecretARN": read["Resource"]}


def test_should_trust_only_the_release_service_accounts(rendered, values, declared):
    role = rendered.one(ROLE, "secrets-reader-role")
    trust = json.loads(unwrap(role.inputs["assumeRolePolicy"]))
    namespace = declared["namespace"]
    issuer = declared["aws"]["oidcIssuerUrl"].removeprefix("https://").rstrip("/")
    accounts = []
    for component in SECRETS_READING_COMPONENTS:
        if component not in values:
            continue
        sa = values[component]["serviceAccount"]
        assert sa["create"] is True and sa["name"], component
        assert sa["annotations"][IRSA_ANNOTATION] == unwrap(role.outputs["arn"]), f"{component} is not bound to the role"
        accounts.append(sa["name"])
    if declared["executor"] in ("KubernetesExecutor", "CeleryExecutor"):
        assert "workers" in values, "task pods read connections under the workers service account"
    expected = {f"system:serviceaccount:{namespace}:{name}" for name in accounts}

    assert trust["Statement"]
    for statement in trust["Statement"]:
        assert statement["Effect"] == "Allow"
        assert _as_list(statement["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
        assert statement["Principal"] == {"Federated": declared["aws"]["oidcProviderArn"]}
        condition = statement["Condition"]
        assert set(condition) == {"StringEquals"}, "no wildcard subjects for a self-hosted release"
        equals = condition["StringEquals"]
        assert _as_list(equals[f"{issuer}:aud"]) == ["sts.amazonaws.com"]
        assert set(_as_list(equals[f"{issuer}:sub"])) == expected
        assert len(_as_list(equals[f"{issuer}:sub"])) == len(expected)


# --------------------------------------------------------------------------- 5. secret names


def test_should_name_each_secret_as_the_backend_builds_its_path(connections_report, rendered, declared, moto_server):
    conn_ids = conn_ids_of(declared)
    for side in ("server", "worker"):
        paths = backend_report(connections_report, side)["paths"]
        assert {conn_id: secret_name_by_conn_id(rendered, conn_id) for conn_id in conn_ids} == paths
    assert set(paths.values()) == set(moto_server.secrets), "every declared secret belongs to a connection"
    assert rendered.outputs_document(show_secrets=False)["connection_secret_names"] == paths
