"""MariaDB -> file: snapshot, streaming, transactions, DDL mid-stream, restart, reconnects, bad input."""
import json
import re
import time

import pymysql
import pytest

from conftest import MySluice, key_payload, log_text, my_make_table, mysql, payload, run_cli, wait_log, wait_until


def ops(events):
    return [payload(e)["op"] if e["value"] else None for e in events]


def test_snapshot_then_stream(my, mysluice, row_metadata):
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
    # source.pos: where each record's rows event starts in the binlog (Debezium's event position), not the
    # transaction's start
    src = payload(ev[0])["source"]
    starts = [int(r[1]) for r in mysql(my, f"SHOW BINLOG EVENTS IN '{src['file']}'")
              if r[2] in ("Write_rows_v1", "Update_rows_v1", "Delete_rows_v1", "Write_rows", "Update_rows",
                          "Delete_rows") and int(r[1]) >= src["pos"]][:3]
    assert [payload(e)["source"]["pos"] for e in ev[:4]] == [starts[0], starts[0], starts[1], starts[2]]
    assert s.stop() == 0


def columns(change):
    return [(c["name"], c["typeName"]) for c in change["table"]["columns"]]


def test_snapshot_marks_each_tables_first_and_last_row(my, mysluice):
    """source.snapshot as Debezium 3 marks it: first, then each table's first and last rows
    (first_in_data_collection / last_in_data_collection), last for the snapshot's last row."""
    a = my_make_table(my, "it_my_snapa", "id INT PRIMARY KEY", "INSERT INTO it_my_snapa VALUES (1), (2), (3)")
    b = my_make_table(my, "it_my_snapb", "id INT PRIMARY KEY", "INSERT INTO it_my_snapb VALUES (1), (2)")
    s = mysluice(table_include_list=f"sluice.{a},sluice.{b}", snapshot_mode="initial_only")
    assert s.run_to_end() == 0
    marks = [(e["topic"].split(".")[-1], payload(e)["source"]["snapshot"]) for e in s.events()]
    assert marks == [(a, "first"), (a, "true"), (a, "last_in_data_collection"),
                     (b, "first_in_data_collection"), (b, "last")]


def test_context_headers(my, mysluice, tmp_path):
    """Debezium 3's __debezium.context.* headers on change events (snapshot reads, changes, both halves of a
    key change after their own header); extended.headers.enabled=false leaves them out."""
    t = my_make_table(my, "it_my_ctxh", "id INT PRIMARY KEY, v INT", "INSERT INTO it_my_ctxh VALUES (1, 1)")
    s = mysluice(table_include_list=f"sluice.{t}").start()
    (tmp_path / "off").mkdir()
    off = MySluice(tmp_path / "off", my, table_include_list=f"sluice.{t}", extended_headers_enabled="false").start()
    s.wait_events(1), off.wait_events(1)
    wait_log(s, "streaming binlog from"), wait_log(off, "streaming binlog from")
    mysql(my, f"INSERT INTO {t} VALUES (2, 2)")
    mysql(my, f"UPDATE {t} SET id = 3 WHERE id = 2")
    ev = [e for e in s.wait_events(5) if e["value"] is not None]  # r, c, d (+ tombstone), c
    ctx = [{k: v for k, v in e["headers"].items() if k.startswith("__debezium.context.")} for e in ev]
    assert ctx[0]["__debezium.context.connectorLogicalName"] == "my"
    assert ctx[0]["__debezium.context.taskId"] == "0"
    assert ctx[0]["__debezium.context.connectorName"] == "mariadb"
    assert len(ctx[0]["__debezium.context.runId"]) == 36
    assert all(c == ctx[0] for c in ctx)  # one run: the same four headers on every change event
    assert list(ev[2]["headers"])[0] == "__debezium.newkey" and list(ev[3]["headers"])[0] == "__debezium.oldkey"
    try:
        assert all(not any(k.startswith("__debezium.context.") for k in e["headers"]) for e in off.wait_events(5))
    finally:
        off.stop()
    assert s.stop() == 0


