"""Pulumi mocks that record every registration and answer like the real providers.

``RecordingMonitor`` extends Pulumi's ``MockMonitor`` to keep what the stock
mocks drop: the parent of each resource and the engine's treatment of
``additional_secret_outputs`` (those outputs come back as secrets, exactly as
the engine returns them). ``RecordingMocks`` fabricates outputs with the shape
of the real ones (ARNs, endpoints, resource ids, client ids) from a stable hash
of the resource name, so two renders of the same stack are identical.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await


@dataclass
class Registration:
    """One registered resource as the program handed it to the engine."""

    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    custom: bool
    protect: bool
    ignore_changes: list[str]
    additional_secret_outputs: list[str]
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    depends_on: list[str] = field(default_factory=list)
    """Names of the resources this one waits for (explicit ``depends_on`` and those its inputs come from)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the mocked provider answered (secret outputs wrapped as secrets)."""
    invented: dict[str, Any] = field(default_factory=dict)
    """The id and outputs the mocks made up (not inputs): in a real ``pulumi up`` the cloud decides them."""


@dataclass
class MockContext:
    """Account-level facts the fabricated outputs need."""

    aws_region: str = "us-east-1"
    aws_account_id: str = "123456789012"
    aws_partition: str = "aws"
    azure_subscription_id: str = "00000000-0000-0000-0000-000000000000"
    azure_tenant_id: str = "00000000-0000-0000-0000-000000000000"
    calls: list[str] = field(default_factory=list)


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _uuid(*parts: str) -> str:
    h = _digest(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _random_seed(kind: str, name: str, inputs: dict[str, Any]) -> str:
    """Seed of a fabricated random value: the resource name, and its ``keepers`` when set (as the provider
    makes a new value when they change)."""
    keepers = inputs.get("keepers")
    return _digest(kind, name) if not keepers else _digest(kind, name, json.dumps(keepers, sort_keys=True))


def _random_password(name: str, inputs: dict[str, Any]) -> str:
    """A password honouring RandomPassword's inputs (length, classes, minimums, overrideSpecial)."""
    rng = random.Random(_random_seed("password", name, inputs))
    length = int(inputs.get("length", 16))
    special_chars = inputs.get("overrideSpecial", "!@#$%&*()-_=+[]{}<>:?")
    pools: list[tuple[str, int]] = []
    if inputs.get("upper", True):
        pools.append((string.ascii_uppercase, int(inputs.get("minUpper", 0))))
    if inputs.get("lower", True):
        pools.append((string.ascii_lowercase, int(inputs.get("minLower", 0))))
    if inputs.get("numeric", True):
        pools.append((string.digits, int(inputs.get("minNumeric", 0))))
    if inputs.get("special", True):
        pools.append((special_chars, int(inputs.get("minSpecial", 0))))
    chars = [rng.choice(pool) for pool, minimum in pools for _ in range(minimum)]
    alphabet = "".join(pool for pool, _ in pools)
    chars += [rng.choice(alphabet) for _ in range(length - len(chars))]
    rng.shuffle(chars)
    return "".join(chars)


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks whose outputs look like the real providers' outputs."""

    def __init__(self, context: MockContext | None = None) -> None:
        self.context = context or MockContext()

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list | None]:
        self.context.calls.append(args.token)
        if args.token == "azure-native:redis:listRedisKeys":
            # the one function the program calls: the access keys of the cache it created (no other lookup)
            name = str(args.args.get("name"))
            key = base64.b64encode(hashlib.sha256(f"redis-key/{name}".encode()).digest()).decode()
            return {"primaryKey": key, "secondaryKey": key[::-1]}, []
        raise RuntimeError(f"the program must not call provider functions offline: {args.token}")

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items()}
        handler = getattr(self, "_" + re.sub(r"[^A-Za-z0-9]", "_", args.typ), None)
        if handler is None:
            return f"{args.name}-id", dict(args.inputs)
        resource_id, outputs = handler(args.name, inputs)
        return resource_id, {**args.inputs, **outputs}

    # ------------------------------------------------------------------ random
    def _random_index_randomPassword_RandomPassword(self, name, inputs):
        result = _random_password(name, inputs)
        return "none", {"result": result, "bcryptHash": "$2a$10$" + _digest("bcrypt", name)[:53]}

    def _random_index_randomBytes_RandomBytes(self, name, inputs):
        data = hashlib.sha512(_random_seed("bytes", name, inputs).encode()).digest()[: int(inputs.get("length", 32))]
        return "none", {"base64": base64.b64encode(data).decode(), "hex": data.hex()}

    def _random_index_randomId_RandomId(self, name, inputs):
        data = hashlib.sha512(_random_seed("id", name, inputs).encode()).digest()[: int(inputs.get("byteLength", 8))]
        b64 = base64.urlsafe_b64encode(data).decode().rstrip("=")
        return b64, {"hex": data.hex(), "b64Url": b64, "b64Std": base64.b64encode(data).decode(), "dec": str(int.from_bytes(data, "big"))}

    # ------------------------------------------------------------------ aws
    def _arn(self, service: str, resource: str, *, region: bool = True) -> str:
        c = self.context
        return f"arn:{c.aws_partition}:{service}:{c.aws_region if region else ''}:{c.aws_account_id}:{resource}"

    def _aws_ec2_securityGroup_SecurityGroup(self, name, inputs):
        sg = "sg-" + _digest("sg", name)[:17]
        return sg, {"arn": self._arn("ec2", f"security-group/{sg}"), "ownerId": self.context.aws_account_id}

    def _aws_vpc_securityGroupIngressRule_SecurityGroupIngressRule(self, name, inputs):
        rule = "sgr-" + _digest("sgr", name)[:17]
        return rule, {"arn": self._arn("ec2", f"security-group-rule/{rule}"), "securityGroupRuleId": rule}

    def _aws_rds_subnetGroup_SubnetGroup(self, name, inputs):
        group = inputs["name"]
        return group, {"arn": self._arn("rds", f"subgrp:{group}")}

    def _aws_rds_parameterGroup_ParameterGroup(self, name, inputs):
        group = inputs["name"]
        return group, {"arn": self._arn("rds", f"pg:{group}")}

    def _aws_rds_instance_Instance(self, name, inputs):
        identifier = inputs["identifier"]
        host = f"{identifier}.c{_digest('rds', self.context.aws_account_id)[:11]}.{self.context.aws_region}.rds.amazonaws.com"
        return identifier, {
            "address": host,
            "endpoint": f"{host}:5432",
            "port": inputs.get("port", 5432),
            "arn": self._arn("rds", f"db:{identifier}"),
            "resourceId": "db-" + _digest("dbi", identifier)[:26].upper(),
            "hostedZoneId": "Z2R2ITUGPM61AM",
            **(
                {
                    "masterUserSecrets": [
                        {
                            "secretArn": self._arn("secretsmanager", f"secret:rds!db-{_digest('rdssecret', identifier)[:36]}-Ab12Cd"),
                            "secretStatus": "active",
                            "kmsKeyId": inputs.get("masterUserSecretKmsKeyId") or "",
                        }
                    ]
                }
                if inputs.get("manageMasterUserPassword")
                else {}
            ),
        }

    def _aws_elasticache_replicationGroup_ReplicationGroup(self, name, inputs):
        group = inputs["replicationGroupId"]
        host = f"master.{group}.{_digest('ec', group)[:6]}.{self.context.aws_region[:3]}{self.context.aws_region[-1]}.cache.amazonaws.com"
        return group, {"arn": self._arn("elasticache", f"replicationgroup:{group}"), "primaryEndpointAddress": host}

    def _aws_elasticache_subnetGroup_SubnetGroup(self, name, inputs):
        return inputs["name"], {"arn": self._arn("elasticache", f"subnetgroup:{inputs['name']}")}

    def _aws_secretsmanager_secret_Secret(self, name, inputs):
        suffix = "".join(random.Random(_digest("sm", inputs["name"])).choices(string.ascii_letters + string.digits, k=6))
        arn = self._arn("secretsmanager", f"secret:{inputs['name']}-{suffix}")
        return arn, {"arn": arn}

    def _aws_secretsmanager_secretVersion_SecretVersion(self, name, inputs):
        version = _uuid("smv", name)
        return f"{inputs['secretId']}|{version}", {"versionId": version, "arn": inputs["secretId"]}

    def _aws_iam_role_Role(self, name, inputs):
        role = inputs["name"]
        return role, {"arn": self._arn("iam", f"role/{role}", region=False), "uniqueId": "AROA" + _digest("role", role)[:17].upper()}

    def _aws_iam_rolePolicy_RolePolicy(self, name, inputs):
        return f"{inputs['role']}:{inputs['name']}", {}

    def _aws_iam_openIdConnectProvider_OpenIdConnectProvider(self, name, inputs):
        host = inputs["url"].removeprefix("https://").rstrip("/")
        arn = self._arn("iam", f"oidc-provider/{host}", region=False)
        return arn, {"arn": arn}

    # ------------------------------------------------------------------ azure
    def _azure_id(self, inputs, provider: str, *names: str) -> str:
        return (
            f"/subscriptions/{self.context.azure_subscription_id}/resourceGroups/{inputs.get('resourceGroupName', 'rg')}"
            f"/providers/{provider}/" + "/".join(names)
        )

    def _azure_native_dbforpostgresql_Server(self, name, inputs):
        server = inputs["serverName"]
        return self._azure_id(inputs, "Microsoft.DBforPostgreSQL", "flexibleServers", server), {
            "name": server,
            "fullyQualifiedDomainName": f"{server}.postgres.database.azure.com",
            "state": "Ready",
        }

    def _azure_native_redis_Redis(self, name, inputs):
        cache = inputs["name"]
        return self._azure_id(inputs, "Microsoft.Cache", "redis", cache), {
            "hostName": f"{cache}.redis.cache.windows.net",
            "sslPort": 6380,
            "provisioningState": "Succeeded",
        }

    def _azure_native_network_PrivateEndpoint(self, name, inputs):
        endpoint = inputs["privateEndpointName"]
        return self._azure_id(inputs, "Microsoft.Network", "privateEndpoints", endpoint), {"name": endpoint}

    def _azure_native_dbforpostgresql_Database(self, name, inputs):
        return self._azure_id(
            inputs, "Microsoft.DBforPostgreSQL", "flexibleServers", inputs["serverName"], "databases", inputs["databaseName"]
        ), {"name": inputs["databaseName"]}

    def _azure_native_dbforpostgresql_Configuration(self, name, inputs):
        return self._azure_id(
            inputs, "Microsoft.DBforPostgreSQL", "flexibleServers", inputs["serverName"], "configurations", inputs["configurationName"]
        ), {}

    def _azure_native_dbforpostgresql_FirewallRule(self, name, inputs):
        return self._azure_id(
            inputs, "Microsoft.DBforPostgreSQL", "flexibleServers", inputs["serverName"], "firewallRules", inputs["firewallRuleName"]
        ), {}

    def _azure_native_keyvault_Vault(self, name, inputs):
        vault = inputs["vaultName"]
        props = dict(inputs.get("properties", {}))
        props["vaultUri"] = f"https://{vault}.vault.azure.net/"
        return self._azure_id(inputs, "Microsoft.KeyVault", "vaults", vault), {"name": vault, "properties": props}

    def _azure_native_keyvault_Secret(self, name, inputs):
        vault, secret = inputs["vaultName"], inputs["secretName"]
        uri = f"https://{vault}.vault.azure.net/secrets/{secret}"
        return self._azure_id(inputs, "Microsoft.KeyVault", "vaults", vault, "secrets", secret), {
            "name": secret,
            "properties": {
                **inputs.get("properties", {}),
                "secretUri": uri,
                "secretUriWithVersion": f"{uri}/{_digest('kvv', secret)[:32]}",
            },
        }

    def _azure_native_managedidentity_UserAssignedIdentity(self, name, inputs):
        identity = inputs["resourceName"]
        return self._azure_id(inputs, "Microsoft.ManagedIdentity", "userAssignedIdentities", identity), {
            "name": identity,
            "clientId": _uuid("client", identity),
            "principalId": _uuid("principal", identity),
            "tenantId": self.context.azure_tenant_id,
        }

    def _azure_native_managedidentity_FederatedIdentityCredential(self, name, inputs):
        return self._azure_id(
            inputs,
            "Microsoft.ManagedIdentity",
            "userAssignedIdentities",
            inputs["resourceName"],
            "federatedIdentityCredentials",
            inputs["federatedIdentityCredentialResourceName"],
        ), {}

    def _azure_native_authorization_RoleAssignment(self, name, inputs):
        return f"{inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{inputs['roleAssignmentName']}", {}

    # ------------------------------------------------------------------ kubernetes
    def _k8s(self, inputs):
        meta = dict(inputs.get("metadata", {}))
        ns = meta.get("namespace")
        return (f"{ns}/{meta['name']}" if ns else meta["name"]), {"metadata": {**meta, "uid": _uuid("uid", str(meta))}}

    def _kubernetes_core_v1_Namespace(self, name, inputs):
        return self._k8s(inputs)

    def _kubernetes_core_v1_Secret(self, name, inputs):
        return self._k8s(inputs)

    def _kubernetes_core_v1_PersistentVolumeClaim(self, name, inputs):
        return self._k8s(inputs)

    def _kubernetes_helm_sh_v3_Release(self, name, inputs):
        return f"{inputs['namespace']}/{inputs['name']}", {
            "status": {
                "name": inputs["name"],
                "namespace": inputs["namespace"],
                "chart": inputs["chart"],
                "version": inputs["version"],
                "revision": 1,
                "status": "deployed",
            },
        }


