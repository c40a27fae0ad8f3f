/*
 * mongo-kafka's sink record -> write model pipeline (see mongo_model.h).
 *
 * mongo-kafka edits BsonDocuments in place (LinkedHashMaps: put replaces a
 * value where it stands, new keys go to the end, remove keeps the order of
 * the rest). libbson documents are append-only, so a record's key and value
 * are turned into a small ordered tree (mdoc), the post processors edit the
 * tree with those same rules, and the write model strategy turns the tree
 * back into BSON. Each processor, id strategy and write model strategy below
 * names the Java class whose behaviour it reproduces, quirks included (e.g.
 * AllowList projections recurse into arrays without checking `path.**`,
 * UpdateOneTimestampsStrategy keeps _id in $set, RenameByMapping drops a
 * field whose new name is taken).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "sink/mongo_model.h"
#include "util/mem.h"
#include <ctype.h>
#include <stdarg.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

/* ---- the document tree ---- */

typedef struct mdoc mdoc;
typedef struct mval {
    bson_value_t v; /* scalars, owned (bson_value_copy); v.value_type also tells DOCUMENT / ARRAY */
    mdoc *sub;      /* DOCUMENT and ARRAY */
} mval;

struct mdoc {
    bool array;
    size_t n, cap;
    char **k;
    mval *v;
};

static mdoc *md_new(bool array) {
    mdoc *d = sl_calloc(1, sizeof *d);
    d->array = array;
    return d;
}

static void md_free(mdoc *d);

static void mv_free(mval *v) {
    if (v->sub) md_free(v->sub);
    else bson_value_destroy(&v->v);
    memset(v, 0, sizeof *v);
}

static void md_free(mdoc *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        sl_free(d->k[i]);
        mv_free(&d->v[i]);
    }
    sl_free(d->k);
    sl_free(d->v);
    sl_free(d);
}

static bool mv_is_doc(const mval *v) { return v->v.value_type == BSON_TYPE_DOCUMENT; }

/* Appends key -> v (taking v) without looking for the key. */
static void md_append(mdoc *d, const char *key, mval v) {
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->k = sl_realloc(d->k, d->cap * sizeof *d->k);
        d->v = sl_realloc(d->v, d->cap * sizeof *d->v);
    }
    d->k[d->n] = sl_strdup(key);
    d->v[d->n++] = v;
}

static long md_find(const mdoc *d, const char *key) {
    for (size_t i = 0; d && i < d->n; i++)
        if (strcmp(d->k[i], key) == 0) return (long)i;
    return -1;
}

static const mval *md_get(const mdoc *d, const char *key) {
    long i = md_find(d, key);
    return i < 0 ? NULL : &d->v[i];
}

/* Removes entry i; *taken receives its value when not NULL (else it is freed). */
static void md_remove_at(mdoc *d, size_t i, mval *taken) {
    sl_free(d->k[i]);
    if (taken) *taken = d->v[i];
    else mv_free(&d->v[i]);
    memmove(&d->k[i], &d->k[i + 1], (d->n - i - 1) * sizeof *d->k);
    memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof *d->v);
    d->n--;
}

static void md_remove(mdoc *d, const char *key) {
    long i = md_find(d, key);
    if (i >= 0) md_remove_at(d, (size_t)i, NULL);
}

/* BsonDocument.put: replaces the value where it stands, else appends. Takes v. */
static void md_put(mdoc *d, const char *key, mval v) {
    long i = md_find(d, key);
    if (i < 0) {
        md_append(d, key, v);
        return;
    }
    mv_free(&d->v[i]);
    d->v[i] = v;
}

static mdoc *md_from_iter(bson_iter_t *it, bool array) {
    mdoc *d = md_new(array);
    while (bson_iter_next(it)) {
        mval v = {0};
        bson_type_t t = bson_iter_type(it);
        if (t == BSON_TYPE_DOCUMENT || t == BSON_TYPE_ARRAY) {
            bson_iter_t child;
            v.v.value_type = t;
            if (bson_iter_recurse(it, &child)) v.sub = md_from_iter(&child, t == BSON_TYPE_ARRAY);
            else v.sub = md_new(t == BSON_TYPE_ARRAY);
        } else {
            bson_value_copy(bson_iter_value(it), &v.v);
        }
        md_append(d, bson_iter_key(it), v);
    }
    return d;
}

static mdoc *md_from_bson(const bson_t *b) {
    bson_iter_t it;
    if (!b || !bson_iter_init(&it, b)) return b ? md_new(false) : NULL;
    return md_from_iter(&it, false);
}

static void md_to_bson(const mdoc *d, bson_t *out);

static void mv_append(bson_t *out, const char *key, const mval *v) {
    bson_t child;
    if (v->v.value_type == BSON_TYPE_DOCUMENT) {
        bson_append_document_begin(out, key, -1, &child);
        md_to_bson(v->sub, &child);
        bson_append_document_end(out, &child);
    } else if (v->v.value_type == BSON_TYPE_ARRAY) {
        bson_append_array_begin(out, key, -1, &child);
        md_to_bson(v->sub, &child);
        bson_append_array_end(out, &child);
    } else {
        bson_append_value(out, key, -1, &v->v);
    }
}

static void md_to_bson(const mdoc *d, bson_t *out) {
    for (size_t i = 0; i < d->n; i++) {
        char idx[16];
        const char *key = d->k[i];
        if (d->array) {
            bson_uint32_to_string((uint32_t)i, &key, idx, sizeof idx);
        }
        mv_append(out, key, &d->v[i]);
    }
}

static bson_t *md_bson_new(const mdoc *d) {
    bson_t *b = bson_new();
    if (d) md_to_bson(d, b);
    return b;
}

static mdoc *md_clone(const mdoc *d);

static mval mv_clone(const mval *s) {
    mval v = {0};
    if (s->sub) {
        v.v.value_type = s->v.value_type;
        v.sub = md_clone(s->sub);
    } else {
        bson_value_copy(&s->v, &v.v);
    }
    return v;
}

static mdoc *md_clone(const mdoc *d) {
    if (!d) return NULL;
    mdoc *c = md_new(d->array);
    for (size_t i = 0; i < d->n; i++) md_append(c, d->k[i], mv_clone(&d->v[i]));
    return c;
}

static mval mv_doc(mdoc *d) {
    mval v = {0};
    v.v.value_type = BSON_TYPE_DOCUMENT;
    v.sub = d;
    return v;
}

static mval mv_utf8(const char *s) {
    mval v = {0};
    v.v.value_type = BSON_TYPE_UTF8;
    v.v.value.v_utf8.str = bson_strdup(s);
    v.v.value.v_utf8.len = (uint32_t)strlen(s);
    return v;
}

static mval mv_int64(int64_t n, bson_type_t t) {
    mval v = {0};
    v.v.value_type = t;
    if (t == BSON_TYPE_DATE_TIME) v.v.value.v_datetime = n;
    else v.v.value.v_int64 = n;
    return v;
}

static mval mv_uuid_bin(const uint8_t b[16]) {
    mval v = {0};
    v.v.value_type = BSON_TYPE_BINARY;
    v.v.value.v_binary.subtype = BSON_SUBTYPE_UUID;
    v.v.value.v_binary.data = bson_malloc(16);
    memcpy(v.v.value.v_binary.data, b, 16);
    v.v.value.v_binary.data_len = 16;
    return v;
}

/* A value as relaxed extended JSON (for messages); bson_free. */
static char *mv_json(const mval *v) {
    bson_t b = BSON_INITIALIZER;
    mv_append(&b, "v", v);
    char *all = bson_as_relaxed_extended_json(&b, NULL);
    bson_destroy(&b);
    /* { "v" : X } -> X */
    char *s = all ? strstr(all, " : ") : NULL;
    if (!s) return all;
    size_t n = strlen(s + 3);
    char *out = bson_strndup(s + 3, n >= 2 ? n - 2 : n);
    bson_free(all);
    return out;
}

