/*
 * Errors as values and the source lifecycle: the code table (names, default retriable flags, overrides), how
 * the context records a raised error (retry reason or failure, first failure wins), the per-call code a plugin
 * names for open/write, the lifecycle's transition table, and, through the runtime with a scripted source and
 * sink, which code and state a connector ends with after a fatal error, a retriable one, a failing open and a
 * failing sink.
 */
#include "ctx/ctx_int.h"
#include "runtime/connector.h"
#include "core/log.h"
#include "test.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Every code has a distinct name and a meaning; only a lost connection and an unreachable sink may pass. */
static void test_codes(void) {
    for (int i = 0; i < SL_E__COUNT; i++) {
        CHECK(strcmp(sl_err_name((sl_err_code)i), "?") != 0 && *sl_err_doc((sl_err_code)i));
        for (int k = 0; k < i; k++) CHECK(strcmp(sl_err_name((sl_err_code)i), sl_err_name((sl_err_code)k)) != 0);
        bool want = i == SL_E_CONNECT || i == SL_E_SINK_UNAVAILABLE;
        CHECK(sl_err_code_retriable((sl_err_code)i) == want);
    }
    CHECK_STR(sl_err_name(SL_E_POSITION_LOST), "position_lost");
    CHECK_STR(sl_err_name(SL_E_CONNECT), "connect");
    CHECK_STR(sl_err_name(SL_E__COUNT), "?");
    CHECK_STR(sl_err_name((sl_err_code)-1), "?");
    CHECK(!sl_err_code_retriable(SL_E__COUNT));

    sl_err e;
    sl_err_set(&e, SL_E_CONNECT, "lost %s at %d", "db", 7);
    CHECK(e.code == SL_E_CONNECT && e.retriable);
    CHECK_STR(e.msg, "lost db at 7");
    sl_err_set(&e, SL_E_RESOURCE, "too many connections");
    CHECK(!e.retriable);
    e.retriable = true; /* the raiser knows better: the server's shortage passes */
    CHECK(e.code == SL_E_RESOURCE && e.retriable);
    char long_msg[2000];
    memset(long_msg, 'x', sizeof long_msg - 1), long_msg[sizeof long_msg - 1] = 0;
    sl_err_set(&e, SL_E_PROTOCOL, "%s", long_msg);
    CHECK(strlen(e.msg) == sizeof e.msg - 1); /* cut, never overrun */
    sl_err_clear(&e);
    CHECK(e.code == SL_E_NONE && !e.retriable && e.msg[0] == 0);
}

static void ctx_init(sl_ctx *x) {
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->err_lock, NULL);
    pthread_mutex_init(&x->m_lock, NULL);
    x->name = "t";
}

static void ctx_free(sl_ctx *x) {
    pthread_mutex_destroy(&x->err_lock);
    pthread_mutex_destroy(&x->m_lock);
}

/* A retriable error is a retry reason and SL_RETRY; any other fails the connector once (the first is the cause). */
static void test_ctx_raise(void) {
    sl_ctx x;
    ctx_init(&x);
    CHECK(sl_ctx_raisef(&x, SL_E_CONNECT, "connection reset") == SL_RETRY);
    CHECK(!atomic_load(&x.failed) && !atomic_load(&x.stop));
    CHECK(x.retry_err.code == SL_E_CONNECT && x.retry_err.retriable);
    CHECK_STR(x.retry_err.msg, "connection reset");

    sl_err e;
    sl_err_set(&e, SL_E_RESOURCE, "server out of connections");
    e.retriable = true;
    CHECK(sl_ctx_raise(&x, &e) == SL_RETRY && x.retry_err.code == SL_E_RESOURCE && !atomic_load(&x.failed));

    sl_ctx_retry(&x, "plain %s", "retry"); /* the uncoded call: a lost connection */
    CHECK(x.retry_err.code == SL_E_CONNECT && x.retry_err.retriable);

    CHECK(sl_ctx_raisef(&x, SL_E_POSITION_LOST, "binlog %s purged", "b.000001") == -1);
    CHECK(atomic_load(&x.failed) && atomic_load(&x.stop));
    CHECK(x.err.code == SL_E_POSITION_LOST && !x.err.retriable);
    CHECK_STR(x.err.msg, "binlog b.000001 purged");
    sl_ctx_fail_code(&x, SL_E_SINK_REJECTED, "later");
    sl_ctx_fail(&x, "later still");
    CHECK(x.err.code == SL_E_POSITION_LOST); /* the first failure stays the reason */
    ctx_free(&x);

    ctx_init(&x);
    sl_ctx_fail(&x, "unclassified");
    CHECK(x.err.code == SL_E_INTERNAL && atomic_load(&x.failed));
    ctx_free(&x);

    /* Beside errstr: the code an open or a sink call names, taken once by the runtime on the same thread. */
    CHECK(sl_ctx_take_error_code() == SL_E_NONE);
    CHECK(sl_ctx_error_code(NULL, SL_E_CONNECT) == SL_RETRY);
    CHECK(sl_ctx_take_error_code() == SL_E_CONNECT);
    CHECK(sl_ctx_take_error_code() == SL_E_NONE);
    CHECK(sl_ctx_error_code(NULL, SL_E_AUTH) == -1);
    CHECK(sl_ctx_take_error_code() == SL_E_AUTH);
}

