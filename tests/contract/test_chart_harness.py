"""Contract: the offline chart harness (tools/chart.py) renders the real chart as Helm does and validates as Kubernetes does.

Renders ``../shared/airflow-chart/chart`` (chart 1.20.0) through Helm v4's Go SDK
(PyPI ``helm-python-sdk``) and checks the manifests against the Kubernetes
OpenAPI schemas in PyPI ``kubernetes-validate``. Each check is also shown to fail
on purpose: a schema violation, a failing chart check, a broken manifest.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import missing_tool
from tools import chart as chart_module
from tools.chart import (
    CHART_SOURCE_ENV,
    NEWEST_KUBERNETES_VERSION,
    OLDEST_KUBERNETES_VERSION,
    RENDER_CACHE_ENV,
    ChartRenderError,
    ChartValuesError,
    default_chart_dir,
    hook_events,
    render_chart,
    shipped_kubernetes_versions,
    validate_manifests,
)

RELEASE = "airflow"
NAMESPACE = "airflow"
SMALL_VALUES: dict[str, Any] = {"postgresql": {"enabled": False}, "data": {"metadataSecretName": "x"}}
DETERMINISTIC_VALUES: dict[str, Any] = {
    **SMALL_VALUES,
    "executor": "KubernetesExecutor",
    "redis": {"enabled": False},
    "fernetKeySecretName": "fernet",
    "apiSecretKeySecretName": "api-secret-key",
    "jwtSecretName": "jwt",
}
"""Every secret the chart would otherwise fill with random text is named, so two renders are identical."""

DUMMY_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
users: [{name: none, user: {}}]
"""


@pytest.fixture(scope="module", autouse=True)
def _tools_present() -> None:
    for module in ("helm_python", "kubernetes_validate"):
        if importlib.util.find_spec(module) is None:
            missing_tool(f"python package for {module} (scripts/bootstrap.sh --dev)")
    if not (default_chart_dir() / "Chart.yaml").is_file():
        missing_tool(f"chart source at {default_chart_dir()} (set {CHART_SOURCE_ENV})")


@pytest.fixture(scope="module")
def default_render() -> list[dict[str, Any]]:
    return render_chart(SMALL_VALUES, release_name=RELEASE, namespace=NAMESPACE)


def _find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, (
        f"expected one {kind}/{name}, found {len(found)} among {sorted((m['kind'], m['metadata']['name']) for m in manifests)}"
    )
    return found[0]


def test_should_run_migrations_only_after_the_wait_by_default(default_render: list[dict[str, Any]]) -> None:
    job = _find(default_render, "Job", f"{RELEASE}-run-airflow-migrations")
    assert hook_events(job) == {"post-install", "post-upgrade"}
    assert job["metadata"]["annotations"]["helm.sh/hook-weight"] == "1"


def test_should_list_every_hook_of_the_chart_defaults(default_render: list[dict[str, Any]]) -> None:
    hooks = {(m["kind"], m["metadata"]["name"]): hook_events(m) for m in default_render if hook_events(m)}
    assert hooks == {
        ("Job", f"{RELEASE}-run-airflow-migrations"): {"post-install", "post-upgrade"},
        ("Job", f"{RELEASE}-create-user"): {"post-install", "post-upgrade"},
        ("Secret", f"{RELEASE}-fernet-key"): {"pre-install"},
        ("Secret", f"{RELEASE}-redis-password"): {"pre-install"},
        ("Secret", f"{RELEASE}-broker-url"): {"pre-install"},
    }


def test_should_render_migrations_as_a_regular_job_when_helm_hooks_are_off() -> None:
    manifests = render_chart({**SMALL_VALUES, "migrateDatabaseJob": {"useHelmHooks": False}}, release_name=RELEASE, namespace=NAMESPACE)
    job = _find(manifests, "Job", f"{RELEASE}-run-airflow-migrations")
    assert hook_events(job) == frozenset()
    assert not any(key.startswith("helm.sh/hook") for key in job["metadata"].get("annotations") or {})
    assert hook_events(_find(manifests, "Job", f"{RELEASE}-create-user")) == {"post-install", "post-upgrade"}


