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

from conftest import (ROOT, MySluice, Sluice, my_params, mysql, pg_params, run_cli, sql, wait_log,
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
    yield Target(conn, name)
    mysql(conn, f"DROP DATABASE {name}")
    conn.close()


def rows_pg(t, table, cols="*"):
    """The target's rows (None while the table does not exist yet)."""
    try:
        return sql(t.conn, f"SELECT {cols} FROM {table} ORDER BY 1")
    except psycopg2.errors.UndefinedTable:
        return None


def rows_my(t, table, cols="*"):
    import pymysql
    try:
        return [tuple(r) for r in mysql(t.conn, f"SELECT {cols} FROM {table} ORDER BY 1")]
    except pymysql.err.ProgrammingError:
        return None


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
