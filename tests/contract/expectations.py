"""What Airflow should build from a declared connection, derived from the stack file alone."""

from __future__ import annotations

from typing import Any

from components.connections import PLACEHOLDER
from tools.stackfile import StackConfig


def expected_connection(stack: StackConfig, spec: dict[str, Any]) -> dict[str, Any]:
    """The Connection fields for the stack file's ``connections`` entry ``spec``.

    Secret fields hold the stack's config secret (``secretSource: config``; offline that is the
    placeholder of the encrypted value) or the documented out-of-band placeholder (``external``).
    """
    fields = spec.get("secretFields") or []
    extra = dict(spec.get("extra") or {})
    password = None
    for field in fields:
        value = stack.values[f"{stack.project}:{fields[field]}"] if isinstance(fields, dict) else PLACEHOLDER
        if field == "password":
            password = value
        else:
            extra[field.removeprefix("extra.")] = value
    return {
        "conn_id": spec["connId"],
        "conn_type": spec["connType"],
        "host": spec.get("host"),
        "login": spec.get("login"),
        "schema": spec.get("schema"),
        "port": spec.get("port"),
        "password": password,
        "extra_dejson": extra,
    }
