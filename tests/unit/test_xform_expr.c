/*
 * The expression language (parser: precedence, associativity, every
 * operator, literals, errors with their columns, limits; evaluation over
 * Debezium-shaped records with and without schemas, tombstones and
 * heartbeats) and the two transforms over it: filter (keep/drop, null
 * handling, topic.regex) and router (routes in numeric order, first match,
 * default topic, topic.expression), with bad configs naming their key.
 */
#include "test.h"
#include "xtest.h"
#include "xform/expr_lang.h"
#include <stdlib.h>

#define SRC                                                                                                   \
    "{\"version\":\"2.7.0\",\"connector\":\"postgresql\",\"name\":\"inv\",\"ts_ms\":1700000000000,\"db\":\"shop\"," \
    "\"schema\":\"public\",\"table\":\"orders\",\"lsn\":123}"
#define ROW(id, status, region)                                                                          \
    "{\"id\":" #id ",\"status\":\"" status "\",\"region\":" region ",\"price\":12.5,\"tags\":[\"a\",\"b\"]," \
    "\"first name\":\"Ann\"}"
#define ENV(before, after, op) \
    "{\"before\":" before ",\"after\":" after ",\"source\":" SRC ",\"op\":\"" op "\",\"ts_ms\":1700000000123}"
#define SCHEMA                                                                                                     \
    "{\"type\":\"struct\",\"name\":\"inv.public.orders.Envelope\",\"optional\":false,\"fields\":["                 \
    "{\"field\":\"before\",\"type\":\"struct\",\"optional\":true,\"fields\":[{\"field\":\"id\",\"type\":\"int32\"," \
    "\"optional\":false}]},{\"field\":\"op\",\"type\":\"string\",\"optional\":false}]}"
#define WITH_SCHEMA(payload) "{\"schema\":" SCHEMA ",\"payload\":" payload "}"

static const char *V_CREATE = ENV("null", ROW(5, "new", "\"eu\""), "c");
static const char *V_UPDATE = ENV(ROW(7, "new", "\"eu\""), ROW(7, "shipped", "\"eu\""), "u");
static const char *V_DELETE = ENV(ROW(9, "lost", "null"), "null", "d");
static const char *V_UPDATE_S = WITH_SCHEMA(ENV(ROW(7, "new", "\"eu\""), ROW(7, "shipped", "\"eu\""), "u"));
static const char *V_HEARTBEAT =
    "{\"schema\":{\"type\":\"struct\",\"name\":\"io.debezium.connector.common.Heartbeat\",\"fields\":[{\"field\":"
    "\"ts_ms\",\"type\":\"int64\",\"optional\":false}]},\"payload\":{\"ts_ms\":1700000000999}}";
static const char *KEY7 = "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"field\":\"id\",\"type\":\"int32\"}]},"
                          "\"payload\":{\"id\":7}}";
static const char *TOPIC = "inv.public.orders";

static char out[8192];

/* "type:text" of expr over the record (value text, NULL: tombstone), or "parse: msg" / "eval: msg". */
static const char *ev_on(const char *expr, const char *key, const char *value) {
    char err[512];
    sl_expr *e = sl_expr_parse(expr, err, sizeof err);
    if (!e) {
        snprintf(out, sizeof out, "parse: %s", err);
        return out;
    }
    sl_xrec r;
    sl_xrec_from_text(&r, TOPIC, key, value);
    r.ts_ms = 1700000000500;
    sl_xrec_add_header(&r, "h1", json_string("one"));
    sl_xrec_add_header(&r, "n", json_integer(3));
    sl_xrec_add_header(&r, "h1", json_string("last"));
    sl_xrec_to_view(&r, err, sizeof err);
    sl_expr_val v;
    if (sl_expr_eval(e, &r, &v, err, sizeof err) < 0) {
        snprintf(out, sizeof out, "eval: %s", err);
    } else {
        char text[4096];
        sl_expr_val_str(&v, text, sizeof text);
        snprintf(out, sizeof out, "%s:%s", sl_expr_type_name(&v), text);
    }
    sl_xrec_clear(&r);
    sl_expr_free(e);
    return out;
}

static const char *ev(const char *expr) { return ev_on(expr, KEY7, V_UPDATE); }

static void test_literals(void) {
    CHECK_STR(ev("42"), "number:42");
    CHECK_STR(ev("-42"), "number:-42");
    CHECK_STR(ev("1.5e3"), "number:1500");
    CHECK_STR(ev(".5"), "number:0.5");
    CHECK_STR(ev("9223372036854775807"), "number:9223372036854775807");
    CHECK_STR(ev("-9223372036854775807 - 1"), "number:-9223372036854775808");
    CHECK_STR(ev("9223372036854775808"), "number:9.223372036854776e+18"); /* too big: a double */
    CHECK_STR(ev("'single'"), "string:single");
    CHECK_STR(ev("\"double\""), "string:double");
    CHECK_STR(ev("'it\\'s'"), "string:it's");
    CHECK_STR(ev("\"say \\\"hi\\\"\""), "string:say \"hi\"");
    CHECK_STR(ev("'a\\\\b'"), "string:a\\b");
    CHECK_STR(ev("'\\d+'"), "string:\\d+"); /* unknown escapes keep their backslash (regexes) */
    CHECK_STR(ev("'tab\\there'"), "string:tab\there");
    CHECK_STR(ev("''"), "string:");
    CHECK_STR(ev("true"), "boolean:true");
    CHECK_STR(ev("FALSE"), "boolean:false");
    CHECK_STR(ev("null"), "null:null");
    CHECK_STR(ev("Null is null"), "boolean:true");
}

