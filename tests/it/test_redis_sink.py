"""The Redis sink (sink.type=redis) against the real Redis from Debian: each strategy (update as JSON and as
a hash, ttl, invalidate with its guard, stream in Debezium Server's formats) from PostgreSQL, MariaDB and
MongoDB (mongo-java-server, through the C driver), a Kafka topic with a pasted Redis Kafka Connect sink
config, replays that never move a key backwards (20 kill -9 under random writes, every value Redis was
given recorded with MONITOR), offsets kept in Redis, Redis restarted mid-stream, the memory threshold,
and configs that must be refused."""
import json
import os
import random
import re
import subprocess
import threading
import time
import uuid

import pytest
import redis as redislib

from conftest import (ROOT, MySluice, kafka_consume_all, kafka_produce, my_make_table, mysql, run_cli, sql, wait_log, wait_streaming,
                      wait_until)


def rport():
    return int(os.environ["SLUICE_REDIS_PORT"])


@pytest.fixture
def rds():
    r = redislib.Redis(host="127.0.0.1", port=rport(), decode_responses=True)
    made = []
    yield r, made
    for pattern in made:
        for k in r.scan_iter(match=pattern, count=1000):
            r.delete(k)
    r.close()


def as_redis(s, rds, **extra):
    """Turns a Sluice (file sink) config into one that writes to Redis; the test's keys go afterwards."""
    s.config.pop("sink.file.path", None)
    s.config.update({"sink.type": "redis", "redis.address": f"127.0.0.1:{rport()}"})
    s.config.update(extra)
    s.write_config()
    rds[1].append(f"__sluice:{s.name}:*")
    return s


def keys_of(r, prefix):
    return sorted(k for k in r.scan_iter(match=prefix + "*", count=1000))


def table_name(tag):
    return f"rd_{tag}_{uuid.uuid4().hex[:6]}"


def test_update_json_from_postgres(tables, sluice, pg, rds):
    r, made = rds
    t = tables(table_name("upd"), "id int PRIMARY KEY, name text, price numeric(10,2), tags text[], v int")
    made.append(f"{t}:*")
    sql(pg, f"INSERT INTO {t} VALUES (1, 'apple', 1.50, ARRAY['a','b'], 1), (2, 'pear', 2.00, NULL, 1)")
    s = as_redis(sluice(**{"table.include.list": f"public.{t}", "decimal.handling.mode": "string"}), rds)
    s.start()
    wait_until(lambda: r.get(f"{t}:2") is not None, what="the snapshot's rows in Redis")
    sql(pg, f"INSERT INTO {t} VALUES (3, 'plum', 0.99, ARRAY['x'], 1)")
    sql(pg, f"UPDATE {t} SET name = 'green apple', v = 2 WHERE id = 1")
    sql(pg, f"DELETE FROM {t} WHERE id = 2")
    wait_until(lambda: r.get(f"{t}:2") is None and r.get(f"{t}:3") is not None
               and json.loads(r.get(f"{t}:1"))["v"] == 2, what="the changes in Redis")
    assert json.loads(r.get(f"{t}:1")) == {"id": 1, "name": "green apple", "price": "1.50", "tags": ["a", "b"], "v": 2}
    assert json.loads(r.get(f"{t}:3")) == {"id": 3, "name": "plum", "price": "0.99", "tags": ["x"], "v": 1}
    assert keys_of(r, f"{t}:") == [f"{t}:1", f"{t}:3"]
    assert r.ttl(f"{t}:1") == -1  # redis.ttl.seconds=0: no expiry
    # a snapshot row leaves its position beside its key (for redis.position.ttl.seconds); the stream's changes
    # raise the connector's mark, which is above it
    pos = f"__sluice:{s.name}:pos:{t}:"
    assert r.get(pos + "1").startswith("P") and 0 < r.ttl(pos + "1") <= 86400
    assert r.get(pos + "3") is None
    assert r.hget(f"__sluice:{s.name}:hwm", "") > r.get(pos + "1")
    s.stop()


