#!/usr/bin/env bash
# make bench-sql: the SQL sink against COPY / LOAD DATA of the same final rows (bench/bench_sql.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg mariadb kafka >/dev/null
. .run/env
exec python3 bench/bench_sql.py "$@"
