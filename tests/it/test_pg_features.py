"""PostgreSQL specifics: replica identity, unchanged TOAST, truncate, logical decoding messages, column
filters, heartbeats on a filtered-out workload, message.key.columns and tables without a key; Debezium 3.x
transaction metadata, snapshot markers, replication origins and context headers."""
import base64
import json
import random
import re
import string

from conftest import key_payload, ops, payload, slot_row, sql, start_run, wait_streaming, wait_until


def streaming(sluice, **config):
    config.setdefault("snapshot_mode", "no_data")
    s = start_run(sluice(**config))
    wait_streaming(s)
    return s


def test_replica_identity_default_vs_full(pg, tables, sluice):
    d = tables("it_feat_ri_default", "id int PRIMARY KEY, v int, note text")
    f = tables("it_feat_ri_full", "id int PRIMARY KEY, v int, note text", "ALTER TABLE it_feat_ri_full REPLICA IDENTITY FULL")
    s = streaming(sluice, table_include_list=f"public.{d},public.{f}")
    for t in (d, f):
        sql(pg, f"INSERT INTO {t} VALUES (1, 10, 'a')")
        sql(pg, f"UPDATE {t} SET v = 11, note = 'b' WHERE id = 1")
        sql(pg, f"DELETE FROM {t} WHERE id = 1")
    ev = s.wait_events(8)
    assert ops(ev) == ["c", "u", "d", None] * 2
    by_table = {}
    for e in ev:
        if e["value"] is not None:
            by_table.setdefault(payload(e)["source"]["table"], []).append(payload(e))
    c, u, dl = by_table[d]
    assert u["before"] is None  # DEFAULT: no old row on update
    assert u["after"] == {"id": 1, "v": 11, "note": "b"}
    assert dl["before"] == {"id": 1, "v": None, "note": None}  # DEFAULT: key columns only on delete
    assert dl["after"] is None
    c, u, dl = by_table[f]
    assert u["before"] == {"id": 1, "v": 10, "note": "a"}  # FULL: the whole old row
    assert u["after"] == {"id": 1, "v": 11, "note": "b"}
    assert dl["before"] == {"id": 1, "v": 11, "note": "b"}
    assert s.stop() == 0


def test_unchanged_toast_value_is_the_placeholder(pg, tables, sluice):
    d = tables("it_feat_toast", "id int PRIMARY KEY, v int, big text")
    f = tables("it_feat_toast_full", "id int PRIMARY KEY, v int, big text",
               "ALTER TABLE it_feat_toast_full REPLICA IDENTITY FULL")
    big = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(100_000))
    s = streaming(sluice, table_include_list=f"public.{d},public.{f}")
    for t in (d, f):
        sql(pg, f"INSERT INTO {t} VALUES (1, 1, %s)", big)
        (stored,), = sql(pg, f"SELECT pg_column_size(big) FROM {t}")
        assert stored > 2000  # compressed but still out of line: the update below does not re-send it
        sql(pg, f"UPDATE {t} SET v = 2 WHERE id = 1")
    ev = s.wait_events(4)
    assert ops(ev) == ["c", "u", "c", "u"]
    assert payload(ev[0])["after"]["big"] == big
    # DEFAULT identity: the value is not in the stream, Debezium's placeholder stands in for it.
    assert payload(ev[1])["after"] == {"id": 1, "v": 2, "big": "__debezium_unavailable_value"}
    # FULL identity: the old row carries the value, and the new row takes it from there.
    assert payload(ev[3])["before"] == {"id": 1, "v": 1, "big": big}
    assert payload(ev[3])["after"] == {"id": 1, "v": 2, "big": big}
    assert s.stop() == 0


def test_truncate_skipped_by_default(pg, tables, sluice):
    t = tables("it_feat_trunc_default", "id int PRIMARY KEY")
    s = streaming(sluice, table_include_list=f"public.{t}")
    sql(pg, f"INSERT INTO {t} VALUES (1)")
    sql(pg, f"TRUNCATE {t}")
    sql(pg, f"INSERT INTO {t} VALUES (2)")
    ev = s.wait_events(2)
    assert s.stop() == 0
    assert ops(s.events()) == ["c", "c"]
    assert [payload(e)["after"]["id"] for e in ev] == [1, 2]


