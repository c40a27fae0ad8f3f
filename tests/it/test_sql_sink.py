"""The SQL sink (sink.type=jdbc, the JDBC sink connectors' class names) against the real PostgreSQL and
MariaDB servers: every type of the golden tables into both targets (values compared with the source
column by column), upserts, deletes, reduction, unchanged TOAST columns, tables created and evolved,
a refused row isolated to the dead letter queue, a target restarted mid-stream, kill -9 under load,
Kafka topics with a pasted Confluent JDBC sink config, and configs that must be refused."""
import datetime
import decimal
import json
import os
import random
import subprocess
import time
import uuid

import psycopg2
import pytest

from conftest import (ROOT, MySluice, Sluice, my_params, mysql, pg_params, run_cli, sql, start_run, wait_log,
                      wait_streaming, wait_until)

GOLDEN = ROOT / "tests" / "it" / "golden"
GOLDEN_MY = ROOT / "tests" / "it" / "golden_mysql"


def pg_url():
    return f"jdbc:postgresql://127.0.0.1:{os.environ['SLUICE_PG_PORT']}/{os.environ['SLUICE_PG_DB']}"


def my_url():
    p = my_params()
    return f"jdbc:mariadb://{p['host']}:{p['port']}/{p['database']}"


def sink_config(target, **extra):
    """The sink keys of a direct connector into target ('pg' or 'my')."""
    p = my_params()
    c = {
        "sink.type": "jdbc",
        "connection.url": pg_url() if target == "pg" else my_url(),
        "connection.username": os.environ["SLUICE_PG_USER"] if target == "pg" else p["user"],
        "connection.password": os.environ["SLUICE_PG_PASSWORD"] if target == "pg" else p["password"],
        "insert.mode": "upsert",
        "primary.key.mode": "record_key",
        "delete.enabled": "true",
        "schema.evolution": "basic",
    }
    c.update({k.replace("_", "."): v for k, v in extra.items()})
    return c


def as_sql_sink(s, target, **extra):
    """Turns a Sluice (file sink) config into one that writes to the SQL target."""
    s.config.pop("sink.file.path", None)
    s.config.update(sink_config(target, **extra))
    s.write_config()
    return s


class Target:
    """A target: its connection and the schema (PostgreSQL) or database (MariaDB) the test writes to."""

    def __init__(self, conn, name):
        self.conn, self.name = conn, name


@pytest.fixture
def pgt():
    """A schema of its own in the PostgreSQL server, as a target (dropped afterwards)."""
    name = "sink_" + uuid.uuid4().hex[:8]
    conn = psycopg2.connect(**pg_params())
    conn.autocommit = True
    sql(conn, f"CREATE SCHEMA {name}")
    yield Target(conn, name)
    sql(conn, f"DROP SCHEMA {name} CASCADE")
    conn.close()


@pytest.fixture
def myt():
    """A MariaDB database of its own, as a target (dropped afterwards)."""
    import pymysql
    name = "sink_" + uuid.uuid4().hex[:8]
    p = my_params()
    conn = pymysql.connect(**p)
    mysql(conn, f"CREATE DATABASE {name}")
    t = Target(conn, name)
    yield t
    if t.conn is not conn:  # the test connected again (a restarted server)
        conn.close()
    mysql(t.conn, f"DROP DATABASE {name}")
    t.conn.close()


def rows_pg(t, table, cols="*"):
    """The target's rows (None while the table does not exist yet)."""
    try:
        return sql(t.conn, f"SELECT {cols} FROM {table} ORDER BY 1")
    except (psycopg2.errors.UndefinedTable, psycopg2.errors.UndefinedColumn):
        return None


def rows_my(t, table, cols="*"):
    import pymysql
    try:
        return [tuple(r) for r in mysql(t.conn, f"SELECT {cols} FROM {table} ORDER BY 1")]
    except pymysql.err.MySQLError as e:
        if e.args and e.args[0] in (1146, 1054):  # no such table / column (yet)
            return None
        raise


# ---- golden types: PostgreSQL source ----

def debezium_interval_us(v):
    """Debezium's MicroDuration of a PostgreSQL interval (PGInterval: years of 365.25 days, months of
    30.4375 days), in µs."""
    y, mo, d, h, mi, s = v
    days = y * 365.25 + mo * 30.4375 + d
    return round(((days * 24 + h) * 60 + mi) * 60 * 1e6 + s * 1e6)


PG_SOURCE_EXPR = {  # how each source column is read for the comparison
    "c_money": "c_money::numeric",
    "c_enum_arr": "c_enum_arr::text[]",
    "c_char": "rtrim(c_char)",
    "c_timetz": "(c_timetz AT TIME ZONE 'UTC')::time::text",
    "c_interval": "CASE WHEN c_interval IS NULL THEN NULL ELSE ARRAY[extract(year from c_interval), "
                  "extract(month from c_interval), extract(day from c_interval), extract(hour from c_interval), "
                  "extract(minute from c_interval), extract(second from c_interval)] END",
    "c_inet": "host(c_inet)",
    "c_bit1": "c_bit1 = B'1'",
    "c_hstore": "hstore_to_json(c_hstore)::jsonb::text",
    "c_jsonb": "c_jsonb::text",
    "c_point": "c_point[0]::text || ',' || c_point[1]::text",
    "c_tstz": "c_tstz AT TIME ZONE 'UTC'",
    "c_tstz_inf": "c_tstz_inf AT TIME ZONE 'UTC'",
}


def pg_golden_columns(pg):
    return [r[0] for r in sql(pg, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                  "'public' AND table_name = 'golden_types' ORDER BY ordinal_position")]


def norm(v):
    """One comparable form for values read through psycopg2 and pymysql."""
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, decimal.Decimal):
        return v.normalize() if v.is_finite() else str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, datetime.timedelta):
        return str(v)
    if isinstance(v, datetime.time):
        return str(datetime.timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond))
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return v


def start_pg_golden(sluice, pg, target_cfg):
    text = (GOLDEN / "types.sql").read_text()
    setup, _, stream = text.partition("\n-- stream\n")
    sql(pg, setup)
    s = sluice(table_include_list="public.golden_types")
    as_sql_sink(s, **target_cfg)
    s.start()
    wait_streaming(s)
    sql(pg, stream)
    return s


def source_rows(pg, col):
    expr = PG_SOURCE_EXPR.get(col, col)
    return {r[0]: r[1] for r in sql(pg, f"SELECT id, {expr} FROM public.golden_types ORDER BY 1")}


