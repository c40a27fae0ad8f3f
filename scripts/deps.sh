#!/usr/bin/env bash
# deps.sh - install everything sluice needs to build and test on Debian 12.
#
# Why: a fresh machine (CI runner, new dev box) must get from zero to
# "cmake builds, unit/fuzz/integration tests run" with one command.
#
# How: every Debian package is checked with dpkg-query first; apt-get
# (update + install --no-install-recommends) only runs when something is
# missing, so a second run finishes in a few seconds.  Package installs run
# with a temporary policy-rc.d that forbids starting services, and any
# system-wide postgresql/mariadb/redis instance is then stopped and disabled:
# scripts/services.sh runs its own private servers (as user sluicesvc, on
# non-default ports) instead.  Then it checks that clang can link a libFuzzer
# target, installs the Python test modules for whatever `python3` is on PATH,
# fetches the Apache Kafka broker jars (scripts/kafka/pom.xml) from Maven
# Central into <repo>/.deps/kafka/libs (skipped when its marker says they are
# already there for the same pom), fetches mongo-java-server, the MongoDB
# stand-in (scripts/mongo/pom.xml), into <repo>/.deps/mongo/libs and compiles
# its launcher scripts/mongo/*.java into <repo>/.deps/mongo/classes
# (each skipped when its marker matches), and creates the unprivileged
# `sluicesvc` system user.
#
# Usage: scripts/deps.sh        (root, or a user with sudo)
set -euo pipefail

PACKAGES=(
    # toolchain
    build-essential cmake pkg-config clang
    # libFuzzer runtime: only a Recommends of libclang-common-14-dev, so with
    # --no-install-recommends it has to be named explicitly
    libclang-rt-14-dev
    # client libraries linked by sluice
    libpq-dev librdkafka-dev libmongoc-dev libbson-dev libmariadb-dev
    libjansson-dev libsqlite3-dev sqlite3 libmicrohttpd-dev libcurl4-openssl-dev
    libpcre2-dev libhiredis-dev
    # servers and clients used by the integration tests
    postgresql-15 postgresql-client-15 mariadb-server mariadb-client
    redis-server kcat
    # the Kafka broker and the MongoDB stand-in (JVM programs), the client
    # that fetches their jars, and javac for the Mongo launcher
    openjdk-17-jre-headless openjdk-17-jdk-headless maven
    # test runner and process tooling used by the scripts
    python3 python3-pip procps psmisc util-linux
    # the docs' curl lines are run as written by test_rest.py
    curl
)
# pymongo seeds the Mongo tests' data.  The MongoDB stand-in (see below)
# reports wire version 8 (MongoDB 4.2), and pymongo refuses such a server
# from some 4.18-4.20 release on (4.20 requires wire version 9), so the
# check insists on a pymongo that still accepts it and pip pins one.
PY_MODULES_IMPORT='import pytest, psycopg2, pymysql, confluent_kafka, pymongo, redis, pymongo.common as c
assert c.MIN_SUPPORTED_WIRE_VERSION <= 8, "pymongo " + pymongo.version + " needs wire version " + str(c.MIN_SUPPORTED_WIRE_VERSION)'
PY_PACKAGES=(pytest psycopg2-binary pymysql confluent-kafka 'pymongo>=4.14,<4.18' redis)
SVC_USER=sluicesvc
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
KAFKA_POM=$REPO/scripts/kafka/pom.xml
KAFKA_HOME=$REPO/.deps/kafka
MONGO_POM=$REPO/scripts/mongo/pom.xml
MONGO_SRC_DIR=$REPO/scripts/mongo
MONGO_HOME=$REPO/.deps/mongo

step() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: ERROR: %s\n' "$*" >&2; exit 1; }

# Root-only commands go through sudo when we are not root.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and sudo is not installed; rerun as root"
    SUDO=(sudo)
fi
as_root() { "${SUDO[@]}" "$@"; }

# ---------------------------------------------------------------- packages
pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done

