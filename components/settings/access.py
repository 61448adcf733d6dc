"""Settings of how the UI and the metrics are reached: ``uiAccess`` (Ingress or LoadBalancer) and ``metrics``.

Defaults change nothing: the UI is reached by port-forward only, and Airflow sends StatsD to the chart's
own exporter (Prometheus endpoint ``svc/<release>-statsd:9102/metrics``), reachable from the release's pods.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from components.settings.fields import DNS_LABEL, Ipv4Cidrs, StrictModel

_DNS_NAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
"""A Kubernetes object name (Secret, IngressClass, namespace-like names)."""


def _dns_name(value: str) -> str:
    if len(value) > 253 or not _DNS_NAME.match(value):
        raise ValueError(f"{value!r} is not a lower-case DNS name (labels of [a-z0-9-], at most 63 each; a leading '*.' allowed)")
    return value


DnsName = Annotated[str, AfterValidator(_dns_name)]
"""A lower-case DNS name, optionally a wildcard ``*.example.com``."""


def _statsd_host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if value.startswith("*.") or len(value) > 253 or not _DNS_NAME.match(value):
        raise ValueError(f"{value!r} is neither an IPv4 or IPv6 address nor a lower-case DNS name")
    return value


StatsdHost = Annotated[str, AfterValidator(_statsd_host)]
"""An IPv4 or IPv6 literal (no brackets) or a DNS name."""


def is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


class UiAccess(StrictModel):
    """How the Airflow UI and API (the chart's api-server) are reached from outside the cluster."""

    mode: Literal["none", "ingress", "loadBalancer"] = "none"
    """``none``: port-forward only. ``ingress``: the chart's Ingress (``ingress.apiServer``). ``loadBalancer``: the
    api-server Service as ``type: LoadBalancer``."""
    internal: bool = True
    """``loadBalancer``: the cloud's internal load balancer (its annotation comes from the cloud side). False:
    internet-facing, refused in prod. ``ingress``: the Ingress class decides; this must stay true."""
    ingress_class_name: str | None = Field(default=None, pattern=DNS_SUBDOMAIN)
    """``ingress``: IngressClass. Default: the cluster's default class."""
    hosts: tuple[DnsName, ...] = ()
    """``ingress``: host names the Ingress answers (at least one)."""
    tls_secret_name: str | None = Field(default=None, pattern=DNS_SUBDOMAIN)
    """``ingress``: existing ``kubernetes.io/tls`` Secret in the namespace; TLS for every host. Required in prod."""
    annotations: dict[str, str] = {}  # noqa: RUF012 (pydantic copies a default per instance)
    """Annotations of the Ingress (``ingress``) or the Service (``loadBalancer``; the internal annotation wins)."""
    ingress_controller_namespace: str | None = Field(default=None, pattern=DNS_LABEL, max_length=63)
    """``ingress``: namespace of the ingress controller's pods, admitted by the api-server NetworkPolicy."""
    source_cidrs: Ipv4Cidrs = ()
    """Client ranges admitted by the api-server NetworkPolicy (and ``loadBalancerSourceRanges`` with
    ``loadBalancer``). Default: none."""

    @model_validator(mode="after")
    def _consistent(self) -> UiAccess:
        ingress_only = {
            "ingressClassName": self.ingress_class_name,
            "hosts": self.hosts,
            "tlsSecretName": self.tls_secret_name,
            "ingressControllerNamespace": self.ingress_controller_namespace,
        }
        if self.mode != "ingress":
            given = sorted(k for k, v in ingress_only.items() if v)
            if given:
                raise ValueError(f"{', '.join(given)} apply to mode ingress only, got mode {self.mode!r}")
        if self.mode == "none" and (self.annotations or self.source_cidrs or not self.internal):
            raise ValueError("annotations, sourceCidrs and internal apply to mode ingress or loadBalancer, got mode 'none'")
        if self.mode == "ingress":
            if not self.hosts:
                raise ValueError("mode ingress needs at least one host in hosts")
            if len(set(self.hosts)) != len(self.hosts):
                raise ValueError(f"hosts must be distinct, got {list(self.hosts)}")
            if not self.internal:
                raise ValueError("internal: false applies to mode loadBalancer; an Ingress is as exposed as its class")
            if not self.ingress_controller_namespace and not self.source_cidrs:
                raise ValueError(
                    "mode ingress needs ingressControllerNamespace or sourceCidrs: the api-server NetworkPolicy admits only those"
                )
        return self


class PrometheusMetrics(StrictModel):
    enabled: bool = False
    """Let a Prometheus outside the release scrape the chart's StatsD exporter (port 9102): the exporter's
    NetworkPolicy admits ``namespace``. Needs ``statsd.mode: chart``."""
    namespace: str = Field(default="monitoring", pattern=DNS_LABEL, max_length=63)
    """Namespace of the Prometheus pods."""
    service_monitor: bool = False
    """Also create a ``monitoring.coreos.com/v1`` ServiceMonitor for the exporter (Prometheus Operator CRDs must be
    installed; chart 1.20.0 has none of its own)."""


class StatsdMetrics(StrictModel):
    mode: Literal["chart", "external", "off"] | None = None
    """``chart``: the chart's StatsD exporter (Prometheus endpoint). ``external``: an existing StatsD at ``host``:``port``
    (the chart's exporter off). ``off``: no StatsD. Default: ``chart``, or ``off`` with ``datadog``."""
    host: StatsdHost | None = None
    """``external``: IPv4 or IPv6 address (``statsd_ipv6`` is then set) or DNS name."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """``external``: UDP port. Default 8125."""


class DatadogMetrics(StrictModel):
    enabled: bool = False
    """Send StatsD to the Datadog agent on each pod's node (``status.hostIP``), as the chart's guide shows."""
    port: int = Field(default=8125, ge=1, le=65535)
    """DogStatsD port of the agent on the node."""


class MetricsSettings(StrictModel):
    """Where Airflow's metrics go: the chart's StatsD exporter (Prometheus), an external StatsD or Datadog."""

    prometheus: PrometheusMetrics = PrometheusMetrics()
    """Scraping the chart's StatsD exporter from outside the release. Default: off (release pods only)."""
    statsd: StatsdMetrics = StatsdMetrics()
    """Where Airflow sends StatsD. Default: the chart's exporter."""
    datadog: DatadogMetrics = DatadogMetrics()
    """Datadog agent on each node. Default: off."""

    @property
    def statsd_mode(self) -> Literal["chart", "external", "off"]:
        return self.statsd.mode or ("off" if self.datadog.enabled else "chart")

    @model_validator(mode="after")
    def _one_destination(self) -> MetricsSettings:
        mode = self.statsd_mode
        if self.datadog.enabled and mode != "off":
            raise ValueError(f"datadog sends StatsD to the node's agent: statsd.mode must be unset or 'off', got {mode!r}")
        if mode == "external" and self.statsd.host is None:
            raise ValueError("statsd.mode external needs statsd.host")
        if mode != "external" and (self.statsd.host is not None or self.statsd.port is not None):
            raise ValueError(f"statsd.host and statsd.port apply to statsd.mode external, got {mode!r}")
        if self.prometheus.service_monitor and not self.prometheus.enabled:
            raise ValueError("prometheus.serviceMonitor needs prometheus.enabled")
        if self.prometheus.enabled and mode != "chart":
            raise ValueError(f"prometheus scrapes the chart's StatsD exporter: statsd.mode must be 'chart', got {mode!r}")
        return self
