/*
 * libFuzzer target for the MongoDB sink's Connect -> BSON converter
 * (src/sink/mongo_conv.c) and the MongoDB source's schema output
 * (src/source/mongo/mschema.c). The first input byte chooses the mode:
 *   bit 0 clear: the rest is a key / value's JSON text for sl_mconv_json
 *     (bit 1: the "text" mode); a converted document must be valid BSON;
 *   bit 0 set: the rest is BSON; when valid, it is turned into canonical
 *     extended JSON and back (as the source hands events to mschema), then
 *     its inferred schema and the default change stream schema are written
 *     as Connect JSON, which must be one line of valid JSON (on success).
 */
#include "sink/mongo_conv.h"
#include "source/mongo/mschema.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static sl_mconv *conv;
static sl_mschema *cs_schema;

static void must_be_json(const sl_buf *b) {
    if (!b->data || memchr(b->data, '\n', b->len)) abort();
    json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!j) abort();
    json_decref(j);
}

static void schema_out(const sl_mschema *s, const bson_t *d) {
    sl_buf b;
    char err[512];
    sl_buf_init(&b);
    sl_mschema_json(s, &b);
    must_be_json(&b);
    sl_buf_reset(&b);
    if (sl_mschema_value(s, d, SL_MJSON_DEFAULT, &b, err, sizeof err) == 0) must_be_json(&b);
    else if (!err[0]) abort();
    sl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!conv) {
        char err[256];
        conv = sl_mconv_new();
        cs_schema = sl_mschema_from_avro(SL_MSCHEMA_DEFAULT_VALUE, err, sizeof err);
        if (!cs_schema) abort();
    }
    uint8_t f = data[0];
    data++, size--;
    if (!(f & 1)) {
        bson_t *out = NULL;
        char err[512];
        err[0] = 0;
        int rc = sl_mconv_json(conv, (const char *)data, size, (f & 2) != 0, &out, NULL, err, sizeof err);
        if (rc < 0 && !err[0]) abort();
        if (rc == 1 && (!out || !bson_validate(out, BSON_VALIDATE_NONE, NULL))) abort();
        if (out) bson_destroy(out);
        return 0;
    }
    bson_t d;
    if (size > (1u << 20) || !bson_init_static(&d, data, size) ||
        !bson_validate(&d, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, NULL))
        return 0;
    /* As in the source: the event as canonical extended JSON, parsed again (a well-formed document). */
    char *json = bson_as_canonical_extended_json(&d, NULL);
    bson_t *w = json ? bson_new_from_json((const uint8_t *)json, -1, NULL) : NULL;
    bson_free(json);
    if (!w) return 0;
    sl_mschema *s = sl_mschema_infer(w);
    schema_out(s, w);
    sl_mschema_free(s);
    schema_out(cs_schema, w);
    bson_destroy(w);
    return 0;
}
