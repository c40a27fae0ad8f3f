/* sluice verify: the merge of two key-ordered sides and the report (see verify.h). */
#include "verify/verify.h"
#include "util/buf.h"
#include "util/mem.h"
#include "verify/vnorm.h"
#include <stdio.h>
#include <string.h>

typedef struct tstats {
    char source[300], target[300];
    long long source_rows, target_rows, missing, extra, differing;
    sl_buf missing_cols; /* JSON array items */
    char error[512];     /* the table could not be compared */
    bool absent;         /* the target has no such table */
} tstats;

typedef struct run {
    const sl_verify_opts *o;
    FILE *out;
    long listed;
    long long total;
    sl_buf diffs; /* JSON: the listed differences */
} run;

/* A copy of a row's key values, to check that each side's keys come in strictly increasing order. */
typedef struct keycopy {
    sl_buf text;
    size_t at[65], n;
    bool any;
} keycopy;

static void key_keep(keycopy *k, const char *const *vals, const size_t *lens, int nkeys) {
    sl_buf_reset(&k->text);
    k->n = (size_t)nkeys;
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

/* One difference: counted, and listed while the report has room. field < 0: a whole row. */
static void report(run *r, tstats *ts, int kind, const sl_vtable *keyt, const char *const *kv, const size_t *kl,
                   const char *field, const char *sv, size_t sn, const char *tv, size_t tn) {
    r->total++;
    if (r->listed >= r->o->max_listed) return;
    r->listed++;
    sl_buf *b = &r->diffs;
    bool json = r->o->json;
    if (json) {
        if (b->len) sl_buf_putc(b, ',');
        sl_buf_puts(b, "\n    {\"table\":");
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

/* Compares one source table with its target. 0, or -1 with errstr (a failure to read: the run stops). */
static int compare_table(run *r, sl_vside *src, sl_vside *dst, const sl_vtable *st, tstats *ts, char *errstr,
                         size_t errsz) {
    sl_vtable tt = {0}, scan = {0};
    int rc = -1;
    snprintf(ts->source, sizeof ts->source, "%s%s%s", st->schema, *st->schema ? "." : "", st->table);
    if (dst->ops->target(dst, st, &tt, errstr, errsz) < 0) goto out;
    snprintf(ts->target, sizeof ts->target, "%s%s%s", tt.schema, *tt.schema ? "." : "", tt.table);
    bool absent = tt.ncols == 0;
    /* the target's readable columns; a column it lacks is one difference of the table, not one per row */
    scan = tt;
    scan.cols = sl_calloc((size_t)tt.ncols + 1, sizeof *scan.cols);
    scan.src_col = sl_calloc((size_t)tt.ncols + 1, sizeof *scan.src_col);
    scan.ncols = 0;
    for (int j = 0; j < tt.ncols; j++) {
        if (tt.cols[j].name[0]) {
            scan.cols[scan.ncols] = tt.cols[j];
            scan.src_col[scan.ncols++] = tt.src_col[j];
            continue;
        }
        const char *name = st->cols[tt.src_col[j]].name;
        if (tt.src_col[j] < st->nkeys) {
            snprintf(ts->error, sizeof ts->error, "the target table has no column '%s', which is part of the key: "
                                                  "its rows cannot be matched", name);
            rc = 0;
            goto out;
        }
        if (ts->missing_cols.len) sl_buf_putc(&ts->missing_cols, ',');
        sl_buf_put_json_str(&ts->missing_cols, name, strlen(name));
        r->total++;
    }
    if (src->ops->scan(src, st, errstr, errsz) < 0) goto out;
    if (!absent && dst->ops->scan(dst, &scan, errstr, errsz) < 0) goto out;
    const char *const *sv = NULL, *const *tv = NULL;
    const size_t *sl = NULL, *tl = NULL;
    int sgot = src->ops->next(src, &sv, &sl, errstr, errsz);
    int tgot = absent ? 0 : dst->ops->next(dst, &tv, &tl, errstr, errsz);
    keycopy sk = {0}, tk = {0};
    sl_buf_init(&sk.text), sl_buf_init(&tk.text);
    bool failed = sgot < 0 || tgot < 0;
    ts->absent = absent;
    while (!failed && (sgot > 0 || tgot > 0)) {
        if (sgot > 0 && !key_after(&sk, st->cols, sv, sl, st->nkeys)) {
            snprintf(errstr, errsz, "the rows of %s do not come in key order (a collation verify cannot follow)",
                     ts->source);
            failed = true;
            break;
        }
        if (tgot > 0 && !key_after(&tk, scan.cols, tv, tl, st->nkeys)) {
            snprintf(errstr, errsz, "the rows of %s do not come in key order (a collation verify cannot follow, or "
                                    "duplicate keys)", ts->target);
            failed = true;
            break;
        }
        int c = sgot <= 0 ? 1 : tgot <= 0 ? -1 : key_cmp(st->cols, sv, sl, scan.cols, tv, tl, st->nkeys);
        if (c < 0) {
            ts->missing++;
            report(r, ts, MISSING, st, sv, sl, NULL, NULL, 0, NULL, 0);
        } else if (c > 0) {
            ts->extra++;
            report(r, ts, EXTRA, &scan, tv, tl, NULL, NULL, 0, NULL, 0);
        } else {
            bool same = true;
            for (int j = st->nkeys; j < scan.ncols; j++) {
                int i = scan.src_col[j];
                if (sl_vnorm_equal(&st->cols[i], sv[i], sl[i], &scan.cols[j], tv[j], tl[j])) continue;
                if (same) ts->differing++;
                same = false;
                report(r, ts, DIFFERS, st, sv, sl, st->cols[i].name, sv[i], sl[i], tv[j], tl[j]);
            }
        }
        if (c <= 0) {
            ts->source_rows++;
            key_keep(&sk, sv, sl, st->nkeys);
            sgot = src->ops->next(src, &sv, &sl, errstr, errsz);
        }
        if (c >= 0) {
            ts->target_rows++;
            key_keep(&tk, tv, tl, st->nkeys);
            tgot = dst->ops->next(dst, &tv, &tl, errstr, errsz);
        }
        failed = sgot < 0 || tgot < 0;
    }
    rc = failed ? -1 : 0;
    sl_buf_free(&sk.text), sl_buf_free(&tk.text);
out:
    sl_free(scan.cols);
    sl_free(scan.src_col);
    sl_vtable_clear(&tt);
    return rc;
}

static void print_json(run *r, sl_vside *src, sl_vside *dst, tstats *ts, int n) {
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
    for (int i = 0; i < n; i++) {
        sl_buf_puts(&b, i ? ",\n    {\"source\": " : "\n    {\"source\": ");
        sl_buf_put_json_str(&b, ts[i].source, strlen(ts[i].source));
        sl_buf_puts(&b, ", \"target\": ");
        sl_buf_put_json_str(&b, ts[i].target, strlen(ts[i].target));
        sl_buf_printf(&b, ", \"source_rows\": %lld, \"target_rows\": %lld, \"missing_in_target\": %lld, "
                          "\"extra_in_target\": %lld, \"differing\": %lld, \"missing_columns\": [",
                      ts[i].source_rows, ts[i].target_rows, ts[i].missing, ts[i].extra, ts[i].differing);
        sl_buf_put(&b, ts[i].missing_cols.data ? ts[i].missing_cols.data : "", ts[i].missing_cols.len);
        sl_buf_putc(&b, ']');
        if (ts[i].absent) sl_buf_puts(&b, ", \"target_table_exists\": false");
        if (ts[i].error[0]) {
            sl_buf_puts(&b, ", \"error\": ");
            sl_buf_put_json_str(&b, ts[i].error, strlen(ts[i].error));
        }
        sl_buf_putc(&b, '}');
    }
    sl_buf_puts(&b, n ? "\n  ],\n  \"differences\": [" : "],\n  \"differences\": [");
    sl_buf_put(&b, r->diffs.data ? r->diffs.data : "", r->diffs.len);
    sl_buf_printf(&b, "%s],\n  \"listed\": %ld,\n  \"total\": %lld,\n  \"result\": \"%s\"\n}\n", r->listed ? "\n  " : "",
                  r->listed, r->total, r->total ? "differences" : "equal");
    fwrite(b.data, 1, b.len, r->out);
    sl_buf_free(&b);
}

static void print_text(run *r, sl_vside *src, sl_vside *dst, tstats *ts, int n) {
    FILE *o = r->out;
    const char *p = src->ops->position(src);
    fprintf(o, "source: %s%s%s\ntarget: %s\n\n", src->what, *p ? " at " : "", p, dst->what);
    fprintf(o, "%-32s %-32s %11s %11s %8s %8s %9s\n", "source table", "target table", "source rows", "target rows",
            "missing", "extra", "differing");
    for (int i = 0; i < n; i++) {
        fprintf(o, "%-32s %-32s %11lld %11lld %8lld %8lld %9lld\n", ts[i].source, ts[i].target, ts[i].source_rows,
                ts[i].target_rows, ts[i].missing, ts[i].extra, ts[i].differing);
        if (ts[i].missing_cols.len)
            fprintf(o, "  columns missing in the target: %.*s\n", (int)ts[i].missing_cols.len, ts[i].missing_cols.data);
        if (ts[i].error[0]) fprintf(o, "  not compared: %s\n", ts[i].error);
        if (ts[i].absent) fprintf(o, "  the target table does not exist\n");
    }
    if (r->diffs.len) {
        fprintf(o, "\ndifferences");
        if (r->listed < r->total) fprintf(o, " (the first %ld of %lld)", r->listed, r->total);
        fprintf(o, ":\n%.*s", (int)r->diffs.len, r->diffs.data);
    }
    if (r->total) fprintf(o, "\nresult: %lld difference%s\n", r->total, r->total == 1 ? "" : "s");
    else fprintf(o, "\nresult: equal\n");
}

int sl_verify_run(sl_vside *src, sl_vside *dst, const sl_verify_opts *o, FILE *out, char *errstr, size_t errsz) {
    sl_vtable *tables = NULL;
    int n = 0;
    errstr[0] = 0;
    if (src->ops->tables(src, &tables, &n, errstr, errsz) < 0) return -1;
    run r = {o, out, 0, 0, {0}};
    sl_buf_init(&r.diffs);
    tstats *ts = sl_calloc((size_t)n + 1, sizeof *ts);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        sl_buf_init(&ts[i].missing_cols);
        if (tables[i].nkeys == 0) {
            snprintf(ts[i].source, sizeof ts[i].source, "%s.%s", tables[i].schema, tables[i].table);
            snprintf(ts[i].error, sizeof ts[i].error, "the table has no primary key (or message.key.columns): its "
                                                      "rows cannot be matched");
            r.total++;
            continue;
        }
        if (compare_table(&r, src, dst, &tables[i], &ts[i], errstr, errsz) < 0) rc = -1;
        if (ts[i].error[0]) r.total++;
    }
    if (rc == 0) {
        if (o->json) print_json(&r, src, dst, ts, n);
        else print_text(&r, src, dst, ts, n);
        fflush(out);
        rc = r.total ? 1 : 0;
    }
    for (int i = 0; i < n; i++) {
        sl_buf_free(&ts[i].missing_cols);
        sl_vtable_clear(&tables[i]);
    }
    sl_free(ts);
    sl_free(tables);
    sl_buf_free(&r.diffs);
    return rc;
}
