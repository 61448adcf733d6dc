"""Contract: on the real chart's manifests, the Secrets pods need, who reads the backend, what Airflow reads, no leak.

Checks 2, 3, 4 and 6 of ``test_chart_render.py`` (see its docstring), on the same
once-per-example render:

2. every Secret name and key a pod refers to (env ``secretKeyRef``, ``envFrom``,
   secret and projected volumes, ``imagePullSecrets``, and the KubernetesExecutor
   pod template inside its ConfigMap) is created by the program in the release
   namespace or by the chart; optional references may be absent;
3. the pods that read the secrets backend run as exactly the service accounts the
   IRSA trust or the federated credentials admit, carry the role/client-id
   annotation and, on Azure, the workload-identity pod label;
4. ``airflow.cfg`` from the chart's ConfigMap, mounted where the reader pods'
   Airflow reads it, is read by Airflow's own parsers (server and Task SDK) in a
   fresh interpreter with each reader pod's environment, and gives our backend
   class, its kwargs and the DAG bundle list, each from airflow.cfg, not from an
   environment variable;
6. no secret value of the program, plain, URL-encoded or base64, appears in any
   manifest, and the chart renders none of the program's Secrets.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from tests.contract.probes.probe_support import base_env, run_probe
from tests.contract.test_chart_render import (
    ChartRender,
    Manifests,
    Pod,
    Program,
    Ref,
    _tools_present,  # noqa: F401  (module fixture: a missing tool fails under CI)
    containers,
    example_render,  # noqa: F401  (fixture)
    name_of,
    objects,
    pods,
    references,
)

READER_COMPONENTS = ("scheduler", "api-server", "dag-processor", "triggerer", "worker")
"""``component`` labels of the pods that read the secrets backend (the task pod template is ``worker``)."""
IDENTITY_ANNOTATION = {"aws": "eks.amazonaws.com/role-arn", "azure": "azure.workload.identity/client-id"}
AZURE_USE_LABEL = "azure.workload.identity/use"
OVERRIDING_ENV = ("AIRFLOW__SECRETS__BACKEND", "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", "AIRFLOW__WORKERS__SECRETS_BACKEND")
"""Prefixes of environment variables that would replace what airflow.cfg says (``_CMD``/``_SECRET`` forms included)."""
PROBE_TIMEOUT_SECONDS = 180


def reader_pods(manifests: Manifests) -> list[Pod]:
    return [pod for pod in pods(manifests) if pod.labels.get("component") in READER_COMPONENTS]


@dataclass(frozen=True)
class Sources:
    """Data of the Secrets and ConfigMaps pods read: the program's Secrets, then the chart's objects."""

    secrets: dict[str, dict[str, str]]
    config_maps: dict[str, dict[str, str]]

    @classmethod
    def of(cls, manifests: Manifests, program: Program) -> Sources:
        chart = {}
        for name, secret in objects(manifests, "Secret").items():
            data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            chart[name] = data | {k: str(v) for k, v in (secret.get("stringData") or {}).items()}
        config_maps = {name: m.get("data") or {} for name, m in objects(manifests, "ConfigMap").items()}
        return cls(chart | program.secrets, config_maps)

    def env(self, container: Mapping[str, Any]) -> dict[str, str]:
        """The container's environment as the kubelet builds it (an unresolvable reference is left out)."""
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                data = self.secrets.get(source["secretRef"]["name"], {})
            else:
                data = self.config_maps.get(source["configMapRef"]["name"], {})
            env |= {source.get("prefix", "") + k: v for k, v in data.items()}
        for item in container.get("env") or []:
            source = item.get("valueFrom") or {}
            if "value" in item or not source:
                env[item["name"]] = str(item.get("value", ""))
            elif "secretKeyRef" in source or "configMapKeyRef" in source:
                ref = source.get("secretKeyRef") or source["configMapKeyRef"]
                data = self.secrets if "secretKeyRef" in source else self.config_maps
                if ref["key"] in data.get(ref["name"], {}):
                    env[item["name"]] = data[ref["name"]][ref["key"]]
            else:
                env[item["name"]] = f"<{next(iter(source))}>"  # fieldRef, resourceFieldRef: known only in the cluster
        return env


# --------------------------------------------------------------------------- 2. Secret names and keys


def secret_references(manifests: Manifests) -> list[tuple[Pod, Ref]]:
    return [(pod, ref) for pod in pods(manifests) for ref in references(pod) if ref.kind == "Secret"]


