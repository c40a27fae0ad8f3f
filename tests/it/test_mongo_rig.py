"""The MongoDB test rig: mongo-java-server started by `scripts/services.sh start mongo`, probed through
the official C driver (libmongoc, as sluice uses it) with scripts/mongo/mongo_check.c.

Asserts what the server does like MongoDB (events for insert/update/replace/delete, documentKey on
inserts and deletes, fullDocument with updateLookup, resume after a token / startAfter /
startAtOperationTime, the driver's own resume after a lost cursor, $match after $changeStream).
What it does NOT do like MongoDB is printed, not asserted (see `pytest -s` / `-rP`, and
scripts/mongo/README.md): when a later mongo-java-server gets it right, nothing here breaks.
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
    mongo_uri()  # fails with a hint when the service is not up
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
    assert o[0] == o[1] == o[4] == "insert" and o[2] == "update" and o[5] == "delete"
    assert o[3] in ("replace", "update")

    for e, _id in ((evs[0], 1), (evs[1], 2), (evs[4], 3)):
        assert e["documentKey"] == {"_id": _id}
    assert evs[0]["fullDocument"] == {"_id": 1, "name": "alice", "n": 1, "tags": ["a", "b"]}
    assert evs[5]["documentKey"] == {"_id": 3}
    # fullDocument=updateLookup: the current document, for updates and replacements
    assert evs[2]["fullDocument"] == {"_id": 1, "n": 10, "tags": ["a", "b"]}
    assert evs[3]["fullDocument"] == {"_id": 2, "name": "bobby", "n": 20}

    # resume tokens: one per event, all distinct, and the driver's token is the event's _id
    assert len({json.dumps(t, sort_keys=True) for t in tokens(evs)}) == 6
    assert res["tokens"] == tokens(evs)
    assert res["final_token"] == evs[-1]["_id"]
    for e in evs:
        assert "$timestamp" in e["clusterTime"]
    ts = [(e["clusterTime"]["$timestamp"]["t"], e["clusterTime"]["$timestamp"]["i"]) for e in evs]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)

    if o[3] != "replace":
        note("replace is reported as operationType 'update' (MongoDB: 'replace')",
             json.dumps(evs[3]))
    if evs[2]["documentKey"] != {"_id": 1}:
        note("update/replace documentKey is not {_id}: it is the update spec / replacement document",
             f"update:  {json.dumps(evs[2]['documentKey'])}",
             f"replace: {json.dumps(evs[3]['documentKey'])}")
    missing = [f for f in ("ns", "wallTime", "updateDescription") if f not in evs[2]]
    if missing:
        note(f"update events lack {missing}; event fields are {sorted(evs[2])}")
    if "fullDocument" in evs[5]:
        note(f"delete events carry fullDocument: {json.dumps(evs[5]['fullDocument'])} (MongoDB omits the field)")
    if res["initial_token"] is None:
        note("no postBatchResumeToken: a stream that saw no event has no resume token "
             "(mongoc_change_stream_get_resume_token returns NULL until the first event)")
    note(f"resume token format: {json.dumps(evs[0]['_id'])} (hex of the oplog timestamp; MongoDB's are opaque "
         f"KeyString hex)")


def test_default_full_document_on_update(rig):
    res = rig["default_full_document"]
    evs = events(res)
    o = ops(evs)
    assert o[0] == "insert" and o[-1] == "delete"
    assert evs[0]["documentKey"] == {"_id": "k1"} and evs[-1]["documentKey"] == {"_id": "k1"}
    assert len(evs) >= 4
    note("without updateLookup an update's fullDocument is the $set/$unset fields, not absent/null "
         "(MongoDB: no fullDocument, an updateDescription instead)",
         *(json.dumps(e) for e in evs if e["operationType"] != "insert" and e["operationType"] != "delete"))
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
    # pymongo's own change streams need an operationTime in the aggregate reply, which the server
    # never sends (libmongoc does without it).
    try:
        with coll.watch() as stream:
            coll.insert_one({"_id": 9})
            stream.try_next()
    except OperationFailure as e:
        note(f"pymongo watch() fails: {e}")


# ------------------------------------------------------------------------------------------------ not supported

def test_report_unsupported_features(rig):
    """Prints what mongo-java-server does not support; asserts only that each probe ran."""
    r = rig

    for name in ("full_document_before_change_when_available", "full_document_before_change_required",
                 "full_document_required", "show_expanded_events"):
        res = r[name]
        assert name in r
        evs = res["events"]
        sent = res["aggregate"]
        if not res["ok"]:
            note(f"{name}: fails: {err_text(res)}")
        else:
            extra = sorted({k for e in evs for k in e} - {"_id", "operationType", "fullDocument", "documentKey",
                                                          "clusterTime"})
            lines = [f"sent: {json.dumps(sent)}"]
            if "showExpandedEvents" in sent:
                lines.append("(libmongoc 1.23 does not know showExpandedEvents: it goes to the aggregate "
                             "command, not into $changeStream; MongoDB would reject that)")
            if name.startswith("full_document"):
                lines.append(f"collMod changeStreamPreAndPostImages: {err_text(res['collMod'])}")
            note(f"{name}: accepted and ignored ({len(evs)} events for insert/update/delete, extra fields "
                 f"{extra or 'none'})", *lines)

    res = r["drop"]
    note(f"drop: events {ops(res['events'])} (MongoDB: insert, drop, invalidate; stream closed) - "
         f"{'no invalidate' if 'invalidate' not in ops(res['events']) else 'invalidate sent'}; {err_text(res)}")
    res = r["rename"]
    note(f"rename: events {ops(res['events'])} (MongoDB: insert, rename, invalidate); {err_text(res)}")
    res = r["database_watch"]
    note(f"database-level watch (mongoc_database_watch): {len(res['events'])} events for 1 insert; {err_text(res)}")
    res = r["cluster_watch"]
    note(f"cluster-level watch (mongoc_client_watch): {len(res['events'])} events; {err_text(res)}")
    res = r["transactions"]
    note(f"sessions/transactions: {err_text(res)}")
    res = r["max_await_time"]
    note(f"maxAwaitTimeMS=1000 on an idle stream: next() returned after {res.get('idle_next_ms')} ms "
         f"(MongoDB waits ~1000 ms): consumers must pace their own polling")
    res = r["resume_after_bad_token"]
    note(f"resumeAfter {{_data: 'not-a-token'}}: {err_text(res)}")
    res = r["resume_after_unknown_token"]
    note(f"resumeAfter an unknown (future) token: {err_text(res)}, {len(res['events'])} events after 1 insert "
         f"(MongoDB: an error, ChangeStreamHistoryLost / resume token not found)")
