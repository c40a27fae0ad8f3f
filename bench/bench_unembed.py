#!/usr/bin/env python3
"""bench-unembed: MongoDB documents back into PostgreSQL tables (the reverse connector of a migration: the
MongoDB source, the unembed transform, the SQL sink) against the two limits of that path.

BENCH_UNEMBED_DOCS documents (default 20,000), each an order with BENCH_UNEMBED_ITEMS embedded items (default 4),
are inserted into the MongoDB test server (mongo-java-server, untimed); the items' table has an index on its
foreign key (BENCH_UNEMBED_INDEX=0: none; the children's deletes then scan the table). Then, one after the other:
  1. the limit of the source: sluice copying the collection into a file (MongoDB source, copy_existing, file
     sink), timed from process start until the file has every document;
  2. the limit of the target: PostgreSQL's COPY ... FROM STDIN of the rows the documents hold (orders, then
     order items) into the empty tables, timed alone;
  3. sluice MongoDB -> unembed -> PostgreSQL (copy_existing, upserts, the items' foreign key to their order),
     timed from process start until the tables hold every row.
Prints rows/s of each, the ratio of the sluice run to each limit (limit seconds / sluice seconds) and the
sluice run's peak RSS (VmHWM). The two limits are separate: a run that cost nothing but reading and writing
would take about the longer of them where they overlap, and their sum where they do not.
"""
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pg as b  # noqa: E402

DOCS = int(os.environ.get("BENCH_UNEMBED_DOCS", 20_000))
INDEX = os.environ.get("BENCH_UNEMBED_INDEX", "1") == "1"  # an index on the items' foreign key, as schemas have
ITEMS = int(os.environ.get("BENCH_UNEMBED_ITEMS", 4))


def pg_url():
    return f"jdbc:postgresql://127.0.0.1:{os.environ['SLUICE_PG_PORT']}/{os.environ['SLUICE_PG_DB']}"


def tables(conn):
    b.q(conn, "DROP TABLE IF EXISTS bench_un_items, bench_un_orders")
    b.q(conn, "CREATE TABLE bench_un_orders (id bigint PRIMARY KEY, customer text, total numeric(12,2))")
    b.q(conn, "CREATE TABLE bench_un_items (id bigint PRIMARY KEY, order_id bigint NOT NULL "
              "REFERENCES bench_un_orders(id), sku text, qty int)")
    if INDEX:
        b.q(conn, "CREATE INDEX ON bench_un_items (order_id)")


def counts(conn):
    return b.q(conn, "SELECT (SELECT count(*) FROM bench_un_orders), (SELECT count(*) FROM bench_un_items)")[0]


def main():
    conn = psycopg2.connect(**b.pg_params())
    conn.autocommit = True
    mc = MongoClient(os.environ["SLUICE_MONGO_URI"])
    db = mc["bench_unembed"]
    mc.drop_database("bench_unembed")
    docs = [{"_id": i, "customerName": f"customer {i}", "total": f"{i % 1000}.{i % 100:02d}",
             "items": [{"id": i * ITEMS + k, "sku": f"sku-{k}", "quantity": k + 1} for k in range(ITEMS)]}
            for i in range(1, DOCS + 1)]
    for at in range(0, DOCS, 5000):
        db.orders.insert_many(docs[at:at + 5000])
    rows = DOCS * (1 + ITEMS)
    print(f"bench-unembed: {DOCS} documents with {ITEMS} items each = {rows} rows"
          f"{'' if INDEX else ' (no index on order_items.order_id: BENCH_UNEMBED_INDEX=0)'}")
    mongo = {"connector.class": "com.mongodb.kafka.connect.MongoSourceConnector",
             "connection.uri": os.environ["SLUICE_MONGO_URI"], "database": "bench_unembed", "collection": "orders",
             "startup.mode": "copy_existing", "publish.full.document.only": "true"}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        # 1. the source's limit: the same copy into a file
        out = d / "docs.jsonl"
        cfg = dict(mongo, **{"sink.type": "file", "sink.file.path": str(out),
                             "offset.storage.file.filename": str(d / "o1.db")})

        def lines():
            return out.exists() and out.read_bytes().count(b"\n") >= DOCS
        src_s, _ = b.run_config_until(d, "bench-unembed-file", cfg, lines)
        # 2. the target's limit: COPY of the rows
        tables(conn)
        o = io.StringIO("".join(f"{x['_id']}\t{x['customerName']}\t{x['total']}\n" for x in docs))
        it = io.StringIO("".join(f"{e['id']}\t{x['_id']}\t{e['sku']}\t{e['quantity']}\n" for x in docs for e in x["items"]))
        t0 = time.time()
        with conn.cursor() as c:
            c.copy_expert("COPY bench_un_orders FROM STDIN", o)
            c.copy_expert("COPY bench_un_items FROM STDIN", it)
        copy_s = time.time() - t0
        # 3. sluice: documents -> rows
        tables(conn)
        p = "transforms.unembed."
        cfg = dict(mongo, **{
            "transforms": "unembed", p + "type": "unembed", p + "root.table": "public.bench_un_orders",
            p + "root.fields.rename": "customer:customerName", p + "collection": "orders", p + "children": "items",
            p + "child.items.table": "public.bench_un_items", p + "child.items.parent.key": "order_id",
            p + "child.items.fields.exclude": "order_id", p + "child.items.fields.rename": "qty:quantity",
            "sink.type": "jdbc", "connection.url": pg_url(), "connection.username": os.environ["SLUICE_PG_USER"],
            "connection.password": os.environ["SLUICE_PG_PASSWORD"], "insert.mode": "upsert",
            "primary.key.mode": "record_key", "delete.enabled": "true",
            "offset.storage.file.filename": str(d / "o2.db")})
        stats = {}
        un_s, rss = b.run_config_until(d, "bench-unembed", cfg, lambda: counts(conn) == (DOCS, DOCS * ITEMS), stats)
    print(f"  source limit (MongoDB -> file, copy_existing): {src_s:6.2f} s  {DOCS / src_s:10.0f} docs/s")
    print(f"  target limit (COPY of the rows):               {copy_s:6.2f} s  {rows / copy_s:10.0f} rows/s")
    print(f"  sluice MongoDB -> unembed -> PostgreSQL:       {un_s:6.2f} s  {rows / un_s:10.0f} rows/s  "
          f"{DOCS / un_s:8.0f} docs/s  CPU {stats.get('cpu', 0):.2f} s  peak RSS {rss / 1048576:.1f} MiB")
    print(f"  ratio to the source limit: {src_s / un_s:.2f}   ratio to the target limit: {copy_s / un_s:.2f}")
    b.q(conn, "DROP TABLE IF EXISTS bench_un_items, bench_un_orders")
    mc.drop_database("bench_unembed")


if __name__ == "__main__":
    main()
