"""ElastiCache for Valkey as the Celery broker: private, TLS only, a generated auth token.

Creates: the auth token (``random.RandomPassword``, 64 letters and digits: within ElastiCache's AUTH rules of
16-128 printable characters without ``"``, ``/``, ``@`` or space), a cache subnet group on the private subnets,
a security group that admits only the cluster's security group on 6379, and the replication group (engine
version pinned, in-transit encryption ``required``, at-rest encryption with the stack's KMS key when given,
a replica in another AZ with Multi-AZ and automatic failover when ``high_availability``, daily snapshots).
The token is set write-only (``auth_token_wo``): it is not read back into the group's state; it lives in the
random resource and in the broker-URL Secret (both Pulumi secrets). Bumping ``auth_token_generation`` makes a
new token, which ElastiCache adds with ``ROTATE`` (the previous one keeps working until the next change).

Example::

    ElastiCacheRedis("broker", ElastiCacheRedisArgs(
        replication_group_id="payments-prod-airflow", vpc_id="vpc-0abc...", subnet_ids=["subnet-1", "subnet-2"],
        client_security_group_id="sg-0123...", protect=True))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components import passwords
from components.aws.cluster_access import cluster_only_security_group

PORT = 6379
ENGINE = "valkey"
ENGINE_VERSIONS = ("7.2", "8.0", "8.1")
TRUST = "Amazon Trust Services (Amazon Root CA 1), in the image's system trust store"


@dataclass(frozen=True, kw_only=True)
class ElastiCacheRedisArgs:
    replication_group_id: str
    """Replication group id (1-40 lowercase letters, digits, '-'); also names the subnet and security groups."""
    vpc_id: str
    """VPC the security group is created in."""
    subnet_ids: Sequence[str]
    """Private subnets of the cache subnet group (at least two AZs for Multi-AZ)."""
    client_security_group_id: str
    """The only security group allowed to connect (the EKS cluster's)."""
    engine_version: str = "8.0"
    """Valkey engine version, pinned (one of ``ENGINE_VERSIONS``)."""
    node_type: str = "cache.t4g.small"
    """ElastiCache node type."""
    high_availability: bool = True
    """A replica in another AZ, Multi-AZ with automatic failover. False: one node."""
    snapshot_retention_days: int = 7
    """Days daily snapshots are kept (0: none)."""
    kms_key_arn: str | None = None
    """Customer-managed key for at-rest encryption. Default: the AWS-managed key."""
    auth_token_generation: int = 1
    """Generation of the generated auth token; bumping it rotates the token."""
    protect: bool = True
    """Pulumi ``protect`` on the replication group."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource. Default: none."""

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][a-z0-9-]{0,39}$", self.replication_group_id) or "--" in self.replication_group_id:
            raise ValueError(f"replication_group_id must be 1-40 lowercase letters, digits and '-', got {self.replication_group_id!r}")
        if self.engine_version not in ENGINE_VERSIONS:
            raise ValueError(f"engine_version must be one of {ENGINE_VERSIONS}, got {self.engine_version!r}")
        if self.high_availability and len(set(self.subnet_ids)) < 2:
            raise ValueError("high_availability needs subnets in at least two AZs")
        if not 0 <= self.snapshot_retention_days <= 35:
            raise ValueError(f"snapshot_retention_days must be 0-35, got {self.snapshot_retention_days}")
        if self.auth_token_generation < 1:
            raise ValueError(f"auth_token_generation must be at least 1, got {self.auth_token_generation}")


class ElastiCacheRedis(pulumi.ComponentResource):
    """Private, TLS-only ElastiCache for Valkey replication group with a generated auth token."""

    TYPE = "dataplat:broker:ElastiCacheRedis"

    host: pulumi.Output[str]
    """Primary endpoint (the name in the server certificate)."""
    port: pulumi.Output[int]
    """TLS port (6379)."""
    auth_token: pulumi.Output[str]
    """AUTH token (secret)."""
    arn: pulumi.Output[str]
    """ARN of the replication group."""
    security_group_id: pulumi.Output[str]
    """Security group of the cache (admits only ``client_security_group_id`` on 6379)."""

    def __init__(self, name: str, args: ElastiCacheRedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        token = random.RandomPassword(
            f"{name}-auth-token",
            length=64,
            special=False,
            keepers=passwords.generation_keepers(args.auth_token_generation),
            opts=child,
        )
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            name=args.replication_group_id,
            subnet_ids=list(args.subnet_ids),
            description=f"Private subnets of {args.replication_group_id}",
            tags=dict(args.tags),
            opts=child,
        )
        group = cluster_only_security_group(
            name,
            group_name=f"{args.replication_group_id}-redis",
            port=PORT,
            vpc_id=args.vpc_id,
            client_security_group_id=args.client_security_group_id,
            description=f"Redis {args.replication_group_id}: only the cluster may connect",
            rule_description="Redis (TLS) from the EKS cluster",
            tags=dict(args.tags),
            opts=child,
        )
        ha = args.high_availability
        cache = aws.elasticache.ReplicationGroup(
            f"{name}-group",
            replication_group_id=args.replication_group_id,
            description=f"Celery broker of {args.replication_group_id}",
            engine=ENGINE,
            engine_version=args.engine_version,
            node_type=args.node_type,
            port=PORT,
            num_cache_clusters=2 if ha else 1,
            automatic_failover_enabled=ha,
            multi_az_enabled=ha,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key_arn,
            auth_token_wo=pulumi.Output.secret(token.result),
            auth_token_wo_version=args.auth_token_generation,
            auth_token_update_strategy="ROTATE",
            snapshot_retention_limit=args.snapshot_retention_days,
            snapshot_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.host = cache.primary_endpoint_address
        self.port = pulumi.Output.from_input(PORT)
        self.auth_token = pulumi.Output.secret(token.result)
        self.arn = cache.arn
        self.security_group_id = group.id
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "auth_token": self.auth_token,
                "arn": self.arn,
                "security_group_id": self.security_group_id,
            }
        )
