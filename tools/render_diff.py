"""One pull-request comment: the offline render of every affected stack at base and at head, diffed.

    python -m tools.render_diff --base REF [--head REF] [--out comment.md] [--full-out full.md]
                                [--max-chars 65000] [--only STACK ...]

Run it from a checkout of ``--head`` (default ``HEAD``). The stacks come from :mod:`tools.affected`
(examples included: reviewers see what a program change does to each of them). Each stack file is
read from git at both revisions and rendered with :func:`tools.render.run_program` under the
recording mocks: no cloud, no Pulumi CLI, no credentials, secrets always masked (``[secret]``).

- Head: rendered in this process with the checked-out program, imported once for every stack.
- Base, program unchanged (only stack files differ): rendered in this process as well.
- Base, program changed: ``git archive`` of the base revision into a temporary directory and one
  worker process that imports *that* program once and renders every base stack (the two programs
  cannot share ``sys.modules``). The worker uses the base revision's ``tools.render``.

The comment has, per stack: a unified diff of the Helm values of each release, and a resource table
(added, removed, changed inputs with the changed input paths, replacements). A change is shown as a
replacement when a changed path is in :data:`REPLACE_ON_CHANGE` for its type (the inputs that the
provider cannot update in place: physical names, engines, scopes), when the resource's parent (so
its URN) changes, or for ``random`` resources on any change. Paths listed in a resource's
``ignore_changes`` are shown but not counted. The rule list is deliberately small and documented
here; ``pulumi preview`` (same-repository PRs) remains the authority.

GitHub refuses comments over 65536 characters: stacks that do not fit are listed by name with a
pointer to the full comment (``--full-out``, uploaded as an artifact). Exit code 1 when a head
render fails (invalid settings or a program error; the comment still says which and why), 2 on a
usage or git error.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools import affected as affected_mod
from tools import esc, render
from tools.stackfile import ROOT, load_stack

MARKER = "<!-- airflow-platform:render-diff -->"
"""First line of the comment; the commenting workflow finds and updates the comment by it."""

GITHUB_COMMENT_LIMIT = 65536
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
MAX_DIFF_LINES = 400
"""Lines of one release's values diff shown in the comment (the full comment has them all)."""
MAX_PATHS = 12
"""Changed input paths listed per resource before "+N more"."""

ANY = "*"
REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    # AWS (pulumi-aws / Terraform ForceNew inputs of what the program registers)
    "aws:rds/instance:Instance": (
        "identifier",
        "identifierPrefix",
        "engine",
        "dbName",
        "username",
        "storageEncrypted",
        "kmsKeyId",
        "availabilityZone",
        "characterSetName",
        "snapshotIdentifier",
    ),
    "aws:rds/subnetGroup:SubnetGroup": ("name", "namePrefix"),
    "aws:rds/parameterGroup:ParameterGroup": ("name", "namePrefix", "family", "description"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "description", "vpcId"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("securityGroupId",),
    "aws:secretsmanager/secret:Secret": ("name", "namePrefix"),
    "aws:secretsmanager/secretVersion:SecretVersion": ("secretId",),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", "role"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
    # Azure (azure-native: the URL path parameters and location cannot change in place)
    "azure-native:dbforpostgresql:Server": ("serverName", "resourceGroupName", "location", "administratorLogin"),
    "azure-native:dbforpostgresql:Database": ("databaseName", "serverName", "resourceGroupName", "charset", "collation"),
    "azure-native:dbforpostgresql:Configuration": ("configurationName", "serverName", "resourceGroupName"),
    "azure-native:dbforpostgresql:FirewallRule": ("firewallRuleName", "serverName", "resourceGroupName"),
    "azure-native:keyvault:Vault": ("vaultName", "resourceGroupName", "location"),
    "azure-native:keyvault:Secret": ("secretName", "vaultName", "resourceGroupName"),
    "azure-native:managedidentity:UserAssignedIdentity": ("resourceName", "resourceGroupName", "location"),
    "azure-native:managedidentity:FederatedIdentityCredential": (
        "federatedIdentityCredentialResourceName",
        "resourceName",
        "resourceGroupName",
    ),
    "azure-native:authorization:RoleAssignment": ("roleAssignmentName", "scope", "principalId", "roleDefinitionId"),
    # Kubernetes (immutable identity; a Secret's type and a PVC's spec cannot change in place)
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
    "kubernetes:core/v1:Secret": ("metadata.name", "metadata.namespace", "type"),
    "kubernetes:core/v1:PersistentVolumeClaim": ("metadata.name", "metadata.namespace", "spec"),
    # random: every input is replace-on-change
    "random:index/randomPassword:RandomPassword": (ANY,),
    "random:index/randomBytes:RandomBytes": (ANY,),
}
"""Input paths (prefixes) whose change makes the provider replace the resource, per type token."""

