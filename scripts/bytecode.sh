# shellcheck shell=bash
# Sourced by the scripts that run .venv's Python. `uv sync` installs no bytecode, so Python compiles each module it
# imports; a process that may not write the result (PYTHONDONTWRITEBYTECODE, set on some machines) compiles the
# Pulumi SDKs and Airflow again every time it starts (seconds per process). Each module is compiled once, on its first
# import, into .venv/pycache (outside the source tree, removed with .venv) and read from there afterwards.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$PWD/.venv/pycache"
