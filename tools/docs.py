"""Generate the settings reference (README) and the component tables (components/README.md).

    python -m tools.docs            check that both are current (exit 1 if not)
    python -m tools.docs --write    rewrite them

Descriptions come from the code: ``Pulumi.yaml`` for scalar settings, the
attribute docstrings of the pydantic models and Args dataclasses otherwise, so
the tables cannot drift from what the program accepts.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import itertools
import re
import sys
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from tools.stackfile import ROOT

README = ROOT / "README.md"
COMPONENTS_README = ROOT / "components" / "README.md"
BEGIN = "<!-- settings-reference:begin -->"
END = "<!-- settings-reference:end -->"

SETTINGS_SECTIONS = [
    ("aws", "AwsSettings", "AWS (`cloud: aws`). The region is the provider's `aws:region`."),
    ("azure", "AzureSettings", "Azure (`cloud: azure`)."),
    ("azure.keyVault", "KeyVaultSettings", "The Key Vault used as the secrets backend."),
    ("azure.databaseNetwork", "AzureDatabaseNetwork", "How the Flexible Server is reached."),
    ("azure.redisNetwork", "AzureRedisNetwork", "Private endpoint of the Azure Cache for Redis (the managed Celery broker)."),
    ("database", "DatabaseSettings", "Metadata database (self-hosted). Defaults are production grade everywhere."),
    ("dagBundles[]", "DagBundle", "DAG bundles (`dag_bundle_config_list`)."),
    ("connections[]", "ConnectionSpec", "Connections written to the secrets backend."),
    ("remoteClusters[]", "RemoteCluster", "Remote AKS clusters for KubernetesPodOperator (Azure)."),
    ("remoteExecution", "RemoteExecutionSettings", "Remote Execution (`deploymentMode: remote-execution`)."),
    ("remoteExecution.deployment", "AstroDeployment", "The Astro Deployment."),
    ("remoteExecution.schedulerAccess", "SchedulerAccess", "Astro-hosted service accounts allowed to read the backend."),
    ("remoteExecution.workerGroups[]", "AgentWorkerGroup", "Agent worker groups (one Deployment each)."),
    ("…Resources", "AgentResources", "CPU/memory/ephemeral storage (requests = limits)."),
    ("remoteExecution.localDags", "LocalDags", "Where LocalDagBundle DAGs come from on the agents."),
    ("pods", "PodsSettings", "Pods of the official chart (self-hosted): resources, eviction, replicas (see Hardening)."),
    ("pods.<component>", "PodSettings", "`scheduler`, `apiServer`, `triggerer`, `statsd`, `jobs`."),
    ("pods.dagProcessor, pods.pgbouncer", "ReplicatedPodSettings", "Components whose replicas no scalar key sets."),
    ("pods.workers", "WorkerPodSettings", "Task pods (KubernetesExecutor) or Celery workers."),
    ("pods.….resources", "Resources", "Requests and limits of the component's main container."),
    ("….requests, ….limits", "Quantities", "CPU and memory."),
    ("uiAccess", "UiAccess", "How the UI is reached (self-hosted): port-forward, Ingress or LoadBalancer."),
    ("metrics", "MetricsSettings", "Where Airflow's metrics go (self-hosted)."),
    ("metrics.prometheus", "PrometheusMetrics", "Scraping the chart's StatsD exporter from outside the release."),
    ("metrics.statsd", "StatsdMetrics", "The StatsD destination."),
    ("metrics.datadog", "DatadogMetrics", "Datadog agent on each node."),
    ("broker", "BrokerSettings", "The Celery broker (`executor: CeleryExecutor`, self-hosted; see Celery broker)."),
]
FREE_FORM_SETTINGS = [
    (
        "`helmValues`",
        "mapping",
        "empty",
        "Deep-merged last into the chart values (the agent chart's in remote-execution mode; named-item lists such as env and volumes are appended, other lists replace); the result "
        "must pass the chart's `values.schema.json`. Paths the program owns are refused with the setting that owns them "
        "(`components/settings/overlay.py` `OWNED_CHART_PATHS`, `OWNED_AGENT_PATHS`), and so are `env` entries that "
        "set the database connection, the secrets backend, the keys or the identity, `extraEnv` and `extraEnvFrom`.",
    ),
    (
        "`airflowConfig`",
        "mapping of mappings",
        "empty",
        "`airflow.cfg` section -> key -> value (string, number or boolean), merged into the chart's `config` (`%` "
        "escaped). Self-hosted only. Owned keys refused (`OWNED_CONFIG`: `secrets.*`, `database.sql_alchemy_conn*`, "
        "`core.fernet_key*`, `core.executor`, `api.secret_key*`, `api_auth.jwt_secret*`, `celery.broker_url*`, "
        "`celery.result_backend*`, `celery.worker_concurrency`, `dag_processor.dag_bundle_config_list`, "
        "`kubernetes_executor.namespace`). `database.sql_alchemy_pool_size`/`max_overflow`, `api.workers` and "
        "`dag_processor.parsing_processes` feed the connection budget.",
    ),
]
"""Structured settings without a model: free-form mappings validated by the rules."""

COMPONENT_MODULES = [
    "aws.rds_postgres",
    "azure.flexible_postgres",
    "aws.secrets_manager",
    "azure.key_vault",
    "aws.irsa_role",
    "azure.workload_identity",
    "aws.database_admin_role",
    "azure.database_admin_vault",
    "airflow_chart.secrets",
    "airflow_chart.database_bootstrap",
    "airflow_chart.task_egress",
    "airflow_chart.release",
    "remote_execution.release",
]
"""Modules under ``components/`` (dotted) that hold a ComponentResource, in README order."""


def attribute_docs(cls: type) -> dict[str, str]:
    """Docstrings written under class attributes (``x: int = 1`` then ``\"\"\"doc\"\"\"``)."""
    source = Path(sys.modules[cls.__module__].__file__).read_text()
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    docs: dict[str, str] = {}
    body = node.body
    for current, following in itertools.pairwise(body):
        documented = (
            isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)
        )
        if documented and isinstance(current, ast.AnnAssign) and isinstance(current.target, ast.Name):
            docs[current.target.id] = " ".join(following.value.value.split())
    return docs


