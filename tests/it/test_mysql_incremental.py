"""Signals and incremental snapshots of the MariaDB source, against the real server: chunks read between
watermark rows written into the signal table while the binlog stream goes on (concurrent writes lose no
update), at the server's default binlog_row_metadata (NO_LOG) and at FULL; the file channel; kill -9 in the
middle."""
import json
import random
import threading
import time

import pymysql
import pytest

from conftest import (assert_replay_equals, log_text, my_make_table, my_params, mysql, payload, start_run,
                      wait_log, wait_until)
from test_incremental_snapshot import (added_table_is_snapshotted, all_events, blocking_run_is_whole, incremental,
                                       kill9_rounds, replay)

SIGNAL_COLS = "id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048) NULL"


def wait_streaming(s, timeout=30):
    wait_log(s, "streaming binlog from", timeout)


def signal_row(my, table, sid, type_, data):
    mysql(my, f"INSERT INTO `{table}` (id, type, data) VALUES (%s, %s, %s)", sid, type_,
          json.dumps(data) if data is not None else None)


def execute(*tables_, **extra):
    return {"data-collections": [f"sluice.{t}" for t in tables_], "type": "incremental", **extra}


def table_rows(my, t):
    return {r[0]: {"id": r[0], "v": r[1]} for r in mysql(my, f"SELECT id, v FROM `{t}`")}


def test_signal_table_snapshots_a_table_in_chunks(my, mysluice, row_metadata):
    """A row in the signal table (not itself captured) starts an incremental snapshot: every row once, as op r
    with source.snapshot=incremental, in key order, valued as an initial snapshot values them; neither the
    signal row nor the watermark rows become events."""
    t = my_make_table(my, "it_myinc_a", "id INT PRIMARY KEY, v VARCHAR(20), n DECIMAL(10,2), at DATETIME(3), "
                      "ts TIMESTAMP(6) NULL, b BIT(5), e ENUM('x','y')")
    sig = my_make_table(my, "it_myinc_sig", SIGNAL_COLS)
    rows = ", ".join(f"({i}, {'NULL' if i % 9 == 0 else repr('v' + str(i))}, {i / 4}, "
                     f"'2024-01-01 00:00:00.{i % 1000:03d}', '2024-02-01 10:00:00.{i:06d}', {i % 32}, "
                     f"'{'xy'[i % 2]}')" for i in range(1, 2001))
    mysql(my, f"INSERT INTO `{t}` VALUES {rows}")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="no_data", signal_data_collection=f"sluice.{sig}",
                 incremental_snapshot_chunk_size="300").start()
    wait_streaming(s)
    signal_row(my, sig, "ad-hoc-1", "execute-snapshot", execute(t))
    wait_log(s, "incremental snapshot finished", timeout=60)
    # logged as the last chunk is handed on: the file sink writes it a moment later
    wait_until(lambda: len(incremental(all_events(s))) >= 2000, timeout=30, what="the last chunk in the file")
    ev = incremental(all_events(s))
    assert [payload(e)["after"]["id"] for e in ev] == list(range(1, 2001))  # key order, each row once
    assert ev[0]["topic"] == f"my.sluice.{t}" and payload(ev[0])["source"]["table"] == t
    assert not [e for e in all_events(s) if e["topic"].endswith(sig)]  # nor signals nor watermarks
    assert "chunk_size=300" in log_text(s)
    # the values are those of an initial snapshot of the same table
    ref = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial_only")
    ref.out, ref.config["sink.file.path"] = ref.dir / "ref.jsonl", str(ref.dir / "ref.jsonl")
    ref.config["offset.storage.file.filename"] = str(ref.dir / "ref-offsets.db")
    assert ref.run_to_end(timeout=60) == 0
    init = {payload(e)["after"]["id"]: payload(e)["after"] for e in ref.events() if e["value"] is not None}
    assert {payload(e)["after"]["id"]: payload(e)["after"] for e in ev} == init
    assert ev[0]["value"]["schema"] == [e for e in ref.events() if e["value"] is not None][0]["value"]["schema"]
    assert s.stop() == 0


RO_USER, RO_PASSWORD = "sluice_ro", "sluice-ro-pw"


def read_only_user(my):
    """A user that may read and replicate but write nothing (no INSERT anywhere)."""
    mysql(my, f"CREATE USER IF NOT EXISTS '{RO_USER}'@'%' IDENTIFIED BY '{RO_PASSWORD}'")
    mysql(my, f"GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{RO_USER}'@'%'")
    return {"database_user": RO_USER, "database_password": RO_PASSWORD}


