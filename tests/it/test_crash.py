"""Crash test: kill -9 sluice again and again while a writer changes the table, then replay the file.

The writer (its own connection) runs random inserts, upserts, updates of a few hot rows, deletes and
re-inserts of the same ids, in autocommit mode and in multi-statement transactions (some rolled back),
with text that needs JSON escaping. sluice runs with snapshot.mode=initial on a table that already has
rows, and is killed with SIGKILL at random moments (0.2-1.5 s after each start, so some kills land in
the snapshot or the slot creation), then restarted. At the end the writer stops, a marker row is
written, sluice is restarted until the marker's event is in the file, and stopped with SIGTERM.

Replaying the file in order must give exactly the table's contents:
  r/c/u -> upsert `after`, d -> delete `before.id`, tombstones ignored. Nothing else: a snapshot that a
  crash interrupted is taken again on the same slot and streaming starts where the first attempt
  started, so a row it sent and that is gone since gets its delete event (no consumer has to treat a
  new snapshot as a full image of the table).
Duplicates (the same change delivered again after a crash: at-least-once) are harmless for this replay
and are counted. Every line must be whole JSON (a torn line left by a kill must have been cut).
"""
import json
import os
import random
import threading
import time
import uuid

import psycopg2
import pytest

from conftest import (assert_replay_equals, finish_with_marker, kill_during_snapshots, log_text, payload, pg_params, sql, start_run,
                      wait_streaming, wait_until)


KILLS = int(os.environ.get("SLUICE_CRASH_KILLS", "22"))
PRE_ROWS = 3000
ID_SPACE = 3300
HOT = list(range(10))
NOTES = ["plain", "tab\there", "new\nline", 'quote " and \\ backslash', "unicode é ü € 😀", "ctl \x01\x1f end",
         "", "x" * 300, "{\"json\": [1, 2]}", "comma,semi;colon:"]


RETURNING = " RETURNING mod(pg_current_xact_id()::text::bigint, 4294967296), pg_current_wal_insert_lsn() - '0/0'"


