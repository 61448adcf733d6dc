"""Airflow side of ``tests/contract/test_agent_airflow.py``, run in a fresh interpreter.

    python tests/contract/probes/agent_probe.py <bundles|backend> <request.json> <report.json>

The caller builds the environment an agent container would get from the agent
chart (``AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST`` from
``dagBundleConfigList``, ``AIRFLOW__SECRETS__BACKEND`` from ``secretBackend``,
``commonEnv`` entries) plus ``AIRFLOW_CONN_<ID>`` stand-ins for connections
that really live in the cloud backend. This script only asks Airflow's own code
what it makes of them and writes the answers to ``report.json``. It never
imports the program under test, so the answers come from Airflow alone.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from probe_support import bundle_names, worker_configuration  # sibling module: run as a script


def _digest(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def _qualname(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def bundles(request: dict[str, Any]) -> dict[str, Any]:
    """Parse ``[dag_processor] dag_bundle_config_list`` and build every bundle as a worker would."""
    from airflow.configuration import conf
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    manager = DagBundlesManager()
    names = bundle_names(manager)
    report: dict[str, Any] = {"raw": conf.getjson("dag_processor", "dag_bundle_config_list"), "names": names, "bundles": {}}
    for name in names:
        bundle = manager.get_bundle(name)  # bundle_class(name=..., version=None, **kwargs): raises on bad kwargs
        entry: dict[str, Any] = {
            "class": _qualname(bundle),
            "name": bundle.name,
            "refresh_interval": bundle.refresh_interval,
            "supports_versioning": bundle.supports_versioning,
        }
        if hasattr(bundle, "tracking_ref"):
            hook = bundle.hook
            entry.update(
                {
                    "tracking_ref": bundle.tracking_ref,
                    "subdir": bundle.subdir,
                    "git_conn_id": bundle.git_conn_id,
                    "repo_url": bundle.repo_url,
                    "hook": None
                    if hook is None
                    else {
                        "repo_url": hook.repo_url,
                        "user_name": hook.user_name,
                        "auth_token_sha256": _digest(hook.auth_token),
                        "private_key_sha256": _digest(hook.private_key),
                        "strict_host_key_checking": hook.strict_host_key_checking,
                        "known_hosts_file": getattr(hook, "known_hosts_file", None),  # read from git provider 1.0
                    },
                }
            )
        else:
            entry["path"] = str(bundle.path)
        report["bundles"][name] = entry
    return report


class _AwsClient:
    """Stand-in for the boto3 Secrets Manager client: answers from what the program wrote."""

    def __init__(self, stored: dict[str, str], asked: list[str]) -> None:
        import botocore.exceptions

        self._stored, self._asked = stored, asked

        class _Exceptions:
            ResourceNotFoundException = type("ResourceNotFoundException", (botocore.exceptions.ClientError,), {})
            InvalidParameterException = type("InvalidParameterException", (botocore.exceptions.ClientError,), {})
            InvalidRequestException = type("InvalidRequestException", (botocore.exceptions.ClientError,), {})
            DecryptionFailure = type("DecryptionFailure", (botocore.exceptions.ClientError,), {})
            InternalServiceError = type("InternalServiceError", (botocore.exceptions.ClientError,), {})
            AccessDeniedException = type("AccessDeniedException", (botocore.exceptions.ClientError,), {})

        self.exceptions = _Exceptions

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self._asked.append(SecretId)
        if SecretId not in self._stored:
            raise self.exceptions.ResourceNotFoundException({"Error": {"Code": "ResourceNotFoundException"}}, "GetSecretValue")
        return {"SecretString": self._stored[SecretId]}


class _AzureClient:
    """Stand-in for ``azure.keyvault.secrets.SecretClient``: answers from what the program wrote."""

    def __init__(self, stored: dict[str, str], asked: list[str]) -> None:
        self._stored, self._asked = stored, asked

    def get_secret(self, name: str) -> Any:
        from types import SimpleNamespace

        from azure.core.exceptions import ResourceNotFoundError

        self._asked.append(name)
        if name not in self._stored:
            raise ResourceNotFoundError(f"{name} not found")
        return SimpleNamespace(value=self._stored[name])


def _backend_attributes(backend: Any) -> dict[str, Any]:
    keys = (
        "connections_prefix",
        "variables_prefix",
        "config_prefix",
        "vault_url",
        "managed_identity_client_id",
        "workload_identity_tenant_id",
        "tenant_id",
        "client_id",
        "sep",
    )
    found = {k: getattr(backend, k) for k in keys if hasattr(backend, k) and isinstance(getattr(backend, k), (str, type(None)))}
    kwargs = getattr(backend, "kwargs", None)
    if isinstance(kwargs, dict):
        found["kwargs"] = {k: v for k, v in kwargs.items() if isinstance(v, (str, int, float, bool, type(None)))}
    return found


def backend(request: dict[str, Any]) -> dict[str, Any]:
    """Read the secrets backend the way Airflow does, build it, and look every connection up in it."""
    import airflow.configuration as core_configuration
    from airflow.configuration import conf

    sdk_configuration = worker_configuration()
    sdk_conf = sdk_configuration.conf

    classpath = request["classpath"]
    kwargs_from_conf = conf.getjson("secrets", "backend_kwargs")  # raises AirflowConfigException on bad JSON
    report: dict[str, Any] = {
        "conf_backend": conf.get("secrets", "backend"),
        "conf_kwargs": kwargs_from_conf,
        "sdk_conf_kwargs": sdk_conf.getjson("secrets", "backend_kwargs"),
    }
    # Airflow's own construction paths (server side, and the task SDK in worker mode). They swallow a bad
    # JSON into "no kwargs", so the caller compares the attributes, not just the class.
    core_backend = core_configuration.get_custom_secret_backend()
    worker_backend = sdk_configuration.get_custom_secret_backend(worker_mode=True)
    report["core_backend"] = {"class": _qualname(core_backend), **_backend_attributes(core_backend)}
    report["worker_backend"] = {"class": _qualname(worker_backend), **_backend_attributes(worker_backend)}

    # The plain form: import the class named by secretBackend and call it with the kwargs.
    module, _, name = classpath.rpartition(".")
    direct = getattr(importlib.import_module(module), name)(**json.loads(request["kwargs_json"]))
    report["direct_backend"] = {"class": _qualname(direct), **_backend_attributes(direct)}

    asked: list[str] = []
    stored = request["stored"]
    client = _AwsClient(stored, asked) if request["cloud"] == "aws" else _AzureClient(stored, asked)
    direct.client = client  # cached_property: the instance attribute wins, no cloud call is made
    connections: dict[str, Any] = {}
    for conn_id in request["conn_ids"]:
        conn = direct.get_connection(conn_id)
        connections[conn_id] = (
            None
            if conn is None
            else {
                "class": _qualname(conn),
                "conn_type": conn.conn_type,
                "host": conn.host,
                "login": conn.login,
                "schema": conn.schema,
                "password_sha256": _digest(conn.password),
                "extra_keys": sorted(conn.extra_dejson),
            }
        )
    report["connections"] = connections
    report["asked"] = asked

    # xcomBackend becomes [core] xcom_backend; the task SDK resolves it when it imports its XCom module.
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.sdk.execution_time.xcom import resolve_xcom_backend

    xcom = resolve_xcom_backend()
    report["xcom_backend"] = {"class": f"{xcom.__module__}.{xcom.__qualname__}", "is_base_xcom": issubclass(xcom, BaseXCom)}
    return report


def main(argv: list[str]) -> int:
    mode, request_path, report_path = argv[1], Path(argv[2]), Path(argv[3])
    request = json.loads(request_path.read_text())
    report = {"bundles": bundles, "backend": backend}[mode](request)
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
