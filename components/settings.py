"""Typed stack settings: read once from Pulumi config, validated before any resource exists.

This is the only module that calls ``pulumi.Config``. ``load_settings()`` reads
every key of the project namespace, ``settings_from_config()`` turns the raw
mapping into a frozen :class:`Settings` (pure, used by tests and by the offline
renderer), and ``load_secret_inputs()`` reads the secret config keys that
connections point at. Any problem raises :class:`SettingsError` whose message is
one line naming the setting, the value received and what is allowed.

Scalar keys are declared in ``Pulumi.yaml`` with their type and default (the
Pulumi CLI applies those defaults; ``tools.stackfile`` does the same offline).
Structured keys (objects and lists of objects, which Pulumi's project schema
cannot type) are validated here and their defaults live in the models below.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from components import naming
from components.azure_regions import AZURE_REGIONS

PROJECT = "airflow-platform"

UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
HTTPS_URL = r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
AZURE_SUBNET_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$"
AZURE_DNS_ZONE_ID = (
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/privateDnsZones/"
    r"[^/]+\.postgres\.database\.azure\.com$"
)
AKS_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerService/managedClusters/[^/]+$"
K8S_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
AZURE_STORAGE_SIZES_GB = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
MAX_FEDERATED_CREDENTIALS = 20
"""Azure's limit of federated identity credentials on one user-assigned identity."""


class SettingsError(pulumi.RunError):
    """Invalid stack settings. ``str()`` is one line: setting, value received, what is allowed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid stack settings: " + "; ".join(p.render() for p in problems))


class Problem:
    """One invalid setting."""

    def __init__(self, setting: str, value: Any, allowed: str) -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed

    def render(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        key = self.setting if ":" in self.setting.split(".")[0] else f"{PROJECT}:{self.setting}"
        return f"{key} = {shown}: {self.allowed}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


# --------------------------------------------------------------------------- clouds


class AwsSettings(_Model):
    """The EKS cluster and network the platform is built around (they already exist)."""

    region: str = Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
    """AWS region, taken from the provider setting ``aws:region``."""
    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    """VPC of the EKS cluster; the database security group is created in it."""
    private_subnet_ids: tuple[str, ...] = Field(min_length=2)
    """Private subnets (in at least two AZs) for the database subnet group."""
    cluster_security_group_id: str = Field(pattern=r"^sg-[0-9a-f]{8,17}$")
    """Security group of the EKS nodes/pods: the only source allowed to reach the database."""
    oidc_provider_arn: str = Field(pattern=r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:oidc-provider/[A-Za-z0-9./_-]+$")
    """IAM OIDC provider of the EKS cluster, trusted by the secrets-reader role; its ARN also gives the partition and account."""
    oidc_issuer_url: str = Field(pattern=HTTPS_URL)
    """OIDC issuer URL of the EKS cluster; must be the issuer of ``oidcProviderArn``."""
    kms_key_arn: str | None = Field(default=None, pattern=r"^arn:aws(-cn|-us-gov)?:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
    """Customer-managed KMS key for RDS, Performance Insights and Secrets Manager. Default: AWS-managed keys."""
    permissions_boundary_arn: str | None = Field(default=None, pattern=r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:policy/.+$")
    """IAM policy set as permissions boundary of the secrets-reader role. Default: no boundary."""

    @field_validator("private_subnet_ids")
    @classmethod
    def _subnets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for subnet in value:
            if not re.match(r"^subnet-[0-9a-f]{8,17}$", subnet):
                raise ValueError(f"{subnet!r} is not a subnet id (subnet-xxxxxxxx)")
        if len(set(value)) != len(value):
            raise ValueError("subnet ids must be unique")
        return value

    @property
    def partition(self) -> str:
        return self.oidc_provider_arn.split(":")[1]

    @property
    def account_id(self) -> str:
        return self.oidc_provider_arn.split(":")[4]


def _ipv4_cidrs(value: tuple[str, ...]) -> tuple[str, ...]:
    for cidr in value:
        network = ipaddress.ip_network(cidr, strict=False)
        if network.version != 4 or network.prefixlen == 0:
            raise ValueError(f"{cidr!r}: only IPv4 CIDRs narrower than /0 are allowed")
    return value


Ipv4Cidrs = Annotated[tuple[str, ...], AfterValidator(_ipv4_cidrs)]
"""IPv4 CIDRs narrower than /0."""


class KeyVaultSettings(_Model):
    name: str
    """Key Vault name (3-24 characters, globally unique)."""
    create: bool = True
    """Create the vault (RBAC, soft delete, purge protection, default-deny network ACL). False: use an existing one."""
    resource_group_name: str | None = None
    """Resource group of an existing vault. Default: ``azure.resourceGroupName``."""
    soft_delete_retention_days: int = Field(default=90, ge=7, le=90)
    """Days (7-90) a deleted vault or secret stays recoverable; only for a vault created here."""
    allowed_ip_ranges: Ipv4Cidrs = ()
    """Public egress CIDRs the vault firewall admits besides the AKS subnet. Default: none. Remote Execution
    needs the Astro Deployment's external IPs here, since its scheduler reads the vault from Astronomer's network."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not naming.KEY_VAULT_NAME.match(value):
            raise ValueError("must be 3-24 letters, digits and '-', start with a letter, end with a letter or digit, no '--'")
        return value


