/*
 * Transform types: Debezium's ExtractNewRecordState (unwrap) here, the
 * outbox EventRouter in debezium_outbox.c.
 *
 * unwrap replaces a change envelope by its "after" state (or, for deletes,
 * what delete.tombstone.handling.mode asks for), as Debezium 2.x/3.x do:
 * the value schema becomes the after struct's ("<topic>.Value", no longer
 * optional, as Connect's copySchemaBasics leaves it), add.fields appends
 * optional copies of envelope/source/transaction fields, add.headers adds
 * them as headers, rewrite adds the string field __deleted. Records that are
 * not envelopes (heartbeats, messages, anything without a *.Envelope schema
 * or, schemaless, without "op" and "before"/"after") pass unchanged, as in
 * Debezium; schemaless envelopes are unwrapped too (Debezium passes them).
 */
#include "xform/debezium_int.h"
#include "core/log.h"
#include "util/mem.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const sl_xform_ops *const sl_xforms_debezium[] = {&sl_xform_unwrap_ops, &sl_xform_outbox_ops, NULL};

/* ---- shared helpers ---- */

bool sl_xdbz_is_envelope(sl_xrec *r) {
    sl_vheap *h = r->heap;
    if (sl_v_kind(h, r->vvalue) != SL_V_OBJ) return false;
    if (r->vvalue_schema) {
        size_t len;
        const char *n = sl_v_strval(h, sl_v_get(h, r->vvalue_schema, "name"), &len);
        return n && len >= 9 && strcmp(n + len - 9, ".Envelope") == 0;
    }
    return sl_v_kind(h, sl_v_get(h, r->vvalue, "op")) == SL_V_STR &&
           (sl_v_get(h, r->vvalue, "after") || sl_v_get(h, r->vvalue, "before"));
}

sl_val *sl_xdbz_field_schema(sl_vheap *h, sl_val *fs) {
    if (!fs) return NULL;
    sl_val *c = sl_v_clone(h, fs);
    sl_v_del(h, c, "field");
    return c;
}

sl_val *sl_xdbz_optional_copy(sl_vheap *h, sl_val *fs) {
    sl_val *c = sl_xdbz_field_schema(h, fs);
    sl_v_del(h, c, "default");
    sl_v_set_ref(h, c, "optional", 8, sl_v_bool(h, true));
    return c;
}

/* ---- ExtractNewRecordState ---- */

enum { DTH_DROP, DTH_TOMBSTONE, DTH_REWRITE, DTH_REWRITE_TOMB, DTH_DELETE_TO_TOMB };
enum { DHM_NONE, DHM_DROP, DHM_REWRITE };

typedef struct unwrap_conf {
    int dth;
    bool drop_tombstones;
    int dhm;
    char *route_by_field;
    char *add_fields, *add_fields_prefix;
    char *add_headers, *add_headers_prefix;
    char *drop_fields_header;
    bool drop_fields_from_key, drop_fields_keep_compat;
    bool replace_null_with_default;
} unwrap_conf;