def test_pg_golden_types_into_postgresql(sluice, pg, pgt):
    sch = pgt.name
    s = start_pg_golden(sluice, pg, dict(target="pg", collection_name_format=f"{sch}.${{source.table}}"))
    ids = [r[0] for r in sql(pg, "SELECT id FROM public.golden_types ORDER BY id")]
    wait_until(lambda: rows_pg(pgt, f"{sch}.golden_types", "id, c_int4") == [(1, 2147483647), (2, 7)],
               what="the target caught up")
    assert ids == [1, 2]
    target_expr = {"c_hstore": "c_hstore::jsonb::text", "c_jsonb": "c_jsonb::jsonb::text", "c_char": "rtrim(c_char)",
                   "c_inet": "c_inet", "c_point": "c_point[0]::text || ',' || c_point[1]::text",
                   "c_interval": "extract(epoch from c_interval) * 1000000",
                   "c_tstz": "c_tstz AT TIME ZONE 'UTC'", "c_tstz_inf": "c_tstz_inf AT TIME ZONE 'UTC'",
                   "c_timetz": "(c_timetz AT TIME ZONE 'UTC')::time::text"}
    checked = 0
    for col in pg_golden_columns(pg):
        src = source_rows(pg, col)
        expr = target_expr.get(col, col)
        tgt = {r[0]: r[1] for r in sql(pgt.conn, f"SELECT id, {expr} FROM {sch}.golden_types ORDER BY id")}
        if col == "c_interval":
            src = {k: None if v is None else debezium_interval_us([float(x) for x in v]) for k, v in src.items()}
            tgt = {k: None if v is None else round(float(v)) for k, v in tgt.items()}
        if col == "c_varchar" or col == "c_text" or col == "c_xml" or col == "c_json":
            src = {k: None if v is None else str(v) for k, v in src.items()}
            tgt = {k: None if v is None else str(v) for k, v in tgt.items()}
        assert {k: norm(v) for k, v in tgt.items()} == {k: norm(v) for k, v in src.items()}, col
        checked += 1
    assert checked >= 40
    # the column types a user would pick by hand
    types = dict(sql(pgt.conn, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s",
                     sch))
    assert types["c_numeric"] == "numeric" and types["c_ts"] == "timestamp without time zone"
    assert types["c_tstz"] == "timestamp with time zone" and types["c_uuid"] == "uuid"
    assert types["c_int_arr"] == "ARRAY" and types["c_bytea"] == "bytea" and types["c_interval"] == "interval"
    assert sql(pgt.conn, "SELECT numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = %s "
                    "AND column_name = 'c_numeric'", sch) == [(12, 2)]
    assert s.stop() == 0


def test_pg_golden_types_into_mariadb(sluice, pg, myt):
    db = myt.name
    s = start_pg_golden(sluice, pg, dict(target="my", collection_name_format=f"{db}.${{source.table}}",
                                         errors_tolerance="all"))
    wait_until(lambda: rows_my(myt, f"{db}.golden_types", "id, c_int4") == [(1, 2147483647), (2, 7)],
               what="the target caught up")
    # row 3 (NaN, which MariaDB cannot store) was skipped with a log line, then deleted at the source
    wait_log(s, "MariaDB/MySQL cannot store NaN or infinity")
    target_expr = {"c_point": "concat(ST_X(c_point), ',', ST_Y(c_point))", "c_bit8": "bin(c_bit8)",
                   "c_varbit": "bin(c_varbit)", "c_time": "c_time", "c_hstore": "c_hstore", "c_char": "rtrim(c_char)",
                   "c_timetz": "time_format(c_timetz, '%H:%i:%s')"}
    source_expr = {"c_bit8": "ltrim(c_bit8::text, '0')", "c_varbit": "ltrim(c_varbit::text, '0')",
                   "c_int_arr": "array_to_json(c_int_arr)::text", "c_text_arr": "array_to_json(c_text_arr)::text",
                   "c_enum_arr": "array_to_json(c_enum_arr)::text", "c_uuid": "c_uuid::text",
                   "c_time": "c_time", "c_time3": "c_time3", "c_bytea": "c_bytea",
                   "c_date_inf": "'9999-12-31'::date", "c_ts_inf": "'0001-01-01'::timestamp",
                   "c_tstz_inf": "'9999-12-31 23:59:59.999999'::timestamp", "c_date_ninf": "'0001-01-01'::date"}
    checked = 0
    for col in pg_golden_columns(pg):
        expr = source_expr.get(col, PG_SOURCE_EXPR.get(col, col))
        src = {r[0]: r[1] for r in sql(pg, f"SELECT id, CASE WHEN {col} IS NULL THEN NULL ELSE {expr} END "
                                           f"FROM public.golden_types ORDER BY 1")}
        tgt = {r[0]: r[1] for r in mysql(myt.conn, f"SELECT id, {target_expr.get(col, col)} FROM {db}.golden_types")}
        if col == "c_interval":
            src = {k: None if v is None else debezium_interval_us([float(x) for x in v]) for k, v in src.items()}
        if col in ("c_hstore", "c_json", "c_jsonb", "c_int_arr", "c_text_arr", "c_enum_arr"):
            src = {k: None if v is None else json.loads(v) if isinstance(v, str) else v for k, v in src.items()}
            tgt = {k: None if v is None else json.loads(v) for k, v in tgt.items()}
        if col in ("c_float4",):
            tgt = {k: None if v is None else float(v) for k, v in tgt.items()}
        if col == "c_numeric_var":
            tgt = {k: None if v is None else decimal.Decimal(v) for k, v in tgt.items()}
        assert {k: norm(v) for k, v in tgt.items()} == {k: norm(v) for k, v in src.items()}, col
        checked += 1
    assert checked >= 40
    assert s.stop() == 0


# ---- golden types: MariaDB source ----

def my_golden(my):
    text = (GOLDEN_MY / "types.sql").read_text()
    setup, _, stream = text.partition("\n-- stream\n")

    def run(part):
        for stmt in [x.strip() for x in part.split(";\n") if x.strip()]:
            if not all(l.startswith("--") for l in stmt.splitlines()):
                mysql(my, stmt)
    return setup, stream, run


MY_COLS_EXPR = {  # MariaDB source columns read for the comparison
    "c_bit1": "c_bit1 + 0", "c_bit10": "c_bit10 + 0", "c_geo": "ST_AsText(c_geo)", "c_point": "ST_AsText(c_point)",
    "c_ts": "c_ts", "c_latin1": "convert(c_latin1 using utf8mb4)",
}


def my_source_rows(my, db_table):
    cols = [r[0] for r in mysql(my, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                    "DATABASE() AND table_name = 'golden_types' ORDER BY ordinal_position")]
    return cols


