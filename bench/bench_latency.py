#!/usr/bin/env python3
"""bench-latency: per-record latency of PostgreSQL -> sluice -> Kafka under a steady write load.

Writers: pgbench (PostgreSQL's own load generator, in C), BENCH_LATENCY_CLIENTS
connections (default 16: enough for group commit to keep up on a 2-core
machine), each transaction one INSERT of an orders-like row (bench-pg's
columns), paced open loop at BENCH_LATENCY_RATE transactions/s (default
5000; pgbench --rate: Poisson-distributed start times, a late transaction
starts at once, so the writers never wait for sluice) for
BENCH_LATENCY_SECONDS (default 60). The achieved rate is printed; when the
machine cannot reach the target, pgbench runs flat out and the figures are
those of the highest rate it sustains.

sluice streams the table to Kafka (the sink's defaults: lz4, idempotent,
acks=all, linger.ms=5) into a topic created beforehand with
message.timestamp.type=LogAppendTime, so each record's timestamp is the time
the broker appended it. Per record:

    latency = broker append time (LogAppendTime, whole ms, truncated)
              - commit time (source.ts_us: PostgreSQL's commit timestamp, in us)

PostgreSQL, Kafka and sluice share this machine's clock. The commit time is
taken before the commit's WAL flush, so PostgreSQL's fsync is part of the
figure; the broker's whole-ms timestamps make each figure read 0-1 ms low.
Under exactly-once, records are appended when produced, before their
transaction commits: the figure is commit -> append, not commit -> visible to
read_committed consumers (the commit itself adds one EndTxn round trip).
Each latency is also split where the Kafka sink encoded the record (the
envelope's own ts_us, taken then): commit -> encoded (WAL flush, walsender,
decoding, batching in the source, the queue to the sink) and encoded ->
appended (librdkafka's linger and request, the broker). Under exactly-once
the run's offset.storage.topic holds one offset record per Kafka transaction:
their count and the gaps between their timestamps show the commit cadence.

First the floor: the same writers with no sluice, the server's logical
decoding read by pg_recvlogical (test_decoding, commit timestamps on) alone,
each COMMIT stamped as it arrives: what any logical replication client gets
on this machine at this rate. Then three runs, each with its own table,
slot, topic and sluice process:
at-least-once (the default), exactly.once.support=required, and
at-least-once while an incremental snapshot (a signal in signal.file as the
writers start) reads the BENCH_LATENCY_ISNAP_ROWS (1,000,000) rows the table
held before the run: its reads go to the same topic and are counted apart,
the goal for the writers' changes is p99 < 100 ms. After the
writers stop, the topic is read (read_committed) until it holds every row
written (counted in the table); a run whose counts differ fails. A warm-up
row, written and awaited before the writers start, is not counted. Prints
p50/p90/p99/max per run against the goals (p99 <= 50 ms at-least-once,
<= 250 ms exactly-once; an earlier measurement found 56 ms and 958 ms),
sluice's and the broker's CPU, and the machine's load average (other work
on it skews these figures). About 6 minutes with the defaults.
Extra sluice keys (every run): BENCH_SLUICE_CONFIG (JSON); some runs only:
BENCH_LATENCY_MODES=floor, alo, eos, isnap (comma-separated).
"""
import datetime
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pg import RECV, ROOT, SLUICE, proc_stats, q  # noqa: E402  (also reads .run/env through conftest)
from bench_kafka import BOOTSTRAP, acked, base_config, broker_pid, cpu_of, delete_topics  # noqa: E402
from conftest import pg_params  # noqa: E402

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

RATE = int(os.environ.get("BENCH_LATENCY_RATE", 5000))
SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", 60))
CLIENTS = int(os.environ.get("BENCH_LATENCY_CLIENTS", 16))
PGBENCH = str(Path(RECV).parent / "pgbench")
TABLE, PUB, SLOT = "bench_latency", "bench_latency_pub", "bench_latency"
FLOOR_SLOT = "bench_latency_floor"  # pg_recvlogical's (test_decoding), read beside sluice in every run
ISNAP_ROWS = int(os.environ.get("BENCH_LATENCY_ISNAP_ROWS", 1_000_000))
# (key, label, extra sluice keys (given the run's topic prefix), goal for p99 in ms, rows in the table before the
# run that an incremental snapshot reads while the writers run: 0 for none)
MODES = (("alo", "at-least-once (default)", lambda prefix: {}, 50, 0),
         ("eos", "exactly.once.support=required",
          lambda prefix: {"exactly.once.support": "required", "offset.storage.topic": prefix + ".offsets",
                          "transactional.id": prefix + "-tx"}, 250, 0),
         ("isnap", "at-least-once + incremental snapshot",
          lambda prefix: {"signal.enabled.channels": "file", "signal.file": str(ROOT / ".run" / f"{prefix}.signals"),
                          "signal.poll.interval.ms": "100"}, 100, ISNAP_ROWS))