@pytest.mark.parametrize("watermarks", ["signal_table", "read_only"])
def test_concurrent_writes_lose_no_update(my, mysluice, watermarks):
    """Updates, deletes and inserts hit the table while its chunks are read (signal by signal.file): a change
    between a chunk's watermarks drops that row from the chunk, so replaying the events ends exactly at the
    table. The additional condition slows each chunk's read so that windows are wide. The watermarks are rows
    written into the signal table, or with read.only=true the server's gtid_binlog_pos before and after each
    chunk's SELECT, read by a user that may write nothing and with no signal table at all."""
    t = my_make_table(my, "it_myinc_w", "id INT PRIMARY KEY, v INT")
    mysql(my, f"INSERT INTO `{t}` SELECT seq, 0 FROM seq_1_to_3000")
    if watermarks == "read_only":
        s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="no_data", read_only="true",
                     signal_enabled_channels="file", incremental_snapshot_chunk_size="150", log_level="debug",
                     **read_only_user(my))
    else:
        sig = my_make_table(my, "it_myinc_wsig", SIGNAL_COLS)
        s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="no_data",
                     signal_data_collection=f"sluice.{sig}", signal_enabled_channels="source,file",
                     incremental_snapshot_chunk_size="150", log_level="debug")
    sigfile = s.dir / "signals.jsonl"
    s.config["signal.file"] = str(sigfile)
    s.config["signal.poll.interval.ms"] = "100"
    s.start()
    wait_streaming(s)
    stop = threading.Event()
    counts = {"w": 0}

    def writer(seed):
        rnd = random.Random(seed)
        conn = pymysql.connect(**my_params())
        with conn.cursor() as c:
            while not stop.is_set():
                k = rnd.randrange(1, 3400)
                r = rnd.random()
                if r < 0.7:
                    c.execute(f"UPDATE `{t}` SET v = v + 1 WHERE id = %s", (k,))
                elif r < 0.85:
                    c.execute(f"DELETE FROM `{t}` WHERE id = %s", (k,))
                else:
                    c.execute(f"INSERT INTO `{t}` VALUES (%s, 100) ON DUPLICATE KEY UPDATE v = v + 1", (k,))
                counts["w"] += 1
        conn.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    try:
        time.sleep(0.3)
        sigfile.write_text(json.dumps({"id": "w-1", "type": "execute-snapshot", "data": execute(t, **{
            "additional-conditions": [{"data-collection": f"sluice.{t}", "filter": "(SELECT SLEEP(0.04)) = 0"}]})})
                           + "\n")
        wait_log(s, "incremental snapshot finished", timeout=120)
    finally:
        stop.set()
        for th in threads:
            th.join()
    mysql(my, f"INSERT INTO `{t}` VALUES (1000000, -1)")
    wait_until(lambda: 1000000 in replay(all_events(s), t), timeout=30, what="the marker row")
    assert counts["w"] > 300
    assert_replay_equals(replay(all_events(s), t), table_rows(my, t), "replay after an incremental snapshot "
                                                                       "under writes")
    import re
    dropped = [(int(a), int(b)) for a, b in re.findall(r"emitted=(\d+) of (\d+)", log_text(s))]
    assert len(dropped) >= 10 and any(a < b for a, b in dropped), dropped  # windows did drop changed keys
    assert s.stop() == 0


@pytest.mark.parametrize("watermarks", ["signal_table", "read_only"])
def test_kill9_during_incremental_snapshot_then_replay_equals_table(my, mysluice, watermarks):
    """kill -9 at random points of an incremental snapshot under writes: each restart goes on from the stored
    offset's incremental_snapshot_* fields and the replay of everything written equals the table. With
    read.only the connector's user may write nothing: the signal row (written by the test) is read from the
    binlog and the watermarks are GTID positions; a kill while a chunk waits for its high watermark reads that
    chunk again."""
    t = my_make_table(my, "it_myinc_k", "id INT PRIMARY KEY, v INT")
    sig = my_make_table(my, "it_myinc_ksig", SIGNAL_COLS)
    mysql(my, f"INSERT INTO `{t}` SELECT seq, 0 FROM seq_1_to_6000")
    ro = read_only_user(my) if watermarks == "read_only" else {}
    if ro:
        ro["read_only"] = "true"
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="no_data", signal_data_collection=f"sluice.{sig}",
                 incremental_snapshot_chunk_size="200", **ro)
    s.mark = 0
    start_run(s)
    wait_streaming(s)
    rnd = random.Random(7)
    stop = threading.Event()

    def writer():
        conn = pymysql.connect(**my_params())
        wr = random.Random(11)
        with conn.cursor() as c:
            while not stop.is_set():
                k = wr.randrange(1, 6200)
                if wr.random() < 0.8:
                    c.execute(f"INSERT INTO `{t}` VALUES (%s, 1) ON DUPLICATE KEY UPDATE v = v + 1", (k,))
                else:
                    c.execute(f"DELETE FROM `{t}` WHERE id = %s", (k,))
                time.sleep(0.001)
        conn.close()

    th = threading.Thread(target=writer)
    th.start()
    try:
        signal_row(my, sig, "k-1", "execute-snapshot", execute(t, **{"additional-conditions": [
            {"data-collection": f"sluice.{t}", "filter": "(SELECT SLEEP(0.01)) = 0"}]}))
        resumed = kill9_rounds(s, rnd, wait_streaming, 300, 1000)
    finally:
        stop.set()
        th.join()
    mysql(my, f"INSERT INTO `{t}` VALUES (1000000, -1)")
    wait_until(lambda: 1000000 in replay(all_events(s), t), timeout=30, what="the marker row")
    assert resumed >= 2, log_text(s)[-3000:]
    assert_replay_equals(replay(all_events(s), t), table_rows(my, t), "replay after kill -9 in an incremental "
                                                                       "snapshot")
    ids = {payload(e)["after"]["id"] for e in incremental(all_events(s))}
    assert len(ids) >= 4000  # rows the writer deletes before their chunk is read are not there to read


