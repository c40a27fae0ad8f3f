/* The transform chain (see xform.h): config, the record view, and the batch stage. */
#include "xform/xform.h"
#include "core/log.h"
#include "core/plugin.h"
#include "util/jnum.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <stdlib.h>
#include <string.h>

/* Types added at run time (tests, embedders). */
static const sl_xform_ops *xforms_extra[9];

int sl_xform_add(const sl_xform_ops *ops) {
    int n = 0;
    while (xforms_extra[n]) n++;
    if (n == 8) return -1;
    xforms_extra[n] = ops;
    return 0;
}

static const sl_xform_ops *const *const xform_groups[] = {sl_xforms_connect, sl_xforms_debezium, sl_xforms_expr,
                                                          sl_xforms_embed, xforms_extra, NULL};
static const sl_xpred_ops *const *const pred_groups[] = {sl_xpreds_connect, NULL};

const sl_xform_ops *sl_xform_find(const char *name) {
    for (int g = 0; name && xform_groups[g]; g++)
        for (int i = 0; xform_groups[g][i]; i++)
            if (sl_plugin_name_is(name, xform_groups[g][i]->name, xform_groups[g][i]->aliases))
                return xform_groups[g][i];
    return NULL;
}

const sl_xpred_ops *sl_xpred_find(const char *name) {
    for (int g = 0; name && pred_groups[g]; g++)
        for (int i = 0; pred_groups[g][i]; i++)
            if (sl_plugin_name_is(name, pred_groups[g][i]->name, pred_groups[g][i]->aliases))
                return pred_groups[g][i];
    return NULL;
}

/* ---- JSON output ---- */

void sl_json_put(sl_buf *out, const json_t *v) {
    if (!v) {
        sl_buf_puts(out, "null");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        bool first = true;
        sl_buf_putc(out, '{');
        json_object_foreach((json_t *)v, k, e) {
            if (!first) sl_buf_putc(out, ',');
            first = false;
            sl_buf_put_json_str(out, k, strlen(k));
            sl_buf_putc(out, ':');
            sl_json_put(out, e);
        }
        sl_buf_putc(out, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        sl_buf_putc(out, '[');
        json_array_foreach(v, i, e) {
            if (i) sl_buf_putc(out, ',');
            sl_json_put(out, e);
        }
        sl_buf_putc(out, ']');
        break;
    }
    case JSON_STRING:
        sl_buf_put_json_str(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sl_buf_put_i64(out, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        /* Jackson's DoubleNode: Double.toString, NaN and the infinities as strings (JsonConverter) */
        sl_jnum_put_json(out, json_real_value(v), false);
        break;
    case JSON_TRUE:
        sl_buf_puts(out, "true");
        break;
    case JSON_FALSE:
        sl_buf_puts(out, "false");
        break;
    case JSON_NULL:
        sl_buf_puts(out, "null");
        break;
    }
}

char *sl_xrec_encode(const json_t *schema, const json_t *payload, bool schemas) {
    sl_buf b;
    sl_buf_init(&b);
    if (schemas && schema) {
        sl_buf_puts(&b, "{\"schema\":");
        sl_json_put(&b, schema);
        sl_buf_puts(&b, ",\"payload\":");
        sl_json_put(&b, payload);
        sl_buf_putc(&b, '}');
    } else {
        sl_json_put(&b, payload);
    }
    char *s = sl_strdup(sl_buf_cstr(&b));
    sl_buf_free(&b);
    return s;
}

/* ---- schema helpers ---- */

json_t *sl_schema_field(const json_t *s, const char *name) {
    json_t *fields = json_object_get(s, "fields");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        const char *n = json_string_value(json_object_get(f, "field"));
        if (n && strcmp(n, name) == 0) return f;
    }
    return NULL;
}

void sl_schema_del_field(json_t *s, const char *name) {
    json_t *fields = json_object_get(s, "fields");
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(fields, i), "field"));
        if (n && strcmp(n, name) == 0) {
            json_array_remove(fields, i);
            return;
        }
    }
}

void sl_schema_put_field(json_t *s, const char *name, json_t *fs) {
    json_object_set_new(fs, "field", json_string(name));
    json_t *fields = json_object_get(s, "fields");
    if (!fields) {
        fields = json_array();
        json_object_set_new(s, "fields", fields);
    }
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(fields, i), "field"));
        if (n && strcmp(n, name) == 0) {
            json_array_set_new(fields, i, fs);
            return;
        }
    }
    json_array_append_new(fields, fs);
}

