"""CrossGuard wrappers around :mod:`guardrails.rules` (the only module that imports pulumi_policy)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from guardrails.catalog import RULES
from guardrails.contract import Resource, ResourceCheck, Rule, RuleOptions, StackCheck
from guardrails.environment import is_prod, stack_environment

PACK_NAME = "airflow-guardrails"


def enforcement_level(environment: str | None) -> EnforcementLevel:
    """Mandatory for prod stacks, advisory elsewhere (unknown environment: advisory)."""
    return EnforcementLevel.MANDATORY if is_prod(environment) else EnforcementLevel.ADVISORY


def _resource_validation(check: ResourceCheck, environment: str | None):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        options = RuleOptions(protect=bool(args.opts.protect), environment=environment)
        for message in check(args.resource_type, args.props, options):
            report_violation(message, None)

    return validate


def _stack_validation(check: StackCheck, environment: str | None):
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            Resource(r.resource_type, r.name, r.props, RuleOptions(protect=bool(r.opts.protect), environment=environment))
            for r in args.resources
        ]
        urns = {r.name: r.urn for r in args.resources}
        for name, message in check(resources):
            report_violation(message, urns.get(name))

    return validate


def build_policy(rule: Rule, environment: str | None) -> Policy:
    if rule.resource_check is not None:
        return ResourceValidationPolicy(
            name=rule.name, description=rule.description, validate=_resource_validation(rule.resource_check, environment)
        )
    assert rule.stack_check is not None
    return StackValidationPolicy(name=rule.name, description=rule.description, validate=_stack_validation(rule.stack_check, environment))


def build_policies(environment: str | None = None) -> list[Policy]:
    return [build_policy(rule, environment) for rule in RULES]


def pack_arguments(environment: str | None = None) -> dict:
    """Keyword arguments of ``PolicyPack`` for a stack of ``environment`` (default: read from the process)."""
    environment = stack_environment() if environment is None else environment
    return {
        "name": PACK_NAME,
        "policies": build_policies(environment),
        "enforcement_level": enforcement_level(environment),
        "description": f"Airflow platform guardrails ({len(RULES)} rules); environment {environment or 'unknown'}",
    }
