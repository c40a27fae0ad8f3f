/* Unit tests of util/ and core/: buffers, config tables and providers, queue bounds, offset store, log limits. */
#include "core/conf.h"
#include "core/log.h"
#include "core/queue.h"
#include "core/record.h"
#include "state/offsets.h"
#include "test.h"
#include "util/buf.h"
#include "util/mem.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_buf(void) {
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_put_json_str(&b, "a\"b\\c\n\x01", 7);
    CHECK_STR(sl_buf_cstr(&b), "\"a\\\"b\\\\c\\n\\u0001\"");
    sl_buf_reset(&b);
    sl_buf_put_base64(&b, "hello", 5);
    CHECK_STR(sl_buf_cstr(&b), "aGVsbG8=");
    sl_buf_reset(&b);
    sl_buf_put_base64(&b, "hell", 4);
    CHECK_STR(sl_buf_cstr(&b), "aGVsbA==");
    sl_buf_reset(&b);
    sl_buf_put_i64(&b, INT64_MIN);
    CHECK_STR(sl_buf_cstr(&b), "-9223372036854775808");
    sl_buf_free(&b);
}

/* A spill target: what a spilling buffer hands on, gathered, and how many calls it took. */
typedef struct spilled {
    sl_buf all;
    int calls;
    const void *last;
} spilled;

static void spill_to(void *arg, const char *p, size_t n) {
    spilled *sp = arg;
    sl_buf_put(&sp->all, p, n);
    sp->calls++;
    sp->last = p;
}

/* A spilling buffer hands on instead of growing past its limit, passes a large write through
 * untouched, and hands on nothing while held. */
static void test_buf_spill(void) {
    spilled sp = {.calls = 0};
    sl_buf_init(&sp.all);
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_set_spill(&b, spill_to, &sp, 64);
    static char want[8192];
    want[0] = 0;
    for (int i = 0; i < 200; i++) {
        char piece[16];
        snprintf(piece, sizeof piece, "<%d>", i);
        sl_buf_puts(&b, piece);
        strcat(want, piece);
    }
    CHECK(sp.calls > 0 && b.cap <= 256);
    char big[1000];
    memset(big, 'x', sizeof big);
    int before = sp.calls;
    sl_buf_put(&b, big, sizeof big);
    CHECK(sp.last == big && b.len == 0); /* the buffer first, then the large write itself */
    CHECK(sp.calls == before + 2);
    memcpy(want + strlen(want), big, sizeof big), want[strlen(want) + sizeof big] = 0;
    sl_buf_hold(&b);
    sl_buf_puts(&b, "taken back");
    size_t mark = b.len;
    for (int i = 0; i < 100; i++) sl_buf_puts(&b, "0123456789");
    CHECK(sp.calls == before + 2 && b.len == mark + 1000); /* held: grew instead */
    b.len = mark;
    sl_buf_unhold(&b);
    strcat(want, "taken back");
    sl_buf_put_json_str(&b, big, sizeof big); /* a long string spills too */
    strcat(want, "\"");
    size_t at = strlen(want);
    memcpy(want + at, big, sizeof big);
    strcpy(want + at + sizeof big, "\"");
    sl_buf_spill(&b);
    CHECK(b.len == 0);
    CHECK_STR(sl_buf_cstr(&sp.all), want);
    sl_buf_free(&b);
    sl_buf_free(&sp.all);
}

static void count(const char *k, void *a) { (void)k, (*(int *)a)++; }

typedef struct settings {
    char *s;
    int64_t i;
    bool b;
    int e;
    char *secret;
} settings;

static const sl_prop props[] = {
    {"a.string", SL_PT_STRING, "dflt", NULL, 0, 0, 0, offsetof(settings, s), "a string"},
    {"a.int", SL_PT_INT, "5", NULL, 1, 10, 0, offsetof(settings, i), "an int", "old.int"},
    {"a.bool", SL_PT_BOOL, "false", NULL, 0, 0, 0, offsetof(settings, b), "a bool"},
    {"a.enum", SL_PT_ENUM, "one", "one|two|three", 0, 0, 0, offsetof(settings, e), "an enum"},
    {"a.secret", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE | SL_PF_REQUIRED, offsetof(settings, secret), "pw"},
    {NULL}};

