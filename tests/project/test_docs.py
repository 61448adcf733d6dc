"""Documentation is generated from the code and must be complete and current (R10)."""

from __future__ import annotations

import dataclasses
import importlib

from tools import docs


def test_readme_settings_reference_and_component_tables_are_current():
    assert docs.main([]) == 0, "run: python -m tools.docs --write"


def _undocumented() -> list[str]:
    missing = []
    models = docs.settings_models()
    for _path, class_name, _intro in docs.SETTINGS_SECTIONS:
        cls = models[class_name]
        described = docs.attribute_docs(cls)
        missing += [f"settings.{class_name}.{n}" for n in cls.model_fields if n not in described and n != "region"]
    for module_name in docs.COMPONENT_MODULES:
        module = importlib.import_module(f"components.{module_name}")
        component = next(o for o in vars(module).values() if isinstance(o, type) and o.__module__ == module.__name__ and hasattr(o, "TYPE"))
        args_cls = getattr(module, f"{component.__name__}Args")
        described = docs.attribute_docs(args_cls)
        missing += [f"{module_name}.{args_cls.__name__}.{f.name}" for f in dataclasses.fields(args_cls) if f.name not in described]
        described = docs.attribute_docs(component)
        missing += [f"{module_name}.{component.__name__}.{n}" for n in vars(component).get("__annotations__", {}) if n not in described]
    return missing


def test_every_setting_argument_and_output_has_a_description():
    assert _undocumented() == []
