"""Kafka Connect's built-in transforms on a real PostgreSQL stream, written by the file sink:
InsertField (a static field) + RegexRouter, the insert applied through a TopicNameMatches predicate,
a bad regex rejected before anything runs, and doubles printed alike with and without a transform."""
import re
import time

from conftest import key_payload, payload, run_cli, sql

T = "org.apache.kafka.connect.transforms."


def chain(**extra):
    cfg = {
        "transforms": "origin,route",
        "transforms.origin.type": T + "InsertField$Value",
        "transforms.origin.static.field": "origin",
        "transforms.origin.static.value": "pg-main",
        "transforms.origin.predicate": "orders",
        "predicates": "orders",
        "predicates.orders.type": T + "predicates.TopicNameMatches",
        "predicates.orders.pattern": r"it\.public\.it_xc_orders",
        "transforms.route.type": T + "RegexRouter",
        "transforms.route.regex": r"it\.public\.(it_xc_.*)",
        "transforms.route.replacement": "cdc.$1",
    }
    cfg.update(extra)
    return cfg


def test_insert_field_and_regex_router(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_xc_orders; CREATE TABLE it_xc_orders (id int PRIMARY KEY, note text)")
    sql(pg, "DROP TABLE IF EXISTS it_xc_items; CREATE TABLE it_xc_items (id int PRIMARY KEY)")
    sql(pg, "INSERT INTO it_xc_orders VALUES (1, 'one')")
    try:
        s = sluice(table_include_list="public.it_xc_orders,public.it_xc_items", **chain())
        s.config["value.converter.schemas.enable"] = "true"
        s.start()
        ev = s.wait_events(1)
        assert ev[0]["topic"] == "cdc.it_xc_orders"
        assert payload(ev[0])["origin"] == "pg-main"
        assert payload(ev[0])["op"] == "r"
        # the schema has the new field, optional as Connect's InsertField makes it
        fields = ev[0]["value"]["schema"]["fields"]
        assert fields[-1] == {"type": "string", "optional": True, "field": "origin"}
        assert ev[0]["value"]["schema"]["name"] == "it.public.it_xc_orders.Envelope"
        sql(pg, "INSERT INTO it_xc_items VALUES (7)")
        sql(pg, "DELETE FROM it_xc_orders WHERE id = 1")
        ev = s.wait_events(4)
        item, dele, tomb = ev[1:4]
        # the predicate keeps the insert off other tables; the router still renames them
        assert item["topic"] == "cdc.it_xc_items" and "origin" not in payload(item)
        assert payload(dele)["op"] == "d" and payload(dele)["origin"] == "pg-main"
        # the tombstone goes through the chain too: routed, nothing inserted into a null value
        assert tomb["topic"] == "cdc.it_xc_orders" and tomb["value"] is None and key_payload(tomb) == {"id": 1}
        assert s.stop() == 0
    finally:
        sql(pg, "DROP TABLE IF EXISTS it_xc_orders; DROP TABLE IF EXISTS it_xc_items")


def test_filter_drops_records_by_predicate(pg, sluice):
    sql(pg, "DROP TABLE IF EXISTS it_xc_f; CREATE TABLE it_xc_f (id int PRIMARY KEY)")
    try:
        s = sluice(table_include_list="public.it_xc_f", snapshot_mode="no_data", **{
            "transforms": "drop",
            "transforms.drop.type": T + "Filter",
            "transforms.drop.predicate": "tomb",
            "predicates": "tomb",
            "predicates.tomb.type": T + "predicates.RecordIsTombstone",
        }).start()
        time.sleep(1.0)
        sql(pg, "INSERT INTO it_xc_f VALUES (1)")
        sql(pg, "DELETE FROM it_xc_f WHERE id = 1")
        sql(pg, "INSERT INTO it_xc_f VALUES (2)")
        ev = s.wait_events(3)
        time.sleep(0.5)
        ev = s.events()
        assert [payload(e)["op"] for e in ev] == ["c", "d", "c"]  # no tombstone
        assert s.stop() == 0
    finally:
        sql(pg, "DROP TABLE IF EXISTS it_xc_f")


def test_bad_regex_is_a_config_error(cfg):
    c = cfg(table_include_list="public.it_xc_none", **chain(**{"transforms.route.regex": "it\\.(unclosed"}))
    r = run_cli("validate", str(c.cfg_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "transforms.route.regex" in r.stdout + r.stderr


def test_doubles_print_alike_with_and_without_a_transform(pg, sluice, tmp_path):
    """A double or real prints as Java's Double/Float.toString whether the event goes out as encoded
    or is re-encoded by the transform chain (here Debezium's unwrap)."""
    sql(pg, "DROP TABLE IF EXISTS it_xc_num; CREATE TABLE it_xc_num (id int PRIMARY KEY, d float8, r float4)")
    rows = [(1, "1e20", "1e10"), (2, "1e-5", "3.4028235e38"), (3, "12345678", "0.1"), (4, "0.30000000000000004", "1e-3"),
            (5, "100", "-0")]
    for row in rows:
        sql(pg, "INSERT INTO it_xc_num VALUES (%s, %s, %s)", *row)
    want = {1: ("1.0E20", "1.0E10"), 2: ("1.0E-5", "3.4028235E38"), 3: ("1.2345678E7", "0.1"),
            4: ("0.30000000000000004", "0.001"), 5: ("100.0", "-0.0")}
    try:
        printed = []
        for name, extra in (("plain", {}), ("unwrap", {
                "transforms": "unwrap", "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState"})):
            s = sluice(table_include_list="public.it_xc_num", snapshot_mode="initial_only", **extra)
            s.out = tmp_path / f"{name}.jsonl"
            s.config["sink.file.path"] = str(s.out)
            assert s.run_to_end() == 0
            lines = [l for l in s.out.read_text().splitlines() if l.strip()]
            assert len(lines) == len(rows)
            # the numbers as written, not as Python would read them back
            got = {}
            for line in lines:
                m = re.search(r'"id":(\d+),"d":([^,}]+),"r":([^,}]+)[,}]', line)
                assert m, line
                got[int(m.group(1))] = (m.group(2), m.group(3))
            printed.append(got)
        assert printed[0] == want
        assert printed[1] == want
    finally:
        sql(pg, "DROP TABLE IF EXISTS it_xc_num")