class Writer(threading.Thread):
    """Random changes; remembers, per committed transaction id, how many change events it must produce
    (rows changed; 2 for a primary-key change) and a lower bound of its commit LSN (the WAL insert
    position during its last statement)."""

    def __init__(self, table, seed):
        super().__init__(daemon=True)
        self.table = table
        self.rnd = random.Random(seed)
        self.stop = threading.Event()
        self.error = None
        self.ops = self.txns = self.big = 0
        self.committed = {}  # xid -> (change events, commit LSN lower bound)
        self.rolled_back = set()
        self.xid, self.n, self.lsn = None, 0, 0
        self.conn = psycopg2.connect(**pg_params())
        self.conn.autocommit = True

    def note(self):
        if self.rnd.random() < 0.05:
            return None
        return f"{self.rnd.choice(NOTES)} #{self.rnd.randrange(10**6)}"

    def pick_id(self):
        return self.rnd.choice(HOT) if self.rnd.random() < 0.3 else self.rnd.randrange(ID_SPACE)

    def execute(self, cur, q, params, autocommit, events_per_row=1):
        cur.execute(q + RETURNING, params)
        rows = cur.fetchall()
        if rows:
            self.xid, self.n, self.lsn = rows[0][0], self.n + events_per_row * len(rows), int(rows[-1][1])
        if autocommit:
            self.end(True)

    def end(self, commit):
        if self.n:
            if commit:
                self.committed[self.xid] = (self.n, self.lsn)
            else:
                self.rolled_back.add(self.xid)
        self.xid, self.n, self.lsn = None, 0, 0

    def one(self, cur, ac):
        t, k, i = self.table, self.rnd.random(), self.pick_id()
        if k < 0.30:
            self.execute(cur, f"INSERT INTO {t} VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE "
                              f"SET v = excluded.v, note = excluded.note", (i, self.rnd.randrange(10**6), self.note()), ac)
        elif k < 0.65:
            self.execute(cur, f"UPDATE {t} SET v = v + 1, note = %s WHERE id = %s", (self.note(), i), ac)
        elif k < 0.85:
            self.execute(cur, f"DELETE FROM {t} WHERE id = %s", (i,), ac)
        elif k < 0.88:  # a key change: Debezium's delete (old key) + create (new key), same LSN
            new = self.rnd.randrange(ID_SPACE)
            self.execute(cur, f"UPDATE {t} SET id = %s WHERE id = %s AND NOT EXISTS "
                              f"(SELECT 1 FROM {t} WHERE id = %s)", (new, i, new), ac, events_per_row=2)
        elif k < 0.95:  # delete and re-insert the same id
            self.execute(cur, f"DELETE FROM {t} WHERE id = %s", (i,), ac)
            self.execute(cur, f"INSERT INTO {t} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                         (i, -self.rnd.randrange(10**6), self.note()), ac)
        else:  # the same row many times
            for _ in range(self.rnd.randrange(5, 30)):
                self.execute(cur, f"UPDATE {t} SET v = v + 1 WHERE id = %s", (HOT[0],), ac)
        self.ops += 1

    def run(self):
        try:
            with self.conn.cursor() as cur:
                while not self.stop.is_set():
                    if self.rnd.random() < 0.001:  # one transaction larger than max.batch.size
                        lo = self.rnd.randrange(ID_SPACE - 1000)
                        self.execute(cur, f"UPDATE {self.table} SET v = v + 1 WHERE id BETWEEN %s AND %s",
                                     (lo, lo + 999), True)
                        self.big += 1
                    elif self.rnd.random() < 0.15:
                        cur.execute("BEGIN")
                        for _ in range(self.rnd.randrange(2, 40)):
                            self.one(cur, False)
                        commit = self.rnd.random() >= 0.1
                        cur.execute("COMMIT" if commit else "ROLLBACK")
                        self.end(commit)
                        self.txns += 1
                    else:
                        self.one(cur, True)
                    time.sleep(0.002)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.conn.close()


def replay(lines):
    """Applies the events in order. Returns the state {id: (v, note)}, counters, the consistent point of
    the last snapshot (source.lsn of its first r event) and, for the changes streamed after that
    snapshot began, the distinct changes per transaction id."""
    state, stats = {}, dict(events=0, tombstones=0, snapshots=0, r=0, c=0, u=0, d=0, duplicates=0)
    seen, per_tx, snapshot_lsn, prev = set(), {}, None, None
    for line in lines:
        e = json.loads(line)
        stats["events"] += 1
        assert e["topic"] == "it.public.it_crash", line[:300]
        v = payload(e)
        if v is None:  # a tombstone comes right after its delete (a crash may cut it, never reorder it)
            assert prev is not None and prev["value"] is not None and payload(prev)["op"] == "d", line[:300]
            assert e["key"] == prev["key"], line[:300]
            stats["tombstones"] += 1
            prev = e
            continue
        prev = e
        op = v["op"]
        assert op in ("r", "c", "u", "d"), line
        stats[op] += 1
        if op == "r":
            if v["source"]["snapshot"] == "first":  # the streamed changes after the last snapshot are counted
                per_tx.clear()
                seen.clear()
                stats["snapshots"] += 1
                snapshot_lsn = v["source"]["lsn"]
            row = v["after"]
            state[row["id"]] = (row["v"], row["note"])
            continue
        ident = (v["source"]["lsn"], v["source"]["txId"], op, json.dumps(e["key"], sort_keys=True))
        if ident in seen:
            stats["duplicates"] += 1
        else:
            per_tx.setdefault(v["source"]["txId"], set()).add(ident)
        seen.add(ident)
        if op == "d":
            state.pop(v["before"]["id"], None)
        else:
            row = v["after"]
            state[row["id"]] = (row["v"], row["note"])
    return state, stats, snapshot_lsn, {x: len(c) for x, c in per_tx.items()}


def test_kill9_repeatedly_then_replay_equals_table(pg, tables, sluice):
    seed = int(os.environ.get("SLUICE_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    t = tables("it_crash", "id int PRIMARY KEY, v int, note text")
    sql(pg, f"INSERT INTO {t} SELECT g, g, 'pre ' || g || E' \\t\\n\"q\" \\\\ \u00fc' FROM generate_series(0, %s) g",
        PRE_ROWS - 1)
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="initial", max_batch_size="256")
    writer = Writer(t, seed)
    writer.start()
    kills, self_exits, attempts = 0, [], 0
    try:
        while kills < KILLS and attempts < KILLS * 3:
            attempts += 1
            start_run(s)
            time.sleep(rnd.uniform(0.2, 1.5))
            if s.proc.poll() is not None:  # it must not stop by itself
                self_exits.append((s.proc.returncode, log_text(s, s.mark)[-1500:]))
                s.stop()
                continue
            s.kill9()
            kills += 1
            assert writer.is_alive(), writer.error
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert not self_exits, f"sluice exited by itself {len(self_exits)} time(s) (seed {seed}): {self_exits[:3]}"
    assert kills >= 20

    marker = f"final-marker-{uuid.uuid4().hex}"
    (marker_xid, _), = sql(pg, f"INSERT INTO {t} VALUES (-1, 0, %s)" + RETURNING, marker)
    start_run(s)

    def marker_written():
        if s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s, s.mark)[-3000:]}")
        with open(s.out, "rb") as f:
            f.seek(max(0, s.out.stat().st_size - (1 << 20)))
            return marker.encode() in f.read()

    wait_until(marker_written, timeout=120, interval=0.2, what="the marker row's event")
    rc = s.stop()
    assert rc == 0, log_text(s, s.mark)[-3000:]

    raw = s.out.read_bytes()
    assert raw.endswith(b"\n"), raw[-300:]
    lines = raw.split(b"\n")[:-1]
    for n, line in enumerate(lines):
        try:
            json.loads(line)
        except ValueError as e:
            raise AssertionError(f"line {n + 1} of {len(lines)} is not JSON ({e}): {line[:300]!r}")
    state, stats, snapshot_lsn, per_tx = replay(lines)
    table = {i: (v, note) for i, v, note in sql(pg, f"SELECT id, v, note FROM {t}")}
    missing = sorted(set(table) - set(state))
    extra = sorted(set(state) - set(table))
    wrong = sorted(i for i in set(table) & set(state) if table[i] != state[i])
    summary = (f"seed={seed} kills={kills} torn_lines_cut={log_text(s).count('cutting a torn last line')} "
               f"writer_ops={writer.ops} multi_statement_txns={writer.txns} big_txns={writer.big} "
               f"committed_txns_with_changes={len(writer.committed)} rolled_back={len(writer.rolled_back)} "
               f"rows={len(table)} {stats}")
    print("\ncrash test:", summary)
    assert not missing and not extra and not wrong, (
        f"{summary}\nmissing={missing[:20]} extra={extra[:20]} "
        f"wrong={[(i, table[i], state[i]) for i in wrong[:10]]}")
    assert stats["snapshots"] >= 1 and stats["c"] + stats["u"] + stats["d"] > 0

    # Transactions: after the last snapshot's consistent point every committed one is there, whole,
    # once (counting distinct changes); nothing rolled back and nothing unknown.
    assert per_tx.pop(marker_xid, 0) == 1
    assert not set(per_tx) & writer.rolled_back, sorted(set(per_tx) & writer.rolled_back)[:10]
    unknown = sorted(set(per_tx) - set(writer.committed))
    assert not unknown, unknown[:10]
    partial = [(x, n, writer.committed[x][0]) for x, n in per_tx.items() if n != writer.committed[x][0]]
    assert not partial, f"transactions with missing or extra changes (xid, in file, committed): {partial[:10]}"
    lost = sorted(x for x, (n, lsn) in writer.committed.items() if lsn >= snapshot_lsn and x not in per_tx)
    assert not lost, f"{len(lost)} committed transactions after the snapshot missing, e.g. {lost[:10]}"
    after_snapshot = sum(1 for n, lsn in writer.committed.values() if lsn >= snapshot_lsn)
    print(f"crash test: {len(per_tx)} transactions streamed after the snapshot, {after_snapshot} provably after it")
    assert after_snapshot > 100  # the check above had something to check


