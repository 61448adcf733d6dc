"""Remote Execution: the agent release fed by the same backend and identity as self-hosted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.platform import CloudPlatform
from components.remote_execution.release import AgentRelease, AgentReleaseArgs
from components.settings.model import Settings


def build_agent(settings: Settings, cloud: CloudPlatform, secret_inputs: Mapping[str, pulumi.Output[str]]) -> dict[str, Any]:
    """Create the agent release; returns its stack outputs."""
    re_ = settings.remote_execution
    assert re_ is not None
    release = AgentRelease(
        "astro-agent",
        AgentReleaseArgs(
            settings=settings,
            agent_token=secret_inputs["astroAgentToken"],
            registry_token=secret_inputs.get("astroRegistryToken"),
            backend=cloud.backend,
            identity=cloud.identity,
            # remote task logs reach the agent chart only as environment (``commonEnv``)
            extra_env={**cloud.backend.environment, **(cloud.task_logs.environment() if cloud.task_logs else {})},
            depends_on=cloud.resources,
        ),
    )
    return {
        "release_name": release.release_name,
        "chart_version": release.chart_version,
        "astro_deployment_namespace": re_.deployment.namespace,
    }
