"""Supported versions: the Airflow 3 releases, provider versions and charts the program is tested with.

Plain data, read by the program and the tests alike:

* the settings refuse an ``airflowVersion`` (or an ``airflowImageTag`` that names an
  Airflow version) outside ``MIN_AIRFLOW``..``MAX_AIRFLOW``
  (``components/settings/versions.py``);
* the contract tests run Airflow's own code in one environment per key of
  :data:`TESTED`, built from ``tests/envs/airflow-<version>.txt`` (full pins,
  checked against these provider versions by ``tests/unit/test_versions.py``);
* the README's image recipe installs exactly these provider versions.

The oldest tested release is the official chart's default ``airflowVersion``
with the providers that were on PyPI the day it was released (what Airflow's
constraints file of that release pins); the newest is the newest release with
the providers that resolved with it when it was pinned. Releases between the
two are accepted (same major version, inside the tested span); to support a
newer one, add it here and a pinned environment under ``tests/envs/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PROVIDERS = ("amazon", "microsoft-azure", "git", "cncf-kubernetes", "snowflake", "celery")
"""Providers the program writes for (``apache-airflow-providers-<name>``): backends, DAG bundles, hooks."""


@dataclass(frozen=True, kw_only=True)
class TestedRelease:
    """One Airflow release the contract tests ran against, with the provider versions they ran with."""

    airflow: str
    """``apache-airflow`` version (``X.Y.Z``)."""
    released: str
    """Day ``apache-airflow`` was uploaded to PyPI (UTC); providers of the oldest release are from that day."""
    providers: Mapping[str, str]
    """Provider name (one of :data:`PROVIDERS`) -> exact ``apache-airflow-providers-<name>`` version."""

    def requirements(self) -> list[str]:
        """``pip install`` arguments of the tested set: Airflow and every provider, pinned."""
        return [f"apache-airflow=={self.airflow}", *(f"apache-airflow-providers-{p}=={self.providers[p]}" for p in PROVIDERS)]


TESTED: Mapping[str, TestedRelease] = {
    "3.1.8": TestedRelease(
        airflow="3.1.8",
        released="2026-03-11",
        providers={
            "amazon": "9.22.0",
            "microsoft-azure": "13.0.0",
            "git": "0.2.4",
            "cncf-kubernetes": "10.13.0",
            "snowflake": "6.10.0",
            "celery": "3.17.0",
        },
    ),
    "3.3.2": TestedRelease(
        airflow="3.3.2",
        released="2026-09-17",
        providers={
            "amazon": "9.39.0",
            "microsoft-azure": "15.2.1",
            "git": "1.0.1",
            "cncf-kubernetes": "10.25.0",
            "snowflake": "6.20.0",
            "celery": "3.26.0",
        },
    ),
}
"""Airflow version -> what the contract tests ran against (one pinned environment each)."""

CHARTS: Mapping[str, Mapping[str, str | None]] = {
    "apache-airflow": {"1.20.0": "3.1.8"},
    "astro-remote-execution-agent": {"2.3.3": None},
}
"""Chart name -> supported chart version -> the chart's default ``airflowVersion`` (None: the image decides)."""

VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
IMAGE_TAG_VERSION = re.compile(r"^(?:slim-)?(?P<version>\d{1,2}\.\d{1,3}\.\d{1,3})(?=$|[-_+])")
"""An image tag names an Airflow version when it starts with ``X.Y.Z`` (after an optional ``slim-``) followed by
its end or ``-``/``_``/``+``: ``3.1.8``, ``3.1.8-python3.12``, ``slim-3.1.8``, ``3.1.8-payments.4``. Tags such as
``latest``, ``2026.03.11`` or ``3.1.8rc1`` name no version and are not checked."""


def version_key(version: str) -> tuple[int, int, int]:
    """``"3.1.8"`` -> ``(3, 1, 8)``, for ordering; ValueError on anything else."""
    match = VERSION.match(version)
    if match is None:
        raise ValueError(f"not an X.Y.Z version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


MIN_AIRFLOW = min(TESTED, key=version_key)
"""Oldest supported (and tested) Airflow release."""
MAX_AIRFLOW = max(TESTED, key=version_key)
"""Newest supported (and tested) Airflow release."""


def is_supported(version: str) -> bool:
    """True when ``version`` (``X.Y.Z``) lies within the tested span ``MIN_AIRFLOW``..``MAX_AIRFLOW``."""
    try:
        key = version_key(version)
    except ValueError:
        return False
    return version_key(MIN_AIRFLOW) <= key <= version_key(MAX_AIRFLOW)


def supported_range() -> str:
    """How an error message names the range: ``3.1.8 to 3.3.2 (tested: 3.1.8, 3.3.2)``."""
    tested = ", ".join(sorted(TESTED, key=version_key))
    return f"{MIN_AIRFLOW} to {MAX_AIRFLOW} (tested: {tested})"


def image_tag_version(tag: str) -> str | None:
    """The Airflow version an image tag names (see :data:`IMAGE_TAG_VERSION`), or None."""
    match = IMAGE_TAG_VERSION.match(tag)
    return match["version"] if match else None
