/*
 * Unit tests of the /metrics renderer: the text is parsed back line by line
 * with a strict reader of exposition format 0.0.4 (names, label escaping,
 * values, one HELP/TYPE per family, each family's samples together), then
 * the values are checked against the hand-filled connector metrics.
 */
#include "rest/metrics.h"
#include "test.h"
#include "util/buf.h"
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define MAXS 2048
#define MAXL 4

typedef struct sample {
    char name[128];
    int nl;
    char k[MAXL][32], v[MAXL][256]; /* label values unescaped */
    double value;
} sample;

static sample S[MAXS];
static int nS;
static bool quiet; /* test_checker feeds bad lines on purpose */

/* The families declared so far (TYPE lines), to check uniqueness and grouping. */
static char fam[256][128], famtype[256][16];
static int nfam;

static bool name_char(int c, bool first) { return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c)); }

static const char *parse_name(const char *p, char *out, size_t n, bool colon_ok) {
    size_t i = 0;
    while (name_char((unsigned char)p[i], i == 0) && (colon_ok || p[i] != ':') && i + 1 < n) out[i] = p[i], i++;
    out[i] = 0;
    return i ? p + i : NULL;
}

static const char *parse_value(const char *p, double *v) {
    if (!strncmp(p, "+Inf", 4)) return *v = INFINITY, p + 4;
    if (!strncmp(p, "-Inf", 4)) return *v = -INFINITY, p + 4;
    if (!strncmp(p, "NaN", 3)) return *v = NAN, p + 3;
    char *end;
    *v = strtod(p, &end);
    return end == p || isalpha((unsigned char)*p) ? NULL : end;
}

static const char *parse_label_value(const char *p, char *out, size_t n) {
    if (*p++ != '"') return NULL;
    size_t i = 0;
    for (; *p != '"'; p++) {
        if (!*p || *p == '\n' || i + 1 >= n) return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'n') out[i++] = '\n';
            else if (*p == '\\' || *p == '"') out[i++] = *p;
            else return NULL;
        } else out[i++] = *p;
    }
    out[i] = 0;
    return p + 1;
}

/* True if name is the current family or one of its histogram/summary series. */
static bool in_family(const char *name) {
    if (!nfam) return false;
    const char *f = fam[nfam - 1], *t = famtype[nfam - 1];
    size_t fl = strlen(f);
    if (!strcmp(name, f)) return strcmp(t, "histogram") != 0;
    if (strncmp(name, f, fl)) return false;
    const char *suf = name + fl;
    if (!strcmp(suf, "_sum") || !strcmp(suf, "_count")) return !strcmp(t, "histogram") || !strcmp(t, "summary");
    return !strcmp(suf, "_bucket") && !strcmp(t, "histogram");
}

static bool parse_comment(const char *line) {
    char name[128];
    const char *p;
    if (!strncmp(line, "# HELP ", 7)) {
        p = parse_name(line + 7, name, sizeof name, true);
        return p && *p == ' ' && p[1] && nfam < 256 && snprintf(fam[nfam], sizeof fam[0], "%s", name) > 0;
    }
    if (strncmp(line, "# TYPE ", 7)) return false;
    p = parse_name(line + 7, name, sizeof name, true);
    if (!p || *p++ != ' ' || strcmp(name, fam[nfam])) return false; /* TYPE right after its HELP */
    if (strcmp(p, "counter") && strcmp(p, "gauge") && strcmp(p, "histogram") && strcmp(p, "summary")) return false;
    for (int i = 0; i < nfam; i++)
        if (!strcmp(fam[i], name)) return false; /* a second TYPE of the same family */
    snprintf(famtype[nfam++], sizeof famtype[0], "%s", p);
    return true;
}

static bool parse_sample(const char *line) {
    if (nS >= MAXS) return false;
    sample *s = &S[nS];
    memset(s, 0, sizeof *s);
    const char *p = parse_name(line, s->name, sizeof s->name, true);
    if (!p || !in_family(s->name)) return false;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (s->nl == MAXL || !(p = parse_name(p, s->k[s->nl], sizeof s->k[0], false)) || *p++ != '=') return false;
            if (!(p = parse_label_value(p, s->v[s->nl], sizeof s->v[0]))) return false;
            s->nl++;
            if (*p == ',') p++;
            else if (*p != '}') return false;
        }
        p++;
    }
    if (*p++ != ' ' || !(p = parse_value(p, &s->value)) || *p) return false;
    nS++;
    return true;
}

/* Parses the whole text; reports the first bad line. */
static bool parse_all(char *text) {
    nS = nfam = 0;
    bool ok = true;
    for (char *line = text, *nl; *line; line = nl + 1) {
        if (!(nl = strchr(line, '\n'))) return false; /* every line ends with \n */
        *nl = 0;
        bool good = line[0] == '#' ? parse_comment(line) : parse_sample(line);
        if (!good && !quiet) fprintf(stderr, "bad exposition line: %s\n", line);
        ok = ok && good;
        *nl = '\n';
    }
    return ok;
}

