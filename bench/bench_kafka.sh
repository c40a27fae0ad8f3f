#!/usr/bin/env bash
# make bench-kafka: starts PostgreSQL and Kafka if needed and runs bench/bench_kafka.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg kafka >/dev/null
exec python3 bench/bench_kafka.py "$@"
