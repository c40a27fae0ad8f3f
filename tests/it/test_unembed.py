"""The way back of an embedding (transforms type=unembed): a MongoDB `orders` collection with embedded
items (array) and a note (sub-document) -> the PostgreSQL tables it was made from, through the MongoDB
source and the SQL sink. The tables have real foreign keys (no cascade), so the rows must be written
parents first and deleted children first. The tables must equal what the documents say after inserts,
updates that add, change, remove and move children, deletes, and kill -9 of sluice under random writes.

The MongoDB server is mongo-java-server (scripts/mongo/README.md)."""
import random
import time
import uuid
from decimal import Decimal

import pytest

from conftest import log_text, mysql, run_cli, sql, wait_until
from test_mongo_source import MSluice
from test_sql_sink import myt, sink_config  # noqa: F401 (myt: a fixture)


def make_tables(pg):
    s = "unemb_" + uuid.uuid4().hex[:6]
    sql(pg, f"CREATE SCHEMA {s}")
    sql(pg, f"CREATE TABLE {s}.orders (id int PRIMARY KEY, customer text, total numeric(10,2), placed timestamptz)")
    sql(pg, f"CREATE TABLE {s}.order_items (id int PRIMARY KEY, order_id int NOT NULL REFERENCES {s}.orders(id), "
            "sku text, qty int)")
    sql(pg, f"CREATE TABLE {s}.order_notes (id int PRIMARY KEY, order_id int UNIQUE REFERENCES {s}.orders(id), "
            "body text)")
    return s


def mapping(schema, t="unembed"):
    """The forward embed's options (as test_embed writes them), under transforms.<t>."""
    p = f"transforms.{t}."
    return {
        "transforms": t,
        p + "type": t,
        p + "root.table": f"{schema}.orders",
        p + "root.fields.rename": "customer:customerName",
        p + "collection": "orders",
        p + "children": "items,note",
        p + "child.items.table": f"{schema}.order_items",
        p + "child.items.parent.key": "order_id",
        p + "child.items.fields.exclude": "order_id",
        p + "child.items.fields.rename": "qty:quantity",
        p + "child.note.table": f"{schema}.order_notes",
        p + "child.note.parent.key": "order_id",
        p + "child.note.relationship": "object",
        p + "child.note.fields.exclude": "order_id",
    }


def reverse(tmp_path, mongo, schema, target="pg", **extra):
    c = {"startup.mode": "copy_existing", "change.stream.full.document": "updateLookup",
         "output.json.formatter": "com.mongodb.kafka.connect.source.json.formatter.ExtendedJson"}
    c.update(mapping(schema))
    c.update(sink_config(target, schema_evolution="none"))
    c.pop("sink.file.path", None)
    c.update({k.replace("_", "."): v for k, v in extra.items()})  # publish_full_document_only=... as keys
    s = MSluice(tmp_path, mongo, "orders", **c)
    s.config.pop("sink.file.path", None)
    s.write_config()
    return s


def expected(coll):
    """The rows the documents hold: (orders, items, notes) as sets of tuples."""
    o, i, n = set(), set(), set()
    for d in coll.find():
        total = d.get("total")
        o.add((d["_id"], d.get("customerName"), None if total is None else Decimal(str(total))))
        for e in d.get("items") or []:
            i.add((e["id"], d["_id"], e.get("sku"), e.get("quantity")))
        if d.get("note"):
            n.add((d["note"]["id"], d["_id"], d["note"].get("body")))
    return o, i, n


def actual(pg, s):
    return (set(sql(pg, f"SELECT id, customer, total FROM {s}.orders")),
            set(sql(pg, f"SELECT id, order_id, sku, qty FROM {s}.order_items")),
            set(sql(pg, f"SELECT id, order_id, body FROM {s}.order_notes")))


def wait_same(pg, schema, coll, s, timeout=40):
    def same():
        if s.proc and s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s)[-3000:]}")
        return actual(pg, schema) == expected(coll)
    try:
        wait_until(same, timeout, 0.2, "tables == documents")
    except AssertionError:
        raise AssertionError(f"tables {actual(pg, schema)}\n != documents {expected(coll)}\n{log_text(s)[-3000:]}")


@pytest.fixture
def schema(pg):
    s = make_tables(pg)
    yield s
    sql(pg, f"DROP SCHEMA {s} CASCADE")