static const char *lab(const sample *s, const char *k) {
    for (int i = 0; i < s->nl; i++)
        if (!strcmp(s->k[i], k)) return s->v[i];
    return NULL;
}

/* The sample with this name and labels (NULL-terminated key, value pairs), or NULL. */
static const sample *find(const char *name, const char *conn, const char *k2, const char *v2) {
    for (int i = 0; i < nS; i++) {
        const sample *s = &S[i];
        if (strcmp(s->name, name)) continue;
        const char *c = lab(s, "connector");
        if (conn ? !c || strcmp(c, conn) : c != NULL) continue;
        if (k2 && (!lab(s, k2) || strcmp(lab(s, k2), v2))) continue;
        return s;
    }
    return NULL;
}

static double val(const char *name, const char *conn, const char *k2, const char *v2) {
    const sample *s = find(name, conn, k2, v2);
    return s ? s->value : NAN;
}

static int count_conn(const char *conn) {
    int n = 0;
    for (int i = 0; i < nS; i++) {
        const char *c = lab(&S[i], "connector");
        n += c && !strcmp(c, conn);
    }
    return n;
}

static sl_connector_metrics metrics_a(void) {
    sl_connector_metrics m = {0};
    m.records_read = 1234567890123ULL;
    m.records_written = 1200;
    m.records_filtered = 3;
    m.records_failed = 4;
    m.records_dlq = 5;
    m.records_stale = 6;
    m.sink_waiting = 1;
    m.sink_waited_ms = 2500;
    m.bytes_read = 987654;
    m.bytes_written = 4321;
    snprintf(m.offset, sizeof m.offset, "{\"lsn\":123,\"txId\":7}");
    snprintf(m.last_error, sizeof m.last_error, "connection to \"db\" lost\nretrying");
    m.last_error_ms = 1700000001500;
    m.batches_written = 12;
    m.batch_size_sum = 1200;
    m.batch_size_count = 12;
    m.queue_records = 34;
    m.queue_bytes = 5678;
    m.queue_max_records = 8192;
    m.queue_max_bytes = 16777216;
    m.offsets_committed = 9;
    m.reconnects = 2;
    m.source_ts_ms = 1700000000123;
    m.lag_ms = 250;
    m.lag_records = -1;
    m.lag_bytes = 4096;
    uint64_t cum = 0;
    for (int b = 0; b < SL_LATENCY_BUCKETS; b++) m.latency_buckets[b] = cum += (uint64_t)b * 10;
    m.latency_count = cum;
    m.latency_sum_ms = 123456.5;
    snprintf(m.snapshot[0].table, sizeof m.snapshot[0].table, "public.orders");
    m.snapshot[0].rows_done = 500, m.snapshot[0].rows_total = 1000;
    snprintf(m.snapshot[1].table, sizeof m.snapshot[1].table, "public.\"odd\"");
    m.snapshot[1].rows_done = 7, m.snapshot[1].rows_total = -1, m.snapshot[1].done = true;
    m.nsnapshot = 2;
    m.running = true;
    return m;
}

#define WEIRD "we\"ird\\name\nx"

