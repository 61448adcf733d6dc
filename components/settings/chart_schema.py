"""The official chart's ``values.schema.json`` (1.20.0), against which ``helmValues`` is checked before anything runs.

The file ships with the program, unmodified, in ``components/airflow_chart/data/`` (origin in its
``SOURCE.md``; a test holds it equal to the chart source the tests render and to ``tests/data/``). The chart itself has no ``required`` keys at
the top level, so an overlay on its own is checked for what it can get wrong: unknown keys
(``additionalProperties: false`` almost everywhere) and wrong types or enum values.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "airflow_chart" / "data" / "values.schema.json"
"""The chart's schema, read as a data file (no import of the Airflow side)."""


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def schema_errors(overlay: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dotted path, message) for each place ``overlay`` breaks the chart's schema."""
    found = []
    for error in sorted(_validator().iter_errors(dict(overlay)), key=lambda e: list(map(str, e.absolute_path))):
        path = ".".join(str(p) for p in error.absolute_path)
        found.append((path, error.message[:200]))
    return found
