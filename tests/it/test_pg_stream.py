"""PostgreSQL -> file: snapshot, streaming, restart and resume, slot feedback."""
import time

from conftest import key_payload, payload, sql, wait_streaming


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
