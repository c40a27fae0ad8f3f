/*
 * Incremental snapshots: the part the sources share (see isnap.h). The
 * signals (Debezium's):
 *   execute-snapshot  {"data-collections": [regex, ...], "type": "incremental",
 *                      "additional-conditions": [{"data-collection", "filter"}],
 *                      "surrogate-key": column}: the captured tables whose
 *                      name a regex matches (whole) are queued;
 *   stop-snapshot     {"data-collections": [...]}: those (or all) leave the queue;
 *   pause-snapshot, resume-snapshot; log {"message"}.
 * A table is read in chunks of incremental.snapshot.chunk.size rows in key
 * order, up to the largest key it held when its turn came.
 */
#include "ctx/isnap.h"
#include "core/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

sl_isnap *sl_isnap_new(sl_ctx *ctx, const char *fac) {
    sl_isnap *z = sl_calloc(1, sizeof *z);
    z->ctx = ctx;
    z->fac = fac;
    sl_arena_init(&z->arena);
    sl_buf_init(&z->offset);
    sl_buf_init(&z->scratch);
    snprintf(z->nonce, sizeof z->nonce, "%016" PRIx64, (uint64_t)sl_wall_us() ^ ((uint64_t)(uintptr_t)z << 16));
    return z;
}

/* ---- keys ---- */

static uint64_t fnv(const char *p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* A key's hash from its values (NULL value: absent). */
static uint64_t key_hash(int n, const char *const *v, const size_t *len) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = v[i] ? fnv(v[i], len[i], h * 31 + 1) : h * 31 + 7;
    return h;
}

static bool cell_null(const sl_cell *c) { return (c->flags & SL_CELL_NULL) != 0; }

static bool row_key_is(const sl_isnap *z, int row, const char *const *v, const size_t *len) {
    for (int i = 0; i < z->nkeys; i++) {
        const sl_cell *c = &z->rows[row][z->keys[i]];
        if (cell_null(c) != (v[i] == NULL)) return false;
        if (!cell_null(c) && (c->len != len[i] || memcmp(c->data, v[i], len[i]) != 0)) return false;
    }
    return true;
}

static uint64_t row_hash(const sl_isnap *z, int row) {
    const char *v[32];
    size_t len[32];
    for (int i = 0; i < z->nkeys; i++) {
        const sl_cell *c = &z->rows[row][z->keys[i]];
        v[i] = cell_null(c) ? NULL : c->data;
        len[i] = c->len;
    }
    return key_hash(z->nkeys, v, len);
}

/* Drops the chunk row whose key is v (a newer change of it). */
static void drop_key(sl_isnap *z, const char *const *v, const size_t *len) {
    uint32_t at = (uint32_t)key_hash(z->nkeys, v, len) & (z->nslots - 1);
    for (; z->slots[at]; at = (at + 1) & (z->nslots - 1)) {
        int row = (int)z->slots[at] - 1;
        if (row_key_is(z, row, v, len)) {
            z->gone[row] = true;
            return;
        }
    }
}

static void free_keys(char **k, int n) {
    if (!k) return;
    for (int i = 0; i < n; i++) sl_free(k[i]);
    sl_free(k);
}

static json_t *keys_json(char **k, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, k[i] ? json_string(k[i]) : json_null());
    return a;
}

static char **keys_from_json(const json_t *a, int *n) {
    *n = json_is_array(a) ? (int)json_array_size(a) : 0;
    if (!*n) return NULL;
    char **k = sl_calloc((size_t)*n + 1, sizeof *k);
    for (int i = 0; i < *n; i++) {
        const json_t *v = json_array_get(a, (size_t)i);
        k[i] = json_is_string(v) ? sl_strdup(json_string_value(v)) : NULL;
    }
    return k;
}

/* ---- the chunk ---- */

void sl_isnap_chunk_begin(sl_isnap *z) {
    sl_arena_free(&z->arena);
    sl_arena_init(&z->arena);
    z->nrows = 0;
    z->in_flight = false;
}

