"""How the official chart's UI and metrics are reached: pure functions called by ``values.build_values``.

* :func:`ui_values`: ``uiAccess`` as the chart's ``ingress.apiServer`` (class, hosts with TLS, annotations) or the
  api-server Service as ``type: LoadBalancer`` with the cloud's internal annotation (handed over by the cloud side,
  ``CloudPlatform.internal_load_balancer_annotations``: nothing here knows the cloud), and the api-server
  NetworkPolicy's peers.
* :func:`metrics_values` / :func:`metrics_env`: ``metrics`` as the production guide shows it: the chart's StatsD
  exporter (Prometheus endpoint ``svc/<release>-statsd:9102/metrics``), an external StatsD (IPv4, IPv6 or DNS
  name), or Datadog through the node's agent (``AIRFLOW__METRICS__STATSD_HOST`` from ``status.hostIP``).
* :func:`service_monitor`: the Prometheus Operator ``ServiceMonitor`` of the exporter (chart 1.20.0 has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from components.settings.access import is_ipv6
from components.settings.model import Settings

INGRESS_PATH_TYPE = "Prefix"
STATSD_SCRAPE_PORT_NAME = "statsd-scrape"
"""Port name of the chart's ``<release>-statsd`` Service that serves ``/metrics``."""
STATSD_HOST_ENV = "AIRFLOW__METRICS__STATSD_HOST"
DEFAULT_STATSD_PORT = 8125


def _namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def ui_values(s: Settings, internal_annotations: Mapping[str, str]) -> dict[str, Any]:
    """Values for ``uiAccess``: the Ingress or the LoadBalancer Service, and who the api-server NetworkPolicy admits.

    The NetworkPolicy always admits the release's own pods (task pods reach the Execution API there; chart 1.20.0
    admits nobody when ``apiServer.networkPolicy.ingress.from`` is empty). With an Ingress it also admits the
    controller's namespace and ``sourceCidrs``; with a LoadBalancer any source, the load balancer being the gate
    (internal, ``loadBalancerSourceRanges``): kube-proxy hands the pod the node's address, not the client's.
    """
    ui = s.ui_access
    peers: list[dict[str, Any]] = [{"podSelector": {"matchLabels": {"tier": "airflow", "release": s.release_name}}}]
    values: dict[str, Any] = {}
    if ui.mode == "ingress":
        tls = {"enabled": True, "secretName": ui.tls_secret_name} if ui.tls_secret_name else {"enabled": False}
        ingress: dict[str, Any] = {
            "enabled": True,
            "hosts": [{"name": host, "tls": dict(tls)} for host in ui.hosts],
            "annotations": dict(ui.annotations),
            "path": "/",
            "pathType": INGRESS_PATH_TYPE,
        }
        if ui.ingress_class_name:
            ingress["ingressClassName"] = ui.ingress_class_name
        values["ingress"] = {"apiServer": ingress}
        if ui.ingress_controller_namespace:
            peers.append(_namespace_peer(ui.ingress_controller_namespace))
        peers += [{"ipBlock": {"cidr": cidr}} for cidr in ui.source_cidrs]
    elif ui.mode == "loadBalancer":
        if ui.internal and not internal_annotations:
            raise ValueError("uiAccess.internal needs the cloud's internal load-balancer annotations; the platform gave none")
        service: dict[str, Any] = {
            "type": "LoadBalancer",
            # the internal annotation wins over a user annotation of the same key
            "annotations": {**ui.annotations, **(internal_annotations if ui.internal else {})},
        }
        if ui.source_cidrs:
            service["loadBalancerSourceRanges"] = list(ui.source_cidrs)
        values["apiServer"] = {"service": service}
        peers.append({"ipBlock": {"cidr": "0.0.0.0/0"}})
    values.setdefault("apiServer", {})["networkPolicy"] = {"ingress": {"from": peers}}
    return values


def metrics_values(s: Settings) -> dict[str, Any]:
    """``statsd`` and ``config.metrics`` values for ``metrics`` (the chart's exporter with nothing set)."""
    m = s.metrics
    mode = m.statsd_mode
    if m.datadog.enabled:
        return {
            "statsd": {"enabled": False},
            "config": {"metrics": {"statsd_on": "True", "statsd_port": str(m.datadog.port)}},
            # as the guide shows: the components' own ``env`` takes no fieldRef (schema), ``extraEnv`` reaches every
            # Airflow container and the task pods; jobs with ``applyCustomEnv: false`` (create-user, cleanup) do not
            # get it and send no metrics (Airflow falls back to a no-op client when the host does not resolve)
            "extraEnv": yaml.safe_dump(metrics_env(s), sort_keys=False),
        }
    if mode == "external":
        assert m.statsd.host is not None
        metrics = {"statsd_on": "True", "statsd_host": m.statsd.host, "statsd_port": str(m.statsd.port or DEFAULT_STATSD_PORT)}
        if is_ipv6(m.statsd.host):
            metrics["statsd_ipv6"] = "True"
        return {"statsd": {"enabled": False}, "config": {"metrics": metrics}}
    if mode == "off":
        return {"statsd": {"enabled": False}, "config": {"metrics": {"statsd_on": "False"}}}
    if m.prometheus.enabled:
        # appended to the exporter policy's peers (it covers the ingest and the scrape port alike)
        return {"statsd": {"extraNetworkPolicies": [_namespace_peer(m.prometheus.namespace)]}}
    return {}


def metrics_env(s: Settings) -> list[dict[str, Any]]:
    """``env`` entries with the node's address as StatsD host (Datadog), else none: ``extraEnv`` and the migration job."""
    if not s.metrics.datadog.enabled:
        return []
    return [{"name": STATSD_HOST_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]


def service_monitor(s: Settings) -> dict[str, Any] | None:
    """The ``ServiceMonitor`` of the chart's StatsD exporter (``metrics.prometheus.serviceMonitor``), or None."""
    if not (s.metrics.prometheus.enabled and s.metrics.prometheus.service_monitor):
        return None
    labels = {"tier": "airflow", "component": "statsd", "release": s.release_name}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": f"{s.release_name}-statsd", "namespace": s.namespace, "labels": dict(labels)},
        "spec": {
            "selector": {"matchLabels": labels},
            "namespaceSelector": {"matchNames": [s.namespace]},
            "endpoints": [{"port": STATSD_SCRAPE_PORT_NAME, "path": "/metrics", "interval": "30s"}],
        },
    }
