"""Integration-test harness: real PostgreSQL (started by scripts/services.sh),
the real sluice binary, and helpers to run it, kill it and read its output."""
import json
import os
import shlex
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_env():
    env_file = ROOT / ".run" / "env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                os.environ.setdefault(k, shlex.split(v)[0] if v else "")


load_env()
SLUICE = os.environ.get("SLUICE_BIN", str(ROOT / "build" / "sluice"))


def pg_params(**over):
    p = dict(host="127.0.0.1", port=int(os.environ["SLUICE_PG_PORT"]), user=os.environ["SLUICE_PG_USER"],
             password=os.environ["SLUICE_PG_PASSWORD"], dbname=os.environ["SLUICE_PG_DB"])
    p.update(over)
    return p


@pytest.fixture
def pg():
    conn = psycopg2.connect(**pg_params())
    conn.autocommit = True
    yield conn
    conn.close()


def sql(conn, q, *args):
    with conn.cursor() as c:
        c.execute(q, args or None)
        return c.fetchall() if c.description else None


class Sluice:
    """One connector config plus the files it writes, run as a real process."""

    def __init__(self, tmp_path, pg, **config):
        self.dir = tmp_path
        self.pg = pg
        tag = uuid.uuid4().hex[:8]
        self.slot = config.pop("slot", f"it_{tag}")
        self.publication = config.pop("publication", f"it_pub_{tag}")
        self.out = tmp_path / "events.jsonl"
        self.log = tmp_path / "sluice.log"
        self.config = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": "127.0.0.1",
            "database.port": os.environ["SLUICE_PG_PORT"],
            "database.user": os.environ["SLUICE_PG_USER"],
            "database.password": os.environ["SLUICE_PG_PASSWORD"],
            "database.dbname": os.environ["SLUICE_PG_DB"],
            "topic.prefix": "it",
            "slot.name": self.slot,
            "publication.name": self.publication,
            "publication.autocreate.mode": "filtered",
            "sink.type": "file",
            "sink.file.path": str(self.out),
            "offset.storage.file.filename": str(tmp_path / "offsets.db"),
            "offset.flush.interval.ms": "100",
            "status.update.interval.ms": "200",
        }
        self.config.update({k.replace("_", "."): v for k, v in config.items()})
        self.name = "it-" + tag
        self.proc = None
        self.write_config()

    def write_config(self):
        self.cfg_path = self.dir / "connector.json"
        self.cfg_path.write_text(json.dumps({"name": self.name, "config": self.config}))

    def start(self, binary=None):
        self.write_config()
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([binary or SLUICE, "run", str(self.cfg_path)], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        return self

    def run_to_end(self, timeout=60):
        """Runs a connector that stops by itself (initial_only); returns the exit code."""
        self.start()
        return self.proc.wait(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        rc = self.proc.returncode if self.proc else None
        if self.proc:
            self.logf.close()
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def events(self):
        if not self.out.exists():
            return []
        text = self.out.read_text()
        # A line still being written (no newline yet) is not an event yet.
        text = text[:text.rfind("\n") + 1]
        return [json.loads(l) for l in text.splitlines() if l.strip()]

    def wait_events(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ev = self.events()
            if len(ev) >= n:
                return ev
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"sluice exited ({self.proc.returncode}):\n{self.log.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"got {len(self.events())} events, wanted {n}:\n{self.log.read_text()[-3000:]}")

    def cleanup(self):
        self.stop()
        for _ in range(50):
            try:
                sql(self.pg, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                             "WHERE slot_name = %s", self.slot)
                break
            except psycopg2.Error:
                time.sleep(0.1)
        sql(self.pg, f'DROP PUBLICATION IF EXISTS "{self.publication}"')


@pytest.fixture
def sluice(tmp_path, pg):
    made = []

    def make(**config):
        s = Sluice(tmp_path, pg, **config)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


def payload(event):
    """The Debezium value payload, whether or not schemas are enabled."""
    v = event["value"]
    if v is not None and "schema" in v and "payload" in v:
        return v["payload"]
    return v


def key_payload(event):
    k = event["key"]
    if k is not None and "schema" in k and "payload" in k:
        return k["payload"]
    return k


def run_cli(*args, timeout=60, env=None):
    return subprocess.run([SLUICE, *args], capture_output=True, text=True, timeout=timeout, env=env)


# ---- helpers added for the crash / bad-input / snapshot-mode / feature tests ----

def ops(events):
    """op of each event; None for a tombstone."""
    return [payload(e)["op"] if e["value"] is not None else None for e in events]


def log_text(s, since=0):
    """sluice's log (stdout+stderr of every run so far), from byte offset since."""
    return s.log.read_bytes()[since:].decode(errors="replace") if s.log.exists() else ""


def start_run(s):
    """Starts sluice and remembers where this run's log output begins (s.mark)."""
    s.mark = s.log.stat().st_size if s.log.exists() else 0
    return s.start()


def wait_log(s, text, timeout=30, since=None):
    """Waits until this run's log (see start_run) contains text."""
    since = getattr(s, "mark", 0) if since is None else since
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in log_text(s, since):
            return
        if s.proc and s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}) before logging {text!r}:\n"
                                 f"{log_text(s)[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in the log after {timeout}s:\n{log_text(s)[-3000:]}")