#define F(x) offsetof(unwrap_conf, x)
static const sl_prop unwrap_props[] = {
    {"delete.tombstone.handling.mode", SL_PT_ENUM, "tombstone",
     "drop|tombstone|rewrite|rewrite-with-tombstone|delete-to-tombstone", 0, 0, 0, F(dth),
     "What becomes of deletes and of the tombstones after them. `drop`: both are removed; `tombstone`: the "
     "delete becomes a record with a null value (its schema kept) and the tombstone is removed; `rewrite`: the "
     "delete becomes its `before` state with `__deleted`=\"true\" (inserts and updates get \"false\"), tombstones "
     "are removed; `rewrite-with-tombstone`: as rewrite, tombstones kept; `delete-to-tombstone`: the delete "
     "becomes a tombstone (null value and schema), tombstones are removed. When set, it overrides the deprecated "
     "`drop.tombstones` and `delete.handling.mode`."},
    {"drop.tombstones", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(drop_tombstones),
     "Deprecated (Debezium 2.x; use delete.tombstone.handling.mode): remove tombstones. Used only when "
     "delete.tombstone.handling.mode is not set and this or delete.handling.mode is."},
    {"delete.handling.mode", SL_PT_ENUM, "drop", "none|drop|rewrite", 0, 0, 0, F(dhm),
     "Deprecated (Debezium 2.x; use delete.tombstone.handling.mode): `none` (a null-value record), `drop` or "
     "`rewrite` (`__deleted` field) for deletes. Used only when delete.tombstone.handling.mode is not set and "
     "this or drop.tombstones is."},
    {"route.by.field", SL_PT_STRING, "", NULL, 0, 0, 0, F(route_by_field),
     "A field of the new state (of `before` for deletes) whose string value becomes the topic."},
    {"add.fields", SL_PT_LIST, "", NULL, 0, 0, 0, F(add_fields),
     "Envelope fields to add to the value, as optional fields named <prefix><field> (<prefix><struct>_<field> "
     "when qualified): `op`, `ts_ms`, `ts_us`, `ts_ns` from the envelope, `id`, `total_order`, "
     "`data_collection_order` from `transaction`, any other name from `source`; `struct.field` names one "
     "explicitly (`source.ts_ms`, `transaction.id`); `field:name` renames (the prefix still applies). Fields "
     "that do not exist are skipped."},
    {"add.fields.prefix", SL_PT_STRING, "__", NULL, 0, 0, 0, F(add_fields_prefix),
     "Prefix of the names of add.fields."},
    {"add.headers", SL_PT_LIST, "", NULL, 0, 0, 0, F(add_headers),
     "Envelope fields to add as headers, named as in add.fields; a tombstone gets only the `op` header, \"d\"."},
    {"add.headers.prefix", SL_PT_STRING, "__", NULL, 0, 0, 0, F(add_headers_prefix),
     "Prefix of the names of add.headers."},
    {"drop.fields.header.name", SL_PT_STRING, "", NULL, 0, 0, 0, F(drop_fields_header),
     "A header holding a list of field names (a JSON array, or a comma-separated string) to remove from the "
     "value."},
    {"drop.fields.from.key", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(drop_fields_from_key),
     "Remove the fields named by drop.fields.header.name from the key too."},
    {"drop.fields.keep.schema.compatible", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(drop_fields_keep_compat),
     "Remove only the named fields whose schema is optional (so the schema stays compatible); false removes "
     "every named field."},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(replace_null_with_default),
     "In the rewrite modes, a null field whose schema has a default gets the default (Connect's Struct.get, as "
     "Debezium's InsertField delegate does)."},
    {NULL}};
#undef F

/* A reference to an envelope field: `struct.field[:name]` or `field[:name]`. */
typedef struct fref {
    char *strct;   /* "source", "transaction", NULL: the envelope itself */
    char *field;
    char *name;    /* output field / header name, prefix included */
} fref;

typedef struct unwrap {
    const unwrap_conf *c;
    int del;               /* DHM_NONE (null value), DHM_DROP, DHM_REWRITE, or -1: to a tombstone */
    bool keep_tombstones;
    fref *fields, *headers;
    int nfields, nheaders;
} unwrap;

static const char *implied_struct(const char *f) {
    if (!strcmp(f, "id") || !strcmp(f, "total_order") || !strcmp(f, "data_collection_order")) return "transaction";
    if (!strcmp(f, "op") || !strcmp(f, "ts_ms") || !strcmp(f, "ts_us") || !strcmp(f, "ts_ns")) return NULL;
    if (!strcmp(f, "updateDescription")) return "updateDescription";
    return "source";
}

