/*
 * libFuzzer target for the Kafka source's converters. The first input byte
 * chooses the converter (value % 3) and schemas.enable (bit 2); the rest is
 * one message key/value. Beyond memory safety it checks what the sinks rely
 * on: every output is one line of valid JSON; the JSON converter's output
 * means the same as its input; the string converter's output is a string
 * equal to the input whenever the input was valid UTF-8. The JSON converter
 * reads its input without a tree (util/jscan): it must accept exactly what
 * jansson accepts, find the same envelope and the same op, and the parts it
 * notes (sl_kconv_convert_parts) must be that envelope's schema and payload.
 */
#include "source/kafka/kconvert.h"
#include "util/buf.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static sl_buf out;

static json_t *load(const char *p, size_t n) {
    return json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
}

/* What the converter must make of in, found with a jansson tree: -1 refused, else the op. */
static int expected(const char *in, size_t n, bool schemas) {
    json_t *root = load(in, n);
    if (!root) return -1;
    json_t *payload = root;
    if (schemas && (!json_is_object(root) || json_object_size(root) != 2 || !json_object_get(root, "schema") ||
                    !(payload = json_object_get(root, "payload")))) {
        json_decref(root);
        return -1;
    }
    int op = SL_OP_CREATE;
    json_t *o = json_object_get(payload, "op");
    if (json_is_null(payload)) op = SL_OP_DELETE;
    else if (json_is_string(o) && json_string_length(o) == 1 && json_is_object(json_object_get(payload, "source")))
        switch (json_string_value(o)[0]) {
        case 'u': op = SL_OP_UPDATE; break;
        case 'd': op = SL_OP_DELETE; break;
        case 'r': op = SL_OP_READ; break;
        case 't': op = SL_OP_TRUNCATE; break;
        default: break;
        }
    json_decref(root);
    return op;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    sl_kconv_kind kind = sl_kconv_from_index(data[0] % 3);
    bool schemas = (data[0] & 4) != 0;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    char err[1024];
    sl_op op;
    sl_buf_reset(&out);
    int want_op = kind == SL_KCONV_JSON && n <= SL_KCONV_MAX_INPUT ? expected(in, n, schemas) : 0;
    sl_kconv_parts parts;
    err[0] = '\0';
    int rc = sl_kconv_convert_parts(kind, schemas, in, n, &out, &op, &parts, err, sizeof err);
    /* With a memo of the last schema (kept across inputs, then primed by this one), the same result. */
    static sl_kconv_memo memo;
    static sl_buf mout;
    for (int k = 0; k < 2; k++) {
        sl_op mop = 0;
        sl_kconv_parts mparts;
        char merr[1024] = "";
        sl_buf_reset(&mout);
        int mrc = sl_kconv_convert_memo(kind, schemas, in, n, &mout, &mop, &mparts, &memo, merr, sizeof merr);
        if (mrc != rc || strcmp(merr, err)) abort();
        if (rc == 0 && (mout.len != out.len || memcmp(mout.data, out.data, out.len) || mop != op ||
                        memcmp(&mparts, &parts, sizeof parts)))
            abort();
    }
    if (rc < 0) {
        if (kind != SL_KCONV_JSON || !err[0]) abort(); /* only JSON can fail, always with a reason */
        /* and only where jansson fails too (but jansson takes a raw NUL byte right after a last number
         * or literal for the end of the input, "0\0"; a raw NUL is never JSON, jscan refuses it) */
        if (want_op != -1 && !memchr(in, 0, n)) abort();
        return 0;
    }
    if (kind == SL_KCONV_JSON && (int)op != want_op) abort();
    if (memchr(out.data, '\n', out.len) || memchr(out.data, '\r', out.len)) abort();
    json_t *got = load(out.data, out.len);
    if (!got) abort();
    if (kind == SL_KCONV_JSON) {
        json_t *want = load(in, n);
        if (!want || !json_equal(got, want)) abort();
        /* parts, when noted, are exactly the envelope's schema and payload in the output */
        if (parts.schema_len || parts.payload_len) {
            if (!schemas || parts.schema_at + parts.schema_len > out.len || parts.payload_at + parts.payload_len > out.len)
                abort();
            json_t *ps = load(out.data + parts.schema_at, parts.schema_len);
            json_t *pp = load(out.data + parts.payload_at, parts.payload_len);
            if (!ps || !pp || !json_equal(ps, json_object_get(want, "schema")) ||
                !json_equal(pp, json_object_get(want, "payload")))
                abort();
            json_decref(ps);
            json_decref(pp);
        }
        json_decref(want);
    } else {
        if (!json_is_string(got) || op != SL_OP_CREATE) abort();
        sl_buf fixed;
        sl_buf_init(&fixed);
        sl_kconv_put_utf8(&fixed, in, n);
        bool valid = fixed.len == n && (n == 0 || memcmp(fixed.data, in, n) == 0);
        if (kind == SL_KCONV_STRING && valid &&
            (json_string_length(got) != n || memcmp(json_string_value(got), in, n) != 0))
            abort();
        sl_buf_free(&fixed);
    }
    json_decref(got);
    return 0;
}