static void test_lifecycle_table(void) {
    /* The paths a source takes, from a new context (STOPPED). */
    static const struct {
        int n;
        sl_src_state st[8];
    } paths[] = {
        {5, {SL_SRC_OPENING, SL_SRC_SNAPSHOTTING, SL_SRC_STREAMING, SL_SRC_STOPPING, SL_SRC_STOPPED}},
        {7, {SL_SRC_OPENING, SL_SRC_STREAMING, SL_SRC_RECONNECTING, SL_SRC_OPENING, SL_SRC_RECONNECTING,
             SL_SRC_OPENING, SL_SRC_STREAMING}},
        {7, {SL_SRC_OPENING, SL_SRC_STREAMING, SL_SRC_PAUSED, SL_SRC_OPENING, SL_SRC_STREAMING, SL_SRC_SNAPSHOTTING,
             SL_SRC_STREAMING}},
        {2, {SL_SRC_OPENING, SL_SRC_FAILED}},
        {4, {SL_SRC_OPENING, SL_SRC_SNAPSHOTTING, SL_SRC_RECONNECTING, SL_SRC_FAILED}},
        {4, {SL_SRC_OPENING, SL_SRC_STREAMING, SL_SRC_STOPPING, SL_SRC_FAILED}},
    };
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        sl_ctx x;
        ctx_init(&x);
        CHECK(sl_ctx_source_state(&x) == SL_SRC_STOPPED);
        for (int i = 0; i < paths[p].n; i++) {
            CHECK(sl_ctx_set_source_state(&x, paths[p].st[i]));
            CHECK(sl_ctx_source_state(&x) == paths[p].st[i]);
        }
        ctx_free(&x);
    }
    /* What must not happen: back to streaming once run() ended, out of failed, a snapshot before opening. */
    CHECK(!sl_src_state_allowed(SL_SRC_STOPPING, SL_SRC_STREAMING));
    CHECK(!sl_src_state_allowed(SL_SRC_RECONNECTING, SL_SRC_STREAMING));
    CHECK(!sl_src_state_allowed(SL_SRC_STOPPED, SL_SRC_SNAPSHOTTING));
    for (int s = 0; s < SL_SRC__COUNT; s++) {
        CHECK(sl_src_state_allowed((sl_src_state)s, (sl_src_state)s));
        CHECK(strcmp(sl_src_state_name((sl_src_state)s), "?") != 0);
        if (s != SL_SRC_FAILED) CHECK(!sl_src_state_allowed(SL_SRC_FAILED, (sl_src_state)s));
    }
    CHECK(!sl_src_state_allowed(SL_SRC__COUNT, SL_SRC_OPENING));
    sl_ctx x;
    ctx_init(&x);
    CHECK(sl_ctx_set_source_state(&x, SL_SRC_OPENING) && sl_ctx_set_source_state(&x, SL_SRC_STOPPING));
    CHECK(!sl_ctx_set_source_state(&x, SL_SRC_STREAMING)); /* refused: the state stays */
    CHECK(sl_ctx_source_state(&x) == SL_SRC_STOPPING);
    ctx_free(&x);
}

/* ---- through the runtime ---- */

