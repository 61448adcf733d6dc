"""Cross-field and production rules: what no single field can check. Each rule adds a :class:`Problem`."""

from __future__ import annotations

import json
import re

from pydantic.alias_generators import to_camel

from components import naming
from components.settings.clouds import AwsSettings, AzureSettings
from components.settings.errors import Problem, is_secret_name
from components.settings.fields import AZURE_STORAGE_SIZES_GB, DNS_LABEL, MAX_FEDERATED_CREDENTIALS
from components.settings.model import Settings, federated_subjects
from components.settings.production import check_production
from components.settings.remote_execution import RemoteExecutionSettings, astro_service_accounts
from components.settings.versions import check_versions

IAM_TRUST_POLICY_MAX_CHARS = 2048
"""IAM's default quota on the length of a role's trust policy (whitespace not counted; 4096 after a quota increase)."""
FEDERATED_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")
"""Entra federated identity credential names: 3-120 characters."""
K8S_NAME_MAX = 253
"""Kubernetes object names (service accounts included) are DNS subdomains of at most 253 characters."""
URL_WITH_PASSWORD = re.compile(r"://[^/\s@]*:[^/\s@]*@")
PRIVATE_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


def plaintext_secret(setting: str, field: str, value: object, what: str = "plaintext secret in the stack file") -> Problem:
    """A secret written in the stack file, with the fix: a secret config key mapped in ``secretFields``."""
    return Problem(
        setting,
        value,
        f"{what}; run: pulumi config set --secret <configKey> <value>, then give the "
        f"connection secretSource: config and secretFields: {{{field}: <configKey>}}",
        secret=True,
    )


def check_rules(s: Settings) -> list[Problem]:
    """Rules that involve several settings. Empty list when the settings are coherent."""
    problems: list[Problem] = []
    add = problems.append

    if s.cloud == "aws" and s.aws is None:
        add(Problem("aws", None, "required when cloud is aws (vpcId, privateSubnetIds, clusterSecurityGroupId, oidcProviderArn, ...)"))
    if s.cloud == "azure" and s.azure is None:
        add(Problem("azure", None, "required when cloud is azure (tenantId, location, resourceGroupName, ...)"))
    if s.cloud == "aws" and s.azure is not None:
        add(Problem("azure", "<object>", "remove it: cloud is aws"))
    if s.cloud == "azure" and s.aws is not None:
        add(Problem("aws", "<object>", "remove it: cloud is azure"))
    if s.cloud == "aws" and s.remote_clusters:
        add(Problem("remoteClusters", [r.name for r in s.remote_clusters], "remote AKS clusters need cloud azure"))

    if s.self_hosted and s.remote_execution is not None:
        add(Problem("remoteExecution", "<object>", "only with deploymentMode remote-execution"))
    if not s.self_hosted and s.remote_execution is None:
        add(Problem("remoteExecution", None, "required with deploymentMode remote-execution"))

    check_production(s, add)
    _check_prefixes(s, add)
    _check_database(s, add)
    _check_connections(s, add)
    _check_bundles(s, add)
    check_versions(s, add)
    if s.azure is not None:
        _check_azure(s, s.azure, add)
    if s.aws is not None:
        _check_aws(s, s.aws, add)
    if s.remote_execution is not None:
        _check_remote_execution(s, s.remote_execution, add)
    return problems


def _check_prefixes(s: Settings, add) -> None:
    for key, value in (("connectionsPrefix", s.connections_prefix), ("variablesPrefix", s.variables_prefix)):
        if value and not value.strip("/-"):
            add(
                Problem(
                    key,
                    value,
                    "names no prefix; leave it empty for the per-stack default or give one such as airflow/<team>-<env>/connections",
                )
            )


def _check_database(s: Settings, add) -> None:
    db = s.database
    if s.cloud == "aws" and db.max_storage_gb < db.storage_gb:
        add(Problem("database.maxStorageGb", db.max_storage_gb, f"must be >= database.storageGb ({db.storage_gb})"))
    if s.cloud == "azure" and db.backup_retention_days < 7:
        add(Problem("database.backupRetentionDays", db.backup_retention_days, "Flexible Server keeps backups 7-35 days"))
    if s.cloud == "azure" and db.storage_gb not in AZURE_STORAGE_SIZES_GB:
        add(Problem("database.storageGb", db.storage_gb, f"Flexible Server sizes are {', '.join(map(str, AZURE_STORAGE_SIZES_GB))}"))
    if db.instance_class is None:
        return
    if s.cloud == "aws" and not re.match(r"^db\.[a-z0-9]+\.[a-z0-9]+$", db.instance_class):
        add(Problem("database.instanceClass", db.instance_class, "an RDS class such as db.m7g.large"))
    if s.cloud == "azure" and not re.match(r"^Standard_[A-Za-z0-9_]+$", db.instance_class):
        add(Problem("database.instanceClass", db.instance_class, "a Flexible Server SKU such as Standard_D2ds_v5"))
    if s.cloud == "azure" and re.match(r"^Standard_B", db.instance_class) and db.high_availability:
        add(Problem("database.instanceClass", db.instance_class, "Burstable SKUs do not support high availability"))


