/*
 * Transform types: Kafka Connect's built-in transforms
 * (org.apache.kafka.connect.transforms.*) and predicates, behaving as
 * Kafka Connect 3.x does with schemas (the Connect schema JSON is updated
 * as Connect's SchemaBuilder would build it) and without (a JSON object is
 * Connect's Map). This file: the registry, the field transforms
 * (InsertField, ReplaceField, ExtractField, ValueToKey, HoistField), the
 * header transforms, Filter and the predicates. Routers are in
 * connect_route.c; Flatten, MaskField, Cast and TimestampConverter in
 * connect_conv.c; shared helpers in connect_util.c.
 */
#include "xform/connect_int.h"
#include "util/mem.h"
#include <string.h>
#include <strings.h>

#define T "org.apache.kafka.connect.transforms."
#define RNWD_DOC                                                                                                     \
    "Whether a null field that has a default value in its schema is replaced by that default (true) or kept null."

/* ---- InsertField ---- */

typedef struct insert_conf {
    char *topic, *partition, *offset, *timestamp, *stat, *static_value;
    bool rnwd;
} insert_conf;

#define OPT_DOC " Suffix with `!` to make it a required field, or `?` to keep it optional (the default)."
#define F(x) offsetof(insert_conf, x)
static const sl_prop insert_props[] = {
    {"topic.field", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(topic), "Field name for the record's topic." OPT_DOC},
    {"partition.field", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(partition),
     "Field name for the Kafka partition (the partition a record was read from, or the one it is pinned to; "
     "left out when unknown)." OPT_DOC},
    {"offset.field", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(offset),
     "Field name for the Kafka offset: only known for records read from Kafka (the Kafka source); null "
     "otherwise." OPT_DOC},
    {"timestamp.field", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(timestamp),
     "Field name for the record's timestamp (a Connect Timestamp with schemas, epoch milliseconds without)." OPT_DOC},
    {"static.field", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(stat), "Field name for a static string value." OPT_DOC},
    {"static.value", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(static_value),
     "The static value of `static.field` (required with it)."},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(rnwd), RNWD_DOC},
    {NULL}};
#undef F

enum { INS_TOPIC, INS_PARTITION, INS_OFFSET, INS_TIMESTAMP, INS_STATIC, INS_N };

typedef struct insert_state {
    const insert_conf *c;
    bool key;
    char *name[INS_N]; /* NULL: not inserted */
    bool optional[INS_N];
} insert_state;

static void insert_free(void *st) {
    insert_state *s = st;
    for (int i = 0; i < INS_N; i++) sl_free(s->name[i]);
    sl_free(s);
}

static void *insert_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    insert_conf *c = settings;
    insert_state *s = sl_calloc(1, sizeof *s);
    s->c = c, s->key = key;
    const char *specs[INS_N] = {c->topic, c->partition, c->offset, c->timestamp, c->stat};
    int n = 0;
    for (int i = 0; i < INS_N; i++) {
        if (!specs[i] || !*specs[i]) continue;
        size_t len = strlen(specs[i]);
        char last = specs[i][len - 1];
        s->optional[i] = last != '!';
        s->name[i] = sl_strndup(specs[i], last == '!' || last == '?' ? len - 1 : len);
        n++;
    }
    if (n == 0)
        sl_errs_add(errs, "%stype: no field insertion configured: set at least one of %stopic.field, partition.field, "
                          "offset.field, timestamp.field, static.field", prefix, prefix);
    if (s->name[INS_STATIC] && !c->static_value)
        sl_errs_add(errs, "%sstatic.value: required when static.field is set (no value for static field %s)", prefix,
                    s->name[INS_STATIC]);
    if (n == 0 || (s->name[INS_STATIC] && !c->static_value)) {
        insert_free(s);
        return NULL;
    }
    return s;
}
CX_SIDES(insert_init)

/* The value of insertion i for r, NULL when the record has none. */
static sl_val *insert_value(const insert_state *s, int i, sl_xrec *r) {
    sl_vheap *h = r->heap;
    switch (i) {
    case INS_TOPIC: return sl_v_str(h, r->topic ? r->topic : "");
    case INS_PARTITION:
        return r->kafka_partition >= 0 ? sl_v_int(h, r->kafka_partition)
               : r->partition >= 0     ? sl_v_int(h, r->partition)
                                       : NULL;
    case INS_OFFSET: return r->kafka_offset >= 0 ? sl_v_int(h, r->kafka_offset) : NULL;
    case INS_TIMESTAMP: return r->ts_ms >= 0 ? sl_v_int(h, r->ts_ms) : NULL;
    default: return sl_v_str_ref(h, s->c->static_value, strlen(s->c->static_value));
    }
}

static sl_val *insert_schema(sl_vheap *h, int i, bool optional) {
    static const char *const types[INS_N] = {"string", "int32", "int64", "int64", "string"};
    sl_val *fs = sl_vschema_prim(h, types[i], optional);
    if (i == INS_TIMESTAMP) {
        sl_v_set_ref(h, fs, "name", 4, sl_v_str_ref(h, CX_TIMESTAMP, strlen(CX_TIMESTAMP)));
        sl_v_set_ref(h, fs, "version", 7, sl_v_int(h, 1));
    }
    return fs;
}