static void test_precedence(void) {
    CHECK_STR(ev("1 + 2 * 3"), "number:7");
    CHECK_STR(ev("(1 + 2) * 3"), "number:9");
    CHECK_STR(ev("10 - 3 - 2"), "number:5"); /* left-associative */
    CHECK_STR(ev("100 / 10 / 5"), "number:2");
    CHECK_STR(ev("2 * 3 % 4"), "number:2");
    CHECK_STR(ev("-2 * 3"), "number:-6");
    CHECK_STR(ev("2 - -1"), "number:3");
    CHECK_STR(ev("- after.id"), "number:-7");
    CHECK_STR(ev("--after.id"), "number:7");
    CHECK_STR(ev("'a' + 1 + 2"), "string:a12");
    CHECK_STR(ev("1 + 2 + 'a'"), "string:3a");
    CHECK_STR(ev("true or false and false"), "boolean:true"); /* and binds tighter than or */
    CHECK_STR(ev("false and true or true"), "boolean:true");
    CHECK_STR(ev("not true and false"), "boolean:false"); /* (not true) and false */
    CHECK_STR(ev("not (true and false)"), "boolean:true");
    CHECK_STR(ev("not 1 == 2"), "boolean:true"); /* not (1 == 2) */
    CHECK_STR(ev("! false && false"), "boolean:false");
    CHECK_STR(ev("1 + 2 == 3"), "boolean:true");
    CHECK_STR(ev("1 < 2 == true"), "parse: comparisons do not chain (use 'and') at column 7");
    CHECK_STR(ev("(1 < 2) == true"), "boolean:true");
    CHECK_STR(ev("true ? 'a' : false ? 'b' : 'c'"), "string:a"); /* ?: is right-associative */
    CHECK_STR(ev("false ? 'a' : false ? 'b' : 'c'"), "string:c");
    CHECK_STR(ev("false ? 'a' : true ? 'b' : 'c'"), "string:b");
    CHECK_STR(ev("op == 'u' or op == 'c' ? 'x' : 'y'"), "string:x"); /* ?: binds loosest */
    CHECK_STR(ev("true || false && false"), "boolean:true");
    CHECK_STR(ev("1 in (1, 2) and 3 in (4)"), "boolean:false");
}

static void test_arith(void) {
    CHECK_STR(ev("7 / 2"), "number:3"); /* integers divide as integers */
    CHECK_STR(ev("7.0 / 2"), "number:3.5");
    CHECK_STR(ev("-7 % 3"), "number:-1");
    CHECK_STR(ev("7.5 % 2"), "number:1.5");
    CHECK_STR(ev("1 / 0"), "null:null");
    CHECK_STR(ev("1 % 0"), "null:null");
    CHECK_STR(ev("1.0 / 0"), "null:null");
    CHECK_STR(ev("9223372036854775807 + 1"), "number:9.223372036854776e+18"); /* overflow: double */
    CHECK_STR(ev("(-9223372036854775807 - 1) / -1"), "number:9.223372036854776e+18");
    CHECK_STR(ev("(-9223372036854775807 - 1) % -1"), "number:0");
    CHECK_STR(ev("-(-9223372036854775807 - 1)"), "number:9.223372036854776e+18");
    CHECK_STR(ev("after.price * 2"), "number:25");
    CHECK_STR(ev("'a' - 1"), "null:null");
    CHECK_STR(ev("-'a'"), "null:null");
    CHECK_STR(ev("after.missing + 1"), "null:null");
    CHECK_STR(ev("'p_' + after.missing"), "null:null"); /* concatenating null gives null */
    CHECK_STR(ev("'p_' + true + 1.25"), "string:p_true1.25");
    CHECK_STR(ev("'x' + after"), "null:null");
    CHECK_STR(ev("'a' + 'b' + 'c' + 'd'"), "string:abcd");
    CHECK_STR(ev("('a' + 'b') + ('c' + 'd') + source.table"), "string:abcdorders");
}

