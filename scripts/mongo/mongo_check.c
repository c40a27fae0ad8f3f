/*
 * mongo_check - probes the MongoDB test server (scripts/services.sh start
 * mongo) through the official C driver, the one sluice uses, and prints what
 * works: one JSON object per line, one line per check.
 *
 * Not part of the product build.  tests/it/test_mongo_rig.py compiles it with
 *   cc -o mongo_check scripts/mongo/mongo_check.c $(pkg-config --cflags --libs libmongoc-1.0)
 * and runs
 *   mongo_check URI PREFIX [CHECK...]
 * URI defaults to $SLUICE_MONGO_URI when given as "-"; PREFIX names the
 * database ("<PREFIX>db") and collections the checks use (dropped first).
 * With no CHECK names every check runs.
 *
 * Every line: {"check": NAME, "ok": true|false, ...}.  "ok" means the driver
 * calls succeeded, not that the server behaved like MongoDB: the test
 * decides that from the fields.  Failed calls carry
 *   "error": {"domain", "code", "message", "reply"}.
 * Change-stream checks carry "events" (the documents mongoc_change_stream_next
 * returned, as relaxed extended JSON), "tokens" (mongoc_change_stream_get_resume_token
 * after each event) and "aggregate" (the aggregate command the driver sent,
 * captured with APM, so that what reached the server is on record).
 * Exit status: 0 when every check ran (whatever it found), 1 when the server
 * could not be reached, 2 usage.
 */
#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static mongoc_client_t *client;
static mongoc_database_t *db;
static char db_name[128];
static char prefix[96];
static bson_t last_aggregate; /* last "aggregate" command started (APM) */
static int64_t last_cursor_id;  /* cursor id of the last aggregate reply (APM) */
static int aggregates_sent;     /* "aggregate" commands started (APM) */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_succeeded(const mongoc_apm_command_succeeded_t *ev)
{
    bson_iter_t it;
    if (strcmp(mongoc_apm_command_succeeded_get_command_name(ev), "aggregate") == 0 &&
        bson_iter_init(&it, mongoc_apm_command_succeeded_get_reply(ev)) &&
        bson_iter_find_descendant(&it, "cursor.id", &it) && BSON_ITER_HOLDS_INT64(&it))
        last_cursor_id = bson_iter_int64(&it);
}

static void on_started(const mongoc_apm_command_started_t *ev)
{
    if (strcmp(mongoc_apm_command_started_get_command_name(ev), "aggregate") == 0) {
        aggregates_sent++;
        bson_reinit(&last_aggregate);
        bson_copy_to_excluding_noinit(mongoc_apm_command_started_get_command(ev), &last_aggregate, "lsid",
                                      "$clusterTime", (char *)NULL);
    }
}

/* ------------------------------------------------------------------ output */

static void put_error(bson_t *out, const bson_error_t *err, const bson_t *reply)
{
    bson_t e;
    BSON_APPEND_DOCUMENT_BEGIN(out, "error", &e);
    BSON_APPEND_INT32(&e, "domain", (int32_t)err->domain);
    BSON_APPEND_INT32(&e, "code", (int32_t)err->code);
    BSON_APPEND_UTF8(&e, "message", err->message);
    if (reply && !bson_empty(reply))
        BSON_APPEND_DOCUMENT(&e, "reply", reply);
    bson_append_document_end(out, &e);
}

static void emit(bson_t *out)
{
    char *json = bson_as_relaxed_extended_json(out, NULL);
    printf("%s\n", json);
    fflush(stdout);
    bson_free(json);
    bson_destroy(out);
}

static bson_t *begin(const char *check)
{
    bson_t *out = bson_new();
    BSON_APPEND_UTF8(out, "check", check);
    return out;
}

static void finish(bson_t *out, bool ok)
{
    BSON_APPEND_BOOL(out, "ok", ok);
    emit(out);
}

/* ------------------------------------------------------------------- utils */

static bson_t *js(const char *json)
{
    bson_error_t err;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
    if (!b) {
        fprintf(stderr, "mongo_check: bad JSON %s: %s\n", json, err.message);
        exit(2);
    }
    return b;
}

static mongoc_collection_t *fresh_collection(const char *suffix)
{
    char name[160];
    snprintf(name, sizeof name, "%s_%s", prefix, suffix);
    mongoc_collection_t *c = mongoc_database_get_collection(db, name);
    bson_error_t err;
    mongoc_collection_drop(c, &err); /* "ns not found" is fine */
    return c;
}