json_t *sl_schema_prim(const char *type, bool optional) {
    return json_pack("{s:s,s:b}", "type", type, "optional", optional);
}

/* ---- the record view ---- */

void sl_xrec_set(json_t **slot, json_t *v) {
    json_decref(*slot);
    *slot = v;
}

void sl_xrec_set_topic(sl_xrec *r, const char *topic) {
    char *t = sl_strdup(topic ? topic : "");
    sl_free(r->topic);
    r->topic = t;
}

void sl_xrec_add_header(sl_xrec *r, const char *key, json_t *value) {
    json_array_append_new(r->headers, json_pack("{s:s,s:o}", "key", key, "value", value ? value : json_null()));
}

void sl_xrec_clear(sl_xrec *r) {
    sl_free(r->topic);
    json_decref(r->key_schema);
    json_decref(r->key);
    json_decref(r->value_schema);
    json_decref(r->value);
    json_decref(r->headers);
    memset(r, 0, sizeof *r);
}

/* Parses converter output: {"schema": s, "payload": p} gives both, anything else is a schemaless payload.
   False (with jerr) when text is not JSON: a record whose own encoding cannot be read back is an error,
   never a null (a null value would pass as a tombstone and the record would be lost). */
static bool split(const char *text, size_t len, json_t **schema, json_t **payload, json_error_t *jerr) {
    *schema = *payload = NULL;
    if (!text) return true;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, jerr);
    if (!j) return false;
    if (json_is_null(j)) {
        json_decref(j);
        return true;
    }
    if (json_is_object(j) && json_object_size(j) == 2 && json_object_get(j, "schema") &&
        json_object_get(j, "payload")) {
        json_t *s = json_object_get(j, "schema");
        *schema = json_is_null(s) ? NULL : json_incref(s);
        json_t *p = json_object_get(j, "payload");
        *payload = json_is_null(p) ? NULL : json_incref(p);
        json_decref(j);
        return true;
    }
    *payload = j;
    return true;
}

void sl_xrec_from_text(sl_xrec *r, const char *topic, const char *key, const char *value) {
    memset(r, 0, sizeof *r);
    r->partition = r->kafka_partition = -1;
    r->kafka_offset = -1;
    r->headers = json_array();
    r->topic = sl_strdup(topic ? topic : "");
    json_error_t jerr;
    split(key, key ? strlen(key) : 0, &r->key_schema, &r->key, &jerr);
    split(value, value ? strlen(value) : 0, &r->value_schema, &r->value, &jerr);
    r->ts_ms = sl_wall_us() / 1000;
}

/* Schemas parsed once per table (change events of a table share them); see from_record. */
enum { SCHEMA_CACHE = 32 };
typedef struct schema_cache {
    sl_table *t; /* a reference: the address cannot be reused while cached */
    json_t *key_schema, *value_schema;
} schema_cache;

typedef struct xcache {
    schema_cache e[SCHEMA_CACHE];
    int n, next;
} xcache;

static void cache_free(xcache *c) {
    for (int i = 0; i < c->n; i++) {
        sl_table_unref(c->e[i].t);
        json_decref(c->e[i].key_schema);
        json_decref(c->e[i].value_schema);
    }
    c->n = c->next = 0;
}

static bool cacheable(const sl_record *rec) {
    return rec->table && !rec->raw &&
           (rec->op == SL_OP_CREATE || rec->op == SL_OP_UPDATE || rec->op == SL_OP_DELETE || rec->op == SL_OP_READ);
}

/* A shared schema (the cache holds a reference too) becomes the record's own copy; see sl_xchain_run. */
static void own_schema(json_t **s) {
    if (*s && (*s)->refcount > 1) sl_xrec_set(s, json_deep_copy(*s));
}

/*
 * Builds the view of a change record. Parsing the ~3 KB Connect schema of
 * every event was most of the cost of a transform chain: with a cache, the
 * schemas of a table are parsed once and each record parses only its
 * payloads (encoded without schemas) and shares the cached schemas; a
 * step that may change schemas in place (not schema_readonly) gets a copy
 * first (copy on write, sl_xchain_run).
 */
