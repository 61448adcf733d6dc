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
(added, removed, changed inputs with the changed input paths, replacements): what changed is worked
out by :mod:`tools.stack_diff` (which also says what counts as a replacement; ``pulumi preview`` on
same-repository PRs remains the authority), the markdown is written by :mod:`tools.diff_comment`.

GitHub refuses comments over 65536 characters: stacks that do not fit are listed by name with a
pointer to the full comment (``--full-out``, uploaded as an artifact). Exit code 1 when a head
render fails (invalid settings or a program error; the comment still says which and why), 2 on a
usage or git error.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tools import affected as affected_mod
from tools import esc, render
from tools.diff_comment import GITHUB_COMMENT_LIMIT, MARKER, comment, fence
from tools.git_revisions import GitError, files_at, read_at, repo_root
from tools.stack_diff import StackDiff, StackRender, diff_stack
from tools.stackfile import ROOT, load_stack


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
        target.write_text(read_at(repo, rev, path))
        written[stack] = target
    for path in sorted(files_at(repo, rev)):
        if esc.env_ref(path):
            (dest / path).parent.mkdir(parents=True, exist_ok=True)
            (dest / path).write_text(read_at(repo, rev, path))
    return written


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
        base_tree = files_at(repo, affected.base) if affected.base else set()
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
        repo = repo_root(args.repo)
        only = [s.strip() for s in args.only if s.strip()]
        affected = affected_mod.compute(repo, args.base, args.head, only=only)
    except (affected_mod.AffectedError, GitError) as error:
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
