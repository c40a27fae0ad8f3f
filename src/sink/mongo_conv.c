/*
 * Kafka Connect data -> BSON the way mongo-kafka's sink converters make it
 * (see mongo_conv.h for the rules). libbson's JSON reader parses the payload
 * once; a compiled Connect schema then picks each field's BSON type while the
 * parsed document is copied into the output (the payload's own JSON types
 * only matter without a schema). The envelope is split textually, so the
 * schema text is looked up (by length and bytes) instead of being parsed per record.
 */
#include "sink/mongo_conv.h"
#include "core/val.h"
#include "util/buf.h"
#include "util/codec.h"
#include "util/mem.h"
#include <inttypes.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    T_ANY, /* no usable schema: the payload's JSON types (schemaless rules) */
    T_BOOL, T_INT8, T_INT16, T_INT32, T_INT64, T_FLOAT32, T_FLOAT64, T_STRING, T_BYTES,
    T_DECIMAL, T_DATE, T_TIME, T_TIMESTAMP,
    T_STRUCT, T_ARRAY, T_MAP
} ctype;

static const char *const type_names[] = {"any", "boolean", "int8", "int16", "int32", "int64", "float", "double",
                                         "string", "bytes", "Decimal", "Date", "Time", "Timestamp", "struct",
                                         "array", "map"};

typedef struct sl_mconv_schema {
    ctype type;
    bool optional;
    int32_t scale;   /* Decimal */
    bson_t *def;     /* {"d": default} or NULL */
    size_t n;        /* struct fields; array items / map values: kids[0] */
    char **names;
    struct sl_mconv_schema **kids;
} cs;

#define CACHE_N 32
typedef struct centry {
    char *text;
    size_t len;
    cs *schema;
} centry;

struct sl_mconv {
    centry cache[CACHE_N];
    size_t next; /* round-robin victim */
};

static void cs_free(cs *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->names) sl_free(s->names[i]);
        cs_free(s->kids[i]);
    }
    sl_free(s->names);
    sl_free(s->kids);
    if (s->def) bson_destroy(s->def);
    sl_free(s);
}

sl_mconv *sl_mconv_new(void) { return sl_calloc(1, sizeof(sl_mconv)); }

void sl_mconv_destroy(sl_mconv *c) {
    if (!c) return;
    for (size_t i = 0; i < CACHE_N; i++) {
        sl_free(c->cache[i].text);
        cs_free(c->cache[i].schema);
    }
    sl_free(c);
}

/* ---- the envelope, found without parsing ---- */

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Past the closing quote of the string whose text starts at p (the opening quote is before it); NULL when
 * truncated. A quote counts when an even number of backslashes precedes it; memchr finds the candidates. */
static const char *string_end(const char *p, const char *e) {
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q) return NULL;
        size_t bs = 0;
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
        if (bs % 2 == 0) return q + 1;
        p = q + 1;
    }
}

/* The end of the JSON value at p (strings and nesting followed, nothing else checked); NULL: truncated. */
static const char *skip_value(const char *p, const char *e) {
    int depth = 0;
    do {
        p = ws(p, e);
        if (p >= e) return NULL;
        if (*p == '"') {
            if (!(p = string_end(p + 1, e))) return NULL;
        } else if (*p == '{' || *p == '[') {
            depth++, p++;
        } else if (*p == '}' || *p == ']') {
            if (--depth < 0) return NULL;
            p++;
        } else if (*p == ',' || *p == ':') {
            if (depth == 0) return NULL;
            p++;
        } else { /* a number or literal; anything else (a NUL, a stray byte) ends the scan */
            const char *q = p;
            while (p < e && !memchr(" \t\r\n,:]}[{\"", *p, 11)) p++;
            if (p == q) return NULL;
        }
    } while (depth > 0);
    return p;
}

typedef struct span {
    const char *p;
    size_t n;
} span;

/* {"schema": S, "payload": P} with exactly these two members (JsonConverter's envelope). */
static bool envelope(const char *json, size_t len, span *schema, span *payload) {
    const char *p = ws(json, json + len), *e = json + len;
    bool hs = false, hp = false;
    if (p >= e || *p != '{') return false;
    for (p++;;) {
        p = ws(p, e);
        if (p >= e || *p != '"') return false;
        const char *k = p + 1, *ke = skip_value(p, e);
        if (!ke) return false;
        size_t kl = (size_t)(ke - 1 - k);
        p = ws(ke, e);
        if (p >= e || *p != ':') return false;
        p = ws(p + 1, e);
        const char *ve = skip_value(p, e);
        if (!ve) return false;
        if (kl == 6 && !memcmp(k, "schema", 6) && !hs) *schema = (span){p, (size_t)(ve - p)}, hs = true;
        else if (kl == 7 && !memcmp(k, "payload", 7) && !hp) *payload = (span){p, (size_t)(ve - p)}, hp = true;
        else return false;
        p = ws(ve, e);
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        if (p < e && *p == '}') break;
        return false;
    }
    return hs && hp && ws(p + 1, e) == e;
}

bool sl_mconv_payload(const char *json, size_t len, const char **p, size_t *n) {
    span s, pl;
    if (!envelope(json, len, &s, &pl)) return false;
    *p = pl.p;
    *n = pl.n;
    return true;
}

