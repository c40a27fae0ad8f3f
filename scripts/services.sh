#!/usr/bin/env bash
# services.sh - private database servers for sluice's integration tests.
#
# Why: tests need a PostgreSQL with logical decoding, a MariaDB with a
# full-row binlog and GTIDs, a Redis and an Apache Kafka broker, configured
# the same way on every machine, without touching the system-wide instances or
# default ports.
#
# How: each server runs as the unprivileged user `sluicesvc` (created by
# scripts/deps.sh) with its data, config, socket, pid file and log under
# <repo>/.run/<name>, listening on 127.0.0.1 only, on a fixed non-default
# port.  Configuration files are regenerated on every start (data is only
# initialised once), so a restart picks up edits to this script.  After start
# and stop, <repo>/.run/env is rewritten with `export` lines describing the
# services that are up; tests and shells pick them up with `. .run/env`.
# Kafka is a single KRaft node (broker and controller in one JVM) run from
# the jars scripts/deps.sh put in <repo>/.deps/kafka/libs; its storage is
# formatted once, and a stop/start keeps the topics and their data.  Besides
# PLAINTEXT it listens with SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256/512; user
# alice, password alice-secret) and with SSL (a throwaway CA and broker
# certificate made with openssl under .run/kafka/tls on first start).
# MongoDB cannot be installed on these machines, so "mongo" is
# mongo-java-server (an in-memory MongoDB stand-in, see scripts/mongo/README.md)
# run by the launcher scripts/mongo/SluiceMongo.java from the jars and
# classes scripts/deps.sh put in <repo>/.deps/mongo, with its own oplog
# (scripts/mongo/SluiceEvents.java: MongoDB-shaped change streams on
# collections, databases and the cluster) and presenting itself as the
# primary of a one-member replica set named rs0.  IT KEEPS NOTHING ON DISK:
# every start begins with empty databases and an empty oplog, and resume
# tokens from before a restart are refused (ChangeStreamHistoryLost).  It
# has no authentication: connect without credentials.
#
# Usage: scripts/services.sh start|stop|status pg|mariadb|redis|kafka|mongo|all ...
#   Ports (env): SLUICE_PG_PORT=54329 SLUICE_MARIADB_PORT=33069
#                SLUICE_REDIS_PORT=63799 SLUICE_KAFKA_PORT=19092
#                SLUICE_KAFKA_CONTROLLER_PORT=19093 (KRaft controller)
#                SLUICE_KAFKA_SASL_PORT=19094 SLUICE_KAFKA_SSL_PORT=19095
#                SLUICE_MONGO_PORT=27117
#   SLUICE_START_TIMEOUT=60 seconds to wait for a server to accept connections.
# Exit status: 0 ok, 1 failure, 2 usage error,
#              3 (status only) at least one listed service is down.
# Credentials everywhere: user sluice, password sluice, database sluice
# (except mongo, which has no users).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(dirname "$SCRIPT_DIR")
RUN_DIR=$REPO/.run
ENV_FILE=$RUN_DIR/env
SVC_USER=sluicesvc
HOST=127.0.0.1

