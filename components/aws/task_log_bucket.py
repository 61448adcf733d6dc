"""Per-stack S3 bucket for Airflow task logs, written and read by the stack's workload role only.

Creates: the bucket (name derived from the stack prefix and the account: valid and unique), a public access
block (all four switches on), ownership controls ``BucketOwnerEnforced`` (ACLs off), default encryption (SSE-KMS
with the stack's customer key and an S3 Bucket Key, else SSE-S3), a bucket policy denying any request not made
over TLS, a lifecycle rule expiring logs after the retention (and aborting stale multipart uploads), and an inline
policy on the existing workload role (IRSA or EKS Pod Identity) allowing exactly what Airflow's ``S3RemoteLogIO``
calls: ``s3:PutObject``/``s3:GetObject`` under the log prefix and ``s3:ListBucket`` on the bucket (the handler
lists a task's log keys; without it S3 answers a missing key's ``HeadObject`` with 403, not 404, and the handler
then gives up the upload), plus ``kms:GenerateDataKey``/``kms:Decrypt`` through S3 with a customer key.

Example::

    TaskLogBucket("task-logs", TaskLogBucketArgs(
        bucket_name="payments-prod-airflow-logs-111122223333", partition="aws", region="eu-west-1",
        role_name=role.role_name, retention_days=30, kms_key_arn=None))
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

LOG_PREFIX = "task-logs"
"""Key prefix of the logs in the bucket (``remote_base_log_folder`` = ``s3://<bucket>/task-logs``)."""
S3_BUCKET_NAME = re.compile(r"^(?!xn--)(?!sthree-)(?!.*-s3alias$)(?!.*--ol-s3$)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
"""S3 general-purpose bucket names the program creates: 3-63 of ``[a-z0-9-]`` (no dots, so virtual-host TLS works),
none of the reserved prefixes or suffixes."""


def bucket_name(stack_prefix: str, account_id: str) -> str:
    """``<team>-<env>-airflow-logs-<account>``: unique (buckets are global; the account id disambiguates) and at most 54."""
    return f"{stack_prefix}-airflow-logs-{account_id}"


def bucket_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:s3:::{name}"


def deny_insecure_transport_policy(*, partition: str, bucket: str) -> dict:
    """Bucket policy: every request over plain HTTP is denied."""
    arn = bucket_arn(partition, bucket)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def log_access_policy(*, partition: str, region: str, bucket: str, kms_key_arn: str | None) -> dict:
    """Identity policy: write and read task logs under :data:`LOG_PREFIX` of ``bucket``; nothing else, no ``*`` action."""
    arn = bucket_arn(partition, bucket)
    statements: list[dict] = [
        {
            "Sid": "ReadWriteTaskLogs",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"{arn}/{LOG_PREFIX}/*",
        },
        {
            "Sid": "ListTaskLogs",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn,
        },
    ]
    if kms_key_arn is not None:
        # S3 asks KMS on the caller's behalf; with the Bucket Key the encryption context is the bucket's ARN
        statements.append(
            {
                "Sid": "EncryptTaskLogs",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": arn}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True, kw_only=True)
class TaskLogBucketArgs:
    bucket_name: str
    """Bucket name (see :data:`S3_BUCKET_NAME`); :func:`bucket_name` derives it from the stack."""
    partition: str
    """AWS partition of the bucket ARN in the policies."""
    region: str
    """Region of the bucket (``kms:ViaService``)."""
    role_name: pulumi.Input[str]
    """Existing workload role that gets the log policy (the stack's IRSA/Pod Identity role)."""
    retention_days: int
    """Days a log object is kept before the lifecycle rule deletes it (1-3650)."""
    kms_key_arn: str | None = None
    """Customer key: SSE-KMS with it (and an S3 Bucket Key). Default: none (SSE-S3)."""
    protect: bool = True
    """Pulumi ``protect`` on the bucket (logs are stateful)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the bucket. Default: none."""

    def __post_init__(self) -> None:
        if not S3_BUCKET_NAME.match(self.bucket_name):
            raise ValueError(f"bucket_name must be 3-63 of [a-z0-9-] without reserved affixes, got {self.bucket_name!r}")
        if not 1 <= self.retention_days <= 3650:
            raise ValueError(f"retention_days must be 1-3650, got {self.retention_days}")


class TaskLogBucket(pulumi.ComponentResource):
    """Private, encrypted, TLS-only S3 bucket of one stack's task logs, and the workload role's access to it."""

    TYPE = "dataplat:logs:TaskLogBucket"

    bucket_name: pulumi.Output[str]
    """Name of the bucket."""
    bucket_arn: pulumi.Output[str]
    """ARN of the bucket."""
    remote_base_log_folder: str
    """``s3://<bucket>/task-logs``: Airflow's ``[logging] remote_base_log_folder``."""

    def __init__(self, name: str, args: TaskLogBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            force_destroy=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        if args.kms_key_arn is not None:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn
            )
        else:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(sse_algorithm="AES256")
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default, bucket_key_enabled=args.kms_key_arn is not None
                )
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=pulumi.Output.json_dumps(deny_insecure_transport_policy(partition=args.partition, bucket=args.bucket_name)),
            # S3 refuses a bucket policy while the public access block is being written
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-retention",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-task-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{LOG_PREFIX}/"),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.retention_days),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-access",
            name="airflow-task-logs",
            role=args.role_name,
            policy=pulumi.Output.json_dumps(
                log_access_policy(partition=args.partition, region=args.region, bucket=args.bucket_name, kms_key_arn=args.kms_key_arn)
            ),
            opts=child,
        )

        self.bucket_name = bucket.bucket
        self.bucket_arn = pulumi.Output.from_input(bucket_arn(args.partition, args.bucket_name))
        self.remote_base_log_folder = f"s3://{args.bucket_name}/{LOG_PREFIX}"
        self.register_outputs(
            {"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn, "remote_base_log_folder": self.remote_base_log_folder}
        )