sl_cell *sl_isnap_chunk_row(sl_isnap *z) {
    if (z->nrows == z->rows_cap) {
        z->rows_cap = z->rows_cap ? z->rows_cap * 2 : 256;
        z->rows = sl_realloc(z->rows, sizeof *z->rows * (size_t)z->rows_cap);
    }
    size_t n = (size_t)(z->t->ncols + z->nkeys);
    sl_cell *c = sl_arena_alloc(&z->arena, sizeof *c * (n ? n : 1));
    memset(c, 0, sizeof *c * (n ? n : 1));
    return z->rows[z->nrows++] = c;
}

void sl_isnap_chunk_ready(sl_isnap *z) {
    z->nslots = 16;
    while (z->nslots < (uint32_t)z->nrows * 2) z->nslots *= 2;
    sl_free(z->slots), sl_free(z->gone);
    z->slots = sl_calloc(z->nslots, sizeof *z->slots);
    z->gone = sl_calloc((size_t)z->nrows + 1, sizeof *z->gone);
    for (int r = 0; r < z->nrows; r++) {
        uint32_t at = (uint32_t)row_hash(z, r) & (z->nslots - 1);
        while (z->slots[at]) at = (at + 1) & (z->nslots - 1);
        z->slots[at] = (uint32_t)r + 1;
    }
    z->in_flight = true;
}

void sl_isnap_on_change(sl_isnap *z, const sl_table *t, const sl_cell *before, const sl_cell *after) {
    if (!z->in_flight || !z->t) return;
    const char *v[32];
    size_t len[32];
    for (int side = 0; side < 2; side++) {
        const sl_cell *cells = side ? after : before;
        if (!cells) continue;
        bool ok = true;
        for (int i = 0; i < z->nkeys && ok; i++) {
            const char *name = z->t->cols[z->keys[i]].name;
            int at = -1;
            for (int k = 0; k < t->ncols && at < 0; k++)
                if (strcmp(t->cols[k].name, name) == 0) at = k;
            if (at < 0) ok = false;
            else if (cell_null(&cells[at])) v[i] = NULL, len[i] = 0;
            else v[i] = cells[at].data, len[i] = cells[at].len;
        }
        if (ok) drop_key(z, v, len);
    }
}

void sl_isnap_drop_all(sl_isnap *z) {
    for (int i = 0; z->in_flight && i < z->nrows; i++) z->gone[i] = true;
}

/* ---- the queue ---- */

static int nonblocking(const sl_isnap *z) {
    int n = 0;
    for (int i = 0; i < z->ncolls; i++) n += !z->colls[i].blocking;
    return n;
}

static void end_table(sl_isnap *z) {
    sl_isnap_chunk_begin(z);
    sl_table_unref(z->t);
    z->t = NULL;
    sl_free(z->keys), z->keys = NULL;
    free_keys(z->last, z->nkeys), z->last = NULL;
    free_keys(z->max, z->nkeys), z->max = NULL;
    z->nkeys = 0;
    z->rows_done = 0;
}

static void drop_coll(sl_isnap *z, int i) {
    if (i == 0) end_table(z);
    sl_free(z->colls[i].fq), sl_free(z->colls[i].cond), sl_free(z->colls[i].skey);
    memmove(&z->colls[i], &z->colls[i + 1], sizeof *z->colls * (size_t)(z->ncolls - i - 1));
    z->ncolls--;
    if (z->ncolls == 0) sl_free(z->id), z->id = NULL;
}

static void add_coll(sl_isnap *z, const char *fq, const char *cond, const char *skey, bool blocking) {
    for (int i = 0; i < z->ncolls; i++)
        if (strcmp(z->colls[i].fq, fq) == 0 && z->colls[i].blocking == blocking) return; /* already queued */
    z->colls = sl_realloc(z->colls, sizeof *z->colls * (size_t)(z->ncolls + 1));
    sl_isnap_coll c = {sl_strdup(fq), cond && *cond ? sl_strdup(cond) : NULL, skey && *skey ? sl_strdup(skey) : NULL,
                       blocking};
    if (blocking) { /* ahead of the incremental ones (after the table being read): the stream waits for it */
        int at = z->t ? 1 : 0;
        while (at < z->ncolls && z->colls[at].blocking) at++;
        memmove(&z->colls[at + 1], &z->colls[at], sizeof *z->colls * (size_t)(z->ncolls - at));
        z->colls[at] = c;
        z->ncolls++;
        return;
    }
    z->colls[z->ncolls++] = c;
}

