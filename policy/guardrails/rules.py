"""The guardrail rules as plain functions: no Pulumi engine, no pulumi_policy import.

A resource rule is ``check(resource_type, props, options) -> list[str]``: the
violation messages for one resource (empty: compliant or not applicable).
``props`` are the resource's inputs as the engine sees them (camelCase, secrets
unwrapped); ``options`` carries the ``protect`` option and the stack's environment.
A stack rule is ``check(resources) -> list[tuple[str, str]]``: (resource name,
message) pairs over everything the stack registers, for rules that relate two
resources (an RDS instance and its parameter group, a server and its configuration).
Every message says what was found and what is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from guardrails.contract import Resource, Rule, RuleOptions, get_path, listify
from guardrails.environment import is_prod
from guardrails.helm_rules import helm_release_atomic, helm_release_pinned, helm_values_no_credentials
from guardrails.storage_rules import s3_public_access_blocked, storage_account_locked

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY_HOLDERS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
KEY_VAULT = "azure-native:keyvault:Vault"
FLEXIBLE_SERVER = "azure-native:dbforpostgresql:Server"
FLEXIBLE_CONFIGURATION = "azure-native:dbforpostgresql:Configuration"
ELASTICACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
AZURE_REDIS = "azure-native:redis:Redis"

STATEFUL_TYPES = frozenset(
    {
        RDS_INSTANCE,
        "aws:rds/cluster:Cluster",
        "aws:secretsmanager/secret:Secret",
        "aws:kms/key:Key",
        FLEXIBLE_SERVER,
        "azure-native:dbforpostgresql:Database",
        KEY_VAULT,
        "azure-native:keyvault:Secret",
        ELASTICACHE_GROUP,
        AZURE_REDIS,
        "kubernetes:core/v1:PersistentVolumeClaim",
        "aws:s3/bucket:Bucket",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobContainer",
    }
)
"""Resources whose deletion loses data or credentials nobody can recreate."""

MIN_BACKUP_RETENTION_DAYS = 7
EKS_AUDIENCE = "sts.amazonaws.com"


def _document(value: Any) -> Mapping[str, Any] | None:
    """A policy document given as JSON text or as a mapping; None when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def _statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return [s for s in listify(get_path(document, "Statement")) if isinstance(s, Mapping)]


# --- RDS -----------------------------------------------------------------------------------------


