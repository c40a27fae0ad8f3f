"""sluice verify against the real servers: a PostgreSQL source synced by the SQL sink into PostgreSQL and into
MariaDB, then compared; planted differences (a missing row, an extra row, a changed value, a missing column, a
missing table) must each be reported exactly, and nothing else, while type-only differences the normalisation
accepts (numeric 10.50 against a double 10.5, microseconds against a millisecond column, JSON member order,
boolean against tinyint, UUID case) must not be. Pairs verify cannot compare are refused with exit 2."""
import json

import pytest

import os

from conftest import MySluice, mysql, run_cli, sql, wait_log, wait_streaming, wait_until
from test_sql_sink import (GOLDEN, my_golden, myt, pg_source, pgt, rows_my, rows_pg,  # noqa: F401 (fixtures)
                           sink_config)

COLS = ("id int PRIMARY KEY, name text, amount numeric(10,2), ratio float8, small float4, ok boolean, born date, "
        "at timestamp(6), atz timestamptz, data jsonb, blob bytea, uid uuid")


def fill(pg, table, n):
    sql(pg, f"""INSERT INTO {table} SELECT g, 'name ' || g, g + 0.5, g / 3.0, g / 7.0, g % 2 = 0,
                   date '2024-01-01' + g, timestamp '2024-01-01 00:00:00.123456' + g * interval '1 hour',
                   timestamptz '2024-01-01 00:00:00.654321+00' + g * interval '1 minute',
                   jsonb_build_object('g', g, 'tags', jsonb_build_array('a', 'b')), decode(md5(g::text), 'hex'),
                   md5(g::text)::uuid FROM generate_series(1, {n}) g""")


def verify(s, *args):
    r = run_cli("verify", "--output", "json", *args, str(s.cfg_path))
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def synced(pg, pgt, myt, sluice, tables, target, n=40):
    tables("vfy", COLS)
    fill(pg, "vfy", n)
    tt = pgt if target == "pg" else myt
    s = pg_source(sluice, ["public.vfy"], target, f"{tt.name}.${{source.table}}").start()
    wait_streaming(s)
    t = f"{tt.name}.vfy"
    rows = (lambda: rows_pg(pgt, t, "id")) if target == "pg" else (lambda: rows_my(myt, t, "id"))
    wait_until(lambda: rows() is not None and len(rows()) == n, what="the synced rows")
    assert s.stop() == 0
    return s, tt, t


def on_target(target, tt, q):
    return sql(tt.conn, q) if target == "pg" else mysql(tt.conn, q)


@pytest.mark.parametrize("target", ["pg", "my"])
def test_planted_differences_are_reported_exactly(sluice, pg, tables, pgt, myt, target):
    s, tt, t = synced(pg, pgt, myt, sluice, tables, target)
    rc, rep = verify(s)
    assert (rc, rep["result"], rep["total"]) == (0, "equal", 0), json.dumps(rep["differences"][:8])
    assert [(x["source"], x["source_rows"], x["target_rows"]) for x in rep["tables"]] == [("public.vfy", 40, 40)]
    # PostgreSQL to PostgreSQL: equal by the hashes of the whole key range; MariaDB hashes otherwise: row by row
    assert rep["tables"][0].get("rows_equal_by_hash", 0) == (40 if target == "pg" else 0), rep["tables"]
    # type-only differences the normalisation accepts
    if target == "pg":
        on_target(target, tt, f"ALTER TABLE {t} ALTER amount TYPE float8, ALTER at TYPE timestamp(3)")
    else:
        on_target(target, tt, f"ALTER TABLE {t} MODIFY amount double, MODIFY at datetime(3)")
    on_target(target, tt, f"UPDATE {t} SET data = '{{\"tags\": [\"a\", \"b\"], \"g\": 3}}' WHERE id = 3")
    if target == "my":  # char(36) there; a PostgreSQL uuid has one spelling
        on_target(target, tt, f"UPDATE {t} SET uid = upper(uid) WHERE id = 3")
    rc, rep = verify(s)
    assert (rc, rep["total"]) == (0, 0), rep["differences"]
    # planted differences
    on_target(target, tt, f"DELETE FROM {t} WHERE id = 5")
    on_target(target, tt, f"INSERT INTO {t} (id, name) VALUES (999, 'stray')")
    on_target(target, tt, f"UPDATE {t} SET name = 'changed' WHERE id = 7")
    on_target(target, tt, f"UPDATE {t} SET ok = NOT ok, small = 1.5 WHERE id = 8")
    sql(pg, "UPDATE vfy SET at = at + interval '1 second' WHERE id = 9")  # the source moved on (no sync running)
    rc, rep = verify(s)
    assert rc == 1 and rep["result"] == "differences"
    got = sorted((d["kind"], d["key"]["id"], d.get("field")) for d in rep["differences"])
    assert got == [("extra_in_target", "999", None), ("field_differs", "7", "name"), ("field_differs", "8", "ok"),
                   ("field_differs", "8", "small"), ("field_differs", "9", "at"), ("missing_in_target", "5", None)]
    d7 = next(d for d in rep["differences"] if d["key"]["id"] == "7")
    assert (d7["source"], d7["target"]) == ("name 7", "changed")
    tab = rep["tables"][0]
    assert (tab["source_rows"], tab["target_rows"], tab["missing_in_target"], tab["extra_in_target"],
            tab["differing"]) == (40, 40, 1, 1, 3)
    assert rep["total"] == 6
    # the human report says the same, and --max-differences bounds the listing, not the counts
    r = run_cli("verify", "--max-differences", "2", str(s.cfg_path))
    assert r.returncode == 1
    assert "result: 6 differences" in r.stdout and "(the first 2 of 6)" in r.stdout
    # a column the target lost, and a table it does not have
    on_target(target, tt, f"ALTER TABLE {t} DROP COLUMN name")
    rc, rep = verify(s)
    assert rep["tables"][0]["missing_columns"] == ["name"]
    assert not [d for d in rep["differences"] if d.get("field") == "name"]
    on_target(target, tt, f"DROP TABLE {t}")
    rc, rep = verify(s)
    tab = rep["tables"][0]
    assert rc == 1 and tab["target_table_exists"] is False and tab["missing_in_target"] == 40
    assert tab["target_rows"] == 0


def converges(s, timeout=30):
    """verify of a running connector until it says equal (the sync catching up); its last report otherwise."""
    last = {}

    def equal():
        nonlocal last
        rc, last = verify(s)
        return rc == 0
    try:
        wait_until(equal, timeout=timeout, interval=0.5, what="verify to find the stores equal")
    except AssertionError:
        raise AssertionError(json.dumps(last.get("differences", [])[:10]))
    return last


def golden_sink(target, pgt, myt, mongo):
    """The sink keys into target (pg, my: the SQL sink; mongo: the MongoDB sink) and where the table lands."""
    if target == "mongo":
        return {"sink.type": "mongodb", "connection.uri": mongo.uri, "database": mongo.db_name}
    tt = pgt if target == "pg" else myt
    return dict(sink_config(target), **{"collection.name.format": f"{tt.name}.${{source.table}}"})


def change_one(target, pgt, myt, mongo):
    if target == "pg":
        sql(pgt.conn, f"UPDATE {pgt.name}.golden_types SET c_int4 = 8 WHERE id = 2")
    elif target == "my":
        mysql(myt.conn, f"UPDATE {myt.name}.golden_types SET c_int4 = 8 WHERE id = 2")
    else:
        mongo.collection("golden_types").update_one({"_id": {"id": 2}}, {"$set": {"c_int4": 8}})


