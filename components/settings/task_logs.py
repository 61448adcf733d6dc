"""Settings of remote task logs (``taskLogs``): a bucket or Blob container per stack that Airflow writes task logs to.

Default: off (task logs stay in the pods and vanish with them). On, the cloud side creates the store (an S3 bucket on
AWS, a storage account and container on Azure), grants the stack's workload identity read/write on it only, and the
Airflow side turns on ``[logging] remote_logging`` with that store.
"""

from __future__ import annotations

from pydantic import Field

from components import naming
from components.settings.errors import Problem
from components.settings.fields import StrictModel

MAX_RETENTION_DAYS = 3650


class TaskLogsSettings(StrictModel):
    """Remote task logs: where Airflow keeps task logs once their pod is gone."""

    enabled: bool = False
    """Create the per-stack store and wire ``[logging] remote_logging``. Default: off (logs live in the pods only)."""
    retention_days: int = Field(default=30, ge=1, le=MAX_RETENTION_DAYS)
    """Days a task log is kept; older logs are deleted by the store's lifecycle rule (1-3650). Default: 30."""


def check(settings) -> list[Problem]:
    """Cross-field rules of ``taskLogs`` (called from ``validation``): the program owns the remote-logging keys and
    the connection it stores for the handler."""
    problems: list[Problem] = []
    if not settings.task_logs.enabled:
        return problems
    ours = settings.secret_name(naming.TASK_LOGS_CONN_ID)
    for i, conn in enumerate(settings.connections):
        if settings.secret_name(conn.conn_id) == ours:
            problems.append(
                Problem(
                    f"connections[{i}].connId",
                    conn.conn_id,
                    f"taskLogs stores its handler's connection as {ours!r}; choose another connId",
                )
            )
    logging = settings.airflow_config.get("logging", {})
    for key in sorted(logging):
        if key.startswith("remote_"):
            problems.append(Problem(f"airflowConfig.logging.{key}", logging[key], "set by taskLogs; remove it from airflowConfig"))
    for key in sorted(settings.airflow_config.get("azure_remote_logging", {})):
        problems.append(
            Problem(f"airflowConfig.azure_remote_logging.{key}", settings.airflow_config["azure_remote_logging"][key], "set by taskLogs")
        )
    return problems
