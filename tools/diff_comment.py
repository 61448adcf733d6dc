"""The pull-request comment (markdown) for the stack diffs of :mod:`tools.stack_diff`.

GitHub refuses comments over 65536 characters: :func:`comment` names the stacks that do not fit, with a
pointer to the full comment (the ``render-diff`` artifact), and PR content cannot break out of its code blocks.
"""

from __future__ import annotations

import re

from tools import affected as affected_mod
from tools.stack_diff import StackDiff

MARKER = "<!-- airflow-platform:render-diff -->"
"""First line of the comment; the commenting workflow finds and updates the comment by it."""

GITHUB_COMMENT_LIMIT = 65536
MAX_DIFF_LINES = 400
"""Lines of one release's values diff shown in the comment (the full comment has them all)."""
MAX_PATHS = 12
"""Changed input paths listed per resource before "+N more"."""


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