def test_should_use_release_name_and_namespace(default_render: list[dict[str, Any]]) -> None:
    scheduler = _find(default_render, "Deployment", f"{RELEASE}-scheduler")
    assert scheduler["metadata"]["labels"]["release"] == RELEASE
    binding = _find(default_render, "RoleBinding", f"{RELEASE}-pod-launcher-rolebinding")
    assert {subject["namespace"] for subject in binding["subjects"]} == {NAMESPACE}


def test_should_raise_values_error_when_values_break_the_chart_schema() -> None:
    with pytest.raises(ChartValuesError, match=r"/executor.*got number, want string"):
        render_chart({**SMALL_VALUES, "executor": 5}, release_name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(ValueError, match=r"/migrateDatabaseJob.*'nope' not allowed"):
        render_chart({"migrateDatabaseJob": {"nope": True}}, release_name=RELEASE, namespace=NAMESPACE)


def test_should_raise_render_error_when_a_chart_check_fails() -> None:
    with pytest.raises(ChartRenderError, match=r"check-values.yaml.*2\.11\.0 and above"):
        render_chart({**SMALL_VALUES, "airflowVersion": "2.10.5"}, release_name=RELEASE, namespace=NAMESPACE)


def test_should_refuse_values_that_are_not_json() -> None:
    with pytest.raises(ChartValuesError, match=r"values\.env\[0\]: object is not a JSON value"):
        render_chart({"env": [object()]}, release_name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize(("release_name", "namespace"), [("Airflow_1", NAMESPACE), (RELEASE, "Air_flow")])
def test_should_refuse_invalid_release_name_or_namespace(release_name: str, namespace: str) -> None:
    with pytest.raises(ValueError, match=r"release_name|namespace"):
        render_chart(SMALL_VALUES, release_name=release_name, namespace=namespace)


def test_should_name_the_override_when_chart_dir_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CHART_SOURCE_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=CHART_SOURCE_ENV):
        render_chart(SMALL_VALUES, release_name=RELEASE, namespace=NAMESPACE)


def test_should_render_what_a_client_side_dry_run_install_renders() -> None:
    """The regular manifests equal Helm's own install pipeline (dry-run=client), which keeps hooks apart."""
    import helm_python as helm

    ours = render_chart(DETERMINISTIC_VALUES, release_name=RELEASE, namespace=NAMESPACE)
    assert ours == render_chart(DETERMINISTIC_VALUES, release_name=RELEASE, namespace=NAMESPACE)
    with helm.Chart.load(default_chart_dir()) as chart, helm.Config(kubeconfig_content=DUMMY_KUBECONFIG, storage_driver="memory") as config:
        release = config.install(chart, RELEASE, copy.deepcopy(DETERMINISTIC_VALUES), namespace=NAMESPACE, dry_run="client")
    installed = [doc for doc in yaml.safe_load_all(release["manifest"]) if doc]
    key = lambda m: (m["kind"], m["metadata"]["name"])  # noqa: E731
    assert sorted(installed, key=key) == sorted((m for m in ours if not hook_events(m)), key=key)


def test_should_keep_helm_paths_in_a_private_temp_dir(default_render: list[dict[str, Any]]) -> None:
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME", "HELM_REPOSITORY_CACHE"):
        path = Path(os.environ[name])
        assert path.is_relative_to(tempfile.gettempdir()), (name, path)
        assert f"helm-render-{os.getpid()}-" in str(path), (name, path)


@pytest.mark.parametrize("kubernetes_version", [OLDEST_KUBERNETES_VERSION, NEWEST_KUBERNETES_VERSION])
def test_should_find_no_problem_in_the_default_render(default_render: list[dict[str, Any]], kubernetes_version: str) -> None:
    assert validate_manifests(default_render, kubernetes_version) == []


@pytest.mark.parametrize("kubernetes_version", [OLDEST_KUBERNETES_VERSION, NEWEST_KUBERNETES_VERSION])
def test_should_report_unknown_field_and_wrong_type(default_render: list[dict[str, Any]], kubernetes_version: str) -> None:
    typo = copy.deepcopy(_find(default_render, "Deployment", f"{RELEASE}-scheduler"))
    typo["spec"]["template"]["spec"]["containers"][0]["imagee"] = "apache/airflow"
    wrong_type = copy.deepcopy(_find(default_render, "Service", f"{RELEASE}-api-server"))
    wrong_type["spec"]["ports"][0]["port"] = "eight thousand"
    problems = validate_manifests([typo, wrong_type], kubernetes_version)
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"Deployment/{RELEASE}-scheduler: spec.template.spec.containers.0:")
    assert "'imagee' was unexpected" in problems[0]
    assert problems[1].startswith(f"Service/{RELEASE}-api-server: spec.ports.0.port:")


