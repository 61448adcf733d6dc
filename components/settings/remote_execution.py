"""Settings of Remote Execution: the Astro Deployment and the agents that run its tasks in our cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.settings.fields import DNS_LABEL, HTTPS_URL, K8S_QUANTITY, StrictModel


class AstroDeployment(StrictModel):
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


class SchedulerAccess(StrictModel):
    """Which Astro-hosted service accounts may read the secrets backend (custom timetables)."""

    mode: Literal["wildcard", "explicit", "none"] = "explicit"
    """``explicit`` (default): the listed names. ``wildcard`` (AWS only, refused in prod): every service account of the
    Deployment namespace. ``none``: no Astro access (no timetable connections allowed)."""
    service_accounts: tuple[str, ...] = ()
    """Explicit mode. Default: ``<ns>-scheduler-serviceaccount`` and ``<ns>-apiserver-serviceaccount``."""


class AgentResources(StrictModel):
    cpu: str = Field(default="1", pattern=K8S_QUANTITY)
    """CPU request and limit (Kubernetes quantity). Default: 1 core."""
    memory: str = Field(default="2Gi", pattern=K8S_QUANTITY)
    """Memory request and limit (Kubernetes quantity). Default: 2 GiB."""
    ephemeral_storage: str = Field(default="1Gi", pattern=K8S_QUANTITY)
    """Ephemeral-storage request and limit (Kubernetes quantity). Default: 1 GiB."""


class AgentWorkerGroup(StrictModel):
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


class LocalDags(StrictModel):
    """Where LocalDagBundle DAGs come from on the agents."""

    source: Literal["image", "pvc"]
    """``image``: DAGs baked into the agent image. ``pvc``: a ReadWriteMany PVC created here, mounted read-only."""
    storage_class_name: str | None = None
    """``pvc``: a ReadWriteMany class (e.g. ``efs-sc``, ``azurefile-csi``)."""
    size_gi: int = Field(default=20, ge=1, le=10000)
    """``pvc``: size of the DAGs volume, in GiB."""


class RemoteExecutionSettings(StrictModel):
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
    """Astro-hosted service accounts allowed to read the backend. Default: ``explicit`` (the scheduler's and api-server's)."""
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


def astro_service_accounts(re_: RemoteExecutionSettings) -> tuple[str, ...]:
    """Astro-hosted service accounts named one by one: the explicit list, else the scheduler's and api-server's."""
    access = re_.scheduler_access
    if access.mode == "none":
        return ()
    if access.service_accounts:
        return access.service_accounts
    ns = re_.deployment.namespace
    return (f"{ns}-scheduler-serviceaccount", f"{ns}-apiserver-serviceaccount")
