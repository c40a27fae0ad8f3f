/*
 * Kafka Connect's value-reshaping transforms: Flatten, MaskField, Cast and
 * TimestampConverter, each as a $Key and a $Value type. With a schema the
 * field types come from it (and the new schema is built as Connect's
 * SchemaBuilder would); without one they come from the JSON value as the
 * JsonConverter reads it (integer: Long, real: Double, object: Map).
 */
#include "xform/connect_int.h"
#include "util/codec.h"
#include "util/jnum.h"
#include "util/mem.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define T "org.apache.kafka.connect.transforms."
#define RNWD_DOC                                                                                                     \
    "Whether a null field that has a default value in its schema is replaced by that default (true) or kept null."

/* ---- Flatten ---- */

typedef struct flatten_conf {
    char *delimiter;
} flatten_conf;

static const sl_prop flatten_props[] = {
    {"delimiter", SL_PT_STRING, ".", NULL, 0, 0, 0, offsetof(flatten_conf, delimiter),
     "Put between the names of nested fields to form the flattened field names."},
    {NULL}};

typedef struct side_state {
    const void *c;
    bool key;
} side_state;

static void *side_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    side_state *s = sl_calloc(1, sizeof *s);
    s->c = settings, s->key = key;
    return s;
}
CX_SIDES(side_init)

static void join_name(sl_buf *b, const char *prefix, const char *delim, const char *name) {
    sl_buf_reset(b);
    if (*prefix) sl_buf_puts(b, prefix), sl_buf_puts(b, delim);
    sl_buf_puts(b, name);
    sl_buf_cstr(b);
}

static void flatten_map(sl_vheap *h, sl_val *m, const char *prefix, const char *delim, sl_val *out) {
    sl_buf name;
    sl_buf_init(&name);
    sl_v_force(h, m);
    for (uint32_t i = 0; i < m->n; i++) {
        sl_val *v = m->m[i].v;
        join_name(&name, prefix, delim, m->m[i].name);
        if (sl_v_kind(h, v) == SL_V_OBJ) {
            char *p = sl_strdup(name.data);
            flatten_map(h, v, p, delim, out);
            sl_free(p);
        } else {
            sl_v_set(h, out, name.data, v);
        }
    }
    sl_buf_free(&name);
}

/* Flattens struct value v (NULL: a null struct, its leaves null) of schema s into ns/out. */
static int flatten_struct(sl_vheap *h, sl_val *s, sl_val *v, const char *prefix, const char *delim, bool optional,
                          sl_val *parent_default, sl_val *ns, sl_val *out, char *errstr, size_t errsz) {
    int rc = 0;
    sl_buf name;
    sl_buf_init(&name);
    sl_val *fields = cx_vfields(h, s);
    for (uint32_t i = 0; fields && i < fields->n && !rc; i++) {
        sl_val *fs = fields->e[i];
        const char *fname = cx_vfield_name(h, fs);
        if (!fname) continue;
        join_name(&name, prefix, delim, fname);
        bool fopt = optional || cx_voptional(h, fs);
        sl_val *def = sl_v_get(h, fs, "default");
        if (!def && parent_default) def = sl_v_get(h, parent_default, fname);
        if (def && sl_v_is_null(h, def)) def = NULL;
        const char *type = cx_vtype(h, fs);
        sl_val *fv = v ? cx_vget(h, v, fs, true) : NULL;
        if (strcmp(type, "struct") == 0) {
            char *p = sl_strdup(name.data);
            rc = flatten_struct(h, fs, sl_v_is_null(h, fv) ? NULL : fv, p, delim, fopt, def, ns, out, errstr, errsz);
            sl_free(p);
        } else if (strcmp(type, "map") == 0) {
            snprintf(errstr, errsz, "Flatten does not support MAP for records with schemas (for field %s)", name.data);
            rc = -1;
        } else if (sl_vschema_field(h, ns, name.data)) {
            snprintf(errstr, errsz, "flattened field name '%s' is not unique", name.data);
            rc = -1;
        } else {
            sl_val *nf = sl_v_clone(h, fs); /* the default is the schema's: shared, frozen */
            sl_v_set_ref(h, nf, "optional", 8, sl_v_bool(h, fopt));
            if (def) sl_v_set_ref(h, nf, "default", 7, def);
            sl_vschema_put_field(h, ns, name.data, nf);
            sl_v_set(h, out, name.data, fv ? fv : sl_v_null(h));
        }
    }
    sl_buf_free(&name);
    return rc;
}

static int flatten_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    side_state *s = st;
    sl_vheap *h = r->heap;
    const char *delim = ((const flatten_conf *)s->c)->delimiter;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    if (sl_v_is_null(h, *vp)) return SL_X_KEEP;
    sl_val *out = sl_v_obj(h, 8);
    if (!*sp) {
        if (cx_vneed_map(h, *vp, "flattening", errstr, errsz)) return SL_X_ERROR;
        flatten_map(h, *vp, "", delim, out);
        *vp = out;
        return SL_X_KEEP;
    }
    if (cx_vneed_struct(h, *vp, "flattening", errstr, errsz)) return SL_X_ERROR;
    sl_val *ns = cx_vstruct_like(h, *sp);
    if (flatten_struct(h, *sp, *vp, "", delim, cx_voptional(h, *sp), sl_v_get(h, *sp, "default"), ns, out, errstr,
                       errsz) < 0)
        return SL_X_ERROR;
    *sp = ns;
    *vp = out;
    return SL_X_KEEP;
}

