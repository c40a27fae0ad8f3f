#!/usr/bin/env bash
# make bench-snapshot: starts PostgreSQL, Kafka, MariaDB and the MongoDB test server if needed and runs bench/bench_snapshot.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg kafka mariadb mongo >/dev/null
. .run/env
exec python3 bench/bench_snapshot.py "$@"
