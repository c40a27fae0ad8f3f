/*
 * PostgreSQL source (pgoutput logical replication), Debezium's keys and
 * semantics.
 *
 * open():  checks everything that can be checked without side effects
 *          (connection, wal_level, tables, slot vs stored offset), then
 *          creates the publication and the slot (with an exported snapshot
 *          when a snapshot is due).
 * run():   the snapshot, then START_REPLICATION and the receive loop: each
 *          XLogData payload is copied once into the batch arena (a very
 *          large one is adopted as libpq returned it) and decoded there, so
 *          cells point at it. A batch carries the offset of the
 *          last commit it contains; keepalives outside a transaction advance
 *          the offset too, so a slot on an idle or filtered-out database
 *          still moves. Standby status updates report only the LSN the
 *          runtime says is durable and stored (sl_ctx_committed_seq).
 * close(): final status update, optional slot drop.
 */
#include "core/log.h"
#include "source/pg/pg_int.h"
#include "util/buf.h"
#include "util/jcheck.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/select.h>
#include <unistd.h>

#define F(x) offsetof(pg_conf, x)
static const sl_prop pg_props[] = {
    {"database.hostname", SL_PT_STRING, "localhost", NULL, 0, 0, 0, F(host), "PostgreSQL host."},
    {"database.port", SL_PT_INT, "5432", NULL, 1, 65535, 0, F(port), "PostgreSQL port."},
    {"database.user", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(user),
     "User with the REPLICATION attribute (and CREATE on the database to create the publication)."},
    {"database.password", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, F(password), "Password of database.user."},
    {"database.dbname", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(dbname), "Database to capture."},
    {"database.sslmode", SL_PT_STRING, "prefer", NULL, 0, 0, 0, F(sslmode),
     "libpq sslmode: disable, allow, prefer, require, verify-ca or verify-full."},
    {"topic.prefix", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(topic_prefix),
     "Logical server name: prefix of every topic (<prefix>.<schema>.<table>) and source.name."},
    {"plugin.name", SL_PT_ENUM, "pgoutput", "pgoutput", 0, 0, 0, F(plugin),
     "Logical decoding plugin; sluice speaks pgoutput (built into PostgreSQL 10+)."},
    {"slot.name", SL_PT_STRING, "debezium", NULL, 0, 0, 0, F(slot_name), "Replication slot name."},
    {"slot.drop.on.stop", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(slot_drop_on_stop),
     "Drop the slot when the connector stops cleanly (for tests; loses the position)."},
    {"slot.max.retries", SL_PT_INT, "6", NULL, 0, 1000000, 0, F(slot_max_retries),
     "How often to check again, at start, for a slot that another connection still holds."},
    {"slot.retry.delay.ms", SL_PT_INT, "10000", NULL, 0, 3600000, 0, F(slot_retry_delay_ms),
     "Pause between those checks."},
    {"publication.name", SL_PT_STRING, "dbz_publication", NULL, 0, 0, 0, F(publication), "Publication name."},
    {"publication.autocreate.mode", SL_PT_ENUM, "all_tables", "all_tables|disabled|filtered", 0, 0, 0, F(pub_mode),
     "all_tables: create the publication FOR ALL TABLES if missing; disabled: it must exist; filtered: create or "
     "update it for the tables the include/exclude lists select."},
    {"schema.include.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(schema_include),
     "Regexes of schemas to capture (anchored, case-insensitive)."},
    {"schema.exclude.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(schema_exclude), "Regexes of schemas not to capture."},
    {"table.include.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(table_include),
     "Regexes of schema.table names to capture (anchored, case-insensitive). Each must match some table."},
    {"table.exclude.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(table_exclude),
     "Regexes of schema.table names not to capture (when no include list is set)."},
    {"column.include.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(column_include),
     "Regexes of schema.table.column names to keep in events."},
    {"column.exclude.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(column_exclude),
     "Regexes of schema.table.column names to leave out of events."},
    {"snapshot.mode", SL_PT_ENUM, "initial", "initial|initial_only|no_data|never|when_needed|always", 0, 0, 0,
     F(snapshot_mode),
     "initial: snapshot when no offset is stored, then stream; initial_only: snapshot, then stop; no_data (never): "
     "stream only; when_needed: snapshot again if the slot or stored position is unusable; always: snapshot at "
     "every start."},
    {"snapshot.fetch.size", SL_PT_INT, "10240", NULL, 1, 100000000, 0, F(snapshot_fetch_size),
     "Most rows per batch handed on while snapshotting (the smaller of this and max.batch.size)."},
    {"snapshot.max.threads", SL_PT_INT, "1", NULL, 1, 64, 0, F(snapshot_threads),
     "Connections that read the initial snapshot, all in the slot's snapshot: above 1, each table is split into "
     "ranges of its pages (ctid, PostgreSQL 14 or later) read in parallel, one table after the other, and "
     "taken in page order, so the rows come in the order one connection's COPY gives them."},
    {"snapshot.new.tables", SL_PT_ENUM, "off", "off|incremental", 0, 0, 0, F(snapshot_new_tables),
     "incremental: the source offset records the table filters (table/schema include and exclude lists); at a "
     "start whose filters capture tables the stored ones did not, those tables get an incremental snapshot "
     "while streaming goes on (as an execute-snapshot signal would ask). off: a table added to the lists is "
     "only streamed from then on."},
    {"heartbeat.interval.ms", SL_PT_INT, "0", NULL, 0, 86400000, 0, F(heartbeat_ms),
     "Every this often (0 = off) ask the server for its WAL position and commit it when no captured change is "
     "pending, so the slot advances while captured tables are idle; runs heartbeat.action.query too."},
    {"heartbeat.action.query", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(heartbeat_query),
     "SQL run on every heartbeat (e.g. an UPDATE of a heartbeat table so a quiet database produces WAL)."},
    {"decimal.handling.mode", SL_PT_ENUM, "precise", "precise|double|string", 0, 0, 0, F(decimal_mode),
     "numeric and money as Connect Decimal bytes (precise), JSON numbers (double) or strings (string)."},
    {"time.precision.mode", SL_PT_ENUM, "adaptive", "adaptive|adaptive_time_microseconds|connect", 0, 0, 0,
     F(time_mode), "How time and timestamp values are represented (Debezium's modes)."},
    {"binary.handling.mode", SL_PT_ENUM, "bytes", "bytes|base64|base64-url-safe|hex", 0, 0, 0, F(binary_mode),
     "bytea as Connect bytes (base64 in JSON) or as a base64 / base64-url-safe / hex string."},
    {"skipped.operations", SL_PT_LIST, "t", NULL, 0, 0, 0, F(skipped_ops),
     "Comma-separated operations not to emit: c, u, d, t, or none."},
    {"skipped.origins", SL_PT_LIST, "", NULL, 0, 0, 0, F(skipped_origins),
     "Replication origins whose transactions are left out (pgoutput names a transaction's origin): a sink that "
     "writes into this database under an origin (the SQL sink's replication.origin.name) is not read back, so "
     "a two-way sync sends no write back where it came from. Empty: every transaction is read."},
    {"message.key.columns", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(message_key_columns),
     "Key columns per table instead of the primary key: <table regex>:<col>,<col>;<table regex>:<col>"},
    {"provide.transaction.metadata", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(provide_tx),
     "Fill the transaction block (id, total_order, data_collection_order) of each event."},
    {"status.update.interval.ms", SL_PT_INT, "10000", NULL, 10, 3600000, 0, F(status_interval_ms),
     "How often the committed position is reported to the slot."},
    {"slot.retained.wal.warn.bytes", SL_PT_INT, "1073741824", NULL, 0, INT64_MAX, 0, F(retained_warn),
     "sluice status warns when the slot holds back more WAL than this (pg_current_wal_lsn() - restart_lsn, "
     "measured on each /metrics scrape, also while the connector is stopped or paused); 0: never."},
    {"message.prefix.include.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(msg_prefix_include),
     "Regexes of pg_logical_emit_message prefixes to emit (op m)."},
    {"message.prefix.exclude.list", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(msg_prefix_exclude),
     "Regexes of pg_logical_emit_message prefixes not to emit."},
    {"hstore.handling.mode", SL_PT_ENUM, "json", "json|map", 0, 0, 0, F(hstore_mode),
     "hstore values as a JSON object text (io.debezium.data.Json) or a Connect map of string to optional string."},
    {"extended.headers.enabled", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(extended_headers),
     "Add Debezium's __debezium.context.* headers (connectorLogicalName, taskId, connectorName, runId) to "
     "change events."},
    {NULL}};
#undef F

static void pg_check(void *settings, sl_config *cfg, sl_errs *errs) {
    pg_conf *cf = settings;
    static const char *modes = "|disable|allow|prefer|require|verify-ca|verify-full|";
    char m[64];
    snprintf(m, sizeof m, "|%s|", cf->sslmode ? cf->sslmode : "");
    if (!strstr(modes, m))
        sl_errs_add(errs, "database.sslmode: '%s' is not allowed (allowed: disable, allow, prefer, require, "
                    "verify-ca, verify-full)", cf->sslmode);
    sl_conf_check_list("skipped.operations", cf->skipped_ops, "c|u|d|t|none", errs);
    if (cf->table_include && *cf->table_include && cf->table_exclude && *cf->table_exclude)
        sl_errs_add(errs, "table.exclude.list: cannot be combined with table.include.list");
    if (cf->column_include && *cf->column_include && cf->column_exclude && *cf->column_exclude)
        sl_errs_add(errs, "column.exclude.list: cannot be combined with column.include.list");
    if (cf->slot_name) {
        for (const char *p = cf->slot_name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
                sl_errs_add(errs, "slot.name: '%s' may contain only lower-case letters, digits and '_'",
                            cf->slot_name);
                break;
            }
    }
    char err[256];
    sl_filter f;
    if (sl_filter_init(&f, cf->table_include, cf->table_exclude, "table.include.list", "table.exclude.list", err,
                       sizeof err) < 0)
        sl_errs_add(errs, "%s", err);
    sl_filter_free(&f);
    if (sl_filter_init(&f, cf->column_include, cf->column_exclude, "column.include.list", "column.exclude.list", err,
                       sizeof err) < 0)
        sl_errs_add(errs, "%s", err);
    sl_filter_free(&f);
}

/* check_offset: Debezium's PostgreSQL offset (what pg_offset_json writes, plus the keys Debezium adds); other
 * keys pass unchecked. Whether the position exists on the server is for plan_start to see. */
static int check_offset_fields(const json_t *offset, char *errstr, size_t errsz) {
    static const char *const numbers[] = {"lsn_commit", "lsn_proc", "txId", "ts_usec", "xmin", "snapshot_tables_done",
                                          "snapshot_table_pages_done", "snapshot_table_filenode"};
    static const char *const flags[] = {"snapshot", "last_snapshot_record"};
    if (sl_jcheck_uint(offset, "offset", "lsn", true, errstr, errsz) < 0) return -1;
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        if (sl_jcheck_uint(offset, "offset", numbers[i], false, errstr, errsz) < 0) return -1;
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (sl_jcheck_bool(offset, "offset", flags[i], false, errstr, errsz) < 0) return -1;
    return sl_jcheck_string(offset, "offset", "snapshot_tables_hash", false, NULL, errstr, errsz);
}

static int pg_check_offset(const json_t *partition, const json_t *offset, char *errstr, size_t errsz) {
    if (sl_jcheck_string(partition, "partition", "server", true, NULL, errstr, errsz) < 0) return -1;
    return check_offset_fields(offset, errstr, errsz);
}

void pg_offset_json(char *out, size_t outsz, uint64_t lsn, uint64_t commit_lsn, uint32_t txid, int64_t ts_us,
                    bool snapshot_running) {
    snprintf(out, outsz, "{\"lsn\":%" PRIu64 ",\"lsn_commit\":%" PRIu64 ",\"txId\":%u,\"ts_usec\":%" PRId64 "%s}",
             lsn, commit_lsn, txid, ts_us, snapshot_running ? ",\"snapshot\":true,\"last_snapshot_record\":false" : "");
}

/* The streaming offset of the current batch, with an incremental snapshot's progress. */
static void set_offset(pg_source *s, uint64_t lsn, uint64_t commit_lsn, uint32_t txid, int64_t ts_us) {
    char off[256];
    pg_offset_json(off, sizeof off, lsn, commit_lsn, txid, ts_us, false);
    const char *extra = pg_isnap_offset_fields(s);
    if (!*extra) {
        sl_batch_set_offset(s->batch, off, lsn);
        return;
    }
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "%.*s%s}", (int)strlen(off) - 1, off, extra);
    sl_batch_set_offset(s->batch, sl_buf_cstr(&b), lsn);
    sl_buf_free(&b);
}

