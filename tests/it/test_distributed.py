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
        assert f'sluice_connector_assigned{{connector="{names[a][0]}",worker_id="127.0.0.1:{b.port}"}} 1' in m
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
    for r in kafka.consume_all(topic, isolation=isolation):
        if r["value"] is not None:
            v = json.loads(r["value"])
            out.append((v.get("payload", v))["after"]["id"])
    return out


def test_frozen_worker_is_fenced(pg, pgc, my, kafka, tmp_path):
    conf = group_conf(kafka)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = Serve(tmp_path / "a", **conf).start()
    b = Serve(tmp_path / "b", **conf).start()
    try:
        wait_until(lambda: owned(a) and owned(b) and len(owned(a) | owned(b)) == 8 and not owned(a) & owned(b), 60,
                   0.2, "the slots shared by both workers")
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
        for n in (pname, mname):
            sa, sb = a.status(n), b.status(n)
            assert sa["connector"]["worker_id"] == sb["connector"]["worker_id"], (sa, sb)
            assert sb["connector"]["state"] == "RUNNING", sb
    finally:
        a.stop(), b.stop()