/* Parses a comma-separated list of field references; errors name key. */
static fref *parse_frefs(const char *list, const char *prefix, const char *key, int *n, sl_errs *errs) {
    *n = 0;
    size_t cap = 1;
    for (const char *p = list ? list : ""; *p; p++) cap += *p == ',';
    fref *v = sl_calloc(cap, sizeof *v);
    const char *p = list ? list : "";
    while (*p) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        char item[256];
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        snprintf(item, sizeof item, "%.*s", (int)(b - a), a);
        p = *e ? e + 1 : e;
        if (!item[0]) continue;
        char *colon = strchr(item, ':');
        if (colon && (strchr(colon + 1, ':') || !colon[1] || colon == item)) {
            sl_errs_add(errs, "%s: unexpected field name '%s' (expected field, struct.field or field:name)", key, item);
            continue;
        }
        if (colon) *colon = 0;
        char *dot = strchr(item, '.');
        if (dot && (strchr(dot + 1, '.') || !dot[1] || dot == item)) {
            sl_errs_add(errs, "%s: unexpected field name '%s' (expected field, struct.field or field:name)", key, item);
            continue;
        }
        fref *f = &v[(*n)++];
        char name[512];
        if (dot) {
            *dot = 0;
            f->strct = sl_strdup(item);
            f->field = sl_strdup(dot + 1);
            snprintf(name, sizeof name, "%s%s_%s", prefix, item, dot + 1);
        } else {
            const char *s = implied_struct(item);
            f->strct = s ? sl_strdup(s) : NULL;
            f->field = sl_strdup(item);
            snprintf(name, sizeof name, "%s%s", prefix, item);
        }
        if (colon) snprintf(name, sizeof name, "%s%s", prefix, colon + 1);
        f->name = sl_strdup(name);
    }
    return v;
}

static void free_frefs(fref *v, int n) {
    for (int i = 0; i < n; i++) {
        sl_free(v[i].strct);
        sl_free(v[i].field);
        sl_free(v[i].name);
    }
    sl_free(v);
}

static void unwrap_free(void *st) {
    unwrap *u = st;
    if (!u) return;
    free_frefs(u->fields, u->nfields);
    free_frefs(u->headers, u->nheaders);
    sl_free(u);
}

static bool key_set(sl_config *cfg, const char *prefix, const char *name) {
    char k[512];
    snprintf(k, sizeof k, "%s%s", prefix, name);
    const char *v = sl_config_get(cfg, k);
    return v && *v;
}

static void *unwrap_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    const unwrap_conf *c = settings;
    int e0 = errs->n;
    unwrap *u = sl_calloc(1, sizeof *u);
    u->c = c;
    if (key_set(cfg, prefix, "delete.tombstone.handling.mode") ||
        !(key_set(cfg, prefix, "drop.tombstones") || key_set(cfg, prefix, "delete.handling.mode"))) {
        static const int del[] = {[DTH_DROP] = DHM_DROP, [DTH_TOMBSTONE] = DHM_NONE, [DTH_REWRITE] = DHM_REWRITE,
                                  [DTH_REWRITE_TOMB] = DHM_REWRITE, [DTH_DELETE_TO_TOMB] = -1};
        u->del = del[c->dth];
        u->keep_tombstones = c->dth == DTH_REWRITE_TOMB;
        if (key_set(cfg, prefix, "drop.tombstones") || key_set(cfg, prefix, "delete.handling.mode"))
            SL_WARN("xform", "%sdrop.tombstones and %sdelete.handling.mode are ignored: "
                    "%sdelete.tombstone.handling.mode is set", prefix, prefix, prefix);
    } else {
        u->del = c->dhm;
        u->keep_tombstones = !c->drop_tombstones;
        SL_WARN("xform", "%sdrop.tombstones and %sdelete.handling.mode are deprecated, "
                "use %sdelete.tombstone.handling.mode", prefix, prefix, prefix);
    }
    char key[512];
    snprintf(key, sizeof key, "%sadd.fields", prefix);
    u->fields = parse_frefs(c->add_fields, c->add_fields_prefix ? c->add_fields_prefix : "", key, &u->nfields, errs);
    snprintf(key, sizeof key, "%sadd.headers", prefix);
    u->headers =
        parse_frefs(c->add_headers, c->add_headers_prefix ? c->add_headers_prefix : "", key, &u->nheaders, errs);
    if (errs->n > e0) {
        unwrap_free(u);
        return NULL;
    }
    return u;
}

/*
 * Finds reference f in envelope v (schema s, NULL when schemaless): its value (NULL for null) and field
 * schema (NULL when schemaless). False when the field does not exist (Debezium then adds nothing). As
 * Debezium: looked up in the named struct, then in the envelope itself (a field another transform added
 * there); a null struct (no transaction) gives a null value.
 */
static bool v_null(sl_xrec *r, sl_val *v) { return sl_v_is_null(r->heap, v); }