# A policy-rc.d that answers 101 ("action forbidden") stops maintainer
# scripts from starting the freshly installed servers.  We only add one
# when the machine has none, and remove it again on exit.
POLICY=/usr/sbin/policy-rc.d
policy_added=0
cleanup() {
    if [ "$policy_added" = 1 ]; then
        as_root rm -f "$POLICY" || true
    fi
}
trap cleanup EXIT

if [ "${#missing[@]}" -eq 0 ]; then
    step "packages: all ${#PACKAGES[@]} already installed"
else
    step "packages: missing ${missing[*]}"
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# temporary, added by sluice scripts/deps.sh\nexit 101\n' \
            | as_root tee "$POLICY" >/dev/null
        as_root chmod 755 "$POLICY"
        policy_added=1
    fi
    # apt's chatter goes to a log that is shown only when something fails.
    apt_log=$(mktemp)
    apt_failed() {
        tail -n 40 "$apt_log" >&2
        rm -f "$apt_log"
        die "$1"
    }
    step "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$apt_log" 2>&1 \
        || apt_failed "apt-get update failed"
    step "apt-get install ${#missing[@]} package(s) (this can take a few minutes)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1 \
        || apt_failed "apt-get install failed (packages: ${missing[*]})"
    rm -f "$apt_log"
    cleanup
    policy_added=0
    still=()
    for p in "${missing[@]}"; do
        pkg_installed "$p" || still+=("$p")
    done
    [ "${#still[@]}" -eq 0 ] || die "still not installed after apt-get: ${still[*]}"
    step "packages: installed ${missing[*]}"
fi

# ------------------------------------------- system-wide database servers
# Debian enables these services on install.  We never use them: stop any
# running instance and keep them from starting at boot.
# Each entry: <init/systemd service name> <daemon user> <process name>
SYSTEM_SERVICES=(
    "postgresql postgres postgres"
    "mariadb mysql mariadbd"
    "redis-server redis redis-server"
)
for entry in "${SYSTEM_SERVICES[@]}"; do
    read -r svc user proc <<<"$entry"
    actions=()
    if [ -d /run/systemd/system ]; then
        if systemctl is-active --quiet "$svc" 2>/dev/null; then
            as_root systemctl stop "$svc" || die "could not stop system service $svc"
            actions+=(stopped)
        fi
        if systemctl is-enabled --quiet "$svc" 2>/dev/null; then
            as_root systemctl disable --quiet "$svc" || die "could not disable system service $svc"
            actions+=(disabled)
        fi
    else
        # No systemd (containers, chroots): use the sysv init script.
        if id -u "$user" >/dev/null 2>&1 && pgrep -u "$user" -x "$proc" >/dev/null 2>&1; then
            as_root service "$svc" stop >/dev/null 2>&1 || true
            # Whatever the init script did, make sure the daemon is gone.
            for _ in $(seq 1 30); do
                pgrep -u "$user" -x "$proc" >/dev/null 2>&1 || break
                sleep 1
            done
            if pgrep -u "$user" -x "$proc" >/dev/null 2>&1; then
                as_root pkill -TERM -u "$user" -x "$proc" || true
                sleep 2
            fi
            pgrep -u "$user" -x "$proc" >/dev/null 2>&1 \
                && die "system $svc (user $user) is still running"
            actions+=(stopped)
        fi
        if compgen -G "/etc/rc[2345].d/S??$svc" >/dev/null && command -v update-rc.d >/dev/null; then
            as_root update-rc.d "$svc" disable >/dev/null 2>&1 \
                || die "could not disable boot start of $svc"
            actions+=(disabled)
        fi
    fi
    if [ "${#actions[@]}" -eq 0 ]; then
        step "system $svc: not running, not enabled"
    else
        step "system $svc: ${actions[*]}"
    fi
done

