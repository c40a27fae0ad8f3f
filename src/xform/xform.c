/* The transform chain (see xform.h): config, the record view, and the batch stage. */
#include "xform/xform.h"
#include "core/log.h"
#include "core/plugin.h"
#include "util/jnum.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <stdlib.h>
#include <string.h>

/* Types added at run time (tests, embedders). */
static const sl_xform_ops *xforms_extra[9];

int sl_xform_add(const sl_xform_ops *ops) {
    int n = 0;
    while (xforms_extra[n]) n++;
    if (n == 8) return -1;
    xforms_extra[n] = ops;
    return 0;
}

static const sl_xform_ops *const *const xform_groups[] = {sl_xforms_connect, sl_xforms_debezium, sl_xforms_expr,
                                                          sl_xforms_embed, xforms_extra, NULL};
static const sl_xpred_ops *const *const pred_groups[] = {sl_xpreds_connect, NULL};

const sl_xform_ops *sl_xform_find(const char *name) {
    for (int g = 0; name && xform_groups[g]; g++)
        for (int i = 0; xform_groups[g][i]; i++)
            if (sl_plugin_name_is(name, xform_groups[g][i]->name, xform_groups[g][i]->aliases))
                return xform_groups[g][i];
    return NULL;
}

const sl_xpred_ops *sl_xpred_find(const char *name) {
    for (int g = 0; name && pred_groups[g]; g++)
        for (int i = 0; pred_groups[g][i]; i++)
            if (sl_plugin_name_is(name, pred_groups[g][i]->name, pred_groups[g][i]->aliases))
                return pred_groups[g][i];
    return NULL;
}

/* ---- JSON output ---- */

void sl_json_put(sl_buf *out, const json_t *v) {
    if (!v) {
        sl_buf_puts(out, "null");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        bool first = true;
        sl_buf_putc(out, '{');
        json_object_foreach((json_t *)v, k, e) {
            if (!first) sl_buf_putc(out, ',');
            first = false;
            sl_buf_put_json_str(out, k, strlen(k));
            sl_buf_putc(out, ':');
            sl_json_put(out, e);
        }
        sl_buf_putc(out, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        sl_buf_putc(out, '[');
        json_array_foreach(v, i, e) {
            if (i) sl_buf_putc(out, ',');
            sl_json_put(out, e);
        }
        sl_buf_putc(out, ']');
        break;
    }
    case JSON_STRING:
        sl_buf_put_json_str(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sl_buf_put_i64(out, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        /* Jackson's DoubleNode: Double.toString, NaN and the infinities as strings (JsonConverter) */
        sl_jnum_put_json(out, json_real_value(v), false);
        break;
    case JSON_TRUE:
        sl_buf_puts(out, "true");
        break;
    case JSON_FALSE:
        sl_buf_puts(out, "false");
        break;
    case JSON_NULL:
        sl_buf_puts(out, "null");
        break;
    }
}

char *sl_xrec_encode(const json_t *schema, const json_t *payload, bool schemas) {
    sl_buf b;
    sl_buf_init(&b);
    if (schemas && schema) {
        sl_buf_puts(&b, "{\"schema\":");
        sl_json_put(&b, schema);
        sl_buf_puts(&b, ",\"payload\":");
        sl_json_put(&b, payload);
        sl_buf_putc(&b, '}');
    } else {
        sl_json_put(&b, payload);
    }
    char *s = sl_strdup(sl_buf_cstr(&b));
    sl_buf_free(&b);
    return s;
}

/* ---- schema helpers ---- */

json_t *sl_schema_field(const json_t *s, const char *name) {
    json_t *fields = json_object_get(s, "fields");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        const char *n = json_string_value(json_object_get(f, "field"));
        if (n && strcmp(n, name) == 0) return f;
    }
    return NULL;
}

void sl_schema_del_field(json_t *s, const char *name) {
    json_t *fields = json_object_get(s, "fields");
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(fields, i), "field"));
        if (n && strcmp(n, name) == 0) {
            json_array_remove(fields, i);
            return;
        }
    }
}

void sl_schema_put_field(json_t *s, const char *name, json_t *fs) {
    json_object_set_new(fs, "field", json_string(name));
    json_t *fields = json_object_get(s, "fields");
    if (!fields) {
        fields = json_array();
        json_object_set_new(s, "fields", fields);
    }
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(fields, i), "field"));
        if (n && strcmp(n, name) == 0) {
            json_array_set_new(fields, i, fs);
            return;
        }
    }
    json_array_append_new(fields, fs);
}

json_t *sl_schema_prim(const char *type, bool optional) {
    return json_pack("{s:s,s:b}", "type", type, "optional", optional);
}

/* ---- the view's schema helpers ---- */

sl_val *sl_vschema_field(sl_vheap *h, sl_val *s, const char *name) {
    sl_val *fields = sl_v_get(h, s, "fields");
    for (uint32_t i = 0; fields && fields->kind == SL_V_ARR && i < fields->n; i++) {
        const char *n = sl_v_strval(h, sl_v_get(h, fields->e[i], "field"), NULL);
        if (n && strcmp(n, name) == 0) return fields->e[i];
    }
    return NULL;
}

/* s's "fields" array, thawed (s itself must be). */
static sl_val *own_fields(sl_vheap *h, sl_val *s) {
    sl_val *fields = sl_v_get(h, s, "fields");
    if (!fields || sl_v_kind(h, fields) != SL_V_ARR) {
        fields = sl_v_arr(h, 4);
        sl_v_set_ref(h, s, "fields", 6, fields);
    } else if (fields->frozen) {
        fields = sl_v_thaw(h, fields);
        sl_v_set_ref(h, s, "fields", 6, fields);
    }
    return fields;
}

