"""Settings of the cloud a stack builds on: the existing EKS or AKS cluster, network and accounts."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components import naming
from components.azure_regions import AZURE_REGIONS
from components.settings.fields import AZURE_DNS_ZONE_ID, AZURE_SUBNET_ID, HTTPS_URL, UUID, Ipv4Cidrs, StrictModel


class AwsSettings(StrictModel):
    """The EKS cluster and network the platform is built around (they already exist)."""

    region: str = Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
    """AWS region, taken from the provider setting ``aws:region``."""
    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    """VPC of the EKS cluster; the database security group is created in it."""
    private_subnet_ids: tuple[str, ...] = Field(min_length=2)
    """Private subnets (in at least two AZs) for the database subnet group."""
    cluster_security_group_id: str = Field(pattern=r"^sg-[0-9a-f]{8,17}$")
    """Security group of the EKS nodes/pods: the only source allowed to reach the database."""
    oidc_provider_arn: str = Field(pattern=r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:oidc-provider/[A-Za-z0-9./_-]+$")
    """IAM OIDC provider of the EKS cluster, trusted by the secrets-reader role; its ARN also gives the partition and account."""
    oidc_issuer_url: str = Field(pattern=HTTPS_URL)
    """OIDC issuer URL of the EKS cluster; must be the issuer of ``oidcProviderArn``."""
    kms_key_arn: str | None = Field(default=None, pattern=r"^arn:aws(-cn|-us-gov)?:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
    """Customer-managed KMS key for RDS, Performance Insights and Secrets Manager. Default: AWS-managed keys."""
    permissions_boundary_arn: str | None = Field(default=None, pattern=r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:policy/.+$")
    """IAM policy set as permissions boundary of the secrets-reader role. Default: no boundary."""
    identity_mode: Literal["irsa", "pod-identity"] = "irsa"
    """How pods get the secrets-reader role: ``irsa`` (service-account annotation, web identity) or ``pod-identity``
    (EKS Pod Identity: one association per service account, no annotation; needs ``clusterName`` and the agent add-on)."""
    cluster_name: str | None = Field(default=None, pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
    """Name of the EKS cluster; required with ``identityMode: pod-identity`` (the associations belong to it)."""

    @field_validator("private_subnet_ids")
    @classmethod
    def _subnets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for subnet in value:
            if not re.match(r"^subnet-[0-9a-f]{8,17}$", subnet):
                raise ValueError(f"{subnet!r} is not a subnet id (subnet-xxxxxxxx)")
        if len(set(value)) != len(value):
            raise ValueError("subnet ids must be unique")
        return value

    @property
    def partition(self) -> str:
        return self.oidc_provider_arn.split(":")[1]

    @property
    def account_id(self) -> str:
        return self.oidc_provider_arn.split(":")[4]


class KeyVaultSettings(StrictModel):
    name: str
    """Key Vault name (3-24 characters, globally unique)."""
    create: bool = True
    """Create the vault (RBAC, soft delete, purge protection, default-deny network ACL). False: use an existing one,
    whose name must contain the stack's ``<team>-<env>`` (one vault per stack)."""
    resource_group_name: str | None = None
    """Resource group of an existing vault. Default: ``azure.resourceGroupName``."""
    soft_delete_retention_days: int = Field(default=90, ge=7, le=90)
    """Days (7-90) a deleted vault or secret stays recoverable; only for a vault created here."""
    allowed_ip_ranges: Ipv4Cidrs = ()
    """Public egress CIDRs the vault firewall admits besides the AKS subnet. Default: none. Remote Execution
    needs the Astro Deployment's external IPs here, since its scheduler reads the vault from Astronomer's network."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not naming.KEY_VAULT_NAME.match(value):
            raise ValueError("must be 3-24 letters, digits and '-', start with a letter, end with a letter or digit, no '--'")
        return value


class AzureDatabaseNetwork(StrictModel):
    mode: Literal["vnet", "public"] = "vnet"
    """``vnet``: VNet integration, public access off (production). ``public``: firewall rules (non-prod only)."""
    delegated_subnet_id: str | None = Field(default=None, pattern=AZURE_SUBNET_ID)
    """``vnet`` mode: subnet delegated to ``Microsoft.DBforPostgreSQL/flexibleServers`` that the server joins."""
    private_dns_zone_id: str | None = Field(default=None, pattern=AZURE_DNS_ZONE_ID)
    """``vnet`` mode: private DNS zone (``<name>.private.postgres.database.azure.com``) that resolves the server."""
    allowed_ip_ranges: Ipv4Cidrs = ()
    """``public`` mode only: CIDRs allowed through the server firewall."""


AZURE_REDIS_DNS_ZONE_ID = (
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/privateDnsZones/privatelink\.redis\.cache\.windows\.net$"
)


class AzureRedisNetwork(StrictModel):
    subnet_id: str = Field(pattern=AZURE_SUBNET_ID)
    """Subnet of the cache's private endpoint (reachable from the AKS subnet on port 6380)."""
    private_dns_zone_id: str = Field(pattern=AZURE_REDIS_DNS_ZONE_ID)
    """Private DNS zone ``privatelink.redis.cache.windows.net`` (linked to the AKS VNet) that resolves the cache."""


