"""A git repository read at given revisions, without a worktree: resolve a ref, list, read and diff files.

What :mod:`tools.affected` and :mod:`tools.render_diff` ask git. A failing git command raises
:class:`GitError` with git's own message.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

NO_BASE = frozenset({"", "0" * 40})
"""Refs that mean "no base": empty, or the all-zeros id GitHub sends for a new branch."""


class GitError(Exception):
    """A git command failed (unknown revision, not a repository, ...)."""


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def resolve(repo: Path, ref: str | None) -> str | None:
    """Full commit id of ``ref``, or None when there is no usable base."""
    if ref is None or ref.strip() in NO_BASE:
        return None
    result = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref.strip()}^{{commit}}"], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else None


def repo_root(start: Path) -> Path:
    return Path(git(start, "rev-parse", "--show-toplevel").strip())


def files_at(repo: Path, rev: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", rev).splitlines())


def read_at(repo: Path, rev: str, path: str) -> str:
    return git(repo, "show", f"{rev}:{path}")


@functools.lru_cache(maxsize=4096)
def read_cached(repo: Path, rev: str, path: str) -> str:
    """:func:`read_at` for files many stacks share (environments); ``rev`` must be a commit id (immutable)."""
    return read_at(repo, rev, path)


def changed_files(repo: Path, base: str, head: str) -> list[str]:
    return [line for line in git(repo, "diff", "--name-only", "--no-renames", base, head).splitlines() if line]
