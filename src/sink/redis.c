/*
 * Redis sink: keeps a cache or read model in step with the source.
 *
 * Each change becomes one operation on one Redis key (redis.key.format, by
 * default ${table}:${key}), chosen by the namespace's strategy:
 *   update      SET the row as JSON (or HSET one field per column), TTL optional;
 *   invalidate  DEL, plus a short-lived guard key that a cache fill checks;
 *   ttl         as update, but an update keeps the key's remaining TTL;
 *   stream      XADD the event (Debezium Server's Redis sink format).
 * Deletes remove the key; truncates remove the table's keys (SCAN + UNLINK)
 * only with redis.truncate.enabled.
 *
 * Never backwards: every operation goes through one Lua script (SCRIPT LOAD
 * once, EVALSHA per chunk of records) that reads the source position stored
 * beside each key (__sluice:<connector>:pos:<key>, sl_record_order) and
 * skips a change that is not newer, so a replay after a crash or a retried
 * chunk never puts an old value back; the position is written in the same
 * script. With offset.storage=target the connector's offset is written by
 * the last script of the run, and the run's scripts go in one MULTI/EXEC:
 * records and offset land together or not at all.
 *
 * Records are rendered on the sink thread at write() (the record view, no
 * JSON sluice wrote is parsed again) into the sink's arena; flush() sends
 * them. A lost connection or a busy / loading / full Redis is retried with
 * backoff (the positions make a resend harmless); a record Redis refuses
 * (WRONGTYPE) goes the errors.tolerance way: logged, counted, to the dead
 * letter queue. Above redis.memory.threshold.percentage of maxmemory the
 * sink waits before writing more.
 *
 * Thread: the sink thread only, except stored_offset (its own connection).
 */
#include "core/log.h"
#include "core/plugin.h"
#include "core/val.h"
#include "ctx/ctx.h"
#include "format/dbz_json.h"
#include "kafka/dlq.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

enum { ST_UPDATE, ST_INVALIDATE, ST_TTL, ST_STREAM };
enum { VF_JSON, VF_HASH };
static const char *const strategy_names = "update|invalidate|ttl|stream";

typedef struct ns_rule {
    char *ns;
    int strategy; /* -1: the default */
    int64_t ttl_s; /* -1: the default */
} ns_rule;

typedef struct redis_conf {
    char *address, *uri, *user, *password;
    int64_t database, connect_timeout_ms, timeout_ms;
    int strategy, value_format, message_format;
    int64_t ttl_s;
    char *key_format, *key_separator, *stream_key_format;
    int64_t stream_maxlen;
    char *null_key, *null_value;
    int64_t mem_threshold;
    int64_t guard_ms, pos_ttl_s;
    bool truncate_enabled, skip_heartbeats;
    int64_t batch_size, retry_initial_ms, retry_max_ms, retry_timeout_ms;
    char *command, *kc_key, *kc_separator; /* the Redis Kafka Connect sink's keys */
    /* from check() */
    char host[256];
    int port, db;
    char auth_user[128], auth_pass[256];
} redis_conf;

#define F(x) offsetof(redis_conf, x)
static const sl_prop redis_props[] = {
    {"redis.address", SL_PT_STRING, "localhost:6379", NULL, 0, 0, 0, F(address),
     "Redis server as host:port (Debezium Server's debezium.sink.redis.address)."},
    {"redis.uri", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, F(uri),
     "Redis server as redis://[user:password@]host:port[/database]; wins over redis.address. TLS (rediss://) is "
     "not supported by this build.",
     "redis.url"},
    {"redis.user", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(user), "ACL user name (AUTH user password).",
     "redis.username"},
    {"redis.password", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, F(password),
     "Password (AUTH); ${env:NAME} and ${file:...} references work."},
    {"redis.database", SL_PT_INT, "0", NULL, 0, 65535, 0, F(database), "Database number (SELECT)."},
    {"redis.connect.timeout.ms", SL_PT_INT, "2000", NULL, 1, 600000, 0, F(connect_timeout_ms),
     "Timeout of one connection attempt."},
    {"redis.timeout.ms", SL_PT_INT, "10000", NULL, 1, 3600000, 0, F(timeout_ms),
     "Socket timeout of a command (a chunk of records); a timeout counts as a lost connection (retried)."},
    {"redis.strategy", SL_PT_ENUM, "update", "update|invalidate|ttl|stream", 0, 0, 0, F(strategy),
     "What a change does to its key. update: SET the row as JSON (or HSET, redis.value.format=hash), with "
     "redis.ttl.seconds when > 0; invalidate: DEL the key and set its guard key for redis.invalidate.guard.ms "
     "(docs/connectors/redis.md gives the fill rule); ttl: as update, but an update keeps the key's remaining TTL (an insert "
     "sets redis.ttl.seconds, an update of a key that expired sets it again); stream: XADD the event to the stream "
     "redis.stream.key.format. A delete removes the key (stream: appends the delete event). Per table or "
     "collection: redis.strategy.<schema.table> / redis.strategy.<db.collection>."},
    {"redis.value.format", SL_PT_ENUM, "json", "json|hash", 0, 0, 0, F(value_format),
     "update / ttl: the row (document) as one JSON string (SET), or a hash with one field per column (HSET; "
     "NULL columns are left out, nested values are JSON text)."},
    {"redis.ttl.seconds", SL_PT_INT, "0", NULL, 0, 315360000, 0, F(ttl_s),
     "Expiry of a written key (0: none). Per table or collection: redis.ttl.seconds.<namespace>."},
    {"redis.key.format", SL_PT_STRING, "${table}:${key}", NULL, 0, 0, 0, F(key_format),
     "The key of a row or document: ${topic}, ${table} (the table or collection name), ${collection} (the "
     "same), ${key} (the primary key or _id; the columns of a composite key joined by redis.key.separator)."},
    {"redis.key.separator", SL_PT_STRING, ":", NULL, 0, 0, 0, F(key_separator),
     "Joins the columns of a composite key in ${key}."},
    {"redis.stream.key.format", SL_PT_STRING, "${topic}", NULL, 0, 0, 0, F(stream_key_format),
     "strategy stream: the stream's key (placeholders as redis.key.format, without ${key}); Debezium Server "
     "writes to a stream named after the topic."},
    {"redis.stream.maxlen", SL_PT_INT, "0", NULL, 0, INT64_MAX, 0, F(stream_maxlen),
     "strategy stream: trims the stream to about this many entries (XADD MAXLEN ~); 0: no trimming."},
    {"redis.message.format", SL_PT_ENUM, "compact", "compact|extended", 0, 0, 0, F(message_format),
     "strategy stream: compact writes one field per entry (the event's key JSON -> its value JSON); extended "
     "writes the fields key and value (Debezium Server's debezium.sink.redis.message.format).",
     "message.format"},
    {"redis.null.key", SL_PT_STRING, "default", NULL, 0, 0, 0, F(null_key),
     "strategy stream: the field name written for an event without a key."},
    {"redis.null.value", SL_PT_STRING, "default", NULL, 0, 0, 0, F(null_value),
     "strategy stream: the value written for a tombstone (tombstones.on.delete)."},
    {"redis.skip.heartbeat.messages", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(skip_heartbeats),
     "Heartbeat records are not written (Debezium Server's default); false, which would append them to a stream, "
     "is not supported yet and refused."},
    {"redis.memory.threshold.percentage", SL_PT_INT, "85", NULL, 0, 100, 0, F(mem_threshold),
     "When Redis uses this share of its maxmemory or more, the sink waits (log line, metric "
     "sluice_connector_sink_waiting) until it falls below, instead of failing or evicting. 0: never wait. Without "
     "maxmemory Redis has no limit to measure against.",
     "memory.threshold.percentage"},
    {"redis.invalidate.guard.ms", SL_PT_INT, "2000", NULL, 0, 86400000, 0, F(guard_ms),
     "strategy invalidate: lifetime of the guard key __sluice:guard:<key> set with each delete; a cache fill "
     "that honours it (docs/connectors/redis.md) cannot put back a value read before the change. 0: no guard."},
    {"redis.position.ttl.seconds", SL_PT_INT, "86400", NULL, 0, 315360000, 0, F(pos_ttl_s),
     "How long the position a snapshot row leaves beside its key (__sluice:<connector>:pos:<key>) is kept: it "
     "tells a replayed row of the same snapshot from a newer one until the stream's mark has passed it. 0: for "
     "ever."},
    {"redis.truncate.enabled", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(truncate_enabled),
     "A truncate deletes the table's keys (SCAN MATCH of redis.key.format with ${key} as *, UNLINK in batches "
     "of 1000). Off: truncates are logged and skipped."},
    {"redis.batch.size", SL_PT_INT, "500", NULL, 1, 4000, 0, F(batch_size),
     "Records per script call (one EVALSHA reads all their positions with one MGET)."},
    {"redis.retry.initial.delay.ms", SL_PT_INT, "300", NULL, 1, 600000, 0, F(retry_initial_ms),
     "First pause before a retry after a lost connection or a busy Redis; doubles up to "
     "redis.retry.max.delay.ms."},
    {"redis.retry.max.delay.ms", SL_PT_INT, "10000", NULL, 1, 3600000, 0, F(retry_max_ms),
     "Longest pause between retries."},
    {"redis.retry.timeout.ms", SL_PT_INT, "300000", NULL, -1, INT64_MAX, 0, F(retry_timeout_ms),
     "Retries stop (and the connector fails) after this long without success; -1: retry for ever."},
    {"redis.command", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(command),
     "The Redis Kafka Connect sink's command: SET (strategy update, json), HSET (update, hash), XADD (stream), "
     "DEL (invalidate). Others are refused."},
    {"redis.key", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(kc_key),
     "The Redis Kafka Connect sink's keyspace (default ${topic}): the key becomes <redis.key><redis.separator>"
     "${key}."},
    {"redis.separator", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(kc_separator),
     "The Redis Kafka Connect sink's keyspace separator (default ':')."},
    {NULL}};
#undef F

/* ---- configuration ---- */

static int strategy_of(const char *v) {
    const char *p = strategy_names;
    for (int i = 0; *p; i++) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (strlen(v) == n && !strncasecmp(v, p, n)) return i;
        if (!e) break;
        p = e + 1;
    }
    return -1;
}