PG_PORT=${SLUICE_PG_PORT:-54329}
MARIADB_PORT=${SLUICE_MARIADB_PORT:-33069}
REDIS_PORT=${SLUICE_REDIS_PORT:-63799}
KAFKA_PORT=${SLUICE_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${SLUICE_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_SASL_PORT=${SLUICE_KAFKA_SASL_PORT:-19094}
KAFKA_SSL_PORT=${SLUICE_KAFKA_SSL_PORT:-19095}
MONGO_PORT=${SLUICE_MONGO_PORT:-27117}
# Replica-set name the mongo stand-in reports in hello (see SluiceMongo.java).
MONGO_REPLSET=rs0
# The one SASL user: PLAIN from the listener's JAAS line, SCRAM-SHA-256/512
# credentials in the cluster metadata (see kafka_provision).
KAFKA_SASL_USER=alice
KAFKA_SASL_PASSWORD=alice-secret
START_TIMEOUT=${SLUICE_START_TIMEOUT:-60}

PG_BIN=/usr/lib/postgresql/15/bin
MARIADBD=/usr/sbin/mariadbd
REDIS_SERVER=/usr/bin/redis-server
KAFKA_LIBS=$REPO/.deps/kafka/libs
KAFKA_MARKER=$REPO/.deps/kafka/installed
MONGO_HOME=$REPO/.deps/mongo

ALL_SERVICES=(pg mariadb redis kafka mongo)

say() { printf '%s\n' "$*"; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: scripts/services.sh start|stop|status SERVICE...
  SERVICE: pg mariadb redis kafka mongo all
EOF
    exit 2
}

# ------------------------------------------------------------- privileges
# Servers and their files belong to $SVC_USER.  As root we switch with
# runuser; otherwise we need passwordless sudo.
if [ "$(id -u)" -eq 0 ]; then
    as_svc() { runuser -u "$SVC_USER" -- "$@"; }
    as_root() { "$@"; }
else
    as_svc() { sudo -n -u "$SVC_USER" -- "$@"; }
    as_root() { sudo -n -- "$@"; }
fi

# Write stdin to a file owned by the service user.
svc_write() { as_svc tee "$1" >/dev/null; }

# Start a program detached (own session, no terminal, output appended to a
# log) as the service user, and print its pid.  runuser's PAM session resets
# the open-files soft limit to 1024, so lift it to the hard limit first.
spawn() {
    local log=$1
    shift
    # shellcheck disable=SC2016  # expanded by the inner sh
    as_svc sh -c 'log=$1; shift; cd "$(dirname "$log")"
                  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
                  setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
                  echo $!' spawn "$log" "$@"
}

# True when pid $1 is a live (not zombie) process whose name is $2.
pid_alive() {
    local pid=$1 comm=$2 stat
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# First line of a pid file, or nothing.
read_pidfile() {
    local f=$1 pid=""
    pid=$(head -n1 "$f" 2>/dev/null) || pid=$(as_svc head -n1 "$f" 2>/dev/null) || true
    case $pid in '' | *[!0-9]*) return 0 ;; esac
    printf '%s\n' "$pid"
}

wait_gone() {    # pid comm seconds
    local end=$((SECONDS + $3))
    while pid_alive "$1" "$2"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# Wait until "<svc>_probe" succeeds.  A server that dies on the way, or does
# not come up in time, fails the start with the tail of its log.
wait_ready() {    # svc log launched-pid-or-empty
    local svc=$1 log=$2 launched=$3 start=$SECONDS alive
    while ! "${svc}_probe"; do
        if [ -n "$launched" ]; then
            pid_alive "$launched" "$("${svc}_comm")" && alive=1 || alive=0
        else
            [ -n "$("${svc}_pid")" ] || [ $((SECONDS - start)) -lt 5 ] && alive=1 || alive=0
        fi
        if [ "$alive" = 0 ]; then
            show_log "$log"
            die "$svc: server exited during startup (log: $log)"
        fi
        if [ $((SECONDS - start)) -ge "$START_TIMEOUT" ]; then
            show_log "$log"
            say "$svc: not accepting connections after ${START_TIMEOUT}s, stopping it" >&2
            "${svc}_stop" >&2 || true
            if [ -n "$launched" ] && pid_alive "$launched" "$("${svc}_comm")"; then
                as_root kill -KILL "$launched" 2>/dev/null || true
            fi
            die "$svc: start timed out (log: $log)"
        fi
        sleep 0.3
    done
}

# LOG_MARK, when set, is the size of the log before this start: errors
# logged since then are shown too (Kafka buries its fatal error under a
# hundred lines of shutdown messages).
LOG_MARK=""
show_log() {
    if [ -n "$LOG_MARK" ]; then
        say "---- errors in $1 since this start ----" >&2
        { tail -c +"$((LOG_MARK + 1))" "$1" 2>/dev/null || as_svc tail -c +"$((LOG_MARK + 1))" "$1" 2>/dev/null || true; } \
            | grep -E ' (ERROR|FATAL) |^Caused by: ' | tail -n 8 | cut -c1-400 >&2 || true
    fi
    say "---- last lines of $1 ----" >&2
    { tail -n 25 "$1" 2>/dev/null || as_svc tail -n 25 "$1" 2>/dev/null || true; } >&2
    say "----" >&2
}

# Stop pid $2 (named $3) of service $1: run the clean shutdown command given
# after the pid (each one is bounded by a timeout), then fall back to SIGTERM
# and finally SIGKILL.
stop_process() {
    local svc=$1 pid=$2 comm=$3
    shift 3
    say "$svc: stopping (pid $pid)"
    "$@" >/dev/null 2>&1 || say "$svc: clean shutdown command failed, waiting anyway"
    wait_gone "$pid" "$comm" 30 && return 0
    say "$svc: still running, sending SIGTERM"
    as_root kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" "$comm" 20 && return 0
    say "$svc: still running, sending SIGKILL"
    as_root kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" "$comm" 10 || die "$svc: cannot stop pid $pid"
}

# ---------------------------------------------------------- data location
# Data lives in <repo>/.run/<name> when $SVC_USER can reach it and the path is
# short enough for unix sockets (108 bytes); otherwise in a per-repo /tmp dir.
BASE=""
resolve_base() {
    [ -n "$BASE" ] && return 0
    id -u "$SVC_USER" >/dev/null 2>&1 || die "user $SVC_USER does not exist; run scripts/deps.sh first"
    [ -d "$RUN_DIR" ] || mkdir -m 0755 "$RUN_DIR" || die "cannot create $RUN_DIR"
    local why=""
    if ! as_svc test -x "$RUN_DIR" 2>/dev/null; then
        why="user $SVC_USER cannot traverse $RUN_DIR"
    elif [ "${#RUN_DIR}" -gt 80 ]; then
        why="$RUN_DIR is too long for unix socket paths"
    fi
    if [ -z "$why" ]; then
        BASE=$RUN_DIR
        return 0
    fi
    BASE=/tmp/sluice-run-$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)
    [ ! -L "$BASE" ] || die "$BASE is a symlink; refusing to use it"
    [ -d "$BASE" ] || mkdir -m 0755 "$BASE" || die "cannot create $BASE"
    [ "$(stat -c %u "$BASE")" = "$(id -u)" ] || die "$BASE is owned by someone else"
    chmod 0755 "$BASE"
    say "note: $why; service data goes to $BASE instead" >&2
}

# Create a service directory owned by $SVC_USER.
svc_dir() {
    as_root install -d -o "$SVC_USER" -g "$SVC_USER" -m 0755 "$1"
}

recorded_port() {    # dir default
    local p
    p=$(cat "$1/port" 2>/dev/null || true)
    printf '%s\n' "${p:-$2}"
}

# ------------------------------------------------------------- PostgreSQL
pg_dir() { printf '%s\n' "$BASE/pg"; }
pg_comm() { echo postgres; }
pg_pid() {
    local pid
    pid=$(read_pidfile "$(pg_dir)/data/postmaster.pid")
    pid_alive "$pid" postgres && printf '%s\n' "$pid" || true
}
pg_port() { recorded_port "$(pg_dir)" "$PG_PORT"; }
pg_probe() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$(pg_port)" -t 2 >/dev/null 2>&1; }

pg_start() {
    local dir data log pid out port=$PG_PORT
    dir=$(pg_dir)
    data=$dir/data
    log=$dir/postgresql.log
    svc_dir "$dir"
    if ! as_svc test -s "$data/PG_VERSION"; then
        say "pg: initdb in $data"
        if ! out=$(as_svc "$PG_BIN/initdb" -D "$data" --encoding=UTF8 --locale=C \
                --auth-local=trust --auth-host=scram-sha-256 2>&1); then
            printf '%s\n' "$out" >&2
            die "pg: initdb failed"
        fi
        printf '%s\n' "$out" | svc_write "$dir/initdb.log"
        # Our settings live in sluice.conf, included last so they win.
        printf "\n# Added by scripts/services.sh; settings are in sluice.conf.\ninclude = 'sluice.conf'\n" \
            | as_svc tee -a "$data/postgresql.conf" >/dev/null
    fi
    svc_write "$data/sluice.conf" <<EOF
# Generated by scripts/services.sh on every start; edits are lost.
listen_addresses = '$HOST'
port = $port
unix_socket_directories = '$dir'
wal_level = logical
max_replication_slots = 32
max_wal_senders = 32
shared_buffers = 128MB
# Durability stays real: tests exercise crash/restart paths.
fsync = on
synchronous_commit = on
full_page_writes = on
# stderr goes to $log (see services.sh spawn)
log_destination = 'stderr'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    svc_write "$data/pg_hba.conf" <<EOF
# Generated by scripts/services.sh on every start; edits are lost.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
local   replication  all                 trust
host    all          all   $HOST/32  scram-sha-256
host    replication  all   $HOST/32  scram-sha-256
EOF
    printf '%s\n' "$port" | svc_write "$dir/port"
    say "pg: starting on $HOST:$port"
    pid=$(spawn "$log" "$PG_BIN/postgres" -D "$data")
    wait_ready pg "$log" "$pid"
    pg_provision
    pg_check
}

pg_check() {
    PGPASSWORD=sluice PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -At \
        -h "$HOST" -p "$(pg_port)" -U sluice -d sluice -c 'select 1' >/dev/null \
        || die "pg: server is up but user sluice cannot log in over TCP"
}

# Role and database for the tests; run on every start, creates only what is
# missing.  Goes through the unix socket, where auth is trust.
pg_provision() {
    PGCONNECT_TIMEOUT=10 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_dir)" -p "$(pg_port)" \
        -U "$SVC_USER" -d postgres >/dev/null <<'EOF' || die "pg: creating role/database sluice failed"
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sluice') THEN
        CREATE ROLE sluice LOGIN SUPERUSER REPLICATION PASSWORD 'sluice';
    END IF;
END
$$;
SELECT 'CREATE DATABASE sluice OWNER sluice'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'sluice') \gexec
EOF
}

