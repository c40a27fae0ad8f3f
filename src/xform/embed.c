/*
 * Relational -> document embedding (type=embed), like MongoDB Relational
 * Migrator's rules: the rows of a root table become documents (_id from its
 * primary key) and the rows of child tables are embedded in their parent's
 * document, as array elements, as a sub-document, or merged into it.
 *
 * Each change becomes a list of MongoDB write operations on the root
 * collection, carried in the value {"__sluice_writes": [...]} that the
 * MongoDB sink applies in order. The operations are idempotent and need no
 * state beyond the target collection itself: a child is found through its
 * own key inside the documents ({"items.id": 7}), so a delete whose before
 * image holds only the primary key, a child that moves to another parent and
 * a replay after a crash all come out right without remembering parents.
 *
 *   root c/r/u      updateOne({_id: P}, {$set: fields}, upsert)
 *   root d          deleteOne({_id: P})
 *   array child     updateMany({"path.k": K}, {$pull: {path: {k: K}}}), then
 *     c/r/u         updateOne({_id: P}, {$push: {path: {$each: [row], $sort: {k: 1}}}}, upsert)
 *   array child d   updateMany({"path.k": K}, {$pull: {path: {k: K}}})
 *   object child    updateMany({"path.k": K, _id: {$ne: P}}, {$unset: {path: ""}}), then
 *     c/r/u         updateOne({_id: P}, {$set: {path: row}}, upsert)
 *   object child d  updateMany({"path.k": K}, {$unset: {path: ""}})
 *   merge child     updateMany({k: K, _id: {$ne: P}}, {$unset: {cols}}), then
 *     c/r/u         updateOne({_id: P}, {$set: row}, upsert)
 *   merge child d   updateMany({k: K}, {$unset: {cols}})
 *
 * Records of other tables pass through unchanged; tombstones of root and
 * child tables are dropped (the delete already removed what they stand for).
 */
#include "xform/xform.h"
#include "core/log.h"
#include "util/civil.h"
#include "util/codec.h"
#include "util/mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REL_ARRAY, REL_OBJECT, REL_MERGE };

typedef struct child_conf {
    char *table, *parent_key, *path, *rename, *exclude, *id;
    int rel;
} child_conf;

typedef struct embed_conf {
    char *root_table, *root_key, *rename, *exclude, *collection, *children;
} embed_conf;

#define F(x) offsetof(embed_conf, x)
static const sl_prop embed_props[] = {
    {"root.table", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(root_table),
     "The table whose rows become the documents: schema.table (PostgreSQL), db.table (MySQL) or just the table "
     "name. _id is its primary key: the value for a one-column key, else a sub-document of the key columns; the "
     "key columns are not repeated as fields."},
    {"root.key", SL_PT_LIST, "", NULL, 0, 0, 0, F(root_key),
     "The root's key column names, in the order of each child's parent.key; needed only for a composite key (the "
     "_id sub-document's field names)."},
    {"root.fields.rename", SL_PT_LIST, "", NULL, 0, 0, 0, F(rename),
     "Root fields to rename: old:new,... (applied to the document's fields, not to _id)."},
    {"root.fields.exclude", SL_PT_LIST, "", NULL, 0, 0, 0, F(exclude), "Root columns left out of the document."},
    {"collection", SL_PT_STRING, "", NULL, 0, 0, 0, F(collection),
     "Topic of the output records, which the MongoDB sink uses as the collection (when its own collection is not "
     "set). Default: the root table's name."},
    {"children", SL_PT_LIST, "", NULL, 0, 0, 0, F(children),
     "Names of the embedded child tables; each is configured under child.<name>."},
    {NULL}};
#undef F

#define F(x) offsetof(child_conf, x)
static const sl_prop child_props[] = {
    {"table", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(table),
     "child.<name>.table: the child table, named like root.table."},
    {"parent.key", SL_PT_LIST, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(parent_key),
     "child.<name>.parent.key: the child's foreign-key column(s) holding the parent's key, in root.key order."},
    {"path", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(path),
     "child.<name>.path: the field of the parent document the child goes to (default: the child's name)."},
    {"relationship", SL_PT_ENUM, "array", "array|object|merge", 0, 0, 0, F(rel),
     "child.<name>.relationship: array (one-to-many: elements of an array, sorted by the child's key), object "
     "(one-to-one: a sub-document) or merge (one-to-one: the child's fields merged into the parent)."},
    {"fields.rename", SL_PT_LIST, "", NULL, 0, 0, 0, F(rename), "child.<name>.fields.rename: old:new,..."},
    {"fields.exclude", SL_PT_LIST, "", NULL, 0, 0, 0, F(exclude),
     "child.<name>.fields.exclude: child columns left out (e.g. the foreign key)."},
    {"id", SL_PT_LIST, "", NULL, 0, 0, 0, F(id),
     "child.<name>.id: the columns that identify a child inside its parent (default: the child's primary key, "
     "from the record key). They must not be excluded."},
    {NULL}};
#undef F

typedef struct names {
    char **v;
    int n;
} names;

typedef struct child {
    char *name;
    child_conf c;
    names parent_key, exclude, id, ren_from, ren_to;
} child;

typedef struct embed {
    embed_conf *conf;
    names root_key, exclude, ren_from, ren_to;
    child *kids;
    int nkids;
} embed;

static void names_free(names *n) {
    for (int i = 0; i < n->n; i++) sl_free(n->v[i]);
    sl_free(n->v);
    n->v = NULL, n->n = 0;
}

static void names_add(names *n, const char *s, size_t len) {
    n->v = sl_realloc(n->v, (size_t)(n->n + 1) * sizeof *n->v);
    n->v[n->n++] = sl_strndup(s, len);
}

/* Splits a comma-separated list (items trimmed, empty ones skipped). */
static void names_split(names *n, const char *list) {
    for (const char *p = list ? list : ""; *p;) {
        while (*p == ',' || *p == ' ') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        if (t > p) names_add(n, p, (size_t)(t - p));
        p = e;
    }
}

