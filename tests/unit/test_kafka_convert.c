/*
 * Unit tests of the Kafka source's pure parts: the input converters
 * (kconvert.c: JSON / string / bytes, envelopes, op detection, UTF-8
 * repair) and the offset tracker (ktrack.c: only acked batches move the
 * committable position; a revoked partition is forgotten).
 */
#include "source/kafka/kconvert.h"
#include "source/kafka/ktrack.h"
#include "test.h"
#include "util/buf.h"
#include <stdio.h>
#include <string.h>

static sl_buf out;
static char err[1024];

/* Converts s; returns the JSON text, or "ERR" (message in err). */
static const char *conv(sl_kconv_kind k, bool schemas, const char *s, size_t n, sl_op *op) {
    sl_buf_reset(&out);
    err[0] = 0;
    if (sl_kconv_convert(k, schemas, s, n, &out, op, err, sizeof err) < 0) return "ERR";
    return sl_buf_cstr(&out);
}
#define CONV(k, schemas, lit, op) conv(k, schemas, lit, sizeof(lit) - 1, op)

static void test_json(void) {
    sl_op op = 0;
    CHECK_STR(CONV(SL_KCONV_JSON, true, "{\"schema\":{\"type\":\"int32\"},\"payload\":5}", &op),
              "{\"schema\":{\"type\":\"int32\"},\"payload\":5}");
    CHECK(op == SL_OP_CREATE);
    /* Whitespace outside strings goes (one record per line), inside strings it stays. */
    CHECK_STR(CONV(SL_KCONV_JSON, false, " {\"a b\" :\n [1, \"x\\\" y\"]\t}\r\n", &op), "{\"a b\":[1,\"x\\\" y\"]}");
    CHECK_STR(CONV(SL_KCONV_JSON, false, "\"just a string\"", &op), "\"just a string\"");
    CHECK_STR(CONV(SL_KCONV_JSON, false, "123456789012345678901234567890", &op), "123456789012345678901234567890");
    /* A null payload is a delete. */
    CHECK_STR(CONV(SL_KCONV_JSON, false, "null", &op), "null");
    CHECK(op == SL_OP_DELETE);
    CHECK_STR(CONV(SL_KCONV_JSON, true, "{\"schema\":null,\"payload\":null}", &op), "{\"schema\":null,\"payload\":null}");
    CHECK(op == SL_OP_DELETE);
    /* Bad JSON, trailing garbage, empty input, invalid UTF-8 inside a string. */
    CHECK_STR(CONV(SL_KCONV_JSON, false, "{\"a\":", &op), "ERR");
    CHECK(strstr(err, "serialization error") != NULL);
    CHECK_STR(CONV(SL_KCONV_JSON, false, "{} x", &op), "ERR");
    CHECK_STR(CONV(SL_KCONV_JSON, false, "", &op), "ERR");
    CHECK_STR(CONV(SL_KCONV_JSON, false, "\"\xff\"", &op), "ERR");
    /* Schemas on: exactly {schema, payload}. */
    CHECK_STR(CONV(SL_KCONV_JSON, true, "{\"payload\":1}", &op), "ERR");
    CHECK(strstr(err, "schemas.enable requires \"schema\" and \"payload\"") != NULL);
    CHECK_STR(CONV(SL_KCONV_JSON, true, "{\"schema\":{},\"payload\":1,\"extra\":2}", &op), "ERR");
    CHECK_STR(CONV(SL_KCONV_JSON, true, "[1,2]", &op), "ERR");
    CHECK_STR(CONV(SL_KCONV_JSON, true, "null", &op), "ERR");
    /* Keys need no op. */
    CHECK_STR(CONV(SL_KCONV_JSON, false, "{\"id\":1}", NULL), "{\"id\":1}");
}