/* test.mode: what the scripted source does. */
enum { M_FATAL, M_RETRY_ONCE, M_OPEN_FATAL, M_OPEN_RETRY, M_CLEAN };
typedef struct esrc_conf {
    int64_t mode;
} esrc_conf;

static int opens;
static _Atomic int run_state;                /* the source's state seen inside run() */
static sl_src_state close_states[8];         /* ... and inside each close() */
static int ncloses;

typedef struct esrc {
    esrc_conf *cf;
    sl_ctx *ctx;
} esrc;

static const sl_prop esrc_props[] = {
    {"test.mode", SL_PT_INT, "0", NULL, 0, 10, 0, offsetof(esrc_conf, mode), "mode"}, {NULL}};

static int esrc_open(void **out, void *settings, sl_ctx *ctx, char *err, size_t errsz) {
    esrc_conf *cf = settings;
    opens++;
    CHECK(sl_ctx_source_state(ctx) == SL_SRC_OPENING);
    if (cf->mode == M_OPEN_FATAL) {
        snprintf(err, errsz, "slot.name: slot 'x' does not exist");
        return sl_ctx_error_code(ctx, SL_E_POSITION_LOST);
    }
    if (cf->mode == M_OPEN_RETRY && opens > 1) {
        snprintf(err, errsz, "server unreachable");
        return sl_ctx_error_code(ctx, SL_E_CONNECT);
    }
    esrc *s = sl_calloc(1, sizeof *s);
    s->cf = cf;
    s->ctx = ctx;
    sl_ctx_set_partition(ctx, "{\"server\":\"e\"}");
    *out = s;
    return 0;
}

static int esrc_run(void *p) {
    esrc *s = p;
    sl_ctx_set_source_state(s->ctx, SL_SRC_SNAPSHOTTING);
    sl_ctx_set_source_state(s->ctx, SL_SRC_STREAMING);
    atomic_store(&run_state, sl_ctx_source_state(s->ctx));
    if (s->cf->mode == M_FATAL) return sl_ctx_raisef(s->ctx, SL_E_POSITION_LOST, "binlog %s is purged", "b.000001");
    if ((s->cf->mode == M_RETRY_ONCE && opens == 1) || s->cf->mode == M_OPEN_RETRY)
        return sl_ctx_raisef(s->ctx, SL_E_CONNECT, "connection lost");
    while (!sl_ctx_stopping(s->ctx)) sl_sleep_ms(5, NULL);
    return 0;
}

static void esrc_close(void *p) {
    esrc *s = p;
    if (!s) return;
    if (ncloses < 8) close_states[ncloses++] = sl_ctx_source_state(s->ctx);
    sl_free(s);
}

static const sl_source_ops esrc_ops = {"err-source", NULL, "scripted failures", esrc_props, sizeof(esrc_conf), NULL,
                                       esrc_open, esrc_run, esrc_close};

typedef struct esink_conf {
    int64_t fail;
} esink_conf;
static const sl_prop esink_props[] = {
    {"test.sink.fail", SL_PT_INT, "0", NULL, 0, 2, 0, offsetof(esink_conf, fail), "fail"}, {NULL}};

static int esink_open(void **out, void *settings, sl_ctx *ctx, char *err, size_t errsz) {
    esink_conf *cf = settings;
    if (cf->fail == 2) {
        snprintf(err, errsz, "sink unreachable");
        sl_ctx_error_code(ctx, SL_E_SINK_UNAVAILABLE);
        return -1;
    }
    *out = settings;
    return 0;
}
static int esink_write(void *p, sl_batch *b, char *err, size_t errsz) { return 0; }
static int esink_flush(void *p, char *err, size_t errsz) { return 0; }
static void esink_close(void *p) {}
static const sl_sink_ops esink_ops = {"err-sink", NULL, "fails on demand", esink_props, sizeof(esink_conf), NULL,
                                      esink_open, esink_write, esink_flush, esink_close};

static char dbpath[64];

