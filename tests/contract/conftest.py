"""The Airflow the contract tests ask: one pinned environment per tested version (``components/versions.py``).

Every test that runs Airflow's code (through a probe, or the ``airflow`` CLI) takes
the fixture ``airflow_env`` and so runs once per key of ``TESTED``: the oldest
supported release with the providers of its day and the newest one, each in
``.venvs/airflow-<version>/`` built by ``scripts/contract-envs.sh`` from
``tests/envs/airflow-<version>.txt``. One environment serves every test of its
version, checked once per session to hold exactly the tested versions. The
fixture is module-scoped so that pytest runs a module's tests version by version
and the module's own servers (moto, PostgreSQL) start once, not once per version.
"""

from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.versions import PROVIDERS, TESTED, TestedRelease, version_key
from tests.conftest import missing_tool, require_binary
from tools.stackfile import ROOT

ENVS_DIR = ROOT / ".venvs"
CORE_CONNECTION = "airflow.models.connection.Connection"
SDK_CONNECTION = "airflow.sdk.definitions.connection.Connection"

_INSTALLED = """
import importlib.metadata, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


@dataclass(frozen=True)
class AirflowEnv:
    """A pinned environment holding one tested Airflow release and its providers."""

    release: TestedRelease
    python: Path
    """Its interpreter: what the probes run under."""

    @property
    def version(self) -> str:
        return self.release.airflow

    @property
    def bin_dir(self) -> Path:
        """Its ``bin/``: the ``airflow`` CLI, and the first ``PATH`` entry a probe gets."""
        return self.python.parent

    # What differs between the tested versions, as the probes found it (the tests expect it per version).

    @property
    def task_connection_class(self) -> str:
        """Class a task process gets from a custom secrets backend.

        From Airflow 3.2 the Task SDK builds its own backends (``airflow.sdk.configuration``) and hands
        tasks its own Connection; on 3.1 task processes build them with core's configuration and get
        core's ``airflow.models.connection.Connection``.
        """
        return SDK_CONNECTION if version_key(self.version) >= (3, 2, 0) else CORE_CONNECTION

    def git_hook_repo_url(self, repo_url: str, login: str | None, token: str | None) -> str:
        """``GitHook.repo_url`` for a connection to an https ``repo_url``.

        git providers before 1.0 write ``<login>:<token>@`` into the URL (login ``user`` when unset);
        from 1.0 the token goes to git through a credential helper and the URL stays as given.
        """
        if token is None or version_key(self.release.providers["git"])[0] >= 1 or not repo_url.startswith("https://"):
            return repo_url
        return repo_url.replace("https://", f"https://{login or 'user'}:{token}@", 1)


def expected_distributions(release: TestedRelease) -> dict[str, str]:
    return {"apache-airflow": release.airflow, **{f"apache-airflow-providers-{p}": release.providers[p] for p in PROVIDERS}}


@functools.cache
def _installed(python: Path, names: tuple[str, ...]) -> dict[str, str | None]:
    """Versions of ``names`` installed in ``python``'s environment (asked once per session)."""
    result = subprocess.run(
        [str(python), "-c", _INSTALLED, *names], capture_output=True, text=True, timeout=60, check=False, cwd=python.parent
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module", params=list(TESTED), ids=lambda version: f"airflow-{version}")
def airflow_env(request) -> AirflowEnv:
    release = TESTED[request.param]
    python = ENVS_DIR / f"airflow-{release.airflow}" / "bin" / "python"
    if not python.exists():
        missing_tool(f"Airflow {release.airflow} environment {python.parent.parent} (scripts/contract-envs.sh builds it)")
    expected = expected_distributions(release)
    installed = _installed(python, tuple(expected))
    assert installed == expected, f"{python.parent.parent} is stale: run scripts/contract-envs.sh"
    return AirflowEnv(release=release, python=python)


def require_mount_namespace() -> None:
    """Probes with ``binds`` need a mount namespace of their own (``unshare -m``): root, and a kernel that allows it."""
    unshare = require_binary("unshare")
    check = subprocess.run([unshare, "-m", "true"], capture_output=True, text=True, timeout=30, check=False)
    if check.returncode != 0:
        missing_tool(f"a mount namespace (unshare -m: {check.stderr.strip()})")