typedef struct ns_rules {
    ns_rule *v;
    int n;
} ns_rules;

static ns_rule *rule_for(ns_rules *c, const char *ns) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].ns, ns)) return &c->v[i];
    c->v = sl_realloc(c->v, (size_t)(c->n + 1) * sizeof *c->v);
    ns_rule *r = &c->v[c->n++];
    r->ns = sl_strdup(ns);
    r->strategy = -1;
    r->ttl_s = -1;
    return r;
}

/* redis://[user:password@]host[:port][/db] */
static int parse_uri(redis_conf *c, const char *uri, char *err, size_t errsz) {
    const char *p;
    if (!strncasecmp(uri, "rediss://", 9)) {
        snprintf(err, errsz, "redis.uri: TLS (rediss://) is not supported by this build; use redis:// on a trusted "
                             "network or a TLS tunnel");
        return -1;
    }
    if (strncasecmp(uri, "redis://", 8)) {
        snprintf(err, errsz, "redis.uri: must start with redis:// (redis://[user:password@]host:port/database)");
        return -1;
    }
    p = uri + 8;
    const char *at = strrchr(p, '@');
    const char *slash = strchr(at ? at : p, '/');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            snprintf(c->auth_user, sizeof c->auth_user, "%.*s", (int)(colon - p), p);
            snprintf(c->auth_pass, sizeof c->auth_pass, "%.*s", (int)(at - colon - 1), colon + 1);
        } else {
            snprintf(c->auth_pass, sizeof c->auth_pass, "%.*s", (int)(at - p), p);
        }
        p = at + 1;
    }
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hl);
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != p + hl || port <= 0 || port > 65535) {
            snprintf(err, errsz, "redis.uri: bad port in '%.*s'", (int)hl, p);
            return -1;
        }
        c->port = (int)port;
        hl = (size_t)(colon - p);
    } else c->port = 6379;
    snprintf(c->host, sizeof c->host, "%.*s", (int)hl, p);
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 65535) {
            snprintf(err, errsz, "redis.uri: the database after '/' must be a number");
            return -1;
        }
        c->db = (int)db;
    }
    if (!c->host[0]) {
        snprintf(err, errsz, "redis.uri: no host");
        return -1;
    }
    return 0;
}

static void check_format(const char *key, const char *fmt, bool key_ok, sl_errs *errs) {
    for (const char *p = fmt ? strstr(fmt, "${") : NULL; p; p = strstr(p + 2, "${")) {
        const char *e = strchr(p, '}');
        if (!e) {
            sl_errs_add(errs, "%s: unterminated placeholder in '%s'", key, fmt);
            return;
        }
        size_t n = (size_t)(e - p + 1);
        if ((n == 8 && !strncmp(p, "${topic}", 8)) || (n == 8 && !strncmp(p, "${table}", 8)) ||
            (n == 13 && !strncmp(p, "${collection}", 13)) || (key_ok && n == 6 && !strncmp(p, "${key}", 6)))
            continue;
        sl_errs_add(errs, "%s: unknown placeholder '%.*s' (allowed: ${topic}, ${table}, ${collection}%s)", key, (int)n,
                    p, key_ok ? ", ${key}" : "");
    }
}

/* A per-namespace key (redis.strategy.<ns>, redis.ttl.seconds.<ns>, also under sink.redis.): true when k is
 * one; err names a bad value (else empty); with rules, the value is added to them. */
static bool ns_key(const char *k, const char *v, struct ns_rules *rules, char *err, size_t errsz) {
    static const char *const pfx[] = {"redis.strategy.", "redis.ttl.seconds.", "sink.redis.redis.strategy.",
                                      "sink.redis.redis.ttl.seconds."};
    err[0] = 0;
    for (size_t j = 0; j < sizeof pfx / sizeof *pfx; j++) {
        size_t pl = strlen(pfx[j]);
        if (strncmp(k, pfx[j], pl) || !k[pl]) continue;
        int st = -1;
        long long t = -1;
        if (strstr(pfx[j], "strategy")) {
            if ((st = strategy_of(v ? v : "")) < 0)
                snprintf(err, errsz, "%s: '%s' is not allowed (allowed: update, invalidate, ttl, stream)", k,
                         v ? v : "");
        } else {
            char *end;
            t = strtoll(v ? v : "", &end, 10);
            if (!v || !*v || *end || t < 0 || t > 315360000)
                snprintf(err, errsz, "%s: '%s' is not a number of seconds (0 to 315360000)", k, v ? v : "");
        }
        if (rules && !err[0]) {
            ns_rule *r = rule_for(rules, k + pl);
            if (st >= 0) r->strategy = st;
            if (t >= 0) r->ttl_s = t;
        }
        return true;
    }
    return false;
}