class AzureDatabaseNetwork(_Model):
    mode: Literal["vnet", "public"] = "vnet"
    """``vnet``: VNet integration, public access off (production). ``public``: firewall rules (non-prod only)."""
    delegated_subnet_id: str | None = Field(default=None, pattern=AZURE_SUBNET_ID)
    """``vnet`` mode: subnet delegated to ``Microsoft.DBforPostgreSQL/flexibleServers`` that the server joins."""
    private_dns_zone_id: str | None = Field(default=None, pattern=AZURE_DNS_ZONE_ID)
    """``vnet`` mode: private DNS zone (``<name>.private.postgres.database.azure.com``) that resolves the server."""
    allowed_ip_ranges: Ipv4Cidrs = ()
    """``public`` mode only: CIDRs allowed through the server firewall."""


class AzureSettings(_Model):
    """The AKS cluster, subscription and network the platform is built around."""

    tenant_id: str = Field(pattern=UUID)
    """Entra tenant: the created Key Vault's tenant and the one the backend and kubelogin get tokens from."""
    subscription_id: str = Field(pattern=UUID)
    """Subscription holding the resource group; scopes the Key Vault role definition and locates an existing vault."""
    location: str
    """Azure region of every resource created here (server, vault, identities); must be a known region."""
    resource_group_name: str = Field(pattern=r"^[-\w._()]{1,90}$")
    """Existing resource group that receives the server, the managed identities and, by default, the vault."""
    oidc_issuer_url: str = Field(pattern=HTTPS_URL)
    """OIDC issuer URL of the AKS cluster that runs Airflow."""
    aks_subnet_id: str = Field(pattern=AZURE_SUBNET_ID)
    """Subnet of the AKS nodes: the only network the Key Vault admits."""
    key_vault: KeyVaultSettings
    """The Key Vault used as the secrets backend."""
    database_network: AzureDatabaseNetwork = AzureDatabaseNetwork()
    """How the Flexible Server is reached. Default: ``vnet`` mode (give ``delegatedSubnetId`` and ``privateDnsZoneId``)."""

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if value not in AZURE_REGIONS:
            raise ValueError(f"unknown Azure region; use one of: {', '.join(sorted(AZURE_REGIONS))}")
        return value


# --------------------------------------------------------------------------- database


