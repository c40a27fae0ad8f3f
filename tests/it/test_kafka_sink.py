"""Kafka sink (sink.type=kafka) against the real broker, read back with a real consumer (confluent_kafka).

- end to end: the golden workload plus key changes, a table without a primary key, truncate and a logical
  decoding message, captured through two slots at once, one into the file sink and one into Kafka: every
  topic, key, value (volatile fields removed) and header must be equal, tombstones included; schemas
  on and off;
- partitioning: every record's partition is Java's murmur2(key bytes) & 0x7fffffff % partitions (murmur2
  written here after Kafka's Utils.murmur2 and checked against the UtilsTest vectors);
- topic creation: topic.creation.default.* reach the created topics (AdminClient describe_configs);
- crashes: kill -9 of sluice during a random workload, and a broker restart, lose no committed change;
- exactly once: the same with exactly.once.support=required, read_committed sees every change exactly
  once, offsets are in offset.storage.topic in Kafka Connect's format; a second instance fences the first;
- offset.storage=kafka (without exactly-once): a restart resumes from the offset stored in Kafka;
- bad configurations are refused before anything is touched;
- records keep their topic across a source reconnect; under exactly-once a source transaction larger than
  a write run stays one Kafka transaction (a kill inside it shows nothing of it to read_committed).
"""
import json
import os
import random
import time
import uuid

import pytest

from conftest import (Sluice, kafka_consume_all, log_text, publication_exists, run_cli, slot_row, sql,
                      start_run, wait_log, wait_streaming, wait_until)
from test_golden import VOLATILE_SOURCE, VOLATILE_TOP, split

# ---------------------------------------------------------------------------------------------------------
# helpers


def murmur2(data: bytes) -> int:
    """org.apache.kafka.common.utils.Utils.murmur2: a signed 32-bit int, computed as Java does."""
    length = len(data)
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = data[4 * i] | (data[4 * i + 1] << 8) | (data[4 * i + 2] << 16) | (data[4 * i + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r  # Java's >>> on an int
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail, rest = length & ~3, length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int) -> int:
    """BuiltInPartitioner.partitionForKey: toPositive(murmur2(key)) % partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def kcfg(k, **extra):
    """Config of a Kafka-sink connector whose topics are under the test's prefix."""
    c = {"sink.type": "kafka", "bootstrap.servers": k.bootstrap, "topic.prefix": k.prefix + "pg",
         "retriable.restart.connector.wait.ms": "300"}
    c.update(extra)
    return c


@pytest.fixture
def mk(tmp_path, pg):
    """make(tag, **config): a Sluice with its own directory (config, log, files), so that several can run
    in one test. List it after `kafka` and `tables` in a test's arguments: it is stopped first."""
    made = []

    def make(tag, **config):
        d = tmp_path / tag
        d.mkdir()
        s = Sluice(d, pg, **{"slot": f"it_ks_{tag}_{uuid.uuid4().hex[:8]}", **config})
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


def topics_with(prefix):
    from conftest import _kafka_admin
    return sorted(t for t in _kafka_admin().list_topics(timeout=30).topics if t.startswith(prefix))


def consume(topic, isolation="read_uncommitted"):
    """Every record of topic, or [] while it does not exist."""
    if topic not in topics_with(topic):
        return []
    return kafka_consume_all(topic, isolation=isolation)


def as_json(b):
    return None if b is None else json.loads(b)


def header_dict(headers):
    out = {}
    for name, b in headers:
        assert name not in out, f"header {name} twice: {headers}"
        if b is None:
            out[name] = None
            continue
        text = b.decode()
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return out


def own_headers(headers):
    """Headers minus Debezium 3's __debezium.context.* (runId differs per run; test_pg_features checks them)."""
    return {k: v for k, v in headers.items() if not k.startswith("__debezium.context.")}


def from_kafka(rec):
    """A Kafka record in the file sink's event shape."""
    return {"topic": rec["topic"], "key": as_json(rec["key"]), "value": as_json(rec["value"]),
            "headers": own_headers(header_dict(rec["headers"]))}


def strip_volatile(value):
    """The event value (with or without its JsonConverter schema) minus processing times and positions."""
    if value is None:
        return None
    enveloped = "schema" in value and "payload" in value
    p = dict(value["payload"] if enveloped else value)
    for k in VOLATILE_TOP:
        p.pop(k, None)
    if isinstance(p.get("source"), dict):
        p["source"] = {k: x for k, x in p["source"].items() if k not in VOLATILE_SOURCE}
    return {"schema": value["schema"], "payload": p} if enveloped else p


def normalized(ev):
    return {"topic": ev["topic"], "key": ev["key"], "value": strip_volatile(ev["value"]),
            "headers": own_headers(ev.get("headers") or {})}


def pay(v):
    """The payload of a parsed key or value (schemas on or off)."""
    if isinstance(v, dict) and "schema" in v and "payload" in v:
        return v["payload"]
    return v


def offsets_listed(s):
    r = run_cli("offsets", "list", str(s.cfg_path))
    assert r.returncode == 0, r.stdout + r.stderr
    return [l.split("\t") for l in r.stdout.splitlines() if l.strip()]


def wait_offset_stored(s, timeout=30):
    wait_until(lambda: offsets_listed(s), timeout, interval=0.2, what="a stored offset")


def kafka_events(topic, isolation="read_uncommitted"):
    return [from_kafka(r) for r in consume(topic, isolation)]


# ---------------------------------------------------------------------------------------------------------
# 1. end to end, compared with the file sink


def test_murmur2_matches_kafka_utils_test_vectors():
    vectors = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
               b"a-little-bit-longer-string": -1486304829,
               b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}
    for data, want in vectors.items():
        assert murmur2(data) == want, data
    assert java_partition(b"foobar", 50) == 16


