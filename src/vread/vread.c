/* Row readers for sluice verify (see vread.h): one engine's snapshot and scans per connection. */
#include "vread/vread.h"
#include "util/buf.h"
#include "util/mem.h"
#include <libpq-fe.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FETCH_ROWS 2000

struct vread {
    PGconn *pg;
    MYSQL *my;
    PGresult *res;    /* PostgreSQL: the current FETCH */
    int at;           /* its next row */
    MYSQL_RES *mres;  /* MariaDB: the unbuffered result */
    int ncols;
    const char **vals;
    size_t *lens;
    bool rows_json;   /* a query: each row as one JSON object */
    sl_buf row;
    bool docs;        /* a table of documents (sl_vtable.documents): the key as typed text, the rest as JSON */
    sl_ckind key_kind;
    char key_name[128];
    sl_buf key;
};

enum { QV_STR, QV_NUM, QV_BOOL, QV_JSON };

/* How a query column's values go into JSON, by its PostgreSQL type oid. */
static int pg_qkind(Oid t) {
    switch (t) {
    case 16: return QV_BOOL;                                           /* bool */
    case 20: case 21: case 23: case 26: case 700: case 701: case 1700: return QV_NUM; /* ints, floats, numeric */
    case 114: case 3802: return QV_JSON;                               /* json, jsonb */
    default: return QV_STR;
    }
}

/* How a query column's values go into JSON, by its MariaDB/MySQL type. */
static int my_qkind(const MYSQL_FIELD *f) {
    if (f->type == MYSQL_TYPE_JSON) return QV_JSON;
    if (f->type == MYSQL_TYPE_BIT || f->type == MYSQL_TYPE_TIMESTAMP || f->type == MYSQL_TYPE_YEAR) return QV_STR;
    return IS_NUM(f->type) ? QV_NUM : QV_STR;
}

/* One value of a query row into JSON: numbers as written unless not JSON numbers (NaN), booleans, json as is. */
static void put_qvalue(sl_buf *b, int kind, const char *v, size_t n) {
    if (!v) return sl_buf_puts(b, "null");
    if (kind == QV_BOOL) return sl_buf_puts(b, n && (v[0] == 't' || v[0] == '1') ? "true" : "false");
    if (kind == QV_JSON) return sl_buf_put(b, v, n);
    if (kind == QV_NUM) {
        bool plain = n > 0;
        for (size_t i = 0; i < n && plain; i++) plain = strchr("0123456789+-.eE", v[i]) != NULL;
        if (plain && v[0] != '.' && !(n > 1 && v[0] == '0' && v[1] != '.')) return sl_buf_put(b, v, n);
    }
    sl_buf_put_json_str(b, v, n);
}

static void pg_err(PGconn *c, PGresult *r, const char *what, char *errstr, size_t errsz) {
    char m[512];
    snprintf(m, sizeof m, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    m[strcspn(m, "\n")] = 0;
    snprintf(errstr, errsz, "PostgreSQL: %s: %s", what, m);
}

static int pg_run(PGconn *c, const char *sql, const char *what, PGresult **out, char *errstr, size_t errsz) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_err(c, r, what, errstr, errsz);
        PQclear(r);
        return -1;
    }
    if (out) *out = r;
    else PQclear(r);
    return 0;
}