@pytest.mark.parametrize("target", ["pg", "my"])
def test_mariadb_golden_types(tmp_path, my, pgt, myt, target):
    setup, stream, run = my_golden(my)
    mysql(my, "SET time_zone = '+00:00'")
    run(setup)
    db = os.environ.get("SLUICE_MARIADB_DB", "sluice")
    fmt = f"{pgt.name}.${{source.table}}" if target == "pg" else f"{myt.name}.${{source.table}}"
    # precise: BIGINT UNSIGNED as Decimal (the default, long, wraps values above 2^63 as Debezium does)
    s = MySluice(tmp_path, my, table_include_list=f"{db}.golden_types", bigint_unsigned_handling_mode="precise")
    as_sql_sink(s, target, collection_name_format=fmt)
    try:
        s.start()
        wait_log(s, "streaming", timeout=30)
        run(stream)
        if target == "pg":
            t = f"{pgt.name}.golden_types"
            wait_until(lambda: rows_pg(pgt, t, "id, c_int, c_text") == [(1, -2147483648, "updated"), (2, 7, None)],
                       what="the target caught up")
        else:
            t = f"{myt.name}.golden_types"
            wait_until(lambda: rows_my(myt, t, "id, c_int, c_text") == [(1, -2147483648, "updated"), (2, 7, None)],
                       what="the target caught up")
        cols = my_source_rows(my, "golden_types")
        checked = 0
        for col in cols:
            sexpr = MY_COLS_EXPR.get(col, col)
            src = {r[0]: r[1] for r in mysql(my, f"SELECT id, {sexpr} FROM golden_types ORDER BY id")}
            if target == "pg":
                texpr = {"c_bit1": "c_bit1::int", "c_bit10": "c_bit10::int", "c_geo": "c_geo", "c_point": "c_point",
                         "c_json": "c_json::text", "c_ts": "c_ts AT TIME ZONE 'UTC'",
                         "c_ts6": "c_ts6 AT TIME ZONE 'UTC'"}.get(col, col)
                tgt = {r[0]: r[1] for r in sql(pgt.conn, f"SELECT id, {texpr} FROM {t} ORDER BY id")}
            else:
                texpr = {"c_bit1": "c_bit1 + 0", "c_bit10": "c_bit10 + 0", "c_geo": "ST_AsText(c_geo)",
                         "c_point": "ST_AsText(c_point)"}.get(col, col)
                tgt = {r[0]: r[1] for r in mysql(myt.conn, f"SELECT id, {texpr} FROM {t} ORDER BY id")}
            if col in ("c_geo", "c_point") and target == "pg":
                continue  # PostgreSQL without PostGIS holds the WKB (bytea), compared below
            if col == "c_json":
                src = {k: None if v is None else json.loads(v) for k, v in src.items()}
                tgt = {k: None if v is None else json.loads(v) for k, v in tgt.items()}
            if col == "c_ts" or col == "c_ts6":
                tgt = {k: None if v is None else v.replace(tzinfo=None) for k, v in tgt.items()}
            if col == "c_float":
                src = {k: None if v is None else float(f"{v:.7g}") for k, v in src.items()}
                tgt = {k: None if v is None else float(f"{v:.7g}") for k, v in tgt.items()}
            if col == "c_char" or col == "c_binary":
                pass
            if col == "c_bit1":
                src = {k: None if v is None else bool(v) for k, v in src.items()}
                tgt = {k: None if v is None else bool(v) for k, v in tgt.items()}
            assert {k: norm(v) for k, v in tgt.items()} == {k: norm(v) for k, v in src.items()}, col
            checked += 1
        assert checked >= 30
        if target == "pg":  # the geometries' WKB (MariaDB's value is SRID + WKB)
            wkb = {r[0]: r[1] for r in mysql(my, "SELECT id, ST_AsWKB(c_geo) FROM golden_types")}
            assert {r[0]: norm(r[1]) for r in sql(pgt.conn, f"SELECT id, c_geo FROM {t}")} == {k: norm(v) for k, v in wkb.items()}
        assert s.stop() == 0
    finally:
        s.stop()


# ---- Kafka topics -> MariaDB with the config a Confluent JDBC sink user pastes ----

CONFLUENT_JDBC_SINK = {
    "name": "jdbc-sink-orders",
    "config": {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics": "orders",
        "connection.url": "jdbc:mysql://localhost:3306/demo",
        "connection.user": "connect",
        "connection.password": "connect-secret",
        "insert.mode": "upsert",
        "pk.mode": "record_key",
        "pk.fields": "id",
        "auto.create": "true",
        "auto.evolve": "true",
        "delete.enabled": "true",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "dlq-jdbc-orders",
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
    },
}

ORDER_FIELDS = [{"type": "int32", "optional": False, "field": "id"},
                {"type": "string", "optional": True, "field": "product"},
                {"type": "int32", "optional": True, "field": "quantity"}]


def order(id_, product, quantity, extra=None):
    """A flat record (the JDBC sink pattern: a service writes structs with schemas): key and value JSON."""
    fields = list(ORDER_FIELDS)
    payload = {"id": id_, "product": product, "quantity": quantity}
    for name, (typ, v) in (extra or {}).items():
        fields.append({"type": typ, "optional": True, "field": name})
        payload[name] = v
    key = {"schema": {"type": "struct", "optional": False, "fields": [ORDER_FIELDS[0]]}, "payload": {"id": id_}}
    value = {"schema": {"type": "struct", "optional": False, "name": "orders", "fields": fields}, "payload": payload}
    return json.dumps(key), json.dumps(value)


class KafkaRun:
    def __init__(self, tmp_path, doc):
        self.path = tmp_path / f"{doc['name']}.json"
        self.path.write_text(json.dumps(doc))
        self.log = tmp_path / "sluice.log"
        self.proc = None

    def start(self):
        from conftest import SLUICE
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([SLUICE, "run", str(self.path)], stdout=self.logf, stderr=subprocess.STDOUT,
                                     cwd=self.path.parent)
        return self

    def text(self):
        return self.log.read_text(errors="replace")

    def stop(self, sig=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc


def test_kafka_into_mariadb_with_a_pasted_confluent_config(tmp_path, kafka, myt):
    topic, dlq = kafka.topic("orders"), kafka.topic("dlq-jdbc-orders")
    p = my_params()
    cfg = dict(CONFLUENT_JDBC_SINK["config"], topics=topic, **{
        "connection.url": f"jdbc:mysql://{p['host']}:{p['port']}/{myt.name}", "connection.user": p["user"],
        "connection.password": p["password"], "errors.deadletterqueue.topic.name": dlq,
        "bootstrap.servers": kafka.bootstrap, "offset.storage.file.filename": str(tmp_path / "offsets.db")})
    r = KafkaRun(tmp_path, {"name": CONFLUENT_JDBC_SINK["name"], "config": cfg})
    assert run_cli("validate", str(r.path)).returncode == 0
    kafka.create_topic(topic)
    # the table exists already with a rule the stream breaks once: that record goes to the DLQ, the rest lands
    mysql(myt.conn, f"CREATE TABLE `{myt.name}`.`{topic}` (id INT PRIMARY KEY, product VARCHAR(40), "
                    "quantity INT CHECK (quantity >= 0))")
    for i, (prod, q) in enumerate([("apple", 3), ("pear", 1), ("plum", -5), ("fig", 2), ("kiwi", 9)], 1):
        kafka.produce(topic, *order(i, prod, q))
    kafka.produce(topic, *order(2, "pear", 4))  # an update of row 2
    kafka.produce(topic, order(4, None, None)[0], None)  # a tombstone: delete row 4
    r.start()
    try:
        t = f"`{myt.name}`.`{topic}`"
        wait_until(lambda: rows_my(myt, t, "id, product, quantity") == [(1, "apple", 3), (2, "pear", 4), (5, "kiwi", 9)],
                   what="the rows")
        dead = wait_until(lambda: [x for x in kafka.consume_all(dlq)] if _exists(kafka, dlq) else None,
                          what="the dead letter queue")
        assert len(dead) == 1 and json.loads(dead[0]["value"])["payload"]["id"] == 3
        headers = {k: (v or b"").decode() for k, v in dead[0]["headers"]}
        assert "quantity" in headers["__connect.errors.exception.message"] or "CONSTRAINT" in \
            headers["__connect.errors.exception.message"], headers
        assert headers["__connect.errors.topic"] == topic
        # auto.evolve: a record with a new field adds a nullable column, mid-stream
        kafka.produce(topic, *order(6, "lime", 1, {"note": ("string", "new column")}))
        wait_until(lambda: rows_my(myt, t, "id, note") and (6, "new column") in rows_my(myt, t, "id, note"),
                   what="the new column")
        assert rows_my(myt, t, "id, note")[0] == (1, None)
        assert "skipping record" in r.text() and "adding columns" in r.text()
    finally:
        assert r.stop() == 0, r.text()[-3000:]


def _exists(kafka, topic):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=10)
    return topic in md.topics