@pytest.mark.parametrize("target", ["pg", "my", "mongo"])
def test_golden_types_from_postgresql_are_equal(sluice, pg, pgt, myt, mongo, target):
    """Every type of the golden table, synced into each target, compares equal: the normalisation follows what
    the sinks write (money, char padding, timetz in UTC, intervals, bit strings, arrays as JSON on MariaDB, points
    as WKB or Debezium's Point struct, infinite dates as the type's last day or pgjdbc's sentinels, hstore as
    JSON, VariableScaleDecimal structs, Debezium's epoch days and microseconds in MongoDB)."""
    text = (GOLDEN / "types.sql").read_text()
    setup, _, stream = text.partition("\n-- stream\n")
    sql(pg, setup)
    # errors.tolerance=all: row 3's NaN, which MariaDB cannot store and the MongoDB sink refuses for a float
    s = sluice(table_include_list="public.golden_types", errors_tolerance="all")
    s.config.pop("sink.file.path", None)
    s.config.update(golden_sink(target, pgt, myt, mongo))
    s.start()
    wait_streaming(s)
    sql(pg, stream)
    rep = converges(s)
    assert [(x["source"], x["source_rows"], x["target_rows"]) for x in rep["tables"]] == [("public.golden_types", 2, 2)]
    change_one(target, pgt, myt, mongo)  # one changed value among them is found
    rc, rep = verify(s)
    assert rc == 1 and [(d["key"]["id"], d["field"]) for d in rep["differences"]] == [("2", "c_int4")]
    assert s.stop() == 0


@pytest.mark.parametrize("target", ["pg", "my", "mongo"])
def test_golden_types_from_mariadb_are_equal(tmp_path, my, pgt, myt, mongo, target):
    setup, stream, run = my_golden(my)
    mysql(my, "SET time_zone = '+00:00'")
    run(setup)
    db = os.environ.get("SLUICE_MARIADB_DB", "sluice")
    s = MySluice(tmp_path, my, table_include_list=f"{db}.golden_types", bigint_unsigned_handling_mode="precise")
    s.config.pop("sink.file.path", None)
    s.config.update(golden_sink(target, pgt, myt, mongo))
    s.start()
    try:
        wait_log(s, "streaming", timeout=30)
        run(stream)
        rep = converges(s)
        assert rep["tables"][0]["source"] == f"{db}.golden_types" and rep["tables"][0]["source_rows"] >= 2
        assert rep["tables"][0]["target_rows"] == rep["tables"][0]["source_rows"]
    finally:
        s.stop()


@pytest.mark.parametrize("decimals", ["precise", "double"])
def test_postgresql_into_mongodb(sluice, pg, tables, mongo, decimals):
    """PostgreSQL -> MongoDB (the test server, mongo-java-server, through the official C driver): the documents
    the RdbmsHandler wrote ({_id: {id}, ...}: Decimal128 or doubles, Debezium's epoch days and microseconds,
    ISO text for timestamptz, binary, booleans) compare equal to the rows; planted differences are reported."""
    tables("vfy", COLS)
    fill(pg, "vfy", 30)
    s = sluice(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name, collection="docs",
               table_include_list="public.vfy", decimal_handling_mode=decimals)
    s.config.pop("sink.file.path", None)
    s.start()
    wait_streaming(s)
    coll = mongo.collection("docs")
    wait_until(lambda: coll.count_documents({}) == 30, what="the documents")
    assert s.stop() == 0
    rc, rep = verify(s)
    assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:8])
    assert [(x["source_rows"], x["target_rows"]) for x in rep["tables"]] == [(30, 30)]
    assert rep["target"]["store"] == f"MongoDB database {mongo.db_name}"
    coll.delete_one({"_id": {"id": 5}})
    coll.insert_one({"_id": {"id": 999}, "name": "stray"})
    coll.update_one({"_id": {"id": 7}}, {"$set": {"name": "changed"}})
    coll.update_one({"_id": {"id": 8}}, {"$unset": {"born": ""}})  # a missing field: null against the date
    rc, rep = verify(s)
    got = sorted((d["kind"], d["key"]["id"], d.get("field")) for d in rep["differences"])
    assert rc == 1 and got == [("extra_in_target", "999", None), ("field_differs", "7", "name"),
                               ("field_differs", "8", "born"), ("missing_in_target", "5", None)], got
    d8 = next(d for d in rep["differences"] if d["key"]["id"] == "8")
    assert d8["target"] is None and d8["source"] == "2024-01-09"
    # a missing field is a null unless --strict-missing; and a null the source has
    sql(pg, "UPDATE vfy SET name = NULL WHERE id = 12")
    coll.update_one({"_id": {"id": 12}}, {"$unset": {"name": ""}})
    rc, rep = verify(s)
    assert not [d for d in rep["differences"] if d["key"]["id"] == "12"]
    rc, rep = verify(s, "--strict-missing")
    assert [(d["field"], d["source"], d["target"]) for d in rep["differences"] if d["key"]["id"] == "12"] == \
        [("name", None, "(missing)")]
    # --rate bounds the rows read per second (30 rows at 20/s: at least a second)
    import time
    t0 = time.time()
    rc, _ = verify(s, "--rate", "20")
    assert rc == 1 and time.time() - t0 >= 1.0


def test_until_consistent_tells_changes_in_flight_from_divergence(sluice, pg, tables, pgt):
    """Live: keys that differ are read again from fresh snapshots until they agree. Changes the sync has not
    applied yet (it starts only after verify's first pass) clear in a recheck: exit 0, counted as in flight;
    with the sync stopped they stay and are reported; a planted difference always stays."""
    import subprocess
    import threading
    import time
    from conftest import SLUICE
    s, tt, t = synced(pg, pgt, None, sluice, tables, "pg")
    # with the connector stopped: changes on the source, then verify with rechecks, and the sync started later
    sql(pg, "UPDATE vfy SET name = 'moved on' WHERE id <= 3")
    sql(pg, "DELETE FROM vfy WHERE id = 4")
    sql(pg, "INSERT INTO vfy (id, name) VALUES (100, 'new')")
    out = {}

    def run_verify():
        out["r"] = subprocess.run([SLUICE, "verify", "--output", "json", "--until-consistent=30", str(s.cfg_path)],
                                  capture_output=True, text=True, timeout=60)
    th = threading.Thread(target=run_verify)
    th.start()
    time.sleep(2)
    s.start()
    th.join()
    r = out["r"]
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert rep["result"] == "equal" and rep["rechecks"]["rounds"] >= 1 and rep["rechecks"]["in_flight"] == 5, rep
    # the recheck read the target once the sync's committed offset had passed the source's new snapshot
    assert rep["rechecks"]["gated"] >= 1, rep["rechecks"]
    assert s.stop() == 0
    # the sync stopped: the source's changes are reported after the rechecks run out
    sql(pg, "UPDATE vfy SET name = 'stuck' WHERE id = 10")
    on_target("pg", tt, f"UPDATE {t} SET name = 'planted' WHERE id = 11")
    t0 = time.time()
    rc, rep = verify(s, "--until-consistent=2")
    assert rc == 1 and time.time() - t0 >= 2
    assert sorted((d["key"]["id"], d["field"], d["target"]) for d in rep["differences"]) == \
        [("10", "name", "name 10"), ("11", "name", "planted")]
    assert rep["rechecks"]["in_flight"] == 0 and rep["rechecks"]["rounds"] >= 1
    assert rep["rechecks"]["gated"] == 0  # the stopped sync never passed the source's position


