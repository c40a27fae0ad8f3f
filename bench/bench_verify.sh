#!/usr/bin/env bash
# make bench-verify: sluice verify against reading both sides without comparing (bench/bench_verify.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg mongo >/dev/null
. .run/env
exec python3 bench/bench_verify.py "$@"