static bool names_has(const names *n, const char *s) {
    for (int i = 0; i < n->n; i++)
        if (strcmp(n->v[i], s) == 0) return true;
    return false;
}

/* "a:b,c:d" -> from/to; false (with the item) on an item without ':'. */
static bool renames_split(const char *list, names *from, names *to, char *bad, size_t badsz) {
    names items = {0};
    names_split(&items, list);
    bool ok = true;
    for (int i = 0; i < items.n && ok; i++) {
        char *colon = strchr(items.v[i], ':');
        if (!colon || colon == items.v[i] || !colon[1]) {
            snprintf(bad, badsz, "%s", items.v[i]);
            ok = false;
            break;
        }
        names_add(from, items.v[i], (size_t)(colon - items.v[i]));
        names_add(to, colon + 1, strlen(colon + 1));
    }
    names_free(&items);
    return ok;
}

static void embed_free(void *state) {
    embed *e = state;
    if (!e) return;
    names_free(&e->root_key);
    names_free(&e->exclude);
    names_free(&e->ren_from);
    names_free(&e->ren_to);
    for (int i = 0; i < e->nkids; i++) {
        child *k = &e->kids[i];
        sl_conf_free(child_props, &k->c);
        names_free(&k->parent_key);
        names_free(&k->exclude);
        names_free(&k->id);
        names_free(&k->ren_from);
        names_free(&k->ren_to);
        sl_free(k->name);
    }
    sl_free(e->kids);
    sl_free(e);
}

static void *embed_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    embed_conf *c = settings;
    embed *e = sl_calloc(1, sizeof *e);
    e->conf = c;
    int before = errs->n;
    char bad[256];
    names_split(&e->root_key, c->root_key);
    names_split(&e->exclude, c->exclude);
    if (!renames_split(c->rename, &e->ren_from, &e->ren_to, bad, sizeof bad))
        sl_errs_add(errs, "%sroot.fields.rename: '%s' is not old:new", prefix, bad);
    names kids = {0};
    names_split(&kids, c->children);
    e->kids = sl_calloc((size_t)(kids.n ? kids.n : 1), sizeof *e->kids);
    for (int i = 0; i < kids.n; i++) {
        child *k = &e->kids[e->nkids++];
        k->name = sl_strdup(kids.v[i]);
        char cp[512];
        snprintf(cp, sizeof cp, "%schild.%s.", prefix, kids.v[i]);
        if (sl_conf_apply_prefixed(child_props, cfg, cp, &k->c, errs)) continue;
        names_split(&k->parent_key, k->c.parent_key);
        names_split(&k->exclude, k->c.exclude);
        names_split(&k->id, k->c.id);
        if (!renames_split(k->c.rename, &k->ren_from, &k->ren_to, bad, sizeof bad))
            sl_errs_add(errs, "%sfields.rename: '%s' is not old:new", cp, bad);
        if (!k->c.path || !*k->c.path) {
            sl_free(k->c.path);
            k->c.path = sl_strdup(k->name);
        }
        if (strchr(k->c.path, '$') || k->c.path[0] == '.')
            sl_errs_add(errs, "%spath: '%s' is not a field path", cp, k->c.path);
        if (k->parent_key.n > 1 && k->parent_key.n != e->root_key.n)
            sl_errs_add(errs, "%sparent.key: %d columns, but root.key names %d (a composite key needs root.key with "
                        "the root's key columns in the same order)",
                        cp, k->parent_key.n, e->root_key.n);
        for (int j = 0; j < k->id.n; j++)
            if (names_has(&k->exclude, k->id.v[j]))
                sl_errs_add(errs, "%sid: '%s' is also in fields.exclude (the id must stay in the document)", cp,
                            k->id.v[j]);
        if (strcmp(k->c.table, c->root_table) == 0)
            sl_errs_add(errs, "%stable: '%s' is the root table", cp, k->c.table);
    }
    names_free(&kids); /* no children is fine: the root alone maps a table to a collection with upserts */
    if (errs->n > before) {
        embed_free(e);
        return NULL;
    }
    return e;
}

/* ---- applying ---- */

/* Is the source table t (in schema s or database d, either may be NULL) the one named `want` (schema.table,
 * db.table or table)? */
static bool table_is(const char *t, const char *s, const char *d, const char *want) {
    if (!t) return false;
    const char *dot = strrchr(want, '.');
    if (!dot) return strcmp(t, want) == 0;
    if (strcmp(dot + 1, t) != 0) return false;
    size_t n = (size_t)(dot - want);
    return (s && strlen(s) == n && strncmp(s, want, n) == 0) || (d && strlen(d) == n && strncmp(d, want, n) == 0);
}

/* table_is for an event's source block. */
static bool is_table(sl_vheap *h, sl_val *source, const char *want) {
    const char *t = sl_v_strval(h, sl_v_get(h, source, "table"), NULL);
    const char *s = sl_v_strval(h, sl_v_get(h, source, "schema"), NULL);
    return table_is(t, s, sl_v_strval(h, sl_v_get(h, source, "db"), NULL), want);
}

/* A new object of one member {name: v}. */
static sl_val *obj1(sl_vheap *h, const char *name, sl_val *v) {
    sl_val *o = sl_v_obj(h, 1);
    sl_v_set(h, o, name, v);
    return o;
}

/*
 * A value as MongoDB should hold it, by its Connect schema fs, as mongo-kafka converts a record with schemas:
 * Decimal -> Decimal128, bytes -> binary, Date / Time / Timestamp -> a date. The writes are read back as
 * extended JSON (the MongoDB sink parses __sluice_writes so), which says those types: {"$numberDecimal": ..},
 * {"$binary": ..}, {"$date": ..}. Other values, and values without a schema, stay as they are.
 */