def test_pairs_verify_cannot_compare_are_refused(sluice, pg, tables, pgt, tmp_path):
    tables("vfy", COLS)
    s = pg_source(sluice, ["public.vfy"], "pg", f"{pgt.name}.${{source.table}}")
    cfg = json.loads(s.cfg_path.read_text())
    cases = [
        ({"sink.type": "file", "sink.file.path": str(tmp_path / "out.jsonl")}, "cannot read back a file sink"),
        ({"sink.type": "kafka", "bootstrap.servers": "127.0.0.1:1"}, "cannot read back a kafka sink"),
        ({"transforms": "ts", "transforms.ts.type": "org.apache.kafka.connect.transforms.TimestampRouter"},
         "cannot compare through transform 'ts' (TimestampRouter): it follows "),
        ({"transforms": "u", "transforms.u.type": "io.debezium.transforms.ExtractNewRecordState",
          "transforms.u.route.by.field": "name"}, "route.by.field routes each row by one of its values"),
        ({"transforms": "u", "transforms.u.type": "io.debezium.transforms.ExtractNewRecordState",
          "transforms.u.predicate": "h", "predicates": "h",
          "predicates.h.type": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
          "predicates.h.name": "x"}, "its predicate 'h' is a HasHeaderKey"),
    ]
    for i, (extra, expect) in enumerate(cases):
        c = dict(cfg["config"], **extra)
        if extra.get("sink.type") == "file":
            for k in ("connection.url", "connection.username", "connection.password", "insert.mode",
                      "primary.key.mode", "delete.enabled", "schema.evolution", "collection.name.format"):
                c.pop(k, None)
        p = tmp_path / f"c{i}.json"
        p.write_text(json.dumps({"name": "v", "config": c}))
        r = run_cli("verify", str(p))
        assert r.returncode == 2 and expect in r.stderr, (r.returncode, r.stderr)
    # a Kafka topics -> SQL connector: its source is Kafka
    p = tmp_path / "k.json"
    p.write_text(json.dumps({"name": "v", "config": {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": "t1",
        "bootstrap.servers": "127.0.0.1:1", **{k: v for k, v in cfg["config"].items() if k.startswith("connection.")}}}))
    r = run_cli("verify", str(p))
    assert r.returncode == 2 and "cannot read a kafka source yet" in r.stderr, r.stderr
    r = run_cli("verify", "--output", "yaml", str(s.cfg_path))
    assert r.returncode == 2 and "--output takes json or text" in r.stderr
    # a wrong config is refused before any database is touched
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"name": "v", "config": dict(cfg["config"], **{"insert.mode": "merge"})}))
    r = run_cli("verify", str(p))
    assert r.returncode == 2 and "insert.mode" in r.stderr


# unwrap with deletes kept as rows marked __deleted, a renamed and a dropped column, a topic rerouted: what a
# pasted Confluent JDBC sink config does to the rows
TRANSFORMS = {
    "transforms": "unwrap,fields,route",
    "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
    "transforms.unwrap.delete.handling.mode": "rewrite",
    "transforms.unwrap.add.fields": "op,table",
    "transforms.fields.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
    "transforms.fields.renames": "name:full_name,ok:is_ok",
    "transforms.fields.exclude": "blob",
    "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
    "transforms.route.regex": "(.*)vfy",
    "transforms.route.replacement": "$1vfy_copy",
}


def test_through_transforms_into_sql(sluice, pg, tables, pgt):
    """The rows reach the target through unwrap (rewrite: a deleted row stays, marked __deleted), ReplaceField
    (renamed and dropped columns) and RegexRouter (another table): verify maps each column the same way, takes
    marked rows as deleted, and reports differences under the source's column names."""
    tables("vfy", COLS)
    fill(pg, "vfy", 30)
    s = pg_source(sluice, ["public.vfy"], "pg", f"{pgt.name}.${{topic}}")
    s.config.update(TRANSFORMS)
    s.start()
    wait_streaming(s)
    sql(pg, "DELETE FROM vfy WHERE id IN (3, 4)")
    found = lambda: sql(pgt.conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                        pgt.name)
    wait_until(lambda: found() and rows_pg(pgt, f"{pgt.name}.{found()[0][0]}", "count(*)") == [(30,)],
               what="the synced rows")
    [(table,)] = found()
    assert table.endswith("vfy_copy"), table
    t = f"{pgt.name}.{table}"
    wait_until(lambda: rows_pg(pgt, t, "count(*) FILTER (WHERE __deleted = 'true')") == [(2,)], what="the deletes")
    assert s.stop() == 0
    cols = [c for (c,) in sql(pgt.conn, "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                        "AND table_name = %s", pgt.name, table)]
    assert "full_name" in cols and "name" not in cols and "blob" not in cols, cols
    rc, rep = verify(s)
    assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:8])
    assert [(x["source_rows"], x["target_rows"], x["target"]) for x in rep["tables"]] == [(28, 28, t)]
    sql(pgt.conn, f"UPDATE {t} SET full_name = 'changed', is_ok = NOT is_ok WHERE id = 7")
    sql(pgt.conn, f"UPDATE {t} SET __deleted = 'true' WHERE id = 9")  # marked deleted: missing
    sql(pgt.conn, f"UPDATE {t} SET __deleted = 'false' WHERE id = 3")  # a deleted row back: extra
    sql(pg, "UPDATE vfy SET blob = '\\x00' WHERE id = 10")  # a column the target does not get: not compared
    rc, rep = verify(s)
    got = sorted((d["kind"], d["key"]["id"], d.get("field")) for d in rep["differences"])
    assert rc == 1 and got == [("extra_in_target", "3", None), ("field_differs", "7", "name"),
                               ("field_differs", "7", "ok"), ("missing_in_target", "9", None)], got
    assert rep["tables"][0]["missing_columns"] == []


@pytest.mark.parametrize("ids", ["full_key", "business_key"])
def test_through_transforms_into_mongodb(sluice, pg, tables, mongo, ids):
    """Unwrapped rows written by the MongoDB sink's write model: _id from the whole key (FullKeyStrategy), or a
    generated _id with the key as a business key field (PartialKeyStrategy + ReplaceOneBusinessKeyStrategy);
    deletes through delete.on.null.values; renamed fields."""
    tables("vfy", COLS)
    fill(pg, "vfy", 30)
    s = sluice(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name, table_include_list="public.vfy")
    s.config.pop("sink.file.path", None)
    s.config.update({
        "transforms": "unwrap,fields",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.fields.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
        "transforms.fields.renames": "name:full_name",
        "delete.on.null.values": "true",
    })
    if ids == "full_key":
        s.config["document.id.strategy"] = "com.mongodb.kafka.connect.sink.processor.id.strategy.FullKeyStrategy"
    else:
        s.config.update({
            "document.id.strategy": "com.mongodb.kafka.connect.sink.processor.id.strategy.PartialKeyStrategy",
            "document.id.strategy.partial.key.projection.type": "AllowList",
            "document.id.strategy.partial.key.projection.list": "id",
            "writemodel.strategy": "com.mongodb.kafka.connect.sink.writemodel.strategy.ReplaceOneBusinessKeyStrategy",
            "delete.writemodel.strategy":
                "com.mongodb.kafka.connect.sink.writemodel.strategy.DeleteOneTombstoneBusinessKeyStrategy",
        })
    s.start()
    wait_streaming(s)
    sql(pg, "DELETE FROM vfy WHERE id = 4")
    coll = mongo.collection(s.config["topic.prefix"] + ".public.vfy")
    wait_until(lambda: coll.count_documents({}) == 29, what="the documents")
    assert s.stop() == 0
    by = (lambda i: {"_id": {"id": i}}) if ids == "full_key" else (lambda i: {"id": i})
    assert coll.find_one(by(7))["full_name"] == "name 7"
    rc, rep = verify(s)
    assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:8])
    assert [(x["source_rows"], x["target_rows"]) for x in rep["tables"]] == [(29, 29)]
    coll.update_one(by(7), {"$set": {"full_name": "changed"}})
    coll.delete_one(by(9))
    coll.insert_one(dict(by(999), full_name="stray"))
    rc, rep = verify(s)
    got = sorted((d["kind"], d["key"]["id"], d.get("field")) for d in rep["differences"])
    assert rc == 1 and got == [("extra_in_target", "999", None), ("field_differs", "7", "name"),
                               ("missing_in_target", "9", None)], got
    d7 = next(d for d in rep["differences"] if d["key"]["id"] == "7")
    assert (d7["source"], d7["target"]) == ("name 7", "changed")
    # the rechecks read the differing keys back through the same layout
    coll.update_one(by(7), {"$set": {"full_name": "name 7"}})
    rc, rep = verify(s, "--until-consistent=1")
    assert sorted((d["kind"], d["key"]["id"]) for d in rep["differences"]) == \
        [("extra_in_target", "999"), ("missing_in_target", "9")]
    # a namespace taken from each record's fields cannot be followed: refused
    c = dict(s.config, **{"namespace.mapper": "com.mongodb.kafka.connect.sink.namespace.mapping.FieldPathNamespaceMapper",
                          "namespace.mapper.value.collection.field": "name"})
    p = s.cfg_path.parent / "fieldpath.json"
    p.write_text(json.dumps({"name": "fp", "config": c}))
    r = run_cli("verify", str(p))
    assert r.returncode == 2 and "takes each record's collection from its own fields" in r.stderr, r.stderr