static bool v_fref_find(sl_xrec *r, const fref *f, sl_val *s, sl_val *v, sl_val **val, sl_val **fs,
                        bool *found_in_parent) {
    sl_vheap *h = r->heap;
    *val = *fs = NULL;
    *found_in_parent = false;
    sl_val *pv = f->strct ? sl_v_get(h, v, f->strct) : v;
    if (s) {
        sl_val *ps = s;
        if (f->strct) {
            sl_val *sf = sl_vschema_field(h, s, f->strct);
            if (!sf) return false;
            ps = sf;
        }
        bool in_parent = (*fs = sl_vschema_field(h, ps, f->field)) != NULL;
        if (!in_parent && !(*fs = sl_vschema_field(h, s, f->field))) return false;
        *found_in_parent = in_parent;
        if (v_null(r, pv)) return true;
        *val = sl_v_get(h, in_parent ? pv : v, f->field);
        return true;
    }
    if (sl_v_kind(h, pv) == SL_V_OBJ && sl_v_get(h, pv, f->field)) {
        *val = sl_v_get(h, pv, f->field);
        return true;
    }
    if (sl_v_get(h, v, f->field)) {
        *val = sl_v_get(h, v, f->field);
        return true;
    }
    return f->strct && sl_v_get(h, v, f->strct) && v_null(r, pv);
}

/* add.headers (a tombstone: only op, "d"). */
static void v_add_headers(const unwrap *u, sl_xrec *r, bool tomb) {
    for (int i = 0; i < u->nheaders; i++) {
        const fref *f = &u->headers[i];
        if (tomb) {
            if (!strcmp(f->field, "op")) sl_xrec_add_vheader(r, f->name, sl_v_str_ref(r->heap, "d", 1));
            continue;
        }
        sl_val *val, *fs;
        bool in_parent;
        if (v_fref_find(r, f, r->vvalue_schema, r->vvalue, &val, &fs, &in_parent))
            sl_xrec_add_vheader(r, f->name, v_null(r, val) ? NULL : sl_v_copy(r->heap, val));
    }
}

/* Connect's copySchemaBasics: the rebuilt struct schema is no longer optional and has no default. */
static void v_rebuilt(sl_vheap *h, sl_val *schema) {
    if (!schema) return;
    sl_v_set_ref(h, schema, "optional", 8, sl_v_bool(h, false));
    sl_v_del(h, schema, "default");
}

/*
 * What an envelope schema decides for all its records, kept in the step's memo beside the derived schema
 * (variant PLAN + the schema's variant): the derived schema's fields whose default is not null
 * (replace.null.with.default), and which add.fields exist, found in their struct or in the envelope itself.
 * With it, a record's unwrap reads no schema.
 */
enum { PLAN = 16 };
typedef struct uplan {
    sl_val *defaults;            /* field schemas with a default; NULL: not known (and not collected) */
    uint64_t found, in_parent;   /* add.fields bits */
} uplan;

/* schema_final: the value schema already is the derived one (from the step's memo): only the value changes.
 * p: a known plan (p->defaults set), or one to fill (p->defaults an empty array), or NULL. */
static void v_add_deleted(const unwrap *u, sl_xrec *r, const char *deleted, bool schema_final, uplan *p) {
    sl_vheap *h = r->heap;
    if (p && schema_final && p->defaults) {
        for (uint32_t i = 0; u->c->replace_null_with_default && i < p->defaults->n; i++) {
            sl_val *fs = p->defaults->e[i];
            const char *n = sl_v_strval(h, sl_v_get(h, fs, "field"), NULL);
            if (n && v_null(r, sl_v_get(h, r->vvalue, n))) sl_v_set(h, r->vvalue, n, sl_v_get(h, fs, "default"));
        }
    } else if (r->vvalue_schema) {
        if (!schema_final) v_rebuilt(h, r->vvalue_schema);
        sl_val *fields = sl_v_get(h, r->vvalue_schema, "fields");
        for (uint32_t i = 0; u->c->replace_null_with_default && fields && fields->kind == SL_V_ARR && i < fields->n;
             i++) {
            sl_val *fs = fields->e[i];
            const char *n = sl_v_strval(h, sl_v_get(h, fs, "field"), NULL);
            sl_val *def = sl_v_get(h, fs, "default");
            if (!n || !def || v_null(r, def)) continue;
            if (p && p->defaults) sl_v_push(h, p->defaults, fs);
            if (v_null(r, sl_v_get(h, r->vvalue, n))) sl_v_set(h, r->vvalue, n, def);
        }
        if (!schema_final) sl_vschema_put_field(h, r->vvalue_schema, "__deleted", sl_vschema_prim(h, "string", true));
    }
    sl_v_set_ref(h, r->vvalue, "__deleted", 9, sl_v_str_ref(h, deleted, strlen(deleted)));
}

