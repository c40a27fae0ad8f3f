/*
 * SQL sink: PostgreSQL and MariaDB/MySQL targets, configured like the
 * Debezium JDBC sink connector (Confluent's JDBC sink keys are aliases).
 *
 * write() turns each record into a row of its target table: a Debezium
 * envelope (of a source in this process, read through the record view, or
 * read from Kafka) gives its `after` for c/r/u, a delete by key for d and
 * tombstones, a TRUNCATE for t; a flat record (after unwrap, or any Kafka
 * record with a struct schema) is upserted as it is. Each value is rendered
 * at once in the target's form by the SQL-row emitter (format/sql_row.h), so
 * the sink holds text, not records. Rows are reduced per table and key as
 * they come (the last state wins; a column the source marked as an unchanged
 * TOAST value takes the value an earlier row of the same key had in this
 * flush, or is left out of the row's update), in segments: a table's rows
 * with one column layout (a new layout or a TRUNCATE starts a new segment,
 * so order is kept).
 *
 * flush() makes every segment's table exist as the rows need it
 * (schema.evolution=basic: CREATE TABLE, ADD COLUMN; before the transaction,
 * as MariaDB commits DDL implicitly), then writes all segments in one
 * transaction and commits: a connection lost on the way is opened again and
 * the whole transaction written again (flush.max.retries, every
 * flush.retry.delay.ms), since the sink still holds every row of it.
 *
 * Threads: everything on the sink thread.
 */
#include "sink/sql_int.h"
#include "core/log.h"
#include "core/plugin.h"
#include "ctx/ctx.h"
#include "format/dbz_json.h"
#include "kafka/dlq.h"
#include "kafka/kclient.h"
#include "util/jscan.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "core/vside.h"
#include "vread/vread.h"
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXC_DATA "org.apache.kafka.connect.errors.DataException"
#define EXC_SQL "java.sql.SQLException"
#define TASK_CLASS "io.debezium.connector.jdbc.JdbcSinkConnectorTask"

#define F(x) offsetof(sql_conf, x)
static const sl_prop sql_props[] = {
    {"connection.url", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE | SL_PF_REQUIRED, F(url),
     "The target as a JDBC URL: jdbc:postgresql://host[:port]/database[?params], jdbc:mariadb://... or "
     "jdbc:mysql://host[:port]/database[?params]. Parameters user, password; PostgreSQL: sslmode, sslrootcert, "
     "sslcert, sslkey; MariaDB/MySQL: sslMode (disable, trust, verify-ca, verify-full; MySQL's DISABLED, "
     "REQUIRED, VERIFY_CA, VERIFY_IDENTITY), useSSL, serverSslCert (CA file)."},
    {"connection.username", SL_PT_STRING, "", NULL, 0, 0, 0, F(user), "User (else the URL's user parameter).", "connection.user"},
    {"connection.password", SL_PT_STRING, "", NULL, 0, 0, SL_PF_SENSITIVE, F(password),
     "Password (else the URL's password parameter)."},
    {"insert.mode", SL_PT_ENUM, "insert", "insert|upsert|update", 0, 0, 0, F(ins),
     "insert: INSERT (a row that exists is an error); upsert: insert or replace by primary key; update: UPDATE "
     "by primary key (a missing row is left missing)."},
    {"delete.enabled", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(delete_enabled),
     "Deletes and tombstones delete the row by key (needs primary.key.mode record_key or record_value); "
     "false: they are skipped."},
    {"truncate.enabled", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(truncate_enabled),
     "Truncate events (op t) truncate the table; false: they are skipped."},
    {"primary.key.mode", SL_PT_ENUM, "none", "none|kafka|record_key|record_value", 0, 0, 0, F(pk),
     "Where the target's primary key comes from: none (no key: insert only), kafka (__connect_topic, "
     "__connect_partition, __connect_offset), record_key (the record key's fields), record_value (value fields "
     "named in primary.key.fields, all of them when empty).", "pk.mode"},
    {"primary.key.fields", SL_PT_LIST, "", NULL, 0, 0, 0, F(pk_fields),
     "Key fields: with record_key a subset of the key's fields (a primitive key: the column's name); with "
     "record_value the value's fields that make the key.", "pk.fields"},
    {"schema.evolution", SL_PT_ENUM, "none", "none|basic", 0, 0, 0, F(evolution),
     "basic: a missing table is created and missing columns are added (nullable) as records need them; none: "
     "the tables must exist with every column."},
    {"auto.create", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(auto_create),
     "Confluent's key: true creates missing tables (as schema.evolution=basic)."},
    {"auto.evolve", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(auto_evolve),
     "Confluent's key: true adds missing columns (as schema.evolution=basic)."},
    {"collection.name.format", SL_PT_STRING, "${topic}", NULL, 0, 0, 0, F(table_format),
     "Target table name: ${topic} (its dots become underscores), ${source.db}, ${source.schema}, "
     "${source.table} and other ${source.<field>} of the event's source block; a dot in the result separates the "
     "schema (PostgreSQL) or database (MariaDB) from the table.", "table.name.format"},
    {"quote.identifiers", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(quote_ids),
     "Quote every table and column name (keeps their case on PostgreSQL); false: only names that need it "
     "(not letters, digits and underscores, or a reserved word)."},
    {"quote.sql.identifiers", SL_PT_STRING, "", NULL, 0, 0, 0, F(quote_sql_ids),
     "Confluent's key: always or never (overrides quote.identifiers when set)."},
    {"batch.size", SL_PT_INT, "500", NULL, 1, 1000000, 0, F(batch_size),
     "Rows per INSERT or DELETE statement on MariaDB/MySQL (PostgreSQL copies a flush's rows in one COPY)."},
    {"use.reduction.buffer", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(reduction),
     "Accepted for Debezium configs: rows are always reduced per key within a flush when the table has a key."},
    {"field.include.list", SL_PT_LIST, "", NULL, 0, 0, 0, F(field_include),
     "Value fields written (field or topic:field); empty: all.", "fields.whitelist"},
    {"field.exclude.list", SL_PT_LIST, "", NULL, 0, 0, 0, F(field_exclude),
     "Value fields left out (field or topic:field)."},
    {"use.time.zone", SL_PT_STRING, "UTC", NULL, 0, 0, 0, F(time_zone),
     "The session time zone of the target (timestamps are written as the UTC times the events carry).",
     "database.time_zone|db.timezone"},
    {"flush.max.retries", SL_PT_INT, "5", NULL, 0, 1000000, 0, F(max_retries),
     "How often a flush whose connection failed (or that hit a deadlock) is tried again on a new connection "
     "before the connector fails.", "max.retries"},
    {"flush.retry.delay.ms", SL_PT_INT, "1000", NULL, 0, 3600000, 0, F(retry_ms),
     "Pause before such a retry (ms).", "retry.backoff.ms"},
    {"offset.storage.table", SL_PT_STRING, "sluice_offsets", NULL, 0, 0, 0, F(offsets_table),
     "With offset.storage=target: the target's table (schema.table or table) that holds each connector's source "
     "offset, written in the same transaction as the rows; created when missing."},
    {"replication.origin.name", SL_PT_STRING, "", NULL, 0, 0, 0, F(origin),
     "PostgreSQL target: the sink's session marks every transaction it writes with this replication origin "
     "(created when missing; pg_replication_origin_session_setup), so that a PostgreSQL source reading the target "
     "with the name in its skipped.origins leaves those changes out: two connectors syncing two databases both "
     "ways do not send each other's writes back. Needs a superuser or EXECUTE on the pg_replication_origin_* "
     "functions. Empty: no origin."},
    {"replication.server.id", SL_PT_INT, "0", NULL, 0, 4294967295LL, 0, F(server_id),
     "MariaDB target: the sink's session writes its changes under this server id (SET SESSION server_id; needs "
     "SUPER), so that a MariaDB source reading the target with the id in its skipped.server.ids leaves them out "
     "(no echo in a two-way sync). 0: the server's own id."},
    {NULL}};
#undef F

/* ---- configuration ---- */

static const char *const ins_names[] = {"insert", "upsert", "update"};
static const char *const pk_names[] = {"none", "kafka", "record_key", "record_value"};

/* Parses jdbc:<driver>://host[:port][,more hosts]/db[?params] into c. */
static int parse_url(sql_conf *c, char *err, size_t errsz) {
    const char *u = c->url, *rest;
    if (strncasecmp(u, "jdbc:postgresql://", 18) == 0) c->dialect = SL_SQL_PG, rest = u + 18, c->port = 5432;
    else if (strncasecmp(u, "jdbc:mariadb://", 15) == 0) c->dialect = SL_SQL_MY, rest = u + 15, c->port = 3306;
    else if (strncasecmp(u, "jdbc:mysql://", 13) == 0) c->dialect = SL_SQL_MY, rest = u + 13, c->port = 3306;
    else {
        snprintf(err, errsz, "connection.url: not a supported JDBC URL (allowed: jdbc:postgresql://, "
                             "jdbc:mariadb://, jdbc:mysql://)");
        return -1;
    }
    size_t hl = strcspn(rest, "/?");
    char hosts[256];
    snprintf(hosts, sizeof hosts, "%.*s", (int)(hl < sizeof hosts ? hl : sizeof hosts - 1), rest);
    hosts[strcspn(hosts, ",")] = 0; /* the first of several hosts */
    char *port = NULL;
    if (hosts[0] == '[') { /* [v6]:port */
        char *e = strchr(hosts, ']');
        if (!e) goto bad;
        *e = 0;
        if (e[1] == ':') port = e + 2;
        memmove(hosts, hosts + 1, strlen(hosts + 1) + 1);
    } else if ((port = strrchr(hosts, ':'))) {
        *port++ = 0;
    }
    if (!*hosts) goto bad;
    snprintf(c->host, sizeof c->host, "%s", hosts);
    if (port) {
        char *e;
        long p = strtol(port, &e, 10);
        if (*e || p <= 0 || p > 65535) goto bad;
        c->port = (int)p;
    }
    rest += hl;
    c->db[0] = 0;
    if (*rest == '/') {
        size_t dl = strcspn(rest + 1, "?");
        snprintf(c->db, sizeof c->db, "%.*s", (int)dl, rest + 1);
        rest += 1 + dl;
    }
    snprintf(c->url_params, sizeof c->url_params, "%s", *rest == '?' ? rest + 1 : "");
    return 0;
bad:
    snprintf(err, errsz, "connection.url: cannot read the host and port (expected "
                         "jdbc:<driver>://host[:port]/database)");
    return -1;
}

/* The value of URL parameter k (case-insensitive), or NULL; in out. */
const char *sql_url_param(const sql_conf *c, const char *k, char *out, size_t outsz) {
    size_t kl = strlen(k);
    for (const char *p = c->url_params; *p;) {
        size_t n = strcspn(p, "&;");
        if (n > kl && p[kl] == '=' && strncasecmp(p, k, kl) == 0) {
            snprintf(out, outsz, "%.*s", (int)(n - kl - 1), p + kl + 1);
            /* percent-decoding */
            char *w = out;
            for (const char *r = out; *r; r++) {
                if (*r == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
                    char hx[3] = {r[1], r[2], 0};
                    *w++ = (char)strtol(hx, NULL, 16);
                    r += 2;
                } else *w++ = *r;
            }
            *w = 0;
            return out;
        }
        p += n;
        if (*p) p++;
    }
    return NULL;
}

static void sql_check(void *settings, sl_config *cfg, sl_errs *errs) {
    sql_conf *c = settings;
    char err[512];
    c->evolve = c->evolution == 1 || c->auto_create || c->auto_evolve;
    c->quote = c->quote_ids;
    if (c->quote_sql_ids && *c->quote_sql_ids) {
        if (strcasecmp(c->quote_sql_ids, "always") == 0) c->quote = true;
        else if (strcasecmp(c->quote_sql_ids, "never") == 0) c->quote = false;
        else sl_errs_add(errs, "quote.sql.identifiers: '%s' is not allowed (allowed: always, never)", c->quote_sql_ids);
    }
    if (c->url && parse_url(c, err, sizeof err) < 0) sl_errs_add(errs, "%s", err);
    if (c->url && !*c->user) {
        char u[256];
        if (!sql_url_param(c, "user", u, sizeof u))
            sl_errs_add(errs, "connection.username: required (or a user parameter in connection.url)");
    }
    if (c->server_id && c->url && c->dialect != SL_SQL_MY)
        sl_errs_add(errs, "replication.server.id: only a MariaDB target takes a session server id (a PostgreSQL "
                          "target: replication.origin.name)");
    if (c->origin && *c->origin && c->url && c->dialect != SL_SQL_PG)
        sl_errs_add(errs, "replication.origin.name: only a PostgreSQL target has replication origins (a MariaDB/MySQL "
                          "target: leave it empty)");
    if (c->ins != INS_INSERT && (c->pk == PK_NONE))
        sl_errs_add(errs, "primary.key.mode: insert.mode=%s needs a primary key: set primary.key.mode to kafka, "
                          "record_key or record_value", ins_names[c->ins]);
    if (c->delete_enabled && c->pk != PK_RECORD_KEY && c->pk != PK_RECORD_VALUE)
        sl_errs_add(errs, "primary.key.mode: delete.enabled=true needs the rows' key: set primary.key.mode to "
                          "record_key or record_value (it is %s)", pk_names[c->pk]);
    if (c->field_include && *c->field_include && c->field_exclude && *c->field_exclude)
        sl_errs_add(errs, "field.exclude.list: cannot be combined with field.include.list");
    const char *tf = c->table_format;
    if (!tf || !*tf) sl_errs_add(errs, "collection.name.format: must not be empty");
    for (const char *p = tf ? strstr(tf, "${") : NULL; p; p = strstr(p + 2, "${")) {
        const char *e = strchr(p, '}');
        if (!e) {
            sl_errs_add(errs, "collection.name.format: unterminated placeholder in '%s'", tf);
            break;
        }
        if (!(e - p == 7 && !strncmp(p, "${topic}", 8)) && strncmp(p, "${source.", 9))
            sl_errs_add(errs, "collection.name.format: unknown placeholder '%.*s' (allowed: ${topic}, "
                              "${source.<field>})", (int)(e - p + 1), p);
    }
    /* Debezium's keys that other sinks' users carry over: accepted and said so. */
    static const char *const ignored[] = {"connection.pool.min_size", "connection.pool.max_size",
                                          "connection.pool.timeout", "connection.pool.acquire_increment",
                                          "connection.provider", "connection.restart.on.errors",
                                          "column.naming.strategy", "collection.naming.strategy",
                                          "table.naming.strategy", "dialect.name", "table.types",
                                          "hibernate.dialect", "db.timezone.ignored"};
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
        const char *v = sl_config_get(cfg, ignored[i]);
        if (!v) continue;
        sl_config_claim(cfg, ignored[i]);
        if (strstr(ignored[i], "naming.strategy") && !strstr(v, ".Default") && !strstr(v, "Default"))
            sl_errs_add(errs, "%s: '%s' is not supported (only the default naming)", ignored[i], v);
    }
}