def test_truncate_emitted_when_not_skipped(pg, tables, sluice):
    t = tables("it_feat_trunc_none", "id int PRIMARY KEY")
    s = streaming(sluice, table_include_list=f"public.{t}", skipped_operations="none")
    sql(pg, f"INSERT INTO {t} VALUES (1)")
    sql(pg, f"TRUNCATE {t}")
    sql(pg, f"INSERT INTO {t} VALUES (2)")
    ev = s.wait_events(3)
    assert ops(ev) == ["c", "t", "c"]
    tr = ev[1]
    assert tr["topic"] == f"it.public.{t}"
    assert tr["key"] is None
    assert payload(tr)["before"] is None and payload(tr)["after"] is None
    assert payload(tr)["source"]["table"] == t
    assert s.stop() == 0


def test_logical_decoding_message(pg, tables, sluice):
    t = tables("it_feat_msg", "id int PRIMARY KEY")
    s = streaming(sluice, table_include_list=f"public.{t}")
    sql(pg, "SELECT pg_logical_emit_message(true, 'pfx', 'hello')")
    sql(pg, f"INSERT INTO {t} VALUES (1)")
    sql(pg, "SELECT pg_logical_emit_message(false, 'other', '\\x00ff'::bytea)")
    sql(pg, f"INSERT INTO {t} VALUES (2)")
    ev = s.wait_events(4)
    assert ops(ev) == ["m", "c", "m", "c"]
    m = ev[0]
    assert m["topic"] == "it.message"
    assert key_payload(m) == {"prefix": "pfx"}
    v = payload(m)
    assert v["message"]["prefix"] == "pfx"
    assert base64.b64decode(v["message"]["content"]) == b"hello"
    assert v["source"]["txId"] and v["source"]["lsn"] > 0
    assert "before" not in v and "after" not in v
    if "schema" in m["value"]:
        assert m["value"]["schema"]["name"] == "io.debezium.connector.postgresql.MessageValue"
    nt = payload(ev[2])  # non-transactional: no transaction id, raw bytes kept
    assert nt["message"]["prefix"] == "other" and key_payload(ev[2]) == {"prefix": "other"}
    assert base64.b64decode(nt["message"]["content"]) == b"\x00\xff"
    assert nt["source"]["txId"] is None
    assert s.stop() == 0


def test_column_exclude_list(pg, tables, sluice):
    t = tables("it_feat_colex", "id int PRIMARY KEY, name text, secret text")
    sql(pg, f"INSERT INTO {t} VALUES (1, 'one', 's1')")
    s = start_run(sluice(table_include_list=f"public.{t}", column_exclude_list=f"public.{t}.secret"))
    s.wait_events(1)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (2, 'two', 's2')")
    sql(pg, f"UPDATE {t} SET secret = 'x', name = 'uno' WHERE id = 1")
    ev = s.wait_events(3)
    assert ops(ev) == ["r", "c", "u"]
    assert [payload(e)["after"] for e in ev] == [{"id": 1, "name": "one"}, {"id": 2, "name": "two"},
                                                 {"id": 1, "name": "uno"}]
    assert "s1" not in s.out.read_text() and "s2" not in s.out.read_text()
    if "schema" in ev[0]["value"]:
        after_schema = next(f for f in ev[0]["value"]["schema"]["fields"] if f["field"] == "after")
        assert [f["field"] for f in after_schema["fields"]] == ["id", "name"]
    assert s.stop() == 0


