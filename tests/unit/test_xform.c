/*
 * The transform framework: JSON output, the record view built from change
 * records (it must read exactly what the JsonConverter would have written),
 * chain config errors, and the batch stage (drops, tombstones, offset
 * coverage). Two transform types defined here stand in for real ones.
 */
#include <jansson.h>
#include <stdlib.h>
#include "format/dbz_json.h"
#include "faultsim.h"
#include "test.h"
#include "util/arena.h"
#include "xtest.h"

/* ---- two test transforms ---- */

typedef struct up_conf {
    char *suffix;
} up_conf;
static const sl_prop up_props[] = {
    {"suffix", SL_PT_STRING, "", NULL, 0, 0, 0, offsetof(up_conf, suffix), "appended to the topic"}, {NULL}};
static void *up_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    up_conf *c = settings;
    if (strchr(c->suffix, ' ')) {
        sl_errs_add(errs, "%ssuffix: no spaces allowed", prefix);
        return NULL;
    }
    return c;
}
static int up_apply(void *state, sl_xrec *r, char *errstr, size_t errsz) {
    up_conf *c = state;
    char t[256];
    snprintf(t, sizeof t, "%s%s", r->topic, c->suffix);
    for (char *p = t; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
    sl_xrec_set_topic(r, t);
    sl_xrec_add_header(r, "seen", json_string("yes"));
    return SL_X_KEEP;
}
static const sl_xform_ops up_ops = {"test-upper", "com.example.Upper", "Upper-cases the topic.", up_props,
                                    sizeof(up_conf), up_init, up_apply, NULL};

/* Drops records whose value.after.id (or key.id for tombstones) is odd; errors when there is none. */
static void *odd_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) { return settings; }
static int odd_apply(void *state, sl_xrec *r, char *errstr, size_t errsz) {
    json_t *id = r->value ? json_object_get(json_object_get(r->value, "after"), "id") : json_object_get(r->key, "id");
    if (!id && r->value) id = json_object_get(json_object_get(r->value, "before"), "id");
    if (!json_is_integer(id)) {
        snprintf(errstr, errsz, "no id");
        return SL_X_ERROR;
    }
    return json_integer_value(id) % 2 ? SL_X_DROP : SL_X_KEEP;
}
static const sl_prop no_props[] = {{NULL}};
static const sl_xform_ops odd_ops = {"test-drop-odd", NULL, "Drops odd ids.", no_props, 0, odd_init, odd_apply, NULL};

/* ---- JSON output ---- */

