#!/usr/bin/env bash
# mongo-interop.sh (make interop) - sluice's MongoDB sink against the real
# MongoDB Kafka sink connector (mongo-kafka 2.0.1) on the same Kafka topic.
#
# Why: the MongoDB sink must write the documents mongo-kafka writes, BSON types
# included (docs/connectors/mongodb.md, "BSON types"). The tests check the rules
# one by one; this runs the Java connector itself and compares whole collections.
#
# What runs:
#  1. Maven fetches from Maven Central, each only when its marker is missing or stale:
#       .deps/debezium/connect/libs   Kafka Connect runtime (scripts/debezium/connect-pom.xml,
#                                     shared with scripts/golden-from-debezium.sh)
#       .deps/mongo-kafka/plugins/mongo-kafka-connect   org.mongodb.kafka:mongo-kafka-connect:2.0.1
#                                     and its runtime dependencies minus org.apache.kafka / org.slf4j
#  2. A Kafka Connect standalone worker (JsonConverter with schemas, REST on a free
#     loopback port) on the test Kafka.
#  3. scripts/mongo/interop.py: a PostgreSQL table of many types (table
#     interop_types in the tests' database) captured by sluice into a Kafka topic
#     (decimal.handling.mode=precise, time.precision.mode=connect,
#     binary.handling.mode=bytes), then that topic written to MongoDB twice with
#     change.data.capture.handler=...PostgresHandler: by mongo-kafka (database
#     interop_mk_<run>) and by sluice's MongoSinkConnector (interop_sl_<run>); and
#     the same table by sluice's direct PostgreSQL -> MongoDB connector
#     (interop_direct_<run>). Every document is compared field by field, BSON type
#     included. Then mongo-kafka's MongoSourceConnector and sluice's MongoDB source
#     watch one collection (database interop_src_<run>) in six output settings
#     (schema, inferred schema, JSON, JSON keyed by the resume token, copy_existing
#     with either key) and their Kafka records are compared. Differences are printed and make the exit code 1.
#
# Not part of `make check` (it downloads jars and takes a minute).
# Needs: the services of scripts/services.sh (PostgreSQL, Kafka, MongoDB test server),
#        java 17, maven, a built sluice ($SLUICE_BIN, default build/sluice).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CONNECT_LIBS=$REPO/.deps/debezium/connect/libs
PLUGINS=$REPO/.deps/mongo-kafka/plugins

step() { printf 'mongo-interop: %s\n' "$*" >&2; }
die() { printf 'mongo-interop: ERROR: %s\n' "$*" >&2; exit 1; }

[ -f "$REPO/.run/env" ] || die "no $REPO/.run/env: start the services (scripts/services.sh)"
# shellcheck disable=SC1091
. "$REPO/.run/env"
[ -n "${SLUICE_KAFKA_BOOTSTRAP:-}" ] || die "Kafka is not up"
[ -n "${SLUICE_PG_PORT:-}" ] || die "PostgreSQL is not up"
[ -n "${SLUICE_MONGO_URI:-}" ] || die "the MongoDB test server is not up"
export SLUICE_BIN=${SLUICE_BIN:-$REPO/build/sluice}
[ -x "$SLUICE_BIN" ] || die "$SLUICE_BIN is missing (make build, or set SLUICE_BIN)"

# fetch NAME POM DIR MAIN_JAR [maven args...]: as scripts/golden-from-debezium.sh (same marker).
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
        rm -f "$mvn_log" && rm -rf "$dir.new"
        die "maven could not fetch $name"
    fi
    rm -f "$mvn_log"
    [ -s "$dir.new/$main_jar" ] || die "maven ran but $main_jar is missing"
    printf '%s\n' "$stamp" >"$dir.new/.installed"
    rm -rf "$dir"
    mv "$dir.new" "$dir"
}

connect_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO/scripts/debezium/connect-pom.xml")
mk_version=$(sed -n 's:.*<mongo.kafka.version>\(.*\)</mongo.kafka.version>.*:\1:p' "$REPO/scripts/mongo/mongo-kafka-pom.xml")
fetch "kafka connect $connect_version" "$REPO/scripts/debezium/connect-pom.xml" "$CONNECT_LIBS" \
    "connect-runtime-$connect_version.jar"
fetch "mongo-kafka-connect $mk_version" "$REPO/scripts/mongo/mongo-kafka-pom.xml" \
    "$PLUGINS/mongo-kafka-connect" "mongo-kafka-connect-$mk_version.jar" \
    -DexcludeGroupIds=org.apache.kafka,org.slf4j

command -v java >/dev/null || die "java not found"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mongo-interop.XXXXXX")
CONNECT_PID=
cleanup() {
    if [ -n "$CONNECT_PID" ] && kill -0 "$CONNECT_PID" 2>/dev/null; then
        kill "$CONNECT_PID" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$CONNECT_PID" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$CONNECT_PID" 2>/dev/null || true
    fi
    if [ "${INTEROP_KEEP:-0}" = 1 ]; then step "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/worker.properties" <<PROPS
bootstrap.servers=$SLUICE_KAFKA_BOOTSTRAP
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
offset.storage.file.filename=$WORK/offsets.dat
offset.flush.interval.ms=1000
plugin.path=$PLUGINS
plugin.discovery=hybrid_warn
listeners=http://127.0.0.1:$port
PROPS
step "starting Kafka Connect $connect_version standalone (REST 127.0.0.1:$port, log $WORK/connect.log)"
TZ=UTC java -Xmx1g -Duser.timezone=UTC -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -cp "$CONNECT_LIBS/*" org.apache.kafka.connect.cli.ConnectStandalone \
    "$WORK/worker.properties" >"$WORK/connect.log" 2>&1 &
CONNECT_PID=$!
up=0
for _ in $(seq 1 180); do
    kill -0 "$CONNECT_PID" 2>/dev/null || { tail -n 60 "$WORK/connect.log" >&2; die "Kafka Connect exited"; }
    if curl -fsS "http://127.0.0.1:$port/connector-plugins" >"$WORK/plugins.json" 2>/dev/null; then up=1; break; fi
    sleep 1
done
[ "$up" = 1 ] || { tail -n 60 "$WORK/connect.log" >&2; die "Kafka Connect REST did not come up"; }
grep -q com.mongodb.kafka.connect.MongoSinkConnector "$WORK/plugins.json" ||
    { tail -n 60 "$WORK/connect.log" >&2; die "the worker does not list MongoSinkConnector"; }

rc=0
python3 "$REPO/scripts/mongo/interop.py" --rest "http://127.0.0.1:$port" --work "$WORK" "$@" || rc=$?
if [ "$rc" != 0 ]; then
    grep -E 'ERROR|Exception|Caused by' "$WORK/connect.log" | tail -n 20 >&2 || true
fi
exit "$rc"
