"""MariaDB source: snapshot.mode (initial, initial_only, no_data, never, when_needed), a purged binlog,
`sluice offsets list`, the include/exclude filters and snapshot.locking.mode."""
import json
import time

import pymysql
import pytest

from conftest import my_make_table as make_table, log_text, my_params, mysql, payload, run_cli, start_run, wait_log, wait_until


def streaming(s):
    """Starts s and waits until its binlog dump is open: a change committed after that is captured."""
    start_run(s)
    wait_log(s, "streaming binlog from")
    return s


def offsets(s):
    """Rows of `sluice offsets list`: (connector, partition, offset as a dict, ms)."""
    r = run_cli("offsets", "list", str(s.cfg_path))
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        name, part, off, ms = line.split("\t")
        out.append((name, json.loads(part), json.loads(off), int(ms)))
    return out


def offset(s):
    rows = offsets(s)
    assert len(rows) <= 1, rows
    return rows[0][2] if rows else None


def rows_of(events):
    """(op, snapshot marker or None, after-or-before row) of each non-tombstone event."""
    out = []
    for e in events:
        v = payload(e)
        if v is not None:
            out.append((v["op"], v["source"]["snapshot"] if v["op"] == "r" else None, v["after"] or v["before"]))
    return out


def replay(events):
    state = {}
    for e in events:
        v = payload(e)
        if v is None:
            continue
        if v["op"] == "r" and v["source"]["snapshot"] == "first":
            state.clear()
        if v["op"] == "d":
            state.pop(v["before"]["id"], None)
        else:
            state[v["after"]["id"]] = v["after"]
    return state


def table_rows(my, t):
    with my.cursor(pymysql.cursors.DictCursor) as c:
        c.execute(f"SELECT * FROM {t}")
        return {r["id"]: dict(r) for r in c.fetchall()}


def master_status(my):
    file, pos = mysql(my, "SHOW MASTER STATUS")[0][:2]
    return file, int(pos)


def binlog_files(my):
    return [r[0] for r in mysql(my, "SHOW BINARY LOGS")]


def purge_binlogs_before_current(my, gone):
    """Rotates the binlog a few times and purges every file before the current one; checks that `gone`
    is no longer on the server."""
    for _ in range(3):
        mysql(my, "FLUSH BINARY LOGS")
    current = master_status(my)[0]

    def purged():
        mysql(my, f"PURGE BINARY LOGS TO '{current}'")  # a file a dump thread still reads is kept: retry
        return gone not in binlog_files(my)

    wait_until(purged, timeout=20, interval=0.2, what=f"binlog {gone} to be purged")
    assert binlog_files(my)[0] == current


# ---- snapshot.mode ----

def test_initial_snapshots_then_streams_and_a_restart_does_not_snapshot_again(my, mysluice):
    t = make_table(my, "it_mym_initial", "id INT PRIMARY KEY, v VARCHAR(20)",
                   "INSERT INTO it_mym_initial VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial")
    streaming(s)
    ev = s.wait_events(3)
    assert rows_of(ev) == [("r", "first", {"id": 1, "v": "a"}), ("r", "true", {"id": 2, "v": "b"}),
                           ("r", "last", {"id": 3, "v": "c"})]
    mysql(my, f"INSERT INTO {t} VALUES (4, 'd')")
    s.wait_events(4)
    assert s.stop() == 0
    off = offset(s)
    assert "snapshot" not in off and off["file"].startswith("mariadb-bin.") and off["gtids"], off

    streaming(s)
    mysql(my, f"DELETE FROM {t} WHERE id = 2")
    s.wait_events(6)
    time.sleep(0.3)
    assert s.stop() == 0
    assert rows_of(s.events())[3:] == [("c", None, {"id": 4, "v": "d"}), ("d", None, {"id": 2, "v": "b"})]
    assert s.events()[-1]["value"] is None  # the tombstone
    assert log_text(s).count("snapshot start") == 1  # the second run streamed from the stored offset
    assert replay(s.events()) == table_rows(my, t)


