"""Golden end-to-end tests for MariaDB: tests/it/golden_mysql/*.sql produce the change events in
*.expected.jsonl (key and value payloads, volatile fields removed). SLUICE_GOLDEN_UPDATE=1 rewrites them."""
import json
import os
import time
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
    (rows,), = mysql(my, "SELECT COUNT(*) FROM golden_" + script[:-4])
    # the snapshot's schema change events come first (CREATE DATABASE, CREATE TABLE: tableChanges of every type)
    s = mysluice(table_include_list="sluice.golden_" + script[:-4], schema_events=True).start()
    s.wait_events(2 + rows)
    for st in statements(stream):
        mysql(my, st)
    path = GOLDEN / (script[:-4] + ".expected.jsonl")
    if os.environ.get("SLUICE_GOLDEN_UPDATE"):
        time.sleep(3)
    else:
        s.wait_events(len(path.read_text().splitlines()))
    assert s.stop() == 0
    got = [normalize(e) for e in s.events()]
    first = s.events()[2]  # the first row event
    schema_path = GOLDEN / (script[:-4] + ".schema.json")
    schema = {"key": first["key"]["schema"], "value": first["value"]["schema"]}
    if os.environ.get("SLUICE_GOLDEN_UPDATE"):
        path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in got))
        schema_path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    want = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w
    assert schema == json.loads(schema_path.read_text())