def test_transaction_metadata_counts_per_table(my, mysluice):
    """provide.transaction.metadata: each event's transaction block numbers it among the transaction's events
    (total_order) and among its table's (data_collection_order), as Debezium's TransactionContext does."""
    a = my_make_table(my, "it_my_txa", "id INT PRIMARY KEY")
    b = my_make_table(my, "it_my_txb", "id INT PRIMARY KEY")
    s = mysluice(table_include_list="sluice.it_my_tx[ab]", snapshot_mode="no_data",
                 provide_transaction_metadata="true").start()
    wait_log(s, "streaming binlog from")
    my.begin()
    mysql(my, f"INSERT INTO {a} VALUES (1)")
    mysql(my, f"INSERT INTO {b} VALUES (1)")
    mysql(my, f"INSERT INTO {a} VALUES (2)")
    my.commit()
    ev = s.wait_events(5)  # BEGIN, 3 changes, END
    tx = [payload(e)["transaction"] for e in ev if e["topic"].startswith("my.sluice.")]
    assert [(t["total_order"], t["data_collection_order"]) for t in tx] == [(1, 1), (2, 1), (3, 2)]
    end = payload(ev[-1])
    assert end["status"] == "END" and end["event_count"] == 3
    assert sorted((d["data_collection"], d["event_count"]) for d in end["data_collections"]) == \
        [(f"sluice.{a}", 2), (f"sluice.{b}", 1)]
    assert s.stop() == 0


def test_ddl_mid_stream(my, mysluice, row_metadata):
    """Rows keep decoding right across ADD/DROP/RENAME COLUMN, and each DDL statement is a Debezium schema
    change event on the topic <topic.prefix> (each waited for before the next statement: the event describes
    the table as information_schema shows it when it is read)."""
    mysql(my, "DROP TABLE IF EXISTS it_my_ddl")
    mysql(my, "CREATE TABLE it_my_ddl (id INT PRIMARY KEY, a VARCHAR(10))")
    s = mysluice(table_include_list="sluice.it_my_ddl", snapshot_mode="no_data", schema_events=True).start()
    # no_data: the snapshot sends the schemas alone, in Debezium's order: the server's charset, DROP TABLE IF
    # EXISTS, DROP DATABASE IF EXISTS, CREATE DATABASE, USE, CREATE TABLE
    head = s.wait_events(6)
    wait_log(s, "streaming binlog from")
    assert [e["topic"] for e in head] == ["my"] * 6
    assert [payload(e)["ddl"].split(" (")[0] for e in head] == [
        "SET character_set_server=utf8mb4, collation_server=utf8mb4_general_ci",
        "DROP TABLE IF EXISTS `sluice`.`it_my_ddl`", "DROP DATABASE IF EXISTS `sluice`",
        "CREATE DATABASE `sluice` CHARSET utf8mb4 COLLATE utf8mb4_general_ci", "USE `sluice`",
        "CREATE TABLE `it_my_ddl`"]
    assert key_payload(head[0]) == {"databaseName": ""} and payload(head[0])["source"]["db"] == ""
    assert [x["type"] for x in payload(head[1])["tableChanges"]] == ["DROP"]
    db_ev, tb_ev = head[3], head[5]
    dbp, tbp = payload(db_ev), payload(tb_ev)
    assert dbp["tableChanges"] == [] and dbp["databaseName"] == "sluice" and dbp["source"]["table"] is None
    assert tbp["ddl"].startswith("CREATE TABLE `it_my_ddl` (") and "`a` varchar(10)" in tbp["ddl"]
    assert [payload(e)["source"]["snapshot"] for e in head] == ["true"] * 6
    assert tbp["source"]["table"] == "it_my_ddl" and tbp["source"]["file"] and tbp["source"]["pos"] > 0
    (ch,) = tbp["tableChanges"]
    assert ch["type"] == "CREATE" and columns(ch) == [("id", "INT"), ("a", "VARCHAR")]
    assert ch["table"]["primaryKeyColumnNames"] == ["id"]
    stmts = ["INSERT INTO it_my_ddl VALUES (1, 'x')", "ALTER TABLE it_my_ddl ADD COLUMN b INT DEFAULT 7",
             "INSERT INTO it_my_ddl VALUES (2, 'y', 8)", "ALTER TABLE it_my_ddl DROP COLUMN a",
             "INSERT INTO it_my_ddl VALUES (3, 9)", "ALTER TABLE it_my_ddl RENAME COLUMN b TO c",
             "UPDATE it_my_ddl SET c = 10 WHERE id = 3"]
    for n, q in enumerate(stmts, 7):
        mysql(my, q)
        s.wait_events(n)
    ev = s.wait_events(13)[6:]
    data = [e for e in ev if e["topic"] == "my.sluice.it_my_ddl"]
    ddl = [e for e in ev if e["topic"] == "my"]
    assert len(data) == 4 and len(ddl) == 3
    assert payload(data[0])["after"] == {"id": 1, "a": "x"}
    assert payload(data[1])["after"] == {"id": 2, "a": "y", "b": 8}
    assert payload(data[2])["after"] == {"id": 3, "b": 9}
    assert payload(data[3])["before"] == {"id": 3, "c": 9} and payload(data[3])["after"] == {"id": 3, "c": 10}
    assert [payload(e)["ddl"] for e in ddl] == [stmts[1], stmts[3], stmts[5]]
    assert all(key_payload(e) == {"databaseName": "sluice"} for e in ddl)
    add, drop, rename = (payload(e) for e in ddl)
    assert add["databaseName"] == "sluice" and add["schemaName"] is None
    assert add["source"]["table"] == "it_my_ddl" and add["source"]["db"] == "sluice"
    assert add["source"]["snapshot"] == "false" and add["source"]["gtid"] and add["source"]["pos"] > 0
    (ch,) = add["tableChanges"]
    assert ch["type"] == "ALTER" and ch["id"] == '"sluice"."it_my_ddl"'
    assert ch["table"]["primaryKeyColumnNames"] == ["id"] and ch["table"]["defaultCharsetName"]
    assert columns(ch) == [("id", "INT"), ("a", "VARCHAR"), ("b", "INT")]
    idc, ac, bc = ch["table"]["columns"]
    assert (idc["jdbcType"], idc["position"], idc["optional"], idc["length"]) == (4, 1, False, 11)
    assert (ac["jdbcType"], ac["length"], ac["charsetName"], ac["optional"]) == (12, 10, ch["table"][
        "defaultCharsetName"], True)
    assert (bc["defaultValueExpression"], bc["position"], bc["comment"]) == ("7", 3, None)
    assert columns(drop["tableChanges"][0]) == [("id", "INT"), ("b", "INT")]
    assert columns(rename["tableChanges"][0]) == [("id", "INT"), ("c", "INT")]
    # the schema change events carry Debezium's Connect schemas
    assert ddl[0]["value"]["schema"]["name"] == "io.debezium.connector.mariadb.SchemaChangeValue"
    assert ddl[0]["key"]["schema"]["name"] == "io.debezium.connector.mariadb.SchemaChangeKey"
    assert s.stop() == 0


