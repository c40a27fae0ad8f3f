/* Which change events are a two-way sync's own writes (see mecho.h). */
#include "source/mongo/mecho.h"
#include "core/conf.h"
#include "mongo/mkey.h"
#include "util/mem.h"
#include <stdlib.h>
#include <string.h>

#define CAP 65536
#define DELETE_DUE 1 /* the value of a key whose delete the sink announced */

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h < 2 ? h + 2 : h; /* 0: an empty slot; 1: DELETE_DUE */
}

static uint64_t *slot(sl_mecho *e, uint64_t k, bool add) {
    if (!e->keys) {
        if (!add) return NULL;
        e->cap = CAP;
        e->keys = sl_calloc(e->cap, sizeof *e->keys);
        e->vals = sl_calloc(e->cap, sizeof *e->vals);
    }
    if (add && (e->n + 1) * 4 > e->cap * 3) { /* full: forget everything (a mark seen again counts as new) */
        memset(e->keys, 0, e->cap * sizeof *e->keys);
        memset(e->vals, 0, e->cap * sizeof *e->vals);
        e->n = 0;
    }
    for (size_t i = k & (e->cap - 1);; i = (i + 1) & (e->cap - 1)) {
        if (e->keys[i] == k) return &e->vals[i];
        if (!e->keys[i]) {
            if (!add) return NULL;
            e->keys[i] = k;
            e->n++;
            return &e->vals[i];
        }
    }
}

/* The UTF-8 value of `field` in the sub-document `doc` of ev, or NULL. */
static const char *str_in(const bson_t *ev, const char *doc, const char *field, uint32_t *len) {
    bson_iter_t it, in;
    if (!bson_iter_init_find(&it, ev, doc) || !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &in))
        return NULL;
    while (bson_iter_next(&in))
        if (!strcmp(bson_iter_key(&in), field)) return BSON_ITER_HOLDS_UTF8(&in) ? bson_iter_utf8(&in, len) : NULL;
    return NULL;
}

/* A mark of a skipped origin: its time (ms) and whether it announces a delete; false for other marks. */
static bool skipped_mark(const sl_mecho *e, const char *m, uint32_t len, int64_t *ms, bool *del) {
    char buf[512];
    if (len >= sizeof buf) return false;
    memcpy(buf, m, len);
    buf[len] = 0;
    *del = len > 2 && !strcmp(buf + len - 2, "/d");
    if (*del) buf[len - 2] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash) return false;
    *slash = 0;
    *ms = strtoll(slash + 1, NULL, 10);
    return e->origins && *e->origins && sl_list_has(e->origins, buf);
}

/* The event's time in ms: wallTime, else clusterTime's seconds; -1 when it has neither. */
static int64_t event_ms(const bson_t *ev) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, ev, "wallTime") && BSON_ITER_HOLDS_DATE_TIME(&it)) return bson_iter_date_time(&it);
    if (bson_iter_init_find(&it, ev, "clusterTime") && BSON_ITER_HOLDS_TIMESTAMP(&it)) {
        uint32_t t, i;
        bson_iter_timestamp(&it, &t, &i);
        return (int64_t)t * 1000;
    }
    return -1;
}

bool sl_mecho_skip(sl_mecho *e, const bson_t *ev) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, ev, "operationType") || !BSON_ITER_HOLDS_UTF8(&it)) return false;
    const char *ot = bson_iter_utf8(&it, NULL);
    if (!bson_iter_init_find(&it, ev, "documentKey") || !BSON_ITER_HOLDS_DOCUMENT(&it)) return false;
    uint32_t klen;
    const uint8_t *kdata;
    bson_iter_document(&it, &klen, &kdata);
    uint64_t key = fnv(kdata, klen);
    uint32_t len = 0;
    int64_t ms;
    bool del, skip = false;
    if (!strcmp(ot, "update")) {
        const char *m = NULL;
        bson_iter_t u, f;
        if (bson_iter_init_find(&u, ev, "updateDescription") && BSON_ITER_HOLDS_DOCUMENT(&u) &&
            bson_iter_recurse(&u, &f) && bson_iter_find(&f, "updatedFields") && BSON_ITER_HOLDS_DOCUMENT(&f)) {
            bson_iter_t in;
            bson_iter_recurse(&f, &in);
            while (bson_iter_next(&in))
                if (!strcmp(bson_iter_key(&in), SL_MONGO_ORIGIN_FIELD) && BSON_ITER_HOLDS_UTF8(&in))
                    m = bson_iter_utf8(&in, &len);
        }
        if (m && skipped_mark(e, m, len, &ms, &del)) {
            skip = true;
            uint64_t *v = slot(e, key, true);
            *v = del ? DELETE_DUE : fnv((const uint8_t *)m, len);
        }
    } else if (!strcmp(ot, "insert") || !strcmp(ot, "replace")) {
        const char *m = str_in(ev, "fullDocument", SL_MONGO_ORIGIN_FIELD, &len);
        uint64_t *v = slot(e, key, m != NULL);
        if (m) {
            uint64_t mh = fnv((const uint8_t *)m, len);
            int64_t at = event_ms(ev);
            skip = skipped_mark(e, m, len, &ms, &del) && *v != mh && (at < 0 || llabs(at - ms) <= SL_MECHO_WINDOW_MS);
            *v = mh;
        } else if (v) {
            *v = 0;
        }
    } else if (!strcmp(ot, "delete")) {
        uint64_t *v = slot(e, key, false);
        if (v && *v == DELETE_DUE) {
            *v = 0;
            skip = true;
        }
    }
    e->skipped += skip;
    return skip;
}

void sl_mecho_free(sl_mecho *e) {
    sl_free(e->keys);
    sl_free(e->vals);
    e->keys = e->vals = NULL;
    e->cap = e->n = 0;
}
