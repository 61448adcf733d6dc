"""User-assigned managed identity federated with Kubernetes service accounts (AKS workload identity).

Creates: the identity, one federated identity credential per service account
(issuer = the cluster's OIDC issuer, subject ``system:serviceaccount:<ns>:<sa>``,
audience ``api://AzureADTokenExchange``; created one after another because
Azure rejects concurrent credential writes on one identity), and role
assignments of the identity on the given scopes (e.g. "Key Vault Secrets User"
on the vault only), with a custom role definition where a grant asks for one
(e.g. the pod-operator role on a remote AKS namespace).

Example::

    WorkloadIdentity("secrets-reader", WorkloadIdentityArgs(
        identity_name="id-research-prod-airflow", resource_group_name="rg", location="westeurope",
        subscription_id=sub, subjects={"scheduler": (issuer, "system:serviceaccount:airflow:airflow-scheduler")},
        role_assignments={"kv-secrets-user": RoleGrant(role_definition_id=KEY_VAULT_SECRETS_USER, scope=vault_id)}))
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"
MAX_FEDERATED_CREDENTIALS = 20

KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
AKS_RBAC_READER = "7f6c6a51-bcf8-42ba-9220-52d62157d7db"
AKS_RBAC_WRITER = "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb"
AKS_RBAC_ADMIN = "3498e952-d568-435e-9b2c-8d77e338d7f7"


def role_definition_id(subscription_id: str, role_guid: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def assignment_name(stack: str, identity_name: str, key: str) -> str:
    """Deterministic GUID name of a role assignment (Azure requires a GUID; never random)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"airflow-platform/{stack}/{identity_name}/{key}"))


POD_OPERATOR_DATA_ACTIONS = (
    "Microsoft.ContainerService/managedClusters/pods/read",
    "Microsoft.ContainerService/managedClusters/pods/write",
    "Microsoft.ContainerService/managedClusters/pods/delete",
    "Microsoft.ContainerService/managedClusters/events/read",
)
"""What KubernetesPodOperator calls in its namespace (cncf.kubernetes 10.x ``PodManager``/``KubernetesPodOperator``):
create/read/list/watch/patch/delete pods (``patch_namespaced_pod`` labels a finished pod ``already_checked``),
``read_namespaced_pod_log`` (the ``pods/log`` subresource, authorised by ``pods/read`` in AKS Azure RBAC) and
``list_namespaced_event``. ``pods/exec`` is left out: only ``do_xcom_push=True`` (off by default) execs into the
XCom sidecar. Nothing on Secrets, ConfigMaps or any other resource."""


@dataclass(frozen=True, kw_only=True)
class CustomRole:
    """A custom Azure RBAC role created next to its assignment."""

    role_name: str
    """Display name (unique in the tenant)."""
    description: str
    assignable_scope: str
    """Scope the definition is created at and assignable on (a subscription or resource group)."""
    data_actions: tuple[str, ...]
    """Data actions granted; no control-plane actions."""