int sl_isnap_new_tables(sl_isnap *z, const sl_isnap_ops *ops, void *src, const json_t *offset,
                        const char *const *filters, bool snapshotting, char *errstr, size_t errsz) {
    json_t *now = json_object();
    for (int i = 0; filters[i]; i += 2) json_object_set_new(now, filters[i], json_string(filters[i + 1] ? filters[i + 1] : ""));
    char *text = json_dumps(now, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(now);
    sl_free(z->captured);
    z->captured = sl_strdup(text);
    free(text);
    const char *stored = json_string_value(json_object_get(offset, "captured_tables"));
    if (!stored || strcmp(stored, z->captured) == 0 || snapshotting) return 0;
    char **names = NULL;
    int n = 0, added = 0;
    int rc = ops->tables(src, &names, &n, errstr, errsz);
    bool *was = sl_calloc((size_t)(n ? n : 1), sizeof *was);
    if (rc == 0 && n) {
        json_t *old = json_loads(stored, 0, NULL);
        rc = ops->was_captured(src, old, names, n, was, errstr, errsz);
        json_decref(old);
    }
    for (int i = 0; i < n; i++) {
        if (rc == 0 && !was[i]) {
            sl_isnap_queue(z, "snapshot.new.tables", names[i], NULL, NULL);
            SL_INFO(z->fac, "snapshot.new.tables=incremental: %s is captured now and was not: incremental snapshot "
                            "queued", names[i]);
            added++;
        }
        sl_free(names[i]);
    }
    sl_free(names);
    sl_free(was);
    if (rc == 0 && !added) SL_INFO(z->fac, "snapshot.new.tables=incremental: the table filters changed, no table was added");
    return rc;
}

void sl_isnap_queue(sl_isnap *z, const char *id, const char *fq, const char *cond, const char *skey) {
    if (!z->id) z->id = sl_strdup(id);
    add_coll(z, fq, cond, skey, false);
}

/* ---- signals ---- */

/* The additional condition for table fq: Debezium 2's additional-conditions list, or 1.x's additional-condition. */
static const char *condition_for(const json_t *data, const char *fq) {
    const json_t *list = json_object_get(data, "additional-conditions");
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
        const json_t *c = json_array_get(list, i);
        const char *dc = json_string_value(json_object_get(c, "data-collection"));
        if (dc && strcmp(dc, fq) == 0) return json_string_value(json_object_get(c, "filter"));
    }
    return json_string_value(json_object_get(data, "additional-condition"));
}

/* Queues the captured tables whose name one of execute-snapshot's data-collections regexes matches. */
static int queue_matching(sl_isnap *z, const sl_isnap_ops *ops, void *src, const json_t *d, bool blocking,
                          char *errstr, size_t errsz) {
    const json_t *colls = json_object_get(d, "data-collections");
    const char *skey = json_string_value(json_object_get(d, "surrogate-key"));
    char **names = NULL;
    int n = 0;
    if (ops->tables(src, &names, &n, errstr, errsz) < 0) return -1;
    for (size_t k = 0; k < json_array_size(colls); k++) {
        const char *re = json_string_value(json_array_get(colls, k));
        if (!re) continue;
        char *anch = sl_malloc(strlen(re) + 5);
        sprintf(anch, "^(%s)$", re);
        regex_t rx;
        int rc = regcomp(&rx, anch, REG_EXTENDED | REG_NOSUB);
        sl_free(anch);
        if (rc != 0) {
            SL_ERR(z->fac, "snapshot signal: data-collections entry '%s' is not a regular expression", re);
            continue;
        }
        bool hit = false;
        for (int i = 0; i < n; i++)
            if (regexec(&rx, names[i], 0, NULL, 0) == 0)
                hit = true, add_coll(z, names[i], condition_for(d, names[i]), skey, blocking);
        regfree(&rx);
        if (!hit)
            SL_WARN(z->fac, "snapshot signal: data-collections entry '%s' matches no table the connector captures", re);
    }
    free_keys(names, n);
    return 0;
}