def _check_connections(s: Settings, add) -> None:
    seen: dict[str, int] = {}
    for i, conn in enumerate(s.connections):
        where = f"connections[{i}]"
        if conn.conn_id in seen:
            add(Problem(f"{where}.connId", conn.conn_id, f"duplicate of connections[{seen[conn.conn_id]}]"))
        seen.setdefault(conn.conn_id, i)
        names = conn.secret_field_names
        for field in names:
            if field != "password" and not re.match(r"^extra\.[A-Za-z0-9_]+$", field):
                add(Problem(f"{where}.secretFields", field, "secret fields are 'password' or 'extra.<key>'"))
            elif field.startswith("extra.") and field.removeprefix("extra.") in conn.extra:
                add(Problem(f"{where}.extra", field, "a secret field must not also have a plain value"))
        if conn.secret_source == "none" and names:
            add(Problem(f"{where}.secretSource", "none", "set 'config' or 'external' when secretFields are given"))
        if conn.secret_source != "none" and not names:
            add(Problem(f"{where}.secretFields", names, f"list the secret fields of a '{conn.secret_source}' connection"))
        if conn.secret_source == "config" and not isinstance(conn.secret_fields, dict):
            add(Problem(f"{where}.secretFields", list(names), "with secretSource config, map each field to a config key"))
        if conn.secret_source == "external" and isinstance(conn.secret_fields, dict):
            add(Problem(f"{where}.secretFields", conn.secret_fields, "with secretSource external, give a list of fields"))
        for key, value in conn.extra.items():
            if f"extra.{key}" in names:
                continue  # reported above: a secret field with a plain value
            if is_secret_name(key) or (isinstance(value, str) and PRIVATE_KEY_BLOCK.search(value)):
                add(plaintext_secret(f"{where}.extra.{key}", f"extra.{key}", value))
        if conn.host and URL_WITH_PASSWORD.search(conn.host):
            add(plaintext_secret(f"{where}.host", "password", conn.host, "a password in the URL; write the host without it"))
        if conn.conn_type == "git" and (not conn.host or not re.match(r"^(https://|git@|ssh://)", conn.host)):
            add(Problem(f"{where}.host", conn.host, "a git connection's host is the repository URL (https://..., git@... or ssh://...)"))
        if conn.conn_type == "snowflake" and "account" not in conn.extra:
            add(Problem(f"{where}.extra.account", None, "a snowflake connection needs extra.account"))
        if conn.conn_type == "kubernetes":
            add(Problem(f"{where}.connType", "kubernetes", "declare remote clusters under remoteClusters; their connections are generated"))

    for j, cluster in enumerate(s.remote_clusters):
        if cluster.conn_id in seen:
            add(Problem(f"remoteClusters[{j}].connId", cluster.conn_id, "already used by a declared connection"))
        seen.setdefault(cluster.conn_id, -1)
    names = [c.name for c in s.remote_clusters]
    for j, name in enumerate(names):
        if names.index(name) != j:
            add(Problem(f"remoteClusters[{j}].name", name, "duplicate remote cluster name"))

    prefix = s.resolved_connections_prefix
    if s.cloud == "azure":
        for key, value in (("connectionsPrefix", s.connections_prefix), ("variablesPrefix", s.variables_prefix)):
            if value and not re.match(r"^[0-9a-zA-Z_-]+$", value):
                add(Problem(key, value, "Key Vault prefixes may hold only letters, digits, '-' and '_'"))
        for first, second, name in naming.key_vault_collisions(prefix, s.all_conn_ids()):
            add(
                Problem(
                    "connections",
                    [first, second],
                    f"{first!r} and {second!r} both map to Key Vault secret {name!r} (names are case-insensitive, '_' becomes '-'); rename one",
                )
            )
        for conn_id in s.all_conn_ids():
            name = naming.key_vault_secret_name(prefix, conn_id)
            if not naming.KEY_VAULT_SECRET_NAME.match(name):
                add(Problem("connections", conn_id, f"Key Vault secret name {name!r} must be 1-127 of [0-9a-zA-Z-]"))
    else:
        for key, value in (("connectionsPrefix", s.connections_prefix), ("variablesPrefix", s.variables_prefix)):
            problem = naming.aws_prefix_problem(value, s.prefix) if value else None
            if problem:
                add(Problem(key, value, f"{problem}: the stack's role may read <prefix>/*, which must not reach another stack's secrets"))
        if s.variables_prefix and s.resolved_variables_prefix == prefix:
            add(Problem("variablesPrefix", s.variables_prefix, f"must differ from the connections prefix {prefix!r}"))
        for conn_id in s.all_conn_ids():
            name = naming.secrets_manager_secret_name(prefix, conn_id)
            if not naming.SECRETS_MANAGER_NAME.match(name):
                add(Problem("connections", conn_id, f"Secrets Manager name {name!r} must be 1-512 of [A-Za-z0-9/_+=.@-]"))


