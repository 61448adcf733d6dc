"""Contract: on the real chart render, every pod that reads DAG bundles sees the SSH known-hosts file.

GitDagBundle runs ``git``/``ssh`` wherever a bundle is built: the dag-processor, the scheduler, the
triggerer, the api-server, Celery workers and the KubernetesExecutor task pods (the pod template in
the chart's ConfigMap). ``payments-prod`` has an SSH bundle; its values, rendered by chart 1.20.0
(``tools.chart``), must give each of those containers a read-only mount at ``/etc/ssh/ssh_known_hosts``
of the ConfigMap the program creates in the release namespace, holding the declared entries.
The agent chart is not public: its values are checked in ``tests/unit/test_ssh_bundles.py``.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import render, stack_file
from tests.contract.test_chart_render import chart_render, containers, pods
from tests.support.stacks import unwrap

STACK = "payments-prod"
KNOWN_HOSTS_PATH = "/etc/ssh/ssh_known_hosts"
BUNDLE_READERS = frozenset({"scheduler", "dag-processor", "triggerer", "api-server", "worker", "base"})
"""Main containers of the pods that build bundles (``base`` is the task container of the pod template)."""
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def _program_config_map(rendered) -> dict[str, Any]:
    maps = [unwrap(m.inputs) for m in rendered.by_type(CONFIG_MAP) if "ssh_known_hosts" in (unwrap(m.inputs.get("data")) or {})]
    assert len(maps) == 1, f"expected one known-hosts ConfigMap, found {len(maps)}"
    return maps[0]


def known_hosts_problems(manifests: list[dict[str, Any]], config_map: dict[str, Any]) -> list[str]:
    """Bundle-reading containers without the known-hosts mount of ``config_map`` (the check, for the negative test too)."""
    problems, seen = [], set()
    for pod in pods(manifests):
        volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
        for c in containers(pod):
            if c["name"] not in BUNDLE_READERS:
                continue
            seen.add(pod.stage if pod.stage == "runtime" else c["name"])
            mounts = [m for m in c.get("volumeMounts") or [] if m["mountPath"] == KNOWN_HOSTS_PATH]
            if len(mounts) != 1 or not mounts[0].get("readOnly"):
                problems.append(f"{pod.where} {c['name']}: no single read-only mount at {KNOWN_HOSTS_PATH}")
                continue
            source = volumes.get(mounts[0]["name"], {}).get("configMap") or {}
            items = {i["key"]: i["path"] for i in source.get("items") or []}
            if source.get("name") != config_map["metadata"]["name"] or items.get(mounts[0].get("subPath")) != mounts[0].get("subPath"):
                problems.append(f"{pod.where} {c['name']}: {KNOWN_HOSTS_PATH} is not the program's ConfigMap key")
    for needed in ("scheduler", "dag-processor", "triggerer", "api-server", "runtime"):
        if needed not in seen:
            problems.append(f"no {needed} pod rendered to check")
    return problems


def test_should_mount_the_known_hosts_file_in_every_bundle_reading_pod():
    rendered = render(stack_file(STACK))
    config_map = _program_config_map(rendered)
    release = chart_render(rendered)
    assert config_map["metadata"]["namespace"] == release.program.namespace
    assert "github.com ssh-ed25519 " in config_map["data"]["ssh_known_hosts"]
    assert known_hosts_problems(release.manifests, config_map) == []


def test_should_notice_a_pod_without_the_known_hosts_mount():
    """The check fails when the values lose the global mount (the pod template and every component lose it)."""
    from tests.contract.test_chart_render import render as render_values

    rendered = render(stack_file(STACK))
    release = chart_render(rendered)
    values = dict(release.program.values)
    values["volumeMounts"] = [m for m in values["volumeMounts"] if m["mountPath"] != KNOWN_HOSTS_PATH]
    problems = known_hosts_problems(render_values(release.program, values), _program_config_map(rendered))
    assert any("runtime" in p or "pod_template" in p for p in problems), problems
    assert any("scheduler" in p for p in problems), problems
