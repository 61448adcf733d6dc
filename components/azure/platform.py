"""Azure implementation of the cloud part: Flexible Server, Key Vault entries, workload identities.

Remote AKS clusters (seed 004) each get their own managed identity, federated
with the service account tasks run under, an AKS RBAC role on the declared
namespace only, and a Kubernetes connection in Key Vault whose kubeconfig uses
``kubelogin`` in workload-identity mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pulumi

from components import connections, naming
from components.azure.backend import KEY_VAULT_BACKEND, key_vault_kwargs
from components.azure.cache_redis import TRUST as CACHE_TRUST
from components.azure.cache_redis import CacheRedis, CacheRedisArgs
from components.azure.database_admin_vault import (
    FETCH_ADMIN_PASSWORD,
    FETCH_ENV,
    SKIP_CONTAINERS_ANNOTATION,
    DatabaseAdminVault,
    DatabaseAdminVaultArgs,
)
from components.azure.flexible_postgres import FlexiblePostgres, FlexiblePostgresArgs
from components.azure.key_vault import KeyVaultConnections, KeyVaultConnectionsArgs
from components.azure.workload_identity import (
    AKS_RBAC_ADMIN,
    AKS_RBAC_READER,
    AKS_RBAC_WRITER,
    KEY_VAULT_SECRETS_USER,
    POD_OPERATOR_DATA_ACTIONS,
    CustomRole,
    RoleGrant,
    WorkloadIdentity,
    WorkloadIdentityArgs,
    role_definition_id,
)
from components.platform import (
    BackendRefs,
    CloudPlatform,
    ConnectionSecret,
    DatabaseAdminAccess,
    ExternalBroker,
    IdentityRefs,
    tags,
)
from components.settings.airflow import RemoteCluster
from components.settings.broker import DEFAULT_NODE_TYPE
from components.settings.model import Settings, federated_subjects

INTERNAL_LOAD_BALANCER = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
"""A Service's load balancer on the cluster's VNet (an internal Azure Load Balancer)."""
FLEXIBLE_SERVER_ROOTS = (Path(__file__).parent / "certs" / "flexible-server-roots.pem").read_text()
"""DigiCert Global Root G2 and Microsoft RSA Root CA 2017: the roots of Flexible Server certificates (origin and
SHA-256 in the file)."""
FETCH_ADMIN_PASSWORD_COMMAND = ("sh", "-c", FETCH_ADMIN_PASSWORD, "fetch-admin-password")
"""Init container of the bootstrap Job: the administrator password from the admin Key Vault into an in-memory file
the psql container reads; credentials come from the Job's own workload identity (no Kubernetes Secret holds it)."""

AKS_ROLES = {"reader": AKS_RBAC_READER, "writer": AKS_RBAC_WRITER, "admin": AKS_RBAC_ADMIN}


def task_subjects(settings: Settings) -> dict[str, str]:
    """Service accounts that tasks (and so KubernetesPodOperator) run under, by credential key."""
    if settings.self_hosted:
        sa = naming.task_service_account(settings.release_name, settings.executor)
        return {"tasks": naming.k8s_subject(settings.namespace, sa)}
    accounts = settings.reader_service_accounts()
    return {key: naming.k8s_subject(settings.namespace, sa) for key, sa in accounts.items() if key.startswith("worker-")}


def namespace_grant(settings: Settings, cluster: RemoteCluster) -> RoleGrant:
    """The role of a remote cluster's identity on its namespace: the pod-operator custom role, or a built-in one."""
    scope = f"{cluster.resource_id}/namespaces/{cluster.namespace}"
    if cluster.role != "pod-operator":
        cluster_subscription = cluster.resource_id.split("/")[2]
        return RoleGrant(role_definition_id=role_definition_id(cluster_subscription, AKS_ROLES[cluster.role]), scope=scope)
    cluster_group = "/".join(cluster.resource_id.split("/")[:5])
    custom = CustomRole(
        role_name=f"airflow-pod-operator-{settings.prefix}-{cluster.name}",
        description=f"KubernetesPodOperator of {settings.stack} in namespace {cluster.namespace}: pods, their logs, events; no Secrets",
        assignable_scope=cluster_group,
        data_actions=POD_OPERATOR_DATA_ACTIONS,
    )
    return RoleGrant(custom_role=custom, scope=scope)


