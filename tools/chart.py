"""Render the real Airflow Helm chart offline and check the manifests against Kubernetes schemas.

The values schema says a value is well-formed; only the render says what the chart
makes of it (STYLE.md R8). This module is the test harness for that second step:

* :func:`render_chart` renders ``../shared/airflow-chart/chart`` (or any chart
  directory) with Helm v4's own template engine, through the Go SDK bundled in
  the PyPI package ``helm-python-sdk``: no ``helm`` binary, no cluster, no
  network. It returns every manifest, hooks included, so a caller can tell what
  the release waits for from what only runs after the wait.
* :func:`validate_manifests` checks manifests against the Kubernetes OpenAPI
  schemas shipped offline in the PyPI package ``kubernetes-validate`` (strict:
  unknown fields are errors), for :data:`OLDEST_KUBERNETES_VERSION` and
  :data:`NEWEST_KUBERNETES_VERSION`.

Usage::

    from tools.chart import NEWEST_KUBERNETES_VERSION, hook_events, render_chart, validate_manifests

    manifests = render_chart(values, release_name="airflow", namespace="airflow")
    after_wait = [m for m in manifests if hook_events(m) & {"post-install", "post-upgrade"}]
    assert validate_manifests(manifests, NEWEST_KUBERNETES_VERSION) == []

What ``render_chart`` does, step by step, is what ``helm template`` does: load the
chart, coalesce the given values over the chart's ``values.yaml``, validate the
result against ``values.schema.json`` (Helm's own validator), render every
template with the release name and namespace, and drop ``NOTES.txt`` and the
``_*`` partials. (A client-side dry-run install through the same SDK produces the
same non-hook manifests; ``tests/contract/test_chart_harness.py`` checks that.)
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from helm_python import Chart

ROOT = Path(__file__).resolve().parent.parent
CHART_SOURCE_ENV = "AIRFLOW_CHART_SOURCE_DIR"
"""Environment variable that points :func:`render_chart` at another chart directory."""

RENDER_CACHE_ENV = "AIRFLOW_CHART_RENDER_CACHE"
"""Environment variable naming a directory where :func:`render_chart` keeps its renders and reads them back.

A render is keyed by everything it depends on (the values, release name, namespace, and the content of every
file of the chart), so a hit is what rendering again would give. The test suite points its workers at one
such directory for the session (``tests/conftest.py``): examples rendered by several test modules render once.
"""

HOOK_ANNOTATION = "helm.sh/hook"

OLDEST_KUBERNETES_VERSION = "1.34.0"
"""Oldest Kubernetes minor in standard support on both EKS and AKS on 2026-11-25.

EKS standard support: 1.34 (until 2026-12-02), 1.35, 1.36 (EKS release calendar).
AKS community support: 1.34 (until 2026-11-30), 1.35, 1.36, 1.37 (AKS release
calendar). Both drop 1.34 within a week of that date, so move this to 1.35 then.
Older minors still run there only as paid extended support (EKS 1.32, 1.33) or
LTS (AKS), which this constant deliberately leaves out. kubernetes-validate ships
schemas for 1.25 to 1.37, so no clamping was needed.
"""

NEWEST_KUBERNETES_VERSION = "1.37.0"
"""Newest Kubernetes minor generally available on EKS or AKS on 2026-11-25.

AKS's release calendar lists 1.37 as GA in October 2026 (EKS had 1.36 from June
2026; an EKS 1.37 release was not found in the sources checked). This is also the
newest minor kubernetes-validate 1.37 ships schemas for, so the value is clamped
to 1.37 in any case.
"""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ChartError(Exception):
    """The chart could not be rendered with the given values."""


class ChartValuesError(ChartError, ValueError):
    """The values are malformed or break the chart's ``values.schema.json``."""


class ChartRenderError(ChartError):
    """A template failed, e.g. one of the chart's own ``fail`` checks on the values."""


def default_chart_dir() -> Path:
    """``$AIRFLOW_CHART_SOURCE_DIR`` if set, else ``../shared/airflow-chart/chart`` next to the repo."""
    override = os.environ.get(CHART_SOURCE_ENV)
    return Path(override) if override else ROOT.parent / "shared" / "airflow-chart" / "chart"