def test_initial_only_stops_by_itself_and_a_second_run_does_nothing(my, mysluice):
    t = make_table(my, "it_mym_initial_only", "id INT PRIMARY KEY, v INT",
                   "INSERT INTO it_mym_initial_only VALUES (1, 10), (2, 20)")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial_only")
    assert s.run_to_end(timeout=60) == 0, log_text(s)
    assert rows_of(s.events()) == [("r", "first", {"id": 1, "v": 10}), ("r", "last", {"id": 2, "v": 20})]
    assert "snapshot.mode=initial_only: snapshot done, stopping" in log_text(s)
    off = offset(s)
    assert off and "snapshot" not in off, off
    before = s.out.read_bytes()

    mysql(my, f"INSERT INTO {t} VALUES (3, 30)")
    s.mark = s.log.stat().st_size
    assert s.run_to_end(timeout=60) == 0, log_text(s)
    second = log_text(s, s.mark)
    assert "nothing to do" in second and "snapshot start" not in second and "streaming" not in second, second
    assert s.out.read_bytes() == before
    assert offset(s) == off


@pytest.mark.parametrize("mode", ["no_data", "never"])
def test_no_data_and_never_stream_from_the_current_position(my, mysluice, mode):
    t = make_table(my, f"it_mym_{mode}", "id INT PRIMARY KEY, v INT",
                   f"INSERT INTO it_mym_{mode} VALUES (1, 1), (2, 2)")
    s = streaming(mysluice(table_include_list=f"sluice.{t}", snapshot_mode=mode))
    # no_data: a snapshot of the schemas (their schema change events), no rows; never: no snapshot at all
    assert ("snapshot complete records=0 (schemas only: no_data)" in log_text(s)) == (mode == "no_data")
    assert ("snapshot start" in log_text(s)) == (mode == "no_data")
    mysql(my, f"INSERT INTO {t} VALUES (3, 3)")
    mysql(my, f"UPDATE {t} SET v = 10 WHERE id = 1")
    s.wait_events(2)
    time.sleep(0.3)
    assert s.stop() == 0
    assert rows_of(s.events()) == [("c", None, {"id": 3, "v": 3}), ("u", None, {"id": 1, "v": 10})]
    # The offset is a binlog position from the start: a restart streams on from it.
    off = offset(s)
    assert off and "snapshot" not in off and off["gtids"], off
    mysql(my, f"DELETE FROM {t} WHERE id = 2")
    streaming(s)
    mysql(my, f"INSERT INTO {t} VALUES (4, 4)")
    s.wait_events(5)
    time.sleep(0.3)
    assert s.stop() == 0
    assert rows_of(s.events())[2:] == [("d", None, {"id": 2, "v": 2}), ("c", None, {"id": 4, "v": 4})]


def test_when_needed_takes_a_new_snapshot_after_the_binlog_was_purged(my, mysluice):
    t = make_table(my, "it_mym_when_needed", "id INT PRIMARY KEY, v INT",
                   "INSERT INTO it_mym_when_needed VALUES (1, 1), (2, 2)")
    s = streaming(mysluice(table_include_list=f"sluice.{t}", snapshot_mode="when_needed"))
    s.wait_events(2)  # no offset yet: when_needed snapshots like initial
    mysql(my, f"INSERT INTO {t} VALUES (3, 3)")
    s.wait_events(3)
    time.sleep(0.3)
    assert s.stop() == 0
    stored = offset(s)["file"]
    # While sluice is down: changes, then the binlog with the stored position goes away.
    mysql(my, f"DELETE FROM {t} WHERE id = 1")
    mysql(my, f"INSERT INTO {t} VALUES (4, 4)")
    purge_binlogs_before_current(my, stored)

    streaming(s)
    assert f"the stored offset's binlog file {stored} is no longer on the server (purged): taking a new snapshot" in log_text(s, s.mark)
    mysql(my, f"INSERT INTO {t} VALUES (5, 5)")
    ev = s.wait_events(3 + 3 + 1)
    time.sleep(0.3)
    assert s.stop() == 0
    ev = s.events()
    assert rows_of(ev)[3:] == [("r", "first", {"id": 2, "v": 2}), ("r", "true", {"id": 3, "v": 3}),
                               ("r", "last", {"id": 4, "v": 4}), ("c", None, {"id": 5, "v": 5})]
    assert replay(ev) == table_rows(my, t)
    assert offset(s)["file"] == master_status(my)[0]


