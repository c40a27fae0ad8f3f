/*
 * Kafka Connect's built-in transforms and predicates (src/xform/connect*.c):
 * golden before/after records, with schemas (Debezium's envelope and its
 * Connect schema, as dbz_json writes them) and schemaless, each option, bad
 * configs (the error names the key) and records a transform cannot handle.
 * JSON is written with single quotes here (Q() turns them into double ones).
 */
#include "test.h"
#include "xtest.h"
#include <stdarg.h>

/* ---- helpers ---- */

/* s with ' turned into " (one of 16 rotating buffers). */
static const char *Q(const char *s) {
    static char bufs[16][8192];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof bufs[0], "%s", s);
    for (char *p = b; *p; p++)
        if (*p == '\'') *p = '"';
    return b;
}

/* A chain of one transform "t" of `type` with options k1, v1, ... NULL (keys without "transforms.t." are
 * prefixed; keys starting with "predicates" or "transforms" are taken as they are). err: the first error. */
static sl_xchain *vmk(char *err, size_t errsz, const char *type, va_list ap) {
    json_t *o = json_pack("{s:s,s:s}", "transforms", "t", "transforms.t.type", type);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        char key[256];
        if (!strncmp(k, "predicates", 10) || !strncmp(k, "transforms", 10)) snprintf(key, sizeof key, "%s", k);
        else snprintf(key, sizeof key, "transforms.t.%s", k);
        json_object_set_new(o, key, json_string(v));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    sl_xchain *x = xt_chain(text, err, errsz);
    free(text);
    json_decref(o);
    return x;
}

static sl_xchain *mk(const char *type, ...) {
    va_list ap;
    va_start(ap, type);
    sl_xchain *x = vmk(NULL, 0, type, ap);
    va_end(ap);
    return x;
}

static char g_err[1024];
/* The first config error of a chain that must not build ("" when it did build). */
static const char *mk_err(const char *type, ...) {
    va_list ap;
    va_start(ap, type);
    sl_xchain *x = vmk(g_err, sizeof g_err, type, ap);
    va_end(ap);
    if (x) {
        sl_xchain_free(x);
        return "";
    }
    return g_err;
}

/* Record context for run(). */
static int64_t g_ts = 1706696430123LL; /* 2024-01-31T10:20:30.123Z */
static int64_t g_koff = -1;
static int32_t g_kpart = -1;
static const char *g_hdr; /* a header key to add, or NULL */

static xt_out run(sl_xchain *x, const char *topic, const char *key, const char *value) {
    xt_out o;
    memset(&o, 0, sizeof o);
    if (!x) {
        o.rc = -99;
        return o;
    }
    sl_xrec r;
    sl_xrec_from_text(&r, topic, key ? Q(key) : NULL, value ? Q(value) : NULL);
    r.ts_ms = g_ts, r.kafka_offset = g_koff, r.kafka_partition = g_kpart;
    if (g_hdr) sl_xrec_add_header(&r, g_hdr, json_string("v"));
    o.rc = sl_xchain_run(x, &r, o.err, sizeof o.err);
    if (o.rc == SL_X_KEEP) {
        snprintf(o.topic, sizeof o.topic, "%s", r.topic);
        char *k = sl_xrec_encode(r.key_schema, r.key, true), *v = sl_xrec_encode(r.value_schema, r.value, true);
        snprintf(o.key, sizeof o.key, "%s", k);
        snprintf(o.value, sizeof o.value, "%s", v);
        sl_free(k);
        sl_free(v);
        char *h = json_dumps(r.headers, JSON_COMPACT);
        snprintf(o.headers, sizeof o.headers, "%s", h);
        free(h);
    }
    sl_xrec_clear(&r);
    return o;
}

/* Runs value (and key) through a one-off chain, which is freed. */
static xt_out run1(sl_xchain *x, const char *key, const char *value) {
    xt_out o = run(x, "srv.public.t", key, value);
    sl_xchain_free(x);
    return o;
}

#define CHECK_ERR(got, needle)                                                                  \
    do {                                                                                        \
        const char *g2_ = (got);                                                                \
        if (strstr(g2_, needle)) t_pass++;                                                      \
        else {                                                                                  \
            t_fail++;                                                                           \
            fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, g2_, needle); \
        }                                                                                       \
    } while (0)

/* ---- Debezium-shaped records ---- */

#define ROW_S                                                                                                    \
    "{'type':'struct','fields':[{'type':'int32','optional':false,'field':'id'},{'type':'string','optional':true," \
    "'field':'name'}],'optional':true,'name':'srv.public.t.Value'"
#define SRC_S                                                                                                    \
    "{'type':'struct','fields':[{'type':'string','optional':false,'field':'db'},{'type':'string','optional':"    \
    "false,'field':'table'}],'optional':false,'name':'io.debezium.connector.postgresql.Source','field':'source'}"
#define ENV_FIELDS                                                                                                \
    ROW_S ",'field':'before'}," ROW_S ",'field':'after'}," SRC_S ",{'type':'string','optional':false,'field':'op'}," \
          "{'type':'int64','optional':true,'field':'ts_ms'}"
#define ENV_S(extra) "{'type':'struct','fields':[" ENV_FIELDS extra "],'optional':false,'name':'srv.public.t.Envelope','version':2}"
#define ENV_P(extra)                                                                                             \
    "{'before':null,'after':{'id':1,'name':'a'},'source':{'db':'db','table':'t'},'op':'c','ts_ms':1706696430200" \
    extra "}"
#define VAL "{'schema':" ENV_S("") ",'payload':" ENV_P("") "}"
#define KEY_S "{'type':'struct','fields':[{'type':'int32','optional':false,'field':'id'}],'optional':false,'name':'srv.public.t.Key'}"
#define KEY "{'schema':" KEY_S ",'payload':{'id':1}}"

/* ---- InsertField ---- */

static void test_insert_field(void) {
    const char *all[] = {"static.field", "origin", "static.value", "pg", "topic.field", "topic!", "timestamp.field",
                         "ts", "offset.field", "off", "partition.field", "part?"};
    sl_xchain *x = mk("org.apache.kafka.connect.transforms.InsertField$Value", all[0], all[1], all[2], all[3], all[4],
                      all[5], all[6], all[7], all[8], all[9], all[10], all[11], NULL);
    xt_out o = run(x, "srv.public.t", KEY, VAL);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, Q("{'schema':" ENV_S(",{'type':'string','optional':false,'field':'topic'},{'type':'int32',"
                                            "'optional':true,'field':'part'},{'type':'int64','optional':true,'field':"
                                            "'off'},{'type':'int64','optional':true,'name':'org.apache.kafka.connect."
                                            "data.Timestamp','version':1,'field':'ts'},{'type':'string','optional':"
                                            "true,'field':'origin'}") ",'payload':"
                         ENV_P(",'topic':'srv.public.t','part':null,'off':null,'ts':1706696430123,'origin':'pg'") "}"));
    CHECK_STR(o.key, Q(KEY)); /* the key is untouched */
    /* a record read from Kafka: partition and offset known */
    g_koff = 42, g_kpart = 3;
    o = run(x, "srv.public.t", KEY, ENV_P(""));
    CHECK_STR(o.value, Q(ENV_P(",'topic':'srv.public.t','part':3,'off':42,'ts':1706696430123,'origin':'pg'")));
    g_koff = -1, g_kpart = -1;
    /* schemaless: no partition or offset, so they are left out */
    o = run(x, "srv.public.t", NULL, ENV_P(""));
    CHECK_STR(o.value, Q(ENV_P(",'topic':'srv.public.t','ts':1706696430123,'origin':'pg'")));
    /* a tombstone passes unchanged */
    o = run(x, "srv.public.t", KEY, NULL);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "null");
    /* a value that is neither a struct nor a map */
    o = run(x, "srv.public.t", NULL, "'text'");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "found: String");
    sl_xchain_free(x);

    /* a required offset on a record that has none */
    o = run1(mk("InsertField$Value", "offset.field", "off!", NULL), NULL, VAL);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "required field 'off'");
    /* a field of the same name exists already */
    o = run1(mk("InsertField$Value", "static.field", "op", "static.value", "x", NULL), NULL, VAL);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "'op'");
    /* the key side */
    o = run1(mk("InsertField$Key", "static.field", "shard", "static.value", "7", NULL), KEY, VAL);
    CHECK_STR(o.key, Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'id'},{'type':"
                       "'string','optional':true,'field':'shard'}],'optional':false,'name':'srv.public.t.Key'},"
                       "'payload':{'id':1,'shard':'7'}}"));
    CHECK_STR(o.value, Q(VAL));
    /* replace.null.with.default */
    const char *dv = "{'schema':{'type':'struct','fields':[{'type':'string','optional':true,'default':'dflt','field':"
                     "'d'}],'optional':false},'payload':{'d':null}}";
    o = run1(mk("InsertField$Value", "static.field", "s", "static.value", "v", NULL), NULL, dv);
    CHECK_ERR(o.value, Q("'payload':{'d':'dflt','s':'v'}"));
    o = run1(mk("InsertField$Value", "static.field", "s", "static.value", "v", "replace.null.with.default", "false",
                NULL), NULL, dv);
    CHECK_ERR(o.value, Q("'payload':{'d':null,'s':'v'}"));
    /* bad configs */
    CHECK_ERR(mk_err("InsertField$Value", NULL), "no field insertion configured");
    CHECK_ERR(mk_err("InsertField$Value", "static.field", "x", NULL), "transforms.t.static.value");
    CHECK_ERR(mk_err("InsertField$Value", "static.field", "x", "static.value", "y", "replace.null.with.default", "maybe",
                     NULL), "transforms.t.replace.null.with.default");
}

