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

bool sl_xdbz_is_envelope(const sl_xrec *r) {
    if (!json_is_object(r->value)) return false;
    if (r->value_schema) {
        const char *n = json_string_value(json_object_get(r->value_schema, "name"));
        size_t len = n ? strlen(n) : 0;
        return len >= 9 && strcmp(n + len - 9, ".Envelope") == 0;
    }
    return json_is_string(json_object_get(r->value, "op")) &&
           (json_object_get(r->value, "after") || json_object_get(r->value, "before"));
}

json_t *sl_xdbz_optional_copy(const json_t *fs) {
    json_t *c = json_deep_copy(fs);
    json_object_del(c, "field");
    json_object_del(c, "default");
    json_object_set_new(c, "optional", json_true());
    return c;
}

json_t *sl_xdbz_field_schema(const json_t *fs) {
    if (!fs) return NULL;
    json_t *c = json_deep_copy(fs);
    json_object_del(c, "field");
    return c;
}

static bool is_null(const json_t *v) { return !v || json_is_null(v); }

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
 * Finds reference f in envelope v (schema s, NULL when schemaless): its value (borrowed, NULL for null)
 * and field schema (borrowed; NULL when schemaless). False when the field does not exist (Debezium then
 * adds nothing). As Debezium: looked up in the named struct, then in the envelope itself (a field another
 * transform added there); a null struct (no transaction) gives a null value.
 */
static bool fref_find(const fref *f, const json_t *s, const json_t *v, json_t **val, json_t **fs) {
    *val = *fs = NULL;
    json_t *pv = f->strct ? json_object_get(v, f->strct) : (json_t *)v;
    if (s) {
        json_t *ps = (json_t *)s;
        if (f->strct) {
            json_t *sf = sl_schema_field(s, f->strct);
            if (!sf) return false;
            ps = sf;
        }
        bool in_parent = (*fs = sl_schema_field(ps, f->field)) != NULL;
        if (!in_parent && !(*fs = sl_schema_field(s, f->field))) return false;
        if (is_null(pv)) return true;
        *val = json_object_get(in_parent ? pv : v, f->field);
        return true;
    }
    if (json_is_object(pv) && json_object_get(pv, f->field)) {
        *val = json_object_get(pv, f->field);
        return true;
    }
    if (json_object_get(v, f->field)) {
        *val = json_object_get(v, f->field);
        return true;
    }
    return f->strct && json_object_get(v, f->strct) && is_null(pv);
}

static void add_headers(const unwrap *u, sl_xrec *r, bool tomb) {
    for (int i = 0; i < u->nheaders; i++) {
        const fref *f = &u->headers[i];
        if (tomb) {
            if (!strcmp(f->field, "op")) sl_xrec_add_header(r, f->name, json_string("d"));
            continue;
        }
        json_t *val, *fs;
        if (fref_find(f, r->value_schema, r->value, &val, &fs))
            sl_xrec_add_header(r, f->name, is_null(val) ? NULL : json_deep_copy(val));
    }
}

/* Connect's copySchemaBasics: the rebuilt struct schema is no longer optional and has no default. */
static void rebuilt(json_t *schema) {
    if (!schema) return;
    json_object_set_new(schema, "optional", json_false());
    json_object_del(schema, "default");
}

static void add_deleted(const unwrap *u, sl_xrec *r, const char *deleted) {
    if (r->value_schema) {
        rebuilt(r->value_schema);
        if (u->c->replace_null_with_default) {
            size_t i;
            json_t *fs;
            json_array_foreach(json_object_get(r->value_schema, "fields"), i, fs) {
                const char *n = json_string_value(json_object_get(fs, "field"));
                json_t *def = json_object_get(fs, "default");
                if (n && def && !json_is_null(def) && is_null(json_object_get(r->value, n)))
                    json_object_set(r->value, n, def);
            }
        }
        sl_schema_put_field(r->value_schema, "__deleted", sl_schema_prim("string", true));
    }
    json_object_set_new(r->value, "__deleted", json_string(deleted));
}

/* add.fields from the original envelope (schema os, value ov) into the unwrapped value. */
static void add_fields(const unwrap *u, sl_xrec *r, const json_t *os, const json_t *ov) {
    rebuilt(r->value_schema);
    for (int i = 0; i < u->nfields; i++) {
        const fref *f = &u->fields[i];
        json_t *val, *fs;
        if (!fref_find(f, os, ov, &val, &fs)) continue;
        if (r->value_schema && fs) sl_schema_put_field(r->value_schema, f->name, sl_xdbz_optional_copy(fs));
        json_object_set_new(r->value, f->name, is_null(val) ? json_null() : json_deep_copy(val));
    }
}

/* Sets the topic from field `route.by.field` of struct v; SL_X_ERROR when the field is missing or not a string. */
static int route(const unwrap *u, sl_xrec *r, const json_t *v, char *err, size_t errsz) {
    const char *f = u->c->route_by_field;
    if (!f || !*f) return SL_X_KEEP;
    json_t *t = json_object_get(v, f);
    if (!t) {
        snprintf(err, errsz, "route.by.field: field '%s' is not in the record", f);
        return SL_X_ERROR;
    }
    if (json_is_null(t)) return SL_X_KEEP;
    if (!json_is_string(t)) {
        snprintf(err, errsz, "route.by.field: field '%s' is not a string", f);
        return SL_X_ERROR;
    }
    if (json_string_length(t) && strspn(json_string_value(t), " \t\r\n") < json_string_length(t))
        sl_xrec_set_topic(r, json_string_value(t));
    return SL_X_KEEP;
}