static void execute_snapshot(sl_isnap *z, const sl_isnap_ops *ops, void *src, const sl_signal *sig) {
    const json_t *d = sig->data;
    const json_t *colls = json_object_get(d, "data-collections");
    const char *type = json_string_value(json_object_get(d, "type"));
    if (!json_is_array(colls) || json_array_size(colls) == 0) {
        SL_ERR(z->fac, "signal %s (execute-snapshot) ignored: data.data-collections must be a non-empty array of "
                       "table names or regexes", sig->id);
        return;
    }
    if (type && strcasecmp(type, "incremental") != 0 && strcasecmp(type, "blocking") != 0) {
        SL_ERR(z->fac, "signal %s (execute-snapshot) ignored: type '%s' is not supported (allowed: incremental, "
                       "blocking)", sig->id, type);
        return;
    }
    bool blocking = type && strcasecmp(type, "blocking") == 0;
    char err[512];
    int before = z->ncolls;
    if (queue_matching(z, ops, src, d, blocking, err, sizeof err) < 0) {
        SL_ERR(z->fac, "signal %s (execute-snapshot) ignored: %s", sig->id, err);
        return;
    }
    if (z->ncolls > before && !z->id && !blocking) z->id = sl_strdup(sig->id);
    SL_INFO(z->fac, "%s snapshot requested by signal %s: %d table(s) queued, %d in all", blocking ? "blocking"
            : "incremental", sig->id, z->ncolls - before, z->ncolls);
}

static void stop_snapshot(sl_isnap *z, const sl_signal *sig) {
    if (!z->ncolls) {
        SL_INFO(z->fac, "signal %s (stop-snapshot): no incremental snapshot is running", sig->id);
        return;
    }
    const json_t *colls = json_object_get(sig->data, "data-collections");
    if (!json_is_array(colls) || json_array_size(colls) == 0) {
        SL_INFO(z->fac, "signal %s (stop-snapshot): the incremental snapshot of %d table(s) stopped", sig->id,
                z->ncolls);
        while (z->ncolls) drop_coll(z, z->ncolls - 1);
        return;
    }
    for (size_t k = 0; k < json_array_size(colls); k++) {
        const char *name = json_string_value(json_array_get(colls, k));
        for (int i = z->ncolls - 1; name && i >= 0; i--)
            if (strcmp(z->colls[i].fq, name) == 0) {
                SL_INFO(z->fac, "signal %s (stop-snapshot): %s leaves the incremental snapshot", sig->id, name);
                drop_coll(z, i);
            }
    }
}

static void act(sl_isnap *z, const sl_isnap_ops *ops, void *src, sl_signal *sig) {
    if (strcmp(sig->type, "execute-snapshot") == 0) {
        execute_snapshot(z, ops, src, sig);
    } else if (strcmp(sig->type, "stop-snapshot") == 0) {
        stop_snapshot(z, sig);
    } else if (strcmp(sig->type, "pause-snapshot") == 0) {
        z->paused = true;
        SL_INFO(z->fac, "signal %s: incremental snapshot paused", sig->id);
    } else if (strcmp(sig->type, "resume-snapshot") == 0) {
        z->paused = false;
        SL_INFO(z->fac, "signal %s: incremental snapshot resumed", sig->id);
    } else if (strcmp(sig->type, "log") == 0) {
        const char *msg = json_string_value(json_object_get(sig->data, "message"));
        SL_INFO(z->fac, "signal %s (log): %s", sig->id, msg ? msg : "");
    } else if (strcmp(sig->type, "snapshot-window-open") == 0 || strcmp(sig->type, "snapshot-window-close") == 0) {
        /* watermark rows in a signal table (sluice's own are taken before they get here) */
    } else {
        SL_WARN(z->fac, "signal %s ignored: type '%s' is not known (known: execute-snapshot, stop-snapshot, "
                        "pause-snapshot, resume-snapshot, log)", sig->id, sig->type);
    }
    sl_signal_free(sig);
}

