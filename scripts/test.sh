#!/usr/bin/env bash
# The test command: real tools, .venv, lint, tests.
#   scripts/test.sh [pytest args...]
# As root, installs the Debian packages the contract tests run for real (postgresql, pgbouncer, git, openssh-server,
# redis-server) when missing; the tests start their own servers on free loopback ports, so no system service is started here.
# Without them (not root), those tests skip locally and fail under CI=true (tests/conftest.py).
# The contract tests run Airflow's own code once per tested Airflow version, each in .venvs/airflow-<version>/
# (scripts/contract-envs.sh: built in parallel, rebuilt only when its pins change).
set -euo pipefail
cd "$(dirname "$0")/.."

have_tools() {
  [ -x /usr/sbin/pgbouncer ] && compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && command -v git >/dev/null \
    && [ -x /usr/sbin/sshd ] && command -v redis-server >/dev/null
}
if ! have_tools; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql pgbouncer git openssh-server redis-server
  else
    echo "scripts/test.sh: postgresql, pgbouncer, git, openssh-server or redis-server missing and not root; install them to run every test" >&2
  fi
fi

scripts/bootstrap.sh --dev
source scripts/bytecode.sh
scripts/contract-envs.sh  # the pinned Airflow environments the contract tests run Airflow in (components/versions.py)
.venv/bin/ruff check .
# One pytest-xdist worker per core (at most 4). --dist loadscope hands a worker whole modules, so module-scoped
# fixtures (servers, the Airflow probes of each tested version) run once; --no-loadscope-reorder keeps the
# collection order, so the slow contract modules start first. Pass -n 0 to run in one process.
.venv/bin/python -m pytest -q -n auto --maxprocesses 4 --dist loadscope --no-loadscope-reorder "$@"