static void test_compare(void) {
    CHECK_STR(ev("'abc' < 'abd'"), "boolean:true");
    CHECK_STR(ev("'b' > 'abc'"), "boolean:true");
    CHECK_STR(ev("'ab' < 'abc'"), "boolean:true");
    CHECK_STR(ev("'abc' <= 'abc'"), "boolean:true");
    CHECK_STR(ev("'abc' >= 'abd'"), "boolean:false");
    CHECK_STR(ev("10 > 9"), "boolean:true"); /* numerically, not as text */
    CHECK_STR(ev("10 >= 10.0"), "boolean:true");
    CHECK_STR(ev("2 < 2.5"), "boolean:true");
    CHECK_STR(ev("'10' > 9"), "boolean:false"); /* mixed: false either way */
    CHECK_STR(ev("'10' < 9"), "boolean:false");
    CHECK_STR(ev("'10' == 10"), "boolean:false");
    CHECK_STR(ev("'10' != 10"), "boolean:true");
    CHECK_STR(ev("1 == 1.0"), "boolean:true");
    CHECK_STR(ev("null == null"), "boolean:true");
    CHECK_STR(ev("after.missing == null"), "boolean:true");
    CHECK_STR(ev("null < 1"), "boolean:false");
    CHECK_STR(ev("null >= null"), "boolean:false");
    CHECK_STR(ev("true == 1"), "boolean:false");
    CHECK_STR(ev("true < false"), "boolean:false");
    CHECK_STR(ev("true != false"), "boolean:true");
    CHECK_STR(ev("before == before"), "boolean:true"); /* objects compare by content */
    CHECK_STR(ev("before == after"), "boolean:false");
    CHECK_STR(ev("before.tags == after.tags"), "boolean:true");
    CHECK_STR(ev("after < before"), "boolean:false");
    CHECK_STR(ev("1 <> 2"), "boolean:true");
}

static void test_operators(void) {
    CHECK_STR(ev("op in ('c', 'u')"), "boolean:true");
    CHECK_STR(ev("op in ('c', 'd')"), "boolean:false");
    CHECK_STR(ev("op not in ('c', 'd')"), "boolean:true");
    CHECK_STR(ev("after.id in (1, 7.0, 'x')"), "boolean:true");
    CHECK_STR(ev("after.id in (1 + 6)"), "boolean:true");
    CHECK_STR(ev("after.missing in (null)"), "boolean:true");
    CHECK_STR(ev("1 in (2 in (2), 1)"), "boolean:true");
    CHECK_STR(ev("before is null"), "boolean:false");
    CHECK_STR(ev("before is not null"), "boolean:true");
    CHECK_STR(ev_on("before is null", NULL, V_CREATE), "boolean:true");
    CHECK_STR(ev("source.table matches 'ord.*'"), "boolean:true");
    CHECK_STR(ev("source.table matches 'rde'"), "boolean:false"); /* the whole string must match */
    CHECK_STR(ev("source.table matches 'o|orders'"), "boolean:true");
    CHECK_STR(ev("source.table not matches '[a-z]+'"), "boolean:false");
    CHECK_STR(ev("after.id matches '7'"), "boolean:false"); /* only strings match */
    CHECK_STR(ev("topic matches 'inv\\.public\\..*'"), "boolean:true");
    CHECK_STR(ev("after.status startswith 'ship'"), "boolean:true");
    CHECK_STR(ev("after.status startswith 'shipped!'"), "boolean:false");
    CHECK_STR(ev("after.status endswith 'ped'"), "boolean:true");
    CHECK_STR(ev("after.status not endswith 'ped'"), "boolean:false");
    CHECK_STR(ev("after.status contains 'ipp'"), "boolean:true");
    CHECK_STR(ev("after.status contains ''"), "boolean:true");
    CHECK_STR(ev("after.status contains 'x'"), "boolean:false");
    CHECK_STR(ev("after.tags contains 'b'"), "boolean:true"); /* arrays: an element */
    CHECK_STR(ev("after.tags contains 'c'"), "boolean:false");
    CHECK_STR(ev("after.id contains 7"), "boolean:false");
    CHECK_STR(ev("op == 'u' AND after.status == 'shipped' Or false"), "boolean:true");
    CHECK_STR(ev("not null"), "boolean:true"); /* only true is true */
    CHECK_STR(ev("1 and true"), "boolean:false");
    CHECK_STR(ev("'x' or 1"), "boolean:false");
}