INSERT = """\\set c random(1, 100000)
INSERT INTO bench_latency (customer_id, status, total, created_at, note)
  VALUES (:c, 'new', round((random() * 1000)::numeric, 2), now(), 'order note ' || :c);
"""


def teardown(conn):
    for slot in (SLOT, FLOOR_SLOT):
        q(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", slot)
    q(conn, f"DROP TABLE IF EXISTS {TABLE}; DROP PUBLICATION IF EXISTS {PUB}")


def setup(conn, prefill):
    """A fresh table (with `prefill` rows), its publication and a slot made before the writers start
    (snapshot.mode=no_data)."""
    teardown(conn)
    q(conn, f"""CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, customer_id bigint, status text,
                total numeric(12,2), created_at timestamptz, note text)""")
    if prefill:
        q(conn, f"""INSERT INTO {TABLE} (customer_id, status, total, created_at, note)
                    SELECT g % 100000, 'old', (g % 1000) / 10.0, now(), 'existing order ' || g
                    FROM generate_series(1, {prefill}) g""")
        q(conn, f"ANALYZE {TABLE}")
    q(conn, f"CREATE PUBLICATION {PUB} FOR TABLE {TABLE}")
    q(conn, "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", SLOT)
    q(conn, "SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", FLOOR_SLOT)


class Floor:
    """The same server's logical decoding read by pg_recvlogical (test_decoding, commit timestamps on) beside
    sluice, under the same load: each COMMIT line stamped as it arrives. Its commit -> received latency is
    what any logical replication client gets here: the floor under sluice's."""

    COMMIT = re.compile(rb"^COMMIT(?: \d+)? \(at (\S+ \S+)\)")

    def __init__(self):
        p = pg_params()
        self.proc = subprocess.Popen(
            [RECV, "-h", p["host"], "-p", str(p["port"]), "-U", p["user"], "-d", p["dbname"], "--slot", FLOOR_SLOT,
             "--start", "-o", "include-timestamp=1", "-o", "skip-empty-xacts=1", "-f", "-"],
            stdout=subprocess.PIPE, env=dict(os.environ, PGPASSWORD=p["password"]))
        self.lat, self.t0 = [], time.time()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            now = time.time()
            m = self.COMMIT.match(line)
            if m:
                ts = datetime.datetime.fromisoformat(m.group(1).decode().replace(" ", "T")).timestamp()
                if ts >= self.t0:  # not the warm-up row's, committed before this reader started
                    self.lat.append((now - ts) * 1000)

    def stop(self, expected, timeout=30):
        deadline = time.time() + timeout
        while len(self.lat) < expected and time.time() < deadline:
            time.sleep(0.1)
        self.proc.terminate()
        self.proc.wait(30)
        return sorted(self.lat)


def create_topic(admin, topic):
    """The table's topic, made before sluice sees it, so that the broker stamps each record's append time."""
    nt = NewTopic(topic, num_partitions=1, replication_factor=1,
                  config={"message.timestamp.type": "LogAppendTime"})
    for f in admin.create_topics([nt], operation_timeout=30).values():
        f.result(30)


def wait_streaming(proc, log, timeout=60):
    deadline = time.time() + timeout
    while b"streaming slot=" not in log.read_bytes():
        if proc.poll() is not None or time.time() > deadline:
            sys.exit(f"sluice did not start streaming: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def warm_up(conn, topic):
    """One row through the whole path (producer, topic metadata, first transaction) before the clock
    starts; returns its id, which is not counted."""
    (wid,), = q(conn, f"INSERT INTO {TABLE} (note) VALUES ('warm-up') RETURNING id")
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "bench-latency-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False})
    parts, deadline = [], time.time() + 60
    try:
        while acked(c, topic, parts) < 1:
            if time.time() > deadline:
                sys.exit("the warm-up row did not reach Kafka within 60 s")
            time.sleep(0.05)
    finally:
        c.close()
    return wid


def pgbench():
    """Runs the writers; returns (transactions, seconds, pgbench's tps, lag avg ms, lag max ms)."""
    p = pg_params()
    sock = os.environ.get("SLUICE_PG_SOCKET_DIR", "")
    host = sock if sock and os.path.isdir(sock) else p["host"]  # a Unix socket costs the writers less CPU
    with tempfile.NamedTemporaryFile("w", suffix=".sql", dir=ROOT / ".run") as f:
        f.write(INSERT)
        f.flush()
        cmd = [PGBENCH, "-h", host, "-p", str(p["port"]), "-U", p["user"], "-n", "-M", "prepared", "-f", f.name,
               "-c", str(CLIENTS), "-j", "2", "-R", str(RATE), "-T", str(SECONDS), p["dbname"]]
        r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PGPASSWORD=p["password"]))
    if r.returncode:
        sys.exit(f"pgbench failed: {r.stderr[-2000:]}")

    def num(pattern):
        m = re.search(pattern, r.stdout)
        return float(m.group(1)) if m else float("nan")
    return (int(num(r"actually processed: (\d+)")), num(r"duration: (\d+) s"), num(r"tps = ([\d.]+)"),
            num(r"schedule lag: avg ([\d.]+)"), num(r"schedule lag: avg [\d.]+ \(max ([\d.]+)\)"))


