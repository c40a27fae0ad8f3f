"""`sluice serve`: Kafka Connect's REST API against the real binary and the real PostgreSQL.

Each test starts its own daemon on a free port with a fresh worker database, talks to it with
http.client, and drops the replication slots and publications its connectors made."""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import psycopg2
import pytest

from conftest import SLUICE, MySluice, my_make_table, mysql, payload, sql, wait_until
from test_sql_sink import pgt  # noqa: F401 (a fixture)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """One `sluice serve` process, its worker config and its log."""

    def __init__(self, tmp_path, **keys):
        self.dir = tmp_path
        self.port = free_port()
        self.https = keys.pop("https", False)
        self.log = tmp_path / f"serve-{self.port}.log"
        self.conf = {
            "listeners": f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}",
            "config.storage.file.filename": str(tmp_path / "worker.db"),
            "offset.storage.file.filename": str(tmp_path / "offsets.db"),
            "task.restart.backoff.initial.ms": "200",
            "task.restart.backoff.max.ms": "2000",
        }
        self.conf.update(keys)
        self.token = self.conf.get("rest.auth.token")
        self.proc = None

    def start(self, wait=True):
        path = self.dir / "worker.json"
        path.write_text(json.dumps(self.conf))
        self.logf = open(self.log, "ab")
        self.mark = self.log.stat().st_size
        self.proc = subprocess.Popen([SLUICE, "serve", "--config", str(path)], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        if wait:
            wait_until(lambda: self._up(), timeout=20, what="the REST API to answer")
        return self

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"sluice serve exited ({self.proc.returncode}):\n{self.log_text()}")
        try:
            return self.req("GET", "/health")[0] == 200
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM, timeout=60):
        rc = None
        if self.proc:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            rc = self.proc.wait(timeout)
            self.logf.close()
            self.proc = None
        return rc

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def req(self, method, path, body=None, token=None, headers=None):
        """(status, parsed JSON body or text or None, headers)"""
        if self.https:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=90,
                                               context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=90)
        h = dict(headers or {})
        tok = token if token is not None else self.token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            ctype = r.getheader("Content-Type") or ""
            parsed = json.loads(raw) if raw and ctype.startswith("application/json") else (raw.decode() or None)
            return r.status, parsed, dict(r.getheaders())
        finally:
            conn.close()

    def ok(self, method, path, body=None, want=200):
        st, b, _ = self.req(method, path, body)
        assert st == want, f"{method} {path}: {st} {b}\n{self.log_text()[-3000:]}"
        return b

    def status(self, name):
        return self.ok("GET", f"/connectors/{urllib.parse.quote(name, safe='')}/status")

    def wait_state(self, name, state, timeout=30):
        last = {}

        def check():
            nonlocal last
            last = self.status(name)
            return last["connector"]["state"] == state

        try:
            wait_until(check, timeout=timeout, interval=0.1, what=f"{name} to be {state}")
        except AssertionError:
            raise AssertionError(f"{name} is not {state}: {last}\n{self.log_text()[-4000:]}")
        return last

    def wait_log(self, text, timeout=30):
        wait_until(lambda: text in self.log_text(), timeout=timeout, what=f"{text!r} in the log")


class Pg:
    """Connector configs for the PG test server; remembers slots and publications to drop."""

    def __init__(self, conn, tmp_path):
        self.conn = conn
        self.dir = tmp_path
        self.slots, self.pubs = [], []

    def config(self, table, **over):
        tag = uuid.uuid4().hex[:8]
        slot, pub = f"rest_{tag}", f"rest_pub_{tag}"
        self.slots.append(slot)
        self.pubs.append(pub)
        c = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": "127.0.0.1",
            "database.port": os.environ["SLUICE_PG_PORT"],
            "database.user": os.environ["SLUICE_PG_USER"],
            "database.password": os.environ["SLUICE_PG_PASSWORD"],
            "database.dbname": os.environ["SLUICE_PG_DB"],
            "topic.prefix": f"rest{tag}",
            "slot.name": slot,
            "slot.retry.delay.ms": "200",
            "publication.name": pub,
            "publication.autocreate.mode": "filtered",
            "table.include.list": f"public.{table}",
            "sink.type": "file",
            "sink.file.path": str(self.dir / f"{table}-{tag}.jsonl"),
            "offset.flush.interval.ms": "100",
        }
        c.update(over)
        return c

    def cleanup(self):
        for slot in self.slots:
            for _ in range(50):
                try:
                    sql(self.conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                                   "WHERE slot_name = %s", slot)
                    break
                except psycopg2.Error:
                    time.sleep(0.1)
        for pub in self.pubs:
            sql(self.conn, f'DROP PUBLICATION IF EXISTS "{pub}"')


def events(cfg):
    path = cfg["sink.file.path"]
    if not os.path.exists(path):
        return []
    text = open(path).read()
    text = text[:text.rfind("\n") + 1]
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def wait_events(srv, cfg, n, timeout=30):
    try:
        return wait_until(lambda: (ev := events(cfg)) and len(ev) >= n and ev, timeout=timeout,
                          what=f"{n} events in {cfg['sink.file.path']}")
    except AssertionError:
        raise AssertionError(f"got {len(events(cfg))} events, wanted {n}\n{srv.log_text()[-4000:]}")


def ids(evs):
    return [payload(e)["after"]["id"] for e in evs if e["value"] is not None]


@pytest.fixture
def serve(tmp_path):
    made = []

    def make(**keys):
        s = Serve(tmp_path, **keys)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def pgc(pg, tmp_path, serve):
    """Connector configs; listed after `serve` so that the daemons stop before the slots are dropped."""
    p = Pg(pg, tmp_path)
    yield p
    p.cleanup()


def table(pg, name, rows=()):
    sql(pg, f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, v text)")
    for r in rows:
        sql(pg, f"INSERT INTO {name} VALUES (%s, %s)", r, f"v{r}")
    return name


# ---- endpoints without a database ----

