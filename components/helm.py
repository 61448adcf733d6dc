"""The Helm release options both charts share: pinned chart, atomic, cleanup on failure, bounded history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True, kw_only=True)
class PinnedChart:
    name: str
    version: str
    repository: str


def pinned_release(
    name: str,
    *,
    chart: PinnedChart,
    release_name: str,
    namespace: pulumi.Input[str],
    values: pulumi.Input[dict],
    timeout_seconds: int,
    max_history: int,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
) -> k8s.helm.v3.Release:
    """A release that either fully succeeds or rolls back (``atomic``), never creating its namespace."""
    return k8s.helm.v3.Release(
        name,
        name=release_name,
        namespace=namespace,
        chart=chart.name,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout_seconds,
        max_history=max_history,
        create_namespace=False,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
