"""MariaDB -> file: snapshot, streaming, transactions, DDL mid-stream, restart, bad input."""
import time

import pytest

from conftest import key_payload, mysql, payload


def ops(events):
    return [payload(e)["op"] if e["value"] else None for e in events]


def test_snapshot_then_stream(my, mysluice):
    mysql(my, "DROP TABLE IF EXISTS it_my_orders")
    mysql(my, "CREATE TABLE it_my_orders (id INT PRIMARY KEY, note VARCHAR(40), qty INT UNSIGNED)")
    mysql(my, "INSERT INTO it_my_orders VALUES (1, 'one', 10), (2, 'two', 20)")
    s = mysluice(table_include_list="sluice.it_my_orders").start()
    ev = s.wait_events(2)
    assert ops(ev) == ["r", "r"]
    assert [payload(e)["source"]["snapshot"] for e in ev] == ["first", "last"]
    assert ev[0]["topic"] == "my.sluice.it_my_orders" and key_payload(ev[0]) == {"id": 1}
    mysql(my, "INSERT INTO it_my_orders VALUES (3, 'three', 30)")
    mysql(my, "UPDATE it_my_orders SET note = 'uno' WHERE id = 1")
    mysql(my, "DELETE FROM it_my_orders WHERE id = 2")
    ev = s.wait_events(6)
    assert ops(ev[2:]) == ["c", "u", "d", None]
    c, u, d, tomb = ev[2:]
    assert payload(c)["after"] == {"id": 3, "note": "three", "qty": 30} and payload(c)["before"] is None
    assert payload(u)["before"]["note"] == "one" and payload(u)["after"]["note"] == "uno"
    assert payload(d)["before"]["id"] == 2 and payload(d)["after"] is None
    assert tomb["value"] is None and key_payload(tomb) == {"id": 2}
    src = payload(c)["source"]
    assert src["connector"] == "mariadb" and src["db"] == "sluice" and src["table"] == "it_my_orders"
    assert src["server_id"] == 1 and src["file"].startswith("mariadb-bin.") and src["pos"] > 0
    assert src["gtid"] and src["gtid"].count("-") == 2 and src["row"] == 0
    assert s.stop() == 0


def test_multi_statement_transaction(my, mysluice):
    mysql(my, "DROP TABLE IF EXISTS it_my_tx")
    mysql(my, "CREATE TABLE it_my_tx (id INT PRIMARY KEY, v INT)")
    s = mysluice(table_include_list="sluice.it_my_tx", snapshot_mode="no_data").start()
    time.sleep(1.0)
    my.begin()
    mysql(my, "INSERT INTO it_my_tx VALUES (1, 1), (2, 2)")
    mysql(my, "UPDATE it_my_tx SET v = 10 WHERE id = 1")
    mysql(my, "DELETE FROM it_my_tx WHERE id = 2")
    my.commit()
    ev = s.wait_events(5)
    assert ops(ev) == ["c", "c", "u", "d", None]
    gtids = {payload(e)["source"]["gtid"] for e in ev[:4]}
    assert len(gtids) == 1  # one transaction
    assert [payload(e)["source"]["row"] for e in ev[:2]] == [0, 1]  # two rows of one event
    assert s.stop() == 0


def test_ddl_mid_stream(my, mysluice):
    mysql(my, "DROP TABLE IF EXISTS it_my_ddl")
    mysql(my, "CREATE TABLE it_my_ddl (id INT PRIMARY KEY, a VARCHAR(10))")
    s = mysluice(table_include_list="sluice.it_my_ddl", snapshot_mode="no_data").start()
    time.sleep(1.0)
    mysql(my, "INSERT INTO it_my_ddl VALUES (1, 'x')")
    mysql(my, "ALTER TABLE it_my_ddl ADD COLUMN b INT DEFAULT 7")
    mysql(my, "INSERT INTO it_my_ddl VALUES (2, 'y', 8)")
    mysql(my, "ALTER TABLE it_my_ddl DROP COLUMN a")
    mysql(my, "INSERT INTO it_my_ddl VALUES (3, 9)")
    mysql(my, "ALTER TABLE it_my_ddl RENAME COLUMN b TO c")
    mysql(my, "UPDATE it_my_ddl SET c = 10 WHERE id = 3")
    ev = s.wait_events(4)
    assert payload(ev[0])["after"] == {"id": 1, "a": "x"}
    assert payload(ev[1])["after"] == {"id": 2, "a": "y", "b": 8}
    assert payload(ev[2])["after"] == {"id": 3, "b": 9}
    assert payload(ev[3])["before"] == {"id": 3, "c": 9} and payload(ev[3])["after"] == {"id": 3, "c": 10}
    assert s.stop() == 0