static void redis_check(void *settings, sl_config *cfg, sl_errs *errs) {
    redis_conf *c = settings;
    char err[512];
    c->db = (int)c->database;
    if (c->uri && *c->uri) {
        if (parse_uri(c, c->uri, err, sizeof err) < 0) sl_errs_add(errs, "%s", err);
    } else {
        const char *a = c->address ? c->address : "";
        const char *colon = strrchr(a, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 6379;
        if (!*a || (colon && (end == colon + 1 || *end || port <= 0 || port > 65535)))
            sl_errs_add(errs, "redis.address: '%s' is not host:port", a);
        snprintf(c->host, sizeof c->host, "%.*s", colon ? (int)(colon - a) : (int)strlen(a), a);
        c->port = (int)port;
    }
    if (c->user && *c->user) snprintf(c->auth_user, sizeof c->auth_user, "%s", c->user);
    if (c->password && *c->password) snprintf(c->auth_pass, sizeof c->auth_pass, "%s", c->password);
    /* the Redis Kafka Connect sink's keys */
    if (c->command && *c->command) {
        static const char *const map[][3] = {{"SET", "update", "json"}, {"HSET", "update", "hash"},
                                             {"XADD", "stream", NULL}, {"DEL", "invalidate", NULL}};
        size_t i;
        for (i = 0; i < sizeof map / sizeof *map; i++)
            if (!strcasecmp(c->command, map[i][0])) break;
        if (i == sizeof map / sizeof *map)
            sl_errs_add(errs, "redis.command: '%s' is not supported (supported: SET, HSET, XADD, DEL; sluice maps them "
                              "to redis.strategy)", c->command);
        else {
            c->strategy = strategy_of(map[i][1]);
            if (map[i][2]) c->value_format = !strcmp(map[i][2], "hash") ? VF_HASH : VF_JSON;
        }
    }
    if ((c->kc_key && *c->kc_key) || (c->kc_separator && *c->kc_separator)) {
        const char *space = c->kc_key && *c->kc_key ? c->kc_key : "${topic}";
        const char *sep = c->kc_separator && *c->kc_separator ? c->kc_separator : ":";
        size_t n = strlen(space) + strlen(sep) + 8;
        char *kf = sl_malloc(n);
        snprintf(kf, n, "%s%s${key}", space, sep);
        sl_free(c->key_format);
        c->key_format = kf;
        if (c->strategy == ST_STREAM) {
            sl_free(c->stream_key_format);
            c->stream_key_format = sl_strdup(space);
        }
    }
    if (!c->skip_heartbeats)
        sl_errs_add(errs, "redis.skip.heartbeat.messages: false is not supported (heartbeat records are never written "
                          "to Redis; allowed: true)");
    if (!c->key_format || !*c->key_format) sl_errs_add(errs, "redis.key.format: must not be empty");
    check_format("redis.key.format", c->key_format, true, errs);
    if (!c->stream_key_format || !*c->stream_key_format) sl_errs_add(errs, "redis.stream.key.format: must not be empty");
    check_format("redis.stream.key.format", c->stream_key_format, false, errs);
    /* per-namespace overrides: checked and claimed here, read by open() */
    for (int i = 0; i < cfg->n; i++) {
        char e2[256];
        if (ns_key(cfg->kv[i].key, cfg->kv[i].value, NULL, e2, sizeof e2)) {
            sl_config_claim(cfg, cfg->kv[i].key);
            if (e2[0]) sl_errs_add(errs, "%s", e2);
        }
    }
}

/* ---- the sink ---- */

/* One record as it will be sent: its data key, and its script arguments args[a0, a1). */
typedef struct prec {
    const char *key;
    uint32_t key_len;
    uint32_t a0, a1;
    bool truncate;       /* a truncate: key is the SCAN pattern, no arguments */
    bool perkey;         /* a snapshot row: compared with its key's own position (else with the stream's mark) */
    char op;             /* the script's op letter */
    int64_t ttl_ms;
    const char *scope, *pos; /* the stream its position orders ("" or a Kafka topic partition); "" no position */
    /* for errors and the dead letter queue */
    const char *what, *topic;
    int32_t partition;
    int64_t offset, ts_ms;
    const char *dkey, *dval; /* the record's key and value text (errors.tolerance=all), NULL: none */
    uint32_t dkey_len, dval_len;
} prec;

typedef struct arg {
    const char *p;
    size_t n;
} arg;

/* What write() rendered between two marks (or flushes): sent as a whole, kept until Redis answered for all of it
 * (a lost connection sends it again). */
typedef struct run {
    sl_arena arena;
    size_t arena_bytes;
    prec *recs;
    size_t nrecs, caprecs;
    arg *args;
    size_t nargs, capargs;
    uint64_t ticket;      /* pipelined: its mark's ticket */
    size_t *starts;       /* pipelined: its chunks' first records, nchunks + 1 */
    size_t nchunks, replies; /* pipelined: chunks sent / answered */
} run;

typedef struct redis_sink {
    sl_ctx *ctx;
    redis_conf *conf;
    redisContext *rc;
    char sha[41];
    char pos_prefix[300];   /* __sluice:<connector>:pos: */
    char mark_key[300];     /* __sluice:<connector>:hwm */
    char fail_key[300];     /* __sluice:<connector>:failed */
    run *cur;               /* what write() renders into */
    run **fly;              /* pipelined: runs sent whose replies have not all come, oldest first */
    size_t nfly, capfly;
    uint64_t next_ticket, acked_ticket;
    sl_vheap vh;
    sl_buf scratch, key, val, tmp, kjson, vjson;
    bool tolerate;
    sl_kafka_dlq *dlq;
    ns_rules rules;
    int64_t mem_checked_ms;
    bool waiting;
    uint64_t stale, applied;
} redis_sink;

#define POS_PREFIX "__sluice:%s:pos:"
#define GUARD_PREFIX "__sluice:guard:"
#define OFFSETS_KEY "__sluice:offsets"
#define EXC_DATA "org.apache.kafka.connect.errors.DataException"
#define TASK_CLASS "io.sluice.redis.RedisSinkTask"

/*
 * The script. Two kinds of chunks (ARGV[9]): 'l' holds changes of the stream, applied in the source's order, so
 * one mark per scope (the connector's hash __sluice:<connector>:hwm, field "" or a Kafka topic partition: the
 * position of the newest change applied) tells a replay: a change at or below it was applied already; a chunk
 * whose first position is above the mark is applied without looking at the others. 'k' holds snapshot rows,
 * which share their snapshot's position and come in no order of their own: each is compared with the mark and
 * with the position stored beside its key (__sluice:<connector>:pos:<key>), which it then sets. Only stream
 * changes raise the mark.
 * KEYS: the n records' keys, then the marks' hash, then (when ARGV[6] is not '') the offsets hash.
 * ARGV: 1 position key prefix, 2 n, 3 TTL of a snapshot row's position (ms; 0: none), 4 guard TTL (ms), 5 guard
 * key prefix, 6 offset field, 7 offset value, 8 failure flag key ('' unless errors.tolerance=none: the first
 * record Redis refuses stops this script and every later one of the run, and no offset is written), 9 'l' or
 * 'k', 10 scope, 11 TTL of the keys (ms), 12 the records' ops (one letter each), 13 their positions joined by
 * newlines ('': none, always applied), 14 / 15 the first / last of them that is not ''. Then each record's
 * arguments, by op:
 *   S value (SET)              K value (SET keeping the remaining TTL)
 *   H n f1 v1 .. (hash)        J n f1 v1 .. (hash keeping the remaining TTL)
 *   D (delete)                 I (delete + guard)
 *   X maxlen entries, then per entry: n f1 v1 ..  (XADD)
 * Returns {applied, stale, i1, err1, i2, err2, ...} (records Redis refused).
 */
static const char SCRIPT[] =
    "local pre,n,ptl,guard,gpre=ARGV[1],tonumber(ARGV[2]),tonumber(ARGV[3]),tonumber(ARGV[4]),ARGV[5]\n"
    "local offf,offv,failk,perkey,sc,ttl,ops=ARGV[6],ARGV[7],ARGV[8],ARGV[9]=='k',ARGV[10],tonumber(ARGV[11]),ARGV[12]\n"
    "local hk=KEYS[n+1]\n"
    "local stop=failk~='' and redis.call('EXISTS',failk)==1\n"
    "local h=redis.call('HGET',hk,sc)\n"
    "local P\n"
    "local function positions()\n"
    "  if not P then P={} for q in string.gmatch(ARGV[13]..'\\n','([^\\n]*)\\n') do P[#P+1]=q end end\n"
    "  return P\n"
    "end\n"
    "local check=perkey or (h and ARGV[14]~='' and ARGV[14]<=h)\n"
    "if check then positions() end\n"
    "local pk,cur={},{}\n"
    "if perkey and n>0 then for i=1,n do pk[i]=pre..KEYS[i] end cur=redis.call('MGET',unpack(pk)) end\n"
    "local seen,acc,fails={},{},{}\n"
    "local applied,stale,top=0,0,nil\n"
    "local function flush() if #acc>0 then redis.call('MSET',unpack(acc)) acc={} end end\n"
    "local function bad(r) return type(r)=='table' and r.err end\n"
    "local a=16\n"
    "for i=1,n do\n"
    "  if stop then break end\n"
    "  local key,op,va=KEYS[i],string.sub(ops,i,i),a\n"
    "  if op=='S' or op=='K' then a=a+1\n"
    "  elseif op=='H' or op=='J' then a=a+1+2*tonumber(ARGV[a])\n"
    "  elseif op=='X' then local ne=tonumber(ARGV[a+1]) a=a+2 for e=1,ne do a=a+1+2*tonumber(ARGV[a]) end end\n"
    "  local pos,go='',true\n"
    "  if check then\n"
    "    pos=P[i]\n"
    "    if pos~='' then\n"
    "      if h and pos<=h then go=false\n"
    "      elseif perkey then local old=seen[pk[i]] if old==nil then old=cur[i] end if old and pos<=old then go=false end end\n"
    "    end\n"
    "  end\n"
    "  if not go then stale=stale+1 else\n"
    "    local r\n"
    "    if op=='S' and ttl==0 then acc[#acc+1]=key acc[#acc+1]=ARGV[va] else\n"
    "      flush()\n"
    "      if op=='S' then r=redis.pcall('SET',key,ARGV[va],'PX',ttl)\n"
    "      elseif op=='K' then\n"
    "        local t=redis.call('PTTL',key)\n"
    "        if t>0 then r=redis.pcall('SET',key,ARGV[va],'KEEPTTL')\n"
    "        elseif t==-1 or ttl==0 then r=redis.pcall('SET',key,ARGV[va])\n"
    "        else r=redis.pcall('SET',key,ARGV[va],'PX',ttl) end\n"
    "      elseif op=='H' or op=='J' then\n"
    "        local t,keep=-2,ttl\n"
    "        if op=='J' then t=redis.call('PTTL',key) end\n"
    "        redis.call('UNLINK',key)\n"
    "        local nf=tonumber(ARGV[va])\n"
    "        if nf>0 then r=redis.pcall('HSET',key,unpack(ARGV,va+1,va+2*nf)) end\n"
    "        if t>0 then keep=t elseif t==-1 then keep=0 end\n"
    "        if keep>0 and nf>0 and not bad(r) then redis.call('PEXPIRE',key,keep) end\n"
    "      elseif op=='D' or op=='I' then\n"
    "        redis.call('UNLINK',key)\n"
    "        if op=='I' and guard>0 then redis.call('SET',gpre..key,'1','PX',guard) end\n"
    "      elseif op=='X' then\n"
    "        local ml,ne=tonumber(ARGV[va]),tonumber(ARGV[va+1])\n"
    "        local b=va+2\n"
    "        for e=1,ne do\n"
    "          local nf=tonumber(ARGV[b])\n"
    "          if ml>0 then r=redis.pcall('XADD',key,'MAXLEN','~',ml,'*',unpack(ARGV,b+1,b+2*nf))\n"
    "          else r=redis.pcall('XADD',key,'*',unpack(ARGV,b+1,b+2*nf)) end\n"
    "          b=b+1+2*nf\n"
    "          if bad(r) then break end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    if bad(r) then\n"
    "      fails[#fails+1]=i fails[#fails+1]=r.err\n"
    "      if failk~='' then stop=true redis.call('SET',failk,'1') end\n"
    "    else\n"
    "      applied=applied+1\n"
    "      if not perkey then top=i\n"
    "      elseif pos~='' then\n"
    "        seen[pk[i]]=pos\n"
    "        if ptl>0 then flush() redis.call('SET',pk[i],pos,'PX',ptl) else acc[#acc+1]=pk[i] acc[#acc+1]=pos end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "flush()\n"
    "if top then\n"
    "  local p=''\n"
    "  if top==n and not check then p=ARGV[15] else\n"
    "    positions()\n"
    "    for j=top,1,-1 do if P[j]~='' then p=P[j] break end end\n"
    "  end\n"
    "  if p~='' and (not h or p>h) then redis.call('HSET',hk,sc,p) end\n"
    "end\n"
    "if offf~='' and not stop then redis.call('HSET',KEYS[n+2],offf,offv) end\n"
    "return {applied,stale,unpack(fails)}\n";

static void disconnect(redis_sink *s) {
    if (s->rc) redisFree(s->rc);
    s->rc = NULL;
}

/* The kind of a reply error: worth a retry after a pause (the server is loading, busy, a replica, out of memory,
 * or forgot the script), or not. */
static bool transient_error(const char *msg) {
    static const char *const t[] = {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "OOM", "TRYAGAIN", "NOSCRIPT",
                                    "CLUSTERDOWN", "NOREPLICAS"};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strncmp(msg, t[i], strlen(t[i]))) return true;
    return false;
}

/* One command and its reply (*out: the caller frees). 0; 1 a transient failure (connection, busy); -1 fatal. */
static int command(redisContext *rc, int argc, const char **argv, const size_t *lens, redisReply **out, char *err,
                   size_t errsz) {
    *out = NULL;
    redisReply *r = redisCommandArgv(rc, argc, argv, lens);
    if (!r) {
        snprintf(err, errsz, "%s", rc->errstr[0] ? rc->errstr : "connection lost");
        return 1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errsz, "%s: %.*s", argv[0], (int)r->len, r->str);
        int rc2 = transient_error(r->str) ? 1 : -1;
        freeReplyObject(r);
        return rc2;
    }
    *out = r;
    return 0;
}

/* Connects to conf's server, authenticates, selects the database, loads the script (sha when not NULL). */
static int dial(const redis_conf *c, redisContext **out, char *sha, char *err, size_t errsz) {
    struct timeval tv = {c->connect_timeout_ms / 1000, (c->connect_timeout_ms % 1000) * 1000};
    redisContext *rc = redisConnectWithTimeout(c->host, c->port, tv);
    *out = rc;
    if (!rc) {
        snprintf(err, errsz, "cannot connect to %s:%d: out of memory", c->host, c->port);
        return 1;
    }
    if (rc->err) {
        snprintf(err, errsz, "cannot connect to %s:%d: %s", c->host, c->port, rc->errstr);
        return 1;
    }
    struct timeval ct = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    redisSetTimeout(rc, ct);
    redisReply *r;
    char e2[512];
    int rc2;
    if (c->auth_pass[0]) {
        const char *av[3] = {"AUTH", c->auth_user[0] ? c->auth_user : c->auth_pass, c->auth_pass};
        size_t al[3] = {4, strlen(av[1]), strlen(av[2])};
        if ((rc2 = command(rc, c->auth_user[0] ? 3 : 2, av, al, &r, e2, sizeof e2)) != 0) {
            snprintf(err, errsz, "%s:%d refused the credentials: %s", c->host, c->port, e2);
            return rc2;
        }
        freeReplyObject(r);
    }
    if (c->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->db);
        const char *av[2] = {"SELECT", db};
        size_t al[2] = {6, strlen(db)};
        if ((rc2 = command(rc, 2, av, al, &r, e2, sizeof e2)) != 0) {
            snprintf(err, errsz, "%s:%d: database %d: %s", c->host, c->port, c->db, e2);
            return rc2;
        }
        freeReplyObject(r);
    }
    if (sha) {
        const char *av[3] = {"SCRIPT", "LOAD", SCRIPT};
        size_t al[3] = {6, 4, sizeof SCRIPT - 1};
        if ((rc2 = command(rc, 3, av, al, &r, e2, sizeof e2)) != 0) {
            snprintf(err, errsz, "%s:%d: loading the sink's script: %s", c->host, c->port, e2);
            return rc2;
        }
        snprintf(sha, 41, "%.*s", r->type == REDIS_REPLY_STRING ? (int)r->len : 0, r->str ? r->str : "");
        freeReplyObject(r);
    }
    return 0;
}

