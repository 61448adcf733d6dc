"""Every example stack runs whole under mocks; structural and secrecy properties of what it registers."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pulumi.runtime import rpc

from tests.conftest import STACK_FILES, render, stack_file
from tools.render import HELM_RELEASE, MASK, Rendered, mask
from tools.stackfile import ROOT

OFFICIAL_CHART = "airflow"


def test_should_ship_the_example_stacks_the_issues_ask_for():
    names = {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES}
    assert {"payments-dev", "payments-prod"} <= names


def test_should_register_one_helm_release_per_stack(example: Rendered):
    assert len(example.by_type(HELM_RELEASE)) == 1


def test_should_parent_every_resource_under_a_registered_component(example: Rendered):
    components = {r.name for r in example.registrations if not r.custom}
    for reg in example.registrations:
        if reg.custom:
            assert reg.parent in components, f"{reg.type} {reg.name} is not parented by a component"
        else:
            assert reg.type.startswith("dataplat:"), reg.type


def test_should_validate_generated_values_against_the_chart_schema(self_hosted_example: Rendered, chart_schema):
    release = self_hosted_example.one(HELM_RELEASE)
    assert release.inputs["chart"] == OFFICIAL_CHART
    values = mask(release.inputs["values"], show_secrets=False)
    jsonschema.validate(values, chart_schema, cls=jsonschema.Draft7Validator)


def test_should_pin_the_official_chart_release_options(self_hosted_example: Rendered):
    example = self_hosted_example
    release = example.one(HELM_RELEASE)
    assert release.inputs["chart"] == OFFICIAL_CHART
    inputs = release.inputs
    assert inputs["version"] == "1.20.0"
    assert inputs["repositoryOpts"] == {"repo": "https://airflow.apache.org"}
    assert inputs["atomic"] is True and inputs["cleanupOnFail"] is True
    assert inputs["timeout"] >= 900
    assert 1 <= inputs["maxHistory"] <= 50
    assert inputs["name"] == inputs["values"].get("fullnameOverride", example.stack.project_values().get("releaseName", "airflow"))
    assert inputs["values"]["airflowVersion"] == example.stack.project_values()["airflowVersion"]


def _secret_strings(rendered: Rendered) -> set[str]:
    """Every secret value the program handles: generated secrets, secret config values, their encodings."""
    from urllib.parse import quote

    from tools.stackfile import placeholder

    found: set[str] = set()
    for reg in rendered.registrations:
        for key in reg.additional_secret_outputs:
            value = reg.outputs.get(key)
            if rpc.is_rpc_secret(value):
                value = rpc.unwrap_rpc_secret(value)
            if isinstance(value, str) and len(value) >= 8:
                found |= {value, quote(value, safe="")}
    found |= {placeholder(key) for key in rendered.stack.secret_keys}
    return found


def test_should_never_write_a_secret_value_into_helm_values_or_plain_outputs(example: Rendered):
    secrets = _secret_strings(example)
    assert secrets, "the stack has secrets; none were found, so this check would be vacuous"
    release = example.one(HELM_RELEASE)
    assert not rpc.is_rpc_secret(release.inputs["values"]), "values must not derive from any secret"
    visible = json.dumps(mask(release.inputs["values"], False)) + json.dumps(example.outputs_document(False))
    leaked = sorted(s for s in secrets if s in visible)
    assert not leaked, f"secret material visible in values/outputs: {[s[:6] + '...' for s in leaked]}"


def test_should_mark_generated_passwords_and_documents_secret(example: Rendered):
    for reg in example.registrations:
        if reg.type == "kubernetes:core/v1:Secret":
            assert rpc.is_rpc_secret(reg.inputs["stringData"]), reg.name
        if reg.type == "aws:secretsmanager/secretVersion:SecretVersion":
            assert rpc.is_rpc_secret(reg.inputs["secretString"]), reg.name
        if reg.type == "azure-native:keyvault:Secret":
            assert rpc.is_rpc_secret(reg.inputs["properties"]), reg.name
    outputs = example.outputs_document(show_secrets=False)
    if "admin_password" in outputs:
        assert outputs["admin_password"] == MASK


def test_should_protect_stateful_resources_in_production():
    rendered = render(stack_file("payments-prod"))
    stateful = [
        r
        for r in rendered.registrations
        if r.type
        in (
            "aws:rds/instance:Instance",
            "aws:secretsmanager/secret:Secret",
        )
    ]
    assert stateful and all(r.protect for r in stateful)


def test_should_not_protect_anything_when_a_dev_stack_opts_out():
    rendered = render(stack_file("payments-dev"))
    assert not any(r.protect for r in rendered.registrations)


def test_should_render_identically_twice():
    first = render(stack_file("payments-prod"))
    from tools.render import run_program

    second = run_program(first.stack)
    assert first.resources_document(True) == second.resources_document(True)


def test_examples_live_under_config_and_are_named_by_stack(tmp_path: Path):
    for path in STACK_FILES:
        assert path.parent == ROOT / "config"


def test_vendored_chart_files_are_the_pinned_chart_1_20_0():
    """The copy under tests/data must stay byte-identical to the shared reference (chart 1.20.0)."""
    from tests.conftest import SHARED_CHART_DIR, VENDORED_CHART_DIR

    chart = (VENDORED_CHART_DIR / "Chart.yaml").read_text()
    assert "\nversion: 1.20.0\n" in chart
    if not SHARED_CHART_DIR.exists():
        pytest.skip("no ../shared/airflow-chart next to this clone to compare with")
    for name in ("values.schema.json", "values.yaml", "Chart.yaml"):
        assert (VENDORED_CHART_DIR / name).read_bytes() == (SHARED_CHART_DIR / name).read_bytes(), name
