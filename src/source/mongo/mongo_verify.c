/*
 * The MongoDB source as one side of sluice verify (core/vside.h): the
 * collections it captures (database, collection), each read with one find
 * sorted by _id on a client of its own. A row is a whole document: its _id as
 * typed text (mongo/mkey.h) and "$$ROOT", the rest as relaxed extended JSON.
 * MongoDB has no snapshot a find can share: each read sees the collection
 * as it is then (the rechecks tell changes in flight from differences).
 * Nothing is written; no change stream is opened.
 */
#include "core/vside.h"
#include "mongo/mclient.h"
#include "mongo/mkey.h"
#include "source/mongo/mevent.h"
#include "source/mongo/ms_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include <inttypes.h>
#include <jansson.h>
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <string.h>

typedef struct ms_vside {
    sl_vside base;
    const ms_conf *cf;
    mongoc_client_t *client;
    mongoc_cursor_t *cursor;
    bson_t *ns_map;
    const sl_vtable *t; /* NULL: a query pair's query (each document one row, as JSON) */
    sl_buf text;
    const char *vals[2];
    size_t lens[2];
    char pos[32]; /* the cluster's operation time when the read began: "<seconds>,<increment>" */
} ms_vside;

static bool blank(const char *s) { return !s || !*s; }

/* Adds db.coll as a table (system collections are not captured). */
static void add_table(ms_vside *p, const char *db, const char *coll, sl_vtable **out, int *n, int *cap) {
    if (strncmp(coll, "system.", 7) == 0) return;
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *out = sl_realloc(*out, (size_t)*cap * sizeof **out);
    }
    sl_vtable *t = &(*out)[(*n)++];
    memset(t, 0, sizeof *t);
    snprintf(t->schema, sizeof t->schema, "%s", db);
    snprintf(t->db, sizeof t->db, "%s", db);
    snprintf(t->table, sizeof t->table, "%s", coll);
    sl_mevent_opts o = {.prefix = p->cf->topic_prefix, .suffix = p->cf->topic_suffix,
                        .sep = blank(p->cf->topic_sep) ? "." : p->cf->topic_sep, .ns_map = p->ns_map};
    sl_buf topic;
    sl_buf_init(&topic);
    sl_mevent_topic(&o, db, coll, &topic);
    snprintf(t->topic, sizeof t->topic, "%s", sl_buf_cstr(&topic));
    sl_buf_free(&topic);
    t->documents = true;
    t->flat = p->cf->full_doc_only; /* the documents themselves, not change events */
    t->transformed = true;          /* pre-encoded records: the sink goes by their topic */
    t->ncols = 2, t->nkeys = 1;
    t->cols = sl_calloc(3, sizeof *t->cols);
    snprintf(t->cols[0].name, sizeof t->cols[0].name, "_id");
    t->cols[0].kind = SL_CK_MKEY;
    snprintf(t->cols[1].name, sizeof t->cols[1].name, "$$ROOT");
    t->cols[1].kind = SL_CK_DOC;
    t->cols[0].scale = t->cols[1].scale = -1;
}

/* The collections of db, in name order. */
static int add_db(ms_vside *p, const char *db, sl_vtable **out, int *n, int *cap, char *errstr, size_t errsz) {
    mongoc_database_t *d = mongoc_client_get_database(p->client, db);
    bson_error_t be;
    char **names = mongoc_database_get_collection_names_with_opts(d, NULL, &be);
    mongoc_database_destroy(d);
    if (!names) {
        snprintf(errstr, errsz, "MongoDB: listing the collections of %s: %s", db, be.message);
        return -1;
    }
    size_t k = 0;
    while (names[k]) k++;
    qsort(names, k, sizeof *names, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 0; i < k; i++) add_table(p, db, names[i], out, n, cap);
    bson_strfreev(names);
    return 0;
}

