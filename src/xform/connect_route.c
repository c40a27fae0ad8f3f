/*
 * Kafka Connect's topic routers: RegexRouter (the whole topic must match a
 * Java regex; Matcher.replaceFirst builds the new one) and TimestampRouter
 * (topic.format with ${topic} and ${timestamp}, the record's timestamp
 * formatted by a SimpleDateFormat pattern in UTC).
 */
#include "xform/connect_int.h"
#include "util/mem.h"
#include <string.h>

#define T "org.apache.kafka.connect.transforms."

/* ---- RegexRouter ---- */

typedef struct regex_conf {
    char *regex, *replacement;
} regex_conf;

static const sl_prop regex_props[] = {
    {"regex", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, offsetof(regex_conf, regex),
     "A Java regular expression; a record is rerouted only when its whole topic matches."},
    {"replacement", SL_PT_STRING, NULL, NULL, 0, 0, 0, offsetof(regex_conf, replacement),
     "The new topic (required; may be empty): `$1` or `${name}` insert a group, `\\` escapes the next character."},
    {NULL}};

typedef struct regex_state {
    const regex_conf *c;
    cx_regex *re;
    char *last_in, *last_out; /* the last topic seen and what it became (NULL: unchanged): most records of a
                               * batch share their topic, and the result depends on the topic alone */
} regex_state;

static void regex_free(void *st) {
    regex_state *s = st;
    cx_regex_free(s->re);
    sl_free(s->last_in);
    sl_free(s->last_out);
    sl_free(s);
}

static void *regex_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    regex_conf *c = settings;
    char key[300];
    if (!c->replacement) {
        sl_errs_add(errs, "%sreplacement: required, not set (the new topic; may be empty)", prefix);
        return NULL;
    }
    snprintf(key, sizeof key, "%sregex", prefix);
    cx_regex *re = cx_regex_new(c->regex, key, errs);
    if (!re) return NULL;
    snprintf(key, sizeof key, "%sreplacement", prefix);
    if (cx_regex_check_replacement(re, c->replacement, key, errs) < 0) {
        cx_regex_free(re);
        return NULL;
    }
    regex_state *s = sl_calloc(1, sizeof *s);
    s->c = c, s->re = re;
    return s;
}

static int regex_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    regex_state *s = st;
    if (!s->last_in || strcmp(s->last_in, r->topic) != 0) {
        sl_free(s->last_in);
        sl_free(s->last_out);
        s->last_in = sl_strdup(r->topic);
        s->last_out = cx_regex_matches(s->re, r->topic) ? cx_regex_replace_first(s->re, r->topic, s->c->replacement)
                                                        : NULL;
    }
    if (s->last_out) sl_xrec_set_topic(r, s->last_out);
    return SL_X_KEEP;
}

static int regex_vmap(void *st, sl_vtable *t, char *errstr, size_t errsz) {
    const regex_state *s = st;
    (void)errstr, (void)errsz;
    if (!cx_regex_matches(s->re, t->topic)) return 0;
    char *to = cx_regex_replace_first(s->re, t->topic, s->c->replacement);
    snprintf(t->topic, sizeof t->topic, "%s", to);
    sl_free(to);
    return 0;
}

const sl_xform_ops cx_regex_router = {"RegexRouter", T "RegexRouter",
                                      "Renames the topic of records whose whole topic matches a regular expression.",
                                      regex_props, sizeof(regex_conf), regex_init, regex_apply, regex_free, NULL, true,
                                      .any_form = true, .vmap = regex_vmap};

/* ---- TimestampRouter ---- */

typedef struct ts_route_conf {
    char *topic_format, *ts_format;
} ts_route_conf;

static const sl_prop ts_route_props[] = {
    {"topic.format", SL_PT_STRING, "${topic}-${timestamp}", NULL, 0, 0, 0, offsetof(ts_route_conf, topic_format),
     "The new topic: `${topic}` is replaced by the topic, `${timestamp}` by the formatted timestamp."},
    {"timestamp.format", SL_PT_STRING, "yyyyMMdd", NULL, 0, 0, 0, offsetof(ts_route_conf, ts_format),
     "A java.text.SimpleDateFormat pattern for the record's timestamp, in UTC (letters y M d D H h k K m s S a E Z X "
     "z and 'quoted text')."},
    {NULL}};

typedef struct ts_route_state {
    const ts_route_conf *c;
    cx_datefmt *fmt;
    sl_buf buf;
} ts_route_state;

static void ts_route_free(void *st) {
    ts_route_state *s = st;
    cx_datefmt_free(s->fmt);
    sl_buf_free(&s->buf);
    sl_free(s);
}

static void *ts_route_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    ts_route_conf *c = settings;
    char key[300];
    snprintf(key, sizeof key, "%stimestamp.format", prefix);
    cx_datefmt *f = cx_datefmt_new(c->ts_format, key, errs);
    if (!f) return NULL;
    ts_route_state *s = sl_calloc(1, sizeof *s);
    s->c = c, s->fmt = f;
    sl_buf_init(&s->buf);
    return s;
}

static int ts_route_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    ts_route_state *s = st;
    if (r->ts_ms < 0) {
        snprintf(errstr, errsz, "timestamp missing on the record");
        return SL_X_ERROR;
    }
    sl_buf ts;
    sl_buf_init(&ts);
    cx_datefmt_format(s->fmt, r->ts_ms, &ts);
    sl_buf_cstr(&ts);
    sl_buf_reset(&s->buf);
    for (const char *p = s->c->topic_format; *p;) { /* ${topic} first, then ${timestamp}, as Connect does */
        if (strncmp(p, "${topic}", 8) == 0) sl_buf_puts(&s->buf, r->topic), p += 8;
        else sl_buf_putc(&s->buf, *p++);
    }
    char *once = sl_strdup(sl_buf_cstr(&s->buf));
    sl_buf_reset(&s->buf);
    for (const char *p = once; *p;) {
        if (strncmp(p, "${timestamp}", 12) == 0) sl_buf_put(&s->buf, ts.data, ts.len), p += 12;
        else sl_buf_putc(&s->buf, *p++);
    }
    sl_free(once);
    sl_buf_free(&ts);
    sl_xrec_set_topic(r, sl_buf_cstr(&s->buf));
    return SL_X_KEEP;
}

const sl_xform_ops cx_timestamp_router = {"TimestampRouter", T "TimestampRouter",
                                          "Renames the topic from the topic and the record's timestamp "
                                          "(e.g. one topic per day).",
                                          ts_route_props, sizeof(ts_route_conf), ts_route_init, ts_route_apply,
                                          ts_route_free, NULL, true, .any_form = true};
