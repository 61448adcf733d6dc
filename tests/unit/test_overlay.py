"""The escape hatch: deep merge, owned paths, and the settings rules that refuse them."""

from __future__ import annotations

import pytest

from components.settings import chart_schema
from components.settings.errors import SettingsError
from components.settings.overlay import (
    OWNED_AGENT_PATHS,
    OWNED_CHART_PATHS,
    config_conflicts,
    deep_merge,
    env_conflicts,
    owned_conflicts,
)
from components.settings.validation import settings_from_config
from tests.conftest import ROOT, SHARED_CHART_DIR, VENDORED_CHART_DIR, missing_tool, stack_file
from tests.support.stacks import PROJECT, expect_rejected, with_values
from tools.stackfile import load_stack

AWS_PROD = load_stack(stack_file("payments-prod"))
AZURE_PROD = load_stack(stack_file("research-prod"))


def parse(stack):
    raw = {k: v for k, v in stack.project_values().items() if f"{PROJECT}:{k}" not in stack.secret_keys}
    return settings_from_config(raw, stack=stack.stack, aws_region=stack.values.get("aws:region"))


def test_should_merge_mappings_key_by_key_and_replace_lists():
    base = {"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2], "k": 1}
    merged = deep_merge(base, {"a": {"c": {"e": 3}}, "l": [3], "n": None})
    assert merged == {"a": {"b": 1, "c": {"d": 2, "e": 3}}, "l": [3], "k": 1, "n": None}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2], "k": 1}  # not mutated


@pytest.mark.parametrize(
    "path",
    [
        "data.metadataSecretName",
        "fernetKeySecretName",
        "jwtSecretName",
        "apiSecretKeySecretName",
        "scheduler.serviceAccount.annotations.eks.amazonaws.com/role-arn",
        "workers.serviceAccount.name",
        "config.secrets.backend",
        "pgbouncer.configSecretName",
        "pgbouncer.maxClientConn",
        "images.airflow.tag",
        "triggerer.replicas",
        "workers.safeToEvict",
    ],
)
def test_should_find_owned_chart_paths(path):
    overlay: dict = {}
    node = overlay
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = "x"
    conflicts = owned_conflicts(overlay, OWNED_CHART_PATHS)
    assert len(conflicts) == 1
    assert path.startswith(conflicts[0][0])


def test_should_leave_unowned_chart_paths_alone():
    overlay = {
        "scheduler": {"resources": {"limits": {"cpu": "4"}}, "nodeSelector": {"pool": "airflow"}, "labels": {"team": "x"}},
        "apiServer": {"nodeSelector": {"pool": "web"}},
        "tolerations": [],
        "images": {"statsd": {"tag": "v0.28.0"}},
    }
    assert owned_conflicts(overlay, OWNED_CHART_PATHS) == []


def test_should_protect_the_workload_identity_label_but_not_other_labels():
    conflicts = owned_conflicts({"scheduler": {"labels": {"azure.workload.identity/use": "false", "x": "y"}}}, OWNED_CHART_PATHS)
    assert conflicts == [("scheduler.labels.azure.workload.identity/use", "workload identity")]


def test_should_find_owned_agent_paths():
    conflicts = owned_conflicts({"secretBackend": "x", "triggerer": {"serviceAccount": {}}, "logLevel": "DEBUG"}, OWNED_AGENT_PATHS)
    assert [p for p, _ in conflicts] == ["secretBackend", "triggerer.serviceAccount"]


def test_should_find_owned_config_keys_and_env():
    assert [k for k, _ in config_conflicts({"secrets": {"backend_kwargs": "{}"}, "core": {"parallelism": 64}})] == [
        "secrets.backend_kwargs"
    ]
    found = env_conflicts({"env": [{"name": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "value": "x"}, {"name": "TZ", "value": "UTC"}]})
    assert found == ["env[0].name=AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env_conflicts({"extraEnv": "- name: X"}) and env_conflicts({"extraEnvFrom": "x"})


def test_should_merge_helm_values_last_and_airflow_config_into_config():
    s = parse(
        with_values(
            AWS_PROD,
            helmValues={"scheduler": {"resources": {"limits": {"cpu": "4"}}, "nodeSelector": {"pool": "airflow"}}},
            airflowConfig={"core": {"parallelism": 64, "default_timezone": "utc%"}},
        )
    )
    from components.airflow_chart.values import ReleaseRefs, build_values, secret_names

    refs = ReleaseRefs(secrets=secret_names(s), backend_class="b", backend_kwargs={}, service_account_annotations={})
    values = build_values(s, refs)
    assert values["scheduler"]["resources"]["limits"] == {"cpu": "4", "memory": "2Gi"}
    assert values["scheduler"]["nodeSelector"] == {"pool": "airflow"}
    assert values["config"]["core"] == {"load_examples": "False", "parallelism": 64, "default_timezone": "utc%%"}
    assert values["config"]["secrets"]["backend"] == "b"


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"helmValues": {"data": {"metadataSecretName": "mine"}}}, "helmValues.data"),
        ({"helmValues": {"scheduler": {"serviceAccount": {"annotations": {"a": "b"}}}}}, "helmValues.scheduler.serviceAccount"),
        ({"helmValues": {"config": {"core": {"x": "y"}}}}, "helmValues.config"),
        ({"helmValues": {"env": [{"name": "AIRFLOW__SECRETS__BACKEND", "value": "x"}]}}, "helmValues.env[0]"),
        ({"helmValues": {"scheduler": {"not_a_chart_key": 1}}}, "helmValues.scheduler"),
        ({"helmValues": {"apiServer": {"replicas": "two"}}}, "helmValues.apiServer.replicas"),
        ({"airflowConfig": {"database": {"sql_alchemy_conn": "postgresql://x"}}}, "airflowConfig.database.sql_alchemy_conn"),
        ({"airflowConfig": {"core": {"x": "{{ .Values.y }}"}}}, "airflowConfig.core.x"),
        ({"pods": {"workers": {"safeToEvict": True}}}, "pods.workers.safeToEvict"),
        ({"pods": {"workers": {"concurrency": 8}}}, "pods.workers.concurrency"),
        ({"database": {"instanceClass": "db.t4g.micro"}, "schedulerReplicas": 10, "apiServerReplicas": 20}, "database.instanceClass"),
        ({"database": {"instanceClass": "db.r7g.large", "pgbouncerMaxClientConn": 50}}, "database.pgbouncerMaxClientConn"),
        ({"airflowImageDigest": "sha256:" + "0" * 64, "airflowImageRepository": "repo@sha256:" + "1" * 64}, "airflowImageDigest"),
    ],
)
def test_should_refuse_overlays_on_owned_paths_and_plans_that_do_not_fit(changes, setting):
    with pytest.raises(SettingsError) as caught:
        parse(with_values(AWS_PROD, **changes))
    assert f"{PROJECT}:{setting}" in str(caught.value)