MISC_STREAM = """
INSERT INTO it_ks_misc VALUES (1, 'one'), (2, 'two'), (3, 'three');
UPDATE it_ks_misc SET v = 'uno' WHERE id = 1;
UPDATE it_ks_misc SET id = 10, v = 'ten' WHERE id = 1;
BEGIN; UPDATE it_ks_misc SET id = id + 100 WHERE id IN (2, 3); COMMIT;
DELETE FROM it_ks_misc WHERE id = 10;
INSERT INTO it_ks_nopk VALUES (2, 'b'), (2, 'b');
UPDATE it_ks_nopk SET b = 'bb' WHERE a = 1;
DELETE FROM it_ks_nopk WHERE a = 2;
SELECT pg_logical_emit_message(true, 'ks', 'hello');
SELECT pg_logical_emit_message(false, 'ks2', 'world');
TRUNCATE it_ks_misc;
INSERT INTO it_ks_misc VALUES (999, 'marker');
"""


@pytest.mark.parametrize("schemas", [True, False], ids=["schemas", "no_schemas"])
def test_pg_to_kafka_equals_file_sink(pg, kafka, tables, mk, schemas):
    setup, stream = split("types.sql")
    sql(pg, setup)
    tables("it_ks_misc", "id int PRIMARY KEY, v text")
    tables("it_ks_nopk", "a int, b text", "ALTER TABLE it_ks_nopk REPLICA IDENTITY FULL",
           "INSERT INTO it_ks_nopk VALUES (1, 'a')")
    try:
        common = {"table.include.list": "public.golden_types,public.it_ks_misc,public.it_ks_nopk",
                  "skipped.operations": "none", "key.converter.schemas.enable": str(schemas).lower(),
                  "value.converter.schemas.enable": str(schemas).lower(),
                  "topic.creation.default.partitions": "1"}
        ks = mk("kafka", **kcfg(kafka, **common))
        fs = mk("file", **{**common, "topic.prefix": ks.config["topic.prefix"]})
        start_run(ks)
        start_run(fs)
        wait_streaming(ks)
        wait_streaming(fs)
        sql(pg, stream)
        sql(pg, MISC_STREAM)
        prefix = ks.config["topic.prefix"]
        misc = f"{prefix}.public.it_ks_misc"

        def has_marker(events):
            return any(e["topic"] == misc and e["value"] is not None
                       and (pay(e["value"]).get("after") or {}).get("id") == 999 for e in events)

        wait_until(lambda: has_marker(fs.events()), 60, 0.1, "the marker in the file")
        wait_until(lambda: has_marker(kafka_events(misc)), 60, 0.3, "the marker in Kafka")
        assert ks.stop() == 0, log_text(ks)[-3000:]
        assert fs.stop() == 0, log_text(fs)[-3000:]
    finally:
        sql(pg, "DROP TABLE IF EXISTS golden_types")

    want = fs.events()
    want_topics = sorted({e["topic"] for e in want})
    assert want_topics == sorted([f"{prefix}.message", f"{prefix}.public.golden_types", misc,
                                  f"{prefix}.public.it_ks_nopk"])
    assert topics_with(prefix + ".") == want_topics  # nothing else created
    for topic in want_topics:
        got = [normalized(e) for e in kafka_events(topic)]
        exp = [normalized(e) for e in want if e["topic"] == topic]
        assert len(got) == len(exp), topic
        for i, (g, w) in enumerate(zip(got, exp)):
            assert g == w, f"{topic} record {i}"

    # What the comparison covered (so that a file sink gone wrong the same way cannot hide it).
    misc_ev = kafka_events(misc)
    ops = [pay(e["value"])["op"] if e["value"] is not None else None for e in misc_ev]
    assert ops == ["c", "c", "c", "u", "d", None, "c", "d", None, "c", "d", None, "c", "d", None, "t", "c"], ops
    ids = [pay(e["key"]) for e in misc_ev]
    assert ids[4:7] == [{"id": 1}, {"id": 1}, {"id": 10}]
    assert misc_ev[4]["headers"] == {"__debezium.newkey": {"id": 10}}
    assert misc_ev[5]["headers"] == {"__debezium.newkey": {"id": 10}}  # the tombstone keeps the headers
    assert misc_ev[6]["headers"] == {"__debezium.oldkey": {"id": 1}}
    assert misc_ev[15]["key"] is None  # truncate: no key
    raw = consume(misc)
    assert raw[5]["value"] is None and raw[5]["key"] == raw[4]["key"]  # a real Kafka tombstone
    nopk = consume(f"{prefix}.public.it_ks_nopk")
    assert [r["key"] for r in nopk] == [None] * 8  # no key; Debezium follows each delete with a tombstone
    assert [pay(as_json(r["value"]))["op"] if r["value"] else None for r in nopk] == [
        "r", "c", "c", "u", "d", None, "d", None]
    types = kafka_events(f"{prefix}.public.golden_types")
    assert [pay(e["value"])["op"] if e["value"] else None for e in types] == ["r", "r", "c", "u", "u", "d", None]
    msgs = kafka_events(f"{prefix}.message")
    assert sorted(pay(e["key"])["prefix"] for e in msgs) == ["ks", "ks2"]  # the non-transactional one first
    if schemas:
        assert set(misc_ev[0]["key"]) == {"schema", "payload"} and set(misc_ev[0]["value"]) == {"schema", "payload"}
    else:
        assert misc_ev[0]["key"] == {"id": 1} and "schema" not in misc_ev[0]["value"]


