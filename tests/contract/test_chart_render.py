"""Contract: the real chart 1.20.0, rendered with each self-hosted example's values, gives a release that can come up.

The values schema says a value is well-formed; only the render says what the chart
makes of it (STYLE.md R8). For every self-hosted example the program runs under
mocks (``tests.conftest.render``). The values it hands the Helm release (secrets
shown: the chart needs real values), with the release's own name and namespace,
are rendered through the real chart by Helm's engine (``tools.chart``), once per
example and test process. The manifests are then held against what the program
registered:

1. install order: nothing the release waits for needs a post-* hook (Helm runs
   those only after the wait), and no pre-* hook needs what is created after it;
2. every Secret name and key a pod refers to, the KubernetesExecutor pod template
   in its ConfigMap included, is created by the program in the release namespace
   or by the chart;
3. the pods that read the secrets backend run as exactly the service accounts the
   IRSA trust or the federated credentials admit, with the role/client-id
   annotation and, on Azure, the workload-identity pod label;
4. ``airflow.cfg`` from the chart's ConfigMap, read by Airflow's own parsers in a
   fresh interpreter with each reader pod's environment, gives our backend, its
   kwargs and the DAG bundle list, and no environment variable overrides them;
5. every manifest is valid for the oldest and newest Kubernetes we support;
6. no secret value (plain, URL-encoded, base64) appears in any manifest.

Checks 1 and 5 are here; 2, 3, 4 and 6 are in ``test_chart_render_secrets.py``.
Each check is a function returning its problems, and
``test_chart_render_negative.py`` breaks the values once per check to show it fails.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from pulumi.runtime import rpc

from tests.conftest import missing_tool
from tests.support.stacks import unwrap
from tools.chart import (
    NEWEST_KUBERNETES_VERSION,
    OLDEST_KUBERNETES_VERSION,
    default_chart_dir,
    hook_events,
    render_chart,
    validate_manifests,
)
from tools.render import HELM_RELEASE, Rendered
from tools.stackfile import placeholder

Manifests = list[dict[str, Any]]
K8S_SECRET = "kubernetes:core/v1:Secret"
POST_HOOKS = frozenset({"post-install", "post-upgrade"})
PRE_HOOKS = frozenset({"pre-install", "pre-upgrade"})
POD_TEMPLATE_KEY = "pod_template_file.yaml"
POD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})
NOT_SECRET_FIELDS = frozenset({"contentType", "secretUri", "secretUriWithVersion"})
"""Key Vault secret metadata: marked secret only because the whole ``properties`` object is."""
MIN_SECRET_LENGTH = 8
"""Shorter strings are not secrets the program makes (generated ones have 32+ characters) and would match by chance."""


# --------------------------------------------------------------------------- what the program registered


@dataclass(frozen=True)
class Program:
    """What one example's program registered, to hold the manifests against."""

    cloud: str
    release_name: str
    namespace: str
    values: dict[str, Any]
    """Values handed to the Helm release, secrets shown."""
    secrets: dict[str, dict[str, str]]
    """Kubernetes Secrets the program creates in the release namespace: name -> key -> value."""
    config_maps: frozenset[str]
    """Names of the ConfigMaps the program creates in the release namespace (the SSH known-hosts file)."""
    secret_values: frozenset[str]
    """Every secret value the program handles (generated, from config, composed into documents)."""
    identity: str
    """Role ARN or managed-identity client id the backend readers must be bound to."""
    admitted_subjects: frozenset[str]
    """``system:serviceaccount:<ns>:<sa>`` subjects the IRSA trust or the federated credentials of that identity admit."""
    backend_class: str
    backend_kwargs: Any
    bundles: Any
    """Backend kwargs and DAG bundle list as the program means them (before airflow.cfg escaping)."""


def _secret_leaves(value: Any, inside: bool = False, field: str = "") -> Iterator[str]:
    if rpc.is_rpc_secret(value):
        yield from _secret_leaves(rpc.unwrap_rpc_secret(value), True, field)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _secret_leaves(item, inside, key)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_leaves(item, inside, field)
    elif inside and isinstance(value, str) and field not in NOT_SECRET_FIELDS:
        yield value