#define FLATTEN_DOC                                                                                                  \
    "Flattens nested structs (or maps) into one level, joining the field names with a delimiter; arrays are kept " \
    "as they are."
const sl_xform_ops cx_flatten_value = {"Flatten$Value", T "Flatten$Value", FLATTEN_DOC " Works on the value.",
                                       flatten_props, sizeof(flatten_conf), side_init_value, NULL, sl_free,
                                       .apply_v = flatten_apply};
const sl_xform_ops cx_flatten_key = {"Flatten$Key", T "Flatten$Key", FLATTEN_DOC " Works on the key.", flatten_props,
                                     sizeof(flatten_conf), side_init_key, NULL, sl_free, .apply_v = flatten_apply};

/* ---- numbers shared by MaskField and Cast ---- */

static bool is_int_type(const char *t) { return !strncmp(t, "int", 3); }
static bool is_float_type(const char *t) { return !strncmp(t, "float", 5); }

/* Java's narrowing of a long to the width of int type t (byteValue, shortValue, intValue). */
static int64_t narrow(int64_t v, const char *t) {
    if (!strcmp(t, "int8")) return (int8_t)(uint8_t)(uint64_t)v;
    if (!strcmp(t, "int16")) return (int16_t)(uint16_t)(uint64_t)v;
    if (!strcmp(t, "int32")) return (int32_t)(uint32_t)(uint64_t)v;
    return v;
}

/* Java's (long) d and (int) d: saturating, NaN 0. */
static int64_t d2l(double d, bool to_int) {
    double lo = to_int ? -2147483648.0 : -9223372036854775808.0, hi = to_int ? 2147483647.0 : 9223372036854775807.0;
    if (isnan(d)) return 0;
    if (d <= lo) return (int64_t)lo;
    if (d >= hi) return to_int ? INT32_MAX : INT64_MAX;
    return (int64_t)d;
}

/* A number of Connect type t from a double (float32 printed as Java prints a float). NULL for NaN and the
 * infinities, which fail the transform (JSON has no such numbers). */
static sl_val *fp_val(sl_vheap *h, const char *t, double d) {
    if (!strcmp(t, "float32")) return cx_vfloat(h, (float)d);
    return isfinite(d) ? sl_v_real(h, d) : NULL;
}

/* Parses s as Java's Double.parseDouble does (trimmed, optional f/d suffix). */
static int parse_java_double(const char *s, double *d) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    char *end;
    if (!*s) return -1;
    *d = strtod(s, &end);
    if (end == s) return -1;
    if (*end && strchr("fFdD", *end)) end++;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
    return *end ? -1 : 0;
}

/* Parses s as Byte/Short/Integer/Long.parseX for int type t: -1 when not a number or out of range. */
static int parse_java_int(const char *s, const char *t, int64_t *v) {
    const char *p = s + (*s == '+' || *s == '-');
    if (!*p) return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return -1;
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno) return -1;
    if (narrow(n, t) != n) return -1;
    *v = n;
    return 0;
}

/* ---- decimals (org.apache.kafka.connect.data.Decimal: base64 of the big-endian unscaled value) ---- */

/* The unscaled value of a Decimal payload; -1 when it is not base64 or does not fit 64 bits. */
static int decimal_unscaled(const char *b64, int64_t *out) {
    uint8_t bytes[SL_B64_DECODED_MAX(16)];
    size_t n = strlen(b64);
    if (n > 16 || !sl_b64_decode(b64, n, bytes, &n) || n == 0 || n > 8) return -1;
    uint64_t u = bytes[0] & 0x80 ? UINT64_MAX : 0;
    for (size_t i = 0; i < n; i++) u = (u << 8) | bytes[i];
    *out = (int64_t)u;
    return 0;
}

/* The scale of a Decimal schema; INT32_MIN when beyond what is supported (|scale| > 100). */
static int decimal_scale(sl_vheap *h, sl_val *schema) {
    const char *s = sl_v_strval(h, sl_v_get(h, sl_v_get(h, schema, "parameters"), "scale"), NULL);
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 100 || v < -100 ? INT32_MIN : (int)v;
}

/* BigDecimal.toString of unscaled u and scale. */
static void decimal_string(sl_buf *out, int64_t u, int scale) {
    char dig[32];
    bool neg = u < 0;
    snprintf(dig, sizeof dig, "%llu", neg ? 0ULL - (unsigned long long)u : (unsigned long long)u);
    int n = (int)strlen(dig), adjusted = -scale + n - 1;
    if (neg) sl_buf_putc(out, '-');
    if (scale >= 0 && adjusted >= -6) {
        if (scale == 0) return sl_buf_puts(out, dig);
        if (n > scale) {
            sl_buf_put(out, dig, (size_t)(n - scale));
            sl_buf_putc(out, '.');
            sl_buf_puts(out, dig + n - scale);
        } else {
            sl_buf_puts(out, "0.");
            for (int i = n; i < scale; i++) sl_buf_putc(out, '0');
            sl_buf_puts(out, dig);
        }
        return;
    }
    sl_buf_putc(out, dig[0]);
    if (n > 1) sl_buf_putc(out, '.'), sl_buf_puts(out, dig + 1);
    sl_buf_printf(out, "E%s%d", adjusted >= 0 ? "+" : "", adjusted);
}