/* Java's BsonType names, as mongo-kafka's messages print them. */
static const char *type_name(bson_type_t t) {
    switch (t) {
    case BSON_TYPE_DOUBLE: return "DOUBLE";
    case BSON_TYPE_UTF8: return "STRING";
    case BSON_TYPE_DOCUMENT: return "DOCUMENT";
    case BSON_TYPE_ARRAY: return "ARRAY";
    case BSON_TYPE_BINARY: return "BINARY";
    case BSON_TYPE_UNDEFINED: return "UNDEFINED";
    case BSON_TYPE_OID: return "OBJECT_ID";
    case BSON_TYPE_BOOL: return "BOOLEAN";
    case BSON_TYPE_DATE_TIME: return "DATE_TIME";
    case BSON_TYPE_NULL: return "NULL";
    case BSON_TYPE_REGEX: return "REGULAR_EXPRESSION";
    case BSON_TYPE_DBPOINTER: return "DB_POINTER";
    case BSON_TYPE_CODE: return "JAVASCRIPT";
    case BSON_TYPE_SYMBOL: return "SYMBOL";
    case BSON_TYPE_CODEWSCOPE: return "JAVASCRIPT_WITH_SCOPE";
    case BSON_TYPE_INT32: return "INT32";
    case BSON_TYPE_TIMESTAMP: return "TIMESTAMP";
    case BSON_TYPE_INT64: return "INT64";
    case BSON_TYPE_DECIMAL128: return "DECIMAL128";
    case BSON_TYPE_MINKEY: return "MIN_KEY";
    case BSON_TYPE_MAXKEY: return "MAX_KEY";
    default: return "END_OF_DOCUMENT";
    }
}

/* ---- names: short or full Java class names ---- */

typedef struct named {
    const char *name;
    int value;
} named;

/* Index of v in names (short name, or pkg + short name); -1 when unknown. */
static int lookup_name(const named *names, const char *pkg, const char *v) {
    size_t pl = strlen(pkg);
    const char *s = strncmp(v, pkg, pl) == 0 ? v + pl : v;
    for (int i = 0; names[i].name; i++)
        if (strcmp(names[i].name, s) == 0 && (s == v ? strchr(v, '.') == NULL : true)) return names[i].value;
    return -1;
}

static void unknown_name(sl_errs *errs, const char *key, const char *v, const named *names, const char *pkg,
                         const char *what) {
    char allowed[1024];
    size_t o = 0;
    allowed[0] = 0;
    for (int i = 0; names[i].name && o < sizeof allowed; i++)
        o += (size_t)snprintf(allowed + o, sizeof allowed - o, "%s%s", i ? ", " : "", names[i].name);
    sl_errs_add(errs, "%s: '%s' is not a known %s (allowed: %s; or the full class names %s<name>)", key, v, what,
                allowed, pkg);
}

enum id_kind {
    ID_OID, ID_KAFKA_META, ID_FULL_KEY, ID_PARTIAL_KEY, ID_PARTIAL_VALUE, ID_PROVIDED_KEY, ID_PROVIDED_VALUE,
    ID_UUID, ID_UUID_PROVIDED_KEY, ID_UUID_PROVIDED_VALUE
};
#define ID_PKG SL_MONGO_PKG "processor.id.strategy."
static const named id_names[] = {{"BsonOidStrategy", ID_OID},
                                 {"KafkaMetaDataStrategy", ID_KAFKA_META},
                                 {"FullKeyStrategy", ID_FULL_KEY},
                                 {"PartialKeyStrategy", ID_PARTIAL_KEY},
                                 {"PartialValueStrategy", ID_PARTIAL_VALUE},
                                 {"ProvidedInKeyStrategy", ID_PROVIDED_KEY},
                                 {"ProvidedInValueStrategy", ID_PROVIDED_VALUE},
                                 {"UuidStrategy", ID_UUID},
                                 {"UuidProvidedInKeyStrategy", ID_UUID_PROVIDED_KEY},
                                 {"UuidProvidedInValueStrategy", ID_UUID_PROVIDED_VALUE},
                                 {NULL, 0}};

enum wm_kind {
    WM_DEFAULT, WM_REPLACE, WM_REPLACE_BK, WM_UPDATE, WM_UPDATE_TS, WM_UPDATE_BK_TS, WM_INSERT, WM_DELETE,
    WM_DELETE_BK, WM_DELETE_TOMBSTONE_BK,
    WM_DELETE_BY_ID /* DeleteOneDefaultStrategy(idStrategy): delete.on.null.values with the default strategy */
};
#define WM_PKG SL_MONGO_PKG "writemodel.strategy."
static const named wm_names[] = {{"DefaultWriteModelStrategy", WM_DEFAULT},
                                 {"ReplaceOneDefaultStrategy", WM_REPLACE},
                                 {"ReplaceOneBusinessKeyStrategy", WM_REPLACE_BK},
                                 {"UpdateOneDefaultStrategy", WM_UPDATE},
                                 {"UpdateOneTimestampsStrategy", WM_UPDATE_TS},
                                 {"UpdateOneBusinessKeyTimestampStrategy", WM_UPDATE_BK_TS},
                                 {"InsertOneDefaultStrategy", WM_INSERT},
                                 {"DeleteOneDefaultStrategy", WM_DELETE},
                                 {"DeleteOneBusinessKeyStrategy", WM_DELETE_BK},
                                 {"DeleteOneTombstoneBusinessKeyStrategy", WM_DELETE_TOMBSTONE_BK},
                                 {NULL, 0}};

enum pp_kind {
    PP_ID_ADDER, PP_BLOCK_KEY, PP_BLOCK_VALUE, PP_ALLOW_KEY, PP_ALLOW_VALUE, PP_RENAME_MAP, PP_RENAME_REGEXP,
    PP_META, PP_NULL_REMOVER
};
#define PP_PKG SL_MONGO_PKG "processor."
static const named pp_names[] = {{"DocumentIdAdder", PP_ID_ADDER},
                                 {"BlockListKeyProjector", PP_BLOCK_KEY},
                                 {"BlockListValueProjector", PP_BLOCK_VALUE},
                                 {"AllowListKeyProjector", PP_ALLOW_KEY},
                                 {"AllowListValueProjector", PP_ALLOW_VALUE},
                                 {"BlacklistKeyProjector", PP_BLOCK_KEY},
                                 {"BlacklistValueProjector", PP_BLOCK_VALUE},
                                 {"WhitelistKeyProjector", PP_ALLOW_KEY},
                                 {"WhitelistValueProjector", PP_ALLOW_VALUE},
                                 {"field.renaming.RenameByMapping", PP_RENAME_MAP},
                                 {"field.renaming.RenameByRegExp", PP_RENAME_REGEXP},
                                 {"KafkaMetaAdder", PP_META},
                                 {"NullFieldValueRemover", PP_NULL_REMOVER},
                                 {NULL, 0}};
static const named pp_short_names[] = {{"RenameByMapping", PP_RENAME_MAP}, {"RenameByRegExp", PP_RENAME_REGEXP},
                                       {NULL, 0}};

#define NS_PKG SL_MONGO_PKG "namespace.mapping."
static const named ns_names[] = {{"DefaultNamespaceMapper", 0}, {"FieldPathNamespaceMapper", 1}, {NULL, 0}};

/* ---- the compiled model ---- */

/* A FieldProjector's field set (AllowList: with every left prefix of dotted paths). */
typedef struct projector {
    bool allow;
    char **f;
    size_t n;
} projector;

typedef struct pp {
    int kind;
    projector proj;
} pp;

typedef struct rxset {
    pcre2_code *re;  /* `regexp`, anchored at both ends (String.matches) */
    pcre2_code *pat; /* `pattern` (String.replaceAll) */
    char *replace;   /* in PCRE2's replacement syntax */
} rxset;

