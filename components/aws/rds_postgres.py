"""RDS for PostgreSQL as Airflow's metadata database.

Creates: a DB subnet group on
the private subnets, a security group that admits only the cluster's security
group on 5432, a parameter group forcing TLS, an Enhanced Monitoring role (``monitoring.rds.amazonaws.com``
with AWS's ``AmazonRDSEnhancedMonitoringRole``), a ``random.RandomId`` that makes
the final-snapshot name unique per instance, and the encrypted instance
(Multi-AZ, backups kept after deletion, deletion protection, final snapshot,
Performance Insights, Enhanced Monitoring, CloudWatch log exports by default).
The master password is managed by RDS in Secrets Manager
(``manage_master_user_password``): it never enters Pulumi state; only the
database bootstrap Job reads it, at run time, with its own IAM role.

Example::

    db = RdsPostgres("metadata-db", RdsPostgresArgs(
        identifier="payments-prod-airflow", vpc_id="vpc-0abc...", subnet_ids=["subnet-1", "subnet-2"],
        client_security_group_id="sg-0123...", protect=True))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws.cluster_access import cluster_only_security_group

MONITORING_POLICY = "iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
"""AWS-managed policy of the Enhanced Monitoring role (after ``arn:<partition>:``)."""
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)


@dataclass(frozen=True, kw_only=True)
class RdsPostgresArgs:
    identifier: str
    """DB instance identifier (also names the subnet, parameter and security groups)."""
    vpc_id: str
    """VPC the database security group is created in."""
    subnet_ids: Sequence[str]
    """Private subnets in at least two AZs."""
    client_security_group_id: str
    """The only security group allowed to connect (the EKS cluster's)."""
    engine_version: str = "16"
    """Major PostgreSQL version. Default: 16."""
    instance_class: str = "db.m7g.large"
    """RDS instance class. Default: ``db.m7g.large``."""
    allocated_storage_gb: int = 128
    """Initial gp3 storage, in GB; autoscaling grows it up to ``max_allocated_storage_gb``."""
    max_allocated_storage_gb: int = 500
    """Storage autoscaling ceiling."""
    backup_retention_days: int = 14
    """Days automated backups are kept (backup window 02:00-03:00 UTC)."""
    multi_az: bool = True
    """Standby in a second AZ with automatic failover."""
    deletion_protection: bool = True
    """RDS deletion protection: the instance cannot be deleted while it is on."""
    final_snapshot: bool = True
    """Take the snapshot ``<identifier>-final-<8 hex>`` on deletion (the suffix is made once per instance). False: skip it."""
    delete_automated_backups: bool = False
    """Delete automated backups with the instance. Default: keep them for their retention period."""
    monitoring_interval_seconds: int = 60
    """Enhanced Monitoring interval (0, 1, 5, 10, 15, 30 or 60); 0: off and no monitoring role."""
    partition: str = "aws"
    """AWS partition of the managed Enhanced Monitoring policy ARN."""
    performance_insights: bool = True
    """Performance Insights with 7 days' retention, encrypted with ``kms_key_arn`` when given."""
    kms_key_arn: str | None = None
    """Customer-managed key for storage and Performance Insights. Default: the AWS-managed key."""
    database_name: str = "airflow"
    """Database created on the instance for Airflow."""
    admin_username: str = "airflow_admin"
    """Master user name; RDS generates its password and keeps it in Secrets Manager."""
    protect: bool = True
    """Pulumi ``protect`` on the instance."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the instance and its subnet, parameter and security groups. Default: none."""

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][a-z0-9-]{0,62}$", self.identifier) or "--" in self.identifier or self.identifier.endswith("-"):
            raise ValueError(f"identifier must be 1-63 lowercase letters, digits and single '-', got {self.identifier!r}")
        if len(set(self.subnet_ids)) < 2:
            raise ValueError(f"subnet_ids needs at least two subnets, got {list(self.subnet_ids)}")
        if self.engine_version not in ("14", "15", "16", "17"):
            raise ValueError(f"engine_version must be one of 14, 15, 16, 17, got {self.engine_version!r}")
        if self.monitoring_interval_seconds not in MONITORING_INTERVALS:
            raise ValueError(f"monitoring_interval_seconds must be one of {MONITORING_INTERVALS}, got {self.monitoring_interval_seconds}")
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ValueError("max_allocated_storage_gb must be >= allocated_storage_gb")


