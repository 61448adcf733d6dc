"""Azure Key Vault as Airflow's secrets backend, with one secret per connection.

Creates (or adopts by name) a vault with RBAC authorisation, soft delete, purge
protection and a default-deny network ACL admitting only the cluster's subnet,
then one secret per connection named exactly as ``AzureKeyVaultBackend`` looks
it up: ``<connections_prefix>-<conn_id>`` with every ``_`` turned into ``-``.

Example::

    KeyVaultConnections("connections", KeyVaultConnectionsArgs(
        vault_name="kv-research-prod", resource_group_name="rg-airflow", location="westeurope",
        tenant_id=tenant, subscription_id=sub, allowed_subnet_ids=[aks_subnet],
        connections_prefix="airflow-connections", connections=[...]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

from components import naming
from components.platform import ConnectionSecret


def locked_vault_properties(
    tenant_id: pulumi.Input[str],
    soft_delete_retention_days: int,
    allowed_subnet_ids: Sequence[str],
    allowed_ip_ranges: Sequence[str] = (),
) -> azure_native.keyvault.VaultPropertiesArgs:
    """Properties of every vault the program creates: RBAC authorisation, soft delete, purge protection, and a
    network ACL that denies by default and admits only ``allowed_subnet_ids`` and ``allowed_ip_ranges``."""
    return azure_native.keyvault.VaultPropertiesArgs(
        tenant_id=tenant_id,
        sku=azure_native.keyvault.SkuArgs(family="A", name="standard"),
        enable_rbac_authorization=True,
        enable_soft_delete=True,
        soft_delete_retention_in_days=soft_delete_retention_days,
        enable_purge_protection=True,
        public_network_access="Enabled",
        network_acls=azure_native.keyvault.NetworkRuleSetArgs(
            default_action="Deny",
            bypass="AzureServices",
            ip_rules=[azure_native.keyvault.IPRuleArgs(value=cidr) for cidr in allowed_ip_ranges],
            virtual_network_rules=[azure_native.keyvault.VirtualNetworkRuleArgs(id=subnet) for subnet in allowed_subnet_ids],
        ),
    )


def vault_resource_id(subscription_id: str, resource_group_name: str, vault_name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group_name}/providers/Microsoft.KeyVault/vaults/{vault_name}"


def vault_url(vault_name: str) -> str:
    return f"https://{vault_name}.vault.azure.net/"


@dataclass(frozen=True, kw_only=True)
class KeyVaultConnectionsArgs:
    vault_name: str
    """Vault name (3-24 characters, globally unique); the secrets are written to it."""
    resource_group_name: str
    """Resource group of the vault, created or existing."""
    location: str
    """Azure region of a created vault."""
    tenant_id: str
    """Entra tenant of a created vault."""
    subscription_id: str
    """Subscription of an existing vault (builds its resource id)."""
    connections: Sequence[ConnectionSecret]
    """Connection documents to store, one secret each; their secret names must not collide."""
    connections_prefix: str
    """Prefix the backend is configured with; secrets are named ``<prefix>-<conn_id>`` with ``_`` made ``-``."""
    create_vault: bool = True
    """Create the vault. False: use an existing vault of that name in ``resource_group_name``."""
    allowed_subnet_ids: Sequence[str] = ()
    """Subnets admitted by the vault firewall (the AKS node subnet, with the Microsoft.KeyVault service endpoint)."""
    allowed_ip_ranges: Sequence[str] = ()
    """Public CIDRs the vault firewall admits (e.g. a SaaS control plane's egress). Default: none."""
    soft_delete_retention_days: int = 90
    """Created vault: days (7-90) a deleted vault or secret stays recoverable."""
    protect: bool = True
    """Pulumi ``protect`` on a created vault and every secret."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on a created vault and every secret (secrets also get ``airflow-conn-id``). Default: none."""

    def __post_init__(self) -> None:
        if not naming.KEY_VAULT_NAME.match(self.vault_name):
            raise ValueError(f"vault_name must be 3-24 of [a-zA-Z0-9-] starting with a letter, got {self.vault_name!r}")
        if self.create_vault and not self.allowed_subnet_ids:
            raise ValueError("a created vault denies by default: give allowed_subnet_ids")
        clashes = naming.key_vault_collisions(self.connections_prefix, [c.conn_id for c in self.connections])
        if clashes:
            raise ValueError(f"conn_ids collide in Key Vault: {clashes}")
        for conn in self.connections:
            name = naming.key_vault_secret_name(self.connections_prefix, conn.conn_id)
            if not naming.KEY_VAULT_SECRET_NAME.match(name):
                raise ValueError(f"Key Vault secret name {name!r} must be 1-127 of [0-9a-zA-Z-]")


class KeyVaultConnections(pulumi.ComponentResource):
    """Key Vault plus one secret per Airflow connection."""

    TYPE = "dataplat:secrets:KeyVaultConnections"

    vault_id: pulumi.Output[str]
    """ARM resource id of the vault (scope for role assignments)."""
    vault_url: pulumi.Output[str]
    """Vault URI (``https://<name>.vault.azure.net/``) the backend reads from."""
    secret_names: pulumi.Output[dict[str, str]]
    """conn_id -> Key Vault secret name."""

    def __init__(self, name: str, args: KeyVaultConnectionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)

        if args.create_vault:
            vault = azure_native.keyvault.Vault(
                f"{name}-vault",
                vault_name=args.vault_name,
                resource_group_name=args.resource_group_name,
                location=args.location,
                properties=locked_vault_properties(
                    args.tenant_id, args.soft_delete_retention_days, args.allowed_subnet_ids, args.allowed_ip_ranges
                ),
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            vault_id: pulumi.Output[str] = vault.id
            url: pulumi.Output[str] = vault.properties.apply(lambda p: p.vault_uri)
            depends: list[pulumi.Resource] = [vault]
        else:
            vault_id = pulumi.Output.from_input(vault_resource_id(args.subscription_id, args.resource_group_name, args.vault_name))
            url = pulumi.Output.from_input(vault_url(args.vault_name))
            depends = []

        names: dict[str, str] = {}
        for conn in args.connections:
            secret_name = naming.key_vault_secret_name(args.connections_prefix, conn.conn_id)
            azure_native.keyvault.Secret(
                f"{name}-{conn.conn_id}",
                vault_name=args.vault_name,
                resource_group_name=args.resource_group_name,
                secret_name=secret_name,
                properties=azure_native.keyvault.SecretPropertiesArgs(
                    value=pulumi.Output.secret(conn.value),
                    content_type="application/json",
                ),
                tags={**args.tags, "airflow-conn-id": conn.conn_id},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=depends,
                    protect=args.protect,
                    additional_secret_outputs=["properties"],
                    ignore_changes=["properties.value"] if conn.externally_managed else None,
                ),
            )
            names[conn.conn_id] = secret_name

        self.vault_id = vault_id
        self.vault_url = url
        self.secret_names = pulumi.Output.from_input(names)
        self.register_outputs({"vault_id": self.vault_id, "vault_url": self.vault_url, "secret_names": self.secret_names})
