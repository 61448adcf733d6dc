"""UI access and metrics: the settings that refuse bad shapes, and the chart values the pure functions build."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from components.airflow_chart.exposure import STATSD_HOST_ENV, metrics_env, metrics_values, service_monitor, ui_values
from components.airflow_chart.values import ReleaseRefs, build_values, secret_names
from components.aws.platform import INTERNAL_LOAD_BALANCER as AWS_INTERNAL
from components.azure.platform import INTERNAL_LOAD_BALANCER as AZURE_INTERNAL
from components.settings.access import MetricsSettings, UiAccess
from components.settings.chart_schema import schema_errors
from tests.conftest import stack_file
from tests.support.stacks import expect_rejected, with_values
from tests.unit.test_overlay import parse
from tools.stackfile import load_stack

AWS_PROD = load_stack(stack_file("payments-prod"))
AZURE_PROD = load_stack(stack_file("research-prod"))
INGRESS = {
    "mode": "ingress",
    "ingressClassName": "nginx-internal",
    "hosts": ["airflow.payments.example.com"],
    "tlsSecretName": "airflow-tls",
    "ingressControllerNamespace": "ingress-nginx",
}


def values_for(stack, internal=AWS_INTERNAL, **changes):
    s = parse(with_values(stack, **changes))
    refs = ReleaseRefs(
        secrets=secret_names(s),
        backend_class="b",
        backend_kwargs={},
        service_account_annotations={},
        internal_load_balancer_annotations=internal,
    )
    values = build_values(s, refs)
    assert schema_errors(values) == []
    return s, values


def test_should_keep_port_forward_only_by_default_and_admit_the_release_pods_to_the_api_server():
    s, values = values_for(AWS_PROD)
    assert s.ui_access.mode == "none"
    assert "ingress" not in values
    assert "service" not in values["apiServer"]
    release_pods = {"podSelector": {"matchLabels": {"tier": "airflow", "release": s.release_name}}}
    assert values["apiServer"]["networkPolicy"] == {"ingress": {"from": [release_pods]}}
    assert "statsd" not in values or values["statsd"].get("enabled", True)
    assert "metrics" not in values["config"]


def test_should_render_the_ingress_with_class_hosts_tls_and_controller_namespace():
    _, values = values_for(AWS_PROD, uiAccess={**INGRESS, "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"}})
    ingress = values["ingress"]["apiServer"]
    assert ingress["enabled"] is True
    assert ingress["ingressClassName"] == "nginx-internal"
    assert ingress["hosts"] == [{"name": "airflow.payments.example.com", "tls": {"enabled": True, "secretName": "airflow-tls"}}]
    assert ingress["annotations"] == {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"}
    peers = values["apiServer"]["networkPolicy"]["ingress"]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in peers


@pytest.mark.parametrize(("stack", "internal"), [(AWS_PROD, AWS_INTERNAL), (AZURE_PROD, AZURE_INTERNAL)])
def test_should_make_the_load_balancer_internal_with_the_cloud_annotation(stack, internal):
    _, values = values_for(
        stack,
        internal=internal,
        uiAccess={"mode": "loadBalancer", "annotations": {"a": "b", **dict.fromkeys(internal, "false")}, "sourceCidrs": ["10.0.0.0/16"]},
    )
    service = values["apiServer"]["service"]
    assert service["type"] == "LoadBalancer"
    assert service["annotations"] == {"a": "b", **internal}  # the internal annotation wins
    assert service["loadBalancerSourceRanges"] == ["10.0.0.0/16"]


def test_should_take_the_internal_annotations_from_each_cloud():
    assert AWS_INTERNAL["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert AZURE_INTERNAL == {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}


def test_should_refuse_an_internal_load_balancer_when_the_platform_gives_no_annotation():
    s = parse(with_values(AWS_PROD, uiAccess={"mode": "loadBalancer"}))
    with pytest.raises(ValueError, match="internal load-balancer annotations"):
        ui_values(s, {})


def test_should_refuse_an_internet_facing_load_balancer_or_an_ingress_without_tls_in_prod():
    expect_rejected(with_values(AWS_PROD, uiAccess={"mode": "loadBalancer", "internal": False}), "uiAccess.internal")
    no_tls = {k: v for k, v in INGRESS.items() if k != "tlsSecretName"}
    expect_rejected(with_values(AZURE_PROD, uiAccess=no_tls), "uiAccess.tlsSecretName")


def test_should_allow_an_internet_facing_load_balancer_outside_prod():
    dev = load_stack(stack_file("payments-dev"))
    _, values = values_for(dev, uiAccess={"mode": "loadBalancer", "internal": False})
    assert values["apiServer"]["service"]["annotations"] == {}


@pytest.mark.parametrize(
    ("ui", "match"),
    [
        ({"mode": "ingress", "ingressControllerNamespace": "x"}, "at least one host"),
        ({**INGRESS, "hosts": ["Airflow.Example.com"]}, "not a lower-case DNS name"),
        ({**INGRESS, "hosts": ["under_score.example.com"]}, "not a lower-case DNS name"),
        ({**INGRESS, "hosts": ["a.example.com", "a.example.com"]}, "distinct"),
        ({**INGRESS, "ingressControllerNamespace": None}, "ingressControllerNamespace or sourceCidrs"),
        ({**INGRESS, "internal": False}, "mode loadBalancer"),
        ({"mode": "loadBalancer", "hosts": ["a.example.com"]}, "mode ingress only"),
        ({"mode": "none", "annotations": {"a": "b"}}, "got mode 'none'"),
        ({"mode": "nodePort"}, "mode"),
    ],
)
def test_should_refuse_inconsistent_ui_access(ui, match):
    with pytest.raises(ValidationError, match=match):
        UiAccess.model_validate(ui)


def test_should_accept_a_wildcard_host():
    assert UiAccess.model_validate({**INGRESS, "hosts": ["*.airflow.example.com"]}).hosts == ("*.airflow.example.com",)


def test_should_open_the_exporter_to_prometheus_and_describe_a_service_monitor():
    s, values = values_for(AZURE_PROD, metrics={"prometheus": {"enabled": True, "serviceMonitor": True}})
    assert values["statsd"]["extraNetworkPolicies"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert values["statsd"].get("enabled", True)
    monitor = service_monitor(s)
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["endpoints"][0]["port"] == "statsd-scrape"
    assert monitor["spec"]["selector"]["matchLabels"] == {"tier": "airflow", "component": "statsd", "release": s.release_name}
    assert service_monitor(parse(AZURE_PROD)) is None


@pytest.mark.parametrize(
    ("host", "ipv6"),
    [("10.1.2.3", False), ("fd00::10", True), ("statsd.monitoring.svc.cluster.local", False)],
)
def test_should_send_to_an_external_statsd_with_the_chart_exporter_off(host, ipv6):
    _, values = values_for(AWS_PROD, metrics={"statsd": {"mode": "external", "host": host, "port": 9125}})
    assert values["statsd"]["enabled"] is False
    metrics = values["config"]["metrics"]
    assert metrics["statsd_on"] == "True"
    assert metrics["statsd_host"] == host
    assert metrics["statsd_port"] == "9125"
    assert ("statsd_ipv6" in metrics) is ipv6


def test_should_send_to_the_datadog_agent_on_the_node_from_every_airflow_pod():
    s, values = values_for(AWS_PROD, metrics={"datadog": {"enabled": True}})
    assert values["statsd"]["enabled"] is False
    assert values["config"]["metrics"] == {"statsd_on": "True", "statsd_port": "8125"}
    host_ip = {"name": STATSD_HOST_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}
    assert metrics_env(s) == [host_ip]
    assert yaml.safe_load(values["extraEnv"]) == [host_ip]
    assert host_ip in values["migrateDatabaseJob"]["env"]


def test_should_turn_statsd_off():
    s = parse(with_values(AWS_PROD, metrics={"statsd": {"mode": "off"}}))
    assert metrics_values(s) == {"statsd": {"enabled": False}, "config": {"metrics": {"statsd_on": "False"}}}
    assert metrics_env(s) == []


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        ({"datadog": {"enabled": True}, "statsd": {"mode": "chart"}}, "datadog"),
        ({"statsd": {"mode": "external"}}, "needs statsd.host"),
        ({"statsd": {"host": "10.0.0.1"}}, "apply to statsd.mode external"),
        ({"statsd": {"mode": "external", "host": "not a host"}}, "neither an IPv4 or IPv6"),
        ({"statsd": {"mode": "external", "host": "[fd00::1]"}}, "neither an IPv4 or IPv6"),
        ({"prometheus": {"serviceMonitor": True}}, "needs prometheus.enabled"),
        ({"prometheus": {"enabled": True}, "statsd": {"mode": "off"}}, "must be 'chart'"),
    ],
)
def test_should_refuse_inconsistent_metrics(metrics, match):
    with pytest.raises(ValidationError, match=match):
        MetricsSettings.model_validate(metrics)


@pytest.mark.parametrize(
    "overlay",
    [
        {"helmValues": {"ingress": {"apiServer": {"enabled": True}}}},
        {"helmValues": {"apiServer": {"service": {"type": "LoadBalancer"}}}},
        {"helmValues": {"statsd": {"enabled": False}}},
        {"airflowConfig": {"metrics": {"statsd_host": "x"}}},
    ],
)
def test_should_refuse_overlays_that_bypass_ui_access_or_metrics(overlay):
    key = next(iter(overlay))
    expect_rejected(with_values(AWS_PROD, **overlay), key)


@pytest.mark.parametrize(
    ("changes", "setting"),
    [({"uiAccess": {"mode": "loadBalancer"}}, "uiAccess.mode"), ({"metrics": {"datadog": {"enabled": True}}}, "metrics")],
)
def test_should_refuse_ui_access_and_metrics_in_remote_execution_mode(changes, setting):
    expect_rejected(with_values(load_stack(stack_file("growth-prod")), **changes), setting)
