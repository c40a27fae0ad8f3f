"""Kafka clients over SASL and TLS: the test broker's SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256,
SCRAM-SHA-512; user $SLUICE_KAFKA_SASL_USER) and SSL listener (certificate signed by the throwaway CA
$SLUICE_KAFKA_CA), both made by `scripts/services.sh start kafka`.

- PG -> Kafka (sink.type=kafka) through SASL_PLAINTEXT with PLAIN (credentials in sasl.jaas.config, Kafka
  Connect's Java form), SCRAM-SHA-256 and SCRAM-SHA-512 (sasl.username / sasl.password), and through SSL
  with ssl.ca.location = the CA (host name verified): the snapshot row and streamed changes arrive (read
  back over PLAINTEXT), a clean stop stores the offset, and the password is nowhere in the debug log;
- Kafka source through SASL (SCRAM-SHA-512) into the file sink: every record arrives, the group commits;
- refused: a wrong password (PLAIN and SCRAM) makes sluice fail with the broker's authentication error in
  its log and no stored offset; SSL without the CA fails with a certificate verification error. These runs
  are started at module setup and run beside the other tests; the last tests of the module only collect
  their outcome;
- fail fast: with a wrong password each Kafka client's start-up wait (the exactly-once producer's
  init_transactions, the at-least-once sink's probe, the Kafka offset store, the Kafka source's probe) ends
  within seconds, far inside its timeout, with an error naming the mechanism, the user and the listener
  and not the password, before a PostgreSQL source has created its slot.
"""
import json
import os
import subprocess
import time
import uuid

import psycopg2
import pytest

from conftest import (Sluice, kafka_bootstrap, kafka_consume_all, kafka_create_topic, kafka_delete_topics,
                      kafka_produce, log_text, pg_params, run_cli, slot_row, sql, start_run, wait_streaming,
                      wait_until)

JAAS_PLAIN = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="{u}" password="{p}";'
WRONG_PASSWORD = "not-" + uuid.uuid4().hex[:10]


def sec():
    """The broker's SASL/SSL endpoints and credentials from .run/env."""
    names = ["SLUICE_KAFKA_SASL_BOOTSTRAP", "SLUICE_KAFKA_SSL_BOOTSTRAP", "SLUICE_KAFKA_CA",
             "SLUICE_KAFKA_SASL_USER", "SLUICE_KAFKA_SASL_PASSWORD"]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set: the broker has no SASL/SSL listeners; restart it with "
                    "scripts/services.sh stop kafka; scripts/services.sh start kafka")
    kafka_bootstrap()
    e = {n: os.environ[n] for n in names}
    return dict(sasl=e["SLUICE_KAFKA_SASL_BOOTSTRAP"], ssl=e["SLUICE_KAFKA_SSL_BOOTSTRAP"], ca=e["SLUICE_KAFKA_CA"],
                user=e["SLUICE_KAFKA_SASL_USER"], password=e["SLUICE_KAFKA_SASL_PASSWORD"])


def client_config(case, password=None):
    """Connection keys of a sluice Kafka client for case; password replaces the right one."""
    e = sec()
    pw = password or e["password"]
    if case == "plain_jaas":
        return {"bootstrap.servers": e["sasl"], "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": JAAS_PLAIN.format(u=e["user"], p=pw)}
    if case in ("scram_sha_256", "scram_sha_512"):
        return {"bootstrap.servers": e["sasl"], "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": case.replace("scram_sha_", "SCRAM-SHA-"), "sasl.username": e["user"],
                "sasl.password": pw}
    if case == "ssl":
        return {"bootstrap.servers": e["ssl"], "security.protocol": "SSL", "ssl.ca.location": e["ca"]}
    if case == "ssl_no_ca":
        return {"bootstrap.servers": e["ssl"], "security.protocol": "SSL"}
    raise ValueError(case)


def pg_kafka(tmp_dir, pg, prefix, table, case, password=None):
    """A PG -> Kafka connector of table through the listener of case, debug log, no file sink."""
    s = Sluice(tmp_dir, pg, **{"sink.type": "kafka", "topic.prefix": prefix + "pg", "log.level": "debug",
                               "table.include.list": f"public.{table}",
                               "retriable.restart.connector.wait.ms": "300"})
    s.config.pop("sink.file.path")
    s.config.update(client_config(case, password))
    # librdkafka's own debug output too (connection, SASL/TLS handshake, configuration dump).
    s.config["producer.override.debug"] = "broker,security,conf"
    s.write_config()
    return s


def topic_records(topic):
    """Every record of topic read over PLAINTEXT, or [] while it does not exist."""
    from conftest import _kafka_admin
    if topic not in _kafka_admin().list_topics(timeout=30).topics:
        return []
    return kafka_consume_all(topic, isolation="read_uncommitted")


def offsets_listed(s):
    r = run_cli("offsets", "list", str(s.cfg_path))
    assert r.returncode == 0, r.stdout + r.stderr
    return [l for l in r.stdout.splitlines() if l.strip()]


