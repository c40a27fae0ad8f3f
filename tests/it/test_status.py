"""`sluice status` and /metrics.

The status client runs against a scripted fake daemon (a local HTTP server speaking the Kafka
Connect REST shape and the Prometheus text format), so its parsing, rate, auth and exit codes are
checked on every run. The end-to-end test against a real `sluice serve` with a PostgreSQL connector
runs once that command exists."""
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import SLUICE, Sluice, run_cli, sql, wait_until


def _cli_ok(*args):
    try:
        return subprocess.run([SLUICE, *args], capture_output=True, text=True, timeout=10).returncode == 0
    except OSError:
        return False


STATUS_WIRED = _cli_ok("status", "--help")
SERVE_BUILT = _cli_ok("serve", "--help")
needs_status = pytest.mark.skipif(not STATUS_WIRED, reason="sluice status not wired into src/cli/main.c yet")


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- the exposition format, checked strictly ----

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LVALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABEL = rf"[a-zA-Z_][a-zA-Z0-9_]*={LVALUE}"
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? (\S+)$")
LABEL_RE = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({LVALUE})")


def parse_exposition(text):
    """[(name, {labels}, value)] of a format 0.0.4 text; asserts every line is valid, each family has
    one TYPE (after its HELP) and its samples follow it."""
    assert text.endswith("\n")
    samples, types, current = [], {}, None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            current = line.split(" ")[2]
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name == current and name not in types, line
            assert typ in ("counter", "gauge", "histogram", "summary"), line
            types[name] = typ
            continue
        m = SAMPLE.match(line)
        assert m and current, f"bad exposition line: {line!r}"
        name, typ = m.group(1), types.get(current)
        series = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}.get(typ, ("",))
        assert name in [current + suffix for suffix in series], f"{line!r} outside its family {current}"
        labels = {k: json.loads(v, strict=False) for k, v in LABEL_RE.findall(m.group(2) or "")}
        samples.append((name, labels, float(m.group(3))))
    return samples


def value(samples, name, **labels):
    got = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    assert len(got) <= 1, (name, labels, got)
    return got[0] if got else None


# ---- a fake daemon ----

RATE = 2000  # records/s the fake's written counter grows by
SNAP_RATE = 50000  # rows/s the fake's snapshot of public.big reads
SNAP_EST = 10_000_000


