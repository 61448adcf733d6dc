"""Version rules: the Airflow a stack deploys lies within the supported range of ``components/versions.py``.

``airflowVersion`` must lie within ``MIN_AIRFLOW``..``MAX_AIRFLOW``. An
``airflowImageTag`` that names an Airflow version (``3.1.8``, ``3.1.8-python3.12``,
``slim-3.1.8``, ``3.1.8-payments.4``: see ``components.versions.IMAGE_TAG_VERSION``)
must name a supported one too, and the same one as ``airflowVersion``: the chart
sets up the pods for ``airflowVersion``, while the image runs the tag's. Tags that
name no version (``latest``, ``2026.03.11``, a digest-like build id) are the
team's to keep in step with ``airflowVersion``.
"""

from __future__ import annotations

from collections.abc import Callable

from components import versions
from components.settings.errors import Problem
from components.settings.model import Settings


def check_versions(s: Settings, add: Callable[[Problem], None]) -> None:
    """Add a :class:`Problem` for an Airflow version (setting or image tag) outside the supported range."""
    supported = f"supported Airflow versions are {versions.supported_range()}"
    if not versions.is_supported(s.airflow_version):
        add(Problem("airflowVersion", s.airflow_version, supported))
    tagged = versions.image_tag_version(s.airflow_image_tag)
    if tagged is None:
        return
    if not versions.is_supported(tagged):
        add(Problem("airflowImageTag", s.airflow_image_tag, f"names Airflow {tagged}; {supported}"))
    elif tagged != s.airflow_version:
        add(
            Problem(
                "airflowImageTag",
                s.airflow_image_tag,
                f"names Airflow {tagged} but airflowVersion is {s.airflow_version}; set airflowVersion to the image's version",
            )
        )