# ---------------------------------------------------------------------------------------------------------
# 2./3. partitioning and created topics


def describe_topic(name):
    from confluent_kafka.admin import ConfigResource
    from conftest import _kafka_admin
    admin = _kafka_admin()
    md = admin.list_topics(name, timeout=30).topics[name]
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    cfg = admin.describe_configs([res])[res].result(30)
    return md, {k: v.value for k, v in cfg.items()}


def test_partitioning_matches_java_client(pg, kafka, tables, mk):
    t = tables("it_ks_part", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} SELECT g, g FROM generate_series(1, 150) g")
    s = start_run(mk("p", **kcfg(kafka, table_include_list=f"public.{t}",
                                 **{"topic.creation.default.partitions": "6"})))
    wait_streaming(s)
    sql(pg, f"UPDATE {t} SET v = -v WHERE id % 3 = 0")
    sql(pg, f"DELETE FROM {t} WHERE id % 7 = 0")
    sql(pg, f"UPDATE {t} SET id = id + 1000 WHERE id % 11 = 0")  # key changes move between partitions
    sql(pg, f"INSERT INTO {t} VALUES (-1, 0)")
    topic = f"{s.config['topic.prefix']}.public.{t}"
    want = 150 + 50 + 2 * 21 + 3 * 12 + 1  # r, u, d+tombstone, d+tombstone+c (11*k, k <= 13, 77 deleted before)
    recs = wait_until(lambda: (r := consume(topic)) and len(r) >= want and r, 60, 0.3, "all records")
    assert s.stop() == 0
    assert len(recs) == want
    md, _ = describe_topic(topic)
    assert len(md.partitions) == 6
    used, part_of = set(), {}
    for r in recs:
        assert r["key"] is not None
        assert r["partition"] == java_partition(r["key"], 6), r
        assert part_of.setdefault(r["key"], r["partition"]) == r["partition"]
        used.add(r["partition"])
    assert len(used) == 6  # 163 keys spread over all of them


def test_created_topics_get_topic_creation_defaults(pg, kafka, tables, mk):
    t = tables("it_ks_create", "id int PRIMARY KEY")
    sql(pg, f"INSERT INTO {t} VALUES (1)")
    s = start_run(mk("c", **kcfg(kafka, table_include_list=f"public.{t}", **{
        "topic.creation.default.partitions": "3", "topic.creation.default.replication.factor": "1",
        "topic.creation.default.cleanup.policy": "compact", "topic.creation.default.compression.type": "zstd"})))
    topic = f"{s.config['topic.prefix']}.public.{t}"
    wait_until(lambda: consume(topic), 60, 0.3, "the snapshot record")
    assert s.stop() == 0
    md, cfg = describe_topic(topic)
    assert len(md.partitions) == 3
    assert all(len(p.replicas) == 1 for p in md.partitions.values())
    assert cfg["cleanup.policy"] == "compact"
    assert cfg["compression.type"] == "zstd"

    # Without topic.creation.default.*: the broker's defaults (num.partitions=1, delete, producer).
    t2 = tables("it_ks_create2", "id int PRIMARY KEY")
    sql(pg, f"INSERT INTO {t2} VALUES (1)")
    s2 = start_run(mk("c2", **kcfg(kafka, table_include_list=f"public.{t2}")))
    topic2 = f"{s2.config['topic.prefix']}.public.{t2}"
    wait_until(lambda: consume(topic2), 60, 0.3, "the snapshot record")
    assert s2.stop() == 0
    md2, cfg2 = describe_topic(topic2)
    assert len(md2.partitions) == 1
    assert cfg2["cleanup.policy"] == "delete" and cfg2["compression.type"] == "producer"


