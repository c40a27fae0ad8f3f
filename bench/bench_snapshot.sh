#!/usr/bin/env bash
# make bench-snapshot: starts PostgreSQL, Kafka and MariaDB if needed and runs bench/bench_snapshot.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg kafka mariadb >/dev/null
. .run/env
exec python3 bench/bench_snapshot.py "$@"
