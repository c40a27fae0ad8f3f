/* sluice verify: the merge of two key-ordered sides, rechecks, and the report (see verify.h). */
#include "verify/verify.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "verify/vnorm.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECHECK_MAX 100000 /* differing keys kept per table for rechecks */
#define RECHECK_CHUNK 500  /* keys per read of a recheck */

/* Key tuples (text), in key order: the keys of one table that differed. */
typedef struct keyset {
    sl_buf text;
    size_t *at; /* n * nkeys + 1 offsets */
    size_t n, cap;
    int nkeys;
    bool overflow; /* more than RECHECK_MAX */
} keyset;

typedef struct tstats {
    char source[300], target[300];
    long long source_rows, target_rows, missing, extra, differing;
    long long by_hash;    /* rows of key ranges whose hashes matched on both sides (levels) */
    long long fields;     /* field differences (of the differing rows) */
    long long first_pass; /* differences of the full pass */
    sl_buf missing_cols;  /* JSON array items */
    long long nmissing_cols;
    char error[512];      /* the table could not be compared */
    bool absent;          /* the target has no such table */
    sl_buf diffs;         /* its listed differences (text lines or JSON items) */
    long listed;
} tstats;

typedef struct job {
    sl_vtable *st;   /* the source table (borrowed) */
    sl_vtable ss;    /* what is read of it: the columns that reach the target, keys first in the order the target
                      * holds them (cols[].required: a row with a null there reaches no document) */
    sl_vtable tt;    /* its target */
    sl_vtable scan;  /* the target's readable columns (src_col: into st; -1 the deleted marker) */
    int deleted_at;  /* the scan column that marks the rows of deleted keys ("true"), -1: none */
    tstats ts;
    keyset keys;
} job;

typedef struct run {
    const sl_verify_opts *o;
    FILE *out;
    long listed;    /* over all tables */
    int64_t rows;   /* rows merged (--rate) */
    int64_t t0;     /* when the run started (ms) */
    int64_t shown;  /* when the progress line was written last (ms) */
    int table, ntables;
    bool final;     /* the last read of the keys that differ: each row to o->on_diff */
} run;

/* The progress line: the table, the rows merged so far and their rate (a terminal only; done: cleared). */
static void progress(run *r, const tstats *ts, bool done) {
    FILE *p = r->o->progress;
    if (!p) return;
    int64_t now = sl_mono_ms();
    if (!done && now - r->shown < 250) return;
    r->shown = now;
    if (done) {
        fprintf(p, "\r\033[K");
    } else {
        double secs = (double)(now - r->t0) / 1000.0;
        fprintf(p, "\r\033[Ktable %d/%d %s: %lld rows; %lld rows in all, %.0f rows/s, %lld differences", r->table,
                r->ntables, ts->source, ts->source_rows, (long long)r->rows, secs > 0 ? (double)r->rows / secs : 0.0,
                ts->missing + ts->extra + ts->fields);
    }
    fflush(p);
}

static void keyset_clear(keyset *k) {
    sl_buf_free(&k->text);
    sl_free(k->at);
    memset(k, 0, sizeof *k);
}

static void keyset_add(keyset *k, const char *const *vals, const size_t *lens, int nkeys) {
    if (k->n >= RECHECK_MAX) {
        k->overflow = true;
        return;
    }
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->at = sl_realloc(k->at, (k->cap * (size_t)nkeys + 1) * sizeof *k->at);
    }
    k->nkeys = nkeys;
    for (int i = 0; i < nkeys; i++) {
        k->at[k->n * (size_t)nkeys + (size_t)i] = k->text.len;
        sl_buf_put(&k->text, vals[i] ? vals[i] : "", lens[i]);
    }
    k->n++;
    k->at[k->n * (size_t)nkeys] = k->text.len;
}

/* A copy of a row's key values, to check that each side's keys come in strictly increasing order. */
typedef struct keycopy {
    sl_buf text;
    size_t at[65];
    bool any;
} keycopy;

static void key_keep(keycopy *k, const char *const *vals, const size_t *lens, int nkeys) {
    sl_buf_reset(&k->text);
    for (int i = 0; i < nkeys && i < 64; i++) {
        k->at[i] = k->text.len;
        sl_buf_put(&k->text, vals[i] ? vals[i] : "", lens[i]);
    }
    k->at[nkeys < 64 ? nkeys : 64] = k->text.len;
    k->any = true;
}

/* Key order of row a (columns ca) against row b (columns cb), over nkeys columns. */
static int key_cmp(const sl_vcol *ca, const char *const *a, const size_t *al, const sl_vcol *cb, const char *const *b,
                   const size_t *bl, int nkeys) {
    for (int i = 0; i < nkeys; i++) {
        int c = sl_vnorm_cmp(&ca[i], a[i], al[i], &cb[i], b[i], bl[i]);
        if (c) return c;
    }
    return 0;
}

/* True when the row's key comes after the kept one. */
static bool key_after(const keycopy *k, const sl_vcol *cols, const char *const *vals, const size_t *lens, int nkeys) {
    if (!k->any) return true;
    const char *kv[64];
    size_t kl[64];
    const char *base = k->text.data ? k->text.data : "";
    for (int i = 0; i < nkeys && i < 64; i++) kv[i] = base + k->at[i], kl[i] = k->at[i + 1] - k->at[i];
    return key_cmp(cols, vals, lens, cols, kv, kl, nkeys < 64 ? nkeys : 64) > 0;
}

/* A value in the report: text as it is, bytes that are not UTF-8 as \x and their hex (as PostgreSQL writes bytea). */
static void put_text(sl_buf *b, const char *v, size_t n, bool json) {
    if (!v) return sl_buf_puts(b, json ? "null" : "NULL");
    if (sl_utf8_invalid_at(v, n) >= 0) {
        static const char hexd[] = "0123456789abcdef";
        sl_buf_puts(b, json ? "\"\\\\x" : "\\x");
        for (size_t i = 0; i < n && i < 512; i++) {
            sl_buf_putc(b, hexd[(unsigned char)v[i] >> 4]);
            sl_buf_putc(b, hexd[(unsigned char)v[i] & 15]);
        }
        if (json) sl_buf_putc(b, '"');
        return;
    }
    if (json) return sl_buf_put_json_str(b, v, n);
    sl_buf_putc(b, '\'');
    sl_buf_put(b, v, n > 200 ? 200 : n);
    if (n > 200) sl_buf_puts(b, "...");
    sl_buf_putc(b, '\'');
}