def test_unembed_snapshot_stream_and_moves(pg, schema, mongo, tmp_path):
    coll = mongo.collection("orders")
    coll.insert_many([
        {"_id": 1, "customerName": "ann", "total": "10.50",
         "items": [{"id": 11, "sku": "a", "quantity": 1}, {"id": 12, "sku": "b", "quantity": 2}],
         "note": {"id": 100, "body": "leave at door"}},
        {"_id": 2, "customerName": "bob", "total": None, "items": []},
    ])
    s = reverse(tmp_path, mongo, schema).run()
    wait_same(pg, schema, coll, s)
    assert sql(pg, f"SELECT id, order_id, sku, qty FROM {schema}.order_items ORDER BY id") == [
        (11, 1, "a", 1), (12, 1, "b", 2)]
    s.wait_open()
    coll.update_one({"_id": 1}, {"$set": {"customerName": "Ann"}})                  # a root field
    coll.update_one({"_id": 1}, {"$push": {"items": {"id": 13, "sku": "z", "quantity": 9}}})
    coll.update_one({"_id": 1, "items.id": 11}, {"$set": {"items.$.quantity": 5}})  # an element changes
    coll.update_one({"_id": 1}, {"$pull": {"items": {"id": 12}}})                   # moves: out of 1 ...
    coll.update_one({"_id": 2}, {"$push": {"items": {"id": 12, "sku": "b", "quantity": 2}}})  # ... into 2
    coll.update_one({"_id": 1}, {"$unset": {"note": ""}})                           # the one-to-one child goes
    coll.update_one({"_id": 2}, {"$set": {"note": {"id": 200, "body": "ring"}}})
    coll.insert_one({"_id": 3, "customerName": "cy", "total": "1.00",
                     "items": [{"id": 31, "sku": "q", "quantity": 1}]})
    wait_same(pg, schema, coll, s)
    assert sql(pg, f"SELECT customer FROM {schema}.orders WHERE id = 1") == [("Ann",)]
    assert sql(pg, f"SELECT order_id FROM {schema}.order_items WHERE id = 12") == [(2,)]
    coll.delete_one({"_id": 2})                                                     # children first, then the root
    coll.replace_one({"_id": 3}, {"customerName": "cy", "total": "2.00", "items": []})
    wait_same(pg, schema, coll, s)
    assert sql(pg, f"SELECT count(*) FROM {schema}.order_items WHERE order_id IN (2, 3)") == [(0,)]
    assert s.stop() == 0


def test_unembed_into_mariadb(myt, mongo, tmp_path):
    """The same into MariaDB (InnoDB foreign keys, no cascade), with Debezium's MongoDB envelope."""
    d = myt.name
    mysql(myt.conn, f"CREATE TABLE {d}.orders (id int PRIMARY KEY, customer text, total decimal(10,2))")
    mysql(myt.conn, f"CREATE TABLE {d}.order_items (id int PRIMARY KEY, order_id int NOT NULL, sku text, qty int, "
                    f"FOREIGN KEY (order_id) REFERENCES {d}.orders(id))")
    mysql(myt.conn, f"CREATE TABLE {d}.order_notes (id int PRIMARY KEY, order_id int UNIQUE, body text, "
                    f"FOREIGN KEY (order_id) REFERENCES {d}.orders(id))")
    myt.conn.autocommit(True)
    coll = mongo.collection("orders")
    coll.insert_one({"_id": 1, "customerName": "ann", "total": "10.50",
                     "items": [{"id": 11, "sku": "a", "quantity": 1}, {"id": 12, "sku": "b", "quantity": 2}]})
    s = reverse(tmp_path, mongo, d, target="my", **{
        "connector.class": "io.debezium.connector.mongodb.MongoDbConnector", "topic.prefix": "srv"}).run()

    def rows():
        return (set(mysql(myt.conn, f"SELECT id, customer, total FROM {d}.orders")),
                set(mysql(myt.conn, f"SELECT id, order_id, sku, qty FROM {d}.order_items")),
                set(mysql(myt.conn, f"SELECT id, order_id, body FROM {d}.order_notes")))

    def same():
        if s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s)[-3000:]}")
        return rows() == expected(coll)
    wait_until(same, 40, 0.2, "MariaDB tables == documents")
    coll.update_one({"_id": 1}, {"$pull": {"items": {"id": 12}}, "$set": {"note": {"id": 7, "body": "hi"}}})
    coll.insert_one({"_id": 2, "customerName": "bob", "items": [{"id": 12, "sku": "b", "quantity": 4}]})
    wait_until(same, 40, 0.2, "MariaDB tables == documents after updates")
    coll.delete_one({"_id": 1})
    wait_until(same, 40, 0.2, "MariaDB tables == documents after a delete")
    assert rows()[1] == {(12, 2, "b", 4)}
    assert s.stop() == 0


