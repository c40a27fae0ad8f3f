"""Relational -> document embedding (transforms type=embed): PostgreSQL orders + order_items +
order_notes -> one MongoDB `orders` collection, items as a sorted array, the note as a sub-document.

The MongoDB server is mongo-java-server (scripts/mongo/README.md); the writes the transform makes
($set/$push with $each+$sort/$pull/$unset, updateMany) are plain MongoDB update operators it
supports. The collection must equal what the tables say after random inserts, updates, deletes,
re-parenting, and SIGKILLs of sluice.
"""
import random
import threading
import time
from decimal import Decimal

import psycopg2

from conftest import log_text, pg_params, run_cli, sql, start_run, wait_streaming, wait_until


def embed_sluice(sluice, mongo, orders, items, notes, **extra):
    s = sluice(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name,
               decimal_handling_mode="string",
               table_include_list=f"public.{orders},public.{items},public.{notes}")
    s.config.pop("sink.file.path", None)
    s.config.update({
        "transforms": "embed",
        "transforms.embed.type": "embed",
        "transforms.embed.root.table": f"public.{orders}",
        "transforms.embed.root.fields.rename": "customer:customerName",
        "transforms.embed.collection": "orders",
        "transforms.embed.children": "items,note",
        "transforms.embed.child.items.table": f"public.{items}",
        "transforms.embed.child.items.parent.key": "order_id",
        "transforms.embed.child.items.fields.exclude": "order_id",
        "transforms.embed.child.items.fields.rename": "qty:quantity",
        "transforms.embed.child.note.table": f"public.{notes}",
        "transforms.embed.child.note.parent.key": "order_id",
        "transforms.embed.child.note.relationship": "object",
        "transforms.embed.child.note.fields.exclude": "order_id",
    })
    s.config.update(extra)
    return s


def make_tables(pg, tables):
    # `tables` drops in creation order, which the foreign keys refuse for the parent: drop all first.
    sql(pg, "DROP TABLE IF EXISTS emb_items, emb_notes, emb_orders CASCADE")
    o = tables("emb_orders", "id int PRIMARY KEY, customer text, total numeric(10,2)")
    i = tables("emb_items", "id int PRIMARY KEY, order_id int REFERENCES emb_orders(id) ON DELETE CASCADE, "
                            "sku text, qty int")
    n = tables("emb_notes", "id int PRIMARY KEY, order_id int UNIQUE REFERENCES emb_orders(id) ON DELETE CASCADE, "
                            "body text")
    return o, i, n


def expected(pg, o, i, n):
    """The tables as documents: {_id, customerName, total, items: [..sorted by id..], note: {..}}."""
    out = {}
    for oid, cust, total in sql(pg, f"SELECT id, customer, total FROM {o}"):
        out[oid] = {"_id": oid, "customerName": cust, "total": None if total is None else str(total), "items": []}
    for iid, oid, sku, qty in sql(pg, f"SELECT id, order_id, sku, qty FROM {i} ORDER BY id"):
        if oid is not None:
            out[oid]["items"].append({"id": iid, "sku": sku, "quantity": qty})
    for nid, oid, body in sql(pg, f"SELECT id, order_id, body FROM {n}"):
        if oid is not None:
            out[oid]["note"] = {"id": nid, "body": body}
    return out


def actual(coll):
    out = {}
    for d in coll.find():
        d.setdefault("items", [])  # an order whose items were all removed keeps an empty array
        if "note" in d and d["note"] is None:
            del d["note"]
        out[d["_id"]] = d
    return out


def wait_same(pg, coll, tabs, s, timeout=40):
    def same():
        if s.proc and s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s)[-3000:]}")
        return actual(coll) == expected(pg, *tabs)
    try:
        wait_until(same, timeout, 0.2, "orders collection == tables")
    except AssertionError:
        a, e = actual(coll), expected(pg, *tabs)
        diff = {k: (a.get(k), e.get(k)) for k in set(a) | set(e) if a.get(k) != e.get(k)}
        raise AssertionError(f"collection differs from the tables in {len(diff)} documents: "
                             f"{list(diff.items())[:5]}\n{log_text(s)[-2000:]}")


