"""Airflow's Key Vault backend class and its ``backend_kwargs`` (``airflow-contracts.md`` section 3.1)."""

from __future__ import annotations

from typing import Any

KEY_VAULT_BACKEND = "airflow.providers.microsoft.azure.secrets.key_vault.AzureKeyVaultBackend"


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