struct sl_mongo_model {
    char *db, *coll;
    bool field_mapper, ns_err;
    char *kdb, *kcoll, *vdb, *vcoll;
    int id;
    bool overwrite, uuid_binary;
    projector id_proj; /* Partial{Key,Value}Strategy */
    pp *chain;
    size_t nchain;
    char **map_old, **map_new;
    size_t nmap;
    rxset *rx;
    size_t nrx;
    int wm, del;
    bool delete_on_null;
    sl_mongo_ids ids;
};

static bool proj_has(const projector *p, const char *f) {
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->f[i], f) == 0) return true;
    return false;
}

static void proj_add(projector *p, const char *f, size_t len) {
    char *s = sl_strndup(f, len);
    if (proj_has(p, s)) {
        sl_free(s);
        return;
    }
    p->f = sl_realloc(p->f, (p->n + 1) * sizeof *p->f);
    p->f[p->n++] = s;
}

static void proj_free(projector *p) {
    for (size_t i = 0; i < p->n; i++) sl_free(p->f[i]);
    sl_free(p->f);
    memset(p, 0, sizeof *p);
}

/* FieldProjector.buildProjectionList: comma-separated, whitespace trimmed, empty items dropped. */
static void proj_build(projector *p, bool allow, const char *list) {
    p->allow = allow;
    for (const char *s = list ? list : ""; *s;) {
        while (*s && (isspace((unsigned char)*s) || *s == ',')) s++;
        const char *e = s;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > s && isspace((unsigned char)t[-1])) t--;
        if (t > s) {
            proj_add(p, s, (size_t)(t - s));
            for (const char *d = t; allow && d > s; d--) /* "a.b.c" also allows "a.b" and "a" */
                if (d[-1] == '.' && d - 1 > s) proj_add(p, s, (size_t)(d - 1 - s));
        }
        s = e;
    }
}

static bool empty(const char *s) { return !s || !*s; }

/* Splits a Kafka LIST value; calls fn for each trimmed, non-empty item. */
static void each_item(const char *list, void (*fn)(const char *item, void *arg), void *arg) {
    char buf[512];
    for (const char *s = list ? list : ""; *s;) {
        while (*s && (isspace((unsigned char)*s) || *s == ',')) s++;
        const char *e = s;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > s && isspace((unsigned char)t[-1])) t--;
        if (t > s) {
            size_t n = (size_t)(t - s) < sizeof buf - 1 ? (size_t)(t - s) : sizeof buf - 1;
            memcpy(buf, s, n);
            buf[n] = 0;
            fn(buf, arg);
        }
        s = e;
    }
}

/* ---- relaxed JSON of the renamer settings (Document.parse accepts 'quotes' and bare keys) ---- */

static char *json_strict(const char *s) {
    size_t n = strlen(s);
    char *o = sl_malloc(3 * n + 1), *p = o;
    while (*s) {
        if (*s == '"') { /* a JSON string: copied as it is */
            *p++ = *s++;
            while (*s && *s != '"') {
                if (*s == '\\' && s[1]) *p++ = *s++;
                *p++ = *s++;
            }
            if (*s) *p++ = *s++;
        } else if (*s == '\'') {
            *p++ = '"';
            s++;
            while (*s && *s != '\'') {
                if (*s == '\\' && s[1] == '\'') s++;
                else if (*s == '\\' && s[1]) *p++ = *s++;
                else if (*s == '"') *p++ = '\\';
                *p++ = *s++;
            }
            if (*s) s++;
            *p++ = '"';
        } else if (isalpha((unsigned char)*s) || *s == '_' || *s == '$') {
            const char *w = s;
            while (isalnum((unsigned char)*s) || *s == '_' || *s == '$' || *s == '.') s++;
            const char *q = s;
            while (isspace((unsigned char)*q)) q++;
            bool key = *q == ':';
            if (key) *p++ = '"';
            memcpy(p, w, (size_t)(s - w));
            p += s - w;
            if (key) *p++ = '"';
        } else {
            *p++ = *s++;
        }
    }
    *p = 0;
    return o;
}

static bson_t *parse_array_once(const char *text) {
    char *strict = json_strict(text);
    size_t n = strlen(strict) + 16;
    char *wrapped = sl_malloc(n);
    snprintf(wrapped, n, "{\"s\": %s}", strict);
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)wrapped, -1, &be);
    sl_free(wrapped);
    sl_free(strict);
    bson_iter_t it;
    if (b && !(bson_iter_init_find(&it, b, "s") && BSON_ITER_HOLDS_ARRAY(&it) && bson_count_keys(b) == 1)) {
        bson_destroy(b);
        b = NULL;
    }
    return b;
}

/* ConfigHelper.jsonArrayFromString: {"s": <text>}, retried with every backslash doubled. */
static bson_t *parse_array(const char *text) {
    bson_t *b = parse_array_once(text);
    if (b) return b;
    size_t n = strlen(text);
    char *dbl = sl_malloc(2 * n + 1), *p = dbl;
    for (const char *s = text; *s; s++) {
        if (*s == '\\') *p++ = '\\';
        *p++ = *s;
    }
    *p = 0;
    b = parse_array_once(dbl);
    sl_free(dbl);
    return b;
}

/* ---- compile ---- */

typedef struct chain_ctx {
    sl_mongo_model *m;
    sl_errs *errs;
    const char *value;
    bool has_adder;
} chain_ctx;

static void add_pp(const char *item, void *arg) {
    chain_ctx *c = arg;
    int k = lookup_name(pp_names, PP_PKG, item);
    if (k < 0) k = lookup_name(pp_short_names, "", item);
    if (k < 0) {
        named all[16];
        int n = 0;
        for (int i = 0; pp_names[i].name; i++)
            if (!strchr(pp_names[i].name, '.')) all[n++] = pp_names[i];
        all[n++] = pp_short_names[0];
        all[n++] = pp_short_names[1];
        all[n].name = NULL;
        unknown_name(c->errs, "post.processor.chain", item, all, PP_PKG, "post processor");
        return;
    }
    if (k == PP_ID_ADDER) c->has_adder = true;
    c->m->chain = sl_realloc(c->m->chain, (c->m->nchain + 1) * sizeof *c->m->chain);
    pp *p = &c->m->chain[c->m->nchain++];
    memset(p, 0, sizeof *p);
    p->kind = k;
}

/* Java's replaceAll replacement ("\x" literal x, "$1" / "${name}" groups) in PCRE2's syntax. */
static char *java_replacement(const char *r) {
    char *o = sl_malloc(2 * strlen(r) + 1), *p = o;
    for (; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            if (*r == '$') *p++ = '$';
            *p++ = *r;
        } else {
            *p++ = *r;
        }
    }
    *p = 0;
    return o;
}

static pcre2_code *rx_compile(const char *key, const char *what, const char *pat, uint32_t opts, sl_errs *errs) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        sl_errs_add(errs, "%s: %s '%s' is not a valid regular expression: %s at offset %zu", key, what, pat,
                    (char *)msg, (size_t)off);
    }
    return re;
}

static const char *doc_str(const bson_t *d, const char *k) {
    bson_iter_t it;
    return bson_iter_init_find(&it, d, k) && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : NULL;
}

