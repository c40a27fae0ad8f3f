/* Table schemas (refcounted) and batches (arena + record array). */
#include "core/record.h"
#include "util/buf.h"
#include "util/mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

sl_table *sl_table_new(const char *db, const char *schema, const char *name, int ncols) {
    sl_table *t = sl_calloc(1, sizeof *t);
    t->refcnt = 1;
    t->db = sl_strdup(db ? db : "");
    t->schema = sl_strdup(schema ? schema : "");
    t->name = sl_strdup(name ? name : "");
    t->ncols = ncols;
    t->cols = sl_calloc(ncols > 0 ? (size_t)ncols : 1, sizeof *t->cols);
    return t;
}

sl_table *sl_table_ref(sl_table *t) {
    if (t) atomic_fetch_add_explicit((_Atomic int *)&t->refcnt, 1, memory_order_relaxed);
    return t;
}

void sl_table_unref(sl_table *t) {
    if (!t || atomic_fetch_sub_explicit((_Atomic int *)&t->refcnt, 1, memory_order_acq_rel) != 1) return;
    for (int i = 0; i < t->ncols; i++) {
        sl_free(t->cols[i].name);
        sl_free(t->cols[i].type_name);
        sl_free(t->cols[i].enum_values);
        sl_free(t->cols[i].default_value);
    }
    sl_free(t->cols);
    sl_free(t->db), sl_free(t->schema), sl_free(t->name), sl_free(t->topic);
    sl_free(t->enc_key_schema), sl_free(t->enc_value_schema);
    sl_free(t);
}

sl_batch *sl_batch_new(void) {
    sl_batch *b = sl_calloc(1, sizeof *b);
    sl_arena_init(&b->arena);
    return b;
}

sl_record *sl_batch_add(sl_batch *b, sl_table *t) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16; /* small: the queue counts a batch by what it holds */
        b->recs = sl_realloc(b->recs, (size_t)b->cap * sizeof *b->recs);
    }
    if (t && (b->ntables == 0 || b->tables[b->ntables - 1] != t)) {
        int found = 0;
        for (int i = 0; i < b->ntables && !found; i++) found = b->tables[i] == t;
        if (!found) {
            if (b->ntables == b->tcap) {
                b->tcap = b->tcap ? b->tcap * 2 : 8;
                b->tables = sl_realloc(b->tables, (size_t)b->tcap * sizeof *b->tables);
            }
            b->tables[b->ntables++] = sl_table_ref(t);
        }
    }
    sl_record *r = &b->recs[b->n++];
    memset(r, 0, sizeof *r);
    r->table = t;
    return r;
}

size_t sl_batch_bytes(const sl_batch *b) {
    /* What the batch really holds (arena chunks, not just the bytes used in them). */
    return b->arena.reserved + (size_t)b->cap * sizeof *b->recs + (size_t)b->tcap * sizeof *b->tables + sizeof *b;
}

void sl_batch_set_offset(sl_batch *b, const char *offset_json, uint64_t seq) {
    b->offset = offset_json ? sl_arena_strndup(&b->arena, offset_json, strlen(offset_json)) : NULL;
    b->offset_seq = seq;
    b->offset_n = b->n;
}

void sl_batch_destroy(sl_batch *b) {
    if (!b) return;
    for (int i = 0; i < b->ntables; i++) sl_table_unref(b->tables[i]);
    sl_free(b->tables);
    sl_free(b->recs);
    sl_arena_free(&b->arena);
    sl_free(b);
}