void sl_vschema_del_field(sl_vheap *h, sl_val *s, const char *name) {
    sl_val *fields = sl_v_get(h, s, "fields");
    for (uint32_t i = 0; fields && fields->kind == SL_V_ARR && i < fields->n; i++) {
        const char *n = sl_v_strval(h, sl_v_get(h, fields->e[i], "field"), NULL);
        if (n && strcmp(n, name) == 0) {
            sl_v_remove(h, own_fields(h, s), i);
            return;
        }
    }
}

void sl_vschema_put_field(sl_vheap *h, sl_val *s, const char *name, sl_val *fs) {
    sl_v_set(h, fs, "field", sl_v_str(h, name));
    sl_val *fields = own_fields(h, s);
    for (uint32_t i = 0; i < fields->n; i++) {
        const char *n = sl_v_strval(h, sl_v_get(h, fields->e[i], "field"), NULL);
        if (n && strcmp(n, name) == 0) {
            fields->e[i] = fs;
            return;
        }
    }
    sl_v_push(h, fields, fs);
}

sl_val *sl_vschema_prim(sl_vheap *h, const char *type, bool optional) {
    sl_val *s = sl_v_obj(h, 4);
    sl_v_set_ref(h, s, "type", 4, sl_v_str(h, type));
    sl_v_set_ref(h, s, "optional", 8, sl_v_bool(h, optional));
    return s;
}

/* ---- the record view ---- */

void sl_xrec_set(json_t **slot, json_t *v) {
    json_decref(*slot);
    *slot = v;
}

void sl_xrec_set_topic(sl_xrec *r, const char *topic) {
    char *t = sl_strdup(topic ? topic : "");
    sl_free(r->topic);
    r->topic = t;
}

void sl_xrec_add_header(sl_xrec *r, const char *key, json_t *value) {
    json_array_append_new(r->headers, json_pack("{s:s,s:o}", "key", key, "value", value ? value : json_null()));
}

void sl_xrec_add_vheader(sl_xrec *r, const char *key, sl_val *value) {
    sl_val *h = sl_v_obj(r->heap, 2);
    sl_v_set_ref(r->heap, h, "key", 3, sl_v_str(r->heap, key));
    sl_v_set_ref(r->heap, h, "value", 5, value ? value : sl_v_null(r->heap));
    sl_v_push(r->heap, r->vheaders, h);
}

bool sl_xrec_value_is_null(const sl_xrec *r) {
    return r->json_form ? !r->value || json_is_null(r->value) : sl_v_is_null(r->heap, r->vvalue);
}

bool sl_xrec_has_header(const sl_xrec *r, const char *name) {
    if (r->json_form) {
        size_t i;
        json_t *h;
        json_array_foreach(r->headers, i, h) {
            const char *k = json_string_value(json_object_get(h, "key"));
            if (k && strcmp(k, name) == 0) return true;
        }
        return false;
    }
    for (uint32_t i = 0; i < r->vheaders->n; i++) {
        const char *k = sl_v_strval(r->heap, sl_v_get(r->heap, r->vheaders->e[i], "key"), NULL);
        if (k && strcmp(k, name) == 0) return true;
    }
    return false;
}

void sl_xrec_clear(sl_xrec *r) {
    sl_free(r->topic);
    json_decref(r->key_schema);
    json_decref(r->key);
    json_decref(r->value_schema);
    json_decref(r->value);
    json_decref(r->headers);
    if (r->own_heap) {
        sl_vheap_free(r->own_heap);
        sl_free(r->own_heap);
    }
    memset(r, 0, sizeof *r);
}

/* ---- between the two forms ---- */

/* A JSON tree as a view value in h (NULL for NULL). */
static sl_val *from_json(sl_vheap *h, const json_t *j) {
    if (!j) return NULL;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        sl_val *o = sl_v_obj(h, (uint32_t)json_object_size(j));
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)j, k, e) {
            size_t kn = strlen(k);
            o->m[o->n++] = (sl_vmember){sl_arena_strndup(&h->arena, k, kn), (uint32_t)kn, from_json(h, e)};
        }
        return o;
    }
    case JSON_ARRAY: {
        sl_val *a = sl_v_arr(h, (uint32_t)json_array_size(j));
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) a->e[a->n++] = from_json(h, e);
        return a;
    }
    case JSON_STRING: return sl_v_strn(h, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return sl_v_int(h, (int64_t)json_integer_value(j));
    case JSON_REAL: return sl_v_real(h, json_real_value(j));
    case JSON_TRUE: return sl_v_bool(h, true);
    case JSON_FALSE: return sl_v_bool(h, false);
    case JSON_NULL: return sl_v_null(h);
    }
    return NULL;
}

/* A view value as a new JSON tree (NULL for NULL); lazy parts are built on the way. */
static json_t *to_json(sl_vheap *h, sl_val *v) {
    if (!v) return NULL;
    switch (sl_v_kind(h, v)) {
    case SL_V_OBJ: {
        sl_v_force(h, v);
        json_t *o = json_object();
        for (uint32_t i = 0; i < v->n; i++) json_object_setn_new_nocheck(o, v->m[i].name, v->m[i].len, to_json(h, v->m[i].v));
        return o;
    }
    case SL_V_ARR: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < v->n; i++) json_array_append_new(a, to_json(h, v->e[i]));
        return a;
    }
    case SL_V_STR: return json_stringn_nocheck(v->s, v->n);
    case SL_V_INT: return json_integer((json_int_t)v->i);
    case SL_V_REAL: return json_real(v->d);
    case SL_V_BOOL: return json_boolean(v->b);
    case SL_V_NULL:
    case SL_V_LAZY: break;
    }
    return json_null();
}

/* Schemas parsed once per table (change events of a table share them); see from_record. Each entry holds
 * the frozen view schemas and, made when a JSON-form step first needs them, their JSON twins. */
