"""Settings of the Celery broker: the cloud's managed Redis (ElastiCache, Azure Cache for Redis) or the chart's.

``broker`` applies to ``executor: CeleryExecutor`` only. The default, ``mode: managed``, has the program
create the cloud's Redis with TLS and a generated credential; the broker URL then reaches the pods only
through a Kubernetes Secret. ``mode: chart`` keeps the chart's in-cluster Redis (no TLS, its password in a
Secret of ours), for dev and staging only. The rules are in ``broker_rules.py``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

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
