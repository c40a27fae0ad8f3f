/*
 * PostgreSQL source: signals and incremental snapshots (Debezium's ad hoc
 * snapshots, by the watermark algorithm of DBLog).
 *
 * Signals reach the source from its signal table (a row inserted into
 * signal.data.collection, seen in its own change stream) and from the
 * context's channels (file, Kafka, REST: sl_ctx_signal_next). They are acted
 * on between transactions of the stream:
 *   execute-snapshot  {"data-collections": [regex, ...], "type": "incremental",
 *                      "additional-conditions": [{"data-collection", "filter"}],
 *                      "surrogate-key": column}: the captured tables whose
 *                      "schema.table" a regex matches are queued;
 *   stop-snapshot     {"data-collections": [...]}: those (or all) leave the queue;
 *   pause-snapshot, resume-snapshot; log {"message"}.
 *
 * A table is read in chunks of incremental.snapshot.chunk.size rows in key
 * order, up to the largest key it held when its turn came. Each chunk is
 * read on the SQL connection, between two transactions of the stream, in a
 * REPEATABLE READ transaction whose snapshot is noted (xmax and the running
 * transactions); then a watermark follows, a non-transactional logical
 * decoding message (pg_logical_emit_message, prefix __sluice_isnap: no
 * table is written, so no signal table is needed). The stream goes on
 * meanwhile. Until it reaches the watermark, a change of the table whose
 * transaction the snapshot does not see (it committed later, so it is newer
 * than the chunk's row) drops that key's row from the chunk. At the
 * watermark the rows left are emitted as op r with source.snapshot
 * "incremental", right there in the stream: no row read by a chunk ever
 * lands after a newer change of its key, and the stream never stops. (The
 * snapshot's own list decides, not an opening watermark: a commit is in
 * the WAL before it is visible, so a transaction before such a watermark
 * could still be missing from the chunk. One the stream has already handed
 * on and the snapshot lists as running makes the chunk be read again.)
 *
 * Progress rides in the source offset (incremental_snapshot_* fields): the
 * queue and the last key emitted. A restart (or a kill -9) goes on after the
 * last chunk whose rows the stored offset covers; watermarks of an earlier
 * run carry another nonce and are ignored.
 */
#include "core/log.h"
#include "source/pg/pg_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WM_PREFIX "__sluice_isnap"

typedef struct isnap_coll {
    char *fq;    /* "schema.table" */
    char *cond;  /* additional condition (SQL), or NULL */
    char *skey;  /* surrogate key column, or NULL */
} isnap_coll;

typedef struct pg_isnap {
    char *id;                 /* the execute-snapshot signal's id (correlation id) */
    isnap_coll *colls;        /* queued tables; colls[0] is being read */
    int ncolls;
    bool paused;
    /* the table being read */
    sl_table *t;              /* its schema (pg_describe), NULL until its turn */
    uint32_t oid;
    int *keys, nkeys;         /* key columns of t */
    char **last, **max;       /* key texts (NULL entries: SQL NULL); last NULL: from the start; max NULL: not read */
    char **resume_last, **resume_max; /* from the stored offset, for the first table (width resume_n) */
    int resume_n;
    int64_t rows_done;
    double est;
    /* the chunk in flight */
    char nonce[20];
    uint64_t chunk_no;
    bool in_flight;           /* read, its rows not emitted yet (until the close watermark) */
    uint32_t xmax;            /* the chunk's snapshot: transactions from xmax on, and those in xip, are not in it */
    uint32_t *xip;
    int nxip;
    PGresult *chunk;          /* its rows */
    bool *gone;               /* rows dropped by newer changes */
    uint32_t *slots;          /* hash of the rows' keys: row + 1, 0 empty */
    uint32_t nslots;
    sl_buf scratch, offset;
    /* signals waiting for the end of the stream's transaction */
    sl_signal **pending;
    int npending;
    char *captured;           /* snapshot.new.tables=incremental: the table filters, JSON text for the offset */
} pg_isnap;

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

static bool row_key_is(pg_isnap *z, int row, const char *const *v, const size_t *len) {
    for (int i = 0; i < z->nkeys; i++) {
        bool null = PQgetisnull(z->chunk, row, z->keys[i]);
        if (null != (v[i] == NULL)) return false;
        if (!null && ((size_t)PQgetlength(z->chunk, row, z->keys[i]) != len[i] ||
                      memcmp(PQgetvalue(z->chunk, row, z->keys[i]), v[i], len[i]) != 0))
            return false;
    }
    return true;
}

static uint64_t row_hash(pg_isnap *z, int row) {
    const char *v[32];
    size_t len[32];
    for (int i = 0; i < z->nkeys; i++) {
        v[i] = PQgetisnull(z->chunk, row, z->keys[i]) ? NULL : PQgetvalue(z->chunk, row, z->keys[i]);
        len[i] = (size_t)PQgetlength(z->chunk, row, z->keys[i]);
    }
    return key_hash(z->nkeys, v, len);
}