static int insert_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    insert_state *s = st;
    sl_vheap *h = r->heap;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    if (sl_v_is_null(h, *vp)) return SL_X_KEEP;
    if (!*sp) {
        if (cx_vneed_map(h, *vp, "field insertion", errstr, errsz)) return SL_X_ERROR;
        sl_val *v = sl_v_clone(h, *vp);
        for (int i = 0; i < INS_N; i++) {
            sl_val *x = s->name[i] ? insert_value(s, i, r) : NULL;
            if (x) sl_v_set(h, v, s->name[i], x);
        }
        *vp = v;
        return SL_X_KEEP;
    }
    if (cx_vneed_struct(h, *vp, "field insertion", errstr, errsz)) return SL_X_ERROR;
    /* The new schema depends on the old one alone: derived once per schema (the step's memo). */
    sl_val *known = sl_xrec_memo_get(r, *sp, 0);
    sl_val *ns = known ? known : cx_vstruct_like(h, *sp), *nv = sl_v_obj(h, (*vp)->n + INS_N);
    sl_val *fields = sl_v_get(h, *sp, "fields"), *nf = known ? NULL : sl_v_get(h, ns, "fields");
    for (uint32_t k = 0; fields && fields->kind == SL_V_ARR && k < fields->n; k++) {
        sl_val *fs = fields->e[k];
        size_t len;
        const char *name = sl_v_strval(h, sl_v_get(h, fs, "field"), &len);
        if (!name) continue;
        if (nf) sl_v_push(h, nf, fs); /* shared, as it is: its "field" is already name */
        sl_val *x = cx_vget_at(h, *vp, fs, (long)k, s->c->rnwd);
        sl_v_set_ref(h, nv, name, len, x ? x : sl_v_null(h));
    }
    for (int i = 0; i < INS_N; i++) {
        if (!s->name[i]) continue;
        sl_val *x = insert_value(s, i, r);
        if (!known && sl_vschema_field(h, ns, s->name[i])) {
            snprintf(errstr, errsz, "cannot insert field '%s': the %s already has a field of that name", s->name[i],
                     s->key ? "key" : "value");
        } else if (!x && !s->optional[i]) {
            snprintf(errstr, errsz, "required field '%s' cannot be set: the record has no %s", s->name[i],
                     i == INS_OFFSET ? "Kafka offset" : i == INS_PARTITION ? "partition" : "timestamp");
        } else {
            if (!known) sl_vschema_put_field(h, ns, s->name[i], insert_schema(h, i, s->optional[i]));
            sl_v_set(h, nv, s->name[i], x ? x : sl_v_null(h));
            continue;
        }
        return SL_X_ERROR;
    }
    *sp = known ? known : sl_xrec_memo_put(r, *sp, 0, ns);
    *vp = nv;
    return SL_X_KEEP;
}

/* sluice verify: a field inserted into the value under a column's name replaces that column. */
static int insert_vmap(void *st, sl_vtable *t, char *errstr, size_t errsz) {
    const insert_state *s = st;
    for (int i = 0; i < INS_N; i++) {
        int c = s->name[i] ? sl_vtable_col(t, s->name[i]) : -1;
        if (c < 0 || (s->key ? c >= t->nkeys : c < t->nkeys)) continue; /* keys come from the record's key */
        if (s->key) {
            snprintf(errstr, errsz, "it replaces key column '%s'", s->name[i]);
            return -1;
        }
        if (t->flat) sl_vtable_drop(t, c); /* else a field of the change event beside before/after */
    }
    return 0;
}

#define INSERT_DOC "Inserts fields from the record's metadata (topic, partition, offset, timestamp) or a static value."
const sl_xform_ops cx_insert_field_value = {"InsertField$Value", T "InsertField$Value",
                                            INSERT_DOC " Works on the value.", insert_props, sizeof(insert_conf),
                                            insert_init_value, NULL, insert_free, .apply_v = insert_apply,
                                            .vmap = insert_vmap};
const sl_xform_ops cx_insert_field_key = {"InsertField$Key", T "InsertField$Key", INSERT_DOC " Works on the key.",
                                          insert_props, sizeof(insert_conf), insert_init_key, NULL,
                                          insert_free, .apply_v = insert_apply, .vmap = insert_vmap};

/* ---- ReplaceField ---- */

typedef struct replace_conf {
    char *exclude, *include, *renames;
    bool rnwd;
} replace_conf;

#define F(x) offsetof(replace_conf, x)
static const sl_prop replace_props[] = {
    {"exclude", SL_PT_LIST, "", NULL, 0, 0, 0, F(exclude),
     "Fields to drop. Takes precedence over the fields to include.", "blacklist"},
    {"include", SL_PT_LIST, "", NULL, 0, 0, 0, F(include),
     "Fields to keep: when set, only these fields are kept.", "whitelist"},
    {"renames", SL_PT_LIST, "", NULL, 0, 0, 0, F(renames),
     "Field renames: a list of colon-delimited pairs, e.g. `foo:bar,abc:xyz`."},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(rnwd), RNWD_DOC},
    {NULL}};