class FakeDaemon:
    def __init__(self, token=None):
        self.token = token
        self.t0 = time.time()
        self.requests = []  # (path, Authorization header)
        daemon = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                daemon.requests.append((self.path, self.headers.get("Authorization")))
                code, ctype, body = daemon.answer(self.path, self.headers.get("Authorization"))
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def written(self):
        return int((time.time() - self.t0) * RATE) + 100

    def snap_rows(self):
        return int((time.time() - self.t0) * SNAP_RATE) + 1000

    def answer(self, path, auth):
        if self.token and auth != f"Bearer {self.token}":
            return 401, "application/json", b'{"error_code":401,"message":"unauthorized"}'
        if path == "/connectors?expand=status&expand=info":
            return 200, "application/json", json.dumps({
                "orders": {"status": {"name": "orders", "connector": {"state": "RUNNING", "worker_id": "w"},
                                      "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w"}], "type": "source"},
                           "info": {"name": "orders", "config": {"connector.class": "x.PostgresConnector",
                                                                 "sink.type": "kafka"}}},
                "broken": {"status": {"name": "broken", "connector": {"state": "RUNNING", "worker_id": "w"},
                                      "tasks": [{"id": 0, "state": "FAILED", "worker_id": "w",
                                                 "trace": "cannot connect to 10.0.0.9:3306\n\tat reconnect\n"}]},
                           "info": {"name": "broken", "config": {"connector.class": "mysql", "sink.type": "file"}}},
                "parked": {"status": {"name": "parked", "connector": {"state": "STOPPED", "worker_id": "w"},
                                      "tasks": []},
                           "info": {"name": "parked", "config": {"connector.class": "pg", "sink.type": "file"}}},
            }).encode()
        if path == "/metrics":
            w = self.written()
            return 200, "text/plain; version=0.0.4", (
                "# HELP sluice_connector_state s\n# TYPE sluice_connector_state gauge\n"
                'sluice_connector_state{connector="orders",state="RUNNING"} 1\n'
                'sluice_connector_state{connector="orders",state="FAILED"} 0\n'
                "# HELP sluice_connector_info i\n# TYPE sluice_connector_info gauge\n"
                'sluice_connector_info{connector="orders",source="postgres",sink="kafka"} 1\n'
                'sluice_connector_info{connector="broken",source="mysql",sink="file"} 1\n'
                "# HELP sluice_connector_records_read_total r\n# TYPE sluice_connector_records_read_total counter\n"
                f'sluice_connector_records_read_total{{connector="orders"}} {w + 5}\n'
                "# HELP sluice_connector_records_written_total w\n"
                "# TYPE sluice_connector_records_written_total counter\n"
                f'sluice_connector_records_written_total{{connector="orders"}} {w}\n'
                'sluice_connector_records_written_total{connector="broken"} 17\n'
                "# HELP sluice_connector_source_lag_milliseconds l\n"
                "# TYPE sluice_connector_source_lag_milliseconds gauge\n"
                'sluice_connector_source_lag_milliseconds{connector="orders"} 42\n'
                "# HELP sluice_connector_source_behind_bytes b\n# TYPE sluice_connector_source_behind_bytes gauge\n"
                'sluice_connector_source_behind_bytes{connector="orders"} 1234567\n'
                "# HELP sluice_connector_source_behind_records b\n"
                "# TYPE sluice_connector_source_behind_records gauge\n"
                'sluice_connector_source_behind_records{connector="broken"} 12\n'
                "# HELP sluice_connector_snapshot_rows r\n# TYPE sluice_connector_snapshot_rows gauge\n"
                f'sluice_connector_snapshot_rows{{connector="orders",table="public.big"}} {self.snap_rows()}\n'
                'sluice_connector_snapshot_rows{connector="orders",table="public.small"} 30\n'
                "# HELP sluice_connector_snapshot_rows_estimate e\n"
                "# TYPE sluice_connector_snapshot_rows_estimate gauge\n"
                f'sluice_connector_snapshot_rows_estimate{{connector="orders",table="public.big"}} {SNAP_EST}\n'
                'sluice_connector_snapshot_rows_estimate{connector="orders",table="public.small"} 30\n'
                "# HELP sluice_connector_snapshot_done d\n# TYPE sluice_connector_snapshot_done gauge\n"
                'sluice_connector_snapshot_done{connector="orders",table="public.big"} 0\n'
                'sluice_connector_snapshot_done{connector="orders",table="public.small"} 1\n'
                "# HELP sluice_connector_snapshot_chunks c\n# TYPE sluice_connector_snapshot_chunks gauge\n"
                'sluice_connector_snapshot_chunks{connector="orders",table="public.big"} 20\n'
                'sluice_connector_snapshot_chunks_done{connector="orders",table="public.big"} 3\n'
                'an unparseable line { that the client must skip\n'
            ).encode()
        return 404, "application/json", b'{"error_code":404,"message":"not found"}'

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    made = []

    def make(**kw):
        d = FakeDaemon(**kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def status(*args, env=None):
    e = dict(os.environ)
    e.pop("SLUICE_REST_TOKEN", None)
    e.update(env or {})
    return run_cli("status", *args, timeout=30, env=e)


# ---- the status client ----

@needs_status
def test_status_unreachable_names_the_url():
    url = f"http://127.0.0.1:{closed_port()}"
    r = status("--url", url, "--no-rate")
    assert r.returncode == 1, r
    assert url in r.stderr and r.stdout == ""


@needs_status
def test_status_usage_errors():
    for args in (["--bogus"], ["--url"], ["extra"], ["--token", "a", "--token-file", "b"]):
        r = status(*args)
        assert r.returncode == 2, (args, r)
        assert "usage: sluice status" in r.stderr
    r = status("--token-file", "/nonexistent/token")
    assert r.returncode == 2 and "/nonexistent/token" in r.stderr


@needs_status
def test_status_table(fake):
    d = fake()
    r = status("--url", d.url + "/")  # a trailing slash is fine
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "SOURCE", "→", "SINK", "READ", "WRITTEN", "RATE", "LAG(ms)",
                                "BEHIND"]
    rows = {l.split()[0]: l.split() for l in lines[1:] if not l.startswith(" ")}
    assert rows["orders"][:5] == ["orders", "RUNNING", "postgres", "→", "kafka"]
    assert int(rows["orders"][6]) == int(rows["orders"][5]) - 5 > 0 and rows["orders"][8:] == ["42", "1.2MB"]
    assert 0.6 * RATE <= float(rows["orders"][7]) <= 1.4 * RATE
    assert rows["broken"][:5] == ["broken", "FAILED", "mysql", "→", "file"]  # a failed task fails the connector
    assert rows["broken"][5:] == ["-", "17", "0", "-", "12rec"]
    assert rows["parked"][:5] == ["parked", "STOPPED", "pg", "→", "file"]  # names from the config
    assert rows["parked"][5:] == ["-", "-", "-", "-", "-"]
    err = [l for l in lines if l.startswith("    error")]
    assert err == ["    error: cannot connect to 10.0.0.9:3306"]  # the first line of the trace only
    # the snapshot still reading (public.small is done: no line), under its connector
    snaps = [l for l in lines if l.startswith("    snapshot: ")]
    assert len(snaps) == 1 and lines.index(snaps[0]) == lines.index(next(l for l in lines if l.startswith("orders"))) + 1
    m = re.fullmatch(r"    snapshot: public\.big: (\d+) of ~10000000 rows \((\d+)%\), 3/20 chunks, (\d+) rows/s, "
                     r"(\d+)s left", snaps[0])
    assert m, snaps[0]
    rows, pct, rate, left = (int(x) for x in m.groups())
    assert 0.6 * SNAP_RATE <= rate <= 1.4 * SNAP_RATE and abs(pct - 100 * rows / SNAP_EST) <= 1
    assert abs(left - (SNAP_EST - rows) / rate) <= 1
    assert [p for p, _ in d.requests].count("/metrics") == 2


