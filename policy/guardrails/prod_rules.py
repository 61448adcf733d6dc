"""Guardrails for the production rules the settings enforce (``components/settings/production.py``, issue 9).

The settings refuse a prod stack that breaks them; these rules check the same on
what a stack really registers, so a change to the program (or a stack built
another way) cannot slip past: customer-managed KMS keys for RDS storage,
Performance Insights, the RDS-managed master secret and Secrets Manager secrets;
RDS Enhanced Monitoring; automated backups kept after deletion; a final snapshot
under a per-instance name; geo-redundant Flexible Server backups where the region
has a pair; Key Vault and database firewall ranges no wider than /24. Same
contract as :mod:`guardrails.rules` (plain functions, camelCase props).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from guardrails.contract import Rule, RuleOptions, get_path, listify
from guardrails.regions import PAIRED_REGIONS
from guardrails.rules import FLEXIBLE_SERVER, KEY_VAULT, RDS_INSTANCE

SECRETS_MANAGER_SECRET = "aws:secretsmanager/secret:Secret"
FLEXIBLE_FIREWALL_RULE = "azure-native:dbforpostgresql:FirewallRule"
MIN_IPV4_PREFIX = 24
"""Widest IPv4 range a firewall may admit (256 addresses), as ``PROD_MIN_IPV4_PREFIX`` in the settings."""
ENHANCED_MONITORING_INTERVALS = (1, 5, 10, 15, 30, 60)
_CUSTOMER_KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-f-]{36}|key/mrk-[0-9a-f]{32}|alias/(?!aws/)\S+)"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias/(?!aws/)\S+)$"
)
"""A key we own: a key ARN or id, or an alias that is not one of AWS's own (``alias/aws/...``)."""
_PER_INSTANCE_SUFFIX = re.compile(r"-([0-9a-f]{8,})$")


def _customer_key(value: Any) -> bool:
    return isinstance(value, str) and bool(_CUSTOMER_KEY.match(value))


# --- AWS -----------------------------------------------------------------------------------------