static bool name_in(const json_t *names, const char *n) {
    size_t i;
    json_t *e;
    json_array_foreach(names, i, e) if (json_is_string(e) && !strcmp(json_string_value(e), n)) return true;
    return false;
}

/* Removes the named fields from struct value v and its schema s (NULL: schemaless). */
static void drop_named(const unwrap *u, json_t *s, json_t *v, const json_t *names) {
    if (!json_is_object(v)) return;
    if (s) {
        json_t *fields = json_object_get(s, "fields");
        for (size_t i = 0; i < json_array_size(fields);) {
            json_t *fs = json_array_get(fields, i);
            const char *n = json_string_value(json_object_get(fs, "field"));
            bool opt = json_is_true(json_object_get(fs, "optional"));
            if (n && name_in(names, n) && (opt || !u->c->drop_fields_keep_compat)) {
                json_object_del(v, n);
                json_array_remove(fields, i);
            } else {
                i++;
            }
        }
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(names, i, e) if (json_is_string(e)) json_object_del(v, json_string_value(e));
}

/* drop.fields.header.name: the header's list of names (a JSON array, or a comma-separated string). */
static void drop_fields(const unwrap *u, sl_xrec *r) {
    const char *hn = u->c->drop_fields_header;
    if (!hn || !*hn) return;
    json_t *hv = NULL;
    size_t i;
    json_t *h;
    json_array_foreach(r->headers, i, h) {
        const char *k = json_string_value(json_object_get(h, "key"));
        if (k && !strcmp(k, hn)) {
            hv = json_object_get(h, "value");
            break;
        }
    }
    if (is_null(hv)) return;
    json_t *names;
    if (json_is_array(hv)) {
        names = json_incref(hv);
    } else if (json_is_string(hv)) {
        names = json_loads(json_string_value(hv), JSON_DECODE_ANY, NULL);
        if (!json_is_array(names)) {
            json_decref(names);
            names = json_array();
            const char *p = json_string_value(hv);
            while (*p) {
                size_t n = strcspn(p, ",");
                const char *a = p, *b = p + n;
                while (a < b && *a == ' ') a++;
                while (b > a && b[-1] == ' ') b--;
                if (b > a) json_array_append_new(names, json_stringn(a, (size_t)(b - a)));
                p += n + (p[n] == ',');
            }
        }
    } else {
        return;
    }
    if (u->c->drop_fields_from_key && !is_null(r->key)) {
        if (r->key_schema) sl_xrec_set(&r->key_schema, json_deep_copy(r->key_schema)); /* may be shared */
        drop_named(u, r->key_schema, r->key, names);
    }
    if (!is_null(r->value)) drop_named(u, r->value_schema, r->value, names);
    json_decref(names);
}

static int unwrap_apply(void *st, sl_xrec *r, char *err, size_t errsz) {
    const unwrap *u = st;
    bool tomb = is_null(r->value);
    bool env = !tomb && sl_xdbz_is_envelope(r);
    if ((env || tomb) && u->nheaders) add_headers(u, r, tomb);
    if (tomb) return u->keep_tombstones ? SL_X_KEEP : SL_X_DROP;
    if (!env) return SL_X_KEEP;

    json_t *os = r->value_schema, *ov = r->value; /* the envelope, now ours */
    r->value_schema = r->value = NULL;
    json_t *after = json_object_get(ov, "after"), *before = json_object_get(ov, "before");
    int rc = SL_X_KEEP;
    if (is_null(after) && is_null(before)) {
        rc = SL_X_DROP; /* truncate */
    } else if (is_null(after)) {
        if (u->del == DHM_DROP) {
            rc = SL_X_DROP;
        } else if (u->del == DHM_NONE) {
            r->value_schema = sl_xdbz_field_schema(sl_schema_field(os, "after"));
        } else if (u->del == DHM_REWRITE) {
            r->value_schema = sl_xdbz_field_schema(sl_schema_field(os, "before"));
            r->value = json_deep_copy(before);
            if (json_is_object(r->value)) add_deleted(u, r, "true");
        }
        if (rc == SL_X_KEEP) rc = route(u, r, before, err, errsz);
        if (rc == SL_X_KEEP) drop_fields(u, r);
        if (rc == SL_X_KEEP && json_is_object(r->value)) add_fields(u, r, os, ov);
    } else {
        r->value_schema = sl_xdbz_field_schema(sl_schema_field(os, "after"));
        r->value = json_deep_copy(after);
        if (u->del == DHM_REWRITE && json_is_object(r->value)) add_deleted(u, r, "false");
        rc = route(u, r, r->value, err, errsz);
        if (rc == SL_X_KEEP && json_is_object(r->value)) add_fields(u, r, os, ov);
        if (rc == SL_X_KEEP) drop_fields(u, r);
    }
    json_decref(os);
    json_decref(ov);
    return rc;
}

const sl_xform_ops sl_xform_unwrap_ops = {
    .name = "unwrap",
    .schema_readonly = true, /* the new value schema is a copy; a shared key schema is copied before drops */
    .aliases = "io.debezium.transforms.ExtractNewRecordState",
    .doc = "Debezium's event flattening: replaces each change event by its new row state (see *Debezium's "
           "transforms* above). Without delete.tombstone.handling.mode and the deprecated options the mode is "
           "`tombstone`, Debezium 3.x's default.",
    .props = unwrap_props,
    .settings_size = sizeof(unwrap_conf),
    .init = unwrap_init,
    .apply = unwrap_apply,
    .free = unwrap_free,
};