/* ---- identifiers ---- */

/* The reserved words of MariaDB 10.11 and PostgreSQL 15 (both lists: a quoted name means the same in either), sorted. */
static int word_cmp(const void *a, const void *b) { return strcasecmp(a, *(const char *const *)b); }

static bool reserved(const char *id) {
    static const char *const words[] = {
        "accessible", "add", "all", "alter", "analyse", "analyze", "and", "any", "array", "as", "asc", "asensitive",
        "asymmetric", "authorization", "before", "between", "bigint", "binary", "blob", "both", "by", "call",
        "cascade", "case", "cast", "change", "char", "character", "check", "collate", "collation", "column",
        "concurrently", "condition", "constraint", "continue", "convert", "create", "cross", "current_catalog",
        "current_date", "current_role", "current_schema", "current_time", "current_timestamp", "current_user",
        "cursor", "database", "databases", "day_hour", "day_microsecond", "day_minute", "day_second", "dec",
        "decimal", "declare", "default", "deferrable", "delayed", "delete", "delete_domain_id", "desc", "describe",
        "deterministic", "distinct", "distinctrow", "div", "do", "do_domain_ids", "double", "drop", "dual", "each",
        "else", "elseif", "enclosed", "end", "escaped", "except", "exists", "exit", "explain", "false", "fetch",
        "float", "float4", "float8", "for", "force", "foreign", "freeze", "from", "full", "fulltext", "general",
        "grant", "group", "having", "high_priority", "hour_microsecond", "hour_minute", "hour_second", "if",
        "ignore", "ignore_domain_ids", "ignore_server_ids", "ilike", "in", "index", "infile", "initially", "inner",
        "inout", "insensitive", "insert", "int", "int1", "int2", "int3", "int4", "int8", "integer", "intersect",
        "interval", "into", "is", "isnull", "iterate", "join", "key", "keys", "kill", "lateral", "leading", "leave",
        "left", "like", "limit", "linear", "lines", "load", "localtime", "localtimestamp", "lock", "long",
        "longblob", "longtext", "loop", "low_priority", "master_heartbeat_period", "master_ssl_verify_server_cert",
        "match", "maxvalue", "mediumblob", "mediumint", "mediumtext", "middleint", "minute_microsecond",
        "minute_second", "mod", "modifies", "natural", "no_write_to_binlog", "not", "notnull", "null", "numeric",
        "offset", "on", "only", "optimize", "option", "optionally", "or", "order", "out", "outer", "outfile", "over",
        "overlaps", "page_checksum", "parse_vcol_expr", "partition", "placing", "position", "precision", "primary",
        "procedure", "purge", "range", "read", "read_write", "reads", "real", "recursive", "ref_system_id",
        "references", "regexp", "release", "rename", "repeat", "replace", "require", "resignal", "restrict",
        "return", "returning", "revoke", "right", "rlike", "row_number", "rows", "schema", "schemas",
        "second_microsecond", "select", "sensitive", "separator", "session_user", "set", "show", "signal", "similar",
        "slow", "smallint", "some", "spatial", "specific", "sql", "sql_big_result", "sql_calc_found_rows",
        "sql_small_result", "sqlexception", "sqlstate", "sqlwarning", "ssl", "starting", "stats_auto_recalc",
        "stats_persistent", "stats_sample_pages", "straight_join", "symmetric", "system_user", "table",
        "tablesample", "terminated", "then", "tinyblob", "tinyint", "tinytext", "to", "trailing", "trigger", "true",
        "undo", "union", "unique", "unlock", "unsigned", "update", "usage", "use", "user", "using", "utc_date",
        "utc_time", "utc_timestamp", "values", "varbinary", "varchar", "varcharacter", "variadic", "varying",
        "verbose", "when", "where", "while", "window", "with", "write", "xor", "year_month", "zerofill"};
    return bsearch(id, words, sizeof words / sizeof *words, sizeof *words, word_cmp) != NULL;
}

/* True when id can be written without quotes. */
static bool plain_ident(const char *id) {
    if (!*id || !(isalpha((unsigned char)*id) || *id == '_')) return false;
    for (const char *p = id; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_')) return false;
    return !reserved(id);
}

void sql_put_ident(sl_buf *out, const sql_sink *s, const char *id) {
    if (!s->conf->quote && plain_ident(id)) sl_buf_puts(out, id);
    else sl_sql_put_ident(out, s->conf->dialect, id);
}

void sql_put_table(sl_buf *out, const sql_sink *s, const tname *t) {
    if (t->schema[0]) {
        sql_put_ident(out, s, t->schema);
        sl_buf_putc(out, '.');
    }
    sql_put_ident(out, s, t->table);
}

/* The name as the target stores it: unquoted names fold to lower case on PostgreSQL. */
static void fold(const sql_sink *s, const char *in, char *out, size_t outsz) {
    bool lower = s->conf->dialect == SL_SQL_PG && !s->conf->quote && plain_ident(in);
    size_t i = 0;
    for (; in[i] && i + 1 < outsz; i++) out[i] = lower ? (char)tolower((unsigned char)in[i]) : in[i];
    out[i] = 0;
}

/* ---- what a record's schemas say: its shape ---- */

enum { SRC_KEY, SRC_VAL, SRC_TOPIC, SRC_PARTITION, SRC_OFFSET, SRC_KEY_WHOLE };

typedef struct shape {
    sl_table *table;             /* a source in this process: its table (referenced) */
    char *ktext, *vtext;         /* records read from Kafka: the schema texts (key, value) it was made from */
    size_t klen, vlen;
    bool envelope;               /* value is a Debezium envelope (op, before, after) */
    bool ok;                     /* false: err says why the records of this shape cannot be written */
    char err[512];
    sl_sqlcol *cols;             /* the target's columns: nkeys key columns first */
    int ncols, nkeys;
    int *src, *src_at;           /* per column: SRC_* and the field's name (in cols) */
} shape;

#define SHAPES_MAX 256

typedef struct sql_state {
    shape *shapes;
    size_t nshapes;
    sl_vheap vh;      /* one record's values */
    sl_vheap sh;      /* schemas being compiled */
    sl_buf key, value, row;
    /* the target's tables as known from the catalog: name -> columns */
    struct known {
        tname name;
        tcol *cols;
        int ncols;
        uint64_t gen;
    } *known;
    size_t nknown;
    struct topic_table {
        char *topic;
        tname name;
    } *topics; /* the table of each topic's last event */
    size_t ntopics;
    uint64_t dead;
} sql_state;

static sql_state *st(sql_sink *s) { return s->dialect_state; }

static void shape_free(shape *sh) {
    for (int i = 0; i < sh->ncols; i++) sl_sqlcol_free(&sh->cols[i]);
    sl_free(sh->cols);
    sl_free(sh->src);
    sl_free(sh->src_at);
    sl_free(sh->ktext);
    sl_free(sh->vtext);
    if (sh->table) sl_table_unref(sh->table);
}

static bool in_list(const char *list, const char *name, const char *topic) {
    if (!list || !*list) return false;
    size_t nl = strlen(name), tl = topic ? strlen(topic) : 0;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ",");
        size_t e = n;
        while (e && p[e - 1] == ' ') e--;
        if (e == nl && !strncmp(p, name, nl)) return true;
        if (topic && e == tl + 1 + nl && !strncmp(p, topic, tl) && p[tl] == ':' && !strncmp(p + tl + 1, name, nl))
            return true;
        p += n;
    }
    return false;
}

static void add_col(shape *sh, const sl_sqlcol *c, int src, bool key) {
    sh->cols = sl_realloc(sh->cols, (size_t)(sh->ncols + 1) * sizeof *sh->cols);
    sh->src = sl_realloc(sh->src, (size_t)(sh->ncols + 1) * sizeof *sh->src);
    sl_sqlcol *n = &sh->cols[sh->ncols];
    *n = *c;
    n->name = sl_strdup(c->name);
    n->allowed = c->allowed ? sl_strdup(c->allowed) : NULL;
    n->src_type = c->src_type ? sl_strdup(c->src_type) : NULL;
    n->elem = NULL;
    if (c->elem) { /* deep copy of the element */
        n->elem = sl_calloc(1, sizeof *n->elem);
        *n->elem = *c->elem;
        n->elem->name = sl_strdup(c->elem->name);
        n->elem->allowed = c->elem->allowed ? sl_strdup(c->elem->allowed) : NULL;
        n->elem->src_type = c->elem->src_type ? sl_strdup(c->elem->src_type) : NULL;
        n->elem->elem = NULL;
    }
    if (key) n->optional = false;
    sh->src[sh->ncols++] = src;
    if (key) sh->nkeys++;
}

static int find_col(const sl_sqlcol *cols, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0) return i;
    return -1;
}

/* Compiles the fields of struct schema `st` into an array. */
static int compile_fields(sl_vheap *h, sl_val *stv, sl_sqlcol **out, int *n, char *err, size_t errsz) {
    *out = NULL;
    *n = 0;
    sl_val *fields = sl_v_get(h, stv, "fields");
    if (!fields || sl_v_kind(h, fields) != SL_V_ARR) {
        snprintf(err, errsz, "the schema is not a struct (type %s)", sl_v_strval(h, sl_v_get(h, stv, "type"), NULL)
                                                                       ? sl_v_strval(h, sl_v_get(h, stv, "type"), NULL)
                                                                       : "unknown");
        return -1;
    }
    *out = sl_calloc(fields->n ? fields->n : 1, sizeof **out);
    for (uint32_t i = 0; i < fields->n; i++) {
        if (sl_sqlcol_compile(h, sl_v_at(h, fields, i), &(*out)[i], err, errsz) < 0) {
            for (uint32_t j = 0; j < i; j++) sl_sqlcol_free(&(*out)[j]);
            sl_free(*out);
            *out = NULL;
            return -1;
        }
        (*n)++;
    }
    return 0;
}

/* Builds sh's columns from the key and value schemas (NULL: none) for the primary key mode. */
static void shape_build(sql_sink *s, shape *sh, sl_vheap *h, sl_val *kschema, sl_val *vschema, const char *topic) {
    const sql_conf *c = s->conf;
    sl_sqlcol *kf = NULL, *vf = NULL, kprim;
    int nk = 0, nv = 0;
    bool prim = false;
    sh->ok = false;
    memset(&kprim, 0, sizeof kprim);
    sl_val *row = vschema;
    if (vschema) {
        const char *name = sl_v_strval(h, sl_v_get(h, vschema, "name"), NULL);
        sl_val *fields = sl_v_get(h, vschema, "fields");
        bool has_op = false, mysql_time = false;
        for (uint32_t i = 0; fields && sl_v_kind(h, fields) == SL_V_ARR && i < fields->n; i++) {
            const char *f = sl_v_strval(h, sl_v_get(h, sl_v_at(h, fields, i), "field"), NULL);
            if (f && !strcmp(f, "op")) has_op = true;
            if (f && !strcmp(f, "after")) row = sl_v_at(h, fields, i);
            if (f && !strcmp(f, "source")) { /* MySQL's and MariaDB's TIME is a duration */
                const char *sn = sl_v_strval(h, sl_v_get(h, sl_v_at(h, fields, i), "name"), NULL);
                mysql_time = sn && (strstr(sn, "connector.mysql.") || strstr(sn, "connector.mariadb."));
            }
        }
        size_t nl = name ? strlen(name) : 0;
        sh->envelope = (nl > 9 && !strcmp(name + nl - 9, ".Envelope")) || (!name && has_op);
        if (!sh->envelope) row = vschema;
        if (name && strstr(name, "SchemaChangeValue")) {
            snprintf(sh->err, sizeof sh->err, "a schema change event (the SQL sink skips them)");
            return;
        }
        if (compile_fields(h, row, &vf, &nv, sh->err, sizeof sh->err) < 0) return;
        for (int i = 0; mysql_time && i < nv; i++)
            vf[i].duration = vf[i].kind == SL_SQLK_TIME_MS || vf[i].kind == SL_SQLK_TIME_US || vf[i].kind == SL_SQLK_TIME_NS;
    }
    if (kschema && c->pk == PK_RECORD_KEY) {
        const char *kt = sl_v_strval(h, sl_v_get(h, kschema, "type"), NULL);
        if (kt && !strcmp(kt, "struct")) {
            if (compile_fields(h, kschema, &kf, &nk, sh->err, sizeof sh->err) < 0) goto out;
        } else {
            char first[256];
            const char *pf = c->pk_fields ? c->pk_fields : "";
            size_t fl = strcspn(pf, ",");
            snprintf(first, sizeof first, "%.*s", (int)fl, pf);
            if (!*first) {
                snprintf(sh->err, sizeof sh->err, "the record key is a primitive (%s): primary.key.fields must name "
                                                  "its column", kt ? kt : "no type");
                goto out;
            }
            if (sl_sqlcol_compile(h, kschema, &kprim, sh->err, sizeof sh->err) < 0) goto out;
            sl_free(kprim.name);
            kprim.name = sl_strdup(first);
            prim = true;
        }
    }
    switch (c->pk) {
    case PK_RECORD_KEY:
        if (prim) add_col(sh, &kprim, SRC_KEY_WHOLE, true);
        for (int i = 0; i < nk; i++)
            if (!c->pk_fields || !*c->pk_fields || in_list(c->pk_fields, kf[i].name, NULL)) add_col(sh, &kf[i], SRC_KEY, true);
        if (!sh->nkeys) {
            snprintf(sh->err, sizeof sh->err, "primary.key.mode=record_key: the record has no key fields%s",
                     c->pk_fields && *c->pk_fields ? " named in primary.key.fields" : "");
            goto out;
        }
        break;
    case PK_RECORD_VALUE:
        for (int i = 0; i < nv; i++)
            if (!c->pk_fields || !*c->pk_fields || in_list(c->pk_fields, vf[i].name, NULL)) add_col(sh, &vf[i], SRC_VAL, true);
        if (!sh->nkeys) {
            snprintf(sh->err, sizeof sh->err, "primary.key.mode=record_value: the value has none of the fields "
                                              "in primary.key.fields");
            goto out;
        }
        break;
    case PK_KAFKA: {
        sl_sqlcol t = {.name = "__connect_topic", .kind = SL_SQLK_STRING, .precision = -1, .scale = -1, .length = -1};
        add_col(sh, &t, SRC_TOPIC, true);
        t.name = "__connect_partition", t.kind = SL_SQLK_INT32;
        add_col(sh, &t, SRC_PARTITION, true);
        t.name = "__connect_offset", t.kind = SL_SQLK_INT64;
        add_col(sh, &t, SRC_OFFSET, true);
        break;
    }
    default: break;
    }
    for (int i = 0; i < nv; i++) {
        if (find_col(sh->cols, sh->ncols, vf[i].name) >= 0) continue; /* a key column: its value is the key's */
        if (c->field_include && *c->field_include && !in_list(c->field_include, vf[i].name, topic)) continue;
        if (in_list(c->field_exclude, vf[i].name, topic)) continue;
        add_col(sh, &vf[i], SRC_VAL, false);
    }
    sh->src_at = sl_malloc((size_t)(sh->ncols ? sh->ncols : 1) * sizeof *sh->src_at);
    sh->ok = true;
out:
    for (int i = 0; i < nk; i++) sl_sqlcol_free(&kf[i]);
    for (int i = 0; i < nv; i++) sl_sqlcol_free(&vf[i]);
    sl_free(kf);
    sl_free(vf);
    sl_sqlcol_free(&kprim);
}

