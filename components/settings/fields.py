"""Building blocks of the settings models: the strict base model, patterns and constrained types."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from components import naming

UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
HTTPS_URL = r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
AZURE_SUBNET_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$"
AZURE_DNS_ZONE_ID = (
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/privateDnsZones/"
    r"[^/]+\.postgres\.database\.azure\.com$"
)
AKS_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerService/managedClusters/[^/]+$"
K8S_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
AZURE_STORAGE_SIZES_GB = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
MAX_FEDERATED_CREDENTIALS = 20
"""Azure's limit of federated identity credentials on one user-assigned identity."""


class StrictModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


PROD_MIN_IPV4_PREFIX = 24
"""Production firewalls admit no IPv4 range wider than /24 (256 addresses)."""


def _ipv4_cidrs(value: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for cidr in value:
        network = ipaddress.ip_network(cidr, strict=False)
        if network.version != 4 or network.prefixlen == 0:
            raise ValueError(f"{cidr!r}: only IPv4 CIDRs narrower than /0 are allowed")
        if str(network) in seen:
            raise ValueError(f"{cidr!r} duplicates {seen[str(network)]!r}: each range names one firewall rule")
        seen[str(network)] = cidr
    return value


Ipv4Cidrs = Annotated[tuple[str, ...], AfterValidator(_ipv4_cidrs)]
"""IPv4 CIDRs narrower than /0, each network at most once."""


def wider_than(cidrs: tuple[str, ...], min_prefix: int) -> list[str]:
    """The CIDRs of ``cidrs`` whose prefix is shorter than ``/min_prefix``."""
    return [c for c in cidrs if ipaddress.ip_network(c, strict=False).prefixlen < min_prefix]


def _conn_id(value: str) -> str:
    problem = naming.conn_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


ConnId = Annotated[str, AfterValidator(_conn_id)]
"""A conn_id both secrets backends can store (see ``naming.conn_id_problem``)."""