static void test_paths(void) {
    CHECK_STR(ev("value.after.status"), "string:shipped");
    CHECK_STR(ev("value.op"), "string:u");
    CHECK_STR(ev("op"), "string:u");
    CHECK_STR(ev("after.id"), "number:7");
    CHECK_STR(ev("before.status"), "string:new");
    CHECK_STR(ev("source.table"), "string:orders");
    CHECK_STR(ev("source.lsn"), "number:123");
    CHECK_STR(ev("ts_ms"), "number:1700000000123");
    CHECK_STR(ev("key.id"), "number:7");
    CHECK_STR(ev("key"), "object:{\"id\":7}");
    CHECK_STR(ev("topic"), "string:inv.public.orders");
    CHECK_STR(ev("timestamp"), "number:1700000000500");
    CHECK_STR(ev("headers.h1"), "string:last"); /* the last header of that name */
    CHECK_STR(ev("header.n + 1"), "number:4");
    CHECK_STR(ev("headers.none"), "null:null");
    CHECK_STR(ev("after['first name']"), "string:Ann");
    CHECK_STR(ev("after[\"first name\"] == 'Ann'"), "boolean:true");
    CHECK_STR(ev("after.tags[1]"), "string:b");
    CHECK_STR(ev("after.tags[2]"), "null:null");
    CHECK_STR(ev("after.tags"), "array:[\"a\",\"b\"]");
    CHECK_STR(ev("after.in"), "null:null"); /* keywords are field names after '.' */
    CHECK_STR(ev("after.missing.deeper"), "null:null");
    CHECK_STR(ev("after.status.length"), "null:null");
    CHECK_STR(ev("after.tags.x"), "null:null");
    CHECK_STR(ev("after.region"), "string:eu");
    CHECK_STR(ev("valueSchema.name"), "null:null"); /* schemaless */
    CHECK_STR(ev_on("valueSchema.name", KEY7, V_UPDATE_S), "string:inv.public.orders.Envelope");
    CHECK_STR(ev("keySchema.type"), "string:struct");
    CHECK_STR(ev_on("after.status", KEY7, V_UPDATE_S), "string:shipped"); /* schemas do not get in the way */
    CHECK_STR(ev_on("op == 'u' and before.id == 7", KEY7, V_UPDATE_S), "boolean:true");
    CHECK_STR(ev_on("key.id", NULL, V_UPDATE), "null:null");
    /* delete, tombstone, heartbeat */
    CHECK_STR(ev_on("op == 'd' and after is null and before.region is null", KEY7, V_DELETE), "boolean:true");
    CHECK_STR(ev_on("value is null", KEY7, NULL), "boolean:true");
    CHECK_STR(ev_on("op", KEY7, NULL), "null:null");
    CHECK_STR(ev_on("op == 'u'", KEY7, NULL), "boolean:false");
    CHECK_STR(ev_on("op != 'u'", KEY7, NULL), "boolean:true");
    CHECK_STR(ev_on("op", NULL, V_HEARTBEAT), "null:null");
    CHECK_STR(ev_on("ts_ms", NULL, V_HEARTBEAT), "number:1700000000999");
    CHECK_STR(ev_on("after.id > 1", NULL, V_HEARTBEAT), "boolean:false");
    CHECK_STR(ev_on("valueSchema.name endswith 'Heartbeat'", NULL, V_HEARTBEAT), "boolean:true");
}

static void test_errors(void) {
    CHECK_STR(ev("op == 'u' and (after.id > 1"),
              "parse: expected ')', found end of expression at column 28");
    CHECK_STR(ev("(op == 'u' and after.id > 1))"),
              "parse: unexpected ')' (an operator or the end was expected) at column 29");
    CHECK_STR(ev("op = 'u'"), "parse: '=' is not an operator (use '==') at column 4");
    CHECK_STR(ev("op == 'u"), "parse: unterminated string at column 7");
    CHECK_STR(ev("status == 'x'"),
              "parse: unknown name 'status' (a path starts with value, key, topic, headers, timestamp, op, before, "
              "after, source, ts_ms, transaction, valueSchema or keySchema; quote strings) at column 1");
    CHECK_STR(ev("op in 'c'"), "parse: expected '(' after 'in', found ''c'' at column 7");
    CHECK_STR(ev("op in ('c',)"), "parse: expected a value, a field path or '(', found ')' at column 12");
    CHECK_STR(ev("op in ('c' 'u')"), "parse: expected ',' or ')', found ''u'' at column 12");
    CHECK_STR(ev("before is nul"), "parse: expected 'null' or 'not null' after 'is', found 'nul' at column 11");
    CHECK_STR(ev("before is not 1"), "parse: expected 'null' after 'is not', found '1' at column 15");
    CHECK_STR(ev("op not == 'u'"),
              "parse: expected 'in', 'matches', 'startswith', 'endswith' or 'contains' after 'not', found '==' at "
              "column 8");
    CHECK_STR(ev("op matches after.x"), "parse: expected a quoted regex after 'matches', found 'after' at column 12");
    CHECK_STR(ev("op matches '(u'"), "parse: invalid regex: Unmatched ( or \\( at column 12");
    CHECK_STR(ev("op matches '(u)\\1'"), "parse: regex back-references (\\1) are not supported at column 12");
    CHECK_STR(ev("op matches '(a{100}){100}'"),
              "parse: regex too large once compiled (nested or stacked repetitions) at column 12");
    CHECK_STR(ev("op matches 'u++'"), "parse: regex stacks repetition operators (like '**' or '+?') at column 12");
    CHECK_STR(ev("op matches 'u*?'"), "parse: regex stacks repetition operators (like '**' or '+?') at column 12");
    CHECK_STR(ev("op matches 'u{1}*'"), "parse: regex stacks repetition operators (like '**' or '+?') at column 12");
    CHECK_STR(ev("op matches '((((((((((((((u+)+)+)+)+)+)+)+)+)+)+)+)+)+)+'"),
              "parse: regex too large once compiled (nested or stacked repetitions) at column 12");
    CHECK_STR(ev("op matches '" "((((((((((((((((((((((((((((((((((u))))))))))))))))))))))))))))))))" "'"),
              "parse: regex nests groups too deeply (more than 32) at column 12");
    CHECK_STR(ev("op matches 'c|u){1,3555}x{1,3555}'"), "parse: regex has an unmatched ')' at column 12");
    CHECK_STR(ev("op matches 'u)'"), "parse: regex has an unmatched ')' at column 12");
    CHECK_STR(ev("op matches '(){1,3555}'"),
              "parse: regex repeats what can match nothing (like '()*', '(a*)+' or '(^|x){2}') at column 12");
    CHECK_STR(ev("op matches '(a*)+'"),
              "parse: regex repeats what can match nothing (like '()*', '(a*)+' or '(^|x){2}') at column 12");
    CHECK_STR(ev("op matches '(^|x){2}'"),
              "parse: regex repeats what can match nothing (like '()*', '(a*)+' or '(^|x){2}') at column 12");
    CHECK_STR(ev("op matches '(x{0,2}y?)*'"),
              "parse: regex repeats what can match nothing (like '()*', '(a*)+' or '(^|x){2}') at column 12");
    CHECK_STR(ev("op matches '(a*u)+|(x|u?)?'"), "boolean:true");
    CHECK_STR(ev("op matches '((u+)+)+'"), "boolean:true");
    CHECK_STR(ev("op matches '[)(+]*u{1,3}'"), "boolean:true");
    CHECK_STR(ev("op matches '[[:alpha:]]+'"), "boolean:true");
    CHECK_STR(ev("op matches '[]u]'"), "boolean:true");
    CHECK_STR(ev("op matches '((a{10}){10}){10}|u'"), "boolean:true");
    CHECK_STR(ev(""), "parse: expected a value, a field path or '(', found end of expression at column 1");
    CHECK_STR(ev("   "), "parse: expected a value, a field path or '(', found end of expression at column 4");
    CHECK_STR(ev("op == 'u' 1"), "parse: unexpected '1' (an operator or the end was expected) at column 11");
    CHECK_STR(ev("topic.x"), "parse: 'topic' has no fields at column 6");
    CHECK_STR(ev("timestamp[0]"), "parse: 'timestamp' has no fields at column 10");
    CHECK_STR(ev("headers[0]"), "parse: 'headers' takes a header name, not an index at column 1");
    CHECK_STR(ev("after."), "parse: expected a field name after '.', found end of expression at column 7");
    CHECK_STR(ev("after[x]"), "parse: expected a quoted field name or an array index in '[ ]', found 'x' at column 7");
    CHECK_STR(ev("after['x'"), "parse: expected ']', found end of expression at column 10");
    CHECK_STR(ev("op == @"), "parse: unexpected character '@' at column 7");
    CHECK_STR(ev("op == \x01"), "parse: unexpected character '\\x01' at column 7");
    CHECK_STR(ev("1.2.3"), "parse: malformed number '1.2.3' at column 1");
    CHECK_STR(ev("12abc"), "parse: malformed number '12abc' at column 1");
    CHECK_STR(ev("true ? 1"), "parse: expected ':', found end of expression at column 9");
    CHECK_STR(ev("1 +"), "parse: expected a value, a field path or '(', found end of expression at column 4");
}

