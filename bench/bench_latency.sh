#!/usr/bin/env bash
# make bench-latency: starts PostgreSQL and Kafka if needed and runs bench/bench_latency.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg kafka >/dev/null
exec python3 bench/bench_latency.py "$@"
