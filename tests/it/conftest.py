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


@pytest.fixture
def cfg(tmp_path, pg):
    """Sluice configs that are never started as a background process; cleaned up like the fixture's
    (bad-input tests run them in the foreground with `sluice run`)."""
    made = []

    def make(**config):
        d = tmp_path / f"c{len(made)}"
        d.mkdir()
        s = Sluice(d, pg, **config)
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


def kill_during_snapshots(s, rnd, kills, progress, span, early=0.05):
    """Starts s `kills` times and kills it (-9) each time at a random point: a quarter of the times within
    `early` seconds of the start (start-up, the stored start, the first rows), the others once progress()
    has grown by a random amount below span (or the snapshot completed, or 15 s passed). sluice must not
    stop by itself. Returns how many kills landed before the snapshot completed."""
    in_snapshot = 0
    for _ in range(kills):
        start_run(s)
        if rnd.random() < 0.25:
            time.sleep(rnd.uniform(0, early))
        else:
            target = progress() + rnd.randrange(1, span)
            deadline = time.time() + 15
            while (progress() < target and time.time() < deadline and s.proc.poll() is None
                   and "snapshot complete" not in log_text(s, s.mark)):
                time.sleep(0.001)
        assert s.proc.poll() is None, log_text(s, s.mark)[-2000:]
        s.kill9()
        in_snapshot += "snapshot complete" not in log_text(s, s.mark)
    return in_snapshot


def finish_with_marker(s, streaming_log, write_marker, timeout=120):
    """Starts s once more, waits until it streams (streaming_log in its log), makes a change with
    write_marker(marker) and waits for that change's event in the file, so everything before it is there
    too; then stops s, which must exit 0."""
    start_run(s)
    wait_log(s, streaming_log, timeout=timeout)
    marker = f"marker-{uuid.uuid4().hex}"
    write_marker(marker)

    def marker_written():
        if s.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({s.proc.returncode}):\n{log_text(s, s.mark)[-3000:]}")
        return s.out.exists() and marker.encode() in s.out.read_bytes()

    wait_until(marker_written, timeout=timeout, interval=0.1, what="the marker row's event")
    assert s.stop() == 0, log_text(s, s.mark)[-3000:]


def assert_replay_equals(state, table, note, extra_text=""):
    """A replayed state {id: row} must be exactly the table {id: row}: no row left behind, none missing,
    none different. The message leads with note."""
    extra = sorted(set(state) - set(table))
    missing = sorted(set(table) - set(state))
    wrong = sorted(i for i in set(table) & set(state) if table[i] != state[i])
    assert not extra and not missing and not wrong, (
        f"{note}\nrows left behind={extra[:20]} ({len(extra)}) missing={missing[:20]} "
        f"wrong={[(i, table[i], state[i]) for i in wrong[:10]]}{extra_text}")


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


ROW_METADATA = ("FULL", "MINIMAL", "NO_LOG")


@pytest.fixture(params=ROW_METADATA)
def row_metadata(request):
    """Runs a MariaDB test with the server's binlog_row_metadata at each setting: FULL (what
    services.sh configures), MINIMAL (MySQL's default) and NO_LOG (MariaDB's default). The TABLE_MAP
    events written meanwhile carry that much metadata; FULL comes back afterwards."""
    import pymysql
    conn = pymysql.connect(**my_params())
    try:
        mysql(conn, f"SET GLOBAL binlog_row_metadata = '{request.param}'")
        yield request.param
    finally:
        mysql(conn, "SET GLOBAL binlog_row_metadata = 'FULL'")
        conn.close()


class MySluice(Sluice):
    """A MariaDB connector run as a real process (same helpers as Sluice). events() leaves out the schema
    change events (topic <topic.prefix>; a snapshot starts with them) unless schema_events=True."""

    def __init__(self, tmp_path, conn, schema_events=False, **config):
        self.schema_events = schema_events
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

    def events(self):
        ev = super().events()
        return ev if self.schema_events else [e for e in ev if e["topic"] != self.config["topic.prefix"]]

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


# ---- Kafka (single KRaft node started by `scripts/services.sh start kafka`) ----
# Helpers take explicit topic names; the `kafka` fixture adds a per-test topic prefix and deletes
# that test's topics afterwards. confluent_kafka is imported lazily, like pymysql above.