def test_ddl_read_behind_without_full_metadata(my, mysluice, row_metadata):
    """The binlog read after the table changed (sluice was stopped): without column names in the binlog,
    rows written before an ADD COLUMN at the end still decode under their own columns, and a change that
    information_schema cannot explain (a dropped column) stops the connector with an error naming the table
    and binlog_row_metadata=FULL, instead of decoding rows under the wrong names."""
    mysql(my, "DROP TABLE IF EXISTS it_my_behind")
    mysql(my, "CREATE TABLE it_my_behind (id INT PRIMARY KEY, a VARCHAR(10), n SMALLINT UNSIGNED)")
    s = mysluice(table_include_list="sluice.it_my_behind", snapshot_mode="no_data").start()
    wait_log(s, "streaming binlog from")
    mysql(my, "INSERT INTO it_my_behind VALUES (1, 'x', 65535)")
    s.wait_events(1)
    assert s.stop() == 0
    mysql(my, "INSERT INTO it_my_behind VALUES (2, 'y', 65534)")
    mysql(my, "ALTER TABLE it_my_behind ADD COLUMN b INT DEFAULT 7")
    mysql(my, "INSERT INTO it_my_behind VALUES (3, 'z', 1, 8)")
    s.start()
    ev = s.wait_events(3)
    assert [payload(e)["after"] for e in ev] == [{"id": 1, "a": "x", "n": 65535}, {"id": 2, "a": "y", "n": 65534},
                                                {"id": 3, "a": "z", "n": 1, "b": 8}]
    assert s.stop() == 0
    mysql(my, "INSERT INTO it_my_behind VALUES (4, 'w', 2, 9)")
    mysql(my, "ALTER TABLE it_my_behind DROP COLUMN a")
    s.start()
    if row_metadata == "FULL":  # the binlog names its columns: nothing to guess
        ev = s.wait_events(4)
        assert payload(ev[3])["after"] == {"id": 4, "a": "w", "n": 2, "b": 9}
        assert s.stop() == 0
    else:
        assert s.proc.wait(30) != 0
        log = log_text(s)
        assert ".it_my_behind: the binlog has no column names" in log and "binlog_row_metadata=FULL" in log, log[-2000:]
        assert len(s.events()) == 3
    mysql(my, "DROP TABLE it_my_behind")


