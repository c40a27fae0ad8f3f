#!/usr/bin/env python3
"""Driver of scripts/golden-from-debezium.sh (read that script's header for the whole story).

Given a running Kafka Connect standalone worker (REST url), runs every golden script of
tests/it/golden (PostgreSQL) and tests/it/golden_mysql (MariaDB) against the real Debezium
connectors in private databases, reads the change events they produce from the test Kafka,
normalises them with the golden tests' own normalize() plus the few renames listed in the shell
script's header, writes <script>.debezium.jsonl / <script>.debezium.schema.json and prints a
field-by-field comparison with sluice's <script>.expected.jsonl / <script>.schema.json.

Usage: golden.py --rest URL --run-id ID [--only pg|mariadb] [--report FILE] [script.sql ...]
"""
import argparse
import difflib
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IT = ROOT / "tests" / "it"
sys.path.insert(0, str(IT))

import conftest  # noqa: E402  (loads .run/env; connection helpers)
import test_golden  # noqa: E402  (normalize, split of the PostgreSQL golden tests)
import test_mysql_golden  # noqa: E402  (normalize, statements of the MariaDB golden tests)

PG_DB = os.environ.get("DBZ_GOLDEN_PG_DB", "dbz_golden")
MY_DB = os.environ.get("DBZ_GOLDEN_MY_DB", "dbz_golden")
SLUICE_PG_DB = os.environ["SLUICE_PG_DB"]          # what the expected files say ("sluice")
SLUICE_MY_DB = os.environ.get("SLUICE_MARIADB_DB", "sluice")
QUIET = float(os.environ.get("DBZ_GOLDEN_QUIET", "5"))       # s without a new event after the count
TIMEOUT = float(os.environ.get("DBZ_GOLDEN_TIMEOUT", "120"))  # s per phase at most


