"""Stack isolation on AWS, decided by a real IAM policy evaluator: moto's.

Two example stacks of one account and region (``payments-dev`` and
``payments-prod``) are rendered under mocks. Their IAM roles are created in moto
exactly as rendered (trust policy and inline permission policy, byte for byte),
assumed through STS ``AssumeRoleWithWebIdentity``, and the assumed credentials
call ``GetSecretValue`` with moto's IAM enforcement on
(``INITIAL_NO_AUTH_ACTION_COUNT = 0``). Each stack's secrets are the ones it
declares plus one at the name Airflow's backend would look up under the prefix
the rendered Helm values configure.

moto 5.2 authorizes Secrets Manager calls against resource ``*`` only; the one
addition here resolves the ``SecretId`` to its ARN before the policy is
evaluated, the way moto already does for SQS (``SQSResponse._determine_resource``).
Everything else (statement matching, wildcards, the deny) is moto's own code.

Before this change both stacks used ``airflow/connections`` and each role could
read ``airflow/connections/*``: this test failed there (dev read prod).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import missing_tool, render, stack_file
from tests.support.stacks import unwrap
from tools.render import HELM_RELEASE, Rendered

STACKS = ("payments-dev", "payments-prod")
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET = "aws:secretsmanager/secret:Secret"


def backend_kwargs(rendered: Rendered) -> dict[str, Any]:
    values = unwrap(rendered.one(HELM_RELEASE).inputs["values"])
    return json.loads(values["config"]["secrets"]["backend_kwargs"].replace("%%", "%"))


def stack_secret_names(rendered: Rendered) -> list[str]:
    """Declared secrets, plus the name the backend looks a probe conn_id up under."""
    names = [unwrap(s.inputs["name"]) for s in rendered.by_type(SECRET)]
    prefix = backend_kwargs(rendered)["connections_prefix"].rstrip("/")
    names.append(f"{prefix}/isolation_probe_{rendered.stack.stack.replace('-', '_')}")
    return names


def policy_account(rendered: Rendered) -> str:
    """Account of the secret ARNs the rendered permission policy names."""
    statement = json.loads(unwrap(rendered.one(ROLE_POLICY, "secrets-reader-read-secrets").inputs["policy"]))["Statement"][0]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return resources[0].split(":")[4]


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    stacks = {name: render(stack_file(name)) for name in STACKS}
    regions = {r.stack.values["aws:region"] for r in stacks.values()}
    accounts = {policy_account(r) for r in stacks.values()}
    assert len(regions) == 1 and len(accounts) == 1, f"the stacks must share account and region: {accounts}, {regions}"
    return stacks


@pytest.fixture(scope="module")
def moto_results(rendered: dict[str, Rendered]) -> dict[tuple[str, str], str]:
    """(role's stack, secret name) -> ``allowed`` or ``denied``."""
    try:
        import boto3
        from botocore.exceptions import ClientError
        from moto import mock_aws
        from moto import settings as moto_settings
        from moto.secretsmanager.responses import SecretsManagerResponse
    except ImportError as error:  # pragma: no cover
        missing_tool(f"moto and boto3 ({error})")
        raise

    first = next(iter(rendered.values()))
    region = first.stack.values["aws:region"]
    account = policy_account(first)

    def determine_resource(self) -> str:
        secret_id = json.loads(self.body or "{}").get("SecretId")
        try:
            return self.backend.describe_secret(secret_id).arn if secret_id else "*"
        except Exception:  # unknown secret: let the backend answer ResourceNotFound
            return "*"

    results: dict[tuple[str, str], str] = {}
    mp = pytest.MonkeyPatch()
    mp.setenv("MOTO_ACCOUNT_ID", account)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        mp.delenv(key, raising=False)
    mp.setattr(SecretsManagerResponse, "_determine_resource", determine_resource, raising=False)
    try:
        with mock_aws():
            admin = {"region_name": region, "aws_access_key_id": "AKIAADMIN000000", "aws_secret_access_key": "admin"}
            iam = boto3.client("iam", **admin)
            sm = boto3.client("secretsmanager", **admin)
            sts = boto3.client("sts", **admin)
            credentials: dict[str, dict[str, str]] = {}
            all_names: list[str] = []
            for stack, r in rendered.items():
                role = r.one(ROLE, "secrets-reader-role")
                policy = r.one(ROLE_POLICY, "secrets-reader-read-secrets")
                role_name = unwrap(role.inputs["name"])
                iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=unwrap(role.inputs["assumeRolePolicy"]))
                iam.put_role_policy(
                    RoleName=role_name, PolicyName=unwrap(policy.inputs["name"]), PolicyDocument=unwrap(policy.inputs["policy"])
                )
                for name in stack_secret_names(r):
                    sm.create_secret(Name=name, SecretString=f"value of {name}")
                    all_names.append(name)
                assumed = sts.assume_role_with_web_identity(
                    RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="isolation", WebIdentityToken="projected-token"
                )
                credentials[stack] = assumed["Credentials"]
            mp.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # from here on moto evaluates IAM
            for stack, c in credentials.items():
                client = boto3.client(
                    "secretsmanager",
                    region_name=region,
                    aws_access_key_id=c["AccessKeyId"],
                    aws_secret_access_key=c["SecretAccessKey"],
                    aws_session_token=c["SessionToken"],
                )
                for name in all_names:
                    try:
                        assert client.get_secret_value(SecretId=name)["SecretString"] == f"value of {name}"
                        results[(stack, name)] = "allowed"
                    except ClientError as error:
                        code = error.response["Error"]["Code"]
                        assert code in ("AccessDenied", "AccessDeniedException", "403"), error
                        results[(stack, name)] = "denied"
    finally:
        mp.undo()
    return results


def test_should_give_each_stack_its_own_backend_prefix(rendered):
    prefixes = {stack: backend_kwargs(r)["connections_prefix"] for stack, r in rendered.items()}
    assert len(set(prefixes.values())) == len(prefixes), prefixes
    for stack, prefix in prefixes.items():
        assert stack in prefix.split("/"), f"{stack}'s prefix {prefix!r} does not name the stack"


@pytest.mark.parametrize("stack", STACKS)
def test_should_let_a_role_read_its_own_stack_secrets(moto_results, rendered, stack):
    own = stack_secret_names(rendered[stack])
    assert {name: moto_results[(stack, name)] for name in own} == dict.fromkeys(own, "allowed")


@pytest.mark.parametrize("stack", STACKS)
def test_should_deny_a_role_the_other_stack_secrets(moto_results, rendered, stack):
    others = [name for other in STACKS if other != stack for name in stack_secret_names(rendered[other])]
    assert others
    assert {name: moto_results[(stack, name)] for name in others} == dict.fromkeys(others, "denied"), (
        f"{stack}'s role can read another stack's secrets"
    )
