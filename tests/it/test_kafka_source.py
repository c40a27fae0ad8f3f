"""Kafka source (connector.class=kafka) against the real broker, into the file sink.

- converters: JSON with and without schemas, string and bytes; every file line's key and value is what was
  produced (as the converter reads it), headers come along, Debezium envelopes give their op (seen in the
  trace log), tombstones are deletes; a clean stop commits every record to the group;
- errors: with errors.tolerance=all a record whose key or value cannot be converted goes to the dead letter
  queue (created by sluice) with Kafka Connect's __connect.errors.* headers, the good records reach the file
  and the pipeline goes on; with errors.tolerance=none the connector stops, naming topic/partition/offset,
  and the group's offset never passes the bad record;
- delivery contract: the group's committed offsets never run ahead of the file; kill -9 mid-stream and a
  restart lose nothing;
- rebalance: two processes in one group share a 4-partition topic; together they hold every record, and
  each file has each partition's records in order;
- bad configs fail before connecting.
"""
import base64
import datetime
import json
import re
import threading
import time
import uuid

import pytest

from conftest import Sluice, kafka_bootstrap, kafka_consume_all, log_text, run_cli, wait_until

SESSION = {"consumer.override.session.timeout.ms": "6000", "consumer.override.heartbeat.interval.ms": "1000"}


class KSluice(Sluice):
    """A Kafka-source connector run as a real process, writing to its own file in dir."""

    def __init__(self, dirpath, topics, name=None, **config):
        self.dir = dirpath
        self.pg = None
        tag = uuid.uuid4().hex[:8]
        self.name = name or "ks-" + tag
        self.out = dirpath / f"{self.name}-{tag}.jsonl"
        self.log = dirpath / f"{self.name}-{tag}.log"
        self.config = {
            "connector.class": "kafka",
            "topics": topics,
            "bootstrap.servers": kafka_bootstrap(),
            "sink.type": "file",
            "sink.file.path": str(self.out),
            "offset.storage.file.filename": str(dirpath / f"offsets-{tag}.db"),
            "offset.flush.interval.ms": "100",
            "poll.interval.ms": "100",
        }
        self.config.update(config)
        self.proc = None
        self.write_config()

    def write_config(self):
        self.cfg_path = self.dir / f"{self.name}.json"
        self.cfg_path.write_text(json.dumps({"name": self.name, "config": self.config}))

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def ksluice(tmp_path, kafka):
    made = []

    def make(topics, **config):
        s = KSluice(tmp_path, topics, **config)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


def producer():
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": kafka_bootstrap(), "acks": "all", "enable.idempotence": True,
                     "linger.ms": 20})


def produce_many(topic, records, p=None):
    """records: (partition, key, value[, headers]) tuples; produced in order by an idempotent producer
    (p, or a new one), acknowledged when this returns."""
    p = p or producer()
    errors = []
    for rec in records:
        part, key, value = rec[:3]
        headers = rec[3] if len(rec) > 3 else None
        while True:
            try:
                p.produce(topic, key=key, value=value, partition=part, headers=headers,
                          on_delivery=lambda err, msg: err and errors.append(err))
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    assert p.flush(60) == 0
    assert not errors, errors


def committed(group, topic, partitions):
    """The group's committed offset of each partition (0 when none)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": kafka_bootstrap(), "group.id": group, "enable.auto.commit": False})
    try:
        res = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: max(tp.offset, 0) for tp in res}
    finally:
        c.close()


def lines(path):
    """Whole lines of a sink file (a line still being written is not one yet)."""
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(l) for l in text[:text.rfind("\n") + 1].splitlines() if l.strip()]


def traced_ops(s):
    """{offset: op} from the source's trace log (log.level=trace)."""
    return {int(m[2]): m[3] for m in re.finditer(r"record topic=\S+ partition=(\d+) offset=(\d+) op=(\w)",
                                                  log_text(s)) if m[1] == "0"}


def schema_env(payload, schema=None):
    return json.dumps({"schema": schema or {"type": "struct", "optional": False}, "payload": payload})