static shape *new_shape(sql_sink *s) {
    sql_state *t = st(s);
    if (t->nshapes == SHAPES_MAX) { /* the oldest goes */
        shape_free(&t->shapes[0]);
        memmove(t->shapes, t->shapes + 1, --t->nshapes * sizeof *t->shapes);
    }
    if (!t->shapes) t->shapes = sl_malloc(SHAPES_MAX * sizeof *t->shapes);
    shape *sh = &t->shapes[t->nshapes++];
    memset(sh, 0, sizeof *sh);
    return sh;
}

/* The shape of a change of a source in this process: from its table's Connect schemas, encoded once. */
static shape *table_shape(sql_sink *s, const sl_record *r, const char *topic) {
    sql_state *t = st(s);
    for (size_t i = t->nshapes; i-- > 0;)
        if (t->shapes[i].table == r->table) return &t->shapes[i];
    sl_dbz_opts o = *sl_ctx_dbz(s->ctx);
    o.key_schemas = o.value_schemas = true;
    sl_buf_reset(&t->key);
    sl_buf_reset(&t->value);
    sl_dbz_key(&o, r, &t->key);
    sl_dbz_value(&o, r, &t->value);
    shape *sh = new_shape(s);
    sh->table = sl_table_ref(r->table);
    sl_vheap_reset(&t->sh);
    char err[256];
    sl_val *k = sl_v_parse(&t->sh, t->key.data, t->key.len, err, sizeof err);
    sl_val *v = sl_v_parse(&t->sh, t->value.data, t->value.len, err, sizeof err);
    shape_build(s, sh, &t->sh, k ? sl_v_get(&t->sh, k, "schema") : NULL, v ? sl_v_get(&t->sh, v, "schema") : NULL,
                topic);
    return sh;
}

/* The {"schema", "payload"} parts of JSON text (a Kafka record's key or value, validated by the source). */
static bool split_envelope(const char *text, size_t len, sl_jval *sch, sl_jval *pl) {
    static const char *const keys[] = {"schema", "payload"};
    sl_jval v = {text, len}, out[2];
    unsigned found = 0;
    if (!text || sl_jval_members(v, keys, 2, out, &found) != 2 || found != 3) return false;
    *sch = sl_jval_trim(out[0]);
    *pl = sl_jval_trim(out[1]);
    return true;
}

static shape *raw_shape(sql_sink *s, const char *ks, size_t kl, const char *vs, size_t vl, const char *topic) {
    sql_state *t = st(s);
    for (size_t i = t->nshapes; i-- > 0;) {
        shape *sh = &t->shapes[i];
        if (!sh->table && sh->klen == kl && sh->vlen == vl && (!kl || !memcmp(sh->ktext, ks, kl)) &&
            (!vl || !memcmp(sh->vtext, vs, vl)))
            return sh;
    }
    shape *sh = new_shape(s);
    sh->ktext = kl ? sl_strndup(ks, kl) : NULL;
    sh->vtext = vl ? sl_strndup(vs, vl) : NULL;
    sh->klen = kl;
    sh->vlen = vl;
    sl_vheap_reset(&t->sh);
    char err[256];
    sl_val *k = kl ? sl_v_parse(&t->sh, ks, kl, err, sizeof err) : NULL;
    sl_val *v = vl ? sl_v_parse(&t->sh, vs, vl, err, sizeof err) : NULL;
    if (k && sl_v_kind(&t->sh, k) == SL_V_NULL) k = NULL;
    if (v && sl_v_kind(&t->sh, v) == SL_V_NULL) v = NULL;
    shape_build(s, sh, &t->sh, k, v, topic);
    return sh;
}

/* ---- rows: segments and the reduction ---- */

static bool same_layout(const seg *g, const shape *sh, bool keys_only) {
    if (g->nkeys != sh->nkeys || (!keys_only && g->ncols != sh->ncols)) return false;
    for (int i = 0; i < (keys_only ? g->nkeys : g->ncols); i++)
        if (!sl_sqlcol_same(&g->cols[i], &sh->cols[i])) return false;
    return true;
}

static void seg_free(seg *g) {
    for (int i = 0; i < g->ncols; i++) sl_sqlcol_free(&g->cols[i]);
    sl_free(g->cols);
    sl_free(g->rows);
    sl_free(g->slots);
    sl_free(g);
}

static seg *seg_new(sql_sink *s, const tname *n) {
    seg *g = sl_calloc(1, sizeof *g);
    g->name = *n;
    if (s->nsegs == s->capsegs) {
        s->capsegs = s->capsegs ? 2 * s->capsegs : 16;
        s->segs = sl_realloc(s->segs, s->capsegs * sizeof *s->segs);
    }
    s->segs[s->nsegs++] = g;
    return g;
}

/* The segment rows of table n with sh's layout go to: the table's last one when its layout is the same (a
 * delete needs the same key columns only), else a new one. */
static seg *seg_for(sql_sink *s, const tname *n, const shape *sh, bool del) {
    for (size_t i = s->nsegs; i-- > 0;) {
        seg *g = s->segs[i];
        if (strcmp(g->name.table, n->table) || strcmp(g->name.schema, n->schema)) continue;
        if (!g->truncate && same_layout(g, sh, del)) return g;
        break;
    }
    seg *g = seg_new(s, n);
    int nc = del ? sh->nkeys : sh->ncols;
    g->cols = sl_calloc((size_t)(nc ? nc : 1), sizeof *g->cols);
    for (int i = 0; i < nc; i++) {
        shape tmp = {0};
        add_col(&tmp, &sh->cols[i], 0, false);
        g->cols[i] = tmp.cols[0];
        sl_free(tmp.cols);
        sl_free(tmp.src);
    }
    g->ncols = nc;
    g->nkeys = sh->nkeys;
    return g;
}

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h;
}

/* The hash of a row's key values (text + at[0..nkeys]). */
static uint64_t key_hash(const seg *g, const char *text, const uint32_t *at) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < g->nkeys; i++) h = (hash_bytes(text + at[i], at[i + 1] - at[i]) ^ h) * 1099511628211ULL;
    return h;
}

static bool key_equal(const seg *g, const char *text, const uint32_t *at, const srow *r) {
    for (int i = 0; i < g->nkeys; i++) {
        size_t n;
        const char *v = srow_val(r, i, &n);
        if (n != at[i + 1] - at[i] || memcmp(v, text + at[i], n)) return false;
    }
    return true;
}

/* The live row with the key values of text/at, or -1; *slot: where it is (or where it would go). */
static long seg_lookup(seg *g, const char *text, const uint32_t *at, size_t *slot) {
    if (!g->nslots) return -1;
    size_t i = key_hash(g, text, at) & (g->nslots - 1);
    for (;; i = (i + 1) & (g->nslots - 1)) {
        if (!g->slots[i]) {
            *slot = i;
            return -1;
        }
        const srow *r = &g->rows[g->slots[i] - 1];
        if (key_equal(g, text, at, r)) {
            *slot = i;
            return (long)g->slots[i] - 1;
        }
    }
}

static void seg_index(seg *g, size_t row) {
    size_t slot;
    if ((g->live + 1) * 2 > g->nslots) { /* grow and re-insert the live rows */
        size_t n = g->nslots ? 2 * g->nslots : 1024;
        while (n < (g->live + 1) * 2) n *= 2;
        sl_free(g->slots);
        g->slots = sl_calloc(n, sizeof *g->slots);
        g->nslots = n;
        for (size_t i = 0; i < g->nrows; i++) {
            if (g->rows[i].dead || i == row) continue;
            if (seg_lookup(g, g->rows[i].text, g->rows[i].at, &slot) < 0) g->slots[slot] = (uint32_t)i + 1;
        }
    }
    seg_lookup(g, g->rows[row].text, g->rows[row].at, &slot);
    g->slots[slot] = (uint32_t)row + 1;
}

typedef struct rowsrc {
    sl_vheap *h;
    sl_val *key, *row; /* the key payload; the row (after, before or the flat value) */
    const char *topic;
    int32_t partition;
    int64_t offset;
} rowsrc;

static sl_val *col_value(const shape *sh, int i, const rowsrc *rs) {
    switch (sh->src[i]) {
    case SRC_KEY: return sl_v_get(rs->h, rs->key, sh->cols[i].name);
    case SRC_KEY_WHOLE: return rs->key;
    case SRC_VAL: return sl_v_get(rs->h, rs->row, sh->cols[i].name);
    case SRC_TOPIC: return sl_v_str(rs->h, rs->topic ? rs->topic : "");
    case SRC_PARTITION: return sl_v_int(rs->h, rs->partition);
    case SRC_OFFSET: return sl_v_int(rs->h, rs->offset);
    }
    return NULL;
}

/* Adds the row of rs to table n: op 'u' (all columns) or 'd' (key columns); created: the change created the row
 * (op c or r). 0, or -1 with err. */
static int add_row(sql_sink *s, const tname *n, const shape *sh, char op, bool created, const rowsrc *rs, uint32_t rec,
                   char *err, size_t errsz) {
    sql_state *t = st(s);
    sl_sql_dialect d = s->conf->dialect;
    int nc = op == 'd' ? sh->nkeys : sh->ncols;
    uint32_t at[nc + 1];
    sl_buf *b = &t->row;
    sl_buf_reset(b);
    uint8_t *unch = NULL;
    for (int i = 0; i < sh->nkeys; i++) {
        at[i] = (uint32_t)b->len;
        sl_val *v = col_value(sh, i, rs);
        if (sl_v_is_null(rs->h, v)) {
            snprintf(err, errsz, "key column '%s' is null or missing", sh->cols[i].name);
            return -1;
        }
        int rc = sl_sql_put_value(&sh->cols[i], d, rs->h, v, b, err, errsz);
        if (rc < 0) return -1;
        if (rc == 1) {
            snprintf(err, errsz, "key column '%s' holds Debezium's unavailable-value placeholder", sh->cols[i].name);
            return -1;
        }
    }
    at[sh->nkeys] = (uint32_t)b->len;
    seg *g = seg_for(s, n, sh, op == 'd');
    long old = -1;
    size_t slot = 0;
    if (g->nkeys) old = seg_lookup(g, b->data, at, &slot);
    srow *o = old >= 0 ? &g->rows[old] : NULL;
    for (int i = sh->nkeys; i < nc; i++) {
        at[i] = (uint32_t)b->len;
        int rc = sl_sql_put_value(&sh->cols[i], d, rs->h, col_value(sh, i, rs), b, err, errsz);
        if (rc < 0) return -1;
        if (rc == 1) {
            if (o && o->op == 'u' && !srow_unchanged(o, i) && o->at) { /* the value an earlier row of the key had */
                size_t vn;
                const char *vt = srow_val(o, i, &vn);
                sl_buf_put(b, vt, vn);
            } else {
                if (!unch) unch = sl_arena_alloc(&s->arena, (size_t)(nc + 7) / 8), memset(unch, 0, (size_t)(nc + 7) / 8);
                unch[i / 8] |= (uint8_t)(1u << (i % 8));
            }
        }
    }
    at[nc] = (uint32_t)b->len;
    /* a create, or an update of a row created earlier in this transaction (after a delete: not fresh, the target
     * may hold the key until the delete, which this row replaces, would have run); read before the realloc below
     * may move the row o points at */
    bool fresh = op == 'u' && !unch && (o ? o->fresh && o->op == 'u' : created);
    if (g->nrows == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 256;
        g->rows = sl_realloc(g->rows, g->cap * sizeof *g->rows);
    }
    srow *r = &g->rows[g->nrows];
    memset(r, 0, sizeof *r);
    r->op = op;
    r->rec = rec;
    r->unchanged = unch;
    r->fresh = fresh;
    r->text = sl_arena_memdup(&s->arena, b->data, b->len ? b->len : 1);
    r->at = sl_arena_memdup(&s->arena, at, sizeof at);
    if (old >= 0) { /* by index: the realloc above may have moved the rows */
        g->rows[old].dead = true;
        g->live--;
    }
    g->nrows++;
    g->live++;
    if (g->nkeys) seg_index(g, g->nrows - 1);
    return 0;
}

static void add_truncate(sql_sink *s, const tname *n) {
    seg *g = seg_new(s, n);
    g->truncate = true;
}

/* ---- records ---- */

/* Starts the record r: its identity for errors and, with errors.tolerance=all, copies of its key and value for
 * the log and the dead letter queue. Returns its index. */