static void put_key(sl_buf *b, const sl_vtable *t, const char *const *vals, const size_t *lens, bool json) {
    if (json) sl_buf_putc(b, '{');
    for (int i = 0; i < t->nkeys; i++) {
        if (i) sl_buf_puts(b, json ? "," : " ");
        if (json) {
            sl_buf_put_json_str(b, t->cols[i].name, strlen(t->cols[i].name));
            sl_buf_putc(b, ':');
        } else {
            sl_buf_printf(b, "%s=", t->cols[i].name);
        }
        put_text(b, vals[i], lens[i], json);
    }
    if (json) sl_buf_putc(b, '}');
}


enum { MISSING, EXTRA, DIFFERS };
static const char *const kind_json[] = {"missing_in_target", "extra_in_target", "field_differs"};
static const char *const kind_text[] = {"missing in target", "extra in target", "differs"};

/* One difference, listed while the report has room. */
static void report(run *r, tstats *ts, int kind, const sl_vtable *keyt, const char *const *kv, const size_t *kl,
                   const char *field, const char *sv, size_t sn, const char *tv, size_t tn) {
    if (r->listed >= r->o->max_listed) return;
    r->listed++;
    ts->listed++;
    sl_buf *b = &ts->diffs;
    bool json = r->o->json;
    if (json) {
        sl_buf_puts(b, ",\n    {\"table\":");
        sl_buf_put_json_str(b, ts->source, strlen(ts->source));
        sl_buf_printf(b, ",\"kind\":\"%s\",\"key\":", kind_json[kind]);
        put_key(b, keyt, kv, kl, true);
        if (field) {
            sl_buf_puts(b, ",\"field\":");
            sl_buf_put_json_str(b, field, strlen(field));
            sl_buf_puts(b, ",\"source\":");
            put_text(b, sv, sn, true);
            sl_buf_puts(b, ",\"target\":");
            put_text(b, tv, tn, true);
        }
        sl_buf_putc(b, '}');
    } else {
        sl_buf_printf(b, "  %-18s %s  ", kind_text[kind], ts->source);
        put_key(b, keyt, kv, kl, false);
        if (field) {
            sl_buf_printf(b, "  %s: source ", field);
            put_text(b, sv, sn, false);
            sl_buf_puts(b, ", target ");
            put_text(b, tv, tn, false);
        }
        sl_buf_putc(b, '\n');
    }
}

/* The table's target and the columns both sides are read with. 0, or -1 with errstr (the run stops). */
static int prepare(sl_vside *dst, const sl_vmap *map, job *j, char *errstr, size_t errsz) {
    const sl_vtable *st = j->st;
    tstats *ts = &j->ts;
    j->deleted_at = -1;
    snprintf(ts->source, sizeof ts->source, "%s%s%s", st->schema, *st->schema ? "." : "", st->table);
    if (st->nkeys == 0) {
        snprintf(ts->error, sizeof ts->error, "the table has no primary key (or message.key.columns): its rows "
                                              "cannot be matched");
        return 0;
    }
    /* the table as its rows reach the sink (the transforms' renames, drops, topic), with the deleted marker as a
     * column of its own */
    sl_vtable mt;
    sl_vtable_copy(&mt, st);
    if (map && map->fn && map->fn(map->arg, &mt, errstr, errsz) < 0) {
        sl_vtable_clear(&mt);
        return -1;
    }
    if (mt.deleted[0]) {
        sl_vcol *c = &mt.cols[mt.ncols];
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s", mt.deleted);
        c->kind = SL_CK_TEXT;
        c->scale = -1;
        mt.src_col[mt.ncols++] = -1;
    }
    /* the source is read as mapped: the columns that reach the target, in the mapping's order (its keys first) */
    j->ss = *st;
    j->ss.cols = sl_calloc((size_t)mt.ncols + 1, sizeof *j->ss.cols);
    j->ss.src_col = NULL;
    j->ss.ncols = 0;
    j->ss.nkeys = mt.nkeys;
    for (int c = 0; c < mt.ncols; c++) {
        if (mt.src_col[c] < 0) break; /* the deleted marker, last */
        j->ss.cols[j->ss.ncols] = st->cols[mt.src_col[c]];
        j->ss.cols[j->ss.ncols].parent = mt.cols[c].parent; /* the parent document's key (on_diff's callers) */
        j->ss.cols[j->ss.ncols++].required = mt.cols[c].required;
    }
    int rc = dst->ops->target(dst, &mt, &j->tt, errstr, errsz);
    for (int c = 0; rc == 0 && c < j->tt.ncols; c++) /* into ss (the same index as mt's; the marker: -1) */
        if (j->tt.src_col[c] >= j->ss.ncols) j->tt.src_col[c] = -1;
    sl_vtable_clear(&mt);
    if (rc < 0) return -1;
    snprintf(ts->target, sizeof ts->target, "%s%s%s", j->tt.schema, *j->tt.schema ? "." : "", j->tt.table);
    ts->absent = j->tt.ncols == 0;
    j->scan = j->tt;
    j->scan.cols = sl_calloc((size_t)j->tt.ncols + 1, sizeof *j->scan.cols);
    j->scan.src_col = sl_calloc((size_t)j->tt.ncols + 1, sizeof *j->scan.src_col);
    j->scan.ncols = 0;
    for (int c = 0; c < j->tt.ncols; c++) {
        if (j->tt.cols[c].name[0]) {
            if (j->tt.src_col[c] < 0) j->deleted_at = j->scan.ncols;
            j->scan.cols[j->scan.ncols] = j->tt.cols[c];
            j->scan.src_col[j->scan.ncols++] = j->tt.src_col[c];
            continue;
        }
        if (j->tt.src_col[c] < 0) continue; /* no deleted marker in the target: no rows of deleted keys either */
        const char *name = j->ss.cols[j->tt.src_col[c]].name;
        if (j->tt.src_col[c] < j->ss.nkeys) {
            snprintf(ts->error, sizeof ts->error, "the target table has no column '%s', which is part of the key: "
                                                  "its rows cannot be matched", name);
            return 0;
        }
        if (ts->missing_cols.len) sl_buf_putc(&ts->missing_cols, ',');
        sl_buf_put_json_str(&ts->missing_cols, name, strlen(name));
        ts->nmissing_cols++;
    }
    return 0;
}