static void test_limits(void) {
    static char big[40000];
    size_t o = 0;
    for (int i = 0; i < 200; i++) big[o++] = '(';
    big[o++] = '1';
    for (int i = 0; i < 200; i++) big[o++] = ')';
    big[o] = 0;
    CHECK(strstr(ev(big), "parse: expression nests too deeply (more than 128 levels) at column ") == out);
    o = 0;
    for (int i = 0; i < 120; i++) big[o++] = '(';
    big[o++] = '1';
    for (int i = 0; i < 120; i++) big[o++] = ')';
    big[o] = 0;
    CHECK_STR(ev(big), "number:1");
    o = (size_t)snprintf(big, sizeof big, "1");
    for (int i = 0; i < 200; i++) o += (size_t)snprintf(big + o, sizeof big - o, " + 1");
    CHECK(strstr(ev(big), "parse: expression nests too deeply") == out); /* a left-leaning chain */
    o = (size_t)snprintf(big, sizeof big, "1");
    for (int i = 0; i < 100; i++) o += (size_t)snprintf(big + o, sizeof big - o, " + 1");
    CHECK_STR(ev(big), "number:101");
    o = 0;
    for (int i = 0; i < 300; i++) o += (size_t)snprintf(big + o, sizeof big - o, "not ");
    snprintf(big + o, sizeof big - o, "true");
    CHECK(strstr(ev(big), "parse: expression nests too deeply") == out);
    o = 0;
    for (int i = 0; i < 300; i++) o += (size_t)snprintf(big + o, sizeof big - o, "1 in (");
    CHECK(strstr(ev(big), "parse: expression nests too deeply") == out);
    memset(big, ' ', 20000);
    big[20000] = 0;
    big[0] = '1';
    CHECK_STR(ev(big), "parse: expression longer than 16384 bytes");
    /* concatenation outgrowing the scratch area is an evaluation error */
    o = 0;
    big[o++] = '\'';
    for (int i = 0; i < 5000; i++) big[o++] = 'x';
    o += (size_t)snprintf(big + o, sizeof big - o, "' + '");
    for (int i = 0; i < 5000; i++) big[o++] = 'y';
    snprintf(big + o, sizeof big - o, "'");
    CHECK_STR(ev(big), "eval: concatenated strings longer than 8192 bytes");
    /* ... but a long chain of short pieces extends in place */
    o = (size_t)snprintf(big, sizeof big, "'a'");
    for (int i = 0; i < 100; i++) o += (size_t)snprintf(big + o, sizeof big - o, " + 'bcdefghijklmnopqrstuvwxyz'");
    CHECK(strncmp(ev(big), "string:abcdef", 13) == 0 && strlen(out) == 7 + 1 + 2500);
}

