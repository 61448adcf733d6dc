"""Day-2 changes: each kind of edit changes exactly the resources it should, and rotations roll the right pods.

Every test renders an example before and after one edit and compares the two
``resources.json`` documents (secrets shown, so a changed value counts), keyed
by resource type and name. ``DAY2_EDITS`` is the table the README runbook
describes; ``python -m pytest tests/examples/test_day2.py -s -k table`` prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import render, render_config, stack_file
from tests.support.stacks import PROJECT, edit, with_values
from tools.render import HELM_RELEASE, Rendered, mask
from tools.stackfile import StackConfig, load_stack

CHECKSUM = "checksum/airflow-platform-secrets"
K8S_SECRET = "kubernetes:core/v1:Secret"
RANDOM_BYTES = "random:index/randomBytes:RandomBytes"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
AIRFLOW_PODS = ("scheduler", "apiServer", "dagProcessor", "triggerer", "workers")
SELF_HOSTED = ("payments-prod", "payments-dev", "research-prod", "research-dev")
REMOTE = ("growth-prod", "insights-prod")


def _diffed(resource: dict[str, Any]) -> tuple[Any, Any]:
    """What ``pulumi up`` compares: inputs and options, less ``dependsOn`` (a new dependency updates nothing)."""
    return resource["inputs"], {k: v for k, v in resource["options"].items() if k != "dependsOn"}


def changes(before: Rendered, after: Rendered) -> dict[str, list[str]]:
    """Resources added, removed and changed (inputs or options), by ``type name``."""
    old = {(r["type"], r["name"]): r for r in before.resources_document(show_secrets=True)}
    new = {(r["type"], r["name"]): r for r in after.resources_document(show_secrets=True)}

    def label(key: tuple[str, str]) -> str:
        return f"{key[0]} {key[1]}"

    return {
        "added": sorted(label(k) for k in new.keys() - old.keys()),
        "removed": sorted(label(k) for k in old.keys() - new.keys()),
        "changed": sorted(label(k) for k in new.keys() & old.keys() if _diffed(new[k]) != _diffed(old[k])),
    }


def values(rendered: Rendered) -> dict[str, Any]:
    (found,) = rendered.helm_values(show_secrets=True)
    return found


def secret_data(rendered: Rendered, name: str) -> dict[str, str]:
    (secret,) = [r for r in rendered.by_type(K8S_SECRET) if r.inputs["metadata"]["name"] == name]
    return mask(secret.inputs["stringData"], True)


def bumped(key: str) -> Callable[[StackConfig], StackConfig]:
    return lambda stack: with_values(stack, **{key: 2})


def rotated_connection_secret(stack: StackConfig) -> StackConfig:
    named = [
        key
        for conn in stack.project_values()["connections"]
        if isinstance(conn.get("secretFields"), dict)
        for key in conn["secretFields"].values()
    ]
    key = f"{PROJECT}:{min(named)}"  # a token a connection's secretFields name
    assert key in stack.secret_keys, (key, sorted(stack.secret_keys))
    return replace(stack, values={**stack.values, key: "rotated-token-value"})


def added_connection(stack: StackConfig) -> StackConfig:
    extra = {"connId": "postgres_reporting", "connType": "postgres", "host": "reporting.example.internal", "port": 5432}
    return with_values(stack, connections=[*stack.project_values().get("connections", []), extra])


def changed_bundle(stack: StackConfig) -> StackConfig:
    return edit(stack, "dagBundles", lambda bundles: bundles[0].update(trackingRef="release-2026-12"))


def added_bundle(stack: StackConfig) -> StackConfig:
    extra = {"name": "extra-dags", "kind": "git", "repoUrl": "https://github.com/acme-data/extra-dags.git"}
    return edit(stack, "dagBundles", lambda bundles: bundles.append(extra))


DAY2_EDITS: dict[str, Callable[[StackConfig], StackConfig]] = {
    "fernetKeyGeneration 1->2": bumped("fernetKeyGeneration"),
    "jwtSecretGeneration 1->2": bumped("jwtSecretGeneration"),
    "apiSecretKeyGeneration 1->2": bumped("apiSecretKeyGeneration"),
    "databasePasswordGeneration 1->2": bumped("databasePasswordGeneration"),
    "rotate a connection's secret": rotated_connection_secret,
    "add a connection": added_connection,
    "change a DAG bundle": changed_bundle,
    "add a DAG bundle": added_bundle,
}


_AFTER: dict[tuple[str, str], Rendered] = {}


def after(example: str, edit_name: str) -> Rendered:
    key = (example, edit_name)
    if key not in _AFTER:
        _AFTER[key] = render_config(DAY2_EDITS[edit_name](load_stack(stack_file(example))))
    return _AFTER[key]


def checksums(rendered: Rendered) -> dict[str, str | None]:
    v = values(rendered)
    found = {key: v[key].get("podAnnotations", {}).get(CHECKSUM) for key in AIRFLOW_PODS if key in v}
    found["pgbouncer"] = v["pgbouncer"].get("podAnnotations", {}).get(CHECKSUM)
    return found


# ------------------------------------------------------------------ rotations roll exactly the pods that read the secret


@pytest.mark.parametrize("example", SELF_HOSTED)
@pytest.mark.parametrize(
    ("edit_name", "rolled"),
    [
        ("fernetKeyGeneration 1->2", {"airflow"}),
        ("jwtSecretGeneration 1->2", {"airflow"}),
        ("apiSecretKeyGeneration 1->2", {"airflow"}),
        ("databasePasswordGeneration 1->2", {"airflow", "pgbouncer"}),
    ],
)
def test_should_roll_exactly_the_pods_that_read_a_rotated_secret(example: str, edit_name: str, rolled: set[str]):
    old, new = checksums(render(stack_file(example))), checksums(after(example, edit_name))
    pgbouncer_on = old["pgbouncer"] is not None
    assert all(old[k] for k in AIRFLOW_PODS if k in old), old
    for key in old:
        group = "pgbouncer" if key == "pgbouncer" else "airflow"
        if group in rolled and (group != "pgbouncer" or pgbouncer_on):
            assert new[key] != old[key], f"{edit_name}: {key} pods do not roll"
        else:
            assert new[key] == old[key], f"{edit_name}: {key} pods roll for nothing"


@pytest.mark.parametrize("example", SELF_HOSTED)
@pytest.mark.parametrize(
    ("edit_name", "resource", "secret_key"),
    [
        ("jwtSecretGeneration 1->2", "jwt", "jwt-secret"),
        ("apiSecretKeyGeneration 1->2", "api_secret_key", "api-secret-key"),
        ("databasePasswordGeneration 1->2", "metadata", "connection"),
    ],
)
def test_should_put_a_new_value_in_the_secret_when_its_generation_is_bumped(example, edit_name, resource, secret_key):
    before, later = render(stack_file(example)), after(example, edit_name)
    name = values(before)[{"jwt": "jwtSecretName", "api_secret_key": "apiSecretKeySecretName"}.get(resource, "data")]
    name = name["metadataSecretName"] if resource == "metadata" else name
    assert secret_data(later, name)[secret_key] != secret_data(before, name)[secret_key]


@pytest.mark.parametrize("example", SELF_HOSTED)
def test_should_keep_the_previous_fernet_key_second_so_old_data_stays_readable(example: str):
    before, later = render(stack_file(example)), after(example, "fernetKeyGeneration 1->2")
    name = values(before)["fernetKeySecretName"]
    (old_key,) = secret_data(before, name)["fernet-key"].split(",")
    new_key, previous = secret_data(later, name)["fernet-key"].split(",")
    assert previous == old_key and new_key != old_key
    assert changes(before, later)["added"] == [f"{RANDOM_BYTES} airflow-secrets-fernet-key-2"]
    third = render_config(with_values(load_stack(stack_file(example)), fernetKeyGeneration=3))
    newest, second = secret_data(third, name)["fernet-key"].split(",")
    assert second == new_key and newest not in (new_key, old_key), "generation 3 keeps 2 and drops 1"


# ------------------------------------------------------------------ what each edit touches


@pytest.mark.parametrize(
    ("example", "edit_name"),
    [(e, "add a connection") for e in (*SELF_HOSTED, *REMOTE)]
    + [(e, "rotate a connection's secret") for e in ("payments-prod", "research-prod", *REMOTE)],  # those with config secrets
)
def test_should_change_only_connection_secrets_never_the_release(example: str, edit_name: str):
    before, later = render(stack_file(example)), after(example, edit_name)
    diff = changes(before, later)
    touched = diff["added"] + diff["changed"] + diff["removed"]
    assert touched, "the edit changed nothing"
    backend_types = ("aws:secretsmanager/", "azure-native:keyvault:Secret")
    assert all(any(t in item for t in backend_types) for item in touched), touched
    assert values(before) == values(later), "the Helm values changed: pods would restart"


@pytest.mark.parametrize("example", [*SELF_HOSTED, *REMOTE])
@pytest.mark.parametrize("edit_name", ["change a DAG bundle", "add a DAG bundle"])
def test_should_change_only_the_release_for_a_dag_bundle_edit(example: str, edit_name: str):
    before = render(stack_file(example))
    (release,) = before.by_type(HELM_RELEASE)
    diff = changes(before, after(example, edit_name))
    assert diff == {"added": [], "removed": [], "changed": [f"{HELM_RELEASE} {release.name}"]}


# ------------------------------------------------------------------ what survives a delete


@pytest.mark.parametrize("example", SELF_HOSTED)
def test_should_retain_the_namespace_and_protect_it_and_the_keys_with_stateful_protection(example: str):
    rendered = render(stack_file(example))
    protected = load_stack(stack_file(example)).project_values().get("protectStateful", True)
    (namespace,) = rendered.by_type("kubernetes:core/v1:Namespace")
    assert namespace.retain_on_delete, "deleting the Namespace would delete every Secret, Helm record and volume in it"
    keys = [r for r in rendered.registrations if r.type in (RANDOM_BYTES, RANDOM_PASSWORD) and r.parent == "airflow-secrets"]
    by_name = {r.name: r.protect for r in [namespace, *keys]}
    for name in ("airflow-secrets-namespace", "airflow-secrets-fernet-key", "airflow-secrets-jwt-secret", "airflow-secrets-api-secret-key"):
        assert by_name[name] is protected, (name, by_name[name])


def test_should_show_the_options_pulumi_up_acts_on_and_mark_invented_values():
    rendered = render(stack_file("payments-prod"))
    document = {r["name"]: r for r in rendered.resources_document()}
    assert document["airflow-secrets-namespace"]["options"]["retainOnDelete"] is True
    assert document["airflow-secrets-namespace"]["options"]["protect"] is True
    release = document["airflow-release"]["options"]
    assert "airflow-secrets-metadata" in release["dependsOn"] and "secrets-reader-role" in release["dependsOn"]
    assert document["metadata-db-instance"]["inventedByMocks"]["address"].endswith(".rds.amazonaws.com")
    assert "inputs" in document["metadata-db-instance"] and "address" not in document["metadata-db-instance"]["inputs"]
    assert any("role-arn" in path for path in rendered.invented_value_paths())


def test_day2_edit_table(capsys):
    """The before/after table of the README runbook, for payments-prod (prints with -s)."""
    rows = []
    for edit_name in DAY2_EDITS:
        diff = changes(render(stack_file("payments-prod")), after("payments-prod", edit_name))
        rows.append((edit_name, diff))
        assert any(diff.values()), edit_name
    with capsys.disabled():
        for edit_name, diff in rows:
            cells = [", ".join(f"{n.split(' ')[1]} ({n.split(' ')[0].rsplit(':', 1)[-1]})" for n in diff[k]) or "-" for k in diff]
            print(f"| {edit_name} | " + " | ".join(cells) + " |")