static void test_render(void) {
    sl_connector_metrics a = metrics_a(), c = {0};
    c.failed = true, c.lag_records = c.lag_bytes = -1;
    c.latency_buckets[0] = 5, c.latency_buckets[1] = 3; /* torn copy: not cumulative */
    c.latency_count = 4;
    sl_source_retained held = {"slot_\"x", 3 << 20, 1 << 20}, unwarned = {"s2", 5, 0};
    sl_metrics_conn conns[] = {
        {"a", "RUNNING", "postgres", "kafka", &a, &unwarned},
        {WEIRD, "STOPPED", "mysql", "file", NULL, &held}, /* a stopped connector's slot still holds WAL */
        {"c", "FAILED", "kafka", "file", &c, NULL},
    };
    sl_buf b;
    sl_buf_init(&b);
    sl_metrics_render(&b, conns, 3);
    char *text = (char *)sl_buf_cstr(&b);
    CHECK(parse_all(text));
    CHECK(val("sluice_connector_slot_retained_wal_bytes", WEIRD, "slot", "slot_\"x") == 3 << 20);
    CHECK(val("sluice_connector_slot_retained_wal_warn_bytes", WEIRD, "slot", "slot_\"x") == 1 << 20);
    CHECK(val("sluice_connector_slot_retained_wal_bytes", "a", "slot", "s2") == 5);
    CHECK(isnan(val("sluice_connector_slot_retained_wal_warn_bytes", "a", "slot", "s2"))); /* 0: no sample */
    CHECK(isnan(val("sluice_connector_slot_retained_wal_bytes", "c", NULL, NULL)));

    /* process and build */
    CHECK(val("sluice_process_resident_memory_bytes", NULL, NULL, NULL) > 0);
    CHECK(val("sluice_process_allocated_bytes", NULL, NULL, NULL) > 0); /* at least the buffer itself */
    CHECK(val("sluice_process_uptime_seconds", NULL, NULL, NULL) >= 0);
    CHECK(val("sluice_process_start_time_seconds", NULL, NULL, NULL) > 1.6e9);
    CHECK(val("sluice_build_info", NULL, "version", SLUICE_VERSION) == 1);

    /* values as given */
    CHECK(val("sluice_connector_records_read_total", "a", NULL, NULL) == 1234567890123.0);
    CHECK(strstr(text, "sluice_connector_records_read_total{connector=\"a\"} 1234567890123\n") != NULL);
    CHECK(val("sluice_connector_records_written_total", "a", NULL, NULL) == 1200);
    CHECK(val("sluice_connector_records_filtered_total", "a", NULL, NULL) == 3);
    CHECK(val("sluice_connector_records_failed_total", "a", NULL, NULL) == 4);
    CHECK(val("sluice_connector_records_dlq_total", "a", NULL, NULL) == 5);
    CHECK(val("sluice_connector_records_stale_total", "a", NULL, NULL) == 6);
    CHECK(val("sluice_connector_sink_waiting", "a", NULL, NULL) == 1);
    CHECK(val("sluice_connector_sink_waited_seconds_total", "a", NULL, NULL) == 2.5);
    CHECK(val("sluice_connector_bytes_read_total", "a", NULL, NULL) == 987654);
    CHECK(val("sluice_connector_bytes_written_total", "a", NULL, NULL) == 4321);
    CHECK(val("sluice_connector_source_offset_info", "a", "offset", "{\"lsn\":123,\"txId\":7}") == 1);
    CHECK(val("sluice_connector_last_error_info", "a", "error", "connection to \"db\" lost\nretrying") == 1);
    CHECK(val("sluice_connector_last_error_timestamp_seconds", "a", NULL, NULL) == 1700000001.5);
    CHECK(val("sluice_connector_batches_written_total", "a", NULL, NULL) == 12);
    CHECK(val("sluice_connector_batch_size_records_sum", "a", NULL, NULL) == 1200);
    CHECK(val("sluice_connector_batch_size_records_count", "a", NULL, NULL) == 12);
    CHECK(val("sluice_connector_queue_records", "a", NULL, NULL) == 34);
    CHECK(val("sluice_connector_queue_bytes", "a", NULL, NULL) == 5678);
    CHECK(val("sluice_connector_queue_max_records", "a", NULL, NULL) == 8192);
    CHECK(val("sluice_connector_queue_max_bytes", "a", NULL, NULL) == 16777216);
    CHECK(val("sluice_connector_offsets_committed_total", "a", NULL, NULL) == 9);
    CHECK(val("sluice_connector_reconnects_total", "a", NULL, NULL) == 2);
    CHECK(val("sluice_connector_source_lag_milliseconds", "a", NULL, NULL) == 250);
    CHECK(val("sluice_connector_last_source_timestamp_seconds", "a", NULL, NULL) == 1700000000.123);
    CHECK(!find("sluice_connector_source_behind_records", "a", NULL, NULL)); /* -1: unknown, no sample */
    CHECK(val("sluice_connector_source_behind_bytes", "a", NULL, NULL) == 4096);
    CHECK(val("sluice_connector_end_to_end_latency_seconds_sum", "a", NULL, NULL) == 123.4565);

    /* snapshot progress */
    CHECK(val("sluice_connector_snapshot_rows", "a", "table", "public.orders") == 500);
    CHECK(val("sluice_connector_snapshot_rows_estimate", "a", "table", "public.orders") == 1000);
    CHECK(val("sluice_connector_snapshot_done", "a", "table", "public.orders") == 0);
    CHECK(val("sluice_connector_snapshot_rows", "a", "table", "public.\"odd\"") == 7);
    CHECK(!find("sluice_connector_snapshot_rows_estimate", "a", "table", "public.\"odd\""));
    CHECK(val("sluice_connector_snapshot_done", "a", "table", "public.\"odd\"") == 1);

    /* state, failure, info */
    for (int s = 0; s < SL_METRICS_NSTATES; s++) {
        const char *st = sl_metrics_states[s];
        CHECK(val("sluice_connector_state", "a", "state", st) == !strcmp(st, "RUNNING"));
        CHECK(val("sluice_connector_state", WEIRD, "state", st) == !strcmp(st, "STOPPED"));
        CHECK(val("sluice_connector_state", "c", "state", st) == !strcmp(st, "FAILED"));
    }
    CHECK(val("sluice_connector_failed", "a", NULL, NULL) == 0);
    CHECK(val("sluice_connector_failed", "c", NULL, NULL) == 1);
    const sample *info = find("sluice_connector_info", "a", "source", "postgres");
    CHECK(info && info->value == 1 && !strcmp(lab(info, "sink"), "kafka"));
    CHECK(!find("sluice_connector_source_behind_bytes", "c", NULL, NULL));
    CHECK(!find("sluice_connector_source_offset_info", "c", NULL, NULL)); /* none yet: no sample */
    CHECK(!find("sluice_connector_last_error_info", "c", NULL, NULL));
    CHECK(!find("sluice_connector_last_error_timestamp_seconds", "c", NULL, NULL));

    /* escaping, and a stopped connector has state and info (and its slot's two gauges) but no counters */
    CHECK(strstr(text, "connector=\"we\\\"ird\\\\name\\nx\"") != NULL);
    CHECK(val("sluice_connector_info", WEIRD, "sink", "file") == 1);
    CHECK(val("sluice_connector_failed", WEIRD, NULL, NULL) == 0);
    CHECK(count_conn(WEIRD) == SL_METRICS_NSTATES + 2 + 2);
    CHECK(!find("sluice_connector_records_read_total", WEIRD, NULL, NULL));
    CHECK(!find("sluice_connector_end_to_end_latency_seconds_count", WEIRD, NULL, NULL));
    sl_buf_free(&b);
}