static int from_record(xcache *cache, sl_xrec *r, const sl_dbz_opts *o, const sl_record *rec, bool tombstone,
                       json_error_t *jerr) {
    memset(r, 0, sizeof *r);
    r->src = rec;
    r->tombstone = tombstone;
    r->partition = -1;
    r->kafka_partition = -1;
    r->kafka_offset = -1;
    r->headers = json_array();
    for (int i = 0; i < rec->nheaders; i++) {
        const sl_header *h = &rec->headers[i];
        json_t *v = NULL;
        if (h->value && h->is_json) v = json_loadb(h->value, h->value_len, JSON_DECODE_ANY, NULL);
        else if (h->value) v = json_stringn(h->value, h->value_len);
        sl_xrec_add_header(r, h->key, v);
    }
    if (rec->raw) {
        r->topic = sl_strdup(rec->raw->topic ? rec->raw->topic : "");
        r->ts_ms = rec->raw->ts_ms;
        r->kafka_partition = rec->raw->partition;
        r->kafka_offset = rec->raw->offset;
        if (rec->raw->pinned) r->partition = rec->raw->to_partition;
        if (!split(rec->raw->key, rec->raw->key_len, &r->key_schema, &r->key, jerr)) return -1;
        if (!tombstone && !split(rec->raw->value, rec->raw->value_len, &r->value_schema, &r->value, jerr)) return -1;
        return 0;
    }
    r->ts_ms = rec->ts_us > 0 ? rec->ts_us / 1000 : sl_wall_us() / 1000;
    schema_cache *hit = NULL;
    for (int i = 0; cache && cacheable(rec) && i < cache->n; i++)
        if (cache->e[i].t == rec->table) hit = &cache->e[i];
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_opts so = *o;
    so.key_schemas = so.value_schemas = hit == NULL;
    r->topic = sl_strdup(sl_dbz_topic(&so, rec, &b));
    json_t *none = NULL;
    sl_buf_reset(&b);
    sl_dbz_key(&so, rec, &b);
    bool ok = split(b.data, b.len, hit ? &none : &r->key_schema, &r->key, jerr);
    if (ok && !tombstone) {
        sl_buf_reset(&b);
        sl_dbz_value(&so, rec, &b);
        ok = split(b.data, b.len, hit ? &none : &r->value_schema, &r->value, jerr);
    }
    sl_buf_free(&b);
    if (!ok) return -1;
    if (hit) {
        r->key_schema = r->key && hit->key_schema ? json_incref(hit->key_schema) : NULL;
        r->value_schema = r->value && hit->value_schema ? json_incref(hit->value_schema) : NULL;
    } else if (cache && cacheable(rec) && !tombstone && r->value_schema) {
        schema_cache *e = &cache->e[cache->n < SCHEMA_CACHE ? cache->n++ : cache->next];
        if (e->t) { /* full: the oldest entry goes */
            sl_table_unref(e->t);
            json_decref(e->key_schema);
            json_decref(e->value_schema);
            cache->next = (cache->next + 1) % SCHEMA_CACHE;
        }
        e->t = sl_table_ref(rec->table);
        e->key_schema = r->key_schema ? json_deep_copy(r->key_schema) : NULL;
        e->value_schema = json_deep_copy(r->value_schema);
    }
    return 0;
}

void sl_xrec_from_record(sl_xrec *r, const sl_dbz_opts *o, const sl_record *rec, bool tombstone) {
    json_error_t jerr;
    from_record(NULL, r, o, rec, tombstone, &jerr);
}

/* ---- the chain ---- */

typedef struct xpred {
    char *name;
    const sl_xpred_ops *ops;
    void *settings, *state;
} xpred;

typedef struct xstep {
    char *name;
    const sl_xform_ops *ops;
    void *settings, *state;
    int pred;     /* index into preds, -1: none */
    bool negate;
} xstep;

struct sl_xchain {
    xstep *steps;
    int n;
    xpred *preds;
    int np;
    sl_buf buf;
    xcache cache;
};

typedef struct step_conf {
    char *type, *predicate;
    bool negate;
} step_conf;

#define F(x) offsetof(step_conf, x)
static const sl_prop step_props[] = {
    {"type", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(type),
     "The transform's type: a native name or its Java class name."},
    {"predicate", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(predicate),
     "Apply only to records this predicate (one of `predicates`) matches."},
    {"negate", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(negate), "Apply to the records the predicate does not match."},
    {NULL}};
static const sl_prop pred_props[] = {
    {"type", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(type),
     "The predicate's type: a native name or its Java class name."},
    {NULL}};
#undef F

