"""Benchmarks of the offline tooling (run as modules, e.g. ``python -m benchmarks.render_many``)."""