def test_initial_with_a_purged_binlog_fails_and_names_when_needed(my, mysluice):
    t = make_table(my, "it_mym_purged", "id INT PRIMARY KEY", "INSERT INTO it_mym_purged VALUES (1)")
    s = streaming(mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial"))
    s.wait_events(1)
    assert s.stop() == 0
    stored = offset(s)
    mysql(my, f"INSERT INTO {t} VALUES (2)")
    purge_binlogs_before_current(my, stored["file"])
    before = s.out.read_bytes()
    s.mark = s.log.stat().st_size
    assert s.run_to_end(timeout=60) == 1
    log = log_text(s, s.mark)
    assert f"binlog file {stored['file']} is no longer on the server" in log, log
    assert "snapshot.mode=when_needed" in log, log
    assert s.out.read_bytes() == before  # nothing written, no new snapshot
    assert offset(s) == stored  # and the offset is left alone


def run_after_reset(my, mysluice, t, mode, writes_after_reset):
    """Streams t from a fresh binlog (RESET MASTER: the offset lands in mariadb-bin.000001), stops, resets the
    binlog again and writes writes_after_reset rows (fewer transactions than sluice had seen), then runs
    sluice again: the stored file name exists again, its position and GTID do not."""
    mysql(my, "RESET MASTER")
    s = streaming(mysluice(table_include_list=f"sluice.{t}", snapshot_mode=mode))
    for i in range(1, 6):
        mysql(my, f"INSERT INTO {t} VALUES ({i})")
    s.wait_events(5)
    time.sleep(0.3)
    assert s.stop() == 0
    stored = offset(s)
    assert stored["file"] == "mariadb-bin.000001" and stored["gtids"] == mysql(my, "SELECT @@gtid_binlog_pos")[0][0]
    mysql(my, "RESET MASTER")
    for i in range(6, 6 + writes_after_reset):
        mysql(my, f"INSERT INTO {t} VALUES ({i})")
    assert master_status(my)[0] == stored["file"]
    s.mark = s.log.stat().st_size
    return s, stored


@pytest.mark.parametrize("case", ["no writes since", "a few writes since", "file and position"])
def test_initial_after_reset_master_fails_at_once_naming_the_position(my, mysluice, case):
    """After RESET MASTER the stored file name is back but neither its GTID (the server has none, or only
    older ones) nor its position (past the new binlog's end: what counts for an offset without GTIDs) is.
    sluice used to reconnect for ever (each time attempt=1); now it stops at once, naming the position and
    what to do, as for a purged binlog, writing nothing and leaving the offset alone."""
    t = make_table(my, "it_mym_reset", "id INT PRIMARY KEY")
    s, stored = run_after_reset(my, mysluice, t, "initial", 0 if case == "no writes since" else 2)
    if case == "file and position":
        set_stored_offset(s, gtids="")
        stored["gtids"] = ""
    before = s.out.read_bytes()
    t0 = time.time()
    assert s.run_to_end(timeout=30) == 1
    assert time.time() - t0 < 10
    log = log_text(s, s.mark)
    if case == "file and position":
        assert f"the stored offset's binlog position {stored['file']}:{stored['pos']} is past the end" in log, log
    else:
        assert f"the stored offset's GTID {stored['gtids']} is not in the server's binlog" in log, log
    assert "RESET MASTER" in log and "snapshot.mode=when_needed" in log and "reconnecting" not in log, log
    assert s.out.read_bytes() == before
    assert offset(s) == stored


def test_when_needed_after_reset_master_takes_a_new_snapshot(my, mysluice):
    t = make_table(my, "it_mym_reset_wn", "id INT PRIMARY KEY")
    s, stored = run_after_reset(my, mysluice, t, "when_needed", 2)
    streaming(s)
    mysql(my, f"INSERT INTO {t} VALUES (8)")
    s.wait_events(5 + 7 + 1)
    time.sleep(0.3)
    assert s.stop() == 0
    log = log_text(s, s.mark)
    assert f"the stored offset's GTID {stored['gtids']} is not in the server's binlog" in log, log
    assert "taking a new snapshot (snapshot.mode=when_needed)" in log, log
    ev = s.events()
    assert rows_of(ev)[5] == ("r", "first", {"id": 1}) and rows_of(ev)[-1] == ("c", None, {"id": 8})
    assert replay(ev) == table_rows(my, t)
    assert offset(s)["gtids"] == mysql(my, "SELECT @@gtid_binlog_pos")[0][0]


def set_stored_offset(s, **fields):
    """Rewrites fields of the connector's stored offset in its SQLite offset store."""
    import sqlite3
    with sqlite3.connect(s.config["offset.storage.file.filename"]) as c:
        (off,), = c.execute("SELECT offset FROM offsets WHERE connector = ?", (s.name,)).fetchall()
        off = json.loads(off)
        off.update(fields)
        c.execute("UPDATE offsets SET offset = ? WHERE connector = ?", (json.dumps(off), s.name))


@pytest.mark.parametrize("mode", ["initial", "when_needed"])
def test_a_gtid_the_binlog_does_not_have_is_a_position_gone(my, mysluice, mode):
    """The stored file exists and the domain's GTIDs go further, but the stored GTID itself (another server
    id) is not in the binlog: the checks at start cannot see it, the server's binlog dump refuses it (1236,
    "not in the master's binlog"). That is not retried: initial stops naming the position; when_needed
    takes a new snapshot."""
    t = make_table(my, f"it_mym_gtid_gone_{mode}", "id INT PRIMARY KEY", f"INSERT INTO it_mym_gtid_gone_{mode} VALUES (1)")
    s = streaming(mysluice(table_include_list=f"sluice.{t}", snapshot_mode=mode, retriable_restart_connector_wait_ms="100"))
    s.wait_events(1)
    mysql(my, f"INSERT INTO {t} VALUES (2)")
    s.wait_events(2)
    time.sleep(0.3)
    assert s.stop() == 0
    domain, server, seq = offset(s)["gtids"].split("-")
    bogus = f"{domain}-{int(server) + 1000}-{int(seq) - 1}"
    set_stored_offset(s, gtids=bogus)
    s.mark = s.log.stat().st_size
    if mode == "initial":
        assert s.run_to_end(timeout=30) == 1
        log = log_text(s, s.mark)
        assert f"(gtids '{bogus}') is not on the server" in log and "not in the master's binlog" in log, log
        assert "snapshot.mode=when_needed" in log and "reconnecting" not in log, log
        assert len(s.events()) == 2
        return
    start_run(s)
    wait_log(s, "snapshot complete")
    wait_until(lambda: log_text(s, s.mark).count("streaming binlog from") == 2, 30, what="streaming after the snapshot")
    mysql(my, f"INSERT INTO {t} VALUES (3)")
    s.wait_events(2 + 2 + 1)
    time.sleep(0.3)
    assert s.stop() == 0
    log = log_text(s, s.mark)
    assert f"(gtids '{bogus}') is not on the server" in log and "taking a new snapshot" in log, log
    assert rows_of(s.events())[2:] == [("r", "first", {"id": 1}), ("r", "last", {"id": 2}), ("c", None, {"id": 3})]


def test_an_offset_with_a_file_name_cut_by_a_misread_rotate_resumes(my, mysluice):
    """Earlier versions stored a rotate's file name without its first 8 bytes ("bin.000008" for
    "mariadb-bin.000008"), and such an offset was taken for a purged binlog for ever. Its position and GTIDs
    are right: sluice resumes from the whole name, and the next offset names the file properly."""
    t = make_table(my, "it_mym_cut_name", "id INT PRIMARY KEY")
    s = streaming(mysluice(table_include_list=f"sluice.{t}", snapshot_mode="never"))
    mysql(my, "FLUSH BINARY LOGS")
    mysql(my, f"INSERT INTO {t} VALUES (1)")
    s.wait_events(1)
    time.sleep(0.3)
    assert s.stop() == 0
    stored = offset(s)
    assert stored["file"] == master_status(my)[0]
    set_stored_offset(s, file=stored["file"][8:])
    mysql(my, f"INSERT INTO {t} VALUES (2)")
    streaming(s)
    mysql(my, f"INSERT INTO {t} VALUES (3)")
    s.wait_events(3)
    time.sleep(0.3)
    assert s.stop() == 0
    assert f"binlog file {stored['file'][8:]} is {stored['file']} cut short" in log_text(s, s.mark)
    assert [payload(e)["after"]["id"] for e in s.events()] == [1, 2, 3]
    assert offset(s)["file"] == master_status(my)[0]


# ---- offsets ----

def test_offsets_list_shows_file_pos_and_gtids(my, mysluice):
    t = make_table(my, "it_mym_offsets", "id INT PRIMARY KEY")
    s = streaming(mysluice(table_include_list=f"sluice.{t}", snapshot_mode="no_data"))
    mysql(my, f"INSERT INTO {t} VALUES (1)")
    ev = s.wait_events(1)
    gtid_pos = mysql(my, "SELECT @@gtid_binlog_pos")[0][0]
    wait_until(lambda: (offset(s) or {}).get("gtids") == gtid_pos, 10, what="the offset of the insert")
    assert s.stop() == 0
    (name, part, off, ms), = offsets(s)
    assert name == s.name and part == {"server": "my"}
    assert set(off) == {"file", "pos", "gtids", "ts_sec"}, off
    file, pos = master_status(my)
    # Nothing was written after the insert: the offset is the end of the binlog, after that transaction.
    assert (off["file"], off["pos"], off["gtids"]) == (file, pos, gtid_pos)
    src = payload(ev[0])["source"]
    assert src["gtid"] == gtid_pos and src["file"] == file and src["pos"] < pos
    assert abs(off["ts_sec"] - time.time()) < 300 and abs(ms / 1000 - time.time()) < 300


# ---- filters ----

def test_table_include_list_naming_a_missing_table_fails(my, mysluice):
    t = make_table(my, "it_mym_present", "id INT PRIMARY KEY")
    s = mysluice(table_include_list=f"sluice.{t},sluice.it_mym_no_such_table", snapshot_mode="initial")
    assert s.run_to_end(timeout=60) == 1
    log = log_text(s)
    assert "table.include.list" in log and "it_mym_no_such_table' matches no table" in log, log
    assert f"{t}' matches no table" not in log
    assert not s.out.exists() or s.out.read_bytes() == b""
    assert offset(s) is None


@pytest.fixture
def databases(my):
    made = []

    def make(name):
        mysql(my, f"DROP DATABASE IF EXISTS {name}")
        mysql(my, f"CREATE DATABASE {name}")
        made.append(name)
        return name

    yield make
    for name in made:
        mysql(my, f"DROP DATABASE IF EXISTS {name}")


def topics_and_ids(events):
    return [(e["topic"], (payload(e)["after"] or payload(e)["before"])["id"]) for e in events if payload(e)]


def test_database_include_list_captures_only_that_database(my, mysluice, databases):
    db = databases("it_mym_db_inc")
    mysql(my, f"CREATE TABLE {db}.t1 (id INT PRIMARY KEY)")
    mysql(my, f"INSERT INTO {db}.t1 VALUES (1), (2)")
    other = make_table(my, "it_mym_db_other", "id INT PRIMARY KEY", "INSERT INTO it_mym_db_other VALUES (100)")
    s = streaming(mysluice(database_include_list=db, snapshot_mode="initial"))
    mysql(my, f"INSERT INTO {other} VALUES (101)")
    mysql(my, f"INSERT INTO {db}.t1 VALUES (3)")
    mysql(my, f"INSERT INTO {other} VALUES (102)")
    s.wait_events(3)
    time.sleep(0.5)
    assert s.stop() == 0
    ev = s.events()
    assert topics_and_ids(ev) == [(f"my.{db}.t1", 1), (f"my.{db}.t1", 2), (f"my.{db}.t1", 3)]
    assert {payload(e)["source"]["db"] for e in ev} == {db}


def test_table_exclude_list_leaves_out_those_tables(my, mysluice, databases):
    db = databases("it_mym_db_exc")
    for tb in ("keep_a", "skip_b", "skip_c"):
        mysql(my, f"CREATE TABLE {db}.{tb} (id INT PRIMARY KEY)")
        mysql(my, f"INSERT INTO {db}.{tb} VALUES (1)")
    s = streaming(mysluice(database_include_list=db, table_exclude_list=f"{db}\\.skip_.*", snapshot_mode="initial"))
    for tb in ("skip_b", "keep_a", "skip_c"):
        mysql(my, f"INSERT INTO {db}.{tb} VALUES (2)")
    mysql(my, f"UPDATE {db}.skip_b SET id = 3 WHERE id = 2")
    mysql(my, f"DELETE FROM {db}.keep_a WHERE id = 1")
    s.wait_events(4)
    time.sleep(0.5)
    assert s.stop() == 0
    assert [(payload(e)["op"], (payload(e)["after"] or payload(e)["before"])["id"]) for e in s.events()
            if payload(e)] == [("r", 1), ("c", 2), ("d", 1)]
    assert {e["topic"] for e in s.events()} == {f"my.{db}.keep_a"}


@pytest.mark.parametrize("key,value", [("column.exclude.list", "sluice.it_mym_cols_exc.secret"),
                                       ("column.include.list", "sluice.it_mym_cols_inc.(id|name|n)")])
def test_column_filters_leave_columns_out_of_events_and_schemas(my, mysluice, key, value):
    t = "it_mym_cols_" + key.split(".")[1][:3]
    make_table(my, t, "id INT PRIMARY KEY, name VARCHAR(20), secret VARCHAR(40), n INT",
               f"INSERT INTO {t} VALUES (1, 'a', 'hidden-value-one', 1)")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial")
    s.config[key] = value
    streaming(s)
    s.wait_events(1)
    mysql(my, f"INSERT INTO {t} VALUES (2, 'b', 'hidden-value-two', 2)")
    mysql(my, f"UPDATE {t} SET secret = 'hidden-value-three', n = 10 WHERE id = 1")
    mysql(my, f"DELETE FROM {t} WHERE id = 2")
    s.wait_events(5)
    time.sleep(0.3)
    assert s.stop() == 0
    ev = s.events()
    assert [(payload(e)["op"], payload(e)["before"], payload(e)["after"]) for e in ev if payload(e)] == [
        ("r", None, {"id": 1, "name": "a", "n": 1}),
        ("c", None, {"id": 2, "name": "b", "n": 2}),
        ("u", {"id": 1, "name": "a", "n": 1}, {"id": 1, "name": "a", "n": 10}),
        ("d", {"id": 2, "name": "b", "n": 2}, None)]
    for e in ev:
        if e["value"] is not None:
            fields = {f["field"]: f for f in e["value"]["schema"]["fields"]}
            assert [c["field"] for c in fields["after"]["fields"]] == ["id", "name", "n"]
    assert b"hidden-value" not in s.out.read_bytes()
    # the schema change events' tableChanges leave the column out too (their ddl is the statement as it is)
    s.schema_events = True
    every = s.events()
    schema = [e for e in every if e["topic"] == "my"]
    db_ev, tb_ev = schema[3], schema[5]  # (SET, DROP TABLE, DROP DATABASE come first, USE between)
    assert len(schema) == 6
    assert payload(db_ev)["ddl"].startswith("CREATE DATABASE") and "secret" in payload(tb_ev)["ddl"]
    (ch,) = payload(tb_ev)["tableChanges"]
    assert [(c["name"], c["position"]) for c in ch["table"]["columns"]] == [("id", 1), ("name", 2), ("n", 4)]
    tb_ev["value"]["payload"]["ddl"] = ""
    assert "secret" not in json.dumps(every)


# ---- snapshot.locking.mode ----

def test_snapshot_locking_mode_none_takes_no_global_lock(my, mysluice):
    """Another session holds LOCK TABLES ... WRITE on an unrelated table. minimal's FLUSH TABLES WITH READ
    LOCK waits for it (the snapshot does not start until it is released); none does not lock at all."""
    t = make_table(my, "it_mym_lock", "id INT PRIMARY KEY, v INT", "INSERT INTO it_mym_lock VALUES (1, 1), (2, 2)")
    blocker = make_table(my, "it_mym_lock_blocker", "id INT PRIMARY KEY")
    holder = pymysql.connect(**my_params())
    try:
        mysql(holder, f"LOCK TABLES {blocker} WRITE")
        s = streaming(mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial",
                               snapshot_locking_mode="none"))
        ev = s.wait_events(2)
        assert rows_of(ev) == [("r", "first", {"id": 1, "v": 1}), ("r", "last", {"id": 2, "v": 2})]
        mysql(my, f"INSERT INTO {t} VALUES (3, 3)")
        s.wait_events(3)
        assert s.stop() == 0

        # The same with minimal (a fresh offset store): held up by the lock until it is released.
        m = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial", snapshot_locking_mode="minimal")
        m.out = m.dir / "minimal.jsonl"
        m.config["sink.file.path"] = str(m.out)
        m.config["offset.storage.file.filename"] = str(m.dir / "minimal-offsets.db")
        start_run(m)
        time.sleep(2.0)
        assert m.proc.poll() is None and m.events() == []
        assert "snapshot start" not in log_text(m, m.mark)
        mysql(holder, "UNLOCK TABLES")
        ev = m.wait_events(3)
        assert [r[0] for r in rows_of(ev)] == ["r", "r", "r"]
        assert m.stop() == 0
    finally:
        holder.close()