# ---- behaviour: reduction, TOAST, truncate, schema evolution, a target restarted, kill -9 ----

def pg_source(sluice, tables, target, fmt, **extra):
    s = sluice(table_include_list=",".join(tables))
    return as_sql_sink(s, target, collection_name_format=fmt, **extra)


def test_unchanged_toast_columns_are_left_alone(sluice, pg, tables, pgt):
    tables("toasty", "id int PRIMARY KEY, big text, small int")
    sql(pg, "ALTER TABLE toasty ALTER COLUMN big SET STORAGE EXTERNAL")  # out of line even when compressible
    big = "x" * 20000
    s = pg_source(sluice, ["public.toasty"], "pg", f"{pgt.name}.${{source.table}}").start()
    wait_streaming(s)
    sql(pg, "INSERT INTO toasty VALUES (1, %s, 1)", big)
    t = f"{pgt.name}.toasty"
    wait_until(lambda: rows_pg(pgt, t, "id, length(big), small") == [(1, 20000, 1)], what="the insert")
    # an update that leaves the TOAST column alone: the source sends the placeholder, the target keeps the value
    sql(pg, "UPDATE toasty SET small = 2 WHERE id = 1")
    wait_until(lambda: rows_pg(pgt, t, "id, small") == [(1, 2)], what="the update")
    assert rows_pg(pgt, t, "id, big = %s" % "repeat('x', 20000)") == [(1, True)]
    # the same within one flush: insert then update of a second row (the placeholder takes the earlier value)
    sql(pg, "BEGIN; INSERT INTO toasty VALUES (2, repeat('y', 20000), 1); UPDATE toasty SET small = 5 WHERE id = 2; COMMIT")
    wait_until(lambda: rows_pg(pgt, t, "id, small") == [(1, 2), (2, 5)], what="the second row")
    assert rows_pg(pgt, t, "id, big = repeat('y', 20000)")[1] == (2, True)
    assert s.stop() == 0


def test_reduction_key_changes_and_truncate(sluice, pg, tables, myt):
    tables("reduce_me", "id int PRIMARY KEY, v text")
    s = pg_source(sluice, ["public.reduce_me"], "my", f"{myt.name}.${{source.table}}", truncate_enabled="true",
                  skipped_operations="none").start()  # PostgreSQL's source skips truncates by default
    wait_streaming(s)
    # in one transaction: insert, update, delete, re-insert, and a key change (delete old key + create new key)
    sql(pg, "BEGIN; INSERT INTO reduce_me VALUES (1, 'a'), (2, 'b'), (3, 'c'); UPDATE reduce_me SET v = 'a2' WHERE id = 1;"
            "DELETE FROM reduce_me WHERE id = 2; INSERT INTO reduce_me VALUES (2, 'b2'); "
            "UPDATE reduce_me SET id = 30 WHERE id = 3; COMMIT")
    t = f"{myt.name}.reduce_me"
    wait_until(lambda: rows_my(myt, t) == [(1, "a2"), (2, "b2"), (30, "c")], what="the reduced rows")
    sql(pg, "TRUNCATE reduce_me")
    wait_until(lambda: rows_my(myt, t) == [], what="the truncate")
    sql(pg, "INSERT INTO reduce_me VALUES (7, 'after')")
    wait_until(lambda: rows_my(myt, t) == [(7, "after")], what="a row after the truncate")
    assert s.stop() == 0


@pytest.mark.parametrize("target", ["pg", "my"])
def test_created_rows_the_target_already_holds(sluice, pg, tables, pgt, myt, target):
    """Rows created in a transaction are written the fast way (COPY / LOAD DATA straight into the table); when the
    target already holds one of their keys (a replay after a crash, rows that were there before), the copy is undone
    and the rows are applied as upserts: nothing is lost, nothing doubles."""
    tables("fresh_rows", "id int PRIMARY KEY, v text")
    sql(pg, "INSERT INTO fresh_rows VALUES (10, 'snap'), (11, 'snap')")  # snapshot rows (op r): fresh as well
    t = f"{(pgt if target == 'pg' else myt).name}.fresh_rows"
    rows = (lambda: rows_pg(pgt, t)) if target == "pg" else (lambda: rows_my(myt, t))
    ddl = f"CREATE TABLE {t} (id int PRIMARY KEY, v text)"
    stale = f"INSERT INTO {t} VALUES (2, 'stale'), (11, 'stale')"
    if target == "pg":
        sql(pgt.conn, ddl), sql(pgt.conn, stale)
    else:
        mysql(myt.conn, ddl), mysql(myt.conn, stale)
    s = pg_source(sluice, ["public.fresh_rows"], target, t, log_level="debug").start()
    wait_streaming(s)
    wait_until(lambda: rows() == [(2, "stale"), (10, "snap"), (11, "snap")], what="the snapshot over a stale row")
    sql(pg, "BEGIN; INSERT INTO fresh_rows VALUES (1, 'a'), (2, 'b'), (3, 'c'); UPDATE fresh_rows SET v = 'b2' "
            "WHERE id = 2; COMMIT")
    wait_until(lambda: rows() == [(1, "a"), (2, "b2"), (3, "c"), (10, "snap"), (11, "snap")],
               what="creates over a stale row")
    assert s.log.read_text().count("applied as upserts") == 2  # the snapshot's copy and the transaction's
    sql(pg, "INSERT INTO fresh_rows VALUES (4, 'd'), (5, 'e')")
    wait_until(lambda: len(rows()) == 7, what="fresh rows")
    assert rows()[3:5] == [(4, "d"), (5, "e")]
    assert s.log.read_text().count("applied as upserts") == 2  # these went in straight
    assert s.stop() == 0


def test_schema_evolution_mid_stream(sluice, pg, tables, pgt):
    tables("evolving", "id int PRIMARY KEY, a text")
    s = pg_source(sluice, ["public.evolving"], "pg", f"{pgt.name}.${{source.table}}").start()
    wait_streaming(s)
    sql(pg, "INSERT INTO evolving VALUES (1, 'one')")
    t = f"{pgt.name}.evolving"
    wait_until(lambda: rows_pg(pgt, t) == [(1, "one")], what="the first row")
    sql(pg, "ALTER TABLE evolving ADD COLUMN b numeric(8,3), ADD COLUMN c timestamptz")
    sql(pg, "INSERT INTO evolving VALUES (2, 'two', 1.5, '2024-01-02 03:04:05+00')")
    wait_until(lambda: rows_pg(pgt, t, "id, a, b, c AT TIME ZONE 'UTC'") ==
               [(1, "one", None, None), (2, "two", decimal.Decimal("1.500"), datetime.datetime(2024, 1, 2, 3, 4, 5))],
               what="the new columns")
    types = dict(sql(pgt.conn, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
                               "AND table_name = 'evolving'", pgt.name))
    assert types["b"] == "numeric" and types["c"] == "timestamp with time zone"
    assert "adding columns" in s.log.read_text()
    assert s.stop() == 0


