/*
 * The SQL sink's PostgreSQL dialect: a segment's rows are copied (COPY text,
 * as the emitter renders them) into a temporary staging table with the
 * target's column types, then applied with one DELETE ... USING for the
 * deletes and one INSERT ... SELECT ... ON CONFLICT DO UPDATE for the rows
 * (per group of rows whose unchanged TOAST columns are the same: those
 * columns are left out of the group's SET list). Rows created in the
 * transaction are first copied straight into the target (pg_fresh).
 */
#include "sink/sql_int.h"
#include "core/log.h"
#include "util/mem.h"
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_CHUNK (256 * 1024)

static void notice(void *arg, const char *msg) {
    char m[512];
    snprintf(m, sizeof m, "%s", msg);
    m[strcspn(m, "\n")] = 0;
    SL_DEBUG("sql", "server notice: %s", m);
}

static PGconn *conn(sql_sink *s) { return s->conn; }

/* The outcome of a failed statement: lost connections, serialization failures, deadlocks and an
 * administrator's shutdown are worth a new try. */
static int failure(sql_sink *s, PGresult *r, const char *what, char *err, size_t errsz) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(conn(s)));
    for (char *p = msg; *p; p++)
        if (*p == '\n') *p = *(p + 1) ? ' ' : 0;
    snprintf(err, errsz, "PostgreSQL: %s: %s%s%s", what, msg, state ? " (SQLSTATE " : "", state ? state : "");
    if (state) snprintf(err + strlen(err), errsz - strlen(err), ")");
    bool retry = PQstatus(conn(s)) == CONNECTION_BAD ||
                 (state && (!strncmp(state, "08", 2) || !strcmp(state, "40001") || !strcmp(state, "40P01") ||
                            !strncmp(state, "57P0", 4) || !strcmp(state, "53300")));
    if (r) PQclear(r);
    return retry ? SQL_RETRY : SQL_REFUSED;
}

static int pg_connect_(sql_sink *s, char *err, size_t errsz) {
    const sql_conf *c = s->conf;
    char port[16], user[256], pw[512], p[6][512];
    snprintf(port, sizeof port, "%d", c->port);
    const char *u = *c->user ? c->user : sql_url_param(c, "user", user, sizeof user);
    const char *pass = *c->password ? c->password : sql_url_param(c, "password", pw, sizeof pw);
    const char *keys[16] = {"host", "port", "dbname", "user", "password", "application_name", "connect_timeout"};
    const char *vals[16] = {c->host, port, c->db, u ? u : "", pass ? pass : "", "sluice-sink", "10"};
    int n = 7;
    static const char *const tls[] = {"sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "options"};
    for (int i = 0; i < 6; i++)
        if (sql_url_param(c, tls[i], p[i], sizeof p[i])) keys[n] = tls[i], vals[n++] = p[i];
    keys[n] = vals[n] = NULL;
    PGconn *pc = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(pc) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pc ? PQerrorMessage(pc) : "out of memory");
        msg[strcspn(msg, "\n")] = 0;
        snprintf(err, errsz, "cannot connect to PostgreSQL at %s:%s database %s as %s (connection.url, "
                             "connection.username, connection.password): %s", c->host, port, c->db, u ? u : "", msg);
        PQfinish(pc);
        return SQL_RETRY;
    }
    PQsetNoticeProcessor(pc, notice, NULL);
    s->conn = pc;
    s->conn_gen++;
    sl_buf *b = &s->sql;
    sl_buf_reset(b);
    sl_buf_puts(b, "SET DateStyle = ISO; SET IntervalStyle = postgres; SET client_encoding = 'UTF8'; "
                   "SET standard_conforming_strings = on; SET TimeZone = ");
    char *tz = PQescapeLiteral(pc, c->time_zone && *c->time_zone ? c->time_zone : "UTC", strlen(c->time_zone ? c->time_zone : "UTC"));
    sl_buf_puts(b, tz ? tz : "'UTC'");
    PQfreemem(tz);
    PGresult *r = PQexec(pc, sl_buf_cstr(b));
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        int rc = failure(s, r, "session settings (use.time.zone)", err, errsz);
        PQfinish(pc);
        s->conn = NULL;
        return rc == SQL_RETRY ? SQL_RETRY : SQL_REFUSED;
    }
    PQclear(r);
    if (c->origin && *c->origin && !s->reader) {
        /* the session's transactions carry the origin (pgoutput's Origin message names it to decoders) */
        const char *pv[1] = {c->origin};
        r = PQexecParams(pc,
                         "SELECT pg_replication_origin_create($1) WHERE NOT EXISTS "
                         "(SELECT 1 FROM pg_replication_origin WHERE roname = $1)",
                         1, NULL, pv, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            PQclear(r);
            r = PQexecParams(pc, "SELECT pg_replication_origin_session_setup($1)", 1, NULL, pv, NULL, NULL, 0);
        }
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            int rc = failure(s, r, "replication.origin.name (the origin of the sink's session)", err, errsz);
            PQfinish(pc);
            s->conn = NULL;
            return rc == SQL_RETRY ? SQL_RETRY : SQL_REFUSED;
        }
        PQclear(r);
    }
    return SQL_OK;
}