def test_signals_without_a_signal_table_are_refused(my, mysluice, tmp_path):
    """Incremental snapshots on MariaDB write their watermarks into the signal table: signals by file without
    signal.data.collection (and without read.only) are a config error naming both keys, before any database is
    touched."""
    s = mysluice(table_include_list="sluice.it_myinc_none", signal_enabled_channels="file",
                 signal_file=str(tmp_path / "sig.jsonl"))
    rc = s.run_to_end(timeout=30)
    assert rc != 0
    assert "signal.data.collection" in log_text(s) and "watermarks" in log_text(s) and "read.only" in log_text(s)


def test_blocking_snapshot_while_writes_go_on(my, mysluice):
    """execute-snapshot with type blocking (by signal.file): the binlog waits while the table is read whole,
    then goes on; the replay equals the table."""
    t = my_make_table(my, "it_myinc_b", "id INT PRIMARY KEY, v INT")
    sig = my_make_table(my, "it_myinc_bsig", SIGNAL_COLS)
    mysql(my, f"INSERT INTO `{t}` SELECT seq, 0 FROM seq_1_to_3000")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="no_data", signal_data_collection=f"sluice.{sig}",
                 signal_enabled_channels="source,file", incremental_snapshot_chunk_size="400")
    sigfile = s.dir / "signals.jsonl"
    s.config["signal.file"] = str(sigfile)
    s.config["signal.poll.interval.ms"] = "100"
    s.start()
    wait_streaming(s)
    stop = threading.Event()

    def writer():
        conn = pymysql.connect(**my_params())
        wr = random.Random(5)
        with conn.cursor() as c:
            while not stop.is_set():
                c.execute(f"UPDATE `{t}` SET v = v + 1 WHERE id = %s", (wr.randrange(1, 3000),))
                time.sleep(0.002)
        conn.close()

    th = threading.Thread(target=writer)
    th.start()
    try:
        time.sleep(0.3)
        sigfile.write_text(json.dumps({"id": "b-1", "type": "execute-snapshot",
                                       "data": {"data-collections": [f"sluice.{t}"], "type": "blocking"}}) + "\n")
        wait_log(s, "blocking snapshot done", timeout=60)
        time.sleep(0.3)
    finally:
        stop.set()
        th.join()
    mysql(my, f"INSERT INTO `{t}` VALUES (1000000, -1)")
    wait_until(lambda: 1000000 in replay(all_events(s), t), timeout=30, what="the marker row")
    ev = all_events(s)
    assert blocking_run_is_whole(ev, "." + t, 3000) == list(range(1, 3001))
    assert_replay_equals(replay(ev, t), table_rows(my, t), "replay after a blocking snapshot")
    assert s.stop() == 0


@pytest.mark.parametrize("watermarks", ["signal_table", "read_only"])
def test_table_added_to_the_include_list_is_snapshotted_incrementally(my, mysluice, watermarks):
    """snapshot.new.tables=incremental: the offset records the database and table filters; a restart whose
    filters capture one more table reads just that table incrementally (watermarks in the signal table, or with
    read.only GTID positions and no signal table) while streaming goes on; a restart with the same filters reads
    nothing. Without signal.data.collection (nor read.only) the key is refused before any database is
    touched."""
    a = my_make_table(my, "it_myinc_na", "id INT PRIMARY KEY, v INT")
    b = my_make_table(my, "it_myinc_nb", "id INT PRIMARY KEY, v INT")
    mysql(my, f"INSERT INTO {a} SELECT seq, seq FROM seq_1_to_300")
    mysql(my, f"INSERT INTO {b} SELECT seq, seq FROM seq_1_to_1200")
    if watermarks == "read_only":
        where = {"read_only": "true", **read_only_user(my)}
    else:
        where = {"signal_data_collection": f"sluice.{my_make_table(my, 'it_myinc_nsig', SIGNAL_COLS)}"}
    s = mysluice(table_include_list=f"sluice.{a}", snapshot_mode="initial", snapshot_new_tables="incremental",
                 incremental_snapshot_chunk_size="250", **where)
    added_table_is_snapshotted(s, lambda q: mysql(my, q), wait_streaming, a, b, f"sluice.{a},sluice.{b}",
                               f"my.sluice.{b}")
    # the key without the table its watermarks go to
    bad = mysluice(table_include_list=f"sluice.{a}", snapshot_new_tables="incremental")
    bad.out = bad.dir / "bad.jsonl"
    bad.config["offset.storage.file.filename"] = str(bad.dir / "bad-offsets.db")
    assert bad.run_to_end(timeout=30) != 0
    assert "snapshot.new.tables=incremental: needs signal.data.collection" in log_text(bad), log_text(bad)[-2000:]
