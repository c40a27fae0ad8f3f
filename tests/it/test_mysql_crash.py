"""MariaDB crash tests: kill -9 sluice again and again while a writer changes the table, then replay the file.

The writer (its own pymysql connection) runs random inserts, upserts (INSERT ... ON DUPLICATE KEY UPDATE),
updates of a few hot rows, deletes and re-inserts of the same ids, primary-key changes (d + c events), in
autocommit mode and in multi-statement transactions (some rolled back), now and then one statement
changing ~1000 rows (more than max.batch.size), with text that needs JSON escaping. After each commit it
reads @@last_gtid, so it knows, per committed transaction (GTID), how many row events that transaction
must produce.

sluice runs with snapshot.mode=initial and snapshot.fetch.size=50 on a table that already has rows. While
the snapshot is not complete, runs are killed after a random number of new lines in the file (so kills
land between and inside snapshot chunks, some before the first chunk is committed, some after), later at
random moments 0.2-1.5 s after the start; offset.flush.interval.ms changes from run to run (0/100/500 ms).
At the end the writer stops, a marker row is written, sluice is restarted until the marker's event is in
the file, and stopped with SIGTERM (exit 0).

Replaying the file in order must give exactly the table's contents:
  r/c/u -> upsert `after`, d -> delete `before.id`, tombstones ignored; nothing else (no full-image rule).
  A snapshot cut short before its first chunk was committed is taken again from the start but streams
  from the binlog position stored before its first row; one cut short later resumes after the last
  committed chunk (no snapshot=first again), in a new read view. Either way streaming starts at the first
  read view's binlog position, so every row converges, deleted rows included.
Duplicates (at-least-once after a crash) are harmless for this replay and are counted; a duplicate must
be identical to the first copy. Every line must be whole JSON.
"""
import json
import os
import random
import re
import signal
import threading
import time
import uuid

import pymysql

from conftest import my_make_table as make_table, log_text, my_params, mysql, payload, run_cli, start_run, wait_log, wait_until

KILLS = int(os.environ.get("SLUICE_CRASH_KILLS", "22"))
PRE_ROWS = 20000
ID_SPACE = 21000
SNAPSHOT_KILLS = 8  # at most this many kills while the snapshot is not complete
HOT = list(range(1, 11))
NOTES = ["plain", "tab\there", "new\nline", 'quote " and \\ backslash', "unicode \u00e9 \u00fc \u20ac \U0001F600",
         "ctl \x01\x1f end", "", "x" * 60, "{\"json\": [1, 2]}", "comma,semi;colon:"]


def gtid_seq(gtid):
    """Sequence number of a MariaDB GTID domain-server-seq (domain 0, the only one here)."""
    return int(gtid.split("-")[2])


class Writer(threading.Thread):
    """Random changes. committed: GTID -> number of row events the transaction must produce."""

    def __init__(self, table, seed):
        super().__init__(daemon=True)
        self.table = table
        self.rnd = random.Random(seed)
        self.stop = threading.Event()
        self.error = None
        self.ops = self.txns = self.rollbacks = self.big = self.keychanges = 0
        self.committed = {}
        self.n = 0
        self.conn = pymysql.connect(**my_params())

    def note(self, tag=""):
        if self.rnd.random() < 0.05 and not tag:
            return None
        return f"{tag}{self.rnd.choice(NOTES)} #{self.rnd.randrange(10**6)}"

    def pick_id(self):
        return self.rnd.choice(HOT) if self.rnd.random() < 0.3 else self.rnd.randrange(1, ID_SPACE)

    def execute(self, cur, q, params, autocommit, events_of=lambda rc: rc):
        cur.execute(q, params)
        self.n += events_of(cur.rowcount)
        if autocommit:
            self.end(True, cur)

    def end(self, commit, cur):
        if commit and self.n:
            cur.execute("SELECT @@last_gtid")
            gtid = cur.fetchone()[0]
            assert gtid and gtid not in self.committed, gtid
            self.committed[gtid] = self.n
        self.n = 0

    def one(self, cur, ac, tag=""):
        t, k, i = self.table, self.rnd.random(), self.pick_id()
        if k < 0.30:  # upsert: rowcount 1 = insert, 2 = update, 0 = nothing changed (no row event)
            self.execute(cur, f"INSERT INTO {t} VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v), "
                              f"note = VALUES(note)", (i, self.rnd.randrange(10**6), self.note(tag)), ac,
                         events_of=lambda rc: 1 if rc else 0)
        elif k < 0.65:
            self.execute(cur, f"UPDATE {t} SET v = v + 1, note = %s WHERE id = %s", (self.note(tag), i), ac)
        elif k < 0.85:
            self.execute(cur, f"DELETE FROM {t} WHERE id = %s", (i,), ac)
        elif k < 0.88:  # a key change: delete (old key) + create (new key); IGNORE skips a taken key
            self.execute(cur, f"UPDATE IGNORE {t} SET id = %s WHERE id = %s", (self.rnd.randrange(1, ID_SPACE), i),
                         ac, events_of=lambda rc: 2 * rc)
            self.keychanges += 1
        elif k < 0.95:  # delete and re-insert the same id (in one transaction or in two)
            self.execute(cur, f"DELETE FROM {t} WHERE id = %s", (i,), ac)
            self.execute(cur, f"INSERT IGNORE INTO {t} VALUES (%s, %s, %s)",
                         (i, -self.rnd.randrange(10**6), self.note(tag)), ac)
        else:  # the same row many times
            for _ in range(self.rnd.randrange(5, 30)):
                self.execute(cur, f"UPDATE {t} SET v = v + 1 WHERE id = %s", (HOT[0],), ac)
        self.ops += 1

    def run(self):
        try:
            with self.conn.cursor() as cur:
                while not self.stop.is_set():
                    r = self.rnd.random()
                    if r < 0.002:  # one statement changing ~1000 rows: more than max.batch.size
                        lo = self.rnd.randrange(1, ID_SPACE - 1000)
                        self.execute(cur, f"UPDATE {self.table} SET v = v + 1 WHERE id BETWEEN %s AND %s",
                                     (lo, lo + 999), True)
                        self.big += 1
                    elif r < 0.15:
                        commit = self.rnd.random() >= 0.1
                        # Rows written by a transaction that is rolled back carry a tag that must never
                        # show up in the file.
                        tag = "" if commit else f"rollback#{self.txns} "
                        cur.execute("BEGIN")
                        for _ in range(self.rnd.randrange(2, 40)):
                            self.one(cur, False, tag)
                        if commit:
                            cur.execute("COMMIT")
                            self.end(True, cur)
                        else:
                            cur.execute("ROLLBACK")
                            self.n = 0
                            self.rollbacks += 1
                        self.txns += 1
                    else:
                        self.one(cur, True)
                    # ~100 operations a second, so that sluice keeps up: each TABLE_MAP event (one per
                    # transaction) costs it an information_schema query (my_schema.c my_on_table_map ->
                    # my_describe), which caps streaming at a few hundred transactions a second.
                    time.sleep(0.008)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.conn.close()