@needs_status
def test_status_json(fake):
    d = fake()
    before = d.written()
    r = status("--url", d.url, "--json")
    after = d.written()
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["url"] == d.url
    c = {x["name"]: x for x in doc["connectors"]}
    assert sorted(c) == ["broken", "orders", "parked"]
    o = c["orders"]
    assert (o["state"], o["source"], o["sink"], o["lag_ms"], o["error"]) == ("RUNNING", "postgres", "kafka", 42, None)
    assert (o["behind_bytes"], o["behind_records"]) == (1234567, None)
    assert (c["broken"]["behind_bytes"], c["broken"]["behind_records"]) == (None, 12)
    assert before < o["records_written"] <= after and o["records_read"] == o["records_written"] + 5
    assert 0.6 * RATE <= o["rate"] <= 1.4 * RATE
    b = c["broken"]
    assert (b["state"], b["records_written"], b["rate"], b["records_read"]) == ("FAILED", 17, 0, None)
    assert b["error"] == "cannot connect to 10.0.0.9:3306"
    assert c["parked"]["records_written"] is None and c["parked"]["rate"] is None
    sn = {x["table"]: x for x in o["snapshot"]}
    assert sn["public.small"] == {"table": "public.small", "rows": 30, "rows_estimate": 30, "done": True,
                                  "chunks": None, "chunks_done": None, "rows_per_s": 0.0, "seconds_left": None}
    big = sn["public.big"]
    assert (big["done"], big["chunks"], big["chunks_done"], big["rows_estimate"]) == (False, 20, 3, SNAP_EST)
    assert 0.6 * SNAP_RATE <= big["rows_per_s"] <= 1.4 * SNAP_RATE
    assert abs(big["seconds_left"] - (SNAP_EST - big["rows"]) / big["rows_per_s"]) < 1
    assert c["parked"]["snapshot"] == []

    d.requests.clear()
    r = status("--url", d.url, "--json", "--no-rate")
    assert r.returncode == 0
    assert {x["name"]: x["rate"] for x in json.loads(r.stdout)["connectors"]}["orders"] is None
    assert [p for p, _ in d.requests].count("/metrics") == 1


