"""Production rules: what a prod stack must keep (safety defaults, keys, monitoring, backups, narrow grants and firewalls)."""

from __future__ import annotations

from collections.abc import Callable

from components.azure_regions import AZURE_REGIONS
from components.settings.errors import Problem
from components.settings.fields import PROD_MIN_IPV4_PREFIX, wider_than
from components.settings.model import Settings


def check_production(s: Settings, add: Callable[[Problem], None]) -> None:
    """Add a :class:`Problem` for each production rule a prod stack breaks; other environments pass."""
    if s.environment != "prod":
        return
    rule = "production stacks keep this safety default; relax it only in dev or staging"
    if not s.protect_stateful:
        add(Problem("protectStateful", False, rule))
    if s.aws is not None and s.aws.kms_key_arn is None:
        add(
            Problem(
                "aws.kmsKeyArn",
                None,
                "prod encrypts Secrets Manager (and RDS storage and Performance Insights) with a customer-managed key: set its ARN",
            )
        )
    re_ = s.remote_execution
    if re_ is not None and re_.scheduler_access.mode == "wildcard":
        add(Problem("remoteExecution.schedulerAccess.mode", "wildcard", "prod trusts named Astro service accounts only: use explicit"))
    for i, cluster in enumerate(s.remote_clusters):
        if cluster.role == "admin":
            add(Problem(f"remoteClusters[{i}].role", "admin", "prod grants at most pod-operator, reader or writer on a remote namespace"))
    if s.azure is not None:
        ranges = (
            ("azure.keyVault.allowedIpRanges", s.azure.key_vault.allowed_ip_ranges),
            ("azure.databaseNetwork.allowedIpRanges", s.azure.database_network.allowed_ip_ranges),
        )
        for key, cidrs in ranges:
            wide = wider_than(cidrs, PROD_MIN_IPV4_PREFIX)
            if wide:
                add(Problem(key, wide, f"prod firewalls admit IPv4 ranges of /{PROD_MIN_IPV4_PREFIX} or narrower"))
    if not s.self_hosted:
        return
    ui = s.ui_access
    if ui.mode == "loadBalancer" and not ui.internal:
        add(Problem("uiAccess.internal", False, "prod keeps the UI's load balancer internal"))
    if ui.mode == "ingress" and ui.tls_secret_name is None:
        add(Problem("uiAccess.tlsSecretName", None, "a prod Ingress terminates TLS: name the kubernetes.io/tls Secret"))
    db = s.database
    if not db.deletion_protection:
        add(Problem("database.deletionProtection", False, rule))
    if not db.high_availability:
        add(Problem("database.highAvailability", False, rule))
    if db.backup_retention_days < 7:
        add(Problem("database.backupRetentionDays", db.backup_retention_days, "must be at least 7 in prod"))
    if s.cloud == "aws" and not db.final_snapshot:
        add(Problem("database.finalSnapshot", False, rule))
    if s.cloud == "aws" and db.enhanced_monitoring_interval_seconds == 0:
        add(Problem("database.enhancedMonitoringIntervalSeconds", 0, "prod keeps RDS Enhanced Monitoring on (1-60 seconds)"))
    if s.cloud == "aws" and db.delete_automated_backups:
        add(Problem("database.deleteAutomatedBackups", True, "prod keeps automated backups after the instance is deleted"))
    if s.azure is not None and not db.geo_redundant_backup and AZURE_REGIONS[s.azure.location].geo_backup:
        add(
            Problem(
                "database.geoRedundantBackup",
                False,
                f"prod keeps geo-redundant backups where the region has a pair ({s.azure.location} does)",
            )
        )
    if s.azure is not None and s.azure.database_network.mode == "public":
        add(Problem("azure.databaseNetwork.mode", "public", "prod databases use VNet integration (public access off)"))
