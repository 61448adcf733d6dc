"""Contract: on the real chart render, task pods carry neither the metadata URI nor the Fernet key.

The generated values of the self-hosted examples are rendered with the real
chart 1.20.0 (``tools.chart.render_chart``, offline). The KubernetesExecutor pod
template the chart writes into a ConfigMap (``pod_template_file.yaml``) must not
name the metadata or Fernet Secret anywhere (env, envFrom, volume, file), nor set
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``, ``AIRFLOW__CORE__FERNET_KEY`` or
``AIRFLOW_CONN_AIRFLOW_DB``; the components that need them still get them,
including the wait-for-migrations init containers. PgBouncer mounts the database
CA next to its config where the stack verifies the server certificate.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import yaml

from components.database_urls import PGBOUNCER_CA_FILE
from tests.conftest import missing_tool, render, stack_file
from tools.chart import default_chart_dir, render_chart

EXAMPLES = ["payments-prod", "research-prod"]
DB_ENV = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
FERNET_ENV = "AIRFLOW__CORE__FERNET_KEY"
FORBIDDEN_ENV = {DB_ENV, FERNET_ENV, "AIRFLOW_CONN_AIRFLOW_DB"}


@pytest.fixture(scope="module", autouse=True)
def _tools_present() -> None:
    if importlib.util.find_spec("helm_python") is None:
        missing_tool("python package helm_python (scripts/bootstrap.sh --dev)")
    if not (default_chart_dir() / "Chart.yaml").is_file():
        missing_tool(f"chart source at {default_chart_dir()}")


@pytest.fixture(scope="module", params=EXAMPLES)
def chart(request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    stack = render(stack_file(request.param))
    (values,) = stack.helm_values(show_secrets=False)
    release = stack.by_type("kubernetes:helm.sh/v3:Release")[0].inputs
    manifests = render_chart(values, release_name=release["name"], namespace=release["namespace"])
    return values, manifests


def _find(manifests: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"{kind} *{suffix}: {[m['metadata']['name'] for m in found]}"
    return found[0]


def _pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


def _pod_template(manifests: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    maps = [m for m in manifests if m["kind"] == "ConfigMap" and "pod_template_file.yaml" in (m.get("data") or {})]
    assert len(maps) == 1, [m["metadata"]["name"] for m in maps]
    text = maps[0]["data"]["pod_template_file.yaml"]
    return text, yaml.safe_load(text)


def test_should_give_task_pods_no_database_uri_and_no_fernet_key(chart):
    values, manifests = chart
    assert values["executor"] == "KubernetesExecutor"
    text, pod = _pod_template(manifests)
    metadata_secret, fernet_secret = values["data"]["metadataSecretName"], values["fernetKeySecretName"]
    assert metadata_secret not in text and fernet_secret not in text, "the pod template names the metadata or Fernet Secret"
    spec = pod["spec"]
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        assert not FORBIDDEN_ENV & _env(container).keys(), container["name"]
        for source in container.get("envFrom") or []:
            assert (source.get("secretRef") or {}).get("name") not in (metadata_secret, fernet_secret)
    for volume in spec.get("volumes") or []:
        assert (volume.get("secret") or {}).get("secretName") not in (metadata_secret, fernet_secret), volume
    # what a task does need: the API server it talks to (Task SDK), and the airflow.cfg it reads
    assert "airflow.cfg" in text


def test_should_keep_the_database_uri_and_fernet_key_where_airflow_needs_them(chart):
    values, manifests = chart
    metadata_secret = values["data"]["metadataSecretName"]
    for suffix in ("-scheduler", "-api-server", "-dag-processor", "-triggerer"):
        kind = "StatefulSet" if suffix == "-triggerer" and any(m["kind"] == "StatefulSet" for m in manifests) else "Deployment"
        spec = _pod_spec(_find(manifests, kind, suffix))
        main = spec["containers"][0]
        assert {DB_ENV, FERNET_ENV} <= _env(main).keys(), suffix
        assert _env(main)[DB_ENV]["valueFrom"]["secretKeyRef"] == {"name": metadata_secret, "key": "connection"}
        (wait,) = [c for c in spec["initContainers"] if c["name"] == "wait-for-airflow-migrations"]
        assert DB_ENV in _env(wait) and FERNET_ENV not in _env(wait), suffix
        assert "check-migrations" in wait["args"]
    migrate = _pod_spec(_find(manifests, "Job", "-run-airflow-migrations"))["containers"][0]
    assert DB_ENV in _env(migrate)
    create_user = _pod_spec(_find(manifests, "Job", "-create-user"))["containers"][0]
    assert DB_ENV in _env(create_user) and FERNET_ENV not in _env(create_user)
    cleanup = _pod_spec(_find(manifests, "CronJob", "-database-cleanup"))["containers"][0]
    assert DB_ENV in _env(cleanup)
    assert not any(
        "AIRFLOW_CONN_AIRFLOW_DB" in _env(c)
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet", "Job")
        for c in _pod_spec(m)["containers"]
    )


def test_should_mount_the_database_ca_for_pgbouncer_when_verifying(chart):
    values, manifests = chart
    container = _pod_spec(_find(manifests, "Deployment", "-pgbouncer"))["containers"][0]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    if values["pgbouncer"]["sslmode"] == "verify-full":
        assert mounts[PGBOUNCER_CA_FILE] == {
            "name": "pgbouncer-config",
            "subPath": "root.crt",
            "mountPath": PGBOUNCER_CA_FILE,
            "readOnly": True,
        }
        volumes = {v["name"]: v for v in _pod_spec(_find(manifests, "Deployment", "-pgbouncer"))["volumes"]}
        assert volumes["pgbouncer-config"]["secret"]["secretName"] == values["pgbouncer"]["configSecretName"]
    else:
        assert PGBOUNCER_CA_FILE not in mounts