/* add.fields from the original envelope (schema os, value ov) into the unwrapped value; p as v_add_deleted's. */
static void v_add_fields(const unwrap *u, sl_xrec *r, sl_val *os, sl_val *ov, bool schema_final, uplan *p) {
    sl_vheap *h = r->heap;
    if (!schema_final) v_rebuilt(h, r->vvalue_schema);
    bool planned = p && schema_final && p->defaults;
    for (int i = 0; i < u->nfields; i++) {
        const fref *f = &u->fields[i];
        sl_val *val, *fs = NULL;
        if (planned) {
            if (!(p->found >> i & 1)) continue;
            sl_val *pv = f->strct ? sl_v_get(h, ov, f->strct) : ov;
            val = v_null(r, pv) ? NULL : sl_v_get(h, (p->in_parent >> i & 1) ? pv : ov, f->field);
        } else {
            bool in_parent = false;
            if (!v_fref_find(r, f, os, ov, &val, &fs, &in_parent)) continue;
            if (p && p->defaults && i < 64) p->found |= 1ull << i, p->in_parent |= (uint64_t)in_parent << i;
        }
        if (!schema_final && r->vvalue_schema && fs)
            sl_vschema_put_field(h, r->vvalue_schema, f->name, sl_xdbz_optional_copy(h, fs));
        sl_v_set(h, r->vvalue, f->name, v_null(r, val) ? sl_v_null(h) : sl_v_copy(h, val));
    }
}

/* Sets the topic from field `route.by.field` of struct v; SL_X_ERROR when the field is missing or not a string. */
static int v_route(const unwrap *u, sl_xrec *r, sl_val *v, char *err, size_t errsz) {
    const char *f = u->c->route_by_field;
    if (!f || !*f) return SL_X_KEEP;
    sl_val *t = sl_v_get(r->heap, v, f);
    if (!t) {
        snprintf(err, errsz, "route.by.field: field '%s' is not in the record", f);
        return SL_X_ERROR;
    }
    if (v_null(r, t)) return SL_X_KEEP;
    size_t n;
    const char *ts = sl_v_strval(r->heap, t, &n);
    if (!ts) {
        snprintf(err, errsz, "route.by.field: field '%s' is not a string", f);
        return SL_X_ERROR;
    }
    if (n && strspn(ts, " \t\r\n") < n) sl_xrec_set_topic(r, ts);
    return SL_X_KEEP;
}

static bool v_name_in(sl_vheap *h, sl_val *names, const char *n) {
    for (uint32_t i = 0; i < names->n; i++) {
        const char *e = sl_v_strval(h, names->e[i], NULL);
        if (e && !strcmp(e, n)) return true;
    }
    return false;
}

/* Removes the named fields from struct value v and its schema *sp (NULL: schemaless; thawed here when a field
 * goes). */
static void v_drop_named(const unwrap *u, sl_xrec *r, sl_val **sp, sl_val *v, sl_val *names) {
    sl_vheap *h = r->heap;
    if (sl_v_kind(h, v) != SL_V_OBJ) return;
    if (*sp) {
        sl_val *fields = sl_v_get(h, *sp, "fields");
        for (uint32_t i = 0; fields && fields->kind == SL_V_ARR && i < fields->n;) {
            sl_val *fs = fields->e[i];
            const char *n = sl_v_strval(h, sl_v_get(h, fs, "field"), NULL);
            sl_val *opt = sl_v_get(h, fs, "optional");
            bool is_opt = sl_v_kind(h, opt) == SL_V_BOOL && opt->b;
            if (n && v_name_in(h, names, n) && (is_opt || !u->c->drop_fields_keep_compat)) {
                sl_v_del(h, v, n);
                if (fields->frozen) {
                    *sp = sl_v_thaw(h, *sp);
                    fields = sl_v_thaw(h, fields);
                    sl_v_set_ref(h, *sp, "fields", 6, fields);
                }
                sl_v_remove(h, fields, i);
            } else {
                i++;
            }
        }
        return;
    }
    for (uint32_t i = 0; i < names->n; i++) {
        const char *e = sl_v_strval(h, names->e[i], NULL);
        if (e) sl_v_del(h, v, e);
    }
}

