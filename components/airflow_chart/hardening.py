"""Hardened pods for the official chart: resources, security contexts, service-account tokens, NetworkPolicies.

``pod_values(settings)`` returns values that :func:`components.airflow_chart.values.build_values`
deep-merges into its own. What it sets, following the chart's Production Guide:

* Security contexts with the guide's precedence: the global ``securityContexts.pod`` and
  ``securityContexts.containers`` hold the Airflow defaults (non-root uid 50000, gid 0, seccomp
  ``RuntimeDefault``, no privilege escalation, every capability dropped, read-only root file
  system); PgBouncer and StatsD, whose templates read only their own ``securityContexts`` and run
  as uid 65534, get the same settings locally.
* Read-only root file systems, except in task pods / Celery workers (user code may write anywhere; a team
  can turn it on with ``pods.workers.readOnlyRootFilesystem``): Airflow writes only to ``/tmp`` (temporary files, DAG bundle
  clones under ``[dag_processor] dag_bundle_storage_path``) and ``/opt/airflow/logs`` (an emptyDir
  the chart already mounts when log persistence is off), so ``/tmp`` is an emptyDir on every
  Airflow pod (``volumes``/``volumeMounts``, which the chart hands every Airflow container, task
  pods included) and on PgBouncer (its Unix socket directory).
* ``automountServiceAccountToken: false`` on every service account. Under KubernetesExecutor two
  components need the Kubernetes API: the scheduler (it creates task pods), for which the chart
  mounts a projected token explicitly (``scheduler.serviceAccount.serviceAccountTokenVolume``), and
  the api-server (it reads the logs of running task pods), which gets the same projected volume
  through ``apiServer.extraVolumes``, mounted into the api-server container only. Task pods get no token unless
  ``pods.workers.kubernetesApiToken`` (in-cluster KubernetesPodOperator). Workload identity keeps working: the EKS pod identity
  webhook (IRSA) and the AKS workload identity webhook inject their own projected token volume
  (audience ``sts.amazonaws.com`` / ``api://AzureADTokenExchange``) whatever the automount setting.
* Requests and limits per component from ``pods`` (the chart gives a component's init containers its own);
  the log-groomer and metrics-exporter sidecars get fixed small sizes.
* ``networkPolicies.enabled``: the chart's NetworkPolicies admit only the traffic between its own
  components (and to the API server's port).
"""

from __future__ import annotations

from typing import Any

from components.settings.model import Settings
from components.settings.pods import SIDECAR_RESOURCES

AIRFLOW_UID = 50000
NOBODY_UID = 65534
SAFE_TO_EVICT_ANNOTATION = "cluster-autoscaler.kubernetes.io/safe-to-evict"
TMP_VOLUME = "tmp"

POD_LAUNCHING_EXECUTORS = ("KubernetesExecutor",)
PODS_KEY = {
    "scheduler": "scheduler",
    "apiServer": "api_server",
    "dagProcessor": "dag_processor",
    "triggerer": "triggerer",
    "workers": "workers",
}
"""Chart key -> field of :class:`~components.settings.pods.PodsSettings`."""
KUBE_API_ACCESS_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
KUBE_API_ACCESS_VOLUME: dict[str, Any] = {
    "name": "kube-api-access",
    "projected": {
        "defaultMode": 0o444,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3600, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
    },
}
"""What the automount would give (token, cluster CA, namespace), mounted explicitly into one container."""
POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": AIRFLOW_UID,
    "runAsGroup": 0,
    "fsGroup": 0,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _nobody(pod: bool) -> dict[str, Any]:
    if pod:
        return {**POD_SECURITY, "runAsUser": NOBODY_UID, "runAsGroup": NOBODY_UID, "fsGroup": NOBODY_UID}
    return {**CONTAINER_SECURITY, "runAsUser": NOBODY_UID}