bool sl_isnap_wake(const sl_isnap *z, sl_ctx *ctx, int64_t *last_ms, size_t batched, sl_signal **first) {
    *first = NULL;
    bool due = z && (z->npending || sl_isnap_due(z, batched));
    int64_t now = sl_mono_ms();
    if (!due && now - *last_ms < 100) return false;
    *last_ms = now;
    if (z) return true;
    return (*first = sl_ctx_signal_next(ctx)) != NULL; /* nothing yet: only the channels to look at */
}

void sl_isnap_push(sl_isnap *z, sl_signal *sig) {
    z->pending = sl_realloc(z->pending, sizeof *z->pending * (size_t)(z->npending + 1));
    z->pending[z->npending++] = sig;
}

void sl_isnap_signal_row(sl_isnap *z, const char *id, const char *type, const char *data) {
    char err[512];
    sl_signal *sig = sl_signal_new(id, type, data, "source", err, sizeof err);
    if (!sig) {
        SL_ERR(z->fac, "signal table %s: row skipped: %s", sl_ctx_core(z->ctx)->sig_collection, err);
        return;
    }
    SL_INFO("signal", "received connector=%s channel=source id=%s type=%s", sl_ctx_name(z->ctx), sig->id, sig->type);
    sl_isnap_push(z, sig);
}

/* A chunk is read only once the sink has confirmed the one before (fewer records queued or awaiting a pipelined
 * sink's acks than a chunk holds): the stream's changes never wait behind more than one chunk of snapshot rows,
 * whatever the sink's pace, in the queue or in a Kafka producer's. */
bool sl_isnap_due(const sl_isnap *z, size_t batched) {
    return z->ncolls && !z->in_flight &&
           ((z->colls[0].blocking && !z->t) ||
            (!z->paused && sl_ctx_unconfirmed_records(z->ctx) + batched < (size_t)sl_ctx_core(z->ctx)->isnap_chunk));
}

/* A blocking snapshot of colls[0] (started): every chunk read and emitted while the stream waits. */
static int read_blocking(sl_isnap *z, const sl_isnap_ops *ops, void *src, char *errstr, size_t errsz) {
    const char *fq = z->colls[0].fq;
    SL_INFO(z->fac, "blocking snapshot table=%s: streaming waits until it is read", fq);
    while (z->ncolls && z->colls[0].blocking && z->t && strcmp(z->colls[0].fq, fq) == 0) {
        if (sl_ctx_stopping(z->ctx)) return 0;
        z->chunk_no++;
        if (ops->read_chunk(src, z, true, errstr, errsz) != 0) return -1;
        int rc = ops->emit_chunk(src, z);
        if (rc != 0) {
            *errstr = 0;
            return rc;
        }
    }
    SL_INFO(z->fac, "blocking snapshot done: streaming goes on");
    return 0;
}

int sl_isnap_tick(sl_isnap *z, const sl_isnap_ops *ops, void *src, size_t batched, char *errstr, size_t errsz) {
    for (int i = 0; i < z->npending; i++) act(z, ops, src, z->pending[i]);
    z->npending = 0;
    sl_signal *sig;
    while ((sig = sl_ctx_signal_next(z->ctx))) act(z, ops, src, sig);
    while (sl_isnap_due(z, batched)) {
        if (!z->t) {
            int rc = ops->start_table(src, z, errstr, errsz);
            if (rc < 0) return -1;
            if (rc > 0) {
                drop_coll(z, 0);
                continue;
            }
            SL_INFO(z->fac, "%s snapshot table=%s estimated_rows=%.0f chunk_size=%" PRId64 "%s%s",
                    z->colls[0].blocking ? "blocking" : "incremental", z->colls[0].fq, z->est, sl_ctx_core(z->ctx)->isnap_chunk, z->colls[0].cond ? " condition=" : "",
                    z->colls[0].cond ? z->colls[0].cond : "");
            sl_ctx_snapshot_progress(z->ctx, z->colls[0].fq, z->rows_done, z->est >= 0 ? (int64_t)z->est : -1, false);
        }
        if (z->colls[0].blocking) {
            int rc = read_blocking(z, ops, src, errstr, errsz);
            if (rc != 0) return rc;
            continue;
        }
        int rc = ops->read_chunk(src, z, false, errstr, errsz);
        if (rc < 0) return -1;
        if (rc > 0) break;
        SL_DEBUG(z->fac, "incremental snapshot table=%s chunk=%" PRIu64 " rows=%d", z->colls[0].fq, z->chunk_no,
                 z->nrows);
    }
    return 0;
}

