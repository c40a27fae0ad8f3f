/*
 * The SQL sink's MariaDB/MySQL dialect: multi-row DELETE ... WHERE key IN
 * (...) and INSERT ... VALUES (...), (...) ON DUPLICATE KEY UPDATE
 * c = VALUES(c) (which MariaDB and MySQL both take), batch.size rows per
 * statement. Rows whose unchanged TOAST columns are the same are inserted
 * together without those columns.
 */
#include "sink/sql_int.h"
#include "core/log.h"
#include "util/mem.h"
#include <mysql.h>
#include <errmsg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STMT_BYTES (4 * 1024 * 1024) /* a statement is cut before this size (max_allowed_packet is 16 MiB) */

static MYSQL *conn(sql_sink *s) { return s->conn; }

static bool retriable(unsigned e) {
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR ||
           e == 2055 /* lost at reading */ || e == 1213 /* deadlock */ || e == 1205 /* lock wait timeout */ ||
           e == 1927 /* connection killed */ || e == 4031 /* disconnected for inactivity */ || e == 1053 /* shutdown */;
}

static int failure(sql_sink *s, const char *what, char *err, size_t errsz) {
    unsigned e = mysql_errno(conn(s));
    snprintf(err, errsz, "MariaDB/MySQL: %s: %s (error %u)", what, mysql_error(conn(s)), e);
    return retriable(e) ? SQL_RETRY : SQL_REFUSED;
}

static int my_exec(sql_sink *s, const char *sql, char *err, size_t errsz) {
    if (mysql_real_query(conn(s), sql, strlen(sql)) != 0) {
        char what[96];
        snprintf(what, sizeof what, "%.80s", sql);
        return failure(s, what, err, errsz);
    }
    MYSQL_RES *r = mysql_store_result(conn(s));
    mysql_free_result(r);
    return SQL_OK;
}

static int my_connect_(sql_sink *s, char *err, size_t errsz) {
    const sql_conf *c = s->conf;
    char user[256], pw[512], mode[64], ca[1024], use_ssl[16];
    const char *u = *c->user ? c->user : sql_url_param(c, "user", user, sizeof user);
    const char *pass = *c->password ? c->password : sql_url_param(c, "password", pw, sizeof pw);
    MYSQL *m = mysql_init(NULL);
    unsigned timeout = 10;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* TLS: MariaDB's sslMode / useSSL / serverSslCert, MySQL's sslMode values */
    const char *sm = sql_url_param(c, "sslMode", mode, sizeof mode);
    const char *cafile = sql_url_param(c, "serverSslCert", ca, sizeof ca);
    if (!cafile) cafile = sql_url_param(c, "sslca", ca, sizeof ca);
    bool ssl = (sm && strcasecmp(sm, "disable") && strcasecmp(sm, "disabled") && strcasecmp(sm, "preferred")) ||
               (sql_url_param(c, "useSSL", use_ssl, sizeof use_ssl) && !strcasecmp(use_ssl, "true"));
    if (ssl) {
        my_bool on = 1, verify = sm && (!strcasecmp(sm, "verify-ca") || !strcasecmp(sm, "verify-full") ||
                                        !strcasecmp(sm, "verify_ca") || !strcasecmp(sm, "verify_identity"));
        mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
        mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
        if (cafile) mysql_optionsv(m, MYSQL_OPT_SSL_CA, cafile);
    }
    if (!mysql_real_connect(m, c->host, u ? u : "", pass ? pass : "", *c->db ? c->db : NULL, (unsigned)c->port, NULL,
                            CLIENT_FOUND_ROWS)) {
        snprintf(err, errsz, "cannot connect to MariaDB/MySQL at %s:%d database %s as %s (connection.url, "
                             "connection.username, connection.password): %s", c->host, c->port, c->db, u ? u : "",
                 mysql_error(m));
        unsigned e = mysql_errno(m);
        mysql_close(m);
        return e == 1045 || e == 1044 || e == 1049 ? SQL_REFUSED : SQL_RETRY;
    }
    s->conn = m;
    s->conn_gen++;
    /* Strict: a value the column cannot hold is an error, not a silent truncation; NO_AUTO_VALUE_ON_ZERO: an id 0
     * from the source stays 0; backslash escapes on (the emitter's literals use them). */
    sl_buf *b = &s->sql;
    sl_buf_reset(b);
    const char *tz = c->time_zone && *c->time_zone && strcasecmp(c->time_zone, "UTC") ? c->time_zone : "+00:00";
    sl_buf_puts(b, "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,"
                   "NO_AUTO_VALUE_ON_ZERO', time_zone = ");
    char q[256];
    mysql_real_escape_string(m, q, tz, (unsigned long)strnlen(tz, 100));
    sl_buf_printf(b, "'%s'", q);
    if (c->server_id && !s->reader)
        sl_buf_printf(b, ", server_id = %lld", (long long)c->server_id); /* replication.server.id */
    int rc = my_exec(s, sl_buf_cstr(b), err, errsz);
    if (rc != SQL_OK) {
        snprintf(err + strlen(err), errsz - strlen(err), c->server_id ? " (use.time.zone, replication.server.id)"
                                                                       : " (use.time.zone)");
        mysql_close(m);
        s->conn = NULL;
    }
    return rc;
}

