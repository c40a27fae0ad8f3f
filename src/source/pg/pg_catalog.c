/*
 * PostgreSQL source: connections, catalog look-ups and filters.
 *
 * Table schemas come from the catalog (primary key, nullability, custom
 * types: enums, domains, arrays of them) and, while streaming, are lined up
 * with the columns of pgoutput's Relation message, which is what the stream
 * actually carries.
 */
#include "core/log.h"
#include "source/pg/pg_int.h"
#include "source/pg/pgtypes.h"
#include "util/buf.h"
#include "util/mem.h"
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Server notices go to the log, not straight to stderr. */
static void notice(void *arg, const char *msg) {
    char m[1024];
    snprintf(m, sizeof m, "%s", msg);
    m[strcspn(m, "\n")] = 0;
    SL_DEBUG("pg", "server notice: %s", m);
}

PGconn *pg_connect(const pg_conf *cf, bool replication, int timeout_s, char *errstr, size_t errsz) {
    char port[16], timeout[16];
    snprintf(port, sizeof port, "%lld", (long long)cf->port);
    snprintf(timeout, sizeof timeout, "%d", timeout_s);
    const char *keys[] = {"host", "port", "user", "password", "dbname", "sslmode", "application_name",
                          "connect_timeout", replication ? "replication" : NULL, NULL};
    const char *vals[] = {cf->host, port, cf->user, cf->password ? cf->password : "", cf->dbname, cf->sslmode,
                          "sluice", timeout, "database", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", c ? PQerrorMessage(c) : "out of memory");
        msg[strcspn(msg, "\n")] = 0;
        snprintf(errstr, errsz, "cannot connect to PostgreSQL at %s:%s database %s as %s (database.hostname, "
                 "database.port, database.dbname, database.user, database.password): %s",
                 cf->host, port, cf->dbname, cf->user, msg);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, notice, NULL);
    if (!replication) {
        PGresult *r = PQexec(c, "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; "
                                "SET TimeZone = 'UTC'");
        PQclear(r);
    }
    return c;
}

PGresult *pg_query(PGconn *c, const char *what, const char *sql, int nparams, const char *const *params,
                   char *errstr, size_t errsz) {
    PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
    msg[strcspn(msg, "\n")] = 0;
    snprintf(errstr, errsz, "%s: %s", what, msg);
    PQclear(r);
    return NULL;
}

uint64_t pg_parse_lsn(const char *s) {
    unsigned hi = 0, lo = 0;
    if (!s || sscanf(s, "%X/%X", &hi, &lo) != 2) return 0;
    return ((uint64_t)hi << 32) | lo;
}

/* ---- filters ---- */

int pg_table_filter(sl_filter *f, const char *table_include, const char *table_exclude, const char *schema_include,
                    const char *schema_exclude, char *errstr, size_t errsz) {
    /* Table filter: schema lists narrow the table lists. */
    sl_buf tinc, texc;
    sl_buf_init(&tinc), sl_buf_init(&texc);
    if (table_include && *table_include) sl_buf_puts(&tinc, table_include);
    else if (schema_include && *schema_include) sl_buf_printf(&tinc, "(%s)\\.[^.]+", schema_include);
    if (table_exclude && *table_exclude) sl_buf_puts(&texc, table_exclude);
    if (schema_exclude && *schema_exclude) sl_buf_printf(&texc, "%s(%s)\\.[^.]+", texc.len ? "," : "", schema_exclude);
    int frc = sl_filter_init(f, tinc.len ? sl_buf_cstr(&tinc) : NULL, texc.len ? sl_buf_cstr(&texc) : NULL,
                             "table.include.list", "table.exclude.list", errstr, errsz);
    sl_buf_free(&tinc), sl_buf_free(&texc);
    return frc;
}

int pg_setup_filters(pg_source *s, char *errstr, size_t errsz) {
    const pg_conf *cf = s->cf;
    if (pg_table_filter(&s->tables, cf->table_include, cf->table_exclude, cf->schema_include, cf->schema_exclude,
                        errstr, errsz) < 0)
        return -1;
    if (sl_filter_init(&s->columns, cf->column_include, cf->column_exclude, "column.include.list",
                       "column.exclude.list", errstr, errsz) < 0 ||
        sl_filter_init(&s->msg_prefixes, cf->msg_prefix_include, cf->msg_prefix_exclude,
                       "message.prefix.include.list", "message.prefix.exclude.list", errstr, errsz) < 0)
        return -1;
    return 0;
}