class DatabaseSettings(_Model):
    """External metadata database. Defaults are production grade in every environment."""

    engine_version: Literal["14", "15", "16", "17"] = "16"
    """Major PostgreSQL version of the RDS instance or Flexible Server."""
    instance_class: str | None = None
    """AWS: ``db.*`` class (default ``db.m7g.large``). Azure: SKU name (default ``Standard_D2ds_v5``)."""
    storage_gb: int = Field(default=128, ge=20, le=16384)
    """Azure accepts 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192 or 16384."""
    max_storage_gb: int = Field(default=500, ge=20, le=65536)
    """AWS storage autoscaling ceiling."""
    backup_retention_days: int = Field(default=14, ge=1, le=35)
    """Days automated backups are kept (Azure: 7-35; prod: at least 7)."""
    high_availability: bool = True
    """AWS Multi-AZ / Azure zone-redundant HA (where the region has zones)."""
    deletion_protection: bool = True
    """AWS: RDS deletion protection, so the instance cannot be deleted (required in prod)."""
    final_snapshot: bool = True
    """AWS: take a final snapshot on deletion."""
    performance_insights: bool = True
    """AWS: Performance Insights with 7 days' retention, encrypted with ``aws.kmsKeyArn`` when set."""
    geo_redundant_backup: bool = True
    """Azure: geo-redundant backups, where the region offers them."""
    database_name: str = Field(default="airflow", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    """Name of the Airflow metadata database created on the server."""
    admin_username: str = Field(default="airflow_admin", pattern=r"^[a-z][a-z0-9_]{2,62}$")
    """Admin user Airflow connects as (its password is generated); names reserved by RDS or Azure are refused."""
    pgbouncer_pool_size: int = Field(default=20, ge=1, le=500)
    """``pgbouncerEnabled`` only: server connections PgBouncer keeps to the metadata database."""
    pgbouncer_max_client_conn: int = Field(default=200, ge=10, le=10000)
    """``pgbouncerEnabled`` only: client connections PgBouncer accepts at most."""

    @field_validator("admin_username")
    @classmethod
    def _reserved(cls, value: str) -> str:
        reserved = {"admin", "administrator", "root", "guest", "public", "rdsadmin", "azure_superuser", "azure_pg_admin", "postgres"}
        if value in reserved:
            raise ValueError(f"{value!r} is reserved by RDS or Azure; pick another name")
        return value


# --------------------------------------------------------------------------- airflow content


class DagBundle(_Model):
    """One entry of Airflow's ``dag_bundle_config_list``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    """Unique bundle name (``example_dags`` is reserved); also the PVC sub-path of a local bundle."""
    kind: Literal["git", "local"]
    """``git``: GitDagBundle cloned from ``repoUrl``/``gitConnId``. ``local``: LocalDagBundle reading ``path``."""
    repo_url: str | None = Field(default=None, pattern=r"^(https://\S+|git@[^\s:]+:\S+)$")
    """Git: repository URL. Needed for public repos; overrides the connection host otherwise."""
    git_conn_id: str | None = None
    """Git: the declared ``git`` connection holding the token. Omit for public repositories."""
    tracking_ref: str = "main"
    """Git: branch, tag or commit the bundle follows. Default: ``main``."""
    subdir: str | None = None
    """Git: folder of the repository that holds the DAGs. Default: the repository root."""
    refresh_interval_seconds: int = Field(default=300, ge=30, le=86400)
    """Git: seconds between refreshes of the tracking ref (30-86400)."""
    path: str | None = Field(default=None, pattern=r"^/\S*$")
    """Local: absolute folder of the DAG files (baked into the image or a mounted volume)."""


def _conn_id(value: str) -> str:
    problem = naming.conn_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


ConnId = Annotated[str, AfterValidator(_conn_id)]
"""A conn_id both secrets backends can store (see ``naming.conn_id_problem``)."""


class ConnectionSpec(_Model):
    """An Airflow connection written to the secrets backend."""

    conn_id: ConnId
    """Airflow connection id; also names the backend secret (Key Vault turns ``_`` into ``-``)."""
    conn_type: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,49}$")
    """Airflow connection type (e.g. ``git``, ``postgres``); ``kubernetes`` ones come from ``remoteClusters``."""
    host: str | None = None
    """Connection host; for ``git`` the repository URL (``https://...`` or ``git@...``). Default: omitted."""
    login: str | None = None
    """Connection login. Default: omitted."""
    schema_: str | None = Field(default=None, alias="schema")
    """Connection ``schema`` (config key ``schema``), e.g. the database name. Default: omitted."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Connection port (1-65535). Default: omitted."""
    extra: dict[str, str | int | float | bool] = {}
    """Non-secret ``extra`` fields (secret ones go in ``secretFields``); snowflake needs ``account``."""
    used_by_timetable: bool = False
    """A custom timetable reads it, so the scheduler must be able to read the backend."""
    secret_source: Literal["none", "config", "external"] = "none"
    """``config``: secret fields come from stack config secrets. ``external``: the team fills
    them in the backend out-of-band (placeholders are written once, later changes ignored)."""
    secret_fields: dict[str, str] | tuple[str, ...] = ()
    """Secret fields (``password`` or ``extra.<key>``). ``config``: map field -> config key; ``external``: list."""

    @property
    def secret_field_names(self) -> tuple[str, ...]:
        fields = self.secret_fields
        return tuple(fields) if isinstance(fields, dict) else fields


class RemoteCluster(_Model):
    """A remote AKS cluster in which tasks launch pods (Azure only)."""

    name: str = Field(pattern=DNS_LABEL, max_length=40)
    """Short DNS-label name; names the cluster's managed identity and its kubeconfig entries."""
    conn_id: ConnId
    """Id of the generated ``kubernetes`` connection that KubernetesPodOperator uses for this cluster."""
    resource_id: str = Field(pattern=AKS_ID)
    """ARM id of the AKS cluster; the identity's role is scoped to ``<resourceId>/namespaces/<namespace>``."""
    api_server_url: str = Field(pattern=HTTPS_URL)
    """API server URL written to the connection's kubeconfig (no trailing slash)."""
    certificate_authority_data: str
    """Base64 PEM of the cluster CA (``az aks get-credentials`` puts it in the kubeconfig)."""
    namespace: str = Field(pattern=DNS_LABEL, max_length=63)
    """Namespace the pods run in: the only one the identity gets ``role`` on, and the connection's default."""
    role: Literal["reader", "writer", "admin"] = "writer"
    """Azure Kubernetes RBAC role granted on that namespace only."""

    @field_validator("certificate_authority_data")
    @classmethod
    def _ca(cls, value: str) -> str:
        try:
            pem = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("must be base64 (certificate-authority-data of the kubeconfig)") from error
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            raise ValueError("must be a base64-encoded PEM certificate")
        return value


# --------------------------------------------------------------------------- remote execution


class AstroDeployment(_Model):
    """The Astro Deployment whose control plane runs at Astronomer."""

    api_url: str = Field(pattern=HTTPS_URL)
    """API URL of the Deployment (chart ``astroDeploymentAPIURL``), shown on Astro's Remote Agents page."""
    organization_id: str = Field(min_length=1)
    """Astro organization id, passed to the agents as ``ASTRO_ORGANIZATION_ID``."""
    workspace_id: str = Field(min_length=1)
    """Astro workspace id, passed to the agents as ``ASTRO_WORKSPACE_ID``."""
    deployment_id: str = Field(min_length=1)
    """Astro Deployment id, passed to the agents as ``ASTRO_DEPLOYMENT_ID``."""
    namespace: str = Field(pattern=DNS_LABEL, max_length=63)
    """Kubernetes namespace of the Deployment in the Astro cluster (its scheduler runs there)."""
    oidc_issuer_url: str = Field(pattern=HTTPS_URL)
    """OIDC issuer of the Astro cluster (Customer Managed Identity page)."""
    oidc_provider_arn: str | None = Field(default=None, pattern=r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:oidc-provider/.+$")
    """AWS: an existing IAM OIDC provider for that issuer. Default: one is created."""


class SchedulerAccess(_Model):
    """Which Astro-hosted service accounts may read the secrets backend (custom timetables)."""

    mode: Literal["wildcard", "explicit", "none"] | None = None
    """Default: ``wildcard`` on AWS, ``explicit`` on Azure. ``wildcard`` (AWS only): every service account of the Deployment namespace.
    ``explicit``: the listed names. ``none``: no Astro access (no timetable connections allowed)."""
    service_accounts: tuple[str, ...] = ()
    """Explicit mode. Default: ``<ns>-scheduler-serviceaccount`` and ``<ns>-apiserver-serviceaccount``."""


class AgentResources(_Model):
    cpu: str = Field(default="1", pattern=K8S_QUANTITY)
    """CPU request and limit (Kubernetes quantity). Default: 1 core."""
    memory: str = Field(default="2Gi", pattern=K8S_QUANTITY)
    """Memory request and limit (Kubernetes quantity). Default: 2 GiB."""
    ephemeral_storage: str = Field(default="1Gi", pattern=K8S_QUANTITY)
    """Ephemeral-storage request and limit (Kubernetes quantity). Default: 1 GiB."""


class AgentWorkerGroup(_Model):
    name: str = Field(pattern=DNS_LABEL, max_length=30)
    """Unique group name; names its service account ``<resourceNamePrefix>-worker-<name>``."""
    queues: str = Field(default="default", pattern=r"^[A-Za-z0-9_.,-]+$")
    """Queue(s) the group takes tasks from, comma-separated; must match the tasks' ``queue``."""
    replicas: int = Field(default=1, ge=1, le=100)
    """Number of worker pods in the group."""
    sync_slots: int = Field(default=20, ge=1, le=1000)
    """Concurrent tasks per worker pod; group capacity is ``syncSlots`` x ``replicas``."""
    image: str | None = None
    """Override of ``remoteExecution.agentImage`` for this group."""
    resources: AgentResources = AgentResources()
    """CPU/memory/ephemeral storage of each worker pod (requests = limits)."""
    termination_grace_period_seconds: int = Field(default=600, ge=0, le=86400)
    """Seconds running tasks get to finish when a worker pod is stopped."""


class LocalDags(_Model):
    """Where LocalDagBundle DAGs come from on the agents."""

    source: Literal["image", "pvc"]
    """``image``: DAGs baked into the agent image. ``pvc``: a ReadWriteMany PVC created here, mounted read-only."""
    storage_class_name: str | None = None
    """``pvc``: a ReadWriteMany class (e.g. ``efs-sc``, ``azurefile-csi``)."""
    size_gi: int = Field(default=20, ge=1, le=10000)
    """``pvc``: size of the DAGs volume, in GiB."""


class RemoteExecutionSettings(_Model):
    deployment: AstroDeployment
    """The Astro Deployment whose tasks the agents run."""
    agent_image: str = Field(min_length=3)
    """Agent image of the workers, DAG processor and triggerer (a worker group may override it)."""
    sentinel_image: str = Field(min_length=3)
    """Image of the Sentinel, which always runs; use the tag matching the agent version."""
    resource_name_prefix: str = Field(default="astro-agent", pattern=DNS_LABEL, max_length=30)
    """Helm release name and prefix of every agent resource (service accounts, token Secret, DAGs PVC)."""
    image_pull_secret_name: str = Field(default="astro-registry", pattern=DNS_LABEL)
    """Secret the agent pods pull images with; created if ``createImagePullSecret``, otherwise it must exist."""
    create_image_pull_secret: bool = True
    """Create the pull secret for ``images.astronomer.cloud`` from the config secret ``astroRegistryToken``."""
    scheduler_access: SchedulerAccess = SchedulerAccess()
    """Astro-hosted service accounts allowed to read the backend. Default: ``wildcard``, which Azure refuses."""
    worker_groups: tuple[AgentWorkerGroup, ...] = (AgentWorkerGroup(name="default"),)
    """Worker groups with unique names, one worker Deployment each. Default: a single group ``default``."""
    dag_processor_resources: AgentResources = AgentResources()
    """CPU/memory/ephemeral storage of the DAG processor pod (requests = limits)."""
    triggerer_replicas: int = Field(default=1, ge=1, le=20)
    """Number of triggerer pods (1000 async slots each)."""
    triggerer_resources: AgentResources = AgentResources()
    """CPU/memory/ephemeral storage of each triggerer pod (requests = limits)."""
    local_dags: LocalDags | None = None
    """Where local bundles' DAGs come from; required with a ``local`` bundle. Default: none (git bundles only)."""
    xcom_backend: str = "airflow.sdk.execution_time.xcom.BaseXCom"
    """XCom backend class of the agents. Default: Airflow's ``BaseXCom`` (XComs in the Astro metadata database)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of every agent component."""


# --------------------------------------------------------------------------- the stack


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
)
"""Keys declared with a type and default in ``Pulumi.yaml``."""
STRUCTURED_KEYS = ("aws", "azure", "database", "dagBundles", "connections", "remoteClusters", "remoteExecution")
"""Keys holding objects or lists of objects; their shape is validated by the models here."""


class Settings(_Model):
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
    """Empty: the backend's own (``airflow/connections`` or ``airflow-connections``)."""
    variables_prefix: str = Field(pattern=r"^[A-Za-z0-9/_+=.@-]{0,200}$")
    """Empty: variable lookups in the backend are off."""
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
        if self.connections_prefix:
            return self.connections_prefix.rstrip("/-")
        return naming.AWS_DEFAULT_CONNECTIONS_PREFIX if self.cloud == "aws" else naming.AZURE_DEFAULT_CONNECTIONS_PREFIX

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


def settings_from_config(raw: Mapping[str, Any], *, stack: str, aws_region: str | None = None) -> Settings:
    """Validate the project-namespace config mapping (keys without ``airflow-platform:``).

    ``aws_region`` is the AWS provider's ``aws:region``, which the AWS section shares.
    """
    unknown = sorted(set(raw) - set(SCALAR_KEYS) - set(STRUCTURED_KEYS))
    if unknown:
        raise SettingsError(
            [Problem(key, raw[key], f"unknown setting; known settings are {', '.join(SCALAR_KEYS + STRUCTURED_KEYS)}") for key in unknown]
        )
    data = {key: value for key, value in raw.items() if value is not None}
    if isinstance(data.get("aws"), dict):
        if "region" in data["aws"]:
            raise SettingsError(
                [Problem("aws.region", data["aws"]["region"], "set the region with aws:region (shared with the AWS provider)")]
            )
        if aws_region is None and data.get("cloud") == "aws":
            raise SettingsError([Problem("aws:region", None, "required: pulumi config set aws:region <region>")])
        data["aws"] = {**data["aws"], "region": aws_region}
    try:
        settings = Settings.model_validate({**data, "stack": stack})
    except ValidationError as error:
        raise SettingsError([_problem_from_pydantic(e) for e in error.errors()]) from None
    settings = _with_cloud_defaults(settings)
    problems = check_rules(settings)
    if problems:
        raise SettingsError(problems)
    return settings


def _with_cloud_defaults(s: Settings) -> Settings:
    """Resolve defaults that depend on the cloud (Entra federated credentials take no wildcard)."""
    re_ = s.remote_execution
    if re_ is None or re_.scheduler_access.mode is not None:
        return s
    access = re_.scheduler_access.model_copy(update={"mode": "wildcard" if s.cloud == "aws" else "explicit"})
    return s.model_copy(update={"remote_execution": re_.model_copy(update={"scheduler_access": access})})


_UNION_MEMBER_TAGS = frozenset({"str", "int", "float", "bool", "function-after", "tagged-union"})
"""Location parts pydantic adds for union members and validators; setting names never look like these."""


def _problem_from_pydantic(error: Mapping[str, Any]) -> Problem:
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_MEMBER_TAGS or "[" in part:
            continue
        else:
            path += f".{part}" if path else str(part)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return Problem(path, None, "required setting is missing")
    if error["type"] == "literal_error":
        message = "must be " + message.removeprefix("Input should be ")
    if error["type"] == "string_pattern_mismatch":
        message = "does not match " + error["ctx"]["pattern"]
    return Problem(path, error.get("input"), message)


# --------------------------------------------------------------------------- cross-field rules


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

    _check_production(s, add)
    _check_database(s, add)
    _check_connections(s, add)
    _check_bundles(s, add)
    if s.azure is not None:
        _check_azure(s, s.azure, add)
    if s.aws is not None:
        _check_aws(s, s.aws, add)
    if s.remote_execution is not None:
        _check_remote_execution(s, s.remote_execution, add)
    return problems


def _check_production(s: Settings, add) -> None:
    if s.environment != "prod":
        return
    rule = "production stacks keep this safety default; relax it only in dev or staging"
    if not s.protect_stateful:
        add(Problem("protectStateful", False, rule))
    if not s.self_hosted:
        return
    db = s.database
    if not db.deletion_protection:
        add(Problem("database.deletionProtection", False, rule))
    if not db.high_availability:
        add(Problem("database.highAvailability", False, rule))
    if db.backup_retention_days < 7:
        add(Problem("database.backupRetentionDays", db.backup_retention_days, "must be at least 7 in prod"))
    if s.cloud == "aws" and not db.final_snapshot:
        add(Problem("database.finalSnapshot", False, rule))
    if s.azure is not None and s.azure.database_network.mode == "public":
        add(Problem("azure.databaseNetwork.mode", "public", "prod databases use VNet integration (public access off)"))


def _check_database(s: Settings, add) -> None:
    db = s.database
    if db.max_storage_gb < db.storage_gb:
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
        if conn.conn_type == "git" and (not conn.host or not re.match(r"^(https://|git@)", conn.host)):
            add(Problem(f"{where}.host", conn.host, "a git connection's host is the repository URL (https://... or git@...)"))
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
                    f"both map to Key Vault secret {name!r} (names are case-insensitive, '_' becomes '-'); rename one",
                )
            )
        for conn_id in s.all_conn_ids():
            name = naming.key_vault_secret_name(prefix, conn_id)
            if not naming.KEY_VAULT_SECRET_NAME.match(name):
                add(Problem("connections", conn_id, f"Key Vault secret name {name!r} must be 1-127 of [0-9a-zA-Z-]"))
    else:
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