static bool pause_ms(redis_sink *s, int64_t ms) {
    for (int64_t t = 0; t < ms; t += 50) {
        if (sl_ctx_stopping(s->ctx)) return false;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !sl_ctx_stopping(s->ctx);
}

/* ---- rendering records ---- */

static void *arena_copy(redis_sink *s, const void *p, size_t n) {
    s->cur->arena_bytes += n + 16;
    return sl_arena_memdup(&s->cur->arena, n ? p : "", n);
}

static void push_arg(redis_sink *s, const void *p, size_t n) {
    if (s->cur->nargs == s->cur->capargs) {
        s->cur->capargs = s->cur->capargs ? 2 * s->cur->capargs : 4096;
        s->cur->args = sl_realloc(s->cur->args, s->cur->capargs * sizeof *s->cur->args);
    }
    s->cur->args[s->cur->nargs].p = arena_copy(s, p, n);
    s->cur->args[s->cur->nargs++].n = n;
}

static void push_str(redis_sink *s, const char *str) { push_arg(s, str, strlen(str)); }

static void push_int(redis_sink *s, int64_t v) {
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    push_arg(s, b, (size_t)n);
}

/* Appends a key part: a string as its bytes, a number as its digits, an extended JSON id ({"$oid": ...},
 * {"$numberLong": ...}) as its inner string, anything else as compact JSON. */
static void put_key_part(sl_vheap *h, sl_val *v, sl_buf *out) {
    size_t n;
    const char *str;
    switch (sl_v_kind(h, v)) {
    case SL_V_STR:
        str = sl_v_strval(h, v, &n);
        sl_buf_put(out, str, n);
        return;
    case SL_V_INT:
        sl_buf_put_i64(out, v->i);
        return;
    case SL_V_OBJ:
        sl_v_force(h, v);
        if (v->n == 1 && v->m[0].name[0] == '$' && (str = sl_v_strval(h, v->m[0].v, &n))) {
            sl_buf_put(out, str, n);
            return;
        }
        break;
    default:
        break;
    }
    sl_v_put_json(out, v);
}

/* ${key}: a key struct's members joined by the separator (an _id alone when it has one), else the value. */
static void put_key(redis_sink *s, sl_val *key, sl_buf *out) {
    sl_vheap *h = &s->vh;
    if (sl_v_kind(h, key) == SL_V_OBJ) {
        sl_v_force(h, key);
        sl_val *id = sl_v_get(h, key, "_id");
        if (id) {
            put_key_part(h, id, out);
            return;
        }
        for (uint32_t i = 0; i < key->n; i++) {
            if (i) sl_buf_puts(out, s->conf->key_separator);
            put_key_part(h, key->m[i].v, out);
        }
        return;
    }
    put_key_part(h, key, out);
}

typedef struct rinfo {
    const char *topic, *table;
    char ns[512];
    char op; /* c u d r t */
    sl_val *key, *row; /* key: the key struct or value; row: the row or document (NULL: none) */
} rinfo;

static void expand(redis_sink *s, const char *fmt, const rinfo *ri, sl_val *key, bool glob, sl_buf *out) {
    for (const char *p = fmt; *p;) {
        const char *v = NULL;
        size_t skip = 0;
        if (!strncmp(p, "${topic}", 8)) v = ri->topic, skip = 8;
        else if (!strncmp(p, "${table}", 8)) v = ri->table, skip = 8;
        else if (!strncmp(p, "${collection}", 13)) v = ri->table, skip = 13;
        else if (!strncmp(p, "${key}", 6)) {
            if (glob) sl_buf_putc(out, '*');
            else put_key(s, key, out);
            p += 6;
            continue;
        }
        const char *q = v ? v : p;
        size_t n = v ? strlen(v) : 1;
        for (size_t i = 0; i < n; i++) {
            if (glob && strchr("*?[]\\", q[i])) sl_buf_putc(out, '\\');
            sl_buf_putc(out, q[i]);
        }
        p += v ? skip : 1;
    }
}

static void strategy_for(redis_sink *s, const char *ns, int *strategy, int64_t *ttl_s) {
    *strategy = s->conf->strategy;
    *ttl_s = s->conf->ttl_s;
    for (int i = 0; i < s->rules.n; i++)
        if (!strcmp(s->rules.v[i].ns, ns)) {
            if (s->rules.v[i].strategy >= 0) *strategy = s->rules.v[i].strategy;
            if (s->rules.v[i].ttl_s >= 0) *ttl_s = s->rules.v[i].ttl_s;
        }
}

/* The members of a JSON envelope {"schema": .., "payload": P}: P, else v. */
static sl_val *payload_of(sl_vheap *h, sl_val *v) {
    if (v && sl_v_kind(h, v) == SL_V_OBJ && v->n == 2) {
        sl_val *sc = sl_v_get(h, v, "schema"), *pl = sl_v_get(h, v, "payload");
        if (sc && pl) return pl;
    }
    return v;
}

static const char *str_member(sl_vheap *h, sl_val *obj, const char *name) {
    sl_val *v = obj ? sl_v_get(h, obj, name) : NULL;
    return v ? sl_v_strval(h, v, NULL) : NULL;
}

/* A pre-encoded record (the Kafka or MongoDB source): its op, key, row and namespace from the value's shape. */
static int read_raw(redis_sink *s, const sl_record *r, rinfo *ri, char *err, size_t errsz) {
    const sl_raw *raw = r->raw;
    sl_vheap *h = &s->vh;
    char e2[256];
    ri->topic = raw->topic ? raw->topic : "";
    const char *dot = strrchr(ri->topic, '.');
    ri->table = dot ? dot + 1 : ri->topic; /* <prefix>.<db>.<table>: until the value names its table */
    snprintf(ri->ns, sizeof ri->ns, "%s", ri->topic);
    if (raw->binary_key || raw->binary_value) {
        snprintf(err, errsz, "BSON keys or values (output.format=bson) cannot be written to Redis: use json");
        return -1;
    }
    sl_val *value = NULL, *key = NULL;
    if (raw->value && !(value = sl_v_parse(h, raw->value, raw->value_len, e2, sizeof e2))) {
        snprintf(err, errsz, "the value: %s", e2);
        return -1;
    }
    if (raw->key && !(key = sl_v_parse(h, raw->key, raw->key_len, e2, sizeof e2))) {
        snprintf(err, errsz, "the key: %s", e2);
        return -1;
    }
    value = payload_of(h, value);
    key = payload_of(h, key);
    ri->key = key && !sl_v_is_null(h, key) ? key : NULL;
    if (!value || sl_v_is_null(h, value)) {
        ri->op = 'd'; /* a tombstone */
        return 0;
    }
    ri->op = 'u';
    ri->row = value;
    if (sl_v_kind(h, value) != SL_V_OBJ) return 0;
    const char *ot = str_member(h, value, "operationType");
    const char *op = str_member(h, value, "op");
    if (ot) { /* a MongoDB change event (mongo-kafka) */
        const char *db = NULL, *coll = NULL;
        sl_val *ns = sl_v_get(h, value, "ns");
        db = str_member(h, ns, "db"), coll = str_member(h, ns, "coll");
        if (coll) {
            snprintf(ri->ns, sizeof ri->ns, "%s.%s", db ? db : "", coll);
            ri->table = sl_arena_strndup(&h->arena, coll, strlen(coll));
        }
        sl_val *dk = sl_v_get(h, value, "documentKey");
        if (dk && !sl_v_is_null(h, dk)) ri->key = dk;
        ri->row = sl_v_get(h, value, "fullDocument");
        if (ri->row && sl_v_is_null(h, ri->row)) ri->row = NULL;
        if (!strcmp(ot, "insert")) ri->op = r->snapshot ? 'r' : 'c';
        else if (!strcmp(ot, "update") || !strcmp(ot, "replace")) ri->op = 'u';
        else if (!strcmp(ot, "delete")) ri->op = 'd', ri->row = NULL;
        else ri->op = 0; /* drop, rename, invalidate, ...: nothing to do to a key */
        if ((ri->op == 'c' || ri->op == 'r' || ri->op == 'u') && !ri->row) {
            snprintf(err, errsz, "a MongoDB %s event without fullDocument (set change.stream.full.document="
                                 "updateLookup)", ot);
            return -1;
        }
        return 0;
    }
    if (op && (sl_v_get(h, value, "after") || sl_v_get(h, value, "before"))) { /* a Debezium envelope */
        sl_val *src = sl_v_get(h, value, "source");
        const char *sch = str_member(h, src, "schema"), *db = str_member(h, src, "db");
        const char *tbl = str_member(h, src, "table");
        if (!tbl) tbl = str_member(h, src, "collection");
        if (tbl) {
            snprintf(ri->ns, sizeof ri->ns, "%s.%s", sch ? sch : db ? db : "", tbl);
            ri->table = sl_arena_strndup(&h->arena, tbl, strlen(tbl));
        }
        ri->op = op[0];
        ri->row = ri->op == 'd' ? NULL : sl_v_get(h, value, "after");
        if (ri->row && sl_v_kind(h, ri->row) == SL_V_STR) { /* Debezium's MongoDB connector: JSON text */
            size_t n;
            const char *t = sl_v_strval(h, ri->row, &n);
            if (!(ri->row = sl_v_parse(h, t, n, e2, sizeof e2))) {
                snprintf(err, errsz, "the value's after: %s", e2);
                return -1;
            }
        }
        if (ri->row && sl_v_is_null(h, ri->row)) ri->row = NULL;
        if (ri->key && sl_v_kind(h, ri->key) == SL_V_OBJ && ri->key->n == 1 && !strcmp(ri->key->m[0].name, "id")) {
            /* Debezium's MongoDB key {"id": "<the _id as JSON text>"}: the _id */
            size_t n;
            const char *t = sl_v_strval(h, ri->key->m[0].v, &n);
            sl_val *id = t ? sl_v_parse(h, t, n, e2, sizeof e2) : NULL;
            if (id) ri->key = id;
        }
        if (strchr("cudrt", ri->op) == NULL) ri->op = 0;
    }
    return 0;
}

static int read_native(redis_sink *s, const sl_record *r, rinfo *ri) {
    sl_vheap *h = &s->vh;
    const sl_dbz_opts *o = sl_ctx_dbz(s->ctx);
    sl_buf_reset(&s->tmp);
    const char *t = sl_dbz_topic(o, r, &s->tmp);
    ri->topic = sl_arena_strndup(&h->arena, t, strlen(t));
    ri->table = r->table->name;
    snprintf(ri->ns, sizeof ri->ns, "%s.%s",
             r->table->schema && *r->table->schema ? r->table->schema : r->table->db ? r->table->db : "",
             r->table->name);
    ri->op = (char)r->op;
    if (r->op == SL_OP_TRUNCATE) return 0;
    sl_val *value = NULL;
    if (!sl_dbz_view(o, r, h, &ri->key, &value)) return ri->op = 0, 0;
    if (r->op != SL_OP_DELETE && value) ri->row = sl_v_get(h, value, "after");
    if (ri->row && sl_v_is_null(h, ri->row)) ri->row = NULL;
    return 0;
}

/* The record's key and value as Kafka would carry them (strategy stream and the dead letter queue). */
static void kafka_texts(redis_sink *s, const sl_record *r, const char **k, size_t *kl, const char **v, size_t *vl) {
    if (r->raw) {
        *k = r->raw->key, *kl = r->raw->key_len, *v = r->raw->value, *vl = r->raw->value_len;
        return;
    }
    const sl_dbz_opts *o = sl_ctx_dbz(s->ctx);
    sl_buf_reset(&s->kjson);
    sl_buf_reset(&s->vjson);
    sl_dbz_key(o, r, &s->kjson);
    sl_dbz_value(o, r, &s->vjson);
    *k = s->kjson.data, *kl = s->kjson.len, *v = s->vjson.data, *vl = s->vjson.len;
    if (*kl == 4 && !memcmp(*k, "null", 4)) *k = NULL, *kl = 0;
}

static prec *new_rec(redis_sink *s) {
    if (s->cur->nrecs == s->cur->caprecs) {
        s->cur->caprecs = s->cur->caprecs ? 2 * s->cur->caprecs : 1024;
        s->cur->recs = sl_realloc(s->cur->recs, s->cur->caprecs * sizeof *s->cur->recs);
    }
    prec *p = &s->cur->recs[s->cur->nrecs++];
    memset(p, 0, sizeof *p);
    p->a0 = p->a1 = (uint32_t)s->cur->nargs;
    return p;
}

static void what_of(const sl_record *r, const rinfo *ri, char *out, size_t outsz) {
    if (r->raw && r->raw->offset >= 0)
        snprintf(out, outsz, "record %s/%d@%lld", r->raw->topic ? r->raw->topic : "", (int)r->raw->partition,
                 (long long)r->raw->offset);
    else snprintf(out, outsz, "record of %s (op %c)", ri->ns, ri->op ? ri->op : '?');
}

/* Fields of a hash: a row's columns (NULLs left out; strings as their bytes, anything else as JSON text). */
static int push_fields(redis_sink *s, sl_val *row, char *err, size_t errsz) {
    sl_vheap *h = &s->vh;
    if (sl_v_kind(h, row) != SL_V_OBJ) {
        snprintf(err, errsz, "redis.value.format=hash needs a row or document (a JSON object)");
        return -1;
    }
    sl_v_force(h, row); /* a row of the record view: its members built */
    size_t at = s->cur->nargs;
    push_int(s, 0);
    int64_t nf = 0;
    for (uint32_t i = 0; i < row->n; i++) {
        sl_val *v = row->m[i].v;
        sl_vkind k = sl_v_kind(h, v);
        if (k == SL_V_NULL) continue;
        push_arg(s, row->m[i].name, row->m[i].len);
        if (k == SL_V_STR) {
            size_t n;
            const char *str = sl_v_strval(h, v, &n);
            push_arg(s, str, n);
        } else {
            sl_buf_reset(&s->tmp);
            sl_v_put_json(&s->tmp, v);
            push_arg(s, s->tmp.data, s->tmp.len);
        }
        nf++;
    }
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, nf);
    s->cur->args[at].p = arena_copy(s, b, (size_t)n);
    s->cur->args[at].n = (size_t)n;
    return 0;
}