def check_secret_references(manifests: Manifests, program: Program) -> list[str]:
    """Every Secret (and key) a pod refers to exists: the program's in the release namespace, or the chart's."""
    secrets = Sources.of(manifests, program).secrets
    problems = []
    for pod, ref in secret_references(manifests):
        if ref.optional:
            continue
        if ref.name not in secrets:
            problems.append(
                f"{pod.where} {ref.what}: Secret {program.namespace}/{ref.name} is created neither by the program nor by the chart"
            )
        elif ref.key is not None and ref.key not in secrets[ref.name]:
            problems.append(f"{pod.where} {ref.what}: Secret {ref.name} has no key {ref.key!r} (keys: {sorted(secrets[ref.name])})")
    return problems


# --------------------------------------------------------------------------- 3. identity


def check_identity(manifests: Manifests, program: Program) -> list[str]:
    """Backend readers run as exactly the admitted service accounts, annotated (and labelled on Azure)."""
    annotation = IDENTITY_ANNOTATION[program.cloud]
    accounts = objects(manifests, "ServiceAccount")
    readers = reader_pods(manifests)
    expected = set(READER_COMPONENTS) - (set() if program.values["executor"] != "LocalExecutor" else {"worker"})
    missing = expected - {pod.labels["component"] for pod in readers}
    problems = [f"no pod renders for backend readers {sorted(missing)}"] if missing else []
    subjects = set()
    for pod in readers:
        account = pod.spec.get("serviceAccountName") or "default"
        subjects.add(f"system:serviceaccount:{program.namespace}:{account}")
        bound = ((accounts.get(account) or {}).get("metadata", {}).get("annotations") or {}).get(annotation)
        if bound != program.identity:
            problems.append(f"{pod.where}: service account {account} has {annotation}={bound!r}, expected {program.identity!r}")
        if program.cloud == "azure" and pod.labels.get(AZURE_USE_LABEL) != "true":
            problems.append(f"{pod.where}: pod label {AZURE_USE_LABEL}={pod.labels.get(AZURE_USE_LABEL)!r}, expected 'true'")
    admitted = program.admitted_subjects
    if subjects != admitted:
        problems.append(
            f"reader service accounts differ from the admitted subjects: not admitted {sorted(subjects - admitted)},"
            f" admitted but not used {sorted(admitted - subjects)}"
        )
    return problems


# --------------------------------------------------------------------------- 4. airflow.cfg, read by Airflow

PROBE_SOURCE = '''\
"""Ask Airflow's own config parsers what airflow.cfg and each pod environment configure (see test_chart_render_secrets)."""
import json
import os
import sys

KEYS = (("secrets", "backend"), ("secrets", "backend_kwargs"), ("dag_processor", "dag_bundle_config_list"))

request = json.load(open(sys.argv[1]))
from airflow import configuration as core
from airflow.sdk import configuration as sdk

report = {}
for name, env in request["environments"].items():
    os.environ.clear()
    os.environ.update(env)
    core_conf, sdk_conf = core.initialize_config(), sdk.initialize_config()
    sources = core_conf.as_dict(display_source=True)
    report[name] = {
        "backend": core_conf.get("secrets", "backend"),
        "backend_kwargs": core_conf.getjson("secrets", "backend_kwargs"),
        "bundles": core_conf.getjson("dag_processor", "dag_bundle_config_list"),
        "sdk_backend": sdk_conf.get("secrets", "backend"),
        "sdk_backend_kwargs": sdk_conf.getjson("secrets", "backend_kwargs"),
        "sdk_workers_backend": sdk_conf.get("workers", "secrets_backend", fallback=""),
        "sources": {f"{s}.{k}": (sources.get(s, {}).get(k) or (None, None))[1] for s, k in KEYS},
    }
json.dump(report, open(sys.argv[2], "w"))
'''