def test_truncate_after_alter_carries_the_new_columns(my, mysluice):
    """A TRUNCATE after an ALTER TABLE: its event's schema is the table's new shape, not the one of the
    rows events read before the ALTER."""
    my_make_table(my, "it_my_trunc", "id INT PRIMARY KEY, a INT")
    s = mysluice(table_include_list="sluice.it_my_trunc", snapshot_mode="no_data", skipped_operations="none").start()
    wait_log(s, "streaming binlog from")
    mysql(my, "INSERT INTO it_my_trunc VALUES (1, 2)")
    s.wait_events(1)
    mysql(my, "ALTER TABLE it_my_trunc ADD COLUMN c INT DEFAULT 7")
    mysql(my, "TRUNCATE TABLE it_my_trunc")
    ins, trunc = s.wait_events(2)
    assert payload(trunc)["op"] == "t"
    fields = {f["field"]: f for f in trunc["value"]["schema"]["fields"]}
    assert [f["field"] for f in fields["before"]["fields"]] == ["id", "a", "c"]
    assert [f["field"] for f in ins["value"]["schema"]["fields"][0]["fields"]] == ["id", "a"]
    assert s.stop() == 0


def test_schema_changes_tables_databases_truncate(my, mysluice, tmp_path, row_metadata):
    """CREATE/RENAME/DROP TABLE and database statements; include.schema.changes=false turns them off;
    TRUNCATE is a truncate event when skipped.operations lets it through."""
    for t in ("it_my_sc1", "it_my_sc2", "it_my_other"):
        mysql(my, f"DROP TABLE IF EXISTS {t}")
    mysql(my, "DROP DATABASE IF EXISTS it_my_scdb")
    my_make_table(my, "it_my_sc0", "id INT PRIMARY KEY")  # the include list must match a table at start
    s = mysluice(table_include_list="sluice.it_my_sc.*", snapshot_mode="no_data", skipped_operations="none",
                 include_schema_comments="true", schema_events=True).start()
    (tmp_path / "off").mkdir()
    off = MySluice(tmp_path / "off", my, table_include_list="sluice.it_my_sc.*", snapshot_mode="no_data",
                   include_schema_changes="false", skipped_operations="none", schema_events=True).start()
    head = s.wait_events(6)  # the no_data snapshot's: SET, DROP TABLE, DROP DATABASE, CREATE DATABASE, USE, CREATE
    assert [payload(e)["ddl"].split(" ")[0] for e in head] == ["SET", "DROP", "DROP", "CREATE", "USE", "CREATE"]
    assert payload(head[5])["ddl"].startswith("CREATE TABLE `it_my_sc0`")
    wait_log(s, "streaming binlog from")
    wait_log(off, "streaming binlog from")
    # (each statement's event waited for: an event describes the table as it is when the event is read)
    for q, n in [("CREATE TABLE it_my_sc1 (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
                  "e ENUM('a','b''c') NOT NULL DEFAULT 'a', d DECIMAL(12,2) COMMENT 'money', j JSON)", 1),
                 ("CREATE TABLE it_my_other (id INT PRIMARY KEY)", 1),  # not captured: no event
                 ("INSERT INTO it_my_sc1 (e) VALUES ('b''c')", 2), ("TRUNCATE TABLE it_my_sc1", 3),
                 ("RENAME TABLE it_my_sc1 TO it_my_sc2", 4), ("DROP TABLE it_my_sc2, it_my_other", 5)]:
        mysql(my, q)
        s.wait_events(n + 6)
    ev = s.wait_events(11)[6:]
    assert [e["topic"] for e in ev] == ["my", "my.sluice.it_my_sc1", "my.sluice.it_my_sc1", "my", "my"]
    create, ins, trunc, rename, drop = ev
    c = payload(create)["tableChanges"][0]
    assert c["type"] == "CREATE" and c["id"] == '"sluice"."it_my_sc1"'
    assert c["table"]["primaryKeyColumnNames"] == ["id"] and c["table"]["defaultCharsetName"] == "utf8mb4"
    idc, ec, dc, jc = c["table"]["columns"]
    assert (idc["typeName"], idc["jdbcType"], idc["autoIncremented"], idc["generated"]) == \
        ("BIGINT UNSIGNED", -5, True, True)
    assert (ec["jdbcType"], ec["enumValues"], ec["defaultValueExpression"], ec["optional"]) == \
        (1, ["'a'", "'b''c'"], "a", False)  # Debezium lists the SQL literals
    assert (dc["jdbcType"], dc["length"], dc["scale"], dc["comment"]) == (3, 12, 2, "money")
    assert (jc["typeName"], jc["jdbcType"]) == ("JSON", 1111)
    assert payload(ins)["op"] == "c" and payload(trunc)["op"] == "t" and trunc["key"] is None
    r = payload(rename)
    assert r["ddl"] == "RENAME TABLE it_my_sc1 TO it_my_sc2" and r["source"]["table"] == "it_my_sc2"
    assert r["tableChanges"][0]["type"] == "ALTER" and r["tableChanges"][0]["id"] == '"sluice"."it_my_sc2"'
    d = payload(drop)  # one event per dropped captured table, Debezium's rewritten statement
    assert d["ddl"] == "DROP TABLE `sluice`.`it_my_sc2`" and d["source"]["table"] == "it_my_sc2"
    assert [(x["type"], x["id"], x["table"]) for x in d["tableChanges"]] == [("DROP", '"sluice"."it_my_sc2"', None)]
    assert payload(create)["source"]["thread"] is None and payload(create)["source"]["query"] is None
    # database statements of a captured database (the test user's database filter is open)
    mysql(my, "CREATE DATABASE it_my_scdb")
    mysql(my, "DROP DATABASE it_my_scdb")
    ev = s.wait_events(13)[6:]
    assert [(payload(e)["databaseName"], payload(e)["tableChanges"]) for e in ev[5:]] == \
        [("it_my_scdb", []), ("it_my_scdb", [])]
    assert payload(ev[5])["ddl"] == "CREATE DATABASE it_my_scdb"
    # with include.schema.changes=false: the insert and the truncate only
    oev = off.wait_events(2)
    time.sleep(1.0)
    assert [payload(e)["op"] for e in off.events()] == ["c", "t"]
    assert off.stop() == 0
    assert s.stop() == 0
    mysql(my, "DROP TABLE IF EXISTS it_my_other")


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