@needs_status
def test_status_token(fake, tmp_path):
    d = fake(token="s3cret")
    r = status("--url", d.url, "--no-rate")
    assert r.returncode == 1 and "401" in r.stderr and d.url in r.stderr
    assert status("--url", d.url, "--no-rate", "--token", "s3cret").returncode == 0
    assert status("--url", d.url, "--no-rate", env={"SLUICE_REST_TOKEN": "s3cret"}).returncode == 0
    (tmp_path / "tok").write_text("s3cret\n")
    assert status("--url", d.url, "--no-rate", "--token-file", str(tmp_path / "tok")).returncode == 0
    assert {a for _, a in d.requests} == {None, "Bearer s3cret"}


# ---- against a real `sluice serve` ----

def rest(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


def metrics(url):
    code, text = rest("GET", url + "/metrics")
    assert code == 200
    return parse_exposition(text)


def start_serve(tmp_path):
    """`sluice serve` on a free port with file-backed configs and offsets in tmp_path, once its REST listener
    answers: (process, base URL)."""
    url = f"http://127.0.0.1:{closed_port()}"
    worker = tmp_path / "worker.properties"
    worker.write_text(f"listeners={url}\nconfig.storage.file.filename={tmp_path / 'configs.db'}\n"
                      f"offset.storage.file.filename={tmp_path / 'offsets.db'}\n")
    with open(tmp_path / "serve.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([SLUICE, "serve", str(worker)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _reachable(url), what="the REST listener")
    except BaseException:
        proc.kill()
        proc.wait(30)
        raise
    return proc, url


@pytest.mark.skipif(not SERVE_BUILT, reason="sluice serve not built yet")
def test_serve_metrics_and_status_move_with_data(tmp_path, pg, tables):
    t = tables("it_status", "id int PRIMARY KEY, v text")
    sql(pg, f"INSERT INTO {t} SELECT g, 's' FROM generate_series(100001, 100010) g")  # for the snapshot
    s = Sluice(tmp_path, pg, table_include_list=f"public.{t}", snapshot_mode="initial",
               retriable_restart_connector_wait_ms="200")
    proc, url = start_serve(tmp_path)
    try:
        code, _ = rest("POST", url + "/connectors", {"name": s.name, "config": s.config})
        assert code in (200, 201)
        wait_until(lambda: value(metrics(url), "sluice_connector_state", connector=s.name, state="RUNNING") == 1,
                   what="the connector RUNNING in /metrics")
        fq = f"public.{t}"
        wait_until(lambda: value(metrics(url), "sluice_connector_snapshot_done", connector=s.name, table=fq) == 1,
                   what="the snapshot done in /metrics")
        m0 = metrics(url)
        assert value(m0, "sluice_connector_snapshot_rows", connector=s.name, table=fq) == 10
        wait_until(lambda: (value(metrics(url), "sluice_connector_records_written_total", connector=s.name) or 0)
                   >= 10, what="the snapshot's 10 records written")
        time.sleep(1.0)  # streaming has begun
        sql(pg, f"INSERT INTO {t} SELECT g, 'x' FROM generate_series(1, 100) g")
        wait_until(lambda: (value(metrics(url), "sluice_connector_records_written_total", connector=s.name) or 0)
                   >= 110, what="110 records written")
        m = metrics(url)
        assert value(m, "sluice_connector_records_read_total", connector=s.name) >= 110
        assert value(m, "sluice_connector_info", connector=s.name)
        n = value(m, "sluice_connector_end_to_end_latency_seconds_count", connector=s.name)
        assert n >= 110 and value(m, "sluice_connector_end_to_end_latency_seconds_bucket",
                                  connector=s.name, le="+Inf") == n
        assert value(m, "sluice_process_resident_memory_bytes") > 0
        assert value(m, "sluice_process_allocated_bytes") > 0 and value(m, "sluice_process_uptime_seconds") > 0
        # bytes: what went in, and the encoded JSON lines the file sink wrote (the file's size)
        assert value(m, "sluice_connector_bytes_read_total", connector=s.name) > 0
        wait_until(lambda: value(metrics(url), "sluice_connector_bytes_written_total", connector=s.name)
                   == s.out.stat().st_size, what="bytes written == the file's size")
        assert value(m, "sluice_connector_batch_size_records_count", connector=s.name) >= 1
        assert value(m, "sluice_connector_batch_size_records_sum", connector=s.name) >= 110
        assert value(m, "sluice_connector_queue_records", connector=s.name) is not None
        assert value(m, "sluice_connector_queue_bytes", connector=s.name) is not None
        lag = value(m, "sluice_connector_source_lag_milliseconds", connector=s.name)
        assert lag is not None and 0 <= lag < 60_000
        # the slot's lag in WAL bytes comes with the server's keepalives; the committed offset is an LSN
        wait_until(lambda: value(metrics(url), "sluice_connector_source_behind_bytes", connector=s.name) is not None,
                   what="PostgreSQL slot lag in bytes")
        offs = [l for n_, l, _ in metrics(url) if n_ == "sluice_connector_source_offset_info"
                and l["connector"] == s.name]
        assert len(offs) == 1 and "lsn" in json.loads(offs[0]["offset"])
        assert not [1 for n_, l, _ in m if n_ == "sluice_connector_last_error_info" and l["connector"] == s.name]
        # a lost source connection: counted, and its reason is the last error
        assert value(m, "sluice_connector_reconnects_total", connector=s.name) == 0
        killed = sql(pg, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s",
                     s.slot)
        assert killed == [(True,)]
        wait_until(lambda: (value(metrics(url), "sluice_connector_reconnects_total", connector=s.name) or 0) >= 1,
                   what="the reconnect counted")
        errs = [l["error"] for n_, l, _ in metrics(url) if n_ == "sluice_connector_last_error_info"
                and l["connector"] == s.name]
        assert len(errs) == 1 and errs[0]
        assert time.time() - 60 < value(metrics(url), "sluice_connector_last_error_timestamp_seconds",
                                        connector=s.name) <= time.time() + 1

        stop = threading.Event()

        def load():  # keeps changes flowing while status measures its rate
            i = 1000
            while not stop.is_set():
                sql(pg, f"INSERT INTO {t} SELECT g, 'y' FROM generate_series({i}, {i + 49}) g")
                i += 50
                time.sleep(0.05)

        th = threading.Thread(target=load)
        th.start()
        try:
            time.sleep(0.5)
            r = status("--url", url, "--json")
        finally:
            stop.set()
            th.join()
        assert r.returncode == 0, r.stderr
        c = {x["name"]: x for x in json.loads(r.stdout)["connectors"]}[s.name]
        assert c["state"] == "RUNNING" and c["records_written"] > 100 and c["rate"] > 0
        assert c["behind_bytes"] is not None and c["behind_bytes"] >= 0
        assert c["source"] and c["sink"]
        later = metrics(url)
        assert value(later, "sluice_connector_records_written_total", connector=s.name) > \
            value(m, "sluice_connector_records_written_total", connector=s.name)
    finally:
        proc.terminate()
        proc.wait(30)
        s.cleanup()


def _reachable(url):
    try:
        return rest("GET", url + "/connectors")[0] == 200
    except OSError:
        return False


@pytest.mark.skipif(not SERVE_BUILT, reason="sluice serve not built yet")
def test_stopped_connector_slot_retained_wal(tmp_path, pg, tables):
    """A stopped connector keeps its slot, which holds back WAL: /metrics shows the bytes per slot whatever the
    state (sluice_connector_slot_retained_wal_bytes, and the threshold), and `sluice status` warns for the
    connector whose slot.retained.wal.warn.bytes is passed, not for the one with a higher threshold."""
    t = tables("it_status_wal", "id int PRIMARY KEY, v text")
    low = Sluice(tmp_path, pg, table_include_list=f"public.{t}", snapshot_mode="no_data",
                 **{"slot.retained.wal.warn.bytes": str(1 << 20)})
    high = Sluice(tmp_path, pg, table_include_list=f"public.{t}", snapshot_mode="no_data",
                  **{"slot.retained.wal.warn.bytes": str(1 << 40)})
    high.config["sink.file.path"] = str(tmp_path / "high.jsonl")
    high.config["offset.storage.file.filename"] = str(tmp_path / "offsets-high.db")
    proc, url = start_serve(tmp_path)
    try:
        for s in (low, high):
            assert rest("POST", url + "/connectors", {"name": s.name, "config": s.config})[0] == 201
        for s in (low, high):
            wait_until(lambda: value(metrics(url), "sluice_connector_state", connector=s.name, state="RUNNING") == 1,
                       what="the connector RUNNING")
            wait_until(lambda: sql(pg, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", s.slot) ==
                       [(True,)], what=f"slot {s.slot} in use")
            assert rest("PUT", f"{url}/connectors/{s.name}/stop")[0] == 204
        for s in (low, high):
            wait_until(lambda: value(metrics(url), "sluice_connector_state", connector=s.name, state="STOPPED") == 1,
                       what="the connector STOPPED")
        (before,), = sql(pg, "SELECT pg_current_wal_lsn() - '0/0'")
        for k in range(4):  # a few MB of WAL while both are stopped
            sql(pg, f"INSERT INTO {t} SELECT g, repeat('w', 500) FROM generate_series({k * 2000 + 1}, {k * 2000 + 2000}) g")
        (after,), = sql(pg, "SELECT pg_current_wal_lsn() - '0/0'")
        assert after - before > 3 << 20
        m = metrics(url)
        for s, warn in ((low, 1 << 20), (high, 1 << 40)):
            held = value(m, "sluice_connector_slot_retained_wal_bytes", connector=s.name, slot=s.slot)
            (want,), = sql(pg, "SELECT pg_current_wal_lsn() - restart_lsn FROM pg_replication_slots "
                               "WHERE slot_name = %s", s.slot)
            assert held is not None and after - before <= held <= want, (held, after - before, want)
            assert value(m, "sluice_connector_slot_retained_wal_warn_bytes", connector=s.name, slot=s.slot) == warn

        r = status("--url", url, "--no-rate")
        assert r.returncode == 0, r.stderr
        warnings = [l for l in r.stdout.splitlines() if l.startswith("    warning: ")]
        assert len(warnings) == 1, r.stdout
        assert f"slot {low.slot} holds back " in warnings[0] and "slot.retained.wal.warn.bytes" in warnings[0]
        assert "MB of WAL" in warnings[0] and "resume the connector" in warnings[0], warnings
        rows = [l for l in r.stdout.splitlines() if l.startswith(low.name)]
        assert rows and rows[0].split()[1] == "STOPPED"
        r = status("--url", url, "--no-rate", "--json")
        c = {x["name"]: x for x in json.loads(r.stdout)["connectors"]}
        assert c[low.name]["slot"] == low.slot and c[low.name]["slot_retained_wal_bytes"] > after - before - 1
        assert c[low.name]["warning"] and c[high.name]["warning"] is None
    finally:
        proc.terminate()
        proc.wait(30)
        low.cleanup()
        high.cleanup()


@pytest.mark.skipif(not SERVE_BUILT, reason="sluice serve not built yet")
def test_parallel_snapshot_chunks_in_metrics(tmp_path, pg, tables):
    """snapshot.max.threads=2: the table read in 8 ranges of its pages, all of them done in /metrics."""
    t = tables("it_status_chunks", "id int PRIMARY KEY, v text")
    sql(pg, f"INSERT INTO {t} SELECT g, repeat('s', 40) FROM generate_series(1, 5000) g")
    s = Sluice(tmp_path, pg, table_include_list=f"public.{t}", snapshot_mode="initial", snapshot_max_threads="2")
    proc, url = start_serve(tmp_path)
    try:
        code, _ = rest("POST", url + "/connectors", {"name": s.name, "config": s.config})
        assert code in (200, 201)
        fq = f"public.{t}"
        wait_until(lambda: value(metrics(url), "sluice_connector_snapshot_done", connector=s.name, table=fq) == 1,
                   what="the snapshot done in /metrics")
        m = metrics(url)
        assert value(m, "sluice_connector_snapshot_rows", connector=s.name, table=fq) == 5000
        assert value(m, "sluice_connector_snapshot_chunks", connector=s.name, table=fq) == 8
        assert value(m, "sluice_connector_snapshot_chunks_done", connector=s.name, table=fq) == 8
    finally:
        proc.terminate()
        proc.wait(30)
        sql(pg, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s "
                "AND NOT active", s.slot)