@pytest.mark.parametrize("note", ["object", "merge"])
def test_embedded_documents(sluice, pg, tables, mongo, note):
    """PostgreSQL orders + items + notes embedded into one MongoDB collection (items as a sorted array, the note
    as a sub-document or merged fields): verify compares the root rows with the documents and each child table
    with the rows embedded in them (keyed by the document's _id and their own key, in the documents' order: no
    sort of the whole collection), and finds a changed element of the array, a child moved to another parent, a
    missing and an extra element, a changed note, a missing document. Children without a parent are in no
    document and not compared."""
    from test_embed import embed_sluice, make_tables
    o, i, n = make_tables(pg, tables)
    sql(pg, f"INSERT INTO {o} SELECT g, 'cust ' || g, g * 1.5 FROM generate_series(1, 20) g")
    sql(pg, f"INSERT INTO {i} SELECT g, 1 + g % 20, 'sku' || g, g FROM generate_series(1, 60) g")
    sql(pg, f"INSERT INTO {i} VALUES (99, NULL, 'loose', 1)")  # no parent: in no document
    sql(pg, f"INSERT INTO {n} SELECT g, g, 'note ' || g FROM generate_series(1, 10) g")
    extra = {"transforms.embed.child.note.relationship": note}
    if note == "merge":
        extra["transforms.embed.child.note.fields.rename"] = "id:note_id,body:note_body"
    s = embed_sluice(sluice, mongo, o, i, n, **extra)
    s.start()
    wait_streaming(s)
    coll = mongo.collection("orders")
    wait_until(lambda: coll.count_documents({}) == 20 and sum(len(d.get("items", [])) for d in coll.find()) == 60,
               what="the documents")
    assert s.stop() == 0
    rc, rep = verify(s)
    assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:8])
    o, i, n = (f"public.{t}" for t in (o, i, n))
    assert sorted((x["source"], x["source_rows"], x["target_rows"]) for x in rep["tables"]) == \
        sorted([(o, 20, 20), (i, 60, 60), (n, 10, 10)])
    coll.update_one({"_id": 2, "items.id": 1}, {"$set": {"items.$.quantity": 100}})  # a changed element
    el = coll.find_one({"_id": 3, "items.id": 2}, {"items.$": 1})["items"][0]
    coll.update_one({"_id": 3}, {"$pull": {"items": {"id": 2}}})
    coll.update_one({"_id": 7}, {"$push": {"items": el}})  # moved to another parent
    coll.update_one({"_id": 4}, {"$pull": {"items": {"id": 3}}})  # missing
    coll.update_one({"_id": 5}, {"$push": {"items": {"id": 500, "sku": "x", "quantity": 1}}})  # extra
    if note == "object":
        coll.update_one({"_id": 6}, {"$set": {"note.body": "changed"}})
    else:
        coll.update_one({"_id": 6}, {"$set": {"note_body": "changed"}})
    coll.delete_one({"_id": 20})  # a missing document (and its elements and note-less)
    rc, rep = verify(s)
    # embedded rows are keyed by their parent's key and their own: a moved child is missing under its parent and
    # extra under the other
    got = sorted((d["table"], d["kind"], d["key"].get("order_id"), d["key"]["id"], d.get("field"))
                 for d in rep["differences"])
    want = [(i, "extra_in_target", "5", "500", None), (i, "field_differs", "2", "1", "qty"),
            (i, "extra_in_target", "7", "2", None), (i, "missing_in_target", "3", "2", None),
            (i, "missing_in_target", "20", "19", None), (i, "missing_in_target", "4", "3", None),
            (i, "missing_in_target", "20", "39", None), (i, "missing_in_target", "20", "59", None),
            (n, "field_differs", "6", "6", "body"), (o, "missing_in_target", None, "20", None)]
    assert rc == 1 and got == sorted(want), got
    d1 = next(d for d in rep["differences"] if d["key"]["id"] == "1")
    assert (d1["source"], d1["target"]) == ("1", "100")
    # the rechecks read the differing keys' documents again and pick their rows (and nothing else of them)
    coll.update_one({"_id": 2, "items.id": 1}, {"$set": {"items.$.quantity": 1}})
    rc, rep = verify(s, "--until-consistent=1")
    again = sorted((d["table"], d["kind"], d["key"].get("order_id"), d["key"]["id"], d.get("field"))
                   for d in rep["differences"])
    assert again == sorted(w for w in want if w[3] != "1") and rep["rechecks"]["rounds"] >= 1, again


def test_embedded_documents_from_mariadb(tmp_path, my, mongo):
    """MariaDB orders + items embedded into MongoDB documents: equal after the sync; a changed element, a child
    moved to another parent and a missing document are found."""
    import uuid
    db = os.environ.get("SLUICE_MARIADB_DB", "sluice")
    tag = uuid.uuid4().hex[:6]
    o, i = f"vo_{tag}", f"vi_{tag}"
    mysql(my, f"CREATE TABLE {db}.{o} (id int PRIMARY KEY, customer varchar(40), total decimal(10,2), "
              f"placed datetime(3))")
    mysql(my, f"CREATE TABLE {db}.{i} (id int PRIMARY KEY, order_id int, sku varchar(20), price double)")
    try:
        mysql(my, f"INSERT INTO {db}.{o} SELECT seq, concat('c', seq), seq * 1.25, "
                  f"'2024-05-01 10:00:00.125' + INTERVAL seq HOUR FROM seq_1_to_15")
        mysql(my, f"INSERT INTO {db}.{i} SELECT seq, 1 + seq % 15, concat('s', seq), seq / 4 FROM seq_1_to_45")
        my.commit()
        s = MySluice(tmp_path, my, table_include_list=f"{db}.{o},{db}.{i}")
        s.config.pop("sink.file.path", None)
        s.config.update({
            "sink.type": "mongodb", "connection.uri": mongo.uri, "database": mongo.db_name,
            "transforms": "embed", "transforms.embed.type": "embed",
            "transforms.embed.root.table": f"{db}.{o}", "transforms.embed.collection": "orders",
            "transforms.embed.children": "items",
            "transforms.embed.child.items.table": f"{db}.{i}",
            "transforms.embed.child.items.parent.key": "order_id",
            "transforms.embed.child.items.fields.exclude": "order_id",
        })
        s.start()
        try:
            wait_log(s, "streaming", timeout=30)
            coll = mongo.collection("orders")
            wait_until(lambda: sum(len(d.get("items", [])) for d in coll.find()) == 45, what="the documents")
        finally:
            assert s.stop() == 0
        from bson.decimal128 import Decimal128
        assert coll.find_one({"_id": 1})["total"] == Decimal128("1.25")  # typed as the RdbmsHandler would
        rc, rep = verify(s)
        assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:8])
        assert sorted((x["source_rows"], x["target_rows"]) for x in rep["tables"]) == [(15, 15), (45, 45)]
        # a query pair on MariaDB: the items per order against the arrays' sizes
        q = tmp_path / "checks.json"
        q.write_text(json.dumps([{"name": "items per order",
                                  "source": f"SELECT order_id AS _id, count(*) AS n, sum(price) AS p FROM {db}.{i} "
                                            f"GROUP BY order_id ORDER BY order_id",
                                  "target": {"collection": "orders", "aggregate": [
                                      {"$project": {"n": {"$size": "$items"}, "p": {"$sum": "$items.price"}}},
                                      {"$sort": {"_id": 1}}]}}]))
        rc, qrep = verify(s, "--queries", str(q))
        assert rc == 0 and qrep["checks"][0]["source_rows"] == 15, qrep
        coll.update_one({"_id": 2, "items.id": 1}, {"$set": {"items.$.price": 9.5}})
        el = coll.find_one({"_id": 3, "items.id": 2}, {"items.$": 1})["items"][0]
        coll.update_one({"_id": 3}, {"$pull": {"items": {"id": 2}}})
        coll.update_one({"_id": 7}, {"$push": {"items": el}})
        coll.delete_one({"_id": 15})
        rc, rep = verify(s)
        got = sorted((d["table"], d["kind"], d["key"].get("order_id"), d["key"]["id"], d.get("field"))
                     for d in rep["differences"])
        qi, qo = f"{db}.{i}", f"{db}.{o}"
        want = [(qi, "field_differs", "2", "1", "price"), (qi, "extra_in_target", "7", "2", None),
                (qi, "missing_in_target", "3", "2", None), (qi, "missing_in_target", "15", "14", None),
                (qi, "missing_in_target", "15", "29", None), (qi, "missing_in_target", "15", "44", None),
                (qo, "missing_in_target", None, "15", None)]
        assert rc == 1 and got == sorted(want), got
    finally:
        mysql(my, f"DROP TABLE IF EXISTS {db}.{o}, {db}.{i}")


