"""Signals and incremental snapshots (Debezium's ad hoc snapshots) of the PostgreSQL source, against the real
server: the signal table, file, Kafka and REST channels; chunks between watermarks while the stream goes on
(concurrent writes lose no update); additional conditions; stop / pause / resume; kill -9 in the middle."""
import json
import random
import re
import threading
import time
import uuid

import psycopg2
import pytest

from conftest import (assert_replay_equals, kafka_bootstrap, kafka_create_topic, kafka_produce, log_text, payload, pg_params, sql,
                      start_run, wait_log, wait_streaming, wait_until)
from test_status import SERVE_BUILT, rest, start_serve

SIGNAL_COLS = "id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048) NULL"


def all_events(s):
    """Events of every output file of s, in order, without a line still being written (sluice runs while the
    tests read, and a kill -9 may leave a torn last line, which the next start cuts)."""
    ev = []
    for path in getattr(s, "outs", []) + [s.out]:
        if path.exists():
            text = path.read_text()
            ev += [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line.strip()]
    return ev


def incremental(ev):
    return [e for e in ev if e["value"] is not None and payload(e).get("op") == "r"
            and payload(e)["source"]["snapshot"] == "incremental"]


def kill9_rounds(s, rnd, streaming, low, high):
    """Up to 4 times: waits for low..high more incremental rows, kill -9, restart; then waits for the end of the
    incremental snapshot. Returns how many restarts said the snapshot goes on."""
    resumed = 0
    for _ in range(4):
        target = len(incremental(all_events(s))) + rnd.randrange(low, high)
        wait_until(lambda: len(incremental(all_events(s))) >= target or "snapshot finished" in log_text(s),
                   timeout=60, what="more incremental rows")
        if "snapshot finished" in log_text(s):
            break
        s.kill9()
        start_run(s)
        streaming(s)
        resumed += "incremental snapshot goes on" in log_text(s, s.mark)
    wait_until(lambda: "incremental snapshot finished" in log_text(s), timeout=120,
               what="the end of the incremental snapshot")
    return resumed


def signal_row(pg, table, sid, type_, data):
    sql(pg, f'INSERT INTO "{table}" (id, type, data) VALUES (%s, %s, %s)', sid, type_,
        json.dumps(data) if data is not None else None)


def execute(*tables_, **extra):
    return {"data-collections": [f"public.{t}" for t in tables_], "type": "incremental", **extra}


def replay(ev, table_name):
    """{id: after} from the events of one table, in order (c/u/r set, d removes)."""
    state = {}
    for e in ev:
        if e["value"] is None or not e["topic"].endswith("." + table_name):
            continue
        p = payload(e)
        if p["op"] in ("c", "u", "r"):
            state[p["after"]["id"]] = p["after"]
        elif p["op"] == "d":
            state.pop(p["before"]["id"], None)
    return state


def table_rows(pg, t):
    return {r[0]: {"id": r[0], "v": r[1]} for r in sql(pg, f"SELECT id, v FROM {t}")}


