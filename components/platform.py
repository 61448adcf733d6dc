"""The small interface between cloud-specific components and the Airflow ones.

A cloud implementation (``components/<cloud>/platform.py``) hands the
cloud-agnostic components a :class:`CloudPlatform`: a metadata database, a
secrets backend and a workload identity. The Airflow release and Kubernetes
Secrets components only ever see these types, so a new cloud slots in without
touching them. This module sits below both sides: it imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi

from components.settings.model import Settings


class MetadataDatabase(Protocol):
    """A PostgreSQL server reachable from the cluster over TLS."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database_name: pulumi.Output[str]
    admin_username: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    """Secret."""


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
class CloudPlatform:
    """What a cloud implementation hands to the Airflow components."""

    backend: BackendRefs
    identity: IdentityRefs
    database: MetadataDatabase | None
    """None in remote-execution mode (Astro hosts the metadata database)."""
    resources: list[pulumi.Resource]
    """Components the Airflow pods depend on (backend entries, identity)."""
    outputs: dict[str, Any] = field(default_factory=dict)


def tags(settings: Settings) -> dict[str, str]:
    """Tags/labels put on every cloud resource."""
    return {"team": settings.team, "environment": settings.environment, "stack": settings.stack, "managed-by": "pulumi"}