/* A write; on failure records {"op", "error"} in the "write_errors" array. */
typedef struct {
    bson_t *arr;
    int n;
} werrs_t;

static void werr(werrs_t *w, const char *op, const bson_error_t *err, const bson_t *reply)
{
    char k[16];
    bson_t d;
    snprintf(k, sizeof k, "%d", w->n++);
    BSON_APPEND_DOCUMENT_BEGIN(w->arr, k, &d);
    BSON_APPEND_UTF8(&d, "op", op);
    put_error(&d, err, reply);
    bson_append_document_end(w->arr, &d);
}

static void w_insert(werrs_t *w, mongoc_collection_t *c, const char *doc)
{
    bson_t *d = js(doc), reply;
    bson_error_t err;
    if (!mongoc_collection_insert_one(c, d, NULL, &reply, &err))
        werr(w, doc, &err, &reply);
    bson_destroy(&reply);
    bson_destroy(d);
}

static void w_update(werrs_t *w, mongoc_collection_t *c, const char *sel, const char *upd, const char *opts,
                     int many)
{
    bson_t *s = js(sel), *u = js(upd), *o = opts ? js(opts) : NULL, reply;
    bson_error_t err;
    bool ok = many ? mongoc_collection_update_many(c, s, u, o, &reply, &err)
                   : mongoc_collection_update_one(c, s, u, o, &reply, &err);
    if (!ok)
        werr(w, upd, &err, &reply);
    bson_destroy(&reply);
    bson_destroy(s);
    bson_destroy(u);
    if (o)
        bson_destroy(o);
}

static void w_replace(werrs_t *w, mongoc_collection_t *c, const char *sel, const char *doc, const char *opts)
{
    bson_t *s = js(sel), *d = js(doc), *o = opts ? js(opts) : NULL, reply;
    bson_error_t err;
    if (!mongoc_collection_replace_one(c, s, d, o, &reply, &err))
        werr(w, doc, &err, &reply);
    bson_destroy(&reply);
    bson_destroy(s);
    bson_destroy(d);
    if (o)
        bson_destroy(o);
}

static void w_delete(werrs_t *w, mongoc_collection_t *c, const char *sel, int many)
{
    bson_t *s = js(sel), reply;
    bson_error_t err;
    bool ok = many ? mongoc_collection_delete_many(c, s, NULL, &reply, &err)
                   : mongoc_collection_delete_one(c, s, NULL, &reply, &err);
    if (!ok)
        werr(w, sel, &err, &reply);
    bson_destroy(&reply);
    bson_destroy(s);
}

/* ---------------------------------------------------------- change streams */

typedef struct {
    mongoc_change_stream_t *cs;
    bson_t events, tokens;
    int n;
    bool failed; /* the stream reported an error (recorded in out) */
} stream_t;

/* Opens a stream (kind 'c' collection, 'd' database, 'k' client/cluster)
 * and records the initial resume token the driver holds (MongoDB >= 4.0.7
 * sends a postBatchResumeToken with every batch, even an empty one). */
static void s_open(stream_t *s, char kind, mongoc_collection_t *c, const char *pipeline, const char *opts)
{
    bson_t *p = js(pipeline ? pipeline : "{\"pipeline\": []}"), *o = js(opts ? opts : "{}");
    memset(s, 0, sizeof *s);
    bson_init(&s->events);
    bson_init(&s->tokens);
    bson_reinit(&last_aggregate);
    if (kind == 'c')
        s->cs = mongoc_collection_watch(c, p, o);
    else if (kind == 'd')
        s->cs = mongoc_database_watch(db, p, o);
    else
        s->cs = mongoc_client_watch(client, p, o);
    bson_destroy(p);
    bson_destroy(o);
}

/* Reads events until `want` arrived (then lingers `linger_ms` for extra
 * ones) or `timeout_ms` passed, or the stream fails. */
