#!/usr/bin/env bash
# make bench-transforms: starts PostgreSQL if needed and runs bench/bench_transforms.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg >/dev/null
exec python3 bench/bench_transforms.py "$@"
