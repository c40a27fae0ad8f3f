#!/usr/bin/env bash
# golden-from-debezium.sh - produce the golden tests' change events with the real
# Debezium and compare them with sluice's expected files.
#
# Why: tests/it/test_golden.py (PostgreSQL) and tests/it/test_mysql_golden.py
# (MariaDB) compare sluice's events with <script>.expected.jsonl files that were
# written from sluice's own output.  sluice must emit what Debezium emits
# (Kafka Connect JsonConverter, schemas enabled), so this script runs the same
# SQL through Debezium itself and writes what it produced next to them:
#   tests/it/golden/<script>.debezium.jsonl            (PostgreSQL)
#   tests/it/golden/<script>.debezium.schema.json
#   tests/it/golden_mysql/<script>.debezium.jsonl      (MariaDB)
#   tests/it/golden_mysql/<script>.debezium.schema.json
# then prints every difference with <script>.expected.jsonl / <script>.schema.json
# field by field (path, Debezium's value, sluice's expected value).  Run by hand
# (or `make golden-debezium`), not by `make check`.
#
# What runs:
#  1. Maven fetches from Maven Central, each only when its marker (version + pom
#     checksum) is missing or stale:
#       .deps/debezium/connect/libs      Kafka Connect runtime 4.3.0 (+ connect-json,
#                                        connect-file, connect-transforms, slf4j-simple)
#                                        from scripts/debezium/connect-pom.xml
#       .deps/debezium/plugins/debezium-connector-postgres   3.6.1.Final
#       .deps/debezium/plugins/debezium-connector-mariadb    3.5.0.Final (the newest
#                                        on Maven Central), each with its runtime
#                                        dependencies minus org.apache.kafka / org.slf4j
#                                        (the worker's), one plugin.path entry each.
#     Debezium 3.6.1 is built against Kafka Connect 4.3.0; 4.4.0 is not used.
#  2. One Kafka Connect standalone worker (ConnectStandalone, -Xmx1g, TZ=UTC) with
#     bootstrap.servers = the test Kafka ($SLUICE_KAFKA_BOOTSTRAP), key and value
#     JsonConverter with schemas.enable=true, offsets in a temporary directory, REST
#     on a free loopback port.  Connectors are added and removed through its REST API.
#  3. scripts/debezium/golden.py, per golden script:
#     PostgreSQL: database "dbz_golden" (created if missing; never the tests' "sluice")
#       runs the part before "-- stream", a PostgresConnector starts with
#       topic.prefix=it, plugin.name=pgoutput, a fresh slot and publication
#       (publication.autocreate.mode=filtered, dropped afterwards),
#       table.include.list=public.golden_<script>, snapshot.mode=initial; once the
#       snapshot rows are in Kafka the "-- stream" part runs.
#     MariaDB: database "dbz_golden", dropped and created afresh for each script (the
#       snapshot emits DDL for every table in it), runs the setup part; a
#       MariaDbConnector with topic.prefix=my, a random database.server.id,
#       table.include.list=dbz_golden.golden_<script>, include.schema.changes=true
#       (the MariaDB golden test records the schema change events),
#       snapshot.mode=initial, schema.history.internal.kafka.* on the test Kafka, and
#       three settings for the shared server:
#         snapshot.locking.mode=none  no FLUSH TABLES WITH READ LOCK on everybody's
#           server; it only changes how consistency is obtained, not the events;
#         database.include.list=dbz_golden and
#         schema.history.internal.store.only.captured.databases.ddl=true  with the
#           defaults Debezium's snapshot emits to the schema change topic the DDL of
#           every database on the server (SET character_set_server, then DROP TABLE /
#           DROP DATABASE / CREATE DATABASE / USE / CREATE TABLE for every database
#           and table, whatever table.include.list says): that would be other
#           people's tables, changing from run to run.  sluice, configured with only
#           table.include.list, emits CREATE DATABASE + CREATE TABLE of the captured
#           table; the extra events Debezium emits even for one database are listed
#           by the comparison.
#     The topics are read until as many events as <script>.expected.jsonl has arrived
#     and then nothing new for $DBZ_GOLDEN_QUIET (5) s, or nothing new for 15 s.
#     The connector is then deleted, its slot/publication and topics dropped.
#
# Normalisations (only what must differ; everything else is Debezium's verbatim):
#  - the golden tests' own normalize() (imported from the test files, so always the
#    same): event = {topic, key payload, value payload}; value ts_ms/ts_us/ts_ns and
#    the volatile source fields (PostgreSQL: ts_*, lsn, txId, sequence, version,
#    xmin; MariaDB: ts_*, file, pos, gtid, version, thread, server_id, sequence)
#    removed.  source.version is thereby removed too (Debezium's 3.6.1.Final/3.5.0.Final).
#  - topic: every topic of a run is routed (RegexRouter transform) to
#    "dbzgolden-<run>-<script>.<Debezium's topic>" so that a run never touches
#    anyone else's topic on the shared broker; the prefix is removed again.  The
#    record's key, value and schemas are untouched by the router.
#  - database name "dbz_golden" -> "sluice" (what the expected files were recorded
#    in), only where Debezium writes the database name: source.db; MariaDB also
#    the topic and Connect schema names (my.<db>.<table>[.Key|.Value|.Envelope]),
#    a schema change event's key/value databaseName, tableChanges[].id
#    ("<db>"."<table>") and the `<db>` identifier in its ddl.
#  - MariaDB event order: the schema change topic ("my") first, then the table's
#    topic (sluice's single file has the snapshot's CREATE DATABASE / CREATE TABLE
#    events first; the stream parts have no DDL).
#  - the schema file holds the first row event's key and value schema (PostgreSQL:
#    the first event with a value; MariaDB: the first event of the table's topic),
#    as the tests take it from sluice's output.
#
# Usage: scripts/golden-from-debezium.sh [--only pg|mariadb] [--compare-only] [script.sql ...]
#   --compare-only  only compares the existing .debezium.* files with the expected ones
# Env:   DBZ_GOLDEN_REPORT=<file>   also write the comparison there
#        DBZ_GOLDEN_QUIET, DBZ_GOLDEN_TIMEOUT (seconds; see golden.py)
# Needs: the services of scripts/services.sh (PostgreSQL, MariaDB, Kafka) and
#        what scripts/deps.sh installs (java 17, maven, python modules).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DBZ_HOME=$REPO/.deps/debezium
POMS=$REPO/scripts/debezium