static int vread_pg_begin(void *pgconn, char *pos, size_t possz, char *errstr, size_t errsz) {
    PGconn *c = pgconn;
    PGresult *r;
    if (pg_run(c, "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; "
                  "SET TimeZone = 'UTC'; SET bytea_output = 'hex'; "
                  "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
               "starting a read-only snapshot", NULL, errstr, errsz) < 0 ||
        pg_run(c, "SELECT pg_current_wal_insert_lsn()::text", "reading the WAL position", &r, errstr, errsz) < 0)
        return -1;
    snprintf(pos, possz, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}

/* Identifier id quoted by q (" on PostgreSQL, ` on MariaDB), the quote doubled inside. */
static void put_ident(sl_buf *b, const char *id, bool pg) {
    char q = pg ? '"' : '`';
    sl_buf_putc(b, q);
    for (const char *p = id; *p; p++) {
        if (*p == q) sl_buf_putc(b, q);
        sl_buf_putc(b, *p);
    }
    sl_buf_putc(b, q);
}

/* SELECT of t's columns in key order, text keys by their bytes (a table of documents: every column). */
static void put_select(sl_buf *b, const sl_vtable *t, bool pg) {
    sl_buf_puts(b, "SELECT ");
    if (t->documents) sl_buf_puts(b, "sluice_t.*");
    for (int i = 0; i < t->ncols && !t->documents; i++) {
        if (i) sl_buf_puts(b, ", ");
        if (t->cols[i].hex) sl_buf_puts(b, pg ? "encode(" : "lower(hex(");
        put_ident(b, t->cols[i].name, pg);
        if (t->cols[i].hex) sl_buf_puts(b, pg ? ", 'hex')" : "))"); /* else the type's own output (char(n) keeps
                                                                         * its padding, inet its short form) */
    }
    sl_buf_puts(b, " FROM ");
    if (t->schema[0]) {
        put_ident(b, t->schema, pg);
        sl_buf_putc(b, '.');
    }
    put_ident(b, t->table, pg);
    sl_buf_puts(b, " AS sluice_t"); /* ORDER BY the columns, not the (text) output columns of the same names */
}

/* A literal of value v (n bytes) in the connection's quoting. */
static void put_literal(sl_buf *b, void *conn, bool pg, const char *v, size_t n) {
    if (pg) {
        char *q = PQescapeLiteral(conn, v, n);
        sl_buf_puts(b, q ? q : "NULL");
        PQfreemem(q);
        return;
    }
    char *q = sl_malloc(2 * n + 1);
    unsigned long k = mysql_real_escape_string(conn, q, v, (unsigned long)n);
    sl_buf_putc(b, '\'');
    sl_buf_put(b, q, k);
    sl_buf_putc(b, '\'');
    sl_free(q);
}

/* MariaDB, a table of documents: WHERE its key column holds one of the keys, a key document compared as JSON
 * (MariaDB keeps JSON as text, spaced as written). */
static void put_doc_key_filter(sl_buf *b, const sl_vtable *t, void *conn, const char *const *keys,
                               const size_t *lens, size_t nrows) {
    sl_buf_puts(b, " WHERE ");
    sl_buf lit;
    sl_buf_init(&lit);
    for (size_t r = 0; r < nrows; r++) {
        sl_buf_reset(&lit);
        if (!sl_mkey_to_sql(t->cols[0].kind, keys[r] ? keys[r] : "", lens[r], &lit)) sl_buf_put(&lit, keys[r] ? keys[r] : "", lens[r]);
        bool json = lit.len && lit.data[0] == '{';
        sl_buf_puts(b, r ? " OR " : "");
        sl_buf_puts(b, json ? "JSON_COMPACT(sluice_t." : "sluice_t.");
        put_ident(b, t->cols[0].name, false);
        sl_buf_puts(b, json ? ") = JSON_COMPACT(" : " = ");
        put_literal(b, conn, false, lit.data, lit.len);
        if (json) sl_buf_putc(b, ')');
    }
    sl_buf_free(&lit);
}

/* WHERE the key columns equal one of nrows tuples of keys. */
static void put_key_filter(sl_buf *b, const sl_vtable *t, bool pg, void *conn, const char *const *keys,
                           const size_t *lens, size_t nrows) {
    if (t->documents && !pg) return put_doc_key_filter(b, t, conn, keys, lens, nrows);
    sl_buf_puts(b, t->nkeys > 1 ? " WHERE (" : " WHERE ");
    for (int i = 0; i < t->nkeys; i++) {
        if (i) sl_buf_puts(b, ", ");
        sl_buf_puts(b, "sluice_t.");
        put_ident(b, t->cols[i].name, pg);
    }
    sl_buf_puts(b, t->nkeys > 1 ? ") IN (" : " IN (");
    for (size_t r = 0; r < nrows; r++) {
        if (r) sl_buf_putc(b, ',');
        if (t->nkeys > 1) sl_buf_putc(b, '(');
        for (int i = 0; i < t->nkeys; i++) {
            if (i) sl_buf_putc(b, ',');
            size_t k = r * (size_t)t->nkeys + (size_t)i;
            sl_buf lit;
            sl_buf_init(&lit);
            if (t->documents && sl_mkey_to_sql(t->cols[i].kind, keys[k] ? keys[k] : "", lens[k], &lit)) {
                put_literal(b, conn, pg, lit.data, lit.len);
            } else {
                put_literal(b, conn, pg, keys[k] ? keys[k] : "", lens[k]);
            }
            sl_buf_free(&lit);
        }
        if (t->nkeys > 1) sl_buf_putc(b, ')');
    }
    sl_buf_putc(b, ')');
}

/* True for the text of an integer (what a key range is given in). */
static bool is_int(const char *s) {
    if (!s || !*s) return false;
    if (*s == '-') s++;
    if (!*s || strlen(s) > 20) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* True for the text of a UUID (a UUID key's range bound). */
static bool is_uuid(const char *s) {
    if (!s || strlen(s) != 36) return false;
    for (int i = 0; i < 36; i++)
        if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return false;
    return true;
}

/* WHERE the first key column lies in [range[0], range[1]] (each NULL: unbounded): integers, or UUIDs (their
 * text order, which is the uuid type's, and a char(36) column's in any collation). */
static void put_range(sl_buf *b, const sl_vtable *t, bool pg, const char *const *range) {
    const char *w = " WHERE ";
    bool uuid = t->cols[0].kind == SL_CK_UUID;
    for (int i = 0; i < 2; i++) {
        if (uuid ? !is_uuid(range[i]) : !is_int(range[i])) continue;
        sl_buf_puts(b, w);
        sl_buf_puts(b, "sluice_t.");
        put_ident(b, t->cols[0].name, pg);
        sl_buf_printf(b, uuid ? " %s '%s'" : " %s %s", i ? "<=" : ">=", range[i]);
        w = " AND ";
    }
}

static void put_order(sl_buf *b, const sl_vtable *t, bool pg) {
    for (int i = 0; i < t->nkeys; i++) {
        sl_buf_puts(b, i ? ", " : " ORDER BY ");
        bool bytes = t->cols[i].kind == SL_CK_TEXT || t->cols[i].kind == SL_CK_JSON;
        if (bytes && pg) sl_buf_puts(b, "(");
        if (bytes && !pg) sl_buf_puts(b, "CAST(");
        sl_buf_puts(b, "sluice_t.");
        put_ident(b, t->cols[i].name, pg);
        if (bytes) sl_buf_puts(b, pg ? ")::text COLLATE \"C\"" : " AS BINARY)");
    }
}

/* A table of documents: its key column, read as typed text, and the others as one JSON object. */
static void docs_of(vread *r, const sl_vtable *t) {
    if (!t->documents) return;
    r->docs = true;
    r->key_kind = t->cols[0].kind;
    snprintf(r->key_name, sizeof r->key_name, "%s", t->cols[0].name);
    sl_buf_init(&r->key);
    sl_buf_init(&r->row);
}

static vread *pg_scan(void *pgconn, const sl_vtable *t, const char *const *keys, const size_t *lens, size_t nrows,
                      const char *const *range, char *errstr, size_t errsz) {
    PGconn *c = pgconn;
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "DECLARE sluice_verify NO SCROLL CURSOR FOR ");
    put_select(&b, t, true);
    if (keys) put_key_filter(&b, t, true, c, keys, lens, nrows);
    if (range) put_range(&b, t, true, range);
    put_order(&b, t, true);
    int rc = pg_run(c, sl_buf_cstr(&b), "reading the table", NULL, errstr, errsz);
    sl_buf_free(&b);
    if (rc < 0) return NULL;
    vread *r = sl_calloc(1, sizeof *r);
    r->pg = c;
    r->ncols = t->ncols;
    r->vals = sl_calloc((size_t)t->ncols + 1, sizeof *r->vals);
    r->lens = sl_calloc((size_t)t->ncols + 1, sizeof *r->lens);
    docs_of(r, t);
    return r;
}

static int vread_my_begin(void *mysql, char *pos, size_t possz, char *errstr, size_t errsz) {
    MYSQL *m = mysql;
    static const char *const setup[] = {"SET SESSION time_zone = '+00:00'",
                                        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"};
    for (int i = 0; i < 2; i++)
        if (mysql_query(m, setup[i]) != 0) {
            snprintf(errstr, errsz, "MariaDB/MySQL: starting a read-only snapshot: %s", mysql_error(m));
            return -1;
        }
    *pos = 0;
    /* MariaDB: the binlog position of the consistent snapshot; MySQL has no such variables */
    if (mysql_query(m, "SHOW STATUS LIKE 'binlog_snapshot_%'") == 0) {
        MYSQL_RES *res = mysql_store_result(m);
        char file[256] = "", p[32] = "";
        MYSQL_ROW row;
        while (res && (row = mysql_fetch_row(res))) {
            if (row[0] && row[1] && !strcmp(row[0], "Binlog_snapshot_file")) snprintf(file, sizeof file, "%s", row[1]);
            if (row[0] && row[1] && !strcmp(row[0], "Binlog_snapshot_position")) snprintf(p, sizeof p, "%s", row[1]);
        }
        if (res) mysql_free_result(res);
        if (*file) snprintf(pos, possz, "%s:%s", file, p);
    }
    return 0;
}

static vread *my_scan(void *mysql, const sl_vtable *t, const char *const *keys, const size_t *lens, size_t nrows,
                      const char *const *range, char *errstr, size_t errsz) {
    MYSQL *m = mysql;
    sl_buf b;
    sl_buf_init(&b);
    put_select(&b, t, false);
    if (keys) put_key_filter(&b, t, false, m, keys, lens, nrows);
    if (range) put_range(&b, t, false, range);
    put_order(&b, t, false);
    int rc = mysql_real_query(m, b.data, b.len);
    sl_buf_free(&b);
    MYSQL_RES *res = rc == 0 ? mysql_use_result(m) : NULL;
    if (!res) {
        snprintf(errstr, errsz, "MariaDB/MySQL: reading the table: %s", mysql_error(m));
        return NULL;
    }
    vread *r = sl_calloc(1, sizeof *r);
    r->my = m;
    r->mres = res;
    r->ncols = t->documents ? (int)mysql_num_fields(res) : t->ncols;
    r->vals = sl_calloc((size_t)t->ncols + 1, sizeof *r->vals);
    r->lens = sl_calloc((size_t)t->ncols + 1, sizeof *r->lens);
    docs_of(r, t);
    return r;
}

/* A query row as one JSON object into r->row (names and kinds from the result). A table of documents: the key
 * column as typed text first, the others as the object. */
static void query_row(vread *r, MYSQL_ROW myrow, const unsigned long *mylens) {
    sl_buf_reset(&r->row);
    sl_buf_putc(&r->row, '{');
    MYSQL_FIELD *f = r->my ? mysql_fetch_fields(r->mres) : NULL;
    bool first = true;
    for (int i = 0; i < r->ncols; i++) {
        const char *name = r->my ? f[i].name : PQfname(r->res, i);
        if (r->docs && !strcmp(name, r->key_name)) {
            bool null = r->my ? !myrow[i] : PQgetisnull(r->res, r->at, i);
            const char *v = null ? NULL : r->my ? myrow[i] : PQgetvalue(r->res, r->at, i);
            size_t n = null ? 0 : r->my ? mylens[i] : (size_t)PQgetlength(r->res, r->at, i);
            sl_buf_reset(&r->key);
            if (!sl_mkey_from_sql(r->key_kind, v, n, &r->key)) sl_buf_put(&r->key, v ? v : "", n);
            continue;
        }
        if (!first) sl_buf_putc(&r->row, ',');
        first = false;
        sl_buf_put_json_str(&r->row, name, strlen(name));
        sl_buf_putc(&r->row, ':');
        if (r->my) {
            put_qvalue(&r->row, my_qkind(&f[i]), myrow[i], myrow[i] ? mylens[i] : 0);
        } else {
            bool null = PQgetisnull(r->res, r->at, i);
            put_qvalue(&r->row, pg_qkind(PQftype(r->res, i)), null ? NULL : PQgetvalue(r->res, r->at, i),
                       null ? 0 : (size_t)PQgetlength(r->res, r->at, i));
        }
    }
    sl_buf_putc(&r->row, '}');
    if (r->docs) {
        r->vals[0] = r->key.data ? r->key.data : "", r->lens[0] = r->key.len;
        r->vals[1] = r->row.data, r->lens[1] = r->row.len;
        return;
    }
    r->vals[0] = r->row.data;
    r->lens[0] = r->row.len;
}

static int vread_next(vread *r, const char *const **vals, const size_t **lens, char *errstr, size_t errsz) {
    if (r->my) {
        MYSQL_ROW row = mysql_fetch_row(r->mres);
        if (!row) {
            if (mysql_errno(r->my)) {
                snprintf(errstr, errsz, "MariaDB/MySQL: reading the table: %s", mysql_error(r->my));
                return -1;
            }
            return 0;
        }
        unsigned long *l = mysql_fetch_lengths(r->mres);
        if (r->rows_json || r->docs) query_row(r, row, l);
        else
            for (int i = 0; i < r->ncols; i++) r->vals[i] = row[i], r->lens[i] = row[i] ? l[i] : 0;
    } else {
        if (!r->res || r->at >= PQntuples(r->res)) {
            PQclear(r->res);
            r->res = NULL;
            r->at = 0;
            char q[64];
            snprintf(q, sizeof q, "FETCH FORWARD %d FROM sluice_verify", FETCH_ROWS);
            if (pg_run(r->pg, q, "reading the table", &r->res, errstr, errsz) < 0) return -1;
            if (PQntuples(r->res) == 0) return 0;
            if (r->rows_json || r->docs) r->ncols = PQnfields(r->res);
        }
        if (r->rows_json || r->docs) query_row(r, NULL, NULL);
        else
            for (int i = 0; i < r->ncols; i++) {
                bool null = PQgetisnull(r->res, r->at, i);
                r->vals[i] = null ? NULL : PQgetvalue(r->res, r->at, i);
                r->lens[i] = null ? 0 : (size_t)PQgetlength(r->res, r->at, i);
            }
        r->at++;
    }
    *vals = r->vals;
    *lens = r->lens;
    return 1;
}

static void vread_end(vread *r) {
    if (!r) return;
    if (r->mres) mysql_free_result(r->mres); /* reads what is left of an unbuffered result */
    if (r->pg) {
        PQclear(r->res);
        PQclear(PQexec(r->pg, "CLOSE sluice_verify"));
    }
    sl_buf_free(&r->row);
    sl_buf_free(&r->key);
    sl_free(r->vals);
    sl_free(r->lens);
    sl_free(r);
}

int vread_side_begin(vread_side *s, char *errstr, size_t errsz) {
    s->base.hashes = s->pg ? "postgresql-md5-60" : "mariadb-md5-60";
    s->base.norm_hashes = true;
    return s->pg ? vread_pg_begin(s->conn, s->pos, sizeof s->pos, errstr, errsz)
                 : vread_my_begin(s->conn, s->pos, sizeof s->pos, errstr, errsz);
}

int vread_side_scan(sl_vside *v, const sl_vtable *t, char *errstr, size_t errsz) {
    return vread_side_scan_keys(v, t, NULL, NULL, 0, errstr, errsz);
}

int vread_side_scan_keys(sl_vside *v, const sl_vtable *t, const char *const *keys, const size_t *lens, size_t nrows,
                         char *errstr, size_t errsz) {
    vread_side *s = (vread_side *)v;
    vread_end(s->scan);
    s->scan = s->pg ? pg_scan(s->conn, t, keys, lens, nrows, NULL, errstr, errsz)
                    : my_scan(s->conn, t, keys, lens, nrows, NULL, errstr, errsz);
    return s->scan ? 0 : -1;
}

int vread_side_scan_range(sl_vside *v, const sl_vtable *t, const char *lo, const char *hi, char *errstr, size_t errsz) {
    vread_side *s = (vread_side *)v;
    vread_end(s->scan);
    const char *range[2] = {lo, hi};
    s->scan = s->pg ? pg_scan(s->conn, t, NULL, NULL, 0, range, errstr, errsz)
                    : my_scan(s->conn, t, NULL, NULL, 0, range, errstr, errsz);
    return s->scan ? 0 : -1;
}

/* A row's hash as a number: the first 60 bits of the md5 of its columns' text. cols NULL: as the server writes
 * each column, unambiguously (PostgreSQL: the row's record text, which quotes what holds a comma, a quote or a
 * parenthesis; MariaDB: HEX of each, '|' between them, \N for null); else the columns' normal forms
 * (norm_cols), '|' between them. */
static void put_row_hash(sl_buf *b, const sl_vtable *t, bool pg, const char *cols) {
    if (pg && !cols) {
        sl_buf_puts(b, "('x' || substr(md5(ROW(");
        for (int i = 0; i < t->ncols; i++) {
            sl_buf_puts(b, i ? ", sluice_t." : "sluice_t.");
            put_ident(b, t->cols[i].name, pg);
        }
        sl_buf_puts(b, ")::text), 1, 15))::bit(60)::bigint::numeric");
        return;
    }
    sl_buf_puts(b, pg ? "('x' || substr(md5(concat_ws('|'" : "CAST(CONV(SUBSTRING(MD5(CONCAT_WS('|'");
    if (cols) sl_buf_puts(b, cols);
    for (int i = 0; i < t->ncols && !cols; i++) { /* every type has a HEX (geometry has no CAST AS CHAR) */
        sl_buf_puts(b, ", COALESCE(HEX(sluice_t.");
        put_ident(b, t->cols[i].name, pg);
        sl_buf_puts(b, "), '\\\\N')");
    }
    sl_buf_puts(b, pg ? ")), 1, 15))::bit(60)::bigint::numeric" : ")), 1, 15), 16, 10) AS DECIMAL(65, 0))");
}

static bool in(const char *ty, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(ty, *list)) return true;
    return false;
}

/* One column's normal form, the same text on PostgreSQL and MariaDB for the same value: integers and booleans in
 * decimal (1/0), decimals without trailing fraction zeros, text as UTF-8 with \ and | escaped, bytes as lowercase
 * hex, UUIDs in lowercase, dates and times as ISO text with six fraction digits (instants in UTC). ty and scale
 * are the column's data_type and numeric_scale in information_schema on this server. False when the column has
 * no normal form here (its kind or its type: floating point, JSON, arrays, geometry, intervals, char(n) on
 * PostgreSQL, ...). */
static bool put_norm_col(sl_buf *b, const sl_vcol *c, const char *ty, int scale, bool pg, int pg_version) {
    static const char *const pg_ints[] = {"smallint", "integer", "bigint", NULL};
    static const char *const my_ints[] = {"tinyint", "smallint", "mediumint", "int", "bigint", "year", NULL};
    static const char *const pg_text[] = {"text", "character varying", NULL};
    static const char *const my_text[] = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum",
                                          "set", NULL};
    static const char *const my_bytes[] = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", NULL};
    static const char *const my_times[] = {"datetime", "timestamp", NULL};
    const char *pre = NULL, *post = NULL;
    switch (c->kind) {
    case SL_CK_INT:
    case SL_CK_BOOL:
    case SL_CK_DEC:
        if (pg && in(ty, pg_ints)) pre = "", post = "::text";
        else if (pg && !strcmp(ty, "boolean") && c->kind != SL_CK_DEC)
            pre = "CASE ", post = " WHEN true THEN '1' WHEN false THEN '0' END";
        else if (pg && !strcmp(ty, "numeric") && pg_version >= 130000) pre = "trim_scale(", post = ")::text";
        else if (!pg && in(ty, my_ints)) pre = "CAST(", post = " AS CHAR)";
        else if (!pg && !strcmp(ty, "decimal") && scale == 0) pre = "CAST(", post = " AS CHAR)";
        else if (!pg && !strcmp(ty, "decimal") && scale > 0) /* always a point: "10.50" as "10.5", "0.00" as "0" */
            pre = "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST(", post = " AS CHAR)))";
        break;
    case SL_CK_TEXT:
        if (pg && in(ty, pg_text)) pre = "replace(replace(", post = "::text, '\\', '\\\\'), '|', '\\|')";
        else if (!pg && in(ty, my_text))
            pre = "REPLACE(REPLACE(CONVERT(", post = " USING utf8mb4), '\\\\', '\\\\\\\\'), '|', '\\\\|')";
        break;
    case SL_CK_UUID:
        if (pg && !strcmp(ty, "uuid")) pre = "", post = "::text";
        else if (!pg && (in(ty, my_text) || !strcmp(ty, "uuid"))) pre = "LOWER(CONVERT(", post = " USING utf8mb4))";
        break;
    case SL_CK_BYTES:
        if (pg && !strcmp(ty, "bytea")) pre = "encode(", post = ", 'hex')";
        else if (!pg && in(ty, my_bytes)) pre = "LOWER(HEX(", post = "))";
        break;
    case SL_CK_DATE:
        if (pg && !strcmp(ty, "date")) pre = "to_char(", post = ", 'YYYY-MM-DD')";
        else if (!pg && !strcmp(ty, "date")) pre = "DATE_FORMAT(", post = ", '%Y-%m-%d')";
        break;
    case SL_CK_TS:
    case SL_CK_TSTZ: /* the session's time zone is UTC on both (vread_side_begin) */
        if (pg && !strcmp(ty, c->kind == SL_CK_TS ? "timestamp without time zone" : "timestamp with time zone"))
            pre = "to_char(", post = ", 'YYYY-MM-DD HH24:MI:SS.US')";
        else if (!pg && in(ty, my_times)) pre = "DATE_FORMAT(", post = ", '%Y-%m-%d %H:%i:%s.%f')";
        break;
    case SL_CK_TIME:
        if (pg && !strcmp(ty, "time without time zone")) pre = "to_char(", post = ", 'HH24:MI:SS.US')";
        else if (!pg && !strcmp(ty, "time")) pre = "TIME_FORMAT(", post = ", '%H:%i:%s.%f')";
        break;
    default: break;
    }
    if (!pre) return false;
    sl_buf_puts(b, pg ? ", coalesce(" : ", COALESCE(");
    sl_buf_puts(b, pre);
    sl_buf_puts(b, "sluice_t.");
    put_ident(b, c->name, pg);
    sl_buf_puts(b, post);
    if (c->kind == SL_CK_DATE || c->kind == SL_CK_TIME || c->kind == SL_CK_TS || c->kind == SL_CK_TSTZ) {
        /* a value the format gives no text for (infinity, a zero date): its own text, never \N */
        sl_buf_puts(b, pg ? ", sluice_t." : ", CAST(sluice_t.");
        put_ident(b, c->name, pg);
        sl_buf_puts(b, pg ? "::text" : " AS CHAR)");
    }
    sl_buf_puts(b, pg ? ", '\\N')" : ", '\\\\N')");
    return true;
}

/* The normal forms of t's columns for put_row_hash, kept in s for t's later ranges: 0, 1 when a column has none
 * here (s->norm empty), -1 with errstr. */
static int norm_cols(vread_side *s, const sl_vtable *t, char *errstr, size_t errsz) {
    char id[400];
    snprintf(id, sizeof id, "%s.%s.%d", t->schema, t->table, t->ncols);
    if (s->norm_of && !strcmp(s->norm_of, id)) return s->norm.len ? 0 : 1;
    sl_free(s->norm_of);
    s->norm_of = sl_strdup(id);
    sl_buf_reset(&s->norm);
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "SELECT column_name, data_type, coalesce(numeric_scale, -1) FROM information_schema.columns "
                   "WHERE table_schema = ");
    if (t->schema[0]) put_literal(&b, s->conn, s->pg, t->schema, strlen(t->schema));
    else sl_buf_puts(&b, s->pg ? "current_schema()" : "DATABASE()");
    sl_buf_puts(&b, " AND table_name = ");
    put_literal(&b, s->conn, s->pg, t->table, strlen(t->table));
    char(*types)[64] = sl_calloc((size_t)t->ncols + 1, sizeof *types);
    int *scales = sl_calloc((size_t)t->ncols + 1, sizeof *scales);
    int rc = 0;
    PGresult *r = NULL;
    MYSQL_RES *res = NULL;
    if (s->pg) {
        rc = pg_run(s->conn, sl_buf_cstr(&b), "reading the column types", &r, errstr, errsz);
        for (int i = 0; rc == 0 && i < PQntuples(r); i++)
            for (int c = 0; c < t->ncols; c++)
                if (!strcmp(PQgetvalue(r, i, 0), t->cols[c].name)) {
                    snprintf(types[c], sizeof types[c], "%s", PQgetvalue(r, i, 1));
                    scales[c] = atoi(PQgetvalue(r, i, 2));
                }
    } else if (mysql_real_query(s->conn, b.data, b.len) == 0 && (res = mysql_store_result(s->conn))) {
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)))
            for (int c = 0; c < t->ncols; c++)
                if (row[0] && row[1] && row[2] && !strcasecmp(row[0], t->cols[c].name)) {
                    snprintf(types[c], sizeof types[c], "%s", row[1]);
                    scales[c] = atoi(row[2]);
                }
    } else {
        snprintf(errstr, errsz, "MariaDB/MySQL: reading the column types: %s", mysql_error(s->conn));
        rc = -1;
    }
    PQclear(r);
    if (res) mysql_free_result(res);
    sl_buf_free(&b);
    int version = s->pg ? PQserverVersion(s->conn) : 0;
    for (int c = 0; rc == 0 && c < t->ncols; c++)
        if (!put_norm_col(&s->norm, &t->cols[c], types[c], scales[c], s->pg, version)) rc = 1;
    sl_free(types);
    sl_free(scales);
    if (rc) sl_buf_reset(&s->norm);
    if (rc < 0) sl_free(s->norm_of), s->norm_of = NULL;
    return rc;
}