/* RenameByMapping's and RenameByRegExp's settings. */
static void compile_renamers(sl_mongo_model *m, const sl_mongo_model_conf *c, sl_errs *errs) {
    const char *mk = "field.renamer.mapping", *rk = "field.renamer.regexp";
    bson_t *a = empty(c->renamer_mapping) ? NULL : parse_array(c->renamer_mapping);
    bson_iter_t it, el;
    if (!empty(c->renamer_mapping) && !a)
        sl_errs_add(errs, "%s: not a valid JSON array: %s", mk, c->renamer_mapping);
    if (a && bson_iter_init_find(&it, a, "s") && bson_iter_recurse(&it, &el)) {
        while (bson_iter_next(&el)) {
            bson_t d;
            uint32_t len;
            const uint8_t *data;
            const char *o = NULL, *n = NULL;
            if (BSON_ITER_HOLDS_DOCUMENT(&el)) {
                bson_iter_document(&el, &len, &data);
                bson_init_static(&d, data, len);
                o = doc_str(&d, "oldName");
                n = doc_str(&d, "newName");
            }
            if (!o || !n) {
                sl_errs_add(errs, "%s: Both oldName and newName must be mapped (as strings): %s", mk,
                            c->renamer_mapping);
                break;
            }
            m->map_old = sl_realloc(m->map_old, (m->nmap + 1) * sizeof *m->map_old);
            m->map_new = sl_realloc(m->map_new, (m->nmap + 1) * sizeof *m->map_new);
            m->map_old[m->nmap] = sl_strdup(o);
            m->map_new[m->nmap++] = sl_strdup(n);
        }
    }
    if (a) bson_destroy(a);
    a = empty(c->renamer_regexp) ? NULL : parse_array(c->renamer_regexp);
    if (!empty(c->renamer_regexp) && !a) sl_errs_add(errs, "%s: not a valid JSON array: %s", rk, c->renamer_regexp);
    if (a && bson_iter_init_find(&it, a, "s") && bson_iter_recurse(&it, &el)) {
        while (bson_iter_next(&el)) {
            bson_t d;
            uint32_t len;
            const uint8_t *data;
            const char *re = NULL, *pat = NULL, *rep = NULL;
            if (BSON_ITER_HOLDS_DOCUMENT(&el)) {
                bson_iter_document(&el, &len, &data);
                bson_init_static(&d, data, len);
                re = doc_str(&d, "regexp");
                pat = doc_str(&d, "pattern");
                rep = doc_str(&d, "replace");
            }
            if (!re || !pat || !rep) {
                sl_errs_add(errs, "%s: each entry needs the strings regexp, pattern and replace: %s", rk,
                            c->renamer_regexp);
                break;
            }
            rxset r = {rx_compile(rk, "regexp", re, PCRE2_ANCHORED | PCRE2_ENDANCHORED, errs),
                       rx_compile(rk, "pattern", pat, 0, errs), java_replacement(rep)};
            m->rx = sl_realloc(m->rx, (m->nrx + 1) * sizeof *m->rx);
            m->rx[m->nrx++] = r;
        }
    }
    if (a) bson_destroy(a);
}

/* PartialKeyStrategy / PartialValueStrategy.configure. */
static void compile_partial(sl_mongo_model *m, const sl_mongo_model_conf *c, sl_errs *errs) {
    bool key = m->id == ID_PARTIAL_KEY;
    const char *type = key ? c->pk_type : c->pv_type, *list = key ? c->pk_list : c->pv_list;
    const char *tkey = key ? "document.id.strategy.partial.key.projection.type"
                           : "document.id.strategy.partial.value.projection.type";
    static const char *const types[] = {"none", "blocklist", "allowlist", "blacklist", "whitelist"};
    int t = -1;
    if (empty(type)) {
        t = key ? c->key_proj_type : c->value_proj_type;
    } else {
        for (int i = 0; i < 5; i++)
            if (strcasecmp(type, types[i]) == 0) t = i;
        if (t < 0) {
            sl_errs_add(errs, "%s: '%s' is not allowed (allowed: AllowList, BlockList, or empty to use %s)", tkey,
                        type, key ? "key.projection.type" : "value.projection.type");
            return;
        }
    }
    if (empty(list)) list = key ? c->key_proj_list : c->value_proj_list;
    if (t <= 0) {
        sl_errs_add(errs, "document.id.strategy: Invalid %s value. It should be set to either BLOCKLIST or ALLOWLIST",
                    key ? "key.projection.type" : "value.projection.type");
        return;
    }
    proj_build(&m->id_proj, t == 2 || t == 4, list);
}

static void compile_ns(sl_mongo_model *m, const sl_mongo_model_conf *c, sl_errs *errs) {
    m->db = sl_strdup(c->database ? c->database : "");
    m->coll = sl_strdup(c->collection ? c->collection : "");
    int ns = lookup_name(ns_names, NS_PKG, c->ns_mapper ? c->ns_mapper : "");
    if (ns < 0) {
        unknown_name(errs, "namespace.mapper", c->ns_mapper ? c->ns_mapper : "", ns_names, NS_PKG,
                     "namespace mapper");
        return;
    }
    m->field_mapper = ns == 1;
    m->ns_err = c->ns_error_if_invalid;
    m->kdb = sl_strdup(c->ns_key_db ? c->ns_key_db : "");
    m->kcoll = sl_strdup(c->ns_key_coll ? c->ns_key_coll : "");
    m->vdb = sl_strdup(c->ns_value_db ? c->ns_value_db : "");
    m->vcoll = sl_strdup(c->ns_value_coll ? c->ns_value_coll : "");
    if (!m->field_mapper) return;
    if (!*m->kdb && !*m->vdb && !*m->kcoll && !*m->vcoll)
        sl_errs_add(errs, "namespace.mapper: Missing configuration for the FieldBasedNamespaceMapper. Please "
                          "configure the database and / or collection field path.");
    if (*m->kdb && *m->vdb)
        sl_errs_add(errs, "namespace.mapper.key.database.field: Cannot set both: "
                          "'namespace.mapper.key.database.field' and 'namespace.mapper.value.database.field'");
    else if (*m->kcoll && *m->vcoll)
        sl_errs_add(errs, "namespace.mapper.key.collection.field: Cannot set both: "
                          "'namespace.mapper.key.collection.field' and 'namespace.mapper.value.collection.field'");
}

static void compile_wm(sl_mongo_model *m, const sl_mongo_model_conf *c, sl_errs *errs) {
    const char *wm = c->wm_strategy ? c->wm_strategy : "";
    m->wm = lookup_name(wm_names, WM_PKG, wm);
    if (m->wm < 0) unknown_name(errs, "writemodel.strategy", wm, wm_names, WM_PKG, "write model strategy");
    else if (m->wm == WM_DEFAULT) m->wm = c->timeseries ? WM_INSERT : WM_REPLACE;
    const char *del = c->delete_wm_strategy ? c->delete_wm_strategy : "";
    m->del = lookup_name(wm_names, WM_PKG, del);
    m->delete_on_null = c->delete_on_null;
    if (m->del < 0) {
        unknown_name(errs, "delete.writemodel.strategy", del, wm_names, WM_PKG, "write model strategy");
        return;
    }
    if (m->del == WM_DEFAULT) m->del = c->timeseries ? WM_INSERT : WM_REPLACE;
    /* MongoSinkTopicConfig.getDeleteWriteModelStrategy */
    if (m->delete_on_null && m->del == WM_DELETE) {
        if (m->id == ID_FULL_KEY || m->id == ID_PARTIAL_KEY || m->id == ID_PROVIDED_KEY)
            m->del = WM_DELETE_BY_ID;
        else if (m->id >= 0)
            sl_errs_add(errs, "delete.on.null.values: DeleteOneDefaultStrategy can only be applied when the "
                              "configured IdStrategy is an instance of: FullKeyStrategy or PartialKeyStrategy or "
                              "ProvidedInKeyStrategy");
    }
}

bool sl_mongo_model_ns_by_value(const sl_mongo_model *m) { return m->field_mapper; }