static void test_ops(void) {
    static const struct {
        const char *json;
        bool schemas;
        sl_op op;
    } cases[] = {
        {"{\"op\":\"u\",\"source\":{}}", false, SL_OP_UPDATE},
        {"{\"op\":\"d\",\"source\":{\"db\":\"x\"},\"before\":{}}", false, SL_OP_DELETE},
        {"{\"op\":\"r\",\"source\":{}}", false, SL_OP_READ},
        {"{\"op\":\"t\",\"source\":{}}", false, SL_OP_TRUNCATE},
        {"{\"op\":\"c\",\"source\":{}}", false, SL_OP_CREATE},
        {"{\"schema\":{},\"payload\":{\"op\":\"d\",\"source\":{}}}", true, SL_OP_DELETE},
        /* Not envelopes: no source object, unknown op, op not a one-letter string, envelope not unwrapped. */
        {"{\"op\":\"d\"}", false, SL_OP_CREATE},
        {"{\"op\":\"d\",\"source\":\"x\"}", false, SL_OP_CREATE},
        {"{\"op\":\"x\",\"source\":{}}", false, SL_OP_CREATE},
        {"{\"op\":\"dd\",\"source\":{}}", false, SL_OP_CREATE},
        {"{\"op\":1,\"source\":{}}", false, SL_OP_CREATE},
        {"{\"schema\":{},\"payload\":{\"op\":\"d\",\"source\":{}}}", false, SL_OP_CREATE},
        {"[\"op\"]", false, SL_OP_CREATE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_op op = 0;
        const char *got = conv(SL_KCONV_JSON, cases[i].schemas, cases[i].json, strlen(cases[i].json), &op);
        CHECK(strcmp(got, "ERR") != 0);
        if (op != cases[i].op) fprintf(stderr, "case %zu: op %c, want %c\n", i, (char)op, (char)cases[i].op);
        CHECK(op == cases[i].op);
    }
    /* String and bytes converters never see envelopes. */
    sl_op op = 0;
    conv(SL_KCONV_STRING, true, "{\"op\":\"u\",\"source\":{}}", 23, &op);
    CHECK(op == SL_OP_CREATE);
}

static void test_string_bytes(void) {
    sl_op op;
    CHECK_STR(CONV(SL_KCONV_STRING, true, "a \"q\"\n\x01", &op), "\"a \\\"q\\\"\\n\\u0001\"");
    CHECK_STR(CONV(SL_KCONV_STRING, true, "", &op), "\"\"");
    CHECK_STR(CONV(SL_KCONV_STRING, false, "caf\xc3\xa9 \xe2\x82\xac", &op), "\"caf\xc3\xa9 \xe2\x82\xac\"");
    /* Malformed UTF-8 becomes U+FFFD, one per maximal subpart. */
    CHECK_STR(CONV(SL_KCONV_STRING, false, "a\xffz", &op), "\"a\xef\xbf\xbdz\"");
    CHECK_STR(CONV(SL_KCONV_STRING, false, "a\xe2\x82z", &op), "\"a\xef\xbf\xbdz\"");
    CHECK_STR(CONV(SL_KCONV_STRING, false, "\xc0\xaf", &op), "\"\xef\xbf\xbd\xef\xbf\xbd\"");   /* overlong */
    CHECK_STR(CONV(SL_KCONV_STRING, false, "\xed\xa0\x80", &op), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
    CHECK_STR(CONV(SL_KCONV_STRING, false, "\xf0\x9f\x98", &op), "\"\xef\xbf\xbd\"");          /* cut short */
    CHECK_STR(CONV(SL_KCONV_BYTES, true, "\x00\xff\x10hi", &op), "\"AP8QaGk=\"");
    CHECK_STR(CONV(SL_KCONV_BYTES, true, "", &op), "\"\"");
    CHECK_STR(conv(SL_KCONV_STRING, true, NULL, 0, &op), "\"\"");
    CHECK_STR(sl_kconv_class(sl_kconv_from_index(4)), "org.apache.kafka.connect.storage.StringConverter");
    CHECK_STR(sl_kconv_class(sl_kconv_from_index(2)), "org.apache.kafka.connect.converters.ByteArrayConverter");
}

static void test_track(void) {
    sl_ktrack *t = sl_ktrack_new();
    sl_buf j;
    sl_buf_init(&j);
    CHECK(sl_ktrack_open_empty(t));
    sl_ktrack_note(t, "a", 0, 10);
    sl_ktrack_note(t, "a", 0, 11);
    sl_ktrack_note(t, "b", 3, 7);
    CHECK(!sl_ktrack_open_empty(t));
    sl_ktrack_seal(t, 5, &j);
    CHECK_STR(sl_buf_cstr(&j), "{\"a/0\":12,\"b/3\":8}");
    CHECK(sl_ktrack_open_empty(t));
    sl_ktrack_note(t, "a", 0, 12);
    sl_buf_reset(&j);
    sl_ktrack_seal(t, 9, &j);
    CHECK_STR(sl_buf_cstr(&j), "{\"a/0\":13}");
    /* Nothing acked yet: nothing to commit. */
    CHECK(sl_ktrack_ack(t, 4) == 0);
    CHECK(sl_ktrack_find(t, "a", 0)->acked == -1);
    /* The first batch acked: its offsets only. */
    CHECK(sl_ktrack_ack(t, 8) == 2);
    CHECK(sl_ktrack_find(t, "a", 0)->acked == 12);
    CHECK(sl_ktrack_find(t, "b", 3)->acked == 8);
    sl_ktrack_find(t, "a", 0)->committed = 12;
    sl_ktrack_find(t, "b", 3)->committed = 8;
    CHECK(sl_ktrack_ack(t, 8) == 0);
    /* A revoked partition: its sealed and open entries are dropped. */
    sl_ktrack_note(t, "a", 0, 13);
    sl_ktrack_forget(t, "a", 0);
    CHECK(sl_ktrack_open_empty(t));
    CHECK(sl_ktrack_ack(t, 100) == 0);
    CHECK(sl_ktrack_find(t, "a", 0)->acked == -1);
    CHECK(sl_ktrack_find(t, "zz", 0) == NULL);
    /* Many partitions: the hash grows and finds every one. */
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "t%d", i % 37);
        sl_ktrack_note(t, name, i, i * 2);
    }
    sl_buf_reset(&j);
    sl_ktrack_seal(t, 200, &j);
    CHECK(sl_ktrack_ack(t, 200) == 1000);
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "t%d", i % 37);
        sl_ktp *p = sl_ktrack_find(t, name, i);
        ok &= p && p->acked == i * 2 + 1;
    }
    CHECK(ok);
    CHECK(sl_ktrack_count(t) == 1002);
    sl_buf_free(&j);
    sl_ktrack_destroy(t);
}

