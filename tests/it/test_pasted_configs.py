"""Connector configs as users paste them from the public docs run as they are.

Seven configs written the way Debezium's, MongoDB's Kafka connector's and the JDBC sink's docs write
them: secrets as ${file:/secrets/...} (a file per secret, as Docker and Kubernetes mount them) and no
bootstrap.servers (a Kafka Connect worker supplies it). Each test changes only what points at a
server (host names, ports, the test servers' user and database) and the /secrets/ directory (to
tmp_path); `sluice validate` must pass as pasted, then the config runs against the test servers
with SLUICE_BOOTSTRAP_SERVERS naming the test Kafka: a row inserted is read back from Kafka (or, for
the MongoDB sink, a Kafka record from MongoDB). The JDBC sink is not implemented: its config must be
refused for that reason alone, with its secret and bootstrap.servers resolved.

Also: the default bootstrap.servers (SLUICE_BOOTSTRAP_SERVERS, else localhost:9092) is logged with its
reason, and `sluice serve` gives a connector the worker's and resolves ${file:...} on PUT.
"""
import datetime
import json
import os
import signal
import socket
import subprocess
import time
import uuid

import psycopg2
import pytest

from conftest import (SLUICE, kafka_bootstrap, kafka_consume_all, kafka_create_topic, kafka_delete_topics, kafka_produce, my_params,
                      mysql, pg_params, sql, wait_until)

PG = dict(host="127.0.0.1", port=os.environ.get("SLUICE_PG_PORT", ""), user=os.environ.get("SLUICE_PG_USER", ""),
          password=os.environ.get("SLUICE_PG_PASSWORD", ""), db=os.environ.get("SLUICE_PG_DB", ""))

# ---------------------------------------------------------------------------------------------------------
# the configs, as the docs write them

# (a) Debezium's PostgreSQL tutorial (register-postgres.json), with the password in a mounted secret
PG_TUTORIAL = {
    "name": "inventory-connector",
    "config": {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": "postgres",
        "database.port": "5432",
        "database.user": "postgres",
        "database.password": "${file:/secrets/db-password}",
        "database.dbname": "postgres",
        "topic.prefix": "dbserver1",
        "schema.include.list": "inventory",
    },
}

# (b) PostgreSQL with a table list, its own slot, a filtered publication and the unwrap SMT
PG_UNWRAP = {
    "name": "customers-connector",
    "config": {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": "postgres",
        "database.port": "5432",
        "database.user": "postgres",
        "database.password": "${file:/secrets/db-password}",
        "database.dbname": "postgres",
        "topic.prefix": "pgserver",
        "table.include.list": "public.customers",
        "slot.name": "debezium_customers",
        "publication.autocreate.mode": "filtered",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "transforms": "unwrap",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.drop.tombstones": "false",
        "transforms.unwrap.delete.handling.mode": "rewrite",
        "transforms.unwrap.add.fields": "op,table,lsn,source.ts_ms",
    },
}

# (c) the outbox example (debezium-examples outbox/register-postgres.json); ${routedByValue} is the
# EventRouter's placeholder, not a config provider reference
PG_OUTBOX = {
    "name": "outbox-connector",
    "config": {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "database.hostname": "order-db",
        "database.port": "5432",
        "database.user": "postgresuser",
        "database.password": "${file:/secrets/db-password}",
        "database.dbname": "orderdb",
        "topic.prefix": "dbserver1",
        "schema.include.list": "inventory",
        "table.include.list": "inventory.outboxevent",
        "tombstones.on.delete": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "transforms": "outbox",
        "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
        "transforms.outbox.route.topic.replacement": "${routedByValue}.events",
        "transforms.outbox.table.field.event.timestamp": "timestamp",
        "transforms.outbox.table.fields.additional.placement": "type:header:eventType",
    },
}