def remote_cluster_access(settings: Settings, cluster: RemoteCluster) -> tuple[WorkloadIdentity, ConnectionSecret]:
    """Identity allowed into ``cluster``'s namespace and the Kubernetes connection that uses it."""
    az = settings.azure
    assert az is not None
    identity = WorkloadIdentity(
        f"remote-{cluster.name}",
        WorkloadIdentityArgs(
            identity_name=f"id-{settings.prefix}-{cluster.name}-pods",
            resource_group_name=az.resource_group_name,
            location=az.location,
            stack=settings.stack,
            subjects={key: (az.oidc_issuer_url, subject) for key, subject in task_subjects(settings).items()},
            role_assignments={"aks-namespace": namespace_grant(settings, cluster)},
            tags=tags(settings),
        ),
    )
    document = identity.client_id.apply(
        lambda client_id: connections.serialize(
            connections.kubernetes_connection_document(cluster, tenant_id=az.tenant_id, client_id=client_id)
        )
    )
    return identity, ConnectionSecret(conn_id=cluster.conn_id, value=pulumi.Output.secret(document))


def build(settings: Settings, declared: Sequence[ConnectionSecret]) -> CloudPlatform:
    az = settings.azure
    assert az is not None
    common_tags = tags(settings)
    prefix = settings.resolved_connections_prefix

    remote_identities: dict[str, pulumi.Output[str]] = {}
    all_connections = list(declared)
    for cluster in settings.remote_clusters:
        identity, secret = remote_cluster_access(settings, cluster)
        remote_identities[cluster.name] = identity.client_id
        all_connections.append(secret)

    vault_group = az.key_vault.resource_group_name or az.resource_group_name
    vault = KeyVaultConnections(
        "connections",
        KeyVaultConnectionsArgs(
            vault_name=az.key_vault.name,
            resource_group_name=vault_group,
            location=az.location,
            tenant_id=az.tenant_id,
            subscription_id=az.subscription_id,
            connections=all_connections,
            connections_prefix=prefix,
            create_vault=az.key_vault.create,
            allowed_subnet_ids=[az.aks_subnet_id],
            allowed_ip_ranges=az.key_vault.allowed_ip_ranges,
            soft_delete_retention_days=az.key_vault.soft_delete_retention_days,
            protect=settings.protect_stateful,
            tags=common_tags,
        ),
    )
    reader = WorkloadIdentity(
        "secrets-reader",
        WorkloadIdentityArgs(
            identity_name=f"id-{settings.prefix}-airflow",
            resource_group_name=az.resource_group_name,
            location=az.location,
            stack=settings.stack,
            subjects=federated_subjects(settings),
            role_assignments={
                "kv-secrets-user": RoleGrant(
                    role_definition_id=role_definition_id(az.subscription_id, KEY_VAULT_SECRETS_USER),
                    scope=vault.vault_id,
                )
            },
            tags=common_tags,
        ),
    )
    kwargs = pulumi.Output.all(url=vault.vault_url, client_id=reader.client_id).apply(
        lambda r: key_vault_kwargs(
            connections_prefix=prefix,
            variables_prefix=settings.variables_prefix,
            vault_url=r["url"],
            tenant_id=az.tenant_id,
            client_id=r["client_id"],
        )
    )

    database = None
    database_admin = None
    admin_resources: list[pulumi.Resource] = []
    outputs: dict[str, object] = {
        "key_vault_url": vault.vault_url,
        "managed_identity_client_id": reader.client_id,
        "remote_cluster_identity_client_ids": pulumi.Output.all(**remote_identities) if remote_identities else {},
    }
    if settings.self_hosted:
        db = settings.database
        net = az.database_network
        database = FlexiblePostgres(
            "metadata-db",
            FlexiblePostgresArgs(
                server_name=f"{settings.prefix}-airflow",
                resource_group_name=az.resource_group_name,
                location=az.location,
                network_mode=net.mode,
                delegated_subnet_id=net.delegated_subnet_id,
                private_dns_zone_id=net.private_dns_zone_id,
                allowed_ip_ranges=net.allowed_ip_ranges,
                engine_version=db.engine_version,
                sku_name=db.instance_class or "Standard_D2ds_v5",
                storage_gb=db.storage_gb,
                backup_retention_days=db.backup_retention_days,
                high_availability=db.high_availability,
                geo_redundant_backup=db.geo_redundant_backup,
                database_name=db.database_name,
                admin_username=db.admin_username,
                password_generation=settings.database_password_generation,
                protect=settings.protect_stateful,
                tags=common_tags,
            ),
        )
        outputs["database_server_id"] = database.server_id
        admin_vault = DatabaseAdminVault(
            "db-admin",
            DatabaseAdminVaultArgs(
                vault_name=az.resolved_database_admin_vault_name,
                resource_group_name=az.resource_group_name,
                location=az.location,
                tenant_id=az.tenant_id,
                subscription_id=az.subscription_id,
                stack=settings.stack,
                identity_name=f"id-{settings.prefix}-db-bootstrap",
                issuer_url=az.oidc_issuer_url,
                subject=naming.k8s_subject(settings.namespace, naming.database_bootstrap_name(settings.release_name)),
                admin_password=database.admin_password,
                allowed_subnet_ids=[az.aks_subnet_id],
                soft_delete_retention_days=az.key_vault.soft_delete_retention_days,
                protect=settings.protect_stateful,
                tags=common_tags,
            ),
        )
        outputs["database_admin_vault_url"] = admin_vault.vault_url
        database_admin = DatabaseAdminAccess(
            fetch_image=db.bootstrap_azure_cli_image,
            fetch_command=FETCH_ADMIN_PASSWORD_COMMAND,
            fetch_output="password",
            fetch_env=admin_vault.secret_id.apply(lambda secret_id: {"ADMIN_SECRET_ID": secret_id, **FETCH_ENV}),
            service_account_annotations=admin_vault.service_account_annotations,
            pod_labels=admin_vault.pod_labels,
            pod_annotations={SKIP_CONTAINERS_ANNOTATION: naming.DATABASE_BOOTSTRAP_CONTAINER},
        )
        admin_resources.append(admin_vault)

    broker = None
    if settings.managed_broker:
        assert az.redis_network is not None
        cache = CacheRedis(
            "broker",
            CacheRedisArgs(
                cache_name=f"{settings.prefix}-airflow",
                resource_group_name=az.resource_group_name,
                location=az.location,
                subnet_id=az.redis_network.subnet_id,
                private_dns_zone_id=az.redis_network.private_dns_zone_id,
                sku=settings.broker.node_type or DEFAULT_NODE_TYPE["azure"],
                protect=settings.protect_stateful,
                tags=common_tags,
            ),
        )
        broker = ExternalBroker(host=cache.host, port=cache.port, password=cache.access_key, trust=CACHE_TRUST)
        outputs["broker_cache_id"] = cache.cache_id

    return CloudPlatform(
        backend=BackendRefs(backend_class=KEY_VAULT_BACKEND, backend_kwargs=kwargs),
        identity=IdentityRefs(service_account_annotations=reader.service_account_annotations, pod_labels=reader.pod_labels),
        database=database,
        database_admin=database_admin,
        database_ca_bundle=settings.database.ca_bundle or FLEXIBLE_SERVER_ROOTS,
        broker=broker,
        internal_load_balancer_annotations=INTERNAL_LOAD_BALANCER,
        resources=[vault, reader, *admin_resources],
        outputs=outputs,
    )
