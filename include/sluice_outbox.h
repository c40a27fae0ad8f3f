/*
 * sluice_outbox.h - write outbox events from an application, inside its own
 * transaction, for sluice's outbox EventRouter (docs/outbox.md).
 *
 * Header-only, C99. The event JSON builder needs nothing; the database
 * helpers appear when the client library's header was included first:
 *
 *   #include <libpq-fe.h>       -> sluice_outbox_pg_emit()   (table-less: pg_logical_emit_message)
 *                               -> sluice_outbox_pg_insert() (the outbox table of sql/outbox_postgres.sql)
 *   #include <mysql.h>          -> sluice_outbox_my_insert() (the outbox table of sql/outbox_mariadb.sql)
 *   #include "sluice_outbox.h"
 *
 * Call them between the application's BEGIN and COMMIT: the event is
 * published if and only if the transaction commits. Each returns 0, or -1
 * with err filled. Thread-safe as far as the connection handle is.
 */
#ifndef SLUICE_OUTBOX_H
#define SLUICE_OUTBOX_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One event. Strings are UTF-8; NULL members are left out (payload: JSON null). */
typedef struct sluice_outbox_event {
    const char *id;             /* unique event id; NULL: a random UUID (version 4) is made */
    const char *aggregate_type; /* routes the event: topic outbox.event.<aggregate_type> by default */
    const char *aggregate_id;   /* the record key: events of one aggregate stay in order */
    const char *type;           /* the event type, e.g. "OrderCreated" */
    const char *payload_json;   /* the payload as JSON text (object, array, string, ...) */
    const char *headers_json;   /* NULL or a JSON object: extra record headers (table: the metadata column) */
    int64_t timestamp_ms;       /* event time in epoch ms; 0: left out (the commit time is used) */
} sluice_outbox_event;

/* A random version 4 UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", from /dev/urandom. Returns 0 or -1. */
static inline int sluice_outbox_uuid(char out[37]) {
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    if (n != sizeof b) return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* Appends s to out[*o] as a JSON string, counting what does not fit. */
static inline void sluice_outbox_put_str_(char *out, size_t outsz, size_t *o, const char *s) {
#define SLUICE_OB_PUTC_(c)                      \
    do {                                        \
        if (*o + 1 < outsz) out[*o] = (char)(c); \
        (*o)++;                                 \
    } while (0)
    SLUICE_OB_PUTC_('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            SLUICE_OB_PUTC_('\\');
            SLUICE_OB_PUTC_(*p);
        } else if (*p < 0x20) {
            char u[7];
            snprintf(u, sizeof u, "\\u%04x", *p);
            for (int i = 0; i < 6; i++) SLUICE_OB_PUTC_(u[i]);
        } else {
            SLUICE_OB_PUTC_(*p);
        }
    }
    SLUICE_OB_PUTC_('"');
}

static inline void sluice_outbox_put_raw_(char *out, size_t outsz, size_t *o, const char *s) {
    for (; *s; s++) SLUICE_OB_PUTC_(*s);
#undef SLUICE_OB_PUTC_
}

/*
 * Writes the event as the JSON object the table-less outbox carries:
 * {"id","aggregatetype","aggregateid","type","timestamp","payload","headers"}.
 * e->id must be set (see sluice_outbox_uuid). Returns the length it needs (as snprintf: out holds a
 * NUL-terminated prefix when outsz is too small).
 */
static inline size_t sluice_outbox_json(const sluice_outbox_event *e, char *out, size_t outsz) {
    size_t o = 0;
    const char *names[] = {"id", "aggregatetype", "aggregateid", "type"};
    const char *vals[] = {e->id, e->aggregate_type, e->aggregate_id, e->type};
    sluice_outbox_put_raw_(out, outsz, &o, "{");
    int n = 0;
    for (int i = 0; i < 4; i++) {
        if (!vals[i]) continue;
        sluice_outbox_put_raw_(out, outsz, &o, n++ ? ",\"" : "\"");
        sluice_outbox_put_raw_(out, outsz, &o, names[i]);
        sluice_outbox_put_raw_(out, outsz, &o, "\":");
        sluice_outbox_put_str_(out, outsz, &o, vals[i]);
    }
    if (e->timestamp_ms) {
        char ts[32];
        snprintf(ts, sizeof ts, "%s\"timestamp\":%lld", n++ ? "," : "", (long long)e->timestamp_ms);
        sluice_outbox_put_raw_(out, outsz, &o, ts);
    }
    sluice_outbox_put_raw_(out, outsz, &o, n++ ? ",\"payload\":" : "\"payload\":");
    sluice_outbox_put_raw_(out, outsz, &o, e->payload_json ? e->payload_json : "null");
    if (e->headers_json) {
        sluice_outbox_put_raw_(out, outsz, &o, ",\"headers\":");
        sluice_outbox_put_raw_(out, outsz, &o, e->headers_json);
    }
    sluice_outbox_put_raw_(out, outsz, &o, "}");
    if (outsz) out[o < outsz ? o : outsz - 1] = 0;
    return o;
}

