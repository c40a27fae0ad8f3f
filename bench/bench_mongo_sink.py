#!/usr/bin/env python3
"""bench-mongo part (b): the MongoDB sink's documents/s against a bare libmongoc bulk loop.

A PostgreSQL table of BENCH_DOCS rows (default 100,000; orders-like columns) is
  1. exported once as the documents the MongoDB sink makes of it (RdbmsHandler:
     {_id: {id}, other columns}; numeric as string, timestamptz as ISO text) and
     written by bench_mongo_bulk (bench/mongo_bulk.c): ordered bulk writes of
     1000 replaceOne(upsert) from memory, timing only the writes: the limit of
     what the server takes (after a run that warms the server up);
  2. copied by sluice in one process (snapshot -> Debezium events -> MongoDB
     sink, the same replaceOne upserts), timed from process start until the
     collection holds every document;
  3. copied through Kafka: sluice (snapshot -> Kafka sink, untimed) first fills
     a fresh topic with the table's Debezium JSON events with schemas (the
     JsonConverter default); then sluice as MongoSinkConnector (Kafka source ->
     MongoDB sink: the same documents and writes) is timed from process start
     until the collection holds every document.
The three run BENCH_ROUNDS times (default 3) in turn, each round on a
freshly restarted and warmed-up test server (its collector pauses for up to
a second now and then, and it slows down as its oplog, never trimmed,
grows), each into a fresh collection; the medians are compared.
Each sluice run is a fresh process; its peak RSS is VmHWM from /proc (goal
for Kafka -> MongoDB: <= 64 MiB). All write into fresh collections of the same
test server (mongo-java-server: an in-memory imitation, so absolute numbers
say little; compare the lines). Prints documents/s of each, each sluice
path's ratio to the bare loop and its peak RSS. Extra keys for the Kafka ->
MongoDB run: BENCH_KAFKA_MONGO_CONFIG (JSON).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pg as b  # noqa: E402
from bench_kafka import BOOTSTRAP, acked, delete_topics  # noqa: E402

from confluent_kafka import Consumer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

N = int(os.environ.get("BENCH_DOCS", 100_000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
BULK = os.environ.get("BENCH_MONGO_BULK", str(b.ROOT / "build" / "bench_mongo_bulk"))


def pg_config(slot, prefix):
    """The table's snapshot, as a PostgreSQL connector config without its sink."""
    p = b.pg_params()
    return {"connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
            "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
            "topic.prefix": prefix, "slot.name": slot, "publication.name": "bench_docs_pub",
            "publication.autocreate.mode": "disabled", "snapshot.mode": "initial",
            "table.include.list": "public.bench_docs", "decimal.handling.mode": "string", "log.level": "warn"}


def fill_topic(d, conn, prefix):
    """sluice PostgreSQL -> Kafka (untimed): the table's N snapshot events, Debezium JSON with schemas, in
    the fresh topic <prefix>.public.bench_docs, which it returns."""
    topic = f"{prefix}.public.bench_docs"
    slot = "bench_docs_k" + uuid.uuid4().hex[:6]
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "bench-mongo-" + prefix, "enable.auto.commit": False})
    parts = []
    try:
        b.run_config_until(d, "fill", {**pg_config(slot, prefix), "sink.type": "kafka", "bootstrap.servers": BOOTSTRAP,
                              "offset.storage.file.filename": str(d / "fill-offsets.db")},
                  lambda: acked(c, topic, parts) >= N)
    finally:
        c.close()
        b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", slot)
    return topic


def same_fields(client, db_name, bare_coll, coll):
    bare = client[db_name][bare_coll].find_one({"_id": {"id": 7}})
    mine = client[db_name][coll].find_one({"_id": {"id": 7}})
    if set(bare) != set(mine):
        print(f"note: documents differ in fields: bare {sorted(bare)} {coll} {sorted(mine)}")