static sl_val *typed(sl_vheap *h, sl_val *v, sl_val *fs) {
    if (!fs || sl_v_is_null(h, v)) return v;
    const char *type = sl_v_strval(h, sl_v_get(h, fs, "type"), NULL), *name = sl_v_strval(h, sl_v_get(h, fs, "name"), NULL);
    if (!type) return v;
    size_t n;
    const char *str = sl_v_strval(h, v, &n);
    if (!strcmp(type, "bytes") && str) {
        if (name && !strcmp(name, "org.apache.kafka.connect.data.Decimal")) {
            const char *sc = sl_v_strval(h, sl_v_get(h, sl_v_get(h, fs, "parameters"), "scale"), NULL);
            uint8_t *b = sl_arena_alloc(&h->arena, SL_B64_DECODED_MAX(n) + 1);
            size_t bn;
            if (!sc || !sl_b64_decode(str, n, b, &bn)) return v;
            sl_buf d;
            sl_buf_init(&d);
            sl_put_unscaled_decimal(&d, b, bn, (int32_t)atoi(sc));
            size_t digits = 0;
            for (size_t i = 0; i < d.len; i++) digits += d.data[i] >= '0' && d.data[i] <= '9';
            sl_val *out = digits <= 34 ? obj1(h, "$numberDecimal", sl_v_strn(h, d.data, d.len))
                                       : sl_v_strn(h, d.data, d.len); /* beyond Decimal128: the exact text */
            sl_buf_free(&d);
            return out;
        }
        sl_val *bin = sl_v_obj(h, 2);
        sl_v_set(h, bin, "base64", v);
        sl_v_set(h, bin, "subType", sl_v_str_ref(h, "00", 2));
        return obj1(h, "$binary", bin);
    }
    if (name && sl_v_kind(h, v) == SL_V_INT && !strncmp(name, "org.apache.kafka.connect.data.", 30)) {
        const char *ln = name + 30;
        int64_t ms = !strcmp(ln, "Date") ? v->i * 86400000 : !strcmp(ln, "Time") || !strcmp(ln, "Timestamp") ? v->i
                                                                                                          : INT64_MIN;
        if (ms == INT64_MIN) return v;
        char t[32];
        snprintf(t, sizeof t, "%lld", (long long)ms);
        return obj1(h, "$date", obj1(h, "$numberLong", sl_v_str(h, t)));
    }
    return v;
}

/* The row (an object) with its values typed by its struct schema (unchanged values shared). */
static sl_val *typed_row(sl_vheap *h, sl_val *row, sl_val *schema) {
    if (!schema || sl_v_kind(h, row) != SL_V_OBJ) return row;
    sl_v_force(h, row);
    sl_val *out = sl_v_obj(h, row->n);
    for (uint32_t m = 0; m < row->n; m++)
        sl_v_set_ref(h, out, row->m[m].name, row->m[m].len,
                     typed(h, row->m[m].v, sl_vschema_field(h, schema, row->m[m].name)));
    return out;
}

/* The row's fields for the document: renamed, without the excluded ones (the row's values, not copies). */
static sl_val *shape(sl_vheap *h, sl_val *row, const names *exclude, const names *from, const names *to) {
    sl_val *out = sl_v_obj(h, 8);
    if (sl_v_kind(h, row) != SL_V_OBJ) return out;
    sl_v_force(h, row);
    for (uint32_t m = 0; m < row->n; m++) {
        const char *k = row->m[m].name;
        if (names_has(exclude, k)) continue;
        const char *name = k;
        for (int i = 0; i < from->n; i++)
            if (strcmp(from->v[i], k) == 0) name = to->v[i];
        sl_v_set(h, out, name, row->m[m].v);
    }
    return out;
}

static const char *renamed(const names *from, const names *to, const char *k) {
    for (int i = 0; i < from->n; i++)
        if (strcmp(from->v[i], k) == 0) return to->v[i];
    return k;
}

/* _id from the given key columns of row (one: the value; several: {name_i: value}), copied; NULL if any is
 * missing. */
static sl_val *make_id(sl_vheap *h, sl_val *row, const names *cols, const names *field_names) {
    if (cols->n == 1) {
        sl_val *v = sl_v_get(h, row, cols->v[0]);
        return sl_v_is_null(h, v) ? NULL : sl_v_copy(h, v);
    }
    sl_val *id = sl_v_obj(h, (uint32_t)cols->n);
    for (int i = 0; i < cols->n; i++) {
        sl_val *v = sl_v_get(h, row, cols->v[i]);
        if (sl_v_is_null(h, v)) return NULL;
        sl_v_set(h, id, field_names->v[i], sl_v_copy(h, v));
    }
    return id;
}

static sl_val *op_update(sl_vheap *h, sl_val *filter, sl_val *update, bool upsert, bool multi) {
    sl_val *op = sl_v_obj(h, 5);
    sl_v_set_ref(h, op, "op", 2, sl_v_str_ref(h, "update", 6));
    sl_v_set_ref(h, op, "filter", 6, filter);
    sl_v_set_ref(h, op, "update", 6, update);
    sl_v_set_ref(h, op, "upsert", 6, sl_v_bool(h, upsert));
    sl_v_set_ref(h, op, "multi", 5, sl_v_bool(h, multi));
    return op;
}

/* {"_id": a copy of id}: the filter of one document. */
static sl_val *by_id(sl_vheap *h, sl_val *id) { return obj1(h, "_id", sl_v_copy(h, id)); }

/* The output topic: `collection`, else the root table's name. */
static const char *collection(const embed *e) {
    if (e->conf->collection && *e->conf->collection) return e->conf->collection;
    const char *dot = strrchr(e->conf->root_table, '.');
    return dot ? dot + 1 : e->conf->root_table;
}

static void set_output(sl_xrec *r, const embed *e, sl_val *writes, sl_val *id) {
    sl_xrec_set_topic(r, collection(e));
    r->vkey_schema = NULL;
    r->vkey = id ? obj1(r->heap, "_id", id) : NULL;
    r->vvalue_schema = NULL;
    r->vvalue = obj1(r->heap, "__sluice_writes", writes);
}

