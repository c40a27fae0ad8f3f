/* sluice verify's side tables (see vside.h). */
#include "core/vside.h"
#include "core/record.h"
#include "util/mem.h"
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