static void my_disconnect(sql_sink *s) {
    if (s->conn) mysql_close(s->conn);
    s->conn = NULL;
}

static void put_lit(sl_buf *b, MYSQL *m, const char *v) {
    size_t n = strlen(v);
    char *q = sl_malloc(2 * n + 1);
    mysql_real_escape_string(m, q, v, (unsigned long)n);
    sl_buf_printf(b, "'%s'", q);
    sl_free(q);
}

static int my_query1(sql_sink *s, const char *q, char **out, char *err, size_t errsz) {
    *out = NULL;
    if (mysql_real_query(conn(s), q, strlen(q)) != 0) return failure(s, "reading the offsets table", err, errsz);
    MYSQL_RES *r = mysql_store_result(conn(s));
    if (!r) return failure(s, "reading the offsets table", err, errsz);
    MYSQL_ROW row = mysql_fetch_row(r);
    if (row && row[0]) *out = sl_strdup(row[0]);
    mysql_free_result(r);
    return SQL_OK;
}

static int my_columns(sql_sink *s, const tname *t, tcol **out, int *n, char *err, size_t errsz) {
    sl_buf *b = &s->scratch;
    sl_buf_reset(b);
    sl_buf_puts(b, "SELECT column_name, lower(data_type), coalesce(character_maximum_length, -1), is_nullable, column_key, "
                   "coalesce(numeric_scale, datetime_precision, -1) FROM "
                   "information_schema.columns WHERE table_schema = ");
    if (t->schema[0]) put_lit(b, conn(s), t->schema);
    else sl_buf_puts(b, "DATABASE()");
    sl_buf_puts(b, " AND table_name = ");
    put_lit(b, conn(s), t->table);
    sl_buf_puts(b, " ORDER BY ordinal_position");
    if (mysql_real_query(conn(s), b->data, b->len) != 0) return failure(s, "reading the target's columns", err, errsz);
    MYSQL_RES *r = mysql_store_result(conn(s));
    if (!r) return failure(s, "reading the target's columns", err, errsz);
    *n = (int)mysql_num_rows(r);
    *out = sl_calloc((size_t)(*n ? *n : 1), sizeof **out);
    MYSQL_ROW row;
    for (int i = 0; i < *n && (row = mysql_fetch_row(r)); i++) {
        (*out)[i].name = sl_strdup(row[0] ? row[0] : "");
        (*out)[i].type = sl_strdup(row[1] ? row[1] : "");
        (*out)[i].length = row[2] ? strtoll(row[2], NULL, 10) : -1;
        (*out)[i].nullable = row[3] && strcmp(row[3], "YES") == 0;
        (*out)[i].pk = row[4] && strcmp(row[4], "PRI") == 0;
        (*out)[i].scale = row[5] ? (int)strtol(row[5], NULL, 10) : -1;
    }
    mysql_free_result(r);
    return SQL_OK;
}