/* One stream entry's fields (compact: key -> value; extended: key, value). */
static void push_entry(redis_sink *s, const char *k, size_t kl, const char *v, size_t vl) {
    const redis_conf *c = s->conf;
    if (!k) k = c->null_key, kl = strlen(k);
    if (!v) v = c->null_value, vl = strlen(v);
    if (c->message_format == 0) {
        push_int(s, 1);
        push_arg(s, k, kl);
        push_arg(s, v, vl);
    } else {
        push_int(s, 2);
        push_str(s, "key");
        push_arg(s, k, kl);
        push_str(s, "value");
        push_arg(s, v, vl);
    }
}

/* Renders record r into a pending operation. 0 (also for a record with nothing to do), or -1 with err (the
 * record cannot be written; *p: its entry, for the error's context). */
static int add_record(redis_sink *s, const sl_record *r, prec **pp, char *err, size_t errsz) {
    const redis_conf *c = s->conf;
    rinfo ri;
    memset(&ri, 0, sizeof ri);
    sl_vheap_reset(&s->vh);
    int rc = r->raw ? read_raw(s, r, &ri, err, errsz) : read_native(s, r, &ri);
    char what[600];
    what_of(r, &ri, what, sizeof what);
    prec *p = new_rec(s);
    *pp = p;
    p->what = arena_copy(s, what, strlen(what) + 1);
    p->topic = arena_copy(s, ri.topic ? ri.topic : "", ri.topic ? strlen(ri.topic) + 1 : 1);
    p->partition = r->raw ? r->raw->partition : -1;
    p->offset = r->raw ? r->raw->offset : -1;
    p->ts_ms = r->raw ? r->raw->ts_ms : r->ts_us / 1000;
    if (s->tolerate) {
        const char *k, *v;
        size_t kl, vl;
        kafka_texts(s, r, &k, &kl, &v, &vl);
        if (k) p->dkey = arena_copy(s, k, kl), p->dkey_len = (uint32_t)kl;
        if (v) p->dval = arena_copy(s, v, vl), p->dval_len = (uint32_t)vl;
    }
    if (rc < 0) return -1;
    if (!ri.op) { /* nothing for a key to do */
        s->cur->nrecs--;
        return 0;
    }
    int strategy;
    int64_t ttl_s;
    strategy_for(s, ri.ns, &strategy, &ttl_s);
    sl_buf_reset(&s->key);
    if (ri.op == 't') {
        if (!c->truncate_enabled || strategy == ST_STREAM) {
            SL_INFO("redis", "truncate of %s: keys kept (redis.truncate.enabled=false)", ri.ns);
            s->cur->nrecs--;
            return 0;
        }
        expand(s, c->key_format, &ri, NULL, true, &s->key);
        p->truncate = true;
        p->key = arena_copy(s, s->key.data, s->key.len);
        p->key_len = (uint32_t)s->key.len;
        return 0;
    }
    if (strategy == ST_STREAM) {
        expand(s, c->stream_key_format, &ri, NULL, false, &s->key);
    } else {
        if (!ri.key) {
            snprintf(err, errsz, "the record has no key (a table without a primary key, or a Kafka record without "
                                 "a key): %s cannot name its Redis key", c->key_format);
            return -1;
        }
        expand(s, c->key_format, &ri, ri.key, false, &s->key);
    }
    p->key = arena_copy(s, s->key.data, s->key.len);
    p->key_len = (uint32_t)s->key.len;
    char pos[8192]; /* a MongoDB resume token holds the document key */
    size_t pl = sl_record_order(r, pos, sizeof pos);
    char scope[600] = "";
    if (r->raw && r->raw->partition >= 0)
        snprintf(scope, sizeof scope, "%s/%d", r->raw->topic ? r->raw->topic : "", (int)r->raw->partition);
    p->perkey = r->snapshot != SL_SNAP_NONE;
    if (p->perkey && strategy == ST_STREAM) pl = 0; /* one stream, many rows at one position: appended as they come */
    p->scope = arena_copy(s, scope, strlen(scope) + 1);
    p->pos = arena_copy(s, pos, pl + 1);
    ((char *)p->pos)[pl] = 0;
    bool del = ri.op == 'd' || ri.row == NULL;
    switch (strategy) {
    case ST_STREAM: {
        const char *k, *v;
        size_t kl, vl;
        kafka_texts(s, r, &k, &kl, &v, &vl);
        p->op = 'X';
        push_int(s, c->stream_maxlen);
        bool tomb = !r->raw && r->op == SL_OP_DELETE && sl_ctx_core(s->ctx)->tombstones;
        push_int(s, tomb ? 2 : 1);
        push_entry(s, k, kl, v, vl);
        if (tomb) push_entry(s, k, kl, NULL, 0);
        break;
    }
    case ST_INVALIDATE:
        p->op = 'I';
        break;
    default:
        if (del) {
            p->op = 'D';
            break;
        }
        /* ttl: an update keeps what is left of the key's TTL */
        bool keep = strategy == ST_TTL && ri.op == 'u';
        p->ttl_ms = ttl_s * 1000;
        if (c->value_format == VF_HASH) {
            p->op = keep ? 'J' : 'H';
            if (push_fields(s, ri.row, err, errsz) < 0) {
                s->cur->nargs = p->a0;
                return -1;
            }
        } else {
            p->op = keep ? 'K' : 'S';
            sl_buf_reset(&s->val);
            size_t n;
            const char *str;
            if (r->raw && sl_v_kind(&s->vh, ri.row) == SL_V_STR && (str = sl_v_strval(&s->vh, ri.row, &n)))
                sl_buf_put(&s->val, str, n); /* a string value is written as its text (as the Kafka sink's SET) */
            else sl_v_put_json(&s->val, ri.row);
            push_arg(s, s->val.data, s->val.len);
        }
    }
    p->a1 = (uint32_t)s->cur->nargs;
    return 0;
}