static bool is_null(span s) { return s.n == 4 && !memcmp(s.p, "null", 4); }

/* ---- schemas ---- */

static const char *str_of(const bson_t *d, const char *k) {
    bson_iter_t it;
    return bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : NULL;
}

static bool sub_doc(const bson_iter_t *it, bson_t *out) {
    uint32_t len;
    const uint8_t *data;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) && !BSON_ITER_HOLDS_ARRAY(it)) return false;
    if (BSON_ITER_HOLDS_DOCUMENT(it)) bson_iter_document(it, &len, &data);
    else bson_iter_array(it, &len, &data);
    return bson_init_static(out, data, len);
}

static cs *compile(const bson_t *d, int depth, char *err, size_t errsz);

static cs *compile_at(const bson_iter_t *it, int depth, const char *what, char *err, size_t errsz) {
    bson_t sub;
    if (!sub_doc(it, &sub)) {
        snprintf(err, errsz, "schema: %s is not a schema object", what);
        return NULL;
    }
    return compile(&sub, depth, err, errsz);
}

/* A Connect schema in JsonConverter's JSON form (parsed into d). */
static cs *compile(const bson_t *d, int depth, char *err, size_t errsz) {
    static const struct {
        const char *name;
        ctype t;
    } prims[] = {{"boolean", T_BOOL}, {"int8", T_INT8},     {"int16", T_INT16},   {"int32", T_INT32},
                 {"int64", T_INT64},  {"float", T_FLOAT32}, {"double", T_FLOAT64}, {"string", T_STRING},
                 {"bytes", T_BYTES},  {"struct", T_STRUCT}, {"array", T_ARRAY},   {"map", T_MAP}};
    bson_iter_t it, f;
    if (depth > SL_MCONV_MAX_DEPTH) {
        snprintf(err, errsz, "schema: nested more than %d levels", SL_MCONV_MAX_DEPTH);
        return NULL;
    }
    cs *s = sl_calloc(1, sizeof *s);
    const char *type = str_of(d, "type"), *name = str_of(d, "name");
    s->type = T_ANY;
    for (size_t i = 0; type && i < sizeof prims / sizeof *prims; i++)
        if (!strcmp(type, prims[i].name)) s->type = prims[i].t;
    if (!type || s->type == T_ANY) {
        snprintf(err, errsz, "schema: unknown type '%s'", type ? type : "(none)");
        goto bad;
    }
    s->optional = bson_iter_init_find(&it, d, "optional") && bson_iter_as_bool(&it);
    if (name && !strncmp(name, "org.apache.kafka.connect.data.", 30)) {
        const char *ln = name + 30;
        if (!strcmp(ln, "Decimal") && s->type == T_BYTES) s->type = T_DECIMAL;
        else if (!strcmp(ln, "Date") && s->type == T_INT32) s->type = T_DATE;
        else if (!strcmp(ln, "Time") && s->type == T_INT32) s->type = T_TIME;
        else if (!strcmp(ln, "Timestamp") && s->type == T_INT64) s->type = T_TIMESTAMP;
    }
    if (s->type == T_DECIMAL) {
        const char *sc = NULL;
        if (bson_iter_init(&it, d) && bson_iter_find_descendant(&it, "parameters.scale", &f))
            sc = BSON_ITER_HOLDS_UTF8(&f) ? bson_iter_utf8(&f, NULL) : NULL;
        s->scale = sc ? (int32_t)strtol(sc, NULL, 10) : 0;
    }
    if (bson_iter_init_find(&it, d, "default") && !BSON_ITER_HOLDS_NULL(&it)) {
        s->def = bson_new();
        bson_append_iter(s->def, "d", 1, &it);
    }
    if (s->type == T_STRUCT) {
        bson_t fields;
        /* Without "fields" Connect would refuse the schema; sluice reads the payload schemaless. */
        if (!bson_iter_init_find(&it, d, "fields")) {
            s->type = T_ANY;
            return s;
        }
        if (!BSON_ITER_HOLDS_ARRAY(&it) || !sub_doc(&it, &fields)) {
            snprintf(err, errsz, "schema: a struct's \"fields\" is not an array");
            goto bad;
        }
        uint32_t n = bson_count_keys(&fields);
        s->names = sl_calloc(n ? n : 1, sizeof *s->names);
        s->kids = sl_calloc(n ? n : 1, sizeof *s->kids);
        bson_iter_init(&f, &fields);
        while (bson_iter_next(&f) && s->n < n) {
            bson_t fd;
            const char *fname;
            if (!sub_doc(&f, &fd) || !(fname = str_of(&fd, "field"))) {
                snprintf(err, errsz, "schema: a struct field without a \"field\" name");
                goto bad;
            }
            s->names[s->n] = sl_strdup(fname);
            if (!(s->kids[s->n++] = compile(&fd, depth + 1, err, errsz))) goto bad;
        }
    } else if (s->type == T_ARRAY || s->type == T_MAP) {
        const char *k = s->type == T_ARRAY ? "items" : "values";
        s->kids = sl_calloc(1, sizeof *s->kids);
        s->n = 1;
        if (!bson_iter_init_find(&it, d, k)) {
            snprintf(err, errsz, "schema: %s without \"%s\"", type, k);
            goto bad;
        }
        if (!(s->kids[0] = compile_at(&it, depth + 1, k, err, errsz))) goto bad;
    }
    return s;
bad:
    cs_free(s);
    return NULL;
}