def test_embed_snapshot_stream_and_reparent(pg, tables, sluice, mongo):
    o, i, n = make_tables(pg, tables)
    sql(pg, f"INSERT INTO {o} VALUES (1,'ann',10.50),(2,'bob',NULL)")
    sql(pg, f"INSERT INTO {i} VALUES (11,1,'a',1),(12,1,'b',2),(21,2,'c',3)")
    sql(pg, f"INSERT INTO {n} VALUES (100,1,'leave at door')")
    s = embed_sluice(sluice, mongo, o, i, n)
    start_run(s)
    coll = mongo.collection("orders")
    wait_until(lambda: coll.count_documents({}) == 2, 30, 0.1, "snapshot documents")
    wait_same(pg, coll, (o, i, n), s)
    assert coll.find_one({"_id": 1}) == {
        "_id": 1, "customerName": "ann", "total": "10.50",
        "items": [{"id": 11, "sku": "a", "quantity": 1}, {"id": 12, "sku": "b", "quantity": 2}],
        "note": {"id": 100, "body": "leave at door"}}
    wait_streaming(s)
    sql(pg, f"INSERT INTO {i} VALUES (13,1,'z',9)")            # new element, sorted in
    sql(pg, f"UPDATE {i} SET qty = 5 WHERE id = 11")            # element updated in place
    sql(pg, f"UPDATE {i} SET order_id = 2 WHERE id = 12")       # moves to another parent
    sql(pg, f"UPDATE {n} SET order_id = 2 WHERE id = 100")      # the one-to-one child moves too
    sql(pg, f"UPDATE {o} SET customer = 'Ann' WHERE id = 1")    # root fields change, embedded stay
    sql(pg, f"DELETE FROM {i} WHERE id = 21")                   # key-only before image: found by its id
    sql(pg, f"INSERT INTO {o} VALUES (3,'cy',1.00)")
    wait_same(pg, coll, (o, i, n), s)
    assert coll.find_one({"_id": 2})["items"] == [{"id": 12, "sku": "b", "quantity": 2}]
    assert "note" not in coll.find_one({"_id": 1})
    assert coll.find_one({"_id": 1})["customerName"] == "Ann"
    sql(pg, f"DELETE FROM {o} WHERE id = 2")                    # cascade: the order and its children
    wait_same(pg, coll, (o, i, n), s)
    assert coll.find_one({"_id": 2}) is None
    assert s.stop() == 0