/* ---- ReplaceField ---- */

static void test_replace_field(void) {
    xt_out o = run1(mk("org.apache.kafka.connect.transforms.ReplaceField$Value", "exclude", "source,ts_ms", "renames",
                       "op:operation,after:row", NULL), KEY, VAL);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[" ROW_S ",'field':'before'}," ROW_S ",'field':'row'},"
                         "{'type':'string','optional':false,'field':'operation'}],'optional':false,'name':"
                         "'srv.public.t.Envelope','version':2},'payload':{'before':null,'row':{'id':1,'name':'a'},"
                         "'operation':'c'}}"));
    /* include (and its deprecated name whitelist); exclude wins over include */
    o = run1(mk("ReplaceField$Value", "whitelist", "op,after,source", "exclude", "source", NULL), NULL, VAL);
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[" ROW_S ",'field':'after'},{'type':'string','optional':"
                         "false,'field':'op'}],'optional':false,'name':'srv.public.t.Envelope','version':2},'payload':"
                         "{'after':{'id':1,'name':'a'},'op':'c'}}"));
    /* schemaless, blacklist */
    o = run1(mk("ReplaceField$Value", "blacklist", "before,source", "renames", "ts_ms:time", NULL), NULL, ENV_P(""));
    CHECK_STR(o.value, Q("{'after':{'id':1,'name':'a'},'op':'c','time':1706696430200}"));
    /* the key */
    o = run1(mk("ReplaceField$Key", "renames", "id:pk", NULL), KEY, VAL);
    CHECK_STR(o.key, Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'pk'}],"
                       "'optional':false,'name':'srv.public.t.Key'},'payload':{'pk':1}}"));
    /* a rename onto an existing field */
    o = run1(mk("ReplaceField$Value", "renames", "op:source", NULL), NULL, VAL);
    CHECK(o.rc == SL_X_ERROR);
    /* a value that is not a struct */
    o = run1(mk("ReplaceField$Value", "exclude", "a", NULL), NULL, "[1]");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(mk_err("ReplaceField$Value", "renames", "a:b,c", NULL), "transforms.t.renames");
    CHECK_ERR(mk_err("ReplaceField$Value", "renames", "a:b:c", NULL), "invalid rename mapping 'a:b:c'");
}

/* ---- ExtractField ---- */

static void test_extract_field(void) {
    xt_out o = run1(mk("org.apache.kafka.connect.transforms.ExtractField$Value", "field", "after", NULL), KEY, VAL);
    CHECK_STR(o.value, Q("{'schema':" ROW_S "},'payload':{'id':1,'name':'a'}}"));
    o = run1(mk("ExtractField$Value", "field", "after", NULL), NULL, ENV_P(""));
    CHECK_STR(o.value, Q("{'id':1,'name':'a'}"));
    /* a field that is missing: an error with a schema, null without */
    o = run1(mk("ExtractField$Value", "field", "nope", NULL), NULL, VAL);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "field 'nope' not found in the value");
    o = run1(mk("ExtractField$Value", "field", "nope", NULL), NULL, ENV_P(""));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "null");
    /* V2: a nested field; a backticked name with a dot */
    o = run1(mk("ExtractField$Value", "field", "after.name", "field.syntax.version", "V2", NULL), NULL, VAL);
    CHECK_STR(o.value, Q("{'schema':{'type':'string','optional':true},'payload':'a'}"));
    o = run1(mk("ExtractField$Value", "field", "`a.b`.c", "field.syntax.version", "v2", NULL), NULL,
             "{'a.b':{'c':5},'a':{'b':{'c':6}}}");
    CHECK_STR(o.value, "5");
    /* V1 takes the dotted name as one field */
    o = run1(mk("ExtractField$Value", "field", "a.b", NULL), NULL, "{'a.b':7,'a':{'b':8}}");
    CHECK_STR(o.value, "7");
    /* the key; a null value passes */
    o = run1(mk("ExtractField$Key", "field", "id", NULL), KEY, NULL);
    CHECK_STR(o.key, Q("{'schema':{'type':'int32','optional':false},'payload':1}"));
    o = run1(mk("ExtractField$Value", "field", "after", NULL), NULL, "'str'");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(mk_err("ExtractField$Value", NULL), "transforms.t.field: required");
    CHECK_ERR(mk_err("ExtractField$Value", "field", "a", "field.syntax.version", "V3", NULL),
              "transforms.t.field.syntax.version: 'V3' is not allowed (allowed: V1, V2)");
    CHECK_ERR(mk_err("ExtractField$Value", "field", "`a.b", "field.syntax.version", "V2", NULL),
              "transforms.t.field: incomplete backtick");
}

/* ---- ValueToKey, HoistField ---- */

static void test_value_to_key_hoist(void) {
    xt_out o = run1(mk("org.apache.kafka.connect.transforms.ValueToKey", "fields", "op,ts_ms", NULL), KEY, VAL);
    CHECK_STR(o.key, Q("{'schema':{'type':'struct','fields':[{'type':'string','optional':false,'field':'op'},{'type':"
                       "'int64','optional':true,'field':'ts_ms'}],'optional':false},'payload':{'op':'c','ts_ms':"
                       "1706696430200}}"));
    CHECK_STR(o.value, Q(VAL));
    o = run1(mk("ValueToKey", "fields", "op,missing", NULL), KEY, ENV_P(""));
    CHECK_STR(o.key, Q("{'op':'c','missing':null}"));
    o = run1(mk("ValueToKey", "fields", "op,missing", NULL), KEY, VAL);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "field 'missing' not found in the value");
    o = run1(mk("ValueToKey", "fields", "op", NULL), KEY, NULL); /* Connect fails on a tombstone too */
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(mk_err("ValueToKey", NULL), "transforms.t.fields: required");
    CHECK_ERR(mk_err("ValueToKey", "fields", " , ", NULL), "transforms.t.fields: must be a non-empty list");

    o = run1(mk("org.apache.kafka.connect.transforms.HoistField$Value", "field", "event", NULL), KEY, VAL);
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'struct','fields':[" ENV_FIELDS "],'optional':"
                         "false,'name':'srv.public.t.Envelope','version':2,'field':'event'}],'optional':false},"
                         "'payload':{'event':" ENV_P("") "}}"));
    CHECK(strstr(o.value, "\"version\":2,\"field\":\"event\"") != NULL);
    o = run1(mk("HoistField$Value", "field", "event", NULL), NULL, "42");
    CHECK_STR(o.value, Q("{'event':42}"));
    o = run1(mk("HoistField$Key", "field", "k", NULL), "{'schema':{'type':'int32','optional':false},'payload':1}",
             NULL);
    CHECK_STR(o.key, Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'k'}],"
                       "'optional':false},'payload':{'k':1}}"));
    CHECK_ERR(mk_err("HoistField$Key", NULL), "transforms.t.field: required");
}

