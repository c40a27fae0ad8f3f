#!/usr/bin/env python3
"""bench-transforms: the cost of the transform stage, side by side in one run.

The bench-pg workload (bench_pg.py: an orders table, BENCH_INSERTS inserts + BENCH_UPDATES updates,
default 200,000 + 100,000 here) is drained by sluice -> file four times from slots holding the same
WAL, schemas off in each case:
  1. no transforms (the encoders write straight from the decoded rows: the limit),
  2. unwrap (ExtractNewRecordState, delete.handling.mode=rewrite, add.fields=op,source.ts_ms),
  3. a seed-style chain: unwrap + InsertField$Value (static field) + RegexRouter,
  4. filter (expression language: status == 'shipped' or total > 500), which drops part of the stream.
Prints events/s of each and its ratio to (1), sluice's peak RSS and CPU µs per event.
"""
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BENCH_INSERTS", "200000")
os.environ.setdefault("BENCH_UPDATES", "100000")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pg as b  # noqa: E402

import psycopg2  # noqa: E402

SLOTS = ("bench_xf_1", "bench_xf_2", "bench_xf_3", "bench_xf_4")
BARE = {"key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
        "decimal.handling.mode": "double"}
UNWRAP = {"transforms": "unwrap", "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
          "transforms.unwrap.delete.handling.mode": "rewrite", "transforms.unwrap.add.fields": "op,source.ts_ms"}
CHAIN = {"transforms": "unwrap,insert,route",
         "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
         "transforms.unwrap.delete.handling.mode": "rewrite", "transforms.unwrap.add.fields": "op,source.ts_ms",
         "transforms.insert.type": "org.apache.kafka.connect.transforms.InsertField$Value",
         "transforms.insert.static.field": "origin", "transforms.insert.static.value": "bench",
         "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
         "transforms.route.regex": "bench\\.public\\.(.*)", "transforms.route.replacement": "orders.$1"}
FILTER = {"transforms": "f", "transforms.f.type": "filter",
          "transforms.f.condition": "after.status == 'shipped' or after.total > 500"}


def main():
    b.SLOTS = SLOTS
    conn = psycopg2.connect(**b.pg_params())
    conn.autocommit = True
    b.setup(conn)
    b.workload(conn)
    events = b.INSERTS + b.UPDATES
    runs = [("no transforms", {}, events), ("unwrap", UNWRAP, events), ("unwrap+InsertField+RegexRouter", CHAIN, events),
            ("filter (expression)", FILTER, None)]
    results = []
    for slot, (label, extra, expected) in zip(SLOTS, runs):
        with tempfile.TemporaryDirectory(dir=b.ROOT / ".run") as d:
            b.settle()
            if expected is None:  # the filter keeps fewer lines: wait for the count it must keep
                expected = filtered_count(conn)
            t, rss, cpu, size = b.run_sluice(Path(d), expected, slot, {**BARE, **extra})
        results.append((label, t, rss, cpu, size, expected))
    b.drop_slots(conn)
    b.q(conn, "DROP TABLE bench_orders; DROP PUBLICATION bench_pub")
    base = events / results[0][1]
    print()
    for label, t, rss, cpu, size, n in results:
        rate = events / t  # source events consumed per second, whatever the chain kept
        print(f"{label:34s} {events} events in {t:6.2f}s = {rate:10,.0f} events/s  ratio {rate / base:.2f}  "
              f"out {n} lines {size / 1e6:.0f} MB  RSS {rss / 1048576:.1f} MiB  CPU {cpu / events * 1e6:.2f} us/event")


def filtered_count(conn):
    """Lines the filter keeps: inserts with total > 500 (status is 'new'), and every update (status 'shipped')."""
    (ins,), = b.q(conn, "SELECT count(*) FROM bench_orders WHERE total - CASE WHEN status = 'shipped' THEN 1 ELSE 0 END > 500")
    return ins + b.UPDATES


if __name__ == "__main__":
    main()