def _type_name(annotation: object) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    text = re.sub(r"Annotated\[(\w+), AfterValidator\(func=<function \w+ at 0x[0-9a-f]+>\)\]", r"\1", text)  # constrained types
    text = re.sub(r"\b(?:typing|collections\.abc|pulumi\.output|components(?:\.[a-z_]+)+)\.", "", text)
    return text.replace("|", "\\|")


def _default(value: object) -> str:
    if value is dataclasses.MISSING or value is Ellipsis:
        return "required"
    if isinstance(value, BaseModel):
        return "see below"
    if value in ((), {}, []):
        return "empty"
    if isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
        return "one `default` group"
    return f"`{value}`".replace("|", "\\|")


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |" for row in rows]
    return lines


def settings_models() -> dict[str, type[BaseModel]]:
    """The models of the settings sections, by class name."""
    from components.settings import access, airflow, broker, clouds, pods, remote_execution

    return {
        name: obj
        for module in (clouds, airflow, remote_execution, pods, access, broker)
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__
    }


def settings_reference() -> str:
    from components.settings import clouds, model

    models = settings_models()
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    declared = project["config"]
    lines = [BEGIN, "", "### Scalar settings (declared in `Pulumi.yaml`)", ""]
    rows = []
    for key in model.SCALAR_KEYS:
        spec = declared[key]
        default = f"`{spec['default']}`" if "default" in spec and spec["default"] != "" else ("empty" if "default" in spec else "required")
        rows.append((f"`{key}`", spec["type"], default, spec["description"]))
    lines += _table(rows, ("Setting", "Type", "Default", "Description"))
    lines += [
        "",
        "Secret keys (`pulumi config set --secret`): `astroAgentToken`, `astroRegistryToken` (remote-execution), "
        "and every key a connection names in `secretFields`.",
        "",
    ]
    for path, class_name, intro in SETTINGS_SECTIONS:
        cls = models[class_name]
        docs = attribute_docs(cls)
        lines += [f"### `{path}`", "", intro, ""]
        rows = []
        for name, field in cls.model_fields.items():
            if cls is clouds.AwsSettings and name == "region":
                continue
            alias = field.alias or to_camel(name)
            default = "required" if field.is_required() else _default(field.default)
            rows.append((f"`{alias}`", _type_name(field.annotation), default, docs.get(name, "")))
        lines += [*_table(rows, ("Setting", "Type", "Default", "Description")), ""]
    lines += ["### `helmValues`, `airflowConfig`", "", "The escape hatch (free-form, checked by `rules.py`).", ""]
    lines += [*_table(FREE_FORM_SETTINGS, ("Setting", "Type", "Default", "Description")), ""]
    lines.append(END)
    return "\n".join(lines)


