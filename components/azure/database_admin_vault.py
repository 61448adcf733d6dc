"""Per-stack Key Vault holding only the Flexible Server administrator password, readable only by the bootstrap Job.

Creates: a vault (RBAC authorisation, soft delete, purge protection, default-deny
network ACL admitting only the AKS node subnet), one secret with the administrator
password, and a user-assigned managed identity (:class:`WorkloadIdentity`) with one
federated credential for exactly the bootstrap Job's service account on the AKS
issuer and "Key Vault Secrets User" on that one secret. The Job's init container
(:data:`FETCH_ADMIN_PASSWORD`, in an azure-cli image) logs in with the projected
workload-identity token and writes the password to an in-memory file; no Kubernetes
Secret holds it.

Why a second vault rather than the connections vault: Airflow's identity holds
"Key Vault Secrets User" on the whole connections vault (the backend lists no
secrets but looks up any ``<prefix>-<conn_id>``), so the password there would be
readable by every Airflow pod unless that role were re-scoped per connection
secret, which every new connection would then have to remember. A vault of its
own keeps the boundary at the vault: nothing of Airflow's is granted on it.

Example::

    DatabaseAdminVault("db-admin", DatabaseAdminVaultArgs(
        vault_name="kv-research-prod-af-adm", resource_group_name="rg", location="westeurope",
        tenant_id=tenant, stack="research-prod", identity_name="id-research-prod-db-bootstrap",
        issuer_url=issuer, subject="system:serviceaccount:airflow:airflow-db-bootstrap",
        subscription_id=sub, admin_password=db.admin_password, allowed_subnet_ids=[aks_subnet]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

from components import naming
from components.azure.key_vault import locked_vault_properties
from components.azure.workload_identity import (
    KEY_VAULT_SECRETS_USER,
    RoleGrant,
    WorkloadIdentity,
    WorkloadIdentityArgs,
    role_definition_id,
)

SKIP_CONTAINERS_ANNOTATION = "azure.workload.identity/skip-containers"
"""Pod annotation: containers (``;``-separated) the workload-identity webhook injects no token or variables into."""

FETCH_ADMIN_PASSWORD = r"""set -eu
umask 077
: "${AZURE_CLIENT_ID:?not set: the workload-identity webhook did not mutate this pod (service account annotation, pod label)}"
: "${AZURE_TENANT_ID:?not set: the workload-identity webhook did not mutate this pod}"
: "${AZURE_FEDERATED_TOKEN_FILE:?not set: the workload-identity webhook did not mutate this pod}"
: "${ADMIN_SECRET_ID:?names the Key Vault secret to read}"
: "${ADMIN_PASSWORD_FILE:?names the file to write}"
attempts="${FETCH_ATTEMPTS:-8}"
pause="${FETCH_RETRY_SECONDS:-15}"
partial="$ADMIN_PASSWORD_FILE.partial"
attempt=1
while :; do
  if az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" \
       --federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions --output none \
     && az keyvault secret show --id "$ADMIN_SECRET_ID" --query value --output tsv >"$partial" \
     && [ -n "$(cat "$partial")" ]; then
    mv "$partial" "$ADMIN_PASSWORD_FILE"
    echo "administrator password read from $ADMIN_SECRET_ID"
    exit 0
  fi
  rm -f "$partial"
  if [ "$attempt" -ge "$attempts" ]; then
    echo "could not read $ADMIN_SECRET_ID after $attempts attempts" >&2
    exit 1
  fi
  echo "attempt $attempt of $attempts failed (a new role assignment or federated credential takes minutes to apply); retrying in ${pause}s" >&2
  attempt=$((attempt + 1))
  sleep "$pause"
