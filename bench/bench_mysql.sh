#!/usr/bin/env bash
# make bench-mysql: starts MariaDB if needed and runs bench/bench_mysql.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start mariadb >/dev/null
exec python3 bench/bench_mysql.py "$@"
