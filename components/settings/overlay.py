"""The escape hatch: ``helmValues`` and ``airflowConfig``, and the paths the program owns in them.

``helmValues`` is deep-merged last into the generated chart values (the agent chart's in
remote-execution mode); ``airflowConfig`` becomes the chart's ``config`` (``airflow.cfg``
sections). Lists whose items carry a name (``env``, ``volumes``, ...) are appended to the program's,
so an overlay adds a variable or a volume without dropping the program's. Neither may touch what
the program owns: the Secrets it creates and their names,
the service accounts and their workload-identity annotations, the secrets backend, the
database connection and the connection budget. Those paths are refused with the setting that
owns them, so an overlay can add but never silently undo.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

OWNED_CHART_PATHS: tuple[tuple[str, str], ...] = (
    ("data", "the metadata connection Secret (database settings)"),
    ("postgresql", "the external database (database settings)"),
    ("fernetKey*", "the generated Fernet key Secret (fernetKeyGeneration)"),
    ("apiSecretKey*", "the generated API secret key Secret (apiSecretKeyGeneration)"),
    ("jwtSecret*", "the generated JWT Secret (jwtSecretGeneration)"),
    ("webserverSecretKey*", "the generated Secrets"),
    ("enableBuiltInSecretEnvVars", "the Secrets the program creates"),
    ("extraSecrets", "the Secrets the program creates"),
    ("config", "airflowConfig"),
    ("executor", "executor"),
    ("airflowVersion", "airflowVersion"),
    ("defaultAirflowRepository", "airflowImageRepository"),
    ("defaultAirflowTag", "airflowImageTag"),
    ("defaultAirflowDigest", "airflowImageDigest"),
    ("images.airflow", "airflowImageRepository / airflowImageTag / airflowImageDigest"),
    ("*.serviceAccount", "the service accounts and their workload-identity annotations"),
    ("*.labels.azure.workload.identity/use", "workload identity"),
    ("*.podAnnotations.checksum/airflow-platform-secrets", "Secret rotation"),
    ("rbac", "the service accounts' permissions"),
    ("multiNamespaceMode", "the service accounts' permissions"),
    ("createUserJob.env", "the admin password Secret"),
    ("createUserJob.args", "the admin user"),
    ("createUserJob.command", "the admin user"),
    ("pgbouncer.configSecretName", "the PgBouncer config Secret"),
    ("pgbouncer.metricsExporterSidecar.statsSecretName", "the PgBouncer stats Secret"),
    ("pgbouncer.maxClientConn", "database.pgbouncerMaxClientConn (connection budget)"),
    ("pgbouncer.metadataPoolSize", "database.pgbouncerPoolSize (connection budget)"),
    ("pgbouncer.resultBackendPoolSize", "the connection budget"),
    ("pgbouncer.replicas", "pods.pgbouncer.replicas (connection budget)"),
    ("pgbouncer.enabled", "pgbouncerEnabled"),
    ("pgbouncer.auth_type", "the PgBouncer config Secret"),
    ("pgbouncer.sslmode", "the PgBouncer config Secret"),
    ("redis.passwordSecretName", "the Redis password Secret"),
    ("redis.password", "the Redis password Secret"),
    ("redis.enabled", "broker.mode"),
    ("scheduler.enabled", "externalScheduler"),
    ("apiServer.enabled", "externalApiServer"),
    ("*.replicas", "schedulerReplicas / apiServerReplicas / triggererReplicas / pods.<component>.replicas (connection budget)"),
    ("workers.celery.concurrency", "pods.workers.concurrency (connection budget)"),
    ("*.safeToEvict", "pods.<component>.safeToEvict"),
    ("dagProcessor.dagBundleConfigList", "dagBundles"),
    ("migrateDatabaseJob.useHelmHooks", "the install order (see values.py)"),
    ("ingress.apiServer", "uiAccess"),
    ("ingress.enabled", "uiAccess"),
    ("apiServer.service", "uiAccess"),
    ("apiServer.networkPolicy", "uiAccess (ingressControllerNamespace, sourceCidrs)"),
    ("statsd.enabled", "metrics.statsd.mode"),
    ("statsd.extraNetworkPolicies", "metrics.prometheus"),
    ("createUserJob.useHelmHooks", "the install order (see values.py)"),
)
"""(pattern, owner): dotted paths of the official chart's values an overlay may not set. ``*`` is one
key; a pattern also covers everything below it."""

OWNED_AGENT_PATHS: tuple[tuple[str, str], ...] = (
    ("agentTokenSecretName", "the agent token Secret"),
    ("imagePullSecretName", "the image pull Secret"),
    ("secretBackend", "the secrets backend"),
    ("secretBackendKwargs", "the secrets backend"),
    ("serviceAccount", "the service accounts and their workload-identity annotations"),
    ("*.serviceAccount", "the service accounts and their workload-identity annotations"),
    ("workers", "remoteExecution.workerGroups"),
    ("resourceNamePrefix", "remoteExecution.resourceNamePrefix"),
)
"""The same for Astronomer's agent chart (remote-execution mode)."""