/* ---- routers ---- */

static void test_regex_router(void) {
    sl_xchain *x = mk("org.apache.kafka.connect.transforms.RegexRouter", "regex", "srv\\.public\\.(.*)", "replacement",
                      "cdc_$1", NULL);
    CHECK_STR(run(x, "srv.public.orders", KEY, VAL).topic, "cdc_orders");
    CHECK_STR(run(x, "other.public.orders", KEY, VAL).topic, "other.public.orders");
    CHECK_STR(run(x, "xsrv.public.orders", KEY, VAL).topic, "xsrv.public.orders"); /* the whole topic must match */
    sl_xchain_free(x);
    /* a partial pattern does not reroute */
    CHECK_STR(run1(mk("RegexRouter", "regex", "public", "replacement", "x", NULL), KEY, VAL).topic, "srv.public.t");
    /* named groups, escapes, groups that did not take part */
    CHECK_STR(run1(mk("RegexRouter", "regex", "(?<db>[^.]+)\\.(x\\.)?(?<tbl>.*)", "replacement", "${tbl}\\$$2@${db}",
                      NULL), KEY, VAL).topic, "public.t$@srv");
    /* Matcher.replaceFirst after matches(): the first match found, here the empty one at the start */
    CHECK_STR(run1(mk("RegexRouter", "regex", "(.*?)", "replacement", "p-", NULL), KEY, VAL).topic, "p-srv.public.t");
    CHECK_STR(run1(mk("RegexRouter", "regex", ".*", "replacement", "", NULL), KEY, VAL).topic, "");
    CHECK_ERR(mk_err("RegexRouter", "regex", "a(b", "replacement", "x", NULL), "transforms.t.regex: 'a(b' is not a valid");
    CHECK_ERR(mk_err("RegexRouter", "regex", "(a)", "replacement", "$2", NULL), "transforms.t.replacement");
    CHECK_ERR(mk_err("RegexRouter", "regex", "(a)", "replacement", "$x", NULL), "illegal group reference");
    CHECK_ERR(mk_err("RegexRouter", "regex", "(a)", "replacement", "x\\", NULL), "transforms.t.replacement");
    CHECK_ERR(mk_err("RegexRouter", "replacement", "x", NULL), "transforms.t.regex: required");
    CHECK_ERR(mk_err("RegexRouter", "regex", "x", NULL), "transforms.t.replacement: required");
}

static void test_timestamp_router(void) {
    CHECK_STR(run1(mk("org.apache.kafka.connect.transforms.TimestampRouter", NULL), KEY, VAL).topic,
              "srv.public.t-20240131");
    CHECK_STR(run1(mk("TimestampRouter", "topic.format", "${timestamp}/${topic}/${topic}", "timestamp.format",
                      "yyyy-MM-dd'T'HH:mm:ss.SSS 'at' EEE, MMM d yy h a Z", NULL), KEY, VAL).topic,
              "2024-01-31T10:20:30.123 at Wed, Jan 31 24 10 AM +0000/srv.public.t/srv.public.t");
    g_ts = -1; /* Kafka's "no timestamp" */
    xt_out o = run1(mk("TimestampRouter", NULL), KEY, VAL);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "timestamp missing");
    g_ts = 1706696430123LL;
    /* before the epoch (through TimestampConverter, which shares the formatter) */
    o = run1(mk("TimestampConverter$Value", "target.type", "string", "format", "yyyy-MM-dd HH:mm:ss.SSS D ''", NULL),
             NULL, "-1000");
    CHECK_STR(o.value, "\"1969-12-31 23:59:59.000 365 '\"");
    CHECK_ERR(mk_err("TimestampRouter", "timestamp.format", "yyyy-ww", NULL),
              "transforms.t.timestamp.format: 'yyyy-ww' is not a supported");
    CHECK_ERR(mk_err("TimestampRouter", "timestamp.format", "yyyy-qq", NULL), "illegal pattern character 'q'");
    CHECK_ERR(mk_err("TimestampRouter", "timestamp.format", "yyyy'x", NULL), "unterminated quote");
}

/* ---- Flatten ---- */

