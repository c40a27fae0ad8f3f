"""Debezium's transforms end to end (file sink): the outbox EventRouter on a PostgreSQL outbox table,
on pg_logical_emit_message (table-less outbox) and on a MariaDB outbox table (BINARY(16) ids, JSON
as strings), and the seed-style unwrap chain (delete.handling.mode=rewrite, add.fields)."""
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import conftest
from conftest import ROOT, key_payload, my_make_table, mysql, payload, sql, wait_streaming, wait_until

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

ROUTER = {
    "transforms": "outbox",
    "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
    "transforms.outbox.table.field.event.key": "aggregate_id",
    "transforms.outbox.table.field.event.type": "event_type",
    "transforms.outbox.route.by.field": "aggregate_type",
    "transforms.outbox.table.field.event.timestamp": "created_at",
    "transforms.outbox.table.fields.additional.placement": "event_type:header:type",
    "transforms.outbox.table.expand.json.payload": "true",
}


def started(s, **transforms):
    s.config.update(ROUTER)
    s.config.update(transforms)
    s.start()
    # streaming: the PostgreSQL slot's replication or the binlog dump has begun
    wait_until(lambda: s.log.exists() and ("streaming slot=" in s.log.read_text() or
                                           "streaming binlog from" in s.log.read_text()), what="streaming")
    return s