def test_without_schema_evolution_a_missing_table_stops_the_connector(sluice, pg, tables, pgt):
    tables("absent", "id int PRIMARY KEY")
    sql(pg, "INSERT INTO absent VALUES (1)")
    s = pg_source(sluice, ["public.absent"], "pg", f"{pgt.name}.${{source.table}}", schema_evolution="none").start()
    assert s.proc.wait(30) == 1
    log = s.log.read_text()
    assert f"table {pgt.name}.absent does not exist in the target" in log and "schema.evolution=basic" in log
    # nothing was acknowledged: the slot did not move past the snapshot's row
    s.stop()


def test_target_restarted_mid_stream(sluice, pg, tables, myt):
    """MariaDB (the target) is stopped and started again while changes flow: nothing is lost."""
    tables("bouncing", "id int PRIMARY KEY, v int")
    s = pg_source(sluice, ["public.bouncing"], "my", f"{myt.name}.${{source.table}}", flush_retry_delay_ms="500",
                  flush_max_retries="100").start()
    wait_streaming(s)
    t = f"{myt.name}.bouncing"
    for i in range(1, 51):
        sql(pg, "INSERT INTO bouncing VALUES (%s, %s)", i, i)
    wait_until(lambda: rows_my(myt, t, "count(*)") == [(50,)], what="the first rows")
    svc = str(ROOT / "scripts" / "services.sh")
    subprocess.run([svc, "stop", "mariadb"], check=True, capture_output=True)
    try:
        for i in range(51, 101):
            sql(pg, "INSERT INTO bouncing VALUES (%s, %s)", i, i)
        sql(pg, "UPDATE bouncing SET v = -v WHERE id % 10 = 0")
        time.sleep(2)
    finally:
        subprocess.run([svc, "start", "mariadb"], check=True, capture_output=True)
    import pymysql
    conn = pymysql.connect(**my_params())
    try:
        myt.conn = conn
        wait_until(lambda: rows_my(myt, t, "count(*), sum(v)") == [(100, decimal.Decimal(sum(
            -i if i % 10 == 0 else i for i in range(1, 101))))], timeout=60, what="every row after the restart")
    finally:
        assert s.stop() == 0, s.log.read_text()[-3000:]
    assert "trying again" in s.log.read_text()


def test_kill9_under_load_loses_nothing(sluice, pg, tables, pgt):
    """Random inserts, updates, deletes and key changes while sluice is killed (kill -9) again and again:
    after the last restart the target equals the source."""
    tables("churn", "id int PRIMARY KEY, v text, n int")
    s = pg_source(sluice, ["public.churn"], "pg", f"{pgt.name}.${{source.table}}")
    rnd = random.Random(1234)
    ids = set()
    next_id = 1

    def churn(n):
        nonlocal next_id
        for _ in range(n):
            r = rnd.random()
            if r < 0.45 or not ids:
                sql(pg, "INSERT INTO churn VALUES (%s, %s, %s)", next_id, uuid.uuid4().hex, rnd.randint(0, 99))
                ids.add(next_id)
                next_id += 1
            elif r < 0.75:
                sql(pg, "UPDATE churn SET v = %s, n = n + 1 WHERE id = %s", uuid.uuid4().hex, rnd.choice(sorted(ids)))
            elif r < 0.9:
                i = rnd.choice(sorted(ids))
                sql(pg, "DELETE FROM churn WHERE id = %s", i)
                ids.discard(i)
            else:
                i = rnd.choice(sorted(ids))
                sql(pg, "UPDATE churn SET id = %s WHERE id = %s", next_id, i)
                ids.discard(i)
                ids.add(next_id)
                next_id += 1
    s.start()
    wait_streaming(s)
    for _ in range(8):
        churn(60)
        time.sleep(rnd.uniform(0.05, 0.4))
        s.kill9()
        churn(20)
        s.start()
        wait_streaming(s, timeout=60)
    churn(50)
    src = sql(pg, "SELECT id, v, n FROM churn ORDER BY id")
    wait_until(lambda: rows_pg(pgt, f"{pgt.name}.churn", "id, v, n") == src, timeout=60, what="target == source")
    assert s.stop() == 0


# ---- configs that are refused before anything is touched ----

@pytest.mark.parametrize("extra, expect", [
    ({"connection.url": "jdbc:oracle:thin:@host:1521:db"}, "connection.url: not a supported JDBC URL"),
    ({"connection.url": "jdbc:postgresql://:notaport/db"}, "connection.url: cannot read the host and port"),
    ({"primary.key.mode": "none"}, "primary.key.mode: insert.mode=upsert needs a primary key"),
    ({"primary.key.mode": "kafka", "insert.mode": "insert"}, "primary.key.mode: delete.enabled=true needs the rows' key"),
    ({"insert.mode": "merge"}, "insert.mode: 'merge' is not allowed (allowed: insert, upsert, update)"),
    ({"pk.mode": "record_keys", "primary.key.mode": None}, "pk.mode: 'record_keys' is not allowed"),
    ({"quote.sql.identifiers": "sometimes"}, "quote.sql.identifiers: 'sometimes' is not allowed (allowed: always, never)"),
    ({"collection.name.format": "${topic}_${table}"}, "collection.name.format: unknown placeholder '${table}'"),
    ({"field.include.list": "a", "field.exclude.list": "b"}, "field.exclude.list: cannot be combined"),
    ({"connection.url": "jdbc:mariadb://127.0.0.1:3306/db", "replication.origin.name": "o"},
     "replication.origin.name: only a PostgreSQL target has replication origins"),
    ({"replication.server.id": "7"}, "replication.server.id: only a MariaDB target takes a session server id"),
])
def test_bad_configs_name_the_key(cfg, extra, expect):
    s = cfg(table_include_list="public.nothing_here")
    as_sql_sink(s, "pg", **{})
    s.config.update(extra)
    s.config = {k: v for k, v in s.config.items() if v is not None}
    s.write_config()
    r = run_cli("validate", str(s.cfg_path))
    assert r.returncode != 0 and expect in r.stderr, r.stderr


