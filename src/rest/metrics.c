/*
 * Prometheus text exposition of the process and the connectors.
 *
 * The text is written family by family (all connectors' samples of one
 * metric together), as format 0.0.4 requires. Plain per-connector counters
 * and gauges come from one table of struct offsets; the families with extra
 * labels or several series (state, snapshot tables, the latency histogram)
 * have a function each. Process metrics are read from /proc/self on each
 * call: a scrape every few seconds costs a few small reads.
 */
#include "rest/metrics.h"
#include <jansson.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/mem.h"

const char *const sl_metrics_states[SL_METRICS_NSTATES] = {"RUNNING", "PAUSED", "STOPPED", "FAILED", "UNASSIGNED"};

/* ---- low-level writers ---- */

static void family(sl_buf *o, const char *name, const char *type, const char *help) {
    sl_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void sl_metrics_put_label_value(sl_buf *o, const char *v) {
    sl_buf_putc(o, '"');
    for (; v && *v; v++) {
        if (*v == '\\') sl_buf_puts(o, "\\\\");
        else if (*v == '"') sl_buf_puts(o, "\\\"");
        else if (*v == '\n') sl_buf_puts(o, "\\n");
        else sl_buf_putc(o, *v);
    }
    sl_buf_putc(o, '"');
}

static void label(sl_buf *o, const char *k, const char *v) {
    sl_buf_puts(o, k);
    sl_buf_putc(o, '=');
    sl_metrics_put_label_value(o, v);
}

/* name{connector="..." — the caller adds more labels, then close_u64/close_f. */
static void open_sample(sl_buf *o, const char *name, const char *suffix, const char *conn) {
    sl_buf_puts(o, name);
    sl_buf_puts(o, suffix);
    sl_buf_putc(o, '{');
    label(o, "connector", conn);
}

static void put_double(sl_buf *o, double v) {
    if (isnan(v)) sl_buf_puts(o, "NaN");
    else if (isinf(v)) sl_buf_puts(o, v > 0 ? "+Inf" : "-Inf");
    else {
        char s[40];
        snprintf(s, sizeof s, "%.15g", v);
        if (strtod(s, NULL) != v) snprintf(s, sizeof s, "%.17g", v); /* shortest text that reads back */
        sl_buf_puts(o, s);
    }
}

static void close_u64(sl_buf *o, uint64_t v) {
    sl_buf_puts(o, "} ");
    sl_buf_put_u64(o, v);
    sl_buf_putc(o, '\n');
}

static void close_f(sl_buf *o, double v) {
    sl_buf_puts(o, "} ");
    put_double(o, v);
    sl_buf_putc(o, '\n');
}

/* ---- process ---- */

/* Reads a small /proc file into s; false if it cannot. */
static bool slurp(const char *path, char *s, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t got = fread(s, 1, n - 1, f);
    fclose(f);
    s[got] = 0;
    return got > 0;
}

static int64_t rss_bytes(void) {
    char s[4096];
    if (!slurp("/proc/self/status", s, sizeof s)) return -1;
    const char *p = strstr(s, "\nVmRSS:");
    return p ? strtoll(p + 7, NULL, 10) * 1024 : -1; /* "VmRSS:   1234 kB" */
}

/* CPU seconds and start time (seconds after boot) from /proc/self/stat. */
static bool proc_times(double *cpu_s, double *start_after_boot_s) {
    char s[1024];
    if (!slurp("/proc/self/stat", s, sizeof s)) return false;
    char *p = strrchr(s, ')'); /* comm may hold spaces and parentheses */
    if (!p) return false;
    unsigned long long f[23] = {0}; /* f[k]: field k of proc(5), from field 3 on */
    p++;
    for (int k = 3; k <= 22; k++) {
        while (*p == ' ') p++;
        if (k == 3) p++; /* the state letter */
        else f[k] = strtoull(p, &p, 10);
    }
    double tck = (double)sysconf(_SC_CLK_TCK);
    if (tck <= 0) return false;
    *cpu_s = (double)(f[14] + f[15]) / tck;
    *start_after_boot_s = (double)f[22] / tck;
    return true;
}

static bool boot_time(double *btime, double *uptime) {
    char s[8192];
    if (!slurp("/proc/uptime", s, sizeof s)) return false;
    *uptime = strtod(s, NULL);
    if (!slurp("/proc/stat", s, sizeof s)) return false;
    const char *p = strstr(s, "\nbtime ");
    if (!p) return false;
    *btime = strtod(p + 7, NULL);
    return true;
}

static int64_t open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int64_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static void process_gauge(sl_buf *o, const char *name, const char *type, const char *help, bool ok, double v) {
    family(o, name, type, help);
    if (!ok) return;
    sl_buf_puts(o, name);
    sl_buf_putc(o, ' ');
    put_double(o, v);
    sl_buf_putc(o, '\n');
}

static void render_process(sl_buf *o) {
    int64_t rss = rss_bytes(), fds = open_fds();
    double cpu = 0, start = 0, btime = 0, uptime = 0;
    bool t_ok = proc_times(&cpu, &start), b_ok = t_ok && boot_time(&btime, &uptime);
    process_gauge(o, "sluice_process_resident_memory_bytes", "gauge", "Resident set size (VmRSS) of the process.",
                  rss >= 0, (double)rss);
    process_gauge(o, "sluice_process_allocated_bytes", "gauge",
                  "Bytes currently allocated through sluice's counting allocator (excludes libraries' own allocations).",
                  true, (double)sl_mem_used());
    process_gauge(o, "sluice_process_cpu_seconds_total", "counter", "User and system CPU time of the process.", t_ok,
                  cpu);
    process_gauge(o, "sluice_process_open_fds", "gauge", "Open file descriptors of the process.", fds >= 0,
                  (double)fds);
    /* Clock ticks are 1/100 s: round so that float noise does not show as 0.010000000000218279. */
    process_gauge(o, "sluice_process_start_time_seconds", "gauge", "Start time of the process, Unix epoch seconds.",
                  b_ok, round((btime + start) * 100) / 100);
    process_gauge(o, "sluice_process_uptime_seconds", "gauge", "Seconds since the process started.", b_ok,
                  round((uptime - start) * 100) / 100);
    family(o, "sluice_build_info", "gauge", "Always 1; the version label names the sluice build.");
    sl_buf_puts(o, "sluice_build_info{");
    label(o, "version", SLUICE_VERSION);
    sl_buf_puts(o, "} 1\n");
}

/* ---- connectors: the plain counters and gauges ---- */

typedef enum { F_U64, F_SIZE, F_I64_KNOWN, F_MS } field_kind; /* F_I64_KNOWN: no sample when < 0; F_MS: a u64 of
                                                                 * milliseconds, shown in seconds */

static const struct plain {
    const char *name, *type, *help;
    field_kind kind;
    size_t off;
} plain[] = {
#define M(f) offsetof(sl_connector_metrics, f)
    {SL_M_RECORDS_READ, "counter", "Change records read from the source.", F_U64, M(records_read)},
    {SL_M_RECORDS_WRITTEN, "counter", "Change records written durably to the sink.", F_U64, M(records_written)},
    {"sluice_connector_records_filtered_total", "counter", "Change records dropped by transforms.", F_U64,
     M(records_filtered)},
    {"sluice_connector_records_failed_total", "counter", "Change records that failed in conversion or delivery.",
     F_U64, M(records_failed)},
    {"sluice_connector_records_dlq_total", "counter", "Change records sent to the dead letter queue.", F_U64,
     M(records_dlq)},
    {"sluice_connector_records_stale_total", "counter",
     "Change records the sink skipped because their target already held a newer version (a replay).", F_U64,
     M(records_stale)},
    {"sluice_connector_sink_waiting", "gauge",
     "1 while the sink waits for room in its target (redis.memory.threshold.percentage), else 0.", F_SIZE,
     M(sink_waiting)},
    {"sluice_connector_sink_waited_seconds_total", "counter",
     "Seconds the sink waited for room in its target (finished waits).", F_MS,
     M(sink_waited_ms)},
    {"sluice_connector_bytes_read_total", "counter", "Bytes of change data handed from the source to the sink.", F_U64,
     M(bytes_read)},
    {"sluice_connector_bytes_written_total", "counter",
     "Bytes the sink wrote, encoded (file bytes, Kafka keys and values, BSON documents).", F_U64, M(bytes_written)},
    {"sluice_connector_batches_written_total", "counter", "Batches written durably to the sink.", F_U64,
     M(batches_written)},
    {"sluice_connector_offsets_committed_total", "counter", "Source offsets committed to the offset store.", F_U64,
     M(offsets_committed)},
    {"sluice_connector_reconnects_total", "counter", "Reconnections of the source after a retriable error.", F_U64,
     M(reconnects)},
    {"sluice_connector_queue_records", "gauge", "Records waiting in the queue between source and sink.", F_SIZE,
     M(queue_records)},
    {"sluice_connector_queue_bytes", "gauge", "Bytes waiting in the queue between source and sink.", F_SIZE,
     M(queue_bytes)},
    {"sluice_connector_queue_max_records", "gauge", "Record limit of the queue (max.queue.size).", F_SIZE,
     M(queue_max_records)},
    {"sluice_connector_queue_max_bytes", "gauge", "Byte limit of the queue (max.queue.size.in.bytes; 0: none).", F_SIZE,
     M(queue_max_bytes)},
    {SL_M_SOURCE_LAG_MS, "gauge",
     "Milliseconds the newest durable change was behind its source commit when it became durable; 0 once an "
     "idle source advanced with nothing queued.",
     F_I64_KNOWN, M(lag_ms)},
    {SL_M_BEHIND_RECORDS, "gauge",
     "Records the committed position is behind the source, where the source can tell.", F_I64_KNOWN, M(lag_records)},
    {SL_M_BEHIND_BYTES, "gauge",
     "Bytes the committed position is behind the source (PostgreSQL: WAL bytes of the slot; MySQL/MariaDB: binlog "
     "bytes), where the source can tell.",
     F_I64_KNOWN, M(lag_bytes)},
#undef M
};

static void render_plain(sl_buf *o, const struct plain *p, const sl_metrics_conn *cs, int n) {
    family(o, p->name, p->type, p->help);
    for (int i = 0; i < n; i++) {
        const char *base = (const char *)cs[i].m;
        if (!base) continue;
        uint64_t v;
        if (p->kind == F_MS) {
            memcpy(&v, base + p->off, sizeof v);
            open_sample(o, p->name, "", cs[i].name);
            close_f(o, (double)v / 1000.0);
            continue;
        }
        if (p->kind == F_U64) memcpy(&v, base + p->off, sizeof v);
        else if (p->kind == F_SIZE) {
            size_t z;
            memcpy(&z, base + p->off, sizeof z);
            v = z;
        } else {
            int64_t s;
            memcpy(&s, base + p->off, sizeof s);
            if (s < 0) continue;
            v = (uint64_t)s;
        }
        open_sample(o, p->name, "", cs[i].name);
        close_u64(o, v);
    }
}

/* ---- connectors: the families with more than one series ---- */

static void render_source_time(sl_buf *o, const sl_metrics_conn *cs, int n) {
    const char *name = "sluice_connector_last_source_timestamp_seconds";
    family(o, name, "gauge", "Source commit time of the newest written change, Unix epoch seconds.");
    for (int i = 0; i < n; i++) {
        if (!cs[i].m || cs[i].m->source_ts_ms <= 0) continue;
        open_sample(o, name, "", cs[i].name);
        close_f(o, (double)cs[i].m->source_ts_ms / 1000.0);
    }
}

/* An info series: 1 with a text field of the metrics (at byte offset off) as label lkey; none when empty. */
static void info_family(sl_buf *o, const char *name, const char *help, const char *lkey, size_t off,
                        const sl_metrics_conn *cs, int n) {
    family(o, name, "gauge", help);
    for (int i = 0; i < n; i++) {
        const char *v = cs[i].m ? (const char *)cs[i].m + off : "";
        if (!*v) continue;
        open_sample(o, name, "", cs[i].name);
        sl_buf_putc(o, ',');
        label(o, lkey, v);
        close_u64(o, 1);
    }
}

/* The committed offset and the newest error as info series (the value is in a label), the error's time. */
static void render_position_error(sl_buf *o, const sl_metrics_conn *cs, int n) {
    info_family(o, "sluice_connector_source_offset_info",
                "Always 1; the offset label is the newest committed source offset (JSON).", "offset",
                offsetof(sl_connector_metrics, offset), cs, n);
    info_family(o, "sluice_connector_last_error_info",
                "Always 1; the error label is the newest failure or retry reason (secrets redacted).", "error",
                offsetof(sl_connector_metrics, last_error), cs, n);
    const char *name = "sluice_connector_last_error_timestamp_seconds";
    family(o, name, "gauge", "Time of the newest failure or retry reason, Unix epoch seconds.");
    for (int i = 0; i < n; i++) {
        if (!cs[i].m || !cs[i].m->last_error_ms) continue;
        open_sample(o, name, "", cs[i].name);
        close_f(o, (double)cs[i].m->last_error_ms / 1000.0);
    }
}

static void render_batch_size(sl_buf *o, const sl_metrics_conn *cs, int n) {
    const char *name = "sluice_connector_batch_size_records";
    family(o, name, "summary", "Records per batch written to the sink.");
    for (int i = 0; i < n; i++) {
        if (!cs[i].m) continue;
        open_sample(o, name, "_sum", cs[i].name);
        close_u64(o, cs[i].m->batch_size_sum);
        open_sample(o, name, "_count", cs[i].name);
        close_u64(o, cs[i].m->batch_size_count);
    }
}

/*
 * The runtime's buckets are cumulative; they are copied without one lock
 * around all of them, so each is clamped to at least the one before, and
 * +Inf and _count to at least the last: a scrape never shows a histogram
 * that histogram_quantile() would reject.
 */
static void render_latency(sl_buf *o, const sl_metrics_conn *cs, int n) {
    const char *name = "sluice_connector_end_to_end_latency_seconds";
    family(o, name, "histogram", "Time from the source commit of a change until it is durable in the sink.");
    for (int i = 0; i < n; i++) {
        const sl_connector_metrics *m = cs[i].m;
        if (!m) continue;
        uint64_t cum = 0;
        for (int b = 0; b < SL_LATENCY_BUCKETS; b++) {
            if (isinf(sl_latency_bounds_ms[b])) break;
            if (m->latency_buckets[b] > cum) cum = m->latency_buckets[b];
            open_sample(o, name, "_bucket", cs[i].name);
            sl_buf_puts(o, ",le=\"");
            put_double(o, sl_latency_bounds_ms[b] / 1000.0);
            sl_buf_putc(o, '"');
            close_u64(o, cum);
        }
        if (m->latency_count > cum) cum = m->latency_count;
        open_sample(o, name, "_bucket", cs[i].name);
        sl_buf_puts(o, ",le=\"+Inf\"");
        close_u64(o, cum);
        open_sample(o, name, "_sum", cs[i].name);
        close_f(o, m->latency_sum_ms / 1000.0);
        open_sample(o, name, "_count", cs[i].name);
        close_u64(o, cum);
    }
}

static void snapshot_family(sl_buf *o, const char *name, const char *help, int what, const sl_metrics_conn *cs,
                            int n) {
    family(o, name, "gauge", help);
    for (int i = 0; i < n; i++) {
        const sl_connector_metrics *m = cs[i].m;
        for (int t = 0; m && t < m->nsnapshot && t < (int)(sizeof m->snapshot / sizeof m->snapshot[0]); t++) {
            const sl_snapshot_table *st = &m->snapshot[t];
            int64_t v = what == 0 ? st->rows_done : what == 1 ? st->rows_total : what == 2 ? st->done
                        : what == 3 ? (st->chunks ? st->chunks : -1) : (st->chunks ? st->chunks_done : -1);
            if (v < 0) continue;
            char table[sizeof st->table + 1];
            snprintf(table, sizeof table, "%.*s", (int)sizeof st->table, st->table);
            open_sample(o, name, "", cs[i].name);
            sl_buf_putc(o, ',');
            label(o, "table", table);
            close_u64(o, (uint64_t)v);
        }
    }
}

static void render_snapshot(sl_buf *o, const sl_metrics_conn *cs, int n) {
    snapshot_family(o, SL_M_SNAPSHOT_ROWS, "Rows of the table copied by the snapshot so far.", 0, cs, n);
    snapshot_family(o, SL_M_SNAPSHOT_ROWS_ESTIMATE,
                    "Estimated rows of the table at snapshot start, where the source can tell.", 1, cs, n);
    snapshot_family(o, SL_M_SNAPSHOT_DONE, "1 once the snapshot of the table is complete.", 2, cs, n);
    snapshot_family(o, SL_M_SNAPSHOT_CHUNKS,
                    "Ranges the table is read in by parallel snapshot readers (snapshot.max.threads).", 3, cs, n);
    snapshot_family(o, SL_M_SNAPSHOT_CHUNKS_DONE, "Ranges of the table read completely.", 4, cs, n);
}

static void render_state(sl_buf *o, const sl_metrics_conn *cs, int n) {
    family(o, SL_M_STATE, "gauge", "1 for the connector's current state, 0 for the others.");
    for (int i = 0; i < n; i++)
        for (int s = 0; s < SL_METRICS_NSTATES; s++) {
            open_sample(o, SL_M_STATE, "", cs[i].name);
            sl_buf_putc(o, ',');
            label(o, "state", sl_metrics_states[s]);
            close_u64(o, cs[i].state && strcmp(cs[i].state, sl_metrics_states[s]) == 0);
        }
    family(o, "sluice_connector_failed", "gauge", "1 when the connector stopped on an error (see its status trace).");
    for (int i = 0; i < n; i++) {
        bool failed = cs[i].m ? cs[i].m->failed : (cs[i].state && strcmp(cs[i].state, "FAILED") == 0);
        open_sample(o, "sluice_connector_failed", "", cs[i].name);
        close_u64(o, failed);
    }
    family(o, SL_M_INFO, "gauge", "Always 1; labels name the connector's source and sink.");
    for (int i = 0; i < n; i++) {
        open_sample(o, SL_M_INFO, "", cs[i].name);
        sl_buf_putc(o, ',');
        label(o, "source", cs[i].source);
        sl_buf_putc(o, ',');
        label(o, "sink", cs[i].sink);
        close_u64(o, 1);
    }
}

/* What a source's server holds for the connector, measured at the scrape whatever the state: a stopped
 * connector's slot still keeps its WAL. */
static void render_retained(sl_buf *o, const sl_metrics_conn *cs, int n) {
    family(o, SL_M_SLOT_RETAINED, "gauge",
           "WAL bytes the connector's replication slot holds back on the server (PostgreSQL: pg_current_wal_lsn() - "
           "restart_lsn), in any state of the connector.");
    for (int i = 0; i < n; i++) {
        if (!cs[i].retained) continue;
        open_sample(o, SL_M_SLOT_RETAINED, "", cs[i].name);
        sl_buf_putc(o, ',');
        label(o, "slot", cs[i].retained->slot);
        close_u64(o, (uint64_t)cs[i].retained->bytes);
    }
    family(o, SL_M_SLOT_RETAINED_WARN, "gauge",
           "The connector's slot.retained.wal.warn.bytes: sluice status warns above it. No sample when 0.");
    for (int i = 0; i < n; i++) {
        if (!cs[i].retained || cs[i].retained->warn_bytes <= 0) continue;
        open_sample(o, SL_M_SLOT_RETAINED_WARN, "", cs[i].name);
        sl_buf_putc(o, ',');
        label(o, "slot", cs[i].retained->slot);
        close_u64(o, (uint64_t)cs[i].retained->warn_bytes);
    }
}

/* sluice verify: the last run of each connector that had one. */
static void render_verify(sl_buf *o, const sl_metrics_conn *cs, int n) {
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"sluice_verify_running", "gauge", "1 while a verify run of the connector is under way."},
        {"sluice_verify_last_run_timestamp_seconds", "gauge",
         "When the last verify run ended (seconds since the epoch). The last_run and result families have no sample "
         "while a run is under way."},
        {"sluice_verify_last_run_duration_seconds", "gauge", "How long the last verify run took."},
        {"sluice_verify_last_run_failed", "gauge", "1 when the last verify run ended with an error, not a report."},
        {"sluice_verify_keys_checked", "gauge", "Source rows (keys) the last verify run compared."},
        {"sluice_verify_mismatches", "gauge",
         "Differences the last verify run reported (missing, extra, differing fields, missing columns)."},
        {"sluice_verify_in_flight", "gauge", "Differences of the last run's full pass that its rechecks found gone."},
        {"sluice_verify_divergence_ratio", "gauge", "The last run's mismatches per key checked."},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        family(o, fams[f].name, fams[f].type, fams[f].help);
        for (int i = 0; i < n; i++) {
            const sl_verify_info *v = cs[i].verify;
            if (!v || (f > 0 && (v->running || v->ended_ms == 0))) continue; /* no run ended, or one runs */
            open_sample(o, fams[f].name, "", cs[i].name);
            const sl_verify_stats *s = &v->stats;
            switch (f) {
            case 0: close_u64(o, v->running); break;
            case 1: close_f(o, (double)v->ended_ms / 1000.0); break;
            case 2: close_f(o, (double)(v->ended_ms - v->started_ms) / 1000.0); break;
            case 3: close_u64(o, v->failed); break;
            case 4: close_u64(o, (uint64_t)s->rows); break;
            case 5: close_u64(o, (uint64_t)s->differences); break;
            case 6: close_u64(o, (uint64_t)s->in_flight); break;
            default: close_f(o, s->rows ? (double)s->differences / (double)s->rows : 0); break;
            }
        }
    }
}

