"""Golden end-to-end tests: SQL scripts in tests/it/golden/*.sql produce the
change events that the real Debezium (3.6.1) produced from the same SQL, in
*.debezium.jsonl (key and value payloads, volatile fields removed) and
*.debezium.schema.json (the first event's schemas), under every snapshot mode.
Those files come from Debezium, never from sluice:
scripts/golden-from-debezium.sh (make golden-debezium) writes them.
SLUICE_GOLDEN_UPDATE=1 rewrites sluice's own *.expected.jsonl / *.schema.json,
which that script compares with Debezium's field by field."""
import json
import os
from pathlib import Path

import pytest

from conftest import key_payload, payload, sql

GOLDEN = Path(__file__).parent / "golden"
VOLATILE_TOP = ("ts_ms", "ts_us", "ts_ns")
VOLATILE_SOURCE = ("ts_ms", "ts_us", "ts_ns", "lsn", "txId", "sequence", "version", "xmin")


def normalize(event):
    v = payload(event)
    if v is not None:
        v = dict(v)
        for k in VOLATILE_TOP:
            v.pop(k, None)
        v["source"] = {k: x for k, x in v["source"].items() if k not in VOLATILE_SOURCE}
    return {"topic": event["topic"], "key": key_payload(event), "value": v}


def split(script):
    text = (GOLDEN / script).read_text()
    setup, _, stream = text.partition("\n-- stream\n")
    return setup, stream


def run_golden(pg, sluice, script, mode):
    setup, stream = split(script)
    table = "public.golden_" + script[:-4]
    sql(pg, setup)
    (rows,), = sql(pg, f"SELECT count(*) FROM {table}")
    s = sluice(table_include_list=table, snapshot_mode=mode)
    if mode == "initial_only":
        assert s.run_to_end() == 0
        return s, [normalize(e) for e in s.events()]
    s.start()
    snap = rows if mode in ("initial", "when_needed", "always") else 0
    if snap:
        s.wait_events(snap)
    else:
        import time
        time.sleep(1.5)  # the slot exists once sluice streams
    sql(pg, stream)
    if os.environ.get("SLUICE_GOLDEN_UPDATE"):
        import time
        time.sleep(3)
    else:
        expected = expected_events(script)
        streamed = [e for e in expected if e["value"] is None or e["value"]["op"] != "r"]
        s.wait_events(snap + len(streamed))
    assert s.stop() == 0
    return s, [normalize(e) for e in s.events()]


def expected_events(script):
    path = GOLDEN / (script[:-4] + ".debezium.jsonl")
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


SCRIPTS = sorted(p.name for p in GOLDEN.glob("*.sql"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_golden_initial(pg, sluice, script):
    s, got = run_golden(pg, sluice, script, "initial")
    path = GOLDEN / (script[:-4] + ".expected.jsonl")
    if os.environ.get("SLUICE_GOLDEN_UPDATE"):
        path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in got))
    # The schema half of the first event is pinned too (JsonConverter's schema JSON).
    first = json.loads(s.out.read_text().splitlines()[0])
    schema = {"key": first["key"]["schema"], "value": first["value"]["schema"]}
    if os.environ.get("SLUICE_GOLDEN_UPDATE"):
        (GOLDEN / (script[:-4] + ".schema.json")).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    want = expected_events(script)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w
    assert schema == json.loads((GOLDEN / (script[:-4] + ".debezium.schema.json")).read_text())


@pytest.mark.parametrize("mode", ["initial_only", "no_data", "never", "when_needed", "always"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_golden_snapshot_modes(pg, sluice, script, mode):
    _, got = run_golden(pg, sluice, script, mode)
    want = expected_events(script)
    if mode == "initial_only":
        want = [e for e in want if e["value"] is not None and e["value"]["op"] == "r"]
    elif mode in ("no_data", "never"):
        want = [e for e in want if e["value"] is None or e["value"]["op"] != "r"]
    assert got == want
