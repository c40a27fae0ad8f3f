/*
 * `sluice status`: a client of a running `sluice serve`.
 *
 * Two sources, both from the daemon's REST listener: GET /connectors
 * ?expand=status&expand=info (Kafka Connect's shape: state and failure trace
 * per connector) and GET /metrics (Prometheus text: counters, lag, and the
 * source and sink names). /metrics is read twice one second apart so that
 * the written-records counter gives a rate, and each table a snapshot is
 * reading its rows/s and time left. Both answers are untrusted
 * input: bodies are capped, the exposition parser bounds every field and
 * skips lines it does not understand.
 */
#include "cli/status.h"
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rest/metrics.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define DEFAULT_URL "http://127.0.0.1:8083"
#define MAX_BODY (16 << 20)  /* bytes of one HTTP answer */
#define MAX_ROWS 100000      /* connectors */
#define MAX_LABELS 16
#define MAX_LABEL_VALUE 1024
#define RATE_WINDOW_MS 1000
#define MAX_SNAP 64 /* tables per connector whose snapshot progress is shown */

const char sl_status_usage[] =
    "usage: sluice status [--url URL] [--token TOKEN | --token-file FILE] [--json] [--no-rate]\n"
    "  Shows the connectors of a running `sluice serve`: state, source and sink, records read\n"
    "  and written, records/s written (two /metrics samples 1 s apart), source lag in ms, how far\n"
    "  the source is ahead (bytes or records, where it can tell), the first line of the\n"
    "  failure of each FAILED connector, and a warning for each replication slot that holds\n"
    "  back more WAL than its connector's slot.retained.wal.warn.bytes (in any state), and for\n"
    "  each table a snapshot is reading: rows read of the estimate, rows/s and the time left.\n"
    "  --url URL          the daemon's REST listener (default " DEFAULT_URL ")\n"
    "  --token TOKEN      bearer token (default: $SLUICE_REST_TOKEN)\n"
    "  --token-file FILE  read the token from FILE\n"
    "  --json             one JSON document instead of the table\n"
    "  --no-rate          one sample, no rate (RATE shows -)\n"
    "Exit: 0 ok, 1 the daemon cannot be reached or answered with an error, 2 bad usage.\n";

typedef struct opts {
    const char *url, *token, *token_file;
    bool json, no_rate;
} opts;

/* A table a snapshot reads (the sluice_connector_snapshot_* families); numbers NAN when unknown. */
typedef struct snap {
    char *table;
    double rows, rows_prev, est, done, chunks, chunks_done, rate;
} snap;

/* One connector as shown; numbers are NAN when unknown. */
typedef struct row {
    char *name, *state, *source, *sink, *error; /* owned; error: first line of the trace */
    double read, written, lag_ms, written_prev, rate;
    double behind_bytes, behind_records; /* where the source can tell */
    char *slot;                          /* owned; the replication slot, where the source has one */
    double retained, retained_warn;      /* WAL the slot holds back, and the threshold of the warning */
    snap *snap;                          /* owned */
    int nsnap;
} row;

typedef struct table {
    row *r;
    int n, cap;
} table;

/* ---- rows ---- */

static void set_str(char **dst, const char *s, size_t n) {
    sl_free(*dst);
    *dst = sl_strndup(s, n);
}

static row *row_get(table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->r[i].name, name)) return &t->r[i];
    if (t->n == MAX_ROWS) return NULL;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->r = sl_realloc(t->r, (size_t)t->cap * sizeof *t->r);
    }
    row *r = &t->r[t->n++];
    memset(r, 0, sizeof *r);
    r->name = sl_strdup(name);
    r->read = r->written = r->lag_ms = r->written_prev = r->rate = r->behind_bytes = r->behind_records = NAN;
    r->retained = r->retained_warn = NAN;
    return r;
}