class LineCounter:
    """Counts the lines of a growing file incrementally."""

    def __init__(self, path):
        self.path, self.pos, self.lines = path, 0, 0

    def update(self):
        if not self.path.exists():
            return self.lines
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < self.pos:  # a torn last line was cut at a start
                self.pos = size
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        self.lines += data.count(b"\n")
        return self.lines


def replay(lines, topic):
    """Applies the events in order. Returns the state {id: (v, note)}, counters, and for the changes
    streamed after the last snapshot began, {gtid: {total_order: event identity}}."""
    state = {}
    stats = dict(events=0, tombstones=0, snapshots=0, r=0, c=0, u=0, d=0, duplicates=0, tx_markers=0,
                 schema_changes=0)
    seen, per_tx, prev = {}, {}, None
    for line in lines:
        e = json.loads(line)
        if e["topic"] == topic.split(".")[0] + ".transaction":  # provide.transaction.metadata's BEGIN/END
            tv = payload(e)
            assert tv["status"] in ("BEGIN", "END") and tv["id"] == e["key"]["id"], line[:300]
            assert tv["status"] == "BEGIN" or tv["event_count"] >= 1, line[:300]
            stats["tx_markers"] += 1
            continue
        if e["topic"] == topic.split(".")[0]:  # a snapshot's schema change events (each snapshot run anew)
            assert payload(e)["tableChanges"] is not None and payload(e)["source"]["snapshot"] == "true", line[:300]
            stats["schema_changes"] += 1
            continue
        stats["events"] += 1
        assert e["topic"] == topic, line[:300]
        v = payload(e)
        if v is None:  # a tombstone comes right after its delete (a crash may cut it, never reorder it)
            assert prev is not None and prev["value"] is not None and payload(prev)["op"] == "d", line[:300]
            assert e["key"] == prev["key"], line[:300]
            stats["tombstones"] += 1
            prev = e
            continue
        prev = e
        op = v["op"]
        assert op in ("r", "c", "u", "d"), line[:300]
        stats[op] += 1
        if op == "r":
            assert v["transaction"] is None, line[:300]
            if v["source"]["snapshot"] == "first":  # the streamed changes after the last snapshot are counted
                per_tx.clear()
                seen.clear()
                stats["snapshots"] += 1
            row = v["after"]
            state[row["id"]] = (row["v"], row["note"])
            continue
        tx = v["transaction"]
        assert tx["id"] == v["source"]["gtid"], line[:300]
        ident = (tx["id"], tx["total_order"])
        body = (op, json.dumps(e["key"], sort_keys=True), json.dumps(v["before"], sort_keys=True),
                json.dumps(v["after"], sort_keys=True))
        if ident in seen:
            stats["duplicates"] += 1
            assert seen[ident] == body, f"{ident} delivered twice with different content:\n{seen[ident]}\n{body}"
        else:
            seen[ident] = body
            per_tx.setdefault(tx["id"], set()).add(tx["total_order"])
        if op == "d":
            state.pop(v["before"]["id"], None)
        else:
            row = v["after"]
            if op == "u":  # a key change comes as d + c, never as u
                assert v["before"]["id"] == row["id"], line[:300]
            state[row["id"]] = (row["v"], row["note"])
    return state, stats, {g: len(o) for g, o in per_tx.items()}


