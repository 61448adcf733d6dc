"""IAM role for service accounts (IRSA, or EKS Pod Identity) that reads the Airflow secrets in Secrets Manager.

Creates: an IAM OIDC provider for each trusted issuer that has none yet (the
Astro cluster's, for Remote Execution), the role with a trust policy limited to
``sts:AssumeRoleWithWebIdentity`` from those issuers for the given
service-account subjects (``:aud`` = ``sts.amazonaws.com``), and an inline
policy allowing ``GetSecretValue``/``DescribeSecret`` on exactly the backend's
prefix ARNs (plus ``kms:Decrypt`` via Secrets Manager with a customer key, bound
to those secrets by the ``SecretARN`` encryption context). With ``pod_identity``
the cluster's service accounts are bound by one ``aws.eks.PodIdentityAssociation``
each instead (trust ``pods.eks.amazonaws.com``: ``sts:AssumeRole`` and
``sts:TagSession``; no service-account annotation), with the same permission policy.

Example::

    IrsaRole("secrets-reader", IrsaRoleArgs(
        role_name="payments-prod-airflow-secrets-reader", partition="aws", region="eu-west-1",
        account_id="123456789012", secret_prefixes=["airflow/payments-prod/connections"],
        trusts=[OidcTrust(issuer_url=issuer, provider_arn=provider_arn,
                          subjects=["system:serviceaccount:airflow:airflow-scheduler"])]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import naming
from components.aws import policies

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True, kw_only=True)
class OidcTrust:
    """Service accounts of one cluster (OIDC issuer) allowed to assume the role."""

    key: str
    """Stable logical name (feeds child resource names)."""
    issuer_url: str
    subjects: Sequence[str]
    provider_arn: str | None = None
    """Existing IAM OIDC provider of the issuer. None: one is created."""

    def __post_init__(self) -> None:
        if not self.subjects:
            raise ValueError(f"trust {self.key!r} needs at least one subject")
        for subject in self.subjects:
            if not subject.startswith("system:serviceaccount:") or subject.count(":") != 3:
                raise ValueError(f"subject must be system:serviceaccount:<ns>:<sa>, got {subject!r}")
            if "*" in subject and not subject.endswith(":*"):
                raise ValueError(f"only a whole-namespace wildcard (<ns>:*) is allowed, got {subject!r}")


@dataclass(frozen=True, kw_only=True)
class PodIdentity:
    """EKS Pod Identity: the cluster and its service accounts that get the role through associations."""

    cluster_name: str
    service_accounts: Mapping[str, tuple[str, str]]
    """Logical key (names the association) -> (namespace, service account)."""

    def __post_init__(self) -> None:
        if not self.service_accounts:
            raise ValueError("pod_identity needs at least one service account")


@dataclass(frozen=True, kw_only=True)
class IrsaRoleArgs:
    role_name: str
    """IAM role name (1-64 characters)."""
    partition: str
    """AWS partition (``aws``, ``aws-cn``, ``aws-us-gov``) of the secret ARNs in the policy."""
    region: str
    """Region of the secrets the policy allows (and of the ``kms:ViaService`` condition)."""
    account_id: str
    """Account that owns the secrets the policy allows."""
    trusts: Sequence[OidcTrust]
    """Clusters (OIDC issuers) whose listed service accounts may assume the role; at least one unless ``pod_identity``."""
    secret_prefixes: Sequence[str]
    """Backend prefixes (connections, and variables when enabled) the role may read."""
    kms_key_arn: str | None = None
    """Customer key of the secrets: adds ``kms:Decrypt`` via Secrets Manager. Default: none (AWS-managed key)."""
    permissions_boundary_arn: str | None = None
    """Permissions boundary of the role. Default: none."""
    pod_identity: PodIdentity | None = None
    """EKS Pod Identity for the cluster's service accounts (associations, no annotation). Default: none (IRSA only)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the role and on any OIDC provider created. Default: none."""

    def __post_init__(self) -> None:
        if not naming.IAM_ROLE_NAME.match(self.role_name):
            raise ValueError(f"role_name must be 1-64 of [A-Za-z0-9+=,.@_-], got {self.role_name!r}")
        if not self.trusts and self.pod_identity is None:
            raise ValueError("at least one trust (or pod_identity) is required")
        if not self.secret_prefixes or any(not p for p in self.secret_prefixes):
            raise ValueError(f"secret_prefixes must be non-empty prefixes, got {list(self.secret_prefixes)}")