enum { SCHEMA_CACHE = 32 };
typedef struct schema_cache {
    sl_table *t; /* a reference: the address cannot be reused while cached */
    sl_vheap heap;
    sl_val *key_schema, *value_schema;
    json_t *jkey_schema, *jvalue_schema;
} schema_cache;

/* Schemas of records that arrive as text (the Kafka source), by their text: parsed once, frozen. */
enum { TEXT_CACHE = 8 };
typedef struct text_schema {
    char *text;
    size_t len;
    sl_vheap heap;
    sl_val *schema;
} text_schema;

/* Schemas the steps derived from frozen ones (sl_xrec_memo_put), with what they were derived from. Cleared,
 * between records, whenever a cached schema goes (its address may come back) or when full. */
enum { MEMO_N = 128 };
typedef struct memo {
    int step, variant;
    const sl_val *in;
    sl_val *out;
} memo;

typedef struct xcache {
    schema_cache e[SCHEMA_CACHE];
    int n, next;
    text_schema t[TEXT_CACHE];
    int tnext;
    memo m[MEMO_N];
    int nm;
    bool memo_stale;    /* clear before the next record */
    bool memo_heap_set;
    sl_vheap memo_heap; /* the derived schemas */
} xcache;

static void entry_clear(schema_cache *e) {
    sl_table_unref(e->t);
    sl_vheap_free(&e->heap);
    json_decref(e->jkey_schema);
    json_decref(e->jvalue_schema);
    memset(e, 0, sizeof *e);
}

static void text_clear(text_schema *t) {
    if (t->text) sl_vheap_free(&t->heap);
    sl_free(t->text);
    memset(t, 0, sizeof *t);
}

static void cache_free(xcache *c) {
    for (int i = 0; i < c->n; i++) entry_clear(&c->e[i]);
    for (int i = 0; i < TEXT_CACHE; i++) text_clear(&c->t[i]);
    c->n = c->next = c->tnext = 0;
    if (c->memo_heap_set) sl_vheap_free(&c->memo_heap);
    c->memo_heap_set = false;
    c->nm = 0;
}

/* Between records: forgets the derived schemas when one they came from went (or the memo is full). */
static void memo_settle(xcache *c) {
    if (!c->memo_stale) return;
    if (c->memo_heap_set) sl_vheap_reset(&c->memo_heap);
    c->nm = 0;
    c->memo_stale = false;
}

sl_val *sl_xrec_memo_get(const sl_xrec *r, const sl_val *in, int variant) {
    const xcache *c = r->cache;
    if (!c || !in || !in->frozen || r->step < 0) return NULL;
    for (int i = 0; i < c->nm; i++)
        if (c->m[i].in == in && c->m[i].step == r->step && c->m[i].variant == variant) return c->m[i].out;
    return NULL;
}

sl_val *sl_xrec_memo_put(sl_xrec *r, const sl_val *in, int variant, sl_val *out) {
    xcache *c = r->cache;
    if (!c || !in || !in->frozen || !out || r->step < 0) return out;
    if (c->nm == MEMO_N) {
        c->memo_stale = true; /* full: start again with the next record */
        return out;
    }
    if (!c->memo_heap_set) {
        sl_vheap_init(&c->memo_heap);
        c->memo_heap_set = true;
    }
    sl_val *kept = sl_v_detach(&c->memo_heap, out);
    sl_v_freeze(&c->memo_heap, kept);
    c->m[c->nm++] = (memo){r->step, variant, in, kept};
    return kept;
}

/* The frozen schema of schema text [p, p + n) (compared by length and bytes), parsed on first sight;
 * NULL with err when it is not JSON. */
static sl_val *text_schema_of(xcache *c, const char *p, size_t n, char *err, size_t errsz) {
    for (int i = 0; i < TEXT_CACHE; i++)
        if (c->t[i].text && c->t[i].len == n && !memcmp(c->t[i].text, p, n)) return c->t[i].schema;
    text_schema *t = &c->t[c->tnext];
    c->tnext = (c->tnext + 1) % TEXT_CACHE;
    if (t->text) c->memo_stale = true;
    text_clear(t);
    sl_vheap_init(&t->heap);
    t->text = sl_malloc(n ? n : 1);
    memcpy(t->text, p, n);
    t->len = n;
    if (!(t->schema = sl_v_parse(&t->heap, t->text, n, err, errsz))) {
        text_clear(t);
        return NULL;
    }
    sl_v_freeze(&t->heap, t->schema);
    return t->schema;
}

/* The record's cache, for the two forms' schema twins (NULL for a record outside a chain). */
static xcache *rec_cache(const sl_xrec *r) { return r->cache; }

/* Schema s in JSON form: the cached twin when s is a cached schema, else a new tree. */
static json_t *schema_to_json(sl_xrec *r, sl_val *s) {
    xcache *c = rec_cache(r);
    for (int i = 0; s && c && i < c->n; i++) {
        schema_cache *e = &c->e[i];
        if (s == e->key_schema || s == e->value_schema) {
            json_t **twin = s == e->key_schema ? &e->jkey_schema : &e->jvalue_schema;
            if (!*twin) *twin = to_json(&e->heap, s);
            return json_incref(*twin);
        }
    }
    return to_json(r->heap, s);
}

static sl_val *schema_to_view(sl_xrec *r, const json_t *j) {
    xcache *c = rec_cache(r);
    for (int i = 0; j && c && i < c->n; i++) {
        if (j == c->e[i].jkey_schema) return c->e[i].key_schema;
        if (j == c->e[i].jvalue_schema) return c->e[i].value_schema;
    }
    return from_json(r->heap, j);
}

void sl_xrec_to_json(sl_xrec *r) {
    if (r->json_form) return;
    r->key_schema = schema_to_json(r, r->vkey_schema);
    r->key = to_json(r->heap, r->vkey);
    r->value_schema = schema_to_json(r, r->vvalue_schema);
    r->value = to_json(r->heap, r->vvalue);
    r->headers = to_json(r->heap, r->vheaders);
    r->vkey_schema = r->vkey = r->vvalue_schema = r->vvalue = r->vheaders = NULL;
    r->json_form = true;
}