/* ---- MaskField ---- */

typedef struct mask_conf {
    char *fields, *replacement;
    bool rnwd;
} mask_conf;

#define F(x) offsetof(mask_conf, x)
static const sl_prop mask_props[] = {
    {"fields", SL_PT_LIST, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(fields), "Names of the fields to mask."},
    {"replacement", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(replacement),
     "A replacement for numeric and string fields, converted to the field's type (not empty). Without it, a field "
     "becomes the empty value of its type: 0, 0.0, false, \"\", [], {}, the epoch for Date/Time/Timestamp."},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(rnwd), RNWD_DOC},
    {NULL}};
#undef F

typedef struct mask_state {
    const mask_conf *c;
    bool key;
    cx_list fields;
} mask_state;

static void mask_free(void *st) {
    mask_state *s = st;
    cx_list_free(&s->fields);
    sl_free(s);
}

static void *mask_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    mask_conf *c = settings;
    if (c->replacement && !*c->replacement) {
        sl_errs_add(errs, "%sreplacement: must not be empty (leave it unset to mask with empty values)", prefix);
        return NULL;
    }
    mask_state *s = sl_calloc(1, sizeof *s);
    s->c = c, s->key = key;
    cx_list_parse(&s->fields, c->fields);
    if (s->fields.n == 0) {
        sl_errs_add(errs, "%sfields: must be a non-empty list", prefix);
        mask_free(s);
        return NULL;
    }
    return s;
}
CX_SIDES(mask_init)

/* Connect's type of a schemaless value (as the JsonConverter reads it), or "?". */
static const char *value_type(sl_vheap *h, sl_val *v) {
    switch (sl_v_kind(h, v)) {
    case SL_V_INT: return "int64";
    case SL_V_REAL: return "float64";
    case SL_V_STR: return "string";
    case SL_V_BOOL: return "boolean";
    case SL_V_ARR: return "array";
    case SL_V_OBJ: return "map";
    default: return "?";
    }
}

/* The masked form of v (field `name`, schema fs or NULL), or NULL with errstr set. */
static sl_val *masked(const mask_state *s, sl_vheap *h, const char *name, sl_val *fs, sl_val *v, char *errstr,
                      size_t errsz) {
    if (sl_v_is_null(h, v)) return sl_v_null(h);
    const char *type = fs ? cx_vtype(h, fs) : value_type(h, v);
    const char *lname = fs ? cx_vname(h, fs) : "";
    bool logical_date = !strcmp(lname, CX_DATE) || !strcmp(lname, CX_TIME) || !strcmp(lname, CX_TIMESTAMP);
    bool decimal = !strcmp(lname, CX_DECIMAL);
    const char *repl = s->c->replacement;
    if (!repl) {
        if (logical_date || (is_int_type(type))) return sl_v_int(h, 0);
        if (decimal) return sl_v_str_ref(h, "AA==", 4);
        if (is_float_type(type)) return fp_val(h, type, 0);
        if (!strcmp(type, "string")) return sl_v_str_ref(h, "", 0);
        if (!strcmp(type, "boolean")) return sl_v_bool(h, false);
        if (!strcmp(type, "array")) return sl_v_arr(h, 0);
        if (!strcmp(type, "map")) return sl_v_obj(h, 0);
        snprintf(errstr, errsz, "cannot mask field '%s': values of type %s cannot be masked", name, type);
        return NULL;
    }
    double d;
    if (!logical_date && !decimal && (is_int_type(type) || is_float_type(type))) {
        if (parse_java_double(repl, &d) < 0) {
            snprintf(errstr, errsz, "cannot mask field '%s' (%s) with replacement '%s': not a number", name, type, repl);
            return NULL;
        }
        sl_val *m = is_int_type(type) ? sl_v_int(h, narrow(d2l(d, false), type)) : fp_val(h, type, d);
        if (!m)
            snprintf(errstr, errsz, "cannot mask field '%s' (%s) with replacement '%s': not a finite %s", name, type,
                     repl, type);
        return m;
    }
    if (!strcmp(type, "string")) return sl_v_str_ref(h, repl, strlen(repl)); /* the settings outlive the record */
    snprintf(errstr, errsz, "cannot mask field '%s': a value of type %s%s%s cannot take a custom replacement", name,
             type, *lname ? " " : "", lname);
    return NULL;
}

static int mask_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    mask_state *s = st;
    sl_vheap *h = r->heap;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    sl_val *nv;
    if (!*sp) {
        if (cx_vneed_map(h, *vp, "mask fields", errstr, errsz)) return SL_X_ERROR;
        nv = sl_v_clone(h, *vp);
        for (int i = 0; i < s->fields.n; i++) {
            const char *f = s->fields.v[i];
            sl_val *m = masked(s, h, f, NULL, sl_v_get(h, *vp, f), errstr, errsz);
            if (!m) return SL_X_ERROR;
            sl_v_set_ref(h, nv, f, strlen(f), m);
        }
    } else {
        if (cx_vneed_struct(h, *vp, "mask fields", errstr, errsz)) return SL_X_ERROR;
        nv = sl_v_obj(h, 8);
        sl_val *fields = cx_vfields(h, *sp);
        for (uint32_t i = 0; fields && i < fields->n; i++) {
            sl_val *fs = fields->e[i];
            const char *name = cx_vfield_name(h, fs);
            if (!name) continue;
            sl_val *v = cx_vget(h, *vp, fs, s->c->rnwd);
            sl_val *m = cx_list_has(&s->fields, name) ? masked(s, h, name, fs, v, errstr, errsz)
                        : v                           ? v
                                                      : sl_v_null(h);
            if (!m) return SL_X_ERROR;
            sl_v_set_ref(h, nv, name, strlen(name), m);
        }
    }
    *vp = nv;
    return SL_X_KEEP;
}

