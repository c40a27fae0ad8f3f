/* The offset store (see offsets.h): SQLite here, Kafka in offsets_kafka.c. */
#include "state/offsets.h"
#include "state/offsets_kafka.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

struct sl_offsets {
    sqlite3 *db;
    sqlite3_stmt *put;
    sl_koffsets *kafka;     /* set: every call goes to the Kafka store */
    sl_offsets_get_fn *get; /* set: the sink's target keeps them (reads only) */
    void *get_arg;
};

sl_offsets *sl_offsets_open_fn(sl_offsets_get_fn *get, void *arg) {
    sl_offsets *s = sl_calloc(1, sizeof *s);
    s->get = get;
    s->get_arg = arg;
    return s;
}

static int in_sink(char *errstr, size_t errsz) {
    snprintf(errstr, errsz, "offset store: offset.storage=target keeps the offsets in the sink's target database "
                            "(its offsets table), written with the rows: change them there");
    return -1;
}

static int fail(sl_offsets *s, const char *what, char *errstr, size_t errsz) {
    snprintf(errstr, errsz, "offset store: %s: %s", what, sqlite3_errmsg(s->db));
    return -1;
}

sl_offsets *sl_offsets_open(const char *path, char *errstr, size_t errsz) {
    sl_offsets *s = sl_calloc(1, sizeof *s);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(errstr, errsz, "offset store %s (offset.storage.file.filename): %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto err;
    }
    sqlite3_busy_timeout(s->db, 5000);
    const char *setup = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "CREATE TABLE IF NOT EXISTS offsets (connector TEXT NOT NULL, part TEXT NOT NULL,"
                        " offset TEXT NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY (connector, part));";
    char *msg = NULL;
    int rc;
    /* Two processes creating the file at once can get SQLITE_BUSY without the busy handler
       being consulted (switching to WAL): try again for a while. */
    for (int i = 0; (rc = sqlite3_exec(s->db, setup, NULL, NULL, &msg)) == SQLITE_BUSY && i < 100; i++) {
        sqlite3_free(msg);
        msg = NULL;
        sl_sleep_ms(50, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(errstr, errsz, "offset store %s (offset.storage.file.filename): %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto err;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO offsets VALUES (?1, ?2, ?3, ?4) ON CONFLICT (connector, part)"
                           " DO UPDATE SET offset = excluded.offset, updated_ms = excluded.updated_ms",
                           -1, &s->put, NULL) != SQLITE_OK) {
        fail(s, "prepare", errstr, errsz);
        goto err;
    }
    return s;
err:
    sl_offsets_close(s);
    return NULL;
}

sl_offsets *sl_offsets_open_kafka(const sl_kafka_client *kc, const sl_config *cfg, const char *topic, int partitions,
                                  int replication_factor, const char *fence_id, char *errstr, size_t errsz) {
    sl_koffsets *k = sl_koffsets_open(kc, cfg, topic, partitions, replication_factor, fence_id, errstr, errsz);
    if (!k) return NULL;
    sl_offsets *s = sl_calloc(1, sizeof *s);
    s->kafka = k;
    return s;
}

void sl_offsets_close(sl_offsets *s) {
    if (!s) return;
    sl_koffsets_close(s->kafka);
    sqlite3_finalize(s->put);
    sqlite3_close(s->db);
    sl_free(s);
}

int sl_offsets_get(sl_offsets *s, const char *connector, const char *partition, char **out, char *errstr,
                   size_t errsz) {
    if (s->kafka) return sl_koffsets_get(s->kafka, connector, partition, out, errstr, errsz);
    if (s->get) return s->get(s->get_arg, connector, partition, out, errstr, errsz);
    sqlite3_stmt *st;
    *out = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT offset FROM offsets WHERE connector = ?1 AND part = ?2", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, "read", errstr, errsz);
    sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partition, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sl_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, "read", errstr, errsz);
}

int sl_offsets_put(sl_offsets *s, const char *connector, const char *partition, const char *offset, char *errstr,
                   size_t errsz) {
    if (s->kafka) return sl_koffsets_put(s->kafka, connector, partition, offset, errstr, errsz);
    if (s->get) return in_sink(errstr, errsz);
    sqlite3_reset(s->put);
    sqlite3_bind_text(s->put, 1, connector, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->put, 2, partition, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->put, 3, offset, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->put, 4, sl_wall_us() / 1000);
    int rc = sqlite3_step(s->put);
    sqlite3_reset(s->put);
    return rc == SQLITE_DONE ? 0 : fail(s, "write", errstr, errsz);
}

int sl_offsets_remove(sl_offsets *s, const char *connector, const char *partition, char *errstr, size_t errsz) {
    if (s->kafka) return sl_koffsets_put(s->kafka, connector, partition, NULL, errstr, errsz);
    if (s->get) return in_sink(errstr, errsz);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM offsets WHERE connector = ?1 AND part = ?2", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, "delete", errstr, errsz);
    sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partition, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "delete", errstr, errsz);
}

int sl_offsets_delete(sl_offsets *s, const char *connector, int *removed, char *errstr, size_t errsz) {
    if (s->kafka) return sl_koffsets_delete(s->kafka, connector, removed, errstr, errsz);
    if (s->get) return in_sink(errstr, errsz);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM offsets WHERE connector = ?1", -1, &st, NULL) != SQLITE_OK)
        return fail(s, "delete", errstr, errsz);
    sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(s, "delete", errstr, errsz);
    if (removed) *removed = sqlite3_changes(s->db);
    return 0;
}

int sl_offsets_list(sl_offsets *s, const char *connector,
                    void (*cb)(const char *, const char *, const char *, int64_t, void *), void *arg, char *errstr,
                    size_t errsz) {
    if (s->kafka) return sl_koffsets_list(s->kafka, connector, cb, arg, errstr, errsz);
    if (s->get) return in_sink(errstr, errsz);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT connector, part, offset, updated_ms FROM offsets"
                           " WHERE ?1 IS NULL OR connector = ?1 ORDER BY connector, part",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "list", errstr, errsz);
    if (connector) sqlite3_bind_text(st, 1, connector, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3), arg);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "list", errstr, errsz);
}