def test_signal_table_snapshots_a_table_in_chunks(pg, tables, sluice):
    """A row in the signal table starts an incremental snapshot: every row once, as op r with
    source.snapshot=incremental, in key order, valued exactly as an initial snapshot values them; neither the
    signal row nor the watermarks become events."""
    t = tables("it_inc_a", "id int PRIMARY KEY, v text, n numeric(10,2), at timestamptz, tags text[]")
    sig = tables("it_inc_sig", SIGNAL_COLS)
    sql(pg, f"""INSERT INTO {t} SELECT g, CASE WHEN g % 9 = 0 THEN NULL ELSE 'v' || g END, g / 4.0,
                timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', ARRAY['x', g::text]
                FROM generate_series(1, 5000) g""")
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="no_data", signal_data_collection=f"public.{sig}",
               incremental_snapshot_chunk_size="700").start()
    wait_streaming(s)
    signal_row(pg, sig, "ad-hoc-1", "execute-snapshot", execute(t))
    wait_log(s, "incremental snapshot finished", timeout=60)
    # logged as the last chunk is handed on: the file sink writes it a moment later
    wait_until(lambda: len(incremental(all_events(s))) >= 5000, timeout=30, what="the last chunk in the file")
    ev = incremental(all_events(s))
    assert [payload(e)["after"]["id"] for e in ev] == list(range(1, 5001))  # key order, each row once
    assert ev[0]["topic"] == f"it.public.{t}" and payload(ev[0])["source"]["table"] == t
    assert not [e for e in all_events(s) if e["topic"].endswith(sig)]
    assert not [e for e in all_events(s) if e["value"] is not None and payload(e)["op"] == "m"]
    assert "chunk_size=700" in log_text(s)
    # the values are those of an initial snapshot of the same table
    ref = sluice(table_include_list=f"public.{t}", snapshot_mode="initial_only")
    ref.out, ref.config["sink.file.path"] = ref.dir / "ref.jsonl", str(ref.dir / "ref.jsonl")
    ref.config["offset.storage.file.filename"] = str(ref.dir / "ref-offsets.db")
    assert ref.run_to_end(timeout=60) == 0
    init = {payload(e)["after"]["id"]: payload(e)["after"] for e in ref.events() if e["value"] is not None}
    assert {payload(e)["after"]["id"]: payload(e)["after"] for e in ev} == init
    assert ev[0]["value"]["schema"] == [e for e in ref.events() if e["value"] is not None][0]["value"]["schema"]


def test_concurrent_writes_lose_no_update(pg, tables, sluice):
    """Updates, deletes and inserts hit the table while its chunks are read: a change inside a chunk's
    window drops that row from the chunk, so replaying the events ends exactly at the table (no stale row
    after a newer change, no deleted row back). The additional condition slows each chunk's read (an
    uncorrelated sub-select, evaluated once per query) so that windows are wide and conflicts many."""
    t = tables("it_inc_w", "id int PRIMARY KEY, v int")
    sig = tables("it_inc_wsig", SIGNAL_COLS)
    sql(pg, f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 3000) g")
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="no_data", signal_data_collection=f"public.{sig}",
               incremental_snapshot_chunk_size="150", log_level="debug").start()
    wait_streaming(s)
    stop = threading.Event()
    counts = {"w": 0}

    def writer(seed):
        rnd = random.Random(seed)
        conn = psycopg2.connect(**pg_params())
        conn.autocommit = True
        with conn.cursor() as c:
            while not stop.is_set():
                k = rnd.randrange(1, 3400)
                r = rnd.random()
                if r < 0.7:
                    c.execute(f"UPDATE {t} SET v = v + 1 WHERE id = %s", (k,))
                elif r < 0.85:
                    c.execute(f"DELETE FROM {t} WHERE id = %s", (k,))
                else:
                    c.execute(f"INSERT INTO {t} VALUES (%s, 100) ON CONFLICT (id) DO UPDATE SET v = {t}.v + 1", (k,))
                counts["w"] += 1
        conn.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    try:
        time.sleep(0.3)
        signal_row(pg, sig, "w-1", "execute-snapshot", execute(t, **{"additional-conditions": [
            {"data-collection": f"public.{t}", "filter": "(SELECT pg_sleep(0.04)) IS NOT NULL"}]}))
        wait_log(s, "incremental snapshot finished", timeout=120)
    finally:
        stop.set()
        for th in threads:
            th.join()
    sql(pg, f"INSERT INTO {t} VALUES (1000000, -1)")
    wait_until(lambda: 1000000 in replay(all_events(s), t), timeout=30, what="the marker row")
    assert counts["w"] > 500
    assert_replay_equals(replay(all_events(s), t), table_rows(pg, t), "replay after an incremental snapshot "
                                                                       "under writes")
    dropped = [(int(a), int(b)) for a, b in re.findall(r"emitted=(\d+) of (\d+)", log_text(s))]
    assert len(dropped) >= 10 and any(a < b for a, b in dropped), dropped  # windows did drop changed keys


