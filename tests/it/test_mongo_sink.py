"""MongoDB sink: real PostgreSQL -> sluice (libmongoc) -> mongo-java-server, read back with pymongo.

Documents must be what the MongoDB Kafka sink's Debezium RDBMS handler makes of the events:
_id = the key struct ({"id": 1}), the other columns of `after` beside it; c/r/u replace with upsert,
d deletes, tombstones are skipped, truncate is refused. The server is mongo-java-server (see
scripts/mongo/README.md): in memory, w:1 acknowledged writes, no sessions.
"""
import random
import signal
import threading
import time
import uuid
from decimal import Decimal

import psycopg2

from conftest import log_text, pg_params, run_cli, slot_row, sql, start_run, wait_streaming, wait_until


def mongo_sluice(sluice, mongo, table, **config):
    config.setdefault("table_include_list", f"public.{table}")
    s = sluice(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name,
               decimal_handling_mode="string", **config)
    s.config.pop("sink.file.path", None)
    return s


def docs(coll):
    return {repr(sorted(d["_id"].items())): d for d in coll.find()}


def expected(pg, table, keys):
    """The table as RdbmsHandler documents: {_id: {key columns}, other columns}, keyed like docs()."""
    with pg.cursor() as c:
        c.execute(f'SELECT * FROM "{table}"')
        cols = [d[0] for d in c.description]
        out = {}
        for row in c.fetchall():
            r = dict(zip(cols, row))
            d = {"_id": {k: r[k] for k in keys}}
            d.update({k: str(v) if isinstance(v, Decimal) else v for k, v in r.items() if k not in keys})
            out[repr(sorted(d["_id"].items()))] = d
        return out


def wait_same(pg, coll, table, keys, s, timeout=30):
    def same():
        if s.proc and s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s)[-3000:]}")
        return docs(coll) == expected(pg, table, keys)
    try:
        wait_until(same, timeout, 0.1, "collection == table")
    except AssertionError:
        raise AssertionError(f"collection differs from the table:\nmongo={docs(coll)}\n"
                             f"pg={expected(pg, table, keys)}\n{log_text(s)[-2000:]}")


def test_snapshot_stream_and_key_change(pg, tables, sluice, mongo):
    t = tables("mongo_items", "id int PRIMARY KEY, name text, n bigint, price numeric(10,2), ok boolean",
               "INSERT INTO mongo_items VALUES (1,'a',10,1.50,true),(2,'b',NULL,2.00,false),(3,'c',30,NULL,NULL)")
    t2 = tables("mongo_pairs", "a int, b text, v text, PRIMARY KEY (a, b)",
                "INSERT INTO mongo_pairs VALUES (1,'x','one')")
    s = mongo_sluice(sluice, mongo, t, table_include_list=f"public.{t},public.{t2}")
    start_run(s)
    coll = mongo.collection(t)
    wait_until(lambda: coll.count_documents({}) == 3, 30, 0.1, "snapshot rows in MongoDB")
    assert coll.find_one({"_id": {"id": 1}}) == {"_id": {"id": 1}, "name": "a", "n": 10, "price": "1.50", "ok": True}
    assert coll.find_one({"_id": {"id": 2}}) == {"_id": {"id": 2}, "name": "b", "n": None, "price": "2.00",
                                                 "ok": False}
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (4,'d',40,4.25,true)")
    sql(pg, f"UPDATE {t} SET name = 'A', n = 11 WHERE id = 1")
    sql(pg, f"DELETE FROM {t} WHERE id = 3")
    sql(pg, f"UPDATE {t} SET id = 20 WHERE id = 2")  # key change: d of {id:2} + c of {id:20}
    sql(pg, f"INSERT INTO {t2} VALUES (2,'y','two')")
    sql(pg, f"UPDATE {t2} SET v = 'uno' WHERE a = 1")
    wait_same(pg, coll, t, ["id"], s)
    assert coll.find_one({"_id": {"id": 2}}) is None
    assert coll.find_one({"_id": {"id": 20}})["name"] == "b"
    wait_same(pg, mongo.collection(t2), t2, ["a", "b"], s)
    assert mongo.collection(t2).find_one({"_id": {"a": 1, "b": "x"}}) == {"_id": {"a": 1, "b": "x"}, "v": "uno"}
    assert s.stop() == 0


