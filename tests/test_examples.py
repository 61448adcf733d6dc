"""Every example stack runs whole under mocks; structural and secrecy properties of what it registers."""

from __future__ import annotations

import ast
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


def test_components_call_register_outputs_once_and_last():
    """R3: every ComponentResource calls register_outputs exactly once, as its last statement."""
    found = 0
    for path in sorted((ROOT / "components").glob("*.py")):
        tree = ast.parse(path.read_text())
        for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
            if not any(ast.unparse(b).endswith("ComponentResource") for b in cls.bases):
                continue
            found += 1
            init = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
            calls = [n for n in ast.walk(init) if isinstance(n, ast.Call) and ast.unparse(n.func) == "self.register_outputs"]
            assert len(calls) == 1, f"{path.name}:{cls.name} calls register_outputs {len(calls)} times"
            last = init.body[-1]
            assert isinstance(last, ast.Expr) and ast.unparse(last.value.func) == "self.register_outputs", (
                f"{path.name}:{cls.name}: register_outputs is not the last statement"
            )
            keys = {k.value for k in calls[0].args[0].keys}
            declared = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
            assert keys == declared, f"{path.name}:{cls.name}: outputs {keys} != declared attributes {declared}"
    assert found >= 4


def test_components_have_one_component_per_module_with_a_type_token():
    for path in sorted((ROOT / "components").glob("*.py")):
        tree = ast.parse(path.read_text())
        components = [
            n for n in tree.body if isinstance(n, ast.ClassDef) and any(ast.unparse(b).endswith("ComponentResource") for b in n.bases)
        ]
        assert len(components) <= 1, f"{path.name} holds {len(components)} components"
        for cls in components:
            tokens = [n for n in cls.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "TYPE"]
            assert tokens, f"{cls.name} has no TYPE token"
            token = tokens[0].value.value
            assert token.startswith("dataplat:") and token.endswith(f":{cls.name}"), token
            assert any(isinstance(n, ast.ClassDef) and n.name == f"{cls.name}Args" for n in tree.body), f"{cls.name}Args missing"


def test_only_settings_module_reads_pulumi_config():
    offenders = []
    for path in [*list((ROOT / "components").glob("*.py")), ROOT / "__main__.py"]:
        if path.name != "settings.py" and "pulumi.Config(" in path.read_text():
            offenders.append(path.name)
    assert not offenders


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


def test_airflow_components_have_no_cloud_specific_branches():
    """Issue 3: the release side only uses what the backend/identity implementations hand it."""
    cloud_words = ("settings.cloud", ".aws", ".azure", "aws_platform", "azure_platform", "eks.amazonaws", "azure.workload")
    for module in ("airflow_values", "airflow_release", "airflow_secrets", "agent_values", "agent_release", "agent_platform", "helm"):
        source = (ROOT / "components" / f"{module}.py").read_text()
        found = [w for w in cloud_words if w in source]
        assert not found, f"components/{module}.py mentions {found}"