def pod_values(s: Settings) -> dict[str, Any]:
    """Values for hardened pods (merged under the program's own values)."""
    pods = s.pods
    tmp_volume = {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "1Gi"}}
    tmp_mount = {"name": TMP_VOLUME, "mountPath": "/tmp"}
    sidecar = {"resources": SIDECAR_RESOURCES.values()}
    no_token = {"serviceAccount": {"automountServiceAccountToken": False}}

    def airflow_component(settings_key: str, *, groomer: bool = True) -> dict[str, Any]:
        pod = getattr(pods, settings_key)
        values: dict[str, Any] = {"resources": pods.resources(settings_key).values(), **no_token}
        if groomer:
            values["logGroomerSidecar"] = sidecar
        if pod.safe_to_evict is not None:
            values["safeToEvict"] = pod.safe_to_evict
        return values

    scheduler = airflow_component("scheduler")
    if s.executor in POD_LAUNCHING_EXECUTORS:
        scheduler["serviceAccount"] = {
            "automountServiceAccountToken": False,
            "serviceAccountTokenVolume": {"enabled": True},
        }
    api_server: dict[str, Any] = {"resources": pods.resources("api_server").values(), **no_token}
    if s.executor in POD_LAUNCHING_EXECUTORS:
        # live logs of running task pods are read from the Kubernetes API (the chart's pod-log-reader Role)
        api_server["extraVolumes"] = [KUBE_API_ACCESS_VOLUME]
        api_server["extraVolumeMounts"] = [{"name": KUBE_API_ACCESS_VOLUME["name"], "mountPath": KUBE_API_ACCESS_PATH, "readOnly": True}]
    if pods.api_server.safe_to_evict is not None:
        api_server["podAnnotations"] = {SAFE_TO_EVICT_ANNOTATION: str(pods.api_server.safe_to_evict).lower()}
    dag_processor = airflow_component("dag_processor")
    if pods.dag_processor.replicas is not None:
        dag_processor["replicas"] = pods.dag_processor.replicas

    values: dict[str, Any] = {
        "images": {name: {"pullPolicy": "Always"} for name in ("airflow", "pod_template", "pgbouncer", "pgbouncerExporter", "statsd")},
        "uid": AIRFLOW_UID,
        "gid": 0,
        "securityContexts": {"pod": POD_SECURITY, "containers": CONTAINER_SECURITY},
        "networkPolicies": {"enabled": True},
        "volumes": [tmp_volume],
        "volumeMounts": [tmp_mount],
        "scheduler": scheduler,
        "apiServer": api_server,
        "dagProcessor": dag_processor,
        "triggerer": airflow_component("triggerer"),
        "workers": airflow_component("workers"),
        "migrateDatabaseJob": {"resources": pods.resources("jobs").values(), **no_token},
        "createUserJob": {"resources": pods.resources("jobs").values(), **no_token},
        "databaseCleanup": {"resources": pods.resources("jobs").values(), **no_token},
        "statsd": {
            "resources": pods.resources("statsd").values(),
            "securityContexts": {"pod": _nobody(pod=True), "container": _nobody(pod=False)},
            **no_token,
        },
    }
    # task code is the teams' own and writes where it likes (caches under $HOME, tool output folders):
    # the task pods keep a writable root file system, everything else of the hardening applies
    values["workers"]["securityContexts"] = {
        "container": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": pods.workers.read_only_root_filesystem}
    }
    if s.task_logs.enabled:
        # [logging] delete_local_logs (TaskLogStore): uploaded task logs leave the disk, nothing left to groom
        values["workers"]["logGroomerSidecar"] = {"enabled": False}
    if pods.workers.kubernetes_api_token:
        values["workers"]["serviceAccount"] = {"automountServiceAccountToken": True}
    if s.executor == "CeleryExecutor":
        values["workers"]["replicas"] = pods.workers.replicas
        values["workers"]["celery"] = {"concurrency": pods.workers.concurrency}
    if s.pgbouncer_enabled:
        pgbouncer: dict[str, Any] = {
            "resources": pods.resources("pgbouncer").values(),
            "securityContexts": {"pod": _nobody(pod=True), "container": _nobody(pod=False)},
            "metricsExporterSidecar": {**sidecar, "securityContexts": {"container": _nobody(pod=False)}},
            "extraVolumes": [tmp_volume],
            "extraVolumeMounts": [tmp_mount],
            **no_token,
        }
        if pods.pgbouncer.safe_to_evict is not None:
            pgbouncer["podAnnotations"] = {SAFE_TO_EVICT_ANNOTATION: str(pods.pgbouncer.safe_to_evict).lower()}
        values["pgbouncer"] = pgbouncer
    if pods.statsd.safe_to_evict is not None:
        values["statsd"]["podAnnotations"] = {SAFE_TO_EVICT_ANNOTATION: str(pods.statsd.safe_to_evict).lower()}
    return values
