"""MongoDB source (connector.class=mongodb / MongoSourceConnector / Debezium's MongoDbConnector) against
mongo-java-server, into the file sink.

The test server differs from MongoDB (scripts/mongo/README.md); what that prevents here is tested on
MongoDB's documented event shapes in tests/unit/test_mongo_event.c instead:
- update events carry documentKey = the update spec and no updateDescription, a replacement arrives as an
  "update" whose documentKey is the new document, and no event has `ns` (the source then names the topic
  after the configured database.collection);
- no postBatchResumeToken: a stream that has seen no event has no token, so the "idle offset advance"
  (offset-only batches carrying the post-batch token while nothing matches) cannot happen here; the test
  checks what can: heartbeats carry the newest token and the stored offset is that token;
- a well-formed but unknown resume token is accepted silently, so ChangeStreamHistoryLost (286) and the
  policies fail/copy_existing/latest cannot be staged (unit-tested: test_error_policy); a malformed token
  gives error 17, which must stop the connector with a clear message whatever the policy;
- no database- or cluster-wide change streams, no pre-images, no invalidate.
"""
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from conftest import ROOT, Sluice, kafka_bootstrap, log_text, run_cli, start_run, wait_until

MK = "com.mongodb.kafka.connect.MongoSourceConnector"
DBZ = "io.debezium.connector.mongodb.MongoDbConnector"