static void table_free(table *t) {
    for (int i = 0; i < t->n; i++) {
        row *r = &t->r[i];
        sl_free(r->name), sl_free(r->state), sl_free(r->source), sl_free(r->sink), sl_free(r->error);
        sl_free(r->slot);
        for (int k = 0; k < r->nsnap; k++) sl_free(r->snap[k].table);
        sl_free(r->snap);
    }
    sl_free(t->r);
}

static int row_cmp(const void *a, const void *b) { return strcmp(((const row *)a)->name, ((const row *)b)->name); }

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    sl_buf *b = arg;
    if (b->len + n > MAX_BODY) return 0; /* aborts the transfer */
    sl_buf_put(b, p, n);
    return n;
}

/*
 * GET base+path into body. Returns 0 on HTTP 200; -1 when the daemon cannot
 * be reached, -2 when it answered with another status (*code), with the
 * reason in err.
 */
static int http_get(const char *url, const char *token, sl_buf *body, long *code, char *err, size_t errsz) {
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = NULL;
    char *auth = NULL;
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errsz, "cannot initialise libcurl");
        return -1;
    }
    if (token && *token) {
        size_t n = strlen(token) + 32;
        auth = sl_malloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
    }
    hdr = curl_slist_append(hdr, "Accept: application/json, text/plain");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    *code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    sl_free(auth);
    if (rc == CURLE_WRITE_ERROR) snprintf(err, errsz, "answer larger than %d bytes", MAX_BODY);
    else if (rc != CURLE_OK) snprintf(err, errsz, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
    else if (*code != 200) snprintf(err, errsz, "HTTP %ld%s", *code,
                                    *code == 401 || *code == 403
                                        ? " (not authorized: give --token, --token-file or $SLUICE_REST_TOKEN)"
                                        : "");
    return rc != CURLE_OK ? -1 : *code != 200 ? -2 : 0;
}

/* ---- /metrics ---- */

typedef struct prom_sample {
    char name[128];
    int nl;
    char key[MAX_LABELS][64];
    char val[MAX_LABELS][MAX_LABEL_VALUE];
    double value;
} prom_sample;

static const char *label_of(const prom_sample *s, const char *k) {
    for (int i = 0; i < s->nl; i++)
        if (!strcmp(s->key[i], k)) return s->val[i];
    return NULL;
}

/* Copies a metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*) at p; NULL if none or too long. */
static const char *read_name(const char *p, const char *end, char *out, size_t n) {
    size_t i = 0;
    while (p + i < end && i + 1 < n &&
           ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_' || p[i] == ':' ||
            (i && p[i] >= '0' && p[i] <= '9'))) {
        out[i] = p[i];
        i++;
    }
    out[i] = 0;
    return i && (p + i == end || i + 1 < n) ? p + i : NULL;
}

/* True if s is valid UTF-8 (the JSON output could not carry it otherwise). */
static bool utf8_valid(const unsigned char *s) {
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 && *s >= 0xC2 ? 1 : (*s & 0xF0) == 0xE0 ? 2
              : (*s & 0xF8) == 0xF0 && *s <= 0xF4 ? 3 : -1;
        if (n < 0) return false;
        for (s++; n > 0; n--, s++)
            if ((*s & 0xC0) != 0x80) return false;
    }
    return true;
}

static const char *read_label_value(const char *p, const char *end, char *out, size_t n) {
    size_t i = 0;
    if (p == end || *p++ != '"') return NULL;
    for (; p < end && *p != '"'; p++) {
        if (i + 1 >= n) return NULL;
        if (*p == '\\' && p + 1 < end) {
            p++;
            out[i++] = *p == 'n' ? '\n' : *p;
        } else out[i++] = *p;
    }
    out[i] = 0;
    return p < end && utf8_valid((const unsigned char *)out) ? p + 1 : NULL;
}

static const char *read_labels(const char *p, const char *end, prom_sample *s) {
    p++; /* '{' */
    while (p < end && *p != '}') {
        if (s->nl == MAX_LABELS) return NULL;
        if (!(p = read_name(p, end, s->key[s->nl], sizeof s->key[0])) || p == end || *p++ != '=') return NULL;
        if (!(p = read_label_value(p, end, s->val[s->nl], sizeof s->val[0]))) return NULL;
        s->nl++;
        if (p < end && *p == ',') p++;
    }
    return p < end ? p + 1 : NULL;
}