int sl_xrec_to_view(sl_xrec *r, char *errstr, size_t errsz) {
    (void)errstr, (void)errsz;
    if (!r->json_form) return 0;
    if (!r->heap) {
        r->own_heap = r->heap = sl_malloc(sizeof *r->heap);
        sl_vheap_init(r->heap);
    }
    r->vkey_schema = schema_to_view(r, r->key_schema);
    r->vkey = from_json(r->heap, r->key);
    r->vvalue_schema = schema_to_view(r, r->value_schema);
    r->vvalue = from_json(r->heap, r->value);
    r->vheaders = r->headers ? from_json(r->heap, r->headers) : sl_v_arr(r->heap, 0);
    json_decref(r->key_schema);
    json_decref(r->key);
    json_decref(r->value_schema);
    json_decref(r->value);
    json_decref(r->headers);
    r->key_schema = r->key = r->value_schema = r->value = r->headers = NULL;
    r->json_form = false;
    return 0;
}

/* Parses converter output into the view: {"schema": s, "payload": p} gives both, anything else is a
   schemaless payload. False (with err) when text is not JSON: a record whose own encoding cannot be read
   back is an error, never a null (a null value would pass as a tombstone and the record would be lost). */
static bool split(sl_vheap *h, const char *text, size_t len, sl_val **schema, sl_val **payload, char *err,
                  size_t errsz) {
    *schema = *payload = NULL;
    if (!text) return true;
    sl_val *j = sl_v_parse(h, text, len, err, errsz);
    if (!j) return false;
    if (j->kind == SL_V_NULL) return true;
    if (j->kind == SL_V_OBJ && j->n == 2) {
        sl_val *s = sl_v_get(h, j, "schema"), *p = sl_v_get(h, j, "payload");
        if (s && p) {
            *schema = s->kind == SL_V_NULL ? NULL : s;
            *payload = p->kind == SL_V_NULL ? NULL : p;
            return true;
        }
    }
    *payload = j;
    return true;
}

static void view_init(sl_xrec *r, sl_vheap *h) {
    memset(r, 0, sizeof *r);
    r->step = -1;
    r->heap = h;
    r->partition = r->kafka_partition = -1;
    r->kafka_offset = -1;
    r->vheaders = sl_v_arr(h, 0);
}

void sl_xrec_from_text(sl_xrec *r, const char *topic, const char *key, const char *value) {
    sl_vheap *h = sl_malloc(sizeof *h);
    sl_vheap_init(h);
    view_init(r, h);
    r->own_heap = h;
    r->topic = sl_strdup(topic ? topic : "");
    char err[128];
    split(h, key, key ? strlen(key) : 0, &r->vkey_schema, &r->vkey, err, sizeof err);
    split(h, value, value ? strlen(value) : 0, &r->vvalue_schema, &r->vvalue, err, sizeof err);
    r->ts_ms = sl_wall_us() / 1000;
    sl_xrec_to_json(r);
}

static bool cacheable(const sl_record *rec) {
    return rec->table && !rec->raw &&
           (rec->op == SL_OP_CREATE || rec->op == SL_OP_UPDATE || rec->op == SL_OP_DELETE || rec->op == SL_OP_READ);
}

/* A shared schema (the cache holds a reference too) becomes the record's own copy; see sl_xchain_run. */
static void own_schema(json_t **s) {
    if (*s && (*s)->refcount > 1) sl_xrec_set(s, json_deep_copy(*s));
}

/* The cache entry of rec's table: its schemas read once from the encoder's text and frozen. */
static schema_cache *cached_schemas(xcache *cache, const sl_dbz_opts *o, const sl_record *rec, sl_buf *b) {
    for (int i = 0; i < cache->n; i++)
        if (cache->e[i].t == rec->table) return &cache->e[i];
    schema_cache *e = &cache->e[cache->n < SCHEMA_CACHE ? cache->n++ : cache->next];
    if (e->t) { /* full: the oldest entry goes */
        entry_clear(e);
        cache->memo_stale = true;
        cache->next = (cache->next + 1) % SCHEMA_CACHE;
    }
    e->t = sl_table_ref(rec->table);
    sl_vheap_init(&e->heap);
    sl_dbz_opts so = *o;
    so.key_schemas = so.value_schemas = true;
    sl_val *payload;
    char err[128];
    sl_buf_reset(b);
    sl_dbz_key(&so, rec, b);
    if (split(&e->heap, b->data, b->len, &e->key_schema, &payload, err, sizeof err)) sl_v_freeze(&e->heap, e->key_schema);
    sl_buf_reset(b);
    sl_record full = *rec; /* a delete's tombstone still has the envelope's schema */
    sl_dbz_value(&so, &full, b);
    if (split(&e->heap, b->data, b->len, &e->value_schema, &payload, err, sizeof err))
        sl_v_freeze(&e->heap, e->value_schema);
    return e;
}

/*
 * Builds the view of a change record. A data change of a table is the
 * encoder's lazy view (sl_dbz_view: nothing encoded until a transform reads
 * into it) with the table's schemas from the cache; other records (and
 * pre-encoded ones) are read from their text.
 */
