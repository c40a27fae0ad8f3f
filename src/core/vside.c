/* sluice verify's side tables (see vside.h). */
#include "core/vside.h"
#include "core/record.h"
#include "util/mem.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char sl_vmissing[] = "";

void sl_vtable_clear(sl_vtable *t) {
    sl_free(t->cols);
    sl_free(t->src_col);
    memset(t, 0, sizeof *t);
}

void sl_vtable_copy(sl_vtable *dst, const sl_vtable *t) {
    *dst = *t;
    dst->cols = sl_calloc((size_t)t->ncols + 1, sizeof *dst->cols);
    dst->src_col = sl_calloc((size_t)t->ncols + 1, sizeof *dst->src_col);
    for (int i = 0; i < t->ncols; i++) {
        dst->cols[i] = t->cols[i];
        dst->src_col[i] = t->src_col ? t->src_col[i] : i;
    }
}

int sl_vtable_col(const sl_vtable *t, const char *name) {
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return i;
    return -1;
}

void sl_vtable_drop(sl_vtable *t, int i) {
    memmove(&t->cols[i], &t->cols[i + 1], (size_t)(t->ncols - i - 1) * sizeof *t->cols);
    if (t->src_col) memmove(&t->src_col[i], &t->src_col[i + 1], (size_t)(t->ncols - i - 1) * sizeof *t->src_col);
    t->ncols--;
    if (i < t->nkeys) t->nkeys--;
}

sl_ckind sl_ckind_of(const sl_column *c, int *scale, bool *single) {
    *scale = -1;
    *single = false;
    switch (c->type) {
    case SL_T_BOOL: return SL_CK_BOOL;
    case SL_T_BIT: return c->length == 1 ? SL_CK_BOOL : SL_CK_BITS; /* bit(1) is a Connect boolean */
    case SL_T_ARRAY: return SL_CK_ARRAY;
    case SL_T_MONEY: *scale = 2; return SL_CK_DEC;
    case SL_T_TIMETZ: return SL_CK_TIMETZ;
    case SL_T_INTERVAL: return SL_CK_INTERVAL;
    case SL_T_INT16:
    case SL_T_INT32:
    case SL_T_INT64:
    case SL_T_YEAR: return SL_CK_INT;
    case SL_T_FLOAT32: *single = true; return SL_CK_FLOAT;
    case SL_T_FLOAT64: return SL_CK_FLOAT;
    case SL_T_NUMERIC: *scale = c->scale; return SL_CK_DEC;
    case SL_T_BYTES: return SL_CK_BYTES;
    case SL_T_DATE: return SL_CK_DATE;
    case SL_T_TIME: *scale = c->scale; return SL_CK_TIME;
    case SL_T_TIMESTAMP: *scale = c->scale; return SL_CK_TS;
    case SL_T_TIMESTAMPTZ: *scale = c->scale; return SL_CK_TSTZ;
    case SL_T_UUID: return SL_CK_UUID;
    case SL_T_JSON: return SL_CK_JSON;
    case SL_T_GEOMETRY: return c->type_name && !strcasecmp(c->type_name, "point") ? SL_CK_POINT : SL_CK_GEOMETRY;
    default: return c->type_name && !strcmp(c->type_name, "hstore") ? SL_CK_HSTORE : SL_CK_TEXT;
    }
}

int sl_vtable_of(const sl_table *t, sl_vtable *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->schema, sizeof out->schema, "%s", t->schema && *t->schema ? t->schema : t->db ? t->db : "");
    snprintf(out->db, sizeof out->db, "%s", t->db ? t->db : "");
    snprintf(out->table, sizeof out->table, "%s", t->name);
    snprintf(out->topic, sizeof out->topic, "%s", t->topic ? t->topic : "");
    out->cols = sl_calloc((size_t)t->ncols + 1, sizeof *out->cols);
    for (int pass = 0; pass < 2; pass++) /* key columns first */
        for (int i = 0; i < t->ncols; i++) {
            const sl_column *c = &t->cols[i];
            if (c->key != (pass == 0)) continue;
            sl_vcol *v = &out->cols[out->ncols++];
            snprintf(v->name, sizeof v->name, "%s", c->name);
            v->kind = sl_ckind_of(c, &v->scale, &v->single);
            v->hex = v->kind == SL_CK_BYTES;
            out->nkeys += c->key;
        }
    return 0;
}