static bool skipped(const uint8_t *skip, int i) { return skip && (skip[i / 8] >> (i % 8)) & 1; }

static void put_tuple(sl_buf *b, const seg *g, const srow *w, int from, int to, const uint8_t *skip) {
    bool first = true;
    sl_buf_putc(b, '(');
    for (int i = from; i < to; i++) {
        if (skipped(skip, i)) continue;
        if (!first) sl_buf_putc(b, ',');
        first = false;
        size_t n;
        const char *v = srow_val(w, i, &n);
        sl_buf_put(b, v, n);
    }
    sl_buf_putc(b, ')');
}

static int deletes(sql_sink *s, seg *g, char *err, size_t errsz) {
    sl_buf *b = &s->sql;
    size_t i = 0;
    while (i < g->nrows) {
        sl_buf_reset(b);
        sl_buf_puts(b, "DELETE FROM ");
        sql_put_table(b, s, &g->name);
        /* one key column: a plain IN list (a one-column row constructor may not use the index) */
        sl_buf_puts(b, g->nkeys > 1 ? " WHERE (" : " WHERE ");
        for (int k = 0; k < g->nkeys; k++) {
            if (k) sl_buf_putc(b, ',');
            sql_put_ident(b, s, g->cols[k].name);
        }
        sl_buf_puts(b, g->nkeys > 1 ? ") IN (" : " IN (");
        int64_t n = 0;
        for (; i < g->nrows && n < s->conf->batch_size && b->len < STMT_BYTES; i++) {
            const srow *w = &g->rows[i];
            if (srow_skip(w) || w->op != 'd') continue;
            if (n++) sl_buf_putc(b, ',');
            if (g->nkeys > 1) put_tuple(b, g, w, 0, g->nkeys, NULL);
            else {
                size_t vn;
                const char *v = srow_val(w, 0, &vn);
                sl_buf_put(b, v, vn);
            }
        }
        if (!n) break;
        sl_buf_putc(b, ')');
        int rc = my_exec(s, sl_buf_cstr(b), err, errsz);
        if (rc != SQL_OK) return rc;
    }
    return SQL_OK;
}

static bool mask_eq(const uint8_t *a, const uint8_t *b, size_t n) {
    if (!a || !b) return a == b;
    return !memcmp(a, b, n);
}

/* Inserts (upserts) the rows whose unchanged mask is `mask`, without the columns it names; with fresh, the fresh
 * rows only, with plain INSERTs. */
static int inserts(sql_sink *s, seg *g, const uint8_t *mask, bool fresh, char *err, size_t errsz) {
    const sql_conf *c = s->conf;
    sl_buf *b = &s->sql;
    size_t mb = (size_t)(g->ncols + 7) / 8, i = 0;
    while (i < g->nrows) {
        sl_buf_reset(b);
        sl_buf_puts(b, "INSERT INTO ");
        sql_put_table(b, s, &g->name);
        sl_buf_puts(b, " (");
        bool first = true;
        for (int k = 0; k < g->ncols; k++) {
            if (skipped(mask, k)) continue;
            if (!first) sl_buf_putc(b, ',');
            first = false;
            sql_put_ident(b, s, g->cols[k].name);
        }
        sl_buf_puts(b, ") VALUES ");
        int64_t n = 0;
        for (; i < g->nrows && n < c->batch_size && b->len < STMT_BYTES; i++) {
            srow *w = &g->rows[i];
            if (srow_skip(w) || w->op != 'u' || !mask_eq(w->unchanged, mask, mb) || (fresh && !w->fresh)) continue;
            if (n++) sl_buf_putc(b, ',');
            put_tuple(b, g, w, 0, g->ncols, mask);
        }
        if (!n) break;
        if (seg_ins(s, g) == INS_UPSERT && g->nkeys && !fresh) {
            sl_buf_puts(b, " ON DUPLICATE KEY UPDATE ");
            bool any = false;
            for (int k = g->nkeys; k < g->ncols; k++) {
                if (skipped(mask, k)) continue;
                if (any) sl_buf_putc(b, ',');
                any = true;
                sql_put_ident(b, s, g->cols[k].name);
                sl_buf_puts(b, "=VALUES(");
                sql_put_ident(b, s, g->cols[k].name);
                sl_buf_putc(b, ')');
            }
            if (!any) { /* nothing but the key: keep the row */
                sql_put_ident(b, s, g->cols[0].name);
                sl_buf_putc(b, '=');
                sql_put_ident(b, s, g->cols[0].name);
            }
        }
        int rc = my_exec(s, sl_buf_cstr(b), err, errsz);
        if (rc != SQL_OK) return rc;
    }
    return SQL_OK;
}

