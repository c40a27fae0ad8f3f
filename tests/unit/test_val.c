/* core/val: the record view's values (parse, write, change, share, lazy values). */
#include "core/val.h"
#include "test.h"
#include <math.h>
#include <string.h>

static sl_vheap h;
static sl_buf out;

/* Parses text and writes it back compactly ("ERR" when refused). */
static const char *rt(const char *text) {
    sl_buf_reset(&out);
    char err[128];
    sl_val *v = sl_v_parse(&h, text, strlen(text), err, sizeof err);
    if (!v) return "ERR";
    sl_v_put_json(&out, v);
    return sl_buf_cstr(&out);
}

static sl_val *parse(const char *s) { return sl_v_parse(&h, s, strlen(s), NULL, 0); }

static void test_parse_write(void) {
    CHECK_STR(rt(" { \"a\" : [1, -2.5, true, false, null, \"x\"], \"b\": {} } "),
              "{\"a\":[1,-2.5,true,false,null,\"x\"],\"b\":{}}");
    CHECK_STR(rt("1e20"), "1.0E20");       /* doubles as Java prints them */
    CHECK_STR(rt("0.1"), "0.1");
    CHECK_STR(rt("-0.0"), "-0.0");
    CHECK_STR(rt("9223372036854775807"), "9223372036854775807");
    CHECK_STR(rt("9223372036854775808"), "9.223372036854776E18"); /* past int64: a double */
    CHECK_STR(rt("\"\\u00e9\\ud83d\\ude00\\n\\\"\\/\""), "\"\xc3\xa9\xf0\x9f\x98\x80\\n\\\"/\"");
    CHECK_STR(rt("\"a\\u0000b\""), "\"a\\u0000b\"");
    CHECK_STR(rt("{\"k\":1,\"k\":2,\"j\":3}"), "{\"k\":2,\"j\":3}"); /* last wins, in the first one's place */
    const char *bad[] = {"", "[1,]", "{\"a\" 1}", "tru", "\"abc", "01x", "1.", "\"\\ud83d\"", "\"\\q\"", "[1] 2",
                         "1e999", NULL};
    for (int i = 0; bad[i]; i++) CHECK_STR(rt(bad[i]), "ERR");
    char deep[4200];
    memset(deep, '[', 2049), memset(deep + 2049, ']', 2049), deep[4098] = 0;
    CHECK_STR(rt(deep), "ERR"); /* 2049 levels: jansson's limit is 2048 */
    memset(deep, '[', 2048), memset(deep + 2048, ']', 2048), deep[4096] = 0;
    CHECK(strcmp(rt(deep), "ERR") != 0);
}

static void test_change(void) {
    sl_val *o = parse("{\"a\":1,\"b\":2}");
    sl_v_set(&h, o, "c", sl_v_str(&h, "three"));
    sl_v_set(&h, o, "a", sl_v_int(&h, 10));
    CHECK(sl_v_del(&h, o, "b"));
    CHECK(!sl_v_del(&h, o, "zz"));
    sl_buf_reset(&out);
    sl_v_put_json(&out, o);
    CHECK_STR(sl_buf_cstr(&out), "{\"a\":10,\"c\":\"three\"}");
    sl_val *a = sl_v_arr(&h, 0);
    for (int i = 0; i < 20; i++) sl_v_push(&h, a, sl_v_int(&h, i)); /* grows past its first allocation */
    sl_v_remove(&h, a, 0);
    CHECK(a->n == 19 && sl_v_at(&h, a, 0)->i == 1 && sl_v_at(&h, a, 18)->i == 19 && !sl_v_at(&h, a, 19));
    CHECK(sl_v_real(&h, NAN)->kind == SL_V_REAL);
    sl_buf_reset(&out);
    sl_v_put_json(&out, sl_v_real(&h, NAN));
    CHECK_STR(sl_buf_cstr(&out), "\"NaN\"");
}

static void test_equal(void) {
    sl_val *x = parse("{\"a\":[1,{\"b\":null}],\"c\":\"s\"}");
    sl_val *y = parse("{\"c\":\"s\",\"a\":[1,{\"b\":null}]}");
    sl_val *z = parse("{\"c\":\"s\",\"a\":[1.0,{\"b\":null}]}");
    CHECK(x && y && z);
    CHECK(sl_v_equal(&h, x, y));
    CHECK(!sl_v_equal(&h, x, z)); /* 1 and 1.0 differ, as in jansson */
    CHECK(sl_v_equal(&h, NULL, sl_v_null(&h)));
}