static void index_chunk(pg_isnap *z) {
    int n = PQntuples(z->chunk);
    z->nslots = 16;
    while (z->nslots < (uint32_t)n * 2) z->nslots *= 2;
    sl_free(z->slots), sl_free(z->gone);
    z->slots = sl_calloc(z->nslots, sizeof *z->slots);
    z->gone = sl_calloc((size_t)n + 1, sizeof *z->gone);
    for (int r = 0; r < n; r++) {
        uint32_t at = (uint32_t)row_hash(z, r) & (z->nslots - 1);
        while (z->slots[at]) at = (at + 1) & (z->nslots - 1);
        z->slots[at] = (uint32_t)r + 1;
    }
}

/* Drops the chunk row whose key is v (a newer change of it). */
static void drop_key(pg_isnap *z, const char *const *v, const size_t *len) {
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

/* The key texts of row `row` of r (columns cols). */
static char **keys_of(PGresult *r, int row, const int *cols, int n) {
    char **k = sl_calloc((size_t)n + 1, sizeof *k);
    for (int i = 0; i < n; i++) k[i] = PQgetisnull(r, row, cols[i]) ? NULL : sl_strdup(PQgetvalue(r, row, cols[i]));
    return k;
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

/* ---- the queue ---- */

static void end_chunk(pg_isnap *z) {
    PQclear(z->chunk);
    z->chunk = NULL;
    z->in_flight = false;
}

static void end_table(pg_isnap *z) {
    end_chunk(z);
    sl_table_unref(z->t);
    z->t = NULL;
    sl_free(z->keys), z->keys = NULL;
    free_keys(z->last, z->nkeys), z->last = NULL;
    free_keys(z->max, z->nkeys), z->max = NULL;
    z->nkeys = 0;
    z->rows_done = 0;
}

static void drop_coll(pg_isnap *z, int i) {
    if (i == 0) end_table(z);
    sl_free(z->colls[i].fq), sl_free(z->colls[i].cond), sl_free(z->colls[i].skey);
    memmove(&z->colls[i], &z->colls[i + 1], sizeof *z->colls * (size_t)(z->ncolls - i - 1));
    z->ncolls--;
    if (z->ncolls == 0) sl_free(z->id), z->id = NULL;
}

static void add_coll(pg_isnap *z, const char *fq, const char *cond, const char *skey) {
    for (int i = 0; i < z->ncolls; i++)
        if (strcmp(z->colls[i].fq, fq) == 0) return; /* already queued */
    z->colls = sl_realloc(z->colls, sizeof *z->colls * (size_t)(z->ncolls + 1));
    z->colls[z->ncolls++] = (isnap_coll){sl_strdup(fq), cond && *cond ? sl_strdup(cond) : NULL,
                                         skey && *skey ? sl_strdup(skey) : NULL};
}

static pg_isnap *isnap(pg_source *s) {
    if (!s->isnap) {
        s->isnap = sl_calloc(1, sizeof *s->isnap);
        sl_buf_init(&s->isnap->scratch);
        sl_buf_init(&s->isnap->offset);
        snprintf(s->isnap->nonce, sizeof s->isnap->nonce, "%016" PRIx64,
                 (uint64_t)sl_wall_us() ^ ((uint64_t)(uintptr_t)s << 16));
    }
    return s->isnap;
}

/* ---- signals ---- */

/* The captured tables in the connector's order: rows (oid, "schema.table"). NULL with errstr. */
static PGresult *captured_tables(pg_source *s, char *errstr, size_t errsz) {
    uint32_t *oids = NULL;
    int n = 0;
    if (pg_list_tables(s, &oids, &n, errstr, errsz) < 0) return NULL;
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_puts(&q, "{");
    for (int i = 0; i < n; i++) sl_buf_printf(&q, "%s%u", i ? "," : "", oids[i]);
    sl_buf_puts(&q, "}");
    const char *p[1] = {sl_buf_cstr(&q)};
    PGresult *r = pg_query(s->sql, "listing the captured tables",
                           "SELECT c.oid, n.nspname || '.' || c.relname FROM unnest($1::oid[]) WITH ORDINALITY u(o, k)"
                           " JOIN pg_class c ON c.oid = u.o JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY k",
                           1, p, errstr, errsz);
    sl_buf_free(&q);
    sl_free(oids);
    return r;
}

static const char *condition_for(const json_t *data, const char *fq);

/* Queues the captured tables whose "schema.table" one of execute-snapshot's data-collections regexes matches. */
static int queue_matching(pg_source *s, pg_isnap *z, const json_t *d, char *errstr, size_t errsz) {
    const json_t *colls = json_object_get(d, "data-collections");
    const char *skey = json_string_value(json_object_get(d, "surrogate-key"));
    PGresult *r = captured_tables(s, errstr, errsz);
    if (!r) return -1;
    for (size_t k = 0; k < json_array_size(colls); k++) {
        const char *re = json_string_value(json_array_get(colls, k));
        if (!re) continue;
        char *anch = sl_malloc(strlen(re) + 5);
        sprintf(anch, "^(%s)$", re);
        regex_t rx;
        int rc = regcomp(&rx, anch, REG_EXTENDED | REG_NOSUB);
        sl_free(anch);
        if (rc != 0) {
            SL_ERR("pg", "snapshot signal: data-collections entry '%s' is not a regular expression", re);
            continue;
        }
        bool hit = false;
        for (int i = 0; i < PQntuples(r); i++)
            if (regexec(&rx, PQgetvalue(r, i, 1), 0, NULL, 0) == 0)
                hit = true, add_coll(z, PQgetvalue(r, i, 1), condition_for(d, PQgetvalue(r, i, 1)), skey);
        regfree(&rx);
        if (!hit)
            SL_WARN("pg", "snapshot signal: data-collections entry '%s' matches no table the connector captures", re);
    }
    PQclear(r);
    return 0;
}

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

static void execute_snapshot(pg_source *s, const sl_signal *sig) {
    const json_t *d = sig->data;
    const json_t *colls = json_object_get(d, "data-collections");
    const char *type = json_string_value(json_object_get(d, "type"));
    if (!json_is_array(colls) || json_array_size(colls) == 0) {
        SL_ERR("pg", "signal %s (execute-snapshot) ignored: data.data-collections must be a non-empty array of "
                     "table names or regexes", sig->id);
        return;
    }
    if (type && strcasecmp(type, "incremental") != 0) {
        SL_ERR("pg", "signal %s (execute-snapshot) ignored: type '%s' is not supported (allowed: incremental)",
               sig->id, type);
        return;
    }
    char err[512];
    pg_isnap *z = isnap(s);
    int before = z->ncolls;
    if (queue_matching(s, z, d, err, sizeof err) < 0) {
        SL_ERR("pg", "signal %s (execute-snapshot) ignored: %s", sig->id, err);
        return;
    }
    if (z->ncolls > before && !z->id) z->id = sl_strdup(sig->id);
    SL_INFO("pg", "incremental snapshot requested by signal %s: %d table(s) queued, %d in all", sig->id,
            z->ncolls - before, z->ncolls);
}

static void stop_snapshot(pg_source *s, const sl_signal *sig) {
    pg_isnap *z = s->isnap;
    if (!z || !z->ncolls) {
        SL_INFO("pg", "signal %s (stop-snapshot): no incremental snapshot is running", sig->id);
        return;
    }
    const json_t *colls = json_object_get(sig->data, "data-collections");
    if (!json_is_array(colls) || json_array_size(colls) == 0) {
        SL_INFO("pg", "signal %s (stop-snapshot): the incremental snapshot of %d table(s) stopped", sig->id, z->ncolls);
        while (z->ncolls) drop_coll(z, z->ncolls - 1);
        return;
    }
    for (size_t k = 0; k < json_array_size(colls); k++) {
        const char *name = json_string_value(json_array_get(colls, k));
        for (int i = z->ncolls - 1; name && i >= 0; i--)
            if (strcmp(z->colls[i].fq, name) == 0) {
                SL_INFO("pg", "signal %s (stop-snapshot): %s leaves the incremental snapshot", sig->id, name);
                drop_coll(z, i);
            }
    }
}

static void act(pg_source *s, sl_signal *sig) {
    if (strcmp(sig->type, "execute-snapshot") == 0) {
        execute_snapshot(s, sig);
    } else if (strcmp(sig->type, "stop-snapshot") == 0) {
        stop_snapshot(s, sig);
    } else if (strcmp(sig->type, "pause-snapshot") == 0) {
        isnap(s)->paused = true;
        SL_INFO("pg", "signal %s: incremental snapshot paused", sig->id);
    } else if (strcmp(sig->type, "resume-snapshot") == 0) {
        isnap(s)->paused = false;
        SL_INFO("pg", "signal %s: incremental snapshot resumed", sig->id);
    } else if (strcmp(sig->type, "log") == 0) {
        const char *msg = json_string_value(json_object_get(sig->data, "message"));
        SL_INFO("pg", "signal %s (log): %s", sig->id, msg ? msg : "");
    } else if (strcmp(sig->type, "snapshot-window-open") == 0 || strcmp(sig->type, "snapshot-window-close") == 0) {
        /* Debezium's own watermark rows in a shared signal table: not for sluice */
    } else {
        SL_WARN("pg", "signal %s ignored: type '%s' is not known (known: execute-snapshot, stop-snapshot, "
                      "pause-snapshot, resume-snapshot, log)", sig->id, sig->type);
    }
    sl_signal_free(sig);
}

void pg_isnap_signal_row(pg_source *s, const char *id, const char *type, const char *data) {
    char err[512];
    sl_signal *sig = sl_signal_new(id, type, data, "source", err, sizeof err);
    if (!sig) {
        SL_ERR("pg", "signal table %s: row skipped: %s", sl_ctx_core(s->ctx)->sig_collection, err);
        return;
    }
    SL_INFO("signal", "received connector=%s channel=source id=%s type=%s", sl_ctx_name(s->ctx), sig->id, sig->type);
    pg_isnap *z = isnap(s);
    z->pending = sl_realloc(z->pending, sizeof *z->pending * (size_t)(z->npending + 1));
    z->pending[z->npending++] = sig;
}

/* ---- chunks ---- */

static int emit_watermark(pg_source *s, const char *what, char *errstr, size_t errsz) {
    pg_isnap *z = s->isnap;
    char content[96];
    snprintf(content, sizeof content, "%s:%s:%" PRIu64, what, z->nonce, z->chunk_no);
    const char *p[1] = {content};
    PGresult *r = pg_query(s->sql, "writing a snapshot watermark",
                           "SELECT pg_logical_emit_message(false, '" WM_PREFIX "', $1)", 1, p, errstr, errsz);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

static void key_list(pg_source *s, sl_buf *q, bool desc) {
    pg_isnap *z = s->isnap;
    for (int i = 0; i < z->nkeys; i++) {
        const char *name = z->t->cols[z->keys[i]].name;
        char *id = PQescapeIdentifier(s->sql, name, strlen(name));
        sl_buf_printf(q, "%s%s%s", i ? ", " : "", id, desc ? " DESC" : "");
        PQfreemem(id);
    }
}

/* Starts the table colls[0]: its schema, key and largest key. 0, 1 when it has nothing to read, -1 on error. */
static int start_table(pg_source *s, char *errstr, size_t errsz) {
    pg_isnap *z = s->isnap;
    isnap_coll *c = &z->colls[0];
    const char *p[1] = {c->fq};
    PGresult *r = pg_query(s->sql, "finding a snapshot table",
                           "SELECT c.oid, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname || '.' || c.relname = $1", 1, p, errstr, errsz);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        SL_WARN("pg", "incremental snapshot: table %s no longer exists", c->fq);
        return 1;
    }
    z->oid = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    z->est = atof(PQgetvalue(r, 0, 1));
    PQclear(r);
    int *map = NULL;
    z->t = pg_describe(s, z->oid, NULL, 0, &map, errstr, errsz);
    sl_free(map);
    if (!z->t) return -1;
    z->keys = sl_calloc((size_t)z->t->ncols + 1, sizeof *z->keys);
    z->nkeys = 0;
    for (int i = 0; i < z->t->ncols && z->nkeys < 32; i++)
        if (c->skey ? strcmp(z->t->cols[i].name, c->skey) == 0 : z->t->cols[i].key) z->keys[z->nkeys++] = i;
    if (z->nkeys == 0) {
        SL_ERR("pg", "incremental snapshot of %s skipped: %s", c->fq,
               c->skey ? "its surrogate-key column is not captured" : "the table has no primary key (name a "
                                                                      "surrogate-key in the signal)");
        return 1;
    }
    if (z->resume_n) { /* a restart: the stored offset says where this table's snapshot stands */
        if (z->resume_n == z->nkeys) {
            z->last = z->resume_last, z->max = z->resume_max;
            z->resume_last = z->resume_max = NULL;
        }
        free_keys(z->resume_last, z->resume_n), free_keys(z->resume_max, z->resume_n);
        z->resume_last = z->resume_max = NULL;
        z->resume_n = 0;
    }
    if (z->max) goto ready;
    /* The largest key now: rows inserted later come by the stream. */
    sl_buf q;
    sl_buf_init(&q);
    sl_buf_puts(&q, "SELECT ");
    key_list(s, &q, false);
    char *nsp = PQescapeIdentifier(s->sql, z->t->schema, strlen(z->t->schema));
    char *rel = PQescapeIdentifier(s->sql, z->t->name, strlen(z->t->name));
    sl_buf_printf(&q, " FROM %s.%s", nsp, rel);
    PQfreemem(nsp), PQfreemem(rel);
    if (c->cond) sl_buf_printf(&q, " WHERE (%s)", c->cond);
    sl_buf_puts(&q, " ORDER BY ");
    key_list(s, &q, true);
    sl_buf_puts(&q, " LIMIT 1");
    r = pg_query(s->sql, "reading a snapshot table's largest key", sl_buf_cstr(&q), 0, NULL, errstr, errsz);
    sl_buf_free(&q);
    if (!r) return -1;
    if (PQntuples(r) == 1) {
        int *cols = sl_calloc((size_t)z->nkeys, sizeof *cols);
        for (int i = 0; i < z->nkeys; i++) cols[i] = i;
        z->max = keys_of(r, 0, cols, z->nkeys);
        sl_free(cols);
    }
    PQclear(r);
    if (!z->max) {
        SL_INFO("pg", "incremental snapshot of %s: no rows", c->fq);
        return 1;
    }
ready:
    SL_INFO("pg", "incremental snapshot table=%s estimated_rows=%.0f chunk_size=%" PRId64 "%s%s", c->fq, z->est,
            sl_ctx_core(s->ctx)->isnap_chunk, c->cond ? " condition=" : "", c->cond ? c->cond : "");
    sl_ctx_snapshot_progress(s->ctx, c->fq, z->rows_done, z->est >= 0 ? (int64_t)z->est : -1, false);
    return 0;
}

/* Reads the next chunk of the current table and writes its watermark. 0, 1 to read it again later (at the
 * next step: the stream goes on meanwhile), -1 with errstr. */
static int read_chunk(pg_source *s, char *errstr, size_t errsz) {
    pg_isnap *z = s->isnap;
    isnap_coll *c = &z->colls[0];
    sl_buf *q = &z->scratch;
    sl_buf_reset(q);
    sl_buf_puts(q, "SELECT ");
    for (int i = 0; i < z->t->ncols; i++) {
        char *id = PQescapeIdentifier(s->sql, z->t->cols[i].name, strlen(z->t->cols[i].name));
        sl_buf_printf(q, "%s%s", i ? ", " : "", id);
        PQfreemem(id);
    }
    if (z->t->ncols == 0) sl_buf_puts(q, "NULL");
    char *nsp = PQescapeIdentifier(s->sql, z->t->schema, strlen(z->t->schema));
    char *rel = PQescapeIdentifier(s->sql, z->t->name, strlen(z->t->name));
    sl_buf_printf(q, " FROM %s.%s WHERE ROW(", nsp, rel);
    PQfreemem(nsp), PQfreemem(rel);
    key_list(s, q, false);
    const char *params[64];
    Oid types[64];
    int np = 0;
    sl_buf_puts(q, ") <= ROW(");
    for (int i = 0; i < z->nkeys; i++) {
        types[np] = z->t->cols[z->keys[i]].src_type;
        params[np++] = z->max[i];
        sl_buf_printf(q, "%s$%d", i ? ", " : "", np);
    }
    sl_buf_puts(q, ")");
    if (z->last) {
        sl_buf_puts(q, " AND ROW(");
        key_list(s, q, false);
        sl_buf_puts(q, ") > ROW(");
        for (int i = 0; i < z->nkeys; i++) {
            types[np] = z->t->cols[z->keys[i]].src_type;
            params[np++] = z->last[i];
            sl_buf_printf(q, "%s$%d", i ? ", " : "", np);
        }
        sl_buf_puts(q, ")");
    }
    if (c->cond) sl_buf_printf(q, " AND (%s)", c->cond);
    sl_buf_puts(q, " ORDER BY ");
    key_list(s, q, false);
    sl_buf_printf(q, " LIMIT %" PRId64, sl_ctx_core(s->ctx)->isnap_chunk);
    /* The chunk in a snapshot whose transactions it knows (REPEATABLE READ: the snapshot of its first query). */
    PGresult *r = pg_query(s->sql, "beginning a snapshot chunk", "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL,
                           errstr, errsz);
    if (!r) return -1;
    PQclear(r);
    r = pg_query(s->sql, "reading a chunk's snapshot",
                 "SELECT pg_snapshot_xmax(s)::text, (SELECT string_agg(x::text, ',') FROM pg_snapshot_xip(s) x)"
                 " FROM pg_current_snapshot() s", 0, NULL, errstr, errsz);
    PGresult *rows = r ? PQexecParams(s->sql, sl_buf_cstr(q), np, types, params, NULL, NULL, 0) : NULL;
    if (rows && PQresultStatus(rows) != PGRES_TUPLES_OK) {
        snprintf(errstr, errsz, "incremental snapshot of %s: %s", c->fq, PQresultErrorMessage(rows));
        errstr[strcspn(errstr, "\n")] = 0;
        PQclear(rows), rows = NULL;
    }
    PGresult *end = PQexec(s->sql, rows ? "COMMIT" : "ROLLBACK");
    PQclear(end);
    if (!rows) {
        PQclear(r);
        return -1;
    }
    /* 64-bit transaction ids; the stream's are their low 32 bits */
    z->xmax = (uint32_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    z->nxip = 0;
    const char *xl = PQgetvalue(r, 0, 1);
    z->xip = sl_realloc(z->xip, sizeof *z->xip * (strlen(xl) / 2 + 1));
    for (char *e; *xl; xl = *e ? e + 1 : e) z->xip[z->nxip++] = (uint32_t)strtoull(xl, &e, 10);
    PQclear(r);
    /* A transaction the stream has already handed on can still be in the snapshot's running list (its commit is
     * in the WAL, it waited for the flush before it became visible): the chunk would then hold rows older than
     * changes already sent. Read it again. */
    for (int i = 0; i < z->nxip; i++)
        if (pg_recently_committed(s, z->xip[i])) {
            SL_DEBUG("pg", "incremental snapshot table=%s: transaction %u was handed on but not yet visible to the "
                           "chunk: reading it again", c->fq, z->xip[i]);
            PQclear(rows);
            return 1;
        }
    z->chunk_no++;
    if (emit_watermark(s, "close", errstr, errsz) < 0) {
        PQclear(rows);
        return -1;
    }
    r = rows;
    z->chunk = r;
    z->in_flight = true;
    index_chunk(z);
    SL_DEBUG("pg", "incremental snapshot table=%s chunk=%" PRIu64 " rows=%d", c->fq, z->chunk_no, PQntuples(r));
    return 0;
}

/* A chunk is read only once the sink has taken the one before (fewer records queued than a chunk holds): the
 * stream's changes never wait behind more than one chunk of snapshot rows, whatever the sink's pace. */
static bool room_for_chunk(pg_source *s) {
    return sl_ctx_queued_records(s->ctx) + (size_t)s->batch->n < (size_t)sl_ctx_core(s->ctx)->isnap_chunk;
}

static int pg_isnap_tick(pg_source *s) {
    pg_isnap *z = s->isnap;
    if (!z) return 0;
    for (int i = 0; i < z->npending; i++) act(s, z->pending[i]);
    z->npending = 0;
    sl_signal *sig;
    while ((sig = sl_ctx_signal_next(s->ctx))) act(s, sig);
    char err[1024];
    while (z->ncolls && !z->paused && !z->in_flight && room_for_chunk(s)) {
        if (!z->t) {
            int rc = start_table(s, err, sizeof err);
            if (rc < 0) goto fail;
            if (rc > 0) {
                drop_coll(z, 0);
                continue;
            }
        }
        int rc = read_chunk(s, err, sizeof err);
        if (rc < 0) goto fail;
        if (rc > 0) break;
    }
    return 0;
fail:
    return sl_ctx_raisef(s->ctx, PQstatus(s->sql) == CONNECTION_BAD ? SL_E_CONNECT : SL_E_PROTOCOL, "%s", err);
}

int pg_isnap_step(pg_source *s) {
    pg_isnap *z = s->isnap;
    /* Between transactions only: a chunk's check against the transactions the stream handed on (read_chunk)
     * must not meet one half handed on. */
    if (s->in_txn) return 0;
    bool due = z && (z->npending || (z->ncolls && !z->paused && !z->in_flight && room_for_chunk(s)));
    int64_t now = sl_mono_ms();
    if (!due && now - s->isnap_poll_ms < 100) return 0;
    s->isnap_poll_ms = now;
    if (!z) { /* nothing yet: only the channels to look at */
        sl_signal *sig = sl_ctx_signal_next(s->ctx);
        if (!sig) return 0;
        isnap(s);
        act(s, sig);
    }
    return pg_isnap_tick(s);
}

/* The chunk's rows left, at its watermark: op r, source.snapshot "incremental". */
static void emit_rows(pg_source *s, uint64_t lsn) {
    pg_isnap *z = s->isnap;
    int n = PQntuples(z->chunk), kept = 0;
    int64_t ts = sl_wall_us();
    for (int row = 0; row < n; row++) {
        if (z->gone[row]) continue;
        sl_record *rec = sl_batch_add(s->batch, z->t);
        rec->op = SL_OP_READ;
        rec->snapshot = SL_SNAP_INCREMENTAL;
        rec->after = sl_arena_alloc(&s->batch->arena, sizeof(sl_cell) * (size_t)(z->t->ncols ? z->t->ncols : 1));
        for (int i = 0; i < z->t->ncols; i++) {
            if (PQgetisnull(z->chunk, row, i)) {
                rec->after[i] = (sl_cell){NULL, 0, SL_CELL_NULL};
            } else {
                size_t len = (size_t)PQgetlength(z->chunk, row, i);
                rec->after[i] = (sl_cell){sl_arena_memdup(&s->batch->arena, PQgetvalue(z->chunk, row, i), len),
                                          (uint32_t)len, 0};
            }
        }
        rec->pos.lsn = rec->pos.commit_lsn = lsn;
        rec->pos.last_commit_lsn = s->seq_commit_lsn;
        rec->ts_us = ts;
        pg_context_headers(s, rec);
        kept++;
    }
    z->rows_done += kept;
    const char *fq = z->colls[0].fq;
    if (n > 0) { /* the next chunk starts after this one's last key, whether its row went out or not */
        free_keys(z->last, z->nkeys);
        z->last = keys_of(z->chunk, n - 1, z->keys, z->nkeys);
    }
    bool done = n < sl_ctx_core(s->ctx)->isnap_chunk;
    sl_ctx_snapshot_progress(s->ctx, fq, z->rows_done, z->est >= 0 ? (int64_t)z->est : -1, done);
    SL_DEBUG("pg", "incremental snapshot table=%s chunk=%" PRIu64 " emitted=%d of %d", fq, z->chunk_no, kept, n);
    end_chunk(z);
    if (done) {
        SL_INFO("pg", "incremental snapshot done table=%s rows=%" PRId64, fq, z->rows_done);
        drop_coll(z, 0);
        if (!z->ncolls) SL_INFO("pg", "incremental snapshot finished");
    }
}

bool pg_isnap_on_message(pg_source *s, const char *prefix, const char *content, size_t len, uint64_t lsn) {
    if (strcmp(prefix, WM_PREFIX) != 0) return false;
    pg_isnap *z = s->isnap;
    if (!z || !z->in_flight) return true; /* an earlier run's, or another connector's */
    char want[96];
    int n = snprintf(want, sizeof want, "close:%s:%" PRIu64, z->nonce, z->chunk_no);
    if ((size_t)n == len && memcmp(content, want, len) == 0) emit_rows(s, lsn);
    return true;
}

/* Whether the stream's transaction xid is one the chunk's snapshot does not see (it committed later). */
static bool after_chunk(const pg_isnap *z, uint32_t xid) {
    if ((int32_t)(xid - z->xmax) >= 0) return true;
    for (int i = 0; i < z->nxip; i++)
        if (z->xip[i] == xid) return true;
    return false;
}

void pg_isnap_on_change(pg_source *s, const sl_table *t, const sl_cell *before, const sl_cell *after) {
    pg_isnap *z = s->isnap;
    if (!z || !z->in_flight || !z->t || t->id != z->oid || !after_chunk(z, s->txid)) return;
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
            else if (cells[at].flags & SL_CELL_NULL) v[i] = NULL, len[i] = 0;
            else v[i] = cells[at].data, len[i] = cells[at].len;
        }
        if (ok) drop_key(z, v, len);
    }
}

void pg_isnap_on_truncate(pg_source *s, const sl_table *t) {
    pg_isnap *z = s->isnap;
    if (!z || !z->in_flight || !z->t || t->id != z->oid || !after_chunk(z, s->txid)) return;
    for (int i = 0; i < PQntuples(z->chunk); i++) z->gone[i] = true;
}

const char *pg_isnap_offset_fields(pg_source *s) {
    pg_isnap *z = s->isnap;
    if (!z || (!z->ncolls && !z->captured)) return "";
    if (!z->ncolls) {
        json_t *o = json_pack("{s:s}", "captured_tables", z->captured);
        char *t = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        sl_buf_reset(&z->offset);
        sl_buf_printf(&z->offset, ",%.*s", (int)strlen(t) - 2, t + 1);
        free(t);
        return sl_buf_cstr(&z->offset);
    }
    json_t *colls = json_array();
    for (int i = 0; i < z->ncolls; i++) {
        json_t *c = json_pack("{s:s}", "incremental_snapshot_collections_id", z->colls[i].fq);
        json_object_set_new(c, "incremental_snapshot_collections_additional_condition",
                            z->colls[i].cond ? json_string(z->colls[i].cond) : json_null());
        json_object_set_new(c, "incremental_snapshot_collections_surrogate_key",
                            z->colls[i].skey ? json_string(z->colls[i].skey) : json_null());
        json_array_append_new(colls, c);
    }
    json_t *o = json_object();
    if (z->captured) json_object_set_new(o, "captured_tables", json_string(z->captured));
    json_object_set_new(o, "incremental_snapshot_correlation_id", json_string(z->id ? z->id : ""));
    char *t = json_dumps(colls, JSON_COMPACT);
    json_object_set_new(o, "incremental_snapshot_collections", json_string(t));
    free(t);
    json_decref(colls);
    if (z->max) {
        json_t *k = keys_json(z->max, z->nkeys);
        t = json_dumps(k, JSON_COMPACT);
        json_object_set_new(o, "incremental_snapshot_maximum_key", json_string(t));
        free(t), json_decref(k);
    }
    if (z->last) {
        json_t *k = keys_json(z->last, z->nkeys);
        t = json_dumps(k, JSON_COMPACT);
        json_object_set_new(o, "incremental_snapshot_primary_key", json_string(t));
        free(t), json_decref(k);
    }
    t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    sl_buf_reset(&z->offset);
    sl_buf_printf(&z->offset, ",%.*s", (int)strlen(t) - 2, t + 1); /* the members, after the offset's own */
    free(t);
    return sl_buf_cstr(&z->offset);
}

/* snapshot.new.tables=incremental: the tables the filters capture now and the stored ones did not are queued. */
static int new_tables(pg_source *s, const json_t *offset, char *errstr, size_t errsz) {
    const pg_conf *cf = s->cf;
    json_t *now = json_pack("{s:s,s:s,s:s,s:s}", "table.include.list", cf->table_include ? cf->table_include : "",
                            "table.exclude.list", cf->table_exclude ? cf->table_exclude : "", "schema.include.list",
                            cf->schema_include ? cf->schema_include : "", "schema.exclude.list",
                            cf->schema_exclude ? cf->schema_exclude : "");
    pg_isnap *z = isnap(s);
    sl_free(z->captured);
    char *t = json_dumps(now, JSON_COMPACT | JSON_SORT_KEYS);
    z->captured = sl_strdup(t);
    free(t);
    json_decref(now);
    const char *stored = json_string_value(json_object_get(offset, "captured_tables"));
    if (!stored || strcmp(stored, z->captured) == 0 || s->do_snapshot) return 0;
    json_t *old = json_loads(stored, 0, NULL);
    sl_filter f;
    int rc = pg_table_filter(&f, json_string_value(json_object_get(old, "table.include.list")),
                             json_string_value(json_object_get(old, "table.exclude.list")),
                             json_string_value(json_object_get(old, "schema.include.list")),
                             json_string_value(json_object_get(old, "schema.exclude.list")), errstr, errsz);
    json_decref(old);
    if (rc < 0) return -1;
    PGresult *r = captured_tables(s, errstr, errsz);
    if (!r) {
        sl_filter_free(&f);
        return -1;
    }
    int added = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *fq = PQgetvalue(r, i, 1);
        if (sl_filter_match(&f, fq)) continue;
        if (!z->id) z->id = sl_strdup("snapshot.new.tables");
        add_coll(z, fq, NULL, NULL);
        SL_INFO("pg", "snapshot.new.tables=incremental: %s is captured now and was not: incremental snapshot queued",
                fq);
        added++;
    }
    PQclear(r);
    sl_filter_free(&f);
    if (!added) SL_INFO("pg", "snapshot.new.tables=incremental: the table filters changed, no table was added");
    return 0;
}