class RdsPostgres(pulumi.ComponentResource):
    """Encrypted, private, TLS-only RDS PostgreSQL instance."""

    TYPE = "dataplat:db:RdsPostgres"

    host: pulumi.Output[str]
    """Endpoint address clients connect to."""
    port: pulumi.Output[int]
    """Port clients connect to (5432)."""
    database_name: pulumi.Output[str]
    """Name of the Airflow database."""
    admin_username: pulumi.Output[str]
    """Master user name."""
    admin_secret_arn: pulumi.Output[str]
    """ARN of the RDS-managed Secrets Manager secret holding the master credential (``username``, ``password``)."""
    arn: pulumi.Output[str]
    """ARN of the DB instance."""
    security_group_id: pulumi.Output[str]
    """Security group of the instance (admits only ``client_security_group_id`` on 5432)."""

    def __init__(self, name: str, args: RdsPostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=args.identifier,
            subnet_ids=list(args.subnet_ids),
            description=f"Private subnets of {args.identifier}",
            tags=dict(args.tags),
            opts=child,
        )
        group = cluster_only_security_group(
            name,
            group_name=f"{args.identifier}-db",
            port=5432,
            vpc_id=args.vpc_id,
            client_security_group_id=args.client_security_group_id,
            description=f"PostgreSQL {args.identifier}: only the cluster may connect",
            rule_description="PostgreSQL from the EKS cluster",
            tags=dict(args.tags),
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-params",
            name=f"{args.identifier}-pg{args.engine_version}",
            family=f"postgres{args.engine_version}",
            description=f"TLS-only parameters of {args.identifier}",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1", apply_method="immediate"),
                aws.rds.ParameterGroupParameterArgs(name="password_encryption", value="scram-sha-256", apply_method="immediate"),
            ],
            tags=dict(args.tags),
            opts=child,
        )
        monitoring_role_arn = None
        if args.monitoring_interval_seconds:
            monitoring = aws.iam.Role(
                f"{name}-monitoring",
                name=f"{args.identifier}-rds-monitoring"[:64],
                description=f"RDS Enhanced Monitoring of {args.identifier}",
                assume_role_policy=pulumi.Output.json_dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                ),
                tags=dict(args.tags),
                opts=child,
            )
            attachment = aws.iam.RolePolicyAttachment(
                f"{name}-monitoring-policy",
                role=monitoring.name,
                policy_arn=f"arn:{args.partition}:{MONITORING_POLICY}",
                opts=child,
            )
            monitoring_role_arn = pulumi.Output.all(monitoring.arn, attachment.id).apply(lambda r: r[0])
        final_snapshot_identifier = None
        if args.final_snapshot:
            # Not a resource name but the name of the snapshot taken when the instance is deleted: it must differ
            # between two lives of one identifier, or the second deletion fails on an existing snapshot. The suffix is
            # made once per instance identifier (keepers) and stays stable for the instance's whole life.
            suffix = random.RandomId(f"{name}-final-snapshot", byte_length=4, keepers={"identifier": args.identifier}, opts=child)
            final_snapshot_identifier = pulumi.Output.concat(args.identifier, "-final-", suffix.hex)
        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=args.identifier,
            engine="postgres",
            engine_version=args.engine_version,
            instance_class=args.instance_class,
            allocated_storage=args.allocated_storage_gb,
            max_allocated_storage=args.max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_name=args.database_name,
            username=args.admin_username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.kms_key_arn,
            port=5432,
            multi_az=args.multi_az,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            backup_retention_period=args.backup_retention_days,
            backup_window="02:00-03:00",
            maintenance_window="sun:03:30-sun:04:30",
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=not args.final_snapshot,
            final_snapshot_identifier=final_snapshot_identifier,
            delete_automated_backups=args.delete_automated_backups,
            monitoring_interval=args.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role_arn,
            copy_tags_to_snapshot=True,
            performance_insights_enabled=args.performance_insights,
            performance_insights_kms_key_id=args.kms_key_arn if args.performance_insights else None,
            performance_insights_retention_period=7 if args.performance_insights else None,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            apply_immediately=False,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )

        self.host = instance.address
        self.port = instance.port
        self.database_name = pulumi.Output.from_input(args.database_name)
        self.admin_username = pulumi.Output.from_input(args.admin_username)
        self.admin_secret_arn = instance.master_user_secrets.apply(lambda secrets: secrets[0].secret_arn)
        self.arn = instance.arn
        self.security_group_id = group.id
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database_name": self.database_name,
                "admin_username": self.admin_username,
                "admin_secret_arn": self.admin_secret_arn,
                "arn": self.arn,
                "security_group_id": self.security_group_id,
            }
        )
