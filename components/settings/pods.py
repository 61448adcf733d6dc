"""Settings of the pods the official chart runs: resources, eviction and the load each component declares.

Defaults are sized for a small production instance (requests what an idle component uses, limits
what a busy one may reach); every component can be resized under ``pods.<component>``.
"""

from __future__ import annotations

from pydantic import Field

from components.settings.fields import K8S_QUANTITY, StrictModel


class Quantities(StrictModel):
    cpu: str = Field(pattern=K8S_QUANTITY)
    """CPU (Kubernetes quantity, e.g. ``500m``)."""
    memory: str = Field(pattern=K8S_QUANTITY)
    """Memory (Kubernetes quantity, e.g. ``1Gi``)."""


class Resources(StrictModel):
    requests: Quantities
    """What the scheduler reserves on a node for the container."""
    limits: Quantities
    """Ceiling: CPU is throttled above it, the container is OOM-killed above the memory limit."""

    def values(self) -> dict[str, dict[str, str]]:
        return {"requests": self.requests.model_dump(), "limits": self.limits.model_dump()}


def _res(cpu_req: str, mem_req: str, cpu_lim: str, mem_lim: str) -> Resources:
    return Resources(requests=Quantities(cpu=cpu_req, memory=mem_req), limits=Quantities(cpu=cpu_lim, memory=mem_lim))


SIDECAR_RESOURCES = _res("50m", "128Mi", "250m", "256Mi")
"""Log groomers and the PgBouncer metrics exporter (fixed: small, steady)."""


class PodSettings(StrictModel):
    resources: Resources | None = None
    """Requests and limits of the component's main container. Default: the component's (see ``pods``)."""
    safe_to_evict: bool | None = None
    """Cluster-autoscaler ``safe-to-evict``. Default: the chart's (scheduler, dag-processor, triggerer true; workers false;
    others unset). Refused true for KubernetesExecutor workers and for jobs."""


class ReplicatedPodSettings(StrictModel):
    resources: Resources | None = None
    """Requests and limits of the component's main container. Default: the component's (see ``pods``)."""
    safe_to_evict: bool | None = None
    """Cluster-autoscaler ``safe-to-evict``. Default: the chart's (scheduler, dag-processor, triggerer true; workers false;
    others unset). Refused true for KubernetesExecutor workers and for jobs."""
    replicas: int | None = Field(default=None, ge=1, le=20)
    """Replicas. Default: 1 (PgBouncer: 2 in prod, 1 elsewhere)."""


class WorkerPodSettings(StrictModel):
    resources: Resources | None = None
    """Requests and limits of the component's main container. Default: the component's (see ``pods``)."""
    safe_to_evict: bool | None = None
    """Cluster-autoscaler ``safe-to-evict``. Default: the chart's (scheduler, dag-processor, triggerer true; workers false;
    others unset). Refused true for KubernetesExecutor workers and for jobs."""
    replicas: int = Field(default=1, ge=1, le=100)
    """CeleryExecutor only: Celery worker pods (KubernetesExecutor starts one pod per task)."""
    concurrency: int = Field(default=16, ge=1, le=256)
    """CeleryExecutor only: task slots per worker pod (``[celery] worker_concurrency``)."""
    read_only_root_filesystem: bool = False
    """Celery workers and KubernetesExecutor task pods with a read-only root file system (``/tmp`` stays writable).
    Default: off, task code is the teams' own and may write anywhere (caches under ``$HOME``, tool output)."""
    kubernetes_api_token: bool = False
    """Mount the workers' service-account token (the chart binds the pod-launcher Role to it) so tasks can run
    in-cluster KubernetesPodOperator. Default: off, task code gets no Kubernetes credentials."""


DEFAULT_RESOURCES: dict[str, Resources] = {
    "scheduler": _res("500m", "1Gi", "2", "2Gi"),
    "api_server": _res("250m", "1Gi", "1", "2Gi"),
    "dag_processor": _res("500m", "1Gi", "2", "2Gi"),
    "triggerer": _res("250m", "512Mi", "1", "1Gi"),
    "workers": _res("500m", "1Gi", "2", "2Gi"),
    "pgbouncer": _res("100m", "128Mi", "500m", "256Mi"),
    "statsd": _res("50m", "64Mi", "200m", "128Mi"),
    "jobs": _res("250m", "512Mi", "1", "1Gi"),
}
"""Requests and limits of each component when ``pods.<component>.resources`` is not given."""


class PodsSettings(StrictModel):
    """Per component: resources, ``safeToEvict`` and, where the scalar keys do not say it, replicas."""

    def resources(self, component: str) -> Resources:
        """The component's resources: its setting, else :data:`DEFAULT_RESOURCES`."""
        return getattr(self, component).resources or DEFAULT_RESOURCES[component]

    scheduler: PodSettings = PodSettings()
    """Scheduler (replicas: ``schedulerReplicas``). Default 500m/1Gi, limits 2/2Gi."""
    api_server: PodSettings = PodSettings()
    """API server (replicas: ``apiServerReplicas``). Default 250m/1Gi, limits 1/2Gi."""
    dag_processor: ReplicatedPodSettings = ReplicatedPodSettings()
    """DAG processor. Default 500m/1Gi, limits 2/2Gi, 1 replica."""
    triggerer: PodSettings = PodSettings()
    """Triggerer (replicas: ``triggererReplicas``). Default 250m/512Mi, limits 1/1Gi."""
    workers: WorkerPodSettings = WorkerPodSettings()
    """Task pods (KubernetesExecutor) or Celery workers. Default 500m/1Gi, limits 2/2Gi."""
    pgbouncer: ReplicatedPodSettings = ReplicatedPodSettings()
    """PgBouncer (``pgbouncerEnabled``). Default 100m/128Mi, limits 500m/256Mi."""
    statsd: PodSettings = PodSettings()
    """StatsD exporter. Default 50m/64Mi, limits 200m/128Mi."""
    jobs: PodSettings = PodSettings()
    """Migration, create-user and database-cleanup jobs. Default 250m/512Mi, limits 1/1Gi."""