/* The compiled schema of text (cached); NULL with err set when it is not a schema. Entries are compared
 * by length, then by their bytes (memcmp: cheaper than hashing text of several KB per record). */
static const cs *schema_of(sl_mconv *c, span t, char *err, size_t errsz) {
    for (size_t i = 0; i < CACHE_N; i++) {
        centry *e = &c->cache[i];
        if (e->schema && e->len == t.n && !memcmp(e->text, t.p, t.n)) return e->schema;
    }
    bson_error_t be;
    bson_t *d = bson_new_from_json((const uint8_t *)t.p, (ssize_t)t.n, &be);
    if (!d) {
        snprintf(err, errsz, "schema: not a JSON object (%s)", be.message);
        return NULL;
    }
    cs *s = compile(d, 0, err, errsz);
    bson_destroy(d);
    if (!s) return NULL;
    centry *e = &c->cache[c->next];
    c->next = (c->next + 1) % CACHE_N;
    sl_free(e->text);
    cs_free(e->schema);
    e->text = sl_malloc(t.n ? t.n : 1);
    memcpy(e->text, t.p, t.n);
    e->len = t.n;
    e->schema = s;
    return s;
}

/* ---- values ---- */

/* Standard (or URL-safe) base64, padding optional; *out allocated. false when malformed. */
static bool b64_decode(const char *s, size_t n, uint8_t **out, size_t *outn) {
    uint8_t *o = sl_malloc(SL_B64_DECODED_MAX(n));
    if (!sl_b64_decode(s, n, o, outn)) {
        sl_free(o);
        return false;
    }
    *out = o;
    return true;
}

/* A Decimal's unscaled two's complement big-endian bytes and scale -> Decimal128 (exact, as Java's
 * new Decimal128(BigDecimal): trailing zeros beyond 34 digits are dropped, other digits are an error). */
static bool decimal_of(const uint8_t *b, size_t n, int32_t scale, bson_decimal128_t *out, char *err, size_t errsz) {
    if (n > 64) {
        snprintf(err, errsz, "a Decimal of %zu bytes does not fit a Decimal128", n);
        return false;
    }
    char digits[200];
    bool neg;
    size_t nd = sl_unscaled_digits(b, n, digits, &neg);
    int64_t exp = -(int64_t)scale;
    size_t lo = 0; /* digits[lo..nd) reversed; drop trailing zeros only while too long */
    while (nd - lo > 34 && digits[lo] == '0') lo++, exp++;
    if (nd - lo > 34) {
        snprintf(err, errsz, "Conversion to Decimal128 would require inexact rounding (%zu digits)", nd - lo);
        return false;
    }
    char str[64];
    size_t k = 0;
    if (neg) str[k++] = '-';
    for (size_t i = nd; i-- > lo;) str[k++] = digits[i];
    snprintf(str + k, sizeof str - k, "E%" PRId64, exp);
    if (!bson_decimal128_from_string(str, out)) {
        snprintf(err, errsz, "the Decimal %s does not fit a Decimal128", str);
        return false;
    }
    return true;
}

/* A bytes or Decimal field's base64 text (Connect's JSON form): BinData subtype 0, or Decimal128 at the
 * schema's scale. 0, or -1 with err. */
static int put_base64(const cs *s, const char *txt, size_t n, bson_t *out, const char *key, char *err, size_t errsz) {
    uint8_t *bytes;
    size_t nb;
    bson_decimal128_t dec;
    if (!b64_decode(txt, n, &bytes, &nb)) {
        snprintf(err, errsz, "field '%s': not base64 (a %s field)", key, type_names[s->type]);
        return -1;
    }
    bool ok = true;
    if (s->type == T_BYTES) BSON_APPEND_BINARY(out, key, BSON_SUBTYPE_BINARY, bytes, (uint32_t)nb);
    else if ((ok = decimal_of(bytes, nb, s->scale, &dec, err, errsz))) BSON_APPEND_DECIMAL128(out, key, &dec);
    sl_free(bytes);
    return ok ? 0 : -1;
}

static bool as_i64(const bson_iter_t *it, int64_t *v) {
    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32: *v = bson_iter_int32(it); return true;
    case BSON_TYPE_INT64: *v = bson_iter_int64(it); return true;
    case BSON_TYPE_DOUBLE: {
        double d = bson_iter_double(it);
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9.2e18) return false;
        *v = (int64_t)d;
        return true;
    }
    default: return false;
    }
}

static bool as_f64(const bson_iter_t *it, double *v) {
    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32: *v = bson_iter_int32(it); return true;
    case BSON_TYPE_INT64: *v = (double)bson_iter_int64(it); return true;
    case BSON_TYPE_DOUBLE: *v = bson_iter_double(it); return true;
    default: return false;
    }
}

