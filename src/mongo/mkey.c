/* Documents as sluice verify reads them (see mkey.h). */
#include "mongo/mkey.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_mvalue_json(const bson_iter_t *it, bool canonical, sl_buf *out) {
    bson_t one = BSON_INITIALIZER;
    bson_append_iter(&one, "v", 1, it);
    size_t n;
    char *j = canonical ? bson_as_canonical_extended_json(&one, &n) : bson_as_relaxed_extended_json(&one, &n);
    bson_destroy(&one);
    /* {"v" : <value>}: the value alone */
    const char *from = j ? strchr(j, ':') : NULL, *to = j ? j + n - 1 : NULL; /* the closing brace */
    if (from && to > from) {
        for (from++; from < to && *from == ' '; from++) {}
        while (to > from && to[-1] == ' ') to--;
        sl_buf_put(out, from, (size_t)(to - from));
    }
    bson_free(j);
}

void sl_mkey_put(const bson_iter_t *it, sl_buf *out) {
    switch (bson_iter_type(it)) {
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED: sl_buf_putc(out, 'z'); return;
    case BSON_TYPE_INT32: sl_buf_printf(out, "n%" PRId32, bson_iter_int32(it)); return;
    case BSON_TYPE_INT64: sl_buf_printf(out, "n%" PRId64, bson_iter_int64(it)); return;
    case BSON_TYPE_DOUBLE: {
        double d = bson_iter_double(it);
        if (isnan(d)) sl_buf_puts(out, "nNaN");
        else if (isinf(d)) sl_buf_puts(out, d > 0 ? "nInfinity" : "n-Infinity");
        else sl_buf_printf(out, "n%.17g", d);
        return;
    }
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t d;
        char s[BSON_DECIMAL128_STRING];
        bson_iter_decimal128(it, &d);
        bson_decimal128_to_string(&d, s);
        sl_buf_printf(out, "n%s", s);
        return;
    }
    case BSON_TYPE_UTF8: {
        uint32_t n;
        const char *s = bson_iter_utf8(it, &n);
        sl_buf_putc(out, 's');
        sl_buf_put(out, s, n);
        return;
    }
    case BSON_TYPE_OID: {
        char s[25];
        bson_oid_to_string(bson_iter_oid(it), s);
        sl_buf_printf(out, "o%s", s);
        return;
    }
    case BSON_TYPE_BOOL: sl_buf_puts(out, bson_iter_bool(it) ? "b1" : "b0"); return;
    case BSON_TYPE_DATE_TIME: sl_buf_printf(out, "d%" PRId64, bson_iter_date_time(it)); return;
    default:
        sl_buf_putc(out, 'j');
        sl_mvalue_json(it, true, out);
        return;
    }
}

bool sl_mkey_append(bson_t *d, const char *key, const char *t, size_t n) {
    if (n == 0) return false;
    char num[128];
    const char *v = t + 1;
    size_t vn = n - 1;
    switch (t[0]) {
    case 'z': return bson_append_null(d, key, -1);
    case 's': return bson_append_utf8(d, key, -1, v, (int)vn);
    case 'b': return bson_append_bool(d, key, -1, vn == 1 && v[0] == '1');
    case 'o': {
        char hex[25];
        if (vn != 24) return false;
        memcpy(hex, v, 24);
        hex[24] = 0;
        if (!bson_oid_is_valid(hex, 24)) return false;
        bson_oid_t oid;
        bson_oid_init_from_string(&oid, hex);
        return bson_append_oid(d, key, -1, &oid);
    }
    case 'd':
    case 'n': {
        if (vn >= sizeof num) return false;
        memcpy(num, v, vn);
        num[vn] = 0;
        char *end;
        long long i = strtoll(num, &end, 10);
        if (t[0] == 'd') return *end == 0 && bson_append_date_time(d, key, -1, i);
        /* the number as it most likely was: an integer (int32 when it fits), else a double; MongoDB matches
         * numbers by value whatever their type */
        if (*end == 0 && vn) return i >= INT32_MIN && i <= INT32_MAX ? bson_append_int32(d, key, -1, (int32_t)i)
                                                                    : bson_append_int64(d, key, -1, i);
        double x = strtod(num, &end);
        if (*end == 0) return bson_append_double(d, key, -1, x);
        bson_decimal128_t dec;
        return bson_decimal128_from_string(num, &dec) && bson_append_decimal128(d, key, -1, &dec);
    }
    case 'j': {
        bson_error_t be;
        sl_buf w;
        sl_buf_init(&w);
        sl_buf_puts(&w, "{\"v\": ");
        sl_buf_put(&w, v, vn);
        sl_buf_putc(&w, '}');
        bson_t *one = bson_new_from_json((const uint8_t *)w.data, (ssize_t)w.len, &be);
        sl_buf_free(&w);
        bson_iter_t it;
        bool ok = one && bson_iter_init_find(&it, one, "v") && bson_append_iter(d, key, -1, &it);
        if (one) bson_destroy(one);
        return ok;
    }
    default: return false;
    }
}

void sl_mdoc_put(const bson_t *doc, sl_buf *out) {
    bson_t rest = BSON_INITIALIZER;
    bson_copy_to_excluding_noinit(doc, &rest, "_id", SL_MONGO_ORIGIN_FIELD, NULL);
    size_t n;
    char *j = bson_as_relaxed_extended_json(&rest, &n);
    bson_destroy(&rest);
    sl_buf_put(out, j ? j : "{}", j ? n : 2);
    bson_free(j);
}