def render_chart(
    values: Mapping[str, Any],
    *,
    release_name: str,
    namespace: str,
    chart_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Render every manifest of the chart, as ``helm template`` would, fully offline.

    Hook manifests are included with their ``helm.sh/hook*`` annotations intact
    (see :func:`hook_events`). Manifests come in template-path order, then in
    document order within a template (not Helm's install order by kind).

    Args:
        values: user values, as they would be passed to ``helm install -f``; only
            JSON-compatible types (Mappings, sequences, str, int, float, bool, None).
        release_name: the Helm release name (validated as Helm does).
        namespace: the release namespace (a DNS-1123 label).
        chart_dir: the chart directory; ``None`` means :func:`default_chart_dir`.

    Raises:
        ChartValuesError: the values are not JSON-compatible or break the chart's
            values schema; the message names each offending key and constraint.
        ChartRenderError: a template failed (the chart's own checks on values).
        ValueError: the release name or namespace is not valid.
        FileNotFoundError: ``chart_dir`` is not a chart directory.
    """
    if not _DNS_LABEL.match(namespace):
        raise ValueError(f"namespace must be a DNS-1123 label (lower-case alphanumerics and '-', at most 63), got {namespace!r}")
    helm = _helm()
    try:
        helm.validate_release_name(release_name)
    except helm.HelmInvalidArgError as error:
        raise ValueError(f"release_name {release_name!r} is not a valid Helm release name: {error}") from None
    directory = (chart_dir or default_chart_dir()).resolve()
    chart = _load_chart(directory)
    plain = _plain(values, "values")
    cached = _cache_file(directory, plain, release_name, namespace)
    if cached is not None and cached.is_file():
        return json.loads(cached.read_text())  # type: ignore[no-any-return]
    try:
        rendered = chart.render(plain, name=release_name, namespace=namespace)
    except helm.HelmValuesError as error:
        raise ChartValuesError(f"values rejected by chart {directory}: {error}") from None
    except helm.HelmRenderError as error:
        raise ChartRenderError(f"chart {directory} failed to render: {error}") from None

    manifests: list[dict[str, Any]] = []
    for template in sorted(rendered):
        base = template.rsplit("/", 1)[-1]
        if base == "NOTES.txt" or base.startswith("_"):
            continue
        for document in yaml.load_all(rendered[template], Loader=_ManifestLoader):
            if document is None:
                continue
            if not isinstance(document, dict):
                raise ChartRenderError(f"{template} rendered a YAML document that is not a mapping: {document!r:.200}")
            manifests.append(document)
    if cached is not None:
        text = json.dumps(manifests)
        if json.loads(text) == manifests:  # kept only when JSON gives it back as it is (no integer keys, ...)
            _write_atomically(cached, text)
    return manifests


def _cache_file(directory: Path, values: Any, release_name: str, namespace: str) -> Path | None:
    """Where the render of these inputs is kept under ``$AIRFLOW_CHART_RENDER_CACHE``; None when unset."""
    cache_dir = os.environ.get(RENDER_CACHE_ENV)
    if not cache_dir:
        return None
    key = hashlib.sha256(json.dumps([_chart_digest(directory), values, release_name, namespace], sort_keys=True).encode())
    return Path(cache_dir) / f"render-{key.hexdigest()}.json"


@functools.cache
def _chart_digest(directory: Path) -> str:
    """SHA-256 over the relative path and content of every file of the chart (once per process, as the load)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the whole file or none: written beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def hook_events(manifest: Mapping[str, Any]) -> frozenset[str]:
    """The Helm hook events of a manifest (``{"post-install", "post-upgrade"}``), empty for a regular one.

    Helm applies regular manifests and waits for them; ``pre-*`` hooks run before
    that, ``post-*`` hooks only after the wait has succeeded.
    """
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    events = annotations.get(HOOK_ANNOTATION)
    if not events:
        return frozenset()
    return frozenset(event.strip() for event in str(events).split(",") if event.strip())


def shipped_kubernetes_versions() -> list[str]:
    """Kubernetes versions (``"1.25.0"`` ...) the installed kubernetes-validate has schemas for, oldest first."""
    from kubernetes_validate import utils

    return list(dict.fromkeys(utils.all_versions()))


def validate_manifests(manifests: Iterable[Mapping[str, Any]], kubernetes_version: str) -> list[str]:
    """Problems of each manifest against the Kubernetes schemas of one version; empty when all are valid.

    Uses kubernetes-validate's strict schemas, so an unknown or misspelt field is
    a problem too. A kind/apiVersion the version has no schema for (a removed API
    such as ``policy/v1beta1``, or a custom resource) is reported as a problem.
    kubernetes-validate reports the first violation of each manifest.

    Args:
        kubernetes_version: ``"1.34"`` or ``"1.34.0"``; must be a minor that
            kubernetes-validate ships (see :func:`shipped_kubernetes_versions`).

    Raises:
        ValueError: the version is not one kubernetes-validate ships schemas for.
    """
    from kubernetes_validate import utils

    _cache_schema_files(utils)
    version = _shipped_version(kubernetes_version)
    problems: list[str] = []
    for index, manifest in enumerate(manifests):
        if (
            not isinstance(manifest, Mapping)
            or not isinstance(manifest.get("kind"), str)
            or not isinstance(manifest.get("apiVersion"), str)
        ):
            problems.append(f"manifest #{index}: not a Kubernetes object (needs string apiVersion and kind): {manifest!r:.200}")
            continue
        label = f"{manifest['kind']}/{(manifest.get('metadata') or {}).get('name', '?')}"
        try:
            utils.validate(_plain(manifest, label), version, strict=True)
        except ChartValuesError as error:
            problems.append(f"{label}: {error}")
        except utils.ValidationError as error:
            where = ".".join(str(part) for part in error.path) or "(top level)"
            problems.append(f"{label}: {where}: {error.message} (Kubernetes {version}, strict)")
        except utils.SchemaNotFoundError:
            problems.append(
                f"{label}: Kubernetes {version} has no {manifest['apiVersion']} {manifest['kind']} (removed API or custom resource)"
            )
    return problems


def _cache_schema_files(utils: Any) -> None:
    """Parse each schema file once per process.

    ``kubernetes_validate.utils.validate`` re-reads and re-parses the kind's schema
    and the whole ``_definitions.json`` for every manifest (about 0.1 s each, three
    quarters of the validation time). Their contents never change and the validator
    only reads them, so the reader is memoised in place, once.
    """
    if not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = functools.cache(utils.schema_contents)


def _shipped_version(kubernetes_version: str) -> str:
    """The shipped schema version of the same minor (schemas differ by minor only)."""
    shipped = shipped_kubernetes_versions()
    parsed = re.fullmatch(r"v?(\d+\.\d+)(\.\d+)?", kubernetes_version)
    matches = [v for v in shipped if parsed and v.startswith(parsed.group(1) + ".")]
    if not matches:
        raise ValueError(
            f"kubernetes_version must be one of {', '.join(shipped)} (what kubernetes-validate ships), got {kubernetes_version!r}"
        )
    return matches[0]


def _plain(value: Any, where: str) -> Any:
    """A JSON-compatible copy: Mappings become dicts, sequences lists; anything else is refused."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ChartValuesError(f"{where}: keys must be strings, got {key!r} ({type(key).__name__})")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise ChartValuesError(
        f"{where}: {type(value).__name__} is not a JSON value (resolve Outputs and secrets before rendering): {value!r:.80}"
    )


class _ManifestLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader that keeps timestamps as strings, as Kubernetes' YAML-to-JSON conversion does."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@functools.cache
def _helm() -> Any:
    """Import ``helm_python`` once per process, after pointing every HELM_* path into a private temp dir.

    The Go runtime inside the library reads the environment once, when it is
    loaded, so this must happen before the import. Rendering needs none of these
    paths (it builds no kube client, registry or repo client); the isolation only
    guarantees that nothing could read a developer's Helm config or write to a
    cache shared by parallel pytest-xdist workers (each is its own process with
    its own directory).
    """
    home = Path(tempfile.mkdtemp(prefix=f"helm-render-{os.getpid()}-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    for name, sub in {
        "HELM_CACHE_HOME": "cache",
        "HELM_CONFIG_HOME": "config",
        "HELM_DATA_HOME": "data",
        "HELM_PLUGINS": "data/plugins",
        "HELM_REGISTRY_CONFIG": "config/registry/config.json",
        "HELM_REPOSITORY_CONFIG": "config/repositories.yaml",
        "HELM_REPOSITORY_CACHE": "cache/repository",
    }.items():
        os.environ[name] = str(home / sub)
    import helm_python

    return helm_python


@functools.cache
def _load_chart(directory: Path) -> Chart:
    """Load a chart once per process (0.3 s for this chart); loaded charts are immutable and thread-safe."""
    if not (directory / "Chart.yaml").is_file():
        raise FileNotFoundError(f"no Helm chart at {directory} (set {CHART_SOURCE_ENV} to the chart directory)")
    helm = _helm()
    try:
        chart: Chart = helm.Chart.load(directory)
    except helm.HelmChartLoadError as error:
        raise ChartError(f"cannot load chart at {directory}: {error}") from None
    return chart
