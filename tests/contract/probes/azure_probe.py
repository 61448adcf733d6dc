"""Airflow side of ``tests/contract/test_azure.py``, run in a fresh interpreter.

    python tests/contract/probes/azure_probe.py <request.json> <report.json>

The caller prepares ``AIRFLOW_HOME`` (an ``airflow.cfg`` rendered the way the
chart renders ``config:``), the environment the AKS workload-identity webhook
would inject, and a stand-in ``kubelogin`` on ``PATH``. This script asks
Airflow's own code what it makes of them and writes the answers to
``report.json``. It never imports the program under test, so every answer comes
from Airflow, the Azure SDK and the Kubernetes client alone.

Only the network is faked, at the ``requests`` transport the Azure SDK sends
through (``responses``): a Key Vault that serves exactly the secrets the program
wrote (names compared case-insensitively, as Key Vault does) and answers
unauthenticated requests with the usual bearer challenge, and a Microsoft Entra
token endpoint. Everything above the socket (``AzureKeyVaultBackend``,
``SecretClient``, its challenge policy, ``DefaultAzureCredential``) is real.
Kept out of the pytest process so that Airflow's import-time configuration
(logging, ``AIRFLOW_HOME``) cannot leak into other tests.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import traceback
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:  # run as a script from tests/contract/probes/ (the probe), or imported by the test module for its helpers
    from probe_support import connection_fields, worker_configuration
except ModuleNotFoundError:
    from tests.contract.probes.probe_support import connection_fields, worker_configuration

FAKE_ACCESS_TOKEN = "contract-azure-fake-entra-access-token"
ENTRA_HOST = "login.microsoftonline.com"


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        return _error(exc)


class FakeAzure:
    """Key Vault and Entra ID at the HTTP layer; records every request."""

    def __init__(self, vault_host: str, tenant_id: str, secrets: dict[str, str]) -> None:
        self.vault_host = vault_host.lower()
        self.tenant_id = tenant_id
        self.secrets = {name.lower(): (name, value) for name, value in secrets.items()}
        self.calls: list[dict[str, Any]] = []

    def install(self, rsps: Any) -> None:
        rsps.add_callback("GET", re.compile(r"https://[^/]+/.*"), callback=self._dispatch)
        rsps.add_callback("POST", re.compile(r"https://[^/]+/.*"), callback=self._dispatch)

    def _dispatch(self, request: Any) -> tuple[int, dict[str, str], str]:
        url = urllib.parse.urlsplit(request.url)
        call: dict[str, Any] = {"method": request.method, "url": request.url, "host": url.netloc.lower()}
        self.calls.append(call)
        if call["host"] == ENTRA_HOST:
            status, headers, body = self._token(request, url, call)
        elif call["host"] == self.vault_host:
            status, headers, body = self._vault(request, url, call)
        else:
            status, headers, body = 599, {}, json.dumps({"error": f"unexpected host {url.netloc}"})
        call["status"] = status
        return status, headers, body

    def _token(self, request: Any, url: Any, call: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
        call["kind"] = "entra-token"
        call["path"] = url.path
        call["form"] = form
        if not url.path.endswith("/oauth2/v2.0/token"):
            return 404, {}, json.dumps({"error": "not_found"})
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps(
                {
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "ext_expires_in": 3600,
                    "access_token": FAKE_ACCESS_TOKEN,
                }
            ),
        )

    def _vault(self, request: Any, url: Any, call: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        auth = request.headers.get("Authorization")
        call["kind"] = "key-vault"
        call["authorization"] = auth
        match = re.fullmatch(r"/secrets/([^/]+)/?", url.path)
        call["secret_name"] = match.group(1) if match else None
        if not auth:
            challenge = f'Bearer authorization="https://{ENTRA_HOST}/{self.tenant_id}", resource="https://vault.azure.net"'
            return (
                401,
                {"WWW-Authenticate": challenge, "Content-Type": "application/json"},
                json.dumps({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}),
            )
        if auth != f"Bearer {FAKE_ACCESS_TOKEN}" or request.method != "GET" or match is None:
            return 403, {"Content-Type": "application/json"}, json.dumps({"error": {"code": "Forbidden", "message": "x"}})
        stored = self.secrets.get(match.group(1).lower())
        if stored is None:
            return (
                404,
                {"Content-Type": "application/json"},
                json.dumps(
                    {
                        "error": {
                            "code": "SecretNotFound",
                            "message": f"A secret with (name/id) {match.group(1)} was not found in this key vault.",
                        }
                    }
                ),
            )
        name, value = stored
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps(
                {
                    "value": value,
                    "contentType": "application/json",
                    "id": f"https://{self.vault_host}/secrets/{name}/0123456789abcdef0123456789abcdef",
                    "attributes": {
                        "enabled": True,
                        "created": 1767225600,
                        "updated": 1767225600,
                        "recoveryLevel": "Recoverable",
                        "recoverableDays": 90,
                    },
                    "tags": {},
                }
            ),
        )


def _record_credential_kwargs() -> list[dict[str, Any]]:
    """Wrap ``DefaultAzureCredential.__init__`` (azure-identity, not Airflow) to see how it is built."""
    from azure.identity import DefaultAzureCredential

    recorded: list[dict[str, Any]] = []
    original = DefaultAzureCredential.__init__

    def init(self: Any, **kwargs: Any) -> None:
        recorded.append(dict(kwargs))
        original(self, **kwargs)

    DefaultAzureCredential.__init__ = init  # type: ignore[method-assign]
    return recorded


def _describe_backend(backend: Any) -> dict[str, Any]:
    return {
        "class": f"{type(backend).__module__}.{type(backend).__qualname__}",
        "vault_url": backend.vault_url,
        "connections_prefix": backend.connections_prefix,
        "variables_prefix": backend.variables_prefix,
        "config_prefix": backend.config_prefix,
        "sep": backend.sep,
        "tenant_id": backend.tenant_id,
        "client_id": backend.client_id,
        "has_client_secret": bool(backend.client_secret),
        "managed_identity_client_id": backend.managed_identity_client_id,
        "workload_identity_tenant_id": backend.workload_identity_tenant_id,
        "client_kwargs": backend.kwargs,
    }


def _credential(backend: Any) -> dict[str, Any]:
    credential = backend.client._client._config.credential
    chain = getattr(credential, "credentials", ())
    return {
        "class": f"{type(credential).__module__}.{type(credential).__qualname__}",
        "chain": [type(c).__name__ for c in chain],
    }


def _lookups(backend: Any, fake: FakeAzure, conn_ids: list[str]) -> dict[str, Any]:
    """``get_connection`` for each id, with the Key Vault names each lookup requested."""
    out: dict[str, Any] = {}
    for conn_id in conn_ids:
        start = len(fake.calls)
        result = _guard(lambda conn_id=conn_id: connection_fields(backend.get_connection(conn_id)))
        requested = [c["secret_name"] for c in fake.calls[start:] if c.get("kind") == "key-vault"]
        out[conn_id] = {"connection": result, "requested": requested}
    return out


def _connection_class_fields() -> dict[str, list[str]]:
    import inspect

    import attrs
    from airflow.models.connection import Connection as CoreConnection
    from airflow.sdk import Connection as SdkConnection

    core = [p for p in inspect.signature(CoreConnection.__init__).parameters if p != "self"]
    sdk = [f.name for f in attrs.fields(SdkConnection)]
    return {"core": core, "sdk": sdk}


def _from_json(conn_ids: dict[str, str]) -> dict[str, Any]:
    """Both Connection classes' ``from_json`` on the exact stored strings (what the backends call)."""
    from airflow.models.connection import Connection as CoreConnection
    from airflow.sdk import Connection as SdkConnection

    return {
        "core": {
            cid: _guard(lambda v=v, cid=cid: connection_fields(CoreConnection.from_json(v, conn_id=cid))) for cid, v in conn_ids.items()
        },
        "sdk": {
            cid: _guard(lambda v=v, cid=cid: connection_fields(SdkConnection.from_json(v, conn_id=cid))) for cid, v in conn_ids.items()
        },
    }


