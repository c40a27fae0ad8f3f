#!/usr/bin/env python3
"""make bench-snapshot: the initial snapshot of a PostgreSQL table against COPY, with 1, 2 and 4 readers.

BENCH_SNAPSHOT_ROWS rows (default 2,000,000) of the orders-like table bench-mongo and bench-verify use are
  1. read by `COPY (SELECT * FROM t) TO STDOUT` through psql into /dev/null: the limit (the faster of two);
  2. snapshotted by sluice (snapshot.mode=initial_only, so the process ends when the snapshot is stored)
     into a file with JSON schemas off, with snapshot.max.threads 1, 2 and 4;
  3. the same into Kafka (Debezium JSON with schemas, a fresh topic each), when Kafka is up.
The file is several times larger than COPY's text (each event carries its envelope, source block and
headers): the time dd takes to write as many bytes into the page cache is printed beside it.
Then, when MariaDB is up, BENCH_SNAPSHOT_MY_ROWS rows (default 1,000,000) of the same shape in MariaDB:
the limit is `mariadb --quick` reading `SELECT *` into /dev/null (the server and the protocol), beside sluice's
snapshot (initial_only) into the file with snapshot.max.threads 1 and 3.
Then, when the MongoDB test server is up, BENCH_SNAPSHOT_MONGO_DOCS documents (default 100,000): the limit is
bench_mongo_scan (bench/mongo_scan.c: one libmongoc cursor reading the collection in _id order, nothing else),
beside sluice's copy_existing into the file with copy.existing.max.threads 1 and 3, timed from process start to
the log's "copy_existing finished" (peak RSS: VmHWM). That server is mongo-java-server, an in-memory Java
imitation whose range queries scan and sort in the JVM: compare the lines of one run, not with a real MongoDB.
Each table's load is flushed to disk before the runs (CHECKPOINT; InnoDB's dirty pages), so that the first
run does not share the disk with the server's background writes.
Each sluice run is timed from process start to its exit, its peak RSS from /usr/bin/time. Prints rows/s
and the ratio to COPY of each. On this 2-core machine PostgreSQL's COPY backends, sluice and the broker
share two cores: more readers only help while a core is idle.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pg as b  # noqa: E402
from bench_kafka import BOOTSTRAP, delete_topics  # noqa: E402

N = int(os.environ.get("BENCH_SNAPSHOT_ROWS", 2_000_000))
THREADS = [int(x) for x in os.environ.get("BENCH_SNAPSHOT_THREADS", "1,2,4").split(",")]
PSQL = "/usr/lib/postgresql/15/bin/psql"
BARE = {"key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false"}


def copy_limit():
    p = b.pg_params()
    env = dict(os.environ, PGPASSWORD=p["password"])
    best = None
    for _ in range(2):
        t0 = time.time()
        subprocess.run([PSQL, "-X", "-q", "-h", p["host"], "-p", str(p["port"]), "-U", p["user"], p["dbname"],
                        "-c", "COPY (SELECT * FROM bench_snap) TO STDOUT"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        secs = time.time() - t0
        best = secs if best is None else min(best, secs)
    return best


def run_snapshot(d, name, sink):
    """sluice initial_only on the table with `sink` keys; (seconds to exit, peak RSS bytes)."""
    p = b.pg_params()
    cfg = {"name": name, "config": {
        "connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
        "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
        "topic.prefix": name, "slot.name": name.replace("-", "_"), "publication.name": "bench_snap_pub",
        "publication.autocreate.mode": "disabled", "snapshot.mode": "initial_only",
        "table.include.list": "public.bench_snap", "offset.storage.file.filename": str(d / f"{name}.db"),
        "log.level": "warn", **sink}}
    path = d / f"{name}.json"
    path.write_text(json.dumps(cfg))
    t0 = time.time()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", b.SLUICE, "run", str(path)], capture_output=True, text=True,
                       timeout=3600)
    secs = time.time() - t0
    if r.returncode:
        sys.exit(f"sluice ({name}) failed: {r.stderr[-2000:]}")
    return secs, int(r.stderr.strip().splitlines()[-1]) * 1024


MY_N = int(os.environ.get("BENCH_SNAPSHOT_MY_ROWS", 1_000_000))


def mariadb_bench(d):
    """MariaDB: (rows, [(label, seconds, ratio, rss)]) or None when it is not up."""
    sys.path.insert(0, str(b.ROOT / "tests" / "it"))
    import pymysql
    from conftest import my_params
    p = my_params()
    try:
        conn = pymysql.connect(**p)
    except pymysql.err.OperationalError:
        print("MariaDB is not up (scripts/services.sh start mariadb): no MariaDB runs")
        return None
    with conn.cursor() as c:
        c.execute("DROP TABLE IF EXISTS bench_mysnap")
        c.execute("CREATE TABLE bench_mysnap (id BIGINT PRIMARY KEY, customer_id BIGINT, status VARCHAR(20), "
                  "total DECIMAL(12,2), created_at DATETIME(6), note VARCHAR(100))")
        c.execute(f"INSERT INTO bench_mysnap SELECT seq, FLOOR(RAND() * 100000), 'new', ROUND(RAND() * 1000, 2), "
                  f"NOW(6), CONCAT('order note ', seq) FROM seq_1_to_{MY_N}")
        conn.commit()
        c.execute("ANALYZE TABLE bench_mysnap")
        c.fetchall()
        # the load's dirty pages flushed now, not by InnoDB's page cleaner during the first run
        c.execute("SELECT @@innodb_max_dirty_pages_pct")
        (dirty_pct,), = c.fetchall()
        c.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        deadline = time.time() + 60
        while time.time() < deadline:
            c.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            if int(c.fetchall()[0][1]) < 100:
                break
            time.sleep(0.5)
        c.execute(f"SET GLOBAL innodb_max_dirty_pages_pct = {dirty_pct}")
    rows = []
    try:
        best = None
        for _ in range(2):
            t0 = time.time()
            subprocess.run(["mariadb", "--quick", "-h", p["host"], "-P", str(p["port"]), "-u", p["user"],
                            f"-p{p['password']}", p["database"], "-e", "SELECT * FROM bench_mysnap"], check=True,
                           stdout=subprocess.DEVNULL)
            secs = time.time() - t0
            best = secs if best is None else min(best, secs)
        rows.append(("mariadb --quick SELECT * > /dev/null", best, None, None))
        for n in (1, 3):
            name = f"bmysnap-{n}-{uuid.uuid4().hex[:6]}"
            out = d / f"{name}.jsonl"
            cfg = {"name": name, "config": {
                "connector.class": "io.debezium.connector.mariadb.MariaDbConnector", "database.hostname": p["host"],
                "database.port": str(p["port"]), "database.user": p["user"], "database.password": p["password"],
                "database.server.id": str(7000 + n), "topic.prefix": name,
                "table.include.list": f"{p['database']}.bench_mysnap", "snapshot.mode": "initial_only",
                "snapshot.max.threads": str(n), "include.schema.changes": "false",
                "offset.storage.file.filename": str(d / f"{name}.db"), "sink.type": "file",
                "sink.file.path": str(out), "log.level": "warn", **BARE}}
            path = d / f"{name}.json"
            path.write_text(json.dumps(cfg))
            t0 = time.time()
            r = subprocess.run(["/usr/bin/time", "-f", "%M", b.SLUICE, "run", str(path)], capture_output=True,
                               text=True, timeout=3600)
            secs = time.time() - t0
            if r.returncode:
                sys.exit(f"sluice ({name}) failed: {r.stderr[-2000:]}")
            lines = sum(1 for _ in open(out, "rb"))
            if lines != MY_N:
                sys.exit(f"the file holds {lines} events, not {MY_N}")
            out.unlink()
            rows.append((f"sluice -> file, MariaDB, {n} reader{'s' if n > 1 else ''}", secs, best / secs,
                         int(r.stderr.strip().splitlines()[-1]) * 1024))
            print(f"  MariaDB, {n} readers: {secs:.2f} s", flush=True)
    finally:
        with conn.cursor() as c:
            c.execute("DROP TABLE bench_mysnap")
        conn.close()
    return MY_N, rows


MONGO_N = int(os.environ.get("BENCH_SNAPSHOT_MONGO_DOCS", 100_000))


def mongo_bench(d):
    """MongoDB copy_existing: (documents, [(label, seconds, ratio, rss)]) or None when the test server is not up."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError
    uri = os.environ.get("SLUICE_MONGO_URI")
    scan = b.ROOT / "build" / "bench_mongo_scan"
    try:
        client = MongoClient(uri, serverSelectionTimeoutMS=2000)
        client.admin.command("ping")
    except (PyMongoError, TypeError):
        print("the MongoDB test server is not up (scripts/services.sh start mongo): no MongoDB runs")
        return None
    db_name = "bench_copy_" + uuid.uuid4().hex[:8]
    coll = client[db_name]["orders"]
    rows = []
    try:
        for i in range(0, MONGO_N, 5000):
            coll.insert_many([{"_id": j, "customer_id": j * 7919 % 100000, "status": "new", "total": j % 100000 / 100,
                               "note": f"order note {j}", "tags": ["a", "b"]} for j in range(i, min(MONGO_N, i + 5000))])
        best = None
        for _ in range(2):
            r = subprocess.run([str(scan), uri, db_name, "orders"], capture_output=True, text=True, check=True,
                               timeout=3600)
            got = json.loads(r.stdout)
            if got["documents"] != MONGO_N:
                sys.exit(f"bench_mongo_scan read {got['documents']} documents, not {MONGO_N}")
            best = got["seconds"] if best is None else min(best, got["seconds"])
        rows.append(("one libmongoc cursor, all in _id order", best, None, None))
        time.sleep(1.1)  # the copy's resume point on this server is the clock minus 1 s: after the inserts
        for n in (1, 3):
            name = f"bcopy-{n}-{uuid.uuid4().hex[:6]}"
            out, log = d / f"{name}.jsonl", d / f"{name}.log"
            cfg = {"name": name, "config": {
                "connector.class": "com.mongodb.kafka.connect.MongoSourceConnector", "connection.uri": uri,
                "database": db_name, "collection": "orders", "startup.mode": "copy_existing",
                "startup.mode.copy.existing.max.threads": str(n), "offset.storage.file.filename": str(d / f"{name}.db"),
                "sink.type": "file", "sink.file.path": str(out), "log.level": "info"}}
            path = d / f"{name}.json"
            path.write_text(json.dumps(cfg))
            t0 = time.time()
            with open(log, "w") as lf:
                proc = subprocess.Popen([b.SLUICE, "run", str(path)], stdout=lf, stderr=subprocess.STDOUT)
            try:
                while "copy_existing finished" not in log.read_text():
                    if proc.poll() is not None:
                        sys.exit(f"sluice ({name}) failed: {log.read_text()[-2000:]}")
                    if time.time() - t0 > 3600:
                        sys.exit(f"sluice ({name}): no end of the copy in an hour")
                    time.sleep(0.02)
                secs = time.time() - t0
                rss = int(next(ln.split()[1] for ln in open(f"/proc/{proc.pid}/status") if ln.startswith("VmHWM:")))
            finally:
                proc.terminate()
                proc.wait(60)
            lines = sum(1 for _ in open(out, "rb"))
            if lines != MONGO_N:
                sys.exit(f"the file holds {lines} events, not {MONGO_N}")
            out.unlink()
            rows.append((f"sluice copy_existing -> file, {n} reader{'s' if n > 1 else ''}", secs, best / secs,
                         rss * 1024))
            print(f"  MongoDB, {n} readers: {secs:.2f} s", flush=True)
    finally:
        client.drop_database(db_name)
    return MONGO_N, rows


