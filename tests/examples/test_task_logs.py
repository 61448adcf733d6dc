"""``taskLogs`` on the rendered examples: the bucket or container, their policies and grants, and the chart's airflow.cfg."""

from __future__ import annotations

import configparser
import json
from typing import Any

import pytest

from components import naming
from tests.conftest import render_config, stack_file
from tests.support.stacks import unwrap, with_values
from tools.render import HELM_RELEASE, Rendered
from tools.stackfile import load_stack

BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ON = {"enabled": True, "retentionDays": 21}


def with_logs(name: str) -> Rendered:
    return render_config(with_values(load_stack(stack_file(name)), taskLogs=ON))


def one(rendered: Rendered, suffix: str) -> Any:
    (found,) = [r for r in rendered.registrations if r.name == f"task-logs-{suffix}"]
    return found


@pytest.mark.parametrize("name", ["payments-prod", "research-prod", "growth-prod", "insights-prod"])
def test_should_create_no_log_store_by_default(name):
    rendered = render_config(with_values(load_stack(stack_file(name)), taskLogs=None))
    assert not [r for r in rendered.registrations if r.name.startswith("task-logs")]
    config = unwrap(rendered.one(HELM_RELEASE).inputs["values"]).get("config", {})
    assert "remote_logging" not in config.get("logging", {})


def test_should_create_a_private_encrypted_tls_only_bucket_protected_in_prod():
    rendered = with_logs("payments-prod")
    bucket = rendered.one(BUCKET)
    assert unwrap(bucket.inputs["bucket"]) == "payments-prod-airflow-logs-111122223333"
    assert bucket.protect is True and bucket.parent == "task-logs"
    block = unwrap(one(rendered, "public-access").inputs)
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert unwrap(one(rendered, "ownership").inputs["rule"]) == {"objectOwnership": "BucketOwnerEnforced"}
    (rule,) = unwrap(one(rendered, "encryption").inputs["rules"])
    key = rendered.stack.values["airflow-platform:aws"]["kmsKeyArn"]
    assert rule == {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key}, "bucketKeyEnabled": True}
    (deny,) = json.loads(unwrap(one(rendered, "tls-only").inputs["policy"]))["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (expiry,) = unwrap(one(rendered, "retention").inputs["rules"])
    assert expiry["expiration"] == {"days": 21} and expiry["filter"] == {"prefix": "task-logs/"} and expiry["status"] == "Enabled"


def test_should_use_sse_s3_without_a_customer_key_and_not_protect_outside_prod():
    base = load_stack(stack_file("payments-dev"))
    rendered = render_config(with_values(base, taskLogs=ON))
    (rule,) = unwrap(one(rendered, "encryption").inputs["rules"])
    if "kmsKeyArn" not in base.values["airflow-platform:aws"]:
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
        policy = json.loads(unwrap(one(rendered, "access").inputs["policy"]))
        assert not [s for s in policy["Statement"] if "kms" in json.dumps(s)]
    assert rendered.one(BUCKET).protect is base.project_values().get("protectStateful", True)


def test_should_grant_the_workload_role_the_bucket_only():
    rendered = with_logs("payments-prod")
    policy = one(rendered, "access")
    assert unwrap(policy.inputs["role"]) == "payments-prod-airflow-secrets-reader"
    statements = json.loads(unwrap(policy.inputs["policy"]))["Statement"]
    resources = {r for s in statements for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])}
    key = rendered.stack.values["airflow-platform:aws"]["kmsKeyArn"]
    bucket = "arn:aws:s3:::payments-prod-airflow-logs-111122223333"
    assert resources == {bucket, f"{bucket}/task-logs/*", key}


@pytest.mark.parametrize("name", ["payments-prod", "growth-prod"])
def test_should_store_a_credential_free_aws_connection_for_the_handler(name):
    rendered = with_logs(name)
    (version,) = [r for r in rendered.registrations if r.name == f"connections-{naming.TASK_LOGS_CONN_ID}-value"]
    document = json.loads(unwrap(version.inputs["secretString"]))
    assert document == {"conn_type": "aws", "extra": {"region_name": rendered.stack.values["aws:region"]}}