static uint32_t begin_rec(sql_sink *s, const sl_record *r, const char *topic, const char *what) {
    if (s->nrecs == s->caprecs) {
        s->caprecs = s->caprecs ? 2 * s->caprecs : 256;
        s->recs = sl_realloc(s->recs, s->caprecs * sizeof *s->recs);
    }
    srec *m = &s->recs[s->nrecs];
    memset(m, 0, sizeof *m);
    m->what = sl_arena_strndup(&s->arena, what, strlen(what));
    m->topic = sl_arena_strndup(&s->arena, topic ? topic : "", topic ? strlen(topic) : 0);
    m->partition = r->raw ? r->raw->partition : -1;
    m->offset = r->raw ? r->raw->offset : -1;
    m->ts_ms = r->raw ? r->raw->ts_ms : r->ts_us / 1000;
    if (s->tolerate) {
        const char *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        sql_state *t = st(s);
        if (r->raw) {
            k = r->raw->key, kl = r->raw->key_len, v = r->raw->value, vl = r->raw->value_len;
        } else {
            sl_buf_reset(&t->key);
            sl_buf_reset(&t->value);
            sl_dbz_key(sl_ctx_dbz(s->ctx), r, &t->key);
            sl_dbz_value(sl_ctx_dbz(s->ctx), r, &t->value);
            k = t->key.data, kl = t->key.len, v = t->value.data, vl = t->value.len;
            if (kl == 4 && !memcmp(k, "null", 4)) k = NULL;
        }
        m->key = k ? sl_arena_memdup(&s->arena, k, kl) : NULL;
        m->key_len = kl;
        m->value = v ? sl_arena_memdup(&s->arena, v, vl) : NULL;
        m->value_len = vl;
    }
    return (uint32_t)s->nrecs++;
}

/*
 * Record rec cannot be written (reason: why): sl_ctx_reject (errors.tolerance=none: -1 with errstr; all: logged,
 * counted, to the dead letter queue; 0).
 */
static int reject(sql_sink *s, uint32_t rec, const char *exc, const char *reason, char *errstr, size_t errsz) {
    srec *m = &s->recs[rec];
    if (m->failed) return 0;
    sl_rejected r = {m->what, m->topic, m->partition, m->offset, m->ts_ms, m->key, m->value, m->key_len,
                     m->value_len, exc, reason};
    if (sl_ctx_reject(s->ctx, "sql", TASK_CLASS, &s->dlq, &r, errstr, errsz) < 0) return -1;
    m->failed = true;
    s->dead++;
    return 0;
}

/* A table's name as written (table, schema.table, catalog.schema.table: the catalog is not used). */
static void name_of(const char *name, tname *out) {
    const char *dot = strrchr(name, '.');
    memset(out, 0, sizeof *out);
    if (dot) {
        const char *sch = name;
        for (const char *q = name; q < dot; q++)
            if (*q == '.') sch = q + 1;
        snprintf(out->schema, sizeof out->schema, "%.*s", (int)(dot - sch), sch);
        name = dot + 1;
    }
    snprintf(out->table, sizeof out->table, "%s", name);
}

/* Expands collection.name.format for a record of topic whose source block is `source` (may be NULL). */
static int table_of(sql_sink *s, const char *topic, sl_vheap *h, sl_val *source, tname *out, char *err,
                    size_t errsz) {
    sl_buf *b = &s->scratch;
    sl_buf_reset(b);
    for (const char *p = s->conf->table_format; *p;) {
        if (!strncmp(p, "${topic}", 8)) {
            for (const char *q = topic ? topic : ""; *q; q++) sl_buf_putc(b, *q == '.' ? '_' : *q);
            p += 8;
        } else if (!strncmp(p, "${source.", 9)) {
            const char *e = strchr(p, '}');
            char field[128];
            snprintf(field, sizeof field, "%.*s", (int)(e - p - 9), p + 9);
            sl_val *v = source ? sl_v_get(h, source, field) : NULL;
            size_t vn;
            const char *vs = sl_v_strval(h, v, &vn);
            if (vs) sl_buf_put(b, vs, vn);
            else if (v && sl_v_kind(h, v) == SL_V_INT) sl_buf_put_i64(b, v->i);
            else {
                snprintf(err, errsz, "collection.name.format: the record has no source field '%s'", field);
                return -1;
            }
            p = e + 1;
        } else {
            sl_buf_putc(b, *p++);
        }
    }
    name_of(sl_buf_cstr(b), out);
    if (!out->table[0]) {
        snprintf(err, errsz, "collection.name.format: '%s' gives an empty table name", s->conf->table_format);
        return -1;
    }
    return 0;
}

/* The table the last event of `topic` went to (for its tombstones). */
static void remember_table(sql_sink *s, const char *topic, const tname *n) {
    sql_state *t = st(s);
    if (!topic) return;
    for (size_t i = 0; i < t->ntopics; i++)
        if (!strcmp(t->topics[i].topic, topic)) {
            t->topics[i].name = *n;
            return;
        }
    if (t->ntopics == 1024) return; /* enough: a tombstone of a topic beyond it is skipped */
    t->topics = sl_realloc(t->topics, (t->ntopics + 1) * sizeof *t->topics);
    t->topics[t->ntopics].topic = sl_strdup(topic);
    t->topics[t->ntopics++].name = *n;
}

static bool last_table_of(sql_sink *s, const char *topic, tname *n) {
    sql_state *t = st(s);
    for (size_t i = 0; topic && i < t->ntopics; i++)
        if (!strcmp(t->topics[i].topic, topic)) return *n = t->topics[i].name, true;
    return false;
}

/* One change: its op, key and value payloads (value: the envelope or the flat row; NULL: a tombstone). */
static int add_change(sql_sink *s, const shape *sh, rowsrc *rs, sl_val *value, uint32_t rec, char *err,
                      size_t errsz) {
    const char *what = s->recs[rec].what;
    sl_vheap *h = rs->h;
    if (!sh->ok) {
        if (strstr(sh->err, "schema change")) {
            SL_DEBUG("sql", "%s: skipped: %s", what, sh->err);
            return 0;
        }
        snprintf(err, errsz, "%s", sh->err);
        return -1;
    }
    char op;
    sl_val *source = NULL;
    if (!value || sl_v_is_null(h, value)) {
        op = 'd'; /* a tombstone */
        rs->row = NULL;
    } else if (sh->envelope) {
        const char *ops = sl_v_strval(h, sl_v_get(h, value, "op"), NULL);
        op = ops ? ops[0] : 0;
        source = sl_v_get(h, value, "source");
        if (op == 'c' || op == 'r' || op == 'u') rs->row = sl_v_get(h, value, "after");
        else if (op == 'd') rs->row = sl_v_get(h, value, "before");
        else if (op != 't') {
            SL_DEBUG("sql", "%s: op '%s' skipped", what, ops ? ops : "(none)");
            return 0;
        }
        if (op != 'd' && op != 't' && sl_v_is_null(h, rs->row)) {
            snprintf(err, errsz, "a change event (op %c) without 'after'", op);
            return -1;
        }
    } else {
        op = 'u';
        rs->row = value;
    }
    if (op == 'd' && !s->conf->delete_enabled) return 0;
    if (op == 't' && !s->conf->truncate_enabled) return 0;
    if (op == 'd' && sh->nkeys == 0) return 0;
    if (op == 'd' && s->conf->pk == PK_RECORD_VALUE && !rs->row) return 0; /* a tombstone: the key is in the event */
    tname n;
    if (!source && strstr(s->conf->table_format, "${source.")) {
        /* a tombstone has no source block: it goes to the table the topic's last event went to (its delete came
         * just before it and did the work; with no such event it is skipped, as Debezium's sink does) */
        if (!last_table_of(s, rs->topic, &n)) {
            SL_DEBUG("sql", "%s: a tombstone whose table collection.name.format cannot name: skipped", what);
            return 0;
        }
    } else if (table_of(s, rs->topic, h, source, &n, err, errsz) < 0) {
        return -1;
    } else if (source) {
        remember_table(s, rs->topic, &n);
    }
    if (op == 't') {
        add_truncate(s, &n);
        return 0;
    }
    return add_row(s, &n, sh, op == 'd' ? 'd' : 'u', op == 'c' || op == 'r', rs, rec, err, errsz);
}

static void what_of(const sl_record *r, const char *topic, char *out, size_t outsz) {
    if (r->raw)
        snprintf(out, outsz, "record %s/%d@%lld", r->raw->topic ? r->raw->topic : "", (int)r->raw->partition,
                 (long long)r->raw->offset);
    else if (r->table)
        snprintf(out, outsz, "record of table %s.%s (op %c)", r->table->schema ? r->table->schema : "",
                 r->table->name, (char)r->op);
    else snprintf(out, outsz, "record of %s (op %c)", topic ? topic : "?", (char)r->op);
}

/* A Connect schema for schemaless JSON (JsonConverter with schemas.enable=false), from its JSON types: integers
 * int64, other numbers double, strings, booleans, objects and arrays as JSON text (a map), a null as an optional
 * string. The top object is a struct of its members. */
static void infer_schema(sl_vheap *h, sl_val *v, const char *field, size_t flen, bool top, sl_buf *out) {
    sl_vkind k = sl_v_kind(h, v);
    if (top && k == SL_V_OBJ) {
        sl_buf_puts(out, "{\"type\":\"struct\",\"optional\":false,\"fields\":[");
        for (uint32_t i = 0; i < v->n; i++) {
            if (i) sl_buf_putc(out, ',');
            infer_schema(h, v->m[i].v, v->m[i].name, v->m[i].len, false, out);
        }
        sl_buf_puts(out, "]}");
        return;
    }
    const char *t = k == SL_V_BOOL ? "boolean" : k == SL_V_INT ? "int64" : k == SL_V_REAL ? "double"
                  : k == SL_V_OBJ || k == SL_V_ARR ? "map" : "string";
    sl_buf_printf(out, "{\"type\":\"%s\",\"optional\":true", t);
    if (field) {
        sl_buf_puts(out, ",\"field\":");
        sl_buf_put_json_str(out, field, flen);
    }
    sl_buf_putc(out, '}');
}

/* A value that is a document taken apart into rows (the unembed transform's {"__sluice_rows": [...]}). */
static bool is_rows_value(const char *v, size_t n) {
    static const char tag[] = "{\"__sluice_rows\":";
    return v && n > sizeof tag - 1 && !memcmp(v, tag, sizeof tag - 1);
}

/* Keeps such a record until the transaction is written (expand_groups). */
static void add_group(sql_sink *s, uint32_t rec, const sl_raw *raw) {
    if (s->ngroups == s->capgroups) {
        s->capgroups = s->capgroups ? 2 * s->capgroups : 64;
        s->groups = sl_realloc(s->groups, s->capgroups * sizeof *s->groups);
    }
    struct sgroup *g = &s->groups[s->ngroups++];
    /* a document is its topic (collection) and its key (_id): two collections may hold the same _id */
    size_t tl = raw->topic ? strlen(raw->topic) : 0, kl = raw->key ? raw->key_len : 0;
    char *k = sl_arena_alloc(&s->arena, tl + kl + 2);
    if (tl) memcpy(k, raw->topic, tl);
    k[tl] = '\0';
    if (kl) memcpy(k + tl + 1, raw->key, kl);
    k[tl + 1 + kl] = 0;
    g->key = k;
    g->klen = tl + 1 + kl;
    g->ops = sl_arena_strndup(&s->arena, raw->value, raw->value_len);
    g->olen = raw->value_len;
    g->rec = rec;
    g->dead = false;
}

/* Adds record r's row (or truncate). 0, or -1 with err saying why it cannot be written (*rec: the record, for
 * reject()). */