int vread_side_range_hash(sl_vside *v, const sl_vtable *t, bool norm, const char *lo, const char *hi, long long *count,
                          char *sum, size_t sumsz, char *min, char *max, size_t msz, char *errstr, size_t errsz) {
    vread_side *s = (vread_side *)v;
    vread_side_end(s);
    if (norm) {
        int n = norm_cols(s, t, errstr, errsz);
        if (n) return n;
    }
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "SELECT count(*), coalesce(sum(");
    put_row_hash(&b, t, s->pg, norm ? sl_buf_cstr(&s->norm) : NULL);
    const char *as_text = s->pg && t->cols[0].kind != SL_CK_INT ? "::text" : ""; /* uuid has no min() */
    sl_buf_puts(&b, "), 0), min(sluice_t.");
    put_ident(&b, t->cols[0].name, s->pg);
    sl_buf_printf(&b, "%s), max(sluice_t.", as_text);
    put_ident(&b, t->cols[0].name, s->pg);
    sl_buf_printf(&b, "%s) FROM ", as_text);
    if (t->schema[0]) {
        put_ident(&b, t->schema, s->pg);
        sl_buf_putc(&b, '.');
    }
    put_ident(&b, t->table, s->pg);
    sl_buf_puts(&b, " AS sluice_t");
    const char *range[2] = {lo, hi};
    put_range(&b, t, s->pg, range);
    const char *vals[4] = {NULL};
    int rc = -1;
    PGresult *r = NULL;
    MYSQL_RES *res = NULL;
    if (s->pg) {
        if (pg_run(s->conn, sl_buf_cstr(&b), "hashing a key range", &r, errstr, errsz) == 0 && PQntuples(r) == 1) {
            for (int i = 0; i < 4; i++) vals[i] = PQgetisnull(r, 0, i) ? NULL : PQgetvalue(r, 0, i);
            rc = 0;
        }
    } else if (mysql_real_query(s->conn, b.data, b.len) == 0 && (res = mysql_store_result(s->conn))) {
        MYSQL_ROW row = mysql_fetch_row(res);
        if (row) {
            for (int i = 0; i < 4; i++) vals[i] = row[i];
            rc = 0;
        }
    } else {
        snprintf(errstr, errsz, "MariaDB/MySQL: hashing a key range: %s", mysql_error(s->conn));
    }
    if (rc == 0) {
        *count = vals[0] ? strtoll(vals[0], NULL, 10) : 0;
        snprintf(sum, sumsz, "%s", vals[1] ? vals[1] : "0");
        snprintf(min, msz, "%s", vals[2] ? vals[2] : "");
        snprintf(max, msz, "%s", vals[3] ? vals[3] : "");
    }
    PQclear(r);
    if (res) mysql_free_result(res);
    sl_buf_free(&b);
    return rc;
}