def dbz(op, source=True, **extra):
    v = {"before": None, "after": {"id": 1}, "op": op, "ts_ms": 1}
    if source:
        v["source"] = {"connector": "postgresql", "name": "x"}
    v.update(extra)
    return v


# (config, [(key bytes|None, value bytes|None, headers|None)], [(file key, file value)], {offset: op})
CASES = {
    "json_schemas": (
        {},
        [(schema_env(1, {"type": "int32"}), schema_env(dbz("c")), [("trace", b"abc"), ("bin", b"\xffx"),
                                                                    ("nul", None)]),
         (schema_env(1, {"type": "int32"}), json.dumps(json.loads(schema_env(dbz("u"))), indent=2), None),
         (schema_env(1, {"type": "int32"}), schema_env(dbz("d", after=None)), None),
         (schema_env(1, {"type": "int32"}), None, None),
         (None, schema_env("plain", {"type": "string"}), None),
         (None, schema_env(dbz("r", source=False)), None)],
        None,
        {0: "c", 1: "u", 2: "d", 3: "d", 4: "c", 5: "c"},
    ),
    "json_plain": (
        {"key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false"},
        [(b'{"id": 7}', json.dumps(dbz("d", before={"id": 7}, after=None)), None),
         (b'"k"', b'[1, 2, {"a": null}]', None),
         (b"42", b"12345678901234567890123", None),
         (None, b"null", None),
         (b"1", json.dumps(dbz("t")), None)],
        None,
        {0: "d", 1: "c", 2: "c", 3: "d", 4: "t"},
    ),
    "string": (
        {"key.converter": "string", "value.converter": "org.apache.kafka.connect.storage.StringConverter"},
        [(b"k1", 'h\u00e9llo "world"\nline2 \u20ac'.encode(), [("h", b"v")]),
         (None, b"bad \xff utf8", None),
         (b"k2", json.dumps(dbz("u")).encode(), None),
         (b"k3", None, None)],
        [("k1", 'h\u00e9llo "world"\nline2 \u20ac'), (None, "bad \ufffd utf8"), ("k2", json.dumps(dbz("u"))),
         ("k3", None)],
        {0: "c", 1: "c", 2: "c", 3: "d"},
    ),
    "bytes": (
        {"key.converter": "bytes", "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter"},
        [(b"\x00\x01", bytes(range(256)), None), (None, b"", None), (b"k", b"\xff\xfe", None)],
        [(base64.b64encode(b"\x00\x01").decode(), base64.b64encode(bytes(range(256))).decode()), (None, ""),
         (base64.b64encode(b"k").decode(), base64.b64encode(b"\xff\xfe").decode())],
        {0: "c", 1: "c", 2: "c"},
    ),
}


def as_json(b):
    return None if b is None else json.loads(b)


@pytest.mark.parametrize("case", sorted(CASES))
def test_converters_to_file(ksluice, kafka, case):
    config, produced, expected, want_ops = CASES[case]
    topic = kafka.create_topic(kafka.topic(case))
    produce_many(topic, [(0, k, v, h) for k, v, h in produced])
    s = ksluice(topic, **{"log.level": "trace"}, **config).start()
    ev = s.wait_events(len(produced))
    if expected is None:  # JSON: the file holds the produced JSON (whitespace aside)
        expected = [(as_json(k), as_json(v)) for k, v, _ in produced]
    assert [(e["key"], e["value"]) for e in ev] == expected
    assert all(e["topic"] == topic for e in ev)
    for e, (_, _, h) in zip(ev, produced):
        want = {k: (None if v is None else v.decode("utf-8", "replace")) for k, v in (h or [])}
        assert e["headers"] == want
    assert traced_ops(s) == want_ops
    assert s.stop() == 0
    # A clean stop commits everything the file holds: after a restart only a new record arrives
    # (one partition: a record read again would come before it).
    assert committed("connect-" + s.name, topic, 1) == {0: len(produced)}
    s.start()
    produce_many(topic, [(0, None, produced[-1][1])])
    ev = s.wait_events(len(produced) + 1)
    assert len(ev) == len(produced) + 1 and ev[-1]["value"] == expected[-1][1]
    assert s.stop() == 0