step() { printf 'golden-from-debezium: %s\n' "$*" >&2; }
die() { printf 'golden-from-debezium: ERROR: %s\n' "$*" >&2; exit 1; }

[ -f "$REPO/.run/env" ] || die "no $REPO/.run/env: start the services (scripts/services.sh)"
# shellcheck disable=SC1091
. "$REPO/.run/env"
[ -n "${SLUICE_KAFKA_BOOTSTRAP:-}" ] || die "Kafka is not up (no SLUICE_KAFKA_BOOTSTRAP in .run/env)"
[ -n "${SLUICE_PG_PORT:-}" ] || die "PostgreSQL is not up"
[ -n "${SLUICE_MARIADB_PORT:-}" ] || die "MariaDB is not up"

compare_only=0
for a in "$@"; do [ "$a" = --compare-only ] && compare_only=1; done
if [ "$compare_only" = 1 ]; then
    exec python3 "$POMS/golden.py" --rest http://127.0.0.1:1 --run-id none "$@"
fi

# ---------------------------------------------------------------- jars
# fetch NAME POM DIR MAIN_JAR [maven args...]: POM's runtime jars into DIR, unless
# DIR/.installed matches (pom checksum) and MAIN_JAR is there.  A fresh DIR.new
# replaces DIR only when Maven succeeded.
fetch() {
    local name=$1 pom=$2 dir=$3 main_jar=$4
    shift 4
    local stamp
    stamp="$name pom $(sha256sum "$pom" | cut -d' ' -f1) args $*"
    if [ "$(cat "$dir/.installed" 2>/dev/null || true)" = "$stamp" ] && [ -s "$dir/$main_jar" ]; then
        step "$name: jars present in ${dir#"$REPO"/}"
        return
    fi
    step "$name: fetching jars with maven into ${dir#"$REPO"/}"
    mkdir -p "$(dirname "$dir")"
    rm -rf "$dir.new"
    local mvn_log
    mvn_log=$(mktemp)
    if ! mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$dir.new" \
            -DincludeScope=runtime "$@" >"$mvn_log" 2>&1; then
        tail -n 40 "$mvn_log" >&2
        rm -f "$mvn_log"
        rm -rf "$dir.new"
        die "maven could not fetch $name"
    fi
    rm -f "$mvn_log"
    [ -s "$dir.new/$main_jar" ] || die "maven ran but $main_jar is missing"
    printf '%s\n' "$stamp" >"$dir.new/.installed"
    rm -rf "$dir"
    mv "$dir.new" "$dir"
    step "$name: $(find "$dir" -name '*.jar' | wc -l) jars"
}