static const char *dump(const char *json) {
    static char out[1024];
    json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
    sl_buf b;
    sl_buf_init(&b);
    sl_json_put(&b, j);
    snprintf(out, sizeof out, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    json_decref(j);
    return out;
}

static void test_json_put(void) {
    CHECK_STR(dump("0.1"), "0.1");
    CHECK_STR(dump("1.0"), "1.0");
    CHECK_STR(dump("-2.5e-7"), "-2.5E-7"); /* Double.toString, as the event encoder writes it */
    CHECK_STR(dump("3.141592653589793"), "3.141592653589793");
    CHECK_STR(dump("1e300"), "1.0E300");
    CHECK_STR(dump("12345678.0"), "1.2345678E7");
    CHECK_STR(dump("9007199254740993"), "9007199254740993");
    CHECK_STR(dump("-9223372036854775808"), "-9223372036854775808");
    CHECK_STR(dump("{\"z\":1,\"a\":[true,false,null],\"m\":\"q\\\"\\n\\u0001\"}"),
              "{\"z\":1,\"a\":[true,false,null],\"m\":\"q\\\"\\n\\u0001\"}");
    CHECK_STR(dump("\"\\u00e9\\ud83d\\ude00\""), "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    json_t *p = json_pack("{s:i}", "a", 1), *s = json_pack("{s:s}", "type", "struct");
    char *e = sl_xrec_encode(s, p, true);
    CHECK_STR(e, "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"a\":1}}");
    sl_free(e);
    e = sl_xrec_encode(s, p, false);
    CHECK_STR(e, "{\"a\":1}");
    sl_free(e);
    e = sl_xrec_encode(NULL, p, true); /* schemaless stays schemaless */
    CHECK_STR(e, "{\"a\":1}");
    sl_free(e);
    e = sl_xrec_encode(s, NULL, true);
    CHECK_STR(e, "{\"schema\":{\"type\":\"struct\"},\"payload\":null}");
    sl_free(e);
    json_decref(p);
    json_decref(s);
}

/* ---- the record view ---- */

static sl_table *table(void) {
    sl_table *t = sl_table_new("db", "public", "items", 2);
    t->cols[0].name = sl_strdup("id");
    t->cols[0].type = SL_T_INT32;
    t->cols[0].key = true;
    t->cols[1].name = sl_strdup("name");
    t->cols[1].type = SL_T_STRING;
    t->cols[1].optional = true;
    t->nkeys = 1;
    t->topic = sl_strdup("srv.public.items");
    return t;
}

static sl_record *add(sl_batch *b, sl_table *t, sl_op op, const char *id, const char *name) {
    sl_record *r = sl_batch_add(b, t);
    r->op = op;
    sl_cell *row = sl_arena_alloc(&b->arena, 2 * sizeof *row);
    row[0] = (sl_cell){id, (uint32_t)strlen(id), 0};
    row[1] = name ? (sl_cell){name, (uint32_t)strlen(name), 0} : (sl_cell){NULL, 0, SL_CELL_NULL};
    if (op == SL_OP_DELETE) r->before = row;
    else r->after = row;
    r->ts_us = 1700000000123456;
    r->pos.lsn = 100;
    return r;
}

/* A failure handler: counts (arg >= 0) and skips, or (arg == -1) stops. */
static int skip_failed(void *arg, const sl_record *rec, const char *reason, char *errstr, size_t errsz) {
    int *seen = arg;
    (void)rec;
    if (*seen < 0) {
        snprintf(errstr, errsz, "stopped by the handler");
        return -1;
    }
    CHECK(strstr(reason, "transform odd (test-drop-odd) failed") == reason);
    (*seen)++;
    return 0;
}

static sl_dbz_opts opts(bool schemas) {
    sl_dbz_opts o = {.connector = "postgresql", .server_name = "srv", .version = "0.1.0", .db = "db"};
    o.key_schemas = o.value_schemas = schemas;
    return o;
}

static void test_view(void) {
    sl_table *t = table();
    sl_batch *b = sl_batch_new();
    sl_record *rec = add(b, t, SL_OP_CREATE, "7", "caf\xc3\xa9 \"x\"");
    sl_dbz_opts o = opts(true);
    sl_xrec r;
    sl_xrec_from_record(&r, &o, rec, false);
    CHECK_STR(r.topic, "srv.public.items");
    CHECK(r.src == rec && !r.tombstone && r.partition == -1 && r.kafka_offset == -1);
    CHECK(r.ts_ms == 1700000000123);
    CHECK(json_integer_value(json_object_get(r.key, "id")) == 7);
    CHECK_STR(json_string_value(json_object_get(r.key_schema, "type")), "struct");
    CHECK_STR(json_string_value(json_object_get(r.value, "op")), "c");
    CHECK_STR(json_string_value(json_object_get(json_object_get(r.value, "after"), "name")), "caf\xc3\xa9 \"x\"");
    /* Encoding the untouched view gives back exactly what the encoder writes. */
    sl_buf want;
    sl_buf_init(&want);
    sl_dbz_key(&o, rec, &want);
    char *k = sl_xrec_encode(r.key_schema, r.key, true);
    CHECK_STR(k, sl_buf_cstr(&want));
    sl_free(k);
    sl_buf_reset(&want);
    sl_dbz_value(&o, rec, &want);
    char *v = sl_xrec_encode(r.value_schema, r.value, true);
    /* identical up to the processing time (ts_ms/ts_us/ts_ns after op), which differs per encoding */
    const char *cut = strstr(v, "\"op\":\"c\",\"ts_ms\":");
    CHECK(cut != NULL);
    if (cut) v[cut - v] = 0;
    CHECK(strncmp(sl_buf_cstr(&want), v, strlen(v)) == 0 && strlen(v) > 1000);
    sl_free(v);
    sl_xrec_clear(&r);
    /* Without schemas in the connector the view still has them (transforms need them). */
    sl_dbz_opts on = opts(false);
    sl_xrec_from_record(&r, &on, rec, false);
    CHECK(r.value_schema != NULL && r.key_schema != NULL);
    sl_xrec_clear(&r);
    /* The tombstone after a delete: the key, no value. */
    sl_record *del = add(b, t, SL_OP_DELETE, "7", NULL);
    sl_xrec_from_record(&r, &o, del, true);
    CHECK(r.tombstone && r.value == NULL && r.value_schema == NULL);
    CHECK(json_integer_value(json_object_get(r.key, "id")) == 7);
    sl_xrec_clear(&r);
    sl_buf_free(&want);
    sl_batch_destroy(b);
    sl_table_unref(t);

    /* Text: {"schema","payload"} splits; anything else is a schemaless payload. */
    sl_xrec_from_text(&r, "t", "{\"schema\":{\"type\":\"int32\"},\"payload\":5}", "{\"a\":{\"schema\":1}}");
    CHECK(json_integer_value(r.key) == 5 && r.key_schema);
    CHECK(r.value_schema == NULL && json_object_get(r.value, "a"));
    sl_xrec_clear(&r);
    sl_xrec_from_text(&r, "t", NULL, "null");
    CHECK(r.key == NULL && r.value == NULL);
    sl_xrec_clear(&r);
}

/* ---- config ---- */

static void test_config(void) {
    char err[2048];
    sl_xchain *x = xt_chain("{\"transforms\":\"\"}", err, sizeof err);
    CHECK(x == NULL && err[0] == 0); /* none: no chain, no error */
    x = xt_chain("{\"transforms\":\"a\",\"transforms.a.type\":\"NoSuchThing\"}", err, sizeof err);
    CHECK(x == NULL && strstr(err, "transforms.a.type: 'NoSuchThing' is not a known transform (allowed: "));
    CHECK(strstr(err, "test-upper") != NULL);
    x = xt_chain("{\"transforms\":\"a\"}", err, sizeof err);
    CHECK(x == NULL && strstr(err, "transforms.a.type: required") == err);
    x = xt_chain("{\"transforms\":\"a\",\"transforms.a.type\":\"test-upper\",\"transforms.a.suffix\":\"x y\"}", err,
                 sizeof err);
    CHECK(x == NULL);
    CHECK_STR(err, "transforms.a.suffix: no spaces allowed");
    x = xt_chain("{\"transforms\":\"a\",\"transforms.a.type\":\"test-upper\",\"transforms.a.predicate\":\"p\"}",
                 err, sizeof err);
    CHECK(x == NULL && strstr(err, "transforms.a.predicate: 'p' is not one of predicates") == err);
    x = xt_chain("{\"transforms\":\"a\",\"transforms.a.type\":\"test-upper\",\"transforms.a.negate\":\"maybe\"}", err,
                 sizeof err);
    CHECK(x == NULL && strstr(err, "transforms.a.negate: 'maybe' is not a boolean") == err);
    x = xt_chain("{\"transforms\":\"a\",\"predicates\":\"p\",\"predicates.p.type\":\"Nope\","
                 "\"transforms.a.type\":\"test-upper\"}",
                 err, sizeof err);
    CHECK(x == NULL && strstr(err, "predicates.p.type: 'Nope' is not a known predicate") == err);
    /* Java class name alias, two steps in order */
    x = xt_chain("{\"transforms\":\" a , b \",\"transforms.a.type\":\"com.example.Upper\",\"transforms.a.suffix\":"
                 "\".v1\",\"transforms.b.type\":\"test-upper\",\"transforms.b.suffix\":\"-z\"}",
                 err, sizeof err);
    CHECK(x != NULL);
    if (x) {
        xt_out o = xt_run(x, "t.a", "{\"id\":1}", "{\"after\":{\"id\":1}}");
        CHECK(o.rc == SL_X_KEEP);
        CHECK_STR(o.topic, "T.A.V1-Z");
        CHECK_STR(o.headers, "[{\"key\":\"seen\",\"value\":\"yes\"},{\"key\":\"seen\",\"value\":\"yes\"}]");
        sl_xchain_free(x);
    }
}

/* ---- the batch stage ---- */

static void test_batch(void) {
    char err[512];
    sl_xchain *x = xt_chain("{\"transforms\":\"odd,up\",\"transforms.odd.type\":\"test-drop-odd\","
                            "\"transforms.up.type\":\"test-upper\"}",
                            err, sizeof err);
    CHECK(x != NULL);
    if (!x) return;
    sl_table *t = table();
    sl_batch *b = sl_batch_new();
    add(b, t, SL_OP_CREATE, "1", "one");  /* dropped */
    add(b, t, SL_OP_CREATE, "2", "two");  /* kept */
    add(b, t, SL_OP_DELETE, "4", NULL);   /* kept, and its tombstone */
    sl_batch_set_offset(b, "{\"lsn\":100}", 100);
    add(b, t, SL_OP_CREATE, "6", "six");  /* after the offset */
    CHECK(b->offset_n == 3);
    sl_dbz_opts o = opts(false);
    int dropped = sl_xchain_apply(x, &o, true, b, NULL, NULL, err, sizeof err);
    CHECK(dropped == 1);
    CHECK(b->n == 4);
    CHECK(b->offset_n == 3); /* two, the delete, its tombstone */
    for (int i = 0; i < b->n; i++) {
        CHECK(b->recs[i].raw != NULL && b->recs[i].table == NULL);
        CHECK_STR(b->recs[i].raw->topic, "SRV.PUBLIC.ITEMS");
        CHECK(b->recs[i].nheaders == 1 && strcmp(b->recs[i].headers[0].key, "seen") == 0);
    }
    CHECK(b->recs[0].op == SL_OP_CREATE && b->recs[0].ts_us == 1700000000123456);
    CHECK(strncmp(b->recs[0].raw->value, "{\"before\":null,\"after\":{\"id\":2,\"name\":\"two\"}",
                  strlen("{\"before\":null,\"after\":{\"id\":2,\"name\":\"two\"}")) == 0);
    CHECK_STR(b->recs[0].raw->key, "{\"id\":2}");
    CHECK(b->recs[1].op == SL_OP_DELETE && b->recs[1].raw->value != NULL);
    CHECK(b->recs[2].raw->value == NULL); /* the tombstone */
    CHECK_STR(b->recs[2].raw->key, "{\"id\":4}");
    CHECK(strstr(b->recs[3].raw->value, "\"six\"") != NULL);
    /* The sink encoders pass the result through. */
    sl_buf out;
    sl_buf_init(&out);
    sl_dbz_value(&o, &b->recs[2], &out);
    CHECK_STR(sl_buf_cstr(&out), "null");
    sl_buf_free(&out);
    sl_batch_destroy(b);

    /* A failing record fails the batch with the transform's name and the topic. */
    b = sl_batch_new();
    sl_record *bad = sl_batch_add(b, NULL);
    bad->op = SL_OP_HEARTBEAT;
    CHECK(sl_xchain_apply(x, &o, true, b, NULL, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "transform odd (test-drop-odd) failed on a record of topic __debezium-heartbeat") == err);
    CHECK(strstr(err, "no id") != NULL);
    sl_batch_destroy(b);
    /* With a failure handler that skips (errors.tolerance=all), the batch goes on without the record. */
    b = sl_batch_new();
    add(b, t, SL_OP_CREATE, "2", "two");
    sl_batch_add(b, NULL)->op = SL_OP_HEARTBEAT;
    add(b, t, SL_OP_CREATE, "4", "four");
    sl_batch_set_offset(b, "{\"lsn\":102}", 102);
    int seen = 0;
    CHECK(sl_xchain_apply(x, &o, true, b, skip_failed, &seen, err, sizeof err) == 0);
    CHECK(seen == 1 && b->n == 2 && b->offset_n == 2);
    sl_batch_destroy(b);
    /* A handler that says stop stops the batch with its own message. */
    b = sl_batch_new();
    sl_batch_add(b, NULL)->op = SL_OP_HEARTBEAT;
    seen = -1;
    CHECK(sl_xchain_apply(x, &o, true, b, skip_failed, &seen, err, sizeof err) == -1);
    CHECK_STR(err, "stopped by the handler");
    sl_batch_destroy(b);
    /* A record whose encoding cannot be read back is a failure, never a null (which would pass as a
     * tombstone and vanish): here a pre-encoded value that is not JSON. */
    b = sl_batch_new();
    sl_record *junk = sl_batch_add(b, NULL);
    sl_raw raw = {.topic = "in", .key = "{\"id\":2}", .key_len = 8, .value = "{\"id\":", .value_len = 6};
    junk->op = SL_OP_CREATE, junk->raw = &raw;
    CHECK(sl_xchain_apply(x, &o, true, b, NULL, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "the record's JSON could not be read back") == err);
    sl_batch_destroy(b);
    /* Everything dropped: the offset covers nothing left, and says so. */
    b = sl_batch_new();
    add(b, t, SL_OP_CREATE, "3", "three");
    sl_batch_set_offset(b, "{\"lsn\":101}", 101);
    CHECK(sl_xchain_apply(x, &o, true, b, NULL, NULL, err, sizeof err) == 1);
    CHECK(b->n == 0 && b->offset_n == 0 && b->offset != NULL);
    sl_batch_destroy(b);
    sl_table_unref(t);
    sl_xchain_free(x);
}

/* The per-table schema cache: the second record of a table (schemas from the cache) encodes exactly like the
 * first (schemas parsed from its own event), and like a chain-less encoding of the same record. */
static void test_schema_cache(void) {
    char err[512];
    sl_xchain *x = xt_chain("{\"transforms\":\"up\",\"transforms.up.type\":\"test-upper\"}", err, sizeof err);
    CHECK(x != NULL);
    if (!x) return;
    sl_table *t = table();
    sl_batch *b = sl_batch_new();
    add(b, t, SL_OP_CREATE, "2", "x");
    add(b, t, SL_OP_CREATE, "2", "x");
    add(b, t, SL_OP_DELETE, "2", NULL);
    sl_dbz_opts o = opts(true);
    CHECK(sl_xchain_apply(x, &o, true, b, NULL, NULL, err, sizeof err) == 0);
    CHECK(b->n == 4);
    if (b->n == 4) {
        const char *v1 = b->recs[0].raw->value, *v2 = b->recs[1].raw->value;
        const char *cut1 = strstr(v1, "\"ts_ms\":17"), *cut2 = strstr(v2, "\"ts_ms\":17"); /* processing time */
        CHECK(cut1 && cut2 && cut1 - v1 == cut2 - v2 && strncmp(v1, v2, (size_t)(cut1 - v1)) == 0);
        const char *head = "{\"schema\":{\"type\":\"struct\",\"fields\":[";
        CHECK(strncmp(v1, head, strlen(head)) == 0);
        CHECK_STR(b->recs[0].raw->key, b->recs[1].raw->key);
        CHECK(strstr(b->recs[0].raw->key, "\"schema\"") != NULL);
        CHECK_STR(b->recs[3].raw->key, b->recs[1].raw->key); /* the tombstone's key schema, from the cache */
        CHECK(b->recs[3].raw->value == NULL);
    }
    sl_batch_destroy(b);
    sl_table_unref(t);
    sl_xchain_free(x);
}

/*
 * The chain built from its config and run over a batch, with each allocation failing in turn
 * (faultsim.h, lenient: the chain holds blocks in its own frames, so a failure strands them, which
 * abort-on-OOM makes harmless). At every failing allocation the config, the chain or its errors and
 * the batch must still be the caller's to free, and the batch is transformed whole or not at all; a
 * run that gets through gives what a run without the hook gives.
 */
typedef struct fs_chain {
    sl_table *t;
    sl_config *cfg;
    sl_errs errs;
    sl_xchain *x;
    sl_batch *b;
    bool applied; /* sl_xchain_apply returned */
    char out[4096], want[4096];
} fs_chain;

static const char FS_CHAIN_CONFIG[] =
    "{\"config\":{\"transforms\":\"odd,unwrap,add,route,up\",\"transforms.odd.type\":\"test-drop-odd\","
    "\"transforms.unwrap.type\":\"io.debezium.transforms.ExtractNewRecordState\","
    "\"transforms.unwrap.add.fields\":\"op,table\",\"transforms.unwrap.delete.tombstone.handling.mode\":\"rewrite\","
    "\"transforms.add.type\":\"org.apache.kafka.connect.transforms.InsertField$Value\","
    "\"transforms.add.static.field\":\"origin\",\"transforms.add.static.value\":\"pg\","
    "\"transforms.route.type\":\"org.apache.kafka.connect.transforms.RegexRouter\","
    "\"transforms.route.regex\":\"srv\\\\.(.*)\",\"transforms.route.replacement\":\"cdc.$1\","
    "\"transforms.up.type\":\"test-upper\"}}";
enum { FS_CHAIN_RECS = 5 };

static int fs_chain_run(void *arg) {
    fs_chain *f = arg;
    char err[512];
    f->applied = false;
    f->cfg = sl_config_parse_json(FS_CHAIN_CONFIG, "test", err, sizeof err);
    if (!f->cfg) return -1;
    f->x = sl_xchain_new(f->cfg, sl_config_get(f->cfg, "transforms"), &f->errs);
    if (!f->x) return -1;
    f->b = sl_batch_new();
    add(f->b, f->t, SL_OP_CREATE, "1", "one"); /* dropped */
    add(f->b, f->t, SL_OP_CREATE, "2", "two");
    add(f->b, f->t, SL_OP_UPDATE, "2", "deux");
    add(f->b, f->t, SL_OP_DELETE, "4", NULL);       /* and its tombstone */
    sl_batch_add(f->b, NULL)->op = SL_OP_HEARTBEAT; /* fails in test-drop-odd: skipped */
    sl_batch_set_offset(f->b, "{\"lsn\":100}", 100);
    sl_dbz_opts o = opts(true);
    int seen = 0;
    if (sl_xchain_apply(f->x, &o, true, f->b, skip_failed, &seen, err, sizeof err) < 0) return -1;
    f->applied = true;
    sl_buf all;
    sl_buf_init(&all);
    for (int i = 0; i < f->b->n; i++) {
        const sl_raw *r = f->b->recs[i].raw;
        const char *p = r->value ? strstr(r->value, "\"payload\"") : NULL;
        sl_buf_printf(&all, "%s %s %s\n", r->topic, r->key ? r->key : "-", p ? p : "-");
    }
    snprintf(f->out, sizeof f->out, "%s", sl_buf_cstr(&all));
    sl_buf_free(&all);
    return 0;
}

static void fs_chain_cleanup(void *arg) {
    fs_chain *f = arg;
    sl_batch_destroy(f->b);
    sl_xchain_free(f->x);
    sl_errs_free(&f->errs);
    sl_config_destroy(f->cfg);
    f->b = NULL, f->x = NULL, f->cfg = NULL;
}

static void fs_chain_failed(void *arg) {
    fs_chain *f = arg;
    if (!f->b) return;
    bool whole = f->b->n <= FS_CHAIN_RECS; /* the records as added, or all of them transformed */
    for (int i = 0; i < f->b->n; i++) whole &= (f->b->recs[i].raw != NULL) == f->applied;
    CHECK(whole);
}

static void fs_chain_done(void *arg, int rc) {
    fs_chain *f = arg;
    CHECK(rc == 0);
    CHECK_STR(f->out, f->want);
}

static void test_alloc_failures(void) {
    fs_chain f = {.t = table()};
    CHECK(fs_chain_run(&f) == 0); /* the reference, with nothing failing (and LSan watching) */
    snprintf(f.want, sizeof f.want, "%s", f.out);
    fs_chain_cleanup(&f);
    CHECK(strstr(f.want, "CDC.PUBLIC.ITEMS {\"schema\"") == f.want); /* routed, uppercased */
    CHECK(strstr(f.want, "\"name\":\"deux\",\"__deleted\":\"false\",\"__op\":\"u\",\"__table\":\"items\",\"origin\":\"pg\"") != NULL);
    faultsim_ops ops = {.run = fs_chain_run, .cleanup = fs_chain_cleanup, .done = fs_chain_done,
                        .failed = fs_chain_failed};
    long stranded, n = faultsim("transform chain", &ops, &f, &stranded);
    CHECK(n > 50);
    if (getenv("SLUICE_FAULTSIM_VERBOSE"))
        fprintf(stderr, "transform chain: %ld allocations, %ld of them strand blocks when failing\n", n, stranded);
    sl_table_unref(f.t);
}

/* ---- transforms on the encoder's lazy values ---- */

/* A JSON-form step that changes nothing: in front of view steps it makes the chain turn the record into JSON
 * trees and back, so they see built values instead of the encoder's lazy rows and the cached frozen schemas. */
static int nop_apply(void *state, sl_xrec *r, char *errstr, size_t errsz) { return SL_X_KEEP; }
static const sl_xform_ops nop_json_ops = {"test-json", NULL, "Does nothing, on JSON trees.", no_props, 0, odd_init,
                                          nop_apply, NULL};

/* A table with a default, a double, a date, a timestamp and a decimal beside the key. */
static sl_table *wide_table(void) {
    static const struct {
        const char *name;
        sl_ctype type;
        int scale;
    } cols[] = {{"id", SL_T_INT32, -1},  {"name", SL_T_STRING, -1},   {"price", SL_T_FLOAT64, -1},
                {"day", SL_T_DATE, -1},  {"at", SL_T_TIMESTAMP, 3},    {"amount", SL_T_NUMERIC, 2}};
    int n = (int)(sizeof cols / sizeof *cols);
    sl_table *t = sl_table_new("db", "public", "wide", n);
    for (int i = 0; i < n; i++) {
        t->cols[i].name = sl_strdup(cols[i].name);
        t->cols[i].type = cols[i].type;
        t->cols[i].scale = cols[i].scale;
        t->cols[i].precision = cols[i].type == SL_T_NUMERIC ? 10 : -1;
        t->cols[i].optional = i > 0;
    }
    t->cols[0].key = true;
    t->nkeys = 1;
    sl_column_set_default(&t->cols[1], "dflt", 4);
    t->topic = sl_strdup("srv.public.wide");
    return t;
}

static void add_wide(sl_batch *b, sl_table *t, sl_op op, const char *const *cells) {
    sl_record *r = sl_batch_add(b, t);
    r->op = op;
    sl_cell *row = sl_arena_alloc(&b->arena, (size_t)t->ncols * sizeof *row);
    for (int i = 0; i < t->ncols; i++)
        row[i] = cells[i] ? (sl_cell){cells[i], (uint32_t)strlen(cells[i]), 0} : (sl_cell){NULL, 0, SL_CELL_NULL};
    if (op == SL_OP_DELETE) r->before = row;
    else r->after = row;
    r->ts_us = 1700000000123456;
    r->pos.lsn = 100;
}

/* The records a chain writes for a batch of changes to wide_table, without tombstones (processing times, the
 * only runs of 12 digits or more that differ between runs, masked), or its error. */
static void wide_run(const char *cfg_json, bool schemas, sl_buf *out) {
    char err[512];
    sl_xchain *x = xt_chain(cfg_json, err, sizeof err);
    sl_buf_reset(out);
    if (!x) {
        sl_buf_printf(out, "config: %s", err);
        return;
    }
    sl_table *t = wide_table();
    sl_batch *b = sl_batch_new();
    const char *const c1[] = {"2", "two \"2\" caf\xc3\xa9", "2.5", "2024-01-31", "2024-01-31 10:20:30.123", "12.50"};
    const char *const c2[] = {"3", NULL, "1e300", NULL, NULL, "-0.01"};
    const char *const c3[] = {"4", "four", NULL, "1970-01-01", "1969-12-31 23:59:59.999", NULL};
    add_wide(b, t, SL_OP_CREATE, c1);
    add_wide(b, t, SL_OP_UPDATE, c2);
    add_wide(b, t, SL_OP_DELETE, c3);
    add_wide(b, t, SL_OP_READ, c1);
    sl_dbz_opts o = opts(schemas);
    if (sl_xchain_apply(x, &o, false, b, NULL, NULL, err, sizeof err) < 0) {
        sl_buf_printf(out, "error: %s\n", err);
    } else {
        for (int i = 0; i < b->n; i++) {
            const sl_record *r = &b->recs[i];
            sl_buf_printf(out, "%s %s %s", r->raw->topic, r->raw->key ? r->raw->key : "-",
                          r->raw->value ? r->raw->value : "-");
            for (int k = 0; k < r->nheaders; k++)
                sl_buf_printf(out, " [%s%s=%.*s]", r->headers[k].key, r->headers[k].is_json ? " json" : "",
                              (int)r->headers[k].value_len, r->headers[k].value ? r->headers[k].value : "(null)");
            sl_buf_putc(out, '\n');
        }
    }
    for (size_t i = 0; i < out->len;) {
        size_t k = i;
        while (k < out->len && out->data[k] >= '0' && out->data[k] <= '9') k++;
        if (k - i >= 12) memset(out->data + i, '#', k - i);
        i = k > i ? k : i + 1;
    }
    sl_batch_destroy(b);
    sl_table_unref(t);
    sl_xchain_free(x);
}

/* Every Kafka Connect transform (and chains of them behind unwrap) on lazy rows and cached frozen schemas writes
 * what it writes on the same records built as JSON trees first. */
static void test_lazy_equals_built(void) {
#define UNWRAP "'t.type':'unwrap','t.delete.tombstone.handling.mode':'rewrite',"
    /* steps t[,u[,v]] of the chain: 't.type' and 't.option' stand for transforms.t.type and transforms.t.option */
    static const char *const chains[] = {
        "'t.type':'ReplaceField$Value','t.exclude':'source','t.renames':'op:operation,after:row'",
        "'t.type':'ReplaceField$Key','t.renames':'id:pk'",
        /* fields of the lazy source block read one by one (its get op), and of transaction and the envelope */
        UNWRAP "'t.add.fields':'op,source.ts_ms,lsn,table,db,snapshot,sequence,txId,id,ts_us','t.add.headers':'db,lsn'",
        "'t.type':'ExtractField$Value','t.field':'source.ts_ms','t.field.syntax.version':'V2'",
        "'t.type':'ReplaceField$Value','t.include':'after,op,ts_ms'",
        "'t.type':'ExtractField$Value','t.field':'after'",
        "'t.type':'ExtractField$Value','t.field':'after.name','t.field.syntax.version':'V2'",
        "'t.type':'ExtractField$Key','t.field':'id'",
        "'t.type':'ValueToKey','t.fields':'op,after'",
        "'t.type':'HoistField$Value','t.field':'e'",
        "'t.type':'HoistField$Key','t.field':'k'",
        "'t.type':'InsertHeader','t.header':'h','t.value.literal':'[1,2.0]'",
        "'t.type':'HeaderFrom$Value','t.fields':'op,after,source','t.headers':'a,b,c','t.operation':'move'",
        "'t.type':'HeaderFrom$Key','t.fields':'id','t.headers':'pk','t.operation':'copy'",
        "'t.type':'Flatten$Value'",
        "'t.type':'Flatten$Key','t.delimiter':'_'",
        "'t.type':'MaskField$Value','t.fields':'op'",
        "'t.type':'Cast$Value','t.spec':'op:int8'",
        "'t.type':'Drop','t.predicate':'p','predicates':'p','predicates.p.type':'RecordIsTombstone'",
        "'t.type':'ExtractField$Key','t.field':'id','u.type':'Cast$Key','u.spec':'string'",
        "'t.type':'ExtractField$Value','t.field':'source','u.type':'TimestampConverter$Value','u.field':'ts_ms',"
        "'u.target.type':'string','u.format':'yyyy-MM-dd HH:mm:ss.SSS'",
        UNWRAP "'u.type':'Flatten$Value','u.delimiter':'/'",
        UNWRAP "'u.type':'Cast$Value','u.spec':'id:string,name:string,amount:float64,day:string'",
        UNWRAP "'u.type':'Cast$Value','u.spec':'id:int8,at:string,amount:int32,name:boolean'",
        UNWRAP "'u.type':'Cast$Value','u.spec':'price:float32'",
        UNWRAP "'u.type':'MaskField$Value','u.fields':'name,day,at,amount'",
        UNWRAP "'u.type':'MaskField$Value','u.fields':'price'",
        UNWRAP "'u.type':'MaskField$Value','u.fields':'name','u.replacement':'***'",
        UNWRAP "'u.type':'HeaderFrom$Value','u.fields':'name,price','u.headers':'n,p','u.operation':'move'",
        UNWRAP "'u.type':'ValueToKey','u.fields':'name,id'",
        UNWRAP "'u.type':'ReplaceField$Value','u.renames':'name:n','u.exclude':'price'",
        UNWRAP "'u.type':'ExtractField$Value','u.field':'name'",
        UNWRAP "'u.type':'TimestampConverter$Value','u.field':'at','u.target.type':'Date'",
        UNWRAP "'u.type':'TimestampConverter$Value','u.field':'day','u.target.type':'string',"
        "'u.format':'yyyy'",
        UNWRAP "'u.type':'HoistField$Value','u.field':'row','v.type':'Flatten$Value'",
        UNWRAP "'u.type':'InsertHeader','u.header':'x','u.value.literal':'1','v.type':'DropHeaders',"
        "'v.headers':'x'",
    };
    sl_buf cfg, lazy, built;
    sl_buf_init(&cfg), sl_buf_init(&lazy), sl_buf_init(&built);
    bool dump = getenv("SLUICE_XTEST_DUMP") != NULL;
    for (size_t i = 0; i < sizeof chains / sizeof *chains; i++) {
        const char *steps = strstr(chains[i], "'v.") ? "t,u,v" : strstr(chains[i], "'u.") ? "t,u" : "t";
        for (int schemas = 0; schemas < 2; schemas++) {
            for (int nop = 0; nop < 2; nop++) {
                sl_buf_reset(&cfg);
                sl_buf_printf(&cfg, "{'transforms':'%s%s','transforms.nop.type':'test-json',", nop ? "nop," : "",
                              steps);
                for (const char *p = chains[i]; *p; p++) {
                    bool key = *p == '\'' && (p == chains[i] || p[-1] == ',') && p[1] != 'p';
                    sl_buf_putc(&cfg, *p);
                    if (key) sl_buf_puts(&cfg, "transforms.");
                }
                sl_buf_putc(&cfg, '}');
                for (char *c = cfg.data; c < cfg.data + cfg.len; c++)
                    if (*c == '\'') *c = '"';
                wide_run(sl_buf_cstr(&cfg), schemas, nop ? &built : &lazy);
            }
            if (strcmp(sl_buf_cstr(&lazy), sl_buf_cstr(&built)) == 0) {
                t_pass++;
            } else {
                t_fail++;
                fprintf(stderr, "chain %s (schemas %d):\nlazy:  %s\nbuilt: %s\n", chains[i], schemas,
                        sl_buf_cstr(&lazy), sl_buf_cstr(&built));
            }
            if (dump) fprintf(stderr, "== %s (schemas %d)\n%s", chains[i], schemas, sl_buf_cstr(&built));
        }
    }
    sl_buf_free(&cfg), sl_buf_free(&lazy), sl_buf_free(&built);
#undef UNWRAP
}

/* Records read from Kafka whose envelope parts the reader noted (sl_raw.value_schema_at...): the chain reads the
 * schema by its text (cached) and only the payload, with the same result as reading the whole text. */
static void test_raw_parts(void) {
    char err[512];
    sl_xchain *x = xt_chain("{\"transforms\":\"u\",\"transforms.u.type\":\"io.debezium.transforms.ExtractNewRecordState\","
                            "\"transforms.u.add.fields\":\"op\"}", err, sizeof err);
    CHECK(x != NULL);
    if (!x) return;
    sl_dbz_opts o = opts(true);
    static const char v[] = "{\"schema\":{\"type\":\"struct\",\"name\":\"t.Envelope\",\"fields\":[{\"type\":\"struct\","
                            "\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}],\"optional\":true,"
                            "\"field\":\"after\"},{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],"
                            "\"optional\":false},\"payload\":{\"after\":{\"id\":%d},\"op\":\"c\"}}";
    char text[4][600];
    sl_raw raw[4];
    sl_batch *b = sl_batch_new();
    for (int i = 0; i < 4; i++) {
        snprintf(text[i], sizeof text[i], v, i);
        const char *sch = strstr(text[i], "{\"type\":\"struct\",\"name\""), *pl = strstr(text[i], "{\"after\"");
        raw[i] = (sl_raw){.topic = "t", .value = text[i], .value_len = (uint32_t)strlen(text[i]), .partition = 0};
        if (i % 2) { /* odd ones with their parts noted */
            raw[i].value_schema_at = (uint32_t)(sch - text[i]);
            raw[i].value_schema_len = (uint32_t)(pl - 11 - sch); /* up to ,"payload": */
            raw[i].value_payload_at = (uint32_t)(pl - text[i]);
            raw[i].value_payload_len = (uint32_t)(strlen(text[i]) - 1 - (size_t)(pl - text[i]));
        }
        sl_record *r = sl_batch_add(b, NULL);
        r->op = SL_OP_CREATE, r->raw = &raw[i];
    }
    CHECK(sl_xchain_apply(x, &o, true, b, NULL, NULL, err, sizeof err) == 0);
    CHECK(b->n == 4);
    for (int i = 0; i < 4 && b->n == 4; i++) {
        char want[600];
        snprintf(want, sizeof want,
                 "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":"
                 "\"id\"},{\"type\":\"string\",\"optional\":true,\"field\":\"__op\"}],\"optional\":false},"
                 "\"payload\":{\"id\":%d,\"__op\":\"c\"}}", i);
        CHECK_STR(b->recs[i].raw->value, want);
    }
    sl_batch_destroy(b);
    sl_xchain_free(x);
}

/* Derived schemas are kept per step and input schema; when the per-table cache drops a table (more than 32
 * of them), no record may get a schema derived from another table's (an address that came back). Each table
 * here has a column of its own name: every output's schema must name that column, and its own table. */
static void test_memo_eviction(void) {
    char err[512];
    sl_xchain *x = xt_chain("{\"transforms\":\"u,i\",\"transforms.u.type\":\"unwrap\",\"transforms.u.add.fields\":\"op\","
                            "\"transforms.i.type\":\"InsertField$Value\",\"transforms.i.static.field\":\"s\","
                            "\"transforms.i.static.value\":\"v\"}", err, sizeof err);
    CHECK(x != NULL);
    if (!x) return;
    sl_dbz_opts o = opts(true);
    enum { NT = 40 };
    sl_table *ts[NT];
    for (int round = 0; round < 3; round++) {
        sl_batch *b = sl_batch_new();
        for (int i = 0; i < NT; i++) {
            char name[32];
            if (round == 0) {
                snprintf(name, sizeof name, "t%d", i);
                ts[i] = sl_table_new("db", "public", name, 2);
                ts[i]->cols[0].name = sl_strdup("id");
                ts[i]->cols[0].type = SL_T_INT32;
                ts[i]->cols[0].key = true;
                snprintf(name, sizeof name, "c%d", i);
                ts[i]->cols[1].name = sl_strdup(name);
                ts[i]->cols[1].type = SL_T_STRING;
                ts[i]->cols[1].optional = true;
                ts[i]->nkeys = 1;
                snprintf(name, sizeof name, "srv.public.t%d", i);
                ts[i]->topic = sl_strdup(name);
            }
            add(b, ts[i], SL_OP_CREATE, "1", "a");
            add(b, ts[i], SL_OP_UPDATE, "1", "b");
        }
        CHECK(sl_xchain_apply(x, &o, true, b, NULL, NULL, err, sizeof err) == 0);
        CHECK(b->n == 2 * NT);
        for (int k = 0; k < b->n; k++) {
            char want_col[64], want_name[64];
            snprintf(want_col, sizeof want_col, "\"field\":\"c%d\"", k / 2);
            snprintf(want_name, sizeof want_name, "\"name\":\"srv.public.t%d.Value\"", k / 2);
            const char *v = b->recs[k].raw->value;
            CHECK(strstr(v, want_col) && strstr(v, want_name) && strstr(v, "\"field\":\"__op\"") &&
                  strstr(v, "\"field\":\"s\""));
        }
        sl_batch_destroy(b);
    }
    for (int i = 0; i < NT; i++) sl_table_unref(ts[i]);
    sl_xchain_free(x);
}

/* unwrap keeps, beside each derived schema, what the schema decides for every record (defaulted fields, where
 * add.fields are found): records after the first of a table use it and read no schema. Each record's output from
 * one batch (plan used) must equal its output alone in a fresh chain (plan derived). */
static void test_unwrap_plan(void) {
    const char *cfg = "{\"transforms\":\"u\",\"transforms.u.type\":\"unwrap\","
                      "\"transforms.u.delete.handling.mode\":\"rewrite\","
                      "\"transforms.u.add.fields\":\"op,source.ts_ms,transaction.id,source.nope,source.op\"}";
    char err[512];
    sl_dbz_opts o = opts(true);
    o.keep_nulls = true; /* the converter keeps nulls: unwrap's replace.null.with.default is what fills them */
    sl_table *t = table();
    sl_column_set_default(&t->cols[1], "dflt", 4);
    static const struct {
        sl_op op;
        const char *id, *name;
    } recs[] = {{SL_OP_CREATE, "1", NULL}, {SL_OP_CREATE, "2", "x"}, {SL_OP_UPDATE, "1", NULL},
                {SL_OP_DELETE, "2", "x"},   {SL_OP_DELETE, "1", NULL}, {SL_OP_CREATE, "3", NULL}};
    enum { N = sizeof recs / sizeof recs[0] };
    sl_xchain *x = xt_chain(cfg, err, sizeof err);
    CHECK(x != NULL);
    if (!x) return;
    sl_batch *all = sl_batch_new();
    for (int i = 0; i < N; i++) add(all, t, recs[i].op, recs[i].id, recs[i].name);
    CHECK(sl_xchain_apply(x, &o, false, all, NULL, NULL, err, sizeof err) == 0);
    CHECK(all->n == N);
    for (int i = 0; i < N && all->n == N; i++) {
        sl_xchain *one = xt_chain(cfg, err, sizeof err);
        sl_batch *b = sl_batch_new();
        add(b, t, recs[i].op, recs[i].id, recs[i].name);
        CHECK(sl_xchain_apply(one, &o, false, b, NULL, NULL, err, sizeof err) == 0);
        CHECK(b->n == 1);
        if (b->n == 1) CHECK_STR(all->recs[i].raw->value, b->recs[0].raw->value);
        sl_batch_destroy(b);
        sl_xchain_free(one);
    }
    if (getenv("SLUICE_XTEST_DUMP")) for (int i = 0; i < all->n; i++) fprintf(stderr, "%s\n", all->recs[i].raw->value);
    /* and the plan did its work: a null name became the default, __deleted follows the op */
    CHECK(strstr(all->recs[5].raw->value, "\"payload\":{\"id\":3,\"name\":\"dflt\",\"__deleted\":\"false\""));
    CHECK(strstr(all->recs[4].raw->value, "\"__deleted\":\"true\""));
    sl_batch_destroy(all);
    sl_xchain_free(x);
    sl_table_unref(t);
}

int main(void) {
    sl_xform_add(&up_ops);
    sl_xform_add(&odd_ops);
    sl_xform_add(&nop_json_ops);
    test_json_put();
    test_view();
    test_config();
    test_batch();
    test_schema_cache();
    test_alloc_failures();
    test_lazy_equals_built();
    test_raw_parts();
    test_memo_eviction();
    test_unwrap_plan();
    TEST_END();
}
