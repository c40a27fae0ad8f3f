/*
 * The PostgreSQL source as one side of sluice verify (core/vside.h): the
 * tables it captures (table and column filters, message.key.columns) read in
 * one REPEATABLE READ READ ONLY snapshot on a connection of its own. No slot,
 * no publication: nothing is written.
 */
#include "core/vside.h"
#include "source/pg/pg_int.h"
#include "util/mem.h"
#include "vread/vread.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef struct pg_vside {
    vread_side side; /* first: the scans */
    pg_source s;     /* only cf, sql and the filters are used */
} pg_vside;

static int pgv_tables(sl_vside *v, sl_vtable **out, int *n, char *errstr, size_t errsz) {
    pg_vside *p = (pg_vside *)v;
    uint32_t *oids = NULL;
    int noids = 0;
    if (pg_list_tables(&p->s, &oids, &noids, errstr, errsz) < 0) return -1;
    *out = sl_calloc((size_t)noids + 1, sizeof **out);
    *n = 0;
    for (int i = 0; i < noids; i++) {
        int *map = NULL;
        sl_table *t = pg_describe(&p->s, oids[i], NULL, 0, &map, errstr, errsz);
        sl_free(map);
        if (!t) {
            for (int k = 0; k < *n; k++) sl_vtable_clear(&(*out)[k]);
            sl_free(*out);
            sl_free(oids);
            return -1;
        }
        sl_vtable_of(t, &(*out)[(*n)++]);
        sl_table_unref(t);
    }
    sl_free(oids);
    return 0;
}

static void pgv_close(sl_vside *v) {
    pg_vside *p = (pg_vside *)v;
    if (!p) return;
    vread_side_close(&p->side);
    if (p->s.sql) PQfinish(p->s.sql);
    sl_filter_free(&p->s.tables);
    sl_filter_free(&p->s.columns);
    sl_filter_free(&p->s.msg_prefixes);
    sl_free(p);
}

static const sl_vside_ops pgv_ops = {.tables = pgv_tables, .scan = vread_side_scan, .scan_keys = vread_side_scan_keys,
                                     .refresh = vread_side_refresh, .query = vread_side_query,
    .range_hash = vread_side_range_hash, .scan_range = vread_side_scan_range, .next = vread_side_next,
                                     .write = vread_side_write, .position = vread_side_position, .close = pgv_close};

int pg_verify_open(void *settings, sl_vside **out, char *errstr, size_t errsz) {
    pg_vside *p = sl_calloc(1, sizeof *p);
    p->side.base.ops = &pgv_ops;
    p->side.pg = true;
    p->s.cf = settings;
    snprintf(p->side.base.what, sizeof p->side.base.what, "PostgreSQL %s:%lld database %s", p->s.cf->host,
             (long long)p->s.cf->port, p->s.cf->dbname);
    *out = &p->side.base;
    if (pg_setup_filters(&p->s, errstr, errsz) < 0) return -1;
    if (!(p->s.sql = pg_connect(p->s.cf, false, 10, errstr, errsz))) return -1;
    p->side.conn = p->s.sql;
    return vread_side_begin(&p->side, errstr, errsz);
}

/* The offset's LSN (Debezium's lsn, or the last commit's) against a pg_lsn text "X/Y". */
int pg_position_passed(const char *offset, const char *pos) {
    unsigned hi, lo;
    if (sscanf(pos, "%X/%X", &hi, &lo) != 2) return -1;
    json_t *o = json_loads(offset, 0, NULL);
    json_int_t lsn = -1;
    static const char *const keys[] = {"lsn", "lsn_commit"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (json_is_integer(v) && json_integer_value(v) > lsn) lsn = json_integer_value(v);
    }
    json_decref(o);
    if (lsn < 0) return -1;
    return (uint64_t)lsn >= ((uint64_t)hi << 32 | lo) ? 1 : 0;
}