def after_ids(path):
    """ids of the `after` rows in a file, skipping tombstones and lines that are not whole JSON."""
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e["value"] is not None and payload(e)["after"] is not None:
            out.append(payload(e)["after"]["id"])
    return out


def test_file_sink_appends_across_clean_restart(pg, tables, sluice):
    """Regression: the sink opened its file write-only, the torn-tail check could not read it and cut
    the whole file at every start."""
    t = tables("it_crash_append", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
    s = start_run(sluice(table_include_list=f"public.{t}"))
    s.wait_events(2)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    s.wait_events(3)
    assert s.stop() == 0
    start_run(s)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (4, 4)")
    wait_until(lambda: 4 in after_ids(s.out), 30, what="the event of row 4")
    assert s.stop() == 0
    assert after_ids(s.out) == [1, 2, 3, 4]


def test_file_sink_cuts_only_a_torn_last_line(pg, tables, sluice):
    """A crash in the middle of write(2) leaves a line without its newline: the next start cuts exactly
    that line, keeps the whole ones before it and appends after them."""
    t = tables("it_crash_torn", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
    s = start_run(sluice(table_include_list=f"public.{t}"))
    s.wait_events(2)
    wait_streaming(s)
    assert s.stop() == 0
    whole = s.out.read_bytes()
    with open(s.out, "ab") as f:
        f.write(whole.split(b"\n")[0][:150])  # a torn copy of a line
    start_run(s)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    wait_until(lambda: 3 in after_ids(s.out), 30, what="the event of row 3")
    assert s.stop() == 0
    raw = s.out.read_bytes()
    assert raw.startswith(whole) and raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    assert [json.loads(l)["value"] is not None for l in lines] == [True] * 3  # every line is whole JSON
    assert after_ids(s.out) == [1, 2, 3]
    assert "cutting a torn last line" in log_text(s, s.mark)


def stall_snapshot_then_kill9(s, table):
    """Runs s with its file sink on a FIFO nobody reads, so the snapshot of table stalls after a few rows;
    checks what is stored then (only the snapshot's start, marked unfinished), kills sluice (-9) and
    returns (the events the sink had written, the stored offset)."""
    from conftest import run_cli, wait_log
    fifo = s.dir / "stalled.fifo"
    os.mkfifo(fifo)
    s.out = fifo
    s.config["sink.file.path"] = str(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never drained: 64 kB and it is full
    try:
        start_run(s)
        wait_log(s, f"snapshot table=public.{table}")
        time.sleep(1.0)
        assert s.proc.poll() is None
        assert "snapshot done" not in log_text(s, s.mark)  # really stalled in the middle
        r = run_cli("offsets", "list", str(s.cfg_path))
        assert r.returncode == 0, r.stderr
        stored = json.loads(r.stdout.strip().split("\t")[2])
        assert stored["snapshot"] is True and stored["last_snapshot_record"] is False, stored
    finally:
        s.kill9()  # always: a sluice stalled on the FIFO could not stop by SIGTERM
        stalled = os.read(reader, 1 << 20).split(b"\n")
        os.close(reader)
    first = [json.loads(l) for l in stalled[:-1]]
    assert first and all(payload(e)["op"] == "r" for e in first)
    assert payload(first[0])["source"]["snapshot"] == "first"
    s.outs = []
    s.out = s.dir / "events.jsonl"
    s.config["sink.file.path"] = str(s.out)
    return first, stored


def test_kill9_during_snapshot_snapshots_again_and_streams_from_its_start(pg, tables, sluice):
    """Deterministic crash in the middle of the snapshot: the first run's sink is a FIFO nobody reads,
    so the pipeline stalls after a few rows with the snapshot unfinished. What is stored is only the
    position the snapshot started from, marked unfinished (snapshot=true). After kill -9 the next start
    keeps the slot, takes a complete new snapshot, then streams from that position: the row deleted in
    between is gone from the new snapshot and its delete event follows, so a consumer that replays both
    attempts drops it too."""
    from conftest import all_events, run_cli
    a = tables("it_crash_snap", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {a} SELECT g, g FROM generate_series(1, 5000) g")
    s = sluice(table_include_list=f"public.{a}", max_batch_size="10", max_queue_size="100",
               sink_file_fsync="false")
    first, stored = stall_snapshot_then_kill9(s, a)
    start_lsn = stored["lsn"]
    assert 7 in [payload(e)["after"]["id"] for e in first]

    sql(pg, f"DELETE FROM {a} WHERE id = 7")
    sql(pg, f"UPDATE {a} SET v = -1 WHERE id = 4999")
    start_run(s)
    # 4999 rows, the delete and its tombstone, the update (the wait must not end before the update's event)
    ev = wait_until(lambda: len(all_events(s)) >= 5002 and all_events(s), 60, what="the second snapshot and stream")
    assert "slot kept" in log_text(s, s.mark)
    snap = [e for e in ev if payload(e) and payload(e)["op"] == "r"]
    assert len(snap) == 4999
    assert payload(snap[0])["source"]["snapshot"] == "first" and payload(snap[-1])["source"]["snapshot"] == "last"
    assert {payload(e)["source"]["lsn"] for e in snap} == {start_lsn}
    rows = {payload(e)["after"]["id"]: payload(e)["after"]["v"] for e in snap}
    assert sorted(rows) == [i for i in range(1, 5001) if i != 7]
    assert rows[4999] == -1
    streamed = [(payload(e)["op"], (payload(e)["before"] or payload(e)["after"])["id"]) for e in ev[len(snap):]
                if payload(e)]
    assert streamed == [("d", 7), ("u", 4999)], streamed
    wait_until(lambda: "snapshot" not in run_cli("offsets", "list", str(s.cfg_path)).stdout, 10,
               what="the snapshot's end stored")
    assert s.stop() == 0


def test_initial_only_after_a_killed_snapshot_streams_up_to_its_new_snapshot(pg, tables, sluice):
    """snapshot.mode=initial_only, killed in the middle of its snapshot: the next run keeps the slot,
    snapshots again, streams from where the first attempt started up to where the new snapshot was
    taken (so the row deleted in between gets its delete event), then drops the slot and exits 0; a
    third run has nothing to do."""
    from conftest import all_events, run_cli, slot_row
    a = tables("it_crash_snap_io", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {a} SELECT g, g FROM generate_series(1, 5000) g")
    s = sluice(table_include_list=f"public.{a}", snapshot_mode="initial_only", max_batch_size="10",
               max_queue_size="100", sink_file_fsync="false")
    first, stored = stall_snapshot_then_kill9(s, a)
    assert 7 in [payload(e)["after"]["id"] for e in first]
    sql(pg, f"DELETE FROM {a} WHERE id = 7")
    s.mark = s.log.stat().st_size
    assert s.run_to_end(timeout=60) == 0, log_text(s, s.mark)[-3000:]
    ev = all_events(s)
    snap = [e for e in ev if payload(e) and payload(e)["op"] == "r"]
    assert len(snap) == 4999 and 7 not in {payload(e)["after"]["id"] for e in snap}
    assert [(payload(e)["op"], payload(e)["before"]["id"]) for e in ev[len(snap):] if payload(e)] == [("d", 7)]
    assert "streamed up to" in log_text(s, s.mark)
    assert slot_row(pg, s.slot) is None
    r = run_cli("offsets", "list", str(s.cfg_path))
    assert "snapshot" not in r.stdout and json.loads(r.stdout.strip().split("\t")[2])["lsn"] >= stored["lsn"]
    s.mark = s.log.stat().st_size
    assert s.run_to_end(timeout=60) == 0
    assert "nothing to do" in log_text(s, s.mark)
    assert len(all_events(s)) == len(ev)


def stored_offset(s):
    """The stored offset of s (parsed), or None."""
    import sqlite3
    try:
        with sqlite3.connect(s.config["offset.storage.file.filename"]) as c:
            rows = c.execute("SELECT offset FROM offsets").fetchall()
    except sqlite3.Error:
        return None
    return json.loads(rows[0][0]) if rows else None


def kill9_once_stored(s, stored_when):
    """Runs s with its file sink writing into a FIFO that is drained at some 12 MB/s until the stored offset
    satisfies stored_when, then no more, so the run stalls; kill -9 then. The drained lines (a line cut by the
    kill is dropped) stay s.outs[0]; the next run writes to events-1.jsonl. Returns the offset stored last."""
    fifo, drained = s.dir / "ta.fifo", s.dir / "events-0.jsonl"
    os.mkfifo(fifo)
    s.config["sink.file.path"] = str(fifo)
    draining = threading.Event()
    draining.set()
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def drain():
        with open(drained, "wb") as out:
            while draining.is_set():
                try:
                    chunk = os.read(reader, 1 << 16)
                except BlockingIOError:
                    chunk = b""
                if chunk:
                    out.write(chunk)
                time.sleep(0.005)  # some 12 MB/s: a table of a few MB takes seconds to go through

    th = threading.Thread(target=drain)
    th.start()
    try:
        start_run(s)
        wait_until(lambda: stored_when(stored_offset(s) or {}), 60, 0.001, "the offset awaited stored")
        draining.clear()
        th.join(10)
        time.sleep(0.5)
        stored = stored_offset(s)
    finally:
        draining.clear()
        s.kill9()
        os.close(reader)
    s.outs = [drained]
    with open(drained, "rb+") as f:
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)
    s.out = s.dir / "events-1.jsonl"
    s.config["sink.file.path"] = str(s.out)
    return stored


def replay_tables(s, names):
    """{table: {id: v}} from replaying every event s wrote."""
    from conftest import all_events
    state = {t: {} for t in names}
    for e in all_events(s):
        v = payload(e) if e["value"] else None
        if v is None:
            continue
        t = e["topic"].rsplit(".", 1)[1]
        if v["op"] == "d":
            state[t].pop(v["before"]["id"], None)
        else:
            state[t][v["after"]["id"]] = v["after"]["v"]
    return state


@pytest.mark.parametrize("threads", ["1", "3"])
def test_kill9_after_a_whole_table_resumes_the_snapshot_after_it(pg, tables, sluice, threads):
    """An unfinished snapshot's offset says how many of its tables were read whole (of its list, by a hash of
    their oids). The file sink's FIFO is drained until the first table's end is stored, then no more, so the
    snapshot stalls in the second table; after kill -9 the restart keeps the slot, skips the first table and
    reads the second again (with one connection whole; with three, from the first page not yet stored), and
    the first table's changes since the first attempt began arrive as stream events: replaying both runs
    gives both tables."""
    from conftest import all_events
    a = tables("it_crash_ta", "id int PRIMARY KEY, v int")
    b = tables("it_crash_tb", "id int PRIMARY KEY, v int, pad text")
    sql(pg, f"INSERT INTO {a} SELECT g, g FROM generate_series(1, 3000) g")
    sql(pg, f"INSERT INTO {b} SELECT g, g, repeat('x', 200) FROM generate_series(1, 20000) g")
    # small batches: a run of the sink (64 batches at least) ends inside table b, so the offset after a is stored
    s = sluice(table_include_list=f"public.{a},public.{b}", max_batch_size="50", max_queue_size="1000",
               offset_flush_interval_ms="0", sink_file_fsync="false", snapshot_max_threads=threads)
    stored = kill9_once_stored(s, lambda o: o.get("snapshot_tables_done") == 1)
    assert stored["snapshot"] is True and stored["snapshot_tables_done"] == 1, stored
    sql(pg, f"UPDATE {a} SET v = -5 WHERE id = 5")
    sql(pg, f"DELETE FROM {a} WHERE id = 6")
    sql(pg, f"INSERT INTO {a} VALUES (9000, 9000)")
    sql(pg, f"UPDATE {b} SET v = -7 WHERE id = 7")
    start_run(s)
    wait_until(lambda: "snapshot" not in (stored_offset(s) or {"snapshot": 1}), 120, 0.05, "the snapshot's end")
    wait_until(lambda: any(e["value"] and payload(e)["op"] == "c" for e in all_events(s)), 30, 0.05,
               "the insert streamed")
    text = log_text(s, s.mark)
    assert "resuming after the first 1 of 2 tables" in text, text[-3000:]
    second = [json.loads(l) for l in s.out.read_text().splitlines()]
    reread = {e["topic"].rsplit(".", 1)[1] for e in second if e["value"] and payload(e)["op"] == "r"}
    assert reread == {b}, reread
    state = replay_tables(s, (a, b))
    for t in (a, b):
        assert state[t] == dict(sql(pg, f"SELECT id, v FROM {t}")), t
    assert s.stop() == 0


@pytest.mark.parametrize("rewrite", [False, True])
def test_kill9_in_a_table_read_in_ranges_resumes_at_its_page(pg, tables, sluice, rewrite):
    """With snapshot.max.threads=3 a table is read in ranges of its pages, and each range's end stores the page
    the next starts at (with the table's file node). kill -9 once some ranges are stored: the restart reads only
    the pages from there (the rows before went out, and changes since come from the stream), unless the table
    was rewritten in between (VACUUM FULL after deleting three quarters of its rows moves rows from far past the
    stored page, which the first attempt never sent, into the pages before it: then it is read whole, or those
    rows would be lost). Replaying both runs gives the table."""
    t = tables("it_crash_tp", "id int PRIMARY KEY, v int, pad text")
    sql(pg, f"INSERT INTO {t} SELECT g, g, repeat('x', 200) FROM generate_series(1, 40000) g")
    s = sluice(table_include_list=f"public.{t}", max_batch_size="50", max_queue_size="1000",
               offset_flush_interval_ms="0", sink_file_fsync="false", snapshot_max_threads="3")
    stored = kill9_once_stored(s, lambda o: o.get("snapshot_table_pages_done", 0) > 0)
    page = stored["snapshot_table_pages_done"]
    assert stored["snapshot"] is True and stored["snapshot_tables_done"] == 0 and page > 0, stored
    sent_before = {i for i, p in sql(pg, f"SELECT id, (ctid::text::point)[0]::int FROM {t}") if p < page}
    assert sent_before, "no row before the stored page"
    sql(pg, f"UPDATE {t} SET v = -5 WHERE id = 5")
    sql(pg, f"UPDATE {t} SET v = -7, pad = repeat('y', 300) WHERE id = 7")
    sql(pg, f"DELETE FROM {t} WHERE id = 9")
    sql(pg, f"INSERT INTO {t} VALUES (90000, 90000, 'z')")
    if rewrite:
        sql(pg, f"DELETE FROM {t} WHERE id BETWEEN 100 AND 30000")
        sql(pg, f"VACUUM FULL {t}")
    start_run(s)
    wait_until(lambda: "snapshot" not in (stored_offset(s) or {"snapshot": 1}), 120, 0.05, "the snapshot's end")
    wait_until(lambda: 90000 in replay_tables(s, [t])[t], 30, 0.05, "the insert streamed")
    text = log_text(s, s.mark)
    reread = {payload(e)["after"]["id"] for e in map(json.loads, s.out.read_text().splitlines())
              if e["value"] and payload(e)["op"] == "r"}
    if rewrite:
        assert "is read whole again: its file was rewritten" in text, text[-3000:]
        assert len(reread) == 40000 - 1 - 29901 + 1, len(reread)
    else:
        assert f"resumes at page {page} of" in text, text[-3000:]
        assert not reread & (sent_before - {5, 7}), sorted(reread & sent_before)[:10]
        assert reread, "nothing read after the stored page"
    assert replay_tables(s, [t])[t] == dict(sql(pg, f"SELECT id, v FROM {t}"))
    assert s.stop() == 0


SNAPSHOT_RUNS = int(os.environ.get("SLUICE_SNAPSHOT_KILL_RUNS", "20"))
SNAPSHOT_ROWS = 20000


def file_size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("threads", ["1", "3"])
def test_kill9_in_snapshots_then_replay_equals_table(pg, tables, cfg, threads):
    """Kill -9 at random points of initial snapshots (during the slot creation, before the first row,
    between and inside batches, right after the end) while a writer inserts, updates and deletes, 1-3
    times per connector, then let it finish: in every one of SNAPSHOT_RUNS fresh connectors, replaying
    its file (upserts and deletes only, no full-image rule) gives exactly the table. Without the stored
    start of the snapshot, a restart took a new slot and rows the first attempt had sent stayed in the
    replay after they were deleted. With snapshot.max.threads=3 (a quarter as many runs) the table is read
    in ranges of its pages by three connections in the slot's snapshot."""
    seed = int(os.environ.get("SLUICE_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    t = tables("it_crash", "id int PRIMARY KEY, v int, note text")
    sql(pg, f"INSERT INTO {t} SELECT g, g, 'pre ' || g FROM generate_series(0, %s) g", SNAPSHOT_ROWS - 1)
    summary = []
    runs = SNAPSHOT_RUNS if threads == "1" else max(2, SNAPSHOT_RUNS // 4)
    for run in range(runs):
        s = cfg(table_include_list=f"public.{t}", snapshot_mode="initial", max_batch_size="64",
                offset_flush_interval_ms=rnd.choice(["0", "100", "1000"]), snapshot_max_threads=threads)
        writer = Writer(t, seed + run)
        writer.start()
        kills = rnd.choice([1, 1, 2, 3])
        try:  # a snapshot row is some 1.5 kB of output
            in_snapshot = kill_during_snapshots(s, rnd, kills, lambda: file_size(s.out), SNAPSHOT_ROWS * 1500, 0.08)
        finally:
            writer.stop.set()
            writer.join(30)
        assert writer.error is None, writer.error
        finish_with_marker(s, "streaming slot=", lambda marker: sql(
            pg, f"INSERT INTO {t} VALUES (-1, %s, %s) ON CONFLICT (id) DO UPDATE SET note = excluded.note", run, marker))
        lines = s.out.read_bytes().split(b"\n")[:-1]
        state, stats, _, _ = replay(lines)
        table = {i: (v, note) for i, v, note in sql(pg, f"SELECT id, v, note FROM {t}")}
        note = (f"run {run}: seed={seed} kills={kills} in_snapshot={in_snapshot} writer_ops={writer.ops} "
                f"snapshots_started={stats['snapshots']} deletes={stats['d']}")
        summary.append(note)
        assert_replay_equals(state, table, note)
        s.cleanup()
    print("\n" + "\n".join(summary))
    assert sum(" in_snapshot=0 " not in n for n in summary) >= runs // 2  # most kills hit a snapshot
