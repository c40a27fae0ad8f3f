/*
 * libFuzzer target for the record view's JSON reader (core/val.h
 * sl_v_parse), which reads text from outside (the Kafka source's records,
 * JSON headers). On text jscan accepts (valid UTF-8; what jansson accepts)
 * it must accept too, except for numbers that overflow a double, and mean
 * the same as jansson: written back, both give the same compact JSON
 * (integers past 64 bits, which jansson refuses, aside). Text it refuses
 * must not be half-read into anything reachable.
 */
#include "core/val.h"
#include "util/jscan.h"
#include "xform/xform.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static sl_vheap h;
static sl_buf a, b;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) {
        sl_vheap_init(&h);
        sl_buf_init(&a);
        sl_buf_init(&b);
        ready = 1;
    }
    sl_vheap_reset(&h);
    const char *s = (const char *)data;
    char err[128];
    sl_val *v = sl_v_parse(&h, s, size, err, sizeof err);
    bool valid = sl_jscan_validate(s, size, NULL) == 0;
    if (v) {
        sl_buf_reset(&a);
        sl_v_put_json(&a, v);
        /* what it writes it reads back as the same */
        sl_val *w = sl_v_parse(&h, a.data, a.len, err, sizeof err);
        if (!w || !sl_v_equal(&h, v, w)) abort();
    }
    if (!valid) return 0; /* invalid UTF-8 is for jscan to refuse before this reader sees it */
    json_error_t jerr;
    json_t *j = json_loadb(s, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j) {
        /* jansson refuses integers past 64 bits, which become doubles here */
        return 0;
    }
    if (!v) abort(); /* valid JSON that jansson reads: refused here */
    sl_buf_reset(&b);
    sl_json_put(&b, j);
    json_decref(j);
    sl_buf_reset(&a);
    sl_v_put_json(&a, v);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
    return 0;
}