def kafka_bootstrap():
    b = os.environ.get("SLUICE_KAFKA_BOOTSTRAP")
    if not b:
        pytest.fail("SLUICE_KAFKA_BOOTSTRAP is not set: run scripts/services.sh start kafka")
    return b


def _kafka_admin():
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": kafka_bootstrap()})


def kafka_consume_all(topic, *, isolation="read_committed", timeout=30):
    """Every record of topic (all partitions) from the low watermark to the end as of the call: the
    high watermark, or for read_committed the last stable offset (an open transaction ends it).
    Returns dicts {topic, partition, offset, key, value, headers, timestamp} ordered by (partition,
    offset); key/value are bytes or None, headers a list of (name, bytes-or-None), timestamp in ms."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    assert isolation in ("read_committed", "read_uncommitted"), isolation
    c = Consumer({"bootstrap.servers": kafka_bootstrap(), "group.id": "it-reader-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": isolation, "auto.offset.reset": "earliest"})
    try:
        md = c.list_topics(topic, timeout=timeout).topics[topic]
        if md.error is not None:
            raise AssertionError(f"topic {topic}: {md.error}")
        ends, assign = {}, []
        for p in sorted(md.partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if hi > lo:
                ends[p] = hi
                assign.append(TopicPartition(topic, p, lo))
        c.assign(assign)
        out, pending, deadline = [], set(ends), time.time() + timeout
        while pending:
            if time.time() > deadline:
                raise AssertionError(f"consume_all({topic}): partitions {sorted(pending)} not read to the end "
                                     f"within {timeout}s (got {len(out)} records)")
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
                    continue
                raise AssertionError(f"consume_all({topic}): {m.error()}")
            if m.offset() < ends[m.partition()]:
                ts_type, ts = m.timestamp()
                out.append(dict(topic=m.topic(), partition=m.partition(), offset=m.offset(), key=m.key(),
                                value=m.value(), headers=list(m.headers() or []),
                                timestamp=ts if ts_type else None))
        return sorted(out, key=lambda r: (r["partition"], r["offset"]))
    finally:
        c.close()


def kafka_produce(topic, key, value, headers=None, partition=None, timeout=30):
    """Produces one record (str is sent as UTF-8) and waits for the ack; returns (partition, offset)."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": kafka_bootstrap(), "acks": "all"})
    res = {}
    kw = {} if partition is None else {"partition": partition}
    p.produce(topic, key=key, value=value, headers=headers or None,
              on_delivery=lambda err, msg: res.update(err=err, msg=msg), **kw)
    p.flush(timeout)
    if "msg" not in res or res["err"] is not None:
        raise AssertionError(f"produce to {topic} failed: {res.get('err', 'no delivery report')}")
    return res["msg"].partition(), res["msg"].offset()


def kafka_create_topic(name, partitions=1, config=None, timeout=30):
    """Creates a topic (replication factor 1) and waits until every partition has a leader."""
    from confluent_kafka.admin import NewTopic
    admin = _kafka_admin()
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                  config=config or {})])[name].result(timeout)
    wait_until(lambda: (t := admin.list_topics(name, timeout=5).topics.get(name)) is not None
               and t.error is None and len(t.partitions) == partitions
               and all(p.leader >= 0 for p in t.partitions.values()),
               timeout=timeout, interval=0.1, what=f"topic {name} to have leaders")
    return name


def kafka_delete_topics(prefix, timeout=30):
    """Deletes every topic whose name starts with prefix (never the internal __ ones) and waits until
    they are gone, so that the names can be created again. Returns the deleted names."""
    admin = _kafka_admin()
    names = [t for t in admin.list_topics(timeout=timeout).topics
             if t.startswith(prefix) and not t.startswith("__")]
    if names:
        for f in admin.delete_topics(names, operation_timeout=timeout).values():
            f.result(timeout)
        wait_until(lambda: not set(names) & set(admin.list_topics(timeout=5).topics),
                   timeout=timeout, interval=0.1, what=f"topics {names} to be deleted")
    return names