pg_stop() {
    local pid
    pid=$(pg_pid)
    [ -n "$pid" ] || { say "pg: not running"; return 0; }
    stop_process pg "$pid" postgres \
        as_svc timeout 70 "$PG_BIN/pg_ctl" stop -D "$(pg_dir)/data" -m fast -w -t 60
}

pg_env() {
    local port
    port=$(pg_port)
    cat <<EOF
export SLUICE_PG_HOST='$HOST'
export SLUICE_PG_PORT='$port'
export SLUICE_PG_USER='sluice'
export SLUICE_PG_PASSWORD='sluice'
export SLUICE_PG_DB='sluice'
export SLUICE_PG_SOCKET_DIR='$(pg_dir)'
export SLUICE_PG_DSN='host=$HOST port=$port user=sluice password=sluice dbname=sluice'
EOF
}

# ---------------------------------------------------------------- MariaDB
mariadb_dir() { printf '%s\n' "$BASE/mariadb"; }
mariadb_comm() { echo mariadbd; }
mariadb_pid() {
    local pid
    pid=$(read_pidfile "$(mariadb_dir)/mariadbd.pid")
    pid_alive "$pid" mariadbd && printf '%s\n' "$pid" || true
}
mariadb_port() { recorded_port "$(mariadb_dir)" "$MARIADB_PORT"; }
# Ping through the unix socket as the admin account.  (A TCP ping from an
# unknown user is no good: before the sluice users exist the server answers
# "host not allowed", which the client reports as a failure.)  TCP itself is
# checked at the end of mariadb_start by logging in as sluice.
mariadb_probe() {
    as_svc timeout 5 mariadb-admin --defaults-file="$(mariadb_dir)/my.cnf" \
        --protocol=socket -u "$SVC_USER" --connect-timeout=2 ping >/dev/null 2>&1
}
# Administrative client: unix socket as $SVC_USER, which mariadb-install-db
# made an all-privileges account authenticated by unix_socket.
mariadb_admin() {
    local dir
    dir=$(mariadb_dir)
    as_svc timeout 70 "$1" --defaults-file="$dir/my.cnf" --protocol=socket \
        -u "$SVC_USER" "${@:2}"
}

