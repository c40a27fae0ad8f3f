/*
 * type=embed: the MongoDB writes made of root and child changes (golden),
 * pass-through of other records, and config errors naming the key.
 */
#include "test.h"
#include "xtest.h"

#define CFG                                                                                                    \
    "{\"transforms\":\"e\",\"transforms.e.type\":\"embed\",\"transforms.e.root.table\":\"public.orders\","    \
    "\"transforms.e.root.fields.rename\":\"customer:name\",\"transforms.e.children\":\"items,note,extra\","    \
    "\"transforms.e.child.items.table\":\"public.order_items\",\"transforms.e.child.items.parent.key\":"       \
    "\"order_id\",\"transforms.e.child.items.fields.exclude\":\"order_id\",\"transforms.e.child.items.path\":" \
    "\"lines\",\"transforms.e.child.note.table\":\"notes\",\"transforms.e.child.note.parent.key\":\"oid\","    \
    "\"transforms.e.child.note.relationship\":\"object\",\"transforms.e.child.extra.table\":\"shop.extra\","   \
    "\"transforms.e.child.extra.parent.key\":\"oid\",\"transforms.e.child.extra.relationship\":\"merge\","     \
    "\"transforms.e.child.extra.fields.exclude\":\"oid\",\"transforms.e.child.extra.id\":\"xid\"}"

#define SRC(schema, table) "\"source\":{\"schema\":\"" schema "\",\"db\":\"shop\",\"table\":\"" table "\"}"

static void check(sl_xchain *x, const char *key, const char *value, const char *want_topic, const char *want_key,
                  const char *want_value) {
    xt_out o = xt_run(x, "it.public.t", key, value);
    CHECK(o.rc == SL_X_KEEP);
    if (o.rc != SL_X_KEEP) fprintf(stderr, "error: %s\n", o.err);
    CHECK_STR(o.topic, want_topic);
    CHECK_STR(o.key, want_key);
    CHECK_STR(o.value, want_value);
}

