/*
 * sluice verify: proves that a connector's target holds what its source holds
 * (docs/verify.md). Each source table is read in key order beside the target
 * table its rows go to (core/vside.h: one snapshot per side, rows streamed)
 * and merged in one pass, so memory does not grow with the tables: a key only
 * in the source is missing in the target, a key only in the target is extra,
 * and a key on both sides is compared column by column after normalisation
 * (vnorm.h).
 */
#ifndef SL_VERIFY_VERIFY_H
#define SL_VERIFY_VERIFY_H
#include "core/vside.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sl_verify_opts {
    bool json;          /* --output json */
    long max_listed;    /* differences listed in the report (the counts are always complete) */
    int64_t until_ms;   /* --until-consistent: recheck differing keys for at most this long (0: no rechecks) */
    int64_t recheck_ms; /* pause before each recheck */
    int64_t rate;       /* --rate: at most this many rows per second from each side (0: no limit) */
    bool strict_missing; /* --strict-missing: a missing document field differs from a SQL null */
    const _Atomic int *cancel; /* when not NULL and set: the run stops with an error (a daemon shutting down) */
    FILE *progress;     /* when not NULL (a terminal): a progress line, rewritten in place */
    bool no_levels;     /* --levels off: every row read even where key ranges could be compared by hashes */
    /* Rechecks gated on the sync: 1 when the sync has applied the source up to log position pos (the source
     * side's position() of the recheck's snapshot), 0 not yet, -1 cannot tell (NULL: timed rechecks). */
    int (*gate)(void *arg, const char *pos);
    void *gate_arg;
    /* Optional: once the rechecks are over, the keys that still differ are read once more (with the sync caught
     * up when there is a gate: the rows are not given when it does not catch up) and each row is given here: st the source table, t its columns as read (key columns first), sv its values (NULL: the
     * source has no such key), tt the target's columns (tt->src_col[k]: the column of t that column k holds)
     * and tv their values (NULL: the target has no such key). */
    void (*on_diff)(void *arg, const sl_vtable *st, const sl_vtable *t, const char *const *sv, const size_t *sl,
                    const sl_vtable *tt, const char *const *tv, const size_t *tl);
    void *diff_arg;
} sl_verify_opts;

/* What a run found, for metrics. */
typedef struct sl_verify_stats {
    long long rows;        /* source rows compared in the full pass */
    long long differences; /* the report's total */
    long long in_flight;   /* differences of the full pass that rechecks found gone */
    int tables;
    int gated;             /* rechecks that waited for the sync to pass the source's position */
} sl_verify_stats;

/* A run as a daemon shows it (sluice serve: GET /connectors/<name>/verify, /metrics). */
typedef struct sl_verify_info {
    bool running, failed;          /* failed: it ended with an error, not a report */
    int64_t started_ms, ended_ms;  /* wall clock, ms since the epoch; ended 0 while running */
    int result;                    /* 0 equal, 1 differences (when ended and not failed) */
    sl_verify_stats stats;
} sl_verify_info;

/* Compares every table of src with its target in dst, each table as map (NULL: none) says its rows reach dst,
 * and prints the report to out (stats: filled when not NULL). Returns 0 (equal), 1 (differences) or -1 with errstr (nothing could be
 * compared: no report is printed). */
int sl_verify_run(sl_vside *src, sl_vside *dst, const sl_vmap *map, const sl_verify_opts *o, FILE *out,
                  sl_verify_stats *stats, char *errstr, size_t errsz);

/*
 * Query pairs (the parallel-run pattern): checks is JSON, [{"name": ..., "source": query, "target": query}, ...]
 * or {"checks": [...]}, a query being SQL text for a SQL store and a JSON object for MongoDB (core/vside.h
 * query). Each check runs on both sides and their rows must be the same, in order, after normalisation
 * (sl_vnorm_rows_same); runs times, every_ms apart (fresh snapshots), with each check's divergence rate over
 * those runs. Prints the report; returns 0 (every check equal in its last run), 1 (differences) or -1 with
 * errstr (a bad checks file, a query that fails: no report).
 */
int sl_verify_queries(sl_vside *src, sl_vside *dst, const char *checks, const sl_verify_opts *o, int runs,
                      int64_t every_ms, FILE *out, char *errstr, size_t errsz);

#endif