const char *sl_ctype_name(sl_ctype t) {
    static const char *names[] = {"unknown", "bool", "int16", "int32", "int64", "float32", "float64",
                                  "numeric", "money", "string", "bytes", "date", "time", "timetz",
                                  "timestamp", "timestamptz", "interval", "uuid", "json", "xml",
                                  "enum", "bit", "array", "year", "set", "geometry"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

bool sl_cells_key_changed(const sl_table *t, const sl_cell *a, const sl_cell *b) {
    for (int i = 0; i < t->ncols; i++) {
        if (!t->cols[i].key || ((a[i].flags | b[i].flags) & SL_CELL_UNCHANGED)) continue;
        if ((a[i].flags & SL_CELL_NULL) != (b[i].flags & SL_CELL_NULL)) return true;
        if (a[i].len != b[i].len || (a[i].len && memcmp(a[i].data, b[i].data, a[i].len) != 0)) return true;
    }
    return false;
}

static int check_row(const sl_table *t, const sl_cell *row, const char *which, char *errstr, size_t errsz) {
    for (int i = 0; row && i < t->ncols; i++) {
        const sl_cell *c = &row[i];
        if (c->flags || t->cols[i].repr != SL_REPR_TEXT) continue;
        long bad = sl_utf8_invalid_at(c->data, c->len);
        if (bad >= 0) {
            snprintf(errstr, errsz, "column %s (%s value): not UTF-8 text (bad byte 0x%02x at offset %ld of %u)",
                     t->cols[i].name, which, (unsigned char)c->data[bad], bad, c->len);
            return -1;
        }
    }
    return 0;
}

int sl_record_check(const sl_record *r, char *errstr, size_t errsz) {
    if (r->raw) return 0;
    if (r->table && (check_row(r->table, r->before, "before", errstr, errsz) < 0 ||
                     check_row(r->table, r->after, "after", errstr, errsz) < 0))
        return -1;
    if (r->msg_prefix && sl_utf8_invalid_at(r->msg_prefix, strlen(r->msg_prefix)) >= 0) {
        snprintf(errstr, errsz, "message prefix: not UTF-8 text");
        return -1;
    }
    if (r->schema_change && r->schema_change->ddl &&
        sl_utf8_invalid_at(r->schema_change->ddl, strlen(r->schema_change->ddl)) >= 0) {
        snprintf(errstr, errsz, "DDL statement: not UTF-8 text");
        return -1;
    }
    return 0;
}

void sl_batch_remove(sl_batch *b, int i) {
    memmove(&b->recs[i], &b->recs[i + 1], (size_t)(b->n - i - 1) * sizeof *b->recs);
    b->n--;
    if (b->offset && i < b->offset_n) b->offset_n--;
}

void sl_column_set_default(sl_column *c, const char *v, size_t n) {
    sl_free(c->default_value);
    c->default_value = v ? sl_strndup(v, n) : NULL;
    c->default_len = v ? (uint32_t)n : 0;
}

size_t sl_record_order(const sl_record *r, char *out, size_t outsz) {
    int n = 0;
    const sl_pos *p = &r->pos;
    bool snap = r->snapshot != SL_SNAP_NONE;
    if (r->raw && r->raw->partition >= 0 && r->raw->offset >= 0) {
        n = snprintf(out, outsz, "K%s/%08X|%016llX", r->raw->topic ? r->raw->topic : "", (unsigned)r->raw->partition,
                     (unsigned long long)r->raw->offset);
    } else if (p->resume_token && *p->resume_token) {
        n = snprintf(out, outsz, "T%s", p->resume_token);
    } else if (p->file && *p->file) {
        const char *dot = strrchr(p->file, '.');
        unsigned long long seq = dot ? strtoull(dot + 1, NULL, 10) : 0;
        /* a snapshot row carries the snapshot's binlog position and no event: it sorts before the
         * transactions that start there */
        n = snprintf(out, outsz, "M%08llX%016llX%016llX%08X%08llX", seq, (unsigned long long)p->file_pos,
                     snap ? 0ull : (unsigned long long)(p->event_pos ? p->event_pos : p->file_pos) + 1,
                     snap ? 0u : p->row, snap ? 0ull : (unsigned long long)r->tx_order);
    } else if (p->lsn || p->commit_lsn) {
        /* a snapshot row is read at its LSN (the slot's consistent point or a watermark's): a transaction
         * committing at or after it comes later, whatever its changes' own LSNs */
        uint64_t major = snap ? p->lsn : p->final_lsn ? p->final_lsn : p->commit_lsn ? p->commit_lsn : p->lsn;
        n = snprintf(out, outsz, "P%016llX%c%016llX%08llX", (unsigned long long)major, snap ? '0' : '1',
                     (unsigned long long)(snap ? 0 : p->lsn), snap ? 0ull : (unsigned long long)r->tx_order);
    } else if (outsz) {
        out[0] = 0;
    }
    return n > 0 && (size_t)n < outsz ? (size_t)n : 0;
}
