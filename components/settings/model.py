"""The typed settings of one stack (team x environment): every key, its type and its derived names."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from components import naming
from components.settings import budget
from components.settings.access import MetricsSettings, UiAccess
from components.settings.airflow import ConnectionSpec, DagBundle, DatabaseSettings, RemoteCluster
from components.settings.broker import BrokerSettings
from components.settings.clouds import AwsSettings, AzureSettings
from components.settings.fields import DNS_LABEL, StrictModel
from components.settings.pods import PodsSettings
from components.settings.remote_execution import RemoteExecutionSettings, astro_service_accounts

IMAGE_DIGEST = r"^sha256:[0-9a-f]{64}$"
ConfigValue = str | int | float | bool

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
    "airflowImageDigest",
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
    "externalScheduler",
    "externalApiServer",
)
"""Keys declared with a type and default in ``Pulumi.yaml``."""
STRUCTURED_KEYS = (
    "aws",
    "azure",
    "database",
    "dagBundles",
    "connections",
    "remoteClusters",
    "remoteExecution",
    "pods",
    "uiAccess",
    "metrics",
    "broker",
    "helmValues",
    "airflowConfig",
)
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
    airflow_image_repository: str = Field(pattern=r"^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(@sha256:[0-9a-f]{64})?$")
    """Repository, or ``repository@sha256:<digest>`` (same as ``airflowImageDigest``)."""
    airflow_image_tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$|^$")
    airflow_image_digest: str = Field(default="", pattern=IMAGE_DIGEST + "|^$")
    """``sha256:<64 hex>``: pods run exactly this image (the tag is then informational)."""
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
    pods: PodsSettings = PodsSettings()
    ui_access: UiAccess = UiAccess()
    metrics: MetricsSettings = MetricsSettings()
    broker: BrokerSettings = BrokerSettings()
    """The Celery broker (CeleryExecutor only). Default: the cloud's managed Redis, created here."""
    external_scheduler: bool = False
    """The chart runs no scheduler (Production Guide "External Scheduler"); needs CeleryExecutor with the managed
    broker, whose URL the external scheduler reads from the Secret named in the stack output ``broker_url_secret``."""
    external_api_server: bool = False
    """The chart runs no api-server (Production Guide "External API Server"); needs
    ``airflowConfig.core.execution_api_server_url`` (the external api-server's Task Execution API)."""
    helm_values: dict[str, Any] = Field(default_factory=dict)
    """Merged last into the chart values (the agent chart's in remote-execution mode); owned paths refused."""
    airflow_config: dict[str, dict[str, ConfigValue]] = Field(default_factory=dict)
    """``airflow.cfg`` sections -> key -> value, handed to the chart's ``config``; owned keys refused."""

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
    def image_repository(self) -> str:
        """Repository without any ``@sha256:`` suffix."""
        return self.airflow_image_repository.split("@", 1)[0]

    @property
    def image_digest(self) -> str | None:
        """Digest the pods run (``airflowImageDigest`` or the repository's ``@sha256:``), or None."""
        _, _, from_repo = self.airflow_image_repository.partition("@")
        return self.airflow_image_digest or from_repo or None

    @property
    def pgbouncer_replicas(self) -> int:
        if not self.pgbouncer_enabled:
            return 0
        return self.pods.pgbouncer.replicas or (2 if self.environment == "prod" else 1)

    def budget_load(self) -> budget.Load:
        """The load the connection budget is planned for."""
        cfg = self.airflow_config
        return budget.Load(
            scheduler_replicas=self.scheduler_replicas,
            api_server_replicas=self.api_server_replicas,
            dag_processor_replicas=self.pods.dag_processor.replicas or 1,
            triggerer_replicas=self.triggerer_replicas,
            celery_slots=self.pods.workers.replicas * self.pods.workers.concurrency if self.executor == "CeleryExecutor" else 0,
            pgbouncer_replicas=self.pgbouncer_replicas,
            pool_size=int(cfg.get("database", {}).get("sql_alchemy_pool_size", budget.DEFAULT_POOL_SIZE)),
            max_overflow=int(cfg.get("database", {}).get("sql_alchemy_max_overflow", budget.DEFAULT_MAX_OVERFLOW)),
            api_workers=int(cfg.get("api", {}).get("workers", budget.DEFAULT_API_WORKERS)),
            parsing_processes=int(cfg.get("dag_processor", {}).get("parsing_processes", budget.DEFAULT_PARSING_PROCESSES)),
        )

    def connection_budget(self) -> budget.ConnectionBudget:
        """PgBouncer sizes and the database's headroom (self-hosted); :class:`budget.BudgetError` when it cannot fit."""
        db_max = budget.max_connections(self.cloud, self.database.instance_class)
        if db_max is None:
            raise budget.BudgetError(
                "database.instanceClass",
                self.database.instance_class,
                "max_connections of this class is not known; supported: "
                + (
                    "RDS db.{t3,t4g,m5,m6g,m6i,m7g,m7i,m8g,r5,r6g,r6i,r7g,r7i,r8g}.<size>"
                    if self.cloud == "aws"
                    else "Standard_B1ms..B20ms, Standard_D<n>[a]ds_v4/v5, Standard_E<n>[a]ds_v4/v5"
                ),
            )
        try:
            return budget.plan(
                self.budget_load(),
                db_max,
                pool_override=self.database.pgbouncer_pool_size,
                max_client_override=self.database.pgbouncer_max_client_conn,
            )
        except budget.BudgetError as error:
            if error.setting != "database.instanceClass":
                raise
            default = budget.RDS_DEFAULT_CLASS if self.cloud == "aws" else budget.AZURE_DEFAULT_SKU
            raise budget.BudgetError(error.setting, self.database.instance_class or default, error.message) from None

    @property
    def managed_broker(self) -> bool:
        """The program creates the cloud's Redis as the Celery broker."""
        return self.self_hosted and self.executor == "CeleryExecutor" and self.broker.mode == "managed"

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
            accounts = naming.chart_service_accounts(self.release_name, self.executor)
            # a component the chart does not run has no service account to trust
            external = {"scheduler": self.external_scheduler, "apiServer": self.external_api_server}
            return {key: sa for key, sa in accounts.items() if not external.get(key)}
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
