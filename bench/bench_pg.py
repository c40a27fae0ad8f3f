#!/usr/bin/env python3
"""bench-pg: sluice (PostgreSQL -> file) against pg_recvlogical (pgoutput), in one run.

A table like an orders table gets 1,000,000 inserts and 500,000 updates while
two slots (one per consumer) hold the WAL. Then each consumer drains the same
backlog on its own: pg_recvlogical with --endpos (it receives the pgoutput
messages and writes them to /dev/null: the limit of what the server emits),
and sluice decoding, encoding Debezium JSON and writing + fsyncing a file.
Prints events/s of each, their ratio, sluice's peak RSS and CPU seconds.

Two sluice configurations are measured, each right after its own
pg_recvlogical run (four slots, consumed in the order recvlogical, sluice,
recvlogical, sluice, so neither side always gets the colder WAL cache):
Kafka Connect's default JsonConverter output with schemas (each event carries
its ~3 KB schema) and bare payloads (schemas.enable=false).
Sizes can be scaled with BENCH_INSERTS / BENCH_UPDATES; extra sluice keys
with BENCH_SLUICE_CONFIG (JSON).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "it"))
from conftest import pg_params  # noqa: E402  (reads .run/env)

INSERTS = int(os.environ.get("BENCH_INSERTS", 1_000_000))
UPDATES = int(os.environ.get("BENCH_UPDATES", 500_000))
SLUICE = os.environ.get("SLUICE_BIN", str(ROOT / "build" / "sluice"))
RECV = "/usr/lib/postgresql/15/bin/pg_recvlogical"


def q(conn, sql, *args):
    with conn.cursor() as c:
        c.execute(sql, args or None)
        return c.fetchall() if c.description else None


def setup(conn):
    drop_slots(conn)
    q(conn, "DROP TABLE IF EXISTS bench_orders; DROP PUBLICATION IF EXISTS bench_pub")
    q(conn, """CREATE TABLE bench_orders (id bigserial PRIMARY KEY, customer_id bigint, status text,
               total numeric(12,2), created_at timestamptz, note text)""")
    q(conn, "CREATE PUBLICATION bench_pub FOR TABLE bench_orders")
    for slot in SLOTS:
        q(conn, "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", slot)


SLOTS = ("bench_recv_1", "bench_sluice_1", "bench_recv_2", "bench_sluice_2")


def drop_slots(conn):
    for slot in SLOTS:
        q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", slot)


def workload(conn):
    t0 = time.time()
    step = 10_000
    for lo in range(0, INSERTS, step):
        n = min(step, INSERTS - lo)
        q(conn, """INSERT INTO bench_orders (customer_id, status, total, created_at, note)
                   SELECT (random() * 100000)::bigint, 'new', round((random() * 1000)::numeric, 2), now(),
                          'order note ' || g FROM generate_series(1, %s) g""", n)
    for lo in range(0, UPDATES, step):
        n = min(step, UPDATES - lo)
        q(conn, "UPDATE bench_orders SET status = 'shipped', total = total + 1 WHERE id > %s AND id <= %s",
          lo, lo + n)
    (end,), = q(conn, "SELECT pg_current_wal_lsn()::text")
    print(f"workload: {INSERTS} inserts + {UPDATES} updates in {time.time() - t0:.1f}s, WAL end {end}")
    return end


def run_recvlogical(end_lsn, slot):
    p = pg_params()
    env = dict(os.environ, PGPASSWORD=p["password"])
    cmd = [RECV, "-h", p["host"], "-p", str(p["port"]), "-U", p["user"], "-d", p["dbname"], "--slot", slot,
           "--start", "-o", "proto_version=1", "-o", "publication_names=bench_pub", "--endpos", end_lsn,
           "-f", "/dev/null", "--no-loop"]
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env)
    return time.time() - t0


def proc_stats(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) * 1024
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / tck


def run_until(workdir, out, expected):
    """Runs sluice on workdir/bench.json until `out` holds `expected` lines; returns
    (seconds, peak RSS bytes, CPU seconds, output bytes)."""
    log = open(workdir / "sluice.log", "wb")
    t0 = time.time()
    proc = subprocess.Popen([SLUICE, "run", str(workdir / "bench.json")], stderr=log)
    seen, pos = 0, 0
    rss = cpu = 0
    while seen < expected:
        time.sleep(0.05)
        if proc.poll() is not None:
            sys.exit(f"sluice exited early: {(workdir / 'sluice.log').read_text()[-2000:]}")
        if out.exists():
            with open(out, "rb") as f:
                f.seek(pos)
                chunk = f.read()
            cut = chunk.rfind(b"\n") + 1
            seen += chunk.count(b"\n", 0, cut)
            pos += cut
        rss, cpu = proc_stats(proc.pid)
    elapsed = time.time() - t0
    rss, cpu = proc_stats(proc.pid)
    proc.terminate()
    proc.wait(60)
    return elapsed, rss, cpu, out.stat().st_size


def orders_table(conn, name, n):
    """(Re)creates the orders-like table `name` (bench-mongo's and bench-verify's) with n rows."""
    q(conn, f"DROP TABLE IF EXISTS {name}")
    q(conn, f"""CREATE TABLE {name} (id bigint PRIMARY KEY, customer_id bigint, status text,
                total numeric(12,2), created_at timestamptz, note text)""")
    q(conn, f"""INSERT INTO {name} SELECT g, (random() * 100000)::bigint, 'new',
                round((random() * 1000)::numeric, 2), now(), 'order note ' || g FROM generate_series(1, %s) g""", n)


def run_config_until(d, name, config, done, stats=None):
    """Runs sluice on `config` (written to d/<name>.json) until done() holds; returns (seconds from
    process start, peak RSS bytes: VmHWM). stats (a dict): gets the process's CPU seconds ("cpu")."""
    (d / f"{name}.json").write_text(json.dumps({"name": name, "config": config}))
    log = d / f"{name}.log"
    t0 = time.time()
    proc = subprocess.Popen([SLUICE, "run", str(d / f"{name}.json")], stderr=open(log, "wb"))
    try:
        while not done():
            if proc.poll() is not None:
                sys.exit(f"sluice ({name}) exited: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        secs = time.time() - t0
        rss, cpu = proc_stats(proc.pid)
        if stats is not None:
            stats["cpu"] = cpu
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)
    return secs, rss


