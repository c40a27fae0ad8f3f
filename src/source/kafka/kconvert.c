/* Kafka Connect's input converters, bytes -> JSON text (see kconvert.h). */
#include "source/kafka/kconvert.h"
#include "util/mem.h"
#include "util/jscan.h"
#include <stdio.h>
#include <string.h>

static const char *const classes[] = {
    "org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.storage.StringConverter",
    "org.apache.kafka.connect.converters.ByteArrayConverter",
};

const char *sl_kconv_class(sl_kconv_kind k) { return classes[k]; }

/*
 * Length of the well-formed UTF-8 sequence at s (n > 0 bytes left), or 0
 * when it is malformed; then *bad is the length of its maximal valid prefix
 * (at least 1), which is replaced by one U+FFFD (Unicode's "maximal subpart"
 * practice, which Java's decoder follows).
 */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;                /* no overlong forms */
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;                /* no surrogates */
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;                /* nothing above U+10FFFF */
    else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80, hi = 0xBF;
    }
    return need + 1;
}

void sl_kconv_put_utf8(sl_buf *out, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0;
    while (i < n) {
        size_t bad = 0, k = utf8_seq(u + i, n - i, &bad);
        if (k) {
            i += k;
            continue;
        }
        sl_buf_put(out, s + run, i - run);
        sl_buf_put(out, "\xEF\xBF\xBD", 3);
        i += bad;
        run = i;
    }
    sl_buf_put(out, s + run, n - run);
}

/* A JSON string of the text in s, repaired to valid UTF-8 first. */
static void put_text(sl_buf *out, const char *s, size_t n) {
    sl_buf tmp;
    sl_buf_init(&tmp);
    sl_kconv_put_utf8(&tmp, s, n);
    sl_buf_put_json_str(out, tmp.data ? tmp.data : "", tmp.len);
    sl_buf_free(&tmp);
}

/* Copies JSON text (already validated) without the whitespace outside strings. Strings are jumped over
 * with memchr (most of a Connect envelope's bytes are in strings); a quote ends one when an even number of
 * backslashes precedes it. */
static void put_compact(sl_buf *out, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            for (size_t from = i + 1;;) {
                const char *q = memchr(s + from, '"', n - from);
                if (!q) return sl_buf_put(out, s + run, n - run); /* cannot happen: validated */
                size_t k = (size_t)(q - s), bs = 0;
                while (k - bs > i + 1 && s[k - 1 - bs] == '\\') bs++;
                from = k + 1;
                if (bs % 2 == 0) {
                    i = k;
                    break;
                }
            }
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            sl_buf_put(out, s + run, i - run);
            run = i + 1;
        }
    }
    if (run < n) sl_buf_put(out, s + run, n - run);
}

/* The op of a payload whose "op" and "source" are op and source (present: found bits 1 and 2). */
static sl_op op_of(sl_jval op, sl_jval source, unsigned found) {
    char text[4];
    if (found != 3 || sl_jval_string(op, text, sizeof text) != 1 || sl_jval_kind(source) != '{') return SL_OP_CREATE;
    switch (text[0]) {
    case 'c': return SL_OP_CREATE;
    case 'u': return SL_OP_UPDATE;
    case 'd': return SL_OP_DELETE;
    case 'r': return SL_OP_READ;
    case 't': return SL_OP_TRUNCATE;
    default: return SL_OP_CREATE;
    }
}

static const char *const op_keys[] = {"op", "source"};

/* The op a Debezium envelope payload carries; null payload: a delete. */
static sl_op payload_op(sl_jval payload) {
    char kind = sl_jval_kind(payload);
    if (kind == 'n') return SL_OP_DELETE;
    sl_jval v[2];
    unsigned found;
    if (kind != '{' || sl_jval_members(payload, op_keys, 2, v, &found) < 0) return SL_OP_CREATE;
    return op_of(v[0], v[1], found);
}

/* Validated in one pass and read in place (util/jscan): no tree is built for text that goes on as text. The
 * validating pass also finds the envelope's parts and whether the text is already compact (as the
 * JsonConverter writes it): then it is copied as it is and the parts keep their offsets. */