static void test_conf(void) {
    char err[512];
    setenv("SL_TEST_PW", "hunter2-secret", 1);
    sl_config *c = sl_config_parse_json(
        "{\"name\":\"x\",\"config\":{\"a.string\":\"v\",\"old.int\":7,\"a.bool\":true,\"a.enum\":\"TWO\","
        "\"a.secret\":\"${env:SL_TEST_PW}\",\"database.server.name\":\"1\",\"zzz.unknown\":\"1\"}}",
        "t", err, sizeof err);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_STR(c->name, "x");
    settings s = {0};
    sl_errs errs = {0};
    CHECK(sl_conf_apply(props, c, &s, &errs) == 0);
    CHECK_STR(s.s, "v");
    CHECK(s.i == 7);
    CHECK(s.b == true);
    CHECK(s.e == 1);
    CHECK_STR(s.secret, "hunter2-secret");
    char line[128] = "password=hunter2-secret end";
    sl_log_redact(line);
    CHECK_STR(line, "password=******** end");
    int unknown = 0;
    sl_conf_unknown_keys(c, count, &unknown);
    CHECK(unknown == 1); /* database.server.name is quiet, zzz.unknown is not */
    sl_conf_free(props, &s);
    sl_config_destroy(c);

    c = sl_config_parse_json("{\"config\":{\"a.int\":\"99\",\"a.enum\":\"four\",\"a.bool\":\"yes\"}}", "t", err,
                             sizeof err);
    memset(&s, 0, sizeof s);
    CHECK(sl_conf_apply(props, c, &s, &errs) == 4);
    CHECK(errs.n == 4);
    CHECK(errs.n > 0 && strstr(errs.msg[0], "a.int") && strstr(errs.msg[0], "[1, 10]"));
    CHECK(errs.n > 1 && strstr(errs.msg[1], "a.bool"));
    CHECK(errs.n > 2 && strstr(errs.msg[2], "a.enum") && strstr(errs.msg[2], "one, two, three"));
    CHECK(errs.n > 3 && strstr(errs.msg[3], "a.secret") && strstr(errs.msg[3], "required"));
    sl_errs_free(&errs);
    sl_conf_free(props, &s);
    sl_config_destroy(c);

    CHECK(sl_config_parse_json("{\"config\": [1,", "bad.json", err, sizeof err) == NULL);
    CHECK(strstr(err, "bad.json") && strstr(err, "malformed JSON"));
    CHECK(sl_config_parse_json("{\"a\":\"${env:SL_NOPE_NOT_SET}\"}", "t", err, sizeof err) == NULL);
    CHECK(strstr(err, "SL_NOPE_NOT_SET") != NULL);

    char path[] = "/tmp/sl_conf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(write(fd, "# comment\nuser = bob\npass=s3cr3t\n", 33) == 33);
    close(fd);
    char json[256];
    snprintf(json, sizeof json, "{\"p\":\"${file:%s:pass}\"}", path);
    c = sl_config_parse_json(json, "t", err, sizeof err);
    CHECK(c && strcmp(sl_config_get(c, "p"), "s3cr3t") == 0);
    sl_config_destroy(c);
    c = sl_config_parse_properties("name=props\na.int = 3\n", "p", err, sizeof err);
    CHECK(c && strcmp(c->name, "props") == 0 && strcmp(sl_config_get(c, "a.int"), "3") == 0);
    sl_config_destroy(c);
    unlink(path);
    CHECK(sl_list_has("c, u ,d", "u"));
    CHECK(!sl_list_has("c,u", "d"));
}

