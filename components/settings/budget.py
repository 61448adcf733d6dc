"""The connection budget: PgBouncer's sizes from the declared load, checked against the database's ``max_connections``.

Load model (Airflow 3 defaults, overridable through ``airflowConfig``):

* every Airflow process keeps a SQLAlchemy pool of ``[database] sql_alchemy_pool_size`` (5) plus
  ``sql_alchemy_max_overflow`` (10): up to 15 client connections;
* processes: 1 per scheduler, triggerer replica; ``[api] workers`` (1) per api-server replica;
  1 + ``[dag_processor] parsing_processes`` (2) per dag-processor replica; 2 for the jobs (migrations,
  create-user, cleanup: at most two at once);
* CeleryExecutor: one result-backend connection per task slot (worker replicas x concurrency);
  KubernetesExecutor task pods reach the database only through the API server (Airflow 3 Task SDK).

From that: ``maxClientConn`` (per PgBouncer replica, so one replica can carry every client while the
other restarts) is the client total rounded up to 50, at least the chart's 100. With transaction
pooling a quarter of the clients is in a transaction at once (:data:`ACTIVE_SHARE`), so the
server pool over all replicas is a quarter of the clients, split across the replicas
(``metadataPoolSize``; ``resultBackendPoolSize`` likewise from the Celery slots). The peak of
server connections (every replica's pools full, plus the connections that bypass PgBouncer) must
stay at or below half the database's ``max_connections``: the other half is for failovers,
maintenance, migrations run by hand and the database's own reserved connections.

``max_connections``: RDS PostgreSQL's default parameter group sets
``LEAST({DBInstanceClassMemory/9531392}, 5000)``; :data:`RDS_MEMORY_GIB` holds the memory of the
classes supported (``DBInstanceClassMemory`` is a little below the nominal memory, which the half
rule absorbs). Flexible Server's default depends on the SKU's memory (:data:`AZURE_MAX_CONNECTIONS_BY_GIB`,
from Azure's "Limits in Azure Database for PostgreSQL flexible server" table).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 10
DEFAULT_API_WORKERS = 1
DEFAULT_PARSING_PROCESSES = 2
JOB_PROCESSES = 2
ACTIVE_SHARE = 4
"""One client connection in ``ACTIVE_SHARE`` is in a transaction at a time (transaction pooling)."""
MIN_MAX_CLIENT_CONN = 100
MIN_METADATA_POOL = 10
MIN_RESULT_BACKEND_POOL = 5

RDS_MEMORY_GIB: dict[str, float] = {}
"""RDS class -> memory in GiB, for the families supported (Graviton and Intel, burstable, general, memory)."""
for _family in ("t3", "t4g"):
    RDS_MEMORY_GIB |= {
        f"db.{_family}.{size}": gib
        for size, gib in (("micro", 1), ("small", 2), ("medium", 4), ("large", 8), ("xlarge", 16), ("2xlarge", 32))
    }
for _family in ("m5", "m6g", "m6i", "m7g", "m7i", "m8g"):
    RDS_MEMORY_GIB |= {
        f"db.{_family}.{size}": gib
        for size, gib in (
            ("large", 8),
            ("xlarge", 16),
            ("2xlarge", 32),
            ("4xlarge", 64),
            ("8xlarge", 128),
            ("12xlarge", 192),
            ("16xlarge", 256),
            ("24xlarge", 384),
        )
    }
for _family in ("r5", "r6g", "r6i", "r7g", "r7i", "r8g"):
    RDS_MEMORY_GIB |= {
        f"db.{_family}.{size}": gib
        for size, gib in (
            ("large", 16),
            ("xlarge", 32),
            ("2xlarge", 64),
            ("4xlarge", 128),
            ("8xlarge", 256),
            ("12xlarge", 384),
            ("16xlarge", 512),
        )
    }
RDS_DEFAULT_CLASS = "db.m7g.large"

AZURE_MAX_CONNECTIONS_BY_GIB = {2: 50, 4: 429, 8: 859, 16: 1718, 32: 3437}
"""Flexible Server default ``max_connections`` by SKU memory; 48 GiB and more: 5000."""
AZURE_BURSTABLE_GIB = {"B1ms": 2, "B2s": 4, "B2ms": 8, "B4ms": 16, "B8ms": 32, "B12ms": 48, "B16ms": 64, "B20ms": 80}
AZURE_GIB_PER_VCORE = {"D": 4, "E": 8}
"""General purpose (D) and memory optimized (E) SKUs: memory per vCore."""
AZURE_DEFAULT_SKU = "Standard_D2ds_v5"
_AZURE_SKU = re.compile(r"^Standard_(?:(?P<b>B\d+m?s)|(?P<family>[DE])(?P<vcores>\d+)(?:a?d?s)_v[345])$", re.IGNORECASE)


def max_connections(cloud: str, instance_class: str | None) -> int | None:
    """Default ``max_connections`` of the class or SKU; None when it is not in the tables."""
    if cloud == "aws":
        gib = RDS_MEMORY_GIB.get(instance_class or RDS_DEFAULT_CLASS)
        return None if gib is None else min(int(gib * 1024**3 // 9531392), 5000)
    match = _AZURE_SKU.match(instance_class or AZURE_DEFAULT_SKU)
    if match is None:
        return None
    if match["b"]:
        gib = AZURE_BURSTABLE_GIB.get(match["b"])
        if gib is None:
            return None
    else:
        gib = int(match["vcores"]) * AZURE_GIB_PER_VCORE[match["family"].upper()]
    return AZURE_MAX_CONNECTIONS_BY_GIB.get(gib, 5000 if gib >= 48 else None)


@dataclass(frozen=True, kw_only=True)
class Load:
    scheduler_replicas: int
    api_server_replicas: int
    dag_processor_replicas: int
    triggerer_replicas: int
    celery_slots: int
    """Worker replicas x concurrency under CeleryExecutor; 0 otherwise."""
    pgbouncer_replicas: int
    """0: PgBouncer off (every client connects to the database directly)."""
    pool_size: int = DEFAULT_POOL_SIZE
    max_overflow: int = DEFAULT_MAX_OVERFLOW
    api_workers: int = DEFAULT_API_WORKERS
    parsing_processes: int = DEFAULT_PARSING_PROCESSES


@dataclass(frozen=True, kw_only=True)
class ConnectionBudget:
    client_connections: int
    """Client connections Airflow may open at peak."""
    pgbouncer_replicas: int
    max_client_conn: int
    """PgBouncer ``max_client_conn`` per replica (0: PgBouncer off)."""
    metadata_pool_size: int
    """Server connections per PgBouncer replica for the metadata pool (0: PgBouncer off)."""
    result_backend_pool_size: int
    """Server connections per PgBouncer replica for the Celery result backend (0: not Celery)."""
    peak_server_connections: int
    """Connections the database sees at peak."""
    max_connections: int
    """The database's ``max_connections``."""
    limit: int
    """Half of ``max_connections``: the most the plan may use."""

    def output(self) -> dict[str, Any]:
        return asdict(self)


