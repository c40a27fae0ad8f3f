/*
 * Unit tests of the Debezium transforms (src/xform/debezium*.c): golden
 * before/after records for ExtractNewRecordState (unwrap) in every delete
 * mode and option, with schemas and schemaless, and for the outbox
 * EventRouter (table rows, logical decoding messages, every option), plus
 * bad configs whose errors must name the key.
 */
#include "test.h"
#include "xform/debezium_int.h"
#include <libpq-fe.h>
#include <mysql.h>
#include "../../include/sluice_outbox.h"
#include "xtest.h"
#include <stdarg.h>
#include <stdlib.h>

/* ---- a PostgreSQL change event of inv.public.customers, as sluice's encoder writes it ---- */

#define ROW_FIELDS                                                                                           \
    "[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},{\"type\":\"string\",\"optional\":true,"      \
    "\"field\":\"name\"},{\"type\":\"string\",\"optional\":true,\"default\":\"n/a\",\"field\":\"tag\"}]"
#define ROW_SCHEMA(f) \
    "{\"type\":\"struct\",\"fields\":" ROW_FIELDS ",\"optional\":true,\"name\":\"inv.public.customers.Value\",\"field\":\"" f "\"}"
#define SOURCE_SCHEMA                                                                                          \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"       \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},{\"type\":\"string\",\"optional\":false,"     \
    "\"field\":\"db\"},{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},{\"type\":\"string\","    \
    "\"optional\":false,\"field\":\"table\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"}],"        \
    "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"}"
#define TX_SCHEMA                                                                                              \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"              \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},{\"type\":\"int64\",\"optional\":false," \
    "\"field\":\"data_collection_order\"}],\"optional\":true,\"name\":\"event.block\",\"version\":1,"           \
    "\"field\":\"transaction\"}"
#define ENV_SCHEMA                                                                                                \
    "{\"type\":\"struct\",\"fields\":[" ROW_SCHEMA("before") "," ROW_SCHEMA("after") "," SOURCE_SCHEMA "," TX_SCHEMA \
    ",{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},{\"type\":\"int64\",\"optional\":true,"            \
    "\"field\":\"ts_ms\"}],\"optional\":false,\"name\":\"inv.public.customers.Envelope\",\"version\":2}"
#define SOURCE "{\"connector\":\"postgresql\",\"ts_ms\":1700000000000,\"db\":\"app\",\"schema\":\"public\",\"table\":\"customers\",\"lsn\":123}"
#define KEY "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}],\"optional\":false,\"name\":\"inv.public.customers.Key\"},\"payload\":{\"id\":1}}"
#define A1 "{\"id\":1,\"name\":\"a\",\"tag\":null}"
#define B1 "{\"id\":1,\"name\":\"old\",\"tag\":\"t\"}"
#define TOPIC "inv.public.customers"

/* The unwrapped value schema: the after struct, no longer optional, plus extra fields. */
#define VAL_SCHEMA(extra) \
    "{\"type\":\"struct\",\"fields\":" ROW_FIELDS_OPEN extra "],\"optional\":false,\"name\":\"inv.public.customers.Value\"}"
#define ROW_FIELDS_OPEN                                                                                      \
    "[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},{\"type\":\"string\",\"optional\":true,"      \
    "\"field\":\"name\"},{\"type\":\"string\",\"optional\":true,\"default\":\"n/a\",\"field\":\"tag\"}"
#define DELETED_FIELD ",{\"type\":\"string\",\"optional\":true,\"field\":\"__deleted\"}"

static char env_buf[8192];

/* A change event with schemas: op, before/after payloads (JSON or "null"), transaction (JSON or "null"). */
static const char *env(const char *op, const char *before, const char *after, const char *tx) {
    snprintf(env_buf, sizeof env_buf,
             "{\"schema\":" ENV_SCHEMA ",\"payload\":{\"before\":%s,\"after\":%s,\"source\":" SOURCE
             ",\"transaction\":%s,\"op\":\"%s\",\"ts_ms\":1700000000100}}",
             before, after, tx, op);
    return env_buf;
}

/* The same event schemaless. */
static const char *envl(const char *op, const char *before, const char *after) {
    snprintf(env_buf, sizeof env_buf,
             "{\"before\":%s,\"after\":%s,\"source\":" SOURCE ",\"transaction\":null,\"op\":\"%s\",\"ts_ms\":1700000000100}",
             before, after, op);
    return env_buf;
}

static char cfg_buf[4096];

/* A one-transform chain "t" of `type` with extra config members (JSON object members, may be ""). */
static sl_xchain *chain(const char *type, const char *members) {
    snprintf(cfg_buf, sizeof cfg_buf, "{\"transforms\":\"t\",\"transforms.t.type\":\"%s\"%s%s}", type,
             *members ? "," : "", members);
    sl_xchain *x = xt_chain(cfg_buf, NULL, 0);
    CHECK(x != NULL);
    return x;
}

/* The first config error of a chain that must not build. */
static const char *bad(const char *type, const char *members) {
    static char err[512];
    snprintf(cfg_buf, sizeof cfg_buf, "{\"transforms\":\"t\",\"transforms.t.type\":\"%s\"%s%s}", type,
             *members ? "," : "", members);
    sl_xchain *x = xt_chain(cfg_buf, err, sizeof err);
    CHECK(x == NULL);
    sl_xchain_free(x);
    return err;
}

#define CHECK_HAS(hay, needle)                                                        \
    do {                                                                              \
        const char *h_ = (hay), *n_ = (needle);                                       \
        if (strstr(h_, n_)) t_pass++;                                                 \
        else {                                                                        \
            t_fail++;                                                                 \
            fprintf(stderr, "%s:%d: '%s' lacks '%s'\n", __FILE__, __LINE__, h_, n_); \
        }                                                                             \
    } while (0)

/* ---- unwrap ---- */

static void test_unwrap_default(void) {
    sl_xchain *x = chain("io.debezium.transforms.ExtractNewRecordState", "");
    xt_out o = xt_run(x, TOPIC, KEY, env("c", "null", A1, "null"));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, TOPIC);
    CHECK_STR(o.key, KEY);
    CHECK_STR(o.value, "{\"schema\":" VAL_SCHEMA("") ",\"payload\":" A1 "}");
    CHECK_STR(o.headers, "[]");
    /* update and snapshot read: the new state */
    o = xt_run(x, TOPIC, KEY, env("u", B1, A1, "null"));
    CHECK_STR(o.value, "{\"schema\":" VAL_SCHEMA("") ",\"payload\":" A1 "}");
    o = xt_run(x, TOPIC, KEY, env("r", "null", A1, "null"));
    CHECK_STR(o.value, "{\"schema\":" VAL_SCHEMA("") ",\"payload\":" A1 "}");
    /* tombstone mode: the delete keeps its key, value null with the after schema; the tombstone goes */
    o = xt_run(x, TOPIC, KEY, env("d", B1, "null", "null"));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.key, KEY);
    CHECK_STR(o.value, "{\"schema\":{\"type\":\"struct\",\"fields\":" ROW_FIELDS
                       ",\"optional\":true,\"name\":\"inv.public.customers.Value\"},\"payload\":null}");
    o = xt_run(x, TOPIC, KEY, NULL);
    CHECK(o.rc == SL_X_DROP);
    /* truncate: dropped */
    o = xt_run(x, TOPIC, NULL, env("t", "null", "null", "null"));
    CHECK(o.rc == SL_X_DROP);
    /* not envelopes: unchanged */
    const char *hb = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"field\":"
                     "\"ts_ms\"}],\"optional\":false,\"name\":\"io.debezium.connector.common.Heartbeat\",\"version\":1},"
                     "\"payload\":{\"ts_ms\":5}}";
    o = xt_run(x, "__debezium-heartbeat.inv", "{\"serverName\":\"inv\"}", hb);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, hb);
    CHECK_STR(o.topic, "__debezium-heartbeat.inv");
    o = xt_run(x, "plain", NULL, "{\"a\":1}");
    CHECK_STR(o.value, "{\"a\":1}");
    sl_xchain_free(x);
}

