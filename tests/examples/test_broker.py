"""Issue 11, point 4: Celery with the cloud's managed Redis, on both clouds (whole program under the mocks).

The prod examples switched to CeleryExecutor (``tests/support/broker.py``) create ElastiCache for Valkey or
Azure Cache for Redis; the broker URL (verified TLS, the generated token or access key) reaches Kubernetes
only in our broker-URL Secret, the chart's Redis is off, and the stack outputs carry the endpoint and the
Secret's name, never the credential.
"""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

import pytest
from pulumi.runtime import rpc

from tests.conftest import render_config
from tests.support.broker import celery_stack
from tests.support.stacks import expect_rejected
from tools.render import HELM_RELEASE, Rendered, mask

SECRET = "kubernetes:core/v1:Secret"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
AZURE_REDIS = "azure-native:redis:Redis"


@pytest.fixture(scope="module", params=["aws", "azure"])
def celery(request) -> Rendered:
    return render_config(celery_stack(request.param))


def _broker_url(rendered: Rendered) -> str:
    secret = rendered.one(SECRET, "airflow-secrets-broker-url")
    assert rpc.is_rpc_secret(secret.inputs["stringData"])
    return rpc.unwrap_rpc_secret(secret.inputs["stringData"])["connection"]


def test_should_put_a_verified_tls_url_of_the_managed_redis_in_the_broker_secret(celery: Rendered):
    url = urlsplit(_broker_url(celery))
    assert url.scheme == "rediss" and url.query == "ssl_cert_reqs=required" and url.path == "/0"
    if celery.stack.project_values()["cloud"] == "aws":
        group = celery.one(REPLICATION_GROUP)
        assert url.hostname == group.outputs["primaryEndpointAddress"] and url.port == 6379
    else:
        cache = celery.one(AZURE_REDIS)
        assert url.hostname == cache.outputs["hostName"] and url.port == 6380
    assert len(unquote(url.password)) >= 44


def test_should_keep_the_broker_credential_out_of_every_plain_input_and_output(celery: Rendered):
    password = unquote(urlsplit(_broker_url(celery)).password)
    for reg in celery.registrations:
        assert password not in json.dumps(mask(reg.inputs, False)), f"{reg.type} {reg.name} carries the broker credential"
    assert password not in json.dumps(celery.outputs_document(False))
    outputs = celery.outputs_document(False)
    assert outputs["broker_endpoint"].endswith((":6379", ":6380"))
    assert outputs["broker_url_secret"] == "airflow/airflow-broker-url-static"
    assert "system trust store" in outputs["broker_trust"]


def test_should_turn_the_charts_redis_off_and_name_our_broker_secret(celery: Rendered):
    values = celery.one(HELM_RELEASE).inputs["values"]
    assert values["executor"] == "CeleryExecutor"
    assert values["redis"] == {"enabled": False}
    assert values["data"]["brokerUrlSecretName"] == "airflow-broker-url-static"
    assert "brokerUrl" not in values["data"]
    assert not any(r.name.startswith("airflow-secrets-redis") for r in celery.registrations)


def test_should_build_elasticache_private_encrypted_highly_available_and_protected():
    rendered = render_config(celery_stack("aws"))
    group = rendered.one(REPLICATION_GROUP).inputs
    assert group["engine"] == "valkey" and group["engineVersion"] == "8.0"
    assert group["transitEncryptionEnabled"] is True and group["transitEncryptionMode"] == "required"
    assert group["atRestEncryptionEnabled"] is True
    assert group["kmsKeyId"] == rendered.stack.project_values()["aws"]["kmsKeyArn"]
    assert group["multiAzEnabled"] is True and group["automaticFailoverEnabled"] is True and group["numCacheClusters"] == 2
    assert group["snapshotRetentionLimit"] == 7
    assert rpc.is_rpc_secret(group["authTokenWo"]) and group["authTokenWoVersion"] == 1
    assert rendered.one(REPLICATION_GROUP).protect
    token = rendered.one("random:index/randomPassword:RandomPassword", "broker-auth-token").inputs
    assert token["special"] is False and token["length"] == 64  # ElastiCache AUTH: 16-128 chars, no " / @ space
    subnets = rendered.one("aws:elasticache/subnetGroup:SubnetGroup").inputs
    assert subnets["subnetIds"] == rendered.stack.project_values()["aws"]["privateSubnetIds"]
    (ingress,) = [
        r.inputs for r in rendered.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") if r.name == "broker-from-cluster"
    ]
    assert ingress["referencedSecurityGroupId"] == rendered.stack.project_values()["aws"]["clusterSecurityGroupId"]
    assert (ingress["fromPort"], ingress["toPort"], ingress["ipProtocol"]) == (6379, 6379, "tcp")
    assert "cidrIpv4" not in ingress


