"""A security group that admits only the EKS cluster's security group on one TCP port (databases, caches)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def cluster_only_security_group(
    name: str,
    *,
    group_name: str,
    port: int,
    vpc_id: pulumi.Input[str],
    client_security_group_id: pulumi.Input[str],
    description: str,
    rule_description: str,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ec2.SecurityGroup:
    """``<name>-sg`` (named ``group_name``) and its one ingress rule ``<name>-from-cluster``: TCP ``port`` from
    ``client_security_group_id`` only. ``opts`` (the caller's ``parent=self``) goes to both resources."""
    group = aws.ec2.SecurityGroup(f"{name}-sg", name=group_name, vpc_id=vpc_id, description=description, tags=tags, opts=opts)
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-from-cluster",
        security_group_id=group.id,
        referenced_security_group_id=client_security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=rule_description,
        opts=opts,
    )
    return group
