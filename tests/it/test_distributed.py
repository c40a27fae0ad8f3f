"""Distributed mode: `sluice serve` workers with one group.id share the connectors through a Kafka consumer group
over the task slots topic (a connector runs on the worker that holds its slot), read every change to the shared
config topic whichever worker's REST API took it, and a worker killed with -9 has its connectors run by another
after session.timeout.ms, from their offsets in the worker's offset topic, losing no change. A worker frozen past
its session (SIGSTOP) is fenced: the one that takes its connectors over terminates the PostgreSQL backend that
still holds the slot, kills the MariaDB binlog connection that holds the connector's lock, and registers the
transactional ids again, so the frozen one's late writes are refused once it runs again."""
import json
import os
import signal
import threading
import time
import uuid

from conftest import MySluice, my_make_table, mysql, payload, sql, wait_until
from test_rest import Serve, events, ids, table, wait_events
from test_rest import pgc, serve  # noqa: F401 (fixtures)


def slot_of(name, n):
    """The worker's slot of a connector: FNV-1a (32 bits) of its name, modulo the slots."""
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % n


def owned(s):
    return set(s.ok("GET", "/")["task_slots"]["owned"])


def test_two_workers_share_connectors_and_take_over(pg, pgc, kafka, tmp_path):
    conf = {"config.storage": "kafka", "config.storage.topic": kafka.topic("configs"),
            "bootstrap.servers": kafka.bootstrap, "group.id": "g" + uuid.uuid4().hex[:8],
            "task.slots.topic": kafka.topic("slots"), "task.slots": "8",
            "session.timeout.ms": "6000", "heartbeat.interval.ms": "500",
            "status.storage.topic": kafka.topic("status")}
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = Serve(tmp_path / "a", **conf).start()
    b = Serve(tmp_path / "b", **conf).start()
    try:
        # the group gives each worker some of the 8 slots, none to both
        wait_until(lambda: owned(a) and owned(b) and not owned(a) & owned(b) and len(owned(a) | owned(b)) == 8, 60,
                   0.2, "the slots shared by both workers")
        root = a.ok("GET", "/")
        assert root["worker_id"] == f"127.0.0.1:{a.port}" and root["task_slots"]["total"] == 8
        mine = {a: owned(a), b: owned(b)}
        # two connectors in each worker's slots, all created through a's REST API
        names = {a: [], b: []}
        i = 0
        while len(names[a]) < 2 or len(names[b]) < 2:
            n = f"dist{i}"
            i += 1
            for w in (a, b):
                if slot_of(n, 8) in mine[w] and len(names[w]) < 2:
                    names[w].append(n)
        cfgs = {}
        for w in (a, b):
            for n in names[w]:
                t = table(pg, f"dist_{n}_{uuid.uuid4().hex[:4]}", [1])
                cfgs[n] = (t, pgc.config(t))
                a.ok("POST", "/connectors", {"name": n, "config": cfgs[n][1]}, want=201)
        for w, other in ((a, b), (b, a)):
            for n in names[w]:
                st = w.wait_state(n, "RUNNING")
                assert st["connector"]["worker_id"] == f"127.0.0.1:{w.port}"
                assert st["tasks"][0]["worker_id"] == f"127.0.0.1:{w.port}"
                wait_until(lambda: n in other.ok("GET", "/connectors"), 10, 0.05, f"{n} on the other worker")
                st = other.wait_state(n, "RUNNING")                      # the other answers with the owner's
                assert st["connector"]["worker_id"] == f"127.0.0.1:{w.port}", st
                assert ids(wait_events(w, cfgs[n][1], 1)) == [1]
        # the status topic holds Connect's records
        recs = {r["key"].decode(): json.loads(r["value"]) for r in kafka.consume_all(conf["status.storage.topic"])
                if r["value"] is not None}
        n = names[b][0]
        assert recs[f"status-connector-{n}"]["state"] == "RUNNING", recs
        assert recs[f"status-connector-{n}"]["worker_id"] == f"127.0.0.1:{b.port}"
        assert set(recs[f"status-task-{n}-0"]) == {"state", "trace", "worker_id", "generation"}
        assert sorted(b.ok("GET", "/connectors")) == sorted(names[a] + names[b])
        # a worker killed: the other runs its connectors once its session has ended, from the slot's position
        for n in names[a]:
            sql(pg, f"INSERT INTO {cfgs[n][0]} VALUES (2, 'v2')")
        assert a.stop(signal.SIGKILL) == -signal.SIGKILL
        for n in names[a]:
            sql(pg, f"INSERT INTO {cfgs[n][0]} VALUES (3, 'v3')")
        wait_until(lambda: len(owned(b)) == 8, 60, 0.2, "worker b to hold every slot")
        for n in names[a] + names[b]:
            st = b.wait_state(n, "RUNNING", timeout=30)
            assert st["connector"]["worker_id"] == f"127.0.0.1:{b.port}", st
        for n in names[a]:
            got = ids(wait_events(b, cfgs[n][1], 3, timeout=30))
            assert set(got) == {1, 2, 3}, (n, got)       # nothing lost (at least once: repeats may come)
        m = b.req("GET", "/metrics")[1]
        assert f'sluice_worker_task_slots{{worker_id="127.0.0.1:{b.port}",state="owned"}} 8' in m, m[-2000:]
        assert f'sluice_connector_assigned{{connector="{names[a][0]}",task="0",worker_id="127.0.0.1:{b.port}"}} 1' in m
        for n in names[b]:                               # b's own went on
            sql(pg, f"INSERT INTO {cfgs[n][0]} VALUES (4, 'v4')")
            assert 4 in ids(wait_events(b, cfgs[n][1], 2))
        # changes through b reach a worker that starts again (it reads the config topic), whichever runs them
        p, r = names[a][0], names[b][0]
        b.ok("PUT", f"/connectors/{p}/pause", want=202)
        a.start()
        wait_until(lambda: len(owned(a)) > 0 and len(owned(a) | owned(b)) == 8 and not owned(a) & owned(b), 60, 0.2,
                   "the slots shared again")

        def owner(n):
            return a if slot_of(n, 8) in owned(a) else b
        owner(p).wait_state(p, "PAUSED")
        new = dict(cfgs[r][1], **{"sink.file.path": cfgs[r][1]["sink.file.path"] + ".new"})
        b.ok("PUT", f"/connectors/{r}/config", new)                  # reconfigured through b
        wait_until(lambda: os.path.exists(new["sink.file.path"]), 30, 0.1, "the owner to run the new config")
        sql(pg, f"INSERT INTO {cfgs[r][0]} VALUES (5, 'v5')")
        assert 5 in ids(wait_events(owner(r), new, 1))
    finally:
        a.stop(), b.stop()
    assert not any("ERROR" in line and "group" in line for line in b.log_text().splitlines()), b.log_text()[-3000:]


