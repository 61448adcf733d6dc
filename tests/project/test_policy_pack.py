"""The CrossGuard policy pack in ``policy/``: every rule passes a compliant resource and
fails a non-compliant one, the pack wires the rules into policies with the right
enforcement, and every example stack passes every rule that is mandatory for it.

The rules are plain functions (``policy/guardrails/rules.py``), so none of this needs
the Pulumi engine; the examples are rendered offline under mocks (``tools.render``).
"""

from __future__ import annotations

import copy
import functools
import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policy"
if str(POLICY_DIR) not in sys.path:
    sys.path.insert(0, str(POLICY_DIR))  # the engine runs the pack with policy/ on sys.path; do the same

from guardrails import helm_rules, prod_rules, rules  # noqa: E402
from guardrails.catalog import RULES  # noqa: E402
from guardrails.contract import Resource, Rule, RuleOptions  # noqa: E402
from guardrails.environment import stack_environment  # noqa: E402
from guardrails.pack import PACK_NAME, build_policies, enforcement_level  # noqa: E402
from guardrails.regions import PAIRED_REGIONS  # noqa: E402

from components.azure_regions import AZURE_REGIONS  # noqa: E402
from tools.render import mask, run_program  # noqa: E402
from tools.stackfile import load_stack  # noqa: E402