LAYOUT = [
    (
        "",
        "Shared modules, below both sides: naming rules, connection documents, database URLs, passwords, the pinned "
        "Helm release, DAG bundle entries and the interface (`platform.py`) the clouds fulfil; `stack.py` on top wires one stack.",
    ),
    ("settings", "Typed settings, validated before any resource exists; `loader.py` is the only reader of `pulumi.Config`."),
    ("aws", "The AWS part: RDS, Secrets Manager entries, the IRSA role; `platform.build` returns what the Airflow side needs."),
    ("azure", "The Azure part: Flexible Server, Key Vault entries, workload identities; `platform.build` likewise."),
    ("airflow_chart", "Self-hosted: the official chart's values, Kubernetes Secrets and release."),
    ("remote_execution", "Remote Execution: the Astronomer agent chart's values and release."),
]
"""Folders of ``components/`` in reading order, with what each holds."""


def layout_reference() -> list[str]:
    """The folders and modules of ``components/``, each with the first line of its docstring."""
    lines = [
        "## Layout",
        "",
        "Imports run downward only: shared modules, then `settings/`, then the interface; the cloud folders and the "
        "Airflow folders side by side above them (neither imports the other); `stack.py` on top. "
        "`tests/project/test_architecture.py` holds these lines. A new cloud is one folder with a `platform.build` "
        "and one line in `stack.CLOUD_BUILDERS`.",
        "",
    ]
    for folder, summary in LAYOUT:
        directory = ROOT / "components" / folder
        lines += [f"### `components/{folder + '/' if folder else ''}`", "", summary, ""]
        rows = []
        for path in sorted(directory.glob("*.py")):
            if path.name == "__init__.py":
                continue
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            rows.append((f"`{path.name}`", doc.split("\n\n")[0].replace("\n", " ").replace("|", "\\|")))
        lines += [*_table(rows, ("Module", "What it holds")), ""]
    return lines


def components_reference() -> str:
    lines = [
        "# Components",
        "",
        "Generated by `python -m tools.docs --write` from the module docstrings, the Args dataclasses and output attributes; "
        "a test fails when this file is stale. Each component module holds one `ComponentResource` and its `...Args`.",
        "",
        *layout_reference(),
        "## Components",
        "",
    ]
    for module_name in COMPONENT_MODULES:
        module = importlib.import_module(f"components.{module_name}")
        component = next(
            obj for obj in vars(module).values() if isinstance(obj, type) and obj.__module__ == module.__name__ and hasattr(obj, "TYPE")
        )
        args_cls = getattr(module, f"{component.__name__}Args")
        summary = (module.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += [
            f"## {component.__name__} (`{component.TYPE}`, `components/{module_name.replace('.', '/')}.py`)",
            "",
            summary,
            "",
            "### Inputs",
            "",
        ]
        docs = attribute_docs(args_cls)
        rows = []
        for field in dataclasses.fields(args_cls):
            default = (
                field.default
                if field.default is not dataclasses.MISSING
                else (field.default_factory() if field.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            )
            rows.append(
                (
                    f"`{field.name}`",
                    _type_name(field.type),
                    _default(default),
                    "yes" if default is dataclasses.MISSING else "no",
                    docs.get(field.name, ""),
                )
            )
        lines += _table(rows, ("Name", "Type", "Default", "Required", "Description"))
        lines += ["", "### Outputs", ""]
        out_docs = attribute_docs(component)
        own = vars(component).get("__annotations__", {})
        rows = [(f"`{name}`", _type_name(annotation), out_docs.get(name, "")) for name, annotation in own.items()]
        lines += [*_table(rows, ("Name", "Type", "Description")), ""]
    return "\n".join(lines)


def readme_with_reference(readme: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + settings_reference() + readme[end:]


def main(argv: list[str]) -> int:
    write = "--write" in argv
    stale = []
    readme = README.read_text()
    wanted_readme = readme_with_reference(readme)
    wanted_components = components_reference()
    for path, current, wanted in (
        (README, readme, wanted_readme),
        (COMPONENTS_README, COMPONENTS_README.read_text() if COMPONENTS_README.exists() else "", wanted_components),
    ):
        if current != wanted:
            stale.append(path.name)
            if write:
                path.write_text(wanted)
    if stale and not write:
        print(f"stale: {', '.join(stale)}; run python -m tools.docs --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