static const char *json_type(const bson_iter_t *it) {
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: return "string";
    case BSON_TYPE_INT32: case BSON_TYPE_INT64: return "integer";
    case BSON_TYPE_DOUBLE: return "number";
    case BSON_TYPE_BOOL: return "boolean";
    case BSON_TYPE_DOCUMENT: return "object";
    case BSON_TYPE_ARRAY: return "array";
    default: return "extended JSON value";
    }
}

/* Schemaless (MapRecordConverter): every integer an Int64; the rest as parsed. */
static int plain(const bson_iter_t *it, bson_t *out, const char *key, int depth, char *err, size_t errsz) {
    bson_iter_t child;
    bson_t sub;
    if (depth > SL_MCONV_MAX_DEPTH) {
        snprintf(err, errsz, "nested more than %d levels", SL_MCONV_MAX_DEPTH);
        return -1;
    }
    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32: BSON_APPEND_INT64(out, key, bson_iter_int32(it)); return 0;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        bool arr = BSON_ITER_HOLDS_ARRAY(it);
        if (arr) BSON_APPEND_ARRAY_BEGIN(out, key, &sub);
        else BSON_APPEND_DOCUMENT_BEGIN(out, key, &sub);
        bson_iter_recurse(it, &child);
        int rc = 0;
        while (rc == 0 && bson_iter_next(&child)) rc = plain(&child, &sub, bson_iter_key(&child), depth + 1, err, errsz);
        if (arr) bson_append_array_end(out, &sub);
        else bson_append_document_end(out, &sub);
        return rc;
    }
    default: bson_append_iter(out, key, -1, it); return 0;
    }
}

static int conv(const cs *s, const bson_iter_t *it, bson_t *out, const char *key, int depth, char *err,
                size_t errsz);

/* The fields of struct s from the payload document pd, in the schema's order. */
static int conv_fields(const cs *s, const bson_t *pd, bson_t *out, int depth, char *err, size_t errsz) {
    bson_iter_t seq, f;
    bool in_order = bson_iter_init(&seq, pd);
    for (size_t i = 0; i < s->n; i++) {
        const bson_iter_t *v = NULL;
        if (in_order && bson_iter_next(&seq) && !strcmp(bson_iter_key(&seq), s->names[i])) {
            v = &seq;
        } else {
            in_order = false;
            if (bson_iter_init_find(&f, pd, s->names[i])) v = &f;
        }
        if (conv(s->kids[i], v, out, s->names[i], depth + 1, err, errsz) < 0) return -1;
    }
    return 0;
}

static int conv_items(const cs *s, const bson_iter_t *it, bson_t *out, int depth, char *err, size_t errsz) {
    bson_iter_t child;
    bson_iter_recurse(it, &child);
    uint32_t i = 0;
    while (bson_iter_next(&child)) {
        char buf[16];
        const char *k = bson_iter_key(&child);
        if (s->type == T_ARRAY) bson_uint32_to_string(i++, &k, buf, sizeof buf);
        if (conv(s->kids[0], &child, out, k, depth + 1, err, errsz) < 0) return -1;
    }
    return 0;
}

/* Appends the payload value at it (NULL: missing) as schema s says. */
static int conv(const cs *s, const bson_iter_t *it, bson_t *out, const char *key, int depth, char *err,
                size_t errsz) {
    int64_t i;
    double d;
    bson_t sub;
    if (depth > SL_MCONV_MAX_DEPTH) {
        snprintf(err, errsz, "nested more than %d levels", SL_MCONV_MAX_DEPTH);
        return -1;
    }
    if (!it || BSON_ITER_HOLDS_NULL(it)) {
        bson_iter_t def;
        if (s->def && bson_iter_init_find(&def, s->def, "d")) return conv(s, &def, out, key, depth + 1, err, errsz);
        BSON_APPEND_NULL(out, key);
        return 0;
    }
    switch (s->type) {
    case T_ANY: return plain(it, out, key, depth, err, errsz);
    case T_BOOL:
        if (!BSON_ITER_HOLDS_BOOL(it)) goto mismatch;
        BSON_APPEND_BOOL(out, key, bson_iter_bool(it));
        return 0;
    case T_INT8: case T_INT16: case T_INT32:
        if (!as_i64(it, &i) || i < INT32_MIN || i > INT32_MAX) goto mismatch;
        BSON_APPEND_INT32(out, key, (int32_t)i);
        return 0;
    case T_INT64:
        if (!as_i64(it, &i)) goto mismatch;
        BSON_APPEND_INT64(out, key, i);
        return 0;
    case T_FLOAT32:
        if (!as_f64(it, &d)) goto mismatch;
        BSON_APPEND_DOUBLE(out, key, (double)(float)d);
        return 0;
    case T_FLOAT64:
        if (!as_f64(it, &d)) goto mismatch;
        BSON_APPEND_DOUBLE(out, key, d);
        return 0;
    case T_STRING:
        if (!BSON_ITER_HOLDS_UTF8(it)) goto mismatch;
        bson_append_iter(out, key, -1, it);
        return 0;
    case T_DATE: case T_TIME: case T_TIMESTAMP:
        if (!as_i64(it, &i)) goto mismatch;
        if (s->type == T_DATE) {
            if (i > INT64_MAX / 86400000 || i < INT64_MIN / 86400000) goto mismatch;
            i *= 86400000;
        }
        BSON_APPEND_DATE_TIME(out, key, i);
        return 0;
    case T_BYTES:
    case T_DECIMAL: {
        uint32_t n;
        const char *txt;
        bson_decimal128_t dec;
        if (s->type == T_DECIMAL && as_f64(it, &d)) { /* decimal.format=NUMERIC */
            char num[64];
            if (BSON_ITER_HOLDS_DOUBLE(it)) snprintf(num, sizeof num, "%.17g", d);
            else snprintf(num, sizeof num, "%" PRId64, bson_iter_as_int64(it));
            if (!bson_decimal128_from_string(num, &dec)) goto mismatch;
            BSON_APPEND_DECIMAL128(out, key, &dec);
            return 0;
        }
        if (!BSON_ITER_HOLDS_UTF8(it)) goto mismatch;
        txt = bson_iter_utf8(it, &n);
        return put_base64(s, txt, n, out, key, err, errsz);
    }
    case T_STRUCT:
    case T_MAP: {
        if (!BSON_ITER_HOLDS_DOCUMENT(it)) goto mismatch; /* (maps with non-string keys: arrays of pairs) */
        bson_t pd;
        sub_doc(it, &pd);
        BSON_APPEND_DOCUMENT_BEGIN(out, key, &sub);
        int rc = s->type == T_STRUCT ? conv_fields(s, &pd, &sub, depth, err, errsz)
                                     : conv_items(s, it, &sub, depth, err, errsz);
        bson_append_document_end(out, &sub);
        return rc;
    }
    case T_ARRAY: {
        if (!BSON_ITER_HOLDS_ARRAY(it)) goto mismatch;
        BSON_APPEND_ARRAY_BEGIN(out, key, &sub);
        int rc = conv_items(s, it, &sub, depth, err, errsz);
        bson_append_array_end(out, &sub);
        return rc;
    }
    }
mismatch:
    snprintf(err, errsz, "field '%s': a JSON %s does not fit its schema type %s", key, json_type(it),
             type_names[s->type]);
    return -1;
}

