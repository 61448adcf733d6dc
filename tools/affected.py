"""Which stacks a change between two git revisions affects, grouped by environment for a GitHub matrix.

    python -m tools.affected --base REF [--head REF] [--changed-files FILE] [--only STACK ...] [--all]
                             [--github-output PATH]

Rules, applied to the files that differ between ``--base`` and ``--head`` (``git diff --no-renames``,
or the list in ``--changed-files``, one path a line):

- ``config/Pulumi.<stack>.yaml`` added or modified: that stack is affected (``change`` = ``added`` or
  ``modified``). Deleted: the stack is reported under ``deleted`` and never deployed (destroying a stack
  is a human decision: ``pulumi destroy`` then ``pulumi stack rm``). A rename is a delete plus an add.
- ``environments/<project>/<name>.yaml`` (a Pulumi ESC environment, :mod:`tools.esc`) added, modified
  or deleted: exactly the stacks that import it at ``--head``, directly or through other environments,
  are affected (``change`` = ``environment``). A stack's settings are read with its environments
  resolved, as the CLI would (its ``environment``, cloud and ids may all come from them).
- Program code changed (:data:`PROGRAM_PATTERNS`, plus ``tools/render.py`` and every in-repo module it
  imports, followed transitively in both revisions): every stack at ``--head`` is affected
  (``change`` = ``program`` unless its own file changed too).
- No usable base (empty, all zeros as GitHub sends for a new branch, or not a commit), or ``--all``:
  every stack is affected (``change`` = ``all``). ``--only`` restricts the result to the named stacks
  and marks them affected whatever the diff says (manual re-runs).

**Examples.** The stack files under ``config/`` that only document the program (none of them is a
real team's deployment) are listed, one stack name a line, ``#`` for comments, in
:data:`EXAMPLES_FILE` (``.github/example-stacks.txt``), read at ``--head``. A listed stack is still
rendered and diffed in pull requests (reviewers see what a program change does to every example),
but it is left out of the rollout matrices (``dev``, ``staging``, ``prod``): CI never previews,
creates or updates it in the cloud. A marker inside the stack file is not possible: the program
refuses unknown keys, and a YAML comment is too easy to lose. To onboard a real team, add its stack
file and do not list it.

**Output** (stdout, JSON)::

    {"base": "<sha>|null", "head": "<sha>", "program_changed": bool, "program_files": [...],
     "stacks":  [entry, ...],          # every affected stack, examples included, dev->staging->prod
     "deleted": [entry, ...],
     "examples": ["<stack>", ...],     # affected stacks that are examples (not rolled out)
     "rollout": {"dev": {"include": [entry, ...]}, "staging": {...}, "prod": {...}}}

An entry is ``{"stack", "file", "environment", "cloud", "change", "example", "aws_region",
"oidc_issuer", "azure_tenant_id", "azure_subscription_id", "environments"}`` (the four ids empty when
not applicable): what a job needs to log in and to find the stack's cluster by its OIDC issuer;
``environments`` lists the ESC environments the stack imports, imports first (CI pushes them to
Pulumi Cloud, in that order, before ``pulumi up``).
Each ``rollout[env]`` is usable as ``strategy.matrix: ${{ fromJSON(...) }}``. With
``--github-output`` the same is appended to that file as step outputs: ``render`` (list of
affected stack names, examples included), ``dev``/``staging``/``prod`` (matrices), ``has_dev``,
``has_staging``, ``has_prod``, ``has_any`` (``true``/``false``; an empty matrix is an error in
GitHub, so jobs test these first). A stack file without a valid ``<project>:environment`` (dev,
staging or prod) is an error (exit code 2): it could not be ordered.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools import esc, esc_config
from tools.git_revisions import GitError, changed_files, files_at, read_at, read_cached, repo_root, resolve

ENVIRONMENTS = ("dev", "staging", "prod")
"""Rollout order: every affected dev stack first, then staging, then prod."""

EXAMPLES_FILE = ".github/example-stacks.txt"
"""Stack names (one a line) of the example stack files under ``config/``; never rolled out."""

STACK_FILE = re.compile(r"^config/Pulumi\.(?P<stack>[^/]+)\.ya?ml$")

PROGRAM_PATTERNS = (
    "Pulumi.yaml",
    "__main__.py",
    "components/*",  # fnmatch's * crosses "/", so this is components/**
    "pyproject.toml",  # dependencies (uv)
    "*.lock",  # uv.lock
    "requirements.txt",
    "pylock*.toml",
)
"""Paths whose change affects every stack (the renderer and its imports are added per revision)."""

RENDERER = "tools/render.py"


class AffectedError(Exception):
    """A stack file cannot be placed in the rollout (e.g. no valid environment)."""


@dataclass(frozen=True)
class StackEntry:
    stack: str
    file: str
    environment: str
    cloud: str
    change: str
    """``added``, ``modified``, ``environment``, ``program``, ``all``, ``selected`` or ``deleted``."""
    example: bool
    aws_region: str = ""
    oidc_issuer: str = ""
    azure_tenant_id: str = ""
    azure_subscription_id: str = ""
    environments: tuple[str, ...] = ()
    """ESC environments the stack imports (``<project>/<name>``), each after the ones it imports."""


@dataclass
class Affected:
    base: str | None
    head: str
    program_changed: bool
    program_files: list[str]
    stacks: list[StackEntry] = field(default_factory=list)
    deleted: list[StackEntry] = field(default_factory=list)

    @property
    def examples(self) -> list[str]:
        return [s.stack for s in self.stacks if s.example]

    def rollout(self, environment: str) -> list[StackEntry]:
        """Affected stacks of one environment that CI deploys (examples excluded)."""
        return [s for s in self.stacks if s.environment == environment and not s.example]

    def document(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "program_changed": self.program_changed,
            "program_files": self.program_files,
            "stacks": [asdict(s) for s in self.stacks],
            "deleted": [asdict(s) for s in self.deleted],
            "examples": self.examples,
            "rollout": {env: {"include": [asdict(s) for s in self.rollout(env)]} for env in ENVIRONMENTS},
        }

    def github_outputs(self) -> dict[str, str]:
        doc = self.document()
        outputs = {"render": json.dumps([s.stack for s in self.stacks])}
        for env in ENVIRONMENTS:
            outputs[env] = json.dumps(doc["rollout"][env], separators=(",", ":"))
            outputs[f"has_{env}"] = "true" if self.rollout(env) else "false"
        outputs["has_any"] = "true" if any(self.rollout(env) for env in ENVIRONMENTS) else "false"
        return outputs


# --------------------------------------------------------------------------- program code
def renderer_closure(repo: Path, rev: str, tree: set[str]) -> set[str]:
    """``tools/render.py`` and every in-repo module it imports, transitively, at ``rev``."""
    seen: set[str] = set()
    todo = [RENDERER] if RENDERER in tree else []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            module = ast.parse(read_at(repo, rev, path))
        except SyntaxError:
            continue
        package = path.rsplit("/", 1)[0].replace("/", ".") if "/" in path else ""
        for name in _imported_modules(module, package):
            for candidate in _module_paths(name, tree):
                if candidate not in seen:
                    todo.append(candidate)
    return seen


def _imported_modules(module: ast.Module, package: str) -> Iterable[str]:
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, base] if base else parts)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _module_paths(name: str, tree: set[str]) -> list[str]:
    """In-repo files of module ``name`` and of its parent packages (their ``__init__`` runs too)."""
    parts = name.split(".")
    found = []
    for i in range(1, len(parts) + 1):
        stem = "/".join(parts[:i])
        found += [p for p in (f"{stem}.py", f"{stem}/__init__.py") if p in tree]
    return found


def is_program_file(path: str, renderer_files: set[str]) -> bool:
    return path in renderer_files or any(fnmatch.fnmatch(path, pattern) for pattern in PROGRAM_PATTERNS)


# --------------------------------------------------------------------------- stack files
def read_examples(repo: Path, rev: str, tree: set[str]) -> set[str]:
    if EXAMPLES_FILE not in tree:
        return set()
    lines = (line.split("#", 1)[0].strip() for line in read_at(repo, rev, EXAMPLES_FILE).splitlines())
    return {line for line in lines if line}


def project_name(repo: Path, rev: str) -> str:
    project = yaml.safe_load(read_at(repo, rev, "Pulumi.yaml"))
    if not isinstance(project, dict) or not project.get("name"):
        raise AffectedError(f"Pulumi.yaml at {rev[:7]} has no project name")
    return str(project["name"])


def stack_config(repo: Path, rev: str, path: str, project: str, tree: set[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The stack file's config at ``rev`` with its ESC environments merged in (stack values win), and those environments."""
    document = yaml.safe_load(read_at(repo, rev, path)) or {}
    try:
        return esc_config.merged_config(document, project, lambda name: read_cached(repo, rev, name) if name in tree else None, path)
    except esc.EscError as error:
        raise AffectedError(str(error)) from None