def test_additional_conditions_and_two_tables(pg, tables, sluice):
    a = tables("it_inc_c1", "id int PRIMARY KEY, v int")
    b = tables("it_inc_c2", "k1 int, k2 text, v int, PRIMARY KEY (k1, k2)")
    sig = tables("it_inc_csig", SIGNAL_COLS)
    sql(pg, f"INSERT INTO {a} SELECT g, g % 3 FROM generate_series(1, 900) g")
    sql(pg, f"INSERT INTO {b} SELECT g % 10, 'k' || g, g FROM generate_series(1, 400) g")
    s = sluice(table_include_list=f"public.{a},public.{b}", snapshot_mode="no_data",
               signal_data_collection=f"public.{sig}", incremental_snapshot_chunk_size="64").start()
    wait_streaming(s)
    # a regex in data-collections; a condition for one table only
    signal_row(pg, sig, "c-1", "execute-snapshot", {"data-collections": ["public\\.it_inc_c[12]"],
               "additional-conditions": [{"data-collection": f"public.{a}", "filter": "v = 1"}]})
    wait_log(s, "incremental snapshot finished", timeout=60)
    wait_until(lambda: len(incremental(all_events(s))) >= 700, timeout=30, what="the last chunk in the file")
    ev = incremental(all_events(s))
    got_a = [payload(e)["after"]["id"] for e in ev if e["topic"].endswith(a)]
    assert got_a == [i for i in range(1, 901) if i % 3 == 1]
    got_b = [(payload(e)["after"]["k1"], payload(e)["after"]["k2"]) for e in ev if e["topic"].endswith(b)]
    assert len(got_b) == 400 and got_b == sorted(got_b, key=lambda k: (k[0], k[1].encode()))  # composite key order
    assert len(set(got_b)) == 400
    # the tables go one after the other, in the order of the captured tables
    tops = [e["topic"] for e in ev]
    assert tops.index(f"it.public.{b}") > max(i for i, x in enumerate(tops) if x == f"it.public.{a}")


def test_pause_resume_stop_and_log(pg, tables, sluice):
    t = tables("it_inc_p", "id int PRIMARY KEY, v int")
    sig = tables("it_inc_psig", SIGNAL_COLS)
    sql(pg, f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 20000) g")
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="no_data", signal_data_collection=f"public.{sig}",
               incremental_snapshot_chunk_size="100").start()
    wait_streaming(s)
    signal_row(pg, sig, "p-0", "log", {"message": "hello from the signal table"})
    wait_log(s, "hello from the signal table")
    slow = {"additional-conditions": [{"data-collection": f"public.{t}",
                                       "filter": "(SELECT pg_sleep(0.02)) IS NOT NULL"}]}
    signal_row(pg, sig, "p-1", "execute-snapshot", execute(t, **slow))
    wait_until(lambda: len(incremental(all_events(s))) >= 300, timeout=30, what="the first chunks")
    signal_row(pg, sig, "p-2", "pause-snapshot", None)
    wait_log(s, "incremental snapshot paused")
    time.sleep(0.5)
    n_paused = len(incremental(all_events(s)))
    time.sleep(1.5)
    assert len(incremental(all_events(s))) - n_paused <= 100  # at most the chunk in flight
    n_paused = len(incremental(all_events(s)))
    assert n_paused < 20000
    signal_row(pg, sig, "p-3", "resume-snapshot", None)
    wait_until(lambda: len(incremental(all_events(s))) >= n_paused + 300, timeout=30, what="more chunks after resume")
    signal_row(pg, sig, "p-4", "stop-snapshot", {"data-collections": [f"public.{t}"], "type": "incremental"})
    wait_log(s, "leaves the incremental snapshot")
    time.sleep(0.5)
    n_stopped = len(incremental(all_events(s)))
    time.sleep(1.0)
    assert len(incremental(all_events(s))) - n_stopped <= 100
    assert len(incremental(all_events(s))) < 20000
    ids = [payload(e)["after"]["id"] for e in incremental(all_events(s))]
    assert ids == list(range(1, len(ids) + 1))  # no chunk skipped across the pause
    # an unknown signal type and a malformed one are logged and change nothing
    signal_row(pg, sig, "p-5", "no-such-signal", None)
    wait_log(s, "type 'no-such-signal' is not known")
    sql(pg, f"INSERT INTO {sig} (id, type, data) VALUES ('p-6', 'execute-snapshot', '{{not json')")
    wait_log(s, "data is not a JSON object")
    assert s.proc.poll() is None


