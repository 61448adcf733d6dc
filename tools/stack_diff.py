"""What changed in one stack between two offline renders: Helm values, resources (with replacements), outputs.

Pure functions over :class:`StackRender` (the masked registrations and outputs of one render, as
:mod:`tools.render_diff` produces them at each revision). A change is a replacement when a changed path is in
:data:`REPLACE_ON_CHANGE` for its type (the inputs that the provider cannot update in place: physical names,
engines, scopes), when the resource's parent (so its URN) changes, or for ``random`` resources on any change.
Paths listed in a resource's ``ignore_changes`` are shown but not counted. The rule list is deliberately small;
``pulumi preview`` remains the authority.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

from tools import affected as affected_mod

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

ANY = "*"
REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    # AWS (pulumi-aws / Terraform ForceNew inputs of what the program registers)
    "aws:rds/instance:Instance": (
        "identifier",
        "identifierPrefix",
        "engine",
        "dbName",
        "username",
        "storageEncrypted",
        "kmsKeyId",
        "availabilityZone",
        "characterSetName",
        "snapshotIdentifier",
    ),
    "aws:rds/subnetGroup:SubnetGroup": ("name", "namePrefix"),
    "aws:rds/parameterGroup:ParameterGroup": ("name", "namePrefix", "family", "description"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "description", "vpcId"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("securityGroupId",),
    "aws:secretsmanager/secret:Secret": ("name", "namePrefix"),
    "aws:secretsmanager/secretVersion:SecretVersion": ("secretId",),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", "role"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
    # Azure (azure-native: the URL path parameters and location cannot change in place)
    "azure-native:dbforpostgresql:Server": ("serverName", "resourceGroupName", "location", "administratorLogin"),
    "azure-native:dbforpostgresql:Database": ("databaseName", "serverName", "resourceGroupName", "charset", "collation"),
    "azure-native:dbforpostgresql:Configuration": ("configurationName", "serverName", "resourceGroupName"),
    "azure-native:dbforpostgresql:FirewallRule": ("firewallRuleName", "serverName", "resourceGroupName"),
    "azure-native:keyvault:Vault": ("vaultName", "resourceGroupName", "location"),
    "azure-native:keyvault:Secret": ("secretName", "vaultName", "resourceGroupName"),
    "azure-native:managedidentity:UserAssignedIdentity": ("resourceName", "resourceGroupName", "location"),
    "azure-native:managedidentity:FederatedIdentityCredential": (
        "federatedIdentityCredentialResourceName",
        "resourceName",
        "resourceGroupName",
    ),
    "azure-native:authorization:RoleAssignment": ("roleAssignmentName", "scope", "principalId", "roleDefinitionId"),
    # Kubernetes (immutable identity; a Secret's type and a PVC's spec cannot change in place)
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
    "kubernetes:core/v1:Secret": ("metadata.name", "metadata.namespace", "type"),
    "kubernetes:core/v1:PersistentVolumeClaim": ("metadata.name", "metadata.namespace", "spec"),
    # random: every input is replace-on-change
    "random:index/randomPassword:RandomPassword": (ANY,),
    "random:index/randomBytes:RandomBytes": (ANY,),
}
"""Input paths (prefixes) whose change makes the provider replace the resource, per type token."""

REPLACE_ON_CHANGE_PREFIXES: dict[str, tuple[str, ...]] = {
    "kubernetes:": ("metadata.name", "metadata.namespace"),
    "random:": (ANY,),
}
"""Fallback rules by type-token prefix, for types not listed in :data:`REPLACE_ON_CHANGE`."""


@dataclass
class StackRender:
    """One stack rendered at one revision (or why it could not be)."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackRender:
        return cls(resources=data.get("resources", []), outputs=data.get("outputs", {}), error=data.get("error"))

    def by_key(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["type"], r["name"]): r for r in self.resources}

    def helm_values(self) -> dict[str, Any]:
        return {r["name"]: r["inputs"].get("values", {}) for r in self.resources if r["type"] == HELM_RELEASE}


