"""DAG bundle entries as Airflow reads them from ``[dag_processor] dag_bundle_config_list`` (both charts)."""

from __future__ import annotations

from typing import Any

from components.settings.airflow import DagBundle

GIT_BUNDLE_CLASS = "airflow.providers.git.bundles.git.GitDagBundle"
LOCAL_BUNDLE_CLASS = "airflow.dag_processing.bundles.local.LocalDagBundle"


def dag_bundle_config(bundle: DagBundle) -> dict[str, Any]:
    """One ``dag_bundle_config_list`` entry (``name``/``version`` are supplied by Airflow, never kwargs)."""
    if bundle.kind == "local":
        return {"name": bundle.name, "classpath": LOCAL_BUNDLE_CLASS, "kwargs": {"path": bundle.path}}
    kwargs: dict[str, Any] = {"tracking_ref": bundle.tracking_ref, "refresh_interval": bundle.refresh_interval_seconds}
    if bundle.repo_url is not None:
        kwargs["repo_url"] = bundle.repo_url
    if bundle.git_conn_id is not None:
        kwargs["git_conn_id"] = bundle.git_conn_id
    if bundle.subdir is not None:
        kwargs["subdir"] = bundle.subdir
    return {"name": bundle.name, "classpath": GIT_BUNDLE_CLASS, "kwargs": kwargs}