def test_file_and_kafka_channels(pg, tables, sluice, tmp_path):
    t = tables("it_inc_f", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} SELECT g, g FROM generate_series(1, 1500) g")
    sigfile = tmp_path / "signals.txt"
    topic = "it-inc-signal-" + uuid.uuid4().hex[:8]
    prefix = "itf" + uuid.uuid4().hex[:6]
    kafka_create_topic(topic)
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="no_data", topic_prefix=prefix,
               signal_enabled_channels="source,file,kafka", signal_file=str(sigfile), signal_poll_interval_ms="200",
               signal_kafka_topic=topic, signal_kafka_groupId="g-" + uuid.uuid4().hex[:6],
               signal_kafka_bootstrap_servers=kafka_bootstrap(),
               incremental_snapshot_chunk_size="500").start()
    wait_streaming(s)
    sigfile.write_text(json.dumps({"id": "f-1", "type": "execute-snapshot", "data": execute(t)}) + "\n")
    wait_log(s, "channel=file id=f-1 type=execute-snapshot")
    wait_log(s, "incremental snapshot finished", timeout=60)
    assert sigfile.read_text() == ""  # read and emptied
    wait_until(lambda: len(incremental(all_events(s))) >= 1500, timeout=30, what="the last chunk in the file")
    assert len(incremental(all_events(s))) == 1500
    # Kafka: a record keyed by another prefix is skipped, the connector's own is taken
    kafka_produce(topic, "someone-else", json.dumps({"type": "log", "data": {"message": "not for us"}}))
    kafka_produce(topic, prefix, json.dumps({"type": "execute-snapshot", "data": execute(t)}))
    wait_log(s, "channel=kafka", timeout=60)
    wait_until(lambda: log_text(s).count("incremental snapshot finished") >= 2, timeout=60,
               what="the second snapshot")
    assert "not for us" not in log_text(s) and "is not the connector's topic.prefix" in log_text(s)
    assert len(incremental(all_events(s))) == 3000


def test_kill9_during_incremental_snapshot_then_replay_equals_table(pg, tables, sluice):
    """kill -9 at random points of an incremental snapshot under writes: each restart goes on from the stored
    offset's incremental_snapshot_* fields (rows again at worst, never a gap) and the replay of everything
    written equals the table."""
    t = tables("it_inc_k", "id int PRIMARY KEY, v int")
    sig = tables("it_inc_ksig", SIGNAL_COLS)
    sql(pg, f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 8000) g")
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="no_data", signal_data_collection=f"public.{sig}",
               incremental_snapshot_chunk_size="200")
    s.mark = 0
    start_run(s)
    wait_streaming(s)
    rnd = random.Random(7)
    stop = threading.Event()

    def writer():
        conn = psycopg2.connect(**pg_params())
        conn.autocommit = True
        wr = random.Random(11)
        with conn.cursor() as c:
            while not stop.is_set():
                k = wr.randrange(1, 8200)
                if wr.random() < 0.8:
                    c.execute(f"INSERT INTO {t} VALUES (%s, 1) ON CONFLICT (id) DO UPDATE SET v = {t}.v + 1", (k,))
                else:
                    c.execute(f"DELETE FROM {t} WHERE id = %s", (k,))
                time.sleep(0.001)
        conn.close()

    th = threading.Thread(target=writer)
    th.start()
    try:
        signal_row(pg, sig, "k-1", "execute-snapshot", execute(t, **{"additional-conditions": [
            {"data-collection": f"public.{t}", "filter": "(SELECT pg_sleep(0.01)) IS NOT NULL"}]}))
        resumed = kill9_rounds(s, rnd, wait_streaming, 300, 1200)
    finally:
        stop.set()
        th.join()
    sql(pg, f"INSERT INTO {t} VALUES (1000000, -1)")
    wait_until(lambda: 1000000 in replay(all_events(s), t), timeout=30, what="the marker row")
    assert resumed >= 2, log_text(s)[-3000:]
    assert_replay_equals(replay(all_events(s), t), table_rows(pg, t), "replay after kill -9 in an incremental "
                                                                       "snapshot")
    ids = {payload(e)["after"]["id"] for e in incremental(all_events(s))}
    assert len(ids) >= 7000