def kill_binlog_dumps(my):
    dumps = mysql(my, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'")
    assert dumps, "no binlog dump thread"
    for (pid,) in dumps:
        mysql(my, f"KILL {pid}")


def test_retries_count_across_reconnects_until_errors_max_retries(my, mysluice):
    """A user allowed one connection: open() works (one connection for queries), then the binlog dump's own
    connection is refused, again after every reconnect, before anything was read. Each reconnect is one
    more retry, so errors.max.retries stops the connector (the attempts used to start at 1 every time)."""
    user, pw = "it_maxconn", "pw-it-maxconn"
    mysql(my, f"DROP USER IF EXISTS '{user}'@'%'")
    mysql(my, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{pw}' WITH MAX_USER_CONNECTIONS 1")
    mysql(my, f"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'%'")
    try:
        s = mysluice(database_user=user, database_password=pw, snapshot_mode="never", errors_max_retries="3",
                     retriable_restart_connector_wait_ms="100")
        rc = s.run_to_end(timeout=60)
    finally:
        mysql(my, f"DROP USER IF EXISTS '{user}'@'%'")
    log = log_text(s)
    assert rc == 1, log
    assert re.findall(r"reconnecting connector=\S+ attempt=(\d+)", log) == ["1", "2", "3"], log
    assert "max_user_connections" in log and "gave up after 3 retries: errors.max.retries" in log, log


def test_a_reconnect_that_made_progress_starts_the_retry_count_again(my, mysluice):
    """errors.max.retries=1 allows one reconnect in a row: the binlog connection killed twice, with changes
    read in between, is two separate single retries, and the connector goes on."""
    t = my_make_table(my, "it_my_retry_reset", "id INT PRIMARY KEY")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="never", errors_max_retries="1",
                 retriable_restart_connector_wait_ms="100").start()
    wait_log(s, "streaming binlog from")
    for i in (1, 2):
        kill_binlog_dumps(my)
        wait_until(lambda: log_text(s).count("streaming binlog from") == i + 1, 30, what=f"reconnect {i}")
        mysql(my, f"INSERT INTO {t} VALUES ({i})")
        s.wait_events(i)
    mysql(my, f"INSERT INTO {t} VALUES (3)")
    s.wait_events(3)
    assert s.proc.poll() is None, log_text(s)
    assert [payload(e)["after"]["id"] for e in s.events()] == [1, 2, 3]
    assert re.findall(r"attempt=(\d+)", log_text(s)) == ["1", "1"], log_text(s)
    assert s.stop() == 0


def test_rotates_purges_and_killed_binlog_connections_keep_real_file_names(my, mysluice):
    """The binlog rotates (FLUSH BINARY LOGS), old files are purged and sluice's binlog connection is killed,
    again and again while rows are written: every offset sluice stores names a binlog file the server has (a
    rotate event's file name, parsed from its real layout, not cut short), every row arrives, and a restart
    resumes from the stored offset."""
    t = my_make_table(my, "it_my_rotate", "id INT PRIMARY KEY")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="never", retriable_restart_connector_wait_ms="100")
    s.start()
    wait_log(s, "streaming binlog from")
    files_seen, n = set(), 0

    def insert():
        nonlocal n
        n += 1
        mysql(my, f"INSERT INTO {t} VALUES ({n})")

    def stored_file():
        r = run_cli("offsets", "list", str(s.cfg_path))
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        return json.loads(lines[0].split("\t")[2])["file"] if lines else None

    for round_ in range(6):
        insert()
        mysql(my, "FLUSH BINARY LOGS")
        insert()
        if round_ % 2:
            kill_binlog_dumps(my)
            mysql(my, "FLUSH BINARY LOGS")
        insert()
        s.wait_events(n)
        current = mysql(my, "SHOW MASTER STATUS")[0][0]
        # the offset of the newest row: in the current file, by the name the server gives it
        wait_until(lambda: stored_file() == current, 10, what=f"the stored offset to name {current}")
        files_seen.add(current)
        try:
            mysql(my, f"PURGE BINARY LOGS TO '{current}'")
        except pymysql.MySQLError:
            pass  # a file a dump thread still reads is kept
    assert [payload(e)["after"]["id"] for e in s.events()] == list(range(1, n + 1))
    assert "ignoring a rotate event" not in log_text(s) and "reconnecting" in log_text(s)
    assert s.stop() == 0
    assert stored_file() in [r[0] for r in mysql(my, "SHOW BINARY LOGS")]

    insert()  # while sluice is down
    s.start()
    insert()
    s.wait_events(n)
    time.sleep(0.3)
    assert s.stop() == 0
    assert [payload(e)["after"]["id"] for e in s.events()] == list(range(1, n + 1))
    assert len(files_seen) == 6


