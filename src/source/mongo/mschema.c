/*
 * Connect schemas and values for mongo-kafka's output.format=schema (see
 * mschema.h). A schema is a small tree; values are written straight as the
 * JSON JsonConverter would produce for them (no Connect objects in between).
 */
#include "source/mongo/mschema.h"
#include "util/jnum.h"
#include "util/mem.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char SL_MSCHEMA_DEFAULT_KEY[] =
    "{\"type\": \"record\", \"name\": \"keySchema\", \"fields\" : [{\"name\": \"_id\", \"type\": \"string\"}]}";

const char SL_MSCHEMA_DEFAULT_VALUE[] =
    "{\"name\": \"ChangeStream\", \"type\": \"record\", \"fields\": ["
    "{ \"name\": \"_id\", \"type\": \"string\" },"
    "{ \"name\": \"operationType\", \"type\": [\"string\", \"null\"] },"
    "{ \"name\": \"fullDocumentBeforeChange\", \"type\": [\"string\", \"null\"] },"
    "{ \"name\": \"fullDocument\", \"type\": [\"string\", \"null\"] },"
    "{ \"name\": \"ns\", \"type\": [{\"name\": \"ns\", \"type\": \"record\", \"fields\": ["
    "{\"name\": \"db\", \"type\": \"string\"}, {\"name\": \"coll\", \"type\": [\"string\", \"null\"] } ] }, \"null\" ] },"
    "{ \"name\": \"to\", \"type\": [{\"name\": \"to\", \"type\": \"record\", \"fields\": ["
    "{\"name\": \"db\", \"type\": \"string\"}, {\"name\": \"coll\", \"type\": [\"string\", \"null\"] } ] }, \"null\" ] },"
    "{ \"name\": \"documentKey\", \"type\": [\"string\", \"null\"] },"
    "{ \"name\": \"updateDescription\", \"type\": [{\"name\": \"updateDescription\", \"type\": \"record\", "
    "\"fields\": [{\"name\": \"updatedFields\", \"type\": [\"string\", \"null\"]},"
    "{\"name\": \"removedFields\", \"type\": [{\"type\": \"array\", \"items\": \"string\"}, \"null\"]},"
    "{\"name\": \"truncatedArrays\", \"type\": [{ \"type\":\"array\", \"items\": {\"type\": \"record\", "
    "\"name\": \"truncatedArray\", \"fields\": [{\"name\": \"field\", \"type\": \"string\"},"
    "{\"name\": \"newSize\", \"type\": \"int\"} ] } }, \"null\" ] },"
    "{\"name\": \"disambiguatedPaths\", \"type\": [\"string\", \"null\"]} ]}, \"null\"] },"
    "{ \"name\": \"clusterTime\", \"type\": [\"string\", \"null\"] },"
    "{ \"name\": \"txnNumber\", \"type\": [\"long\", \"null\"]},"
    "{ \"name\": \"lsid\", \"type\": [{\"name\": \"lsid\", \"type\": \"record\", \"fields\": [ "
    "{\"name\": \"id\", \"type\": \"string\"}, {\"name\": \"uid\", \"type\": \"string\"}] }, \"null\"] } ]}";

typedef enum { M_BOOL, M_INT8, M_INT16, M_INT32, M_INT64, M_FLOAT32, M_FLOAT64, M_STRING, M_BYTES, M_ARRAY, M_MAP,
               M_STRUCT } mtype;
static const char *const mtype_names[] = {"boolean", "int8", "int16", "int32", "int64", "float", "double", "string",
                                          "bytes", "array", "map", "struct"};
typedef enum { L_NONE, L_DECIMAL, L_TIMESTAMP } mlogical;

struct sl_mschema {
    mtype type;
    mlogical logical;
    bool optional, sentinel; /* sentinel: a null seen by inference (an optional string until combined) */
    int32_t scale;
    char *name;
    char *def;     /* the default as JSON text, or NULL */
    size_t n;      /* struct: fields; array / map: kids[0] is the element / value schema */
    char **fields;
    sl_mschema **kids;
};

static sl_mschema *ms_new(mtype t, bool optional) {
    sl_mschema *s = sl_calloc(1, sizeof *s);
    s->type = t;
    s->optional = optional;
    return s;
}