def stack_entry(repo: Path, rev: str, path: str, project: str, change: str, example: bool, tree: set[str] | None = None) -> StackEntry:
    config, environments = stack_config(repo, rev, path, project, files_at(repo, rev) if tree is None else tree)

    def setting(key: str) -> Any:
        return config.get(f"{project}:{key}", config.get(key))

    environment = setting("environment")
    stack = STACK_FILE.match(path)["stack"]  # type: ignore[index]
    if environment not in ENVIRONMENTS and change != "deleted":
        raise AffectedError(f"{path}: {project}:environment = {environment!r}: must be one of {', '.join(ENVIRONMENTS)}")
    aws = setting("aws") if isinstance(setting("aws"), dict) else {}
    azure = setting("azure") if isinstance(setting("azure"), dict) else {}
    cloud = str(setting("cloud") or "")
    return StackEntry(
        stack=stack,
        file=path,
        environment=str(environment or "unknown"),
        cloud=cloud,
        change=change,
        example=example,
        aws_region=str(config.get("aws:region") or "") if cloud == "aws" else "",
        oidc_issuer=str((aws if cloud == "aws" else azure).get("oidcIssuerUrl") or ""),
        azure_tenant_id=str(azure.get("tenantId") or "") if cloud == "azure" else "",
        azure_subscription_id=str(azure.get("subscriptionId") or "") if cloud == "azure" else "",
        environments=environments,
    )