static void test_share(void) {
    sl_val *s = parse("{\"type\":\"struct\",\"fields\":[{\"field\":\"id\"}]}");
    sl_v_freeze(&h, s);
    CHECK(s->frozen && sl_v_get(&h, s, "fields")->frozen);
    sl_val *t = sl_v_thaw(&h, s);
    CHECK(t != s && !t->frozen && sl_v_get(&h, t, "fields") == sl_v_get(&h, s, "fields")); /* one level */
    sl_v_set(&h, t, "optional", sl_v_bool(&h, true));
    CHECK(!sl_v_get(&h, s, "optional") && sl_v_get(&h, t, "optional"));
    CHECK(sl_v_thaw(&h, t) == t);
    sl_val *c = sl_v_copy(&h, s);
    CHECK(!c->frozen && !sl_v_get(&h, c, "fields")->frozen && sl_v_equal(&h, c, s));
}

/* A lazy value that writes {"n":<p0 as int>} and is built by reading that back. */
static int forced;
static void lz_json(const sl_val *v, sl_buf *o) {
    forced++;
    sl_buf_puts(o, "{\"n\":");
    sl_buf_put_i64(o, (int64_t)(intptr_t)v->z.p[0]);
    sl_buf_putc(o, '}');
}
static const sl_vlazy_ops lz_ops = {SL_V_OBJ, lz_json, NULL};

static void test_lazy(void) {
    sl_val *v = sl_v_lazy(&h, &lz_ops, (void *)(intptr_t)42, NULL, NULL, NULL, 0);
    forced = 0;
    CHECK(sl_v_kind(&h, v) == SL_V_OBJ && v->kind == SL_V_LAZY); /* the kind is known without building it */
    sl_buf_reset(&out);
    sl_v_put_json(&out, v);
    CHECK_STR(sl_buf_cstr(&out), "{\"n\":42}");
    CHECK(v->kind == SL_V_LAZY && forced == 1); /* written, not built */
    sl_val *n = sl_v_get(&h, v, "n");
    CHECK(v->kind == SL_V_OBJ && n && n->kind == SL_V_INT && n->i == 42);
    sl_v_set(&h, v, "m", sl_v_null(&h));
    sl_buf_reset(&out);
    sl_v_put_json(&out, v);
    CHECK_STR(sl_buf_cstr(&out), "{\"n\":42,\"m\":null}");
}

/* A lazy value of unknown kind: a null test writes it once and keeps the text (no parse, no second write). */
static int written;
static void lz2_json(const sl_val *v, sl_buf *o) {
    written++;
    sl_buf_puts(o, v->z.p[0] ? (const char *)v->z.p[0] : "null");
}
static const sl_vlazy_ops lz2_ops = {SL_V_LAZY, lz2_json, NULL};

static void test_lazy_null(void) {
    written = 0;
    sl_val *n = sl_v_lazy(&h, &lz2_ops, NULL, NULL, NULL, NULL, 0);
    sl_val *x = sl_v_lazy(&h, &lz2_ops, "12.5", NULL, NULL, NULL, 0);
    CHECK(sl_v_is_null(&h, n) && !sl_v_is_null(&h, x));
    CHECK(sl_v_is_null(&h, n) && !sl_v_is_null(&h, x));
    CHECK(written == 2 && n->kind == SL_V_LAZY && x->kind == SL_V_LAZY); /* written once each, not built */
    sl_buf_reset(&out);
    sl_v_put_json(&out, x);
    CHECK_STR(sl_buf_cstr(&out), "12.5");
    CHECK(written == 2); /* the kept text */
    CHECK(sl_v_kind(&h, x) == SL_V_REAL && x->d == 12.5 && written == 2); /* built from the kept text */
}

/* A reset heap gives its memory back for the next record. */
static void test_reset(void) {
    sl_vheap_reset(&h);
    CHECK(h.arena.used == 0);
    CHECK_STR(rt("[1,2]"), "[1,2]");
}

int main(void) {
    sl_vheap_init(&h);
    sl_buf_init(&out);
    test_parse_write();
    test_change();
    test_equal();
    test_share();
    test_lazy();
    test_lazy_null();
    test_reset();
    sl_buf_free(&out);
    sl_vheap_free(&h);
    TEST_END();
}
