#!/usr/bin/env python3
"""bench-verify: sluice verify's rows/s against reading both stores in key order without comparing.

A PostgreSQL table of BENCH_VERIFY_ROWS rows (default 1,000,000; bench-mongo's orders-like columns) is synced
by sluice (snapshot, PostgreSQL -> MongoDB sink, untimed) into a collection of the MongoDB test server
(mongo-java-server: an in-memory imitation, so absolute numbers say little). Then, one after the other:
  1. the limit: COPY (SELECT * ... ORDER BY id) TO STDOUT read and dropped (psycopg2), plus
     bench_mongo_scan (bench/mongo_scan.c): a bare libmongoc find of the whole collection in _id order; the
     limit is the sum of the two (verify reads both sides on one thread);
  2. sluice verify --output json of the connector, from process start to exit, under /usr/bin/time for the
     peak RSS; it must report the stores equal.
Prints rows/s of each, the ratio (limit seconds / verify seconds) and verify's peak RSS. Goal: ratio >= 0.5,
peak RSS <= 128 MiB. The embedded child arrays of the issue's workload need verify to compare through the
embed transform, which it does not yet: the documents here are plain rows.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pg as b  # noqa: E402

from pymongo import MongoClient  # noqa: E402

N = int(os.environ.get("BENCH_VERIFY_ROWS", 1_000_000))
SCAN = os.environ.get("BENCH_MONGO_SCAN", str(b.ROOT / "build" / "bench_mongo_scan"))


class Null:
    def write(self, data):
        return len(data)


def main():
    conn = psycopg2.connect(**b.pg_params())
    conn.autocommit = True
    b.orders_table(conn, "bench_verify", N)
    b.q(conn, "VACUUM ANALYZE bench_verify")
    uri = os.environ["SLUICE_MONGO_URI"]
    client = MongoClient(uri)
    db_name = "bench_" + uuid.uuid4().hex[:8]
    slot = "bench_verify_" + uuid.uuid4().hex[:6]
    p = b.pg_params()
    try:
        with tempfile.TemporaryDirectory(dir=b.ROOT / ".run") as d:
            d = Path(d)
            cfg = {"connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
                   "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
                   "topic.prefix": "bench", "slot.name": slot, "table.include.list": "public.bench_verify",
                   "slot.drop.on.stop": "true", "sink.type": "mongodb", "connection.uri": uri,
                   "database": db_name, "collection": "docs", "log.level": "warn",
                   "offset.storage.file.filename": str(d / "offsets.db")}
            coll = client[db_name]["docs"]
            t0 = time.time()
            b.run_config_until(d, "sync", cfg, lambda: coll.estimated_document_count() >= N)
            print(f"synced {N} rows into MongoDB in {time.time() - t0:.1f}s (untimed)")
            # 1. the limit
            t0 = time.time()
            with conn.cursor() as c:
                c.copy_expert("COPY (SELECT * FROM bench_verify ORDER BY id) TO STDOUT", Null())
            pg_secs = time.time() - t0
            r = subprocess.run([SCAN, uri, db_name, "docs"], capture_output=True, text=True, timeout=3600)
            if r.returncode:
                sys.exit(f"bench_mongo_scan failed: {r.stderr}")
            scan = json.loads(r.stdout)
            limit = pg_secs + scan["seconds"]
            # 2. sluice verify
            t0 = time.time()
            r = subprocess.run(["/usr/bin/time", "-f", "%M", b.SLUICE, "verify", "--output", "json",
                                str(d / "sync.json")], capture_output=True, text=True, timeout=3600)
            secs = time.time() - t0
            if r.returncode != 0:
                sys.exit(f"sluice verify: exit {r.returncode}: {r.stdout[-2000:]} {r.stderr[-2000:]}")
            rep = json.loads(r.stdout)
            rss_kib = int(r.stderr.strip().splitlines()[-1])
            assert rep["result"] == "equal" and rep["tables"][0]["source_rows"] == N, rep["tables"]
        print(f"{'':44}{'rows':>9}{'seconds':>9}{'rows/s':>10}{'ratio':>7}{'peak RSS':>11}")
        print(f"{'PostgreSQL COPY ... ORDER BY id (dropped)':44}{N:>9}{pg_secs:>9.2f}{N / pg_secs:>10.0f}")
        print(f"{'MongoDB find in _id order (bare libmongoc)':44}{scan['documents']:>9}{scan['seconds']:>9.2f}"
              f"{scan['documents'] / scan['seconds']:>10.0f}")
        print(f"{'limit: both reads, one after the other':44}{N:>9}{limit:>9.2f}{N / limit:>10.0f}")
        print(f"{'sluice verify (equal)':44}{N:>9}{secs:>9.2f}{N / secs:>10.0f}{limit / secs:>7.2f}"
              f"{rss_kib / 1024:>7.1f} MiB")
        print(f"ratio (limit seconds / verify seconds; goal >= 0.5): {limit / secs:.2f}; "
              f"peak RSS {rss_kib / 1024:.1f} MiB (goal <= 128)")
    finally:
        client.drop_database(db_name)
        b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", slot)
        b.q(conn, "DROP TABLE IF EXISTS bench_verify")


if __name__ == "__main__":
    main()