def _order(entries: Iterable[StackEntry]) -> list[StackEntry]:
    rank = {env: i for i, env in enumerate(ENVIRONMENTS)}
    return sorted(entries, key=lambda e: (rank.get(e.environment, len(rank)), e.stack))


# --------------------------------------------------------------------------- main logic
def compute(
    repo: Path,
    base: str | None,
    head: str = "HEAD",
    changed: Sequence[str] | None = None,
    all_stacks: bool = False,
    only: Sequence[str] = (),
) -> Affected:
    """The stacks affected between ``base`` and ``head`` in ``repo`` (see the module docstring)."""
    head_sha = resolve(repo, head)
    if head_sha is None:
        raise AffectedError(f"head {head!r} is not a commit of {repo}")
    base_sha = resolve(repo, base)
    head_tree = files_at(repo, head_sha)
    base_tree = files_at(repo, base_sha) if base_sha else set()
    project = project_name(repo, head_sha)
    examples = read_examples(repo, head_sha, head_tree)
    head_stacks = {m["stack"]: path for path in head_tree if (m := STACK_FILE.match(path))}

    unknown = sorted(set(only) - set(head_stacks))
    if unknown:
        raise AffectedError(f"--only: no stack file for {', '.join(unknown)} at {head}")

    everything = all_stacks or base_sha is None
    if everything:
        paths: list[str] = []
    elif changed is not None:
        paths = [p.strip() for p in changed if p.strip()]
    else:
        paths = changed_files(repo, base_sha, head_sha)  # type: ignore[arg-type]

    renderer_files = renderer_closure(repo, head_sha, head_tree)
    if base_sha:
        renderer_files |= renderer_closure(repo, base_sha, base_tree)
    program_files = sorted(p for p in paths if is_program_file(p, renderer_files))

    changed_environments = {ref for p in paths if (ref := esc.env_ref(p))}
    changes: dict[str, str] = {}
    deleted: list[StackEntry] = []
    for path in paths:
        match = STACK_FILE.match(path)
        if not match:
            continue
        if path in head_tree:
            changes[path] = "modified" if path in base_tree else "added"
        elif path in base_tree:
            was_example = match["stack"] in examples | read_examples(repo, base_sha, base_tree)  # type: ignore[arg-type]
            deleted.append(stack_entry(repo, base_sha, path, project_name(repo, base_sha), "deleted", was_example, base_tree))  # type: ignore[arg-type]

    entries = []
    for stack, path in head_stacks.items():
        if only and stack not in only:
            continue
        if only:
            change = "selected"
        elif everything:
            change = "all"
        elif path in changes:
            change = changes[path]
        elif changed_environments and changed_environments & set(stack_config(repo, head_sha, path, project, head_tree)[1]):
            change = "environment"
        elif program_files:
            change = "program"
        else:
            continue
        entries.append(stack_entry(repo, head_sha, path, project, change, stack in examples, head_tree))

    return Affected(
        base=base_sha,
        head=head_sha,
        program_changed=bool(program_files) or everything,
        program_files=program_files,
        stacks=_order(entries),
        deleted=[] if only else _order(deleted),
    )


def write_github_outputs(affected: Affected, path: Path) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for key, value in affected.github_outputs().items():
            handle.write(f"{key}={value}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.affected", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="", help="base revision; empty or all zeros: every stack is affected")
    parser.add_argument("--head", default="HEAD", help="head revision (default HEAD)")
    parser.add_argument("--changed-files", type=Path, help="file listing the changed paths, one a line (default: git diff)")
    parser.add_argument("--all", action="store_true", help="every stack is affected (drift checks)")
    parser.add_argument("--only", action="append", default=[], help="only this stack (repeatable); empty values are ignored")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository (default: the current directory)")
    parser.add_argument("--github-output", type=Path, help="append step outputs to this file ($GITHUB_OUTPUT)")
    args = parser.parse_args(argv)
    try:
        repo = repo_root(args.repo)
        changed = args.changed_files.read_text().splitlines() if args.changed_files else None
        only = [name.strip() for name in args.only if name.strip()]
        affected = compute(repo, args.base, args.head, changed, all_stacks=args.all, only=only)
    except (AffectedError, GitError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.github_output:
        write_github_outputs(affected, args.github_output)
    print(json.dumps(affected.document(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
