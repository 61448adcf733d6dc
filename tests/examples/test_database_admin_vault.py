"""Azure: the administrator password lives in a per-stack vault that only the bootstrap Job's own identity reads.

Rendered under mocks (``research-prod`` and ``research-dev``, the real program):
no Kubernetes object or Helm value carries the password; the admin vault is
RBAC, purge-protected and default-deny; its one secret is the password; the
bootstrap identity is federated with exactly the Job's service account and holds
"Key Vault Secrets User" on that secret and nothing else; Airflow's identity has
nothing on that vault; the Job's manifests validate against the Kubernetes schema.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import naming
from components.azure.workload_identity import KEY_VAULT_SECRETS_USER, TOKEN_EXCHANGE_AUDIENCE
from components.settings.clouds import AzureSettings
from tests.conftest import render, stack_file
from tools.chart import NEWEST_KUBERNETES_VERSION, validate_manifests
from tools.render import Rendered, mask
from tools.stackfile import load_stack

VAULT = "azure-native:keyvault:Vault"
KV_SECRET = "azure-native:keyvault:Secret"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
PASSWORD = "random:index/randomPassword:RandomPassword"
STACKS = ["research-prod", "research-dev"]


def plain(value: Any) -> Any:
    return mask(value, show_secrets=True)


def admin_password(stack: Rendered) -> str:
    (password,) = [r for r in stack.by_type(PASSWORD) if r.name == "metadata-db-password"]
    value = plain(password.outputs["result"])
    assert isinstance(value, str) and len(value) == 40
    return value


def by_name(stack: Rendered, typ: str) -> dict[str, Any]:
    return {r.name: r for r in stack.by_type(typ)}


@pytest.fixture(params=STACKS)
def stack(request) -> Rendered:
    return render(stack_file(request.param))


def test_should_put_the_admin_password_in_no_kubernetes_object_and_no_helm_value(stack: Rendered):
    password = admin_password(stack)
    kubernetes = [r for r in stack.registrations if r.type.startswith("kubernetes:")]
    assert kubernetes, "nothing Kubernetes rendered"
    for r in kubernetes:
        assert password not in json.dumps(plain(r.inputs), default=str), f"{r.type} {r.name} carries the administrator password"
    secret = by_name(stack, "kubernetes:core/v1:Secret")["db-bootstrap-secret"]
    assert set(plain(secret.inputs["stringData"])) == {"app-password-verifier"}


def test_should_keep_the_password_only_in_the_admin_vault(stack: Rendered):
    password = admin_password(stack)
    holders = [r for r in stack.by_type(KV_SECRET) if password in json.dumps(plain(r.inputs))]
    assert [r.name for r in holders] == ["db-admin-password"]
    (holder,) = holders
    vaults = by_name(stack, VAULT)
    admin_vault, connections_vault = vaults["db-admin-vault"], vaults["connections-vault"]
    assert holder.inputs["vaultName"] == admin_vault.inputs["vaultName"] != connections_vault.inputs["vaultName"]
    assert holder.inputs["secretName"] == naming.DATABASE_ADMIN_SECRET_NAME
    assert holder.protect == admin_vault.protect == stack.stack.stack.endswith("-prod")
    in_admin_vault = [r.name for r in stack.by_type(KV_SECRET) if r.inputs["vaultName"] == admin_vault.inputs["vaultName"]]
    assert in_admin_vault == ["db-admin-password"], "the admin vault holds nothing else"


def test_should_lock_the_admin_vault_like_the_connections_vault(stack: Rendered):
    vaults = by_name(stack, VAULT)
    admin = plain(vaults["db-admin-vault"].inputs)["properties"]
    assert admin["enableRbacAuthorization"] is True and admin["enablePurgeProtection"] is True and admin["enableSoftDelete"] is True
    acls = admin["networkAcls"]
    assert acls["defaultAction"] == "Deny" and acls["ipRules"] == []
    aks_subnet = load_stack(stack_file(stack.stack.stack)).values["airflow-platform:azure"]["aksSubnetId"]
    assert [rule["id"] for rule in acls["virtualNetworkRules"]] == [aks_subnet]


def test_should_federate_the_bootstrap_identity_with_the_job_service_account_only(stack: Rendered):
    azure = load_stack(stack_file(stack.stack.stack)).values["airflow-platform:azure"]
    credentials = [plain(r.inputs) for r in stack.by_type(CREDENTIAL) if r.parent == "db-admin-reader"]
    assert credentials == [
        {
            "federatedIdentityCredentialResourceName": "db-bootstrap",
            "resourceName": f"id-{stack.stack.stack}-db-bootstrap",
            "resourceGroupName": azure["resourceGroupName"],
            "issuer": azure["oidcIssuerUrl"],
            "subject": "system:serviceaccount:airflow:airflow-db-bootstrap",
            "audiences": [TOKEN_EXCHANGE_AUDIENCE],
        }
    ]
    others = [plain(r.inputs)["subject"] for r in stack.by_type(CREDENTIAL) if r.parent != "db-admin-reader"]
    assert "system:serviceaccount:airflow:airflow-db-bootstrap" not in others, "another identity trusts the Job's service account"


def test_should_grant_the_bootstrap_identity_the_secret_and_airflow_nothing_on_the_admin_vault(stack: Rendered):
    identities = by_name(stack, IDENTITY)
    bootstrap = identities["db-admin-reader-identity"].outputs["principalId"]
    airflow = identities["secrets-reader-identity"].outputs["principalId"]
    admin_vault_id = by_name(stack, VAULT)["db-admin-vault"].invented["id"]
    secret_id = by_name(stack, KV_SECRET)["db-admin-password"].invented["id"]
    assignments = [plain(r.inputs) for r in stack.by_type(ASSIGNMENT)]
    on_admin_vault = [a for a in assignments if a["scope"].startswith(admin_vault_id)]
    assert len(on_admin_vault) == 1
    (grant,) = on_admin_vault
    assert grant["scope"] == secret_id == f"{admin_vault_id}/secrets/{naming.DATABASE_ADMIN_SECRET_NAME}"
    assert grant["principalId"] == bootstrap and grant["roleDefinitionId"].endswith(f"/roleDefinitions/{KEY_VAULT_SECRETS_USER}")
    assert [a["scope"] for a in assignments if a["principalId"] == bootstrap] == [secret_id], "the bootstrap identity holds nothing else"
    assert not [a for a in assignments if a["principalId"] == airflow and a["scope"].startswith(admin_vault_id)]


def test_should_bind_the_job_and_only_the_job_to_the_bootstrap_identity(stack: Rendered):
    client_id = by_name(stack, IDENTITY)["db-admin-reader-identity"].outputs["clientId"]
    account = by_name(stack, "kubernetes:core/v1:ServiceAccount")["db-bootstrap-sa"].inputs["metadata"]
    assert account["name"] == "airflow-db-bootstrap"
    assert account["annotations"] == {"azure.workload.identity/client-id": client_id}
    (job,) = [r for r in stack.by_type("kubernetes:batch/v1:Job") if r.name == "db-bootstrap-job"]
    template = job.inputs["spec"]["template"]
    assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert template["metadata"]["annotations"]["azure.workload.identity/skip-containers"] == naming.DATABASE_BOOTSTRAP_CONTAINER
    assert [c["name"] for c in template["spec"]["containers"]] == [naming.DATABASE_BOOTSTRAP_CONTAINER]
    (values,) = stack.helm_values(show_secrets=True)
    assert client_id not in json.dumps(values), "an Airflow pod would act as the bootstrap identity"
    assert "db-admin" not in json.dumps(values)
    assert job.depends_on and any(d.startswith("db-admin") for d in job.depends_on), "the Job must wait for the vault and grant"


def test_should_render_bootstrap_manifests_the_kubernetes_schema_accepts(stack: Rendered):
    manifests = [plain(r.inputs) for r in stack.registrations if r.type.startswith("kubernetes:") and r.parent == "db-bootstrap"]
    assert sorted(m["kind"] for m in manifests) == ["ConfigMap", "Job", "Secret", "ServiceAccount"]
    assert validate_manifests(manifests, NEWEST_KUBERNETES_VERSION) == []


def test_should_export_the_admin_vault_url_and_no_password(stack: Rendered):
    value, secret = stack.outputs["database_admin_vault_url"]
    assert value.startswith("https://") and not secret
    assert admin_password(stack) not in json.dumps({k: v for k, (v, _) in stack.outputs.items()}, default=str)


def test_should_derive_a_distinct_admin_vault_name_and_refuse_the_connections_vault():
    base = load_stack(stack_file("research-prod")).values["airflow-platform:azure"]
    settings = AzureSettings.model_validate({**base, "keyVault": {"name": "kv-research-prod-af"}})
    assert settings.resolved_database_admin_vault_name == "kv-research-prod-af-adm"
    long = AzureSettings.model_validate({**base, "keyVault": {"name": "kv-research-production-x"}})
    other = AzureSettings.model_validate({**base, "keyVault": {"name": "kv-research-production-y"}})
    assert len(long.resolved_database_admin_vault_name) <= 24
    assert long.resolved_database_admin_vault_name != other.resolved_database_admin_vault_name
    with pytest.raises(ValueError, match=r"must differ from keyVault\.name"):
        AzureSettings.model_validate({**base, "keyVault": {"name": "kv-a"}, "databaseAdminVaultName": "KV-A"})