def test_pg_outbox_table(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_outbox; CREATE TABLE it_outbox (id uuid PRIMARY KEY, aggregate_type text NOT NULL, "
            "aggregate_id text NOT NULL, event_type text NOT NULL, payload jsonb, metadata jsonb, "
            "created_at timestamptz(6) NOT NULL DEFAULT now())")
    s = started(sluice(table_include_list="public.it_outbox", snapshot_mode="no_data"))
    ids = [str(uuid.uuid4()) for _ in range(3)]
    with pg.cursor() as c:  # the application's transaction: two events
        c.execute("BEGIN")
        c.execute("INSERT INTO it_outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at) VALUES "
                  "(%s, 'Order', 'o-1', 'OrderCreated', '{\"total\": 12.5, \"lines\": [{\"sku\": \"a\"}]}', "
                  "'2024-05-06 07:08:09.123456+00'), (%s, 'Customer', 'c-9', 'Renamed', '{\"name\": \"x\"}', now())",
                  (ids[0], ids[1]))
        c.execute("COMMIT")
    sql(pg, "UPDATE it_outbox SET event_type = 'changed' WHERE id = %s", ids[0])  # skipped (warn)
    sql(pg, "DELETE FROM it_outbox WHERE id = %s", ids[1])  # ignored
    sql(pg, "INSERT INTO it_outbox (id, aggregate_type, aggregate_id, event_type, payload) "
            "VALUES (%s, 'Order', 'o-2', 'OrderPaid', NULL)", ids[2])
    ev = s.wait_events(3)
    time.sleep(0.5)
    ev = s.events()
    assert [e["topic"] for e in ev] == ["outbox.event.Order", "outbox.event.Customer", "outbox.event.Order"]
    assert [key_payload(e) for e in ev] == ["o-1", "c-9", "o-2"]
    assert [e["headers"]["id"] for e in ev] == ids[:1] + ids[1:2] + ids[2:]
    assert [e["headers"]["type"] for e in ev] == ["OrderCreated", "Renamed", "OrderPaid"]
    first = ev[0]["value"]
    assert first["payload"] == {"total": 12.5, "lines": [{"sku": "a"}]}  # expanded
    assert first["schema"]["type"] == "struct" and first["schema"]["name"] == "payload"
    assert payload(ev[2]) is None  # a NULL payload
    assert s.stop() == 0


def test_pg_emit_message(pg, sluice):
    """The table-less outbox: pg_logical_emit_message inside the application's transaction."""
    sql(pg, "DROP TABLE IF EXISTS it_orders_ob; CREATE TABLE it_orders_ob (id int PRIMARY KEY, total numeric)")
    s = sluice(table_include_list="public.it_orders_ob", snapshot_mode="no_data")
    s.config.update({
        "transforms": "outbox",
        "transforms.outbox.type": "outbox",
        "transforms.outbox.message.prefix": "outbox",
        "transforms.outbox.message.only": "true",  # the business table's events pass
        "transforms.outbox.table.field.event.timestamp": "timestamp",
        "transforms.outbox.table.fields.additional.placement": "type:header:eventType",
    })
    s.start()
    time.sleep(1.0)
    event = {"id": str(uuid.uuid4()), "aggregatetype": "Order", "aggregateid": "17", "type": "OrderCreated",
             "timestamp": 1714979289123, "payload": {"total": 12, "currency": "EUR"}, "headers": {"trace": "t-1"}}
    with pg.cursor() as c:
        c.execute("BEGIN")
        c.execute("INSERT INTO it_orders_ob VALUES (17, 12)")
        c.execute("SELECT pg_logical_emit_message(true, 'outbox', %s)", (json.dumps(event),))
        c.execute("SELECT pg_logical_emit_message(true, 'audit', 'not an outbox event')")
        c.execute("COMMIT")
    ev = s.wait_events(3)
    time.sleep(0.5)
    ev = s.events()
    assert len(ev) == 3, ev
    row, routed, other = ev
    assert row["topic"] == "it.public.it_orders_ob" and payload(row)["op"] == "c"  # rows untouched
    assert routed["topic"] == "outbox.event.Order"
    assert key_payload(routed) == "17"
    assert payload(routed) == {"total": 12, "currency": "EUR"}
    assert routed["headers"] == {"trace": "t-1", "id": event["id"], "eventType": "OrderCreated"}
    assert other["topic"] == "it.message" and payload(other)["message"]["prefix"] == "audit"  # passes
    assert s.stop() == 0


def test_mariadb_outbox_table(my, mysluice, row_metadata):
    name = my_make_table(my, "it_outbox_my", "id BINARY(16) PRIMARY KEY, aggregate_type VARCHAR(255) NOT NULL, "
                         "aggregate_id VARCHAR(255) NOT NULL, event_type VARCHAR(255) NOT NULL, payload JSON, "
                         "metadata JSON, created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)")
    s = mysluice(table_include_list=f"sluice.{name}", snapshot_mode="no_data")
    started(s, **{"transforms.outbox.table.fields.additional.placement": "event_type:header:type,metadata:envelope:meta"})
    u = uuid.uuid4()
    my.begin()
    mysql(my, f"INSERT INTO {name} (id, aggregate_type, aggregate_id, event_type, payload, metadata) VALUES "
              "(UNHEX(%s), 'Cart', 'cart-5', 'ItemAdded', '{\"sku\": \"b\", \"n\": 2}', '{\"by\": \"alice\"}')", u.hex)
    my.commit()
    mysql(my, f"UPDATE {name} SET event_type = 'x'")  # skipped
    mysql(my, f"DELETE FROM {name}")  # ignored
    ev = s.wait_events(1)
    time.sleep(1.0)
    ev = s.events()
    assert len(ev) == 1, ev
    e = ev[0]
    assert e["topic"] == "outbox.event.Cart"
    assert key_payload(e) == "cart-5"
    assert UUID_RE.match(e["headers"]["id"]) and e["headers"]["id"] == str(u)  # BINARY(16) -> UUID text
    assert e["headers"]["type"] == "ItemAdded"
    v = e["value"]
    assert v["schema"]["name"] == f"my.sluice.{name}.Cart.Value"  # envelope placement: a struct
    assert v["payload"]["payload"] == {"sku": "b", "n": 2}
    assert json.loads(v["payload"]["meta"]) == {"by": "alice"}  # JSON columns stay strings unless expanded
    assert s.stop() == 0


def test_unwrap_seed_chain(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_seed; CREATE TABLE it_seed (id int PRIMARY KEY, note text)")
    sql(pg, "ALTER TABLE it_seed REPLICA IDENTITY FULL")
    s = sluice(table_include_list="public.it_seed", snapshot_mode="no_data")
    s.config.update({
        "transforms": "unwrap",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.delete.handling.mode": "rewrite",
        "transforms.unwrap.add.fields": "op,source.ts_ms",
    })
    s.start()
    time.sleep(1.0)
    sql(pg, "INSERT INTO it_seed VALUES (1, 'one')")
    sql(pg, "UPDATE it_seed SET note = 'uno' WHERE id = 1")
    sql(pg, "DELETE FROM it_seed WHERE id = 1")
    s.wait_events(3)
    time.sleep(0.5)
    ev = s.events()
    assert len(ev) == 3, ev  # the tombstone is dropped (drop.tombstones defaults to true)
    vals = [payload(e) for e in ev]
    assert [v["__op"] for v in vals] == ["c", "u", "d"]
    assert [v["__deleted"] for v in vals] == ["false", "false", "true"]
    assert [v["note"] for v in vals] == ["one", "uno", "uno"]
    assert all(isinstance(v["__source_ts_ms"], int) and v["__source_ts_ms"] > 1600000000000 for v in vals)
    schema = ev[0]["value"]["schema"]
    assert schema["name"] == "it.public.it_seed.Value" and schema["optional"] is False
    assert [f["field"] for f in schema["fields"]] == ["id", "note", "__deleted", "__op", "__source_ts_ms"]
    assert all(e["topic"] == "it.public.it_seed" for e in ev)
    assert [key_payload(e) for e in ev] == [{"id": 1}] * 3
    assert s.stop() == 0


CLIENT_C = r"""
#include <libpq-fe.h>
#include <mysql.h>
#include "sluice_outbox.h"
/* argv: pg|my, connection (conninfo, or host:port:user:password:db), outbox table */
int main(int argc, char **argv) {
    char err[512];
    sluice_outbox_event e = {.aggregate_type = "Invoice", .aggregate_id = "i-1", .type = "Issued",
                             .payload_json = "{\"n\": 1}", .headers_json = "{\"src\": \"c\"}"};
    if (argv[1][0] == 'p') {
        PGconn *c = PQconnectdb(argv[2]);
        if (PQstatus(c) != CONNECTION_OK) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
        PQclear(PQexec(c, "BEGIN"));
        if (sluice_outbox_pg_emit(c, "outbox", &e, err, sizeof err)) { fprintf(stderr, "emit: %s", err); return 1; }
        e.aggregate_id = "i-2";
        e.timestamp_ms = 1700000000123;
        if (sluice_outbox_pg_insert(c, argv[3], &e, err, sizeof err)) { fprintf(stderr, "insert: %s", err); return 1; }
        PQclear(PQexec(c, "COMMIT"));
        PQfinish(c);
        return 0;
    }
    char *host = strtok(argv[2], ":"), *port = strtok(NULL, ":"), *user = strtok(NULL, ":"),
         *pw = strtok(NULL, ":"), *db = strtok(NULL, ":");
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, host, user, pw, db, (unsigned)atoi(port), NULL, 0)) {
        fprintf(stderr, "%s", mysql_error(m));
        return 1;
    }
    mysql_query(m, "BEGIN");
    e.aggregate_id = "i-'3";
    if (sluice_outbox_my_insert(m, argv[3], &e, err, sizeof err)) { fprintf(stderr, "insert: %s", err); return 1; }
    mysql_query(m, "COMMIT");
    mysql_close(m);
    return 0;
}
"""


def client(tmp_path):
    """Compiles the client-library example (include/sluice_outbox.h) against libpq and libmariadb."""
    src = tmp_path / "client.c"
    src.write_text(CLIENT_C)
    exe = tmp_path / "client"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libpq", "libmariadb"], capture_output=True,
                           text=True, check=True).stdout.split()
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", str(ROOT / "include"), str(src), "-o", str(exe),
                    *flags], check=True)
    return exe


