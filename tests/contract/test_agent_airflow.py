"""Remote Execution against Airflow itself: the agent values' DAG bundles and secrets backend.

``dagBundleConfigList`` and ``AIRFLOW__SECRETS__BACKEND_KWARGS`` are handed to
Airflow (``probes/agent_probe.py`` in a fresh interpreter with only the
environment an agent container gets), using the connection documents the
program wrote to the backend.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import render, stack_file
from tests.contract.conftest import AirflowEnv
from tests.contract.probes import probe_support
from tests.contract.probes.probe_support import base_env
from tests.support.agent import (
    LOCAL_BUNDLE,
    REMOTE_EXAMPLES,
    backend_documents,
    bundle_list,
    connection_documents,
    env_of,
    output,
    values_of,
)
from tools.render import Rendered

PROBE = Path(__file__).parent / "probes" / "agent_probe.py"
PROBE_TIMEOUT_SECONDS = 120


def run_probe(mode: str, request: dict[str, Any], env: dict[str, str], home: Path, airflow_env: AirflowEnv) -> dict[str, Any]:
    """``agent_airflow_probe.py`` in a fresh interpreter with only ``env`` (what an agent container gets)."""
    home.mkdir(parents=True, exist_ok=True)
    clean = {
        **base_env(home),
        # The Astro Runtime image turns example DAGs off; a bare Airflow would add an example bundle.
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **env,
    }
    return probe_support.run_probe(
        PROBE, [mode], request, workdir=home, env=clean, timeout=PROBE_TIMEOUT_SECONDS, stem=mode, python=airflow_env.python
    )


def sha256(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(scope="module", params=REMOTE_EXAMPLES)
def bundle_report(request, airflow_env, tmp_path_factory) -> tuple[Rendered, dict[str, Any]]:
    rendered = render(stack_file(request.param))
    values = values_of(rendered)
    documents = connection_documents(rendered)
    env = dict(env_of(values))
    env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = values["dagBundleConfigList"]
    for bundle in bundle_list(values):
        conn_id = bundle["kwargs"].get("git_conn_id")
        if conn_id:
            # Stand-in for the cloud backend: the exact document the program stored for this conn_id.
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(documents[conn_id])
    return rendered, run_probe("bundles", {}, env, tmp_path_factory.mktemp(f"bundles-{request.param}"), airflow_env)


def test_should_have_airflow_build_every_dag_bundle_from_the_values(bundle_report, airflow_env):
    rendered, report = bundle_report
    values = values_of(rendered)
    bundles = bundle_list(values)
    documents = connection_documents(rendered)
    assert report["raw"] == bundles, "Airflow read a different list from the env var"
    assert sorted(report["names"]) == sorted(b["name"] for b in bundles)
    for bundle in bundles:
        built, kwargs = report["bundles"][bundle["name"]], bundle["kwargs"]
        assert built["class"] == bundle["classpath"]
        if bundle["classpath"] == LOCAL_BUNDLE:
            assert built["path"] == kwargs["path"]
            continue
        assert built["tracking_ref"] == kwargs["tracking_ref"]
        assert built["subdir"] == kwargs.get("subdir")
        assert built["refresh_interval"] == kwargs.get("refresh_interval", 300)
        if kwargs.get("git_conn_id"):
            document = documents[kwargs["git_conn_id"]]
            assert document["conn_type"] == "git"
            hook = built["hook"]
            assert hook is not None, f"{bundle['name']}: Airflow could not resolve {kwargs['git_conn_id']!r}"
            repo_url = kwargs.get("repo_url", document["host"])
            assert hook["repo_url"] == airflow_env.git_hook_repo_url(repo_url, document.get("login"), document.get("password"))
            assert built["repo_url"] == hook["repo_url"]
            assert hook["user_name"] == document.get("login", "user")
            assert hook["auth_token_sha256"] == sha256(document.get("password")), "the token did not reach the hook"
            if "private_key" in document.get("extra", {}):  # Git over SSH: host keys always checked
                assert hook["private_key_sha256"] == sha256(document["extra"]["private_key"])
                assert hook["strict_host_key_checking"] == "yes", "GitHook's default trusts unknown host keys"
                if not airflow_env.release.providers["git"].startswith("0."):
                    assert hook["known_hosts_file"] == "/etc/ssh/ssh_known_hosts"
        else:
            assert built["repo_url"] == kwargs["repo_url"], "a public bundle needs its repo_url"


@pytest.fixture(scope="module", params=REMOTE_EXAMPLES)
def backend_report(request, airflow_env, tmp_path_factory) -> tuple[Rendered, dict[str, Any]]:
    rendered = render(stack_file(request.param))
    values = values_of(rendered)
    env = dict(env_of(values))
    # What the chart does with secretBackend and xcomBackend (reference §4.5).
    env["AIRFLOW__SECRETS__BACKEND"] = values["secretBackend"]
    env["AIRFLOW__CORE__XCOM_BACKEND"] = values["xcomBackend"]
    request_ = {
        "cloud": rendered.stack.project_values()["cloud"],
        "classpath": values["secretBackend"],
        "kwargs_json": env["AIRFLOW__SECRETS__BACKEND_KWARGS"],
        "stored": backend_documents(rendered),
        "conn_ids": sorted(output(rendered, "connection_secret_names")),
    }
    return rendered, run_probe("backend", request_, env, tmp_path_factory.mktemp(f"backend-{request.param}"), airflow_env)


def test_should_pass_aws_backend_kwargs_for_irsa(aws: Rendered):
    values = values_of(aws)
    env = env_of(values)
    kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    region = aws.stack.values["aws:region"]
    assert values["secretBackend"] == "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    assert values["secretBackend"] == output(aws, "secrets_backend_class")
    assert kwargs["region_name"] == region
    assert "role_arn" not in kwargs, "under IRSA role_arn chains an AssumeRole from the role to itself"
    assert not {"aws_access_key_id", "aws_secret_access_key", "profile_name"} & set(kwargs)
    for conn_id, name in output(aws, "connection_secret_names").items():
        assert name == f"{kwargs['connections_prefix']}/{conn_id}"


def test_should_pass_azure_backend_kwargs_for_workload_identity(azure: Rendered):
    values = values_of(azure)
    kwargs = json.loads(env_of(values)["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert values["secretBackend"] == "airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend"
    assert values["secretBackend"] == output(azure, "secrets_backend_class")
    assert kwargs["vault_url"] == output(azure, "key_vault_url")
    assert kwargs["managed_identity_client_id"] == output(azure, "managed_identity_client_id")
    assert kwargs["workload_identity_tenant_id"] == azure.stack.project_values()["azure"]["tenantId"]
    assert not {"client_secret", "tenant_id", "client_id"} & set(kwargs), "no service-principal credentials"
    for conn_id, name in output(azure, "connection_secret_names").items():
        assert name == f"{kwargs['connections_prefix']}-{conn_id}".replace("_", "-")


def test_should_have_airflow_parse_and_build_the_secrets_backend(backend_report):
    rendered, report = backend_report
    values = values_of(rendered)
    kwargs = json.loads(env_of(values)["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    classpath = values["secretBackend"]
    assert report["conf_backend"] == classpath
    assert report["conf_kwargs"] == kwargs, "Airflow's config parser read different kwargs from the env var"
    assert report["sdk_conf_kwargs"] == kwargs, "the task SDK's config parser read different kwargs"
    # Airflow's loaders fall back to *no kwargs* on bad JSON, so compare what the backends hold.
    for key in ("core_backend", "worker_backend", "direct_backend"):
        backend = report[key]
        assert backend["class"] == classpath, key
        assert backend["connections_prefix"] == kwargs["connections_prefix"], key
        if rendered.stack.project_values()["cloud"] == "aws":
            assert backend["kwargs"] == {"region_name": kwargs["region_name"]}, key
        else:
            assert backend["vault_url"] == kwargs["vault_url"], key
            assert backend["managed_identity_client_id"] == kwargs["managed_identity_client_id"], key
            assert backend["workload_identity_tenant_id"] == kwargs["workload_identity_tenant_id"], key
            assert backend["kwargs"] == {}, f"{key}: extra kwargs would reach SecretClient"


def test_should_find_every_stored_connection_through_the_backend_built_from_the_values(backend_report):
    rendered, report = backend_report
    documents = connection_documents(rendered)
    names = output(rendered, "connection_secret_names")
    for conn_id, document in documents.items():
        found = report["connections"][conn_id]
        assert found is not None, f"{conn_id}: not found under {names[conn_id]!r}"
        assert found["conn_type"] == document["conn_type"]
        assert found["login"] == document.get("login")
        assert found["host"] == document.get("host")
        assert found["schema"] == document.get("schema")
        assert found["password_sha256"] == sha256(document.get("password"))
        assert found["extra_keys"] == sorted(document.get("extra", {}))
    assert sorted(set(report["asked"])) == sorted(names.values())


def test_should_name_an_xcom_backend_the_task_sdk_resolves(backend_report):
    rendered, report = backend_report
    values = values_of(rendered)
    xcom = report["xcom_backend"]
    assert xcom["is_base_xcom"], f"{values['xcomBackend']} is not a BaseXCom"
    assert xcom["class"].rpartition(".")[2] == values["xcomBackend"].rpartition(".")[2], xcom
