"""The code keeps the shape the house style asks for, checked by reading it (R1, R3, R6, R11).

The import rules (R11) are checked on the graph of every ``components`` import,
including imports inside functions and under ``TYPE_CHECKING``, plus the cloud
modules ``components.stack`` loads by name:

* no cycle: no module imports one that (directly or not) imports it back;
* layers, bottom to top: the small shared modules, the settings, the interface
  and connection documents, then the cloud folders and the Airflow folders side
  by side, and ``components.stack`` on top; an import only goes down a layer,
  or stays inside its own folder;
* so the Airflow-side folders import nothing from the cloud folders (nor the
  reverse), and nothing imports ``components.stack``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from components.stack import CLOUD_BUILDERS
from tools.stackfile import ROOT

COMPONENTS = ROOT / "components"

BASE, SETTINGS, INTERFACE, SIDES, TOP = range(5)
TOP_LEVEL_LAYERS: Mapping[str, int] = {
    "components.naming": BASE,
    "components.passwords": BASE,
    "components.database_urls": BASE,
    "components.broker_urls": BASE,
    "components.database_roles": BASE,
    "components.helm": BASE,
    "components.azure_regions": BASE,
    "components.versions": BASE,
    "components.platform": INTERFACE,
    "components.connections": INTERFACE,
    "components.dag_bundles": INTERFACE,
    "components.ssh_known_hosts": INTERFACE,
    "components.stack": TOP,
}
"""Modules directly under ``components/``; a new one must be placed here (the test says so)."""
FOLDER_LAYERS: Mapping[str, int] = {
    "settings": SETTINGS,
    "aws": SIDES,
    "azure": SIDES,
    "airflow_chart": SIDES,
    "remote_execution": SIDES,
}
CLOUD_FOLDERS = frozenset({"aws", "azure"})
AIRFLOW_FOLDERS = frozenset({"airflow_chart", "remote_execution"})


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def component_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(COMPONENTS.rglob("*.py"))}


def imported_modules(tree: ast.AST, known: set[str]) -> Iterator[str]:
    """Every ``components`` module ``tree`` imports, wherever the import statement is."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # ``from components.aws import policies`` imports the module components.aws.policies
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names]
        else:
            continue
        yield from (name for name in names if name in known)


def import_graph() -> dict[str, set[str]]:
    modules = component_modules()
    known = set(modules)
    graph = {name: set(imported_modules(ast.parse(path.read_text()), known)) - {name} for name, path in modules.items()}
    graph["components.stack"] |= set(CLOUD_BUILDERS.values())
    return graph