/* One sample line [p, end): name{labels} value [timestamp]. False if it is not one. */
static bool parse_sample(const char *p, const char *end, prom_sample *s) {
    s->nl = 0;
    if (!(p = read_name(p, end, s->name, sizeof s->name))) return false;
    if (p < end && *p == '{' && !(p = read_labels(p, end, s))) return false;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    char num[64];
    size_t n = 0;
    while (p + n < end && p[n] != ' ' && n + 1 < sizeof num) num[n] = p[n], n++;
    num[n] = 0;
    char *e;
    s->value = strtod(num, &e);
    return n && *e == 0;
}

static snap *snap_get(row *r, const char *table) {
    for (int k = 0; k < r->nsnap; k++)
        if (!strcmp(r->snap[k].table, table)) return &r->snap[k];
    if (r->nsnap == MAX_SNAP) return NULL;
    r->snap = sl_realloc(r->snap, (size_t)(r->nsnap + 1) * sizeof *r->snap);
    snap *p = &r->snap[r->nsnap++];
    *p = (snap){sl_strdup(table), NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    return p;
}

/* The sluice_connector_snapshot_* samples: true when s was one. */
static bool apply_snapshot(table *t, const prom_sample *s, const char *conn) {
    static const char *const names[] = {SL_M_SNAPSHOT_ROWS, SL_M_SNAPSHOT_ROWS_ESTIMATE, SL_M_SNAPSHOT_DONE,
                                        SL_M_SNAPSHOT_CHUNKS, SL_M_SNAPSHOT_CHUNKS_DONE};
    int which = -1;
    for (int i = 0; i < 5 && which < 0; i++)
        if (!strcmp(s->name, names[i])) which = i;
    const char *tb = label_of(s, "table");
    row *r;
    snap *p;
    if (which < 0 || !tb || !(r = row_get(t, conn)) || !(p = snap_get(r, tb))) return which >= 0;
    double *field[] = {&p->rows, &p->est, &p->done, &p->chunks, &p->chunks_done};
    *field[which] = s->value;
    return true;
}

static void apply_sample(table *t, const prom_sample *s) {
    const char *conn = label_of(s, "connector");
    bool state = !strcmp(s->name, SL_M_STATE), info = !strcmp(s->name, SL_M_INFO);
    bool read = !strcmp(s->name, SL_M_RECORDS_READ), written = !strcmp(s->name, SL_M_RECORDS_WRITTEN);
    bool lag = !strcmp(s->name, SL_M_SOURCE_LAG_MS);
    bool bbytes = !strcmp(s->name, SL_M_BEHIND_BYTES), brecs = !strcmp(s->name, SL_M_BEHIND_RECORDS);
    bool held = !strcmp(s->name, SL_M_SLOT_RETAINED), warn = !strcmp(s->name, SL_M_SLOT_RETAINED_WARN);
    row *r;
    if (conn && apply_snapshot(t, s, conn)) return;
    if (!conn || !(state || info || read || written || lag || bbytes || brecs || held || warn) ||
        !(r = row_get(t, conn)))
        return;
    const char *st = label_of(s, "state"), *src = label_of(s, "source"), *snk = label_of(s, "sink");
    if (state && st && s->value == 1 && !r->state) set_str(&r->state, st, strlen(st));
    if (info && src) set_str(&r->source, src, strlen(src));
    if (info && snk) set_str(&r->sink, snk, strlen(snk));
    if (read) r->read = s->value;
    if (written) r->written = s->value;
    if (lag) r->lag_ms = s->value;
    if (bbytes) r->behind_bytes = s->value;
    if (brecs) r->behind_records = s->value;
    const char *slot = label_of(s, "slot");
    if ((held || warn) && slot) set_str(&r->slot, slot, strlen(slot));
    if (held) r->retained = s->value;
    if (warn) r->retained_warn = s->value;
}

static void parse_metrics(table *t, const char *text, size_t len) {
    prom_sample *s = sl_malloc(sizeof *s);
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (*p != '#' && parse_sample(p, eol, s)) apply_sample(t, s);
        p = eol + 1;
    }
    sl_free(s);
}