mariadb_start() {
    local dir data log pid out port=$MARIADB_PORT
    dir=$(mariadb_dir)
    data=$dir/data
    log=$dir/mariadb.log
    svc_dir "$dir"
    svc_write "$dir/my.cnf" <<EOF
# Generated by scripts/services.sh on every start; edits are lost.
[client]
socket = $dir/mariadb.sock
port = $port

[mysqld]
datadir = $data
socket = $dir/mariadb.sock
pid-file = $dir/mariadbd.pid
log-error = $log
bind-address = $HOST
port = $port
skip-name-resolve
server-id = 1
log-bin = mariadb-bin
binlog_format = ROW
binlog_row_image = FULL
binlog_row_metadata = FULL
gtid_strict_mode = ON
sync_binlog = 1
innodb_flush_log_at_trx_commit = 1
innodb_buffer_pool_size = 128M
character-set-server = utf8mb4
EOF
    if ! as_svc test -d "$data/mysql"; then
        say "mariadb: mariadb-install-db in $data"
        if ! out=$(as_svc mariadb-install-db --defaults-file="$dir/my.cnf" --skip-test-db \
                --auth-root-authentication-method=socket \
                --auth-root-socket-user="$SVC_USER" 2>&1); then
            printf '%s\n' "$out" >&2
            die "mariadb: mariadb-install-db failed (remove $data before retrying)"
        fi
        printf '%s\n' "$out" | svc_write "$dir/install-db.log"
    fi
    printf '%s\n' "$port" | svc_write "$dir/port"
    say "mariadb: starting on $HOST:$port"
    pid=$(spawn "$log" "$MARIADBD" --defaults-file="$dir/my.cnf")
    wait_ready mariadb "$log" "$pid"
    mariadb_provision
    mariadb_check
}

mariadb_check() {
    MYSQL_PWD=sluice mariadb --no-defaults --connect-timeout=5 --protocol=tcp -h "$HOST" -P "$(mariadb_port)" \
        -u sluice -D sluice -e 'select 1' >/dev/null \
        || die "mariadb: server is up but user sluice cannot log in over TCP"
}

# Users and database for the tests; run on every start with sql_log_bin off,
# so restarts do not add events to the binlog the tests read.
mariadb_provision() {
    mariadb_admin mariadb <<'EOF' || die "mariadb: creating user/database sluice failed"
SET SESSION sql_log_bin = 0;
CREATE USER IF NOT EXISTS 'sluice'@'127.0.0.1' IDENTIFIED BY 'sluice';
CREATE USER IF NOT EXISTS 'sluice'@'localhost' IDENTIFIED BY 'sluice';
GRANT ALL PRIVILEGES ON *.* TO 'sluice'@'127.0.0.1', 'sluice'@'localhost' WITH GRANT OPTION;
GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.*
   TO 'sluice'@'127.0.0.1', 'sluice'@'localhost';
CREATE DATABASE IF NOT EXISTS sluice;
EOF
}

mariadb_stop() {
    local pid
    pid=$(mariadb_pid)
    [ -n "$pid" ] || { say "mariadb: not running"; return 0; }
    stop_process mariadb "$pid" mariadbd mariadb_admin mariadb-admin shutdown
}

mariadb_env() {
    cat <<EOF
export SLUICE_MARIADB_HOST='$HOST'
export SLUICE_MARIADB_PORT='$(mariadb_port)'
export SLUICE_MARIADB_USER='sluice'
export SLUICE_MARIADB_PASSWORD='sluice'
export SLUICE_MARIADB_DB='sluice'
export SLUICE_MARIADB_SOCKET='$(mariadb_dir)/mariadb.sock'
EOF
}

# ------------------------------------------------------------------ Redis
redis_dir() { printf '%s\n' "$BASE/redis"; }
redis_comm() { echo redis-server; }
redis_pid() {
    local pid
    pid=$(read_pidfile "$(redis_dir)/redis.pid")
    pid_alive "$pid" redis-server && printf '%s\n' "$pid" || true
}
redis_port() { recorded_port "$(redis_dir)" "$REDIS_PORT"; }
redis_probe() {
    [ "$(timeout 5 redis-cli -h "$HOST" -p "$(redis_port)" ping 2>/dev/null)" = PONG ]
}

