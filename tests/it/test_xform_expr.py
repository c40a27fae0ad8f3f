"""The expression-language transforms on a real PostgreSQL table: a filter that drops records and a
content-based router, checked in the file sink's output; dropped records still move the source offset,
so a restart (even without the filter) does not deliver them again; bad expressions fail validation
naming the key and the column."""
import time

from conftest import key_payload, payload, run_cli, sql

FILTER_AND_ROUTER = {
    "transforms": "nodrafts,route",
    "transforms.nodrafts.type": "io.debezium.transforms.Filter",
    "transforms.nodrafts.language": "sluice",
    "transforms.nodrafts.condition": "after.status == 'draft'",
    "transforms.nodrafts.action": "drop",
    "transforms.route.type": "router",
    "transforms.route.route.1.condition": "op == 'd'",
    "transforms.route.route.1.topic": "orders_deleted",
    "transforms.route.route.2.condition": "after.region in ('eu', 'uk')",
    "transforms.route.route.2.topic": "orders_europe",
}


def rows(events):
    """The table's events: logical decoding messages (op m) other tests emit in the same database are
    streamed too, and left out here."""
    return [e for e in events if e["value"] is None or payload(e).get("op") != "m"]


def wait_rows(s, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = rows(s.events())
        if len(got) >= n:
            return got
        assert s.proc.poll() is None, s.log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"wanted {n} rows, got {[(e['topic'], payload(e)) for e in s.events()]}\n"
                         + s.log.read_text()[-3000:])


def wait_streaming(s, timeout=30):
    """Waits until the slot exists and streaming began, so that nothing written next is missed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if s.log.exists() and s.log.read_text().count("pg: streaming slot=") >= s.starts:
            return
        assert s.proc.poll() is None, s.log.read_text()
        time.sleep(0.05)
    raise AssertionError("sluice did not start streaming:\n" + s.log.read_text())


def start(s):
    s.starts = getattr(s, "starts", 0) + 1
    s.start()
    wait_streaming(s)


def ids_topics(events):
    out = []
    for e in rows(events):
        p = payload(e)
        row = (p["after"] or p["before"]) if p else key_payload(e)
        out.append((row["id"], p["op"] if p else None, e["topic"]))
    return out


def test_filter_and_router(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_xexpr; CREATE TABLE it_xexpr (id int PRIMARY KEY, status text, region text)")
    s = sluice(table_include_list="public.it_xexpr", snapshot_mode="no_data")
    s.config.update(FILTER_AND_ROUTER)
    start(s)
    sql(pg, "INSERT INTO it_xexpr VALUES (1, 'draft', 'eu')")   # dropped
    sql(pg, "INSERT INTO it_xexpr VALUES (2, 'new', 'eu')")     # -> orders_europe
    sql(pg, "INSERT INTO it_xexpr VALUES (3, 'new', 'us')")     # no route: keeps its topic
    sql(pg, "UPDATE it_xexpr SET status = 'final' WHERE id = 1")  # no longer a draft
    sql(pg, "DELETE FROM it_xexpr WHERE id = 3")                # -> orders_deleted, then the tombstone
    ev = wait_rows(s, 5)
    time.sleep(0.5)
    got = ids_topics(s.events())
    assert got == [
        (2, "c", "orders_europe"),
        (3, "c", "it.public.it_xexpr"),
        (1, "u", "orders_europe"),
        (3, "d", "orders_deleted"),
        (3, None, "it.public.it_xexpr"),  # tombstones pass both (null.handling.mode=keep)
    ], got
    assert payload(ev[2])["after"] == {"id": 1, "status": "final", "region": "eu"}
    assert ev[0]["key"]["payload"] == {"id": 2}  # the rest of the record is untouched
    assert ev[0]["value"]["schema"]["name"] == "it.public.it_xexpr.Envelope"

    # Only dropped records at the end of the stream: their offset must still be committed.
    sql(pg, "INSERT INTO it_xexpr VALUES (10, 'draft', 'us')")
    sql(pg, "INSERT INTO it_xexpr VALUES (11, 'draft', 'eu')")
    (wal,), = sql(pg, "SELECT pg_current_wal_lsn() - '0/0'")
    deadline = time.time() + 20
    flushed = 0
    while time.time() < deadline:
        (flushed,), = sql(pg, "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = %s",
                          s.slot)
        if flushed is not None and int(flushed) >= int(wal):
            break
        time.sleep(0.2)
    assert int(flushed) >= int(wal), (flushed, wal)
    assert len(rows(s.events())) == 5
    assert s.stop() == 0

    # Restart without the filter: drafts 10 and 11 were consumed, they must not come back.
    s.config["transforms"] = "route"
    sql(pg, "INSERT INTO it_xexpr VALUES (12, 'draft', 'uk')")  # while down: delivered now (no filter)
    start(s)
    sql(pg, "INSERT INTO it_xexpr VALUES (13, 'new', 'fr')")
    wait_rows(s, 7)
    time.sleep(1.0)
    got = ids_topics(s.events())[5:]
    assert got == [(12, "c", "orders_europe"), (13, "c", "it.public.it_xexpr")], got
    assert s.stop() == 0


def test_topic_expression(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_xexpr2; CREATE TABLE it_xexpr2 (id int PRIMARY KEY, region text)")
    s = sluice(table_include_list="public.it_xexpr2", snapshot_mode="no_data", tombstones_on_delete="false")
    s.config.update({
        "transforms": "route",
        "transforms.route.type": "io.debezium.transforms.ContentBasedRouter",
        "transforms.route.topic.expression": "after.region is null ? null : source.table + '_' + after.region",
        "transforms.route.default.topic": "unrouted",
    })
    start(s)
    sql(pg, "INSERT INTO it_xexpr2 VALUES (1, 'eu'), (2, NULL), (3, 'us')")
    sql(pg, "DELETE FROM it_xexpr2 WHERE id = 3")
    wait_rows(s, 4)
    time.sleep(0.3)
    got = ids_topics(s.events())
    assert got == [(1, "c", "it_xexpr2_eu"), (2, "c", "unrouted"), (3, "c", "it_xexpr2_us"),
                   (3, "d", "unrouted")], got
    assert s.stop() == 0


def test_bad_expressions_fail_validation(pg, cfg):
    s = cfg()
    s.config.update({
        "transforms": "f,r",
        "transforms.f.type": "io.debezium.transforms.Filter",
        "transforms.f.language": "jsr223.groovy",
        "transforms.f.condition": "value.op == 'u' && (value.after.id > 2",
        "transforms.r.type": "router",
        "transforms.r.route.1.condition": "op = 'c'",
        "transforms.r.route.1.topic": "x",
    })
    s.write_config()
    r = run_cli("validate", str(s.cfg_path))
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr
    assert "transforms.f.language: 'jsr223.groovy' is not supported" in err, err
    assert "transforms.f.condition: expected ')', found end of expression at column 39" in err, err
    assert "transforms.r.route.1.condition: '=' is not an operator (use '==') at column 4" in err, err
    assert "ok" not in r.stdout