static void test_flatten(void) {
    xt_out o = run1(mk("org.apache.kafka.connect.transforms.Flatten$Value", NULL), KEY, VAL);
    CHECK_STR(o.value,
              Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':true,'field':'before.id'},{'type':"
                "'string','optional':true,'field':'before.name'},{'type':'int32','optional':true,'field':'after.id'},"
                "{'type':'string','optional':true,'field':'after.name'},{'type':'string','optional':false,'field':"
                "'source.db'},{'type':'string','optional':false,'field':'source.table'},{'type':'string','optional':"
                "false,'field':'op'},{'type':'int64','optional':true,'field':'ts_ms'}],'optional':false,'name':"
                "'srv.public.t.Envelope','version':2},'payload':{'before.id':null,'before.name':null,'after.id':1,"
                "'after.name':'a','source.db':'db','source.table':'t','op':'c','ts_ms':1706696430200}}"));
    o = run1(mk("Flatten$Value", "delimiter", "_", NULL), NULL, "{'a':{'b':{'c':1},'d':[{'e':2}]},'f':null}");
    CHECK_STR(o.value, Q("{'a_b_c':1,'a_d':[{'e':2}],'f':null}"));
    /* defaults of a parent struct reach the flattened fields */
    o = run1(mk("Flatten$Key", NULL), "{'schema':{'type':'struct','fields':[{'type':'struct','fields':[{'type':'int32',"
                                      "'optional':false,'field':'x'}],'optional':false,'default':{'x':5},'field':'p'}],"
                                      "'optional':false},'payload':{'p':{'x':1}}}", NULL);
    CHECK_STR(o.key, Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'p.x','default':"
                       "5}],'optional':false},'payload':{'p.x':1}}"));
    o = run1(mk("Flatten$Value", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'map','keys':{'type':'string','optional':false},'values':{"
             "'type':'int32','optional':false},'optional':false,'field':'m'}],'optional':false},'payload':{'m':{}}}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "MAP");
    o = run1(mk("Flatten$Value", NULL), NULL, "'scalar'");
    CHECK(o.rc == SL_X_ERROR);
}

/* ---- MaskField ---- */

#define FLAT_S                                                                                                     \
    "{'type':'struct','fields':[{'type':'int32','optional':false,'field':'id'},{'type':'string','optional':true,"  \
    "'field':'name'},{'type':'float32','optional':true,'field':'price'},{'type':'boolean','optional':true,'field':" \
    "'ok'},{'type':'array','items':{'type':'string','optional':false},'optional':true,'field':'tags'},{'type':"    \
    "'int64','optional':true,'name':'org.apache.kafka.connect.data.Timestamp','version':1,'field':'at'}],"         \
    "'optional':false,'name':'srv.public.t.Value'}"
#define FLAT "{'schema':" FLAT_S ",'payload':{'id':7,'name':'Bob','price':2.5,'ok':true,'tags':['x'],'at':5000}}"

static void test_mask_field(void) {
    xt_out o = run1(mk("org.apache.kafka.connect.transforms.MaskField$Value", "fields", "id,name,price,ok,tags,at",
                       NULL), KEY, FLAT);
    CHECK_STR(o.value, Q("{'schema':" FLAT_S ",'payload':{'id':0,'name':'','price':0.0,'ok':false,'tags':[],'at':0}}"));
    o = run1(mk("MaskField$Value", "fields", "name", "replacement", "***", NULL), KEY, FLAT);
    CHECK_ERR(o.value, Q("'name':'***','price':2.5"));
    o = run1(mk("MaskField$Value", "fields", "id,price", "replacement", "9", NULL), KEY, FLAT);
    CHECK_ERR(o.value, Q("{'id':9,'name':'Bob','price':9.0,"));
    o = run1(mk("MaskField$Value", "fields", "id", "replacement", "x", NULL), KEY, FLAT);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "field 'id'");
    o = run1(mk("MaskField$Value", "fields", "ok", "replacement", "1", NULL), KEY, FLAT);
    CHECK(o.rc == SL_X_ERROR);
    /* schemaless: types from the JSON; a missing field becomes null, as in Connect */
    o = run1(mk("MaskField$Value", "fields", "a,b,c,d,e,f,g", NULL), NULL,
             "{'a':5,'b':1.5,'c':'s','d':true,'e':[1],'f':{'x':1},'h':1}");
    CHECK_STR(o.value, Q("{'a':0,'b':0.0,'c':'','d':false,'e':[],'f':{},'h':1,'g':null}"));
    /* a struct field cannot be masked; a tombstone is not a map */
    o = run1(mk("MaskField$Value", "fields", "after", NULL), NULL, VAL);
    CHECK(o.rc == SL_X_ERROR);
    o = run1(mk("MaskField$Value", "fields", "a", NULL), NULL, NULL);
    CHECK(o.rc == SL_X_ERROR);
    o = run1(mk("MaskField$Key", "fields", "id", NULL), KEY, VAL);
    CHECK_ERR(o.key, Q("'payload':{'id':0}"));
    CHECK_ERR(mk_err("MaskField$Value", "fields", "a", "replacement", "", NULL), "transforms.t.replacement");
    CHECK_ERR(mk_err("MaskField$Value", NULL), "transforms.t.fields: required");
}

/* ---- Cast ---- */

static void test_cast(void) {
    xt_out o = run1(mk("org.apache.kafka.connect.transforms.Cast$Value", "spec",
                       "id:string, price:float64,ok:int8,name:int32,at:string", NULL), KEY,
                    "{'schema':" FLAT_S ",'payload':{'id':7,'name':'12','price':2.5,'ok':true,'tags':['x'],'at':"
                    "1706696430123}}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'string','optional':false,'field':'id'},{'type':"
                         "'int32','optional':true,'field':'name'},{'type':'float64','optional':true,'field':'price'},"
                         "{'type':'int8','optional':true,'field':'ok'},{'type':'array','items':{'type':'string',"
                         "'optional':false},'optional':true,'field':'tags'},{'type':'string','optional':true,'field':"
                         "'at'}],'optional':false,'name':'srv.public.t.Value'},'payload':{'id':'7','name':12,'price':"
                         "2.5,'ok':1,'tags':['x'],'at':'2024-01-31T10:20:30.123Z'}}"));
    /* the whole key */
    o = run1(mk("Cast$Key", "spec", "int64", NULL), "{'schema':{'type':'int32','optional':false},'payload':300}", NULL);
    CHECK_STR(o.key, Q("{'schema':{'type':'int64','optional':false},'payload':300}"));
    o = run1(mk("Cast$Key", "spec", "int8", NULL), "{'schema':{'type':'int32','optional':false},'payload':300}", NULL);
    CHECK_STR(o.key, Q("{'schema':{'type':'int8','optional':false},'payload':44}")); /* (byte) 300 */
    /* schemaless: Long and Double; Java's number printing */
    o = run1(mk("Cast$Value", "spec", "a:string,b:string,c:boolean,d:float32,e:int32,f:string,g:boolean,h:int16", NULL),
             NULL, "{'a':12345678.9,'b':0.0001,'c':'TRUE','d':'1.1','e':3.99,'f':true,'g':0.5,'h':'-7'}");
    CHECK_STR(o.value, Q("{'a':'1.23456789E7','b':'1.0E-4','c':true,'d':1.1,'e':3,'f':'true','g':false,'h':-7}"));
    /* Date and Time as strings; a Decimal as a number */
    o = run1(mk("Cast$Value", "spec", "d:string,t:string,n:float64,m:string", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'name':'org.apache.kafka.connect."
             "data.Date','version':1,'field':'d'},{'type':'int32','optional':false,'name':'org.apache.kafka.connect."
             "data.Time','version':1,'field':'t'},{'type':'bytes','optional':false,'name':'org.apache.kafka.connect."
             "data.Decimal','version':1,'parameters':{'scale':'2'},'field':'n'},{'type':'bytes','optional':false,"
             "'name':'org.apache.kafka.connect.data.Decimal','version':1,'parameters':{'scale':'2'},'field':'m'}],"
             "'optional':false},'payload':{'d':19753,'t':3723004,'n':'MDk=','m':'/w=='}}");
    CHECK_ERR(o.value, Q("'payload':{'d':'2024-01-31','t':'01:02:03.004','n':123.45,'m':'-0.01'}"));
    /* what cannot be cast */
    o = run1(mk("Cast$Value", "spec", "name:int32", NULL), NULL, "{'name':'abc'}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "value (abc) was out of range for requested data type int32");
    o = run1(mk("Cast$Value", "spec", "x:int8", NULL), NULL, "{'x':'200'}");
    CHECK(o.rc == SL_X_ERROR);
    o = run1(mk("Cast$Value", "spec", "after:string", NULL), NULL, VAL);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "casting from struct is not supported");
    o = run1(mk("Cast$Value", "spec", "string", NULL), NULL, VAL);
    CHECK(o.rc == SL_X_ERROR);
    /* a tombstone passes */
    CHECK(run1(mk("Cast$Value", "spec", "a:int8", NULL), NULL, NULL).rc == SL_X_KEEP);
    /* replace.null.with.default casts the default */
    o = run1(mk("Cast$Value", "spec", "n:string", "replace.null.with.default", "true", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'int32','optional':true,'default':4,'field':'n'}],"
             "'optional':true},'payload':{'n':null}}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'string','optional':true,'default':'4','field':"
                         "'n'}],'optional':true},'payload':{'n':'4'}}"));
    CHECK_ERR(mk_err("Cast$Value", "spec", "a:int7", NULL), "transforms.t.spec: invalid type 'int7'");
    CHECK_ERR(mk_err("Cast$Value", "spec", "a:bytes", NULL), "allowed: int8, int16");
    CHECK_ERR(mk_err("Cast$Value", "spec", "a:b:c", NULL), "transforms.t.spec: invalid cast 'a:b:c'");
    CHECK_ERR(mk_err("Cast$Value", "spec", "int8,a:int16", NULL), "transforms.t.spec: a cast of the whole value");
    CHECK_ERR(mk_err("Cast$Value", NULL), "transforms.t.spec: required");
}

/* ---- TimestampConverter ---- */

#define TS_REC(type, name, v)                                                                                     \
    "{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'id'},{'type':'" type "',"      \
    "'optional':true" name ",'field':'at'}],'optional':false},'payload':{'id':1,'at':" v "}}"
#define TS_NAME ",'name':'org.apache.kafka.connect.data.Timestamp','version':1"