static int updates(sql_sink *s, seg *g, char *err, size_t errsz) {
    sl_buf *b = &s->sql;
    for (size_t i = 0; i < g->nrows; i++) {
        const srow *w = &g->rows[i];
        if (srow_skip(w) || w->op != 'u') continue;
        sl_buf_reset(b);
        sl_buf_puts(b, "UPDATE ");
        sql_put_table(b, s, &g->name);
        sl_buf_puts(b, " SET ");
        bool any = false;
        for (int k = g->nkeys; k < g->ncols; k++) {
            if (srow_unchanged(w, k)) continue;
            if (any) sl_buf_putc(b, ',');
            any = true;
            sql_put_ident(b, s, g->cols[k].name);
            sl_buf_putc(b, '=');
            size_t n;
            const char *v = srow_val(w, k, &n);
            sl_buf_put(b, v, n);
        }
        if (!any) continue;
        sl_buf_puts(b, " WHERE ");
        for (int k = 0; k < g->nkeys; k++) {
            if (k) sl_buf_puts(b, " AND ");
            sql_put_ident(b, s, g->cols[k].name);
            sl_buf_putc(b, '=');
            size_t n;
            const char *v = srow_val(w, k, &n);
            sl_buf_put(b, v, n);
        }
        int rc = my_exec(s, sl_buf_cstr(b), err, errsz);
        if (rc != SQL_OK) return rc;
    }
    return SQL_OK;
}

static int my_fresh(sql_sink *s, seg *g, char *err, size_t errsz) { return inserts(s, g, NULL, true, err, errsz); }

static int my_apply(sql_sink *s, seg *g, char *err, size_t errsz) {
    int rc = SQL_OK;
    bool dels = false;
    for (size_t i = 0; i < g->nrows && !dels; i++) dels = !srow_skip(&g->rows[i]) && g->rows[i].op == 'd';
    if (dels && (rc = deletes(s, g, err, errsz)) != SQL_OK) return rc;
    if (seg_ins(s, g) == INS_UPDATE) return updates(s, g, err, errsz);
    /* each distinct unchanged mask once, in the order of first appearance (NULL: all columns) */
    size_t mb = (size_t)(g->ncols + 7) / 8;
    const uint8_t **done = NULL;
    size_t ndone = 0;
    for (size_t i = 0; i < g->nrows && rc == SQL_OK; i++) {
        const srow *w = &g->rows[i];
        if (srow_skip(w) || w->op != 'u') continue;
        size_t k = 0;
        while (k < ndone && !mask_eq(done[k], w->unchanged, mb)) k++;
        if (k < ndone) continue;
        done = sl_realloc(done, (ndone + 1) * sizeof *done);
        done[ndone++] = w->unchanged;
        rc = inserts(s, g, w->unchanged, false, err, errsz);
    }
    sl_free(done);
    return rc;
}

const sql_dialect sql_my_dialect = {my_connect_, my_disconnect, my_exec, my_query1, my_columns, my_fresh, my_apply};