#undef F

typedef struct replace_state {
    const replace_conf *c;
    bool key;
    cx_list exclude, include, from, to;
} replace_state;

static void replace_free(void *st) {
    replace_state *s = st;
    cx_list_free(&s->exclude), cx_list_free(&s->include), cx_list_free(&s->from), cx_list_free(&s->to);
    sl_free(s);
}

static void *replace_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    replace_conf *c = settings;
    replace_state *s = sl_calloc(1, sizeof *s);
    s->c = c, s->key = key;
    cx_list_parse(&s->exclude, c->exclude);
    cx_list_parse(&s->include, c->include);
    cx_list r;
    cx_list_parse(&r, c->renames);
    int bad = 0;
    s->from.v = sl_calloc((size_t)r.n + 1, sizeof(char *));
    s->to.v = sl_calloc((size_t)r.n + 1, sizeof(char *));
    for (int i = 0; i < r.n; i++) {
        char *colon = strchr(r.v[i], ':');
        if (!colon || strchr(colon + 1, ':') || !colon[1]) {
            sl_errs_add(errs, "%srenames: invalid rename mapping '%s' (expected colon-delimited pairs, e.g. "
                              "foo:bar,abc:xyz)", prefix, r.v[i]);
            bad++;
            continue;
        }
        s->from.v[s->from.n++] = sl_strndup(r.v[i], (size_t)(colon - r.v[i]));
        s->to.v[s->to.n++] = sl_strdup(colon + 1);
    }
    cx_list_free(&r);
    if (bad) {
        replace_free(s);
        return NULL;
    }
    return s;
}
CX_SIDES(replace_init)

static bool replace_keep(const replace_state *s, const char *name) {
    return !cx_list_has(&s->exclude, name) && (s->include.n == 0 || cx_list_has(&s->include, name));
}

/* The new name of a field; the last mapping of a name wins, as in Connect's HashMap. */
static const char *renamed(const cx_list *from, const cx_list *to, const char *name) {
    for (int i = from->n - 1; i >= 0; i--)
        if (strcmp(from->v[i], name) == 0) return to->v[i];
    return name;
}

static int replace_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    replace_state *s = st;
    sl_vheap *h = r->heap;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    if (sl_v_is_null(h, *vp)) return SL_X_KEEP;
    if (!*sp) {
        if (cx_vneed_map(h, *vp, "field replacement", errstr, errsz)) return SL_X_ERROR;
        sl_val *v = *vp;
        sl_v_force(h, v); /* a lazy row: built to be read member by member */
        sl_val *nv = sl_v_obj(h, v->n);
        for (uint32_t i = 0; i < v->n; i++) {
            if (!replace_keep(s, v->m[i].name)) continue;
            const char *to = renamed(&s->from, &s->to, v->m[i].name); /* v's name, or the state's */
            sl_v_set_ref(h, nv, to, strlen(to), v->m[i].v);
        }
        *vp = nv;
        return SL_X_KEEP;
    }
    if (cx_vneed_struct(h, *vp, "field replacement", errstr, errsz)) return SL_X_ERROR;
    sl_val *ns = cx_vstruct_like(h, *sp), *nv = sl_v_obj(h, 8), *fields = cx_vfields(h, *sp);
    for (uint32_t k = 0; fields && k < fields->n; k++) {
        sl_val *fs = fields->e[k];
        const char *name = cx_vfield_name(h, fs);
        if (!name || !replace_keep(s, name)) continue;
        const char *to = renamed(&s->from, &s->to, name);
        if (sl_vschema_field(h, ns, to)) {
            snprintf(errstr, errsz, "cannot rename field '%s' to '%s': the %s already has a field '%s'", name, to,
                     s->key ? "key" : "value", to);
            return SL_X_ERROR;
        }
        if (to == name) cx_vkeep_field(h, ns, fs);
        else sl_vschema_put_field(h, ns, to, sl_v_clone(h, fs));
        sl_val *x = cx_vget(h, *vp, fs, s->c->rnwd);
        sl_v_set_ref(h, nv, to, strlen(to), x ? x : sl_v_null(h));
    }
    *sp = ns;
    *vp = nv;
    return SL_X_KEEP;
}

/* sluice verify: renames and drops of the row's columns. Keys come from the record's key: the value's copies
 * of key columns may go; a change event's own fields may be renamed or dropped except the row's. */
