"""Rules of the Celery broker (``broker``) and of ``externalScheduler``/``externalApiServer``.

The Production Guide's "External Scheduler" and "External API Server": an external scheduler must reach the
same Redis as the workers, so it needs the managed broker; an external api-server must be named as the Task
Execution API. Called from ``validation.py`` (``rules.py`` is full).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from components.settings.broker import AWS_NODE_TYPE, AZURE_SKU, BrokerSettings
from components.settings.errors import Problem
from components.settings.model import Settings


def check_broker(s: Settings, add: Callable[[Problem], None]) -> None:
    """Rules of ``broker`` and of the external scheduler / api-server switches."""
    broker = s.broker
    if broker != BrokerSettings() and (s.executor != "CeleryExecutor" or not s.self_hosted):
        add(Problem("broker", "<object>", "only with executor CeleryExecutor in deploymentMode self-hosted"))
        return
    managed = s.executor == "CeleryExecutor" and s.self_hosted and broker.mode == "managed"
    if managed and broker.node_type is not None:
        pattern = AWS_NODE_TYPE if s.cloud == "aws" else AZURE_SKU
        if not pattern.match(broker.node_type):
            allowed = "cache.<family>.<size>" if s.cloud == "aws" else "Basic_C0..C6, Standard_C0..C6 or Premium_P1..P5"
            add(Problem("broker.nodeType", broker.node_type, f"not a {s.cloud} node type; use {allowed}"))
        elif s.cloud == "azure" and broker.high_availability and broker.node_type.startswith("Basic_"):
            add(Problem("broker.nodeType", broker.node_type, "Basic has no replica: use Standard or Premium, or highAvailability false"))
    if managed and s.azure is not None and s.azure.redis_network is None:
        add(Problem("azure.redisNetwork", None, "required with broker.mode managed: set subnetId and privateDnsZoneId"))
    if s.environment == "prod" and s.executor == "CeleryExecutor" and s.self_hosted:
        if broker.mode == "chart":
            add(Problem("broker.mode", "chart", "prod uses the managed Redis (TLS, generated credential); the chart's has neither"))
        if not broker.high_availability:
            add(Problem("broker.highAvailability", False, "production stacks keep this safety default; relax it only in dev or staging"))
        if s.cloud == "aws" and broker.snapshot_retention_days == 0:
            add(Problem("broker.snapshotRetentionDays", 0, "prod keeps Redis snapshots (1-35 days)"))
    check_external(s, add)


def check_external(s: Settings, add: Callable[[Problem], None]) -> None:
    """``externalScheduler`` and ``externalApiServer``: what the chart then leaves to a scheduler or api-server
    running elsewhere. ``schedulerReplicas``/``apiServerReplicas`` then describe those external components:
    the connection budget still counts them (as if through PgBouncer: an upper bound for its pools)."""
    if not (s.external_scheduler or s.external_api_server):
        return
    if not s.self_hosted:
        key = "externalScheduler" if s.external_scheduler else "externalApiServer"
        add(Problem(key, True, "only with deploymentMode self-hosted (Astro hosts the scheduler and api-server)"))
        return
    if s.external_scheduler and (s.executor != "CeleryExecutor" or s.broker.mode != "managed"):
        add(
            Problem(
                "externalScheduler",
                True,
                "needs executor CeleryExecutor with broker.mode managed: the external scheduler queues tasks on the "
                "workers' Redis (Production Guide); other executors run or launch tasks from the scheduler itself",
            )
        )
    if s.external_api_server:
        if s.ui_access.mode != "none":
            add(Problem("uiAccess.mode", s.ui_access.mode, "exposes the api-server, which the chart does not run with externalApiServer"))
        url = s.airflow_config.get("core", {}).get("execution_api_server_url")
        if not isinstance(url, str) or not re.match(r"^https?://\S+/execution/?$", url):
            add(
                Problem(
                    "airflowConfig.core.execution_api_server_url",
                    url,
                    "required with externalApiServer: the external api-server's Task Execution API, https://<host>/execution/",
                )
            )