redis_start() {
    local dir out port=$REDIS_PORT
    dir=$(redis_dir)
    svc_dir "$dir"
    svc_write "$dir/redis.conf" <<EOF
# Generated by scripts/services.sh on every start; edits are lost.
bind $HOST
protected-mode yes
port $port
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
EOF
    printf '%s\n' "$port" | svc_write "$dir/port"
    say "redis: starting on $HOST:$port"
    # shellcheck disable=SC2016  # expanded by the inner sh
    if ! out=$(cd "$dir" && as_svc sh -c 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
                                          exec "$@"' redis "$REDIS_SERVER" "$dir/redis.conf" 2>&1 9>&-); then
        printf '%s\n' "$out" >&2
        show_log "$dir/redis.log"
        die "redis: redis-server refused to start"
    fi
    wait_ready redis "$dir/redis.log" ""
}

redis_provision() { :; }
redis_check() { :; }

redis_stop() {
    local pid
    pid=$(redis_pid)
    [ -n "$pid" ] || { say "redis: not running"; return 0; }
    stop_process redis "$pid" redis-server \
        timeout 30 redis-cli -h "$HOST" -p "$(redis_port)" shutdown nosave
}

redis_env() {
    cat <<EOF
export SLUICE_REDIS_HOST='$HOST'
export SLUICE_REDIS_PORT='$(redis_port)'
EOF
}

# ------------------------------------------------------------------ Kafka
# One KRaft node, broker and controller in one JVM.  Kafka writes no pid file,
# so we record the pid spawn reports; a pid only counts when it is a java
# process started with our server.properties.
kafka_dir() { printf '%s\n' "$BASE/kafka"; }
kafka_comm() { echo java; }
kafka_pid() {
    local dir pid cmd
    dir=$(kafka_dir)
    pid=$(read_pidfile "$dir/kafka.pid")
    pid_alive "$pid" java || return 0
    cmd=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 0
    grep -qxF "$dir/server.properties" <<<"$cmd" && printf '%s\n' "$pid" || true
}
kafka_port() { recorded_port "$(kafka_dir)" "$KAFKA_PORT"; }
# Ready when a metadata request lists broker 1: a fenced (still starting)
# broker is left out of metadata responses.
kafka_probe() {
    local md
    md=$(timeout 5 kcat -L -b "$HOST:$(kafka_port)" -m 2 2>/dev/null) || return 1
    grep -q ' broker 1 at ' <<<"$md"
}

# Directory of jars the service user can read: .deps/kafka/libs itself, or,
# when $SVC_USER cannot reach the repo, a copy under the service directory
# (refreshed when deps.sh installed another version).
kafka_libs() {
    local dir=$1 jars jar
    jars=("$KAFKA_LIBS"/kafka_2.13-*.jar)
    jar=${jars[0]}
    [ -s "$jar" ] && [ -s "$KAFKA_MARKER" ] \
        || die "kafka: no broker jars in $KAFKA_LIBS; run scripts/deps.sh first"
    if as_svc test -r "$jar" 2>/dev/null; then
        printf '%s\n' "$KAFKA_LIBS"
        return 0
    fi
    if [ "$(as_svc cat "$dir/libs/installed" 2>/dev/null || true)" != "$(cat "$KAFKA_MARKER")" ]; then
        say "kafka: $SVC_USER cannot read $KAFKA_LIBS; copying the jars to $dir/libs" >&2
        as_root rm -rf "$dir/libs"
        as_root cp -r "$KAFKA_LIBS" "$dir/libs"
        as_root cp "$KAFKA_MARKER" "$dir/libs/installed"
        as_root chown -R "$SVC_USER:$SVC_USER" "$dir/libs"
    fi
    printf '%s\n' "$dir/libs"
}

# Port of listener $1 (SASL_PLAINTEXT, SSL) of the running broker, from the
# server.properties it was started with; nothing when it has no such listener
# (a broker started by an older services.sh).
kafka_listener_port() {
    local line
    line=$(sed -n 's/^listeners=//p' "$(kafka_dir)/server.properties" 2>/dev/null) || return 0
    tr ',' '\n' <<<"$line" | sed -n "s|^$1://.*:\([0-9]*\)\$|\1|p"
}
kafka_ca() { printf '%s\n' "$(kafka_dir)/tls/ca.pem"; }

# Metadata request through the SASL_PLAINTEXT listener with mechanism $1.
kafka_sasl_ok() {
    local port md
    port=$(kafka_listener_port SASL_PLAINTEXT)
    md=$(timeout 5 kcat -L -b "$HOST:$port" -m 2 -X security.protocol=sasl_plaintext \
        -X sasl.mechanisms="$1" -X sasl.username="$KAFKA_SASL_USER" \
        -X sasl.password="$KAFKA_SASL_PASSWORD" 2>/dev/null) || return 1
    grep -q ' broker 1 at ' <<<"$md"
}

# Metadata request through the SSL listener, verifying the broker's
# certificate against our CA (host name included).
kafka_ssl_ok() {
    local port md
    port=$(kafka_listener_port SSL)
    md=$(timeout 5 kcat -L -b "$HOST:$port" -m 2 -X security.protocol=ssl \
        -X ssl.ca.location="$(kafka_ca)" -X ssl.endpoint.identification.algorithm=https 2>/dev/null) || return 1
    grep -q ' broker 1 at ' <<<"$md"
}

# Throwaway CA and a broker certificate for $HOST and localhost, PEM, made
# once (again only when missing or expiring within a day).  Built in tls.new
# and renamed, so an interrupted run leaves no half-made set.
kafka_tls() {
    local dir=$1 tls=$1/tls new=$1/tls.new out
    if as_svc test -s "$tls/broker.pem" && as_svc test -s "$tls/ca.pem" \
        && as_svc openssl x509 -noout -checkend 86400 -in "$tls/broker.pem" >/dev/null 2>&1; then
        return 0
    fi
    command -v openssl >/dev/null || die "kafka: openssl not found (needed for the SSL listener)"
    say "kafka: making a test CA and broker certificate in $tls"
    as_svc rm -rf "$new"
    as_svc mkdir -m 0755 "$new"
    # shellcheck disable=SC2016  # expanded by the inner sh
    if ! out=$(cd "$dir" && as_svc sh -ec 'cd "$1"; umask 077
        printf "%s\n" "subjectAltName=DNS:localhost,IP:$2" "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >broker.ext
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -sha256 \
            -subj "/CN=sluice test CA" -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost"
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
            -days 3650 -sha256 -extfile broker.ext -out broker.crt
        # Kafka PEM key store: unencrypted PKCS#8 key, then the chain.
        cat broker.key broker.crt ca.pem >broker.pem
        chmod 0644 ca.pem broker.crt
        openssl verify -CAfile ca.pem broker.crt' tls "$new" "$HOST" 2>&1 9>&-); then
        printf '%s\n' "$out" >&2
        die "kafka: making the TLS certificates failed"
    fi
    as_svc rm -rf "$tls"
    as_svc mv "$new" "$tls"
}

kafka_start() {
    local dir data log libs java cluster pid out port=$KAFKA_PORT cport=$KAFKA_CONTROLLER_PORT
    local sport=$KAFKA_SASL_PORT tport=$KAFKA_SSL_PORT scram
    dir=$(kafka_dir)
    data=$dir/data
    log=$dir/kafka.log
    java=$(command -v java) || die "kafka: java not found; run scripts/deps.sh first"
    svc_dir "$dir"
    libs=$(kafka_libs "$dir")
    kafka_tls "$dir"
    svc_write "$dir/server.properties" <<EOF
# Generated by scripts/services.sh on every start; edits are lost.
# KRaft combined mode: this one node is the broker and the whole controller quorum.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$cport
listeners=PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$cport,SASL_PLAINTEXT://$HOST:$sport,SSL://$HOST:$tport
advertised.listeners=PLAINTEXT://$HOST:$port,SASL_PLAINTEXT://$HOST:$sport,SSL://$HOST:$tport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
# Client security tests: SASL without TLS (PLAIN users in the JAAS line,
# SCRAM users in the cluster metadata), and TLS without client certificates.
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER="$KAFKA_SASL_PASSWORD";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$dir/tls/broker.pem
listener.name.ssl.ssl.client.auth=none
log.dirs=$data
# Single node: every replication factor and ISR minimum is 1.
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
# Internal topics with few partitions: created quickly on first use.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
num.partitions=1
# sluice must create its topics itself.
auto.create.topics.enable=false
delete.topic.enable=true
# Small machine: fewer threads, and a smaller log-cleaner buffer (heap).
num.network.threads=2
num.io.threads=4
log.cleaner.dedupe.buffer.size=33554432
EOF
    # Log to stdout, which spawn appends to $log.
    svc_write "$dir/log4j.properties" <<'EOF'
# Generated by scripts/services.sh on every start; edits are lost.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.org.apache.kafka.raft=WARN
log4j.logger.org.apache.kafka.controller=WARN
log4j.logger.org.apache.kafka.image.loader=WARN
EOF
    local jvm=(-Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
        "-Dlog4j.configuration=file:$dir/log4j.properties" -cp "$libs/*")
    if ! as_svc test -s "$data/meta.properties"; then
        cluster=$(as_svc cat "$dir/cluster-id" 2>/dev/null || true)
        if [ -z "$cluster" ]; then
            # A Kafka cluster id: 16 random bytes, url-safe base64 without padding.
            cluster=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
            printf '%s\n' "$cluster" | svc_write "$dir/cluster-id"
        fi
        say "kafka: formatting $data (cluster $cluster)"
        # The SCRAM users go into the initial metadata; data formatted before
        # they existed gets them from kafka_provision.
        scram="name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD"
        if ! out=$(cd "$dir" && as_svc "$java" "${jvm[@]}" kafka.tools.StorageTool format \
                -t "$cluster" -c "$dir/server.properties" \
                -S "SCRAM-SHA-256=[$scram]" -S "SCRAM-SHA-512=[$scram]" 2>&1 9>&-); then
            printf '%s\n' "$out" >&2
            die "kafka: formatting storage failed (remove $data before retrying)"
        fi
        printf '%s\n' "$out" | svc_write "$dir/format.log"
    fi
    printf '%s\n' "$port" | svc_write "$dir/port"
    say "kafka: starting on $HOST:$port (controller $HOST:$cport, SASL_PLAINTEXT $HOST:$sport, SSL $HOST:$tport)"
    LOG_MARK=$(as_svc stat -c %s "$log" 2>/dev/null || echo 0)
    pid=$(spawn "$log" "$java" "${jvm[@]}" kafka.Kafka "$dir/server.properties")
    printf '%s\n' "$pid" | svc_write "$dir/kafka.pid"
    wait_ready kafka "$log" "$pid"
    kafka_provision
    kafka_check
}

# SCRAM users live in the cluster metadata, so they survive restarts; a
# SCRAM login that fails (data formatted before they were added, or someone
# removed them) makes us (re)create them with ConfigCommand, an idempotent
# upsert, and wait for the broker to accept them.
kafka_provision() {
    local dir java libs out mech spec end ok
    [ -n "$(kafka_listener_port SASL_PLAINTEXT)" ] || return 0
    kafka_sasl_ok SCRAM-SHA-256 && kafka_sasl_ok SCRAM-SHA-512 && return 0
    say "kafka: adding SCRAM-SHA-256/512 credentials for user $KAFKA_SASL_USER"
    dir=$(kafka_dir)
    java=$(command -v java) || die "kafka: java not found; run scripts/deps.sh first"
    libs=$(kafka_libs "$dir")
    # One mechanism per request: KRaft refuses two alterations of one user's
    # credentials in the same request (DuplicateResourceException).
    for spec in "SCRAM-SHA-256=[iterations=4096,password=$KAFKA_SASL_PASSWORD]" \
        "SCRAM-SHA-512=[iterations=4096,password=$KAFKA_SASL_PASSWORD]"; do
        if ! out=$(cd "$dir" && as_svc timeout 60 "$java" -Xmx256m -XX:TieredStopAtLevel=1 \
                "-Dlog4j.configuration=file:$dir/log4j.properties" -cp "$libs/*" kafka.admin.ConfigCommand \
                --bootstrap-server "$HOST:$(kafka_port)" --alter --entity-type users \
                --entity-name "$KAFKA_SASL_USER" --add-config "$spec" 2>&1 9>&-); then
            printf '%s\n' "$out" | grep -E 'rror|xception|^Caused' | head -n 5 >&2
            die "kafka: adding the ${spec%%=*} credentials of $KAFKA_SASL_USER failed"
        fi
    done
    end=$((SECONDS + 15))
    while :; do
        ok=1
        for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
            kafka_sasl_ok "$mech" || ok=0
        done
        [ "$ok" = 0 ] || return 0
        [ "$SECONDS" -lt "$end" ] || die "kafka: SCRAM login as $KAFKA_SASL_USER still fails after adding the credentials"
        sleep 0.3
    done
}

# Every listener answers: PLAINTEXT, SASL_PLAINTEXT with PLAIN (SCRAM is
# checked by kafka_provision) and SSL with a verified certificate.
kafka_check() {
    local p
    kafka_probe || die "kafka: broker is up but does not answer metadata requests"
    p=$(kafka_listener_port SASL_PLAINTEXT)
    if [ -n "$p" ]; then
        kafka_sasl_ok PLAIN || die "kafka: SASL_PLAINTEXT listener $HOST:$p refuses PLAIN login of $KAFKA_SASL_USER"
    fi
    p=$(kafka_listener_port SSL)
    if [ -n "$p" ]; then
        kafka_ssl_ok || die "kafka: SSL listener $HOST:$p does not answer with a certificate signed by $(kafka_ca)"
    fi
}

# SIGTERM makes Kafka shut down cleanly (flushing logs, writing the clean
# shutdown marker); stop_process waits and escalates to SIGKILL.
kafka_stop() {
    local pid
    pid=$(kafka_pid)
    [ -n "$pid" ] || { say "kafka: not running"; return 0; }
    stop_process kafka "$pid" java as_root kill -TERM "$pid"
}

# The SASL/SSL lines only when the running broker has those listeners.
kafka_env() {
    local p
    cat <<EOF
export SLUICE_KAFKA_HOST='$HOST'
export SLUICE_KAFKA_PORT='$(kafka_port)'
export SLUICE_KAFKA_BOOTSTRAP='$HOST:$(kafka_port)'
EOF
    p=$(kafka_listener_port SASL_PLAINTEXT)
    [ -z "$p" ] || cat <<EOF
export SLUICE_KAFKA_SASL_PORT='$p'
export SLUICE_KAFKA_SASL_BOOTSTRAP='$HOST:$p'
export SLUICE_KAFKA_SASL_USER='$KAFKA_SASL_USER'
export SLUICE_KAFKA_SASL_PASSWORD='$KAFKA_SASL_PASSWORD'
EOF
    p=$(kafka_listener_port SSL)
    [ -z "$p" ] || cat <<EOF
export SLUICE_KAFKA_SSL_PORT='$p'
export SLUICE_KAFKA_SSL_BOOTSTRAP='$HOST:$p'
export SLUICE_KAFKA_CA='$(kafka_ca)'
EOF
}

# ------------------------------------------------------------------ MongoDB
# mongo-java-server (in-memory backend) in one JVM, started through
# scripts/mongo/SluiceMongo.java (+ SluiceEvents.java).  No pid file of its own: we record the pid
# spawn reports, and a pid only counts when it is a java process started with
# our -Dsluice.mongo.dir.  In memory only: a stop loses every database.
mongo_dir() { printf '%s\n' "$BASE/mongo"; }
mongo_comm() { echo java; }
mongo_pid() {
    local dir pid cmd
    dir=$(mongo_dir)
    pid=$(read_pidfile "$dir/mongo.pid")
    pid_alive "$pid" java || return 0
    cmd=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 0
    grep -qxF -- "-Dsluice.mongo.dir=$dir" <<<"$cmd" && printf '%s\n' "$pid" || true
}
mongo_port() { recorded_port "$(mongo_dir)" "$MONGO_PORT"; }
# Ready when the server answers a real `hello` (OP_MSG) as writable primary.
mongo_probe() {
    timeout 8 python3 "$SCRIPT_DIR/mongo/hello.py" "$HOST" "$(mongo_port)" >/dev/null 2>&1
}

# Classpath (launcher classes + jars) the service user can read: the ones in
# .deps/mongo, or, when $SVC_USER cannot reach the repo, a copy under the
# service directory (refreshed when deps.sh installed something else).
mongo_classpath() {
    local dir=$1 src=$MONGO_HOME stamp
    [ -s "$src/classes/SluiceMongo.class" ] && [ -s "$src/installed" ] \
        && [ -s "$src/classes.installed" ] && compgen -G "$src/libs/mongo-java-server-core-*.jar" >/dev/null \
        || die "mongo: no mongo-java-server jars or launcher in $src; run scripts/deps.sh first"
    if ! as_svc test -r "$src/classes/SluiceMongo.class" 2>/dev/null; then
        stamp=$(cat "$src/installed" "$src/classes.installed")
        if [ "$(as_svc cat "$dir/deps/stamp" 2>/dev/null || true)" != "$stamp" ]; then
            say "mongo: $SVC_USER cannot read $src; copying the jars and classes to $dir/deps" >&2
            as_root rm -rf "$dir/deps"
            as_root mkdir -p "$dir/deps"
            as_root cp -r "$src/libs" "$src/classes" "$dir/deps/"
            printf '%s\n' "$stamp" | as_root tee "$dir/deps/stamp" >/dev/null
            as_root chown -R "$SVC_USER:$SVC_USER" "$dir/deps"
        fi
        src=$dir/deps
    fi
    printf '%s\n' "$src/classes:$src/libs/*"
}

mongo_start() {
    local dir log cp java pid port=$MONGO_PORT
    dir=$(mongo_dir)
    log=$dir/mongo.log
    java=$(command -v java) || die "mongo: java not found; run scripts/deps.sh first"
    command -v python3 >/dev/null || die "mongo: python3 not found (needed for the readiness probe)"
    svc_dir "$dir"
    cp=$(mongo_classpath "$dir")
    printf '%s\n' "$port" | svc_write "$dir/port"
    say "mongo: starting mongo-java-server on $HOST:$port (in memory, replica set $MONGO_REPLSET)"
    LOG_MARK=$(as_svc stat -c %s "$log" 2>/dev/null || echo 0)
    # 4 GiB of heap: the in-memory oplog is never trimmed, and a whole make check (plus benches) fills 1 GiB.
    # SLUICE_MONGO_HEAP sets another (bench-verify's million documents with embedded arrays need more).
    pid=$(spawn "$log" "$java" -Xms64m "-Xmx${SLUICE_MONGO_HEAP:-4g}" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true "-Dsluice.mongo.dir=$dir" \
        -Dorg.slf4j.simpleLogger.showDateTime=true \
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ" \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
        -Dorg.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire.MongoWireProtocolHandler=warn \
        -cp "$cp" SluiceMongo --host "$HOST" --port "$port" --replset "$MONGO_REPLSET")
    printf '%s\n' "$pid" | svc_write "$dir/mongo.pid"
    wait_ready mongo "$log" "$pid"
    mongo_check
}

mongo_provision() { :; }

# The hello reply names our replica set and this address as its primary.
mongo_check() {
    local reply
    reply=$(timeout 8 python3 "$SCRIPT_DIR/mongo/hello.py" "$HOST" "$(mongo_port)" 2>&1) \
        || die "mongo: server does not answer hello: $reply"
    grep -qF "\"setName\": \"$MONGO_REPLSET\"" <<<"$reply" \
        && grep -qF "\"primary\": \"$HOST:$(mongo_port)\"" <<<"$reply" \
        || die "mongo: hello does not describe replica set $MONGO_REPLSET with primary $HOST:$(mongo_port): $reply"
}

# SIGTERM runs the launcher's shutdown hook (closes clients and the port).
mongo_stop() {
    local pid
    pid=$(mongo_pid)
    [ -n "$pid" ] || { say "mongo: not running"; return 0; }
    stop_process mongo "$pid" java as_root kill -TERM "$pid"
}

# SLUICE_MONGO_URI connects to this one server directly; SLUICE_MONGO_RS_URI
# goes through replica-set discovery.  Both work for the C driver and for
# change streams.
mongo_env() {
    local port
    port=$(mongo_port)
    cat <<EOF
export SLUICE_MONGO_HOST='$HOST'
export SLUICE_MONGO_PORT='$port'
export SLUICE_MONGO_REPLSET='$MONGO_REPLSET'
export SLUICE_MONGO_URI='mongodb://$HOST:$port/?directConnection=true'
export SLUICE_MONGO_RS_URI='mongodb://$HOST:$port/?replicaSet=$MONGO_REPLSET'
EOF
}

# --------------------------------------------------------------- commands
# Port a start would use now (env or default); the *_port functions give the
# port recorded by the last start, which is what a running server listens on.
wanted_port() {
    case $1 in
        pg) echo "$PG_PORT" ;;
        mariadb) echo "$MARIADB_PORT" ;;
        redis) echo "$REDIS_PORT" ;;
        kafka) echo "$KAFKA_PORT" ;;
        mongo) echo "$MONGO_PORT" ;;
    esac
}