connect_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POMS/connect-pom.xml")
pg_version=$(sed -n 's:.*<debezium.version>\(.*\)</debezium.version>.*:\1:p' "$POMS/postgres-pom.xml")
my_version=$(sed -n 's:.*<debezium.version>\(.*\)</debezium.version>.*:\1:p' "$POMS/mariadb-pom.xml")
fetch "kafka connect $connect_version" "$POMS/connect-pom.xml" "$DBZ_HOME/connect/libs" \
    "connect-runtime-$connect_version.jar"
# Kafka's and slf4j's classes always come from the worker (Connect loads them from
# the parent class loader), so the plugin directories leave them out.
fetch "debezium-connector-postgres $pg_version" "$POMS/postgres-pom.xml" \
    "$DBZ_HOME/plugins/debezium-connector-postgres" "debezium-connector-postgres-$pg_version.jar" \
    -DexcludeGroupIds=org.apache.kafka,org.slf4j
fetch "debezium-connector-mariadb $my_version" "$POMS/mariadb-pom.xml" \
    "$DBZ_HOME/plugins/debezium-connector-mariadb" "debezium-connector-mariadb-$my_version.jar" \
    -DexcludeGroupIds=org.apache.kafka,org.slf4j

# ---------------------------------------------------------------- worker
command -v java >/dev/null || die "java not found"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dbz-golden.XXXXXX")
CONNECT_PID=
cleanup() {
    if [ -n "$CONNECT_PID" ] && kill -0 "$CONNECT_PID" 2>/dev/null; then
        kill "$CONNECT_PID" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$CONNECT_PID" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$CONNECT_PID" 2>/dev/null || true
    fi
    if [ "${DBZ_GOLDEN_KEEP:-0}" = 1 ]; then
        step "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_id=$(date -u +%H%M%S)$$
cat >"$WORK/worker.properties" <<EOF
bootstrap.servers=$SLUICE_KAFKA_BOOTSTRAP
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
offset.storage.file.filename=$WORK/offsets.dat
offset.flush.interval.ms=1000
plugin.path=$DBZ_HOME/plugins
plugin.discovery=hybrid_warn
listeners=http://127.0.0.1:$port
EOF
step "starting Kafka Connect $connect_version standalone (REST 127.0.0.1:$port, log $WORK/connect.log)"
start=$(date +%s)
TZ=UTC java -Xmx1g -Duser.timezone=UTC -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "$DBZ_HOME/connect/libs/*" org.apache.kafka.connect.cli.ConnectStandalone \
    "$WORK/worker.properties" >"$WORK/connect.log" 2>&1 &
CONNECT_PID=$!
up=0
for _ in $(seq 1 180); do
    kill -0 "$CONNECT_PID" 2>/dev/null || { tail -n 60 "$WORK/connect.log" >&2; die "Kafka Connect exited"; }
    if curl -fsS "http://127.0.0.1:$port/connector-plugins" >"$WORK/plugins.json" 2>/dev/null; then
        up=1
        break
    fi
    sleep 1
done
[ "$up" = 1 ] || { tail -n 60 "$WORK/connect.log" >&2; die "Kafka Connect REST did not come up"; }
for c in io.debezium.connector.postgresql.PostgresConnector io.debezium.connector.mariadb.MariaDbConnector; do
    grep -q "$c" "$WORK/plugins.json" || { tail -n 60 "$WORK/connect.log" >&2; die "worker does not list $c"; }
done
step "worker up after $(($(date +%s) - start))s"

rc=0
python3 "$POMS/golden.py" --rest "http://127.0.0.1:$port" --run-id "$run_id" \
    ${DBZ_GOLDEN_REPORT:+--report "$DBZ_GOLDEN_REPORT"} "$@" || rc=$?
if [ "$rc" != 0 ]; then
    step "a Debezium run failed; the worker's log ends with:"
    grep -E 'ERROR|Exception|Caused by' "$WORK/connect.log" | tail -n 40 >&2 || true
fi
step "done in $(($(date +%s) - start))s"
exit "$rc"