/* ---- tables ---- */

int pg_list_tables(pg_source *s, uint32_t **oids, int *n, char *errstr, size_t errsz) {
    PGresult *r = pg_query(s->sql, "listing tables",
                           "SELECT c.oid, n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON"
                           " n.oid = c.relnamespace WHERE c.relkind IN ('r','p') AND NOT c.relispartition AND"
                           " n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
                           " ORDER BY (n.nspname || '.' || c.relname) COLLATE \"C\"",
                           0, NULL, errstr, errsz);
    if (!r) return -1;
    *n = 0;
    *oids = sl_calloc((size_t)PQntuples(r) + 1, sizeof **oids);
    /* Debezium's snapshot order (addSignalingCollectionAndSort): the tables of each include-list entry in
     * turn, each entry's sorted by name; a table counts under the first entry it matches. */
    for (int k = 0; k < (s->tables.ninc ? s->tables.ninc : 1); k++)
        for (int i = 0; i < PQntuples(r); i++) {
            const char *fq = PQgetvalue(r, i, 1);
            if (!sl_filter_match(&s->tables, fq)) continue;
            int first = 0;
            while (first < s->tables.ninc && regexec(&s->tables.inc[first], fq, 0, NULL, 0) != 0) first++;
            if (first == k || (s->tables.ninc == 0 && k == 0))
                (*oids)[(*n)++] = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        }
    /* An include-list entry that matches no table is almost always a typo: say so. */
    for (int k = 0; k < s->tables.ninc; k++) {
        bool hit = false;
        for (int i = 0; i < PQntuples(r) && !hit; i++) hit = regexec(&s->tables.inc[k], PQgetvalue(r, i, 1), 0, NULL, 0) == 0;
        if (!hit && !(s->cf->table_include && *s->cf->table_include)) {
            /* the include regex was made from schema.include.list */
            snprintf(errstr, errsz, "schema.include.list: '%s' holds no table in database %s",
                     s->cf->schema_include ? s->cf->schema_include : "", s->cf->dbname);
            sl_free(*oids);
            *oids = NULL;
            PQclear(r);
            return -1;
        }
        if (!hit) {
            char *list = sl_strdup(s->cf->table_include), *save = NULL, *tok = strtok_r(list, ",", &save);
            for (int j = 0; j < k && tok; j++) tok = strtok_r(NULL, ",", &save);
            while (tok && isspace((unsigned char)*tok)) tok++;
            snprintf(errstr, errsz, "table.include.list: '%s' matches no table in database %s", tok ? tok : "?",
                     s->cf->dbname);
            sl_free(list);
            sl_free(*oids);
            *oids = NULL;
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    return 0;
}

/* Maps a column's type, resolving enums, domains and arrays through pg_type. */
static void resolve_type(pg_source *s, uint32_t oid, int32_t typmod, sl_column *c, int depth) {
    if (sl_pg_type_map(oid, typmod, c)) return;
    char p[16], err[256];
    snprintf(p, sizeof p, "%u", oid);
    const char *params[] = {p};
    PGresult *r = pg_query(s->sql, "type lookup",
                           "SELECT t.typtype, t.typname, t.typbasetype, t.typtypmod, t.typelem,"
                           " (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e"
                           "  WHERE e.enumtypid = t.oid) FROM pg_type t WHERE t.oid = $1",
                           1, params, err, sizeof err);
    if (!r || PQntuples(r) != 1 || depth > 8) {
        c->type = SL_T_STRING;
        if (!c->type_name) c->type_name = sl_strdup("unknown");
        PQclear(r);
        return;
    }
    char typtype = PQgetvalue(r, 0, 0)[0];
    uint32_t base = (uint32_t)strtoul(PQgetvalue(r, 0, 2), NULL, 10);
    int32_t basemod = (int32_t)strtol(PQgetvalue(r, 0, 3), NULL, 10);
    uint32_t elem = (uint32_t)strtoul(PQgetvalue(r, 0, 4), NULL, 10);
    if (typtype == 'd') {
        resolve_type(s, base, typmod >= 0 ? typmod : basemod, c, depth + 1);
    } else if (typtype == 'e') {
        c->type = SL_T_ENUM;
        sl_free(c->enum_values);
        c->enum_values = sl_strdup(PQgetvalue(r, 0, 5));
    } else if (elem && PQgetvalue(r, 0, 1)[0] == '_') {
        sl_column ec = {0};
        ec.precision = ec.scale = ec.length = -1;
        resolve_type(s, elem, typmod, &ec, depth + 1);
        c->type = SL_T_ARRAY;
        c->elem = ec.type;
        c->precision = ec.precision, c->scale = ec.scale, c->length = ec.length;
        sl_free(c->enum_values);
        c->enum_values = ec.enum_values;
        sl_free(ec.type_name);
    } else {
        c->type = SL_T_STRING;
    }
    if (depth == 0) {
        sl_free(c->type_name);
        c->type_name = sl_strdup(PQgetvalue(r, 0, 1));
    }
    PQclear(r);
}

/* message.key.columns: "<table regex>:<col>,<col>;<table regex>:<col>" */
static const char *key_override(pg_source *s, const char *fq, char *buf, size_t bufsz) {
    const char *spec = s->cf->message_key_columns;
    if (!spec || !*spec) return NULL;
    char *copy = sl_strdup(spec), *save = NULL;
    const char *found = NULL;
    for (char *ent = strtok_r(copy, ";", &save); ent && !found; ent = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(ent, ':');
        if (!colon) continue;
        *colon = 0;
        while (isspace((unsigned char)*ent)) ent++;
        char pat[512];
        snprintf(pat, sizeof pat, "^(%s)$", ent);
        regex_t re;
        if (regcomp(&re, pat, REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0) {
            if (regexec(&re, fq, 0, NULL, 0) == 0) {
                snprintf(buf, bufsz, "%s", colon + 1);
                found = buf;
            }
            regfree(&re);
        }
    }
    sl_free(copy);
    return found;
}

/*
 * The column's default (pg_get_expr of pg_attrdef) as Debezium 3.6's PostgreSQL connector reads it, in the
 * form of the column's cells: a literal's text ('2024-02-29'::date: PostgreSQL deparses constants in the
 * type's output form) up to its first quote (so 'it''s' gives it, as in Debezium), bare numbers and
 * booleans, nextval(...) of an integer column as 0, now() / CURRENT_TIMESTAMP of a timestamp as the
 * epoch. Other expressions give no default. Checked against Debezium by tests/it/golden/defaults.sql.
 */
static void set_default(sl_column *c, const char *expr) {
    sl_buf v;
    sl_buf_init(&v);
    bool is_int = c->type == SL_T_INT16 || c->type == SL_T_INT32 || c->type == SL_T_INT64;
    bool ok = false;
    if (!strncmp(expr, "nextval(", 8)) {
        if ((ok = is_int)) sl_buf_putc(&v, '0');
    } else if (!strcmp(expr, "now()") || !strcasecmp(expr, "CURRENT_TIMESTAMP")) {
        ok = c->type == SL_T_TIMESTAMPTZ || c->type == SL_T_TIMESTAMP;
        if (ok) sl_buf_puts(&v, c->type == SL_T_TIMESTAMPTZ ? "1970-01-01 00:00:00+00" : "1970-01-01 00:00:00");
    } else if (expr[0] == '\'') {
        const char *e = strchr(expr + 1, '\'');
        if (e) sl_buf_put(&v, expr + 1, (size_t)(e - expr - 1));
        const char *x = sl_buf_cstr(&v);
        bool num = c->type == SL_T_NUMERIC || c->type == SL_T_FLOAT32 || c->type == SL_T_FLOAT64;
        ok = e && (is_int ? sl_decimal_text_ok(x, false) : num ? sl_decimal_text_ok(x, true) : c->type != SL_T_BOOL);
    } else if (!strcmp(expr, "true") || !strcmp(expr, "false")) {
        if ((ok = c->type == SL_T_BOOL)) sl_buf_putc(&v, expr[0]);
    } else if (is_int || c->type == SL_T_NUMERIC || c->type == SL_T_FLOAT32 || c->type == SL_T_FLOAT64) {
        sl_buf_puts(&v, expr);
        ok = sl_decimal_text_ok(expr, !is_int);
    }
    if (ok && c->type == SL_T_NUMERIC && c->scale > 0) { /* the cells' form: exactly `scale` fraction digits */
        sl_buf d;
        sl_buf_init(&d);
        sl_buf_put_decimal_scaled(&d, sl_buf_cstr(&v), c->scale);
        sl_buf_free(&v);
        v = d;
    }
    if (ok) sl_column_set_default(c, v.data ? v.data : "", v.len);
    sl_buf_free(&v);
}

sl_table *pg_describe(pg_source *s, uint32_t relid, const sl_pgo_col *cols, int ncols, int **map_out,
                      char *errstr, size_t errsz) {
    char p[16];
    snprintf(p, sizeof p, "%u", relid);
    const char *params[] = {p};
    PGresult *r = pg_query(s->sql, "describing table",
                           "SELECT n.nspname, c.relname, a.attname, a.atttypid, a.atttypmod, a.attnotnull,"
                           " COALESCE(a.attnum = ANY(i.indkey), false), c.relreplident,"
                           " pg_get_expr(d.adbin, d.adrelid)"
                           " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
                           "  AND a.attgenerated = ''"
                           " LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
                           " LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary"
                           " WHERE c.oid = $1 ORDER BY a.attnum",
                           1, params, errstr, errsz);
    if (!r) return NULL;
    int nrows = PQntuples(r);
    if (nrows == 0 && !cols) {
        snprintf(errstr, errsz, "table with OID %u not found", relid);
        PQclear(r);
        return NULL;
    }
    const char *nsp = nrows ? PQgetvalue(r, 0, 0) : "";
    const char *rel = nrows ? PQgetvalue(r, 0, 1) : "";
    int nsrc = cols ? ncols : nrows;
    char fq[512], keybuf[1024];
    snprintf(fq, sizeof fq, "%s.%s", nsp, rel);
    const char *keys = key_override(s, fq, keybuf, sizeof keybuf);
    int *map = sl_malloc(sizeof(int) * (size_t)(nsrc ? nsrc : 1));
    int nt = 0;
    /* First pass: which source columns are captured. */
    for (int i = 0; i < nsrc; i++) {
        const char *name = cols ? cols[i].name : PQgetvalue(r, i, 2);
        char fc[1024];
        snprintf(fc, sizeof fc, "%s.%s", fq, name);
        map[i] = sl_filter_match(&s->columns, fc) ? nt++ : -1;
    }
    sl_table *t = sl_table_new(s->cf->dbname, nsp, rel, nt);
    t->id = relid;
    t->replident = nrows ? PQgetvalue(r, 0, 7)[0] : 'd';
    sl_buf tb;
    sl_buf_init(&tb);
    sl_buf_printf(&tb, "%s.%s.%s", s->cf->topic_prefix, nsp, rel);
    t->topic = sl_strdup(sl_buf_cstr(&tb));
    sl_buf_free(&tb);
    for (int i = 0; i < nsrc; i++) {
        if (map[i] < 0) continue;
        sl_column *c = &t->cols[map[i]];
        const char *name = cols ? cols[i].name : PQgetvalue(r, i, 2);
        int row = -1;
        for (int j = 0; j < nrows && row < 0; j++)
            if (strcmp(PQgetvalue(r, j, 2), name) == 0) row = j;
        uint32_t oid = cols ? cols[i].type_oid : (uint32_t)strtoul(PQgetvalue(r, row, 3), NULL, 10);
        int32_t typmod = cols ? cols[i].typmod : (int32_t)strtol(PQgetvalue(r, row, 4), NULL, 10);
        c->name = sl_strdup(name);
        c->precision = c->scale = c->length = -1;
        c->typmod = typmod;
        c->src_type = oid;
        resolve_type(s, oid, typmod, c, 0);
        c->optional = row < 0 || PQgetvalue(r, row, 5)[0] != 't';
        if (keys) c->key = sl_list_has(keys, name);
        else if (row >= 0) c->key = PQgetvalue(r, row, 6)[0] == 't';
        else c->key = cols && (cols[i].flags & 1);
        t->nkeys += c->key;
        if (row >= 0 && !PQgetisnull(r, row, 8)) set_default(c, PQgetvalue(r, row, 8));
    }
    PQclear(r);
    *map_out = map;
    return t;
}