static int add_record(sql_sink *s, const sl_record *r, uint32_t *rec, char *err, size_t errsz) {
    sql_state *t = st(s);
    char what[512];
    sl_vheap_reset(&t->vh);
    rowsrc rs = {&t->vh, NULL, NULL, NULL, -1, -1};
    if (r->raw) {
        const sl_raw *raw = r->raw;
        rs.topic = raw->topic;
        rs.partition = raw->partition;
        rs.offset = raw->offset;
        what_of(r, NULL, what, sizeof what);
        *rec = begin_rec(s, r, raw->topic, what);
        if (is_rows_value(raw->value, raw->value_len)) {
            add_group(s, *rec, raw);
            return 0;
        }
        sl_jval ks = {0}, kp = {0}, vs = {0}, vp = {0};
        bool kenv = raw->key && split_envelope(raw->key, raw->key_len, &ks, &kp);
        bool venv = raw->value && (raw->value_schema_len && raw->value_payload_len
                                       ? (vs.p = raw->value + raw->value_schema_at, vs.n = raw->value_schema_len,
                                          vp.p = raw->value + raw->value_payload_at, vp.n = raw->value_payload_len, true)
                                       : split_envelope(raw->value, raw->value_len, &vs, &vp));
        char e2[512];
        sl_val *value = NULL;
        /* schemaless JSON: the schemas come from the JSON types (the shape is cached by their text) */
        sl_buf_reset(&t->key);
        sl_buf_reset(&t->value);
        if (raw->key && !kenv) {
            if (!(rs.key = sl_v_parse(&t->vh, raw->key, raw->key_len, e2, sizeof e2))) {
                snprintf(err, errsz, "the key: %s", e2);
                return -1;
            }
            infer_schema(&t->vh, rs.key, NULL, 0, true, &t->key);
            ks.p = t->key.data, ks.n = t->key.len;
        }
        if (raw->value && !venv) {
            if (!(value = sl_v_parse(&t->vh, raw->value, raw->value_len, e2, sizeof e2))) {
                snprintf(err, errsz, "the value: %s", e2);
                return -1;
            }
            if (sl_v_kind(&t->vh, value) != SL_V_OBJ) {
                snprintf(err, errsz, "a value without a Connect schema must be a JSON object (with "
                                     "value.converter.schemas.enable=true its schema gives the columns)");
                return -1;
            }
            infer_schema(&t->vh, value, NULL, 0, true, &t->value);
            vs.p = t->value.data, vs.n = t->value.len;
        }
        const shape *sh = raw_shape(s, ks.p, ks.n, vs.p, vs.n, raw->topic);
        if (!raw->value && !sh->nkeys) return 0; /* a tombstone with nothing to key a delete by */
        if (kenv && !(rs.key = sl_v_parse(&t->vh, kp.p, kp.n, e2, sizeof e2))) {
            snprintf(err, errsz, "the key: %s", e2);
            return -1;
        }
        if (venv && sh->envelope && vp.n && *vp.p == '{') {
            /* an envelope: only the members a row needs are read (a Debezium event's source block and the
             * unused image are most of its payload) */
            static const char *const keys[] = {"op", "after", "before", "source"};
            sl_jval m[4];
            unsigned found = 0;
            if (sl_jval_members(vp, keys, 4, m, &found) < 0) {
                snprintf(err, errsz, "the value's payload is not an object");
                return -1;
            }
            value = sl_v_obj(&t->vh, 4);
            char op = 0;
            if (found & 1) {
                sl_val *o = sl_v_parse(&t->vh, m[0].p, m[0].n, e2, sizeof e2);
                const char *ops = o ? sl_v_strval(&t->vh, o, NULL) : NULL;
                if (o) sl_v_set_ref(&t->vh, value, "op", 2, o);
                op = ops ? ops[0] : 0;
            }
            bool need_src = strstr(s->conf->table_format, "${source.") != NULL;
            for (int i = 1; i < 4; i++) {
                if (!(found & (1u << i)) || (i == 1 && op == 'd') || (i == 2 && op != 'd') || (i == 3 && !need_src))
                    continue;
                sl_val *x = sl_v_parse(&t->vh, m[i].p, m[i].n, e2, sizeof e2);
                if (!x) {
                    snprintf(err, errsz, "the value's %s: %s", keys[i], e2);
                    return -1;
                }
                sl_v_set_ref(&t->vh, value, keys[i], strlen(keys[i]), x);
            }
        } else if (venv && !(value = sl_v_parse(&t->vh, vp.p, vp.n, e2, sizeof e2))) {
            snprintf(err, errsz, "the value: %s", e2);
            return -1;
        }
        return add_change(s, sh, &rs, value, *rec, err, errsz);
    }
    sl_buf_reset(&t->key);
    const sl_dbz_opts *o = sl_ctx_dbz(s->ctx);
    char topic[512];
    snprintf(topic, sizeof topic, "%s", sl_dbz_topic(o, r, &t->key));
    rs.topic = topic;
    what_of(r, topic, what, sizeof what);
    *rec = begin_rec(s, r, topic, what);
    if (r->op == SL_OP_TRUNCATE) {
        if (!s->conf->truncate_enabled) return 0;
        sl_val *src = sl_v_obj(&t->vh, 3);
        sl_v_set(&t->vh, src, "db", sl_v_str(&t->vh, r->table->db ? r->table->db : ""));
        sl_v_set(&t->vh, src, "schema", sl_v_str(&t->vh, r->table->schema ? r->table->schema : ""));
        sl_v_set(&t->vh, src, "table", sl_v_str(&t->vh, r->table->name));
        tname n;
        if (table_of(s, topic, &t->vh, src, &n, err, errsz) < 0) return -1;
        add_truncate(s, &n);
        return 0;
    }
    const shape *sh = table_shape(s, r, topic);
    sl_val *value = NULL;
    if (!sl_dbz_view(o, r, &t->vh, &rs.key, &value)) return 0;
    return add_change(s, sh, &rs, value, *rec, err, errsz);
}

static int sql_write(void *sink, sl_batch *b, char *errstr, size_t errsz) {
    sql_sink *s = sink;
    for (int i = 0; i < b->n; i++) {
        const sl_record *r = &b->recs[i];
        if (r->op == SL_OP_HEARTBEAT || r->op == SL_OP_TX_BEGIN || r->op == SL_OP_TX_END || r->op == SL_OP_SCHEMA ||
            r->op == SL_OP_MESSAGE)
            continue;
        if (!r->raw && !r->table) continue;
        uint32_t rec = 0;
        char err[1024];
        if (add_record(s, r, &rec, err, sizeof err) < 0 && reject(s, rec, EXC_DATA, err, errstr, errsz) < 0)
            return -1;
    }
    return 0;
}

/* ---- flush: tables as the rows need them, one transaction ---- */

static void known_drop_all(sql_state *t) {
    for (size_t i = 0; i < t->nknown; i++) {
        for (int j = 0; j < t->known[i].ncols; j++) {
            sl_free(t->known[i].cols[j].name);
            sl_free(t->known[i].cols[j].type);
        }
        sl_free(t->known[i].cols);
    }
    t->nknown = 0;
}

static struct known *known_of(sql_sink *s, const tname *n) {
    sql_state *t = st(s);
    for (size_t i = 0; i < t->nknown; i++)
        if (!strcmp(t->known[i].name.table, n->table) && !strcmp(t->known[i].name.schema, n->schema)) return &t->known[i];
    return NULL;
}

static int load_known(sql_sink *s, const tname *n, struct known **out, char *err, size_t errsz) {
    sql_state *t = st(s);
    struct known *k = known_of(s, n);
    if (!k) {
        t->known = sl_realloc(t->known, (t->nknown + 1) * sizeof *t->known);
        k = &t->known[t->nknown++];
        memset(k, 0, sizeof *k);
        k->name = *n;
    } else {
        for (int j = 0; j < k->ncols; j++) {
            sl_free(k->cols[j].name);
            sl_free(k->cols[j].type);
        }
        sl_free(k->cols);
        k->cols = NULL;
        k->ncols = 0;
    }
    *out = k;
    tname f;
    fold(s, n->schema, f.schema, sizeof f.schema);
    fold(s, n->table, f.table, sizeof f.table);
    return s->d->columns(s, &f, &k->cols, &k->ncols, err, errsz);
}

static const tcol *known_col(const sql_sink *s, const struct known *k, const char *name) {
    char f[256];
    fold(s, name, f, sizeof f);
    for (int i = 0; i < k->ncols; i++)
        if (!strcmp(k->cols[i].name, f) || (s->conf->dialect == SL_SQL_MY && !strcasecmp(k->cols[i].name, f)))
            return &k->cols[i];
    return NULL;
}

static void put_col_def(sql_sink *s, sl_buf *b, const sl_sqlcol *c, bool key, bool nullable) {
    sql_put_ident(b, s, c->name);
    sl_buf_putc(b, ' ');
    sl_sql_put_type(c, s->conf->dialect, key, b);
    sl_buf_puts(b, nullable ? " NULL" : " NOT NULL");
}

/* The type a column of the target must be widened to for field c (NULL: it holds c as it is): integers to a
 * wider integer, varchar(n) to the field's longer source length. Nothing narrower, nothing else. */
static const char *widening(const sql_sink *s, const tcol *tc, const sl_sqlcol *c, char *buf, size_t bufsz) {
    bool pg = s->conf->dialect == SL_SQL_PG;
    const char *t = tc->type;
    int have = !strcmp(t, "tinyint") ? 1 : !strcmp(t, "smallint") ? 2 : !strcmp(t, "mediumint") ? 3
             : !strcmp(t, "integer") || !strcmp(t, "int") ? 4 : !strcmp(t, "bigint") ? 8 : 0;
    int need = c->kind == SL_SQLK_INT64 ? 8 : c->kind == SL_SQLK_INT32 ? 4 : c->kind == SL_SQLK_INT16 ? 2 : 0;
    if (have && need > have) return need == 8 ? "bigint" : need == 4 ? (pg ? "integer" : "int") : "smallint";
    if ((!strcmp(t, "character varying") || !strcmp(t, "varchar")) && c->kind == SL_SQLK_STRING && c->length > 0 &&
        tc->length > 0 && c->length > tc->length) {
        snprintf(buf, bufsz, "varchar(%d)", c->length);
        return buf;
    }
    return NULL;
}

/* Widens the columns of g's table that hold less than g's fields need (schema.evolution=basic); 0 or -1. */
static int widen(sql_sink *s, seg *g, struct known *k, bool *changed, char *err, size_t errsz) {
    sl_buf *b = &s->sql;
    for (int i = 0; i < g->ncols; i++) {
        const tcol *tc = known_col(s, k, g->cols[i].name);
        char tb[64];
        const char *to = tc ? widening(s, tc, &g->cols[i], tb, sizeof tb) : NULL;
        if (!to) continue;
        sl_buf_reset(b);
        sl_buf_puts(b, "ALTER TABLE ");
        sql_put_table(b, s, &g->name);
        if (s->conf->dialect == SL_SQL_PG) {
            sl_buf_puts(b, " ALTER COLUMN ");
            sql_put_ident(b, s, g->cols[i].name);
            sl_buf_printf(b, " TYPE %s", to);
        } else {
            sl_buf_puts(b, " MODIFY COLUMN ");
            sql_put_ident(b, s, g->cols[i].name);
            sl_buf_printf(b, " %s %s", to, tc->nullable ? "NULL" : "NOT NULL");
        }
        SL_INFO("sql", "widening column %s (%s) for the records' %s: %s", g->cols[i].name, tc->type, to,
                sl_buf_cstr(b));
        if (s->d->exec(s, sl_buf_cstr(b), err, errsz) != SQL_OK) return -1;
        *changed = true;
    }
    return 0;
}

/* Makes the target table of g hold g's columns: creates it or adds what is missing (schema.evolution=basic),
 * else says which table or column is missing. */
static int ensure_table(sql_sink *s, seg *g, char *err, size_t errsz) {
    struct known *k = known_of(s, &g->name);
    bool complete = k && k->ncols > 0;
    char tb[64];
    for (int i = 0; complete && i < g->ncols; i++) {
        const tcol *tc = known_col(s, k, g->cols[i].name);
        if (!tc || (s->conf->evolve && widening(s, tc, &g->cols[i], tb, sizeof tb))) complete = false;
    }
    if (complete) return 0;
    if (load_known(s, &g->name, &k, err, errsz) < 0) return -1;
    sl_buf *b = &s->sql;
    sl_buf_reset(b);
    if (k->ncols == 0) {
        if (!s->conf->evolve) {
            sl_buf_reset(&s->scratch);
            sql_put_table(&s->scratch, s, &g->name);
            snprintf(err, errsz, "table %s does not exist in the target (schema.evolution=none: create it, or set "
                                 "schema.evolution=basic or auto.create=true)", sl_buf_cstr(&s->scratch));
            return -1;
        }
        if (g->truncate) return 0;
        sl_buf_puts(b, "CREATE TABLE ");
        sql_put_table(b, s, &g->name);
        sl_buf_puts(b, " (");
        for (int i = 0; i < g->ncols; i++) {
            if (i) sl_buf_puts(b, ", ");
            put_col_def(s, b, &g->cols[i], i < g->nkeys, i >= g->nkeys && g->cols[i].optional);
        }
        if (g->nkeys) {
            sl_buf_puts(b, ", PRIMARY KEY (");
            for (int i = 0; i < g->nkeys; i++) {
                if (i) sl_buf_puts(b, ", ");
                sql_put_ident(b, s, g->cols[i].name);
            }
            sl_buf_putc(b, ')');
        }
        sl_buf_putc(b, ')');
        SL_INFO("sql", "creating table: %s", sl_buf_cstr(b));
    } else {
        int added = 0;
        for (int i = 0; i < g->ncols; i++) {
            if (known_col(s, k, g->cols[i].name)) continue;
            if (!s->conf->evolve) {
                sl_buf_reset(&s->scratch);
                sql_put_table(&s->scratch, s, &g->name);
                snprintf(err, errsz, "table %s has no column '%s' (schema.evolution=none: add it, or set "
                                     "schema.evolution=basic or auto.evolve=true)", sl_buf_cstr(&s->scratch),
                         g->cols[i].name);
                return -1;
            }
            if (i < g->nkeys) {
                sl_buf_reset(&s->scratch);
                sql_put_table(&s->scratch, s, &g->name);
                snprintf(err, errsz, "table %s has no column '%s', which is part of the records' primary key: a key "
                                     "column cannot be added", sl_buf_cstr(&s->scratch), g->cols[i].name);
                return -1;
            }
            sl_buf_puts(b, added++ ? ", " : "ALTER TABLE ");
            if (added == 1) {
                sql_put_table(b, s, &g->name);
                sl_buf_putc(b, ' ');
            }
            sl_buf_puts(b, "ADD COLUMN ");
            put_col_def(s, b, &g->cols[i], false, true); /* nullable: the rows already there have no value */
        }
        if (!added) {
            bool changed = false;
            if (s->conf->evolve && widen(s, g, k, &changed, err, errsz) < 0) return -1;
            return changed ? load_known(s, &g->name, &k, err, errsz) : 0;
        }
        SL_INFO("sql", "adding columns: %s", sl_buf_cstr(b));
    }
    if (s->d->exec(s, sl_buf_cstr(b), err, errsz) != SQL_OK) {
        int rc = -1;
        /* another writer may have created it meanwhile: look again */
        if (load_known(s, &g->name, &k, err + strlen(err), errsz - strlen(err)) == 0 && k->ncols) rc = 0;
        for (int i = 0; rc == 0 && i < g->ncols; i++)
            if (!known_col(s, k, g->cols[i].name)) rc = -1;
        return rc;
    }
    if (load_known(s, &g->name, &k, err, errsz) < 0) return -1;
    bool changed = false; /* a new column of a table that also needs a wider one */
    if (widen(s, g, k, &changed, err, errsz) < 0) return -1;
    return changed ? load_known(s, &g->name, &k, err, errsz) : 0;
}

/* True when the target's primary key (as the catalog had it) is made of g's key columns only: then the target
 * refuses a second row of a key. */
static bool key_unique(sql_sink *s, const seg *g) {
    const struct known *k = known_of(s, &g->name);
    bool any = false;
    for (int i = 0; k && i < k->ncols; i++) {
        if (!k->cols[i].pk) continue;
        int j = 0;
        while (j < g->nkeys && known_col(s, k, g->cols[j].name) != &k->cols[i]) j++;
        if (j == g->nkeys) return false;
        any = true;
    }
    return any;
}

/* ---- documents taken apart into rows (__sluice_rows): the last state of each document, as rows ---- */

#define PK_MAX 32

/* The primary key columns of table n from the target's catalog; -1 with err when it has none or does not
 * exist (the rows of a document go into tables that exist: their keys come from there). */
