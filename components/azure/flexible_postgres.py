"""Azure Database for PostgreSQL Flexible Server as Airflow's metadata database.

Creates: an admin password (``random.RandomPassword``), the server (public
network access off with VNet integration, zone-redundant HA where the region
has zones, backups with geo-redundancy where offered), the Airflow database,
``require_secure_transport = on`` and, for non-production ``public`` mode only,
firewall rules for the allowed CIDRs.

Example::

    FlexiblePostgres("metadata-db", FlexiblePostgresArgs(
        server_name="research-prod-airflow", resource_group_name="rg-airflow", location="westeurope",
        delegated_subnet_id=subnet_id, private_dns_zone_id=zone_id, protect=True))
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

from components import passwords
from components.azure_regions import AZURE_REGIONS

STORAGE_SIZES_GB = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


def sku_tier(sku_name: str) -> str:
    """Flexible Server tier of a SKU name (``Standard_D2ds_v5`` -> ``GeneralPurpose``)."""
    family = sku_name.removeprefix("Standard_")[:1]
    return {"B": "Burstable", "D": "GeneralPurpose", "E": "MemoryOptimized"}.get(family, "GeneralPurpose")


@dataclass(frozen=True, kw_only=True)
class FlexiblePostgresArgs:
    server_name: str
    """Server name (3-63 lowercase letters, digits, '-'); also the DNS label."""
    resource_group_name: str
    """Resource group the server is created in."""
    location: str
    """Azure region of the server; its zones and pairing decide the HA mode and geo-backup."""
    network_mode: str = "vnet"
    """``vnet``: VNet integration, public access off. ``public``: firewall rules for ``allowed_ip_ranges``."""
    delegated_subnet_id: str | None = None
    """``vnet`` mode: subnet delegated to ``Microsoft.DBforPostgreSQL/flexibleServers`` that the server joins."""
    private_dns_zone_id: str | None = None
    """``vnet`` mode: private DNS zone that resolves the server's name."""
    allowed_ip_ranges: Sequence[str] = ()
    """``public`` mode: CIDRs allowed through the firewall, one rule each. Default: none."""
    engine_version: str = "16"
    """Major PostgreSQL version. Default: 16."""
    sku_name: str = "Standard_D2ds_v5"
    """Compute SKU; its family (``B``/``D``/``E``) picks the Burstable, GeneralPurpose or MemoryOptimized tier."""
    storage_gb: int = 128
    """Storage in GB, one of ``STORAGE_SIZES_GB``; auto-grow is on."""
    backup_retention_days: int = 14
    """Days backups are kept (7-35)."""
    high_availability: bool = True
    """Zone-redundant where the region has zones, same-zone otherwise."""
    geo_redundant_backup: bool = True
    """Honoured where the region has a pair."""
    database_name: str = "airflow"
    """Database created on the server for Airflow (UTF8, ``en_US.utf8``)."""
    admin_username: str = "airflow_admin"
    """Administrator login; its password is generated."""
    password_generation: int = 1
    """Generation of the generated admin password; bumping it rotates the password."""
    protect: bool = True
    """Pulumi ``protect`` on the server and the database."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the server. Default: none."""

    def __post_init__(self) -> None:
        if self.password_generation < 1:
            raise ValueError(f"password_generation must be at least 1, got {self.password_generation}")
        if not re.match(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", self.server_name):
            raise ValueError(f"server_name must be 3-63 lowercase letters, digits and '-', got {self.server_name!r}")
        if self.location not in AZURE_REGIONS:
            raise ValueError(f"location {self.location!r} is not a known Azure region")
        if self.network_mode == "vnet" and not (self.delegated_subnet_id and self.private_dns_zone_id):
            raise ValueError("vnet mode needs delegated_subnet_id and private_dns_zone_id")
        if self.network_mode == "public" and not self.allowed_ip_ranges:
            raise ValueError("public mode needs allowed_ip_ranges")
        if self.network_mode not in ("vnet", "public"):
            raise ValueError(f"network_mode must be vnet or public, got {self.network_mode!r}")
        if self.storage_gb not in STORAGE_SIZES_GB:
            raise ValueError(f"storage_gb must be one of {STORAGE_SIZES_GB}, got {self.storage_gb}")
        if not 7 <= self.backup_retention_days <= 35:
            raise ValueError(f"backup_retention_days must be 7-35 on Flexible Server, got {self.backup_retention_days}")


class FlexiblePostgres(pulumi.ComponentResource):
    """Private, TLS-only PostgreSQL Flexible Server with the Airflow database."""

    TYPE = "dataplat:db:FlexiblePostgres"

    host: pulumi.Output[str]
    """Fully qualified domain name clients connect to."""
    port: pulumi.Output[int]
    """Port clients connect to (always 5432)."""
    database_name: pulumi.Output[str]
    """Name of the Airflow database."""
    admin_username: pulumi.Output[str]
    """Administrator login."""
    admin_password: pulumi.Output[str]
    """Admin password (secret)."""
    server_id: pulumi.Output[str]
    """ARM resource id of the server."""

    def __init__(self, name: str, args: FlexiblePostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = AZURE_REGIONS[args.location]

        password = passwords.database_admin_password(name, self, args.password_generation)
        if args.network_mode == "vnet":
            network = azure_native.dbforpostgresql.NetworkArgs(
                delegated_subnet_resource_id=args.delegated_subnet_id,
                private_dns_zone_arm_resource_id=args.private_dns_zone_id,
                public_network_access="Disabled",
            )
        else:
            network = azure_native.dbforpostgresql.NetworkArgs(public_network_access="Enabled")
        if args.high_availability:
            high_availability = azure_native.dbforpostgresql.HighAvailabilityArgs(
                mode="ZoneRedundant" if region.zones else "SameZone",
            )
        else:
            high_availability = azure_native.dbforpostgresql.HighAvailabilityArgs(mode="Disabled")

        server = azure_native.dbforpostgresql.Server(
            f"{name}-server",
            server_name=args.server_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            version=args.engine_version,
            administrator_login=args.admin_username,
            administrator_login_password=pulumi.Output.secret(password.result),
            sku=azure_native.dbforpostgresql.SkuArgs(name=args.sku_name, tier=sku_tier(args.sku_name)),
            storage=azure_native.dbforpostgresql.StorageArgs(storage_size_gb=args.storage_gb, auto_grow="Enabled"),
            backup=azure_native.dbforpostgresql.BackupArgs(
                backup_retention_days=args.backup_retention_days,
                geo_redundant_backup="Enabled" if args.geo_redundant_backup and region.geo_backup else "Disabled",
            ),
            high_availability=high_availability,
            network=network,
            auth_config=azure_native.dbforpostgresql.AuthConfigArgs(password_auth="Enabled", active_directory_auth="Disabled"),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                additional_secret_outputs=["administratorLoginPassword"],
            ),
        )
        database = azure_native.dbforpostgresql.Database(
            f"{name}-database",
            database_name=args.database_name,
            server_name=server.name,
            resource_group_name=args.resource_group_name,
            charset="UTF8",
            collation="en_US.utf8",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        azure_native.dbforpostgresql.Configuration(
            f"{name}-require-tls",
            configuration_name="require_secure_transport",
            value="on",
            source="user-override",
            server_name=server.name,
            resource_group_name=args.resource_group_name,
            opts=child,
        )
        for cidr in args.allowed_ip_ranges:
            net = ipaddress.ip_network(cidr, strict=False)
            key = str(net).replace(".", "-").replace("/", "-")
            azure_native.dbforpostgresql.FirewallRule(
                f"{name}-allow-{key}",
                firewall_rule_name=f"allow-{key}",
                server_name=server.name,
                resource_group_name=args.resource_group_name,
                start_ip_address=str(net.network_address),
                end_ip_address=str(net.broadcast_address),
                opts=child,
            )

        self.host = server.fully_qualified_domain_name
        self.port = pulumi.Output.from_input(5432)
        self.database_name = database.name
        self.admin_username = pulumi.Output.from_input(args.admin_username)
        self.admin_password = pulumi.Output.secret(password.result)
        self.server_id = server.id
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database_name": self.database_name,
                "admin_username": self.admin_username,
                "admin_password": self.admin_password,
                "server_id": self.server_id,
            }
        )