/* The target's next row, past the rows of deleted keys (unwrap's rewrite mode keeps them, marked). */
static int target_next(job *j, sl_vside *dst, const char *const **tv, const size_t **tl, char *errstr, size_t errsz) {
    for (;;) {
        int got = dst->ops->next(dst, tv, tl, errstr, errsz);
        int d = j->deleted_at;
        if (got <= 0 || d < 0 || !(*tv)[d] || (*tl)[d] != 4 || memcmp((*tv)[d], "true", 4) != 0) return got;
    }
}

/* The source's next row, past rows that do not reach the target (a null parent key of embedded rows). */
static int source_next(job *j, sl_vside *src, const char *const **sv, const size_t **sl, char *errstr,
                       size_t errsz) {
    for (;;) {
        int got = src->ops->next(src, sv, sl, errstr, errsz);
        bool skip = false;
        for (int c = 0; got > 0 && c < j->ss.ncols && !skip; c++) skip = j->ss.cols[c].required && !(*sv)[c];
        if (!skip) return got;
    }
}

/* Merges the two scans started on src and dst: counts, lists and collects (keys that differ) what differs.
 * full: the whole tables (row counts are taken). 0, or -1 with errstr. */
static int merge(run *r, job *j, sl_vside *src, sl_vside *dst, bool full, keyset *collect, char *errstr,
                 size_t errsz) {
    const sl_vtable *st = &j->ss, *scan = &j->scan;
    tstats *ts = &j->ts;
    const char *const *sv = NULL, *const *tv = NULL;
    const size_t *sl = NULL, *tl = NULL;
    int sgot = source_next(j, src, &sv, &sl, errstr, errsz);
    int tgot = ts->absent || sgot < 0 ? 0 : target_next(j, dst, &tv, &tl, errstr, errsz);
    keycopy sk = {0}, tk = {0};
    sl_buf_init(&sk.text), sl_buf_init(&tk.text);
    bool failed = sgot < 0 || tgot < 0;
    while (!failed && (sgot > 0 || tgot > 0)) {
        if (r->o->cancel && (r->rows & 1023) == 0 && *r->o->cancel) {
            snprintf(errstr, errsz, "the verify run was cancelled");
            failed = true;
            break;
        }
        r->rows++;
        if ((r->rows & 4095) == 0) progress(r, ts, false);
        if (r->o->rate > 0 && r->rows % (r->o->rate >= 1000 ? 100 : 1) == 0) { /* --rate: rows/s from each side */
            int64_t due = r->t0 + r->rows * 1000 / r->o->rate - sl_mono_ms();
            if (due > 0) sl_sleep_ms(due, NULL);
        }
        if (sgot > 0 && !key_after(&sk, st->cols, sv, sl, st->nkeys)) {
            snprintf(errstr, errsz, "the rows of %s do not come in key order (a collation verify cannot follow)",
                     ts->source);
            failed = true;
            break;
        }
        if (tgot > 0 && !key_after(&tk, scan->cols, tv, tl, st->nkeys)) {
            snprintf(errstr, errsz, "the rows of %s do not come in key order (a collation verify cannot follow, or "
                                    "duplicate keys)", ts->target);
            failed = true;
            break;
        }
        int c = sgot <= 0 ? 1 : tgot <= 0 ? -1 : key_cmp(st->cols, sv, sl, scan->cols, tv, tl, st->nkeys);
        long long before = ts->missing + ts->extra + ts->differing;
        if (c < 0) {
            ts->missing++;
            report(r, ts, MISSING, st, sv, sl, NULL, NULL, 0, NULL, 0);
            keyset_add(collect, sv, sl, st->nkeys);
        } else if (c > 0) {
            ts->extra++;
            report(r, ts, EXTRA, st, tv, tl, NULL, NULL, 0, NULL, 0); /* keys by their source names */
            keyset_add(collect, tv, tl, st->nkeys);
        } else {
            bool same = true;
            for (int k = st->nkeys; k < scan->ncols; k++) {
                int i = scan->src_col[k];
                if (i < 0) continue; /* the deleted marker */
                const char *tval = tv[k];
                if (tval == sl_vmissing) { /* a field the document does not have */
                    if (r->o->strict_missing) {
                        if (same) ts->differing++, keyset_add(collect, sv, sl, st->nkeys);
                        same = false;
                        ts->fields++;
                        report(r, ts, DIFFERS, st, sv, sl, st->cols[i].name, sv[i], sl[i], "(missing)", 9);
                        continue;
                    }
                    tval = NULL; /* as null */
                }
                if (sl_vnorm_equal(&st->cols[i], sv[i], sl[i], &scan->cols[k], tval, tl[k])) continue;
                if (same) ts->differing++, keyset_add(collect, sv, sl, st->nkeys);
                same = false;
                ts->fields++;
                const char *field = st->cols[i].name;
                sl_buf path;
                sl_buf_init(&path);
                if ((st->cols[i].kind == SL_CK_JSON || st->cols[i].kind == SL_CK_DOC) && sv[i] && tval &&
                    r->listed < r->o->max_listed) {
                    sl_buf_puts(&path, field); /* the column and, in it, the first member that differs */
                    if (st->cols[i].kind == SL_CK_JSON) sl_vnorm_json_diff_path(sv[i], sl[i], tval, tl[k], &path);
                    else sl_vnorm_rows_same(sv[i], sl[i], tval, tl[k], r->o->strict_missing, &path);
                    field = sl_buf_cstr(&path);
                }
                report(r, ts, DIFFERS, st, sv, sl, field, sv[i], sl[i], tval, tl[k]);
                sl_buf_free(&path);
            }
        }
        if (r->final && ts->missing + ts->extra + ts->differing != before)
            r->o->on_diff(r->o->diff_arg, j->st, st, c <= 0 ? sv : NULL, c <= 0 ? sl : NULL, scan, c >= 0 ? tv : NULL,
                          c >= 0 ? tl : NULL);
        if (c <= 0) {
            ts->source_rows += full;
            key_keep(&sk, sv, sl, st->nkeys);
            sgot = source_next(j, src, &sv, &sl, errstr, errsz);
        }
        if (c >= 0) {
            ts->target_rows += full;
            key_keep(&tk, tv, tl, st->nkeys);
            tgot = sgot < 0 ? 0 : target_next(j, dst, &tv, &tl, errstr, errsz);
        }
        failed = sgot < 0 || tgot < 0;
    }
    sl_buf_free(&sk.text), sl_buf_free(&tk.text);
    return failed ? -1 : 0;
}