def mongo_pair(tmp_path, mongo, coll, docs, suffix, **extra):
    """A MongoDB source connector (copy_existing, then the change stream) of collection coll, filled with docs
    first, into the MongoDB sink's database <test db><suffix> (not started): (connector, target collection)."""
    import time
    from test_mongo_source import MSluice
    mongo.collection(coll).insert_many(docs)
    time.sleep(2.2)  # out of the window the stream after the copy replays on this server (test_mongo_source)
    target_db = mongo.db_name + suffix
    s = MSluice(tmp_path, mongo, coll, **{"startup.mode": "copy_existing",
                                          "change.stream.full.document": "updateLookup"})
    s.config.pop("sink.file.path")
    s.config.update({"sink.type": "mongodb", "sink.mongodb.database": target_db, **extra})
    s.write_config()
    return s, mongo.client[target_db][coll]


@pytest.mark.parametrize("published", ["events", "documents"])
def test_mongodb_into_mongodb(tmp_path, mongo, published):
    """A MongoDB source (copy_existing, then the change stream) into the MongoDB sink, in one connector: change
    events applied by the sink's change stream handler, or the documents themselves (publish.full.document.only)
    written by the write model with their own _id. Documents compare whole (less _id); _ids of several types
    come in MongoDB's order; a changed nested value, a missing and an extra document are found."""
    import datetime
    from bson import ObjectId
    src = mongo.collection("mv")
    oid = ObjectId()
    docs = [{"_id": i, "n": i, "sub": {"a": [1, i]}, "when": datetime.datetime(2024, 1, 1 + i % 28)}
            for i in range(20)] + [{"_id": "str", "n": -1}, {"_id": oid, "n": -2}, {"_id": 2.5, "x": None}]
    extra = {} if published == "events" else {
        "publish.full.document.only": "true",
        "document.id.strategy": "com.mongodb.kafka.connect.sink.processor.id.strategy.ProvidedInValueStrategy"}
    s, dst = mongo_pair(tmp_path, mongo, "mv", docs, "_vt", **extra)
    target_db = dst.database.name
    try:
        s.run()
        s.wait_open()
        src.update_one({"_id": 3}, {"$set": {"n": 300}})
        if published == "events":
            src.delete_one({"_id": 4})
        wait_until(lambda: sorted(map(str, dst.find())) == sorted(map(str, src.find())), timeout=60,
                   what="target == source")
        assert s.stop() == 0
        rc, rep = verify(s)
        n = 22 if published == "events" else 23
        assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:8])
        assert [(x["source"], x["target"], x["source_rows"], x["target_rows"]) for x in rep["tables"]] == \
            [(f"{mongo.db_name}.mv", f"{target_db}.mv", n, n)]
        dst.update_one({"_id": 5}, {"$set": {"sub.a": [1, 6]}})
        dst.delete_one({"_id": "str"})
        dst.insert_one({"_id": 999, "n": 1})
        rc, rep = verify(s)
        got = sorted((d["kind"], d["key"]["_id"], d.get("field")) for d in rep["differences"])
        assert rc == 1 and got == [("extra_in_target", "n999", None), ("field_differs", "n5", "$$ROOT.sub.a[1]"),
                                   ("missing_in_target", "sstr", None)], got
        # a recheck reads the differing _ids back by their typed text
        dst.insert_one({"_id": "str", "n": -1})
        rc, rep = verify(s, "--until-consistent=1")
        assert sorted(d["key"]["_id"] for d in rep["differences"]) == ["n5", "n999"], rep["differences"]
    finally:
        s.cleanup()
        mongo.client.drop_database(target_db)


def test_mongodb_source_rechecks_wait_for_the_sync(tmp_path, mongo):
    """Gated rechecks from a MongoDB source: verify takes the server's operation time when it reads the source
    again; the recheck reads the target once the connector's committed resume token has passed that time. With
    the sync stopped, no round is gated and the source's changes are reported."""
    import subprocess
    import threading
    import time
    from conftest import SLUICE
    src = mongo.collection("mg")
    s, dst = mongo_pair(tmp_path, mongo, "mg", [{"_id": i, "n": i} for i in range(30)], "_vg")
    target_db = dst.database.name
    try:
        s.run()
        s.wait_open()
        wait_until(lambda: dst.count_documents({}) == 30, timeout=60, what="the copy")
        assert s.stop() == 0
        src.update_many({"_id": {"$lt": 3}}, {"$set": {"n": -1}})
        src.delete_one({"_id": 4})
        src.insert_one({"_id": 100, "n": 100})
        out = {}

        def run_verify():
            out["r"] = subprocess.run([SLUICE, "verify", "--output", "json", "--until-consistent=40",
                                       str(s.cfg_path)], capture_output=True, text=True, timeout=80)
        th = threading.Thread(target=run_verify)
        th.start()
        time.sleep(2)
        s.run()
        th.join()
        r = out["r"]
        assert r.returncode == 0, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        assert rep["result"] == "equal" and rep["rechecks"]["in_flight"] == 5, rep
        assert rep["rechecks"]["gated"] >= 1, rep["rechecks"]
        assert "," in rep["source"]["position"], rep["source"]
        assert s.stop() == 0
        src.update_one({"_id": 10}, {"$set": {"n": "stuck"}})
        rc, rep = verify(s, "--until-consistent=2")
        assert rc == 1 and [(d["key"]["_id"], d["kind"]) for d in rep["differences"]] == \
            [("n10", "field_differs")], rep["differences"]
        assert rep["rechecks"]["gated"] == 0 and rep["rechecks"]["rounds"] >= 1, rep["rechecks"]
    finally:
        s.cleanup()
        mongo.client.drop_database(target_db)