# ---------------------------------------------------------------- libFuzzer
fuzz_dir=$(mktemp -d)
cat >"$fuzz_dir/t.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}
EOF
# Same flags as the SLUICE_FUZZ targets in CMakeLists.txt; also run it once
# so a broken runtime shows up here rather than in the fuzz job.
if ! { clang -fsanitize=fuzzer,address,undefined -o "$fuzz_dir/t" "$fuzz_dir/t.c" \
        && "$fuzz_dir/t" -runs=1; } >"$fuzz_dir/log" 2>&1; then
    cat "$fuzz_dir/log" >&2
    rm -rf "$fuzz_dir"
    die "clang cannot link a libFuzzer target (is libclang-rt-14-dev installed?)"
fi
rm -rf "$fuzz_dir"
step "clang: libFuzzer target (-fsanitize=fuzzer,address,undefined) links and runs"

# ---------------------------------------------------------- Python modules
# For the python3 first on PATH, which may be pyenv's rather than Debian's.
command -v python3 >/dev/null 2>&1 || die "python3 not on PATH"
py=$(command -v python3)
if python3 -c "$PY_MODULES_IMPORT" >/dev/null 2>&1; then
    step "python ($py): pytest, psycopg2, pymysql, confluent_kafka, pymongo $(python3 -c 'import pymongo; print(pymongo.version)') present"
else
    step "python ($py): installing ${PY_PACKAGES[*]}"
    pip_log=$(mktemp)
    export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
    if ! python3 -m pip install -q "${PY_PACKAGES[@]}" >"$pip_log" 2>&1; then
        if grep -q externally-managed-environment "$pip_log"; then
            # Debian's own python refuses plain pip installs (PEP 668).
            python3 -m pip install -q --break-system-packages "${PY_PACKAGES[@]}" >"$pip_log" 2>&1 \
                || { cat "$pip_log" >&2; rm -f "$pip_log"; die "pip install failed"; }
        else
            cat "$pip_log" >&2
            rm -f "$pip_log"
            die "pip install failed"
        fi
    fi
    rm -f "$pip_log"
    python3 -c "$PY_MODULES_IMPORT" || die "pytest/psycopg2/pymysql/confluent_kafka/pymongo still not importable by $py"
    step "python ($py): pytest, psycopg2, pymysql, confluent_kafka, pymongo $(python3 -c 'import pymongo; print(pymongo.version)') installed"
fi

# ------------------------------------------------ JVM servers from Maven
# maven_fetch NAME VERSION POM HOME MAIN_JAR: Maven resolves POM's runtime
# jars from Maven Central into HOME/libs. The marker HOME/installed holds the
# version and the pom's checksum; when it matches and MAIN_JAR is there,
# nothing is done. Jars go to a fresh directory that replaces the old one
# only when Maven succeeded, so an interrupted run never leaves a half-filled
# libs/. Sets maven_stamp (the marker's text).
maven_fetch() {
    local name=$1 version=$2 pom=$3 home=$4 main_jar=$5
    maven_stamp="$name $version pom $(sha256sum "$pom" | cut -d' ' -f1)"
    local marker=$home/installed
    if [ "$(cat "$marker" 2>/dev/null || true)" = "$maven_stamp" ] && [ -s "$home/libs/$main_jar" ]; then
        step "$name $version: jars present in $home/libs"
        return
    fi
    step "$name $version: fetching jars with maven into $home/libs"
    mkdir -p "$home"
    rm -rf "$home/libs.new"
    local mvn_log
    mvn_log=$(mktemp)
    if ! mvn -q -B -f "$pom" dependency:copy-dependencies \
            -DoutputDirectory="$home/libs.new" -DincludeScope=runtime >"$mvn_log" 2>&1; then
        tail -n 40 "$mvn_log" >&2
        rm -f "$mvn_log"
        rm -rf "$home/libs.new"
        die "maven could not fetch $name $version"
    fi
    rm -f "$mvn_log"
    [ -s "$home/libs.new/$main_jar" ] || die "maven ran but $main_jar is missing"
    # World-readable: the server runs as $SVC_USER.
    chmod -R a+rX "$home/libs.new"
    rm -f "$marker"
    rm -rf "$home/libs"
    mv "$home/libs.new" "$home/libs"
    printf '%s\n' "$maven_stamp" >"$marker"
    step "$name $version: $(find "$home/libs" -name '*.jar' | wc -l) jars installed"
}