class MSluice(Sluice):
    """A MongoDB-source connector run as a real process, writing to a file in dir."""

    def __init__(self, dirpath, mongo, coll, **config):
        self.dir = dirpath
        self.pg = None
        tag = uuid.uuid4().hex[:8]
        self.name = "ms-" + tag
        self.out = dirpath / f"events-{tag}.jsonl"
        self.log = dirpath / f"sluice-{tag}.log"
        self.config = {
            "connector.class": MK,
            "connection.uri": mongo.uri,
            "database": mongo.db_name,
            "collection": coll,
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

    def run(self):
        self.mark = self.log.stat().st_size if self.log.exists() else 0
        self.start()
        return self

    def wait_open(self, timeout=30):
        """Waits until this run opened its change stream (a write after this is captured)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "change stream open" in log_text(self, self.mark):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"sluice exited ({self.proc.returncode}):\n{log_text(self)[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"no change stream after {timeout}s:\n{log_text(self)[-3000:]}")

    def offset(self):
        """The stored offset (parsed JSON) of this connector, or None."""
        db = self.dir / self.config["offset.storage.file.filename"].split("/")[-1]
        if not db.exists():
            return None
        with sqlite3.connect(db) as c:
            rows = c.execute("SELECT offset FROM offsets WHERE connector = ?", (self.name,)).fetchall()
        return json.loads(rows[0][0]) if rows else None

    def records(self, topic=None):
        """Events of the file, optionally of one topic only (the runtime's own heartbeats excluded)."""
        return [e for e in self.events() if (topic is None or e["topic"] == topic)
                and not e["topic"].startswith("__debezium-heartbeat")]

    def wait_records(self, n, topic=None, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.records(topic)
            if len(r) >= n:
                return r
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"sluice exited ({self.proc.returncode}):\n{log_text(self)[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"got {len(self.records(topic))} records, wanted {n}:\n{log_text(self)[-3000:]}")


@pytest.fixture
def msluice(tmp_path, mongo):
    made = []

    def make(coll, **config):
        s = MSluice(tmp_path, mongo, coll, **{k.replace("_", "."): v for k, v in config.items()})
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


def topic_of(mongo, coll):
    return f"{mongo.db_name}.{coll}"


def token(e):
    return e["value"]["_id"]["_data"]


def test_crud_reach_the_file_in_order(mongo, msluice):
    coll = mongo.collection("crud")
    s = msluice("crud").run()
    s.wait_open()
    coll.insert_one({"_id": 1, "name": "a", "n": 1})
    coll.update_one({"_id": 1}, {"$set": {"name": "b"}})
    coll.replace_one({"_id": 1}, {"name": "c", "n": 3})
    coll.insert_one({"_id": 2, "name": "x"})
    coll.delete_one({"_id": 1})
    ev = s.wait_records(5)
    assert len(ev) == 5
    assert {e["topic"] for e in ev} == {topic_of(mongo, "crud")}
    vals = [e["value"] for e in ev]
    assert [v["operationType"] for v in vals] == ["insert", "update", "replace", "insert", "delete"]
    # MongoDB's shapes: an update's delta in updateDescription (no fullDocument without updateLookup), a
    # replacement's new document, the namespace of every event
    assert vals[1]["updateDescription"]["updatedFields"] == {"name": "b"} and "fullDocument" not in vals[1]
    assert vals[2]["fullDocument"] == {"_id": 1, "name": "c", "n": 3} and vals[2]["documentKey"] == {"_id": 1}
    assert all(v["ns"] == {"db": mongo.db_name, "coll": "crud"} for v in vals)
    # mongo-kafka 2.x's shape: the key is the event's documentKey (change.stream.document.key.as.key).
    for e in ev:
        assert e["key"] == e["value"]["documentKey"]
        assert set(e["value"]["_id"]) == {"_data"}
    tokens = [token(e) for e in ev]
    assert len(set(tokens)) == 5
    assert vals[0]["fullDocument"] == {"_id": 1, "name": "a", "n": 1}
    assert vals[0]["documentKey"] == {"_id": 1}
    assert vals[3]["fullDocument"] == {"_id": 2, "name": "x"}
    assert vals[4]["documentKey"] == {"_id": 1}
    assert "$timestamp" in vals[0]["clusterTime"]
    assert s.stop() == 0
    # A clean stop stores the last event's token, in mongo-kafka's offset shape.
    assert s.offset() == {"_id": json.dumps(ev[-1]["value"]["_id"])}


def test_connector_config_as_users_write_it(mongo, msluice):
    """A mongo-kafka source config as users write it: $match on insert/update/delete and a $project of the
    event (applied by the server to MongoDB-shaped events), updateLookup, topic prefix/separator/suffix;
    and the quick start's pipeline, whose $addFields key is unquoted (the Java driver's relaxed JSON)."""
    coll = mongo.collection("seed")
    pipeline = ('[{"$match": {"operationType": {"$in": ["insert", "update", "delete"]}}}, '
                '{"$project": {"_id": 1, "fullDocument": 1, "ns": 1, "documentKey": 1, "operationType": 1}}]')
    s = msluice("seed", pipeline=pipeline, change_stream_full_document="updateLookup", topic_prefix="pre",
                topic_separator="-", topic_suffix="suf").run()
    quick = msluice("seed", pipeline='[{"$match": {"operationType": "insert"}}, '
                                     '{$addFields : {"fullDocument.travel":"MongoDB Kafka Connector"}}]').run()
    s.wait_open(), quick.wait_open()
    coll.insert_one({"_id": 1, "status": "new"})
    coll.update_one({"_id": 1}, {"$set": {"status": "completed"}})
    s.wait_records(2)  # updateLookup reads the document when the event is read: before the next change
    coll.replace_one({"_id": 1}, {"status": "replaced"})  # not matched: no record
    coll.delete_one({"_id": 1})
    ev = s.wait_records(3)
    assert {e["topic"] for e in ev} == {f"pre-{mongo.db_name}-seed-suf"}
    vals = [e["value"] for e in ev]
    assert [v["operationType"] for v in vals] == ["insert", "update", "delete"]
    assert all(set(v) <= {"_id", "fullDocument", "ns", "documentKey", "operationType"} for v in vals)
    assert vals[1]["fullDocument"] == {"_id": 1, "status": "completed"}  # updateLookup: the whole document
    assert vals[1]["documentKey"] == {"_id": 1} and vals[2]["documentKey"] == {"_id": 1}
    (q,) = quick.wait_records(1)
    assert q["value"]["fullDocument"] == {"_id": 1, "status": "new", "travel": "MongoDB Kafka Connector"}
    time.sleep(0.5)
    assert len(s.records()) == 3 and len(quick.records()) == 1
    assert s.stop() == 0 and quick.stop() == 0


def test_formatters_and_types(mongo, msluice):
    from bson import ObjectId, Int64, Decimal128
    import datetime
    coll = mongo.collection("types")
    oid = ObjectId()
    when = datetime.datetime(2024, 1, 31, 12, 0, 0, 500000, tzinfo=datetime.timezone.utc)
    doc = {"_id": oid, "l": Int64(5), "d": Decimal128("1.10"), "t": when, "f": 2.5}
    s1 = msluice("types", output_json_formatter="SimplifiedJson").run()
    s2 = msluice("types", output_json_formatter="com.mongodb.kafka.connect.source.json.formatter.DefaultJson").run()
    s3 = msluice("types", output_json_formatter="ExtendedJson").run()
    for s in (s1, s2, s3):
        s.wait_open()
    coll.insert_one(doc)
    simp = s1.wait_records(1)[0]["value"]["fullDocument"]
    assert simp == {"_id": str(oid), "l": 5, "d": "1.10", "t": "2024-01-31T12:00:00.5Z", "f": 2.5}
    dflt = s2.wait_records(1)[0]["value"]["fullDocument"]
    assert dflt == {"_id": {"$oid": str(oid)}, "l": {"$numberLong": "5"}, "d": {"$numberDecimal": "1.10"},
                    "t": {"$date": 1706702400500}, "f": 2.5}
    ext = s3.wait_records(1)[0]["value"]["fullDocument"]
    assert ext["l"] == {"$numberLong": "5"} and ext["t"] == {"$date": {"$numberLong": "1706702400500"}}
    assert ext["f"] == {"$numberDouble": "2.5"}


def test_pipeline_filter_and_topic_naming(mongo, msluice):
    coll = mongo.collection("pipe")
    s = msluice("pipe", pipeline='[{"$match": {"operationType": "insert", "fullDocument.keep": true}}]',
                topic_prefix="pre", topic_suffix="suf", topic_separator="-").run()
    s.wait_open()
    coll.insert_one({"_id": 1, "keep": False})
    coll.insert_one({"_id": 2, "keep": True})
    coll.update_one({"_id": 2}, {"$set": {"x": 1}})
    coll.delete_one({"_id": 1})
    coll.insert_one({"_id": 3, "keep": True})
    ev = s.wait_records(2)
    time.sleep(1)  # anything the filter should have dropped would have arrived by now
    ev = s.records()
    assert [e["value"]["fullDocument"]["_id"] for e in ev] == [2, 3]
    assert {e["topic"] for e in ev} == {f"pre-{mongo.db_name}-pipe-suf"}


def test_namespace_map(mongo, msluice):
    coll = mongo.collection("mapped")
    s = msluice("mapped", topic_namespace_map=json.dumps({f"{mongo.db_name}.mapped": "orders-topic"})).run()
    s.wait_open()
    coll.insert_one({"_id": 1})
    assert s.wait_records(1)[0]["topic"] == "orders-topic"


def test_update_lookup_and_full_document_only(mongo, msluice):
    coll = mongo.collection("lookup")
    s = msluice("lookup", change_stream_full_document="updateLookup").run()
    s2 = msluice("lookup", change_stream_full_document="updateLookup", publish_full_document_only="true",
                 publish_full_document_only_tombstone_on_delete="true").run()
    s.wait_open()
    s2.wait_open()
    coll.insert_one({"_id": 7, "a": 1, "b": "x"})
    coll.update_one({"_id": 7}, {"$set": {"a": 2}})
    # The lookup happens when the event is read: delete only once both connectors have it.
    ev = s.wait_records(2)
    s2.wait_records(2)
    coll.delete_one({"_id": 7})
    ev = s.wait_records(3)
    assert ev[1]["value"]["operationType"] == "update"
    assert ev[1]["value"]["fullDocument"] == {"_id": 7, "a": 2, "b": "x"}  # the whole document
    ev2 = s2.wait_records(3)
    # Keys are documentKey (the test server's update events carry the update spec there, see README).
    assert [e["key"] for e in ev2] == [e["value"]["documentKey"] for e in ev]
    assert ev2[0]["value"] == {"_id": 7, "a": 1, "b": "x"}
    assert ev2[1]["value"] == {"_id": 7, "a": 2, "b": "x"}
    assert ev2[2]["value"] is None  # tombstone on delete


def copied(records):
    """Records of copy_existing (value _id {"_id": <document _id>, "copyingData": true}, not a resume token)."""
    return [e for e in records if "copyingData" in e["value"]["_id"]]


@pytest.mark.parametrize("threads", ["1", "3"])
def test_copy_existing_resumes_after_kill9(mongo, msluice, threads):
    """kill -9 during the copy, with one cursor or three range readers: the stored progress is the end of the
    last chunk handed on; the next run reads from after it, and every document arrives."""
    coll = mongo.collection("copy")
    n = 6000
    coll.insert_many([{"_id": i, "v": "x" * 50} for i in range(n)])
    # The test server gives no resume token before the first event and no operationTime, so the stream
    # after a copy starts at the local clock minus 1 s: keep the inserts out of that window.
    time.sleep(2.2)
    s = msluice("copy", startup_mode="copy_existing", poll_max_batch_size="50", max_batch_size="50",
                max_queue_size="200", startup_mode_copy_existing_max_threads=threads)
    s.config["offset.flush.interval.ms"] = "50"
    s.write_config()
    s.run()
    wait_until(lambda: len(s.records()) >= 1500, 60, 0.01, "part of the copy")
    s.kill9()
    first = copied(s.records())
    assert len(first) < n, "the copy finished before the kill; make it bigger"
    off = s.offset()
    assert off and off.get("copy") == "true" and off["copy_ns"] == f"{mongo.db_name}.copy"
    last = json.loads(off["copy_last_id"])["_id"]["$numberInt"]
    s.outs = [s.out]
    s.out = s.dir / "events-run2.jsonl"
    s.config["sink.file.path"] = str(s.out)
    s.run()
    s.wait_open(timeout=60)
    second = copied(s.records())
    ids2 = [e["value"]["fullDocument"]["_id"] for e in second]
    # The second run resumed after the stored chunk: nothing at or before it is read again.
    assert ids2 and min(ids2) == int(last) + 1
    ids1 = {e["value"]["fullDocument"]["_id"] for e in first}
    assert ids1 | set(ids2) == {d["_id"] for d in coll.find({}, {"_id": 1})}
    for e in first[:3] + second[:3]:
        assert e["value"]["operationType"] == "insert" and e["value"]["ns"] == {"db": mongo.db_name, "coll": "copy"}
        assert e["key"] == {"_id": e["value"]["fullDocument"]["_id"]}  # documentKey
        assert e["value"]["_id"] == {"_id": e["value"]["fullDocument"]["_id"], "copyingData": True}
    # After the copy: the stream, from the point taken before the copy began.
    coll.insert_one({"_id": "after"})
    wait_until(lambda: any(e["value"]["fullDocument"] == {"_id": "after"} for e in s.records()), 30, 0.05,
               "the change after the copy")
    assert s.stop() == 0
    assert "copy" not in s.offset()


def copy_to_end(s):
    s.run()
    wait_until(lambda: "copy_existing finished" in log_text(s, s.mark), 60, 0.05, "the end of the copy")
    assert s.stop() == 0
    return copied(s.records())


def test_copy_existing_in_ranges_gives_the_events_of_one_cursor(mongo, msluice):
    """copy.existing.max.threads=3 reads ranges of poll.max.batch.size documents ahead, each reader with a client
    of its own; the events, their order and the stored progress equal the one-cursor copy's. The _ids mix types
    (numbers of four kinds, strings, ObjectIds, dates, booleans, documents, null): a range ends in one type and the
    next one starts in another, which a bare $gt would skip (comparisons match within a type only)."""
    from bson import Decimal128, Int64, ObjectId
    coll = mongo.collection("mixed")
    ids = [i for i in range(700)] + [Int64(10_000 + i) for i in range(50)] + [i + 0.5 for i in range(40)] + \
          [Decimal128(f"{900 + i}.25") for i in range(10)] + [f"s{i:04d}" for i in range(230)] + \
          [ObjectId() for _ in range(120)] + [datetime(2020, 1, 1 + i % 28, i % 24) for i in range(60)] + \
          [True, False, None, {"a": 1}, {"a": 2, "b": [1]}]
    coll.insert_many([{"_id": v, "k": f"doc{i}", "pad": "p" * (i % 300)} for i, v in enumerate(ids)])
    order = [d["k"] for d in coll.find({}, {"k": 1}).sort("_id", 1)]
    time.sleep(2.2)  # the stream after the copy starts at the clock minus 1 s on this server
    got = {}
    for threads in ("1", "3"):
        s = msluice("mixed", startup_mode="copy_existing", poll_max_batch_size="64",
                    startup_mode_copy_existing_max_threads=threads)
        ev = copy_to_end(s)
        got[threads] = ([e["value"]["fullDocument"]["k"] for e in ev], [e["key"] for e in ev])
        if threads == "3":
            assert "(in ranges, by several readers)" in log_text(s), log_text(s)[-2000:]
    assert got["1"][0] == order, (len(got["1"][0]), len(order))
    assert got["3"] == got["1"]


def test_copy_existing_in_ranges_with_a_pipeline(mongo, msluice):
    """The copy pipeline runs on each range after its bounds: documents it drops do not move the ranges."""
    coll = mongo.collection("rpipe")
    coll.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(1000)])
    time.sleep(2.2)
    s = msluice("rpipe", startup_mode="copy_existing", poll_max_batch_size="30",
                startup_mode_copy_existing_max_threads="2",
                startup_mode_copy_existing_pipeline=json.dumps([{"$match": {"even": True}}]))
    ev = copy_to_end(s)
    assert [e["value"]["fullDocument"]["_id"] for e in ev] == list(range(0, 1000, 2))


def test_restart_resumes_from_token(mongo, msluice):
    coll = mongo.collection("resume")
    s = msluice("resume").run()
    s.wait_open()
    coll.insert_many([{"_id": i} for i in range(5)])
    s.wait_records(5)
    assert s.stop() == 0
    coll.insert_many([{"_id": i} for i in range(5, 10)])  # while stopped
    s.run()
    s.wait_open()
    ev = s.wait_records(10)
    time.sleep(0.5)
    ids = [e["value"]["fullDocument"]["_id"] for e in s.records()]
    assert ids == list(range(10))  # nothing lost, nothing twice after a clean stop
    assert "resumeAfter the stored token" in log_text(s, s.mark)
    # kill -9: what follows the stored offset is read again, nothing before it, nothing lost.
    coll.insert_many([{"_id": i} for i in range(10, 20)])
    s.wait_records(20)
    s.kill9()
    stored = json.loads(s.offset()["_id"])["_data"]
    count_before = len(s.records())
    s.run()
    s.wait_open()
    coll.insert_one({"_id": 20})
    wait_until(lambda: any(e["value"]["fullDocument"]["_id"] == 20 for e in s.records()), 30, 0.05, "id 20")
    again = s.records()[count_before:]
    assert all(token(e) > stored for e in again)  # the test server's tokens are hex timestamps: ordered
    assert {e["value"]["fullDocument"]["_id"] for e in s.records()} == set(range(21))


def test_heartbeat_carries_the_latest_token(mongo, msluice):
    coll = mongo.collection("hb")
    s = msluice("hb", heartbeat_interval_ms="300", heartbeat_topic_name="hb-topic").run()
    s.wait_open()
    coll.insert_one({"_id": 1})
    ev = s.wait_records(1, topic=topic_of(mongo, "hb"))
    hb = s.wait_records(1, topic="hb-topic")
    # mongo-kafka's heartbeat: key = the resume token as JSON text, value null.
    assert json.loads(hb[0]["key"]) == ev[0]["value"]["_id"]
    assert hb[0]["value"] is None
    time.sleep(1.0)
    assert len(s.records(topic="hb-topic")) == 1  # only when the token moved
    coll.insert_one({"_id": 2})
    ev = s.wait_records(2, topic=topic_of(mongo, "hb"))
    hb = s.wait_records(2, topic="hb-topic")
    assert json.loads(hb[1]["key"]) == ev[1]["value"]["_id"]
    wait_until(lambda: s.offset() and json.loads(s.offset()["_id"]) == ev[1]["value"]["_id"], 10, 0.05,
               "the offset at the newest token")
    assert s.offset().get("HEARTBEAT") == "true"
    # mongo-kafka's heartbeats replace Debezium's: the runtime wrote none of its own
    lines = [json.loads(x) for x in Path(s.out).read_text().splitlines()] if Path(s.out).exists() else []
    assert not [e for e in lines if e["topic"].startswith("__debezium-heartbeat")], lines[-3:]


def test_malformed_token_follows_the_history_lost_policy(mongo, msluice):
    """A stored token the server cannot read: InvalidResumeToken (260), which mongo-kafka counts with the lost
    resume points: policy fail stops naming the token and the code, latest goes on with new changes."""
    coll = mongo.collection("lost")
    for policy in ("fail", "latest"):
        s = msluice("lost", change_stream_history_lost_policy=policy).run()
        s.wait_open()
        coll.insert_one({"_id": policy})
        s.wait_records(1)
        assert s.stop() == 0
        db = s.dir / s.config["offset.storage.file.filename"].split("/")[-1]
        with sqlite3.connect(db) as c:
            c.execute("UPDATE offsets SET offset = ? WHERE connector = ?",
                      (json.dumps({"_id": json.dumps({"_data": "not-a-token"})}), s.name))
        s.run()
        if policy == "fail":
            assert s.proc.wait(30) == 1
            text = log_text(s, s.mark)
            assert "not-a-token" in text and "code 260" in text and "history.lost.policy" in text, text[-2000:]
        else:
            s.wait_open()
            coll.insert_one({"_id": "after"})
            assert [e["value"]["documentKey"]["_id"] for e in s.wait_records(2)] == ["latest", "after"]
            assert s.stop() == 0


def test_token_older_than_the_oplog_follows_the_history_lost_policy(mongo, msluice):
    """The stored token's history is gone from the oplog: ChangeStreamHistoryLost (286). fail stops and says
    what to do; copy_existing copies the collection again (mongo-kafka's copyingData records), then streams."""
    coll = mongo.collection("unknown")
    s = msluice("unknown").run()
    s.wait_open()
    coll.insert_many([{"_id": i} for i in range(3)])
    s.wait_records(3)
    assert s.stop() == 0
    mongo.client.admin.command("sluiceTrimOplog", 1, ns=coll.full_name)  # (the test server's: forget it)
    s.run()
    assert s.proc.wait(30) == 1
    text = log_text(s, s.mark)
    assert "no longer in the oplog" in text and "code 286" in text and "copy_existing" in text, text[-2000:]
    s.config["change.stream.history.lost.policy"] = "copy_existing"
    s.run()
    s.wait_open()
    coll.insert_one({"_id": 3})
    ev = s.wait_records(3 + 3 + 1)[3:]
    assert [e["value"]["_id"].get("copyingData") for e in ev[:3]] == [True] * 3
    assert sorted(e["value"]["documentKey"]["_id"] for e in ev[:3]) == [0, 1, 2]
    assert ev[3]["value"]["operationType"] == "insert" and ev[3]["value"]["documentKey"] == {"_id": 3}
    assert s.proc.poll() is None
    assert s.stop() == 0


class Proxy:
    """A TCP proxy to the test server whose connections the test can cut (a lost server, without stopping
    the shared server)."""

    def __init__(self, port):
        self.target = port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if not self.up.is_set():
                c.close()
                continue
            u = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        """Refuses new connections and breaks the open ones."""
        self.up.clear()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.conns = []

    def close(self):
        self.cut()
        self.lsock.close()


def test_lost_connection_retries_and_loses_nothing(mongo, msluice):
    coll = mongo.collection("lostconn")
    proxy = Proxy(int(os.environ.get("SLUICE_MONGO_PORT", "27117")))
    try:
        s = msluice("lostconn", retriable_restart_connector_wait_ms="500")
        s.config["connection.uri"] = (f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true"
                                      "&serverSelectionTimeoutMS=1000&connectTimeoutMS=1000")
        s.write_config()
        s.run()
        s.wait_open()
        coll.insert_many([{"_id": i} for i in range(3)])
        s.wait_records(3)
        proxy.cut()
        coll.insert_many([{"_id": i} for i in range(3, 6)])  # while sluice cannot reach the server
        wait_until(lambda: "source connection lost, reconnecting" in log_text(s, s.mark), 30, 0.1,
                   "the runtime's reconnect (SL_RETRY from the source)")
        assert s.proc.poll() is None  # not failed: retrying
        proxy.up.set()
        ev = s.wait_records(6, timeout=60)
        assert [e["value"]["fullDocument"]["_id"] for e in ev] == list(range(6))
        assert s.proc.poll() is None
    finally:
        proxy.close()


def test_debezium_envelope(mongo, msluice):
    coll = mongo.collection("dbz")
    coll.insert_one({"_id": 1, "a": "old"})
    time.sleep(2.2)  # out of the window the stream after the copy replays on this server (see above)
    s = msluice("dbz", connector_class=DBZ, topic_prefix="srv", startup_mode="copy_existing",
                change_stream_full_document="updateLookup").run()
    s.wait_open()
    coll.insert_one({"_id": 2, "a": "x"})
    coll.update_one({"_id": 2}, {"$set": {"a": "y"}})
    coll.delete_one({"_id": 1})
    ev = s.wait_records(4)
    assert {e["topic"] for e in ev} == {f"srv.{mongo.db_name}.dbz"}
    vals = [e["value"] for e in ev]
    assert [v["op"] for v in vals] == ["r", "c", "u", "d"]
    assert [e["key"] for e in ev] == [{"id": "1"}, {"id": "2"}, {"id": "2"}, {"id": "1"}]
    assert json.loads(vals[0]["after"]) == {"_id": {"$numberInt": "1"}, "a": "old"}
    assert vals[0]["source"]["snapshot"] == "true"
    assert json.loads(vals[1]["after"]) == {"_id": {"$numberInt": "2"}, "a": "x"}
    assert json.loads(vals[2]["after"]) == {"_id": {"$numberInt": "2"}, "a": "y"}
    assert vals[3]["after"] is None
    src = vals[1]["source"]
    assert src["connector"] == "mongodb" and src["name"] == "srv" and src["rs"] == "rs0"
    assert src["db"] == mongo.db_name and src["collection"] == "dbz" and src["snapshot"] == "false"
    assert isinstance(src["ord"], int) and src["ts_ms"] > 0
    assert vals[0]["source"]["ts_ms"] > 0 and vals[0]["ts_ms"] > 0


@pytest.mark.parametrize("key,value,want", [
    ("startup.mode", "earliest", "startup.mode"),
    ("output.format.value", "bson", "output.format.value: 'bson' writes raw BSON bytes, which only the Kafka sink"),
    ("output.schema.value", '{"type": "record", "name": "v", "fields": [{"name": "e", "type": {"type": "enum", '
     '"name": "E", "symbols": ["A"]}}]}', "output.schema.value: Field 'e' is invalid. Unsupported Avro schema "
     "type: 'ENUM'"),
    ("output.schema.key", '"string"', "output.schema.key: Only Record schemas are supported at the top-level."),
    ("output.json.formatter", "Pretty", "output.json.formatter"),
    ("pipeline", '{"$match": {}}', "pipeline"),
    ("change.stream.full.document", "always", "change.stream.full.document"),
    ("change.stream.history.lost.policy", "ignore", "change.stream.history.lost.policy"),
    ("topic.namespace.map", '{"a": 1}', "topic.namespace.map"),
    ("startup.mode.timestamp.start.at.operation.time", "yesterday", "start.at.operation.time"),
])
def test_bad_config_names_the_key(mongo, msluice, key, value, want):
    s = msluice("bad")
    s.config[key] = value
    if key.startswith("startup.mode.timestamp"):
        s.config["startup.mode"] = "timestamp"
    s.config["connection.uri"] = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"  # never reached
    s.write_config()
    r = run_cli("validate", str(s.cfg_path), timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert want in r.stderr
    if key in ("startup.mode", "change.stream.history.lost.policy"):
        assert "allowed:" in r.stderr


def test_mongo_to_mongo_through_kafka(mongo, msluice, kafka, tmp_path):
    """MongoDB -> sluice (this source, Kafka sink) -> Kafka -> sluice (MongoSinkConnector) -> MongoDB."""
    src = mongo.collection("m2m")
    src.insert_many([{"_id": i, "n": i} for i in range(3)])
    topic = kafka.create_topic(kafka.topic("m2m"))
    time.sleep(2.2)  # out of the window the stream after the copy replays on this server (see above)
    # updateLookup: the test server's update events carry no updateDescription and no usable documentKey.
    s = msluice("m2m", startup_mode="copy_existing", topic_namespace_map=json.dumps({"*": topic}),
                change_stream_full_document="updateLookup")
    s.config.update({"sink.type": "kafka", "bootstrap.servers": kafka_bootstrap()})
    s.config.pop("sink.file.path")
    s.write_config()
    s.run()
    target_db = mongo.db_name + "_copy"
    sink = msluice("x")
    sink.config = {"connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "topics": topic,
                   "bootstrap.servers": kafka_bootstrap(), "connection.uri": mongo.uri, "database": target_db,
                   "collection": "m2m", "key.converter.schemas.enable": "false",
                   "value.converter.schemas.enable": "false",
                   "offset.storage.file.filename": str(tmp_path / "sink-offsets.db"),
                   "offset.flush.interval.ms": "100", "poll.interval.ms": "100"}
    sink.write_config()
    sink.run()
    dst = mongo.client[target_db]["m2m"]
    try:
        s.wait_open()
        src.insert_one({"_id": 10, "n": 10})
        src.update_one({"_id": 1}, {"$set": {"n": 100}})
        src.replace_one({"_id": 2}, {"n": 200})
        src.delete_one({"_id": 0})
        want = {1: {"_id": 1, "n": 100}, 2: {"_id": 2, "n": 200}, 10: {"_id": 10, "n": 10}}

        def same():
            for p in (s, sink):
                if p.proc.poll() is not None:
                    raise AssertionError(f"sluice exited ({p.proc.returncode}):\n{log_text(p)[-3000:]}")
            return {d["_id"]: d for d in dst.find()} == want
        try:
            wait_until(same, 60, 0.2, "target == source")
        except AssertionError:
            raise AssertionError(f"target {list(dst.find())} != {want}\n{log_text(sink)[-2000:]}")
        assert {d["_id"]: d for d in src.find()} == want
    finally:
        mongo.client.drop_database(target_db)


def test_mongo_to_mongo_one_connector(mongo, msluice):
    """MongoDB -> MongoDB in one connector: the sink's keys under sink.mongodb.* win over the source's keys
    of the same name (database here; connection.uri and collection fall back to the source's)."""
    src = mongo.collection("m1")
    src.insert_many([{"_id": i, "n": i} for i in range(3)])
    time.sleep(2.2)  # out of the window the stream after the copy replays on this server (see above)
    target_db = mongo.db_name + "_one"
    s = msluice("m1", startup_mode="copy_existing", change_stream_full_document="updateLookup")
    s.config.pop("sink.file.path")
    s.config.update({"sink.type": "mongodb", "sink.mongodb.database": target_db})
    s.write_config()
    s.run()
    dst = mongo.client[target_db]["m1"]
    try:
        s.wait_open()
        src.insert_one({"_id": 10, "n": 10})
        src.update_one({"_id": 1}, {"$set": {"n": 100}})
        src.delete_one({"_id": 0})
        want = {1: {"_id": 1, "n": 100}, 2: {"_id": 2, "n": 2}, 10: {"_id": 10, "n": 10}}

        def same():
            if s.proc.poll() is not None:
                raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s)[-3000:]}")
            return {d["_id"]: d for d in dst.find()} == want
        try:
            wait_until(same, 60, 0.2, "target == source")
        except AssertionError:
            raise AssertionError(f"target {list(dst.find())} != {want}\n{log_text(s)[-2000:]}")
        assert {d["_id"]: d for d in src.find()} == want  # the source database is untouched by the sink
        assert s.stop() == 0
    finally:
        mongo.client.drop_database(target_db)