# (d) Debezium's MySQL tutorial (register-mysql.json): schema history in Kafka, no bootstrap.servers
MYSQL_TUTORIAL = {
    "name": "inventory-connector",
    "config": {
        "connector.class": "io.debezium.connector.mysql.MySqlConnector",
        "tasks.max": "1",
        "database.hostname": "mysql",
        "database.port": "3306",
        "database.user": "debezium",
        "database.password": "${file:/secrets/db-password}",
        "database.server.id": "184054",
        "topic.prefix": "dbserver1",
        "database.include.list": "inventory",
        "schema.history.internal.kafka.bootstrap.servers": "kafka:9092",
        "schema.history.internal.kafka.topic": "schemahistory.inventory",
    },
}

# (e) MongoDB's Kafka connector, source (the quick start's pipeline, with a topic prefix)
MONGO_SOURCE = {
    "name": "mongo-source",
    "config": {
        "connector.class": "com.mongodb.kafka.connect.MongoSourceConnector",
        "connection.uri": "mongodb://mongo1:27017/?replicaSet=rs0",
        "database": "quickstart",
        "collection": "sampleData",
        "pipeline": "[{\"$match\": {\"operationType\": \"insert\"}}, {$addFields : {\"fullDocument.travel\":"
                    "\"MongoDB Kafka Connector\"}}]",
        "topic.prefix": "mongo",
    },
}

# (f) MongoDB's Kafka connector, sink (the sink tutorial)
MONGO_SINK = {
    "name": "mongo-tutorial-sink",
    "config": {
        "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector",
        "topics": "Tutorial2.pets",
        "connection.uri": "mongodb://mongo1",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": False,
        "database": "Tutorial2",
        "collection": "pets",
    },
}

# (g) Debezium's JDBC sink (its docs' example)
JDBC_SINK = {
    "name": "jdbc-connector",
    "config": {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "connection.url": "jdbc:postgresql://localhost/db",
        "connection.username": "pguser",
        "connection.password": "${file:/secrets/db-password}",
        "insert.mode": "upsert",
        "delete.enabled": "true",
        "primary.key.mode": "record_key",
        "schema.evolution": "basic",
        "use.time.zone": "UTC",
        "topics": "orders",
    },
}

# ---------------------------------------------------------------------------------------------------------
# helpers


def localize(doc, tmp_path, **servers):
    """The pasted doc with /secrets/ pointing at tmp_path/secrets and the keys in servers (host names,
    ports, the test server's user and database; '_' for '.') set to the test servers'. Nothing else
    changes. Returns the doc (written to tmp_path/<name>.json) and its path."""
    cfg = {}
    for k, v in doc["config"].items():
        cfg[k] = v.replace("/secrets/", f"{tmp_path}/secrets/") if isinstance(v, str) else v
    for k, v in servers.items():
        k = k.replace("_", ".")
        assert k in cfg, f"{k} is not in the pasted config"
        cfg[k] = v
    out = {"name": doc["name"], "config": cfg}
    path = tmp_path / f"{doc['name']}.json"
    path.write_text(json.dumps(out, indent=2))
    return out, path


def secret(tmp_path, name, value, newline="\n"):
    """A secret file as `echo value > /secrets/name` writes it."""
    d = tmp_path / "secrets"
    d.mkdir(exist_ok=True)
    (d / name).write_text(value + newline)
    return d / name


def env_with(bootstrap=None):
    env = {k: v for k, v in os.environ.items() if k != "SLUICE_BOOTSTRAP_SERVERS"}
    if bootstrap is not None:
        env["SLUICE_BOOTSTRAP_SERVERS"] = bootstrap
    return env


def validate(path, env):
    return subprocess.run([SLUICE, "validate", str(path)], capture_output=True, text=True, timeout=60, env=env)


