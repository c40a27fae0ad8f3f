#!/usr/bin/env bash
# make bench-redis: the Redis sink against pipelined SETs of the same keys and values (bench/bench_redis.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start pg redis >/dev/null
. .run/env
exec python3 bench/bench_redis.py "$@"
