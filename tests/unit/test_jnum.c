/*
 * Unit tests of util/jnum: Double.toString and Float.toString. The expected
 * strings are what OpenJDK 25.0.3 (Temurin) printed for these values; the
 * values JDK 17 prints differently (before JDK-4511638) are marked.
 */
#include "test.h"
#include "util/jnum.h"
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const char *d2s(double d) {
    static char t[SL_JNUM_BUFSZ];
    size_t n = sl_jnum_double(t, d);
    return n == strlen(t) ? t : "(bad length)";
}

static const char *f2s(float f) {
    static char t[SL_JNUM_BUFSZ];
    size_t n = sl_jnum_float(t, f);
    return n == strlen(t) ? t : "(bad length)";
}

static double bits(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void test_double(void) {
    CHECK_STR(d2s(1e20), "1.0E20");
    CHECK_STR(d2s(1.0E-5), "1.0E-5");
    CHECK_STR(d2s(0.001), "0.001"); /* the plain range starts at 1e-3 ... */
    CHECK_STR(d2s(nextafter(0.001, 0)), "9.999999999999998E-4");
    CHECK_STR(d2s(1e7), "1.0E7"); /* ... and ends below 1e7 */
    CHECK_STR(d2s(9999999.0), "9999999.0");
    CHECK_STR(d2s(12345678.0), "1.2345678E7");
    CHECK_STR(d2s(0.1 + 0.2), "0.30000000000000004");
    CHECK_STR(d2s(1 / 3.0), "0.3333333333333333");
    CHECK_STR(d2s(NAN), "NaN");
    CHECK_STR(d2s(INFINITY), "Infinity");
    CHECK_STR(d2s(-INFINITY), "-Infinity");
    CHECK_STR(d2s(-0.0), "-0.0");
    CHECK_STR(d2s(0.0), "0.0");
    CHECK_STR(d2s(DBL_TRUE_MIN), "4.9E-324"); /* 5E-324 reads back too, but Java takes 2 digits at least */
    CHECK_STR(d2s(bits(2)), "9.9E-324");    /* JDK 17: 1.0E-323 */
    CHECK_STR(d2s(bits(3)), "1.5E-323");
    CHECK_STR(d2s(bits(0x000FFFFFFFFFFFFFull)), "2.225073858507201E-308");
    CHECK_STR(d2s(DBL_MIN), "2.2250738585072014E-308");
    CHECK_STR(d2s(DBL_MAX), "1.7976931348623157E308");
    CHECK_STR(d2s(9007199254740992.0), "9.007199254740992E15"); /* 2^53 */
    CHECK_STR(d2s(100.0), "100.0");
    CHECK_STR(d2s(1.0), "1.0");
    CHECK_STR(d2s(-1.5), "-1.5");
    CHECK_STR(d2s(0.002), "0.002");
    CHECK_STR(d2s(123456.789), "123456.789");
    CHECK_STR(d2s(1e-7), "1.0E-7");
    CHECK_STR(d2s(1e16), "1.0E16");
    CHECK_STR(d2s(123456789012345678.0), "1.2345678901234568E17");
    CHECK_STR(d2s(M_PI), "3.141592653589793");
    /* the values JDK 17 printed longer or not the closest */
    CHECK_STR(d2s(2e23), "2.0E23");                                   /* JDK 17: 1.9999999999999998E23 */
    CHECK_STR(d2s(1e23), "1.0E23");                                   /* JDK 17: 9.999999999999999E22 */
    CHECK_STR(d2s(4.6566128730773926E-10), "4.656612873077393E-10");  /* JDK 17: ...926E-10 */
    CHECK_STR(d2s(8.8243617212999997E18), "8.8243617213E18");         /* JDK 17: 8.8243617212999997E18 */
    CHECK_STR(d2s(1.3867957848030121E18), "1.386795784803012E18");
    /* a power of two: the nearest 16-digit decimal lies below and does not read back, the one above
     * does (JDK 17, like a nearest-only search, prints 17 digits: 7.1202363472230444E-307) */
    CHECK_STR(d2s(ldexp(1, -1017)), "7.120236347223045E-307");
    CHECK_STR(d2s(ldexp(1, 1023)), "8.98846567431158E307");
}

static void test_float(void) {
    CHECK_STR(f2s(0.1f), "0.1");
    CHECK_STR(f2s(1.0E10f), "1.0E10");
    CHECK_STR(f2s(FLT_MAX), "3.4028235E38");
    CHECK_STR(f2s(FLT_TRUE_MIN), "1.4E-45");
    CHECK_STR(f2s(FLT_MIN), "1.1754944E-38");  /* JDK 17: 1.17549435E-38 */
    CHECK_STR(f2s(8.589973E9f), "8.589974E9"); /* JDK 17: 8.5899735E9 */
    CHECK_STR(f2s(1.0f / 3), "0.33333334");
    CHECK_STR(f2s(16777216.0f), "1.6777216E7");
    CHECK_STR(f2s(9999999.0f), "9999999.0");
    CHECK_STR(f2s(0.001f), "0.001");
    CHECK_STR(f2s(1.0E-4f), "1.0E-4");
    CHECK_STR(f2s(1234567.9f), "1234567.9");
    CHECK_STR(f2s(-0.0f), "-0.0");
    CHECK_STR(f2s(NAN), "NaN");
    CHECK_STR(f2s(-INFINITY), "-Infinity");
    /* the same float printed as a double has the float's binary digits */
    CHECK_STR(d2s(0.1f), "0.10000000149011612");
}

static void test_json_and_digits(void) {
    sl_buf b;
    sl_buf_init(&b);
    sl_jnum_put_json(&b, NAN, false);
    sl_buf_putc(&b, ',');
    sl_jnum_put_json(&b, -INFINITY, true);
    sl_buf_putc(&b, ',');
    sl_jnum_put_json(&b, 0.1f, true); /* read as the float it came from */
    sl_buf_putc(&b, ',');
    sl_jnum_put_json(&b, 1e20, false);
    sl_buf_putc(&b, ',');
    sl_jnum_put_digits(&b, true, "15", 2, -4);
    sl_buf_putc(&b, ',');
    sl_jnum_put_digits(&b, false, "", 0, 0);
    CHECK_STR(sl_buf_cstr(&b), "\"NaN\",\"-Infinity\",0.1,1.0E20,-1.5E-4,0.0");
    sl_buf_free(&b);

    char dig[SL_JNUM_MAXDIG];
    int k, n = sl_jnum_digits(-1234.5, false, dig, &k);
    CHECK(n == 5 && memcmp(dig, "12345", 5) == 0 && k == 3);
    n = sl_jnum_digits(1e-300, false, dig, &k);
    CHECK(n == 1 && dig[0] == '1' && k == -300);
}

int main(void) {
    test_double();
    test_float();
    test_json_and_digits();
    TEST_END();
}