/* ---- /connectors?expand=status&expand=info ---- */

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void set_error(row *r, const char *trace) {
    if (!trace || r->error) return;
    set_str(&r->error, trace, strcspn(trace, "\n"));
}

/* Kafka Connect's status: the connector's state, FAILED if a task failed, and the trace. */
static void apply_status(row *r, json_t *status) {
    json_t *conn = json_object_get(status, "connector"), *tasks = json_object_get(status, "tasks"), *task;
    const char *st = jstr(conn, "state");
    size_t i;
    if (st) set_str(&r->state, st, strlen(st));
    set_error(r, jstr(conn, "trace"));
    json_array_foreach(tasks, i, task) {
        const char *ts = jstr(task, "state");
        if (!ts || strcmp(ts, "FAILED")) continue;
        set_str(&r->state, ts, strlen(ts));
        set_error(r, jstr(task, "trace"));
    }
}

/* Where /metrics did not name them: connector.class (its last dotted part) and sink.type. */
static void apply_info(row *r, json_t *info) {
    json_t *cfg = json_object_get(info, "config");
    const char *cls = jstr(cfg, "connector.class"), *sink = jstr(cfg, "sink.type");
    if (cls && !r->source) {
        const char *dot = strrchr(cls, '.');
        cls = dot ? dot + 1 : cls;
        set_str(&r->source, cls, strlen(cls));
    }
    if (sink && !r->sink) set_str(&r->sink, sink, strlen(sink));
}

static int parse_connectors(table *t, const char *text, size_t len, char *err, size_t errsz) {
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr), *v;
    const char *name;
    size_t i;
    row *r;
    if (!json_is_object(root) && !json_is_array(root)) {
        snprintf(err, errsz, "not a JSON object or array: %s", root ? "unexpected type" : jerr.text);
        json_decref(root);
        return -1;
    }
    json_object_foreach(root, name, v) { /* expanded: {"name": {"status": ..., "info": ...}} */
        if (!(r = row_get(t, name))) break;
        apply_status(r, json_object_get(v, "status"));
        apply_info(r, json_object_get(v, "info"));
    }
    json_array_foreach(root, i, v) /* plain: ["name", ...] */
        if (json_is_string(v)) row_get(t, json_string_value(v));
    json_decref(root);
    return 0;
}

/* ---- output ---- */

static void fmt_num(char *s, size_t n, double v) {
    if (isnan(v)) snprintf(s, n, "-");
    else if (v < 10 && v != floor(v)) snprintf(s, n, "%.1f", v);
    else snprintf(s, n, "%.0f", v);
}

