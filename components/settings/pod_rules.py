"""Rules of the pods, the connection budget, UI access and metrics, and the escape hatch (``pods``, ``helmValues``, ``airflowConfig``)."""

from __future__ import annotations

import re

from components.settings import chart_schema, overlay
from components.settings.access import MetricsSettings
from components.settings.budget import BudgetError
from components.settings.errors import Problem
from components.settings.model import Settings


def check(s: Settings, *, budget: bool) -> list[Problem]:
    """The pods, overlay and (when ``budget``, i.e. nothing else is wrong) connection-budget rules."""
    problems: list[Problem] = []
    check_pods(s, problems.append)
    check_access(s, problems.append)
    check_overlay(s, problems.append)
    if budget and not problems:
        check_budget(s, problems.append)
    return problems


def check_access(s: Settings, add) -> None:
    """``uiAccess`` and ``metrics`` configure the official chart: self-hosted only."""
    if not s.self_hosted and s.ui_access.mode != "none":
        add(Problem("uiAccess.mode", s.ui_access.mode, "only with deploymentMode self-hosted (Astro hosts the UI)"))
    if not s.self_hosted and s.metrics != MetricsSettings():
        add(Problem("metrics", "<object>", "only with deploymentMode self-hosted (the official chart's StatsD)"))


def check_pods(s: Settings, add) -> None:
    pods = s.pods
    if s.executor == "KubernetesExecutor" and pods.workers.safe_to_evict:
        add(Problem("pods.workers.safeToEvict", True, "KubernetesExecutor task pods must not be evicted mid-run (production guide)"))
    if s.executor != "CeleryExecutor":
        for key, value, default in (("replicas", pods.workers.replicas, 1), ("concurrency", pods.workers.concurrency, 16)):
            if value != default:
                add(Problem(f"pods.workers.{key}", value, "only with CeleryExecutor"))
    if pods.jobs.safe_to_evict is not None:
        add(Problem("pods.jobs.safeToEvict", pods.jobs.safe_to_evict, "the chart's jobs take no safeToEvict"))
    if not s.pgbouncer_enabled and pods.pgbouncer.replicas is not None:
        add(Problem("pods.pgbouncer.replicas", pods.pgbouncer.replicas, "only with pgbouncerEnabled"))
    repo_digest = s.airflow_image_repository.partition("@")[2]
    if repo_digest and s.airflow_image_digest and repo_digest != s.airflow_image_digest:
        add(Problem("airflowImageDigest", s.airflow_image_digest, f"differs from the digest in airflowImageRepository ({repo_digest})"))


def check_overlay(s: Settings, add) -> None:
    owned = overlay.OWNED_CHART_PATHS if s.self_hosted else overlay.OWNED_AGENT_PATHS
    if s.helm_values and s.self_hosted:
        for path, message in chart_schema.schema_errors(s.helm_values):
            add(Problem(f"helmValues{'.' + path if path else ''}", "<set>", f"refused by the chart's values.schema.json: {message}"))
    for path, owner in overlay.owned_conflicts(s.helm_values, owned):
        add(Problem(f"helmValues.{path}", "<set>", f"owned by the program ({owner}); set that instead"))
    for where in overlay.env_conflicts(s.helm_values):
        add(Problem(f"helmValues.{where}", "<set>", "sets what the program owns (Secrets, backend, identity, its volumes and containers)"))
    if s.airflow_config and not s.self_hosted:
        add(Problem("airflowConfig", "<object>", "self-hosted only; the agent chart takes its settings through helmValues"))
    for key, owner in overlay.config_conflicts(s.airflow_config):
        add(Problem(f"airflowConfig.{key}", s.airflow_config[key.split(".")[0]][key.split(".", 1)[1]], f"owned by the program ({owner})"))
    for section, keys in s.airflow_config.items():
        if not re.match(r"^[a-z][a-z0-9_]*$", section):
            add(Problem(f"airflowConfig.{section}", "<section>", "airflow.cfg section names are lower_snake_case"))
        for key, value in keys.items():
            if not re.match(r"^[a-z][a-z0-9_]*$", key):
                add(Problem(f"airflowConfig.{section}.{key}", value, "airflow.cfg keys are lower_snake_case"))
            if isinstance(value, str) and "{{" in value:
                add(Problem(f"airflowConfig.{section}.{key}", value, "'{{' is not allowed (the chart passes config through Helm tpl)"))


def check_budget(s: Settings, add) -> None:
    """Self-hosted: the connection budget must fit half the database's ``max_connections``."""
    if not s.self_hosted:
        return
    try:
        s.connection_budget()
    except BudgetError as error:
        add(Problem(error.setting, error.value, error.message))