def test_heartbeat_moves_slot_while_captured_table_idle(pg, tables, sluice):
    """PostgreSQL 15's walsender itself sends a keepalive when it has decoded past what the client
    confirmed, so the slot assertion holds as long as sluice commits keepalive positions; the heartbeat's
    own part is checked through heartbeat.action.query (which writes to a third, uncaptured table)."""
    cap = tables("it_feat_hb_captured", "id int PRIMARY KEY")
    other = tables("it_feat_hb_other", "id int PRIMARY KEY, pad text")
    beats = tables("it_feat_hb_beats", "at timestamptz NOT NULL DEFAULT clock_timestamp()")
    s = streaming(sluice, table_include_list=f"public.{cap}", heartbeat_interval_ms="500",
                  publication_autocreate_mode="filtered",
                  **{"heartbeat.action.query": f"INSERT INTO {beats} DEFAULT VALUES"})
    published = [r[0] for r in sql(pg, "SELECT tablename FROM pg_publication_tables WHERE pubname = %s",
                                    s.publication)]
    assert published == [cap]  # the other table's changes are not even decoded into messages
    _, start_flush = slot_row(pg, s.slot)
    with pg.cursor() as c:
        for i in range(20):
            c.execute(f"INSERT INTO {other} VALUES (%s, repeat('x', 500))", (i,))
        c.execute("BEGIN")
        c.execute(f"INSERT INTO {other} VALUES (1000, 'last')")
        c.execute("SELECT pg_current_wal_insert_lsn() - '0/0'")
        (written,), = c.fetchall()
        c.execute("COMMIT")
    written = int(written)
    assert written > start_flush

    def flushed_past():
        row = slot_row(pg, s.slot)
        return row and row[1] is not None and row[1] > written

    wait_until(flushed_past, timeout=20, interval=0.2, what="confirmed_flush_lsn past the other table's writes")
    wait_until(lambda: sql(pg, f"SELECT count(*) FROM {beats}")[0][0] >= 3, timeout=20, interval=0.2,
               what="three runs of heartbeat.action.query")
    events = s.events()
    beats_out = [e for e in events if e["topic"] == "__debezium-heartbeat.it"]
    assert [e for e in events if e["topic"] != "__debezium-heartbeat.it"] == []  # nothing captured was emitted
    # Debezium's heartbeat records: the position moved, so at least one was written.
    assert beats_out, events
    assert beats_out[0]["key"]["payload"] == {"serverName": "it"}
    assert beats_out[0]["key"]["schema"]["name"] == "io.debezium.connector.common.ServerNameKey"
    assert beats_out[0]["value"]["schema"]["name"] == "io.debezium.connector.common.Heartbeat"
    assert beats_out[0]["value"]["payload"]["ts_ms"] > 0
    assert s.stop() == 0


def test_message_key_columns(pg, tables, sluice):
    t = tables("it_feat_mkc", "id int PRIMARY KEY, code text, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 'A', 1)")
    s = start_run(sluice(table_include_list=f"public.{t}", message_key_columns=f"public.{t}:code"))
    s.wait_events(1)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (2, 'B', 2)")
    sql(pg, f"DELETE FROM {t} WHERE id = 2")
    ev = s.wait_events(4)
    assert ops(ev) == ["r", "c", "d", None]
    assert key_payload(ev[0]) == {"code": "A"}
    assert key_payload(ev[1]) == {"code": "B"}
    if "schema" in ev[1]["key"]:
        assert [f["field"] for f in ev[1]["key"]["schema"]["fields"]] == ["code"]
    assert s.stop() == 0


def test_table_without_primary_key_has_null_key(pg, tables, sluice):
    t = tables("it_feat_nopk", "a int, b text", "ALTER TABLE it_feat_nopk REPLICA IDENTITY FULL")
    sql(pg, f"INSERT INTO {t} VALUES (1, 'x')")
    s = start_run(sluice(table_include_list=f"public.{t}"))
    s.wait_events(1)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (2, 'y')")
    sql(pg, f"DELETE FROM {t} WHERE a = 2")
    sql(pg, f"INSERT INTO {t} VALUES (3, 'z')")
    ev = s.wait_events(5)
    # Debezium's EventDispatcher follows every delete with a tombstone, a null-key one too
    assert ops(ev) == ["r", "c", "d", None, "c"]
    assert all(e["key"] is None for e in ev)
    assert payload(ev[2])["before"] == {"a": 2, "b": "y"}
    assert ev[3]["topic"] == ev[2]["topic"] and ev[3]["value"] is None
    assert s.stop() == 0
    # through a transform chain too
    s = streaming(sluice, table_include_list=f"public.{t}", transforms="r",
                  transforms_r_type="org.apache.kafka.connect.transforms.RegexRouter",
                  transforms_r_regex="(.*)", transforms_r_replacement="$1")
    sql(pg, f"DELETE FROM {t} WHERE a = 3")
    ev = s.wait_events(5 + 2)[5:]  # the same output file
    assert ops(ev) == ["d", None] and ev[1]["key"] is None
    assert s.stop() == 0


def java_hashmap_order(keys):
    """The iteration order of a java.util.HashMap the keys were put into in this order (String.hashCode,
    hash ^ (hash >>> 16), 16 buckets doubling past a 0.75 load factor, insertion order within a bucket)."""
    def jhash(k):
        h = 0
        u = k.encode("utf-16-be")
        for i in range(0, len(u), 2):
            h = (31 * h + int.from_bytes(u[i:i + 2], "big")) & 0xFFFFFFFF
        return h
    cap = 16
    while len(keys) > cap * 3 // 4:
        cap *= 2
    return sorted(keys, key=lambda k: ((jhash(k) ^ (jhash(k) >> 16)) & (cap - 1), keys.index(k)))