static int from_record(xcache *cache, sl_vheap *h, sl_buf *b, sl_xrec *r, const sl_dbz_opts *o,
                       const sl_record *rec, bool tombstone, char *err, size_t errsz) {
    view_init(r, h);
    r->src = rec;
    r->tombstone = tombstone;
    for (int i = 0; i < rec->nheaders; i++) {
        const sl_header *hd = &rec->headers[i];
        sl_val *v = NULL;
        if (hd->value && hd->is_json) v = sl_v_parse(h, hd->value, hd->value_len, NULL, 0);
        else if (hd->value) v = sl_v_strn(h, hd->value, hd->value_len);
        sl_xrec_add_vheader(r, hd->key, v);
    }
    if (rec->raw) {
        r->topic = sl_strdup(rec->raw->topic ? rec->raw->topic : "");
        r->ts_ms = rec->raw->ts_ms;
        r->kafka_partition = rec->raw->partition;
        r->kafka_offset = rec->raw->offset;
        if (rec->raw->pinned) r->partition = rec->raw->to_partition;
        if (!split(h, rec->raw->key, rec->raw->key_len, &r->vkey_schema, &r->vkey, err, errsz)) return -1;
        if (tombstone) return 0;
        const sl_raw *w = rec->raw;
        if (cache && w->value && w->value_schema_len && w->value_payload_len) {
            /* the reader found the envelope's parts: the schema is looked up by its text, only the payload is
             * read (a null one is a tombstone, as in split) */
            sl_val *sch = text_schema_of(cache, w->value + w->value_schema_at, w->value_schema_len, err, errsz);
            sl_val *pl = sch ? sl_v_parse(h, w->value + w->value_payload_at, w->value_payload_len, err, errsz) : NULL;
            if (!pl) return -1;
            r->vvalue_schema = sch->kind == SL_V_NULL ? NULL : sch;
            r->vvalue = pl->kind == SL_V_NULL ? NULL : pl;
            return 0;
        }
        return split(h, w->value, w->value_len, &r->vvalue_schema, &r->vvalue, err, errsz) ? 0 : -1;
    }
    r->ts_ms = rec->ts_us > 0 ? rec->ts_us / 1000 : sl_wall_us() / 1000;
    sl_buf_reset(b);
    r->topic = sl_strdup(sl_dbz_topic(o, rec, b));
    if (cache && cacheable(rec)) {
        schema_cache *e = cached_schemas(cache, o, rec, b);
        sl_dbz_view(o, rec, h, &r->vkey, tombstone ? NULL : &r->vvalue);
        r->vkey_schema = r->vkey ? e->key_schema : NULL;
        r->vvalue_schema = r->vvalue ? e->value_schema : NULL;
        return 0;
    }
    /* Transforms see the Connect schemas whatever the converters write (as in Kafka Connect). */
    sl_dbz_opts so = *o;
    so.key_schemas = so.value_schemas = true;
    sl_buf_reset(b);
    sl_dbz_key(&so, rec, b);
    if (!split(h, b->data, b->len, &r->vkey_schema, &r->vkey, err, errsz)) return -1;
    if (tombstone) return 0;
    sl_buf_reset(b);
    sl_dbz_value(&so, rec, b);
    return split(h, b->data, b->len, &r->vvalue_schema, &r->vvalue, err, errsz) ? 0 : -1;
}

void sl_xrec_from_record(sl_xrec *r, const sl_dbz_opts *o, const sl_record *rec, bool tombstone) {
    sl_vheap *h = sl_malloc(sizeof *h);
    sl_vheap_init(h);
    sl_buf b;
    sl_buf_init(&b);
    char err[128];
    from_record(NULL, h, &b, r, o, rec, tombstone, err, sizeof err);
    r->own_heap = h;
    sl_buf_free(&b);
    sl_xrec_to_json(r);
}

/* ---- the chain ---- */

typedef struct xpred {
    char *name;
    const sl_xpred_ops *ops;
    void *settings, *state;
} xpred;

typedef struct xstep {
    char *name;
    const sl_xform_ops *ops;
    void *settings, *state;
    int pred;     /* index into preds, -1: none */
    bool negate;
} xstep;

struct sl_xchain {
    xstep *steps;
    int n;
    xpred *preds;
    int np;
    sl_buf buf;
    xcache cache;
    sl_vheap heap; /* the view of the record being transformed (reset per record) */
};

typedef struct step_conf {
    char *type, *predicate;
    bool negate;
} step_conf;

#define F(x) offsetof(step_conf, x)
static const sl_prop step_props[] = {
    {"type", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(type),
     "The transform's type: a native name or its Java class name."},
    {"predicate", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(predicate),
     "Apply only to records this predicate (one of `predicates`) matches."},
    {"negate", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(negate), "Apply to the records the predicate does not match."},
    {NULL}};
static const sl_prop pred_props[] = {
    {"type", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(type),
     "The predicate's type: a native name or its Java class name."},
    {NULL}};
#undef F

/* Splits a comma-separated list into trimmed names; returns how many (at most max). */
static int split_names(const char *list, char names[][128], int max) {
    int n = 0;
    for (const char *p = list ? list : ""; *p && n < max;) {
        while (*p == ',' || *p == ' ' || *p == '\t') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if (t > p) snprintf(names[n++], 128, "%.*s", (int)(t - p), p);
        p = e;
    }
    return n;
}

static void list_types(char *out, size_t outsz, bool preds) {
    size_t o = 0;
    out[0] = 0;
    if (preds) {
        for (int g = 0; pred_groups[g]; g++)
            for (int i = 0; pred_groups[g][i]; i++)
                o += (size_t)snprintf(out + o, o < outsz ? outsz - o : 0, "%s%s", o ? ", " : "",
                                      pred_groups[g][i]->name);
    } else {
        for (int g = 0; xform_groups[g]; g++)
            for (int i = 0; xform_groups[g][i]; i++)
                o += (size_t)snprintf(out + o, o < outsz ? outsz - o : 0, "%s%s", o ? ", " : "",
                                      xform_groups[g][i]->name);
    }
}