/* Buckets in bound order, cumulative, le in seconds, +Inf last and equal to _count. */
static void check_histogram(const char *conn, uint64_t want_count) {
    const char *h = "sluice_connector_end_to_end_latency_seconds_bucket";
    double prev_le = -1, prev = 0, last_le = 0, last = -1;
    int nb = 0;
    for (int i = 0; i < nS; i++) {
        const sample *s = &S[i];
        if (strcmp(s->name, h) || strcmp(lab(s, "connector"), conn)) continue;
        double le;
        CHECK(parse_value(lab(s, "le"), &le) != NULL);
        CHECK(le > prev_le);
        CHECK(s->value >= prev);
        if (!isinf(le)) CHECK(fabs(le - sl_latency_bounds_ms[nb] / 1000.0) < 1e-12);
        prev_le = last_le = le, prev = last = s->value, nb++;
    }
    CHECK(nb == SL_LATENCY_BUCKETS);
    CHECK(isinf(last_le));
    CHECK(last == (double)want_count);
    CHECK(val("sluice_connector_end_to_end_latency_seconds_count", conn, NULL, NULL) == last);
}

static void test_histogram(void) {
    sl_connector_metrics a = metrics_a(), c = {0};
    c.latency_buckets[0] = 5, c.latency_buckets[1] = 3;
    c.latency_count = 4;
    sl_metrics_conn conns[] = {{"a", "PAUSED", "s", "k", &a}, {"c", "FAILED", "s", "k", &c}};
    sl_buf b;
    sl_buf_init(&b);
    sl_metrics_render(&b, conns, 2);
    CHECK(parse_all((char *)sl_buf_cstr(&b)));
    check_histogram("a", a.latency_count);
    CHECK(val("sluice_connector_end_to_end_latency_seconds_bucket", "a", "le", "0.005") == a.latency_buckets[1]);
    check_histogram("c", 5); /* clamped: never below an earlier bucket */
    sl_buf_free(&b);
}

/* The checker itself rejects what it should (else the tests above prove nothing). */
static void test_checker(void) {
    quiet = true;
    char t1[] = "# HELP x_total h\n# TYPE x_total counter\nx_total{connector=\"a\"} 1\n";
    CHECK(parse_all(t1));
    char t2[] = "# HELP x h\n# TYPE x gauge\nx{connector=\"a\\q\"} 1\n"; /* bad escape */
    CHECK(!parse_all(t2));
    char t3[] = "# HELP x h\n# TYPE x gauge\nx 1\n# HELP x h\n# TYPE x gauge\n"; /* TYPE twice */
    CHECK(!parse_all(t3));
    char t4[] = "# HELP x h\n# TYPE x gauge\ny 1\n"; /* sample outside its family */
    CHECK(!parse_all(t4));
    char t5[] = "# HELP x h\n# TYPE x gauge\nx{a=\"1\"} one\n";
    CHECK(!parse_all(t5));
    char t6[] = "# HELP x h\n# TYPE x histogram\nx_bucket{le=\"+Inf\"} 1\nx_count 1\nx_sum 2.5\n";
    CHECK(parse_all(t6));
    char t7[] = "# HELP x h\n# TYPE x gauge\nx 1"; /* no final newline */
    CHECK(!parse_all(t7));
    quiet = false;
}

int main(void) {
    test_checker();
    test_render();
    test_histogram();
    TEST_END();
}