def test_transaction_metadata(pg, tables, sluice):
    """PostgresTransactionMonitor: ids "<txId>:<lsn of the record>", BEGIN at the transaction's start,
    data_collection_order per table (a multi-table TRUNCATE gives 1 to each), END's data_collections in
    the order of TransactionContext's HashMap; transactional messages count and carry their block, a
    non-transactional one has transaction null."""
    a = tables("it_feat_tx_orders", "id int PRIMARY KEY")
    b = tables("it_feat_tx_items", "id int PRIMARY KEY")
    s = streaming(sluice, table_include_list=f"public.{a},public.{b}", provide_transaction_metadata="true",
                  skipped_operations="none")
    sql(pg, f"BEGIN; INSERT INTO {a} VALUES (1); INSERT INTO {b} VALUES (1); INSERT INTO {a} VALUES (2);"
            f"SELECT pg_logical_emit_message(true, 'tx', 'in'); TRUNCATE {a}, {b}; COMMIT")
    sql(pg, "SELECT pg_logical_emit_message(false, 'nt', 'out')")
    ev = s.wait_events(9)
    txs = [e for e in ev if e["topic"] == "it.transaction"]
    data = [e for e in ev if e["topic"] != "it.transaction"]
    assert [payload(e)["status"] for e in txs] == ["BEGIN", "END"]
    assert ev[0] is txs[0] and ev[7] is txs[1]  # the message is inside BEGIN ... END
    assert ops(data) == ["c", "c", "c", "m", "t", "t", "m"]
    xid = payload(data[0])["source"]["txId"]
    inside = data[:6]
    for e in inside:
        tx = payload(e)["transaction"]
        assert tx["id"] == f"{xid}:{payload(e)['source']['lsn']}"
    assert [payload(e)["transaction"]["total_order"] for e in inside] == [1, 2, 3, 4, 5, 6]
    assert [payload(e)["transaction"]["data_collection_order"] for e in inside] == [1, 1, 2, 1, 3, 2]
    begin, end = payload(txs[0]), payload(txs[1])
    assert begin["id"].startswith(f"{xid}:") and begin["event_count"] is None and begin["data_collections"] is None
    assert key_payload(txs[0]) == {"id": begin["id"]}
    assert int(begin["id"].split(":")[1]) <= payload(data[0])["source"]["lsn"]
    assert end["id"].startswith(f"{xid}:") and int(end["id"].split(":")[1]) > payload(data[5])["source"]["lsn"]
    assert end["event_count"] == 6
    names = [f"public.{a}", f"public.{b}", "LOGICAL_DECODING_MESSAGE"]
    assert end["data_collections"] == [
        {"data_collection": n, "event_count": {f"public.{a}": 3, f"public.{b}": 2}.get(n, 1)}
        for n in java_hashmap_order(names)]
    assert payload(data[6])["transaction"] is None  # non-transactional message
    # source.sequence[0] (lastCommitLsn): none before the first commit of a start without an offset, then the
    # COMMIT's LSN (= END's); a non-transactional message is committed at its own LSN first
    assert all(json.loads(payload(e)["source"]["sequence"])[0] is None for e in inside)
    nt_lsn = payload(data[6])["source"]["lsn"]
    assert json.loads(payload(data[6])["source"]["sequence"]) == [str(nt_lsn), str(nt_lsn)]
    if "schema" in data[3]["value"]:
        assert [f["field"] for f in data[3]["value"]["schema"]["fields"]] == [
            "op", "ts_ms", "source", "transaction", "message"]
    assert s.stop() == 0