static void test_unwrap_modes(void) {
    /* drop */
    sl_xchain *x = chain("unwrap", "\"transforms.t.delete.tombstone.handling.mode\":\"drop\"");
    CHECK(xt_run(x, TOPIC, KEY, env("d", B1, "null", "null")).rc == SL_X_DROP);
    CHECK(xt_run(x, TOPIC, KEY, NULL).rc == SL_X_DROP);
    CHECK(xt_run(x, TOPIC, KEY, env("c", "null", A1, "null")).rc == SL_X_KEEP);
    sl_xchain_free(x);

    /* rewrite: __deleted, default replaces null in tag (replace.null.with.default) */
    x = chain("unwrap", "\"transforms.t.delete.tombstone.handling.mode\":\"rewrite\"");
    xt_out o = xt_run(x, TOPIC, KEY, env("d", "{\"id\":1,\"name\":\"old\",\"tag\":null}", "null", "null"));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "{\"schema\":" VAL_SCHEMA(DELETED_FIELD)
                       ",\"payload\":{\"id\":1,\"name\":\"old\",\"tag\":\"n/a\",\"__deleted\":\"true\"}}");
    o = xt_run(x, TOPIC, KEY, env("c", "null", A1, "null"));
    CHECK_STR(o.value, "{\"schema\":" VAL_SCHEMA(DELETED_FIELD)
                       ",\"payload\":{\"id\":1,\"name\":\"a\",\"tag\":\"n/a\",\"__deleted\":\"false\"}}");
    CHECK(xt_run(x, TOPIC, KEY, NULL).rc == SL_X_DROP);
    sl_xchain_free(x);

    /* rewrite without replacing nulls */
    x = chain("unwrap", "\"transforms.t.delete.tombstone.handling.mode\":\"rewrite\","
                        "\"transforms.t.replace.null.with.default\":\"false\"");
    o = xt_run(x, TOPIC, KEY, env("c", "null", A1, "null"));
    CHECK_STR(o.value, "{\"schema\":" VAL_SCHEMA(DELETED_FIELD)
                       ",\"payload\":{\"id\":1,\"name\":\"a\",\"tag\":null,\"__deleted\":\"false\"}}");
    sl_xchain_free(x);

    /* rewrite-with-tombstone: the tombstone stays */
    x = chain("unwrap", "\"transforms.t.delete.tombstone.handling.mode\":\"rewrite-with-tombstone\"");
    o = xt_run(x, TOPIC, KEY, NULL);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "null");
    CHECK_STR(o.key, KEY);
    o = xt_run(x, TOPIC, KEY, env("d", B1, "null", "null"));
    CHECK_HAS(o.value, "\"__deleted\":\"true\"");
    sl_xchain_free(x);

    /* delete-to-tombstone: the delete becomes a real tombstone (no schema), the tombstone goes */
    x = chain("unwrap", "\"transforms.t.delete.tombstone.handling.mode\":\"delete-to-tombstone\"");
    o = xt_run(x, TOPIC, KEY, env("d", B1, "null", "null"));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "null");
    CHECK_STR(o.key, KEY);
    CHECK(xt_run(x, TOPIC, KEY, NULL).rc == SL_X_DROP);
    sl_xchain_free(x);
}

static void test_unwrap_legacy(void) {
    /* delete.handling.mode alone: drop.tombstones defaults to true */
    sl_xchain *x = chain("unwrap", "\"transforms.t.delete.handling.mode\":\"rewrite\"");
    xt_out o = xt_run(x, TOPIC, KEY, env("d", B1, "null", "null"));
    CHECK_HAS(o.value, "\"__deleted\":\"true\"");
    CHECK(xt_run(x, TOPIC, KEY, NULL).rc == SL_X_DROP);
    sl_xchain_free(x);
    /* drop.tombstones=false alone: deletes dropped (delete.handling.mode's default), tombstones kept */
    x = chain("unwrap", "\"transforms.t.drop.tombstones\":\"false\"");
    CHECK(xt_run(x, TOPIC, KEY, env("d", B1, "null", "null")).rc == SL_X_DROP);
    CHECK(xt_run(x, TOPIC, KEY, NULL).rc == SL_X_KEEP);
    sl_xchain_free(x);
    /* none + keep tombstones: a null-value delete and the tombstone */
    x = chain("unwrap", "\"transforms.t.drop.tombstones\":\"false\",\"transforms.t.delete.handling.mode\":\"none\"");
    o = xt_run(x, TOPIC, KEY, env("d", B1, "null", "null"));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_HAS(o.value, "\"payload\":null");
    CHECK(xt_run(x, TOPIC, KEY, NULL).rc == SL_X_KEEP);
    sl_xchain_free(x);
    /* the new option wins over the old ones */
    x = chain("unwrap", "\"transforms.t.delete.tombstone.handling.mode\":\"drop\","
                        "\"transforms.t.delete.handling.mode\":\"rewrite\",\"transforms.t.drop.tombstones\":\"false\"");
    CHECK(xt_run(x, TOPIC, KEY, env("d", B1, "null", "null")).rc == SL_X_DROP);
    CHECK(xt_run(x, TOPIC, KEY, NULL).rc == SL_X_DROP);
    sl_xchain_free(x);
}

static void test_unwrap_add_fields(void) {
    sl_xchain *x = chain("unwrap", "\"transforms.t.add.fields\":\"op,table,lsn,source.ts_ms,ts_ms,db,schema,"
                                   "transaction.id,total_order,connector:conn,nosuch\"");
    xt_out o = xt_run(x, TOPIC, KEY, env("u", B1, A1, "{\"id\":\"571:123\",\"total_order\":2,\"data_collection_order\":1}"));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value,
              "{\"schema\":" VAL_SCHEMA(
                  ",{\"type\":\"string\",\"optional\":true,\"field\":\"__op\"}"
                  ",{\"type\":\"string\",\"optional\":true,\"field\":\"__table\"}"
                  ",{\"type\":\"int64\",\"optional\":true,\"field\":\"__lsn\"}"
                  ",{\"type\":\"int64\",\"optional\":true,\"field\":\"__source_ts_ms\"}"
                  ",{\"type\":\"int64\",\"optional\":true,\"field\":\"__ts_ms\"}"
                  ",{\"type\":\"string\",\"optional\":true,\"field\":\"__db\"}"
                  ",{\"type\":\"string\",\"optional\":true,\"field\":\"__schema\"}"
                  ",{\"type\":\"string\",\"optional\":true,\"field\":\"__transaction_id\"}"
                  ",{\"type\":\"int64\",\"optional\":true,\"field\":\"__total_order\"}"
                  ",{\"type\":\"string\",\"optional\":true,\"field\":\"__conn\"}") ",\"payload\":{\"id\":1,\"name\":\"a\","
              "\"tag\":null,\"__op\":\"u\",\"__table\":\"customers\",\"__lsn\":123,\"__source_ts_ms\":1700000000000,"
              "\"__ts_ms\":1700000000100,\"__db\":\"app\",\"__schema\":\"public\",\"__transaction_id\":\"571:123\","
              "\"__total_order\":2,\"__conn\":\"postgresql\"}}");
    /* no transaction block (a snapshot): the fields are there, null */
    o = xt_run(x, TOPIC, KEY, env("r", "null", A1, "null"));
    CHECK_HAS(o.value, "\"__transaction_id\":null,\"__total_order\":null");
    sl_xchain_free(x);

    /* seed-style chain: rewrite + op,source.ts_ms, with a prefix */
    x = chain("unwrap", "\"transforms.t.delete.handling.mode\":\"rewrite\",\"transforms.t.add.fields\":\"op,source.ts_ms\","
                        "\"transforms.t.add.fields.prefix\":\"cdc_\"");
    o = xt_run(x, TOPIC, KEY, env("d", B1, "null", "null"));
    CHECK_STR(o.value, "{\"schema\":" VAL_SCHEMA(DELETED_FIELD ",{\"type\":\"string\",\"optional\":true,\"field\":\"cdc_op\"}"
                                                    ",{\"type\":\"int64\",\"optional\":true,\"field\":\"cdc_source_ts_ms\"}")
                       ",\"payload\":{\"id\":1,\"name\":\"old\",\"tag\":\"t\",\"__deleted\":\"true\",\"cdc_op\":\"d\","
                       "\"cdc_source_ts_ms\":1700000000000}}");
    sl_xchain_free(x);
}

static void test_unwrap_headers_route(void) {
    sl_xchain *x = chain("unwrap", "\"transforms.t.add.headers\":\"op,source.ts_ms,table:tbl\","
                                   "\"transforms.t.add.headers.prefix\":\"dbz.\",\"transforms.t.route.by.field\":\"name\","
                                   "\"transforms.t.delete.tombstone.handling.mode\":\"rewrite-with-tombstone\"");
    xt_out o = xt_run(x, TOPIC, KEY, env("c", "null", A1, "null"));
    CHECK_STR(o.headers, "[{\"key\":\"dbz.op\",\"value\":\"c\"},{\"key\":\"dbz.source_ts_ms\",\"value\":1700000000000},"
                         "{\"key\":\"dbz.tbl\",\"value\":\"customers\"}]");
    CHECK_STR(o.topic, "a");
    /* deletes route by the before state */
    o = xt_run(x, TOPIC, KEY, env("d", B1, "null", "null"));
    CHECK_STR(o.topic, "old");
    /* tombstones get only the op header, "d" */
    o = xt_run(x, TOPIC, KEY, NULL);
    CHECK_STR(o.headers, "[{\"key\":\"dbz.op\",\"value\":\"d\"}]");
    CHECK_STR(o.topic, TOPIC);
    /* a null routing value keeps the topic */
    o = xt_run(x, TOPIC, KEY, env("c", "null", "{\"id\":2,\"name\":null,\"tag\":null}", "null"));
    CHECK_STR(o.topic, TOPIC);
    sl_xchain_free(x);
    /* routing by a field that is not there fails the record */
    x = chain("unwrap", "\"transforms.t.route.by.field\":\"nosuch\"");
    o = xt_run(x, TOPIC, KEY, env("c", "null", A1, "null"));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "nosuch");
    sl_xchain_free(x);
}