def wait_streaming(s, timeout=30):
    """Waits until this run logged "streaming slot=" (START_REPLICATION succeeded): a change committed
    after that is captured."""
    wait_log(s, "streaming slot=", timeout)


def wait_until(pred, timeout=30, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def slot_row(conn, slot):
    """(active, confirmed_flush_lsn as int) of a slot, or None when it does not exist."""
    rows = sql(conn, "SELECT active, confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = %s", slot)
    return (rows[0][0], int(rows[0][1]) if rows[0][1] is not None else None) if rows else None


def publication_exists(conn, name):
    return bool(sql(conn, "SELECT 1 FROM pg_publication WHERE pubname = %s", name))


@pytest.fixture
def tables(pg):
    """make(name, columns, *sql): drops and creates a table; every table made is dropped after the
    test. List it before `sluice` in a test's arguments so that sluice is stopped first."""
    made = []

    def make(name, columns, *extra_sql):
        sql(pg, f'DROP TABLE IF EXISTS "{name}"')
        sql(pg, f'CREATE TABLE "{name}" ({columns})')
        for q in extra_sql:
            sql(pg, q)
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            sql(pg, "SET lock_timeout = '5s'")
            sql(pg, f'DROP TABLE IF EXISTS "{name}"')
        except psycopg2.Error:
            pass


def new_output(s):
    """Points the file sink of s at a fresh file (for the next start); all_events() still reads the old
    ones. Lets a test about something else restart sluice without depending on the sink's append path."""
    s.outs = getattr(s, "outs", []) + [s.out]
    s.out = s.dir / f"events-{len(s.outs)}.jsonl"
    s.config["sink.file.path"] = str(s.out)
    return s


def all_events(s):
    """Events of every output file s has used, in order."""
    ev = []
    for path in getattr(s, "outs", []) + [s.out]:
        if path.exists():
            ev += [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    return ev


def wait_all_events(s, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        ev = all_events(s)
        if len(ev) >= n:
            return ev
        if s.proc and s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s)[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"got {len(all_events(s))} events, wanted {n}:\n{log_text(s)[-3000:]}")


# ---- MySQL / MariaDB ----

def my_params():
    return dict(host="127.0.0.1", port=int(os.environ["SLUICE_MARIADB_PORT"]),
                user=os.environ.get("SLUICE_MARIADB_USER", "sluice"),
                password=os.environ.get("SLUICE_MARIADB_PASSWORD", "sluice"),
                database=os.environ.get("SLUICE_MARIADB_DB", "sluice"), autocommit=True)


@pytest.fixture
def my():
    import pymysql
    conn = pymysql.connect(**my_params())
    yield conn
    conn.close()


def mysql(conn, q, *args):
    with conn.cursor() as c:
        c.execute(q, args or None)
        return c.fetchall() if c.description else None


class MySluice(Sluice):
    """A MariaDB connector run as a real process (same helpers as Sluice)."""

    def __init__(self, tmp_path, conn, **config):
        self.dir = tmp_path
        self.pg = None
        self.my = conn
        tag = uuid.uuid4().hex[:8]
        self.out = tmp_path / "events.jsonl"
        self.log = tmp_path / "sluice.log"
        p = my_params()
        self.config = {
            "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
            "database.hostname": p["host"], "database.port": str(p["port"]),
            "database.user": p["user"], "database.password": p["password"],
            "database.server.id": str(5000 + int(tag[:4], 16) % 10000),
            "topic.prefix": "my", "sink.type": "file", "sink.file.path": str(self.out),
            "offset.storage.file.filename": str(tmp_path / "offsets.db"),
            "offset.flush.interval.ms": "100",
        }
        self.config.update({k.replace("_", "."): v for k, v in config.items()})
        self.name = "my-" + tag
        self.proc = None
        self.write_config()

    def cleanup(self):
        self.stop()


@pytest.fixture
def mysluice(tmp_path, my):
    made = []

    def make(**config):
        s = MySluice(tmp_path, my, **config)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()