static void test_timestamp_converter(void) {
    const char *ts = TS_REC("int64", TS_NAME, "1706696430123");
    xt_out o = run1(mk("org.apache.kafka.connect.transforms.TimestampConverter$Value", "field", "at", "target.type",
                       "string", "format", "yyyy-MM-dd HH:mm:ss", NULL), NULL, ts);
    CHECK_STR(o.value, Q(TS_REC("string", "", "'2024-01-31 10:20:30'")));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "unix", "unix.precision", "seconds", NULL),
             NULL, ts);
    CHECK_STR(o.value, Q(TS_REC("int64", "", "1706696430")));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "Date", NULL), NULL, ts);
    CHECK_STR(o.value, Q(TS_REC("int32", ",'name':'org.apache.kafka.connect.data.Date','version':1", "19753")));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "Time", NULL), NULL, ts);
    CHECK_STR(o.value, Q(TS_REC("int32", ",'name':'org.apache.kafka.connect.data.Time','version':1", "37230123")));
    /* from a string, and from unix microseconds (e.g. Debezium's MicroTimestamp) */
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "Timestamp", "format", "dd/MM/yyyy HH:mm", NULL),
             NULL, TS_REC("string", "", "'31/01/2024 10:20'"));
    CHECK_STR(o.value, Q(TS_REC("int64", TS_NAME, "1706696400000")));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "Timestamp", "unix.precision", "microseconds",
                NULL), NULL, TS_REC("int64", ",'name':'io.debezium.time.MicroTimestamp','version':1",
                                   "1706696430123456"));
    CHECK_STR(o.value, Q(TS_REC("int64", TS_NAME, "1706696430123")));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "unix", "unix.precision", "nanoseconds", NULL),
             NULL, ts);
    CHECK_STR(o.value, Q(TS_REC("int64", "", "1706696430123000000")));
    /* TimeUnit saturates; a year too far away does not parse */
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "unix", "unix.precision", "nanoseconds", NULL),
             NULL, TS_REC("int64", TS_NAME, "9000000000000000"));
    CHECK_STR(o.value, Q(TS_REC("int64", "", "9223372036854775807")));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "unix", "format", "yyyy-MM-dd", NULL), NULL,
             "{'at':'999999999-01-01'}");
    CHECK(o.rc == SL_X_ERROR);
    /* a null field stays null */
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "unix", NULL), NULL,
             TS_REC("int64", TS_NAME, "null"));
    CHECK_STR(o.value, Q(TS_REC("int64", "", "null")));
    /* the whole value; schemaless */
    o = run1(mk("TimestampConverter$Value", "target.type", "string", "format", "yyyyMMddHHmmss", NULL), NULL,
             "{'schema':{'type':'int64','optional':false,'name':'org.apache.kafka.connect.data.Timestamp','version':1},"
             "'payload':0}");
    CHECK_STR(o.value, Q("{'schema':{'type':'string','optional':false},'payload':'19700101000000'}"));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "unix", "format", "yyyyMMdd", NULL), NULL,
             "{'at':'20240131','x':1}");
    CHECK_STR(o.value, Q("{'at':1706659200000,'x':1}"));
    o = run1(mk("TimestampConverter$Value", "target.type", "Timestamp", NULL), NULL, "1000");
    CHECK_STR(o.value, "1000");
    /* records that cannot be converted */
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "unix", "format", "yyyy-MM-dd", NULL), NULL,
             TS_REC("string", "", "'Jan 5'"));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "does not match pattern (yyyy-MM-dd)");
    o = run1(mk("TimestampConverter$Value", "field", "id", "target.type", "unix", NULL), NULL, ts);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "field 'id': schema type int32 is not a timestamp");
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "unix", NULL), NULL, "{'at':true}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(mk_err("TimestampConverter$Value", "target.type", "string", NULL), "transforms.t.format: required when");
    CHECK_ERR(mk_err("TimestampConverter$Value", "target.type", "epoch", NULL),
              "transforms.t.target.type: 'epoch' is not allowed (allowed: string, unix, Date, Time, Timestamp)");
    CHECK_ERR(mk_err("TimestampConverter$Value", "target.type", "unix", "unix.precision", "minutes", NULL),
              "transforms.t.unix.precision");
    CHECK_ERR(mk_err("TimestampConverter$Key", NULL), "transforms.t.target.type: required");
}

/* ---- Filter and the predicates ---- */

static void test_predicates(void) {
    /* drop heartbeats: Filter where the topic matches */
    sl_xchain *x = mk("org.apache.kafka.connect.transforms.Filter", "predicate", "hb", "predicates", "hb",
                      "predicates.hb.type", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
                      "predicates.hb.pattern", "__debezium-heartbeat\\..*", NULL);
    CHECK(run(x, "__debezium-heartbeat.srv", KEY, VAL).rc == SL_X_DROP);
    CHECK(run(x, "srv.public.t", KEY, VAL).rc == SL_X_KEEP);
    CHECK(run(x, "x__debezium-heartbeat.srv", KEY, VAL).rc == SL_X_KEEP); /* a full match */
    sl_xchain_free(x);
    /* negated: keep only the matching topics */
    x = mk("Drop", "predicate", "p", "negate", "true", "predicates", "p", "predicates.p.type", "TopicNameMatches",
           "predicates.p.pattern", "srv\\.public\\..*", NULL);
    CHECK(run(x, "srv.public.t", KEY, VAL).rc == SL_X_KEEP);
    CHECK(run(x, "srv.other.t", KEY, VAL).rc == SL_X_DROP);
    sl_xchain_free(x);
    /* without a predicate Filter drops everything */
    CHECK(run1(mk("Drop", NULL), KEY, VAL).rc == SL_X_DROP);
    /* RecordIsTombstone keeps ValueToKey off tombstones */
    x = mk("ValueToKey", "fields", "op", "predicate", "tomb", "negate", "true", "predicates", "tomb",
           "predicates.tomb.type", "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone", NULL);
    CHECK(run(x, "t", KEY, NULL).rc == SL_X_KEEP);
    CHECK_STR(run(x, "t", KEY, ENV_P("")).key, Q("{'op':'c'}"));
    sl_xchain_free(x);
    x = mk("Drop", "predicate", "tomb", "predicates", "tomb", "predicates.tomb.type", "RecordIsTombstone", NULL);
    CHECK(run(x, "t", KEY, NULL).rc == SL_X_DROP);
    CHECK(run(x, "t", KEY, VAL).rc == SL_X_KEEP);
    sl_xchain_free(x);
    /* HasHeaderKey, plain and negated */
    x = mk("Drop", "predicate", "h", "predicates", "h", "predicates.h.type",
           "org.apache.kafka.connect.transforms.predicates.HasHeaderKey", "predicates.h.name", "skip", NULL);
    g_hdr = "skip";
    CHECK(run(x, "t", KEY, VAL).rc == SL_X_DROP);
    g_hdr = "other";
    CHECK(run(x, "t", KEY, VAL).rc == SL_X_KEEP);
    sl_xchain_free(x);
    x = mk("Drop", "predicate", "h", "negate", "true", "predicates", "h", "predicates.h.type", "HasHeaderKey",
           "predicates.h.name", "skip", NULL);
    CHECK(run(x, "t", KEY, VAL).rc == SL_X_DROP);
    g_hdr = "skip";
    CHECK(run(x, "t", KEY, VAL).rc == SL_X_KEEP);
    g_hdr = NULL;
    sl_xchain_free(x);
    CHECK_ERR(mk_err("Drop", "predicate", "p", "predicates", "p", "predicates.p.type", "TopicNameMatches",
                     "predicates.p.pattern", "[a-", NULL), "predicates.p.pattern: '[a-' is not a valid");
    CHECK_ERR(mk_err("Drop", "predicate", "p", "predicates", "p", "predicates.p.type", "TopicNameMatches", NULL),
              "predicates.p.pattern: required");
    CHECK_ERR(mk_err("Drop", "predicate", "p", "predicates", "p", "predicates.p.type", "HasHeaderKey", NULL),
              "predicates.p.name: required");
}

/* ---- headers ---- */

