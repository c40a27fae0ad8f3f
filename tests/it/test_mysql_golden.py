"""Golden end-to-end tests for MariaDB: tests/it/golden_mysql/*.sql produce the change events that the real
Debezium produced from the same SQL, in *.debezium.jsonl (key and value payloads, volatile fields removed)
and *.debezium.schema.json (the first row event's schemas). Those files come from Debezium, never from
sluice: scripts/golden-from-debezium.sh (make golden-debezium) writes them."""
import json
from pathlib import Path

import pytest

from conftest import key_payload, mysql, payload

GOLDEN = Path(__file__).parent / "golden_mysql"
VOLATILE_SOURCE = ("ts_ms", "ts_us", "ts_ns", "file", "pos", "gtid", "version", "thread", "server_id", "sequence")


def normalize(event):
    v = payload(event)
    if v is not None:
        v = {k: x for k, x in v.items() if k not in ("ts_ms", "ts_us", "ts_ns")}
        v["source"] = {k: x for k, x in v["source"].items() if k not in VOLATILE_SOURCE}
    return {"topic": event["topic"], "key": key_payload(event), "value": v}


def statements(text):
    out, cur = [], []
    for line in text.splitlines():
        if line.startswith("--") and not cur:
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(cur).rstrip().rstrip(";"))
            cur = []
    return out


SCRIPTS = sorted(p.name for p in GOLDEN.glob("*.sql"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_mysql_golden(my, mysluice, script, row_metadata):
    setup, _, stream = (GOLDEN / script).read_text().partition("\n-- stream\n")
    for st in statements(setup):
        mysql(my, st)
    path = GOLDEN / (script[:-4] + ".debezium.jsonl")
    want = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    (rows,), = mysql(my, "SELECT COUNT(*) FROM golden_" + script[:-4])
    # Debezium's events are per topic (the schema change topic, the table's): compared in order per topic
    nschema = sum(1 for e in want if e["topic"] == "my" and e["value"]["source"]["snapshot"] == "true")
    # the snapshot's schema change events come first (SET, DROP TABLE/DATABASE IF EXISTS, CREATE DATABASE,
    # USE, CREATE TABLE: tableChanges of every type)
    s = mysluice(table_include_list="sluice.golden_" + script[:-4], schema_events=True).start()
    s.wait_events(nschema + rows)
    for st in statements(stream):
        mysql(my, st)
    s.wait_events(len(want))
    assert s.stop() == 0
    events = s.events()
    # Debezium stamps each snapshot row with its clock's currentTime(), which is millisecond-precise
    snap = [payload(e)["source"]["ts_us"] for e in events if payload(e) is not None and payload(e).get("op") == "r"]
    assert snap and all(t % 1000 == 0 for t in snap), snap[:5]
    got = [normalize(e) for e in events]
    assert len(got) == len(want)
    for topic in sorted({e["topic"] for e in want}):
        g = [e for e in got if e["topic"] == topic]
        w = [e for e in want if e["topic"] == topic]
        assert len(g) == len(w), topic
        for a, b in zip(g, w):
            assert a == b
    first = events[nschema]  # the first row event
    schema = {"key": first["key"]["schema"], "value": first["value"]["schema"]}
    assert schema == json.loads((GOLDEN / (script[:-4] + ".debezium.schema.json")).read_text())