static int apply_root(embed *e, sl_xrec *r, const char *op, sl_val *before, sl_val *after, char *err, size_t errsz) {
    sl_vheap *h = r->heap;
    names keys = {0};
    sl_val *row = !sl_v_is_null(h, after) ? after : before;
    /* root key columns: root.key, else the record key's fields */
    if (e->root_key.n) {
        for (int i = 0; i < e->root_key.n; i++) names_add(&keys, e->root_key.v[i], strlen(e->root_key.v[i]));
    } else if (sl_v_kind(h, r->vkey) == SL_V_OBJ) {
        sl_v_force(h, r->vkey);
        for (uint32_t i = 0; i < r->vkey->n; i++) names_add(&keys, r->vkey->m[i].name, strlen(r->vkey->m[i].name));
    }
    sl_val *id = keys.n ? make_id(h, row, &keys, &keys) : NULL;
    if (!id) {
        names_free(&keys);
        snprintf(err, errsz, "root row of %s has no key (a primary key, or root.key, is needed for _id)",
                 e->conf->root_table);
        return SL_X_ERROR;
    }
    sl_val *writes = sl_v_arr(h, 1);
    if (strcmp(op, "d") == 0) {
        sl_val *del = sl_v_obj(h, 2);
        sl_v_set_ref(h, del, "op", 2, sl_v_str_ref(h, "delete", 6));
        sl_v_set_ref(h, del, "filter", 6, by_id(h, id));
        sl_v_push(h, writes, del);
    } else {
        sl_val *doc = shape(h, after, &e->exclude, &e->ren_from, &e->ren_to);
        sl_v_del(h, doc, "_id");
        for (int i = 0; i < keys.n; i++) /* the key columns are the _id */
            sl_v_del(h, doc, renamed(&e->ren_from, &e->ren_to, keys.v[i]));
        sl_val *upd = doc->n ? obj1(h, "$set", doc) : obj1(h, "$setOnInsert", sl_v_obj(h, 0));
        sl_v_push(h, writes, op_update(h, by_id(h, id), upd, true, false));
    }
    names_free(&keys);
    set_output(r, e, writes, id);
    return SL_X_KEEP;
}

/* The child's identity inside its parent: {k: v} over the id columns (renamed), values copied, or NULL. */
static sl_val *child_ident(const child *k, sl_xrec *r, sl_val *row) {
    sl_vheap *h = r->heap;
    sl_val *ident = sl_v_obj(h, 4);
    if (k->id.n) {
        for (int i = 0; i < k->id.n; i++) {
            sl_val *v = sl_v_get(h, row, k->id.v[i]);
            if (sl_v_is_null(h, v)) return NULL;
            sl_v_set(h, ident, renamed(&k->ren_from, &k->ren_to, k->id.v[i]), sl_v_copy(h, v));
        }
    } else if (sl_v_kind(h, r->vkey) == SL_V_OBJ) {
        sl_v_force(h, r->vkey);
        for (uint32_t i = 0; i < r->vkey->n; i++)
            sl_v_set(h, ident, renamed(&k->ren_from, &k->ren_to, r->vkey->m[i].name), sl_v_copy(h, r->vkey->m[i].v));
    }
    return ident->n ? ident : NULL;
}

/* {"<prefix>k": v, ...} for each field of ident (values copied). */
static sl_val *prefixed(sl_vheap *h, const char *prefix, sl_val *ident) {
    sl_val *f = sl_v_obj(h, ident->n + 1);
    char path[512];
    for (uint32_t i = 0; i < ident->n; i++) {
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", ident->m[i].name);
        sl_v_set(h, f, path, sl_v_copy(h, ident->m[i].v));
    }
    return f;
}

/* $unset of every field of the shaped row (merge children). */
static sl_val *unset_fields(sl_vheap *h, const child *k, sl_val *row) {
    sl_val *shaped = shape(h, row, &k->exclude, &k->ren_from, &k->ren_to), *u = sl_v_obj(h, shaped->n);
    for (uint32_t i = 0; i < shaped->n; i++)
        sl_v_set_ref(h, u, shaped->m[i].name, shaped->m[i].len, sl_v_str_ref(h, "", 0));
    return obj1(h, "$unset", u);
}

static int apply_child(embed *e, child *k, sl_xrec *r, const char *op, sl_val *before, sl_val *after, char *err,
                       size_t errsz) {
    sl_vheap *h = r->heap;
    bool del = strcmp(op, "d") == 0;
    sl_val *row = del ? before : after;
    if (sl_v_is_null(h, row)) {
        snprintf(err, errsz, "%s event of %s without its row", op, k->c.table);
        return SL_X_ERROR;
    }
    sl_val *ident = child_ident(k, r, row);
    if (!ident) {
        snprintf(err, errsz, "row of %s has no identity (child.%s.id, or a primary key, is needed)", k->c.table,
                 k->name);
        return SL_X_ERROR;
    }
    /* the parent: null (or absent, e.g. a delete's key-only before image) means none */
    sl_val *parent = del ? NULL : make_id(h, row, &k->parent_key, e->root_key.n ? &e->root_key : &k->parent_key);
    const char *path = k->c.path;
    sl_val *writes = sl_v_arr(h, 2);
    /* 1. take it out of wherever it is now: for arrays everywhere (its parent included: it is pushed back
     * below, in key order), else everywhere but its parent (which gets it overwritten below) */
    sl_val *elsewhere = prefixed(h, k->c.rel == REL_MERGE ? "" : path, ident);
    if (parent && k->c.rel != REL_ARRAY) sl_v_set_ref(h, elsewhere, "_id", 3, obj1(h, "$ne", sl_v_copy(h, parent)));
    sl_val *remove;
    if (k->c.rel == REL_ARRAY) remove = obj1(h, "$pull", obj1(h, path, ident));
    else if (k->c.rel == REL_OBJECT) remove = obj1(h, "$unset", obj1(h, path, sl_v_str_ref(h, "", 0)));
    else remove = unset_fields(h, k, row);
    sl_v_push(h, writes, op_update(h, elsewhere, remove, false, true));
    /* 2. put it into its parent */
    if (parent) {
        sl_val *doc = shape(h, row, &k->exclude, &k->ren_from, &k->ren_to);
        sl_val *put;
        if (k->c.rel == REL_ARRAY) {
            sl_val *sort = sl_v_obj(h, ident->n), *each = sl_v_arr(h, 1), *spec = sl_v_obj(h, 2);
            for (uint32_t i = 0; i < ident->n; i++)
                sl_v_set_ref(h, sort, ident->m[i].name, ident->m[i].len, sl_v_int(h, 1));
            sl_v_push(h, each, doc);
            sl_v_set_ref(h, spec, "$each", 5, each);
            sl_v_set_ref(h, spec, "$sort", 5, sort);
            put = obj1(h, "$push", obj1(h, path, spec));
        } else if (k->c.rel == REL_OBJECT) {
            put = obj1(h, "$set", obj1(h, path, doc));
        } else {
            sl_v_del(h, doc, "_id");
            put = obj1(h, "$set", doc);
        }
        sl_v_push(h, writes, op_update(h, by_id(h, parent), put, true, false));
    }
    set_output(r, e, writes, parent);
    return SL_X_KEEP;
}