static void s_read(stream_t *s, int want, int timeout_ms, int linger_ms)
{
    int64_t end = now_ms() + timeout_ms, linger_end = -1;
    const bson_t *doc;
    bson_error_t err;
    const bson_t *edoc;
    for (;;) {
        if (mongoc_change_stream_next(s->cs, &doc)) {
            char k[16];
            snprintf(k, sizeof k, "%d", s->n++);
            BSON_APPEND_DOCUMENT(&s->events, k, doc);
            const bson_t *tok = mongoc_change_stream_get_resume_token(s->cs);
            if (tok)
                BSON_APPEND_DOCUMENT(&s->tokens, k, tok);
            else
                BSON_APPEND_NULL(&s->tokens, k);
            if (s->n >= want && linger_end < 0)
                linger_end = now_ms() + linger_ms;
            continue;
        }
        if (mongoc_change_stream_error_document(s->cs, &err, &edoc)) {
            s->failed = true;
            return;
        }
        int64_t t = now_ms();
        if (t >= end || (linger_end >= 0 && t >= linger_end))
            return;
        usleep(20 * 1000);
    }
}

/* Appends events/tokens/aggregate (and the error, if any) to out; frees s. */
static bool s_close(stream_t *s, bson_t *out)
{
    bson_error_t err;
    const bson_t *edoc = NULL;
    bool ok = true;
    BSON_APPEND_DOCUMENT(out, "aggregate", &last_aggregate);
    if (s->cs && mongoc_change_stream_error_document(s->cs, &err, &edoc)) {
        put_error(out, &err, edoc);
        ok = false;
    }
    BSON_APPEND_ARRAY(out, "events", &s->events);
    BSON_APPEND_ARRAY(out, "tokens", &s->tokens);
    bson_destroy(&s->events);
    bson_destroy(&s->tokens);
    mongoc_change_stream_destroy(s->cs);
    s->cs = NULL;
    return ok;
}

/* True when opening the stream failed: the watch functions run the
 * aggregate at once, and its error sticks to the stream (s_close records it). */
static bool s_open_failed(stream_t *s)
{
    bson_error_t err;
    const bson_t *edoc;
    return mongoc_change_stream_error_document(s->cs, &err, &edoc);
}

static void put_token(bson_t *out, const char *key, mongoc_change_stream_t *cs)
{
    const bson_t *tok = mongoc_change_stream_get_resume_token(cs);
    if (tok)
        BSON_APPEND_DOCUMENT(out, key, tok);
    else
        BSON_APPEND_NULL(out, key);
}

/* ------------------------------------------------------------------ checks */

/* The handshake, hello, ping, buildInfo, replSetGetStatus. */
static bool check_server(void)
{
    bson_t *out = begin("server");
    const char *cmds[] = {"ping", "hello", "isMaster", "buildInfo", "replSetGetStatus", NULL};
    bool ok = true;
    for (int i = 0; cmds[i]; i++) {
        bson_t cmd = BSON_INITIALIZER, reply, sub;
        bson_error_t err;
        BSON_APPEND_INT32(&cmd, cmds[i], 1);
        bool r = mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &err);
        BSON_APPEND_DOCUMENT_BEGIN(out, cmds[i], &sub);
        BSON_APPEND_BOOL(&sub, "ok", r);
        if (r)
            BSON_APPEND_DOCUMENT(&sub, "reply", &reply);
        else
            put_error(&sub, &err, &reply);
        bson_append_document_end(out, &sub);
        if (!r && strcmp(cmds[i], "ping") == 0)
            ok = false;
        bson_destroy(&reply);
        bson_destroy(&cmd);
    }
    /* What the driver's topology made of the server. */
    bson_error_t serr;
    mongoc_server_description_t *sd = mongoc_client_select_server(client, true, NULL, &serr);
    if (sd) {
        BSON_APPEND_UTF8(out, "server_type", mongoc_server_description_type(sd));
        mongoc_server_description_destroy(sd);
    }
    finish(out, ok);
    return ok;
}

/* The main stream: fullDocument=updateLookup, insert/update/replace/delete.
 * Its events and tokens feed the resume checks. */
static bson_t main_events;
static bson_t main_tokens;
static int main_n;

