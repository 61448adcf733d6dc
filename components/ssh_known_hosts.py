"""The known-hosts file of Git-over-SSH DAG bundles: one ConfigMap, mounted read-only in every bundle-reading pod.

Shared by both charts. The file sits at ``ssh``'s global default ``/etc/ssh/ssh_known_hosts``
(:data:`KNOWN_HOSTS_PATH`), so every git provider version finds it: providers before 1.0 read no
``known_hosts_file`` extra and run plain ``ssh -o StrictHostKeyChecking=<extra>``, which reads the global
file; from 1.0 the connection's ``known_hosts_file`` names the same path (:mod:`components.connections`).
The ConfigMap's name carries a hash of its content, so a changed host key changes the pod specs and
rolls the pods (a ``subPath`` mount never sees an update of the ConfigMap in place).

Example::

    content = known_hosts_content(settings)          # None without SSH bundles
    name = config_map_name(settings.release_name, content)
    values["volumes"].append(volume(name)); values["volumeMounts"].append(MOUNT)
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.settings.model import Settings
from components.settings.ssh_bundles import KNOWN_HOSTS_PATH, known_hosts_lines

CONFIG_MAP_KEY = "ssh_known_hosts"
VOLUME_NAME = "ssh-known-hosts"
MOUNT: dict[str, Any] = {"name": VOLUME_NAME, "mountPath": KNOWN_HOSTS_PATH, "subPath": CONFIG_MAP_KEY, "readOnly": True}
"""The volume mount of every container that may run ``git``/``ssh`` for a bundle."""


def known_hosts_content(settings: Settings) -> str | None:
    """The file's text (one entry a line), or ``None`` when no bundle uses SSH."""
    lines = known_hosts_lines(settings)
    return "".join(f"{line}\n" for line in lines) if lines else None


def config_map_name(base: str, content: str) -> str:
    """``<base>-ssh-known-hosts-<8 hex of the content's SHA-256>``: a new name for new content."""
    return f"{base}-{VOLUME_NAME}-{hashlib.sha256(content.encode()).hexdigest()[:8]}"


def volume(name: str) -> dict[str, Any]:
    """The pod volume of the ConfigMap ``name`` (world-readable: ``ssh`` only reads it)."""
    return {
        "name": VOLUME_NAME,
        "configMap": {"name": name, "defaultMode": 0o444, "items": [{"key": CONFIG_MAP_KEY, "path": CONFIG_MAP_KEY}]},
    }


def config_map(
    resource_name: str, name: str, *, namespace: pulumi.Input[str], content: str, labels: dict[str, str], parent: pulumi.Resource
) -> k8s.core.v1.ConfigMap:
    """Create the immutable ConfigMap ``name`` as a child of ``parent``."""
    return k8s.core.v1.ConfigMap(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": labels},
        data={CONFIG_MAP_KEY: content},
        immutable=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
