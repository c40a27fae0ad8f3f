#!/usr/bin/env python3
"""bench-redis: the Redis sink's throughput against pipelined SETs of the same keys and values, in one run.

bench-pg's table (bench_orders) gets BENCH_REDIS_INSERTS inserts (default 300,000) and BENCH_REDIS_UPDATES
updates (150,000), captured by a replication slot made before the workload; its last transaction marks row 1.
Then, one after the other, into a Redis database of their own (BENCH_REDIS_DB, default 15, flushed first):
  1. sluice PostgreSQL -> Redis (redis.strategy=update, JSON values, every write through the position-checking
     script), timed from process start until Redis holds the marked row 1 (the last change: chunks are applied in
     order), then every key compared with the table (count);
  2. the limit: one client (redis-cli --pipe) sending pipelined SETs of the same keys and values as sluice wrote
     them, one per change: each key's final value once, and a second time for the keys an update changed (the
     same number of SETs of the same sizes as the changes), after a FLUSHDB;
Besides, the CPU seconds of the three processes of the sluice run: the walsender that decodes and sends the
changes, sluice, and Redis running the script. On this 2-core machine they share the two cores, so their sum
halved is a floor under the run's time, and the limit's time over that floor a ceiling on the ratio here.
Prints changes/s of each, the ratio (limit seconds / sluice seconds; goal >= 0.5) and sluice's peak RSS (VmHWM;
goal <= 64 MiB). Extra sluice keys: BENCH_REDIS_CONFIG (JSON).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pg as b  # noqa: E402

INSERTS = int(os.environ.get("BENCH_REDIS_INSERTS", 300_000))
UPDATES = int(os.environ.get("BENCH_REDIS_UPDATES", 150_000))
DB = int(os.environ.get("BENCH_REDIS_DB", 15))
SLOT = "bench_redis"
EXTRA = json.loads(os.environ.get("BENCH_REDIS_CONFIG", "{}"))
STEP = 10_000


def workload(conn):
    t0 = time.time()
    for lo in range(0, INSERTS, STEP):
        b.q(conn, """INSERT INTO bench_orders (customer_id, status, total, created_at, note)
                     SELECT (random() * 100000)::bigint, 'new', round((random() * 1000)::numeric, 2), now(),
                            'order note ' || g FROM generate_series(1, %s) g""", min(STEP, INSERTS - lo))
    for lo in range(0, UPDATES, STEP):
        b.q(conn, "UPDATE bench_orders SET status = 'shipped', total = total + 1 WHERE id > %s AND id <= %s",
            lo + 1, lo + min(STEP, UPDATES - lo))  # ids 2..UPDATES: row 1 is the marker's
    b.q(conn, "UPDATE bench_orders SET note = 'last change' WHERE id = 1")
    print(f"workload: {INSERTS} inserts + {UPDATES} updates in {time.time() - t0:.1f}s")


def drop_slots(conn):
    b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", SLOT)


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def main():
    conn = psycopg2.connect(**b.pg_params())
    conn.autocommit = True
    r = redis.Redis(host="127.0.0.1", port=int(os.environ["SLUICE_REDIS_PORT"]), db=DB)
    drop_slots(conn)
    b.q(conn, "DROP TABLE IF EXISTS bench_orders; DROP PUBLICATION IF EXISTS bench_pub")
    b.q(conn, "CREATE TABLE bench_orders (id bigserial PRIMARY KEY, customer_id bigint, status text, "
              "total numeric(12,2), created_at timestamptz, note text)")
    b.q(conn, "CREATE PUBLICATION bench_pub FOR TABLE bench_orders")
    b.q(conn, "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", SLOT)
    try:
        workload(conn)
        (rows,), = b.q(conn, "SELECT count(*) FROM bench_orders")
        changes = INSERTS + UPDATES
        r.flushdb()
        with tempfile.TemporaryDirectory(dir=b.ROOT / ".run") as d:
            d = Path(os.environ.get("BENCH_REDIS_KEEP") or d)
            d.mkdir(exist_ok=True)
            p = b.pg_params()

            def cpu():
                i = r.info("cpu")
                return i["used_cpu_user"] + i["used_cpu_sys"]
            cpu0 = cpu()
            stats = {}

            walsender = {}

            def done():
                if "pid" not in walsender:
                    (pid,), = b.q(conn, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", SLOT)
                    if pid:
                        walsender["pid"] = pid
                v = r.get("bench_orders:1")
                if v is not None and b"last change" in v:
                    walsender["cpu"] = b.proc_stats(walsender["pid"])[1] if "pid" in walsender else float("nan")
                    return True
                return False
            secs, rss = b.run_config_until(d, "pg-redis", {
                "connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
                "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
                "topic.prefix": "bench", "slot.name": SLOT, "publication.name": "bench_pub",
                "publication.autocreate.mode": "disabled", "snapshot.mode": "no_data",
                "table.include.list": "public.bench_orders", "log.level": "warn",
                "sink.type": "redis", "redis.address": f"127.0.0.1:{os.environ['SLUICE_REDIS_PORT']}",
                "redis.database": str(DB), "offset.storage.file.filename": str(d / "pg-redis.db"), **EXTRA}, done,
                stats)
            redis_cpu = cpu() - cpu0
            keys = [k for k in r.scan_iter(match="bench_orders:*", count=10000)]
            if len(keys) != rows:
                sys.exit(f"Redis holds {len(keys)} keys of bench_orders, the table {rows} rows")
            # the limit's input: the same keys and values, one SET per change
            data = bytearray()
            for i in range(0, len(keys), 10000):
                part = keys[i:i + 10000]
                for k, v in zip(part, r.mget(part)):
                    data += resp(b"SET", k, v)
                    if 2 <= int(k.split(b":")[1]) <= UPDATES + 1 or k == b"bench_orders:1":
                        data += resp(b"SET", k, v)  # the update's SET (row 1: its marker update)
            sets = len(keys) + UPDATES + 1
            pipe = d / "sets.resp"
            pipe.write_bytes(data)
            r.flushdb()
            cpu0 = cpu()
            t0 = time.time()
            with open(pipe, "rb") as f:
                out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", os.environ["SLUICE_REDIS_PORT"],
                                      "-n", str(DB), "--pipe"], stdin=f, capture_output=True, text=True)
            limit = time.time() - t0
            limit_cpu = cpu() - cpu0
            if out.returncode != 0 or f"replies: {sets}" not in out.stdout:
                sys.exit(f"redis-cli --pipe: {out.stdout}{out.stderr}")
        print(f"{'':40}{'changes':>9}{'seconds':>9}{'changes/s':>11}{'ratio':>7}{'peak RSS':>11}")
        print(f"{'redis-cli --pipe: SETs of the same values':40}{sets:>9}{limit:>9.2f}{sets / limit:>11.0f}")
        print(f"{'sluice PostgreSQL -> Redis (update, json)':40}{changes + 1:>9}{secs:>9.2f}{(changes + 1) / secs:>11.0f}"
              f"{limit / secs:>7.2f}{rss / 1048576:>7.1f} MiB")
        total = walsender["cpu"] + stats["cpu"] + redis_cpu
        print(f"CPU seconds of the sluice run: walsender {walsender['cpu']:.2f}, sluice {stats['cpu']:.2f}, Redis "
              f"{redis_cpu:.2f} (the SETs: Redis {limit_cpu:.2f}); their sum over 2 cores: {total / 2:.2f} s, a ratio "
              f"of at most {limit / (total / 2):.2f} here")
        print(f"ratio (limit seconds / sluice seconds; goal >= 0.5): {limit / secs:.2f}; peak RSS "
              f"{rss / 1048576:.1f} MiB (goal <= 64)")
    finally:
        r.flushdb()
        drop_slots(conn)
        b.q(conn, "DROP TABLE IF EXISTS bench_orders; DROP PUBLICATION IF EXISTS bench_pub")


if __name__ == "__main__":
    main()