void sl_mschema_free(sl_mschema *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->fields) sl_free(s->fields[i]);
        sl_mschema_free(s->kids[i]);
    }
    sl_free(s->fields);
    sl_free(s->kids);
    sl_free(s->name);
    sl_free(s->def);
    sl_free(s);
}

static void add_kid(sl_mschema *s, const char *field, sl_mschema *kid) {
    s->kids = sl_realloc(s->kids, (s->n + 1) * sizeof *s->kids);
    if (s->type == M_STRUCT) {
        s->fields = sl_realloc(s->fields, (s->n + 1) * sizeof *s->fields);
        s->fields[s->n] = sl_strdup(field);
    }
    s->kids[s->n++] = kid;
}

static sl_mschema *ms_clone(const sl_mschema *s) {
    sl_mschema *c = ms_new(s->type, s->optional);
    c->logical = s->logical;
    c->sentinel = s->sentinel;
    c->scale = s->scale;
    c->name = s->name ? sl_strdup(s->name) : NULL;
    c->def = s->def ? sl_strdup(s->def) : NULL;
    for (size_t i = 0; i < s->n; i++) add_kid(c, s->fields ? s->fields[i] : NULL, ms_clone(s->kids[i]));
    return c;
}

/* ---- Avro ---- */

typedef struct named {
    const char **names;
    const sl_mschema **schemas;
    size_t n;
} named;

static sl_mschema *avro(const bson_iter_t *it, bool optional, const bson_iter_t *def, named *nm, const char *path,
                        int depth, char *err, size_t errsz);

static bool prim_of(const char *t, mtype *out) {
    static const struct {
        const char *avro;
        mtype t;
    } p[] = {{"string", M_STRING}, {"bytes", M_BYTES},     {"int", M_INT32},       {"long", M_INT64},
             {"float", M_FLOAT32}, {"double", M_FLOAT64}, {"boolean", M_BOOL}};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        if (!strcmp(t, p[i].avro)) return *out = p[i].t, true;
    return false;
}

static int fail_at(char *err, size_t errsz, const char *path, const char *msg) {
    if (path && *path) snprintf(err, errsz, "Field '%s' is invalid. %s", path, msg);
    else snprintf(err, errsz, "%s", msg);
    return -1;
}

static sl_mschema *avro_record(const bson_t *d, bool optional, named *nm, const char *path, int depth, char *err,
                               size_t errsz) {
    bson_iter_t it, f, fi;
    const char *name = bson_iter_init_find(&it, d, "name") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                                                         : "";
    const char *ns = bson_iter_init_find(&it, d, "namespace") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                                                            : NULL;
    sl_mschema *s = ms_new(M_STRUCT, optional);
    char full[512];
    snprintf(full, sizeof full, "%s%s%s", ns && *ns && !strchr(name, '.') ? ns : "", ns && *ns && !strchr(name, '.')
             ? "." : "", name);
    s->name = sl_strdup(full);
    if (!bson_iter_init_find(&it, d, "fields") || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &f)) {
        fail_at(err, errsz, path, "Invalid Avro schema: a record without a fields array.");
        goto bad;
    }
    while (bson_iter_next(&f)) {
        bson_iter_t t, dv;
        if (!BSON_ITER_HOLDS_DOCUMENT(&f) || !bson_iter_recurse(&f, &fi) || !bson_iter_find(&fi, "name") ||
            !BSON_ITER_HOLDS_UTF8(&fi)) {
            fail_at(err, errsz, path, "Invalid Avro schema: a record field without a name.");
            goto bad;
        }
        const char *fname = bson_iter_utf8(&fi, NULL);
        char fpath[512];
        snprintf(fpath, sizeof fpath, "%s%s%s", path, *path ? "." : "", fname);
        bson_iter_recurse(&f, &t);
        if (!bson_iter_find(&t, "type")) {
            fail_at(err, errsz, fpath, "Invalid Avro schema: a field without a type.");
            goto bad;
        }
        bson_iter_recurse(&f, &dv);
        bool has_def = bson_iter_find(&dv, "default");
        sl_mschema *k = avro(&t, false, has_def ? &dv : NULL, nm, fpath, depth + 1, err, errsz);
        if (!k) goto bad;
        add_kid(s, fname, k);
    }
    nm->names = sl_realloc(nm->names, (nm->n + 1) * sizeof *nm->names);
    nm->schemas = sl_realloc(nm->schemas, (nm->n + 1) * sizeof *nm->schemas);
    nm->names[nm->n] = name;
    nm->schemas[nm->n++] = s;
    return s;