/* Record p cannot be written (reason: why): sl_ctx_reject (errors.tolerance=none: -1 with errstr; all: logged,
 * counted, to the dead letter queue; 0). */
static int reject(redis_sink *s, const prec *p, const char *reason, char *errstr, size_t errsz) {
    sl_rejected r = {p->what, p->topic, p->partition, p->offset, p->ts_ms, p->dkey, p->dval, p->dkey_len,
                     p->dval_len, EXC_DATA, reason};
    return sl_ctx_reject(s->ctx, "redis", TASK_CLASS, &s->dlq, &r, errstr, errsz);
}

static int redis_write(void *sink, sl_batch *b, char *errstr, size_t errsz) {
    redis_sink *s = sink;
    for (int i = 0; i < b->n; i++) {
        const sl_record *r = &b->recs[i];
        if (r->op == SL_OP_HEARTBEAT || r->op == SL_OP_TX_BEGIN || r->op == SL_OP_TX_END || r->op == SL_OP_SCHEMA ||
            r->op == SL_OP_MESSAGE)
            continue;
        if (!r->raw && !r->table) continue;
        prec *p = NULL;
        char err[1024];
        if (add_record(s, r, &p, err, sizeof err) < 0) {
            if (reject(s, p, err, errstr, errsz) < 0) return -1;
            s->cur->nargs = p->a0;
            s->cur->nrecs--;
        }
    }
    return 0;
}

/* ---- flush ---- */

/* Memory back-pressure: waits while Redis uses redis.memory.threshold.percentage of maxmemory or more. 0, 1 (the
 * connection failed: retry), -1 (stopping). */
static int wait_for_memory(redis_sink *s, char *err, size_t errsz) {
    const redis_conf *c = s->conf;
    if (!c->mem_threshold) return 0;
    int64_t now = sl_mono_ms();
    if (!s->waiting && now - s->mem_checked_ms < 1000) return 0;
    for (;;) {
        s->mem_checked_ms = sl_mono_ms();
        const char *av[2] = {"INFO", "memory"};
        size_t al[2] = {4, 6};
        redisReply *r;
        int rc = command(s->rc, 2, av, al, &r, err, errsz);
        if (rc) return 1;
        unsigned long long used = 0, max = 0;
        const char *u = r->str ? strstr(r->str, "\nused_memory:") : NULL;
        const char *m = r->str ? strstr(r->str, "\nmaxmemory:") : NULL;
        if (u) used = strtoull(u + 13, NULL, 10);
        if (m) max = strtoull(m + 11, NULL, 10);
        freeReplyObject(r);
        bool over = max > 0 && used * 100 >= (unsigned long long)c->mem_threshold * max;
        if (!over) {
            if (s->waiting) {
                SL_INFO("redis", "memory below redis.memory.threshold.percentage again (used %llu of maxmemory %llu): "
                                 "writing on", used, max);
                sl_ctx_sink_waiting(s->ctx, false);
                s->waiting = false;
            }
            return 0;
        }
        if (!s->waiting) {
            SL_WARN("redis", "Redis uses %llu bytes of maxmemory %llu (%.0f%% >= redis.memory.threshold.percentage=%lld):"
                             " waiting until it falls below",
                    used, max, 100.0 * (double)used / (double)max, (long long)c->mem_threshold);
            sl_ctx_sink_waiting(s->ctx, true);
            s->waiting = true;
        }
        if (!pause_ms(s, 500)) return -1;
    }
}

/* Deletes the keys matching pattern, 1000 per round (SCAN + UNLINK). 0, 1 (retry), -1 fatal. */
static int truncate_keys(redis_sink *s, const prec *p, char *err, size_t errsz) {
    char cursor[32] = "0";
    uint64_t n = 0;
    do {
        const char *av[6] = {"SCAN", cursor, "MATCH", p->key, "COUNT", "1000"};
        size_t al[6] = {4, strlen(cursor), 5, p->key_len, 5, 4};
        redisReply *r;
        int rc = command(s->rc, 6, av, al, &r, err, errsz);
        if (rc) return rc;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            snprintf(err, errsz, "SCAN: unexpected reply");
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%.*s", (int)r->element[0]->len, r->element[0]->str);
        redisReply *keys = r->element[1];
        if (keys->elements) {
            const char **kv = sl_malloc((keys->elements + 1) * sizeof *kv);
            size_t *kl = sl_malloc((keys->elements + 1) * sizeof *kl);
            kv[0] = "UNLINK", kl[0] = 6;
            for (size_t i = 0; i < keys->elements; i++) kv[i + 1] = keys->element[i]->str, kl[i + 1] = keys->element[i]->len;
            redisReply *u;
            rc = command(s->rc, (int)keys->elements + 1, kv, kl, &u, err, errsz);
            sl_free(kv), sl_free(kl);
            if (rc) {
                freeReplyObject(r);
                return rc;
            }
            n += (uint64_t)keys->elements;
            freeReplyObject(u);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0"));
    SL_INFO("redis", "truncate: %llu keys matching %s deleted", (unsigned long long)n, p->key);
    return 0;
}

/* Appends one EVALSHA of records [from, to) (one kind, scope and TTL; with the offset when off_field is set). */
static void append_chunk(redis_sink *s, const run *u, size_t from, size_t to, const char *off_field,
                         const char *off_value) {
    size_t n = to - from;
    size_t argc = 3 + n + 2 + 15;
    for (size_t i = from; i < to; i++) argc += u->recs[i].a1 - u->recs[i].a0;
    const char **av = sl_malloc(argc * sizeof *av);
    size_t *al = sl_malloc(argc * sizeof *al);
    size_t k = 0;
    char nk[24], nn[24], ptl[24], guard[24], ttl[24];
    snprintf(nk, sizeof nk, "%zu", n + 1 + (off_field ? 1 : 0));
    snprintf(nn, sizeof nn, "%zu", n);
    snprintf(ptl, sizeof ptl, "%lld", (long long)s->conf->pos_ttl_s * 1000);
    snprintf(guard, sizeof guard, "%lld", (long long)s->conf->guard_ms);
    snprintf(ttl, sizeof ttl, "%lld", n ? (long long)u->recs[from].ttl_ms : 0);
    sl_buf *ops = &s->kjson, *pos = &s->vjson;
    sl_buf_reset(ops), sl_buf_reset(pos);
    const char *first = NULL, *last = NULL;
    for (size_t i = from; i < to; i++) {
        const prec *p = &u->recs[i];
        sl_buf_putc(ops, p->op);
        if (i > from) sl_buf_putc(pos, '\n');
        sl_buf_puts(pos, p->pos);
        if (*p->pos) {
            if (!first) first = p->pos;
            last = p->pos;
        }
    }
#define A(p_, n_) (av[k] = (p_), al[k++] = (n_))
    A("EVALSHA", 7);
    A(s->sha, strlen(s->sha));
    A(nk, strlen(nk));
    for (size_t i = from; i < to; i++) A(u->recs[i].key, u->recs[i].key_len);
    A(s->mark_key, strlen(s->mark_key));
    if (off_field) A(OFFSETS_KEY, strlen(OFFSETS_KEY));
    A(s->pos_prefix, strlen(s->pos_prefix));
    A(nn, strlen(nn));
    A(ptl, strlen(ptl));
    A(guard, strlen(guard));
    A(GUARD_PREFIX, strlen(GUARD_PREFIX));
    A(off_field ? off_field : "", off_field ? strlen(off_field) : 0);
    A(off_value ? off_value : "", off_value ? strlen(off_value) : 0);
    const char *fk = s->tolerate ? "" : s->fail_key;
    A(fk, strlen(fk));
    A(n && u->recs[from].perkey ? "k" : "l", 1);
    const char *sc = n ? u->recs[from].scope : "";
    A(sc, strlen(sc));
    A(ttl, strlen(ttl));
    A(ops->len ? ops->data : "", ops->len);
    A(pos->len ? pos->data : "", pos->len);
    A(first ? first : "", first ? strlen(first) : 0);
    A(last ? last : "", last ? strlen(last) : 0);
    for (size_t i = from; i < to; i++)
        for (uint32_t j = u->recs[i].a0; j < u->recs[i].a1; j++) A(u->args[j].p, u->args[j].n);
#undef A
    redisAppendCommandArgv(s->rc, (int)k, av, al);
    sl_free(av);
    sl_free(al);
}

/* A script's reply: counts, and the records Redis refused. 0, 1 (retry), -1 (a record failed under
 * errors.tolerance=none, or a fatal error). */
static int script_reply(redis_sink *s, const run *u, redisReply *r, size_t from, char *err, size_t errsz) {
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errsz, "EVALSHA: %.*s", (int)r->len, r->str);
        return transient_error(r->str) ? 1 : -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        snprintf(err, errsz, "EVALSHA: unexpected reply (type %d)", r->type);
        return -1;
    }
    uint64_t stale = (uint64_t)r->element[1]->integer;
    s->applied += (uint64_t)r->element[0]->integer;
    s->stale += stale;
    if (stale) sl_ctx_records_stale(s->ctx, stale);
    for (size_t i = 2; i + 1 < r->elements; i += 2) {
        size_t at = from + (size_t)r->element[i]->integer - 1;
        redisReply *m = r->element[i + 1];
        char reason[600];
        snprintf(reason, sizeof reason, "Redis refused it: %.*s", (int)m->len, m->str ? m->str : "");
        if (at < u->nrecs && reject(s, &u->recs[at], reason, err, errsz) < 0) return -1;
    }
    return 0;
}

/* Splits records [from, to) of u into chunks (batch_size records or 4 MiB of arguments, one kind, scope and TTL
 * each): their first records into *starts (sl_malloc'ed, nchunks + 1 entries, the last = to). */
