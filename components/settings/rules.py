"""Cross-field and production rules: what no single field can check. Each rule adds a :class:`Problem`."""

from __future__ import annotations

import re

from pydantic.alias_generators import to_camel

from components import naming
from components.settings.cloud_rules import check_cloud
from components.settings.errors import Problem, is_secret_name
from components.settings.fields import AZURE_STORAGE_SIZES_GB, DNS_LABEL
from components.settings.model import Settings
from components.settings.production import check_production
from components.settings.remote_execution import RemoteExecutionSettings
from components.settings.versions import check_versions

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
    check_cloud(s, add)
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