do_start() {
    local svc=$1 pid
    pid=$("${svc}_pid")
    if [ -n "$pid" ]; then
        # Nothing to start; re-assert users/databases (idempotent) in case an
        # earlier start was interrupted before creating them.
        "${svc}_provision"
        "${svc}_check"
        say "$svc: already running on $HOST:$("${svc}_port") (pid $pid)"
        local want
        want=$(wanted_port "$svc")
        [ "$want" = "$("${svc}_port")" ] \
            || say "$svc: note: requested port $want ignored; stop it first to change ports"
        return 0
    fi
    "${svc}_start"
    say "$svc: up on $HOST:$("${svc}_port") (pid $("${svc}_pid"), data $("${svc}_dir"))"
}

do_stop() {
    local svc=$1
    [ -n "$("${svc}_pid")" ] || { say "$svc: not running"; return 0; }
    "${svc}_stop"
    say "$svc: stopped"
}

do_status() {
    local svc=$1 pid
    pid=$("${svc}_pid")
    if [ -z "$pid" ]; then
        say "$svc: down (port $(wanted_port "$svc"))"
        return 1
    fi
    if "${svc}_probe"; then
        say "$svc: up on $HOST:$("${svc}_port") (pid $pid)"
    else
        say "$svc: running but not accepting connections on $HOST:$("${svc}_port") (pid $pid)"
        return 1
    fi
}

