"""Airflow side of ``tests/contract/test_aws.py``, run in a fresh interpreter.

    python tests/contract/probes/aws_probe.py <connections|bundles|fernet> <request.json> <report.json>
    python tests/contract/probes/aws_probe.py modes <request.json> <report.json>

``modes`` takes ``{mode: request}`` and runs each mode in its own child forked after
``import airflow`` (``probe_support.run_modes_forked``), reporting ``{mode: report}``.

The caller prepares ``AIRFLOW_HOME`` (an ``airflow.cfg`` rendered the way the
chart renders ``config:``) and the environment the chart would inject; this
script only asks Airflow's own code what it makes of them and writes the
answers to ``report.json``. It never imports the program under test, so the
answers come from Airflow alone. Kept out of the pytest process so that
Airflow's module-level configuration cannot leak between tests.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from probe_support import bundle_names, connection_fields, run_modes_forked, worker_configuration  # sibling module: run as a script


def _error(error: BaseException) -> str:
    return f"{type(error).__module__}.{type(error).__qualname__}: {error}"


def _lookup(backend: Any, conn_id: str) -> dict[str, Any] | None:
    """The connection Airflow builds for ``conn_id``; a failure is reported, not raised."""
    try:
        return connection_fields(backend.get_connection(conn_id))
    except Exception as error:  # report what Airflow would have logged and swallowed
        return {"error": _error(error)}


def _record_http_calls(backend: Any) -> list[dict[str, Any]]:
    """Every request the backend's boto3 client sends, with the server's answer."""
    calls: list[dict[str, Any]] = []
    events = backend.client.meta.events

    def before_send(request, **_: Any) -> None:
        calls.append({"url": request.url, "target": request.headers.get("X-Amz-Target", b"").decode()})

    def after_call(http_response, parsed, model, **_: Any) -> None:
        calls[-1].update(
            {
                "operation": model.name,
                "status": http_response.status_code,
                "error": parsed.get("Error", {}).get("Code"),
            }
        )

    events.register("before-send.secrets-manager", before_send)
    events.register("after-call.secrets-manager", after_call)
    return calls


def _describe_backend(backend: Any, conn_ids: list[str], undeclared: str) -> dict[str, Any]:
    try:
        calls = _record_http_calls(backend)
        region = backend.client.meta.region_name
    except Exception as error:  # e.g. a role_arn makes the client call STS first
        return {
            "class": f"{type(backend).__module__}.{type(backend).__qualname__}",
            "client_error": _error(error),
            "client_kwargs": backend.kwargs,
        }
    connections = {conn_id: _lookup(backend, conn_id) for conn_id in conn_ids}
    lookups_before_undeclared = len(calls)
    missing = _lookup(backend, undeclared)
    undeclared_calls = calls[lookups_before_undeclared:]
    before_other = len(calls)
    variable = backend.get_variable("contract_aws_probe_variable")
    config = backend.get_config("contract_aws_probe_config")
    return {
        "class": f"{type(backend).__module__}.{type(backend).__qualname__}",
        "connections_prefix": backend.connections_prefix,
        "variables_prefix": backend.variables_prefix,
        "config_prefix": backend.config_prefix,
        "sep": backend.sep,
        "client_kwargs": backend.kwargs,
        "client_region": region,
        "connections": connections,
        "undeclared": missing,
        "undeclared_calls": undeclared_calls,
        "variable": variable,
        "config": config,
        "variable_and_config_calls": calls[before_other:],
        "calls": calls,
        "paths": {conn_id: backend.build_path(backend.connections_prefix, conn_id, backend.sep) for conn_id in conn_ids},
    }


def probe_connections(request: dict[str, Any]) -> dict[str, Any]:
    from airflow import configuration as core_configuration

    sdk_configuration = worker_configuration()

    conn_ids: list[str] = request["conn_ids"]
    undeclared: str = request["undeclared"]
    core_conf = core_configuration.conf
    report: dict[str, Any] = {
        "backend_setting": core_conf.get("secrets", "backend"),
        "backend_kwargs_parsed": core_conf.getjson("secrets", "backend_kwargs"),
    }
    # Server processes (api-server, scheduler, dag-processor, triggerer): airflow.models.Connection.
    server_chain = core_configuration.initialize_secrets_backends()
    report["server_chain"] = [f"{type(b).__module__}.{type(b).__qualname__}" for b in server_chain]
    report["server"] = _describe_backend(server_chain[0], conn_ids, undeclared)
    # Task processes (workers, KubernetesExecutor pods): [workers] secrets_backend, else [secrets] backend,
    # deserialised into the Task SDK Connection. An empty default list selects worker mode.
    worker_chain = sdk_configuration.initialize_secrets_backends(default_backends=[])
    report["worker_chain"] = [f"{type(b).__module__}.{type(b).__qualname__}" for b in worker_chain]
    report["worker"] = _describe_backend(worker_chain[0], conn_ids, undeclared) if worker_chain else None
    return report


def probe_bundles(request: dict[str, Any]) -> dict[str, Any]:
    from airflow.dag_processing.bundles.local import LocalDagBundle
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.providers.git.bundles.git import GitDagBundle

    manager = DagBundlesManager()
    bundles: dict[str, Any] = {}
    for name in bundle_names(manager):
        try:
            bundle = manager.get_bundle(name)  # raises on a bad config, unlike get_all_dag_bundles()
        except Exception as error:  # the dag-processor would log this and skip the bundle
            bundles[name] = {"error": _error(error)}
            continue
        entry: dict[str, Any] = {
            "python_class": f"{type(bundle).__module__}.{type(bundle).__qualname__}",
            "is_git": isinstance(bundle, GitDagBundle),
            "is_local": isinstance(bundle, LocalDagBundle),
            "refresh_interval": bundle.refresh_interval,
        }
        if isinstance(bundle, GitDagBundle):
            hook = bundle.hook
            entry.update(
                {
                    "tracking_ref": bundle.tracking_ref,
                    "subdir": bundle.subdir,
                    "repo_url": bundle.repo_url,
                    "git_conn_id": bundle.git_conn_id,
                    "hook": None
                    if hook is None
                    else {
                        "repo_url": hook.repo_url,
                        "user_name": hook.user_name,
                        "auth_token": hook.auth_token,
                        "strict_host_key_checking": hook.strict_host_key_checking,
                        "known_hosts_file": getattr(hook, "known_hosts_file", None),  # read from git provider 1.0
                        "private_key": hook.private_key,
                    },
                }
            )
        if isinstance(bundle, LocalDagBundle):
            entry["path"] = str(bundle.path)
        bundles[name] = entry
    return {"bundle_names": bundle_names(manager), "bundles": bundles}


def probe_fernet(request: dict[str, Any]) -> dict[str, Any]:
    from airflow.models.connection import Connection
    from airflow.models.crypto import get_fernet

    fernet = get_fernet()
    plaintext = request["plaintext"]
    token = fernet.encrypt(plaintext.encode()).decode()
    conn = Connection(conn_id="contract_aws_fernet", conn_type="generic", password=plaintext, extra='{"k": "v"}')
    return {
        "fernet_class": type(fernet).__qualname__,
        "is_encrypted": fernet.is_encrypted,
        "token": token,
        "round_trip": fernet.decrypt(token.encode()).decode(),
        "connection_password_encrypted": conn.is_encrypted,
        "connection_stored_password": conn._password,
        "connection_password": conn.password,
        "connection_extra_encrypted": conn.is_extra_encrypted,
        "connection_extra": conn.extra,
        # a token written before a key rotation, read with the rotated key list
        "decrypted": fernet.decrypt(request["decrypt"].encode()).decode() if "decrypt" in request else None,
    }


PROBES = {"connections": probe_connections, "bundles": probe_bundles, "fernet": probe_fernet}


def main(argv: list[str]) -> int:
    mode, request_path, report_path = argv
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    if mode == "modes":
        return run_modes_forked(PROBES, request, report_path)
    report = PROBES[mode](request)
    with open(report_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