def test_dead_letter_queue(ksluice, kafka):
    topic = kafka.create_topic(kafka.topic("in"))
    dlq = kafka.topic("dlq")
    key = schema_env(1, {"type": "int32"}).encode()
    good = [schema_env({"n": i}).encode() for i in range(4)]
    produce_many(topic, [
        (0, key, good[0]),
        (0, key, b'{"schema": {}, "payload": ', [("orig", b"h1")]),  # offset 1: truncated JSON
        (0, key, good[1]),
        (0, b'{"id": 1}', good[2]),  # offset 3: key without the schema envelope
        (0, None, good[3]),
    ])
    s = ksluice(topic, **{"errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
                          "errors.deadletterqueue.context.headers.enable": "true", "errors.log.enable": "true",
                          "errors.log.include.messages": "true"}).start()
    ev = s.wait_events(3)
    # Offsets 0, 2 and 4 are good (offset 3 has a good value but a bad key).
    assert [e["value"] for e in ev] == [json.loads(good[0]), json.loads(good[1]), json.loads(good[3])]
    recs = wait_until(lambda: (r := kafka_consume_all(dlq)) and len(r) >= 2 and r, timeout=30, what="DLQ records")
    assert len(recs) == 2
    bad_value, bad_key = recs
    assert bad_value["value"] == b'{"schema": {}, "payload": ' and bad_value["key"] == key
    assert bad_key["key"] == b'{"id": 1}' and bad_key["value"] == good[2]
    for rec, offset, stage in ((bad_value, 1, "VALUE_CONVERTER"), (bad_key, 3, "KEY_CONVERTER")):
        h = {k: (v.decode() if v is not None else None) for k, v in rec["headers"]}
        assert h["__connect.errors.topic"] == topic
        assert h["__connect.errors.partition"] == "0"
        assert h["__connect.errors.offset"] == str(offset)
        assert h["__connect.errors.connector.name"] == s.name
        assert h["__connect.errors.task.id"] == "0"
        assert h["__connect.errors.stage"] == stage
        assert h["__connect.errors.class.name"] == "org.apache.kafka.connect.json.JsonConverter"
        assert h["__connect.errors.exception.class.name"] == "org.apache.kafka.connect.errors.DataException"
        assert h["__connect.errors.exception.message"]
        assert "DataException" in h["__connect.errors.exception.stacktrace"]
    assert ("orig", b"h1") in bad_value["headers"]  # the original headers travel along
    assert 'schemas.enable requires "schema" and "payload"' in dict(bad_key["headers"])[
        "__connect.errors.exception.message"].decode()
    # The single test broker: the default replication factor 3 was lowered, with a warning.
    assert "errors.deadletterqueue.topic.replication.factor=3 but the cluster has 1 broker" in log_text(s)
    # errors.log.enable with messages: topic/partition/offset and the record's text.
    assert re.search(rf"skipping record topic={re.escape(topic)} partition=0 offset=1 stage=VALUE_CONVERTER.*"
                     r'value="\{\\"schema\\": \{\}, \\"payload\\": "', log_text(s))
    # The pipeline goes on after the bad records.
    produce_many(topic, [(0, key, schema_env({"n": 99}))])
    ev = s.wait_events(4)
    assert ev[3]["value"] == {"schema": {"type": "struct", "optional": False}, "payload": {"n": 99}}
    assert s.stop() == 0
    assert committed("connect-" + s.name, topic, 1) == {0: 6}  # the skipped records are committed too