/* The envelope's parts, noted while validating: offsets into the output, only when it was copied as it is. */
static void test_parts(void) {
    sl_kconv_parts p;
    const char *in = "{\"schema\":{\"type\":\"int32\"},\"payload\":5}";
    sl_buf_reset(&out);
    CHECK(sl_kconv_convert_parts(SL_KCONV_JSON, true, in, strlen(in), &out, NULL, &p, err, sizeof err) == 0);
    CHECK(p.schema_len == 16 && !memcmp(out.data + p.schema_at, "{\"type\":\"int32\"}", 16));
    CHECK(p.payload_len == 1 && out.data[p.payload_at] == '5');
    const char *spaced = "{\"payload\": 5, \"schema\": null}"; /* compacted: the offsets would move */
    sl_buf_reset(&out);
    CHECK(sl_kconv_convert_parts(SL_KCONV_JSON, true, spaced, strlen(spaced), &out, NULL, &p, err, sizeof err) == 0);
    CHECK(p.schema_len == 0 && p.payload_len == 0);
    const char *escaped = "{\"sch\\u0065ma\":null,\"payload\":7}"; /* found by the slower lookup, no parts */
    sl_buf_reset(&out);
    CHECK(sl_kconv_convert_parts(SL_KCONV_JSON, true, escaped, strlen(escaped), &out, NULL, &p, err, sizeof err) == 0);
    CHECK(p.payload_len == 0 || out.data[p.payload_at] == '7');
    sl_buf_reset(&out);
    CHECK(sl_kconv_convert_parts(SL_KCONV_JSON, false, in, strlen(in), &out, NULL, &p, err, sizeof err) == 0);
    CHECK(p.schema_len == 0 && p.payload_len == 0); /* schemaless: the whole value is the payload */
}