def test_hash_composite_key_and_per_table_rules(tables, sluice, pg, rds):
    r, made = rds
    a = tables(table_name("ha"), "region text, id int, name text, note text, PRIMARY KEY (region, id)")
    b = tables(table_name("hb"), "id int PRIMARY KEY, name text")
    made += [f"{a}:*", f"{b}:*", f"__sluice:guard:{b}:*"]
    sql(pg, f"INSERT INTO {a} VALUES ('eu', 7, 'seven', NULL)")
    sql(pg, f"INSERT INTO {b} VALUES (1, 'one')")
    s = as_redis(sluice(**{"table.include.list": f"public.{a},public.{b}"}), rds, **{
        "redis.value.format": "hash", "redis.key.separator": "/", "redis.ttl.seconds": "1000",
        f"redis.strategy.public.{b}": "invalidate", f"redis.ttl.seconds.public.{a}": "50"})
    s.start()
    wait_until(lambda: r.exists(f"{a}:eu/7"), what="the composite key's hash")
    assert r.hgetall(f"{a}:eu/7") == {"region": "eu", "id": "7", "name": "seven"}  # NULL column left out
    assert 0 < r.ttl(f"{a}:eu/7") <= 50  # the table's own TTL wins over redis.ttl.seconds
    # b is invalidated: its snapshot row deleted nothing, and a cached value goes on the next change
    wait_streaming(s)
    r.set(f"{b}:1", "cached by the app")
    sql(pg, f"UPDATE {b} SET name = 'uno' WHERE id = 1")
    wait_until(lambda: not r.exists(f"{b}:1"), what="the invalidated key")
    assert r.exists(f"__sluice:guard:{b}:1")
    s.stop()


def test_ttl_strategy_keeps_remaining_ttl(tables, sluice, pg, rds):
    r, made = rds
    t = tables(table_name("ttl"), "id int PRIMARY KEY, s text")
    made.append(f"{t}:*")
    s = as_redis(sluice(**{"table.include.list": f"public.{t}"}), rds,
                 **{"redis.strategy": "ttl", "redis.ttl.seconds": "1000"})
    s.start()
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (1, 'session-a'), (2, 'session-b')")
    wait_until(lambda: r.exists(f"{t}:2"), what="the inserted sessions")
    assert 990 < r.ttl(f"{t}:1") <= 1000  # an insert sets the base TTL
    r.pexpire(f"{t}:1", 30000)  # as if 970 s had passed
    sql(pg, f"UPDATE {t} SET s = 'session-a2' WHERE id = 1")
    wait_until(lambda: json.loads(r.get(f"{t}:1") or "{}").get("s") == "session-a2", what="the update")
    assert 0 < r.pttl(f"{t}:1") <= 30000  # the update kept what was left
    r.delete(f"{t}:2")  # expired meanwhile: an update writes it again with the base TTL
    sql(pg, f"UPDATE {t} SET s = 'session-b2' WHERE id = 2")
    wait_until(lambda: r.exists(f"{t}:2"), what="the expired key written again")
    assert 990 < r.ttl(f"{t}:2") <= 1000
    sql(pg, f"DELETE FROM {t} WHERE id = 1")
    wait_until(lambda: not r.exists(f"{t}:1"), what="the delete")
    s.stop()


# The fill rule of docs/connectors/redis.md: fill only when no guard is set.
FILL = ("if redis.call('EXISTS', KEYS[2]) == 0 then return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
        "end return false")


def test_invalidate_guard_refuses_a_stale_fill(tables, sluice, pg, rds):
    r, made = rds
    t = tables(table_name("inv"), "id int PRIMARY KEY, price int")
    made += [f"{t}:*", f"__sluice:guard:{t}:*"]
    sql(pg, f"INSERT INTO {t} VALUES (1, 100)")
    s = as_redis(sluice(**{"table.include.list": f"public.{t}"}), rds,
                 **{"redis.strategy": "invalidate", "redis.invalidate.guard.ms": "1500"})
    s.start()
    wait_streaming(s)
    fill = r.register_script(FILL)
    # an app reads the row (price 100), then the price changes, then the app fills its cache: too late
    stale = json.dumps({"id": 1, "price": sql(pg, f"SELECT price FROM {t} WHERE id = 1")[0][0]})
    sql(pg, f"UPDATE {t} SET price = 120 WHERE id = 1")
    wait_until(lambda: r.exists(f"__sluice:guard:{t}:1"), what="the guard")
    assert fill(keys=[f"{t}:1", f"__sluice:guard:{t}:1"], args=[stale, 60000]) is None
    assert r.get(f"{t}:1") is None
    # a fill without the rule lands the stale value, and the next change removes it
    r.set(f"{t}:1", stale)
    sql(pg, f"UPDATE {t} SET price = 130 WHERE id = 1")
    wait_until(lambda: r.get(f"{t}:1") is None, what="the stale value invalidated")
    # once the guard has expired a fill of the current row goes in
    wait_until(lambda: not r.exists(f"__sluice:guard:{t}:1"), timeout=10, what="the guard's expiry")
    fresh = json.dumps({"id": 1, "price": 130})
    assert fill(keys=[f"{t}:1", f"__sluice:guard:{t}:1"], args=[fresh, 60000]) == "OK"
    s.stop()


