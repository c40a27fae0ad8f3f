"""The MongoDB test rig: mongo-java-server started by `scripts/services.sh start mongo`, probed through
the official C driver (libmongoc, as sluice uses it) with scripts/mongo/mongo_check.c.

Asserts what the server does like MongoDB (events for insert/update/replace/delete with documentKey {_id},
ns, wallTime and updateDescription, fullDocument with updateLookup, pre-/post-images, drop/rename +
invalidate, database and cluster streams, resume after a token / startAfter / startAtOperationTime,
postBatchResumeToken, the driver's own resume after a lost cursor, $match after $changeStream, error 260
for a malformed token, maxAwaitTimeMS). What it does NOT do like MongoDB is printed, not asserted (see
`pytest -s` / `-rP`, and scripts/mongo/README.md). tests/it/test_mongo_server.py checks the event shapes
in detail through pymongo.
"""
import json
import os
import shutil
import subprocess
import uuid

import pytest

from conftest import ROOT, mongo_uri

CHECK_SRC = ROOT / "scripts" / "mongo" / "mongo_check.c"


@pytest.fixture(scope="module")
def mongo_check(tmp_path_factory):
    """Builds mongo_check (not part of the product build) and returns run(uri, *checks) -> {check: result}."""
    cc = shutil.which("cc")
    if not cc or not shutil.which("pkg-config"):
        pytest.fail("cc and pkg-config are needed (scripts/deps.sh installs them)")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmongoc-1.0"], capture_output=True, text=True)
    assert flags.returncode == 0, f"pkg-config libmongoc-1.0: {flags.stderr}"
    exe = tmp_path_factory.mktemp("mongo_check") / "mongo_check"
    build = subprocess.run([cc, "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(CHECK_SRC), *flags.stdout.split()],
                           capture_output=True, text=True)
    assert build.returncode == 0, f"compiling {CHECK_SRC} failed:\n{build.stderr}"
    prefixes = []

    def run(uri, *checks, timeout=120):
        prefix = "rig" + uuid.uuid4().hex[:6]
        prefixes.append(prefix)
        r = subprocess.run([str(exe), uri, prefix, *checks], capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"mongo_check exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        out = {}
        for line in r.stdout.splitlines():
            d = json.loads(line)
            out[d["check"]] = d
        return out

    yield run
    from pymongo import MongoClient
    c = MongoClient(mongo_uri(), serverSelectionTimeoutMS=10000)
    try:
        for p in prefixes:
            c.drop_database(p + "db")
    finally:
        c.close()


@pytest.fixture(scope="module")
def rig(mongo_check):
    """Every check, once, through SLUICE_MONGO_URI."""
    from pymongo import MongoClient
    c = MongoClient(mongo_uri(), serverSelectionTimeoutMS=10000)  # mongo_uri() fails with a hint when not up
    try:
        if "operationTime" not in c.admin.command("ping"):
            pytest.fail("the mongo service predates scripts/mongo/SluiceEvents.java (no operationTime in replies): "
                        "run scripts/deps.sh, then scripts/services.sh stop mongo && scripts/services.sh start mongo")
    finally:
        c.close()
    return mongo_check("-")


def events(res):
    assert res["ok"], f"{res['check']}: {res.get('error')}"
    return res["events"]


def ops(evs):
    return [e["operationType"] for e in evs]


def tokens(evs):
    return [e["_id"] for e in evs]


def note(title, *lines):
    """An unsupported / different behaviour: printed, never asserted."""
    print(f"\n[mongo rig] {title}")
    for l in lines:
        print(f"    {l}")


def err_text(res):
    e = res.get("error")
    return f"error {e['code']}: {e['message']}" if e else "no error"


# ------------------------------------------------------------------------------------------------ server

def test_server_answers_hello_as_replica_set_primary(rig):
    s = rig["server"]
    assert s["ok"], s
    print(f"\n[mongo rig] libmongoc {rig['versions']['libmongoc']}, server buildInfo "
          f"{s['buildInfo'].get('reply', {}).get('version')}, maxWireVersion "
          f"{s['hello']['reply']['maxWireVersion']}")
    hello = s["hello"]["reply"]
    assert hello["isWritablePrimary"] is True
    assert hello["setName"] == os.environ.get("SLUICE_MONGO_REPLSET", "rs0")
    port = os.environ["SLUICE_MONGO_PORT"]
    assert hello["primary"] == hello["me"] == f"127.0.0.1:{port}"
    assert s["isMaster"]["reply"]["ismaster"] is True
    assert s["replSetGetStatus"]["ok"] and s["replSetGetStatus"]["reply"]["members"][0]["stateStr"] == "PRIMARY"
    assert s["server_type"] == "RSPrimary"


def test_replica_set_uri_works_for_change_streams(mongo_check):
    """SLUICE_MONGO_RS_URI (?replicaSet=rs0): the driver discovers a replica set with a primary."""
    uri = os.environ.get("SLUICE_MONGO_RS_URI")
    if not uri:
        pytest.fail("SLUICE_MONGO_RS_URI is not set: run scripts/services.sh start mongo")
    r = mongo_check(uri, "server", "update_lookup", "resume_after")
    assert r["server"]["server_type"] == "RSPrimary"
    evs = events(r["update_lookup"])
    assert ops(evs)[:2] == ["insert", "insert"] and ops(evs)[-1] == "delete"
    assert tokens(events(r["resume_after"])) == tokens(evs)[2:]


# ------------------------------------------------------------------------------------------------ events

def test_insert_update_replace_delete_events(rig):
    res = rig["update_lookup"]
    evs = events(res)
    assert res["write_errors"] == []
    # insert 1, insert 2, update 1 ($set n, $unset name), replace 2, insert 3, delete 3
    assert len(evs) == 6, evs
    o = ops(evs)
    assert o == ["insert", "insert", "update", "replace", "insert", "delete"]

    # documentKey is {_id} for every kind of event; ns names the collection
    assert [e["documentKey"] for e in evs] == [{"_id": 1}, {"_id": 2}, {"_id": 1}, {"_id": 2}, {"_id": 3}, {"_id": 3}]
    for e in evs:
        assert set(e["ns"]) == {"db", "coll"} and e["ns"]["coll"].endswith("_main")
        assert "$date" in e["wallTime"]
    assert evs[0]["fullDocument"] == {"_id": 1, "name": "alice", "n": 1, "tags": ["a", "b"]}
    # fullDocument=updateLookup: the current document, for updates and replacements
    assert evs[2]["fullDocument"] == {"_id": 1, "n": 10, "tags": ["a", "b"]}
    assert evs[3]["fullDocument"] == {"_id": 2, "name": "bobby", "n": 20}
    assert evs[2]["updateDescription"] == {"updatedFields": {"n": 10}, "removedFields": ["name"], "truncatedArrays": []}
    assert "updateDescription" not in evs[3]
    assert "fullDocument" not in evs[5]  # deletes carry no fullDocument

    # resume tokens: one per event, all distinct, and the driver's token is the event's _id
    assert len({json.dumps(t, sort_keys=True) for t in tokens(evs)}) == 6
    assert res["tokens"] == tokens(evs)
    assert res["final_token"] == evs[-1]["_id"]
    # postBatchResumeToken: a stream has a resume token before its first event
    assert res["initial_token"] is not None
    for e in evs:
        assert "$timestamp" in e["clusterTime"]
    ts = [(e["clusterTime"]["$timestamp"]["t"], e["clusterTime"]["$timestamp"]["i"]) for e in evs]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)

    missing = [f for f in ("collectionUUID", "lsid", "txnNumber") if f not in evs[2]]
    note(f"events carry no {missing} (MongoDB: collectionUUID with showExpandedEvents; lsid/txnNumber in "
         f"transactions, which the server does not have)")
    note(f"resume token format: {json.dumps(evs[0]['_id'])} (82 + cluster time + kind + namespace hash; MongoDB's "
         f"are longer KeyString hex: treat them as opaque)")


def test_default_full_document_on_update(rig):
    res = rig["default_full_document"]
    evs = events(res)
    o = ops(evs)
    assert o[0] == "insert" and o[-1] == "delete"
    assert evs[0]["documentKey"] == {"_id": "k1"} and evs[-1]["documentKey"] == {"_id": "k1"}
    assert len(evs) >= 4
    for e in evs:
        assert e["documentKey"] == {"_id": "k1"}
        if e["operationType"] == "update":
            # without updateLookup: no fullDocument, an updateDescription instead
            assert "fullDocument" not in e and set(e["updateDescription"]) == {"updatedFields", "removedFields",
                                                                                 "truncatedArrays"}
        if e["operationType"] == "replace":
            assert e["fullDocument"]["_id"] == "k1"
    if res["write_errors"]:
        note("writes the server refused:", *(f"{w['op']}: {w['error']['message'][:160]}" for w in res["write_errors"]))


def test_multi_document_writes_and_upserts(rig):
    res = rig["write_kinds"]
    evs = events(res)
    assert res["write_errors"] == []
    ins = [e["documentKey"]["_id"] for e in evs if e["operationType"] == "insert"]
    dels = [e["documentKey"]["_id"] for e in evs if e["operationType"] == "delete"]
    upd = [e for e in evs if e["operationType"] in ("update", "replace")]
    assert ins == [1, 2, 3, 4, 5]  # insert_many 1-3, upsert by update (4) and by replace (5)
    # update_many over _id 1 and 2 (the no-op update of 3 gives nothing), find_one_and_update of 3,
    # then find_one_and_delete of 3 and delete_many of the rest
    assert [e["documentKey"]["_id"] for e in upd] == [1, 2, 3]
    assert all(e["operationType"] == "update" for e in upd)
    assert dels == [3, 1, 2, 4, 5]
    assert len(evs) == 13
    # updateLookup when the event is read: every document is gone by then
    assert [e["fullDocument"] for e in upd] == [None, None, None]
    assert [e["updateDescription"]["updatedFields"] for e in upd] == [{"v": 1}, {"v": 1}, {"fam": True}]


def test_pipeline_match_filters_events(rig):
    evs = events(rig["pipeline_match"])
    assert ops(evs) == ["insert", "delete"]


# ------------------------------------------------------------------------------------------------ resume

def test_resume_after_token_gives_only_later_events(rig):
    main = events(rig["update_lookup"])
    res = rig["resume_after"]
    assert res["token"] == main[1]["_id"]
    assert res["aggregate"]["pipeline"][0]["$changeStream"]["resumeAfter"] == main[1]["_id"]
    assert tokens(events(res)) == tokens(main)[2:]


def test_start_after_token(rig):
    main = events(rig["update_lookup"])
    assert tokens(events(rig["start_after"])) == tokens(main)[2:]


def test_start_at_operation_time_is_inclusive(rig):
    main = events(rig["update_lookup"])
    res = rig["start_at_operation_time"]
    assert res["start_at"] == main[2]["clusterTime"]
    assert tokens(events(res)) == tokens(main)[2:]


def test_driver_resumes_after_the_server_lost_its_cursor(rig):
    res = rig["driver_resume_after_cursor_killed"]
    assert res["killCursors"]["ok"] and res["killCursors"]["reply"]["cursorsKilled"] == [res["cursor_id"]]
    evs = events(res)
    assert [e["documentKey"]["_id"] for e in evs] == [1, 2, 3]
    assert res["aggregates_resent"] == 1
    assert res["aggregate"]["pipeline"][0]["$changeStream"]["resumeAfter"] == evs[0]["_id"]


# ------------------------------------------------------------------------------------------------ pymongo

def test_pymongo_seeds_data(mongo):
    """The `mongo` fixture (pymongo) can seed and read back data."""
    from pymongo.errors import OperationFailure
    coll = mongo.collection("seed")
    coll.insert_many([{"_id": i, "v": i} for i in range(3)])
    coll.update_one({"_id": 1}, {"$set": {"v": 10}})
    coll.delete_one({"_id": 2})
    assert list(coll.find({}, sort=[("_id", 1)])) == [{"_id": 0, "v": 0}, {"_id": 1, "v": 10}]
    # pymongo's own change streams (they need operationTime in the aggregate reply)
    with coll.watch() as stream:
        coll.insert_one({"_id": 9})
        ev = None
        for _ in range(200):
            ev = stream.try_next()
            if ev is not None:
                break
        assert ev is not None and ev["operationType"] == "insert" and ev["documentKey"] == {"_id": 9}


# ------------------------------------------------------------------------------------------------ not supported

def test_pre_and_post_images(rig):
    """collMod changeStreamPreAndPostImages, then fullDocumentBeforeChange / fullDocument=required."""
    for name in ("full_document_before_change_when_available", "full_document_before_change_required"):
        res = rig[name]
        assert res["collMod"]["ok"], res["collMod"]
        evs = events(res)
        assert ops(evs) == ["insert", "update", "delete"]
        assert "fullDocumentBeforeChange" not in evs[0]
        assert evs[1]["fullDocumentBeforeChange"] == {"_id": 1, "a": 1}
        assert evs[2]["fullDocumentBeforeChange"] == {"_id": 1, "a": 2}
    evs = events(rig["full_document_required"])
    assert evs[1]["fullDocument"] == {"_id": 1, "a": 2}  # the post-image


def test_drop_and_rename_invalidate(rig):
    for name, op in (("drop", "drop"), ("rename", "rename")):
        res = rig[name]
        assert res["write_errors"] == []
        evs = res["events"]
        assert ops(evs) == ["insert", op, "invalidate"], evs
        assert evs[1]["clusterTime"] == evs[2]["clusterTime"]
        if op == "rename":
            assert evs[1]["to"]["coll"].endswith("_ren_to")
        # the server closes the cursor after the invalidate; libmongoc 1.23 then tries to resume after the
        # invalidate, which MongoDB refuses with 260 as well
        if not res["ok"]:
            assert res["error"]["code"] == 260, res["error"]


def test_database_and_cluster_watch(rig):
    for name in ("database_watch", "cluster_watch"):
        evs = events(rig[name])
        assert ops(evs) == ["insert"] and evs[0]["documentKey"] == {"_id": 1}, evs
        assert evs[0]["ns"]["coll"].endswith("wide")


def test_malformed_and_foreign_tokens(rig):
    res = rig["resume_after_bad_token"]
    assert not res["ok"] and res["error"]["code"] == 260  # InvalidResumeToken
    # mongo_check's "unknown" token is in the format of the old server (16 hex digits): not a token here
    res = rig["resume_after_unknown_token"]
    assert not res["ok"] and res["error"]["code"] == 260


def test_max_await_time_is_honoured(rig):
    res = rig["max_await_time"]
    assert res["ok"] and not res["idle_next_got_event"]
    assert 800 <= res["idle_next_ms"] < 5000, res


def test_report_unsupported_features(rig):
    """Prints what the test server does not support; asserts only that each probe ran."""
    r = rig
    res = r["show_expanded_events"]
    note("showExpandedEvents is ignored (no create/createIndexes/modify events, no collectionUUID); libmongoc 1.23 "
         "does not know it anyway (it goes to the aggregate command, not into $changeStream)",
         f"sent: {json.dumps(res['aggregate'])}")
    res = r["transactions"]
    note(f"sessions/transactions: {err_text(res)}")
