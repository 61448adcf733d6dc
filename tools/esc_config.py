"""Stack files and the ESC environments they import: the CLI's merge of ``pulumiConfig`` into stack config.

:mod:`tools.esc` evaluates environments; this module applies the result to a stack file as the Pulumi
CLI does (``mergeConfig`` in pulumi/pulumi ``sdk/go/common/workspace/config.go``: a key the stack file
sets too is the stack value merged onto the environment's by JSON merge patch, "Prefers stack values
over env values"; a key without ``:`` takes the project's namespace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.settings.errors import Problem
from tools.esc import MISSING, EscError, Reader, Resolver, at_item, contains_secret, file_reader, merge_patch, replace_secrets
from tools.stackfile import _scalar_problem, _StackDocument, placeholder


def stack_reader(stack_file: Path, root: Path) -> Reader:
    """Definitions from ``environments/`` beside the stack file's directory (``config/..``), then from ``root``.

    In the repository both are the same directory; a stack file written elsewhere (a new team's, in a
    scratch directory) sees its own environments first and the repository's org-wide ones after.
    """
    bases = list(dict.fromkeys([Path(stack_file).resolve().parent.parent, Path(root).resolve()]))

    def read(path: str) -> str | None:
        return next((text for base in bases if (text := file_reader(base)(path)) is not None), None)

    return read


def apply_to_stack(
    document: _StackDocument,
    refs: Any,
    values: dict[str, Any],
    secret: set[str],
    project: str,
    declared: dict[str, dict[str, Any]],
    read: Reader,
) -> tuple[str, ...]:
    """Merge the ``pulumiConfig`` of the stack file's ``environment:`` list into ``values`` as the CLI does.

    ``values`` holds the stack file's own config (it wins, merged by JSON merge patch); ``secret`` gains
    the keys whose merged value holds an ESC secret. Returns every environment read (imports included).
    """
    where = document.at(["environment"])
    if not isinstance(refs, list):
        raise EscError(
            where,
            "environment: is a list of <project>/<env> names (an inline definition is not resolved offline: put it under environments/)",
        )
    resolver = Resolver(read)
    root: dict[str, Any] = {}
    for i, ref in enumerate(refs):
        root = merge_patch(root, resolver.environment(ref, at_item(document, ["environment", i])))
    config = root.get("pulumiConfig", {})
    if not isinstance(config, dict):
        raise EscError(where, "the environments' pulumiConfig is not a mapping of config keys")
    for key, env_value in config.items():
        full = key if ":" in key else f"{project}:{key}"
        own = values.get(full, MISSING)
        merged = env_value if own is MISSING else merge_patch(env_value, own)
        spec = declared.get(full.removeprefix(f"{project}:")) if full.startswith(f"{project}:") else None
        kind = spec.get("type") if spec else None
        if own is MISSING and kind in ("string", "boolean", "integer") and not contains_secret(merged):
            problem = _scalar_problem(kind, merged)
            if problem:
                raise EscError(resolver.sources.get(key, where), Problem(full, merged, problem))
        if contains_secret(merged):
            secret.add(full)
            merged = replace_secrets(merged, placeholder(full))
        values[full] = merged
    return tuple(resolver.order)


def merged_config(data: Any, project: str, read: Reader, where: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A parsed stack file's ``config:`` with its environments' ``pulumiConfig`` merged under it (stack values win).

    For tools that need the settings the program will see but not the checks of :func:`apply_to_stack`
    (``tools.affected`` at a git revision, generators copying an example): ``secure:`` values stay as
    written, an ESC secret stays a :class:`Secret`. Returns the config and the environments read.
    """
    config = dict(data.get("config") or {}) if isinstance(data, dict) else {}
    refs = data.get("environment") if isinstance(data, dict) else None
    if refs is None:
        return config, ()
    if not isinstance(refs, list):
        raise EscError(where, "environment: is a list of <project>/<env> names")
    resolver = Resolver(read)
    for key, value in resolver.resolve(refs, where).pulumi_config().items():
        full = key if ":" in key else f"{project}:{key}"
        own = config.pop(full, config.pop(full.removeprefix(f"{project}:"), MISSING))
        config[full] = value if own is MISSING else merge_patch(value, own)
    return config, tuple(resolver.order)