int vread_side_query(sl_vside *v, const char *q, char *errstr, size_t errsz) {
    vread_side *s = (vread_side *)v;
    vread_side_end(s);
    vread *r = sl_calloc(1, sizeof *r);
    r->rows_json = true;
    sl_buf_init(&r->row);
    r->vals = sl_calloc(1, sizeof *r->vals);
    r->lens = sl_calloc(1, sizeof *r->lens);
    if (s->pg) { /* a cursor in the READ ONLY snapshot: a statement that writes fails */
        sl_buf b;
        sl_buf_init(&b);
        sl_buf_printf(&b, "DECLARE sluice_verify NO SCROLL CURSOR FOR %s", q);
        r->pg = s->conn;
        int rc = pg_run(s->conn, sl_buf_cstr(&b), "running the query", NULL, errstr, errsz);
        sl_buf_free(&b);
        if (rc < 0) {
            r->pg = NULL;
            vread_end(r);
            return -1;
        }
    } else {
        MYSQL *m = s->conn;
        r->my = m;
        r->mres = mysql_real_query(m, q, strlen(q)) == 0 ? mysql_use_result(m) : NULL;
        if (!r->mres) {
            snprintf(errstr, errsz, "MariaDB/MySQL: running the query: %s", mysql_errno(m) ? mysql_error(m)
                                                                                       : "it returns no rows");
            vread_end(r);
            return -1;
        }
        r->ncols = (int)mysql_num_fields(r->mres);
    }
    s->scan = r;
    return 0;
}