static void test_headers(void) {
    xt_out o = run1(mk("org.apache.kafka.connect.transforms.InsertHeader", "header", "src", "value.literal", "pg",
                       NULL), KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'src','value':'pg'}]"));
    CHECK_STR(o.value, Q(VAL));
    o = run1(mk("InsertHeader", "header", "n", "value.literal", "42", NULL), KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'n','value':42}]"));
    o = run1(mk("InsertHeader", "header", "b", "value.literal", "True", NULL), KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'b','value':true}]"));
    CHECK_ERR(mk_err("InsertHeader", "header", "b", NULL), "transforms.t.value.literal: required");

    g_hdr = "drop.me";
    o = run1(mk("org.apache.kafka.connect.transforms.DropHeaders", "headers", "drop.me,other", NULL), KEY, VAL);
    CHECK_STR(o.headers, "[]");
    o = run1(mk("DropHeaders", "headers", "other", NULL), KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'drop.me','value':'v'}]"));
    g_hdr = NULL;
    CHECK_ERR(mk_err("DropHeaders", NULL), "transforms.t.headers: required");

    o = run1(mk("org.apache.kafka.connect.transforms.HeaderFrom$Value", "fields", "op,source", "headers", "h_op,h_src",
                "operation", "move", NULL), KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'h_op','value':'c'},{'key':'h_src','value':{'db':'db','table':'t'}}]"));
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[" ROW_S ",'field':'before'}," ROW_S ",'field':'after'},"
                         "{'type':'int64','optional':true,'field':'ts_ms'}],'optional':false,'name':"
                         "'srv.public.t.Envelope','version':2},'payload':{'before':null,'after':{'id':1,'name':'a'},"
                         "'ts_ms':1706696430200}}"));
    o = run1(mk("HeaderFrom$Key", "fields", "id", "headers", "pk", "operation", "copy", NULL), KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'pk','value':1}]"));
    CHECK_STR(o.key, Q(KEY));
    o = run1(mk("HeaderFrom$Value", "fields", "op,x", "headers", "a,b", "operation", "move", NULL), NULL, ENV_P(""));
    CHECK_STR(o.headers, Q("[{'key':'a','value':'c'},{'key':'b','value':null}]"));
    CHECK(strstr(o.value, "\"op\"") == NULL);
    o = run1(mk("HeaderFrom$Value", "fields", "nope", "headers", "a", "operation", "copy", NULL), NULL, VAL);
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(mk_err("HeaderFrom$Value", "fields", "a,b", "headers", "x", "operation", "copy", NULL),
              "transforms.t.headers: must have the same number of elements");
    CHECK_ERR(mk_err("HeaderFrom$Value", "fields", "a", "headers", "x", "operation", "steal", NULL),
              "transforms.t.operation: 'steal' is not allowed (allowed: move, copy)");
}

/* ---- a chain ---- */

static void test_chain(void) {
    /* unwrap by hand: after -> value, route, stamp */
    sl_xchain *x = xt_chain(Q("{'transforms':'after,route,origin','transforms.after.type':'ExtractField$Value',"
                              "'transforms.after.field':'after','transforms.route.type':'RegexRouter',"
                              "'transforms.route.regex':'[^.]+\\\\.public\\\\.(.+)','transforms.route.replacement':"
                              "'$1','transforms.origin.type':'InsertField$Value','transforms.origin.static.field':"
                              "'origin','transforms.origin.static.value':'pg','transforms.origin.predicate':'t',"
                              "'predicates':'t','predicates.t.type':'TopicNameMatches','predicates.t.pattern':'t'}"),
                            NULL, 0);
    xt_out o = run(x, "srv.public.t", KEY, VAL);
    CHECK_STR(o.topic, "t");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'id'},{'type':"
                         "'string','optional':true,'field':'name'},{'type':'string','optional':true,'field':'origin'}],"
                         "'optional':false,'name':'srv.public.t.Value'},'payload':{'id':1,'name':'a','origin':'pg'}}"));
    o = run(x, "srv.public.u", KEY, VAL); /* the predicate no longer matches after the route */
    CHECK_STR(o.topic, "u");
    CHECK(strstr(o.value, "origin") == NULL);
    sl_xchain_free(x);
    /* Java class names and native names both resolve */
    CHECK(sl_xform_find("org.apache.kafka.connect.transforms.Cast$Key") == sl_xform_find("cast$key"));
    CHECK(sl_xpred_find("org.apache.kafka.connect.transforms.predicates.RecordIsTombstone") != NULL);
}

/* ---- edge cases of each transform, exact output (the record view must give what the JSON trees gave) ---- */

/* A struct schema with every basic (Connect's copySchemaBasics keeps name, version, doc, parameters; the new
 * struct is required) and a field whose "field" comes first. */
#define BASICS_S                                                                                                 \
    "{'type':'struct','fields':[{'field':'a','type':'int32','optional':true,'default':3},{'type':'string',"       \
    "'optional':true,'field':'b'}],'optional':true,'name':'n','version':4,'doc':'d','parameters':{'p':'q'},"     \
    "'default':{'a':3,'b':null}}"
#define BASICS "{'schema':" BASICS_S ",'payload':{'a':null,'b':'s'}}"

static void test_field_edges(void) {
    /* ReplaceField: basics kept, the struct required; a renamed field keeps its members' order; defaults */
    xt_out o = run1(mk("ReplaceField$Value", "renames", "a:x", NULL), NULL, BASICS);
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'field':'x','type':'int32','optional':true,"
        "'default':3},{'type':'string','optional':true,'field':'b'}],'optional':false,'name':'n','version':4,"
        "'doc':'d','parameters':{'p':'q'}},'payload':{'x':3,'b':'s'}}"));
    o = run1(mk("ReplaceField$Value", "renames", "a:x", "replace.null.with.default", "false", NULL), NULL,
             BASICS);
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'field':'x','type':'int32','optional':true,"
        "'default':3},{'type':'string','optional':true,'field':'b'}],'optional':false,'name':'n','version':4,"
        "'doc':'d','parameters':{'p':'q'}},'payload':{'x':null,'b':'s'}}"));
    /* schemaless: two names renamed to one (the later value in the first one's place); a tombstone passes */
    o = run1(mk("ReplaceField$Value", "renames", "a:z,c:z", NULL), NULL, "{'a':1,'b':2,'c':3}");
    CHECK_STR(o.value, Q("{'z':3,'b':2}"));
    o = run1(mk("ReplaceField$Value", "renames", "a:z", NULL), KEY, NULL);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, Q("null"));
    /* ExtractField: a tombstone with a schema keeps the field's schema; a null field takes its default or not */
    o = run1(mk("ExtractField$Value", "field", "after", NULL), NULL, "{'schema':" ENV_S("") ",'payload':null}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'id'},"
        "{'type':'string','optional':true,'field':'name'}],'optional':true,'name':'srv.public.t.Value'},"
        "'payload':null}"));
    o = run1(mk("ExtractField$Value", "field", "a", NULL), NULL, BASICS);
    CHECK_STR(o.value, Q("{'schema':{'type':'int32','optional':true,'default':3},'payload':3}"));
    o = run1(mk("ExtractField$Value", "field", "a", "replace.null.with.default", "false", NULL), NULL,
             BASICS);
    CHECK_STR(o.value, Q("{'schema':{'type':'int32','optional':true,'default':3},'payload':null}"));
    o = run1(mk("ExtractField$Value", "field", "after.id", "field.syntax.version", "V2", NULL), NULL, VAL);
    CHECK_STR(o.value, Q("{'schema':{'type':'int32','optional':false},'payload':1}"));
    o = run1(mk("ExtractField$Value", "field", "before.id", "field.syntax.version", "V2", NULL), NULL, VAL);
    CHECK_STR(o.value, Q("{'schema':{'type':'int32','optional':false},'payload':null}"));
    o = run1(mk("ExtractField$Value", "field", "op.x", "field.syntax.version", "V2", NULL), NULL, ENV_P(""));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "only a Map (JSON object) is supported in absence of schema for [nested field access],"
        " found: String");
    /* ValueToKey: defaults; a field named twice */
    o = run1(mk("ValueToKey", "fields", "a,b,a", NULL), KEY, BASICS);
    CHECK_STR(o.key, Q("{'schema':{'type':'struct','fields':[{'field':'a','type':'int32','optional':true,'default':3},"
        "{'type':'string','optional':true,'field':'b'}],'optional':false},'payload':{'a':3,'b':'s'}}"));
    o = run1(mk("ValueToKey", "fields", "b,a,b", NULL), KEY, "{'a':1,'b':[2]}");
    CHECK_STR(o.key, Q("{'b':[2],'a':1}"));
    /* HoistField: a tombstone becomes a struct with a null field */
    o = run1(mk("HoistField$Value", "field", "e", NULL), NULL, NULL);
    CHECK_STR(o.value, Q("{'e':null}"));
    o = run1(mk("HoistField$Key", "field", "k", NULL), KEY, NULL);
    CHECK_STR(o.key, Q("{'schema':{'type':'struct','fields':[{'type':'struct','fields':[{'type':'int32',"
        "'optional':false,'field':'id'}],'optional':false,'name':'srv.public.t.Key','field':'k'}],"
        "'optional':false},'payload':{'k':{'id':1}}}"));
}

