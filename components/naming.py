"""Naming rules: the exact names Airflow, the clouds and the chart expect.

Everything here is a plain function so that the settings validation, the
components and the tests share one definition of each rule. Sources:
``../shared/reference/airflow-contracts.md`` sections 2.2, 3.2 and 9.2.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

CONN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")
"""conn_ids both backends can store: Key Vault allows only ``[0-9a-zA-Z-]`` after mangling."""

KEY_VAULT_SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
"""The check ``AzureKeyVaultBackend`` applies before every lookup."""

KEY_VAULT_NAME = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
"""Azure Key Vault names: 3-24 characters, start with a letter, no ``--``."""

SECRETS_MANAGER_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
IAM_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

AWS_BACKEND_DEFAULT_CONNECTIONS_PREFIX = "airflow/connections"
"""``SecretsManagerBackend``'s own default: shared by every stack of an account and region, so never used here."""
AWS_PREFIX_ROOT = "airflow"
AWS_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9_+=.@-]{1,100}$")
AZURE_DEFAULT_CONNECTIONS_PREFIX = "airflow-connections"

# Chart component key -> suffix of the service account name we set explicitly.
CHART_SERVICE_ACCOUNTS: Mapping[str, str] = {
    "scheduler": "scheduler",
    "apiServer": "api-server",
    "dagProcessor": "dag-processor",
    "triggerer": "triggerer",
    "workers": "worker",
}
EXECUTORS_WITH_WORKERS = frozenset({"CeleryExecutor", "KubernetesExecutor"})


def conn_id_problem(conn_id: str) -> str | None:
    """Why ``conn_id`` cannot be stored safely, or None when it can."""
    if not CONN_ID_PATTERN.match(conn_id):
        return "must start with a letter or digit and contain only letters, digits, '_' and '-' (at most 200)"
    if "__" in conn_id or "--" in conn_id or "_-" in conn_id or "-_" in conn_id:
        return "must not contain '__', '--' or mixed '_-' (Airflow multi-team mode refuses ids whose name holds '--')"
    return None


def secrets_manager_secret_name(prefix: str, conn_id: str) -> str:
    """Name ``SecretsManagerBackend`` looks up: ``<prefix>/<conn_id>``, unmangled."""
    prefix = prefix.rstrip("/")
    return f"{prefix}/{conn_id}" if prefix else conn_id


def aws_stack_prefix(stack_segment: str, kind: str) -> str:
    """Per-stack Secrets Manager prefix: ``airflow/<team>-<env>/<kind>`` (``kind`` is ``connections`` or ``variables``)."""
    return f"{AWS_PREFIX_ROOT}/{stack_segment}/{kind}"


def aws_prefix_problem(prefix: str, stack_segment: str) -> str | None:
    """Why ``prefix`` could overlap another stack's Secrets Manager prefix, or None when it cannot.

    A stack's role may read ``<prefix>/*``, and ``*`` in an IAM resource also
    matches ``/``. A prefix therefore must be exactly three segments,
    ``<root>/<team>-<env>/<leaf>``: two stacks' prefixes then have the same
    depth, so one is a path prefix of the other only when they are equal, which
    needs the same ``<team>-<env>`` (the stack itself).
    """
    parts = prefix.rstrip("/").split("/")
    shape = f"<root>/{stack_segment}/<leaf>, e.g. {aws_stack_prefix(stack_segment, 'connections')}"
    if len(parts) != 3 or parts[1] != stack_segment:
        return f"must be {shape} (three segments, the stack's own team-environment in the middle)"
    if not all(AWS_PREFIX_SEGMENT.match(part) for part in parts):
        return f"must be {shape}; each segment 1-100 of [A-Za-z0-9_+=.@-]"
    return None