static void test_unwrap_schemaless(void) {
    sl_xchain *x = chain("unwrap", "\"transforms.t.delete.tombstone.handling.mode\":\"rewrite\","
                                   "\"transforms.t.add.fields\":\"op,source.ts_ms,transaction.id\"");
    xt_out o = xt_run(x, TOPIC, "{\"id\":1}", envl("c", "null", A1));
    CHECK_STR(o.value, "{\"id\":1,\"name\":\"a\",\"tag\":null,\"__deleted\":\"false\",\"__op\":\"c\","
                       "\"__source_ts_ms\":1700000000000,\"__transaction_id\":null}");
    o = xt_run(x, TOPIC, "{\"id\":1}", envl("d", B1, "null"));
    CHECK_STR(o.value, "{\"id\":1,\"name\":\"old\",\"tag\":\"t\",\"__deleted\":\"true\",\"__op\":\"d\","
                       "\"__source_ts_ms\":1700000000000,\"__transaction_id\":null}");
    CHECK(xt_run(x, TOPIC, "{\"id\":1}", NULL).rc == SL_X_DROP);
    /* an object without op/before/after is not an envelope */
    o = xt_run(x, TOPIC, NULL, "{\"op\":\"c\",\"x\":1}");
    CHECK_STR(o.value, "{\"op\":\"c\",\"x\":1}");
    sl_xchain_free(x);
}

static void test_unwrap_drop_fields(void) {
    sl_xchain *x = chain("unwrap", "\"transforms.t.drop.fields.header.name\":\"drop\","
                                   "\"transforms.t.drop.fields.from.key\":\"true\"");
    sl_xrec r;
    char err[256];
    sl_xrec_from_text(&r, TOPIC, KEY, env("c", "null", A1, "null"));
    sl_xrec_add_header(&r, "drop", json_pack("[s,s]", "name", "id"));
    CHECK(sl_xchain_run(x, &r, err, sizeof err) == SL_X_KEEP);
    char *v = sl_xrec_encode(r.value_schema, r.value, true);
    /* id is not optional: kept (schema compatible); name is dropped; key's id is required: kept */
    CHECK_STR(v, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"
                 "{\"type\":\"string\",\"optional\":true,\"default\":\"n/a\",\"field\":\"tag\"}],\"optional\":false,"
                 "\"name\":\"inv.public.customers.Value\"},\"payload\":{\"id\":1,\"tag\":null}}");
    sl_free(v);
    CHECK(json_integer_value(json_object_get(r.key, "id")) == 1);
    sl_xrec_clear(&r);
    sl_xchain_free(x);

    x = chain("unwrap", "\"transforms.t.drop.fields.header.name\":\"drop\",\"transforms.t.drop.fields.from.key\":\"true\","
                        "\"transforms.t.drop.fields.keep.schema.compatible\":\"false\"");
    sl_xrec_from_text(&r, TOPIC, KEY, env("c", "null", A1, "null"));
    sl_xrec_add_header(&r, "drop", json_string("id, tag"));
    CHECK(sl_xchain_run(x, &r, err, sizeof err) == SL_X_KEEP);
    v = sl_xrec_encode(r.value_schema, r.value, false);
    CHECK_STR(v, "{\"name\":\"a\"}");
    sl_free(v);
    v = sl_xrec_encode(r.key_schema, r.key, false);
    CHECK_STR(v, "{}");
    sl_free(v);
    sl_xrec_clear(&r);
    sl_xchain_free(x);
}

static void test_unwrap_bad_config(void) {
    CHECK_HAS(bad("unwrap", "\"transforms.t.delete.tombstone.handling.mode\":\"bogus\""),
              "transforms.t.delete.tombstone.handling.mode");
    CHECK_HAS(bad("unwrap", "\"transforms.t.delete.handling.mode\":\"rewrite-with-tombstone\""),
              "transforms.t.delete.handling.mode");
    CHECK_HAS(bad("unwrap", "\"transforms.t.drop.tombstones\":\"maybe\""), "transforms.t.drop.tombstones");
    CHECK_HAS(bad("unwrap", "\"transforms.t.add.fields\":\"a:b:c\""), "transforms.t.add.fields");
    CHECK_HAS(bad("unwrap", "\"transforms.t.add.headers\":\"source.a.b\""), "transforms.t.add.headers");
}

/* ---- outbox ---- */

#define OB_ROW_FIELDS                                                                                              \
    "{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.data.Uuid\",\"version\":1,\"field\":\"id\"},"   \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"aggregatetype\"},{\"type\":\"string\",\"optional\":false," \
    "\"field\":\"aggregateid\"},{\"type\":\"string\",\"optional\":false,\"field\":\"type\"},{\"type\":\"string\","  \
    "\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1,\"field\":\"payload\"},{\"type\":\"int64\"," \
    "\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\",\"version\":1,\"field\":\"created\"},"          \
    "{\"type\":\"int32\",\"optional\":true,\"field\":\"part\"},{\"type\":\"int32\",\"optional\":true,\"field\":\"ver\"}"
#define OB_ROW(f) \
    "{\"type\":\"struct\",\"fields\":[" OB_ROW_FIELDS "],\"optional\":true,\"name\":\"inv.public.outbox.Value\",\"field\":\"" f "\"}"
#define OB_ENV_SCHEMA                                                                                       \
    "{\"type\":\"struct\",\"fields\":[" OB_ROW("before") "," OB_ROW("after") "," SOURCE_SCHEMA                \
    ",{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},{\"type\":\"int64\",\"optional\":true,"      \
    "\"field\":\"ts_ms\"}],\"optional\":false,\"name\":\"inv.public.outbox.Envelope\",\"version\":2}"
#define OB_SOURCE "{\"connector\":\"postgresql\",\"ts_ms\":1700000000000,\"db\":\"app\",\"schema\":\"public\",\"table\":\"outbox\",\"lsn\":9}"
#define OB_ID "4e8f1b2a-0c3d-4e5f-8a9b-0c1d2e3f4a5b"

static const char *ob_row(const char *op, const char *payload_json_text) {
    static char row[2048];
    snprintf(row, sizeof row,
             "{\"id\":\"" OB_ID "\",\"aggregatetype\":\"Order\",\"aggregateid\":\"o-17\",\"type\":\"OrderCreated\","
             "\"payload\":%s,\"created\":1700000000123456,\"part\":3,\"ver\":7}",
             payload_json_text);
    snprintf(env_buf, sizeof env_buf,
             "{\"schema\":" OB_ENV_SCHEMA ",\"payload\":{\"before\":%s,\"after\":%s,\"source\":" OB_SOURCE
             ",\"op\":\"%s\",\"ts_ms\":1700000000999}}",
             !strcmp(op, "c") || !strcmp(op, "r") ? "null" : row, !strcmp(op, "d") ? "null" : row, op);
    return env_buf;
}

#define PAYLOAD_TEXT "\"{\\\"orderId\\\":17,\\\"total\\\":2.5,\\\"lines\\\":[{\\\"sku\\\":\\\"a\\\",\\\"n\\\":null}],\\\"note\\\":null,\\\"tags\\\":[]}\""

static void test_outbox_defaults(void) {
    sl_xchain *x = chain("io.debezium.transforms.outbox.EventRouter", "");
    xt_out o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, "outbox.event.Order");
    CHECK_STR(o.key, "{\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"o-17\"}");
    /* only headers placed: the value is the payload column itself */
    CHECK_STR(o.value, "{\"schema\":{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1},"
                       "\"payload\":" PAYLOAD_TEXT "}");
    CHECK_STR(o.headers, "[{\"key\":\"id\",\"value\":\"" OB_ID "\"}]");
    CHECK(o.partition == -1);
    /* snapshot rows route too */
    CHECK(xt_run(x, "inv.public.outbox", NULL, ob_row("r", PAYLOAD_TEXT)).rc == SL_X_KEEP);
    /* deletes and tombstones are ignored, updates skipped (warn) */
    CHECK(xt_run(x, "inv.public.outbox", NULL, ob_row("d", PAYLOAD_TEXT)).rc == SL_X_DROP);
    CHECK(xt_run(x, "inv.public.outbox", "{\"id\":1}", NULL).rc == SL_X_DROP);
    CHECK(xt_run(x, "inv.public.outbox", NULL, ob_row("u", PAYLOAD_TEXT)).rc == SL_X_DROP);
    /* not an envelope: unchanged */
    o = xt_run(x, "__debezium-heartbeat.inv", NULL, "{\"ts_ms\":1}");
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "{\"ts_ms\":1}");
    sl_xchain_free(x);
}