#define LEVEL_ROWS 10000 /* a key range of at most this many rows is compared row by row */
#define LEVEL_SPLIT 8     /* a larger one that differs is split into this many */

/* Levels apply: both sides hash rows the same way (the same server's text of each column; else each column's
 * normal form, which range_hash may find a column lacks), the first key column an integer or a UUID (split by
 * its first 60 bits), every column on both sides, nothing that filters rows on the way (a deleted marker, rows
 * without a parent, documents). 0 no, 1 the servers' text, 2 normal forms. */
static int levels_apply(const run *r, sl_vside *src, sl_vside *dst, const job *j) {
    const sl_vtable *ss = &j->ss, *sc = &j->scan;
    if (!src->ops->range_hash || !dst->ops->range_hash || r->o->rate > 0 || r->o->no_levels || j->ts.absent ||
        j->ts.nmissing_cols || ss->nkeys < 1 || (ss->cols[0].kind != SL_CK_INT && ss->cols[0].kind != SL_CK_UUID) ||
        ss->documents || sc->documents ||
        j->deleted_at >= 0 || sc->ncols != ss->ncols)
        return 0;
    for (int c = 0; c < ss->ncols; c++)
        if (ss->cols[c].required || sc->src_col[c] != c) return 0; /* the same columns in the same order */
    if (src->hashes && dst->hashes && !strcmp(src->hashes, dst->hashes)) return 1;
    return src->norm_hashes && dst->norm_hashes ? 2 : 0;
}

/* A key range's bound as text: an integer key's value, or a UUID whose first 60 bits (15 hex digits) are pos,
 * the rest all 0 (low) or all f (high). */