def interrupt_snapshot(my, s, t):
    """Runs s (snapshot.mode=initial-like) with a FIFO as its sink that nobody reads: the pipeline stalls in
    the middle of the snapshot after a few chunks are committed. Waits for an offset with snapshot=true and a chunk's key,
    kills -9 and points the sink at a regular file again. Returns that offset."""
    import os
    fifo = s.dir / "stalled.fifo"
    os.mkfifo(fifo)
    s.config.update({"sink.file.path": str(fifo), "snapshot.fetch.size": "20", "max.batch.size": "1",
                     "offset.flush.interval.ms": "0", "sink.file.buffer.bytes": "4096", "sink.file.fsync": "false",
                     "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false"})
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never drained: once full, the sink stalls
    try:  # 256 kB instead of 64 kB: room for several committed runs (of 64 events) before the stall
        import fcntl
        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 256 * 1024)
    except (AttributeError, OSError):
        pass
    try:
        start_run(s)
        # Not before sluice has set up its offset store: `offsets list` racing with that set-up on a new
        # store file makes one of them fail with "database is locked" (state/offsets.c sl_offsets_open).
        wait_log(s, "snapshot table=")
        # The snapshot's start is stored first (snapshot_progress {}); wait for a committed chunk.
        off = wait_until(lambda: ((offset(s) or {}).get("snapshot_progress") or {}).get("after") and offset(s), 30,
                         what="an offset of an unfinished snapshot after a chunk")
        assert "snapshot done" not in log_text(s, s.mark)
    finally:
        if s.proc and s.proc.poll() is None:
            s.kill9()  # always: a sluice stalled on the FIFO could not stop by SIGTERM
        os.close(reader)
    s.config["sink.file.path"] = str(s.out)
    return offset(s)


