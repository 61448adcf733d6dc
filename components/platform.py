"""The small interface between cloud-specific components and the Airflow ones.

A cloud implementation (AWS or Azure) hands the cloud-agnostic components three
things: a metadata database, a secrets backend and a workload identity. The
Airflow release and Kubernetes Secrets components only ever see these
protocols, so a new cloud slots in without touching them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi


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