@dataclass(frozen=True, kw_only=True)
class RoleGrant:
    role_definition_id: str | None = None
    """Full role definition resource id of a built-in role. None: ``custom_role`` is created and granted."""
    custom_role: CustomRole | None = None
    """Custom role created for this grant (its GUID is derived from stack, identity and key)."""
    scope: pulumi.Input[str]
    """Scope of the assignment."""

    def __post_init__(self) -> None:
        if (self.role_definition_id is None) == (self.custom_role is None):
            raise ValueError("a RoleGrant names exactly one of role_definition_id and custom_role")


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentityArgs:
    identity_name: str
    """Name of the user-assigned managed identity (3-128 of [A-Za-z0-9_-])."""
    resource_group_name: str
    """Resource group of the identity and its federated credentials."""
    location: str
    """Azure region of the identity."""
    stack: str
    """Stack name: salts the deterministic role-assignment GUIDs."""
    subjects: Mapping[str, tuple[str, str]]
    """Logical key -> (OIDC issuer URL, ``system:serviceaccount:<ns>:<sa>``). Keys name the credentials."""
    role_assignments: Mapping[str, RoleGrant] = field(default_factory=dict)
    """Logical key -> role granted to the identity on a scope; the key names the assignment. Default: none."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the identity. Default: none."""

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$", self.identity_name):
            raise ValueError(f"identity_name must be 3-128 of [A-Za-z0-9_-], got {self.identity_name!r}")
        if not self.subjects:
            raise ValueError("at least one federated subject is required")
        if len(self.subjects) > MAX_FEDERATED_CREDENTIALS:
            raise ValueError(
                f"{len(self.subjects)} federated credentials requested; one identity holds at most {MAX_FEDERATED_CREDENTIALS}"
            )
        pairs = list(self.subjects.values())
        if len(set(pairs)) != len(pairs):
            raise ValueError("two credentials have the same issuer and subject")
        for key, (issuer, subject) in self.subjects.items():
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$", key):
                raise ValueError(f"credential key must be 3-120 of [A-Za-z0-9_-], got {key!r}")
            if not issuer.startswith("https://"):
                raise ValueError(f"issuer of {key!r} must be an https URL, got {issuer!r}")
            if not re.match(r"^system:serviceaccount:[a-z0-9-]+:[a-z0-9.-]+$", subject):
                raise ValueError(f"subject of {key!r} must be system:serviceaccount:<ns>:<sa> (no wildcard), got {subject!r}")


class WorkloadIdentity(pulumi.ComponentResource):
    """Managed identity, its federated credentials and role assignments."""

    TYPE = "dataplat:identity:WorkloadIdentity"

    client_id: pulumi.Output[str]
    """Client id pods and the secrets backend authenticate as."""
    principal_id: pulumi.Output[str]
    """Object id of the identity's service principal (the role assignments' principal)."""
    identity_id: pulumi.Output[str]
    """ARM resource id of the identity."""
    service_account_annotations: pulumi.Output[dict[str, str]]
    """Annotation binding a Kubernetes service account to this identity."""
    pod_labels: dict[str, str]
    """Label that makes the AKS webhook inject the federated token into a pod."""

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_name_=args.identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        previous: list[pulumi.Resource] = []
        for key, (issuer, subject) in args.subjects.items():
            credential = azure_native.managedidentity.FederatedIdentityCredential(
                f"{name}-fic-{key}",
                federated_identity_credential_resource_name=key,
                resource_name_=identity.name,
                resource_group_name=args.resource_group_name,
                issuer=issuer,
                subject=subject,
                audiences=[TOKEN_EXCHANGE_AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [credential]
        for key, grant in args.role_assignments.items():
            definition_id: pulumi.Input[str] | None = grant.role_definition_id
            if grant.custom_role is not None:
                custom = grant.custom_role
                definition = azure_native.authorization.RoleDefinition(
                    f"{name}-{key}-role",
                    role_definition_id=assignment_name(args.stack, args.identity_name, f"{key}/definition"),
                    role_name=custom.role_name,
                    description=custom.description,
                    role_type="CustomRole",
                    scope=custom.assignable_scope,
                    assignable_scopes=[custom.assignable_scope],
                    permissions=[azure_native.authorization.PermissionArgs(actions=[], data_actions=list(custom.data_actions))],
                    opts=pulumi.ResourceOptions(parent=self),
                )
                definition_id = definition.id
            azure_native.authorization.RoleAssignment(
                f"{name}-{key}",
                role_assignment_name=assignment_name(args.stack, args.identity_name, key),
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=definition_id,
                scope=grant.scope,
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.client_id = identity.client_id
        self.principal_id = identity.principal_id
        self.identity_id = identity.id
        self.service_account_annotations = identity.client_id.apply(lambda c: {CLIENT_ID_ANNOTATION: c})
        self.pod_labels = {USE_LABEL: "true"}
        self.register_outputs(
            {
                "client_id": self.client_id,
                "principal_id": self.principal_id,
                "identity_id": self.identity_id,
                "service_account_annotations": self.service_account_annotations,
                "pod_labels": self.pod_labels,
            }
        )