def group_conf(kafka, **over):
    conf = {"config.storage": "kafka", "config.storage.topic": kafka.topic("configs"),
            "bootstrap.servers": kafka.bootstrap, "group.id": "g" + uuid.uuid4().hex[:8],
            "task.slots.topic": kafka.topic("slots"), "task.slots": "8",
            "session.timeout.ms": "6000", "heartbeat.interval.ms": "500",
            "status.storage.topic": kafka.topic("status"), "offset.storage.topic": kafka.topic("offsets"),
            "offset.storage.partitions": "5"}
    conf.update(over)
    return conf


def names_in(slots, prefix, n, total=8):
    """n connector names whose slots are among slots."""
    out, i = [], 0
    while len(out) < n:
        if slot_of(f"{prefix}{i}", total) in slots:
            out.append(f"{prefix}{i}")
        i += 1
    return out


def start_group(tmp_path, conf, names="ab"):
    """One worker per letter of names (its own directory), started; returns them once the group has given each
    some of the slots, and every slot to one of them."""
    total = int(conf["task.slots"])
    ws = []
    for d in names:
        (tmp_path / d).mkdir()
        ws.append(Serve(tmp_path / d, **conf).start())
    try:
        wait_until(lambda: all(owned(w) for w in ws) and len(set().union(*map(owned, ws))) == total and
                   sum(len(owned(w)) for w in ws) == total, 60, 0.2, f"the slots shared by {len(ws)} workers")
    except BaseException:
        for w in ws:
            w.stop()
        raise
    return ws