static void test_outbox_options(void) {
    sl_xchain *x = chain("outbox", "\"transforms.t.table.fields.additional.placement\":\"type:header:eventType,"
                                   "type:envelope:eventType,part:partition,aggregateid:envelope\","
                                   "\"transforms.t.table.field.event.timestamp\":\"created\","
                                   "\"transforms.t.table.field.event.schema.version\":\"ver\","
                                   "\"transforms.t.table.expand.json.payload\":\"true\","
                                   "\"transforms.t.route.topic.regex\":\"(?<kind>[A-Z])(.*)\","
                                   "\"transforms.t.route.topic.replacement\":\"events.${kind}.$2\\\\$\"");
    sl_xrec r;
    char err[256];
    sl_xrec_from_text(&r, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT));
    CHECK(sl_xchain_run(x, &r, err, sizeof err) == SL_X_KEEP);
    CHECK_STR(r.topic, "events.O.rder$");
    CHECK(r.partition == 3);
    CHECK(r.ts_ms == 1700000000123);
    char *v = sl_xrec_encode(r.value_schema, r.value, true);
    CHECK_STR(v, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":["
                 "{\"type\":\"int32\",\"optional\":true,\"field\":\"orderId\"},"
                 "{\"type\":\"float64\",\"optional\":true,\"field\":\"total\"},"
                 "{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,"
                 "\"field\":\"sku\"}],\"optional\":true,\"name\":\"payload.lines\"},\"optional\":true,\"field\":\"lines\"}],"
                 "\"optional\":true,\"name\":\"payload\",\"field\":\"payload\"},"
                 "{\"type\":\"string\",\"optional\":false,\"field\":\"eventType\"},"
                 "{\"type\":\"string\",\"optional\":false,\"field\":\"aggregateid\"}],"
                 "\"optional\":false,\"name\":\"inv.public.outbox.Order.Value\",\"version\":7},"
                 "\"payload\":{\"payload\":{\"orderId\":17,\"total\":2.5,\"lines\":[{\"sku\":\"a\"}]},"
                 "\"eventType\":\"OrderCreated\",\"aggregateid\":\"o-17\"}}");
    sl_free(v);
    char *h = json_dumps(r.headers, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK_STR(h, "[{\"key\":\"id\",\"value\":\"" OB_ID "\"},{\"key\":\"eventType\",\"value\":\"OrderCreated\"}]");
    free(h);
    sl_xrec_clear(&r);
    sl_xchain_free(x);

    /* json null/empty-array behaviours keep those members */
    x = chain("outbox", "\"transforms.t.table.expand.json.payload\":\"true\","
                        "\"transforms.t.table.json.payload.null.behavior\":\"optional_bytes\","
                        "\"transforms.t.table.json.payload.empty.array.behavior\":\"optional_string\"");
    xt_out o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT));
    CHECK_HAS(o.value, "{\"type\":\"bytes\",\"optional\":true,\"field\":\"note\"}");
    CHECK_HAS(o.value, "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true},\"optional\":true,\"field\":\"tags\"}");
    CHECK_HAS(o.value, "\"payload\":{\"orderId\":17,\"total\":2.5,\"lines\":[{\"sku\":\"a\",\"n\":null}],\"note\":null,\"tags\":[]}");
    /* a payload that is not JSON stays a string */
    o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", "\"not json\""));
    CHECK_HAS(o.value, "\"payload\":\"not json\"");
    sl_xchain_free(x);

    /* tombstone on empty payload; an empty key column name gives no key */
    x = chain("outbox", "\"transforms.t.route.tombstone.on.empty.payload\":\"true\",\"transforms.t.table.field.event.key\":\"\"");
    o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", "null"));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "null");
    CHECK_STR(o.key, "null");
    o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", "\"  \""));
    CHECK_STR(o.value, "null");
    sl_xchain_free(x);

    /* invalid ops */
    x = chain("outbox", "\"transforms.t.table.op.invalid.behavior\":\"fatal\"");
    o = xt_run(x, "inv.public.outbox", NULL, ob_row("u", PAYLOAD_TEXT));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "update");
    sl_xchain_free(x);
    x = chain("outbox", "\"transforms.t.table.op.invalid.behavior\":\"error\"");
    CHECK(xt_run(x, "inv.public.outbox", NULL, ob_row("u", PAYLOAD_TEXT)).rc == SL_X_DROP);
    sl_xchain_free(x);

    /* columns that are not there fail the record, naming the column; ignore skips extras */
    x = chain("outbox", "\"transforms.t.table.field.event.payload\":\"body\"");
    o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "body");
    sl_xchain_free(x);
    x = chain("outbox", "\"transforms.t.table.fields.additional.placement\":\"nosuch:header\"");
    o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "nosuch");
    sl_xchain_free(x);
    x = chain("outbox", "\"transforms.t.table.fields.additional.placement\":\"nosuch:header\","
                        "\"transforms.t.table.field.additional.missing\":\"ignore\"");
    CHECK(xt_run(x, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT)).rc == SL_X_KEEP);
    sl_xchain_free(x);
    /* a timestamp column without a timestamp type is refused, as Debezium does */
    x = chain("outbox", "\"transforms.t.table.field.event.timestamp\":\"part\"");
    o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "part");
    sl_xchain_free(x);
}

/* A MariaDB outbox row: BINARY(16) id as bytes (base64), JSON payload as a string, schemaless. */
static void test_outbox_mariadb_binary_id(void) {
    sl_xchain *x = chain("outbox", "\"transforms.t.table.field.event.key\":\"aggregate_id\","
                                   "\"transforms.t.route.by.field\":\"aggregate_type\","
                                   "\"transforms.t.table.fields.additional.placement\":\"event_type:header:type\"");
    const char *schema =
        "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"optional\":false,\"field\":\"id\"},"
        "{\"type\":\"string\",\"optional\":false,\"field\":\"aggregate_type\"},{\"type\":\"string\",\"optional\":false,"
        "\"field\":\"aggregate_id\"},{\"type\":\"string\",\"optional\":false,\"field\":\"event_type\"},{\"type\":\"string\","
        "\"optional\":true,\"name\":\"io.debezium.data.Json\",\"field\":\"payload\"}],\"optional\":true,\"name\":\"m.app.outbox.Value\","
        "\"field\":\"after\"},{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,"
        "\"name\":\"m.app.outbox.Envelope\"}";
    char v[4096];
    /* 00112233-4455-6677-8899-aabbccddeeff */
    snprintf(v, sizeof v, "{\"schema\":%s,\"payload\":{\"after\":{\"id\":\"ABEiM0RVZneImaq7zN3u/w==\",\"aggregate_type\":\"Cart\","
             "\"aggregate_id\":\"c1\",\"event_type\":\"Added\",\"payload\":\"{\\\"a\\\":1}\"},\"op\":\"c\"}}", schema);
    xt_out o = xt_run(x, "m.app.outbox", NULL, v);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, "outbox.event.Cart");
    CHECK_STR(o.headers, "[{\"key\":\"id\",\"value\":\"00112233-4455-6677-8899-aabbccddeeff\"},{\"key\":\"type\",\"value\":\"Added\"}]");
    CHECK_HAS(o.key, "\"payload\":\"c1\"");
    sl_xchain_free(x);
}

/* op m: pg_logical_emit_message(true, 'outbox', '{...}') */
static const char *message(const char *prefix, const char *content_json, bool schemas) {
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_put_base64(&b, content_json, strlen(content_json));
    if (schemas)
        snprintf(env_buf, sizeof env_buf,
                 "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
                 "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"}," SOURCE_SCHEMA ",{\"type\":\"struct\","
                 "\"fields\":[{\"type\":\"string\",\"optional\":true,\"field\":\"prefix\"},{\"type\":\"bytes\","
                 "\"optional\":true,\"field\":\"content\"}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Message\","
                 "\"version\":1,\"field\":\"message\"}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.MessageValue\","
                 "\"version\":1},\"payload\":{\"op\":\"m\",\"ts_ms\":1700000000555,\"source\":" SOURCE ",\"message\":"
                 "{\"prefix\":\"%s\",\"content\":\"%s\"}}}",
                 prefix, sl_buf_cstr(&b));
    else
        snprintf(env_buf, sizeof env_buf,
                 "{\"op\":\"m\",\"ts_ms\":1700000000555,\"source\":" SOURCE ",\"message\":{\"prefix\":\"%s\",\"content\":\"%s\"}}",
                 prefix, sl_buf_cstr(&b));
    sl_buf_free(&b);
    return env_buf;
}

