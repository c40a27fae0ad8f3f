#!/usr/bin/env python3
"""make interop, part 2 (run by scripts/mongo-interop.sh with a Kafka Connect worker up).

A PostgreSQL table of many types -> sluice -> Kafka topic (JsonConverter with schemas), then:
  mongo-kafka 2.0.1's MongoSinkConnector (Java, on the worker)  -> database interop_mk_<run>
  sluice's MongoSinkConnector (the same topic)                    -> database interop_sl_<run>
  sluice's PostgreSQL -> MongoDB connector (no Kafka)             -> database interop_direct_<run>
and every document of the three collections is compared field by field, BSON type included; then
mongo-kafka's MongoSourceConnector and sluice's MongoDB source on one collection (source_compare).
Prints the differences (or that there are none); exit code 1 when any.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import psycopg2
from bson import Binary, Decimal128, Int64, ObjectId
from pymongo import MongoClient

HANDLER = "com.mongodb.kafka.connect.sink.cdc.debezium.rdbms.postgres.PostgresHandler"
MODES = {"decimal.handling.mode": "precise", "time.precision.mode": "connect", "binary.handling.mode": "bytes"}
COLUMNS = """id int PRIMARY KEY, c_int2 int2, c_int4 int4, c_int8 int8, c_float4 real, c_float8 double precision,
    c_numeric numeric(12,3), c_bool boolean, c_text text, c_varchar varchar(20), c_char char(3), c_bytea bytea,
    c_date date, c_time time(3), c_timetz timetz, c_ts timestamp(3), c_tstz timestamptz, c_interval interval,
    c_uuid uuid, c_json json, c_jsonb jsonb, c_int_arr int4[], c_text_arr text[], c_inet inet"""


def rows():
    out = []
    for i in range(1, 20):
        if i % 7 == 0:
            out.append(f"({i}" + ", NULL" * 23 + ")")
            continue
        out.append(f"""({i}, {i - 10}, {i * 1000}, {5 if i == 1 else i * 10 ** 12}, {i}.25, {i}.125e10,
            {i}.{i:03d}, {str(i % 2 == 0).lower()}, 'text {i}', 'v{i}', 'c{i % 10}', '\\x{i:02x}ff00',
            '2024-01-{i:02d}', '0{i % 10}:30:15.250', '10:00:00+02', '2024-03-{i:02d} 12:34:56.789',
            '2024-03-{i:02d} 12:34:56.789+00', '{i} days 3 hours', '{uuid.UUID(int=i)}', '{{"a": {i}}}',
            '{{"b": [{i}, true]}}', '{{{i},{i + 1}}}', '{{"x{i}","y"}}', '10.0.0.{i}')""")
    return ",".join(out)


def pg_conn():
    c = psycopg2.connect(host=os.environ["SLUICE_PG_HOST"], port=os.environ["SLUICE_PG_PORT"],
                         user=os.environ["SLUICE_PG_USER"], password=os.environ["SLUICE_PG_PASSWORD"],
                         dbname=os.environ["SLUICE_PG_DB"])
    c.autocommit = True
    return c


def pg_source(work, name, table, run, **extra):
    cfg = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector",
           "database.hostname": os.environ["SLUICE_PG_HOST"], "database.port": os.environ["SLUICE_PG_PORT"],
           "database.user": os.environ["SLUICE_PG_USER"], "database.password": os.environ["SLUICE_PG_PASSWORD"],
           "database.dbname": os.environ["SLUICE_PG_DB"], "topic.prefix": f"interop{run}",
           "slot.name": f"interop_{name}_{run}", "publication.name": f"interop_{name}_{run}",
           "publication.autocreate.mode": "filtered", "table.include.list": f"public.{table}",
           "offset.storage.file.filename": f"{work}/{name}.db", "offset.flush.interval.ms": "200"}
    cfg.update(MODES)
    cfg.update(extra)
    return cfg


def start(work, name, cfg):
    path = f"{work}/{name}.json"
    with open(path, "w") as f:
        json.dump({"name": f"interop-{name}", "config": cfg}, f)
    log = open(f"{work}/{name}.log", "ab")
    return subprocess.Popen([os.environ["SLUICE_BIN"], "run", path], stdout=log, stderr=subprocess.STDOUT)


def rest(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def typed(v):
    """A value with its BSON type spelled out, recursively."""
    if isinstance(v, dict):
        return {k: typed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [typed(x) for x in v]
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, Int64):
        return ("int64", int(v))
    if isinstance(v, int):
        return ("int32", v)
    if isinstance(v, float):
        return ("double", v)
    if isinstance(v, (bytes, Binary)):
        return (f"binData({getattr(v, 'subtype', 0)})", bytes(v).hex())
    if isinstance(v, Decimal128):
        return ("decimal", str(v))
    if isinstance(v, ObjectId):
        return ("objectId", "...")
    if v is None:
        return ("null", None)
    return (type(v).__name__, str(v))


def diff(path, a, b, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                out.append(f"{path}.{k}: {'missing' if k not in a else a[k]} | {'missing' if k not in b else b[k]}")
            else:
                diff(f"{path}.{k}", a[k], b[k], out)
    elif a != b:
        out.append(f"{path}: {a} | {b}")


def consume(topic, n, timeout):
    """The first n records of topic as (key, value) parsed JSON (None for null), or fewer at the timeout."""
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP"], "group.id": "interop-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out, deadline = [], time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        out.append(tuple(None if x is None else json.loads(x) for x in (m.key(), m.value())))
    c.close()
    return out


STRING = "org.apache.kafka.connect.storage.StringConverter"
SOURCE_VARIANTS = {  # name: mongo-kafka source settings (both connectors), converters as Kafka Connect's
    "schema": {"output.format.key": "schema", "output.format.value": "schema"},
    "infer": {"output.format.value": "schema", "output.schema.infer.value": "true",
              "publish.full.document.only": "true", "key.converter": STRING},
    "json": {"key.converter": STRING, "value.converter": STRING, "output.json.formatter":
             "com.mongodb.kafka.connect.source.json.formatter.ExtendedJson"},
    "json-token-key": {"key.converter": STRING, "value.converter": STRING,
                       "change.stream.document.key.as.key": "false"},
    # copy_existing of the collection "copied" (two documents written before the connectors start)
    "copy": {"key.converter": STRING, "value.converter": STRING, "startup.mode": "copy_existing"},
    "copy-token-key": {"key.converter": STRING, "value.converter": STRING, "startup.mode": "copy_existing",
                       "change.stream.document.key.as.key": "false"},
}


def source_compare(a, run, mongo, procs):
    """mongo-kafka's MongoSourceConnector and sluice's MongoDB source on the same collection, in each of
    SOURCE_VARIANTS: the Kafka records compared (parsed JSON: sluice's JSON text is compact where Java's
    has spaces after ':' and ',', except inside strings, which match byte for byte)."""
    db = f"interop_src_{run}"
    c = mongo[db]["docs"]
    mongo[db]["copied"].insert_many([{"_id": 1, "a": Int64(2)}, {"_id": ObjectId("5f0000000000000000000002")}])
    time.sleep(2.2)  # sluice's copy starts its stream at the clock minus 1 s on this server (no operationTime)
    topics = {}
    for v, extra in SOURCE_VARIANTS.items():
        coll = "copied" if v.startswith("copy") else "docs"
        base = {"connection.uri": os.environ["SLUICE_MONGO_RS_URI"], "database": db, "collection": coll,
                "change.stream.full.document": "updateLookup",
                # the test server's events carry no ns, which mongo-kafka's topic mapper needs: both add it
                "pipeline": json.dumps([{"$addFields": {"ns": {"db": db, "coll": coll}}}])}
        base.update(extra)
        tag = v.replace("-", "")
        rest("POST", f"{a.rest}/connectors", {"name": f"mks-{tag}-{run}", "config": dict(base, **{
            "connector.class": "com.mongodb.kafka.connect.MongoSourceConnector", "topic.prefix": f"mk{tag}{run}",
            "topic.creation.default.replication.factor": "1", "topic.creation.default.partitions": "1"})})
        mine = {k: x for k, x in base.items() if not k.endswith(".converter")}
        procs.append(start(a.work, f"mongo2kafka-{tag}", dict(mine, **{
            "connector.class": "com.mongodb.kafka.connect.MongoSourceConnector", "topic.prefix": f"sl{tag}{run}",
            "sink.type": "kafka", "bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP"],
            "offset.storage.file.filename": f"{a.work}/msrc-{tag}.db"})))
        topics[v] = (f"mk{tag}{run}.{db}.{coll}", f"sl{tag}{run}.{db}.{coll}")
    time.sleep(10)  # every change stream open (the worker starts its tasks asynchronously)
    from bson import Decimal128 as D
    from datetime import datetime
    c.insert_one({"_id": 1, "n": Int64(5), "i": 7, "d": D("1.10"), "t": datetime(2024, 5, 6, 7, 8, 9),
                  "o": ObjectId("5f0000000000000000000001"), "sub": {"a": [1, "x"]}, "b": Binary(b"\x01"),
                  "f": 2.5, "nil": None})
    c.update_one({"_id": 1}, {"$set": {"i": 8}})
    c.insert_one({"_id": "two"})
    time.sleep(4)  # updateLookup reads the document when the event is read: every reader before the delete
    c.delete_one({"_id": 1})
    diffs, n = [], 0
    for v, (tmk, tsl) in topics.items():
        want = 2 if v.startswith("copy") else 3 if "publish.full.document.only" in SOURCE_VARIANTS[v] else 4
        mk, sl = consume(tmk, want, a.timeout), consume(tsl, want, a.timeout)
        n += len(mk)
        if len(mk) != len(sl) or not mk:
            diffs.append(f"source {v}: mongo-kafka published {len(mk)} records, sluice {len(sl)}")
        for i, (m, s) in enumerate(zip(mk, sl)):
            for part, x, y in (("key", m[0], s[0]), ("value", m[1], s[1])):
                out = []
                diff("", x, y, out)
                diffs += [f"source {v} record {i} {part}{d}   (mongo-kafka | sluice)" for d in out]
    return diffs, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rest", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    run = uuid.uuid4().hex[:6]
    table = f"interop_types_{run}"
    topic = f"interop{run}.public.{table}"
    boot = os.environ["SLUICE_KAFKA_BOOTSTRAP"]
    mongo = MongoClient(os.environ["SLUICE_MONGO_URI"])
    dbs = {"mongo-kafka": f"interop_mk_{run}", "sluice (Kafka)": f"interop_sl_{run}",
           "sluice (direct)": f"interop_direct_{run}"}
    pg = pg_conn()
    procs = []
    rc = 1
    try:
        with pg.cursor() as c:
            c.execute(f"CREATE TABLE {table} ({COLUMNS})")
            c.execute(f"INSERT INTO {table} VALUES {rows()}")
        procs.append(start(a.work, "pg2kafka", pg_source(a.work, "k", table, run, **{
            "sink.type": "kafka", "bootstrap.servers": boot})))
        procs.append(start(a.work, "direct", pg_source(a.work, "d", table, run, **{
            "sink.type": "mongodb", "connection.uri": os.environ["SLUICE_MONGO_URI"],
            "database": dbs["sluice (direct)"], "collection": table})))
        time.sleep(3)
        with pg.cursor() as c:  # a few streamed changes too
            c.execute(f"UPDATE {table} SET c_int8 = 6, c_numeric = 0.5 WHERE id = 2")
            c.execute(f"DELETE FROM {table} WHERE id = 3")
            c.execute(f"INSERT INTO {table} (id, c_int8, c_bytea) VALUES (100, 5, '\\x00')")
        rest("POST", f"{a.rest}/connectors", {"name": f"mk-{run}", "config": {
            "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "topics": topic,
            "connection.uri": os.environ["SLUICE_MONGO_URI"], "database": dbs["mongo-kafka"], "collection": table,
            "change.data.capture.handler": HANDLER}})
        procs.append(start(a.work, "kafka2mongo", {
            "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "topics": topic,
            "bootstrap.servers": boot, "connection.uri": os.environ["SLUICE_MONGO_URI"],
            "database": dbs["sluice (Kafka)"], "collection": table, "change.data.capture.handler": HANDLER,
            "offset.storage.file.filename": f"{a.work}/sink.db"}))
        with pg.cursor() as c:
            c.execute(f"SELECT count(*) FROM {table}")
            want = c.fetchone()[0]
        deadline, stable, last = time.time() + a.timeout, 0, None
        while time.time() < deadline:
            for p in procs:
                if p.poll() is not None:
                    sys.exit(f"a sluice process exited ({p.returncode}); logs in {a.work}")
            counts = tuple(mongo[d][table].count_documents({}) for d in dbs.values())
            stable = stable + 1 if counts == last and all(n == want for n in counts) else 0
            last = counts
            if stable >= 6:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"timed out: documents {dict(zip(dbs, last))}, want {want} each; logs in {a.work}")
        colls = {k: {json.dumps(d["_id"], sort_keys=True): typed(d) for d in mongo[v][table].find()}
                 for k, v in dbs.items()}
        ref = colls["mongo-kafka"]
        diffs = []
        for name in ("sluice (Kafka)", "sluice (direct)"):
            for key in sorted(set(ref) | set(colls[name])):
                if key not in ref or key not in colls[name]:
                    diffs.append(f"{name}: document {key} only in {'mongo-kafka' if key in ref else name}")
                    continue
                out = []
                diff("", ref[key], colls[name][key], out)
                diffs += [f"{name} _id={key} {d}   (mongo-kafka | sluice)" for d in out]
        nfields = sum(len(d) for d in ref.values())
        sdiffs, nsrc = source_compare(a, run, mongo, procs)
        print(f"mongo-interop: source: {nsrc} records of mongo-kafka's MongoSourceConnector in "
              f"{len(SOURCE_VARIANTS)} output settings ({', '.join(SOURCE_VARIANTS)}) compared with sluice's, "
              f"{len(sdiffs)} differences")
        diffs += sdiffs
        if diffs:
            print("\n".join(diffs))
            print(f"mongo-interop: {len(diffs)} differences in {len(ref)} documents ({nfields} fields)")
        else:
            print(f"mongo-interop: {len(ref)} documents, {nfields} fields: sluice's collections (through Kafka and "
                  f"direct) equal mongo-kafka 2.0.1's, BSON types included")
            rc = 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        for name in [f"mk-{run}"] + [f"mks-{v.replace('-', '')}-{run}" for v in SOURCE_VARIANTS]:
            try:
                rest("DELETE", f"{a.rest}/connectors/{name}")
            except Exception:  # noqa: BLE001 - best effort
                pass
        with pg.cursor() as c:
            for n in ("k", "d"):
                c.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                          "WHERE slot_name = %s AND NOT active", (f"interop_{n}_{run}",))
                c.execute(f'DROP PUBLICATION IF EXISTS "interop_{n}_{run}"')
            c.execute(f"DROP TABLE IF EXISTS {table}")
        if os.environ.get("INTEROP_KEEP") != "1":
            for d in list(dbs.values()) + [f"interop_src_{run}"]:
                mongo.drop_database(d)
    return rc


if __name__ == "__main__":
    sys.exit(main())