def assert_secret_absent(s, *secrets):
    text = log_text(s)
    for secret in secrets:
        assert secret not in text, f"{secret!r} appears in sluice's log"


# ---------------------------------------------------------------------------------------------------------
# refused connections: started at module setup, checked by the last tests of the module

BAD_CASES = {
    # case: (client case, password, text the log must contain)
    "wrong_password_plain": ("plain_jaas", WRONG_PASSWORD, "Authentication failed"),
    "wrong_password_scram": ("scram_sha_512", WRONG_PASSWORD, "Authentication failed"),
    "ssl_without_ca": ("ssl_no_ca", None, "certificate verify failed"),
}


@pytest.fixture(scope="module", autouse=True)
def refused_runs(tmp_path_factory):
    """One PG -> Kafka sluice per BAD_CASES entry, started now, each with a row to write."""
    sec()
    conn = psycopg2.connect(**pg_params())
    conn.autocommit = True
    prefix = "it-" + uuid.uuid4().hex[:8] + "-"
    table = "it_ksec_refused"
    sql(conn, f'DROP TABLE IF EXISTS "{table}"')
    sql(conn, f'CREATE TABLE "{table}" (id int PRIMARY KEY, v text)')
    sql(conn, f"INSERT INTO \"{table}\" VALUES (1, 'never delivered')")
    runs = {}
    try:
        for name, (case, password, _) in BAD_CASES.items():
            s = pg_kafka(tmp_path_factory.mktemp(name), conn, prefix + name + "-", table, case, password)
            s.started_at = time.time()
            runs[name] = start_run(s)
        yield runs
    finally:
        for s in runs.values():
            s.kill9()  # normally long gone; when only other tests ran, SIGTERM would wait out the 30 s
            s.cleanup()
        sql(conn, f'DROP TABLE IF EXISTS "{table}"')
        conn.close()
        kafka_delete_topics(prefix)


# ---------------------------------------------------------------------------------------------------------
# PG -> Kafka through each listener


@pytest.mark.parametrize("case", ["plain_jaas", "scram_sha_256", "scram_sha_512", "ssl"])
def test_pg_to_kafka(pg, kafka, tables, tmp_path, case):
    e = sec()
    table = tables(f"it_ksec_{case}", "id int PRIMARY KEY, v text", f"INSERT INTO it_ksec_{case} VALUES (1, 'snap')")
    s = pg_kafka(tmp_path, pg, kafka.prefix, table, case)
    try:
        if case == "plain_jaas":  # the JAAS line (and its password) in validate's output neither
            r = run_cli("validate", str(s.cfg_path))
            assert r.returncode == 0, r.stdout + r.stderr
            assert e["password"] not in r.stdout + r.stderr
        start_run(s)
        wait_streaming(s)
        sql(pg, f"INSERT INTO {table} VALUES (2, 'two')")
        sql(pg, f"UPDATE {table} SET v = 'uno' WHERE id = 1")
        sql(pg, f"DELETE FROM {table} WHERE id = 2")
        topic = f"{kafka.prefix}pg.public.{table}"
        recs = wait_until(lambda: (r := topic_records(topic)) and len(r) >= 5 and r, timeout=30,
                          interval=0.2, what=f"5 records in {topic}")
        assert s.proc.poll() is None, log_text(s)[-3000:]
        assert s.stop() == 0, log_text(s)[-3000:]
        assert offsets_listed(s), "no offset stored after a clean stop"
    finally:
        s.cleanup()
    values = [None if r["value"] is None else json.loads(r["value"])["payload"] for r in recs]
    assert [v and v["op"] for v in values] == ["r", "c", "u", "d", None]
    assert [v["after"] for v in values[:3]] == [{"id": 1, "v": "snap"}, {"id": 2, "v": "two"},
                                                {"id": 1, "v": "uno"}]
    assert [json.loads(r["key"])["payload"] for r in recs] == [{"id": 1}, {"id": 2}, {"id": 1}, {"id": 2},
                                                              {"id": 2}]
    text = log_text(s)
    assert " DEBUG " in text  # the debug log was on
    assert_secret_absent(s, e["password"], JAAS_PLAIN.format(u=e["user"], p=e["password"]))


# ---------------------------------------------------------------------------------------------------------
# Kafka source through SASL into the file sink


