#!/usr/bin/env python3
"""bench-sql: the SQL sink's throughput against the fastest way to load its result.

bench-pg's table (bench_orders) gets BENCH_SQL_INSERTS inserts (default 300,000), BENCH_SQL_UPDATES updates
(150,000) and BENCH_SQL_DELETES deletes (50,000), captured by two replication slots made before the workload.
Then, one after the other:
  1. the limit, PostgreSQL: COPY ... FROM STDIN of the final rows (exported beforehand, text form) into an
     identical empty table, timed alone;
  2. sluice Kafka -> PostgreSQL: a topic is first filled with the changes as Debezium JSON events with
     schemas (sluice PostgreSQL -> Kafka, untimed); then sluice as a Debezium JdbcSinkConnector (upsert,
     record_key, delete.enabled, schema.evolution=basic) is timed from process start until the target table
     holds the final rows (count and sum of total);
  3. the limit, MariaDB: LOAD DATA LOCAL INFILE of the final rows into an identical empty table;
  4. sluice PostgreSQL -> MariaDB directly (the second slot; the same sink settings), timed the same way.
  5. for reference, each server applying the same changes itself: the workload's set-based statements
     (STEP rows each, autocommit) run against a table of the target server, after the sluice runs.
Prints rows/s, each sluice run's ratio to its limit (limit seconds / sluice seconds: the sluice run applies
every change, the limit loads only the final rows), the same ratio for the servers' own apply (what a sink
that cost nothing and wrote as the server's own statements do would reach) and each run's peak RSS (VmHWM).
Goal: ratio >= 0.5, peak RSS <= 64 MiB. Extra sink keys for both runs: BENCH_SQL_CONFIG (JSON).
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pg as b  # noqa: E402
from bench_kafka import BOOTSTRAP, acked, delete_topics  # noqa: E402

from confluent_kafka import Consumer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

INSERTS = int(os.environ.get("BENCH_SQL_INSERTS", 300_000))
UPDATES = int(os.environ.get("BENCH_SQL_UPDATES", 150_000))
DELETES = int(os.environ.get("BENCH_SQL_DELETES", 50_000))
SLOTS = ("bench_sql_kafka", "bench_sql_my")
COLS = "id bigint PRIMARY KEY, customer_id bigint, status text, total numeric(12,2), created_at timestamptz, note text"
EXTRA = json.loads(os.environ.get("BENCH_SQL_CONFIG", "{}"))


def my_params(db=None):
    return dict(host="127.0.0.1", port=int(os.environ["SLUICE_MARIADB_PORT"]),
                user=os.environ.get("SLUICE_MARIADB_USER", "sluice"),
                password=os.environ.get("SLUICE_MARIADB_PASSWORD", "sluice"), database=db, autocommit=True,
                local_infile=True)


STEP = 10_000  # rows per statement of the workload


def workload(conn, table="bench_orders", quiet=False):
    """The changes, as set-based statements of STEP rows each (autocommit). Returns the seconds they took."""
    t0 = time.time()
    for lo in range(0, INSERTS, STEP):
        b.q(conn, f"""INSERT INTO {table} (customer_id, status, total, created_at, note)
                     SELECT (random() * 100000)::bigint, 'new', round((random() * 1000)::numeric, 2), now(),
                            'order note ' || g FROM generate_series(1, %s) g""", min(STEP, INSERTS - lo))
    for lo in range(0, UPDATES, STEP):
        b.q(conn, f"UPDATE {table} SET status = 'shipped', total = total + 1 WHERE id > %s AND id <= %s",
            lo, lo + min(STEP, UPDATES - lo))
    for lo in range(0, DELETES, STEP):  # the last inserted rows
        b.q(conn, f"DELETE FROM {table} WHERE id > %s AND id <= %s", INSERTS - lo - min(STEP, DELETES - lo),
            INSERTS - lo)
    secs = time.time() - t0
    if not quiet:
        print(f"workload: {INSERTS} inserts + {UPDATES} updates + {DELETES} deletes in {secs:.1f}s")
    return secs


def my_workload(my, table):
    """The same changes as MariaDB statements (its sequence engine for the rows), as the server applies them
    itself. Returns the seconds."""
    t0 = time.time()
    with my.cursor() as c:
        for lo in range(0, INSERTS, STEP):
            c.execute(f"""INSERT INTO {table} (customer_id, status, total, created_at, note)
                          SELECT floor(rand() * 100000), 'new', round(rand() * 1000, 2), now(6),
                                 concat('order note ', seq) FROM {table.split('.')[0]}.seq_1_to_{min(STEP, INSERTS - lo)}""")
        for lo in range(0, UPDATES, STEP):
            c.execute(f"UPDATE {table} SET status = 'shipped', total = total + 1 WHERE id > %s AND id <= %s",
                      (lo, lo + min(STEP, UPDATES - lo)))
        for lo in range(0, DELETES, STEP):
            c.execute(f"DELETE FROM {table} WHERE id > %s AND id <= %s",
                      (INSERTS - lo - min(STEP, DELETES - lo), INSERTS - lo))
    return time.time() - t0


def pg_source(slot, prefix):
    p = b.pg_params()
    return {"connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
            "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
            "topic.prefix": prefix, "slot.name": slot, "publication.name": "bench_sql_pub",
            "publication.autocreate.mode": "disabled", "snapshot.mode": "no_data",
            "table.include.list": "public.bench_orders", "log.level": "warn"}


SINK = {"insert.mode": "upsert", "primary.key.mode": "record_key", "delete.enabled": "true",
        "schema.evolution": "basic", "collection.name.format": "${source.table}"}


def main():
    conn = psycopg2.connect(**b.pg_params())
    conn.autocommit = True
    for s in SLOTS:
        b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", s)
    b.q(conn, "DROP TABLE IF EXISTS bench_orders; DROP PUBLICATION IF EXISTS bench_sql_pub")
    b.q(conn, "DROP SCHEMA IF EXISTS bench_sql_copy CASCADE; DROP SCHEMA IF EXISTS bench_sql_sink CASCADE")
    b.q(conn, "CREATE SCHEMA bench_sql_copy; CREATE SCHEMA bench_sql_sink")
    b.q(conn, "CREATE TABLE bench_orders (id bigserial PRIMARY KEY, customer_id bigint, status text, "
              "total numeric(12,2), created_at timestamptz, note text)")
    b.q(conn, "CREATE PUBLICATION bench_sql_pub FOR TABLE bench_orders")
    for s in SLOTS:
        b.q(conn, "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", s)
    workload(conn)
    (final_rows, final_sum), = b.q(conn, "SELECT count(*), sum(total) FROM bench_orders")
    db = "bench_sql_" + uuid.uuid4().hex[:6]
    my = pymysql.connect(**my_params())
    with my.cursor() as c:
        c.execute(f"CREATE DATABASE {db}")
    prefix = "bsql" + uuid.uuid4().hex[:8]
    try:
        with tempfile.TemporaryDirectory(dir=b.ROOT / ".run") as d:
            d = Path(os.environ.get("BENCH_SQL_KEEP") or d)  # BENCH_SQL_KEEP=dir: the runs' configs and logs stay there
            d.mkdir(exist_ok=True)
            # 1. COPY of the final rows into PostgreSQL
            buf = io.StringIO()
            with conn.cursor() as c:
                c.copy_expert("COPY bench_orders TO STDOUT", buf)
            b.q(conn, f"CREATE TABLE bench_sql_copy.bench_orders ({COLS})")
            data = buf.getvalue()
            t0 = time.time()
            with conn.cursor() as c:
                c.copy_expert("COPY bench_sql_copy.bench_orders FROM STDIN", io.StringIO(data))
            pg_limit = time.time() - t0
            # 2. Kafka -> PostgreSQL
            topic = f"{prefix}.public.bench_orders"
            cons = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "bench-sql-" + prefix,
                             "enable.auto.commit": False})
            parts = []
            events = INSERTS + UPDATES + 2 * DELETES  # a delete and its tombstone
            try:
                b.run_config_until(d, "fill", {**pg_source(SLOTS[0], prefix), "sink.type": "kafka",
                                      "bootstrap.servers": BOOTSTRAP,
                                      "offset.storage.file.filename": str(d / "fill.db")},
                          lambda: acked(cons, topic, parts) >= events)
            finally:
                cons.close()

            def pg_done():
                try:
                    return b.q(conn, "SELECT count(*), sum(total) FROM bench_sql_sink.bench_orders") == \
                        [(final_rows, final_sum)]
                except psycopg2.Error:
                    return False
            p = b.pg_params()
            ksecs, krss = b.run_config_until(d, "kafka-pg", {
                "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": topic,
                "bootstrap.servers": BOOTSTRAP, "log.level": "warn",
                "connection.url": f"jdbc:postgresql://{p['host']}:{p['port']}/{p['dbname']}",
                "connection.username": p["user"], "connection.password": p["password"],
                **SINK, "collection.name.format": "bench_sql_sink.${source.table}",
                "offset.storage.file.filename": str(d / "kafka-pg.db"), **EXTRA}, pg_done)
            # 3. LOAD DATA of the final rows into MariaDB
            tsv = d / "rows.tsv"
            with conn.cursor() as c, open(tsv, "w") as f:
                c.copy_expert("COPY (SELECT id, customer_id, status, total, to_char(created_at AT TIME ZONE 'UTC', "
                              "'YYYY-MM-DD HH24:MI:SS.US'), note FROM bench_orders) TO STDOUT", f)
            mcols = ("id bigint PRIMARY KEY, customer_id bigint, status longtext, total decimal(12,2), "
                     "created_at datetime(6), note longtext")
            with my.cursor() as c:
                c.execute(f"CREATE TABLE {db}.copy_orders ({mcols})")
                t0 = time.time()
                c.execute(f"LOAD DATA LOCAL INFILE '{tsv}' INTO TABLE {db}.copy_orders")
                my_limit = time.time() - t0
            # 4. PostgreSQL -> MariaDB
            myc = pymysql.connect(**my_params(db))

            def my_done():
                try:
                    with myc.cursor() as c:
                        c.execute("SELECT count(*), sum(total) FROM bench_orders")
                        return c.fetchone() == (final_rows, final_sum)
                except pymysql.Error:
                    return False
            mp = my_params()
            msecs, mrss = b.run_config_until(d, "pg-mariadb", {
                **pg_source(SLOTS[1], "bench"), "sink.type": "jdbc",
                "connection.url": f"jdbc:mariadb://{mp['host']}:{mp['port']}/{db}", "connection.username": mp["user"],
                "connection.password": mp["password"], **SINK,
                "offset.storage.file.filename": str(d / "pg-my.db"), **EXTRA}, my_done)
            myc.close()
            # 5. the reference: each server applying the same changes itself, as set-based statements (after the
            # sluice runs: the slots need not read past this WAL)
            b.q(conn, f"CREATE TABLE bench_sql_copy.native_orders (id bigserial PRIMARY KEY, customer_id bigint, "
                      "status text, total numeric(12,2), created_at timestamptz, note text)")
            pg_native = workload(conn, "bench_sql_copy.native_orders", quiet=True)
            with my.cursor() as c:
                c.execute(f"CREATE TABLE {db}.native_orders (id bigint AUTO_INCREMENT PRIMARY KEY, customer_id bigint, "
                          "status longtext, total decimal(12,2), created_at datetime(6), note longtext)")
            my_native = my_workload(my, f"{db}.native_orders")
        print(f"{'':36}{'rows':>9}{'events':>9}{'seconds':>9}{'rows/s':>10}{'ratio':>7}{'peak RSS':>11}")
        print(f"{'PostgreSQL COPY of the final rows':36}{final_rows:>9}{'':>9}{pg_limit:>9.2f}"
              f"{final_rows / pg_limit:>10.0f}")
        print(f"{'sluice Kafka -> PostgreSQL':36}{final_rows:>9}{events:>9}{ksecs:>9.2f}{final_rows / ksecs:>10.0f}"
              f"{pg_limit / ksecs:>7.2f}{krss / 1048576:>7.1f} MiB")
        print(f"{'MariaDB LOAD DATA of the final rows':36}{final_rows:>9}{'':>9}{my_limit:>9.2f}"
              f"{final_rows / my_limit:>10.0f}")
        print(f"{'sluice PostgreSQL -> MariaDB':36}{final_rows:>9}{INSERTS + UPDATES + DELETES:>9}{msecs:>9.2f}"
              f"{final_rows / msecs:>10.0f}{my_limit / msecs:>7.2f}{mrss / 1048576:>7.1f} MiB")
        print(f"{'PostgreSQL own set-based apply':36}{final_rows:>9}{INSERTS + UPDATES + DELETES:>9}"
              f"{pg_native:>9.2f}{final_rows / pg_native:>10.0f}{pg_limit / pg_native:>7.2f}")
        print(f"{'MariaDB own set-based apply':36}{final_rows:>9}{INSERTS + UPDATES + DELETES:>9}"
              f"{my_native:>9.2f}{final_rows / my_native:>10.0f}{my_limit / my_native:>7.2f}")
        print(f"ratios (limit seconds / sluice seconds; goal >= 0.5): Kafka -> PostgreSQL {pg_limit / ksecs:.2f}, "
              f"PostgreSQL -> MariaDB {my_limit / msecs:.2f}; peak RSS {krss / 1048576:.1f} / {mrss / 1048576:.1f} MiB "
              f"(goal <= 64)")
    finally:
        delete_topics(AdminClient({"bootstrap.servers": BOOTSTRAP}), prefix)
        with my.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS {db}")
        for s in SLOTS:
            b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", s)
        b.q(conn, "DROP SCHEMA IF EXISTS bench_sql_copy CASCADE; DROP SCHEMA IF EXISTS bench_sql_sink CASCADE")
        b.q(conn, "DROP TABLE IF EXISTS bench_orders; DROP PUBLICATION IF EXISTS bench_sql_pub")


if __name__ == "__main__":
    main()