#define MASK_DOC "Replaces the values of fields by an empty value of their type, or by a given replacement."
const sl_xform_ops cx_mask_field_value = {"MaskField$Value", T "MaskField$Value", MASK_DOC " Works on the value.",
                                          mask_props, sizeof(mask_conf), mask_init_value, NULL, mask_free,
                                          .apply_v = mask_apply};
const sl_xform_ops cx_mask_field_key = {"MaskField$Key", T "MaskField$Key", MASK_DOC " Works on the key.",
                                        mask_props, sizeof(mask_conf), mask_init_key, NULL, mask_free,
                                        .apply_v = mask_apply};

/* ---- Cast ---- */

typedef struct cast_conf {
    char *spec;
    bool rnwd;
} cast_conf;

#define F(x) offsetof(cast_conf, x)
static const sl_prop cast_props[] = {
    {"spec", SL_PT_LIST, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(spec),
     "Fields and the types to cast them to, `field1:type,field2:type`, or a single type to cast the whole key or "
     "value. Types: int8, int16, int32, int64, float32, float64, boolean, string (bytes can only be cast to a "
     "base64 string)."},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(rnwd), RNWD_DOC},
    {NULL}};
#undef F

static const char *const cast_types[] = {"int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string"};

typedef struct cast_state {
    const cast_conf *c;
    bool key;
    const char *whole; /* the whole value's target type, or NULL */
    cx_list fields;
    const char **types;
} cast_state;

static void cast_free(void *st) {
    cast_state *s = st;
    cx_list_free(&s->fields);
    sl_free(s->types);
    sl_free(s);
}

static const char *cast_type(const char *name, size_t n) {
    while (n && (*name == ' ' || *name == '\t')) name++, n--;
    while (n && (name[n - 1] == ' ' || name[n - 1] == '\t')) n--;
    for (size_t i = 0; i < sizeof cast_types / sizeof *cast_types; i++)
        if (strlen(cast_types[i]) == n && strncasecmp(name, cast_types[i], n) == 0) return cast_types[i];
    return NULL;
}

static void *cast_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    cast_conf *c = settings;
    cast_state *s = sl_calloc(1, sizeof *s);
    s->c = c, s->key = key;
    cx_list spec;
    cx_list_parse(&spec, c->spec);
    s->types = sl_calloc((size_t)spec.n + 1, sizeof *s->types);
    s->fields.v = sl_calloc((size_t)spec.n + 1, sizeof(char *));
    int bad = 0;
    for (int i = 0; i < spec.n && !bad; i++) {
        const char *item = spec.v[i], *colon = strchr(item, ':');
        const char *tn = colon ? colon + 1 : item;
        const char *t = cast_type(tn, strlen(tn));
        if (colon && strchr(colon + 1, ':')) {
            sl_errs_add(errs, "%sspec: invalid cast '%s' (expected field:type or a single type)", prefix, item);
            bad++;
        } else if (!t) {
            sl_errs_add(errs, "%sspec: invalid type '%s' in '%s' (allowed: int8, int16, int32, int64, float32, "
                              "float64, boolean, string)", prefix, tn, item);
            bad++;
        } else if (!colon) {
            s->whole = t;
        } else {
            s->fields.v[s->fields.n] = sl_strndup(item, (size_t)(colon - item));
            char *f = s->fields.v[s->fields.n];
            size_t n = strlen(f);
            while (n && (f[n - 1] == ' ' || f[n - 1] == '\t')) f[--n] = 0;
            s->types[s->fields.n++] = t;
        }
    }
    if (!bad && s->whole && spec.n > 1) {
        sl_errs_add(errs, "%sspec: a cast of the whole value (a single type) cannot be combined with other casts",
                    prefix);
        bad++;
    }
    cx_list_free(&spec);
    if (bad) {
        cast_free(s);
        return NULL;
    }
    return s;
}
CX_SIDES(cast_init)

/* Values.dateFormatFor: how Cast writes a Date/Time/Timestamp as a string. */
static void logical_string(sl_buf *out, int64_t ms) {
    if (ms < CX_MS_PER_DAY) cx_format_ms("HH:mm:ss.SSS", ms, out);
    else if (ms % CX_MS_PER_DAY == 0) cx_format_ms("yyyy-MM-dd", ms, out);
    else cx_format_ms("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", ms, out);
}