def test_should_lock_the_storage_account_to_entra_tls_and_the_cluster_subnet():
    rendered = with_logs("research-prod")
    account = rendered.one(ACCOUNT)
    inputs = unwrap(account.inputs)
    assert inputs["enableHttpsTrafficOnly"] is True and inputs["minimumTlsVersion"] == "TLS1_2"
    assert inputs["allowBlobPublicAccess"] is False and inputs["allowSharedKeyAccess"] is False
    azure = rendered.stack.values["airflow-platform:azure"]
    rules = inputs["networkRuleSet"]
    assert rules["defaultAction"] == "Deny"
    assert [r["virtualNetworkResourceId"] for r in rules["virtualNetworkRules"]] == [azure["aksSubnetId"]]
    assert account.protect is True and rendered.one(CONTAINER).protect is True
    assert unwrap(rendered.one(CONTAINER).inputs["publicAccess"]) == "None"
    (rule,) = unwrap(one(rendered, "retention").inputs["policy"])["rules"]
    assert rule["definition"]["actions"]["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": 21}


def test_should_grant_blob_data_contributor_on_the_container_only():
    rendered = with_logs("research-prod")
    grant = unwrap(one(rendered, "blob-contributor").inputs)
    account = unwrap(rendered.one(ACCOUNT).inputs["accountName"])
    assert f"/storageAccounts/{account}/" in grant["scope"]
    assert grant["scope"].endswith("/blobServices/default/containers/airflow-task-logs")
    assert grant["roleDefinitionId"].endswith(f"/roleDefinitions/{BLOB_CONTRIBUTOR}")
    identity = rendered.one("azure-native:managedidentity:UserAssignedIdentity", "secrets-reader-identity")
    assert grant["principalId"] == unwrap(identity.outputs["principalId"])


def test_should_store_the_wasb_connection_with_the_workload_identity_and_no_secret():
    rendered = with_logs("research-prod")
    secret = one(rendered, "connection")
    assert unwrap(secret.inputs["secretName"]) == "airflow-connections-airflow-task-logs"
    document = json.loads(unwrap(secret.inputs["properties"])["value"])
    identity = rendered.one("azure-native:managedidentity:UserAssignedIdentity", "secrets-reader-identity")
    account = unwrap(rendered.one(ACCOUNT).inputs["accountName"])
    assert document == {
        "conn_type": "wasb",
        "host": f"https://{account}.blob.core.windows.net/",
        "extra": {
            "managed_identity_client_id": unwrap(identity.outputs["clientId"]),
            "workload_identity_tenant_id": rendered.stack.values["airflow-platform:azure"]["tenantId"],
        },
    }


@pytest.mark.parametrize("name", ["payments-prod", "research-prod"])
def test_should_write_remote_logging_into_the_chart_airflow_cfg(name):
    from tests.contract.test_chart_render import chart_render

    rendered = with_logs(name)
    manifests = chart_render(rendered).manifests
    (text,) = [m["data"]["airflow.cfg"] for m in manifests if m.get("kind") == "ConfigMap" and "airflow.cfg" in m.get("data", {})]
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(text)
    assert cfg["logging"]["remote_logging"] == "True"
    assert cfg["logging"]["remote_log_conn_id"] == naming.TASK_LOGS_CONN_ID
    folder = cfg["logging"]["remote_base_log_folder"]
    if name == "payments-prod":
        assert folder == "s3://payments-prod-airflow-logs-111122223333/task-logs"
    else:
        assert folder == "wasb://task-logs"
        assert cfg["azure_remote_logging"]["remote_wasb_log_container"] == "airflow-task-logs"


def test_should_export_the_store():
    assert unwrap(with_logs("payments-prod").outputs["task_log_bucket"][0]) == "payments-prod-airflow-logs-111122223333"
    assert unwrap(with_logs("research-prod").outputs["task_log_container"][0]).endswith("/containers/airflow-task-logs")