static int replace_vmap(void *st, sl_vtable *t, char *errstr, size_t errsz) {
    const replace_state *s = st;
    if (!s->key && !t->flat) {
        static const char *const row[] = {"after", "before", "op"};
        for (int i = 0; i < 3; i++)
            if (!replace_keep(s, row[i]) || renamed(&s->from, &s->to, row[i]) != row[i]) {
                snprintf(errstr, errsz, "it renames or drops the change event's '%s' (put it after unwrap to "
                                        "change the row's columns)", row[i]);
                return -1;
            }
        return 0;
    }
    for (int i = t->ncols - 1; i >= 0; i--) {
        bool key = i < t->nkeys;
        if (key != s->key) continue; /* value steps: the row's other columns; key steps: the key */
        const char *to = renamed(&s->from, &s->to, t->cols[i].name);
        if (!replace_keep(s, t->cols[i].name)) {
            if (key) {
                snprintf(errstr, errsz, "it drops key column '%s'", t->cols[i].name);
                return -1;
            }
            sl_vtable_drop(t, i);
        } else if (to != t->cols[i].name) {
            snprintf(t->cols[i].name, sizeof t->cols[i].name, "%s", to);
        }
    }
    return 0;
}

#define REPLACE_DOC "Drops, keeps or renames fields (with their schema)."
const sl_xform_ops cx_replace_field_value = {"ReplaceField$Value", T "ReplaceField$Value",
                                             REPLACE_DOC " Works on the value.", replace_props, sizeof(replace_conf),
                                             replace_init_value, NULL, replace_free, .apply_v = replace_apply,
                                             .vmap = replace_vmap};
const sl_xform_ops cx_replace_field_key = {"ReplaceField$Key", T "ReplaceField$Key", REPLACE_DOC " Works on the key.",
                                           replace_props, sizeof(replace_conf), replace_init_key, NULL,
                                           replace_free, .apply_v = replace_apply, .vmap = replace_vmap};

/* ---- ExtractField ---- */

typedef struct extract_conf {
    char *field;
    int syntax; /* 0: V1, 1: V2 */
    bool rnwd;
} extract_conf;

#define SYNTAX_DOC                                                                                                   \
    "How `field` names a field: `V1` a top-level field; `V2` a dotted path to a nested one (wrap a name that holds " \
    "dots in backticks: `` `foo.bar`.baz ``)."
#define F(x) offsetof(extract_conf, x)
static const sl_prop extract_props[] = {
    {"field", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(field), "The field to extract."},
    {"field.syntax.version", SL_PT_ENUM, "V1", "V1|V2", 0, 0, 0, F(syntax), SYNTAX_DOC},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(rnwd), RNWD_DOC},
    {NULL}};
#undef F

typedef struct extract_state {
    const extract_conf *c;
    bool key;
    cx_list path;
} extract_state;

static void extract_free(void *st) {
    extract_state *s = st;
    cx_list_free(&s->path);
    sl_free(s);
}

static void path_add(cx_list *l, const char *p, size_t n) {
    l->v = sl_realloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
    l->v[l->n++] = sl_strndup(p, n);
}

/* KIP-821's V2 path: steps split on dots; `a.b` is one step (\` inside escapes a backtick). -1: unpaired. */
static int parse_path_v2(const char *path, cx_list *out) {
    size_t len = strlen(path), i = 0;
    while (i < len) {
        if (path[i] != '`') {
            const char *dot = strchr(path + i, '.');
            size_t e = dot ? (size_t)(dot - path) : len;
            path_add(out, path + i, e - i);
            i = dot ? e + 1 : len;
            continue;
        }
        sl_buf f;
        sl_buf_init(&f);
        size_t start = ++i;
        for (;;) {
            const char *bt = strchr(path + i, '`');
            if (!bt) {
                sl_buf_free(&f);
                return -1;
            }
            size_t at = (size_t)(bt - path);
            bool escaped = path[at - 1] == '\\';
            if (at >= len - 1) { /* the closing backtick ends the path */
                if (escaped) {
                    sl_buf_free(&f);
                    return -1;
                }
                sl_buf_put(&f, path + start, at - start);
                i = at + 1;
                break;
            }
            if (path[at + 1] != '.') {
                i = at + 1;
                continue;
            }
            if (escaped) {
                sl_buf_put(&f, path + start, at - 1 - start);
                sl_buf_putc(&f, '`');
                start = i = at + 1;
                continue;
            }
            sl_buf_put(&f, path + start, at - start);
            i = at + 2;
            break;
        }
        path_add(out, f.data ? f.data : "", f.len);
        sl_buf_free(&f);
    }
    if (len && path[len - 1] == '.') path_add(out, "", 0);
    return 0;
}

static void *extract_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    extract_conf *c = settings;
    extract_state *s = sl_calloc(1, sizeof *s);
    s->c = c, s->key = key;
    if (c->syntax == 0) {
        path_add(&s->path, c->field, strlen(c->field));
    } else if (parse_path_v2(c->field, &s->path) < 0 || s->path.n == 0) {
        sl_errs_add(errs, "%sfield: incomplete backtick pair in path '%s' (escape a literal backtick with a backslash)",
                    prefix, c->field);
        extract_free(s);
        return NULL;
    }
    return s;
}
CX_SIDES(extract_init)

