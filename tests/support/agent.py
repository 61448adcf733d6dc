"""Remote Execution examples: the agent chart release, its values and the identity around them, as tests read them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import render, stack_file
from tools.render import HELM_RELEASE, Rendered, mask
from tools.stackfile import StackConfig, load_stack

AGENT_CHART = "astro-remote-execution-agent"
AGENT_CHART_VERSION = "2.3.3"
AGENT_CHART_REPO = "https://helm.astronomer.io"
ASTRO_REGISTRY = "images.astronomer.cloud"

AWS_EXAMPLE, AZURE_EXAMPLE = "growth-prod", "insights-prod"
REMOTE_EXAMPLES = (AWS_EXAMPLE, AZURE_EXAMPLE)
GIT_BUNDLE = "airflow.providers.git.bundles.git.GitDagBundle"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
K8S_SECRET = "kubernetes:core/v1:Secret"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
IAM_ROLE = "aws:iam/role:Role"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
FIC = "azure-native:managedidentity:FederatedIdentityCredential"
USER_IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
AZ_CLIENT_ID = "azure.workload.identity/client-id"
AZ_USE_LABEL = "azure.workload.identity/use"
AWS_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
AZURE_FIC_AUDIENCE = "api://AzureADTokenExchange"


def example(name: str) -> StackConfig:
    return load_stack(stack_file(name))


def release_of(rendered: Rendered):
    release = rendered.one(HELM_RELEASE)
    assert release.inputs["chart"] == AGENT_CHART, release.inputs["chart"]
    return release


def values_of(rendered: Rendered) -> dict[str, Any]:
    return mask(release_of(rendered).inputs["values"], show_secrets=False)


def env_of(values: dict[str, Any]) -> dict[str, str]:
    names = [e["name"] for e in values["commonEnv"]]
    assert len(names) == len(set(names)), f"duplicate commonEnv names: {names}"
    return {e["name"]: e["value"] for e in values["commonEnv"]}


def bundle_list(values: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(values["dagBundleConfigList"])


def output(rendered: Rendered, key: str) -> Any:
    value, _ = rendered.outputs[key]
    return mask(value, show_secrets=True)


def agent_service_accounts(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The agent components that read the backend (workers, dag processor, triggerer), by values path."""
    accounts = {f"workers[{w['name']}].serviceAccount": w["serviceAccount"] for w in values["workers"]}
    accounts["serviceAccount.dagProcessor"] = values["serviceAccount"]["dagProcessor"]
    accounts["serviceAccount.triggerer"] = values["serviceAccount"]["triggerer"]
    return accounts


def agent_subjects(values: dict[str, Any]) -> set[str]:
    return {f"system:serviceaccount:{values['namespace']}:{sa['name']}" for sa in agent_service_accounts(values).values()}


def backend_documents(rendered: Rendered) -> dict[str, str]:
    """What the program wrote to the secrets backend: secret name -> value (secrets shown)."""
    documents: dict[str, str] = {}
    if rendered.stack.values[f"{rendered.stack.project}:cloud"] == "aws":
        names_by_arn = {mask(s.outputs["arn"], True): s.inputs["name"] for s in rendered.by_type("aws:secretsmanager/secret:Secret")}
        for version in rendered.by_type("aws:secretsmanager/secretVersion:SecretVersion"):
            documents[names_by_arn[version.inputs["secretId"]]] = mask(version.inputs["secretString"], True)
    else:
        for secret in rendered.by_type("azure-native:keyvault:Secret"):
            documents[secret.inputs["secretName"]] = mask(secret.inputs["properties"], True)["value"]
    assert documents, "the example writes connections to its backend"
    return documents


def connection_documents(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """conn_id -> the exact JSON document stored under the name the backend looks it up by."""
    stored = backend_documents(rendered)
    names = output(rendered, "connection_secret_names")
    return {conn_id: json.loads(stored[name]) for conn_id, name in names.items()}


def trust_statements(rendered: Rendered) -> list[dict[str, Any]]:
    policy = json.loads(mask(rendered.one(IAM_ROLE).inputs["assumeRolePolicy"], True))
    assert policy["Version"] == "2012-10-17"
    return policy["Statement"]


def statement_for(statements: list[dict[str, Any]], issuer_url: str) -> dict[str, Any]:
    host = issuer_url.removeprefix("https://").rstrip("/")
    found = [s for s in statements if any(k.startswith(f"{host}:") for op in s["Condition"].values() for k in op)]
    assert len(found) == 1, f"expected one statement for {host}, got {len(found)}"
    return found[0]


def federated_credentials(rendered: Rendered) -> list[dict[str, Any]]:
    return [mask(f.inputs, True) for f in rendered.by_type(FIC)]


@pytest.fixture(scope="module")
def aws() -> Rendered:
    return render(stack_file(AWS_EXAMPLE))


@pytest.fixture(scope="module")
def azure() -> Rendered:
    return render(stack_file(AZURE_EXAMPLE))


@pytest.fixture(params=REMOTE_EXAMPLES)
def remote(request) -> Rendered:
    return render(stack_file(request.param))