def rds_customer_managed_key(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """Storage, Performance Insights (when on) and the RDS-managed master secret (when managed) use a customer key."""
    if resource_type != RDS_INSTANCE:
        return []
    wanted = {"kmsKeyId": "storage"}
    if props.get("performanceInsightsEnabled") is True:
        wanted["performanceInsightsKmsKeyId"] = "Performance Insights"
    if props.get("manageMasterUserPassword") is True:
        wanted["masterUserSecretKmsKeyId"] = "the RDS-managed master secret"
    return [
        f"RDS {what} must be encrypted with a customer-managed KMS key: {key} is {props.get(key)!r}, allowed: a key ARN (aws.kmsKeyArn)"
        for key, what in wanted.items()
        if not _customer_key(props.get(key))
    ]


def secrets_manager_customer_managed_key(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != SECRETS_MANAGER_SECRET or _customer_key(props.get("kmsKeyId")):
        return []
    return [
        f"Secrets Manager secret must be encrypted with a customer-managed KMS key: kmsKeyId is {props.get('kmsKeyId')!r} "
        "(unset means aws/secretsmanager), allowed: a key ARN (aws.kmsKeyArn)"
    ]


def rds_enhanced_monitoring(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != RDS_INSTANCE:
        return []
    interval, role = props.get("monitoringInterval"), props.get("monitoringRoleArn")
    if interval in ENHANCED_MONITORING_INTERVALS and not isinstance(interval, bool) and isinstance(role, str) and role:
        return []
    return [
        f"RDS Enhanced Monitoring must be on: monitoringInterval is {interval!r} (allowed: {ENHANCED_MONITORING_INTERVALS}), "
        f"monitoringRoleArn is {role!r} (allowed: a role ARN)"
    ]


def rds_keep_automated_backups(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """The provider's default is to delete them with the instance: the input must say false."""
    if resource_type != RDS_INSTANCE or props.get("deleteAutomatedBackups") is False:
        return []
    return [
        f"RDS automated backups must outlive the instance: deleteAutomatedBackups is {props.get('deleteAutomatedBackups')!r} "
        "(unset means true), allowed: false"
    ]


def rds_final_snapshot(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """A final snapshot is taken, under a name with a per-instance suffix (a re-created instance never reuses it)."""
    if resource_type != RDS_INSTANCE:
        return []
    if props.get("skipFinalSnapshot") is True:
        return ["RDS must take a final snapshot on deletion: skipFinalSnapshot is True, allowed: false"]
    name, identifier = props.get("finalSnapshotIdentifier"), props.get("identifier")
    suffix = _PER_INSTANCE_SUFFIX.search(name) if isinstance(name, str) else None
    if suffix is None or name == identifier or (isinstance(identifier, str) and suffix.group(1) in identifier):
        return [
            f"RDS final snapshot must be named with a per-instance suffix of 8+ hex characters (e.g. <identifier>-final-<random id>), "
            f"so a re-created instance does not collide with an earlier snapshot: finalSnapshotIdentifier is {name!r}"
        ]
    return []


# --- Azure ---------------------------------------------------------------------------------------


def flexible_server_geo_backup(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    if resource_type != FLEXIBLE_SERVER:
        return []
    location = str(props.get("location") or "").replace(" ", "").lower()
    value = get_path(props, "backup", "geoRedundantBackup")
    if location not in PAIRED_REGIONS or value == "Enabled":
        return []
    return [f"Flexible Server in {location} (a region with a pair) must keep geo-redundant backups: backup.geoRedundantBackup is {value!r}"]


def _too_wide(cidr: Any) -> bool:
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return True
    return network.version == 4 and network.prefixlen < MIN_IPV4_PREFIX


def firewall_ranges_narrow(resource_type: str, props: Mapping[str, Any], options: RuleOptions) -> list[str]:
    """Key Vault IP rules and Flexible Server firewall rules admit at most a /24 each."""
    if resource_type == KEY_VAULT:
        rules = [get_path(rule, "value") for rule in listify(get_path(props, "properties", "networkAcls", "ipRules"))]
        wide = [r for r in rules if _too_wide(r)]
        return [f"Key Vault firewall admits {wide!r}: allowed: IPv4 ranges of /{MIN_IPV4_PREFIX} or narrower"] if wide else []
    if resource_type == FLEXIBLE_FIREWALL_RULE:
        start, end = props.get("startIpAddress"), props.get("endIpAddress")
        try:
            size = int(ipaddress.IPv4Address(str(end))) - int(ipaddress.IPv4Address(str(start))) + 1
        except ValueError:
            return [f"database firewall rule must give IPv4 start and end addresses: got {start!r}-{end!r}"]
        if 1 <= size <= 2 ** (32 - MIN_IPV4_PREFIX):
            return []
        return [f"database firewall rule {start}-{end} admits {size} addresses: allowed: at most a /{MIN_IPV4_PREFIX} (256)"]
    return []


PROD_RULES: tuple[Rule, ...] = (
    Rule(
        "rds-customer-managed-key",
        "RDS storage, Performance Insights and the managed master secret use a customer-managed KMS key.",
        resource_check=rds_customer_managed_key,
    ),
    Rule(
        "secrets-manager-customer-managed-key",
        "Secrets Manager secrets use a customer-managed KMS key.",
        resource_check=secrets_manager_customer_managed_key,
    ),
    Rule("rds-enhanced-monitoring", "RDS instances have Enhanced Monitoring on.", resource_check=rds_enhanced_monitoring),
    Rule(
        "rds-keep-automated-backups",
        "RDS automated backups are kept after the instance is deleted.",
        resource_check=rds_keep_automated_backups,
    ),
    Rule(
        "rds-final-snapshot",
        "RDS instances take a final snapshot under a per-instance name.",
        resource_check=rds_final_snapshot,
    ),
    Rule(
        "flexible-server-geo-backup",
        "Flexible Servers keep geo-redundant backups where the region has a pair.",
        resource_check=flexible_server_geo_backup,
    ),
    Rule(
        "firewall-ranges-narrow",
        f"Key Vault and database firewalls admit IPv4 ranges of /{MIN_IPV4_PREFIX} or narrower.",
        resource_check=firewall_ranges_narrow,
    ),
)