MISSING = object()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of a JSON value: ``a.b[0].c`` -> leaf (empty containers are leaves)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    a, b = flatten(before), flatten(after)
    return sorted(path for path in set(a) | set(b) if a.get(path, MISSING) != b.get(path, MISSING))


def _covers(prefix: str, path: str) -> bool:
    return prefix == ANY or path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def replace_rules(type_token: str) -> tuple[str, ...]:
    if type_token in REPLACE_ON_CHANGE:
        return REPLACE_ON_CHANGE[type_token]
    for prefix, rules in REPLACE_ON_CHANGE_PREFIXES.items():
        if type_token.startswith(prefix):
            return rules
    return ()


@dataclass
class ResourceChange:
    action: str
    """``add``, ``remove``, ``update`` or ``replace``."""
    type: str
    name: str
    paths: list[str] = field(default_factory=list)
    replace_paths: list[str] = field(default_factory=list)
    ignored_paths: list[str] = field(default_factory=list)
    protect: bool = False


@dataclass
class ValuesDiff:
    release: str
    lines: list[str]
    added: int
    removed: int


@dataclass
class StackDiff:
    stack: str
    environment: str
    change: str
    example: bool
    base_error: str | None = None
    head_error: str | None = None
    new_stack: bool = False
    values: list[ValuesDiff] = field(default_factory=list)
    resources: list[ResourceChange] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {"add": 0, "remove": 0, "update": 0, "replace": 0}
        for change in self.resources:
            counts[change.action] += 1
        return counts

    @property
    def unchanged(self) -> bool:
        return not (self.head_error or self.base_error or self.values or self.resources or self.outputs)


def diff_resources(base: StackRender | None, head: StackRender) -> list[ResourceChange]:
    before = base.by_key() if base and not base.error else {}
    after = head.by_key()
    changes = []
    for key in sorted(set(before) | set(after)):
        type_token, name = key
        old, new = before.get(key), after.get(key)
        if old is None:
            changes.append(ResourceChange("add", type_token, name))
            continue
        if new is None:
            changes.append(ResourceChange("remove", type_token, name, protect=old.get("protect", False)))
            continue
        paths = changed_paths(old["inputs"], new["inputs"])
        ignore = new.get("ignore_changes") or []
        ignored = [p for p in paths if any(_covers(i, p) for i in ignore)]
        counted = [p for p in paths if p not in ignored]
        if old.get("parent") != new.get("parent"):
            counted.insert(0, f"(parent {old.get('parent')} -> {new.get('parent')})")
        if not counted:
            if ignored:
                changes.append(ResourceChange("update", type_token, name, ignored_paths=ignored))
            continue
        rules = replace_rules(type_token)
        replace = [p for p in counted if p.startswith("(parent") or any(_covers(rule, p) for rule in rules)]
        action = "replace" if replace else "update"
        changes.append(ResourceChange(action, type_token, name, counted, replace, ignored, protect=new.get("protect", False)))
    return [c for c in changes if c.paths or c.action in ("add", "remove", "replace")]


def diff_values(base: StackRender | None, head: StackRender, stack: str) -> list[ValuesDiff]:
    before = base.helm_values() if base and not base.error else {}
    after = head.helm_values()
    diffs = []
    for release in sorted(set(before) | set(after)):
        old = yaml.safe_dump(before[release], sort_keys=True).splitlines() if release in before else []
        new = yaml.safe_dump(after[release], sort_keys=True).splitlines() if release in after else []
        lines = list(difflib.unified_diff(old, new, f"base/{stack}/{release}", f"head/{stack}/{release}", lineterm="", n=3))
        if lines:
            added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
            removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
            diffs.append(ValuesDiff(release, lines, added, removed))
    return diffs


def diff_stack(entry: affected_mod.StackEntry, base: StackRender | None, head: StackRender) -> StackDiff:
    result = StackDiff(entry.stack, entry.environment, entry.change, entry.example, new_stack=base is None)
    if base is not None and base.error:
        result.base_error = base.error
    if head.error:
        result.head_error = head.error
        return result
    result.values = diff_values(base, head, entry.stack)
    result.resources = diff_resources(base, head)
    if base is not None and not base.error:
        result.outputs = changed_paths(base.outputs, head.outputs)
    return result
