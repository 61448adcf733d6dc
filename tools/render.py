"""Offline render: run the real program under Pulumi mocks for one stack file.

    python -m tools.render config/Pulumi.<stack>.yaml --out DIR [--show-secrets] [--allow-unset-secrets]

Writes ``DIR/resources.json`` (every registered resource: type, name, parent,
inputs, the options ``pulumi up`` acts on, and the id and outputs the mocks
invented), ``DIR/values.yaml`` (the values handed to the Helm release, headed
by the paths whose values the mocks invented) and ``DIR/outputs.json`` (stack
outputs). Anything that is, or derives from, a Pulumi secret is written as
``"[secret]"`` unless ``--show-secrets``. Invalid settings: exit code 2, one
line on stderr, and none of the three files left in ``DIR`` (not even from an
earlier run).

A secret the stack needs but whose config key is absent (a new stack before
``pulumi config set --secret``) is refused like ``pulumi up`` refuses it, unless
``--allow-unset-secrets``: then each such key (a ``secretFields`` key of a
``secretSource: config`` connection, ``astroAgentToken``, ``astroRegistryToken``)
gets the offline stand-in ``offline-unset-<key>``, still marked secret, and
``values.yaml`` opens with a line naming them (``# UNSET SECRETS ...``). A key
present in plain text is refused either way. ``pulumi up`` never takes this path:
``components/settings/loader.py`` keeps refusing unset secrets.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.settings.errors import SettingsError
from components.settings.loader import load_settings, secret_keys_wanted
from tools.mocks import MockContext, RecordingMocks, RecordingMonitor, Registration
from tools.stackfile import ROOT, StackConfig, load_stack, unset_placeholder

MASK = "[secret]"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass
class Rendered:
    """Everything one run of the program registered and exported."""

    stack: StackConfig
    registrations: list[Registration]
    outputs: dict[str, tuple[Any, bool]]
    """Output name -> (value, is_secret)."""
    unset_secrets: tuple[str, ...] = ()
    """Secret config keys that were absent and got an offline stand-in (``--allow-unset-secrets``)."""

    def by_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Registration:
        found = [r for r in self.by_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_token} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def helm_values(self, show_secrets: bool = False) -> list[Any]:
        return [mask(r.inputs.get("values", {}), show_secrets) for r in self.by_type(HELM_RELEASE)]

    def resources_document(self, show_secrets: bool = False) -> list[dict[str, Any]]:
        return [
            {
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "inputs": mask(r.inputs, show_secrets),
                "options": {
                    "protect": r.protect,
                    "retainOnDelete": r.retain_on_delete,
                    "ignoreChanges": sorted(r.ignore_changes),
                    "deleteBeforeReplace": r.delete_before_replace,
                    "dependsOn": r.depends_on,
                },
                INVENTED: mask(r.invented, show_secrets),
            }
            for r in sorted(self.registrations, key=lambda r: (r.parent or "", r.type, r.name))
        ]

    def invented_value_paths(self) -> list[str]:
        """Paths in the Helm values whose text contains an id or output the mocks invented."""
        given = json.dumps(self.stack.values)  # what the stack itself says is not invented (account ids, regions)
        invented = {
            text
            for r in self.registrations
            if r.type != HELM_RELEASE
            for text in _strings(mask(r.invented, True))
            if len(text) >= 8 and text not in given
        }
        paths: list[str] = []
        for i, values in enumerate(self.helm_values(show_secrets=True)):
            for path, text in _leaves(values, f"[{i}]" if len(self.by_type(HELM_RELEASE)) > 1 else ""):
                if any(fake in text for fake in invented):
                    paths.append(path)
        return sorted(paths)

    def outputs_document(self, show_secrets: bool = False) -> dict[str, Any]:
        return {k: (mask(v, True) if show_secrets or not secret else MASK) for k, (v, secret) in sorted(self.outputs.items())}


INVENTED = "inventedByMocks"
"""Key of what the offline mocks made up (ids, endpoints, ARNs, client ids); ``pulumi up`` gets real ones."""


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _leaves(value: Any, path: str) -> list[tuple[str, str]]:
    """(path, text) of every string leaf, the path in ``a.b[0].c`` form."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, str) else []