REPLACE_ON_CHANGE_PREFIXES: dict[str, tuple[str, ...]] = {
    "kubernetes:": ("metadata.name", "metadata.namespace"),
    "random:": (ANY,),
}
"""Fallback rules by type-token prefix, for types not listed in :data:`REPLACE_ON_CHANGE`."""


# --------------------------------------------------------------------------- rendering
def registrations_document(rendered: Any, mask: Callable[[Any, bool], Any]) -> list[dict[str, Any]]:
    """Every registration as plain JSON data, secrets masked (also runs inside the base worker)."""
    return [
        {
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "inputs": mask(r.inputs, False),
            "protect": bool(getattr(r, "protect", False)),
            "ignore_changes": list(getattr(r, "ignore_changes", []) or []),
        }
        for r in rendered.registrations
    ]


_WORKER = """from __future__ import annotations
import json, sys, traceback
from pathlib import Path
root, jobs, out = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3])
sys.path.insert(0, str(root))
from tools import render
from tools.stackfile import load_stack
{function}
results = {{}}
for name, path in jobs.items():
    try:
        rendered = render.run_program(load_stack(Path(path), root), root)
        results[name] = {{"resources": registrations_document(rendered, render.mask),
                          "outputs": rendered.outputs_document(False)}}
    except Exception as error:
        results[name] = {{"error": f"{{type(error).__name__}}: {{error}}".strip()}}
out.write_text(json.dumps(results))
"""