EXAMPLES = sorted((ROOT / "config").glob("Pulumi.*.yaml"))
RULE_NAMES = [r.name for r in RULES]
S3_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_BLOCK = {"bucket": "b", "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}
STORAGE_ACCOUNT_TYPE = "azure-native:storage:StorageAccount"
STORAGE_ACCOUNT = {
    "enableHttpsTrafficOnly": True,
    "minimumTlsVersion": "TLS1_2",
    "allowBlobPublicAccess": False,
    "allowSharedKeyAccess": False,
    "networkRuleSet": {"defaultAction": "Deny"},
}
BY_NAME = {r.name: r for r in RULES}

# --- Compliant resources (shaped like what the program registers) ------------------------------

TAGS = {"team": "payments", "environment": "prod", "stack": "payments-prod", "managed-by": "pulumi"}
KEY = "arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
RDS = {
    "identifier": "payments-prod-airflow",
    "storageEncrypted": True,
    "publiclyAccessible": False,
    "multiAz": True,
    "backupRetentionPeriod": 14,
    "deletionProtection": True,
    "parameterGroupName": "payments-prod-airflow-pg16",
    "kmsKeyId": KEY,
    "performanceInsightsEnabled": True,
    "performanceInsightsKmsKeyId": KEY,
    "manageMasterUserPassword": True,
    "masterUserSecretKmsKeyId": KEY,
    "monitoringInterval": 60,
    "monitoringRoleArn": "arn:aws:iam::111122223333:role/payments-prod-airflow-rds-monitoring",
    "deleteAutomatedBackups": False,
    "skipFinalSnapshot": False,
    "finalSnapshotIdentifier": "payments-prod-airflow-final-57ea2482",
    "tags": TAGS,
}
SM_SECRET = {"name": "airflow/payments-prod/connections/git_payments_dags", "kmsKeyId": KEY, "tags": TAGS}
PARAMETER_GROUP = {
    "name": "payments-prod-airflow-pg16",
    "family": "postgres16",
    "parameters": [{"name": "rds.force_ssl", "value": "1"}, {"name": "password_encryption", "value": "scram-sha-256"}],
}
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/A1B2C3D4E5F60718293A4B5C6D7E8F90"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ServiceAccounts0",
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::111122223333:oidc-provider/{ISSUER}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com", f"{ISSUER}:sub": ["system:serviceaccount:airflow:airflow-worker"]}
            },
        }
    ],
}
ROLE = {"name": "payments-prod-airflow-secrets-reader", "assumeRolePolicy": json.dumps(TRUST), "tags": TAGS}
READ_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "Resource": ["arn:aws:secretsmanager:eu-west-1:111122223333:secret:airflow/connections/*"],
        },
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ],
}
ROLE_POLICY = {"role": ROLE["name"], "policy": json.dumps(READ_POLICY)}
VAULT = {
    "vaultName": "kv-research-prod-af",
    "tags": {**TAGS, "environment": "prod"},
    "properties": {
        "enableRbacAuthorization": True,
        "enablePurgeProtection": True,
        "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": [{"value": "203.0.113.0/24"}]},
    },
}
SERVER = {
    "serverName": "research-prod-airflow",
    "resourceGroupName": "rg-research-prod-airflow",
    "location": "westeurope",
    "network": {"publicNetworkAccess": "Disabled"},
    "backup": {"backupRetentionDays": 21, "geoRedundantBackup": "Enabled"},
    "tags": TAGS,
}
FIREWALL_RULE = {"serverName": "research-dev-airflow", "startIpAddress": "203.0.113.0", "endIpAddress": "203.0.113.255"}
TLS_CONFIGURATION = {
    "serverName": "research-prod-airflow",
    "resourceGroupName": "rg-research-prod-airflow",
    "configurationName": "require_secure_transport",
    "value": "on",
}
RELEASE = {
    "chart": "airflow",
    "version": "1.20.0",
    "repositoryOpts": {"repo": "https://airflow.apache.org"},
    "atomic": True,
    "cleanupOnFail": True,
    "values": {
        "data": {"metadataSecretName": "airflow-metadata-connection"},
        "fernetKeySecretName": "airflow-fernet-key-static",
        "jwtSecretName": "airflow-jwt-secret-static",
        "scheduler": {"podAnnotations": {"checksum/airflow-platform-secrets": "5bd8c2b7ad5d3c7126fc35c05106dbfd"}},
        "createUserJob": {"env": [{"name": "AIRFLOW_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"key": "password", "name": "admin"}}}]},
        "dags": {"gitSync": {"repo": "https://github.com/acme-data/shared-airflow-dags.git"}},
        "postgresql": {"enabled": False},
    },
}
PVC = {"metadata": {"name": "astro-agent-dags", "namespace": "astro"}, "spec": {"accessModes": ["ReadWriteMany"]}}

PROD = RuleOptions(protect=True, environment="prod")
DEV = RuleOptions(protect=False, environment="dev")


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with ``a.b.c`` set to ``value`` (``...`` deletes it)."""
    result = copy.deepcopy(base)
    *parents, last = path.split(".")
    target = result
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return result


def trust_with(condition: dict[str, Any]) -> dict[str, Any]:
    trust = copy.deepcopy(TRUST)
    trust["Statement"][0]["Condition"] = condition
    return {**ROLE, "assumeRolePolicy": json.dumps(trust)}


def policy_with(statement: dict[str, Any]) -> dict[str, Any]:
    return {**ROLE_POLICY, "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


@dataclass(frozen=True)
class Case:
    rule: str
    type: str
    props: dict[str, Any]
    options: RuleOptions = PROD
    id: str = ""


SUB, AUD = f"{ISSUER}:sub", f"{ISSUER}:aud"

RESOURCE_PASSES = [
    Case("rds-storage-encrypted", rules.RDS_INSTANCE, RDS),
    Case("rds-not-publicly-accessible", rules.RDS_INSTANCE, RDS),
    Case("rds-not-publicly-accessible", rules.RDS_INSTANCE, changed(RDS, "publiclyAccessible", ...), id="default-private"),
    Case("rds-multi-az", rules.RDS_INSTANCE, RDS),
    Case("rds-backup-retention", rules.RDS_INSTANCE, changed(RDS, "backupRetentionPeriod", 7), id="exactly-7"),
    Case("rds-deletion-protection", rules.RDS_INSTANCE, RDS),
    Case("irsa-trust-conditions", rules.IAM_ROLE, ROLE),
    Case("iam-no-wildcards", "aws:iam/rolePolicy:RolePolicy", ROLE_POLICY),
    Case(
        "iam-no-wildcards", rules.IAM_ROLE, {**ROLE, "inlinePolicies": [{"name": "read", "policy": json.dumps(READ_POLICY)}]}, id="inline"
    ),
    Case("key-vault-rbac", rules.KEY_VAULT, VAULT),
    Case("key-vault-purge-protection", rules.KEY_VAULT, VAULT),
    Case("key-vault-default-deny", rules.KEY_VAULT, VAULT),
    Case("flexible-server-private", rules.FLEXIBLE_SERVER, SERVER),
    Case("helm-release-pinned", helm_rules.HELM_RELEASE, RELEASE),
    Case("helm-release-atomic", helm_rules.HELM_RELEASE, RELEASE),
    Case("helm-values-no-credentials", helm_rules.HELM_RELEASE, RELEASE),
    Case("stateful-protected-in-prod", rules.RDS_INSTANCE, RDS, PROD),
    Case("stateful-protected-in-prod", rules.RDS_INSTANCE, changed(RDS, "tags.environment", "dev"), DEV, id="dev-unprotected"),
    Case("stateful-protected-in-prod", "kubernetes:core/v1:Secret", {"metadata": {}}, RuleOptions(environment="prod"), id="not-stateful"),
    Case("rds-customer-managed-key", rules.RDS_INSTANCE, RDS),
    Case(
        "rds-customer-managed-key",
        rules.RDS_INSTANCE,
        changed(changed(RDS, "performanceInsightsEnabled", False), "performanceInsightsKmsKeyId", ...),
        id="insights-off",
    ),
    Case("rds-customer-managed-key", rules.RDS_INSTANCE, changed(RDS, "kmsKeyId", "alias/airflow-prod"), id="own-alias"),
    Case("secrets-manager-customer-managed-key", prod_rules.SECRETS_MANAGER_SECRET, SM_SECRET),
    Case("rds-enhanced-monitoring", rules.RDS_INSTANCE, RDS),
    Case("rds-keep-automated-backups", rules.RDS_INSTANCE, RDS),
    Case("rds-final-snapshot", rules.RDS_INSTANCE, RDS),
    Case("rds-final-snapshot", rules.RDS_INSTANCE, changed(RDS, "skipFinalSnapshot", ...), id="default-skip"),
    Case("flexible-server-geo-backup", rules.FLEXIBLE_SERVER, SERVER),
    Case(
        "flexible-server-geo-backup",
        rules.FLEXIBLE_SERVER,
        changed(changed(SERVER, "location", "italynorth"), "backup.geoRedundantBackup", "Disabled"),
        id="no-pair",
    ),
    Case("firewall-ranges-narrow", rules.KEY_VAULT, VAULT),
    Case("firewall-ranges-narrow", rules.KEY_VAULT, changed(VAULT, "properties.networkAcls.ipRules", [{"value": "198.51.100.7"}]), id="ip"),
    Case("firewall-ranges-narrow", prod_rules.FLEXIBLE_FIREWALL_RULE, FIREWALL_RULE),
    Case("s3-public-access-blocked", S3_BLOCK_TYPE, S3_BLOCK),
    Case("storage-account-locked", STORAGE_ACCOUNT_TYPE, STORAGE_ACCOUNT),
]

ELASTICACHE = {"transitEncryptionEnabled": True, "transitEncryptionMode": "required", "atRestEncryptionEnabled": True}
AZURE_CACHE = {"enableNonSslPort": False, "minimumTlsVersion": "1.2", "publicNetworkAccess": "Disabled"}
RESOURCE_PASSES += [
    Case("redis-encrypted", rules.ELASTICACHE_GROUP, ELASTICACHE),
    Case("redis-encrypted", rules.AZURE_REDIS, AZURE_CACHE, id="azure"),
]

RESOURCE_FAILS = [
    Case("redis-encrypted", rules.ELASTICACHE_GROUP, changed(ELASTICACHE, "transitEncryptionMode", "preferred"), id="preferred"),
    Case("redis-encrypted", rules.ELASTICACHE_GROUP, changed(ELASTICACHE, "atRestEncryptionEnabled", ...), id="at-rest-unset"),
    Case("redis-encrypted", rules.AZURE_REDIS, changed(AZURE_CACHE, "enableNonSslPort", True), id="azure-non-tls"),
    Case("redis-encrypted", rules.AZURE_REDIS, changed(AZURE_CACHE, "publicNetworkAccess", "Enabled"), id="azure-public"),
    Case("stateful-protected-in-prod", rules.ELASTICACHE_GROUP, ELASTICACHE, RuleOptions(environment="prod"), id="broker"),
    Case("rds-storage-encrypted", rules.RDS_INSTANCE, changed(RDS, "storageEncrypted", False)),
    Case("rds-storage-encrypted", rules.RDS_INSTANCE, changed(RDS, "storageEncrypted", ...), id="unset"),
    Case("rds-not-publicly-accessible", rules.RDS_INSTANCE, changed(RDS, "publiclyAccessible", True)),
    Case("rds-multi-az", rules.RDS_INSTANCE, changed(RDS, "multiAz", False)),
    Case("rds-backup-retention", rules.RDS_INSTANCE, changed(RDS, "backupRetentionPeriod", 6)),
    Case("rds-backup-retention", rules.RDS_INSTANCE, changed(RDS, "backupRetentionPeriod", ...), id="unset"),
    Case("rds-deletion-protection", rules.RDS_INSTANCE, changed(RDS, "deletionProtection", False)),
    Case("irsa-trust-conditions", rules.IAM_ROLE, trust_with({"StringEquals": {AUD: "sts.amazonaws.com"}}), id="no-sub"),
    Case("irsa-trust-conditions", rules.IAM_ROLE, trust_with({"StringEquals": {SUB: "system:serviceaccount:airflow:w"}}), id="no-aud"),
    Case(
        "irsa-trust-conditions",
        rules.IAM_ROLE,
        trust_with({"StringEquals": {AUD: "sts.amazonaws.com"}, "StringLike": {SUB: "system:serviceaccount:airflow:*"}}),
        id="sub-string-like",
    ),
    Case(
        "irsa-trust-conditions",
        rules.IAM_ROLE,
        trust_with({"StringEquals": {AUD: "sts.amazonaws.com", SUB: "system:serviceaccount:*"}}),
        id="sub-wildcard",
    ),
    Case(
        "irsa-trust-conditions",
        rules.IAM_ROLE,
        trust_with({"StringEquals": {AUD: "other", SUB: "system:serviceaccount:a:b"}}),
        id="wrong-aud",
    ),
    Case(
        "iam-no-wildcards",
        "aws:iam/rolePolicy:RolePolicy",
        policy_with({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"}),
        id="action-star",
    ),
    Case(
        "iam-no-wildcards",
        "aws:iam/rolePolicy:RolePolicy",
        policy_with({"Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::b"}),
        id="service-star",
    ),
    Case(
        "iam-no-wildcards",
        "aws:iam/policy:Policy",
        policy_with({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        id="resource-star",
    ),
    Case(
        "iam-no-wildcards",
        "aws:iam/rolePolicy:RolePolicy",
        policy_with({"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:x"}),
        id="not-action",
    ),
    Case(
        "iam-no-wildcards",
        rules.IAM_ROLE,
        {
            **ROLE,
            "inlinePolicies": [{"name": "all", "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})}],
        },
        id="inline",
    ),
    Case("key-vault-rbac", rules.KEY_VAULT, changed(VAULT, "properties.enableRbacAuthorization", False)),
    Case("key-vault-purge-protection", rules.KEY_VAULT, changed(VAULT, "properties.enablePurgeProtection", ...)),
    Case("key-vault-default-deny", rules.KEY_VAULT, changed(VAULT, "properties.networkAcls.defaultAction", "Allow")),
    Case("key-vault-default-deny", rules.KEY_VAULT, changed(VAULT, "properties.networkAcls", ...), id="no-acls"),
    Case("flexible-server-private", rules.FLEXIBLE_SERVER, changed(SERVER, "network.publicNetworkAccess", "Enabled")),
    Case("flexible-server-private", rules.FLEXIBLE_SERVER, changed(SERVER, "network", ...), id="unset"),
    Case("helm-release-pinned", helm_rules.HELM_RELEASE, changed(RELEASE, "version", ...)),
    Case("helm-release-pinned", helm_rules.HELM_RELEASE, changed(RELEASE, "version", "^1.20.0"), id="range"),
    Case("helm-release-atomic", helm_rules.HELM_RELEASE, changed(RELEASE, "atomic", False)),
    Case("helm-release-atomic", helm_rules.HELM_RELEASE, changed(RELEASE, "cleanupOnFail", ...), id="no-cleanup"),
    Case(
        "helm-values-no-credentials",
        helm_rules.HELM_RELEASE,
        changed(RELEASE, "values.webserver", {"defaultUser": {"password": "admin"}}),
        id="password",
    ),
    Case(
        "helm-values-no-credentials",
        helm_rules.HELM_RELEASE,
        changed(RELEASE, "values.data", {"metadataConnection": {"user": "a", "pass": "b"}}),
        id="pass",
    ),
    Case("helm-values-no-credentials", helm_rules.HELM_RELEASE, changed(RELEASE, "values.registry", {"token": "ghp_abc"}), id="token"),
    Case(
        "helm-values-no-credentials",
        helm_rules.HELM_RELEASE,
        changed(RELEASE, "values.config", {"database": {"sql_alchemy_conn": "postgresql://airflow:hunter2@db:5432/airflow"}}),
        id="url",
    ),
    Case("stateful-protected-in-prod", rules.RDS_INSTANCE, RDS, RuleOptions(protect=False, environment=None), id="prod-tag"),
    Case("stateful-protected-in-prod", "kubernetes:core/v1:PersistentVolumeClaim", PVC, RuleOptions(environment="prod"), id="prod-stack"),
    Case("stateful-protected-in-prod", rules.KEY_VAULT, VAULT, RuleOptions(environment="prod"), id="vault"),
    Case("rds-customer-managed-key", rules.RDS_INSTANCE, changed(RDS, "kmsKeyId", ...), id="storage-default"),
    Case("rds-customer-managed-key", rules.RDS_INSTANCE, changed(RDS, "kmsKeyId", "alias/aws/rds"), id="aws-alias"),
    Case("rds-customer-managed-key", rules.RDS_INSTANCE, changed(RDS, "performanceInsightsKmsKeyId", ...), id="insights"),
    Case("rds-customer-managed-key", rules.RDS_INSTANCE, changed(RDS, "masterUserSecretKmsKeyId", ...), id="master-secret"),
    Case("secrets-manager-customer-managed-key", prod_rules.SECRETS_MANAGER_SECRET, changed(SM_SECRET, "kmsKeyId", ...)),
    Case(
        "secrets-manager-customer-managed-key",
        prod_rules.SECRETS_MANAGER_SECRET,
        changed(SM_SECRET, "kmsKeyId", "arn:aws:kms:eu-west-1:111122223333:alias/aws/secretsmanager"),
        id="aws-alias",
    ),
    Case("rds-enhanced-monitoring", rules.RDS_INSTANCE, changed(RDS, "monitoringInterval", 0), id="off"),
    Case("rds-enhanced-monitoring", rules.RDS_INSTANCE, changed(RDS, "monitoringRoleArn", ...), id="no-role"),
    Case("rds-keep-automated-backups", rules.RDS_INSTANCE, changed(RDS, "deleteAutomatedBackups", True)),
    Case("rds-keep-automated-backups", rules.RDS_INSTANCE, changed(RDS, "deleteAutomatedBackups", ...), id="default-deletes"),
    Case("rds-final-snapshot", rules.RDS_INSTANCE, changed(RDS, "skipFinalSnapshot", True), id="skipped"),
    Case("rds-final-snapshot", rules.RDS_INSTANCE, changed(RDS, "finalSnapshotIdentifier", "payments-prod-airflow-final"), id="fixed"),
    Case("rds-final-snapshot", rules.RDS_INSTANCE, changed(RDS, "finalSnapshotIdentifier", ...), id="unnamed"),
    Case(
        "rds-final-snapshot",
        rules.RDS_INSTANCE,
        changed(changed(RDS, "identifier", "db-0123abcd"), "finalSnapshotIdentifier", "final-0123abcd"),
        id="suffix-from-identifier",
    ),
    Case("flexible-server-geo-backup", rules.FLEXIBLE_SERVER, changed(SERVER, "backup.geoRedundantBackup", "Disabled")),
    Case("flexible-server-geo-backup", rules.FLEXIBLE_SERVER, changed(SERVER, "backup", ...), id="unset"),
    Case(
        "firewall-ranges-narrow", rules.KEY_VAULT, changed(VAULT, "properties.networkAcls.ipRules", [{"value": "203.0.0.0/16"}]), id="wide"
    ),
    Case(
        "firewall-ranges-narrow",
        prod_rules.FLEXIBLE_FIREWALL_RULE,
        changed(FIREWALL_RULE, "endIpAddress", "203.0.114.0"),
        id="db-257-addresses",
    ),
    Case(
        "firewall-ranges-narrow",
        prod_rules.FLEXIBLE_FIREWALL_RULE,
        changed(FIREWALL_RULE, "startIpAddress", "0.0.0.0"),
        id="db-everything",
    ),
    Case("stateful-protected-in-prod", "aws:s3/bucket:Bucket", {"bucket": "b", "tags": TAGS}, RuleOptions(), id="log-bucket"),
    Case("s3-public-access-blocked", S3_BLOCK_TYPE, changed(S3_BLOCK, "restrictPublicBuckets", False)),
    Case("s3-public-access-blocked", S3_BLOCK_TYPE, changed(S3_BLOCK, "blockPublicPolicy", ...), id="unset"),
    Case("storage-account-locked", STORAGE_ACCOUNT_TYPE, changed(STORAGE_ACCOUNT, "allowSharedKeyAccess", True)),
    Case("storage-account-locked", STORAGE_ACCOUNT_TYPE, changed(STORAGE_ACCOUNT, "minimumTlsVersion", "TLS1_0"), id="tls"),
    Case("storage-account-locked", STORAGE_ACCOUNT_TYPE, changed(STORAGE_ACCOUNT, "networkRuleSet.defaultAction", "Allow"), id="network"),
]


def _case_id(case: Case) -> str:
    return f"{case.rule}-{case.id}" if case.id else case.rule


@pytest.mark.parametrize("case", RESOURCE_PASSES, ids=_case_id)
def test_resource_rule_passes(case: Case) -> None:
    check = BY_NAME[case.rule].resource_check
    assert check is not None
    assert check(case.type, case.props, case.options) == []


@pytest.mark.parametrize("case", RESOURCE_FAILS, ids=_case_id)
def test_resource_rule_fails(case: Case) -> None:
    check = BY_NAME[case.rule].resource_check
    assert check is not None
    messages = check(case.type, case.props, case.options)
    assert messages, f"{case.rule} accepted {case.props!r}"
    assert all(isinstance(m, str) and m for m in messages)


@pytest.mark.parametrize("rule", [r for r in RULES if r.resource_check], ids=lambda r: r.name)
def test_resource_rule_ignores_other_types(rule: Rule) -> None:
    assert rule.resource_check is not None
    assert rule.resource_check("random:index/randomPassword:RandomPassword", {"length": 32}, PROD) == []


def stack_of(*resources: tuple[str, dict[str, Any]]) -> list[Resource]:
    return [Resource(type_, f"r{i}", props, PROD) for i, (type_, props) in enumerate(resources)]


@dataclass(frozen=True)
class StackCase:
    rule: str
    resources: list[Resource] = field(default_factory=list)
    id: str = ""


STACK_PASSES = [
    StackCase("rds-force-ssl", stack_of((rules.RDS_PARAMETER_GROUP, PARAMETER_GROUP), (rules.RDS_INSTANCE, RDS))),
    StackCase("flexible-server-tls", stack_of((rules.FLEXIBLE_SERVER, SERVER), (rules.FLEXIBLE_CONFIGURATION, TLS_CONFIGURATION))),
    StackCase(
        "flexible-server-tls",
        stack_of((rules.FLEXIBLE_SERVER, SERVER), (rules.FLEXIBLE_CONFIGURATION, changed(TLS_CONFIGURATION, "value", "ON"))),
        id="upper",
    ),
]
STACK_FAILS = [
    StackCase(
        "rds-force-ssl",
        stack_of((rules.RDS_PARAMETER_GROUP, changed(PARAMETER_GROUP, "parameters", [])), (rules.RDS_INSTANCE, RDS)),
        id="off",
    ),
    StackCase(
        "rds-force-ssl",
        stack_of(
            (rules.RDS_PARAMETER_GROUP, changed(PARAMETER_GROUP, "parameters", [{"name": "rds.force_ssl", "value": "0"}])),
            (rules.RDS_INSTANCE, RDS),
        ),
        id="zero",
    ),
    StackCase("rds-force-ssl", stack_of((rules.RDS_INSTANCE, changed(RDS, "parameterGroupName", ...))), id="default-group"),
    StackCase("rds-force-ssl", stack_of((rules.RDS_INSTANCE, RDS)), id="group-elsewhere"),
    StackCase("flexible-server-tls", stack_of((rules.FLEXIBLE_SERVER, SERVER)), id="missing"),
    StackCase(
        "flexible-server-tls",
        stack_of((rules.FLEXIBLE_SERVER, SERVER), (rules.FLEXIBLE_CONFIGURATION, changed(TLS_CONFIGURATION, "value", "off"))),
        id="off",
    ),
    StackCase(
        "flexible-server-tls",
        stack_of((rules.FLEXIBLE_SERVER, SERVER), (rules.FLEXIBLE_CONFIGURATION, changed(TLS_CONFIGURATION, "serverName", "other"))),
        id="other-server",
    ),
]


@pytest.mark.parametrize("case", STACK_PASSES, ids=_case_id)
def test_stack_rule_passes(case: StackCase) -> None:
    check = BY_NAME[case.rule].stack_check
    assert check is not None
    assert check(case.resources) == []


@pytest.mark.parametrize("case", STACK_FAILS, ids=_case_id)
def test_stack_rule_fails(case: StackCase) -> None:
    check = BY_NAME[case.rule].stack_check
    assert check is not None
    found = check(case.resources)
    assert found
    assert all(name in {r.name for r in case.resources} and message for name, message in found)


def test_pack_ships_the_programs_paired_regions() -> None:
    assert {name for name, facts in AZURE_REGIONS.items() if facts.geo_backup} == PAIRED_REGIONS


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    passing = {c.rule for c in RESOURCE_PASSES} | {c.rule for c in STACK_PASSES}
    failing = {c.rule for c in RESOURCE_FAILS} | {c.rule for c in STACK_FAILS}
    assert passing == failing == set(RULE_NAMES)


# --- The pack -------------------------------------------------------------------------------------


def test_policies_match_rules() -> None:
    policies = build_policies("prod")
    assert [p.name for p in policies] == RULE_NAMES
    assert len(set(RULE_NAMES)) == len(RULE_NAMES)
    for policy, rule in zip(policies, RULES, strict=True):
        expected = pulumi_policy.ResourceValidationPolicy if rule.resource_check else pulumi_policy.StackValidationPolicy
        assert isinstance(policy, expected)
        assert (rule.resource_check is None) != (rule.stack_check is None)


def test_readme_lists_every_rule_and_counts_them() -> None:
    section = (ROOT / "README.md").read_text().split("## Guardrails (CrossGuard policy pack)", 1)[1].split("\n## ", 1)[0]
    assert f"**Rules ({len(RULES)}):**" in section
    assert [name for name in RULE_NAMES if f"`{name}`" not in section] == [], "describe each rule in the README's Guardrails section"


@pytest.mark.parametrize(
    ("environment", "level"),
    [
        ("prod", pulumi_policy.EnforcementLevel.MANDATORY),
        ("staging", pulumi_policy.EnforcementLevel.ADVISORY),
        ("dev", pulumi_policy.EnforcementLevel.ADVISORY),
        (None, pulumi_policy.EnforcementLevel.ADVISORY),
    ],
)
def test_enforcement_level(environment: str | None, level: pulumi_policy.EnforcementLevel) -> None:
    assert enforcement_level(environment) == level


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GUARDRAILS_ENVIRONMENT": "prod", "PULUMI_STACK": "payments-dev"}, "prod"),
        ({"PULUMI_CONFIG": json.dumps({"airflow-platform:environment": "prod"}), "PULUMI_STACK": "x-dev"}, "prod"),
        ({"PULUMI_STACK": "payments-staging"}, "staging"),
        ({"PULUMI_STACK": "sandbox"}, None),
        ({}, None),
    ],
)
def test_stack_environment(env: dict[str, str], expected: str | None) -> None:
    assert stack_environment(env) == expected


def test_main_constructs_the_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    """``__main__`` builds the pack for the stack it runs against (PolicyPack itself serves forever: replaced here)."""
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: made.append(kwargs))
    monkeypatch.delenv("GUARDRAILS_ENVIRONMENT", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.setenv("PULUMI_STACK", "payments-prod")
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    assert len(made) == 1
    assert made[0]["name"] == PACK_NAME
    assert made[0]["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert [p.name for p in made[0]["policies"]] == RULE_NAMES


def test_pulumi_policy_yaml() -> None:
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["description"]
    assert (POLICY_DIR / project["runtime"]["options"]["virtualenv"]).resolve() == ROOT / ".venv"


def _opts(protect: bool) -> pulumi_policy.PolicyResourceOptions:
    return pulumi_policy.PolicyResourceOptions(protect, [], None, [], pulumi_policy.PolicyCustomTimeouts(0, 0, 0), [], None)


def test_wrappers_pass_protect_and_report() -> None:
    policies = {p.name: p for p in build_policies("prod")}
    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    protect = policies["stateful-protected-in-prod"]
    protect.validate(pulumi_policy.ResourceValidationArgs(rules.RDS_INSTANCE, RDS, "urn:db", "db", _opts(True), None), report)
    assert reported == []
    protect.validate(pulumi_policy.ResourceValidationArgs(rules.RDS_INSTANCE, RDS, "urn:db", "db", _opts(False), None), report)
    assert len(reported) == 1
    tls = policies["flexible-server-tls"]
    server = pulumi_policy.PolicyResource(rules.FLEXIBLE_SERVER, SERVER, "urn:server", "server", _opts(True), None, None, [], {})
    tls.validate(pulumi_policy.StackValidationArgs([server], None), report)
    assert reported[-1][1] == "urn:server"


# --- The example stacks ---------------------------------------------------------------------------

DEV_RELAXATIONS = {"rds-multi-az", "rds-backup-retention", "rds-deletion-protection", "flexible-server-private"} | {
    r.name for r in prod_rules.PROD_RULES
}
"""What a non-prod example may relax (advisory there): availability, retention, deletion guard, a public dev server,
and the production rules of issue 9 (the settings enforce them in prod only: keys, monitoring, snapshots, geo-backup)."""

KNOWN_PROD_FINDINGS: dict[str, str] = {}
"""Prod examples with a known mandatory-rule violation (none since growth-prod trusts named Astro accounts)."""


@functools.cache
def example_violations(path: Path) -> tuple[str, list[tuple[str, str, str]]]:
    """(environment, [(policy, resource, message)]) of every policy run over what the example registers."""
    stack = load_stack(path)
    environment = stack.project_values()["environment"]
    rendered = run_program(stack)
    registrations = [r for r in rendered.registrations if r.custom]
    found: list[tuple[str, str, str]] = []
    for policy in build_policies(environment):

        def report(message: str, urn: str | None = None, _policy: str = policy.name, _resource: str = "") -> None:
            found.append((_policy, urn or _resource, message))

        if isinstance(policy, pulumi_policy.ResourceValidationPolicy):
            for r in registrations:
                args = pulumi_policy.ResourceValidationArgs(r.type, mask(r.inputs, True), r.name, r.name, _opts(r.protect), None)
                policy.validate(args, report)
        else:
            resources = [
                pulumi_policy.PolicyResource(r.type, mask(r.inputs, True), r.name, r.name, _opts(r.protect), None, None, [], {})
                for r in registrations
            ]
            policy.validate(pulumi_policy.StackValidationArgs(resources, None), report)
    return environment, found


def _example_param(path: Path) -> Any:
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_PROD_FINDINGS[stack])] if stack in KNOWN_PROD_FINDINGS else []
    return pytest.param(path, id=stack, marks=marks)


@pytest.mark.parametrize("path", [_example_param(p) for p in EXAMPLES])
def test_example_passes_mandatory_rules(path: Path) -> None:
    environment, found = example_violations(path)
    if enforcement_level(environment) == pulumi_policy.EnforcementLevel.MANDATORY:
        assert found == []
    else:
        assert {policy for policy, _, _ in found} <= DEV_RELAXATIONS, found


def test_examples_cover_both_enforcement_levels() -> None:
    environments = {load_stack(p).project_values()["environment"] for p in EXAMPLES}
    assert "prod" in environments
    assert environments - {"prod"}