bad:
    sl_mschema_free(s);
    return NULL;
}

static sl_mschema *avro(const bson_iter_t *it, bool optional, const bson_iter_t *def, named *nm, const char *path,
                        int depth, char *err, size_t errsz) {
    mtype t;
    sl_mschema *s = NULL;
    if (depth > SL_MEVENT_MAX_DEPTH) {
        fail_at(err, errsz, path, "Invalid Avro schema: nested too deeply.");
        return NULL;
    }
    if (BSON_ITER_HOLDS_UTF8(it)) {
        const char *name = bson_iter_utf8(it, NULL);
        if (prim_of(name, &t)) {
            s = ms_new(t, optional);
        } else {
            for (size_t i = nm->n; i-- > 0 && !s;)
                if (!strcmp(nm->names[i], name)) s = ms_clone(nm->schemas[i]), s->optional = optional;
            if (!s) {
                char msg[256];
                snprintf(msg, sizeof msg, "Unsupported Avro schema type: '%s'.",
                         !strcmp(name, "null") ? "NULL" : name);
                fail_at(err, errsz, path, msg);
                return NULL;
            }
        }
    } else if (BSON_ITER_HOLDS_ARRAY(it)) { /* a union: only [T, "null"] / ["null", T] */
        bson_iter_t u, other;
        int n = 0, nulls = 0;
        bson_iter_recurse(it, &u);
        while (bson_iter_next(&u)) {
            n++;
            if (BSON_ITER_HOLDS_UTF8(&u) && !strcmp(bson_iter_utf8(&u, NULL), "null")) nulls++;
            else other = u;
        }
        if (n != 2 || nulls != 1) {
            fail_at(err, errsz, path, "Union Schemas are not supported, unless one value is null to represent an "
                                      "optional value.");
            return NULL;
        }
        return avro(&other, true, NULL, nm, path, depth + 1, err, errsz);
    } else if (BSON_ITER_HOLDS_DOCUMENT(it)) {
        bson_t d;
        bson_iter_t ti, sub;
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(it, &len, &data);
        bson_init_static(&d, data, len);
        if (!bson_iter_init_find(&ti, &d, "type")) {
            fail_at(err, errsz, path, "Invalid Avro schema: no type.");
            return NULL;
        }
        const char *type = BSON_ITER_HOLDS_UTF8(&ti) ? bson_iter_utf8(&ti, NULL) : NULL;
        if (!type) return avro(&ti, optional, def, nm, path, depth + 1, err, errsz);
        if (!strcmp(type, "record")) {
            s = avro_record(&d, optional, nm, path, depth, err, errsz);
            if (!s) return NULL;
            s = ms_clone(s); /* the named table keeps the original */
        } else if (!strcmp(type, "array") || !strcmp(type, "map")) {
            bool arr = !strcmp(type, "array");
            if (!bson_iter_init_find(&sub, &d, arr ? "items" : "values")) {
                fail_at(err, errsz, path, arr ? "Invalid Avro schema: an array without items."
                                              : "Invalid Avro schema: a map without values.");
                return NULL;
            }
            sl_mschema *k = avro(&sub, false, NULL, nm, path, depth + 1, err, errsz);
            if (!k) return NULL;
            s = ms_new(arr ? M_ARRAY : M_MAP, optional);
            add_kid(s, NULL, k);
        } else if (!strcmp(type, "enum") || !strcmp(type, "fixed")) {
            char msg[256];
            snprintf(msg, sizeof msg, "Unsupported Avro schema type: '%s'. %s", !strcmp(type, "enum") ? "ENUM" : "FIXED",
                     !strcmp(type, "enum") ? "The connector will not validate the values. Use string instead."
                                           : "The connector will not validate the length. Use bytes instead.");
            fail_at(err, errsz, path, msg);
            return NULL;
        } else {
            return avro(&ti, optional, def, nm, path, depth + 1, err, errsz);
        }
    } else {
        fail_at(err, errsz, path, "Invalid Avro schema: a type is a string, an array or an object.");
        return NULL;
    }
    if (def && !BSON_ITER_HOLDS_NULL(def)) {
        sl_buf b;
        sl_buf_init(&b);
        sl_mjson_value(&b, def, SL_MJSON_RELAXED, false);
        s->def = sl_strdup(sl_buf_cstr(&b));
        sl_buf_free(&b);
    }
    return s;
}

