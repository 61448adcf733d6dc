#!/usr/bin/env bash
# Create .venv and install the pinned requirements (idempotent: reinstalls only when they change).
#   scripts/bootstrap.sh            runtime requirements (what `pulumi up` and the renderer need)
#   scripts/bootstrap.sh --dev      plus the test requirements (Airflow, moto, parliament, ...) and checkov
#                                   in its own .venv-checkov (requirements-checkov.txt: its pins clash with Airflow's)
set -euo pipefail
cd "$(dirname "$0")/.."
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.installed-$(cat requirements.txt "$req" | sha256sum | cut -c1-16)-$(basename "$req")
if [ ! -e "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$req"
  touch "$stamp"
fi
if [ "${1:-}" = "--dev" ]; then
  [ -x .venv-checkov/bin/python ] || "$python" -m venv .venv-checkov
  stamp=.venv-checkov/.installed-$(sha256sum requirements-checkov.txt | cut -c1-16)
  if [ ! -e "$stamp" ]; then
    .venv-checkov/bin/python -m pip install --quiet --upgrade pip
    .venv-checkov/bin/python -m pip install --quiet -r requirements-checkov.txt
    touch "$stamp"
  fi
fi