done
"""
r"""POSIX shell the bootstrap Job's init container runs as ``sh -c FETCH_ADMIN_PASSWORD fetch-admin-password``: log in
with the federated token the workload-identity webhook projects (``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``,
``AZURE_FEDERATED_TOKEN_FILE``), read the secret ``$ADMIN_SECRET_ID`` and write its value to ``$ADMIN_PASSWORD_FILE``
(in-memory volume, mode 0600) through a ``.partial`` file, retrying while a new role assignment propagates. The value
only ever goes to that file: never to an argument, a variable of the environment or the log."""

FETCH_ENV = {
    "AZURE_CONFIG_DIR": "/tmp/.azure",
    "AZURE_CORE_COLLECT_TELEMETRY": "no",
    "AZURE_CORE_NO_COLOR": "true",
    "AZURE_CORE_ONLY_SHOW_ERRORS": "true",
    "AZURE_LOGGING_ENABLE_LOG_FILE": "no",
}
"""azure-cli settings of the init container: its state in the writable ``/tmp`` volume, no telemetry, no command log."""


@dataclass(frozen=True, kw_only=True)
class DatabaseAdminVaultArgs:
    vault_name: str
    """Name of the created vault (3-24 characters, globally unique); must differ from the connections vault."""
    resource_group_name: str
    """Resource group of the vault and the identity."""
    location: str
    """Azure region of the vault and the identity."""
    tenant_id: str
    """Entra tenant of the vault."""
    subscription_id: str
    """Subscription of the built-in role definition."""
    stack: str
    """Stack name: salts the role assignment's GUID."""
    identity_name: str
    """Name of the bootstrap Job's user-assigned managed identity."""
    issuer_url: str
    """OIDC issuer of the AKS cluster that runs the Job."""
    subject: str
    """``system:serviceaccount:<ns>:<sa>`` of the bootstrap Job: the only subject federated."""
    admin_password: pulumi.Input[str]
    """The administrator password (secret); stored as the vault's only secret."""
    allowed_subnet_ids: Sequence[str]
    """Subnets the vault firewall admits (the AKS node subnet, with the Microsoft.KeyVault service endpoint)."""
    secret_name: str = naming.DATABASE_ADMIN_SECRET_NAME
    """Name of the secret in the vault."""
    soft_delete_retention_days: int = 90
    """Days (7-90) a deleted vault or secret stays recoverable."""
    protect: bool = True
    """Pulumi ``protect`` on the vault and the secret."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the vault, the secret and the identity. Default: none."""

    def __post_init__(self) -> None:
        if not naming.KEY_VAULT_NAME.match(self.vault_name):
            raise ValueError(f"vault_name must be 3-24 of [a-zA-Z0-9-] starting with a letter, got {self.vault_name!r}")
        if not naming.KEY_VAULT_SECRET_NAME.match(self.secret_name):
            raise ValueError(f"secret_name must be 1-127 of [0-9a-zA-Z-], got {self.secret_name!r}")
        if not self.allowed_subnet_ids:
            raise ValueError("the vault denies by default: give allowed_subnet_ids")
        if "*" in self.subject or not self.subject.startswith("system:serviceaccount:"):
            raise ValueError(f"subject must be one exact service account, got {self.subject!r}")
        if not 7 <= self.soft_delete_retention_days <= 90:
            raise ValueError(f"soft_delete_retention_days must be 7-90, got {self.soft_delete_retention_days}")


class DatabaseAdminVault(pulumi.ComponentResource):
    """Vault with the administrator password, and the one identity allowed to read it."""

    TYPE = "dataplat:secrets:DatabaseAdminVault"

    vault_id: pulumi.Output[str]
    """ARM resource id of the vault."""
    vault_url: pulumi.Output[str]
    """Vault URI (``https://<name>.vault.azure.net/``)."""
    secret_id: pulumi.Output[str]
    """Data-plane identifier the init container reads (``<vault URI>secrets/<name>``, latest version)."""
    client_id: pulumi.Output[str]
    """Client id of the bootstrap identity."""
    service_account_annotations: pulumi.Output[dict[str, str]]
    """Annotation binding the Job's service account to the bootstrap identity."""
    pod_labels: dict[str, str]
    """Label that makes the AKS webhook inject the federated token into the Job's pod."""

    def __init__(self, name: str, args: DatabaseAdminVaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        vault = azure_native.keyvault.Vault(
            f"{name}-vault",
            vault_name=args.vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=locked_vault_properties(args.tenant_id, args.soft_delete_retention_days, args.allowed_subnet_ids),
            tags=dict(args.tags),
            opts=stateful,
        )
        secret = azure_native.keyvault.Secret(
            f"{name}-password",
            vault_name=vault.name,
            resource_group_name=args.resource_group_name,
            secret_name=args.secret_name,
            properties=azure_native.keyvault.SecretPropertiesArgs(
                value=pulumi.Output.secret(args.admin_password),
                content_type="text/plain",
            ),
            tags={**args.tags, "purpose": "postgres-admin-password"},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, additional_secret_outputs=["properties"]),
        )
        identity = WorkloadIdentity(
            f"{name}-reader",
            WorkloadIdentityArgs(
                identity_name=args.identity_name,
                resource_group_name=args.resource_group_name,
                location=args.location,
                stack=args.stack,
                subjects={"db-bootstrap": (args.issuer_url, args.subject)},
                role_assignments={
                    "kv-secret-user": RoleGrant(
                        role_definition_id=role_definition_id(args.subscription_id, KEY_VAULT_SECRETS_USER),
                        scope=secret.id,
                    )
                },
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.vault_id = vault.id
        self.vault_url = vault.properties.apply(lambda p: p.vault_uri)
        self.secret_id = self.vault_url.apply(lambda url: f"{url.rstrip('/')}/secrets/{args.secret_name}")
        self.client_id = identity.client_id
        self.service_account_annotations = identity.service_account_annotations
        self.pod_labels = identity.pod_labels
        self.register_outputs(
            {
                "vault_id": self.vault_id,
                "vault_url": self.vault_url,
                "secret_id": self.secret_id,
                "client_id": self.client_id,
                "service_account_annotations": self.service_account_annotations,
                "pod_labels": self.pod_labels,
            }
        )