static void test_utf8(void) {
    CHECK(sl_utf8_invalid_at("", 0) == -1);
    CHECK(sl_utf8_invalid_at("plain ascii text, long enough for words", 39) == -1);
    CHECK(sl_utf8_invalid_at("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14) == -1); /* é € 😀 */
    CHECK(sl_utf8_invalid_at("caf\xe9", 4) == 3);                   /* Latin-1 é */
    CHECK(sl_utf8_invalid_at("abcdefghij\x80", 11) == 10);          /* lone continuation after the fast path */
    CHECK(sl_utf8_invalid_at("\xc0\xaf", 2) == 0);                  /* overlong '/' */
    CHECK(sl_utf8_invalid_at("\xe0\x80\xaf", 3) == 0);              /* overlong, 3 bytes */
    CHECK(sl_utf8_invalid_at("\xed\xa0\x80", 3) == 0);              /* a surrogate */
    CHECK(sl_utf8_invalid_at("\xf4\x90\x80\x80", 4) == 0);          /* above U+10FFFF */
    CHECK(sl_utf8_invalid_at("ab\xe2\x82", 4) == 2);                 /* cut short */
    CHECK(sl_utf8_invalid_at("\xe2\x28\xa1", 3) == 0);              /* bad continuation */
    CHECK(sl_utf8_invalid_at("a\0b", 3) == -1);                      /* NUL is UTF-8 (JSON escapes it) */
}

static void test_decimal_text(void) {
    CHECK(sl_decimal_text_ok("-12", false) && sl_decimal_text_ok("1.5", true) && !sl_decimal_text_ok("1.5", false));
    CHECK(!sl_decimal_text_ok("", true) && !sl_decimal_text_ok("-", true) && !sl_decimal_text_ok("1e5", true));
    CHECK(!sl_decimal_text_ok("(1 + 2)", true) && !sl_decimal_text_ok("1.", false));
    static const char *const cases[][3] = {{"1.5", "2", "1.50"}, {"-3", "2", "-3.00"}, {"1.2345", "2", "1.23"},
                                           {"7", "0", "7"}, {"7.9", "0", "7"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_buf b;
        sl_buf_init(&b);
        sl_buf_put_decimal_scaled(&b, cases[i][0], atoi(cases[i][1]));
        CHECK_STR(sl_buf_cstr(&b), cases[i][2]);
        sl_buf_free(&b);
    }
}

static void test_record_check(void) {
    sl_table *t = sl_table_new("db", "public", "t", 2);
    t->cols[0].name = sl_strdup("id");
    t->cols[1].name = sl_strdup("note");
    t->cols[1].repr = SL_REPR_RAW; /* raw bytes (a binary column): not text, not checked */
    sl_batch *b = sl_batch_new();
    sl_cell good[2] = {{"1", 1, 0}, {"\xff", 1, 0}}, bad[2] = {{"caf\xe9", 4, 0}, {NULL, 0, SL_CELL_NULL}};
    sl_record *r = sl_batch_add(b, t);
    r->op = SL_OP_UPDATE, r->before = good, r->after = good;
    char err[256];
    CHECK(sl_record_check(r, err, sizeof err) == 0);
    r->before = bad;
    CHECK(sl_record_check(r, err, sizeof err) == -1);
    CHECK(strstr(err, "column id (before value): not UTF-8 text (bad byte 0xe9 at offset 3 of 4)") == err);
    /* Removing a record keeps the offset on the records it covered. */
    sl_batch_add(b, t)->op = SL_OP_CREATE;
    sl_batch_set_offset(b, "{}", 1);
    sl_batch_add(b, t)->op = SL_OP_DELETE;
    CHECK(b->n == 3 && b->offset_n == 2);
    sl_batch_remove(b, 0);
    CHECK(b->n == 2 && b->offset_n == 1 && b->recs[0].op == SL_OP_CREATE && b->recs[1].op == SL_OP_DELETE);
    sl_batch_remove(b, 1);
    CHECK(b->n == 1 && b->offset_n == 1);
    sl_batch_destroy(b);
    sl_table_unref(t);
}

/* sl_record_order: later changes have greater text, per source. */
static void test_record_order(void) {
    sl_record a, b;
    char x[256], y[256];
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
    /* PostgreSQL: the commit position decides, not the change's own LSN (transactions interleave) */
    a.pos.final_lsn = 0x2000, a.pos.lsn = 0x1900; /* committed second, changed first */
    b.pos.final_lsn = 0x1F00, b.pos.lsn = 0x1950;
    CHECK(sl_record_order(&a, x, sizeof x) > 0 && sl_record_order(&b, y, sizeof y) > 0);
    CHECK(strcmp(x, y) > 0);
    b.pos.final_lsn = 0x2000, b.pos.lsn = 0x1901; /* the same transaction, a later change */
    sl_record_order(&b, y, sizeof y);
    CHECK(strcmp(y, x) > 0);
    a.tx_order = 1, b.pos.lsn = 0x1900, b.tx_order = 2; /* a key change: delete and create at one LSN */
    sl_record_order(&a, x, sizeof x), sl_record_order(&b, y, sizeof y);
    CHECK(strcmp(y, x) > 0);
    /* a snapshot row at the slot's point sorts before a transaction committing there */
    sl_record s;
    memset(&s, 0, sizeof s);
    s.snapshot = SL_SNAP_TRUE, s.pos.lsn = s.pos.commit_lsn = 0x2000;
    char z[256];
    sl_record_order(&s, z, sizeof z);
    CHECK(strcmp(z, x) < 0);
    s.pos.lsn = s.pos.commit_lsn = 0x2001; /* an incremental chunk read after it: later */
    sl_record_order(&s, z, sizeof z);
    CHECK(strcmp(z, x) > 0);
    /* MySQL: file number (not the name's text), transaction, event, row */
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
    a.pos.file = "bin.000009", a.pos.file_pos = 900, a.pos.event_pos = 950, a.pos.row = 3;
    b.pos.file = "bin.000010", b.pos.file_pos = 4, b.pos.event_pos = 10;
    sl_record_order(&a, x, sizeof x), sl_record_order(&b, y, sizeof y);
    CHECK(strcmp(x, y) < 0);
    b.pos.file = "bin.000009", b.pos.file_pos = 900, b.pos.event_pos = 950, b.pos.row = 4;
    sl_record_order(&b, y, sizeof y);
    CHECK(strcmp(x, y) < 0);
    b.snapshot = SL_SNAP_TRUE, b.pos.event_pos = 0, b.pos.row = 0; /* the snapshot at that position: before */
    sl_record_order(&b, y, sizeof y);
    CHECK(strcmp(y, x) < 0);
    /* MongoDB: the resume token; a copied document has no position */
    memset(&a, 0, sizeof a);
    a.pos.resume_token = "8200000001000000010A";
    CHECK(sl_record_order(&a, x, sizeof x) == 21 && x[0] == 'T');
    a.pos.resume_token = NULL;
    CHECK(sl_record_order(&a, x, sizeof x) == 0 && x[0] == 0);
    /* Kafka: partition, then offset (hex, fixed width: 10 after 9) */
    sl_raw ra = {0}, rb = {0};
    ra.topic = rb.topic = "t", ra.partition = rb.partition = 0, ra.offset = 9, rb.offset = 10;
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
    a.raw = &ra, b.raw = &rb;
    sl_record_order(&a, x, sizeof x), sl_record_order(&b, y, sizeof y);
    CHECK(strcmp(x, y) < 0);
    /* too small a buffer: no position rather than a cut one */
    CHECK(sl_record_order(&b, x, 8) == 0);
}

static void test_queue(void) {
    sl_queue *q = sl_queue_new(0, 3);
    sl_batch *b1 = sl_batch_new(), *b2 = sl_batch_new();
    for (int i = 0; i < 3; i++) sl_batch_add(b1, NULL);
    sl_batch_add(b2, NULL);
    CHECK(sl_queue_wait_room(q, 0));
    CHECK(sl_queue_push(q, b1) == 0); /* an empty queue takes any batch */
    size_t recs = 0, batches = 0;
    sl_queue_stats(q, NULL, &recs, &batches);
    CHECK(recs == 3 && batches == 1);
    CHECK(!sl_queue_wait_room(q, 10)); /* full: times out */
    CHECK(sl_queue_peek(q) == b1 && sl_queue_peek(q) == b1); /* it stays queued */
    CHECK(sl_queue_pop(q, 0) == b1);
    CHECK(sl_queue_peek(q) == NULL);
    CHECK(sl_queue_wait_room(q, 10));
    CHECK(sl_queue_pop(q, 10) == NULL); /* timeout */
    CHECK(sl_queue_push(q, b2) == 0);
    sl_queue_close(q);
    CHECK(sl_queue_wait_room(q, 10)); /* closed: nothing to wait for */
    CHECK(!sl_queue_drained(q));
    CHECK(sl_queue_pop(q, 10) == b2);
    CHECK(sl_queue_drained(q));
    sl_batch *b3 = sl_batch_new();
    CHECK(sl_queue_push(q, b3) == -1); /* closed: caller keeps it */
    sl_batch_destroy(b1), sl_batch_destroy(b2), sl_batch_destroy(b3);
    sl_queue_destroy(q);
    /* A batch counts what it holds, and a batch of one record holds little: a source that hands on every
     * record as it arrives (PostgreSQL while its stream is momentarily idle) fills the default byte bound
     * (8 MiB) with thousands of them, not with 256. */
    sl_batch *one = sl_batch_new();
    sl_batch_add(one, NULL);
    CHECK(sl_batch_bytes(one) < 16384);
    sl_batch_destroy(one);
}

static void test_offsets(void) {
    char path[] = "/tmp/sl_off_XXXXXX", err[512];
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    sl_offsets *s = sl_offsets_open(path, err, sizeof err);
    CHECK(s != NULL);
    char *off = NULL;
    CHECK(sl_offsets_get(s, "c1", "{\"server\":\"p\"}", &off, err, sizeof err) == 0 && off == NULL);
    CHECK(sl_offsets_put(s, "c1", "{\"server\":\"p\"}", "{\"lsn\":1}", err, sizeof err) == 0);
    CHECK(sl_offsets_put(s, "c1", "{\"server\":\"p\"}", "{\"lsn\":2}", err, sizeof err) == 0);
    sl_offsets_close(s);
    s = sl_offsets_open(path, err, sizeof err); /* survives reopen */
    CHECK(sl_offsets_get(s, "c1", "{\"server\":\"p\"}", &off, err, sizeof err) == 0);
    CHECK_STR(off, "{\"lsn\":2}");
    sl_free(off);
    /* One partition removed, the other kept. */
    CHECK(sl_offsets_put(s, "c1", "{\"server\":\"q\"}", "{\"lsn\":3}", err, sizeof err) == 0);
    CHECK(sl_offsets_remove(s, "c1", "{\"server\":\"q\"}", err, sizeof err) == 0);
    CHECK(sl_offsets_remove(s, "c1", "{\"server\":\"q\"}", err, sizeof err) == 0); /* nothing there: fine */
    CHECK(sl_offsets_get(s, "c1", "{\"server\":\"q\"}", &off, err, sizeof err) == 0 && off == NULL);
    CHECK(sl_offsets_get(s, "c1", "{\"server\":\"p\"}", &off, err, sizeof err) == 0);
    CHECK_STR(off, "{\"lsn\":2}");
    sl_free(off);
    int removed = 0;
    CHECK(sl_offsets_delete(s, "c1", &removed, err, sizeof err) == 0 && removed == 1);
    sl_offsets_close(s);
    CHECK(sl_offsets_open("/nonexistent-dir/x.db", err, sizeof err) == NULL);
    CHECK(strstr(err, "offset.storage.file.filename") != NULL);
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof wal, "%s-wal", path), unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path), unlink(wal);
}

/* One line per interval passes; the next one that passes learns how many were dropped. */
static void test_log_limit(void) {
    sl_log_limit l = {0};
    unsigned long dropped = 99;
    CHECK(sl_log_limit_pass(&l, 1000, 10000, &dropped) && dropped == 0);
    CHECK(!sl_log_limit_pass(&l, 1001, 10000, &dropped));
    CHECK(!sl_log_limit_pass(&l, 10999, 10000, &dropped));
    CHECK(sl_log_limit_pass(&l, 11000, 10000, &dropped) && dropped == 2);
    CHECK(!sl_log_limit_pass(&l, 11001, 10000, &dropped));
    CHECK(sl_log_limit_take(&l) == 1 && sl_log_limit_take(&l) == 0);
    CHECK(sl_log_limit_pass(&l, 30000, 10000, &dropped) && dropped == 0);
}

/* Many connectors mean many secrets: every one registered is masked in a logged line, however many. */
static void test_log_many_secrets(void) {
    char path[] = "/tmp/sluice-test-log-XXXXXX", secret[64];
    int fd = mkstemp(path), saved = dup(2);
    CHECK(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    for (int i = 0; i < 100; i++) {
        snprintf(secret, sizeof secret, "%c%02d-pw-%d", 'a' + i % 26, i, i * 7919);
        sl_log_add_secret(secret);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(secret, sizeof secret, "%c%02d-pw-%d", 'a' + i % 26, i, i * 7919);
        sl_log(SL_LOG_ERROR, "test", "connector %d: login with password=%s failed", i, secret);
    }
    sl_log(SL_LOG_ERROR, "test", "a line with no secret in it");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fdopen(fd, "r");
    rewind(f);
    char line[512];
    int lines = 0, masked = 0, clear = 0, plain = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        masked += strstr(line, "password=******** failed") != NULL;
        clear += strstr(line, "-pw-") != NULL;
        plain += strstr(line, "a line with no secret in it") != NULL;
    }
    fclose(f);
    unlink(path);
    CHECK(lines == 101);
    CHECK(masked == 100); /* the 33rd and later too */
    CHECK(clear == 0);
    CHECK(plain == 1);
    /* a secret that starts where another one's stars end: still found after the first is masked */
    sl_log_add_secret("***tail-secret");
    char buf[128] = "x=a00-pw-0tail-secret";
    sl_log_redact(buf);
    CHECK_STR(buf, "x=*************"); /* 8 stars, then 5 of them and the tail as 8 more */
}

int main(void) {
    test_buf();
    test_log_many_secrets();
    test_log_limit();
    test_buf_spill();
    test_utf8();
    test_decimal_text();
    test_record_check();
    test_record_order();
    test_conf();
    test_queue();
    test_offsets();
    TEST_END();
}