static void check_update_lookup(void)
{
    bson_t *out = begin("update_lookup");
    mongoc_collection_t *c = fresh_collection("main");
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    s_open(&s, 'c', c, NULL, "{\"fullDocument\": \"updateLookup\"}");
    bool open_failed = s_open_failed(&s);
    put_token(out, "initial_token", s.cs);
    /* An idle next() with maxAwaitTimeMS: does the server wait (MongoDB does)? */
    if (!open_failed) {
        const bson_t *doc;
        int64_t t0 = now_ms();
        bool got = mongoc_change_stream_next(s.cs, &doc);
        BSON_APPEND_INT64(out, "idle_next_ms", now_ms() - t0);
        BSON_APPEND_BOOL(out, "idle_next_got_event", got);
    }
    /* 6 events; documents 1 and 2 still exist when the events are read, so
     * updateLookup has something to find. */
    w_insert(&w, c, "{\"_id\": 1, \"name\": \"alice\", \"n\": 1, \"tags\": [\"a\", \"b\"]}");
    w_insert(&w, c, "{\"_id\": 2, \"name\": \"bob\", \"n\": 2}");
    w_update(&w, c, "{\"_id\": 1}", "{\"$set\": {\"n\": 10}, \"$unset\": {\"name\": \"\"}}", NULL, 0);
    w_replace(&w, c, "{\"_id\": 2}", "{\"_id\": 2, \"name\": \"bobby\", \"n\": 20}", NULL);
    w_insert(&w, c, "{\"_id\": 3, \"name\": \"carol\"}");
    w_delete(&w, c, "{\"_id\": 3}", 0);
    if (!open_failed)
        s_read(&s, 6, 5000, 300);
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    put_token(out, "final_token", s.cs);
    /* keep a copy for the resume checks */
    bson_destroy(&main_events);
    bson_destroy(&main_tokens);
    bson_copy_to(&s.events, &main_events);
    bson_copy_to(&s.tokens, &main_tokens);
    main_n = s.n;
    bool ok = s_close(&s, out) && w.n == 0;
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* Default fullDocument: what does an update event carry? */
static void check_default(void)
{
    bson_t *out = begin("default_full_document");
    mongoc_collection_t *c = fresh_collection("default");
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    s_open(&s, 'c', c, NULL, NULL);
    bool open_failed = s_open_failed(&s);
    w_insert(&w, c, "{\"_id\": \"k1\", \"a\": 1, \"b\": {\"c\": 1}}");
    w_update(&w, c, "{\"_id\": \"k1\"}", "{\"$set\": {\"a\": 2, \"b.c\": 2}, \"$inc\": {\"n\": 1}}", NULL, 0);
    w_update(&w, c, "{\"_id\": \"k1\"}", "[{\"$set\": {\"p\": \"pipeline\"}}]", NULL, 0);
    w_replace(&w, c, "{\"_id\": \"k1\"}", "{\"x\": 1}", NULL);
    w_delete(&w, c, "{\"_id\": \"k1\"}", 0);
    if (!open_failed)
        s_read(&s, 5, 2000, 300);
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* Reopens the main collection's stream from event `from` of the main check,
 * with `how` = resumeAfter | startAfter | startAtOperationTime. */
static void check_resume(const char *check, const char *how, int from)
{
    bson_t *out = begin(check);
    bson_iter_t it, ev;
    char k[16];
    snprintf(k, sizeof k, "%d", from);
    BSON_APPEND_INT32(out, "from_event", from);
    if (main_n <= from) {
        BSON_APPEND_UTF8(out, "skipped", "the update_lookup check produced too few events");
        finish(out, false);
        return;
    }
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&opts, "fullDocument", "updateLookup");
    if (strcmp(how, "startAtOperationTime") == 0) {
        uint32_t t = 0, i = 0;
        if (bson_iter_init_find(&it, &main_events, k) && BSON_ITER_HOLDS_DOCUMENT(&it) &&
            bson_iter_recurse(&it, &ev) && bson_iter_find(&ev, "clusterTime") && BSON_ITER_HOLDS_TIMESTAMP(&ev))
            bson_iter_timestamp(&ev, &t, &i);
        BSON_APPEND_TIMESTAMP(&opts, "startAtOperationTime", t, i);
        BSON_APPEND_TIMESTAMP(out, "start_at", t, i);
    } else {
        uint32_t len;
        const uint8_t *data;
        bson_t tok;
        if (!(bson_iter_init_find(&it, &main_tokens, k) && BSON_ITER_HOLDS_DOCUMENT(&it))) {
            BSON_APPEND_UTF8(out, "skipped", "no resume token recorded for that event");
            bson_destroy(&opts);
            finish(out, false);
            return;
        }
        bson_iter_document(&it, &len, &data);
        bson_init_static(&tok, data, len);
        BSON_APPEND_DOCUMENT(&opts, how, &tok);
        BSON_APPEND_DOCUMENT(out, "token", &tok);
    }
    char name[160];
    snprintf(name, sizeof name, "%s_main", prefix);
    mongoc_collection_t *c = mongoc_database_get_collection(db, name);
    stream_t s;
    char *oj = bson_as_canonical_extended_json(&opts, NULL);
    s_open(&s, 'c', c, NULL, oj);
    bson_free(oj);
    bson_destroy(&opts);
    if (!s_open_failed(&s))
        /* MongoDB: resumeAfter/startAfter k gives the events after k,
         * startAtOperationTime of k's clusterTime gives k and the rest.
         * Linger for extra (wrong) ones. */
        s_read(&s, strcmp(how, "startAtOperationTime") == 0 ? main_n - from : main_n - from - 1, 2000, 500);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

static void check_bad_token(void)
{
    bson_t *out = begin("resume_after_bad_token");
    mongoc_collection_t *c = fresh_collection("badtoken");
    stream_t s;
    s_open(&s, 'c', c, NULL, "{\"resumeAfter\": {\"_data\": \"not-a-token\"}}");
    if (!s_open_failed(&s))
        s_read(&s, 1, 500, 0);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* A token far in the future / from a previous server life. */
static void check_future_token(void)
{
    bson_t *out = begin("resume_after_unknown_token");
    mongoc_collection_t *c = fresh_collection("futuretoken");
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    s_open(&s, 'c', c, NULL, "{\"resumeAfter\": {\"_data\": \"7fffffff00000001\"}}");
    bool open_failed = s_open_failed(&s);
    w_insert(&w, c, "{\"_id\": 1}");
    if (!open_failed)
        s_read(&s, 1, 1000, 0);
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* Pre-images (MongoDB 6.0): fullDocumentBeforeChange, and the 6.0 values of
 * fullDocument (whenAvailable/required). */
static void check_option(const char *check, const char *suffix, const char *opts)
{
    bson_t *out = begin(check);
    mongoc_collection_t *c = fresh_collection(suffix);
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    /* MongoDB needs changeStreamPreAndPostImages on the collection first. */
    {
        bson_t cmd = BSON_INITIALIZER, reply, sub, en;
        bson_error_t err;
        char name[160];
        snprintf(name, sizeof name, "%s_%s", prefix, suffix);
        w_insert(&w, c, "{\"_id\": 0}");
        BSON_APPEND_UTF8(&cmd, "collMod", name);
        BSON_APPEND_DOCUMENT_BEGIN(&cmd, "changeStreamPreAndPostImages", &en);
        BSON_APPEND_BOOL(&en, "enabled", true);
        bson_append_document_end(&cmd, &en);
        bool r = mongoc_database_command_simple(db, &cmd, NULL, &reply, &err);
        BSON_APPEND_DOCUMENT_BEGIN(out, "collMod", &sub);
        BSON_APPEND_BOOL(&sub, "ok", r);
        if (!r)
            put_error(&sub, &err, &reply);
        bson_append_document_end(out, &sub);
        bson_destroy(&reply);
        bson_destroy(&cmd);
    }
    s_open(&s, 'c', c, NULL, opts);
    bool open_failed = s_open_failed(&s);
    w_insert(&w, c, "{\"_id\": 1, \"a\": 1}");
    w_update(&w, c, "{\"_id\": 1}", "{\"$set\": {\"a\": 2}}", NULL, 0);
    w_delete(&w, c, "{\"_id\": 1}", 0);
    if (!open_failed)
        s_read(&s, 3, 2000, 300);
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* A $match stage after $changeStream (server-side filtering). */
static void check_pipeline(void)
{
    bson_t *out = begin("pipeline_match");
    mongoc_collection_t *c = fresh_collection("pipe");
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    s_open(&s, 'c', c, "{\"pipeline\": [{\"$match\": {\"operationType\": {\"$in\": [\"insert\", \"delete\"]}}}]}",
           NULL);
    bool open_failed = s_open_failed(&s);
    w_insert(&w, c, "{\"_id\": 1, \"a\": 1}");
    w_update(&w, c, "{\"_id\": 1}", "{\"$set\": {\"a\": 2}}", NULL, 0);
    w_delete(&w, c, "{\"_id\": 1}", 0);
    if (!open_failed)
        s_read(&s, 2, 2000, 500);
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* Multi-document writes, upserts, findAndModify. */
static void check_writes(void)
{
    bson_t *out = begin("write_kinds");
    mongoc_collection_t *c = fresh_collection("writes");
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    s_open(&s, 'c', c, NULL, "{\"fullDocument\": \"updateLookup\"}");
    bool open_failed = s_open_failed(&s);
    /* insert_many: 3 inserts */
    {
        bson_t *d[3] = {js("{\"_id\": 1, \"g\": 1}"), js("{\"_id\": 2, \"g\": 1}"), js("{\"_id\": 3, \"g\": 2}")};
        bson_t reply;
        bson_error_t err;
        if (!mongoc_collection_insert_many(c, (const bson_t **)d, 3, NULL, &reply, &err))
            werr(&w, "insert_many", &err, &reply);
        bson_destroy(&reply);
        for (int i = 0; i < 3; i++)
            bson_destroy(d[i]);
    }
    w_update(&w, c, "{\"g\": 1}", "{\"$inc\": {\"v\": 1}}", NULL, 1);                     /* 2 updates */
    w_update(&w, c, "{\"_id\": 4}", "{\"$set\": {\"g\": 3}}", "{\"upsert\": true}", 0);    /* insert */
    w_replace(&w, c, "{\"_id\": 5}", "{\"g\": 5}", "{\"upsert\": true}");                  /* insert */
    w_update(&w, c, "{\"_id\": 3}", "{\"$set\": {\"g\": 2}}", NULL, 0);                    /* no-op */
    /* findAndModify: update then remove */
    {
        bson_t *q = js("{\"_id\": 3}"), *u = js("{\"$set\": {\"fam\": true}}"), reply;
        bson_error_t err;
        if (!mongoc_collection_find_and_modify(c, q, NULL, u, NULL, false, false, true, &reply, &err))
            werr(&w, "findAndModify update", &err, &reply);
        bson_destroy(&reply);
        if (!mongoc_collection_find_and_modify(c, q, NULL, NULL, NULL, true, false, false, &reply, &err))
            werr(&w, "findAndModify remove", &err, &reply);
        bson_destroy(&reply);
        bson_destroy(q);
        bson_destroy(u);
    }
    w_delete(&w, c, "{\"g\": {\"$gte\": 1}}", 1); /* deletes 1, 2, 4, 5 */
    if (!open_failed)
        s_read(&s, 13, 2500, 300);
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* drop and rename: MongoDB sends drop/rename followed by invalidate. */
static void check_ddl(const char *check, int rename)
{
    bson_t *out = begin(check);
    mongoc_collection_t *c = fresh_collection(rename ? "ren" : "drop");
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    w_insert(&w, c, "{\"_id\": 0}");
    s_open(&s, 'c', c, NULL, NULL);
    bool open_failed = s_open_failed(&s);
    w_insert(&w, c, "{\"_id\": 1}");
    bson_error_t err;
    bool r;
    if (rename) {
        char to[160];
        snprintf(to, sizeof to, "%s_ren_to", prefix);
        mongoc_collection_t *t = mongoc_database_get_collection(db, to);
        mongoc_collection_drop(t, &err);
        mongoc_collection_destroy(t);
        r = mongoc_collection_rename(c, db_name, to, true, &err);
    } else {
        r = mongoc_collection_drop(c, &err);
    }
    if (!r)
        werr(&w, rename ? "rename" : "drop", &err, NULL);
    if (!open_failed)
        s_read(&s, 3, 2000, 300);
    /* after an invalidate MongoDB closes the cursor: is the stream still open? */
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* Database- and cluster-wide streams. */
static void check_wide(const char *check, char kind)
{
    bson_t *out = begin(check);
    mongoc_collection_t *c = fresh_collection(kind == 'd' ? "dbwide" : "clusterwide");
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    s_open(&s, kind, NULL, NULL, NULL);
    bool open_failed = s_open_failed(&s);
    w_insert(&w, c, "{\"_id\": 1}");
    if (!open_failed)
        s_read(&s, 1, 1500, 200);
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* getMore with maxAwaitTimeMS: MongoDB holds an idle getMore that long. */
static void check_await(void)
{
    bson_t *out = begin("max_await_time");
    mongoc_collection_t *c = fresh_collection("await");
    stream_t s;
    s_open(&s, 'c', c, NULL, "{\"maxAwaitTimeMS\": 1000}");
    if (!s_open_failed(&s)) {
        const bson_t *doc;
        int64_t t0 = now_ms();
        bool got = mongoc_change_stream_next(s.cs, &doc);
        BSON_APPEND_INT64(out, "idle_next_ms", now_ms() - t0);
        BSON_APPEND_BOOL(out, "idle_next_got_event", got);
    }
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* The server loses the stream's cursor (killCursors from another client):
 * the next getMore fails with CursorNotFound, which the driver treats as
 * resumable: it reopens the stream with resumeAfter = its cached token. */
static void check_driver_resume(void)
{
    bson_t *out = begin("driver_resume_after_cursor_killed");
    mongoc_collection_t *c = fresh_collection("killed");
    stream_t s;
    bson_t wa = BSON_INITIALIZER;
    werrs_t w = {&wa, 0};
    s_open(&s, 'c', c, NULL, NULL);
    bool open_failed = s_open_failed(&s);
    w_insert(&w, c, "{\"_id\": 1}");
    if (!open_failed)
        s_read(&s, 1, 3000, 0);
    int before = aggregates_sent;
    BSON_APPEND_INT64(out, "cursor_id", last_cursor_id);
    {
        bson_t cmd = BSON_INITIALIZER, arr, reply, sub;
        bson_error_t err;
        char name[160];
        snprintf(name, sizeof name, "%s_killed", prefix);
        BSON_APPEND_UTF8(&cmd, "killCursors", name);
        BSON_APPEND_ARRAY_BEGIN(&cmd, "cursors", &arr);
        BSON_APPEND_INT64(&arr, "0", last_cursor_id);
        bson_append_array_end(&cmd, &arr);
        bool r = mongoc_database_command_simple(db, &cmd, NULL, &reply, &err);
        BSON_APPEND_DOCUMENT_BEGIN(out, "killCursors", &sub);
        BSON_APPEND_BOOL(&sub, "ok", r);
        if (r)
            BSON_APPEND_DOCUMENT(&sub, "reply", &reply);
        else
            put_error(&sub, &err, &reply);
        bson_append_document_end(out, &sub);
        bson_destroy(&reply);
        bson_destroy(&cmd);
    }
    w_insert(&w, c, "{\"_id\": 2}");
    w_insert(&w, c, "{\"_id\": 3}");
    if (!open_failed && !s.failed)
        s_read(&s, 3, 2000, 300);
    BSON_APPEND_INT32(out, "aggregates_resent", aggregates_sent - before);
    BSON_APPEND_ARRAY(out, "write_errors", &wa);
    bson_destroy(&wa);
    bool ok = s_close(&s, out);
    mongoc_collection_destroy(c);
    finish(out, ok);
}

/* Sessions and transactions (change events of a transaction carry lsid and
 * txnNumber in MongoDB). */
static void check_transactions(void)
{
    bson_t *out = begin("transactions");
    bson_error_t err;
    mongoc_client_session_t *cs = mongoc_client_start_session(client, NULL, &err);
    bool ok = cs != NULL;
    if (!cs) {
        put_error(out, &err, NULL);
    } else {
        if (!mongoc_client_session_start_transaction(cs, NULL, &err)) {
            put_error(out, &err, NULL);
            ok = false;
        } else {
            mongoc_collection_t *c = fresh_collection("txn");
            bson_t opts = BSON_INITIALIZER, reply;
            bson_t *d = js("{\"_id\": 1}");
            if (!mongoc_client_session_append(cs, &opts, &err) ||
                !mongoc_collection_insert_one(c, d, &opts, &reply, &err) ||
                !mongoc_client_session_commit_transaction(cs, NULL, &err)) {
                put_error(out, &err, NULL);
                ok = false;
            }
            bson_destroy(d);
            bson_destroy(&opts);
            mongoc_collection_destroy(c);
        }
        mongoc_client_session_destroy(cs);
    }
    finish(out, ok);
}

/* ------------------------------------------------------------------- main */

static bool want(int argc, char **argv, const char *name)
{
    if (argc <= 3)
        return true;
    for (int i = 3; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mongo_check URI|- PREFIX [CHECK...]\n");
        return 2;
    }
    const char *uri_s = strcmp(argv[1], "-") == 0 ? getenv("SLUICE_MONGO_URI") : argv[1];
    if (!uri_s) {
        fprintf(stderr, "mongo_check: SLUICE_MONGO_URI is not set\n");
        return 2;
    }
    snprintf(prefix, sizeof prefix, "%s", argv[2]);
    snprintf(db_name, sizeof db_name, "%sdb", prefix);

    mongoc_init();
    bson_init(&last_aggregate);
    bson_init(&main_events);
    bson_init(&main_tokens);
    bson_error_t err;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_s, &err);
    if (!uri) {
        fprintf(stderr, "mongo_check: bad URI %s: %s\n", uri_s, err.message);
        return 2;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    client = mongoc_client_new_from_uri(uri);
    mongoc_uri_destroy(uri);
    if (!client) {
        fprintf(stderr, "mongo_check: cannot create a client for %s\n", uri_s);
        return 1;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(client, "sluice-mongo-check");
    mongoc_apm_callbacks_t *cb = mongoc_apm_callbacks_new();
    mongoc_apm_set_command_started_cb(cb, on_started);
    mongoc_apm_set_command_succeeded_cb(cb, on_succeeded);
    mongoc_client_set_apm_callbacks(client, cb, NULL);
    db = mongoc_client_get_database(client, db_name);

    int rc = 0;
    {
        bson_t *out = begin("versions");
        BSON_APPEND_UTF8(out, "libmongoc", mongoc_get_version());
        BSON_APPEND_UTF8(out, "libbson", bson_get_version());
        BSON_APPEND_UTF8(out, "uri", uri_s);
        finish(out, true);
    }
    if (want(argc, argv, "server") && !check_server())
        rc = 1;
    if (rc == 0) {
        if (want(argc, argv, "update_lookup") || want(argc, argv, "resume_after") ||
            want(argc, argv, "start_after") || want(argc, argv, "start_at_operation_time"))
            check_update_lookup();
        if (want(argc, argv, "resume_after"))
            check_resume("resume_after", "resumeAfter", 1);
        if (want(argc, argv, "start_after"))
            check_resume("start_after", "startAfter", 1);
        if (want(argc, argv, "start_at_operation_time"))
            check_resume("start_at_operation_time", "startAtOperationTime", 2);
        if (want(argc, argv, "resume_after_bad_token"))
            check_bad_token();
        if (want(argc, argv, "resume_after_unknown_token"))
            check_future_token();
        if (want(argc, argv, "default_full_document"))
            check_default();
        if (want(argc, argv, "full_document_before_change_when_available"))
            check_option("full_document_before_change_when_available", "pre1",
                         "{\"fullDocumentBeforeChange\": \"whenAvailable\"}");
        if (want(argc, argv, "full_document_before_change_required"))
            check_option("full_document_before_change_required", "pre2",
                         "{\"fullDocumentBeforeChange\": \"required\"}");
        if (want(argc, argv, "full_document_required"))
            check_option("full_document_required", "post1", "{\"fullDocument\": \"required\"}");
        if (want(argc, argv, "show_expanded_events"))
            check_option("show_expanded_events", "exp1", "{\"showExpandedEvents\": true}");
        if (want(argc, argv, "pipeline_match"))
            check_pipeline();
        if (want(argc, argv, "write_kinds"))
            check_writes();
        if (want(argc, argv, "drop"))
            check_ddl("drop", 0);
        if (want(argc, argv, "rename"))
            check_ddl("rename", 1);
        if (want(argc, argv, "database_watch"))
            check_wide("database_watch", 'd');
        if (want(argc, argv, "cluster_watch"))
            check_wide("cluster_watch", 'k');
        if (want(argc, argv, "max_await_time"))
            check_await();
        if (want(argc, argv, "driver_resume_after_cursor_killed"))
            check_driver_resume();
        if (want(argc, argv, "transactions"))
            check_transactions();
    }

    bson_destroy(&main_events);
    bson_destroy(&main_tokens);
    bson_destroy(&last_aggregate);
    mongoc_database_destroy(db);
    mongoc_client_destroy(client);
    mongoc_apm_callbacks_destroy(cb);
    mongoc_cleanup();
    return rc;
}