class Writer(threading.Thread):
    def __init__(self, table):
        super().__init__(daemon=True)
        self.table, self.rnd, self.stop, self.error = table, random.Random(7), threading.Event(), None
        self.conn = psycopg2.connect(**pg_params())
        self.conn.autocommit = True

    def run(self):
        try:
            with self.conn.cursor() as c:
                while not self.stop.is_set():
                    i, r = self.rnd.randrange(400), self.rnd.random()
                    if r < 0.4:
                        c.execute(f"INSERT INTO {self.table} VALUES (%s, %s, 0) ON CONFLICT (id) DO UPDATE "
                                  "SET note = excluded.note, n = {0}.n + 1".format(self.table),
                                  (i, uuid.uuid4().hex))
                    elif r < 0.7:
                        c.execute(f"UPDATE {self.table} SET n = n + 1, note = %s WHERE id = %s", ("u", i))
                    elif r < 0.9:
                        c.execute(f"DELETE FROM {self.table} WHERE id = %s", (i,))
                    else:  # a transaction of several changes
                        c.execute("BEGIN")
                        for _ in range(5):
                            c.execute(f"UPDATE {self.table} SET n = n + 1 WHERE id = %s", (self.rnd.randrange(400),))
                        c.execute("COMMIT")
                    time.sleep(0.001)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.conn.close()


def test_kill9_during_writes(pg, tables, sluice, mongo):
    t = tables("mongo_crash", "id int PRIMARY KEY, note text, n int",
               "INSERT INTO mongo_crash SELECT g, 'pre', 0 FROM generate_series(0, 299) g")
    s = mongo_sluice(sluice, mongo, t)
    coll = mongo.collection(t)
    start_run(s)
    # Kills start after the snapshot: an interrupted snapshot is taken again, and rows deleted in
    # between have no delete event (a known limit, see docs/connectors/mongodb.md).
    wait_streaming(s)
    wait_until(lambda: coll.count_documents({}) == 300, 30, 0.1, "snapshot in MongoDB")
    w = Writer(t)
    w.start()
    rnd = random.Random(3)
    for _ in range(4):
        time.sleep(rnd.uniform(0.5, 1.5))
        s.kill9()
        time.sleep(rnd.uniform(0, 0.3))
        start_run(s)
    time.sleep(1)
    w.stop.set()
    w.join(10)
    assert w.error is None, w.error
    sql(pg, f"INSERT INTO {t} VALUES (100000, 'marker', 0)")
    wait_same(pg, coll, t, ["id"], s, timeout=40)
    assert s.stop() == 0


def test_bad_config_names_the_key(pg, cfg, mongo):
    for missing in ("connection.uri", "database"):
        s = cfg(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name)
        s.config.pop("sink.file.path", None)
        s.config.pop(missing)
        s.write_config()
        r = run_cli("run", str(s.cfg_path), timeout=30)
        out = r.stdout + r.stderr
        assert r.returncode != 0, out
        assert any(missing in line and "required" in line for line in out.splitlines()), out
        assert slot_row(pg, s.slot) is None
    s = cfg(sink_type="mongodb", connection_uri="mongodb://127.0.0.1:1/?w=0", database="x")
    s.config.pop("sink.file.path", None)
    s.write_config()
    r = run_cli("run", str(s.cfg_path), timeout=30)
    assert r.returncode != 0 and "w=0" in r.stdout + r.stderr, r.stdout + r.stderr
    assert slot_row(pg, s.slot) is None


