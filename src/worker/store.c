/* The worker's config store in SQLite (see store.h). */
#include "worker/store.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <sqlite3.h>
#include <stdio.h>

struct sl_wstore {
    sqlite3 *db;
    char *path;
};

static int fail(sl_wstore *s, const char *what, char *errstr, size_t errsz) {
    snprintf(errstr, errsz, "config store %s (config.storage.file.filename): %s: %s", s->path, what,
             sqlite3_errmsg(s->db));
    return -1;
}

sl_wstore *sl_wstore_open(const char *path, char *errstr, size_t errsz) {
    sl_wstore *s = sl_calloc(1, sizeof *s);
    s->path = sl_strdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        fail(s, "open", errstr, errsz);
        goto err;
    }
    sqlite3_busy_timeout(s->db, 5000);
    const char *setup = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "CREATE TABLE IF NOT EXISTS connectors (name TEXT PRIMARY KEY, config TEXT NOT NULL,"
                        " target TEXT NOT NULL, updated_ms INTEGER NOT NULL);";
    if (sqlite3_exec(s->db, setup, NULL, NULL, NULL) != SQLITE_OK) {
        fail(s, "setup", errstr, errsz);
        goto err;
    }
    return s;
err:
    sl_wstore_close(s);
    return NULL;
}

void sl_wstore_close(sl_wstore *s) {
    if (!s) return;
    sqlite3_close(s->db);
    sl_free(s->path);
    sl_free(s);
}

/* Runs one statement with up to three text parameters (NULL: not bound) and ?4 = now (ms). */
static int exec3(sl_wstore *s, const char *q, const char *a, const char *b, const char *c, const char *what,
                 char *errstr, size_t errsz) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) return fail(s, what, errstr, errsz);
    const char *v[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (v[i]) sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 4) sqlite3_bind_int64(st, 4, sl_wall_us() / 1000);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, what, errstr, errsz);
}

int sl_wstore_put(sl_wstore *s, const char *name, const char *config, const char *target, char *errstr,
                  size_t errsz) {
    return exec3(s,
                 "INSERT INTO connectors VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET"
                 " config = excluded.config, target = excluded.target, updated_ms = excluded.updated_ms",
                 name, config, target, "write", errstr, errsz);
}

int sl_wstore_set_target(sl_wstore *s, const char *name, const char *target, char *errstr, size_t errsz) {
    return exec3(s, "UPDATE connectors SET target = ?2, updated_ms = ?4 WHERE name = ?1", name, target, NULL,
                 "write", errstr, errsz);
}

int sl_wstore_delete(sl_wstore *s, const char *name, char *errstr, size_t errsz) {
    return exec3(s, "DELETE FROM connectors WHERE name = ?1", name, NULL, NULL, "delete", errstr,
                 errsz);
}

int sl_wstore_load(sl_wstore *s, void (*cb)(const char *, const char *, const char *, void *), void *arg,
                   char *errstr, size_t errsz) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT name, config, target FROM connectors ORDER BY name", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, "read", errstr, errsz);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           (const char *)sqlite3_column_text(st, 2), arg);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "read", errstr, errsz);
}
