/*
 * The record view of a data change (see sl_dbz_view in dbz_json.h): the
 * envelope as a value tree whose rows, cells, source and transaction blocks
 * are lazy. Each lazy part writes itself with the encoder's own writer
 * (dbz_put_row, sl_dbz_cell_value, dbz_put_source, dbz_put_tx_block), so a
 * part no transform touched comes out byte for byte as it would without a
 * transform, and is built into values (a row into an object of lazy cells,
 * a cell or block by reading back its own text) only when read.
 */
#include "format/dbz_int.h"
#include "util/mem.h"

/* Lazy state: p[0] options, then per kind (flags: ROW_KEYS for a key struct). */
enum { ROW_KEYS = 1 };

/* A cell: p[1] column, p[2] cell. Built by reading back its text (a number, string, struct, ...). */
static void cell_json(const sl_val *v, sl_buf *out) { sl_dbz_cell_value(v->z.p[0], v->z.p[1], v->z.p[2], out); }
static const sl_vlazy_ops cell_ops = {SL_V_LAZY, cell_json, NULL};

/* The cell a row writes for column i: an unchanged TOAST value takes the old row's when usable (dbz_put_row). */
static const sl_cell *row_cell(const sl_dbz_opts *o, const sl_cell *cells, const sl_cell *old, int i) {
    const sl_cell *v = &cells[i];
    bool old_usable = old && !dbz_is_binlog(o) && !(old[i].flags & (SL_CELL_NULL | SL_CELL_UNCHANGED)) && old[i].data;
    return (v->flags & SL_CELL_UNCHANGED) && old_usable ? &old[i] : v;
}

/* A row: p[1] table, p[2] cells, p[3] old cells (or NULL). */
static void row_json(const sl_val *v, sl_buf *out) {
    dbz_put_row(v->z.p[0], v->z.p[1], v->z.p[2], v->z.p[3], v->z.flags & ROW_KEYS, out);
}

static void row_force(sl_val *v, sl_vheap *h) {
    const sl_dbz_opts *o = v->z.p[0];
    const sl_table *t = v->z.p[1];
    const sl_cell *cells = v->z.p[2], *old = v->z.p[3];
    bool keys = v->z.flags & ROW_KEYS;
    sl_val *obj = sl_v_obj(h, (uint32_t)t->ncols);
    for (int i = 0; i < t->ncols; i++) {
        const sl_column *c = &t->cols[i];
        if ((keys && !c->key) || dbz_column_omitted(c)) continue;
        sl_val *cv = sl_v_lazy(h, &cell_ops, o, c, row_cell(o, cells, old, i), NULL, 0);
        obj->m[obj->n++] = (sl_vmember){c->name, (uint32_t)strlen(c->name), cv};
    }
    bool frozen = v->frozen;
    *v = *obj;
    v->frozen = frozen;
}
static const sl_vlazy_ops row_ops = {SL_V_OBJ, row_json, row_force};

/* The source block and the transaction block: p[1] record. */
static void source_json(const sl_val *v, sl_buf *out) { dbz_put_source(v->z.p[0], v->z.p[1], out); }
static void source_force(sl_val *v, sl_vheap *h) {
    sl_val *obj = sl_v_obj(h, 20);
    dbz_fields f;
    dbz_fields_val(&f, h, obj);
    dbz_source_fields(v->z.p[0], v->z.p[1], &f);
    bool frozen = v->frozen;
    *v = *obj;
    v->frozen = frozen;
}
/* One field of the source block (add.fields=source.ts_ms reads one of its 17): built alone. */
static sl_val *source_get(sl_val *v, sl_vheap *h, const char *name) {
    dbz_fields f;
    dbz_fields_one(&f, h, name);
    dbz_source_fields(v->z.p[0], v->z.p[1], &f);
    return f.found;
}
static const sl_vlazy_ops source_ops = {SL_V_OBJ, source_json, source_force, source_get};
static void tx_json(const sl_val *v, sl_buf *out) { dbz_put_tx_block(v->z.p[0], v->z.p[1], out); }
static const sl_vlazy_ops tx_ops = {SL_V_LAZY, tx_json, NULL};

static void member(sl_val *obj, const char *name, sl_val *v) {
    obj->m[obj->n++] = (sl_vmember){name, (uint32_t)strlen(name), v};
}

bool sl_dbz_view(const sl_dbz_opts *o, const sl_record *r, sl_vheap *h, sl_val **key, sl_val **value) {
    const sl_table *t = r->table;
    if (r->raw || !t ||
        !(r->op == SL_OP_CREATE || r->op == SL_OP_UPDATE || r->op == SL_OP_DELETE || r->op == SL_OP_READ))
        return false;
    sl_dbz_opts tmp;
    const sl_dbz_opts *ro = dbz_record_opts(o, r, &tmp);
    if (ro == &tmp) ro = sl_arena_memdup(&h->arena, &tmp, sizeof tmp); /* the lazy parts keep it */
    const sl_cell *kcells = r->after ? r->after : r->before;
    *key = t->nkeys && kcells ? sl_v_lazy(h, &row_ops, ro, t, kcells, NULL, ROW_KEYS) : NULL;
    if (!value) return true;
    bool has_before = (r->op == SL_OP_UPDATE || r->op == SL_OP_DELETE) && r->before;
    bool has_after = (r->op == SL_OP_CREATE || r->op == SL_OP_READ || r->op == SL_OP_UPDATE) && r->after;
    sl_val *env = sl_v_obj(h, 8);
    member(env, "before", has_before ? sl_v_lazy(h, &row_ops, ro, t, r->before, NULL, 0) : sl_v_null(h));
    member(env, "after", has_after ? sl_v_lazy(h, &row_ops, ro, t, r->after, r->op == SL_OP_UPDATE ? r->before : NULL, 0)
                                   : sl_v_null(h));
    member(env, "source", sl_v_lazy(h, &source_ops, ro, r, NULL, NULL, 0));
    member(env, "transaction", sl_v_lazy(h, &tx_ops, ro, r, NULL, NULL, 0));
    char op[2] = {(char)r->op, 0};
    member(env, "op", sl_v_strn(h, op, 1));
    int64_t now = dbz_now_us();
    member(env, "ts_ms", sl_v_int(h, sl_floor_div(now, 1000)));
    member(env, "ts_us", sl_v_int(h, now));
    member(env, "ts_ns", sl_v_int(h, now * 1000));
    *value = env;
    return true;
}