/* ---- filter ---- */

static int run(sl_xchain *x, const char *key, const char *value) { return xt_run(x, TOPIC, key, value).rc; }

static void test_filter(void) {
    sl_xchain *x = xt_chain("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\","
                            "\"transforms.f.condition\":\"op == 'u' and after.status == 'shipped'\"}",
                            NULL, 0);
    CHECK(x != NULL);
    if (!x) return;
    CHECK(run(x, KEY7, V_UPDATE) == SL_X_KEEP);
    CHECK(run(x, KEY7, V_UPDATE_S) == SL_X_KEEP);
    CHECK(run(x, KEY7, V_CREATE) == SL_X_DROP);
    CHECK(run(x, KEY7, V_DELETE) == SL_X_DROP);
    CHECK(run(x, KEY7, NULL) == SL_X_KEEP);          /* tombstones: kept by default */
    CHECK(run(x, NULL, V_HEARTBEAT) == SL_X_DROP);             /* no op: the condition is false */
    xt_out o = xt_run(x, TOPIC, KEY7, V_UPDATE_S);
    CHECK(strstr(o.value, "\"status\":\"shipped\"") != NULL && strstr(o.value, "\"schema\":") != NULL);
    CHECK_STR(o.topic, TOPIC);
    sl_xchain_free(x);

    x = xt_chain("{\"transforms\":\"f\",\"transforms.f.type\":\"io.debezium.transforms.Filter\","
                 "\"transforms.f.language\":\"sluice\",\"transforms.f.action\":\"drop\","
                 "\"transforms.f.condition\":\"op == 'u'\",\"transforms.f.null.handling.mode\":\"drop\"}",
                 NULL, 0);
    CHECK(x != NULL);
    if (!x) return;
    CHECK(run(x, KEY7, V_UPDATE) == SL_X_DROP);
    CHECK(run(x, KEY7, V_CREATE) == SL_X_KEEP);
    CHECK(run(x, NULL, V_HEARTBEAT) == SL_X_KEEP);
    CHECK(run(x, KEY7, NULL) == SL_X_DROP);
    sl_xchain_free(x);

    x = xt_chain("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.condition\":\"value is "
                 "null or key.id == 7\",\"transforms.f.null.handling.mode\":\"evaluate\"}",
                 NULL, 0);
    CHECK(x != NULL);
    if (!x) return;
    CHECK(run(x, KEY7, NULL) == SL_X_KEEP);
    CHECK(run(x, NULL, V_CREATE) == SL_X_DROP);
    CHECK(run(x, KEY7, V_CREATE) == SL_X_KEEP);
    sl_xchain_free(x);

    x = xt_chain("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.condition\":\"op == 'x'\","
                 "\"transforms.f.null.handling.mode\":\"evaluate\"}",
                 NULL, 0);
    CHECK(x && run(x, KEY7, NULL) == SL_X_DROP);
    sl_xchain_free(x);

    /* topic.regex: other topics pass untouched (heartbeats here) */
    x = xt_chain("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.condition\":\"op == 'u'\","
                 "\"transforms.f.topic.regex\":\"inv\\\\.public\\\\..*\"}",
                 NULL, 0);
    CHECK(x != NULL);
    if (!x) return;
    CHECK(run(x, KEY7, V_CREATE) == SL_X_DROP);
    CHECK(xt_run(x, "__debezium-heartbeat.inv", NULL, V_HEARTBEAT).rc == SL_X_KEEP);
    CHECK(xt_run(x, "inv.public", KEY7, V_CREATE).rc == SL_X_KEEP); /* the regex covers the whole topic */
    sl_xchain_free(x);

    /* the filter behind a predicate */
    x = xt_chain("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.condition\":\"false\","
                 "\"transforms.f.predicate\":\"hb\",\"transforms.f.negate\":\"true\",\"predicates\":\"hb\","
                 "\"predicates.hb.type\":\"org.apache.kafka.connect.transforms.predicates.TopicNameMatches\","
                 "\"predicates.hb.pattern\":\"__debezium.*\"}",
                 NULL, 0);
    if (x) { /* only when the predicate type exists (connect.c) */
        CHECK(xt_run(x, "__debezium-heartbeat.inv", NULL, V_HEARTBEAT).rc == SL_X_KEEP);
        CHECK(run(x, KEY7, V_CREATE) == SL_X_DROP);
        sl_xchain_free(x);
    }
}

static const char *cfg_err(const char *json) {
    static char err[1024];
    sl_xchain *x = xt_chain(json, err, sizeof err);
    if (x) {
        sl_xchain_free(x);
        return "(no error)";
    }
    return err;
}