int pg_isnap_resume(pg_source *s, const char *offset, char *errstr, size_t errsz) {
    json_t *o = offset ? json_loads(offset, 0, NULL) : NULL;
    const char *colls_text = json_string_value(json_object_get(o, "incremental_snapshot_collections"));
    if (!colls_text) {
        int rc = s->cf->snapshot_new_tables ? new_tables(s, o, errstr, errsz) : 0;
        json_decref(o);
        return rc;
    }
    json_t *colls = json_loads(colls_text, 0, NULL);
    if (!json_is_array(colls)) {
        snprintf(errstr, errsz, "stored offset: incremental_snapshot_collections is not a JSON array");
        json_decref(colls), json_decref(o);
        return -1;
    }
    pg_isnap *z = isnap(s);
    z->id = sl_strdup(json_string_value(json_object_get(o, "incremental_snapshot_correlation_id")));
    for (size_t i = 0; i < json_array_size(colls); i++) {
        const json_t *c = json_array_get(colls, i);
        const char *fq = json_string_value(json_object_get(c, "incremental_snapshot_collections_id"));
        if (fq)
            add_coll(z, fq, json_string_value(json_object_get(c, "incremental_snapshot_collections_additional_condition")),
                     json_string_value(json_object_get(c, "incremental_snapshot_collections_surrogate_key")));
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
        SL_INFO("pg", "incremental snapshot goes on: %d table(s) left, %s from %s", z->ncolls, z->colls[0].fq,
                z->resume_last ? "after the stored key" : "the start");
    int rc = s->cf->snapshot_new_tables ? new_tables(s, o, errstr, errsz) : 0;
    json_decref(o);
    return rc;
}

void pg_isnap_free(pg_source *s) {
    pg_isnap *z = s->isnap;
    if (!z) return;
    int nk = z->nkeys;
    end_chunk(z);
    sl_table_unref(z->t);
    sl_free(z->keys);
    free_keys(z->last, nk), free_keys(z->max, nk);
    free_keys(z->resume_last, z->resume_n), free_keys(z->resume_max, z->resume_n);
    for (int i = 0; i < z->ncolls; i++) sl_free(z->colls[i].fq), sl_free(z->colls[i].cond), sl_free(z->colls[i].skey);
    sl_free(z->colls);
    for (int i = 0; i < z->npending; i++) sl_signal_free(z->pending[i]);
    sl_free(z->pending);
    sl_free(z->slots), sl_free(z->gone), sl_free(z->xip);
    sl_free(z->id), sl_free(z->captured);
    sl_buf_free(&z->scratch), sl_buf_free(&z->offset);
    sl_free(z);
    s->isnap = NULL;
}
