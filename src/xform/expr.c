/*
 * Transform types over the expression language (expr_lang.h): `filter`
 * (Debezium's Filter) keeps or drops records by a condition, and `router`
 * (Debezium's ContentBasedRouter) sets the topic from ordered
 * condition => topic routes or from a topic expression.
 *
 * Debezium runs these with JSR 223 scripts (Groovy, JavaScript); sluice
 * cannot, so `language` accepts only `sluice` and a jsr223.* value is a
 * config error pointing at the translation guide (docs/transforms.md).
 * Both take Debezium's `topic.regex` (apply only to topics matching it) and
 * `null.handling.mode` (what to do with tombstones).
 */
#include "util/mem.h"
#include "xform/expr_lang.h"
#include "xform/xform.h"
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { NULLS_KEEP, NULLS_DROP, NULLS_EVALUATE };
enum { MAX_ROUTES = 256 };

/* ---- shared: language, topic.regex, null handling ---- */

static bool language_ok(const char *prefix, const char *lang, sl_errs *errs) {
    if (!lang || !*lang || strcasecmp(lang, "sluice") == 0) return true;
    if (strncasecmp(lang, "jsr223.", 7) == 0)
        sl_errs_add(errs,
                    "%slanguage: '%s' is not supported: sluice cannot run Groovy or JavaScript; write the "
                    "expression in the sluice expression language and remove the language key (see "
                    "docs/transforms.md, \"Translating Debezium scripts\")",
                    prefix, lang);
    else sl_errs_add(errs, "%slanguage: '%s' is not supported (allowed: sluice)", prefix, lang);
    return false;
}

/* Compiles `expr` of key <prefix><key>; NULL with the error naming the key. */
static sl_expr *compile(const char *prefix, const char *key, const char *expr, sl_errs *errs) {
    char err[512];
    sl_expr *e = sl_expr_parse(expr, err, sizeof err);
    if (!e) sl_errs_add(errs, "%s%s: %s", prefix, key, err);
    return e;
}

typedef struct scope {
    regex_t re;
    bool has_re;
    int nulls;
} scope;

static bool scope_init(scope *s, const char *prefix, const char *topic_regex, int nulls, sl_errs *errs) {
    s->nulls = nulls;
    if (!topic_regex || !*topic_regex) return true;
    size_t n = strlen(topic_regex) + 5;
    char *full = sl_malloc(n);
    snprintf(full, n, "^(%s)$", topic_regex); /* the whole topic, as Java's Pattern.matches */
    int rc = regcomp(&s->re, full, REG_EXTENDED | REG_NOSUB);
    sl_free(full);
    if (rc != 0) {
        char msg[200];
        regerror(rc, &s->re, msg, sizeof msg);
        sl_errs_add(errs, "%stopic.regex: invalid regex '%s': %s", prefix, topic_regex, msg);
        return false;
    }
    s->has_re = true;
    return true;
}

static void scope_free(scope *s) {
    if (s->has_re) regfree(&s->re);
}

/* SL_X_KEEP: leave r alone (topic out of scope, or a tombstone kept); SL_X_DROP: drop it; 2: evaluate. */
static int scope_check(const scope *s, const sl_xrec *r) {
    if (s->has_re && regexec(&s->re, r->topic ? r->topic : "", 0, NULL, 0) != 0) return SL_X_KEEP;
    if (!sl_xrec_value_is_null(r)) return 2;
    return s->nulls == NULLS_KEEP ? SL_X_KEEP : s->nulls == NULLS_DROP ? SL_X_DROP : 2;
}

#define NULLS_PROP(type, field)                                                                             \
    {"null.handling.mode", SL_PT_ENUM, "keep", "keep|drop|evaluate", 0, 0, 0, offsetof(type, field),        \
     "Records with a null value (tombstones): `keep` passes them unchanged, `drop` drops them, `evaluate` " \
     "runs the expression on them like on any record."}
#define LANG_PROP(type, field)                                                                              \
    {"language", SL_PT_STRING, NULL, NULL, 0, 0, 0, offsetof(type, field),                                 \
     "The expression language: only `sluice` (or unset). Debezium's `jsr223.groovy` and friends are "       \
     "rejected: translate the script to the sluice expression language."}
#define REGEX_PROP(type, field)                                                                          \
    {"topic.regex", SL_PT_STRING, NULL, NULL, 0, 0, 0, offsetof(type, field),                            \
     "Apply only to records whose topic matches this regex (POSIX ERE, whole topic); others pass " \
     "unchanged."}

/* ---- filter ---- */

typedef struct filter_conf {
    char *language, *condition, *topic_regex;
    int action, nulls;
} filter_conf;

typedef struct filter_st {
    sl_expr *cond;
    bool drop_matches;
    scope sc;
} filter_st;