static void level_bound(bool uuid, long long pos, bool high, char *out, size_t outsz) {
    if (!uuid) {
        snprintf(out, outsz, "%lld", pos);
        return;
    }
    char hex[33];
    snprintf(hex, sizeof hex, "%015llx%s", (unsigned long long)pos, high ? "fffffffffffffffff" : "00000000000000000");
    snprintf(out, outsz, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* A key (range_hash's smallest or largest) as a position in the key space: an integer key's value, a UUID's
 * first 60 bits. */
static long long level_pos(bool uuid, const char *key) {
    if (!uuid) return atoll(key);
    long long pos = 0;
    for (int n = 0; *key && n < 15; key++) {
        int c = *key, x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (x >= 0) pos = pos << 4 | x, n++;
    }
    return pos;
}

/* Levels: key ranges whose count and row hashes agree on both sides are equal; a differing range is split until
 * it is small enough to be merged row by row. Ranges go in key order, so differences are listed in key order.
 * 1 (nothing read yet) when a side cannot hash the table with norm. */
static int compare_levels(run *r, sl_vside *src, sl_vside *dst, job *j, bool norm, char *errstr, size_t errsz) {
    typedef struct range {
        long long lo, hi;
    } range;
    char sum[2][80], mn[2][48], mx[2][48], lo[48], hi[48];
    long long cnt[2];
    sl_vside *side[2] = {src, dst};
    const sl_vtable *tab[2] = {&j->ss, &j->scan};
    for (int k = 0; k < 2; k++) { /* the key span */
        int h = side[k]->ops->range_hash(side[k], tab[k], norm, NULL, NULL, &cnt[k], sum[k], sizeof sum[k], mn[k],
                                         mx[k], sizeof mn[k], errstr, errsz);
        if (h) return h;
    }
    if (!cnt[0] && !cnt[1]) return 0;
    bool uuid = j->ss.cols[0].kind == SL_CK_UUID;
    long long mn0 = level_pos(uuid, mn[0]), mn1 = level_pos(uuid, mn[1]), mx0 = level_pos(uuid, mx[0]),
              mx1 = level_pos(uuid, mx[1]);
    long long a = !cnt[0] ? mn1 : !cnt[1] ? mn0 : mn0 < mn1 ? mn0 : mn1;
    long long b = !cnt[0] ? mx1 : !cnt[1] ? mx0 : mx0 > mx1 ? mx0 : mx1;
    size_t cap = 64, n = 0;
    range *stack = sl_malloc(cap * sizeof *stack);
    stack[n++] = (range){a, b};
    bool whole = true; /* the first range's counts and hashes are the ones just read */
    int rc = 0;
    while (n && rc == 0) {
        range g = stack[--n];
        level_bound(uuid, g.lo, false, lo, sizeof lo);
        level_bound(uuid, g.hi, true, hi, sizeof hi);
        for (int k = 0; k < 2 && rc == 0 && !whole; k++)
            rc = side[k]->ops->range_hash(side[k], tab[k], norm, lo, hi, &cnt[k], sum[k], sizeof sum[k], mn[k], mx[k],
                                          sizeof mn[k], errstr, errsz);
        whole = false;
        if (rc < 0) break;
        if (cnt[0] == cnt[1] && !strcmp(sum[0], sum[1])) { /* equal */
            j->ts.source_rows += cnt[0], j->ts.target_rows += cnt[1], j->ts.by_hash += cnt[0];
            r->rows += cnt[0];
            progress(r, &j->ts, false);
            continue;
        }
        long long span = g.hi - g.lo; /* < 0: the range spans more than an int64 can tell (read it row by row) */
        if ((cnt[0] <= LEVEL_ROWS && cnt[1] <= LEVEL_ROWS) || span < LEVEL_SPLIT) { /* row by row */
            rc = src->ops->scan_range(src, tab[0], lo, hi, errstr, errsz);
            if (rc == 0) rc = dst->ops->scan_range(dst, tab[1], lo, hi, errstr, errsz);
            if (rc == 0) rc = merge(r, j, src, dst, true, &j->keys, errstr, errsz);
            continue;
        }
        if (n + LEVEL_SPLIT > cap) cap = 2 * (n + LEVEL_SPLIT), stack = sl_realloc(stack, cap * sizeof *stack);
        long long step = span / LEVEL_SPLIT;
        for (int p = LEVEL_SPLIT - 1; p >= 0; p--) { /* pushed last first: popped in key order */
            long long from = p ? g.lo + step * p + 1 : g.lo, to = p == LEVEL_SPLIT - 1 ? g.hi : g.lo + step * (p + 1);
            if (from <= to) stack[n++] = (range){from, to};
        }
    }
    sl_free(stack);
    return rc;
}

/* The full pass over one table. */
static int compare_full(run *r, sl_vside *src, sl_vside *dst, job *j, char *errstr, size_t errsz) {
    int how = levels_apply(r, src, dst, j), lv = how ? compare_levels(r, src, dst, j, how == 2, errstr, errsz) : 1;
    if (lv < 0) return -1;
    if (lv == 0) {
        j->ts.first_pass = j->ts.missing + j->ts.extra + j->ts.fields;
        return 0;
    }
    if (src->ops->scan(src, &j->ss, errstr, errsz) < 0) return -1;
    if (!j->ts.absent && dst->ops->scan(dst, &j->scan, errstr, errsz) < 0) return -1;
    if (merge(r, j, src, dst, true, &j->keys, errstr, errsz) < 0) return -1;
    j->ts.first_pass = j->ts.missing + j->ts.extra + j->ts.fields;
    return 0;
}

/* One recheck of the keys that differed, in chunks (fresh snapshots: the caller refreshed both sides). */
static int recheck(run *r, sl_vside *src, sl_vside *dst, job *j, char *errstr, size_t errsz) {
    keyset old = j->keys, next = {0};
    sl_buf_init(&next.text);
    r->listed -= j->ts.listed;
    j->ts.listed = 0;
    sl_buf_reset(&j->ts.diffs);
    j->ts.missing = j->ts.extra = j->ts.differing = j->ts.fields = 0;
    int rc = 0;
    for (size_t from = 0; from < old.n && rc == 0; from += RECHECK_CHUNK) {
        size_t n = old.n - from < RECHECK_CHUNK ? old.n - from : RECHECK_CHUNK, nk = (size_t)old.nkeys;
        const char **kv = sl_malloc(n * nk * sizeof *kv);
        size_t *kl = sl_malloc(n * nk * sizeof *kl);
        const char *base = old.text.data ? old.text.data : "";
        for (size_t i = 0; i < n * nk; i++) {
            size_t at = (from * nk) + i;
            kv[i] = base + old.at[at];
            kl[i] = old.at[at + 1] - old.at[at];
        }
        rc = src->ops->scan_keys(src, &j->ss, kv, kl, n, errstr, errsz);
        if (rc == 0 && !j->ts.absent) rc = dst->ops->scan_keys(dst, &j->scan, kv, kl, n, errstr, errsz);
        if (rc == 0) rc = merge(r, j, src, dst, false, &next, errstr, errsz);
        sl_free(kv);
        sl_free(kl);
    }
    keyset_clear(&old);
    j->keys = next;
    return rc;
}

static long long table_total(const tstats *ts) {
    return ts->missing + ts->extra + ts->fields + ts->nmissing_cols + (ts->error[0] != 0);
}

static void print_json(run *r, sl_vside *src, sl_vside *dst, job *jobs, int n, int rounds, int gated,
                       long long total) {
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "{\n  \"source\": {\"store\": ");
    sl_buf_put_json_str(&b, src->what, strlen(src->what));
    sl_buf_puts(&b, ", \"position\": ");
    const char *p = src->ops->position(src);
    sl_buf_put_json_str(&b, p, strlen(p));
    sl_buf_puts(&b, "},\n  \"target\": {\"store\": ");
    sl_buf_put_json_str(&b, dst->what, strlen(dst->what));
    sl_buf_puts(&b, "},\n  \"tables\": [");
    long long first = 0;
    for (int i = 0; i < n; i++) {
        const tstats *ts = &jobs[i].ts;
        first += ts->first_pass;
        sl_buf_puts(&b, i ? ",\n    {\"source\": " : "\n    {\"source\": ");
        sl_buf_put_json_str(&b, ts->source, strlen(ts->source));
        sl_buf_puts(&b, ", \"target\": ");
        sl_buf_put_json_str(&b, ts->target, strlen(ts->target));
        sl_buf_printf(&b, ", \"source_rows\": %lld, \"target_rows\": %lld, \"missing_in_target\": %lld, "
                          "\"extra_in_target\": %lld, \"differing\": %lld, \"missing_columns\": [",
                      ts->source_rows, ts->target_rows, ts->missing, ts->extra, ts->differing);
        sl_buf_put(&b, ts->missing_cols.data ? ts->missing_cols.data : "", ts->missing_cols.len);
        sl_buf_putc(&b, ']');
        if (ts->by_hash) sl_buf_printf(&b, ", \"rows_equal_by_hash\": %lld", ts->by_hash);
        if (ts->absent) sl_buf_puts(&b, ", \"target_table_exists\": false");
        if (jobs[i].keys.overflow) sl_buf_puts(&b, ", \"rechecked\": false");
        if (ts->error[0]) {
            sl_buf_puts(&b, ", \"error\": ");
            sl_buf_put_json_str(&b, ts->error, strlen(ts->error));
        }
        sl_buf_putc(&b, '}');
    }
    sl_buf_puts(&b, n ? "\n  ],\n  \"differences\": [" : "],\n  \"differences\": [");
    bool any = false;
    for (int i = 0; i < n; i++) {
        const sl_buf *d = &jobs[i].ts.diffs;
        if (!d->len) continue;
        sl_buf_put(&b, d->data + (any ? 0 : 1), d->len - (any ? 0 : 1)); /* items start with a comma */
        any = true;
    }
    sl_buf_printf(&b, "%s],\n  \"listed\": %ld,\n  \"total\": %lld,\n", any ? "\n  " : "", r->listed, total);
    if (rounds >= 0)
        sl_buf_printf(&b, "  \"rechecks\": {\"rounds\": %d, \"gated\": %d, \"in_flight\": %lld},\n", rounds, gated,
                      first > total ? first - total : 0);
    sl_buf_printf(&b, "  \"result\": \"%s\"\n}\n", total ? "differences" : "equal");
    fwrite(b.data, 1, b.len, r->out);
    sl_buf_free(&b);
}

static void print_text(run *r, sl_vside *src, sl_vside *dst, job *jobs, int n, int rounds, int gated,
                       long long total) {
    FILE *o = r->out;
    const char *p = src->ops->position(src);
    fprintf(o, "source: %s%s%s\ntarget: %s\n\n", src->what, *p ? " at " : "", p, dst->what);
    fprintf(o, "%-32s %-32s %11s %11s %8s %8s %9s\n", "source table", "target table", "source rows", "target rows",
            "missing", "extra", "differing");
    long long first = 0;
    for (int i = 0; i < n; i++) {
        const tstats *ts = &jobs[i].ts;
        first += ts->first_pass;
        fprintf(o, "%-32s %-32s %11lld %11lld %8lld %8lld %9lld\n", ts->source, ts->target, ts->source_rows,
                ts->target_rows, ts->missing, ts->extra, ts->differing);
        if (ts->missing_cols.len)
            fprintf(o, "  columns missing in the target: %.*s\n", (int)ts->missing_cols.len, ts->missing_cols.data);
        if (ts->error[0]) fprintf(o, "  not compared: %s\n", ts->error);
        if (ts->absent) fprintf(o, "  the target table does not exist\n");
        if (jobs[i].keys.overflow) fprintf(o, "  not rechecked: more than %d keys differ\n", RECHECK_MAX);
    }
    if (r->listed) {
        fprintf(o, "\ndifferences");
        if (r->listed < total) fprintf(o, " (the first %ld of %lld)", r->listed, total);
        fprintf(o, ":\n");
        for (int i = 0; i < n; i++) fwrite(jobs[i].ts.diffs.data ? jobs[i].ts.diffs.data : "", 1, jobs[i].ts.diffs.len, o);
    }
    if (rounds >= 0)
        fprintf(o, "\nrechecks: %d round%s (%d after the sync passed the source's position); %lld difference%s of the "
                   "first pass were changes in flight\n", rounds, rounds == 1 ? "" : "s", gated,
                first > total ? first - total : 0, first - total == 1 ? "" : "s");
    if (total) fprintf(o, "\nresult: %lld difference%s\n", total, total == 1 ? "" : "s");
    else fprintf(o, "\nresult: equal\n");
}

/*
 * New snapshots of both sides for a recheck: the source's first, and the target's once the sync has applied the
 * source up to the source snapshot's position (*gate: what still differs then is no change in flight), else
 * (no gate, or one that cannot tell: *gate turns false) after a pause. 1 when the gate passed, 0 when not (the
 * deadline came first, or no gate), -1 with errstr.
 */
static int fresh_snapshots(const sl_verify_opts *o, sl_vside *src, sl_vside *dst, bool *gate, bool first,
                           int64_t deadline, char *errstr, size_t errsz) {
    if (src->ops->refresh(src, errstr, errsz) < 0) return -1;
    int passed = 0;
    for (const char *pos = src->ops->position(src); *gate;) {
        int g = o->gate(o->gate_arg, pos);
        if (g < 0) { /* the sync's position cannot be told: timed rechecks */
            *gate = false;
            if (first) sl_sleep_ms(o->recheck_ms, NULL);
        }
        if (g != 0 || sl_mono_ms() >= deadline || (o->cancel && *o->cancel)) {
            passed = g > 0;
            break;
        }
        sl_sleep_ms(100, NULL);
    }
    return dst->ops->refresh(dst, errstr, errsz) < 0 ? -1 : passed;
}

int sl_verify_run(sl_vside *src, sl_vside *dst, const sl_vmap *map, const sl_verify_opts *o, FILE *out,
                  sl_verify_stats *stats, char *errstr, size_t errsz) {
    sl_vtable *tables = NULL;
    int n = 0;
    errstr[0] = 0;
    if (src->ops->tables(src, &tables, &n, errstr, errsz) < 0) return -1;
    run r = {o, out, 0, 0, sl_mono_ms(), 0, 0, n};
    job *jobs = sl_calloc((size_t)n + 1, sizeof *jobs);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        job *j = &jobs[i];
        r.table = i + 1;
        j->st = &tables[i];
        sl_buf_init(&j->ts.missing_cols);
        sl_buf_init(&j->ts.diffs);
        sl_buf_init(&j->keys.text);
        if (prepare(dst, map, j, errstr, errsz) < 0 || (!j->ts.error[0] && compare_full(&r, src, dst, j, errstr, errsz) < 0))
            rc = -1;
    }
    /* rechecks: the keys that differed, read again from fresh snapshots until they agree or time is up */
    int rounds = o->until_ms > 0 ? 0 : -1, gated = 0;
    int64_t deadline = sl_mono_ms() + o->until_ms;
    bool gate = o->gate != NULL;
    for (;;) {
        bool pending = false;
        for (int i = 0; i < n; i++) pending |= jobs[i].keys.n > 0 && !jobs[i].keys.overflow && !jobs[i].ts.error[0];
        if (rc != 0 || rounds < 0 || !pending || sl_mono_ms() >= deadline) break;
        if (o->cancel && *o->cancel) {
            snprintf(errstr, errsz, "the verify run was cancelled");
            rc = -1;
            break;
        }
        if (rounds > 0 || !gate) sl_sleep_ms(o->recheck_ms, NULL);
        int passed = fresh_snapshots(o, src, dst, &gate, rounds == 0, deadline, errstr, errsz);
        if (passed < 0) {
            rc = -1;
            break;
        }
        gated += passed;
        rounds++;
        for (int i = 0; i < n && rc == 0; i++) {
            job *j = &jobs[i];
            if (j->keys.n && !j->keys.overflow && !j->ts.error[0] && recheck(&r, src, dst, j, errstr, errsz) < 0)
                rc = -1;
        }
    }
    if (rc == 0 && o->on_diff) { /* the keys that still differ, once more, each to on_diff */
        bool any = false;
        for (int i = 0; i < n; i++) any |= jobs[i].keys.n > 0 && !jobs[i].ts.error[0];
        /* read with the sync caught up (when it can tell: on_diff's keys are then no changes in flight) */
        bool g = o->gate != NULL;
        int passed = any ? fresh_snapshots(o, src, dst, &g, true, sl_mono_ms() + o->until_ms + o->recheck_ms,
                                           errstr, errsz) : 0;
        if (passed < 0) rc = -1;
        any &= passed > 0 || o->gate == NULL;
        r.final = true;
        for (int i = 0; i < n && rc == 0 && any; i++) {
            job *j = &jobs[i];
            if (j->keys.n && !j->ts.error[0] && recheck(&r, src, dst, j, errstr, errsz) < 0) rc = -1;
        }
        r.final = false;
    }
    if (n) progress(&r, &jobs[0].ts, true);
    long long total = 0, first = 0, rows = 0;
    for (int i = 0; i < n; i++) {
        total += table_total(&jobs[i].ts);
        first += jobs[i].ts.first_pass;
        rows += jobs[i].ts.source_rows;
    }
    if (stats) *stats = (sl_verify_stats){rows, total, rounds >= 0 && first > total ? first - total : 0, n, gated};
    if (rc == 0) {
        if (o->json) print_json(&r, src, dst, jobs, n, rounds, gated, total);
        else print_text(&r, src, dst, jobs, n, rounds, gated, total);
        fflush(out);
        rc = total ? 1 : 0;
    }
    for (int i = 0; i < n; i++) {
        job *j = &jobs[i];
        sl_buf_free(&j->ts.missing_cols);
        sl_buf_free(&j->ts.diffs);
        keyset_clear(&j->keys);
        sl_free(j->ss.cols);
        sl_free(j->scan.cols);
        sl_free(j->scan.src_col);
        sl_vtable_clear(&j->tt);
        sl_vtable_clear(&tables[i]);
    }
    sl_free(jobs);
    sl_free(tables);
    return rc;
}

/* ---- query pairs ---- */

#define QUERY_ROWS_MAX 100000 /* rows of one query: pairs compare small results (aggregates, samples) */

typedef struct qrows {
    sl_buf text;
    size_t *at; /* n + 1 offsets */
    size_t n, cap;
} qrows;

typedef struct qcheck {
    char name[256];
    char *q[2];           /* source, target: SQL text or a JSON object's text */
    int runs, differing;
    bool last_differs;
    size_t rows[2];
    long row;             /* the first row that differs, -1: none */
    sl_buf field, sv, tv; /* its path and both rows (JSON, or null) */
} qcheck;

static void qrows_add(qrows *r, const char *v, size_t n) {
    if (r->n + 1 >= r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->at = sl_realloc(r->at, r->cap * sizeof *r->at);
    }
    if (r->n == 0) r->at[0] = 0;
    sl_buf_put(&r->text, v, n);
    r->at[++r->n] = r->text.len;
}

/* Runs q on side v and keeps its rows. */
static int run_query(sl_vside *v, const char *q, const char *name, qrows *r, char *errstr, size_t errsz) {
    if (!v->ops->query) {
        snprintf(errstr, errsz, "check '%s': %s has no queries", name, v->what);
        return -1;
    }
    char e[768] = "";
    r->n = 0;
    sl_buf_reset(&r->text);
    if (v->ops->query(v, q, e, sizeof e) < 0) {
        snprintf(errstr, errsz, "check '%s': %s", name, e);
        return -1;
    }
    const char *const *vals;
    const size_t *lens;
    int got;
    while ((got = v->ops->next(v, &vals, &lens, e, sizeof e)) > 0) {
        if (r->n >= QUERY_ROWS_MAX) {
            snprintf(errstr, errsz, "check '%s': more than %d rows from %s (query pairs compare small results: "
                                    "aggregates, samples)", name, QUERY_ROWS_MAX, v->what);
            return -1;
        }
        qrows_add(r, vals[0], lens[0]);
    }
    if (got < 0) snprintf(errstr, errsz, "check '%s': %s", name, e);
    return got < 0 ? -1 : 0;
}

/* The checks of the checks file; -1 with errstr naming what is wrong. */
static int parse_checks(const char *text, qcheck **out, int *n, char *errstr, size_t errsz) {
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    json_t *list = json_is_object(root) ? json_object_get(root, "checks") : root;
    *out = NULL, *n = 0;
    if (!json_is_array(list) || !json_array_size(list)) {
        snprintf(errstr, errsz, "the checks file must be a JSON array of checks, or {\"checks\": [...]}%s%s",
                 root ? "" : ": ", root ? "" : je.text);
        json_decref(root);
        return -1;
    }
    size_t k = json_array_size(list);
    qcheck *c = sl_calloc(k, sizeof *c);
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        json_t *it = json_array_get(list, i), *nm = json_object_get(it, "name");
        snprintf(c[i].name, sizeof c[i].name, "%s", json_is_string(nm) ? json_string_value(nm) : "");
        if (!c[i].name[0]) snprintf(c[i].name, sizeof c[i].name, "check %zu", i + 1);
        sl_buf_init(&c[i].field), sl_buf_init(&c[i].sv), sl_buf_init(&c[i].tv);
        c[i].row = -1;
        static const char *const sides[] = {"source", "target"};
        for (int s = 0; s < 2 && rc == 0; s++) {
            json_t *q = json_object_get(it, sides[s]);
            if (json_is_string(q)) c[i].q[s] = sl_strdup(json_string_value(q));
            else if (json_is_object(q)) {
                char *d = json_dumps(q, JSON_COMPACT);
                c[i].q[s] = sl_strdup(d);
                free(d);
            } else {
                snprintf(errstr, errsz, "checks[%zu].%s: a SQL query (a string) or a MongoDB query (an object) is "
                                        "needed", i, sides[s]);
                rc = -1;
            }
        }
    }
    json_decref(root);
    *out = c, *n = (int)k;
    return rc;
}