def astro_service_accounts(re_: RemoteExecutionSettings) -> tuple[str, ...]:
    """Astro-hosted service accounts named one by one: the explicit list, else the scheduler's and api-server's."""
    access = re_.scheduler_access
    if access.mode == "none":
        return ()
    if access.service_accounts:
        return access.service_accounts
    ns = re_.deployment.namespace
    return (f"{ns}-scheduler-serviceaccount", f"{ns}-apiserver-serviceaccount")


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
    role = f"{s.prefix}-airflow-secrets-reader"
    if not naming.IAM_ROLE_NAME.match(role):
        add(Problem("team", s.team, f"IAM role name {role!r} would exceed 64 characters"))


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


# --------------------------------------------------------------------------- reading pulumi config


def load_settings() -> Settings:
    """Read and validate the current stack's settings. Raises :class:`SettingsError`."""
    config = pulumi.Config()
    raw: dict[str, Any] = {}
    for key in SCALAR_KEYS:
        raw[key] = config.get(key)
    for key in STRUCTURED_KEYS:
        raw[key] = _structured(config.get(key))
    for key in _unknown_project_keys(_referenced_secret_keys(raw.get("connections"))):
        raw[key] = config.get(key)
    return settings_from_config(raw, stack=pulumi.get_stack(), aws_region=pulumi.Config("aws").get("region"))