static int msv_tables(sl_vside *v, sl_vtable **out, int *n, char *errstr, size_t errsz) {
    ms_vside *p = (ms_vside *)v;
    const ms_conf *cf = p->cf;
    *out = NULL, *n = 0;
    int cap = 0, rc = 0;
    if (!blank(cf->database) && !blank(cf->collection)) {
        add_table(p, cf->database, cf->collection, out, n, &cap);
    } else if (!blank(cf->database)) {
        rc = add_db(p, cf->database, out, n, &cap, errstr, errsz);
    } else {
        bson_error_t be;
        char **dbs = mongoc_client_get_database_names_with_opts(p->client, NULL, &be);
        if (!dbs) {
            snprintf(errstr, errsz, "MongoDB: listing the databases: %s", be.message);
            return -1;
        }
        for (size_t i = 0; dbs[i] && rc == 0; i++)
            if (strcmp(dbs[i], "admin") && strcmp(dbs[i], "local") && strcmp(dbs[i], "config"))
                rc = add_db(p, dbs[i], out, n, &cap, errstr, errsz);
        bson_strfreev(dbs);
    }
    if (rc < 0) {
        for (int k = 0; k < *n; k++) sl_vtable_clear(&(*out)[k]);
        sl_free(*out);
        *out = NULL, *n = 0;
    }
    return rc;
}

static int msv_find(ms_vside *p, const sl_vtable *t, const bson_t *filter, char *errstr, size_t errsz) {
    if (p->cursor) mongoc_cursor_destroy(p->cursor);
    p->t = t;
    bson_t opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    p->cursor = sl_mread_find(p->client, t->db, t->table, filter, &opts, errstr, errsz);
    bson_destroy(&opts);
    return p->cursor ? 0 : -1;
}

static int msv_scan(sl_vside *v, const sl_vtable *t, char *errstr, size_t errsz) {
    bson_t all = BSON_INITIALIZER;
    int rc = msv_find((ms_vside *)v, t, &all, errstr, errsz);
    bson_destroy(&all);
    return rc;
}

static int msv_scan_keys(sl_vside *v, const sl_vtable *t, const char *const *keys, const size_t *lens, size_t nrows,
                         char *errstr, size_t errsz) {
    bson_t filter = BSON_INITIALIZER, id, in;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id);
    BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
    for (size_t r = 0; r < nrows; r++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", r);
        sl_mkey_append(&in, idx, keys[r * (size_t)t->nkeys] ? keys[r * (size_t)t->nkeys] : "", lens[r * (size_t)t->nkeys]);
    }
    bson_append_array_end(&id, &in);
    bson_append_document_end(&filter, &id);
    int rc = msv_find((ms_vside *)v, t, &filter, errstr, errsz);
    bson_destroy(&filter);
    return rc;
}

/* A fresh read begins: the operation time the server reports now is where it stands (a replica set puts
 * operationTime into every reply; a standalone server has none, then the position is unknown). */
static int msv_refresh(sl_vside *v, char *errstr, size_t errsz) {
    ms_vside *p = (ms_vside *)v;
    uint32_t t, i;
    if (!sl_mongo_operation_time(p->client, &t, &i, errstr, errsz)) return -1;
    p->pos[0] = 0;
    if (t || i) snprintf(p->pos, sizeof p->pos, "%" PRIu32 ",%" PRIu32, t, i);
    return 0;
}

static int msv_next(sl_vside *v, const char *const **vals, const size_t **lens, char *errstr, size_t errsz) {
    ms_vside *p = (ms_vside *)v;
    const bson_t *doc;
    int got = sl_mread_next(p->cursor, &doc, p->t ? p->t->db : p->cf->database, p->t ? p->t->table : "(query)",
                            errstr, errsz);
    if (got <= 0) return got;
    sl_buf_reset(&p->text);
    if (!p->t) {
        sl_mread_json(doc, &p->text);
        p->vals[0] = p->text.data, p->lens[0] = p->text.len;
        *vals = p->vals;
        *lens = p->lens;
        return 1;
    }
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "_id")) sl_mkey_put(&it, &p->text);
    size_t at = p->text.len;
    sl_mdoc_put(doc, &p->text);
    p->vals[0] = p->text.data, p->lens[0] = at;
    p->vals[1] = p->text.data + at, p->lens[1] = p->text.len - at;
    *vals = p->vals;
    *lens = p->lens;
    return 1;
}

static int msv_query(sl_vside *v, const char *q, char *errstr, size_t errsz) {
    ms_vside *p = (ms_vside *)v;
    if (p->cursor) mongoc_cursor_destroy(p->cursor);
    p->t = NULL;
    p->cursor = sl_mread_query(p->client, p->cf->database, q, errstr, errsz);
    return p->cursor ? 0 : -1;
}

