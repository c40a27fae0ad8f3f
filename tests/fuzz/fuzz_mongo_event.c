/*
 * libFuzzer target for the MongoDB source's event encoder (mevent.c). The
 * first input byte chooses the options (formatter, Debezium envelope,
 * publish.full.document.only, tombstones, copied document); the rest is fed
 * as BSON bytes. Beyond memory safety it checks what the sinks rely on: a
 * successful encode yields a topic, a key and (unless a tombstone) a value
 * that are each one line of valid JSON; a failure always says why. The
 * two-way sync's echo filter (mecho.c) reads every valid event too.
 */
#include "source/mongo/mecho.h"
#include "source/mongo/mevent.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static sl_mevent ev;
static sl_mecho echo = {.origins = "a,fwd"};
static int inited;

static void must_be_json(const sl_buf *b) {
    if (!b->data || memchr(b->data, '\n', b->len)) abort();
    json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!j) abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!inited) sl_mevent_init(&ev), inited = 1;
    uint8_t f = data[0];
    sl_mevent_opts o = {0};
    o.fmt = (sl_mjson_mode)(f & 3);
    o.debezium = (f & 4) != 0;
    o.full_doc_only = (f & 8) != 0;
    o.tombstone_on_delete = (f & 16) != 0;
    o.prefix = (f & 64) ? "p" : "";
    o.server_name = "srv";
    o.def_db = "db";
    o.def_coll = "c";
    bool copy = (f & 32) != 0;
    bson_t b;
    if (bson_init_static(&b, data + 1, size - 1) && bson_validate(&b, BSON_VALIDATE_NONE, NULL))
        (void)sl_mecho_skip(&echo, &b);
    char err[512];
    err[0] = 0;
    if (sl_mevent_encode(&o, data + 1, size - 1, copy, "db", "c", &ev, err, sizeof err) < 0) {
        if (!err[0]) abort();
        return 0;
    }
    if (ev.skip) return 0;
    if (!ev.topic.data) abort();
    must_be_json(&ev.key);
    if (!ev.tombstone) must_be_json(&ev.value);
    return 0;
}
