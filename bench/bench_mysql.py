#!/usr/bin/env python3
"""bench-mysql: sluice (MariaDB binlog -> file) against a bare replication loop, in one run.

A table like bench-pg's gets 1,000,000 inserts and 500,000 updates. Then the
same binlog range is read twice: by bench_rpl_recv (MariaDB Connector/C's
replication API, receiving events without decoding rows: the limit) and by
sluice decoding every row, encoding Debezium JSON and writing + fsyncing a
file (its offset store is seeded with the range's start). Prints events/s of
each, their ratio, sluice's peak RSS and CPU seconds.

That backlog comparison bounds what the client library can receive, not what
the database emits while it works. So a second, live run follows: both
consumers attach at the binlog's end, the same workload runs, then one marker
row is written; each consumer's time is from the workload's start until it
has the marker (bench_rpl_recv: the marker's commit arrived; sluice: the
marker's event is in its file). Their ratio tells whether sluice keeps up
with the speed at which the database emits changes.

Sizes: BENCH_INSERTS / BENCH_UPDATES; extra sluice keys: BENCH_SLUICE_CONFIG
(JSON); BENCH_MODE=backlog|live|both (default both).
"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "it"))
from conftest import my_params  # noqa: E402  (reads .run/env)
from bench_pg import SLUICE, proc_stats, run_until  # noqa: E402

INSERTS = int(os.environ.get("BENCH_INSERTS", 1_000_000))
UPDATES = int(os.environ.get("BENCH_UPDATES", 500_000))
RECV = os.environ.get("BENCH_RPL_RECV", str(ROOT / "build" / "bench_rpl_recv"))


def q(conn, sql, *args):
    with conn.cursor() as c:
        c.execute(sql, args or None)
        return c.fetchall() if c.description else None


def position(conn):
    (file, pos, *_), = q(conn, "SHOW MASTER STATUS")
    (gtids,), = q(conn, "SELECT BINLOG_GTID_POS(%s, %s)", file, pos)
    return file, int(pos), gtids


def create_table(conn):
    q(conn, "DROP TABLE IF EXISTS bench_orders")
    q(conn, """CREATE TABLE bench_orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT,
               status VARCHAR(20), total DECIMAL(12,2), created_at TIMESTAMP(6), note TEXT)""")


def workload(conn):
    create_table(conn)
    start = position(conn)
    t0 = time.time()
    events = workload_rows(conn)
    end = position(conn)
    print(f"workload: {INSERTS} inserts + {UPDATES} updates in {time.time() - t0:.1f}s, binlog {start[0]}:{start[1]}"
          f" .. {end[0]}:{end[1]}")
    return start, end, events


def run_recv(start, end):
    p = my_params()
    t0 = time.time()
    out = subprocess.run([RECV, p["host"], str(p["port"]), p["user"], p["password"], start[0], str(start[1]),
                          end[0], str(end[1])], check=True, capture_output=True, text=True)
    return time.time() - t0, int(out.stdout.strip())


def write_config(workdir, start, tables="sluice.bench_orders"):
    """bench.json with its offset store seeded at `start`; returns the output file."""
    p = my_params()
    out = workdir / "events.jsonl"
    db = workdir / "offsets.db"
    st = sqlite3.connect(db)
    st.execute("CREATE TABLE offsets (connector TEXT NOT NULL, part TEXT NOT NULL, offset TEXT NOT NULL,"
               " updated_ms INTEGER NOT NULL, PRIMARY KEY (connector, part))")
    st.execute("INSERT INTO offsets VALUES ('bench', ?, ?, 0)",
               (json.dumps({"server": "bench"}, separators=(",", ":")),
                json.dumps({"file": start[0], "pos": start[1], "gtids": start[2]})))
    st.commit()
    st.close()
    cfg = {"name": "bench", "config": {
        "connector.class": "mariadb", "database.hostname": p["host"], "database.port": str(p["port"]),
        "database.user": p["user"], "database.password": p["password"], "topic.prefix": "bench",
        "table.include.list": tables, "database.server.id": "77001",
        "sink.type": "file", "sink.file.path": str(out), "offset.storage.file.filename": str(db),
        **json.loads(os.environ.get("BENCH_SLUICE_CONFIG", "{}"))}}
    (workdir / "bench.json").write_text(json.dumps(cfg))
    return out


def run_sluice(workdir, start, expected):
    return run_until(workdir, write_config(workdir, start), expected)


def live(conn, workdir):
    """Both consumers stream while the workload runs; returns the figures of the live run."""
    create_table(conn)
    q(conn, "DROP TABLE IF EXISTS bench_marker")
    q(conn, "CREATE TABLE bench_marker (id INT PRIMARY KEY)")
    start = position(conn)
    out = write_config(workdir, start, "sluice.bench_orders,sluice.bench_marker")
    p = my_params()
    log = open(workdir / "sluice.log", "wb")
    sl = subprocess.Popen([SLUICE, "run", str(workdir / "bench.json")], stderr=log)
    recv = subprocess.Popen([RECV, p["host"], str(p["port"]), p["user"], p["password"], start[0], str(start[1]),
                             "table", "bench_marker"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)  # both connected and idle at the binlog's end
    done = {}
    t0 = time.time()

    def work():
        wconn = pymysql.connect(**my_params())
        done["events"] = workload_rows(wconn)
        q(wconn, "INSERT INTO bench_marker VALUES (1)")
        done["workload"] = time.time() - t0
        wconn.close()

    w = threading.Thread(target=work)
    w.start()
    pos, rss, cpu = 0, 0, 0
    while "sluice" not in done or "recv" not in done:
        time.sleep(0.02)
        if "recv" not in done and recv.poll() is not None:
            done["recv"] = time.time() - t0
        if "sluice" not in done:
            if sl.poll() is not None:
                sys.exit(f"sluice exited early: {(workdir / 'sluice.log').read_text()[-2000:]}")
            if out.exists():
                with open(out, "rb") as f:
                    f.seek(max(0, pos - 200))
                    chunk = f.read()
                if b"bench_marker" in chunk:
                    done["sluice"] = time.time() - t0
                pos += len(chunk) - min(pos, 200)
            rss, cpu = proc_stats(sl.pid)
        if time.time() - t0 > 1800:
            sys.exit("live run did not finish within 30 minutes")
    w.join()
    sl.terminate()
    sl.wait(60)
    q(conn, "DROP TABLE bench_marker")
    return done, rss, cpu, out.stat().st_size


def workload_rows(conn):
    """1M inserts in 10k-row statements, then 500k updates; returns the row changes made."""
    step = 10_000
    for lo in range(0, INSERTS, step):
        n = min(step, INSERTS - lo)
        q(conn, f"""INSERT INTO bench_orders (customer_id, status, total, created_at, note)
                    SELECT FLOOR(RAND() * 100000), 'new', ROUND(RAND() * 1000, 2), NOW(6), CONCAT('order note ', seq)
                    FROM seq_1_to_{n}""")
    # Auto-increment leaves gaps after bulk inserts: update by rank, and count what really changed.
    ids = [r[0] for r in q(conn, "SELECT id FROM bench_orders ORDER BY id LIMIT %s", UPDATES)]
    updated = 0
    for lo in range(0, len(ids), step):
        chunk = ids[lo:lo + step]
        with conn.cursor() as c:
            updated += c.execute("UPDATE bench_orders SET status = 'shipped', total = total + 1 WHERE id >= %s AND id <= %s",
                                 (chunk[0], chunk[-1]))
    return INSERTS + updated


def main():
    mode = os.environ.get("BENCH_MODE", "both")
    conn = pymysql.connect(**my_params())
    if mode in ("backlog", "both"):
        start, end, events = workload(conn)
        os.sync()
        t_recv, nrows = run_recv(start, end)
        with tempfile.TemporaryDirectory(dir=ROOT / ".run") as d:
            t_sl, rss, cpu, size = run_sluice(Path(d), start, events)
        q(conn, "DROP TABLE bench_orders")
        r_recv, r_sl = events / t_recv, events / t_sl
        print(f"[backlog] bare replication loop: {events} row changes ({nrows} rows events) in {t_recv:.2f}s = "
              f"{r_recv:,.0f} rows/s")
        print(f"[backlog] sluice -> file: {events} events in {t_sl:.2f}s = {r_sl:,.0f} events/s "
              f"({size / 1e6:.0f} MB of Debezium JSON, fsynced)")
        # The bare loop receives rows events without decoding them (a warm binlog arrives at hundreds of MB/s),
        # so no decoder gets near it: this ratio bounds the client library; the goal is the live run's.
        print(f"[backlog] ratio sluice/bare loop: {r_sl / r_recv:.2f} (receiving without decoding; the goal "
              f"applies to the live ratio below)")
        print(f"[backlog] sluice peak RSS: {rss / 1048576:.1f} MiB (goal <= 64), CPU: {cpu:.1f}s "
              f"({cpu / events * 1e6:.2f} us/event)")
    if mode in ("live", "both"):
        with tempfile.TemporaryDirectory(dir=ROOT / ".run") as d:
            done, rss, cpu, size = live(conn, Path(d))
        q(conn, "DROP TABLE bench_orders")
        events = done["events"] + 1
        print(f"[live] workload: {events} row changes written in {done['workload']:.2f}s "
              f"({events / done['workload']:,.0f}/s)")
        print(f"[live] bare replication loop had the last change after {done['recv']:.2f}s, "
              f"sluice -> file after {done['sluice']:.2f}s ({size / 1e6:.0f} MB, fsynced)")
        print(f"[live] ratio bare loop time / sluice time: {done['recv'] / done['sluice']:.2f} (goal >= 0.8)")
        print(f"[live] sluice peak RSS: {rss / 1048576:.1f} MiB (goal <= 64), CPU: {cpu:.1f}s "
              f"({cpu / events * 1e6:.2f} us/event)")


if __name__ == "__main__":
    main()
