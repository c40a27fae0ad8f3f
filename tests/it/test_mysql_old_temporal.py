"""MariaDB's pre-5.6 temporal formats: TIME/DATETIME/TIMESTAMP columns made while mysql56_temporal_format=OFF.

Such columns are logged under the old type codes (MYSQL_TYPE_TIME/DATETIME/TIMESTAMP) in MariaDB 5.3's
"hires" layouts when they have a fraction, and the TABLE_MAP carries no precision for them: sluice takes
it from information_schema.COLUMNS.DATETIME_PRECISION. An identical table made with the flag ON (the
MySQL 5.6 formats, TIME2/DATETIME2/TIMESTAMP2) must give the same events, schemas included, in the
snapshot and in the binlog.
"""
import pymysql
import pytest

from conftest import my_params, mysql, payload

COLUMNS = ("id INT PRIMARY KEY, t0 TIME NULL, t1 TIME(1) NULL, t3 TIME(3) NULL, t6 TIME(6) NULL, "
           "dt0 DATETIME NULL, dt2 DATETIME(2) NULL, dt4 DATETIME(4) NULL, dt6 DATETIME(6) NULL, "
           "ts0 TIMESTAMP NULL, ts2 TIMESTAMP(2) NULL, ts5 TIMESTAMP(5) NULL, ts6 TIMESTAMP(6) NULL")
NAMES = ["id", "t0", "t1", "t3", "t6", "dt0", "dt2", "dt4", "dt6", "ts0", "ts2", "ts5", "ts6"]
# Negative times with and without a fraction, zero fractions, the limits, and NULLs.
ROWS = [
    (1, "-838:59:59", "-00:00:00.1", "12:34:56.789", "-00:00:00.000001",
     "2024-02-29 23:59:59", "2024-02-29 23:59:59.12", "1999-12-31 23:59:59.9999", "1000-01-01 00:00:00.000001",
     "2038-01-19 03:14:07", "2024-02-29 12:00:00.65", "2001-09-09 01:46:40.12345", "1970-01-01 00:00:01.000001"),
    (2, "00:00:00", "838:59:59.0", "-01:02:03.000", "838:59:59.000000",
     "9999-12-31 23:59:59", "2000-01-01 00:00:00.00", "2024-06-30 23:59:59.0000", "9999-12-31 23:59:59.999999",
     "1970-01-01 00:00:01", "2001-09-09 01:46:40.00", "2024-06-30 23:59:59.00000", "2024-06-30 23:59:59.000000"),
    (3, "-00:00:01", "-838:59:59.9", "-12:00:00.001", "-838:59:59.999999",
     "1970-01-01 00:00:00", "1970-01-01 00:00:00.01", "1970-01-01 00:00:00.0001", "2024-02-29 12:34:56.500000",
     None, None, None, None),
    (4, None, None, None, None, None, None, None, None, None, None, None, None),
]
# The same values, changed while streaming (an update: before and after images).
UPDATE = ("t3 = '-00:00:00.999', t6 = '00:00:00.000000', dt2 = '2024-01-02 03:04:05.60', "
          "dt6 = '2024-01-02 03:04:05.000001', ts2 = '2024-01-02 03:04:05.99', ts6 = '2024-01-02 03:04:05.100000'")


def insert(conn, table, rows, offset=0):
    ph = ", ".join(["%s"] * len(NAMES))
    for r in rows:
        mysql(conn, f"INSERT INTO {table} VALUES ({ph})", r[0] + offset, *r[1:])


@pytest.fixture
def tables(my):
    """it_my_temporal_old (made with mysql56_temporal_format=OFF) and it_my_temporal_new (ON)."""
    conn = pymysql.connect(**my_params())
    mysql(conn, "SET time_zone = '+00:00'")
    old, new = "it_my_temporal_old", "it_my_temporal_new"
    (flag,), = mysql(conn, "SELECT @@GLOBAL.mysql56_temporal_format")
    try:
        for t in (old, new):
            mysql(conn, f"DROP TABLE IF EXISTS {t}")
        mysql(conn, "SET GLOBAL mysql56_temporal_format = OFF")
        try:
            mysql(conn, f"CREATE TABLE {old} ({COLUMNS})")
        finally:
            mysql(conn, f"SET GLOBAL mysql56_temporal_format = {'ON' if flag else 'OFF'}")
        mysql(conn, "SET GLOBAL mysql56_temporal_format = ON")
        try:
            mysql(conn, f"CREATE TABLE {new} ({COLUMNS})")
        finally:
            mysql(conn, f"SET GLOBAL mysql56_temporal_format = {'ON' if flag else 'OFF'}")
        # The old table really has the old formats (MariaDB 10.5+ marks them in COLUMN_TYPE), the new one not.
        kinds = dict(mysql(conn, "SELECT TABLE_NAME, GROUP_CONCAT(COLUMN_TYPE) FROM information_schema.COLUMNS "
                                 "WHERE TABLE_SCHEMA = 'sluice' AND TABLE_NAME IN (%s, %s) AND COLUMN_NAME <> 'id' "
                                 "GROUP BY TABLE_NAME", old, new))
        assert kinds[old].count("mariadb-5.3") == len(NAMES) - 1, kinds[old]
        assert "mariadb-5.3" not in kinds[new], kinds[new]
        yield conn, old, new
    finally:
        for t in (old, new):
            mysql(conn, f"DROP TABLE IF EXISTS {t}")
        conn.close()