def test_unembed_full_document_only_and_types(pg, schema, mongo, tmp_path):
    """publish.full.document.only with tombstones, and MongoDB's own types: Decimal128, dates, Int64."""
    import bson
    coll = mongo.collection("orders")
    s = reverse(tmp_path, mongo, schema, publish_full_document_only="true",
                publish_full_document_only_tombstone_on_delete="true").run()
    s.wait_open()
    coll.insert_one({"_id": 5, "customerName": "dee", "total": bson.Decimal128("12.34"),
                     "placed": __import__("datetime").datetime(2024, 5, 6, 7, 8, 9, 123000),
                     "items": [{"id": bson.Int64(51), "sku": "x", "quantity": 3}]})
    wait_until(lambda: sql(pg, f"SELECT count(*) FROM {schema}.order_items") == [(1,)], 30, 0.2, "item row")
    got = sql(pg, f"SELECT customer, total, placed AT TIME ZONE 'UTC' FROM {schema}.orders WHERE id = 5")
    assert got == [("dee", Decimal("12.34"), __import__("datetime").datetime(2024, 5, 6, 7, 8, 9, 123000))]
    coll.delete_one({"_id": 5})
    wait_until(lambda: sql(pg, f"SELECT count(*) FROM {schema}.orders") == [(0,)], 30, 0.2, "root row deleted")
    assert sql(pg, f"SELECT count(*) FROM {schema}.order_items") == [(0,)]
    assert s.stop() == 0


def test_unembed_kill9_keeps_tables_equal(pg, schema, mongo, tmp_path):
    coll = mongo.collection("orders")
    rnd = random.Random(7)
    next_item = [1000]

    def write(n):
        for _ in range(n):
            oid = rnd.randint(1, 15)
            r = rnd.random()
            if r < 0.25:
                coll.update_one({"_id": oid}, {"$set": {"customerName": f"c{rnd.randint(0, 99)}",
                                                         "total": f"{rnd.randint(0, 999)}.{rnd.randint(10, 99)}"}},
                                upsert=True)
            elif r < 0.55:
                next_item[0] += 1
                coll.update_one({"_id": oid}, {"$push": {"items": {"id": next_item[0], "sku": "s",
                                                                    "quantity": rnd.randint(1, 9)}}}, upsert=True)
            elif r < 0.7:
                d = coll.find_one({"_id": oid})
                if d and d.get("items"):
                    e = rnd.choice(d["items"])
                    coll.update_one({"_id": oid}, {"$pull": {"items": {"id": e["id"]}}})
                    other = rnd.randint(1, 15)
                    if rnd.random() < 0.5 and other != oid:  # moves to another order
                        coll.update_one({"_id": other}, {"$push": {"items": e}}, upsert=True)
            elif r < 0.8:
                coll.update_one({"_id": oid}, {"$set": {"note": {"id": 5000 + oid, "body": f"b{rnd.random():.3f}"}}},
                                upsert=True)
            elif r < 0.87:
                coll.update_one({"_id": oid}, {"$unset": {"note": ""}})
            else:
                coll.delete_one({"_id": oid})

    write(40)
    s = reverse(tmp_path, mongo, schema).run()
    for _ in range(4):
        write(60)
        time.sleep(rnd.uniform(0.2, 0.8))
        s.proc.kill()
        s.proc.wait(30)
        write(30)
        s.run()
    write(40)
    wait_same(pg, schema, coll, s, timeout=60)
    assert s.stop() == 0


def test_unembed_document_without_columns_is_rejected_alone(pg, schema, mongo, tmp_path):
    """A document with a field its table has no column for (schema.evolution=none) is a rejected record: with
    errors.tolerance=all it is logged and left out, and the documents around it are written."""
    coll = mongo.collection("orders")
    s = reverse(tmp_path, mongo, schema, errors_tolerance="all").run()
    s.wait_open()
    coll.insert_one({"_id": 1, "customerName": "ann", "items": [{"id": 11, "sku": "a", "quantity": 1}]})
    coll.insert_one({"_id": 2, "customerName": "bob", "color": "red"})
    coll.insert_one({"_id": 3, "customerName": "cy", "items": [{"id": 31, "sku": "c", "quantity": 3, "size": 9}]})
    coll.insert_one({"_id": 4, "customerName": "dee"})
    wait_until(lambda: sql(pg, f"SELECT id FROM {schema}.orders ORDER BY id") == [(1,), (4,)], 30, 0.2, "good rows")
    assert sql(pg, f"SELECT id FROM {schema}.order_items") == [(11,)]
    log = log_text(s)
    assert f"table {schema}.orders has no column 'color'" in log
    assert f"table {schema}.order_items has no column 'size'" in log
    assert s.stop() == 0


def test_unembed_refuses_what_it_cannot_invert(pg, schema, mongo, tmp_path):
    c = reverse(tmp_path, mongo, schema, **{"transforms.unembed.child.note.relationship": "merge"})
    r = run_cli("run", str(c.cfg_path))
    assert r.returncode != 0
    assert "transforms.unembed.child.note.relationship: merge cannot be turned back into rows" in r.stderr + r.stdout
    c.config["transforms.unembed.child.note.relationship"] = "object"
    c.config["transforms.unembed.child.note.path"] = "meta.note"
    c.write_config()
    r = run_cli("run", str(c.cfg_path))
    assert r.returncode != 0
    assert "transforms.unembed.child.note.path: 'meta.note' is a dotted path" in r.stderr + r.stdout
