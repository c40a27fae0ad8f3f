/*
 * Helpers for transform tests: a chain from a flat JSON config, and one
 * record through it with the result as JsonConverter text (schemas on).
 */
#ifndef SL_XTEST_H
#define SL_XTEST_H
#include "core/conf.h"
#include "util/mem.h"
#include "xform/xform.h"
#include <stdio.h>
#include <string.h>

/* The chain of `json` (a flat config object with "transforms"); NULL on errors: the first is copied to
 * first_err when given, else all are printed. */
static inline sl_xchain *xt_chain(const char *json, char *first_err, size_t errsz) {
    char err[512];
    sl_config *cfg = sl_config_parse_json(json, "test", err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "bad test config: %s\n", err);
        if (first_err) snprintf(first_err, errsz, "%s", err);
        return NULL;
    }
    sl_errs errs = {0};
    sl_xchain *x = sl_xchain_new(cfg, sl_config_get(cfg, "transforms"), &errs);
    if (first_err) first_err[0] = 0;
    if (errs.n && first_err) snprintf(first_err, errsz, "%s", errs.msg[0]);
    for (int i = 0; i < errs.n && !first_err; i++) fprintf(stderr, "config: %s\n", errs.msg[i]);
    sl_errs_free(&errs);
    sl_config_destroy(cfg); /* the chain keeps what it needs */
    return x;
}

typedef struct xt_out {
    int rc;                 /* SL_X_KEEP / DROP / ERROR */
    char topic[256];
    char key[8192], value[16384];
    char headers[2048];     /* the headers array as JSON */
    int partition;
    char err[1024];
} xt_out;

/* Runs key/value (JsonConverter text, NULL: null) of `topic` through x. */
static inline xt_out xt_run(sl_xchain *x, const char *topic, const char *key, const char *value) {
    xt_out o;
    memset(&o, 0, sizeof o);
    sl_xrec r;
    sl_xrec_from_text(&r, topic, key, value);
    o.rc = sl_xchain_run(x, &r, o.err, sizeof o.err);
    if (o.rc == SL_X_KEEP) {
        snprintf(o.topic, sizeof o.topic, "%s", r.topic);
        char *k = sl_xrec_encode(r.key_schema, r.key, true);
        char *v = sl_xrec_encode(r.value_schema, r.value, true);
        snprintf(o.key, sizeof o.key, "%s", k);
        snprintf(o.value, sizeof o.value, "%s", v);
        sl_free(k);
        sl_free(v);
        char *h = json_dumps(r.headers, JSON_COMPACT | JSON_PRESERVE_ORDER);
        snprintf(o.headers, sizeof o.headers, "%s", h ? h : "[]");
        free(h);
        o.partition = r.partition;
    }
    sl_xrec_clear(&r);
    return o;
}
#endif