/* Is t (a source table) the root or one of the children? */
static bool mapped(const embed *e, const sl_table *t) {
    bool hit = table_is(t->name, t->schema, t->db, e->conf->root_table);
    for (int i = 0; !hit && i < e->nkids; i++) hit = table_is(t->name, t->schema, t->db, e->kids[i].c.table);
    return hit;
}

static int embed_apply(void *state, sl_xrec *r, char *err, size_t errsz) {
    embed *e = state;
    sl_vheap *h = r->heap;
    sl_val *v = r->vvalue;
    if (!v) /* a tombstone: of a mapped table it says nothing its delete did not */
        return r->src && r->src->table && mapped(e, r->src->table) ? SL_X_DROP : SL_X_KEEP;
    const char *op = sl_v_strval(h, sl_v_get(h, v, "op"), NULL);
    sl_val *source = sl_v_get(h, v, "source");
    if (!op || !source) return SL_X_KEEP; /* not a change event: heartbeats, messages, ... */
    bool root = is_table(h, source, e->conf->root_table);
    child *k = NULL;
    for (int i = 0; !root && !k && i < e->nkids; i++)
        if (is_table(h, source, e->kids[i].c.table)) k = &e->kids[i];
    if (!root && !k) return SL_X_KEEP;
    if (strcmp(op, "t") == 0) {
        snprintf(err, errsz, "truncate of %s cannot be embedded (skip truncates: skipped.operations=t)",
                 sl_v_strval(h, sl_v_get(h, source, "table"), NULL));
        return SL_X_ERROR;
    }
    if (strcmp(op, "c") && strcmp(op, "r") && strcmp(op, "u") && strcmp(op, "d")) return SL_X_KEEP;
    sl_val *rs = sl_vschema_field(h, r->vvalue_schema, "after"); /* the row's struct schema, if any */
    sl_val *before = typed_row(h, sl_v_get(h, v, "before"), rs), *after = typed_row(h, sl_v_get(h, v, "after"), rs);
    r->vkey = typed_row(h, r->vkey, r->vkey_schema);
    if (root) return apply_root(e, r, op, before, after, err, errsz);
    return apply_child(e, k, r, op, before, after, err, errsz);
}

/* ---- sluice verify: where the rows of the root and the child tables are in the documents ---- */

/* Renames and drops of t's own columns (not the parent's) from column `from` on; drop_id: a field renamed to _id
 * is dropped (the document's _id is the key's). */
static void vmap_fields(sl_vtable *t, int from, const names *exclude, const names *ren_from, const names *ren_to,
                        bool drop_id) {
    for (int i = t->ncols - 1; i >= from; i--) {
        if (t->cols[i].parent) continue;
        const char *to = renamed(ren_from, ren_to, t->cols[i].name);
        if (names_has(exclude, t->cols[i].name) || (drop_id && !strcmp(to, "_id"))) sl_vtable_drop(t, i);
        else if (to != t->cols[i].name) snprintf(t->cols[i].name, sizeof t->cols[i].name, "%s", to);
    }
}

