"""PostgreSQL -> file: snapshot, streaming, restart and resume, slot feedback."""
import json
import os
import subprocess
import threading
import time

import psycopg2

from conftest import ROOT, key_payload, log_text, payload, pg_params, sql, start_run, wait_streaming, wait_until


def test_snapshot_then_stream(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_orders; CREATE TABLE it_orders (id int PRIMARY KEY, note text, total numeric(8,2))")
    sql(pg, "INSERT INTO it_orders VALUES (1, 'one', 1.50), (2, 'two', 2.00)")
    s = sluice(table_include_list="public.it_orders").start()
    ev = s.wait_events(2)
    assert [payload(e)["op"] for e in ev] == ["r", "r"]
    assert [payload(e)["source"]["snapshot"] for e in ev] == ["first", "last"]
    assert ev[0]["topic"] == "it.public.it_orders"
    assert key_payload(ev[0]) == {"id": 1}
    assert ev[0]["key"]["schema"]["name"] == "it.public.it_orders.Key"
    sql(pg, "INSERT INTO it_orders VALUES (3, 'three', 3.25)")
    sql(pg, "UPDATE it_orders SET note = 'uno' WHERE id = 1")
    sql(pg, "DELETE FROM it_orders WHERE id = 2")
    ev = s.wait_events(6)
    ops = [payload(e)["op"] if e["value"] else None for e in ev[2:]]
    assert ops == ["c", "u", "d", None]  # the delete is followed by a tombstone
    c, u, d, tomb = ev[2:]
    assert payload(c)["after"]["note"] == "three" and payload(c)["before"] is None
    assert payload(u)["after"]["note"] == "uno"
    assert payload(d)["before"]["id"] == 2 and payload(d)["after"] is None
    assert key_payload(tomb) == {"id": 2} and tomb["value"] is None
    assert payload(c)["source"]["table"] == "it_orders" and payload(c)["source"]["connector"] == "postgresql"
    assert payload(c)["source"]["lsn"] > 0 and payload(c)["source"]["txId"] > 0
    assert s.stop() == 0


def test_restart_resumes_without_gap(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_resume; CREATE TABLE it_resume (id int PRIMARY KEY, v int)")
    s = sluice(table_include_list="public.it_resume", snapshot_mode="no_data").start()
    wait_streaming(s)
    sql(pg, "INSERT INTO it_resume VALUES (1, 1)")
    s.wait_events(1)
    time.sleep(0.5)  # let the offset be committed
    assert s.stop() == 0
    sql(pg, "INSERT INTO it_resume VALUES (2, 2)")  # written while sluice is down
    s.start()
    sql(pg, "INSERT INTO it_resume VALUES (3, 3)")
    ev = s.wait_events(3)
    time.sleep(0.5)
    ids = [payload(e)["after"]["id"] for e in s.events()]
    assert ids == [1, 2, 3], ids  # clean stop: nothing lost, nothing repeated
    assert s.stop() == 0


def test_slot_confirmed_flush_advances(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_flush; CREATE TABLE it_flush (id int PRIMARY KEY)")
    s = sluice(table_include_list="public.it_flush", snapshot_mode="no_data").start()
    wait_streaming(s)
    sql(pg, "INSERT INTO it_flush VALUES (1)")
    s.wait_events(1)
    lsn = payload(s.events()[0])["source"]["lsn"]
    deadline = time.time() + 20
    flushed = 0
    while time.time() < deadline:
        (flushed,), = sql(pg, "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = %s",
                          s.slot)
        if flushed and int(flushed) > lsn:
            break
        time.sleep(0.2)
    assert int(flushed) > lsn
    assert s.stop() == 0


def test_primary_key_change_is_delete_then_create(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_pk; CREATE TABLE it_pk (id int PRIMARY KEY, v text)")
    sql(pg, "INSERT INTO it_pk VALUES (1, 'a')")
    s = sluice(table_include_list="public.it_pk").start()
    s.wait_events(1)
    sql(pg, "UPDATE it_pk SET id = 2 WHERE id = 1")
    ev = s.wait_events(4)
    d, tomb, c = ev[1:4]
    assert payload(d)["op"] == "d" and key_payload(d) == {"id": 1} and payload(d)["before"]["id"] == 1
    own = lambda e: {k: v for k, v in e["headers"].items() if not k.startswith("__debezium.context.")}
    assert own(d) == {"__debezium.newkey": {"id": 2}}  # (plus Debezium 3's context headers)
    assert tomb["value"] is None and key_payload(tomb) == {"id": 1}
    assert payload(c)["op"] == "c" and key_payload(c) == {"id": 2} and payload(c)["after"] == {"id": 2, "v": "a"}
    assert own(c) == {"__debezium.oldkey": {"id": 1}}
    assert s.stop() == 0


def test_reconnects_after_the_server_drops_the_connection(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_reconnect; CREATE TABLE it_reconnect (id int PRIMARY KEY)")
    s = sluice(table_include_list="public.it_reconnect", snapshot_mode="no_data", slot_drop_on_stop="true",
               retriable_restart_connector_wait_ms="200").start()
    wait_streaming(s)
    sql(pg, "INSERT INTO it_reconnect VALUES (1)")
    s.wait_events(1)
    killed = sql(pg, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s",
                 s.slot)
    assert killed == [(True,)]
    sql(pg, "INSERT INTO it_reconnect VALUES (2)")
    ev = s.wait_events(2)
    sql(pg, "INSERT INTO it_reconnect VALUES (3)")
    ev = s.wait_events(3)
    assert [payload(e)["after"]["id"] for e in ev] == [1, 2, 3]
    assert "reconnecting" in s.log.read_text() and "source reconnected" in s.log.read_text()
    assert s.stop() == 0


def test_gives_up_after_errors_max_retries(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_giveup; CREATE TABLE it_giveup (id int PRIMARY KEY)")
    s = sluice(table_include_list="public.it_giveup", snapshot_mode="no_data", errors_max_retries="0").start()
    wait_streaming(s)
    sql(pg, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s", s.slot)
    assert s.proc.wait(30) == 1
    assert "errors.max.retries" in s.log.read_text()
    s.stop()


# ---- a fast shutdown of PostgreSQL while sluice catches up ----

class FifoSink:
    """The file sink pointed at a FIFO that a thread drains, so that the test decides how fast the sink
    goes: `hold` stalls it (sluice's queue fills, its source thread waits for room), `release` lets it go."""

    def __init__(self, s):
        self.path = s.dir / "sink.fifo"
        os.mkfifo(self.path)
        s.config["sink.file.path"] = str(self.path)
        s.config["sink.file.fsync"] = "false"
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.got = bytearray()
        self.held = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        while not self.done.is_set():
            if self.held.is_set():
                time.sleep(0.005)
                continue
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                data = b""
            if data:
                self.got.extend(data)
            else:
                time.sleep(0.005)

    def lines(self):
        return bytes(self.got).count(b"\n")

    def ids(self):
        text = bytes(self.got)
        text = text[:text.rfind(b"\n") + 1]
        return [payload(json.loads(l))["after"]["id"] for l in text.splitlines() if l.strip()]

    def close(self):
        self.done.set()
        self.thread.join(10)
        os.close(self.fd)


def pg_service(action):
    """scripts/services.sh <action> pg with this test run's port environment; returns seconds taken."""
    t0 = time.monotonic()
    r = subprocess.run([str(ROOT / "scripts" / "services.sh"), action, "pg"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"services.sh {action} pg failed:\n{r.stdout}{r.stderr}"
    return time.monotonic() - t0


def test_fast_shutdown_while_catching_up(pg, sluice):
    """pg_ctl stop -m fast while sluice works through a backlog with a stalled sink: PostgreSQL stops within
    a few seconds (its walsender is not held until sluice has read and confirmed the whole backlog, nor
    until wal_sender_timeout), and once it is back sluice (which retries) delivers every row."""
    rows = 60000
    sql(pg, "DROP TABLE IF EXISTS it_fastdown; CREATE TABLE it_fastdown (id int PRIMARY KEY, pad text)")
    s = sluice(table_include_list="public.it_fastdown", snapshot_mode="no_data", max_batch_size="100",
               max_queue_size="200", retriable_restart_connector_wait_ms="500",
               key_converter_schemas_enable="false", value_converter_schemas_enable="false")
    start_run(s)
    wait_streaming(s)
    assert s.stop() == 0  # the slot exists and an offset is stored: the backlog waits in the slot
    for k in range(0, rows, 10000):
        sql(pg, "INSERT INTO it_fastdown SELECT g, repeat('x', 200) FROM generate_series(%s, %s) g",
            k + 1, k + 10000)
    sink = FifoSink(s)
    fresh = None
    try:
        start_run(s)
        wait_until(lambda: sink.lines() >= 2000, 60, what="the first rows of the backlog")
        sink.held.set()  # the sink stalls: sluice is behind, its queue full, the backlog unread
        time.sleep(2)
        took = pg_service("stop")
        print(f"pg_ctl stop -m fast took {took:.2f}s")
        sink.held.clear()
        pg_service("start")
        assert took < 10, f"pg_ctl stop -m fast took {took:.1f}s:\n{log_text(s, s.mark)[-3000:]}"
        fresh = psycopg2.connect(**pg_params())
        fresh.autocommit = True
        s.pg = fresh  # the fixture's connection died with the server; cleanup uses this one
        wait_until(lambda: len(set(sink.ids())) >= rows, 120, interval=0.2, what="every row of the backlog")
        assert set(sink.ids()) == set(range(1, rows + 1))
        assert s.stop() == 0
    finally:
        if s.proc and s.proc.poll() is None:
            s.kill9()
        sink.close()
        if subprocess.run([str(ROOT / "scripts" / "services.sh"), "status", "pg"], capture_output=True).returncode:
            pg_service("start")
        if fresh is None:
            fresh = psycopg2.connect(**pg_params())
            fresh.autocommit = True
            s.pg = fresh
        sql(fresh, "DROP TABLE IF EXISTS it_fastdown")


def test_stalled_sink_keeps_the_walsender_informed(pg, sluice):
    """While the sink stalls in the middle of a backlog (the queue full, nothing read from the replication
    connection), sluice still sends status updates: the walsender, which ends a connection it has not
    heard from for wal_sender_timeout (3 s here), keeps it, and the rows arrive once the sink goes on."""
    rows = 30000
    sql(pg, "DROP TABLE IF EXISTS it_stalled; CREATE TABLE it_stalled (id int PRIMARY KEY, pad text)")
    s = sluice(table_include_list="public.it_stalled", snapshot_mode="no_data", max_batch_size="100",
               max_queue_size="200", status_update_interval_ms="500", retriable_restart_connector_wait_ms="500",
               key_converter_schemas_enable="false", value_converter_schemas_enable="false")
    start_run(s)
    wait_streaming(s)
    assert s.stop() == 0
    sql(pg, "INSERT INTO it_stalled SELECT g, repeat('x', 200) FROM generate_series(1, %s) g", rows)
    sink = FifoSink(s)
    sql(pg, "ALTER SYSTEM SET wal_sender_timeout = '3s'")
    sql(pg, "SELECT pg_reload_conf()")
    try:
        start_run(s)
        wait_until(lambda: sink.lines() >= 1000, 60, what="the first rows of the backlog")
        sink.held.set()
        time.sleep(8)  # more than twice wal_sender_timeout with nothing read
        sink.held.clear()
        wait_until(lambda: len(set(sink.ids())) >= rows, 120, interval=0.2, what="every row of the backlog")
        assert set(sink.ids()) == set(range(1, rows + 1))
        out = log_text(s, s.mark)
        assert "reconnecting" not in out, out[-3000:]
        assert s.stop() == 0
    finally:
        sql(pg, "ALTER SYSTEM RESET wal_sender_timeout")
        sql(pg, "SELECT pg_reload_conf()")
        if s.proc and s.proc.poll() is None:
            s.kill9()
        sink.close()
        sql(pg, "DROP TABLE IF EXISTS it_stalled")