int vread_side_refresh(sl_vside *v, char *errstr, size_t errsz) {
    vread_side *s = (vread_side *)v;
    vread_side_end(s);
    if (s->pg) {
        PGresult *r = PQexec(s->conn, "COMMIT");
        PQclear(r);
    } else {
        mysql_query(s->conn, "COMMIT");
    }
    return vread_side_begin(s, errstr, errsz);
}

/* The conflict resolution's writes (core/vside.h write), each in a transaction of its own between two snapshots. A
 * MariaDB touch cannot be had: it does not log an update that changes nothing. */
long vread_side_write(sl_vside *v, const sl_vtable *t, int op, const char *const *cols, const char *const *vals,
                      const size_t *lens, int n, const char *origin, char *errstr, size_t errsz) {
    vread_side *s = (vread_side *)v;
    if (op == SL_VWRITE_TOUCH && !s->pg) {
        snprintf(errstr, errsz, "MariaDB/MySQL: %s.%s: a row cannot be written again unchanged (the binlog leaves "
                                "out an update that changes nothing)", t->schema, t->table);
        return -1;
    }
    if (n < 1) {
        snprintf(errstr, errsz, "%s: no columns to find the rows by", t->table);
        return -1;
    }
    vread_side_end(s);
    sl_buf q, lit;
    sl_buf_init(&q), sl_buf_init(&lit);
    sl_buf_puts(&q, op == SL_VWRITE_TOUCH ? "UPDATE " : "DELETE FROM ");
    if (t->schema[0]) put_ident(&q, t->schema, s->pg), sl_buf_putc(&q, '.');
    put_ident(&q, t->table, s->pg);
    if (op == SL_VWRITE_TOUCH) { /* the first column set to itself: a new row version, logged */
        sl_buf_puts(&q, " SET ");
        put_ident(&q, cols[0], s->pg);
        sl_buf_puts(&q, " = ");
        put_ident(&q, cols[0], s->pg);
    }
    for (int i = 0; i < n; i++) {
        sl_buf_puts(&q, i ? " AND " : " WHERE ");
        put_ident(&q, cols[i], s->pg);
        if (!vals[i]) {
            sl_buf_puts(&q, " IS NULL");
            continue;
        }
        sl_buf_puts(&q, " = ");
        put_literal(&q, s->conn, s->pg, vals[i], lens[i]);
    }
    long matched = -1;
    if (s->pg) {
        PGconn *c = s->conn;
        PQclear(PQexec(c, "COMMIT")); /* the snapshot's */
        sl_buf_reset(&lit);
        int rc = 0;
        if (origin) {
            char *o = PQescapeLiteral(c, origin, strlen(origin));
            sl_buf_printf(&lit, "SELECT pg_replication_origin_create(%s) WHERE NOT EXISTS (SELECT FROM "
                                "pg_replication_origin WHERE roname = %s); SELECT pg_replication_origin_session_setup(%s)",
                          o, o, o);
            PQfreemem(o);
            rc = pg_run(c, sl_buf_cstr(&lit), "setting the replication origin", NULL, errstr, errsz);
        }
        PGresult *r = NULL;
        if (rc == 0) rc = pg_run(c, "BEGIN", "BEGIN", NULL, errstr, errsz);
        if (rc == 0) rc = pg_run(c, sl_buf_cstr(&q), op == SL_VWRITE_TOUCH ? "UPDATE" : "DELETE", &r, errstr, errsz);
        if (rc == 0) matched = atol(PQcmdTuples(r));
        PQclear(r);
        if (rc == 0 && pg_run(c, "COMMIT", "COMMIT", NULL, errstr, errsz) < 0) matched = -1;
        if (rc < 0) PQclear(PQexec(c, "ROLLBACK"));
        if (origin) PQclear(PQexec(c, "SELECT pg_replication_origin_session_reset()"));
    } else {
        MYSQL *c = s->conn;
        mysql_query(c, "COMMIT");
        char set[96] = "";
        if (origin) snprintf(set, sizeof set, "SET SESSION server_id = %lld", strtoll(origin, NULL, 10));
        const char *what = "setting the session's server_id";
        if ((!*set || mysql_query(c, set) == 0) && (what = "START TRANSACTION", mysql_query(c, what) == 0) &&
            (what = "DELETE", mysql_real_query(c, q.data, q.len) == 0)) {
            matched = (long)mysql_affected_rows(c);
            if ((what = "COMMIT", mysql_query(c, what)) != 0) matched = -1;
        }
        if (matched < 0) {
            snprintf(errstr, errsz, "MariaDB/MySQL: %s: %s", what, mysql_error(c));
            mysql_query(c, "ROLLBACK");
        }
        if (*set) mysql_query(c, "SET SESSION server_id = @@GLOBAL.server_id");
    }
    sl_buf_free(&q), sl_buf_free(&lit);
    char e2[256];
    if (vread_side_begin(s, e2, sizeof e2) < 0 && matched >= 0) {
        snprintf(errstr, errsz, "%s", e2);
        matched = -1;
    }
    return matched;
}

int vread_side_next(sl_vside *v, const char *const **vals, const size_t **lens, char *errstr, size_t errsz) {
    return vread_next(((vread_side *)v)->scan, vals, lens, errstr, errsz);
}

const char *vread_side_position(sl_vside *v) { return ((vread_side *)v)->pos; }

void vread_side_end(vread_side *s) {
    vread_end(s->scan);
    s->scan = NULL;
}

void vread_side_close(vread_side *s) {
    vread_side_end(s);
    sl_buf_free(&s->norm);
    sl_free(s->norm_of);
    s->norm_of = NULL;
}