def test_bson_output_to_kafka(mongo, msluice, kafka):
    """output.format.key/value=bson: Kafka records hold raw BSON (mongo-kafka with its BSON output), exact types."""
    import bson  # pymongo's
    coll = mongo.collection("bsonout")
    topic = kafka.create_topic(kafka.topic("bsonout"))
    s = msluice("bsonout", output_format_key="bson", output_format_value="bson",
                topic_namespace_map=json.dumps({"*": topic}))
    s.config.update({"sink.type": "kafka", "bootstrap.servers": kafka_bootstrap()})
    s.config.pop("sink.file.path")
    s.write_config()
    s.run()
    s.wait_open()
    coll.insert_one({"_id": 1, "n": bson.Int64(5), "i": 7, "d": 1.5, "when": datetime(2024, 5, 6, 7, 8, 9)})
    coll.delete_one({"_id": 1})
    wait_until(lambda: len(kafka.consume_all(topic, timeout=5)) >= 2, 30, 0.5, "two BSON records")
    recs = kafka.consume_all(topic)
    ins, dele = (bson.decode(r["value"]) for r in recs[:2])
    assert ins["operationType"] == "insert" and dele["operationType"] == "delete"
    doc = ins["fullDocument"]
    assert doc["_id"] == 1 and doc["i"] == 7 and doc["d"] == 1.5
    assert isinstance(doc["n"], int) and doc["when"] == datetime(2024, 5, 6, 7, 8, 9)
    assert bson.decode(recs[0]["key"]) == {"_id": 1}  # documentKey
    assert s.stop() == 0