def _api_client_view(api_client: Any) -> dict[str, Any]:
    cfg = api_client.configuration
    ca_path = cfg.ssl_ca_cert
    ca_pem = Path(ca_path).read_text() if ca_path and Path(ca_path).exists() else None
    return {
        "host": cfg.host,
        "ssl_ca_cert_content": ca_pem,
        "verify_ssl": cfg.verify_ssl,
        "authorization": (cfg.auth_settings().get("BearerToken") or {}).get("value"),
        "has_client_cert": bool(cfg.cert_file or cfg.key_file),
    }


def _kubernetes_hook(conn_id: str) -> dict[str, Any]:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = KubernetesHook(conn_id=conn_id)
    extras = hook.conn_extras
    api_client = hook.get_conn()
    return {
        "conn_extras_keys": sorted(extras),
        "kube_config_type": type(extras.get("kube_config")).__name__,
        "in_cluster_field": hook._get_field("in_cluster"),
        "namespace": hook.get_namespace(),
        "is_in_cluster": hook.is_in_cluster,
        "api_client_class": type(api_client).__name__,
        "client": _api_client_view(api_client),
    }


def _load_from_dict(kube_config: dict[str, Any]) -> dict[str, Any]:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config_from_dict(config_dict=kube_config, client_configuration=configuration)
    return _api_client_view(client.ApiClient(configuration=configuration))