class AzureSettings(StrictModel):
    """The AKS cluster, subscription and network the platform is built around."""

    tenant_id: str = Field(pattern=UUID)
    """Entra tenant: the created Key Vault's tenant and the one the backend and kubelogin get tokens from."""
    subscription_id: str = Field(pattern=UUID)
    """Subscription holding the resource group; scopes the Key Vault role definition and locates an existing vault."""
    location: str
    """Azure region of every resource created here (server, vault, identities); must be a known region."""
    resource_group_name: str = Field(pattern=r"^[-\w._()]{1,90}$")
    """Existing resource group that receives the server, the managed identities and, by default, the vault."""
    oidc_issuer_url: str = Field(pattern=HTTPS_URL)
    """OIDC issuer URL of the AKS cluster that runs Airflow."""
    aks_subnet_id: str = Field(pattern=AZURE_SUBNET_ID)
    """Subnet of the AKS nodes: the only network the Key Vault admits."""
    key_vault: KeyVaultSettings
    """The Key Vault used as the secrets backend."""
    database_network: AzureDatabaseNetwork = AzureDatabaseNetwork()
    """How the Flexible Server is reached. Default: ``vnet`` mode (give ``delegatedSubnetId`` and ``privateDnsZoneId``)."""
    redis_network: AzureRedisNetwork | None = None
    """Private endpoint of the Azure Cache for Redis (``broker.mode: managed``, the default with CeleryExecutor)."""
    database_admin_vault_name: str | None = None
    """Name (3-24 characters, globally unique) of the vault created to hold only the Flexible Server administrator
    password, readable only by the database bootstrap Job's own identity. Default: ``<keyVault.name>-adm`` (long
    names: their first 15 characters, 4 hex of their hash, ``-adm``)."""

    @field_validator("database_admin_vault_name")
    @classmethod
    def _admin_vault_name(cls, value: str | None) -> str | None:
        if value is not None and not naming.KEY_VAULT_NAME.match(value):
            raise ValueError("must be 3-24 letters, digits and '-', start with a letter, end with a letter or digit, no '--'")
        return value

    @model_validator(mode="after")
    def _two_vaults(self) -> AzureSettings:
        if self.database_admin_vault_name is not None and self.database_admin_vault_name.lower() == self.key_vault.name.lower():
            raise ValueError(
                f"databaseAdminVaultName {self.database_admin_vault_name!r} must differ from keyVault.name: Airflow's identity reads that vault"
            )
        return self

    @property
    def resolved_database_admin_vault_name(self) -> str:
        """The admin vault's name: the setting, or the one derived from ``keyVault.name``."""
        return self.database_admin_vault_name or naming.database_admin_vault_name(self.key_vault.name)

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if value not in AZURE_REGIONS:
            raise ValueError(f"unknown Azure region; use one of: {', '.join(sorted(AZURE_REGIONS))}")
        return value