void sl_xchain_free(sl_xchain *x) {
    if (!x) return;
    for (int i = 0; i < x->n; i++) {
        xstep *s = &x->steps[i];
        if (s->state && s->ops->free) s->ops->free(s->state);
        if (s->settings) {
            sl_conf_free(s->ops->props, s->settings);
            sl_free(s->settings);
        }
        sl_free(s->name);
    }
    for (int i = 0; i < x->np; i++) {
        xpred *p = &x->preds[i];
        if (p->state && p->ops->free) p->ops->free(p->state);
        if (p->settings) {
            sl_conf_free(p->ops->props, p->settings);
            sl_free(p->settings);
        }
        sl_free(p->name);
    }
    sl_free(x->steps);
    sl_free(x->preds);
    sl_buf_free(&x->buf);
    cache_free(&x->cache);
    sl_vheap_free(&x->heap);
    sl_free(x);
}

enum { MAX_STEPS = 64 };

/* A transform's or predicate's options (under prefix) into new settings, then its init: *state is NULL on errors. */
static void setup_type(const sl_prop *props, size_t size, void *(*init)(void *, sl_config *, const char *, sl_errs *),
                       const char *type, sl_config *cfg, const char *prefix, sl_errs *errs, void **settings,
                       void **state) {
    *settings = sl_calloc(1, size ? size : 1);
    if (sl_conf_apply_prefixed(props, cfg, prefix, *settings, errs) || !init) return;
    int e0 = errs->n;
    *state = init(*settings, cfg, prefix, errs);
    if (!*state && errs->n == e0) sl_errs_add(errs, "%stype: %s could not be set up", prefix, type);
}

sl_xchain *sl_xchain_new(sl_config *cfg, const char *transforms, sl_errs *errs) {
    char names[MAX_STEPS][128];
    int n = split_names(transforms, names, MAX_STEPS);
    if (n == 0) return NULL;
    int before = errs->n;
    sl_xchain *x = sl_calloc(1, sizeof *x);
    sl_buf_init(&x->buf);
    sl_vheap_init(&x->heap);
    char allowed[2048], prefix[256];

    /* predicates first: transforms refer to them */
    const char *plist = sl_config_get(cfg, "predicates");
    sl_config_claim(cfg, "predicates");
    char pnames[MAX_STEPS][128];
    int np = split_names(plist, pnames, MAX_STEPS);
    x->preds = sl_calloc((size_t)(np ? np : 1), sizeof *x->preds);
    for (int i = 0; i < np; i++) {
        xpred *p = &x->preds[x->np];
        snprintf(prefix, sizeof prefix, "predicates.%.128s.", pnames[i]);
        step_conf sc = {0};
        if (sl_conf_apply_prefixed(pred_props, cfg, prefix, &sc, errs) == 0) {
            if (!(p->ops = sl_xpred_find(sc.type))) {
                list_types(allowed, sizeof allowed, true);
                sl_errs_add(errs, "%stype: '%s' is not a known predicate (allowed: %s)", prefix, sc.type, allowed);
            } else {
                p->name = sl_strdup(pnames[i]);
                setup_type(p->ops->props, p->ops->settings_size, p->ops->init, p->ops->name, cfg, prefix, errs,
                           &p->settings, &p->state);
                x->np++;
            }
        }
        sl_conf_free(pred_props, &sc);
    }

    x->steps = sl_calloc((size_t)n, sizeof *x->steps);
    for (int i = 0; i < n; i++) {
        xstep *s = &x->steps[x->n];
        snprintf(prefix, sizeof prefix, "transforms.%.128s.", names[i]);
        step_conf sc = {0};
        if (sl_conf_apply_prefixed(step_props, cfg, prefix, &sc, errs) == 0) {
            if (!(s->ops = sl_xform_find(sc.type))) {
                list_types(allowed, sizeof allowed, false);
                sl_errs_add(errs, "%stype: '%s' is not a known transform (allowed: %s, or their Java class names)",
                            prefix, sc.type, allowed);
            } else {
                s->name = sl_strdup(names[i]);
                s->pred = -1;
                s->negate = sc.negate;
                if (sc.predicate && *sc.predicate) {
                    for (int k = 0; k < x->np; k++)
                        if (strcmp(x->preds[k].name, sc.predicate) == 0) s->pred = k;
                    if (s->pred < 0)
                        sl_errs_add(errs, "%spredicate: '%s' is not one of predicates (%s)", prefix, sc.predicate,
                                    plist && *plist ? plist : "none are defined");
                }
                setup_type(s->ops->props, s->ops->settings_size, s->ops->init, s->ops->name, cfg, prefix, errs,
                           &s->settings, &s->state);
                x->n++;
            }
        }
        sl_conf_free(step_props, &sc);
    }
    if (errs->n > before) {
        sl_xchain_free(x);
        return NULL;
    }
    return x;
}

/* Runs the steps on r, converting it between the two forms as each step needs. */
static int run_steps(sl_xchain *x, sl_xrec *r, char *errstr, size_t errsz) {
    for (int i = 0; i < x->n; i++) {
        xstep *s = &x->steps[i];
        if (s->pred >= 0) {
            xpred *p = &x->preds[s->pred];
            bool hit = p->ops->test(p->state, r);
            if (hit == s->negate) continue;
        }
        bool view = s->ops->apply_v != NULL;
        char err[768] = "";
        if (view) {
            if (sl_xrec_to_view(r, err, sizeof err) < 0) {
                snprintf(errstr, errsz, "transform %s (%s) failed on a record of topic %s: %s", s->name,
                         s->ops->name, r->topic ? r->topic : "?", err);
                return SL_X_ERROR;
            }
        } else if (!s->ops->any_form) {
            sl_xrec_to_json(r);
            if (!s->ops->schema_readonly) {
                own_schema(&r->key_schema);
                own_schema(&r->value_schema);
            }
        }
        r->step = i;
        int rc = view ? s->ops->apply_v(s->state, r, err, sizeof err) : s->ops->apply(s->state, r, err, sizeof err);
        r->step = -1;
        if (rc == SL_X_ERROR) {
            snprintf(errstr, errsz, "transform %s (%s) failed on a record of topic %s: %s", s->name, s->ops->name,
                     r->topic ? r->topic : "?", err[0] ? err : "no reason given");
            return SL_X_ERROR;
        }
        if (rc == SL_X_DROP) return SL_X_DROP;
    }
    return SL_X_KEEP;
}