def test_binlog_checksum_switched_while_streaming_and_at_connect(my, mysluice):
    """binlog_checksum=NONE and back while sluice streams (the server rotates at each change: files with and
    without CRC32 follow each other), and a connect while it is NONE (the first fake rotate has no checksum):
    each event is read by its own file's checksum setting, every row arrives, and the stored offset names the
    current file."""
    t = my_make_table(my, "it_my_checksum", "id INT PRIMARY KEY, v VARCHAR(20)")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="never")
    try:
        s.start()
        wait_log(s, "streaming binlog from")
        mysql(my, f"INSERT INTO {t} VALUES (1, 'crc32')")
        mysql(my, "SET GLOBAL binlog_checksum = 'NONE'")
        mysql(my, f"INSERT INTO {t} VALUES (2, 'none'), (3, 'none')")
        s.wait_events(3)
        time.sleep(0.3)
        assert s.stop() == 0
        s.mark = s.log.stat().st_size
        s.start()
        wait_log(s, "streaming binlog from", since=s.mark)
        mysql(my, f"INSERT INTO {t} VALUES (4, 'none')")
        mysql(my, "SET GLOBAL binlog_checksum = 'CRC32'")
        mysql(my, f"INSERT INTO {t} VALUES (5, 'crc32')")
        s.wait_events(5)
        current = mysql(my, "SHOW MASTER STATUS")[0][0]
        wait_until(lambda: run_cli("offsets", "list", str(s.cfg_path)).stdout.count(f'"file":"{current}"') == 1, 10,
                   what=f"the stored offset to name {current}")
        assert s.stop() == 0
    finally:
        mysql(my, "SET GLOBAL binlog_checksum = 'CRC32'")
    assert [(payload(e)["after"]["id"], payload(e)["after"]["v"]) for e in s.events()] == \
        [(1, "crc32"), (2, "none"), (3, "none"), (4, "none"), (5, "crc32")]
