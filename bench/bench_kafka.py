#!/usr/bin/env python3
"""bench-kafka: sluice (PostgreSQL -> Kafka) against sluice (PostgreSQL -> file), in one run.

bench-pg's workload (bench_orders: 1,000,000 inserts + 500,000 updates, its
functions imported from bench_pg.py) while four slots hold the WAL. Then each
slot is drained by sluice on its own, into the file sink (Debezium JSON
written + fsynced, as bench-pg does) or into the Kafka sink (the broker of
SLUICE_KAFKA_BOOTSTRAP, the sink's default producer: lz4, idempotent,
acks=all; a fresh topic.prefix per run, so its topic is new and sluice
creates it).

When a run is over: the file run, when the file holds every event (bench_pg's
shared loop, run_until); the Kafka run, when the broker has acknowledged every
event: the sum of the high watermarks of the run's topic (a fresh one, so it
starts at 0) reaches the number of events. Each run's topics are deleted right
after it.

Two converter settings, each measured on both sinks with the same settings
(schemas on, the JsonConverter default: each event carries its ~3 KB schema,
then schemas.enable=false), consumed in the order file, kafka, kafka, file so
that neither sink always goes first; every run starts from the same warm WAL
cache (bench_pg.settle). Prints events/s, sluice's peak RSS and CPU seconds
per sink, the ratio kafka/file (goal >= 0.8) and the broker's CPU seconds
during each Kafka run. Sizes: BENCH_INSERTS / BENCH_UPDATES; extra sluice keys
(both sinks): BENCH_SLUICE_CONFIG (JSON); only one setting: BENCH_SCHEMAS=on
or off.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pg  # noqa: E402  (also puts tests/it on sys.path and reads .run/env through conftest)
from bench_pg import INSERTS, ROOT, SLUICE, UPDATES, proc_stats, q, run_until, settle  # noqa: E402
from conftest import pg_params  # noqa: E402

from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

BOOTSTRAP = os.environ.get("SLUICE_KAFKA_BOOTSTRAP", "")
# Own slot names: bench_pg.setup()/drop_slots() use its module-level SLOTS, replaced below.
SLOTS = ("bench_kf_file_1", "bench_kf_kafka_1", "bench_kf_kafka_2", "bench_kf_file_2")
BARE = {"key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false"}
SETTINGS = {"on": ("schemas.enable=true (default)", {}), "off": ("schemas.enable=false", BARE)}


def base_config(workdir, slot, prefix, extra):
    """bench_pg.run_sluice's configuration, with this run's topic.prefix (the same length for every
    run, file or Kafka: with schemas it is repeated in every event)."""
    p = pg_params()
    return {"name": "bench", "config": {
        "connector.class": "postgres", "database.hostname": p["host"], "database.port": str(p["port"]),
        "database.user": p["user"], "database.password": p["password"], "database.dbname": p["dbname"],
        "topic.prefix": prefix, "slot.name": slot, "publication.name": "bench_pub",
        "publication.autocreate.mode": "disabled", "snapshot.mode": "no_data",
        "offset.storage.file.filename": str(workdir / "offsets.db"),
        **extra, **json.loads(os.environ.get("BENCH_SLUICE_CONFIG", "{}"))}}


def run_file(workdir, expected, slot, prefix, extra):
    """sluice -> file, ended by bench_pg's shared loop: (seconds, peak RSS, CPU seconds, bytes)."""
    out = workdir / "events.jsonl"
    cfg = base_config(workdir, slot, prefix, {"sink.type": "file", "sink.file.path": str(out), **extra})
    (workdir / "bench.json").write_text(json.dumps(cfg))
    return run_until(workdir, out, expected)


def acked(consumer, topic, parts):
    """Records of `topic` the broker has acknowledged: the sum of its partitions' high watermarks
    (0 while sluice has not created it yet). `parts` caches the partition list."""
    if not parts:
        md = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None or not md.partitions:
            return 0
        parts.extend(TopicPartition(topic, p) for p in sorted(md.partitions))
    return sum(consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in parts)