class Writer(threading.Thread):
    """Random orders traffic; every statement commits on its own except for the odd transaction."""

    def __init__(self, o, i, n):
        super().__init__(daemon=True)
        self.o, self.i, self.n = o, i, n
        self.rnd, self.stop, self.error, self.statements = random.Random(11), threading.Event(), None, 0
        self.conn = psycopg2.connect(**pg_params())
        self.conn.autocommit = True

    def run(self):
        o, i, n, rnd = self.o, self.i, self.n, self.rnd
        try:
            with self.conn.cursor() as c:
                while not self.stop.is_set():
                    r, oid, iid = rnd.random(), rnd.randrange(1, 60), rnd.randrange(1000, 1400)
                    if r < 0.15:
                        c.execute(f"INSERT INTO {o} VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                                  "customer = excluded.customer", (oid, f"c{rnd.randrange(99)}", Decimal("9.99")))
                    elif r < 0.45:
                        c.execute(f"INSERT INTO {i} SELECT %s, id, %s, %s FROM {o} WHERE id = %s "
                                  "ON CONFLICT (id) DO UPDATE SET qty = excluded.qty", (iid, "s", rnd.randrange(9), oid))
                    elif r < 0.6:
                        c.execute(f"UPDATE {i} SET order_id = %s WHERE id = %s AND EXISTS "
                                  f"(SELECT 1 FROM {o} WHERE id = %s)", (oid, iid, oid))
                    elif r < 0.7:
                        c.execute(f"UPDATE {i} SET qty = qty + 1, sku = %s WHERE id = %s", ("u", iid))
                    elif r < 0.8:
                        c.execute(f"DELETE FROM {i} WHERE id = %s", (iid,))
                    elif r < 0.86:
                        c.execute(f"INSERT INTO {n} SELECT %s, id, %s FROM {o} WHERE id = %s ON CONFLICT DO NOTHING",
                                  (iid, "n", oid))
                    elif r < 0.9:
                        c.execute(f"UPDATE {o} SET total = total + 1 WHERE id = %s", (oid,))
                    elif r < 0.93:
                        c.execute(f"DELETE FROM {o} WHERE id = %s", (oid,))
                    else:
                        c.execute("BEGIN")
                        for _ in range(4):
                            c.execute(f"UPDATE {i} SET qty = qty + 1 WHERE id = %s", (rnd.randrange(1000, 1400),))
                        c.execute(f"UPDATE {o} SET customer = 'tx' WHERE id = %s", (oid,))
                        c.execute("COMMIT")
                    self.statements += 1
                    time.sleep(0.001)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.conn.close()


def test_embed_kill9_keeps_collection_equal(pg, tables, sluice, mongo):
    o, i, n = make_tables(pg, tables)
    sql(pg, f"INSERT INTO {o} SELECT g, 'p', 1.00 FROM generate_series(1, 59) g")
    sql(pg, f"INSERT INTO {i} SELECT 1000 + g, 1 + g % 59, 'p', 1 FROM generate_series(0, 199) g")
    s = embed_sluice(sluice, mongo, o, i, n)
    coll = mongo.collection("orders")
    start_run(s)
    # Kills start after the snapshot: an interrupted snapshot is taken again, and rows deleted in
    # between have no delete event (a known limit of re-snapshots, see docs/connectors/mongodb.md).
    wait_streaming(s)
    wait_same(pg, coll, (o, i, n), s)
    w = Writer(o, i, n)
    w.start()
    rnd = random.Random(5)
    for _ in range(4):
        time.sleep(rnd.uniform(0.5, 1.5))
        s.kill9()
        time.sleep(rnd.uniform(0, 0.3))
        start_run(s)
    time.sleep(1)
    w.stop.set()
    w.join(10)
    assert w.error is None, w.error
    assert w.statements > 500, w.statements
    wait_same(pg, coll, (o, i, n), s, timeout=60)
    assert s.stop() == 0


def test_embed_bad_config_names_the_key(pg, cfg, mongo):
    cases = [
        ({"transforms.e.child.c.table": "public.x"}, "transforms.e.child.c.parent.key: required"),
        ({"transforms.e.child.c.table": "public.x", "transforms.e.child.c.parent.key": "a",
          "transforms.e.child.c.relationship": "tree"},
         "transforms.e.child.c.relationship: 'tree' is not allowed (allowed: array, object, merge)"),
        ({"transforms.e.child.c.table": "public.x", "transforms.e.child.c.parent.key": "a,b"},
         "transforms.e.child.c.parent.key: 2 columns, but root.key names 0"),
        ({"transforms.e.child.c.table": "public.x", "transforms.e.child.c.parent.key": "a",
          "transforms.e.child.c.fields.rename": "nocolon"},
         "transforms.e.child.c.fields.rename: 'nocolon' is not old:new"),
    ]
    for extra, want in cases:
        s = cfg(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name)
        s.config.pop("sink.file.path", None)
        s.config.update({"transforms": "e", "transforms.e.type": "embed", "transforms.e.root.table": "public.o",
                         "transforms.e.children": "c"})
        s.config.update(extra)
        s.write_config()
        r = run_cli("validate", str(s.cfg_path), timeout=30)
        out = r.stdout + r.stderr
        assert r.returncode == 2 and want in out, (want, out)
