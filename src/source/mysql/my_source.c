/*
 * MySQL/MariaDB source: reads the binary log with MariaDB Connector/C's
 * replication API (mariadb_rpl.h), by GTID on MariaDB and by file+position
 * otherwise, and emits Debezium's MySQL change events.
 *
 * open():  connects, checks log_bin / binlog_format=ROW / binlog_row_image=FULL
 *          and the replication privileges, and decides between snapshot and
 *          streaming from the stored offset (no side effects).
 * run():   the snapshot (my_snapshot.c), then the binlog loop: GTID/BEGIN
 *          opens a transaction, TABLE_MAP describes tables (my_schema.c),
 *          rows events are decoded by rowimage.c into cells in the batch
 *          arena, XID/COMMIT closes the transaction and attaches the offset
 *          (file, position after the commit, GTID state) to the batch.
 *          Server heartbeats bound the wait, so stop requests and partly
 *          filled batches are handled while the database is idle.
 */
#include "core/log.h"
#include "source/mysql/binlog.h"
#include "source/mysql/my_int.h"
#include "util/buf.h"
#include "util/jcheck.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <jansson.h>
#include <mariadb_rpl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(x) offsetof(my_conf, x)
static const sl_prop my_props[] = {
    {"database.hostname", SL_PT_STRING, "localhost", NULL, 0, 0, 0, F(host), "MySQL/MariaDB host."},
    {"database.port", SL_PT_INT, "3306", NULL, 1, 65535, 0, F(port), "MySQL/MariaDB port."},
    {"database.user", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(user),
     "User with REPLICATION SLAVE, REPLICATION CLIENT (MariaDB: BINLOG MONITOR) and SELECT."},
    {"database.password", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, F(password), "Password of database.user."},
    {"database.server.id", SL_PT_INT, "184054", NULL, 1, 4294967295LL, 0, F(server_id),
     "Replica server id sluice uses towards the server; unique among its replicas."},
    {"topic.prefix", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(topic_prefix),
     "Logical server name: prefix of every topic (<prefix>.<database>.<table>) and source.name."},
    {"database.include.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(db_include),
     "Regexes of databases to capture (anchored, case-insensitive)."},
    {"database.exclude.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(db_exclude), "Regexes of databases not to capture."},
    {"table.include.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(table_include),
     "Regexes of database.table names to capture. Each must match some table."},
    {"table.exclude.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(table_exclude),
     "Regexes of database.table names not to capture."},
    {"column.include.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(column_include),
     "Regexes of database.table.column names to keep in events."},
    {"column.exclude.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(column_exclude),
     "Regexes of database.table.column names to leave out of events."},
    {"snapshot.mode", SL_PT_ENUM, "initial", "initial|initial_only|no_data|never|when_needed", 0, 0, 0,
     F(snapshot_mode),
     "initial: snapshot when no offset is stored, then stream; initial_only: snapshot, then stop; no_data: the "
     "schemas only (their schema change events, with include.schema.changes), then stream from there; never: "
     "stream from the current binlog position; when_needed: snapshot again if the stored position is gone."},
    {"snapshot.locking.mode", SL_PT_ENUM, "minimal", "minimal|none", 0, 0, 0, F(locking_mode),
     "minimal: hold a global read lock only while the snapshot transaction starts and reads its binlog position; "
     "none: no lock (consistent snapshot only)."},
    {"snapshot.fetch.size", SL_PT_INT, "10000", NULL, 1, 100000000, 0, F(snapshot_chunk),
     "Rows per primary-key chunk of the snapshot; progress is committed per chunk so a crash resumes there."},
    {"snapshot.new.tables", SL_PT_ENUM, "off", "off|incremental", 0, 0, 0, F(snapshot_new_tables),
     "incremental: the source offset records the table filters (database/table include and exclude lists); at a "
     "start whose filters capture tables the stored ones did not, those tables get an incremental snapshot "
     "while streaming goes on (as an execute-snapshot signal would ask; its watermarks need "
     "signal.data.collection, or read.only). off: a table added to the lists is only streamed from then on."},
    {"read.only", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(read_only),
     "Incremental snapshots without writes to the server: each chunk's watermarks are the server's GTID positions "
     "(gtid_binlog_pos) before and after its SELECT instead of rows inserted into the signal table, so a read "
     "replica or a user without INSERT works; signals then come by Kafka, file or REST (or from the signal "
     "table's rows, replicated there). MariaDB only (sluice does not track MySQL's GTID sets)."},
    {"snapshot.max.threads", SL_PT_INT, "1", NULL, 1, 64, 0, F(snapshot_threads),
     "Connections that read the snapshot's rows. Above 1, each starts its read view under the global read lock "
     "the snapshot takes (snapshot.locking.mode=minimal, RELOAD privilege; without it one connection reads), and "
     "a table whose primary key is one integer column and that holds more than two snapshot.fetch.size chunks is "
     "read in key ranges in parallel; the events, their order and the resumable progress are those of one "
     "connection."},
    {"decimal.handling.mode", SL_PT_ENUM, "precise", "precise|double|string", 0, 0, 0, F(decimal_mode),
     "DECIMAL as Connect Decimal bytes (precise), JSON numbers (double) or strings (string)."},
    {"time.precision.mode", SL_PT_ENUM, "adaptive_time_microseconds", "adaptive|adaptive_time_microseconds|connect",
     0, 0, 0, F(time_mode), "How TIME, DATE and DATETIME values are represented (Debezium's modes)."},
    {"binary.handling.mode", SL_PT_ENUM, "bytes", "bytes|base64|base64-url-safe|hex", 0, 0, 0, F(binary_mode),
     "BINARY/VARBINARY/BLOB as Connect bytes or as base64 / base64-url-safe / hex strings."},
    {"bigint.unsigned.handling.mode", SL_PT_ENUM, "long", "long|precise", 0, 0, 0, F(bigint_mode),
     "BIGINT UNSIGNED as int64 (long) or as Connect Decimal (precise)."},
    {"heartbeat.interval.ms", SL_PT_INT, "0", NULL, 0, 86400000, 0, F(heartbeat_ms),
     "Debezium heartbeat records to <heartbeat.topics.prefix>.<topic.prefix> at this interval while the position "
     "moves (0: none). Independently the server sends a replication heartbeat after 100 ms of idle binlog, which "
     "hands on pending events and commits the position."},
    {"include.schema.changes", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(include_schema_changes),
     "Debezium's schema change events on the topic <topic.prefix>: each CREATE/ALTER/DROP/RENAME TABLE and "
     "CREATE/DROP INDEX on a captured table, and CREATE/ALTER/DROP DATABASE of a captured database, with the "
     "statement and the table as information_schema describes it when the event is read (kept columns only); "
     "a snapshot starts with the SHOW CREATE DATABASE/TABLE statements of what it captures."},
    {"include.schema.comments", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(include_schema_comments),
     "Fill the table and column comments of schema change events (null otherwise, as in Debezium)."},
    {"extended.headers.enabled", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(extended_headers),
     "Add Debezium's __debezium.context.* headers (connectorLogicalName, taskId, connectorName, runId) to "
     "change events."},
    {"include.query", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(include_query),
     "Put the statement into source.query (needs binlog_annotate_row_events on MariaDB)."},
    {"provide.transaction.metadata", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(provide_tx),
     "Fill the transaction block of each event."},
    {"gtid.source.includes", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(gtid_includes),
     "Regexes of GTID source parts (MariaDB: domain-server) whose transactions are captured."},
    {"gtid.source.excludes", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(gtid_excludes),
     "Regexes of GTID source parts whose transactions are skipped."},
    {"skipped.server.ids", SL_PT_LIST, "", NULL, 0, 0, 0, F(skipped_server_ids),
     "Server ids whose row changes are left out (each binlog event names the server it was written on): a sink "
     "that writes into this server under a session server id of its own (the SQL sink's replication.server.id) "
     "is not read back, so a two-way sync sends no write back where it came from. Empty: every change is read."},
    {"skipped.operations", SL_PT_LIST, "t", NULL, 0, 0, 0, F(skipped_ops),
     "Comma-separated operations not to emit: c, u, d, t, or none."},
    {"connect.timeout.ms", SL_PT_INT, "30000", NULL, 1000, 3600000, 0, F(connect_timeout_ms),
     "Connection timeout."},
    {NULL}};
#undef F

static void my_check(void *settings, sl_config *cfg, sl_errs *errs) {
    my_conf *cf = settings;
    char err[256];
    sl_filter f;
    const char *pairs[][4] = {{cf->db_include, cf->db_exclude, "database.include.list", "database.exclude.list"},
                              {cf->table_include, cf->table_exclude, "table.include.list", "table.exclude.list"},
                              {cf->column_include, cf->column_exclude, "column.include.list", "column.exclude.list"},
                              {cf->gtid_includes, cf->gtid_excludes, "gtid.source.includes", "gtid.source.excludes"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (pairs[i][0] && *pairs[i][0] && pairs[i][1] && *pairs[i][1])
            sl_errs_add(errs, "%s: cannot be combined with %s", pairs[i][3], pairs[i][2]);
        if (sl_filter_init(&f, pairs[i][0], pairs[i][1], pairs[i][2], pairs[i][3], err, sizeof err) < 0)
            sl_errs_add(errs, "%s", err);
        sl_filter_free(&f);
    }
    sl_conf_check_list("skipped.operations", cf->skipped_ops, "c|u|d|t|none", errs);
    for (const char *p = cf->skipped_server_ids ? cf->skipped_server_ids : ""; *p;) {
        size_t n = strcspn(p, ",");
        char item[32];
        snprintf(item, sizeof item, "%.*s", (int)(n < 31 ? n : 31), p);
        char *end, *it = item;
        while (*it == ' ') it++;
        unsigned long long v = strtoull(it, &end, 10);
        while (*end == ' ') end++;
        if (!*it || *end || v == 0 || v > 4294967295ULL)
            sl_errs_add(errs, "skipped.server.ids: '%s' is not a server id (1 to 4294967295)", item);
        p += n;
        if (*p) p++;
    }
    /* Incremental snapshots write their watermarks as rows of the signal table, unless read.only */
    const char *sc = sl_config_get(cfg, "signal.data.collection"), *ch = sl_config_get(cfg, "signal.enabled.channels");
    bool table = sc && *sc;
    if (cf->snapshot_new_tables && !table && !cf->read_only)
        sl_errs_add(errs, "snapshot.new.tables=incremental: needs signal.data.collection (<database>.<table>), the "
                          "table its incremental snapshots write their watermarks to (or read.only=true: GTID "
                          "watermarks, MariaDB)");
    if (!table && !cf->read_only && ch && (sl_list_has(ch, "file") || sl_list_has(ch, "kafka")))
        sl_errs_add(errs, "signal.data.collection: the incremental snapshots of a MySQL/MariaDB source write their "
                          "watermarks as rows of the signal table: name it (<database>.<table>, with the columns id, "
                          "type and data, which the connector's user may insert into), also for signals sent by file "
                          "or Kafka; or set read.only=true (GTID watermarks, MariaDB)");
    if (table && !strchr(sc, '.'))
        sl_errs_add(errs, "signal.data.collection: '%s' must be <database>.<table>", sc);
}

/* ---- connections and queries ---- */

MYSQL *my_connect(const my_conf *cf, char *errstr, size_t errsz) {
    MYSQL *m = mysql_init(NULL);
    unsigned int timeout = (unsigned int)(cf->connect_timeout_ms / 1000);
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, cf->host, cf->user, cf->password ? cf->password : "", NULL, (unsigned)cf->port, NULL,
                            0)) {
        snprintf(errstr, errsz, "cannot connect to MySQL/MariaDB at %s:%lld as %s (database.hostname, database.port, "
                 "database.user, database.password): %s", cf->host, (long long)cf->port, cf->user, mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    mysql_query(m, "SET time_zone = '+00:00'");
    return m;
}

int my_query(MYSQL *m, const char *what, const char *sql, char *errstr, size_t errsz) {
    if (mysql_query(m, sql) == 0) {
        MYSQL_RES *r = mysql_store_result(m);
        mysql_free_result(r);
        return 0;
    }
    snprintf(errstr, errsz, "%s: %s", what, mysql_error(m));
    return -1;
}

int my_query_row(MYSQL *m, const char *what, const char *sql, char **vals, int ncols, char *errstr, size_t errsz) {
    if (mysql_query(m, sql) != 0) {
        snprintf(errstr, errsz, "%s: %s", what, mysql_error(m));
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row) {
        snprintf(errstr, errsz, "%s: no result", what);
        mysql_free_result(r);
        return -1;
    }
    unsigned nf = mysql_num_fields(r);
    for (int i = 0; i < ncols; i++) vals[i] = sl_strdup(i < (int)nf && row[i] ? row[i] : "");
    mysql_free_result(r);
    return 0;
}

static void free_vals(char **v, int n) {
    for (int i = 0; i < n; i++) sl_free(v[i]);
}

/* ---- offsets ---- */

void my_offset_json(my_source *s, char *out, size_t outsz, const my_pos *p, const char *snapshot_progress) {
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "{\"file\":");
    sl_buf_put_json_str(&b, p->file, strlen(p->file));
    sl_buf_printf(&b, ",\"pos\":%" PRIu64 ",\"gtids\":", p->pos);
    sl_buf_put_json_str(&b, p->gtids, strlen(p->gtids));
    sl_buf_printf(&b, ",\"ts_sec\":%lld", (long long)(sl_wall_us() / 1000000));
    if (snapshot_progress) sl_buf_printf(&b, ",\"snapshot\":true,\"snapshot_progress\":%s", snapshot_progress);
    sl_buf_putc(&b, '}');
    snprintf(out, outsz, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
}

int my_emit_batch(my_source *s) {
    sl_batch *b = s->batch;
    s->batch = sl_batch_new();
    sl_ctxhdr_new_batch(&s->ctxhdr);
    if (b->n == 0 && !b->offset) {
        sl_batch_destroy(b);
        return 0;
    }
    return sl_ctx_emit(s->ctx, b);
}

int my_emit_durable(my_source *s) {
    sl_batch *b = s->batch;
    s->batch = sl_batch_new();
    sl_ctxhdr_new_batch(&s->ctxhdr);
    return sl_ctx_emit_durable(s->ctx, b);
}

/* A binlog coordinate as one number, (file number << 32) | position: grows along the binlog. */
static uint64_t binlog_seq(const char *file, uint64_t pos) {
    const char *dot = strrchr(file, '.');
    return (dot ? strtoull(dot + 1, NULL, 10) << 32 : 0) | (pos & 0xffffffffu);
}

static void set_offset(my_source *s) {
    char off[2048];
    my_offset_json(s, off, sizeof off, &s->cur, NULL);
    const char *extra = my_isnap_offset_fields(s);
    if (!*extra) {
        sl_batch_set_offset(s->batch, off, binlog_seq(s->cur.file, s->cur.pos));
        return;
    }
    sl_buf b; /* the incremental snapshot's progress, after the offset's own members */
    sl_buf_init(&b);
    sl_buf_printf(&b, "%.*s%s}", (int)strlen(off) - 1, off, extra);
    sl_batch_set_offset(s->batch, sl_buf_cstr(&b), binlog_seq(s->cur.file, s->cur.pos));
    sl_buf_free(&b);
}

/* Source thread, at most every 2 s: binlog bytes between the committed position and the server's end. */
static void report_lag(my_source *s) {
    int64_t now = sl_mono_ms();
    if (s->lag_unavailable || now - s->lag_checked_ms < 2000) return;
    s->lag_checked_ms = now;
    uint64_t committed = sl_ctx_committed_seq(s->ctx);
    if (!committed) return;
    if (mysql_query(s->sql, "SHOW BINARY LOGS") != 0) {
        SL_INFO("mysql", "binlog lag in bytes not measured: SHOW BINARY LOGS: %s", mysql_error(s->sql));
        s->lag_unavailable = true;
        return;
    }
    MYSQL_RES *res = mysql_store_result(s->sql);
    if (!res) return;
    int64_t behind = 0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        if (!row[0] || !row[1]) continue;
        uint64_t start = binlog_seq(row[0], 0), size = strtoull(row[1], NULL, 10);
        if (start >> 32 > committed >> 32) behind += (int64_t)size;
        else if (start >> 32 == committed >> 32 && size > (committed & 0xffffffffu))
            behind += (int64_t)(size - (committed & 0xffffffffu));
    }
    mysql_free_result(res);
    sl_ctx_source_lag(s->ctx, -1, behind);
}

/* Parses a stored offset into s->start (and the snapshot progress, if any). */
/* ---- offsets given from outside (check_offset) ---- */

static const char *digits(const char *p) {
    const char *q = p;
    while (*q >= '0' && *q <= '9') q++;
    return q > p ? q : NULL;
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    return p;
}

/* A binlog file name as the server lists it: <base>.<number>, e.g. mysql-bin.000003. */
static bool binlog_name_ok(const char *f) {
    const char *dot = strrchr(f, '.'), *end = dot ? digits(dot + 1) : NULL;
    return dot && dot > f && end && !*end && !strchr(f, '/') && strlen(f) < sizeof ((my_pos *)0)->file;
}

/* After a MySQL server UUID (8-4-4-4-12 hex digits), or NULL. */
static const char *uuid_end(const char *p) {
    static const int groups[] = {8, 4, 4, 4, 12};
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))) return NULL;
        if (g < 4 && *p++ != '-') return NULL;
    }
    return p;
}