static int pk_of(sql_sink *s, const tname *n, const tcol **pk, int *npk, char *err, size_t errsz) {
    struct known *k = known_of(s, n);
    if ((!k || !k->ncols) && load_known(s, n, &k, err, errsz) < 0) return -1;
    *npk = 0;
    for (int i = 0; i < k->ncols && *npk < PK_MAX; i++)
        if (k->cols[i].pk) pk[(*npk)++] = &k->cols[i];
    if (*npk) return 0;
    sl_buf_reset(&s->scratch);
    sql_put_table(&s->scratch, s, n);
    snprintf(err, errsz, "table %s %s (the rows of a document are upserted by the table's primary key)",
             sl_buf_cstr(&s->scratch), k->ncols ? "has no primary key" : "does not exist in the target");
    return -1;
}

/* The member of row whose name is the catalog's column name (PostgreSQL folds unquoted names). */
static sl_val *row_col(sl_vheap *h, sl_val *row, const char *name) {
    sl_val *v = sl_v_get(h, row, name);
    if (v || sl_v_kind(h, row) != SL_V_OBJ) return v;
    for (uint32_t i = 0; i < row->n; i++)
        if (!strcasecmp(row->m[i].name, name)) return row->m[i].v;
    return NULL;
}

/* The shape of a document's row: its columns from the JSON values, the table's primary key columns first. */
static shape *row_shape(sql_sink *s, sl_vheap *h, sl_val *row, const tcol *const *pk, int npk) {
    sql_state *t = st(s);
    sl_buf_reset(&t->key);
    sl_buf_putc(&t->key, '\1');
    for (int i = 0; i < npk; i++) sl_buf_printf(&t->key, "%s,", pk[i]->name);
    sl_buf_reset(&t->value);
    infer_schema(h, row, NULL, 0, true, &t->value);
    for (size_t i = t->nshapes; i-- > 0;) {
        shape *sh = &t->shapes[i];
        if (!sh->table && sh->klen == t->key.len && sh->vlen == t->value.len && !memcmp(sh->ktext, t->key.data, sh->klen) &&
            !memcmp(sh->vtext, t->value.data, sh->vlen))
            return sh;
    }
    shape *sh = new_shape(s);
    sh->ktext = sl_strndup(t->key.data, t->key.len);
    sh->klen = t->key.len;
    sh->vtext = sl_strndup(t->value.data, t->value.len);
    sh->vlen = t->value.len;
    sl_vheap_reset(&t->sh);
    sl_sqlcol *vf = NULL;
    int nv = 0;
    sl_val *sch = sl_v_parse(&t->sh, sh->vtext, sh->vlen, sh->err, sizeof sh->err);
    if (!sch || compile_fields(&t->sh, sch, &vf, &nv, sh->err, sizeof sh->err) < 0) return sh;
    bool *used = sl_calloc((size_t)nv + 1, sizeof *used);
    for (int k = 0; k < npk; k++) {
        int at = -1;
        for (int i = 0; i < nv && at < 0; i++)
            if (!strcmp(vf[i].name, pk[k]->name)) at = i;
        for (int i = 0; i < nv && at < 0; i++)
            if (!strcasecmp(vf[i].name, pk[k]->name)) at = i;
        if (at < 0) {
            snprintf(sh->err, sizeof sh->err, "the row has no value for primary key column '%s'", pk[k]->name);
            goto out;
        }
        used[at] = true;
        add_col(sh, &vf[at], SRC_VAL, true);
    }
    for (int i = 0; i < nv; i++)
        if (!used[i]) add_col(sh, &vf[i], SRC_VAL, false);
    sh->src_at = sl_malloc((size_t)(sh->ncols ? sh->ncols : 1) * sizeof *sh->src_at);
    sh->ok = true;
out:
    for (int i = 0; i < nv; i++) sl_sqlcol_free(&vf[i]);
    sl_free(vf);
    sl_free(used);
    return sh;
}

/* Appends v as a SQL literal (a key value of a DELETE's condition). */
static void put_literal(sql_sink *s, sl_buf *b, sl_vheap *h, sl_val *v) {
    switch (sl_v_kind(h, v)) {
    case SL_V_INT: sl_buf_put_i64(b, v->i); break;
    case SL_V_REAL: sl_buf_printf(b, "%.17g", v->d); break;
    case SL_V_BOOL: sl_buf_puts(b, v->b ? "TRUE" : "FALSE"); break;
    case SL_V_NULL: sl_buf_puts(b, "NULL"); break;
    case SL_V_STR: {
        size_t n;
        const char *str = sl_v_strval(h, v, &n);
        sl_sql_put_literal(b, s->conf->dialect, str, n);
        break;
    }
    default: {
        sl_buf j;
        sl_buf_init(&j);
        sl_v_put_json(&j, v);
        sl_sql_put_literal(b, s->conf->dialect, j.data, j.len);
        sl_buf_free(&j);
    }
    }
}

/* The root row's primary key from the document's _id: one column takes _id, several _id's members by name. */
static int set_id(sql_sink *s, sl_vheap *h, sl_val *row, sl_val *id, const tcol *const *pk, int npk, char *err,
                  size_t errsz) {
    (void)s;
    for (int k = 0; k < npk; k++) {
        sl_val *v = npk == 1 ? id : row_col(h, id, pk[k]->name);
        if (!v || sl_v_kind(h, id) == SL_V_NULL) {
            snprintf(err, errsz, "_id has no value for primary key column '%s'", pk[k]->name);
            return -1;
        }
        sl_v_del(h, row, pk[k]->name);
        sl_v_set(h, row, pk[k]->name, v);
    }
    return 0;
}

/*
 * The deletes of the documents' rows, batched per table: prunes (the rows of a child table whose parent is one of
 * `parents` and whose key is none of `keys`, the child rows those parents' documents hold: keys are unique, so a
 * child that moved to another parent of the batch already has that parent) and deletes of root rows by key.
 * They run after the segments, prunes first (children before their parents), in statements of at most
 * DEL_BATCH parents or keys each.
 */
#define DEL_BATCH 500

struct sdel {
    tname n;
    bool root;           /* deletes of roots by key, else prunes of children by parent */
    char cols[600];      /* the parent columns (prunes) or the key columns (roots), as SQL */
    char keycols[600];   /* prunes: the child's key columns, as SQL */
    sl_buf parents, keys; /* literal tuples: "(1), (2)" */
    int nparents;
};

static void dels_reset(sql_sink *s) {
    for (size_t i = 0; i < s->ndels; i++) sl_buf_free(&s->dels[i].parents), sl_buf_free(&s->dels[i].keys);
    s->ndels = 0;
}

/* Appends one statement for d's batch to `after` and empties the batch. */
static void del_emit(sql_sink *s, struct sdel *d) {
    if (!d->nparents) return;
    sl_buf *b = &s->after;
    sl_buf_puts(b, "DELETE FROM ");
    sql_put_table(b, s, &d->n);
    sl_buf_printf(b, " WHERE (%s) IN (", d->cols);
    sl_buf_put(b, d->parents.data, d->parents.len);
    sl_buf_putc(b, ')');
    if (!d->root && d->keys.len) {
        sl_buf_printf(b, " AND (%s) NOT IN (", d->keycols);
        sl_buf_put(b, d->keys.data, d->keys.len);
        sl_buf_putc(b, ')');
    }
    sl_buf_putc(b, '\0');
    sl_buf_reset(&d->parents);
    sl_buf_reset(&d->keys);
    d->nparents = 0;
}

static struct sdel *del_of(sql_sink *s, const tname *n, bool root) {
    for (size_t i = 0; i < s->ndels; i++)
        if (s->dels[i].root == root && !strcmp(s->dels[i].n.table, n->table) && !strcmp(s->dels[i].n.schema, n->schema))
            return &s->dels[i];
    if (s->ndels == s->capdels) {
        s->capdels = s->capdels ? 2 * s->capdels : 8;
        s->dels = sl_realloc(s->dels, s->capdels * sizeof *s->dels);
    }
    struct sdel *d = &s->dels[s->ndels++];
    memset(d, 0, sizeof *d);
    d->n = *n;
    d->root = root;
    sl_buf_init(&d->parents);
    sl_buf_init(&d->keys);
    return d;
}

/* Column names as SQL, comma-separated. */
static void put_names(sql_sink *s, char *out, size_t outsz, const char *const *names, int n) {
    sl_buf b;
    sl_buf_init(&b);
    for (int i = 0; i < n; i++) {
        if (i) sl_buf_puts(&b, ", ");
        sql_put_ident(&b, s, names[i]);
    }
    snprintf(out, outsz, "%s", b.len ? sl_buf_cstr(&b) : "");
    sl_buf_free(&b);
}

/* Adds a delete of the root row of _id (parent NULL), or a prune of the rows of table n under `parent` that
 * are none of the upserted rows of n in ops. 0, or -1 with err. */
static int add_delete(sql_sink *s, sl_vheap *h, const tname *n, sl_val *id, sl_val *parent, sl_val *ops,
                      const tcol *const *pk, int npk, bool check, char *err, size_t errsz) {
    const char *pkn[PK_MAX];
    for (int k = 0; k < npk; k++) pkn[k] = pk[k]->name;
    sl_val *vals[PK_MAX];
    if (!parent) {
        for (int k = 0; k < npk; k++)
            if (!(vals[k] = npk == 1 ? id : row_col(h, id, pk[k]->name))) {
                snprintf(err, errsz, "_id has no value for primary key column '%s'", pk[k]->name);
                return -1;
            }
    } else if (parent->n > PK_MAX) {
        snprintf(err, errsz, "more than %d parent key columns", PK_MAX);
        return -1;
    }
    if (check) return 0;
    struct sdel *d = del_of(s, n, !parent);
    sl_buf *pb = &d->parents;
    if (!parent) {
        if (!d->cols[0]) put_names(s, d->cols, sizeof d->cols, pkn, npk);
        sl_buf_puts(pb, d->nparents ? ", (" : "(");
        for (int k = 0; k < npk; k++) {
            if (k) sl_buf_puts(pb, ", ");
            put_literal(s, pb, h, vals[k]);
        }
        sl_buf_putc(pb, ')');
        d->nparents++;
        return 0; /* roots go at the end, after every prune */
    }
    if (!d->cols[0]) {
        const char *pn[PK_MAX];
        for (uint32_t i = 0; i < parent->n; i++) pn[i] = parent->m[i].name;
        put_names(s, d->cols, sizeof d->cols, pn, (int)parent->n);
        put_names(s, d->keycols, sizeof d->keycols, pkn, npk);
    }
    sl_buf_puts(pb, d->nparents ? ", (" : "(");
    for (uint32_t i = 0; i < parent->n; i++) {
        if (i) sl_buf_puts(pb, ", ");
        put_literal(s, pb, h, parent->m[i].v);
    }
    sl_buf_putc(pb, ')');
    d->nparents++;
    for (uint32_t i = 0; i < ops->n; i++) {
        sl_val *o = ops->e[i];
        const char *op = sl_v_strval(h, sl_v_get(h, o, "op"), NULL), *tb = sl_v_strval(h, sl_v_get(h, o, "table"), NULL);
        tname on;
        if (!op || !tb || strcmp(op, "u") || sl_v_get(h, o, "id")) continue;
        name_of(tb, &on);
        if (strcmp(on.table, n->table) || strcmp(on.schema, n->schema)) continue;
        sl_val *row = sl_v_get(h, o, "row");
        sl_buf_puts(&d->keys, d->keys.len ? ", (" : "(");
        for (int k = 0; k < npk; k++) {
            if (k) sl_buf_puts(&d->keys, ", ");
            put_literal(s, &d->keys, h, row_col(h, row, pk[k]->name));
        }
        sl_buf_putc(&d->keys, ')');
    }
    if (d->nparents >= DEL_BATCH) del_emit(s, d);
    return 0;
}

/* One pass over a document's ops: -1 checks them all (nothing is added: a document that cannot be written is
 * refused whole, before any of its rows), 0 upserts of root rows (ops with an id), 1 the other upserts, 2 the
 * deletes. 0, or -1 with err (the document's record is rejected). */
static int expand_pass(sql_sink *s, struct sgroup *g, sl_val *ops, int pass, char *err, size_t errsz) {
    sl_vheap *h = &st(s)->vh;
    for (uint32_t i = 0; i < ops->n; i++) {
        sl_val *o = ops->e[i];
        const char *op = sl_v_strval(h, sl_v_get(h, o, "op"), NULL), *tb = sl_v_strval(h, sl_v_get(h, o, "table"), NULL);
        sl_val *id = sl_v_get(h, o, "id"), *row = sl_v_get(h, o, "row");
        if (!op || !tb) {
            snprintf(err, errsz, "__sluice_rows: an entry without op or table");
            return -1;
        }
        bool up = !strcmp(op, "u"), check = pass < 0;
        if (!check && (pass == 0 ? !up || !id : pass == 1 ? !up || id : up)) continue;
        tname n;
        name_of(tb, &n);
        const tcol *pk[PK_MAX];
        int npk;
        if (pk_of(s, &n, pk, &npk, err, errsz) < 0) return -1;
        if (up) {
            if (sl_v_kind(h, row) != SL_V_OBJ) {
                snprintf(err, errsz, "__sluice_rows: an upsert of %s without its row", tb);
                return -1;
            }
            if (id && set_id(s, h, row, id, pk, npk, err, errsz) < 0) return -1;
            /* the columns the document does not hold are null now (but those the mapping leaves out of it) */
            const struct known *k = known_of(s, &n);
            sl_v_force(h, row);
            if (k && !s->conf->evolve) /* a field without a column: this document is refused, not the transaction */
                for (uint32_t c = 0; c < row->n; c++)
                    if (!known_col(s, k, row->m[c].name)) {
                        snprintf(err, errsz, "table %s has no column '%s' (schema.evolution=none: add it, or set "
                                             "schema.evolution=basic)", tb, row->m[c].name);
                        return -1;
                    }
            sl_val *keep = sl_v_get(h, o, "keep");
            for (int c = 0; k && c < k->ncols; c++) {
                bool kept = row_col(h, row, k->cols[c].name) != NULL;
                for (uint32_t j = 0; !kept && keep && sl_v_kind(h, keep) == SL_V_ARR && j < keep->n; j++) {
                    const char *kn = sl_v_strval(h, sl_v_at(h, keep, j), NULL);
                    kept = kn && !strcasecmp(kn, k->cols[c].name);
                }
                if (!kept) sl_v_set(h, row, k->cols[c].name, sl_v_null(h));
            }
            shape *sh = row_shape(s, h, row, pk, npk);
            if (!sh->ok) {
                snprintf(err, errsz, "%s: %s", tb, sh->err);
                return -1;
            }
            if (check) continue;
            rowsrc rs = {h, NULL, row, NULL, -1, -1};
            if (add_row(s, &n, sh, 'u', false, &rs, g->rec, err, errsz) < 0) return -1;
            for (size_t k = s->nsegs; k-- > 0;)
                if (!strcmp(s->segs[k]->name.table, n.table) && !strcmp(s->segs[k]->name.schema, n.schema)) {
                    s->segs[k]->upsert = true;
                    break;
                }
        } else if (!strcmp(op, "prune") || !strcmp(op, "d")) {
            sl_val *parent = !strcmp(op, "prune") ? sl_v_get(h, o, "parent") : NULL;
            if (parent ? sl_v_kind(h, parent) != SL_V_OBJ || !parent->n : !id) {
                snprintf(err, errsz, "__sluice_rows: a %s of %s without %s", op, tb, parent ? "its parent" : "its id");
                return -1;
            }
            if (add_delete(s, h, &n, id, parent, ops, pk, npk, check, err, errsz) < 0) return -1;
        } else {
            snprintf(err, errsz, "__sluice_rows: unknown op '%s'", op);
            return -1;
        }
    }
    return 0;
}