static int extract_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    extract_state *s = st;
    sl_vheap *h = r->heap;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    const char *part = s->key ? "key" : "value";
    sl_val *cur = sl_v_is_null(h, *vp) ? NULL : *vp;
    if (!*sp) {
        if (cur && cx_vneed_map(h, cur, "field extraction", errstr, errsz)) return SL_X_ERROR;
        for (int i = 0; cur && i < s->path.n; i++) {
            sl_val *next = sl_v_get(h, cur, s->path.v[i]);
            bool null = sl_v_is_null(h, next);
            if (i + 1 < s->path.n && !null && cx_vneed_map(h, next, "nested field access", errstr, errsz))
                return SL_X_ERROR;
            cur = null ? NULL : next;
        }
        *vp = cur;
        return SL_X_KEEP;
    }
    sl_val *fs = NULL, *sch = *sp;
    for (int i = 0; sch && i < s->path.n; i++) sch = fs = sl_vschema_field(h, sch, s->path.v[i]);
    if (!fs) {
        snprintf(errstr, errsz, "field '%s' not found in the %s schema (unknown field: %s)", s->c->field, part,
                 s->c->field);
        return SL_X_ERROR;
    }
    if (cur && cx_vneed_struct(h, cur, "field extraction", errstr, errsz)) return SL_X_ERROR;
    sl_val *sch2 = *sp;
    for (int i = 0; cur && i < s->path.n; i++) {
        sl_val *f = sl_vschema_field(h, sch2, s->path.v[i]);
        sl_val *next = cx_vget(h, cur, f, i + 1 < s->path.n || s->c->rnwd);
        bool null = sl_v_is_null(h, next);
        if (i + 1 < s->path.n && !null && cx_vneed_struct(h, next, "nested field access", errstr, errsz))
            return SL_X_ERROR;
        cur = null ? NULL : next;
        sch2 = f;
    }
    sl_val *ns = sl_v_clone(h, fs); /* the field's schema as a schema of its own */
    sl_v_del(h, ns, "field");
    *sp = ns;
    *vp = cur;
    return SL_X_KEEP;
}

#define EXTRACT_DOC "Replaces the whole key or value with one of its fields (null stays null)."
const sl_xform_ops cx_extract_field_value = {"ExtractField$Value", T "ExtractField$Value",
                                             EXTRACT_DOC " Works on the value.", extract_props, sizeof(extract_conf),
                                             extract_init_value, NULL, extract_free, .apply_v = extract_apply};
const sl_xform_ops cx_extract_field_key = {"ExtractField$Key", T "ExtractField$Key", EXTRACT_DOC " Works on the key.",
                                           extract_props, sizeof(extract_conf), extract_init_key, NULL,
                                           extract_free, .apply_v = extract_apply};

/* ---- ValueToKey ---- */

typedef struct v2k_conf {
    char *fields;
    bool rnwd;
} v2k_conf;

#define F(x) offsetof(v2k_conf, x)
static const sl_prop v2k_props[] = {
    {"fields", SL_PT_LIST, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(fields),
     "Fields of the value that form the new key (a struct of these fields)."},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(rnwd), RNWD_DOC},
    {NULL}};
#undef F

typedef struct list_state {
    const void *c;
    bool key, rnwd;
    cx_list l, l2;
    int op; /* HeaderFrom: 0 move, 1 copy */
} list_state;

static void list_free(void *st) {
    list_state *s = st;
    cx_list_free(&s->l);
    cx_list_free(&s->l2);
    sl_free(s);
}

/* A list_state of a non-empty list option (named key) or NULL with an error. */
static list_state *list_state_new(const void *c, const char *list, const char *prefix, const char *key,
                                  sl_errs *errs) {
    list_state *s = sl_calloc(1, sizeof *s);
    s->c = c;
    cx_list_parse(&s->l, list);
    if (s->l.n == 0) {
        sl_errs_add(errs, "%s%s: must be a non-empty list", prefix, key);
        list_free(s);
        return NULL;
    }
    return s;
}

static void *v2k_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    v2k_conf *c = settings;
    list_state *s = list_state_new(c, c->fields, prefix, "fields", errs);
    if (s) s->rnwd = c->rnwd;
    return s;
}

/* The key's fields are copies: the value keeps its own, which a later transform may change in place. */
static int v2k_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    list_state *s = st;
    sl_vheap *h = r->heap;
    const char *purpose = "copying fields from value to key";
    sl_val *k = sl_v_obj(h, (uint32_t)s->l.n);
    if (!r->vvalue_schema) {
        if (cx_vneed_map(h, r->vvalue, purpose, errstr, errsz)) return SL_X_ERROR;
        for (int i = 0; i < s->l.n; i++) {
            sl_val *v = sl_v_get(h, r->vvalue, s->l.v[i]);
            sl_v_set_ref(h, k, s->l.v[i], strlen(s->l.v[i]), v ? sl_v_copy(h, v) : sl_v_null(h));
        }
        r->vkey_schema = NULL;
        r->vkey = k;
        return SL_X_KEEP;
    }
    if (cx_vneed_struct(h, r->vvalue, purpose, errstr, errsz)) return SL_X_ERROR;
    sl_val *ks = cx_vstruct_like(h, NULL);
    for (int i = 0; i < s->l.n; i++) {
        sl_val *fs = sl_vschema_field(h, r->vvalue_schema, s->l.v[i]);
        if (!fs) {
            snprintf(errstr, errsz, "field '%s' not found in the value (field does not exist: %s)", s->l.v[i],
                     s->l.v[i]);
            return SL_X_ERROR;
        }
        sl_vschema_put_field(h, ks, s->l.v[i], sl_v_clone(h, fs));
        sl_val *v = cx_vget(h, r->vvalue, fs, s->rnwd);
        sl_v_set_ref(h, k, s->l.v[i], strlen(s->l.v[i]), v ? sl_v_copy(h, v) : sl_v_null(h));
    }
    r->vkey_schema = ks;
    r->vkey = k;
    return SL_X_KEEP;
}