/* Splits a comma-separated list into trimmed names; returns how many (at most max). */
static int split_names(const char *list, char names[][128], int max) {
    int n = 0;
    for (const char *p = list ? list : ""; *p && n < max;) {
        while (*p == ',' || *p == ' ' || *p == '\t') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if (t > p) snprintf(names[n++], 128, "%.*s", (int)(t - p), p);
        p = e;
    }
    return n;
}

static void list_types(char *out, size_t outsz, bool preds) {
    size_t o = 0;
    out[0] = 0;
    if (preds) {
        for (int g = 0; pred_groups[g]; g++)
            for (int i = 0; pred_groups[g][i]; i++)
                o += (size_t)snprintf(out + o, o < outsz ? outsz - o : 0, "%s%s", o ? ", " : "",
                                      pred_groups[g][i]->name);
    } else {
        for (int g = 0; xform_groups[g]; g++)
            for (int i = 0; xform_groups[g][i]; i++)
                o += (size_t)snprintf(out + o, o < outsz ? outsz - o : 0, "%s%s", o ? ", " : "",
                                      xform_groups[g][i]->name);
    }
}

void sl_xchain_free(sl_xchain *x) {
    if (!x) return;
    for (int i = 0; i < x->n; i++) {
        xstep *s = &x->steps[i];
        if (s->state && s->ops->free) s->ops->free(s->state);
        if (s->settings) {
            sl_conf_free(s->ops->props, s->settings);
            sl_free(s->settings);
        }
        sl_free(s->name);
    }
    for (int i = 0; i < x->np; i++) {
        xpred *p = &x->preds[i];
        if (p->state && p->ops->free) p->ops->free(p->state);
        if (p->settings) {
            sl_conf_free(p->ops->props, p->settings);
            sl_free(p->settings);
        }
        sl_free(p->name);
    }
    sl_free(x->steps);
    sl_free(x->preds);
    sl_buf_free(&x->buf);
    cache_free(&x->cache);
    sl_free(x);
}

enum { MAX_STEPS = 64 };

/* A transform's or predicate's options (under prefix) into new settings, then its init: *state is NULL on errors. */
static void setup_type(const sl_prop *props, size_t size, void *(*init)(void *, sl_config *, const char *, sl_errs *),
                       const char *type, sl_config *cfg, const char *prefix, sl_errs *errs, void **settings,
                       void **state) {
    *settings = sl_calloc(1, size ? size : 1);
    if (sl_conf_apply_prefixed(props, cfg, prefix, *settings, errs) || !init) return;
    int e0 = errs->n;
    *state = init(*settings, cfg, prefix, errs);
    if (!*state && errs->n == e0) sl_errs_add(errs, "%stype: %s could not be set up", prefix, type);
}

sl_xchain *sl_xchain_new(sl_config *cfg, const char *transforms, sl_errs *errs) {
    char names[MAX_STEPS][128];
    int n = split_names(transforms, names, MAX_STEPS);
    if (n == 0) return NULL;
    int before = errs->n;
    sl_xchain *x = sl_calloc(1, sizeof *x);
    sl_buf_init(&x->buf);
    char allowed[2048], prefix[256];

    /* predicates first: transforms refer to them */
    const char *plist = sl_config_get(cfg, "predicates");
    sl_config_claim(cfg, "predicates");
    char pnames[MAX_STEPS][128];
    int np = split_names(plist, pnames, MAX_STEPS);
    x->preds = sl_calloc((size_t)(np ? np : 1), sizeof *x->preds);
    for (int i = 0; i < np; i++) {
        xpred *p = &x->preds[x->np];
        snprintf(prefix, sizeof prefix, "predicates.%.128s.", pnames[i]);
        step_conf sc = {0};
        if (sl_conf_apply_prefixed(pred_props, cfg, prefix, &sc, errs) == 0) {
            if (!(p->ops = sl_xpred_find(sc.type))) {
                list_types(allowed, sizeof allowed, true);
                sl_errs_add(errs, "%stype: '%s' is not a known predicate (allowed: %s)", prefix, sc.type, allowed);
            } else {
                p->name = sl_strdup(pnames[i]);
                setup_type(p->ops->props, p->ops->settings_size, p->ops->init, p->ops->name, cfg, prefix, errs,
                           &p->settings, &p->state);
                x->np++;
            }
        }
        sl_conf_free(pred_props, &sc);
    }

    x->steps = sl_calloc((size_t)n, sizeof *x->steps);
    for (int i = 0; i < n; i++) {
        xstep *s = &x->steps[x->n];
        snprintf(prefix, sizeof prefix, "transforms.%.128s.", names[i]);
        step_conf sc = {0};
        if (sl_conf_apply_prefixed(step_props, cfg, prefix, &sc, errs) == 0) {
            if (!(s->ops = sl_xform_find(sc.type))) {
                list_types(allowed, sizeof allowed, false);
                sl_errs_add(errs, "%stype: '%s' is not a known transform (allowed: %s, or their Java class names)",
                            prefix, sc.type, allowed);
            } else {
                s->name = sl_strdup(names[i]);
                s->pred = -1;
                s->negate = sc.negate;
                if (sc.predicate && *sc.predicate) {
                    for (int k = 0; k < x->np; k++)
                        if (strcmp(x->preds[k].name, sc.predicate) == 0) s->pred = k;
                    if (s->pred < 0)
                        sl_errs_add(errs, "%spredicate: '%s' is not one of predicates (%s)", prefix, sc.predicate,
                                    plist && *plist ? plist : "none are defined");
                }
                setup_type(s->ops->props, s->ops->settings_size, s->ops->init, s->ops->name, cfg, prefix, errs,
                           &s->settings, &s->state);
                x->n++;
            }
        }
        sl_conf_free(step_props, &sc);
    }
    if (errs->n > before) {
        sl_xchain_free(x);
        return NULL;
    }
    return x;
}