static char *cell_text(const sl_cell *c) {
    return cell_null(c) ? NULL : sl_strndup(c->data, c->len);
}

void sl_isnap_emit(sl_isnap *z, sl_batch *b, void (*fill)(void *src, sl_record *r), void *src) {
    int n = z->nrows, kept = 0, nc = z->t->ncols;
    int64_t ts = sl_wall_us();
    for (int row = 0; row < n; row++) {
        if (z->gone[row]) continue;
        sl_record *rec = sl_batch_add(b, z->t);
        rec->op = SL_OP_READ;
        rec->snapshot = z->colls[0].blocking ? SL_SNAP_TRUE : SL_SNAP_INCREMENTAL;
        rec->after = sl_arena_alloc(&b->arena, sizeof(sl_cell) * (size_t)(nc ? nc : 1));
        for (int i = 0; i < nc; i++) {
            const sl_cell *c = &z->rows[row][i];
            rec->after[i] = cell_null(c) ? (sl_cell){NULL, 0, SL_CELL_NULL}
                                         : (sl_cell){sl_arena_memdup(&b->arena, c->data, c->len), c->len, c->flags};
        }
        rec->ts_us = ts;
        fill(src, rec);
        kept++;
    }
    z->rows_done += kept;
    const char *fq = z->colls[0].fq;
    if (n > 0) { /* the next chunk starts after this one's last key, whether its row went out or not */
        free_keys(z->last, z->nkeys);
        z->last = sl_calloc((size_t)z->nkeys + 1, sizeof *z->last);
        for (int i = 0; i < z->nkeys; i++) z->last[i] = cell_text(&z->rows[n - 1][nc + i]);
    }
    bool done = n < sl_ctx_core(z->ctx)->isnap_chunk;
    sl_ctx_snapshot_progress(z->ctx, fq, z->rows_done, z->est >= 0 ? (int64_t)z->est : -1, done);
    SL_DEBUG(z->fac, "incremental snapshot table=%s chunk=%" PRIu64 " emitted=%d of %d", fq, z->chunk_no, kept, n);
    sl_isnap_chunk_begin(z);
    if (done) {
        bool blocking = z->colls[0].blocking;
        SL_INFO(z->fac, "%s snapshot done table=%s rows=%" PRId64, blocking ? "blocking" : "incremental", fq,
                z->rows_done);
        drop_coll(z, 0);
        if (!blocking && !nonblocking(z)) SL_INFO(z->fac, "incremental snapshot finished");
    }
}

/* ---- the offset ---- */

const char *sl_isnap_offset_fields(sl_isnap *z) {
    if (!z || (!nonblocking(z) && !z->captured)) return "";
    json_t *o = json_object();
    if (z->captured) json_object_set_new(o, "captured_tables", json_string(z->captured));
    if (nonblocking(z)) {
        json_t *colls = json_array();
        for (int i = 0; i < z->ncolls; i++) {
            if (z->colls[i].blocking) continue;
            json_t *c = json_pack("{s:s}", "incremental_snapshot_collections_id", z->colls[i].fq);
            json_object_set_new(c, "incremental_snapshot_collections_additional_condition",
                                z->colls[i].cond ? json_string(z->colls[i].cond) : json_null());
            json_object_set_new(c, "incremental_snapshot_collections_surrogate_key",
                                z->colls[i].skey ? json_string(z->colls[i].skey) : json_null());
            json_array_append_new(colls, c);
        }
        json_object_set_new(o, "incremental_snapshot_correlation_id", json_string(z->id ? z->id : ""));
        char *t = json_dumps(colls, JSON_COMPACT);
        json_object_set_new(o, "incremental_snapshot_collections", json_string(t));
        free(t);
        json_decref(colls);
        for (int side = 0; side < 2 && !z->colls[0].blocking; side++) {
            char **k = side ? z->last : z->max;
            if (!k) continue;
            json_t *a = keys_json(k, z->nkeys);
            t = json_dumps(a, JSON_COMPACT);
            json_object_set_new(o, side ? "incremental_snapshot_primary_key" : "incremental_snapshot_maximum_key",
                                json_string(t));
            free(t), json_decref(a);
        }
    }
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    sl_buf_reset(&z->offset);
    sl_buf_printf(&z->offset, ",%.*s", (int)strlen(t) - 2, t + 1); /* the members, after the offset's own */
    free(t);
    return sl_buf_cstr(&z->offset);
}