#define F(x) offsetof(filter_conf, x)
static const sl_prop filter_props[] = {
    {"condition", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(condition),
     "The condition, in the sluice expression language, e.g. `op == 'u' and after.status != 'draft'`."},
    {"action", SL_PT_ENUM, "keep", "keep|drop", 0, 0, 0, F(action),
     "`keep`: records matching the condition pass, the others are dropped (Debezium's Filter); `drop`: "
     "records matching the condition are dropped."},
    NULLS_PROP(filter_conf, nulls),
    REGEX_PROP(filter_conf, topic_regex),
    LANG_PROP(filter_conf, language),
    {NULL}};
#undef F

static void filter_free(void *state) {
    filter_st *st = state;
    if (!st) return;
    sl_expr_free(st->cond);
    scope_free(&st->sc);
    sl_free(st);
}

static void *filter_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    filter_conf *c = settings;
    filter_st *st = sl_calloc(1, sizeof *st);
    bool ok = language_ok(prefix, c->language, errs);
    ok = scope_init(&st->sc, prefix, c->topic_regex, c->nulls, errs) && ok;
    st->cond = compile(prefix, "condition", c->condition, errs);
    st->drop_matches = c->action == 1;
    if (!ok || !st->cond) {
        filter_free(st);
        return NULL;
    }
    return st;
}

static int filter_apply(void *state, sl_xrec *r, char *errstr, size_t errsz) {
    filter_st *st = state;
    int s = scope_check(&st->sc, r);
    if (s != 2) return s;
    sl_expr_val v;
    if (sl_expr_eval(st->cond, r, &v, errstr, errsz) < 0) return SL_X_ERROR;
    bool hit = v.t == SL_EV_BOOL && v.b;
    return hit != st->drop_matches ? SL_X_KEEP : SL_X_DROP;
}

static const sl_xform_ops filter_ops = {
    "filter", "io.debezium.transforms.Filter",
    "Keeps or drops records by a condition in the sluice expression language (see the language reference "
    "above).",
    filter_props, sizeof(filter_conf), filter_init, NULL, filter_free, NULL, true, .apply_v = filter_apply};

/* ---- router ---- */

typedef struct router_conf {
    char *language, *topic_expression, *default_topic, *topic_regex;
    int nulls;
    char *route_doc[2]; /* the route.<n>.* rows document numbered keys, which routes_read reads */
} router_conf;

typedef struct route {
    long n;
    sl_expr *cond;
    char *topic;
    bool has_cond; /* the key is set (cond is NULL when it did not parse) */
} route;

typedef struct router_st {
    route *routes;
    int nroutes;
    sl_expr *expr;
    const char *default_topic; /* in the settings */
    scope sc;
} router_st;

#define F(x) offsetof(router_conf, x)
static const sl_prop router_props[] = {
    {"topic.expression", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(topic_expression),
     "An expression giving the topic as a string, or null to leave the record's topic (then `default.topic` "
     "applies when set). Either this or `route.<n>.condition` / `route.<n>.topic`."},
    {"route.<n>.condition", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(route_doc[0]),
     "The condition of route `<n>` (an integer; routes are tried in increasing `<n>`; the first whose "
     "condition is true sets the topic)."},
    {"route.<n>.topic", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(route_doc[1]),
     "The topic route `<n>` sends its records to."},
    {"default.topic", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(default_topic),
     "The topic for records no route matches (or whose topic expression is null); unset: they keep their "
     "topic."},
    NULLS_PROP(router_conf, nulls),
    REGEX_PROP(router_conf, topic_regex),
    LANG_PROP(router_conf, language),
    {NULL}};
#undef F

static void router_free(void *state) {
    router_st *st = state;
    if (!st) return;
    for (int i = 0; i < st->nroutes; i++) {
        sl_expr_free(st->routes[i].cond);
        sl_free(st->routes[i].topic);
    }
    sl_free(st->routes);
    sl_expr_free(st->expr);
    scope_free(&st->sc);
    sl_free(st);
}

static int route_cmp(const void *a, const void *b) {
    long x = ((const route *)a)->n, y = ((const route *)b)->n;
    return (x > y) - (x < y);
}

/* Route n, added when new; NULL when MAX_ROUTES exist already. */
static route *route_get(router_st *st, long n) {
    for (int i = 0; i < st->nroutes; i++)
        if (st->routes[i].n == n) return &st->routes[i];
    if (st->nroutes == MAX_ROUTES) return NULL;
    st->routes = sl_realloc(st->routes, (size_t)(st->nroutes + 1) * sizeof *st->routes);
    st->routes[st->nroutes] = (route){.n = n};
    return &st->routes[st->nroutes++];
}

