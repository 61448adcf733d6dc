"""Azure public-cloud regions and what PostgreSQL Flexible Server offers in each.

``zones``: the region has availability zones, so zone-redundant high
availability is possible. ``geo_backup``: the region has a paired region, so
geo-redundant backups are offered. Source: Azure "regions with availability
zones" and "Flexible Server supported regions" tables (2025 state). A region
missing here is rejected by the settings check rather than guessed.
"""

from __future__ import annotations

from typing import NamedTuple


class RegionFacts(NamedTuple):
    zones: bool
    geo_backup: bool


AZURE_REGIONS: dict[str, RegionFacts] = {
    # Americas
    "eastus": RegionFacts(True, True),
    "eastus2": RegionFacts(True, True),
    "centralus": RegionFacts(True, True),
    "southcentralus": RegionFacts(True, True),
    "westus": RegionFacts(False, True),
    "westus2": RegionFacts(True, True),
    "westus3": RegionFacts(True, True),
    "northcentralus": RegionFacts(False, True),
    "westcentralus": RegionFacts(False, True),
    "canadacentral": RegionFacts(True, True),
    "canadaeast": RegionFacts(False, True),
    "brazilsouth": RegionFacts(True, True),
    "brazilsoutheast": RegionFacts(False, True),
    "mexicocentral": RegionFacts(True, False),
    "chilecentral": RegionFacts(True, False),
    # Europe
    "northeurope": RegionFacts(True, True),
    "westeurope": RegionFacts(True, True),
    "uksouth": RegionFacts(True, True),
    "ukwest": RegionFacts(False, True),
    "francecentral": RegionFacts(True, True),
    "francesouth": RegionFacts(False, True),
    "germanywestcentral": RegionFacts(True, True),
    "germanynorth": RegionFacts(False, True),
    "switzerlandnorth": RegionFacts(True, True),
    "switzerlandwest": RegionFacts(False, True),
    "norwayeast": RegionFacts(True, True),
    "norwaywest": RegionFacts(False, True),
    "swedencentral": RegionFacts(True, True),
    "polandcentral": RegionFacts(True, False),
    "italynorth": RegionFacts(True, False),
    "spaincentral": RegionFacts(True, False),
    # Asia Pacific
    "eastasia": RegionFacts(True, True),
    "southeastasia": RegionFacts(True, True),
    "japaneast": RegionFacts(True, True),
    "japanwest": RegionFacts(True, True),
    "koreacentral": RegionFacts(True, True),
    "koreasouth": RegionFacts(False, True),
    "centralindia": RegionFacts(True, True),
    "southindia": RegionFacts(False, True),
    "westindia": RegionFacts(False, True),
    "australiaeast": RegionFacts(True, True),
    "australiasoutheast": RegionFacts(False, True),
    "australiacentral": RegionFacts(False, True),
    "newzealandnorth": RegionFacts(True, False),
    "indonesiacentral": RegionFacts(True, False),
    "malaysiawest": RegionFacts(True, False),
    # Middle East and Africa
    "uaenorth": RegionFacts(True, True),
    "qatarcentral": RegionFacts(True, False),
    "israelcentral": RegionFacts(True, False),
    "southafricanorth": RegionFacts(True, True),
}