static size_t chunks_of(redis_sink *s, const run *u, size_t from, size_t to, size_t **starts) {
    const size_t chunk = (size_t)s->conf->batch_size, max_bytes = 4u << 20;
    size_t n = 0, cap = 8;
    size_t *st = sl_malloc(cap * sizeof *st);
    for (size_t i = from; i < to;) {
        size_t j = i, bytes = 0;
        while (j < to && j - i < chunk && bytes < max_bytes && u->recs[j].perkey == u->recs[i].perkey &&
               u->recs[j].ttl_ms == u->recs[i].ttl_ms && !strcmp(u->recs[j].scope, u->recs[i].scope)) {
            for (uint32_t a = u->recs[j].a0; a < u->recs[j].a1; a++) bytes += u->args[a].n;
            j++;
        }
        if (n + 2 > cap) st = sl_realloc(st, (cap *= 2) * sizeof *st);
        st[n++] = i;
        i = j;
    }
    st[n] = to;
    *starts = st;
    return n;
}

/* Reads one reply (a connection error: 1 with err). */
static int read_reply(redis_sink *s, redisReply **out, char *err, size_t errsz) {
    void *r = NULL;
    if (redisGetReply(s->rc, &r) != REDIS_OK || !r) {
        snprintf(err, errsz, "%s", s->rc->errstr[0] ? s->rc->errstr : "connection lost");
        return 1;
    }
    *out = r;
    return 0;
}

/* Sends records [from, to) of u and waits for the replies; with off_field, in one MULTI/EXEC whose last script
 * writes the offset. 0, 1 (retry), -1. */
static int send_range(redis_sink *s, run *u, size_t from, size_t to, const char *off_field, const char *off_value,
                      char *err, size_t errsz) {
    size_t *starts;
    size_t nchunks = chunks_of(s, u, from, to, &starts);
    bool multi = off_field != NULL;
    int rc = 0;
    if (multi) redisAppendCommand(s->rc, "MULTI");
    for (size_t c = 0; c < nchunks; c++) {
        bool last = c + 1 == nchunks;
        append_chunk(s, u, starts[c], starts[c + 1], last ? off_field : NULL, last ? off_value : NULL);
    }
    if (multi && !nchunks) append_chunk(s, u, to, to, off_field, off_value); /* the offset alone */
    if (multi) redisAppendCommand(s->rc, "EXEC");
    size_t scripts = nchunks ? nchunks : multi ? 1 : 0, replies = scripts + (multi ? 2 : 0);
    redisReply **rs = sl_calloc(replies + 1, sizeof *rs);
    size_t got = 0;
    for (; got < replies && !rc; got++) rc = read_reply(s, &rs[got], err, errsz);
    if (rc) got--;
    if (!rc && multi) {
        redisReply *ex = rs[replies - 1];
        for (size_t c = 1; c + 1 < replies && !rc; c++)
            if (rs[c]->type == REDIS_REPLY_ERROR) { /* refused while queueing (NOSCRIPT, OOM): EXEC discards all */
                snprintf(err, errsz, "EVALSHA: %.*s", (int)rs[c]->len, rs[c]->str);
                rc = transient_error(rs[c]->str) ? 1 : -1;
            }
        if (!rc && ex->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errsz, "EXEC: %.*s", ex->type == REDIS_REPLY_ERROR ? (int)ex->len : 9,
                     ex->type == REDIS_REPLY_ERROR ? ex->str : "discarded");
            rc = ex->type == REDIS_REPLY_ERROR && !transient_error(ex->str) ? -1 : 1;
        }
        for (size_t c = 0; !rc && c < scripts && c < ex->elements; c++)
            rc = script_reply(s, u, ex->element[c], starts[c], err, errsz);
    } else if (!rc) {
        for (size_t c = 0; !rc && c < nchunks; c++) rc = script_reply(s, u, rs[c], starts[c], err, errsz);
    }
    for (size_t c = 0; c < got; c++) freeReplyObject(rs[c]);
    sl_free(rs);
    sl_free(starts);
    return rc;
}

/* u's records from `from` on (and the offset, when given), in order; truncates between the chunks around them. */
static int send_run(redis_sink *s, run *u, size_t from, const char *off_field, const char *off_value, char *err,
                    size_t errsz) {
    int rc = wait_for_memory(s, err, errsz);
    if (rc) return rc;
    for (size_t i = from; i < u->nrecs; i++) {
        if (!u->recs[i].truncate) continue;
        if (i > from && (rc = send_range(s, u, from, i, NULL, NULL, err, errsz)) != 0) return rc;
        if ((rc = truncate_keys(s, &u->recs[i], err, errsz)) != 0) return rc;
        from = i + 1;
    }
    if (from < u->nrecs || off_field) return send_range(s, u, from, u->nrecs, off_field, off_value, err, errsz);
    return 0;
}

static run *run_new(void) {
    run *u = sl_calloc(1, sizeof *u);
    sl_arena_init(&u->arena);
    return u;
}

static void run_clear(run *u) {
    u->nrecs = u->nargs = 0;
    sl_arena_reset(&u->arena);
    u->arena_bytes = 0;
    sl_free(u->starts);
    u->starts = NULL;
    u->nchunks = u->replies = 0;
}

static void run_free(run *u) {
    if (!u) return;
    sl_arena_free(&u->arena);
    sl_free(u->recs);
    sl_free(u->args);
    sl_free(u->starts);
    sl_free(u);
}

/* Connects when not connected: 0, 1 (retry), -1 (fatal: errstr set). */
static int ensure_connected(redis_sink *s, bool again, char *err, size_t errsz, char *errstr, size_t errstrsz) {
    if (s->rc && !s->rc->err) return 0;
    disconnect(s);
    int rc = dial(s->conf, &s->rc, s->sha, err, errsz);
    if (rc < 0) {
        snprintf(errstr, errstrsz, "redis sink: %s", err);
        sl_ctx_error_code(s->ctx, SL_E_SINK_UNAVAILABLE);
        return -1;
    }
    if (rc == 0 && again) SL_INFO("redis", "reconnected to %s:%d", s->conf->host, s->conf->port);
    return rc;
}

/* Sends u's records from `from` on with retries: a lost connection or a transient error reconnects, waits and sends
 * them again (the positions make that harmless). 0, or -1 with errstr. */
static int deliver(redis_sink *s, run *u, size_t from, const char *off_field, const char *off_value, char *errstr,
                   size_t errsz) {
    const redis_conf *c = s->conf;
    int64_t start = sl_mono_ms(), delay = c->retry_initial_ms;
    int tries = 0;
    char err[1024] = "";
    for (;;) {
        int rc = ensure_connected(s, tries > 0, err, sizeof err, errstr, errsz);
        if (rc < 0) return -1;
        if (rc == 0) rc = send_run(s, u, from, off_field, off_value, err, sizeof err);
        if (rc == 0) return 0;
        if (rc < 0) {
            if (!strncmp(err, "redis sink: ", 12)) { /* a record's failure: reject() said it and named its kind */
                snprintf(errstr, errsz, "%s", err);
                return -1;
            }
            snprintf(errstr, errsz, "redis sink: %s", sl_ctx_stopping(s->ctx) && !err[0] ? "stopping" : err);
            sl_ctx_error_code(s->ctx, SL_E_SINK_UNAVAILABLE);
            return -1;
        }
        if (!s->rc || s->rc->err || !strncmp(err, "EVALSHA: NOSCRIPT", 17) || !strncmp(err, "NOSCRIPT", 8))
            disconnect(s); /* else a busy server: the connection stays */
        tries++;
        if (c->retry_timeout_ms >= 0 && sl_mono_ms() - start + delay > c->retry_timeout_ms) {
            snprintf(errstr, errsz, "redis sink: %s (gave up after %d retries in %lld ms: redis.retry.timeout.ms)",
                     err, tries, (long long)(sl_mono_ms() - start));
            sl_ctx_error_code(s->ctx, SL_E_SINK_UNAVAILABLE);
            return -1;
        }
        SL_WARN("redis", "%s; retry %d in %lld ms", err, tries, (long long)delay);
        if (!pause_ms(s, delay)) {
            snprintf(errstr, errsz, "redis sink: stopped while retrying: %s", err);
            sl_ctx_error_code(s->ctx, SL_E_SINK_UNAVAILABLE);
            return -1;
        }
        delay = delay * 2 > c->retry_max_ms ? c->retry_max_ms : delay * 2;
    }
}

/* ---- pipelined delivery (mark / acked) ---- */

#define MAX_FLYING 8

/* The oldest run in flight is answered for: acked, with the runs behind it that wait for nothing (no chunks). */
static void fly_pop(redis_sink *s) {
    do {
        run *u = s->fly[0];
        s->acked_ticket = u->ticket;
        memmove(s->fly, s->fly + 1, (s->nfly - 1) * sizeof *s->fly);
        s->nfly--;
        run_free(u);
    } while (s->nfly && s->fly[0]->replies == s->fly[0]->nchunks);
}

/* A reply of the oldest run in flight. 0, 1 (retry), -1. */
static int take_reply(redis_sink *s, redisReply *r, char *err, size_t errsz) {
    run *u = s->fly[0];
    int rc = script_reply(s, u, r, u->starts[u->replies], err, errsz);
    freeReplyObject(r);
    if (rc) return rc;
    if (++u->replies == u->nchunks) fly_pop(s);
    return 0;
}

/* After a failure: every run in flight sent again from its first unanswered chunk, synchronously, with retries. */
static int resend_flying(redis_sink *s, const char *why, char *errstr, size_t errsz) {
    SL_WARN("redis", "%s: sending the %zu runs awaiting replies again", why, s->nfly);
    disconnect(s);
    while (s->nfly) {
        run *u = s->fly[0];
        if (deliver(s, u, u->nchunks ? u->starts[u->replies] : u->nrecs, NULL, NULL, errstr, errsz) < 0) return -1;
        fly_pop(s);
    }
    return 0;
}

static int redis_acked(void *sink, int wait_ms, uint64_t *ticket, char *errstr, size_t errsz);

/* Waits for every run in flight (then all is acked). */
static int drain(redis_sink *s, char *errstr, size_t errsz) {
    while (s->nfly) {
        uint64_t t;
        if (redis_acked(s, 1000, &t, errstr, errsz) < 0) return -1;
    }
    return 0;
}

/* Closes what write() rendered since the last mark under a ticket and sends it without waiting for the replies;
 * 0 when it cannot (too many runs in flight, a truncate, no connection): the runtime then flushes. */
