"""Celery test stacks: the prod examples of both clouds switched to CeleryExecutor with the managed broker.

No example stack uses Celery yet; these variants show what a stack file adds to get one: ``executor:
CeleryExecutor`` (the managed Redis is the default) and, on Azure, ``azure.redisNetwork`` (private endpoint
subnet and the ``privatelink.redis.cache.windows.net`` zone).
"""

from __future__ import annotations

from tests.conftest import stack_file
from tests.support.stacks import edit, with_values
from tools.stackfile import StackConfig, load_stack

NETWORK = "/subscriptions/9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d/resourceGroups/rg-research-prod-net/providers/Microsoft.Network"
REDIS_NETWORK = {
    "subnetId": f"{NETWORK}/virtualNetworks/vnet-research-prod/subnets/private-endpoints",
    "privateDnsZoneId": f"{NETWORK}/privateDnsZones/privatelink.redis.cache.windows.net",
}
BASE = {"aws": "payments-prod", "azure": "research-prod"}
DEV_BASE = {"aws": "payments-dev", "azure": "research-dev"}


def celery_stack(cloud: str, *, dev: bool = False, redis_network: bool = True, **changes) -> StackConfig:
    """The prod (or dev) example of ``cloud`` with CeleryExecutor, the managed broker and ``changes``
    (Azure: with ``azure.redisNetwork`` unless ``redis_network`` is false)."""
    stack = with_values(load_stack(stack_file((DEV_BASE if dev else BASE)[cloud])), **{"executor": "CeleryExecutor", **changes})
    if cloud == "azure" and redis_network:
        stack = edit(stack, "azure", lambda azure: azure.setdefault("redisNetwork", dict(REDIS_NETWORK)))
    return stack