/* Casts v (schema fs, NULL: schemaless) to type t, or NULL with errstr set. */
static sl_val *cast_value(sl_vheap *h, sl_val *fs, sl_val *v, const char *t, const char *what, char *errstr,
                          size_t errsz) {
    sl_vkind vk = sl_v_kind(h, v);
    if (vk == SL_V_NULL) return sl_v_null(h);
    const char *in = fs ? cx_vtype(h, fs) : value_type(h, v);
    const char *lname = fs ? cx_vname(h, fs) : "";
    static const char *const inputs = "|int8|int16|int32|int64|float32|float64|boolean|string|bytes|";
    char probe[32];
    snprintf(probe, sizeof probe, "|%s|", in);
    if (!strstr(inputs, probe)) {
        snprintf(errstr, errsz, "cannot cast %s: casting from %s is not supported (supported: int8, int16, int32, "
                                "int64, float32, float64, boolean, string, bytes)", what, in);
        return NULL;
    }
    /* the source as a long, a double, a boolean or text */
    enum { K_LONG, K_DOUBLE, K_BOOL, K_TEXT } k;
    int64_t l = 0;
    double d = 0;
    bool b = false;
    sl_buf text;
    sl_buf_init(&text);
    sl_val *out = NULL;
    if (!strcmp(lname, CX_DECIMAL)) {
        int64_t u;
        int scale = decimal_scale(h, fs);
        const char *b64 = sl_v_strval(h, v, NULL);
        if (!b64 || decimal_unscaled(b64, &u) < 0 || scale == INT32_MIN) {
            snprintf(errstr, errsz, "cannot cast %s: the decimal is not a base64 value of at most 64 bits with a "
                                    "scale within [-100, 100]", what);
            goto done;
        }
        decimal_string(&text, u, scale);
        if (!strcmp(t, "string")) {
            out = sl_v_str(h, sl_buf_cstr(&text));
            goto done;
        }
        if (scale <= 0) {
            k = K_LONG, l = u;
            for (int i = 0; i < -scale; i++)
                if (__builtin_mul_overflow(l, 10, &l)) {
                    snprintf(errstr, errsz, "cannot cast %s: the decimal does not fit 64 bits", what);
                    goto done;
                }
        } else {
            k = K_DOUBLE, d = strtod(sl_buf_cstr(&text), NULL);
            if (is_int_type(t) || !strcmp(t, "boolean")) { /* BigDecimal.longValue truncates */
                int64_t p = 1;
                for (int i = 0; i < scale && i < 18; i++) p *= 10;
                k = K_LONG, l = u / p;
            }
        }
    } else if (!strcmp(in, "bytes")) {
        if (strcmp(t, "string")) {
            snprintf(errstr, errsz, "cannot cast %s: bytes can only be cast to string", what);
            goto done;
        }
        out = v; /* the JsonConverter's bytes are base64 already */
        goto done;
    } else if (vk == SL_V_INT) {
        k = K_LONG, l = v->i;
        if (!strcmp(t, "string") && (!strcmp(lname, CX_DATE) || !strcmp(lname, CX_TIME) || !strcmp(lname, CX_TIMESTAMP))) {
            logical_string(&text, !strcmp(lname, CX_DATE) ? (int64_t)((uint64_t)l * CX_MS_PER_DAY) : l);
            out = sl_v_str(h, sl_buf_cstr(&text));
            goto done;
        }
    } else if (vk == SL_V_REAL) {
        k = K_DOUBLE, d = v->d;
        if (!strcmp(in, "float32")) d = (float)d;
    } else if (vk == SL_V_BOOL) {
        k = K_BOOL, b = v->b;
    } else if (vk == SL_V_STR) {
        k = K_TEXT;
        sl_buf_puts(&text, v->s); /* up to a NUL, as it always was */
    } else {
        snprintf(errstr, errsz, "cannot cast %s: unexpected JSON value for type %s", what, in);
        goto done;
    }
    const char *s = sl_buf_cstr(&text);
    if (is_int_type(t)) {
        int64_t r = k == K_LONG ? narrow(l, t) : k == K_DOUBLE ? narrow(d2l(d, strcmp(t, "int64") != 0), t) : b;
        if (k == K_TEXT && parse_java_int(s, t, &r) < 0) {
            snprintf(errstr, errsz, "cannot cast %s: value (%s) was out of range for requested data type %s", what, s, t);
            goto done;
        }
        out = sl_v_int(h, r);
    } else if (is_float_type(t)) {
        double r = k == K_LONG ? (double)l : k == K_DOUBLE ? d : b;
        if (k == K_LONG && !strcmp(t, "float32")) r = (float)l;
        if (k == K_TEXT && parse_java_double(s, &r) < 0) {
            snprintf(errstr, errsz, "cannot cast %s: value (%s) is not a number", what, s);
            goto done;
        }
        if (!(out = fp_val(h, t, r))) snprintf(errstr, errsz, "cannot cast %s: the result is not a finite %s", what, t);
    } else if (!strcmp(t, "boolean")) {
        out = sl_v_bool(h, k == K_LONG     ? l != 0
                           : k == K_DOUBLE ? d2l(d, false) != 0
                           : k == K_BOOL   ? b
                                           : !strcasecmp(s, "true"));
    } else {
        sl_buf num;
        sl_buf_init(&num);
        if (k == K_LONG) sl_buf_put_i64(&num, l);
        else if (k == K_DOUBLE && !strcmp(in, "float32")) sl_jnum_put_float(&num, (float)d);
        else if (k == K_DOUBLE) sl_jnum_put_double(&num, d);
        else if (k == K_BOOL) sl_buf_puts(&num, b ? "true" : "false");
        else sl_buf_puts(&num, s);
        out = sl_v_str(h, sl_buf_cstr(&num));
        sl_buf_free(&num);
    }
done:
    sl_buf_free(&text);
    return out;
}