/* ---- entry point ---- */

/* The JSON string literal t unescaped, in *holder as its field "v". */
static int from_string_raw(span t, bson_t **holder) {
    bson_error_t be;
    bson_iter_t it;
    char *w = sl_malloc(t.n + 8);
    memcpy(w, "{\"v\":", 5);
    memcpy(w + 5, t.p, t.n);
    w[5 + t.n] = '}';
    *holder = bson_new_from_json((const uint8_t *)w, (ssize_t)t.n + 6, &be);
    sl_free(w);
    if (*holder && bson_iter_init_find(&it, *holder, "v") && BSON_ITER_HOLDS_UTF8(&it)) return 0;
    if (*holder) bson_destroy(*holder);
    *holder = NULL;
    return -1;
}

static const char *holder_str(const bson_t *h) {
    bson_iter_t it;
    bson_iter_init_find(&it, h, "v");
    return bson_iter_utf8(&it, NULL);
}

static size_t holder_len(const bson_t *h) {
    bson_iter_t it;
    uint32_t n;
    bson_iter_init_find(&it, h, "v");
    bson_iter_utf8(&it, &n);
    return n;
}

/* A JSON string whose content is (extended) JSON: StringRecordConverter. */
static int from_string(span t, bson_t **out, char *err, size_t errsz) {
    bson_error_t be;
    bson_t *holder;
    if (from_string_raw(t, &holder) < 0) {
        snprintf(err, errsz, "not a JSON string");
        return -1;
    }
    *out = bson_new_from_json((const uint8_t *)holder_str(holder), (ssize_t)holder_len(holder), &be);
    bson_destroy(holder);
    if (!*out) {
        snprintf(err, errsz, "a string that is not a JSON document (%s)", be.message);
        return -1;
    }
    return 1;
}

/* ---- the same from the record view's values (payload text read by sl_v_parse, no BSON in between) ---- */

static const char *val_type(sl_vheap *h, sl_val *v) {
    switch (sl_v_kind(h, v)) {
    case SL_V_STR: return "string";
    case SL_V_INT: return "integer";
    case SL_V_REAL: return "number";
    case SL_V_BOOL: return "boolean";
    case SL_V_OBJ: return "object";
    case SL_V_ARR: return "array";
    default: return "null";
    }
}

static bool val_i64(sl_vheap *h, sl_val *v, int64_t *out) {
    switch (sl_v_kind(h, v)) {
    case SL_V_INT: *out = v->i; return true;
    case SL_V_REAL:
        if (!isfinite(v->d) || v->d != floor(v->d) || fabs(v->d) > 9.2e18) return false;
        *out = (int64_t)v->d;
        return true;
    default: return false;
    }
}

static bool val_f64(sl_vheap *h, sl_val *v, double *out) {
    switch (sl_v_kind(h, v)) {
    case SL_V_INT: *out = (double)v->i; return true;
    case SL_V_REAL: *out = v->d; return true;
    default: return false;
    }
}

