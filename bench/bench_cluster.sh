#!/usr/bin/env bash
# make bench-cluster: distributed mode's scale-out. One Kafka -> MongoDB connector (MongoSinkConnector,
# tasks.max=6) over a 6-partition topic, run by a group of 1, 2 and 3 `sluice serve` workers on this machine:
# documents/s for each, and each ratio to one worker (bench/bench_cluster.py).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export SLUICE_BIN=${SLUICE_BIN:-$BUILD/sluice}
[ -x "$SLUICE_BIN" ] || { echo "bench-cluster: $SLUICE_BIN is missing (make build)" >&2; exit 1; }
scripts/services.sh start kafka mongo >/dev/null
. .run/env
python3 bench/bench_cluster.py "$@"