class Run:
    """`sluice run` of one config file in tmp_path (its default ./sluice-offsets.db lands there)."""

    def __init__(self, tmp_path, path, env):
        self.log = tmp_path / f"{path.stem}.log"
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([SLUICE, "run", str(path)], cwd=tmp_path, env=env, stdout=self.logf,
                                     stderr=subprocess.STDOUT)

    def text(self):
        return self.log.read_text(errors="replace")

    def wait_log(self, what, timeout=60):
        def seen():
            if self.proc.poll() is not None:
                raise AssertionError(f"sluice exited ({self.proc.returncode}):\n{self.text()[-3000:]}")
            return what in self.text()
        try:
            wait_until(seen, timeout, 0.1, repr(what))
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.text()[-3000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.logf.close()
        return self.proc.returncode


def kafka_find(topic, pred, run=None, timeout=60):
    """The records of topic that satisfy pred, once there is one."""
    def found():
        if run and run.proc.poll() is not None:
            raise AssertionError(f"sluice exited ({run.proc.returncode}):\n{run.text()[-3000:]}")
        try:
            recs = kafka_consume_all(topic, timeout=10)
        except Exception:  # the topic does not exist yet
            return None
        return [r for r in recs if pred(r)] or None
    try:
        return wait_until(found, timeout, 0.5, f"the record in {topic}")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{run.text()[-3000:] if run else ''}")


def unwrap(raw):
    """JSON bytes as JsonConverter writes them, with or without {schema, payload}: the payload."""
    v = json.loads(raw)
    return v["payload"] if isinstance(v, dict) and set(v) == {"schema", "payload"} else v


def value_json(rec):
    return unwrap(rec["value"])


ENV_LINE = "bootstrap.servers not set: using {} (from the environment variable SLUICE_BOOTSTRAP_SERVERS)"


def validated(path, env, name):
    """`sluice validate` as pasted: exit 0, and the default bootstrap.servers logged with its reason."""
    r = validate(path, env)
    assert r.returncode == 0, r.stderr
    assert f"ok (connector {name})" in r.stdout
    assert ENV_LINE.format(env["SLUICE_BOOTSTRAP_SERVERS"]) in r.stderr, r.stderr


@pytest.fixture
def pg_cleanup():
    """Names of slots, publications, tables and schemas a test made in PostgreSQL, dropped afterwards."""
    made = {"slots": [], "pubs": [], "tables": [], "schemas": []}
    yield made
    conn = psycopg2.connect(**pg_params())
    conn.autocommit = True
    try:
        for slot in made["slots"]:
            for _ in range(50):
                try:
                    sql(conn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                              "WHERE slot_name = %s", slot)
                    break
                except psycopg2.Error:
                    time.sleep(0.1)
        for pub in made["pubs"]:
            sql(conn, f'DROP PUBLICATION IF EXISTS "{pub}"')
        for t in made["tables"]:
            sql(conn, f"DROP TABLE IF EXISTS {t}")
        for s in made["schemas"]:
            sql(conn, f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
    finally:
        conn.close()


@pytest.fixture
def topics():
    """Topic name prefixes the pasted configs write to: emptied before the test (a name is fixed by the
    pasted config) and deleted after it."""
    prefixes = []

    def use(*names):
        for p in names:
            kafka_delete_topics(p)
            prefixes.append(p)
    yield use
    for p in prefixes:
        kafka_delete_topics(p)


def pg_servers():
    return dict(database_hostname=PG["host"], database_port=PG["port"], database_user=PG["user"],
                database_dbname=PG["db"])


def pg_run(tmp_path, doc, pg, pg_cleanup, slot, pub="dbz_publication", **extra):
    """Localizes, validates and starts a pasted PostgreSQL config; returns (run, doc)."""
    pg_cleanup["slots"].append(slot)
    pg_cleanup["pubs"].append(pub)
    secret(tmp_path, "db-password", PG["password"])
    env = env_with(kafka_bootstrap())
    d, path = localize(doc, tmp_path, **pg_servers(), **extra)
    validated(path, env, doc["name"])
    run = Run(tmp_path, path, env)
    run.wait_log("streaming slot=" + slot)
    return run, d


# ---------------------------------------------------------------------------------------------------------
# (a)-(g)


def test_a_debezium_postgres_tutorial(tmp_path, pg, pg_cleanup, topics):
    topics("dbserver1.")
    pg_cleanup["schemas"].append("inventory")
    sql(pg, "CREATE SCHEMA IF NOT EXISTS inventory")
    sql(pg, "DROP TABLE IF EXISTS inventory.customers")
    sql(pg, "CREATE TABLE inventory.customers (id serial PRIMARY KEY, first_name text, email text)")
    run, _ = pg_run(tmp_path, PG_TUTORIAL, pg, pg_cleanup, "debezium")
    try:
        mark = uuid.uuid4().hex
        sql(pg, "INSERT INTO inventory.customers (first_name, email) VALUES ('Sally', %s)", mark)
        recs = kafka_find("dbserver1.inventory.customers",
                          lambda r: r["value"] and mark.encode() in r["value"], run)
        v = value_json(recs[0])
        assert v["op"] == "c" and v["before"] is None
        assert v["after"]["first_name"] == "Sally" and v["after"]["email"] == mark
        assert v["source"]["connector"] == "postgresql" and v["source"]["name"] == "dbserver1"
        assert json.loads(recs[0]["key"])["payload"] == {"id": v["after"]["id"]}
        log = run.text()
        assert ENV_LINE.format(kafka_bootstrap()) in log
    finally:
        assert run.stop() == 0, run.text()[-3000:]


def test_b_postgres_table_list_slot_publication_unwrap(tmp_path, pg, pg_cleanup, topics):
    topics("pgserver.")
    pg_cleanup["tables"].append("public.customers")
    sql(pg, "DROP TABLE IF EXISTS public.customers")
    sql(pg, "CREATE TABLE public.customers (id int PRIMARY KEY, name text)")
    sql(pg, "DROP TABLE IF EXISTS public.it_pasted_other")
    pg_cleanup["tables"].append("public.it_pasted_other")
    sql(pg, "CREATE TABLE public.it_pasted_other (id int PRIMARY KEY)")
    run, _ = pg_run(tmp_path, PG_UNWRAP, pg, pg_cleanup, "debezium_customers")
    try:
        # publication.autocreate.mode=filtered: the publication holds the listed table only
        pubtables = sql(pg, "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = 'dbz_publication'")
        assert pubtables == [("public", "customers")]
        mark = uuid.uuid4().hex
        sql(pg, "INSERT INTO public.customers VALUES (7, %s)", mark)
        recs = kafka_find("pgserver.public.customers", lambda r: r["value"] and mark.encode() in r["value"], run)
        v = value_json(recs[0])
        # ExtractNewRecordState: the row itself, plus the added fields and __deleted (rewrite)
        assert v["id"] == 7 and v["name"] == mark
        assert v["__op"] == "c" and v["__table"] == "customers" and v["__deleted"] == "false"
        assert isinstance(v["__lsn"], int) and isinstance(v["__source_ts_ms"], int)
    finally:
        assert run.stop() == 0, run.text()[-3000:]


def test_c_postgres_outbox(tmp_path, pg, pg_cleanup, topics):
    topics("order.events", "dbserver1.")
    pg_cleanup["schemas"].append("inventory")
    sql(pg, "CREATE SCHEMA IF NOT EXISTS inventory")
    sql(pg, "DROP TABLE IF EXISTS inventory.outboxevent")
    sql(pg, "CREATE TABLE inventory.outboxevent (id uuid PRIMARY KEY, aggregatetype varchar(255) NOT NULL, "
            "aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, timestamp timestamp NOT NULL, "
            "payload varchar(8000))")
    run, d = pg_run(tmp_path, PG_OUTBOX, pg, pg_cleanup, "debezium")
    # the placeholder of the EventRouter passed through the config loader untouched
    assert d["config"]["transforms.outbox.route.topic.replacement"] == "${routedByValue}.events"
    try:
        mark, eid = uuid.uuid4().hex, str(uuid.uuid4())
        sql(pg, "INSERT INTO inventory.outboxevent VALUES (%s, 'order', '123', 'OrderCreated', now(), %s)",
            eid, json.dumps({"id": 123, "note": mark}))
        recs = kafka_find("order.events", lambda r: r["value"] and mark.encode() in r["value"], run)
        r = recs[0]
        assert unwrap(r["key"]) == "123"
        headers = dict(r["headers"])
        assert headers["id"].decode().strip('"') == eid
        assert headers["eventType"].decode().strip('"') == "OrderCreated"
        assert mark in json.dumps(value_json(r))
        # nothing of the outbox table itself on the connector's own topic
        try:
            assert kafka_consume_all("dbserver1.inventory.outboxevent", timeout=5) == []
        except AssertionError as e:
            assert "UNKNOWN_TOPIC" in str(e) or "Unknown topic" in str(e), e
    finally:
        assert run.stop() == 0, run.text()[-3000:]


def test_d_debezium_mysql_tutorial(tmp_path, topics):
    import pymysql
    topics("dbserver1.")
    p = my_params()
    conn = pymysql.connect(**{**p, "database": None})
    mysql(conn, "CREATE DATABASE IF NOT EXISTS inventory")
    mysql(conn, "DROP TABLE IF EXISTS inventory.customers")
    mysql(conn, "CREATE TABLE inventory.customers (id int AUTO_INCREMENT PRIMARY KEY, first_name varchar(255), "
                "email varchar(255))")
    secret(tmp_path, "db-password", p["password"])
    env = env_with(kafka_bootstrap())
    d, path = localize(MYSQL_TUTORIAL, tmp_path, database_hostname=p["host"], database_port=str(p["port"]),
                       database_user=p["user"],
                       **{"schema.history.internal.kafka.bootstrap.servers": kafka_bootstrap()})
    assert "bootstrap.servers" not in d["config"]
    validated(path, env, "inventory-connector")
    run = Run(tmp_path, path, env)
    try:
        run.wait_log("streaming binlog from")
        mark = uuid.uuid4().hex
        mysql(conn, "INSERT INTO inventory.customers (first_name, email) VALUES ('Anne', %s)", mark)
        recs = kafka_find("dbserver1.inventory.customers", lambda r: r["value"] and mark.encode() in r["value"], run)
        v = value_json(recs[0])
        assert v["op"] == "c" and v["after"]["first_name"] == "Anne" and v["after"]["email"] == mark
        assert v["source"]["name"] == "dbserver1" and v["source"]["db"] == "inventory"
    finally:
        assert run.stop() == 0, run.text()[-3000:]
        mysql(conn, "DROP DATABASE IF EXISTS inventory")
        conn.close()


def mongo_host():
    return f"{os.environ['SLUICE_MONGO_HOST']}:{os.environ['SLUICE_MONGO_PORT']}"


def test_e_mongo_kafka_source(tmp_path, topics):
    from pymongo import MongoClient
    topics("mongo.quickstart.")
    env = env_with(kafka_bootstrap())
    uri = MONGO_SOURCE["config"]["connection.uri"].replace("mongo1:27017", mongo_host())
    d, path = localize(MONGO_SOURCE, tmp_path, connection_uri=uri)
    validated(path, env, "mongo-source")
    client = MongoClient(os.environ["SLUICE_MONGO_URI"], serverSelectionTimeoutMS=10000)
    coll = client["quickstart"]["sampleData"]
    run = Run(tmp_path, path, env)
    try:
        run.wait_log("change stream open")
        mark = uuid.uuid4().hex
        coll.insert_one({"hello": "world", "mark": mark})
        coll.update_one({"mark": mark}, {"$set": {"hello": "again"}})  # filtered out by the pipeline
        recs = kafka_find("mongo.quickstart.sampleData", lambda r: r["value"] and mark.encode() in r["value"], run)
        time.sleep(1)
        recs = kafka_find("mongo.quickstart.sampleData", lambda r: r["value"] and mark.encode() in r["value"], run)
        assert len(recs) == 1, recs
        v = json.loads(recs[0]["value"])
        v = json.loads(v) if isinstance(v, str) else v  # mongo-kafka writes the change event as a JSON string
        assert v["operationType"] == "insert" and v["fullDocument"]["mark"] == mark
        assert v["fullDocument"]["travel"] == "MongoDB Kafka Connector"  # the quick start's $addFields
    finally:
        assert run.stop() == 0, run.text()[-3000:]
        client.drop_database("quickstart")
        client.close()


def test_f_mongo_kafka_sink(tmp_path, topics):
    from pymongo import MongoClient
    topics("Tutorial2.pets")
    env = env_with(kafka_bootstrap())
    d, path = localize(MONGO_SINK, tmp_path, connection_uri=f"mongodb://{mongo_host()}")
    validated(path, env, "mongo-tutorial-sink")
    mark = uuid.uuid4().hex
    kafka_create_topic("Tutorial2.pets")
    kafka_produce("Tutorial2.pets", "pet-1", json.dumps({"name": "Fluffy", "species": "cat", "mark": mark}))
    client = MongoClient(os.environ["SLUICE_MONGO_URI"], serverSelectionTimeoutMS=10000)
    coll = client["Tutorial2"]["pets"]
    run = Run(tmp_path, path, env)
    try:
        def stored():
            if run.proc.poll() is not None:
                raise AssertionError(run.text()[-3000:])
            return coll.find_one({"mark": mark})
        try:
            doc = wait_until(stored, 60, 0.2, "the Kafka record in MongoDB")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{run.text()[-3000:]}")
        assert doc["name"] == "Fluffy" and doc["species"] == "cat"
    finally:
        assert run.stop() == 0, run.text()[-3000:]
        client.drop_database("Tutorial2")
        client.close()


def dbz_order_event(op, id_, quantity=None):
    """A Debezium envelope of inventory.orders as Debezium's MySQL connector writes it with JsonConverter
    (key and value with schemas)."""
    row = {"type": "struct", "optional": True, "name": "dbserver1.inventory.orders.Value", "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "int32", "optional": False, "field": "quantity"},
        {"type": "int32", "optional": False, "name": "io.debezium.time.Date", "version": 1, "field": "order_date"}]}
    source = {"type": "struct", "optional": False, "name": "io.debezium.connector.mysql.Source", "fields": [
        {"type": "string", "optional": False, "field": "connector"}, {"type": "string", "optional": False, "field": "db"},
        {"type": "string", "optional": True, "field": "table"}]}
    value_schema = {"type": "struct", "optional": False, "name": "dbserver1.inventory.orders.Envelope", "version": 2,
                    "fields": [dict(row, field="before"), dict(row, field="after"), dict(source, field="source"),
                               {"type": "string", "optional": False, "field": "op"},
                               {"type": "int64", "optional": True, "field": "ts_ms"}]}
    key = {"schema": {"type": "struct", "optional": False, "name": "dbserver1.inventory.orders.Key",
                      "fields": [{"type": "int32", "optional": False, "field": "id"}]}, "payload": {"id": id_}}
    img = {"id": id_, "quantity": quantity, "order_date": 19782}
    payload = {"before": img if op in ("u", "d") else None, "after": None if op == "d" else img,
               "source": {"connector": "mysql", "db": "inventory", "table": "orders"}, "op": op, "ts_ms": 1}
    return json.dumps(key), json.dumps({"schema": value_schema, "payload": payload})


def test_g_debezium_jdbc_sink(tmp_path, pg, topics):
    topics("orders")
    env = env_with(kafka_bootstrap())
    url = f"jdbc:postgresql://{PG['host']}:{PG['port']}/{PG['db']}"
    d, path = localize(JDBC_SINK, tmp_path, connection_url=url, connection_username=PG["user"])
    # the secret file is missing: the reference is resolved, and its error names the key and the path
    r = validate(path, env)
    assert r.returncode == 2
    assert "connection.password" in r.stderr and f"{tmp_path}/secrets/db-password" in r.stderr, r.stderr
    secret(tmp_path, "db-password", PG["password"])
    validated(path, env, "jdbc-connector")
    sql(pg, "DROP TABLE IF EXISTS public.orders")
    kafka_create_topic("orders")
    for op, id_, q in (("c", 1, 5), ("u", 1, 7), ("c", 2, 1), ("d", 2, 1)):
        k, v = dbz_order_event(op, id_, q)
        kafka_produce("orders", k, v)
    kafka_produce("orders", dbz_order_event("d", 2)[0], None)  # the delete's tombstone
    run = Run(tmp_path, path, env)
    try:
        def written():
            if run.proc.poll() is not None:
                raise AssertionError(run.text()[-3000:])
            try:
                return sql(pg, "SELECT id, quantity, order_date FROM public.orders ORDER BY id")
            except psycopg2.errors.UndefinedTable:
                return None
        rows = wait_until(written, 60, 0.2, "the orders table")
        # ${topic} names the table; upsert by the record key; the delete removed row 2 (created by schema.evolution)
        assert rows == [(1, 7, datetime.date(2024, 2, 29))], rows
    finally:
        assert run.stop() == 0, run.text()[-3000:]
        sql(pg, "DROP TABLE IF EXISTS public.orders")


# ---------------------------------------------------------------------------------------------------------
# bootstrap.servers defaults, secrets in logs, the REST path


def test_no_bootstrap_anywhere_uses_kafkas_default(tmp_path):
    secret(tmp_path, "db-password", PG["password"])
    _, path = localize(PG_TUTORIAL, tmp_path, **pg_servers())
    r = validate(path, env_with(None))
    assert r.returncode == 0, r.stderr
    assert "bootstrap.servers not set: using localhost:9092 (Kafka's default)" in r.stderr
    # the environment variable wins over Kafka's default
    r = validate(path, env_with("broker-a:9092,broker-b:9092"))
    assert r.returncode == 0, r.stderr
    assert ENV_LINE.format("broker-a:9092,broker-b:9092") in r.stderr and "localhost:9092" not in r.stderr
    # a config's own bootstrap.servers wins over both, and nothing is logged about it
    doc = json.loads(path.read_text())
    doc["config"]["bootstrap.servers"] = "own:9092"
    path.write_text(json.dumps(doc))
    r = validate(path, env_with("broker-a:9092"))
    assert r.returncode == 0, r.stderr
    assert "bootstrap.servers not set" not in r.stderr
    # a connector that needs no Kafka logs nothing
    doc["config"].pop("bootstrap.servers")
    doc["config"].update({"sink.type": "stdout"})
    path.write_text(json.dumps(doc))
    r = validate(path, env_with(None))
    assert r.returncode == 0 and "bootstrap.servers not set" not in r.stderr, r.stderr


def test_env_bootstrap_is_used_and_logged_by_run(tmp_path, pg, pg_cleanup, topics):
    """SLUICE_BOOTSTRAP_SERVERS naming a closed port: the run says it uses it, and its producer tries it."""
    pg_cleanup["schemas"].append("inventory")
    pg_cleanup["slots"].append("debezium")
    pg_cleanup["pubs"].append("dbz_publication")
    sql(pg, "CREATE SCHEMA IF NOT EXISTS inventory")
    sql(pg, "CREATE TABLE IF NOT EXISTS inventory.customers (id serial PRIMARY KEY, first_name text, email text)")
    secret(tmp_path, "db-password", PG["password"])
    _, path = localize(PG_TUTORIAL, tmp_path, **pg_servers())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = Run(tmp_path, path, env_with(f"127.0.0.1:{port}"))
    try:
        run.wait_log(ENV_LINE.format(f"127.0.0.1:{port}"))
        run.wait_log(f"127.0.0.1:{port}/bootstrap: Connect to")
        assert "localhost:9092" not in run.text()
    finally:
        run.stop()


def test_resolved_password_is_redacted(tmp_path, pg_cleanup):
    """A password read from a file (CRLF-terminated here) is a secret like one written in the config:
    the error that quotes it shows stars."""
    pw = "pasted-" + uuid.uuid4().hex
    secret(tmp_path, "db-password", pw, newline="\r\n")
    _, path = localize(PG_TUTORIAL, tmp_path, **pg_servers())
    doc = json.loads(path.read_text())
    # the same secret in a key that is not secret by itself, whose bad value an error quotes
    doc["config"]["slot.name"] = "${file:/secrets/db-password}".replace("/secrets/", f"{tmp_path}/secrets/")
    path.write_text(json.dumps(doc))
    run = Run(tmp_path, path, env_with(kafka_bootstrap()))
    run.proc.wait(60)
    run.stop()
    log = run.text()
    assert run.proc.returncode != 0
    assert "slot.name: '********' may contain only" in log, log
    assert pw not in log and pw[:12] not in log, log


def test_serve_uses_the_workers_bootstrap_and_resolves_file_refs(tmp_path, pg, pg_cleanup, topics):
    from test_rest import Serve
    topics("dbserver1.")
    pg_cleanup["schemas"].append("inventory")
    pg_cleanup["slots"].append("debezium")
    pg_cleanup["pubs"].append("dbz_publication")
    sql(pg, "CREATE SCHEMA IF NOT EXISTS inventory")
    sql(pg, "DROP TABLE IF EXISTS inventory.customers")
    sql(pg, "CREATE TABLE inventory.customers (id serial PRIMARY KEY, first_name text, email text)")
    secret(tmp_path, "db-password", PG["password"])
    doc, _ = localize(PG_TUTORIAL, tmp_path, **pg_servers())
    s = Serve(tmp_path, **{"bootstrap.servers": kafka_bootstrap()})
    s.start()
    try:
        # a missing secret: 400 naming the key and the path, nothing stored
        bad = dict(doc["config"], **{"database.password": f"${{file:{tmp_path}/secrets/nope}}"})
        st, body, _ = s.req("PUT", "/connectors/inventory-connector/config", bad)
        assert st == 400, body
        assert "database.password" in body["message"] and f"{tmp_path}/secrets/nope" in body["message"], body
        assert s.ok("GET", "/connectors") == []
        s.ok("PUT", "/connectors/inventory-connector/config", doc["config"], want=201)
        s.wait_state("inventory-connector", "RUNNING")
        s.wait_log(f"bootstrap.servers not set: using {kafka_bootstrap()} (the worker's bootstrap.servers)")
        s.wait_log("streaming slot=debezium")
        mark = uuid.uuid4().hex
        sql(pg, "INSERT INTO inventory.customers (first_name, email) VALUES ('Rest', %s)", mark)
        recs = kafka_find("dbserver1.inventory.customers", lambda r: r["value"] and mark.encode() in r["value"])
        assert value_json(recs[0])["after"]["first_name"] == "Rest"
        shown = s.ok("GET", "/connectors/inventory-connector/config")
        assert shown["database.password"] in ("[hidden]", doc["config"]["database.password"]), shown
    finally:
        assert s.stop() == 0, s.log_text()[-3000:]


def test_tutorial_schema_without_tables_is_a_clear_error(tmp_path, pg, pg_cleanup):
    """schema.include.list naming a schema that holds no table yet: an error naming the key (it was a crash)."""
    pg_cleanup["schemas"].append("inventory")
    pg_cleanup["slots"].append("debezium")
    pg_cleanup["pubs"].append("dbz_publication")
    sql(pg, "DROP SCHEMA IF EXISTS inventory CASCADE")
    sql(pg, "CREATE SCHEMA inventory")
    secret(tmp_path, "db-password", PG["password"])
    _, path = localize(PG_TUTORIAL, tmp_path, **pg_servers())
    run = Run(tmp_path, path, env_with(kafka_bootstrap()))
    try:
        rc = run.proc.wait(60)
    finally:
        run.stop()
    assert rc == 1, (rc, run.text()[-3000:])
    assert "schema.include.list: 'inventory' holds no table in database" in run.text(), run.text()[-3000:]
