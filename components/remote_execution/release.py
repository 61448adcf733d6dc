"""Helm release of Astronomer's Remote Execution agent chart, with the Kubernetes objects it needs.

Creates: the namespace (optional), the agent-token Secret (key ``token``, from
a stack config secret), the ``images.astronomer.cloud`` pull Secret (optional,
from a stack config secret), the ReadWriteMany DAGs PVC when LocalDagBundle
DAGs come from a volume, and the pinned chart release whose values come from
:func:`components.remote_execution.values.build_agent_values`.

Example::

    AgentRelease("astro-agent", AgentReleaseArgs(settings=settings, agent_token=token,
        registry_token=registry_token, backend=backend_refs, identity=identity_refs))
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.helm import PinnedChart, pinned_release
from components.platform import BackendRefs, IdentityRefs
from components.remote_execution import values as agent_values
from components.remote_execution.values import AgentRefs, build_agent_values
from components.settings.model import Settings
from components.ssh_known_hosts import config_map, known_hosts_content

ASTRO_REGISTRY = "images.astronomer.cloud"


def docker_config_json(registry: str, username: str, password: str) -> str:
    """``.dockerconfigjson`` content for one registry."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": password, "auth": auth}}})


@dataclass(frozen=True, kw_only=True)
class AgentReleaseArgs:
    settings: Settings
    """Validated stack settings with ``remote_execution`` set; values and objects are built from them."""
    agent_token: pulumi.Input[str]
    """Agent token (secret) from Astro's Remote Agents page."""
    backend: BackendRefs
    """Secrets backend class and kwargs the agents are configured with."""
    identity: IdentityRefs
    """Service-account annotations and pod labels that bind the agent pods to the workload identity."""
    registry_token: pulumi.Input[str] | None = None
    """Astro API token for the image pull Secret. None: the Secret named in the settings must exist."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """Cloud-specific environment for every agent component (e.g. ``AWS_REGION``). Default: none."""
    timeout_seconds: int = 900
    """Helm wait timeout, in seconds; at least 300."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    """Resources the agents need before they start (backend entries, identity)."""

    def __post_init__(self) -> None:
        re_ = self.settings.remote_execution
        if re_ is None:
            raise ValueError("AgentRelease needs settings with remoteExecution")
        if re_.create_image_pull_secret and self.registry_token is None:
            raise ValueError("create_image_pull_secret needs registry_token")
        if self.timeout_seconds < 300:
            raise ValueError(f"timeout_seconds must be at least 300, got {self.timeout_seconds}")


class AgentRelease(pulumi.ComponentResource):
    """The Remote Execution agents: workers, dag processor, triggerer, sentinel."""

    TYPE = "dataplat:airflow:AgentRelease"

    release_name: pulumi.Output[str]
    """Name of the Helm release (``resourceNamePrefix``)."""
    namespace: pulumi.Output[str]
    """Namespace of the release."""
    chart_version: pulumi.Output[str]
    """Agent chart version deployed (the pinned ``CHART_VERSION``)."""
    values: pulumi.Output[dict]
    """The values handed to Helm (no secret in them)."""

    def __init__(self, name: str, args: AgentReleaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        settings = args.settings
        re_ = settings.remote_execution
        assert re_ is not None
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "astro-agent", "team": settings.team}

        if settings.create_namespace:
            namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata={"name": settings.namespace, "labels": labels}, opts=child)
            namespace_name = namespace.metadata.apply(lambda m: m.name)
        else:
            namespace_name = pulumi.Output.from_input(settings.namespace)

        token_name = agent_values.agent_token_secret_name(re_)
        token = k8s.core.v1.Secret(
            f"{name}-agent-token",
            metadata={"name": token_name, "namespace": namespace_name, "labels": labels},
            type="Opaque",
            string_data={"token": pulumi.Output.secret(args.agent_token)},
            opts=child,
        )
        needed: list[pulumi.Resource] = [token]
        if re_.create_image_pull_secret:
            assert args.registry_token is not None
            pull = k8s.core.v1.Secret(
                f"{name}-image-pull",
                metadata={"name": re_.image_pull_secret_name, "namespace": namespace_name, "labels": labels},
                type="kubernetes.io/dockerconfigjson",
                string_data={
                    ".dockerconfigjson": pulumi.Output.secret(
                        pulumi.Output.from_input(args.registry_token).apply(lambda t: docker_config_json(ASTRO_REGISTRY, "cli", t))
                    )
                },
                opts=child,
            )
            needed.append(pull)
        claim = None
        if re_.local_dags is not None and re_.local_dags.source == "pvc":
            claim = agent_values.dags_claim_name(re_)
            pvc = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-dags",
                metadata={"name": claim, "namespace": namespace_name, "labels": labels},
                spec={
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": re_.local_dags.storage_class_name,
                    "resources": {"requests": {"storage": f"{re_.local_dags.size_gi}Gi"}},
                },
                opts=pulumi.ResourceOptions(parent=self, protect=settings.protect_stateful),
            )
            needed.append(pvc)

        known_hosts = known_hosts_content(settings)
        if known_hosts is not None:
            needed.append(
                config_map(
                    f"{name}-ssh-known-hosts",
                    agent_values.known_hosts_config_map(settings, known_hosts),
                    namespace=namespace_name,
                    content=known_hosts,
                    labels=labels,
                    parent=self,
                )
            )

        values = pulumi.Output.all(
            kwargs=args.backend.backend_kwargs,
            annotations=args.identity.service_account_annotations,
        ).apply(
            lambda r: build_agent_values(
                settings,
                AgentRefs(
                    agent_token_secret_name=token_name,
                    image_pull_secret_name=re_.image_pull_secret_name,
                    backend_class=args.backend.backend_class,
                    backend_kwargs=r["kwargs"],
                    service_account_annotations=r["annotations"],
                    pod_labels=args.identity.pod_labels,
                    dags_claim_name=claim,
                    extra_env=args.extra_env,
                ),
            )
        )
        release = pinned_release(
            f"{name}-release",
            chart=PinnedChart(
                name=agent_values.CHART_NAME,
                version=agent_values.CHART_VERSION,
                repository=agent_values.CHART_REPOSITORY,
            ),
            release_name=re_.resource_name_prefix,
            namespace=namespace_name,
            values=values,
            timeout_seconds=args.timeout_seconds,
            max_history=10,
            parent=self,
            depends_on=[*needed, *args.depends_on],
        )
        self.release_name = release.name
        self.namespace = release.namespace
        self.chart_version = release.version
        self.values = values
        self.register_outputs(
            {
                "release_name": self.release_name,
                "namespace": self.namespace,
                "chart_version": self.chart_version,
                "values": self.values,
            }
        )