sl_mschema *sl_mschema_from_avro(const char *json, char *err, size_t errsz) {
    bson_error_t be;
    bson_iter_t it;
    named nm = {0};
    size_t n = strlen(json);
    char *w = sl_malloc(n + 8);
    snprintf(w, n + 8, "{\"s\":%s}", json);
    bson_t *d = bson_new_from_json((const uint8_t *)w, -1, &be);
    sl_free(w);
    sl_mschema *s = NULL;
    if (!d) {
        snprintf(err, errsz, "Invalid Avro schema. %s", be.message);
        return NULL;
    }
    bson_iter_init_find(&it, d, "s");
    if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
        snprintf(err, errsz, "Only Record schemas are supported at the top-level.");
    } else if ((s = avro(&it, false, NULL, &nm, "", 0, err, errsz)) && s->type != M_STRUCT) {
        snprintf(err, errsz, "Only Record schemas are supported at the top-level.");
        sl_mschema_free(s);
        s = NULL;
    }
    for (size_t i = 0; i < nm.n; i++) sl_mschema_free((sl_mschema *)nm.schemas[i]);
    sl_free(nm.names);
    sl_free(nm.schemas);
    bson_destroy(d);
    return s;
}

/* ---- inference (BsonDocumentToSchema) ---- */

static sl_mschema *infer_value(const char *path, const bson_iter_t *it, int depth);

static int cmp_keys(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static sl_mschema *infer_doc(const char *path, const bson_iter_t *it, bool optional, int depth) {
    bson_iter_t c, f;
    sl_mschema *s = ms_new(M_STRUCT, optional);
    s->name = sl_strdup(path);
    bson_iter_recurse(it, &c);
    size_t n = 0, cap = 16;
    char **keys = sl_malloc(cap * sizeof *keys);
    while (bson_iter_next(&c)) {
        if (!strcmp(bson_iter_key(&c), "_id")) continue;
        if (n == cap) keys = sl_realloc(keys, (cap *= 2) * sizeof *keys);
        keys[n++] = (char *)bson_iter_key(&c);
    }
    qsort(keys, n, sizeof *keys, cmp_keys);
    bson_iter_recurse(it, &c);
    if (bson_iter_find(&c, "_id")) add_kid(s, "_id", infer_value("_id", &c, depth + 1));
    for (size_t i = 0; i < n; i++) {
        char fp[1024];
        if (!strcmp(path, "default")) snprintf(fp, sizeof fp, "%s", keys[i]);
        else snprintf(fp, sizeof fp, "%s_%s", path, keys[i]);
        bson_iter_recurse(it, &f);
        if (bson_iter_find(&f, keys[i])) add_kid(s, keys[i], infer_value(fp, &f, depth + 1));
    }
    sl_free(keys);
    return s;
}

static bool ms_equal(const sl_mschema *a, const sl_mschema *b) {
    if (a->type != b->type || a->optional != b->optional || a->logical != b->logical || a->scale != b->scale ||
        a->n != b->n || a->sentinel != b->sentinel || (!a->name) != (!b->name) || (a->name && strcmp(a->name, b->name)))
        return false;
    for (size_t i = 0; i < a->n; i++)
        if ((a->fields && strcmp(a->fields[i], b->fields[i])) || !ms_equal(a->kids[i], b->kids[i])) return false;
    return true;
}

static sl_mschema *incompatible(void) { return ms_new(M_STRING, true); }

static const sl_mschema *field_of(const sl_mschema *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->fields[i], name)) return s->kids[i];
    return NULL;
}

static sl_mschema *combine(const sl_mschema *a, const sl_mschema *b);

static sl_mschema *combine_field(const sl_mschema *a, const sl_mschema *b) {
    if (!a) return ms_clone(b);
    if (!b || ms_equal(a, b) || b->sentinel) return ms_clone(a);
    if (a->sentinel) return ms_clone(b);
    return combine(a, b);
}