def test_should_report_removed_api_and_non_objects() -> None:
    removed = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"}, "spec": {}}
    problems = validate_manifests([removed, {"kind": "ConfigMap"}], NEWEST_KUBERNETES_VERSION)
    assert (
        problems[0]
        == "PodDisruptionBudget/pdb: Kubernetes 1.37.0 has no policy/v1beta1 PodDisruptionBudget (removed API or custom resource)"
    )
    assert problems[1].startswith("manifest #1: not a Kubernetes object")


def test_should_refuse_a_kubernetes_version_without_schemas() -> None:
    with pytest.raises(ValueError, match=r"must be one of 1\.25\.0.*got '1\.20'"):
        validate_manifests([], "1.20")


def test_version_constants_are_shipped_and_ordered() -> None:
    shipped = shipped_kubernetes_versions()
    assert OLDEST_KUBERNETES_VERSION in shipped
    assert NEWEST_KUBERNETES_VERSION in shipped
    assert shipped.index(OLDEST_KUBERNETES_VERSION) < shipped.index(NEWEST_KUBERNETES_VERSION)
    assert validate_manifests([], "v1.34") == validate_manifests([], "1.34.7") == []


# --------------------------------------------------------------------------- the render cache ($AIRFLOW_CHART_RENDER_CACHE)


class _RefusingChart:
    """Stands in for the loaded chart: a render that reaches Helm fails the test."""

    def render(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        raise AssertionError("rendered again although the cache holds these inputs")


def test_should_render_each_set_of_inputs_once_with_a_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(RENDER_CACHE_ENV, str(tmp_path))
    first = render_chart(DETERMINISTIC_VALUES, release_name=RELEASE, namespace=NAMESPACE)
    assert len(list(tmp_path.glob("render-*.json"))) == 1
    monkeypatch.setattr(chart_module, "_load_chart", lambda directory: _RefusingChart())
    assert render_chart(copy.deepcopy(DETERMINISTIC_VALUES), release_name=RELEASE, namespace=NAMESPACE) == first
    for other in ({"namespace": "other"}, {"release_name": "other"}):
        with pytest.raises(AssertionError, match="rendered again"):
            render_chart(DETERMINISTIC_VALUES, **{"release_name": RELEASE, "namespace": NAMESPACE, **other})
    with pytest.raises(AssertionError, match="rendered again"):
        render_chart({**DETERMINISTIC_VALUES, "executor": "CeleryExecutor"}, release_name=RELEASE, namespace=NAMESPACE)


def test_should_key_the_cache_by_the_charts_content(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache, chart = tmp_path / "cache", tmp_path / "chart"
    shutil.copytree(default_chart_dir(), chart)
    monkeypatch.setenv(RENDER_CACHE_ENV, str(cache))
    render_chart(DETERMINISTIC_VALUES, release_name=RELEASE, namespace=NAMESPACE, chart_dir=chart)
    edited = tmp_path / "edited"
    shutil.copytree(chart, edited)
    with (edited / "values.yaml").open("a") as values:
        values.write("\n# one more line\n")
    render_chart(DETERMINISTIC_VALUES, release_name=RELEASE, namespace=NAMESPACE, chart_dir=edited)
    assert len(list(cache.glob("render-*.json"))) == 2, "a chart with other files must not be served another chart's render"


def test_should_not_cache_a_refused_render(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(RENDER_CACHE_ENV, str(tmp_path))
    for _ in range(2):
        with pytest.raises(ChartValuesError):
            render_chart({**SMALL_VALUES, "executor": 7}, release_name=RELEASE, namespace=NAMESPACE)
    assert list(tmp_path.iterdir()) == []