@pytest.mark.skipif(not SERVE_BUILT, reason="sluice serve not built")
def test_rest_signal_endpoint(pg, tables, tmp_path):
    from conftest import Sluice
    t = tables("it_inc_r", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} SELECT g, g FROM generate_series(1, 700) g")
    s = Sluice(tmp_path, pg, table_include_list=f"public.{t}", snapshot_mode="no_data",
               incremental_snapshot_chunk_size="300")
    proc, url = start_serve(tmp_path)
    try:
        code, _ = rest("POST", url + "/connectors", {"name": s.name, "config": s.config})
        assert code in (200, 201)
        wait_until(lambda: "streaming slot=" in (tmp_path / "serve.log").read_text(), timeout=30, what="streaming")
        code, body = rest("POST", url + f"/connectors/{s.name}/signals",
                          {"id": "r-1", "type": "execute-snapshot", "data": execute(t)})
        assert code == 202, body
        wait_until(lambda: len(incremental(s.events())) >= 700, timeout=60, what="700 incremental rows")
        assert [payload(e)["after"]["id"] for e in incremental(s.events())] == list(range(1, 701))
        import urllib.error
        for bad, want in (({"type": 5}, 400), ({"data": {}}, 400)):
            with pytest.raises(urllib.error.HTTPError) as ei:
                rest("POST", url + f"/connectors/{s.name}/signals", bad)
            assert ei.value.code == want
        with pytest.raises(urllib.error.HTTPError) as ei:
            rest("POST", url + "/connectors/no-such/signals", {"type": "log"})
        assert ei.value.code == 404
    finally:
        proc.terminate()
        proc.wait(30)
        s.cleanup()


def added_table_is_snapshotted(s, run_sql, streaming, a, b, include_both, topic_b):
    """What both sources' snapshot.new.tables tests share. s captures table a (300 rows) with
    snapshot.new.tables=incremental and chunks of 250; b holds 1200 rows. A restart with the same filters reads
    nothing; a restart whose include list (include_both) adds b reads just b (topic_b), all its rows in key order,
    as an incremental snapshot while streaming goes on, and b streams from then on."""
    s.mark = 0
    start_run(s)
    streaming(s)
    run_sql(f"INSERT INTO {a} VALUES (1001, 1)")
    wait_until(lambda: 1001 in replay(all_events(s), a), what="a's streamed insert")
    assert s.stop() == 0
    start_run(s)  # same filters: nothing to read
    streaming(s)
    run_sql(f"INSERT INTO {a} VALUES (1002, 1)")
    wait_until(lambda: 1002 in replay(all_events(s), a), what="a's second insert")
    assert "incremental snapshot" not in log_text(s, s.mark)
    assert s.stop() == 0
    s.config["table.include.list"] = include_both
    start_run(s)
    wait_log(s, "incremental snapshot finished", timeout=60)
    assert f".{b} is captured now and was not" in log_text(s, s.mark)
    wait_until(lambda: len(incremental(all_events(s))) >= 1200, timeout=30, what="the last chunk in the file")
    ev = incremental(all_events(s))
    assert {e["topic"] for e in ev} == {topic_b}
    assert [payload(e)["after"]["id"] for e in ev] == list(range(1, 1201))
    run_sql(f"UPDATE {b} SET v = -1 WHERE id = 5")  # b streams too now
    wait_until(lambda: replay(all_events(s), b).get(5, {}).get("v") == -1, what="b's streamed update")
    assert s.stop() == 0