@pytest.mark.parametrize("mode", ["initial", "when_needed"])
def test_purged_binlog_under_an_unfinished_snapshot(my, mysluice, mode):
    """The consistent point of an unfinished snapshot is a binlog position too: when it is purged, the rows
    already sent can no longer be brought up to date. initial must fail at once (naming when_needed),
    writing nothing; when_needed must start a new full snapshot (snapshot=first) instead of resuming."""
    t = make_table(my, f"it_mym_purged_snap_{mode}", "id INT PRIMARY KEY, v INT",
                   f"INSERT INTO it_mym_purged_snap_{mode} SELECT seq, seq FROM seq_1_to_3000")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode=mode, retriable_restart_connector_wait_ms="0")
    off = interrupt_snapshot(my, s, t)
    k = int(off["snapshot_progress"]["after"][0])
    assert 0 < k < 3000
    mysql(my, f"UPDATE {t} SET v = -1 WHERE id = 1")  # a change only the purged binlog has
    purge_binlogs_before_current(my, off["file"])
    if mode == "initial":
        assert s.run_to_end(timeout=60) == 1
        log = log_text(s)
        assert f"the unfinished snapshot's binlog file {off['file']} is no longer on the server (purged)" in log, log[-2000:]
        assert "snapshot.mode=when_needed" in log, log[-2000:]
        assert not s.out.exists() or s.out.read_bytes() == b"", "a resumed snapshot was written"
        assert offset(s) == off  # left alone
        return
    start_run(s)
    s.wait_events(3000)
    time.sleep(0.5)
    ev = s.events()
    assert payload(ev[0])["source"]["snapshot"] == "first", rows_of(ev[:1])
    assert len(ev) == 3000 and replay(ev) == table_rows(my, t)
    assert payload(ev[0])["after"] == {"id": 1, "v": -1}  # from the new consistent point
    assert s.stop() == 0
    log = log_text(s, s.mark)
    assert f"the unfinished snapshot's binlog file {off['file']} is no longer on the server (purged): starting a new snapshot" in log, log
    assert "resuming" not in log


