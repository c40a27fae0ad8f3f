#!/usr/bin/env bash
# make check: installs dependencies, builds (normal with -Werror, ASan/UBSan,
# libFuzzer), starts the test services, runs unit tests under both builds,
# the integration tests against the real servers and each fuzzer briefly,
# checks that docs/CONFIGURATION.md is current, and stops the services even
# when something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
step() { printf '\n== %s\n' "$*"; }

step "dependencies"
scripts/deps.sh

step "build (-Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON >/dev/null
cmake --build build -j "$JOBS"
step "build (ASan/UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_WERROR=ON >/dev/null
cmake --build build-asan -j "$JOBS"
step "build (libFuzzer)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$JOBS"

step "generated docs are current"
scripts/docs-check.sh build/sluice

step "unit tests (normal build)"
(cd build && ctest --output-on-failure -j "$JOBS")
step "unit tests (ASan/UBSan build)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$JOBS")

step "fuzzers (${SLUICE_FUZZ_SECONDS:-20}s each)"
for f in build-fuzz/fuzz_*; do
  name=$(basename "$f"); name=${name#fuzz_}
  work=$(mktemp -d)
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
  # the whole report when it fails (a crash's stack and the input's file name), else its last lines
  if ! "$f" -max_total_time="${SLUICE_FUZZ_SECONDS:-20}" -print_final_stats=1 "$work" >"$work.log" 2>&1; then
    grep -v -E '^#[0-9]+' "$work.log" | tail -n 80
    echo "fuzz_$name failed (the input is the crash-*/leak-*/oom-* file it names above)"
    rm -rf "$work" "$work.log"
    exit 1
  fi
  tail -n 3 "$work.log"
  rm -rf "$work" "$work.log"
done

step "services"
trap 'scripts/services.sh stop all >/dev/null 2>&1 || true' EXIT
scripts/services.sh start pg mariadb redis kafka mongo

step "integration tests"
SLUICE_BIN="$PWD/build/sluice" python3 -m pytest -q tests/it
step "integration tests with the ASan/UBSan binary (streaming, golden, the SQL and Redis sinks, verify, unembed, two-way sync, migrate, verify in the daemon, distributed workers, incremental snapshots, parallel snapshots and copies)"
SLUICE_BIN="$PWD/build-asan/sluice" python3 -m pytest -q tests/it/test_pg_stream.py tests/it/test_golden.py
SLUICE_BIN="$PWD/build-asan/sluice" python3 -m pytest -q tests/it/test_redis_sink.py
SLUICE_BIN="$PWD/build-asan/sluice" python3 -m pytest -q tests/it/test_sql_sink.py \
  -k "reduction or toast or confluent or kill9_under_load or golden_types_into or widening"
SLUICE_BIN="$PWD/build-asan/sluice" python3 -m pytest -q tests/it/test_verify.py
SLUICE_BIN="$PWD/build-asan/sluice" python3 -m pytest -q tests/it/test_unembed.py tests/it/test_two_way_mongo.py \
  tests/it/test_migrate.py -k "not target-wins and not source-wins"  # (latest-timestamp resolves both ways)
SLUICE_BIN="$PWD/build-asan/sluice" python3 -m pytest -q tests/it/test_rest.py tests/it/test_distributed.py \
  -k "verify_runs or frozen or tasks_max"
# (the read.only kill -9 run, the signal-table run of the concurrent-writes test and the MINIMAL row image run are
# left to the normal pass: their code paths are the other variants')
SLUICE_BIN="$PWD/build-asan/sluice" python3 -m pytest -q tests/it/test_incremental_snapshot.py tests/it/test_mysql_incremental.py \
  -k "not (kill9 and read_only) and not (concurrent_writes and signal_table) and not MINIMAL"
SLUICE_BIN="$PWD/build-asan/sluice" python3 -m pytest -q tests/it/test_snapshot_modes.py tests/it/test_mysql_modes.py \
  tests/it/test_mongo_source.py tests/it/test_crash.py \
  -k "encoding_threads or parallel or in_ranges or in_a_table_read_in_ranges or after_a_whole_table"