static int embed_vmap(void *state, sl_vtable *t, char *errstr, size_t errsz) {
    const embed *e = state;
    bool root = table_is(t->table, t->schema, t->db, e->conf->root_table);
    const child *k = NULL;
    for (int i = 0; !root && !k && i < e->nkids; i++)
        if (table_is(t->table, t->schema, t->db, e->kids[i].c.table)) k = &e->kids[i];
    if ((!root && !k) || t->flat) return 0; /* rows that are not change events pass through */
    snprintf(t->topic, sizeof t->topic, "%s", collection(e));
    t->docs = t->flat = true;
    if (root) { /* {_id: key (one column) or {key columns}, other columns} */
        if (e->root_key.n) {
            bool same = e->root_key.n == t->nkeys;
            for (int i = 0; same && i < e->root_key.n; i++) {
                int c = sl_vtable_col(t, e->root_key.v[i]);
                same = c >= 0 && c < t->nkeys;
            }
            if (!same) {
                snprintf(errstr, errsz, "root.key=%s is not the primary key of %s (verify matches rows by it)",
                         e->conf->root_key, e->conf->root_table);
                return -1;
            }
        }
        for (int i = 0; i < t->nkeys; i++) {
            char path[140];
            snprintf(path, sizeof path, "%s%s", t->nkeys == 1 ? "_id" : "_id.", t->nkeys == 1 ? "" : t->cols[i].name);
            snprintf(t->cols[i].name, sizeof t->cols[i].name, "%.127s", path);
        }
        vmap_fields(t, t->nkeys, &e->exclude, &e->ren_from, &e->ren_to, true);
        return 0;
    }
    snprintf(t->within, sizeof t->within, "%s", k->c.path);
    t->within_kind = k->c.rel == REL_ARRAY ? SL_VW_ARRAY : k->c.rel == REL_OBJECT ? SL_VW_OBJECT : SL_VW_MERGE;
    /* the parent key columns are the parent's _id (a child without one is in no document) */
    const names *idn = e->root_key.n ? &e->root_key : &k->parent_key;
    int *pc = sl_calloc((size_t)k->parent_key.n + 1, sizeof *pc);
    for (int i = 0; i < k->parent_key.n; i++) {
        int c = pc[i] = sl_vtable_col(t, k->parent_key.v[i]);
        if (c < 0) {
            snprintf(errstr, errsz, "child.%s.parent.key: %s has no column '%s'", k->name, k->c.table,
                     k->parent_key.v[i]);
            sl_free(pc);
            return -1;
        }
    }
    /* keys: the parent's (in parent.key order: the documents come in _id order), then the child's own, so that
     * the rows come in the documents' order and each document's rows in their key order */
    sl_vcol *cols = sl_calloc((size_t)t->ncols + 1, sizeof *cols);
    int *src = sl_calloc((size_t)t->ncols + 1, sizeof *src), n = 0;
    for (int i = 0; i < k->parent_key.n; i++) {
        cols[n] = t->cols[pc[i]];
        cols[n].parent = cols[n].required = true;
        snprintf(cols[n].name, sizeof cols[n].name, "%s%.120s", k->parent_key.n == 1 ? "_id" : "_id.",
                 k->parent_key.n == 1 ? "" : idn->v[i]);
        src[n++] = t->src_col ? t->src_col[pc[i]] : pc[i];
    }
    int keys = n;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < t->ncols; i++) {
            bool parent = false;
            for (int c = 0; c < k->parent_key.n; c++) parent |= pc[c] == i;
            if (parent || (pass == 0) != (i < t->nkeys)) continue;
            if (pass == 0 && names_has(&k->exclude, t->cols[i].name)) {
                snprintf(errstr, errsz, "child.%s.fields.exclude leaves key column '%s' out of the documents "
                                        "(verify matches rows by it)", k->name, t->cols[i].name);
                sl_free(pc), sl_free(cols), sl_free(src);
                return -1;
            }
            cols[n] = t->cols[i];
            src[n++] = t->src_col ? t->src_col[i] : i;
            keys += pass == 0;
        }
    memcpy(t->cols, cols, (size_t)n * sizeof *cols);
    if (t->src_col) memcpy(t->src_col, src, (size_t)n * sizeof *src);
    t->ncols = n;
    t->nkeys = keys;
    sl_free(pc), sl_free(cols), sl_free(src);
    vmap_fields(t, 0, &k->exclude, &k->ren_from, &k->ren_to, k->c.rel == REL_MERGE);
    return 0;
}

static const sl_xform_ops embed_ops = {
    .vmap = embed_vmap,
    .name = "embed",
    .doc = "Turns changes of a root table and its child tables into idempotent MongoDB writes on one document per "
           "root row (child rows as array elements, a sub-document, or merged fields), applied by the MongoDB sink.",
    .props = embed_props,
    .settings_size = sizeof(embed_conf),
    .init = embed_init,
    .apply_v = embed_apply,
    .free = embed_free,
    .schema_readonly = true,
};

/* ---- unembed: the documents back into the root and child tables' rows ---- */

/*
 * The inverse of embed, for the way back (a MongoDB source into the SQL sink, e.g. the reverse connector of a
 * migration): each document change becomes the rows that the mapping says it holds, as the value
 * {"__sluice_rows": [...]} which the SQL sink applies (keyed by the document's _id, only the last change of a
 * document in a flush counts):
 *
 *   {"op": "u", "table": root, "id": _id, "row": {fields},  upsert of the root row (the sink puts _id into the
 *    "keep": [columns]}                                     table's primary key columns and nulls into the
 *                                                           columns the document lacks, but for `keep`: the
 *                                                           columns the mapping excludes)
 *   {"op": "u", "table": child, "row": {columns}, "keep"}  upsert of each embedded child (the parent key
 *                                                           columns filled from _id)
 *   {"op": "prune", "table": child, "parent": {pk: v}}     delete the child rows of this parent that the list
 *                                                           does not upsert (elements taken out of the array)
 *   {"op": "d", "table": root, "id": _id}                  delete of the root row (after its children's prune)
 *
 * Renames are undone; excluded root columns are left as the table has them; merged children cannot be told
 * apart from the parent's own fields and are refused at init.
 */

static void *unembed_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    embed *e = embed_init(settings, cfg, prefix, errs);
    if (!e) return NULL;
    int before = errs->n;
    for (int i = 0; i < e->nkids; i++) {
        const child *k = &e->kids[i];
        if (k->c.rel == REL_MERGE)
            sl_errs_add(errs, "%schild.%s.relationship: merge cannot be turned back into rows (the document does not "
                        "say which of its fields were the child's); unembed takes array and object",
                        prefix, k->name);
        if (strchr(k->c.path, '.'))
            sl_errs_add(errs, "%schild.%s.path: '%s' is a dotted path; unembed takes a top-level field", prefix,
                        k->name, k->c.path);
    }
    if (errs->n > before) {
        embed_free(e);
        return NULL;
    }
    return e;
}

/* Milliseconds since the epoch as ISO-8601 UTC text (what a SQL timestamp column reads). */
static sl_val *iso_ms(sl_vheap *h, int64_t ms) {
    sl_buf b;
    sl_buf_init(&b);
    int64_t days = sl_floor_div(ms, 86400000);
    sl_put_iso_date(&b, days);
    sl_buf_putc(&b, 'T');
    sl_put_iso_time(&b, (ms - days * 86400000) * 1000000, 3);
    sl_buf_putc(&b, 'Z');
    sl_val *v = sl_v_strn(h, b.data, b.len);
    sl_buf_free(&b);
    return v;
}

/* v with MongoDB's extended JSON wrappers ({"$numberLong": ..}, {"$date": ..}, {"$oid": ..}, ...) turned into
 * plain values: numbers, and text for decimals, ids and dates (a SQL column of the type reads the text). */