int sl_mongo_model_compile(const sl_mongo_model_conf *c, sl_mongo_model **out, sl_errs *errs) {
    int before = errs->n;
    sl_mongo_model *m = sl_calloc(1, sizeof *m);
    *out = NULL;
    if (empty(c->database)) sl_errs_add(errs, "database: required, not set");
    compile_ns(m, c, errs);
    const char *id = c->id_strategy ? c->id_strategy : "";
    m->id = lookup_name(id_names, ID_PKG, id);
    if (m->id < 0) unknown_name(errs, "document.id.strategy", id, id_names, ID_PKG, "id strategy");
    if (m->id == ID_PARTIAL_KEY || m->id == ID_PARTIAL_VALUE) compile_partial(m, c, errs);
    m->overwrite = c->id_overwrite;
    m->uuid_binary = c->uuid_format == 1;
    chain_ctx cc = {m, errs, c->chain, false};
    each_item(c->chain, add_pp, &cc);
    if (!cc.has_adder) { /* PostProcessors: DocumentIdAdder first unless listed */
        m->chain = sl_realloc(m->chain, (m->nchain + 1) * sizeof *m->chain);
        memmove(&m->chain[1], &m->chain[0], m->nchain * sizeof *m->chain);
        memset(&m->chain[0], 0, sizeof *m->chain);
        m->nchain++;
    }
    for (size_t i = 0; i < m->nchain; i++) {
        pp *p = &m->chain[i];
        if (p->kind == PP_BLOCK_KEY || p->kind == PP_ALLOW_KEY)
            proj_build(&p->proj, p->kind == PP_ALLOW_KEY, c->key_proj_list);
        else if (p->kind == PP_BLOCK_VALUE || p->kind == PP_ALLOW_VALUE)
            proj_build(&p->proj, p->kind == PP_ALLOW_VALUE, c->value_proj_list);
    }
    compile_renamers(m, c, errs);
    compile_wm(m, c, errs);
    if (errs->n > before) {
        sl_mongo_model_destroy(m);
        return errs->n - before;
    }
    *out = m;
    return 0;
}

void sl_mongo_model_destroy(sl_mongo_model *m) {
    if (!m) return;
    sl_free(m->db);
    sl_free(m->coll);
    sl_free(m->kdb);
    sl_free(m->kcoll);
    sl_free(m->vdb);
    sl_free(m->vcoll);
    proj_free(&m->id_proj);
    for (size_t i = 0; i < m->nchain; i++) proj_free(&m->chain[i].proj);
    sl_free(m->chain);
    for (size_t i = 0; i < m->nmap; i++) {
        sl_free(m->map_old[i]);
        sl_free(m->map_new[i]);
    }
    sl_free(m->map_old);
    sl_free(m->map_new);
    for (size_t i = 0; i < m->nrx; i++) {
        pcre2_code_free(m->rx[i].re);
        pcre2_code_free(m->rx[i].pat);
        sl_free(m->rx[i].replace);
    }
    sl_free(m->rx);
    sl_free(m);
}

void sl_mongo_model_set_ids(sl_mongo_model *m, const sl_mongo_ids *ids) { m->ids = *ids; }

/* ---- build: state of one record ---- */

typedef struct ctx {
    const sl_mongo_model *m;
    const sl_msink_rec *rec;
    mdoc *key, *value; /* the SinkDocument: NULL = absent */
    char *err;
    size_t errsz;
} ctx;

