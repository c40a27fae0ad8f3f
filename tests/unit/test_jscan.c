/* util/jscan: validation (what jansson accepts, see the kafka_convert fuzzer) and lookups in place. */
#include "test.h"
#include "util/jscan.h"
#include <string.h>

static bool ok(const char *s) { return sl_jscan_validate(s, strlen(s), NULL) == 0; }

static void test_validate(void) {
    const char *good[] = {"0", "-0.5e+3", " {\"a\" : [1, 2, {\"b\": null}], \"c\": true} ", "\"\\u0000\"",
                          "\"\\ud83d\\ude00 \xc3\xa9\"", "123456789012345678901234567890", "[]", "{}", "1e-400",
                          "\"\\/\\b\\f\\n\\r\\t\"", NULL};
    for (int i = 0; good[i]; i++) CHECK(ok(good[i]));
    const char *bad[] = {"", " ", "01", "1.", ".5", "1e", "+1", "[1,]", "{\"a\":1,}", "{a:1}", "\"\\x\"",
                         "\"\\ud83d\"", "\"\\ude00\"", "\"tab\there\"", "tru", "nul", "[1] x", "1e400", "\"\xc3\"",
                         "\"\xed\xa0\x80\"", "{\"a\\u0000\":1}", "[", "{\"a\"}", "\"abc", NULL};
    for (int i = 0; bad[i]; i++) CHECK(!ok(bad[i]));
    char deep[4200];
    memset(deep, '[', 2048), memset(deep + 2048, ']', 2048), deep[4096] = 0;
    CHECK(ok(deep)); /* 2048 levels, jansson's limit */
    memset(deep, '[', 2049), memset(deep + 2049, ']', 2049), deep[4098] = 0;
    CHECK(!ok(deep));
    sl_jscan_err e;
    CHECK(sl_jscan_validate("{\n  \"a\": x}", 11, &e) < 0 && e.line == 2 && e.text[0]);
}

static void test_lookup(void) {
    const char *s = " {\"schema\": {\"x\": \"}\"}, \"p\\u0061yload\" : {\"op\": \"u\", \"op\": \"d\", \"source\": {}}} ";
    sl_jval root = {s, strlen(s)}, v, op;
    CHECK(sl_jval_kind(root) == '{' && sl_jval_object_size(root) == 2);
    CHECK(sl_jval_member(root, "payload", &v) && sl_jval_kind(v) == '{');
    CHECK(sl_jval_member(v, "op", &op)); /* the last of two wins, as in jansson */
    char buf[8];
    CHECK(sl_jval_string(op, buf, sizeof buf) == 1 && buf[0] == 'd');
    CHECK(!sl_jval_member(root, "missing", &v) && !sl_jval_member(op, "x", &v));
    CHECK(sl_jval_member(root, "schema", &v) && v.n == 10 && memcmp(v.p, "{\"x\": \"}\"}", 10) == 0);
    const char *dup = "{\"a\":1,\"a\":2,\"\\u0061\":3}";
    CHECK(sl_jval_object_size((sl_jval){dup, strlen(dup)}) == 1);
    CHECK(sl_jval_object_size((sl_jval){"[1]", 3}) == -1);
    CHECK(sl_jval_string((sl_jval){"\"\\ud83d\\ude00\"", 14}, buf, sizeof buf) == 4 && strcmp(buf, "\xf0\x9f\x98\x80") == 0);
}

int main(void) {
    test_validate();
    test_lookup();
    TEST_END();
}