def test_tolerance_none_stops_at_the_bad_record(ksluice, kafka):
    topic = kafka.create_topic(kafka.topic("in"))
    produce_many(topic, [(0, None, b'{"schema": {}, "payload": 1}'), (0, None, b"not json"),
                         (0, None, b'{"schema": {}, "payload": 2}')])
    s = ksluice(topic).start()
    rc = s.proc.wait(60)
    assert rc != 0
    log = log_text(s)
    assert f"topic={topic} partition=0 offset=1" in log and "VALUE_CONVERTER" in log
    assert "errors.tolerance" in log
    # The group never moves past the bad record: a restart meets it again.
    assert committed("connect-" + s.name, topic, 1)[0] <= 1
    assert all(e["value"] != {"schema": {}, "payload": 2} for e in s.events())


def test_commit_follows_the_sink_and_kill9_loses_nothing(ksluice, kafka):
    parts, per_part = 3, 50000 // 3 + 1
    topic = kafka.create_topic(kafka.topic("big"), partitions=parts)
    all_recs = [(p, str(i).encode(), json.dumps({"p": p, "i": i}).encode()) for i in range(per_part)
                for p in range(parts)]
    first = 5000
    produce_many(topic, all_recs[:first])
    cfg = {"key.converter": "string", "value.converter.schemas.enable": "false", "max.batch.size": "500", **SESSION}
    s = ksluice(topic, **cfg).start()
    group = "connect-" + s.name

    def trickle():
        """The rest in small steps, so that the kill below lands while records still stream in."""
        p = producer()
        for i in range(first, len(all_recs), 1000):
            produce_many(topic, all_recs[i:i + 1000], p)
            time.sleep(0.05)

    rest = threading.Thread(target=trickle)
    rest.start()

    def check_committed_within_file():
        """Everything below each committed offset is in the file (offset == i: one producer, no gaps)."""
        c = committed(group, topic, parts)
        have = {(e["value"]["p"], e["value"]["i"]) for e in lines(s.out)}  # read after the offsets
        missing = [(p, i) for p in range(parts) for i in range(c[p]) if (p, i) not in have]
        assert not missing, f"committed {c} but {len(missing)} of them not in the file, e.g. {missing[:5]}"
        return sum(c.values())

    samples = []
    while len(lines(s.out)) < len(all_recs) // 2:
        assert s.proc.poll() is None, log_text(s)[-3000:]
        samples.append(check_committed_within_file())
        time.sleep(0.1)
    s.kill9()
    samples.append(check_committed_within_file())
    assert samples[-1] > 0  # commits did happen before the kill
    rest.join()
    s.start()
    want = {(p, i) for p in range(parts) for i in range(per_part)}
    wait_until(lambda: want <= {(e["value"]["p"], e["value"]["i"]) for e in lines(s.out)}, timeout=180,
               what="every produced record in the file")
    assert s.stop() == 0
    assert committed(group, topic, parts) == {p: per_part for p in range(parts)}
    check_committed_within_file()


