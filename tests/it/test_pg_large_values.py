"""One very large value at a time (a 50 MB text, a 20 MB bytea) through the snapshot (COPY) and the
stream (pgoutput) into the file sink: every event arrives intact (length and SHA-256 of the decoded value),
and sluice's peak resident memory (VmHWM) stays within its documented bound — what it used before
the value, plus twice the largest value's text form, plus the queue's byte bound
(max.queue.size.in.bytes, set small here) and a little slack for the allocator.

The baseline is the VmHWM of a sluice that has already started, streamed and written a small
event: for the stream, the same process just before the big values; for the snapshot, a run of the
same configuration against an empty table (the snapshot reads the big rows as it starts). Every
number is printed (pytest -s) for the record.
"""
import base64
import hashlib
import json
import os
import time

from conftest import log_text, new_output, sql, start_run, wait_streaming

MB = 1 << 20
TEXT_SIZE = 50 * MB
BYTEA_SIZE = 20 * MB
QUEUE_BYTES = 1 * MB
SLACK = 8 * MB  # allocator rounding, thread stacks touched deeper, libpq's own buffer rounding


def big_text(n):
    """n bytes of ASCII text with the characters JSON escapes (quote, backslash, newline) now and then."""
    unit = base64.b64encode(os.urandom(3 * 1024)).decode() + '"\\\n'
    return (unit * (n // len(unit) + 1))[:n]


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def wait_lines(s, n, timeout=120):
    """Waits until the sink file holds n whole lines, counting newlines as the file grows (parsing a
    100 MB file over and over would be the slow part); returns the lines."""
    seen, count, deadline = 0, 0, time.time() + timeout
    while time.time() < deadline:
        if s.out.exists():
            with open(s.out, "rb") as f:
                f.seek(seen)
                chunk = f.read()
            count += chunk.count(b"\n")
            seen += len(chunk)
            if count >= n:
                return s.out.read_bytes().splitlines()
        assert s.proc.poll() is None, log_text(s)[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"{count} lines in {s.out}, wanted {n}:\n{log_text(s)[-3000:]}")


def after(line):
    return json.loads(line)["value"]["payload"]["after"]


def check_events(lines, text, blob):
    """The big text (row 2) and the big bytea (row 3) each arrive whole in their events."""
    rows = {r["id"]: r for r in map(after, lines)}
    assert sorted(rows) == [1, 2, 3]
    t = rows[2]["t"]
    assert len(t) == len(text) and hashlib.sha256(t.encode()).digest() == hashlib.sha256(text.encode()).digest()
    b = base64.b64decode(rows[3]["b"])
    assert len(b) == len(blob) and hashlib.sha256(b).digest() == hashlib.sha256(blob).digest()


def bound(baseline):
    """The documented peak: baseline + 2 x the largest value's text form + the queue bound."""
    largest = max(TEXT_SIZE, 2 * BYTEA_SIZE + 2)  # bytea travels as hex text: \x + 2 digits a byte
    return baseline + 2 * largest + QUEUE_BYTES + SLACK


def config(table, **extra):
    return dict(table_include_list=f"public.{table}", max_queue_size_in_bytes=str(QUEUE_BYTES), **extra)


def report(what, baseline, peak):
    print(f"\n{what}: baseline VmHWM {baseline / MB:.1f} MiB, peak VmHWM {peak / MB:.1f} MiB, "
          f"peak - baseline {(peak - baseline) / MB:.1f} MiB = {(peak - baseline) / TEXT_SIZE:.2f} x the "
          f"{TEXT_SIZE // MB} MB value; bound {bound(baseline) / MB:.1f} MiB")


def test_large_values_streamed(pg, tables, sluice):
    table = tables("it_big_stream", "id int PRIMARY KEY, t text, b bytea")
    text, blob = big_text(TEXT_SIZE), os.urandom(BYTEA_SIZE)
    s = start_run(sluice(**config(table, snapshot_mode="no_data")))
    wait_streaming(s)
    sql(pg, f"INSERT INTO {table} VALUES (1, 'small', '\\x00')")
    wait_lines(s, 1)
    baseline = vm_hwm(s.proc.pid)
    sql(pg, f"INSERT INTO {table} (id, t) VALUES (2, %s)", text)
    wait_lines(s, 2)
    sql(pg, f"INSERT INTO {table} (id, b) VALUES (3, %s)", blob)
    lines = wait_lines(s, 3)
    peak = vm_hwm(s.proc.pid)
    assert s.stop() == 0, log_text(s)[-3000:]
    check_events(lines, text, blob)
    report("stream", baseline, peak)
    assert peak <= bound(baseline)


def test_large_values_snapshot(pg, tables, sluice):
    empty = tables("it_big_snap_empty", "id int PRIMARY KEY, t text, b bytea", "INSERT INTO it_big_snap_empty "
                   "VALUES (1, 'small', '\\x00')")
    table = tables("it_big_snap", "id int PRIMARY KEY, t text, b bytea")
    # The baseline: the same configuration on a table without big values, after its snapshot.
    s = start_run(sluice(**config(empty)))
    wait_streaming(s)
    wait_lines(s, 1)
    baseline = vm_hwm(s.proc.pid)
    assert s.stop() == 0, log_text(s)[-3000:]
    text, blob = big_text(TEXT_SIZE), os.urandom(BYTEA_SIZE)
    sql(pg, f"INSERT INTO {table} VALUES (1, 'small', '\\x00')")
    sql(pg, f"INSERT INTO {table} (id, t) VALUES (2, %s)", text)
    s = start_run(new_output(sluice(**config(table))))  # the fixture's runs share one directory
    wait_streaming(s, timeout=120)
    wait_lines(s, 2)
    # Not in the snapshot: read right behind the big text it would be a second large value in memory
    # at once (the snapshot reads one row ahead to mark each table's last row; see ARCHITECTURE.md).
    sql(pg, f"INSERT INTO {table} (id, b) VALUES (3, %s)", blob)
    lines = wait_lines(s, 3)
    peak = vm_hwm(s.proc.pid)
    assert s.stop() == 0, log_text(s)[-3000:]
    check_events(lines, text, blob)
    report("snapshot", baseline, peak)
    assert peak <= bound(baseline)



def test_large_value_to_kafka(pg, kafka, tables, sluice):
    """The Kafka sink hands a value's buffer from 64 KiB on to librdkafka instead of copying it (its
    delivery report frees it): values on both sides of that size arrive intact, in order."""
    from conftest import kafka_bootstrap, kafka_consume_all
    table = tables("it_big_kafka", "id int PRIMARY KEY, t text")
    topic = kafka.create_topic(f"{kafka.prefix}pg.public.{table}", config={"max.message.bytes": str(4 * MB)})
    texts = {1: "small", 2: big_text(300_000), 3: big_text(1_500_000), 4: "small again"}
    s = sluice(**config(table, snapshot_mode="no_data", topic_prefix=kafka.prefix + "pg"))
    s.config.pop("sink.file.path")
    s.config.update({"sink.type": "kafka", "bootstrap.servers": kafka_bootstrap(),
                     "producer.override.message.max.bytes": str(4 * MB)})
    start_run(s)
    wait_streaming(s)
    for i, t in texts.items():
        sql(pg, f"INSERT INTO {table} VALUES (%s, %s)", i, t)
    deadline = time.time() + 60
    while True:
        recs = kafka_consume_all(topic, timeout=30)
        if len(recs) >= len(texts) or time.time() > deadline:
            break
        assert s.proc.poll() is None, log_text(s)[-3000:]
        time.sleep(0.5)
    assert s.stop() == 0, log_text(s)[-3000:]
    got = [json.loads(r["value"])["payload"]["after"] for r in recs]
    assert [(a["id"], len(a["t"])) for a in got] == [(i, len(t)) for i, t in texts.items()]
    assert all(a["t"] == texts[a["id"]] for a in got)


def test_50mb_value_to_kafka_with_message_max_bytes_raised(pg, kafka, tables, sluice):
    """Only message.max.bytes raised (topic and producer): the producer's buffer grows with it, so a 50 MB
    value is produced (it was refused as "queue full" for ever, since it could never fit in the 16 MiB
    default buffer). It arrives intact; peak memory stays within baseline + 3x the value (libpq's copy,
    the record handed to librdkafka, its compressed copy) + slack."""
    from confluent_kafka import Consumer, TopicPartition
    from conftest import kafka_bootstrap
    table = tables("it_big_kafka50", "id int PRIMARY KEY, t text")
    topic = kafka.create_topic(f"{kafka.prefix}pg.public.{table}", config={"max.message.bytes": str(64 * MB)})
    s = sluice(**config(table, snapshot_mode="no_data", topic_prefix=kafka.prefix + "pg"))
    s.config.pop("sink.file.path")
    s.config.update({"sink.type": "kafka", "bootstrap.servers": kafka_bootstrap(),
                     "producer.override.message.max.bytes": str(64 * MB)})
    start_run(s)
    wait_streaming(s)
    base = vm_hwm(s.proc.pid)
    text = big_text(TEXT_SIZE)
    sql(pg, f"INSERT INTO {table} VALUES (1, %s)", text)
    c = Consumer({"bootstrap.servers": kafka_bootstrap(), "group.id": f"big-{time.time()}",
                  "fetch.max.bytes": 200 * MB, "max.partition.fetch.bytes": 200 * MB,
                  "receive.message.max.bytes": 300 * MB})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline, m = time.time() + 60, None
        while time.time() < deadline and (m is None or m.error()):
            assert s.proc.poll() is None, log_text(s)[-3000:]
            m = c.poll(1)
    finally:
        c.close()
    assert m is not None and not m.error(), log_text(s)[-3000:]
    after = json.loads(m.value())["payload"]["after"]
    assert after["id"] == 1 and hashlib.sha256(after["t"].encode()).digest() == hashlib.sha256(text.encode()).digest()
    peak = vm_hwm(s.proc.pid)
    print(f"\nkafka 50 MB: baseline {base / MB:.1f} MiB, peak {peak / MB:.1f} MiB "
          f"(+{(peak - base) / MB:.1f} MiB, {(peak - base) / TEXT_SIZE:.2f}x the value)")
    assert peak <= base + 3 * TEXT_SIZE + 2 * QUEUE_BYTES + SLACK
    assert s.stop() == 0


def test_a_record_larger_than_the_producer_buffer_fails_naming_it(pg, kafka, tables, sluice):
    """A record that can never fit in the producer's buffer (buffer.memory set below it) stops the connector
    with an error naming the size and the key to raise, instead of waiting for room for ever."""
    from conftest import kafka_bootstrap
    table = tables("it_big_kafka_buf", "id int PRIMARY KEY, t text")
    kafka.create_topic(f"{kafka.prefix}pg.public.{table}", config={"max.message.bytes": str(8 * MB)})
    s = sluice(**config(table, snapshot_mode="no_data", topic_prefix=kafka.prefix + "pg"))
    s.config.pop("sink.file.path")
    s.config.update({"sink.type": "kafka", "bootstrap.servers": kafka_bootstrap(),
                     "producer.override.message.max.bytes": str(8 * MB),
                     "producer.override.buffer.memory": str(1 * MB)})
    start_run(s)
    wait_streaming(s)
    sql(pg, f"INSERT INTO {table} VALUES (1, %s)", big_text(3 * MB))
    s.proc.wait(30)
    assert s.proc.returncode == 1
    log = log_text(s)
    assert "does not fit in the producer's buffer" in log and "producer.override.buffer.memory" in log, log[-2000:]
    s.stop()