def _check_bundles(s: Settings, add) -> None:
    conn_types = {c.conn_id: c.conn_type for c in s.connections}
    names: set[str] = set()
    for i, bundle in enumerate(s.dag_bundles):
        where = f"dagBundles[{i}]"
        if bundle.name in names:
            add(Problem(f"{where}.name", bundle.name, "bundle names must be unique"))
        if bundle.name == "example_dags":
            add(Problem(f"{where}.name", bundle.name, "'example_dags' is reserved by Airflow"))
        names.add(bundle.name)
        if bundle.repo_url is not None and URL_WITH_PASSWORD.search(bundle.repo_url):
            add(
                Problem(
                    f"{where}.repoUrl", bundle.repo_url, "no credentials in the URL (it lands in airflow.cfg); use gitConnId", secret=True
                )
            )
        if bundle.kind == "git":
            if bundle.path is not None:
                add(Problem(f"{where}.path", bundle.path, "only local bundles take a path"))
            if bundle.git_conn_id is None and bundle.repo_url is None:
                add(Problem(f"{where}.repoUrl", None, "a git bundle needs repoUrl (public repo) or gitConnId (private repo)"))
            if bundle.git_conn_id is not None and conn_types.get(bundle.git_conn_id) != "git":
                add(Problem(f"{where}.gitConnId", bundle.git_conn_id, "must name a declared connection with connType git"))
        else:
            if bundle.path is None:
                add(Problem(f"{where}.path", None, "a local bundle needs an absolute path"))
            for key in ("repo_url", "git_conn_id", "subdir"):
                if getattr(bundle, key) is not None:
                    add(Problem(f"{where}.{to_camel(key)}", getattr(bundle, key), "only git bundles take this"))
    if not s.dag_bundles:
        add(Problem("dagBundles", [], "declare at least one DAG bundle (git or local)"))
    local_paths = {b.path for b in s.dag_bundles if b.kind == "local"}
    if s.remote_execution is not None and s.remote_execution.local_dags is None and local_paths:
        add(Problem("remoteExecution.localDags", None, "local bundles need localDags.source image or pvc"))


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


def _check_remote_execution(s: Settings, re_: RemoteExecutionSettings, add) -> None:
    access = re_.scheduler_access
    ns = re_.deployment.namespace
    if access.mode != "explicit" and access.service_accounts:
        add(Problem("remoteExecution.schedulerAccess.serviceAccounts", list(access.service_accounts), "only with mode explicit"))
    vault = s.azure.key_vault if s.azure is not None else None
    if vault is not None and vault.create and access.mode != "none" and not vault.allowed_ip_ranges:
        add(
            Problem(
                "azure.keyVault.allowedIpRanges",
                [],
                "the Astro-hosted scheduler reads the vault from Astronomer's network: list the Deployment's external IPs "
                "(Astro UI, Deployment details) or set remoteExecution.schedulerAccess.mode none",
            )
        )
    timetable_conns = [c.conn_id for c in s.connections if c.used_by_timetable]
    if access.mode == "none" and timetable_conns:
        add(
            Problem(
                "remoteExecution.schedulerAccess.mode",
                "none",
                f"connections {timetable_conns} are used by timetables, which run in the Astro scheduler; use wildcard or explicit",
            )
        )
    if access.mode == "explicit":
        scheduler_sa = f"{ns}-scheduler-serviceaccount"
        if access.service_accounts and scheduler_sa not in access.service_accounts:
            add(
                Problem(
                    "remoteExecution.schedulerAccess.serviceAccounts",
                    list(access.service_accounts),
                    f"must include the Astro scheduler {scheduler_sa!r}",
                )
            )
        for sa in access.service_accounts:
            if not re.match(DNS_LABEL, sa) or "*" in sa:
                add(Problem("remoteExecution.schedulerAccess.serviceAccounts", sa, "service-account names, no wildcards"))
            elif len(sa) > K8S_NAME_MAX:
                add(
                    Problem(
                        "remoteExecution.schedulerAccess.serviceAccounts", sa, f"Kubernetes names are at most {K8S_NAME_MAX} characters"
                    )
                )
    groups = [g.name for g in re_.worker_groups]
    if not groups:
        add(Problem("remoteExecution.workerGroups", [], "declare at least one worker group"))
    for i, name in enumerate(groups):
        if groups.index(name) != i:
            add(Problem(f"remoteExecution.workerGroups[{i}].name", name, "worker group names must be unique"))
    local = re_.local_dags
    if local is not None:
        if local.source == "pvc" and not local.storage_class_name:
            add(Problem("remoteExecution.localDags.storageClassName", None, "a ReadWriteMany storage class is required for source pvc"))
        if local.source == "image" and local.storage_class_name:
            add(Problem("remoteExecution.localDags.storageClassName", local.storage_class_name, "only for source pvc"))
        if not any(b.kind == "local" for b in s.dag_bundles):
            add(Problem("remoteExecution.localDags", local.source, "no local DAG bundle uses it; remove it or add a local bundle"))