def test_prefetch_refilled_as_the_source_reads(ksluice, kafka):
    """librdkafka 2.0 stops fetching once its prefetch queue holds queued.max.messages.kbytes and, left alone,
    looks again only after its broker thread's one-second sleep: one bound per second. The source's waker
    (kclient.h) asks the partition's leader for its watermarks each half bound read, which wakes that thread.
    With a 256 KiB bound and 12 MiB in the topic, librdkafka's own fetch log shows the queue refilled well
    within that second, and every record arrives once, in order."""
    topic = kafka.create_topic(kafka.topic("prefetch"))
    n = 1536
    values = [(f"{i:06d}" + "x" * 8186).encode() for i in range(n)]
    produce_many(topic, [(0, str(i).encode(), v) for i, v in enumerate(values)])
    s = ksluice(topic, **{"key.converter": "string", "value.converter": "string",
                          "consumer.override.queued.max.messages.kbytes": "256",
                          "consumer.override.debug": "fetch", "log.level": "debug"}).start()
    ev = s.wait_events(n, timeout=120)
    assert [e["value"][:6] for e in ev] == [f"{i:06d}" for i in range(n)]
    assert s.stop() == 0
    stamp = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z .*Topic " + re.escape(topic) + r" \[0\].* is "
    full, gaps = None, []
    for m in re.finditer(stamp + r"(not fetchable: queued\.max\.messages\.kbytes|fetchable)", log_text(s)):
        t = datetime.datetime.fromisoformat(m[1]).timestamp()
        if m[2] != "fetchable":
            full = t
        elif full is not None:
            gaps.append(t - full)
            full = None
    assert len(gaps) >= 5, f"the 256 KiB bound was reached {len(gaps)} times: {log_text(s)[-3000:]}"
    gaps.sort()
    assert gaps[len(gaps) // 2] < 0.5, f"refilled after {gaps} s: the broker thread slept out its second"


def test_rebalance_between_two_processes(tmp_path, ksluice, kafka):
    parts = 4
    topic = kafka.create_topic(kafka.topic("shared"), partitions=parts)
    group = "it-group-" + uuid.uuid4().hex[:8]
    cfg = {"group.id": group, "key.converter": "string", "value.converter.schemas.enable": "false",
           "max.batch.size": "200", **SESSION}
    seq = [0] * parts

    def produce_round(n):
        recs = []
        for _ in range(n):
            for p in range(parts):
                recs.append((p, str(p).encode(), json.dumps({"p": p, "i": seq[p]}).encode()))
                seq[p] += 1
        produce_many(topic, recs)

    produce_round(500)
    a = ksluice(topic, name="ks-a", **cfg).start()
    a.wait_events(1000, timeout=60)
    b = ksluice(topic, name="ks-b", **cfg).start()
    # Keep producing until the group has rebalanced and B gets records of its own.
    deadline = time.time() + 120
    while not b.events():
        assert time.time() < deadline, "B never got a partition:\n" + log_text(b)[-3000:]
        assert a.proc.poll() is None and b.proc.poll() is None
        produce_round(50)
        time.sleep(0.3)
    produce_round(200)
    want = {(p, i) for p in range(parts) for i in range(seq[p])}

    def union():
        return {(e["value"]["p"], e["value"]["i"]) for s in (a, b) for e in s.events()}

    wait_until(lambda: want <= union(), timeout=120, what="every record in one of the two files")
    assert "revoked group=" in log_text(a) and "assigned group=" in log_text(b)
    for s in (a, b):
        assert s.events(), f"{s.name} wrote nothing"
        for p in range(parts):
            got = [e["value"]["i"] for e in s.events() if e["value"]["p"] == p]
            # A partition that comes back is read again from the group's offset (at-least-once):
            # order means that the first time each record appears, it is after those before it.
            first = list(dict.fromkeys(got))
            assert first == sorted(first), f"{s.name}: partition {p} out of order"
    assert a.stop() == 0 and b.stop() == 0
    assert committed(group, topic, parts) == {p: seq[p] for p in range(parts)}


@pytest.mark.parametrize("extra,names", [
    ({"topics.regex": "it-.*"}, ["topics", "topics.regex"]),
    ({"topics": ""}, ["topics", "topics.regex"]),
    ({"errors.tolerance": "some"}, ["errors.tolerance", "none, all"]),
    ({"value.converter": "avro"}, ["value.converter", "org.apache.kafka.connect.json.JsonConverter"]),
    ({"errors.deadletterqueue.topic.name": "t1"}, ["errors.deadletterqueue.topic.name", "t1"]),
    ({"consumer.override.enable.auto.commit": "true"}, ["consumer.override.enable.auto.commit"]),
])
def test_bad_config_fails_before_connecting(tmp_path, extra, names):
    # Port 1 has no broker: a source that tried to connect would fail differently (and only after a wait).
    s = KSluice(tmp_path, "t1,t2", **{"bootstrap.servers": "127.0.0.1:1"})
    s.config.update(extra)
    s.write_config()
    for cmd in ("run", "validate"):
        r = run_cli(cmd, str(s.cfg_path), timeout=30)
        out = r.stdout + r.stderr
        assert r.returncode != 0, out
        for n in names:
            assert n in out, out
        assert "no answer from the Kafka cluster" not in out and "connected bootstrap" not in out