const sl_xform_ops cx_value_to_key = {"ValueToKey", T "ValueToKey",
                                      "Replaces the key with a struct of fields copied from the value.", v2k_props,
                                      sizeof(v2k_conf), v2k_init, NULL, list_free, .apply_v = v2k_apply};

/* ---- HoistField ---- */

typedef struct hoist_conf {
    char *field;
} hoist_conf;

static const sl_prop hoist_props[] = {
    {"field", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, offsetof(hoist_conf, field),
     "Name of the single field of the struct (or map) that wraps the key or value."},
    {NULL}};

typedef struct hoist_state {
    const hoist_conf *c;
    bool key;
} hoist_state;

static void *hoist_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    hoist_state *s = sl_calloc(1, sizeof *s);
    s->c = settings, s->key = key;
    return s;
}
CX_SIDES(hoist_init)

static int hoist_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    hoist_state *s = st;
    sl_vheap *h = r->heap;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    const char *field = s->c->field;
    sl_val *nv = sl_v_obj(h, 1);
    sl_v_set_ref(h, nv, field, strlen(field), *vp ? *vp : sl_v_null(h));
    if (*sp) {
        sl_val *ns = cx_vstruct_like(h, NULL);
        sl_vschema_put_field(h, ns, field, sl_v_clone(h, *sp));
        *sp = ns;
    }
    *vp = nv;
    return SL_X_KEEP;
}

#define HOIST_DOC "Wraps the whole key or value in a struct (or map) of one field."
const sl_xform_ops cx_hoist_field_value = {"HoistField$Value", T "HoistField$Value", HOIST_DOC " Works on the value.",
                                           hoist_props, sizeof(hoist_conf), hoist_init_value, NULL, sl_free,
                                           .apply_v = hoist_apply};
const sl_xform_ops cx_hoist_field_key = {"HoistField$Key", T "HoistField$Key", HOIST_DOC " Works on the key.",
                                         hoist_props, sizeof(hoist_conf), hoist_init_key, NULL, sl_free,
                                         .apply_v = hoist_apply};

/* ---- Filter ---- */

static const sl_prop no_props[] = {{NULL}};

static void *filter_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) { return settings; }
static int filter_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) { return SL_X_DROP; }
static void no_free(void *st) {}

/* Native name "Drop": "filter" belongs to the content-based filter (expr.c); names match case-insensitively. */
const sl_xform_ops cx_filter = {"Drop", T "Filter",
                                "Drops every record it applies to (Kafka Connect's Filter): use it with a predicate.",
                                no_props, 0, filter_init, filter_apply, no_free, .any_form = true};

/* ---- InsertHeader ---- */

typedef struct ins_hdr_conf {
    char *header, *literal;
} ins_hdr_conf;

static const sl_prop ins_hdr_props[] = {
    {"header", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, offsetof(ins_hdr_conf, header), "The header's name."},
    {"value.literal", SL_PT_STRING, NULL, NULL, 0, 0, 0, offsetof(ins_hdr_conf, literal),
     "The header's value (required), read as Connect's Values.parseString does: `true`/`false` a boolean, a number "
     "a number, `[...]`/`{...}` an array or map, anything else a string."},
    {NULL}};

typedef struct ins_hdr_state {
    const ins_hdr_conf *c;
    sl_vheap heap;
    sl_val *value; /* in heap; NULL for a null header */
} ins_hdr_state;

/* Values.parseString, for the types JSON can hold. Whether the literal reads as JSON is jansson's call, as it
 * was (an integer beyond 64 bits, a \u0000 or text that is not UTF-8 keep it a string); the value is then read
 * into h. */
static sl_val *parse_literal(sl_vheap *h, const char *s) {
    if (!strcasecmp(s, "true") || !strcasecmp(s, "false")) return sl_v_bool(h, !strcasecmp(s, "true"));
    if (!strcmp(s, "null")) return NULL;
    if (*s == '-' || (*s >= '0' && *s <= '9') || *s == '[' || *s == '{') {
        json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
        bool json = j && (json_is_number(j) || json_is_array(j) || json_is_object(j));
        json_decref(j);
        sl_val *v = json ? sl_v_parse(h, s, strlen(s), NULL, 0) : NULL;
        if (v) return v;
    }
    return sl_v_str(h, s);
}