def kafka_up():
    if not BOOTSTRAP:
        return False
    import socket
    host, port = BOOTSTRAP.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), 2).close()
        return True
    except OSError:
        return False


def main():
    conn = __import__("psycopg2").connect(**b.pg_params())
    conn.autocommit = True
    b.q(conn, "DROP PUBLICATION IF EXISTS bench_snap_pub")
    t0 = time.time()
    b.orders_table(conn, "bench_snap", N)
    b.q(conn, "VACUUM ANALYZE bench_snap")
    b.q(conn, "CHECKPOINT")  # the load's dirty pages written now, not by the checkpointer during the first run
    b.q(conn, "CREATE PUBLICATION bench_snap_pub FOR TABLE bench_snap")
    print(f"filled bench_snap with {N} rows in {time.time() - t0:.1f} s (untimed)", flush=True)
    rows = []
    prefixes = []
    my = mg = None
    try:
        limit = copy_limit()
        rows.append(("COPY ... TO STDOUT > /dev/null (psql)", limit, None, None))
        with tempfile.TemporaryDirectory(dir=b.ROOT / ".run") as d:
            d = Path(d)
            for n in THREADS:
                out = d / f"file-{n}.jsonl"
                secs, rss = run_snapshot(d, f"bsnap-file-{n}-{uuid.uuid4().hex[:6]}", {
                    "sink.type": "file", "sink.file.path": str(out), "snapshot.max.threads": str(n), **BARE})
                lines = sum(1 for _ in open(out, "rb"))
                if lines != N:
                    sys.exit(f"the file holds {lines} events, not {N}")
                size = out.stat().st_size
                out.unlink()
                if n == THREADS[0]:  # the file's own limit: writing as many bytes into the page cache
                    t1 = time.time()
                    subprocess.run(["dd", "if=/dev/zero", f"of={d / 'dd.out'}", "bs=1M", f"count={size >> 20}"],
                                   check=True, capture_output=True)
                    dd = time.time() - t1
                    (d / "dd.out").unlink()
                    rows.append((f"dd of the file's {size >> 20} MiB (page cache)", dd, None, None))
                rows.append((f"sluice -> file, schemas off, {n} reader{'s' if n > 1 else ''}", secs, limit / secs, rss))
                print(f"  file, {n} readers: {secs:.2f} s", flush=True)
            if kafka_up():
                for n in THREADS:
                    name = f"bsnap-kafka-{n}-{uuid.uuid4().hex[:6]}"
                    prefixes.append(name)
                    secs, rss = run_snapshot(d, name, {"sink.type": "kafka", "bootstrap.servers": BOOTSTRAP,
                                                       "snapshot.max.threads": str(n)})
                    rows.append((f"sluice -> Kafka, {n} reader{'s' if n > 1 else ''}", secs, limit / secs, rss))
                    print(f"  Kafka, {n} readers: {secs:.2f} s", flush=True)
            else:
                print("Kafka is not up (scripts/services.sh start kafka): no Kafka runs")
            my = mariadb_bench(d)
            mg = mongo_bench(d)
    finally:
        if prefixes:
            from confluent_kafka.admin import AdminClient
            admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
            for pfx in prefixes:
                delete_topics(admin, pfx)
        b.q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE "
                  "'bsnap_%%' AND NOT active")
        b.q(conn, "DROP TABLE bench_snap; DROP PUBLICATION bench_snap_pub")
    print(f"{'':44}{'rows':>9}{'seconds':>9}{'rows/s':>10}{'/ COPY':>8}{'peak RSS':>12}")
    for label, secs, ratio, rss in rows:
        print(f"{label:44}{N:>9}{secs:>9.2f}{N / secs:>10.0f}" +
              (f"{ratio:>8.2f}{rss / 1048576:>8.1f} MiB" if ratio is not None else ""))
    for part in (my, mg):
        if not part:
            continue
        print(f"{'':44}{'rows':>9}{'seconds':>9}{'rows/s':>10}{'/ limit':>8}{'peak RSS':>12}")
        for label, secs, ratio, rss in part[1]:
            print(f"{label:44}{part[0]:>9}{secs:>9.2f}{part[0] / secs:>10.0f}" +
                  (f"{ratio:>8.2f}{rss / 1048576:>8.1f} MiB" if ratio is not None else ""))


if __name__ == "__main__":
    main()