# ---------------------------------------------------------------------------------------------------------
# 4./5. crashes, broker restarts, exactly once

from test_crash import RETURNING, Writer  # noqa: E402  (the random workload of the file-sink crash test)

PRE_ROWS = 1000


def crash_table(pg, tables, name):
    t = tables(name, "id int PRIMARY KEY, v int, note text")
    sql(pg, f"INSERT INTO {t} SELECT g, g, 'pre ' || g || E' \\t\\n\"q\" \\\\ \u00fc' FROM generate_series(0, %s) g",
        PRE_ROWS - 1)
    return t


def first_run(s):
    """Starts s and waits until its snapshot is over and its offset stored, so that later kills cannot land
    in the initial snapshot (a re-taken snapshot has no delete events for rows deleted in between)."""
    start_run(s)
    wait_streaming(s, 60)
    wait_offset_stored(s)


def kill_cycles(s, writer, rnd, kills):
    """kills times: let sluice run a while under the writer's load, kill -9, start again."""
    exits = []
    for _ in range(kills):
        time.sleep(rnd.uniform(0.4, 1.5))
        if s.proc.poll() is not None:  # it must not stop by itself
            exits.append((s.proc.returncode, log_text(s, s.mark)[-1500:]))
        s.kill9()
        assert writer.is_alive(), writer.error
        start_run(s)
    return exits


def finish(pg, s, t, writer, topic, isolation):
    """Stops the writer, writes a marker row, waits until its event is in Kafka and stops sluice cleanly.
    Returns the marker's transaction id."""
    writer.stop.set()
    writer.join(30)
    assert writer.error is None, writer.error
    (marker_xid, _), = sql(pg, f"INSERT INTO {t} VALUES (-1, 0, 'marker')" + RETURNING)

    def marker_in_kafka():
        if s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s, s.mark)[-3000:]}")
        recs = consume(topic, isolation)
        return any(r["value"] is not None and b'"note":"marker"' in r["value"] for r in recs)

    wait_until(marker_in_kafka, 90, 0.5, "the marker row in Kafka")
    assert s.stop() == 0, log_text(s, s.mark)[-3000:]
    return marker_xid


def check_against_table(pg, t, writer, recs, marker_xid, exactly_once):
    """The records of the table's topic against the table and the writer's committed transactions."""
    per_key, parts, per_tx, seen, dups, where = {}, {}, {}, {}, 0, {}
    r_count = 0
    for r in recs:  # (partition, offset) order: per key, the order of production
        key = json.dumps(pay(as_json(r["key"])), sort_keys=True)
        assert parts.setdefault(key, r["partition"]) == r["partition"], f"key {key} in two partitions"
        v = pay(as_json(r["value"]))
        if v is None:
            assert per_key.get(key) is not None and per_key[key][0] == "d", f"tombstone not after a delete: {key}"
            per_key[key] = ("tombstone", None)
            continue
        op = v["op"]
        if op == "r":
            r_count += 1
            per_key[key] = ("r", v["after"])
            continue
        per_key[key] = (op, v["after"])
        ident = (key, v["source"]["lsn"], op)
        seen[ident] = seen.get(ident, 0) + 1
        # produce time and encode time tell a resent message (both equal) from one encoded twice
        where.setdefault(ident, []).append((r["partition"], r["offset"], v["source"]["txId"], r.get("timestamp"),
                                            v.get("ts_us")))
        if seen[ident] == 1:
            per_tx[v["source"]["txId"]] = per_tx.get(v["source"]["txId"], 0) + 1
        else:
            dups += 1
    table = {i: (v, note) for i, v, note in sql(pg, f"SELECT id, v, note FROM {t}")}
    state = {json.loads(k)["id"]: (a["v"], a["note"]) for k, (op, a) in per_key.items() if op in ("r", "c", "u")}
    missing = sorted(set(table) - set(state))
    extra = sorted(set(state) - set(table))
    wrong = sorted(i for i in set(table) & set(state) if table[i] != state[i])
    assert not missing and not extra and not wrong, (
        f"missing={missing[:20]} extra={extra[:20]} wrong={[(i, table[i], state[i]) for i in wrong[:10]]}")
    assert per_tx.pop(marker_xid, 0) == 1
    assert not set(per_tx) & writer.rolled_back
    unknown = sorted(set(per_tx) - set(writer.committed))
    assert not unknown, unknown[:10]
    # The writer started after the snapshot: every transaction it committed is there, whole.
    lost = sorted(x for x in writer.committed if x not in per_tx)
    assert not lost, f"{len(lost)} of {len(writer.committed)} committed transactions missing, e.g. {lost[:10]}"
    partial = [(x, per_tx[x], n) for x, (n, _) in writer.committed.items() if per_tx[x] != n]
    assert not partial, f"(xid, distinct changes in Kafka, committed): {partial[:10]}"
    if exactly_once:
        assert dups == 0, (f"{dups} changes delivered more than once: "
                           f"{[(i, w) for i, w in where.items() if len(w) > 1][:5]}")
        assert r_count == PRE_ROWS
        tombstones = sum(1 for r in recs if r["value"] is None)
        deletes = sum(1 for r in recs if r["value"] is not None and pay(as_json(r["value"]))["op"] == "d")
        assert tombstones == deletes
    return dict(records=len(recs), duplicates=dups, transactions=len(writer.committed), rows=len(table),
                snapshot_reads=r_count)


