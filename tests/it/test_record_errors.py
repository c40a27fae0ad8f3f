"""Nothing is dropped silently: a record that cannot be delivered (a transform fails on it, a value
cannot be encoded) either stops the connector with an error naming the record and its position, before
its offset (errors.tolerance=none), or is logged, counted and sent to the dead letter queue
(errors.tolerance=all). Filtered records are counted apart from failed ones."""
import json
import os

import psycopg2
import pytest

from conftest import kafka_consume_all, log_text, payload, pg_params, sql, wait_streaming, wait_until
from test_rest import metric, wait_events


def unwrap_cast(**extra):
    """unwrap, then Cast note to int32: a row whose note is not a number makes the Cast fail."""
    c = {"transforms": "unwrap,cast",
         "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
         "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
         "transforms.cast.spec": "note:int32"}
    c.update(extra)
    return c


def notes(events):
    return [payload(e)["note"] for e in events if e["value"] is not None]


def test_transform_failure_stops_before_the_record_and_a_fixed_config_delivers_it(pg, tables, sluice):
    t = tables("it_err_cast", "id int PRIMARY KEY, note text")
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="no_data", **unwrap_cast())
    s.start()
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (1, '10')")
    s.wait_events(1)
    sql(pg, f"INSERT INTO {t} VALUES (2, 'ten')")
    sql(pg, f"INSERT INTO {t} VALUES (3, '30')")
    assert s.proc.wait(30) != 0
    log = log_text(s)
    assert "transform cast" in log and f"table public.{t} at lsn " in log and "cannot cast field 'note'" in log, log[-2000:]
    assert "errors.tolerance=all" in log  # the error says how to skip such records
    assert notes(s.events()) == [10]
    # The offset stayed before the failed record: without the Cast it arrives, and so does the next one.
    for k in ("transforms.cast.type", "transforms.cast.spec"):
        del s.config[k]
    s.config["transforms"] = "unwrap"
    s.start()
    wait_until(lambda: "ten" in notes(s.events()), what="the failed row after the restart")
    wait_until(lambda: "30" in notes(s.events()), what="the row after it")
    assert s.stop() == 0


@pytest.fixture
def ascii_db(pg):
    """A SQL_ASCII database: PostgreSQL stores and decodes any bytes in its text columns, as legacy
    databases do, so a value may be text that is not UTF-8."""
    name = "sl_it_ascii"
    sql(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    sql(pg, f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    conn = psycopg2.connect(**pg_params(dbname=name))
    conn.autocommit = True
    conn.set_client_encoding("SQL_ASCII")
    yield name, conn
    for slot, in sql(conn, "SELECT slot_name FROM pg_replication_slots WHERE database = current_database()"):
        wait_until(lambda: sql(conn, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", slot)[0][0]
                   is False, what="the slot to be released")
        sql(conn, "SELECT pg_drop_replication_slot(%s)", slot)
    conn.close()
    sql(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_text_that_is_not_utf8_stops_then_goes_to_the_dlq(ascii_db, sluice, kafka):
    db, conn = ascii_db
    sql(conn, "CREATE TABLE notes (id int PRIMARY KEY, note text)")
    s = sluice(database_dbname=db, table_include_list="public.notes", snapshot_mode="no_data")
    s.start()
    wait_streaming(s)
    sql(conn, "INSERT INTO notes VALUES (1, 'plain')")
    s.wait_events(1)
    with conn.cursor() as c:  # 'café' in Latin-1: the byte 0xE9 is not UTF-8
        c.execute(b"INSERT INTO notes VALUES (2, 'caf\xe9')")
    sql(conn, "INSERT INTO notes VALUES (3, 'after')")
    assert s.proc.wait(30) != 0
    log = log_text(s)
    assert "table public.notes at lsn " in log and "column note" in log and "not UTF-8" in log, log[-2000:]
    raw = s.out.read_bytes()
    raw.decode("utf-8")  # nothing that is not UTF-8 reached the output
    assert [payload(e)["after"]["id"] for e in s.events()] == [1]
    # errors.tolerance=all: the record goes to the dead letter queue with the reason, the next one goes on.
    dlq = kafka.topic("dlq")
    s.config.update({"errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
                     "errors.deadletterqueue.topic.replication.factor": "1",
                     "errors.deadletterqueue.context.headers.enable": "true",
                     "bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP"]})
    s.start()
    wait_until(lambda: [payload(e)["after"]["id"] for e in s.events()] == [1, 3], what="row 3 after the bad row")
    (rec,) = kafka_consume_all(dlq)
    assert b"caf\xe9" in rec["value"]  # the record as it would have been written, its bytes kept
    assert json.loads(rec["key"].decode())["payload"] == {"id": 2}
    headers = dict(rec["headers"])
    assert b"not UTF-8" in headers["__connect.errors.exception.message"]
    assert "skipping 'c' record of table public.notes" in log_text(s)
    assert s.stop() == 0


def test_failed_and_filtered_records_are_counted_apart(pg, tables, kafka, tmp_path):
    from test_rest import Pg, Serve
    t = tables("it_err_count", "id int PRIMARY KEY, note text")
    s = Serve(tmp_path).start()
    p = Pg(pg, tmp_path)
    try:
        dlq = kafka.topic("dlq")
        cfg = p.config(t, **unwrap_cast(**{
            "snapshot.mode": "no_data", "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": dlq, "errors.deadletterqueue.topic.replication.factor": "1",
            "errors.deadletterqueue.context.headers.enable": "true",
            "bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP"],
            "transforms": "drop,unwrap,cast", "transforms.drop.type": "filter",
            "transforms.drop.condition": "after.note == 'skip'", "transforms.drop.action": "drop"}))
        s.ok("POST", "/connectors", {"name": "errs", "config": cfg}, want=201)
        s.wait_state("errs", "RUNNING")
        wait_until(lambda: "streaming" in s.log_text(), what="streaming")
        for i, note in enumerate(["1", "x", "skip", "4", "y", "6"], 1):
            sql(pg, f"INSERT INTO {t} VALUES (%s, %s)", i, note)
        evs = wait_events(s, cfg, 3)
        assert notes(evs) == [1, 4, 6]
        wait_until(lambda: metric(s, "sluice_connector_records_failed_total", "errs") == 2, what="2 failed")
        assert metric(s, "sluice_connector_records_dlq_total", "errs") == 2
        assert metric(s, "sluice_connector_records_filtered_total", "errs") == 1
        got = kafka_consume_all(dlq)
        assert [json.loads(r["value"])["payload"]["after"]["note"] for r in got] == ["x", "y"]
        assert all(b"cannot cast field 'note'" in dict(r["headers"])["__connect.errors.exception.message"] for r in got)
        assert s.stop() == 0
    finally:
        s.stop()
        p.cleanup()
