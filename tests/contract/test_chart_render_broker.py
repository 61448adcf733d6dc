"""Contract: on the real chart render, the managed broker replaces the chart's Redis and its URL stays in our Secret.

The CeleryExecutor variants of the prod examples (``tests/support/broker.py``) are rendered with the real chart
1.20.0 (``tools.chart.render_chart``, offline). The chart then renders no Redis object (StatefulSet, Service,
NetworkPolicy, service account, password or broker-URL Secret); ``AIRFLOW__CELERY__BROKER_URL`` reaches exactly the
scheduler and worker containers, always as a ``secretKeyRef`` to our broker-URL Secret; the credential is in no
rendered manifest; and no NetworkPolicy restricts egress, so the workers and the scheduler reach the managed
Redis on its TLS port (6379 / 6380) outside the cluster.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from pulumi.runtime import rpc

from tests.conftest import missing_tool, render_config
from tests.support.broker import celery_stack
from tools.chart import default_chart_dir, render_chart

BROKER_ENV = "AIRFLOW__CELERY__BROKER_URL"
SECRET_NAME = "airflow-broker-url-static"


@pytest.fixture(scope="module", autouse=True)
def _tools_present() -> None:
    if importlib.util.find_spec("helm_python") is None:
        missing_tool("python package helm_python (scripts/bootstrap.sh --dev)")
    if not (default_chart_dir() / "Chart.yaml").is_file():
        missing_tool(f"chart source at {default_chart_dir()}")


@pytest.fixture(scope="module", params=["aws", "azure"])
def chart(request) -> tuple[str, list[dict[str, Any]]]:
    rendered = render_config(celery_stack(request.param))
    (values,) = rendered.helm_values(show_secrets=False)
    release = rendered.by_type("kubernetes:helm.sh/v3:Release")[0].inputs
    secret = rendered.one("kubernetes:core/v1:Secret", "airflow-secrets-broker-url").inputs["stringData"]
    password = unquote(urlsplit(rpc.unwrap_rpc_secret(secret)["connection"]).password)
    return password, render_chart(values, release_name=release["name"], namespace=release["namespace"])


def _containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    spec = manifest.get("spec") or {}
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = (spec.get("template") or {}).get("spec") or {}
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def test_should_render_none_of_the_charts_redis_objects(chart):
    _, manifests = chart
    redis = [f"{m['kind']}/{m['metadata']['name']}" for m in manifests if "redis" in m["metadata"]["name"]]
    assert not redis, redis
    chart_secrets = [m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"]
    assert not any("broker" in name for name in chart_secrets), chart_secrets


def test_should_give_the_broker_url_only_to_the_scheduler_and_the_workers_from_our_secret(chart):
    _, manifests = chart
    holders = []
    for manifest in manifests:
        for container in _containers(manifest):
            for env in container.get("env") or []:
                if env["name"] == BROKER_ENV:
                    assert env.get("valueFrom") == {"secretKeyRef": {"name": SECRET_NAME, "key": "connection"}}, env
                    holders.append(f"{manifest['metadata']['name']}/{container['name']}")
    assert sorted(holders) == ["airflow-scheduler/scheduler", "airflow-worker/worker"]


def test_should_carry_the_broker_credential_in_no_rendered_manifest(chart):
    password, manifests = chart
    assert len(password) >= 44
    assert password not in json.dumps(manifests)


def test_should_leave_egress_to_the_managed_redis_open(chart):
    _, manifests = chart
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    assert policies, "networkPolicies.enabled renders the chart's policies"
    restricting = [m["metadata"]["name"] for m in policies if "Egress" in (m["spec"].get("policyTypes") or [])]
    assert not restricting, restricting