static int plain_v(sl_vheap *h, sl_val *v, bson_t *out, const char *key, int depth, char *err, size_t errsz) {
    bson_t sub;
    if (depth > SL_MCONV_MAX_DEPTH) {
        snprintf(err, errsz, "nested more than %d levels", SL_MCONV_MAX_DEPTH);
        return -1;
    }
    switch (sl_v_kind(h, v)) {
    case SL_V_INT: BSON_APPEND_INT64(out, key, v->i); return 0;
    case SL_V_REAL: BSON_APPEND_DOUBLE(out, key, v->d); return 0;
    case SL_V_STR: bson_append_utf8(out, key, -1, v->s, (int)v->n); return 0;
    case SL_V_BOOL: BSON_APPEND_BOOL(out, key, v->b); return 0;
    case SL_V_OBJ:
    case SL_V_ARR: {
        sl_v_force(h, v);
        bool arr = v->kind == SL_V_ARR;
        if (arr) BSON_APPEND_ARRAY_BEGIN(out, key, &sub);
        else BSON_APPEND_DOCUMENT_BEGIN(out, key, &sub);
        int rc = 0;
        for (uint32_t i = 0; rc == 0 && i < v->n; i++) {
            char buf[16];
            const char *k = arr ? NULL : v->m[i].name;
            if (arr) bson_uint32_to_string(i, &k, buf, sizeof buf);
            rc = plain_v(h, arr ? v->e[i] : v->m[i].v, &sub, k, depth + 1, err, errsz);
        }
        if (arr) bson_append_array_end(out, &sub);
        else bson_append_document_end(out, &sub);
        return rc;
    }
    default: BSON_APPEND_NULL(out, key); return 0;
    }
}

static int conv_v(const cs *s, sl_vheap *h, sl_val *v, bson_t *out, const char *key, int depth, char *err,
                  size_t errsz);

/* The fields of struct s from object v, in the schema's order (v's members mostly are in that order). */
static int conv_fields_v(const cs *s, sl_vheap *h, sl_val *v, bson_t *out, int depth, char *err, size_t errsz) {
    sl_v_force(h, v);
    for (size_t i = 0; i < s->n; i++) {
        sl_val *f = i < v->n && !strcmp(v->m[i].name, s->names[i]) ? v->m[i].v : sl_v_get(h, v, s->names[i]);
        if (conv_v(s->kids[i], h, f, out, s->names[i], depth + 1, err, errsz) < 0) return -1;
    }
    return 0;
}

static int conv_items_v(const cs *s, sl_vheap *h, sl_val *v, bson_t *out, int depth, char *err, size_t errsz) {
    sl_v_force(h, v);
    bool arr = v->kind == SL_V_ARR;
    for (uint32_t i = 0; i < v->n; i++) {
        char buf[16];
        const char *k = arr ? NULL : v->m[i].name;
        if (arr || s->type == T_ARRAY) bson_uint32_to_string(i, &k, buf, sizeof buf);
        if (conv_v(s->kids[0], h, arr ? v->e[i] : v->m[i].v, out, k, depth + 1, err, errsz) < 0) return -1;
    }
    return 0;
}

/* conv for a value of the view (NULL: missing). */
static int conv_v(const cs *s, sl_vheap *h, sl_val *v, bson_t *out, const char *key, int depth, char *err,
                  size_t errsz) {
    int64_t i;
    double d;
    bson_t sub;
    if (depth > SL_MCONV_MAX_DEPTH) {
        snprintf(err, errsz, "nested more than %d levels", SL_MCONV_MAX_DEPTH);
        return -1;
    }
    sl_vkind k = sl_v_kind(h, v);
    if (k == SL_V_NULL) {
        bson_iter_t def;
        if (s->def && bson_iter_init_find(&def, s->def, "d")) return conv(s, &def, out, key, depth + 1, err, errsz);
        BSON_APPEND_NULL(out, key);
        return 0;
    }
    switch (s->type) {
    case T_ANY: return plain_v(h, v, out, key, depth, err, errsz);
    case T_BOOL:
        if (k != SL_V_BOOL) goto mismatch;
        BSON_APPEND_BOOL(out, key, v->b);
        return 0;
    case T_INT8: case T_INT16: case T_INT32:
        if (!val_i64(h, v, &i) || i < INT32_MIN || i > INT32_MAX) goto mismatch;
        BSON_APPEND_INT32(out, key, (int32_t)i);
        return 0;
    case T_INT64:
        if (!val_i64(h, v, &i)) goto mismatch;
        BSON_APPEND_INT64(out, key, i);
        return 0;
    case T_FLOAT32:
        if (!val_f64(h, v, &d)) goto mismatch;
        BSON_APPEND_DOUBLE(out, key, (double)(float)d);
        return 0;
    case T_FLOAT64:
        if (!val_f64(h, v, &d)) goto mismatch;
        BSON_APPEND_DOUBLE(out, key, d);
        return 0;
    case T_STRING:
        if (k != SL_V_STR) goto mismatch;
        bson_append_utf8(out, key, -1, v->s, (int)v->n);
        return 0;
    case T_DATE: case T_TIME: case T_TIMESTAMP:
        if (!val_i64(h, v, &i)) goto mismatch;
        if (s->type == T_DATE) {
            if (i > INT64_MAX / 86400000 || i < INT64_MIN / 86400000) goto mismatch;
            i *= 86400000;
        }
        BSON_APPEND_DATE_TIME(out, key, i);
        return 0;
    case T_BYTES:
    case T_DECIMAL: {
        bson_decimal128_t dec;
        if (s->type == T_DECIMAL && val_f64(h, v, &d)) { /* decimal.format=NUMERIC */
            char num[64];
            if (k == SL_V_REAL) snprintf(num, sizeof num, "%.17g", d);
            else snprintf(num, sizeof num, "%" PRId64, v->i);
            if (!bson_decimal128_from_string(num, &dec)) goto mismatch;
            BSON_APPEND_DECIMAL128(out, key, &dec);
            return 0;
        }
        if (k != SL_V_STR) goto mismatch;
        return put_base64(s, v->s, v->n, out, key, err, errsz);
    }
    case T_STRUCT:
    case T_MAP: {
        if (k != SL_V_OBJ) goto mismatch;
        BSON_APPEND_DOCUMENT_BEGIN(out, key, &sub);
        int rc = s->type == T_STRUCT ? conv_fields_v(s, h, v, &sub, depth, err, errsz)
                                     : conv_items_v(s, h, v, &sub, depth, err, errsz);
        bson_append_document_end(out, &sub);
        return rc;
    }
    case T_ARRAY: {
        if (k != SL_V_ARR) goto mismatch;
        BSON_APPEND_ARRAY_BEGIN(out, key, &sub);
        int rc = conv_items_v(s, h, v, &sub, depth, err, errsz);
        bson_append_array_end(out, &sub);
        return rc;
    }
    }
mismatch:
    snprintf(err, errsz, "field '%s': a JSON %s does not fit its schema type %s", key, val_type(h, v),
             type_names[s->type]);
    return -1;
}

