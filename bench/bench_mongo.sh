#!/usr/bin/env bash
# make bench-mongo: (a) change stream throughput and (b) MongoDB sink throughput (PostgreSQL -> MongoDB
# and Kafka -> MongoDB), sluice against a bare libmongoc loop each.
#
# Part (a): N documents (default 200000, `bench/bench_mongo.sh N`) are inserted
# into a fresh collection of the test server (scripts/services.sh start mongo:
# mongo-java-server, see scripts/mongo/README.md), then the same N insert events
# are read from the oplog, from an operation time taken before the inserts, by
#   1. bench_mongo_watch (bench/mongo_watch.c): mongoc_change_stream_next in a
#      loop, nothing else: what the server and the driver deliver;
#   2. sluice: this change stream -> mongo-kafka JSON records -> file sink
#      (written and fdatasync'ed), from process start until the file holds N
#      lines, under /usr/bin/time -v for the peak RSS.
# Printed side by side with the ratio. The numbers are those of an in-memory
# Java imitation of MongoDB on this machine, not of a real replica set: its
# oplog is never trimmed and each getMore scans all of it, so both readers slow
# down as the server's oplog grows (other tests' writes included); compare the
# two lines of one run, and restart the server (scripts/services.sh restart
# mongo, when nobody else uses it) for absolute numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
BUILD=${BUILD:-build}
SLUICE=${SLUICE_BIN:-$BUILD/sluice}
WATCH=${BENCH_MONGO_WATCH:-$BUILD/bench_mongo_watch}
for b in "$SLUICE" "$WATCH"; do
  [ -x "$b" ] || { echo "bench-mongo: $b is missing (make build)" >&2; exit 1; }
done
scripts/services.sh start mongo >/dev/null
. .run/env
export N SLUICE WATCH
python3 - <<'PY'
import json, os, re, signal, subprocess, tempfile, time, uuid
from pymongo import MongoClient

n, sluice, watch = int(os.environ["N"]), os.environ["SLUICE"], os.environ["WATCH"]
uri = os.environ["SLUICE_MONGO_URI"]
db_name, coll_name = "bench_" + uuid.uuid4().hex[:8], "events"
client = MongoClient(uri)
coll = client[db_name][coll_name]
try:
    start = int(time.time()) - 1  # operation time before every insert (the server's clock is this machine's)
    time.sleep(1.1)
    t0 = time.time()
    batch = 5000
    for i in range(0, n, batch):
        coll.insert_many([{"_id": j, "name": f"user-{j}", "n": j, "tags": ["a", "b"], "score": j / 7}
                          for j in range(i, min(n, i + batch))], ordered=True)
    print(f"inserted {n} documents in {time.time() - t0:.1f} s")

    r = subprocess.run([watch, uri, db_name, coll_name, str(start), str(n), "1000"], capture_output=True,
                       text=True, timeout=3600)
    if r.returncode:
        raise SystemExit(f"bench_mongo_watch failed: {r.stderr}")
    bare = json.loads(r.stdout)

    d = tempfile.mkdtemp(prefix="bench-mongo-")
    out = os.path.join(d, "events.jsonl")
    cfg = os.path.join(d, "c.json")
    with open(cfg, "w") as f:
        json.dump({"name": "bench-mongo", "config": {
            "connector.class": "com.mongodb.kafka.connect.MongoSourceConnector", "connection.uri": uri,
            "database": db_name, "collection": coll_name, "startup.mode": "timestamp",
            "startup.mode.timestamp.start.at.operation.time": str(start), "poll.max.batch.size": "1000",
            "sink.type": "file", "sink.file.path": out,
            "offset.storage.file.filename": os.path.join(d, "offsets.db"), "log.level": "warn"}}, f)
    tlog = os.path.join(d, "time.txt")
    t0 = time.time()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tlog, sluice, "run", cfg], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, "sluice.log"), "wb"))
    lines, last_change, seen, pos = 0, time.time(), 0, 0
    while lines < n:
        if p.poll() is not None:
            raise SystemExit(f"sluice exited ({p.returncode}); see {d}/sluice.log")
        if os.path.exists(out):
            with open(out, "rb") as f:  # count only what was appended since the last look
                f.seek(pos)
                chunk = f.read()
                pos += len(chunk)
                lines += chunk.count(b"\n")
        if lines != seen:
            seen, last_change = lines, time.time()
        elif time.time() - last_change > 60:
            raise SystemExit(f"sluice stalled at {lines} of {n} events; see {d}")
        time.sleep(0.05)
    secs = time.time() - t0
    # SIGTERM to sluice itself (GNU time would die of it without writing its report).
    with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
        for child in f.read().split():
            os.kill(int(child), signal.SIGTERM)
    p.wait(60)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(tlog).read())
    rss_mb = int(rss.group(1)) / 1024 if rss else float("nan")
    bare_rate = bare["events"] / bare["seconds"]
    sl_rate = n / secs
    print(f"{'':28}{'events':>10}{'seconds':>10}{'events/s':>12}")
    print(f"{'bare libmongoc watch loop':28}{bare['events']:>10}{bare['seconds']:>10.2f}{bare_rate:>12.0f}")
    print(f"{'sluice -> file sink':28}{n:>10}{secs:>10.2f}{sl_rate:>12.0f}")
    print(f"ratio sluice / bare: {sl_rate / bare_rate:.2f}   sluice peak RSS: {rss_mb:.1f} MB")
finally:
    client.drop_database(db_name)
    client.close()
PY
# Part (b): PostgreSQL -> MongoDB and Kafka -> MongoDB (MongoSinkConnector) against a bare libmongoc
# bulk loop, with each sluice's peak RSS (bench/bench_mongo_sink.py).
scripts/services.sh start pg kafka >/dev/null
python3 bench/bench_mongo_sink.py
