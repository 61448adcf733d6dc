#!/usr/bin/env bash
# Set up, then run the program offline (under Pulumi mocks) on an example stack.
#   scripts/render-example.sh [config/Pulumi.<stack>.yaml] [output dir]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/bytecode.sh
stack=${1:-config/Pulumi.payments-prod.yaml}
out=${2:-render-out/$(basename "$stack" .yaml | sed 's/^Pulumi\.//')}
.venv/bin/python -m tools.render "$stack" --out "$out"
echo "wrote $out/resources.json $out/values.yaml $out/outputs.json"