/* One run of check c: both queries, and their rows compared in order. */
static int run_check(sl_vside *src, sl_vside *dst, const sl_verify_opts *o, qcheck *c, qrows *r, char *errstr,
                     size_t errsz) {
    if (run_query(src, c->q[0], c->name, &r[0], errstr, errsz) < 0 ||
        run_query(dst, c->q[1], c->name, &r[1], errstr, errsz) < 0)
        return -1;
    c->runs++;
    c->rows[0] = r[0].n, c->rows[1] = r[1].n;
    c->row = -1;
    sl_buf_reset(&c->field), sl_buf_reset(&c->sv), sl_buf_reset(&c->tv);
    size_t n = r[0].n > r[1].n ? r[0].n : r[1].n;
    for (size_t i = 0; i < n && c->row < 0; i++) {
        const char *a = i < r[0].n ? r[0].text.data + r[0].at[i] : NULL;
        const char *b = i < r[1].n ? r[1].text.data + r[1].at[i] : NULL;
        size_t an = a ? r[0].at[i + 1] - r[0].at[i] : 0, bn = b ? r[1].at[i + 1] - r[1].at[i] : 0;
        if (a && b && sl_vnorm_rows_same(a, an, b, bn, o->strict_missing, &c->field)) continue;
        c->row = (long)i;
        sl_buf_put(&c->sv, a ? a : "null", a ? an : 4);
        sl_buf_put(&c->tv, b ? b : "null", b ? bn : 4);
    }
    c->last_differs = c->row >= 0;
    c->differing += c->last_differs;
    return 0;
}

