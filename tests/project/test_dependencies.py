"""The program's dependencies: uv is Pulumi's toolchain, uv.lock is committed and current, and the uv
version is the same wherever it is named (pyproject.toml, scripts/bootstrap.sh, the dev group)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from tools.stackfile import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
UV = Path(sys.executable).parent / "uv"


def test_pulumi_uses_uv_and_the_project_venv() -> None:
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"] == {"toolchain": "uv", "virtualenv": ".venv"}


def test_plain_uv_sync_installs_the_runtime_set_only() -> None:
    uv = PYPROJECT["tool"]["uv"]
    assert uv["package"] is False and uv["default-groups"] == []
    assert not any("airflow" in d for d in PYPROJECT["project"]["dependencies"]), "Airflow is a test dependency"


def test_the_uv_version_is_named_once_in_three_places() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    (spec,) = re.findall(r"^uv_spec='uv([^']+)'", bootstrap, re.MULTILINE)
    assert PYPROJECT["tool"]["uv"]["required-version"] == spec
    assert f"uv{spec}" in PYPROJECT["dependency-groups"]["dev"]


def test_the_lock_file_is_committed_and_current() -> None:
    assert not (ROOT / "requirements.txt").exists() and not (ROOT / "requirements-dev.txt").exists(), "pyproject.toml holds them"
    result = subprocess.run([str(UV), "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