int sl_xchain_run(sl_xchain *x, sl_xrec *r, char *errstr, size_t errsz) {
    for (int i = 0; i < x->n; i++) {
        xstep *s = &x->steps[i];
        if (s->pred >= 0) {
            xpred *p = &x->preds[s->pred];
            bool hit = p->ops->test(p->state, r);
            if (hit == s->negate) continue;
        }
        if (!s->ops->schema_readonly) {
            own_schema(&r->key_schema);
            own_schema(&r->value_schema);
        }
        char err[768] = "";
        int rc = s->ops->apply(s->state, r, err, sizeof err);
        if (rc == SL_X_ERROR) {
            snprintf(errstr, errsz, "transform %s (%s) failed on a record of topic %s: %s", s->name, s->ops->name,
                     r->topic ? r->topic : "?", err[0] ? err : "no reason given");
            return SL_X_ERROR;
        }
        if (rc == SL_X_DROP) return SL_X_DROP;
    }
    return SL_X_KEEP;
}

void sl_xchain_durable(sl_xchain *x) {
    for (int i = 0; x && i < x->n; i++)
        if (x->steps[i].ops->durable && x->steps[i].state) x->steps[i].ops->durable(x->steps[i].state);
}

/* Stores the transformed record r as a pre-encoded record in b's arena. */
static void store(sl_xchain *x, const sl_dbz_opts *o, sl_batch *b, sl_record *out, const sl_xrec *r) {
    sl_arena *a = &b->arena;
    *out = *r->src;
    out->table = NULL;
    out->before = out->after = NULL;
    sl_raw *raw = sl_arena_alloc(a, sizeof *raw);
    memset(raw, 0, sizeof *raw);
    raw->topic = sl_arena_strndup(a, r->topic, strlen(r->topic));
    raw->partition = r->kafka_partition;
    raw->offset = r->kafka_offset;
    raw->ts_ms = r->ts_ms;
    raw->pinned = r->partition >= 0;
    raw->to_partition = r->partition;
    if (r->key && !json_is_null(r->key)) {
        char *k = sl_xrec_encode(r->key_schema, r->key, o->key_schemas);
        raw->key_len = (uint32_t)strlen(k);
        raw->key = sl_arena_strndup(a, k, raw->key_len);
        sl_free(k);
    }
    if (r->value && !json_is_null(r->value)) {
        char *v = sl_xrec_encode(r->value_schema, r->value, o->value_schemas);
        raw->value_len = (uint32_t)strlen(v);
        raw->value = sl_arena_strndup(a, v, raw->value_len);
        sl_free(v);
    }
    out->raw = raw;
    size_t nh = json_array_size(r->headers);
    out->nheaders = (int)nh;
    out->headers = nh ? sl_arena_alloc(a, nh * sizeof *out->headers) : NULL;
    for (size_t i = 0; i < nh; i++) {
        json_t *h = json_array_get(r->headers, i);
        const char *k = json_string_value(json_object_get(h, "key"));
        json_t *v = json_object_get(h, "value");
        sl_header *oh = &out->headers[i];
        oh->key = sl_arena_strndup(a, k ? k : "", k ? strlen(k) : 0);
        oh->is_json = false;
        if (!v || json_is_null(v)) {
            oh->value = NULL, oh->value_len = 0;
        } else if (json_is_string(v)) {
            oh->value = sl_arena_strndup(a, json_string_value(v), json_string_length(v));
            oh->value_len = (uint32_t)json_string_length(v);
        } else {
            sl_buf_reset(&x->buf);
            sl_json_put(&x->buf, v);
            oh->value = sl_arena_strndup(a, x->buf.data, x->buf.len);
            oh->value_len = (uint32_t)x->buf.len;
            oh->is_json = true;
        }
    }
}

