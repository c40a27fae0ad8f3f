#!/usr/bin/env bash
# make bench-verify: sluice verify against reading both sides without comparing (bench/bench_verify.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# a fresh MongoDB test server with room for the documents (its heap also holds an oplog entry per insert)
scripts/services.sh stop mongo >/dev/null
SLUICE_MONGO_HEAP=${SLUICE_MONGO_HEAP:-14g} scripts/services.sh start pg mongo >/dev/null
. .run/env
exec python3 bench/bench_verify.py "$@"