mongoc_cursor_t *sl_mread_find(mongoc_client_t *client, const char *db, const char *coll, const bson_t *filter,
                               bson_t *opts, char *errstr, size_t errsz) {
    mongoc_collection_t *c = mongoc_client_get_collection(client, db, coll);
    BSON_APPEND_INT32(opts, "batchSize", 1000); /* the test server otherwise answers a sorted find in one reply */
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
    mongoc_collection_destroy(c);
    bson_error_t be;
    if (mongoc_cursor_error(cur, &be)) {
        snprintf(errstr, errsz, "MongoDB: reading %s.%s: %s", db, coll, be.message);
        mongoc_cursor_destroy(cur);
        return NULL;
    }
    return cur;
}

int sl_mread_next(mongoc_cursor_t *cursor, const bson_t **doc, const char *db, const char *coll, char *errstr,
                  size_t errsz) {
    if (mongoc_cursor_next(cursor, doc)) return 1;
    bson_error_t be;
    if (!mongoc_cursor_error(cursor, &be)) return 0;
    snprintf(errstr, errsz, "MongoDB: reading %s.%s: %s", db, coll, be.message);
    return -1;
}

mongoc_cursor_t *sl_mread_query(mongoc_client_t *client, const char *db, const char *spec, char *errstr,
                                size_t errsz) {
    bson_error_t be;
    bson_t *q = bson_new_from_json((const uint8_t *)spec, -1, &be);
    if (!q) {
        snprintf(errstr, errsz, "a MongoDB query must be a JSON object ({\"collection\": ..., \"filter\": ...} or "
                                "{\"collection\": ..., \"aggregate\": [...]}): %s", be.message);
        return NULL;
    }
    bson_iter_t it;
    const char *coll = bson_iter_init_find(&it, q, "collection") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                                                             : NULL;
    if (bson_iter_init_find(&it, q, "database") && BSON_ITER_HOLDS_UTF8(&it)) db = bson_iter_utf8(&it, NULL);
    mongoc_cursor_t *cur = NULL;
    if (!coll || !db || !*db) {
        snprintf(errstr, errsz, "a MongoDB query needs \"collection\"%s", db && *db ? "" : " and \"database\"");
        bson_destroy(q);
        return NULL;
    }
    mongoc_collection_t *c = mongoc_client_get_collection(client, db, coll);
    bson_t sub;
    uint32_t n;
    const uint8_t *data;
    if (bson_iter_init_find(&it, q, "aggregate")) {
        bson_iter_t st, op;
        const char *bad = BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &st) ? NULL : "";
        while (!bad && bson_iter_next(&st)) { /* read-only: no stage that writes */
            if (!BSON_ITER_HOLDS_DOCUMENT(&st) || !bson_iter_recurse(&st, &op) || !bson_iter_next(&op)) bad = "";
            else if (!strcmp(bson_iter_key(&op), "$out") || !strcmp(bson_iter_key(&op), "$merge")) bad = bson_iter_key(&op);
        }
        if (bad && *bad) snprintf(errstr, errsz, "a query pair's aggregation must not write (%s)", bad);
        else if (bad) snprintf(errstr, errsz, "\"aggregate\" must be an array of pipeline stages");
        if (!bad) {
            bson_iter_array(&it, &n, &data);
            bson_init_static(&sub, data, n);
            bson_t pipe = BSON_INITIALIZER, opts = BSON_INITIALIZER;
            BSON_APPEND_ARRAY(&pipe, "pipeline", &sub);
            BSON_APPEND_INT32(&opts, "batchSize", 1000);
            cur = mongoc_collection_aggregate(c, MONGOC_QUERY_NONE, &pipe, &opts, NULL);
            bson_destroy(&pipe);
            bson_destroy(&opts);
        }
    } else {
        bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
        static const char *const keys[] = {"filter", "projection", "sort"};
        for (int i = 0; i < 3; i++)
            if (bson_iter_init_find(&it, q, keys[i]) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
                bson_iter_document(&it, &n, &data);
                bson_init_static(&sub, data, n);
                if (i == 0) bson_concat(&filter, &sub);
                else BSON_APPEND_DOCUMENT(&opts, keys[i], &sub);
            }
        if (bson_iter_init_find(&it, q, "limit") && BSON_ITER_HOLDS_NUMBER(&it))
            BSON_APPEND_INT64(&opts, "limit", bson_iter_as_int64(&it));
        BSON_APPEND_INT32(&opts, "batchSize", 1000);
        cur = mongoc_collection_find_with_opts(c, &filter, &opts, NULL);
        bson_destroy(&filter);
        bson_destroy(&opts);
    }
    mongoc_collection_destroy(c);
    bson_destroy(q);
    if (cur && mongoc_cursor_error(cur, &be)) {
        snprintf(errstr, errsz, "MongoDB: running the query: %s", be.message);
        mongoc_cursor_destroy(cur);
        cur = NULL;
    }
    return cur;
}

void sl_mread_json(const bson_t *doc, sl_buf *out) {
    size_t n;
    char *j = bson_as_relaxed_extended_json(doc, &n);
    sl_buf_put(out, j ? j : "{}", j ? n : 2);
    bson_free(j);
}