int main(void) {
    char err[512];
    sl_xchain *x = xt_chain(CFG, err, sizeof err);
    CHECK(x != NULL);
    if (!x) {
        fprintf(stderr, "%s\n", err);
        TEST_END();
    }
    /* root: $set upsert without the key column, renamed fields; delete */
    check(x, "{\"id\":1}", "{\"before\":null,\"after\":{\"id\":1,\"customer\":\"ann\",\"total\":\"1.50\"},"
          SRC("public", "orders") ",\"op\":\"c\"}",
          "orders", "{\"_id\":1}",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"_id\":1},\"update\":{\"$set\":{\"name\":\"ann\","
          "\"total\":\"1.50\"}},\"upsert\":true,\"multi\":false}]}");
    check(x, "{\"id\":1}", "{\"before\":{\"id\":1},\"after\":null," SRC("public", "orders") ",\"op\":\"d\"}", "orders",
          "{\"_id\":1}", "{\"__sluice_writes\":[{\"op\":\"delete\",\"filter\":{\"_id\":1}}]}");
    /* array child: pull everywhere by its id, push sorted into the parent */
    check(x, "{\"id\":7}", "{\"before\":null,\"after\":{\"id\":7,\"order_id\":1,\"sku\":\"a\"},"
          SRC("public", "order_items") ",\"op\":\"u\"}",
          "orders", "{\"_id\":1}",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"lines.id\":7},\"update\":{\"$pull\":{\"lines\":"
          "{\"id\":7}}},\"upsert\":false,\"multi\":true},{\"op\":\"update\",\"filter\":{\"_id\":1},\"update\":"
          "{\"$push\":{\"lines\":{\"$each\":[{\"id\":7,\"sku\":\"a\"}],\"$sort\":{\"id\":1}}}},\"upsert\":true,"
          "\"multi\":false}]}");
    /* its delete, with a key-only before image: found by its id alone */
    check(x, "{\"id\":7}", "{\"before\":{\"id\":7,\"order_id\":null,\"sku\":null},\"after\":null,"
          SRC("public", "order_items") ",\"op\":\"d\"}",
          "orders", "null",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"lines.id\":7},\"update\":{\"$pull\":{\"lines\":"
          "{\"id\":7}}},\"upsert\":false,\"multi\":true}]}");
    /* an orphan (parent key null): only taken out */
    check(x, "{\"id\":8}", "{\"before\":null,\"after\":{\"id\":8,\"order_id\":null,\"sku\":\"b\"},"
          SRC("public", "order_items") ",\"op\":\"u\"}",
          "orders", "null",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"lines.id\":8},\"update\":{\"$pull\":{\"lines\":"
          "{\"id\":8}}},\"upsert\":false,\"multi\":true}]}");
    /* object child (table named without schema): unset elsewhere, set in the parent */
    check(x, "{\"id\":3}", "{\"before\":null,\"after\":{\"id\":3,\"oid\":2,\"body\":\"hi\"}," SRC("public", "notes")
          ",\"op\":\"r\"}",
          "orders", "{\"_id\":2}",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"note.id\":3,\"_id\":{\"$ne\":2}},\"update\":"
          "{\"$unset\":{\"note\":\"\"}},\"upsert\":false,\"multi\":true},{\"op\":\"update\",\"filter\":{\"_id\":2},"
          "\"update\":{\"$set\":{\"note\":{\"id\":3,\"oid\":2,\"body\":\"hi\"}}},\"upsert\":true,\"multi\":false}]}");
    /* merge child matched by db.table (MySQL), explicit id column */
    check(x, "{\"k\":9}", "{\"before\":null,\"after\":{\"k\":9,\"xid\":5,\"oid\":2,\"color\":\"red\"},"
          "\"source\":{\"db\":\"shop\",\"table\":\"extra\"},\"op\":\"c\"}",
          "orders", "{\"_id\":2}",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"xid\":5,\"_id\":{\"$ne\":2}},\"update\":"
          "{\"$unset\":{\"k\":\"\",\"xid\":\"\",\"color\":\"\"}},\"upsert\":false,\"multi\":true},{\"op\":\"update\","
          "\"filter\":{\"_id\":2},\"update\":{\"$set\":{\"k\":9,\"xid\":5,\"color\":\"red\"}},\"upsert\":true,"
          "\"multi\":false}]}");
    /* a root row of only its key: $setOnInsert; a column renamed onto an existing one takes its place */
    check(x, "{\"id\":2}", "{\"before\":null,\"after\":{\"id\":2}," SRC("public", "orders") ",\"op\":\"r\"}",
          "orders", "{\"_id\":2}",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"_id\":2},\"update\":{\"$setOnInsert\":{}},"
          "\"upsert\":true,\"multi\":false}]}");
    check(x, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":"
          "\"id\"}],\"optional\":false},\"payload\":{\"id\":3}}",
          "{\"before\":null,\"after\":{\"name\":\"x\",\"id\":3,\"customer\":\"ann\",\"n\":1.0}," SRC("public", "orders")
          ",\"op\":\"c\"}",
          "orders", "{\"_id\":3}",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"_id\":3},\"update\":{\"$set\":{\"name\":\"ann\","
          "\"n\":1.0}},\"upsert\":true,\"multi\":false}]}");
    /* deletes of object and merge children: taken out wherever they are */
    check(x, "{\"id\":3}", "{\"before\":{\"id\":3,\"oid\":null,\"body\":null},\"after\":null," SRC("public", "notes")
          ",\"op\":\"d\"}",
          "orders", "null",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"note.id\":3},\"update\":{\"$unset\":{\"note\":\"\"}},"
          "\"upsert\":false,\"multi\":true}]}");
    check(x, "{\"k\":9}", "{\"before\":{\"k\":9,\"xid\":5,\"oid\":2,\"color\":null},\"after\":null,"
          "\"source\":{\"db\":\"shop\",\"table\":\"extra\"},\"op\":\"d\"}",
          "orders", "null",
          "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"xid\":5},\"update\":{\"$unset\":{\"k\":\"\","
          "\"xid\":\"\",\"color\":\"\"}},\"upsert\":false,\"multi\":true}]}");
    /* rows that cannot be placed fail the record, naming the table */
    xt_out o = xt_run(x, "it.public.orders", NULL,
                      "{\"before\":null,\"after\":{\"id\":1}," SRC("public", "orders") ",\"op\":\"c\"}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_STR(o.err, "transform e (embed) failed on a record of topic it.public.orders: root row of public.orders has "
                     "no key (a primary key, or root.key, is needed for _id)");
    o = xt_run(x, "it.public.order_items", NULL,
               "{\"before\":null,\"after\":{\"id\":1,\"order_id\":1}," SRC("public", "order_items") ",\"op\":\"c\"}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_STR(o.err, "transform e (embed) failed on a record of topic it.public.order_items: row of public.order_items "
                     "has no identity (child.items.id, or a primary key, is needed)");
    o = xt_run(x, "it.public.order_items", "{\"id\":1}",
               "{\"before\":null,\"after\":null," SRC("public", "order_items") ",\"op\":\"u\"}");
    CHECK(o.rc == SL_X_ERROR);
    CHECK_STR(o.err, "transform e (embed) failed on a record of topic it.public.order_items: u event of "
                     "public.order_items without its row");
    /* other ops of mapped tables, and tombstones outside a batch (no source record), pass */
    o = xt_run(x, "it.public.orders", NULL, "{\"op\":\"m\"," SRC("public", "orders") "}");
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "{\"op\":\"m\"," SRC("public", "orders") "}");
    o = xt_run(x, "it.public.orders", "{\"id\":1}", NULL);
    CHECK(o.rc == SL_X_KEEP);
    CHECK_STR(o.value, "null");
    /* other tables, heartbeats: untouched; truncate of a mapped table: an error */
    o = xt_run(x, "it.public.other", "{\"id\":1}",
                      "{\"before\":null,\"after\":{\"id\":1}," SRC("public", "other") ",\"op\":\"c\"}");
    CHECK(o.rc == SL_X_KEEP && strcmp(o.topic, "it.public.other") == 0 && strstr(o.value, "__sluice") == NULL);
    o = xt_run(x, "__debezium-heartbeat.it", "{\"serverName\":\"it\"}", "{\"ts_ms\":1}");
    CHECK(o.rc == SL_X_KEEP && strcmp(o.value, "{\"ts_ms\":1}") == 0);
    o = xt_run(x, "it.public.orders", NULL, "{\"before\":null,\"after\":null," SRC("public", "orders") ",\"op\":\"t\"}");
    CHECK(o.rc == SL_X_ERROR && strstr(o.err, "truncate of orders cannot be embedded") != NULL);
    /* a composite root key without root.key is refused at config time */
    sl_xchain_free(x);
    x = xt_chain("{\"transforms\":\"e\",\"transforms.e.type\":\"embed\",\"transforms.e.root.table\":\"o\","
                 "\"transforms.e.children\":\"c\",\"transforms.e.child.c.table\":\"c\","
                 "\"transforms.e.child.c.parent.key\":\"a,b\"}",
                 err, sizeof err);
    CHECK(x == NULL && strstr(err, "transforms.e.child.c.parent.key: 2 columns, but root.key names 0") == err);
    x = xt_chain("{\"transforms\":\"e\",\"transforms.e.type\":\"embed\",\"transforms.e.root.table\":\"o\","
                 "\"transforms.e.root.key\":\"a,b\",\"transforms.e.children\":\"c\",\"transforms.e.child.c.table\":"
                 "\"c\",\"transforms.e.child.c.parent.key\":\"oa,ob\"}",
                 err, sizeof err);
    CHECK(x != NULL);
    if (x) {
        o = xt_run(x, "t", "{\"id\":4}",
                   "{\"after\":{\"id\":4,\"oa\":1,\"ob\":\"x\"},\"source\":{\"table\":\"c\"},\"op\":\"c\"}");
        CHECK(o.rc == SL_X_KEEP);
        CHECK_STR(o.key, "{\"_id\":{\"a\":1,\"b\":\"x\"}}");
        sl_xchain_free(x);
    }
    /* a child identified by its record key, renamed */
    x = xt_chain("{\"transforms\":\"e\",\"transforms.e.type\":\"embed\",\"transforms.e.root.table\":\"o\","
                 "\"transforms.e.collection\":\"docs\",\"transforms.e.root.fields.exclude\":\"secret\","
                 "\"transforms.e.children\":\"c\",\"transforms.e.child.c.table\":\"c\","
                 "\"transforms.e.child.c.parent.key\":\"oid\",\"transforms.e.child.c.fields.rename\":\"id:cid\"}",
                 err, sizeof err);
    CHECK(x != NULL);
    if (x) {
        check(x, "{\"id\":4,\"v\":1}", "{\"after\":{\"id\":4,\"v\":1,\"oid\":[1]},\"source\":{\"table\":\"c\"},\"op\":\"c\"}",
              "docs", "{\"_id\":[1]}",
              "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"c.cid\":4,\"c.v\":1},\"update\":{\"$pull\":"
              "{\"c\":{\"cid\":4,\"v\":1}}},\"upsert\":false,\"multi\":true},{\"op\":\"update\",\"filter\":{\"_id\":"
              "[1]},\"update\":{\"$push\":{\"c\":{\"$each\":[{\"cid\":4,\"v\":1,\"oid\":[1]}],\"$sort\":{\"cid\":1,"
              "\"v\":1}}}},\"upsert\":true,\"multi\":false}]}");
        check(x, "{\"id\":5}", "{\"after\":{\"id\":5,\"secret\":\"s\",\"a\":true},\"source\":{\"table\":\"o\"},"
              "\"op\":\"u\"}",
              "docs", "{\"_id\":5}",
              "{\"__sluice_writes\":[{\"op\":\"update\",\"filter\":{\"_id\":5},\"update\":{\"$set\":{\"a\":true}},"
              "\"upsert\":true,\"multi\":false}]}");
        sl_xchain_free(x);
    }
    x = xt_chain("{\"transforms\":\"e\",\"transforms.e.type\":\"embed\"}", err, sizeof err);
    CHECK(x == NULL && strstr(err, "transforms.e.root.table: required") == err);
    TEST_END();
}