static uint64_t redis_mark(void *sink) {
    redis_sink *s = sink;
    run *u = s->cur;
    if (s->nfly >= MAX_FLYING) return 0;
    for (size_t i = 0; i < u->nrecs; i++)
        if (u->recs[i].truncate) return 0;
    char err[1024], e2[1024];
    if (u->nrecs) {
        /* a connection lost under runs in flight is acked()'s to mend (it sends them again); the memory check
         * (once a second) runs a command of its own: the replies in flight are taken first */
        if (s->nfly && (!s->rc || s->rc->err)) return 0;
        if (ensure_connected(s, true, err, sizeof err, e2, sizeof e2) != 0) return 0;
        if (s->conf->mem_threshold && (s->waiting || sl_mono_ms() - s->mem_checked_ms >= 1000) &&
            (drain(s, e2, sizeof e2) < 0 || wait_for_memory(s, err, sizeof err)))
            return 0;
    }
    u->nchunks = chunks_of(s, u, 0, u->nrecs, &u->starts);
    for (size_t c = 0; c < u->nchunks; c++) append_chunk(s, u, u->starts[c], u->starts[c + 1], NULL, NULL);
    int done = 0;
    while (u->nchunks && !done && s->rc && !s->rc->err)
        if (redisBufferWrite(s->rc, &done) != REDIS_OK) break; /* acked() sees the error and sends again */
    uint64_t ticket = u->ticket = ++s->next_ticket;
    if (s->nfly == s->capfly) s->fly = sl_realloc(s->fly, (s->capfly = s->capfly ? 2 * s->capfly : 8) * sizeof *s->fly);
    s->fly[s->nfly++] = u;
    s->cur = run_new();
    if (s->fly[0]->replies == s->fly[0]->nchunks) fly_pop(s); /* nothing to wait for (u may be freed) */
    return ticket;
}

static int redis_acked(void *sink, int wait_ms, uint64_t *ticket, char *errstr, size_t errsz) {
    redis_sink *s = sink;
    char err[1024];
    int64_t deadline = sl_mono_ms() + wait_ms;
    while (s->nfly) {
        if (!s->rc || s->rc->err) {
            if (resend_flying(s, s->rc ? s->rc->errstr : "not connected", errstr, errsz) < 0) return -1;
            break;
        }
        void *r = NULL;
        if (redisGetReplyFromReader(s->rc, &r) != REDIS_OK) {
            if (resend_flying(s, s->rc->errstr, errstr, errsz) < 0) return -1;
            break;
        }
        if (r) {
            int rc = take_reply(s, r, err, sizeof err);
            if (rc > 0 && resend_flying(s, err, errstr, errsz) < 0) return -1;
            if (rc < 0) {
                if (!strncmp(err, "redis sink: ", 12)) snprintf(errstr, errsz, "%s", err);
                else snprintf(errstr, errsz, "redis sink: %s", err), sl_ctx_error_code(s->ctx, SL_E_SINK_UNAVAILABLE);
                return -1;
            }
            continue;
        }
        int left = (int)(deadline - sl_mono_ms());
        struct pollfd pfd = {s->rc->fd, POLLIN, 0};
        if (left < 0 || poll(&pfd, 1, left) <= 0) break; /* nothing more for now */
        if (redisBufferRead(s->rc) != REDIS_OK && resend_flying(s, s->rc->errstr, errstr, errsz) < 0) return -1;
    }
    *ticket = s->acked_ticket;
    return 0;
}

static int redis_flush(void *sink, char *errstr, size_t errsz) {
    redis_sink *s = sink;
    errstr[0] = 0;
    if (drain(s, errstr, errsz) < 0) return -1;
    if (!s->cur->nrecs) return 0;
    if (deliver(s, s->cur, 0, NULL, NULL, errstr, errsz) < 0) return -1;
    run_clear(s->cur);
    return 0;
}

/* The offsets hash's field of the connector's partition: Kafka Connect's offset key, ["<name>",<partition>]. */
static void offset_field(const char *connector, const char *partition, sl_buf *out) {
    sl_buf_putc(out, '[');
    sl_buf_put_json_str(out, connector, strlen(connector));
    sl_buf_putc(out, ',');
    sl_buf_puts(out, partition);
    sl_buf_putc(out, ']');
}

static int redis_commit(void *sink, const char *partition, const char *offset, char *errstr, size_t errsz) {
    redis_sink *s = sink;
    errstr[0] = 0;
    if (!offset) return redis_flush(sink, errstr, errsz);
    if (drain(s, errstr, errsz) < 0) return -1;
    sl_buf_reset(&s->scratch);
    offset_field(sl_ctx_name(s->ctx), partition, &s->scratch);
    if (deliver(s, s->cur, 0, sl_buf_cstr(&s->scratch), offset, errstr, errsz) < 0) return -1;
    run_clear(s->cur);
    return 0;
}

static int redis_stored_offset(void *sink, const char *connector, const char *partition, char **offset, char *errstr,
                               size_t errsz) {
    redis_sink *s = sink;
    *offset = NULL;
    redisContext *rc = NULL;
    char err[512];
    int r = dial(s->conf, &rc, NULL, err, sizeof err);
    if (r == 0) {
        sl_buf f;
        sl_buf_init(&f);
        offset_field(connector, partition, &f);
        const char *av[3] = {"HGET", OFFSETS_KEY, sl_buf_cstr(&f)};
        size_t al[3] = {4, strlen(OFFSETS_KEY), f.len};
        redisReply *rep;
        r = command(rc, 3, av, al, &rep, err, sizeof err);
        if (r == 0) {
            if (rep->type == REDIS_REPLY_STRING) *offset = sl_strndup(rep->str, rep->len);
            freeReplyObject(rep);
        }
        sl_buf_free(&f);
    }
    if (rc) redisFree(rc);
    if (r) snprintf(errstr, errsz, "redis sink: reading the stored offset: %s", err);
    return r ? -1 : 0;
}

static size_t run_bytes(const run *u) {
    return u->arena_bytes + u->nargs * sizeof(arg) + u->nrecs * sizeof(prec);
}

static size_t redis_held(void *sink) {
    redis_sink *s = sink;
    size_t n = run_bytes(s->cur);
    for (size_t i = 0; i < s->nfly; i++) n += run_bytes(s->fly[i]);
    return n;
}

static int redis_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    redis_sink *s = sl_calloc(1, sizeof *s);
    *out = s;
    s->ctx = ctx;
    s->conf = settings;
    s->cur = run_new();
    sl_vheap_init(&s->vh);
    sl_buf_init(&s->scratch), sl_buf_init(&s->key), sl_buf_init(&s->val), sl_buf_init(&s->tmp);
    sl_buf_init(&s->kjson), sl_buf_init(&s->vjson);
    s->tolerate = sl_ctx_core(ctx)->err_tolerance == SL_TOL_ALL;
    snprintf(s->pos_prefix, sizeof s->pos_prefix, POS_PREFIX, sl_ctx_name(ctx));
    snprintf(s->fail_key, sizeof s->fail_key, "__sluice:%s:failed", sl_ctx_name(ctx));
    snprintf(s->mark_key, sizeof s->mark_key, "__sluice:%s:hwm", sl_ctx_name(ctx));
    const sl_config *cfg = sl_ctx_config(ctx);
    char err[512];
    for (int i = 0; cfg && i < cfg->n; i++) ns_key(cfg->kv[i].key, cfg->kv[i].value, &s->rules, err, sizeof err);
    if (dial(s->conf, &s->rc, s->sha, err, sizeof err) != 0) {
        snprintf(errstr, errsz, "redis sink: %s", err);
        sl_ctx_error_code(ctx, SL_E_SINK_UNAVAILABLE);
        return -1;
    }
    if (!s->tolerate) { /* a refused record's flag from a run that stopped on it: this run starts afresh */
        const char *av[2] = {"DEL", s->fail_key};
        size_t al[2] = {3, strlen(s->fail_key)};
        redisReply *r;
        if (command(s->rc, 2, av, al, &r, err, sizeof err) == 0) freeReplyObject(r);
    }
    SL_INFO("redis", "connected to %s:%d database %d (strategy %s, value format %s)", s->conf->host, s->conf->port,
            s->conf->db, s->conf->strategy == ST_UPDATE ? "update" : s->conf->strategy == ST_INVALIDATE ? "invalidate"
                         : s->conf->strategy == ST_TTL ? "ttl" : "stream",
            s->conf->value_format == VF_HASH ? "hash" : "json");
    return 0;
}

static void redis_close(void *sink) {
    redis_sink *s = sink;
    if (!s) return;
    if (s->waiting) sl_ctx_sink_waiting(s->ctx, false);
    if (s->stale || s->applied)
        SL_INFO("redis", "closed: %llu records applied, %llu skipped as older than what their key holds",
                (unsigned long long)s->applied, (unsigned long long)s->stale);
    disconnect(s);
    sl_kafka_dlq_close(s->dlq);
    run_free(s->cur);
    for (size_t i = 0; i < s->nfly; i++) run_free(s->fly[i]);
    sl_free(s->fly);
    sl_vheap_free(&s->vh);
    sl_buf_free(&s->scratch), sl_buf_free(&s->key), sl_buf_free(&s->val), sl_buf_free(&s->tmp);
    sl_buf_free(&s->kjson), sl_buf_free(&s->vjson);
    for (int i = 0; i < s->rules.n; i++) sl_free(s->rules.v[i].ns);
    sl_free(s->rules.v);
    sl_free(s);
}

const sl_sink_ops sl_redis_sink_ops = {
    .name = "redis",
    .aliases = "com.redis.kafka.connect.RedisSinkConnector|io.debezium.server.redis.RedisStreamChangeConsumer",
    .doc = "Keeps Redis keys in step with the source (update, invalidate, ttl) or appends events to streams; every "
           "write goes through one script that skips changes older than what the key holds.",
    .props = redis_props,
    .settings_size = sizeof(redis_conf),
    .check = redis_check,
    .open = redis_open,
    .write = redis_write,
    .flush = redis_flush,
    .close = redis_close,
    .commit = redis_commit,
    .stored_offset = redis_stored_offset,
    .held_bytes = redis_held,
    .mark = redis_mark,
    .acked = redis_acked,
};
