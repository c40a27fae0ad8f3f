#!/usr/bin/env python3
"""bench-mongo part (b): PostgreSQL -> MongoDB sink documents/s against a bare libmongoc bulk loop.

A PostgreSQL table of BENCH_DOCS rows (default 100,000; orders-like columns) is
  1. exported once as the documents the MongoDB sink makes of it (RdbmsHandler:
     {_id: {id}, other columns}; numeric as string, timestamptz as ISO text) and
     written by bench_mongo_bulk (bench/mongo_bulk.c): ordered bulk writes of
     1000 replaceOne(upsert) from memory, timing only the writes: the limit of
     what the server takes;
  2. copied by sluice (snapshot -> Debezium events -> MongoDB sink, the same
     replaceOne upserts), timed from process start until the collection holds
     every document.
Both write into fresh collections of the same test server (mongo-java-server:
an in-memory imitation, so absolute numbers say little; compare the two lines).
Prints documents/s of each, the ratio and sluice's peak RSS.
"""
import json
import os
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

N = int(os.environ.get("BENCH_DOCS", 100_000))
BULK = os.environ.get("BENCH_MONGO_BULK", str(b.ROOT / "build" / "bench_mongo_bulk"))


def main():
    conn = psycopg2.connect(**b.pg_params())
    conn.autocommit = True
    b.q(conn, "DROP TABLE IF EXISTS bench_docs; DROP PUBLICATION IF EXISTS bench_docs_pub")
    b.q(conn, """CREATE TABLE bench_docs (id bigint PRIMARY KEY, customer_id bigint, status text,
                 total numeric(12,2), created_at timestamptz, note text)""")
    b.q(conn, """INSERT INTO bench_docs SELECT g, (random() * 100000)::bigint, 'new',
                 round((random() * 1000)::numeric, 2), now(), 'order note ' || g FROM generate_series(1, %s) g""", N)
    b.q(conn, "CREATE PUBLICATION bench_docs_pub FOR TABLE bench_docs")
    uri = os.environ["SLUICE_MONGO_URI"]
    client = MongoClient(uri)
    db_name = "bench_" + uuid.uuid4().hex[:8]
    slot = "bench_docs_" + uuid.uuid4().hex[:6]
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
            r = subprocess.run([BULK, uri, db_name, "docs_bare", str(docs), "1000"], capture_output=True, text=True,
                               timeout=3600)
            if r.returncode:
                sys.exit(f"bench_mongo_bulk failed: {r.stderr}")
            bare = json.loads(r.stdout)
            p = b.pg_params()
            cfg = {"name": "bench-mongo-sink", "config": {
                "connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
                "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
                "topic.prefix": "bench", "slot.name": slot, "publication.name": "bench_docs_pub",
                "publication.autocreate.mode": "disabled", "snapshot.mode": "initial",
                "table.include.list": "public.bench_docs",
                "decimal.handling.mode": "string", "sink.type": "mongodb", "connection.uri": uri,
                "database": db_name, "collection": "docs_sluice",
                "offset.storage.file.filename": str(d / "offsets.db"), "log.level": "warn"}}
            (d / "c.json").write_text(json.dumps(cfg))
            coll = client[db_name]["docs_sluice"]
            t0 = time.time()
            proc = subprocess.Popen([b.SLUICE, "run", str(d / "c.json")], stderr=open(d / "sluice.log", "wb"))
            rss = 0
            while True:
                if proc.poll() is not None:
                    sys.exit(f"sluice exited: {(d / 'sluice.log').read_text()[-2000:]}")
                rss = max(rss, b.proc_stats(proc.pid)[0])
                if coll.estimated_document_count() >= N:
                    break
                time.sleep(0.2)
            secs = time.time() - t0
            rss = max(rss, b.proc_stats(proc.pid)[0])
            proc.terminate()
            proc.wait(60)
            same = client[db_name]["docs_bare"].find_one({"_id": {"id": 7}})
            mine = coll.find_one({"_id": {"id": 7}})
            if set(same) != set(mine):
                print(f"note: documents differ in fields: bare {sorted(same)} sluice {sorted(mine)}")
        bare_rate = bare["documents"] / bare["seconds"]
        sl_rate = N / secs
        print(f"{'':34}{'documents':>10}{'seconds':>10}{'docs/s':>10}")
        print(f"{'bare libmongoc bulk replaceOne':34}{bare['documents']:>10}{bare['seconds']:>10.2f}{bare_rate:>10.0f}")
        print(f"{'sluice PostgreSQL -> MongoDB':34}{N:>10}{secs:>10.2f}{sl_rate:>10.0f}")
        print(f"ratio sluice / bare: {sl_rate / bare_rate:.2f}   sluice peak RSS: {rss / 1048576:.1f} MiB")
    finally:
        client.drop_database(db_name)
        b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", slot)
        b.q(conn, "DROP TABLE bench_docs; DROP PUBLICATION bench_docs_pub")


if __name__ == "__main__":
    main()