def mask(value: Any, show_secrets: bool) -> Any:
    """Replace every secret-marked value (as the engine sees it) with :data:`MASK`.

    Numbers cross the engine as doubles; integral ones are written back as
    integers, as the YAML/JSON the user wrote had them.
    """
    if rpc.is_rpc_secret(value):
        return mask(rpc.unwrap_rpc_secret(value), True) if show_secrets else MASK
    if isinstance(value, dict):
        return {k: mask(v, show_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, show_secrets) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def mock_context(stack: StackConfig) -> MockContext:
    """Account facts for the fabricated outputs, read from the stack's own settings."""
    values = stack.project_values()
    context = MockContext()
    if isinstance(stack.values.get("aws:region"), str):
        context.aws_region = stack.values["aws:region"]
    aws = values.get("aws")
    if isinstance(aws, dict) and isinstance(aws.get("oidcProviderArn"), str):
        parts = aws["oidcProviderArn"].split(":")
        if len(parts) > 4:
            context.aws_partition, context.aws_account_id = parts[1], parts[4]
    azure = values.get("azure")
    if isinstance(azure, dict):
        context.azure_subscription_id = str(azure.get("subscriptionId", context.azure_subscription_id))
        context.azure_tenant_id = str(azure.get("tenantId", context.azure_tenant_id))
    return context


def _configure(stack: StackConfig, monitor: RecordingMonitor | None) -> RecordingMonitor:
    """Hand the runtime ``stack``'s config and the recording mocks, as the CLI would start the program."""
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config(stack.wire_config(), sorted(stack.secret_keys))
    monitor = monitor or RecordingMonitor(RecordingMocks(mock_context(stack)))
    pulumi.runtime.set_mocks(monitor.mocks, project=stack.project, stack=stack.stack, preview=False, monitor=monitor)
    return monitor


def with_unset_secrets(stack: StackConfig) -> tuple[StackConfig, tuple[str, ...]]:
    """``stack`` plus an offline stand-in, marked secret, for each secret key its settings need and it lacks.

    The keys needed are the ones ``load_secret_inputs`` asks for (same function). Settings that do not
    validate are returned unchanged: the program run then reports them as it would without this step.
    """
    _configure(stack, None)
    try:
        wanted = secret_keys_wanted(load_settings())
    except SettingsError:
        return stack, ()
    prefix = f"{stack.project}:"
    unset = tuple(sorted(key for key in wanted if f"{prefix}{key}" not in stack.values))
    if not unset:
        return stack, ()
    values = {**stack.values, **{f"{prefix}{key}": unset_placeholder(key) for key in unset}}
    secret = stack.secret_keys | {f"{prefix}{key}" for key in unset}
    return replace(stack, values=values, secret_keys=frozenset(secret)), unset


def run_program(
    stack: StackConfig,
    root: Path = ROOT,
    monitor: RecordingMonitor | None = None,
    *,
    allow_unset_secrets: bool = False,
) -> Rendered:
    """Run ``__main__.py`` under mocks with ``stack``'s config; raises SettingsError on bad settings.

    Pass ``monitor`` to inspect what was registered even when the program fails. With
    ``allow_unset_secrets``, absent secret keys get offline stand-ins (:func:`with_unset_secrets`).
    """
    unset: tuple[str, ...] = ()
    if allow_unset_secrets:
        stack, unset = with_unset_secrets(stack)
    monitor = _configure(stack, monitor)

    def program() -> None:
        runpy.run_path(str(root / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    exported = runtime_settings.get_root_resource().outputs
    outputs: dict[str, tuple[Any, bool]] = {}
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        outputs[key] = (_sync_await(output.future()), _sync_await(output.is_secret()))
    return Rendered(stack=stack, registrations=monitor.registrations, outputs=outputs, unset_secrets=unset)


OUTPUT_FILES = ("resources.json", "values.yaml", "outputs.json")


def clear(out: Path) -> None:
    """Remove what an earlier render wrote to ``out`` (and nothing else)."""
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)


def write(rendered: Rendered, out: Path, show_secrets: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    clear(out)
    (out / "resources.json").write_text(json.dumps(rendered.resources_document(show_secrets), indent=2, sort_keys=True) + "\n")
    values = rendered.helm_values(show_secrets)
    invented = rendered.invented_value_paths()
    header = "".join(
        ["# Rendered offline under mocks. These values hold ids or endpoints the mocks invented; pulumi up uses the real ones:\n"]
        + [f"#   {path}\n" for path in invented]
    )
    body = yaml.safe_dump(values[0] if len(values) == 1 else values, sort_keys=True)
    (out / "values.yaml").write_text(unset_header(rendered.unset_secrets) + (header if invented else "") + body)
    (out / "outputs.json").write_text(json.dumps(rendered.outputs_document(show_secrets), indent=2, sort_keys=True) + "\n")


def unset_header(unset: tuple[str, ...]) -> str:
    """The line that opens ``values.yaml`` when secrets were stood in for; empty when none were."""
    if not unset:
        return ""
    return (
        f"# UNSET SECRETS (offline stand-ins 'offline-unset-<key>'; pulumi up refuses until each is set with "
        f"pulumi config set --secret <key> <value>): {', '.join(unset)}\n"
    )


ALLOW_HINT = "; to render before the secrets are set: --allow-unset-secrets"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack_file", type=Path, help="config/Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, required=True, help="directory for resources.json, values.yaml, outputs.json")
    parser.add_argument("--show-secrets", action="store_true", help="write secret values in clear")
    parser.add_argument(
        "--allow-unset-secrets",
        action="store_true",
        help="render a stack whose secret config keys are not set yet, with marked offline stand-ins",
    )
    args = parser.parse_args(argv)
    try:
        stack = load_stack(args.stack_file)  # StackFileError is a SettingsError
        rendered = run_program(stack, allow_unset_secrets=args.allow_unset_secrets)
    except SettingsError as error:
        clear(args.out)
        text = str(error)
        hint = ALLOW_HINT if "pulumi config set --secret" in text and not args.allow_unset_secrets else ""
        print(f"error: {text}{hint}", file=sys.stderr)
        return 2
    write(rendered, args.out, args.show_secrets)
    print(summary(rendered, args.out))
    return 0


def summary(rendered: Rendered, out: Path | str) -> str:
    """The one line a successful render prints."""
    line = f"{rendered.stack.stack}: {len(rendered.registrations)} resources, {len(rendered.outputs)} outputs -> {out}"
    if rendered.unset_secrets:
        line += f"; UNSET SECRETS (offline stand-ins): {', '.join(rendered.unset_secrets)}"
    return line


if __name__ == "__main__":
    sys.exit(main())