def test_kafka_source_through_scram(pg, kafka, tmp_path):
    e = sec()
    topic = kafka_create_topic(kafka.topic("src"), partitions=2)
    produced = [(f'{{"k": {i}}}', json.dumps({"n": i, "s": "x" * i})) for i in range(6)]
    for k, v in produced:
        kafka_produce(topic, k, v, partition=len(v) % 2)
    s = Sluice(tmp_path, pg)
    s.config = {"connector.class": "kafka", "topics": topic, "sink.type": "file", "sink.file.path": str(s.out),
                "offset.storage.file.filename": str(tmp_path / "offsets.db"), "offset.flush.interval.ms": "100",
                "poll.interval.ms": "100", "log.level": "debug", "key.converter.schemas.enable": "false",
                "value.converter.schemas.enable": "false", **client_config("scram_sha_512")}
    s.name = "ks-" + uuid.uuid4().hex[:8]
    s.write_config()
    try:
        start_run(s)
        ev = s.wait_events(len(produced), timeout=30)
        assert s.stop() == 0, log_text(s)[-3000:]
    finally:
        s.stop()
    assert sorted((json.dumps(x["key"]), json.dumps(x["value"])) for x in ev) == \
        sorted((json.dumps(json.loads(k)), json.dumps(json.loads(v))) for k, v in produced)
    assert all(x["topic"] == topic for x in ev)
    # The group committed everything (read over PLAINTEXT).
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": kafka_bootstrap(), "group.id": "connect-" + s.name,
                  "enable.auto.commit": False})
    try:
        got = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=30)}
    finally:
        c.close()
    want = {p: sum(1 for _, v in produced if len(v) % 2 == p) for p in (0, 1)}
    assert got == want
    assert_secret_absent(s, e["password"])


# ---------------------------------------------------------------------------------------------------------
# refused connections (see refused_runs)


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_refused(refused_runs, name):
    s = refused_runs[name]
    _, password, expected = BAD_CASES[name]
    try:
        rc = s.proc.wait(max(1, 75 - (time.time() - s.started_at)))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: sluice still running after 75 s:\n{log_text(s)[-3000:]}")
    text = log_text(s)
    assert rc != 0, text[-3000:]
    assert expected in text, text[-3000:]
    assert " ERROR " in text and "failed" in text, text[-3000:]
    assert not offsets_listed(s), "an offset was stored although nothing reached Kafka"
    if password:
        assert_secret_absent(s, password)


# ---------------------------------------------------------------------------------------------------------
# a wrong password fails fast in every Kafka client's start-up wait, whatever the client waits for

FAST_FAIL_S = 15  # every start-up wait below is 30 s (metadata) or 60 s (init_transactions, store load) or more


def fast_fail_config(tmp_path, pg, prefix, table, kind, password):
    """A connector whose Kafka client of kind (eos / sink / offset_store / source) uses a wrong password."""
    if kind == "source":
        s = Sluice(tmp_path, pg)
        s.config = {"connector.class": "kafka", "topics": prefix + "src", "sink.type": "file",
                    "sink.file.path": str(s.out), "offset.storage.file.filename": str(tmp_path / "offsets.db"),
                    "poll.interval.ms": "100", "log.level": "debug"}
        s.config.update(client_config("scram_sha_512", password))
        s.name = "ks-" + uuid.uuid4().hex[:8]
        s.write_config()
        return s
    if kind == "offset_store":  # file sink, offsets in Kafka
        s = Sluice(tmp_path, pg, **{"topic.prefix": prefix + "pg", "table.include.list": f"public.{table}",
                                    "log.level": "debug"})
        s.config.update({"offset.storage": "kafka", "offset.storage.topic": prefix + "offsets"})
        s.config.update(client_config("scram_sha_512", password))
        s.write_config()
        return s
    s = pg_kafka(tmp_path, pg, prefix, table, "scram_sha_512", password)
    if kind == "eos":
        # The transaction timeout (and so librdkafka's wait in init_transactions) far beyond FAST_FAIL_S.
        s.config.update({"exactly.once.support": "required", "offset.storage.topic": prefix + "offsets",
                         "producer.override.transaction.timeout.ms": "600000"})
        s.write_config()
    return s


@pytest.mark.parametrize("kind", ["eos", "sink", "offset_store", "source"])
def test_wrong_password_fails_fast(pg, kafka, tables, tmp_path, kind):
    e = sec()
    table = tables(f"it_ksec_ff_{kind}", "id int PRIMARY KEY, v text", f"INSERT INTO it_ksec_ff_{kind} VALUES (1, 'x')")
    s = fast_fail_config(tmp_path, pg, kafka.prefix, table, kind, WRONG_PASSWORD)
    try:
        t0 = time.time()
        start_run(s)
        try:
            rc = s.proc.wait(FAST_FAIL_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{kind}: sluice still running after {FAST_FAIL_S} s:\n{log_text(s)[-3000:]}")
        elapsed = time.time() - t0
        text = log_text(s)
        # A sink or store that cannot connect stops the start before the source touches its database.
        slot = slot_row(pg, s.slot) if kind != "source" else None
    finally:
        s.kill9()
        s.cleanup()
    assert rc != 0, text[-3000:]
    assert elapsed < FAST_FAIL_S
    errors = [l for l in text.splitlines() if " ERROR " in l]
    assert errors, text[-3000:]
    # The error names what failed, the mechanism, the user and the listener; never the password.
    last = errors[-1]
    assert "authentication" in last.lower(), last
    assert "SCRAM-SHA-512" in last and f"user {e['user']}" in last and e["sasl"] in last, last
    assert_secret_absent(s, WRONG_PASSWORD)
    assert "failed to start" in last, last
    assert slot is None, f"slot {s.slot} created although the Kafka client could not connect"