int sl_xchain_apply(sl_xchain *x, const sl_dbz_opts *o, bool tombstones, sl_batch *b, sl_xfail_fn fail, void *arg,
                    char *errstr, size_t errsz) {
    if (!x || b->n == 0) return 0;
    /* Output can be up to twice the input (a delete and its tombstone). */
    sl_record *outv = sl_calloc((size_t)b->n * 2, sizeof *outv);
    int nout = 0, covered = -1, dropped = 0;
    for (int i = 0; i < b->n; i++) {
        if (b->offset && i == b->offset_n) covered = nout;
        const sl_record *rec = &b->recs[i];
        bool tomb = tombstones && !rec->raw && rec->op == SL_OP_DELETE && rec->table; /* keyed or not, as Debezium */
        for (int k = 0; k < (tomb ? 2 : 1); k++) {
            sl_xrec r;
            json_error_t jerr;
            int rc = SL_X_ERROR;
            char why[1024];
            if (from_record(&x->cache, &r, o, rec, k == 1, &jerr) < 0)
                snprintf(why, sizeof why, "the record's JSON could not be read back (%s at byte %d)", jerr.text,
                         jerr.position);
            else rc = sl_xchain_run(x, &r, why, sizeof why);
            if (rc == SL_X_KEEP) store(x, o, b, &outv[nout++], &r);
            else if (rc == SL_X_DROP) dropped++;
            sl_xrec_clear(&r);
            if (rc == SL_X_ERROR && (!fail || fail(arg, rec, why, errstr, errsz) < 0)) {
                if (!fail) snprintf(errstr, errsz, "%s", why);
                sl_free(outv);
                return -1;
            }
            if (rc == SL_X_ERROR) break; /* skipped: its tombstone goes with it */
        }
    }
    if (b->offset && covered < 0) covered = nout;
    sl_free(b->recs);
    b->recs = outv;
    b->cap = b->n * 2;
    b->n = nout;
    if (b->offset) b->offset_n = covered;
    return dropped;
}

/* ---- docs ---- */

void sl_xform_doc(FILE *out) {
    fprintf(out, "## Option reference\n\nGenerated from the property tables (`sluice config-docs transforms`). "
                 "Every transform also takes `transforms.<name>.predicate` and `transforms.<name>.negate`.\n\n");
    for (int g = 0; xform_groups[g]; g++)
        for (int i = 0; xform_groups[g][i]; i++) {
            const sl_xform_ops *t = xform_groups[g][i];
            char title[256], intro[2048];
            snprintf(title, sizeof title, "Transform `%s`", t->name);
            snprintf(intro, sizeof intro, "%s%s%s%s", t->doc, t->aliases ? " Type names: `" : "",
                     t->aliases ? t->aliases : "", t->aliases ? "`." : "");
            for (char *p = intro; *p; p++)
                if (*p == '|') *p = ',';
            if (t->props[0].name) sl_conf_doc(out, title, intro, t->props);
            else fprintf(out, "## %s\n\n%s No options.\n\n", title, intro);
        }
    for (int g = 0; pred_groups[g]; g++)
        for (int i = 0; pred_groups[g][i]; i++) {
            const sl_xpred_ops *t = pred_groups[g][i];
            char title[256], intro[2048];
            snprintf(title, sizeof title, "Predicate `%s`", t->name);
            snprintf(intro, sizeof intro, "%s%s%s%s", t->doc, t->aliases ? " Type names: `" : "",
                     t->aliases ? t->aliases : "", t->aliases ? "`." : "");
            for (char *p = intro; *p; p++)
                if (*p == '|') *p = ',';
            if (t->props[0].name) sl_conf_doc(out, title, intro, t->props);
            else fprintf(out, "## %s\n\n%s No options.\n\n", title, intro);
        }
}