def _unescape_cfg(value: Any) -> Any:
    """Undo ``airflow_cfg_escape``: what Airflow should read back from airflow.cfg."""
    if isinstance(value, str):
        return value.replace("%%", "%")
    if isinstance(value, Mapping):
        return {k: _unescape_cfg(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape_cfg(v) for v in value]
    return value


def _admitted(rendered: Rendered, cloud: str, identity: str) -> tuple[set[str], set[str]]:
    """(subjects, issuers) the trust of the backend identity admits."""
    subjects: set[str] = set()
    issuers: set[str] = set()
    if cloud == "aws":
        for role in rendered.by_type("aws:iam/role:Role"):
            if unwrap(role.outputs.get("arn")) == identity:
                for statement in json.loads(unwrap(role.inputs["assumeRolePolicy"]))["Statement"]:
                    for conditions in (statement.get("Condition") or {}).values():
                        for key, allowed in conditions.items():
                            if key.endswith(":sub"):
                                issuers.add("https://" + key.removesuffix(":sub"))
                                subjects.update(allowed if isinstance(allowed, list) else [allowed])
        return subjects, issuers
    names = {
        unwrap(i.inputs["resourceName"])
        for i in rendered.by_type("azure-native:managedidentity:UserAssignedIdentity")
        if unwrap(i.outputs.get("clientId")) == identity
    }
    for credential in rendered.by_type("azure-native:managedidentity:FederatedIdentityCredential"):
        inputs = unwrap(credential.inputs)
        if inputs["resourceName"] in names:
            subjects.add(inputs["subject"])
            issuers.add(inputs["issuer"])
    return subjects, issuers


def program_of(rendered: Rendered) -> Program:
    release = unwrap(rendered.one(HELM_RELEASE).inputs)
    namespace, values = release["namespace"], release["values"]
    outputs = {key: unwrap(value) for key, (value, _) in rendered.outputs.items()}
    cloud = outputs["cloud"]

    secrets: dict[str, dict[str, str]] = {}
    for reg in rendered.by_type(K8S_SECRET):
        meta = unwrap(reg.inputs["metadata"])
        if meta.get("namespace", "default") == namespace:
            data = {k: base64.b64decode(v).decode() for k, v in (unwrap(reg.inputs.get("data")) or {}).items()}
            secrets[meta["name"]] = data | (unwrap(reg.inputs.get("stringData")) or {})

    config_maps = frozenset(
        meta["name"]
        for meta in (unwrap(reg.inputs["metadata"]) for reg in rendered.by_type("kubernetes:core/v1:ConfigMap"))
        if meta.get("namespace", "default") == namespace
    )

    found = {placeholder(key) for key in rendered.stack.secret_keys}
    for reg in rendered.registrations:
        found.update(_secret_leaves(reg.inputs), _secret_leaves(reg.outputs))
    for value, is_secret in rendered.outputs.values():
        found.update(_secret_leaves(value, is_secret))
    found.update(v for data in secrets.values() for v in data.values())

    identity = outputs["role_arn"] if cloud == "aws" else outputs["managed_identity_client_id"]
    subjects, issuers = _admitted(rendered, cloud, identity)
    declared = rendered.stack.project_values()[cloud]["oidcIssuerUrl"].rstrip("/")
    assert {i.rstrip("/") for i in issuers} <= {declared}, f"the credentials trust {issuers}, the stack declares {declared}"
    return Program(
        cloud=cloud,
        release_name=release["name"],
        namespace=namespace,
        values=values,
        secrets=secrets,
        config_maps=config_maps,
        secret_values=frozenset(s for s in found if len(s) >= MIN_SECRET_LENGTH),
        identity=identity,
        admitted_subjects=frozenset(subjects),
        backend_class=outputs["secrets_backend_class"],
        backend_kwargs=json.loads(_unescape_cfg(values["config"]["secrets"]["backend_kwargs"])),
        bundles=_unescape_cfg(values["dagProcessor"]["dagBundleConfigList"]),
    )


@dataclass(frozen=True)
class ChartRender:
    program: Program
    manifests: Manifests
    seconds: float
    """Time to build the program facts and render the chart."""


_RENDERS: dict[str, ChartRender] = {}
"""One chart render per example per test process (the harness costs ~1.5 s a render)."""


def chart_render(rendered: Rendered) -> ChartRender:
    key = rendered.stack.stack
    if key not in _RENDERS:
        started = time.perf_counter()
        program = program_of(rendered)
        manifests = render(program, program.values)
        _RENDERS[key] = ChartRender(program, manifests, time.perf_counter() - started)
    return _RENDERS[key]


def render(program: Program, values: Mapping[str, Any]) -> Manifests:
    return render_chart(values, release_name=program.release_name, namespace=program.namespace)


# --------------------------------------------------------------------------- pods and what they refer to


@dataclass(frozen=True)
class Pod:
    where: str
    stage: str
    """``regular``, ``pre`` or ``post`` (Helm hooks), or ``runtime`` (the executor's pod template)."""
    labels: dict[str, Any]
    spec: dict[str, Any]


@dataclass(frozen=True)
class Ref:
    kind: str
    name: str
    key: str | None
    optional: bool
    what: str


def name_of(manifest: Mapping[str, Any]) -> tuple[str, str]:
    return manifest["kind"], manifest["metadata"]["name"]


def stage_of(manifest: Mapping[str, Any]) -> str:
    events = hook_events(manifest)
    return "post" if events & POST_HOOKS else "pre" if events & PRE_HOOKS else "other-hook" if events else "regular"


def objects(manifests: Manifests, kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_templates(manifests: Manifests) -> dict[str, dict[str, Any]]:
    """The Pods the KubernetesExecutor launches, parsed from the chart's ConfigMaps, by where they are."""
    return {
        f"ConfigMap/{name}[{key}]": yaml.safe_load(text)
        for name, config_map in objects(manifests, "ConfigMap").items()
        for key, text in (config_map.get("data") or {}).items()
        if key.endswith(POD_TEMPLATE_KEY)
    }


def pods(manifests: Manifests) -> list[Pod]:
    found = []
    for manifest in manifests:
        kind, name = name_of(manifest)
        spec = manifest.get("spec") or {}
        template = manifest if kind == "Pod" else spec.get("jobTemplate", {}).get("spec", {}).get("template") or spec.get("template")
        if kind in POD_KINDS and template:
            found.append(Pod(f"{kind}/{name}", stage_of(manifest), template["metadata"].get("labels") or {}, template["spec"]))
    for where, pod in pod_templates(manifests).items():
        found.append(Pod(where, "runtime", pod["metadata"].get("labels") or {}, pod["spec"]))
    return found


def containers(pod: Pod) -> list[dict[str, Any]]:
    return [*(pod.spec.get("initContainers") or []), *(pod.spec.get("containers") or [])]


def command_line(container: Mapping[str, Any]) -> str:
    return " ".join([*(container.get("command") or []), *(container.get("args") or [])])


def references(pod: Pod) -> list[Ref]:
    """Every Secret, ConfigMap and ServiceAccount the pod needs, with the key when one is named."""
    refs: list[Ref] = []
    for c in containers(pod):
        for env in c.get("env") or []:
            source = env.get("valueFrom") or {}
            for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if field in source:
                    ref = source[field]
                    refs.append(Ref(kind, ref["name"], ref["key"], bool(ref.get("optional")), f"{c['name']} env {env['name']}"))
        for source in c.get("envFrom") or []:
            for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                if field in source:
                    refs.append(Ref(kind, source[field]["name"], None, bool(source[field].get("optional")), f"{c['name']} envFrom"))
    for volume in pod.spec.get("volumes") or []:
        for source in [volume, *(volume.get("projected") or {}).get("sources", [])]:
            for field, kind in (("secret", "Secret"), ("configMap", "ConfigMap")):
                if field in source:
                    ref = source[field]
                    keys = [item["key"] for item in ref.get("items") or []] or [None]
                    name = ref.get("secretName") or ref.get("name")
                    refs.extend(Ref(kind, name, key, bool(ref.get("optional")), f"volume {volume['name']}") for key in keys)
    refs.extend(Ref("Secret", s["name"], None, False, "imagePullSecrets") for s in pod.spec.get("imagePullSecrets") or [])
    if pod.spec.get("serviceAccountName", "default") != "default":
        refs.append(Ref("ServiceAccount", pod.spec["serviceAccountName"], None, False, "serviceAccountName"))
    return refs


# --------------------------------------------------------------------------- 1. install order

MIGRATE = re.compile(r"\bdb\s+migrate\b")
CLUSTER_PROVIDED = {("ConfigMap", "kube-root-ca.crt")}
"""Objects Kubernetes itself keeps in every namespace (the root CA publisher, since 1.21): the projected
service-account token volumes of the scheduler and api-server read the cluster CA from it."""


def check_install_order(manifests: Manifests, program: Program) -> list[str]:
    """What the release waits for needs nothing from a post-* hook; a pre-* hook needs nothing made after it."""
    providers: dict[tuple[str, str], set[str]] = {}
    for manifest in manifests:
        providers.setdefault(name_of(manifest), set()).add(stage_of(manifest))
    for name in program.secrets:
        providers.setdefault(("Secret", name), set()).add("program")
    for name in program.config_maps:
        providers.setdefault(("ConfigMap", name), set()).add("program")
    for kind_name in CLUSTER_PROVIDED:
        providers.setdefault(kind_name, set()).add("pre")
    migrations = {
        p.stage for p in pods(manifests) if p.where.startswith("Job/") and any(MIGRATE.search(command_line(c)) for c in containers(p))
    }
    problems = []
    for pod in pods(manifests):
        if pod.stage not in ("regular", "pre"):
            continue
        before = {"program", "pre"} | ({"regular"} if pod.stage == "regular" else set())
        for ref in references(pod):
            made_by = providers.get((ref.kind, ref.name), set())
            if made_by and not made_by & before:
                problems.append(
                    f"{pod.where} ({pod.stage}) needs {ref.kind}/{ref.name} ({ref.what}), created only by {sorted(made_by)} after it"
                )
            elif not made_by and ref.kind != "Secret" and not ref.optional:  # a missing Secret: check_secret_references
                problems.append(f"{pod.where} needs {ref.kind}/{ref.name} ({ref.what}), which nothing creates")
        waits = [c["name"] for c in containers(pod) if "check-migrations" in command_line(c)]
        if waits and not migrations & before:
            problems.append(f"{pod.where}: {waits} wait for migrations that run only in {sorted(migrations) or 'no Job'}, after the wait")
    return problems


# --------------------------------------------------------------------------- 5. Kubernetes schemas


def check_schemas(manifests: Manifests, kubernetes_version: str) -> list[str]:
    """Every manifest, and the task pod template, is valid (strict) for that Kubernetes version."""
    return validate_manifests([*manifests, *pod_templates(manifests).values()], kubernetes_version)


# --------------------------------------------------------------------------- the examples


@pytest.fixture(scope="module", autouse=True)
def _tools_present() -> None:
    for module in ("helm_python", "kubernetes_validate", "airflow"):
        if importlib.util.find_spec(module) is None:
            missing_tool(f"python package for {module} (scripts/bootstrap.sh --dev)")
    if not (default_chart_dir() / "Chart.yaml").is_file():
        missing_tool(f"chart source at {default_chart_dir()}")


@pytest.fixture
def example_render(self_hosted_example: Rendered) -> ChartRender:
    return chart_render(self_hosted_example)


def test_should_install_without_waiting_on_a_hook_that_runs_after_the_wait(example_render: ChartRender) -> None:
    assert check_install_order(example_render.manifests, example_render.program) == []


def test_should_run_migrations_and_create_user_as_regular_jobs_that_expire(example_render: ChartRender) -> None:
    manifests, release, values = example_render.manifests, example_render.program.release_name, example_render.program.values
    for job in ("migrateDatabaseJob", "createUserJob"):  # the four values chart docs/index.rst requires for --wait
        assert (values[job]["useHelmHooks"], values[job]["applyCustomEnv"]) == (False, False), job
    assert [name_of(m) for m in manifests if stage_of(m) == "post"] == [], "nothing may run only after the wait"
    jobs = objects(manifests, "Job")
    assert set(jobs) == {f"{release}-run-airflow-migrations", f"{release}-create-user"}
    for job in jobs.values():
        assert job["spec"].get("ttlSecondsAfterFinished") is not None, "a finished Job must go, so that an upgrade re-creates it"
    (create_user,) = pods([jobs[f"{release}-create-user"]])
    password_refs = [(r.name, r.key) for r in references(create_user) if r.kind == "Secret" and "admin" in r.name]
    assert password_refs == [(f"{release}-admin-password", "password")]
    password = example_render.program.secrets[f"{release}-admin-password"]["password"]
    assert password not in json.dumps(create_user.spec), "the admin password reaches create-user only as a secretKeyRef"


@pytest.mark.parametrize("kubernetes_version", [OLDEST_KUBERNETES_VERSION, NEWEST_KUBERNETES_VERSION])
def test_should_render_manifests_valid_for_supported_kubernetes(example_render: ChartRender, kubernetes_version: str) -> None:
    assert check_schemas(example_render.manifests, kubernetes_version) == []