OWNED_CONFIG: tuple[tuple[str, str], ...] = (
    ("secrets.*", "the secrets backend (connectionsPrefix, variablesPrefix)"),
    ("database.sql_alchemy_conn*", "the metadata connection Secret"),
    ("core.fernet_key*", "the generated Fernet key Secret"),
    ("core.executor", "executor"),
    ("api.secret_key*", "the generated API secret key Secret"),
    ("api_auth.jwt_secret*", "the generated JWT Secret"),
    ("celery.broker_url*", "the broker URL Secret"),
    ("celery.result_backend*", "the metadata connection Secret"),
    ("celery.worker_concurrency", "pods.workers.concurrency (connection budget)"),
    ("dag_processor.dag_bundle_config_list", "dagBundles"),
    ("kubernetes_executor.namespace", "namespace"),
    ("metrics.statsd_on", "metrics"),
    ("metrics.statsd_host", "metrics.statsd.host (or metrics.datadog)"),
    ("metrics.statsd_port", "metrics.statsd.port (or metrics.datadog.port)"),
    ("metrics.statsd_ipv6", "metrics.statsd.host"),
)
"""``section.key`` patterns of ``airflowConfig`` the program owns."""


def leaf_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every key in a nested mapping (mappings themselves included)."""
    paths = []
    if isinstance(value, Mapping):
        for key, sub in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.append(path)
            paths += leaf_paths(sub, path)
    return paths


def _matches(path: str, pattern: str) -> bool:
    parts, pats = path.split("."), pattern.split(".")
    # a workload-identity label key holds dots: compare the pattern's tail as one key
    if len(pats) > 2 and pats[1] in ("labels", "podAnnotations"):
        pats = [pats[0], pats[1], ".".join(pats[2:])]
        parts = [*parts[:2], ".".join(parts[2:])] if len(parts) > 2 else parts
    if len(parts) < len(pats):
        return False
    return all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pats, strict=False))


def owned_conflicts(overlay: Mapping[str, Any], owned: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """(path, owner) for each path of ``overlay`` at or under an owned pattern; outermost path only."""
    found: list[tuple[str, str]] = []
    for path in leaf_paths(overlay):
        if any(path.startswith(f"{p}.") for p, _ in found):
            continue
        for pattern, owner in owned:
            if _matches(path, pattern):
                found.append((path, owner))
                break
    return found


def config_conflicts(config: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(section.key, owner) for each ``airflowConfig`` entry the program owns."""
    found = []
    for section, keys in config.items():
        for key in keys:
            for pattern, owner in OWNED_CONFIG:
                if fnmatch.fnmatchcase(f"{section}.{key}", pattern):
                    found.append((f"{section}.{key}", owner))
                    break
    return found


NAMED_LISTS = frozenset(
    {"env", "commonEnv", "volumes", "volumeMounts", "extraVolumes", "extraVolumeMounts", "extraContainers", "extraInitContainers"}
)
"""List keys whose items carry a ``name``: an overlay's items are added to the program's, never replace them."""

OWNED_ENV_PREFIXES = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW_CONN_AIRFLOW_DB",
    "AIRFLOW__SECRETS__",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__LOGGING__REMOTE_",
    "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS",
    "AIRFLOW_ADMIN_PASSWORD",
    "ASTRO_",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_REGION",
    "AZURE_CLIENT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
)
"""Environment variables (prefixes) the program sets or the workload identity injects."""

PROGRAM_ITEM_NAMES = frozenset({"dags", "ssh-known-hosts", "tmp", "kube-api-access", "pgbouncer-config", "wait-for-airflow-migrations"})
"""Volume, mount and container names the program gives items of :data:`NAMED_LISTS`."""


def env_conflicts(overlay: Mapping[str, Any]) -> list[str]:
    """Items of an overlay's named lists that would collide with the program's: owned environment
    variables (Secrets, backend, identity), the program's volumes, mounts and containers."""
    found = []

    def scan(items: Any, where: str, key: str) -> None:
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            name = item.get("name", "") if isinstance(item, Mapping) else ""
            if not isinstance(name, str):
                continue
            if (key in ("env", "commonEnv") and name.startswith(OWNED_ENV_PREFIXES)) or (
                key not in ("env", "commonEnv") and name in PROGRAM_ITEM_NAMES
            ):
                found.append(f"{where}[{i}].name={name}")

    for path in leaf_paths(overlay):
        key = path.split(".")[-1]
        if key in NAMED_LISTS:
            node: Any = overlay
            for part in path.split("."):
                node = node[part]
            scan(node, path, key)
    if isinstance(overlay.get("extraEnv"), str):
        found.append("extraEnv (a template string the program cannot check; use env)")
    if "extraEnvFrom" in overlay:
        found.append("extraEnvFrom (whole Secrets or ConfigMaps as environment; use env)")
    return found


def merge_overlay(values: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``helmValues`` over the generated values: a deep merge, except that the items of :data:`NAMED_LISTS`
    are appended to the program's (an overlay adds an env var or a volume, it cannot drop the program's).

    Raises ValueError on a name both sides use; :func:`env_conflicts` refuses those names in the settings.
    """
    merged: dict[str, Any] = dict(values)
    for key, value in overlay.items():
        base = merged.get(key)
        if isinstance(value, Mapping) and isinstance(base, Mapping):
            merged[key] = merge_overlay(base, value)
        elif key in NAMED_LISTS and isinstance(value, list) and isinstance(base, list):
            taken = {item.get("name") for item in base if isinstance(item, Mapping)}
            clash = sorted(str(item["name"]) for item in value if isinstance(item, Mapping) and item.get("name") in taken)
            if clash:
                raise ValueError(f"helmValues {key} items {clash} collide with the program's; refused in the settings")
            merged[key] = [*base, *value]
        else:
            merged[key] = value
    return merged


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: mappings merge key by key, anything else (lists included) replaces."""
    merged: dict[str, Any] = {key: value for key, value in base.items()}
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
