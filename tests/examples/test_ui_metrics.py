"""UI access and metrics on the real chart render of edited prod examples (both clouds).

Each case runs the whole program on ``payments-prod`` (EKS) or ``research-prod`` (AKS) with ``uiAccess`` and
``metrics`` set, renders the official chart with the values handed to Helm, validates the manifests against the
Kubernetes schemas and asserts what the cluster would get: the Ingress, the internal LoadBalancer Service, the
api-server NetworkPolicy, and where StatsD goes (``airflow.cfg``, the exporter, the Datadog host variable).
"""

from __future__ import annotations

import configparser
from typing import Any

import pytest
import yaml

from components.aws.platform import INTERNAL_LOAD_BALANCER as AWS_INTERNAL
from components.azure.platform import INTERNAL_LOAD_BALANCER as AZURE_INTERNAL
from tests.conftest import missing_tool, render_config, stack_file
from tests.support.stacks import with_values
from tools.chart import NEWEST_KUBERNETES_VERSION, render_chart, validate_manifests
from tools.stackfile import load_stack

INGRESS = {
    "mode": "ingress",
    "ingressClassName": "nginx-internal",
    "hosts": ["airflow.payments.example.com", "payments-airflow.example.com"],
    "tlsSecretName": "airflow-tls",
    "ingressControllerNamespace": "ingress-nginx",
    "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"},
}
CASES = {
    "ingress-datadog": ("payments-prod", {"uiAccess": INGRESS, "metrics": {"datadog": {"enabled": True}}}),
    "lb-prometheus": (
        "research-prod",
        {"uiAccess": {"mode": "loadBalancer"}, "metrics": {"prometheus": {"enabled": True, "serviceMonitor": True}}},
    ),
    "lb-external-ipv6": (
        "payments-prod",
        {
            "uiAccess": {"mode": "loadBalancer", "sourceCidrs": ["10.20.0.0/16"]},
            "metrics": {"statsd": {"mode": "external", "host": "fd00::53", "port": 9125}},
        },
    ),
    "statsd-off": ("research-prod", {"metrics": {"statsd": {"mode": "off"}}}),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request) -> tuple[str, Any, list[dict[str, Any]]]:
    try:
        import helm_python  # noqa: F401
    except ImportError:
        missing_tool("helm-python-sdk")
    example, changes = CASES[request.param]
    rendered = render_config(with_values(load_stack(stack_file(example)), **changes))
    (values,) = rendered.helm_values(show_secrets=True)
    return request.param, rendered, render_chart(values, release_name="airflow", namespace="airflow")


def find(manifests, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def airflow_cfg(manifests) -> configparser.ConfigParser:
    (config,) = find(manifests, "ConfigMap", "airflow-config")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(config["data"]["airflow.cfg"])
    return parser


def env_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec["containers"][0].get("env", [])


def test_should_render_valid_manifests(case):
    _, _, manifests = case
    assert validate_manifests(manifests, NEWEST_KUBERNETES_VERSION) == []


def test_should_expose_the_ui_as_asked(case):
    name, _, manifests = case
    (service,) = find(manifests, "Service", "airflow-api-server")
    (policy,) = find(manifests, "NetworkPolicy", "airflow-api-server-policy")
    peers = policy["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"tier": "airflow", "release": "airflow"}}} in peers  # task pods reach the API
    ingresses = find(manifests, "Ingress")
    if name == "ingress-datadog":
        (ingress,) = ingresses
        spec = ingress["spec"]
        assert spec["ingressClassName"] == "nginx-internal"
        assert [r["host"] for r in spec["rules"]] == INGRESS["hosts"]
        assert spec["tls"] == [{"hosts": [h], "secretName": "airflow-tls"} for h in INGRESS["hosts"]]
        backend = spec["rules"][0]["http"]["paths"][0]
        assert backend["backend"]["service"] == {"name": "airflow-api-server", "port": {"name": "api-server"}}
        assert backend["pathType"] == "Prefix"
        assert ingress["metadata"]["annotations"] == INGRESS["annotations"]
        assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in peers
        assert service["spec"]["type"] == "ClusterIP"
    elif name.startswith("lb-"):
        assert ingresses == []
        assert service["spec"]["type"] == "LoadBalancer"
        internal = AZURE_INTERNAL if name == "lb-prometheus" else AWS_INTERNAL
        assert service["metadata"]["annotations"] == internal
        if name == "lb-external-ipv6":
            assert service["spec"]["loadBalancerSourceRanges"] == ["10.20.0.0/16"]
    else:
        assert ingresses == [] and service["spec"]["type"] == "ClusterIP"
        assert peers == [{"podSelector": {"matchLabels": {"tier": "airflow", "release": "airflow"}}}]


def test_should_send_statsd_where_asked(case):
    name, rendered, manifests = case
    metrics = airflow_cfg(manifests)["metrics"]
    exporter = find(manifests, "Deployment", "airflow-statsd")
    monitors = rendered.by_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    if name == "lb-prometheus":
        assert metrics["statsd_on"] == "True" and metrics["statsd_host"] == "airflow-statsd"
        assert len(exporter) == 1
        (policy,) = find(manifests, "NetworkPolicy", "airflow-statsd-policy")
        assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in policy["spec"]["ingress"][0]["from"]
        (monitor,) = monitors
        assert monitor.inputs["spec"]["endpoints"][0]["port"] == "statsd-scrape"
        (svc,) = find(manifests, "Service", "airflow-statsd")
        assert "statsd-scrape" in [p["name"] for p in svc["spec"]["ports"]]
        assert svc["metadata"]["labels"].items() >= monitor.inputs["spec"]["selector"]["matchLabels"].items()
        return
    assert exporter == [] and monitors == []
    if name == "lb-external-ipv6":
        assert (metrics["statsd_on"], metrics["statsd_host"], metrics["statsd_port"], metrics["statsd_ipv6"]) == (
            "True",
            "fd00::53",
            "9125",
            "True",
        )
    elif name == "statsd-off":
        assert metrics["statsd_on"] == "False"
    else:
        assert metrics["statsd_on"] == "True" and metrics["statsd_port"] == "8125"
        host_ip = {"name": "AIRFLOW__METRICS__STATSD_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}
        for deployment in ("airflow-scheduler", "airflow-api-server", "airflow-dag-processor", "airflow-triggerer"):
            (d,) = find(manifests, "Deployment", deployment) + find(manifests, "StatefulSet", deployment)
            assert host_ip in env_of(d["spec"]["template"]["spec"]), deployment
        (config,) = find(manifests, "ConfigMap", "airflow-config")
        task_pod = yaml.safe_load(config["data"]["pod_template_file.yaml"])["spec"]
        assert host_ip in env_of(task_pod)
        (migrations,) = find(manifests, "Job", "airflow-run-airflow-migrations")
        assert host_ip in env_of(migrations["spec"]["template"]["spec"])