# Rewrite .run/env from what is actually running.
write_env() {
    local tmp svc
    tmp=$(mktemp "$RUN_DIR/.env.XXXXXX") || return 0
    {
        say "# Written by scripts/services.sh after every start/stop: one block per"
        say "# service that is up.  Load it with:  . .run/env"
        for svc in "${ALL_SERVICES[@]}"; do
            [ -n "$("${svc}_pid")" ] && "${svc}_env"
        done
        true
    } >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$ENV_FILE"
}

[ $# -ge 2 ] || usage
action=$1
shift
case $action in
    start | stop | status) ;;
    *) usage ;;
esac

services=()
for arg in "$@"; do
    case $arg in
        all) services+=("${ALL_SERVICES[@]}") ;;
        pg | mariadb | redis | kafka | mongo) services+=("$arg") ;;
        *)
            printf 'unknown service "%s" (known: pg mariadb redis kafka mongo all)\n' "$arg" >&2
            exit 2
            ;;
    esac
done
# Drop duplicates, keep order.
declare -A seen=()
todo=()
for svc in "${services[@]}"; do
    [ -n "${seen[$svc]:-}" ] || todo+=("$svc")
    seen[$svc]=1
done

resolve_base

if [ "$action" = status ]; then
    rc=0
    for svc in "${todo[@]}"; do
        do_status "$svc" || rc=3
    done
    exit "$rc"
fi

# start/stop: one at a time per repo, and .run/env rewritten however we exit.
# (fd 9 holds the lock; spawned servers must not inherit it, see spawn.)
exec 9>"$RUN_DIR/.lock"
flock -w 300 9 || die "another services.sh is still running (lock $RUN_DIR/.lock)"
trap write_env EXIT
for svc in "${todo[@]}"; do
    "do_$action" "$svc"
done