def by_table(events, table):
    return [e for e in events if e["topic"] == f"my.sluice.{table}"]


def same_schema(a, b, old, new):
    """The value schemas of two events, table names aside."""
    return a["value"]["schema"] == json_replace(b["value"]["schema"], new, old)


def json_replace(obj, a, b):
    if isinstance(obj, dict):
        return {k: json_replace(v, a, b) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_replace(v, a, b) for v in obj]
    return obj.replace(a, b) if isinstance(obj, str) else obj


def test_old_temporal_formats_match_the_56_formats(my, mysluice, tables):
    conn, old, new = tables
    for t in (old, new):
        insert(conn, t, ROWS)
    s = mysluice(table_include_list=f"sluice.{old},sluice.{new}").start()
    s.wait_events(2 * len(ROWS))
    # Streaming: the same inserts with other keys, an update of each, a delete.
    for t in (old, new):
        insert(conn, t, ROWS, offset=10)
        mysql(conn, f"UPDATE {t} SET {UPDATE} WHERE id IN (11, 14)")
        mysql(conn, f"DELETE FROM {t} WHERE id = 13")
    n = 2 * (len(ROWS) + len(ROWS) + 2 + 2)  # r, c, u, d + tombstone per table
    s.wait_events(n)
    assert s.stop() == 0, s.log.read_text()[-3000:]
    ev = s.events()
    assert len(ev) == n
    o, w = by_table(ev, old), by_table(ev, new)
    assert [payload(e)["op"] if e["value"] else None for e in o] == \
           ["r"] * 4 + ["c"] * 4 + ["u", "u", "d", None]
    for a, b in zip(o, w):
        assert a["key"]["payload"] == b["key"]["payload"]
        if a["value"] is None:
            assert b["value"] is None
            continue
        pa, pb = payload(a), payload(b)
        assert (pa["op"], pa["before"], pa["after"]) == (pb["op"], pb["before"], pb["after"]), (pa, pb)
        assert same_schema(a, b, old, new), (a["value"]["schema"], b["value"]["schema"])
    # Spot checks, so that two equally wrong decodings cannot pass.
    snap1, c1, c3, u1 = payload(o[0])["after"], payload(o[4])["after"], payload(o[6])["after"], payload(o[8])
    for row in (snap1, c1):
        assert row["t0"] == -3020399000000 and row["t1"] == -100000 and row["t3"] == 45296789000
        assert row["t6"] == -1
        assert row["dt0"] == 1709251199000 and row["dt2"] == 1709251199120  # Timestamp (ms) up to fsp 3
        assert row["dt4"] == 946684799999900 and row["dt6"] == -30610224000000000 + 1  # MicroTimestamp
        assert row["ts0"] == "2038-01-19T03:14:07Z" and row["ts2"] == "2024-02-29T12:00:00.65Z"
        assert row["ts5"] == "2001-09-09T01:46:40.12345Z" and row["ts6"] == "1970-01-01T00:00:01.000001Z"
    assert c3["t1"] == -(3020399 * 10 + 9) * 100000 and c3["t6"] == -3020399999999
    assert c3["t3"] == -43200001000 and c3["dt6"] == 1709210096500000 and c3["ts2"] is None
    assert u1["before"]["t3"] == 45296789000 and u1["after"]["t3"] == -999000 and u1["after"]["t6"] == 0
    assert u1["after"]["dt2"] == 1704164645600 and u1["after"]["dt6"] == 1704164645000001
    assert u1["after"]["ts2"] == "2024-01-02T03:04:05.99Z" and u1["after"]["ts6"] == "2024-01-02T03:04:05.100000Z"
    fields = {f["field"]: f.get("name") for f in o[4]["value"]["schema"]["fields"][1]["fields"]}
    assert fields["t3"] == "io.debezium.time.MicroTime" and fields["dt2"] == "io.debezium.time.Timestamp"
    assert fields["dt4"] == "io.debezium.time.MicroTimestamp" and fields["ts2"] == "io.debezium.time.ZonedTimestamp"
