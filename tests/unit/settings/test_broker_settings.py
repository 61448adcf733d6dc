"""Issue 11, point 4 as pure settings and URL checks: the ``broker`` setting, its rules, the external switches."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from components.broker_urls import managed_redis_url
from components.settings.errors import SettingsError
from tests.unit.settings.test_isolation_and_production import raw_of, validate

NET = "/subscriptions/9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d/resourceGroups/rg-net/providers/Microsoft.Network"
REDIS_NETWORK = {
    "subnetId": f"{NET}/virtualNetworks/vnet/subnets/endpoints",
    "privateDnsZoneId": f"{NET}/privateDnsZones/privatelink.redis.cache.windows.net",
}


def celery(name: str, **changes):
    raw, _ = raw_of(name)
    if raw["cloud"] == "azure":
        changes.setdefault("azure", {**raw["azure"], "redisNetwork": REDIS_NETWORK})
    return validate(name, **{"executor": "CeleryExecutor", **changes})


def refused(name: str, setting: str, **changes) -> str:
    with pytest.raises(SettingsError) as caught:
        celery(name, **changes)
    message = str(caught.value)
    assert f"airflow-platform:{setting}" in message, message
    return message


def test_should_default_celery_to_the_managed_broker_in_every_environment():
    for name in ("payments-dev", "payments-prod", "research-dev", "research-prod"):
        s = celery(name)
        assert s.broker.mode == "managed" and s.managed_broker, name


def test_should_not_use_a_broker_without_celery():
    s = validate("payments-prod")
    assert s.executor == "KubernetesExecutor" and not s.managed_broker


def test_should_allow_the_charts_redis_and_a_single_node_outside_prod():
    assert celery("payments-dev", broker={"mode": "chart"}).broker.mode == "chart"
    assert not celery("payments-dev", broker={"highAvailability": False, "snapshotRetentionDays": 0}).broker.high_availability


@pytest.mark.parametrize(
    ("name", "broker", "setting"),
    [
        ("payments-prod", {"mode": "chart"}, "broker.mode"),
        ("research-prod", {"mode": "chart"}, "broker.mode"),
        ("payments-prod", {"highAvailability": False}, "broker.highAvailability"),
        ("research-prod", {"highAvailability": False}, "broker.highAvailability"),
        ("payments-prod", {"snapshotRetentionDays": 0}, "broker.snapshotRetentionDays"),
        ("payments-dev", {"nodeType": "m5.large"}, "broker.nodeType"),
        ("research-dev", {"nodeType": "Premium_P9"}, "broker.nodeType"),
        ("research-dev", {"nodeType": "Basic_C1"}, "broker.nodeType"),
        ("payments-dev", {"engineVersion": "6.2"}, "broker.engineVersion"),
        ("payments-dev", {"snapshotRetentionDays": 36}, "broker.snapshotRetentionDays"),
        ("payments-dev", {"password": "x"}, "broker.password"),
    ],
)
def test_should_refuse_a_broker_setting_outside_its_rules(name, broker, setting):
    refused(name, setting, broker=broker)


def test_should_refuse_broker_settings_without_celery():
    with pytest.raises(SettingsError, match="airflow-platform:broker "):
        validate("payments-dev", broker={"nodeType": "cache.t4g.small"})


def test_should_refuse_the_managed_broker_on_azure_without_a_private_endpoint_network():
    raw, _ = raw_of("research-dev")
    with pytest.raises(SettingsError, match=r"airflow-platform:azure\.redisNetwork"):
        validate("research-dev", executor="CeleryExecutor", azure=raw["azure"])


def test_should_refuse_a_dns_zone_other_than_the_redis_private_link_zone():
    raw, _ = raw_of("research-dev")
    wrong = {**REDIS_NETWORK, "privateDnsZoneId": f"{NET}/privateDnsZones/x.private.postgres.database.azure.com"}
    refused("research-dev", "azure.redisNetwork.privateDnsZoneId", azure={**raw["azure"], "redisNetwork": wrong})


def test_should_take_external_components_with_what_they_need():
    url = "https://airflow.payments.example/execution/"
    s = celery("payments-prod", externalScheduler=True, externalApiServer=True, airflowConfig={"core": {"execution_api_server_url": url}})
    accounts = s.reader_service_accounts()
    assert "scheduler" not in accounts and "apiServer" not in accounts and "workers" in accounts


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"externalScheduler": True, "executor": "KubernetesExecutor"}, "externalScheduler"),
        ({"externalScheduler": True, "broker": {"mode": "chart"}}, "externalScheduler"),
        ({"externalApiServer": True}, "airflowConfig.core.execution_api_server_url"),
        ({"externalApiServer": True, "airflowConfig": {"core": {"execution_api_server_url": "http://x/api/"}}}, "airflowConfig.core"),
        (
            {
                "externalApiServer": True,
                "airflowConfig": {"core": {"execution_api_server_url": "https://x/execution/"}},
                "uiAccess": {"mode": "loadBalancer"},
            },
            "uiAccess.mode",
        ),
    ],
)
def test_should_refuse_external_components_that_would_break(changes, setting):
    refused("payments-dev", setting, **changes)


@pytest.mark.parametrize("password", ["abcDEF123", "a+b/c=d==", "p@ss:w%rd?#&"])
def test_should_percent_encode_the_password_of_a_verified_tls_url(password):
    url = managed_redis_url(host="master.x.cache.amazonaws.com", port=6379, password=password)
    parts = urlsplit(url)
    assert parts.scheme == "rediss" and parts.hostname == "master.x.cache.amazonaws.com" and parts.port == 6379
    assert unquote(parts.password) == password and parts.path == "/0" and parts.query == "ssl_cert_reqs=required"


def test_should_refuse_a_url_host_that_is_not_a_host_name():
    with pytest.raises(ValueError, match="host name"):
        managed_redis_url(host="evil@host", port=6379, password="x")


@pytest.mark.parametrize(
    ("overlay", "owner"),
    [
        ({"redis": {"enabled": True}}, "broker.mode"),
        ({"scheduler": {"enabled": False}}, "externalScheduler"),
        ({"apiServer": {"enabled": False}}, "externalApiServer"),
    ],
)
def test_should_refuse_switching_the_broker_or_components_through_helm_values(overlay, owner):
    message = refused("payments-dev", "helmValues", helmValues=overlay)
    assert owner in message
