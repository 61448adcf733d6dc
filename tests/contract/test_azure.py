"""Contract: what the program writes to Azure Key Vault is what Airflow's real code finds and accepts.

The research-prod stack is rendered under mocks; the Key Vault secrets it
registers, the ``[secrets]`` settings it hands the chart and its outputs are
then given to the real ``AzureKeyVaultBackend`` (apache-airflow-providers-
microsoft-azure), both Connection classes, ``GitHook`` and ``KubernetesHook``
in a fresh interpreter (``tests/contract/probes/azure_probe.py``). Only the network
is faked, below the Azure SDK: a Key Vault that serves exactly the secrets the
program registered and a Microsoft Entra token endpoint; ``kubelogin`` is a
stand-in on ``PATH`` that records its arguments and prints a fake token.
Expected names and parsed fields come from Airflow's answers, compared with
the declared settings (``airflow-contracts.md`` sections 1, 2, 4, 6, 7, 10).
"""

from __future__ import annotations

import base64
import importlib.metadata
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from components.connections import AKS_SERVER_ID, FEDERATED_TOKEN_FILE, PLACEHOLDER
from components.settings.errors import SettingsError
from components.settings.model import SCALAR_KEYS, STRUCTURED_KEYS
from components.settings.validation import settings_from_config
from tests.conftest import missing_tool, render, stack_file
from tests.contract.expectations import expected_connection
from tests.contract.probes import probe_support
from tests.contract.probes.azure_probe import FAKE_ACCESS_TOKEN, fake_federated_token, fake_kubelogin_source
from tools.render import HELM_RELEASE, Rendered, mask
from tools.stackfile import ROOT, placeholder

STACK = "research-prod"
KEY_VAULT_SECRET = "azure-native:keyvault:Secret"
BACKEND_CLASS = "airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend"
PROBE = Path(__file__).parent / "probes" / "azure_probe.py"
UNDECLARED = "contract_azure_undeclared"
REQUIRED_DISTRIBUTIONS = (
    "apache-airflow-core",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-microsoft-azure",
    "apache-airflow-providers-cncf-kubernetes",
    "apache-airflow-providers-git",
    "azure-keyvault-secrets",
    "azure-identity",
    "kubernetes",
    "responses",
)
"""Checked by distribution name: importing ``airflow`` here would reconfigure logging for every test."""
COLLISIONS = [("my_conn", "My-Conn"), ("AKS-GPU", "aks_gpu")]
"""conn_id pairs Key Vault cannot tell apart: two declared ones, and a declared one against the remote cluster's."""
# The AKS webhook injects these from the service-account annotation; deliberately different
# values here, so that the identity the backend uses is seen to come from backend_kwargs.
DECOY_CLIENT_ID = "00000000-0000-4000-8000-00000000dec0"
DECOY_TENANT_ID = "00000000-0000-4000-8000-0000000000de"


# --------------------------------------------------------------------------- what the program wrote


def _rendered() -> Rendered:
    return render(stack_file(STACK))


def _values(rendered: Rendered) -> dict[str, Any]:
    return mask(rendered.one(HELM_RELEASE).inputs["values"], show_secrets=True)


def _stored(rendered: Rendered) -> dict[str, dict[str, str]]:
    """conn_id -> {secret name, vault, stored string}, from the Key Vault secret registrations."""
    stored: dict[str, dict[str, str]] = {}
    for reg in rendered.by_type(KEY_VAULT_SECRET):
        if reg.parent == "db-admin":  # the administrator password, in the admin vault Airflow cannot read
            assert "airflow-conn-id" not in reg.inputs["tags"]
            continue
        conn_id = reg.inputs["tags"]["airflow-conn-id"]
        assert conn_id not in stored, f"two Key Vault secrets for {conn_id}"
        stored[conn_id] = {
            "name": reg.inputs["secretName"],
            "vault": reg.inputs["vaultName"],
            "value": mask(reg.inputs["properties"], show_secrets=True)["value"],
        }
    return stored


