"""Values for Astronomer's ``astro-remote-execution-agent`` chart, built by one pure function.

Remote Execution runs the Airflow control plane (scheduler, api-server,
metadata DB) at Astronomer and only the agents (workers, dag processor,
triggerer) here. The values reuse the same secrets-backend configuration and
workload identity as the self-hosted chart; only their placement differs
(``../shared/reference/astro-agent-chart.md``). The agent token and the image
pull credentials are referenced by Kubernetes Secret name only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components import naming
from components.dag_bundles import dag_bundle_config
from components.settings.model import Settings
from components.settings.overlay import merge_overlay
from components.settings.remote_execution import AgentResources, RemoteExecutionSettings
from components.ssh_known_hosts import MOUNT, config_map_name, known_hosts_content, volume

CHART_NAME = "astro-remote-execution-agent"
CHART_VERSION = "2.3.3"
CHART_REPOSITORY = "https://helm.astronomer.io"
DAGS_VOLUME = "dags"


@dataclass(frozen=True, kw_only=True)
class AgentRefs:
    """What the cloud and Kubernetes components hand the agent release (plain, non-secret)."""

    agent_token_secret_name: str
    image_pull_secret_name: str
    backend_class: str
    backend_kwargs: Mapping[str, Any]
    service_account_annotations: Mapping[str, str]
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    dags_claim_name: str | None = None
    """PersistentVolumeClaim holding LocalDagBundle DAGs (``localDags.source: pvc``)."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """Cloud-specific environment (e.g. ``AWS_REGION``)."""


def agent_token_secret_name(re_: RemoteExecutionSettings) -> str:
    return f"{re_.resource_name_prefix}-token"


def dags_claim_name(re_: RemoteExecutionSettings) -> str:
    return f"{re_.resource_name_prefix}-dags"


def _resources(r: AgentResources) -> dict[str, dict[str, str]]:
    quantities = {"cpu": r.cpu, "memory": r.memory, "ephemeral-storage": r.ephemeral_storage}
    return {"requests": dict(quantities), "limits": dict(quantities)}


def _dag_mounts(settings: Settings, claim: str | None) -> dict[str, list[dict[str, Any]]]:
    """Read-only mounts of the DAGs PVC at every local bundle's path (one sub-path per bundle), and of the
    known-hosts file of SSH bundles (``components/ssh_known_hosts.py``)."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if claim is not None:
        local = [b for b in settings.dag_bundles if b.kind == "local"]
        volumes.append({"name": DAGS_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}})
        mounts += [{"name": DAGS_VOLUME, "mountPath": b.path, "subPath": b.name, "readOnly": True} for b in local]
    known_hosts = known_hosts_content(settings)
    if known_hosts is not None:
        volumes.append(volume(known_hosts_config_map(settings, known_hosts)))
        mounts.append(MOUNT)
    return {"volumes": volumes, "volumeMounts": mounts} if volumes else {}


def known_hosts_config_map(settings: Settings, content: str) -> str:
    """Name of the known-hosts ConfigMap of the agents (``<resourceNamePrefix>-ssh-known-hosts-<hash>``)."""
    assert settings.remote_execution is not None
    return config_map_name(settings.remote_execution.resource_name_prefix, content)


def dag_bundle_config_list(settings: Settings) -> str:
    """The chart wants the list as a JSON string (it becomes ``AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST``)."""
    return json.dumps([dag_bundle_config(b) for b in settings.dag_bundles])


def build_agent_values(settings: Settings, refs: AgentRefs) -> dict[str, Any]:
    """Helm values for the agent chart pinned at :data:`CHART_VERSION`."""
    re_ = settings.remote_execution
    if re_ is None:
        raise ValueError("build_agent_values needs remoteExecution settings")
    deployment = re_.deployment
    accounts = naming.agent_service_accounts(re_.resource_name_prefix, [g.name for g in re_.worker_groups])
    annotations = dict(refs.service_account_annotations)
    mounts = _dag_mounts(settings, refs.dags_claim_name)

    env = {
        "ASTRO_ORGANIZATION_ID": deployment.organization_id,
        "ASTRO_WORKSPACE_ID": deployment.workspace_id,
        "ASTRO_DEPLOYMENT_ID": deployment.deployment_id,
        "ASTRO_DEPLOYMENT_NAMESPACE": deployment.namespace,
        **refs.extra_env,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(dict(refs.backend_kwargs), sort_keys=True),
    }
    workers = []
    for group in re_.worker_groups:
        worker: dict[str, Any] = {
            "name": group.name,
            "queues": group.queues,
            "replicas": group.replicas,
            "syncSlots": group.sync_slots,
            "resources": _resources(group.resources),
            "terminationGracePeriodSeconds": group.termination_grace_period_seconds,
            "serviceAccount": {"create": True, "name": accounts[f"worker-{group.name}"], "annotations": annotations},
            **mounts,
        }
        if group.image:
            worker["image"] = group.image
        workers.append(worker)

    values: dict[str, Any] = {
        "resourceNamePrefix": re_.resource_name_prefix,
        "createNamespace": False,
        "namespace": settings.namespace,
        "astroDeploymentAPIURL": deployment.api_url,
        "image": re_.agent_image,
        "imagePullPolicy": "IfNotPresent",
        "imagePullSecretName": refs.image_pull_secret_name,
        "agentTokenSecretName": refs.agent_token_secret_name,
        "secretBackend": refs.backend_class,
        "xcomBackend": re_.xcom_backend,
        "dagBundleConfigList": dag_bundle_config_list(settings),
        "commonEnv": [{"name": k, "value": v} for k, v in env.items()],
        "openLineage": {"enabled": False},
        "logLevel": re_.log_level,
        "labels": dict(refs.pod_labels),
        "annotations": {},
        "serviceAccount": {
            "annotations": {},
            "workers": {"create": True},
            "dagProcessor": {"create": True, "name": accounts["dagProcessor"], "annotations": annotations},
            "triggerer": {"create": True, "name": accounts["triggerer"], "annotations": annotations},
            "sentinel": {"create": True, "name": f"{re_.resource_name_prefix}-sentinel"},
        },
        "workers": workers,
        "dagProcessor": {"resources": _resources(re_.dag_processor_resources), **mounts},
        "triggerer": {
            "replicas": re_.triggerer_replicas,
            "asyncSlots": 1000,
            "resources": _resources(re_.triggerer_resources),
            **mounts,
        },
        "sentinel": {"enabled": True, "image": re_.sentinel_image, "imagePullPolicy": "IfNotPresent"},
        "loggingSidecar": {"enabled": False},
    }
    return merge_overlay(values, settings.helm_values)