def _git_hooks(conn_ids: list[str]) -> dict[str, Any]:
    from airflow.providers.git.hooks.git import GitHook

    def view(conn_id: str) -> dict[str, Any]:
        hook = GitHook(git_conn_id=conn_id)
        return {
            "repo_url": hook.repo_url,
            "user_name": hook.user_name,
            "auth_token": hook.auth_token,
            "private_key": hook.private_key,
            "strict_host_key_checking": hook.strict_host_key_checking,
            "known_hosts_file": getattr(hook, "known_hosts_file", None),  # read from git provider 1.0
        }

    return {conn_id: _guard(lambda conn_id=conn_id: view(conn_id)) for conn_id in conn_ids}


def main(request_path: str, report_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    report: dict[str, Any] = {}

    import responses

    fake = FakeAzure(request["vault_host"], request["tenant_id"], request["secrets"])
    credential_kwargs = _record_credential_kwargs()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)

        from airflow.configuration import conf
        from airflow.configuration import initialize_secrets_backends as core_initialize
        from airflow.sdk.execution_time.secrets import DEFAULT_SECRETS_SEARCH_PATH_WORKERS

        sdk_initialize = worker_configuration().initialize_secrets_backends

        report["config"] = {
            "backend": conf.get("secrets", "backend"),
            "backend_kwargs": _guard(lambda: conf.getjson("secrets", "backend_kwargs")),
        }
        conn_ids: list[str] = request["conn_ids"]

        # Server chain (api-server, scheduler, dag-processor): airflow.models.Connection.
        core_backends = core_initialize()
        core = core_backends[0]
        report["core_chain"] = [type(b).__name__ for b in core_backends]
        report["backend"] = _describe_backend(core)
        report["names"] = {
            cid: core.build_path(core.connections_prefix, cid, core.sep)
            for cid in [*conn_ids, *request["extra_names"], request["undeclared"]]
        }
        report["core_lookups"] = _lookups(core, fake, [*conn_ids, request["undeclared"]])
        report["credential"] = _guard(lambda: _credential(core))
        start = len(fake.calls)
        report["variable"] = _guard(lambda: core.get_variable("contract_azure_variable"))
        report["config_option"] = _guard(lambda: core.get_config("contract_azure_config"))
        report["variable_and_config_calls"] = fake.calls[start:]

        # Worker chain (task runner): airflow.sdk.Connection.
        sdk_backends = sdk_initialize(default_backends=DEFAULT_SECRETS_SEARCH_PATH_WORKERS)
        report["sdk_chain"] = [type(b).__name__ for b in sdk_backends]
        report["sdk_lookups"] = _lookups(sdk_backends[0], fake, conn_ids)

        # Task SDK public API (BaseHook.get_connection / Connection.get), outside a task runner.
        from airflow.sdk import Connection as SdkConnection

        report["sdk_get"] = {cid: _guard(lambda cid=cid: connection_fields(SdkConnection.get(cid))) for cid in conn_ids}

        report["connection_class_fields"] = _connection_class_fields()
        report["from_json"] = _from_json({cid: request["values_by_conn_id"][cid] for cid in conn_ids})
        report["git_hooks"] = _git_hooks(request["git_conn_ids"])
        report["kubernetes_hooks"] = {cid: _guard(lambda cid=cid: _kubernetes_hook(cid)) for cid in request["kube_conn_ids"]}
        report["load_kube_config_from_dict"] = {
            cid: _guard(lambda cid=cid: _load_from_dict(json.loads(request["values_by_conn_id"][cid])["extra"]["kube_config"]))
            for cid in request["kube_conn_ids"]
        }
        report["http_calls"] = fake.calls
        report["credential_kwargs"] = credential_kwargs

    Path(report_path).write_text(json.dumps(report, indent=1, default=str))
    return 0


def fake_kubelogin_source(python: str) -> str:
    """Source of a stand-in ``kubelogin``: records argv and prints an ExecCredential with a fake token."""
    return f"""#!{python}
import json, os, sys
with open(os.environ["CONTRACT_AZURE_KUBELOGIN_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv, "exec_info": os.environ.get("KUBERNETES_EXEC_INFO")}}) + "\\n")
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {{"token": "contract-azure-fake-aks-token", "expirationTimestamp": "2099-01-01T00:00:00Z"}}}}))
"""


def fake_federated_token() -> str:
    """An unsigned JWT shaped like the projected service-account token."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return ".".join([part({"alg": "RS256", "typ": "JWT"}), part({"aud": ["api://AzureADTokenExchange"]}), "sig"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