def check_airflow_cfg(manifests: Manifests, program: Program, workdir: Path) -> list[str]:
    """airflow.cfg, where each reader mounts it, read by Airflow with the reader's environment, gives our settings."""
    config_map = objects(manifests, "ConfigMap").get(f"{program.release_name}-config") or {}
    cfg = (config_map.get("data") or {}).get("airflow.cfg")
    if cfg is None:
        return [f"the chart renders no ConfigMap {program.release_name}-config with airflow.cfg"]
    (workdir / "airflow.cfg").write_text(cfg)
    sources = Sources.of(manifests, program)
    problems: list[str] = []
    environments: dict[str, dict[str, str]] = {}
    for pod in reader_pods(manifests):
        for container in containers(pod):
            names = {*sources.env(container), *(e["name"] for e in container.get("env") or [])}
            overriding = sorted(name for name in names if name.startswith(OVERRIDING_ENV))
            if overriding:
                problems.append(f"{pod.where} {container['name']}: environment {overriding} overrides airflow.cfg")
        main = [c for c in pod.spec.get("containers") or [] if c["name"] in (pod.labels["component"], "base")]
        if len(main) != 1:
            problems.append(f"{pod.where}: no main container named {pod.labels['component']!r} or 'base'")
            continue
        env = sources.env(main[0])
        reads = env.get("AIRFLOW_CONFIG", env.get("AIRFLOW_HOME", "/opt/airflow") + "/airflow.cfg")
        volumes = {
            v["name"] for v in pod.spec.get("volumes") or [] if (v.get("configMap") or {}).get("name") == config_map["metadata"]["name"]
        }
        mounted = [m["mountPath"] for m in main[0].get("volumeMounts") or [] if m["name"] in volumes and m.get("subPath") == "airflow.cfg"]
        if mounted != [reads]:
            problems.append(f"{pod.where}: airflow.cfg is mounted at {mounted}, Airflow reads {reads}")
        # The probe's home stands for /opt/airflow. Importing Airflow configures the ORM, whose Postgres async
        # driver this test environment lacks, so the metadata connection (no part of what is read) becomes SQLite.
        environments[pod.where] = (
            base_env(workdir)
            | env
            | {
                "AIRFLOW_HOME": str(workdir),
                "AIRFLOW_CONFIG": str(workdir / "airflow.cfg"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{workdir / 'airflow.db'}",
            }
        )
    if not environments:
        return [*problems, "no backend reader to ask Airflow for"]
    (workdir / "probe.py").write_text(PROBE_SOURCE)
    first = next(iter(environments.values()))
    request = {"environments": environments}
    report = run_probe(workdir / "probe.py", (), request, workdir=workdir, env=first, timeout=PROBE_TIMEOUT_SECONDS, stem="cfg")
    from_file = {"secrets.backend", "secrets.backend_kwargs", "dag_processor.dag_bundle_config_list"}
    expected = {
        "backend": program.backend_class,
        "backend_kwargs": program.backend_kwargs,
        "bundles": program.bundles,
        "sdk_backend": program.backend_class,
        "sdk_backend_kwargs": program.backend_kwargs,
        "sdk_workers_backend": "",  # empty: tasks use [secrets] backend
        "sources": dict.fromkeys(sorted(from_file), "airflow.cfg"),
    }
    for where, got in report.items():
        problems += [
            f"{where}: Airflow reads {key}={got[key]!r}, expected {value!r}" for key, value in expected.items() if got[key] != value
        ]
    return problems


# --------------------------------------------------------------------------- 6. no secret in the open


def encodings(secret: str) -> dict[str, str]:
    """Each form a secret may take in a manifest -> the name of the form."""
    return {
        base64.b64encode(secret.encode()).decode(): "base64",
        quote_plus(secret): "URL-encoded",
        quote(secret, safe=""): "URL-encoded",
        secret: "plain",
    }


def strings(value: Any) -> Iterator[str]:
    """Every key and scalar of a manifest, as text (so embedded files such as airflow.cfg are searched as written)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif value is not None:
        yield str(value)


def check_no_secret_leak(manifests: Manifests, program: Program) -> list[str]:
    """No secret value of the program, in any encoding, is in a manifest; the chart renders none of our Secrets."""
    problems = [f"the chart renders Secret/{n}, which the program owns" for n in objects(manifests, "Secret") if n in program.secrets]
    needles = {encoded: (form, len(secret)) for secret in program.secret_values for encoded, form in encodings(secret).items()}
    for manifest in manifests:
        if manifest["kind"] == "Secret" and manifest["metadata"]["name"] in program.secrets:
            continue
        text = "\n".join(strings(manifest))
        for encoded, (form, length) in needles.items():
            if encoded in text:  # the message never repeats the value, not even in part
                problems.append(f"{'/'.join(name_of(manifest))}: a secret value ({form}, {length} characters) is in the manifest")
    return problems


# --------------------------------------------------------------------------- the examples


def test_should_create_every_secret_and_key_a_pod_refers_to(example_render: ChartRender) -> None:  # noqa: F811
    assert len(secret_references(example_render.manifests)) > 10, "too few references found: the walk is broken"
    assert check_secret_references(example_render.manifests, example_render.program) == []


def test_should_bind_exactly_the_admitted_service_accounts_to_the_backend_readers(example_render: ChartRender) -> None:  # noqa: F811
    assert example_render.program.admitted_subjects, "the program admits no subject: nothing to compare"
    assert check_identity(example_render.manifests, example_render.program) == []


def test_should_configure_airflow_with_our_backend_and_bundles_through_airflow_cfg(
    example_render: ChartRender,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert check_airflow_cfg(example_render.manifests, example_render.program, tmp_path) == []


def test_should_not_show_a_secret_value_in_any_manifest(example_render: ChartRender) -> None:  # noqa: F811
    assert len(example_render.program.secret_values) >= 5, "too few secret values found: the collection is broken"
    assert check_no_secret_leak(example_render.manifests, example_render.program) == []
