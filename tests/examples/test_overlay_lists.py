"""``helmValues`` adds to the program's named lists (env, volumes, mounts, containers) and never drops or shadows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from components.settings.overlay import NAMED_LISTS, env_conflicts
from tests.conftest import STACK_FILES, render, render_config
from tests.support.broker import celery_stack
from tests.support.stacks import expect_rejected, with_values
from tools.render import HELM_RELEASE, mask
from tools.stackfile import load_stack


def named_items(values: Any, path: str = "") -> list[tuple[str, str, str]]:
    """(path, list key, name) of every named item in the values."""
    found = []
    if isinstance(values, Mapping):
        for key, sub in values.items():
            where = f"{path}.{key}" if path else key
            if key in NAMED_LISTS and isinstance(sub, list):
                found += [(where, key, item["name"]) for item in sub if isinstance(item, Mapping) and "name" in item]
            found += named_items(sub, where)
    return found


def release_values(rendered) -> dict[str, Any]:
    return mask(rendered.one(HELM_RELEASE).inputs["values"], show_secrets=False)


VARIANTS = {
    **{path.stem.removeprefix("Pulumi."): (lambda path=path: render(path)) for path in STACK_FILES},
    "celery-aws": lambda: render_config(celery_stack("aws")),
    "celery-azure": lambda: render_config(celery_stack("azure")),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_should_refuse_an_overlay_item_named_like_any_the_program_generates(variant: str):
    """The settings refuse each name before anything is built, so the merge can never meet a clash."""
    items = named_items(release_values(VARIANTS[variant]()))
    assert items, "the program generates named items in every stack"
    allowed = [(where, name) for where, key, name in items if not env_conflicts({key: [{"name": name}]})]
    assert not allowed, f"an overlay could shadow or collide with these program items: {allowed}"


def test_should_keep_the_program_env_and_volumes_when_an_overlay_adds_its_own():
    stack = with_values(
        load_stack(STACK_FILES[0].parent / "Pulumi.payments-prod.yaml"),
        helmValues={
            "scheduler": {"env": [{"name": "TZ", "value": "UTC"}]},
            "volumes": [{"name": "extra-ca", "configMap": {"name": "corp-ca"}}],
            "volumeMounts": [{"name": "extra-ca", "mountPath": "/etc/corp-ca", "readOnly": True}],
        },
    )
    plain = release_values(render(STACK_FILES[0].parent / "Pulumi.payments-prod.yaml"))
    merged = release_values(render_config(stack))
    for key in ("volumes", "volumeMounts"):
        assert merged[key][: len(plain[key])] == plain[key] and merged[key][-1]["name"] == "extra-ca"
    assert merged["scheduler"]["env"] == [*plain["scheduler"].get("env", []), {"name": "TZ", "value": "UTC"}]


@pytest.mark.parametrize(
    ("overlay", "where"),
    [
        ({"volumes": [{"name": "ssh-known-hosts", "emptyDir": {}}]}, "helmValues.volumes[0].name=ssh-known-hosts"),
        ({"scheduler": {"extraVolumeMounts": [{"name": "tmp", "mountPath": "/x"}]}}, "helmValues.scheduler.extraVolumeMounts[0].name=tmp"),
        ({"env": [{"name": "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER", "value": "s3://elsewhere"}]}, "helmValues.env[0].name"),
    ],
)
def test_should_refuse_an_overlay_that_reuses_a_program_name(overlay, where):
    stack = with_values(load_stack(STACK_FILES[0].parent / "Pulumi.payments-prod.yaml"), helmValues=overlay)
    message = expect_rejected(stack, where.split("=")[0])
    assert "sets what the program owns" in message