def test_pg_sql_snippets_and_client_library(pg, sluice, tmp_path):
    """sql/outbox_postgres.sql (table and sluice_outbox_emit) and the C client library, routed by one router."""
    sql(pg, "DROP SCHEMA IF EXISTS it_ob_sql CASCADE; CREATE SCHEMA it_ob_sql")
    sql(pg, "SET search_path = it_ob_sql; " + (ROOT / "sql" / "outbox_postgres.sql").read_text() +
        "; SET search_path = public")
    s = sluice(table_include_list="it_ob_sql.outbox", snapshot_mode="no_data")
    started(s, **{"transforms.outbox.message.prefix": "outbox"})  # messages: type is found as event_type
    with pg.cursor() as c:
        c.execute("BEGIN")
        c.execute("SELECT it_ob_sql.sluice_outbox_emit('Order', 'o-1', 'OrderCreated', '{\"total\": 12, \"x\": null}', "
                  "'{\"trace\": \"t\"}')")
        emitted_id = str(c.fetchone()[0])
        c.execute("INSERT INTO it_ob_sql.outbox (id, aggregate_type, aggregate_id, event_type, payload) "
                  "VALUES (gen_random_uuid(), 'Order', 'o-2', 'OrderPaid', '{\"total\": 12}')")
        c.execute("COMMIT")
    p = dict(host="127.0.0.1", port=os.environ["SLUICE_PG_PORT"], user=os.environ["SLUICE_PG_USER"],
             password=os.environ["SLUICE_PG_PASSWORD"], dbname=os.environ["SLUICE_PG_DB"])
    subprocess.run([str(client(tmp_path)), "pg", " ".join(f"{k}={v}" for k, v in p.items()), "it_ob_sql.outbox"],
                   check=True)
    s.wait_events(4)
    time.sleep(0.5)
    ev = s.events()
    assert len(ev) == 4, ev
    assert [e["topic"] for e in ev] == ["outbox.event.Order"] * 2 + ["outbox.event.Invoice"] * 2
    assert [key_payload(e) for e in ev] == ["o-1", "o-2", "i-1", "i-2"]
    assert ev[0]["headers"]["id"] == emitted_id and ev[0]["headers"]["trace"] == "t"
    assert payload(ev[0]) == {"total": 12}  # the message payload is JSON: nulls left out as when expanded
    assert [e["headers"]["type"] for e in ev] == ["OrderCreated", "OrderPaid", "Issued", "Issued"]
    assert payload(ev[1]) == {"total": 12} and payload(ev[3]) == {"n": 1}
    assert ev[2]["headers"]["src"] == "c" and UUID_RE.match(ev[2]["headers"]["id"])
    assert all(UUID_RE.match(e["headers"]["id"]) for e in ev)
    assert s.stop() == 0


