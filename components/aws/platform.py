"""AWS implementation of the cloud part: RDS, Secrets Manager entries, IRSA role."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components import naming
from components.aws.backend import SECRETS_MANAGER_BACKEND, secrets_manager_kwargs
from components.aws.database_admin_role import DatabaseAdminRole, DatabaseAdminRoleArgs
from components.aws.elasticache_redis import TRUST as ELASTICACHE_TRUST
from components.aws.elasticache_redis import ElastiCacheRedis, ElastiCacheRedisArgs
from components.aws.irsa_role import IrsaRole, IrsaRoleArgs, OidcTrust, PodIdentity
from components.aws.rds_postgres import RdsPostgres, RdsPostgresArgs
from components.aws.secrets_manager import SecretsManagerConnections, SecretsManagerConnectionsArgs
from components.platform import (
    BackendRefs,
    CloudPlatform,
    ConnectionSecret,
    DatabaseAdminAccess,
    ExternalBroker,
    IdentityRefs,
    tags,
)
from components.settings.broker import DEFAULT_NODE_TYPE
from components.settings.model import Settings
from components.settings.remote_execution import astro_service_accounts

INTERNAL_LOAD_BALANCER = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
}
"""A Service's load balancer in the VPC's private subnets: ``-scheme`` for the AWS Load Balancer Controller,
``-internal`` for the in-tree cloud provider (which reads only that one)."""

FETCH_MASTER_SECRET = (
    "sh",
    "-c",
    'aws secretsmanager get-secret-value --secret-id "$ADMIN_SECRET_ARN" --query SecretString --output text > "$ADMIN_SECRET_JSON_FILE"',
)
"""Init container of the bootstrap Job: the RDS-managed master secret document (``{"username", "password"}``)
into an in-memory file the psql container reads; credentials come from IRSA."""


def reader_subjects(settings: Settings) -> list[str]:
    """Service-account subjects of our cluster that read the backend."""
    return sorted(naming.k8s_subject(settings.namespace, sa) for sa in settings.reader_service_accounts().values())


def astro_subjects(settings: Settings) -> list[str]:
    """Subjects of the Astro-hosted scheduler/api-server (remote execution), per the access mode."""
    re_ = settings.remote_execution
    if re_ is None or re_.scheduler_access.mode == "none":
        return []
    ns = re_.deployment.namespace
    if re_.scheduler_access.mode == "wildcard":
        return [naming.k8s_subject(ns, "*")]
    return sorted(naming.k8s_subject(ns, sa) for sa in astro_service_accounts(re_))


def build(settings: Settings, connections: Sequence[ConnectionSecret]) -> CloudPlatform:
    aws = settings.aws
    assert aws is not None
    common_tags = tags(settings)
    prod = settings.environment == "prod"
    prefix = settings.resolved_connections_prefix

    backend = SecretsManagerConnections(
        "connections",
        SecretsManagerConnectionsArgs(
            connections=connections,
            connections_prefix=prefix,
            kms_key_arn=aws.kms_key_arn,
            recovery_window_days=30 if prod else 7,
            protect=settings.protect_stateful,
            tags=common_tags,
        ),
    )

    pod_identity = None
    trusts: list[OidcTrust] = []
    if aws.identity_mode == "pod-identity":
        assert aws.cluster_name is not None
        accounts = {key: (settings.namespace, sa) for key, sa in settings.reader_service_accounts().items()}
        pod_identity = PodIdentity(cluster_name=aws.cluster_name, service_accounts=accounts)
    else:
        trusts.append(
            OidcTrust(key="eks", issuer_url=aws.oidc_issuer_url, provider_arn=aws.oidc_provider_arn, subjects=reader_subjects(settings))
        )
    astro = astro_subjects(settings)
    if astro:
        assert settings.remote_execution is not None
        deployment = settings.remote_execution.deployment
        trusts.append(
            OidcTrust(key="astro", issuer_url=deployment.oidc_issuer_url, provider_arn=deployment.oidc_provider_arn, subjects=astro)
        )
    identity = IrsaRole(
        "secrets-reader",
        IrsaRoleArgs(
            role_name=f"{settings.prefix}-airflow-secrets-reader",
            partition=aws.partition,
            region=aws.region,
            account_id=aws.account_id,
            trusts=trusts,
            secret_prefixes=[prefix] + ([settings.resolved_variables_prefix] if settings.variables_prefix else []),
            kms_key_arn=aws.kms_key_arn,
            permissions_boundary_arn=aws.permissions_boundary_arn,
            pod_identity=pod_identity,
            tags=common_tags,
        ),
    )

    database = None
    database_admin = None
    admin_resources: list[pulumi.Resource] = []
    outputs: dict[str, object] = {"role_arn": identity.role_arn, "connection_secret_arns": backend.secret_arns}
    if settings.self_hosted:
        db = settings.database
        database = RdsPostgres(
            "metadata-db",
            RdsPostgresArgs(
                identifier=f"{settings.prefix}-airflow",
                vpc_id=aws.vpc_id,
                subnet_ids=aws.private_subnet_ids,
                client_security_group_id=aws.cluster_security_group_id,
                engine_version=db.engine_version,
                instance_class=db.instance_class or "db.m7g.large",
                allocated_storage_gb=db.storage_gb,
                max_allocated_storage_gb=db.max_storage_gb,
                backup_retention_days=db.backup_retention_days,
                multi_az=db.high_availability,
                deletion_protection=db.deletion_protection,
                final_snapshot=db.final_snapshot,
                delete_automated_backups=db.delete_automated_backups,
                monitoring_interval_seconds=db.enhanced_monitoring_interval_seconds,
                partition=aws.partition,
                performance_insights=db.performance_insights,
                kms_key_arn=aws.kms_key_arn,
                database_name=db.database_name,
                admin_username=db.admin_username,
                protect=settings.protect_stateful,
                tags=common_tags,
            ),
        )
        outputs["database_arn"] = database.arn
        admin_role = DatabaseAdminRole(
            "db-admin-reader",
            DatabaseAdminRoleArgs(
                role_name=f"{settings.prefix}-airflow-db-bootstrap",
                region=aws.region,
                issuer_url=aws.oidc_issuer_url,
                provider_arn=aws.oidc_provider_arn,
                subject=naming.k8s_subject(settings.namespace, naming.database_bootstrap_name(settings.release_name)),
                secret_arn=database.admin_secret_arn,
                kms_key_arn=aws.kms_key_arn,
                permissions_boundary_arn=aws.permissions_boundary_arn,
                tags=common_tags,
            ),
        )
        database_admin = DatabaseAdminAccess(
            fetch_image=db.bootstrap_aws_cli_image,
            fetch_command=FETCH_MASTER_SECRET,
            fetch_env=database.admin_secret_arn.apply(lambda arn: {"ADMIN_SECRET_ARN": arn, "AWS_REGION": aws.region}),
            service_account_annotations=admin_role.service_account_annotations,
        )
        admin_resources = [admin_role]

    broker = None
    if settings.managed_broker:
        b = settings.broker
        cache = ElastiCacheRedis(
            "broker",
            ElastiCacheRedisArgs(
                replication_group_id=f"{settings.prefix}-airflow",
                vpc_id=aws.vpc_id,
                subnet_ids=aws.private_subnet_ids,
                client_security_group_id=aws.cluster_security_group_id,
                engine_version=b.engine_version,
                node_type=b.node_type or DEFAULT_NODE_TYPE["aws"],
                high_availability=b.high_availability,
                snapshot_retention_days=b.snapshot_retention_days,
                kms_key_arn=aws.kms_key_arn,
                auth_token_generation=b.auth_token_generation,
                protect=settings.protect_stateful,
                tags=common_tags,
            ),
        )
        broker = ExternalBroker(host=cache.host, port=cache.port, password=cache.auth_token, trust=ELASTICACHE_TRUST)
        outputs["broker_arn"] = cache.arn

    kwargs = secrets_manager_kwargs(
        connections_prefix=prefix,
        variables_prefix=settings.resolved_variables_prefix,
        region=aws.region,
    )
    return CloudPlatform(
        backend=BackendRefs(
            backend_class=SECRETS_MANAGER_BACKEND,
            backend_kwargs=pulumi.Output.from_input(kwargs),
            environment={"AWS_REGION": aws.region},
        ),
        identity=IdentityRefs(service_account_annotations=identity.service_account_annotations, pod_labels=identity.pod_labels),
        database=database,
        database_admin=database_admin,
        database_ca_bundle=settings.database.ca_bundle,
        broker=broker,
        internal_load_balancer_annotations=INTERNAL_LOAD_BALANCER,
        resources=[backend, identity, *admin_resources],
        outputs=outputs,
    )