def read_latencies(topic, skip_id, expected):
    """Reads the topic (read_committed) until `expected` distinct rows (ids other than skip_id) are seen,
    or nothing new came for 30 s. Returns ({id: latency ms}, [commit -> encode us], duplicates,
    [commit time us], whether every timestamp was a LogAppendTime, incremental snapshot reads seen). The
    incremental snapshot's reads (op r) are counted apart."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "bench-latency-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed"})
    c.subscribe([topic])
    lat, split, commits, dups, append_time, last_new, reads = {}, [], [], 0, True, time.time(), 0
    try:
        while len(lat) < expected and time.time() - last_new < 30:
            for m in c.consume(1000, 0.5):
                if m.error():
                    sys.exit(f"consumer: {m.error()}")
                if m.value() is None:
                    continue
                ev = json.loads(m.value())
                ev = ev.get("payload", ev)
                rid = ev["after"]["id"]
                if rid == skip_id:
                    continue
                if ev["op"] == "r":  # the incremental snapshot's (a row written after its largest key was read too)
                    reads += 1
                    continue
                if rid in lat:
                    dups += 1
                    continue
                ts_type, ts_ms = m.timestamp()
                append_time &= ts_type == TIMESTAMP_LOG_APPEND_TIME
                commit_us = ev["source"]["ts_us"]
                lat[rid] = ts_ms - commit_us / 1000
                split.append(ev["ts_us"] - commit_us)  # the envelope's ts_us: when the sink encoded it
                commits.append(commit_us)
                last_new = time.time()
    finally:
        c.close()
    return lat, split, dups, commits, append_time, reads


def commit_gaps(topic):
    """Exactly-once: each transaction carries one offset record (offset.storage.topic, fresh per run);
    returns the gaps in ms between their timestamps (the producer's, taken just before each commit)."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "bench-latency-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed", "enable.partition.eof": True})
    c.subscribe([topic])
    stamps, eof, parts, deadline = [], set(), None, time.time() + 30
    try:
        while time.time() < deadline and (parts is None or len(eof) < parts):
            for m in c.consume(1000, 0.5):
                if m.error():
                    eof.add(m.partition())  # _PARTITION_EOF: this partition is read to its end
                else:
                    stamps.append(m.timestamp()[1])
            if parts is None and c.assignment():
                parts = len(c.assignment())
    finally:
        c.close()
    stamps.sort()
    return sorted(b - a for a, b in zip(stamps, stamps[1:]))


def pct(sorted_vals, p):
    """Nearest-rank percentile."""
    return sorted_vals[max(0, math.ceil(p / 100 * len(sorted_vals)) - 1)]


def run(conn, admin, bpid, label, extra, goal, prefill, prefixes):
    prefix = "bl" + uuid.uuid4().hex[:10]
    prefixes.append(prefix)  # its topics are deleted after the last run: not while another one runs
    topic = f"{prefix}.public.{TABLE}"
    setup(conn, prefill)
    create_topic(admin, topic)
    proc = None
    try:
        with tempfile.TemporaryDirectory(dir=ROOT / ".run") as d:
            d = Path(d)
            cfg = base_config(d, SLOT, prefix, {"sink.type": "kafka", "bootstrap.servers": BOOTSTRAP,
                                                 "publication.name": PUB, "table.include.list": f"public.{TABLE}",
                                                 **extra(prefix)})
            (d / "bench.json").write_text(json.dumps(cfg))
            log = d / "sluice.log"
            proc = subprocess.Popen([SLUICE, "run", str(d / "bench.json")], stderr=open(log, "wb"))
            wait_streaming(proc, log)
            skip_id = warm_up(conn, topic)
            _, cpu0 = proc_stats(proc.pid)
            b0 = cpu_of(bpid)
            sigfile = cfg["config"].get("signal.file")
            if sigfile:  # the incremental snapshot of the rows already there, as the writers start
                Path(sigfile).write_text(json.dumps({"id": "bench", "type": "execute-snapshot", "data": {
                    "data-collections": [f"public.{TABLE}"], "type": "incremental"}}) + "\n")
            n, secs, tps, lag_avg, lag_max = pgbench()
            (rows,), = q(conn, f"SELECT count(*) FROM {TABLE} WHERE id <> %s AND id > %s", skip_id, prefill)
            lat, split, dups, commits, append_time, reads = read_latencies(topic, skip_id, rows)
            isnap_log = log.read_text() if sigfile else ""
            if sigfile:
                Path(sigfile).unlink(missing_ok=True)
            if proc.poll() is not None:
                sys.exit(f"sluice exited during the run: {log.read_text()[-2000:]}")
            gaps = commit_gaps(cfg["config"]["offset.storage.topic"]) if "exactly.once.support" in cfg["config"] \
                else None
            rss, cpu1 = proc_stats(proc.pid)
            bcpu = cpu_of(bpid) - b0
            ids = {i for (i,) in q(conn, f"SELECT id FROM {TABLE} WHERE id <> %s AND id > %s", skip_id, prefill)}
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(60)
        teardown(conn)
    if not append_time:
        sys.exit(f"topic {topic} has no LogAppendTime timestamps: the figures would be the producer's clock")
    if len(lat) != rows or set(lat) != ids:
        sys.exit(f"[{label}] Kafka holds {len(lat)} of the {rows} rows written "
                 f"({len(ids - set(lat))} missing, {len(set(lat) - ids)} unknown): no figures")
    span = (max(commits) - min(commits)) / 1e6 if len(commits) > 1 else float("nan")
    vals = sorted(lat.values())
    # The same records' latencies split where the sink encoded them (the envelope's ts_us, in us).
    src = sorted(x / 1000 for x in split)
    snk = sorted(lat[i] - x / 1000 for i, x in zip(lat, split))
    isnap = None
    if prefill:
        isnap = dict(rows=prefill, reads=reads, finished="incremental snapshot finished" in isnap_log)
    return dict(isnap=isnap, gaps=gaps, src50=pct(src, 50), src99=pct(src, 99), snk50=pct(snk, 50), snk99=pct(snk, 99),label=label, goal=goal, rows=rows, dups=dups, secs=secs, tps=tps, lag_avg=lag_avg,
                lag_max=lag_max, span=span, rss=rss, cpu=cpu1 - cpu0, bcpu=bcpu,
                p50=pct(vals, 50), p90=pct(vals, 90), p99=pct(vals, 99), max=vals[-1])


def run_floor(conn):
    """The same writers with no sluice, the server's decoding read by pg_recvlogical alone: what any logical
    replication client gets on this machine at this rate (commit -> received)."""
    setup(conn, 0)
    try:
        floor = Floor()
        time.sleep(0.5)
        pgbench()
        (rows,), = q(conn, f"SELECT count(*) FROM {TABLE}")
        fl = floor.stop(rows)
    finally:
        teardown(conn)
    return dict(n=len(fl), p50=pct(fl, 50), p90=pct(fl, 90), p99=pct(fl, 99), max=fl[-1]) if fl else None


def report(r):
    rate = r["rows"] / r["span"]
    print(f"\n[{r['label']}]")
    print(f"written: {r['rows']:,} single-row transactions, committed over {r['span']:.1f} s = {rate:,.0f}/s "
          f"(target {RATE:,}/s; pgbench: {r['tps']:,.0f} tps, schedule lag avg {r['lag_avg']:.1f} ms, "
          f"max {r['lag_max']:.0f} ms)")
    if rate < 0.97 * RATE:
        print(f"NOTE: the writers did not reach {RATE:,}/s on this machine; these figures are at "
              f"{rate:,.0f}/s, the highest rate they sustained")
    print(f"counted: {r['rows']:,} records in Kafka = rows written ({r['dups']} duplicates)")
    print(f"latency commit -> broker append (ms): p50 {r['p50']:.1f}  p90 {r['p90']:.1f}  p99 {r['p99']:.1f}  "
          f"max {r['max']:.1f}")
    print(f"goal p99 <= {r['goal']} ms: {'met' if r['p99'] <= r['goal'] else 'NOT met'}")
    print(f"  split at the sink's encoding (envelope ts_us): commit -> encoded p50 {r['src50']:.1f} "
          f"p99 {r['src99']:.1f}; encoded -> appended p50 {r['snk50']:.1f} p99 {r['snk99']:.1f}")
    if r["gaps"]:
        g = r["gaps"]
        print(f"  transactions: {len(g) + 1} committed (offset records), gap between commits p50 {pct(g, 50):.0f} ms "
              f"p99 {pct(g, 99):.0f} ms max {g[-1]:.0f} ms")
    if r["isnap"]:
        i = r["isnap"]
        print(f"  incremental snapshot of the {i['rows']:,} rows there before: {i['reads']:,} read during the run "
              f"({'finished' if i['finished'] else 'not finished'}), {i['reads'] / r['secs']:,.0f} rows/s beside "
              f"the writers")
    print(f"sluice CPU {r['cpu']:.1f} s ({r['cpu'] / r['secs'] * 100:.0f}% of a core), peak RSS "
          f"{r['rss'] / 1048576:.1f} MiB; broker CPU {r['bcpu']:.1f} s")


def main():
    if not BOOTSTRAP:
        sys.exit("SLUICE_KAFKA_BOOTSTRAP is not set: run scripts/services.sh start kafka")
    which = os.environ.get("BENCH_LATENCY_MODES", "")
    modes = [m for m in MODES if not which or m[0] in which.split(",")]
    la = os.getloadavg()
    print(f"bench-latency: PostgreSQL -> sluice -> Kafka, {RATE:,} single-row transactions/s for {SECONDS} s "
          f"({CLIENTS} pgbench connections, paced open loop); sluice {SLUICE}")
    print(f"machine: {os.cpu_count()} CPUs, load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} before the runs "
          f"(other work on the machine skews these figures)")
    print("latency per record: broker LogAppendTime (ms, truncated) - PostgreSQL commit timestamp "
          "(source.ts_us, us)")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    bpid = broker_pid()
    conn = psycopg2.connect(**pg_params())
    conn.autocommit = True
    results, prefixes, floor = [], [], None
    try:
        if not which or "floor" in which.split(","):
            floor = run_floor(conn)
            print("  floor (pg_recvlogical alone): done", flush=True)
        for _, label, extra, goal, prefill in modes:
            results.append(run(conn, admin, bpid, label, extra, goal, prefill, prefixes))
            print(f"  {label}: done", flush=True)
    finally:
        # A deleted topic's files go 60 s later (file.delete.delay.ms): deleted between runs, the first run's
        # topics were removed during the second and stalled the broker's appends (exactly-once p99 275 ms
        # after an at-least-once run, 41 ms on its own).
        for prefix in prefixes:
            delete_topics(admin, prefix)
    for r in results:
        report(r)
    print(f"\n{'':38}{'rows':>9}{'rate/s':>8}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}  goal (p99, ms)")
    if floor:
        print(f"{'floor: pg_recvlogical alone':38}{floor['n']:>9}{'':>8}{floor['p50']:>8.1f}{floor['p90']:>8.1f}"
              f"{floor['p99']:>8.1f}{floor['max']:>8.1f}  (commit -> received, no sluice)")
    for r in results:
        print(f"{r['label']:38}{r['rows']:>9}{r['rows'] / r['span']:>8.0f}{r['p50']:>8.1f}{r['p90']:>8.1f}"
              f"{r['p99']:>8.1f}{r['max']:>8.1f}  <= {r['goal']} {'met' if r['p99'] <= r['goal'] else 'NOT met'}")
    conn.close()


if __name__ == "__main__":
    main()