def test_bson_output_needs_the_kafka_sink(mongo, msluice):
    s = msluice("bsonbad", output_format_value="bson")  # file sink
    r = run_cli("validate", str(s.cfg_path), timeout=30)
    assert r.returncode == 2 and "output.format.value: 'bson' writes raw BSON bytes" in r.stderr, r.stderr


def test_key_is_document_key_or_resume_token(mongo, msluice):
    """change.stream.document.key.as.key (mongo-kafka 2.x, default true): key = documentKey, also for copied
    documents; false: {"_id": <the event's _id>} (the resume token, or the copy's {_id, copyingData})."""
    coll = mongo.collection("keys")
    coll.insert_one({"_id": "a", "n": 1})
    time.sleep(2.2)  # the copy's resume point is the clock minus 1 s on this server (see copy_existing)
    s1 = msluice("keys", startup_mode="copy_existing").run()
    s2 = msluice("keys", startup_mode="copy_existing", change_stream_document_key_as_key="false").run()
    s1.wait_open()
    s2.wait_open()
    s1.wait_records(1)
    s2.wait_records(1)
    coll.insert_one({"_id": "b"})
    coll.delete_one({"_id": "a"})
    ev1, ev2 = s1.wait_records(3), s2.wait_records(3)
    assert [e["key"] for e in ev1] == [{"_id": "a"}, {"_id": "b"}, {"_id": "a"}]
    assert ev2[0]["key"] == {"_id": {"_id": "a", "copyingData": True}} == {"_id": ev2[0]["value"]["_id"]}
    for e in ev2[1:]:
        assert e["key"] == {"_id": e["value"]["_id"]} and set(e["key"]["_id"]) == {"_data"}
    assert s1.stop() == 0 and s2.stop() == 0


