"""The supported-versions matrix (``components/versions.py``) agrees with the charts, the pins and the examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components import versions
from components.airflow_chart import values as airflow_chart_values
from components.remote_execution import values as agent_values
from components.versions import MAX_AIRFLOW, MIN_AIRFLOW, PROVIDERS, TESTED
from tests.conftest import CHART_DIR, STACK_FILES, missing_tool
from tools.stackfile import ROOT, load_stack

ENVS = ROOT / "tests" / "envs"
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", re.MULTILINE)


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, names normalised as pip does."""
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in PIN.findall(path.read_text())}


# --------------------------------------------------------------------------- the matrix itself


def test_should_span_the_matrix_from_its_oldest_to_its_newest_tested_release():
    assert versions.version_key(MIN_AIRFLOW) < versions.version_key(MAX_AIRFLOW), "two ends, two environments"
    for version, release in TESTED.items():
        assert release.airflow == version
        assert set(release.providers) == set(PROVIDERS), version
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", release.released), release.released


@pytest.mark.parametrize(
    ("version", "supported"),
    [("3.1.8", True), ("3.2.1", True), (MAX_AIRFLOW, True), ("3.1.7", False), ("3.0.6", False), ("3.99.0", False), ("3.1", False)],
)
def test_should_support_exactly_the_versions_between_the_tested_ends(version, supported):
    assert versions.is_supported(version) is supported


@pytest.mark.parametrize(
    ("tag", "named"),
    [
        ("3.1.8", "3.1.8"),
        ("3.1.8-python3.12", "3.1.8"),
        ("slim-3.3.2-python3.11", "3.3.2"),
        ("3.1.8-payments.4", "3.1.8"),
        ("latest", None),
        ("slim-latest", None),
        ("2026.03.11", None),
        ("3.1.8rc1", None),
        ("", None),
    ],
)
def test_should_read_the_airflow_version_an_image_tag_names(tag, named):
    assert versions.image_tag_version(tag) == named


# --------------------------------------------------------------------------- charts


def test_should_support_the_pinned_chart_versions():
    assert airflow_chart_values.CHART_VERSION in versions.CHARTS["apache-airflow"]
    assert agent_values.CHART_VERSION in versions.CHARTS["astro-remote-execution-agent"]


def test_should_keep_the_official_charts_default_airflow_version_in_the_supported_range():
    path = CHART_DIR / "values.yaml"
    if not path.exists():
        missing_tool(f"chart values at {path} (set AIRFLOW_CHART_DIR)")
    chart_default = str(yaml.safe_load(path.read_text())["airflowVersion"])
    assert versions.CHARTS["apache-airflow"][airflow_chart_values.CHART_VERSION] == chart_default
    assert versions.is_supported(chart_default), f"chart default {chart_default} outside {versions.supported_range()}"
    assert chart_default in TESTED, "the chart's default is what the examples deploy: the contract tests run it"


# --------------------------------------------------------------------------- pinned environments


@pytest.mark.parametrize("version", list(TESTED))
def test_should_pin_each_tested_environment_to_the_matrix(version):
    release = TESTED[version]
    source, locked = ENVS / f"airflow-{version}.in", ENVS / f"airflow-{version}.txt"
    assert source.exists() and locked.exists(), "scripts/contract-envs.sh --compile writes the .txt from the .in"
    wanted = {"apache-airflow": version, **{f"apache-airflow-providers-{p}": v for p, v in release.providers.items()}}
    for path in (source, locked):
        found = pins(path)
        assert {name: found.get(name) for name in wanted} == wanted, path.name
    assert re.search(r"^# exclude-newer: \S+$", source.read_text(), re.MULTILINE), "the .in records the day it resolves as of"
    locked_pins = pins(locked)
    unpinned = [line for line in locked.read_text().splitlines() if line and not line.startswith((" ", "#")) and "==" not in line]
    assert unpinned == [] and len(locked_pins) > 100, "full pins, transitive dependencies included"


def test_should_have_an_environment_only_for_tested_versions():
    built = {p.name.removeprefix("airflow-").removesuffix(".txt") for p in ENVS.glob("airflow-*.txt")}
    assert built == set(TESTED)


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_should_deploy_in_every_example_an_airflow_the_contract_tests_ran_against(path):
    values = load_stack(path).project_values()  # Pulumi.yaml defaults applied
    version = values["airflowVersion"]
    assert version in TESTED, f"{path.name} deploys Airflow {version}; the contract tests ran against {sorted(TESTED)}"
    tagged = versions.image_tag_version(values.get("airflowImageTag") or "")
    assert tagged in (None, version), f"{path.name}: image tag names Airflow {tagged}, airflowVersion is {version}"
