#!/usr/bin/env bash
# make demo: a live PostgreSQL -> JSON-lines sync on a throwaway server.
# Starts PostgreSQL under .run/, creates a table with a few rows, runs a
# sluice connector (snapshot, then streaming) printing change events to
# stdout, makes some writes, waits for their events, then stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${SLUICE_BIN:-$root/build/sluice}
scripts/services.sh start pg >/dev/null
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; scripts/services.sh stop pg >/dev/null 2>&1 || true' EXIT
. .run/env
export PGPASSWORD=$SLUICE_PG_PASSWORD
sql() { PGOPTIONS="-c client_min_messages=warning" psql -q -h 127.0.0.1 -p "$SLUICE_PG_PORT" -U "$SLUICE_PG_USER" -d "$SLUICE_PG_DB" -v ON_ERROR_STOP=1 -c "$1"; }

demo=.run/demo
rm -rf "$demo" && mkdir -p "$demo"
sql "DROP TABLE IF EXISTS demo_orders; DROP PUBLICATION IF EXISTS demo_pub;
     SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'demo_slot';
     CREATE TABLE demo_orders (id serial PRIMARY KEY, customer text NOT NULL, total numeric(10,2), placed_at timestamptz DEFAULT now());
     INSERT INTO demo_orders (customer, total) VALUES ('ada', 12.50), ('grace', 99.99);" >/dev/null

cat > "$demo/connector.json" <<JSON
{
  "name": "demo",
  "config": {
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    "database.hostname": "127.0.0.1",
    "database.port": "$SLUICE_PG_PORT",
    "database.user": "$SLUICE_PG_USER",
    "database.password": "\${env:PGPASSWORD}",
    "database.dbname": "$SLUICE_PG_DB",
    "topic.prefix": "demo",
    "slot.name": "demo_slot",
    "slot.drop.on.stop": "true",
    "publication.name": "demo_pub",
    "publication.autocreate.mode": "filtered",
    "table.include.list": "public.demo_orders",
    "sink.type": "stdout",
    "value.converter.schemas.enable": "false",
    "key.converter.schemas.enable": "false",
    "offset.storage.file.filename": "$demo/offsets.db"
  }
}
JSON

echo "== sluice: snapshot of public.demo_orders, then live changes (one JSON line per event)"
"$bin" run "$demo/connector.json" > "$demo/events.jsonl" 2> "$demo/sluice.log" &
pid=$!
tail -n +1 -f "$demo/events.jsonl" --pid=$$ 2>/dev/null &
tailpid=$!
wait_events() { # wait until the file has $1 lines
  for _ in $(seq 1 300); do
    [ "$(wc -l < "$demo/events.jsonl")" -ge "$1" ] && return 0
    kill -0 $pid 2>/dev/null || { echo "sluice exited early:"; cat "$demo/sluice.log"; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for $1 events"; cat "$demo/sluice.log"; return 1
}
wait_events 2
echo "== writing: insert, update, delete"
sql "INSERT INTO demo_orders (customer, total) VALUES ('linus', 5.00);
     UPDATE demo_orders SET total = 15.00 WHERE customer = 'ada';
     DELETE FROM demo_orders WHERE customer = 'grace';" >/dev/null
wait_events 6   # 2 snapshot reads + insert + update + delete + tombstone
sleep 0.3
kill -TERM $pid; wait $pid; rc=$?
kill $tailpid 2>/dev/null || true
sql "DROP TABLE demo_orders; DROP PUBLICATION IF EXISTS demo_pub;" >/dev/null
echo "== sluice stopped (exit $rc); $(wc -l < "$demo/events.jsonl") events; log in $demo/sluice.log"
exit $rc
