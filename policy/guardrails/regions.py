"""Azure regions where PostgreSQL Flexible Server offers geo-redundant backups (the region has a pair).

A copy of the ``geo_backup`` column of ``components/azure_regions.py``: the policy
pack is published and run on its own (``policy/`` only), so it cannot import the
program. ``tests/project/test_policy_pack.py`` holds the two equal.
"""

from __future__ import annotations

PAIRED_REGIONS: frozenset[str] = frozenset(
    {
        "australiacentral",
        "australiaeast",
        "australiasoutheast",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "japaneast",
        "japanwest",
        "koreacentral",
        "koreasouth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "southafricanorth",
        "southcentralus",
        "southeastasia",
        "southindia",
        "swedencentral",
        "switzerlandnorth",
        "switzerlandwest",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
    }
)