def run_sluice(workdir, expected, slot, extra):
    p = pg_params()
    out = workdir / "events.jsonl"
    cfg = {"name": "bench", "config": {
        "connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
        "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
        "topic.prefix": "bench", "slot.name": slot, "publication.name": "bench_pub",
        "publication.autocreate.mode": "disabled", "snapshot.mode": "no_data",
        "sink.type": "file", "sink.file.path": str(out),
        "offset.storage.file.filename": str(workdir / "offsets.db"),
        **extra, **json.loads(os.environ.get("BENCH_SLUICE_CONFIG", "{}"))}}
    (workdir / "bench.json").write_text(json.dumps(cfg))
    return run_until(workdir, out, expected)


def settle():
    """Lets writeback of the previous run finish and reads the WAL into the page cache, so every
    consumer starts from the same warm cache (a multi-GB output file can evict the WAL)."""
    os.sync()
    wal = ROOT / ".run" / "pg" / "data" / "pg_wal"
    for f in sorted(wal.glob("0*")) if wal.is_dir() else []:
        with open(f, "rb") as fh:
            while fh.read(1 << 20):
                pass
    time.sleep(1)


def main():
    conn = psycopg2.connect(**pg_params())
    conn.autocommit = True
    setup(conn)
    end = workload(conn)
    events = INSERTS + UPDATES
    bare = {"key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false"}
    results = []
    for i, (label, extra) in enumerate((("schemas.enable=true (default)", {}), ("schemas.enable=false", bare))):
        with tempfile.TemporaryDirectory(dir=ROOT / ".run") as d:
            settle()
            t_recv = run_recvlogical(end, SLOTS[2 * i])
            settle()
            t_sl, rss, cpu, size = run_sluice(Path(d), events, SLOTS[2 * i + 1], extra)
        results.append((label, t_recv, t_sl, rss, cpu, size))
    drop_slots(conn)
    q(conn, "DROP TABLE bench_orders; DROP PUBLICATION bench_pub")
    for label, t_recv, t_sl, rss, cpu, size in results:
        r_recv, r_sl = events / t_recv, events / t_sl
        print(f"\n[{label}]")
        print(f"pg_recvlogical: {events} events in {t_recv:.2f}s = {r_recv:,.0f} events/s")
        print(f"sluice -> file: {events} events in {t_sl:.2f}s = {r_sl:,.0f} events/s "
              f"({size / 1e6:.0f} MB of Debezium JSON, fsynced)")
        print(f"ratio sluice/pg_recvlogical: {r_sl / r_recv:.2f} (goal >= 0.9)")
        print(f"sluice peak RSS: {rss / 1048576:.1f} MiB (goal <= 64), CPU: {cpu:.1f}s "
              f"({cpu / events * 1e6:.2f} us/event)")


if __name__ == "__main__":
    main()
