/* sluice verify's normalisation (verify/vnorm.h): which source and target texts are the same value, and the
 * order of key values. */
#include "test.h"
#include "verify/vnorm.h"
#include <sys/mman.h>
#include <unistd.h>

static sl_vcol col(sl_ckind k, int scale) {
    sl_vcol c = {"c", k, scale, false, false};
    return c;
}

static bool eq(sl_ckind k, int ss, const char *a, int ts, const char *b) {
    sl_vcol s = col(k, ss), t = col(k, ts);
    return sl_vnorm_equal(&s, a, a ? strlen(a) : 0, &t, b, b ? strlen(b) : 0);
}

static int cmp(sl_ckind k, const char *a, const char *b) {
    sl_vcol c = col(k, -1);
    int r = sl_vnorm_cmp(&c, a, strlen(a), &c, b, strlen(b));
    return r < 0 ? -1 : r > 0;
}

/* Values are read by their length, never past it: each text ends right before a page nothing may read (a reader
 * that looks for a NUL after it, as sscanf's strlen does, faults). */
static void test_reads_stop_at_the_length(void) {
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    if (m == MAP_FAILED) return;
    CHECK(mprotect(m + pg, (size_t)pg, PROT_NONE) == 0);
    static const struct {
        sl_ckind k;
        const char *v;
    } cases[] = {{SL_CK_BYTES, "0aff"},          {SL_CK_BYTES, "\\x0aff"}, {SL_CK_GEOMETRY, "0101000000"},
                 {SL_CK_POINT, "0101000000000000000000F03F0000000000000040"}, {SL_CK_BITS, "\\x0f01"},
                 {SL_CK_TIMETZ, "10:00:00+02"},  {SL_CK_TIMETZ, "10:00:00+02:30"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = strlen(cases[i].v);
        char *at = m + pg - n; /* the last byte of the value is the page's last */
        memcpy(at, cases[i].v, n);
        sl_vcol c = col(cases[i].k, -1);
        CHECK(sl_vnorm_equal(&c, at, n, &c, at, n));
    }
    munmap(m, (size_t)pg * 2);
}

int main(void) {
    test_reads_stop_at_the_length();
    /* nulls */
    CHECK(eq(SL_CK_TEXT, -1, NULL, -1, NULL));
    CHECK(!eq(SL_CK_TEXT, -1, NULL, -1, ""));
    CHECK(!eq(SL_CK_INT, -1, "0", -1, NULL));
    /* text: the bytes */
    CHECK(eq(SL_CK_TEXT, -1, "abc", -1, "abc"));
    CHECK(!eq(SL_CK_TEXT, -1, "abc", -1, "ABC"));
    CHECK(!eq(SL_CK_TEXT, -1, "a", -1, "a "));
    /* integers, booleans kept as integers */
    CHECK(eq(SL_CK_INT, -1, "42", -1, "+042"));
    CHECK(eq(SL_CK_INT, -1, "t", -1, "1"));
    CHECK(eq(SL_CK_INT, -1, "-0", -1, "0"));
    CHECK(!eq(SL_CK_INT, -1, "42", -1, "42.5"));
    CHECK(!eq(SL_CK_INT, -1, "9223372036854775807", -1, "9223372036854775806"));
    CHECK(eq(SL_CK_INT, -1, "123456789012345678901234567890", -1, "123456789012345678901234567890"));
    /* decimals by value, within the smaller scale */
    CHECK(eq(SL_CK_DEC, 2, "10.50", -1, "10.5"));
    CHECK(eq(SL_CK_DEC, 2, "-0.00", -1, "0"));
    CHECK(!eq(SL_CK_DEC, 2, "10.50", -1, "10.51"));
    CHECK(eq(SL_CK_DEC, 3, "1.005", 2, "1.01"));  /* rounded half up into a scale-2 target */
    CHECK(eq(SL_CK_DEC, 3, "1.005", 2, "1.00"));  /* or truncated */
    CHECK(!eq(SL_CK_DEC, 3, "1.005", 2, "1.02"));
    CHECK(eq(SL_CK_DEC, 2, "9.995", 2, "10.00")); /* a carry through every digit */
    CHECK(!eq(SL_CK_DEC, -1, "1.005", -1, "1.01")); /* no scale known: exact */
    CHECK(eq(SL_CK_DEC, 2, "-12.345", 2, "-12.35"));
    CHECK(eq(SL_CK_DEC, -1, "NaN", -1, "NaN"));
    CHECK(!eq(SL_CK_DEC, 2, "abc", 2, "0"));
    /* floating point at the column's precision */
    CHECK(eq(SL_CK_FLOAT, -1, "0.1", -1, "0.1"));
    CHECK(eq(SL_CK_FLOAT, -1, "3.3333333333333335", -1, "3.33333333333333"));
    CHECK(!eq(SL_CK_FLOAT, -1, "3.3333333333333335", -1, "3.3333"));
    {
        sl_vcol s = col(SL_CK_FLOAT, -1), t = col(SL_CK_FLOAT, -1);
        s.single = true;
        CHECK(sl_vnorm_equal(&s, "1.1", 3, &t, "1.100000023841858", 17));
        CHECK(!sl_vnorm_equal(&s, "1.1", 3, &t, "1.1001", 6));
        CHECK(sl_vnorm_equal(&s, "1.1428572", 9, &t, "1.14286", 7)); /* MariaDB's 6 digits */
        CHECK(!sl_vnorm_equal(&s, "1.1428572", 9, &t, "1.14285", 7));
    }
    CHECK(eq(SL_CK_FLOAT, -1, "NaN", -1, "nan"));
    CHECK(!eq(SL_CK_FLOAT, -1, "NaN", -1, "0"));
    CHECK(eq(SL_CK_FLOAT, -1, "-Infinity", -1, "-inf"));
    /* booleans */
    CHECK(eq(SL_CK_BOOL, -1, "t", -1, "1"));
    CHECK(eq(SL_CK_BOOL, -1, "false", -1, "0"));
    CHECK(!eq(SL_CK_BOOL, -1, "t", -1, "0"));
    /* bytes as hex */
    CHECK(eq(SL_CK_BYTES, -1, "\\x0aff", -1, "0AFF"));
    CHECK(!eq(SL_CK_BYTES, -1, "0aff", -1, "0afe"));
    /* dates and times */
    CHECK(eq(SL_CK_DATE, -1, "2024-02-29", -1, "2024-02-29 00:00:00"));
    CHECK(!eq(SL_CK_DATE, -1, "2024-02-29", -1, "2024-03-01"));
    CHECK(eq(SL_CK_DATE, -1, "infinity", -1, "infinity"));
    CHECK(eq(SL_CK_TIME, 6, "12:00:00.5", 6, "12:00:00.500000"));
    CHECK(eq(SL_CK_TIME, 6, "838:59:59", 0, "838:59:59"));
    CHECK(eq(SL_CK_TIME, 6, "-01:00:00", 0, "-01:00:00"));
    CHECK(eq(SL_CK_TS, 6, "2024-01-01 00:00:00.123456", 3, "2024-01-01 00:00:00.123"));
    CHECK(eq(SL_CK_TS, 6, "2024-01-01 00:00:00.123656", 3, "2024-01-01 00:00:00.124")); /* rounded */
    CHECK(!eq(SL_CK_TS, 6, "2024-01-01 00:00:00.123456", 6, "2024-01-01 00:00:00.123"));
    CHECK(!eq(SL_CK_TS, 6, "2024-01-01 00:00:00.123456", 3, "2024-01-01 00:00:01.123"));
    CHECK(eq(SL_CK_TS, 6, "2024-01-01 00:00:00", -1, "2024-01-01T00:00:00"));
    CHECK(eq(SL_CK_TS, 6, "1969-12-31 23:59:59.999999", 3, "1970-01-01 00:00:00.000")); /* rounded across 0 */
    CHECK(eq(SL_CK_TS, 6, "1969-12-31 23:59:59.9994", 3, "1969-12-31 23:59:59.999"));
    CHECK(eq(SL_CK_TSTZ, 6, "2024-01-01 02:00:00+02", 6, "2024-01-01 00:00:00"));
    CHECK(eq(SL_CK_TSTZ, 6, "2024-01-01 00:00:00.5+00", 6, "2024-01-01T00:00:00.500000Z"));
    CHECK(!eq(SL_CK_TSTZ, 6, "2024-01-01 02:00:00+02", 6, "2024-01-01 02:00:00"));
    /* json as parsed values */
    CHECK(eq(SL_CK_JSON, -1, "{\"a\": 1, \"b\": [1, 2]}", -1, "{\"b\":[1,2],\"a\":1}"));
    CHECK(!eq(SL_CK_JSON, -1, "{\"b\": [1, 2]}", -1, "{\"b\":[2,1]}"));
    CHECK(!eq(SL_CK_JSON, -1, "{\"a\": 1}", -1, "{\"a\": 1"));
    /* uuids without case */
    CHECK(eq(SL_CK_UUID, -1, "c4ca4238-a0b9-2382-0dcc-509a6f75849b", -1, "C4CA4238-A0B9-2382-0DCC-509A6F75849B"));
    /* PostgreSQL forms Debezium converts */
    CHECK(eq(SL_CK_DEC, 2, "$1,234.56", 2, "1234.56"));
    CHECK(eq(SL_CK_DEC, 2, "-$5.00", 2, "-5"));
    CHECK(!eq(SL_CK_DEC, 2, "$1,234.56", 2, "1234.57"));
    CHECK(eq(SL_CK_TIMETZ, -1, "10:00:00+02", -1, "08:00:00Z"));
    CHECK(eq(SL_CK_TIMETZ, -1, "01:00:00+02", -1, "23:00:00+00")); /* across midnight */
    CHECK(!eq(SL_CK_TIMETZ, -1, "10:00:00+02", -1, "10:00:00Z"));
    CHECK(eq(SL_CK_INTERVAL, -1, "1 year 2 mons 3 days 04:05:06.5", -1, "10303:05:06.5"));
    CHECK(eq(SL_CK_INTERVAL, -1, "-1 days", -1, "-24:00:00"));
    CHECK(!eq(SL_CK_INTERVAL, -1, "1 day", -1, "23:59:59"));
    CHECK(eq(SL_CK_HSTORE, -1, "\"k1\"=>\"v1\", \"k2\"=>NULL", -1, "{\"k2\":null,\"k1\":\"v1\"}"));
    CHECK(eq(SL_CK_HSTORE, -1, "\"a\\\"b\"=>\"x\"", -1, "{\"a\\\"b\":\"x\"}"));
    CHECK(!eq(SL_CK_HSTORE, -1, "\"k1\"=>\"v1\"", -1, "{\"k1\":\"v2\"}"));
    CHECK(eq(SL_CK_BITS, -1, "10100101", -1, "\xa5"));
    {
        sl_vcol c = col(SL_CK_BITS, -1);
        CHECK(sl_vnorm_equal(&c, "101", 3, &c, "\0\0\0\5", 4));
        CHECK(!sl_vnorm_equal(&c, "101", 3, &c, "\0\0\0\6", 4));
    }
    CHECK(eq(SL_CK_ARRAY, -1, "{1,2,NULL}", -1, "[1,2,null]"));
    CHECK(eq(SL_CK_ARRAY, -1, "{\"a b\",\"c\\\"d\",NULL}", -1, "[\"a b\",\"c\\\"d\",null]"));
    CHECK(eq(SL_CK_ARRAY, -1, "{{1,2},{3,4}}", -1, "[[1,2],[3,4]]"));
    CHECK(eq(SL_CK_ARRAY, -1, "{}", -1, "[]"));
    CHECK(!eq(SL_CK_ARRAY, -1, "{1,2}", -1, "[2,1]"));
    CHECK(eq(SL_CK_POINT, -1, "(1,2)", -1, "\\x000000000101000000000000000000f03f0000000000000040"));
    CHECK(!eq(SL_CK_POINT, -1, "(1,3)", -1, "\\x000000000101000000000000000000f03f0000000000000040"));
    {
        sl_vcol c = col(SL_CK_BOOL, -1), g = col(SL_CK_GEOMETRY, -1);
        CHECK(sl_vnorm_equal(&c, "\1", 1, &c, "t", 1));
        CHECK(sl_vnorm_equal(&c, "\0", 1, &c, "0", 1));
        const char wkb_srid[] = "\xe6\x10\0\0\x01\x01\0\0\0";
        CHECK(sl_vnorm_equal(&g, wkb_srid, 9, &g, "0101000000", 10));
        CHECK(sl_vnorm_equal(&g, wkb_srid, 9, &g, "\\xe61000000101000000", 20));
        CHECK(!sl_vnorm_equal(&g, wkb_srid, 9, &g, "0102000000", 10));
    }
    CHECK(eq(SL_CK_DATE, -1, "infinity", -1, "9999-12-31"));
    CHECK(eq(SL_CK_DATE, -1, "-infinity", -1, "0001-01-01"));
    CHECK(!eq(SL_CK_DATE, -1, "infinity", -1, "2024-01-01"));
    CHECK(eq(SL_CK_TS, 6, "-infinity", 6, "0001-01-01 00:00:00.000000"));
    CHECK(eq(SL_CK_TSTZ, 6, "infinity", 6, "9999-12-31 23:59:59.999999"));
    CHECK(eq(SL_CK_INTERVAL, -1, "1 year 2 mons 3 days 04:05:06.5", -1, "37091106500000"));
    /* Debezium's numeric forms (a MongoDB target) */
    CHECK(eq(SL_CK_DATE, -1, "2024-01-02", -1, "19724"));
    CHECK(eq(SL_CK_TS, 6, "2024-01-01 00:00:00.123456", 6, "1704067200123456"));
    CHECK(eq(SL_CK_TS, 3, "2024-01-01 00:00:00.123", 3, "1704067200123"));
    CHECK(eq(SL_CK_TIME, 6, "01:00:00.5", 6, "3600500000"));
    CHECK(!eq(SL_CK_TS, 6, "2024-01-01 00:00:00.123456", 6, "1704067200123457"));
    CHECK(eq(SL_CK_TS, 6, "2024-01-01 00:00:00.123", 3, "2024-01-01T00:00:00.123Z")); /* a BSON date */
    CHECK(eq(SL_CK_DEC, 2, "1500.00", -1, "1.5E+3"));
    CHECK(eq(SL_CK_DEC, 5, "0.00012", -1, "12E-5"));
    CHECK(!eq(SL_CK_DEC, 2, "1500.00", -1, "1.5E+2"));
    CHECK(eq(SL_CK_POINT, -1, "(1,2)", -1, "{\"x\": 1.0, \"y\": 2.0, \"wkb\": null, \"srid\": null}"));
    CHECK(eq(SL_CK_BITS, -1, "\\x02aa", -1, "\\xaa02") == false); /* both little-endian: not the same bits */
    {
        sl_vcol c = col(SL_CK_BITS, -1);
        CHECK(sl_vnorm_equal(&c, "\x02\xaa", 2, &c, "\\xaa02", 6)); /* MariaDB BIT (big-endian) vs Debezium Bits */
        CHECK(sl_vnorm_equal(&c, "1010101010", 10, &c, "\\xaa02", 6));
    }
    /* VariableScaleDecimal {scale: 2, value: 0x04d2 = 1234} and a Geometry struct */
    CHECK(eq(SL_CK_DEC, -1, "12.34", -1, "{\"scale\": 2, \"value\": {\"$binary\": {\"base64\": \"BNI=\", \"subType\": \"00\"}}}"));
    CHECK(!eq(SL_CK_DEC, -1, "12.35", -1, "{\"scale\": 2, \"value\": {\"$binary\": {\"base64\": \"BNI=\", \"subType\": \"00\"}}}"));
    CHECK(eq(SL_CK_GEOMETRY, -1, "\\x0101000000", -1, "{\"wkb\": {\"$binary\": {\"base64\": \"AQEAAAA=\", \"subType\": \"00\"}}, \"srid\": null}"));
    /* key order */
    CHECK(cmp(SL_CK_INT, "9", "10") < 0);
    CHECK(cmp(SL_CK_INT, "-10", "-9") < 0);
    CHECK(cmp(SL_CK_INT, "007", "7") == 0);
    CHECK(cmp(SL_CK_DEC, "1.5", "1.50") == 0);
    CHECK(cmp(SL_CK_DEC, "-1.5", "1") < 0);
    CHECK(cmp(SL_CK_DEC, "2.05", "2.5") < 0);
    CHECK(cmp(SL_CK_TEXT, "B", "a") < 0); /* by bytes */
    CHECK(cmp(SL_CK_TEXT, "a", "ab") < 0);
    CHECK(cmp(SL_CK_UUID, "A0", "a1") < 0);
    CHECK(cmp(SL_CK_TS, "2024-01-01 00:00:00+00", "2023-12-31 23:59:59") > 0);
    CHECK(cmp(SL_CK_FLOAT, "1e3", "999.5") > 0);
    CHECK(strcmp(sl_ckind_name(SL_CK_TSTZ), "tstz") == 0);
    CHECK(strcmp(sl_ckind_name(SL_CK_MKEY), "mkey") == 0);
    /* MongoDB _ids as typed text: numbers by value whatever their type, types in MongoDB's order */
    CHECK(cmp(SL_CK_MKEY, "n9", "n10") < 0);
    CHECK(cmp(SL_CK_MKEY, "n10", "n10.0") == 0);
    CHECK(eq(SL_CK_MKEY, -1, "n1E+1", -1, "n10"));
    CHECK(cmp(SL_CK_MKEY, "n-Infinity", "n-5") < 0);
    CHECK(cmp(SL_CK_MKEY, "z", "n-5") < 0);
    CHECK(cmp(SL_CK_MKEY, "n99", "sa") < 0);
    CHECK(cmp(SL_CK_MKEY, "sz", "o000000000000000000000000") < 0);
    CHECK(cmp(SL_CK_MKEY, "o65f0a0000000000000000000", "o65f0a0000000000000000001") < 0);
    CHECK(cmp(SL_CK_MKEY, "o65f0a0000000000000000000", "b0") < 0);
    CHECK(cmp(SL_CK_MKEY, "b1", "d0") < 0);
    CHECK(cmp(SL_CK_MKEY, "d-86400000", "d5") < 0);
    CHECK(!eq(SL_CK_MKEY, -1, "s10", -1, "n10"));
    /* where two JSON values first differ */
    {
        sl_buf p;
        sl_buf_init(&p);
        const char *a = "{\"n\": 1, \"sub\": {\"a\": [1, 2, {\"x\": 1}]}}", *b = "{\"sub\": {\"a\": [1, 2, {\"x\": 2}]}, \"n\": 1}";
        CHECK(sl_vnorm_json_diff_path(a, strlen(a), b, strlen(b), &p) && strcmp(sl_buf_cstr(&p), ".sub.a[2].x") == 0);
        sl_buf_reset(&p);
        CHECK(sl_vnorm_json_diff_path("{\"a\": 1}", 8, "{\"b\": 1}", 8, &p) && strcmp(sl_buf_cstr(&p), ".a") == 0);
        sl_buf_reset(&p);
        CHECK(sl_vnorm_json_diff_path("[1]", 3, "[1, 2]", 6, &p) && strcmp(sl_buf_cstr(&p), "[1]") == 0);
        sl_buf_reset(&p);
        CHECK(sl_vnorm_json_diff_path("1", 1, "\"1\"", 3, &p) && strcmp(sl_buf_cstr(&p), "") == 0);
        CHECK(!sl_vnorm_json_diff_path("{", 1, "{}", 2, &p));
        sl_buf_free(&p);
    }
    /* query pairs: rows by member, numbers by value, MongoDB's wrappers read */
    {
        sl_buf p;
        sl_buf_init(&p);
#define ROWS(a, b, strict) (sl_buf_reset(&p), sl_vnorm_rows_same(a, strlen(a), b, strlen(b), strict, &p))
        CHECK(ROWS("{\"_id\": \"c1\", \"total\": 237.50, \"n\": 10}",
                   "{\"n\": 10, \"total\": {\"$numberDecimal\": \"237.5\"}, \"_id\": \"c1\"}", false));
        CHECK(ROWS("{\"at\": \"2024-01-01 00:00:00.123+00\"}", "{\"at\": {\"$date\": \"2024-01-01T00:00:00.123Z\"}}", false));
        CHECK(ROWS("{\"at\": \"2024-01-01 00:00:00+00\"}", "{\"at\": {\"$date\": {\"$numberLong\": \"1704067200000\"}}}", false));
        CHECK(!ROWS("{\"at\": \"2024-01-01 00:00:01+00\"}", "{\"at\": {\"$date\": \"2024-01-01T00:00:00Z\"}}", false));
        CHECK(ROWS("{\"ok\": true, \"id\": {\"$oid\": \"65f0a0000000000000000000\"}}",
                   "{\"ok\": 1, \"id\": \"65f0a0000000000000000000\"}", false));
        CHECK(ROWS("{\"s\": 0.30000000000000004}", "{\"s\": 0.3}", false)); /* a sum of doubles */
        CHECK(!ROWS("{\"s\": 0.31}", "{\"s\": 0.3}", false) && strcmp(sl_buf_cstr(&p), ".s") == 0);
        CHECK(ROWS("{\"a\": null}", "{}", false));
        CHECK(!ROWS("{\"a\": null}", "{}", true) && strcmp(sl_buf_cstr(&p), ".a") == 0);
        CHECK(!ROWS("{\"x\": {\"y\": [1, 2]}}", "{\"x\": {\"y\": [1, 3]}}", false) && strcmp(sl_buf_cstr(&p), ".x.y[1]") == 0);
        CHECK(!ROWS("{\"n\": \"10\"}", "{\"n\": \"10.0\"}", false)); /* text is text */
        CHECK(ROWS("{\"n\": \"10\"}", "{\"n\": 10.0}", false));          /* a number as text */
        CHECK(!ROWS("{", "{}", false));
        CHECK(ROWS("{\"sub\": {\"a\": [1, 2]}, \"w\": {\"$date\": \"2024-01-01T00:00:00Z\"}}",
                   "{\"sub\": \"{\\\"a\\\":[1,2]}\", \"w\": \"{\\\"$date\\\":1704067200000}\"}", false)); /* JSON text */
        CHECK(!ROWS("{\"sub\": {\"a\": [1, 2]}}", "{\"sub\": \"{\\\"a\\\":[1,3]}\"}", false) &&
              strcmp(sl_buf_cstr(&p), ".sub.a[1]") == 0);
#undef ROWS
        sl_buf_free(&p);
    }
    TEST_END();
}
