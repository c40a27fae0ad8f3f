#!/usr/bin/env python3
"""bench-verify: sluice verify's rows/s against reading both stores in key order without comparing.

The issue's workload: a PostgreSQL orders table of BENCH_VERIFY_ROWS rows (default 1,000,000; bench-mongo's
orders columns) and an items table with 3 rows per order, mapped by an embed connector (PostgreSQL -> MongoDB
sink, items as an array in each order's document). The collection of the MongoDB test server (mongo-java-server:
an in-memory imitation, so absolute numbers say little) is filled with the documents the mapping makes, written
here from the tables (insert_many; syncing them through embed would take hours on the test server, whose
updates by "items.id" scan the collection: no multikey index), untimed. Then, one after the other:
  1. the limit: COPY (the orders joined with their items, ORDER BY order, item) TO STDOUT read and dropped
     (psycopg2), plus bench_mongo_scan (bench/mongo_scan.c): a bare libmongoc find of the whole collection in
     _id order; the limit is the sum of the two (verify reads both sides on one thread);
  2. sluice verify --output json of the embed connector, from process start to exit, under /usr/bin/time for
     the peak RSS; it must report the stores equal (N orders, 3N items).
Prints rows/s of each, the ratio (limit seconds / verify seconds) and verify's peak RSS. Goal: ratio >= 0.5,
peak RSS <= 128 MiB. Verify reads the collection twice (the orders' fields, then the items' arrays).
"""
import datetime
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


def fill_collection(conn, coll, n):
    """The documents the embed mapping makes of the two tables: {_id, customer_id, status, total: Decimal128,
    created_at: ISO text, note, items: [{id, sku, qty, price: Decimal128} sorted by id]}."""
    from bson.decimal128 import Decimal128
    batch, cur_doc = [], None
    conn.autocommit = False
    with conn.cursor(name="fill") as c:
        c.itersize = 20000
        c.execute("""SELECT o.id, o.customer_id, o.status, o.total::text, o.created_at, o.note, i.id, i.sku, i.qty,
                            i.price::text FROM bench_verify o LEFT JOIN bench_verify_items i ON i.order_id = o.id
                     ORDER BY o.id, i.id""")
        for oid, cust, status, total, created, note, iid, sku, qty, price in c:
            if cur_doc is None or cur_doc["_id"] != oid:
                if cur_doc is not None:
                    batch.append(cur_doc)
                    if len(batch) == 2000:
                        coll.insert_many(batch, ordered=False)
                        batch = []
                cur_doc = {"_id": oid, "customer_id": cust, "status": status, "total": Decimal128(total),
                           "created_at": created.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                           "note": note, "items": []}
            if iid is not None:
                cur_doc["items"].append({"id": iid, "sku": sku, "qty": qty, "price": Decimal128(price)})
    conn.rollback()
    conn.autocommit = True
    if cur_doc is not None:
        batch.append(cur_doc)
    if batch:
        coll.insert_many(batch, ordered=False)


