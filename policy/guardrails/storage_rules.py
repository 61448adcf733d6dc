"""Guardrails of the task-log stores (``taskLogs``): an S3 bucket's public access block and a storage account's lock-down.

Resource rules in the shape of :mod:`guardrails.contract` (``check(resource_type, props, options)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardrails.contract import RuleOptions, get_path

S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
PUBLIC_ACCESS_SWITCHES = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
STORAGE_ACCOUNT_LOCKS = (
    (("enableHttpsTrafficOnly",), True),
    (("minimumTlsVersion",), "TLS1_2"),
    (("allowBlobPublicAccess",), False),
    (("allowSharedKeyAccess",), False),
    (("networkRuleSet", "defaultAction"), "Deny"),
)
"""(property path, required value) of a storage account: HTTPS, TLS 1.2, no public blobs, Entra only, default deny."""


def s3_public_access_blocked(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != S3_PUBLIC_ACCESS_BLOCK:
        return []
    return [f"S3 public access block: {k} is {props.get(k)!r}, allowed: true" for k in PUBLIC_ACCESS_SWITCHES if props.get(k) is not True]


def storage_account_locked(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != STORAGE_ACCOUNT:
        return []
    return [
        f"storage account: {'.'.join(path)} is {get_path(props, *path)!r}, allowed: {wanted!r}"
        for path, wanted in STORAGE_ACCOUNT_LOCKS
        if get_path(props, *path) != wanted
    ]