def test_should_build_azure_cache_tls_only_behind_a_private_endpoint_and_protected():
    rendered = render_config(celery_stack("azure"))
    cache = rendered.one(AZURE_REDIS)
    assert cache.inputs["enableNonSslPort"] is False and cache.inputs["minimumTlsVersion"] == "1.2"
    assert cache.inputs["publicNetworkAccess"] == "Disabled"
    assert cache.inputs["sku"] == {"name": "Standard", "family": "C", "capacity": 1}
    assert cache.protect
    endpoint = rendered.one("azure-native:network:PrivateEndpoint").inputs
    assert endpoint["subnet"]["id"].endswith("/subnets/private-endpoints")
    (connection,) = endpoint["privateLinkServiceConnections"]
    assert connection["groupIds"] == ["redisCache"]
    assert connection["privateLinkServiceId"].endswith("/providers/Microsoft.Cache/redis/research-prod-airflow")
    zone = rendered.one("azure-native:network:PrivateDnsZoneGroup").inputs
    assert zone["privateDnsZoneConfigs"][0]["privateDnsZoneId"].endswith("/privatelink.redis.cache.windows.net")


def test_should_keep_the_charts_redis_in_dev_when_asked():
    rendered = render_config(celery_stack("aws", dev=True, broker={"mode": "chart"}))
    values = rendered.one(HELM_RELEASE).inputs["values"]
    assert values["redis"]["enabled"] is True and values["redis"]["passwordSecretName"] == "airflow-redis-password-static"
    assert not rendered.by_type(REPLICATION_GROUP)
    assert urlsplit(_broker_url(rendered)).scheme == "redis"


@pytest.mark.parametrize(
    ("cloud", "changes", "setting"),
    [
        ("aws", {"broker": {"mode": "chart"}}, "broker.mode"),
        ("azure", {"broker": {"mode": "chart"}}, "broker.mode"),
        ("aws", {"broker": {"highAvailability": False}}, "broker.highAvailability"),
        ("aws", {"broker": {"snapshotRetentionDays": 0}}, "broker.snapshotRetentionDays"),
        ("aws", {"broker": {"nodeType": "Standard_C1"}}, "broker.nodeType"),
        ("azure", {"broker": {"nodeType": "Basic_C1"}}, "broker.nodeType"),
        ("aws", {"executor": "KubernetesExecutor", "broker": {"nodeType": "cache.t4g.small"}}, "broker"),
        ("aws", {"externalScheduler": True, "broker": {"mode": "chart"}}, "externalScheduler"),
        ("aws", {"externalApiServer": True}, "airflowConfig.core.execution_api_server_url"),
    ],
)
def test_should_refuse_a_broker_that_prod_or_the_executor_cannot_take(cloud, changes, setting):
    expect_rejected(celery_stack(cloud, **changes), setting)


def test_should_refuse_the_managed_broker_on_azure_without_its_private_network():
    expect_rejected(celery_stack("azure", redis_network=False), "azure.redisNetwork")


def test_should_let_an_external_scheduler_and_api_server_replace_the_charts():
    url = "https://airflow-api.research.example/execution/"
    rendered = render_config(
        celery_stack("azure", externalScheduler=True, externalApiServer=True, airflowConfig={"core": {"execution_api_server_url": url}})
    )
    values = rendered.one(HELM_RELEASE).inputs["values"]
    assert values["scheduler"]["enabled"] is False and values["apiServer"]["enabled"] is False
    assert values["config"]["core"]["execution_api_server_url"] == url
    subjects = [r.inputs["subject"] for r in rendered.by_type("azure-native:managedidentity:FederatedIdentityCredential")]
    assert subjects and not any(s.endswith(("-scheduler", "-api-server")) for s in subjects), subjects
    assert rendered.outputs_document(False)["broker_url_secret"] == "airflow/airflow-broker-url-static"


@pytest.mark.parametrize("cloud", ["aws", "azure"])
def test_should_pass_the_mandatory_guardrails_with_the_managed_broker(cloud, tmp_path):
    from tests.project.test_policy_pack import example_violations
    from tests.support.stacks import stack_document, write_stack_file

    path = write_stack_file(tmp_path, f"{cloud}-celery-prod", stack_document(celery_stack(cloud)))
    environment, found = example_violations(path)
    assert environment == "prod" and found == []