int sl_isnap_resume(sl_isnap *z, const json_t *o, char *errstr, size_t errsz) {
    const char *colls_text = json_string_value(json_object_get(o, "incremental_snapshot_collections"));
    if (!colls_text) return 0;
    json_t *colls = json_loads(colls_text, 0, NULL);
    if (!json_is_array(colls)) {
        snprintf(errstr, errsz, "stored offset: incremental_snapshot_collections is not a JSON array");
        json_decref(colls);
        return -1;
    }
    sl_free(z->id);
    z->id = sl_strdup(json_string_value(json_object_get(o, "incremental_snapshot_correlation_id")));
    for (size_t i = 0; i < json_array_size(colls); i++) {
        const json_t *c = json_array_get(colls, i);
        const char *fq = json_string_value(json_object_get(c, "incremental_snapshot_collections_id"));
        if (fq)
            add_coll(z, fq, json_string_value(json_object_get(c, "incremental_snapshot_collections_additional_condition")),
                     json_string_value(json_object_get(c, "incremental_snapshot_collections_surrogate_key")), false);
    }
    json_decref(colls);
    int n1 = 0, n2 = 0;
    const char *k;
    if ((k = json_string_value(json_object_get(o, "incremental_snapshot_maximum_key")))) {
        json_t *a = json_loads(k, 0, NULL);
        z->resume_max = keys_from_json(a, &n1);
        json_decref(a);
    }
    if ((k = json_string_value(json_object_get(o, "incremental_snapshot_primary_key")))) {
        json_t *a = json_loads(k, 0, NULL);
        z->resume_last = keys_from_json(a, &n2);
        json_decref(a);
    }
    if (!z->resume_max || (z->resume_last && n1 != n2)) { /* no usable position: that table from its start */
        free_keys(z->resume_max, n1), free_keys(z->resume_last, n2);
        z->resume_max = z->resume_last = NULL;
        n1 = 0;
    }
    z->resume_n = n1;
    if (z->ncolls)
        SL_INFO(z->fac, "incremental snapshot goes on: %d table(s) left, %s from %s", z->ncolls, z->colls[0].fq,
                z->resume_last ? "after the stored key" : "the start");
    return 0;
}

int sl_isnap_take_resume(sl_isnap *z) {
    int taken = 0;
    if (z->resume_n && z->resume_n == z->nkeys) {
        z->last = z->resume_last, z->max = z->resume_max;
        z->resume_last = z->resume_max = NULL;
        taken = 1;
    }
    free_keys(z->resume_last, z->resume_n), free_keys(z->resume_max, z->resume_n);
    z->resume_last = z->resume_max = NULL;
    z->resume_n = 0;
    return taken;
}

void sl_isnap_free(sl_isnap *z) {
    if (!z) return;
    end_table(z);
    sl_arena_free(&z->arena);
    free_keys(z->resume_last, z->resume_n), free_keys(z->resume_max, z->resume_n);
    for (int i = 0; i < z->ncolls; i++) sl_free(z->colls[i].fq), sl_free(z->colls[i].cond), sl_free(z->colls[i].skey);
    sl_free(z->colls);
    for (int i = 0; i < z->npending; i++) sl_signal_free(z->pending[i]);
    sl_free(z->pending);
    sl_free(z->rows), sl_free(z->slots), sl_free(z->gone);
    sl_free(z->id), sl_free(z->captured);
    sl_buf_free(&z->offset);
    sl_buf_free(&z->scratch);
    sl_free(z);
}
