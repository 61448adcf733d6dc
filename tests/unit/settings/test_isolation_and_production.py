"""Issue 9, points 1, 5 and 6 as pure settings checks: stack isolation, narrow grants, production rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components import naming
from components.settings.errors import SettingsError
from components.settings.validation import settings_from_config
from tests.conftest import stack_file
from tests.support.stacks import PROJECT
from tools.stackfile import StackConfig, load_stack

EXAMPLES = ("payments-dev", "payments-prod", "research-dev", "research-prod", "growth-prod", "insights-prod")


def raw_of(name: str) -> tuple[dict[str, Any], StackConfig]:
    stack = load_stack(stack_file(name))
    raw = {k: v for k, v in stack.project_values().items() if f"{PROJECT}:{k}" not in stack.secret_keys}
    return copy.deepcopy(raw), stack


def validate(name: str, **changes: Any):
    raw, stack = raw_of(name)
    for key, value in changes.items():
        raw[key] = value
    return settings_from_config(raw, stack=stack.stack, aws_region=stack.values.get("aws:region"))


def rejected(name: str, setting: str, **changes: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        validate(name, **changes)
    message = str(caught.value)
    assert f"{PROJECT}:{setting}" in message, message
    return message


def section(name: str, key: str) -> dict[str, Any]:
    return raw_of(name)[0][key]


# ---------------------------------------------------------------- point 1: isolation


@pytest.mark.parametrize("name", ["payments-dev", "payments-prod", "growth-prod"])
def test_should_default_aws_prefixes_to_the_stack(name):
    s = validate(name)
    assert s.resolved_connections_prefix == f"airflow/{s.team}-{s.environment}/connections"
    assert naming.aws_prefix_problem(s.resolved_connections_prefix, s.prefix) is None


def test_should_keep_airflow_lookup_names_under_the_stack_prefix():
    s = validate("payments-prod")
    assert s.secret_name("git_payments_dags") == "airflow/payments-prod/connections/git_payments_dags"


@pytest.mark.parametrize(
    "prefix",
    [
        "airflow/connections",  # the shared default of the backend
        "airflow/payments-dev/connections",  # another stack's
        "payments-prod",  # too short
        "airflow/payments-prod",  # a parent of every leaf of the stack
        "airflow/payments-dev/connections/payments-prod",  # under another stack's prefix
        "x/payments-prod/connections/y",
    ],
)
def test_should_refuse_an_aws_prefix_that_could_overlap_another_stack(prefix):
    rejected("payments-prod", "connectionsPrefix", connectionsPrefix=prefix)


def test_should_accept_an_explicit_per_stack_prefix():
    s = validate("payments-prod", connectionsPrefix="teams/payments-prod/conns", variablesPrefix="teams/payments-prod/vars")
    assert s.resolved_connections_prefix == "teams/payments-prod/conns"
    assert s.resolved_variables_prefix == "teams/payments-prod/vars"


def test_should_refuse_a_shared_variables_prefix_on_aws():
    rejected("payments-prod", "variablesPrefix", variablesPrefix="airflow/variables")
    rejected("payments-prod", "variablesPrefix", variablesPrefix="airflow/payments-prod/connections")


def test_should_keep_one_vault_per_stack_on_azure():
    dev, prod = validate("research-dev"), validate("research-prod")
    assert dev.azure.key_vault.name != prod.azure.key_vault.name
    assert dev.azure.key_vault.create and prod.azure.key_vault.create


def test_should_refuse_an_existing_vault_that_is_not_the_stack_own():
    az = section("research-dev", "azure")
    az["keyVault"] = {"name": "kv-research-prod-af", "create": False}
    rejected("research-dev", "azure.keyVault.name", azure=az)
    az["keyVault"] = {"name": "kv-research-dev-af", "create": False}
    assert not validate("research-dev", azure=az).azure.key_vault.create


# ---------------------------------------------------------------- point 5: narrow grants


def test_should_default_astro_scheduler_access_to_explicit_on_aws():
    re_ = section("growth-prod", "remoteExecution")
    re_.pop("schedulerAccess")
    s = validate("growth-prod", remoteExecution=re_)
    assert s.remote_execution.scheduler_access.mode == "explicit"


def test_should_refuse_the_wildcard_scheduler_trust_in_prod():
    re_ = section("growth-prod", "remoteExecution")
    re_["schedulerAccess"] = {"mode": "wildcard"}
    rejected("growth-prod", "remoteExecution.schedulerAccess.mode", remoteExecution=re_)


def test_should_keep_the_wildcard_as_an_explicit_choice_outside_prod():
    re_ = section("growth-prod", "remoteExecution")
    re_["schedulerAccess"] = {"mode": "wildcard"}
    s = validate("growth-prod", remoteExecution=re_, environment="staging")
    assert s.remote_execution.scheduler_access.mode == "wildcard"


def test_should_default_remote_clusters_to_the_pod_operator_role_and_refuse_admin_in_prod():
    clusters = section("research-prod", "remoteClusters")
    clusters[0].pop("role", None)
    assert validate("research-prod", remoteClusters=clusters).remote_clusters[0].role == "pod-operator"
    clusters[0]["role"] = "admin"
    rejected("research-prod", "remoteClusters[0].role", remoteClusters=clusters)


def test_should_require_a_cluster_name_for_pod_identity():
    aws = section("payments-prod", "aws")
    rejected("payments-prod", "aws.clusterName", aws={**aws, "identityMode": "pod-identity"})
    rejected("payments-prod", "aws.clusterName", aws={**aws, "clusterName": "eks-payments"})
    s = validate("payments-prod", aws={**aws, "identityMode": "pod-identity", "clusterName": "eks-payments"})
    assert s.aws.identity_mode == "pod-identity"


# ---------------------------------------------------------------- point 6: production rules


def test_should_refuse_aws_prod_without_a_customer_managed_key():
    aws = section("payments-prod", "aws")
    aws.pop("kmsKeyArn")
    rejected("payments-prod", "aws.kmsKeyArn", aws=aws)
    aws = section("growth-prod", "aws")
    aws.pop("kmsKeyArn")
    rejected("growth-prod", "aws.kmsKeyArn", aws=aws)


def test_should_refuse_enhanced_monitoring_off_in_prod():
    db = section("payments-prod", "database")
    rejected("payments-prod", "database.enhancedMonitoringIntervalSeconds", database={**db, "enhancedMonitoringIntervalSeconds": 0})
    assert validate("payments-prod").database.enhanced_monitoring_interval_seconds == 60


def test_should_refuse_deleting_automated_backups_in_prod():
    db = section("payments-prod", "database")
    rejected("payments-prod", "database.deleteAutomatedBackups", database={**db, "deleteAutomatedBackups": True})


def test_should_refuse_geo_redundant_backup_off_where_the_region_has_a_pair():
    db = section("research-prod", "database")
    rejected("research-prod", "database.geoRedundantBackup", database={**db, "geoRedundantBackup": False})


@pytest.mark.parametrize("key", ["keyVault", "databaseNetwork"])
def test_should_refuse_firewall_ranges_wider_than_24_in_prod(key):
    az = section("research-prod", "azure")
    if key == "keyVault":
        az["keyVault"]["allowedIpRanges"] = ["198.51.100.0/23"]
        rejected("research-prod", "azure.keyVault.allowedIpRanges", azure=az)
    else:
        az["databaseNetwork"] = {"mode": "public", "allowedIpRanges": ["203.0.112.0/20"]}
        rejected("research-prod", "azure.databaseNetwork.allowedIpRanges", azure=az)


def test_should_allow_wide_ranges_outside_prod():
    az = section("research-dev", "azure")
    az["databaseNetwork"]["allowedIpRanges"] = ["203.0.112.0/20"]
    validate("research-dev", azure=az)


def test_should_refuse_duplicate_database_cidrs():
    az = section("research-dev", "azure")
    az["databaseNetwork"]["allowedIpRanges"] = ["203.0.113.0/28", "203.0.113.0/28"]
    rejected("research-dev", "azure.databaseNetwork.allowedIpRanges", azure=az)


def test_should_accept_large_azure_storage_without_the_aws_ceiling():
    db = section("research-prod", "database")
    assert validate("research-prod", database={**db, "storageGb": 1024}).database.storage_gb == 1024
    aws_db = section("payments-prod", "database")
    rejected("payments-prod", "database.maxStorageGb", database={**aws_db, "storageGb": 2048})


def test_should_refuse_an_astro_oidc_provider_of_another_issuer_or_account():
    re_ = section("growth-prod", "remoteExecution")
    issuer_host = naming.issuer_host(re_["deployment"]["oidcIssuerUrl"])
    good = f"arn:aws:iam::444455556666:oidc-provider/{issuer_host}"
    re_["deployment"]["oidcProviderArn"] = good
    validate("growth-prod", remoteExecution=re_)
    re_["deployment"]["oidcProviderArn"] = "arn:aws:iam::444455556666:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHER"
    rejected("growth-prod", "remoteExecution.deployment.oidcProviderArn", remoteExecution=re_)
    re_["deployment"]["oidcProviderArn"] = f"arn:aws:iam::999999999999:oidc-provider/{issuer_host}"
    rejected("growth-prod", "remoteExecution.deployment.oidcProviderArn", remoteExecution=re_)


@pytest.mark.parametrize("name", EXAMPLES)
def test_should_meet_every_production_rule_in_the_examples(name):
    s = validate(name)
    if s.environment != "prod":
        return
    if s.aws is not None:
        assert s.aws.kms_key_arn is not None
    if s.remote_execution is not None:
        assert s.remote_execution.scheduler_access.mode != "wildcard"
    assert all(c.role != "admin" for c in s.remote_clusters)
