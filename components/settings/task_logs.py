"""Settings of remote task logs (``taskLogs``): a bucket or Blob container per stack that Airflow writes task logs to.

Default: off (task logs stay in the pods and vanish with them). On, the cloud side creates the store (an S3 bucket on
AWS, a storage account and container on Azure), grants the stack's workload identity read/write on it only, and the
Airflow side turns on ``[logging] remote_logging`` with that store.
"""

from __future__ import annotations

from pydantic import Field

from components.settings.fields import StrictModel

MAX_RETENTION_DAYS = 3650


class TaskLogsSettings(StrictModel):
    """Remote task logs: where Airflow keeps task logs once their pod is gone."""

    enabled: bool = False
    """Create the per-stack store and wire ``[logging] remote_logging``. Default: off (logs live in the pods only)."""
    retention_days: int = Field(default=30, ge=1, le=MAX_RETENTION_DAYS)
    """Days a task log is kept; older logs are deleted by the store's lifecycle rule (1-3650). Default: 30."""