def test_should_register_nothing_when_an_overlay_is_refused():
    expect_rejected(with_values(AZURE_PROD, helmValues={"jwtSecretName": "mine"}), "helmValues.jwtSecretName")


def test_should_accept_safe_to_evict_per_component_and_celery_load():
    s = parse(
        with_values(
            AWS_PROD,
            executor="CeleryExecutor",
            pods={
                "scheduler": {
                    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
                    "safeToEvict": False,
                },
                "workers": {
                    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
                    "safeToEvict": True,
                    "replicas": 3,
                    "concurrency": 8,
                },
            },
        )
    )
    assert s.budget_load().celery_slots == 24
    assert s.connection_budget().result_backend_pool_size == 5


def test_should_take_the_digest_from_the_repository_or_the_setting():
    s = parse(with_values(AWS_PROD, airflowImageDigest=None, airflowImageRepository="r.example/airflow@sha256:" + "a" * 64))
    assert (s.image_repository, s.image_digest) == ("r.example/airflow", "sha256:" + "a" * 64)
    assert parse(with_values(AWS_PROD, airflowImageDigest=None)).image_digest is None


def test_should_set_safe_to_evict_per_component_where_the_chart_has_no_key_as_an_annotation():
    from components.airflow_chart.values import ReleaseRefs, build_values, secret_names

    s = parse(
        with_values(
            AWS_PROD,
            pods={"scheduler": {"safeToEvict": False}, "apiServer": {"safeToEvict": True}, "pgbouncer": {"safeToEvict": False}},
        )
    )
    values = build_values(s, ReleaseRefs(secrets=secret_names(s), backend_class="b", backend_kwargs={}, service_account_annotations={}))
    assert values["scheduler"]["safeToEvict"] is False
    assert values["apiServer"]["podAnnotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "true"
    assert values["pgbouncer"]["podAnnotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    assert values["workers"]["safeToEvict"] is False
    assert values["scheduler"]["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}  # default kept


def test_should_merge_helm_values_into_the_agent_chart_and_refuse_its_owned_paths():
    from components.remote_execution.values import AgentRefs, build_agent_values
    from tests.support.agent import AWS_EXAMPLE, example

    base = example(AWS_EXAMPLE)
    s = parse(with_values(base, helmValues={"logLevel": "DEBUG", "sentinel": {"enabled": False}}))
    refs = AgentRefs(
        agent_token_secret_name="t", image_pull_secret_name="p", backend_class="b", backend_kwargs={}, service_account_annotations={}
    )
    values = build_agent_values(s, refs)
    assert values["logLevel"] == "DEBUG"
    assert values["sentinel"]["enabled"] is False and values["sentinel"]["image"]  # merged, not replaced
    with pytest.raises(SettingsError, match=r"helmValues\.secretBackend"):
        parse(with_values(base, helmValues={"secretBackend": "x"}))
    with pytest.raises(SettingsError, match="airflowConfig"):
        parse(with_values(base, airflowConfig={"core": {"parallelism": 8}}))


def test_should_ship_the_chart_schema_the_helm_values_check_reads():
    """The program's own copy (read at run time) is the chart's schema: equal to the chart source and the test copy."""
    shipped = chart_schema.SCHEMA_PATH
    assert shipped.is_relative_to(ROOT / "components"), "the program must not read its schema from tests/"
    shared = SHARED_CHART_DIR / "values.schema.json"
    if not shared.exists():
        missing_tool(f"the chart source next to the repository ({shared})")
    assert shipped.read_bytes() == shared.read_bytes()
    assert shipped.read_bytes() == (VENDORED_CHART_DIR / "values.schema.json").read_bytes()
    assert chart_schema.schema_errors({"webserver": {"defaultUser": {"enabled": "yes"}}})


def test_should_append_named_list_items_and_refuse_a_name_clash():
    from components.settings.overlay import merge_overlay

    base = {"env": [{"name": "A", "value": "1"}], "args": ["x"], "s": {"volumes": [{"name": "tmp"}]}}
    merged = merge_overlay(base, {"env": [{"name": "B", "value": "2"}], "args": ["y"], "s": {"volumes": [{"name": "v"}]}})
    assert merged == {
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "args": ["y"],
        "s": {"volumes": [{"name": "tmp"}, {"name": "v"}]},
    }
    with pytest.raises(ValueError, match=r"volumes items \['tmp'\] collide"):
        merge_overlay(base, {"s": {"volumes": [{"name": "tmp", "emptyDir": {}}]}})