int sl_xchain_run(sl_xchain *x, sl_xrec *r, char *errstr, size_t errsz) {
    int rc = run_steps(x, r, errstr, errsz);
    sl_xrec_to_json(r);
    return rc;
}

int sl_xform_vmap_same(void *state, sl_vtable *t, char *errstr, size_t errsz) {
    (void)state, (void)t, (void)errstr, (void)errsz;
    return 0;
}

int sl_xchain_vmap(void *chain, sl_vtable *t, char *errstr, size_t errsz) {
    sl_xchain *x = chain;
    t->transformed = true;
    if (t->documents && x && x->n) {
        snprintf(errstr, errsz, "sluice verify does not follow transforms of a MongoDB source's documents "
                                "(transform '%s')", x->steps[0].name);
        return -1;
    }
    for (int i = 0; x && i < x->n; i++) {
        const xstep *s = &x->steps[i];
        if (s->pred >= 0) {
            const xpred *p = &x->preds[s->pred];
            if (!p->ops->by_topic) {
                snprintf(errstr, errsz, "sluice verify cannot tell which rows transform '%s' applies to (its predicate "
                                        "'%s' is a %s, which depends on more than the topic)", s->name, p->name,
                         p->ops->name);
                return -1;
            }
            sl_xrec r = {.topic = t->topic, .json_form = true, .value = json_object()}; /* a row, not a tombstone */
            bool match = p->ops->test(p->state, &r);
            json_decref(r.value);
            if (match == s->negate) continue;
        }
        if (!s->ops->vmap) {
            sl_buf ok;
            sl_buf_init(&ok);
            for (int g = 0; xform_groups[g]; g++)
                for (int k = 0; xform_groups[g][k]; k++)
                    if (xform_groups[g][k]->vmap) sl_buf_printf(&ok, "%s%s", ok.len ? ", " : "", xform_groups[g][k]->name);
            snprintf(errstr, errsz, "sluice verify cannot compare through transform '%s' (%s): it follows %s",
                     s->name, s->ops->name, sl_buf_cstr(&ok));
            sl_buf_free(&ok);
            return -1;
        }
        char why[400];
        why[0] = 0;
        if (s->ops->vmap(s->state, t, why, sizeof why) < 0) {
            snprintf(errstr, errsz, "sluice verify cannot compare through transform '%s' (%s): %s", s->name,
                     s->ops->name, why);
            return -1;
        }
    }
    return 0;
}

void sl_xchain_durable(sl_xchain *x) {
    for (int i = 0; x && i < x->n; i++)
        if (x->steps[i].ops->durable && x->steps[i].state) x->steps[i].ops->durable(x->steps[i].state);
}

bool sl_xchain_has_durable(const sl_xchain *x) {
    for (int i = 0; x && i < x->n; i++)
        if (x->steps[i].ops->durable && x->steps[i].state) return true;
    return false;
}

/* Key or value of r in the converter's form (schema: with {"schema","payload"}) into the arena; NULL for
 * none. Either form. */
static const char *emit(sl_xchain *x, sl_arena *a, const sl_xrec *r, bool key, bool schemas, uint32_t *len) {
    sl_buf *b = &x->buf;
    sl_buf_reset(b);
    if (r->json_form) {
        const json_t *v = key ? r->key : r->value, *s = key ? r->key_schema : r->value_schema;
        if (!v || json_is_null(v)) return NULL;
        if (schemas && s) {
            sl_buf_puts(b, "{\"schema\":");
            sl_json_put(b, s);
            sl_buf_puts(b, ",\"payload\":");
            sl_json_put(b, v);
            sl_buf_putc(b, '}');
        } else {
            sl_json_put(b, v);
        }
    } else {
        sl_val *v = key ? r->vkey : r->vvalue, *s = key ? r->vkey_schema : r->vvalue_schema;
        if (sl_v_is_null(r->heap, v)) return NULL;
        if (schemas && s) {
            sl_buf_puts(b, "{\"schema\":");
            sl_v_put_json(b, s);
            sl_buf_puts(b, ",\"payload\":");
            sl_v_put_json(b, v);
            sl_buf_putc(b, '}');
        } else {
            sl_v_put_json(b, v);
        }
    }
    *len = (uint32_t)b->len;
    return sl_arena_strndup(a, b->data, b->len);
}

/* Header i of r (either form): its name, and its value as a string or as JSON text (is_json). */
static void emit_header(sl_xchain *x, sl_arena *a, sl_xrec *r, size_t i, sl_header *oh) {
    const char *k;
    size_t kn;
    oh->is_json = false;
    oh->value = NULL, oh->value_len = 0;
    if (r->json_form) {
        json_t *h = json_array_get(r->headers, i);
        json_t *v = json_object_get(h, "value");
        k = json_string_value(json_object_get(h, "key"));
        kn = k ? strlen(k) : 0;
        if (v && json_is_string(v)) {
            oh->value = sl_arena_strndup(a, json_string_value(v), json_string_length(v));
            oh->value_len = (uint32_t)json_string_length(v);
        } else if (v && !json_is_null(v)) {
            sl_buf_reset(&x->buf);
            sl_json_put(&x->buf, v);
            oh->is_json = true;
        }
    } else {
        sl_val *h = r->vheaders->e[i];
        sl_val *v = sl_v_get(r->heap, h, "value");
        k = sl_v_strval(r->heap, sl_v_get(r->heap, h, "key"), &kn);
        sl_vkind kind = sl_v_kind(r->heap, v);
        if (kind == SL_V_STR) {
            oh->value = sl_arena_strndup(a, v->s, v->n);
            oh->value_len = v->n;
        } else if (kind != SL_V_NULL) {
            sl_buf_reset(&x->buf);
            sl_v_put_json(&x->buf, v);
            oh->is_json = true;
        }
    }
    oh->key = sl_arena_strndup(a, k ? k : "", k ? kn : 0);
    if (oh->is_json) {
        oh->value = sl_arena_strndup(a, x->buf.data, x->buf.len);
        oh->value_len = (uint32_t)x->buf.len;
    }
}