/* drop.fields.header.name: the header's list of names (a JSON array, or a comma-separated string). */
static void v_drop_fields(const unwrap *u, sl_xrec *r) {
    sl_vheap *h = r->heap;
    const char *hn = u->c->drop_fields_header;
    if (!hn || !*hn) return;
    sl_val *hv = NULL;
    for (uint32_t i = 0; i < r->vheaders->n; i++) {
        const char *k = sl_v_strval(h, sl_v_get(h, r->vheaders->e[i], "key"), NULL);
        if (k && !strcmp(k, hn)) {
            hv = sl_v_get(h, r->vheaders->e[i], "value");
            break;
        }
    }
    if (v_null(r, hv)) return;
    sl_val *names;
    size_t n;
    const char *hs = sl_v_strval(h, hv, &n);
    if (sl_v_kind(h, hv) == SL_V_ARR) {
        names = hv;
    } else if (hs) {
        names = sl_v_parse(h, hs, n, NULL, 0);
        if (sl_v_kind(h, names) != SL_V_ARR) {
            names = sl_v_arr(h, 4);
            const char *p = hs;
            while (*p) {
                size_t k = strcspn(p, ",");
                const char *a = p, *b = p + k;
                while (a < b && *a == ' ') a++;
                while (b > a && b[-1] == ' ') b--;
                if (b > a) sl_v_push(h, names, sl_v_strn(h, a, (size_t)(b - a)));
                p += k + (p[k] == ',');
            }
        }
    } else {
        return;
    }
    if (u->c->drop_fields_from_key && !v_null(r, r->vkey)) v_drop_named(u, r, &r->vkey_schema, r->vkey, names);
    if (!v_null(r, r->vvalue)) v_drop_named(u, r, &r->vvalue_schema, r->vvalue, names);
}