/* The schema of a cast field: type t, the old optional flag (and name etc. when keep_basics), the default cast. */
static sl_val *cast_schema(sl_vheap *h, sl_val *fs, const char *t, bool keep_basics) {
    sl_val *ns = sl_vschema_prim(h, t, cx_voptional(h, fs));
    static const char *const basics[] = {"name", "version", "doc", "parameters"};
    for (size_t i = 0; keep_basics && i < sizeof basics / sizeof *basics; i++) {
        sl_val *v = sl_v_get(h, fs, basics[i]);
        if (v) sl_v_set_ref(h, ns, basics[i], strlen(basics[i]), v); /* shared: schemas are not changed in place */
    }
    sl_val *def = sl_v_get(h, fs, "default");
    if (!sl_v_is_null(h, def)) {
        char err[8];
        sl_val *nd = cast_value(h, fs, def, t, "default", err, sizeof err);
        if (nd) sl_v_set_ref(h, ns, "default", 7, nd);
    }
    return ns;
}

static const char *cast_of(const cast_state *s, const char *name) {
    for (int i = s->fields.n - 1; i >= 0; i--)
        if (strcmp(s->fields.v[i], name) == 0) return s->types[i];
    return NULL;
}

static int cast_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    cast_state *s = st;
    sl_vheap *h = r->heap;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    char what[300];
    if (sl_v_is_null(h, *vp)) return SL_X_KEEP;
    if (s->whole) {
        snprintf(what, sizeof what, "the whole %s", s->key ? "key" : "value");
        sl_val *nv = cast_value(h, *sp, *vp, s->whole, what, errstr, errsz);
        if (!nv) return SL_X_ERROR;
        if (*sp) *sp = cast_schema(h, *sp, s->whole, true);
        *vp = nv;
        return SL_X_KEEP;
    }
    if (!*sp) {
        if (cx_vneed_map(h, *vp, "cast types", errstr, errsz)) return SL_X_ERROR;
        sl_val *nv = sl_v_clone(h, *vp);
        for (int i = 0; i < s->fields.n; i++) {
            const char *f = s->fields.v[i];
            snprintf(what, sizeof what, "field '%s'", f);
            sl_val *c = cast_value(h, NULL, sl_v_get(h, *vp, f), s->types[i], what, errstr, errsz);
            if (!c) return SL_X_ERROR;
            sl_v_set_ref(h, nv, f, strlen(f), c);
        }
        *vp = nv;
        return SL_X_KEEP;
    }
    if (cx_vneed_struct(h, *vp, "cast types", errstr, errsz)) return SL_X_ERROR;
    sl_val *ns = cx_vstruct_like(h, *sp), *nv = sl_v_obj(h, 8), *fields = cx_vfields(h, *sp);
    if (cx_voptional(h, *sp)) sl_v_set_ref(h, ns, "optional", 8, sl_v_bool(h, true));
    for (uint32_t i = 0; fields && i < fields->n; i++) {
        sl_val *fs = fields->e[i];
        const char *name = cx_vfield_name(h, fs);
        if (!name) continue;
        const char *t = cast_of(s, name);
        sl_val *v = cx_vget(h, *vp, fs, s->c->rnwd);
        if (!t) {
            cx_vkeep_field(h, ns, fs);
            sl_v_set_ref(h, nv, name, strlen(name), v ? v : sl_v_null(h));
            continue;
        }
        snprintf(what, sizeof what, "field '%s'", name);
        sl_val *c = cast_value(h, fs, v, t, what, errstr, errsz);
        if (!c) return SL_X_ERROR;
        sl_vschema_put_field(h, ns, name, cast_schema(h, fs, t, false));
        sl_v_set_ref(h, nv, name, strlen(name), c);
    }
    *sp = ns;
    *vp = nv;
    return SL_X_KEEP;
}

#define CAST_DOC "Casts fields, or the whole key or value, to another primitive type (schema included)."
const sl_xform_ops cx_cast_value = {"Cast$Value", T "Cast$Value", CAST_DOC " Works on the value.", cast_props,
                                    sizeof(cast_conf), cast_init_value, NULL, cast_free, .apply_v = cast_apply};
const sl_xform_ops cx_cast_key = {"Cast$Key", T "Cast$Key", CAST_DOC " Works on the key.", cast_props,
                                  sizeof(cast_conf), cast_init_key, NULL, cast_free, .apply_v = cast_apply};

/* ---- TimestampConverter ---- */

enum { TT_STRING, TT_UNIX, TT_DATE, TT_TIME, TT_TIMESTAMP };
enum { UP_SECONDS, UP_MILLIS, UP_MICROS, UP_NANOS };

typedef struct tsc_conf {
    char *field, *format;
    int target, precision;
    bool rnwd;
} tsc_conf;

#define F(x) offsetof(tsc_conf, x)
static const sl_prop tsc_props[] = {
    {"field", SL_PT_STRING, "", NULL, 0, 0, 0, F(field),
     "The field holding the timestamp; empty: the whole key or value is the timestamp."},
    {"target.type", SL_PT_ENUM, NULL, "string|unix|Date|Time|Timestamp", 0, 0, SL_PF_REQUIRED, F(target),
     "The representation to convert to: a formatted string, a unix number (see unix.precision), or the Connect "
     "Date (days), Time (milliseconds of the day) or Timestamp (milliseconds) logical type."},
    {"format", SL_PT_STRING, "", NULL, 0, 0, 0, F(format),
     "A java.text.SimpleDateFormat pattern (in UTC): writes target.type string, and reads string input. Letters y M "
     "d D H h k K m s S a E Z X z and 'quoted text'."},
    {"unix.precision", SL_PT_ENUM, "milliseconds", "seconds|milliseconds|microseconds|nanoseconds", 0, 0, 0,
     F(precision), "The unit of unix numbers, written (target.type unix) and read (int64 input)."},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(rnwd), RNWD_DOC},
    {NULL}};
