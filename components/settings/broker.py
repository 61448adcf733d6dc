"""Settings and rules of the Celery broker: the cloud's managed Redis (ElastiCache, Azure Cache for Redis) or the chart's.

``broker`` applies to ``executor: CeleryExecutor`` only. The default, ``mode: managed``, has the program
create the cloud's Redis with TLS and a generated credential; the broker URL then reaches the pods only
through a Kubernetes Secret. ``mode: chart`` keeps the chart's in-cluster Redis (no TLS, its password in a
Secret of ours), for dev and staging only. ``externalScheduler``/``externalApiServer`` (the Production
Guide's "External Scheduler"/"External API Server") are checked here too: an external scheduler must reach
the same Redis as the workers, so it needs the managed broker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from components.settings.errors import Problem
from components.settings.fields import StrictModel

AWS_NODE_TYPE = re.compile(r"^cache\.[a-z][a-z0-9]*\.[a-z0-9]+$")
AZURE_SKU = re.compile(r"^(Basic|Standard)_C[0-6]$|^Premium_P[1-5]$")
DEFAULT_NODE_TYPE = {"aws": "cache.t4g.small", "azure": "Standard_C1"}
REDIS_TLS_PORT = {"aws": 6379, "azure": 6380}
"""TLS port of the managed Redis: ElastiCache serves TLS on 6379, Azure Cache for Redis on 6380."""


class BrokerSettings(StrictModel):
    """The Celery broker (``executor: CeleryExecutor``). Defaults are production grade in every environment."""

    mode: Literal["managed", "chart"] = "managed"
    """``managed``: the cloud's Redis, created here (AWS: ElastiCache for Valkey; Azure: Azure Cache for Redis),
    TLS only, private, a generated credential. ``chart``: the chart's in-cluster Redis (refused in prod)."""
    engine_version: Literal["7.2", "8.0", "8.1"] = "8.0"
    """AWS: Valkey engine version of the replication group, pinned. Azure Cache for Redis runs Redis 6."""
    node_type: str | None = None
    """AWS: ElastiCache node type (default ``cache.t4g.small``). Azure: SKU ``Basic_C<n>``, ``Standard_C<n>`` or
    ``Premium_P<n>`` (default ``Standard_C1``)."""
    high_availability: bool = True
    """AWS: a replica in another AZ, Multi-AZ with automatic failover. Azure: a Standard or Premium SKU (a replica
    with failover; Basic has none). Required in prod."""
    snapshot_retention_days: int = Field(default=7, ge=0, le=35)
    """AWS: days daily snapshots are kept (0: none, refused in prod). Azure: not used (persistence is Premium only)."""
    auth_token_generation: int = Field(default=1, ge=1, le=10000)
    """AWS: bump to rotate the generated auth token (ElastiCache ``ROTATE``: the old token stays valid until the
    next change). Azure uses the cache's primary access key."""


def check_broker(s, add: Callable[[Problem], None]) -> None:
    """Rules of ``broker`` and of the external scheduler / api-server switches (``s`` is a :class:`Settings`)."""
    broker: BrokerSettings = s.broker
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


def check_external(s, add: Callable[[Problem], None]) -> None:
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
