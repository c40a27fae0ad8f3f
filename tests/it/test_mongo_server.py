"""The MongoDB test server's change streams, through pymongo's own `watch()`, against the event shapes of
MongoDB's documentation (https://www.mongodb.com/docs/manual/reference/change-events/).

The server is scripts/mongo/SluiceMongo.java + SluiceEvents.java (mongo-java-server with MongoDB-shaped change
streams), started by `scripts/services.sh start mongo`; the port comes from SLUICE_MONGO_PORT (default 27117),
so the tests can run against a server started by hand on another port. Every test works in its own database
and never trims more than its own collections' history, so the server can be shared.

Fixtures: `shape(event)` replaces the values that vary (resume token, clusterTime, wallTime) by their type, so
an event can be compared whole with the documented shape.
"""
import datetime
import os
import time
import uuid

import pytest

pymongo = pytest.importorskip("pymongo")
from bson import Timestamp  # noqa: E402
from pymongo.errors import OperationFailure  # noqa: E402

PORT = int(os.environ.get("SLUICE_MONGO_PORT", "27117"))
HOST = os.environ.get("SLUICE_MONGO_HOST", "127.0.0.1")

TOKEN = "<resume token>"
TS = "<Timestamp>"
DATE = "<date>"


@pytest.fixture(scope="module")
def client():
    c = pymongo.MongoClient(f"mongodb://{HOST}:{PORT}/?directConnection=true", serverSelectionTimeoutMS=10000)
    try:
        reply = c.admin.command("ping")
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"no MongoDB test server on {HOST}:{PORT} ({e}): run scripts/services.sh start mongo")
    if "operationTime" not in reply:
        pytest.fail(f"the server on {HOST}:{PORT} predates scripts/mongo/SluiceEvents.java (no operationTime in "
                    f"replies): run scripts/deps.sh, then scripts/services.sh stop mongo && scripts/services.sh "
                    f"start mongo")
    yield c
    c.close()


@pytest.fixture
def db(client):
    name = "srv" + uuid.uuid4().hex[:8]
    yield client[name]
    client.drop_database(name)


def shape(ev):
    """The event with its varying values replaced by placeholders (after checking their types)."""
    ev = dict(ev)
    assert set(ev["_id"]) == {"_data"} and isinstance(ev["_id"]["_data"], str), ev["_id"]
    ev["_id"] = TOKEN
    assert isinstance(ev["clusterTime"], Timestamp), ev
    ev["clusterTime"] = TS
    assert isinstance(ev["wallTime"], datetime.datetime), ev
    ev["wallTime"] = DATE
    return ev