def test_parallel_snapshot_gives_the_events_of_one_connection(my, tmp_path):
    """snapshot.max.threads=3: three more connections start their read views under the snapshot's global read
    lock; a table keyed by one integer column is read in key ranges by them, the others by the snapshot's own
    connection. The events, in their order with their markers, and the committed progress are those of one
    connection (the times and the connector's run aside). Tables: an int key with gaps and negatives (parallel),
    a BIGINT UNSIGNED key beyond int64 (serial), a composite key, no key, an empty one."""
    import re
    from conftest import MySluice
    big = make_table(my, "it_mym_par_big", "id INT PRIMARY KEY, v INT, note VARCHAR(100), at DATETIME(3), b BLOB")
    mysql(my, f"""INSERT INTO {big} SELECT CAST(seq AS SIGNED) * 3 - 9000, seq, IF(seq % 7 = 0, NULL, CONCAT('n"\\t', seq)),
                  '2024-01-01 00:00:00.000' + INTERVAL seq SECOND, UNHEX(MD5(seq)) FROM seq_1_to_30000""")
    huge = make_table(my, "it_mym_par_huge", "id BIGINT UNSIGNED PRIMARY KEY, v INT")
    mysql(my, f"INSERT INTO {huge} SELECT 18446744073709551615 - seq, seq FROM seq_1_to_3000")
    comp = make_table(my, "it_mym_par_comp", "a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b)")
    mysql(my, f"INSERT INTO {comp} SELECT seq % 50, CONCAT('k', seq), seq FROM seq_1_to_3000")
    nokey = make_table(my, "it_mym_par_nokey", "a INT, b VARCHAR(10)")
    mysql(my, f"INSERT INTO {nokey} SELECT seq % 10, CONCAT('b', seq) FROM seq_1_to_2000")
    empty = make_table(my, "it_mym_par_empty", "id INT PRIMARY KEY")
    mysql(my, f"ANALYZE TABLE {big}, {huge}, {comp}, {nokey}")
    include = ",".join(f"sluice.{t}" for t in (big, huge, comp, nokey, empty))
    got = {}
    for threads in ("1", "3"):
        d = tmp_path / f"t{threads}"
        d.mkdir()
        s = MySluice(d, my, table_include_list=include, snapshot_mode="initial_only", snapshot_max_threads=threads,
                     snapshot_fetch_size="1000", log_level="debug", max_batch_size="700")
        assert s.run_to_end(timeout=180) == 0, log_text(s)[-3000:]
        text = re.sub(r'"(ts_ms|ts_us|ts_ns)":\d+', r'"\1":0', s.out.read_text())
        text = re.sub(r'"__debezium.context.runId":"[^"]*"', "", text)
        got[threads] = (text.splitlines(), log_text(s), run_cli("offsets", "list", str(s.cfg_path)).stdout)
    one, par = got["1"][0], got["3"][0]
    # the rows, then the schema change events: SET, DROP TABLE x5, DROP/CREATE DATABASE, USE, CREATE TABLE x5
    assert len(one) == 30000 + 3000 + 3000 + 2000 + 14, len(one)
    assert one == par
    m = re.search(rf"snapshot table=\S+\.{big} keys=\[-8997, 81000\] chunks=(\d+) readers=3", got["3"][1])
    assert m and 12 <= int(m.group(1)) <= 40, got["3"][1][-3000:]  # about the row estimate / 1,000
    assert "keys=[" not in got["1"][1] and len(re.findall(r"chunks=\d+ readers=3", got["3"][1])) == 1
    stored = [{k: v for k, v in json.loads(got[th][2].split("\t")[2]).items() if k != "ts_sec"} for th in ("1", "3")]
    assert stored[0] == stored[1] and "snapshot" not in stored[0], stored  # the same position, the snapshot done


def test_parallel_snapshot_without_the_global_lock_reads_with_one_connection(my, mysluice):
    """snapshot.locking.mode=none with snapshot.max.threads=3: the readers could not share one read view, so the
    log says so and one connection reads every row."""
    t = make_table(my, "it_mym_par_nolock", "id INT PRIMARY KEY, v INT")
    mysql(my, f"INSERT INTO {t} SELECT seq, seq FROM seq_1_to_5000")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial_only", snapshot_max_threads="3",
                 snapshot_locking_mode="none", snapshot_fetch_size="500", log_level="debug")
    assert s.run_to_end(timeout=60) == 0, log_text(s)[-3000:]
    assert [payload(e)["after"]["id"] for e in s.events()] == list(range(1, 5001))
    log = log_text(s)
    assert "snapshot.max.threads=3: its readers can share one read view only under the global read lock" in log, log
    assert "readers=" not in log
