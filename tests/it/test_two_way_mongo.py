"""Two-way sync between PostgreSQL and MongoDB without echo: a forward connector (PostgreSQL orders +
order_items + order_notes -> embed -> MongoDB `orders`, its sink marking its writes with origin `fwd`,
its source skipping origin `rev`) and a reverse one (MongoDB `orders` -> unembed -> the same tables, its
source skipping `fwd`, its sink writing under PostgreSQL replication origin `rev`).

Asserted: writes made on one side only come back to that side not once (a trigger counts the row
writes on PostgreSQL, a change stream counts the events on MongoDB: both equal the application's own
writes), and both sides converge when both take writes.

The MongoDB server is mongo-java-server (scripts/mongo/README.md)."""
import threading
import time

import pytest

from conftest import log_text, sql, start_run, wait_streaming, wait_until
from test_mongo_source import MSluice
from test_unembed import actual, expected, make_tables, mapping
from test_sql_sink import sink_config


@pytest.fixture
def schema(pg):
    s = make_tables(pg)
    sql(pg, f"CREATE TABLE {s}.writes (tbl text, id int, n int, PRIMARY KEY (tbl, id))")
    sql(pg, f"""CREATE FUNCTION {s}.count_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO {s}.writes VALUES (TG_TABLE_NAME, COALESCE(NEW.id, OLD.id), 1)
            ON CONFLICT (tbl, id) DO UPDATE SET n = {s}.writes.n + 1;
          RETURN NULL;
        END $$""")
    for t in ("orders", "order_items", "order_notes"):
        sql(pg, f"CREATE TRIGGER count_write AFTER INSERT OR UPDATE OR DELETE ON {s}.{t} "
                f"FOR EACH ROW EXECUTE FUNCTION {s}.count_write()")
    yield s
    sql(pg, f"DROP SCHEMA {s} CASCADE")
    for o in ("fwd", "rev"):
        sql(pg, "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = %s",
            f"{o}_{s}")


def writes(pg, s):
    return dict(((t, i), n) for t, i, n in sql(pg, f"SELECT tbl, id, n FROM {s}.writes"))


def connectors(sluice, tmp_path, mongo, s):
    fwd = sluice(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name,
                 decimal_handling_mode="string",
                 table_include_list=f"{s}.orders,{s}.order_items,{s}.order_notes")
    fwd.config.pop("sink.file.path", None)
    fwd.config.update(mapping(s, "embed"))
    fwd.config.update({"skipped.origins": f"rev_{s}", "replication.origin.name": f"fwd_{s}"})
    rev_cfg = {"change.stream.full.document": "updateLookup", "skipped.origins": f"fwd_{s}"}
    rev_cfg.update(mapping(s))
    rev_cfg.update(sink_config("pg", schema_evolution="none", replication_origin_name=f"rev_{s}"))
    rev = MSluice(tmp_path, mongo, "orders", **rev_cfg)
    rev.config.pop("sink.file.path", None)
    rev.write_config()
    return fwd, rev


def converge(pg, s, coll, fwd, rev, what):
    def same():
        for c in (fwd, rev):
            if c.proc and c.proc.poll() is not None:
                raise AssertionError(f"sluice exited ({c.proc.returncode}):\n{log_text(c)[-3000:]}")
        return actual(pg, s) == expected(coll)
    try:
        wait_until(same, 40, 0.2, what)
    except AssertionError:
        raise AssertionError(f"{what}: tables {actual(pg, s)} != documents {expected(coll)}\n"
                             f"fwd: {log_text(fwd)[-1500:]}\nrev: {log_text(rev)[-1500:]}")


def settle(read, quiet=2.0, timeout=30):
    """Waits until read() has not changed for `quiet` seconds; returns its value."""
    last, since, deadline = read(), time.time(), time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.2)
        now = read()
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return now
    raise AssertionError("still changing")


