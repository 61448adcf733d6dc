"""The connection budget: max_connections per class or SKU, the load model and the half rule."""

from __future__ import annotations

import pytest

from components.settings import budget
from components.settings.budget import BudgetError, Load, max_connections, plan


def load(**changes) -> Load:
    base = dict(
        scheduler_replicas=2, api_server_replicas=2, dag_processor_replicas=1, triggerer_replicas=2, celery_slots=0, pgbouncer_replicas=2
    )
    return Load(**(base | changes))


@pytest.mark.parametrize(
    ("instance_class", "expected"),
    [
        ("db.t4g.micro", 112),  # LEAST(1 GiB / 9531392, 5000)
        ("db.t4g.medium", 450),
        ("db.m7g.large", 901),
        (None, 901),  # default db.m7g.large
        ("db.r7g.large", 1802),
        ("db.r6g.2xlarge", 5000),
        ("db.m7g.8xlarge", 5000),
        ("db.x2g.large", None),
    ],
)
def test_should_derive_rds_max_connections_from_the_class_memory(instance_class, expected):
    assert max_connections("aws", instance_class) == expected


@pytest.mark.parametrize(
    ("sku", "expected"),
    [
        ("Standard_B1ms", 50),
        ("Standard_B2s", 429),
        ("Standard_B2ms", 859),
        ("Standard_B12ms", 5000),
        ("Standard_D2ds_v5", 859),
        (None, 859),  # default Standard_D2ds_v5
        ("Standard_D4ds_v5", 1718),
        ("Standard_D4ads_v5", 1718),
        ("Standard_D8s_v3", 3437),
        ("Standard_D16ds_v5", 5000),
        ("Standard_E2ds_v5", 1718),
        ("Standard_E4ds_v4", 3437),
        ("Standard_E8ds_v5", 5000),
        ("Standard_M128ms", None),
    ],
)
def test_should_take_flexible_server_max_connections_from_the_sku_table(sku, expected):
    assert max_connections("azure", sku) == expected


def test_should_size_pgbouncer_from_the_declared_load():
    plan_ = plan(load(), 1802)
    # 2 schedulers + 2 api-servers x 1 worker + 1 dag-processor x (1 + 2) + 2 triggerers + 2 jobs = 11 processes x 15
    assert plan_.client_connections == 165
    assert plan_.max_client_conn == 200
    assert plan_.metadata_pool_size == 21  # ceil(165 / 4 / 2)
    assert plan_.result_backend_pool_size == 0
    assert plan_.peak_server_connections == 42
    assert plan_.limit == 901


def test_should_count_celery_slots_in_clients_and_the_result_backend_pool():
    plan_ = plan(load(celery_slots=4 * 16), 1802)
    assert plan_.client_connections == 165 + 64
    assert plan_.result_backend_pool_size == 8  # ceil(64 / 4 / 2)
    assert plan_.peak_server_connections == 2 * (21 + 8)


def test_should_follow_pool_settings_and_api_workers():
    plan_ = plan(load(pool_size=10, max_overflow=0, api_workers=4), 5000)
    assert plan_.client_connections == (2 + 2 * 4 + 3 + 2 + 2) * 10


def test_should_keep_the_chart_minimums():
    plan_ = plan(load(scheduler_replicas=1, api_server_replicas=1, triggerer_replicas=1, pgbouncer_replicas=1), 859)
    assert plan_.max_client_conn >= budget.MIN_MAX_CLIENT_CONN
    assert plan_.metadata_pool_size >= budget.MIN_METADATA_POOL


def test_should_refuse_a_plan_above_half_of_max_connections_naming_the_numbers():
    with pytest.raises(BudgetError) as caught:
        plan(load(scheduler_replicas=10, api_server_replicas=20), 112)
    message = str(caught.value)
    assert caught.value.setting == "database.instanceClass"
    assert "112 / 2 = 56" in message
    assert "2 PgBouncer replicas x (70 metadata + 0 result-backend) = 140" in message


def test_should_check_overrides_against_the_budget():
    assert plan(load(), 1802, pool_override=50, max_client_override=500).metadata_pool_size == 50
    with pytest.raises(BudgetError, match="500 metadata"):
        plan(load(), 1802, pool_override=500)
    with pytest.raises(BudgetError, match="below the 165 client connections") as caught:
        plan(load(), 1802, max_client_override=100)
    assert caught.value.setting == "database.pgbouncerMaxClientConn"


def test_should_count_every_client_against_the_database_without_pgbouncer():
    plan_ = plan(load(pgbouncer_replicas=0), 1802)
    assert plan_.peak_server_connections == 165
    assert plan_.max_client_conn == 0
    with pytest.raises(BudgetError, match="without PgBouncer Airflow may open 165"):
        plan(load(pgbouncer_replicas=0), 112)


def test_should_stay_within_half_for_any_load_it_accepts():
    for replicas in range(1, 4):
        for schedulers in range(1, 6):
            for db in (112, 450, 901, 1802):
                try:
                    plan_ = plan(load(scheduler_replicas=schedulers, pgbouncer_replicas=replicas), db)
                except BudgetError:
                    continue
                assert plan_.peak_server_connections <= db // 2
                assert plan_.max_client_conn >= plan_.client_connections
