"""Kafka Connect's built-in transforms on a real PostgreSQL stream, written by the file sink:
InsertField (a static field) + RegexRouter, the insert applied through a TopicNameMatches predicate,
and a bad regex rejected before anything runs."""
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
