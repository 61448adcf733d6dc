"""Settings of what Airflow runs with: the metadata database, DAG bundles, connections and remote clusters."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.settings.fields import AKS_ID, DNS_LABEL, HTTPS_URL, ConnId, StrictModel
from components.settings.known_hosts import parse_entry


class DatabaseSettings(StrictModel):
    """External metadata database. Defaults are production grade in every environment."""

    engine_version: Literal["14", "15", "16", "17"] = "16"
    """Major PostgreSQL version of the RDS instance or Flexible Server."""
    instance_class: str | None = None
    """AWS: ``db.*`` class (default ``db.m7g.large``). Azure: SKU name (default ``Standard_D2ds_v5``)."""
    storage_gb: int = Field(default=128, ge=20, le=16384)
    """Azure accepts 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192 or 16384."""
    max_storage_gb: int = Field(default=500, ge=20, le=65536)
    """AWS storage autoscaling ceiling (at least ``storageGb``; ignored on Azure, where storage auto-grows)."""
    backup_retention_days: int = Field(default=14, ge=1, le=35)
    """Days automated backups are kept (Azure: 7-35; prod: at least 7)."""
    high_availability: bool = True
    """AWS Multi-AZ / Azure zone-redundant HA (where the region has zones)."""
    deletion_protection: bool = True
    """AWS: RDS deletion protection, so the instance cannot be deleted (required in prod)."""
    final_snapshot: bool = True
    """AWS: take a final snapshot on deletion, named ``<identifier>-final-<8 hex>``: the suffix is made once per instance, so a re-created instance never reuses a name."""
    enhanced_monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = 60
    """AWS: RDS Enhanced Monitoring interval through a created monitoring role; 0 turns it off (refused in prod)."""
    delete_automated_backups: bool = False
    """AWS: delete the automated backups together with the instance (refused in prod). Default: keep them."""
    performance_insights: bool = True
    """AWS: Performance Insights with 7 days' retention, encrypted with ``aws.kmsKeyArn`` when set."""
    geo_redundant_backup: bool = True
    """Azure: geo-redundant backups, where the region offers them."""
    database_name: str = Field(default="airflow", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    """Name of the Airflow metadata database created on the server."""
    admin_username: str = Field(default="airflow_admin", pattern=r"^[a-z][a-z0-9_]{2,62}$")
    """Server administrator (RDS master user / Flexible Server admin); only the bootstrap Job uses it. Names
    reserved by RDS or Azure are refused."""
    app_username: str = Field(default="airflow_app", pattern=r"^[a-z][a-z0-9_]{2,62}$")
    """Least-privilege role Airflow and PgBouncer connect as: owns the Airflow database and nothing else;
    created by the bootstrap Job, its password is generated (``databasePasswordGeneration`` rotates it)."""
    ca_bundle: str | None = None
    """PEM of the CA(s) that sign the server certificate; PgBouncer and the bootstrap Job then verify it
    (``verify-full``). Azure default: the shipped DigiCert Global Root G2 and Microsoft RSA Root CA 2017.
    AWS: required for ``verify-full`` (RDS ``global-bundle.pem``); without it TLS is encrypted but unverified."""
    bootstrap_image: str = Field(
        default="postgres:17.6-alpine", pattern=r"^[a-z0-9][a-z0-9._/:@-]*:[A-Za-z0-9_.-]+(@sha256:[0-9a-f]{64})?$"
    )
    """Image of the bootstrap Job that creates the app role (needs ``psql`` 15 or newer), pinned by tag."""
    bootstrap_aws_cli_image: str = Field(
        default="public.ecr.aws/aws-cli/aws-cli:2.27.50", pattern=r"^[a-z0-9][a-z0-9._/:@-]*:[A-Za-z0-9_.-]+(@sha256:[0-9a-f]{64})?$"
    )
    """AWS: image of the bootstrap Job's init container that reads the RDS-managed master secret, pinned by tag."""
    bootstrap_azure_cli_image: str = Field(
        default="mcr.microsoft.com/azure-cli:2.77.0", pattern=r"^[a-z0-9][a-z0-9._/:@-]*:[A-Za-z0-9_.-]+(@sha256:[0-9a-f]{64})?$"
    )
    """Azure: image of the bootstrap Job's init container that reads the administrator password from the admin Key
    Vault with the Job's own workload identity, pinned by tag."""
    pgbouncer_pool_size: int | None = Field(default=None, ge=1, le=500)
    """Override of the budget's metadata pool per PgBouncer replica (still checked against the budget). Default: computed."""
    pgbouncer_max_client_conn: int | None = Field(default=None, ge=10, le=10000)
    """Override of the budget's ``max_client_conn`` per PgBouncer replica (at least the load's clients). Default: computed."""

    @field_validator("ca_bundle")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None and "-----BEGIN CERTIFICATE-----" not in value:
            raise ValueError("must be PEM text with at least one -----BEGIN CERTIFICATE----- block")
        return value

    @model_validator(mode="after")
    def _distinct_roles(self) -> DatabaseSettings:
        if self.app_username == self.admin_username:
            raise ValueError(
                f"appUsername must differ from adminUsername ({self.admin_username!r}): Airflow must not connect as the administrator"
            )
        return self

    @field_validator("admin_username", "app_username")
    @classmethod
    def _reserved(cls, value: str) -> str:
        reserved = {"admin", "administrator", "root", "guest", "public", "rdsadmin", "azure_superuser", "azure_pg_admin", "postgres"}
        if value in reserved:
            raise ValueError(f"{value!r} is reserved by RDS or Azure; pick another name")
        return value


class DagBundle(StrictModel):
    """One entry of Airflow's ``dag_bundle_config_list``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    """Unique bundle name (``example_dags`` is reserved); also the PVC sub-path of a local bundle."""
    kind: Literal["git", "local"]
    """``git``: GitDagBundle cloned from ``repoUrl``/``gitConnId``. ``local``: LocalDagBundle reading ``path``."""
    repo_url: str | None = Field(default=None, pattern=r"^(https://\S+|ssh://\S+|git@[^\s:]+:\S+)$")
    """Git: repository URL (``https://...``; SSH: ``git@host:org/repo.git`` or ``ssh://git@host[:port]/org/repo.git``).
    Needed for public repos; overrides the connection host otherwise."""
    git_conn_id: str | None = None
    """Git: the declared ``git`` connection holding the token, or for SSH the private key (``extra.private_key``).
    Omit for public repositories."""
    known_hosts: tuple[str, ...] = ()
    """Git over SSH: the server's host keys, one OpenSSH ``known_hosts`` line each (``ssh-keyscan <host>`` output,
    checked against the provider's published fingerprints). Required for SSH URLs and must cover their host; every pod
    that reads bundles gets them at ``/etc/ssh/ssh_known_hosts`` and verifies the server (``StrictHostKeyChecking=yes``)."""
    tracking_ref: str = "main"
    """Git: branch, tag or commit the bundle follows. Default: ``main``."""
    subdir: str | None = None
    """Git: folder of the repository that holds the DAGs. Default: the repository root."""
    refresh_interval_seconds: int = Field(default=300, ge=30, le=86400)
    """Git: seconds between refreshes of the tracking ref (30-86400)."""
    path: str | None = Field(default=None, pattern=r"^/\S*$")
    """Local: absolute folder of the DAG files (baked into the image or a mounted volume)."""

    @field_validator("name", "repo_url", "git_conn_id", "tracking_ref", "subdir", "path")
    @classmethod
    def _no_template(cls, value: str | None) -> str | None:
        # every bundle string lands in airflow.cfg, which the chart renders through Helm's tpl
        if value is not None and "{{" in value:
            raise ValueError("'{{' is not allowed: airflow.cfg values go through Helm's tpl")
        return value

    @field_validator("known_hosts")
    @classmethod
    def _known_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, line in enumerate(value):
            try:
                parse_entry(line)
            except ValueError as error:
                raise ValueError(f"knownHosts[{i}] is not an OpenSSH known_hosts entry: {error}") from None
        return value


class ConnectionSpec(StrictModel):
    """An Airflow connection written to the secrets backend."""

    conn_id: ConnId
    """Airflow connection id; also names the backend secret (Key Vault turns ``_`` into ``-``)."""
    conn_type: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,49}$")
    """Airflow connection type (e.g. ``git``, ``postgres``); ``kubernetes`` ones come from ``remoteClusters``."""
    host: str | None = None
    """Connection host; for ``git`` the repository URL (``https://...`` or ``git@...``). Default: omitted."""
    login: str | None = None
    """Connection login. Default: omitted."""
    schema_: str | None = Field(default=None, alias="schema")
    """Connection ``schema`` (config key ``schema``), e.g. the database name. Default: omitted."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Connection port (1-65535). Default: omitted."""
    extra: dict[str, str | int | float | bool] = Field(default={})
    """Non-secret ``extra`` fields (secret ones go in ``secretFields``); snowflake needs ``account``."""
    used_by_timetable: bool = False
    """A custom timetable reads it, so the scheduler must be able to read the backend."""
    secret_source: Literal["none", "config", "external"] = "none"
    """``config``: secret fields come from stack config secrets. ``external``: the team fills
    them in the backend out-of-band (placeholders are written once, later changes ignored)."""
    secret_fields: dict[str, str] | tuple[str, ...] = ()
    """Secret fields (``password`` or ``extra.<key>``). ``config``: map field -> config key; ``external``: list."""

    @property
    def secret_field_names(self) -> tuple[str, ...]:
        fields = self.secret_fields
        return tuple(fields) if isinstance(fields, dict) else fields


class RemoteCluster(StrictModel):
    """A remote AKS cluster in which tasks launch pods (Azure only)."""

    name: str = Field(pattern=DNS_LABEL, max_length=40)
    """Short DNS-label name; names the cluster's managed identity and its kubeconfig entries."""
    conn_id: ConnId
    """Id of the generated ``kubernetes`` connection that KubernetesPodOperator uses for this cluster."""
    resource_id: str = Field(pattern=AKS_ID)
    """ARM id of the AKS cluster; the identity's role is scoped to ``<resourceId>/namespaces/<namespace>``."""
    api_server_url: str = Field(pattern=HTTPS_URL)
    """API server URL written to the connection's kubeconfig (no trailing slash)."""
    certificate_authority_data: str
    """Base64 PEM of the cluster CA (``az aks get-credentials`` puts it in the kubeconfig)."""
    namespace: str = Field(pattern=DNS_LABEL, max_length=63)
    """Namespace the pods run in: the only one the identity gets ``role`` on, and the connection's default."""
    role: Literal["pod-operator", "reader", "writer", "admin"] = "pod-operator"
    """Role granted on that namespace only. ``pod-operator``: a custom role with just what KubernetesPodOperator calls
    (pods read/write/delete, their logs, events; nothing on Secrets). Others: the built-in Azure Kubernetes Service RBAC
    roles (``writer`` can read Secrets; ``admin`` is refused in prod)."""

    @field_validator("certificate_authority_data")
    @classmethod
    def _ca(cls, value: str) -> str:
        try:
            pem = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("must be base64 (certificate-authority-data of the kubeconfig)") from error
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            raise ValueError("must be a base64-encoded PEM certificate")
        return value
