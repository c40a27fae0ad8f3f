/*
 * The MySQL/MariaDB source as one side of sluice verify (core/vside.h): the
 * tables it captures (database, table and column filters) read in one
 * consistent read-only snapshot on a connection of its own. Nothing is
 * written, no binlog is read.
 */
#include "core/vside.h"
#include "source/mysql/my_int.h"
#include "util/arena.h"
#include "util/mem.h"
#include "vread/vread.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct my_vside {
    vread_side side; /* first: the scans */
    my_source s;     /* only cf, sql and the filters are used */
} my_vside;

/* The captured columns of t (key columns always stay). */
static void keep_captured(my_source *s, sl_vtable *v) {
    int n = 0;
    for (int i = 0; i < v->ncols; i++) {
        char fq[520];
        snprintf(fq, sizeof fq, "%s.%s.%s", v->db, v->table, v->cols[i].name);
        if (i < v->nkeys || sl_filter_match(&s->columns, fq)) v->cols[n++] = v->cols[i];
    }
    v->ncols = n;
}

static int myv_tables(sl_vside *v, sl_vtable **out, int *n, char *errstr, size_t errsz) {
    my_vside *p = (my_vside *)v;
    my_source *s = &p->s;
    if (mysql_query(s->sql, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = "
                            "'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql','sys','information_schema',"
                            "'performance_schema') ORDER BY TABLE_SCHEMA, TABLE_NAME") != 0) {
        snprintf(errstr, errsz, "listing tables: %s", mysql_error(s->sql));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(s->sql);
    int rows = res ? (int)mysql_num_rows(res) : 0;
    char **names = sl_calloc((size_t)rows * 2 + 1, sizeof *names);
    int nt = 0;
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res))) {
        char fq[520];
        snprintf(fq, sizeof fq, "%s.%s", row[0], row[1]);
        if (!sl_filter_match(&s->dbs, row[0]) || !sl_filter_match(&s->tables, fq)) continue;
        names[2 * nt] = sl_strdup(row[0]), names[2 * nt + 1] = sl_strdup(row[1]);
        nt++;
    }
    if (res) mysql_free_result(res);
    *out = sl_calloc((size_t)nt + 1, sizeof **out);
    *n = 0;
    int rc = 0;
    for (int i = 0; i < nt && rc == 0; i++) {
        sl_arena meta;
        sl_arena_init(&meta);
        sl_my_col *mcols;
        int nm;
        sl_table *t = my_describe(s, names[2 * i], names[2 * i + 1], &mcols, &nm, &meta, errstr, errsz);
        if (t) {
            sl_vtable *vt = &(*out)[(*n)++];
            sl_vtable_of(t, vt);
            snprintf(vt->topic, sizeof vt->topic, "%s.%s.%s", s->cf->topic_prefix, names[2 * i], names[2 * i + 1]);
            keep_captured(s, vt);
            sl_table_unref(t);
        } else {
            rc = -1;
        }
        sl_arena_free(&meta);
    }
    for (int i = 0; i < 2 * nt; i++) sl_free(names[i]);
    sl_free(names);
    if (rc < 0) {
        for (int k = 0; k < *n; k++) sl_vtable_clear(&(*out)[k]);
        sl_free(*out);
        *out = NULL;
    }
    return rc;
}

static void myv_close(sl_vside *v) {
    my_vside *p = (my_vside *)v;
    if (!p) return;
    vread_side_close(&p->side);
    if (p->s.sql) mysql_close(p->s.sql);
    sl_filter_free(&p->s.dbs);
    sl_filter_free(&p->s.tables);
    sl_filter_free(&p->s.columns);
    sl_free(p);
}

static const sl_vside_ops myv_ops = {.tables = myv_tables, .scan = vread_side_scan, .scan_keys = vread_side_scan_keys,
                                     .refresh = vread_side_refresh, .query = vread_side_query,
    .range_hash = vread_side_range_hash, .scan_range = vread_side_scan_range, .next = vread_side_next,
    .write = vread_side_write,
                                     .position = vread_side_position, .close = myv_close};

int my_verify_open(void *settings, sl_vside **out, char *errstr, size_t errsz) {
    my_vside *p = sl_calloc(1, sizeof *p);
    my_conf *cf = settings;
    p->side.base.ops = &myv_ops;
    p->s.cf = cf;
    snprintf(p->side.base.what, sizeof p->side.base.what, "MariaDB/MySQL %s:%lld", cf->host, (long long)cf->port);
    *out = &p->side.base;
    if (my_setup_filters(&p->s, errstr, errsz) < 0) return -1;
    if (!(p->s.sql = my_connect(cf, errstr, errsz))) return -1;
    p->side.conn = p->s.sql;
    return vread_side_begin(&p->side, errstr, errsz);
}

/* The binlog file's number: "mysql-bin.000042" -> 42 (-1: none). */
static long binlog_seq(const char *file, size_t n) {
    const char *dot = memrchr(file, '.', n);
    if (!dot || dot + 1 >= file + n) return -1;
    char *end;
    long v = strtol(dot + 1, &end, 10);
    return end == file + n ? v : -1;
}

/* The offset's binlog file and position against the snapshot's "file:position". */
int my_position_passed(const char *offset, const char *pos) {
    const char *colon = strrchr(pos, ':');
    if (!colon) return -1;
    long want_seq = binlog_seq(pos, (size_t)(colon - pos));
    long long want_pos = strtoll(colon + 1, NULL, 10);
    json_t *o = json_loads(offset, 0, NULL);
    json_t *f = json_object_get(o, "file"), *p = json_object_get(o, "pos");
    int rc = -1;
    if (json_is_string(f) && json_is_integer(p) && want_seq >= 0) {
        long seq = binlog_seq(json_string_value(f), json_string_length(f));
        rc = seq < 0 ? -1 : seq > want_seq || (seq == want_seq && json_integer_value(p) >= want_pos) ? 1 : 0;
    }
    json_decref(o);
    return rc;
}