static sl_val *plain(sl_vheap *h, sl_val *v, int depth) {
    sl_vkind k = sl_v_kind(h, v);
    if (depth > 100 || (k != SL_V_OBJ && k != SL_V_ARR)) return v;
    sl_v_force(h, v);
    if (k == SL_V_OBJ && v->n == 1 && v->m[0].name[0] == '$') {
        const char *w = v->m[0].name;
        sl_val *x = v->m[0].v;
        size_t n;
        const char *s = sl_v_strval(h, x, &n);
        if ((!strcmp(w, "$numberLong") || !strcmp(w, "$numberInt")) && s) {
            char t[32];
            snprintf(t, sizeof t, "%.*s", (int)(n < 31 ? n : 31), s);
            return sl_v_int(h, strtoll(t, NULL, 10));
        }
        if (!strcmp(w, "$numberDouble") && s) {
            char t[64];
            snprintf(t, sizeof t, "%.*s", (int)(n < 63 ? n : 63), s);
            return sl_v_real(h, strtod(t, NULL));
        }
        if ((!strcmp(w, "$numberDecimal") || !strcmp(w, "$oid") || !strcmp(w, "$symbol")) && s) return x;
        if (!strcmp(w, "$date")) {
            if (s) return x;
            if (sl_v_kind(h, x) == SL_V_INT) return iso_ms(h, x->i);
            sl_val *l = plain(h, x, depth + 1);
            if (sl_v_kind(h, l) == SL_V_INT) return iso_ms(h, l->i);
        }
        return v;
    }
    if (k == SL_V_ARR) {
        sl_val *out = sl_v_arr(h, v->n);
        for (uint32_t i = 0; i < v->n; i++) sl_v_push(h, out, plain(h, v->e[i], depth + 1));
        return out;
    }
    sl_val *out = sl_v_obj(h, v->n);
    for (uint32_t i = 0; i < v->n; i++) sl_v_set_ref(h, out, v->m[i].name, v->m[i].len, plain(h, v->m[i].v, depth + 1));
    return out;
}

/* The collection a MongoDB source's record is of: the event's ns.coll, Debezium's source.collection, else the
 * topic's last part. */
static bool of_collection(sl_xrec *r, const char *want) {
    sl_vheap *h = r->heap;
    const char *c = NULL;
    if (r->vvalue && sl_v_kind(h, r->vvalue) == SL_V_OBJ) {
        c = sl_v_strval(h, sl_v_get(h, sl_v_get(h, r->vvalue, "ns"), "coll"), NULL);
        if (!c) c = sl_v_strval(h, sl_v_get(h, sl_v_get(h, r->vvalue, "source"), "collection"), NULL);
    }
    if (!c) {
        const char *dot = strrchr(r->topic ? r->topic : "", '.');
        c = dot ? dot + 1 : r->topic ? r->topic : "";
    }
    return strcmp(c, want) == 0;
}

/* A document in JSON text (Debezium's `after`) or as it is. */
static sl_val *doc_value(sl_vheap *h, sl_val *v) {
    size_t n;
    const char *s = sl_v_strval(h, v, &n);
    return s ? sl_v_parse(h, s, n, NULL, 0) : v;
}

/*
 * What a MongoDB source's record says of its document: 1 with *id and *doc (NULL: deleted), 0 when it is no
 * document change (not a data event, or an update whose document is gone by the time it was looked up: its
 * delete follows), -1 with err. Takes mongo-kafka's change events, its full documents
 * (publish.full.document.only, a delete as a tombstone) and Debezium's MongoDB envelope.
 */
static int doc_of(sl_xrec *r, sl_val **id, sl_val **doc, char *err, size_t errsz) {
    sl_vheap *h = r->heap;
    sl_val *v = r->vvalue, *key = r->vkey;
    *id = *doc = NULL;
    sl_val *kid = sl_v_get(h, key, "_id");
    if (!kid && sl_v_get(h, key, "id")) kid = doc_value(h, sl_v_get(h, key, "id")); /* Debezium: the id as JSON */
    if (!v) { /* a tombstone */
        *id = kid;
        return *id ? 1 : 0;
    }
    const char *ot = sl_v_strval(h, sl_v_get(h, v, "operationType"), NULL);
    const char *op = sl_v_strval(h, sl_v_get(h, v, "op"), NULL);
    if (ot) {
        if (!strcmp(ot, "delete")) {
            *id = sl_v_get(h, sl_v_get(h, v, "documentKey"), "_id");
            return *id ? 1 : 0;
        }
        if (strcmp(ot, "insert") && strcmp(ot, "replace") && strcmp(ot, "update")) return 0;
        *doc = sl_v_get(h, v, "fullDocument");
    } else if (op && sl_v_get(h, v, "source")) {
        if (!strcmp(op, "d")) {
            *id = kid;
            return *id ? 1 : 0;
        }
        if (strcmp(op, "c") && strcmp(op, "r") && strcmp(op, "u")) return 0;
        *doc = doc_value(h, sl_v_get(h, v, "after"));
    } else {
        *doc = v; /* publish.full.document.only */
    }
    if (sl_v_is_null(h, *doc)) {
        *doc = NULL;
        return 0;
    }
    if (sl_v_kind(h, *doc) != SL_V_OBJ || !(*id = sl_v_get(h, *doc, "_id"))) {
        snprintf(err, errsz, "a document without _id");
        return -1;
    }
    return 1;
}

static sl_val *row_op(sl_vheap *h, const char *op, const char *table) {
    sl_val *o = sl_v_obj(h, 4);
    sl_v_set_ref(h, o, "op", 2, sl_v_str(h, op));
    sl_v_set_ref(h, o, "table", 5, sl_v_str(h, table));
    return o;
}

/* An upsert of row into table: columns the document does not hold become null, except `keep` (the columns the
 * mapping leaves out of the documents, which the table keeps as they are). */
static sl_val *upsert_op(sl_vheap *h, const char *table, sl_val *row, const names *keep, const names *but) {
    sl_val *o = row_op(h, "u", table), *k = sl_v_arr(h, (uint32_t)keep->n);
    for (int i = 0; i < keep->n; i++)
        if (!but || !names_has(but, keep->v[i])) sl_v_push(h, k, sl_v_str(h, keep->v[i]));
    sl_v_set_ref(h, o, "row", 3, row);
    sl_v_set_ref(h, o, "keep", 4, k);
    return o;
}

