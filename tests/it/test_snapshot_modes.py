"""snapshot.mode: initial, initial_only, no_data/never, always, when_needed, the lost-slot error, and
`sluice offsets list|reset`.

Each restart writes to a fresh sink file (new_output) and the events of all runs are read together:
these tests are about what the source emits per run; appending to one file across restarts is
tested in test_crash.py."""
import json
import os
import random
import re
import threading

import psycopg2
import pytest

from conftest import (all_events, log_text, new_output, ops, payload, pg_params, run_cli, slot_row, sql, start_run,
                      wait_all_events, wait_log, wait_streaming, wait_until)


def ids(events, op=None):
    return [payload(e)["after"]["id"] for e in events
            if e["value"] is not None and (op is None or payload(e)["op"] == op)]


def drop_slot(pg, slot):
    wait_until(lambda: slot_row(pg, slot) is None or not slot_row(pg, slot)[0], 10, what=f"slot {slot} inactive")
    sql(pg, "SELECT pg_drop_replication_slot(%s)", slot)
    assert slot_row(pg, slot) is None


def test_initial_snapshots_then_streams(pg, tables, sluice):
    t = tables("it_sm_initial", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 10), (2, 20), (3, 30)")
    s = start_run(sluice(table_include_list=f"public.{t}", snapshot_mode="initial"))
    ev = wait_all_events(s, 3)
    assert ops(ev) == ["r", "r", "r"]
    assert sorted(ids(ev)) == [1, 2, 3]
    assert [payload(e)["source"]["snapshot"] for e in ev] == ["first", "true", "last"]
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (4, 40)")
    sql(pg, f"UPDATE {t} SET v = 11 WHERE id = 1")
    ev = wait_all_events(s, 5)
    assert ops(ev[3:]) == ["c", "u"]
    assert payload(ev[3])["after"] == {"id": 4, "v": 40}
    assert payload(ev[4])["after"] == {"id": 1, "v": 11}
    assert [payload(e)["source"]["snapshot"] for e in ev[3:]] == ["false", "false"]
    assert s.stop() == 0
    # A restart with the stored offset does not snapshot again.
    start_run(new_output(s))
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (5, 50)")
    ev = wait_all_events(s, 6)
    assert ops(ev) == ["r", "r", "r", "c", "u", "c"]
    assert s.stop() == 0


def test_initial_only_stops_by_itself(pg, tables, sluice):
    t = tables("it_sm_initial_only", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} SELECT g, g * 10 FROM generate_series(1, 25) g")
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="initial_only")
    assert s.run_to_end(timeout=60) == 0, log_text(s)[-3000:]
    ev = all_events(s)
    assert set(ops(ev)) == {"r"}
    assert sorted(ids(ev)) == list(range(1, 26))
    # Changes after the snapshot are never streamed; a second run finds the snapshot done and does nothing.
    sql(pg, f"INSERT INTO {t} VALUES (100, 1000)")
    new_output(s)
    assert s.run_to_end(timeout=60) == 0, log_text(s)[-3000:]
    assert all_events(s) == ev
    assert not s.out.exists() or s.out.read_bytes() == b""


