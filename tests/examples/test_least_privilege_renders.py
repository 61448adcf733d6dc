"""Issue 9 on the rendered examples: what the program registers for isolation, narrow grants and prod rules."""

from __future__ import annotations

import json
import re

from tests.conftest import render, render_config, stack_file
from tests.support.stacks import edit, unwrap
from tools.render import HELM_RELEASE
from tools.stackfile import load_stack

RDS = "aws:rds/instance:Instance"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
RANDOM_ID = "random:index/randomId:RandomId"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def secrets_role(rendered):
    return next(r for r in rendered.by_type(ROLE) if r.name == "secrets-reader-role")


def test_should_keep_backups_monitor_and_name_the_final_snapshot_once_per_instance():
    rendered = render(stack_file("payments-prod"))
    instance = unwrap(rendered.one(RDS).inputs)
    assert instance["deleteAutomatedBackups"] is False
    assert instance["monitoringInterval"] == 60 and instance["monitoringRoleArn"]
    assert re.fullmatch(r"payments-prod-airflow-final-[0-9a-f]{8}", instance["finalSnapshotIdentifier"]), instance
    suffix = unwrap(rendered.one(RANDOM_ID).inputs)
    assert suffix["keepers"] == {"identifier": "payments-prod-airflow"} and suffix["byteLength"] == 4
    monitoring = next(r for r in rendered.by_type(ROLE) if r.name == "metadata-db-monitoring")
    trust = json.loads(unwrap(monitoring.inputs["assumeRolePolicy"]))
    assert trust["Statement"][0]["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert unwrap(rendered.one(ATTACHMENT).inputs["policyArn"]).endswith("service-role/AmazonRDSEnhancedMonitoringRole")


def test_should_bind_kms_decrypt_to_the_stack_secrets():
    rendered = render(stack_file("payments-prod"))
    policy = json.loads(unwrap(rendered.one(ROLE_POLICY, "secrets-reader-read-secrets").inputs["policy"]))
    read, decrypt = policy["Statement"]
    assert read["Resource"] == ["arn:aws:secretsmanager:eu-west-1:111122223333:secret:airflow/payments-prod/connections/*"]
    assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    assert decrypt["Condition"]["StringLike"] == {"kms:EncryptionContext:SecretARN": read["Resource"]}


def test_should_trust_named_astro_service_accounts_only():
    rendered = render(stack_file("growth-prod"))
    trust = json.loads(unwrap(secrets_role(rendered).inputs["assumeRolePolicy"]))
    for statement in trust["Statement"]:
        assert "StringLike" not in statement["Condition"], statement
        subjects = next(v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub"))
        assert all("*" not in s for s in subjects), subjects
    assert any("celestial-orbit-5123-scheduler-serviceaccount" in json.dumps(s) for s in trust["Statement"])


def test_should_bind_service_accounts_by_pod_identity_when_asked():
    base = load_stack(stack_file("payments-prod"))
    stack = edit(base, "aws", lambda aws: aws.update(identityMode="pod-identity", clusterName="eks-payments-prod"))
    rendered = render_config(stack)
    associations = [unwrap(a.inputs) for a in rendered.by_type(POD_IDENTITY)]
    accounts = {a["serviceAccount"] for a in associations}
    assert accounts == {"airflow-scheduler", "airflow-api-server", "airflow-dag-processor", "airflow-triggerer", "airflow-worker"}
    assert {a["clusterName"] for a in associations} == {"eks-payments-prod"}
    trust = json.loads(unwrap(secrets_role(rendered).inputs["assumeRolePolicy"]))
    statement = trust["Statement"][0]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert all(s["Principal"] != {"Federated": base.values["airflow-platform:aws"]["oidcProviderArn"]} for s in trust["Statement"])
    values = unwrap(rendered.one(HELM_RELEASE).inputs["values"])
    assert "eks.amazonaws.com/role-arn" not in json.dumps(values)
    same_policy = unwrap(render(stack_file("payments-prod")).one(ROLE_POLICY, "secrets-reader-read-secrets").inputs["policy"])
    assert unwrap(rendered.one(ROLE_POLICY, "secrets-reader-read-secrets").inputs["policy"]) == same_policy


def test_should_grant_remote_pods_a_custom_role_without_secrets():
    rendered = render(stack_file("research-prod"))
    definition = unwrap(rendered.one(ROLE_DEFINITION).inputs)
    actions = definition["permissions"][0]["dataActions"]
    assert sorted(actions) == sorted(
        [
            "Microsoft.ContainerService/managedClusters/pods/read",
            "Microsoft.ContainerService/managedClusters/pods/write",
            "Microsoft.ContainerService/managedClusters/pods/delete",
            "Microsoft.ContainerService/managedClusters/events/read",
        ]
    )
    assert not any("secrets" in a.lower() or "*" in a for a in actions)
    assert definition["permissions"][0]["actions"] == []
    assert definition["assignableScopes"] == ["/subscriptions/9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d/resourceGroups/rg-research-gpu"]
    grant = next(unwrap(a.inputs) for a in rendered.by_type(ROLE_ASSIGNMENT) if a.name == "remote-gpu-aks-namespace")
    assert grant["scope"].endswith("/managedClusters/aks-research-gpu/namespaces/airflow-tasks")
    assert grant["roleDefinitionId"] == "remote-gpu-aks-namespace-role-id" or grant["roleDefinitionId"].endswith(
        definition["roleDefinitionId"]
    )