static int unwrap_apply_v(void *st, sl_xrec *r, char *err, size_t errsz) {
    const unwrap *u = st;
    sl_vheap *h = r->heap;
    bool tomb = v_null(r, r->vvalue);
    bool env = !tomb && sl_xdbz_is_envelope(r);
    if ((env || tomb) && u->nheaders) v_add_headers(u, r, tomb);
    if (tomb) return u->keep_tombstones ? SL_X_KEEP : SL_X_DROP;
    if (!env) return SL_X_KEEP;

    sl_val *os = r->vvalue_schema, *ov = r->vvalue; /* the envelope */
    r->vvalue_schema = r->vvalue = NULL;
    sl_val *after = sl_v_get(h, ov, "after"), *before = sl_v_get(h, ov, "before");
    /* The new value schema depends only on the envelope's schema, the branch taken and whether the new value
     * is an object, unless a header names fields to drop: derived once per envelope schema (the step's memo). */
    bool deleted = v_null(r, after);
    sl_val *base = deleted && u->del == DHM_REWRITE ? before : after;
    int variant = (deleted ? u->del == DHM_REWRITE ? 2 : 1 : 0) * 2 + (sl_v_kind(h, base) == SL_V_OBJ);
    bool memo = os && os->frozen && !(u->c->drop_fields_header && *u->c->drop_fields_header) && u->nfields <= 64;
    sl_val *known = memo ? sl_xrec_memo_get(r, os, variant) : NULL;
    uplan plan = {0};
    sl_val *kplan = known ? sl_xrec_memo_get(r, os, PLAN + variant) : NULL;
    if (kplan && kplan->kind == SL_V_ARR && kplan->n == 3) {
        plan.defaults = kplan->e[0];
        plan.found = (uint64_t)kplan->e[1]->i, plan.in_parent = (uint64_t)kplan->e[2]->i;
    } else if (memo && !known) {
        plan.defaults = sl_v_arr(h, 4); /* collected while the schema is derived */
    }
    uplan *pp = plan.defaults ? &plan : NULL;
    int rc = SL_X_KEEP;
    if (v_null(r, after) && v_null(r, before)) {
        return SL_X_DROP; /* truncate */
    } else if (deleted) {
        if (u->del == DHM_DROP) {
            return SL_X_DROP;
        } else if (u->del == DHM_NONE) {
            r->vvalue_schema = known ? known : sl_xdbz_field_schema(h, os ? sl_vschema_field(h, os, "after") : NULL);
        } else if (u->del == DHM_REWRITE) {
            r->vvalue_schema = known ? known : sl_xdbz_field_schema(h, os ? sl_vschema_field(h, os, "before") : NULL);
            r->vvalue = sl_v_copy(h, before);
            if (sl_v_kind(h, r->vvalue) == SL_V_OBJ) v_add_deleted(u, r, "true", known != NULL, pp);
        }
        if (rc == SL_X_KEEP) rc = v_route(u, r, before, err, errsz);
        if (rc == SL_X_KEEP) v_drop_fields(u, r);
        if (rc == SL_X_KEEP && sl_v_kind(h, r->vvalue) == SL_V_OBJ) v_add_fields(u, r, os, ov, known != NULL, pp);
    } else {
        r->vvalue_schema = known ? known : sl_xdbz_field_schema(h, os ? sl_vschema_field(h, os, "after") : NULL);
        r->vvalue = sl_v_copy(h, after);
        if (u->del == DHM_REWRITE && sl_v_kind(h, r->vvalue) == SL_V_OBJ) v_add_deleted(u, r, "false", known != NULL, pp);
        rc = v_route(u, r, r->vvalue, err, errsz);
        if (rc == SL_X_KEEP && sl_v_kind(h, r->vvalue) == SL_V_OBJ) v_add_fields(u, r, os, ov, known != NULL, pp);
        if (rc == SL_X_KEEP) v_drop_fields(u, r);
    }
    if (rc == SL_X_KEEP && memo && !known) {
        r->vvalue_schema = sl_xrec_memo_put(r, os, variant, r->vvalue_schema);
        /* The plan holds only when the derivation above ran whole (both helpers see an object value). */
        if (sl_v_kind(h, r->vvalue) == SL_V_OBJ) {
            sl_val *pl = sl_v_arr(h, 3);
            sl_v_push(h, pl, plan.defaults);
            sl_v_push(h, pl, sl_v_int(h, (int64_t)plan.found));
            sl_v_push(h, pl, sl_v_int(h, (int64_t)plan.in_parent));
            sl_xrec_memo_put(r, os, PLAN + variant, pl);
        }
    }
    return rc;
}

/* sluice verify: the rows arrive flat; rewrite keeps deleted rows, marked by __deleted. */
static int unwrap_vmap(void *st, sl_vtable *t, char *errstr, size_t errsz) {
    const unwrap *u = st;
    if (u->c->route_by_field && *u->c->route_by_field) {
        snprintf(errstr, errsz, "route.by.field routes each row by one of its values");
        return -1;
    }
    if (u->c->drop_fields_header && *u->c->drop_fields_header) {
        snprintf(errstr, errsz, "drop.fields.header.name drops fields record by record");
        return -1;
    }
    t->flat = true;
    if (u->del == DHM_REWRITE) snprintf(t->deleted, sizeof t->deleted, "__deleted");
    for (int i = 0; i < u->nfields; i++) { /* an added field named like a column replaces it */
        int c = sl_vtable_col(t, u->fields[i].name);
        if (c >= t->nkeys) sl_vtable_drop(t, c);
    }
    return 0;
}

const sl_xform_ops sl_xform_unwrap_ops = {
    .vmap = unwrap_vmap,
    .name = "unwrap",
    .schema_readonly = true, /* the new value schema is a copy; a shared key schema is copied before drops */
    .aliases = "io.debezium.transforms.ExtractNewRecordState",
    .doc = "Debezium's event flattening: replaces each change event by its new row state (see *Debezium's "
           "transforms* above). Without delete.tombstone.handling.mode and the deprecated options the mode is "
           "`tombstone`, Debezium 3.x's default.",
    .props = unwrap_props,
    .settings_size = sizeof(unwrap_conf),
    .init = unwrap_init,
    .apply_v = unwrap_apply_v,
    .free = unwrap_free,
};