@dataclass
class StackRender:
    """One stack rendered at one revision (or why it could not be)."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackRender:
        return cls(resources=data.get("resources", []), outputs=data.get("outputs", {}), error=data.get("error"))

    def by_key(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["type"], r["name"]): r for r in self.resources}

    def helm_values(self) -> dict[str, Any]:
        return {r["name"]: r["inputs"].get("values", {}) for r in self.resources if r["type"] == HELM_RELEASE}


def render_in_process(stack_file: Path, root: Path = ROOT) -> StackRender:
    """Render one stack file with the program already importable from ``root`` (this checkout)."""
    try:
        read = esc.file_reader(stack_file.parent.parent)  # the revision's environments (write_stack_files), no other
        rendered = render.run_program(
            load_stack(stack_file, root, read), root, allow_unset_secrets=True
        )  # a new team sets its secrets after the PR
    except render.SettingsError as error:
        return StackRender(error=f"invalid stack settings: {error}")
    except Exception as error:  # a program bug must show up in the comment, not kill the other stacks
        return StackRender(error=f"{type(error).__name__}: {error}".strip())
    return StackRender(resources=registrations_document(rendered, render.mask), outputs=rendered.outputs_document(False))


class Worker:
    """Render stack files with the program at ``program_root`` in one fresh Python process.

    The process starts in the constructor and is collected by :meth:`results`, so the base
    revision renders in parallel with the head rendering in this process.
    """

    def __init__(self, program_root: Path, stack_files: dict[str, Path], workdir: Path) -> None:
        self.stack_files = stack_files
        workdir.mkdir(parents=True, exist_ok=True)
        jobs, self.out = workdir / "jobs.json", workdir / "out.json"
        jobs.write_text(json.dumps({name: str(path) for name, path in stack_files.items()}))
        code = _WORKER.format(function=inspect.getsource(registrations_document))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(program_root), str(jobs), str(self.out)],
            cwd=program_root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def results(self) -> dict[str, StackRender]:
        _, stderr = self.process.communicate()
        if self.process.returncode != 0 or not self.out.exists():
            reason = (stderr.strip().splitlines() or ["no output"])[-1]
            return {name: StackRender(error=f"the program at this revision could not be run: {reason}") for name in self.stack_files}
        return {name: StackRender.from_json(data) for name, data in json.loads(self.out.read_text()).items()}


def export_revision(repo: Path, rev: str, dest: Path) -> None:
    """Write the tree of ``rev`` into ``dest`` (no worktree bookkeeping in the repository)."""
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", rev], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")


def write_stack_files(repo: Path, rev: str, paths: dict[str, str], dest: Path) -> dict[str, Path]:
    """``git show`` each stack file of ``rev`` into ``dest/config`` (keeping its file name: it names the stack),
    and the ESC environment definitions of ``rev`` into ``dest/environments``, where :func:`render_in_process`
    (and ``load_stack``) read them: each revision renders with its own environments."""
    written = {}
    (dest / "config").mkdir(parents=True, exist_ok=True)
    for stack, path in paths.items():
        target = dest / "config" / Path(path).name
        target.write_text(affected_mod.read_at(repo, rev, path))
        written[stack] = target
    for path in sorted(affected_mod.files_at(repo, rev)):
        if esc.env_ref(path):
            (dest / path).parent.mkdir(parents=True, exist_ok=True)
            (dest / path).write_text(affected_mod.read_at(repo, rev, path))
    return written


# --------------------------------------------------------------------------- diffing
MISSING = object()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of a JSON value: ``a.b[0].c`` -> leaf (empty containers are leaves)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    a, b = flatten(before), flatten(after)
    return sorted(path for path in set(a) | set(b) if a.get(path, MISSING) != b.get(path, MISSING))


def _covers(prefix: str, path: str) -> bool:
    return prefix == ANY or path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def replace_rules(type_token: str) -> tuple[str, ...]:
    if type_token in REPLACE_ON_CHANGE:
        return REPLACE_ON_CHANGE[type_token]
    for prefix, rules in REPLACE_ON_CHANGE_PREFIXES.items():
        if type_token.startswith(prefix):
            return rules
    return ()


@dataclass
class ResourceChange:
    action: str
    """``add``, ``remove``, ``update`` or ``replace``."""
    type: str
    name: str
    paths: list[str] = field(default_factory=list)
    replace_paths: list[str] = field(default_factory=list)
    ignored_paths: list[str] = field(default_factory=list)
    protect: bool = False


@dataclass
class ValuesDiff:
    release: str
    lines: list[str]
    added: int
    removed: int


@dataclass
class StackDiff:
    stack: str
    environment: str
    change: str
    example: bool
    base_error: str | None = None
    head_error: str | None = None
    new_stack: bool = False
    values: list[ValuesDiff] = field(default_factory=list)
    resources: list[ResourceChange] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {"add": 0, "remove": 0, "update": 0, "replace": 0}
        for change in self.resources:
            counts[change.action] += 1
        return counts

    @property
    def unchanged(self) -> bool:
        return not (self.head_error or self.base_error or self.values or self.resources or self.outputs)


def diff_resources(base: StackRender | None, head: StackRender) -> list[ResourceChange]:
    before = base.by_key() if base and not base.error else {}
    after = head.by_key()
    changes = []
    for key in sorted(set(before) | set(after)):
        type_token, name = key
        old, new = before.get(key), after.get(key)
        if old is None:
            changes.append(ResourceChange("add", type_token, name))
            continue
        if new is None:
            changes.append(ResourceChange("remove", type_token, name, protect=old.get("protect", False)))
            continue
        paths = changed_paths(old["inputs"], new["inputs"])
        ignore = new.get("ignore_changes") or []
        ignored = [p for p in paths if any(_covers(i, p) for i in ignore)]
        counted = [p for p in paths if p not in ignored]
        if old.get("parent") != new.get("parent"):
            counted.insert(0, f"(parent {old.get('parent')} -> {new.get('parent')})")
        if not counted:
            if ignored:
                changes.append(ResourceChange("update", type_token, name, ignored_paths=ignored))
            continue
        rules = replace_rules(type_token)
        replace = [p for p in counted if p.startswith("(parent") or any(_covers(rule, p) for rule in rules)]
        action = "replace" if replace else "update"
        changes.append(ResourceChange(action, type_token, name, counted, replace, ignored, protect=new.get("protect", False)))
    return [c for c in changes if c.paths or c.action in ("add", "remove", "replace")]


def diff_values(base: StackRender | None, head: StackRender, stack: str) -> list[ValuesDiff]:
    before = base.helm_values() if base and not base.error else {}
    after = head.helm_values()
    diffs = []
    for release in sorted(set(before) | set(after)):
        old = yaml.safe_dump(before[release], sort_keys=True).splitlines() if release in before else []
        new = yaml.safe_dump(after[release], sort_keys=True).splitlines() if release in after else []
        lines = list(difflib.unified_diff(old, new, f"base/{stack}/{release}", f"head/{stack}/{release}", lineterm="", n=3))
        if lines:
            added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
            removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
            diffs.append(ValuesDiff(release, lines, added, removed))
    return diffs


def diff_stack(entry: affected_mod.StackEntry, base: StackRender | None, head: StackRender) -> StackDiff:
    result = StackDiff(entry.stack, entry.environment, entry.change, entry.example, new_stack=base is None)
    if base is not None and base.error:
        result.base_error = base.error
    if head.error:
        result.head_error = head.error
        return result
    result.values = diff_values(base, head, entry.stack)
    result.resources = diff_resources(base, head)
    if base is not None and not base.error:
        result.outputs = changed_paths(base.outputs, head.outputs)
    return result


# --------------------------------------------------------------------------- markdown
def fence(text: str, info: str = "") -> str:
    """A code block whose fence is longer than any backtick run inside (PR content cannot break out)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def code(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}" if ticks == "`" else f"{ticks} {text} {ticks}"


ACTION_LABEL = {"add": "+ add", "remove": "- remove", "update": "~ update", "replace": "± **replace**"}


def summary_cells(diff: StackDiff) -> tuple[str, str]:
    if diff.head_error:
        return "—", "❌ render failed"
    values = ", ".join(f"+{v.added} −{v.removed}" for v in diff.values) or "no change"
    c = diff.counts
    parts = [f"+{c['add']}" if c["add"] else "", f"−{c['remove']}" if c["remove"] else ""]
    parts += [f"~{c['update']}" if c["update"] else "", f"±{c['replace']} replace" if c["replace"] else ""]
    return values, " ".join(p for p in parts if p) or "no change"


def stack_section(diff: StackDiff, open_details: bool, max_diff_lines: int | None) -> str:
    label = f"{diff.stack}</b> ({diff.environment}{', example' if diff.example else ''}"
    label += ", new stack)" if diff.new_stack else ")"
    values, resources = summary_cells(diff)
    out = [f"<details{' open' if open_details else ''}><summary><b>{label}: values {values}; resources {resources}</summary>", ""]
    if diff.head_error:
        out += ["**The head revision does not render:**", "", fence(diff.head_error), ""]
    if diff.base_error:
        out += ["The base revision did not render, so everything is compared with nothing:", "", fence(diff.base_error), ""]
    for v in diff.values:
        lines = v.lines
        if max_diff_lines is not None and len(lines) > max_diff_lines:
            lines = [*lines[:max_diff_lines], f"... {len(v.lines) - max_diff_lines} more lines (see the full comment artifact)"]
        out += [f"**Helm values** of release {code(v.release)} (+{v.added} −{v.removed} lines)", "", fence("\n".join(lines), "diff"), ""]
    if diff.resources:
        out += ["**Resources**", "", "| Action | Type | Name | Changed inputs |", "|---|---|---|---|"]
        for change in diff.resources:
            paths = [f"**{code(p)}**" if p in change.replace_paths else code(p) for p in change.paths[:MAX_PATHS]]
            if len(change.paths) > MAX_PATHS:
                paths.append(f"+{len(change.paths) - MAX_PATHS} more")
            if change.ignored_paths:
                paths.append("ignored (`ignore_changes`): " + ", ".join(code(p) for p in change.ignored_paths[:MAX_PATHS]))
            if change.action == "remove" and change.protect:
                paths.append("protected: `pulumi up` will refuse to delete it")
            if change.action == "replace" and change.protect:
                paths.append("protected: `pulumi up` will refuse to replace it")
            out.append(f"| {ACTION_LABEL[change.action]} | {code(change.type)} | {code(change.name)} | {', '.join(paths)} |")
        out.append("")
    if diff.outputs:
        out += ["**Stack outputs changed:** " + ", ".join(code(o) for o in diff.outputs[:MAX_PATHS]), ""]
    out += ["</details>", ""]
    return "\n".join(out)


def comment(
    affected: affected_mod.Affected,
    diffs: list[StackDiff],
    max_chars: int | None = GITHUB_COMMENT_LIMIT - 536,
) -> str:
    """The markdown comment; with ``max_chars`` stacks that do not fit are named, not shown."""
    short = (affected.base or "")[:7] or "none"
    changed = [d for d in diffs if not d.unchanged]
    unchanged = [d for d in diffs if d.unchanged]
    head = [
        MARKER,
        f"### Offline render: {len(diffs)} affected stack{'s' if len(diffs) != 1 else ''}, {len(changed)} with changes",
        "",
        f"Base `{short}` → head `{affected.head[:7]}`. "
        + (
            "Program code changed ("
            + ", ".join(code(p) for p in affected.program_files[:8])
            + ("…" if len(affected.program_files) > 8 else "")
            + "), so every stack is affected. "
            if affected.program_files
            else ""
        )
        + "Rendered offline under Pulumi mocks (no cloud, no credentials); secrets show as `[secret]`, so a changed secret value is not visible. "
        "**Bold** input paths force a replacement. Example stacks are rendered but never deployed.",
        "",
    ]
    if changed:
        head += ["| Stack | Env | Why | Helm values (lines) | Resources |", "|---|---|---|---|---|"]
        for d in changed:
            values, resources = summary_cells(d)
            name = code(d.stack) + (" *(example)*" if d.example else "")
            head.append(f"| {name} | {d.environment} | {d.change} | {values} | {resources} |")
        head.append("")
    if unchanged:
        head += [
            f"No change in {len(unchanged)} stack{'s' if len(unchanged) != 1 else ''}: " + ", ".join(code(d.stack) for d in unchanged),
            "",
        ]
    if affected.deleted:
        head += [
            "Stack files deleted (CI does not destroy stacks: run `pulumi destroy` and `pulumi stack rm` by hand): "
            + ", ".join(code(d.stack) for d in affected.deleted),
            "",
        ]
    text = "\n".join(head)
    sections = [stack_section(d, open_details=len(changed) <= 3, max_diff_lines=MAX_DIFF_LINES if max_chars else None) for d in changed]
    shown = 0
    for section in sections:
        if max_chars is not None and len(text) + len(section) > max_chars - 400:
            break
        text += "\n" + section
        shown += 1
    if shown < len(sections):
        rest = ", ".join(code(d.stack) for d in changed[shown:])
        notice = f"\n**Truncated:** GitHub comments are limited to {GITHUB_COMMENT_LIMIT} characters; not shown here: {rest}. The full comment is in the `render-diff` artifact of this run.\n"
        if max_chars is not None and len(text) + len(notice) > max_chars:
            notice = f"\n**Truncated:** {len(sections) - shown} more stacks not shown; the full comment is in the `render-diff` artifact of this run.\n"
        text += notice
    if max_chars is not None and len(text) > max_chars:
        text = text[: max_chars - 200] + "\n\n**Truncated** at the comment size limit; see the `render-diff` artifact.\n"
    return text


# --------------------------------------------------------------------------- driver
def render_diffs(
    repo: Path,
    affected: affected_mod.Affected,
    program_root: Path | None = ROOT,
) -> list[StackDiff]:
    """Render base and head of every affected stack and diff them.

    ``program_root``: the checkout of the head program, importable in this process (default: this
    repository). ``None`` renders the head in a worker from ``git archive`` too (tests, other repos).
    """
    entries = affected.stacks
    if not entries:
        return []
    with tempfile.TemporaryDirectory(prefix="render-diff-") as tmp:
        tmp_path = Path(tmp)
        head_files = write_stack_files(repo, affected.head, {e.stack: e.file for e in entries}, tmp_path / "head")
        base_tree = affected_mod.files_at(repo, affected.base) if affected.base else set()
        base_paths = {e.stack: e.file for e in entries if e.file in base_tree}
        base_files = write_stack_files(repo, affected.base, base_paths, tmp_path / "base") if base_paths else {}  # type: ignore[arg-type]

        base_worker = None
        if base_files and (affected.program_files or program_root is None):
            export_revision(repo, affected.base, tmp_path / "base-program")  # type: ignore[arg-type]
            base_worker = Worker(tmp_path / "base-program", base_files, tmp_path / "base-worker")

        if program_root is None:
            export_revision(repo, affected.head, tmp_path / "head-program")
            heads = Worker(tmp_path / "head-program", head_files, tmp_path / "head-worker").results()
        else:
            heads = {stack: render_in_process(path, program_root) for stack, path in head_files.items()}

        if base_worker is not None:
            bases = base_worker.results()
        else:
            bases = {stack: render_in_process(path, program_root or ROOT) for stack, path in base_files.items()}

    return [diff_stack(e, bases.get(e.stack), heads[e.stack]) for e in entries]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="base revision (e.g. the PR's base commit)")
    parser.add_argument("--head", default="HEAD", help="head revision; run from its checkout (default HEAD)")
    parser.add_argument("--only", action="append", default=[], help="only this stack (repeatable)")
    parser.add_argument("--out", type=Path, help="write the comment here (default: stdout)")
    parser.add_argument("--full-out", type=Path, help="also write the untruncated comment here")
    parser.add_argument("--max-chars", type=int, default=GITHUB_COMMENT_LIMIT - 536, help="size cap of --out")
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    try:
        repo = affected_mod.repo_root(args.repo)
        only = [s.strip() for s in args.only if s.strip()]
        affected = affected_mod.compute(repo, args.base, args.head, only=only)
    except affected_mod.AffectedError as error:
        print(f"error: {error}", file=sys.stderr)
        text = f"{MARKER}\n### Offline render: the affected stacks could not be determined\n\n{fence(str(error))}\n"
        for path in (args.out, args.full_out):
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        return 2
    diffs = render_diffs(repo, affected)
    text = comment(affected, diffs, args.max_chars)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    if args.full_out:
        args.full_out.parent.mkdir(parents=True, exist_ok=True)
        args.full_out.write_text(comment(affected, diffs, None))
    failed = [d.stack for d in diffs if d.head_error]
    if failed:
        print(f"error: head render failed for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