# Apache Kafka is not packaged by Debian: kafka_2.13, its runtime jars and the
# reload4j log binding, run by scripts/services.sh from .deps/kafka/libs.
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")
[ -n "$kafka_version" ] || die "no <kafka.version> in $KAFKA_POM"
maven_fetch kafka "$kafka_version" "$KAFKA_POM" "$KAFKA_HOME" "kafka_2.13-$kafka_version.jar"

# No MongoDB server can be installed here (Debian does not package one), so
# the tests run mongo-java-server (in-memory backend, slf4j-simple binding).
# The launcher scripts/mongo/SluiceMongo.java and the Java beside it
# (SluiceEvents.java: MongoDB-shaped change streams) are then compiled into
# .deps/mongo/classes; its marker holds the sources' checksums and the jars'
# marker, so editing, adding or removing a source or changing the jars
# recompiles.
mongo_version=$(sed -n 's:.*<mongo-java-server.version>\(.*\)</mongo-java-server.version>.*:\1:p' "$MONGO_POM")
[ -n "$mongo_version" ] || die "no <mongo-java-server.version> in $MONGO_POM"
maven_fetch mongo-java-server "$mongo_version" "$MONGO_POM" "$MONGO_HOME" "mongo-java-server-core-$mongo_version.jar"
mongo_stamp=$maven_stamp

command -v javac >/dev/null 2>&1 || die "javac not found (is openjdk-17-jdk-headless installed?)"
mongo_srcs=("$MONGO_SRC_DIR"/*.java)
[ -s "$MONGO_SRC_DIR/SluiceMongo.java" ] || die "no $MONGO_SRC_DIR/SluiceMongo.java"
mongo_cls_stamp="sources $(cd "$MONGO_SRC_DIR" && sha256sum -- *.java | sha256sum | cut -d' ' -f1) javac $(javac -version 2>&1) jars $mongo_stamp"
mongo_cls_marker=$MONGO_HOME/classes.installed
if [ "$(cat "$mongo_cls_marker" 2>/dev/null || true)" = "$mongo_cls_stamp" ] \
        && [ -s "$MONGO_HOME/classes/SluiceMongo.class" ]; then
    step "mongo launcher: compiled in $MONGO_HOME/classes"
else
    rm -rf "$MONGO_HOME/classes.new"
    mkdir -p "$MONGO_HOME/classes.new"
    if ! javac_out=$(javac -Xlint:all -Werror --release 17 -encoding UTF-8 -d "$MONGO_HOME/classes.new" \
            -cp "$MONGO_HOME/libs/*" "${mongo_srcs[@]}" 2>&1); then
        printf '%s\n' "$javac_out" >&2
        rm -rf "$MONGO_HOME/classes.new"
        die "javac could not compile $MONGO_SRC_DIR/*.java"
    fi
    chmod -R a+rX "$MONGO_HOME/classes.new"
    rm -f "$mongo_cls_marker"
    rm -rf "$MONGO_HOME/classes"
    mv "$MONGO_HOME/classes.new" "$MONGO_HOME/classes"
    printf '%s\n' "$mongo_cls_stamp" >"$mongo_cls_marker"
    step "mongo launcher: compiled $MONGO_SRC_DIR/*.java into $MONGO_HOME/classes"
fi

# ------------------------------------------------------------ service user
if id -u "$SVC_USER" >/dev/null 2>&1; then
    step "user $SVC_USER: exists"
else
    as_root useradd --system --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin \
        --comment "sluice test database servers" "$SVC_USER" \
        || die "could not create user $SVC_USER"
    step "user $SVC_USER: created"
fi

step "done"
