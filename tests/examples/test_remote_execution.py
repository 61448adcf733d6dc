"""Remote Execution: the values of Astronomer's agent chart and the cloud identity around them.

What is checked, and against what:

* the values of both remote examples against ``agent_chart_values.schema.json``
  (written from ``../shared/reference/astro-agent-chart.md`` §2-§5), and that
  schema against values broken on purpose;
* ``dagBundleConfigList`` and ``AIRFLOW__SECRETS__BACKEND_KWARGS`` against
  Airflow itself (``tests/contract/test_agent_airflow.py``);
* the scheduler's access to the backend for custom timetables (seed 000): IAM
  trust policy on AWS, federated credentials on Azure, and the settings errors;
* that no secret reaches the values, and that the Secrets they name exist;
* DAGs from a ReadWriteMany volume, and workload identity placement.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pulumi.runtime import rpc

from components.settings.fields import MAX_FEDERATED_CREDENTIALS
from tests.conftest import render_config
from tests.support.agent import (
    AGENT_CHART_REPO,
    AGENT_CHART_VERSION,
    ASTRO_REGISTRY,
    AWS_EXAMPLE,
    AWS_ROLE_ANNOTATION,
    AZ_CLIENT_ID,
    AZ_USE_LABEL,
    AZURE_EXAMPLE,
    AZURE_FIC_AUDIENCE,
    GIT_BUNDLE,
    IAM_ROLE,
    K8S_SECRET,
    LOCAL_BUNDLE,
    OIDC_PROVIDER,
    PVC,
    REMOTE_EXAMPLES,
    USER_IDENTITY,
    agent_service_accounts,
    agent_subjects,
    bundle_list,
    env_of,
    example,
    federated_credentials,
    output,
    release_of,
    statement_for,
    trust_statements,
    values_of,
)
from tests.support.stacks import edit, expect_rejected, with_values
from tools.render import HELM_RELEASE, Rendered, mask
from tools.stackfile import placeholder

SCHEMA_PATH = Path(__file__).parent.parent / "data" / "agent_chart_values.schema.json"


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return document


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# ---------------------------------------------------------------- 1. the values and the schema


def test_should_render_each_remote_example_whole_with_the_pinned_agent_chart(remote: Rendered):
    release = release_of(remote)
    values = values_of(remote)
    assert release.inputs["version"] == AGENT_CHART_VERSION
    assert release.inputs["repositoryOpts"] == {"repo": AGENT_CHART_REPO}
    # Helm's own namespace must be the chart's `namespace` (reference §4.3), the release name the prefix.
    assert release.inputs["namespace"] == values["namespace"]
    assert release.inputs["name"] == values["resourceNamePrefix"]
    assert not any(r.inputs.get("chart") == "airflow" for r in remote.by_type(HELM_RELEASE))


def test_should_validate_both_remote_examples_against_the_agent_values_schema(remote: Rendered, validator):
    values = values_of(remote)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]
    assert not errors, errors
    # §5 rules the schema cannot express.
    workers = [w["name"] for w in values["workers"]]
    assert len(workers) == len(set(workers)), workers
    env_of(values)
    for worker in values["workers"]:
        hpa = worker.get("hpa", {})
        assert hpa.get("minReplicaCount", 1) <= hpa.get("maxReplicaCount", 1), worker["name"]


def _parent(values: dict[str, Any], path: tuple[str | int, ...]) -> tuple[Any, str | int]:
    node: Any = values
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


def _set(*path: str | int, value: Any):
    def mutate(values: dict[str, Any]) -> None:
        node, last = _parent(values, path)
        node[last] = value

    return mutate


def _drop(*path: str | int):
    def mutate(values: dict[str, Any]) -> None:
        node, last = _parent(values, path)
        del node[last]

    return mutate


BROKEN_VALUES = {
    "agentToken in plain text": _set("agentToken", value="tok-123"),
    "a second token source (agentTokenFile)": _set("agentTokenFile", value="/var/run/astro/token"),
    "no token source": _drop("agentTokenSecretName"),
    "imagePullSecretData (registry credential)": _set("imagePullSecretData", value='{"auths": {}}'),
    "openLineage.apiKey in plain text": _set("openLineage", "apiKey", value="ol-key"),
    "sentinelAuthSecret in plain text": _set("sentinelAuthSecret", value="s3cr3t"),
    "two sentinel auth sources": lambda v: v.update(sentinelAuthSecretName="sa", sentinelAuthSecretFile="/f"),
    "numeric label value": _set("labels", "azure.workload.identity/use", value=1),
    "boolean label value": _set("labels", "azure.workload.identity/use", value=True),
    "non-string service-account annotation": _set("serviceAccount", "dagProcessor", "annotations", "x", value=5),
    "null top-level value": _set("resourceNamePrefix", value=None),
    "null deep inside an open Kubernetes object": _set("workers", 0, "volumes", 0, "persistentVolumeClaim", "claimName", value=None),
    "null label": _set("labels", "team", value=None),
    "missing secretBackend": _drop("secretBackend"),
    "missing xcomBackend": _drop("xcomBackend"),
    "missing openLineage block": _drop("openLineage"),
    "sentinel.enabled left implicit": _drop("sentinel", "enabled"),
    "typo'd top-level key": _set("secretsBackend", value="x.Y"),
    "typo'd worker key": _set("workers", 0, "syncslots", value=5),
    "typo'd serviceAccount key": _set("serviceAccount", "dagprocessor", value={"create": True}),
    "replicas on the dag processor": _set("dagProcessor", "replicas", value=2),
    "dagBundleConfigList as a YAML list": lambda v: v.update(dagBundleConfigList=json.loads(v["dagBundleConfigList"])),
    "numeric commonEnv value": _set("commonEnv", 0, "value", value=0),
    "commonEnv valueFrom": _set("commonEnv", 0, "valueFrom", value={"secretKeyRef": {"name": "a", "key": "b"}}),
    "commonEnv name not an env name": _set("commonEnv", 0, "name", value="1-BAD"),
    "an ASTRO_* entry removed": lambda v: v.update(commonEnv=[e for e in v["commonEnv"] if e["name"] != "ASTRO_DEPLOYMENT_ID"]),
    "no workers": _set("workers", value=[]),
    "worker without queues": _drop("workers", 0, "queues"),
    "zero worker replicas": _set("workers", 0, "replicas", value=0),
    "zero syncSlots": _set("workers", 0, "syncSlots", value=0),
    "syncSlots as a string": _set("workers", 0, "syncSlots", value="20"),
    "worker service account without a name": _drop("workers", 0, "serviceAccount", "name"),
    "unknown resource key": _set("workers", 0, "resources", "request", value={"cpu": "1"}),
    "numeric cpu quantity": _set("workers", 0, "resources", "limits", "cpu", value=1),
    "zero triggerer asyncSlots": _set("triggerer", "asyncSlots", value=0),
    "zero triggerer replicas": _set("triggerer", "replicas", value=0),
    "resourceNamePrefix not DNS-1123": _set("resourceNamePrefix", value="Astro_Agent"),
    "empty resourceNamePrefix": _set("resourceNamePrefix", value=""),
    "createNamespace with pre-created Secrets": _set("createNamespace", value=True),
    "service account create false without a name": _set("serviceAccount", "workers", value={"create": False}),
    "enabled OpenLineage without its settings": _set("openLineage", "enabled", value=True),
}


@pytest.mark.parametrize("breakage", list(BROKEN_VALUES), ids=list(BROKEN_VALUES))
def test_should_reject_values_the_schema_is_meant_to_catch(breakage: str, azure: Rendered, validator):
    values = values_of(azure)
    assert not list(validator.iter_errors(values)), "the base must be valid for the breakage to mean anything"
    BROKEN_VALUES[breakage](values)
    assert list(validator.iter_errors(values)), f"schema accepted values with {breakage}"


# ---------------------------------------------------------------- 2. dagBundleConfigList against Airflow


def test_should_emit_dag_bundles_as_a_json_list_matching_the_declared_bundles(remote: Rendered):
    values = values_of(remote)
    bundles = bundle_list(values)
    assert isinstance(bundles, list) and bundles
    declared = remote.stack.project_values()["dagBundles"]
    assert [b["name"] for b in bundles] == [d["name"] for d in declared]
    assert len({b["name"] for b in bundles}) == len(bundles)
    for bundle, spec in zip(bundles, declared, strict=True):
        assert set(bundle) == {"name", "classpath", "kwargs"}, bundle
        assert isinstance(bundle["kwargs"], dict)
        assert not {"name", "version"} & set(bundle["kwargs"]), "Airflow supplies name/version itself"
        assert bundle["classpath"] == (GIT_BUNDLE if spec["kind"] == "git" else LOCAL_BUNDLE)


# ---------------------------------------------------------------- 3. secrets backend kwargs against Airflow


# ---------------------------------------------------------------- 4. scheduler access (seed 000)


def _assert_trust_shape(statements: list[dict[str, Any]]) -> None:
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert set(statement["Principal"]) == {"Federated"}
        assert set(statement["Condition"]) <= {"StringEquals", "StringLike"}
        auds = {k: v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":aud")}
        assert list(auds.values()) == ["sts.amazonaws.com"], statement["Sid"]


def _agent_statement_is_exact(rendered: Rendered, statements: list[dict[str, Any]]) -> None:
    values = values_of(rendered)
    aws_settings = rendered.stack.project_values()["aws"]
    agent = statement_for(statements, aws_settings["oidcIssuerUrl"])
    assert agent["Principal"]["Federated"] == aws_settings["oidcProviderArn"]
    assert "StringLike" not in agent["Condition"]
    host = aws_settings["oidcIssuerUrl"].removeprefix("https://").rstrip("/")
    assert set(agent["Condition"]["StringEquals"][f"{host}:sub"]) == agent_subjects(values)


def _astro_provider_arn(rendered: Rendered, issuer_url: str) -> str:
    providers = [p for p in rendered.by_type(OIDC_PROVIDER) if p.inputs["url"] == issuer_url]
    assert len(providers) == 1, "the Astro issuer needs its IAM OIDC provider"
    assert providers[0].inputs["clientIdLists"] == ["sts.amazonaws.com"]
    return mask(providers[0].outputs["arn"], True)


def test_should_trust_the_whole_astro_deployment_namespace_in_aws_wildcard_mode():
    # The wildcard is refused in prod (issue 9): an explicit choice of a staging variant of the example.
    base = with_values(example(AWS_EXAMPLE), environment="staging")
    aws = render_config(edit(base, "remoteExecution", _access({"mode": "wildcard"})))
    deployment = aws.stack.project_values()["remoteExecution"]["deployment"]
    statements = trust_statements(aws)
    assert len(statements) == 2
    _assert_trust_shape(statements)
    _agent_statement_is_exact(aws, statements)
    astro = statement_for(statements, deployment["oidcIssuerUrl"])
    host = deployment["oidcIssuerUrl"].removeprefix("https://").rstrip("/")
    assert astro["Principal"]["Federated"] == _astro_provider_arn(aws, deployment["oidcIssuerUrl"])
    assert astro["Condition"]["StringLike"] == {f"{host}:sub": [f"system:serviceaccount:{deployment['namespace']}:*"]}
    assert set(astro["Condition"]["StringEquals"]) == {f"{host}:aud"}
    # Nothing broader: that one pattern is the only wildcard in the whole trust policy.
    assert json.dumps(statements).count("*") == 1


def _access(access: dict[str, Any]):
    return lambda re_: re_.update(schedulerAccess=access)


@pytest.mark.parametrize("listed", [None, ["scheduler"]], ids=["explicit-default", "explicit-list"])
def test_should_trust_exactly_the_named_astro_accounts_in_aws_explicit_mode(listed):
    base = example(AWS_EXAMPLE)
    ns = base.project_values()["remoteExecution"]["deployment"]["namespace"]
    access: dict[str, Any] = {"mode": "explicit"}
    if listed:
        access["serviceAccounts"] = [f"{ns}-{who}-serviceaccount" for who in listed]
    wanted = listed or ["scheduler", "apiserver"]  # the default: scheduler (timetables) and api-server
    rendered = render_config(edit(base, "remoteExecution", _access(access)))
    issuer = base.project_values()["remoteExecution"]["deployment"]["oidcIssuerUrl"]
    host = issuer.removeprefix("https://").rstrip("/")
    statements = trust_statements(rendered)
    _assert_trust_shape(statements)
    _agent_statement_is_exact(rendered, statements)
    astro = statement_for(statements, issuer)
    assert "StringLike" not in astro["Condition"]
    assert sorted(astro["Condition"]["StringEquals"][f"{host}:sub"]) == sorted(
        f"system:serviceaccount:{ns}:{ns}-{who}-serviceaccount" for who in wanted
    )
    assert "*" not in json.dumps(statements)


def test_should_give_the_astro_cluster_no_trust_in_aws_mode_none_without_timetables():
    def no_timetables(conns):
        for conn in conns:
            conn["usedByTimetable"] = False

    base = edit(example(AWS_EXAMPLE), "connections", no_timetables)
    rendered = render_config(edit(base, "remoteExecution", _access({"mode": "none"})))
    statements = trust_statements(rendered)
    assert len(statements) == 1
    _agent_statement_is_exact(rendered, statements)
    assert not rendered.by_type(OIDC_PROVIDER)


def test_should_federate_each_astro_and_agent_account_exactly_on_azure(azure: Rendered):
    values = values_of(azure)
    settings = azure.stack.project_values()
    deployment = settings["remoteExecution"]["deployment"]
    ns = deployment["namespace"]
    credentials = federated_credentials(azure)
    identity = azure.one(USER_IDENTITY)
    assert mask(identity.outputs["clientId"], True) == output(azure, "managed_identity_client_id")
    assert {c["resourceName"] for c in credentials} == {identity.inputs["resourceName"]}
    assert all(c["audiences"] == [AZURE_FIC_AUDIENCE] for c in credentials)
    got = sorted((c["issuer"], c["subject"]) for c in credentials)
    wanted = sorted(
        [(settings["azure"]["oidcIssuerUrl"], s) for s in agent_subjects(values)]
        + [(deployment["oidcIssuerUrl"], f"system:serviceaccount:{ns}:{ns}-{who}-serviceaccount") for who in ("scheduler", "apiserver")]
    )
    assert got == wanted
    assert not any("*" in c["subject"] for c in credentials)
    assert len(credentials) <= MAX_FEDERATED_CREDENTIALS


def test_should_allow_exactly_twenty_federated_credentials_and_refuse_the_21st():
    base = example(AZURE_EXAMPLE)
    astro = 2  # explicit mode's default: scheduler and api-server
    fixed = 2  # dag processor and triggerer
    groups = MAX_FEDERATED_CREDENTIALS - astro - fixed
    at_limit = edit(base, "remoteExecution", lambda re_: re_.update(workerGroups=[{"name": f"g{i}"} for i in range(groups)]))
    assert len(federated_credentials(render_config(at_limit))) == MAX_FEDERATED_CREDENTIALS
    over = edit(base, "remoteExecution", lambda re_: re_.update(workerGroups=[{"name": f"g{i}"} for i in range(groups + 1)]))
    message = expect_rejected(over, "azure")
    assert f"{MAX_FEDERATED_CREDENTIALS + 1} federated credentials" in message


def test_should_let_the_federated_astro_scheduler_through_the_key_vault_firewall(azure: Rendered):
    settings = azure.stack.project_values()
    astro_issuer = settings["remoteExecution"]["deployment"]["oidcIssuerUrl"]
    assert any(c["issuer"] == astro_issuer for c in federated_credentials(azure)), "scheduler access is granted"
    assert settings["azure"]["keyVault"].get("create", True), "the example creates its vault"
    acls = mask(azure.one("azure-native:keyvault:Vault").inputs, True)["properties"].get("networkAcls") or {}
    other_subnets = [r for r in acls.get("virtualNetworkRules", []) if r["id"] != settings["azure"]["aksSubnetId"]]
    assert acls.get("defaultAction", "Allow") == "Allow" or acls.get("ipRules") or other_subnets, acls


# ---------------------------------------------------------------- 5. settings errors


@pytest.mark.parametrize("name", REMOTE_EXAMPLES)
def test_should_refuse_timetable_connections_without_scheduler_access(name):
    base = example(name)
    assert any(c.get("usedByTimetable") for c in base.project_values()["connections"])
    message = expect_rejected(edit(base, "remoteExecution", _access({"mode": "none"})), "remoteExecution.schedulerAccess.mode")
    assert "snowflake_calendar" in message


@pytest.mark.parametrize("name", REMOTE_EXAMPLES)
def test_should_refuse_an_explicit_list_without_the_scheduler(name):
    base = example(name)
    ns = base.project_values()["remoteExecution"]["deployment"]["namespace"]
    access = {"mode": "explicit", "serviceAccounts": [f"{ns}-apiserver-serviceaccount"]}
    message = expect_rejected(edit(base, "remoteExecution", _access(access)), "remoteExecution.schedulerAccess.serviceAccounts")
    assert f"{ns}-scheduler-serviceaccount" in message


@pytest.mark.parametrize("name", REMOTE_EXAMPLES)
def test_should_refuse_scheduler_service_accounts_outside_explicit_mode(name):
    def no_timetables(conns):
        for conn in conns:
            conn["usedByTimetable"] = False

    base = edit(example(name), "connections", no_timetables)
    ns = base.project_values()["remoteExecution"]["deployment"]["namespace"]
    access = {"mode": "none", "serviceAccounts": [f"{ns}-scheduler-serviceaccount"]}
    expect_rejected(edit(base, "remoteExecution", _access(access)), "remoteExecution.schedulerAccess.serviceAccounts")


def test_should_refuse_wildcard_scheduler_access_on_azure():
    expect_rejected(edit(example(AZURE_EXAMPLE), "remoteExecution", _access({"mode": "wildcard"})), "remoteExecution.schedulerAccess.mode")


# ---------------------------------------------------------------- 6. no secrets in values


def test_should_keep_agent_and_registry_tokens_out_of_values_and_plain_outputs(remote: Rendered):
    release = release_of(remote)
    stack = remote.stack
    tokens = {placeholder(k) for k in stack.secret_keys}
    assert {placeholder("astroAgentToken"), placeholder("astroRegistryToken")} <= tokens
    registry = placeholder("astroRegistryToken")
    tokens |= {base64.b64encode(f"cli:{registry}".encode()).decode()}
    assert not rpc.is_rpc_secret(release.inputs["values"])
    shown = mask(release.inputs["values"], show_secrets=True)
    assert shown == mask(release.inputs["values"], show_secrets=False), "part of the values is secret-marked"
    visible = json.dumps(shown) + json.dumps({k: v for k, (v, secret) in remote.outputs.items() if not secret}, default=str)
    leaked = sorted(t[:12] + "..." for t in tokens if t in visible)
    assert not leaked, leaked


def _secret_named(rendered: Rendered, name: str):
    found = [s for s in rendered.by_type(K8S_SECRET) if s.inputs["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one Kubernetes Secret {name!r}, found {len(found)}"
    return found[0]


def test_should_reference_the_agent_token_only_through_the_secret_the_program_creates(remote: Rendered):
    values = values_of(remote)
    assert not {"agentToken", "agentTokenFile"} & set(values), "the token has exactly one source: the Secret"
    secret = _secret_named(remote, values["agentTokenSecretName"])
    assert secret.inputs["metadata"]["namespace"] == values["namespace"]
    assert secret.inputs.get("type", "Opaque") == "Opaque"
    assert rpc.is_rpc_secret(secret.inputs["stringData"]), "token Secret data must be marked secret"
    assert mask(secret.inputs["stringData"], True) == {"token": placeholder("astroAgentToken")}


def test_should_create_the_image_pull_secret_named_in_the_values(remote: Rendered):
    values = values_of(remote)
    secret = _secret_named(remote, values["imagePullSecretName"])
    assert secret.inputs["metadata"]["namespace"] == values["namespace"]
    assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert rpc.is_rpc_secret(secret.inputs["stringData"])
    data = mask(secret.inputs["stringData"], True)
    assert set(data) == {".dockerconfigjson"}
    auth = json.loads(data[".dockerconfigjson"])["auths"][ASTRO_REGISTRY]
    token = placeholder("astroRegistryToken")
    assert auth["username"] == "cli" and auth["password"] == token
    assert base64.b64decode(auth["auth"]).decode() == f"cli:{token}"


# ---------------------------------------------------------------- 7. LocalDagBundle from a volume


def _components(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    parts = {f"workers[{w['name']}]": w for w in values["workers"]}
    parts["dagProcessor"] = values["dagProcessor"]
    parts["triggerer"] = values["triggerer"]
    return parts


def test_should_mount_the_dags_volume_read_only_at_every_local_bundle_path(azure: Rendered):
    values = values_of(azure)
    claims = azure.by_type(PVC)
    assert len(claims) == 1
    claim = mask(claims[0].inputs, True)
    local = azure.stack.project_values()["remoteExecution"]["localDags"]
    assert claim["metadata"]["namespace"] == values["namespace"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == local["storageClassName"]
    assert claim["spec"]["resources"]["requests"]["storage"] == f"{local['sizeGi']}Gi"
    paths = {b["kwargs"]["path"] for b in bundle_list(values) if b["classpath"] == LOCAL_BUNDLE}
    assert paths, "the Azure example has a local bundle"
    mounted: dict[str, set[str]] = {}
    for where, component in _components(values).items():
        volumes = [
            v for v in component.get("volumes", []) if v.get("persistentVolumeClaim", {}).get("claimName") == claim["metadata"]["name"]
        ]
        assert len(volumes) == 1, f"{where}: the DAGs claim is not a volume"
        mounts = [m for m in component.get("volumeMounts", []) if m["name"] == volumes[0]["name"]]
        assert mounts and all(m.get("readOnly") is True for m in mounts), f"{where}: mounts must be read-only"
        mounted[where] = {m["mountPath"] for m in mounts}
    assert all(found == paths for found in mounted.values()), mounted


def test_should_create_no_volume_when_local_dags_are_baked_into_the_image():
    stack = edit(example(AZURE_EXAMPLE), "remoteExecution", lambda re_: re_.update(localDags={"source": "image"}))
    rendered = render_config(stack)
    values = values_of(rendered)
    assert not rendered.by_type(PVC)
    for where, component in _components(values).items():
        # the example's SSH bundle still gets its known-hosts file; nothing else is mounted
        volumes = [v["name"] for v in component.get("volumes", [])]
        mounts = [m["name"] for m in component.get("volumeMounts", [])]
        assert volumes == mounts == ["ssh-known-hosts"], where


# ---------------------------------------------------------------- 8. workload identity placement


def test_should_bind_every_agent_account_to_the_managed_identity_on_azure(azure: Rendered):
    values = values_of(azure)
    client_id = output(azure, "managed_identity_client_id")
    for where, account in agent_service_accounts(values).items():
        assert account["annotations"].get(AZ_CLIENT_ID) == client_id, where
        assert account["create"] is True and account["name"], where
    assert values["labels"].get(AZ_USE_LABEL) == "true"
    assert json.loads(env_of(values)["AIRFLOW__SECRETS__BACKEND_KWARGS"])["managed_identity_client_id"] == client_id
    assert AWS_ROLE_ANNOTATION not in json.dumps(values)


def test_should_bind_every_agent_account_to_the_irsa_role_on_aws(aws: Rendered):
    values = values_of(aws)
    role_arn = output(aws, "role_arn")
    assert role_arn == mask(aws.one(IAM_ROLE).outputs["arn"], True)
    for where, account in agent_service_accounts(values).items():
        assert account["annotations"].get(AWS_ROLE_ANNOTATION) == role_arn, where
        assert account["create"] is True and account["name"], where
    assert env_of(values)["AWS_REGION"] == aws.stack.values["aws:region"]
    assert AZ_USE_LABEL not in values["labels"]