def test_restart_resumes_without_gap(my, mysluice):
    mysql(my, "DROP TABLE IF EXISTS it_my_resume")
    mysql(my, "CREATE TABLE it_my_resume (id INT PRIMARY KEY)")
    s = mysluice(table_include_list="sluice.it_my_resume", snapshot_mode="no_data").start()
    time.sleep(1.0)
    mysql(my, "INSERT INTO it_my_resume VALUES (1)")
    s.wait_events(1)
    time.sleep(0.5)
    assert s.stop() == 0
    mysql(my, "INSERT INTO it_my_resume VALUES (2)")
    s.start()
    mysql(my, "INSERT INTO it_my_resume VALUES (3)")
    s.wait_events(3)
    time.sleep(0.5)
    assert [payload(e)["after"]["id"] for e in s.events()] == [1, 2, 3]
    assert s.stop() == 0


def test_statement_format_is_a_clear_error(my, mysluice):
    mysql(my, "SET GLOBAL binlog_format = 'STATEMENT'")
    try:
        s = mysluice(snapshot_mode="no_data")
        rc = s.run_to_end(timeout=30)
    finally:
        mysql(my, "SET GLOBAL binlog_format = 'ROW'")
    assert rc == 1
    assert "binlog_format is STATEMENT" in s.log.read_text()


def test_missing_replication_privilege_is_a_clear_error(my, mysluice):
    mysql(my, "DROP USER IF EXISTS 'it_norepl'@'%'")
    mysql(my, "CREATE USER 'it_norepl'@'%' IDENTIFIED BY 'pw-it-norepl'")
    mysql(my, "GRANT SELECT ON *.* TO 'it_norepl'@'%'")
    try:
        s = mysluice(database_user="it_norepl", database_password="pw-it-norepl", snapshot_mode="no_data")
        rc = s.run_to_end(timeout=30)
    finally:
        mysql(my, "DROP USER IF EXISTS 'it_norepl'@'%'")
    assert rc == 1
    log = s.log.read_text()
    assert "lacks REPLICATION SLAVE" in log and "pw-it-norepl" not in log


def test_reconnects_after_the_binlog_connection_is_killed(my, mysluice):
    mysql(my, "DROP TABLE IF EXISTS it_my_reconnect")
    mysql(my, "CREATE TABLE it_my_reconnect (id INT PRIMARY KEY)")
    s = mysluice(table_include_list="sluice.it_my_reconnect", snapshot_mode="no_data",
                 retriable_restart_connector_wait_ms="200").start()
    time.sleep(1.0)
    mysql(my, "INSERT INTO it_my_reconnect VALUES (1)")
    s.wait_events(1)
    dumps = mysql(my, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'")
    assert dumps, "no binlog dump thread"
    for (pid,) in dumps:
        mysql(my, f"KILL {pid}")
    mysql(my, "INSERT INTO it_my_reconnect VALUES (2)")
    mysql(my, "INSERT INTO it_my_reconnect VALUES (3)")
    ev = s.wait_events(3)
    time.sleep(0.5)
    assert [payload(e)["after"]["id"] for e in s.events()] == [1, 2, 3]
    log = s.log.read_text()
    assert "reconnecting" in log and "source reconnected" in log
    assert s.stop() == 0