def test_root_health_plugins_metrics(serve):
    s = serve().start()
    st, body, _ = s.req("GET", "/")
    assert st == 200 and set(body) == {"version", "commit", "kafka_cluster_id"}
    assert body["version"] == subprocess.run([SLUICE, "version"], capture_output=True, text=True).stdout.split()[1]
    assert s.ok("GET", "/health")["status"] == "healthy"
    plugins = s.ok("GET", "/connector-plugins")
    assert {"class": "io.debezium.connector.postgresql.PostgresConnector", "type": "source",
            "version": body["version"]} in plugins
    assert any(p["class"] == "io.sluice.sink.FileSink" and p["type"] == "sink" for p in plugins)
    # Connect's names for a plugin: class, simple name, simple name without "Connector"; and ours
    for name in ("io.debezium.connector.postgresql.PostgresConnector", "PostgresConnector", "Postgres", "postgres"):
        keys = s.ok("GET", f"/connector-plugins/{name}/config")
        by = {k["name"]: k for k in keys}
        assert by["database.password"]["type"] == "PASSWORD"
        assert by["database.user"]["required"] is True and by["database.user"]["default_value"] is None
        assert by["snapshot.mode"]["default_value"] == "initial"
        assert set(by["snapshot.mode"]) == {"name", "type", "required", "default_value", "importance",
                                            "documentation", "group", "width", "display_name", "dependents", "order"}
        assert "connector.class" in by  # the runtime's keys too
    st, body, _ = s.req("GET", "/connector-plugins/NoSuchConnector/config")
    assert st == 404 and body["error_code"] == 404
    st, text, hdrs = s.req("GET", "/metrics")
    assert st == 200 and hdrs["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE" in text
    assert s.ok("GET", "/connectors") == []
    assert s.ok("GET", "/connectors?expand=status&expand=info") == {}
    assert s.stop() == 0


def test_error_codes(serve, pgc):
    s = serve().start()
    for method, path in [("GET", "/connectors/nope"), ("GET", "/connectors/nope/status"),
                         ("GET", "/connectors/nope/config"), ("DELETE", "/connectors/nope"),
                         ("PUT", "/connectors/nope/pause"), ("POST", "/connectors/nope/restart"),
                         ("GET", "/connectors/nope/offsets"), ("PATCH", "/connectors/nope/config")]:
        st, body, _ = s.req(method, path, {} if method == "PATCH" else None)
        assert (st, body) == (404, {"error_code": 404, "message": "Connector nope not found"}), (method, path)
    st, body, _ = s.req("GET", "/no/such/path")
    assert st == 404 and body["error_code"] == 404
    for method, path in [("DELETE", "/"), ("POST", "/connectors/x/status"), ("GET", "/connectors/x/pause"),
                         ("POST", "/connectors/x/pause"), ("PUT", "/connectors")]:
        st, body, _ = s.req(method, path)
        assert st == 405 and body["error_code"] == 405, (method, path, st, body)
    st, body, _ = s.req("POST", "/connectors", b'{"name": "big", "config": {"x": "' + b"a" * (1 << 20) + b'"}}')
    assert st == 413 and body["error_code"] == 413, (st, body)
    st, body, _ = s.req("POST", "/connectors", b"{not json")
    assert st == 400 and body["error_code"] == 400 and "JSON" in body["message"]
    st, body, _ = s.req("POST", "/connectors", {"config": {"connector.class": "postgres"}})
    assert st == 400 and "name" in body["message"]
    # a bad config: 400 naming the key, and nothing is created
    bad = pgc.config("rest_err", **{"snapshot.mode": "sometimes"})
    st, body, _ = s.req("POST", "/connectors", {"name": "bad", "config": bad})
    assert st == 400 and "snapshot.mode" in body["message"] and "sometimes" in body["message"], body
    bad = pgc.config("rest_err", **{"database.port": "eighty"})
    del bad["topic.prefix"]
    st, body, _ = s.req("POST", "/connectors", {"name": "bad", "config": bad})
    assert st == 400 and "database.port" in body["message"] and "topic.prefix" in body["message"], body
    assert "2 error(s)" in body["message"]
    assert s.ok("GET", "/connectors") == []
    st, body, _ = s.req("POST", "/connectors", {"name": "x", "config": {"connector.class": "postgres",
                                                                          "nested": {"a": 1}}})
    assert st == 400 and "nested" in body["message"]
    # 409: created twice (the connector cannot connect: it fails, which does not matter here)
    cfg = pgc.config("rest_err", **{"database.port": "1"})
    assert s.ok("POST", "/connectors", {"name": "twice", "config": cfg}, want=201)["name"] == "twice"
    st, body, _ = s.req("POST", "/connectors", {"name": "twice", "config": cfg})
    assert st == 409 and body == {"error_code": 409, "message": "Connector twice already exists"}
    # offsets change only when STOPPED
    st, body, _ = s.req("DELETE", "/connectors/twice/offsets")
    assert st == 400 and "STOPPED" in body["message"] and "/connectors/twice/stop" in body["message"]
    st, body, _ = s.req("PATCH", "/connectors/twice/offsets", {"offsets": []})
    assert st == 400
    valid = {"offsets": [{"partition": {"server": "rest_err"}, "offset": {"lsn": 1}}]}
    st, body, _ = s.req("PATCH", "/connectors/twice/offsets", valid)
    assert st == 400 and "STOPPED" in body["message"], body  # a valid body, refused for the state
    assert s.stop() == 0


# ---- the deployment sequence of docs/rest-api.md ----

def test_deploy_pause_resume_delete(pg, serve, pgc):
    t = table(pg, "rest_deploy", [1, 2])
    s = serve().start()
    cfg = pgc.config(t)
    st, body, hdrs = s.req("POST", "/connectors", {"name": "inventory", "config": cfg})
    assert st == 201, body
    assert body["name"] == "inventory" and body["type"] == "source"
    assert body["tasks"] == [{"connector": "inventory", "task": 0}]
    assert body["config"]["database.password"] == "[hidden]" and body["config"]["name"] == "inventory"
    assert hdrs["Location"] == "/connectors/inventory"
    status = s.wait_state("inventory", "RUNNING")
    assert status["tasks"] == [{"id": 0, "state": "RUNNING", "worker_id": f"127.0.0.1:{s.port}"}]
    assert status["connector"]["worker_id"] == f"127.0.0.1:{s.port}" and status["type"] == "source"
    assert ids(wait_events(s, cfg, 2)) == [1, 2]
    s.wait_log("streaming slot=")
    sql(pg, f"INSERT INTO {t} VALUES (3, 'v3')")
    assert ids(wait_events(s, cfg, 3)) == [1, 2, 3]

    st, body, _ = s.req("PUT", "/connectors/inventory/pause")
    assert st == 202 and body is None
    status = s.wait_state("inventory", "PAUSED")
    assert status["tasks"][0]["state"] == "PAUSED"
    s.wait_log("paused connector=inventory")  # the source has closed its connection
    # the slot holds the position: still there, nobody reading it (the walsender exits just after the close)
    wait_until(lambda: sql(pg, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", cfg["slot.name"])
               == [(False,)], what="the slot kept and inactive while paused")
    for lo in range(4, 1004, 100):  # 1000 rows in 10 transactions while paused
        sql(pg, f"INSERT INTO {t} SELECT g, 'p' FROM generate_series({lo}, {lo + 99}) g")
    time.sleep(2)
    assert ids(events(cfg)) == [1, 2, 3], "a row inserted while paused was delivered"

    assert s.req("PUT", "/connectors/inventory/resume")[0] == 202
    s.wait_state("inventory", "RUNNING")
    assert ids(wait_events(s, cfg, 1003)) == list(range(1, 1004))  # every row once, in order

    st, body, _ = s.req("DELETE", "/connectors/inventory")
    assert st == 204 and body is None
    assert s.req("GET", "/connectors/inventory")[0] == 404
    assert s.ok("GET", "/connectors") == []
    s.wait_log("connector stopped cleanly connector=inventory")
    assert s.stop() == 0


def test_mariadb_pause_resume_and_binlog_lag(serve, my, tmp_path):
    """Pause holds the binlog position (nothing read meanwhile), resume delivers every row once; /metrics
    shows how many binlog bytes the committed position is behind the server."""
    t = my_make_table(my, "rest_my_pause", "id INT PRIMARY KEY, v VARCHAR(20)", "INSERT INTO rest_my_pause VALUES (1, 'a')")
    cfg = MySluice(tmp_path, my, table_include_list=f"sluice.{t}").config
    cfg["sink.file.path"] = str(tmp_path / "my.jsonl")
    cfg["include.schema.changes"] = "false"  # row events only in the file
    s = serve().start()
    s.ok("POST", "/connectors", {"name": "myp", "config": cfg}, want=201)
    s.wait_state("myp", "RUNNING")
    assert ids(wait_events(s, cfg, 1)) == [1]
    s.wait_log("streaming binlog from")
    mysql(my, f"INSERT INTO {t} VALUES (2, 'b')")
    assert ids(wait_events(s, cfg, 2)) == [1, 2]

    def behind():
        got = [v for line in s.ok("GET", "/metrics").splitlines()
               if line.startswith('sluice_connector_source_behind_bytes{connector="myp"}')
               for v in [float(line.rsplit(" ", 1)[1])]]
        return got[0] if got else None

    wait_until(lambda: behind() == 0, what="binlog lag 0 once caught up")
    s.ok("PUT", "/connectors/myp/pause", want=202)
    s.wait_state("myp", "PAUSED")
    s.wait_log("paused connector=myp")
    for lo in range(3, 503, 50):  # 500 rows in 10 transactions while paused
        mysql(my, f"INSERT INTO {t} SELECT seq, 'p' FROM seq_{lo}_to_{lo + 49}")
    time.sleep(2)
    assert ids(events(cfg)) == [1, 2], "a row inserted while paused was delivered"
    s.ok("PUT", "/connectors/myp/resume", want=202)
    # measured at the first commit read after resuming, against the position committed before the pause
    wait_until(lambda: (behind() or 0) > 500 * 5, interval=0.02, what="binlog bytes behind after the pause")
    s.wait_state("myp", "RUNNING")
    assert ids(wait_events(s, cfg, 502)) == list(range(1, 503))
    wait_until(lambda: behind() == 0, what="binlog lag back to 0")
    assert s.stop() == 0


def metric(srv, name, conn):
    """The value of name{connector=conn} on /metrics, or None."""
    prefix = f'{name}{{connector="{conn}"}} '
    got = [float(line[len(prefix):]) for line in srv.ok("GET", "/metrics").splitlines() if line.startswith(prefix)]
    return got[0] if got else None


def wait_offset_stored(srv, conn):
    """Waits for conn's first stored offset past its snapshot. The snapshot's end is stored just after the
    sink's flush (before it, only its start, marked "snapshot"): a kill -9 in between replays the snapshot
    (at-least-once), which tests about target states do not want."""
    def stored():
        return [l for l in srv.ok("GET", "/metrics").splitlines()
                if l.startswith(f'sluice_connector_source_offset_info{{connector="{conn}",') and "snapshot" not in l]
    wait_until(stored, what=f"connector {conn}'s offset stored")


def test_kafka_source_metrics_dlq_and_consumer_lag(serve, kafka, tmp_path):
    """A Kafka source in the daemon: a record the converter rejects goes to the DLQ and is counted as failed
    and sent to the DLQ; the consumer lag in records drops to 0 once everything is read."""
    from test_kafka_source import KSluice, produce_many, schema_env
    topic = kafka.create_topic(kafka.topic("in"))
    dlq = kafka.topic("dlq")
    good = [schema_env({"n": i}) for i in range(200)]
    produce_many(topic, [(0, None, v) for v in good[:100]] + [(0, None, b'{"schema": {}, "payload": ')] +
                 [(0, None, v) for v in good[100:]])
    cfg = KSluice(tmp_path, topic, **{"errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq}).config
    s = serve().start()
    s.ok("POST", "/connectors", {"name": "ksrc", "config": cfg}, want=201)
    s.wait_state("ksrc", "RUNNING")
    assert len(wait_events(s, cfg, 200)) == 200
    wait_until(lambda: metric(s, "sluice_connector_records_dlq_total", "ksrc") == 1, what="1 record to the DLQ")
    assert metric(s, "sluice_connector_records_failed_total", "ksrc") == 1
    assert metric(s, "sluice_connector_records_read_total", "ksrc") == 200
    wait_until(lambda: metric(s, "sluice_connector_source_behind_records", "ksrc") == 0, what="consumer lag 0")
    wait_until(lambda: metric(s, "sluice_connector_records_written_total", "ksrc") == 200, what="200 written")
    assert metric(s, "sluice_connector_bytes_written_total", "ksrc") == os.path.getsize(cfg["sink.file.path"])
    assert s.stop() == 0


def doc_block(heading):
    """The first ```sh block after `heading` in docs/rest-api.md."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "rest-api.md").read_text()
    after = text[text.index(heading):]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start:after.index("```", start)]


def test_deploy_sequence_as_written_in_the_docs(pg, serve, pgc, tmp_path, monkeypatch):
    """The docs' shell lines, run by bash with curl; only the connector's database and file change."""
    t = table(pg, "orders_docs", [1, 2])
    monkeypatch.setenv("PGPASSWORD", os.environ["SLUICE_PG_PASSWORD"])
    monkeypatch.setenv("SLUICE_REST_TOKEN", "docs-t0ken")
    s = serve(**{"rest.auth.token": "${env:SLUICE_REST_TOKEN}"})
    s.token = "docs-t0ken"  # what the reference resolves to
    s.start()
    pgc.slots.append("debezium"), pgc.pubs.append("dbz_publication")  # the defaults the docs' config uses
    out = tmp_path / "inventory.jsonl"
    block = doc_block("## Deploying a connector")
    for a, b in [('"5432"', f'"{os.environ["SLUICE_PG_PORT"]}"'), ('"cdc"', f'"{os.environ["SLUICE_PG_USER"]}"'),
                 ('"shop"', f'"{os.environ["SLUICE_PG_DB"]}"'), ("public.orders", f"public.{t}"),
                 ("/var/lib/sluice/inventory.jsonl", str(out))]:
        assert a in block, a
        block = block.replace(a, b)
    setup, curls = block.split("\nEOF\n")
    setup += "\nEOF\n"
    curls = [line for line in curls.splitlines() if line.startswith("curl ")]
    assert len(curls) == 5
    preamble = doc_block("The examples below use")  # S=... and AUTH=...
    assert "http://127.0.0.1:8083" in preamble
    preamble = preamble.replace("http://127.0.0.1:8083", f"http://127.0.0.1:{s.port}")

    def sh(script):
        r = subprocess.run(["bash", "-c", preamble + script], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    created = json.loads(sh(setup + curls[0]))
    assert created["name"] == "inventory" and created["config"]["database.password"] == "[hidden]"
    wait_until(lambda: '"state":"RUNNING"' in sh(curls[1]), what="the status line to say RUNNING")
    cfg = {"sink.file.path": str(out)}
    assert ids(wait_events(s, cfg, 2)) == [1, 2]
    s.wait_log("streaming slot=")
    assert sh(curls[2]) == ""  # pause: 202, no body
    s.wait_state("inventory", "PAUSED")
    s.wait_log("paused connector=inventory")
    sql(pg, f"INSERT INTO {t} VALUES (3, 'v3')")
    time.sleep(1)
    assert ids(events(cfg)) == [1, 2]
    assert sh(curls[3]) == ""  # resume
    assert ids(wait_events(s, cfg, 3)) == [1, 2, 3]
    assert sh(curls[4]) == ""  # delete: 204
    assert s.req("GET", "/connectors/inventory")[0] == 404
    s.wait_log("connector stopped cleanly connector=inventory")
    assert s.stop() == 0


def test_config_put_patch_tasks_restart(pg, serve, pgc):
    t = table(pg, "rest_cfg", [1])
    s = serve().start()
    cfg = pgc.config(t)
    # PUT creates (201) ...
    st, body, _ = s.req("PUT", "/connectors/cfg%20one/config", cfg)
    assert st == 201 and body["name"] == "cfg one"
    s.wait_state("cfg one", "RUNNING")
    got = s.ok("GET", "/connectors/cfg%20one/config")
    assert got == {**cfg, "name": "cfg one", "database.password": "[hidden]"}
    # ... and updates (200), restarting with the new config
    st, body, _ = s.req("PUT", "/connectors/cfg%20one/config", {**cfg, "poll.interval.ms": "100"})
    assert st == 200 and body["config"]["poll.interval.ms"] == "100"
    st, body, _ = s.req("PUT", "/connectors/cfg%20one/config", {**cfg, "name": "other"})
    assert st == 400 and "doesn't match" in body["message"]
    # PATCH merges; null removes a key; a bad value is 400 and changes nothing
    body = s.ok("PATCH", "/connectors/cfg%20one/config", {"poll.interval.ms": None, "max.batch.size": 100})
    assert "poll.interval.ms" not in body["config"] and body["config"]["max.batch.size"] == "100"
    st, body, _ = s.req("PATCH", "/connectors/cfg%20one/config", {"max.batch.size": "-5"})
    assert st == 400 and "max.batch.size" in body["message"]
    assert s.ok("GET", "/connectors/cfg%20one/config")["max.batch.size"] == "100"
    s.wait_state("cfg one", "RUNNING")
    info = s.ok("GET", "/connectors/cfg%20one")
    assert info["tasks"] == [{"connector": "cfg one", "task": 0}] and info["config"]["database.password"] == "[hidden]"
    tasks = s.ok("GET", "/connectors/cfg%20one/tasks")
    assert len(tasks) == 1 and tasks[0]["id"] == {"connector": "cfg one", "task": 0}
    assert tasks[0]["config"]["database.password"] == "[hidden]"
    assert s.ok("GET", "/connectors/cfg%20one/tasks/0/status") == {"id": 0, "state": "RUNNING",
                                                                    "worker_id": f"127.0.0.1:{s.port}"}
    st, body, _ = s.req("GET", "/connectors/cfg%20one/tasks/1/status")
    assert st == 404 and body["error_code"] == 404
    assert s.req("GET", "/connectors/cfg%20one/tasks/x/status")[0] == 404
    # restarts
    assert s.req("POST", "/connectors/cfg%20one/restart")[:2] == (204, None)
    st, body, _ = s.req("POST", "/connectors/cfg%20one/restart?includeTasks=true&onlyFailed=false")
    assert st == 202 and body["connector"]["state"] == "RESTARTING" and body["tasks"][0]["state"] == "RESTARTING"
    s.wait_state("cfg one", "RUNNING")
    st, body, _ = s.req("POST", "/connectors/cfg%20one/restart?onlyFailed=true")
    assert st == 202 and body["connector"]["state"] == "RUNNING"  # nothing failed: nothing restarts
    assert s.req("POST", "/connectors/cfg%20one/tasks/0/restart")[0] == 204
    assert s.req("POST", "/connectors/cfg%20one/tasks/3/restart")[0] == 404
    s.wait_state("cfg one", "RUNNING")
    sql(pg, f"INSERT INTO {t} VALUES (2, 'v2')")
    wait_until(lambda: 2 in ids(events(cfg)), what="row 2 after the restarts")
    # expand: Connect's map shape
    ex = s.ok("GET", "/connectors?expand=status&expand=info")
    assert set(ex) == {"cfg one"} and set(ex["cfg one"]) == {"status", "info"}
    assert ex["cfg one"]["info"]["config"]["database.password"] == "[hidden]"
    assert set(s.ok("GET", "/connectors?expand=status")["cfg one"]) == {"status"}
    assert set(s.ok("GET", "/connectors?expand=status,info")["cfg one"]) == {"status", "info"}
    assert s.ok("GET", "/connectors?expand=nothing") == {"cfg one": {}}  # Connect: the map, empty entries
    assert s.stop() == 0


# ---- stop, offsets, and a snapshot again after the reset ----

def test_stop_offsets_reset_resnapshots(pg, serve, pgc):
    t = table(pg, "rest_off", [1, 2])
    s = serve().start()
    cfg = pgc.config(t, **{"snapshot.mode": "initial"})
    s.ok("POST", "/connectors", {"name": "off", "config": cfg}, want=201)
    evs = wait_events(s, cfg, 2)
    assert [payload(e)["op"] for e in evs] == ["r", "r"]
    st, body, _ = s.req("DELETE", "/connectors/off/offsets")
    assert st == 400 and "STOPPED" in body["message"]

    st, body, _ = s.req("PUT", "/connectors/off/stop")
    assert st == 204
    status = s.wait_state("off", "STOPPED")
    assert status["tasks"] == [] and s.ok("GET", "/connectors/off")["tasks"] == []
    offsets = s.ok("GET", "/connectors/off/offsets")["offsets"]
    assert len(offsets) == 1 and offsets[0]["partition"] == {"server": cfg["topic.prefix"]}
    stored = offsets[0]["offset"]
    assert stored["lsn"] > 0

    assert s.ok("DELETE", "/connectors/off/offsets") == {
        "message": "The offsets for this connector have been reset successfully"}
    assert s.ok("GET", "/connectors/off/offsets") == {"offsets": []}
    part = {"server": cfg["topic.prefix"]}
    assert s.ok("PATCH", "/connectors/off/offsets", {"offsets": [{"partition": part, "offset": stored}]}) == {
        "message": "The offsets for this connector have been altered successfully"}
    assert s.ok("GET", "/connectors/off/offsets")["offsets"] == [{"partition": part, "offset": stored}]
    s.ok("PATCH", "/connectors/off/offsets", {"offsets": [{"partition": part, "offset": None}]})
    assert s.ok("GET", "/connectors/off/offsets") == {"offsets": []}
    st, body, _ = s.req("PATCH", "/connectors/off/offsets", {"offsets": [{"partition": "x", "offset": {}}]})
    assert st == 400 and "partition" in body["message"]

    # no offset + snapshot.mode=initial: the snapshot runs again (with the offset kept it would not)
    assert s.req("PUT", "/connectors/off/resume")[0] == 202
    s.wait_state("off", "RUNNING")
    evs = wait_events(s, cfg, 4)
    assert [payload(e)["op"] for e in evs] == ["r", "r", "r", "r"], [payload(e)["op"] for e in evs]
    assert ids(evs[2:]) == [1, 2]
    assert s.stop() == 0


# ---- offsets given through PATCH are checked ----

def test_patch_offsets_checked_and_future_lsn_refused(pg, serve, pgc):
    """PATCH /connectors/<name>/offsets: an offset of the wrong shape (lsn "garbage", a negative lsn, a string
    txId, a partition without "server") is refused with 400 naming the field, and nothing is stored; an lsn
    past the server's WAL end has the right shape and is stored, but the connector then refuses to start
    (FAILED, the trace naming the stored lsn, the WAL end and the way out) instead of streaming from it and
    skipping every change before it. With the offset PATCHed back, the change made meanwhile arrives."""
    t = table(pg, "rest_patchlsn", [1])
    s = serve().start()
    cfg = pgc.config(t, **{"snapshot.mode": "initial"})
    s.ok("POST", "/connectors", {"name": "p", "config": cfg}, want=201)
    wait_events(s, cfg, 1)
    wait_offset_stored(s, "p")
    s.ok("PUT", "/connectors/p/stop", want=204)
    s.wait_state("p", "STOPPED")
    stored = s.ok("GET", "/connectors/p/offsets")["offsets"]
    part = {"server": cfg["topic.prefix"]}
    assert [o["partition"] for o in stored] == [part]
    good = stored[0]["offset"]

    for off, field in [({"lsn": "garbage"}, "offset.lsn"), ({"lsn": -5}, "offset.lsn"), ({"txId": 1}, "offset.lsn"),
                       (dict(good, txId="12"), "offset.txId"), (dict(good, snapshot="yes"), "offset.snapshot")]:
        st, body, _ = s.req("PATCH", "/connectors/p/offsets", {"offsets": [{"partition": part, "offset": off}]})
        assert st == 400 and body["message"].startswith(f"offsets[0].{field}: "), (off, st, body)
    st, body, _ = s.req("PATCH", "/connectors/p/offsets", {"offsets": [{"partition": {"srv": "x"}, "offset": good}]})
    assert st == 400 and "offsets[0].partition.server: missing (must be a string)" in body["message"], body
    # a good offset first and a bad one second: nothing is stored
    st, body, _ = s.req("PATCH", "/connectors/p/offsets", {"offsets": [
        {"partition": part, "offset": dict(good, lsn=1)}, {"partition": {"server": "y"}, "offset": {"lsn": "z"}}]})
    assert st == 400 and "offsets[1].offset.lsn" in body["message"], body
    assert s.ok("GET", "/connectors/p/offsets")["offsets"] == stored
    # Debezium's own keys pass
    dbz = dict(good, lsn_proc=good["lsn"], lsn_commit=good["lsn"], xmin=None, snapshot=False)
    s.ok("PATCH", "/connectors/p/offsets", {"offsets": [{"partition": part, "offset": dbz}]})

    (wal_end,), = sql(pg, "SELECT pg_current_wal_lsn() - '0/0'")
    future = int(wal_end) + (1 << 40)
    s.ok("PATCH", "/connectors/p/offsets", {"offsets": [{"partition": part, "offset": dict(good, lsn=future)}]})
    sql(pg, f"INSERT INTO {t} VALUES (2, 'v2')")  # would be skipped by a stream from the future position
    s.ok("PUT", "/connectors/p/resume", want=202)
    st = s.wait_state("p", "FAILED")
    trace = st["connector"].get("trace") or "".join(x.get("trace", "") for x in st["tasks"])
    assert f"lsn {future} (" in trace and "past the WAL end" in trace, st
    assert "offsets reset" in trace and "snapshot.mode=when_needed" in trace, st  # ("sluice" is masked: the test user)
    assert len(events(cfg)) == 1

    s.ok("PUT", "/connectors/p/stop", want=204)
    s.wait_state("p", "STOPPED")
    s.ok("PATCH", "/connectors/p/offsets", {"offsets": [{"partition": part, "offset": good}]})
    s.ok("PUT", "/connectors/p/resume", want=202)
    s.wait_state("p", "RUNNING")
    evs = wait_events(s, cfg, 2)
    assert [(payload(e)["op"], payload(e)["after"]["id"]) for e in evs] == [("r", 1), ("c", 2)]
    assert s.stop() == 0


# ---- kill -9: every connector comes back in its target state ----

def test_sigkill_restores_target_states(pg, serve, pgc):
    ta, tb, tc = (table(pg, n, [1]) for n in ("rest_ka", "rest_kb", "rest_kc"))
    s = serve().start()
    ca, cb, cc = pgc.config(ta), pgc.config(tb), pgc.config(tc)
    for name, c in (("a", ca), ("b", cb), ("c", cc)):
        s.ok("POST", "/connectors", {"name": name, "config": c}, want=201)
    for name, c in (("a", ca), ("b", cb), ("c", cc)):
        s.wait_state(name, "RUNNING")
        wait_events(s, c, 1)
        wait_offset_stored(s, name)
    s.ok("PUT", "/connectors/b/pause", want=202)
    s.ok("PUT", "/connectors/c/stop", want=204)
    s.wait_state("b", "PAUSED")
    s.wait_state("c", "STOPPED")
    s.wait_log("paused connector=b")
    assert s.stop(signal.SIGKILL) == -signal.SIGKILL

    for t in (ta, tb, tc):
        sql(pg, f"INSERT INTO {t} VALUES (2, 'v2')")
    s.start()
    s.wait_state("a", "RUNNING")
    assert ids(wait_events(s, ca, 2)) == [1, 2]
    assert s.status("b")["connector"]["state"] == "PAUSED"
    status = s.status("c")
    assert status["connector"]["state"] == "STOPPED" and status["tasks"] == []
    time.sleep(2)
    assert ids(events(cb)) == [1] and ids(events(cc)) == [1]
    assert s.status("b")["connector"]["state"] == "PAUSED"
    # started paused: it never attached to its slot (nothing read before the pause applied)
    assert sql(pg, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", cb["slot.name"]) == [(False,)]
    assert s.log_text()[s.mark:].count("pausing connector=b") == 0
    # and they go on from there
    s.ok("PUT", "/connectors/b/resume", want=202)
    assert ids(wait_events(s, cb, 2)) == [1, 2]
    s.ok("PUT", "/connectors/c/resume", want=202)
    assert ids(wait_events(s, cc, 2)) == [1, 2]
    assert s.stop() == 0


# ---- auth, TLS ----

def test_bearer_token(serve):
    s = serve(**{"rest.auth.token": "s3cr3t-t0ken"}).start()
    for tok in ("", "wrong"):
        st, body, hdrs = s.req("GET", "/connectors", token=tok)
        assert st == 401 and body["error_code"] == 401 and body["message"]
        assert hdrs["WWW-Authenticate"].startswith("Bearer")
    st, body, _ = s.req("POST", "/connectors", {"name": "x", "config": {}}, token="")
    assert st == 401
    st, body, _ = s.req("GET", "/connectors", headers={"Authorization": "Basic czNjcjN0LXQwa2Vu"}, token="")
    assert st == 401
    for path in ("/health", "/metrics", "/", "/connector-plugins"):  # every path needs the token
        assert s.req("GET", path, token="")[0] == 401, path
        assert s.req("GET", path)[0] == 200, path
    assert s.req("GET", "/connectors")[0] == 200
    assert s.req("GET", "/connectors", token="s3cr3t-t0ken ")[0] == 200
    assert "s3cr3t-t0ken" not in s.log_text()
    assert s.stop() == 0


def test_empty_token_is_refused_and_the_log_says_whether_auth_is_on(serve, monkeypatch):
    """An empty rest.auth.token, written so or from an empty ${env:...}, does not silently turn authentication
    off: the daemon refuses to start, naming the key. The start-up line says whether authentication is on."""
    monkeypatch.setenv("SLUICE_EMPTY_TOKEN", "")
    for tok in ("", "  ", "${env:SLUICE_EMPTY_TOKEN}"):
        s = serve(**{"rest.auth.token": tok})
        s.start(wait=False)
        assert s.proc.wait(30) != 0
        assert "rest.auth.token: empty" in s.log_text(), s.log_text()
        s.proc = None
    on = serve(**{"rest.auth.token": "t0ken"}).start()
    assert "authentication: bearer token required" in on.log_text()
    assert on.stop() == 0
    off = serve().start()
    assert "authentication: off, rest.auth.token not set" in off.log_text()
    assert off.stop() == 0


def test_https_listener(serve, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    s = serve(https=True, **{"listeners.https.ssl.certificate.location": str(cert),
                             "listeners.https.ssl.key.location": str(key)}).start()
    assert s.ok("GET", "/")["commit"] == "sluice"
    assert s.stop() == 0
    bad = serve(https=True)
    bad.start(wait=False)
    assert bad.proc.wait(20) == 1
    assert "listeners.https.ssl.certificate.location" in bad.log_text()


# ---- slow clients ----

class Slowloris:
    """n connections from 127.0.0.1 that send a request line, then one header line a second, and never finish.
    A thread records what each receives (it stops sending to one that got an answer) and whether it was closed."""

    def __init__(self, port, n):
        self.socks = []
        for _ in range(n):
            k = socket.create_connection(("127.0.0.1", port), timeout=10)
            k.sendall(b"GET /connectors HTTP/1.1\r\nHost: sluice\r\n")
            k.setblocking(False)
            self.socks.append(k)
        self.got = [b""] * n
        self.closed = [False] * n
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            for i, k in enumerate(self.socks):
                try:
                    while not self.closed[i]:
                        chunk = k.recv(65536)
                        self.got[i] += chunk
                        self.closed[i] = not chunk
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed[i] = True
                if not self.closed[i] and not self.got[i]:
                    try:
                        k.send(b"X-Slow: 1\r\n")
                    except BlockingIOError:
                        pass
                    except OSError:
                        self.closed[i] = True
            if self.stop.wait(1):
                return

    def close(self):
        self.stop.set()
        self.thread.join()
        for k in self.socks:
            k.close()


def test_slow_clients_cannot_shut_out_an_authorised_one(serve):
    """Slowloris: 300 clients from one address each send a header line a second and never finish. The address
    gets rest.connections.max.per.address (32) connections; the others are answered 503 at once, with Kafka
    Connect's error body, Retry-After and Connection: close. The admitted ones are never idle, yet they are
    closed once their headers took rest.request.header.timeout.ms, so an authorised client from the same
    address gets its answer within seconds. A request whose headers or body trickle in a byte at a time is
    closed at its deadline too. The log says all this in a few rate-limited lines, not one per connection."""
    s = serve(**{"rest.auth.token": "t0ken", "rest.request.header.timeout.ms": "2000",
                 "rest.request.body.timeout.ms": "2000"}).start()
    slow = Slowloris(s.port, 300)
    try:
        t0 = time.monotonic()
        while True:
            try:
                st, body, _ = s.req("GET", "/connectors")
            except OSError as e:
                st, body = None, repr(e)
            if st == 200 or time.monotonic() - t0 > 8:
                break
            time.sleep(0.2)
        assert (st, body) == (200, []), f"the authorised client got {st} {body} for 8 s\n{s.log_text()[-3000:]}"
        wait_until(lambda: all(slow.closed), timeout=10, what="every slow connection to be closed")
    finally:
        slow.close()
    refused = [g for g in slow.got if g]
    assert len(refused) >= 200 and len(slow.got) - len(refused) >= 32, (len(refused), set(slow.got))
    for g in refused:
        head, _, raw = g.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 503 Service Unavailable", g
        hdrs = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        assert hdrs["connection"] == "close" and int(hdrs["retry-after"]) >= 1, g
        assert hdrs["content-type"] == "application/json" and int(hdrs["content-length"]) == len(raw), g
        err = json.loads(raw)
        assert err["error_code"] == 503 and "rest.connections.max.per.address" in err["message"], err

    # Never idle, never done: closed at the deadline (2 s) all the same, without an answer.
    hdr = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    hdr.sendall(b"GET /connectors HTTP/1.1\r\nHost: sluice\r\nX-Trickle: ")
    body = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    body.sendall(b"PUT /connectors/trickle/config HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer t0ken\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    t0, cut, answers = time.monotonic(), {}, {}
    for k in (hdr, body):
        k.setblocking(False)
    while len(cut) < 2 and time.monotonic() - t0 < 5:
        for name, k in (("headers", hdr), ("body", body)):
            if name in cut:
                continue
            try:
                got = k.recv(65536)
                answers[name] = answers.get(name, b"") + got
                if not got:
                    cut[name] = time.monotonic() - t0
                    continue
            except BlockingIOError:
                pass
            except OSError:
                cut[name] = time.monotonic() - t0
                continue
            try:
                k.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                cut[name] = time.monotonic() - t0
        time.sleep(0.1)
    hdr.close()
    body.close()
    assert set(cut) == {"headers", "body"}, f"still open after 5 s: {cut}"
    assert not any(answers.values()), answers
    assert s.req("GET", "/connectors/trickle")[0] == 404

    assert s.stop() == 0
    warns = [x for x in s.log_text().splitlines() if " WARN " in x]
    assert len(warns) <= 6, "\n".join(warns)
    assert any("refused with 503" in x and "rest.connections.max.per.address" in x for x in warns), warns
    assert any("rest.request.header.timeout.ms" in x for x in warns), warns
    assert any("rest.request.body.timeout.ms" in x for x in warns), warns
    assert any("more refused" in x for x in warns), warns


# ---- failures and automatic restarts ----

def test_failed_connector_restarts_with_backoff(pg, serve, pgc):
    t = table(pg, "rest_fail", [1])
    s = serve().start()
    cfg = pgc.config(t, **{"database.password": "wrong-pw-123"})
    s.ok("POST", "/connectors", {"name": "failing", "config": cfg}, want=201)
    status = s.wait_state("failing", "FAILED")
    trace = status["connector"]["trace"]
    assert "password authentication failed" in trace and "automatic restart" in trace
    assert status["tasks"][0]["state"] == "FAILED" and status["tasks"][0]["trace"] == trace
    # restarted again and again, the waits doubling up to task.restart.backoff.max.ms
    s.wait_log("restarting failed connector connector=failing restart=3", timeout=30)
    last = s.wait_state("failing", "FAILED")["connector"]["trace"]
    assert "automatic restart" in last and "automatic restart 1 " not in last
    for body in (s.ok("GET", "/connectors/failing/config"), s.ok("GET", "/connectors/failing")["config"]):
        assert body["database.password"] == "[hidden]"
    assert "wrong-pw-123" not in json.dumps(s.ok("GET", "/connectors?expand=status&expand=info"))
    assert "wrong-pw-123" not in s.log_text()
    # fixed: running
    s.ok("PATCH", "/connectors/failing/config", {"database.password": os.environ["SLUICE_PG_PASSWORD"]})
    s.wait_state("failing", "RUNNING")
    wait_events(s, cfg, 1)
    assert s.stop() == 0


def test_no_auto_restart(pg, serve, pgc):
    t = table(pg, "rest_noauto", [1])
    s = serve(**{"task.restart.auto": "false"}).start()
    cfg = pgc.config(t, **{"database.password": "wrong-pw-456"})
    s.ok("POST", "/connectors", {"name": "f", "config": cfg}, want=201)
    trace = s.wait_state("f", "FAILED")["connector"]["trace"]
    assert "task.restart.auto=false" in trace
    time.sleep(1.5)
    assert "restarting failed connector" not in s.log_text()
    st, body, _ = s.req("POST", "/connectors/f/restart?onlyFailed=true&includeTasks=true")
    assert st == 202 and body["connector"]["state"] == "RESTARTING"
    s.wait_state("f", "FAILED")
    assert s.stop() == 0


# ---- validate ----

def test_validate(serve, pgc):
    s = serve().start()
    cfg = pgc.config("rest_validate", **{"snapshot.mode": "sometimes", "name": "v", "transforms": "unwrap",
                                         "transforms.unwrap.type": "NoSuchTransform"})
    del cfg["connector.class"]
    res = s.ok("PUT", "/connector-plugins/PostgresConnector/config/validate", cfg)
    assert res["name"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert set(res) == {"name", "error_count", "groups", "configs"} and isinstance(res["groups"], list)
    by = {c["definition"]["name"]: c for c in res["configs"]}
    assert set(by["snapshot.mode"]["value"]) == {"name", "value", "recommended_values", "errors", "visible"}
    assert by["snapshot.mode"]["value"]["value"] == "sometimes"
    assert len(by["snapshot.mode"]["value"]["errors"]) == 1 and "snapshot.mode" in by["snapshot.mode"]["value"]["errors"][0]
    assert "initial" in by["snapshot.mode"]["value"]["recommended_values"]
    assert by["transforms"]["value"]["errors"] == []
    t_err = by["transforms.unwrap.type"]["value"]["errors"]  # an error on a key of no table is listed as its own
    assert len(t_err) == 1 and "'NoSuchTransform' is not a known transform" in t_err[0], t_err
    assert res["error_count"] == 2, [c["value"] for c in res["configs"] if c["value"]["errors"]]
    assert by["database.user"]["value"]["errors"] == []
    assert by["database.password"]["value"]["value"] == "[hidden]"
    assert by["database.password"]["definition"]["type"] == "PASSWORD"
    # the name is required; an unknown key is no error (only logged)
    res = s.ok("PUT", "/connector-plugins/postgres/config/validate",
               {**pgc.config("rest_validate"), "no.such.key": "1"} | {"name": None})
    errs = {c["value"]["name"]: c["value"]["errors"] for c in res["configs"] if c["value"]["errors"]}
    assert res["error_count"] == 1 and list(errs) == ["name"], errs
    # the body's class must be the plugin's
    st, body, _ = s.req("PUT", "/connector-plugins/MySqlConnector/config/validate", pgc.config("rest_validate"))
    assert st == 400 and "does not match" in body["message"]
    assert s.req("PUT", "/connector-plugins/Nope/config/validate", {})[0] == 404
    assert s.stop() == 0


def test_secrets_hidden_everywhere(serve, pgc, tmp_path):
    s = serve().start()
    # what a ${file:...} or ${env:...} reference reads never shows in an error
    (tmp_path / "vault.properties").write_text("port=file-content-visible-nowhere\n")
    bad = pgc.config("rest_secret", **{"database.port": f"${{file:{tmp_path}/vault.properties:port}}"})
    st, body, _ = s.req("POST", "/connectors", {"name": "ref", "config": bad})
    assert st == 400 and "database.port" in body["message"] and "[hidden]" in body["message"], body
    res = s.ok("PUT", "/connector-plugins/postgres/config/validate", {**bad, "name": "ref"})
    port = next(c["value"] for c in res["configs"] if c["definition"]["name"] == "database.port")
    assert port["errors"] and port["value"] == bad["database.port"]
    assert "visible-nowhere" not in json.dumps(res)
    cfg = pgc.config("rest_secret", **{"database.port": "1", "database.password": "pw-visible-nowhere",
                                       "sasl.password": "sasl-visible-nowhere",
                                       "producer.override.sasl.jaas.config": "jaas-visible-nowhere"})
    body = s.ok("POST", "/connectors", {"name": "sec", "config": cfg}, want=201)
    bodies = [body, s.ok("GET", "/connectors/sec"), s.ok("GET", "/connectors/sec/config"),
              s.ok("GET", "/connectors/sec/tasks"), s.ok("GET", "/connectors?expand=info&expand=status"),
              s.ok("PATCH", "/connectors/sec/config", {"max.batch.size": "10"})]
    for b in bodies:
        text = json.dumps(b)
        assert "visible-nowhere" not in text, text
    c = s.ok("GET", "/connectors/sec/config")
    assert c["database.password"] == c["sasl.password"] == c["producer.override.sasl.jaas.config"] == "[hidden]"
    assert "visible-nowhere" not in s.log_text()
    assert s.stop() == 0


def test_config_provider_allowed_paths(serve, pgc, tmp_path, monkeypatch):
    """With config.providers.file.param.allowed.paths a client that may create connectors no longer reads any
    file the daemon can read (into a topic name, say): outside the directories, after '..' and symlinks, a
    reference is refused naming the config key, the path and the list, and nothing it would read shows.
    config.providers.env.param.allowlist.pattern does the same for ${env:...}."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "pw").write_text(os.environ["SLUICE_PG_PASSWORD"] + "\n")
    (tmp_path / "outside.txt").write_text("outside-visible-nowhere\n")
    (secrets / "escape").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "secretsx").mkdir()
    (tmp_path / "secretsx" / "pw").write_text("sibling-visible-nowhere\n")
    monkeypatch.setenv("SLUICE_OK_TOPIC", "okprefix")
    monkeypatch.setenv("SLUICE_IT_PRIVATE", "env-visible-nowhere")
    s = serve(**{"config.providers.file.param.allowed.paths": f"/nonexistent, {secrets}",
                 "config.providers.env.param.allowlist.pattern": "SLUICE_OK_.*"}).start()
    refused = [
        (f"${{file:{tmp_path}/outside.txt}}", "config.providers.file.param.allowed.paths"),
        (f"${{file:{secrets}/../outside.txt}}", "(resolved: "),
        (f"${{file:{secrets}/escape}}", "(resolved: "),
        (f"${{file:{tmp_path}/secretsx/pw}}", "secretsx/pw is outside"),
        (f"${{file:{tmp_path}/outside.txt:key}}", "outside.txt is outside"),
        (f"${{dir:{tmp_path}:outside.txt}}", "config.providers.dir.param.allowed.paths"),  # defaults to file's list
        ("${env:SLUICE_IT_PRIVATE}", "does not match config.providers.env.param.allowlist.pattern (SLUICE_OK_.*)"),
    ]
    for ref, what in refused:
        cfg = pgc.config("rest_allowed", **{"topic.prefix": ref})
        st, body, _ = s.req("POST", "/connectors", {"name": "leak", "config": cfg})
        assert st == 400, (ref, st, body)
        assert "topic.prefix: " in body["message"] and what in body["message"], (ref, body)
        if "file:" in ref or "dir:" in ref:
            assert str(secrets) in body["message"], body  # the allowed list is named
        assert "visible-nowhere" not in json.dumps(body)
    assert s.ok("GET", "/connectors") == []
    fine = pgc.config("rest_allowed", **{"database.password": f"${{file:{secrets}/pw}}",
                                         "topic.prefix": "${env:SLUICE_OK_TOPIC}"})
    res = s.ok("PUT", "/connector-plugins/postgres/config/validate", {**fine, "name": "fine"})
    assert res["error_count"] == 0, [c["value"] for c in res["configs"] if c["value"]["errors"]]
    assert "visible-nowhere" not in s.log_text()
    assert s.stop() == 0
    # the settings are checked at start: a relative directory, a pattern that does not compile
    for key, value, what in [("config.providers.file.param.allowed.paths", "relative/dir", "is not an absolute path"),
                             ("config.providers.env.param.allowlist.pattern", "(", "is not a regular expression")]:
        bad = serve(**{key: value})
        bad.start(wait=False)
        assert bad.proc.wait(20) == 2
        assert f"{key}: '{value}' {what}" in bad.log_text(), bad.log_text()
        bad.proc = None


def test_file_clashes_are_refused(pg, serve, pgc, tmp_path):
    """A connector whose sink file is its own offset store, the worker's config store or another connector's
    sink file (however spelled) is refused with 400 naming both keys and the other connector; sharing the
    worker's offset store is how it is meant to be. Connectors loaded at a restart are checked against too."""
    table(pg, "rest_clash")
    s = serve().start()
    a = pgc.config("rest_clash")
    for sink, what in [(tmp_path / "offsets.db", "offset.storage.file.filename: "),
                       (tmp_path / "worker.db", "config.storage.file.filename of the worker")]:
        st, body, _ = s.req("POST", "/connectors", {"name": "own", "config": {**a, "sink.file.path": str(sink)}})
        assert st == 400 and "sink.file.path" in body["message"] and what in body["message"], body
        assert "name the same file" in body["message"]
    s.ok("POST", "/connectors", {"name": "a", "config": a}, want=201)
    (tmp_path / "link").symlink_to(tmp_path)
    b = pgc.config("rest_clash", **{"sink.file.path": str(tmp_path / "link" / ".." / tmp_path.name /
                                                          os.path.basename(a["sink.file.path"]))})
    st, body, _ = s.req("POST", "/connectors", {"name": "b", "config": b})
    msg = body["message"]
    assert st == 400 and "sink.file.path: " in msg and "sink.file.path of connector a" in msg, body
    st, body, _ = s.req("PUT", "/connectors/b/config", b)
    assert st == 400 and "of connector a" in body["message"], body
    res = s.ok("PUT", "/connector-plugins/postgres/config/validate", {**b, "name": "b"})
    errs = {c["value"]["name"]: c["value"]["errors"] for c in res["configs"] if c["value"]["errors"]}
    assert list(errs) == ["sink.file.path"] and "of connector a" in errs["sink.file.path"][0], errs
    s.ok("PUT", "/connectors/a/config", a)  # its own files are no clash
    c = pgc.config("rest_clash")  # the worker's offset store, shared with a
    s.ok("POST", "/connectors", {"name": "c", "config": c}, want=201)
    assert s.stop() == 0
    s.start()
    st, body, _ = s.req("POST", "/connectors", {"name": "d", "config": {**c, "sink.file.path": c["sink.file.path"]}})
    assert st == 400 and "of connector c" in body["message"], body
    s.ok("DELETE", "/connectors/a", want=204)
    s.ok("POST", "/connectors", {"name": "b", "config": b}, want=201)  # a's file is free now
    assert s.stop() == 0


def test_offsets_in_kafka(pg, serve, pgc, kafka):
    """offset.storage=kafka: the same endpoints read and write Connect's offsets topic."""
    t = table(pg, "rest_koff", [1, 2])
    s = serve().start()
    cfg = pgc.config(t, **{"offset.storage": "kafka", "offset.storage.topic": kafka.topic("offsets"),
                           "offset.storage.partitions": "1", "bootstrap.servers": kafka.bootstrap})
    s.ok("POST", "/connectors", {"name": "koff", "config": cfg}, want=201)
    wait_events(s, cfg, 2)
    s.ok("PUT", "/connectors/koff/stop", want=204)
    part = {"server": cfg["topic.prefix"]}
    offsets = s.ok("GET", "/connectors/koff/offsets")["offsets"]
    assert [o["partition"] for o in offsets] == [part] and offsets[0]["offset"]["lsn"] > 0
    stored = offsets[0]["offset"]
    s.ok("DELETE", "/connectors/koff/offsets")
    assert s.ok("GET", "/connectors/koff/offsets") == {"offsets": []}
    s.ok("PATCH", "/connectors/koff/offsets", {"offsets": [{"partition": part, "offset": stored}]})
    assert s.ok("GET", "/connectors/koff/offsets")["offsets"] == [{"partition": part, "offset": stored}]
    s.ok("PUT", "/connectors/koff/resume", want=202)
    s.wait_state("koff", "RUNNING")
    sql(pg, f"INSERT INTO {t} VALUES (3, 'v3')")
    assert ids(wait_events(s, cfg, 3)) == [1, 2, 3]  # resumed from the patched offset: no new snapshot
    assert s.stop() == 0


def test_runtime_failure_is_restarted(pg, serve, pgc):
    """A connector that fails while running (not at start) is noticed, shown FAILED, and started again."""
    t = table(pg, "rest_rtfail", [1])
    s = serve(**{"task.restart.backoff.initial.ms": "1500"}).start()
    cfg = pgc.config(t, **{"errors.max.retries": "0"})
    s.ok("POST", "/connectors", {"name": "rt", "config": cfg}, want=201)
    s.wait_state("rt", "RUNNING")
    wait_events(s, cfg, 1)
    s.wait_log("streaming slot=")
    killed = sql(pg, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s",
                 cfg["slot.name"])
    assert killed == [(True,)]
    trace = s.wait_state("rt", "FAILED", timeout=20)["connector"]["trace"]
    assert "errors.max.retries" in trace and "automatic restart 1 in 1500 ms" in trace
    s.wait_log("restarting failed connector connector=rt restart=1")
    s.wait_state("rt", "RUNNING")
    sql(pg, f"INSERT INTO {t} VALUES (2, 'v2')")
    assert ids(wait_events(s, cfg, 2)) == [1, 2]
    assert s.stop() == 0


# ---- config.storage=kafka: connector configs and target states in Connect's config topic ----

def kafka_worker(kafka, topic, **keys):
    return {"config.storage": "kafka", "config.storage.topic": topic, "bootstrap.servers": kafka.bootstrap, **keys}


def config_records(kafka, topic):
    """(key, parsed value or None) of every record of the config topic, in order."""
    return [(r["key"].decode(), None if r["value"] is None else json.loads(r["value"]))
            for r in kafka.consume_all(topic)]


def test_config_storage_kafka_survives_sigkill(pg, serve, pgc, kafka, tmp_path):
    t = table(pg, "rest_kcfg", [1])
    topic = kafka.topic("configs")
    s = serve(**kafka_worker(kafka, topic)).start()
    cfg = pgc.config(t)
    s.ok("POST", "/connectors", {"name": "kc", "config": cfg}, want=201)
    s.wait_state("kc", "RUNNING")
    assert ids(wait_events(s, cfg, 1)) == [1]
    wait_offset_stored(s, "kc")
    s.ok("PUT", "/connectors/kc/pause", want=202)
    s.wait_state("kc", "PAUSED")
    s.wait_log("paused connector=kc")
    assert s.stop(signal.SIGKILL) == -signal.SIGKILL
    db = tmp_path / "worker.db"
    assert not db.exists(), "config.storage=kafka wrote the SQLite config store"
    db.unlink(missing_ok=True)

    # Connect's records: the target state before the config, the config as submitted (secrets included)
    recs = config_records(kafka, topic)
    assert [k for k, _ in recs] == ["target-state-kc", "connector-kc", "target-state-kc"], recs
    assert recs[0][1] == {"state": "STARTED", "state.v2": "STARTED"}
    assert recs[1][1] == {"properties": {**cfg, "name": "kc"}}
    assert recs[2][1] == {"state": "PAUSED", "state.v2": "PAUSED"}

    sql(pg, f"INSERT INTO {t} VALUES (2, 'v2')")
    s.start()
    s.wait_log("loaded connector=kc target=PAUSED")
    assert s.ok("GET", "/connectors") == ["kc"]
    assert s.ok("GET", "/connectors/kc/config") == {**cfg, "name": "kc", "database.password": "[hidden]"}
    s.wait_state("kc", "PAUSED")
    time.sleep(2)
    assert ids(events(cfg)) == [1], "a paused connector ran after the restart"
    assert not db.exists()
    s.ok("PUT", "/connectors/kc/resume", want=202)
    assert ids(wait_events(s, cfg, 2)) == [1, 2]
    s.ok("PUT", "/connectors/kc/stop", want=204)
    assert config_records(kafka, topic)[-2:] == [("target-state-kc", {"state": "STARTED", "state.v2": "STARTED"}),
                                                 ("target-state-kc", {"state": "PAUSED", "state.v2": "STOPPED"})]

    # DELETE: a tombstone for the config and one for the target state; gone after a restart too
    assert s.req("DELETE", "/connectors/kc")[0] == 204
    assert config_records(kafka, topic)[-2:] == [("connector-kc", None), ("target-state-kc", None)]
    assert s.stop() == 0
    s.start()
    assert s.ok("GET", "/connectors") == []
    assert s.stop() == 0


def test_config_storage_kafka_reads_connect_records(serve, pgc, kafka):
    """A topic written by Kafka Connect: its task and commit records are skipped, a config without a target
    state or a target state without a config are handled as Connect handles them."""
    topic = kafka.create_topic(kafka.topic("connect-configs"), config={"cleanup.policy": "compact"})
    ca, cb, cc = (pgc.config("rest_kconnect") for _ in range(3))
    records = [
        ("connector-a", {"properties": {**ca, "name": "a"}}),
        ("task-a-0", {"properties": {**ca, "task.class": "x"}}),
        ("commit-a", {"tasks": 1}),
        ("target-state-a", {"state": "PAUSED", "state.v2": "STOPPED"}),
        ("target-state-b", {"state": "STOPPED"}),
        ("connector-b", {"properties": {**cb, "name": "b"}}),
        ("connector-c", {"properties": {**cc, "name": "c"}}),
        ("target-state-c", {"state": "STOPPED"}),
        ("connector-c", None),
        ("target-state-c", None),
        ("target-state-d", {"state": "PAUSED"}),
    ]
    for key, value in records:
        kafka.produce(topic, key, None if value is None else json.dumps(value))
    s = serve(**kafka_worker(kafka, topic)).start()
    assert s.ok("GET", "/connectors") == ["a", "b"]
    for name, c in (("a", ca), ("b", cb)):
        assert s.status(name)["connector"]["state"] == "STOPPED"
        assert s.ok("GET", f"/connectors/{name}/config") == {**c, "name": name, "database.password": "[hidden]"}
    assert s.stop() == 0


def test_config_storage_kafka_start_failures(serve, kafka, tmp_path):
    # a closed port: sluice serve gives up at start, naming bootstrap.servers
    port = free_port()
    s = serve(**{"config.storage": "kafka", "bootstrap.servers": f"127.0.0.1:{port}"})
    s.start(wait=False)
    assert s.proc.wait(90) != 0
    log = s.log_text()
    assert f"bootstrap.servers=127.0.0.1:{port}" in log and "config.storage.topic" in log, log[-3000:]
    s.stop()
    # no bootstrap.servers at all
    s = serve(**{"config.storage": "kafka"})
    s.start(wait=False)
    assert s.proc.wait(30) != 0 and "bootstrap.servers: required" in s.log_text()
    s.stop()
    # Connect's rule: the config topic has exactly one partition
    topic = kafka.create_topic(kafka.topic("configs3"), partitions=3)
    s = serve(**kafka_worker(kafka, topic))
    s.start(wait=False)
    assert s.proc.wait(60) != 0 and "has 3 partitions" in s.log_text()
    s.stop()
    assert not (tmp_path / "worker.db").exists()


def test_verify_runs_in_the_daemon(pg, serve, pgc, pgt):
    """POST /connectors/<name>/verify starts sluice verify of the connector's stores on a thread of the daemon;
    GET shows its state and report; /metrics has the last run's counts. A second start while one runs is
    refused, bad options are a 400, and stopping the daemon cancels a run."""
    from test_sql_sink import rows_pg, sink_config
    t = table(pg, "rest_verify", range(1, 41))
    s = serve().start()
    cfg = pgc.config(t)
    cfg.pop("sink.file.path")
    cfg.update(sink_config("pg"))
    cfg["collection.name.format"] = f"{pgt.name}.${{source.table}}"
    s.ok("POST", "/connectors", {"name": "vfy", "config": cfg}, want=201)
    s.wait_state("vfy", "RUNNING")
    wait_until(lambda: rows_pg(pgt, f"{pgt.name}.rest_verify", "count(*)") == [(40,)], what="the synced rows")
    assert s.ok("GET", "/connectors/vfy/verify") == {"connector": "vfy", "state": "NONE"}

    def finished():
        last = {}

        def done():
            nonlocal last
            last = s.ok("GET", "/connectors/vfy/verify")
            return last["state"] in ("DONE", "FAILED")
        wait_until(done, timeout=60, interval=0.1, what="the verify run to end")
        return last
    b = s.ok("POST", "/connectors/vfy/verify", want=202)
    assert b["state"] in ("RUNNING", "DONE") and "started" in b
    v = finished()
    assert v["state"] == "DONE", v
    assert v["report"]["result"] == "equal" and v["report"]["tables"][0]["source_rows"] == 40, v
    assert v["seconds"] >= 0 and v["ended"] >= v["started"]
    # differences, with options
    sql(pgt.conn, f"UPDATE {pgt.name}.rest_verify SET v = 'changed' WHERE id IN (3, 4)")
    s.ok("POST", "/connectors/vfy/verify", {"max_differences": 1, "strict_missing": True}, want=202)
    v = finished()
    rep = v["report"]
    assert (rep["result"], rep["total"], len(rep["differences"])) == ("differences", 2, 1), rep
    text = s.ok("GET", "/metrics")
    for line in ('sluice_verify_running{connector="vfy"} 0', 'sluice_verify_keys_checked{connector="vfy"} 40',
                 'sluice_verify_mismatches{connector="vfy"} 2', 'sluice_verify_last_run_failed{connector="vfy"} 0',
                 'sluice_verify_divergence_ratio{connector="vfy"} 0.05'):
        assert line in text, line
    # bad options, an unknown connector
    for body in ({"rate": 0}, {"colour": "red"}, {"until_consistent_seconds": "soon"}, [1]):
        st, b, _ = s.req("POST", "/connectors/vfy/verify", body)
        assert st == 400, (body, b)
    assert "verify option 'colour'" in s.req("POST", "/connectors/vfy/verify", {"colour": 1})[1]["message"]
    assert s.req("GET", "/connectors/nope/verify")[0] == 404
    assert s.req("POST", "/connectors/nope/verify")[0] == 404
    # a slow run (2 rows/s): a second start is refused while it runs; stopping the daemon cancels it
    s.ok("POST", "/connectors/vfy/verify", {"rate": 2}, want=202)
    st, b, _ = s.req("POST", "/connectors/vfy/verify")
    assert st == 409 and "under way" in b["message"], b
    assert 'sluice_verify_running{connector="vfy"} 1' in s.ok("GET", "/metrics")
    t0 = time.time()
    assert s.stop() == 0
    assert time.time() - t0 < 15
    assert "verify failed connector=vfy error=the verify run was cancelled" in s.log_text()