static void test_header_edges(void) {
    /* InsertHeader: Values.parseString on the literal */
    static const char *const lits[][2] = {
        {"[1,{'a':2.0}]", "[1,{'a':2.0}]"}, {"{'x':1,'x':2}", "{'x':2}"}, {"null", "null"}, {"1.50", "1.5"},
        {"-", "'-'"}, {"99999999999999999999", "'99999999999999999999'"}, /* beyond a long: a string */
        {"12abc", "'12abc'"}, {"FALSE", "false"}, {"-0", "0"}, {"1e400", "'1e400'"}, {"", "''"}};
    for (size_t i = 0; i < sizeof lits / sizeof *lits; i++) {
        xt_out o = run1(mk("InsertHeader", "header", "h", "value.literal", Q(lits[i][0]), NULL), KEY, VAL);
        char want[256];
        snprintf(want, sizeof want, "[{'key':'h','value':%s}]", lits[i][1]);
        CHECK_STR(o.headers, Q(want));
    }
    /* DropHeaders: every header of a name goes, the others keep their order */
    sl_xchain *x = xt_chain(Q("{'transforms':'a,b,c,d,drop','transforms.a.type':'InsertHeader',"
                              "'transforms.a.header':'x','transforms.a.value.literal':'1','transforms.b.type':"
                              "'InsertHeader','transforms.b.header':'y','transforms.b.value.literal':'2',"
                              "'transforms.c.type':'InsertHeader',"
                              "'transforms.c.header':'x','transforms.c.value.literal':'3','transforms.d.type':"
                              "'InsertHeader','transforms.d.header':'z','transforms.d.value.literal':'[4]',"
                              "'transforms.drop.type':'DropHeaders','transforms.drop.headers':'x,q'}"), NULL, 0);
    xt_out o = run1(x, KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'y','value':2},{'key':'z','value':[4]}]"));
    /* HeaderFrom: a null field with a default (or not); the key's fields moved away; schemaless copy */
    o = run1(mk("HeaderFrom$Value", "fields", "a,b", "headers", "ha,hb", "operation", "move", NULL), NULL,
             "{'schema':" BASICS_S ",'payload':{'a':null,'b':null}}");
    CHECK_STR(o.headers, Q("[{'key':'ha','value':3},{'key':'hb','value':null}]"));
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[],'optional':false,'name':'n','version':4,'doc':'d',"
        "'parameters':{'p':'q'}},'payload':{}}"));
    o = run1(mk("HeaderFrom$Value", "fields", "a", "headers", "ha", "operation", "copy", "replace.null.with.default",
                "false", NULL), NULL, "{'schema':" BASICS_S ",'payload':{'a':null,'b':null}}");
    CHECK_STR(o.headers, Q("[{'key':'ha','value':null}]"));
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'field':'a','type':'int32','optional':true,"
        "'default':3},{'type':'string','optional':true,'field':'b'}],'optional':true,'name':'n','version':4,"
        "'doc':'d','parameters':{'p':'q'},'default':{'a':3,'b':null}},'payload':{'a':null,'b':null}}"));
    o = run1(mk("HeaderFrom$Key", "fields", "id", "headers", "pk", "operation", "move", NULL), KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'pk','value':1}]"));
    CHECK_STR(o.key, Q("{'schema':{'type':'struct','fields':[],'optional':false,'name':'srv.public.t.Key'},"
        "'payload':{}}"));
    o = run1(mk("HeaderFrom$Value", "fields", "after,op,after", "headers", "a,o,a2", "operation", "copy", NULL), NULL,
             ENV_P(""));
    CHECK_STR(o.headers, Q("[{'key':'a','value':{'id':1,'name':'a'}},{'key':'o','value':'c'},{'key':'a2',"
        "'value':{'id':1,'name':'a'}}]"));
    CHECK_STR(o.value, Q("{'before':null,'after':{'id':1,'name':'a'},'source':{'db':'db','table':'t'},'op':'c',"
        "'ts_ms':1706696430200}"));
    o = run1(mk("HeaderFrom$Value", "fields", "a", "headers", "h", "operation", "copy", NULL), NULL, "[1]");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "only a Map (JSON object) is supported in absence of schema for [header copy], found: List");
    /* a copied struct stays as it was when the value changes after */
    x = xt_chain(Q("{'transforms':'h,m','transforms.h.type':'HeaderFrom$Value','transforms.h.fields':'after',"
                   "'transforms.h.headers':'row','transforms.h.operation':'copy','transforms.m.type':"
                   "'ExtractField$Value','transforms.m.field':'after'}"), NULL, 0);
    o = run1(x, KEY, VAL);
    CHECK_STR(o.headers, Q("[{'key':'row','value':{'id':1,'name':'a'}}]"));
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'id'},"
        "{'type':'string','optional':true,'field':'name'}],'optional':true,'name':'srv.public.t.Value'},"
        "'payload':{'id':1,'name':'a'}}"));
}