def test_mariadb_sql_snippet_and_client_library(my, mysluice, tmp_path, row_metadata):
    name = "it_ob_my_sql"
    ddl = (ROOT / "sql" / "outbox_mariadb.sql").read_text()
    create = ddl[ddl.index("CREATE TABLE"):ddl.index(";", ddl.index("CREATE TABLE"))]
    my_make_table(my, name, create[create.index("(") + 1:create.rindex(")")])
    s = mysluice(table_include_list=f"sluice.{name}", snapshot_mode="no_data")
    started(s)
    insert = ddl[ddl.index("--   INSERT"):].replace("--  ", "").replace("outbox", name).strip().rstrip(";")
    mysql(my, insert)  # the snippet as documented
    p = conftest.my_params()
    conn = f"{p['host']}:{p['port']}:{p['user']}:{p['password']}:{p['database']}"
    subprocess.run([str(client(tmp_path)), "my", conn, name], check=True)
    s.wait_events(2)
    time.sleep(0.5)
    ev = s.events()
    assert len(ev) == 2, ev
    assert [key_payload(e) for e in ev] == ["17", "i-'3"]
    assert [e["topic"] for e in ev] == ["outbox.event.Order", "outbox.event.Invoice"]
    assert [e["headers"]["type"] for e in ev] == ["OrderCreated", "Issued"]
    assert all(UUID_RE.match(e["headers"]["id"]) for e in ev)
    assert payload(ev[1]) == {"n": 1}
    assert s.stop() == 0


def test_purge_deletes_durable_rows():
    """table.purge=durable's DELETE statements on both real databases: the unit test binary's --purge-db part."""
    exe = Path(conftest.SLUICE).parent / "test_xform_debezium"
    r = subprocess.run([str(exe), "--purge-db"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^(\d+) passed, 0 failed$", r.stdout, re.M) and int(r.stdout.split()[0]) >= 8


def test_pg_outbox_purge_once_durable(pg, sluice):
    """table.purge=durable through the runtime: rows are deleted from the outbox table once their events
    are durable in the sink (file sink: written and fsynced); the purge's own deletes route nowhere."""
    sql(pg, "DROP TABLE IF EXISTS it_outbox_purge; CREATE TABLE it_outbox_purge (id uuid PRIMARY KEY, "
            "aggregate_type text NOT NULL, aggregate_id text NOT NULL, event_type text NOT NULL, payload jsonb, "
            "created_at timestamptz(6) NOT NULL DEFAULT now())")
    s = sluice(table_include_list="public.it_outbox_purge", snapshot_mode="no_data")
    s.config.update(ROUTER)
    s.config["transforms.outbox.table.purge"] = "durable"
    s.start()
    wait_streaming(s)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    with pg.cursor() as c:
        c.execute("BEGIN")
        for i, u in enumerate(ids):
            c.execute("INSERT INTO it_outbox_purge (id, aggregate_type, aggregate_id, event_type, payload) "
                      "VALUES (%s, 'Order', %s, 'OrderCreated', '{}')", (u, f"o-{i}"))
        c.execute("COMMIT")
    s.wait_events(5)
    wait_until(lambda: sql(pg, "SELECT count(*) FROM it_outbox_purge")[0][0] == 0, 30, 0.1, "outbox rows purged")
    sql(pg, "INSERT INTO it_outbox_purge (id, aggregate_type, aggregate_id, event_type) "
            "VALUES (%s, 'Order', 'o-9', 'OrderPaid')", str(uuid.uuid4()))
    s.wait_events(6)
    wait_until(lambda: sql(pg, "SELECT count(*) FROM it_outbox_purge")[0][0] == 0, 30, 0.1, "second purge")
    time.sleep(0.5)
    ev = s.events()
    assert [e["headers"]["id"] for e in ev[:5]] == ids  # every event out, in order, before its row went
    assert len(ev) == 6  # the purge's deletes are ignored by the router
    assert s.stop() == 0