def _changed(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``outputs`` that are not the inputs handed back (nested dicts compared key by key)."""
    changed: dict[str, Any] = {}
    for key, value in outputs.items():
        given = inputs.get(key)
        if isinstance(value, dict) and isinstance(given, dict):
            if inner := _changed(value, given):
                changed[key] = inner
        elif key not in inputs or value != given:
            changed[key] = value
    return changed


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that records parents and options and applies ``additional_secret_outputs``."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        urn = self.make_urn(request.parent, request.type, request.name)
        pulumi_mocks._ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        parent = None
        if request.parent and not request.parent.split("::")[-2].endswith("pulumi:pulumi:Stack"):
            parent = request.parent.split("::")[-1]
        registration = Registration(
            type=request.type,
            name=request.name,
            parent=parent,
            inputs=inputs,
            custom=request.custom,
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            delete_before_replace=bool(request.deleteBeforeReplace),
            retain_on_delete=bool(request.retainOnDelete),
            depends_on=sorted({urn.split("::")[-1] for urn in request.dependencies}),
        )
        self.registrations.append(registration)
        resource_args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        resource_id, state = self.mocks.new_resource(resource_args)
        for key in request.additionalSecretOutputs:
            if key in state and not rpc.is_rpc_secret(state[key]):
                state[key] = rpc.wrap_rpc_secret(state[key])
        registration.outputs = state
        registration.invented = {"id": resource_id, **_changed(state, inputs)}
        obj = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=obj)