bool sl_mkey_from_sql(sl_ckind k, const char *v, size_t n, sl_buf *out) {
    if (!v) return sl_buf_putc(out, 'z'), true;
    if ((k == SL_CK_TEXT || k == SL_CK_UUID) && !(n && v[0] == '{' && sl_mkey_from_sql(SL_CK_JSON, v, n, out))) {
        sl_buf_putc(out, 's'); /* a string (a text column holding a key document's JSON: as JSON) */
        sl_buf_put(out, v, n);
        return true;
    }
    if (k == SL_CK_TEXT || k == SL_CK_UUID) return true;
    if (k == SL_CK_INT || k == SL_CK_DEC || k == SL_CK_FLOAT) {
        sl_buf_putc(out, 'n');
        sl_buf_put(out, v, n);
        return true;
    }
    if (k == SL_CK_BOOL) return sl_buf_puts(out, n && (v[0] == 't' || v[0] == '1') ? "b1" : "b0"), true;
    json_t *j = json_loadb(v, n, JSON_DECODE_ANY, NULL);
    if (!j) return false;
    bool ok = true;
    const char *key = json_is_object(j) && json_object_size(j) == 1 ? json_object_iter_key(json_object_iter(j)) : NULL;
    json_t *w = key ? json_object_iter_value(json_object_iter(j)) : NULL;
    json_t *nl = json_is_object(w) ? json_object_get(w, "$numberLong") : NULL;
    if (json_is_null(j)) sl_buf_putc(out, 'z');
    else if (json_is_boolean(j)) sl_buf_puts(out, json_is_true(j) ? "b1" : "b0");
    else if (json_is_integer(j)) sl_buf_printf(out, "n%" JSON_INTEGER_FORMAT, json_integer_value(j));
    else if (json_is_real(j)) sl_buf_printf(out, "n%.17g", json_real_value(j));
    else if (json_is_string(j)) sl_buf_putc(out, 's'), sl_buf_put(out, json_string_value(j), json_string_length(j));
    else if (key && !strcmp(key, "$oid") && json_is_string(w)) sl_buf_printf(out, "o%s", json_string_value(w));
    else if (key && !strcmp(key, "$date") && json_is_integer(w)) sl_buf_printf(out, "d%" JSON_INTEGER_FORMAT, json_integer_value(w));
    else if (key && !strcmp(key, "$date") && json_is_string(nl)) sl_buf_printf(out, "d%s", json_string_value(nl));
    else if (key && !strncmp(key, "$number", 7) && json_is_string(w)) sl_buf_printf(out, "n%s", json_string_value(w));
    else ok = false;
    json_decref(j);
    return ok;
}

bool sl_mkey_to_sql(sl_ckind k, const char *t, size_t n, sl_buf *out) {
    if (!n) return false;
    const char *v = t + 1;
    size_t vn = n - 1;
    if ((k == SL_CK_TEXT || k == SL_CK_UUID) && t[0] == 's') return sl_buf_put(out, v, vn), true;
    if (k == SL_CK_INT || k == SL_CK_DEC || k == SL_CK_FLOAT) return t[0] == 'n' && (sl_buf_put(out, v, vn), true);
    if (k == SL_CK_BOOL) return t[0] == 'b' && (sl_buf_puts(out, vn && v[0] == '1' ? "true" : "false"), true);
    switch (t[0]) { /* extended JSON, as mongo-kafka's DefaultJson writes it (also into a text column) */
    case 'z': sl_buf_puts(out, "null"); return true;
    case 'b': sl_buf_puts(out, vn && v[0] == '1' ? "true" : "false"); return true;
    case 'n': sl_buf_put(out, v, vn); return true;
    case 's': sl_buf_put_json_str(out, v, vn); return true;
    case 'o': sl_buf_puts(out, "{\"$oid\": "), sl_buf_put_json_str(out, v, vn), sl_buf_putc(out, '}'); return true;
    case 'd': sl_buf_puts(out, "{\"$date\": "), sl_buf_put(out, v, vn), sl_buf_putc(out, '}'); return true;
    default: return false;
    }
}