def key_vault_secret_name(prefix: str, conn_id: str) -> str:
    """Name ``AzureKeyVaultBackend`` looks up: ``<prefix>-<conn_id>`` with every ``_`` made ``-``."""
    prefix = prefix.rstrip("-")
    path = f"{prefix}-{conn_id}" if prefix else conn_id
    return path.replace("_", "-")


def key_vault_collisions(prefix: str, conn_ids: Iterable[str]) -> list[tuple[str, str, str]]:
    """Pairs of conn_ids that map to the same Key Vault secret (names are case-insensitive)."""
    seen: dict[str, str] = {}
    clashes: list[tuple[str, str, str]] = []
    for conn_id in conn_ids:
        name = key_vault_secret_name(prefix, conn_id)
        key = name.lower()
        if key in seen:
            clashes.append((seen[key], conn_id, name))
        else:
            seen[key] = conn_id
    return clashes


def service_account_name(release_name: str, component: str) -> str:
    """Explicit service-account name we give chart component ``component``."""
    return f"{release_name}-{CHART_SERVICE_ACCOUNTS[component]}"


def chart_service_accounts(release_name: str, executor: str) -> dict[str, str]:
    """Service accounts of the official chart that read the secrets backend, by values key.

    The scheduler is included because custom timetables run there; ``workers``
    only exists for executors that start worker pods (KubernetesExecutor task
    pods run under it too).
    """
    keys = ["scheduler", "apiServer", "dagProcessor", "triggerer"]
    if executor in EXECUTORS_WITH_WORKERS:
        keys.append("workers")
    return {key: service_account_name(release_name, key) for key in keys}


def task_service_account(release_name: str, executor: str) -> str:
    """Service account under which tasks (and so KubernetesPodOperator) run."""
    component = "workers" if executor in EXECUTORS_WITH_WORKERS else "scheduler"
    return service_account_name(release_name, component)


def k8s_subject(namespace: str, service_account: str) -> str:
    """Subject of a projected service-account token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def issuer_host(issuer_url: str) -> str:
    """OIDC issuer without scheme or trailing slash, as IAM condition keys use it."""
    return re.sub(r"^https://", "", issuer_url).rstrip("/")


def agent_service_accounts(prefix: str, worker_groups: Iterable[str]) -> dict[str, str]:
    """Service accounts of the Remote Execution agent chart that read the secrets backend.

    We set every name explicitly (``serviceAccount.<component>.name`` and
    ``workers[].serviceAccount.name``) so that federated subjects always match.
    """
    accounts = {"dagProcessor": f"{prefix}-dag-processor", "triggerer": f"{prefix}-triggerer"}
    for group in worker_groups:
        accounts[f"worker-{group}"] = f"{prefix}-worker-{group}"
    return accounts


def database_bootstrap_name(release_name: str) -> str:
    """Name of the database bootstrap Job, its service account, ConfigMap and Secret."""
    return f"{release_name}-db-bootstrap"


DATABASE_ADMIN_SECRET_NAME = "db-admin-password"
"""Key Vault secret holding the Azure Flexible Server administrator password (in the admin vault only)."""


def database_admin_vault_name(key_vault_name: str) -> str:
    """Default name of the per-stack vault that holds only the database administrator password.

    ``<keyVault.name>-adm`` when that fits in 24 characters; otherwise the first 15 characters, 4 hex of a
    SHA-256 of the whole name and ``-adm``, so two long vault names with a common start still differ.
    """
    if len(key_vault_name) <= 20:
        return f"{key_vault_name}-adm"
    digest = hashlib.sha256(key_vault_name.encode()).hexdigest()[:4]
    return f"{key_vault_name[:15].rstrip('-')}-{digest}-adm"


DATABASE_BOOTSTRAP_CONTAINER = "bootstrap"
"""Container of the bootstrap Job that runs ``psql`` (gets no cloud credential)."""
DATABASE_BOOTSTRAP_FETCH_CONTAINER = "fetch-admin-secret"
"""Init container of the bootstrap Job that reads the administrator password with the Job's own identity."""