static void ins_hdr_free(void *st) {
    ins_hdr_state *s = st;
    sl_vheap_free(&s->heap);
    sl_free(s);
}

static void *ins_hdr_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    ins_hdr_conf *c = settings;
    if (!c->literal) {
        sl_errs_add(errs, "%svalue.literal: required, not set (the header's value)", prefix);
        return NULL;
    }
    ins_hdr_state *s = sl_calloc(1, sizeof *s);
    s->c = c;
    sl_vheap_init(&s->heap);
    s->value = parse_literal(&s->heap, c->literal);
    return s;
}

/* Each record gets a copy: its headers are its own. */
static int ins_hdr_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    ins_hdr_state *s = st;
    sl_xrec_add_vheader(r, s->c->header, s->value ? sl_v_copy(r->heap, s->value) : NULL);
    return SL_X_KEEP;
}

const sl_xform_ops cx_insert_header = {"InsertHeader", T "InsertHeader", "Adds a header with a fixed value.",
                                       ins_hdr_props, sizeof(ins_hdr_conf), ins_hdr_init, NULL, ins_hdr_free,
                                       .apply_v = ins_hdr_apply, .vmap = sl_xform_vmap_same};

/* ---- DropHeaders ---- */

typedef struct drop_hdr_conf {
    char *headers;
} drop_hdr_conf;

static const sl_prop drop_hdr_props[] = {
    {"headers", SL_PT_LIST, NULL, NULL, 0, 0, SL_PF_REQUIRED, offsetof(drop_hdr_conf, headers),
     "Names of the headers to remove (every header of each name)."},
    {NULL}};

static void *drop_hdr_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    drop_hdr_conf *c = settings;
    return list_state_new(c, c->headers, prefix, "headers", errs);
}

static int drop_hdr_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    list_state *s = st;
    sl_vheap *h = r->heap;
    for (uint32_t i = 0; i < r->vheaders->n;) {
        const char *k = sl_v_strval(h, sl_v_get(h, r->vheaders->e[i], "key"), NULL);
        if (k && cx_list_has(&s->l, k)) sl_v_remove(h, r->vheaders, i);
        else i++;
    }
    return SL_X_KEEP;
}

const sl_xform_ops cx_drop_headers = {"DropHeaders", T "DropHeaders", "Removes headers by name.", drop_hdr_props,
                                      sizeof(drop_hdr_conf), drop_hdr_init, NULL, list_free,
                                      .apply_v = drop_hdr_apply, .vmap = sl_xform_vmap_same};

/* ---- HeaderFrom ---- */

typedef struct hdr_from_conf {
    char *fields, *headers;
    int op;
    bool rnwd;
} hdr_from_conf;

#define F(x) offsetof(hdr_from_conf, x)
static const sl_prop hdr_from_props[] = {
    {"fields", SL_PT_LIST, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(fields), "Fields whose values go to headers."},
    {"headers", SL_PT_LIST, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(headers),
     "Header names, in the same order as `fields`."},
    {"operation", SL_PT_ENUM, NULL, "move|copy", 0, 0, SL_PF_REQUIRED, F(op),
     "`move` removes the fields from the key/value, `copy` keeps them."},
    {"replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(rnwd), RNWD_DOC},
    {NULL}};
#undef F

static void *hdr_from_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs, bool key) {
    hdr_from_conf *c = settings;
    list_state *s = list_state_new(c, c->fields, prefix, "fields", errs);
    if (!s) return NULL;
    s->key = key, s->rnwd = c->rnwd, s->op = c->op;
    cx_list_parse(&s->l2, c->headers);
    if (s->l2.n != s->l.n) {
        sl_errs_add(errs, "%sheaders: must have the same number of elements as %sfields (%d, not %d)", prefix, prefix,
                    s->l.n, s->l2.n);
        list_free(s);
        return NULL;
    }
    return s;
}
CX_SIDES(hdr_from_init)

/* A header's value: a copy of the field's (which the key or value may keep), NULL for null. */
static sl_val *hdr_value(sl_vheap *h, sl_val *v) { return sl_v_is_null(h, v) ? NULL : sl_v_copy(h, v); }