static void print_checks(sl_vside *src, sl_vside *dst, const sl_verify_opts *o, qcheck *c, int n, FILE *out) {
    bool any = false;
    for (int i = 0; i < n; i++) any |= c[i].last_differs;
    if (!o->json) {
        fprintf(out, "source: %s\ntarget: %s\n\n%-40s %6s %9s %11s %11s  %s\n", src->what, dst->what, "check", "runs",
                "differing", "source rows", "target rows", "last run");
        for (int i = 0; i < n; i++) {
            fprintf(out, "%-40s %6d %9d %11zu %11zu  %s\n", c[i].name, c[i].runs, c[i].differing, c[i].rows[0],
                    c[i].rows[1], c[i].last_differs ? "differs" : "equal");
            if (c[i].last_differs)
                fprintf(out, "  row %ld%s%s\n    source: %.300s\n    target: %.300s\n", c[i].row + 1,
                        c[i].field.len ? ", at " : "", sl_buf_cstr(&c[i].field) + (c[i].field.len ? 1 : 0),
                        sl_buf_cstr(&c[i].sv), sl_buf_cstr(&c[i].tv));
        }
        fprintf(out, "\nresult: %s\n", any ? "differences" : "equal");
        return;
    }
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "{\n  \"source\": {\"store\": ");
    sl_buf_put_json_str(&b, src->what, strlen(src->what));
    sl_buf_puts(&b, "},\n  \"target\": {\"store\": ");
    sl_buf_put_json_str(&b, dst->what, strlen(dst->what));
    sl_buf_puts(&b, "},\n  \"checks\": [");
    for (int i = 0; i < n; i++) {
        sl_buf_puts(&b, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
        sl_buf_put_json_str(&b, c[i].name, strlen(c[i].name));
        sl_buf_printf(&b, ", \"runs\": %d, \"differing_runs\": %d, \"divergence_rate\": %.4g, \"result\": \"%s\", "
                          "\"source_rows\": %zu, \"target_rows\": %zu",
                      c[i].runs, c[i].differing, c[i].runs ? (double)c[i].differing / c[i].runs : 0.0,
                      c[i].last_differs ? "differs" : "equal", c[i].rows[0], c[i].rows[1]);
        if (c[i].last_differs) {
            sl_buf_printf(&b, ", \"difference\": {\"row\": %ld, \"field\": ", c[i].row);
            const char *f = sl_buf_cstr(&c[i].field);
            sl_buf_put_json_str(&b, f + (*f == '.'), strlen(f + (*f == '.')));
            sl_buf_puts(&b, ", \"source\": ");
            sl_buf_put(&b, c[i].sv.data, c[i].sv.len);
            sl_buf_puts(&b, ", \"target\": ");
            sl_buf_put(&b, c[i].tv.data, c[i].tv.len);
            sl_buf_putc(&b, '}');
        }
        sl_buf_putc(&b, '}');
    }
    sl_buf_printf(&b, "\n  ],\n  \"result\": \"%s\"\n}\n", any ? "differences" : "equal");
    fwrite(b.data, 1, b.len, out);
    sl_buf_free(&b);
}