def main():
    conn = psycopg2.connect(**b.pg_params())
    conn.autocommit = True
    b.orders_table(conn, "bench_verify", N)
    b.q(conn, "DROP TABLE IF EXISTS bench_verify_items")
    b.q(conn, """CREATE TABLE bench_verify_items (id bigint PRIMARY KEY, order_id bigint, sku text, qty int,
                 price numeric(10,2))""")
    b.q(conn, """INSERT INTO bench_verify_items SELECT g, (g - 1) / 3 + 1, 'sku-' || (g %% 997), 1 + g %% 5,
                 round((g %% 10000) / 7.0, 2) FROM generate_series(1, %s) g""", 3 * N)
    b.q(conn, "CREATE INDEX ON bench_verify_items (order_id, id)")
    b.q(conn, "VACUUM ANALYZE bench_verify")
    b.q(conn, "VACUUM ANALYZE bench_verify_items")
    uri = os.environ["SLUICE_MONGO_URI"]
    client = MongoClient(uri)
    db_name = "bench_" + uuid.uuid4().hex[:8]
    p = b.pg_params()
    try:
        with tempfile.TemporaryDirectory(dir=b.ROOT / ".run") as d:
            d = Path(d)
            cfg = {"connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
                   "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
                   "topic.prefix": "bench", "table.include.list": "public.bench_verify,public.bench_verify_items",
                   "sink.type": "mongodb", "connection.uri": uri, "database": db_name, "log.level": "warn",
                   "offset.storage.file.filename": str(d / "offsets.db"),
                   "transforms": "embed", "transforms.embed.type": "embed",
                   "transforms.embed.root.table": "public.bench_verify", "transforms.embed.collection": "docs",
                   "transforms.embed.children": "items",
                   "transforms.embed.child.items.table": "public.bench_verify_items",
                   "transforms.embed.child.items.parent.key": "order_id",
                   "transforms.embed.child.items.fields.exclude": "order_id"}
            (d / "verify.json").write_text(json.dumps({"name": "bench-verify", "config": cfg}))
            coll = client[db_name]["docs"]
            t0 = time.time()
            fill_collection(conn, coll, N)
            print(f"wrote {N} documents with {3 * N} embedded items in {time.time() - t0:.1f}s (untimed)")
            # 1. the limit
            t0 = time.time()
            with conn.cursor() as c:
                c.copy_expert("COPY (SELECT o.*, i.* FROM bench_verify o JOIN bench_verify_items i "
                              "ON i.order_id = o.id ORDER BY o.id, i.id) TO STDOUT", Null())
            pg_secs = time.time() - t0
            r = subprocess.run([SCAN, uri, db_name, "docs"], capture_output=True, text=True, timeout=3600)
            if r.returncode:
                sys.exit(f"bench_mongo_scan failed: {r.stderr}")
            scan = json.loads(r.stdout)
            limit = pg_secs + scan["seconds"]
            # 2. sluice verify
            t0 = time.time()
            r = subprocess.run(["/usr/bin/time", "-f", "%M", b.SLUICE, "verify", "--output", "json",
                                str(d / "verify.json")], capture_output=True, text=True, timeout=3600)
            secs = time.time() - t0
            if r.returncode != 0:
                sys.exit(f"sluice verify: exit {r.returncode}: {r.stdout[-2000:]} {r.stderr[-2000:]}")
            rep = json.loads(r.stdout)
            rss_kib = int(r.stderr.strip().splitlines()[-1])
            rows = {t["source"]: t["source_rows"] for t in rep["tables"]}
            assert rep["result"] == "equal" and rows == {"public.bench_verify": N, "public.bench_verify_items": 3 * N}, \
                rep["tables"]
        print(f"{'':52}{'rows':>9}{'seconds':>9}{'rows/s':>10}{'ratio':>7}{'peak RSS':>11}")
        print(f"{'PostgreSQL COPY of orders JOIN items (dropped)':52}{3 * N:>9}{pg_secs:>9.2f}{3 * N / pg_secs:>10.0f}")
        print(f"{'MongoDB find in _id order (bare libmongoc)':52}{scan['documents']:>9}{scan['seconds']:>9.2f}"
              f"{scan['documents'] / scan['seconds']:>10.0f}")
        print(f"{'limit: both reads, one after the other':52}{N:>9}{limit:>9.2f}{N / limit:>10.0f}")
        print(f"{'sluice verify (equal; orders and items)':52}{N:>9}{secs:>9.2f}{N / secs:>10.0f}{limit / secs:>7.2f}"
              f"{rss_kib / 1024:>7.1f} MiB")
        print(f"ratio (limit seconds / verify seconds; goal >= 0.5): {limit / secs:.2f}; "
              f"peak RSS {rss_kib / 1024:.1f} MiB (goal <= 128)")
    finally:
        client.drop_database(db_name)
        b.q(conn, "DROP TABLE IF EXISTS bench_verify, bench_verify_items")


if __name__ == "__main__":
    main()