def _structured(text: str | None) -> Any:
    """Decode a structured config value; a non-JSON scalar is passed on for the model to reject by name."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _referenced_secret_keys(connections: Any) -> set[str]:
    """Config keys that connections name as the source of a secret field."""
    keys: set[str] = set()
    for conn in connections if isinstance(connections, list) else []:
        fields = conn.get("secretFields") if isinstance(conn, dict) else None
        if isinstance(fields, dict):
            keys.update(str(v) for v in fields.values())
    return keys


def _unknown_project_keys(referenced: set[str]) -> list[str]:
    """Keys of our namespace present in the stack config that no setting declares (typos)."""
    present = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())
    known = set(SCALAR_KEYS) | set(STRUCTURED_KEYS) | set(SECRET_KEYS) | referenced
    keys = [k.split(":", 1)[1] for k in present if k.startswith(f"{PROJECT}:")]
    return sorted(k for k in keys if k not in known)


def _is_secret(key: str) -> bool:
    return pulumi.runtime.is_config_secret(f"{PROJECT}:{key}")


SECRET_KEYS = ("astroAgentToken", "astroRegistryToken")
"""Secret keys declared in ``Pulumi.yaml`` (``pulumi config set --secret``)."""


def load_secret_inputs(s: Settings) -> dict[str, pulumi.Output[str]]:
    """Secret config values the program needs, by config key. Raises :class:`SettingsError`.

    Only presence and secret-ness are checked; values never leave an Output.
    """
    config = pulumi.Config()
    wanted: dict[str, str] = {}
    for i, conn in enumerate(s.connections):
        if conn.secret_source == "config" and isinstance(conn.secret_fields, dict):
            for field, key in conn.secret_fields.items():
                wanted[key] = f"connections[{i}].secretFields.{field}"
    if s.remote_execution is not None:
        wanted["astroAgentToken"] = "astroAgentToken"
        if s.remote_execution.create_image_pull_secret:
            wanted["astroRegistryToken"] = "astroRegistryToken"
    problems: list[Problem] = []
    values: dict[str, pulumi.Output[str]] = {}
    for key, setting in wanted.items():
        if not _is_secret(key):
            present = pulumi.runtime.get_config(f"{PROJECT}:{key}") is not None
            how = "is stored in plain text" if present else "is not set"
            problems.append(Problem(setting, key, f"config key {key!r} {how}; run: pulumi config set --secret {key} <value>"))
            continue
        value = config.get_secret(key)
        if value is None:
            problems.append(Problem(setting, key, f"run: pulumi config set --secret {key} <value>"))
            continue
        values[key] = value
    if problems:
        raise SettingsError(problems)
    return values