def rds_storage_encrypted(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != RDS_INSTANCE or props.get("storageEncrypted") is True:
        return []
    return [f"RDS storage must be encrypted: storageEncrypted is {props.get('storageEncrypted')!r}, allowed: true"]


def rds_private(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != RDS_INSTANCE or props.get("publiclyAccessible") in (None, False):
        return []
    return [f"RDS must not be publicly accessible: publiclyAccessible is {props.get('publiclyAccessible')!r}, allowed: false"]


def rds_multi_az(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != RDS_INSTANCE or props.get("multiAz") is True:
        return []
    return [f"RDS must be Multi-AZ: multiAz is {props.get('multiAz')!r}, allowed: true"]


def rds_backup_retention(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != RDS_INSTANCE:
        return []
    days = props.get("backupRetentionPeriod")
    if isinstance(days, int | float) and not isinstance(days, bool) and days >= MIN_BACKUP_RETENTION_DAYS:
        return []
    return [f"RDS backups must be kept at least {MIN_BACKUP_RETENTION_DAYS} days: backupRetentionPeriod is {days!r}"]


def rds_deletion_protection(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != RDS_INSTANCE or props.get("deletionProtection") is True:
        return []
    return [f"RDS must have deletion protection: deletionProtection is {props.get('deletionProtection')!r}, allowed: true"]


def _forces_ssl(parameter_group: Mapping[str, Any]) -> bool:
    return any(
        isinstance(p, Mapping) and p.get("name") == "rds.force_ssl" and str(p.get("value")) == "1"
        for p in listify(parameter_group.get("parameters"))
    )


def rds_force_ssl(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Every RDS instance uses a parameter group of this stack that sets ``rds.force_ssl`` = 1."""
    groups = {r.props.get("name"): r for r in resources if r.type == RDS_PARAMETER_GROUP}
    found: list[tuple[str, str]] = []
    for r in resources:
        if r.type != RDS_INSTANCE:
            continue
        name = r.props.get("parameterGroupName")
        group = groups.get(name) if name else None
        if group is None:
            found.append((r.name, f"RDS must use a parameter group of this stack with rds.force_ssl = 1: parameterGroupName is {name!r}"))
        elif not _forces_ssl(group.props):
            found.append(
                (r.name, f"RDS parameter group {name!r} must set rds.force_ssl = 1: parameters are {group.props.get('parameters')!r}")
            )
    return found


# --- AWS IAM -------------------------------------------------------------------------------------


def irsa_trust_conditions(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """Web-identity trust statements pin both ``:sub`` and ``:aud`` with StringEquals (no wildcards)."""
    if resource_type != IAM_ROLE:
        return []
    found: list[str] = []
    for i, statement in enumerate(_statements(_document(props.get("assumeRolePolicy")))):
        if "sts:AssumeRoleWithWebIdentity" not in listify(statement.get("Action")) or statement.get("Effect") != "Allow":
            continue
        label = statement.get("Sid") or f"Statement[{i}]"
        equals = get_path(statement, "Condition", "StringEquals")
        equals = equals if isinstance(equals, Mapping) else {}
        for suffix in (":sub", ":aud"):
            keys = [k for k in equals if isinstance(k, str) and k.endswith(suffix)]
            values = [v for k in keys for v in listify(equals[k])]
            if not keys or not values:
                found.append(
                    f"IRSA trust {label} must have Condition.StringEquals on <issuer>{suffix}; conditions are {statement.get('Condition')!r}"
                )
            elif any(not isinstance(v, str) or "*" in v or "?" in v for v in values):
                found.append(f"IRSA trust {label}: <issuer>{suffix} must be exact values, got {values!r}")
            elif suffix == ":aud" and any(".eks." in k for k in keys) and values != [EKS_AUDIENCE]:
                found.append(f"IRSA trust {label}: an EKS issuer's :aud must be {EKS_AUDIENCE!r}, got {values!r}")
    return found


def _wildcards(document: Mapping[str, Any] | None, where: str) -> list[str]:
    found: list[str] = []
    for i, statement in enumerate(_statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        label = f"{where} {statement.get('Sid') or f'Statement[{i}]'}"
        for key in ("NotAction", "NotResource"):
            if key in statement:
                found.append(f"{label}: Allow with {key} grants everything else; list Action/Resource instead")
        actions = [a for a in listify(statement.get("Action")) if isinstance(a, str)]
        bad = [a for a in actions if a == "*" or a.endswith(":*")]
        if bad:
            found.append(f"{label}: wildcard action {bad!r}; allowed: named actions (service:Verb)")
        if "*" in listify(statement.get("Resource")):
            found.append(f"{label}: Resource '*'; allowed: ARNs of our own resources (a path suffix like secret:airflow/* is fine)")
    return found


def iam_no_wildcards(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """Our IAM policies name their actions and resources: no ``*`` action (or ``svc:*``) or ``*`` resource."""
    if resource_type in IAM_POLICY_HOLDERS:
        return _wildcards(_document(props.get(IAM_POLICY_HOLDERS[resource_type])), "policy")
    if resource_type == IAM_ROLE:
        return [
            message
            for policy in listify(props.get("inlinePolicies"))
            if isinstance(policy, Mapping)
            for message in _wildcards(_document(policy.get("policy")), f"inline policy {policy.get('name')!r}")
        ]
    return []


# --- Azure ---------------------------------------------------------------------------------------


def key_vault_rbac(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    value = get_path(props, "properties", "enableRbacAuthorization")
    if resource_type != KEY_VAULT or value is True:
        return []
    return [f"Key Vault must use RBAC authorization: properties.enableRbacAuthorization is {value!r}, allowed: true"]


def key_vault_purge_protection(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    value = get_path(props, "properties", "enablePurgeProtection")
    if resource_type != KEY_VAULT or value is True:
        return []
    return [f"Key Vault must have purge protection: properties.enablePurgeProtection is {value!r}, allowed: true"]


def key_vault_default_deny(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    value = get_path(props, "properties", "networkAcls", "defaultAction")
    if resource_type != KEY_VAULT or value == "Deny":
        return []
    return [f"Key Vault network ACLs must deny by default: properties.networkAcls.defaultAction is {value!r}, allowed: 'Deny'"]


def flexible_server_private(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    value = get_path(props, "network", "publicNetworkAccess")
    if resource_type != FLEXIBLE_SERVER or value == "Disabled":
        return []
    return [f"Flexible Server must be private: network.publicNetworkAccess is {value!r}, allowed: 'Disabled'"]


def flexible_server_tls(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Every Flexible Server has ``require_secure_transport`` = on; no configuration turns it off."""
    found: list[tuple[str, str]] = []
    tls_on: set[tuple[Any, Any]] = set()
    for r in resources:
        if r.type == FLEXIBLE_CONFIGURATION and r.props.get("configurationName") == "require_secure_transport":
            if str(r.props.get("value", "")).lower() == "on":
                tls_on.add((r.props.get("resourceGroupName"), r.props.get("serverName")))
            else:
                found.append((r.name, f"require_secure_transport must be 'on', got {r.props.get('value')!r}"))
    for r in resources:
        if r.type == FLEXIBLE_SERVER and (r.props.get("resourceGroupName"), r.props.get("serverName")) not in tls_on:
            found.append(
                (
                    r.name,
                    f"Flexible Server {r.props.get('serverName')!r} needs a Configuration require_secure_transport = 'on' in this stack",
                )
            )
    return found


# --- Protection ----------------------------------------------------------------------------------


def _environment_tag(props: Mapping[str, Any]) -> Any:
    return get_path(props, "tags", "environment") or get_path(props, "metadata", "labels", "environment")


def stateful_protected_in_prod(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """In prod (the resource's ``environment`` tag or the stack's environment), stateful resources are ``protect``ed."""
    if resource_type not in STATEFUL_TYPES or options.protect:
        return []
    if not (is_prod(_environment_tag(props)) or is_prod(options.environment)):
        return []
    return [f"{resource_type} is stateful and this is prod: set the protect resource option (protectStateful: true)"]


def redis_encrypted(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """The Celery broker: ElastiCache requires TLS and encrypts at rest; Azure Cache for Redis is TLS 1.2 only, private."""
    if resource_type == ELASTICACHE_GROUP:
        wanted = {"transitEncryptionEnabled": True, "transitEncryptionMode": "required", "atRestEncryptionEnabled": True}
    elif resource_type == AZURE_REDIS:
        wanted = {"enableNonSslPort": False, "minimumTlsVersion": "1.2", "publicNetworkAccess": "Disabled"}
    else:
        return []
    return [
        f"Redis must be encrypted and private: {key} is {props.get(key)!r}, allowed: {v!r}"
        for key, v in wanted.items()
        if props.get(key) != v
    ]


# --- Registry ------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule("rds-storage-encrypted", "RDS instances encrypt their storage.", resource_check=rds_storage_encrypted),
    Rule("rds-not-publicly-accessible", "RDS instances are not publicly accessible.", resource_check=rds_private),
    Rule("rds-multi-az", "RDS instances are Multi-AZ.", resource_check=rds_multi_az),
    Rule(
        "rds-backup-retention",
        f"RDS instances keep backups at least {MIN_BACKUP_RETENTION_DAYS} days.",
        resource_check=rds_backup_retention,
    ),
    Rule("rds-deletion-protection", "RDS instances have deletion protection.", resource_check=rds_deletion_protection),
    Rule("rds-force-ssl", "RDS instances use a parameter group of the stack with rds.force_ssl = 1.", stack_check=rds_force_ssl),
    Rule("irsa-trust-conditions", "IRSA trust policies use StringEquals on both :sub and :aud.", resource_check=irsa_trust_conditions),
    Rule("iam-no-wildcards", "Our IAM policies have no '*' action or resource.", resource_check=iam_no_wildcards),
    Rule("key-vault-rbac", "Key Vaults use RBAC authorization.", resource_check=key_vault_rbac),
    Rule("key-vault-purge-protection", "Key Vaults have purge protection.", resource_check=key_vault_purge_protection),
    Rule("key-vault-default-deny", "Key Vault network ACLs deny by default.", resource_check=key_vault_default_deny),
    Rule("flexible-server-private", "PostgreSQL Flexible Servers disable public network access.", resource_check=flexible_server_private),
    Rule(
        "flexible-server-tls", "PostgreSQL Flexible Servers require TLS (require_secure_transport = on).", stack_check=flexible_server_tls
    ),
    Rule("helm-release-pinned", "Helm releases pin the chart and an exact version.", resource_check=helm_release_pinned),
    Rule("helm-release-atomic", "Helm releases are atomic and clean up on failure.", resource_check=helm_release_atomic),
    Rule("helm-values-no-credentials", "Helm values carry no literal credentials.", resource_check=helm_values_no_credentials),
    Rule("redis-encrypted", "Redis brokers require TLS (ElastiCache also at rest; Azure: private).", resource_check=redis_encrypted),
    Rule("stateful-protected-in-prod", "Stateful resources are protected in prod.", resource_check=stateful_protected_in_prod),
    Rule("s3-public-access-blocked", "S3 buckets block every kind of public access.", resource_check=s3_public_access_blocked),
    Rule(
        "storage-account-locked",
        "Storage accounts: HTTPS, TLS 1.2, no public blobs or shared keys, deny.",
        resource_check=storage_account_locked,
    ),
)