#undef F

typedef struct tsc_state {
    const tsc_conf *c;
    bool key;
    cx_datefmt *fmt; /* NULL when format is empty */
    int precision;   /* UP_* */
} tsc_state;

static void tsc_free(void *st) {
    tsc_state *s = st;
    cx_datefmt_free(s->fmt);
    sl_free(s);
}

static void *tsc_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    tsc_conf *c = settings;
    bool blank = !c->format || !c->format[strspn(c->format, " \t")];
    if (c->target == TT_STRING && blank) {
        sl_errs_add(errs, "%sformat: required when target.type is string (a SimpleDateFormat pattern)", prefix);
        return NULL;
    }
    cx_datefmt *f = NULL;
    if (!blank) {
        char k[300];
        snprintf(k, sizeof k, "%sformat", prefix);
        if (!(f = cx_datefmt_new(c->format, k, errs))) return NULL;
    }
    tsc_state *s = sl_calloc(1, sizeof *s);
    s->c = c, s->key = key, s->fmt = f;
    /* enum order: seconds|milliseconds|microseconds|nanoseconds */
    s->precision = c->precision;
    return s;
}
CX_SIDES(tsc_init)

static sl_val *tsc_schema(sl_vheap *h, int target, bool optional) {
    static const char *const types[] = {"string", "int64", "int32", "int32", "int64"};
    static const char *const names[] = {NULL, NULL, CX_DATE, CX_TIME, CX_TIMESTAMP};
    sl_val *s = sl_vschema_prim(h, types[target], optional);
    if (names[target]) {
        sl_v_set_ref(h, s, "name", 4, sl_v_str_ref(h, names[target], strlen(names[target])));
        sl_v_set_ref(h, s, "version", 7, sl_v_int(h, 1));
    }
    return s;
}

