"""Shared fixtures: every example stack rendered once under recording mocks, tool lookup.

The recording mocks are :class:`tools.mocks.RecordingMocks` (defined next to the
offline renderer, which runs the same program the same way): they record
``(type, name, parent, inputs)`` of every registration and answer with outputs
shaped like the real providers'.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tools.chart import RENDER_CACHE_ENV
from tools.mocks import RecordingMocks, RecordingMonitor  # noqa: F401  (re-exported for tests)
from tools.render import Rendered, run_program
from tools.stackfile import ROOT, StackConfig, load_stack

STACK_FILES = sorted((ROOT / "config").glob("Pulumi.*.yaml"))
SHARED_CHART_DIR = ROOT.parent / "shared" / "airflow-chart"
VENDORED_CHART_DIR = ROOT / "tests" / "data" / "airflow-chart-1.20.0"
"""Unmodified copy of the chart 1.20.0 data files, for clones that have no ../shared next to them."""


def _chart_dir() -> Path:
    if "AIRFLOW_CHART_DIR" in os.environ:
        return Path(os.environ["AIRFLOW_CHART_DIR"])
    return SHARED_CHART_DIR if SHARED_CHART_DIR.exists() else VENDORED_CHART_DIR


CHART_DIR = _chart_dir()
pytest_plugins = ["tests.support.agent"]  # the remote-execution example fixtures (aws, azure, remote)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_CACHE: dict[str, Rendered] = {}


def render(stack_file: Path) -> Rendered:
    """Render a stack file once per test session (the program is deterministic)."""
    key = str(stack_file)
    if key not in _CACHE:
        _CACHE[key] = run_program(load_stack(stack_file))
    return _CACHE[key]


_VARIANTS: dict[str, Rendered] = {}


def render_config(stack: StackConfig) -> Rendered:
    """Render an in-memory stack config once per test process; each call gets its own deep copy.

    The program is deterministic, so a config another test already rendered is not run again; the copy keeps
    whatever one test does with its result from reaching another.
    """
    key = json.dumps([stack.project, stack.stack, stack.values, sorted(stack.secret_keys), list(stack.environments)], sort_keys=True)
    if key not in _VARIANTS:
        _VARIANTS[key] = run_program(stack)
    return copy.deepcopy(_VARIANTS[key])


def stack_file(name: str) -> Path:
    path = ROOT / "config" / f"Pulumi.{name}.yaml"
    assert path.exists(), f"example stack {name} is missing"
    return path


def missing_tool(what: str) -> None:
    """A required tool is absent: fail under CI, skip on a developer machine."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing")
    pytest.skip(f"{what} not available")


def require_binary(name: str, *candidates: str) -> str:
    for candidate in (name, *candidates):
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            return found
    missing_tool(f"binary {name}")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def chart_schema() -> dict:
    path = CHART_DIR / "values.schema.json"
    if not path.exists():
        missing_tool(f"chart schema at {path} (set AIRFLOW_CHART_DIR)")
    return json.loads(path.read_text())


def _stack_id(name: str) -> str:
    return name.removeprefix("Pulumi.").removesuffix(".yaml")


SELF_HOSTED_FILES = [p for p in STACK_FILES if "remote-execution" not in p.read_text()]


@pytest.fixture(params=[p.name for p in STACK_FILES], ids=_stack_id)
def example(request) -> Rendered:
    """Each example stack under config/, rendered."""
    return render(ROOT / "config" / request.param)


@pytest.fixture(params=[p.name for p in SELF_HOSTED_FILES], ids=_stack_id)
def self_hosted_example(request) -> Rendered:
    """Each self-hosted example (official chart); the agent chart is covered by tests/examples/test_remote_execution.py."""
    return render(ROOT / "config" / request.param)


def pytest_configure(config: pytest.Config) -> None:
    """One chart render cache for the session (``tools.chart.RENDER_CACHE_ENV``), shared by every xdist worker.

    The controller makes it before the workers start (they inherit its environment) and removes it at the end;
    a cache the caller already set is left alone.
    """
    if hasattr(config, "workerinput") or os.environ.get(RENDER_CACHE_ENV):
        return
    directory = tempfile.mkdtemp(prefix="chart-renders-")
    os.environ[RENDER_CACHE_ENV] = directory

    def remove() -> None:
        os.environ.pop(RENDER_CACHE_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)

    config.add_cleanup(remove)
