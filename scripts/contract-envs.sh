#!/usr/bin/env bash
# The pinned Airflow environments the contract tests run Airflow's own code in, one per tested version
# (components/versions.py TESTED): .venvs/airflow-<version>/ from tests/envs/airflow-<version>.txt.
#   scripts/contract-envs.sh              build the missing or stale ones, in parallel (idempotent: a stamp
#                                         per environment records the pins it was built from)
#   scripts/contract-envs.sh --compile    re-pin tests/envs/airflow-<version>.txt from its .in, resolving
#                                         only what PyPI had at the .in's "# exclude-newer:" date
# Needs .venv with uv (scripts/bootstrap.sh --dev). The environments use .venv's Python; uv never downloads one.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
export UV_PYTHON_DOWNLOADS=never
versions=$(.venv/bin/python -c 'from components.versions import TESTED; print(" ".join(TESTED))')

compile() {
  local version=$1 in=tests/envs/airflow-$1.in
  local newer
  newer=$(sed -n 's/^# exclude-newer: *//p' "$in")
  [ -n "$newer" ] || { echo "$in: no '# exclude-newer:' line" >&2; return 1; }
  "$uv" pip compile --quiet --python-version 3.11 --exclude-newer "$newer" \
    --custom-compile-command "scripts/contract-envs.sh --compile" "$in" -o "tests/envs/airflow-$version.txt"
}

build() {
  local version=$1 req=tests/envs/airflow-$1.txt dir=.venvs/airflow-$1
  [ -f "$req" ] || { echo "$req missing: run scripts/contract-envs.sh --compile" >&2; return 1; }
  local stamp
  stamp=$dir/.installed-$( (cat "$req"; .venv/bin/python -VV) | sha256sum | cut -c1-16)
  [ -e "$stamp" ] && return 0
  local started=$SECONDS
  [ -x "$dir/bin/python" ] || "$uv" venv --quiet --python .venv/bin/python "$dir"
  "$uv" pip sync --quiet --python "$dir/bin/python" "$req"
  rm -f "$dir"/.installed-*
  touch "$stamp"
  echo "scripts/contract-envs.sh: built $dir in $((SECONDS - started)) s"
}

if [ "${1:-}" = "--compile" ]; then
  for version in $versions; do compile "$version"; done
  exit 0
fi

pids=()
for version in $versions; do
  build "$version" &
  pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit "$failed"