/* Display width of UTF-8 text (code points; the arrow is one column). */
static int width(const char *s) {
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Bytes as B, kB, MB, GB or TB. */
static void fmt_bytes(char *s, size_t n, double b) {
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int k = 0;
    while (b >= 1000 && k < 4) b /= 1000, k++;
    if (k == 0) snprintf(s, n, "%.0fB", b);
    else snprintf(s, n, "%.1f%s", b, u[k]);
}

/* How far the source is ahead: bytes (B, kB, MB, GB) or records ("rec"), "-" when unknown. */
static void fmt_behind(char *s, size_t n, const row *r) {
    if (!isnan(r->behind_bytes)) fmt_bytes(s, n, r->behind_bytes);
    else if (!isnan(r->behind_records)) snprintf(s, n, "%.0frec", r->behind_records);
    else snprintf(s, n, "-");
}

/* The warning about a slot that holds back more WAL than slot.retained.wal.warn.bytes; false when none is due. */
static bool retained_warning(char *s, size_t n, const row *r) {
    if (!r->slot || isnan(r->retained) || isnan(r->retained_warn) || r->retained_warn <= 0 ||
        r->retained <= r->retained_warn)
        return false;
    char held[32], warn[32];
    fmt_bytes(held, sizeof held, r->retained), fmt_bytes(warn, sizeof warn, r->retained_warn);
    bool running = r->state && !strcmp(r->state, "RUNNING");
    snprintf(s, n, "slot %s holds back %s of WAL (over slot.retained.wal.warn.bytes, %s): %s", r->slot, held, warn,
             running ? "the connector is far behind"
                     : "resume the connector, or drop the slot if it is not coming back (the server keeps the WAL "
                       "until then)");
    return true;
}

static void flow(char *s, size_t n, const row *r) {
    snprintf(s, n, "%s \xe2\x86\x92 %s", r->source ? r->source : "?", r->sink ? r->sink : "?");
}

/* "public.orders: 1234567 of ~2000000 rows (61%), 8/20 chunks, 350000 rows/s, 2s left" (snapshot not done). */
static bool snap_line(char *s, size_t n, const snap *p) {
    if (p->done == 1 || isnan(p->rows)) return false;
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "%s: %.0f", p->table, p->rows);
    if (!isnan(p->est) && p->est > 0)
        sl_buf_printf(&b, " of ~%.0f rows (%.0f%%)", p->est, p->rows < p->est ? 100.0 * p->rows / p->est : 99.0);
    else sl_buf_puts(&b, " rows");
    if (!isnan(p->chunks) && p->chunks > 0) sl_buf_printf(&b, ", %.0f/%.0f chunks", p->chunks_done, p->chunks);
    if (!isnan(p->rate)) {
        sl_buf_printf(&b, ", %.0f rows/s", p->rate);
        if (p->rate > 0 && !isnan(p->est) && p->est > p->rows) sl_buf_printf(&b, ", %.0fs left", (p->est - p->rows) / p->rate);
    }
    snprintf(s, n, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    return true;
}

static void print_table(const table *t) {
    int wn = 4, ws = 5, wf = 13;
    char f[512];
    for (int i = 0; i < t->n; i++) {
        const row *r = &t->r[i];
        flow(f, sizeof f, r);
        if (width(r->name) > wn) wn = width(r->name);
        if (r->state && width(r->state) > ws) ws = width(r->state);
        if (width(f) > wf) wf = width(f);
    }
    printf("%-*s  %-*s  SOURCE \xe2\x86\x92 SINK%*s  %12s  %12s  %8s  %8s  %9s\n", wn, "NAME", ws, "STATE", wf - 13,
           "", "READ", "WRITTEN", "RATE", "LAG(ms)", "BEHIND");
    for (int i = 0; i < t->n; i++) {
        const row *r = &t->r[i];
        char rd[32], wr[32], rt[32], lg[32], bh[32];
        fmt_num(rd, sizeof rd, r->read), fmt_num(wr, sizeof wr, r->written);
        fmt_num(rt, sizeof rt, r->rate), fmt_num(lg, sizeof lg, r->lag_ms);
        fmt_behind(bh, sizeof bh, r);
        flow(f, sizeof f, r);
        printf("%s%*s  %-*s  %s%*s  %12s  %12s  %8s  %8s  %9s\n", r->name, wn - width(r->name), "", ws,
               r->state ? r->state : "?", f, wf - width(f), "", rd, wr, rt, lg, bh);
        if (r->error && r->state && !strcmp(r->state, "FAILED")) printf("    error: %s\n", r->error);
        char w[512];
        if (retained_warning(w, sizeof w, r)) printf("    warning: %s\n", w);
        for (int k = 0; k < r->nsnap; k++)
            if (snap_line(w, sizeof w, &r->snap[k])) printf("    snapshot: %s\n", w);
    }
    if (!t->n) printf("(no connectors)\n");
}

static json_t *jnum(double v) { return isnan(v) ? json_null() : json_real(v); }
static json_t *jint(double v) { return isnan(v) ? json_null() : json_integer((json_int_t)v); }
static json_t *jstrn(const char *s) { return s ? json_string(s) : json_null(); }

static void print_json(const table *t, const char *url) {
    json_t *arr = json_array();
    for (int i = 0; i < t->n; i++) {
        const row *r = &t->r[i];
        bool failed = r->state && !strcmp(r->state, "FAILED");
        char w[512];
        bool warned = retained_warning(w, sizeof w, r);
        json_t *snaps = json_array();
        for (int k = 0; k < r->nsnap; k++) {
            const snap *p = &r->snap[k];
            bool left = p->rate > 0 && !isnan(p->est) && p->est > p->rows && p->done != 1;
            json_array_append_new(snaps, json_pack("{s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o}", "table", p->table,
                                                   "rows", jint(p->rows), "rows_estimate", jint(p->est), "done",
                                                   p->done == 1, "chunks", jint(p->chunks), "chunks_done",
                                                   jint(p->chunks_done), "rows_per_s", jnum(p->rate), "seconds_left",
                                                   left ? jnum((p->est - p->rows) / p->rate) : json_null()));
        }
        json_array_append_new(
            arr, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", r->name,
                           "state", jstrn(r->state), "source", jstrn(r->source), "sink", jstrn(r->sink),
                           "records_read", jint(r->read), "records_written", jint(r->written), "rate", jnum(r->rate),
                           "lag_ms", jint(r->lag_ms), "behind_bytes", jint(r->behind_bytes), "behind_records",
                           jint(r->behind_records), "slot", jstrn(r->slot), "slot_retained_wal_bytes",
                           jint(r->retained), "error", jstrn(failed ? r->error : NULL), "warning",
                           jstrn(warned ? w : NULL)));
        json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "snapshot", snaps);
    }
    json_t *doc = json_pack("{s:s, s:o}", "url", url, "connectors", arr);
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) printf("%s\n", s);
    free(s);
    json_decref(doc);
}

