"""Airflow secrets-backend classes and their ``backend_kwargs`` (``airflow-contracts.md`` sections 2.1 and 3.1)."""

from __future__ import annotations

from typing import Any

SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
KEY_VAULT_BACKEND = "airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend"


def secrets_manager_kwargs(*, connections_prefix: str, variables_prefix: str, region: str) -> dict[str, Any]:
    """Kwargs for ``SecretsManagerBackend`` under IRSA.

    No ``role_arn``: the EKS webhook's web-identity token already is the role;
    passing it would chain an ``AssumeRole`` from the role to itself. Variables
    and config lookups are off (``null``) unless a variables prefix is set.
    """
    return {
        "connections_prefix": connections_prefix,
        "variables_prefix": variables_prefix or None,
        "config_prefix": None,
        "region_name": region,
    }


def key_vault_kwargs(
    *,
    connections_prefix: str,
    variables_prefix: str,
    vault_url: str,
    tenant_id: str,
    client_id: str,
) -> dict[str, Any]:
    """Kwargs for ``AzureKeyVaultBackend`` with AKS workload identity.

    ``managed_identity_client_id`` and ``workload_identity_tenant_id`` are only
    honoured together; with both set the backend uses exactly this identity
    instead of whatever ``DefaultAzureCredential`` finds first.
    """
    return {
        "connections_prefix": connections_prefix,
        "variables_prefix": variables_prefix or None,
        "config_prefix": None,
        "vault_url": vault_url,
        "managed_identity_client_id": client_id,
        "workload_identity_tenant_id": tenant_id,
    }