/* combinedSchema: equal schemas stay, a sentinel gives way, arrays and structs merge, the rest is a string. */
static sl_mschema *combine(const sl_mschema *a, const sl_mschema *b) {
    if (a->sentinel) return ms_clone(b);
    if (b->sentinel || ms_equal(a, b)) return ms_clone(a);
    if (a->type != b->type || (a->type != M_ARRAY && a->type != M_STRUCT)) return incompatible();
    sl_mschema *s = ms_new(a->type, true);
    s->name = a->name ? sl_strdup(a->name) : NULL;
    if (a->type == M_ARRAY) {
        add_kid(s, NULL, combine(a->kids[0], b->kids[0]));
        return s;
    }
    const sl_mschema *ia = field_of(a, "_id"), *ib = field_of(b, "_id");
    if (ia || ib) add_kid(s, "_id", combine_field(ia, ib));
    size_t n = 0;
    const char **names = sl_malloc((a->n + b->n + 1) * sizeof *names);
    for (size_t i = 0; i < a->n; i++) names[n++] = a->fields[i];
    for (size_t i = 0; i < b->n; i++) names[n++] = b->fields[i];
    qsort(names, n, sizeof *names, cmp_keys);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(names[i], "_id") || (i && !strcmp(names[i], names[i - 1]))) continue;
        add_kid(s, names[i], combine_field(field_of(a, names[i]), field_of(b, names[i])));
    }
    sl_free(names);
    return s;
}

static sl_mschema *infer_array(const char *path, const bson_iter_t *it, int depth) {
    bson_iter_t c;
    sl_mschema *comb = ms_new(M_STRING, true);
    comb->sentinel = true;
    bson_iter_recurse(it, &c);
    while (bson_iter_next(&c)) {
        sl_mschema *v = infer_value(path, &c, depth + 1), *n = combine(comb, v);
        sl_mschema_free(v);
        sl_mschema_free(comb);
        comb = n; /* (an incompatible mix stays an optional string whatever follows) */
    }
    sl_mschema *s = ms_new(M_ARRAY, true);
    s->name = sl_strdup(path);
    add_kid(s, NULL, comb);
    return s;
}

/* The exponent of a Decimal128 (its BigDecimal scale is -exponent). */
static int32_t dec_scale(const bson_decimal128_t *d) {
    char str[BSON_DECIMAL128_STRING];
    bson_decimal128_to_string(d, str);
    const char *e = strpbrk(str, "Ee"), *dot = strchr(str, '.');
    int32_t frac = 0;
    if (dot) frac = (int32_t)((e ? e : str + strlen(str)) - dot - 1);
    return frac - (e ? (int32_t)strtol(e + 1, NULL, 10) : 0);
}

static sl_mschema *infer_value(const char *path, const bson_iter_t *it, int depth) {
    sl_mschema *s;
    if (depth > SL_MEVENT_MAX_DEPTH) return ms_new(M_STRING, true);
    switch (bson_iter_type(it)) {
    case BSON_TYPE_BOOL: return ms_new(M_BOOL, true);
    case BSON_TYPE_INT32: return ms_new(M_INT32, true);
    case BSON_TYPE_INT64: return ms_new(M_INT64, true);
    case BSON_TYPE_DOUBLE: return ms_new(M_FLOAT64, true);
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t d;
        bson_iter_decimal128(it, &d);
        s = ms_new(M_BYTES, true);
        s->logical = L_DECIMAL;
        s->scale = dec_scale(&d);
        s->name = sl_strdup("org.apache.kafka.connect.data.Decimal");
        return s;
    }
    case BSON_TYPE_DATE_TIME:
    case BSON_TYPE_TIMESTAMP:
        s = ms_new(M_INT64, true);
        s->logical = L_TIMESTAMP;
        s->name = sl_strdup("org.apache.kafka.connect.data.Timestamp");
        return s;
    case BSON_TYPE_DOCUMENT: return infer_doc(path, it, true, depth);
    case BSON_TYPE_ARRAY: return infer_array(path, it, depth);
    case BSON_TYPE_BINARY: return ms_new(M_BYTES, true);
    case BSON_TYPE_NULL:
        s = ms_new(M_STRING, true);
        s->sentinel = true;
        return s;
    default: return ms_new(M_STRING, true);
    }
}

sl_mschema *sl_mschema_infer(const bson_t *doc) {
    bson_t w = BSON_INITIALIZER;
    bson_iter_t it;
    BSON_APPEND_DOCUMENT(&w, "d", doc);
    bson_iter_init_find(&it, &w, "d");
    sl_mschema *s = infer_doc("default", &it, false, 0);
    bson_destroy(&w);
    return s;
}

/* ---- JsonConverter's schema JSON ---- */