/* Reads the keys <prefix>route.<n>.condition / .topic (claiming them) into st->routes, sorted by n. */
static bool routes_read(router_st *st, sl_config *cfg, const char *prefix, sl_errs *errs) {
    char rp[300];
    snprintf(rp, sizeof rp, "%sroute.", prefix);
    size_t rpl = strlen(rp);
    bool ok = true;
    for (int i = 0; i < cfg->n; i++) {
        sl_kv *kv = &cfg->kv[i];
        if (strncmp(kv->key, rp, rpl) != 0) continue;
        kv->used = true;
        const char *s = kv->key + rpl;
        char *end;
        long n = strtol(s, &end, 10);
        bool num = end > s && *s >= '0' && *s <= '9' && *end == '.' && n >= 0 && n < 1000000;
        bool cond = num && strcmp(end, ".condition") == 0, topic = num && strcmp(end, ".topic") == 0;
        if (!cond && !topic) {
            sl_errs_add(errs, "%s: unknown key (routes are %sroute.<n>.condition and %sroute.<n>.topic, <n> an "
                        "integer)", kv->key, prefix, prefix);
            ok = false;
            continue;
        }
        route *r = route_get(st, n);
        if (!r) {
            sl_errs_add(errs, "%s: too many routes (at most %d)", kv->key, MAX_ROUTES);
            ok = false;
            continue;
        }
        if (topic) {
            sl_free(r->topic);
            r->topic = sl_strdup(kv->value);
            if (!*kv->value) sl_errs_add(errs, "%s: empty topic", kv->key), ok = false;
        } else {
            sl_expr_free(r->cond);
            r->has_cond = true;
            char key[64];
            snprintf(key, sizeof key, "route.%ld.condition", n);
            if (!(r->cond = compile(prefix, key, kv->value, errs))) ok = false;
        }
    }
    for (int i = 0; i < st->nroutes; i++) {
        route *r = &st->routes[i];
        if (!r->topic || !r->has_cond) {
            sl_errs_add(errs, "%sroute.%ld.%s: required, not set (route %ld has a %s)", prefix, r->n,
                        r->topic ? "condition" : "topic", r->n, r->topic ? "topic" : "condition");
            ok = false;
        }
    }
    if (st->nroutes) qsort(st->routes, (size_t)st->nroutes, sizeof *st->routes, route_cmp);
    return ok;
}

static void *router_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    router_conf *c = settings;
    router_st *st = sl_calloc(1, sizeof *st);
    bool ok = language_ok(prefix, c->language, errs);
    ok = scope_init(&st->sc, prefix, c->topic_regex, c->nulls, errs) && ok;
    ok = routes_read(st, cfg, prefix, errs) && ok;
    if (c->topic_expression && *c->topic_expression) {
        if (!(st->expr = compile(prefix, "topic.expression", c->topic_expression, errs))) ok = false;
        else if (st->nroutes) {
            sl_errs_add(errs, "%stopic.expression: set either it or %sroute.<n>.condition/topic, not both", prefix,
                        prefix);
            ok = false;
        }
    } else if (ok && !st->nroutes) {
        sl_errs_add(errs, "%stopic.expression: required, not set (or routes %sroute.<n>.condition and "
                    "%sroute.<n>.topic)", prefix, prefix, prefix);
        ok = false;
    }
    st->default_topic = c->default_topic && *c->default_topic ? c->default_topic : NULL;
    if (!ok) {
        router_free(st);
        return NULL;
    }
    return st;
}

static int router_apply(void *state, sl_xrec *r, char *errstr, size_t errsz) {
    router_st *st = state;
    int s = scope_check(&st->sc, r);
    if (s != 2) return s;
    const char *topic = NULL;
    if (st->expr) {
        sl_expr_val v;
        if (sl_expr_eval(st->expr, r, &v, errstr, errsz) < 0) return SL_X_ERROR;
        if (v.t == SL_EV_STR && v.n > 0 && strlen(v.s) == v.n) {
            topic = v.s;
        } else if (v.t != SL_EV_NULL) {
            char text[80];
            sl_expr_val_str(&v, text, sizeof text);
            snprintf(errstr, errsz, "topic.expression gave %s%s '%s', not a topic name",
                     v.t == SL_EV_STR ? "an invalid " : "a ", sl_expr_type_name(&v), text);
            return SL_X_ERROR;
        }
    } else {
        for (int i = 0; i < st->nroutes && !topic; i++)
            if (sl_expr_test(st->routes[i].cond, r)) topic = st->routes[i].topic;
    }
    if (!topic) topic = st->default_topic;
    if (topic) sl_xrec_set_topic(r, topic);
    return SL_X_KEEP;
}

static const sl_xform_ops router_ops = {
    "router", "io.debezium.transforms.ContentBasedRouter",
    "Sets the topic by content: the first route whose condition is true, or a topic expression (see the "
    "language reference above).",
    router_props, sizeof(router_conf), router_init, NULL, router_free, NULL, true, .apply_v = router_apply};

const sl_xform_ops *const sl_xforms_expr[] = {&filter_ops, &router_ops, NULL};