def test_query_pairs(sluice, pg, tables, mongo, tmp_path):
    """Query pairs (the parallel-run pattern): a SQL aggregate on the source against a MongoDB aggregation on the
    target, and a SQL select against a find; equal after normalisation (numeric sums against Decimal128, a
    count), then a divergent document is reported with both results, with the divergence rate over several
    runs. An aggregation that writes is refused."""
    tables("vq", "id int PRIMARY KEY, customer text, total numeric(10,2)")
    sql(pg, "INSERT INTO vq SELECT g, 'c' || (g % 4), g * 1.25 FROM generate_series(1, 40) g")
    s = sluice(sink_type="mongodb", connection_uri=mongo.uri, database=mongo.db_name, collection="orders",
               table_include_list="public.vq")
    s.config.pop("sink.file.path", None)
    s.start()
    wait_streaming(s)
    coll = mongo.collection("orders")
    wait_until(lambda: coll.count_documents({}) == 40, what="the documents")
    assert s.stop() == 0
    checks = [
        {"name": "totals per customer",
         "source": "SELECT customer AS _id, sum(total) AS total, count(*) AS n FROM vq GROUP BY customer ORDER BY 1",
         "target": {"collection": "orders", "aggregate": [
             {"$group": {"_id": "$customer", "total": {"$sum": "$total"}, "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]}},
        {"name": "orders of c1",
         "source": "SELECT customer, total FROM vq WHERE customer = 'c1' ORDER BY id",
         "target": {"collection": "orders", "filter": {"customer": "c1"}, "projection": {"_id": 0, "customer": 1,
                                                                                        "total": 1},
                    "sort": {"_id.id": 1}}},
    ]
    f = tmp_path / "checks.json"
    f.write_text(json.dumps({"checks": checks}))
    rc, rep = verify(s, "--queries", str(f))
    assert rc == 0 and rep["result"] == "equal", rep
    assert [(c["name"], c["source_rows"], c["target_rows"], c["result"]) for c in rep["checks"]] == \
        [("totals per customer", 4, 4, "equal"), ("orders of c1", 10, 10, "equal")]
    coll.update_one({"_id": {"id": 5}}, {"$set": {"total": 99}})  # customer c1
    rc, rep = verify(s, "--queries", str(f), "--runs", "2", "--every", "0.1")
    assert rc == 1 and rep["result"] == "differences"
    tot, c1 = rep["checks"]
    assert (tot["runs"], tot["differing_runs"], tot["divergence_rate"]) == (2, 2, 1)
    assert tot["difference"]["row"] == 1 and tot["difference"]["field"] == "total", tot
    assert tot["difference"]["source"]["_id"] == "c1" and tot["difference"]["source"]["total"] == 237.5, tot
    assert c1["difference"]["row"] == 1 and c1["difference"]["target"]["total"] == 99, c1
    r = run_cli("verify", "--queries", str(f), str(s.cfg_path))  # the human report
    assert r.returncode == 1 and "totals per customer" in r.stdout and "row 2, at total" in r.stdout, r.stdout
    # an aggregation that writes, a bad file
    f.write_text(json.dumps([{"source": "SELECT 1 AS n", "target": {"collection": "orders",
                                                                     "aggregate": [{"$out": "elsewhere"}]}}]))
    r = run_cli("verify", "--queries", str(f), str(s.cfg_path))
    assert r.returncode == 2 and "must not write ($out)" in r.stderr, r.stderr
    f.write_text(json.dumps([{"source": "SELECT 1"}]))
    r = run_cli("verify", "--queries", str(f), str(s.cfg_path))
    assert r.returncode == 2 and "checks[0].target" in r.stderr, r.stderr


@pytest.mark.parametrize("target", ["pg", "my"])
def test_mongodb_into_sql(tmp_path, mongo, pgt, myt, target):
    """A MongoDB source (its documents, publish.full.document.only) into the SQL sink: each document is a row whose
    _id column holds mongo-kafka's extended JSON ({"$oid": ..}) and whose other columns are its fields (nested
    documents and dates as JSON). verify reads the target's _id back as the document's _id and its other columns
    as one document, compared with the source's member by member."""
    import datetime
    import time
    from bson import ObjectId, Decimal128
    from test_mongo_source import MSluice
    src = mongo.collection("ms")
    ids = [ObjectId() for _ in range(12)]
    src.insert_many([{"_id": ids[i], "n": i, "name": f"t{i}", "sub": {"a": [1, i]}, "price": 1.5 * i,
                      "amount": Decimal128(f"{i}.25"), "when": datetime.datetime(2024, 1, 1 + i)} for i in range(12)])
    time.sleep(2.2)  # out of the window the stream after the copy replays on this server (test_mongo_source)
    tt = pgt if target == "pg" else myt
    table = f"{tt.name}.msrows"
    s = MSluice(tmp_path, mongo, "ms", **{"startup.mode": "copy_existing", "publish.full.document.only": "true",
                                          "change.stream.full.document": "updateLookup"})
    s.config.pop("sink.file.path")
    s.config.update({f"sink.jdbc.{k}": v for k, v in sink_config(target).items() if k != "sink.type"})
    s.config.update({"sink.type": "jdbc", "sink.jdbc.table.name.format": table})
    s.write_config()
    count = (lambda: rows_pg(pgt, table, "count(*)")) if target == "pg" else (lambda: rows_my(myt, table, "count(*)"))
    try:
        s.run()
        s.wait_open()
        src.update_one({"_id": ids[3]}, {"$set": {"n": 300}})
        wait_until(lambda: count() == [(12,)], timeout=60, what="the rows")
        time.sleep(1)
        assert s.stop() == 0
        rc, rep = verify(s)
        assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:8])
        assert [(x["source_rows"], x["target_rows"]) for x in rep["tables"]] == [(12, 12)]
        on_target(target, tt, f"UPDATE {table} SET name = 'changed' WHERE n = 5")
        on_target(target, tt, f"DELETE FROM {table} WHERE n = 7")
        on_target(target, tt, f"INSERT INTO {table} (_id, n) VALUES ('{{\"$oid\": \"000000000000000000000001\"}}', 1)")
        src.update_one({"_id": ids[8]}, {"$set": {"sub.a": [1, 0]}})  # the source moved on
        rc, rep = verify(s)
        got = sorted((d["kind"], d["key"]["_id"], d.get("field")) for d in rep["differences"])
        assert rc == 1 and got == sorted([("field_differs", f"o{ids[5]}", "$$ROOT.name"),
                                          ("missing_in_target", f"o{ids[7]}", None),
                                          ("extra_in_target", "o000000000000000000000001", None),
                                          ("field_differs", f"o{ids[8]}", "$$ROOT.sub.a[1]")]), got
        # rechecks find the rows by their _id
        rc, rep = verify(s, "--until-consistent=1")
        assert len(rep["differences"]) == 4 and rep["rechecks"]["rounds"] >= 1, rep
    finally:
        s.cleanup()


def test_progress_line_on_a_terminal(sluice, pg, tables, pgt, myt):
    """On a terminal (standard error a pty) verify writes a progress line and clears it; the report on standard
    output is unchanged; off a terminal there is none."""
    import pty
    import subprocess
    from conftest import SLUICE
    s, tt, t = synced(pg, pgt, myt, sluice, tables, "pg", n=9000)
    master, slave = pty.openpty()
    p = subprocess.run([SLUICE, "verify", "--output", "json", str(s.cfg_path)], stdout=subprocess.PIPE,
                       stderr=slave, timeout=120)
    os.close(slave)
    err = b""
    try:
        while True:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            err += chunk
    except OSError:
        pass
    os.close(master)
    assert p.returncode == 0 and json.loads(p.stdout)["result"] == "equal"
    assert b"table 1/1 public.vfy:" in err and b"rows/s" in err and err.endswith(b"\r\x1b[K"), err[-300:]
    r = run_cli("verify", str(s.cfg_path))
    assert r.returncode == 0 and "table 1/1" not in r.stderr


@pytest.mark.parametrize("target", ["my", "mongo"])
def test_planted_differences_from_mariadb(tmp_path, my, myt, mongo, target):
    """MariaDB (at its default binlog_row_metadata) into MariaDB (SQL sink) and into MongoDB (RdbmsHandler): a
    missing row, an extra row, a changed value and a type-only difference (decimal 10.50 against a double) are
    reported exactly, and nothing else."""
    import uuid
    db = os.environ.get("SLUICE_MARIADB_DB", "sluice")
    t = f"vmy_{uuid.uuid4().hex[:6]}"
    mysql(my, f"CREATE TABLE {db}.{t} (id int PRIMARY KEY, name varchar(40), amount decimal(10,2), at datetime(6), "
              f"ok tinyint(1))")
    try:
        mysql(my, f"INSERT INTO {db}.{t} SELECT seq, concat('n', seq), seq + 0.5, '2024-03-01 10:00:00.250000' + "
                  f"INTERVAL seq MINUTE, seq % 2 FROM seq_1_to_30")
        my.commit()
        s = MySluice(tmp_path, my, table_include_list=f"{db}.{t}")
        s.config.pop("sink.file.path", None)
        if target == "my":
            s.config.update(dict(sink_config("my"), **{"collection.name.format": f"{myt.name}.${{source.table}}"}))
            rows = lambda: rows_my(myt, f"{myt.name}.{t}", "count(*)")  # noqa: E731
        else:
            s.config.update({"sink.type": "mongodb", "connection.uri": mongo.uri, "database": mongo.db_name})
            rows = lambda: [(mongo.collection(t).count_documents({}),)]  # noqa: E731
        s.start()
        try:
            wait_log(s, "streaming", timeout=30)
            wait_until(lambda: _count(rows) == 30, what="the rows")
        finally:
            assert s.stop() == 0
        rc, rep = verify(s)
        assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:8])
        if target == "my":
            tt = f"{myt.name}.{t}"
            mysql(myt.conn, f"ALTER TABLE {tt} MODIFY amount double")  # type only
            mysql(myt.conn, f"DELETE FROM {tt} WHERE id = 5")
            mysql(myt.conn, f"INSERT INTO {tt} (id, name) VALUES (999, 'stray')")
            mysql(myt.conn, f"UPDATE {tt} SET name = 'changed' WHERE id = 7")
            myt.conn.commit()
        else:
            coll = mongo.collection(t)
            coll.delete_one({"_id": {"id": 5}})
            coll.insert_one({"_id": {"id": 999}, "name": "stray"})
            coll.update_one({"_id": {"id": 7}}, {"$set": {"name": "changed"}})
            coll.update_one({"_id": {"id": 8}}, {"$set": {"amount": 8.5}})  # a double for the decimal 8.50
        rc, rep = verify(s)
        got = sorted((d["kind"], d["key"]["id"], d.get("field")) for d in rep["differences"])
        assert rc == 1 and got == [("extra_in_target", "999", None), ("field_differs", "7", "name"),
                                   ("missing_in_target", "5", None)], got
    finally:
        mysql(my, f"DROP TABLE IF EXISTS {db}.{t}")


def _count(rows):
    r = rows()
    return r[0][0] if r else -1


def test_no_false_differences_under_live_random_writes(sluice, pg, tables, pgt):
    """Random inserts, updates, deletes and key changes keep coming while the sync runs and verify compares with
    --until-consistent (the writes go on until verify returns, at most 3 s): the rechecks, each reading the
    target once the sync has passed the source snapshot's position, end with no difference: whatever the first
    pass found was in flight."""
    import random
    import threading
    import time
    tables("vlive", "id int PRIMARY KEY, v text, n int")
    sql(pg, "INSERT INTO vlive SELECT g, md5(g::text), g FROM generate_series(1, 2000) g")
    s = pg_source(sluice, ["public.vlive"], "pg", f"{pgt.name}.${{source.table}}").start()
    wait_streaming(s)
    wait_until(lambda: rows_pg(pgt, f"{pgt.name}.vlive", "count(*)") == [(2000,)], what="the snapshot")
    rnd = random.Random(7)
    stop = threading.Event()
    done = [0]

    def writes():
        import psycopg2
        from conftest import pg_params
        c = psycopg2.connect(**pg_params())
        c.autocommit = True
        nid = 10000
        while not stop.is_set():
            r = rnd.random()
            i = rnd.randint(1, 2000)
            with c.cursor() as cur:
                if r < 0.4:
                    cur.execute("UPDATE vlive SET v = md5(random()::text), n = n + 1 WHERE id = %s", (i,))
                elif r < 0.6:
                    cur.execute("INSERT INTO vlive VALUES (%s, 'new', 0) ON CONFLICT DO NOTHING", (nid,))
                    nid += 1
                elif r < 0.8:
                    cur.execute("DELETE FROM vlive WHERE id = %s", (i,))
                else:
                    cur.execute("UPDATE vlive SET id = %s WHERE id = %s", (nid, i))
                    nid += 1
            done[0] += 1
            time.sleep(0.002)
        c.close()
    th = threading.Thread(target=writes)
    th.start()
    try:
        time.sleep(1)
        threading.Timer(3, stop.set).start()  # the writes stop while verify runs
        before = done[0]
        rc, rep = verify(s, "--until-consistent=60")
        during = done[0] - before
    finally:
        stop.set()
        th.join()
    assert during > 20, during  # writes went on while verify compared
    assert rc == 0 and rep["result"] == "equal", json.dumps(rep["differences"][:5])
    assert s.stop() == 0


def _random_writes(run_one, stop, done, seed):
    """Random updates, inserts, deletes and key changes through run_one(kind, i, nid) until stop is set."""
    import random
    import time
    rnd = random.Random(seed)
    nid = 10000
    while not stop.is_set():
        r = rnd.random()
        kind = "update" if r < 0.4 else "insert" if r < 0.6 else "delete" if r < 0.8 else "rekey"
        run_one(kind, rnd.randint(1, 2000), nid)
        nid += kind in ("insert", "rekey")
        done[0] += 1
        time.sleep(0.002)


def _verify_while_writing(s, run_one, seed):
    """verify --until-consistent=60 of s while _random_writes go on (they stop 3 s after verify starts);
    (exit code, report, writes made while verify ran)."""
    import threading
    import time
    stop, done = threading.Event(), [0]
    th = threading.Thread(target=_random_writes, args=(run_one, stop, done, seed))
    th.start()
    try:
        time.sleep(1)
        threading.Timer(3, stop.set).start()
        before = done[0]
        rc, rep = verify(s, "--until-consistent=60")
        return rc, rep, done[0] - before
    finally:
        stop.set()
        th.join()


def test_no_false_differences_under_live_random_writes_from_mariadb(tmp_path, my, pgt):
    """The same from MariaDB (binlog positions gate the rechecks) into PostgreSQL."""
    import uuid
    import pymysql
    from conftest import my_params
    db = os.environ.get("SLUICE_MARIADB_DB", "sluice")
    t = f"vml_{uuid.uuid4().hex[:6]}"
    mysql(my, f"CREATE TABLE {db}.{t} (id int PRIMARY KEY, v varchar(40), n int)")
    s = None
    try:
        mysql(my, f"INSERT INTO {db}.{t} SELECT seq, md5(seq), seq FROM seq_1_to_2000")
        s = MySluice(tmp_path, my, table_include_list=f"{db}.{t}")
        s.config.pop("sink.file.path", None)
        s.config.update(dict(sink_config("pg"), **{"collection.name.format": f"{pgt.name}.${{source.table}}"}))
        s.write_config()
        s.start()
        wait_log(s, "streaming", timeout=30)
        wait_until(lambda: rows_pg(pgt, f"{pgt.name}.{t}", "count(*)") == [(2000,)], what="the snapshot")
        c = pymysql.connect(**my_params())
        stmts = {"update": f"UPDATE {t} SET v = md5(rand()), n = n + 1 WHERE id = %s",
                 "insert": f"INSERT IGNORE INTO {t} VALUES (%s, 'new', 0)",
                 "delete": f"DELETE FROM {t} WHERE id = %s",
                 "rekey": f"UPDATE IGNORE {t} SET id = %s WHERE id = %s"}

        def run_one(kind, i, nid):
            args = (nid, i) if kind == "rekey" else (nid,) if kind == "insert" else (i,)
            mysql(c, stmts[kind], *args)
        try:
            rc, rep, during = _verify_while_writing(s, run_one, 11)
        finally:
            c.close()
        assert during >= 5, during  # writes went on while verify compared
        assert rc == 0 and rep["result"] == "equal", json.dumps(rep["differences"][:5])
        assert ":" in rep["source"]["position"], rep["source"]
        assert s.stop() == 0
    finally:
        if s:
            s.cleanup()
        mysql(my, f"DROP TABLE IF EXISTS {db}.{t}")


def test_no_false_differences_under_live_random_writes_from_mongodb(tmp_path, mongo):
    """The same from a MongoDB source (operation times against resume tokens gate the rechecks) into MongoDB."""
    import time
    src = mongo.collection("mlive")
    s, dst = mongo_pair(tmp_path, mongo, "mlive", [{"_id": i, "v": str(i), "n": i} for i in range(1, 2001)], "_vl")
    target_db = dst.database.name

    def run_one(kind, i, nid):
        if kind == "update":
            src.update_one({"_id": i}, {"$set": {"v": str(time.time())}, "$inc": {"n": 1}})
        elif kind == "insert":
            src.update_one({"_id": nid}, {"$setOnInsert": {"v": "new", "n": 0}}, upsert=True)
        elif kind == "delete":
            src.delete_one({"_id": i})
        else:  # a new _id for a document: delete and insert (an _id cannot change in place)
            d = src.find_one_and_delete({"_id": i})
            if d:
                d["_id"] = nid
                src.insert_one(d)
    try:
        s.run()
        s.wait_open()
        wait_until(lambda: dst.count_documents({}) == 2000, timeout=60, what="the copy")
        rc, rep, during = _verify_while_writing(s, run_one, 13)
        assert during >= 5, during  # writes went on while verify compared
        assert rc == 0 and rep["result"] == "equal", json.dumps(rep["differences"][:5])
        assert s.stop() == 0
    finally:
        s.cleanup()
        mongo.client.drop_database(target_db)


def test_levels_find_differences_in_a_large_table(sluice, pg, tables, pgt):
    """PostgreSQL to PostgreSQL, 60,000 rows: key ranges whose counts and row hashes agree are skipped, a range
    that differs is split until it is small enough to compare row by row. The planted differences (spread over
    the key space) are found exactly; most rows are proven equal by hashes; the counts stay complete."""
    s, tt, t = synced(pg, pgt, None, sluice, tables, "pg", n=60000)
    rc, rep = verify(s)
    assert rc == 0 and rep["tables"][0]["rows_equal_by_hash"] == 60000, rep["tables"]
    sql(pgt.conn, f"UPDATE {t} SET name = 'changed' WHERE id = 123")
    sql(pgt.conn, f"DELETE FROM {t} WHERE id = 30001")
    sql(pgt.conn, f"INSERT INTO {t} (id, name) VALUES (70000, 'stray')")
    sql(pgt.conn, f"UPDATE {t} SET amount = amount + 1 WHERE id = 59999")
    rc, rep = verify(s)
    got = sorted((d["kind"], d["key"]["id"], d.get("field")) for d in rep["differences"])
    assert rc == 1 and got == [("extra_in_target", "70000", None), ("field_differs", "123", "name"),
                               ("field_differs", "59999", "amount"), ("missing_in_target", "30001", None)], got
    tab = rep["tables"][0]
    assert (tab["source_rows"], tab["target_rows"]) == (60000, 60000), tab
    assert tab["rows_equal_by_hash"] >= 30000, tab  # more than half never read row by row
    # the differences come in key order
    assert [d["key"]["id"] for d in rep["differences"]] == ["123", "30001", "59999", "70000"]
    # --levels off: every row read, the same differences
    rc, off = verify(s, "--levels", "off")
    assert rc == 1 and "rows_equal_by_hash" not in off["tables"][0] and off["differences"] == rep["differences"]


LEVEL_COLS = ("id int, part int, name text, note varchar(40), amount numeric(10,2), ok boolean, born date, "
              "at timestamp(6), atz timestamptz, t time(6), blob bytea, uid uuid, PRIMARY KEY (id, part)")


@pytest.mark.parametrize("target", ["pg", "my"])
def test_levels_across_servers_and_composite_keys(sluice, pg, tables, pgt, myt, target):
    """Levels on normal forms: PostgreSQL to MariaDB hashes each column's normal form (decimals without trailing
    zeros, booleans as 1/0, times in ISO with six digits, bytes and UUIDs in lowercase hex, text with | and \\
    escaped), so most rows are proven equal by hashes there too; a key of two columns whose first is an integer
    is split on that first column. A | moved from one text column to the next is a difference, not a hash
    collision."""
    tables("vlv", LEVEL_COLS)
    sql(pg, """INSERT INTO vlv SELECT g / 2, g % 2, 'n|' || g || '\\', CASE WHEN g % 5 = 0 THEN NULL ELSE 'x' END,
               g + 0.5, g % 3 = 0, date '2024-01-01' + g % 900,
               timestamp '2024-01-01 00:00:00.123456' + g * interval '1 minute',
               timestamptz '2024-01-01 00:00:00.5+02' + g * interval '1 second', time '10:00:00.25' + g * interval '1 ms',
               decode(md5(g::text), 'hex'), md5(g::text)::uuid FROM generate_series(0, 39999) g""")
    tt = pgt if target == "pg" else myt
    s = pg_source(sluice, ["public.vlv"], target, f"{tt.name}.${{source.table}}").start()
    wait_streaming(s)
    t = f"{tt.name}.vlv"
    count = (lambda: rows_pg(pgt, t, "count(*)")) if target == "pg" else (lambda: rows_my(myt, t, "count(*)"))
    wait_until(lambda: count() == [(40000,)], timeout=120, what="the synced rows")
    assert s.stop() == 0
    rc, rep = verify(s)
    assert (rc, rep["total"]) == (0, 0), json.dumps(rep["differences"][:5])
    assert rep["tables"][0]["rows_equal_by_hash"] == 40000, rep["tables"]
    on_target(target, tt, f"UPDATE {t} SET name = 'n|777', note = '|x' WHERE id = 388 AND part = 1")
    sql(pg, "UPDATE vlv SET name = 'n|777|', note = 'x' WHERE id = 388 AND part = 1")
    on_target(target, tt, f"UPDATE {t} SET amount = 9.99 WHERE id = 15000 AND part = 0")
    on_target(target, tt, f"DELETE FROM {t} WHERE id = 19999 AND part = 1")
    rc, rep = verify(s)
    got = [(d["kind"], d["key"]["id"], d["key"]["part"], d.get("field")) for d in rep["differences"]]
    assert rc == 1 and got == [("field_differs", "388", "1", "name"), ("field_differs", "388", "1", "note"),
                               ("field_differs", "15000", "0", "amount"),
                               ("missing_in_target", "19999", "1", None)], got
    assert rep["tables"][0]["rows_equal_by_hash"] >= 20000, rep["tables"]
    rc, off = verify(s, "--levels", "off")
    assert rc == 1 and off["differences"] == rep["differences"]


@pytest.mark.parametrize("target", ["pg", "my"])
def test_levels_with_a_uuid_key(sluice, pg, tables, pgt, myt, target):
    """A UUID key is split by its first 60 bits (in the uuid type's order, which a char(36) column on MariaDB
    keeps): most rows are proven equal by hashes, the planted differences are found exactly, in key order."""
    tables("vlu", "id uuid PRIMARY KEY, n int, name text")
    sql(pg, "INSERT INTO vlu SELECT md5(g::text)::uuid, g, 'row ' || g FROM generate_series(1, 30000) g")
    tt = pgt if target == "pg" else myt
    s = pg_source(sluice, ["public.vlu"], target, f"{tt.name}.${{source.table}}").start()
    wait_streaming(s)
    t = f"{tt.name}.vlu"
    count = (lambda: rows_pg(pgt, t, "count(*)")) if target == "pg" else (lambda: rows_my(myt, t, "count(*)"))
    wait_until(lambda: count() == [(30000,)], timeout=120, what="the synced rows")
    assert s.stop() == 0
    rc, rep = verify(s)
    assert (rc, rep["total"], rep["tables"][0]["rows_equal_by_hash"]) == (0, 0, 30000), rep["tables"]
    ids = [r[0] for r in sql(pg, "SELECT id::text FROM vlu WHERE n IN (7, 20000) ORDER BY id")]
    on_target(target, tt, f"UPDATE {t} SET name = 'changed' WHERE id = '{ids[0]}'")
    on_target(target, tt, f"DELETE FROM {t} WHERE id = '{ids[1]}'")
    on_target(target, tt, f"INSERT INTO {t} (id, n, name) VALUES ('ffffffff-0000-4000-8000-000000000001', 0, 'x')")
    rc, rep = verify(s)
    got = [(d["kind"], d["key"]["id"]) for d in rep["differences"]]
    assert rc == 1 and got == [("field_differs", ids[0]), ("missing_in_target", ids[1]),
                               ("extra_in_target", "ffffffff-0000-4000-8000-000000000001")], got
    assert rep["tables"][0]["rows_equal_by_hash"] >= 15000, rep["tables"]