def kafka_service(action, timeout=180):
    """scripts/services.sh <action> kafka (start, stop, status); raises with its output on failure.
    Stop then start keeps every topic and record."""
    r = subprocess.run([str(ROOT / "scripts" / "services.sh"), action, "kafka"], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"services.sh {action} kafka failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def kafka_restart(down_seconds=0):
    """Stops the broker cleanly, waits down_seconds, starts it again (waits until it answers)."""
    kafka_service("stop")
    time.sleep(down_seconds)
    kafka_service("start")


class Kafka:
    """What the `kafka` fixture yields: the helpers above plus `prefix`, unique to the test."""

    def __init__(self):
        self.bootstrap = kafka_bootstrap()
        self.prefix = "it-" + uuid.uuid4().hex[:8] + "-"

    def topic(self, name):
        """prefix + name: a topic name (not created) that is deleted after the test."""
        return self.prefix + name

    def create_topic(self, name, partitions=1, config=None):
        return kafka_create_topic(name, partitions, config)

    consume_all = staticmethod(kafka_consume_all)
    produce = staticmethod(kafka_produce)
    delete_topics = staticmethod(kafka_delete_topics)
    restart = staticmethod(kafka_restart)
    service = staticmethod(kafka_service)


@pytest.fixture
def kafka():
    """A Kafka helper; afterwards the broker is started again if the test left it stopped, and the
    test's topics (k.prefix) are deleted."""
    k = Kafka()
    yield k
    if subprocess.run([str(ROOT / "scripts" / "services.sh"), "status", "kafka"],
                      capture_output=True).returncode != 0:
        kafka_service("start")
    kafka_delete_topics(k.prefix)


# ---- MongoDB (mongo-java-server, an in-memory stand-in, started by `scripts/services.sh start mongo`) ----
# No users (connect without credentials) and nothing kept across a restart. pymongo is imported lazily;
# scripts/deps.sh pins a release that still accepts the server's wire version 8. What the server does
# and does not do like MongoDB: scripts/mongo/README.md.

def mongo_uri():
    """SLUICE_MONGO_URI (direct connection; SLUICE_MONGO_RS_URI goes through replica-set discovery)."""
    u = os.environ.get("SLUICE_MONGO_URI")
    if not u:
        pytest.fail("SLUICE_MONGO_URI is not set: run scripts/services.sh start mongo")
    return u


def mongo_service(action, timeout=120):
    """scripts/services.sh <action> mongo (start, stop, status); raises with its output on failure.
    A stop loses every database and the whole oplog (old resume tokens match nothing afterwards)."""
    r = subprocess.run([str(ROOT / "scripts" / "services.sh"), action, "mongo"], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"services.sh {action} mongo failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


class Mongo:
    """What the `mongo` fixture yields: a pymongo client on SLUICE_MONGO_URI and `db`, a database of
    its own for the test (name in `db_name`), dropped afterwards."""

    def __init__(self):
        from pymongo import MongoClient
        self.uri = mongo_uri()
        self.client = MongoClient(self.uri, serverSelectionTimeoutMS=10000)
        self.db_name = "it_" + uuid.uuid4().hex[:8]
        self.db = self.client[self.db_name]

    def collection(self, name):
        return self.db[name]

    def close(self):
        try:
            self.client.drop_database(self.db_name)
        finally:
            self.client.close()


@pytest.fixture
def mongo():
    m = Mongo()
    yield m
    m.close()


# ---- MariaDB tables made by a test, dropped after it (after sluice stopped: autouse fixtures end last)
_my_made_tables = []


@pytest.fixture(autouse=True)
def _drop_my_tables_afterwards():
    yield
    if _my_made_tables:
        import pymysql
        conn = pymysql.connect(**my_params())
        try:
            for name in _my_made_tables:
                mysql(conn, f"DROP TABLE IF EXISTS `{name}`")
        finally:
            conn.close()
        _my_made_tables.clear()


def my_make_table(my, name, columns, *rows_sql):
    """(Re)creates table `name` with `columns`, runs rows_sql, and drops it after the test."""
    mysql(my, f"DROP TABLE IF EXISTS `{name}`")
    mysql(my, f"CREATE TABLE `{name}` ({columns})")
    _my_made_tables.append(name)
    for q in rows_sql:
        mysql(my, q)
    return name