def test_kill9_repeatedly_then_replay_equals_table(my, mysluice):
    seed = int(os.environ.get("SLUICE_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    t = make_table(my, "it_mycrash_main", "id INT PRIMARY KEY, v INT, note VARCHAR(100)")
    mysql(my, f"INSERT INTO {t} SELECT seq, seq, CONCAT('pre ', seq, ' \\t\\n\"q\" \\\\ \u00fc') "
              f"FROM seq_1_to_{PRE_ROWS}")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_mode="initial", snapshot_fetch_size="50",
                 max_batch_size="64", provide_transaction_metadata="true", offset_flush_interval_ms="0",
                 key_converter_schemas_enable="false", value_converter_schemas_enable="false")
    writer = Writer(t, seed)
    writer.start()
    kills, snapshot_kills, self_exits, attempts = 0, 0, [], 0
    counter = LineCounter(s.out)
    try:
        while kills < KILLS and attempts < KILLS * 3:
            attempts += 1
            snapshotting = "snapshot complete" not in log_text(s) and snapshot_kills < SNAPSHOT_KILLS
            s.config["offset.flush.interval.ms"] = "0" if snapshotting else rnd.choice(["0", "100", "500"])
            start_run(s)
            if snapshotting and rnd.random() < 0.2:
                time.sleep(rnd.uniform(0, 0.02))  # in the start-up / FLUSH TABLES WITH READ LOCK / 1st chunk
            elif snapshotting:  # after a random number of new lines: inside the snapshot
                target = counter.update() + rnd.randrange(1, 1500)
                deadline = time.time() + 10
                while (counter.update() < target and time.time() < deadline and s.proc.poll() is None
                       and "snapshot complete" not in log_text(s, s.mark)):
                    time.sleep(0.001)
            else:
                time.sleep(rnd.uniform(0.2, 1.5))
            if s.proc.poll() is not None:  # it must not stop by itself
                self_exits.append((s.proc.returncode, log_text(s, s.mark)[-1500:]))
                s.stop()
                continue
            s.kill9()
            kills += 1
            run_log = log_text(s, s.mark)
            snapshot_kills += "snapshot start" in run_log and "snapshot complete" not in run_log
            assert writer.is_alive(), writer.error
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert not self_exits, f"sluice exited by itself {len(self_exits)} time(s) (seed {seed}): {self_exits[:3]}"
    assert kills >= 20

    marker = f"final-marker-{uuid.uuid4().hex}"
    with my.cursor() as c:
        c.execute(f"INSERT INTO {t} VALUES (-1, 0, %s)", (marker,))
        c.execute("SELECT @@last_gtid")
        marker_gtid = c.fetchone()[0]
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
    assert b"rollback#" not in raw  # nothing of a rolled-back transaction
    state, stats, per_tx = replay(lines, f"my.sluice.{t}")
    table = {i: (v, note) for i, v, note in mysql(my, f"SELECT id, v, note FROM {t}")}
    missing = sorted(set(table) - set(state))
    extra = sorted(set(state) - set(table))
    wrong = sorted(i for i in set(table) & set(state) if table[i] != state[i])
    log = log_text(s)
    # The consistent point of the last snapshot: every run of it (a resumed one too) logs the same one.
    starts = re.findall(r"snapshot start file=\S+ pos=\d+ gtids=(\S*)", log)
    snap_seq = gtid_seq(starts[-1]) if starts and starts[-1] else 0
    summary = (f"seed={seed} kills={kills} (in the snapshot: {snapshot_kills}) "
               f"snapshot_runs={len(starts)} resumed={log.count('resuming after the last chunk')} "
               f"torn_lines_cut={log.count('cutting a torn last line')} writer_ops={writer.ops} "
               f"multi_statement_txns={writer.txns} rolled_back={writer.rollbacks} big_txns={writer.big} "
               f"key_changes={writer.keychanges} "
               f"committed_txns_with_changes={len(writer.committed)} rows={len(table)} {stats}")
    print("\nmysql crash test:", summary)
    assert not missing and not extra and not wrong, (
        f"{summary}\nmissing={missing[:20]} extra={extra[:20]} "
        f"wrong={[(i, table[i], state[i]) for i in wrong[:10]]}")
    assert stats["snapshots"] >= 1 and stats["c"] + stats["u"] + stats["d"] > 0
    assert stats["schema_changes"] >= 6 * stats["snapshots"]  # each snapshot began with the schemas
    assert stats["tx_markers"] >= 2  # provide.transaction.metadata: BEGIN/END records came along

    # Transactions: every one committed after the last snapshot's consistent point is there, whole (its
    # distinct changes counted by transaction.total_order), and nothing else is.
    assert per_tx.pop(marker_gtid, 0) == 1
    unknown = sorted(set(per_tx) - set(writer.committed))
    assert not unknown, unknown[:10]
    partial = [(g, n, writer.committed[g]) for g, n in per_tx.items() if n != writer.committed[g]]
    assert not partial, f"transactions with missing or extra changes (gtid, in file, committed): {partial[:10]}"
    after = [g for g in writer.committed if gtid_seq(g) > snap_seq]
    lost = sorted((g for g in after if g not in per_tx), key=gtid_seq)
    assert not lost, f"{len(lost)} committed transactions after the snapshot missing, e.g. {lost[:10]}"
    print(f"mysql crash test: {len(per_tx)} transactions streamed after the snapshot, {len(after)} committed "
          f"after its consistent point")
    assert len(after) > 100  # the checks above had something to check


def offset_of(s):
    """The committed offset of connector s as a dict, or None."""
    r = run_cli("offsets", "list", str(s.cfg_path))
    assert r.returncode == 0, r.stderr
    rows = [l.split("\t") for l in r.stdout.splitlines() if l.strip()]
    assert len(rows) <= 1, r.stdout
    return json.loads(rows[0][2]) if rows else None


def test_kill9_mid_snapshot_resumes_after_the_last_chunk(my, mysluice):
    """Deterministic: the first run's sink is a FIFO that the test drains into the events file until more
    than half of the rows are in it, then stops reading, so the pipeline stalls in the middle of the
    snapshot. The committed offset says snapshot=true with the last chunk's key. After kill -9 (and
    changes to rows on both sides of that key) the second run resumes after that key, without a second
    snapshot=first, and the replayed file equals the table."""
    rows, chunk = 20000, 500
    t = make_table(my, "it_mycrash_resume", "id INT PRIMARY KEY, v INT, note VARCHAR(100)")
    mysql(my, f"INSERT INTO {t} SELECT seq, seq, CONCAT('row ', seq) FROM seq_1_to_{rows}")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_fetch_size=str(chunk), max_batch_size="100",
                 max_queue_size="300", sink_file_fsync="false", key_converter_schemas_enable="false",
                 value_converter_schemas_enable="false",
                 offset_flush_interval_ms="0")  # the stall may come before a 100 ms interval is over
    events = s.out
    fifo = s.dir / "stalled.fifo"
    os.mkfifo(fifo)
    s.config["sink.file.path"] = str(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    got = b""
    try:
        start_run(s)
        deadline = time.time() + 60
        while got.count(b"\n") < rows * 3 // 5:  # drain until 60% of the rows are out, then stall
            assert time.time() < deadline and s.proc.poll() is None, log_text(s)[-3000:]
            try:
                data = os.read(reader, 1 << 20)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            got += data
        # Stalled: the committed offset stops moving, and the snapshot is not done.
        prev = None
        for _ in range(100):
            off = offset_of(s)
            if off is not None and off == prev:
                break
            prev = off
            time.sleep(0.3)
        else:
            raise AssertionError(f"the committed offset did not settle: {prev}\n{log_text(s)[-3000:]}")
        assert s.proc.poll() is None
        assert "snapshot done" not in log_text(s, s.mark), log_text(s, s.mark)
        s.kill9()
        while True:  # what the sink had written into the pipe before the kill
            try:
                data = os.read(reader, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                break
            got += data
    finally:
        if s.proc and s.proc.poll() is None:
            s.kill9()  # always: a sluice stalled on the FIFO could not stop by SIGTERM
        os.close(reader)
    whole = got[:got.rfind(b"\n") + 1]
    events.write_bytes(whole)  # whole lines only: a line cut in the pipe was never flushed
    first = [json.loads(l) for l in whole.splitlines()]
    # the snapshot's schema change events come first: SET, DROP TABLE/DATABASE IF EXISTS, CREATE DATABASE, USE,
    # CREATE TABLE
    assert [e["topic"] for e in first[:6]] == ["my"] * 6 and payload(first[5])["tableChanges"][0]["type"] == "CREATE"
    first = first[6:]
    n1 = len(first)
    assert rows // 2 < n1 < rows, n1  # some, but not all rows, and more than half of them
    assert [payload(e)["op"] for e in first] == ["r"] * n1
    assert [payload(e)["after"]["id"] for e in first] == list(range(1, n1 + 1))
    assert payload(first[0])["source"]["snapshot"] == "first"

    off = offset_of(s)
    assert off is not None and off.get("snapshot") is True, off
    prog = off["snapshot_progress"]
    assert prog["table"] == f"sluice.{t}", prog
    k = int(prog["after"][0])
    assert k % chunk == 0 and chunk <= k <= n1, (k, n1)  # the last key of a whole chunk that is in the file
    assert off["file"].startswith("mariadb-bin.") and off["pos"] > 0 and off["gtids"], off

    # Changes after the snapshot's consistent point, on both sides of the resume key.
    mysql(my, f"UPDATE {t} SET v = -3, note = 'changed below the resume key' WHERE id = 3")
    mysql(my, f"UPDATE {t} SET v = -1, note = 'changed above the resume key' WHERE id = %s", k + 10)
    mysql(my, f"DELETE FROM {t} WHERE id = %s", rows - 5)
    mysql(my, f"INSERT INTO {t} VALUES (%s, 0, 'new')", rows + 1)
    above = mysql(my, f"SELECT COUNT(*) FROM {t} WHERE id > %s", k)[0][0]

    s.config["sink.file.path"] = str(events)
    s.out = events
    start_run(s)
    wait_log(s, "snapshot complete", timeout=60)
    table = {i: (v, note) for i, v, note in mysql(my, f"SELECT id, v, note FROM {t}")}

    def replayed():
        state = {}
        for e in s.events():
            v = payload(e)
            if v is None:
                continue
            if v["op"] == "d":
                state.pop(v["before"]["id"], None)
            else:
                state[v["after"]["id"]] = (v["after"]["v"], v["after"]["note"])
        return state

    lines = LineCounter(events)
    want = 6 + n1 + above + 5  # the schemas, the resumed snapshot (no schemas again), then u, u, d + tombstone, c
    wait_until(lambda: lines.update() >= want, timeout=60, interval=0.1, what=f"{want} lines")
    time.sleep(0.5)  # nothing more may come
    assert s.stop() == 0
    # (a) the log says the snapshot resumed
    second_log = log_text(s, s.mark)
    assert "resuming" in second_log, second_log
    # (b) the second run did not read from the first key again
    ev = s.events()
    second = ev[n1:]
    r2 = [payload(e) for e in second if payload(e) and payload(e)["op"] == "r"]
    assert r2 and r2[0]["after"]["id"] == k + 1, r2[:1]
    assert len(r2) == above < rows  # exactly the rows after the resume key, as they are now
    assert all(p["source"]["snapshot"] != "first" for p in r2)
    assert r2[-1]["source"]["snapshot"] == "last"
    assert len(ev) == want - 6, len(ev)
    total_r = sum(1 for e in ev if payload(e) and payload(e)["op"] == "r")
    assert total_r == n1 + above and total_r < 2 * rows
    # (c) the replayed file equals the table, and the changes made while sluice was down were streamed
    assert replayed() == table
    streamed = [(payload(e)["op"], (payload(e)["after"] or payload(e)["before"])["id"]) for e in second
                if payload(e) and payload(e)["op"] != "r"]
    assert streamed == [("u", 3), ("u", k + 10), ("d", rows - 5), ("c", rows + 1)], streamed


def test_sigterm_mid_snapshot_exits_0_and_the_next_run_resumes(my, mysluice):
    """SIGTERM in the middle of the snapshot (the sink is a FIFO drained by a thread, so the test chooses
    the moment): exit 0, the offset names the last chunk whose rows were written, and the next run resumes
    after it; the replayed file equals the table."""
    rows = 20000
    t = make_table(my, "it_mycrash_sigterm", "id INT PRIMARY KEY, v INT")
    mysql(my, f"INSERT INTO {t} SELECT seq, seq FROM seq_1_to_{rows}")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_fetch_size="500", max_batch_size="100",
                 max_queue_size="300", sink_file_fsync="false", key_converter_schemas_enable="false",
                 value_converter_schemas_enable="false")
    events = s.out
    fifo = s.dir / "slow.fifo"
    os.mkfifo(fifo)
    s.config["sink.file.path"] = str(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    got = bytearray()
    draining = threading.Event()
    done = threading.Event()

    def drain():
        while not done.is_set():
            if not draining.is_set() and got.count(b"\n") >= rows // 3:
                time.sleep(0.001)  # held: the pipeline stalls in the middle of the snapshot
                continue
            try:
                data = os.read(reader, 1 << 20)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            if not data and draining.is_set() and s.proc.poll() is not None:
                break
            got.extend(data)

    th = threading.Thread(target=drain, daemon=True)
    try:
        start_run(s)
        th.start()
        wait_until(lambda: got.count(b"\n") >= rows // 3, 60, what="a third of the rows")
        time.sleep(0.3)
        assert "snapshot done" not in log_text(s)
        s.proc.send_signal(signal.SIGTERM)
        wait_log(s, "draining and committing")  # the stop is requested while the pipeline is stalled
        draining.set()  # and the drain needs the sink to make progress again
        rc = s.proc.wait(60)
        th.join(30)
        s.stop()
    finally:
        done.set()
        if s.proc and s.proc.poll() is None:
            s.kill9()  # a sluice stalled on the FIFO could not stop by SIGTERM
        os.close(reader)
    assert rc == 0, log_text(s)[-3000:]
    assert got.endswith(b"\n")
    first = [json.loads(l) for l in bytes(got).splitlines()]
    assert [e["topic"] for e in first[:6]] == ["my"] * 6  # the snapshot's schema change events
    first = first[6:]
    n1 = len(first)
    assert rows // 3 - 2 <= n1 < rows and [payload(e)["after"]["id"] for e in first] == list(range(1, n1 + 1))
    off = offset_of(s)
    assert off and off.get("snapshot") is True, off
    k = int(off["snapshot_progress"]["after"][0])
    assert k % 500 == 0 and 0 < k <= n1, (k, n1)
    events.write_bytes(bytes(got))

    mysql(my, f"UPDATE {t} SET v = -1 WHERE id IN (1, %s)", rows)
    s.config["sink.file.path"] = str(events)
    s.out = events
    start_run(s)
    wait_log(s, "snapshot complete", timeout=60)
    lines = LineCounter(events)
    want = 6 + n1 + (rows - k) + 2  # schemas (not sent again by the resumed snapshot), rows, 2 updates
    wait_until(lambda: lines.update() >= want, 60, what=f"{want} lines")
    time.sleep(0.5)
    assert s.stop() == 0
    assert "resuming" in log_text(s, s.mark)
    ev = s.events()
    assert len(ev) == want - 6
    second = [payload(e) for e in ev[n1:]]
    assert [p["after"]["id"] for p in second[:-2]] == list(range(k + 1, rows + 1))
    assert [(p["op"], p["after"]["id"]) for p in second[-2:]] == [("u", 1), ("u", rows)]
    state = {}
    for e in ev:
        state[payload(e)["after"]["id"]] = payload(e)["after"]["v"]
    assert state == {i: v for i, v in mysql(my, f"SELECT id, v FROM {t}")}


def stall_mid_snapshot_then_kill9(s, rows, fraction):
    """Runs s with a FIFO sink that the test drains until `fraction` of the rows are out, then stops
    reading: the pipeline stalls in the middle of the snapshot. Waits until the committed offset settles,
    kills sluice (-9) and returns the row events among the whole lines the sink had written (then s writes
    to s.out again)."""
    events = s.out
    fifo = s.dir / "stall.fifo"
    os.mkfifo(fifo)
    s.config["sink.file.path"] = str(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    got = b""
    try:
        start_run(s)
        deadline = time.time() + 60
        while got.count(b"\n") < rows * fraction:
            assert time.time() < deadline and s.proc.poll() is None, log_text(s)[-3000:]
            try:
                data = os.read(reader, 1 << 20)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            got += data
        prev = None
        for _ in range(100):
            off = offset_of(s)
            if off is not None and off == prev:
                break
            prev = off
            time.sleep(0.3)
        else:
            raise AssertionError(f"the committed offset did not settle: {prev}\n{log_text(s)[-3000:]}")
        assert "snapshot complete" not in log_text(s, s.mark)
        s.kill9()
        while True:
            try:
                data = os.read(reader, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                break
            got += data
    finally:
        if s.proc and s.proc.poll() is None:
            s.kill9()
        os.close(reader)
    whole = got[:got.rfind(b"\n") + 1]
    events.write_bytes(whole)
    s.config["sink.file.path"] = str(events)
    s.out = events
    got = [json.loads(l) for l in whole.splitlines()]
    n = next((i for i, e in enumerate(got) if e["topic"] != "my"), len(got))
    assert n >= 6 and all(e["topic"] != "my" for e in got[n:])  # the snapshot's schema change events come first
    return got[n:]


def test_kill9_right_after_the_last_chunk_then_restart_streams(my, mysluice):
    """A table of exactly 4 chunks: the last chunk's rows, the record marked snapshot=last and the offset
    that ends the snapshot go out together (the chunk's own progress offset is never committed), so a
    kill -9 right after them leaves a completed snapshot: the restart streams, reads nothing again."""
    chunk = 50
    rows = 4 * chunk
    t = make_table(my, "it_mycrash_exact", "id INT PRIMARY KEY, v INT")
    mysql(my, f"INSERT INTO {t} SELECT seq, seq FROM seq_1_to_{rows}")
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_fetch_size=str(chunk), max_batch_size="20",
                 offset_flush_interval_ms="0", key_converter_schemas_enable="false",
                 value_converter_schemas_enable="false")
    start_run(s)
    s.wait_events(rows)
    wait_until(lambda: (offset_of(s) or {}).get("pos") and "snapshot" not in offset_of(s), 30,
               what="the offset that ends the snapshot")
    s.kill9()
    first = s.events()
    assert [payload(e)["after"]["id"] for e in first] == list(range(1, rows + 1))
    marks = [payload(e)["source"]["snapshot"] for e in first]
    assert marks == ["first"] + ["true"] * (rows - 2) + ["last"], marks[-3:]

    start_run(s)
    wait_log(s, "streaming binlog from")
    assert "snapshot start" not in log_text(s, s.mark)
    mysql(my, f"INSERT INTO {t} VALUES ({rows + 1}, 0)")
    mysql(my, f"UPDATE {t} SET v = -1 WHERE id = {rows}")
    ev = s.wait_events(rows + 2)
    time.sleep(0.5)
    assert s.stop() == 0
    ev = s.events()
    assert [(payload(e)["op"], payload(e)["after"]["id"]) for e in ev[rows:]] == [("c", rows + 1), ("u", rows)]


def test_resumed_snapshot_with_nothing_left_completes_and_streams(my, mysluice):
    """The committed offset names the last key of a whole chunk (snapshot=true, the pipeline stalled and
    sluice was killed), and by the restart every row after that key is gone: the table now holds an exact
    multiple of snapshot.fetch.size rows and the chunk that was emitted last is its last. The resumed
    snapshot finds nothing left. It emits no record (the row that ends the snapshot went out before the
    crash, marked "true"; sending it again only to mark it "last" would duplicate it), but it commits an
    offset without the snapshot flag, so the snapshot counts as complete; streaming then starts at the
    snapshot's binlog position (the deletes come as d events), and a further restart streams on."""
    rows, chunk = 5000, 100
    t = make_table(my, "it_mycrash_nothing_left", "id INT PRIMARY KEY, v INT")
    mysql(my, f"INSERT INTO {t} SELECT seq, seq FROM seq_1_to_{rows}")
    # A sink run takes up to 64 queued batches before it flushes and an offset can be committed: 64 x 20
    # rows, well below the 60% of the rows read before the stall.
    s = mysluice(table_include_list=f"sluice.{t}", snapshot_fetch_size=str(chunk), max_batch_size="20",
                 max_queue_size="100", sink_file_fsync="false", offset_flush_interval_ms="0",
                 key_converter_schemas_enable="false", value_converter_schemas_enable="false")
    first = stall_mid_snapshot_then_kill9(s, rows, 0.6)
    n1 = len(first)
    assert [payload(e)["after"]["id"] for e in first] == list(range(1, n1 + 1))
    off = offset_of(s)
    assert off and off.get("snapshot") is True, off
    k = int(off["snapshot_progress"]["after"][0])
    assert k % chunk == 0 and chunk <= k <= n1 < rows, (k, n1)

    mysql(my, f"DELETE FROM {t} WHERE id > {k}")  # the table is now exactly k / chunk chunks
    start_run(s)
    wait_log(s, "snapshot complete", timeout=60)
    mysql(my, f"INSERT INTO {t} VALUES ({rows + 1}, 0)")
    mysql(my, f"UPDATE {t} SET v = -1 WHERE id = 1")
    want = n1 + 2 * (rows - k) + 2  # the deletes (+ tombstones) streamed from the snapshot's position, c, u
    lines = LineCounter(s.out)  # (the file also holds the 2 schema change events the snapshot began with)
    wait_until(lambda: lines.update() >= want + 2, 60, interval=0.1, what=f"{want + 2} lines")
    time.sleep(0.5)  # nothing more may come
    assert s.stop() == 0
    second_log = log_text(s, s.mark)
    assert "resuming after the last chunk read" in second_log and "nothing left" in second_log, second_log
    ev = s.events()
    assert len(ev) == want, len(ev)
    second = ev[n1:]
    assert all(payload(e) is None or payload(e)["op"] != "r" for e in second)  # nothing read again
    assert not any(payload(e) and payload(e)["source"].get("snapshot") == "last" for e in ev)
    deleted = [payload(e)["before"]["id"] for e in second if payload(e) and payload(e)["op"] == "d"]
    assert deleted == list(range(k + 1, rows + 1))
    assert [(payload(e)["op"], payload(e)["after"]["id"]) for e in second[-2:]] == [("c", rows + 1), ("u", 1)]
    off = offset_of(s)
    assert off and "snapshot" not in off and "snapshot_progress" not in off and off["gtids"], off
    # Replaying the file gives the table: each row read once, the deletes and the later changes applied.
    reads = [payload(e)["after"]["id"] for e in ev if payload(e) and payload(e)["op"] == "r"]
    assert reads == list(range(1, n1 + 1))
    state = {}
    for e in ev:
        v = payload(e)
        if v is None:
            continue
        if v["op"] == "d":  # rows never read (deleted before the resumed snapshot) come as d too
            state.pop(v["before"]["id"], None)
        else:
            state[v["after"]["id"]] = v["after"]["v"]
    assert state == {i: v for i, v in mysql(my, f"SELECT id, v FROM {t}")}

    # The snapshot is over for good: the next run streams on from the committed offset.
    start_run(s)
    wait_log(s, "streaming binlog from")
    assert "snapshot start" not in log_text(s, s.mark)
    mysql(my, f"INSERT INTO {t} VALUES ({rows + 2}, 0)")
    s.wait_events(want + 1)
    time.sleep(0.5)
    assert s.stop() == 0
    ev = s.events()
    assert len(ev) == want + 1 and payload(ev[-1])["op"] == "c" and payload(ev[-1])["after"]["id"] == rows + 2


def test_resumed_snapshot_whose_table_is_gone_goes_on_with_the_next(my, mysluice):
    """The snapshot was cut short in table a; before the restart a is dropped. The resumed snapshot must
    not skip everything after a: table b is read whole and its last row ends the snapshot."""
    rows, rows_b, chunk = 5000, 30, 100
    a = make_table(my, "it_mycrash_gone_a", "id INT PRIMARY KEY, v INT")
    b = make_table(my, "it_mycrash_gone_b", "id INT PRIMARY KEY, v INT")
    mysql(my, f"INSERT INTO {a} SELECT seq, seq FROM seq_1_to_{rows}")
    mysql(my, f"INSERT INTO {b} SELECT seq, -seq FROM seq_1_to_{rows_b}")
    s = mysluice(table_include_list="sluice.it_mycrash_gone_.*", snapshot_fetch_size=str(chunk),
                 max_batch_size="20", max_queue_size="100", sink_file_fsync="false", offset_flush_interval_ms="0",
                 key_converter_schemas_enable="false", value_converter_schemas_enable="false")
    first = stall_mid_snapshot_then_kill9(s, rows, 0.6)
    assert {e["topic"] for e in first} == {f"my.sluice.{a}"}
    off = offset_of(s)
    assert off and off["snapshot_progress"]["table"] == f"sluice.{a}", off

    mysql(my, f"DROP TABLE {a}")
    start_run(s)
    wait_log(s, "snapshot complete", timeout=60)
    s.schema_events = True  # (8 at the first snapshot's start, the DROP)
    s.wait_events(8 + len(first) + rows_b + 1)
    s.schema_events = False
    time.sleep(0.5)
    assert s.stop() == 0
    log = log_text(s, s.mark)
    assert f".{a} of the unfinished snapshot is gone" in log, log  # (the db name may be redacted)
    # the first run's snapshot began with the schemas (database, a, b), the resumed one sends none again;
    # streaming from the snapshot's binlog position reads the DROP TABLE: a schema change event
    s.schema_events = True
    ddl = [payload(e) for e in s.events() if e["topic"] == "my"]
    s.schema_events = False
    assert [d["ddl"].split(" ")[0] for d in ddl[:6]] == ["SET", "DROP", "DROP", "DROP", "CREATE", "USE"]
    assert ddl[4]["ddl"].startswith("CREATE DATABASE `sluice`")
    assert [(d["ddl"].split(" (")[0], d["tableChanges"][0]["type"]) for d in ddl[1:3] + ddl[6:]] == [
        (f"DROP TABLE IF EXISTS `sluice`.`{a}`", "DROP"), (f"DROP TABLE IF EXISTS `sluice`.`{b}`", "DROP"),
        (f"CREATE TABLE `{a}`", "CREATE"), (f"CREATE TABLE `{b}`", "CREATE"), (f"DROP TABLE `sluice`.`{a}`", "DROP")]
    second = [payload(e) for e in s.events()[len(first):] if e["topic"] != "my"]
    assert [(p["op"], p["source"]["table"], p["after"]["id"]) for p in second] == \
           [("r", b, i) for i in range(1, rows_b + 1)]
    assert [p["source"]["snapshot"] for p in second] == ["first_in_data_collection"] + ["true"] * (rows_b - 2) + ["last"]
    assert "snapshot" not in offset_of(s)


def test_primary_key_change_is_delete_and_create(my, mysluice):
    """A key change must reach a key-based consumer as delete (old key) + tombstone + create (new key);
    replaying the file must then not keep the row under its old key."""
    t = make_table(my, "it_mycrash_keychange", "id INT PRIMARY KEY, v INT")
    s = start_run(mysluice(table_include_list=f"sluice.{t}", snapshot_mode="no_data"))
    wait_log(s, "streaming binlog from")
    mysql(my, f"INSERT INTO {t} VALUES (1, 10)")
    mysql(my, f"UPDATE {t} SET id = 2 WHERE id = 1")
    mysql(my, f"INSERT INTO {t} VALUES (3, 30)")
    wait_until(lambda: any(payload(e) and payload(e)["after"] and payload(e)["after"]["id"] == 3
                           for e in s.events()), 30, what="the event of row 3")
    assert s.stop() == 0
    ev = s.events()
    got = [(payload(e)["op"] if payload(e) else None, (e["key"]["payload"] if e["key"] else None)) for e in ev]
    assert got == [("c", {"id": 1}), ("d", {"id": 1}), (None, {"id": 1}), ("c", {"id": 2}), ("c", {"id": 3})], got
    d, c = payload(ev[1]), payload(ev[3])
    assert d["before"] == {"id": 1, "v": 10} and d["after"] is None
    assert c["before"] is None and c["after"] == {"id": 2, "v": 10}
    assert d["source"]["gtid"] == c["source"]["gtid"]  # one change of one transaction
    own = [{k: v for k, v in e["headers"].items() if not k.startswith("__debezium.context.")} for e in ev]
    assert own[1] == {"__debezium.newkey": {"id": 2}}  # (and Debezium's context headers after it)
    assert own[3] == {"__debezium.oldkey": {"id": 1}}


SNAPSHOT_RUNS = int(os.environ.get("SLUICE_SNAPSHOT_KILL_RUNS", "20"))
SNAPSHOT_ROWS = 5000


def test_kill9_in_snapshots_then_replay_equals_table(my, tmp_path):
    """Kill -9 at random points of initial snapshots (start-up, the global read lock, before the first
    chunk's offset, between and inside chunks) while a writer inserts, updates and deletes, 1-3 times per
    connector, then let it finish: in every one of SNAPSHOT_RUNS fresh connectors, replaying its file
    (upserts and deletes only) gives exactly the table. Runs alternate between binlog_row_metadata NO_LOG
    (MariaDB's default) and FULL, and in pairs between one reading connection and snapshot.max.threads=3. Without the start position stored before the first row, a kill before
    the first chunk's offset made the restart take a new position, and rows the first attempt had sent
    stayed in the replay after they were deleted."""
    from conftest import MySluice, assert_replay_equals, finish_with_marker, kill_during_snapshots
    seed = int(os.environ.get("SLUICE_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    t = make_table(my, "it_mycrash_snap", "id INT PRIMARY KEY, v INT, note VARCHAR(100)")
    mysql(my, f"INSERT INTO {t} SELECT seq, seq, CONCAT('pre ', seq) FROM seq_1_to_{SNAPSHOT_ROWS}")
    summary = []
    try:
        for run in range(SNAPSHOT_RUNS):
            metadata = "NO_LOG" if run % 2 == 0 else "FULL"
            mysql(my, f"SET GLOBAL binlog_row_metadata = '{metadata}'")
            d = tmp_path / f"c{run}"
            d.mkdir()
            threads = "3" if (run // 2) % 2 else "1"  # key ranges read by three more connections, or by one
            s = MySluice(d, my, table_include_list=f"sluice.{t}", snapshot_mode="initial", snapshot_max_threads=threads,
                         snapshot_fetch_size=str(rnd.choice([50, 500, 5000])), max_batch_size="64", provide_transaction_metadata="true",
                         offset_flush_interval_ms=rnd.choice(["0", "100", "1000"]),
                         key_converter_schemas_enable="false", value_converter_schemas_enable="false")
            writer = Writer(t, seed + run)
            writer.start()
            kills = rnd.choice([1, 1, 2, 3])
            counter = LineCounter(s.out)
            try:
                # the file's lines trail the snapshot's reads (5,000 rows read in well under a second): aim at the
                # first third, or a loaded machine sees most kills land after "snapshot complete"
                in_snapshot = kill_during_snapshots(s, rnd, kills, counter.update, SNAPSHOT_ROWS // 3)
            finally:
                writer.stop.set()
                writer.join(30)
            assert writer.error is None, writer.error
            finish_with_marker(s, "streaming binlog from", lambda marker: mysql(
                my, f"INSERT INTO {t} VALUES (-1, %s, %s) ON DUPLICATE KEY UPDATE note = VALUES(note)", run, marker))
            lines = s.out.read_bytes().split(b"\n")[:-1]
            state, stats, _ = replay(lines, f"my.sluice.{t}")
            table = {i: (v, note) for i, v, note in mysql(my, f"SELECT id, v, note FROM {t}")}
            note = (f"run {run}: seed={seed} binlog_row_metadata={metadata} threads={threads} kills={kills} "
                    f"in_snapshot={in_snapshot} "
                    f"writer_ops={writer.ops} snapshots_started={stats['snapshots']} deletes={stats['d']}")
            summary.append(note)
            assert_replay_equals(state, table, note, "\n" + log_text(s)[-3000:])
    finally:
        mysql(my, "SET GLOBAL binlog_row_metadata = 'FULL'")
    print("\n" + "\n".join(summary))
    assert sum(" in_snapshot=0 " not in n for n in summary) >= SNAPSHOT_RUNS // 2  # most kills hit a snapshot