class Events(threading.Thread):
    """Counts the change events of a collection per document (_id)."""

    def __init__(self, coll):
        super().__init__(daemon=True)
        self.coll, self.count, self.stop, self.ready = coll, {}, False, threading.Event()

    def run(self):
        with self.coll.watch(max_await_time_ms=200) as cs:
            self.ready.set()
            while not self.stop:
                ev = cs.try_next()
                if ev:
                    k = ev["documentKey"]["_id"]
                    self.count[k] = self.count.get(k, 0) + 1


def test_two_way_no_echo_and_convergence(pg, schema, sluice, mongo, tmp_path):
    s = schema
    coll = mongo.collection("orders")
    sql(pg, f"INSERT INTO {s}.orders VALUES (1,'ann',10.50,NULL),(2,'bob',NULL,NULL)")
    sql(pg, f"INSERT INTO {s}.order_items VALUES (11,1,'a',1),(21,2,'c',3)")
    fwd, rev = connectors(sluice, tmp_path, mongo, s)
    start_run(fwd)
    wait_until(lambda: coll.count_documents({}) == 2, 30, 0.1, "snapshot documents")
    wait_streaming(fwd)
    rev.run()
    rev.wait_open()
    converge(pg, s, coll, fwd, rev, "after the snapshot")
    base = settle(lambda: writes(pg, s))

    # 1. PostgreSQL side only: each row write is counted once by the trigger (none comes back)
    sql(pg, f"UPDATE {s}.orders SET customer = 'Ann' WHERE id = 1")
    sql(pg, f"INSERT INTO {s}.order_items VALUES (12,1,'b',2)")
    sql(pg, f"UPDATE {s}.order_items SET order_id = 2 WHERE id = 11")
    sql(pg, f"INSERT INTO {s}.order_notes VALUES (100,1,'door')")
    sql(pg, f"INSERT INTO {s}.orders VALUES (3,'cy',1.00,NULL)")
    sql(pg, f"DELETE FROM {s}.order_items WHERE id = 21")
    converge(pg, s, coll, fwd, rev, "PostgreSQL writes")
    got = settle(lambda: writes(pg, s))
    app = {("orders", 1): 1, ("order_items", 12): 1, ("order_items", 11): 1, ("order_notes", 100): 1,
           ("orders", 3): 1, ("order_items", 21): 1}
    assert {k: got.get(k, 0) - base.get(k, 0) for k in set(got) | set(base) if got.get(k, 0) != base.get(k, 0)} == app

    # 2. MongoDB side only: each document gets exactly the application's events (none comes back)
    ev = Events(coll)
    ev.start()
    ev.ready.wait(10)
    coll.update_one({"_id": 1}, {"$set": {"customerName": "ANN"}})
    coll.update_one({"_id": 2}, {"$push": {"items": {"id": 22, "sku": "d", "quantity": 1}}})
    coll.update_one({"_id": 3}, {"$set": {"note": {"id": 300, "body": "ring"}}})
    coll.insert_one({"_id": 4, "customerName": "dee", "total": "4.00", "items": [{"id": 41, "sku": "e",
                                                                                  "quantity": 2}]})
    coll.delete_one({"_id": 3})
    converge(pg, s, coll, fwd, rev, "MongoDB writes")
    settle(lambda: writes(pg, s))
    time.sleep(1.0)
    ev.stop = True
    ev.join(5)
    assert ev.count == {1: 1, 2: 1, 3: 2, 4: 1}, ev.count

    # 3. both sides at once (different orders): both converge
    for i in range(20):
        sql(pg, f"UPDATE {s}.orders SET total = {i}.25 WHERE id = 1")
        coll.update_one({"_id": 4}, {"$set": {"total": f"{i}.50"}})
        if i % 5 == 0:
            sql(pg, f"INSERT INTO {s}.order_items VALUES ({500 + i},1,'p',{i})")
            coll.update_one({"_id": 4}, {"$push": {"items": {"id": 600 + i, "sku": "m", "quantity": i}}})
    converge(pg, s, coll, fwd, rev, "writes on both sides")
    assert fwd.stop() == 0
    assert rev.stop() == 0