def read(stream, n, timeout=10.0):
    """n events from the stream (fails after timeout seconds)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        ev = stream.try_next()
        if ev is not None:
            out.append(ev)
            continue
        if not stream.alive:
            break
        assert time.monotonic() < deadline, f"got {len(out)} of {n} events: {out}"
        time.sleep(0.02)
    return out


def read_all(stream, settle=0.3):
    """Every event available now (until nothing comes for `settle` seconds)."""
    out = []
    quiet = time.monotonic() + settle
    while time.monotonic() < quiet and stream.alive:
        ev = stream.try_next()
        if ev is None:
            time.sleep(0.02)
            continue
        out.append(ev)
        quiet = time.monotonic() + settle
    return out


def ops(evs):
    return [e["operationType"] for e in evs]


def ns(db, coll):
    return {"db": db.name, "coll": coll}


# ------------------------------------------------------------------------------------------------ replies

def test_replies_carry_operation_time_cluster_time_and_post_batch_resume_token(db):
    reply = db.command("insert", "c", documents=[{"_id": 1}])
    assert isinstance(reply["operationTime"], Timestamp)
    assert isinstance(reply["$clusterTime"]["clusterTime"], Timestamp)
    assert set(reply["$clusterTime"]["signature"]) == {"hash", "keyId"}

    agg = db.command("aggregate", "c", pipeline=[{"$changeStream": {}}], cursor={})
    assert isinstance(agg["operationTime"], Timestamp)
    cur = agg["cursor"]
    assert cur["firstBatch"] == [] and cur["id"] != 0 and cur["ns"] == f"{db.name}.c"
    assert set(cur["postBatchResumeToken"]) == {"_data"}

    db.c.insert_one({"_id": 2})
    more = db.command("getMore", cur["id"], collection="c")
    assert isinstance(more["operationTime"], Timestamp)
    assert [e["documentKey"] for e in more["cursor"]["nextBatch"]] == [{"_id": 2}]
    assert more["cursor"]["postBatchResumeToken"] == more["cursor"]["nextBatch"][-1]["_id"]
    db.command("killCursors", "c", cursors=[cur["id"]])


def test_pymongo_watch_works(db):
    with db.c.watch() as stream:
        assert stream.resume_token is not None  # postBatchResumeToken before any event
        db.c.insert_one({"_id": 1})
        (ev,) = read(stream, 1)
        assert ev["operationType"] == "insert"
        assert stream.resume_token == ev["_id"]


# ------------------------------------------------------------------------------------------------ event shapes

def test_insert_update_replace_delete_events_have_the_documented_shape(db):
    c = db.orders
    with c.watch() as stream:
        c.insert_one({"_id": 1, "status": "new", "legacy": True, "n": 1})
        c.update_one({"_id": 1}, {"$set": {"status": "completed"}, "$unset": {"legacy": ""}, "$inc": {"n": 1}})
        c.replace_one({"_id": 1}, {"status": "replaced"})
        c.delete_one({"_id": 1})
        evs = read(stream, 4)
    assert [shape(e) for e in evs] == [
        {"_id": TOKEN, "operationType": "insert", "clusterTime": TS, "wallTime": DATE,
         "fullDocument": {"_id": 1, "status": "new", "legacy": True, "n": 1},
         "ns": ns(db, "orders"), "documentKey": {"_id": 1}},
        # without fullDocument: updateLookup an update has no fullDocument field
        {"_id": TOKEN, "operationType": "update", "clusterTime": TS, "wallTime": DATE,
         "ns": ns(db, "orders"), "documentKey": {"_id": 1},
         "updateDescription": {"updatedFields": {"status": "completed", "n": 2}, "removedFields": ["legacy"],
                               "truncatedArrays": []}},
        {"_id": TOKEN, "operationType": "replace", "clusterTime": TS, "wallTime": DATE,
         "fullDocument": {"_id": 1, "status": "replaced"}, "ns": ns(db, "orders"), "documentKey": {"_id": 1}},
        # a delete has no fullDocument field
        {"_id": TOKEN, "operationType": "delete", "clusterTime": TS, "wallTime": DATE,
         "ns": ns(db, "orders"), "documentKey": {"_id": 1}},
    ]
    ts = [e["clusterTime"] for e in evs]
    assert ts == sorted(ts) and len(set(ts)) == 4
    assert len({e["_id"]["_data"] for e in evs}) == 4


def test_update_description_contents(db):
    c = db.people
    c.insert_one({"_id": 1, "name": "a", "nick": "x", "address": {"city": "Bergen", "zip": "5003"},
                  "tags": ["t1", "t2"], "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "gone": 0})
    with c.watch() as stream:
        c.update_one({"_id": 1}, {"$set": {"address.city": "Oslo", "name": "b"}})
        c.update_one({"_id": 1}, {"$push": {"tags": "t3"}})
        c.update_one({"_id": 1}, {"$pop": {"tags": 1}})
        c.update_one({"_id": 1}, {"$rename": {"nick": "alias"}})
        c.update_one({"_id": 1}, {"$set": {"items.1.qty": 5}, "$unset": {"gone": 1}})
        c.update_one({"_id": 1, "items.sku": "a"}, {"$inc": {"items.$.qty": 10}})
        c.update_one({"_id": 1}, {"$set": {"address": {"city": "Tromsø"}}, "$inc": {"visits": 1}})
        c.update_one({"_id": 1}, {"$set": {"name": "b"}})  # no-op: no event
        c.update_one({"_id": 1}, {"$pull": {"tags": "t1"}})
        c.update_one({"_id": 1}, {"$set": {"geo.lat": 60, "geo.lon": 5, "address.zip": "9008"}})
        evs = read(stream, 9)
    descs = [e["updateDescription"] for e in evs]
    assert ops(evs) == ["update"] * 9
    assert descs == [
        {"updatedFields": {"address.city": "Oslo", "name": "b"}, "removedFields": [], "truncatedArrays": []},
        # appended array elements are reported with dot notation; other array changes as the whole array
        # (truncatedArrays only come from pipeline-style updates, which the test server does not do)
        {"updatedFields": {"tags.2": "t3"}, "removedFields": [], "truncatedArrays": []},
        {"updatedFields": {"tags": ["t1", "t2"]}, "removedFields": [], "truncatedArrays": []},
        {"updatedFields": {"alias": "x"}, "removedFields": ["nick"], "truncatedArrays": []},
        {"updatedFields": {"items.1.qty": 5}, "removedFields": ["gone"], "truncatedArrays": []},
        {"updatedFields": {"items.0.qty": 11}, "removedFields": [], "truncatedArrays": []},
        {"updatedFields": {"address": {"city": "Tromsø"}, "visits": 1}, "removedFields": [], "truncatedArrays": []},
        {"updatedFields": {"tags": ["t2"]}, "removedFields": [], "truncatedArrays": []},
        # a new subdocument is reported whole, from its first new path component on
        {"updatedFields": {"geo": {"lat": 60, "lon": 5}, "address.zip": "9008"}, "removedFields": [],
         "truncatedArrays": []},
    ]


def test_pipeline_style_updates_report_the_difference(db):
    c = db.pipeupd
    c.insert_one({"_id": 1, "a": 1, "tags": ["x", "y", "z"], "s": {"p": 1, "q": 2}, "old": True})
    with c.watch() as stream:
        r = c.update_one({"_id": 1}, [{"$set": {"a": 2, "tags": {"$slice": ["$tags", 2]}, "s.q": 3}},
                                      {"$unset": "old"}])
        assert (r.matched_count, r.modified_count) == (1, 1)
        r = c.update_one({"_id": 2}, [{"$set": {"v": 1}}], upsert=True)
        assert r.upserted_id == 2
        c.update_many({}, [{"$set": {"w": "$a"}}])  # _id 2 has no a: unchanged, no event
        evs = read(stream, 3)
        assert read_all(stream) == []
    assert ops(evs) == ["update", "insert", "update"]
    assert evs[0]["updateDescription"] == {"updatedFields": {"a": 2, "s.q": 3}, "removedFields": ["old"],
                                           "truncatedArrays": [{"field": "tags", "newSize": 2}]}
    assert evs[1]["fullDocument"] == {"_id": 2, "v": 1}
    assert evs[2]["updateDescription"]["updatedFields"] == {"w": 2}
    assert c.find_one({"_id": 1}) == {"_id": 1, "a": 2, "tags": ["x", "y"], "s": {"p": 1, "q": 3}, "w": 2}


def test_update_lookup_gives_the_current_document_or_null(db):
    c = db.lookup
    with c.watch(full_document="updateLookup") as stream:
        c.insert_one({"_id": 1, "v": 0})
        c.update_one({"_id": 1}, {"$set": {"v": 1}})
        c.update_one({"_id": 1}, {"$set": {"v": 2}})
        c.replace_one({"_id": 1}, {"v": 3})
        first = read(stream, 4)
        c.update_one({"_id": 1}, {"$set": {"v": 4}})
        c.delete_one({"_id": 1})
        second = read(stream, 2)
    assert ops(first) == ["insert", "update", "update", "replace"]
    # updateLookup reads the document when the event is read, not as it was after that update
    assert first[1]["fullDocument"] == {"_id": 1, "v": 3} and first[2]["fullDocument"] == {"_id": 1, "v": 3}
    assert first[3]["fullDocument"] == {"_id": 1, "v": 3}
    assert first[1]["updateDescription"]["updatedFields"] == {"v": 1}
    # ... and a document deleted in the meantime gives null
    assert ops(second) == ["update", "delete"]
    assert "fullDocument" in second[0] and second[0]["fullDocument"] is None
    assert "fullDocument" not in second[1]


def test_find_and_modify_writes_give_events(db):
    c = db.fam
    c.insert_one({"_id": 1, "v": 1})
    with c.watch() as stream:
        c.find_one_and_update({"_id": 1}, {"$set": {"v": 2}})
        c.find_one_and_replace({"_id": 1}, {"v": 3})
        c.find_one_and_update({"_id": 2}, {"$set": {"v": 9}}, upsert=True)
        c.find_one_and_delete({"_id": 1})
        evs = read(stream, 4)
    assert ops(evs) == ["update", "replace", "insert", "delete"]
    assert evs[0]["updateDescription"]["updatedFields"] == {"v": 2}
    assert evs[1]["fullDocument"] == {"_id": 1, "v": 3}
    assert evs[2]["fullDocument"] == {"_id": 2, "v": 9}
    assert [e["documentKey"] for e in evs] == [{"_id": 1}, {"_id": 1}, {"_id": 2}, {"_id": 1}]


def test_multi_document_writes_give_one_event_per_document(db):
    c = db.multi
    with c.watch() as stream:
        c.insert_many([{"_id": i, "g": i % 2} for i in range(4)])
        c.update_many({"g": 0}, {"$set": {"x": 1}})
        c.delete_many({"g": 1})
        evs = read(stream, 8)
    assert [(e["operationType"], e["documentKey"]["_id"]) for e in evs] == [
        ("insert", 0), ("insert", 1), ("insert", 2), ("insert", 3), ("update", 0), ("update", 2),
        ("delete", 1), ("delete", 3)]


# ------------------------------------------------------------------------------------------------ pre-/post-images

def test_pre_and_post_images(db):
    c = db.create_collection("img", changeStreamPreAndPostImages={"enabled": True})
    info = next(i for i in db.list_collections() if i["name"] == "img")
    assert info["options"]["changeStreamPreAndPostImages"] == {"enabled": True}
    with c.watch(full_document="whenAvailable", full_document_before_change="whenAvailable") as stream:
        c.insert_one({"_id": 1, "v": 1})
        c.update_one({"_id": 1}, {"$set": {"v": 2}})
        c.update_one({"_id": 1}, {"$set": {"v": 3}})
        c.replace_one({"_id": 1}, {"w": 1})
        c.delete_one({"_id": 1})
        evs = read(stream, 5)
    assert [shape(e) for e in evs] == [
        {"_id": TOKEN, "operationType": "insert", "clusterTime": TS, "wallTime": DATE,
         "fullDocument": {"_id": 1, "v": 1}, "ns": ns(db, "img"), "documentKey": {"_id": 1}},
        # post-image: the document right after this update (not the current one)
        {"_id": TOKEN, "operationType": "update", "clusterTime": TS, "wallTime": DATE,
         "ns": ns(db, "img"), "documentKey": {"_id": 1},
         "updateDescription": {"updatedFields": {"v": 2}, "removedFields": [], "truncatedArrays": []},
         "fullDocument": {"_id": 1, "v": 2}, "fullDocumentBeforeChange": {"_id": 1, "v": 1}},
        {"_id": TOKEN, "operationType": "update", "clusterTime": TS, "wallTime": DATE,
         "ns": ns(db, "img"), "documentKey": {"_id": 1},
         "updateDescription": {"updatedFields": {"v": 3}, "removedFields": [], "truncatedArrays": []},
         "fullDocument": {"_id": 1, "v": 3}, "fullDocumentBeforeChange": {"_id": 1, "v": 2}},
        {"_id": TOKEN, "operationType": "replace", "clusterTime": TS, "wallTime": DATE,
         "fullDocument": {"_id": 1, "w": 1}, "ns": ns(db, "img"), "documentKey": {"_id": 1},
         "fullDocumentBeforeChange": {"_id": 1, "v": 3}},
        {"_id": TOKEN, "operationType": "delete", "clusterTime": TS, "wallTime": DATE,
         "ns": ns(db, "img"), "documentKey": {"_id": 1}, "fullDocumentBeforeChange": {"_id": 1, "w": 1}},
    ]
    # fullDocumentBeforeChange: "off" (the default) leaves the field out
    with c.watch(full_document_before_change="off") as stream:
        c.insert_one({"_id": 2})
        c.delete_one({"_id": 2})
        evs = read(stream, 2)
    assert all("fullDocumentBeforeChange" not in e for e in evs)


def test_pre_images_follow_coll_mod(db):
    c = db.mod
    c.insert_one({"_id": 1, "v": 1})
    with c.watch(full_document="whenAvailable", full_document_before_change="whenAvailable") as stream:
        c.update_one({"_id": 1}, {"$set": {"v": 2}})  # not enabled yet: null images
        db.command("collMod", "mod", changeStreamPreAndPostImages={"enabled": True})
        c.update_one({"_id": 1}, {"$set": {"v": 3}})
        db.command("collMod", "mod", changeStreamPreAndPostImages={"enabled": False})
        c.delete_one({"_id": 1})
        evs = read(stream, 3)
    assert [(e.get("fullDocument"), e["fullDocumentBeforeChange"]) for e in evs] == [
        (None, None), ({"_id": 1, "v": 3}, {"_id": 1, "v": 2}), (None, None)]
    assert "fullDocument" in evs[0]
    with pytest.raises(OperationFailure) as e:
        db.command("collMod", "nosuch", changeStreamPreAndPostImages={"enabled": True})
    assert e.value.code == 26


@pytest.mark.parametrize("option", ["full_document", "full_document_before_change"])
def test_required_image_missing_is_an_error(db, option):
    c = db.req
    c.insert_one({"_id": 1})
    with c.watch(**{option: "required"}) as stream:
        c.update_one({"_id": 1}, {"$set": {"v": 1}})
        with pytest.raises(OperationFailure) as e:
            read(stream, 1)
    assert e.value.code == 47 and "was not found for event" in str(e.value)  # NoMatchingDocument


# ------------------------------------------------------------------------------------------------ drop, rename

def test_drop_gives_drop_and_invalidate_and_closes_the_stream(db):
    c = db.dropme
    c.insert_one({"_id": 0})
    with c.watch() as stream:
        c.insert_one({"_id": 1})
        c.drop()
        evs = read(stream, 3)
        assert not stream.alive
    assert [shape(e) for e in evs[1:]] == [
        {"_id": TOKEN, "operationType": "drop", "clusterTime": TS, "wallTime": DATE, "ns": ns(db, "dropme")},
        {"_id": TOKEN, "operationType": "invalidate", "clusterTime": TS, "wallTime": DATE},
    ]
    assert evs[1]["clusterTime"] == evs[2]["clusterTime"]
    invalidate = evs[2]["_id"]
    # resumeAfter an invalidate is refused; startAfter starts a new stream after it
    with pytest.raises(OperationFailure) as e:
        with c.watch(resume_after=invalidate) as s:
            s.try_next()
    assert e.value.code == 260
    with c.watch(start_after=invalidate) as s:
        c.insert_one({"_id": 2})
        (ev,) = read(s, 1)
    assert ev["operationType"] == "insert" and ev["documentKey"] == {"_id": 2}
    # resumeAfter the drop event: the invalidate comes again
    with c.watch(resume_after=evs[1]["_id"]) as s:
        assert ops(read(s, 1)) == ["invalidate"]


def test_rename_gives_rename_and_invalidate(db):
    c = db.before
    c.insert_one({"_id": 1})
    with c.watch() as stream, db.watch() as dbstream:
        c.rename("after")
        evs = read(stream, 2)
        dbevs = read(dbstream, 1)
        assert not stream.alive
        assert dbstream.alive
    assert [shape(e) for e in evs] == [
        {"_id": TOKEN, "operationType": "rename", "clusterTime": TS, "wallTime": DATE,
         "ns": ns(db, "before"), "to": ns(db, "after")},
        {"_id": TOKEN, "operationType": "invalidate", "clusterTime": TS, "wallTime": DATE},
    ]
    # a database stream gets the same rename event and stays open
    assert dbevs == evs[:1]


# ------------------------------------------------------------------------------------------------ wider streams

def test_database_watch(db):
    with db.watch() as stream:
        db.a.insert_one({"_id": 1})
        db.b.insert_one({"_id": 2})
        db.a.drop()
        evs = read(stream, 3)
        assert stream.alive
        db.client.drop_database(db.name)
        evs += read(stream, 3)
    assert [(e["operationType"], e.get("ns")) for e in evs] == [
        ("insert", ns(db, "a")), ("insert", ns(db, "b")), ("drop", ns(db, "a")),  # no invalidate for a drop
        ("drop", ns(db, "b")), ("dropDatabase", {"db": db.name}), ("invalidate", None)]
    assert shape(evs[4]) == {"_id": TOKEN, "operationType": "dropDatabase", "clusterTime": TS, "wallTime": DATE,
                             "ns": {"db": db.name}}


def test_cluster_watch(client):
    d1 = client["srv" + uuid.uuid4().hex[:8]]
    d2 = client["srv" + uuid.uuid4().hex[:8]]
    mine = {d1.name, d2.name}
    try:
        with client.watch() as stream:
            d1.x.insert_one({"_id": 1})
            d2.y.insert_one({"_id": 2})
            client.drop_database(d1.name)
            evs = []
            deadline = time.monotonic() + 10
            while len(evs) < 4 and time.monotonic() < deadline:
                ev = stream.try_next()
                if ev is None:
                    time.sleep(0.02)
                elif ev.get("ns", {}).get("db") in mine:  # the server may be shared
                    evs.append(ev)
            assert stream.alive  # no invalidate for a cluster stream
    finally:
        client.drop_database(d1.name)
        client.drop_database(d2.name)
    assert [(e["operationType"], e["ns"]) for e in evs] == [
        ("insert", {"db": d1.name, "coll": "x"}), ("insert", {"db": d2.name, "coll": "y"}),
        ("drop", {"db": d1.name, "coll": "x"}), ("dropDatabase", {"db": d1.name})]


def test_internal_namespaces_cannot_be_watched(client):
    with pytest.raises(OperationFailure) as e:
        with client.admin.watch() as s:
            s.try_next()
    assert e.value.code == 73


# ------------------------------------------------------------------------------------------------ resume

def test_resume_after_start_after_start_at_operation_time(db):
    c = db.res
    with c.watch() as stream:
        for i in range(4):
            c.insert_one({"_id": i})
        evs = read(stream, 4)
    keys = [e["documentKey"]["_id"] for e in evs]
    assert keys == [0, 1, 2, 3]
    with c.watch(resume_after=evs[0]["_id"]) as s:
        assert [e["documentKey"]["_id"] for e in read(s, 3)] == [1, 2, 3]
    with c.watch(start_after=evs[1]["_id"]) as s:
        assert [e["documentKey"]["_id"] for e in read(s, 2)] == [2, 3]
    with c.watch(start_at_operation_time=evs[2]["clusterTime"]) as s:  # inclusive
        assert [e["documentKey"]["_id"] for e in read(s, 2)] == [2, 3]
    # from the last event: nothing until a new one
    with c.watch(resume_after=evs[3]["_id"]) as s:
        assert read_all(s) == []
        c.insert_one({"_id": 4})
        assert [e["documentKey"]["_id"] for e in read(s, 1)] == [4]


def test_resume_from_post_batch_resume_token_before_any_event(db):
    c = db.pbrt
    c.insert_one({"_id": 0})
    with c.watch() as stream:
        assert stream.try_next() is None
        token = stream.resume_token
    assert token is not None
    c.insert_one({"_id": 1})
    with c.watch(resume_after=token) as s:
        assert [e["documentKey"]["_id"] for e in read(s, 1)] == [1]


def test_driver_resumes_after_cursor_loss(db):
    c = db.lost
    with c.watch() as stream:
        c.insert_one({"_id": 1})
        read(stream, 1)
        reply = db.command("killCursors", c.name, cursors=[stream._cursor.cursor_id])
        assert reply["cursorsKilled"] == [stream._cursor.cursor_id]
        c.insert_one({"_id": 2})
        c.insert_one({"_id": 3})
        assert [e["documentKey"]["_id"] for e in read(stream, 2)] == [2, 3]


def test_history_lost_is_error_286(db, client):
    c = db.hist
    with c.watch() as stream:
        c.insert_one({"_id": 1})
        c.insert_one({"_id": 2})
        e1, e2 = read(stream, 2)
    # test-only: forget this collection's history (only this collection's streams notice)
    client.admin.command("sluiceTrimOplog", 1, ns=c.full_name)
    for kwargs in ({"resume_after": e1["_id"]}, {"start_after": e2["_id"]},
                   {"start_at_operation_time": e1["clusterTime"]}):
        with pytest.raises(OperationFailure) as e:
            with c.watch(**kwargs) as s:
                s.try_next()
        assert e.value.code == 286, kwargs
        assert e.value.details["codeName"] == "ChangeStreamHistoryLost"
    # a new stream is fine
    with c.watch() as s:
        c.insert_one({"_id": 3})
        assert [e["documentKey"]["_id"] for e in read(s, 1)] == [3]


@pytest.mark.parametrize("token", [{"_data": "not-a-token"}, {"_data": "82"}, {"foo": 1}, {"_data": 5}])
def test_malformed_token_is_error_260(db, token):
    with pytest.raises(OperationFailure) as e:
        with db.c.watch(resume_after=token) as s:
            s.try_next()
    assert e.value.code == 260
    assert e.value.details["codeName"] == "InvalidResumeToken"


def test_token_from_another_collection_is_not_found(db):
    with db.one.watch() as stream:
        db.one.insert_one({"_id": 1})
        (ev,) = read(stream, 1)
    # MongoDB fails as soon as the stream meets an event after the token's time without having met the
    # token's own event: here when the stream opens (the first event after it is already there) ...
    db.two.insert_one({"_id": 0})
    with pytest.raises(OperationFailure) as e:
        with db.two.watch(resume_after=ev["_id"]) as s:
            s.try_next()
    assert e.value.code == 280 and "resume token was not found" in str(e.value)
    # ... or when that event comes
    with db.one.watch() as stream:
        db.one.insert_one({"_id": 2})
        (ev,) = read(stream, 1)
    with db.three.watch(resume_after=ev["_id"]) as s:
        assert s.try_next() is None
        db.three.insert_one({"_id": 3})
        with pytest.raises(OperationFailure) as e:
            read(s, 1)
    assert e.value.code == 280


# ------------------------------------------------------------------------------------------------ pipelines

def test_pipeline_match_operation_type_and_project(db):
    c = db.pipe
    pipeline = [{"$match": {"operationType": {"$in": ["insert", "update", "delete"]}}},
                {"$project": {"operationType": 1, "documentKey": 1, "ns": 1}}]
    with c.watch(pipeline) as stream:
        c.insert_one({"_id": 1, "v": 1})
        c.update_one({"_id": 1}, {"$set": {"v": 2}})
        c.replace_one({"_id": 1}, {"v": 3})  # filtered out
        c.delete_one({"_id": 1})
        evs = read(stream, 3)
        assert read_all(stream) == []
    assert [{k: v for k, v in e.items() if k != "_id"} for e in evs] == [
        {"operationType": op, "documentKey": {"_id": 1}, "ns": ns(db, "pipe")} for op in ("insert", "update", "delete")]
    assert all(set(e["_id"]) == {"_data"} for e in evs)


def test_pipeline_set_unset_add_fields_replace_root(db):
    c = db.stages
    pipeline = [{"$match": {"operationType": "insert", "fullDocument.keep": True}},
                {"$addFields": {"seen": True}},
                {"$set": {"coll": "$ns.coll", "fullDocument.extra": "$operationType"}},
                {"$unset": ["wallTime", "clusterTime"]},
                {"$replaceRoot": {"newRoot": {"_id": "$_id", "doc": "$fullDocument", "seen": "$seen", "coll": "$coll"}}}]
    with c.watch(pipeline) as stream:
        c.insert_one({"_id": 1, "keep": False})
        c.insert_one({"_id": 2, "keep": True})
        (ev,) = read(stream, 1)
    assert {k: v for k, v in ev.items() if k != "_id"} == {"doc": {"_id": 2, "keep": True, "extra": "insert"},
                                                           "seen": True, "coll": "stages"}


def test_pipeline_that_changes_the_token_fails(db):
    with db.c.watch([{"$project": {"_id": 0}}]) as stream:
        db.c.insert_one({"_id": 1})
        with pytest.raises(OperationFailure) as e:
            read(stream, 1)
    assert e.value.code == 280


def test_pipeline_stage_not_allowed(db):
    with pytest.raises(OperationFailure):
        with db.c.watch([{"$group": {"_id": None}}]) as s:
            s.try_next()


def test_connector_style_pipeline(client, db):
    """What Debezium's MongoDB connector sends on a cluster-wide stream: wrap the event, filter on database,
    namespace and operation type, unwrap."""
    other = db.client["srv" + uuid.uuid4().hex[:8]]
    pipeline = [
        {"$replaceRoot": {"newRoot": {"event": "$$ROOT", "namespace": {"$concat": ["$ns.db", ".", "$ns.coll"]}}}},
        {"$match": {"$and": [
            {"$and": [{"event.ns.db": {"$regex": f"^{db.name}$"}}, {"namespace": {"$regex": f"^{db.name}\\.inv"}}]},
            {"event.operationType": {"$in": ["insert", "update", "replace", "delete"]}}]}},
        {"$replaceRoot": {"newRoot": "$event"}},
    ]
    try:
        with client.watch(pipeline, full_document="updateLookup") as stream:
            db.inventory.insert_one({"_id": 1, "qty": 1})
            db.other.insert_one({"_id": 1})
            other.inventory.insert_one({"_id": 1})
            db.inventory.update_one({"_id": 1}, {"$inc": {"qty": 1}})
            db.inventory.delete_one({"_id": 1})
            db.inventory.drop()
            evs = read(stream, 3)
            assert read_all(stream) == []
    finally:
        client.drop_database(other.name)
    assert [shape(e) for e in evs] == [
        {"_id": TOKEN, "operationType": "insert", "clusterTime": TS, "wallTime": DATE,
         "fullDocument": {"_id": 1, "qty": 1}, "ns": ns(db, "inventory"), "documentKey": {"_id": 1}},
        {"_id": TOKEN, "operationType": "update", "clusterTime": TS, "wallTime": DATE,
         "ns": ns(db, "inventory"), "documentKey": {"_id": 1},
         "updateDescription": {"updatedFields": {"qty": 2}, "removedFields": [], "truncatedArrays": []},
         "fullDocument": None},
        {"_id": TOKEN, "operationType": "delete", "clusterTime": TS, "wallTime": DATE,
         "ns": ns(db, "inventory"), "documentKey": {"_id": 1}},
    ]


# ------------------------------------------------------------------------------------------------ getMore waits

def test_max_await_time_ms_is_honoured(db):
    with db.c.watch(max_await_time_ms=400) as stream:
        t0 = time.monotonic()
        assert stream.try_next() is None
        idle = time.monotonic() - t0
        assert 0.3 <= idle < 3, idle
        db.c.insert_one({"_id": 1})
        t0 = time.monotonic()
        assert stream.try_next()["documentKey"] == {"_id": 1}
        assert time.monotonic() - t0 < 0.3