def test_snapshot_markers_per_table(pg, tables, sluice):
    """Debezium 3.x SnapshotRecord: first / first_in_data_collection / true / last_in_data_collection / last."""
    a = tables("it_feat_snap_a", "id int PRIMARY KEY")
    b = tables("it_feat_snap_b", "id int PRIMARY KEY")
    sql(pg, f"INSERT INTO {a} SELECT generate_series(1, 3); INSERT INTO {b} SELECT generate_series(1, 3)")
    # tables in include-list order (RelationalSnapshotChangeEventSource.addSignalingCollectionAndSort)
    s = start_run(sluice(table_include_list=f"public.{b},public.{a}", provide_transaction_metadata="true"))
    ev = s.wait_events(6)
    marks = [(payload(e)["source"]["table"], payload(e)["source"]["snapshot"]) for e in ev]
    assert marks == [(b, "first"), (b, "true"), (b, "last_in_data_collection"),
                     (a, "first_in_data_collection"), (a, "true"), (a, "last")]
    # the snapshot transaction's id (pg_current_xact_id()), but no transaction block; sequence [null, lsn]
    txids = {payload(e)["source"]["txId"] for e in ev}
    assert len(txids) == 1 and isinstance(txids.pop(), int)
    assert all(payload(e)["transaction"] is None for e in ev)
    assert all(payload(e)["source"]["sequence"] == f'[null,"{payload(e)["source"]["lsn"]}"]' for e in ev)
    if "schema" in ev[0]["value"]:
        src = next(f for f in ev[0]["value"]["schema"]["fields"] if f["field"] == "source")
        snap = next(f for f in src["fields"] if f["field"] == "snapshot")
        assert snap["parameters"]["allowed"] == \
            "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"
        assert src["version"] == 1
        assert [f["field"] for f in src["fields"]][-2:] == ["origin", "origin_lsn"]
    assert s.stop() == 0


def test_replication_origin_in_source(pg, tables, sluice):
    """A transaction replayed under a replication origin: source.origin / origin_lsn (pgoutput's Origin
    message, PostgresSourceInfoStructMaker); other transactions have nulls."""
    t = tables("it_feat_origin", "id int PRIMARY KEY")
    sql(pg, "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = 'it_feat_origin'")
    sql(pg, "SELECT pg_replication_origin_create('it_feat_origin')")
    try:
        s = streaming(sluice, table_include_list=f"public.{t}")
        sql(pg, "SELECT pg_replication_origin_session_setup('it_feat_origin'); BEGIN;"
                "SELECT pg_replication_origin_xact_setup('0/1234', now());"
                f"INSERT INTO {t} VALUES (1); COMMIT; SELECT pg_replication_origin_session_reset()")
        sql(pg, f"INSERT INTO {t} VALUES (2)")
        ev = s.wait_events(2)
        src = [payload(e)["source"] for e in ev]
        assert (src[0]["origin"], src[0]["origin_lsn"]) == ("it_feat_origin", 0x1234)
        assert (src[1]["origin"], src[1]["origin_lsn"]) == (None, None)
        assert s.stop() == 0
    finally:
        sql(pg, "SELECT pg_replication_origin_drop('it_feat_origin')")


UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_context_headers_on_streamed_changes(pg, tables, sluice):
    """extended.headers.enabled (default true): change events (snapshot reads too) and their tombstones carry
    __debezium.context.* after their own headers; logical decoding messages do not."""
    t = tables("it_feat_ctxh", "id int PRIMARY KEY")
    sql(pg, f"INSERT INTO {t} VALUES (1)")
    s = start_run(sluice(table_include_list=f"public.{t}"))
    s.wait_events(1)
    wait_streaming(s)
    sql(pg, f"UPDATE {t} SET id = 2 WHERE id = 1")
    sql(pg, "SELECT pg_logical_emit_message(true, 'p', 'x')")
    ev = s.wait_events(5)
    assert ops(ev) == ["r", "d", None, "c", "m"]
    assert ev[4]["headers"] == {}  # messages have none; snapshot reads have them (below)
    assert ev[0]["headers"] == {k: v for k, v in ev[1]["headers"].items() if k.startswith("__debezium.context.")}
    ctx = {k: v for k, v in ev[1]["headers"].items() if k.startswith("__debezium.context.")}
    assert list(ev[1]["headers"])[0] == "__debezium.newkey"  # the event's own header first
    assert list(ctx) == ["__debezium.context.connectorLogicalName", "__debezium.context.taskId",
                         "__debezium.context.connectorName", "__debezium.context.runId"]
    assert ctx["__debezium.context.connectorLogicalName"] == "it"
    assert ctx["__debezium.context.taskId"] == "0"
    assert ctx["__debezium.context.connectorName"] == "postgresql"
    assert UUID7.match(ctx["__debezium.context.runId"])
    assert ev[2]["headers"] == ev[1]["headers"]  # the tombstone keeps them
    assert list(ev[3]["headers"]) == ["__debezium.oldkey"] + list(ctx)
    assert s.stop() == 0
    s2 = start_run(sluice(table_include_list=f"public.{t}", snapshot_mode="no_data", extended_headers_enabled="false"))
    wait_streaming(s2)
    sql(pg, f"INSERT INTO {t} VALUES (3)")
    ev = s2.wait_events(1)
    assert ev[-1]["headers"] == {}
    assert s2.stop() == 0
