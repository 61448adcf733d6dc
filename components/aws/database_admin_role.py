"""IAM role (IRSA) of the database bootstrap Job: reads the RDS-managed master secret, nothing else.

Creates one IAM role trusted only by the bootstrap Job's service account
(``sts:AssumeRoleWithWebIdentity`` with ``:aud`` and ``:sub`` conditions) and an
inline policy allowing ``secretsmanager:GetSecretValue`` on exactly the master
secret RDS manages (plus ``kms:Decrypt`` through Secrets Manager when that secret
is encrypted with a customer key). No Airflow pod runs under this service account.

Example::

    DatabaseAdminRole("db-admin-reader", DatabaseAdminRoleArgs(
        role_name="payments-prod-airflow-db-bootstrap", issuer_url=issuer, provider_arn=provider_arn,
        subject="system:serviceaccount:airflow:airflow-db-bootstrap", secret_arn=db.admin_secret_arn))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import naming
from components.aws import policies

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"


def read_secret_policy(secret_arn: str, *, region: str, kms_key_arn: str | None) -> dict:
    """``GetSecretValue`` on one secret (and ``kms:Decrypt`` via Secrets Manager with a customer key)."""
    statements: list[dict] = [
        {"Sid": "ReadMasterSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}
    ]
    if kms_key_arn is not None:
        statements.append(
            {
                "Sid": "DecryptMasterSecret",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True, kw_only=True)
class DatabaseAdminRoleArgs:
    role_name: str
    """IAM role name (1-64 characters)."""
    region: str
    """Region of the secret (the ``kms:ViaService`` condition)."""
    issuer_url: str
    """OIDC issuer of the EKS cluster."""
    provider_arn: str
    """IAM OIDC provider of that issuer."""
    subject: str
    """``system:serviceaccount:<ns>:<sa>`` of the bootstrap Job: the only subject trusted."""
    secret_arn: pulumi.Input[str]
    """ARN of the RDS-managed master secret."""
    kms_key_arn: str | None = None
    """Customer key of the secret. Default: none (``aws/secretsmanager``)."""
    permissions_boundary_arn: str | None = None
    """Permissions boundary of the role. Default: none."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the role. Default: none."""

    def __post_init__(self) -> None:
        if not naming.IAM_ROLE_NAME.match(self.role_name):
            raise ValueError(f"role_name must be 1-64 of [A-Za-z0-9+=,.@_-], got {self.role_name!r}")
        if "*" in self.subject or not self.subject.startswith("system:serviceaccount:"):
            raise ValueError(f"subject must be one exact service account, got {self.subject!r}")


class DatabaseAdminRole(pulumi.ComponentResource):
    """Role the bootstrap Job assumes to read the master secret."""

    TYPE = "dataplat:identity:DatabaseAdminRole"

    role_arn: pulumi.Output[str]
    """ARN of the role."""
    service_account_annotations: pulumi.Output[dict[str, str]]
    """Annotation that binds the Job's service account to the role."""

    def __init__(self, name: str, args: DatabaseAdminRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        trust = policies.irsa_trust_policy(
            [policies.FederatedTrust(provider_arn=args.provider_arn, issuer_url=args.issuer_url, subjects=[args.subject])]
        )
        role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            description="Database bootstrap Job: reads the RDS-managed master secret (IRSA)",
            assume_role_policy=pulumi.Output.json_dumps(trust),
            permissions_boundary=args.permissions_boundary_arn,
            max_session_duration=3600,
            tags=dict(args.tags),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-read-master-secret",
            name="read-rds-master-secret",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                pulumi.Output.from_input(args.secret_arn).apply(
                    lambda arn: read_secret_policy(arn, region=args.region, kms_key_arn=args.kms_key_arn)
                )
            ),
            opts=child,
        )
        self.role_arn = role.arn
        self.service_account_annotations = role.arn.apply(lambda arn: {ROLE_ARN_ANNOTATION: arn})
        self.register_outputs({"role_arn": self.role_arn, "service_account_annotations": self.service_account_annotations})