/* A payload object under s (NULL or T_ANY: schemaless; a map: its values under kids[0]) into *out. */
static int doc_v(const cs *s, sl_vheap *h, sl_val *in, bson_t **out, char *err, size_t errsz) {
    *out = bson_new();
    int rc;
    if (s && s->type == T_STRUCT) {
        rc = conv_fields_v(s, h, in, *out, 0, err, errsz);
    } else {
        sl_v_force(h, in);
        rc = 0;
        for (uint32_t i = 0; rc == 0 && i < in->n; i++)
            rc = s ? conv_v(s->kids[0], h, in->m[i].v, *out, in->m[i].name, 1, err, errsz)
                   : plain_v(h, in->m[i].v, *out, in->m[i].name, 1, err, errsz);
    }
    if (rc < 0) {
        bson_destroy(*out);
        *out = NULL;
        return -1;
    }
    return 1;
}

/* The payload object text t through libbson's JSON reader: extended JSON wrappers ({"$oid": ...}) become
 * their BSON types (schemaless), as mongo-kafka's reader makes them. */
static int walk_doc_bson(const cs *s, span t, bson_t **out, char *err, size_t errsz) {
    bson_error_t be;
    bson_iter_t it;
    bson_t *in = bson_new_from_json((const uint8_t *)t.p, (ssize_t)t.n, &be);
    if (!in) {
        snprintf(err, errsz, "not a JSON object (%s)", be.message);
        return -1;
    }
    *out = bson_new();
    int rc = 0;
    if (s && s->type == T_STRUCT) {
        rc = conv_fields(s, in, *out, 0, err, errsz);
    } else {
        bson_iter_init(&it, in);
        while (rc == 0 && bson_iter_next(&it))
            rc = s ? conv(s->kids[0], &it, *out, bson_iter_key(&it), 1, err, errsz)
                   : plain(&it, *out, bson_iter_key(&it), 1, err, errsz);
    }
    bson_destroy(in);
    if (rc < 0) {
        bson_destroy(*out);
        *out = NULL;
        return -1;
    }
    return 1;
}

/* The payload object text t: read once into values (sl_v_parse, an arena) and written as BSON by the
 * schema. Text with a '$' (possible extended JSON), a \u0000 (which BSON keys cannot hold) or bytes that are
 * not UTF-8 goes through libbson's reader, so that those keep their meaning (or their error) exactly. */
static int walk_doc(const cs *s, span t, bson_t **out, char *err, size_t errsz) {
    if (memchr(t.p, '$', t.n) || memmem(t.p, t.n, "\\u0000", 6) || sl_utf8_invalid_at(t.p, t.n) >= 0)
        return walk_doc_bson(s, t, out, err, errsz);
    sl_vheap h;
    sl_vheap_init(&h);
    char perr[128];
    sl_val *in = sl_v_parse(&h, t.p, t.n, perr, sizeof perr);
    int rc;
    if (!in || in->kind != SL_V_OBJ) {
        snprintf(err, errsz, "not a JSON object (%s)", in ? "not an object" : perr);
        rc = -1;
    } else {
        rc = doc_v(s, &h, in, out, err, errsz);
    }
    sl_vheap_free(&h);
    return rc;
}