class Inserts(threading.Thread):
    """Inserts rows 2, 3, ... into a PostgreSQL and a MariaDB table, one of each every 5 ms, until stopped."""

    def __init__(self, pg, pt, my, mt):
        super().__init__(daemon=True)
        self.pg, self.pt, self.my, self.mt = pg, pt, my, mt
        self.stop, self.n = threading.Event(), 1

    def run(self):
        while not self.stop.is_set():
            self.n += 1
            sql(self.pg, f"INSERT INTO {self.pt} VALUES ({self.n}, 'v')")
            mysql(self.my, f"INSERT INTO {self.mt} VALUES ({self.n}, 'v')")
            time.sleep(0.005)


def kafka_ids(kafka, topic, isolation):
    out = []
    try:
        recs = kafka.consume_all(topic, isolation=isolation)
    except AssertionError as e:
        if "UNKNOWN_TOPIC" in str(e):
            return out                                                # (not made yet: the sink makes it)
        raise
    for r in recs:
        if r["value"] is not None:
            v = json.loads(r["value"])
            out.append((v.get("payload", v))["after"]["id"])
    return out


def test_frozen_worker_is_fenced(pg, pgc, my, kafka, tmp_path):
    a, b = start_group(tmp_path, group_conf(kafka))
    try:
        pname, mname = names_in(owned(a), "fence", 2)
        pt = table(pg, f"fence_pg_{uuid.uuid4().hex[:6]}", [1])
        pcfg = pgc.config(pt, **{"sink.type": "kafka", "bootstrap.servers": kafka.bootstrap,
                                 "topic.prefix": kafka.topic("eos"), "exactly.once.support": "required"})
        mt = f"fence_my_{uuid.uuid4().hex[:6]}"
        my_make_table(my, mt, "id INT PRIMARY KEY, v VARCHAR(20)", f"INSERT INTO {mt} VALUES (1, 'v')")
        mcfg = MySluice(tmp_path, my, table_include_list=f"sluice.{mt}").config
        del mcfg["offset.storage.file.filename"]
        mcfg.update({"sink.file.path": str(tmp_path / "my.jsonl"), "include.schema.changes": "false",
                     "topic.prefix": kafka.topic("my")})
        a.ok("POST", "/connectors", {"name": pname, "config": pcfg}, want=201)
        a.ok("POST", "/connectors", {"name": mname, "config": mcfg}, want=201)
        for n in (pname, mname):
            assert a.wait_state(n, "RUNNING")["tasks"][0]["worker_id"] == f"127.0.0.1:{a.port}"
        etopic = f"{pcfg['topic.prefix']}.public.{pt}"
        wait_until(lambda: kafka_ids(kafka, etopic, "read_committed") == [1], 30, 0.2, "the snapshot row in Kafka")
        assert ids(wait_events(a, mcfg, 1)) == [1]
        a.wait_log("streaming binlog from")
        ins = Inserts(pg, pt, my, mt)
        ins.start()
        time.sleep(1)
        a.proc.send_signal(signal.SIGSTOP)                        # frozen with transactions in flight
        try:
            wait_until(lambda: len(owned(b)) == 8, 60, 0.2, "worker b to hold every slot")
            for n in (pname, mname):
                assert b.wait_state(n, "RUNNING", timeout=60)["tasks"][0]["worker_id"] == f"127.0.0.1:{b.port}"
            b.wait_log("terminated it (task.fencing", timeout=60)   # a's walsender
            b.wait_log("killing it (task.fencing", timeout=60)      # a's binlog connection
            seen = ins.n
            wait_until(lambda: seen in ids(events(mcfg)), 30, 0.1, "b streaming the MariaDB rows")
        finally:
            a.proc.send_signal(signal.SIGCONT)
        # a notices it lost its slots and stops its instances; their late writes are refused
        a.wait_log("fenced", timeout=60)
        time.sleep(3)
        ins.stop.set()
        ins.join()
        last = ins.n
        got = kafka_ids(kafka, etopic, "read_committed")
        wait_until(lambda: len(got := kafka_ids(kafka, etopic, "read_committed")) >= last, 60, 0.5,
                   "every PostgreSQL row in Kafka")
        got = kafka_ids(kafka, etopic, "read_committed")
        assert sorted(got) == list(range(1, last + 1)), (len(got), last)      # once each: no loss, no repeat
        wait_until(lambda: set(range(1, last + 1)) <= set(ids(events(mcfg))), 60, 0.2, "every MariaDB row")
        # every worker shows the state of the one that runs the connectors now, not the frozen one's late view
        # (a, back in the group, may be given their slots again: then they move back, and both say so)
        for n in (pname, mname):
            def agree():
                sa, sb = a.status(n)["connector"], b.status(n)["connector"]
                return sa == sb and sa["state"] == "RUNNING"
            wait_until(agree, 60, 0.2, f"both workers showing {n} RUNNING on one worker")
    finally:
        a.stop(), b.stop()