@pytest.mark.parametrize("fmt", ["compact", "extended"])
def test_stream_in_debezium_server_format(tables, sluice, pg, rds, fmt):
    r, made = rds
    t = tables(table_name("st"), "id int PRIMARY KEY, name text")
    s = sluice(**{"table.include.list": f"public.{t}"})
    stream = f"it.public.{t}"
    made.append(stream)
    as_redis(s, rds, **{"redis.strategy": "stream", "redis.message.format": fmt, "key.converter.schemas.enable":
                        "false", "value.converter.schemas.enable": "false"})
    s.start()
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (1, 'a')")
    sql(pg, f"UPDATE {t} SET name = 'b' WHERE id = 1")
    sql(pg, f"DELETE FROM {t} WHERE id = 1")
    wait_until(lambda: r.xlen(stream) == 4, what="4 entries (c, u, d, tombstone)")
    entries = [f for _, f in r.xrange(stream)]
    if fmt == "compact":
        assert all(len(f) == 1 for f in entries)
        pairs = [next(iter(f.items())) for f in entries]
    else:
        assert all(set(f) == {"key", "value"} for f in entries)
        pairs = [(f["key"], f["value"]) for f in entries]
    assert [json.loads(k) for k, _ in pairs] == [{"id": 1}] * 4
    ops = [json.loads(v)["op"] for v, in [(v,) for _, v in pairs[:3]]]
    assert ops == ["c", "u", "d"]
    assert json.loads(pairs[1][1])["after"] == {"id": 1, "name": "b"}
    assert pairs[3][1] == "default"  # the tombstone: redis.null.value
    s.stop()


def test_from_mariadb(my, mysluice, rds):
    r, made = rds
    t = my_make_table(my, table_name("my"), "id INT PRIMARY KEY, name VARCHAR(20), qty INT")
    made.append(f"{t}:*")
    mysql(my, f"INSERT INTO `{t}` VALUES (1, 'bolt', 5), (2, 'nut', 9)")
    s = mysluice(**{"table.include.list": f"{os.environ.get('SLUICE_MARIADB_DB', 'sluice')}.{t}"})
    as_redis(s, rds, **{"redis.value.format": "hash"})
    s.start()
    wait_until(lambda: r.exists(f"{t}:2"), what="the MariaDB snapshot in Redis")
    mysql(my, f"UPDATE `{t}` SET qty = 6 WHERE id = 1")
    mysql(my, f"DELETE FROM `{t}` WHERE id = 2")
    mysql(my, f"INSERT INTO `{t}` VALUES (3, 'washer', 100)")
    wait_until(lambda: r.hget(f"{t}:1", "qty") == "6" and not r.exists(f"{t}:2") and r.exists(f"{t}:3"),
               what="the MariaDB changes in Redis")
    assert r.hgetall(f"{t}:3") == {"id": "3", "name": "washer", "qty": "100"}
    s.stop()


def test_from_mongodb(tmp_path, mongo, rds):
    r, made = rds
    coll = mongo.collection("users")
    coll.insert_one({"_id": "u1", "name": "ann", "n": 1})
    name = "rd-mongo-" + uuid.uuid4().hex[:6]
    cfg = {"name": name, "config": {
        "connector.class": "com.mongodb.kafka.connect.MongoSourceConnector",
        "connection.uri": os.environ["SLUICE_MONGO_RS_URI"], "database": mongo.db_name, "collection": "users",
        "startup.mode": "copy_existing", "change.stream.full.document": "updateLookup",
        "sink.type": "redis", "redis.address": f"127.0.0.1:{rport()}", "redis.key.format": "${collection}:${key}",
        "offset.storage.file.filename": str(tmp_path / "offsets.db")}}
    made += ["users:*", f"__sluice:{name}:*"]
    path = tmp_path / "mongo.json"
    path.write_text(json.dumps(cfg))
    log = open(tmp_path / "sluice.log", "ab")
    p = subprocess.Popen([os.environ.get("SLUICE_BIN", str(ROOT / "build" / "sluice")), "run", str(path)],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: r.exists("users:u1"), what="the copied document")
        assert json.loads(r.get("users:u1")) == {"_id": "u1", "name": "ann", "n": 1}
        time.sleep(1)
        coll.insert_one({"_id": "u2", "name": "bob", "n": 1})
        coll.update_one({"_id": "u1"}, {"$set": {"n": 2}})
        coll.delete_one({"_id": "u2"})
        coll.insert_one({"_id": "u3", "name": "cy", "n": 3})
        wait_until(lambda: r.exists("users:u3") and json.loads(r.get("users:u1"))["n"] == 2
                   and not r.exists("users:u2"), what="the change events in Redis")
        mark = r.hget(f"__sluice:{name}:hwm", "")
        assert mark and mark.startswith("T")  # the resume token orders MongoDB's changes
    finally:
        p.terminate()
        p.wait(30)
        log.close()