def test_table_added_to_the_include_list_is_snapshotted_incrementally(pg, tables, sluice):
    """snapshot.new.tables=incremental: the offset records the table filters; a restart whose filters capture
    one more table reads just that table incrementally while streaming goes on. A restart with the same
    filters reads nothing."""
    a = tables("it_inc_na", "id int PRIMARY KEY, v int")
    b = tables("it_inc_nb", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {a} SELECT g, g FROM generate_series(1, 300) g")
    sql(pg, f"INSERT INTO {b} SELECT g, g FROM generate_series(1, 1200) g")
    s = sluice(table_include_list=f"public.{a}", snapshot_mode="initial", snapshot_new_tables="incremental",
               incremental_snapshot_chunk_size="250")
    added_table_is_snapshotted(s, lambda q: sql(pg, q), wait_streaming, a, b, f"public.{a},public.{b}",
                               f"it.public.{b}")


def blocking_run_is_whole(ev, topic_suffix, n_rows):
    """The blocking snapshot's rows (op r, snapshot "true") of the table: each key once, in key order, and no
    streamed change of the table between the first and the last of them (the stream waited)."""
    idx = [i for i, e in enumerate(ev) if e["value"] is not None and e["topic"].endswith(topic_suffix)
           and payload(e).get("op") == "r" and payload(e)["source"]["snapshot"] == "true"]
    ids = [payload(ev[i])["after"]["id"] for i in idx]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) and len(ids) >= n_rows, (len(ids), n_rows)
    between = [e for e in ev[idx[0]:idx[-1] + 1] if e["topic"].endswith(topic_suffix)
               and (e["value"] is None or payload(e).get("op") != "r")]
    assert between == [], between[:3]
    return ids


def test_blocking_snapshot_while_writes_go_on(pg, tables, sluice):
    """execute-snapshot with type blocking: the stream waits while the table is read whole (rows as op r,
    snapshot "true", none interleaved with streamed changes), then goes on; the replay equals the table."""
    t = tables("it_inc_b", "id int PRIMARY KEY, v int")
    sig = tables("it_inc_bsig", SIGNAL_COLS)
    sql(pg, f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 4000) g")
    s = sluice(table_include_list=f"public.{t}", snapshot_mode="no_data", signal_data_collection=f"public.{sig}",
               incremental_snapshot_chunk_size="500").start()
    wait_streaming(s)
    stop = threading.Event()

    def writer():
        conn = psycopg2.connect(**pg_params())
        conn.autocommit = True
        wr = random.Random(5)
        with conn.cursor() as c:
            while not stop.is_set():
                c.execute(f"UPDATE {t} SET v = v + 1 WHERE id = %s", (wr.randrange(1, 4000),))
                time.sleep(0.002)
        conn.close()

    th = threading.Thread(target=writer)
    th.start()
    try:
        time.sleep(0.3)
        signal_row(pg, sig, "b-1", "execute-snapshot", {"data-collections": [f"public.{t}"], "type": "blocking"})
        wait_log(s, "blocking snapshot done", timeout=60)
        time.sleep(0.3)
    finally:
        stop.set()
        th.join()
    sql(pg, f"INSERT INTO {t} VALUES (1000000, -1)")
    wait_until(lambda: 1000000 in replay(all_events(s), t), timeout=30, what="the marker row")
    ev = all_events(s)
    assert blocking_run_is_whole(ev, "." + t, 4000) == list(range(1, 4001))
    assert not incremental(ev)
    assert_replay_equals(replay(ev, t), table_rows(pg, t), "replay after a blocking snapshot")
    assert "streaming waits" in log_text(s)
