"""``taskLogs``: the setting, the store's airflow.cfg/environment and the policy documents (pure, no Pulumi runtime)."""

from __future__ import annotations

import pytest

from components import naming
from components.aws.task_log_bucket import S3_BUCKET_NAME, bucket_name, deny_insecure_transport_policy, log_access_policy
from components.azure.task_log_storage import STORAGE_ACCOUNT_NAME, storage_account_name
from components.platform import TaskLogStore
from tests.conftest import stack_file
from tests.support.stacks import expect_rejected, with_values
from tools.stackfile import load_stack

AWS_PROD = load_stack(stack_file("payments-prod"))
AZURE_PROD = load_stack(stack_file("research-prod"))
KEY = "arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


@pytest.mark.parametrize("days", [0, -1, 3651, "thirty"])
def test_should_refuse_a_retention_that_is_not_1_to_3650_days(days):
    expect_rejected(with_values(AWS_PROD, taskLogs={"enabled": True, "retentionDays": days}), "taskLogs.retentionDays")


def test_should_refuse_an_unknown_task_logs_field():
    expect_rejected(with_values(AWS_PROD, taskLogs={"enabled": True, "bucket": "mine"}), "taskLogs.bucket")


@pytest.mark.parametrize("base", [AWS_PROD, AZURE_PROD], ids=["aws", "azure"])
@pytest.mark.parametrize("key", ["remote_base_log_folder", "delete_local_logs"])
def test_should_refuse_airflow_config_that_overrides_remote_logging(base, key):
    # delete_local_logs: the workers' log groomer is off with taskLogs, so local copies must go once uploaded
    stack = with_values(base, taskLogs={"enabled": True}, airflowConfig={"logging": {key: "s3://elsewhere"}})
    expect_rejected(stack, f"airflowConfig.logging.{key}")


@pytest.mark.parametrize("base", [AWS_PROD, AZURE_PROD], ids=["aws", "azure"])
def test_should_refuse_a_declared_connection_that_takes_the_task_log_connection_id(base):
    conns = [*base.values["airflow-platform:connections"], {"connId": "airflow_task_logs", "connType": "http", "host": "x"}]
    expect_rejected(with_values(base, taskLogs={"enabled": True}, connections=conns), f"connections[{len(conns) - 1}].connId")


def test_should_refuse_a_connection_whose_key_vault_name_is_the_task_log_one():
    conns = [*AZURE_PROD.values["airflow-platform:connections"], {"connId": "airflow-task-logs", "connType": "http", "host": "x"}]
    # on Azure '_' and '-' name the same Key Vault secret
    message = expect_rejected(with_values(AZURE_PROD, taskLogs={"enabled": True}, connections=conns), "connections")
    assert "airflow_task_logs" in message and "airflow-task-logs" in message


def test_should_turn_remote_logging_on_with_the_store():
    store = TaskLogStore(
        remote_base_log_folder="wasb://task-logs",
        conn_id=naming.TASK_LOGS_CONN_ID,
        extra_config={"azure_remote_logging": {"remote_wasb_log_container": "airflow-task-logs"}},
    )
    assert store.airflow_config() == {
        "azure_remote_logging": {"remote_wasb_log_container": "airflow-task-logs"},
        "logging": {
            "remote_logging": "True",
            "remote_base_log_folder": "wasb://task-logs",
            "remote_log_conn_id": "airflow_task_logs",
            "delete_local_logs": "True",
        },
    }
    assert store.environment() == {
        "AIRFLOW__AZURE_REMOTE_LOGGING__REMOTE_WASB_LOG_CONTAINER": "airflow-task-logs",
        "AIRFLOW__LOGGING__DELETE_LOCAL_LOGS": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "wasb://task-logs",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "airflow_task_logs",
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
    }


@pytest.mark.parametrize("team", ["a", "payments", "abcdefghijklmnopqrst"])
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_should_derive_valid_distinct_store_names(team, env):
    name = bucket_name(f"{team}-{env}", "111122223333")
    assert S3_BUCKET_NAME.match(name) and len(name) <= 63
    account = storage_account_name(f"{team}-{env}", "sub-a", "rg")
    assert STORAGE_ACCOUNT_NAME.match(account)
    assert account != storage_account_name(f"{team}-{env}", "sub-b", "rg")
    assert account == storage_account_name(f"{team}-{env}", "sub-a", "rg")


def test_should_grant_exactly_object_read_write_under_the_prefix_and_listing():
    policy = log_access_policy(partition="aws", region="eu-west-1", bucket="b", kms_key_arn=None)
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    assert {s["Resource"] for s in policy["Statement"]} == {"arn:aws:s3:::b/task-logs/*", "arn:aws:s3:::b"}
    assert all("*" not in a for a in actions)


def test_should_allow_the_customer_key_only_through_s3_for_this_bucket():
    policy = log_access_policy(partition="aws", region="eu-west-1", bucket="b", kms_key_arn=KEY)
    kms = policy["Statement"][-1]
    assert kms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"] and kms["Resource"] == KEY
    assert kms["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.eu-west-1.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b",
    }


def test_should_deny_plain_http_on_the_bucket_and_its_objects():
    (statement,) = deny_insecure_transport_policy(partition="aws", bucket="b")["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
