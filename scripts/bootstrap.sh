#!/usr/bin/env bash
# Create .venv and install the pinned requirements (idempotent: reinstalls only when they change).
#   scripts/bootstrap.sh            runtime requirements (what `pulumi up` and the renderer need)
#   scripts/bootstrap.sh --dev      plus the test requirements (Airflow, moto, parliament, ...)
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