def _declared(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {c["connId"]: c for c in rendered.stack.project_values().get("connections", [])}


def _remote_clusters(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {c["connId"]: c for c in rendered.stack.project_values().get("remoteClusters", [])}


def _tenant(rendered: Rendered) -> str:
    return rendered.stack.project_values()["azure"]["tenantId"]


def _output(rendered: Rendered, name: str) -> Any:
    return mask(rendered.outputs[name][0], True)


def _airflow_cfg(config: dict[str, dict[str, Any]]) -> str:
    """``airflow.cfg`` as the chart's configmap template renders ``config:`` (sorted, ``toString``)."""
    lines: list[str] = []
    for section in sorted(config):
        lines.append(f"[{section}]")
        for key in sorted(config[section]):
            value = config[section][key]
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            assert "{{" not in text, f"config.{section}.{key} would be rewritten by the chart's tpl"
            assert "\n" not in text, f"config.{section}.{key} spans lines and breaks airflow.cfg"
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- Airflow's answers


@pytest.fixture(scope="module")
def probe(airflow_env, tmp_path_factory) -> dict[str, Any]:
    """Run the probe once: Airflow's view of everything the program wrote."""
    for distribution in REQUIRED_DISTRIBUTIONS:
        try:
            importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            missing_tool(f"python package {distribution}")
    rendered = _rendered()
    values = _values(rendered)
    stored = _stored(rendered)
    vaults = {s["vault"] for s in stored.values()}
    assert len(vaults) == 1, f"connections spread over vaults {vaults}"

    work = tmp_path_factory.mktemp("contract_azure")
    home = work / "airflow-home"
    home.mkdir()
    (home / "airflow.cfg").write_text(_airflow_cfg(values["config"]))
    bin_dir = work / "bin"
    bin_dir.mkdir()
    kubelogin = bin_dir / "kubelogin"
    kubelogin.write_text(fake_kubelogin_source(sys.executable))
    kubelogin.chmod(0o755)
    token_file = work / "azure-identity-token"
    token_file.write_text(fake_federated_token())
    kubelogin_log = work / "kubelogin.jsonl"

    declared = _declared(rendered)
    request = {
        "vault_host": f"{vaults.pop()}.vault.azure.net",
        "tenant_id": _tenant(rendered),
        "secrets": {s["name"]: s["value"] for s in stored.values()},
        "values_by_conn_id": {cid: s["value"] for cid, s in stored.items()},
        "conn_ids": list(declared) + list(_remote_clusters(rendered)),
        "extra_names": [conn_id for pair in COLLISIONS for conn_id in pair],
        "undeclared": UNDECLARED,
        "git_conn_ids": [cid for cid, c in declared.items() if c["connType"] == "git"],
        "kube_conn_ids": list(_remote_clusters(rendered)),
    }

    env = {
        "PATH": os.pathsep.join([str(bin_dir), str(airflow_env.bin_dir), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(work),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
        "PYTHONPATH": str(ROOT),
        # What the AKS workload-identity webhook injects into every pod of an annotated service account.
        "AZURE_CLIENT_ID": DECOY_CLIENT_ID,
        "AZURE_TENANT_ID": DECOY_TENANT_ID,
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
        "CONTRACT_AZURE_KUBELOGIN_LOG": str(kubelogin_log),
    }
    for item in values.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    report = probe_support.run_probe(PROBE, [], request, workdir=work, env=env, timeout=240, stem="probe", python=airflow_env.python)
    report["kubelogin_runs"] = [json.loads(line) for line in kubelogin_log.read_text().splitlines()] if kubelogin_log.exists() else []
    report["federated_token"] = token_file.read_text()
    return report


def _ok(answer: Any, what: str) -> Any:
    assert not (isinstance(answer, dict) and "error" in answer), f"{what}: {answer['error']}\n{answer.get('traceback', '')}"
    return answer


# --------------------------------------------------------------------------- 1. names


def test_should_name_every_secret_exactly_as_the_backend_looks_it_up(probe):
    rendered = _rendered()
    stored = _stored(rendered)
    conn_ids = list(_declared(rendered)) + list(_remote_clusters(rendered))
    assert conn_ids and set(stored) == set(conn_ids), f"secrets {sorted(stored)} != connections {sorted(conn_ids)}"
    backend = probe["backend"]
    assert backend["class"] == BACKEND_CLASS
    for conn_id in conn_ids:
        built = probe["names"][conn_id]
        assert stored[conn_id]["name"] == built, f"{conn_id}: we created {stored[conn_id]['name']!r}, Airflow builds {built!r}"
        # The backend's own validity check runs before the request: a rejected name is never requested.
        lookup = probe["core_lookups"][conn_id]
        assert lookup["requested"] and set(lookup["requested"]) == {built}, (conn_id, lookup["requested"])
    assert _output(rendered, "connection_secret_names") == {cid: stored[cid]["name"] for cid in conn_ids}


# --------------------------------------------------------------------------- 2. lookups


@pytest.mark.parametrize("path", ["core_lookups", "sdk_lookups", "sdk_get"])
def test_should_resolve_every_declared_connection_through_the_backend(probe, airflow_env, path):
    rendered = _rendered()
    classes = {"core_lookups": "airflow.models.connection.Connection"}
    task_class = airflow_env.task_connection_class
    for conn_id in _declared(rendered):
        answer = probe[path][conn_id]
        conn = _ok(answer["connection"] if path != "sdk_get" else answer, f"{path} {conn_id}")
        assert conn is not None, f"{path}: Airflow found no connection {conn_id}"
        if path in classes:
            assert conn["python_class"] == classes[path]
        else:
            assert conn["python_class"] == task_class, conn["python_class"]
        assert conn["conn_id"] == conn_id
        expected = expected_connection(rendered.stack, _declared(rendered)[conn_id])
        got = {key: conn[key] for key in expected}
        assert got == expected, f"{path} {conn_id}"


def test_should_give_declared_connections_the_fields_their_hooks_read(probe, airflow_env):
    rendered = _rendered()
    declared = _declared(rendered)
    assert {"git", "snowflake"} <= {c["connType"] for c in declared.values()}, "the example lost a connection kind"
    for conn_id, spec in declared.items():
        conn = probe["sdk_get"][conn_id]
        if spec["connType"] == "git" and "extra.private_key" in spec["secretFields"]:  # Git over SSH
            hook = _ok(probe["git_hooks"][conn_id], f"GitHook({conn_id})")
            assert hook["private_key"] == placeholder(f"{rendered.stack.project}:{spec['secretFields']['extra.private_key']}")
            assert hook["strict_host_key_checking"] == "yes", "GitHook's default trusts unknown host keys"
            if not airflow_env.release.providers["git"].startswith("0."):
                assert hook["known_hosts_file"] == "/etc/ssh/ssh_known_hosts"
        elif spec["connType"] == "git":
            hook = _ok(probe["git_hooks"][conn_id], f"GitHook({conn_id})")
            token = placeholder(f"{rendered.stack.project}:{spec['secretFields']['password']}")
            assert hook["repo_url"] == airflow_env.git_hook_repo_url(spec["host"], spec["login"], token)
            assert hook["user_name"] == spec["login"]
            assert hook["auth_token"] == token
        if spec["connType"] == "snowflake":
            extra = conn["extra_dejson"]
            for key in ("account", "warehouse", "role", "database"):
                assert extra[key] == spec["extra"][key], key
            assert extra["private_key_content"] == PLACEHOLDER
            assert conn["password"] is None, "no passphrase was declared"


def test_should_resolve_the_remote_cluster_connection_through_the_backend(probe):
    rendered = _rendered()
    clusters = _remote_clusters(rendered)
    assert clusters, "the example lost its remote cluster"
    for conn_id, cluster in clusters.items():
        for path in ("core_lookups", "sdk_lookups"):
            conn = _ok(probe[path][conn_id]["connection"], f"{path} {conn_id}")
            assert conn["conn_type"] == "kubernetes"
            assert isinstance(conn["extra_dejson"]["kube_config"], dict)
            assert conn["extra_dejson"]["namespace"] == cluster["namespace"]
            assert conn["host"] is None and conn["login"] is None and conn["password"] is None


def test_should_parse_every_stored_document_with_both_connection_classes(probe):
    stored = _stored(_rendered())
    for cls in ("core", "sdk"):
        for conn_id in stored:
            conn = _ok(probe["from_json"][cls][conn_id], f"{cls} Connection.from_json({conn_id})")
            assert conn["conn_id"] == conn_id
            assert conn["extra_dejson"] == json.loads(stored[conn_id]["value"]).get("extra", {})


def test_should_store_only_connection_fields_in_every_document(probe):
    fields = probe["connection_class_fields"]
    # from_json passes conn_id itself; a document key of that name (or uri) makes it raise.
    allowed = (set(fields["core"]) & set(fields["sdk"])) - {"conn_id", "uri"}
    assert {"conn_type", "host", "login", "password", "schema", "port", "extra"} <= allowed, allowed
    for conn_id, secret in _stored(_rendered()).items():
        document = json.loads(secret["value"])
        assert isinstance(document, dict) and secret["value"].lstrip().startswith("{")
        assert set(document) <= allowed, f"{conn_id}: keys {sorted(set(document) - allowed)} are not Connection fields"


def test_should_find_nothing_for_an_undeclared_connection(probe):
    lookup = probe["core_lookups"][UNDECLARED]
    assert lookup["connection"] is None
    assert lookup["requested"] == [probe["names"][UNDECLARED]], "the negative control must reach the fake vault"


# --------------------------------------------------------------------------- 3. backend construction


def test_should_build_the_backend_from_the_chart_config(probe):
    rendered = _rendered()
    values = _values(rendered)
    assert values["config"]["secrets"]["backend"] == BACKEND_CLASS
    assert probe["config"]["backend"] == BACKEND_CLASS
    kwargs = _ok(probe["config"]["backend_kwargs"], "conf.getjson('secrets', 'backend_kwargs')")
    assert isinstance(kwargs, dict), "Airflow would ignore non-dict backend_kwargs"
    assert probe["core_chain"][0] == "AzureKeyVaultBackend" and probe["sdk_chain"][0] == "AzureKeyVaultBackend"
    backend = probe["backend"]
    vault = {s["vault"] for s in _stored(rendered).values()}.pop()
    assert backend["vault_url"] == _output(rendered, "key_vault_url") == f"https://{vault}.vault.azure.net/"
    assert backend["client_kwargs"] == {}, "unknown kwargs are handed to SecretClient"
    settings_prefix = rendered.stack.project_values().get("connectionsPrefix") or "airflow-connections"
    assert backend["connections_prefix"] == settings_prefix.rstrip("-")
    assert backend["sep"] == "-"


def test_should_use_the_airflow_workload_identity_for_key_vault(probe):
    rendered = _rendered()
    tenant = _tenant(rendered)
    client_id = _output(rendered, "managed_identity_client_id")
    backend = probe["backend"]
    assert backend["managed_identity_client_id"] == client_id
    assert backend["workload_identity_tenant_id"] == tenant
    assert not backend["has_client_secret"] and not (backend["tenant_id"] and backend["client_id"])
    # One credential per backend instance (server chain, worker chain, Task SDK lookups).
    assert len(probe["credential_kwargs"]) >= 2
    for kwargs in probe["credential_kwargs"]:
        assert kwargs == {
            "managed_identity_client_id": client_id,
            "workload_identity_tenant_id": tenant,
            "additionally_allowed_tenants": [tenant],
        }
    credential = _ok(probe["credential"], "credential")
    assert credential["class"].endswith("DefaultAzureCredential")
    assert "WorkloadIdentityCredential" in credential["chain"]
    tokens = [c for c in probe["http_calls"] if c.get("kind") == "entra-token"]
    assert tokens, "no token was requested from Microsoft Entra"
    for call in tokens:
        assert call["path"] == f"/{tenant}/oauth2/v2.0/token"
        assert call["form"]["client_id"] == client_id
        assert call["form"]["client_assertion"] == probe["federated_token"]
        assert call["form"]["scope"] == "https://vault.azure.net/.default"
    reads = [c for c in probe["http_calls"] if c.get("kind") == "key-vault" and c["status"] == 200]
    assert reads and all(c["authorization"] == f"Bearer {FAKE_ACCESS_TOKEN}" for c in reads)


def test_should_not_query_key_vault_for_variables_or_config_when_they_are_off(probe):
    rendered = _rendered()
    if rendered.stack.project_values().get("variablesPrefix"):
        pytest.skip("this stack reads variables from Key Vault")
    assert probe["backend"]["variables_prefix"] is None and probe["backend"]["config_prefix"] is None
    assert probe["variable"] is None and probe["config_option"] is None
    assert probe["variable_and_config_calls"] == []


# --------------------------------------------------------------------------- 4. KubernetesHook


def _kube_config(conn_id: str) -> dict[str, Any]:
    return json.loads(_stored(_rendered())[conn_id]["value"])["extra"]["kube_config"]


@pytest.mark.parametrize("via", ["kubernetes_hooks", "load_kube_config_from_dict"])
def test_should_load_the_remote_cluster_kubeconfig_with_the_kubernetes_client(probe, via):
    rendered = _rendered()
    for conn_id, cluster in _remote_clusters(rendered).items():
        answer = _ok(probe[via][conn_id], f"{via}({conn_id})")
        client = answer["client"] if via == "kubernetes_hooks" else answer
        assert client["host"] == cluster["apiServerUrl"]
        assert client["ssl_ca_cert_content"] == base64.b64decode(cluster["certificateAuthorityData"]).decode()
        assert client["verify_ssl"] is True
        assert client["authorization"] == "Bearer contract-azure-fake-aks-token", "the exec plugin's token is not used"
        assert not client["has_client_cert"]
        if via == "kubernetes_hooks":
            assert answer["is_in_cluster"] is False
            assert answer["namespace"] == cluster["namespace"]
            assert answer["kube_config_type"] == "dict"
            assert answer["in_cluster_field"] is None, "in_cluster and kube_config are mutually exclusive"
            assert not {"in_cluster", "kube_config_path"} & set(answer["conn_extras_keys"])


def test_should_authenticate_to_the_remote_cluster_with_kubelogin_workload_identity(probe):
    rendered = _rendered()
    tenant = _tenant(rendered)
    identities = _output(rendered, "remote_cluster_identity_client_ids")
    clusters = _remote_clusters(rendered)
    runs = probe["kubelogin_runs"]
    assert len(runs) == 2 * len(clusters), f"kubelogin ran {len(runs)} times"
    expected_pairs = {
        ("--login", "workloadidentity"),
        ("--server-id", AKS_SERVER_ID),
        ("--federated-token-file", FEDERATED_TOKEN_FILE),
        ("--tenant-id", tenant),
    }
    assert AKS_SERVER_ID == "6dae42f8-4368-4678-94ff-3960e28e3630"
    assert FEDERATED_TOKEN_FILE == "/var/run/secrets/azure/tokens/azure-identity-token"
    client_ids = {identities[c["name"]] for c in clusters.values()}
    for run in runs:
        argv = run["argv"]
        assert Path(argv[0]).name == "kubelogin"
        assert argv[1] == "get-token"
        pairs = set(itertools.pairwise(argv))
        assert expected_pairs <= pairs, sorted(expected_pairs - pairs)
        assert any(("--client-id", cid) in pairs for cid in client_ids), argv
        assert json.loads(run["exec_info"])["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    for conn_id, cluster in clusters.items():
        exec_ = _kube_config(conn_id)["users"][0]["user"]["exec"]
        assert exec_["command"] == "kubelogin"
        assert ("--client-id", identities[cluster["name"]]) in set(itertools.pairwise(exec_["args"]))
        assert identities[cluster["name"]] != _output(rendered, "managed_identity_client_id")


# --------------------------------------------------------------------------- 5. no secret in the kubeconfig

FORBIDDEN_KUBECONFIG_KEYS = {
    "token",
    "tokenFile",
    "client-key",
    "client-key-data",
    "client-certificate-data",
    "password",
    "username",
    "auth-provider",
}


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_should_keep_secrets_out_of_the_remote_cluster_kubeconfig():
    rendered = _rendered()
    for conn_id in _remote_clusters(rendered):
        kube_config = _kube_config(conn_id)
        assert "users" in kube_config and "clusters" in kube_config, "the key walk would be vacuous"
        found = _keys(kube_config) & FORBIDDEN_KUBECONFIG_KEYS
        assert not found, f"{conn_id}: kubeconfig holds {sorted(found)}"
        document = json.loads(_stored(rendered)[conn_id]["value"])
        assert not (set(document) & {"password", "login"})


# --------------------------------------------------------------------------- 6. colliding conn_ids


def _raw_settings(rendered: Rendered) -> dict[str, Any]:
    values = rendered.stack.project_values()
    return {k: v for k, v in values.items() if k in SCALAR_KEYS or k in STRUCTURED_KEYS}


def test_should_accept_the_example_settings_as_they_are():
    rendered = _rendered()
    settings_from_config(_raw_settings(rendered), stack=rendered.stack.stack)


@pytest.mark.parametrize(("first", "second"), COLLISIONS, ids=["declared", "remote-cluster"])
def test_should_reject_conn_ids_that_share_a_key_vault_secret(probe, first, second):
    rendered = _rendered()
    raw = _raw_settings(rendered)
    clusters = _remote_clusters(rendered)
    added = [first, second] if second not in clusters else [first]
    raw["connections"] = list(raw.get("connections", [])) + [
        {"connId": conn_id, "connType": "http", "host": "https://api.example.com"} for conn_id in added
    ]
    with pytest.raises(SettingsError) as caught:
        settings_from_config(raw, stack=rendered.stack.stack)
    message = str(caught.value)
    assert "\n" not in message
    assert len(caught.value.problems) == 1 and "Key Vault" in message, message
    assert first in message and second in message, message
    # ... and the backend would really read one secret for both.
    names = probe["names"]
    assert names[first].lower() == names[second].lower(), (names[first], names[second])