class IrsaRole(pulumi.ComponentResource):
    """Least-privilege secrets reader assumed through EKS (and Astro) service-account tokens."""

    TYPE = "dataplat:identity:IrsaRole"

    role_arn: pulumi.Output[str]
    """ARN of the role (the value of the service-account annotation)."""
    role_name: pulumi.Output[str]
    """Name of the role."""
    service_account_annotations: pulumi.Output[dict[str, str]]
    """Annotation that binds a Kubernetes service account to the role (none with Pod Identity)."""
    pod_labels: dict[str, str]
    """IRSA needs no pod label (kept for the shared identity interface)."""

    def __init__(self, name: str, args: IrsaRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        provider_arns: list[pulumi.Output[str]] = []
        for trust in args.trusts:
            if trust.provider_arn is not None:
                provider_arns.append(pulumi.Output.from_input(trust.provider_arn))
                continue
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-oidc-{trust.key}",
                url=trust.issuer_url,
                client_id_lists=["sts.amazonaws.com"],
                tags=dict(args.tags),
                opts=child,
            )
            provider_arns.append(provider.arn)

        pod_identity = args.pod_identity

        def trust_document(arns: list[str]) -> dict:
            document = policies.irsa_trust_policy(
                [
                    policies.FederatedTrust(provider_arn=arn, issuer_url=t.issuer_url, subjects=t.subjects)
                    for arn, t in zip(arns, args.trusts, strict=True)
                ]
            )
            if pod_identity is not None:
                statement = policies.pod_identity_trust_statement(
                    cluster_name=pod_identity.cluster_name, namespace_accounts=list(pod_identity.service_accounts.values())
                )
                document["Statement"].insert(0, statement)
            return document

        role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            description="Reads Airflow connections from Secrets Manager (" + ("EKS Pod Identity" if pod_identity else "IRSA") + ")",
            assume_role_policy=pulumi.Output.json_dumps(pulumi.Output.all(*provider_arns).apply(trust_document)),
            permissions_boundary=args.permissions_boundary_arn,
            max_session_duration=3600,
            tags=dict(args.tags),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-read-secrets",
            name="read-airflow-secrets",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                policies.secrets_read_policy(
                    partition=args.partition,
                    region=args.region,
                    account_id=args.account_id,
                    prefixes=args.secret_prefixes,
                    kms_key_arn=args.kms_key_arn,
                )
            ),
            opts=child,
        )

        if pod_identity is not None:
            for key, (namespace, service_account) in pod_identity.service_accounts.items():
                aws.eks.PodIdentityAssociation(
                    f"{name}-pod-identity-{key}",
                    cluster_name=pod_identity.cluster_name,
                    namespace=namespace,
                    service_account=service_account,
                    role_arn=role.arn,
                    tags=dict(args.tags),
                    opts=child,
                )

        self.role_arn = role.arn
        self.role_name = role.name
        if pod_identity is not None:
            self.service_account_annotations = pulumi.Output.from_input({})
        else:
            self.service_account_annotations = role.arn.apply(lambda arn: {ROLE_ARN_ANNOTATION: arn})
        self.pod_labels = {}
        self.register_outputs(
            {
                "role_arn": self.role_arn,
                "role_name": self.role_name,
                "service_account_annotations": self.service_account_annotations,
                "pod_labels": self.pod_labels,
            }
        )