/* The input kind of a field from its schema (TT_*), or -1. */
static int tsc_kind(sl_vheap *h, sl_val *fs) {
    const char *n = cx_vname(h, fs), *t = cx_vtype(h, fs);
    if (!strcmp(n, CX_TIMESTAMP)) return TT_TIMESTAMP;
    if (!strcmp(n, CX_DATE)) return TT_DATE;
    if (!strcmp(n, CX_TIME)) return TT_TIME;
    if (!strcmp(t, "string")) return TT_STRING;
    if (!strcmp(t, "int64")) return TT_UNIX;
    return -1;
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* a * b saturated to the int64 range, as Java's TimeUnit conversions do. */
static int64_t sat_mul(int64_t a, int64_t b) {
    int64_t r;
    if (!__builtin_mul_overflow(a, b, &r)) return r;
    return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
}

/* Converts v of kind `kind` (-1: inferred from the value), or NULL with errstr set. */
static sl_val *tsc_convert(const tsc_state *s, sl_vheap *h, sl_val *v, int kind, const char *what, char *errstr,
                           size_t errsz) {
    sl_vkind vk = sl_v_kind(h, v);
    if (vk == SL_V_NULL) return sl_v_null(h);
    if (kind < 0) kind = vk == SL_V_INT ? TT_UNIX : vk == SL_V_STR ? TT_STRING : -1;
    int64_t ms;
    static const int64_t unit[] = {1000, 1, 1000, 1000000};
    switch (kind) {
    case TT_STRING:
        if (vk != SL_V_STR) {
            snprintf(errstr, errsz, "%s: expected a string timestamp, found %s", what, cx_vjtype(h, v));
            return NULL;
        }
        if (!s->fmt) {
            snprintf(errstr, errsz, "%s: cannot read the string timestamp '%s': no format is configured", what, v->s);
            return NULL;
        }
        if (cx_datefmt_parse(s->fmt, v->s, &ms) < 0) {
            snprintf(errstr, errsz, "%s: could not parse timestamp: value (%s) does not match pattern (%s)", what,
                     v->s, cx_datefmt_pattern(s->fmt));
            return NULL;
        }
        break;
    case TT_UNIX:
        if (vk != SL_V_INT) {
            snprintf(errstr, errsz, "%s: expected a unix timestamp (a Long), found %s", what, cx_vjtype(h, v));
            return NULL;
        }
        ms = v->i;
        ms = s->precision == UP_SECONDS ? sat_mul(ms, 1000) : s->precision == UP_MILLIS ? ms : ms / unit[s->precision];
        break;
    case TT_DATE:
    case TT_TIME:
    case TT_TIMESTAMP:
        if (vk != SL_V_INT) {
            snprintf(errstr, errsz, "%s: expected a Connect Date/Time/Timestamp (an integer), found %s", what,
                     cx_vjtype(h, v));
            return NULL;
        }
        ms = (int64_t)((uint64_t)v->i * (uint64_t)(kind == TT_DATE ? CX_MS_PER_DAY : 1)); /* wraps as in Java */
        break;
    default:
        snprintf(errstr, errsz, "%s: TimestampConverter does not support %s values as timestamps", what,
                 cx_vjtype(h, v));
        return NULL;
    }
    switch (s->c->target) {
    case TT_STRING: {
        sl_buf b;
        sl_buf_init(&b);
        cx_datefmt_format(s->fmt, ms, &b);
        sl_val *r = sl_v_strn(h, b.data ? b.data : "", b.len);
        sl_buf_free(&b);
        return r;
    }
    case TT_UNIX:
        return sl_v_int(h, s->precision == UP_SECONDS ? ms / 1000
                           : s->precision == UP_MILLIS ? ms
                                                       : sat_mul(ms, unit[s->precision]));
    case TT_DATE: return sl_v_int(h, floor_div(ms, CX_MS_PER_DAY));
    case TT_TIME: return sl_v_int(h, ms - floor_div(ms, CX_MS_PER_DAY) * CX_MS_PER_DAY);
    default: return sl_v_int(h, ms);
    }
}

static int tsc_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    tsc_state *s = st;
    sl_vheap *h = r->heap;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    const char *field = s->c->field;
    char what[300];
    if (!*field) snprintf(what, sizeof what, "the %s", s->key ? "key" : "value");
    else snprintf(what, sizeof what, "field '%s'", field);
    if (!*sp) {
        sl_val *nv;
        if (sl_v_is_null(h, *vp) || !*field) {
            if (!(nv = tsc_convert(s, h, *vp, -1, what, errstr, errsz))) return SL_X_ERROR;
        } else {
            if (cx_vneed_map(h, *vp, "converting timestamp formats", errstr, errsz)) return SL_X_ERROR;
            sl_val *c = tsc_convert(s, h, sl_v_get(h, *vp, field), -1, what, errstr, errsz);
            if (!c) return SL_X_ERROR;
            nv = sl_v_clone(h, *vp);
            sl_v_set_ref(h, nv, field, strlen(field), c);
        }
        *vp = sl_v_is_null(h, nv) ? NULL : nv;
        return SL_X_KEEP;
    }
    if (!*field) {
        int kind = tsc_kind(h, *sp);
        if (kind < 0) {
            snprintf(errstr, errsz, "%s: schema type %s is not a timestamp (Timestamp, Date, Time, string or int64)",
                     what, cx_vtype(h, *sp));
            return SL_X_ERROR;
        }
        sl_val *nv = tsc_convert(s, h, *vp, kind, what, errstr, errsz);
        if (!nv) return SL_X_ERROR;
        *sp = tsc_schema(h, s->c->target, cx_voptional(h, *sp));
        *vp = sl_v_is_null(h, nv) ? NULL : nv;
        return SL_X_KEEP;
    }
    bool null = sl_v_is_null(h, *vp);
    if (!null && cx_vneed_struct(h, *vp, "converting timestamp formats", errstr, errsz)) return SL_X_ERROR;
    sl_val *ns = cx_vstruct_like(h, *sp), *nv = null ? NULL : sl_v_obj(h, 8), *fields = cx_vfields(h, *sp);
    if (cx_voptional(h, *sp)) sl_v_set_ref(h, ns, "optional", 8, sl_v_bool(h, true));
    for (uint32_t i = 0; fields && i < fields->n; i++) {
        sl_val *fs = fields->e[i];
        const char *name = cx_vfield_name(h, fs);
        if (!name) continue;
        sl_val *v = nv ? cx_vget(h, *vp, fs, s->c->rnwd) : NULL;
        if (strcmp(name, field) != 0) {
            cx_vkeep_field(h, ns, fs);
            if (nv) sl_v_set_ref(h, nv, name, strlen(name), v ? v : sl_v_null(h));
            continue;
        }
        int kind = tsc_kind(h, fs);
        sl_val *c = NULL;
        if (kind < 0)
            snprintf(errstr, errsz, "%s: schema type %s is not a timestamp (Timestamp, Date, Time, string or int64)",
                     what, cx_vtype(h, fs));
        else if (!nv) c = sl_v_null(h);
        else c = tsc_convert(s, h, v, kind, what, errstr, errsz);
        if (!c) return SL_X_ERROR;
        sl_vschema_put_field(h, ns, name, tsc_schema(h, s->c->target, cx_voptional(h, fs)));
        if (nv) sl_v_set_ref(h, nv, name, strlen(name), c);
    }
    *sp = ns;
    if (nv) *vp = nv;
    return SL_X_KEEP;
}

#define TSC_DOC                                                                                                      \
    "Converts a timestamp field, or the whole key or value, between a formatted string, a unix number and the "    \
    "Connect Date, Time and Timestamp types. Without a schema the Connect types are written as numbers (days, "     \
    "milliseconds of the day, epoch milliseconds)."
const sl_xform_ops cx_ts_conv_value = {"TimestampConverter$Value", T "TimestampConverter$Value",
                                       TSC_DOC " Works on the value.", tsc_props, sizeof(tsc_conf), tsc_init_value,
                                       NULL, tsc_free, .apply_v = tsc_apply};
const sl_xform_ops cx_ts_conv_key = {"TimestampConverter$Key", T "TimestampConverter$Key", TSC_DOC " Works on the key.",
                                     tsc_props, sizeof(tsc_conf), tsc_init_key, NULL, tsc_free, .apply_v = tsc_apply};