#define EVENT "{\"id\":\"e-1\",\"aggregatetype\":\"Order\",\"aggregateid\":\"o-1\",\"type\":\"OrderPaid\"," \
              "\"timestamp\":\"2024-01-02T03:04:05.678Z\",\"payload\":{\"amount\":12,\"skip\":null},\"headers\":{\"trace\":\"t-9\"}}"

static void test_outbox_messages(void) {
    sl_xchain *x = chain("outbox", "\"transforms.t.message.prefix\":\"outbox,other\","
                                   "\"transforms.t.table.field.event.timestamp\":\"timestamp\","
                                   "\"transforms.t.table.fields.additional.placement\":\"type:header:eventType\"");
    sl_xrec r;
    char err[256];
    sl_xrec_from_text(&r, "inv.message", "{\"prefix\":\"outbox\"}", message("outbox", EVENT, true));
    CHECK(sl_xchain_run(x, &r, err, sizeof err) == SL_X_KEEP);
    CHECK_STR(r.topic, "outbox.event.Order");
    CHECK(r.ts_ms == 1704164645678);
    char *v = sl_xrec_encode(r.value_schema, r.value, true);
    CHECK_STR(v, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":true,\"field\":\"amount\"}],"
                 "\"optional\":true,\"name\":\"payload\"},\"payload\":{\"amount\":12}}");
    sl_free(v);
    char *k = sl_xrec_encode(r.key_schema, r.key, false);
    CHECK_STR(k, "\"o-1\"");
    sl_free(k);
    char *h = json_dumps(r.headers, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK_STR(h, "[{\"key\":\"trace\",\"value\":\"t-9\"},{\"key\":\"id\",\"value\":\"e-1\"},"
                 "{\"key\":\"eventType\",\"value\":\"OrderPaid\"}]");
    free(h);
    sl_xrec_clear(&r);

    /* schemaless; a message without timestamp takes the event's ts_ms */
    xt_out o = xt_run(x, "inv.message", NULL,
                      message("other", "{\"id\":7,\"aggregatetype\":\"Cart\",\"aggregateid\":\"c\",\"type\":\"X\",\"payload\":\"hi\"}", false));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, "outbox.event.Cart");
    CHECK_STR(o.value, "\"hi\"");
    CHECK_STR(o.headers, "[{\"key\":\"id\",\"value\":7},{\"key\":\"eventType\",\"value\":\"X\"}]");
    /* other prefixes pass unchanged */
    o = xt_run(x, "inv.message", NULL, message("audit", EVENT, true));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, "inv.message");
    CHECK_HAS(o.value, "\"prefix\":\"audit\"");
    /* a message that is not a JSON object fails, naming its prefix */
    o = xt_run(x, "inv.message", NULL, message("outbox", "[1]", true));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "outbox");
    /* a message without the routing member fails */
    o = xt_run(x, "inv.message", NULL, message("outbox", "{\"id\":1,\"aggregateid\":\"a\",\"payload\":{}}", true));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "aggregatetype");
    sl_xchain_free(x);

    /* message.only: table change events pass unchanged */
    x = chain("outbox", "\"transforms.t.message.prefix\":\"outbox\",\"transforms.t.message.only\":\"true\"");
    o = xt_run(x, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, "inv.public.outbox");
    CHECK_HAS(o.value, "\"op\":\"c\"");
    o = xt_run(x, "inv.message", NULL, message("outbox", EVENT, true));
    CHECK_STR(o.topic, "outbox.event.Order");
    sl_xchain_free(x);
    CHECK_HAS(bad("outbox", "\"transforms.t.message.only\":\"true\""), "transforms.t.message.only");

    /* options naming table columns find a message's members under their fixed names; no timestamp member:
     * the change event's ts_ms */
    x = chain("outbox", "\"transforms.t.message.prefix\":\"outbox\",\"transforms.t.route.by.field\":\"aggregate_type\","
                        "\"transforms.t.table.field.event.key\":\"aggregate_id\",\"transforms.t.table.field.event.type\":"
                        "\"event_type\",\"transforms.t.table.field.event.timestamp\":\"created_at\","
                        "\"transforms.t.table.fields.additional.placement\":\"event_type:header:type\"");
    sl_xrec_from_text(&r, "inv.message", NULL,
                      message("outbox", "{\"id\":\"i\",\"aggregatetype\":\"A\",\"aggregateid\":\"k\",\"type\":\"T\",\"payload\":1}", true));
    CHECK(sl_xchain_run(x, &r, err, sizeof err) == SL_X_KEEP);
    CHECK_STR(r.topic, "outbox.event.A");
    CHECK_STR(json_string_value(r.key), "k");
    CHECK(r.ts_ms == 1700000000555);
    h = json_dumps(r.headers, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK_STR(h, "[{\"key\":\"id\",\"value\":\"i\"},{\"key\":\"type\",\"value\":\"T\"}]");
    free(h);
    sl_xrec_clear(&r);
    sl_xchain_free(x);

    /* without message.prefix, messages pass unchanged (Debezium) */
    x = chain("outbox", "");
    o = xt_run(x, "inv.message", NULL, message("outbox", EVENT, true));
    CHECK_STR(o.topic, "inv.message");
    sl_xchain_free(x);
    /* `*` takes any prefix */
    x = chain("outbox", "\"transforms.t.message.prefix\":\"*\"");
    o = xt_run(x, "inv.message", NULL, message("whatever", EVENT, true));
    CHECK_STR(o.topic, "outbox.event.Order");
    sl_xchain_free(x);
}