def test_two_way_sync_sends_nothing_back(cfg, pg, tables):
    """Two connectors sync tables a and b of one PostgreSQL database both ways: each sink writes under a
    replication origin that the other connector's source skips (replication.origin.name / skipped.origins).
    Writes on both sides converge, and no write comes back: once both tables are equal, the write counters the
    tables' triggers keep stand still (an echo would bounce the rows between the tables for ever)."""
    tag = uuid.uuid4().hex[:6]
    a = tables(f"tw_a_{tag}", "id int PRIMARY KEY, v text")
    b = tables(f"tw_b_{tag}", "id int PRIMARY KEY, v text")
    w = tables(f"tw_writes_{tag}", "tbl text, n int")
    sql(pg, f"""CREATE OR REPLACE FUNCTION tw_count_{tag}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN INSERT INTO {w} VALUES (TG_TABLE_NAME, 1); RETURN NULL; END $$""")
    for t in (a, b):
        sql(pg, f"CREATE TRIGGER tw_{t} AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW "
                f"EXECUTE FUNCTION tw_count_{tag}()")
    fwd = as_sql_sink(cfg(table_include_list=f"public.{a}", skipped_origins=f"it_rev_{tag}"), "pg",
                      **{"collection.name.format": f"public.{b}", "replication.origin.name": f"it_fwd_{tag}"})
    rev = as_sql_sink(cfg(table_include_list=f"public.{b}", skipped_origins=f"it_fwd_{tag}"), "pg",
                      **{"collection.name.format": f"public.{a}", "replication.origin.name": f"it_rev_{tag}"})
    try:
        for s in (fwd, rev):
            s.start()
            wait_streaming(s)
        sql(pg, f"INSERT INTO {a} VALUES (1, 'a1'), (2, 'a2')")
        sql(pg, f"UPDATE {a} SET v = 'a1 again' WHERE id = 1")
        wait_until(lambda: sql(pg, f"SELECT count(*) FROM {b}") == [(2,)], what="a's rows in b")
        sql(pg, f"INSERT INTO {b} VALUES (3, 'b3')")
        sql(pg, f"DELETE FROM {b} WHERE id = 2")
        expected = [(1, "a1 again"), (3, "b3")]
        both = lambda: (sql(pg, f"SELECT id, v FROM {a} ORDER BY id") == expected and
                        sql(pg, f"SELECT id, v FROM {b} ORDER BY id") == expected)
        wait_until(both, what="both tables equal")
        counts = lambda: sql(pg, f"SELECT tbl, count(*) FROM {w} GROUP BY tbl ORDER BY tbl")
        first = counts()
        time.sleep(3)
        assert counts() == first and both()
        # each side saw its own writes and the other connector's, no more: a got 3 from the app + 2 from rev
        # at most (3 and the delete of 2), b 2 from the app + at most 3 from fwd
        n = dict(first)
        assert 3 < n[a] <= 5 and 2 < n[b] <= 5, n
        assert fwd.proc.poll() is None and rev.proc.poll() is None
    finally:
        for s in (fwd, rev):
            s.stop()
        sql(pg, f"SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE %s",
            f"it_%_{tag}")
        sql(pg, f"DROP FUNCTION IF EXISTS tw_count_{tag}() CASCADE")


def test_two_way_sync_sends_nothing_back_mariadb(tmp_path, my, myt):
    """The same on MariaDB: each sink writes under a session server id (replication.server.id) that the other
    connector's source skips (skipped.server.ids)."""
    db = myt.name
    mysql(my, f"CREATE TABLE {db}.a (id int PRIMARY KEY, v varchar(20))")
    mysql(my, f"CREATE TABLE {db}.b (id int PRIMARY KEY, v varchar(20))")
    mysql(my, f"CREATE TABLE {db}.writes (tbl varchar(8))")
    for t in ("a", "b"):
        for ev in ("INSERT", "UPDATE", "DELETE"):
            mysql(my, f"CREATE TRIGGER {db}.w_{t}_{ev.lower()} AFTER {ev} ON {db}.{t} FOR EACH ROW "
                      f"INSERT INTO {db}.writes VALUES ('{t}')")
    runs = []
    for name, src, dst, mine, theirs in (("f", "a", "b", 9101, 9102), ("r", "b", "a", 9102, 9101)):
        d = tmp_path / name
        d.mkdir()
        s = MySluice(d, my, **{"table.include.list": f"{db}.{src}", "skipped.server.ids": str(theirs),
                               "snapshot.mode": "no_data"})
        runs.append(as_sql_sink(s, "my", **{"collection.name.format": f"{db}.{dst}",
                                            "replication.server.id": str(mine)}))
    try:
        for s in runs:
            s.start()
            wait_log(s, "streaming binlog", timeout=30)
        mysql(my, f"INSERT INTO {db}.a VALUES (1, 'a1'), (2, 'a2')")
        mysql(my, f"UPDATE {db}.a SET v = 'a1 again' WHERE id = 1")
        wait_until(lambda: mysql(my, f"SELECT count(*) FROM {db}.b") == ((2,),), what="a's rows in b")
        mysql(my, f"INSERT INTO {db}.b VALUES (3, 'b3')")
        mysql(my, f"DELETE FROM {db}.b WHERE id = 2")
        expected = ((1, "a1 again"), (3, "b3"))
        both = lambda: (mysql(my, f"SELECT id, v FROM {db}.a ORDER BY id") == expected and
                        mysql(my, f"SELECT id, v FROM {db}.b ORDER BY id") == expected)
        wait_until(both, what="both tables equal")
        counts = lambda: mysql(my, f"SELECT tbl, count(*) FROM {db}.writes GROUP BY tbl ORDER BY tbl")
        first = counts()
        time.sleep(3)
        assert counts() == first and both()
        n = dict(first)
        assert 3 < n["a"] <= 5 and 2 < n["b"] <= 5, n
        assert all(s.proc.poll() is None for s in runs)
    finally:
        for s in runs:
            s.stop()


# ---- exactly-once: offset.storage=target ----