/* The event with its id filled (a new UUID when e->id is NULL) and its JSON in a malloc'd string. */
static inline char *sluice_outbox_prepare_(sluice_outbox_event *e, char id[37], char *err, size_t errsz) {
    if (!e->id) {
        if (sluice_outbox_uuid(id) < 0) {
            snprintf(err, errsz, "no random bytes for the event id");
            return NULL;
        }
        e->id = id;
    }
    size_t n = sluice_outbox_json(e, NULL, 0);
    char *json = (char *)malloc(n + 1);
    if (!json) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    sluice_outbox_json(e, json, n + 1);
    return json;
}

#ifdef LIBPQ_FE_H
/* Table-less outbox: pg_logical_emit_message(true, prefix, event JSON) in the current transaction. */
static inline int sluice_outbox_pg_emit(PGconn *c, const char *prefix, const sluice_outbox_event *ev, char *err,
                                        size_t errsz) {
    sluice_outbox_event e = *ev;
    char id[37];
    char *json = sluice_outbox_prepare_(&e, id, err, errsz);
    if (!json) return -1;
    const char *params[2] = {prefix, json};
    PGresult *r = PQexecParams(c, "SELECT pg_logical_emit_message(true, $1, $2)", 2, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0) snprintf(err, errsz, "%s", PQerrorMessage(c));
    PQclear(r);
    free(json);
    return rc;
}

/* The outbox table of sql/outbox_postgres.sql (table: its trusted, possibly qualified, name). */
static inline int sluice_outbox_pg_insert(PGconn *c, const char *table, const sluice_outbox_event *ev, char *err,
                                          size_t errsz) {
    sluice_outbox_event e = *ev;
    char id[37];
    if (!e.id) {
        if (sluice_outbox_uuid(id) < 0) {
            snprintf(err, errsz, "no random bytes for the event id");
            return -1;
        }
        e.id = id;
    }
    char sql[512], ts[32];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s (id, aggregate_type, aggregate_id, event_type, payload, metadata, created_at) "
             "VALUES ($1::uuid, $2, $3, $4, $5::jsonb, $6::jsonb, COALESCE(to_timestamp($7::bigint / 1000.0), now()))",
             table);
    snprintf(ts, sizeof ts, "%lld", (long long)e.timestamp_ms);
    const char *params[7] = {e.id, e.aggregate_type, e.aggregate_id, e.type, e.payload_json, e.headers_json,
                             e.timestamp_ms ? ts : NULL};
    PGresult *r = PQexecParams(c, sql, 7, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc < 0) snprintf(err, errsz, "%s", PQerrorMessage(c));
    PQclear(r);
    return rc;
}
#endif

#ifdef _mysql_h
/* The outbox table of sql/outbox_mariadb.sql (id BINARY(16) from the UUID text). */
static inline int sluice_outbox_my_insert(MYSQL *m, const char *table, const sluice_outbox_event *ev, char *err,
                                          size_t errsz) {
    sluice_outbox_event e = *ev;
    char id[37];
    if (!e.id) {
        if (sluice_outbox_uuid(id) < 0) {
            snprintf(err, errsz, "no random bytes for the event id");
            return -1;
        }
        e.id = id;
    }
    const char *vals[6] = {e.id, e.aggregate_type, e.aggregate_id, e.type, e.payload_json, e.headers_json};
    size_t need = strlen(table) + 256;
    for (int i = 0; i < 6; i++) need += vals[i] ? 2 * strlen(vals[i]) + 3 : 4;
    char *sql = (char *)malloc(need);
    if (!sql) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    size_t o = (size_t)snprintf(sql, need, "INSERT INTO %s (id, aggregate_type, aggregate_id, event_type, payload, "
                                           "metadata, created_at) VALUES (",
                                table);
    for (int i = 0; i < 6; i++) {
        if (i) sql[o++] = ',';
        if (!vals[i]) {
            memcpy(sql + o, "NULL", 4);
            o += 4;
            continue;
        }
        if (i == 0) o += (size_t)snprintf(sql + o, need - o, "UNHEX(REPLACE(");
        sql[o++] = '\'';
        o += mysql_real_escape_string(m, sql + o, vals[i], (unsigned long)strlen(vals[i]));
        sql[o++] = '\'';
        if (i == 0) o += (size_t)snprintf(sql + o, need - o, ",'-',''))");
    }
    if (e.timestamp_ms)
        o += (size_t)snprintf(sql + o, need - o, ",FROM_UNIXTIME(%lld.%03d))", (long long)(e.timestamp_ms / 1000),
                              (int)(e.timestamp_ms % 1000));
    else
        o += (size_t)snprintf(sql + o, need - o, ",NOW(6))");
    int rc = mysql_real_query(m, sql, (unsigned long)o) ? -1 : 0;
    if (rc < 0) snprintf(err, errsz, "%s", mysql_error(m));
    free(sql);
    return rc;
}
#endif

#endif