/* A memo of the last schema: each input converts exactly as without it (text, op, parts, error), whether it
 * shares the remembered prefix or not. */
static void test_memo(void) {
    static const char *const ins[] = {
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"c\",\"source\":{}}}",
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"u\",\"source\":{}}}",   /* prefix: payload only */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"u\",\"o\\u0070\":\"d\",\"source\":{}}}", /* escaped */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"u\",\"source\":{},\"op\":\"t\"}}", /* last wins */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"u\"}}",                 /* no source */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"before\":{\"op\":\"d\"},\"source\":{},\"op\":\"r\"}}",
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"d\",\"source\":{}}} ",  /* trailing space */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\" :\"d\",\"source\":{}}}",  /* space in the payload */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":null}",                           /* a delete */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"c\"},\"x\":1}",         /* a third member */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"c\"",                   /* cut short */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":\"\xff\"}",                       /* bad UTF-8 */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"op\":\"r\",\"source\":{}}}}",  /* one brace too many */
        "{\"schema\":{\"type\":\"struct\"},\"payload\":1}",
        "{\"schema\":{\"type\":\"int32\"},\"payload\":2}",                               /* another schema */
        "{\"schema\":{\"type\":\"int32\"},\"payload\":[2,{\"a\":\"}\"}]}",
    };
    /* the ops of inputs 1 to 5 (escaped keys decoded, the last occurrence, no source: c, a nested op ignored) */
    static const sl_op want[] = {SL_OP_CREATE, SL_OP_UPDATE, SL_OP_DELETE, SL_OP_TRUNCATE, SL_OP_CREATE, SL_OP_READ};
    sl_kconv_memo memo = {0};
    sl_buf with;
    sl_buf_init(&with);
    int fast = 0;
    for (size_t i = 0; i < sizeof ins / sizeof *ins; i++) {
        size_t n = strlen(ins[i]);
        sl_kconv_parts p1, p2;
        sl_op o1 = 0, o2 = 0;
        char e1[512] = "", e2[512] = "";
        sl_buf_reset(&out);
        sl_buf_reset(&with);
        bool primed = memo.n > 0 && n > memo.n && memcmp(ins[i], memo.prefix, memo.n) == 0;
        int r1 = sl_kconv_convert_parts(SL_KCONV_JSON, true, ins[i], n, &out, &o1, &p1, e1, sizeof e1);
        int r2 = sl_kconv_convert_memo(SL_KCONV_JSON, true, ins[i], n, &with, &o2, &p2, &memo, e2, sizeof e2);
        fast += primed && r2 == 0;
        CHECK(r1 == r2);
        CHECK_STR(e1, e2);
        if (r1 == 0) {
            CHECK(out.len == with.len && !memcmp(out.data, with.data, out.len));
            CHECK(o1 == o2);
            if (i < sizeof want / sizeof *want) CHECK(o2 == want[i]);
            CHECK(!memcmp(&p1, &p2, sizeof p1));
        }
    }
    CHECK(fast >= 8); /* u, the escaped, repeated and nested keys, null, 1, and the array after int32 were read
                       * from the payload on */
    sl_kconv_memo_free(&memo);
    sl_buf_free(&with);
}

int main(void) {
    sl_buf_init(&out);
    test_json();
    test_parts();
    test_memo();
    test_ops();
    test_string_bytes();
    test_track();
    sl_buf_free(&out);
    TEST_END();
}