static void pg_disconnect(sql_sink *s) {
    if (s->conn) PQfinish(s->conn);
    s->conn = NULL;
}

static int pg_exec(sql_sink *s, const char *sql, char *err, size_t errsz) {
    PGresult *r = PQexec(conn(s), sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(r);
        return SQL_OK;
    }
    char what[96];
    snprintf(what, sizeof what, "%.80s", sql);
    return failure(s, r, what, err, errsz);
}

static int pg_query1(sql_sink *s, const char *q, char **out, char *err, size_t errsz) {
    *out = NULL;
    PGresult *r = PQexec(conn(s), q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return failure(s, r, "reading the offsets table", err, errsz);
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) *out = sl_strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return SQL_OK;
}

static int pg_columns(sql_sink *s, const tname *t, tcol **out, int *n, char *err, size_t errsz) {
    const char *params[2] = {t->schema, t->table};
    PGresult *r = PQexecParams(conn(s),
                               "SELECT column_name, lower(data_type), coalesce(character_maximum_length, -1), is_nullable, "
                               "EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
                               "a.attnum = ANY (i.indkey) WHERE i.indisprimary AND i.indrelid = (quote_ident(c.table_schema) "
                               "|| '.' || quote_ident(c.table_name))::regclass AND a.attname = c.column_name), "
                               "coalesce(numeric_scale, datetime_precision, -1) "
                               "FROM information_schema.columns c WHERE table_schema = coalesce(nullif($1, ''), "
                               "current_schema()) AND table_name = $2 ORDER BY ordinal_position",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return failure(s, r, "reading the target's columns", err, errsz);
    *n = PQntuples(r);
    *out = sl_calloc((size_t)(*n ? *n : 1), sizeof **out);
    for (int i = 0; i < *n; i++) {
        (*out)[i].name = sl_strdup(PQgetvalue(r, i, 0));
        (*out)[i].type = sl_strdup(PQgetvalue(r, i, 1));
        (*out)[i].length = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        (*out)[i].nullable = strcmp(PQgetvalue(r, i, 3), "YES") == 0;
        (*out)[i].pk = strcmp(PQgetvalue(r, i, 4), "t") == 0;
        (*out)[i].scale = (int)strtol(PQgetvalue(r, i, 5), NULL, 10);
    }
    PQclear(r);
    return SQL_OK;
}

/* The staging table's name for g's target and layout. */
static void stage_name(const seg *g, char *out, size_t outsz) {
    uint64_t h = 1469598103934665603ULL;
    const char *parts[2] = {g->name.schema, g->name.table};
    for (int k = 0; k < 2; k++)
        for (const char *p = parts[k]; ; p++) {
            h = (h ^ (uint8_t)*p) * 1099511628211ULL;
            if (!*p) break;
        }
    for (int i = 0; i < g->ncols; i++) {
        for (const char *p = g->cols[i].name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ULL;
        h = (h ^ (uint64_t)(g->cols[i].kind + 256)) * 1099511628211ULL;
    }
    snprintf(out, outsz, "sluice_stage_%016llx", (unsigned long long)h);
}

static void put_cols(sl_buf *b, sql_sink *s, const seg *g, const uint8_t *skip, const char *prefix) {
    bool first = true;
    for (int i = 0; i < g->ncols; i++) {
        if (skip && (skip[i / 8] >> (i % 8)) & 1) continue;
        if (!first) sl_buf_puts(b, ", ");
        first = false;
        if (prefix) sl_buf_puts(b, prefix);
        sql_put_ident(b, s, g->cols[i].name);
    }
}

/* Sends the rows through COPY: into the staging table (all rows this apply writes, with their op and group), or
 * with direct, straight into the target (the fresh upserted rows, their columns only). */
static int copy_rows(sql_sink *s, seg *g, const char *stage, bool direct, char *err, size_t errsz) {
    sl_buf *b = &s->sql;
    sl_buf_reset(b);
    sl_buf_puts(b, "COPY ");
    if (direct) sql_put_table(b, s, &g->name);
    else sl_buf_puts(b, stage);
    sl_buf_puts(b, " (");
    put_cols(b, s, g, NULL, NULL);
    sl_buf_puts(b, direct ? ") FROM STDIN" : ", __sluice_op, __sluice_grp) FROM STDIN");
    PGresult *r = PQexec(conn(s), sl_buf_cstr(b));
    if (PQresultStatus(r) != PGRES_COPY_IN) return failure(s, r, "COPY of the rows", err, errsz);
    PQclear(r);
    sl_buf_reset(b);
    bool ok = true;
    for (size_t i = 0; i < g->nrows && ok; i++) {
        const srow *w = &g->rows[i];
        if (srow_skip(w) || (direct && !w->fresh)) continue;
        int nvals = w->op == 'd' ? g->nkeys : g->ncols;
        for (int c = 0; c < g->ncols; c++) {
            if (c) sl_buf_putc(b, '\t');
            size_t n;
            if (c >= nvals || srow_unchanged(w, c)) sl_buf_puts(b, "\\N");
            else {
                const char *v = srow_val(w, c, &n);
                sl_buf_put(b, v, n);
            }
        }
        if (direct) sl_buf_putc(b, '\n');
        else sl_buf_printf(b, "\t%c\t%u\n", w->op, w->grp);
        if (b->len >= COPY_CHUNK) {
            ok = PQputCopyData(conn(s), b->data, (int)b->len) == 1;
            sl_buf_reset(b);
        }
    }
    if (ok && b->len) ok = PQputCopyData(conn(s), b->data, (int)b->len) == 1;
    sl_buf_reset(b);
    if (PQputCopyEnd(conn(s), ok ? NULL : "sluice: sending failed") != 1) ok = false;
    r = PQgetResult(conn(s));
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK && ok ? SQL_OK : failure(s, r, "COPY of the rows", err, errsz);
    if (rc == SQL_OK) PQclear(r);
    while ((r = PQgetResult(conn(s)))) PQclear(r);
    return rc;
}

/* The fresh rows straight into the target (the generic part wraps this in a savepoint). */
static int pg_fresh(sql_sink *s, seg *g, char *err, size_t errsz) { return copy_rows(s, g, NULL, true, err, errsz); }

static int pg_apply(sql_sink *s, seg *g, char *err, size_t errsz) {
    char stage[64];
    stage_name(g, stage, sizeof stage);
    /* groups of rows with the same unchanged columns (0: none) */
    const uint8_t **masks = NULL;
    uint32_t nmasks = 0;
    size_t mb = (size_t)(g->ncols + 7) / 8;
    bool dels = false, ups = false;
    for (size_t i = 0; i < g->nrows; i++) {
        srow *w = &g->rows[i];
        if (srow_skip(w)) continue;
        if (w->op == 'd') {
            dels = true;
            continue;
        }
        ups = true;
        w->grp = 0;
        if (!w->unchanged || seg_ins(s, g) == INS_INSERT) continue;
        uint32_t k = 0;
        while (k < nmasks && memcmp(masks[k], w->unchanged, mb)) k++;
        if (k == nmasks) {
            masks = sl_realloc(masks, (nmasks + 1) * sizeof *masks);
            masks[nmasks++] = w->unchanged;
        }
        w->grp = k + 1;
    }
    if (!dels && !ups) {
        sl_free(masks);
        return SQL_OK;
    }
    sl_buf *b = &s->sql;
    sl_buf_reset(b);
    /* dropped at commit: the next transaction's copy has the target's column types of then (after a widening) */
    sl_buf_printf(b, "CREATE TEMP TABLE IF NOT EXISTS %s ON COMMIT DROP AS SELECT ", stage);
    put_cols(b, s, g, NULL, NULL);
    sl_buf_puts(b, ", NULL::\"char\" AS __sluice_op, 0 AS __sluice_grp FROM ");
    sql_put_table(b, s, &g->name);
    sl_buf_printf(b, " WITH NO DATA; TRUNCATE %s", stage);
    int rc = pg_exec(s, sl_buf_cstr(b), err, errsz);
    if (rc == SQL_OK) rc = copy_rows(s, g, stage, false, err, errsz);
    if (rc == SQL_OK && dels) {
        sl_buf_reset(b);
        sl_buf_puts(b, "DELETE FROM ");
        sql_put_table(b, s, &g->name);
        sl_buf_printf(b, " AS t USING %s AS s WHERE s.__sluice_op = 'd'", stage);
        for (int i = 0; i < g->nkeys; i++) {
            sl_buf_puts(b, " AND t.");
            sql_put_ident(b, s, g->cols[i].name);
            sl_buf_puts(b, " = s.");
            sql_put_ident(b, s, g->cols[i].name);
        }
        rc = pg_exec(s, sl_buf_cstr(b), err, errsz);
    }
    for (uint32_t grp = 0; rc == SQL_OK && ups && grp <= nmasks; grp++) {
        const uint8_t *skip = grp ? masks[grp - 1] : NULL;
        sl_buf_reset(b);
        if (seg_ins(s, g) == INS_UPDATE) {
            sl_buf_puts(b, "UPDATE ");
            sql_put_table(b, s, &g->name);
            sl_buf_puts(b, " AS t SET ");
            bool first = true;
            for (int i = g->nkeys; i < g->ncols; i++) {
                if (skip && (skip[i / 8] >> (i % 8)) & 1) continue;
                if (!first) sl_buf_puts(b, ", ");
                first = false;
                sql_put_ident(b, s, g->cols[i].name);
                sl_buf_puts(b, " = s.");
                sql_put_ident(b, s, g->cols[i].name);
            }
            if (first) continue; /* nothing to set */
            sl_buf_printf(b, " FROM %s AS s WHERE s.__sluice_op = 'u' AND s.__sluice_grp = %u", stage, grp);
            for (int i = 0; i < g->nkeys; i++) {
                sl_buf_puts(b, " AND t.");
                sql_put_ident(b, s, g->cols[i].name);
                sl_buf_puts(b, " = s.");
                sql_put_ident(b, s, g->cols[i].name);
            }
        } else {
            sl_buf_puts(b, "INSERT INTO ");
            sql_put_table(b, s, &g->name);
            sl_buf_puts(b, " (");
            put_cols(b, s, g, skip, NULL);
            sl_buf_puts(b, ") SELECT ");
            put_cols(b, s, g, skip, NULL);
            sl_buf_printf(b, " FROM %s WHERE __sluice_op = 'u' AND __sluice_grp = %u", stage, grp);
            if (seg_ins(s, g) == INS_UPSERT && g->nkeys) {
                sl_buf_puts(b, " ON CONFLICT (");
                for (int i = 0; i < g->nkeys; i++) {
                    if (i) sl_buf_puts(b, ", ");
                    sql_put_ident(b, s, g->cols[i].name);
                }
                sl_buf_puts(b, ") DO ");
                bool first = true;
                for (int i = g->nkeys; i < g->ncols; i++) {
                    if (skip && (skip[i / 8] >> (i % 8)) & 1) continue;
                    sl_buf_puts(b, first ? "UPDATE SET " : ", ");
                    first = false;
                    sql_put_ident(b, s, g->cols[i].name);
                    sl_buf_puts(b, " = EXCLUDED.");
                    sql_put_ident(b, s, g->cols[i].name);
                }
                if (first) sl_buf_puts(b, "NOTHING");
            }
        }
        rc = pg_exec(s, sl_buf_cstr(b), err, errsz);
    }
    sl_free(masks);
    return rc;
}

const sql_dialect sql_pg_dialect = {pg_connect_, pg_disconnect, pg_exec, pg_query1, pg_columns, pg_fresh, pg_apply};
