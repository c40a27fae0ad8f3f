#!/usr/bin/env bash
# make bench-unembed: MongoDB documents back into PostgreSQL rows (unembed) against its source's and its target's
# limits (bench/bench_unembed.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg mongo >/dev/null
. .run/env
exec python3 bench/bench_unembed.py "$@"