static void test_filter_config(void) {
    CHECK(strncmp(cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\"}"),
                  "transforms.f.condition: required, not set", 41) == 0);
    CHECK_STR(cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\","
                      "\"transforms.f.condition\":\"op == 'u' and (after.id > 1\"}"),
              "transforms.f.condition: expected ')', found end of expression at column 28");
    const char *e = cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"io.debezium.transforms.Filter\","
                            "\"transforms.f.language\":\"jsr223.groovy\","
                            "\"transforms.f.condition\":\"value.op == 'u'\"}");
    CHECK(strstr(e, "transforms.f.language: 'jsr223.groovy' is not supported: sluice cannot run Groovy") == e);
    CHECK_STR(cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.language\":\"python\","
                      "\"transforms.f.condition\":\"true\"}"),
              "transforms.f.language: 'python' is not supported (allowed: sluice)");
    CHECK_STR(cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.action\":\"pass\","
                      "\"transforms.f.condition\":\"true\"}"),
              "transforms.f.action: 'pass' is not allowed (allowed: keep, drop)");
    CHECK_STR(cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.null.handling.mode\":"
                      "\"skip\",\"transforms.f.condition\":\"true\"}"),
              "transforms.f.null.handling.mode: 'skip' is not allowed (allowed: keep, drop, evaluate)");
    CHECK(strncmp(cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.topic.regex\":"
                          "\"(\",\"transforms.f.condition\":\"true\"}"),
                  "transforms.f.topic.regex: invalid regex '(':", 43) == 0);
    CHECK_STR(cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.condition\":\"op == "
                      "'u' && after.status ~ 'x'\"}"),
              "transforms.f.condition: unexpected character '~' at column 27");
    /* an unknown field is not a config error: records differ */
    CHECK_STR(cfg_err("{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.condition\":"
                      "\"after.no_such_column == 1\"}"),
              "(no error)");
}

/* ---- router ---- */

static const char *route_of(sl_xchain *x, const char *key, const char *value) {
    static char t[1400];
    xt_out o = xt_run(x, TOPIC, key, value);
    if (o.rc == SL_X_KEEP) snprintf(t, sizeof t, "%s", o.topic);
    else snprintf(t, sizeof t, "%s: %s", o.rc == SL_X_DROP ? "dropped" : "error", o.err);
    return t;
}

static void test_router(void) {
    /* routes go by number (2 before 10), the first match wins */
    const char *routes = "{\"transforms\":\"r\",\"transforms.r.type\":\"router\","
                         "\"transforms.r.route.10.condition\":\"after.id < 1000\",\"transforms.r.route.10.topic\":\"big\","
                         "\"transforms.r.route.2.condition\":\"after.id < 100\",\"transforms.r.route.2.topic\":\"medium\","
                         "\"transforms.r.route.1.condition\":\"after.id < 6\",\"transforms.r.route.1.topic\":\"small\"%s}";
    char cfg[2048];
    snprintf(cfg, sizeof cfg, routes, "");
    sl_xchain *x = xt_chain(cfg, NULL, 0);
    CHECK(x != NULL);
    if (!x) return;
    CHECK_STR(route_of(x, KEY7, V_CREATE), "small"); /* id 5: routes 1, 2 and 10 match */
    CHECK_STR(route_of(x, KEY7, V_UPDATE), "medium");
    CHECK_STR(route_of(x, KEY7, ENV("null", ROW(500, "new", "null"), "c")), "big");
    CHECK_STR(route_of(x, KEY7, ENV("null", ROW(5000, "new", "null"), "c")), TOPIC); /* no match: kept */
    CHECK_STR(route_of(x, KEY7, V_DELETE), TOPIC);
    CHECK_STR(route_of(x, KEY7, NULL), TOPIC); /* tombstone: kept as it is */
    CHECK_STR(route_of(x, KEY7, WITH_SCHEMA(ENV("null", ROW(50, "new", "null"), "c"))), "medium");
    sl_xchain_free(x);

    snprintf(cfg, sizeof cfg, routes,
             ",\"transforms.r.default.topic\":\"rest\",\"transforms.r.null.handling.mode\":\"evaluate\"");
    x = xt_chain(cfg, NULL, 0);
    CHECK(x != NULL);
    if (!x) return;
    CHECK_STR(route_of(x, KEY7, ENV("null", ROW(5000, "new", "null"), "c")), "rest");
    CHECK_STR(route_of(x, KEY7, V_CREATE), "small");
    CHECK_STR(route_of(x, KEY7, NULL), "rest");
    CHECK_STR(route_of(x, NULL, V_HEARTBEAT), "rest");
    sl_xchain_free(x);

    snprintf(cfg, sizeof cfg, routes, ",\"transforms.r.null.handling.mode\":\"drop\"");
    x = xt_chain(cfg, NULL, 0);
    CHECK(x && strncmp(route_of(x, KEY7, NULL), "dropped", 7) == 0);
    CHECK(x && strcmp(route_of(x, KEY7, V_CREATE), "small") == 0);
    sl_xchain_free(x);

    /* topic.expression */
    x = xt_chain("{\"transforms\":\"r\",\"transforms.r.type\":\"io.debezium.transforms.ContentBasedRouter\","
                 "\"transforms.r.topic.expression\":\"source.table == 'orders' ? 'orders_' + after.region : "
                 "after.id\"}",
                 NULL, 0);
    CHECK(x != NULL);
    if (!x) return;
    CHECK_STR(route_of(x, KEY7, V_UPDATE), "orders_eu");
    CHECK_STR(route_of(x, KEY7, ENV("null", ROW(5, "new", "null"), "c")), TOPIC); /* null: kept */
    CHECK_STR(route_of(x, KEY7, V_DELETE), TOPIC);                                /* after is null */
    CHECK_STR(route_of(x, NULL, "{\"op\":\"c\",\"after\":{\"id\":5},\"source\":{\"table\":\"x\"}}"),
              "error: transform r (router) failed on a record of topic inv.public.orders: topic.expression gave a "
              "number '5', not a topic name");
    CHECK_STR(route_of(x, NULL, "{\"op\":\"c\",\"after\":{\"id\":\"\"},\"source\":{\"table\":\"x\"}}"),
              "error: transform r (router) failed on a record of topic inv.public.orders: topic.expression gave an "
              "invalid string '', not a topic name");
    sl_xchain_free(x);

    x = xt_chain("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.topic.expression\":"
                 "\"key.id % 2 == 0 ? 'even' : null\",\"transforms.r.default.topic\":\"odd\","
                 "\"transforms.r.topic.regex\":\"inv\\\\..*\"}",
                 NULL, 0);
    CHECK(x != NULL);
    if (!x) return;
    CHECK_STR(route_of(x, "{\"id\":4}", V_CREATE), "even");
    CHECK_STR(route_of(x, KEY7, V_CREATE), "odd");
    CHECK(xt_run(x, "other", "{\"id\":4}", V_CREATE).rc == SL_X_KEEP &&
          strcmp(xt_run(x, "other", "{\"id\":4}", V_CREATE).topic, "other") == 0);
    sl_xchain_free(x);
}