class Load(threading.Thread):
    """Rows 1, 2, ... into PostgreSQL tables and records {"_id": n, "n": n} into Kafka topics, every 10 ms, until
    stopped."""

    def __init__(self, pg, tables, topics, bootstrap, start=0):
        from confluent_kafka import Producer
        super().__init__(daemon=True)
        self.pg, self.tables, self.topics = pg, tables, topics
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
        self.stop, self.n = threading.Event(), start

    def run(self):
        while not self.stop.is_set():
            n = self.n + 1
            for t in self.tables:
                sql(self.pg, f"INSERT INTO {t} VALUES ({n}, 'v')")
            for t in self.topics:
                self.p.produce(t, key=json.dumps({"_id": n}), value=json.dumps({"_id": n, "n": n}))
            self.p.poll(0)
            self.n = n
            time.sleep(0.01)
        assert self.p.flush(30) == 0


def file_ns(cfg):
    out = []
    for e in events(cfg):
        v = e.get("value")
        v = json.loads(v) if isinstance(v, str) else v
        if v is not None:
            out.append(v["n"])
    return out


def rebalances(w):
    m = w.req("GET", "/metrics")[1]
    for line in m.splitlines():
        if line.startswith("sluice_worker_rebalances_total"):
            return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError(m[-1500:])


