"""Egress NetworkPolicy that keeps KubernetesExecutor task pods away from PgBouncer and PostgreSQL.

Creates one ``networking.k8s.io/v1`` NetworkPolicy in Airflow's namespace that
selects the task pods (the chart's pod template labels them ``tier: airflow``,
``component: worker``, ``release: <release>``) and allows their egress on every
port except TCP 5432 (PostgreSQL) and TCP 6543 (the chart's PgBouncer): UDP and
TCP 1-5431, 5433-6542 and 6544-65535 to anywhere. DNS, the Kubernetes API, the
Airflow API server (8080), the secrets backend and everything a DAG calls stay
reachable.

Limits. NetworkPolicy has no deny rule: this is an allow-list, enforced only by
a network plugin that implements NetworkPolicy with ``endPort`` (Calico,
Cilium, Azure NPM/Cilium on AKS, the VPC CNI network policy agent on EKS). It
blocks the two ports toward every destination, so a DAG that needs another
PostgreSQL on 5432 needs an extra NetworkPolicy of its own that allows that CIDR
(policies add up). A task could still reach a database listening on another
port; the task has no credential for ours anyway (no URI, no password: see
``values.build_values``).

Example::

    TaskEgressPolicy("task-egress", TaskEgressPolicyArgs(namespace="airflow", release_name="airflow"))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import database_urls

POSTGRES_PORT = 5432
BLOCKED_TCP_PORTS = (POSTGRES_PORT, database_urls.PGBOUNCER_PORT)
"""TCP ports task pods may not reach: PostgreSQL and the chart's PgBouncer."""


def allowed_port_ranges(blocked: tuple[int, ...] = BLOCKED_TCP_PORTS) -> list[tuple[int, int]]:
    """Inclusive TCP port ranges covering 1-65535 without ``blocked``."""
    ranges, start = [], 1
    for port in sorted(set(blocked)):
        if port > start:
            ranges.append((start, port - 1))
        start = port + 1
    if start <= 65535:
        ranges.append((start, 65535))
    return ranges


def task_pod_selector(release_name: str) -> dict[str, str]:
    """Labels the chart 1.20.0 pod template (``files/pod-template-file.kubernetes-helm-yaml``) puts on task pods."""
    return {"tier": "airflow", "component": "worker", "release": release_name}


def egress_rules() -> list[dict[str, Any]]:
    """Every destination, UDP on all ports and TCP on all but :data:`BLOCKED_TCP_PORTS`."""
    ports: list[dict[str, Any]] = [{"protocol": "UDP"}]
    for first, last in allowed_port_ranges():
        port: dict[str, Any] = {"protocol": "TCP", "port": first}
        if last > first:
            port["endPort"] = last
        ports.append(port)
    return [{"ports": ports}]


@dataclass(frozen=True, kw_only=True)
class TaskEgressPolicyArgs:
    namespace: pulumi.Input[str]
    """Airflow's namespace (where the task pods run)."""
    release_name: str
    """Helm release name; the policy selects that release's task pods."""
    executor: str = "KubernetesExecutor"
    """Only ``KubernetesExecutor``: Celery workers still reach the database (result backend)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on the policy. Default: none."""

    def __post_init__(self) -> None:
        if self.executor != "KubernetesExecutor":
            raise ValueError(f"executor must be KubernetesExecutor (task pods), got {self.executor!r}")


class TaskEgressPolicy(pulumi.ComponentResource):
    """NetworkPolicy: task pods reach everything but TCP 5432 and 6543."""

    TYPE = "dataplat:airflow:TaskEgressPolicy"

    policy_name: pulumi.Output[str]
    """Name of the NetworkPolicy."""

    def __init__(self, name: str, args: TaskEgressPolicyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-policy",
            metadata={
                "name": f"{args.release_name}-task-egress",
                "namespace": args.namespace,
                "labels": {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "airflow", **args.labels},
            },
            spec={
                "podSelector": {"matchLabels": task_pod_selector(args.release_name)},
                "policyTypes": ["Egress"],
                "egress": egress_rules(),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.policy_name = policy.metadata.apply(lambda m: m.name)
        self.register_outputs({"policy_name": self.policy_name})