CHANGE_STREAM_FIELDS = ["_id", "operationType", "fullDocumentBeforeChange", "fullDocument", "ns", "to", "documentKey",
                        "updateDescription", "clusterTime", "txnNumber", "lsid"]


def test_schema_output_default_schemas(mongo, msluice):
    """output.format.key/value=schema with mongo-kafka's default Avro schemas: JsonConverter's
    {"schema", "payload"} (schemas.enable defaults to true), the key a keySchema struct of the event's _id."""
    coll = mongo.collection("sch")
    s = msluice("sch", output_format_key="schema", output_format_value="schema").run()
    s.wait_open()
    coll.insert_one({"_id": 1, "n": 1})
    coll.update_one({"_id": 1}, {"$set": {"n": 2}})
    coll.delete_one({"_id": 1})
    ev = s.wait_records(3)
    vs = [e["value"]["schema"] for e in ev]
    assert all(v == vs[0] for v in vs)
    v = vs[0]
    assert v["type"] == "struct" and v["name"] == "ChangeStream" and v["optional"] is False
    assert [f["field"] for f in v["fields"]] == CHANGE_STREAM_FIELDS
    f = {x["field"]: x for x in v["fields"]}
    assert f["_id"] == {"type": "string", "optional": False, "field": "_id"}
    assert f["fullDocument"] == {"type": "string", "optional": True, "field": "fullDocument"}
    assert f["txnNumber"] == {"type": "int64", "optional": True, "field": "txnNumber"}
    assert f["ns"]["type"] == "struct" and f["ns"]["optional"] and f["ns"]["name"] == "ns"
    assert [(x["field"], x["type"], x["optional"]) for x in f["ns"]["fields"]] == [("db", "string", False),
                                                                                     ("coll", "string", True)]
    ud = {x["field"]: x for x in f["updateDescription"]["fields"]}
    assert ud["removedFields"] == {"type": "array", "items": {"type": "string", "optional": False},
                                   "optional": True, "field": "removedFields"}
    ta = ud["truncatedArrays"]["items"]
    assert ta["name"] == "truncatedArray" and [x["type"] for x in ta["fields"]] == ["string", "int32"]
    ins, upd, dele = (e["value"]["payload"] for e in ev)
    assert list(ins) == CHANGE_STREAM_FIELDS
    assert ins["operationType"] == "insert" and json.loads(ins["fullDocument"]) == {"_id": 1, "n": 1}
    assert json.loads(ins["documentKey"]) == {"_id": 1} and set(json.loads(ins["_id"])) == {"_data"}
    assert "$timestamp" in json.loads(ins["clusterTime"])
    assert ins["txnNumber"] is None and ins["lsid"] is None and ins["updateDescription"] is None
    assert upd["operationType"] == "update" and dele["operationType"] == "delete"
    assert dele["fullDocument"] is None
    for e in ev:
        assert e["key"]["schema"] == {"type": "struct", "fields": [{"type": "string", "optional": False,
                                                                     "field": "_id"}],
                                      "optional": False, "name": "keySchema"}
        assert e["key"]["payload"] == {"_id": e["value"]["payload"]["_id"]}
    assert s.stop() == 0
    # Without schemas (JsonConverter schemas.enable=false): the struct alone.
    s2 = msluice("sch", output_format_key="schema", output_format_value="schema",
                 key_converter_schemas_enable="false", value_converter_schemas_enable="false").run()
    s2.wait_open()
    coll.insert_one({"_id": 2})
    e = s2.wait_records(1)[0]
    assert list(e["value"]) == CHANGE_STREAM_FIELDS and json.loads(e["value"]["fullDocument"]) == {"_id": 2}
    assert e["key"] == {"_id": e["value"]["_id"]}
    assert s2.stop() == 0