static int convert_json(bool schemas, const char *s, size_t n, sl_buf *out, sl_op *op, sl_kconv_parts *parts,
                        sl_kconv_memo *memo, char *errstr, size_t errsz) {
    static const char *const envelope[] = {"schema", "payload"};
    sl_jval pv;
    sl_jscan_top pt = {.keys = op_keys, .nkeys = 2};
    if (memo && schemas && memo->n && n > memo->n && memcmp(s, memo->prefix, memo->n) == 0 &&
        sl_jscan_last_member(s, n, memo->n, &pv, &pt)) {
        /* The same schema as the record before, written the same way: only the payload is new (its op found
         * by the validating pass, unless a key is written with escapes). */
        if (op) *op = pt.members >= 0 && !pt.escaped ? op_of(pt.vals[0], pt.vals[1], pt.found) : payload_op(pv);
        sl_buf_put(out, s, n);
        if (parts) *parts = (sl_kconv_parts){memo->schema_at, memo->schema_len, (uint32_t)memo->n, (uint32_t)pv.n};
        return 0;
    }
    sl_jscan_err je;
    sl_jscan_top top = {.keys = envelope, .nkeys = 2};
    if (sl_jscan_validate_top(s, n, &je, &top) < 0) {
        snprintf(errstr, errsz,
                 "Converting byte[] to Kafka Connect data failed due to serialization error: %s "
                 "(line %d, column %d)",
                 je.text, je.line, je.column);
        return -1;
    }
    sl_jval root = {s, n}, payload = root, parts2[2];
    unsigned found = 0;
    bool quick = top.members == 2 && top.found == 3; /* exactly these two keys, written without escapes */
    if (quick) parts2[0] = top.vals[0], parts2[1] = top.vals[1], found = 3;
    if (schemas && !quick &&
        (sl_jval_kind(root) != '{' || sl_jval_members(root, envelope, 2, parts2, &found) != 2 || found != 3)) {
        snprintf(errstr, errsz,
                 "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not "
                 "contain additional fields. If you are trying to deserialize plain JSON data, set "
                 "schemas.enable=false in your converter configuration.");
        return -1;
    }
    if (schemas) payload = parts2[1];
    if (op) *op = payload_op(payload);
    if (top.ws == 0) sl_buf_put(out, s, n);
    else put_compact(out, s, n);
    if (parts) {
        *parts = (sl_kconv_parts){0};
        if (schemas && top.ws == 0) /* compact: the offsets in the input are those in the output */
            *parts = (sl_kconv_parts){(uint32_t)(parts2[0].p - s), (uint32_t)parts2[0].n, (uint32_t)(parts2[1].p - s),
                                      (uint32_t)parts2[1].n};
    }
    /* Remembered for the next record: a compact envelope of exactly these two members, schema first, whose
     * payload ends the object (the text before the payload then is the same for a record of the same schema). */
    if (memo && schemas && quick && top.ws == 0 && parts2[0].p < parts2[1].p && parts2[1].p + parts2[1].n + 1 == s + n) {
        size_t pre = (size_t)(parts2[1].p - s);
        if (pre > memo->cap) memo->prefix = sl_realloc(memo->prefix, memo->cap = pre);
        memcpy(memo->prefix, s, pre);
        memo->n = pre;
        memo->schema_at = (uint32_t)(parts2[0].p - s);
        memo->schema_len = (uint32_t)parts2[0].n;
    }
    return 0;
}

void sl_kconv_memo_free(sl_kconv_memo *memo) {
    sl_free(memo->prefix);
    *memo = (sl_kconv_memo){0};
}

int sl_kconv_convert(sl_kconv_kind kind, bool schemas, const void *data, size_t len, sl_buf *out, sl_op *op,
                     char *errstr, size_t errsz) {
    return sl_kconv_convert_parts(kind, schemas, data, len, out, op, NULL, errstr, errsz);
}

int sl_kconv_convert_parts(sl_kconv_kind kind, bool schemas, const void *data, size_t len, sl_buf *out, sl_op *op,
                           sl_kconv_parts *parts, char *errstr, size_t errsz) {
    return sl_kconv_convert_memo(kind, schemas, data, len, out, op, parts, NULL, errstr, errsz);
}

int sl_kconv_convert_memo(sl_kconv_kind kind, bool schemas, const void *data, size_t len, sl_buf *out, sl_op *op,
                          sl_kconv_parts *parts, sl_kconv_memo *memo, char *errstr, size_t errsz) {
    if (parts) *parts = (sl_kconv_parts){0};
    if (len > SL_KCONV_MAX_INPUT) {
        snprintf(errstr, errsz, "message of %zu bytes is larger than the converter's limit of %u bytes", len,
                 SL_KCONV_MAX_INPUT);
        return -1;
    }
    if (op) *op = SL_OP_CREATE;
    if (!data) data = ""; /* an empty message may come without a buffer */
    switch (kind) {
    case SL_KCONV_JSON: return convert_json(schemas, data, len, out, op, parts, memo, errstr, errsz);
    case SL_KCONV_STRING: put_text(out, data, len); return 0;
    case SL_KCONV_BYTES:
        sl_buf_putc(out, '"');
        sl_buf_put_base64(out, data, len);
        sl_buf_putc(out, '"');
        return 0;
    }
    snprintf(errstr, errsz, "unknown converter %d", (int)kind);
    return -1;
}