/* Runs a connector of the scripted source for a moment; its failure's code and message, and its start's rc. */
static int run(const char *extra, sl_err_code *code, char *err, size_t errsz) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"name\":\"et\",\"config\":{\"connector.class\":\"err-source\",\"sink.type\":\"err-sink\","
             "\"offset.storage.file.filename\":\"%s\",\"retriable.restart.connector.wait.ms\":\"0\"%s}}",
             dbpath, extra);
    opens = ncloses = 0;
    atomic_store(&run_state, -1);
    sl_config *cfg = sl_config_parse_json(json, "t", err, errsz);
    sl_errs errs = {0};
    sl_connector *c = sl_connector_new(cfg, &errs);
    CHECK(c != NULL && errs.n == 0);
    if (!c) return -9;
    CHECK(sl_connector_source_state(c) == SL_SRC_STOPPED);
    int rc = sl_connector_start(c, err, errsz);
    if (rc == 0) {
        for (int i = 0; i < 100 && sl_connector_running(c) && atomic_load(&run_state) < 0; i++) sl_sleep_ms(5, NULL);
        sl_sleep_ms(100, NULL);
        sl_connector_stop(c);
        rc = sl_connector_wait(c, err, errsz);
        CHECK(sl_connector_source_state(c) == SL_SRC_STOPPING || sl_connector_source_state(c) == SL_SRC_RECONNECTING);
    }
    *code = sl_connector_error_code(c);
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    sl_errs_free(&errs);
    return rc;
}

static void test_runtime_codes(void) {
    char err[1024];
    sl_err_code code;
    /* A fatal error in run(): the connector fails with its code and message; the source was streaming. */
    CHECK(run(",\"test.mode\":\"0\"", &code, err, sizeof err) == -1);
    CHECK(code == SL_E_POSITION_LOST);
    CHECK_STR(err, "binlog b.000001 is purged");
    CHECK(atomic_load(&run_state) == SL_SRC_STREAMING);
    CHECK(ncloses == 1 && close_states[0] == SL_SRC_STOPPING); /* closed once, for good */

    /* A retriable one: closed while RECONNECTING (so it keeps what the server holds), opened again, no failure. */
    CHECK(run(",\"test.mode\":\"1\"", &code, err, sizeof err) == 0);
    CHECK(code == SL_E_NONE && opens == 2);
    CHECK(ncloses == 2 && close_states[0] == SL_SRC_RECONNECTING && close_states[1] == SL_SRC_STOPPING);

    /* Retries run out (errors.max.retries=2): the reopen fails each time; the failure keeps the retry's code. */
    CHECK(run(",\"test.mode\":\"3\",\"errors.max.retries\":\"2\"", &code, err, sizeof err) == -1);
    CHECK(code == SL_E_CONNECT && opens == 3);
    CHECK(strstr(err, "server unreachable (gave up after 2 retries: errors.max.retries)") != NULL);
    CHECK(ncloses == 1 && close_states[0] == SL_SRC_RECONNECTING);

    /* A fatal open at start: the start fails with the code the open named. */
    CHECK(run(",\"test.mode\":\"2\"", &code, err, sizeof err) == -1);
    CHECK(code == SL_E_POSITION_LOST && ncloses == 0);
    CHECK_STR(err, "slot.name: slot 'x' does not exist");

    /* A sink that cannot open: its code. */
    CHECK(run(",\"test.mode\":\"4\",\"test.sink.fail\":\"2\"", &code, err, sizeof err) == -1);
    CHECK(code == SL_E_SINK_UNAVAILABLE && opens == 0);
    CHECK_STR(err, "sink unreachable");

    /* A clean run and stop: no code. */
    CHECK(run(",\"test.mode\":\"4\"", &code, err, sizeof err) == 0);
    CHECK(code == SL_E_NONE && ncloses == 1 && close_states[0] == SL_SRC_STOPPING);
}

int main(void) {
    sl_log_set_level(SL_LOG_ERROR);
    snprintf(dbpath, sizeof dbpath, "/tmp/sl_err_%d.db", (int)getpid());
    test_codes();
    test_ctx_raise();
    test_lifecycle_table();
    CHECK(sl_plugin_add_source(&esrc_ops) == 0);
    CHECK(sl_plugin_add_sink(&esink_ops) == 0);
    test_runtime_codes();
    char p[80];
    unlink(dbpath);
    snprintf(p, sizeof p, "%s-wal", dbpath), unlink(p);
    snprintf(p, sizeof p, "%s-shm", dbpath), unlink(p);
    TEST_END();
}