def test_schema_output_inferred(mongo, msluice, kafka, tmp_path):
    """output.schema.infer.value=true (+ publish.full.document.only): the document's own schema, as mongo-kafka
    infers it (_id first, then the fields by name; Decimal128 -> Decimal, dates -> Timestamp); through Kafka
    (JsonConverter with schemas) a MongoSinkConnector writes the same BSON types back."""
    from datetime import datetime
    from bson import Decimal128, Int64
    from test_kafka_source import KSluice
    coll = mongo.collection("infer")
    topic = kafka.create_topic(kafka.topic("infer"))
    s = msluice("infer", output_format_value="schema", output_schema_infer_value="true",
                publish_full_document_only="true", topic_namespace_map=json.dumps({"*": topic}))
    s.config.update({"sink.type": "kafka", "bootstrap.servers": kafka_bootstrap()})
    s.config.pop("sink.file.path")
    s.write_config()
    s.run()
    s.wait_open()
    doc = {"_id": 1, "s": "x", "n": Int64(5), "i": 7, "f": 1.5, "d": Decimal128("1.10"),
           "when": datetime(2024, 5, 6, 7, 8, 9), "arr": [1, 2], "sub": {"a": "b"}, "nil": None}
    coll.insert_one(doc)
    wait_until(lambda: len(kafka.consume_all(topic, timeout=5)) >= 1, 30, 0.5, "the record in Kafka")
    rec = kafka.consume_all(topic)[0]
    v = json.loads(rec["value"])
    sch = v["schema"]
    assert sch["name"] == "default" and sch["optional"] is False
    assert [f["field"] for f in sch["fields"]] == ["_id", "arr", "d", "f", "i", "n", "nil", "s", "sub", "when"]
    f = {x["field"]: x for x in sch["fields"]}
    assert f["_id"]["type"] == "int32" and f["n"]["type"] == "int64" and f["f"]["type"] == "double"
    assert f["d"] == {"type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
                      "version": 1, "parameters": {"scale": "2"}, "field": "d"}
    assert f["when"] == {"type": "int64", "optional": True, "name": "org.apache.kafka.connect.data.Timestamp",
                         "version": 1, "field": "when"}
    assert f["arr"] == {"type": "array", "items": {"type": "int32", "optional": True}, "optional": True,
                        "name": "arr", "field": "arr"}
    assert f["sub"]["type"] == "struct" and f["sub"]["name"] == "sub" and f["nil"]["type"] == "string"
    assert v["payload"] == {"_id": 1, "arr": [1, 2], "d": "bg==", "f": 1.5, "i": 7, "n": 5, "nil": None, "s": "x",
                            "sub": {"a": "b"}, "when": 1714979289000}
    assert s.stop() == 0
    d = tmp_path / "k"
    d.mkdir()
    k = KSluice(d, topic, **{"connector.class": "com.mongodb.kafka.connect.MongoSinkConnector",
                             "connection.uri": mongo.uri, "database": mongo.db_name, "collection": "infer_copy",
                             "key.converter.schemas.enable": "false"})
    k.config.pop("sink.type")
    k.config.pop("sink.file.path")
    try:
        start_run(k)
        out = mongo.collection("infer_copy")
        wait_until(lambda: out.count_documents({}) == 1, 30, 0.1, "the document copied back")
        got = out.find_one({"_id": 1})
        for key in doc:
            assert got[key] == doc[key] and type(got[key]) is type(doc[key]), (key, got[key], doc[key])
        assert k.stop() == 0
    finally:
        k.cleanup()


