"""sluice migrate: a two-module plan (PostgreSQL customers -> MongoDB `customers`; orders + order_items ->
MongoDB `orders` with embedded items; and back with unembed) run phase by phase: sync, verify, shadow (with approval), cutover, done, finish;
kill -9 of the runner in every phase, random writes on the side that takes the application's writes,
rollback from shadow and after cutover, bad plans refused. Tables and documents are compared by the
test itself (the rows each document holds) besides the plan's own verify gates.

The MongoDB server is mongo-java-server (scripts/mongo/README.md)."""
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import SLUICE, run_cli, sql, wait_until
from test_unembed import actual, expected, make_tables, mapping
from test_sql_sink import sink_config


_running = []


def stop_plans():
    """A failed test leaves no `sluice migrate run` behind (its sessions would hold the origins)."""
    while _running:
        p = _running.pop()
        if p.poll() is None:
            p.kill()
            p.wait(30)


@pytest.fixture
def schema(pg):
    s = make_tables(pg)
    sql(pg, f"CREATE TABLE {s}.customers (id int PRIMARY KEY, name text, email text)")
    yield s
    stop_plans()
    sql(pg, f"DROP SCHEMA {s} CASCADE")
    sql(pg, "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE %s",
        "sluice_mig%")


class Plan:
    def __init__(self, tmp_path, sluice, mongo, schema, phases=None, **over):
        self.dir, self.schema, self.mongo = tmp_path, schema, mongo
        tag = uuid.uuid4().hex[:6]
        self.name = f"mig_{tag}"
        fwd = sluice(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name,
                     decimal_handling_mode="string",
                     table_include_list=f"{schema}.orders,{schema}.order_items,{schema}.customers",
                     offset_storage_file_filename=str(tmp_path / "fwd-offsets.db"))
        fwd.config.pop("sink.file.path", None)
        fwd.config.update(mapping(schema, "embed"))
        for k in [k for k in fwd.config if ".child.note." in k]:
            del fwd.config[k]
        fwd.config["transforms.embed.children"] = "items"
        fwd.config.update({"transforms": "embed,cust", "transforms.cust.type": "embed",   # module 2: a plain table
                           "transforms.cust.root.table": f"{schema}.customers", "transforms.cust.collection": "customers"})
        rev = {"connector.class": "com.mongodb.kafka.connect.MongoSourceConnector", "connection.uri": mongo.uri,
               "database": mongo.db_name, "change.stream.full.document": "updateLookup",
               "offset.storage.file.filename": str(tmp_path / "rev-offsets.db"), "offset.flush.interval.ms": "100"}
        rev.update({k.replace("transforms.embed.", "transforms.unembed.").replace("transforms.cust.", "transforms.ucust."): v
                    for k, v in fwd.config.items() if k.startswith("transforms.")})
        rev.update({"transforms": "unembed,ucust", "transforms.unembed.type": "unembed", "transforms.ucust.type": "unembed"})
        rev.update(sink_config("pg", schema_evolution="none"))
        rev.pop("sink.file.path", None)
        self.fwd_cfg = fwd
        self.doc = {
            "name": self.name,
            "forward": {"name": f"{self.name}-fwd", "config": fwd.config},
            "reverse": {"name": f"{self.name}-rev", "config": rev},
            "phases": phases or [
                {"phase": "sync", "gates": {"lag.ms.max": 5000, "for.seconds": 1}},
                {"phase": "verify", "gates": {"differences.max": 0, "recheck.seconds": 20}},
                {"phase": "shadow", "gates": {"differences.max": 0, "window.seconds": 2, "check.every.seconds": 1,
                                              "approval": True}},
                {"phase": "cutover", "gates": {"reverse.lag.ms.max": 5000, "for.seconds": 1}},
                {"phase": "done"},
            ],
        }
        self.doc.update(over)
        self.path = tmp_path / "plan.json"
        self.path.write_text(json.dumps(self.doc))
        self.log = tmp_path / "migrate.log"
        self.proc = None

    def cli(self, *args):
        return run_cli("migrate", *args, str(self.path))

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([SLUICE, "migrate", "run", str(self.path)], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        _running.append(self.proc)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.logf.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        self.logf.close()
        return self.proc.returncode

    def state(self):
        try:
            return json.loads(self.path.with_name("plan.json.state").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def wait_phase(self, phase, timeout=90, **want):
        def at():
            st = self.state()
            if st.get("phase") == phase and all(st.get(k) == v for k, v in want.items()):
                return True
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"sluice migrate exited ({self.proc.returncode}):\n{self.log.read_text()[-4000:]}")
            return False
        try:
            wait_until(at, timeout, 0.1, f"phase {phase} {want}")
        except AssertionError:
            raise AssertionError(f"not in phase {phase} {want}: {self.state()}\n{self.log.read_text()[-4000:]}")


class PgWriter(threading.Thread):
    """Random application writes on PostgreSQL (orders and their items)."""

    def __init__(self, pg_params, schema, seed, races=False):
        super().__init__(daemon=True)
        import psycopg2
        self.conn = psycopg2.connect(**pg_params)
        self.conn.autocommit = True
        self.s, self.rnd, self.stop, self.n = schema, random.Random(seed), False, 0
        self.races = races  # MongoDB is written too: reverse may add an item to an order this deletes

    def run(self):
        import psycopg2
        while not self.stop:
            try:
                self.one()
            except psycopg2.errors.ForeignKeyViolation:
                if not self.races:
                    raise
            self.n += 1
            time.sleep(0.005)
        self.conn.close()

    def one(self):
        s, rnd = self.s, self.rnd
        if True:
            oid = rnd.randint(1, 12)
            r = rnd.random()
            with self.conn.cursor() as c:
                if r < 0.15:
                    c.execute(f"INSERT INTO {s}.customers VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE "
                              "SET name = EXCLUDED.name, email = EXCLUDED.email",
                              (oid, f"n{rnd.randint(0, 99)}", f"e{rnd.randint(0, 99)}@x"))
                elif r < 0.4:
                    c.execute(f"INSERT INTO {s}.orders VALUES (%s, %s, %s, NULL) ON CONFLICT (id) DO UPDATE "
                              "SET customer = EXCLUDED.customer, total = EXCLUDED.total",
                              (oid, f"c{rnd.randint(0, 99)}", rnd.randint(0, 9999) / 100))
                elif r < 0.75:
                    c.execute(f"INSERT INTO {s}.order_items SELECT %s, id, 's', %s FROM {s}.orders WHERE id = %s "
                              "ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty, order_id = EXCLUDED.order_id",
                              (1000 + rnd.randint(0, 60), rnd.randint(1, 9), oid))
                elif r < 0.9:
                    c.execute(f"DELETE FROM {s}.order_items WHERE id = %s", (1000 + rnd.randint(0, 60),))
                else:
                    c.execute(f"DELETE FROM {s}.order_items WHERE order_id = %s", (oid,))
                    c.execute(f"DELETE FROM {s}.orders WHERE id = %s", (oid,))


class MongoWriter(threading.Thread):
    """Random application writes on MongoDB after cutover."""

    def __init__(self, coll, seed):
        super().__init__(daemon=True)
        self.coll, self.rnd, self.stop, self.n = coll, random.Random(seed), False, 0

    def run(self):
        rnd, coll = self.rnd, self.coll
        while not self.stop:
            oid = rnd.randint(1, 12)
            r = rnd.random()
            if r < 0.1:
                self.coll.database["customers"].update_one({"_id": oid}, {"$set": {"name": f"m{rnd.randint(0, 9)}"}},
                                                          upsert=True)
            elif r < 0.4:
                coll.update_one({"_id": oid}, {"$set": {"customerName": f"m{rnd.randint(0, 99)}",
                                                         "total": f"{rnd.randint(0, 99)}.{rnd.randint(10, 99)}"}},
                                upsert=True)
            elif r < 0.8:
                iid = 2000 + rnd.randint(0, 60)
                coll.update_many({"items.id": iid}, {"$pull": {"items": {"id": iid}}})
                coll.update_one({"_id": oid}, {"$push": {"items": {"id": iid, "sku": "m",
                                                                    "quantity": rnd.randint(1, 9)}}}, upsert=True)
            elif r < 0.95:
                coll.update_one({"_id": oid}, {"$pull": {"items": {"id": 2000 + rnd.randint(0, 60)}}})
            else:
                coll.delete_one({"_id": oid})
            self.n += 1
            time.sleep(0.005)


def seed_rows(pg, s):
    sql(pg, f"INSERT INTO {s}.customers VALUES (1,'ann','a@x'),(2,'bob',NULL)")
    sql(pg, f"INSERT INTO {s}.orders VALUES (1,'ann',10.50,NULL),(2,'bob',NULL,NULL)")
    sql(pg, f"INSERT INTO {s}.order_items VALUES (11,1,'a',1),(12,1,'b',2),(21,2,'c',3)")


def customers(pg, s, coll):
    rows = set(sql(pg, f"SELECT id, name, email FROM {s}.customers"))
    docs = {(d["_id"], d.get("name"), d.get("email")) for d in coll.database["customers"].find()}
    return rows, docs


def same(pg, s, coll):
    a, e = actual(pg, s), expected(coll)
    rows, docs = customers(pg, s, coll)
    return (a[0], a[1]) == (e[0], e[1]) and rows == docs


def wait_same(pg, s, coll, plan, timeout=60):
    try:
        wait_until(lambda: same(pg, s, coll), timeout, 0.2, "tables == documents")
    except AssertionError:
        a, e = actual(pg, s), expected(coll)
        rows, docs = customers(pg, s, coll)
        diff = [(what, sorted(x - y), sorted(y - x)) for what, x, y in
                (("orders", a[0], e[0]), ("items", a[1], e[1]), ("customers", rows, docs)) if x != y]
        raise AssertionError(f"tables != documents (only in tables, only in documents): {diff}\n"
                             f"{plan.log.read_text()[-3000:]}")


def test_plan_runs_to_done_with_kill9_in_every_phase(pg, schema, sluice, mongo, tmp_path):
    from conftest import pg_params
    s = schema
    coll = mongo.collection("orders")
    seed_rows(pg, s)
    p = Plan(tmp_path, sluice, mongo, s)
    assert p.cli("validate").returncode == 0
    w = PgWriter(pg_params(), s, 1)
    w.start()
    p.start()
    p.wait_phase("sync")
    r = p.cli("approve")                                        # approval is the shadow phase's
    assert r.returncode == 1 and "approve is the shadow phase's gate" in r.stderr, r.stderr
    time.sleep(0.5)
    p.kill9()                                                   # 1. killed in sync
    p.start()
    p.wait_phase("verify")
    p.kill9()                                                   # 2. in verify (the writer goes on)
    w.stop = True                                               # verify needs a quiet moment to see 0 differences
    w.join(10)
    p.start()
    p.wait_phase("shadow")
    w = PgWriter(pg_params(), s, 2)
    w.start()
    time.sleep(1.0)
    p.kill9()                                                   # 3. in shadow
    w.stop = True
    w.join(10)
    p.start()
    p.wait_phase("shadow")
    st = p.cli("status")
    assert st.returncode == 0 and "approval needed" in st.stdout, st.stdout
    assert p.cli("approve").returncode == 0
    p.wait_phase("cutover", reverse_started=True)               # the writes move to MongoDB here
    p.kill9()                                                   # 4. in cutover
    mw = MongoWriter(coll, 3)
    mw.start()
    p.start()
    p.wait_phase("done")
    time.sleep(0.5)
    p.kill9()                                                   # 5. in done
    p.start()
    p.wait_phase("done")
    mw.stop = True
    mw.join(10)
    assert mw.n > 0 and w.n > 0
    wait_same(pg, s, coll, p)                                   # reverse keeps the tables current
    assert p.cli("finish").returncode == 0
    p.wait_phase("done", finished=True)
    assert p.proc.wait(60) == 0
    p.logf.close()
    st = p.state()
    assert st["last_differences"] == 0, st
    events = [h["event"] for h in st["history"]]
    for want in ("phase verify", "phase shadow", "approved in phase shadow", "phase cutover", "phase done",
                 "finished: reverse stopped; the last verify found 0 differences"):
        assert any(e.startswith(want) for e in events), (want, events)
    assert sum(e.startswith("resumed in phase") for e in events) == 5
    # the state is kept: a finished plan says so
    assert "phase done (finished)" in p.cli("status").stdout


def test_rollback_from_shadow_and_after_cutover(pg, schema, sluice, mongo, tmp_path):
    from conftest import pg_params
    s = schema
    coll = mongo.collection("orders")
    seed_rows(pg, s)
    p = Plan(tmp_path, sluice, mongo, s)
    p.start()
    p.wait_phase("shadow")
    assert p.cli("approve").returncode == 0
    p.wait_phase("cutover", reverse_started=True)
    mw = MongoWriter(coll, 4)
    mw.start()
    time.sleep(1.5)
    mw.stop = True                                              # the application stops writing MongoDB ...
    mw.join(10)
    assert p.cli("rollback").returncode == 0                    # ... and goes back to PostgreSQL
    p.wait_phase("shadow", rolling_back=False)
    wait_same(pg, s, coll, p)
    st = p.state()
    assert any(h["event"] == "rollback: verify found 0 differences" for h in st["history"]), st["history"]
    w = PgWriter(pg_params(), s, 5)                             # forward runs again from where it stopped
    w.start()
    time.sleep(1.5)
    w.stop = True
    w.join(10)
    wait_same(pg, s, coll, p)
    # before cutover a rollback stops forward and drops nothing
    assert p.cli("rollback").returncode == 0
    p.wait_phase("rolled-back")
    assert p.proc.wait(60) == 0
    p.logf.close()
    n = coll.count_documents({})
    assert n > 0
    sql(pg, f"INSERT INTO {s}.orders VALUES (99,'late',1,NULL)")
    time.sleep(1.5)
    assert coll.find_one({"_id": 99}) is None                   # forward is stopped
    r = p.cli("run")
    assert r.returncode == 1 and "rolled back before cutover" in r.stderr


def test_bad_plans_are_refused(pg, schema, sluice, mongo, tmp_path):
    p = Plan(tmp_path, sluice, mongo, schema)
    cases = [
        (lambda d: d["phases"].insert(1, {"phase": "dual-write"}),
         "phases[1].phase: 'dual-write' is not a phase (allowed: sync, verify, shadow, cutover, done)"),
        (lambda d: d["phases"][0]["gates"].pop("lag.ms.max"),
         "phases[0].gates.lag.ms.max: phase sync needs this bound (a gate with no bound cannot pass)"),
        (lambda d: d["phases"][1]["gates"].update({"lag.ms.max": 5}),
         "phases[1].gates.lag.ms.max: not a gate of phase verify (allowed: differences.max, recheck.seconds)"),
        (lambda d: d["reverse"]["config"].update({"transforms.unembed.root.fields.rename": "customer:name"}),
         "reverse: transforms.unembed.root.fields.rename is 'customer:name' but the forward embed's "
         "transforms.embed.root.fields.rename is 'customer:customerName': the reverse mapping does not invert"),
        (lambda d: d["reverse"]["config"].update({"transforms": "unembed"}),
         "reverse: the forward connector embeds {s}.customers (transforms.cust.type=embed) but the reverse one has no "
         "unembed transform with that root.table"),
        (lambda d: d["phases"].pop(), "phases: phase done is missing"),
        (lambda d: d["phases"].reverse(), "comes after a later phase"),
        (lambda d: d.update({"extra": 1}),
         "extra: unknown key (allowed: name, state.file, forward, reverse, phases, conflict.policy)"),
        (lambda d: d.update({"conflict.policy": "first-wins"}),
         "conflict.policy: 'first-wins' is not a policy (allowed: source-wins, target-wins, latest-timestamp)"),
        (lambda d: d["phases"][0].update({"two.way": True}), "phases[0].two.way: unknown key (allowed: phase, gates)"),
    ]
    for change, want in cases:
        want = want.replace("{s}", schema)
        d = json.loads(json.dumps(p.doc))
        change(d)
        p.path.write_text(json.dumps(d))
        r = p.cli("validate")
        assert r.returncode == 2 and want in r.stderr, (want, r.stderr)
        r = p.cli("run")
        assert r.returncode == 2 and want in r.stderr
    assert not p.path.with_name("plan.json.state").exists()


def test_plans_in_the_daemon(pg, schema, sluice, mongo, tmp_path):
    """sluice serve with migration.plans: GET /migrations(/<name>), POST approve / finish, the metrics; a bad plan
    keeps the daemon from starting."""
    from test_rest import Serve
    s = schema
    coll = mongo.collection("orders")
    seed_rows(pg, s)
    p = Plan(tmp_path, sluice, mongo, s)
    srv = Serve(tmp_path, **{"migration.plans": str(p.path)}).start()
    _running.append(srv.proc)
    name = p.name
    try:
        def phase(want, **more):
            def at():
                st = srv.ok("GET", f"/migrations/{name}")
                return st["phase"] == want and all(st.get(k) == v for k, v in more.items())
            wait_until(at, 90, 0.2, f"phase {want}")
        phase("shadow")
        lst = srv.ok("GET", "/migrations")
        assert [m["plan"] for m in lst] == [name] and lst[0]["running"] is True
        st, body, _ = srv.req("POST", f"/migrations/{name}/finish")
        assert st == 409 and "finish retires it in phase done" in body["message"]
        assert srv.req("GET", "/migrations/nope")[0] == 404
        r = p.cli("run")                                        # one run per plan
        assert r.returncode == 1 and f"plan {name} is already running" in r.stdout + r.stderr
        assert srv.ok("POST", f"/migrations/{name}/approve", want=202)["request"] == "approve"
        phase("done")
        coll.update_one({"_id": 1}, {"$set": {"customerName": "via-daemon"}})
        wait_until(lambda: sql(pg, f"SELECT customer FROM {s}.orders WHERE id = 1") == [("via-daemon",)], 30, 0.2,
                   "reverse in the daemon")
        metrics = srv.ok("GET", "/metrics")
        assert f'sluice_migration_phase{{migration="{name}",phase="done"}} 1' in metrics
        assert f'sluice_migration_phase{{migration="{name}",phase="shadow"}} 0' in metrics
        assert f'sluice_migration_running{{migration="{name}"}} 1' in metrics
        srv.ok("POST", f"/migrations/{name}/finish", want=202)
        phase("done", finished=True, running=False)
        assert "last_differences" in srv.ok("GET", f"/migrations/{name}")
    finally:
        assert srv.stop() == 0
    # the status command reads the same state
    assert "phase done (finished)" in p.cli("status").stdout
    # a plan that is not valid: the daemon does not start, and says which key and why
    bad = json.loads(p.path.read_text())
    bad["phases"][0]["gates"] = {}
    p.path.write_text(json.dumps(bad))
    srv2 = Serve(tmp_path, **{"migration.plans": str(p.path)})
    srv2.start(wait=False)
    assert srv2.proc.wait(30) != 0
    srv2.logf.close()
    assert f"migration.plans: {p.path}: phases[0].gates.lag.ms.max: phase sync needs this bound" in srv2.log_text()


def two_way_phases():
    return [
        {"phase": "sync", "gates": {"lag.ms.max": 5000, "for.seconds": 1}},
        {"phase": "shadow", "two.way": True,
         "gates": {"differences.max": 0, "window.seconds": 3600, "check.every.seconds": 1}},
        {"phase": "cutover", "gates": {"reverse.lag.ms.max": 5000}},
        {"phase": "done"},
    ]


def xmin(pg, s, oid):
    return sql(pg, f"SELECT xmin::text FROM {s}.orders WHERE id = %s", oid)[0][0]


def no_echo(pg, s, coll):
    """A write on each side crosses once: the other connector does not send it back (the MongoDB document keeps
    forward's mark, the PostgreSQL rows their row version)."""
    coll.update_one({"_id": 4}, {"$set": {"customerName": "from-mongo"}})
    wait_until(lambda: sql(pg, f"SELECT customer FROM {s}.orders WHERE id = 4") == [("from-mongo",)], 30, 0.1,
               "reverse applied the MongoDB write")
    mark, x4 = coll.find_one({"_id": 4})["__sluice_origin"], xmin(pg, s, 4)
    sql(pg, f"UPDATE {s}.orders SET customer = 'from-pg' WHERE id = 3")
    wait_until(lambda: (coll.find_one({"_id": 3}) or {}).get("customerName") == "from-pg", 30, 0.1,
               "forward applied the PostgreSQL write")
    x3 = xmin(pg, s, 3)
    time.sleep(2.5)
    assert coll.find_one({"_id": 4})["__sluice_origin"] == mark, "the MongoDB write came back through forward"
    assert xmin(pg, s, 3) == x3 and xmin(pg, s, 4) == x4, "a write came back through reverse"


@pytest.mark.parametrize("policy", ["source-wins", "target-wins", "latest-timestamp"])
def test_two_way_shadow_conflicts(pg, schema, sluice, mongo, tmp_path, policy):
    """shadow with two.way: both sides take writes, neither connector sends the other's back, and a document
    changed on both sides before either change crossed (made here while the plan is stopped, so that both are
    certain to cross) ends as conflict.policy says on both sides, counted and logged with both versions."""
    s = schema
    coll = mongo.collection("orders")
    seed_rows(pg, s)
    sql(pg, f"INSERT INTO {s}.orders VALUES (3,'cy',3,NULL),(4,'dee',4,NULL)")
    sql(pg, f"INSERT INTO {s}.order_items VALUES (31,3,'d',1),(22,2,'e',1)")
    p = Plan(tmp_path, sluice, mongo, s, phases=two_way_phases(), **{"conflict.policy": policy})
    r = p.cli("validate")                                     # reverse must carry post-images
    assert r.returncode == 2 and "change.stream.full.document is 'updateLookup'; a two-way shadow needs required" \
        in r.stderr, r.stderr
    p.doc["reverse"]["config"]["change.stream.full.document"] = "required"
    p.path.write_text(json.dumps(p.doc))
    for c in ("orders", "customers"):
        mongo.collection(c).database.command({"create": c}) if c not in mongo.collection(c).database.list_collection_names() else None
        mongo.collection(c).database.command({"collMod": c, "changeStreamPreAndPostImages": {"enabled": True}})
    p.start()
    p.wait_phase("shadow", reverse_started=True)
    if policy == "source-wins":                   # each side's own writes cross once and do not come back
        no_echo(pg, s, coll)
    # conflicts: both sides change the same documents while nothing syncs (latest-timestamp: after a kill -9)
    if policy == "latest-timestamp":
        p.kill9()
    else:
        assert p.stop() == 0
    coll.update_one({"_id": 3}, {"$set": {"customerName": "m3"}})                 # MongoDB first ...
    time.sleep(1.2)
    for k in (1, 2, 3):                                                           # ... then PostgreSQL ...
        sql(pg, f"UPDATE {s}.orders SET customer = %s WHERE id = %s", f"p{k}", k)
    sql(pg, f"UPDATE {s}.order_items SET qty = 70 WHERE id = 11")
    time.sleep(1.2)
    coll.update_one({"_id": 1}, {"$set": {"customerName": "m1", "items.0.quantity": 80}})  # ... then MongoDB
    coll.delete_one({"_id": 2})
    p.start()
    want = {"source-wins": {1: ("p1", 70), 2: "p2", 3: "p3"},
            "target-wins": {1: ("m1", 80), 2: None, 3: "m3"},
            "latest-timestamp": {1: ("m1", 80), 2: None, 3: "p3"}}[policy]
    src_won = {"source-wins": 3, "target-wins": 0, "latest-timestamp": 1}[policy]

    def resolved():
        c = p.state().get("conflicts", {})
        return c.get("source_won", 0) + c.get("target_won", 0) >= 3
    wait_until(resolved, 60, 0.2, "three conflicts resolved")
    wait_same(pg, s, coll, p)
    c = p.state()["conflicts"]
    assert (c["policy"], c["source_won"], c["target_won"]) == (policy, src_won, 3 - src_won), c
    assert sorted(r["_id"] for r in c["recent"]) == ["1", "2", "3"], c["recent"]
    one = next(r for r in c["recent"] if r["_id"] == "1")
    assert {"table", "source", "target"} <= set(one["rows"][0])                 # both versions
    got = {k: sql(pg, f"SELECT customer FROM {s}.orders WHERE id = %s", k) for k in (1, 2, 3)}
    assert got[1] == [(want[1][0],)] and got[3] == [(want[3],)], got
    assert sql(pg, f"SELECT qty FROM {s}.order_items WHERE id = 11") == [(want[1][1],)]
    assert got[2] == ([] if want[2] is None else [(want[2],)]), got
    assert (coll.find_one({"_id": 2}) is None) == (want[2] is None)
    log = p.log.read_text()
    assert "conflict on orders _id 1 (changed on both sides" in log and "the rows that differed" in log, log[-3000:]
    assert f"(conflicts: {policy})" in p.state()["next"]
    st = p.cli("status").stdout
    assert f"conflicts ({policy}): 3 resolved" in st, st
    if policy == "source-wins":                   # random writes on both sides for a while: both converge
        time.sleep(2.5)                                                           # resolved once, not again
        c2 = p.state()["conflicts"]
        assert c2["source_won"] + c2["target_won"] == 3, c2
        from conftest import pg_params
        w, mw = PgWriter(pg_params(), s, 7, races=True), MongoWriter(coll, 8)
        w.start(), mw.start()
        time.sleep(3)
        w.stop = mw.stop = True
        w.join(10), mw.join(10)
        assert w.n > 0 and mw.n > 0
        wait_same(pg, s, coll, p, timeout=90)
    # a rollback from a two-way shadow: what MongoDB took reaches PostgreSQL before both stop
    coll.update_one({"_id": 4}, {"$set": {"customerName": "last"}}, upsert=True)  # (the random writes may have
    assert p.cli("rollback").returncode == 0                                         # deleted it)
    p.wait_phase("rolled-back")
    assert p.proc.wait(60) == 0
    p.logf.close()
    assert sql(pg, f"SELECT customer FROM {s}.orders WHERE id = 4") == [("last",)]
    assert any(h["event"].startswith("rollback: reverse ran to MongoDB's position") for h in p.state()["history"])