int sl_verify_queries(sl_vside *src, sl_vside *dst, const char *checks, const sl_verify_opts *o, int runs,
                      int64_t every_ms, FILE *out, char *errstr, size_t errsz) {
    qcheck *c;
    int n, rc = parse_checks(checks, &c, &n, errstr, errsz);
    qrows r[2];
    memset(r, 0, sizeof r);
    sl_buf_init(&r[0].text), sl_buf_init(&r[1].text);
    for (int run = 0; rc == 0 && run < (runs > 0 ? runs : 1); run++) {
        if (run > 0) {
            if (o->cancel && *o->cancel) {
                snprintf(errstr, errsz, "the verify run was cancelled");
                rc = -1;
                break;
            }
            sl_sleep_ms(every_ms, NULL);
            if (src->ops->refresh(src, errstr, errsz) < 0 || dst->ops->refresh(dst, errstr, errsz) < 0) {
                rc = -1;
                break;
            }
        }
        for (int i = 0; i < n && rc == 0; i++) rc = run_check(src, dst, o, &c[i], r, errstr, errsz);
    }
    bool any = false;
    if (rc == 0) {
        print_checks(src, dst, o, c, n, out);
        fflush(out);
        for (int i = 0; i < n; i++) any |= c[i].last_differs;
    }
    for (int i = 0; i < n; i++) {
        sl_free(c[i].q[0]), sl_free(c[i].q[1]);
        sl_buf_free(&c[i].field), sl_buf_free(&c[i].sv), sl_buf_free(&c[i].tv);
    }
    sl_free(c);
    for (int s = 0; s < 2; s++) sl_buf_free(&r[s].text), sl_free(r[s].at);
    return rc < 0 ? -1 : any ? 1 : 0;
}
