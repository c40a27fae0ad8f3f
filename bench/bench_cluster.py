#!/usr/bin/env python3
"""bench-cluster: a Kafka -> MongoDB connector with tasks.max=6 on 1, 2 and 3 distributed workers.

A fresh 6-partition topic gets BENCH_DOCS schemaless JSON records (default 200,000; {"_id", "name", "n",
"score", "tags"}). For each group size k (1, 2, 3), k `sluice serve` workers join a fresh group (their own
config, status, offsets and task slots topics); once the group has shared its slots, the connector is
created through the first worker's REST API (ProvidedInValueStrategy: replaceOne upserts by _id) into a
fresh collection, and timed from the request until the collection holds every document (total, with the
tasks' start and their consumer group's rebalances) and from the first document on (steady). The six tasks
are six members of one consumer group, each on the worker that holds its task slot (a hash of
<name>-<task>: three workers may get them unevenly), so the partitions are shared by the workers. A
reference line runs the same connector with tasks.max=1 on one worker. The test server keeps every document
and its whole oplog in its heap, slows down as they grow and runs out of memory after a few million: each run
starts on a freshly restarted server. Every worker runs on this machine (2 cores here) and writes to the same test server
(mongo-java-server, an in-memory imitation of MongoDB: absolute numbers say little), so the figures show
what the work's spread costs or gains here, not what separate machines would give. Each size runs
BENCH_ROUNDS times (default 3); the median is printed with its ratio to one worker, and each worker's peak
RSS (VmHWM).
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pymongo import MongoClient

N = int(os.environ.get("BENCH_DOCS", 200_000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
SLUICE = os.path.abspath(os.environ["SLUICE_BIN"])
BOOTSTRAP = os.environ["SLUICE_KAFKA_BOOTSTRAP"]
URI = os.environ["SLUICE_MONGO_URI"]
SLOTS = 12


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def wait(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise SystemExit(f"bench-cluster: timed out waiting for {what}")


def rss_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def fill(topic):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(60)
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 20, "enable.idempotence": True})
    for i in range(N):
        p.produce(topic, key=json.dumps({"_id": i}), partition=i % 6,
                  value=json.dumps({"_id": i, "name": f"user-{i}", "n": i, "score": i / 7, "tags": ["a", "b"]}))
        if i % 10000 == 0:
            p.poll(0)
    assert p.flush(120) == 0


def restart_mongo():
    root = Path(__file__).resolve().parent.parent
    for what in ("stop", "start"):
        subprocess.run([str(root / "scripts" / "services.sh"), what, "mongo"], check=True, capture_output=True,
                       timeout=300)


def run(k, topic, db_name, d, tasks=6):
    """k workers; returns (seconds in all, seconds from the first document, [peak RSS MB of each], workers that
    ran tasks)."""
    restart_mongo()
    tag = uuid.uuid4().hex[:8]
    conf = {"config.storage": "kafka", "config.storage.topic": f"bc-{tag}-configs", "bootstrap.servers": BOOTSTRAP,
            "group.id": f"bc-{tag}", "task.slots.topic": f"bc-{tag}-slots", "task.slots": str(SLOTS),
            "status.storage.topic": f"bc-{tag}-status", "offset.storage.topic": f"bc-{tag}-offsets",
            "session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "log.level": "warn"}
    procs, ports = [], []
    try:
        for w in range(k):
            port = free_port()
            wd = d / f"{tag}-{w}"
            wd.mkdir()
            (wd / "worker.json").write_text(json.dumps(dict(conf, listeners=f"http://127.0.0.1:{port}")))
            procs.append(subprocess.Popen([SLUICE, "serve", "--config", str(wd / "worker.json")], cwd=wd,
                                          stdout=open(wd / "serve.log", "wb"), stderr=subprocess.STDOUT))
            ports.append(port)

        def shared():
            try:
                owned = [http(p, "GET", "/")["task_slots"]["owned"] for p in ports]
            except OSError:
                return False
            return all(owned) and sum(map(len, owned)) == SLOTS and len(set().union(*map(set, owned))) == SLOTS
        wait(shared, 60, f"{k} workers sharing the slots")
        time.sleep(1)  # (a last cooperative round settles)
        mc = MongoClient(URI)
        coll = mc[db_name][f"c{tag}"]
        cfg = {"connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "tasks.max": str(tasks),
               "topics": topic, "connection.uri": URI, "database": db_name, "collection": f"c{tag}",
               "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
               "document.id.strategy":
               "com.mongodb.kafka.connect.sink.processor.id.strategy.ProvidedInValueStrategy",
               "consumer.override.auto.offset.reset": "earliest"}
        t0 = time.time()
        http(ports[0], "POST", "/connectors", {"name": f"bc-{tag}", "config": cfg})
        first = []

        def done():
            c = coll.estimated_document_count()
            if c and not first:
                first.append(time.time())
            return c >= N
        wait(done, 1200, f"{N} documents")
        t1 = time.time()
        assert coll.count_documents({}) == N
        runners = {t["worker_id"] for t in http(ports[0], "GET", f"/connectors/bc-{tag}/status")["tasks"]}
        coll.drop()
        mc.close()
        return t1 - t0, t1 - first[0], [rss_mb(p.pid) for p in procs], len(runners)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)


def main():
    topic = "bc-src-" + uuid.uuid4().hex[:8]
    db_name = "bench_" + uuid.uuid4().hex[:8]
    d = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        fill(topic)
        print(f"{N} records in the 6 partitions of {topic}; {ROUNDS} rounds")
        cases = [("1 worker, tasks.max=1", 1, 1), ("1 worker, tasks.max=6", 1, 6), ("2 workers, tasks.max=6", 2, 6),
                 ("3 workers, tasks.max=6", 3, 6)]
        res = {c[0]: [] for c in cases}
        for r in range(ROUNDS):
            for label, k, tasks in cases:
                total, steady, rss, runners = run(k, topic, db_name, d, tasks)
                res[label].append((total, steady, rss))
                print(f"  round {r + 1}: {label}: {N / total:,.0f} docs/s in all ({total:.2f} s), {N / steady:,.0f} "
                      f"from the first document, tasks on {runners} worker(s), peak RSS "
                      f"{', '.join(f'{m:.1f}' for m in rss)} MB", flush=True)
        base = N / statistics.median(t for t, _, _ in res[cases[1][0]])
        print(f"{'':24}{'docs/s in all':>15}{'steady':>10}{'ratio to 1 worker':>19}{'peak RSS MB (max)':>19}")
        for label, _, _ in cases:
            rate = N / statistics.median(t for t, _, _ in res[label])
            steady = N / statistics.median(s for _, s, _ in res[label])
            print(f"{label:24}{rate:>15,.0f}{steady:>10,.0f}{rate / base:>19.2f}"
                  f"{max(max(x) for _, _, x in res[label]):>19.1f}")
        print("(ratio: docs/s in all over 1 worker with tasks.max=6's)")
    finally:
        MongoClient(URI).drop_database(db_name)
        AdminClient({"bootstrap.servers": BOOTSTRAP}).delete_topics([topic])


if __name__ == "__main__":
    sys.exit(main())