void sl_metrics_render(sl_buf *out, const sl_metrics_conn *conns, int n) {
    render_process(out);
    render_state(out, conns, n);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) render_plain(out, &plain[i], conns, n);
    render_source_time(out, conns, n);
    render_position_error(out, conns, n);
    render_batch_size(out, conns, n);
    render_latency(out, conns, n);
    render_snapshot(out, conns, n);
    render_retained(out, conns, n);
    render_verify(out, conns, n);
}

/* ---- sluice migrate plans ---- */

void sl_metrics_render_migrations(sl_buf *o, json_t *const *states, int n) {
    static const char *const phases[] = {"not started", "sync", "verify", "shadow", "cutover", "done", "rolled-back"};
    family(o, "sluice_migration_phase", "gauge",
           "The phase each migration plan is in: 1 for the current one, 0 for the others.");
    for (int i = 0; i < n; i++) {
        const char *name = json_string_value(json_object_get(states[i], "plan")),
                   *ph = json_string_value(json_object_get(states[i], "phase"));
        for (size_t k = 0; k < sizeof phases / sizeof *phases; k++) {
            sl_buf_puts(o, "sluice_migration_phase{migration=");
            sl_metrics_put_label_value(o, name ? name : "");
            sl_buf_puts(o, ",phase=");
            sl_metrics_put_label_value(o, phases[k]);
            sl_buf_printf(o, "} %d\n", ph && !strcmp(ph, phases[k]));
        }
    }
    static const struct {
        const char *metric, *key, *help;
    } g[] = {
        {"sluice_migration_finished", "finished", "1 once the plan was finished (sluice migrate finish)."},
        {"sluice_migration_running", "running", "1 while the daemon runs the plan."},
        {"sluice_migration_last_differences", "last_differences",
         "Differences of the plan's newest verify run (-1: none yet)."},
        {"sluice_migration_phase_since_seconds", "phase_since_ms", "When the plan entered its phase (Unix time)."},
    };
    family(o, "sluice_migration_conflicts_total", "counter",
           "Conflicts of a two-way shadow resolved (a document changed on both sides), by the side whose version "
           "stayed: source (the source database) or target (MongoDB).");
    for (int i = 0; i < n; i++) {
        json_t *c = json_object_get(states[i], "conflicts");
        for (int w = 0; c && w < 2; w++) {
            sl_buf_puts(o, "sluice_migration_conflicts_total{migration=");
            sl_metrics_put_label_value(o, json_string_value(json_object_get(states[i], "plan")) ?: "");
            sl_buf_printf(o, ",winner=\"%s\"} %lld\n", w ? "target" : "source",
                          (long long)json_integer_value(json_object_get(c, w ? "target_won" : "source_won")));
        }
    }
    for (size_t f = 0; f < sizeof g / sizeof *g; f++) {
        family(o, g[f].metric, "gauge", g[f].help);
        for (int i = 0; i < n; i++) {
            json_t *v = json_object_get(states[i], g[f].key);
            if (!v) continue;
            double x = json_is_boolean(v) ? json_is_true(v) : json_number_value(v);
            if (!strcmp(g[f].key, "phase_since_ms")) x /= 1000;
            sl_buf_printf(o, "%s{migration=", g[f].metric);
            sl_metrics_put_label_value(o, json_string_value(json_object_get(states[i], "plan")) ?: "");
            sl_buf_printf(o, "} %.17g\n", x);
        }
    }
}

