"""The small interface between cloud-specific components and the Airflow ones.

A cloud implementation (``components/<cloud>/platform.py``) hands the
cloud-agnostic components a :class:`CloudPlatform`: a metadata database, a
secrets backend and a workload identity. The Airflow release and Kubernetes
Secrets components only ever see these types, so a new cloud slots in without
touching them. This module sits below both sides: it imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pulumi

from components.settings.model import Settings


class MetadataDatabase(Protocol):
    """A PostgreSQL server reachable from the cluster over TLS."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database_name: pulumi.Output[str]
    admin_username: pulumi.Output[str]


@dataclass(frozen=True, kw_only=True)
class DatabaseAdminAccess:
    """How the database bootstrap Job gets the administrator password at run time (no Airflow pod does).

    Either ``password`` (kept in a Secret that only the Job mounts) or an init container
    (``fetch_image``/``fetch_command``) that reads it with the Job's own workload identity and writes it to
    an in-memory file: the cloud's secret document (``fetch_output="secret-json"``, to ``$ADMIN_SECRET_JSON_FILE``)
    or the bare password (``fetch_output="password"``, to ``$ADMIN_PASSWORD_FILE``).
    """

    password: pulumi.Output[str] | None = None
    """The password itself (secret). None: the init container fetches it."""
    fetch_image: str | None = None
    """Image of the init container that fetches the password."""
    fetch_command: Sequence[str] = ()
    """Command of that init container; writes to the file ``fetch_output`` names."""
    fetch_output: Literal["secret-json", "password"] = "secret-json"
    """What the init container writes: a ``{"username", "password"}`` document (``$ADMIN_SECRET_JSON_FILE``,
    the RDS-managed master secret) or the password alone (``$ADMIN_PASSWORD_FILE``)."""
    fetch_env: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    """Environment of that init container (e.g. the secret's ARN and the region); names of things, never a secret."""
    service_account_annotations: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    """Annotations binding the Job's own service account to its identity."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels the identity webhook needs on the Job's pod."""
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations on the Job's pod (e.g. which containers the identity webhook leaves alone)."""

    def __post_init__(self) -> None:
        if (self.password is None) == (self.fetch_image is None):
            raise ValueError("give exactly one of password or fetch_image")
        if self.fetch_image is not None and not self.fetch_command:
            raise ValueError("fetch_image needs fetch_command")
        if self.fetch_output not in ("secret-json", "password"):
            raise ValueError(f"fetch_output must be 'secret-json' or 'password', got {self.fetch_output!r}")


@dataclass(frozen=True, kw_only=True)
class BackendRefs:
    """How Airflow reads the secrets backend (no credentials: identity comes from the pod)."""

    backend_class: str
    backend_kwargs: pulumi.Output[Mapping[str, Any]]
    environment: Mapping[str, str] = field(default_factory=dict)
    """Environment the backend's client needs in agent containers (e.g. ``AWS_REGION``)."""


@dataclass(frozen=True, kw_only=True)
class IdentityRefs:
    """What a pod needs to act as the workload identity."""

    service_account_annotations: pulumi.Output[Mapping[str, str]]
    pod_labels: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class ConnectionSecret:
    """One connection document to store in the backend."""

    conn_id: str
    value: pulumi.Input[str]
    """Serialized document; a Pulumi secret."""
    externally_managed: bool = False
    """The team fills it out-of-band: write once, ignore later changes to the value."""


@dataclass(frozen=True, kw_only=True)
class ExternalBroker:
    """The Celery broker the cloud created: a managed Redis reached over verified TLS (``broker_urls.py``)."""

    host: pulumi.Output[str]
    """Host name in the server certificate (ElastiCache primary endpoint, Azure cache host name)."""
    port: pulumi.Output[int]
    """TLS port (ElastiCache 6379, Azure 6380)."""
    password: pulumi.Output[str]
    """AUTH password (secret): the ElastiCache auth token or the Azure primary access key."""
    trust: str
    """Which CA signs the server certificate; the pods verify it against their image's system trust store."""


@dataclass(frozen=True, kw_only=True)
class CloudPlatform:
    """What a cloud implementation hands to the Airflow components."""

    backend: BackendRefs
    identity: IdentityRefs
    database: MetadataDatabase | None
    """None in remote-execution mode (Astro hosts the metadata database)."""
    database_admin: DatabaseAdminAccess | None = None
    """How the bootstrap Job reaches the administrator password (with ``database``)."""
    database_ca_bundle: str | None = None
    """PEM of the CAs that sign the database's certificate; None: TLS without verification."""
    broker: ExternalBroker | None = None
    """The managed Redis (``broker.mode: managed`` with CeleryExecutor); None: no Celery or the chart's Redis."""
    internal_load_balancer_annotations: Mapping[str, str] = field(default_factory=dict)
    """Service annotations that make the cloud's load balancer internal (``uiAccess.mode: loadBalancer``)."""
    resources: list[pulumi.Resource]
    """Components the Airflow pods depend on (backend entries, identity)."""
    outputs: dict[str, Any] = field(default_factory=dict)


def tags(settings: Settings) -> dict[str, str]:
    """Tags/labels put on every cloud resource."""
    return {"team": settings.team, "environment": settings.environment, "stack": settings.stack, "managed-by": "pulumi"}