def test_three_workers_ten_connectors_kill9_and_rolling_restart(pg, pgc, kafka, mongo, tmp_path):
    ws = start_group(tmp_path, group_conf(kafka, **{"task.slots": "16", "scheduled.rebalance.max.delay.ms": "2000"}),
                     "abc")
    a, b, c = ws
    try:
        assert a.ok("GET", "/")["kafka_cluster_id"]                      # the Kafka cluster's id, as Connect shows it
        kinds = {a: ["pg", "mongo", "file", "file"], b: ["mongo", "mongo", "file"], c: ["pg", "mongo", "file"]}
        session = {"consumer.override.session.timeout.ms": "6000", "consumer.override.heartbeat.interval.ms": "1000"}
        conns, tables, topics, i = {}, [], [], 0                          # name -> (kind, config, worker)
        for w in ws:
            for kind in kinds[w]:
                name = names_in(owned(w), f"ten{i}-{kind}-", 1, 16)[0]
                i += 1
                if kind == "pg":
                    t = table(pg, f"ten_{uuid.uuid4().hex[:8]}")
                    tables.append(t)
                    cfg = pgc.config(t, **{"sink.type": "kafka", "bootstrap.servers": kafka.bootstrap,
                                           "topic.prefix": kafka.topic(name), "exactly.once.support": "required"})
                    cfg.pop("sink.file.path")
                    out = f"{cfg['topic.prefix']}.public.{t}"
                else:
                    src = kafka.create_topic(kafka.topic(name))
                    topics.append(src)
                    cfg = dict(session, **{"connector.class": "kafka" if kind == "file" else
                                           "com.mongodb.kafka.connect.MongoSinkConnector", "topics": src,
                                           "key.converter.schemas.enable": "false",
                                           "value.converter.schemas.enable": "false", "poll.interval.ms": "100"})
                    if kind == "file":
                        cfg.update({"sink.type": "file", "sink.file.path": str(tmp_path / f"{name}.jsonl")})
                    else:
                        cfg.update({"connection.uri": mongo.uri, "database": mongo.db_name, "collection": name,
                                    "document.id.strategy":
                                    "com.mongodb.kafka.connect.sink.processor.id.strategy.ProvidedInValueStrategy"})
                    out = name
                conns[name] = (kind, cfg, w, out)
                a.ok("POST", "/connectors", {"name": name, "config": cfg}, want=201)   # all through one worker
        assert len(conns) == 10

        def runs_on(name):
            st = a.status(name)
            return st["connector"]["state"] == "RUNNING" and st["tasks"][0]["worker_id"]

        for name, (_, _, w, _) in conns.items():
            wait_until(lambda: runs_on(name) == f"127.0.0.1:{w.port}", 60, 0.2, f"{name} running on its worker")
        load = Load(pg, tables, topics, kafka.bootstrap)
        load.start()
        time.sleep(2)
        t0 = time.time()
        assert c.stop(signal.SIGKILL) == -signal.SIGKILL                  # under load
        alive = {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
        for name in conns:
            wait_until(lambda: runs_on(name) in alive, 60, 0.2, f"{name} running on a live worker")
        moved = time.time() - t0
        print(f"\nthree workers: c's connectors ran elsewhere {moved:.1f} s after kill -9 "
              f"(session.timeout.ms 6000 + scheduled.rebalance.max.delay.ms 2000)")
        assert moved < 8 + 20, moved
        time.sleep(2)

        def delivered(upto):
            """Every connector's output up to row/record upto: the EOS topics once each, the sinks all of them."""
            for name, (kind, cfg, _, out) in conns.items():
                want = set(range(1, upto + 1))
                if kind == "pg":
                    got = kafka_ids(kafka, out, "read_committed")
                    if len(got) < upto:
                        return False
                    assert sorted(got) == sorted(want), (name, len(got), upto)   # no loss, no repeat
                elif kind == "mongo":
                    if not want <= {d["_id"] for d in mongo.collection(out).find({}, {"_id": 1})}:
                        return False
                elif not want <= set(file_ns(cfg)):
                    return False
            return True

        load.stop.set()
        load.join()
        wait_until(lambda: delivered(load.n), 90, 0.5, "every change delivered after the kill")
        # c comes back (same id): the slots are shared by three again
        c.start()
        wait_until(lambda: all(owned(w) for w in ws) and sum(len(owned(w)) for w in ws) == 16 and
                   len(set().union(*map(owned, ws))) == 16, 60, 0.2, "the slots shared again")
        time.sleep(1)
        before = {w: owned(w) for w in ws}
        # rolling restart under load: each worker back within its session keeps its slots, and the others see no
        # rebalance
        load = Load(pg, tables, topics, kafka.bootstrap, load.n)
        load.start()
        for w in ws:
            others = [o for o in ws if o is not w]
            counts = [rebalances(o) for o in others]
            assert w.stop() == 0
            w.start()
            wait_until(lambda: owned(w) == before[w], 30, 0.2, "the restarted worker holding its slots again")
            time.sleep(1)
            assert [rebalances(o) for o in others] == counts, "a restart within the session made a rebalance"
        assert {w: owned(w) for w in ws} == before
        load.stop.set()
        load.join()
        wait_until(lambda: delivered(load.n), 90, 0.5, "every change delivered after the rolling restart")
        for name in conns:                                                # each where its slot is
            w = next(w for w in ws if slot_of(name, 16) in before[w])
            assert runs_on(name) == f"127.0.0.1:{w.port}", name
    finally:
        for w in ws:
            w.stop()


def test_tasks_max_spreads_a_kafka_sink_over_workers(pg, pgc, kafka, mongo, tmp_path):
    """tasks.max=3 on a Kafka -> MongoDB connector: three tasks (members of one consumer group) placed on their own
    slots (<name>-<id>), so both workers run some; every record lands once per key. A change-data source runs one
    task whatever tasks.max says; a file sink cannot be shared by tasks."""
    a, b = start_group(tmp_path, group_conf(kafka))
    try:
        i = 0
        while True:                                  # a name whose tasks land on both workers
            name = f"mk{i}"
            keys = [name, f"{name}-1", f"{name}-2"]
            on = {slot_of(k, 8) in owned(a) for k in keys}
            if on == {True, False}:
                break
            i += 1
        src = kafka.create_topic(kafka.topic("six"), partitions=6)
        n = 600
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": kafka.bootstrap})
        for k in range(1, n + 1):
            p.produce(src, key=json.dumps({"_id": k}), value=json.dumps({"_id": k, "n": k}), partition=k % 6)
        assert p.flush(30) == 0
        cfg = {"connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "tasks.max": "3", "topics": src,
               "connection.uri": mongo.uri, "database": mongo.db_name, "collection": "six",
               "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
               "document.id.strategy": "com.mongodb.kafka.connect.sink.processor.id.strategy.ProvidedInValueStrategy",
               "consumer.override.session.timeout.ms": "6000", "consumer.override.heartbeat.interval.ms": "1000"}
        b.ok("POST", "/connectors", {"name": name, "config": cfg}, want=201)
        wait_until(lambda: mongo.collection("six").count_documents({}) == n, 60, 0.2, "every record in MongoDB")

        def tasks():
            st = a.status(name)
            return {t["id"]: (t["state"], t["worker_id"]) for t in st["tasks"]}
        want = {t: ("RUNNING", f"127.0.0.1:{(a if slot_of(k, 8) in owned(a) else b).port}")
                for t, k in enumerate(keys)}
        wait_until(lambda: tasks() == want, 30, 0.2, f"three tasks where their slots are: {want}")
        assert tasks() == {t: s for t, s in b_tasks(b, name).items()}   # the same on either worker
        ids_ = [t["id"]["task"] for t in a.ok("GET", f"/connectors/{name}/tasks")]
        assert ids_ == [0, 1, 2]
        assert a.ok("GET", f"/connectors/{name}/tasks/2/status")["worker_id"] == want[2][1]
        m = a.req("GET", "/metrics")[1]
        for t in range(3):
            assert f'sluice_connector_assigned{{connector="{name}",task="{t}",worker_id="{want[t][1]}"}} 1' in m
        # the group's three members share the six partitions: each task's consumer holds some, and records
        # produced now go through all of them
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap})

        def shares():
            g = admin.describe_consumer_groups([f"connect-{name}"])[f"connect-{name}"].result(10)
            parts = [len(m.assignment.topic_partitions) for m in g.members]
            return len(parts) == 3 and all(parts) and sum(parts) == 6 and parts
        wait_until(shares, 30, 0.5, "three consumers sharing the six partitions")
        for k in range(n + 1, 2 * n + 1):
            p.produce(src, key=json.dumps({"_id": k}), value=json.dumps({"_id": k, "n": k}), partition=k % 6)
        assert p.flush(30) == 0
        wait_until(lambda: mongo.collection("six").count_documents({}) == 2 * n, 60, 0.2, "the new records")
        a.ok("POST", f"/connectors/{name}/tasks/1/restart", want=204)
        a.ok("GET", f"/connectors/{name}/tasks/3/status", want=404)
        # a change-data source runs one task; a file sink is refused for several
        t = table(pg, f"tm_{uuid.uuid4().hex[:6]}", [1])
        one = pgc.config(t, **{"tasks.max": "4"})
        a.ok("POST", "/connectors", {"name": "tm-pg", "config": one}, want=201)
        assert len(a.wait_state("tm-pg", "RUNNING", timeout=60)["tasks"]) == 1
        bad = dict(cfg, **{"sink.type": "file", "sink.file.path": str(tmp_path / "x.jsonl")})
        st, body, _ = a.req("POST", "/connectors", {"name": "tm-file", "config": bad})
        assert st == 400 and "tasks.max" in body["message"] and "file" in body["message"], body
    finally:
        a.stop(), b.stop()


def b_tasks(w, name):
    return {t["id"]: (t["state"], t["worker_id"]) for t in w.status(name)["tasks"]}