/* ---- the command ---- */

static int parse_opts(int argc, char **argv, opts *o) {
    static const struct option lo[] = {{"url", required_argument, NULL, 'u'},
                                       {"token", required_argument, NULL, 't'},
                                       {"token-file", required_argument, NULL, 'f'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"no-rate", no_argument, NULL, 'n'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    /* getopt wants argv[0] to be the program: run it on a copy that has one. */
    char **av = sl_calloc((size_t)argc + 2, sizeof *av);
    av[0] = "sluice status";
    memcpy(av + 1, argv, (size_t)argc * sizeof *av);
    int c, rc = 0;
    optind = 0, opterr = 0; /* 0: glibc's full reset */
    while (rc == 0 && (c = getopt_long(argc + 1, av, ":h", lo, NULL)) != -1) {
        if (c == 'u') o->url = optarg;
        else if (c == 't') o->token = optarg;
        else if (c == 'f') o->token_file = optarg;
        else if (c == 'j') o->json = true;
        else if (c == 'n') o->no_rate = true;
        else if (c == 'h') rc = 1;
        else if (c == ':') {
            fprintf(stderr, "sluice status: option '%s' needs a value\n", av[optind - 1]);
            rc = 2;
        } else {
            fprintf(stderr, "sluice status: bad option '%s'\n", av[optind - 1]);
            rc = 2;
        }
    }
    if (rc == 0 && optind < argc + 1) fprintf(stderr, "sluice status: unexpected argument '%s'\n", av[optind]), rc = 2;
    if (rc == 0 && o->token && o->token_file)
        fprintf(stderr, "sluice status: give --token or --token-file, not both\n"), rc = 2;
    sl_free(av);
    return rc;
}

/* The token from --token-file: its first line. NULL (message printed) if unreadable. */
static char *read_token(const char *path) {
    FILE *f = fopen(path, "r");
    char s[4096];
    if (!f || !fgets(s, sizeof s, f)) {
        fprintf(stderr, "sluice status: cannot read token file %s: %s\n", path, f ? "empty" : strerror(errno));
        if (f) fclose(f);
        return NULL;
    }
    fclose(f);
    size_t n = strcspn(s, "\r\n");
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return sl_strndup(s, n);
}

/* GET one path; on failure prints why (naming the URL) and returns 1. */
static int get(const char *base, const char *path, const char *token, sl_buf *body) {
    char url[2048], err[CURL_ERROR_SIZE + 128];
    long code;
    snprintf(url, sizeof url, "%s%s", base, path);
    sl_buf_reset(body);
    int rc = http_get(url, token, body, &code, err, sizeof err);
    if (rc == -1) fprintf(stderr, "sluice status: cannot reach the sluice daemon at %s (is `sluice serve` running?): %s\n", base, err);
    else if (rc == -2) fprintf(stderr, "sluice status: %s answered %s\n", url, err);
    return rc ? 1 : 0;
}

/* Reads /metrics into t; a second call turns written into written_prev and sets rate. */
static int sample_metrics(table *t, const char *base, const char *token, sl_buf *body, bool second, int64_t dt_ms) {
    if (get(base, "/metrics", token, body)) return 1;
    for (int i = 0; second && i < t->n; i++) {
        t->r[i].written_prev = t->r[i].written, t->r[i].written = NAN;
        for (int k = 0; k < t->r[i].nsnap; k++) t->r[i].snap[k].rows_prev = t->r[i].snap[k].rows;
    }
    parse_metrics(t, body->data ? body->data : "", body->len);
    double secs = (double)(dt_ms > 0 ? dt_ms : 1) / 1000.0;
    for (int i = 0; second && i < t->n; i++) {
        row *r = &t->r[i];
        if (!isnan(r->written) && !isnan(r->written_prev) && r->written >= r->written_prev)
            r->rate = (r->written - r->written_prev) / secs;
        for (int k = 0; k < r->nsnap; k++) {
            snap *p = &r->snap[k];
            if (!isnan(p->rows) && !isnan(p->rows_prev) && p->rows >= p->rows_prev)
                p->rate = (p->rows - p->rows_prev) / secs;
        }
    }
    return 0;
}

static int run(const opts *o, const char *base, const char *token) {
    table t = {0};
    sl_buf body;
    char err[512];
    int rc = 1;
    sl_buf_init(&body);
    if (get(base, "/connectors?expand=status&expand=info", token, &body)) goto out;
    if (parse_connectors(&t, body.data ? body.data : "", body.len, err, sizeof err) < 0) {
        fprintf(stderr, "sluice status: %s/connectors: %s\n", base, err);
        goto out;
    }
    int64_t t0 = sl_mono_ms();
    if (sample_metrics(&t, base, token, &body, false, 0)) goto out;
    if (!o->no_rate) {
        sl_sleep_ms(RATE_WINDOW_MS, NULL);
        if (sample_metrics(&t, base, token, &body, true, sl_mono_ms() - t0)) goto out;
    }
    if (t.n) qsort(t.r, (size_t)t.n, sizeof *t.r, row_cmp);
    if (o->json) print_json(&t, base);
    else print_table(&t);
    rc = 0;
out:
    sl_buf_free(&body);
    table_free(&t);
    return rc;
}

int sl_cmd_status(int argc, char **argv) {
    opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc == 1) fputs(sl_status_usage, stdout);
    if (rc == 2) fprintf(stderr, "%.*s", (int)strcspn(sl_status_usage, "\n") + 1, sl_status_usage);
    if (rc) return rc == 1 ? 0 : 2;
    char *token = NULL;
    if (o.token_file && !(token = read_token(o.token_file))) return 2;
    if (!token) token = sl_strdup(o.token ? o.token : getenv("SLUICE_REST_TOKEN") ? getenv("SLUICE_REST_TOKEN") : "");
    char *base = sl_strdup(o.url ? o.url : DEFAULT_URL);
    for (size_t n = strlen(base); n && base[n - 1] == '/'; n--) base[n - 1] = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = run(&o, base, token);
    curl_global_cleanup();
    sl_free(base);
    sl_free(token);
    return rc;
}