/* Raw BSON bytes as base64 (a bytes schema): ByteArrayRecordConverter. */
static int from_bytes(span t, bson_t **out, char *err, size_t errsz) {
    uint8_t *bytes;
    size_t nb;
    bson_t *holder = NULL;
    if (from_string_raw(t, &holder) < 0 || !b64_decode(holder_str(holder), holder_len(holder), &bytes, &nb)) {
        if (holder) bson_destroy(holder);
        snprintf(err, errsz, "a bytes payload that is not base64");
        return -1;
    }
    bson_destroy(holder);
    *out = bson_new_from_data(bytes, nb);
    sl_free(bytes);
    if (!*out || !bson_validate(*out, BSON_VALIDATE_NONE, NULL)) {
        if (*out) bson_destroy(*out);
        *out = NULL;
        snprintf(err, errsz, "a bytes payload that is not a BSON document");
        return -1;
    }
    return 1;
}

static int convert_payload(const cs *s, span pl, bson_t **out, char *err, size_t errsz);

int sl_mconv_json(sl_mconv *c, const char *json, size_t len, bool text, bson_t **out, bool *enveloped, char *err,
                  size_t errsz) {
    span sch, pl;
    const cs *s = NULL;
    *out = NULL;
    bool env = envelope(json, len, &sch, &pl);
    if (enveloped) *enveloped = env;
    if (!env) pl = (span){json, len};
    if (!env && text) { /* a StringConverter's text, not JSON of Connect data */
        bson_error_t be;
        if ((*out = bson_new_from_json((const uint8_t *)json, (ssize_t)len, &be))) return 1;
        snprintf(err, errsz, "not a JSON document (%s)", be.message);
        return -1;
    }
    if (env && !is_null(sch) && !(s = schema_of(c, sch, err, errsz))) return -1;
    return convert_payload(s, pl, out, err, errsz);
}

int sl_mconv_parts(sl_mconv *c, const char *schema, size_t slen, const char *payload, size_t plen, bson_t **out,
                   char *err, size_t errsz) {
    span sch = {schema, slen};
    const cs *s = NULL;
    *out = NULL;
    if (!is_null(sch) && !(s = schema_of(c, sch, err, errsz))) return -1;
    return convert_payload(s, (span){payload, plen}, out, err, errsz);
}

/* The payload text pl under schema s (NULL: schemaless). */
static int convert_payload(const cs *s, span pl, bson_t **out, char *err, size_t errsz) {
    if (s && s->type == T_ANY) s = NULL;
    const char *p = ws(pl.p, pl.p + pl.n);
    pl.n -= (size_t)(p - pl.p);
    pl.p = p;
    while (pl.n && strchr(" \t\r\n", pl.p[pl.n - 1])) pl.n--;
    if (is_null(pl)) return 0;
    if (pl.n && pl.p[0] == '"')
        return s && s->type == T_BYTES ? from_bytes(pl, out, err, errsz) : from_string(pl, out, err, errsz);
    if (!pl.n || pl.p[0] != '{') {
        snprintf(err, errsz, "not a document (%s)", s ? "a payload that is no struct or map" : "not a JSON object");
        return -1;
    }
    if (s && s->type != T_STRUCT && s->type != T_MAP) {
        snprintf(err, errsz, "a JSON object does not fit its schema type %s", type_names[s->type]);
        return -1;
    }
    return walk_doc(s, pl, out, err, errsz);
}

int sl_mconv_schema_new(const char *json, size_t len, sl_mconv_schema **out, char *err, size_t errsz) {
    span sch, pl;
    bson_error_t be;
    *out = NULL;
    if (!envelope(json, len, &sch, &pl)) {
        snprintf(err, errsz, "not a {\"schema\", \"payload\"} envelope");
        return -1;
    }
    if (is_null(sch)) return 0;
    bson_t *d = bson_new_from_json((const uint8_t *)sch.p, (ssize_t)sch.n, &be);
    if (!d) {
        snprintf(err, errsz, "schema: not a JSON object (%s)", be.message);
        return -1;
    }
    *out = compile(d, 0, err, errsz);
    bson_destroy(d);
    return *out ? 0 : -1;
}

void sl_mconv_schema_free(sl_mconv_schema *s) { cs_free(s); }

int sl_mconv_payload_json(const sl_mconv_schema *s, const char *payload, size_t len, bson_t **out, char *err,
                          size_t errsz) {
    *out = NULL;
    return convert_payload(s, (span){payload, len}, out, err, errsz);
}

bool sl_mconv_schema_view_safe(const sl_mconv_schema *s) {
    if (!s) return true;
    if (s->type == T_MAP || s->type == T_ANY) return false;
    for (size_t i = 0; i < s->n; i++)
        if ((s->type == T_STRUCT && s->names[i][0] == '$') || !sl_mconv_schema_view_safe(s->kids[i])) return false;
    return true;
}

int sl_mconv_payload_view(const sl_mconv_schema *s, sl_vheap *h, sl_val *payload, bson_t **out, char *err,
                          size_t errsz) {
    *out = NULL;
    if (!payload || sl_v_is_null(h, payload)) return 0;
    if (!s || s->type != T_STRUCT || sl_v_kind(h, payload) != SL_V_OBJ) {
        snprintf(err, errsz, "not a document (a payload that is no struct)");
        return -1;
    }
    return doc_v(s, h, payload, out, err, errsz);
}