def test_pasted_redis_kafka_connect_sink(tmp_path, kafka, rds):
    """A Kafka topic into Redis with the Redis Kafka Connect sink's config as its docs give it."""
    r, made = rds
    topic = kafka.topic("users")
    kafka.create_topic(topic)
    for i in range(1, 4):
        kafka_produce(topic, json.dumps(f"u{i}"), json.dumps({"name": f"user {i}", "n": i}))
    kafka_produce(topic, json.dumps("u2"), None)  # a tombstone deletes
    name = "rd-kc-" + uuid.uuid4().hex[:6]
    made += [f"{topic}:*", f"__sluice:{name}:*"]
    cfg = {"name": name, "config": {
        "connector.class": "com.redis.kafka.connect.RedisSinkConnector", "tasks.max": "1", "topics": topic,
        "redis.uri": f"redis://127.0.0.1:{rport()}", "redis.command": "HSET",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter", "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP"],
        "offset.storage": "target"}}
    path = tmp_path / "kc.json"
    path.write_text(json.dumps(cfg))
    log = open(tmp_path / "sluice.log", "ab")
    p = subprocess.Popen([os.environ.get("SLUICE_BIN", str(ROOT / "build" / "sluice")), "run", str(path)],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: r.exists(f"{topic}:u3") and not r.exists(f"{topic}:u2"), what="the topic in Redis")
        assert r.hgetall(f"{topic}:u1") == {"name": "user 1", "n": "1"}
        # offset.storage=target: the consumer position is kept in Redis with the writes
        wait_until(lambda: any(name in f for f in r.hkeys("__sluice:offsets")), what="the offset in Redis")
        field = next(f for f in r.hkeys("__sluice:offsets") if name in f)
        assert json.loads(r.hget("__sluice:offsets", field)) == {f"{topic}/0": 4}  # the next offset
    finally:
        p.terminate()
        p.wait(30)
        log.close()
        r.hdel("__sluice:offsets", *[f for f in r.hkeys("__sluice:offsets") if name in f] or ["-"])