int pg_emit_batch(pg_source *s) {
    sl_batch *b = s->batch;
    s->batch = sl_batch_new();
    s->origin_batch = NULL; /* copies in b's arena; a new batch may reuse a freed one's address */
    sl_ctxhdr_new_batch(&s->ctxhdr);
    if (b->n == 0 && !b->offset) {
        sl_batch_destroy(b);
        return 0;
    }
    return sl_ctx_emit(s->ctx, b);
}

int pg_emit_durable(pg_source *s) {
    sl_batch *b = s->batch;
    s->batch = sl_batch_new();
    s->origin_batch = NULL;
    sl_ctxhdr_new_batch(&s->ctxhdr);
    return sl_ctx_emit_durable(s->ctx, b);
}

char *pg_keep_message(pg_source *s, char *buf, size_t n, char *data, size_t len) {
    if (n >= PG_ADOPT_BYTES) {
        sl_arena_adopt(&s->batch->arena, buf, n, PQfreemem);
        return data;
    }
    char *copy = sl_arena_memdup(&s->batch->arena, data, len);
    PQfreemem(buf);
    return copy;
}

/* ---- start-up ---- */

static int exec_simple(PGconn *c, const char *what, const char *sql, char *errstr, size_t errsz) {
    PGresult *r = pg_query(c, what, sql, 0, NULL, errstr, errsz);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

/* Creates or checks the publication per publication.autocreate.mode. */
static int ensure_publication(pg_source *s, char *errstr, size_t errsz) {
    const char *params[] = {s->cf->publication};
    PGresult *r = pg_query(s->sql, "checking the publication", "SELECT puballtables FROM pg_publication WHERE pubname = $1",
                           1, params, errstr, errsz);
    if (!r) return -1;
    bool exists = PQntuples(r) == 1;
    PQclear(r);
    char *pub = PQescapeIdentifier(s->sql, s->cf->publication, strlen(s->cf->publication));
    sl_buf q;
    sl_buf_init(&q);
    int rc = 0;
    if (s->cf->pub_mode == PUB_DISABLED) {
        if (!exists)
            snprintf(errstr, errsz, "publication.name: publication '%s' does not exist and "
                     "publication.autocreate.mode=disabled", s->cf->publication), rc = -1;
    } else if (s->cf->pub_mode == PUB_ALL_TABLES) {
        if (!exists) {
            sl_buf_printf(&q, "CREATE PUBLICATION %s FOR ALL TABLES", pub);
            rc = exec_simple(s->sql, "creating the publication (publication.autocreate.mode=all_tables)",
                             sl_buf_cstr(&q), errstr, errsz);
            s->created_pub = rc == 0;
        }
    } else {
        uint32_t *oids = NULL;
        int n = 0;
        if (pg_list_tables(s, &oids, &n, errstr, errsz) < 0) rc = -1;
        else if (n == 0) snprintf(errstr, errsz, "publication.autocreate.mode=filtered: no table selected"), rc = -1;
        else {
            sl_buf_printf(&q, "%s PUBLICATION %s %s TABLE ", exists ? "ALTER" : "CREATE", pub, exists ? "SET" : "FOR");
            for (int i = 0; i < n; i++) {
                char p[16];
                snprintf(p, sizeof p, "%u", oids[i]);
                const char *pp[] = {p};
                PGresult *nr = pg_query(s->sql, "table name", "SELECT $1::oid::regclass::text", 1, pp, errstr, errsz);
                if (!nr) { rc = -1; break; }
                sl_buf_printf(&q, "%s%s", i ? ", " : "", PQgetvalue(nr, 0, 0));
                PQclear(nr);
            }
            /* The signal table (source channel) is read from the stream too, captured or not. */
            const sl_core_conf *core = sl_ctx_core(s->ctx);
            if (rc == 0 && core->sig_collection && *core->sig_collection && sl_list_has(core->sig_channels, "source")) {
                const char *pp[] = {core->sig_collection};
                PGresult *nr = pg_query(s->sql, "finding the signal table",
                                        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON "
                                        "n.oid = c.relnamespace WHERE n.nspname || '.' || c.relname = $1",
                                        1, pp, errstr, errsz);
                if (!nr) rc = -1;
                else if (PQntuples(nr) == 0)
                    SL_WARN("pg", "signal.data.collection: table %s does not exist: no signals from it",
                            core->sig_collection);
                else if (!strstr(sl_buf_cstr(&q), PQgetvalue(nr, 0, 0)) || !sl_filter_match(&s->tables, core->sig_collection))
                    sl_buf_printf(&q, ", %s", PQgetvalue(nr, 0, 0));
                PQclear(nr);
            }
            if (rc == 0) {
                rc = exec_simple(s->sql, "creating the publication (publication.autocreate.mode=filtered)",
                                 sl_buf_cstr(&q), errstr, errsz);
                s->created_pub = rc == 0 && !exists;
            }
        }
        sl_free(oids);
    }
    sl_buf_free(&q);
    PQfreemem(pub);
    return rc;
}

/* The stored offset's lsn (0: none) and whether it marks an unfinished snapshot; -1 when the offset is not one
 * that sluice or Debezium writes (errstr names the field). */
static int stored_lsn(pg_source *s, uint64_t *lsn, bool *snapshot_running, char *errstr, size_t errsz) {
    const char *off = sl_ctx_stored_offset(s->ctx);
    *lsn = 0;
    *snapshot_running = false;
    if (!off) return 0;
    json_t *j = json_loads(off, 0, NULL);
    char why[512] = "offset: not a JSON object";
    int rc = j && check_offset_fields(j, why, sizeof why) == 0 ? 0 : -1;
    if (rc == 0) {
        *lsn = (uint64_t)json_integer_value(json_object_get(j, "lsn"));
        *snapshot_running = json_is_true(json_object_get(j, "snapshot"));
        const char *h = json_string_value(json_object_get(j, "snapshot_tables_hash"));
        if (*snapshot_running && h) {
            s->resume_tables_done = json_integer_value(json_object_get(j, "snapshot_tables_done"));
            s->resume_tables_hash = strtoull(h, NULL, 16);
            s->resume_table_pages = json_integer_value(json_object_get(j, "snapshot_table_pages_done"));
            s->resume_table_filenode = json_integer_value(json_object_get(j, "snapshot_table_filenode"));
        }
    } else {
        snprintf(errstr, errsz, "stored offset: %s; reset offsets with 'sluice offsets reset' (or DELETE "
                 "/connectors/<name>/offsets) or PATCH a valid offset", why);
        sl_ctx_error_code(s->ctx, SL_E_CONFIG);
    }
    json_decref(j);
    return rc;
}

/* The end of the server's WAL: pg_current_wal_lsn(), on a standby what it received or replayed. No position the
 * server ever sent, so no stored offset of it, lies beyond. UINT64_MAX when the server cannot tell. */
static int server_wal_end(pg_source *s, uint64_t *end, char *errstr, size_t errsz) {
    PGresult *r = pg_query(s->sql, "reading the server's WAL position",
                           "SELECT CASE WHEN pg_is_in_recovery() THEN GREATEST(pg_last_wal_receive_lsn(), "
                           "pg_last_wal_replay_lsn()) ELSE pg_current_wal_lsn() END",
                           0, NULL, errstr, errsz);
    if (!r) return -1;
    *end = PQgetisnull(r, 0, 0) ? UINT64_MAX : pg_parse_lsn(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

/* Decides snapshot/stream from snapshot.mode, the stored offset and the slot; no side effects. */
static int plan_start(pg_source *s, bool *slot_exists, uint64_t *slot_flush, char *errstr, size_t errsz) {
    const char *params[] = {s->cf->slot_name};
    PGresult *r;
    for (int64_t attempt = 0;; attempt++) {
        r = pg_query(s->sql, "checking the replication slot",
                     "SELECT plugin, database, confirmed_flush_lsn, active FROM pg_replication_slots"
                     " WHERE slot_name = $1",
                     1, params, errstr, errsz);
        if (!r) return sl_ctx_error_code(s->ctx, SL_E_PROTOCOL);
        /* A slot still held by the connection of a process that just died is released soon. */
        if (PQntuples(r) != 1 || PQgetvalue(r, 0, 3)[0] != 't' || attempt >= s->cf->slot_max_retries) break;
        PQclear(r);
        int64_t wait = s->cf->slot_retry_delay_ms;
        if (sl_ctx_core(s->ctx)->fencing && !sl_ctx_reopening(s->ctx)) {
            /* task.fencing: an older instance of this connector holds it (a reopening one waits: it may be the
             * older one) */
            r = pg_query(s->sql, "fencing the slot's holder (task.fencing)",
                         "SELECT active_pid, pg_terminate_backend(active_pid) FROM pg_replication_slots"
                         " WHERE slot_name = $1 AND active_pid IS NOT NULL",
                         1, params, errstr, errsz);
            if (!r) return sl_ctx_error_code(s->ctx, SL_E_AUTH); /* (pg_signal_backend or the slot's role needed) */
            if (PQntuples(r) == 1) {
                SL_WARN("pg", "slot %s is held by backend %s: terminated it (task.fencing: an older instance of this "
                        "connector)", s->cf->slot_name, PQgetvalue(r, 0, 0));
                if (wait > 200) wait = 200; /* (it lets go at once) */
            }
            PQclear(r);
        }
        SL_WARN("pg", "slot %s is in use, retrying in %lld ms (slot.max.retries)", s->cf->slot_name, (long long)wait);
        sl_sleep_ms(wait, NULL);
        if (sl_ctx_stopping(s->ctx)) return sl_ctx_error_code(s->ctx, SL_E_CANCELLED);
    }
    *slot_exists = PQntuples(r) == 1;
    *slot_flush = 0;
    if (*slot_exists) {
        if (strcmp(PQgetvalue(r, 0, 0), "pgoutput") != 0 || strcmp(PQgetvalue(r, 0, 1), s->cf->dbname) != 0) {
            snprintf(errstr, errsz, "slot.name: slot '%s' exists for plugin %s on database %s, not pgoutput on %s",
                     s->cf->slot_name, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), s->cf->dbname);
            PQclear(r);
            return sl_ctx_error_code(s->ctx, SL_E_CONFIG);
        }
        if (PQgetvalue(r, 0, 3)[0] == 't') {
            snprintf(errstr, errsz, "slot.name: slot '%s' is in use by another connection (still after %lld "
                     "retries: slot.max.retries)", s->cf->slot_name, (long long)s->cf->slot_max_retries);
            PQclear(r);
            return sl_ctx_error_code(s->ctx, SL_E_CONFIG); /* another connector on the same slot */
        }
        *slot_flush = pg_parse_lsn(PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    bool unfinished; /* the stored offset is where a snapshot that did not complete started */
    uint64_t stored;
    if (stored_lsn(s, &stored, &unfinished, errstr, errsz) < 0) return -1; /* SL_E_CONFIG */
    int mode = s->cf->snapshot_mode;
    bool have = sl_ctx_stored_offset(s->ctx) != NULL;
    if (mode == SNAP_INITIAL_ONLY && have && !unfinished) { /* done before: the slot no longer matters */
        s->do_snapshot = s->stream = false;
        return 0;
    }
    bool wants = mode == SNAP_INITIAL || mode == SNAP_INITIAL_ONLY || mode == SNAP_WHEN_NEEDED;
    s->do_snapshot = mode == SNAP_ALWAYS || (wants && (!have || unfinished));
    s->stream = mode != SNAP_INITIAL_ONLY;
    s->start_lsn = stored;
    /* A stored position past the server's WAL end is not one of this server's (another server's offset, a
     * restored backup, a pg_upgrade, a mistyped offsets PATCH): streaming from it would skip every change
     * before it. Between the slot's confirmed_flush_lsn and the WAL end any position can be a good one (the
     * slot learns of a stored offset only with the next status update), so the WAL end is the line. */
    uint64_t wal_end = UINT64_MAX;
    if (have && server_wal_end(s, &wal_end, errstr, errsz) < 0) return sl_ctx_error_code(s->ctx, SL_E_PROTOCOL);
    if (have && stored > wal_end) {
        if (mode == SNAP_WHEN_NEEDED || mode == SNAP_ALWAYS) {
            SL_WARN("pg", "the stored offset (lsn %" PRIu64 ", %X/%X) is past the server's WAL end (%X/%X): taking a "
                    "new snapshot from a new slot (snapshot.mode=%s)", stored, (unsigned)(stored >> 32),
                    (unsigned)stored, (unsigned)(wal_end >> 32), (unsigned)wal_end,
                    mode == SNAP_ALWAYS ? "always" : "when_needed");
            s->do_snapshot = true;
            s->keep_slot = false;
            return 0;
        }
        snprintf(errstr, errsz, "stored offset: lsn %" PRIu64 " (%X/%X) is past the WAL end of PostgreSQL at "
                 "%s:%lld (%X/%X), so it is no position of this server (an offset from another server, a restored "
                 "backup, a pg_upgrade or a wrong offsets PATCH?) and streaming from it would skip every change "
                 "before it; reset offsets with 'sluice offsets reset' (or DELETE /connectors/<name>/offsets), "
                 "PATCH a valid offset, or set snapshot.mode=when_needed to take a new snapshot",
                 stored, (unsigned)(stored >> 32), (unsigned)stored, s->cf->host, (long long)s->cf->port,
                 (unsigned)(wal_end >> 32), (unsigned)wal_end);
        return sl_ctx_error_code(s->ctx, SL_E_POSITION_LOST);
    }
    if (have && s->do_snapshot) {
        /* A snapshot again while the slot still holds the stored position: keep the slot, read the tables
         * in a transaction of their own and stream from the stored position. What happened between that
         * position and the new snapshot arrives again (at least once), deletes included, so rows that an
         * interrupted snapshot sent and that are gone since get their delete event. */
        s->keep_slot = *slot_exists && *slot_flush <= stored;
        if (!s->keep_slot && unfinished && mode != SNAP_WHEN_NEEDED && mode != SNAP_ALWAYS) {
            snprintf(errstr, errsz, "slot.name: replication slot '%s' %s the position where an unfinished snapshot "
                     "started (lsn %X/%X, slot %X/%X): rows it sent and that were deleted since would get no delete "
                     "event; set snapshot.mode=when_needed to take a new snapshot anyway, or reset offsets with "
                     "'sluice offsets reset'", s->cf->slot_name, !*slot_exists ? "no longer exists at" : "is ahead of",
                     (unsigned)(stored >> 32), (unsigned)stored, (unsigned)(*slot_flush >> 32), (unsigned)*slot_flush);
            return sl_ctx_error_code(s->ctx, SL_E_POSITION_LOST);
        }
        if (!s->keep_slot && unfinished)
            SL_WARN("pg", "slot %s %s the position where an unfinished snapshot started: taking a new snapshot from a "
                    "new slot; rows that snapshot sent and that were deleted since get no delete event "
                    "(snapshot.mode=%s)", s->cf->slot_name, !*slot_exists ? "no longer exists at" : "is ahead of",
                    mode == SNAP_ALWAYS ? "always" : "when_needed");
    }
    if (have && !s->do_snapshot) {
        const char *problem = !*slot_exists ? "does not exist" : *slot_flush > stored ? "is ahead of" : NULL;
        if (problem && mode == SNAP_WHEN_NEEDED) {
            SL_WARN("pg", "slot %s %s the stored offset (lsn %X/%X): taking a new snapshot (snapshot.mode=when_needed)",
                    s->cf->slot_name, problem, (unsigned)(stored >> 32), (unsigned)stored);
            s->do_snapshot = true;
        } else if (problem) {
            snprintf(errstr, errsz, "slot.name: replication slot '%s' %s the stored offset (lsn %X/%X, slot %X/%X): "
                     "changes may be lost; set snapshot.mode=when_needed to re-snapshot, or reset offsets with "
                     "'sluice offsets reset'", s->cf->slot_name, !*slot_exists ? "does not exist, unlike" : problem,
                     (unsigned)(stored >> 32), (unsigned)stored, (unsigned)(*slot_flush >> 32), (unsigned)*slot_flush);
            return sl_ctx_error_code(s->ctx, SL_E_POSITION_LOST);
        }
    }
    return 0;
}

static int create_slot(pg_source *s, bool exists, char *errstr, size_t errsz) {
    char q[256];
    if (exists) {
        /* A new snapshot needs a new slot: its exported snapshot is the join point. */
        snprintf(q, sizeof q, "DROP_REPLICATION_SLOT \"%s\" WAIT", s->cf->slot_name);
        if (exec_simple(s->repl, "dropping the old slot for a new snapshot", q, errstr, errsz) < 0) return -1;
    }
    snprintf(q, sizeof q, "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput (SNAPSHOT '%s')", s->cf->slot_name,
             s->do_snapshot ? "export" : "nothing");
    PGresult *r = pg_query(s->repl, "creating the replication slot", q, 0, NULL, errstr, errsz);
    if (!r) return -1;
    s->start_lsn = pg_parse_lsn(PQgetvalue(r, 0, 1));
    if (s->do_snapshot) s->snapshot_name = sl_strdup(PQgetvalue(r, 0, 2));
    PQclear(r);
    s->created_slot = true;
    SL_INFO("pg", "created slot=%s consistent_point=%X/%X", s->cf->slot_name, (unsigned)(s->start_lsn >> 32),
            (unsigned)s->start_lsn);
    return 0;
}

static void pg_close(void *src);

static int pg_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    pg_conf *cf = settings;
    pg_source *s = sl_calloc(1, sizeof *s);
    s->cf = cf;
    s->ctx = ctx;
    s->batch = sl_batch_new();
    *out = s;
    char part[512];
    sl_buf pb;
    sl_buf_init(&pb);
    sl_buf_puts(&pb, "{\"server\":");
    sl_buf_put_json_str(&pb, cf->topic_prefix, strlen(cf->topic_prefix));
    sl_buf_putc(&pb, '}');
    snprintf(part, sizeof part, "%s", sl_buf_cstr(&pb));
    sl_buf_free(&pb);
    sl_ctx_set_partition(ctx, part);
    sl_ctxhdr_init(&s->ctxhdr, cf->topic_prefix, "postgresql");

    if (pg_setup_filters(s, errstr, errsz) < 0) return sl_ctx_error_code(ctx, SL_E_CONFIG);

    /* Unreachable: SL_RETRY, which the runtime retries on a reopen (and fails on at the first start). */
    if (!(s->sql = pg_connect(cf, false, 10, errstr, errsz))) return sl_ctx_error_code(ctx, SL_E_CONNECT);
    PGresult *r = pg_query(s->sql, "reading wal_level", "SHOW wal_level", 0, NULL, errstr, errsz);
    if (!r) return sl_ctx_error_code(ctx, SL_E_PROTOCOL);
    if (strcmp(PQgetvalue(r, 0, 0), "logical") != 0) {
        snprintf(errstr, errsz, "wal_level is '%s' on %s:%lld; logical decoding needs wal_level=logical "
                 "(ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)",
                 PQgetvalue(r, 0, 0), cf->host, (long long)cf->port);
        PQclear(r);
        return sl_ctx_error_code(ctx, SL_E_CONFIG);
    }
    PQclear(r);
    uint32_t *oids = NULL;
    int n = 0;
    if (pg_list_tables(s, &oids, &n, errstr, errsz) < 0) return sl_ctx_error_code(ctx, SL_E_CONFIG);
    sl_free(oids);
    bool slot_exists = false;
    uint64_t slot_flush = 0;
    if (plan_start(s, &slot_exists, &slot_flush, errstr, errsz) != 0) return -1; /* it named the kind */
    if (!s->do_snapshot && !s->stream) {
        SL_INFO("pg", "snapshot.mode=initial_only and the snapshot is complete: nothing to do");
        return 0;
    }
    if (!(s->repl = pg_connect(cf, true, 10, errstr, errsz))) return sl_ctx_error_code(ctx, SL_E_CONNECT);
    if (ensure_publication(s, errstr, errsz) < 0) goto undo;
    if ((s->do_snapshot && !s->keep_slot) || !slot_exists) {
        if (create_slot(s, slot_exists, errstr, errsz) < 0) goto undo;
    } else if (!sl_ctx_stored_offset(ctx)) {
        s->start_lsn = slot_flush; /* no_data with an existing slot: go on from where the slot is */
    }
    s->last_commit_lsn = s->offset_lsn = s->start_lsn;
    s->seq_commit_lsn = sl_ctx_stored_offset(ctx) ? s->start_lsn : 0; /* PostgresOffsetContext.initialContext */
    if (pg_isnap_resume(s, sl_ctx_stored_offset(ctx), errstr, errsz) < 0) {
        sl_ctx_error_code(ctx, SL_E_CONFIG);
        goto undo;
    }
    return 0;
undo: {
    /* Leave nothing behind that this failed start created. */
    char q[256], e2[256];
    if (s->created_slot) {
        snprintf(q, sizeof q, "DROP_REPLICATION_SLOT \"%s\"", cf->slot_name);
        exec_simple(s->repl, "drop slot", q, e2, sizeof e2);
        s->created_slot = false;
    }
    if (s->created_pub) {
        char *pub = PQescapeIdentifier(s->sql, cf->publication, strlen(cf->publication));
        snprintf(q, sizeof q, "DROP PUBLICATION IF EXISTS %s", pub);
        PQfreemem(pub);
        exec_simple(s->sql, "drop publication", q, e2, sizeof e2);
    }
    return sl_ctx_error_code(ctx, SL_E_CONFIG); /* a publication or slot it may not create, or has not */
}
}

/* ---- streaming ---- */

static void put_be64(char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) p[i] = (char)(v & 0xff), v >>= 8;
}

static uint64_t get_be64(const char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | (unsigned char)p[i];
    return v;
}

static int send_status(pg_source *s, bool reply) {
    uint64_t lsn = sl_ctx_committed_seq(s->ctx);
    char msg[34];
    msg[0] = 'r';
    put_be64(msg + 1, lsn);
    put_be64(msg + 9, lsn);
    put_be64(msg + 17, lsn);
    put_be64(msg + 25, (uint64_t)(sl_wall_us() - SL_PG_EPOCH_OFFSET_US));
    msg[33] = reply ? 1 : 0;
    if (PQputCopyData(s->repl, msg, sizeof msg) <= 0 || PQflush(s->repl) < 0) {
        sl_ctx_retry(s->ctx, "sending status to PostgreSQL: %s", PQerrorMessage(s->repl));
        return SL_RETRY;
    }
    s->last_status_ms = sl_mono_ms();
    s->reported_lsn = lsn;
    SL_DEBUG("pg", "status update flush=%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
    return 0;
}

/* True when the server ended the SQL connection: a fast shutdown terminates the regular backends (57P01)
 * before it waits for the walsenders. The connection is idle while streaming, so anything to read on it is
 * the server going away (or a ParameterStatus / notice, which libpq consumes). */
static bool sql_connection_ended(pg_source *s) {
    struct pollfd p = {PQsocket(s->sql), POLLIN, 0};
    if (p.fd < 0) return true;
    if (poll(&p, 1, 0) <= 0) return false;
    return !PQconsumeInput(s->sql) || PQstatus(s->sql) == CONNECTION_BAD;
}

/*
 * Source thread, while streaming: between messages and while waiting for room in the queue.
 *
 * A status update when one is due, however busy a catch-up keeps the loop: the walsender ends a connection
 * it has not heard from for wal_sender_timeout, and its keepalive asking for an answer would wait behind
 * everything already in flight (and cannot be read at all while the queue is full).
 *
 * A look at the SQL connection: on a fast shutdown PostgreSQL terminates it, then waits until each logical
 * walsender has sent all WAL and seen it confirmed, which during a catch-up lasts until sluice has read and
 * committed the whole backlog. Ending the stream then lets the server stop at once; what was not confirmed
 * comes again after the reconnect. Returns 0 or SL_RETRY.
 */
static int tend(pg_source *s) {
    int64_t now = sl_mono_ms();
    uint64_t committed = sl_ctx_committed_seq(s->ctx);
    if (((committed != s->reported_lsn && now - s->last_status_ms >= 1000) ||
         now - s->last_status_ms >= s->cf->status_interval_ms) &&
        send_status(s, false) != 0)
        return SL_RETRY;
    if (now - s->last_sql_check_ms < 100) return 0;
    s->last_sql_check_ms = now;
    if (!sql_connection_ended(s)) return 0;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(s->sql));
    msg[strcspn(msg, "\n")] = 0;
    sl_ctx_retry(s->ctx, "PostgreSQL ended the SQL connection (%s): it is shutting down, or the connection was "
                 "terminated; ending replication so that the server does not wait for the rest of the stream", msg);
    return SL_RETRY;
}

/* Streaming: hands the batch on, tending the connection while the queue is full. 0, -1 (stopping) or
 * SL_RETRY. */
int pg_stream_emit(pg_source *s) {
    while (!sl_ctx_wait_room(s->ctx, 100)) {
        int rc = tend(s);
        if (rc != 0) return rc;
    }
    return pg_emit_batch(s) < 0 ? -1 : 0;
}

static pg_rel *find_rel(pg_source *s, uint32_t relid) {
    for (int i = 0; i < s->nrels; i++)
        if (s->rels[i].relid == relid) return &s->rels[i];
    return NULL;
}

static int on_relation(pg_source *s, const sl_pgo_msg *m, char *errstr, size_t errsz) {
    pg_rel *rel = find_rel(s, m->u.relation.relid);
    if (!rel) {
        if (s->nrels == s->rels_cap) {
            s->rels_cap = s->rels_cap ? s->rels_cap * 2 : 16;
            s->rels = sl_realloc(s->rels, (size_t)s->rels_cap * sizeof *s->rels);
        }
        rel = &s->rels[s->nrels++];
        memset(rel, 0, sizeof *rel);
        rel->relid = m->u.relation.relid;
    }
    sl_table_unref(rel->table);
    sl_free(rel->map);
    rel->table = NULL, rel->map = NULL;
    char fq[512];
    snprintf(fq, sizeof fq, "%s.%s", m->u.relation.nspname, m->u.relation.relname);
    rel->captured = sl_filter_match(&s->tables, fq);
    rel->nsrc = m->u.relation.ncols;
    const sl_core_conf *core = sl_ctx_core(s->ctx);
    rel->signal[0] = rel->signal[1] = rel->signal[2] = -1;
    if (core->sig_collection && strcmp(core->sig_collection, fq) == 0 && sl_list_has(core->sig_channels, "source")) {
        static const char *const names[] = {"id", "type", "data"};
        for (int i = 0; i < m->u.relation.ncols; i++)
            for (int k = 0; k < 3; k++)
                if (strcmp(m->u.relation.cols[i].name, names[k]) == 0) rel->signal[k] = i;
        if (rel->signal[1] < 0)
            SL_ERR("pg", "signal table %s has no column 'type' (it needs id, type and data): its rows are no signals", fq);
    }
    if (!rel->captured) return 0;
    rel->table = pg_describe(s, rel->relid, m->u.relation.cols, m->u.relation.ncols, &rel->map, errstr, errsz);
    if (!rel->table) return -1;
    /* The stream's names win over the catalog's (a rename may be ahead in the catalog). */
    sl_free(rel->table->schema), sl_free(rel->table->name), sl_free(rel->table->topic);
    rel->table->schema = sl_strdup(m->u.relation.nspname);
    rel->table->name = sl_strdup(m->u.relation.relname);
    sl_buf tb;
    sl_buf_init(&tb);
    sl_buf_printf(&tb, "%s.%s.%s", s->cf->topic_prefix, m->u.relation.nspname, m->u.relation.relname);
    rel->table->topic = sl_strdup(sl_buf_cstr(&tb));
    sl_buf_free(&tb);
    rel->table->replident = m->u.relation.replident;
    SL_DEBUG("pg", "relation %s columns=%d captured=%d", fq, rel->nsrc, rel->table->ncols);
    return 0;
}

static sl_cell *map_cells(pg_source *s, pg_rel *rel, const sl_pgo_tuple *t) {
    int n = rel->table->ncols;
    sl_cell *cells = sl_arena_alloc(&s->batch->arena, sizeof(sl_cell) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) cells[i] = (sl_cell){NULL, 0, SL_CELL_NULL};
    for (int i = 0; i < t->ncols && i < rel->nsrc; i++)
        if (rel->map[i] >= 0) cells[rel->map[i]] = t->cells[i];
    return cells;
}

static bool skipped(pg_source *s, char op) {
    char o[2] = {op, 0};
    return sl_list_has(s->cf->skipped_ops, o);
}

static void set_txn_fields(pg_source *s, sl_record *r, uint64_t lsn) {
    r->pos.lsn = lsn;
    r->pos.final_lsn = s->final_lsn;
    r->pos.last_commit_lsn = s->seq_commit_lsn;
    r->ts_us = s->txn_ts_us;
    r->txid = s->txid;
    if (s->origin) { /* source.origin / origin_lsn: strings live in the batch's arena */
        if (s->origin_batch != s->batch)
            s->origin_in_batch = sl_arena_strndup(&s->batch->arena, s->origin, strlen(s->origin)),
            s->origin_batch = s->batch;
        r->pos.origin = s->origin_in_batch;
        r->pos.origin_lsn = s->origin_lsn;
    }
}

/*
 * Debezium's DataCollectionId of logical decoding messages in the
 * transaction counts: LogicalDecodingMessageId.identifier() (its toString,
 * which Debezium uses, is Java's identity string: not reproducible).
 */
#define MESSAGE_COLLECTION "LOGICAL_DECODING_MESSAGE"

/* Adds a change (t set) or a transactional message (t NULL) of the open transaction. */
static sl_record *add_record(pg_source *s, sl_table *t, sl_op op, uint64_t lsn) {
    uint64_t coll_order = 0;
    if (s->cf->provide_tx && s->in_txn) {
        sl_record *begin = sl_txmon_event_coll(&s->txmon, s->batch, t, t ? NULL : MESSAGE_COLLECTION);
        if (begin) set_txn_fields(s, begin, s->begin_lsn);
        coll_order = s->txmon.coll_order;
    }
    sl_record *r = sl_batch_add(s->batch, t);
    r->op = op;
    set_txn_fields(s, r, lsn);
    r->tx_order = ++s->txn_order;
    r->tx_coll_order = coll_order;
    return r;
}

/*
 * Change events (snapshot reads included) carry Debezium's context headers
 * after their own (EventDispatcher.getExtendedHeaders; messages and side
 * records do not). One array per batch, in its arena.
 */
void pg_context_headers(pg_source *s, sl_record *r) {
    if (s->cf->extended_headers) sl_ctxhdr_add(&s->ctxhdr, s->batch, r);
}

static int on_change(pg_source *s, const sl_pgo_msg *m, uint64_t lsn, char *errstr, size_t errsz) {
    pg_rel *rel = find_rel(s, m->u.change.relid);
    if (!rel) {
        snprintf(errstr, errsz, "pgoutput: change for relation %u before its Relation message", m->u.change.relid);
        return -1;
    }
    if (m->kind == 'I' && rel->signal[1] >= 0) { /* a signal (source channel) */
        const sl_pgo_tuple *t = &m->u.change.new_;
        char *v[3] = {NULL, NULL, NULL};
        for (int k = 0; k < 3; k++)
            if (rel->signal[k] >= 0 && rel->signal[k] < t->ncols && !(t->cells[rel->signal[k]].flags & SL_CELL_NULL))
                v[k] = sl_strndup(t->cells[rel->signal[k]].data, t->cells[rel->signal[k]].len);
        pg_isnap_signal_row(s, v[0], v[1], v[2]);
        for (int k = 0; k < 3; k++) sl_free(v[k]);
    }
    if (!rel->captured) return 0;
    sl_op op = m->kind == 'I' ? SL_OP_CREATE : m->kind == 'U' ? SL_OP_UPDATE : SL_OP_DELETE;
    if (skipped(s, (char)op)) return 0;
    sl_cell *after = m->kind != 'D' ? map_cells(s, rel, &m->u.change.new_) : NULL;
    sl_cell *before = m->u.change.old_kind ? map_cells(s, rel, &m->u.change.old) : NULL;
    if (s->isnap) pg_isnap_on_change(s, rel->table, before, after);
    if (op == SL_OP_UPDATE && before && sl_cells_key_changed(rel->table, before, after)) {
        /* As Debezium: a key change is a delete of the old key (then its tombstone) and a create of the new. */
        sl_record *d = add_record(s, rel->table, SL_OP_DELETE, lsn);
        d->before = before;
        sl_dbz_key_header(sl_ctx_dbz(s->ctx), d, "__debezium.newkey", after, &s->batch->arena);
        pg_context_headers(s, d);
        sl_record *c = add_record(s, rel->table, SL_OP_CREATE, lsn);
        c->after = after;
        sl_dbz_key_header(sl_ctx_dbz(s->ctx), c, "__debezium.oldkey", before, &s->batch->arena);
        pg_context_headers(s, c);
        return 0;
    }
    sl_record *r = add_record(s, rel->table, op, lsn);
    r->after = after;
    r->before = before;
    pg_context_headers(s, r);
    return 0;
}

static void on_truncate(pg_source *s, const sl_pgo_msg *m, uint64_t lsn) {
    if (skipped(s, 't')) return;
    for (int i = 0; i < m->u.truncate.nrels; i++) {
        pg_rel *rel = find_rel(s, m->u.truncate.relids[i]);
        if (rel && rel->captured && s->isnap) pg_isnap_on_truncate(s, rel->table);
        if (rel && rel->captured) pg_context_headers(s, add_record(s, rel->table, SL_OP_TRUNCATE, lsn));
    }
}

static void on_message(pg_source *s, const sl_pgo_msg *m, uint64_t lsn) {
    if (!(m->u.message.flags & 1) &&
        pg_isnap_on_message(s, m->u.message.prefix, m->u.message.content, m->u.message.len, lsn))
        return; /* an incremental snapshot's watermark */
    if (!sl_filter_match(&s->msg_prefixes, m->u.message.prefix)) return;
    bool tx = m->u.message.flags & 1;
    sl_record *r;
    if (tx) {
        r = add_record(s, NULL, SL_OP_MESSAGE, lsn);
    } else { /* outside any transaction: no txId, no transaction block; Debezium commits its LSN first */
        s->seq_commit_lsn = lsn;
        r = sl_batch_add(s->batch, NULL);
        r->op = SL_OP_MESSAGE;
        r->pos.lsn = lsn;
        r->pos.last_commit_lsn = s->seq_commit_lsn;
        r->ts_us = sl_wall_us();
    }
    r->msg_prefix = m->u.message.prefix;
    r->msg_content = m->u.message.content;
    r->msg_len = m->u.message.len;
    r->msg_transactional = tx;
    r->pos.commit_lsn = tx ? 0 : m->u.message.lsn;
}

static void on_commit(pg_source *s, const sl_pgo_msg *m) {
    sl_record *end = sl_txmon_commit(&s->txmon, s->batch);
    if (end) set_txn_fields(s, end, m->u.commit.end_lsn); /* the COMMIT message's WAL position */
    /* Records of the transaction learn their commit LSN (Debezium's lsn_commit). */
    for (int i = s->batch->n - 1; i >= 0 && s->batch->recs[i].txid == s->txid && !s->batch->recs[i].pos.commit_lsn; i--)
        s->batch->recs[i].pos.commit_lsn = m->u.commit.end_lsn;
    set_offset(s, m->u.commit.end_lsn, m->u.commit.end_lsn, s->txid, s->txn_ts_us);
    s->offset_lsn = s->last_commit_lsn = s->seq_commit_lsn = m->u.commit.end_lsn;
    s->in_txn = false;
    s->recent_xids[s->recent_at++ % (sizeof s->recent_xids / sizeof *s->recent_xids)] = s->txid;
}

/*
 * Decodes one XLogData message (buf of n bytes from PQgetCopyData, which this takes over): its
 * payload is copied into the current batch's arena, or, from PG_ADOPT_BYTES on, the buffer itself
 * goes to the batch (sl_arena_adopt), so a very large value is never in memory twice on this side
 * of libpq.
 */
static int on_xlogdata(pg_source *s, char *buf, size_t n) {
    char errstr[512];
    uint64_t wal_start = get_be64(buf + 1);
    size_t len = n - 25;
    int rc;
    if (sl_ctx_batch_full(s->ctx, s->batch) && (rc = pg_stream_emit(s)) != 0) {
        PQfreemem(buf);
        return rc;
    }
    const char *copy = pg_keep_message(s, buf, n, buf + 25, len);
    sl_pgo_msg m;
    if (sl_pgo_decode(copy, len, false, &m, &s->scratch, errstr, sizeof errstr) < 0) {
        return sl_ctx_raisef(s->ctx, SL_E_PROTOCOL, "at LSN %X/%X: %s", (unsigned)(wal_start >> 32),
                             (unsigned)wal_start, errstr);
    }
    switch (m.kind) {
    case 'B':
        sl_txmon_reset(&s->txmon); /* a transaction cut by a lost connection is sent again whole */
        s->in_txn = true;
        s->txid = m.u.begin.xid;
        s->txn_ts_us = m.u.begin.commit_ts + SL_PG_EPOCH_OFFSET_US;
        s->txn_order = 0;
        s->begin_lsn = wal_start;
        s->final_lsn = m.u.begin.final_lsn;
        sl_free(s->origin), s->origin = NULL; /* PostgresOffsetContext.clearOrigin() */
        s->origin_skipped = false;
        if (s->cf->provide_tx) set_txn_fields(s, sl_txmon_begin(&s->txmon, s->batch), wal_start);
        break;
    case 'O':
        sl_free(s->origin);
        s->origin = sl_strdup(m.u.origin.name ? m.u.origin.name : "");
        s->origin_lsn = m.u.origin.lsn;
        s->origin_batch = NULL;
        s->origin_skipped = s->cf->skipped_origins && *s->cf->skipped_origins &&
                            sl_list_has(s->cf->skipped_origins, s->origin);
        break;
    case 'C': on_commit(s, &m); break;
    case 'R':
        if (on_relation(s, &m, errstr, sizeof errstr) < 0) /* the catalog query's connection lost, or its answer */
            return sl_ctx_raisef(s->ctx, PQstatus(s->sql) == CONNECTION_BAD ? SL_E_CONNECT : SL_E_PROTOCOL, "%s",
                                 errstr);
        break;
    case 'I':
    case 'U':
    case 'D':
        if (s->origin_skipped) break; /* skipped.origins */
        if (on_change(s, &m, wal_start, errstr, sizeof errstr) < 0)
            return sl_ctx_raisef(s->ctx, SL_E_PROTOCOL, "%s", errstr);
        break;
    case 'T':
        if (!s->origin_skipped) on_truncate(s, &m, wal_start);
        break;
    case 'M':
        if (!s->origin_skipped || !(m.u.message.flags & 1)) on_message(s, &m, wal_start);
        break;
    default: break; /* Type: nothing to emit (types are resolved from the catalog) */
    }
    if (wal_start > s->received_lsn) s->received_lsn = wal_start;
    return 0;
}

bool pg_recently_committed(const pg_source *s, uint32_t xid) {
    size_t n = sizeof s->recent_xids / sizeof *s->recent_xids;
    for (size_t i = 0; i < n && i < s->recent_at; i++)
        if (s->recent_xids[i] == xid) return true;
    return false;
}

/* Outside a transaction, everything up to the server's WAL end has been seen: commit it. 0, -1 or SL_RETRY. */
static int advance_idle(pg_source *s, uint64_t wal_end) {
    if (s->in_txn || wal_end <= s->offset_lsn) return 0;
    set_offset(s, wal_end, s->last_commit_lsn, s->txid, sl_wall_us());
    s->offset_lsn = wal_end;
    return pg_stream_emit(s);
}

static void repl_error(pg_source *s, const PGresult *r, sl_err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* e: what the replication connection's error r says. The connection or the server going away (SQLSTATE 08,
 * 57) and a slot another walsender still holds (55006) pass: SL_E_CONNECT; so does the server's shortage of
 * resources (53: SL_E_RESOURCE, retriable here). A missing slot (42704) is a lost position, refused privileges
 * (28, 42501) are auth, anything else the server says is SL_E_PROTOCOL. */
static void repl_error(pg_source *s, const PGresult *r, sl_err *e, const char *fmt, ...) {
    const char *state = PQstatus(s->repl) == CONNECTION_BAD || !r ? NULL : PQresultErrorField(r, PG_DIAG_SQLSTATE);
    sl_err_code code = !state /* no server error: a client-side connection failure */ ? SL_E_CONNECT
                       : !strncmp(state, "08", 2) || !strncmp(state, "57", 2) || !strcmp(state, "55006") ? SL_E_CONNECT
                       : !strncmp(state, "53", 2) ? SL_E_RESOURCE
                       : !strcmp(state, "42704") ? SL_E_POSITION_LOST
                       : !strncmp(state, "28", 2) || !strcmp(state, "42501") ? SL_E_AUTH
                                                                            : SL_E_PROTOCOL;
    va_list ap;
    va_start(ap, fmt);
    sl_err_vset(e, code, fmt, ap);
    va_end(ap);
    if (code == SL_E_RESOURCE) e->retriable = true;
}

static int start_replication(pg_source *s) {
    char q[512], err[512];
    char *pub = PQescapeLiteral(s->repl, s->cf->publication, strlen(s->cf->publication));
    snprintf(q, sizeof q,
             "START_REPLICATION SLOT \"%s\" LOGICAL %X/%X (proto_version '1', publication_names %s, messages 'true')",
             s->cf->slot_name, (unsigned)(s->start_lsn >> 32), (unsigned)s->start_lsn, pub);
    PQfreemem(pub);
    PGresult *r = PQexec(s->repl, q);
    if (PQresultStatus(r) != PGRES_COPY_BOTH) {
        snprintf(err, sizeof err, "%s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = 0;
        sl_err e;
        repl_error(s, r, &e, "START_REPLICATION on slot %s: %s", s->cf->slot_name, err);
        PQclear(r);
        return sl_ctx_raise(s->ctx, &e);
    }
    PQclear(r);
    sl_ctx_set_source_state(s->ctx, SL_SRC_STREAMING);
    SL_INFO("pg", "streaming slot=%s from=%X/%X", s->cf->slot_name, (unsigned)(s->start_lsn >> 32),
            (unsigned)s->start_lsn);
    return 0;
}

static int heartbeat(pg_source *s) {
    if (s->cf->heartbeat_query && *s->cf->heartbeat_query) {
        char err[512];
        PGresult *r = pg_query(s->sql, "heartbeat.action.query", s->cf->heartbeat_query, 0, NULL, err, sizeof err);
        if (!r) SL_WARN("pg", "%s", err);
        PQclear(r);
    }
    s->last_heartbeat_ms = sl_mono_ms();
    return send_status(s, true); /* the keepalive answer carries the server's WAL end */
}

/* Waits for the socket or the next timer (status update, heartbeat, partial batch). */
static void wait_socket(pg_source *s) {
    int fd = PQsocket(s->repl);
    fd_set rf;
    FD_ZERO(&rf);
    FD_SET(fd, &rf);
    struct timeval tv = {0, 100000};
    select(fd + 1, &rf, NULL, NULL, &tv);
}

/* Ends the replication stream from this side (CopyDone) and reads what the server sends until it has
 * ended it too, so that the connection is ready for a command. */
static void end_copy(pg_source *s) {
    if (PQputCopyEnd(s->repl, NULL) <= 0 || PQflush(s->repl) != 0) return;
    char *buf;
    while (PQgetCopyData(s->repl, &buf, 0) > 0) PQfreemem(buf);
    PGresult *r;
    while ((r = PQgetResult(s->repl))) PQclear(r);
}

/* The server ended the COPY: a CopyDone is answered with one (the walsender then leaves the stream and,
 * when it shuts down, exits), then its final result says why. */
static int copy_ended(pg_source *s) {
    PGresult *r = PQgetResult(s->repl);
    if (PQresultStatus(r) == PGRES_COPY_IN) {
        PQclear(r);
        r = PQputCopyEnd(s->repl, NULL) > 0 && PQflush(s->repl) == 0 ? PQgetResult(s->repl) : NULL;
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s", r && PQresultStatus(r) != PGRES_COMMAND_OK ? PQresultErrorMessage(r)
                                                                              : "end of the stream (shutting down?)");
    msg[strcspn(msg, "\n")] = 0;
    sl_err e;
    repl_error(s, r, &e, "PostgreSQL ended replication: %s", msg);
    PQclear(r);
    while ((r = PQgetResult(s->repl))) PQclear(r);
    return sl_ctx_raise(s->ctx, &e);
}

static int stream(pg_source *s) {
    int src = start_replication(s);
    if (src != 0) return src;
    const sl_core_conf *core = sl_ctx_core(s->ctx);
    s->last_status_ms = s->last_heartbeat_ms = s->last_sql_check_ms = sl_mono_ms();
    int64_t batch_started = 0;
    int rc = 0;
    while (!sl_ctx_stopping(s->ctx)) {
        if ((rc = tend(s)) != 0) return rc;
        if ((rc = pg_isnap_step(s)) != 0) return rc;
        char *buf = NULL;
        int n = PQgetCopyData(s->repl, &buf, 1);
        if (n == 0) {
            if (!PQconsumeInput(s->repl)) {
                sl_ctx_retry(s->ctx, "replication connection lost: %s", PQerrorMessage(s->repl));
                return SL_RETRY;
            }
            if ((n = PQgetCopyData(s->repl, &buf, 1)) == 0) {
                /* Idle: hand on what we have, keep the timers, wait. */
                if ((s->batch->n || s->batch->offset) && (rc = pg_stream_emit(s)) != 0) break;
                int64_t now = sl_mono_ms();
                if (s->cf->heartbeat_ms > 0 && now - s->last_heartbeat_ms >= s->cf->heartbeat_ms &&
                    heartbeat(s) != 0)
                    return SL_RETRY;
                /* Catching up to a position: ask for the server's WAL end (a keepalive) twice a second. */
                if (s->stream_until && now - s->last_status_ms >= 500 && send_status(s, true) != 0) return SL_RETRY;
                wait_socket(s);
                continue;
            }
        }
        if (n == -1) return copy_ended(s);
        if (n < 0) {
            sl_ctx_retry(s->ctx, "replication stream error: %s", PQerrorMessage(s->repl));
            return SL_RETRY;
        }
        if (buf[0] == 'w' && n >= 25) {
            if (s->batch->n == 0) batch_started = sl_mono_ms();
            rc = on_xlogdata(s, buf, (size_t)n); /* takes buf */
            if (rc == SL_RETRY) return rc;
            if (rc < 0) return sl_ctx_stopping(s->ctx) ? 0 : -1;
            /* Handed on at a transaction's end when the sink has nothing queued (it waits, or is about to), else
             * when the socket is idle or the batch is poll.interval.ms old: a steady stream of small
             * transactions never leaves the socket idle, and its records would wait for the timer. */
            if (s->batch->n && ((!s->in_txn && sl_ctx_queued_records(s->ctx) == 0) ||
                                sl_mono_ms() - batch_started >= core->poll_interval_ms) &&
                (rc = pg_stream_emit(s)) != 0)
                break;
        } else if (buf[0] == 'k' && n >= 18) {
            uint64_t wal_end = get_be64(buf + 1);
            bool reply = buf[17] != 0;
            PQfreemem(buf);
            /* The slot's lag as the server sees it: WAL written past what sluice has committed. */
            uint64_t committed = sl_ctx_committed_seq(s->ctx);
            sl_ctx_source_lag(s->ctx, -1, committed && wal_end > committed ? (int64_t)(wal_end - committed) : 0);
            if ((rc = advance_idle(s, wal_end)) != 0) break;
            if (reply && send_status(s, false) != 0) return SL_RETRY;
        } else {
            PQfreemem(buf);
        }
        if (s->stream_until && !s->in_txn && s->offset_lsn >= s->stream_until) {
            SL_INFO("pg", "streamed up to %X/%X, where the snapshot was taken", (unsigned)(s->stream_until >> 32),
                    (unsigned)s->stream_until);
            char off[256];
            pg_offset_json(off, sizeof off, s->offset_lsn, s->last_commit_lsn, s->txid, sl_wall_us(), false);
            sl_batch_set_offset(s->batch, off, s->offset_lsn);
            if (pg_emit_durable(s) < 0) return 0;
            end_copy(s); /* the connection takes commands again (DROP_REPLICATION_SLOT) */
            return 1;
        }
    }
    if (rc == SL_RETRY) return rc;
    pg_emit_batch(s); /* what was read is handed on; a partial transaction carries no offset */
    return 0;
}


/*
 * libpq keeps a connection's input buffer as large as the largest message it received, for the
 * connection's life: after a snapshot that read a very large row, the regular connection is opened
 * anew so that the buffer is not held beside the stream's own. (The replication connection's
 * buffer stays as large as the largest change; see the memory notes in docs/ARCHITECTURE.md.)
 */
static void release_copy_buffer(pg_source *s) {
    if (s->snapshot_max_row < PG_RECONNECT_AFTER_BYTES) return;
    char err[512];
    PGconn *fresh = pg_connect(s->cf, false, 10, err, sizeof err);
    if (!fresh) { /* the old connection still serves */
        SL_WARN("pg", "%s", err);
        return;
    }
    PQfinish(s->sql);
    s->sql = fresh;
    s->snapshot_max_row = 0;
    SL_DEBUG("pg", "regular connection opened anew after the snapshot to release libpq's input buffer");
}

static int pg_run(void *src) {
    pg_source *s = src;
    if (!s->repl) return 0; /* initial_only with nothing to do */
    if (s->do_snapshot) {
        int rc = pg_snapshot_run(s);
        if (rc != 0) return rc;
        if (sl_ctx_stopping(s->ctx)) return 0;
        release_copy_buffer(s);
    }
    if (s->stream_until) { /* initial_only after an unfinished snapshot: the changes since it started first */
        int rc = stream(s);
        if (rc != 1) return rc;
        s->stream = false;
    }
    if (!s->stream) {
        /* Nothing will read this slot again: do not let it hold WAL. */
        char q[256], err[256];
        snprintf(q, sizeof q, "DROP_REPLICATION_SLOT \"%s\"", s->cf->slot_name);
        if (exec_simple(s->repl, "dropping the slot after initial_only", q, err, sizeof err) < 0)
            SL_WARN("pg", "%s", err);
        SL_INFO("pg", "snapshot.mode=initial_only: snapshot done, slot %s dropped, stopping", s->cf->slot_name);
        return 0;
    }
    return stream(s);
}

static void pg_close(void *src) {
    pg_source *s = src;
    if (!s) return;
    pg_isnap_free(s);
    sl_txmon_free(&s->txmon);
    sl_free(s->origin);
    if (s->repl && PQstatus(s->repl) == CONNECTION_OK && PQtransactionStatus(s->repl) == PQTRANS_ACTIVE)
        send_status(s, false); /* report what the runtime committed at shutdown */
    /* A source closed to reconnect, or while paused, keeps its slot, whatever slot.drop.on.stop says. */
    bool keep = sl_ctx_source_state(s->ctx) == SL_SRC_RECONNECTING || sl_ctx_paused(s->ctx);
    if (s->cf->slot_drop_on_stop && s->sql && !keep) {
        PQfinish(s->repl);
        s->repl = NULL;
        char q[256], err[256];
        snprintf(q, sizeof q, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '%s'",
                 s->cf->slot_name);
        for (int i = 0; i < 50; i++) {
            PGresult *r = pg_query(s->sql, "dropping the slot (slot.drop.on.stop)", q, 0, NULL, err, sizeof err);
            if (r) {
                PQclear(r);
                SL_INFO("pg", "dropped slot=%s", s->cf->slot_name);
                break;
            }
            sl_sleep_ms(100, NULL); /* the walsender may still hold the slot for a moment */
        }
    }
    PQfinish(s->repl);
    PQfinish(s->sql);
    for (int i = 0; i < s->nrels; i++) sl_table_unref(s->rels[i].table), sl_free(s->rels[i].map);
    sl_free(s->rels);
    sl_pgo_scratch_free(&s->scratch);
    sl_batch_destroy(s->batch);
    sl_filter_free(&s->tables);
    sl_filter_free(&s->columns);
    sl_filter_free(&s->msg_prefixes);
    sl_free(s->snapshot_name);
    sl_free(s);
}

/* retained: the WAL the slot holds back, from its restart_lsn to the server's WAL end (on a standby, what it
 * replayed). A short connection of its own: the connector may be stopped. */
static int pg_retained(void *settings, sl_source_retained *out, char *errstr, size_t errsz) {
    pg_conf *cf = settings;
    PGconn *c = pg_connect(cf, false, 3, errstr, errsz);
    if (!c) return -1;
    const char *params[] = {cf->slot_name};
    PGresult *r = pg_query(c, "reading the WAL the slot retains",
                           "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE "
                           "pg_current_wal_lsn() END) - restart_lsn FROM pg_replication_slots WHERE slot_name = $1",
                           1, params, errstr, errsz);
    int rc = !r ? -1 : PQntuples(r) != 1 || PQgetisnull(r, 0, 0) ? 1 : 0;
    if (rc == 0) {
        snprintf(out->slot, sizeof out->slot, "%s", cf->slot_name);
        int64_t b = strtoll(PQgetvalue(r, 0, 0), NULL, 10); /* numeric, whole bytes */
        out->bytes = b > 0 ? b : 0;
        out->warn_bytes = cf->retained_warn;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* The encoder options of this source's events, fixed once per connector (sl_source_ops.describe). */
static void pg_encoder_opts(const void *settings, sl_dbz_opts *o) {
    const pg_conf *cf = settings;
    o->connector = "postgresql";
    o->dialect = SL_DBZ_PG;
    o->server_name = cf->topic_prefix;
    o->db = cf->dbname;
    o->decimal_mode = (sl_decimal_mode)cf->decimal_mode;
    o->time_mode = (sl_time_mode)cf->time_mode;
    o->binary_mode = (sl_binary_mode)cf->binary_mode;
    o->provide_tx = cf->provide_tx;
    o->hstore_map = cf->hstore_mode == 1;
}

const sl_source_ops sl_pg_source_ops = {
    "postgres",
    "postgresql|io.debezium.connector.postgresql.PostgresConnector",
    "PostgreSQL logical replication (pgoutput): snapshot, then streaming of every insert, update, delete, "
    "truncate and logical decoding message.",
    pg_props,
    sizeof(pg_conf),
    pg_check,
    pg_open,
    pg_run,
    pg_close,
    pg_check_offset,
    pg_retained,
    .describe = pg_encoder_opts,
    .verify_open = pg_verify_open,
    .takes_signals = true,
    .position_passed = pg_position_passed,
};