void sl_mschema_json(const sl_mschema *s, sl_buf *out) {
    sl_buf_printf(out, "{\"type\":\"%s\"", mtype_names[s->type]);
    if (s->type == M_STRUCT) {
        sl_buf_puts(out, ",\"fields\":[");
        for (size_t i = 0; i < s->n; i++) {
            if (i) sl_buf_putc(out, ',');
            sl_mschema_json(s->kids[i], out);
            out->len--; /* reopen the object for "field" */
            sl_buf_puts(out, ",\"field\":");
            sl_mjson_str(out, s->fields[i], strlen(s->fields[i]));
            sl_buf_putc(out, '}');
        }
        sl_buf_putc(out, ']');
    } else if (s->type == M_ARRAY) {
        sl_buf_puts(out, ",\"items\":");
        sl_mschema_json(s->kids[0], out);
    } else if (s->type == M_MAP) {
        sl_buf_puts(out, ",\"keys\":{\"type\":\"string\",\"optional\":false},\"values\":");
        sl_mschema_json(s->kids[0], out);
    }
    sl_buf_printf(out, ",\"optional\":%s", s->optional ? "true" : "false");
    if (s->name) {
        sl_buf_puts(out, ",\"name\":");
        sl_mjson_str(out, s->name, strlen(s->name));
    }
    if (s->logical) sl_buf_puts(out, ",\"version\":1");
    if (s->logical == L_DECIMAL) sl_buf_printf(out, ",\"parameters\":{\"scale\":\"%" PRId32 "\"}", s->scale);
    if (s->def) sl_buf_printf(out, ",\"default\":%s", s->def);
    sl_buf_putc(out, '}');
}

/* ---- values (BsonValueToSchemaAndValue + JsonConverter) ---- */

static const char *bson_type_name(bson_type_t t) {
    switch (t) {
    case BSON_TYPE_DOUBLE: return "double";
    case BSON_TYPE_UTF8: return "string";
    case BSON_TYPE_DOCUMENT: return "document";
    case BSON_TYPE_ARRAY: return "array";
    case BSON_TYPE_BINARY: return "binary";
    case BSON_TYPE_OID: return "object_id";
    case BSON_TYPE_BOOL: return "boolean";
    case BSON_TYPE_DATE_TIME: return "date_time";
    case BSON_TYPE_NULL: return "null";
    case BSON_TYPE_REGEX: return "regular_expression";
    case BSON_TYPE_INT32: return "int32";
    case BSON_TYPE_TIMESTAMP: return "timestamp";
    case BSON_TYPE_INT64: return "int64";
    case BSON_TYPE_DECIMAL128: return "decimal128";
    default: return "other";
    }
}

static int mismatch(const sl_mschema *s, const bson_iter_t *it, char *err, size_t errsz) {
    snprintf(err, errsz, "Schema type of %s but value was of type: %s", mtype_names[s->type],
             bson_type_name(bson_iter_type(it)));
    return -1;
}