/* Stores the transformed record r as a pre-encoded record in b's arena. */
static void store(sl_xchain *x, const sl_dbz_opts *o, sl_batch *b, sl_record *out, sl_xrec *r) {
    sl_arena *a = &b->arena;
    *out = *r->src;
    out->table = NULL;
    out->before = out->after = NULL;
    sl_raw *raw = sl_arena_alloc(a, sizeof *raw);
    memset(raw, 0, sizeof *raw);
    raw->topic = sl_arena_strndup(a, r->topic, strlen(r->topic));
    raw->partition = r->kafka_partition;
    raw->offset = r->kafka_offset;
    raw->ts_ms = r->ts_ms;
    raw->pinned = r->partition >= 0;
    raw->to_partition = r->partition;
    raw->key = emit(x, a, r, true, o->key_schemas, &raw->key_len);
    raw->value = emit(x, a, r, false, o->value_schemas, &raw->value_len);
    out->raw = raw;
    size_t nh = r->json_form ? json_array_size(r->headers) : r->vheaders->n;
    out->nheaders = (int)nh;
    out->headers = nh ? sl_arena_alloc(a, nh * sizeof *out->headers) : NULL;
    for (size_t i = 0; i < nh; i++) emit_header(x, a, r, i, &out->headers[i]);
}

int sl_xchain_apply(sl_xchain *x, const sl_dbz_opts *o, bool tombstones, sl_batch *b, sl_xfail_fn fail, void *arg,
                    char *errstr, size_t errsz) {
    if (!x || b->n == 0) return 0;
    /* Output can be up to twice the input (a delete and its tombstone). */
    sl_record *outv = sl_calloc((size_t)b->n * 2, sizeof *outv);
    int nout = 0, covered = -1, dropped = 0;
    for (int i = 0; i < b->n; i++) {
        if (b->offset && i == b->offset_n) covered = nout;
        const sl_record *rec = &b->recs[i];
        bool tomb = tombstones && !rec->raw && rec->op == SL_OP_DELETE && rec->table; /* keyed or not, as Debezium */
        for (int k = 0; k < (tomb ? 2 : 1); k++) {
            sl_xrec r;
            int rc = SL_X_ERROR;
            char why[1024], err[128];
            sl_vheap_reset(&x->heap);
            if (from_record(&x->cache, &x->heap, &x->buf, &r, o, rec, k == 1, err, sizeof err) < 0) {
                snprintf(why, sizeof why, "the record's JSON could not be read back (%s)", err);
            } else {
                r.cache = &x->cache;
                memo_settle(&x->cache); /* no derived schema is in use between records */
                rc = run_steps(x, &r, why, sizeof why);
            }
            if (rc == SL_X_KEEP) store(x, o, b, &outv[nout++], &r);
            else if (rc == SL_X_DROP) dropped++;
            sl_xrec_clear(&r);
            if (rc == SL_X_ERROR && (!fail || fail(arg, rec, why, errstr, errsz) < 0)) {
                if (!fail) snprintf(errstr, errsz, "%s", why);
                sl_free(outv);
                return -1;
            }
            if (rc == SL_X_ERROR) break; /* skipped: its tombstone goes with it */
        }
    }
    if (b->offset && covered < 0) covered = nout;
    sl_free(b->recs);
    b->recs = outv;
    b->cap = b->n * 2;
    b->n = nout;
    if (b->offset) b->offset_n = covered;
    return dropped;
}

/* ---- docs ---- */

void sl_xform_doc(FILE *out) {
    fprintf(out, "## Option reference\n\nGenerated from the property tables (`sluice config-docs transforms`). "
                 "Every transform also takes `transforms.<name>.predicate` and `transforms.<name>.negate`.\n\n");
    for (int g = 0; xform_groups[g]; g++)
        for (int i = 0; xform_groups[g][i]; i++) {
            const sl_xform_ops *t = xform_groups[g][i];
            char title[256], intro[2048];
            snprintf(title, sizeof title, "Transform `%s`", t->name);
            snprintf(intro, sizeof intro, "%s%s%s%s", t->doc, t->aliases ? " Type names: `" : "",
                     t->aliases ? t->aliases : "", t->aliases ? "`." : "");
            for (char *p = intro; *p; p++)
                if (*p == '|') *p = ',';
            if (t->props[0].name) sl_conf_doc(out, title, intro, t->props);
            else fprintf(out, "## %s\n\n%s No options.\n\n", title, intro);
        }
    for (int g = 0; pred_groups[g]; g++)
        for (int i = 0; pred_groups[g][i]; i++) {
            const sl_xpred_ops *t = pred_groups[g][i];
            char title[256], intro[2048];
            snprintf(title, sizeof title, "Predicate `%s`", t->name);
            snprintf(intro, sizeof intro, "%s%s%s%s", t->doc, t->aliases ? " Type names: `" : "",
                     t->aliases ? t->aliases : "", t->aliases ? "`." : "");
            for (char *p = intro; *p; p++)
                if (*p == '|') *p = ',';
            if (t->props[0].name) sl_conf_doc(out, title, intro, t->props);
            else fprintf(out, "## %s\n\n%s No options.\n\n", title, intro);
        }
}