@pytest.mark.parametrize("mode", ["no_data", "never"])
def test_no_data_streams_only(pg, tables, sluice, mode):
    t = tables(f"it_sm_{mode}", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
    s = start_run(sluice(table_include_list=f"public.{t}", snapshot_mode=mode))
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    sql(pg, f"DELETE FROM {t} WHERE id = 1")
    ev = wait_all_events(s, 3)
    assert ops(ev) == ["c", "d", None]
    assert payload(ev[0])["after"] == {"id": 3, "v": 3}
    assert payload(ev[1])["before"]["id"] == 1
    assert s.stop() == 0
    assert "r" not in ops(all_events(s))


def test_always_snapshots_at_every_start(pg, tables, sluice):
    t = tables("it_sm_always", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
    s = start_run(sluice(table_include_list=f"public.{t}", snapshot_mode="always"))
    wait_all_events(s, 2)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    wait_all_events(s, 3)
    assert s.stop() == 0
    start_run(new_output(s))
    ev = wait_all_events(s, 6)
    assert ops(ev) == ["r", "r", "c", "r", "r", "r"]
    assert sorted(ids(ev[3:])) == [1, 2, 3]
    assert payload(ev[3])["source"]["snapshot"] == "first" and payload(ev[5])["source"]["snapshot"] == "last"
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (4, 4)")
    ev = wait_all_events(s, 7)
    assert ops(ev)[6] == "c" and payload(ev[6])["after"]["id"] == 4
    assert s.stop() == 0


def test_when_needed_resnapshots_after_slot_loss(pg, tables, sluice):
    t = tables("it_sm_when_needed", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
    s = start_run(sluice(table_include_list=f"public.{t}", snapshot_mode="when_needed"))
    wait_all_events(s, 2)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    wait_all_events(s, 3)
    assert s.stop() == 0
    drop_slot(pg, s.slot)
    sql(pg, f"INSERT INTO {t} VALUES (4, 4)")  # not in any stream any more: only a new snapshot has it
    sql(pg, f"DELETE FROM {t} WHERE id = 2")
    start_run(new_output(s))
    ev = wait_all_events(s, 6)
    assert ops(ev) == ["r", "r", "c", "r", "r", "r"]
    assert sorted(ids(ev[3:])) == [1, 3, 4]
    assert "when_needed" in log_text(s, s.mark)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (5, 5)")
    ev = wait_all_events(s, 7)
    assert ops(ev)[6] == "c" and payload(ev[6])["after"]["id"] == 5
    assert slot_row(pg, s.slot) is not None
    assert s.stop() == 0


def test_initial_with_lost_slot_fails_and_names_the_fix(pg, tables, sluice):
    t = tables("it_sm_lost_slot", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1)")
    s = start_run(sluice(table_include_list=f"public.{t}", snapshot_mode="initial"))
    wait_all_events(s, 1)
    wait_streaming(s)
    assert s.stop() == 0
    drop_slot(pg, s.slot)
    start_run(new_output(s))
    rc = s.proc.wait(60)
    out = log_text(s, s.mark)
    s.stop()
    assert rc == 1, out
    line = next((l for l in out.splitlines() if "slot.name" in l and "when_needed" in l), None)
    assert line is not None, out
    assert s.slot in line
    assert slot_row(pg, s.slot) is None  # the failed start did not create a new slot
    assert len(all_events(s)) == 1  # and emitted nothing


def test_offsets_list_and_reset(pg, tables, sluice):
    t = tables("it_sm_offsets", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
    s = start_run(sluice(table_include_list=f"public.{t}"))
    wait_all_events(s, 2)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    ev = wait_all_events(s, 3)
    assert s.stop() == 0
    last_lsn = payload(ev[2])["source"]["lsn"]

    r = run_cli("offsets", "list", str(s.cfg_path))
    assert r.returncode == 0, r.stderr
    rows = [l.split("\t") for l in r.stdout.splitlines() if l.strip()]
    assert len(rows) == 1, r.stdout
    name, part, offset, updated = rows[0]
    assert name == s.name
    assert json.loads(part) == {"server": "it"}
    off = json.loads(offset)
    assert off["lsn"] >= last_lsn  # the commit of the last streamed change is stored
    assert int(updated) > 0

    r = run_cli("offsets", "reset", str(s.cfg_path))
    assert r.returncode == 0, r.stderr
    assert re.search(r"removed 1 offset", r.stdout), r.stdout
    r = run_cli("offsets", "list", str(s.cfg_path))
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout

    # With no stored offset, snapshot.mode=initial snapshots again.
    start_run(new_output(s))
    ev = wait_all_events(s, 6)
    assert ops(ev) == ["r", "r", "c", "r", "r", "r"]
    assert sorted(ids(ev[3:])) == [1, 2, 3]
    assert s.stop() == 0


def test_initial_only_drops_its_slot_and_then_has_nothing_to_do(pg, tables, sluice):
    """initial_only never streams, so its slot must not stay behind holding WAL; a second run with the
    stored offset has nothing to do and needs no slot."""
    t = tables("it_sm_initial_only_noslot", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1)")
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="initial_only")
    assert s.run_to_end(timeout=60) == 0, log_text(s)[-3000:]
    assert ops(all_events(s)) == ["r"]
    assert slot_row(pg, s.slot) is None
    new_output(s)
    assert s.run_to_end(timeout=60) == 0, log_text(s)[-3000:]
    assert ops(all_events(s)) == ["r"]
    assert slot_row(pg, s.slot) is None


def test_slot_ahead_of_stored_offset(pg, tables, sluice):
    """An offset store restored from an old copy is behind the slot: the changes in between are gone
    from the slot. initial refuses to start (exit 1, names slot.name and when_needed); when_needed
    takes a new snapshot instead."""
    import sqlite3
    t = tables("it_sm_ahead", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1)")
    s = start_run(sluice(table_include_list=f"public.{t}", snapshot_mode="initial"))
    wait_all_events(s, 1)
    wait_streaming(s)
    assert s.stop() == 0
    old = s.dir / "offsets-old.db"
    src, dst = sqlite3.connect(s.config["offset.storage.file.filename"]), sqlite3.connect(old)
    src.backup(dst)
    src.close(), dst.close()
    start_run(new_output(s))
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (2, 2)")
    wait_all_events(s, 2)
    wait_until(lambda: slot_row(pg, s.slot)[1] > payload(all_events(s)[1])["source"]["lsn"], 20,
               what="the slot to confirm the insert")
    assert s.stop() == 0

    s.config["offset.storage.file.filename"] = str(old)
    start_run(new_output(s))
    rc = s.proc.wait(60)
    out = log_text(s, s.mark)
    s.stop()
    assert rc == 1, out
    line = next((l for l in out.splitlines() if "slot.name" in l and "ahead" in l), None)
    assert line is not None and "when_needed" in line, out
    assert len(all_events(s)) == 2

    s.config["snapshot.mode"] = "when_needed"
    start_run(new_output(s))
    ev = wait_all_events(s, 4)
    assert ops(ev) == ["r", "c", "r", "r"]
    assert sorted(ids(ev[2:])) == [1, 2]
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    ev = wait_all_events(s, 5)
    assert ops(ev)[4] == "c" and payload(ev[4])["after"]["id"] == 3
    assert s.stop() == 0


def test_stored_offset_past_the_wal_end(pg, tables, sluice):
    """A stored lsn past the server's WAL end (an offset store from another server, a restored backup, a
    pg_upgrade): `sluice run` refuses to start (exit 1, naming the stored lsn, the WAL end and the way out)
    instead of streaming from it, which would skip every change before it; the slot does not move.
    when_needed takes a new snapshot instead; an offset that is not sluice's or Debezium's is refused too."""
    import sqlite3
    t = tables("it_sm_future", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1)")
    s = start_run(sluice(table_include_list=f"public.{t}", snapshot_mode="initial"))
    wait_all_events(s, 1)
    wait_streaming(s)
    assert s.stop() == 0
    db = s.config["offset.storage.file.filename"]

    def set_offset(change):
        with sqlite3.connect(db) as c:
            (text,), = c.execute("SELECT offset FROM offsets WHERE connector = ?", (s.name,)).fetchall()
            off = json.loads(text)
            change(off)
            c.execute("UPDATE offsets SET offset = ? WHERE connector = ?", (json.dumps(off), s.name))
        return off

    good = set_offset(lambda off: None)
    (wal_end,), = sql(pg, "SELECT pg_current_wal_lsn() - '0/0'")
    assert good["lsn"] <= int(wal_end)  # (an idle stream stores the WAL end itself: that one is fine)
    future = int(wal_end) + (1 << 36)
    set_offset(lambda off: off.update(lsn=future))
    sql(pg, f"INSERT INTO {t} VALUES (2, 2)")
    slot_before = slot_row(pg, s.slot)[1]
    start_run(new_output(s))
    rc = s.proc.wait(60)
    out = log_text(s, s.mark)
    s.stop()
    assert rc == 1, out
    line = next((l for l in out.splitlines() if f"lsn {future} (" in l), None)
    assert line is not None and "past the WAL end" in line, out
    assert "offsets reset" in line and "snapshot.mode=when_needed" in line and "PATCH" in line, line
    assert re.search(r"WAL end of PostgreSQL at \S+ \(\d+/[0-9A-F]+\)", line), line
    assert len(all_events(s)) == 1 and slot_row(pg, s.slot)[1] == slot_before

    set_offset(lambda off: off.update(lsn="0/1234"))  # an lsn as text is not an offset sluice wrote
    start_run(new_output(s))
    assert s.proc.wait(60) == 1
    out = log_text(s, s.mark)
    s.stop()
    assert "stored offset: offset.lsn: must be a non-negative integer" in out, out

    set_offset(lambda off: off.update(lsn=future))
    s.config["snapshot.mode"] = "when_needed"
    start_run(new_output(s))
    ev = wait_all_events(s, 3)
    assert ops(ev) == ["r", "r", "r"] and sorted(ids(ev[1:])) == [1, 2]
    assert "past the server's WAL end" in log_text(s, s.mark)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    ev = wait_all_events(s, 4)
    assert ops(ev)[3] == "c" and payload(ev[3])["after"]["id"] == 3
    assert s.stop() == 0


def test_parallel_snapshot_gives_the_events_of_one_reader(pg, tables, cfg):
    """snapshot.max.threads=3: the readers share the slot's snapshot, a large table is split into ranges of its
    pages read in parallel; the events are those of one reader (every value alike, a table without a key too),
    in the same order (the chunks are taken in page order), with one first and one last marker for the whole snapshot and one first_in_data_collection
    and last_in_data_collection per table."""
    big = tables("it_par_big", "id int PRIMARY KEY, name text, amount numeric(12,3), at timestamptz, blob bytea, "
                               "tags text[]")
    small = tables("it_par_small", "id int PRIMARY KEY, v int")
    nokey = tables("it_par_nokey", "a int, b text")
    sql(pg, f"""INSERT INTO {big} SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'name\t' || g END, g / 3.0,
                   timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', decode(md5(g::text), 'hex'),
                   ARRAY['a', g::text] FROM generate_series(1, 60000) g""")
    sql(pg, f"INSERT INTO {small} VALUES (1, 1), (2, 2)")
    sql(pg, f"INSERT INTO {nokey} SELECT g % 100, 'b' || g FROM generate_series(1, 30000) g")
    include = ",".join(f"public.{t}" for t in (big, small, nokey))
    got = {}
    for threads in ("1", "3"):
        s = cfg(table_include_list=include, snapshot_mode="initial_only", snapshot_max_threads=threads,
                log_level="debug")
        assert s.run_to_end(timeout=120) == 0, log_text(s)[-3000:]
        ev = [e for e in all_events(s) if e["value"] is not None]
        got[threads] = (ev, log_text(s))
    one, par = got["1"][0], got["3"][0]
    assert len(one) == len(par) == 90002

    def rows(ev):
        return sorted((e["topic"], json.dumps(payload(e)["after"], sort_keys=True)) for e in ev)
    assert rows(one) == rows(par)
    marks = [payload(e)["source"]["snapshot"] for e in par]
    assert marks.count("first") == 1 and marks.count("last") == 1 and marks[0] == "first" and marks[-1] == "last"
    assert marks.count("first_in_data_collection") == 2 and marks.count("last_in_data_collection") == 2
    by_topic = {}
    for e in par:  # each table's rows come together, one table after the other
        by_topic.setdefault(e["topic"], []).append(payload(e)["after"])
    assert [len(v) for v in by_topic.values()] == [60000, 2, 30000]
    assert re.search(r"snapshot table=public\.it_par_big\S* pages=\d+ from=0 chunks=12 readers=3", got["3"][1]), \
        got["3"][1][-2000:]
    # the chunks are taken in page order: the events come in one COPY's order
    assert [(e["topic"], payload(e)["after"]) for e in par] == [(e["topic"], payload(e)["after"]) for e in one]



def _masked_lines(text):
    """Each event line without what differs between two connectors reading the same rows: the times, the
    snapshots' own transaction and position (each has its slot's), the run id."""
    text = re.sub(r'"(ts_ms|ts_us|ts_ns|txId|lsn)":\d+', r'"\1":0', text)
    text = re.sub(r'"(sequence|__debezium.context.runId)":"(?:[^"\\]|\\.)*"', r'"\1":""', text)
    return text.splitlines()


@pytest.mark.parametrize("sink", ["file", "kafka"])
def test_encoding_threads_write_what_one_thread_writes(pg, tables, cfg, kafka, sink):
    """sink.encode.threads=3: large batches are encoded in parts on three threads. Two connectors, one with one
    thread and one with three, snapshot the same table and stream the same transaction of 3,000 changes
    (updates, deletes with their tombstones): the file's lines, or the topic's keys and values, are byte for
    byte alike, in the same order (but for the connectors' names, the times, and the snapshots' transaction and
    position, which each connector's slot has of its own)."""
    t = tables("it_benc", "id int PRIMARY KEY, name text, amount numeric(12,3), at timestamptz, tags text[]")
    sql(pg, f"ALTER TABLE {t} REPLICA IDENTITY FULL")
    sql(pg, f"""INSERT INTO {t} SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'name "' || g || E'"\\n' END,
                   g / 3.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1.5 second', ARRAY['a', g::text]
                FROM generate_series(1, 20000) g""")
    runs = {}
    for threads in ("1", "3"):
        extra = {}
        if sink == "kafka":
            extra = dict(sink_type="kafka", bootstrap_servers=kafka.bootstrap, topic_prefix=kafka.topic(f"benc{threads}"))
        runs[threads] = cfg(table_include_list=f"public.{t}", sink_encode_threads=threads, max_batch_size="4096",
                            **extra).start()

    def lines(threads):
        s = runs[threads]
        if sink == "file":
            text = s.out.read_text() if s.out.exists() else ""
            return _masked_lines(text[:text.rfind("\n") + 1])
        try:
            recs = kafka.consume_all(kafka.topic(f"benc{threads}") + f".public.{t}", timeout=60)
        except AssertionError as e:  # not created yet
            if "UNKNOWN_TOPIC" in str(e):
                return []
            raise
        name = kafka.topic(f"benc{threads}")
        return [((r["key"] or b"").decode().replace(name, "X"),
                 _masked_lines(r["value"].decode())[0].replace(name, "X") if r["value"] is not None else None)
                for r in recs]

    def have(n):
        return all(len(lines(th)) >= n for th in runs)
    wait_until(lambda: have(20000), timeout=120, what="both snapshots")
    sql(pg, f"BEGIN; UPDATE {t} SET amount = amount + 1 WHERE id <= 1500; DELETE FROM {t} WHERE id > 18500; COMMIT")
    wait_until(lambda: have(20000 + 1500 + 2 * 1500), timeout=120, what="the streamed transaction")
    for s in runs.values():
        assert s.stop() == 0, log_text(s)[-3000:]
    one, par = lines("1"), lines("3")
    if sink == "file":
        one = [l.replace(runs["1"].name, "X") for l in one]
        par = [l.replace(runs["3"].name, "X") for l in par]
    assert len(one) == 24500
    assert one == par


BIG_ROWS = int(os.environ.get("SLUICE_BIG_SNAPSHOT_ROWS", "2000000"))


def tail_has(path, text, size=1 << 16):
    """Whether the last `size` bytes of the file hold text (without reading a large file whole)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - size))
            return text.encode() in f.read()
    except FileNotFoundError:
        return False


def test_parallel_snapshot_of_2m_rows_under_writes_converges(pg, tables, sluice):
    """snapshot.max.threads=4 reads a 2,000,000-row table in ranges of its pages while a writer updates,
    deletes and inserts rows all through the snapshot: replaying the snapshot's rows and the stream after
    them (upserts and deletes, line by line) gives exactly the table."""
    t = tables("it_par_2m", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, {BIG_ROWS}) g")
    s = sluice(table_include_list=f"public.{t}", snapshot_max_threads="4", key_converter_schemas_enable="false",
               value_converter_schemas_enable="false", log_level="debug")
    stop, counts = threading.Event(), {"during": 0, "all": 0}

    def writer():
        rnd = random.Random(5)
        conn = psycopg2.connect(**pg_params())
        conn.autocommit = True
        with conn.cursor() as c:
            while not stop.is_set():
                k, r = rnd.randrange(1, BIG_ROWS + BIG_ROWS // 10), rnd.random()
                if r < 0.6:
                    c.execute(f"UPDATE {t} SET v = v + 1 WHERE id = %s", (k,))
                elif r < 0.8:
                    c.execute(f"DELETE FROM {t} WHERE id = %s", (k,))
                else:
                    c.execute(f"INSERT INTO {t} VALUES (%s, 1) ON CONFLICT (id) DO UPDATE SET v = {t}.v + 1", (k,))
                counts["all"] += 1
        conn.close()

    th = threading.Thread(target=writer)
    s.start()
    th.start()
    try:
        wait_log(s, "snapshot start", timeout=60)
        before = counts["all"]
        wait_log(s, "snapshot complete", timeout=300)
        counts["during"] = counts["all"] - before
    finally:
        stop.set()
        th.join()
    sql(pg, f"INSERT INTO {t} VALUES (2000000000, -1)")
    wait_until(lambda: tail_has(s.out, '"id":2000000000'), 120, 0.5, "the marker row")
    assert re.search(rf"snapshot table=public\.{t} pages=\d+ from=0 chunks=16 readers=4", log_text(s))
    assert counts["during"] > 100, counts
    state, reads = {}, 0
    with open(s.out) as f:
        for line in f:
            v = json.loads(line)["value"]
            if v is None:
                continue
            if v["op"] == "d":
                state.pop(v["before"]["id"], None)
            else:
                state[v["after"]["id"]] = v["after"]["v"]
                reads += v["op"] == "r"
    assert reads > BIG_ROWS * 0.9, reads  # the rows the snapshot saw (the writer deletes a few before)
    table = dict(sql(pg, f"SELECT id, v FROM {t}"))
    assert len(state) == len(table) and state == table, \
        f"{len(set(state) ^ set(table))} keys differ, {sum(state.get(k) != v for k, v in table.items())} values"
    assert s.stop() == 0