/* Turns the documents of this transaction into rows: only each document's last record counts (it holds the
 * whole document), in three passes so that a parent row is written before its children and deleted after
 * them. A document whose rows cannot be made is rejected (reject: the dead letter queue, or the connector
 * stops). */
static int expand_groups(sql_sink *s, char *err, size_t errsz) {
    sql_state *t = st(s);
    if (s->expanded) return SQL_OK;
    size_t nslots = 16;
    while (nslots < 2 * s->ngroups) nslots *= 2;
    uint32_t *slots = sl_calloc(nslots, sizeof *slots);
    for (size_t i = s->ngroups; i-- > 0;) { /* the last record of each _id wins */
        struct sgroup *g = &s->groups[i];
        size_t at = hash_bytes(g->key, g->klen) & (nslots - 1);
        for (; slots[at]; at = (at + 1) & (nslots - 1)) {
            const struct sgroup *o = &s->groups[slots[at] - 1];
            if (o->klen == g->klen && !memcmp(o->key, g->key, g->klen)) {
                g->dead = true;
                break;
            }
        }
        if (!g->dead) slots[at] = (uint32_t)i + 1;
    }
    sl_free(slots);
    sl_buf_reset(&s->after);
    dels_reset(s);
    /* each list read once (the heap holds them all until the next record resets it) */
    sl_vheap_reset(&t->vh);
    sl_val **lists = sl_calloc(s->ngroups + 1, sizeof *lists);
    for (size_t i = 0; i < s->ngroups; i++) {
        if (s->groups[i].dead) continue;
        sl_val *v = sl_v_parse(&t->vh, s->groups[i].ops, s->groups[i].olen, NULL, 0);
        lists[i] = v ? sl_v_get(&t->vh, v, "__sluice_rows") : NULL;
        if (lists[i] && sl_v_kind(&t->vh, lists[i]) == SL_V_ARR) sl_v_force(&t->vh, lists[i]);
        else lists[i] = NULL;
    }
    for (int pass = -1; pass < 3; pass++)
        for (size_t i = 0; i < s->ngroups; i++) {
            struct sgroup *g = &s->groups[i];
            if (g->dead) continue;
            char e2[1024];
            int rc = lists[i] ? expand_pass(s, g, lists[i], pass, e2, sizeof e2)
                              : (snprintf(e2, sizeof e2, "__sluice_rows is not an array of row operations"), -1);
            if (rc == 0) continue;
            if (!s->conn) { /* lost on the way (the catalog): try the whole transaction again */
                snprintf(err, errsz, "%s", e2);
                sl_free(lists);
                return SQL_RETRY;
            }
            g->dead = true;
            if (reject(s, g->rec, EXC_DATA, e2, err, errsz) < 0) {
                sl_free(lists);
                return SQL_REFUSED;
            }
        }
    sl_free(lists);
    for (int root = 0; root < 2; root++) /* children's prunes, then the roots */
        for (size_t i = 0; i < s->ndels; i++)
            if (s->dels[i].root == (root == 1)) del_emit(s, &s->dels[i]);
    dels_reset(s);
    s->expanded = true;
    return SQL_OK;
}


/* Runs the deletes of the documents' rows (after the segments: children before their parents). */
static int run_after(sql_sink *s, char *err, size_t errsz) {
    for (size_t at = 0; at < s->after.len;) {
        const char *q = s->after.data + at;
        int rc = s->d->exec(s, q, err, errsz);
        if (rc != SQL_OK) return rc;
        at += strlen(q) + 1;
    }
    return SQL_OK;
}

static void clear_rows(sql_sink *s) {
    for (size_t i = 0; i < s->nsegs; i++) seg_free(s->segs[i]);
    s->nsegs = 0;
    s->nrecs = 0;
    s->ngroups = 0;
    s->expanded = false;
    sl_buf_reset(&s->after);
    sl_arena_reset(&s->arena);
}

/* ---- offsets in the target (offset.storage=target) ---- */

static void offsets_table(const sql_sink *s, tname *t) {
    const char *n = s->conf->offsets_table, *dot = strrchr(n, '.');
    memset(t, 0, sizeof *t);
    if (dot) snprintf(t->schema, sizeof t->schema, "%.*s", (int)(dot - n), n);
    snprintf(t->table, sizeof t->table, "%s", dot ? dot + 1 : n);
}

static int create_offsets_table(sql_sink *s, char *err, size_t errsz) {
    tname t;
    offsets_table(s, &t);
    sl_buf *b = &s->sql;
    sl_buf_reset(b);
    sl_buf_puts(b, "CREATE TABLE IF NOT EXISTS ");
    sql_put_table(b, s, &t);
    if (s->conf->dialect == SL_SQL_PG)
        sl_buf_puts(b, " (connector text NOT NULL, source_partition text NOT NULL, source_offset text NOT NULL, "
                       "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (connector, source_partition))");
    else
        sl_buf_puts(b, " (connector varchar(255) NOT NULL, source_partition varchar(500) NOT NULL, source_offset "
                       "longtext NOT NULL, updated_at datetime(6) NOT NULL DEFAULT current_timestamp(6), "
                       "PRIMARY KEY (connector, source_partition))");
    return s->d->exec(s, sl_buf_cstr(b), err, errsz);
}

static void put_offset_select(sql_sink *s, sl_buf *b, const char *connector, const char *partition) {
    tname t;
    offsets_table(s, &t);
    sl_buf_reset(b);
    sl_buf_puts(b, "SELECT source_offset FROM ");
    sql_put_table(b, s, &t);
    sl_buf_puts(b, " WHERE connector = ");
    sl_sql_put_literal(b, s->conf->dialect, connector, strlen(connector));
    sl_buf_puts(b, " AND source_partition = ");
    sl_sql_put_literal(b, s->conf->dialect, partition, strlen(partition));
}

static int write_offset(sql_sink *s, char *err, size_t errsz) {
    tname t;
    offsets_table(s, &t);
    const char *name = sl_ctx_name(s->ctx);
    sl_sql_dialect d = s->conf->dialect;
    sl_buf *b = &s->sql;
    sl_buf_reset(b);
    sl_buf_puts(b, "INSERT INTO ");
    sql_put_table(b, s, &t);
    sl_buf_puts(b, " (connector, source_partition, source_offset) VALUES (");
    sl_sql_put_literal(b, d, name, strlen(name));
    sl_buf_putc(b, ',');
    sl_sql_put_literal(b, d, s->commit_part, strlen(s->commit_part));
    sl_buf_putc(b, ',');
    sl_sql_put_literal(b, d, s->commit_offset, strlen(s->commit_offset));
    sl_buf_puts(b, d == SL_SQL_PG ? ") ON CONFLICT (connector, source_partition) DO UPDATE SET source_offset = "
                                    "EXCLUDED.source_offset, updated_at = now()"
                                  : ") ON DUPLICATE KEY UPDATE source_offset = VALUES(source_offset), updated_at = "
                                    "current_timestamp(6)");
    return s->d->exec(s, sl_buf_cstr(b), err, errsz);
}

/* The rows of g created in this transaction written the dialect's fast way (no upsert), in a savepoint: when the
 * target refuses them (it holds one of their keys already: a replay after a crash, rows that were there before),
 * the savepoint undoes them and apply() upserts them with the others. Written rows are marked out for apply(). */
static int apply_fresh(sql_sink *s, seg *g, char *err, size_t errsz) {
    size_t n = 0;
    for (size_t i = 0; i < g->nrows; i++) n += !srow_skip(&g->rows[i]) && g->rows[i].fresh;
    if (!n || !g->unique_key || seg_ins(s, g) == INS_UPDATE) return SQL_OK;
    int rc = s->d->exec(s, "SAVEPOINT sluice_fresh", err, errsz);
    if (rc != SQL_OK) return rc;
    char why[1024];
    if ((rc = s->d->fresh(s, g, why, sizeof why)) == SQL_OK) {
        for (size_t i = 0; i < g->nrows; i++)
            if (g->rows[i].fresh) g->rows[i].out = true;
        return s->d->exec(s, "RELEASE SAVEPOINT sluice_fresh", err, errsz);
    }
    if (rc == SQL_RETRY || !s->conn) {
        snprintf(err, errsz, "%s", why);
        return SQL_RETRY;
    }
    SL_DEBUG("sql", "%zu created rows written straight into %s%s%s refused (%s): applied as upserts", n,
             g->name.schema, *g->name.schema ? "." : "", g->name.table, why);
    return s->d->exec(s, "ROLLBACK TO SAVEPOINT sluice_fresh", err, errsz);
}

/* Applies the rows [lo, hi) of g in a savepoint. A refused apply is cut in halves until the refused row is
 * alone: its record goes to reject() (the dead letter queue, or the connector stops: then err has reject's
 * message and the result is SQL_REFUSED). */
static int isolate(sql_sink *s, seg *g, size_t lo, size_t hi, char *err, size_t errsz) {
    size_t live = 0, last = lo;
    for (size_t i = lo; i < hi; i++)
        if (!g->rows[i].dead) live++, last = i;
    if (!live) return SQL_OK;
    for (size_t i = 0; i < g->nrows; i++) g->rows[i].out = i < lo || i >= hi;
    char e2[256];
    int rc = s->d->exec(s, "SAVEPOINT sluice_rows", err, errsz);
    if (rc == SQL_OK) rc = apply_fresh(s, g, err, errsz);
    if (rc == SQL_OK) rc = s->d->apply(s, g, err, errsz);
    for (size_t i = 0; i < g->nrows; i++) g->rows[i].out = false;
    if (rc == SQL_OK) return s->d->exec(s, "RELEASE SAVEPOINT sluice_rows", err, errsz);
    if (rc == SQL_RETRY || !s->conn) return SQL_RETRY;
    if ((rc = s->d->exec(s, "ROLLBACK TO SAVEPOINT sluice_rows", e2, sizeof e2)) != SQL_OK) {
        snprintf(err, errsz, "%s", e2);
        return rc;
    }
    if (live == 1) {
        char reason[2048];
        snprintf(reason, sizeof reason, "%s", err);
        srow *w = &g->rows[last];
        w->dead = true;
        if (g->live) g->live--;
        return reject(s, w->rec, EXC_SQL, reason, err, errsz) < 0 ? SQL_REFUSED : SQL_OK;
    }
    size_t mid = lo, seen = 0;
    while (seen < live / 2)
        if (!g->rows[mid++].dead) seen++;
    if ((rc = isolate(s, g, lo, mid, err, errsz)) != SQL_OK) return rc;
    return isolate(s, g, mid, hi, err, errsz);
}

/* One attempt: tables, then BEGIN, every segment, COMMIT. */
static int write_all(sql_sink *s, char *err, size_t errsz) {
    int rc;
    if (!s->conn && (rc = s->d->connect(s, err, errsz)) != SQL_OK) return rc;
    if (s->ngroups && (rc = expand_groups(s, err, errsz)) != SQL_OK) return rc;
    for (size_t i = 0; i < s->nsegs; i++) {
        seg *g = s->segs[i];
        if (ensure_table(s, g, err, errsz) < 0) return s->conn ? SQL_REFUSED : SQL_RETRY;
        g->unique_key = key_unique(s, g);
    }
    if ((rc = s->d->exec(s, "BEGIN", err, errsz)) != SQL_OK) return rc;
    for (size_t i = 0; i < s->nsegs; i++) {
        seg *g = s->segs[i];
        if (g->truncate) {
            if (!known_of(s, &g->name) || !known_of(s, &g->name)->ncols) continue; /* nothing to truncate */
            sl_buf_reset(&s->sql);
            sl_buf_puts(&s->sql, "TRUNCATE TABLE ");
            sql_put_table(&s->sql, s, &g->name);
            rc = s->d->exec(s, sl_buf_cstr(&s->sql), err, errsz);
        } else if (g->live) {
            rc = isolate(s, g, 0, g->nrows, err, errsz);
        }
        if (rc != SQL_OK) {
            char e2[256];
            if (s->conn) s->d->exec(s, "ROLLBACK", e2, sizeof e2);
            return rc;
        }
    }
    if (s->after.len && (rc = run_after(s, err, errsz)) != SQL_OK) {
        char e2[256];
        if (s->conn) s->d->exec(s, "ROLLBACK", e2, sizeof e2);
        return rc;
    }
    if (s->commit_offset && (rc = write_offset(s, err, errsz)) != SQL_OK) {
        char e2[256];
        if (s->conn) s->d->exec(s, "ROLLBACK", e2, sizeof e2);
        return rc;
    }
    return s->d->exec(s, "COMMIT", err, errsz);
}

/* After a failure that may have hit the COMMIT itself: true when the offset being committed is what the target
 * holds (the transaction did commit: writing it again would apply its rows twice). */