/* The parent key columns of child k with the values _id holds (one column: _id; several: _id's members, by
 * root.key's names or in order), or NULL. */
static sl_val *parent_cols(sl_vheap *h, const embed *e, const child *k, sl_val *id) {
    sl_val *p = sl_v_obj(h, (uint32_t)k->parent_key.n);
    if (k->parent_key.n == 1) {
        sl_v_set(h, p, k->parent_key.v[0], sl_v_copy(h, id));
        return p;
    }
    if (sl_v_kind(h, id) != SL_V_OBJ) return NULL;
    sl_v_force(h, id);
    for (int i = 0; i < k->parent_key.n; i++) {
        sl_val *x = e->root_key.n ? sl_v_get(h, id, e->root_key.v[i]) : (uint32_t)i < id->n ? id->m[i].v : NULL;
        if (!x) return NULL;
        sl_v_set(h, p, k->parent_key.v[i], sl_v_copy(h, x));
    }
    return p;
}

/* A child element as its table's row: renames undone, the parent key columns set. */
static sl_val *child_row(sl_vheap *h, const child *k, sl_val *elem, sl_val *parent) {
    sl_val *row = sl_v_obj(h, elem->n + parent->n);
    sl_v_force(h, elem);
    for (uint32_t i = 0; i < elem->n; i++)
        sl_v_set(h, row, renamed(&k->ren_to, &k->ren_from, elem->m[i].name), elem->m[i].v);
    for (uint32_t i = 0; i < parent->n; i++) sl_v_set_ref(h, row, parent->m[i].name, parent->m[i].len, parent->m[i].v);
    return row;
}

static int unembed_apply(void *state, sl_xrec *r, char *err, size_t errsz) {
    embed *e = state;
    sl_vheap *h = r->heap;
    if (!of_collection(r, collection(e))) return SL_X_KEEP;
    sl_val *id, *doc;
    int rc = doc_of(r, &id, &doc, err, errsz);
    if (rc < 0) return SL_X_ERROR;
    if (rc == 0) {
        SL_DEBUG("xform", "unembed: a record of %s that changes no document: left out", r->topic);
        return SL_X_DROP;
    }
    id = plain(h, id, 0);
    sl_val *ops = sl_v_arr(h, 4);
    if (doc) {
        doc = plain(h, doc, 0);
        sl_val *fields = sl_v_obj(h, doc->n), *root = upsert_op(h, e->conf->root_table, fields, &e->exclude, NULL);
        sl_v_set_ref(h, root, "id", 2, id);
        for (uint32_t i = 0; i < doc->n; i++) {
            const char *f = doc->m[i].name;
            bool embedded = !strcmp(f, "_id") || !strncmp(f, "__sluice", 8); /* sluice's marks are no data */
            for (int c = 0; !embedded && c < e->nkids; c++) embedded = !strcmp(e->kids[c].c.path, f);
            if (!embedded) sl_v_set(h, fields, renamed(&e->ren_to, &e->ren_from, f), doc->m[i].v);
        }
        sl_v_push(h, ops, root);
    }
    for (int c = 0; c < e->nkids; c++) {
        const child *k = &e->kids[c];
        sl_val *parent = parent_cols(h, e, k, id);
        if (!parent) {
            snprintf(err, errsz, "the document's _id has no value for each of child.%s.parent.key", k->name);
            return SL_X_ERROR;
        }
        sl_val *at = doc ? sl_v_get(h, doc, k->c.path) : NULL;
        sl_vkind kind = sl_v_kind(h, at);
        if (at && kind != SL_V_NULL && kind != (k->c.rel == REL_ARRAY ? SL_V_ARR : SL_V_OBJ)) {
            snprintf(err, errsz, "field '%s' of the document is not %s (child.%s.relationship)", k->c.path,
                     k->c.rel == REL_ARRAY ? "an array" : "a sub-document", k->name);
            return SL_X_ERROR;
        }
        if (kind == SL_V_ARR) {
            sl_v_force(h, at);
            for (uint32_t i = 0; i < at->n; i++) {
                if (sl_v_kind(h, at->e[i]) != SL_V_OBJ) {
                    snprintf(err, errsz, "element %u of '%s' is not a sub-document", i, k->c.path);
                    return SL_X_ERROR;
                }
                sl_v_push(h, ops, upsert_op(h, k->c.table, child_row(h, k, at->e[i], parent), &k->exclude,
                                            &k->parent_key));
            }
        } else if (kind == SL_V_OBJ) {
            sl_v_push(h, ops, upsert_op(h, k->c.table, child_row(h, k, at, parent), &k->exclude, &k->parent_key));
        }
        sl_val *p = row_op(h, "prune", k->c.table);
        sl_v_set_ref(h, p, "parent", 6, parent);
        sl_v_push(h, ops, p);
    }
    if (!doc) {
        sl_val *d = row_op(h, "d", e->conf->root_table);
        sl_v_set_ref(h, d, "id", 2, id);
        sl_v_push(h, ops, d);
    }
    r->vkey_schema = NULL;
    r->vkey = obj1(h, "_id", id);
    r->vvalue_schema = NULL;
    r->vvalue = obj1(h, "__sluice_rows", ops);
    return SL_X_KEEP;
}

static const sl_xform_ops unembed_ops = {
    .name = "unembed",
    .doc = "The inverse of embed (same options): each document change of a MongoDB source becomes the upserts of "
           "its root row and embedded child rows and the deletes of the children it no longer holds, applied by "
           "the SQL sink. Relationships array and object (merge cannot be inverted).",
    .props = embed_props,
    .settings_size = sizeof(embed_conf),
    .init = unembed_init,
    .apply_v = unembed_apply,
    .free = embed_free,
    .schema_readonly = true,
};

const sl_xform_ops *const sl_xforms_embed[] = {&embed_ops, &unembed_ops, NULL};
