"""Helm release of the official ``apache-airflow`` chart, pinned, with generated values.

A ``ServiceMonitor`` of the chart's StatsD exporter is created next to it with
``metrics.prometheus.serviceMonitor``. The values come from :func:`components.airflow_chart.values.build_values`, fed with
the Secret names, the secrets-backend configuration and the workload-identity
annotations/labels handed over by the cloud components (through the
:mod:`components.platform` interface). This module holds no cloud-specific
logic.

Example::

    AirflowRelease("airflow", AirflowReleaseArgs(settings=settings, namespace=ns,
        secrets=secret_names(settings), backend=backend_refs, identity=identity_refs))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.airflow_chart.exposure import service_monitor
from components.airflow_chart.values import (
    CHART_NAME,
    CHART_REPOSITORY,
    CHART_VERSION,
    ReleaseRefs,
    SecretNames,
    build_values,
)
from components.helm import PinnedChart, pinned_release
from components.platform import BackendRefs, IdentityRefs
from components.settings.model import Settings
from components.ssh_known_hosts import config_map, config_map_name, known_hosts_content


@dataclass(frozen=True, kw_only=True)
class AirflowReleaseArgs:
    settings: Settings
    """Validated stack settings the chart values are built from."""
    namespace: pulumi.Input[str]
    """Namespace of the release; it must exist (the release does not create it)."""
    secrets: SecretNames
    """Names of the Kubernetes Secrets the values refer to."""
    backend: BackendRefs
    """Secrets backend class and kwargs Airflow is configured with."""
    identity: IdentityRefs
    """Service-account annotations and pod labels that bind the pods to the workload identity."""
    pod_checksums: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    """Pod group -> checksum of the program's Secrets it reads (``AirflowSecrets.pod_checksums``); a change rolls
    that group's pods. Default: none (pods roll only when the chart's own inputs change)."""
    verify_database_certificate: bool = False
    """PgBouncer verifies the database's certificate: mount ``root.crt`` of its config Secret."""
    internal_load_balancer_annotations: Mapping[str, str] = field(default_factory=dict)
    """Service annotations that make the cloud's load balancer internal (``uiAccess.mode: loadBalancer``)."""
    timeout_seconds: int = 1200
    """Helm wait timeout; at least 900 so migrations and rollouts can finish."""
    max_history: int = 10
    """Helm release revisions kept (1-50)."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    """Resources the pods need before they start (Secrets, backend entries, identity)."""

    def __post_init__(self) -> None:
        if self.timeout_seconds < 900:
            raise ValueError(f"timeout_seconds must be at least 900, got {self.timeout_seconds}")
        if not 1 <= self.max_history <= 50:
            raise ValueError(f"max_history must be 1-50, got {self.max_history}")


class AirflowRelease(pulumi.ComponentResource):
    """The official Airflow chart at :data:`CHART_VERSION`."""

    TYPE = "dataplat:airflow:AirflowRelease"

    release_name: pulumi.Output[str]
    """Name of the Helm release (``releaseName``)."""
    namespace: pulumi.Output[str]
    """Namespace of the release."""
    chart_version: pulumi.Output[str]
    """Chart version deployed (the pinned ``CHART_VERSION``)."""
    values: pulumi.Output[dict]
    """The values handed to Helm (no secret in them)."""

    def __init__(self, name: str, args: AirflowReleaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        settings = args.settings
        values = pulumi.Output.all(
            kwargs=args.backend.backend_kwargs,
            annotations=args.identity.service_account_annotations,
            checksums=args.pod_checksums,
        ).apply(
            lambda r: build_values(
                settings,
                ReleaseRefs(
                    secrets=args.secrets,
                    backend_class=args.backend.backend_class,
                    backend_kwargs=r["kwargs"],
                    service_account_annotations=r["annotations"],
                    pod_labels=args.identity.pod_labels,
                    pod_checksums=r["checksums"],
                    verify_database_certificate=args.verify_database_certificate,
                    internal_load_balancer_annotations=args.internal_load_balancer_annotations,
                ),
            )
        )
        needed = list(args.depends_on)
        known_hosts = known_hosts_content(settings)
        if known_hosts is not None:
            needed.append(
                config_map(
                    f"{name}-ssh-known-hosts",
                    config_map_name(settings.release_name, known_hosts),
                    namespace=args.namespace,
                    content=known_hosts,
                    labels={"app.kubernetes.io/managed-by": "pulumi", "team": settings.team},
                    parent=self,
                )
            )
        release = pinned_release(
            f"{name}-release",
            chart=PinnedChart(name=CHART_NAME, version=CHART_VERSION, repository=CHART_REPOSITORY),
            release_name=settings.release_name,
            namespace=args.namespace,
            values=values,
            timeout_seconds=args.timeout_seconds,
            max_history=args.max_history,
            parent=self,
            depends_on=needed,
        )
        monitor = service_monitor(settings)
        if monitor is not None:
            # Prometheus Operator CRD (``metrics.prometheus.serviceMonitor``); chart 1.20.0 renders none itself
            k8s.apiextensions.CustomResource(
                f"{name}-statsd-monitor",
                api_version=monitor["apiVersion"],
                kind=monitor["kind"],
                metadata={**monitor["metadata"], "namespace": args.namespace},
                spec=monitor["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),
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