def test_truncate_fails_clearly(pg, tables, sluice, mongo):
    t = tables("mongo_trunc", "id int PRIMARY KEY, v text", "INSERT INTO mongo_trunc VALUES (1, 'a')")
    s = mongo_sluice(sluice, mongo, t, skipped_operations="none")
    start_run(s)
    wait_streaming(s)
    wait_until(lambda: mongo.collection(t).count_documents({}) == 1, 30, 0.1, "snapshot row")
    sql(pg, f"TRUNCATE {t}")
    rc = s.proc.wait(30)
    assert rc != 0
    text = log_text(s)
    assert "truncate is not supported" in text and t in text, text[-2000:]
    assert mongo.collection(t).count_documents({}) == 1
    s.proc = None
    s.logf.close()


def test_kafka_to_mongo(tmp_path, kafka, mongo):
    """connector.class=MongoSinkConnector: the Kafka source reads `topics` into this sink. Debezium
    envelopes (bare or {schema, payload}) get RdbmsHandler's models, other values are documents."""
    import json
    from conftest import kafka_produce
    from test_kafka_source import KSluice
    cdc, plain = kafka.create_topic(kafka.topic("cdc")), kafka.create_topic(kafka.topic("plain"))
    src = {"version": "2.7", "connector": "postgresql", "name": "it"}

    def env(op, before, after):
        return json.dumps({"before": before, "after": after, "source": src, "op": op, "ts_ms": 1})
    kafka_produce(cdc, json.dumps({"id": 1}), env("c", None, {"id": 1, "v": "a"}))
    kafka_produce(cdc, json.dumps({"id": 2}), env("r", None, {"id": 2, "v": "b"}))
    kafka_produce(cdc, json.dumps({"schema": {"type": "struct"}, "payload": {"id": 1}}),
                  json.dumps({"schema": {"type": "struct"}, "payload": json.loads(env("u", None, {"id": 1, "v": "A"}))}))
    kafka_produce(cdc, json.dumps({"id": 2}), env("d", {"id": 2, "v": "b"}, None))
    kafka_produce(cdc, json.dumps({"id": 2}), None)  # tombstone: skipped
    kafka_produce(plain, None, json.dumps({"_id": "k1", "x": 1}))
    kafka_produce(plain, None, json.dumps({"_id": "k1", "x": 2}))
    kafka_produce(plain, None, json.dumps({"y": 3}))
    s = KSluice(tmp_path, f"{cdc},{plain}", **{
        "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "connection.uri": mongo.uri,
        "database": mongo.db_name, "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false"})
    s.config.pop("sink.type")
    s.config.pop("sink.file.path")
    try:
        start_run(s)
        c, p = mongo.collection(cdc), mongo.collection(plain)

        def done():
            if s.proc.poll() is not None:
                raise AssertionError(log_text(s)[-3000:])
            return c.count_documents({}) == 1 and p.count_documents({}) == 2 and \
                c.find_one({"_id": {"id": 1}}) == {"_id": {"id": 1}, "v": "A"}
        wait_until(done, 30, 0.1, "kafka records in MongoDB")
        assert p.find_one({"_id": "k1"}) == {"_id": "k1", "x": 2}
        assert p.find_one({"y": 3})["_id"] is not None
        assert s.stop() == 0
    finally:
        s.cleanup()


def test_rejected_write_stops_naming_collection(pg, tables, sluice, mongo):
    """A bulk the server rejects (a unique index violated) stops the connector with the collection and
    the server's message; the offset is not committed, so a restart fails again (nothing is skipped)."""
    t = tables("mongo_uniq", "id int PRIMARY KEY, email text", "INSERT INTO mongo_uniq VALUES (1, 'a@x')")
    mongo.collection(t).create_index("email", unique=True)
    s = mongo_sluice(sluice, mongo, t)
    start_run(s)
    wait_streaming(s)
    wait_until(lambda: mongo.collection(t).count_documents({}) == 1, 30, 0.1, "snapshot row")
    sql(pg, f"INSERT INTO {t} VALUES (2, 'a@x')")
    assert s.proc.wait(30) != 0
    line = next((l for l in log_text(s).splitlines() if "bulk write to" in l), "")
    assert f"{mongo.db_name}.{t}" in line and "failed" in line, log_text(s)[-2000:]
    s.proc = None
    s.logf.close()
    print("[mongo sink] rejected write:", line)
