#!/usr/bin/env bash
# Create .venv with exactly the locked dependencies (pyproject.toml + uv.lock, `uv sync --locked`), the
# environment Pulumi runs the program in (Pulumi.yaml: toolchain uv, virtualenv .venv). Idempotent: a stamp
# records the lock, the set and the Python it was synced from; nothing runs again until one changes.
#   scripts/bootstrap.sh            runtime dependencies (what `pulumi up` and the renderer need)
#   scripts/bootstrap.sh --dev      plus the dev group (Airflow, moto, parliament, ...) and checkov
#                                   in its own .venv-checkov (requirements-checkov.txt: its pins clash with Airflow's)
#   scripts/bootstrap.sh --compile-checkov   re-pin requirements-checkov.txt from requirements-checkov.in, resolving
#                                   only what PyPI had at its "# exclude-newer:" date (needs .venv from --dev)
# uv: the one on PATH when it is the version pyproject.toml requires, else installed from PyPI into .venv-uv.
# Python: $PYTHON or python3 (3.11 to 3.13); uv never downloads one.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
uv_spec='uv>=0.13,<0.14'  # keep in step with [tool.uv] required-version in pyproject.toml
uv_version='^uv 0\.13\.'
export UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=.venv

if [ "${1:-}" = "--compile-checkov" ]; then  # re-pin requirements-checkov.txt from requirements-checkov.in
  newer=$(sed -n 's/^# exclude-newer: *//p' requirements-checkov.in)
  exec .venv/bin/uv pip compile --quiet --python-version 3.11 --exclude-newer "$newer" \
    --custom-compile-command "scripts/bootstrap.sh --compile-checkov" requirements-checkov.in -o requirements-checkov.txt
fi

sync_args=(--locked)
set_name=runtime
if [ "${1:-}" = "--dev" ]; then
  sync_args+=(--group dev)
  set_name=dev
fi
stamp() { echo ".venv/.synced-$( (cat pyproject.toml uv.lock; "$python" -VV) | sha256sum | cut -c1-16)-$1"; }
# the dev set includes the runtime set: a .venv synced for the tests serves the renderer as it is
if [ ! -e "$(stamp "$set_name")" ] && [ ! -e "$(stamp dev)" ]; then
  uv=$(command -v uv || true)
  if [ -z "$uv" ] || ! "$uv" --version | grep -Eq "$uv_version"; then
    uv=.venv-uv/bin/uv
    if [ ! -x "$uv" ] || ! "$uv" --version | grep -Eq "$uv_version"; then
      echo "scripts/bootstrap.sh: installing $uv_spec from PyPI into .venv-uv"
      [ -x .venv-uv/bin/python ] || "$python" -m venv .venv-uv
      .venv-uv/bin/python -m pip install --disable-pip-version-check --progress-bar off "$uv_spec"
    fi
  fi
  echo "scripts/bootstrap.sh: $("$uv" --version): syncing .venv ($set_name) from uv.lock"
  "$uv" sync --python "$python" "${sync_args[@]}"
  rm -f .venv/.synced-*
  touch "$(stamp "$set_name")"
fi
if [ "${1:-}" = "--dev" ]; then
  # checkov from the pins in requirements-checkov.txt, installed by the uv of the dev group (.venv/bin/uv)
  stamp=.venv-checkov/.installed-$( (cat requirements-checkov.txt; "$python" -VV) | sha256sum | cut -c1-16)
  if [ ! -e "$stamp" ]; then
    echo "scripts/bootstrap.sh: installing checkov into .venv-checkov from requirements-checkov.txt"
    [ -x .venv-checkov/bin/python ] || .venv/bin/uv venv --quiet --python "$python" .venv-checkov
    .venv/bin/uv pip sync --quiet --python .venv-checkov/bin/python requirements-checkov.txt
    rm -f .venv-checkov/.installed-*
    touch "$stamp"
  fi
fi
