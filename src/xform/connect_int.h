/*
 * Private parts shared by the files of Kafka Connect's built-in transforms
 * (connect*.c): the key/value accessors, Connect schema helpers, field
 * lists, Java-compatible regexes (PCRE2) and SimpleDateFormat patterns.
 *
 * The transforms work on the record view (core/val.h, xform.h). Values
 * follow the JsonConverter: a Struct is an object whose members follow its
 * schema's fields, a schemaless Map is an object, an integer without a
 * schema is a Long and a real a Double. Logical types keep their JSON form:
 * Timestamp and Time are milliseconds, Date is days.
 */
#ifndef SL_XFORM_CONNECT_INT_H
#define SL_XFORM_CONNECT_INT_H
#include "util/buf.h"
#include "xform/xform.h"

#define CX_TIMESTAMP "org.apache.kafka.connect.data.Timestamp"
#define CX_DATE "org.apache.kafka.connect.data.Date"
#define CX_TIME "org.apache.kafka.connect.data.Time"
#define CX_DECIMAL "org.apache.kafka.connect.data.Decimal"
#define CX_MS_PER_DAY 86400000LL

/* The half of the record a $Key / $Value transform works on. */
static inline sl_val **cx_vschema(sl_xrec *r, bool key) { return key ? &r->vkey_schema : &r->vvalue_schema; }
static inline sl_val **cx_vvalue(sl_xrec *r, bool key) { return key ? &r->vkey : &r->vvalue; }

/* Declares name_key() and name_value(): init functions that call name(settings, cfg, prefix, errs, key). */
#define CX_SIDES(name)                                                                 \
    static void *name##_key(void *s, sl_config *c, const char *p, sl_errs *e) {         \
        return name(s, c, p, e, true);                                                 \
    }                                                                                  \
    static void *name##_value(void *s, sl_config *c, const char *p, sl_errs *e) {       \
        return name(s, c, p, e, false);                                                \
    }

/* ---- schemas ---- */

/* Schemas and values live in h; schemas may be frozen (read them, change copies). */
const char *cx_vtype(sl_vheap *h, sl_val *schema);  /* "struct", "int32", ...; "" when absent */
const char *cx_vname(sl_vheap *h, sl_val *schema);  /* the schema's name, or "" */
bool cx_voptional(sl_vheap *h, sl_val *schema);
/* A new required struct schema with s's name, version, doc and parameters (Connect's copySchemaBasics;
 * shared with s); s NULL: an empty struct schema. */
sl_val *cx_vstruct_like(sl_vheap *h, sl_val *s);
/* The value of field fs (a field schema of obj's struct): obj[name], or the field's default when that is
 * null and with_default (Struct.get vs getWithoutDefault): a copy, as the schema's is frozen and the payload
 * may change in place. NULL when absent. */
sl_val *cx_vget(sl_vheap *h, sl_val *obj, sl_val *fs, bool with_default);
/* cx_vget trying obj's member at position at first (the usual place: -1 for none). */
sl_val *cx_vget_at(sl_vheap *h, sl_val *obj, sl_val *fs, long at, bool with_default);
/* Connect's type name of a schemaless value (Long, Double, String, Map, ...) or "null". */
const char *cx_vjtype(sl_vheap *h, sl_val *v);
/* "Only Map objects supported in absence of schema for [purpose], found: type" (Requirements.requireMap). */
int cx_vneed_map(sl_vheap *h, sl_val *v, const char *purpose, char *errstr, size_t errsz);
int cx_vneed_struct(sl_vheap *h, sl_val *v, const char *purpose, char *errstr, size_t errsz);
/* Struct schema s's "fields" array, or NULL when it has none; a field schema's name, or NULL. */
sl_val *cx_vfields(sl_vheap *h, sl_val *s);
const char *cx_vfield_name(sl_vheap *h, sl_val *fs);
/* Appends field schema fs (its "field" already says its name) to struct schema ns as it is: shared, so
 * without a copy. For a struct built from another's fields, whose names are unique. */
void cx_vkeep_field(sl_vheap *h, sl_val *ns, sl_val *fs);

/* ---- lists ---- */

/* A comma-separated list (Connect's LIST: items trimmed; empty items dropped). */
typedef struct cx_list {
    char **v;
    int n;
} cx_list;
void cx_list_parse(cx_list *l, const char *s);
void cx_list_free(cx_list *l);
bool cx_list_has(const cx_list *l, const char *s);

/* ---- Java numbers ---- */

/* The real that prints as Float.toString(f) does (the JsonConverter writes a float32 that way;
 * Double/Float.toString themselves are util/jnum.h); NULL when f is NaN or infinite (a transform fails on
 * those, as it did when it built JSON trees, which have no such numbers). */
sl_val *cx_vfloat(sl_vheap *h, float f);

/* ---- regexes (java.util.regex semantics through PCRE2) ---- */

typedef struct cx_regex cx_regex;
/* Compiles pattern; on error adds "<key>: invalid regex ..." to errs and returns NULL. */
cx_regex *cx_regex_new(const char *pattern, const char *key, sl_errs *errs);
void cx_regex_free(cx_regex *re);
/* Matcher.matches(): the whole of s. */
bool cx_regex_matches(const cx_regex *re, const char *s);
/* Checks a Matcher replacement string ($n, ${name}, \x) against re's groups; errors name key. */
int cx_regex_check_replacement(const cx_regex *re, const char *repl, const char *key, sl_errs *errs);
/* Matcher.replaceFirst(repl) on s (repl checked); a malloc'd string. */
char *cx_regex_replace_first(const cx_regex *re, const char *s, const char *repl);

/* ---- SimpleDateFormat patterns, always in UTC ---- */

typedef struct cx_datefmt cx_datefmt;
/* Compiles a pattern; unsupported letters are an error naming key. */
cx_datefmt *cx_datefmt_new(const char *pattern, const char *key, sl_errs *errs);
void cx_datefmt_free(cx_datefmt *f);
const char *cx_datefmt_pattern(const cx_datefmt *f);
void cx_datefmt_format(const cx_datefmt *f, int64_t ms, sl_buf *out);
/* SimpleDateFormat.parse (lenient, text after the pattern ignored): 0, or -1 when s does not match. */
int cx_datefmt_parse(const cx_datefmt *f, const char *s, int64_t *ms);
/* Formats ms with a fixed pattern such as "yyyy-MM-dd" (no error possible). */
void cx_format_ms(const char *pattern, int64_t ms, sl_buf *out);

/* ---- the types, by file ---- */

extern const sl_xform_ops cx_insert_field_key, cx_insert_field_value, cx_replace_field_key, cx_replace_field_value,
    cx_extract_field_key, cx_extract_field_value, cx_value_to_key, cx_hoist_field_key, cx_hoist_field_value,
    cx_filter, cx_insert_header, cx_drop_headers, cx_header_from_key, cx_header_from_value; /* connect.c */
extern const sl_xform_ops cx_regex_router, cx_timestamp_router;                         /* connect_route.c */
extern const sl_xform_ops cx_flatten_key, cx_flatten_value, cx_mask_field_key, cx_mask_field_value, cx_cast_key,
    cx_cast_value, cx_ts_conv_key, cx_ts_conv_value;                                    /* connect_conv.c */

#endif