class Monitor:
    """Every command Redis runs, as redis-cli monitor prints them, into a file."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "wb")
        self.p = subprocess.Popen(["redis-cli", "-h", "127.0.0.1", "-p", str(rport()), "monitor"], stdout=self.f)

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        self.f.close()

    def writes(self, prefix):
        """(key, value) of every SET / MSET of a key starting with prefix, in order."""
        arg = re.compile(r'"((?:[^"\\]|\\.)*)"')
        out = []
        for line in self.path.read_bytes().decode("utf-8", "replace").splitlines():
            args = [a.encode("latin-1", "backslashreplace").decode("unicode_escape") for a in arg.findall(line)]
            if not args:
                continue
            cmd = args[0].upper()
            if cmd == "SET" and len(args) >= 3:
                pairs = [(args[1], args[2])]
            elif cmd == "MSET":
                pairs = list(zip(args[1::2], args[2::2]))
            else:
                continue
            out += [(k, v) for k, v in pairs if k.startswith(prefix)]
        return out


@pytest.mark.parametrize("storage", ["target", "sqlite"])
def test_replay_never_goes_backwards(tables, sluice, pg, rds, tmp_path, storage):
    """20 kill -9 under random writes, with offsets in Redis beside the data (offset.storage=target: nothing is
    replayed that Redis holds) or in the SQLite store (a restart replays what Redis already has, and the
    positions turn it away): afterwards Redis holds exactly the table, and no key was ever given a version
    older than one it had held (every SET / MSET Redis ran, from MONITOR)."""
    r, made = rds
    t = tables(table_name("crash"), "id int PRIMARY KEY, v int NOT NULL")
    made.append(f"{t}:*")
    sql(pg, f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 200) g")
    s = as_redis(sluice(**{"table.include.list": f"public.{t}"}), rds, **{"offset.storage": storage})
    mon = Monitor(tmp_path / "monitor.txt")
    rnd = random.Random(18)
    stop = threading.Event()
    version = {}

    def writer():
        import psycopg2
        from conftest import pg_params
        c = psycopg2.connect(**pg_params())
        c.autocommit = True
        cur = c.cursor()
        n = 0
        while not stop.is_set():
            ids = rnd.sample(range(1, 241), 5)
            cur.execute("BEGIN")
            for i in ids:
                op = rnd.random()
                if op < 0.7:
                    cur.execute(f"INSERT INTO {t} VALUES (%s, 1) ON CONFLICT (id) DO UPDATE SET v = {t}.v + 1",
                                (i,))
                else:
                    cur.execute(f"DELETE FROM {t} WHERE id = %s", (i,))
            cur.execute("COMMIT")
            n += 1
            time.sleep(0.005)
        c.close()

    w = threading.Thread(target=writer)
    try:
        s.start()
        wait_streaming(s)
        w.start()
        for _ in range(20):
            time.sleep(rnd.uniform(0.2, 0.6))
            s.kill9()
            s.start()
        stop.set()
        w.join()
        rows = dict(sql(pg, f"SELECT id, v FROM {t}"))

        def converged():
            got = {int(k.split(":")[1]): json.loads(r.get(k) or "null") for k in keys_of(r, f"{t}:")}
            return {k: v["v"] for k, v in got.items() if v} == rows and len(got) == len(rows)
        wait_until(converged, timeout=60, what="Redis equal to the table")
    finally:
        stop.set()
        mon.stop()
        s.stop()
    # monotonic: per key, v never decreases between two writes, except after a delete of the row (a new row
    # starts at 1): the MONITOR log has the deletes too, so a drop is allowed only right after an UNLINK.
    lines = (tmp_path / "monitor.txt").read_bytes().decode("utf-8", "replace").splitlines()
    arg = re.compile(r'"((?:[^"\\]|\\.)*)"')
    last = {}
    checked = 0
    for line in lines:
        args = [a.encode("latin-1", "backslashreplace").decode("unicode_escape") for a in arg.findall(line)]
        if not args:
            continue
        cmd = args[0].upper()
        if cmd == "UNLINK" and len(args) == 2 and args[1].startswith(f"{t}:"):
            last.pop(args[1], None)
            continue
        pairs = [(args[1], args[2])] if cmd == "SET" and len(args) >= 3 else \
            list(zip(args[1::2], args[2::2])) if cmd == "MSET" else []
        for k, v in pairs:
            if not k.startswith(f"{t}:"):
                continue
            cur_v = json.loads(v)["v"]
            assert cur_v >= last.get(k, -1), f"{k} went back from v={last[k]} to v={cur_v}"
            last[k] = cur_v
            checked += 1
    assert checked > 200
    # the offset is in Redis, beside the data (or not at all)
    mine = [f for f in r.hkeys("__sluice:offsets") if s.name in f]
    assert bool(mine) == (storage == "target")
    if mine:
        r.hdel("__sluice:offsets", *mine)


def redis_service(action):
    out = subprocess.run([str(ROOT / "scripts" / "services.sh"), action, "redis"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 or action == "status", out.stdout + out.stderr
    return out.stdout + out.stderr


def test_redis_restarted_mid_stream(tables, sluice, pg, rds):
    """Redis shut down (saving its data) and started again while rows stream in: the runs in flight and those
    written meanwhile are sent again once it is back, and Redis ends equal to the table."""
    r, made = rds
    t = tables(table_name("rst"), "id int PRIMARY KEY, v int")
    made.append(f"{t}:*")
    s = as_redis(sluice(**{"table.include.list": f"public.{t}"}), rds,
                 **{"redis.retry.initial.delay.ms": "100", "redis.retry.max.delay.ms": "500"})
    s.start()
    wait_streaming(s)
    stop = threading.Event()

    def writer():
        import psycopg2
        from conftest import pg_params
        c = psycopg2.connect(**pg_params())
        c.autocommit = True
        i = 0
        while not stop.is_set():
            i += 1
            c.cursor().execute(f"INSERT INTO {t} SELECT g, 1 FROM generate_series(%s, %s) g", (i * 20 - 19, i * 20))
            c.cursor().execute(f"UPDATE {t} SET v = v + 1 WHERE id = %s", (i * 7,))
            time.sleep(0.01)
        c.close()
    w = threading.Thread(target=writer)
    w.start()
    try:
        wait_until(lambda: len(keys_of(r, f"{t}:")) > 200, what="rows streaming in")
        try:  # a clean shutdown that keeps the data (services.sh stop is SHUTDOWN NOSAVE)
            r.shutdown(save=True)
        except redislib.exceptions.ConnectionError:
            pass
        wait_until(lambda: "down" in redis_service("status"), what="redis down")
        wait_log(s, "retry", timeout=30)
        time.sleep(1)
    finally:
        redis_service("start")
        time.sleep(1)
        stop.set()
        w.join()
    r2 = redislib.Redis(host="127.0.0.1", port=rport(), decode_responses=True)
    rows = dict(sql(pg, f"SELECT id, v FROM {t}"))

    def converged():
        ks = keys_of(r2, f"{t}:")
        return len(ks) == len(rows) and all(json.loads(v)["v"] == rows[int(k.split(":")[1])]
                                            for k, v in zip(ks, r2.mget(ks)))
    wait_until(converged, timeout=60, what="Redis equal to the table after the restart")
    assert s.proc.poll() is None
    s.stop()
    r2.close()


def test_refused_record_goes_to_the_dead_letter_queue(tables, sluice, pg, rds, kafka):
    """A key that holds another type (WRONGTYPE for XADD) is refused by Redis: with errors.tolerance=all the
    record goes to the dead letter queue with the reason, and the records after it are written."""
    r, made = rds
    t = tables(table_name("dlq"), "id int PRIMARY KEY, name text")
    stream = f"it.public.{t}"
    made.append(stream)
    dlq = kafka.topic("dlq")
    s = sluice(**{"table.include.list": f"public.{t}"})
    as_redis(s, rds, **{"redis.strategy": "stream", "errors.tolerance": "all",
                        "errors.deadletterqueue.topic.name": dlq, "errors.deadletterqueue.context.headers.enable":
                        "true", "bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP"]})
    r.set(stream, "not a stream")
    s.start()
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (1, 'a')")
    def in_dlq():
        try:
            return kafka_consume_all(dlq, timeout=5)
        except Exception:  # the topic is made with the first record
            return []
    wait_until(in_dlq, timeout=30, what="the refused record in the DLQ")
    msgs = in_dlq()
    assert len(msgs) == 1
    headers = dict(msgs[0]["headers"])
    assert b"WRONGTYPE" in headers["__connect.errors.exception.message"]
    assert json.loads(msgs[0]["value"])["payload"]["after"] == {"id": 1, "name": "a"}
    r.delete(stream)
    sql(pg, f"INSERT INTO {t} VALUES (2, 'b')")
    wait_until(lambda: r.exists(stream) and r.xlen(stream) == 1, what="the next record written")
    assert s.proc.poll() is None
    s.stop()


def test_memory_threshold_waits_and_resumes(tables, sluice, pg, rds):
    r, made = rds
    t = tables(table_name("mem"), "id int PRIMARY KEY, v int")
    made.append(f"{t}:*")
    s = as_redis(sluice(**{"table.include.list": f"public.{t}"}), rds, **{"redis.memory.threshold.percentage": "50"})
    s.start()
    wait_streaming(s)
    used = int(r.info("memory")["used_memory"])
    r.config_set("maxmemory", str(used + used // 2))  # used is 2/3 of maxmemory: above 50 %
    try:
        sql(pg, f"INSERT INTO {t} VALUES (1, 1)")
        wait_log(s, "waiting until it falls below", timeout=30)
        time.sleep(1.5)
        assert not r.exists(f"{t}:1")
        assert s.proc.poll() is None
    finally:
        r.config_set("maxmemory", "0")
    wait_until(lambda: r.exists(f"{t}:1"), what="the row after the memory was released")
    wait_log(s, "writing on", timeout=10)
    s.stop()


@pytest.mark.parametrize("extra,expect", [
    ({"redis.strategy": "upsert"}, "redis.strategy: 'upsert' is not allowed (allowed: update, invalidate, ttl, stream)"),
    ({"redis.value.format": "xml"}, "redis.value.format"),
    ({"redis.key.format": "${table}:${id}"}, "redis.key.format: unknown placeholder '${id}'"),
    ({"redis.command": "LPUSH"}, "redis.command: 'LPUSH' is not supported"),
    ({"redis.uri": "rediss://127.0.0.1:6380"}, "redis.uri: TLS (rediss://) is not supported"),
    ({"redis.address": "localhost"}, None),
    ({"redis.strategy.public.t": "forever"}, "redis.strategy.public.t: 'forever' is not allowed"),
    ({"redis.ttl.seconds.public.t": "-3"}, "redis.ttl.seconds.public.t: '-3' is not a number of seconds"),
    ({"redis.skip.heartbeat.messages": "false"}, "redis.skip.heartbeat.messages: false is not supported"),
])
def test_bad_config_is_refused(cfg, extra, expect):
    s = cfg()
    s.config.pop("sink.file.path", None)
    s.config.update({"sink.type": "redis", "redis.address": "127.0.0.1:1"})
    s.config.update(extra)
    s.write_config()
    p = run_cli("validate", str(s.cfg_path))
    if expect is None:  # host without a port: 6379
        assert "redis.address" not in p.stdout + p.stderr
        return
    assert p.returncode != 0
    assert expect in p.stdout + p.stderr


def check_strategy(r, strategy, key, gone, stream, guard_prefix="__sluice:guard:"):
    """What each strategy leaves after: insert A and B, update A, delete B (A = key, B = gone)."""
    if strategy == "update":
        wait_until(lambda: r.exists(key) and not r.exists(gone) and "two" in (r.get(key) or ""),
                   what="A updated, B deleted")
        assert r.ttl(key) == -1
    elif strategy == "ttl":
        wait_until(lambda: r.exists(key) and not r.exists(gone) and "two" in (r.get(key) or ""),
                   what="A updated, B deleted")
        assert 0 < r.ttl(key) <= 600
    elif strategy == "invalidate":
        wait_until(lambda: r.exists(guard_prefix + gone), what="B's guard")
        assert not r.exists(key) and not r.exists(gone)
        assert r.exists(guard_prefix + key)
    else:
        wait_until(lambda: r.exists(stream) and r.xlen(stream) >= 4, what="the four events in the stream")


@pytest.mark.parametrize("strategy", ["update", "ttl", "invalidate", "stream"])
def test_each_strategy_from_mariadb(my, mysluice, rds, strategy):
    r, made = rds
    t = my_make_table(my, table_name("mys"), "id INT PRIMARY KEY, name VARCHAR(20)")
    db = os.environ.get("SLUICE_MARIADB_DB", "sluice")
    stream = f"my.{db}.{t}"
    made += [f"{t}:*", f"__sluice:guard:{t}:*", stream]
    s = mysluice(**{"table.include.list": f"{db}.{t}"})
    as_redis(s, rds, **{"redis.strategy": strategy, "redis.ttl.seconds": "600" if strategy == "ttl" else "0"})
    s.start()
    wait_log(s, "streaming binlog", timeout=30)
    mysql(my, f"INSERT INTO `{t}` VALUES (1, 'one'), (2, 'b')")
    mysql(my, f"UPDATE `{t}` SET name = 'two' WHERE id = 1")
    mysql(my, f"DELETE FROM `{t}` WHERE id = 2")
    check_strategy(r, strategy, f"{t}:1", f"{t}:2", stream)
    s.stop()


@pytest.mark.parametrize("strategy", ["ttl", "invalidate", "stream"])
def test_each_strategy_from_mongodb(tmp_path, mongo, rds, strategy):
    r, made = rds
    coll = mongo.collection("items")
    name = "rd-ms-" + uuid.uuid4().hex[:6]
    stream = f"{mongo.db_name}.items"
    made += ["items:*", "__sluice:guard:items:*", stream, f"__sluice:{name}:*"]
    cfg = {"name": name, "config": {
        "connector.class": "com.mongodb.kafka.connect.MongoSourceConnector",
        "connection.uri": os.environ["SLUICE_MONGO_RS_URI"], "database": mongo.db_name, "collection": "items",
        "change.stream.full.document": "updateLookup", "output.json.formatter":
        "com.mongodb.kafka.connect.source.json.formatter.SimplifiedJson",
        "sink.type": "redis", "redis.address": f"127.0.0.1:{rport()}", "redis.key.format": "${collection}:${key}",
        "redis.strategy": strategy, "redis.ttl.seconds": "600" if strategy == "ttl" else "0",
        "offset.storage.file.filename": str(tmp_path / "offsets.db")}}
    path = tmp_path / "mongo.json"
    path.write_text(json.dumps(cfg))
    log = open(tmp_path / "sluice.log", "ab")
    p = subprocess.Popen([os.environ.get("SLUICE_BIN", str(ROOT / "build" / "sluice")), "run", str(path)],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "streaming" in (tmp_path / "sluice.log").read_text() or
                   "change stream" in (tmp_path / "sluice.log").read_text(), what="the change stream")
        time.sleep(1)
        coll.insert_many([{"_id": 1, "name": "one"}, {"_id": 2, "name": "b"}])
        coll.update_one({"_id": 1}, {"$set": {"name": "two"}})
        coll.delete_one({"_id": 2})
        check_strategy(r, strategy, "items:1", "items:2", stream)
    finally:
        p.terminate()
        p.wait(30)
        log.close()


@pytest.mark.parametrize("enabled", [True, False])
def test_truncate_deletes_the_tables_keys_only_when_enabled(tables, sluice, pg, rds, enabled):
    r, made = rds
    t = tables(table_name("tr"), "id int PRIMARY KEY, v int")
    other = tables(table_name("tro"), "id int PRIMARY KEY, v int")
    made += [f"{t}:*", f"{other}:*"]
    s = as_redis(sluice(**{"table.include.list": f"public.{t},public.{other}", "skipped.operations": "none"}), rds,
                 **{"redis.truncate.enabled": str(enabled).lower()})
    s.start()
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} SELECT g, g FROM generate_series(1, 2500) g")
    sql(pg, f"INSERT INTO {other} VALUES (1, 1)")
    wait_until(lambda: len(keys_of(r, f"{t}:")) == 2500 and r.exists(f"{other}:1"), what="the rows")
    sql(pg, f"TRUNCATE {t}")
    sql(pg, f"INSERT INTO {other} VALUES (2, 2)")  # after the truncate in the stream
    wait_until(lambda: r.exists(f"{other}:2"), what="the change after the truncate")
    if enabled:
        assert keys_of(r, f"{t}:") == []
        wait_log(s, "truncate: 2500 keys matching", timeout=10)
    else:
        assert len(keys_of(r, f"{t}:")) == 2500
        wait_log(s, "keys kept (redis.truncate.enabled=false)", timeout=10)
    assert r.exists(f"{other}:1")
    s.stop()


def test_from_debezium_mongodb_envelope(tmp_path, mongo, rds):
    """Debezium's MongoDB connector class: the envelope's after is the document as JSON text, the key {"id": ...}
    the _id as JSON text; both are read back for the Redis key and value."""
    r, made = rds
    coll = mongo.collection("dbzitems")
    coll.insert_one({"_id": 1, "a": "old"})
    name = "rd-dbz-" + uuid.uuid4().hex[:6]
    made += ["dbzitems:*", f"__sluice:{name}:*"]
    cfg = {"name": name, "config": {
        "connector.class": "io.debezium.connector.mongodb.MongoDbConnector",
        "connection.uri": os.environ["SLUICE_MONGO_RS_URI"], "database": mongo.db_name, "collection": "dbzitems",
        "topic.prefix": "srv", "startup.mode": "copy_existing", "change.stream.full.document": "updateLookup",
        "sink.type": "redis", "redis.address": f"127.0.0.1:{rport()}", "redis.key.format": "${collection}:${key}",
        "offset.storage.file.filename": str(tmp_path / "offsets.db")}}
    path = tmp_path / "dbz.json"
    path.write_text(json.dumps(cfg))
    log = open(tmp_path / "sluice.log", "ab")
    p = subprocess.Popen([os.environ.get("SLUICE_BIN", str(ROOT / "build" / "sluice")), "run", str(path)],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: r.exists("dbzitems:1"), what="the copied document")
        time.sleep(2.2)  # past the window the stream after the copy replays on the test server
        coll.insert_one({"_id": 2, "a": "x"})
        coll.update_one({"_id": 2}, {"$set": {"a": "y"}})
        coll.delete_one({"_id": 1})
        wait_until(lambda: not r.exists("dbzitems:1") and "y" in (r.get("dbzitems:2") or ""),
                   what="the Debezium events in Redis")
        doc = json.loads(r.get("dbzitems:2"))
        assert doc["a"] == "y" and doc["_id"] in (2, {"$numberInt": "2"})
    finally:
        p.terminate()
        p.wait(30)
        log.close()
