"""Remote task logs (``taskLogs``) against Airflow's own handlers and a real IAM evaluator (moto's).

The prod examples are rendered under mocks with ``taskLogs.enabled``. Then, in each pinned Airflow
(``airflow_env``), a probe (``probes/task_logs_probe.py``) loads Airflow's logging configuration from the
``airflow.cfg`` the chart renders from our values (self-hosted) or from the agent chart's ``commonEnv``
(remote execution), with the task-log connection exactly as the program stores it in the backend, and reports
which remote log IO Airflow builds, with which folder, container and connection, and what the hook makes of the
connection. On AWS the probe also writes a log through ``S3RemoteLogIO`` to moto's S3, signed with the
credentials of a role that holds our rendered policies, with moto's IAM enforcement on: the write to the stack's
own bucket succeeds, the write to another stack's bucket is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components import naming
from tests.conftest import missing_tool, render_config, stack_file
from tests.contract.probes import probe_support
from tests.contract.probes.probe_support import base_env
from tests.contract.test_aws import chart_airflow_cfg
from tests.support.stacks import unwrap, with_values
from tools.render import HELM_RELEASE, Rendered
from tools.stackfile import load_stack

PROBE = Path(__file__).parent / "probes" / "task_logs_probe.py"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
KV_SECRET = "azure-native:keyvault:Secret"
TASK_LOGS = {"enabled": True, "retentionDays": 14}


def rendered_with_logs(name: str) -> Rendered:
    return render_config(with_values(load_stack(stack_file(name)), taskLogs=TASK_LOGS))


def values_of(rendered: Rendered) -> dict[str, Any]:
    return unwrap(rendered.one(HELM_RELEASE).inputs["values"])


def aws_connection_document(rendered: Rendered) -> str:
    """The task-log connection as stored in Secrets Manager."""
    for version in rendered.by_type(SECRET_VERSION):
        if version.name == f"connections-{naming.TASK_LOGS_CONN_ID}-value":
            return unwrap(version.inputs["secretString"])
    raise AssertionError("no Secrets Manager entry for the task-log connection")


def azure_connection_document(rendered: Rendered) -> str:
    return unwrap(rendered.one(KV_SECRET, "task-logs-connection").inputs["properties"])["value"]


def probe(airflow_env, home: Path, env: dict[str, str], request: dict[str, Any] | None = None) -> dict[str, Any]:
    report = probe_support.run_probe(
        PROBE, [], request or {}, workdir=home, env=env, timeout=180, stem="task-logs", python=airflow_env.python
    )
    assert "failure" not in report, report["failure"]["traceback"]
    return report


def probe_env(home: Path, document: str) -> dict[str, str]:
    return {
        **base_env(home),
        f"AIRFLOW_CONN_{naming.TASK_LOGS_CONN_ID.upper()}": document,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def self_hosted_home(tmp_path: Path, rendered: Rendered) -> Path:
    config = values_of(rendered)["config"]
    # the probe has no Secrets Manager/Key Vault: the connection comes from the environment instead
    values = {"config": {k: v for k, v in config.items() if k != "secrets"}}
    (tmp_path / "airflow.cfg").write_text(chart_airflow_cfg(values))
    return tmp_path


# --------------------------------------------------------------------------- Airflow accepts what we generate


def test_should_make_airflow_build_s3_remote_logging_from_the_rendered_chart_config(airflow_env, tmp_path):
    rendered = rendered_with_logs("payments-prod")
    home = self_hosted_home(tmp_path, rendered)
    report = probe(
        airflow_env, home, {**probe_env(home, aws_connection_document(rendered)), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    )
    assert report["remote_logging"] is True
    assert report["io_class"] == "airflow.providers.amazon.aws.log.s3_task_handler.S3RemoteLogIO"
    assert report["remote_base"] == "s3://payments-prod-airflow-logs-111122223333/task-logs"
    assert report["handler"] == {"class": "S3TaskHandler", "remote_base": report["remote_base"]}
    assert report["remote_log_conn_id"] == naming.TASK_LOGS_CONN_ID
    assert report["hook"] == {"conn_id": naming.TASK_LOGS_CONN_ID, "region": "eu-west-1"}


def test_should_make_airflow_build_wasb_remote_logging_with_workload_identity(airflow_env, tmp_path):
    rendered = rendered_with_logs("research-prod")
    home = self_hosted_home(tmp_path, rendered)
    env = {
        **probe_env(home, azure_connection_document(rendered)),
        # what the AKS webhook injects; the connection's extras must pick the same client
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_TENANT_ID": "7d1f3c2a-5b6e-4f80-9a1b-2c3d4e5f6a7b",
        "AZURE_FEDERATED_TOKEN_FILE": str(home / "token"),
        "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
    }
    (home / "token").write_text("projected-token")
    report = probe(airflow_env, home, env)
    client_id = unwrap(rendered.one("azure-native:managedidentity:UserAssignedIdentity", "secrets-reader-identity").outputs["clientId"])
    account = unwrap(rendered.one("azure-native:storage:StorageAccount").inputs["accountName"])
    assert report["io_class"] == "airflow.providers.microsoft.azure.log.wasb_task_handler.WasbRemoteLogIO"
    assert report["remote_base"] == "task-logs"
    assert report["wasb_container"] == "airflow-task-logs"
    assert report["handler"] == {"class": "WasbTaskHandler", "remote_base": "task-logs", "container": "airflow-task-logs"}
    hook = report["hook"]
    assert hook["conn_id"] == naming.TASK_LOGS_CONN_ID
    assert hook["account_name"] == account
    assert hook["account_url"].startswith(f"https://{account}.blob.core.windows.net")
    assert hook["credential_class"] == "DefaultAzureCredential"
    assert "WorkloadIdentityCredential" in hook["credential_chain"]
    assert hook["workload_identity_client_id"] == client_id


@pytest.mark.parametrize("stack", ["growth-prod", "insights-prod"])
def test_should_make_the_agents_log_remotely_from_common_env(airflow_env, tmp_path, stack):
    rendered = rendered_with_logs(stack)
    common_env = {e["name"]: e["value"] for e in values_of(rendered)["commonEnv"]}
    logging_env = {k: v for k, v in common_env.items() if "_LOGGING__" in k}
    cloud = rendered.stack.values["airflow-platform:cloud"]
    document = aws_connection_document(rendered) if cloud == "aws" else azure_connection_document(rendered)
    env = {**probe_env(tmp_path, document), **logging_env, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    if cloud == "azure":
        env |= {"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t", "AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "token")}
    report = probe(airflow_env, tmp_path, env)
    assert report["remote_logging"] is True and report["remote_log_conn_id"] == naming.TASK_LOGS_CONN_ID
    assert report["handler"]["class"] == ("S3TaskHandler" if cloud == "aws" else "WasbTaskHandler")
    assert report["remote_base"] == (
        f"s3://{unwrap(rendered.one('aws:s3/bucket:Bucket').inputs['bucket'])}/task-logs" if cloud == "aws" else "task-logs"
    )


# --------------------------------------------------------------------------- moto: our policy lets the stack write its own bucket only


@pytest.fixture(scope="module")
def moto_s3():
    """moto's S3, STS and IAM on loopback with two stacks' roles as rendered; IAM enforced once set up."""
    try:
        import boto3
        from moto import settings as moto_settings
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        missing_tool(f"moto[server] and boto3 ({error})")
        raise
    stacks = {name: rendered_with_logs(name) for name in ("payments-prod", "payments-dev")}
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    mp = pytest.MonkeyPatch()
    accounts = {unwrap(r.one("aws:s3/bucket:Bucket").inputs["bucket"]).rsplit("-", 1)[1] for r in stacks.values()}
    assert len(accounts) == 1, f"the stacks must share an account: {accounts}"
    mp.setenv("MOTO_ACCOUNT_ID", accounts.pop())  # the in-process server creates the roles and buckets there
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        admin = {"region_name": "eu-west-1", "endpoint_url": endpoint, "aws_access_key_id": "AKIAADMIN", "aws_secret_access_key": "a"}
        iam, s3, sts = (boto3.client(service, **admin) for service in ("iam", "s3", "sts"))
        credentials = {}
        buckets = {}
        for name, r in stacks.items():
            role = r.one(ROLE, "secrets-reader-role")
            role_name = unwrap(role.inputs["name"])
            iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=unwrap(role.inputs["assumeRolePolicy"]))
            logs = r.one(ROLE_POLICY, "task-logs-access")
            assert unwrap(logs.inputs["role"]) == role_name, "the log policy is not on the workload role"
            for policy in (r.one(ROLE_POLICY, "secrets-reader-read-secrets"), logs):
                iam.put_role_policy(
                    RoleName=role_name, PolicyName=unwrap(policy.inputs["name"]), PolicyDocument=unwrap(policy.inputs["policy"])
                )
            bucket = unwrap(r.one("aws:s3/bucket:Bucket").inputs["bucket"])
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            buckets[name] = bucket
            account = bucket.rsplit("-", 1)[1]  # <team>-<env>-airflow-logs-<account>
            assumed = sts.assume_role_with_web_identity(
                RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="logs", WebIdentityToken="projected-token"
            )
            credentials[name] = assumed["Credentials"]
        mp.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # from here on moto evaluates IAM
        yield {"endpoint": endpoint, "credentials": credentials, "buckets": buckets, "stacks": stacks, "admin": admin}
    finally:
        mp.undo()
        server.stop()


def s3_as(moto_s3: dict[str, Any], stack: str) -> Any:
    """An S3 client of moto's server signed with the credentials of ``stack``'s workload role."""
    import boto3

    c = moto_s3["credentials"][stack]
    return boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=moto_s3["endpoint"],
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )


def test_should_let_airflow_write_task_logs_to_the_stack_bucket_only(moto_s3, airflow_env, tmp_path):

    rendered = moto_s3["stacks"]["payments-prod"]
    own, other = moto_s3["buckets"]["payments-prod"], moto_s3["buckets"]["payments-dev"]
    c = moto_s3["credentials"]["payments-prod"]
    home = self_hosted_home(tmp_path, rendered)
    env = {
        **probe_env(home, aws_connection_document(rendered)),
        "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
        "AWS_SESSION_TOKEN": c["SessionToken"],
        "AWS_ENDPOINT_URL_S3": moto_s3["endpoint"],
    }
    key = f"dag_id=probe/run_id=airflow-{airflow_env.version}/task_id=t/attempt=1.log"
    report = probe(airflow_env, home, env, {"write": True, "key": key, "other_folder": f"s3://{other}/task-logs"})
    assert report["read_own"] == "task log line\n", report
    assert report["write_other"] is False, "the stack's role wrote to another stack's log bucket"

    # IAM is enforced: each bucket is listed with its own stack's role
    keys = [o["Key"] for o in s3_as(moto_s3, "payments-prod").list_objects_v2(Bucket=own).get("Contents", [])]
    assert f"task-logs/{key}" in keys
    others = s3_as(moto_s3, "payments-dev").list_objects_v2(Bucket=other).get("Contents", [])
    assert not [k for k in (o["Key"] for o in others) if "probe" in k]


def test_should_deny_the_role_outside_its_prefix_and_the_other_stack(moto_s3):
    from botocore.exceptions import ClientError

    outcomes = {}
    for stack in moto_s3["credentials"]:
        client = s3_as(moto_s3, stack)
        for target, bucket in moto_s3["buckets"].items():
            for key in ("task-logs/x/attempt=1.log", "elsewhere/attempt=1.log"):
                try:
                    client.put_object(Bucket=bucket, Key=key, Body=b"x")
                    outcomes[(stack, target, key)] = "allowed"
                except ClientError as error:
                    assert error.response["Error"]["Code"] in ("AccessDenied", "403"), error
                    outcomes[(stack, target, key)] = "denied"
    allowed = sorted(k for k, v in outcomes.items() if v == "allowed")
    assert allowed == [
        ("payments-dev", "payments-dev", "task-logs/x/attempt=1.log"),
        ("payments-prod", "payments-prod", "task-logs/x/attempt=1.log"),
    ], outcomes


# --------------------------------------------------------------------------- parliament on the rendered policies


@pytest.mark.parametrize("resource", ["task-logs-access", "task-logs-tls-only"])
def test_should_pass_parliament_on_the_log_policies(resource):
    from tests.contract.test_aws import _severe_findings

    rendered = rendered_with_logs("payments-prod")
    (registration,) = [r for r in rendered.registrations if r.name == resource]
    assert _severe_findings(unwrap(registration.inputs["policy"])) == []
