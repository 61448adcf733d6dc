"""Azure Cache for Redis as the Celery broker: private endpoint only, TLS 1.2 on 6380, access-key AUTH.

Creates: the cache (Redis 6, the non-TLS port 6379 off, minimum TLS 1.2, public network access off), a
private endpoint in ``subnet_id`` (group ``redisCache``) and its DNS zone group, which registers the cache in
the private DNS zone ``privatelink.redis.cache.windows.net`` so its public host name resolves to the
endpoint inside the VNet. Clients authenticate with the cache's primary access key, read after creation with
``listRedisKeys`` (a Pulumi secret). Entra ID authentication is not used: Celery's Redis transport takes a
static password from the broker URL, while Entra tokens expire within hours and would need a credential
provider built into the image (``redis-entraid``) and refreshed connections in every worker.

Example::

    CacheRedis("broker", CacheRedisArgs(
        cache_name="research-prod-airflow", resource_group_name="rg-airflow", location="westeurope",
        subnet_id=endpoint_subnet_id, private_dns_zone_id=zone_id, protect=True))
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

from components.azure_regions import AZURE_REGIONS

TLS_PORT = 6380
REDIS_VERSION = "6"
TRUST = "DigiCert Global Root G2, in the image's system trust store"
SKU = re.compile(r"^(Basic|Standard)_C([0-6])$|^Premium_P([1-5])$")


@dataclass(frozen=True, kw_only=True)
class CacheRedisArgs:
    cache_name: str
    """Cache name (1-63 letters, digits, '-'); also the DNS label of ``<name>.redis.cache.windows.net``."""
    resource_group_name: str
    """Resource group the cache and its private endpoint are created in."""
    location: str
    """Azure region of the cache."""
    subnet_id: str
    """Subnet of the private endpoint."""
    private_dns_zone_id: str
    """Private DNS zone ``privatelink.redis.cache.windows.net`` the endpoint registers in."""
    sku: str = "Standard_C1"
    """``Basic_C<n>``, ``Standard_C<n>`` (a replica) or ``Premium_P<n>``."""
    protect: bool = True
    """Pulumi ``protect`` on the cache."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the cache and the endpoint. Default: none."""

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$", self.cache_name) or "--" in self.cache_name:
            raise ValueError(f"cache_name must be 1-63 letters, digits and single '-', got {self.cache_name!r}")
        if self.location not in AZURE_REGIONS:
            raise ValueError(f"location {self.location!r} is not a known Azure region")
        if not SKU.match(self.sku):
            raise ValueError(f"sku must be Basic_C0..C6, Standard_C0..C6 or Premium_P1..P5, got {self.sku!r}")


class CacheRedis(pulumi.ComponentResource):
    """Private, TLS-only Azure Cache for Redis reached through a private endpoint."""

    TYPE = "dataplat:broker:CacheRedis"

    host: pulumi.Output[str]
    """Host name of the cache (the name in its certificate; resolves to the private endpoint in the VNet)."""
    port: pulumi.Output[int]
    """TLS port (6380)."""
    access_key: pulumi.Output[str]
    """Primary access key (secret)."""
    cache_id: pulumi.Output[str]
    """ARM resource id of the cache."""

    def __init__(self, name: str, args: CacheRedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        tier, _, size = args.sku.partition("_")
        cache = azure_native.redis.Redis(
            f"{name}-cache",
            name=args.cache_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=azure_native.redis.SkuArgs(name=tier, family=size[0], capacity=int(size[1:])),
            redis_version=REDIS_VERSION,
            enable_non_ssl_port=False,
            minimum_tls_version="1.2",
            public_network_access="Disabled",
            disable_access_key_authentication=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, additional_secret_outputs=["accessKeys"]),
        )
        endpoint = azure_native.network.PrivateEndpoint(
            f"{name}-endpoint",
            private_endpoint_name=f"pe-{args.cache_name}",
            resource_group_name=args.resource_group_name,
            location=args.location,
            subnet=azure_native.network.SubnetArgs(id=args.subnet_id),
            private_link_service_connections=[
                azure_native.network.PrivateLinkServiceConnectionArgs(
                    name=f"{args.cache_name}-redis",
                    private_link_service_id=cache.id,
                    group_ids=["redisCache"],
                )
            ],
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        azure_native.network.PrivateDnsZoneGroup(
            f"{name}-dns",
            private_dns_zone_group_name="default",
            private_endpoint_name=endpoint.name,
            resource_group_name=args.resource_group_name,
            private_dns_zone_configs=[
                azure_native.network.PrivateDnsZoneConfigArgs(name="redis", private_dns_zone_id=args.private_dns_zone_id)
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        keys = azure_native.redis.list_redis_keys_output(
            name=cache.name,
            resource_group_name=args.resource_group_name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.host = cache.host_name
        self.port = pulumi.Output.from_input(TLS_PORT)
        self.access_key = pulumi.Output.secret(keys.primary_key)
        self.cache_id = cache.id
        self.register_outputs({"host": self.host, "port": self.port, "access_key": self.access_key, "cache_id": self.cache_id})
