"""AWS IAM policy documents for IRSA, as plain dicts (checked by parliament in tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.naming import issuer_host


@dataclass(frozen=True, kw_only=True)
class FederatedTrust:
    """Service accounts of one OIDC issuer allowed to assume the role."""

    provider_arn: str
    """ARN of the IAM OIDC provider registered for the issuer."""
    issuer_url: str
    subjects: Sequence[str]
    """``system:serviceaccount:<ns>:<sa>`` subjects, or one ``system:serviceaccount:<ns>:*`` pattern."""

    @property
    def wildcard(self) -> bool:
        return any("*" in s for s in self.subjects)


def irsa_trust_policy(trusts: Sequence[FederatedTrust]) -> dict:
    """Trust policy: ``sts:AssumeRoleWithWebIdentity`` with conditions on ``:aud`` and ``:sub``."""
    statements = []
    for index, trust in enumerate(trusts):
        host = issuer_host(trust.issuer_url)
        subjects = sorted(trust.subjects)
        condition: dict[str, dict[str, object]] = {"StringEquals": {f"{host}:aud": "sts.amazonaws.com"}}
        if trust.wildcard:
            condition["StringLike"] = {f"{host}:sub": subjects}
        else:
            condition["StringEquals"][f"{host}:sub"] = subjects
        statements.append(
            {
                "Sid": f"ServiceAccounts{index}",
                "Effect": "Allow",
                "Principal": {"Federated": trust.provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def pod_identity_trust_statement(*, cluster_name: str, namespace_accounts: Sequence[tuple[str, str]]) -> dict:
    """EKS Pod Identity trust: ``pods.eks.amazonaws.com`` may assume and tag, for the cluster's listed service accounts.

    The associations already bind each service account to the role; the session tags the Pod Identity agent sets
    (``eks-cluster-name``, ``kubernetes-namespace``, ``kubernetes-service-account``) are checked too.
    """
    return {
        "Sid": "EksPodIdentity",
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {
            "StringEquals": {
                "aws:RequestTag/eks-cluster-name": cluster_name,
                "aws:RequestTag/kubernetes-namespace": sorted({ns for ns, _ in namespace_accounts}),
                "aws:RequestTag/kubernetes-service-account": sorted({sa for _, sa in namespace_accounts}),
            }
        },
    }


def secrets_prefix_arn(*, partition: str, region: str, account_id: str, prefix: str) -> str:
    """ARN pattern of every Secrets Manager secret under ``prefix/`` (names carry a random suffix)."""
    return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{prefix.rstrip('/')}/*"


def secrets_read_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    prefixes: Sequence[str],
    kms_key_arn: str | None,
) -> dict:
    """Read access to exactly the backend's prefixes, plus decrypt through Secrets Manager with a CMK."""
    resources = sorted(secrets_prefix_arn(partition=partition, region=region, account_id=account_id, prefix=p) for p in prefixes)
    statements: list[dict] = [
        {
            "Sid": "ReadAirflowSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "Resource": resources,
        }
    ]
    if kms_key_arn is not None:
        # Secrets Manager decrypts with the encryption context {"SecretARN": <arn>, ...}: bind the key to this stack's secrets.
        statements.append(
            {
                "Sid": "DecryptAirflowSecrets",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:SecretARN": resources},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