/* One GTID set item: MariaDB's domain-server-seq ("0-1-42"), or MySQL's uuid[:tag]:interval[:interval...] with
 * intervals n or n-m. After it, or NULL. */
static const char *gtid_item_end(const char *p) {
    const char *q;
    if ((q = digits(p)) && *q == '-' && (q = digits(q + 1)) && *q == '-' && (q = digits(q + 1))) return q;
    if (!(q = uuid_end(p))) return NULL;
    int intervals = 0;
    while (*q == ':') {
        const char *r = q + 1;
        if ((r = digits(r))) {
            if (*r == '-' && !(r = digits(r + 1))) return NULL;
            intervals++;
        } else {
            r = q + 1; /* a tag (MySQL 8.3+): a letter or _, then letters, digits, _ */
            if (!((*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z') || *r == '_')) return NULL;
            while ((*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z') || (*r >= '0' && *r <= '9') || *r == '_') r++;
        }
        q = r;
    }
    return intervals ? q : NULL;
}

/* A GTID set (items separated by commas, blanks around them), or "". */
static bool gtid_set_ok(const char *g) {
    if (strlen(g) >= sizeof ((my_pos *)0)->gtids) return false;
    const char *p = skip_space(g);
    while (*p) {
        if (!(p = gtid_item_end(p))) return false;
        p = skip_space(p);
        if (*p && *p++ != ',') return false;
        p = skip_space(p);
    }
    return true;
}

/* check_offset: what my_offset_json writes, plus the keys Debezium's MySQL/MariaDB connectors add; other keys
 * pass unchecked. Whether the position exists on the server is for plan_start to see. */
static int my_check_offset(const json_t *partition, const json_t *offset, char *errstr, size_t errsz) {
    static const char *const numbers[] = {"ts_sec", "row", "event", "server_id"};
    const char *file, *gtids;
    if (sl_jcheck_string(partition, "partition", "server", true, NULL, errstr, errsz) < 0 ||
        sl_jcheck_string(offset, "offset", "file", true, &file, errstr, errsz) < 0)
        return -1;
    if (!binlog_name_ok(file))
        return sl_jcheck_fail(offset, "offset", "file", "must be a binlog file name (<base>.<number>, e.g. "
                              "mysql-bin.000003)", errstr, errsz);
    if (sl_jcheck_uint(offset, "offset", "pos", true, errstr, errsz) < 0 ||
        sl_jcheck_string(offset, "offset", "gtids", false, &gtids, errstr, errsz) < 0)
        return -1;
    if (gtids && !gtid_set_ok(gtids))
        return sl_jcheck_fail(offset, "offset", "gtids", "must be a GTID set (MariaDB: domain-server-seq items such "
                              "as 0-1-42,1-2-7; MySQL: uuid:1-5 items), or empty", errstr, errsz);
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        if (sl_jcheck_uint(offset, "offset", numbers[i], false, errstr, errsz) < 0) return -1;
    if (sl_jcheck_bool(offset, "offset", "snapshot", false, errstr, errsz) < 0) return -1;
    const json_t *prog = json_object_get(offset, "snapshot_progress");
    if (prog && !json_is_null(prog) && !json_is_object(prog))
        return sl_jcheck_fail(offset, "offset", "snapshot_progress", "must be an object", errstr, errsz);
    return 0;
}

static bool parse_offset(my_source *s, const char *off) {
    json_t *j = json_loads(off, 0, NULL);
    if (!j) return false;
    const char *file = json_string_value(json_object_get(j, "file"));
    const char *gtids = json_string_value(json_object_get(j, "gtids"));
    snprintf(s->start.file, sizeof s->start.file, "%s", file ? file : "");
    snprintf(s->start.gtids, sizeof s->start.gtids, "%s", gtids ? gtids : "");
    s->start.pos = (uint64_t)json_integer_value(json_object_get(j, "pos"));
    json_t *prog = json_object_get(j, "snapshot_progress");
    if (json_is_true(json_object_get(j, "snapshot")) && prog) {
        char *p = json_dumps(prog, JSON_COMPACT);
        s->resume_snapshot = sl_strdup(p);
        free(p);
    }
    json_decref(j);
    return true;
}

/* ---- start-up ---- */

/* What to do when the stored position is gone (appended to the reason). */
#define GONE_ADVICE                                                                                                 \
    "changes may be lost; set snapshot.mode=when_needed to re-snapshot, or reset offsets with 'sluice offsets reset'"

static int check_server(my_source *s, char *errstr, size_t errsz) {
    char *v[5] = {0};
    if (my_query_row(s->sql, "reading server settings",
                     "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@version, @@server_id", v, 5, errstr,
                     errsz) < 0)
        return -1;
    int rc = -1;
    if (strcmp(v[0], "1") != 0)
        snprintf(errstr, errsz, "binary logging is off on %s:%lld (log_bin=0): start the server with --log-bin "
                 "(and binlog_format=ROW, binlog_row_image=FULL)", s->cf->host, (long long)s->cf->port);
    else if (strcasecmp(v[1], "ROW") != 0)
        snprintf(errstr, errsz, "binlog_format is %s on %s:%lld; sluice needs ROW (SET GLOBAL binlog_format = 'ROW', "
                 "and in the server config)", v[1], s->cf->host, (long long)s->cf->port);
    else if (strcasecmp(v[2], "FULL") != 0)
        snprintf(errstr, errsz, "binlog_row_image is %s on %s:%lld; sluice needs FULL (SET GLOBAL binlog_row_image = "
                 "'FULL', and in the server config)", v[2], s->cf->host, (long long)s->cf->port);
    else {
        s->mariadb = strstr(v[3], "MariaDB") != NULL;
        s->gtid_mode = s->mariadb;
        rc = 0;
        if (s->cf->read_only && !s->mariadb) {
            snprintf(errstr, errsz, "read.only: incremental snapshots without signal table writes take MariaDB's GTID "
                     "positions (gtid_binlog_pos) as watermarks; %s:%lld is MySQL (%s), whose GTID sets sluice does "
                     "not track: set read.only=false and give signal.data.collection", s->cf->host,
                     (long long)s->cf->port, v[3]);
            rc = sl_ctx_error_code(s->ctx, SL_E_CONFIG);
        }
    }
    free_vals(v, 5);
    if (rc < 0) return rc;
    /* Replication privileges: name the missing one rather than fail later in the binlog dump. */
    if (mysql_query(s->sql, "SHOW GRANTS FOR CURRENT_USER()") != 0) return 0;
    MYSQL_RES *r = mysql_store_result(s->sql);
    bool slave = false, client = false;
    MYSQL_ROW row;
    while (r && (row = mysql_fetch_row(r)) != NULL) {
        const char *g = row[0];
        bool global = strstr(g, " ON *.* ") != NULL;
        if (!global) continue;
        if (strstr(g, "ALL PRIVILEGES")) slave = client = true;
        if (strstr(g, "REPLICATION SLAVE") || strstr(g, "REPLICATION REPLICA")) slave = true;
        if (strstr(g, "REPLICATION CLIENT") || strstr(g, "BINLOG MONITOR") || strstr(g, "SUPER")) client = true;
    }
    mysql_free_result(r);
    if (!slave || !client) {
        snprintf(errstr, errsz, "user %s lacks %s%s%s: GRANT REPLICATION SLAVE, %s ON *.* TO the user",
                 s->cf->user, slave ? "" : "REPLICATION SLAVE", !slave && !client ? " and " : "",
                 client ? "" : (s->mariadb ? "BINLOG MONITOR" : "REPLICATION CLIENT"),
                 s->mariadb ? "BINLOG MONITOR" : "REPLICATION CLIENT");
        return -1;
    }
    return 0;
}

/* Every include-list entry must match some table (a typo otherwise captures nothing, silently). */
static int check_tables(my_source *s, char *errstr, size_t errsz) {
    if (!s->tables.ninc) return 0;
    if (mysql_query(s->sql, "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES WHERE "
                            "TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql','sys','information_schema',"
                            "'performance_schema')") != 0) {
        snprintf(errstr, errsz, "listing tables: %s", mysql_error(s->sql));
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(s->sql);
    int n = r ? (int)mysql_num_rows(r) : 0;
    char **names = sl_calloc((size_t)n + 1, sizeof *names);
    MYSQL_ROW row;
    for (int i = 0; r && (row = mysql_fetch_row(r)) != NULL && i < n; i++) names[i] = sl_strdup(row[0]);
    mysql_free_result(r);
    int rc = 0;
    for (int k = 0; k < s->tables.ninc && rc == 0; k++) {
        bool hit = false;
        for (int i = 0; i < n && !hit; i++) hit = regexec(&s->tables.inc[k], names[i], 0, NULL, 0) == 0;
        if (!hit) {
            char *list = sl_strdup(s->cf->table_include), *save = NULL, *tok = strtok_r(list, ",", &save);
            for (int j = 0; j < k && tok; j++) tok = strtok_r(NULL, ",", &save);
            while (tok && *tok == ' ') tok++;
            snprintf(errstr, errsz, "table.include.list: '%s' matches no table", tok ? tok : "?");
            sl_free(list);
            rc = -1;
        }
    }
    for (int i = 0; i < n; i++) sl_free(names[i]);
    sl_free(names);
    return rc;
}

static int current_position(my_source *s, my_pos *p, char *errstr, size_t errsz) {
    char *v[2] = {0};
    if (my_query_row(s->sql, "reading the binlog position (SHOW MASTER STATUS)", "SHOW MASTER STATUS", v, 2, errstr,
                     errsz) < 0)
        return -1;
    snprintf(p->file, sizeof p->file, "%s", v[0]);
    p->pos = strtoull(v[1], NULL, 10);
    free_vals(v, 2);
    p->gtids[0] = 0;
    if (s->gtid_mode) {
        char *g[1] = {0};
        if (my_query_row(s->sql, "reading gtid_binlog_pos", "SELECT @@gtid_binlog_pos", g, 1, errstr, errsz) < 0)
            return -1;
        snprintf(p->gtids, sizeof p->gtids, "%s", g[0]);
        free_vals(g, 1);
    }
    return 0;
}

const char *my_gtid_of_domain(const char *list, unsigned long dom, char *out, size_t outsz) {
    for (const char *g = list; g && *g;) {
        while (*g == ' ' || *g == ',') g++;
        size_t n = strcspn(g, ",");
        if (n && strtoul(g, NULL, 10) == dom) {
            snprintf(out, outsz, "%.*s", (int)n, g);
            return out;
        }
        g += n;
    }
    return NULL;
}

/* Can the server no longer stream from s->start? Then why says so ("binlog file ... (purged)") and the
 * result is true. What the server cannot tell here (a GTID missing between others) its binlog dump
 * refuses later (see binlog_failed). */
static bool position_gone(my_source *s, char *why, size_t whysz) {
    my_pos end;
    char err[512];
    if (current_position(s, &end, err, sizeof err) == 0) {
        /* RESET MASTER starts the binlog again at .000001 and MariaDB's GTIDs again at 1; by GTID first
         * (where MariaDB resumes), else by file and position */
        char copy[sizeof s->start.gtids], *save = NULL, have[64];
        snprintf(copy, sizeof copy, "%s", s->gtid_mode ? s->start.gtids : "");
        for (char *g = strtok_r(copy, ", ", &save); g; g = strtok_r(NULL, ", ", &save)) {
            const char *seq = strrchr(g, '-');
            const char *newest = my_gtid_of_domain(end.gtids, strtoul(g, NULL, 10), have, sizeof have);
            const char *newest_seq = newest ? strrchr(newest, '-') : NULL;
            /* the server's newest GTID of that domain is older, or it has none at all */
            bool older = newest_seq && strtoull(newest_seq + 1, NULL, 10) < strtoull(seq ? seq + 1 : g, NULL, 10);
            if (seq && (older || (!newest_seq && !end.gtids[0]))) {
                snprintf(why, whysz, "GTID %s is not in the server's binlog (gtid_binlog_pos '%s'): the binlog was "
                         "reset (RESET MASTER)", g, end.gtids);
                return true;
            }
        }
        const char *dot = strrchr(end.file, '.');
        bool same_base = dot && strncmp(s->start.file, end.file, (size_t)(dot - end.file + 1)) == 0;
        if (same_base && binlog_seq(s->start.file, s->start.pos) > binlog_seq(end.file, end.pos)) {
            snprintf(why, whysz, "binlog position %s:%" PRIu64 " is past the end of the server's binlog (%s:%" PRIu64
                     "): the binlog was reset (RESET MASTER)", s->start.file, s->start.pos, end.file, end.pos);
            return true;
        }
    }
    if (mysql_query(s->sql, "SHOW BINARY LOGS") == 0) {
        MYSQL_RES *r = mysql_store_result(s->sql);
        MYSQL_ROW row;
        bool found = false;
        char uncut[sizeof s->start.file] = "";
        while (r && (row = mysql_fetch_row(r)) != NULL) {
            found |= strcmp(row[0], s->start.file) == 0;
            /* Earlier versions stored a rotate's file name without its first 8 bytes ("bin.000008" for
             * "mariadb-bin.000008"); the position in it and the GTIDs are right: take the whole name. */
            if (strlen(row[0]) == strlen(s->start.file) + 8 && strcmp(row[0] + 8, s->start.file) == 0)
                snprintf(uncut, sizeof uncut, "%s", row[0]);
        }
        mysql_free_result(r);
        if (!found && uncut[0]) {
            SL_WARN("mysql", "the stored offset's binlog file %s is %s cut short (by a misread rotate event): "
                    "resuming from %s:%" PRIu64, s->start.file, uncut, uncut, s->start.pos);
            snprintf(s->start.file, sizeof s->start.file, "%s", uncut);
            found = true;
        }
        if (found) return false;
    }
    snprintf(why, whysz, "binlog file %s is no longer on the server (purged)", s->start.file);
    return true;
}

static int plan_start(my_source *s, char *errstr, size_t errsz) {
    const char *off = sl_ctx_stored_offset(s->ctx);
    int mode = s->cf->snapshot_mode;
    char why[1400];
    s->stream = mode != MY_SNAP_INITIAL_ONLY;
    if (off && !parse_offset(s, off)) {
        snprintf(errstr, errsz, "stored offset is not valid JSON: %s", off);
        return sl_ctx_error_code(s->ctx, SL_E_CONFIG);
    }
    if (off && s->resume_snapshot) { /* a snapshot was cut short: go on with it, if its position still exists */
        s->do_snapshot = true;
        if (!position_gone(s, why, sizeof why)) return 0;
        if (mode == MY_SNAP_WHEN_NEEDED) {
            SL_WARN("mysql", "the unfinished snapshot's %s: starting a new snapshot (snapshot.mode=when_needed)", why);
            sl_free(s->resume_snapshot);
            s->resume_snapshot = NULL;
            return 0;
        }
        snprintf(errstr, errsz, "the unfinished snapshot's %s: set snapshot.mode=when_needed to start a new snapshot, "
                 "or reset offsets with 'sluice offsets reset'", why);
        return sl_ctx_error_code(s->ctx, SL_E_POSITION_LOST);
    }
    if (off && mode == MY_SNAP_INITIAL_ONLY) {
        s->do_snapshot = s->stream = false;
        return 0;
    }
    if (off) {
        if (!position_gone(s, why, sizeof why)) return 0;
        if (mode == MY_SNAP_WHEN_NEEDED) {
            SL_WARN("mysql", "the stored offset's %s: taking a new snapshot (snapshot.mode=when_needed)", why);
            s->do_snapshot = true;
            return 0;
        }
        snprintf(errstr, errsz, "the stored offset's %s: " GONE_ADVICE, why);
        return sl_ctx_error_code(s->ctx, SL_E_POSITION_LOST);
    }
    /* no_data still reads the schemas in a snapshot transaction when it sends schema change events (as
     * Debezium's schema-only snapshot), for a position consistent with them */
    s->schema_only = mode == MY_SNAP_NO_DATA && s->cf->include_schema_changes;
    s->do_snapshot = (mode != MY_SNAP_NO_DATA && mode != MY_SNAP_NEVER) || s->schema_only;
    if (!s->do_snapshot && current_position(s, &s->start, errstr, errsz) < 0)
        return sl_ctx_error_code(s->ctx, SL_E_CONFIG); /* no binlog: log_bin off, or no privilege to read it */
    return 0;
}

static void my_close(void *src);

int my_setup_filters(my_source *s, char *errstr, size_t errsz) {
    const my_conf *cf = s->cf;
    if (sl_filter_init(&s->dbs, cf->db_include, cf->db_exclude, "database.include.list", "database.exclude.list",
                       errstr, errsz) < 0 ||
        sl_filter_init(&s->tables, cf->table_include, cf->table_exclude, "table.include.list", "table.exclude.list",
                       errstr, errsz) < 0 ||
        sl_filter_init(&s->columns, cf->column_include, cf->column_exclude, "column.include.list",
                       "column.exclude.list", errstr, errsz) < 0)
        return -1;
    return 0;
}

static int open_common(void **out, void *settings, sl_ctx *ctx, const char *connector, char *errstr, size_t errsz) {
    my_conf *cf = settings;
    my_source *s = sl_calloc(1, sizeof *s);
    s->cf = cf;
    s->ctx = ctx;
    s->batch = sl_batch_new();
    *out = s;
    sl_buf pb;
    sl_buf_init(&pb);
    sl_buf_puts(&pb, "{\"server\":");
    sl_buf_put_json_str(&pb, cf->topic_prefix, strlen(cf->topic_prefix));
    sl_buf_putc(&pb, '}');
    sl_ctx_set_partition(ctx, sl_buf_cstr(&pb));
    sl_buf_free(&pb);
    sl_ctxhdr_init(&s->ctxhdr, cf->topic_prefix, connector);
    if (my_setup_filters(s, errstr, errsz) < 0) return sl_ctx_error_code(ctx, SL_E_CONFIG);
    /* Unreachable: SL_RETRY, which the runtime retries on a reopen (and fails on at the first start). */
    if (!(s->sql = my_connect(cf, errstr, errsz))) return sl_ctx_error_code(ctx, SL_E_CONNECT);
    if (check_server(s, errstr, errsz) < 0 || check_tables(s, errstr, errsz) < 0)
        return sl_ctx_error_code(ctx, SL_E_CONFIG); /* binlog_format, binlog_row_image, a table list */
    if (plan_start(s, errstr, errsz) != 0) return -1; /* it named the kind */
    if (my_isnap_resume(s, sl_ctx_stored_offset(ctx), errstr, errsz) < 0) return sl_ctx_error_code(ctx, SL_E_CONFIG);
    return 0;
}

/* The encoder options of this source's events, fixed once per connector (sl_source_ops.describe). */
static void describe(const my_conf *cf, const char *connector, sl_dbz_dialect dialect, sl_dbz_opts *o) {
    o->connector = connector;
    o->dialect = dialect;
    o->server_name = cf->topic_prefix;
    o->decimal_mode = (sl_decimal_mode)cf->decimal_mode;
    o->time_mode = (sl_time_mode)cf->time_mode;
    o->binary_mode = (sl_binary_mode)cf->binary_mode;
    o->bigint_unsigned_precise = cf->bigint_mode == 1;
    o->provide_tx = cf->provide_tx;
}

static void mysql_describe(const void *settings, sl_dbz_opts *o) { describe(settings, "mysql", SL_DBZ_MYSQL, o); }

static void mariadb_describe(const void *settings, sl_dbz_opts *o) { describe(settings, "mariadb", SL_DBZ_MARIADB, o); }

static int mysql_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    return open_common(out, settings, ctx, "mysql", errstr, errsz);
}

static int mariadb_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    return open_common(out, settings, ctx, "mariadb", errstr, errsz);
}

/* ---- the binlog loop ---- */

static bool skipped(my_source *s, char op) {
    char o[2] = {op, 0};
    return sl_list_has(s->cf->skipped_ops, o);
}

static sl_cell *map_cells(my_source *s, my_rel *r, const sl_cell *src) {
    int n = r->table->ncols;
    sl_cell *cells = sl_arena_alloc(&s->batch->arena, sizeof(sl_cell) * (size_t)(n ? n : 1));
    for (int i = 0; i < r->ncols; i++)
        if (r->map[i] >= 0) cells[r->map[i]] = src[i];
    return cells;
}

/* The transaction's fields of a record (events and BEGIN/END records alike). */
static void set_txn_fields(my_source *s, sl_record *rec) {
    rec->ts_us = s->txn_ts_us;
    rec->txid = 0;
    rec->pos.file = sl_arena_strndup(&s->batch->arena, s->cur.file, strlen(s->cur.file));
    rec->pos.file_pos = s->txn_pos;
    rec->pos.gtid = s->txn_gtid[0] ? sl_arena_strndup(&s->batch->arena, s->txn_gtid, strlen(s->txn_gtid)) : NULL;
    rec->pos.thread = s->txn_thread;
    rec->tx_order = s->txn_order ? s->txn_order : 1;
}

void my_context_headers(my_source *s, sl_record *r) {
    if (s->cf->extended_headers) sl_ctxhdr_add(&s->ctxhdr, s->batch, r);
}

static sl_record *add_record(my_source *s, my_rel *r, sl_op op, uint32_t server_id, uint32_t row) {
    uint64_t coll_order = 0;
    if (s->cf->provide_tx && s->in_txn) {
        sl_record *begin = sl_txmon_event(&s->txmon, s->batch, r->table);
        if (begin) set_txn_fields(s, begin), begin->pos.server_id = server_id;
        coll_order = s->txmon.coll_order; /* data_collection_order: counted per table */
    }
    sl_record *rec = sl_batch_add(s->batch, r->table);
    rec->op = op;
    rec->ts_us = s->txn_ts_us;
    rec->tx_order = ++s->txn_order;
    rec->tx_coll_order = coll_order;
    rec->txid = 0;
    rec->pos.file = sl_arena_strndup(&s->batch->arena, s->cur.file, strlen(s->cur.file));
    rec->pos.file_pos = s->txn_pos;
    rec->pos.gtid = s->txn_gtid[0] ? sl_arena_strndup(&s->batch->arena, s->txn_gtid, strlen(s->txn_gtid)) : NULL;
    rec->pos.event_pos = s->ev_pos;
    rec->pos.server_id = server_id;
    rec->pos.row = row;
    rec->pos.thread = s->txn_thread;
    rec->pos.query = s->cf->include_query ? s->query : NULL;
    return rec;
}

static int on_rows(my_source *s, MARIADB_RPL_EVENT *ev) {
    struct st_mariadb_rpl_rows_event *rw = &ev->event.rows;
    my_rel *r = my_rel_find(s, rw->table_id);
    if (!r) {
        return sl_ctx_raisef(s->ctx, SL_E_PROTOCOL,
                             "rows event for table id %" PRIu64 " without a TABLE_MAP (binlog %s:%" PRIu64 ")",
                             (uint64_t)rw->table_id, s->cur.file, s->cur.pos);
    }
    if (!r->captured) return 0;
    s->ev_pos = ev->next_event_pos ? ev->next_event_pos - ev->event_length : s->cur.pos;
    int t = ev->event_type;
    sl_op op = (t == WRITE_ROWS_EVENT_V1 || t == WRITE_ROWS_EVENT) ? SL_OP_CREATE
               : (t == UPDATE_ROWS_EVENT_V1 || t == UPDATE_ROWS_EVENT) ? SL_OP_UPDATE : SL_OP_DELETE;
    if (skipped(s, (char)op) && !r->signal) return 0;
    if (s->cf->skipped_server_ids && *s->cf->skipped_server_ids) { /* skipped.server.ids */
        char id[16];
        snprintf(id, sizeof id, "%u", (unsigned)ev->server_id);
        if (sl_list_has(s->cf->skipped_server_ids, id)) return 0;
    }
    const uint8_t *p = rw->row_data;
    size_t left = rw->row_data_size;
    sl_cell *before = sl_malloc(sizeof(sl_cell) * (size_t)r->ncols), *after = sl_malloc(sizeof(sl_cell) * (size_t)r->ncols);
    char err[512];
    int rc = 0;
    for (uint32_t row = 0; left > 0; row++) {
        if (s->batch->n >= sl_ctx_core(s->ctx)->max_batch_size && my_emit_batch(s) < 0) {
            rc = -1;
            break;
        }
        sl_cell *first = op == SL_OP_CREATE ? after : before;
        long used = sl_my_decode_row(r->cols, r->ncols, rw->column_bitmap, (int)rw->column_count, p, left,
                                     &s->batch->arena, first, err, sizeof err);
        if (used < 0) goto bad;
        p += used, left -= (size_t)used;
        if (op == SL_OP_UPDATE) {
            used = sl_my_decode_row(r->cols, r->ncols, rw->column_update_bitmap, (int)rw->column_count, p, left,
                                    &s->batch->arena, after, err, sizeof err);
            if (used < 0) goto bad;
            p += used, left -= (size_t)used;
        }
        sl_cell *a = op != SL_OP_DELETE ? map_cells(s, r, after) : NULL;
        sl_cell *b = op != SL_OP_CREATE ? map_cells(s, r, before) : NULL;
        if (r->signal && op == SL_OP_CREATE) my_isnap_signal_row(s, r->table, a, ev->server_id);
        if (r->hidden || skipped(s, (char)op)) continue;
        if (s->isnap) my_isnap_on_change(s, r->table, b, a);
        if (op == SL_OP_UPDATE && sl_cells_key_changed(r->table, b, a)) {
            /* As Debezium: delete of the old key (then its tombstone), create of the new one. */
            sl_record *d = add_record(s, r, SL_OP_DELETE, ev->server_id, row);
            d->before = b;
            sl_dbz_key_header(sl_ctx_dbz(s->ctx), d, "__debezium.newkey", a, &s->batch->arena);
            my_context_headers(s, d); /* after the record's own headers, as Debezium */
            sl_record *c = add_record(s, r, SL_OP_CREATE, ev->server_id, row);
            c->after = a;
            sl_dbz_key_header(sl_ctx_dbz(s->ctx), c, "__debezium.oldkey", b, &s->batch->arena);
            my_context_headers(s, c);
            continue;
        }
        sl_record *rec = add_record(s, r, op, ev->server_id, row);
        rec->after = a;
        rec->before = b;
        my_context_headers(s, rec);
    }
    sl_free(before), sl_free(after);
    return rc;
bad:
    sl_free(before), sl_free(after);
    return sl_ctx_raisef(s->ctx, SL_E_PROTOCOL, "table %s.%s at binlog %s:%" PRIu64 ": %s", r->table->db,
                         r->table->name, s->cur.file, s->cur.pos, err);
}

static void begin_txn(my_source *s, MARIADB_RPL_EVENT *ev) {
    sl_txmon_reset(&s->txmon);
    s->in_txn = true;
    s->txn_pos = ev->next_event_pos ? ev->next_event_pos - ev->event_length : s->cur.pos;
    s->txn_ts_us = (int64_t)ev->timestamp * 1000000;
    s->txn_order = 0;
    s->query = NULL;
}

/* Keeps the GTID state: one domain-server-seq per domain, the newest committed. */
static void gtid_commit(my_source *s) {
    if (!s->txn_gtid[0]) return;
    unsigned dom = (unsigned)strtoul(s->txn_gtid, NULL, 10);
    sl_buf b;
    sl_buf_init(&b);
    bool replaced = false;
    char *copy = sl_strdup(s->cur.gtids), *save = NULL;
    for (char *g = strtok_r(copy, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
        while (*g == ' ') g++;
        if (!*g) continue;
        if ((unsigned)strtoul(g, NULL, 10) == dom) g = s->txn_gtid, replaced = true;
        sl_buf_printf(&b, "%s%s", b.len ? "," : "", g);
    }
    if (!replaced) sl_buf_printf(&b, "%s%s", b.len ? "," : "", s->txn_gtid);
    snprintf(s->cur.gtids, sizeof s->cur.gtids, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    sl_free(copy);
}

static int commit_txn(my_source *s, MARIADB_RPL_EVENT *ev, int64_t *last_emit) {
    sl_record *end = sl_txmon_commit(&s->txmon, s->batch);
    if (end) set_txn_fields(s, end), end->pos.server_id = ev->server_id;
    s->cur.pos = ev->next_event_pos ? ev->next_event_pos : s->cur.pos;
    gtid_commit(s);
    s->in_txn = false;
    s->txn_gtid[0] = 0;
    s->query = NULL;
    set_offset(s);
    int64_t now = sl_mono_ms();
    /* Hand on at once after a quiet spell or when the sink has nothing queued (it waits), else gather for a
     * few ms. */
    if (s->batch->n >= sl_ctx_core(s->ctx)->max_batch_size || now - *last_emit >= 20 ||
        sl_ctx_queued_records(s->ctx) == 0) {
        *last_emit = now;
        return my_emit_batch(s);
    }
    return 0;
}

/* ---- DDL: schema change events and truncates ---- */

static bool table_captured(my_source *s, const char *db, const char *table) {
    char fq[2 * SL_MY_IDENT + 2];
    snprintf(fq, sizeof fq, "%s.%s", db, table);
    return sl_filter_match(&s->dbs, db) && sl_filter_match(&s->tables, fq);
}

/* The captured schema of db.table (a new reference), from a TABLE_MAP seen or from information_schema. */
static sl_table *captured_table(my_source *s, const char *db, const char *table) {
    for (int i = 0; i < s->nrels; i++) {
        sl_table *t = s->rels[i].captured ? s->rels[i].table : NULL;
        if (t && !strcmp(t->db, db) && !strcmp(t->name, table)) return sl_table_ref(t);
    }
    sl_arena a;
    sl_arena_init(&a);
    sl_my_col *cols;
    int n;
    char err[512];
    sl_table *t = my_describe(s, db, table, &cols, &n, &a, err, sizeof err);
    sl_arena_free(&a);
    if (!t) SL_WARN("mysql", "truncate of %s.%s not sent: %s", db, table, err);
    return t;
}

static sl_record *ddl_record(my_source *s, sl_table *t, sl_op op, uint32_t server_id) {
    sl_record *rec = sl_batch_add(s->batch, t);
    set_txn_fields(s, rec);
    rec->op = op;
    rec->pos.server_id = server_id;
    rec->pos.thread = 0; /* a DDL statement's group has no BEGIN naming it */
    return rec;
}

sl_record *my_schema_record(my_source *s, uint32_t server_id, const char *db, const char *tables, const char *ddl,
                            size_t ddl_len, const char *changes, size_t changes_len) {
    sl_arena *a = &s->batch->arena;
    sl_schema_change *p = sl_arena_alloc(a, sizeof *p);
    p->db = sl_arena_strndup(a, db, strlen(db));
    p->table = tables ? sl_arena_strndup(a, tables, strlen(tables)) : NULL;
    p->ddl = sl_arena_strndup(a, ddl, ddl_len);
    p->table_changes = sl_arena_strndup(a, changes, changes_len);
    sl_record *rec = ddl_record(s, NULL, SL_OP_SCHEMA, server_id);
    rec->schema_change = p;
    return rec;
}

/* A DDL statement read from the binlog: a truncate record per captured table (unless skipped), or one
 * schema change record when it changes captured tables or a captured database. */
static int on_ddl(my_source *s, MARIADB_RPL_EVENT *ev, const char *sql, size_t len) {
    char sess[SL_MY_IDENT];
    snprintf(sess, sizeof sess, "%.*s", (int)ev->event.query.database.length, ev->event.query.database.str);
    sl_my_ddl *d = sl_malloc(sizeof *d);
    sl_my_ddl_kind k = sl_my_ddl_parse(sql, len, sess, d);
    int rc = 0;
    if (d->truncated)
        SL_WARN("mysql", "a DDL statement names more than %d tables; only the first are reported (binlog %s:%" PRIu64 ")",
                SL_MY_DDL_MAX_TABLES, s->cur.file, s->cur.pos);
    if (k == SL_MY_DDL_TRUNCATE) {
        for (int i = 0; i < d->ntables && !skipped(s, 't'); i++) {
            if (!table_captured(s, d->tables[i].db, d->tables[i].name)) continue;
            sl_table *t = captured_table(s, d->tables[i].db, d->tables[i].name);
            if (t) my_context_headers(s, ddl_record(s, t, SL_OP_TRUNCATE, ev->server_id)), sl_table_unref(t);
        }
        goto done;
    }
    /* The tables' shapes known from earlier TABLE_MAPs are stale now (a TRUNCATE after this statement
     * must carry the new columns); the next rows event brings a new TABLE_MAP anyway. */
    for (int i = 0; i < d->ntables; i++) {
        my_rels_forget(s, d->tables[i].db, d->tables[i].name);
        if (k == SL_MY_DDL_RENAME) my_rels_forget(s, d->tables[i].to_db, d->tables[i].to_name);
    }
    if (k == SL_MY_DDL_NONE || !s->cf->include_schema_changes) goto done;
    if (k == SL_MY_DDL_CREATE_DB || k == SL_MY_DDL_ALTER_DB || k == SL_MY_DDL_DROP_DB) {
        if (sl_filter_match(&s->dbs, d->db)) my_schema_record(s, ev->server_id, d->db, NULL, sql, len, "[]", 2);
        goto done;
    }
    if (k == SL_MY_DDL_DROP) { /* as Debezium: one event per dropped table, its statement DROP TABLE `db`.`t` */
        for (int i = 0; i < d->ntables; i++) {
            sl_my_ddl_table *t = &d->tables[i];
            if (!table_captured(s, t->db, t->name)) continue;
            sl_buf stmt, ch;
            sl_buf_init(&stmt), sl_buf_init(&ch);
            sl_buf_printf(&stmt, "DROP TABLE `%s`.`%s`", t->db, t->name);
            sl_buf_putc(&ch, '[');
            sl_my_table_change_json(&ch, "DROP", t->db, t->name, NULL, NULL, NULL, 0, NULL, 0);
            sl_buf_putc(&ch, ']');
            my_schema_record(s, ev->server_id, t->db, t->name, stmt.data, stmt.len, ch.data, ch.len);
            sl_buf_free(&stmt), sl_buf_free(&ch);
        }
        goto done;
    }
    const char *type = k == SL_MY_DDL_CREATE ? "CREATE" : "ALTER"; /* a rename: ALTER under the new name */
    const char *db = NULL;
    sl_buf changes, names;
    sl_buf_init(&changes), sl_buf_init(&names);
    sl_buf_putc(&changes, '[');
    for (int i = 0; i < d->ntables && rc == 0; i++) {
        sl_my_ddl_table *t = &d->tables[i];
        bool renamed = k == SL_MY_DDL_RENAME;
        const char *tdb = renamed ? t->to_db : t->db, *name = renamed ? t->to_name : t->name;
        if (!table_captured(s, tdb, name) && !(renamed && table_captured(s, t->db, t->name))) continue;
        char err[512];
        if (changes.len > 1) sl_buf_putc(&changes, ',');
        if (my_table_change(s, type, tdb, name, s->cf->include_schema_comments, sql, len, &changes, err, sizeof err) < 0) {
            sl_ctx_retry(s->ctx, "binlog %s:%" PRIu64 ": %s", s->cur.file, s->cur.pos, err);
            rc = SL_RETRY;
        }
        if (!db) db = tdb;
        sl_buf_printf(&names, "%s%s", names.len ? "," : "", name);
    }
    sl_buf_putc(&changes, ']');
    if (rc == 0 && db) my_schema_record(s, ev->server_id, db, sl_buf_cstr(&names), sql, len, changes.data, changes.len);
    sl_buf_free(&changes), sl_buf_free(&names);
done:
    sl_free(d);
    return rc;
}

static bool gtid_wanted(my_source *s) {
    if (!s->txn_gtid[0] || (!s->cf->gtid_includes && !s->cf->gtid_excludes)) return true;
    if (s->gtid_filter_state == 0) {
        char err[256];
        s->gtid_filter_state = 1;
        if (sl_filter_init(&s->gtid_filter, s->cf->gtid_includes, s->cf->gtid_excludes, "gtid.source.includes",
                           "gtid.source.excludes", err, sizeof err) < 0) {
            SL_WARN("mysql", "%s: capturing every GTID source", err); /* my_check validated the regexes */
            s->gtid_filter_state = -1;
        }
    }
    if (s->gtid_filter_state < 0) return true;
    char src[64];
    snprintf(src, sizeof src, "%s", s->txn_gtid);
    char *last = strrchr(src, '-');
    if (last) *last = 0; /* domain-server */
    return sl_filter_match(&s->gtid_filter, src);
}

/* Source thread: the binlog connection failed (what: at which step). The server refuses a dump it cannot
 * serve with ER_MASTER_FATAL_ERROR_READING_BINLOG (1236; MySQL also ER_MASTER_HAS_PURGED_REQUIRED_GTIDS,
 * 1789), which tells a replica not to reconnect: that fails the connector (SL_E_PROTOCOL), with the advice for
 * a position that is gone when the server says so (SL_E_POSITION_LOST), or leaves it to my_run_once (s->gone
 * set) for snapshot.mode=when_needed. Anything else is a lost connection (SL_E_CONNECT): retried. */
static int binlog_failed(my_source *s, const char *what) {
    static const char *const gone[] = {"not in the master's binlog", "missing the GTID", "Could not find GTID state",
                                       "Could not find first log file", "impossible position", "position > file size"};
    unsigned e = mysql_errno(s->binlog);
    const char *msg = mysql_error(s->binlog);
    if (e != 1236 && e != 1789) return sl_ctx_raisef(s->ctx, SL_E_CONNECT, "%s: %s", what, msg);
    bool is_gone = e == 1789;
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) is_gone |= strcasestr(msg, gone[i]) != NULL;
    if (!is_gone)
        return sl_ctx_raisef(s->ctx, SL_E_PROTOCOL, "%s: the server refuses to send its binlog from %s:%" PRIu64
                             " (gtids '%s'): %s", what, s->start.file, s->start.pos, s->start.gtids, msg);
    char why[sizeof s->gone];
    snprintf(why, sizeof why, "binlog position %s:%" PRIu64 " (gtids '%s') is not on the server (%s)", s->start.file,
             s->start.pos, s->start.gtids, msg);
    if (s->cf->snapshot_mode == MY_SNAP_WHEN_NEEDED) snprintf(s->gone, sizeof s->gone, "%s", why);
    else sl_ctx_fail_code(s->ctx, SL_E_POSITION_LOST, "the stored offset's %s: " GONE_ADVICE, why);
    return -1;
}

/* task.fencing: the binlog connection holds the lock sluice.<connector> while it streams, so that two instances
 * of the connector never read the binlog at once (unlike a PostgreSQL slot, the server allows any number of
 * readers). The first open of an instance kills the connection of an older holder (a worker frozen past its
 * session); a reopen only waits for the lock: it may be the older instance. */
static int fence_binlog(my_source *s, char *errstr, size_t errsz) {
    const char *conn = sl_ctx_name(s->ctx);
    char name[65], esc[2 * sizeof name + 1], q[400], *v[1] = {0};
    if (strlen(conn) <= 57) snprintf(name, sizeof name, "sluice.%s", conn); /* (a lock name has at most 64) */
    else {
        uint32_t h = 2166136261u;
        for (const char *p = conn; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
        snprintf(name, sizeof name, "sluice.%.40s~%08x", conn, h);
    }
    mysql_real_escape_string(s->binlog, esc, name, (unsigned long)strlen(name));
    if (!sl_ctx_reopening(s->ctx)) {
        snprintf(q, sizeof q, "SELECT IS_USED_LOCK('%s')", esc);
        if (my_query_row(s->binlog, "fencing (task.fencing)", q, v, 1, errstr, errsz) < 0) return -1;
        if (*v[0]) { /* (NULL, read as "": free) */
            SL_WARN("mysql", "the lock %s is held by connection %s: killing it (task.fencing: an older instance of "
                    "this connector)", name, v[0]);
            snprintf(q, sizeof q, "KILL CONNECTION %lld", strtoll(v[0], NULL, 10));
            if (my_query(s->binlog, "fencing an older instance (task.fencing)", q, errstr, errsz) < 0 &&
                mysql_errno(s->binlog) != 1094 /* (gone already) */) {
                sl_free(v[0]);
                return -1;
            }
        }
        sl_free(v[0]);
    }
    snprintf(q, sizeof q, "SELECT GET_LOCK('%s', %d)", esc, sl_ctx_reopening(s->ctx) ? 2 : 10);
    if (my_query_row(s->binlog, "fencing (task.fencing)", q, v, 1, errstr, errsz) < 0) return -1;
    bool got = !strcmp(v[0], "1");
    sl_free(v[0]);
    if (!got) {
        snprintf(errstr, errsz, "the lock %s (task.fencing) is held by another connection: another instance of this "
                 "connector reads the binlog", name);
        return -1;
    }
    return 0;
}

static int start_binlog(my_source *s) {
    char err[2048];
    if (!(s->binlog = my_connect(s->cf, err, sizeof err))) {
        sl_ctx_retry(s->ctx, "%s", err);
        return SL_RETRY;
    }
    if (sl_ctx_core(s->ctx)->fencing && fence_binlog(s, err, sizeof err) < 0) goto fail;
    /* Sent only while the binlog is idle: bounds how long a held partial batch waits (the loop
     * gathers transactions that arrive within 20 ms of each other). */
    int64_t hb_ms = 100;
    char q[1400];
    snprintf(q, sizeof q, "SET @master_heartbeat_period = %lld", (long long)hb_ms * 1000000LL);
    /* Events keep the server's checksum (Connector/C expects it); their bodies end 4 bytes early then. The
     * server checksums the first fake ROTATE as agreed here; each FORMAT_DESCRIPTION says so afterwards. */
    char *ck[1] = {0};
    if (my_query(s->binlog, "setting up the binlog dump", "SET @master_binlog_checksum = @@global.binlog_checksum",
                 err, sizeof err) < 0 ||
        my_query_row(s->binlog, "reading the binlog checksum", "SELECT @master_binlog_checksum", ck, 1, err,
                     sizeof err) < 0)
        goto fail;
    s->checksum_len = strcasecmp(ck[0], "CRC32") == 0 ? 4 : 0;
    sl_free(ck[0]);
    if (my_query(s->binlog, "setting up the binlog dump", q, err, sizeof err) < 0) goto fail;
    if (s->mariadb) {
        if (my_query(s->binlog, "setting up the binlog dump", "SET @mariadb_slave_capability = 4", err, sizeof err) < 0)
            goto fail;
    }
    bool by_gtid = s->gtid_mode && s->start.gtids[0];
    if (by_gtid) {
        snprintf(q, sizeof q, "SET @slave_connect_state = '%s'", s->start.gtids);
        if (my_query(s->binlog, "setting the GTID start position", q, err, sizeof err) < 0 ||
            my_query(s->binlog, "setting up the binlog dump", "SET @slave_gtid_strict_mode = 1", err, sizeof err) < 0)
            goto fail;
    }
    MARIADB_RPL *rpl = mariadb_rpl_init(s->binlog);
    s->rpl = rpl;
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, (unsigned int)s->cf->server_id);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, by_gtid ? "" : s->start.file, by_gtid ? 0 : strlen(s->start.file));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, by_gtid ? 4UL : (unsigned long)s->start.pos);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, s->cf->include_query ? MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS : 0);
    if (mariadb_rpl_open(rpl) != 0) return binlog_failed(s, "starting the binlog dump");
    s->cur = s->start;
    sl_ctx_set_source_state(s->ctx, SL_SRC_STREAMING);
    SL_INFO("mysql", "streaming binlog from file=%s pos=%" PRIu64 " gtids=%s", s->start.file, s->start.pos,
            s->start.gtids);
    return 0;
fail: /* access denied: retrying won't help; anything else is the connection's */
    return sl_ctx_raisef(s->ctx, mysql_errno(s->binlog) == 1227 || mysql_errno(s->binlog) == 1045 ? SL_E_AUTH
                                                                                                  : SL_E_CONNECT,
                         "%s", err);
}

static int stream(my_source *s) {
    int rc = start_binlog(s);
    if (rc != 0) return rc;
    MARIADB_RPL_EVENT *ev = NULL;
    int64_t last_emit = 0;
    char err[512];
    while (!sl_ctx_stopping(s->ctx)) {
        if ((rc = my_isnap_step(s)) != 0) break;
        ev = mariadb_rpl_fetch(s->rpl, ev);
        if (!ev) {
            if (sl_ctx_stopping(s->ctx)) break;
            rc = binlog_failed(s, "binlog stream ended");
            break;
        }
        /* the whole event from its common header on, and its body (without the checksum) */
        const uint8_t *raw = ev->raw_data + ev->raw_data_ofs, *body = raw + SL_MY_EVENT_HEADER_LEN;
        size_t raw_len = ev->raw_data_size > ev->raw_data_ofs ? ev->raw_data_size - ev->raw_data_ofs : 0;
        size_t body_len = raw_len > SL_MY_EVENT_HEADER_LEN + (size_t)s->checksum_len
                              ? raw_len - SL_MY_EVENT_HEADER_LEN - (size_t)s->checksum_len : 0;
        switch ((int)ev->event_type) {
        case ROTATE_EVENT: {
            /* Read from the event itself: Connector/C (3.3.20) reads the position and name 8 bytes late
             * after a FORMAT_DESCRIPTION, and always takes 4 bytes of checksum off the name. */
            sl_my_rotate rot;
            if (sl_my_rotate_parse(raw, raw_len, s->checksum_len, &rot, err, sizeof err) < 0) {
                sl_ctx_fail_code(s->ctx, SL_E_PROTOCOL, "binlog %s:%" PRIu64 ": %s", s->cur.file, s->cur.pos, err);
                rc = -1;
                goto out;
            }
            SL_DEBUG("mysql", "%s rotate to %s:%" PRIu64, rot.fake ? "fake" : "binlog", rot.file, rot.pos);
            snprintf(s->cur.file, sizeof s->cur.file, "%s", rot.file);
            s->cur.pos = rot.pos;
            continue; /* a rotate's own position is not in the new file */
        }
        case FORMAT_DESCRIPTION_EVENT: {
            int ck = sl_my_fde_checksum_len(raw, raw_len, err, sizeof err);
            if (ck < 0) {
                sl_ctx_fail_code(s->ctx, SL_E_PROTOCOL, "binlog %s:%" PRIu64 ": %s", s->cur.file, s->cur.pos, err);
                rc = -1;
                goto out;
            }
            s->checksum_len = ck; /* of this file's events, and of the fake rotate after it */
            break;
        }
        case GTID_EVENT:
            snprintf(s->txn_gtid, sizeof s->txn_gtid, "%u-%u-%" PRIu64, ev->event.gtid.domain_id, ev->server_id,
                     (uint64_t)ev->event.gtid.sequence_nr);
            my_isnap_on_gtid(s, s->txn_gtid); /* read.only: a chunk whose high watermark it is past goes first */
            begin_txn(s, ev);
            if (!gtid_wanted(s)) s->txn_gtid[0] = 0, s->in_txn = true;
            break;
        case QUERY_EVENT: {
            const char *q = ev->event.query.statement.str;
            size_t ql = ev->event.query.statement.length;
            if (ql == 5 && strncasecmp(q, "BEGIN", 5) == 0) {
                if (!s->in_txn) begin_txn(s, ev);
                s->txn_thread = ev->event.query.thread_id;
            } else if (ql >= 6 && strncasecmp(q, "COMMIT", 6) == 0) {
                if (commit_txn(s, ev, &last_emit) < 0) return 0;
                continue;
            } else {
                /* DDL: table ids of changed tables change, their TABLE_MAPs describe the new shape. */
                SL_DEBUG("mysql", "statement at %s:%u: %.*s", s->cur.file, ev->next_event_pos, (int)(ql > 200 ? 200 : ql), q);
                if (!s->in_txn) begin_txn(s, ev);
                bool excluded = !s->txn_gtid[0] && s->gtid_mode && (s->cf->gtid_includes || s->cf->gtid_excludes);
                if (!excluded && (rc = on_ddl(s, ev, q, ql)) != 0) goto out;
                if (commit_txn(s, ev, &last_emit) < 0) return 0;
                continue;
            }
            break;
        }
        case ANNOTATE_ROWS_EVENT:
            if (s->cf->include_query)
                s->query = sl_arena_strndup(&s->batch->arena, (const char *)body, body_len);
            break;
        case TABLE_MAP_EVENT:
            if (my_on_table_map(s, body, body_len, err, sizeof err) < 0) {
                sl_ctx_fail_code(s->ctx, SL_E_PROTOCOL, "binlog %s:%" PRIu64 ": %s", s->cur.file, s->cur.pos, err);
                rc = -1;
                goto out;
            }
            break;
        case WRITE_ROWS_EVENT_V1: case UPDATE_ROWS_EVENT_V1: case DELETE_ROWS_EVENT_V1:
        case WRITE_ROWS_EVENT: case UPDATE_ROWS_EVENT: case DELETE_ROWS_EVENT:
            if (s->in_txn && !s->txn_gtid[0] && s->gtid_mode && (s->cf->gtid_includes || s->cf->gtid_excludes)) break;
            if (on_rows(s, ev) < 0) {
                rc = sl_ctx_stopping(s->ctx) ? 0 : -1;
                goto out;
            }
            break;
        case XID_EVENT:
            if (commit_txn(s, ev, &last_emit) < 0) return 0;
            report_lag(s);
            continue;
        case HEARTBEAT_LOG_EVENT:
            if (!s->in_txn && (s->batch->n || s->batch->offset) && my_emit_batch(s) < 0) goto out;
            last_emit = sl_mono_ms();
            report_lag(s);
            continue;
        default:
            break;
        }
        if (ev->next_event_pos) s->cur.pos = ev->next_event_pos;
    }
out:
    if (ev) mariadb_free_rpl_event(ev);
    my_emit_batch(s); /* a partial transaction carries no offset */
    return rc;
}

static int my_run_once(my_source *s) {
    if (!s->do_snapshot && !s->stream) {
        SL_INFO("mysql", "snapshot.mode=initial_only and the snapshot is complete: nothing to do");
        return 0;
    }
    if (s->do_snapshot) {
        int rc = my_snapshot_run(s);
        if (rc != 0 || sl_ctx_stopping(s->ctx)) return rc;
    }
    if (!s->stream) {
        SL_INFO("mysql", "snapshot.mode=initial_only: snapshot done, stopping");
        return 0;
    }
    int rc = stream(s);
    if (!s->gone[0]) return rc;
    if (sl_ctx_stopping(s->ctx)) return 0;
    /* snapshot.mode=when_needed, and the server says the position is not in its binlog: as when
     * plan_start finds it gone, a new snapshot, then streaming from its position */
    SL_WARN("mysql", "the stored offset's %s: taking a new snapshot (snapshot.mode=when_needed)", s->gone);
    s->gone[0] = 0;
    if (s->rpl) mariadb_rpl_close(s->rpl), s->rpl = NULL;
    mysql_close(s->binlog), s->binlog = NULL;
    memset(&s->start, 0, sizeof s->start);
    s->in_txn = false;
    rc = my_snapshot_run(s);
    if (rc != 0 || sl_ctx_stopping(s->ctx)) return rc;
    return stream(s);
}

static int my_run(void *src) { return my_run_once(src); }

static void my_close(void *src) {
    my_source *s = src;
    if (!s) return;
    sl_txmon_free(&s->txmon);
    if (s->rpl) mariadb_rpl_close(s->rpl);
    if (s->binlog) mysql_close(s->binlog);
    if (s->sql) mysql_close(s->sql);
    my_rels_free(s);
    sl_batch_destroy(s->batch);
    sl_filter_free(&s->dbs);
    sl_filter_free(&s->tables);
    sl_filter_free(&s->columns);
    if (s->gtid_filter_state > 0) sl_filter_free(&s->gtid_filter);
    sl_free(s->resume_snapshot);
    my_isnap_free(s);
    sl_free(s);
}

const sl_source_ops sl_mysql_source_ops = {
    "mysql", "io.debezium.connector.mysql.MySqlConnector",
    "MySQL/MariaDB binlog (row events): snapshot, then streaming of every insert, update and delete, with "
    "Debezium's MySQL events (source.connector mysql).",
    my_props, sizeof(my_conf), my_check, mysql_open, my_run, my_close, my_check_offset, .describe = mysql_describe,
    .verify_open = my_verify_open,
    .position_passed = my_position_passed,
    .takes_signals = true};

const sl_source_ops sl_mariadb_source_ops = {
    "mariadb", "io.debezium.connector.mariadb.MariaDbConnector",
    "MariaDB binlog (row events, GTID positions): as mysql, with Debezium's MariaDB events (source.connector "
    "mariadb).",
    my_props, sizeof(my_conf), my_check, mariadb_open, my_run, my_close, my_check_offset, .describe = mariadb_describe,
    .verify_open = my_verify_open,
    .position_passed = my_position_passed,
    .takes_signals = true};
