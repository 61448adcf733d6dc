"""The typed settings of one stack (team x environment): every key, its type and its derived names."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components import naming
from components.settings.airflow import ConnectionSpec, DagBundle, DatabaseSettings, RemoteCluster
from components.settings.clouds import AwsSettings, AzureSettings
from components.settings.fields import DNS_LABEL, StrictModel
from components.settings.remote_execution import RemoteExecutionSettings, astro_service_accounts

SCALAR_KEYS = (
    "cloud",
    "environment",
    "team",
    "deploymentMode",
    "protectStateful",
    "namespace",
    "createNamespace",
    "releaseName",
    "airflowVersion",
    "airflowImageRepository",
    "airflowImageTag",
    "executor",
    "pgbouncerEnabled",
    "databaseCleanupRetentionDays",
    "schedulerReplicas",
    "apiServerReplicas",
    "triggererReplicas",
    "connectionsPrefix",
    "variablesPrefix",
    "fernetKeyGeneration",
    "jwtSecretGeneration",
    "apiSecretKeyGeneration",
    "databasePasswordGeneration",
)
"""Keys declared with a type and default in ``Pulumi.yaml``."""
STRUCTURED_KEYS = ("aws", "azure", "database", "dagBundles", "connections", "remoteClusters", "remoteExecution")
"""Keys holding objects or lists of objects; their shape is validated by the models here."""


class Settings(StrictModel):
    """Everything one stack (team x environment) asks for."""

    stack: str
    """Pulumi stack name (set by the loader, not a config key)."""
    cloud: Literal["aws", "azure"]
    environment: Literal["dev", "staging", "prod"]
    team: str = Field(pattern=DNS_LABEL, max_length=20)
    deployment_mode: Literal["self-hosted", "remote-execution"]
    protect_stateful: bool
    namespace: str = Field(pattern=DNS_LABEL, max_length=63)
    create_namespace: bool
    release_name: str = Field(pattern=DNS_LABEL, max_length=30)
    airflow_version: str = Field(pattern=r"^3\.\d+\.\d+$")
    airflow_image_repository: str = Field(pattern=r"^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?$")
    airflow_image_tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$|^$")
    executor: Literal["KubernetesExecutor", "CeleryExecutor", "LocalExecutor"]
    pgbouncer_enabled: bool
    database_cleanup_retention_days: int = Field(ge=1, le=3650)
    scheduler_replicas: int = Field(ge=1, le=10)
    api_server_replicas: int = Field(ge=1, le=20)
    triggerer_replicas: int = Field(ge=1, le=10)
    connections_prefix: str = Field(pattern=r"^[A-Za-z0-9/_+=.@-]{0,200}$")
    """Empty: per stack on AWS (``airflow/<team>-<env>/connections``), ``airflow-connections`` in the stack's own vault on Azure.
    AWS: an explicit prefix must be ``<root>/<team>-<env>/<leaf>`` so no two stacks' prefixes can overlap."""
    variables_prefix: str = Field(pattern=r"^[A-Za-z0-9/_+=.@-]{0,200}$")
    """Empty: variable lookups in the backend are off. AWS: ``<root>/<team>-<env>/<leaf>`` like ``connectionsPrefix``."""
    fernet_key_generation: int = Field(ge=1, le=10000)
    """Bump to rotate the Fernet key; the previous generation stays second in the key list."""
    jwt_secret_generation: int = Field(ge=1, le=10000)
    """Bump to rotate the JWT signing secret (issued tokens stop being valid)."""
    api_secret_key_generation: int = Field(ge=1, le=10000)
    """Bump to rotate the API server's secret key (sessions end)."""
    database_password_generation: int = Field(ge=1, le=10000)
    """Bump to rotate the metadata database password."""
    aws: AwsSettings | None = None
    azure: AzureSettings | None = None
    database: DatabaseSettings = DatabaseSettings()
    dag_bundles: tuple[DagBundle, ...] = ()
    connections: tuple[ConnectionSpec, ...] = ()
    remote_clusters: tuple[RemoteCluster, ...] = ()
    remote_execution: RemoteExecutionSettings | None = None

    @property
    def prefix(self) -> str:
        """Physical-name prefix shared by every cloud resource of this stack."""
        return f"{self.team}-{self.environment}"

    @property
    def image_tag(self) -> str:
        return self.airflow_image_tag or self.airflow_version

    @property
    def resolved_connections_prefix(self) -> str:
        """Connections prefix the backend is configured with: explicit, else per stack on AWS (its own vault on Azure)."""
        if self.connections_prefix:
            return self.connections_prefix.rstrip("/-")
        if self.cloud == "aws":
            return naming.aws_stack_prefix(self.prefix, "connections")
        return naming.AZURE_DEFAULT_CONNECTIONS_PREFIX

    @property
    def resolved_variables_prefix(self) -> str:
        """Variables prefix the backend is configured with; empty: variable lookups off."""
        return self.variables_prefix.rstrip("/-")

    @property
    def self_hosted(self) -> bool:
        return self.deployment_mode == "self-hosted"

    def secret_name(self, conn_id: str) -> str:
        """Name under which the backend looks ``conn_id`` up."""
        if self.cloud == "aws":
            return naming.secrets_manager_secret_name(self.resolved_connections_prefix, conn_id)
        return naming.key_vault_secret_name(self.resolved_connections_prefix, conn_id)

    def reader_service_accounts(self) -> dict[str, str]:
        """Service accounts in our cluster that read the secrets backend, by stable logical key."""
        if self.self_hosted:
            return naming.chart_service_accounts(self.release_name, self.executor)
        assert self.remote_execution is not None
        re_ = self.remote_execution
        return naming.agent_service_accounts(re_.resource_name_prefix, [g.name for g in re_.worker_groups])

    def all_conn_ids(self) -> list[str]:
        """Declared connections plus the generated remote-cluster connections."""
        return [c.conn_id for c in self.connections] + [r.conn_id for r in self.remote_clusters]


def federated_subjects(s: Settings) -> dict[str, tuple[str, str]]:
    """Every federated credential of the main identity: key -> (issuer, subject).

    Keys are stable logical names (they feed resource names, so reordering
    settings never replaces a credential).
    """
    if s.azure is None:
        return {}
    subjects = {key: (s.azure.oidc_issuer_url, naming.k8s_subject(s.namespace, sa)) for key, sa in s.reader_service_accounts().items()}
    re_ = s.remote_execution
    if re_ is not None:
        for sa in astro_service_accounts(re_):
            subjects[f"astro-{sa}"] = (re_.deployment.oidc_issuer_url, naming.k8s_subject(re_.deployment.namespace, sa))
    return subjects