static int hdr_from_apply(void *st, sl_xrec *r, char *errstr, size_t errsz) {
    list_state *s = st;
    sl_vheap *h = r->heap;
    sl_val **sp = cx_vschema(r, s->key), **vp = cx_vvalue(r, s->key);
    const char *purpose = s->op == 0 ? "header move" : "header copy";
    if (!*sp) {
        if (cx_vneed_map(h, *vp, purpose, errstr, errsz)) return SL_X_ERROR;
        sl_val *nv = sl_v_clone(h, *vp);
        for (int i = 0; i < s->l.n; i++) {
            sl_xrec_add_vheader(r, s->l2.v[i], hdr_value(h, sl_v_get(h, *vp, s->l.v[i])));
            if (s->op == 0) sl_v_del(h, nv, s->l.v[i]);
        }
        *vp = nv;
        return SL_X_KEEP;
    }
    if (cx_vneed_struct(h, *vp, purpose, errstr, errsz)) return SL_X_ERROR;
    for (int i = 0; i < s->l.n; i++)
        if (!sl_vschema_field(h, *sp, s->l.v[i])) {
            snprintf(errstr, errsz, "field '%s' not found in the %s", s->l.v[i], s->key ? "key" : "value");
            return SL_X_ERROR;
        }
    for (int i = 0; i < s->l.n; i++)
        sl_xrec_add_vheader(r, s->l2.v[i], hdr_value(h, cx_vget(h, *vp, sl_vschema_field(h, *sp, s->l.v[i]), s->rnwd)));
    if (s->op == 1) return SL_X_KEEP;
    sl_val *ns = cx_vstruct_like(h, *sp), *nv = sl_v_obj(h, 8), *fields = cx_vfields(h, *sp);
    for (uint32_t k = 0; fields && k < fields->n; k++) {
        sl_val *fs = fields->e[k];
        const char *name = cx_vfield_name(h, fs);
        if (!name || cx_list_has(&s->l, name)) continue;
        cx_vkeep_field(h, ns, fs);
        sl_val *v = cx_vget(h, *vp, fs, s->rnwd);
        sl_v_set_ref(h, nv, name, strlen(name), v ? v : sl_v_null(h));
    }
    *sp = ns;
    *vp = nv;
    return SL_X_KEEP;
}

#define HDR_FROM_DOC "Moves or copies fields into headers (`fields[i]` goes to header `headers[i]`)."
const sl_xform_ops cx_header_from_value = {"HeaderFrom$Value", T "HeaderFrom$Value", HDR_FROM_DOC
                                           " Works on the value.", hdr_from_props, sizeof(hdr_from_conf),
                                           hdr_from_init_value, NULL, list_free, .apply_v = hdr_from_apply};
const sl_xform_ops cx_header_from_key = {"HeaderFrom$Key", T "HeaderFrom$Key", HDR_FROM_DOC " Works on the key.",
                                         hdr_from_props, sizeof(hdr_from_conf), hdr_from_init_key, NULL,
                                         list_free, .apply_v = hdr_from_apply};

/* ---- predicates ---- */

typedef struct topic_pred_conf {
    char *pattern;
} topic_pred_conf;

static const sl_prop topic_pred_props[] = {
    {"pattern", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, offsetof(topic_pred_conf, pattern),
     "A Java regular expression the whole topic name must match."},
    {NULL}};

static void *topic_pred_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) {
    char key[300];
    snprintf(key, sizeof key, "%spattern", prefix);
    return cx_regex_new(((topic_pred_conf *)settings)->pattern, key, errs);
}

static bool topic_pred_test(void *st, const sl_xrec *r) { return r->topic && cx_regex_matches(st, r->topic); }
static void topic_pred_free(void *st) { cx_regex_free(st); }

typedef struct hdr_pred_conf {
    char *name;
} hdr_pred_conf;

static const sl_prop hdr_pred_props[] = {
    {"name", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, offsetof(hdr_pred_conf, name), "The header name."},
    {NULL}};

static void *settings_init(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs) { return settings; }

static bool hdr_pred_test(void *st, const sl_xrec *r) { return sl_xrec_has_header(r, ((hdr_pred_conf *)st)->name); }

static bool tomb_pred_test(void *st, const sl_xrec *r) { return sl_xrec_value_is_null(r); }

#define P T "predicates."
static const sl_xpred_ops topic_pred = {"TopicNameMatches", P "TopicNameMatches",
                                        "True for records whose whole topic name matches a regular expression.",
                                        topic_pred_props, sizeof(topic_pred_conf), topic_pred_init, topic_pred_test,
                                        topic_pred_free, .by_topic = true};
static const sl_xpred_ops hdr_pred = {"HasHeaderKey", P "HasHeaderKey",
                                      "True for records with at least one header of the given name.", hdr_pred_props,
                                      sizeof(hdr_pred_conf), settings_init, hdr_pred_test, no_free};
static const sl_xpred_ops tomb_pred = {"RecordIsTombstone", P "RecordIsTombstone",
                                       "True for tombstones (records whose value is null).", no_props, 0,
                                       settings_init, tomb_pred_test, no_free, .by_topic = true};

/* ---- the registry ---- */

const sl_xform_ops *const sl_xforms_connect[] = {
    &cx_insert_field_value, &cx_insert_field_key, &cx_replace_field_value, &cx_replace_field_key,
    &cx_extract_field_value, &cx_extract_field_key, &cx_value_to_key, &cx_hoist_field_value, &cx_hoist_field_key,
    &cx_regex_router, &cx_timestamp_router, &cx_flatten_value, &cx_flatten_key, &cx_mask_field_value,
    &cx_mask_field_key, &cx_ts_conv_value, &cx_ts_conv_key, &cx_cast_value, &cx_cast_key, &cx_filter,
    &cx_insert_header, &cx_drop_headers, &cx_header_from_value, &cx_header_from_key, NULL};
const sl_xpred_ops *const sl_xpreds_connect[] = {&topic_pred, &hdr_pred, &tomb_pred, NULL};