/* The client library's event JSON, through pg_logical_emit_message's path into the router. */
static void test_client_library(void) {
    char id[37];
    CHECK(sluice_outbox_uuid(id) == 0);
    CHECK(strlen(id) == 36 && id[14] == '4' && id[8] == '-');
    sluice_outbox_event e = {.id = "e-\"1", .aggregate_type = "Order", .aggregate_id = "o\n1", .type = "Paid",
                             .payload_json = "{\"amount\":3}", .headers_json = "{\"h\":\"v\"}",
                             .timestamp_ms = 1700000000001};
    char small[8];
    size_t need = sluice_outbox_json(&e, small, sizeof small);
    CHECK(strlen(small) == 7);
    char json[512];
    CHECK(sluice_outbox_json(&e, json, sizeof json) == need);
    CHECK_STR(json, "{\"id\":\"e-\\\"1\",\"aggregatetype\":\"Order\",\"aggregateid\":\"o\\u000a1\",\"type\":\"Paid\","
                    "\"timestamp\":1700000000001,\"payload\":{\"amount\":3},\"headers\":{\"h\":\"v\"}}");
    sl_xchain *x = chain("outbox", "\"transforms.t.message.prefix\":\"outbox\","
                                   "\"transforms.t.table.field.event.timestamp\":\"timestamp\"");
    sl_xrec r;
    char err[256];
    sl_xrec_from_text(&r, "inv.message", NULL, message("outbox", json, true));
    CHECK(sl_xchain_run(x, &r, err, sizeof err) == SL_X_KEEP);
    CHECK_STR(r.topic, "outbox.event.Order");
    CHECK_STR(json_string_value(r.key), "o\n1");
    CHECK(r.ts_ms == 1700000000001);
    char *h = json_dumps(r.headers, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK_STR(h, "[{\"key\":\"h\",\"value\":\"v\"},{\"key\":\"id\",\"value\":\"e-\\\"1\"}]");
    free(h);
    sl_xrec_clear(&r);
    sl_xchain_free(x);
}

/* ---- outbox: paths the tests above do not take (exact output) ---- */

/* An outbox row insert whose payload column holds `text` (a JSON string of it), with the schemas above. */
static const char *ob_row_text(const char *text) {
    static char quoted[1024];
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_put_json_str(&b, text, strlen(text));
    snprintf(quoted, sizeof quoted, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    return ob_row("c", quoted);
}

/* The payload column's value and schema after table.expand.json.payload on `text` (exact JsonConverter text). */
static void expands_to(sl_xchain *x, const char *text, const char *want_value) {
    xt_out o = xt_run(x, "inv.public.outbox", NULL, ob_row_text(text));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, want_value);
}

#define JSON_COL "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1}"

static void test_outbox_expand_json(void) {
    sl_xchain *x = chain("outbox", "\"transforms.t.table.expand.json.payload\":\"true\","
                                   "\"transforms.t.table.json.payload.null.behavior\":\"optional_bytes\"");
    /* int32/int64, booleans, nested structs named by their path, arrays of structs merged (a bytes field
     * from a null member gives way to the type of a later one), arrays of arrays */
    expands_to(x,
               "{\"big\":5000000000,\"neg\":-1,\"ok\":true,\"r\":1.0,\"o\":{\"x\":\"s\",\"y\":{\"z\":1}},"
               "\"arr\":[{\"a\":1},{\"b\":\"x\",\"a\":2},{\"a\":null,\"c\":null}],\"m\":[{\"v\":null},{\"v\":\"s\"}],"
               "\"nested\":[[1],[2,3]],\"e\":[]}",
               "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":true,\"field\":\"big\"},"
               "{\"type\":\"int32\",\"optional\":true,\"field\":\"neg\"},{\"type\":\"boolean\",\"optional\":true,"
               "\"field\":\"ok\"},{\"type\":\"float64\",\"optional\":true,\"field\":\"r\"},{\"type\":\"struct\","
               "\"fields\":[{\"type\":\"string\",\"optional\":true,\"field\":\"x\"},{\"type\":\"struct\",\"fields\":["
               "{\"type\":\"int32\",\"optional\":true,\"field\":\"z\"}],\"optional\":true,\"name\":\"payload.o.y\","
               "\"field\":\"y\"}],\"optional\":true,\"name\":\"payload.o\",\"field\":\"o\"},{\"type\":\"array\","
               "\"items\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":true,\"field\":\"a\"},"
               "{\"type\":\"string\",\"optional\":true,\"field\":\"b\"},{\"type\":\"bytes\",\"optional\":true,"
               "\"field\":\"c\"}],\"optional\":true,\"name\":\"payload.arr\"},\"optional\":true,\"field\":\"arr\"},"
               "{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,"
               "\"field\":\"v\"}],\"optional\":true,\"name\":\"payload.m\"},\"optional\":true,\"field\":\"m\"},"
               "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"int32\",\"optional\":true},"
               "\"optional\":true},\"optional\":true,\"field\":\"nested\"}],\"optional\":true,\"name\":\"payload\"},"
               "\"payload\":{\"big\":5000000000,\"neg\":-1,\"ok\":true,\"r\":1.0,\"o\":{\"x\":\"s\",\"y\":{\"z\":1}},"
               "\"arr\":[{\"a\":1,\"b\":null,\"c\":null},{\"a\":2,\"b\":\"x\",\"c\":null},{\"a\":null,\"b\":null,"
               "\"c\":null}],\"m\":[{\"v\":null},{\"v\":\"s\"}],\"nested\":[[1],[2,3]]}}");
    /* a top-level array */
    expands_to(x, "[1,2]",
               "{\"schema\":{\"type\":\"array\",\"items\":{\"type\":\"int32\",\"optional\":true},\"optional\":true},"
               "\"payload\":[1,2]}");
    /* what cannot be expanded stays the string it was, with the column's schema: mixed arrays (int32 and
     * int64 count as two types), an empty top-level array, text before the JSON, integers beyond 64 bits
     * and \u0000 (which the JSON reader refuses), malformed JSON */
    const char *kept[] = {"{\"h\":[1,\"a\"]}", "{\"h\":[1,5000000000]}", "[]", " {\"a\":1}",
                          "{\"n\":123456789012345678901}", "{\"n\":\"a\\u0000b\"}", "{\"a\":", "[null]"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        sl_buf want;
        sl_buf_init(&want);
        sl_buf_puts(&want, "{\"schema\":" JSON_COL ",\"payload\":");
        sl_buf_put_json_str(&want, kept[i], strlen(kept[i]));
        sl_buf_putc(&want, '}');
        expands_to(x, kept[i], sl_buf_cstr(&want));
        sl_buf_free(&want);
    }
    sl_xchain_free(x);
}

/* A schemaless outbox row (converter schemas off upstream, or a Kafka source): columns found by the value. */
static void test_outbox_schemaless_row(void) {
    sl_xchain *x = chain("outbox", "\"transforms.t.table.fields.additional.placement\":\"type:envelope,"
                                   "note:header,part:partition,ver:envelope:v\","
                                   "\"transforms.t.table.field.event.timestamp\":\"at\","
                                   "\"transforms.t.table.field.event.schema.version\":\"ver\","
                                   "\"transforms.t.route.topic.regex\":\"Order-(.*)\","
                                   "\"transforms.t.route.topic.replacement\":\"ev.$1\"");
    const char *row = "{\"before\":null,\"after\":{\"id\":5,\"aggregatetype\":\"Cart\",\"aggregateid\":null,"
                      "\"type\":\"T\",\"payload\":{\"a\":[1,2.0]},\"note\":null,\"part\":\"x\",\"ver\":3,"
                      "\"at\":\"2024-01-02T03:04:05.5+02:00\"},\"source\":" OB_SOURCE ",\"op\":\"c\",\"ts_ms\":1}";
    sl_xrec r;
    char err[256];
    sl_xrec_from_text(&r, "inv.public.outbox", NULL, row);
    CHECK(sl_xchain_run(x, &r, err, sizeof err) == SL_X_KEEP);
    /* the regex does not match: the routing value itself; a null key column: no key */
    CHECK_STR(r.topic, "Cart");
    CHECK(r.key == NULL && r.value_schema == NULL);
    char *ks = json_dumps(r.key_schema, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK_STR(ks, "{\"type\":\"string\",\"optional\":false}"); /* the column exists: a string key schema */
    free(ks);
    CHECK(r.partition == -1); /* not an integer */
    CHECK(r.ts_ms == 1704157445500);
    char *v = sl_xrec_encode(r.value_schema, r.value, true);
    CHECK_STR(v, "{\"payload\":{\"a\":[1,2.0]},\"type\":\"T\",\"v\":3}");
    sl_free(v);
    char *h = json_dumps(r.headers, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK_STR(h, "[{\"key\":\"id\",\"value\":5},{\"key\":\"note\",\"value\":null}]");
    free(h);
    sl_xrec_clear(&r);
    /* an epoch-ms timestamp column; a routing value that is no string fails */
    xt_out o = xt_run(x, "inv.public.outbox", NULL,
                      "{\"after\":{\"id\":\"i\",\"aggregatetype\":\"Order-7\",\"aggregateid\":\"k\",\"payload\":\"p\","
                      "\"at\":1700000000007,\"part\":2,\"type\":\"U\",\"note\":\"n\",\"ver\":null},\"op\":\"r\",\"source\":{}}");
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, "ev.7");
    CHECK_STR(o.key, "{\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"k\"}");
    CHECK_STR(o.value, "{\"payload\":\"p\",\"type\":\"U\",\"v\":null}");
    CHECK_STR(o.headers, "[{\"key\":\"id\",\"value\":\"i\"},{\"key\":\"note\",\"value\":\"n\"}]");
    CHECK(o.partition == 2);
    o = xt_run(x, "inv.public.outbox", NULL,
               "{\"after\":{\"id\":\"i\",\"aggregatetype\":1,\"aggregateid\":\"k\",\"payload\":\"p\"},\"op\":\"c\"}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "route.by.field aggregatetype is not a string in the event");
    o = xt_run(x, "inv.public.outbox", NULL, "{\"after\":null,\"before\":null,\"op\":\"c\"}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_HAS(o.err, "outbox event without an after state (op c)");
    sl_xchain_free(x);
}

/* Message events: epoch-ms timestamps, null members and headers, hex content, malformed content. */
static void test_outbox_message_edges(void) {
    sl_xchain *x = chain("outbox", "\"transforms.t.message.prefix\":\"outbox\","
                                   "\"transforms.t.table.field.event.timestamp\":\"timestamp\","
                                   "\"transforms.t.table.fields.additional.placement\":\"type:envelope,n:header\"");
    xt_out o = xt_run(x, "inv.message", NULL,
                      message("outbox", "{\"id\":\"e\",\"aggregatetype\":\"A\",\"aggregateid\":\"k\",\"type\":null,"
                                        "\"n\":null,\"timestamp\":1700000000001,\"payload\":[1],"
                                        "\"headers\":{\"h\":null,\"g\":[1,{\"x\":2}]}}",
                              true));
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, "outbox.event.A");
    CHECK_STR(o.key, "{\"schema\":{\"type\":\"string\",\"optional\":true},\"payload\":\"k\"}");
    CHECK_STR(o.value, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"array\",\"items\":{\"type\":\"int32\","
                       "\"optional\":true},\"optional\":true,\"field\":\"payload\"},{\"type\":\"string\",\"optional\":true,"
                       "\"field\":\"type\"}],\"optional\":false,\"name\":\"inv.message.A.Value\"},\"payload\":{\"payload\":"
                       "[1],\"type\":null}}");
    CHECK_STR(o.headers, "[{\"key\":\"h\",\"value\":null},{\"key\":\"g\",\"value\":[1,{\"x\":2}]},{\"key\":\"id\","
                         "\"value\":\"e\"},{\"key\":\"n\",\"value\":null}]");
    /* malformed content fails the record, with the JSON reader's reason */
    o = xt_run(x, "inv.message", NULL, message("outbox", "{\"id\":", true));
    CHECK(o.rc == SL_X_ERROR);
    CHECK_STR(o.err, "transform t (outbox) failed on a record of topic inv.message: outbox message (prefix outbox): content is not a JSON object: unexpected token near end of file");
    o = xt_run(x, "inv.message", NULL, message("outbox", "1", true));
    CHECK_STR(o.err, "transform t (outbox) failed on a record of topic inv.message: outbox message (prefix outbox): content is not a JSON object: '[' or '{' expected near '1'");
    o = xt_run(x, "inv.message", NULL, message("outbox", "{\"id\":123456789012345678901}", true));
    CHECK_STR(o.err, "transform t (outbox) failed on a record of topic inv.message: outbox message (prefix outbox): content is not a JSON object: too big integer");
    o = xt_run(x, "inv.message", NULL, message("outbox", "{\"id\":\"\\u0000\"}", true));
    CHECK_STR(o.err, "transform t (outbox) failed on a record of topic inv.message: outbox message (prefix outbox): content is not a JSON object: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"'");
    o = xt_run(x, "inv.message", NULL, message("outbox", "{\"id\":\"\xff\"}", true));
    CHECK_STR(o.err, "transform t (outbox) failed on a record of topic inv.message: outbox message (prefix outbox): content is not a JSON object: unable to decode byte 0xff near '\"'");
    o = xt_run(x, "inv.message", NULL,
               "{\"op\":\"m\",\"ts_ms\":1,\"message\":{\"prefix\":\"outbox\",\"content\":\"not base64!\"}}");
    CHECK_STR(o.err, "transform t (outbox) failed on a record of topic inv.message: outbox message (prefix outbox): content is not base64 bytes");
    sl_xchain_free(x);
    /* schemaless content is in binary.handling.mode's form (hex here) */
    x = chain("outbox", "\"transforms.t.message.prefix\":\"outbox\",\"binary.handling.mode\":\"hex\"");
    sl_buf b;
    sl_buf_init(&b);
    const char *ev = "{\"id\":1,\"aggregatetype\":\"H\",\"aggregateid\":\"k\",\"payload\":2}";
    sl_buf_puts(&b, "{\"op\":\"m\",\"ts_ms\":1,\"message\":{\"prefix\":\"outbox\",\"content\":\"");
    for (const char *p = ev; *p; p++) sl_buf_printf(&b, "%02X", (unsigned char)*p);
    sl_buf_puts(&b, "\"}}");
    o = xt_run(x, "inv.message", NULL, sl_buf_cstr(&b));
    sl_buf_free(&b);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.topic, "outbox.event.H");
    CHECK_STR(o.value, "2");
    CHECK_STR(o.headers, "[{\"key\":\"id\",\"value\":1}]");
    sl_xchain_free(x);
}

static const char *purge_row(const char *conn, const char *db, const char *schema, const char *table,
                             const char *id_type, const char *id);

/* Runs the router alone on r (outside a chain: the purge tests drive its state directly), in the form its
 * type works on. */
static int apply1(const sl_xform_ops *ops, void *st, sl_xrec *r, char *err, size_t errsz) {
    if (!ops->apply_v) return ops->apply(st, r, err, errsz);
    CHECK(sl_xrec_to_view(r, err, errsz) == 0);
    return ops->apply_v(st, r, err, errsz);
}

static void test_outbox_purge_sql(void) {
    sl_config *cfg = sl_config_parse_json("{\"transforms.t.table.purge\":\"durable\",\"transforms.t.table.field.event.key\":\"\",\"database.hostname\":\"h\"}",
                                          "t", NULL, 0);
    sl_errs errs = {0};
    const sl_xform_ops *ops = &sl_xform_outbox_ops;
    void *settings = sl_calloc(1, ops->settings_size);
    CHECK(sl_conf_apply_prefixed(ops->props, cfg, "transforms.t.", settings, &errs) == 0);
    void *st = ops->init(settings, cfg, "transforms.t.", &errs);
    CHECK(st != NULL);
    CHECK(errs.n == 0);
    sl_xrec r;
    char err[256];
    sl_xrec_from_text(&r, "inv.public.outbox", NULL, ob_row("c", PAYLOAD_TEXT));
    CHECK(apply1(ops, st, &r, err, sizeof err) == SL_X_KEEP);
    sl_xrec_clear(&r);
    sl_xrec_from_text(&r, "inv.public.outbox", NULL, ob_row("u", PAYLOAD_TEXT));
    CHECK(apply1(ops, st, &r, err, sizeof err) == SL_X_DROP); /* not emitted: not purged */
    sl_xrec_clear(&r);
    sl_buf b;
    sl_buf_init(&b);
    CHECK(sl_outbox_purge_sql(st, 'p', &b) == 1);
    CHECK_STR(sl_buf_cstr(&b), "DELETE FROM \"public\".\"outbox\" WHERE \"id\" IN ('" OB_ID "');");
    sl_buf_reset(&b);
    CHECK(sl_outbox_purge_sql(st, 'm', &b) == 0);
    /* MariaDB: BINARY(16) ids as hex literals, the table qualified by its database; a quote in a string id */
    const char *my_schema =
        "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"optional\":false,"
        "\"field\":\"id\"},{\"type\":\"string\",\"optional\":false,\"field\":\"aggregatetype\"},{\"type\":\"string\","
        "\"optional\":true,\"field\":\"aggregateid\"},{\"type\":\"string\",\"optional\":true,\"field\":\"payload\"}],"
        "\"optional\":true,\"name\":\"m.app.outbox.Value\",\"field\":\"after\"},{\"type\":\"struct\",\"fields\":[],"
        "\"optional\":false,\"field\":\"source\"},{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],"
        "\"optional\":false,\"name\":\"m.app.outbox.Envelope\"}";
    char v[2048];
    snprintf(v, sizeof v, "{\"schema\":%s,\"payload\":{\"after\":{\"id\":\"ABEiM0RVZneImaq7zN3u/w==\",\"aggregatetype\":"
             "\"T\",\"aggregateid\":null,\"payload\":null},\"source\":{\"connector\":\"mariadb\",\"db\":\"app\","
             "\"table\":\"outbox\"},\"op\":\"c\"}}", my_schema);
    sl_xrec_from_text(&r, "m.app.outbox", NULL, v);
    CHECK(apply1(ops, st, &r, err, sizeof err) == SL_X_KEEP);
    sl_xrec_clear(&r);
    sl_buf_reset(&b);
    CHECK(sl_outbox_purge_sql(st, 'm', &b) == 1);
    CHECK_STR(sl_buf_cstr(&b), "DELETE FROM `app`.`outbox` WHERE `id` IN (X'00112233445566778899aabbccddeeff');");
    /* an integer id, a quote in the schema's name: one statement per table */
    sl_xrec_from_text(&r, "x", NULL, purge_row("postgresql", "app", "s\\\"q", "t", "int64", "42"));
    CHECK(apply1(ops, st, &r, err, sizeof err) == SL_X_KEEP);
    sl_xrec_clear(&r);
    sl_buf_reset(&b);
    CHECK(sl_outbox_purge_sql(st, 'p', &b) == 2);
    CHECK_STR(sl_buf_cstr(&b), "DELETE FROM \"public\".\"outbox\" WHERE \"id\" IN ('" OB_ID "');"
                               "DELETE FROM \"s\"\"q\".\"t\" WHERE \"id\" IN (42);");
    sl_buf_free(&b);
    ops->free(st);
    sl_conf_free(ops->props, settings);
    sl_free(settings);
    sl_errs_free(&errs);
    sl_config_destroy(cfg);
}

/* ---- table.purge against real databases (run by tests/it/test_outbox.py with --purge-db) ---- */

/* An outbox row insert of table db.schema.table with id (JSON) of Connect type id_type. */
static const char *purge_row(const char *conn, const char *db, const char *schema, const char *table,
                             const char *id_type, const char *id) {
    snprintf(env_buf, sizeof env_buf,
             "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":[{\"type\":\"%s\","
             "\"optional\":false,\"field\":\"id\"},{\"type\":\"string\",\"optional\":false,\"field\":\"aggregatetype\"},"
             "{\"type\":\"string\",\"optional\":true,\"field\":\"payload\"}],\"optional\":true,\"name\":\"x.Value\","
             "\"field\":\"after\"},{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}],\"optional\":false,"
             "\"name\":\"x.Envelope\"},\"payload\":{\"after\":{\"id\":%s,\"aggregatetype\":\"T\",\"payload\":null},"
             "\"source\":{\"connector\":\"%s\",\"db\":\"%s\",\"schema\":%s%s%s,\"table\":\"%s\"},\"op\":\"c\"}}",
             id_type, id, conn, db, schema ? "\"" : "", schema ? schema : "null", schema ? "\"" : "", table);
    return env_buf;
}

/* A purging router on the database of cfg_json; emits the rows, then reports them durable. */
static int purge_run(const char *cfg_json, const char *rows[], int n) {
    char err[256];
    sl_config *cfg = sl_config_parse_json(cfg_json, "t", err, sizeof err);
    CHECK(cfg != NULL);
    sl_errs errs = {0};
    const sl_xform_ops *ops = &sl_xform_outbox_ops;
    void *settings = sl_calloc(1, ops->settings_size);
    sl_conf_apply_prefixed(ops->props, cfg, "transforms.t.", settings, &errs);
    void *st = ops->init(settings, cfg, "transforms.t.", &errs);
    CHECK(st != NULL);
    for (int i = 0; st && i < n; i++) {
        sl_xrec r;
        sl_xrec_from_text(&r, "x", NULL, rows[i]);
        int rc = apply1(ops, st, &r, err, sizeof err);
        CHECK(rc == SL_X_KEEP);
        if (rc != SL_X_KEEP) fprintf(stderr, "apply: %s\n", err);
        sl_xrec_clear(&r);
    }
    int deleted = st ? sl_outbox_durable(st) : -1;
    if (st) CHECK(sl_outbox_durable(st) == 0); /* nothing pending any more */
    if (st) ops->free(st);
    sl_conf_free(ops->props, settings);
    sl_free(settings);
    sl_errs_free(&errs);
    sl_config_destroy(cfg);
    return deleted;
}

static void test_purge_db(void) {
    const char *h = getenv("SLUICE_PG_HOST"), *port = getenv("SLUICE_PG_PORT"), *u = getenv("SLUICE_PG_USER"),
               *pw = getenv("SLUICE_PG_PASSWORD"), *db = getenv("SLUICE_PG_DB");
    const char *mport = getenv("SLUICE_MARIADB_PORT");
    CHECK(h && port && u && pw && db && mport);
    if (!(h && port && u && pw && db && mport)) return;
    char cfg[1024], conninfo[512];
    snprintf(conninfo, sizeof conninfo, "host=%s port=%s user=%s password=%s dbname=%s", h, port, u, pw, db);
    PGconn *pc = PQconnectdb(conninfo);
    CHECK(PQstatus(pc) == CONNECTION_OK);
    PQclear(PQexec(pc, "DROP TABLE IF EXISTS it_purge_ob; CREATE TABLE it_purge_ob (id uuid PRIMARY KEY); "
                       "INSERT INTO it_purge_ob VALUES ('00000000-0000-0000-0000-000000000001'), "
                       "('00000000-0000-0000-0000-000000000002'), ('00000000-0000-0000-0000-000000000003')"));
    snprintf(cfg, sizeof cfg, "{\"transforms.t.table.purge\":\"durable\",\"transforms.t.table.field.event.key\":\"\",\"database.hostname\":\"%s\",\"database.port\":"
             "\"%s\",\"database.user\":\"%s\",\"database.password\":\"%s\",\"database.dbname\":\"%s\"}", h, port, u, pw, db);
    static char rows[2][8192];
    snprintf(rows[0], sizeof rows[0], "%s", purge_row("postgresql", db, "public", "it_purge_ob", "string",
                                                      "\"00000000-0000-0000-0000-000000000001\""));
    snprintf(rows[1], sizeof rows[1], "%s", purge_row("postgresql", db, "public", "it_purge_ob", "string",
                                                      "\"00000000-0000-0000-0000-000000000003\""));
    const char *rv[] = {rows[0], rows[1]};
    CHECK(purge_run(cfg, rv, 2) == 2);
    PGresult *res = PQexec(pc, "SELECT string_agg(id::text, ',') FROM it_purge_ob");
    CHECK_STR(PQgetvalue(res, 0, 0), "00000000-0000-0000-0000-000000000002");
    PQclear(res);
    PQclear(PQexec(pc, "DROP TABLE it_purge_ob"));
    PQfinish(pc);

    const char *mh = getenv("SLUICE_MARIADB_HOST"), *mu = getenv("SLUICE_MARIADB_USER"),
               *mpw = getenv("SLUICE_MARIADB_PASSWORD"), *mdb = getenv("SLUICE_MARIADB_DB");
    mh = mh ? mh : "127.0.0.1", mu = mu ? mu : "sluice", mpw = mpw ? mpw : "sluice", mdb = mdb ? mdb : "sluice";
    MYSQL *m = mysql_init(NULL);
    CHECK(mysql_real_connect(m, mh, mu, mpw, mdb, (unsigned)atoi(mport), NULL, 0) != NULL);
    CHECK(mysql_query(m, "DROP TABLE IF EXISTS it_purge_my") == 0);
    CHECK(mysql_query(m, "CREATE TABLE it_purge_my (id BINARY(16) PRIMARY KEY)") == 0);
    CHECK(mysql_query(m, "INSERT INTO it_purge_my VALUES (UNHEX('00112233445566778899aabbccddeeff')), "
                         "(UNHEX('ffeeddccbbaa99887766554433221100'))") == 0);
    snprintf(cfg, sizeof cfg, "{\"transforms.t.table.purge\":\"durable\",\"transforms.t.table.field.event.key\":\"\",\"database.hostname\":\"%s\",\"database.port\":"
             "\"%s\",\"database.user\":\"%s\",\"database.password\":\"%s\"}", mh, mport, mu, mpw);
    snprintf(rows[0], sizeof rows[0], "%s", purge_row("mariadb", mdb, NULL, "it_purge_my", "bytes",
                                                      "\"ABEiM0RVZneImaq7zN3u/w==\""));
    const char *mv[] = {rows[0]};
    CHECK(purge_run(cfg, mv, 1) == 1);
    CHECK(mysql_query(m, "SELECT HEX(id) FROM it_purge_my") == 0);
    MYSQL_RES *mr = mysql_store_result(m);
    MYSQL_ROW row = mr ? mysql_fetch_row(mr) : NULL;
    CHECK(mr && mysql_num_rows(mr) == 1 && row && !strcmp(row[0], "FFEEDDCCBBAA99887766554433221100"));
    if (mr) mysql_free_result(mr);
    mysql_query(m, "DROP TABLE it_purge_my");
    mysql_close(m);
}

static void test_outbox_bad_config(void) {
    CHECK_HAS(bad("outbox", "\"transforms.t.route.topic.regex\":\"(unclosed\""), "transforms.t.route.topic.regex");
    CHECK_HAS(bad("outbox", "\"transforms.t.route.topic.replacement\":\"x.${nosuch}\""),
              "transforms.t.route.topic.replacement");
    CHECK_HAS(bad("outbox", "\"transforms.t.route.topic.replacement\":\"x.$2\""), "transforms.t.route.topic.replacement");
    CHECK_HAS(bad("outbox", "\"transforms.t.table.fields.additional.placement\":\"type:footer\""),
              "transforms.t.table.fields.additional.placement");
    CHECK_HAS(bad("outbox", "\"transforms.t.table.fields.additional.placement\":\"type\""),
              "transforms.t.table.fields.additional.placement");
    CHECK_HAS(bad("outbox", "\"transforms.t.table.op.invalid.behavior\":\"ignore\""), "transforms.t.table.op.invalid.behavior");
    CHECK_HAS(bad("outbox", "\"transforms.t.route.by.field\":\"\""), "transforms.t.route.by.field");
    CHECK_HAS(bad("outbox", "\"transforms.t.table.json.payload.null.behavior\":\"keep\""),
              "transforms.t.table.json.payload.null.behavior");
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--purge-db")) { /* needs the services' environment (.run/env) */
        test_purge_db();
        TEST_END();
    }
    test_unwrap_default();
    test_unwrap_modes();
    test_unwrap_legacy();
    test_unwrap_add_fields();
    test_unwrap_headers_route();
    test_unwrap_schemaless();
    test_unwrap_drop_fields();
    test_unwrap_bad_config();
    test_outbox_defaults();
    test_outbox_options();
    test_outbox_mariadb_binary_id();
    test_outbox_messages();
    test_client_library();
    test_outbox_expand_json();
    test_outbox_schemaless_row();
    test_outbox_message_edges();
    test_outbox_purge_sql();
    test_outbox_bad_config();
    TEST_END();
}
