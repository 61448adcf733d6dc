"""Per-stack Blob container for Airflow task logs, reachable only with the stack's workload identity.

Creates: a StorageV2 account (name derived from the stack: valid and unique) that takes HTTPS only with TLS 1.2 at
least, allows no public blob access and no shared-key (account key or SAS) authorisation, so only Microsoft Entra
tokens work, and denies every network but the cluster's subnet and the admitted public ranges, the way the Key
Vault is locked down; a private container; a lifecycle management policy deleting log blobs after the retention; a
"Storage Blob Data Contributor" role assignment of the identity scoped to the container only; and the WASB
connection Airflow's ``WasbTaskHandler`` uses, stored in the Key Vault backend (account URL plus the identity's
client and tenant ids, no secret).

Example::

    TaskLogStorage("task-logs", TaskLogStorageArgs(
        account_name=storage_account_name("research-prod", sub, "rg-airflow"), resource_group_name="rg-airflow",
        location="westeurope", allowed_subnet_ids=[aks_subnet], retention_days=30, stack="research-prod",
        principal_id=identity.principal_id, client_id=identity.client_id, tenant_id=tenant,
        vault_name="kv-research-prod", vault_resource_group_name="rg-airflow", secret_name="airflow-connections-airflow-task-logs"))
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

from components import connections, naming
from components.azure.workload_identity import assignment_name, role_definition_id

CONTAINER = "airflow-task-logs"
"""Container of the logs (``[azure_remote_logging] remote_wasb_log_container``)."""
LOG_PREFIX = "task-logs"
"""Blob prefix of the logs in the container (``remote_base_log_folder`` = ``wasb://task-logs``)."""
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Built-in role: read, write, delete blobs (the handler reads, lists, writes; no key listing, no account control)."""
STORAGE_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")


def storage_account_name(stack_prefix: str, subscription_id: str, resource_group_name: str) -> str:
    """``st<team><env>`` (at most 14 characters of it) plus 8 hex of a hash of subscription, group and prefix.

    Storage account names are global, 3-24 of ``[a-z0-9]``; the hash keeps two tenants' stacks of the same name apart
    and is stable (no random or time-based input).
    """
    digest = hashlib.sha256(f"{subscription_id}/{resource_group_name}/{stack_prefix}".encode()).hexdigest()[:8]
    return "st" + re.sub(r"[^a-z0-9]", "", stack_prefix.lower())[:14] + digest


def container_resource_id(subscription_id: str, resource_group_name: str, account_name: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group_name}/providers/Microsoft.Storage"
        f"/storageAccounts/{account_name}/blobServices/default/containers/{CONTAINER}"
    )


def account_url(account_name: str) -> str:
    return f"https://{account_name}.blob.core.windows.net/"


@dataclass(frozen=True, kw_only=True)
class TaskLogStorageArgs:
    account_name: str
    """Storage account name (3-24 of ``[a-z0-9]``); :func:`storage_account_name` derives it from the stack."""
    resource_group_name: str
    """Resource group of the account."""
    location: str
    """Azure region of the account."""
    subscription_id: str
    """Subscription of the account (role-definition id)."""
    allowed_subnet_ids: Sequence[str]
    """Subnets the account firewall admits (the AKS node subnet, with the ``Microsoft.Storage`` service endpoint)."""
    allowed_ip_ranges: Sequence[str] = ()
    """Public CIDRs the firewall admits (the same as the Key Vault's). Default: none."""
    retention_days: int
    """Days after their last write that log blobs are deleted (1-3650)."""
    stack: str
    """Stack name: salts the deterministic role-assignment GUID."""
    principal_id: pulumi.Input[str]
    """Object id of the workload identity that writes and reads the logs."""
    client_id: pulumi.Input[str]
    """Client id of that identity (``managed_identity_client_id`` of the connection)."""
    tenant_id: str
    """Entra tenant of that identity (``workload_identity_tenant_id`` of the connection)."""
    vault_name: str
    """Key Vault the backend reads; the connection is stored there."""
    vault_resource_group_name: str
    """Resource group of that vault."""
    secret_name: str
    """Key Vault secret name of the connection (as the backend looks it up)."""
    protect: bool = True
    """Pulumi ``protect`` on the account, the container and the connection secret."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    """What the connection secret waits for (the vault)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the account and the secret. Default: none."""

    def __post_init__(self) -> None:
        if not STORAGE_ACCOUNT_NAME.match(self.account_name):
            raise ValueError(f"account_name must be 3-24 of [a-z0-9], got {self.account_name!r}")
        if not self.allowed_subnet_ids:
            raise ValueError("the account denies by default: give allowed_subnet_ids")
        if not 1 <= self.retention_days <= 3650:
            raise ValueError(f"retention_days must be 1-3650, got {self.retention_days}")


class TaskLogStorage(pulumi.ComponentResource):
    """Storage account and container of one stack's task logs, the identity's access and the handler's connection."""

    TYPE = "dataplat:logs:TaskLogStorage"

    account_name: pulumi.Output[str]
    """Name of the storage account."""
    container_id: pulumi.Output[str]
    """ARM resource id of the container (scope of the role assignment)."""
    remote_base_log_folder: str
    """``wasb://task-logs``: Airflow's ``[logging] remote_base_log_folder`` (the container is set apart)."""
    container_name: str
    """Name of the container."""

    def __init__(self, name: str, args: TaskLogStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        account = azure_native.storage.StorageAccount(
            f"{name}-account",
            account_name=args.account_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="StorageV2",
            sku=azure_native.storage.SkuArgs(name="Standard_LRS"),
            access_tier="Hot",
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            public_network_access="Enabled",
            network_rule_set=azure_native.storage.NetworkRuleSetArgs(
                default_action="Deny",
                bypass="AzureServices",
                ip_rules=[azure_native.storage.IPRuleArgs(i_p_address_or_range=cidr, action="Allow") for cidr in args.allowed_ip_ranges],
                virtual_network_rules=[
                    azure_native.storage.VirtualNetworkRuleArgs(virtual_network_resource_id=subnet, action="Allow")
                    for subnet in args.allowed_subnet_ids
                ],
            ),
            tags=dict(args.tags),
            opts=stateful,
        )
        container = azure_native.storage.BlobContainer(
            f"{name}-container",
            account_name=account.name,
            resource_group_name=args.resource_group_name,
            container_name=CONTAINER,
            public_access="None",
            opts=stateful,
        )
        azure_native.storage.ManagementPolicy(
            f"{name}-retention",
            account_name=account.name,
            resource_group_name=args.resource_group_name,
            management_policy_name="default",
            policy=azure_native.storage.ManagementPolicySchemaArgs(
                rules=[
                    azure_native.storage.ManagementPolicyRuleArgs(
                        name="expire-task-logs",
                        type="Lifecycle",
                        enabled=True,
                        definition=azure_native.storage.ManagementPolicyDefinitionArgs(
                            actions=azure_native.storage.ManagementPolicyActionArgs(
                                base_blob=azure_native.storage.ManagementPolicyBaseBlobArgs(
                                    delete=azure_native.storage.DateAfterModificationArgs(
                                        days_after_modification_greater_than=args.retention_days
                                    )
                                )
                            ),
                            filters=azure_native.storage.ManagementPolicyFilterArgs(
                                blob_types=["blockBlob"], prefix_match=[f"{CONTAINER}/{LOG_PREFIX}/"]
                            ),
                        ),
                    )
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        azure_native.authorization.RoleAssignment(
            f"{name}-blob-contributor",
            role_assignment_name=assignment_name(args.stack, args.account_name, "task-logs-blob-contributor"),
            principal_id=args.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role_definition_id(args.subscription_id, STORAGE_BLOB_DATA_CONTRIBUTOR),
            scope=container.id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        document = pulumi.Output.from_input(args.client_id).apply(
            lambda client_id: connections.serialize(
                connections.wasb_task_logs_document(
                    account_url=account_url(args.account_name), tenant_id=args.tenant_id, client_id=client_id
                )
            )
        )
        azure_native.keyvault.Secret(
            f"{name}-connection",
            vault_name=args.vault_name,
            resource_group_name=args.vault_resource_group_name,
            secret_name=args.secret_name,
            properties=azure_native.keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(document), content_type="application/json"),
            tags={**args.tags, "airflow-conn-id": naming.TASK_LOGS_CONN_ID},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.depends_on), protect=args.protect, additional_secret_outputs=["properties"]
            ),
        )

        self.account_name = account.name
        self.container_id = container.id
        self.container_name = CONTAINER
        self.remote_base_log_folder = f"wasb://{LOG_PREFIX}"
        self.register_outputs(
            {
                "account_name": self.account_name,
                "container_id": self.container_id,
                "container_name": self.container_name,
                "remote_base_log_folder": self.remote_base_log_folder,
            }
        )