def log(*a):
    print("golden:", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ Kafka Connect REST
class Rest:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read().decode()
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def create(self, name, config):
        code, body = self.call("PUT", f"/connectors/{name}/config", config)
        if code >= 300:
            raise RuntimeError(f"PUT /connectors/{name}/config: {code} {body}")

    def status(self, name):
        return self.call("GET", f"/connectors/{name}/status")[1]

    def check_running(self, name):
        st = self.status(name)
        if not isinstance(st, dict):
            return
        for t in [st.get("connector", {})] + st.get("tasks", []):
            if t.get("state") == "FAILED":
                raise RuntimeError(f"connector {name} FAILED:\n{t.get('trace', '')[:6000]}")

    def delete(self, name):
        self.call("DELETE", f"/connectors/{name}")


# ------------------------------------------------------------------ Kafka reading
def kafka_read(prefix):
    """Every record of every topic whose name starts with prefix: {topic: [event, ...]} with
    event = {"topic", "key", "value"} (key/value parsed JSON, None for a null)."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient
    boot = os.environ["SLUICE_KAFKA_BOOTSTRAP"]
    md = AdminClient({"bootstrap.servers": boot, "log_level": 3}).list_topics(timeout=30)
    out = {}
    c = Consumer({"bootstrap.servers": boot, "group.id": "dbz-golden-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        for topic, tmd in sorted(md.topics.items()):
            if not topic.startswith(prefix) or topic.endswith(".schemahistory"):
                continue
            events = []
            for p in sorted(tmd.partitions):
                lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                if hi <= lo:
                    continue
                c.assign([TopicPartition(topic, p, lo)])
                while True:
                    m = c.poll(10)
                    if m is None:
                        raise RuntimeError(f"no record at {topic}[{p}] before offset {hi}")
                    if m.error():
                        continue
                    events.append({"topic": topic,
                                   "key": json.loads(m.key()) if m.key() is not None else None,
                                   "value": json.loads(m.value()) if m.value() is not None else None})
                    if m.offset() + 1 >= hi:
                        break
            out[topic] = events
    finally:
        c.close()
    return out


def kafka_delete(prefix):
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP"], "log_level": 3})
    topics = [t for t in a.list_topics(timeout=30).topics if t.startswith(prefix)]
    if topics:
        for f in a.delete_topics(topics, operation_timeout=30).values():
            try:
                f.result()
            except Exception as e:  # noqa: BLE001
                log("could not delete topic:", e)


def wait_for(read, want, rest, name, what):
    """Polls read() (a list of events) until it has want events and then nothing new came for QUIET
    seconds, or nothing new came for max(QUIET, 15) s before that count, or TIMEOUT; returns the events."""
    deadline = time.time() + TIMEOUT
    last_n, last_change = -1, time.time()
    while True:
        rest.check_running(name)
        ev = read()
        now = time.time()
        if len(ev) != last_n:
            last_n, last_change = len(ev), now
        quiet = now - last_change
        if len(ev) >= want and quiet >= QUIET:
            return ev
        if len(ev) < want and quiet >= max(QUIET, 15) and last_n > 0:
            log(f"{what}: only {len(ev)} of {want} events, nothing new for {quiet:.0f}s")
            return ev
        if now > deadline:
            log(f"{what}: {len(ev)} of {want} events after {TIMEOUT:.0f}s")
            return ev
        time.sleep(1)


# ------------------------------------------------------------------ renames (see the shell header)
def strip_topic(ev, prefix):
    ev = dict(ev)
    if ev["topic"].startswith(prefix):
        ev["topic"] = ev["topic"][len(prefix):]
    return ev


def rename_db(obj, ours, theirs, top_prefix):
    """Our database name back to the tests' one, only where Debezium writes the database name: the
    topic (<prefix>.<db>.<table>), source.db, a schema change event's key/value databaseName, its
    tableChanges[].id ("db"."table") and the `db` identifier in its ddl, and the Connect schema names
    (<prefix>.<db>.<table>.Key/Value/Envelope)."""
    def name(s):
        return s.replace(f"{top_prefix}.{ours}.", f"{top_prefix}.{theirs}.", 1) if isinstance(s, str) else s

    def walk_schema(s):
        if isinstance(s, dict):
            s = {k: (name(v) if k == "name" else walk_schema(v)) for k, v in s.items()}
        elif isinstance(s, list):
            s = [walk_schema(x) for x in s]
        return s

    ev = obj
    ev["topic"] = name(ev["topic"])
    for part in ("key", "value"):
        env = ev.get(part)
        if not isinstance(env, dict):
            continue
        if "schema" in env:
            env["schema"] = walk_schema(env["schema"])
        p = env.get("payload", env)
        if not isinstance(p, dict):
            continue
        if p.get("databaseName") == ours:
            p["databaseName"] = theirs
        src = p.get("source")
        if isinstance(src, dict) and src.get("db") == ours:
            src["db"] = theirs
        if isinstance(p.get("ddl"), str):
            p["ddl"] = p["ddl"].replace(f"`{ours}`", f"`{theirs}`")
        for tc in p.get("tableChanges") or []:
            if isinstance(tc.get("id"), str) and tc["id"].startswith(f'"{ours}".'):
                tc["id"] = f'"{theirs}".' + tc["id"][len(ours) + 3:]
    return ev


# ------------------------------------------------------------------ PostgreSQL
def run_pg(rest, run_id, script):
    import psycopg2
    admin = psycopg2.connect(**conftest.pg_params())
    admin.autocommit = True
    if not conftest.sql(admin, "SELECT 1 FROM pg_database WHERE datname = %s", PG_DB):
        conftest.sql(admin, f'CREATE DATABASE "{PG_DB}"')
    admin.close()
    pg = psycopg2.connect(**conftest.pg_params(dbname=PG_DB))
    pg.autocommit = True
    setup, _, stream = (test_golden.GOLDEN / script).read_text().partition("\n-- stream\n")
    stem = script[:-4]
    table = "public.golden_" + stem
    conftest.sql(pg, setup)
    (rows,), = conftest.sql(pg, f"SELECT count(*) FROM {table}")
    known = test_golden.GOLDEN / (stem + ".debezium.jsonl")
    want = len(test_golden.expected_events(script)) if known.exists() else 0  # a new script: until QUIET
    tag = f"{run_id}_{stem}"
    topic_prefix = f"dbzgolden-{run_id}-{stem}."
    name = f"dbz-golden-pg-{run_id}-{stem}"
    slot, pub = f"dbzg_{tag}"[:63], f"dbzg_pub_{tag}"[:63]
    cfg = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "database.hostname": "127.0.0.1",
        "database.port": os.environ["SLUICE_PG_PORT"],
        "database.user": os.environ["SLUICE_PG_USER"],
        "database.password": os.environ["SLUICE_PG_PASSWORD"],
        "database.dbname": PG_DB,
        "topic.prefix": "it",
        "plugin.name": "pgoutput",
        "slot.name": slot,
        "publication.name": pub,
        "publication.autocreate.mode": "filtered",
        "table.include.list": table,
        "snapshot.mode": "initial",
        "slot.drop.on.stop": "true",
        **route(topic_prefix),
    }
    t0 = time.time()
    rest.create(name, cfg)
    try:
        read = lambda: [e for evs in kafka_read(topic_prefix).values() for e in evs]  # noqa: E731
        wait_for(read, rows, rest, name, f"{script} snapshot")
        conftest.sql(pg, stream)
        ev = wait_for(read, want, rest, name, f"{script} stream")
    finally:
        rest.delete(name)
        time.sleep(2)
        for _ in range(50):
            try:
                conftest.sql(pg, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                                 "WHERE slot_name = %s AND NOT active", slot)
                if not conftest.sql(pg, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", slot):
                    break
            except psycopg2.Error:
                pass
            time.sleep(0.2)
        conftest.sql(pg, f'DROP PUBLICATION IF EXISTS "{pub}"')
        pg.close()
        kafka_delete(topic_prefix)
    log(f"{script}: {len(ev)} events from Debezium in {time.time() - t0:.1f}s (sluice expects {want})")
    ev = [rename_db(strip_topic(e, topic_prefix), PG_DB, SLUICE_PG_DB, "it") for e in ev]
    # source.db is not in a topic or schema name for PostgreSQL; rename_db handles it in the payload
    first = next((e for e in ev if e["value"] is not None), None)
    return test_golden.GOLDEN, stem, [test_golden.normalize(e) for e in ev], first


def route(topic_prefix):
    """Every topic of the connector (data and schema change) goes to <topic_prefix><its topic>, so a
    run never reads or deletes a topic anyone else uses; the prefix is stripped again when read."""
    return {
        "transforms": "dbzgoldenroute",
        "transforms.dbzgoldenroute.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.dbzgoldenroute.regex": "(.*)",
        "transforms.dbzgoldenroute.replacement": topic_prefix + "$1",
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
    }


# ------------------------------------------------------------------ MariaDB
def run_mariadb(rest, run_id, script):
    import pymysql
    p = conftest.my_params()
    admin = pymysql.connect(**{**p, "database": None})
    # a fresh database per script: Debezium's snapshot emits DDL for every table in it
    conftest.mysql(admin, f"DROP DATABASE IF EXISTS `{MY_DB}`")
    conftest.mysql(admin, f"CREATE DATABASE `{MY_DB}`")
    admin.close()
    my = pymysql.connect(**{**p, "database": MY_DB})
    setup, _, stream = (test_mysql_golden.GOLDEN / script).read_text().partition("\n-- stream\n")
    stem = script[:-4]
    for st in test_mysql_golden.statements(setup):
        conftest.mysql(my, st)
    (rows,), = conftest.mysql(my, f"SELECT COUNT(*) FROM golden_{stem}")
    path = test_mysql_golden.GOLDEN / (stem + ".expected.jsonl")
    # a new script has no expected file yet: wait until no event came for QUIET seconds
    want = len([l for l in path.read_text().splitlines() if l.strip()]) if path.exists() else 0
    topic_prefix = f"dbzgolden-{run_id}-{stem}."
    name = f"dbz-golden-my-{run_id}-{stem}"
    cfg = {
        "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "tasks.max": "1",
        "database.hostname": p["host"],
        "database.port": str(p["port"]),
        "database.user": p["user"],
        "database.password": p["password"],
        "database.server.id": str(20000 + int(uuid.uuid4().hex[:4], 16) % 10000),
        "topic.prefix": "my",
        # by default Debezium's snapshot records (and emits to the schema change topic) the DDL of
        # every database on the server, whatever the include lists say: on the shared server that
        # is other people's tables, so the history is restricted to the captured database
        "database.include.list": MY_DB,
        "schema.history.internal.store.only.captured.databases.ddl": "true",
        "table.include.list": f"{MY_DB}.golden_{stem}",
        "include.schema.changes": "true",
        "snapshot.mode": "initial",
        "snapshot.locking.mode": "none",
        "schema.history.internal.kafka.bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP"],
        "schema.history.internal.kafka.topic": topic_prefix + "schemahistory",
        **route(topic_prefix),
    }
    t0 = time.time()
    rest.create(name, cfg)

    def read():
        by_topic = kafka_read(topic_prefix)
        schema_topic = topic_prefix + "my"
        # the schema change topic first (sluice's file has the snapshot's schema changes first;
        # the stream parts have no DDL), then the data topics
        return by_topic.get(schema_topic, []) + [e for t, evs in sorted(by_topic.items())
                                                 if t != schema_topic for e in evs]
    try:
        wait_for(read, 2 + rows, rest, name, f"{script} snapshot")
        for st in test_mysql_golden.statements(stream):
            conftest.mysql(my, st)
        ev = wait_for(read, want, rest, name, f"{script} stream")
    finally:
        rest.delete(name)
        my.close()
        kafka_delete(topic_prefix)
    log(f"{script}: {len(ev)} events from Debezium in {time.time() - t0:.1f}s (sluice expects {want})")
    ev = [rename_db(strip_topic(e, topic_prefix), MY_DB, SLUICE_MY_DB, "my") for e in ev]
    rowev = [e for e in ev if e["topic"] != "my" and e["value"] is not None]
    return test_mysql_golden.GOLDEN, stem, [test_mysql_golden.normalize(e) for e in ev], \
        (rowev[0] if rowev else None)


# ------------------------------------------------------------------ writing and comparing
def write(golden, stem, events, first):
    (golden / f"{stem}.debezium.jsonl").write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
    if first is not None:
        schema = {"key": first["key"]["schema"], "value": first["value"]["schema"]}
        (golden / f"{stem}.debezium.schema.json").write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")


MISSING = object()


def show(v):
    return "(absent)" if v is MISSING else json.dumps(v, sort_keys=True)


def keyed(lst):
    """A list of objects that name themselves (Connect schema fields, tableChanges columns) is
    compared by that name rather than by position."""
    for k in ("field", "name"):
        if lst and all(isinstance(x, dict) and k in x for x in lst) and len({x[k] for x in lst}) == len(lst):
            return k
    return None


def diff(a, b, path, out):
    """a = Debezium's, b = sluice's expected; appends (path, a, b) for every leaf that differs."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            diff(a.get(k, MISSING), b.get(k, MISSING), f"{path}.{k}" if path else k, out)
    elif isinstance(a, list) and isinstance(b, list):
        ka, kb = keyed(a), keyed(b)
        if ka and ka == kb:
            ia, ib = {x[ka]: i for i, x in enumerate(a)}, {x[kb]: i for i, x in enumerate(b)}
            for n in list(ia) + [n for n in ib if n not in ia]:
                diff(a[ia[n]] if n in ia else MISSING, b[ib[n]] if n in ib else MISSING,
                     f"{path}[{ka}={n}]", out)
            order_a = [x[ka] for x in a if x[ka] in ib]
            order_b = [x[kb] for x in b if x[kb] in ia]
            if order_a != order_b:
                out.append((f"{path} (order of {ka}s)", order_a, order_b))
        else:
            for i in range(max(len(a), len(b))):
                diff(a[i] if i < len(a) else MISSING, b[i] if i < len(b) else MISSING, f"{path}[{i}]", out)
    elif a != b or type(a) is not type(b):
        out.append((path, a, b))


def signature(e):
    v = e.get("value")
    if v is None:
        what = "tombstone"
    elif "op" in v:
        what = v["op"]
    else:
        what = " ".join((v.get("ddl") or "").split()[:2]).upper()
    return json.dumps([e["topic"], e["key"], what], sort_keys=True)


def describe(e):
    v = e.get("value") or {}
    what = f"op={v.get('op')}" if "op" in v else (f"schema change {' '.join((v.get('ddl') or '').split()[:2])}"
                                                  if v else "tombstone")
    return f"{e['topic']}, key {json.dumps(e['key'])}, {what}"


def compare(golden, stem, events):
    lines = []
    exp_path = golden / f"{stem}.expected.jsonl"
    if not exp_path.exists():
        return f"=== {stem}: no {exp_path.name} (sluice's own output) to compare with\n"
    want = [json.loads(l) for l in exp_path.read_text().splitlines() if l.strip()]
    rel = exp_path.relative_to(ROOT)
    sql_sum = hashlib.sha256((golden / f"{stem}.sql").read_bytes()).hexdigest()[:16]
    lines.append(f"=== {rel.parent}/{stem}: Debezium {len(events)} events, sluice expected {len(want)} "
                 f"({stem}.sql sha256 {sql_sum}...)")
    n = 0
    # events are paired by (topic, key, op / first words of the ddl) in order; an event without a
    # partner is listed whole
    sm = difflib.SequenceMatcher(None, [signature(e) for e in events], [signature(e) for e in want],
                                 autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                out = []
                diff(events[i], want[j], "", out)
                if out:
                    lines.append(f"--- Debezium event {i} / sluice event {j} ({describe(events[i])})")
                    for p, a, b in out:
                        lines.append(f"  {p}\n      debezium: {show(a)}\n      sluice:   {show(b)}")
                        n += 1
            continue
        for i in range(i1, i2):
            lines.append(f"--- only Debezium: event {i} ({describe(events[i])})\n      {show(events[i])}")
            n += 1
        for j in range(j1, j2):
            lines.append(f"--- only sluice: event {j} ({describe(want[j])})\n      {show(want[j])}")
            n += 1
    sp, ss = golden / f"{stem}.debezium.schema.json", golden / f"{stem}.schema.json"
    if sp.exists() and ss.exists():
        out = []
        diff(json.loads(sp.read_text()), json.loads(ss.read_text()), "", out)
        if out:
            lines.append(f"--- first row event's schemas ({sp.name} vs {ss.name})")
            for p, a, b in out:
                lines.append(f"  {p}\n      debezium: {show(a)}\n      sluice:   {show(b)}")
                n += 1
    lines.append(f"=== {rel.parent}/{stem}: {n} difference(s)")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rest", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--only", choices=("pg", "mariadb"))
    ap.add_argument("--report")
    ap.add_argument("--compare-only", action="store_true", help="only compare the existing .debezium.* files")
    ap.add_argument("scripts", nargs="*")
    a = ap.parse_args()
    rest = Rest(a.rest)
    jobs = []
    if a.only != "mariadb":
        jobs += [("pg", s) for s in test_golden.SCRIPTS]
    if a.only != "pg":
        jobs += [("mariadb", s) for s in test_mysql_golden.SCRIPTS]
    if a.scripts:
        jobs = [j for j in jobs if j[1] in a.scripts]
    report, failed = [], 0
    for kind, script in jobs:
        golden = test_golden.GOLDEN if kind == "pg" else test_mysql_golden.GOLDEN
        stem = script[:-4]
        if not a.compare_only:
            log(f"{kind} {script}: running Debezium")
            try:
                golden, stem, events, first = (run_pg if kind == "pg" else run_mariadb)(rest, a.run_id, script)
            except Exception as e:  # noqa: BLE001
                failed += 1
                report.append(f"=== {golden.relative_to(ROOT)}/{stem}: Debezium run FAILED: {e}\n")
                log(f"{kind} {script}: FAILED: {e}")
                continue
            write(golden, stem, events, first)
        path = golden / f"{stem}.debezium.jsonl"
        if not path.exists():
            continue
        events = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
        report.append(compare(golden, stem, events))
    text = "\n".join(report)
    print(text)
    if a.report:
        Path(a.report).write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