/* ---- distributed mode ---- */

void sl_metrics_render_group(sl_buf *o, const char *worker_id, int owned, int total, uint64_t rebalances,
                             const char *const *names, const int *tasks, const char *const *workers, int n) {
    family(o, "sluice_worker_task_slots", "gauge",
           "Distributed mode: the task slots this worker holds (state=\"owned\") and the group's (state=\"total\").");
    for (int k = 0; k < 2; k++) {
        sl_buf_puts(o, "sluice_worker_task_slots{worker_id=");
        sl_metrics_put_label_value(o, worker_id);
        sl_buf_printf(o, ",state=\"%s\"} %d\n", k ? "total" : "owned", k ? total : owned);
    }
    family(o, "sluice_worker_rebalances_total", "counter",
           "Distributed mode: the group's rebalances this worker took part in (slots given or taken).");
    sl_buf_puts(o, "sluice_worker_rebalances_total{worker_id=");
    sl_metrics_put_label_value(o, worker_id);
    sl_buf_printf(o, "} %llu\n", (unsigned long long)rebalances);
    family(o, "sluice_connector_assigned", "gauge",
           "Distributed mode: 1 for each task of each connector and the worker that runs it (as this worker knows "
           "it).");
    for (int i = 0; i < n; i++) {
        if (!workers[i][0]) continue;
        sl_buf_puts(o, "sluice_connector_assigned{connector=");
        sl_metrics_put_label_value(o, names[i]);
        sl_buf_printf(o, ",task=\"%d\",worker_id=", tasks[i]);
        sl_metrics_put_label_value(o, workers[i]);
        sl_buf_puts(o, "} 1\n");
    }
}