/* The unscaled value of a Decimal128 as two's complement big-endian bytes, base64 (Connect's Decimal). */
static int put_decimal(sl_buf *out, const bson_iter_t *it, char *err, size_t errsz) {
    bson_decimal128_t d;
    char str[BSON_DECIMAL128_STRING];
    uint8_t mag[32] = {0};
    bson_iter_decimal128(it, &d);
    bson_decimal128_to_string(&d, str);
    if (strpbrk(str, "IN")) {
        snprintf(err, errsz, "Decimal128 %s has no Decimal value", str);
        return -1;
    }
    bool neg = str[0] == '-';
    for (const char *p = str + neg; *p && *p != 'E' && *p != 'e'; p++) {
        if (*p == '.') continue;
        unsigned carry = (unsigned)(*p - '0');
        for (size_t i = sizeof mag; i-- > 0;) {
            unsigned v = mag[i] * 10u + carry;
            mag[i] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    if (neg) {
        for (size_t i = 0; i < sizeof mag; i++) mag[i] = (uint8_t)~mag[i];
        for (size_t i = sizeof mag; i-- > 0;)
            if (++mag[i]) break;
    }
    size_t start = 0; /* minimal two's complement (BigInteger.toByteArray) */
    while (start + 1 < sizeof mag && ((mag[start] == 0 && !(mag[start + 1] & 0x80)) ||
                                      (mag[start] == 0xff && (mag[start + 1] & 0x80))))
        start++;
    sl_buf_putc(out, '"');
    sl_buf_put_base64(out, mag + start, sizeof mag - start);
    sl_buf_putc(out, '"');
    return 0;
}

static int put_val(const sl_mschema *s, const bson_iter_t *it, sl_mjson_mode fmt, sl_buf *out, int depth, char *err,
                   size_t errsz);

static int put_struct(const sl_mschema *s, const bson_t *doc, sl_mjson_mode fmt, sl_buf *out, int depth, char *err,
                      size_t errsz) {
    bson_iter_t f;
    sl_buf_putc(out, '{');
    for (size_t i = 0; i < s->n; i++) {
        const sl_mschema *k = s->kids[i];
        if (i) sl_buf_putc(out, ',');
        sl_mjson_str(out, s->fields[i], strlen(s->fields[i]));
        sl_buf_putc(out, ':');
        bool found = bson_iter_init_find(&f, doc, s->fields[i]) ||
                     (strchr(s->fields[i], '.') && bson_iter_init(&f, doc) &&
                      bson_iter_find_descendant(&f, s->fields[i], &f));
        if (found) {
            if (put_val(k, &f, fmt, out, depth + 1, err, errsz) < 0) return -1;
        } else if (k->optional || k->def) {
            sl_buf_puts(out, k->def ? k->def : "null");
        } else {
            sl_buf js;
            sl_buf_init(&js);
            sl_mjson_doc(&js, doc, fmt, true);
            snprintf(err, errsz, "Missing field '%s' in: '%.300s'", s->fields[i], sl_buf_cstr(&js));
            sl_buf_free(&js);
            return -1;
        }
    }
    sl_buf_putc(out, '}');
    return 0;
}

static int put_val(const sl_mschema *s, const bson_iter_t *it, sl_mjson_mode fmt, sl_buf *out, int depth, char *err,
                   size_t errsz) {
    bson_iter_t c;
    bson_t sub;
    uint32_t len;
    const uint8_t *data;
    if (depth > SL_MEVENT_MAX_DEPTH) {
        snprintf(err, errsz, "nested more than %d levels", SL_MEVENT_MAX_DEPTH);
        return -1;
    }
    if (s->optional && BSON_ITER_HOLDS_NULL(it)) {
        sl_buf_puts(out, "null");
        return 0;
    }
    switch (s->type) {
    case M_INT8: case M_INT16: case M_INT32: case M_INT64: case M_FLOAT32: case M_FLOAT64: {
        int64_t i;
        double d;
        bool is_d = false;
        switch (bson_iter_type(it)) {
        case BSON_TYPE_INT32: i = bson_iter_int32(it); break;
        case BSON_TYPE_INT64: i = bson_iter_int64(it); break;
        case BSON_TYPE_DOUBLE: /* Java's (long) cast: saturating, NaN 0 */
            d = bson_iter_double(it), is_d = true;
            i = isnan(d) ? 0 : d >= 9.2233720368547758e18 ? INT64_MAX : d <= -9.2233720368547758e18 ? INT64_MIN
                                                                                                : (int64_t)d;
            break;
        case BSON_TYPE_DATE_TIME: i = bson_iter_date_time(it); break;
        case BSON_TYPE_TIMESTAMP: {
            uint32_t t, inc;
            bson_iter_timestamp(it, &t, &inc);
            i = (int64_t)t * 1000;
            break;
        }
        default: return mismatch(s, it, err, errsz);
        }
        if (!is_d) d = (double)i;
        if (s->type == M_FLOAT32 || s->type == M_FLOAT64) sl_jnum_put_json(out, d, s->type == M_FLOAT32);
        else if (s->type == M_INT8) sl_buf_put_i64(out, (int8_t)i);
        else if (s->type == M_INT16) sl_buf_put_i64(out, (int16_t)i);
        else if (s->type == M_INT32) sl_buf_put_i64(out, (int32_t)i);
        else sl_buf_put_i64(out, i);
        return 0;
    }
    case M_BOOL:
        if (!BSON_ITER_HOLDS_BOOL(it)) return mismatch(s, it, err, errsz);
        sl_buf_puts(out, bson_iter_bool(it) ? "true" : "false");
        return 0;
    case M_STRING: {
        sl_buf t;
        sl_buf_init(&t);
        if (BSON_ITER_HOLDS_UTF8(it)) {
            const char *str = bson_iter_utf8(it, &len);
            sl_mjson_str(out, str, len);
            sl_buf_free(&t);
            return 0;
        }
        if (BSON_ITER_HOLDS_DOCUMENT(it)) {
            bson_iter_document(it, &len, &data);
            bson_init_static(&sub, data, len);
            sl_mjson_doc(&t, &sub, fmt, true); /* Java's toJson spacing, as mongo-kafka's strings have it */
        } else {
            sl_mjson_value(&t, it, fmt, true);
            if (t.len >= 2 && t.data[0] == '"' && t.data[t.len - 1] == '"') { /* a string of the value, unquoted */
                bson_error_t be;
                bson_iter_t v;
                sl_buf w;
                sl_buf_init(&w);
                sl_buf_puts(&w, "{\"v\":");
                sl_buf_put(&w, t.data, t.len);
                sl_buf_putc(&w, '}');
                bson_t *p = bson_new_from_json((const uint8_t *)w.data, (ssize_t)w.len, &be);
                sl_buf_free(&w);
                if (p && bson_iter_init_find(&v, p, "v") && BSON_ITER_HOLDS_UTF8(&v)) {
                    const char *u = bson_iter_utf8(&v, &len);
                    sl_buf_reset(&t);
                    sl_buf_put(&t, u, len);
                }
                if (p) bson_destroy(p);
            }
        }
        sl_mjson_str(out, t.data ? t.data : "", t.len);
        sl_buf_free(&t);
        return 0;
    }
    case M_BYTES:
        switch (bson_iter_type(it)) {
        case BSON_TYPE_UTF8: {
            const char *str = bson_iter_utf8(it, &len);
            sl_buf_putc(out, '"');
            sl_buf_put_base64(out, str, len);
            sl_buf_putc(out, '"');
            return 0;
        }
        case BSON_TYPE_BINARY: {
            bson_subtype_t st;
            bson_iter_binary(it, &st, &len, &data);
            sl_buf_putc(out, '"');
            sl_buf_put_base64(out, data, len);
            sl_buf_putc(out, '"');
            return 0;
        }
        case BSON_TYPE_DECIMAL128:
            if (s->logical != L_DECIMAL) return mismatch(s, it, err, errsz);
            return put_decimal(out, it, err, errsz);
        case BSON_TYPE_DOCUMENT:
            bson_iter_document(it, &len, &data);
            sl_buf_putc(out, '"');
            sl_buf_put_base64(out, data, len);
            sl_buf_putc(out, '"');
            return 0;
        default: return mismatch(s, it, err, errsz);
        }
    case M_ARRAY: {
        if (!BSON_ITER_HOLDS_ARRAY(it)) return mismatch(s, it, err, errsz);
        bson_iter_recurse(it, &c);
        sl_buf_putc(out, '[');
        for (bool first = true; bson_iter_next(&c); first = false) {
            if (!first) sl_buf_putc(out, ',');
            if (put_val(s->kids[0], &c, fmt, out, depth + 1, err, errsz) < 0) return -1;
        }
        sl_buf_putc(out, ']');
        return 0;
    }
    case M_MAP: {
        if (!BSON_ITER_HOLDS_DOCUMENT(it)) return mismatch(s, it, err, errsz);
        bson_iter_recurse(it, &c);
        sl_buf_putc(out, '{');
        for (bool first = true; bson_iter_next(&c); first = false) {
            if (!first) sl_buf_putc(out, ',');
            sl_mjson_str(out, bson_iter_key(&c), bson_iter_key_len(&c));
            sl_buf_putc(out, ':');
            if (put_val(s->kids[0], &c, fmt, out, depth + 1, err, errsz) < 0) return -1;
        }
        sl_buf_putc(out, '}');
        return 0;
    }
    case M_STRUCT:
        if (!BSON_ITER_HOLDS_DOCUMENT(it)) return mismatch(s, it, err, errsz);
        bson_iter_document(it, &len, &data);
        bson_init_static(&sub, data, len);
        return put_struct(s, &sub, fmt, out, depth, err, errsz);
    }
    return mismatch(s, it, err, errsz);
}

int sl_mschema_value(const sl_mschema *s, const bson_t *doc, sl_mjson_mode fmt, sl_buf *out, char *err,
                     size_t errsz) {
    return put_struct(s, doc, fmt, out, 0, err, errsz);
}
