"""Guardrails of the Helm release: chart pinned to an exact version, atomic with cleanup, no literal credential in the values.

Resource rules in the shape of :mod:`guardrails.contract`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from guardrails.contract import RuleOptions

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")


def helm_release_pinned(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != HELM_RELEASE:
        return []
    version = props.get("version")
    if props.get("chart") and isinstance(version, str) and _EXACT_VERSION.match(version):
        return []
    return [f"Helm release must pin chart and an exact version: chart is {props.get('chart')!r}, version is {version!r}"]


def helm_release_atomic(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != HELM_RELEASE or (props.get("atomic") is True and props.get("cleanupOnFail") is True):
        return []
    return [
        f"Helm release must be atomic with cleanup on failure: atomic is {props.get('atomic')!r}, cleanupOnFail is {props.get('cleanupOnFail')!r}"
    ]


_CREDENTIAL_KEY = re.compile(r"password|passwd|passphrase|token|secret|apikey|privatekey|accesskey|credential|fernetkey|^pass$")
_REFERENCE_KEY = re.compile(r"(name|names|ref|backend|path|file|enabled|mount|class|classpath|type|kind|url|uri|version)$")
_URL_CREDENTIALS = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")


def _leaves(value: Any, path: str = "", key: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every scalar leaf; ``key`` is the mapping key it sits under (list items: their list's)."""
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            yield from _leaves(child, f"{path}.{child_key}" if path else str(child_key), str(child_key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _leaves(child, f"{path}[{i}]", key)
    else:
        yield path, key, value


def helm_values_no_credentials(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """No literal credential in the values: credential-named keys hold references, URLs carry no user:password."""
    if resource_type != HELM_RELEASE:
        return []
    found: list[str] = []
    for path, key, value in _leaves(props.get("values") or {}):
        normalized = re.sub(r"[^a-z0-9]", "", key.lower())
        literal = isinstance(value, str | int | float) and not isinstance(value, bool) and str(value) != ""
        if (
            literal
            and "/" not in key  # annotations such as checksum/...-secrets hold hashes, not credentials
            and _CREDENTIAL_KEY.search(normalized)
            and not _REFERENCE_KEY.search(normalized)
        ):
            found.append(f"Helm values {path}: literal value under a credential key; put it in a Kubernetes Secret and reference it")
        if isinstance(value, str) and _URL_CREDENTIALS.search(value):
            found.append(f"Helm values {path}: URL with user:password@; use a Secret (e.g. data.metadataSecretName)")
    return found
