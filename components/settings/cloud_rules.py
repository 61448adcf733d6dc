"""Rules on the cloud settings (``aws``, ``azure``) against the rest: identities, trust policy size, names, issuers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from components import naming
from components.settings.clouds import AwsSettings, AzureSettings
from components.settings.errors import Problem
from components.settings.fields import MAX_FEDERATED_CREDENTIALS
from components.settings.model import Settings, federated_subjects
from components.settings.remote_execution import astro_service_accounts

IAM_TRUST_POLICY_MAX_CHARS = 2048
"""IAM's default quota on the length of a role's trust policy (whitespace not counted; 4096 after a quota increase)."""
FEDERATED_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")
"""Entra federated identity credential names: 3-120 characters."""


def check_cloud(s: Settings, add: Callable[[Problem], None]) -> None:
    """The rules of whichever of ``azure`` and ``aws`` is set."""
    if s.azure is not None:
        _check_azure(s, s.azure, add)
    if s.aws is not None:
        _check_aws(s, s.aws, add)


def _check_azure(s: Settings, az: AzureSettings, add) -> None:
    net = az.database_network
    if s.self_hosted and net.mode == "vnet":
        if net.delegated_subnet_id is None:
            add(
                Problem(
                    "azure.databaseNetwork.delegatedSubnetId",
                    None,
                    "required for VNet integration (a subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers)",
                )
            )
        if net.private_dns_zone_id is None:
            add(
                Problem(
                    "azure.databaseNetwork.privateDnsZoneId",
                    None,
                    "required for VNet integration (<name>.private.postgres.database.azure.com)",
                )
            )
    if net.mode == "vnet" and net.allowed_ip_ranges:
        add(Problem("azure.databaseNetwork.allowedIpRanges", list(net.allowed_ip_ranges), "only with mode public"))
    if net.mode == "public" and not net.allowed_ip_ranges:
        add(Problem("azure.databaseNetwork.allowedIpRanges", [], "public mode needs at least one allowed CIDR"))
    if not az.key_vault.create and not re.search(rf"(^|-){re.escape(s.prefix)}(-|$)", az.key_vault.name):
        # A created vault is the stack's by construction (vault names are globally unique, so a second stack's create
        # fails). An existing one must name the stack, or two stacks could share a vault and so each other's secrets.
        add(
            Problem(
                "azure.keyVault.name",
                az.key_vault.name,
                f"an existing vault (create: false) must be the stack's own: its name must contain '{s.prefix}' between '-'s",
            )
        )
    if not az.key_vault.create and az.key_vault.soft_delete_retention_days != 90:
        add(Problem("azure.keyVault.softDeleteRetentionDays", az.key_vault.soft_delete_retention_days, "only for a vault created here"))
    if not s.self_hosted and s.remote_execution is not None and s.remote_execution.scheduler_access.mode == "wildcard":
        add(
            Problem(
                "remoteExecution.schedulerAccess.mode", "wildcard", "Entra federated credentials take no wildcard; use explicit on Azure"
            )
        )
    subjects = federated_subjects(s)
    if len(subjects) > MAX_FEDERATED_CREDENTIALS:
        add(
            Problem(
                "azure",
                f"{len(subjects)} federated credentials",
                f"one managed identity holds at most {MAX_FEDERATED_CREDENTIALS}; reduce worker groups or explicit Astro service accounts",
            )
        )
    re_ = s.remote_execution
    for key in subjects:
        if not FEDERATED_CREDENTIAL_NAME.match(key):
            setting, value = "remoteExecution.workerGroups", key
            if re_ is not None and key.startswith("astro-"):
                explicit = bool(re_.scheduler_access.service_accounts)
                setting = "remoteExecution.schedulerAccess.serviceAccounts" if explicit else "remoteExecution.deployment.namespace"
                value = key.removeprefix("astro-") if explicit else re_.deployment.namespace
            add(Problem(setting, value, f"names federated credential {key[:40]!r}... of {len(key)} characters; Entra allows 3-120"))
    for cluster_index, cluster in enumerate(s.remote_clusters):
        if cluster.api_server_url.endswith("/"):
            add(Problem(f"remoteClusters[{cluster_index}].apiServerUrl", cluster.api_server_url, "no trailing slash"))


def _check_aws(s: Settings, aws: AwsSettings, add) -> None:
    suffix = aws.oidc_provider_arn.split(":oidc-provider/", 1)[1]
    if suffix != naming.issuer_host(aws.oidc_issuer_url):
        add(Problem("aws.oidcIssuerUrl", aws.oidc_issuer_url, f"must be the issuer of aws.oidcProviderArn (https://{suffix})"))
    if aws.kms_key_arn is not None:
        key_region = aws.kms_key_arn.split(":")[3]
        if key_region != aws.region:
            add(Problem("aws.kmsKeyArn", aws.kms_key_arn, f"the key must be in aws:region {aws.region}"))
    if aws.identity_mode == "pod-identity" and aws.cluster_name is None:
        add(Problem("aws.clusterName", None, "required with identityMode pod-identity (the EKS cluster the associations belong to)"))
    if aws.identity_mode == "irsa" and aws.cluster_name is not None:
        add(Problem("aws.clusterName", aws.cluster_name, "only with identityMode pod-identity"))
    astro_arn = s.remote_execution.deployment.oidc_provider_arn if s.remote_execution is not None else None
    if astro_arn is not None:
        assert s.remote_execution is not None
        issuer = naming.issuer_host(s.remote_execution.deployment.oidc_issuer_url)
        partition, account, host = astro_arn.split(":")[1], astro_arn.split(":")[4], astro_arn.split(":oidc-provider/", 1)[1]
        if host != issuer:
            add(
                Problem(
                    "remoteExecution.deployment.oidcProviderArn",
                    astro_arn,
                    f"must be the provider of the Astro issuer {issuer!r} (the trust names both; they could never match)",
                )
            )
        if account != aws.account_id or partition != aws.partition:
            add(
                Problem(
                    "remoteExecution.deployment.oidcProviderArn",
                    astro_arn,
                    f"must be in the stack's account {aws.account_id} ({aws.partition}), where the role trusts it",
                )
            )
    role = f"{s.prefix}-airflow-secrets-reader"
    if not naming.IAM_ROLE_NAME.match(role):
        add(Problem("team", s.team, f"IAM role name {role!r} would exceed 64 characters"))
    identifier = f"{s.prefix}-airflow"
    if s.self_hosted and (not re.match(r"^[a-z][a-z0-9-]{0,62}$", identifier) or "--" in identifier):
        add(Problem("team", s.team, f"names the RDS instance {identifier!r}: start with a letter and do not use '--'"))
    size = trust_policy_chars(s, aws)
    if size > IAM_TRUST_POLICY_MAX_CHARS:
        re_ = s.remote_execution
        explicit = re_ is not None and bool(re_.scheduler_access.service_accounts)
        setting = "remoteExecution.schedulerAccess.serviceAccounts" if explicit else "remoteExecution.workerGroups"
        add(
            Problem(
                setting,
                f"{size} characters of trust policy",
                f"the secrets-reader role's trust policy lists every service account; IAM allows {IAM_TRUST_POLICY_MAX_CHARS} "
                "characters by default: name fewer or shorter service accounts (or use schedulerAccess mode wildcard)",
            )
        )


def trust_policy_chars(s: Settings, aws: AwsSettings) -> int:
    """Characters IAM counts in the trust policy ``IrsaRole`` writes (``components/aws/policies.py``; a test keeps them equal)."""
    trusts = [
        (aws.oidc_provider_arn, aws.oidc_issuer_url, [naming.k8s_subject(s.namespace, sa) for sa in s.reader_service_accounts().values()])
    ]
    re_ = s.remote_execution
    if re_ is not None and re_.scheduler_access.mode not in (None, "none"):
        d = re_.deployment
        provider = d.oidc_provider_arn or f"arn:{aws.partition}:iam::{aws.account_id}:oidc-provider/{naming.issuer_host(d.oidc_issuer_url)}"
        names = ["*"] if re_.scheduler_access.mode == "wildcard" else list(astro_service_accounts(re_))
        trusts.append((provider, d.oidc_issuer_url, [naming.k8s_subject(d.namespace, sa) for sa in names]))
    statements = []
    for index, (provider, issuer, subjects) in enumerate(trusts):
        host = naming.issuer_host(issuer)
        condition: dict[str, dict[str, object]] = {"StringEquals": {f"{host}:aud": "sts.amazonaws.com"}}
        operator = "StringLike" if any("*" in x for x in subjects) else "StringEquals"
        condition.setdefault(operator, {})[f"{host}:sub"] = sorted(subjects)
        statements.append(
            {
                "Sid": f"ServiceAccounts{index}",
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        )
    return len(json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":")))