static int fail(ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx *x, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, x->errsz, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- FieldProjector ---- */

/* Splits s at '.', dropping trailing empty parts as Java's String.split does. */
static size_t split_dots(char *s, char **parts, size_t max) {
    size_t n = 0;
    for (char *p = s;; ) {
        char *d = strchr(p, '.');
        if (n == max) return max + 1;
        parts[n++] = p;
        if (!d) break;
        *d = 0;
        p = d + 1;
    }
    while (n && !*parts[n - 1]) n--;
    return n;
}

/* AllowListProjector.checkForWildcardMatch: a "prefix*" field, or a field equal to the key with any parts '*'. */
static bool allow_wildcard(const projector *p, const char *key) {
    for (size_t i = 0; i < p->n; i++) {
        const char *f = p->f[i];
        size_t n = strlen(f);
        if (!strchr(f, '.') && strcmp(f, "*") && n && f[n - 1] == '*' && strncmp(key, f, n - 1) == 0) return true;
    }
    enum { MAXP = 64 };
    char *kc = sl_strdup(key), *kp[MAXP];
    size_t kn = split_dots(kc, kp, MAXP);
    bool hit = false;
    for (size_t i = 0; i < p->n && !hit && kn <= MAXP; i++) {
        char *fc = sl_strdup(p->f[i]), *fp[MAXP];
        size_t fn = split_dots(fc, fp, MAXP);
        if (fn == kn) {
            hit = true;
            for (size_t j = 0; j < kn && hit; j++) hit = strcmp(fp[j], "*") == 0 || strcmp(fp[j], kp[j]) == 0;
        }
        sl_free(fc);
    }
    sl_free(kc);
    return hit;
}

static char *join_path(const char *path, const char *key) {
    size_t n = strlen(path) + strlen(key) + 2;
    char *s = sl_malloc(n);
    if (*path) snprintf(s, n, "%s.%s", path, key);
    else snprintf(s, n, "%s", key);
    return s;
}

/* AllowListProjector.doProjection */
static void allow_doc(const projector *p, const char *path, mdoc *d) {
    if (proj_has(p, "**")) return;
    for (size_t i = 0; i < d->n;) {
        char *key = join_path(path, d->k[i]);
        if (!proj_has(p, key) && !allow_wildcard(p, key)) {
            md_remove_at(d, i, NULL); /* Java still recurses into the removed value: nothing to see */
            sl_free(key);
            continue;
        }
        mval *v = &d->v[i];
        if (mv_is_doc(v)) {
            char *dd = join_path(key, "**");
            if (!proj_has(p, dd)) allow_doc(p, key, v->sub);
            sl_free(dd);
        } else if (v->v.value_type == BSON_TYPE_ARRAY) {
            for (size_t j = 0; j < v->sub->n; j++)
                if (mv_is_doc(&v->sub->v[j])) allow_doc(p, key, v->sub->v[j].sub);
        }
        sl_free(key);
        i++;
    }
}

static void block_field(const char *field, mdoc *d);

/* BlockListProjector.handleWildcard */
static void block_wildcard(const char *first, const char *other, mdoc *d) {
    for (size_t i = 0; i < d->n;) {
        if (strcmp(first, "**") == 0 || !mv_is_doc(&d->v[i])) {
            md_remove_at(d, i, NULL);
            continue;
        }
        if (*other) block_field(other, d->v[i].sub);
        i++;
    }
}

/* BlockListProjector.doProjection for one field of the list */
static void block_field(const char *field, mdoc *d) {
    const char *dot = strchr(field, '.');
    if (!dot) {
        size_t n = strlen(field);
        if (strcmp(field, "*") == 0 || strcmp(field, "**") == 0) {
            block_wildcard(field, "", d);
        } else if (n && field[n - 1] == '*') {
            for (size_t i = 0; i < d->n;) {
                if (strncmp(d->k[i], field, n - 1) == 0) md_remove_at(d, i, NULL);
                else i++;
            }
        } else {
            md_remove(d, field);
        }
        return;
    }
    char *first = sl_strndup(field, (size_t)(dot - field));
    if (strcmp(first, "*") == 0 || strcmp(first, "**") == 0) {
        block_wildcard(first, dot + 1, d);
    } else {
        const mval *v = md_get(d, first);
        if (v && mv_is_doc(v)) block_field(dot + 1, v->sub);
        else if (v && v->v.value_type == BSON_TYPE_ARRAY)
            for (size_t j = 0; j < v->sub->n; j++)
                if (mv_is_doc(&v->sub->v[j])) block_field(dot + 1, v->sub->v[j].sub);
    }
    sl_free(first);
}

static void project(const projector *p, mdoc *d) {
    if (!d) return;
    if (p->allow) allow_doc(p, "", d);
    else
        for (size_t i = 0; i < p->n; i++) block_field(p->f[i], d);
}

/* ---- IdStrategy.generateId ---- */

static void default_oid(bson_oid_t *oid, void *arg) {
    (void)arg;
    bson_oid_init(oid, NULL);
}

static void default_uuid(uint8_t b[16], void *arg) {
    (void)arg;
    size_t got = 0;
    while (got < 16) {
        ssize_t r = getrandom(b + got, 16 - got, 0);
        if (r > 0) got += (size_t)r;
    }
}

static void uuid_text(const uint8_t b[16], char out[37]) {
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* UuidProvidedStrategy.constructUuidObjectFromString: 36 chars 8-4-4-4-12, or 32 hex digits. */
static bool uuid_parse(const char *s, uint8_t out[16]) {
    size_t n = strlen(s);
    if (n != 36 && n != 32) return false;
    int nib = 0;
    for (size_t i = 0; i < n; i++) {
        if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-') return false;
            continue;
        }
        int h = hexval(s[i]);
        if (h < 0) return false;
        if (nib % 2 == 0) out[nib / 2] = (uint8_t)(h << 4);
        else out[nib / 2] |= (uint8_t)h;
        nib++;
    }
    return nib == 32;
}

static int provided_id(ctx *x, bool in_key, mval *id) {
    const mval *v = md_get(in_key ? x->key : x->value, "_id");
    if (!v)
        return fail(x, "Provided id strategy is used but the document structure either contained no _id field or "
                       "it was null");
    if (v->v.value_type == BSON_TYPE_NULL)
        return fail(x, "Provided id strategy used but the document structure contained an _id of type BsonNull");
    *id = mv_clone(v);
    return 0;
}

static int uuid_provided_id(ctx *x, bool in_key, mval *id) {
    if (provided_id(x, in_key, id) < 0) return -1;
    if (id->v.value_type == BSON_TYPE_BINARY &&
        (id->v.value.v_binary.subtype == BSON_SUBTYPE_UUID ||
         id->v.value.v_binary.subtype == BSON_SUBTYPE_UUID_DEPRECATED))
        return 0;
    uint8_t b[16];
    if (id->v.value_type == BSON_TYPE_UTF8 && uuid_parse(id->v.value.v_utf8.str, b)) {
        mv_free(id);
        *id = mv_uuid_bin(b);
        return 0;
    }
    char *j = id->v.value_type == BSON_TYPE_UTF8 ? bson_strdup(id->v.value.v_utf8.str) : mv_json(id);
    fail(x, "UUID cannot be constructed from provided value: `%s`", j);
    bson_free(j);
    mv_free(id);
    return -1;
}

/* The id of `kind` for the record's current key and value documents. */
static int gen_id(ctx *x, int kind, mval *id) {
    const sl_mongo_model *m = x->m;
    const sl_msink_rec *r = x->rec;
    memset(id, 0, sizeof *id);
    switch (kind) {
    case ID_OID:
        id->v.value_type = BSON_TYPE_OID;
        (m->ids.oid ? m->ids.oid : default_oid)(&id->v.value.v_oid, m->ids.arg);
        return 0;
    case ID_KAFKA_META: {
        char s[1024];
        snprintf(s, sizeof s, "%s#%d#%lld", r->topic ? r->topic : "null", (int)r->partition, (long long)r->offset);
        *id = mv_utf8(s);
        return 0;
    }
    case ID_FULL_KEY:
        *id = mv_doc(x->key ? md_clone(x->key) : md_new(false));
        return 0;
    case ID_PARTIAL_KEY:
    case ID_PARTIAL_VALUE: { /* on a clone: later projections must not see it */
        mdoc *c = md_clone(kind == ID_PARTIAL_KEY ? x->key : x->value);
        project(&m->id_proj, c);
        *id = mv_doc(c ? c : md_new(false));
        return 0;
    }
    case ID_PROVIDED_KEY:
    case ID_PROVIDED_VALUE: return provided_id(x, kind == ID_PROVIDED_KEY, id);
    case ID_UUID: {
        uint8_t b[16];
        (m->ids.uuid ? m->ids.uuid : default_uuid)(b, m->ids.arg);
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* UUID.randomUUID: version 4, IETF variant */
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
        if (m->uuid_binary) {
            *id = mv_uuid_bin(b);
        } else {
            char s[37];
            uuid_text(b, s);
            *id = mv_utf8(s);
        }
        return 0;
    }
    default: return uuid_provided_id(x, kind == ID_UUID_PROVIDED_KEY, id);
    }
}

/* ---- post processors ---- */

/* DocumentIdAdder */
static int add_id(ctx *x) {
    if (!x->value || (md_find(x->value, "_id") >= 0 && !x->m->overwrite)) return 0;
    mval id;
    if (gen_id(x, x->m->id, &id) < 0) return -1;
    md_put(x->value, "_id", id);
    return 0;
}

/* Renamer.renamed of both renamers; NULL with x->err set when a replacement fails. */
static char *renamed(ctx *x, bool regexp, const char *path, const char *name) {
    char *full = join_path(path, name);
    char *cur = sl_strdup(name);
    const sl_mongo_model *m = x->m;
    if (!regexp) {
        for (size_t i = m->nmap; i-- > 0;) /* a HashMap: the last mapping of a name wins */
            if (strcmp(m->map_old[i], full) == 0) {
                sl_free(cur);
                cur = sl_strdup(m->map_new[i]);
                break;
            }
    }
    for (size_t i = 0; regexp && cur && i < m->nrx; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(m->rx[i].re, NULL);
        int rc = pcre2_match(m->rx[i].re, (PCRE2_SPTR)full, strlen(full), 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc < 0) continue;
        PCRE2_SIZE outlen = strlen(cur) * 2 + 64;
        for (int tries = 0; tries < 2; tries++) {
            PCRE2_UCHAR *buf = sl_malloc(outlen + 1);
            PCRE2_SIZE len = outlen + 1;
            int src = pcre2_substitute(m->rx[i].pat, (PCRE2_SPTR)cur, strlen(cur), 0,
                                       PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, NULL, NULL,
                                       (PCRE2_SPTR)m->rx[i].replace, PCRE2_ZERO_TERMINATED, buf, &len);
            if (src >= 0) {
                sl_free(cur);
                cur = (char *)buf;
                break;
            }
            sl_free(buf);
            if (src == PCRE2_ERROR_NOMEMORY && tries == 0) {
                outlen = len;
                continue;
            }
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(src, msg, sizeof msg);
            fail(x, "field.renamer.regexp: cannot rename field '%s': %s", full, (char *)msg);
            sl_free(cur);
            cur = NULL;
            break;
        }
    }
    sl_free(full);
    return cur;
}

/* Renamer.doRenaming */
static int rename_doc(ctx *x, bool regexp, const char *path, mdoc *d) {
    mdoc *mods = md_new(false);
    int rc = 0;
    for (size_t i = 0; i < d->n && rc == 0;) {
        char *nk = renamed(x, regexp, path, d->k[i]);
        if (!nk) {
            rc = -1;
            break;
        }
        mdoc *sub = NULL;
        if (strcmp(nk, d->k[i]) != 0) {
            mval v;
            /* computeIfAbsent + putIfAbsent: only when neither the document nor the renames hold the new name */
            bool keep = md_find(d, nk) < 0 && md_find(mods, nk) < 0;
            md_remove_at(d, i, &v);
            if (keep) {
                md_append(mods, nk, v);
                if (mv_is_doc(&v)) sub = v.sub;
            } else {
                mv_free(&v);
            }
        } else {
            if (mv_is_doc(&d->v[i])) sub = d->v[i].sub;
            i++;
        }
        if (sub) {
            char *p = join_path(path, nk);
            rc = rename_doc(x, regexp, p, sub);
            sl_free(p);
        }
        sl_free(nk);
    }
    for (size_t i = 0; i < mods->n; i++) {
        md_put(d, mods->k[i], mods->v[i]);
        memset(&mods->v[i], 0, sizeof mods->v[i]);
    }
    md_free(mods);
    return rc;
}

static int rename_all(ctx *x, bool regexp) {
    if (regexp ? !x->m->nrx : !x->m->nmap) return 0; /* isActive */
    if (x->key && rename_doc(x, regexp, "key", x->key) < 0) return -1;
    if (x->value && rename_doc(x, regexp, "value", x->value) < 0) return -1;
    return 0;
}

/* BsonDocumentNullValueRemover */
static void remove_nulls(mdoc *d) {
    for (size_t i = 0; i < d->n;) {
        mval *v = &d->v[i];
        if (mv_is_doc(v)) remove_nulls(v->sub);
        else if (v->v.value_type == BSON_TYPE_ARRAY)
            for (size_t j = 0; j < v->sub->n; j++)
                if (mv_is_doc(&v->sub->v[j])) remove_nulls(v->sub->v[j].sub);
        if (v->v.value_type == BSON_TYPE_NULL) md_remove_at(d, i, NULL);
        else i++;
    }
}

/* KafkaMetaAdder */
static void add_meta(ctx *x) {
    const sl_msink_rec *r = x->rec;
    if (!x->value) return;
    char s[1024];
    snprintf(s, sizeof s, "%s-%d-%lld", r->topic ? r->topic : "null", (int)r->partition, (long long)r->offset);
    md_put(x->value, "topic-partition-offset", mv_utf8(s));
    if (r->ts_type != SL_MTS_NONE && r->timestamp >= 0)
        md_put(x->value, r->ts_type == SL_MTS_CREATE_TIME ? "CREATE_TIME" : "LOG_APPEND_TIME",
               mv_int64(r->timestamp, BSON_TYPE_INT64));
}

static int run_chain(ctx *x) {
    for (size_t i = 0; i < x->m->nchain; i++) {
        const pp *p = &x->m->chain[i];
        int rc = 0;
        switch (p->kind) {
        case PP_ID_ADDER: rc = add_id(x); break;
        case PP_BLOCK_KEY:
        case PP_ALLOW_KEY: project(&p->proj, x->key); break;
        case PP_BLOCK_VALUE:
        case PP_ALLOW_VALUE: project(&p->proj, x->value); break;
        case PP_RENAME_MAP: rc = rename_all(x, false); break;
        case PP_RENAME_REGEXP: rc = rename_all(x, true); break;
        case PP_META: add_meta(x); break;
        case PP_NULL_REMOVER:
            if (x->value) remove_nulls(x->value);
            break;
        }
        if (rc < 0) return -1;
    }
    return 0;
}

/* ---- namespace ---- */

/* BsonDocumentFieldLookup.fieldLookup */
static bool field_lookup(const bson_t *d, const char *path, bson_iter_t *out) {
    if (bson_iter_init_find(out, d, path)) return true;
    const char *dot = strchr(path, '.');
    size_t n = strlen(path);
    if (!dot || path[n - 1] == '.') return false;
    char *first = sl_strndup(path, (size_t)(dot - path));
    bson_iter_t it;
    bool ok = false;
    if (bson_iter_init_find(&it, d, first) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_t sub;
        bson_iter_document(&it, &len, &data);
        if (bson_init_static(&sub, data, len)) ok = field_lookup(&sub, dot + 1, out);
        /* out points into d's buffer, which outlives this call */
    }
    sl_free(first);
    return ok;
}

/* FieldPathNamespaceMapper.pathLookup; *name keeps the default when the field does not apply. */
static int path_lookup(ctx *x, const char *path, bool is_key, char **name) {
    const bson_t *d = is_key ? x->rec->key : x->rec->value;
    bool strict = x->m->ns_err;
    if (!d) {
        if (!strict) return 0;
        return fail(x, "Invalid %s document: record %s/%d@%lld has a null %s", is_key ? "key" : "value",
                    x->rec->topic ? x->rec->topic : "", (int)x->rec->partition, (long long)x->rec->offset,
                    is_key ? "key" : "value");
    }
    bson_iter_t it;
    if (!field_lookup(d, path, &it)) {
        if (!strict) return 0;
        char *j = bson_as_relaxed_extended_json(d, NULL);
        fail(x, "Missing document path '%s': %s", path, j);
        bson_free(j);
        return -1;
    }
    if (!BSON_ITER_HOLDS_UTF8(&it)) {
        if (!strict) return 0;
        char *j = bson_as_relaxed_extended_json(d, NULL);
        fail(x, "Invalid type for %s field path '%s', expected a String: %s", type_name(bson_iter_type(&it)), path,
             j);
        bson_free(j);
        return -1;
    }
    sl_free(*name);
    *name = sl_strdup(bson_iter_utf8(&it, NULL));
    return 0;
}

/* MongoNamespace's checks of the names. */
static int check_ns(ctx *x, const char *db, const char *coll) {
    if (!*db) return fail(x, "Invalid namespace: the database name is empty");
    if (strpbrk(db, "/\\. \"$"))
        return fail(x, "Invalid namespace: database name '%s' contains one of '/\\. \"$'", db);
    if (!*coll) return fail(x, "Invalid namespace: the collection name is empty");
    return 0;
}

static int namespace_of(ctx *x, sl_mwrite *out) {
    const sl_mongo_model *m = x->m;
    out->db = sl_strdup(m->db);
    out->coll = sl_strdup(*m->coll ? m->coll : (x->rec->topic ? x->rec->topic : ""));
    if (m->field_mapper) {
        if (*m->kdb ? path_lookup(x, m->kdb, true, &out->db) < 0
                    : *m->vdb && path_lookup(x, m->vdb, false, &out->db) < 0)
            return -1;
        if (*m->kcoll ? path_lookup(x, m->kcoll, true, &out->coll) < 0
                      : *m->vcoll && path_lookup(x, m->vcoll, false, &out->coll) < 0)
            return -1;
    }
    return check_ns(x, out->db, out->coll);
}

/* ---- write model strategies ---- */

/* WriteModelHelper.flattenKeys */
static void flatten(const mdoc *d, const char *prefix, mdoc *out) {
    for (size_t i = 0; i < d->n; i++) {
        char *k = join_path(prefix, d->k[i]);
        if (mv_is_doc(&d->v[i])) flatten(d->v[i].sub, k, out);
        else md_append(out, k, mv_clone(&d->v[i]));
        sl_free(k);
    }
}

static const char *const NO_VALUE = "Could not build the WriteModel,the value document was missing unexpectedly";
static const char *const NO_KEY = "Could not build the WriteModel,the key document was missing unexpectedly";
static const char *const NO_ID = "Could not build the WriteModel,the `_id` field was missing unexpectedly";
static const char *const NO_BK =
    "Could not build the WriteModel,the value document does not contain an _id field of type BsonDocument which "
    "holds the business key fields.\n\n If you are including an existing `_id` value in the business key then "
    "ensure `document.id.strategy.overwrite.existing=true`.";

static bson_t *filter_id(const mval *id) {
    bson_t *f = bson_new();
    mv_append(f, "_id", id);
    return f;
}

/* The business key of the *BusinessKey* strategies: value._id (a document) removed from the value. */
static int business_key(ctx *x, const char *msg, bson_t **filter) {
    long i = md_find(x->value, "_id");
    if (i < 0 || !mv_is_doc(&x->value->v[i])) return fail(x, "%s", msg);
    mval bk;
    md_remove_at(x->value, (size_t)i, &bk);
    bool partial = x->m->id == ID_PARTIAL_KEY || x->m->id == ID_PARTIAL_VALUE;
    if (partial) {
        mdoc *flat = md_new(false);
        flatten(bk.sub, "", flat);
        *filter = md_bson_new(flat);
        md_free(flat);
    } else {
        *filter = md_bson_new(bk.sub);
    }
    mv_free(&bk);
    return 0;
}

static int64_t now_ms(const sl_msink_rec *r) {
    if (r->now_ms) return r->now_ms;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* {$set: value + _modifiedTS, $setOnInsert: {_insertedTS}} */
static bson_t *timestamps_update(ctx *x) {
    int64_t now = now_ms(x->rec);
    md_put(x->value, "_modifiedTS", mv_int64(now, BSON_TYPE_DATE_TIME));
    bson_t *u = bson_new(), set, ins;
    bson_append_document_begin(u, "$set", -1, &set);
    md_to_bson(x->value, &set);
    bson_append_document_end(u, &set);
    bson_append_document_begin(u, "$setOnInsert", -1, &ins);
    bson_append_date_time(&ins, "_insertedTS", -1, now);
    bson_append_document_end(u, &ins);
    return u;
}

static int delete_tombstone_bk(ctx *x, sl_mwrite *out) {
    if (!x->key) return fail(x, "%s", NO_KEY);
    if (x->m->id != ID_PARTIAL_KEY)
        return fail(x, "DeleteOneTombstoneBusinessKeyStrategy expects PartialKeyStrategy to be defined");
    mval id;
    if (gen_id(x, ID_PARTIAL_KEY, &id) < 0) return -1;
    mdoc *flat = md_new(false);
    flatten(id.sub, "", flat);
    out->kind = SL_MW_DELETE;
    out->filter = md_bson_new(flat);
    md_free(flat);
    mv_free(&id);
    return 0;
}

static int delete_default(ctx *x, bool by_id_strategy, sl_mwrite *out) {
    if (!x->key) return fail(x, "%s", NO_KEY);
    out->kind = SL_MW_DELETE;
    if (by_id_strategy) { /* DeleteOneDefaultStrategy(idStrategy): {_id: generateId} */
        mval id;
        if (gen_id(x, x->m->id, &id) < 0) return -1;
        out->filter = filter_id(&id);
        mv_free(&id);
    } else { /* DefaultIdFieldStrategy: the key when it has an _id, else {_id: key} */
        if (md_find(x->key, "_id") >= 0) {
            out->filter = md_bson_new(x->key);
        } else {
            mval k = mv_doc(x->key);
            out->filter = filter_id(&k);
        }
    }
    return 0;
}

/* WriteModelStrategy.createWriteModel of strategy `wm`. */
static int write_model(ctx *x, int wm, sl_mwrite *out) {
    if (wm == WM_DELETE || wm == WM_DELETE_BY_ID) return delete_default(x, wm == WM_DELETE_BY_ID, out);
    if (wm == WM_DELETE_TOMBSTONE_BK) return delete_tombstone_bk(x, out);
    if (!x->value) return fail(x, "%s", NO_VALUE);
    const mval *idv = md_get(x->value, "_id");
    switch (wm) {
    case WM_INSERT:
        out->kind = SL_MW_INSERT;
        out->doc = md_bson_new(x->value);
        return 0;
    case WM_REPLACE:
        if (!idv) return fail(x, "%s", NO_ID);
        out->kind = SL_MW_REPLACE;
        out->filter = filter_id(idv);
        out->doc = md_bson_new(x->value);
        out->upsert = true;
        return 0;
    case WM_UPDATE:
    case WM_UPDATE_TS: {
        if (!idv) return fail(x, "%s", NO_ID);
        out->kind = SL_MW_UPDATE;
        out->filter = filter_id(idv);
        out->upsert = true;
        if (wm == WM_UPDATE_TS) { /* _id stays in $set, as in mongo-kafka */
            out->doc = timestamps_update(x);
            return 0;
        }
        md_remove(x->value, "_id");
        bson_t set;
        out->doc = bson_new();
        bson_append_document_begin(out->doc, "$set", -1, &set);
        md_to_bson(x->value, &set);
        bson_append_document_end(out->doc, &set);
        return 0;
    }
    case WM_REPLACE_BK:
    case WM_UPDATE_BK_TS:
    case WM_DELETE_BK:
        if (business_key(x,
                         wm == WM_DELETE_BK ? "Could not build the WriteModel, the value document does not contain "
                                              "an _id field of type BsonDocument which holds the business key fields."
                                            : NO_BK,
                         &out->filter) < 0)
            return -1;
        out->kind = wm == WM_REPLACE_BK ? SL_MW_REPLACE : wm == WM_DELETE_BK ? SL_MW_DELETE : SL_MW_UPDATE;
        out->upsert = wm != WM_DELETE_BK;
        if (wm == WM_REPLACE_BK) out->doc = md_bson_new(x->value);
        else if (wm == WM_UPDATE_BK_TS) out->doc = timestamps_update(x);
        return 0;
    default: return fail(x, "Could not build the WriteModel.");
    }
}

/* WriteModelStrategyHelper.createWriteModel */
static int create_write_model(ctx *x, sl_mwrite *out) {
    if (x->value) {
        if (write_model(x, x->m->wm, out) == 0) return 0;
        if (x->m->wm == WM_DELETE_TOMBSTONE_BK && x->key) { /* a ConnectException, wrapped */
            char cause[512];
            snprintf(cause, sizeof cause, "%s", x->err);
            fail(x, "Could not build the WriteModel.: %s", cause);
        }
        return -1;
    }
    if (!x->key) return fail(x, "Invalid Sink Record neither key doc nor value doc were present");
    if (!x->m->delete_on_null)
        return fail(x, "Could not create write model: the value is null and delete.on.null.values is false");
    if (write_model(x, x->m->del, out) == 0) return 0;
    char cause[512];
    snprintf(cause, sizeof cause, "%s", x->err);
    return fail(x, "Could not create write model: %s", cause);
}

int sl_mongo_model_build(const sl_mongo_model *m, const sl_msink_rec *rec, sl_mwrite *out, char *err,
                         size_t errsz) {
    ctx x = {m, rec, NULL, NULL, err, errsz};
    memset(out, 0, sizeof *out);
    if (namespace_of(&x, out) < 0) goto err;
    x.key = md_from_bson(rec->key);
    x.value = md_from_bson(rec->value);
    if (run_chain(&x) < 0 || create_write_model(&x, out) < 0) goto err;
    md_free(x.key);
    md_free(x.value);
    return 0;
err:
    md_free(x.key);
    md_free(x.value);
    sl_mwrite_clear(out);
    return -1;
}

void sl_mwrite_clear(sl_mwrite *w) {
    if (w->filter) bson_destroy(w->filter);
    if (w->doc) bson_destroy(w->doc);
    sl_free(w->db);
    sl_free(w->coll);
    memset(w, 0, sizeof *w);
}

char *sl_mwrite_json(const sl_mwrite *w, bool canonical) {
    static const char *const ops[] = {"insertOne", "replaceOne", "updateOne", "deleteOne"};
    static const char *const docs[] = {"document", "replacement", "update", NULL};
    bson_t b = BSON_INITIALIZER;
    char ns[1024];
    snprintf(ns, sizeof ns, "%s.%s", w->db ? w->db : "", w->coll ? w->coll : "");
    BSON_APPEND_UTF8(&b, "ns", ns);
    BSON_APPEND_UTF8(&b, "op", ops[w->kind]);
    if (w->filter) BSON_APPEND_DOCUMENT(&b, "filter", w->filter);
    if (w->doc && docs[w->kind]) BSON_APPEND_DOCUMENT(&b, docs[w->kind], w->doc);
    if (w->kind == SL_MW_REPLACE || w->kind == SL_MW_UPDATE) BSON_APPEND_BOOL(&b, "upsert", w->upsert);
    char *s = canonical ? bson_as_canonical_extended_json(&b, NULL) : bson_as_relaxed_extended_json(&b, NULL);
    bson_destroy(&b);
    return s;
}