def folder(module: str) -> str | None:
    """The folder under ``components/`` holding ``module`` (its package ``__init__`` included), or None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FOLDER_LAYERS) else None


def layer(module: str) -> int | None:
    if module == "components":
        return BASE
    top = folder(module)
    return FOLDER_LAYERS.get(top) if top else TOP_LEVEL_LAYERS.get(module)


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules that import each other."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def import_problems(graph: Mapping[str, set[str]]) -> list[str]:
    """Every broken import rule of ``graph``, one line each; empty when the layout holds."""
    problems = [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    for module in sorted(graph):
        if layer(module) is None:
            problems.append(f"{module}: not placed in a layer (add it to TOP_LEVEL_LAYERS or FOLDER_LAYERS)")
            continue
        for target in sorted(graph[module]):
            here, there = layer(module), layer(target)
            if there is None:
                continue
            same_folder = folder(module) is not None and folder(module) == folder(target)
            if folder(module) in AIRFLOW_FOLDERS and folder(target) in CLOUD_FOLDERS:
                problems.append(f"{module} imports {target}: the Airflow side imports nothing from the cloud folders")
            elif there > here or (there == here and not same_folder):
                problems.append(f"{module} (layer {here}) imports {target} (layer {there}): imports only run downward")
    return problems


def test_components_imports_run_downward_without_cycles():
    graph = import_graph()
    assert len(graph) > 30, sorted(graph)
    assert import_problems(graph) == []


@pytest.mark.parametrize(
    ("extra_edge", "expected"),
    [
        (("components.platform", "components.stack"), "import cycle"),
        (("components.aws.rds_postgres", "components.aws.platform"), "import cycle"),
        (("components.airflow_chart.values", "components.azure.backend"), "the Airflow side imports nothing from the cloud folders"),
        (("components.settings.model", "components.platform"), "imports only run downward"),
        (("components.aws.platform", "components.remote_execution.values"), "imports only run downward"),
        (("components.secrets_backend", "components.naming"), "not placed in a layer"),
    ],
)
def test_import_rules_catch_a_cycle_an_upward_or_sideways_import_and_an_unplaced_module(extra_edge, expected):
    graph = import_graph()
    source, target = extra_edge
    graph.setdefault(source, set()).add(target)
    problems = import_problems(graph)
    assert any(expected in p for p in problems), problems


def test_adding_a_cloud_is_one_folder_and_one_line():
    """The cloud is chosen in one mapping; every cloud folder has the ``platform.build`` it names."""
    assert set(CLOUD_BUILDERS) == CLOUD_FOLDERS
    for cloud, module in CLOUD_BUILDERS.items():
        assert module == f"components.{cloud}.platform"
        tree = ast.parse((COMPONENTS / cloud / "platform.py").read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "build" for n in tree.body), f"{module} has no build()"


def test_airflow_components_have_no_cloud_specific_branches():
    """The Airflow side only uses what the backend/identity implementations hand it."""
    cloud_words = ("settings.cloud", ".aws", ".azure", "aws_platform", "azure_platform", "eks.amazonaws", "azure.workload")
    airflow_side = [p for f in sorted(AIRFLOW_FOLDERS) for p in sorted((COMPONENTS / f).glob("*.py"))]
    shared = [COMPONENTS / f"{m.split('.')[-1]}.py" for m in ("components.helm", "components.platform", "components.dag_bundles")]
    assert len(airflow_side) >= 6
    for path in [*airflow_side, *shared]:
        found = [w for w in cloud_words if w in path.read_text()]
        assert not found, f"{path.relative_to(ROOT)} mentions {found}"


def test_no_module_is_over_about_400_lines():
    long = {name: n for name, path in component_modules().items() if (n := len(path.read_text().splitlines())) > 420}
    assert long == {}


def _component_classes() -> Iterator[tuple[Path, ast.Module, ast.ClassDef]]:
    for path in component_modules().values():
        tree = ast.parse(path.read_text())
        for cls in tree.body:
            if isinstance(cls, ast.ClassDef) and any(ast.unparse(b).endswith("ComponentResource") for b in cls.bases):
                yield path, tree, cls


def test_components_call_register_outputs_once_and_last():
    """R3: every ComponentResource calls register_outputs exactly once, as its last statement."""
    found = 0
    for path, _tree, cls in _component_classes():
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
    per_module: dict[Path, int] = {}
    for path, tree, cls in _component_classes():
        per_module[path] = per_module.get(path, 0) + 1
        tokens = [n for n in cls.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "TYPE"]
        assert tokens, f"{cls.name} has no TYPE token"
        token = tokens[0].value.value
        assert token.startswith("dataplat:") and token.endswith(f":{cls.name}"), token
        assert any(isinstance(n, ast.ClassDef) and n.name == f"{cls.name}Args" for n in tree.body), f"{cls.name}Args missing"
    assert per_module and max(per_module.values()) == 1, per_module


def test_only_the_settings_loader_reads_pulumi_config():
    offenders = [name for name, path in component_modules().items() if "pulumi.Config(" in path.read_text()]
    assert offenders == ["components.settings.loader"]
    assert "pulumi.Config(" not in (ROOT / "__main__.py").read_text()