class BudgetError(ValueError):
    def __init__(self, setting: str, value: Any, message: str) -> None:
        super().__init__(message)
        self.setting, self.value, self.message = setting, value, message


def _round_up(value: int, step: int) -> int:
    return int(math.ceil(value / step) * step)


def plan(
    load: Load, db_max_connections: int, *, pool_override: int | None = None, max_client_override: int | None = None
) -> ConnectionBudget:
    """The budget for ``load``; :class:`BudgetError` names the numbers when it cannot fit."""
    per_process = load.pool_size + load.max_overflow
    processes = (
        load.scheduler_replicas
        + load.api_server_replicas * load.api_workers
        + load.dag_processor_replicas * (1 + load.parsing_processes)
        + load.triggerer_replicas
        + JOB_PROCESSES
    )
    metadata_clients = processes * per_process
    clients = metadata_clients + load.celery_slots
    limit = db_max_connections // 2
    replicas = load.pgbouncer_replicas
    if replicas == 0:
        if clients > limit:
            raise BudgetError(
                "pgbouncerEnabled",
                False,
                f"without PgBouncer Airflow may open {clients} connections, above half the database's max_connections "
                f"({db_max_connections} / 2 = {limit}); enable PgBouncer or pick a larger database.instanceClass",
            )
        return ConnectionBudget(
            client_connections=clients,
            pgbouncer_replicas=0,
            max_client_conn=0,
            metadata_pool_size=0,
            result_backend_pool_size=0,
            peak_server_connections=clients,
            max_connections=db_max_connections,
            limit=limit,
        )
    max_client = max(MIN_MAX_CLIENT_CONN, _round_up(clients, 50))
    if max_client_override is not None:
        if max_client_override < clients:
            raise BudgetError(
                "database.pgbouncerMaxClientConn",
                max_client_override,
                f"below the {clients} client connections the declared load may open ({processes} processes x {per_process}"
                f" + {load.celery_slots} Celery slots); leave it unset or raise it",
            )
        max_client = max_client_override
    metadata_pool = pool_override or max(MIN_METADATA_POOL, math.ceil(metadata_clients / ACTIVE_SHARE / replicas))
    result_pool = max(MIN_RESULT_BACKEND_POOL, math.ceil(load.celery_slots / ACTIVE_SHARE / replicas)) if load.celery_slots else 0
    peak = replicas * (metadata_pool + result_pool)
    if peak > limit:
        raise BudgetError(
            "database.instanceClass",
            db_max_connections,
            f"the plan needs {replicas} PgBouncer replicas x ({metadata_pool} metadata + {result_pool} result-backend) = {peak} "
            f"server connections, above half the database's max_connections ({db_max_connections} / 2 = {limit}); "
            "pick a larger database.instanceClass, fewer replicas or a smaller database.pgbouncerPoolSize",
        )
    return ConnectionBudget(
        client_connections=clients,
        pgbouncer_replicas=replicas,
        max_client_conn=max_client,
        metadata_pool_size=metadata_pool,
        result_backend_pool_size=result_pool,
        peak_server_connections=peak,
        max_connections=db_max_connections,
        limit=limit,
    )