static void test_conv_edges(void) {
    /* Flatten: a field's own default and optional flag; a non-unique name; a tombstone; an optional struct */
    xt_out o = run1(mk("Flatten$Value", NULL), NULL, BASICS);
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'field':'a','type':'int32','optional':true,"
        "'default':3},{'type':'string','optional':true,'field':'b'}],'optional':false,'name':'n','version':4,"
        "'doc':'d','parameters':{'p':'q'}},'payload':{'a':3,'b':'s'}}"));
    o = run1(mk("Flatten$Value", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'field':'a.b'},{'type':'struct',"
             "'fields':[{'type':'int32','optional':false,'field':'b'}],'optional':false,'field':'a'}],'optional':"
             "false},'payload':{'a.b':1,'a':{'b':2}}}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "flattened field name 'a.b' is not unique");
    o = run1(mk("Flatten$Value", NULL), KEY, NULL);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, Q("null"));
    o = run1(mk("Flatten$Value", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'struct','fields':[{'type':'int32','optional':false,"
             "'field':'x'},{'field':'y','type':'float64','optional':false}],'optional':true,'field':'p'},{'type':"
             "'array','items':{'type':'int32','optional':false},'optional':false,'field':'l'}],'optional':false},"
             "'payload':{'p':{'x':1,'y':2.0},'l':[1]}}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'int32','optional':true,'field':'p.x'},"
        "{'field':'p.y','type':'float64','optional':true},{'type':'array','items':{'type':'int32',"
        "'optional':false},'optional':false,'field':'l'}],'optional':false},'payload':{'p.x':1,'p.y':2.0,'l':[1]}}"));
    o = run1(mk("Flatten$Value", NULL), NULL, "{'a':{},'b':{'c':{'d':1.0}},'e':null,'b.c.d':2}");
    CHECK_STR(o.value, Q("{'b.c.d':2,'e':null}"));
    /* MaskField: decimals, logical types, narrowing, a float32, a replacement without a schema */
    o = run1(mk("MaskField$Value", "fields", "n,d,i,f", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'bytes','optional':false,'name':"
             "'org.apache.kafka.connect.data.Decimal','version':1,'parameters':{'scale':'2'},'field':'n'},{'type':"
             "'int32','optional':false,'name':'org.apache.kafka.connect.data.Date','version':1,'field':'d'},{'type':"
             "'int8','optional':true,'field':'i'},{'type':'float32','optional':true,'field':'f'},{'type':'int32',"
             "'optional':true,'default':6,'field':'k'}],'optional':false},'payload':{'n':'MDk=','d':19000,'i':5,"
             "'f':1.5,'k':null}}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'bytes','optional':false,"
        "'name':'org.apache.kafka.connect.data.Decimal','version':1,'parameters':{'scale':'2'},'field':'n'},"
        "{'type':'int32','optional':false,'name':'org.apache.kafka.connect.data.Date','version':1,'field':'d'},"
        "{'type':'int8','optional':true,'field':'i'},{'type':'float32','optional':true,'field':'f'},"
        "{'type':'int32','optional':true,'default':6,'field':'k'}],'optional':false},'payload':{'n':'AA==','d':0,"
        "'i':0,'f':0.0,'k':6}}"));
    o = run1(mk("MaskField$Value", "fields", "i,f", "replacement", "300.7", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'int8','optional':true,'field':'i'},{'type':'float32',"
             "'optional':true,'field':'f'}],'optional':false},'payload':{'i':5,'f':null}}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'int8','optional':true,'field':'i'},"
        "{'type':'float32','optional':true,'field':'f'}],'optional':false},'payload':{'i':44,'f':null}}"));
    o = run1(mk("MaskField$Value", "fields", "i,f", "replacement", "1.1", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'int8','optional':true,'field':'i'},{'type':'float32',"
             "'optional':true,'field':'f'}],'optional':false},'payload':{'i':5,'f':2.0}}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'int8','optional':true,'field':'i'},"
        "{'type':'float32','optional':true,'field':'f'}],'optional':false},'payload':{'i':1,'f':1.1}}"));
    o = run1(mk("MaskField$Value", "fields", "a,b,c,x", "replacement", "7", NULL), NULL, "{'a':1,'b':2.5,'c':'s'}");
    CHECK_STR(o.value, Q("{'a':7,'b':7.0,'c':'7','x':null}"));
    o = run1(mk("MaskField$Value", "fields", "f", "replacement", "1e999", NULL), NULL, "{'f':1.5}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "cannot mask field 'f' (float64) with replacement '1e999': not a finite float64");
    o = run1(mk("MaskField$Value", "fields", "d", "replacement", "1", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'int32','optional':false,'name':"
             "'org.apache.kafka.connect.data.Date','version':1,'field':'d'}],'optional':false},'payload':{'d':1}}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "cannot mask field 'd': a value of type int32 org.apache.kafka.connect.data.Date cannot take a "
                     "custom replacement");
    /* Cast: the whole value keeps its schema's basics and casts the default; float32 input; bytes */
    o = run1(mk("Cast$Value", "spec", "string", NULL), NULL,
             "{'schema':{'type':'int32','optional':true,'name':'x','version':3,'doc':'d','default':5},'payload':7}");
    CHECK_STR(o.value, Q("{'schema':{'type':'string','optional':true,'name':'x','version':3,'doc':'d','default':'5'},"
        "'payload':'7'}"));
    o = run1(mk("Cast$Value", "spec", "int16", NULL), NULL, "'12'");
    CHECK_STR(o.value, Q("12"));
    o = run1(mk("Cast$Value", "spec", "f:string,g:float64,b:string,t:float32", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'float32','optional':false,'field':'f'},{'type':"
             "'float32','optional':false,'field':'g'},{'type':'bytes','optional':true,'field':'b'},{'type':'string',"
             "'optional':true,'field':'t'}],'optional':true},'payload':{'f':1.1,'g':1.1,'b':'AAE=','t':' 2.5 '}}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'string','optional':false,'field':'f'},"
        "{'type':'float64','optional':false,'field':'g'},{'type':'string','optional':true,'field':'b'},"
        "{'type':'float32','optional':true,'field':'t'}],'optional':true},'payload':{'f':'1.1',"
        "'g':1.100000023841858,'b':'AAE=','t':2.5}}"));
    o = run1(mk("Cast$Value", "spec", "b:int8", NULL), NULL,
             "{'schema':{'type':'struct','fields':[{'type':'bytes','optional':true,'field':'b'}],'optional':false},"
             "'payload':{'b':'AAE='}}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "cannot cast field 'b': bytes can only be cast to string");
    o = run1(mk("Cast$Value", "spec", "a:float32", NULL), NULL, "{'a':'1e39'}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "cannot cast field 'a': the result is not a finite float32");
    o = run1(mk("Cast$Value", "spec", "a:int64,b:boolean,c:float64,d:int32", NULL), NULL,
             "{'a':1.0e30,'b':'yes','c':5,'d':-2147483649}");
    CHECK_STR(o.value, Q("{'a':9223372036854775807,'b':false,'c':5.0,'d':2147483647}"));
    o = run1(mk("Cast$Value", "spec", "a:int64", NULL), NULL, "{'b':1}");
    CHECK_STR(o.value, Q("{'b':1,'a':null}"));
    /* TimestampConverter: a null value with a schema (the schema changes); Date in; a missing field */
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "string", "format", "yyyy", NULL), NULL,
             "{'schema':" "{'type':'struct','fields':[{'type':'int32','optional':false,'name':"
             "'org.apache.kafka.connect.data.Date','version':1,'field':'at'}],'optional':true}" ",'payload':null}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'string','optional':false,'field':'at'}],"
        "'optional':true},'payload':null}"));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "string", "format", "yyyy-MM-dd", NULL), NULL,
             "{'schema':" "{'type':'struct','fields':[{'type':'int32','optional':false,'name':"
             "'org.apache.kafka.connect.data.Date','version':1,'field':'at'},{'type':'int32','optional':true,"
             "'default':9,'field':'o'}],'optional':true}" ",'payload':{'at':19753,'o':null}}");
    CHECK_STR(o.value, Q("{'schema':{'type':'struct','fields':[{'type':'string','optional':false,'field':'at'},"
        "{'type':'int32','optional':true,'default':9,'field':'o'}],'optional':true},'payload':{'at':'2024-01-31',"
        "'o':9}}"));
    o = run1(mk("TimestampConverter$Value", "target.type", "Time", NULL), NULL,
             "{'schema':{'type':'int64','optional':true,'name':'org.apache.kafka.connect.data.Timestamp','version':1},"
             "'payload':null}");
    CHECK_STR(o.value, Q("{'schema':{'type':'int32','optional':true,'name':'org.apache.kafka.connect.data.Time',"
        "'version':1},'payload':null}"));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "Date", NULL), NULL, "{'x':1}");
    CHECK_STR(o.value, Q("{'x':1,'at':null}"));
    o = run1(mk("TimestampConverter$Value", "field", "at", "target.type", "Date", NULL), NULL, "{'at':1.5}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_ERR(o.err, "field 'at': TimestampConverter does not support Double values as timestamps");
    o = run1(mk("TimestampConverter$Value", "target.type", "unix", "format", "yyyy-MM-dd", NULL), NULL,
             "'2024-01-31'");
    CHECK_STR(o.value, Q("1706659200000"));
    o = run1(mk("TimestampConverter$Value", "target.type", "unix", NULL), NULL, "null");
    CHECK_STR(o.value, Q("null"));
}

int main(void) {
    test_insert_field();
    test_replace_field();
    test_extract_field();
    test_value_to_key_hoist();
    test_regex_router();
    test_timestamp_router();
    test_flatten();
    test_mask_field();
    test_cast();
    test_timestamp_converter();
    test_predicates();
    test_headers();
    test_chain();
    test_field_edges();
    test_header_edges();
    test_conv_edges();
    TEST_END();
}