def main():
    conn = psycopg2.connect(**b.pg_params())
    conn.autocommit = True
    b.q(conn, "DROP PUBLICATION IF EXISTS bench_docs_pub")
    b.orders_table(conn, "bench_docs", N)
    b.q(conn, "CREATE PUBLICATION bench_docs_pub FOR TABLE bench_docs")
    uri = os.environ["SLUICE_MONGO_URI"]
    client = MongoClient(uri)
    db_name = "bench_" + uuid.uuid4().hex[:8]
    slots = []
    prefix = "bm" + uuid.uuid4().hex[:10]  # the Kafka run's topic prefix
    try:
        with tempfile.TemporaryDirectory(dir=b.ROOT / ".run") as d:
            d = Path(d)
            docs = d / "docs.jsonl"
            with conn.cursor() as c, open(docs, "w") as f:
                c.execute("""SELECT json_build_object('_id', json_build_object('id', id), 'customer_id', customer_id,
                             'status', status, 'total', total::text,
                             'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                             'note', note)::text FROM bench_docs ORDER BY id""")
                for (row,) in c:
                    f.write(row + "\n")
            # The test server (a JVM, in memory) takes the first documents much slower than later ones while it
            # warms up (19.5k docs/s cold, 29-37k warm, seen here), pauses for its collector now and then, and
            # slows down as its oplog grows (it never trims it): each round restarts it and warms it up, then
            # runs the three, each into a fresh collection; the medians are compared.
            topic = fill_topic(d, conn, prefix)
            runs = {"bare": [], "pg": [], "kafka": []}
            rss = {"pg": [], "kafka": []}
            for k in range(ROUNDS):
                for what in ("stop", "start"):
                    subprocess.run([str(b.ROOT / "scripts" / "services.sh"), what, "mongo"], check=True,
                                   capture_output=True, timeout=300)
                r = subprocess.run([BULK, uri, db_name, "docs_warmup", str(docs), "1000"], capture_output=True,
                                   text=True, timeout=3600)
                if r.returncode:
                    sys.exit(f"bench_mongo_bulk failed: {r.stderr}")
                client[db_name]["docs_warmup"].drop()
                r = subprocess.run([BULK, uri, db_name, f"docs_bare{k}", str(docs), "1000"], capture_output=True,
                                   text=True, timeout=3600)
                if r.returncode:
                    sys.exit(f"bench_mongo_bulk failed: {r.stderr}")
                bare = json.loads(r.stdout)
                runs["bare"].append(bare["seconds"] * N / bare["documents"])
                slot = f"bench_docs_{uuid.uuid4().hex[:6]}"
                slots.append(slot)
                coll = client[db_name][f"docs_sluice{k}"]
                secs, m = b.run_config_until(d, f"bench-mongo-sink-{k}", {
                    **pg_config(slot, "bench"), "sink.type": "mongodb", "connection.uri": uri, "database": db_name,
                    "collection": coll.name, "offset.storage.file.filename": str(d / f"offsets-{k}.db")},
                    lambda: coll.estimated_document_count() >= N)
                runs["pg"].append(secs), rss["pg"].append(m)
                b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                          "WHERE slot_name = %s", slot)
                kcoll = client[db_name][f"docs_kafka{k}"]
                ksecs, km = b.run_config_until(d, f"bench-kafka-mongo-{k}", {
                    "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "topics": topic,
                    "bootstrap.servers": BOOTSTRAP, "connection.uri": uri, "database": db_name,
                    "collection": kcoll.name, "offset.storage.file.filename": str(d / f"k-offsets-{k}.db"),
                    "log.level": "warn", **json.loads(os.environ.get("BENCH_KAFKA_MONGO_CONFIG", "{}"))},
                    lambda: kcoll.estimated_document_count() >= N)
                runs["kafka"].append(ksecs), rss["kafka"].append(km)
                if k == 0:
                    same_fields(client, db_name, f"docs_bare{k}", coll.name)
                    same_fields(client, db_name, f"docs_bare{k}", kcoll.name)
                for c in (f"docs_bare{k}", coll.name, kcoll.name):
                    client[db_name][c].drop()
                print(f"round {k + 1}: seconds bare {runs['bare'][-1]:.2f}, PostgreSQL -> MongoDB {secs:.2f}, "
                      f"Kafka -> MongoDB {ksecs:.2f}", flush=True)
        med = {name: statistics.median(v) for name, v in runs.items()}
        print(f"{'':40}{'documents':>10}{'seconds':>10}{'docs/s':>10}{'/ bare':>8}{'peak RSS':>13}   "
              f"(medians of {ROUNDS} rounds)")
        print(f"{'bare libmongoc bulk replaceOne':40}{N:>10}{med['bare']:>10.2f}{N / med['bare']:>10.0f}")
        for label, key in (("sluice PostgreSQL -> MongoDB", "pg"), ("sluice Kafka (JSON, schemas) -> MongoDB", "kafka")):
            print(f"{label:40}{N:>10}{med[key]:>10.2f}{N / med[key]:>10.0f}{med['bare'] / med[key]:>8.2f}"
                  f"{max(rss[key]) / 1048576:>9.1f} MiB")
        print(f"ratio sluice Kafka -> MongoDB / bare: {med['bare'] / med['kafka']:.2f} (rounds: "
              f"{', '.join(f'{x / y:.2f}' for x, y in zip(runs['bare'], runs['kafka']))})   "
              f"its peak RSS: {max(rss['kafka']) / 1048576:.1f} MiB (goal <= 64 MiB)")
    finally:
        delete_topics(AdminClient({"bootstrap.servers": BOOTSTRAP}), prefix)
        client.drop_database(db_name)
        for slot in slots:
            b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                slot)
        b.q(conn, "DROP TABLE bench_docs; DROP PUBLICATION bench_docs_pub")


if __name__ == "__main__":
    main()
