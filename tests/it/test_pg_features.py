"""PostgreSQL specifics: replica identity, unchanged TOAST, truncate, logical decoding messages, column
filters, heartbeats on a filtered-out workload, message.key.columns and tables without a key."""
import base64
import random
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
    ev = s.wait_events(4)
    assert ops(ev) == ["r", "c", "d", "c"]  # no tombstone without a key
    assert all(e["key"] is None for e in ev)
    assert payload(ev[2])["before"] == {"a": 2, "b": "y"}
    assert s.stop() == 0
