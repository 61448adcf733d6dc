"""Typed stack settings: read once from Pulumi config, validated before any resource exists.

Split by concern, each module importing only those listed before it:

- ``errors``: :class:`SettingsError`, whose message is one line naming the setting, the value received and what is allowed;
- ``fields``: the strict base model, patterns and constrained types;
- ``clouds``, ``airflow``, ``remote_execution``: the typed sections of a stack;
- ``model``: :class:`Settings`, the whole stack, with the names derived from it;
- ``rules``: cross-field and production rules;
- ``validation``: ``settings_from_config()``, raw mapping to :class:`Settings` (pure, used by tests and the offline renderer);
- ``loader``: the only module that calls ``pulumi.Config`` (``load_settings()``, ``load_secret_inputs()``).

Scalar keys are declared in ``Pulumi.yaml`` with their type and default (the
Pulumi CLI applies those defaults; ``tools.stackfile`` does the same offline).
Structured keys (objects and lists of objects, which Pulumi's project schema
cannot type) are validated here and their defaults live in the models.
"""
