"""Airflow connection documents as both secrets backends read them.

A document has the shape of ``Connection.as_json()``: only Connection fields
(``conn_type``, ``host``, ``login``, ``password``, ``schema``, ``port``,
``extra``), never ``conn_id`` or ``description``. ``AzureKeyVaultBackend``
raises on any other key and ``SecretsManagerBackend`` silently drops or renames
them (``airflow-contracts.md`` sections 3.3 and 4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components.settings.airflow import ConnectionSpec, RemoteCluster
from components.settings.ssh_bundles import KNOWN_HOSTS_PATH

PLACEHOLDER = "SET-OUT-OF-BAND"
"""Value written for a secret field the team fills in the backend itself."""

AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""Application id of the AKS AAD server: the audience kubelogin asks tokens for."""
FEDERATED_TOKEN_FILE = "/var/run/secrets/azure/tokens/azure-identity-token"
"""Where the AKS workload-identity webhook projects the service-account token."""


SSH_EXTRA: Mapping[str, str] = {"strict_host_key_checking": "yes", "known_hosts_file": KNOWN_HOSTS_PATH}
"""Extras of a git connection used over SSH. GitHook defaults ``strict_host_key_checking`` to ``no`` (provider
0.x) or ``accept-new`` (1.x, trust on first use): ``yes`` makes ``ssh`` refuse a host whose key is not in the
known-hosts file, which every bundle-reading pod mounts at that path (``components/ssh_known_hosts.py``;
providers before 1.0 ignore ``known_hosts_file`` and read the same file as ``ssh``'s global default)."""


def connection_document(spec: ConnectionSpec, secret_values: Mapping[str, str], *, ssh: bool = False) -> dict[str, Any]:
    """Document for ``spec``; ``secret_values`` maps secret field -> value (missing -> placeholder).

    ``ssh``: a git connection used over SSH, which gets :data:`SSH_EXTRA`."""
    doc: dict[str, Any] = {"conn_type": spec.conn_type}
    for key, value in (("host", spec.host), ("login", spec.login), ("schema", spec.schema_), ("port", spec.port)):
        if value is not None:
            doc[key] = value
    extra: dict[str, Any] = dict(spec.extra)
    for field in spec.secret_field_names:
        value = secret_values.get(field, PLACEHOLDER)
        if field == "password":
            doc["password"] = value
        else:
            extra[field.removeprefix("extra.")] = value
    if ssh:
        extra |= SSH_EXTRA
    if extra:
        doc["extra"] = extra
    return doc


def remote_cluster_kubeconfig(cluster: RemoteCluster, *, tenant_id: str, client_id: str) -> dict[str, Any]:
    """Kubeconfig that reaches ``cluster`` with kubelogin in workload-identity mode. Holds no secret."""
    user = f"{cluster.name}-workload-identity"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster.name,
                "cluster": {"server": cluster.api_server_url, "certificate-authority-data": cluster.certificate_authority_data},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "kubelogin",
                        "args": [
                            "get-token",
                            "--login",
                            "workloadidentity",
                            "--tenant-id",
                            tenant_id,
                            "--client-id",
                            client_id,
                            "--server-id",
                            AKS_SERVER_ID,
                            "--federated-token-file",
                            FEDERATED_TOKEN_FILE,
                            "--environment",
                            "AzurePublicCloud",
                        ],
                        "provideClusterInfo": False,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": cluster.name, "context": {"cluster": cluster.name, "user": user, "namespace": cluster.namespace}}],
        "current-context": cluster.name,
        "preferences": {},
    }


def kubernetes_connection_document(cluster: RemoteCluster, *, tenant_id: str, client_id: str) -> dict[str, Any]:
    """Kubernetes connection for KubernetesPodOperator(kubernetes_conn_id=..., in_cluster=False)."""
    return {
        "conn_type": "kubernetes",
        "extra": {
            "kube_config": remote_cluster_kubeconfig(cluster, tenant_id=tenant_id, client_id=client_id),
            "namespace": cluster.namespace,
        },
    }


def serialize(doc: Mapping[str, Any]) -> str:
    """The exact string stored in the backend."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))