static bool committed_already(sql_sink *s) {
    char err[512], *got = NULL;
    if (!s->commit_offset || (!s->conn && s->d->connect(s, err, sizeof err) != SQL_OK)) return false;
    put_offset_select(s, &s->scratch, sl_ctx_name(s->ctx), s->commit_part);
    bool same = s->d->query1(s, sl_buf_cstr(&s->scratch), &got, err, sizeof err) == SQL_OK && got &&
                strcmp(got, s->commit_offset) == 0;
    sl_free(got);
    return same;
}

static int flush_all(sql_sink *s, char *errstr, size_t errsz) {
    int64_t tries = 0, t0 = sl_mono_ms();
    size_t live = 0;
    for (size_t i = 0; i < s->nsegs; i++) live += s->segs[i]->live;
    for (;;) {
        char err[2048] = "";
        if (tries && committed_already(s)) {
            SL_INFO("sql", "the transaction whose commit was not acknowledged did commit (its offset is stored)");
            break;
        }
        int rc = write_all(s, err, sizeof err);
        if (rc == SQL_OK) break;
        if (rc == SQL_REFUSED || tries++ >= s->conf->max_retries || sl_ctx_stopping(s->ctx)) {
            if (strncmp(err, "sql sink: ", 10) == 0) snprintf(errstr, errsz, "%s", err); /* reject()'s */
            else snprintf(errstr, errsz, "sql sink: %s%s", err, rc == SQL_RETRY ? " (flush.max.retries exhausted)" : "");
            sl_ctx_error_code(s->ctx, rc == SQL_RETRY ? SL_E_SINK_UNAVAILABLE : SL_E_SINK_REJECTED);
            return -1;
        }
        SL_WARN("sql", "flush failed, trying again in %lld ms (%lld of %lld): %s", (long long)s->conf->retry_ms,
                (long long)tries, (long long)s->conf->max_retries, err);
        s->d->disconnect(s);
        known_drop_all(st(s));
        for (int64_t waited = 0; waited < s->conf->retry_ms && !sl_ctx_stopping(s->ctx); waited += 50)
            sl_sleep_ms(50, NULL);
    }
    SL_DEBUG("sql", "transaction: %zu records -> %zu rows in %zu segments, %lld ms", s->nrecs, live, s->nsegs,
             (long long)(sl_mono_ms() - t0));
    clear_rows(s);
    return 0;
}

static int sql_flush(void *sink, char *errstr, size_t errsz) {
    sql_sink *s = sink;
    return s->nsegs || s->ngroups ? flush_all(s, errstr, errsz) : 0;
}

/* Exactly-once (offset.storage=target): the rows written so far and the offset, in one transaction. */
static int sql_commit(void *sink, const char *partition, const char *offset, char *errstr, size_t errsz) {
    sql_sink *s = sink;
    if (!s->offsets) return sql_flush(sink, errstr, errsz);
    s->commit_part = sl_strdup(partition);
    s->commit_offset = offset ? sl_strdup(offset) : NULL;
    int rc = flush_all(s, errstr, errsz);
    sl_free(s->commit_part);
    sl_free(s->commit_offset);
    s->commit_part = s->commit_offset = NULL;
    return rc;
}

/* The offset a connector stored in the target, read on a connection of its own (the sink thread may be using
 * the sink's). */
static int sql_stored_offset(void *sink, const char *connector, const char *partition, char **offset, char *errstr,
                             size_t errsz) {
    sql_sink *s = sink, t = {0};
    t.ctx = s->ctx;
    t.reader = true;
    t.conf = s->conf;
    t.d = s->d;
    sl_buf_init(&t.sql);
    sl_buf_init(&t.scratch);
    *offset = NULL;
    int rc = t.d->connect(&t, errstr, errsz);
    if (rc == SQL_OK) {
        put_offset_select(&t, &t.scratch, connector, partition);
        rc = t.d->query1(&t, sl_buf_cstr(&t.scratch), offset, errstr, errsz);
        t.d->disconnect(&t);
    }
    sl_buf_free(&t.sql);
    sl_buf_free(&t.scratch);
    return rc == SQL_OK ? 0 : -1;
}

/* What the rows rendered since the last flush hold (the runtime ends its run at a bound of it). */
static size_t sql_held(void *sink) {
    const sql_sink *s = sink;
    size_t n = s->arena.reserved + s->caprecs * sizeof(srec) + s->capgroups * sizeof *s->groups + s->after.cap;
    for (size_t i = 0; i < s->nsegs; i++) n += s->segs[i]->cap * sizeof(srow) + s->segs[i]->nslots * sizeof(uint32_t);
    return n;
}

/* ---- open / close ---- */

static int sql_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    sql_conf *c = settings;
    sql_sink *s = sl_calloc(1, sizeof *s);
    *out = s;
    s->ctx = ctx;
    s->reader = !ctx; /* sluice verify's side */
    s->conf = c;
    s->d = c->dialect == SL_SQL_PG ? &sql_pg_dialect : &sql_my_dialect;
    sql_state *t = sl_calloc(1, sizeof *t);
    s->dialect_state = t;
    sl_vheap_init(&t->vh);
    sl_vheap_init(&t->sh);
    sl_buf_init(&t->key);
    sl_buf_init(&t->value);
    sl_buf_init(&t->row);
    sl_arena_init(&s->arena);
    sl_buf_init(&s->sql);
    sl_buf_init(&s->scratch);
    sl_buf_init(&s->after);
    s->tolerate = ctx && sl_ctx_core(ctx)->err_tolerance == SL_TOL_ALL;
    const sl_source_ops *src = ctx ? sl_ctx_source_ops(ctx) : NULL;
    if (c->pk == PK_KAFKA && src && !src->consumes_kafka) {
        snprintf(errstr, errsz, "primary.key.mode=kafka: the records do not come from Kafka (the source is %s): use "
                                "record_key or record_value", src->name);
        sl_ctx_error_code(ctx, SL_E_CONFIG);
        return -1;
    }
    if (s->d->connect(s, errstr, errsz) != SQL_OK) {
        sl_ctx_error_code(ctx, SL_E_SINK_UNAVAILABLE);
        return -1;
    }
    s->offsets = ctx && sl_ctx_offsets_in_sink(ctx);
    if (s->offsets && create_offsets_table(s, errstr, errsz) != SQL_OK) {
        snprintf(errstr + strlen(errstr), errsz - strlen(errstr), " (offset.storage.table)");
        sl_ctx_error_code(ctx, SL_E_SINK_UNAVAILABLE);
        return -1;
    }
    SL_INFO("sql", "sql sink ready: %s at %s:%d database %s, insert.mode=%s primary.key.mode=%s schema.evolution=%s",
            c->dialect == SL_SQL_PG ? "PostgreSQL" : "MariaDB/MySQL", c->host, c->port, c->db, ins_names[c->ins],
            pk_names[c->pk], c->evolve ? "basic" : "none");
    return 0;
}

static void sql_close(void *sink) {
    sql_sink *s = sink;
    if (!s) return;
    if (s->d) s->d->disconnect(s);
    if (s->dead) SL_INFO("sql", "records skipped by errors.tolerance=all: %llu", (unsigned long long)s->dead);
    sl_kafka_dlq_close(s->dlq);
    clear_rows(s);
    sql_state *t = st(s);
    if (t) {
        for (size_t i = 0; i < t->nshapes; i++) shape_free(&t->shapes[i]);
        sl_free(t->shapes);
        known_drop_all(t);
        sl_free(t->known);
        for (size_t i = 0; i < t->ntopics; i++) sl_free(t->topics[i].topic);
        sl_free(t->topics);
        sl_vheap_free(&t->vh);
        sl_vheap_free(&t->sh);
        sl_buf_free(&t->key);
        sl_buf_free(&t->value);
        sl_buf_free(&t->row);
        sl_free(t);
    }
    sl_free(s->segs);
    sl_free(s->recs);
    sl_free(s->commit_part);
    sl_free(s->commit_offset);
    sl_arena_free(&s->arena);
    sl_buf_free(&s->sql);
    sl_buf_free(&s->scratch);
    sl_buf_free(&s->after);
    sl_free(s->groups);
    dels_reset(s);
    sl_free(s->dels);
    sl_free(s);
}

/* ---- sluice verify: the target read back (core/vside.h) ---- */

typedef struct sql_vside {
    vread_side side; /* first: the scans */
    sql_sink *s;
} sql_vside;

/* True for a catalog type that holds bytes (read as hex). */
static bool binary_type(const char *t) {
    return !strcmp(t, "bytea") || strstr(t, "blob") || !strcmp(t, "binary") || !strcmp(t, "varbinary");
}

static int sqlv_target(sl_vside *v, const sl_vtable *src, sl_vtable *out, char *errstr, size_t errsz) {
    sql_vside *p = (sql_vside *)v;
    sql_sink *s = p->s;
    sql_state *t = st(s);
    memset(out, 0, sizeof *out);
    if (src->docs) {
        snprintf(errstr, errsz, "the transforms turn the rows of %s into MongoDB writes (embed), which the SQL sink "
                                "does not take", src->table);
        return -1;
    }
    /* the source block the table's events carry: db, schema (PostgreSQL), table */
    sl_vheap_reset(&t->vh);
    sl_val *source = sl_v_obj(&t->vh, 3);
    sl_v_set(&t->vh, source, "db", sl_v_str(&t->vh, src->db));
    if (strcmp(src->schema, src->db)) sl_v_set(&t->vh, source, "schema", sl_v_str(&t->vh, src->schema));
    sl_v_set(&t->vh, source, "table", sl_v_str(&t->vh, src->table));
    tname n, f;
    if (table_of(s, src->topic, &t->vh, source, &n, errstr, errsz) < 0) return -1;
    fold(s, n.schema, f.schema, sizeof f.schema);
    fold(s, n.table, f.table, sizeof f.table);
    snprintf(out->schema, sizeof out->schema, "%s", f.schema);
    snprintf(out->table, sizeof out->table, "%s", f.table);
    struct known *k;
    if (load_known(s, &n, &k, errstr, errsz) < 0) return -1;
    if (!k->ncols) return 0; /* no such table */
    out->cols = sl_calloc((size_t)src->ncols + 1, sizeof *out->cols);
    out->src_col = sl_calloc((size_t)src->ncols + 1, sizeof *out->src_col);
    out->nkeys = src->nkeys;
    if (src->documents) { /* a MongoDB source's documents: the _id column, the others as one document */
        const tcol *tc = known_col(s, k, src->cols[0].name);
        out->documents = true;
        out->ncols = 2;
        out->cols[0] = src->cols[0], out->cols[1] = src->cols[1];
        snprintf(out->cols[0].name, sizeof out->cols[0].name, "%s", tc ? tc->name : "");
        /* how the column holds the _id: extended JSON, text or a number (the key's reading and filters) */
        const char *ty = tc ? tc->type : "";
        out->cols[0].kind = strstr(ty, "json") || strstr(ty, "longtext") ? SL_CK_JSON
                            : strstr(ty, "int") || strstr(ty, "numeric") || strstr(ty, "decimal") ? SL_CK_INT
                            : strstr(ty, "double") || strstr(ty, "float") || strstr(ty, "real") ? SL_CK_FLOAT
                                                                                                 : SL_CK_TEXT;
        out->src_col[0] = 0, out->src_col[1] = 1;
        return 0;
    }
    for (int i = 0; i < src->ncols; i++) {
        const char *name = src->cols[i].name;
        if (i >= src->nkeys && ((s->conf->field_include && *s->conf->field_include &&
                                 !in_list(s->conf->field_include, name, src->topic)) ||
                                in_list(s->conf->field_exclude, name, src->topic)))
            continue; /* not written: not compared */
        sl_vcol *c = &out->cols[out->ncols];
        *c = src->cols[i];
        const tcol *tc = known_col(s, k, name);
        snprintf(c->name, sizeof c->name, "%s", tc ? tc->name : ""); /* "": the target lacks it */
        c->hex = tc && binary_type(tc->type);
        c->scale = tc && c->kind != SL_CK_INT && c->kind != SL_CK_FLOAT ? tc->scale : -1;
        out->src_col[out->ncols++] = i;
    }
    return 0;
}

static void sqlv_close(sl_vside *v) {
    sql_vside *p = (sql_vside *)v;
    if (!p) return;
    vread_side_close(&p->side);
    sql_close(p->s);
    sl_free(p);
}

static const sl_vside_ops sqlv_ops = {.target = sqlv_target, .scan = vread_side_scan, .scan_keys = vread_side_scan_keys,
                                      .refresh = vread_side_refresh, .query = vread_side_query,
    .range_hash = vread_side_range_hash, .scan_range = vread_side_scan_range, .next = vread_side_next,
                                      .position = vread_side_position, .close = sqlv_close};

static int sql_verify_open(void *settings, sl_vside **out, char *errstr, size_t errsz) {
    sql_vside *p = sl_calloc(1, sizeof *p);
    const sql_conf *c = settings;
    p->side.base.ops = &sqlv_ops;
    p->side.pg = c->dialect == SL_SQL_PG;
    snprintf(p->side.base.what, sizeof p->side.base.what, "%s %s:%d database %s",
             c->dialect == SL_SQL_PG ? "PostgreSQL" : "MariaDB/MySQL", c->host, c->port, c->db);
    *out = &p->side.base;
    void *sink = NULL;
    int rc = sql_open(&sink, settings, NULL, errstr, errsz);
    p->s = sink;
    if (rc < 0) return -1;
    p->side.conn = p->s->conn;
    return vread_side_begin(&p->side, errstr, errsz);
}

const sl_sink_ops sl_sql_sink_ops = {
    "jdbc",
    "postgresql|mariadb|mysql|sql|io.debezium.connector.jdbc.JdbcSinkConnector|"
    "io.confluent.connect.jdbc.JdbcSinkConnector",
    "Writes rows into PostgreSQL or MariaDB/MySQL tables like the Debezium JDBC sink connector (Confluent's JDBC "
    "sink keys are accepted): upserts and deletes by key, reduced per key and written in one transaction per "
    "flush, tables created and evolved on demand.",
    sql_props,
    sizeof(sql_conf),
    sql_check,
    sql_open,
    sql_write,
    sql_flush,
    sql_close,
    sql_commit,
    sql_stored_offset,
    .held_bytes = sql_held,
    .verify_open = sql_verify_open};