def test_exactly_once_pg_to_pg_with_20_kills(sluice, pg, tables, pgt):
    """offset.storage=target: the source offset is written in the rows' transaction. Under random changes and
    20 kill -9 of sluice, every committed change lands once: a trigger logs each row version the target
    writes, and no version is ever written twice (at-least-once would write the last uncommitted window again)."""
    tables("exact", "id int PRIMARY KEY, v text, n int NOT NULL")
    t = f"{pgt.name}.exact"
    sql(pgt.conn, f"CREATE TABLE {t} (id int PRIMARY KEY, v text, n int NOT NULL)")
    sql(pgt.conn, f"CREATE TABLE {pgt.name}.exact_log (id int, n int)")
    sql(pgt.conn, f"CREATE FUNCTION {pgt.name}.log_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                  f"INSERT INTO {pgt.name}.exact_log VALUES (NEW.id, NEW.n); RETURN NULL; END $$")
    sql(pgt.conn, f"CREATE TRIGGER logged AFTER INSERT OR UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION "
                  f"{pgt.name}.log_write()")
    s = pg_source(sluice, ["public.exact"], "pg", f"{pgt.name}.${{source.table}}", offset_storage="target",
                  offset_storage_table=f"{pgt.name}.offsets")
    rnd = random.Random(99)
    state = {"next": 1, "ids": []}

    def churn(n):
        for _ in range(n):
            r = rnd.random()
            if r < 0.5 or not state["ids"]:
                sql(pg, "INSERT INTO exact VALUES (%s, %s, 0)", state["next"], uuid.uuid4().hex[:8])
                state["ids"].append(state["next"])
                state["next"] += 1
            elif r < 0.85:
                sql(pg, "UPDATE exact SET n = n + 1, v = %s WHERE id = %s", uuid.uuid4().hex[:8], rnd.choice(state["ids"]))
            else:
                i = rnd.choice(state["ids"])
                sql(pg, "DELETE FROM exact WHERE id = %s", i)
                state["ids"].remove(i)
    s.start()
    wait_streaming(s)
    for k in range(20):
        churn(25)
        time.sleep(rnd.uniform(0.02, 0.3))
        s.kill9()
        churn(5)
        s.start()
        wait_streaming(s, timeout=60)
    churn(20)
    src = sql(pg, "SELECT id, v, n FROM exact ORDER BY id")
    wait_until(lambda: rows_pg(pgt, t, "id, v, n") == src, timeout=60, what="target == source")
    dup = sql(pgt.conn, f"SELECT id, n, count(*) FROM {pgt.name}.exact_log GROUP BY id, n HAVING count(*) > 1")
    assert dup == [], f"row versions written twice: {dup[:10]}"
    (logged,), = sql(pgt.conn, f"SELECT count(*) FROM {pgt.name}.exact_log")
    assert logged >= len(src)
    # the offset lives in the target, next to the rows
    stored = sql(pgt.conn, f"SELECT connector, source_offset FROM {pgt.name}.offsets")
    assert len(stored) == 1 and stored[0][0] == s.name and "lsn" in stored[0][1]
    assert s.stop() == 0


def test_exactly_once_kafka_to_mariadb_with_kills(tmp_path, kafka, myt):
    """Kafka -> MariaDB with offset.storage=target: the partitions' offsets are stored with the rows and reading
    starts there after a kill -9 (not at the group's committed offsets, which lag behind): no record applied
    twice (a trigger logs every write), none missing."""
    topic = kafka.topic("exact")
    kafka.create_topic(topic, partitions=3)
    p = my_params()
    t = f"`{myt.name}`.`{topic}`"
    mysql(myt.conn, f"CREATE TABLE {t} (id INT PRIMARY KEY, product VARCHAR(40), quantity INT)")
    mysql(myt.conn, f"CREATE TABLE `{myt.name}`.writes (id INT, quantity INT)")
    mysql(myt.conn, f"CREATE TRIGGER `{myt.name}`.ins AFTER INSERT ON {t} FOR EACH ROW "
                    f"INSERT INTO `{myt.name}`.writes VALUES (NEW.id, NEW.quantity)")
    mysql(myt.conn, f"CREATE TRIGGER `{myt.name}`.upd AFTER UPDATE ON {t} FOR EACH ROW "
                    f"INSERT INTO `{myt.name}`.writes VALUES (NEW.id, NEW.quantity)")
    cfg = dict(CONFLUENT_JDBC_SINK["config"], topics=topic, **{
        "connection.url": f"jdbc:mariadb://{p['host']}:{p['port']}/{myt.name}", "connection.user": p["user"],
        "connection.password": p["password"], "bootstrap.servers": kafka.bootstrap, "offset.storage": "target",
        "max.batch.size": "50", "poll.interval.ms": "20", "offset.storage.file.filename": str(tmp_path / "o.db")})
    for k in ("errors.deadletterqueue.topic.name", "errors.deadletterqueue.topic.replication.factor",
              "errors.deadletterqueue.context.headers.enable"):
        cfg.pop(k)
    r = KafkaRun(tmp_path, {"name": "exact-" + uuid.uuid4().hex[:6], "config": cfg})
    from confluent_kafka import Producer
    prod = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all", "linger.ms": 5})
    expected = {}
    version = 0
    rnd = random.Random(7)

    def produce(n):
        nonlocal version
        for _ in range(n):
            i = rnd.randint(1, 300)
            version += 1  # each write of a row carries a new quantity: the writes log can tell versions apart
            k, v = order(i, "p%d" % i, version)
            prod.produce(topic, key=k, value=v)
            expected[i] = version
        prod.flush(30)
    produce(1500)
    r.start()
    for _ in range(6):
        time.sleep(rnd.uniform(0.2, 0.6))
        r.stop(9)
        produce(200)
        r.start()
    try:
        want = sorted((i, "p%d" % i, q) for i, q in expected.items())
        wait_until(lambda: rows_my(myt, t, "id, product, quantity") == want, timeout=90, what="every row")
        dup = mysql(myt.conn, f"SELECT id, quantity, count(*) FROM `{myt.name}`.writes GROUP BY id, quantity "
                              "HAVING count(*) > 1")
        assert list(dup) == [], f"records applied twice: {list(dup)[:10]}"
        assert "stored in the sink's target" in r.text()
    finally:
        assert r.stop() == 0, r.text()[-3000:]


def test_widening_and_schemaless_json(tmp_path, sluice, pg, tables, myt, kafka):
    """schema.evolution=basic widens an integer column when the source's becomes bigint (PostgreSQL ->
    MariaDB, MODIFY COLUMN); records without a Connect schema (JsonConverter with schemas.enable=false) get
    columns from their JSON types, keyed by the record key's fields."""
    tables("widen_me", "id int PRIMARY KEY, n int")
    s = pg_source(sluice, ["public.widen_me"], "my", f"{myt.name}.${{source.table}}").start()
    wait_streaming(s)
    sql(pg, "INSERT INTO widen_me VALUES (1, 5)")
    t = f"{myt.name}.widen_me"
    wait_until(lambda: rows_my(myt, t) == [(1, 5)], what="the first row")
    assert mysql(myt.conn, f"SELECT data_type FROM information_schema.columns WHERE table_schema = '{myt.name}' "
                           "AND table_name = 'widen_me' AND column_name = 'n'") == (("int",),)
    sql(pg, "ALTER TABLE widen_me ALTER COLUMN n TYPE bigint")
    sql(pg, "INSERT INTO widen_me VALUES (2, 9000000000)")
    wait_until(lambda: rows_my(myt, t) == [(1, 5), (2, 9000000000)], what="the bigint row")
    assert mysql(myt.conn, f"SELECT data_type FROM information_schema.columns WHERE table_schema = '{myt.name}' "
                           "AND table_name = 'widen_me' AND column_name = 'n'") == (("bigint",),)
    assert "widening column n (int)" in s.log.read_text()
    assert s.stop() == 0
    # schemaless JSON from Kafka
    topic = kafka.topic("plain")
    kafka.create_topic(topic)
    p = my_params()
    cfg = {"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": topic,
           "connection.url": f"jdbc:mariadb://{p['host']}:{p['port']}/{myt.name}", "connection.username": p["user"],
           "connection.password": p["password"], "insert.mode": "upsert", "primary.key.mode": "record_key",
           "delete.enabled": "true", "schema.evolution": "basic", "bootstrap.servers": kafka.bootstrap,
           "key.converter": "org.apache.kafka.connect.json.JsonConverter", "key.converter.schemas.enable": "false",
           "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
           "offset.storage.file.filename": str(tmp_path / "plain.db")}
    kafka.produce(topic, json.dumps({"sku": "a-1"}), json.dumps({"sku": "a-1", "qty": 3, "price": 2.5, "tags": ["x"],
                                                                  "active": True}))
    kafka.produce(topic, json.dumps({"sku": "b-2"}), json.dumps({"sku": "b-2", "qty": 1, "price": 0.5, "tags": [],
                                                                  "active": False}))
    kafka.produce(topic, json.dumps({"sku": "b-2"}), None)
    r = KafkaRun(tmp_path, {"name": "plain-" + uuid.uuid4().hex[:6], "config": cfg}).start()
    try:
        t2 = f"`{myt.name}`.`{topic}`"
        wait_until(lambda: rows_my(myt, t2, "sku, qty, price, tags, active") == [("a-1", 3, 2.5, '["x"]', 1)],
                   what="the schemaless rows")
        types = dict(mysql(myt.conn, f"SELECT column_name, data_type FROM information_schema.columns WHERE "
                                     f"table_schema = '{myt.name}' AND table_name = '{topic}'"))
        assert types["qty"] == "bigint" and types["price"] == "double" and types["sku"] == "varchar"
    finally:
        assert r.stop() == 0, r.text()[-3000:]


def test_sink_keys_under_the_sink_type_name(sluice, pg, tables, pgt):
    """sink.type=postgresql: every sink key given as sink.postgresql.<key> (which wins over <key>)."""
    tables("prefixed", "id int PRIMARY KEY, v text")
    s = sluice(table_include_list="public.prefixed")
    s.config.pop("sink.file.path")
    s.config.update({f"sink.postgresql.{k}": v for k, v in sink_config("pg").items() if k != "sink.type"})
    s.config.update({"sink.type": "postgresql", "connection.url": "jdbc:postgresql://wrong:1/nothing",
                     "sink.postgresql.collection.name.format": f"{pgt.name}.${{source.table}}"})
    s.write_config()
    r = run_cli("validate", str(s.cfg_path))
    assert r.returncode == 0 and "key=sink.postgresql." not in r.stderr, r.stderr
    s.start()
    wait_streaming(s)
    sql(pg, "INSERT INTO prefixed VALUES (1, 'one')")
    wait_until(lambda: rows_pg(pgt, f"{pgt.name}.prefixed") == [(1, "one")], what="the row")
    assert s.stop() == 0


@pytest.mark.parametrize("target", ["pg", "my"])
def test_composite_keys_and_insert_modes(sluice, pg, tables, pgt, myt, target):
    """A two-column primary key (deletes by both columns), insert.mode=update (an existing row is updated, a
    missing one stays missing) and insert.mode=insert (a plain INSERT)."""
    tables("pairs", "a int, b text, v int, PRIMARY KEY (a, b)")
    tgt = pgt if target == "pg" else myt
    rows = rows_pg if target == "pg" else rows_my
    s = pg_source(sluice, ["public.pairs"], target, f"{tgt.name}.${{source.table}}").start()
    wait_streaming(s)
    sql(pg, "INSERT INTO pairs VALUES (1, 'x', 1), (1, 'y', 2), (2, 'x', 3)")
    sql(pg, "DELETE FROM pairs WHERE a = 1 AND b = 'y'")
    sql(pg, "UPDATE pairs SET v = 30 WHERE a = 2")
    t = f"{tgt.name}.pairs"
    wait_until(lambda: rows(tgt, t, "a, b, v") == [(1, "x", 1), (2, "x", 30)], what="the composite-key rows")
    assert s.stop() == 0
    # update mode: only rows that exist are changed
    tables("upd_only", "id int PRIMARY KEY, v int")
    if target == "pg":
        sql(pgt.conn, f"CREATE TABLE {pgt.name}.upd_only (id int PRIMARY KEY, v int)")
        sql(pgt.conn, f"INSERT INTO {pgt.name}.upd_only VALUES (1, 0)")
    else:
        mysql(myt.conn, f"CREATE TABLE {myt.name}.upd_only (id int PRIMARY KEY, v int)")
        mysql(myt.conn, f"INSERT INTO {myt.name}.upd_only VALUES (1, 0)")
    s2 = start_run(pg_source(sluice, ["public.upd_only"], target, f"{tgt.name}.${{source.table}}",
                             insert_mode="update", delete_enabled="false"))  # its log lines from here on
    wait_streaming(s2)
    sql(pg, "INSERT INTO upd_only VALUES (1, 5), (2, 6)")
    sql(pg, "INSERT INTO upd_only VALUES (3, 7)")
    u = f"{tgt.name}.upd_only"
    wait_until(lambda: rows(tgt, u) == [(1, 5)], what="the update of the existing row")
    time.sleep(0.5)
    assert rows(tgt, u) == [(1, 5)]
    assert s2.stop() == 0
    # insert mode: plain inserts (a replayed row would be refused: this is what upsert is for)
    tables("ins_only", "id int PRIMARY KEY, v int")
    s3 = start_run(pg_source(sluice, ["public.ins_only"], target, f"{tgt.name}.${{source.table}}",
                             insert_mode="insert", delete_enabled="false", errors_tolerance="all"))
    wait_streaming(s3)
    sql(pg, "INSERT INTO ins_only VALUES (1, 1), (2, 2)")
    wait_until(lambda: rows(tgt, f"{tgt.name}.ins_only") == [(1, 1), (2, 2)], what="the inserted rows")
    sql(pg, "UPDATE ins_only SET v = 9 WHERE id = 1")  # an INSERT of an existing key: refused, skipped
    wait_log(s3, "skipping record of table public.ins_only (op u)")
    assert rows(tgt, f"{tgt.name}.ins_only") == [(1, 1), (2, 2)]
    assert s3.stop() == 0


def test_kafka_and_record_value_key_modes(tmp_path, kafka, pgt):
    """primary.key.mode=kafka (the record's topic, partition and offset are the key: one row per record) and
    record_value (the key columns named in primary.key.fields come from the value)."""
    topic = kafka.topic("events")
    kafka.create_topic(topic)
    for i, (prod, q) in enumerate([("apple", 3), ("pear", 1), ("apple", 4)], 1):
        kafka.produce(topic, *order(i, prod, q))
    p = pg_params()
    base = {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": topic,
            "connection.url": pg_url(), "connection.user": p["user"], "connection.password": p["password"],
            "auto.create": "true", "bootstrap.servers": kafka.bootstrap}
    r = KafkaRun(tmp_path, {"name": "by-offset", "config": dict(
        base, **{"pk.mode": "kafka", "insert.mode": "upsert", "table.name.format": f"{pgt.name}.by_offset",
                 "offset.storage.file.filename": str(tmp_path / "a.db")})}).start()
    try:
        wait_until(lambda: rows_pg(pgt, f"{pgt.name}.by_offset", "__connect_offset, product, quantity") ==
                   [(0, "apple", 3), (1, "pear", 1), (2, "apple", 4)], what="one row per record")
        assert sql(pgt.conn, f"SELECT DISTINCT __connect_topic, __connect_partition FROM {pgt.name}.by_offset") == \
            [(topic, 0)]
    finally:
        assert r.stop() == 0, r.text()[-2000:]
    r2 = KafkaRun(tmp_path, {"name": "by-product", "config": dict(
        base, **{"pk.mode": "record_value", "pk.fields": "product", "insert.mode": "upsert",
                 "table.name.format": f"{pgt.name}.by_product", "offset.storage.file.filename": str(tmp_path / "b.db")})})
    r2.log = tmp_path / "sluice2.log"
    r2.start()
    try:
        wait_until(lambda: rows_pg(pgt, f"{pgt.name}.by_product", "product, quantity") == [("apple", 4), ("pear", 1)],
                   what="one row per product")
    finally:
        assert r2.stop() == 0, r2.text()[-2000:]


@pytest.mark.parametrize("target, param, expect", [
    ("pg", "sslmode=require", "server does not support SSL"),
    ("my", "sslMode=verify-full", "SSL"),
])
def test_tls_options_reach_the_driver(sluice, pg, tables, target, param, expect):
    """The test servers run without TLS: a URL that demands it is refused at start, by the driver, with its
    message (the parameter got through), and the connector exits before reading anything."""
    tables("tls_probe", "id int PRIMARY KEY")
    s = pg_source(sluice, ["public.tls_probe"], target, "${source.table}")
    s.config["connection.url"] += ("&" if "?" in s.config["connection.url"] else "?") + param
    s.write_config()
    s.start()
    assert s.proc.wait(60) == 1
    log = s.log.read_text()
    assert "cannot connect to" in log and expect in log, log[-2000:]