static const char *msv_position(sl_vside *v) { return ((ms_vside *)v)->pos; }

static void msv_close(sl_vside *v) {
    ms_vside *p = (ms_vside *)v;
    if (!p) return;
    if (p->cursor) mongoc_cursor_destroy(p->cursor);
    if (p->client) mongoc_client_destroy(p->client);
    if (p->ns_map) bson_destroy(p->ns_map);
    sl_buf_free(&p->text);
    sl_free(p);
}

static const sl_vside_ops msv_ops = {.tables = msv_tables, .scan = msv_scan, .scan_keys = msv_scan_keys,
                                     .refresh = msv_refresh, .next = msv_next, .query = msv_query,
                                     .position = msv_position,
                                     .close = msv_close};

int ms_verify_open(void *settings, sl_vside **out, char *errstr, size_t errsz) {
    ms_vside *p = sl_calloc(1, sizeof *p);
    p->base.ops = &msv_ops;
    p->cf = settings;
    sl_buf_init(&p->text);
    *out = &p->base;
    const ms_conf *cf = p->cf;
    snprintf(p->base.what, sizeof p->base.what, "MongoDB %s%s", blank(cf->database) ? "(every database)" : "database ",
             blank(cf->database) ? "" : cf->database);
    char why[256];
    if (!blank(cf->pipeline) && strcmp(cf->pipeline, "[]") != 0) {
        snprintf(errstr, errsz, "sluice verify cannot tell which documents reach the target through pipeline=%s "
                                "(it filters or reshapes the change events)", cf->pipeline);
        return -1;
    }
    if (cf->out_value != OF_JSON) {
        snprintf(errstr, errsz, "sluice verify compares documents published as JSON (output.format.value=json), "
                                "not output.format.value=%s", cf->out_value == OF_BSON ? "bson" : "schema");
        return -1;
    }
    if (!blank(cf->ns_map) && !(p->ns_map = ms_parse_ns_map(cf->ns_map, why, sizeof why))) {
        snprintf(errstr, errsz, "topic.namespace.map: %s", why);
        return -1;
    }
    sl_mongo_init();
    if (!(p->client = sl_mongo_client_new(cf->uri, "sluice-verify", false, NULL, errstr, errsz))) return -1;
    return msv_refresh(&p->base, errstr, errsz);
}

/* The operation time a resume token stands for: _data is hex, its first byte 0x82 (a timestamp) followed by
 * the timestamp's 8 bytes big-endian, seconds then increment. false when the token is of another form. */
static bool token_time(const char *token_json, uint64_t *ts) {
    json_t *o = json_loads(token_json, 0, NULL);
    const char *d = json_string_value(json_object_get(o, "_data"));
    bool ok = d && strlen(d) >= 18 && d[0] == '8' && d[1] == '2';
    *ts = 0;
    for (int k = 2; ok && k < 18; k++) {
        int c = d[k], x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        ok = x >= 0;
        *ts = *ts << 4 | (uint64_t)(ok ? x : 0);
    }
    json_decref(o);
    return ok;
}

/* The committed offset's resume token (or, before the first event, its start_ts) against the operation time
 * "<seconds>,<increment>" that msv_position gave. The events of one transaction share an operation time: the
 * offset at that time counts as passed, so a recheck may come early once, and the next round sees the rest. */
int ms_position_passed(const char *offset, const char *pos) {
    unsigned pt, pi, t, i;
    char end;
    if (sscanf(pos, "%u,%u%c", &pt, &pi, &end) != 2) return -1;
    json_t *o = json_loads(offset, 0, NULL);
    const char *tok = json_string_value(json_object_get(o, "_id"));
    const char *start = json_string_value(json_object_get(o, "start_ts"));
    const char *copy = json_string_value(json_object_get(o, "copy"));
    uint64_t ts = 0;
    bool known = false;
    if (tok) known = token_time(tok, &ts);
    else if (start && sscanf(start, "%u,%u%c", &t, &i, &end) == 2) ts = (uint64_t)t << 32 | i, known = true;
    int rc = copy && strcmp(copy, "true") == 0 ? 0 /* still copying: the stream has not begun */
             : known ? ts >= ((uint64_t)pt << 32 | pi) : -1;
    json_decref(o);
    return rc;
}