def run_kafka(workdir, expected, slot, prefix, extra, broker_pid):
    """sluice -> Kafka until the broker has acknowledged `expected` records on the run's topic:
    (seconds, peak RSS, CPU seconds, broker CPU seconds). The same loop as bench_pg.run_until,
    counting high watermarks instead of lines."""
    topic = f"{prefix}.public.bench_orders"
    cfg = base_config(workdir, slot, prefix, {"sink.type": "kafka", "bootstrap.servers": BOOTSTRAP, **extra})
    (workdir / "bench.json").write_text(json.dumps(cfg))
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "bench-kafka-" + prefix,
                         "enable.auto.commit": False, "allow.auto.create.topics": False})
    parts = []
    acked(consumer, topic, parts)  # connects before the clock starts
    log = open(workdir / "sluice.log", "wb")
    b0 = cpu_of(broker_pid)
    t0 = time.time()
    proc = subprocess.Popen([SLUICE, "run", str(workdir / "bench.json")], stderr=log)
    seen = rss = cpu = 0
    try:
        while seen < expected:
            time.sleep(0.05)
            if proc.poll() is not None:
                sys.exit(f"sluice exited early: {(workdir / 'sluice.log').read_text()[-2000:]}")
            try:
                seen = acked(consumer, topic, parts)
            except KafkaException as e:
                print(f"  (watermark query failed, retrying: {e})", file=sys.stderr)
            rss, cpu = proc_stats(proc.pid)
        elapsed = time.time() - t0
        broker_cpu = cpu_of(broker_pid) - b0
        rss, cpu = proc_stats(proc.pid)
        if seen != expected:
            sys.exit(f"topic {topic} holds {seen} records, {expected} expected")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)
        consumer.close()
    return elapsed, rss, cpu, broker_cpu


def broker_pid():
    """The broker's pid from `scripts/services.sh status kafka` (None: unknown)."""
    out = subprocess.run([str(ROOT / "scripts" / "services.sh"), "status", "kafka"], capture_output=True,
                         text=True).stdout
    if "(pid " in out:
        return int(out.split("(pid ", 1)[1].split(")", 1)[0])
    return None


def cpu_of(pid):
    try:
        return proc_stats(pid)[1] if pid else float("nan")
    except OSError:
        return float("nan")


def delete_topics(admin, prefix):
    names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(prefix + ".")]
    if names:
        for f in admin.delete_topics(names, operation_timeout=60).values():
            f.result(60)
    return names


def main():
    if not BOOTSTRAP:
        sys.exit("SLUICE_KAFKA_BOOTSTRAP is not set: run scripts/services.sh start kafka")
    which = os.environ.get("BENCH_SCHEMAS", "")
    settings = [SETTINGS[which]] if which else list(SETTINGS.values())
    free = shutil.disk_usage(ROOT / ".run").free
    print(f"free disk on {ROOT / '.run'}: {free / 1e9:.1f} GB")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    bpid = broker_pid()
    bench_pg.SLOTS = SLOTS
    conn = psycopg2.connect(**pg_params())
    conn.autocommit = True
    events = INSERTS + UPDATES
    results = []
    try:
        bench_pg.setup(conn)
        bench_pg.workload(conn)
        # file, kafka | kafka, file: neither sink always runs first.
        plan = []
        for i, (label, extra) in enumerate(settings):
            order = ("file", "kafka") if i % 2 == 0 else ("kafka", "file")
            plan += [(label, extra, sink, SLOTS[2 * i + j]) for j, sink in enumerate(order)]
        for label, extra, sink, slot in plan:
            prefix = "bk" + uuid.uuid4().hex[:10]
            with tempfile.TemporaryDirectory(dir=ROOT / ".run") as d:
                settle()
                if sink == "file":
                    t, rss, cpu, size = run_file(Path(d), events, slot, prefix, extra)
                    results.append((label, sink, t, rss, cpu, size))
                else:
                    try:
                        t, rss, cpu, bcpu = run_kafka(Path(d), events, slot, prefix, extra, bpid)
                    finally:
                        delete_topics(admin, prefix)
                    results.append((label, sink, t, rss, cpu, bcpu))
            print(f"  {label}: sluice -> {sink} done in {t:.2f}s", flush=True)
    finally:
        bench_pg.drop_slots(conn)
        q(conn, "DROP TABLE IF EXISTS bench_orders; DROP PUBLICATION IF EXISTS bench_pub")
    for label, _ in settings:
        (_, _, t_f, rss_f, cpu_f, size), = [r for r in results if r[0] == label and r[1] == "file"]
        (_, _, t_k, rss_k, cpu_k, bcpu), = [r for r in results if r[0] == label and r[1] == "kafka"]
        r_f, r_k = events / t_f, events / t_k
        print(f"\n[{label}]")
        print(f"sluice -> file:  {events} events in {t_f:.2f}s = {r_f:,.0f} events/s "
              f"({size / 1e6:.0f} MB of Debezium JSON, fsynced); peak RSS {rss_f / 1048576:.1f} MiB, "
              f"CPU {cpu_f:.1f}s ({cpu_f / events * 1e6:.2f} us/event)")
        print(f"sluice -> kafka: {events} events in {t_k:.2f}s = {r_k:,.0f} events/s "
              f"(acknowledged: lz4, idempotent, acks=all); peak RSS {rss_k / 1048576:.1f} MiB, "
              f"CPU {cpu_k:.1f}s ({cpu_k / events * 1e6:.2f} us/event); broker CPU {bcpu:.1f}s")
        print(f"ratio kafka/file: {r_k / r_f:.2f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