def test_kill9_repeatedly_nothing_missing(pg, kafka, tables, mk):
    seed = int(os.environ.get("SLUICE_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    t = crash_table(pg, tables, "it_ks_crash")
    s = mk("crash", **kcfg(kafka, table_include_list=f"public.{t}", max_batch_size="256",
                           **{"topic.creation.default.partitions": "3"}))
    topic = f"{s.config['topic.prefix']}.public.{t}"
    first_run(s)
    writer = Writer(t, seed)
    writer.start()
    try:
        exits = kill_cycles(s, writer, rnd, 5)
    finally:
        writer.stop.set()
    assert not exits, f"sluice exited by itself (seed {seed}): {exits[:3]}"
    marker_xid = finish(pg, s, t, writer, topic, "read_uncommitted")
    try:
        stats = check_against_table(pg, t, writer, consume(topic), marker_xid, exactly_once=False)
    except AssertionError as e:  # the seed makes the run repeatable (SLUICE_CRASH_SEED)
        raise AssertionError(f"seed {seed}: {e}") from None
    print(f"\nkafka crash test: seed={seed} writer_ops={writer.ops} {stats}")
    assert stats["transactions"] > 100  # the checks had something to check


def test_broker_restart_mid_stream_nothing_missing(pg, kafka, tables, mk):
    seed = int(time.time())
    t = crash_table(pg, tables, "it_ks_broker")
    s = mk("broker", **kcfg(kafka, table_include_list=f"public.{t}", max_batch_size="256"))
    topic = f"{s.config['topic.prefix']}.public.{t}"
    first_run(s)
    writer = Writer(t, seed)
    writer.start()
    restarts = 0
    try:
        time.sleep(1.0)
        kafka.restart(down_seconds=2)
        time.sleep(2.0)
        if s.proc.poll() is not None:  # allowed: it gave up on the broker; then it must resume by itself
            restarts += 1
            start_run(s)
    finally:
        writer.stop.set()
    marker_xid = finish(pg, s, t, writer, topic, "read_uncommitted")
    try:
        stats = check_against_table(pg, t, writer, consume(topic), marker_xid, exactly_once=False)
    except AssertionError as e:  # the seed makes the run repeatable (SLUICE_CRASH_SEED)
        raise AssertionError(f"seed {seed}: {e}") from None
    print(f"\nkafka broker restart: seed={seed} sluice_restarts={restarts} {stats}")
    assert stats["transactions"] > 50


def offset_records(k, s, topic):
    """The records of offset.storage.topic, checked to be in Kafka Connect's format for connector s."""
    recs = consume(topic, "read_committed")
    parts = len(describe_topic(topic)[0].partitions)
    prefix = s.config["topic.prefix"]
    for r in recs:
        assert json.loads(r["key"]) == [s.name, {"server": prefix}], r["key"]
        assert r["partition"] == java_partition(r["key"], parts)  # where Kafka Connect's producer puts it
    return recs


def test_exactly_once_kill9_no_duplicates_none_missing(pg, kafka, tables, mk):
    seed = int(os.environ.get("SLUICE_CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    t = crash_table(pg, tables, "it_ks_eos")
    otopic = kafka.topic("offsets")
    s = mk("eos", **kcfg(kafka, table_include_list=f"public.{t}", max_batch_size="256",
                         **{"exactly.once.support": "required", "offset.storage.topic": otopic,
                            "topic.creation.default.partitions": "3"}))
    topic = f"{s.config['topic.prefix']}.public.{t}"
    first_run(s)
    assert "exactly-once producer ready" in log_text(s)
    writer = Writer(t, seed)
    writer.start()
    try:
        exits = kill_cycles(s, writer, rnd, 4)
    finally:
        writer.stop.set()
    assert not exits, f"sluice exited by itself (seed {seed}): {exits[:3]}"
    marker_xid = finish(pg, s, t, writer, topic, "read_committed")
    recs = consume(topic, "read_committed")
    try:
        stats = check_against_table(pg, t, writer, recs, marker_xid, exactly_once=True)
    except AssertionError as e:  # the seed makes the run repeatable (SLUICE_CRASH_SEED)
        raise AssertionError(f"seed {seed}: {e}") from None
    aborted = len(consume(topic, "read_uncommitted")) - len(recs)  # kills inside a transaction (timing)
    print(f"\nkafka exactly-once crash test: seed={seed} writer_ops={writer.ops} aborted_records={aborted} {stats}")
    assert stats["transactions"] > 100

    # The offsets: Kafka Connect's key, one per commit, the last one at or after the marker's change.
    offs = offset_records(kafka, s, otopic)
    assert offs
    marker_lsn = max(pay(as_json(r["value"]))["source"]["lsn"] for r in recs
                     if r["value"] is not None and b'"note":"marker"' in r["value"])
    assert len({r["partition"] for r in offs}) == 1  # one key, so one partition: offs[-1] is the newest
    last = json.loads(offs[-1]["value"])
    assert last["lsn"] >= marker_lsn, (last, marker_lsn)
    listed = offsets_listed(s)
    assert len(listed) == 1 and listed[0][0] == s.name
    assert json.loads(listed[0][1]) == {"server": s.config["topic.prefix"]}
    assert json.loads(listed[0][2]) == last


def test_exactly_once_second_instance_fences_the_first(pg, kafka, tables, mk):
    t = tables("it_ks_fence", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1)")
    otopic = kafka.topic("offsets")
    cfg = kcfg(kafka, table_include_list=f"public.{t}",
               **{"exactly.once.support": "required", "offset.storage.topic": otopic})
    a = mk("a", **cfg)
    first_run(a)
    sql(pg, f"INSERT INTO {t} VALUES (2, 2)")
    topic = f"{a.config['topic.prefix']}.public.{t}"
    wait_until(lambda: len(consume(topic, "read_committed")) == 2, 30, 0.3, "A's records")

    # B: the same connector (name, slot, publication, hence transactional.id) started a second time.
    b = mk("b", slot=a.slot, publication=a.publication, **cfg)
    b.name = a.name
    start_run(b)
    wait_log(b, "exactly-once producer ready", 60)  # init_transactions done: A's epoch is fenced
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")  # A sees it first (B waits for the slot A holds)
    rc_a = wait_until(lambda: a.proc.poll(), 60, 0.1, "the fenced instance A to exit")
    a_log = log_text(a, a.mark)
    assert rc_a != 0, a_log[-3000:]
    assert "fence" in a_log.lower(), a_log[-3000:]
    a.stop()
    # B takes the slot over once A let it go and delivers row 3; A's attempt was never committed.
    sql(pg, f"INSERT INTO {t} VALUES (4, 4)")

    def ids():
        return [pay(as_json(r["key"]))["id"] for r in consume(topic, "read_committed")]
    wait_until(lambda: 4 in ids() or b.proc.poll() is not None, 60, 0.3, "row 4 from B")
    assert b.proc.poll() is None, log_text(b, b.mark)[-3000:]
    assert ids() == [1, 2, 3, 4]
    assert b.stop() == 0, log_text(b, b.mark)[-3000:]
    offs = offset_records(kafka, b, otopic)
    assert offs


# ---------------------------------------------------------------------------------------------------------
# 6. offset.storage=kafka without exactly-once


def test_offset_storage_kafka_resumes_without_snapshot(pg, kafka, tables, mk):
    t = tables("it_ks_koff", "id int PRIMARY KEY, v int")
    sql(pg, f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
    otopic = kafka.topic("offsets")
    s = mk("koff", **kcfg(kafka, table_include_list=f"public.{t}",
                          **{"offset.storage": "kafka", "offset.storage.topic": otopic,
                             "offset.storage.partitions": "5"}))
    s.config.pop("offset.storage.file.filename")  # nothing may depend on the SQLite store
    topic = f"{s.config['topic.prefix']}.public.{t}"
    start_run(s)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (3, 3)")
    wait_until(lambda: len(consume(topic)) == 3, 30, 0.3, "r, r, c")
    assert s.stop() == 0
    assert not (s.dir / "offsets.db").exists() and not (s.dir / "sluice-offsets.db").exists()

    listed = offsets_listed(s)
    assert len(listed) == 1, listed
    name, part, off, _ts = listed[0]
    assert name == s.name and json.loads(part) == {"server": s.config["topic.prefix"]}
    lsn_c = pay(as_json(consume(topic)[2]["value"]))["source"]["lsn"]
    assert json.loads(off)["lsn"] >= lsn_c
    md, cfg = describe_topic(otopic)
    assert len(md.partitions) == 5 and cfg["cleanup.policy"] == "compact"
    offs = offset_records(kafka, s, otopic)
    assert offs and json.loads(offs[-1]["value"]) == json.loads(off)

    sql(pg, f"INSERT INTO {t} VALUES (4, 4)")  # while it is stopped
    start_run(s)
    wait_streaming(s)
    assert "snapshot" not in log_text(s, s.mark).replace("snapshot.mode", "")  # no snapshot this time
    sql(pg, f"UPDATE {t} SET v = 5 WHERE id = 1")
    wait_until(lambda: len(consume(topic)) >= 5, 30, 0.3, "c, u after the restart")
    assert s.stop() == 0
    recs = consume(topic)
    got = [(pay(as_json(r["value"]))["op"], pay(as_json(r["key"]))["id"]) for r in recs]
    assert got == [("r", 1), ("r", 2), ("c", 3), ("c", 4), ("u", 1)]


# ---------------------------------------------------------------------------------------------------------
# 7. bad configurations


def run_fg(s):
    s.write_config()
    r = run_cli("run", str(s.cfg_path), timeout=60)
    return r.returncode, r.stdout + r.stderr


def line_with(out, *parts):
    for line in out.splitlines():
        if all(p in line for p in parts):
            return line
    raise AssertionError(f"no line with {parts!r} in:\n{out}")


def test_exactly_once_required_with_file_sink_refused(pg, kafka, cfg):
    make = cfg
    s = make(**{"exactly.once.support": "required", "sink.type": "file", "bootstrap.servers": kafka.bootstrap})
    rc, out = run_fg(s)
    assert rc == 2, out  # a configuration error, as in test_bad_input
    line_with(out, "exactly.once.support")
    assert slot_row(pg, s.slot) is None and not publication_exists(pg, s.publication)
    assert not (s.dir / "events.jsonl").exists()


def test_unknown_producer_override_refused(pg, kafka, cfg):
    make = cfg
    s = make(**kcfg(kafka, **{"producer.override.no.such.prop": "1"}))
    rc, out = run_fg(s)
    assert rc == 2, out  # a configuration error, as in test_bad_input
    line_with(out, "no.such.prop")
    assert slot_row(pg, s.slot) is None and not publication_exists(pg, s.publication)
    assert topics_with(kafka.prefix) == []


def test_kafka_sink_without_bootstrap_servers_takes_the_default(pg, tables, kafka, cfg):
    """As under Kafka Connect, where the worker supplies it: no bootstrap.servers is no error.
    SLUICE_BOOTSTRAP_SERVERS, else Kafka's default localhost:9092, logged with the reason
    (tests/it/test_pasted_configs.py runs whole configs that way)."""
    make = cfg
    env = {k: v for k, v in os.environ.items() if k != "SLUICE_BOOTSTRAP_SERVERS"}
    s = make(**{"sink.type": "kafka", "topic.prefix": kafka.prefix + "pg"})
    s.write_config()
    r = run_cli("validate", str(s.cfg_path), env=env)
    assert r.returncode == 0, r.stderr
    line_with(r.stderr, "bootstrap.servers not set: using localhost:9092 (Kafka's default)")
    # sink.type defaults to kafka: the same without it, and the variable names the cluster
    t = tables("it_ks_noboot", "id int PRIMARY KEY")
    s2 = make(**{"topic.prefix": kafka.prefix + "pg", "table.include.list": f"public.{t}",
                 "snapshot.mode": "initial_only"})
    del s2.config["sink.type"]
    sql(pg, f"INSERT INTO {t} VALUES (1)")
    s2.write_config()
    r = run_cli("run", str(s2.cfg_path), env={**env, "SLUICE_BOOTSTRAP_SERVERS": kafka.bootstrap})
    assert r.returncode == 0, r.stderr
    line_with(r.stderr, f"bootstrap.servers not set: using {kafka.bootstrap} (from the environment variable "
                        "SLUICE_BOOTSTRAP_SERVERS)")
    recs = kafka.consume_all(f"{kafka.prefix}pg.public.{t}")
    assert [pay(json.loads(x["value"]))["after"] for x in recs] == [{"id": 1}]


def test_exactly_once_requested_with_file_sink_runs_at_least_once(pg, tables, cfg):
    """The contrast to the refusal above: 'requested' falls back to at-least-once where it cannot be had."""
    make = cfg
    t = tables("it_ks_req", "id int PRIMARY KEY")
    sql(pg, f"INSERT INTO {t} VALUES (1)")
    s = make(**{"exactly.once.support": "requested", "sink.type": "file", "table.include.list": f"public.{t}",
                "snapshot.mode": "initial_only"})
    rc, out = run_fg(s)
    assert rc == 0, out
    assert [pay(e["value"])["after"] for e in s.events()] == [{"id": 1}]


def test_missing_topic_without_topic_creation_fails_naming_it(pg, kafka, tables, cfg):
    make = cfg
    t = tables("it_ks_nocreate", "id int PRIMARY KEY")
    sql(pg, f"INSERT INTO {t} VALUES (1)")
    s = make(**kcfg(kafka, table_include_list=f"public.{t}", snapshot_mode="initial_only", **{
        "topic.creation.enable": "false", "producer.override.topic.metadata.propagation.max.ms": "1000"}))
    rc, out = run_fg(s)
    topic = f"{s.config['topic.prefix']}.public.{t}"
    assert rc != 0, out
    line_with(out, topic)
    assert topics_with(kafka.prefix) == []
    # nothing counts as delivered: at most the start of the snapshot is stored (marked unfinished)
    assert all(json.loads(o[2]).get("snapshot") is True for o in offsets_listed(s)), offsets_listed(s)

# ---------------------------------------------------------------------------------------------------------
# routing after the source's table descriptions are replaced




def test_records_keep_their_topic_across_a_source_reconnect(pg, kafka, tables, mk):
    """The source describes its tables anew after a reconnect (and after a schema change); the records of
    one table must never go to the topic of another (the sink caches the previous record's table)."""
    ta = tables("it_ks_ra", "id int PRIMARY KEY, v int")
    tb = tables("it_ks_rb", "id int PRIMARY KEY, v int")
    s = start_run(mk("r", **kcfg(kafka, table_include_list=f"public.{ta},public.{tb}")))
    wait_streaming(s)
    ta_topic, tb_topic = (f"{s.config['topic.prefix']}.public.{t}" for t in (ta, tb))
    want, order = 0, [tb, ta]
    for step in range(4):
        if step:
            mark = s.log.stat().st_size
            sql(pg, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s", s.slot)
            wait_until(lambda: "source reconnected" in log_text(s, mark), 30, 0.1, "the reconnect")
            wait_until(lambda: (row := slot_row(pg, s.slot)) and row[0], 30, 0.1, "the slot to be active again")
        # The source meets (describes) the tables in this order; the last record before the reconnect is of
        # the table described last, the first one after it of the other.
        for t in order:
            sql(pg, f"INSERT INTO {t} VALUES ({10 * step}, 0)")
        for t in order:
            sql(pg, f"INSERT INTO {t} (id, v) VALUES ({10 * step + 1}, 0)")
        want += 4
        wait_until(lambda: len(consume(ta_topic)) + len(consume(tb_topic)) >= want, 30, 0.3, "the changes")
    assert s.stop() == 0
    for topic, t in ((ta_topic, ta), (tb_topic, tb)):
        recs = consume(topic)
        assert {pay(as_json(r["value"]))["source"]["table"] for r in recs} == {t}, topic
    assert len(consume(ta_topic)) + len(consume(tb_topic)) == want


def require(cond, msg):
    """A precondition of a test: when it does not hold, the test is broken (RuntimeError), not failed."""
    if not cond:
        raise RuntimeError(msg)


def test_exactly_once_kill9_inside_a_large_source_transaction(pg, kafka, tables, mk):
    """One PostgreSQL transaction larger than a batch reaches the sink in several batches; only the last
    carries the source offset, so they all go into one Kafka transaction. A kill after some of them were
    produced (visible to read_uncommitted) leaves none visible to read_committed, and the restart sends the
    whole transaction again: every row exactly once."""
    from confluent_kafka import Consumer, TopicPartition
    n = 20000
    t = tables("it_ks_bigtx", "id int PRIMARY KEY, v text")
    s = mk("big", **kcfg(kafka, table_include_list=f"public.{t}", max_batch_size="1",
                         **{"exactly.once.support": "required", "offset.storage.topic": kafka.topic("offsets")}))
    topic = f"{s.config['topic.prefix']}.public.{t}"
    kafka.create_topic(topic, 1)
    first_run(s)
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "it-" + uuid.uuid4().hex[:8],
                  "isolation.level": "read_uncommitted", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        sql(pg, f"INSERT INTO {t} SELECT g, 'big' FROM generate_series(1, {n}) g")
        deadline = time.time() + 60
        while True:  # kill as soon as a first part of the transaction is produced
            require(time.time() < deadline, "no record of the transaction within 60 s")
            m = c.poll(0.05)
            if m is not None and not m.error() and m.value() and b'"big"' in m.value():
                s.kill9()
                break
    finally:
        c.close()
    produced = len(consume(topic, "read_uncommitted"))
    require(produced < n, f"the kill did not land inside the transaction ({produced} of {n} produced)")
    visible = len(consume(topic, "read_committed"))
    assert visible == 0, f"{visible} rows of an unfinished source transaction visible to read_committed"
    start_run(s)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {t} VALUES (0, 'marker')")
    wait_until(lambda: any(r["value"] and b'"marker"' in r["value"] for r in consume(topic, "read_committed")),
               90, 0.5, "the marker")
    assert s.stop() == 0
    recs = consume(topic, "read_committed")
    per_key = {}
    for r in recs:
        per_key[r["key"]] = per_key.get(r["key"], 0) + 1
    dups = sum(1 for v in per_key.values() if v > 1)
    require(len(per_key) == n + 1, f"{n + 1 - len(per_key)} rows missing")
    assert dups == 0, (f"{dups} rows of the transaction delivered twice to read_committed consumers "
                       f"({visible} were committed before the kill)")
