"""Cross-field rules of ``taskLogs`` (called from ``validation``): the program owns the remote-logging keys and the
connection it stores for the task-log handler."""

from __future__ import annotations

from components import naming
from components.settings.errors import Problem
from components.settings.model import Settings


def check(settings: Settings) -> list[Problem]:
    """Problems of ``taskLogs`` with the other settings; empty when off or coherent."""
    problems: list[Problem] = []
    if not settings.task_logs.enabled:
        return problems
    # a Key Vault name that differs only by case or '_'/'-' is reported by the collision rule (all_conn_ids)
    for i, conn in enumerate(settings.connections):
        if conn.conn_id == naming.TASK_LOGS_CONN_ID:
            problems.append(
                Problem(f"connections[{i}].connId", conn.conn_id, "taskLogs generates the task-log handler's connection under this id")
            )
    logging = settings.airflow_config.get("logging", {})
    for key in sorted(logging):
        if key.startswith("remote_") or key == "delete_local_logs":
            problems.append(Problem(f"airflowConfig.logging.{key}", logging[key], "set by taskLogs; remove it from airflowConfig"))
    for key in sorted(settings.airflow_config.get("azure_remote_logging", {})):
        problems.append(
            Problem(f"airflowConfig.azure_remote_logging.{key}", settings.airflow_config["azure_remote_logging"][key], "set by taskLogs")
        )
    return problems
