"""Airflow side of ``tests/contract/test_task_logs.py``, run in a fresh interpreter.

    python tests/contract/probes/task_logs_probe.py <request.json> <report.json>

The caller writes ``AIRFLOW_HOME/airflow.cfg`` the way the chart renders our ``config:`` (or passes the agent chart's
``commonEnv`` as environment) and the task-log connection as ``AIRFLOW_CONN_<ID>`` holding exactly the document the
program stores in the backend. This script asks Airflow's own code what it makes of them: which remote log IO its
logging configuration builds (``airflow_local_settings.REMOTE_TASK_LOG``), with which base folder, container and
connection id, whether ``S3TaskHandler``/``WasbTaskHandler`` accept that folder, and which client the handler's hook
builds from the connection (credential class and account, no network). With ``write`` (AWS), it uploads a log file
through that IO to the S3 endpoint in the environment (moto) and reports whether the upload succeeded.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def main(request_path: str, report_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    report: dict[str, Any] = {}
    try:
        from airflow.config_templates import airflow_local_settings as settings
        from airflow.configuration import conf

        io = settings.REMOTE_TASK_LOG
        report["remote_logging"] = conf.getboolean("logging", "remote_logging")
        report["remote_log_conn_id"] = conf.get("logging", "remote_log_conn_id")
        report["io_class"] = f"{type(io).__module__}.{type(io).__qualname__}" if io is not None else None
        report["remote_base"] = getattr(io, "remote_base", None)
        report["wasb_container"] = getattr(io, "wasb_container", None)
        base_log_folder = conf.get("logging", "base_log_folder")
        folder = conf.get("logging", "remote_base_log_folder")
        if folder.startswith("s3://"):
            from airflow.providers.amazon.aws.log.s3_task_handler import S3TaskHandler

            handler = S3TaskHandler(base_log_folder=base_log_folder, s3_log_folder=folder)
            report["handler"] = {"class": "S3TaskHandler", "remote_base": handler.io.remote_base}
            hook = io.hook
            report["hook"] = {"conn_id": hook.aws_conn_id, "region": hook.conn_region_name}
            if request.get("write"):
                # what the task runner does after a try: upload the local file under base_log_folder
                relative = request["key"]
                log_file = Path(base_log_folder) / relative
                log_file.parent.mkdir(parents=True, exist_ok=True)
                log_file.write_text("task log line\n")
                io.upload(relative, None)  # ti: positional in older amazon providers, unused by the S3 IO
                report["read_own"] = io.s3_read(f"{folder}/{relative}")
                report["write_other"] = io.write("task log line\n", f"{request['other_folder']}/{relative}")
        elif folder.startswith("wasb"):
            from airflow.providers.microsoft.azure.log.wasb_task_handler import WasbTaskHandler

            handler = WasbTaskHandler(base_log_folder=base_log_folder, wasb_log_folder=io.remote_base, wasb_container=io.wasb_container)
            report["handler"] = {"class": "WasbTaskHandler", "remote_base": handler.io.remote_base, "container": handler.io.wasb_container}
            client = io.hook.get_conn()
            credential = client.credential
            report["hook"] = {
                "conn_id": io.hook.conn_id,
                "account_url": client.url,
                "account_name": client.account_name,
                "credential_class": type(credential).__name__,
                "credential_chain": [type(c).__name__ for c in getattr(credential, "credentials", ())],
                "workload_identity_client_id": next(
                    (
                        getattr(c, "_client_id", None) or getattr(getattr(c, "_client", None), "_client_id", None)
                        for c in getattr(credential, "credentials", ())
                        if type(c).__name__ == "WorkloadIdentityCredential"
                    ),
                    None,
                ),
            }
    except Exception as exc:
        report["failure"] = _error(exc)
    Path(report_path).write_text(json.dumps(report, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:3])