static void test_router_config(void) {
    const char *e = cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\"}");
    CHECK(strstr(e, "transforms.r.topic.expression: required, not set (or routes transforms.r.route.<n>.condition") == e);
    CHECK_STR(cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.topic.expression\":"
                      "\"'a'\",\"transforms.r.route.1.condition\":\"true\",\"transforms.r.route.1.topic\":\"t\"}"),
              "transforms.r.topic.expression: set either it or transforms.r.route.<n>.condition/topic, not both");
    CHECK_STR(cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.route.1.topic\":\"t\"}"),
              "transforms.r.route.1.condition: required, not set (route 1 has a topic)");
    CHECK_STR(cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.route.3.condition\":"
                      "\"true\"}"),
              "transforms.r.route.3.topic: required, not set (route 3 has a condition)");
    CHECK_STR(cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.route.1.cond\":\"true\","
                      "\"transforms.r.route.1.topic\":\"t\"}"),
              "transforms.r.route.1.cond: unknown key (routes are transforms.r.route.<n>.condition and "
              "transforms.r.route.<n>.topic, <n> an integer)");
    CHECK_STR(cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.route.a.topic\":\"t\"}"),
              "transforms.r.route.a.topic: unknown key (routes are transforms.r.route.<n>.condition and "
              "transforms.r.route.<n>.topic, <n> an integer)");
    CHECK_STR(cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.route.7.condition\":"
                      "\"op in ('c'\",\"transforms.r.route.7.topic\":\"t\"}"),
              "transforms.r.route.7.condition: expected ',' or ')', found end of expression at column 11");
    CHECK_STR(cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.topic.expression\":"
                      "\"'a' +\"}"),
              "transforms.r.topic.expression: expected a value, a field path or '(', found end of expression at "
              "column 6");
    e = cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.language\":\"jsr223.graal.js\","
                "\"transforms.r.topic.expression\":\"'a'\"}");
    CHECK(strstr(e, "transforms.r.language: 'jsr223.graal.js' is not supported") == e);
    CHECK_STR(cfg_err("{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.route.1.condition\":"
                      "\"true\",\"transforms.r.route.1.topic\":\"\"}"),
              "transforms.r.route.1.topic: empty topic");
}

/* Routes' keys are claimed: no "unknown key" warning for them. */
static void count_unknown(const char *key, void *arg) {
    (void)key;
    (*(int *)arg)++;
}

static void test_router_claims(void) {
    char err[256];
    sl_config *cfg = sl_config_parse_json(
        "{\"transforms\":\"r\",\"transforms.r.type\":\"router\",\"transforms.r.route.1.condition\":\"true\","
        "\"transforms.r.route.1.topic\":\"t\"}",
        "test", err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) return;
    sl_errs errs = {0};
    sl_xchain *x = sl_xchain_new(cfg, "r", &errs);
    CHECK(x != NULL && errs.n == 0);
    sl_config_claim(cfg, "transforms");
    int unknown = 0;
    sl_conf_unknown_keys(cfg, count_unknown, &unknown);
    CHECK(unknown == 0);
    sl_xchain_free(x);
    sl_errs_free(&errs);
    sl_config_destroy(cfg);
}

int main(void) {
    test_literals();
    test_precedence();
    test_arith();
    test_compare();
    test_operators();
    test_paths();
    test_errors();
    test_limits();
    test_filter();
    test_filter_config();
    test_router();
    test_router_config();
    test_router_claims();
    TEST_END();
}