def test_mongo_to_mongo_through_kafka_keeps_types(mongo, msluice, kafka, tmp_path):
    """With StringConverter on the sink side (mongo-kafka's StringRecordConverter) the JSON text is read as
    extended JSON: Int32 stays Int32, Int64, Decimal128, dates and ObjectIds survive MongoDB -> Kafka ->
    MongoDB (with JsonConverter and schemas off every integer would be an Int64, as in mongo-kafka)."""
    from bson import Decimal128, Int64, ObjectId
    src = mongo.collection("m2mt")
    topic = kafka.create_topic(kafka.topic("m2mt"))
    s = msluice("m2mt", topic_namespace_map=json.dumps({"*": topic}))
    s.config.update({"sink.type": "kafka", "bootstrap.servers": kafka_bootstrap()})
    s.config.pop("sink.file.path")
    s.write_config()
    s.run()
    target_db = mongo.db_name + "_typed"
    sink = msluice("x")
    conv = "org.apache.kafka.connect.storage.StringConverter"
    sink.config = {"connector.class": "com.mongodb.kafka.connect.MongoSinkConnector", "topics": topic,
                   "bootstrap.servers": kafka_bootstrap(), "connection.uri": mongo.uri, "database": target_db,
                   "collection": "m2mt", "key.converter": conv, "value.converter": conv,
                   "offset.storage.file.filename": str(tmp_path / "sink-typed.db"),
                   "offset.flush.interval.ms": "100", "poll.interval.ms": "100"}
    sink.write_config()
    sink.run()
    dst = mongo.client[target_db]["m2mt"]
    doc = {"_id": ObjectId("5f0000000000000000000009"), "i": 7, "l": Int64(5), "d": Decimal128("1.10"),
           "t": datetime(2024, 5, 6, 7, 8, 9), "f": 2.5, "sub": {"a": [1, Int64(2)]}}
    try:
        s.wait_open()
        src.insert_one(doc)
        wait_until(lambda: dst.count_documents({}) == 1, 60, 0.2, "the document in the target")
        got = dst.find_one()
        for k, v in doc.items():
            assert got[k] == v and type(got[k]) is type(v), (k, got[k], v)
        assert type(got["sub"]["a"][0]) is int and type(got["sub"]["a"][1]) is Int64
    finally:
        mongo.client.drop_database(target_db)
