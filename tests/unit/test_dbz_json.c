/*
 * Debezium JSON encoder: every PostgreSQL type in every handling mode, and
 * whole key/value envelopes for c/u/d/r/t/m with schemas on and off. The
 * expected strings come from Debezium 2.7's documented event shapes, its
 * PostgresValueConverter/JdbcValueConverters and its own
 * AbstractRecordsProducerTest expectations (e.g. 2016-11-04T11:51:30.123456Z,
 * bit strings as little-endian BitSet bytes), and Kafka's JsonConverter.
 * The processing timestamps (top-level ts_ms/ts_us/ts_ns) are volatile:
 * they are masked to 0 before comparing and checked separately.
 */
#include <jansson.h>
#include <stdlib.h>
#include <time.h>
#include "core/txmon.h"
#include "format/dbz_json.h"
#include "source/pg/pgtypes.h"
#include "util/jhash.h"
#include "util/mem.h"
#include "test.h"

static sl_dbz_opts opts(void) {
    sl_dbz_opts o = {.connector = "postgresql", .server_name = "srv", .version = "0.1.0"};
    return o;
}

#define NUMERIC_TM(p, s) ((int32_t)((((p) << 16) | (s)) + 4))

static char res[16384];

/* One cell's JSON value (text NULL: a NULL cell). */
static const char *valx(const sl_dbz_opts *o, uint32_t oid, int32_t typmod, bool optional, const char *text,
                        uint8_t flags) {
    sl_column c = {.name = "c", .src_type = oid, .typmod = typmod, .optional = optional};
    sl_pg_type_map(oid, typmod, &c);
    sl_cell v = {.data = text, .len = text ? (uint32_t)strlen(text) : 0, .flags = text ? flags : SL_CELL_NULL};
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_cell_value(o, &c, &v, &b);
    snprintf(res, sizeof res, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    sl_free(c.type_name);
    return res;
}
static const char *val(const sl_dbz_opts *o, uint32_t oid, int32_t typmod, const char *text) {
    return valx(o, oid, typmod, true, text, 0);
}

static const char *sch(const sl_dbz_opts *o, uint32_t oid, int32_t typmod, bool optional) {
    sl_column c = {.name = "c", .src_type = oid, .typmod = typmod, .optional = optional};
    sl_pg_type_map(oid, typmod, &c);
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_field_schema(o, &c, &b);
    snprintf(res, sizeof res, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    sl_free(c.type_name);
    return res;
}

static void test_pgtypes(void) {
    sl_column c = {0};
    CHECK(sl_pg_type_map(1700, NUMERIC_TM(12, 2), &c) && c.type == SL_T_NUMERIC && c.precision == 12 && c.scale == 2);
    CHECK_STR(c.type_name, "numeric");
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(1700, -1, &c) && c.precision == -1 && c.scale == -1);
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(1007, -1, &c) && c.type == SL_T_ARRAY && c.elem == SL_T_INT32);
    CHECK_STR(c.type_name, "_int4");
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(1083, -1, &c) && c.type == SL_T_TIME && c.scale == 6);
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(1083, 3, &c) && c.scale == 3);
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(1043, 24, &c) && c.type == SL_T_STRING && c.length == 20);
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(1560, 8, &c) && c.type == SL_T_BIT && c.length == 8);
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(26, -1, &c) && c.type == SL_T_INT64);
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(1231, NUMERIC_TM(10, 2), &c) && c.elem == SL_T_NUMERIC && c.scale == 2);
    CHECK_STR(c.type_name, "_numeric");
    sl_free(c.type_name);
    CHECK(!sl_pg_type_map(601 /* lseg */, -1, &c) && c.type == SL_T_UNKNOWN);
    CHECK(sl_pg_type_map(600, -1, &c) && c.type == SL_T_GEOMETRY); /* point: io.debezium.data.geometry.Point */
    sl_free(c.type_name);
    CHECK(sl_pg_type_map(3614, -1, &c) && c.type == SL_T_STRING); /* tsvector: io.debezium.data.Tsvector */
    CHECK_STR(c.type_name, "tsvector");
    sl_free(c.type_name);
    CHECK(sl_pg_array_elem(1009) == 25 && sl_pg_array_elem(3807) == 3802 && sl_pg_array_elem(1270) == 1266);
    CHECK(sl_pg_array_elem(25) == 0 && sl_pg_array_elem(12345) == 0);
}

static void test_scalars(void) {
    sl_dbz_opts o = opts();
    CHECK_STR(val(&o, 16, -1, "t"), "true");
    CHECK_STR(val(&o, 16, -1, "f"), "false");
    CHECK_STR(val(&o, 21, -1, "-32768"), "-32768");
    CHECK_STR(val(&o, 21, -1, "32768"), "null"); /* out of range: null, not garbage */
    CHECK_STR(val(&o, 23, -1, "123456"), "123456");
    CHECK_STR(val(&o, 23, -1, "12a"), "null");
    CHECK_STR(val(&o, 23, -1, ""), "null");
    CHECK_STR(val(&o, 20, -1, "-9223372036854775808"), "-9223372036854775808");
    CHECK_STR(val(&o, 20, -1, "9223372036854775808"), "null");
    CHECK_STR(val(&o, 26, -1, "4000000000"), "4000000000");
    CHECK_STR(val(&o, 25, -1, "tab\there \"q\" \\ \xc5\xbe"), "\"tab\\there \\\"q\\\" \\\\ \xc5\xbe\"");
    CHECK_STR(val(&o, 1042, 8, "ab  "), "\"ab  \"");
    CHECK_STR(val(&o, 2950, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
    CHECK_STR(val(&o, 3802, -1, "{\"bar\": \"baz\"}"), "\"{\\\"bar\\\": \\\"baz\\\"}\"");
    CHECK_STR(val(&o, 869, -1, "192.168.2.0/12"), "\"192.168.2.0/12\"");
    CHECK_STR(val(&o, 774, -1, "08:00:2b:01:02:03:04:05"), "\"08:00:2b:01:02:03:04:05\"");
    CHECK_STR(val(&o, 23, -1, NULL), "null");
    /* NULL in a NOT NULL column: Debezium's converter fallback */
    CHECK_STR(valx(&o, 23, -1, false, NULL, 0), "0");
    CHECK_STR(valx(&o, 25, -1, false, NULL, 0), "\"\"");
    CHECK_STR(valx(&o, 16, -1, false, NULL, 0), "false");
    CHECK_STR(valx(&o, 1184, -1, false, NULL, 0), "\"1970-01-01T00:00:00Z\"");
    CHECK_STR(valx(&o, 1266, -1, false, NULL, 0), "\"00:00:00Z\"");
    CHECK_STR(valx(&o, 1700, NUMERIC_TM(5, 2), false, NULL, 0), "\"AA==\"");
    CHECK_STR(valx(&o, 1700, -1, false, NULL, 0), "{\"scale\":0,\"value\":\"AA==\"}");
    CHECK_STR(valx(&o, 1007, -1, false, NULL, 0), "[]");
}

static void test_floats(void) {
    sl_dbz_opts o = opts();
    CHECK_STR(val(&o, 701, -1, "1.5"), "1.5");
    CHECK_STR(val(&o, 701, -1, "100"), "100.0");
    CHECK_STR(val(&o, 701, -1, "1234567"), "1234567.0");
    CHECK_STR(val(&o, 701, -1, "12345678"), "1.2345678E7");
    CHECK_STR(val(&o, 701, -1, "1e+20"), "1.0E20");
    CHECK_STR(val(&o, 701, -1, "1.5e-07"), "1.5E-7");
    CHECK_STR(val(&o, 701, -1, "0.001"), "0.001");
    CHECK_STR(val(&o, 701, -1, "0.0001"), "1.0E-4");
    CHECK_STR(val(&o, 701, -1, "4.44"), "4.44");
    CHECK_STR(val(&o, 701, -1, "0.3333333333333333"), "0.3333333333333333");
    CHECK_STR(val(&o, 701, -1, "0.10000000000000001"), "0.1"); /* extra_float_digits=3 output */
    CHECK_STR(val(&o, 701, -1, "-0"), "-0.0");
    CHECK_STR(val(&o, 701, -1, "NaN"), "\"NaN\"");
    CHECK_STR(val(&o, 701, -1, "Infinity"), "\"Infinity\"");
    CHECK_STR(val(&o, 700, -1, "-Infinity"), "\"-Infinity\"");
    CHECK_STR(val(&o, 700, -1, "3.3"), "3.3");
    CHECK_STR(val(&o, 700, -1, "3.4028235e+38"), "3.4028235E38");
    CHECK_STR(val(&o, 700, -1, "0.100000001"), "0.1");
    CHECK_STR(val(&o, 701, -1, "1.2.3"), "null");
    CHECK_STR(sch(&o, 700, -1, true), "{\"type\":\"float\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(sch(&o, 701, -1, false), "{\"type\":\"double\",\"optional\":false,\"field\":\"c\"}");
}

static void test_numeric(void) {
    sl_dbz_opts o = opts();
    int32_t tm22 = NUMERIC_TM(22, 2);
    CHECK_STR(sch(&o, 1700, tm22, true),
              "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\"version\":1,"
              "\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"22\"},\"field\":\"c\"}");
    CHECK_STR(val(&o, 1700, tm22, "12345678901234567890.12"), "\"Qu0SOwvYIDoU\"");
    CHECK_STR(val(&o, 1700, tm22, "-12345678901234567890.12"), "\"vRLtxPQn38Xs\"");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "1.10"), "\"bg==\"");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "1.1"), "\"bg==\""); /* scale adjusted to the column's */
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "0.00"), "\"AA==\"");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "-0.01"), "\"/w==\"");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "-1.28"), "\"gA==\"");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "-1.29"), "\"/38=\"");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "2.55"), "\"AP8=\"");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "NaN"), "null"); /* Debezium fails the record in precise mode */
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "1e5"), "null");
    CHECK_STR(sch(&o, 1700, -1, true),
              "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"
              "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":true,"
              "\"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,\"doc\":\"Variable scaled decimal\","
              "\"field\":\"c\"}");
    CHECK_STR(val(&o, 1700, -1, "10.1111"), "{\"scale\":4,\"value\":\"AYr3\"}");
    CHECK_STR(val(&o, 1700, -1, "22"), "{\"scale\":0,\"value\":\"Fg==\"}");
    CHECK_STR(val(&o, 1700, -1, "100.500"), "{\"scale\":1,\"value\":\"A+0=\"}");
    CHECK_STR(val(&o, 1700, -1, "10000000000000000000000000000000000000000"),
              "{\"scale\":0,\"value\":\"HWMp8cNcpL+rufVhAAAAAAA=\"}");
    CHECK_STR(val(&o, 1700, -1, "-10000000000000000000000000000000000000000.000"),
              "{\"scale\":0,\"value\":\"4pzWDjyjW0BURgqfAAAAAAA=\"}");
    /* a 1001-digit value (more than the stack scratch): 10^1000 has 3322 bits → 416 bytes */
    {
        static char big[1100];
        big[0] = '1';
        memset(big + 1, '0', 1000);
        big[1001] = 0;
        const char *got = val(&o, 1700, -1, big);
        size_t len = strlen(got);
        CHECK(strncmp(got, "{\"scale\":0,\"value\":\"", 20) == 0 && len == 20 + 556 + 2);
    }
    o.decimal_mode = SL_DEC_DOUBLE;
    CHECK_STR(sch(&o, 1700, tm22, true), "{\"type\":\"double\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "1.10"), "1.1");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(4, 0), "10"), "10.0");
    CHECK_STR(val(&o, 1700, tm22, "12345678901234567890.12"), "1.2345678901234567E19");
    CHECK_STR(val(&o, 1700, -1, "NaN"), "\"NaN\"");
    CHECK_STR(val(&o, 1700, -1, "-Infinity"), "\"-Infinity\"");
    o.decimal_mode = SL_DEC_STRING;
    CHECK_STR(sch(&o, 1700, -1, false), "{\"type\":\"string\",\"optional\":false,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1700, NUMERIC_TM(3, 2), "1.1"), "\"1.10\"");
    CHECK_STR(val(&o, 1700, -1, "-0.500"), "\"-0.500\"");
    CHECK_STR(val(&o, 1700, -1, "NaN"), "\"NAN\"");
    CHECK_STR(val(&o, 1700, -1, "Infinity"), "\"POSITIVE_INFINITY\"");
    CHECK_STR(valx(&o, 1700, NUMERIC_TM(5, 2), false, NULL, 0), "\"0.00\"");
}

static void test_money(void) {
    sl_dbz_opts o = opts();
    CHECK_STR(sch(&o, 790, -1, true),
              "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\"version\":1,"
              "\"parameters\":{\"scale\":\"2\"},\"field\":\"c\"}");
    CHECK_STR(val(&o, 790, -1, "$1,234.56"), "\"AeJA\"");
    CHECK_STR(val(&o, 790, -1, "-$1.00"), "\"nA==\"");
    CHECK_STR(val(&o, 790, -1, "($1.00)"), "\"nA==\"");
    o.decimal_mode = SL_DEC_STRING;
    CHECK_STR(val(&o, 790, -1, "$1,234.56"), "\"1234.56\"");
    CHECK_STR(val(&o, 790, -1, "-$1.00"), "\"-1.00\"");
    o.decimal_mode = SL_DEC_DOUBLE;
    CHECK_STR(val(&o, 790, -1, "$1,234.11"), "1234.11");
    CHECK_STR(val(&o, 790, -1, "-$1,234.11"), "-1234.11");
    CHECK_STR(sch(&o, 790, -1, true), "{\"type\":\"double\",\"optional\":true,\"field\":\"c\"}");
}

static void test_binary(void) {
    sl_dbz_opts o = opts();
    CHECK_STR(sch(&o, 17, -1, true), "{\"type\":\"bytes\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(val(&o, 17, -1, "\\x010203"), "\"AQID\"");
    CHECK_STR(val(&o, 17, -1, "\\x"), "\"\"");
    CHECK_STR(val(&o, 17, -1, "\\x0g"), "null");
    CHECK_STR(val(&o, 17, -1, "a\\\\\\001"), "\"YVwB\""); /* escape format: a \ \001 */
    CHECK_STR(val(&o, 17, -1, "a\\9"), "null"); /* malformed escape format: checked before writing */
    CHECK_STR(val(&o, 17, -1, "a\\"), "null");
    o.binary_mode = SL_BIN_BASE64;
    CHECK_STR(sch(&o, 17, -1, true), "{\"type\":\"string\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(val(&o, 17, -1, "\\xfbff"), "\"+/8=\"");
    o.binary_mode = SL_BIN_BASE64_URL;
    CHECK_STR(val(&o, 17, -1, "\\xfbff"), "\"-_8=\"");
    o.binary_mode = SL_BIN_HEX;
    CHECK_STR(val(&o, 17, -1, "\\x010203"), "\"010203\"");
    o.binary_mode = SL_BIN_BYTES;
    /* bit strings: BitSet with the last character as bit 0, toByteArray() */
    CHECK_STR(sch(&o, 1560, 2, true),
              "{\"type\":\"bytes\",\"optional\":true,\"name\":\"io.debezium.data.Bits\",\"version\":1,"
              "\"parameters\":{\"length\":\"2\"},\"field\":\"c\"}");
    CHECK_STR(val(&o, 1560, 2, "11"), "\"Aw==\"");
    CHECK_STR(val(&o, 1560, 7, "1000000"), "\"QA==\"");
    CHECK_STR(val(&o, 1560, 2, "00"), "\"\"");
    CHECK_STR(val(&o, 1560, 24, "000000110000001000000001"), "\"AQID\"");
    CHECK_STR(val(&o, 1560, 64, "1000000000000000000000000000000000000000000000000000000000000000"), "\"AAAAAAAAAIA=\"");
    CHECK_STR(val(&o, 1562, -1, "111011010001000110000001000000001"), "\"AQIj2gE=\"");
    CHECK_STR(sch(&o, 1562, -1, true),
              "{\"type\":\"bytes\",\"optional\":true,\"name\":\"io.debezium.data.Bits\",\"version\":1,"
              "\"parameters\":{\"length\":\"2147483647\"},\"field\":\"c\"}");
    CHECK_STR(sch(&o, 1560, 1, false), "{\"type\":\"boolean\",\"optional\":false,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1560, 1, "1"), "true");
    CHECK_STR(val(&o, 1560, 1, "0"), "false");
    CHECK_STR(val(&o, 1560, 2, "12"), "null");
}

static void test_temporal(void) {
    sl_dbz_opts o = opts();
    CHECK_STR(sch(&o, 1082, -1, true),
              "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Date\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1082, -1, "2024-01-31"), "19753");
    CHECK_STR(val(&o, 1082, -1, "1970-01-01"), "0");
    CHECK_STR(val(&o, 1082, -1, "0044-03-15 BC"), "-735160");
    CHECK_STR(val(&o, 1082, -1, "12000-01-01"), "3663382");
    CHECK_STR(val(&o, 1082, -1, "infinity"), "-2147472692");
    CHECK_STR(val(&o, 1082, -1, "-infinity"), "-2147472691");
    CHECK_STR(val(&o, 1082, -1, "2024-13-01"), "null");
    /* time: precision 6 → MicroTime, 0..3 → Time (ms) */
    CHECK_STR(sch(&o, 1083, -1, true),
              "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTime\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1083, -1, "13:51:30"), "49890000000");
    CHECK_STR(val(&o, 1083, -1, "24:00:00"), "86400000000");
    CHECK_STR(sch(&o, 1083, 3, true),
              "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Time\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1083, 3, "13:51:30.123"), "49890123");
    /* timestamp */
    CHECK_STR(sch(&o, 1114, -1, true),
              "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\",\"version\":1,"
              "\"field\":\"c\"}");
    CHECK_STR(val(&o, 1114, -1, "2016-11-04 13:51:30.123456"), "1478267490123456");
    CHECK_STR(val(&o, 1114, -1, "1936-10-25 22:10:12.608"), "-1047174587392000");
    CHECK_STR(val(&o, 1114, -1, "0044-03-15 10:00:00 BC"), "-63517788000000000");
    CHECK_STR(val(&o, 1114, -1, "infinity"), "9223372036825200000");
    CHECK_STR(val(&o, 1114, -1, "-infinity"), "-9223372036832400000");
    CHECK_STR(sch(&o, 1114, 3, true),
              "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.Timestamp\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1114, 3, "2016-11-04 13:51:30.123"), "1478267490123");
    CHECK_STR(val(&o, 1114, 3, "1936-10-25 22:10:12.608"), "-1047174587392");
    /* timestamptz: UTC, fractional width = column scale */
    CHECK_STR(sch(&o, 1184, -1, true),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1,"
              "\"field\":\"c\"}");
    CHECK_STR(val(&o, 1184, -1, "2016-11-04 13:51:30.123456+02"), "\"2016-11-04T11:51:30.123456Z\"");
    CHECK_STR(val(&o, 1184, -1, "21016-11-04 13:51:30+07"), "\"+21016-11-04T06:51:30.000000Z\"");
    CHECK_STR(val(&o, 1184, -1, "2024-01-31 14:50:30.123456+05:30"), "\"2024-01-31T09:20:30.123456Z\"");
    CHECK_STR(val(&o, 1184, -1, "1800-01-01 00:19:32+00:19:32"), "\"1800-01-01T00:00:00.000000Z\"");
    CHECK_STR(val(&o, 1184, -1, "0044-03-15 10:00:00+05:53:28 BC"), "\"-0043-03-15T04:06:32.000000Z\"");
    CHECK_STR(val(&o, 1184, -1, "2024-01-01 00:30:00-01"), "\"2024-01-01T01:30:00.000000Z\"");
    CHECK_STR(val(&o, 1184, 0, "2024-01-31 10:20:30+00"), "\"2024-01-31T10:20:30Z\"");
    CHECK_STR(val(&o, 1184, 3, "2024-01-31 10:20:30.12+00"), "\"2024-01-31T10:20:30.120Z\"");
    /* the UTC form "+00" (copied date, time of day read alone) writes what the general reader writes for the
     * same instant given as "+00:00", for every fraction width and column scale */
    {
        srand(17);
        int differ = 0;
        for (int i = 0; i < 20000; i++) {
            char a[64], b[64], fa[64];
            int fd = rand() % 7, y = 1000 + rand() % 9000;
            snprintf(fa, sizeof fa, ".%06d", rand() % 1000000);
            fa[fd ? fd + 1 : 0] = 0;
            int n = snprintf(a, sizeof a, "%04d-%02d-%02d %02d:%02d:%02d%s", y, 1 + rand() % 12, 1 + rand() % 28,
                             rand() % 24, rand() % 60, rand() % 60, fa);
            snprintf(b, sizeof b, "%.*s+00:00", n, a);
            snprintf(a + n, sizeof a - (size_t)n, "+00");
            int32_t tm = rand() % 8 - 1;
            char want[64];
            snprintf(want, sizeof want, "%s", val(&o, 1184, tm, b));
            if (strcmp(val(&o, 1184, tm, a), want) != 0 && !differ++) fprintf(stderr, "%s: %s != %s\n", a, res, want);
        }
        CHECK(differ == 0);
    }
    /* near the fast form: read by the general reader */
    CHECK_STR(val(&o, 1184, -1, "0999-01-31 10:20:30+00"), "\"0999-01-31T10:20:30.000000Z\"");
    CHECK_STR(val(&o, 1184, -1, "2024-01-31 10:20:30.+00"), "\"2024-01-31T10:20:30.000000Z\"");
    CHECK_STR(val(&o, 1184, -1, "2024-01-31 24:00:00+00"), "\"2024-02-01T00:00:00.000000Z\"");
    CHECK_STR(val(&o, 1184, -1, "infinity"), "\"infinity\"");
    CHECK_STR(val(&o, 1184, -1, "-infinity"), "\"-infinity\"");
    CHECK_STR(val(&o, 1184, -1, "2024-01-31 10:20:30"), "null");
    /* timetz */
    CHECK_STR(val(&o, 1266, -1, "13:51:30.123789+02"), "\"11:51:30.123789Z\"");
    CHECK_STR(val(&o, 1266, -1, "13:51:30.123+02"), "\"11:51:30.123Z\"");
    CHECK_STR(val(&o, 1266, -1, "01:00:00+02"), "\"23:00:00Z\"");
    CHECK_STR(val(&o, 1266, -1, "10:20:30.5+05:30"), "\"04:50:30.5Z\"");
    CHECK_STR(sch(&o, 1266, -1, true),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTime\",\"version\":1,\"field\":\"c\"}");
    /* interval: MicroDuration with 365.25/12 days per month */
    CHECK_STR(sch(&o, 1186, -1, true),
              "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroDuration\",\"version\":1,"
              "\"field\":\"c\"}");
    CHECK_STR(val(&o, 1186, -1, "1 year 2 mons 3 days 04:05:06.78"), "37091106780000");
    CHECK_STR(val(&o, 1186, -1, "1 year 2 mons 3 days 04:05:06.5"), "37091106500000");
    CHECK_STR(val(&o, 1186, -1, "P1Y2M3DT4H5M6.78S"), "37091106780000");
    CHECK_STR(val(&o, 1186, -1, "-00:00:01"), "-1000000");
    CHECK_STR(val(&o, 1186, -1, "-1 days +02:00:00"), "-79200000000");
    CHECK_STR(val(&o, 1186, -1, "@ 1 day ago"), "-86400000000");
    CHECK_STR(val(&o, 1186, -1, "00:00:00"), "0");
    CHECK_STR(val(&o, 1186, -1, "x years"), "null");
    /* adaptive_time_microseconds: time always µs, timestamps still by precision */
    o.time_mode = SL_TIME_ADAPTIVE_MICRO;
    CHECK_STR(val(&o, 1083, 3, "13:51:30.123"), "49890123000");
    CHECK_STR(sch(&o, 1114, 3, true),
              "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.Timestamp\",\"version\":1,\"field\":\"c\"}");
    /* connect */
    o.time_mode = SL_TIME_CONNECT;
    CHECK_STR(sch(&o, 1082, -1, false),
              "{\"type\":\"int32\",\"optional\":false,\"name\":\"org.apache.kafka.connect.data.Date\",\"version\":1,"
              "\"field\":\"c\"}");
    CHECK_STR(sch(&o, 1083, -1, true),
              "{\"type\":\"int32\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Time\",\"version\":1,"
              "\"field\":\"c\"}");
    CHECK_STR(val(&o, 1083, -1, "13:51:30.123456"), "49890123");
    CHECK_STR(sch(&o, 1114, -1, true),
              "{\"type\":\"int64\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Timestamp\",\"version\":1,"
              "\"field\":\"c\"}");
    CHECK_STR(val(&o, 1114, -1, "2016-11-04 13:51:30.123456"), "1478267490123");
    CHECK_STR(val(&o, 1114, -1, "infinity"), "9223372036825200");
}

static void test_named_strings(void) {
    sl_dbz_opts o = opts();
    CHECK_STR(sch(&o, 2950, -1, true),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Uuid\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(sch(&o, 114, -1, true),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(sch(&o, 142, -1, false),
              "{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.data.Xml\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(sch(&o, 25, -1, true), "{\"type\":\"string\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(sch(&o, 16, -1, false), "{\"type\":\"boolean\",\"optional\":false,\"field\":\"c\"}");
    CHECK_STR(sch(&o, 21, -1, true), "{\"type\":\"int16\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(sch(&o, 26, -1, true), "{\"type\":\"int64\",\"optional\":true,\"field\":\"c\"}");
    /* enum (a custom type the source resolves): Enum with the allowed labels */
    sl_column e = {.name = "mood", .type = SL_T_ENUM, .type_name = "mood", .enum_values = "sad,ok,happy",
                   .optional = true};
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_field_schema(&o, &e, &b);
    CHECK_STR(sl_buf_cstr(&b), "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"
                               "\"parameters\":{\"allowed\":\"sad,ok,happy\"},\"field\":\"mood\"}");
    sl_buf_reset(&b);
    sl_cell v = {.data = "ok", .len = 2};
    sl_dbz_cell_value(&o, &e, &v, &b);
    CHECK_STR(sl_buf_cstr(&b), "\"ok\"");
    /* enum[]: element schema is not optional */
    sl_column ea = {.name = "moods", .type = SL_T_ARRAY, .elem = SL_T_ENUM, .type_name = "_mood",
                    .enum_values = "sad,ok", .optional = true};
    sl_buf_reset(&b);
    sl_dbz_field_schema(&o, &ea, &b);
    CHECK_STR(sl_buf_cstr(&b), "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":false,"
                               "\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":{\"allowed\":\"sad,ok\"}},"
                               "\"optional\":true,\"field\":\"moods\"}");
    sl_buf_free(&b);
}

static void test_arrays(void) {
    sl_dbz_opts o = opts();
    CHECK_STR(sch(&o, 1007, -1, true),
              "{\"type\":\"array\",\"items\":{\"type\":\"int32\",\"optional\":true},\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1007, -1, "{1,2,NULL}"), "[1,2,null]");
    CHECK_STR(val(&o, 1007, -1, "{}"), "[]");
    CHECK_STR(val(&o, 1007, -1, "[0:1]={1,2}"), "[1,2]");
    CHECK_STR(val(&o, 1007, -1, "{{1,2},{3,4}}"), "[null,null]");
    CHECK_STR(val(&o, 1007, -1, "{1,x}"), "[1,null]");
    CHECK_STR(val(&o, 1007, -1, "{1,2"), "null");
    CHECK_STR(val(&o, 1009, -1, "{\"a b\",\"c\\\"d\",\"NULL\",NULL,\"x\\\\y\",plain}"),
              "[\"a b\",\"c\\\"d\",\"NULL\",null,\"x\\\\y\",\"plain\"]");
    CHECK_STR(val(&o, 1009, -1, "{\"{\\\"q\\\"}\",\"}\"}"), "[\"{\\\"q\\\"}\",\"}\"]");
    CHECK_STR(val(&o, 1000, -1, "{t,f}"), "[true,false]");
    CHECK_STR(val(&o, 1001, -1, "{\"\\\\x0102\"}"), "[\"AQI=\"]");
    CHECK_STR(val(&o, 1185, -1, "{\"2024-01-01 05:00:00+00\"}"), "[\"2024-01-01T05:00:00.000000Z\"]");
    CHECK_STR(val(&o, 3807, -1, "{\"{\\\"a\\\": 1}\"}"), "[\"{\\\"a\\\": 1}\"]");
    CHECK_STR(val(&o, 1182, -1, "{2016-11-04,NULL}"), "[17109,null]");
    CHECK_STR(val(&o, 1231, NUMERIC_TM(10, 2), "{1.20,3.40}"), "[\"eA==\",\"AVQ=\"]");
    CHECK_STR(sch(&o, 1231, NUMERIC_TM(10, 2), true),
              "{\"type\":\"array\",\"items\":{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data."
              "Decimal\",\"version\":1,\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"10\"}},"
              "\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1231, -1, "{1.1,2.22}"), "[{\"scale\":1,\"value\":\"Cw==\"},{\"scale\":2,\"value\":\"AN4=\"}]");
    /* time[] is MicroTime whatever the mode, from java.sql.Time (millisecond precision) */
    CHECK_STR(sch(&o, 1183, 3, true),
              "{\"type\":\"array\",\"items\":{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTime\","
              "\"version\":1},\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(val(&o, 1183, -1, "{00:01:02,01:02:03.123456}"), "[62000000,3723123000]");
    CHECK_STR(val(&o, 1270, -1, "{13:51:02+02,14:51:03.5+02}"), "[\"11:51:02Z\",\"12:51:03.5Z\"]");
    CHECK_STR(val(&o, 1021, -1, "{1.5,NaN}"), "[1.5,\"NaN\"]");
    /* arrays Debezium has no schema for are left out */
    CHECK_STR(sch(&o, 791, -1, true), "");
    CHECK_STR(sch(&o, 1187, -1, true), "");
    CHECK_STR(sch(&o, 1003, -1, true), "");
    CHECK_STR(sch(&o, 143, -1, true), "");
}

static void test_toast(void) {
    sl_dbz_opts o = opts();
    CHECK_STR(valx(&o, 25, -1, true, "", SL_CELL_UNCHANGED), "\"__debezium_unavailable_value\"");
    CHECK_STR(valx(&o, 3802, -1, true, "", SL_CELL_UNCHANGED), "\"__debezium_unavailable_value\"");
    CHECK_STR(valx(&o, 17, -1, true, "", SL_CELL_UNCHANGED), "\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"");
    CHECK_STR(valx(&o, 1009, -1, true, "", SL_CELL_UNCHANGED), "[\"__debezium_unavailable_value\"]");
    CHECK_STR(valx(&o, 1007, -1, true, "", SL_CELL_UNCHANGED),
              "[95,95,100,101,98,101,122,105,117,109,95,117,110,97,118,97,105,108,97,98,108,101,95,118,97,108,117,101]");
    CHECK_STR(valx(&o, 2951, -1, true, "", SL_CELL_UNCHANGED), "[\"b68a35a7-17ad-35b3-af2a-ae46edb4545a\"]");
    CHECK_STR(valx(&o, 1700, -1, true, "", SL_CELL_UNCHANGED), "null");
    o.binary_mode = SL_BIN_HEX;
    CHECK_STR(valx(&o, 17, -1, true, "", SL_CELL_UNCHANGED), "\"__debezium_unavailable_value\"");
    o.binary_mode = SL_BIN_BASE64;
    CHECK_STR(valx(&o, 17, -1, true, "", SL_CELL_UNCHANGED), "null");
}

/* ------------------------------------------------------------------------
 * Envelopes
 */

static const char SOURCE_SCHEMA[] =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},{\"type\":\"string\",\"optional\":false,"
    "\"field\":\"name\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},{\"type\":\"string\","
    "\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":{\"allowed\":"
    "\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},\"default\":"
    "\"false\",\"field\":\"snapshot\"},{\"type\":\"string\","
    "\"optional\":false,\"field\":\"db\"},{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},{\"type\":\"int64\",\"optional\":true,\"field\":"
    "\"ts_ns\"},{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},{\"type\":\"string\",\"optional\":"
    "false,\"field\":\"table\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},{\"type\":\"int64\","
    "\"optional\":true,\"field\":\"lsn\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"origin\"},{\"type\":\"int64\",\"optional\":true,"
    "\"field\":\"origin_lsn\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"version\":1,\"field\":\"source\"}";

#define ROW_SCHEMA                                                                                          \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},{\"type\":"  \
    "\"string\",\"optional\":true,\"field\":\"name\"},{\"type\":\"int32\",\"optional\":false,\"field\":"    \
    "\"qty\"},{\"type\":\"string\",\"optional\":true,\"field\":\"doc\"}],\"optional\":true,\"name\":"       \
    "\"srv.public.t.Value\""

#define TX_SCHEMA                                                                                           \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},{\"type\":" \
    "\"int64\",\"optional\":false,\"field\":\"total_order\"},{\"type\":\"int64\",\"optional\":false,"       \
    "\"field\":\"data_collection_order\"}],\"optional\":true,\"name\":\"event.block\",\"version\":1,"       \
    "\"field\":\"transaction\"}"

#define SOURCE_PAYLOAD(snap, seq, tx, lsn)                                                                   \
    "{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"name\":\"srv\",\"ts_ms\":1706696430123,"          \
    "\"snapshot\":\"" snap "\",\"db\":\"db\",\"sequence\":\"" seq "\",\"ts_us\":1706696430123456,"           \
    "\"ts_ns\":1706696430123456000,\"schema\":\"public\",\"table\":\"t\",\"txId\":" tx ",\"lsn\":" lsn       \
    ",\"xmin\":null,\"origin\":null,\"origin_lsn\":null}"

static sl_table *mk_table(bool with_key) {
    sl_table *t = sl_table_new("db", "public", "t", 4);
    const char *names[] = {"id", "name", "qty", "doc"};
    uint32_t oids[] = {23, 1043, 23, 25};
    int32_t tms[] = {-1, 24, -1, -1};
    bool opt[] = {false, true, false, true};
    for (int i = 0; i < 4; i++) {
        sl_column *c = &t->cols[i];
        c->name = sl_strdup(names[i]);
        c->src_type = oids[i], c->typmod = tms[i], c->optional = opt[i];
        sl_pg_type_map(oids[i], tms[i], c);
    }
    t->cols[0].key = with_key;
    t->nkeys = with_key ? 1 : 0;
    return t;
}

static sl_cell txt(const char *s) {
    sl_cell c = {.data = s, .len = (uint32_t)strlen(s)};
    return c;
}
static sl_cell nul(void) {
    sl_cell c = {.flags = SL_CELL_NULL};
    return c;
}

/*
 * Replaces the values of the first `nkeys` of ts_ms/ts_us/ts_ns after the
 * top-level "op" with 0, after checking they are a consistent wall clock.
 */
static const char *mask(const char *json, int nkeys) {
    static char out[16384];
    snprintf(out, sizeof out, "%s", json);
    char *p = strstr(out, "\"op\":\"");
    if (!p) return out;
    const char *keys[] = {"\"ts_ms\":", "\"ts_us\":", "\"ts_ns\":"};
    long long v[3] = {0, 0, 0};
    for (int k = 0; k < nkeys; k++) {
        char *q = strstr(p, keys[k]);
        if (!q) return out;
        q += strlen(keys[k]);
        char *e = q;
        v[k] = strtoll(q, &e, 10);
        memmove(q + 1, e, strlen(e) + 1);
        *q = '0';
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    CHECK(v[0] > now_ms - 60000 && v[0] <= now_ms);
    if (nkeys == 3) CHECK(v[1] / 1000 == v[0] && v[2] == v[1] * 1000);
    return out;
}

static bool valid_json(const char *s) {
    json_error_t err;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &err);
    if (!j) fprintf(stderr, "invalid JSON (%s): %s\n", err.text, s);
    json_decref(j);
    return j != NULL;
}

static const char *enc_key(const sl_dbz_opts *o, const sl_record *r) {
    static char out[16384];
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_key(o, r, &b);
    snprintf(out, sizeof out, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    CHECK(valid_json(out));
    return out;
}
static const char *enc_value(const sl_dbz_opts *o, const sl_record *r, int nmask) {
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_value(o, r, &b);
    CHECK(valid_json(sl_buf_cstr(&b)));
    const char *m = mask(sl_buf_cstr(&b), nmask);
    sl_buf_free(&b);
    return m;
}

static void fill_rec(sl_record *r, sl_table *t, sl_op op) {
    memset(r, 0, sizeof *r);
    r->op = op, r->table = t;
    r->ts_us = 1706696430123456LL;
    r->txid = 555, r->tx_order = 3;
    r->pos.lsn = 200, r->pos.last_commit_lsn = 100, r->pos.commit_lsn = 300;
}

static void test_envelope_insert(void) {
    sl_dbz_opts o = opts();
    o.key_schemas = o.value_schemas = true;
    sl_table *t = mk_table(true);
    sl_cell after[4] = {txt("1"), txt("a\"b"), txt("5"), nul()};
    sl_record r;
    fill_rec(&r, t, SL_OP_CREATE);
    r.after = after;
    CHECK_STR(enc_key(&o, &r),
              "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}],"
              "\"optional\":false,\"name\":\"srv.public.t.Key\"},\"payload\":{\"id\":1}}");
    CHECK(t->enc_key_schema && strstr(t->enc_key_schema, "srv.public.t.Key"));
    char want[16384];
    snprintf(want, sizeof want,
             "{\"schema\":{\"type\":\"struct\",\"fields\":[" ROW_SCHEMA ",\"field\":\"before\"}," ROW_SCHEMA
             ",\"field\":\"after\"},%s," TX_SCHEMA ",{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},{\"type\":\"int64\",\"optional\":true,"
             "\"field\":\"ts_us\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}],\"optional\":false,"
             "\"name\":\"srv.public.t.Envelope\",\"version\":2},\"payload\":{\"before\":null,\"after\":{\"id\":1,"
             "\"name\":\"a\\\"b\",\"qty\":5,\"doc\":null},\"source\":" SOURCE_PAYLOAD("false", "[\\\"100\\\",\\\"200\\\"]",
                                                                                      "555", "200")
             ",\"transaction\":null,\"op\":\"c\",\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0}}",
             SOURCE_SCHEMA);
    CHECK_STR(enc_value(&o, &r, 3), want);
    CHECK(t->enc_value_schema && strncmp(t->enc_value_schema, "{\"type\":\"struct\"", 16) == 0);
    /* the cached schema is reused verbatim */
    CHECK_STR(enc_value(&o, &r, 3), want);
    /* schemas disabled: bare payloads */
    o.key_schemas = o.value_schemas = false;
    CHECK_STR(enc_key(&o, &r), "{\"id\":1}");
    CHECK_STR(enc_value(&o, &r, 3), "{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\\\"b\",\"qty\":5,\"doc\":null},"
                                    "\"source\":" SOURCE_PAYLOAD("false", "[\\\"100\\\",\\\"200\\\"]", "555", "200")
                                    ",\"transaction\":null,\"op\":\"c\",\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0}");
    /* transaction metadata */
    o.provide_tx = true;
    CHECK_STR(enc_value(&o, &r, 3),
              "{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\\\"b\",\"qty\":5,\"doc\":null},\"source\":" SOURCE_PAYLOAD(
                  "false", "[\\\"100\\\",\\\"200\\\"]", "555", "200") ",\"transaction\":{\"id\":\"555:200\",\"total_order\":3,"
                                                                      "\"data_collection_order\":3},\"op\":\"c\","
                                                                      "\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0}");
    sl_buf scratch;
    sl_buf_init(&scratch);
    CHECK_STR(sl_dbz_topic(&o, &r, &scratch), "srv.public.t");
    t->topic = sl_strdup("routed.topic");
    CHECK_STR(sl_dbz_topic(&o, &r, &scratch), "routed.topic");
    sl_buf_free(&scratch);
    sl_table_unref(t);
}

static void test_envelope_ops(void) {
    sl_dbz_opts o = opts();
    sl_table *t = mk_table(true);
    sl_record r;
    /* snapshot read: no sequence[0], snapshot flag */
    sl_cell row[4] = {txt("7"), txt("x"), txt("1"), txt("d")};
    fill_rec(&r, t, SL_OP_READ);
    r.after = row, r.snapshot = SL_SNAP_LAST, r.pos.last_commit_lsn = 0;
    CHECK_STR(enc_value(&o, &r, 3),
              "{\"before\":null,\"after\":{\"id\":7,\"name\":\"x\",\"qty\":1,\"doc\":\"d\"},\"source\":" SOURCE_PAYLOAD(
                  "last", "[null,\\\"200\\\"]", "555", "200") ",\"transaction\":null,\"op\":\"r\",\"ts_ms\":0,\"ts_us\":0,"
                                                              "\"ts_ns\":0}");
    r.snapshot = SL_SNAP_FIRST;
    CHECK(strstr(enc_value(&o, &r, 3), "\"snapshot\":\"first\"") != NULL);
    /* update with REPLICA IDENTITY DEFAULT: no before; unchanged TOAST stays a placeholder */
    sl_cell upd[4] = {txt("7"), txt("y"), txt("2"), {.flags = SL_CELL_UNCHANGED}};
    fill_rec(&r, t, SL_OP_UPDATE);
    r.after = upd;
    CHECK_STR(enc_value(&o, &r, 3),
              "{\"before\":null,\"after\":{\"id\":7,\"name\":\"y\",\"qty\":2,\"doc\":\"__debezium_unavailable_value\"},"
              "\"source\":" SOURCE_PAYLOAD("false", "[\\\"100\\\",\\\"200\\\"]", "555", "200")
              ",\"transaction\":null,\"op\":\"u\",\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0}");
    /* REPLICA IDENTITY FULL: before present and the unchanged TOAST value is taken from it */
    sl_cell old[4] = {txt("7"), txt("x"), txt("1"), txt("long doc")};
    r.before = old;
    CHECK_STR(enc_value(&o, &r, 3),
              "{\"before\":{\"id\":7,\"name\":\"x\",\"qty\":1,\"doc\":\"long doc\"},\"after\":{\"id\":7,\"name\":\"y\","
              "\"qty\":2,\"doc\":\"long doc\"},\"source\":" SOURCE_PAYLOAD("false", "[\\\"100\\\",\\\"200\\\"]", "555", "200")
              ",\"transaction\":null,\"op\":\"u\",\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0}");
    CHECK_STR(enc_key(&o, &r), "{\"id\":7}");
    /* delete with REPLICA IDENTITY DEFAULT: key columns only; NOT NULL qty gets the fallback 0 */
    sl_cell del[4] = {txt("7"), nul(), nul(), nul()};
    fill_rec(&r, t, SL_OP_DELETE);
    r.before = del;
    CHECK_STR(enc_value(&o, &r, 3),
              "{\"before\":{\"id\":7,\"name\":null,\"qty\":0,\"doc\":null},\"after\":null,\"source\":" SOURCE_PAYLOAD(
                  "false", "[\\\"100\\\",\\\"200\\\"]", "555", "200") ",\"transaction\":null,\"op\":\"d\",\"ts_ms\":0,"
                                                                      "\"ts_us\":0,\"ts_ns\":0}");
    CHECK_STR(enc_key(&o, &r), "{\"id\":7}");
    /* truncate: no key, before/after null */
    fill_rec(&r, t, SL_OP_TRUNCATE);
    CHECK_STR(enc_key(&o, &r), "null");
    CHECK_STR(enc_value(&o, &r, 3),
              "{\"before\":null,\"after\":null,\"source\":" SOURCE_PAYLOAD("false", "[\\\"100\\\",\\\"200\\\"]", "555",
                                                                           "200") ",\"transaction\":null,\"op\":\"t\","
                                                                                  "\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0}");
    o.key_schemas = true;
    CHECK_STR(enc_key(&o, &r), "null");
    o.key_schemas = false;
    /* malformed integer text in a NOT NULL column: null, no crash */
    sl_cell bad[4] = {txt("7"), txt("x"), txt("1x"), nul()};
    fill_rec(&r, t, SL_OP_CREATE);
    r.after = bad, r.txid = 0, r.pos.lsn = 0;
    CHECK(strstr(enc_value(&o, &r, 3), "\"qty\":null") != NULL);
    CHECK(strstr(enc_value(&o, &r, 3), "\"txId\":null,\"lsn\":null") != NULL);
    sl_table_unref(t);

    /* table without a primary key: key is null, value unchanged */
    t = mk_table(false);
    fill_rec(&r, t, SL_OP_CREATE);
    r.after = row;
    CHECK_STR(enc_key(&o, &r), "null");
    o.value_schemas = true;
    const char *v = enc_value(&o, &r, 3);
    CHECK(strstr(v, "\"name\":\"srv.public.t.Envelope\",\"version\":2},\"payload\":{\"before\":null,") != NULL);
    sl_table_unref(t);
}

static void test_message(void) {
    sl_dbz_opts o = opts();
    sl_record r;
    memset(&r, 0, sizeof r);
    r.op = SL_OP_MESSAGE;
    r.ts_us = 1706696430123456LL;
    r.pos.lsn = 200, r.pos.last_commit_lsn = 100;
    r.msg_prefix = "audit";
    r.msg_content = "hello";
    r.msg_len = 5;
    sl_buf scratch;
    sl_buf_init(&scratch);
    CHECK_STR(sl_dbz_topic(&o, &r, &scratch), "srv.message");
    sl_buf_free(&scratch);
    CHECK_STR(enc_key(&o, &r), "{\"prefix\":\"audit\"}");
    CHECK_STR(enc_value(&o, &r, 1),
              "{\"op\":\"m\",\"ts_ms\":0,\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"name\":\"srv\","
              "\"ts_ms\":1706696430123,\"snapshot\":\"false\",\"db\":\"\",\"sequence\":\"[\\\"100\\\",\\\"200\\\"]\","
              "\"ts_us\":1706696430123456,\"ts_ns\":1706696430123456000,\"schema\":\"\",\"table\":\"\",\"txId\":null,"
              "\"lsn\":200,\"xmin\":null,\"origin\":null,\"origin_lsn\":null},\"transaction\":null,\"message\":"
              "{\"prefix\":\"audit\",\"content\":\"aGVsbG8=\"}}");
    o.key_schemas = o.value_schemas = true;
    CHECK_STR(enc_key(&o, &r), "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,"
                               "\"field\":\"prefix\"}],\"optional\":false,\"name\":"
                               "\"io.debezium.connector.postgresql.MessageKey\",\"version\":1},\"payload\":{\"prefix\":"
                               "\"audit\"}}");
    char want[8192];
    snprintf(want, sizeof want,
             "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
             "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},%s,{\"type\":\"struct\",\"fields\":["
             "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},{\"type\":\"int64\",\"optional\":false,"
             "\"field\":\"total_order\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"
             "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"},"
             "{\"type\":\"struct\",\"fields\":[{\"type\":"
             "\"string\",\"optional\":true,\"field\":\"prefix\"},{\"type\":\"bytes\",\"optional\":true,\"field\":"
             "\"content\"}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Message\",\"version\":1,"
             "\"field\":\"message\"}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.MessageValue\","
             "\"version\":1},\"payload\":",
             SOURCE_SCHEMA);
    CHECK(strncmp(enc_value(&o, &r, 1), want, strlen(want)) == 0);
    o.binary_mode = SL_BIN_HEX;
    CHECK(strstr(enc_value(&o, &r, 1), "\"content\":\"68656c6c6f\"}}}") != NULL);
}

/* ------------------------------------------------------------------------
 * MySQL / MariaDB (binlog cells, rowimage.h "Cell forms"). Expected values
 * follow Debezium 2.7's BinlogValueConverters/JdbcValueConverters applied to
 * what its RowDeserializers produce, and the MySQL connector documentation's
 * type mapping tables.
 */

static sl_dbz_opts myopts(void) {
    sl_dbz_opts o = {.connector = "mysql", .dialect = SL_DBZ_MYSQL, .server_name = "srv", .version = "0.1.0"};
    return o;
}

static sl_column mycol(sl_ctype t, const char *type_name) {
    sl_column c = {.name = "c", .type = t, .type_name = (char *)type_name, .typmod = -1, .precision = -1,
                   .scale = -1, .length = -1, .optional = true};
    return c;
}

/* One MySQL cell (data NULL: a NULL cell) of n bytes. */
static const char *mvn(const sl_dbz_opts *o, const sl_column *c, const char *data, size_t n, uint8_t flags) {
    sl_cell v = {.data = data, .len = (uint32_t)n, .flags = data ? flags : SL_CELL_NULL};
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_cell_value(o, c, &v, &b);
    snprintf(res, sizeof res, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    return res;
}
static const char *mv(const sl_dbz_opts *o, const sl_column *c, const char *text) {
    return mvn(o, c, text, text ? strlen(text) : 0, 0);
}
static const char *msch(const sl_dbz_opts *o, const sl_column *c) {
    sl_buf b;
    sl_buf_init(&b);
    sl_dbz_field_schema(o, c, &b);
    snprintf(res, sizeof res, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    return res;
}

static void test_mysql_numbers(void) {
    sl_dbz_opts o = myopts();
    sl_column c = mycol(SL_T_INT16, "TINYINT");
    CHECK_STR(msch(&o, &c), "{\"type\":\"int16\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "-128"), "-128");
    c.is_unsigned = true;
    CHECK_STR(mv(&o, &c, "255"), "255");
    c = mycol(SL_T_INT32, "SMALLINT"), c.is_unsigned = true;
    CHECK_STR(mv(&o, &c, "65535"), "65535");
    /* INT UNSIGNED: int64, never affected by bigint.unsigned.handling.mode */
    c = mycol(SL_T_INT64, "INT"), c.is_unsigned = true;
    CHECK_STR(mv(&o, &c, "4294967295"), "4294967295");
    o.bigint_unsigned_precise = true;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int64\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "4294967295"), "4294967295");
    o.bigint_unsigned_precise = false;
    /* signed BIGINT */
    c = mycol(SL_T_INT64, "BIGINT");
    CHECK_STR(mv(&o, &c, "-9223372036854775808"), "-9223372036854775808");
    /* BIGINT UNSIGNED, long mode: Java long wrap-around above 2^63-1 */
    c.is_unsigned = true;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int64\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "9223372036854775807"), "9223372036854775807");
    CHECK_STR(mv(&o, &c, "9223372036854775808"), "-9223372036854775808");
    CHECK_STR(mv(&o, &c, "18446744073709551615"), "-1");
    CHECK_STR(mv(&o, &c, "18446744073709551616"), "null");
    CHECK_STR(mv(&o, &c, "-1"), "null");
    /* precise mode: Decimal(20, 0), whatever decimal.handling.mode is */
    o.bigint_unsigned_precise = true;
    o.decimal_mode = SL_DEC_DOUBLE;
    CHECK_STR(msch(&o, &c),
              "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\"version\":1,"
              "\"parameters\":{\"scale\":\"0\",\"connect.decimal.precision\":\"20\"},\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "18446744073709551615"), "\"AP//////////\"");
    CHECK_STR(mv(&o, &c, "9223372036854775808"), "\"AIAAAAAAAAAA\"");
    CHECK_STR(mv(&o, &c, "255"), "\"AP8=\"");
    CHECK_STR(mv(&o, &c, "0"), "\"AA==\"");
    c.optional = false;
    CHECK_STR(mv(&o, &c, NULL), "\"AA==\"");
    o = myopts();
    /* the src_type decides when there is no type name: 8 = MYSQL_TYPE_LONGLONG */
    c = mycol(SL_T_INT64, NULL), c.is_unsigned = true, c.src_type = 8;
    o.bigint_unsigned_precise = true;
    CHECK_STR(mv(&o, &c, "1"), "\"AQ==\"");
    o.bigint_unsigned_precise = false;
    /* FLOAT / DOUBLE: Java Float/Double.toString */
    c = mycol(SL_T_FLOAT32, "FLOAT");
    CHECK_STR(msch(&o, &c), "{\"type\":\"float\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "1.5"), "1.5");
    CHECK_STR(mv(&o, &c, "-2.25E-10"), "-2.25E-10");
    c = mycol(SL_T_FLOAT64, "DOUBLE");
    CHECK_STR(mv(&o, &c, "3.141592653589793"), "3.141592653589793");
    CHECK_STR(mv(&o, &c, "1E20"), "1.0E20");
    CHECK_STR(mv(&o, &c, "100"), "100.0");
    /* DECIMAL(10,2) */
    c = mycol(SL_T_NUMERIC, "DECIMAL"), c.precision = 10, c.scale = 2;
    CHECK_STR(msch(&o, &c),
              "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\"version\":1,"
              "\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"10\"},\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "-123.45"), "\"z8c=\"");
    CHECK_STR(mv(&o, &c, "0.00"), "\"AA==\"");
    o.decimal_mode = SL_DEC_STRING;
    CHECK_STR(msch(&o, &c), "{\"type\":\"string\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "-123.45"), "\"-123.45\"");
    o.decimal_mode = SL_DEC_DOUBLE;
    CHECK_STR(msch(&o, &c), "{\"type\":\"double\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "-123.45"), "-123.45");
    CHECK_STR(mv(&o, &c, "10.00"), "10.0");
}

static void test_mysql_temporal(void) {
    sl_dbz_opts o = myopts();
    /* DATE */
    sl_column c = mycol(SL_T_DATE, "DATE");
    CHECK_STR(msch(&o, &c),
              "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Date\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "2024-01-31"), "19753");
    CHECK_STR(mv(&o, &c, "1000-01-01"), "-354285");
    CHECK_STR(mv(&o, &c, "0000-00-00"), "null");     /* zero date: null */
    CHECK_STR(mv(&o, &c, "2018-00-05"), "null");     /* zero month */
    CHECK_STR(mv(&o, &c, "2018-04-00"), "null");     /* zero day */
    CHECK_STR(mv(&o, &c, "0069-01-01"), "36160");    /* time adjuster: 2069-01-01 */
    CHECK_STR(mv(&o, &c, "0070-06-15"), "165");      /* time adjuster: 1970-06-15 */
    CHECK_STR(mv(&o, &c, "2023-02-29"), "null");     /* not a date */
    CHECK_STR(mv(&o, &c, "2024-01-31x"), "null");
    c.optional = false;
    CHECK_STR(mv(&o, &c, "0000-00-00"), "0");        /* NOT NULL: the epoch fallback */
    CHECK_STR(mv(&o, &c, NULL), "0");
    c.optional = true;
    o.time_mode = SL_TIME_CONNECT;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int32\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Date\","
                            "\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "2024-01-31"), "19753");
    o.time_mode = SL_TIME_ADAPTIVE_MICRO;

    /* TIME: MicroTime whatever the fsp (adaptive_time_microseconds), negative and > 24h included */
    c = mycol(SL_T_TIME, "TIME"), c.scale = 0;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTime\",\"version\":1,"
                            "\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "12:34:56"), "45296000000");
    CHECK_STR(mv(&o, &c, "838:59:59"), "3020399000000");
    CHECK_STR(mv(&o, &c, "-838:59:59"), "-3020399000000");
    CHECK_STR(mv(&o, &c, "00:00:00"), "0");
    c.scale = 6;
    CHECK_STR(mv(&o, &c, "-00:00:01.500000"), "-1500000");
    CHECK_STR(mv(&o, &c, "25:00:00.000001"), "90000000001");
    CHECK_STR(mv(&o, &c, "12:3x:00"), "null");
    o.time_mode = SL_TIME_ADAPTIVE; /* not accepted by Debezium's binlog connectors: treated as adaptive_time_microseconds */
    CHECK_STR(msch(&o, &c), "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTime\",\"version\":1,"
                            "\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "-00:00:01.500000"), "-1500000");
    /* connect: Time (ms); Time.toMilliOfDay rejects negative and > 24:00:00 durations */
    o.time_mode = SL_TIME_CONNECT;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int32\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Time\","
                            "\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "12:34:56.789999"), "45296789");
    CHECK_STR(mv(&o, &c, "24:00:00"), "86400000");
    CHECK_STR(mv(&o, &c, "24:00:00.000001"), "null");
    CHECK_STR(mv(&o, &c, "-01:00:00"), "null");
    o.time_mode = SL_TIME_ADAPTIVE_MICRO;

    /* DATETIME: fsp 0..3 → Timestamp (ms), 4..6 → MicroTimestamp */
    c = mycol(SL_T_TIMESTAMP, "DATETIME"), c.scale = 0;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.Timestamp\",\"version\":1,"
                            "\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "2018-06-20 06:37:03"), "1529476623000");
    CHECK_STR(mv(&o, &c, "0099-12-31 23:59:59"), "946684799000"); /* time adjuster: 1999 */
    CHECK_STR(mv(&o, &c, "0000-00-00 00:00:00"), "null");
    CHECK_STR(mv(&o, &c, "2018-06-20 24:00:00"), "null");
    c.optional = false;
    CHECK_STR(mv(&o, &c, "0000-00-00 00:00:00"), "0");
    c.optional = true;
    c.scale = 3;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.Timestamp\",\"version\":1,"
                            "\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "2018-06-20 06:37:03.123"), "1529476623123");
    CHECK_STR(mv(&o, &c, "1969-12-31 23:59:59.999"), "-1");
    c.scale = 6;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\","
                            "\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "2018-06-20 06:37:03.123456"), "1529476623123456");
    CHECK_STR(mv(&o, &c, "1969-12-31 23:59:59.999999"), "-1");
    o.time_mode = SL_TIME_CONNECT;
    CHECK_STR(msch(&o, &c), "{\"type\":\"int64\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Timestamp\","
                            "\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "2018-06-20 06:37:03.123456"), "1529476623123");
    CHECK_STR(mv(&o, &c, "1969-12-31 23:59:59.999999"), "-1");
    o.time_mode = SL_TIME_ADAPTIVE_MICRO;

    /* TIMESTAMP → ZonedTimestamp in UTC: exactly fsp fraction digits, none for TIMESTAMP(0) */
    c = mycol(SL_T_TIMESTAMPTZ, "TIMESTAMP"), c.scale = 0;
    CHECK_STR(msch(&o, &c), "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\","
                            "\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "2018-06-20 06:37:03+00"), "\"2018-06-20T06:37:03Z\"");
    CHECK_STR(mv(&o, &c, "0000-00-00 00:00:00+00"), "\"1970-01-01T00:00:00Z\""); /* epoch second 0 in the binlog */
    c.scale = 6;
    CHECK_STR(mv(&o, &c, "2018-06-20 06:37:03.000000+00"), "\"2018-06-20T06:37:03.000000Z\"");
    CHECK_STR(mv(&o, &c, "2018-06-20 06:37:03.123450+00"), "\"2018-06-20T06:37:03.123450Z\"");
    CHECK_STR(mv(&o, &c, "0000-00-00 00:00:00.000000+00"), "\"1970-01-01T00:00:00.000000Z\"");
    c.scale = 3;
    CHECK_STR(mv(&o, &c, "2038-01-19 03:14:07.120+00"), "\"2038-01-19T03:14:07.120Z\"");
    c.scale = 0, c.optional = false;
    CHECK_STR(mv(&o, &c, NULL), "\"1970-01-01T00:00:00Z\"");

    /* YEAR: io.debezium.time.Year; the zero year is Year.of(1900 + 0) */
    c = mycol(SL_T_YEAR, "YEAR");
    CHECK_STR(msch(&o, &c),
              "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Year\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "2024"), "2024");
    CHECK_STR(mv(&o, &c, "1901"), "1901");
    CHECK_STR(mv(&o, &c, "2155"), "2155");
    CHECK_STR(mv(&o, &c, "0"), "1900");
    CHECK_STR(mv(&o, &c, "20x4"), "null");
    c.optional = false;
    CHECK_STR(mv(&o, &c, NULL), "0");
}

static void test_mysql_strings(void) {
    sl_dbz_opts o = myopts();
    /* BIT(1) → boolean; BIT(n) → Bits, little-endian, padded to ceil(n/8) bytes */
    sl_column c = mycol(SL_T_BIT, "BIT");
    c.length = 1;
    CHECK_STR(msch(&o, &c), "{\"type\":\"boolean\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "1"), "true");
    CHECK_STR(mv(&o, &c, "0"), "false");
    c.length = 16;
    CHECK_STR(msch(&o, &c), "{\"type\":\"bytes\",\"optional\":true,\"name\":\"io.debezium.data.Bits\",\"version\":1,"
                            "\"parameters\":{\"length\":\"16\"},\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "0000000100000010"), "\"AgE=\"");
    c.length = 10;
    CHECK_STR(mv(&o, &c, "1000000001"), "\"AQI=\"");
    CHECK_STR(mv(&o, &c, "0000000000"), "\"AAA=\"");
    c.length = 12;
    CHECK_STR(mv(&o, &c, "000000000001"), "\"AQA=\"");
    c.length = 64;
    CHECK_STR(mv(&o, &c, "1000000000000000000000000000000000000000000000000000000000000000"), "\"AAAAAAAAAIA=\"");
    c.optional = false;
    CHECK_STR(mv(&o, &c, NULL), "\"\"");
    /* ENUM / SET */
    c = mycol(SL_T_ENUM, "ENUM"), c.enum_values = (char *)"small,medium,large";
    CHECK_STR(msch(&o, &c), "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"
                            "\"parameters\":{\"allowed\":\"small,medium,large\"},\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "medium"), "\"medium\"");
    CHECK_STR(mv(&o, &c, ""), "\"\"");
    c = mycol(SL_T_SET, "SET"), c.enum_values = (char *)"a,b,c";
    CHECK_STR(msch(&o, &c), "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.EnumSet\",\"version\":1,"
                            "\"parameters\":{\"allowed\":\"a,b,c\"},\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "a,c"), "\"a,c\"");
    CHECK_STR(mv(&o, &c, ""), "\"\"");
    c.optional = false;
    CHECK_STR(mv(&o, &c, NULL), "\"\"");
    /* text */
    c = mycol(SL_T_STRING, "VARCHAR");
    CHECK_STR(msch(&o, &c), "{\"type\":\"string\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "h\xc3\xa9llo \"q\""), "\"h\xc3\xa9llo \\\"q\\\"\"");
    /* JSON */
    c = mycol(SL_T_JSON, "JSON");
    CHECK_STR(msch(&o, &c),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &c, "{\"a\": [1, 2]}"), "\"{\\\"a\\\": [1, 2]}\"");
    CHECK_STR(mv(&o, &c, ""), "null"); /* empty binary JSON */
    c.optional = false;
    CHECK_STR(mv(&o, &c, ""), "\"{}\"");
    CHECK_STR(mv(&o, &c, NULL), "\"{}\"");
    /* binary strings: raw bytes with embedded NULs, every binary.handling.mode */
    c = mycol(SL_T_BYTES, "BLOB"), c.repr = SL_REPR_RAW;
    CHECK_STR(msch(&o, &c), "{\"type\":\"bytes\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mvn(&o, &c, "a\0b\0", 4, 0), "\"YQBiAA==\"");
    CHECK_STR(mvn(&o, &c, "\0", 1, 0), "\"AA==\"");
    CHECK_STR(mvn(&o, &c, "", 0, 0), "\"\"");
    CHECK_STR(mvn(&o, &c, "\\x01", 4, 0), "\"XHgwMQ==\""); /* raw means raw: no bytea decoding */
    o.binary_mode = SL_BIN_BASE64;
    CHECK_STR(msch(&o, &c), "{\"type\":\"string\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mvn(&o, &c, "a\0b\0", 4, 0), "\"YQBiAA==\"");
    o.binary_mode = SL_BIN_BASE64_URL;
    CHECK_STR(mvn(&o, &c, "\xfb\xff", 2, 0), "\"-_8=\"");
    o.binary_mode = SL_BIN_HEX;
    CHECK_STR(mvn(&o, &c, "a\0b\0", 4, 0), "\"61006200\"");
    o.binary_mode = SL_BIN_BYTES;
    /* BINARY(n): right-padded with 0x00 to n bytes (DBZ-254); VARBINARY is not */
    c = mycol(SL_T_BYTES, "BINARY"), c.repr = SL_REPR_RAW, c.length = 4;
    CHECK_STR(mvn(&o, &c, "ab", 2, 0), "\"YWIAAA==\"");
    c.type_name = (char *)"VARBINARY";
    CHECK_STR(mvn(&o, &c, "ab", 2, 0), "\"YWI=\"");
}

static void test_mysql_geometry(void) {
    sl_dbz_opts o = myopts();
    /* POINT(1 1) WKB, SRID 0 (→ null) and 4326 */
    static const char pt[] = "\0\0\0\0\x01\x01\0\0\0\0\0\0\0\0\0\xf0\x3f\0\0\0\0\0\0\xf0\x3f";
    static const char pt4326[] = "\xe6\x10\0\0\x01\x01\0\0\0\0\0\0\0\0\0\xf0\x3f\0\0\0\0\0\0\xf0\x3f";
    /* big-endian POINT(2.5 -3) WKB */
    static const char ptbe[] = "\0\0\0\0\x00\0\0\0\x01\x40\x04\0\0\0\0\0\0\xc0\x08\0\0\0\0\0\0";
    sl_column c = mycol(SL_T_GEOMETRY, "GEOMETRY");
    c.repr = SL_REPR_RAW;
    const char *geom_schema =
        "{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"optional\":false,\"field\":\"wkb\"},{\"type\":\"int32\","
        "\"optional\":true,\"field\":\"srid\"}],\"optional\":true,\"name\":\"io.debezium.data.geometry.Geometry\","
        "\"version\":1,\"doc\":\"Geometry\",\"field\":\"c\"}";
    CHECK_STR(msch(&o, &c), geom_schema);
    c.optional = false; /* Geometry.builder() is optional itself */
    CHECK_STR(msch(&o, &c), geom_schema);
    CHECK_STR(mv(&o, &c, NULL), "{\"wkb\":\"AQcAAAAAAAAA\",\"srid\":null}");
    c.optional = true;
    CHECK_STR(mvn(&o, &c, pt, 25, 0), "{\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAPA/\",\"srid\":null}");
    CHECK_STR(mvn(&o, &c, pt4326, 25, 0), "{\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAPA/\",\"srid\":4326}");
    CHECK_STR(mvn(&o, &c, pt, 3, 0), "null");
    o.binary_mode = SL_BIN_HEX; /* wkb is a Connect BYTES field, not a binary column */
    CHECK_STR(mvn(&o, &c, pt, 25, 0), "{\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAPA/\",\"srid\":null}");
    o.binary_mode = SL_BIN_BYTES;
    CHECK_STR(mvn(&o, &c, NULL, 0, 0), "null");
    /* POINT columns: io.debezium.data.geometry.Point with x and y */
    c.type_name = (char *)"POINT";
    CHECK_STR(msch(&o, &c),
              "{\"type\":\"struct\",\"fields\":[{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},{\"type\":"
              "\"double\",\"optional\":false,\"field\":\"y\"},{\"type\":\"bytes\",\"optional\":true,\"field\":\"wkb\"},"
              "{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\"optional\":true,\"name\":"
              "\"io.debezium.data.geometry.Point\",\"version\":1,\"doc\":\"Geometry (POINT)\",\"field\":\"c\"}");
    CHECK_STR(mvn(&o, &c, pt4326, 25, 0),
              "{\"x\":1.0,\"y\":1.0,\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAPA/\",\"srid\":4326}");
    CHECK_STR(mvn(&o, &c, ptbe, 25, 0), "{\"x\":2.5,\"y\":-3.0,\"wkb\":\"AAAAAAFABAAAAAAAAMAIAAAAAAAA\",\"srid\":null}");
    CHECK_STR(mvn(&o, &c, pt, 24, 0), "null"); /* not a 2D point WKB */
}

#define MY_ROW_SCHEMA                                                                                         \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},{\"type\":"  \
    "\"string\",\"optional\":true,\"field\":\"name\"},{\"type\":\"int64\",\"optional\":false,\"field\":"    \
    "\"qty\"}],\"optional\":true,\"name\":\"srv.inventory.customers.Value\""

#define MY_SOURCE_SCHEMA(module)                                                                             \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"       \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},{\"type\":\"string\",\"optional\":"    \
    "false,\"field\":\"name\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},{\"type\":"       \
    "\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":"          \
    "{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},"   \
    "\"default\":\"false\",\"field\":\"snapshot\"},{\"type\":"                                                 \
    "\"string\",\"optional\":false,\"field\":\"db\"},{\"type\":\"string\",\"optional\":true,\"field\":"      \
    "\"sequence\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},{\"type\":\"int64\","          \
    "\"optional\":true,\"field\":\"ts_ns\"},{\"type\":\"string\",\"optional\":true,\"field\":\"table\"},"    \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"server_id\"},{\"type\":\"string\",\"optional\":"     \
    "true,\"field\":\"gtid\"},{\"type\":\"string\",\"optional\":false,\"field\":\"file\"},{\"type\":"        \
    "\"int64\",\"optional\":false,\"field\":\"pos\"},{\"type\":\"int32\",\"optional\":false,\"field\":"      \
    "\"row\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"thread\"},{\"type\":\"string\","             \
    "\"optional\":true,\"field\":\"query\"}],\"optional\":false,\"name\":\"io.debezium.connector." module    \
    ".Source\",\"version\":1,\"field\":\"source\"}"

static sl_table *mk_my_table(void) {
    sl_table *t = sl_table_new("inventory", "inventory", "customers", 3);
    const char *names[] = {"id", "name", "qty"};
    sl_ctype types[] = {SL_T_INT32, SL_T_STRING, SL_T_INT64};
    const char *tn[] = {"INT", "VARCHAR", "BIGINT"};
    for (int i = 0; i < 3; i++) {
        sl_column *c = &t->cols[i];
        c->name = sl_strdup(names[i]);
        c->type = types[i];
        c->type_name = sl_strdup(tn[i]);
        c->precision = c->scale = c->length = c->typmod = -1;
        c->optional = i == 1;
    }
    t->cols[2].is_unsigned = true;
    t->cols[0].key = true;
    t->nkeys = 1;
    return t;
}

static void fill_my_rec(sl_record *r, sl_table *t, sl_op op) {
    memset(r, 0, sizeof *r);
    r->op = op, r->table = t;
    r->ts_us = 1706696430000000LL;
    r->tx_order = 2;
    r->pos.file = "mysql-bin.000003";
    r->pos.file_pos = 154;
    r->pos.server_id = 223344;
    r->pos.row = 1;
    r->pos.thread = 7;
}

static void test_mysql_envelope(void) {
    sl_dbz_opts o = myopts();
    o.key_schemas = o.value_schemas = true;
    sl_table *t = mk_my_table();
    sl_cell after[3] = {txt("1001"), txt("Sally"), txt("18446744073709551615")};
    sl_record r;
    fill_my_rec(&r, t, SL_OP_CREATE);
    r.after = after;
    CHECK_STR(enc_key(&o, &r),
              "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}],"
              "\"optional\":false,\"name\":\"srv.inventory.customers.Key\"},\"payload\":{\"id\":1001}}");
    const char *src = "{\"version\":\"0.1.0\",\"connector\":\"mysql\",\"name\":\"srv\",\"ts_ms\":1706696430000,"
                      "\"snapshot\":\"false\",\"db\":\"inventory\",\"sequence\":null,\"ts_us\":1706696430000000,"
                      "\"ts_ns\":1706696430000000000,\"table\":\"customers\",\"server_id\":223344,\"gtid\":null,"
                      "\"file\":\"mysql-bin.000003\",\"pos\":154,\"row\":1,\"thread\":7,\"query\":null}";
    char want[16384];
    snprintf(want, sizeof want,
             "{\"schema\":{\"type\":\"struct\",\"fields\":[" MY_ROW_SCHEMA ",\"field\":\"before\"}," MY_ROW_SCHEMA
             ",\"field\":\"after\"}," MY_SOURCE_SCHEMA("mysql") "," TX_SCHEMA ",{\"type\":\"string\",\"optional\":"
             "false,\"field\":\"op\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},{\"type\":\"int64\","
             "\"optional\":true,\"field\":\"ts_us\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}],"
             "\"optional\":false,\"name\":\"srv.inventory.customers.Envelope\",\"version\":2},\"payload\":{\"before\":"
             "null,\"after\":{\"id\":1001,\"name\":\"Sally\",\"qty\":-1},\"source\":%s,\"transaction\":null,\"op\":"
             "\"c\",\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0}}",
             src);
    CHECK_STR(enc_value(&o, &r, 3), want);
    sl_buf scratch;
    sl_buf_init(&scratch);
    CHECK_STR(sl_dbz_topic(&o, &r, &scratch), "srv.inventory.customers");
    sl_buf_free(&scratch);

    /* transaction metadata: id is "file=<file>,pos=<pos>" without GTIDs, else the GTID */
    o.key_schemas = o.value_schemas = false;
    o.provide_tx = true;
    CHECK(strstr(enc_value(&o, &r, 3), ",\"transaction\":{\"id\":\"file=mysql-bin.000003,pos=154\",\"total_order\":2,"
                                       "\"data_collection_order\":2},\"op\":\"c\"") != NULL);
    r.pos.gtid = "3e11fa47-71ca-11e1-9e33-c80aa9429562:23";
    CHECK(strstr(enc_value(&o, &r, 3), ",\"gtid\":\"3e11fa47-71ca-11e1-9e33-c80aa9429562:23\",") != NULL);
    CHECK(strstr(enc_value(&o, &r, 3), ",\"transaction\":{\"id\":\"3e11fa47-71ca-11e1-9e33-c80aa9429562:23\","
                                       "\"total_order\":2,") != NULL);
    /* snapshot reads: no transaction, snapshot flag as for PostgreSQL */
    fill_my_rec(&r, t, SL_OP_READ);
    r.after = after, r.snapshot = SL_SNAP_LAST, r.pos.thread = 0, r.pos.row = 0;
    const char *v = enc_value(&o, &r, 3);
    CHECK(strstr(v, "\"snapshot\":\"last\",\"db\":\"inventory\",\"sequence\":null,") != NULL);
    CHECK(strstr(v, "\"row\":0,\"thread\":null,\"query\":null},\"transaction\":null,\"op\":\"r\"") != NULL);
    o.provide_tx = false;

    /* bigint.unsigned.handling.mode=precise changes the qty field */
    o.bigint_unsigned_precise = true;
    fill_my_rec(&r, t, SL_OP_CREATE);
    r.after = after;
    CHECK(strstr(enc_value(&o, &r, 3), "\"after\":{\"id\":1001,\"name\":\"Sally\",\"qty\":\"AP//////////\"}") != NULL);
    o.bigint_unsigned_precise = false;

    /* update with a MINIMAL after image: absent columns are null (fallback when NOT NULL), never merged */
    sl_cell old[3] = {txt("1001"), txt("Sally"), txt("5")};
    sl_cell upd[3] = {txt("1001"), {.flags = SL_CELL_UNCHANGED}, {.flags = SL_CELL_UNCHANGED}};
    fill_my_rec(&r, t, SL_OP_UPDATE);
    r.before = old, r.after = upd;
    CHECK(strstr(enc_value(&o, &r, 3), "{\"before\":{\"id\":1001,\"name\":\"Sally\",\"qty\":5},\"after\":{\"id\":1001,"
                                       "\"name\":null,\"qty\":0},\"source\":") != NULL);
    /* delete */
    fill_my_rec(&r, t, SL_OP_DELETE);
    r.before = old;
    CHECK_STR(enc_key(&o, &r), "{\"id\":1001}");
    static const char del_head[] = "{\"before\":{\"id\":1001,\"name\":\"Sally\",\"qty\":5},\"after\":null,";
    CHECK(strncmp(enc_value(&o, &r, 3), del_head, sizeof del_head - 1) == 0);
    sl_table_unref(t);

    /* MariaDB: its own Source schema name and connector; GTID domain-server-seq, the annotated query */
    o = myopts();
    o.connector = "mariadb", o.dialect = SL_DBZ_MARIADB;
    o.value_schemas = true;
    t = mk_my_table();
    fill_my_rec(&r, t, SL_OP_CREATE);
    r.after = after;
    r.pos.gtid = "0-1-37", r.pos.thread = 0, r.pos.file = "mariadb-bin.000002", r.pos.file_pos = 16043, r.pos.row = 0;
    r.pos.query = "INSERT INTO customers VALUES (1001, \"Sally\", 18446744073709551615)";
    v = enc_value(&o, &r, 3);
    CHECK(strstr(v, "\"optional\":false,\"field\":\"op\"}") != NULL);
    CHECK(strstr(v, "," MY_SOURCE_SCHEMA("mariadb") ",") != NULL);
    CHECK(strstr(v, "\"source\":{\"version\":\"0.1.0\",\"connector\":\"mariadb\",\"name\":\"srv\",\"ts_ms\":1706696430000,"
                    "\"snapshot\":\"false\",\"db\":\"inventory\",\"sequence\":null,\"ts_us\":1706696430000000,"
                    "\"ts_ns\":1706696430000000000,\"table\":\"customers\",\"server_id\":223344,\"gtid\":\"0-1-37\","
                    "\"file\":\"mariadb-bin.000002\",\"pos\":16043,\"row\":0,\"thread\":null,\"query\":\"INSERT INTO "
                    "customers VALUES (1001, \\\"Sally\\\", 18446744073709551615)\"},\"transaction\":null,") != NULL);
    sl_table_unref(t);
}

/* True when value is what the Connect schema (JsonConverter form) describes: every struct field present, no
 * others, nulls only where optional, arrays of their items, the primitive JSON types. */
static bool conforms(json_t *schema, json_t *value, const char *where) {
    const char *type = json_string_value(json_object_get(schema, "type"));
    bool ok = true;
    if (json_is_null(value)) ok = json_is_true(json_object_get(schema, "optional"));
    else if (!type) ok = false;
    else if (!strcmp(type, "struct")) {
        json_t *fields = json_object_get(schema, "fields"), *f;
        size_t i;
        ok = json_is_object(value) && json_object_size(value) == json_array_size(fields);
        json_array_foreach(fields, i, f) {
            const char *name = json_string_value(json_object_get(f, "field"));
            json_t *v = name ? json_object_get(value, name) : NULL;
            if (!v || !conforms(f, v, name)) ok = false;
        }
    } else if (!strcmp(type, "array")) {
        json_t *items = json_object_get(schema, "items"), *e;
        size_t i;
        ok = json_is_array(value);
        json_array_foreach(value, i, e) if (!conforms(items, e, where)) ok = false;
    } else if (!strcmp(type, "string")) ok = json_is_string(value);
    else if (!strcmp(type, "int32") || !strcmp(type, "int64")) ok = json_is_integer(value);
    else if (!strcmp(type, "boolean")) ok = json_is_boolean(value);
    else ok = false;
    if (!ok) fprintf(stderr, "does not conform at %s\n", where);
    return ok;
}

/* Schema change events (op S): key/value shapes, topic, the payload conforming to its own schema. */
static void test_schema_change(void) {
    sl_dbz_opts o = myopts();
    o.connector = "mariadb", o.dialect = SL_DBZ_MARIADB;
    o.key_schemas = o.value_schemas = true;
    static const char changes[] =
        "[{\"type\":\"ALTER\",\"id\":\"\\\"inventory\\\".\\\"customers\\\"\",\"table\":{\"defaultCharsetName\":"
        "\"utf8mb4\",\"primaryKeyColumnNames\":[\"id\"],\"columns\":[{\"name\":\"id\",\"jdbcType\":4,\"nativeType\":"
        "null,\"typeName\":\"INT\",\"typeExpression\":\"INT\",\"charsetName\":null,\"length\":11,\"scale\":null,"
        "\"position\":1,\"optional\":false,\"autoIncremented\":true,\"generated\":true,\"comment\":null,"
        "\"defaultValueExpression\":null,\"enumValues\":null},{\"name\":\"e\",\"jdbcType\":1,\"nativeType\":null,"
        "\"typeName\":\"ENUM\",\"typeExpression\":\"ENUM\",\"charsetName\":\"utf8mb4\",\"length\":null,\"scale\":null,"
        "\"position\":2,\"optional\":true,\"autoIncremented\":false,\"generated\":false,\"comment\":\"c\","
        "\"defaultValueExpression\":\"a\",\"enumValues\":[\"a\",\"b\"]}],\"comment\":null}},"
        "{\"type\":\"DROP\",\"id\":\"\\\"inventory\\\".\\\"old\\\"\",\"table\":null}]";
    sl_schema_change sc = {"inventory", "customers,old", "ALTER TABLE customers ADD e ENUM('a','b')", changes};
    sl_record r;
    fill_my_rec(&r, NULL, SL_OP_SCHEMA);
    r.schema_change = &sc;
    r.pos.gtid = "0-1-42", r.pos.row = 0, r.pos.thread = 0;
    CHECK_STR(enc_key(&o, &r), "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,"
                               "\"field\":\"databaseName\"}],\"optional\":false,\"name\":"
                               "\"io.debezium.connector.mariadb.SchemaChangeKey\",\"version\":1},\"payload\":"
                               "{\"databaseName\":\"inventory\"}}");
    sl_buf b, scratch;
    sl_buf_init(&b), sl_buf_init(&scratch);
    sl_dbz_value(&o, &r, &b);
    json_error_t err;
    json_t *v = json_loads(sl_buf_cstr(&b), 0, &err);
    CHECK(v != NULL);
    json_t *schema = json_object_get(v, "schema"), *pl = json_object_get(v, "payload");
    CHECK_STR(json_string_value(json_object_get(schema, "name")), "io.debezium.connector.mariadb.SchemaChangeValue");
    CHECK(json_integer_value(json_object_get(schema, "version")) == 1);
    CHECK(conforms(schema, pl, "payload"));
    CHECK_STR(json_string_value(json_object_get(pl, "ddl")), "ALTER TABLE customers ADD e ENUM('a','b')");
    CHECK_STR(json_string_value(json_object_get(pl, "databaseName")), "inventory");
    CHECK(json_is_null(json_object_get(pl, "schemaName")));
    CHECK(json_integer_value(json_object_get(pl, "ts_ms")) > 1706696430000LL); /* now; source.ts_ms: the event's */
    CHECK(json_integer_value(json_object_get(json_object_get(pl, "source"), "ts_ms")) == 1706696430000LL);
    json_t *src = json_object_get(pl, "source");
    CHECK_STR(json_string_value(json_object_get(src, "db")), "inventory");
    CHECK_STR(json_string_value(json_object_get(src, "table")), "customers,old");
    CHECK_STR(json_string_value(json_object_get(src, "gtid")), "0-1-42");
    CHECK_STR(json_string_value(json_object_get(src, "connector")), "mariadb");
    CHECK(json_array_size(json_object_get(pl, "tableChanges")) == 2);
    /* a payload that breaks the schema is caught by the check itself */
    json_object_set_new(json_object_get(json_array_get(json_object_get(pl, "tableChanges"), 0), "table"), "extra",
                        json_true());
    CHECK(!conforms(schema, pl, "payload (tampered)"));
    json_decref(v);
    CHECK_STR(sl_dbz_topic(&o, &r, &scratch), "srv");
    /* without schemas: the payloads alone */
    o.key_schemas = o.value_schemas = false;
    CHECK_STR(enc_key(&o, &r), "{\"databaseName\":\"inventory\"}");
    sl_buf_reset(&b);
    sl_dbz_value(&o, &r, &b);
    CHECK(strncmp(sl_buf_cstr(&b), "{\"source\":{\"version\":\"0.1.0\",\"connector\":\"mariadb\"", 45) == 0);
    sl_buf_free(&b), sl_buf_free(&scratch);
}

/*
 * Debezium 3.x (3.6.1 PostgreSQL, 3.5 MariaDB) parity. Expected values come
 * from Debezium's sources: Point.builder()/createValue (21-byte little-endian
 * WKB, srid unset), PostgresValueConverter (hstore through pgjdbc's
 * HStoreConverter HashMap and Jackson, Ltree / TsVector names, infinity
 * constants), PostgresSourceInfoStructMaker, SnapshotRecord,
 * PostgresTransactionMonitor.adjustTxId, TransactionContext.event,
 * LogicalDecodingMessageMonitor, MariaDB's JSON as LONGTEXT.
 */
static sl_column pgcol(const char *type_name) {
    sl_column c = {.name = "c", .type = SL_T_STRING, .type_name = (char *)type_name, .typmod = -1,
                   .precision = -1, .scale = -1, .length = -1, .optional = true};
    return c;
}

static void test_dbz3_types(void) {
    sl_dbz_opts o = opts();
    /* point */
    CHECK_STR(sch(&o, 600, -1, true),
              "{\"type\":\"struct\",\"fields\":[{\"type\":\"double\",\"optional\":false,\"field\":\"x\"},"
              "{\"type\":\"double\",\"optional\":false,\"field\":\"y\"},{\"type\":\"bytes\",\"optional\":true,"
              "\"field\":\"wkb\"},{\"type\":\"int32\",\"optional\":true,\"field\":\"srid\"}],\"optional\":true,"
              "\"name\":\"io.debezium.data.geometry.Point\",\"version\":1,\"doc\":\"Geometry (POINT)\",\"field\":\"c\"}");
    CHECK_STR(val(&o, 600, -1, "(1,2)"), "{\"x\":1.0,\"y\":2.0,\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAABA\",\"srid\":null}");
    CHECK_STR(val(&o, 600, -1, "(-1.5,2.25e-10)"),
              "{\"x\":-1.5,\"y\":2.25E-10,\"wkb\":\"AQEAAAAAAAAAAAD4v3K1EtV77O49\",\"srid\":null}");
    CHECK_STR(valx(&o, 600, -1, false, NULL, 0), /* Point.createValue(schema, 0, 0) */
              "{\"x\":0.0,\"y\":0.0,\"wkb\":\"AQEAAAAAAAAAAAAAAAAAAAAAAAAA\",\"srid\":null}");
    CHECK_STR(val(&o, 600, -1, "(1;2)"), "null");
    /* point[]: left out of the row, as Debezium 3.6.1 does */
    CHECK_STR(sch(&o, 1017, -1, true), "");
    CHECK_STR(val(&o, 1017, -1, "{\"(1,2)\",NULL}"), "null");
    /* tsvector, ltree */
    CHECK_STR(sch(&o, 3614, -1, true),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Tsvector\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(val(&o, 3614, -1, "'a' 'fat':2"), "\"'a' 'fat':2\"");
    sl_column lt = pgcol("ltree");
    CHECK_STR(msch(&o, &lt),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Ltree\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &lt, "Top.Science"), "\"Top.Science\"");
    sl_column lta = pgcol("_ltree"); /* ltree[]: array(Ltree.builder().optional()) */
    lta.type = SL_T_ARRAY, lta.elem = SL_T_STRING;
    CHECK_STR(msch(&o, &lta), "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true,\"name\":"
                              "\"io.debezium.data.Ltree\",\"version\":1},\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &lta, "{A.B,C}"), "[\"A.B\",\"C\"]");
    sl_column hsa = pgcol("_hstore"); /* hstore[]: array(hstoreSchema().optional()) */
    hsa.type = SL_T_ARRAY, hsa.elem = SL_T_STRING;
    CHECK_STR(msch(&o, &hsa), "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true,\"name\":"
                              "\"io.debezium.data.Json\",\"version\":1},\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &hsa, "{\"\\\"x\\\"=>\\\"1\\\"\",NULL}"), "[\"{\\\"x\\\":\\\"1\\\"}\",null]");
    o.hstore_map = true;
    CHECK_STR(mv(&o, &hsa, "{\"\\\"x\\\"=>\\\"1\\\"\",NULL}"), "[{\"x\":\"1\"},null]");
    o.hstore_map = false;
    /* hstore: json mode (default) */
    sl_column hs = pgcol("hstore");
    CHECK_STR(msch(&o, &hs),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &hs, "\"k1\"=>\"v1\", \"k2\"=>NULL"), "\"{\\\"k1\\\":\\\"v1\\\",\\\"k2\\\":null}\"");
    /* PostgreSQL's order (shorter keys first) is not the HashMap's: "aa" is bucket 0, "z" bucket 10 */
    CHECK_STR(mv(&o, &hs, "\"z\"=>\"1\", \"aa\"=>\"a\\\"b\\\\c\""), "\"{\\\"aa\\\":\\\"a\\\\\\\"b\\\\\\\\c\\\",\\\"z\\\":\\\"1\\\"}\"");
    CHECK_STR(mv(&o, &hs, ""), "\"{}\"");
    hs.optional = false;
    CHECK_STR(mv(&o, &hs, NULL), "\"{}\"");
    hs.optional = true;
    /* map mode */
    o.hstore_map = true;
    CHECK_STR(msch(&o, &hs), "{\"type\":\"map\",\"keys\":{\"type\":\"string\",\"optional\":false},\"values\":"
                             "{\"type\":\"string\",\"optional\":true},\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&o, &hs, "\"k1\"=>\"v1\", \"k2\"=>NULL"), "{\"k1\":\"v1\",\"k2\":null}");
    hs.optional = false;
    CHECK_STR(mv(&o, &hs, NULL), "{}");
    o.hstore_map = false;
    /* infinity: DateTimeFormat.date → LocalDate -5877611-06-21 / -22; timestamps: PGStatement's
     * DATE_POSITIVE/NEGATIVE_INFINITY read as micros; timestamptz: the "infinity" strings */
    CHECK_STR(val(&o, 1082, -1, "infinity"), "-2147472692");
    CHECK_STR(val(&o, 1082, -1, "-infinity"), "-2147472691");
    /* the snapshot reads java.sql.Date(PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY) over JDBC */
    o.snapshot_read = true;
    CHECK_STR(val(&o, 1082, -1, "infinity"), "-622191234");
    CHECK_STR(val(&o, 1082, -1, "-infinity"), "-625821272");
    CHECK_STR(val(&o, 1082, -1, "2024-02-29"), "19782");
    o.snapshot_read = false;
    CHECK_STR(val(&o, 1114, -1, "infinity"), "9223372036825200000");
    CHECK_STR(val(&o, 1114, 3, "-infinity"), "-9223372036832400");
    CHECK_STR(val(&o, 1184, -1, "-infinity"), "\"-infinity\"");
    /* MariaDB JSON: LONGTEXT for Debezium's MariaDB connector, io.debezium.data.Json for MySQL */
    sl_dbz_opts mo = myopts();
    sl_column j = mycol(SL_T_JSON, "longtext");
    CHECK_STR(msch(&mo, &j),
              "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"version\":1,\"field\":\"c\"}");
    mo.connector = "mariadb", mo.dialect = SL_DBZ_MARIADB;
    CHECK_STR(msch(&mo, &j), "{\"type\":\"string\",\"optional\":true,\"field\":\"c\"}");
    CHECK_STR(mv(&mo, &j, "{\"a\": 1}"), "\"{\\\"a\\\": 1}\"");
    CHECK_STR(mv(&mo, &j, ""), "\"\"");
    j.optional = false;
    CHECK_STR(mv(&mo, &j, NULL), "\"\"");
}

static void test_java_hashmap(void) {
    CHECK(sl_java_string_hash("hello", 5) == 99162322);
    CHECK(sl_java_string_hash("\xf0\x9f\x98\x80", 4) == 1772899); /* U+1F600: a surrogate pair */
    const char *k[] = {"z", "aa", "k2", "k1"};
    size_t l[] = {1, 2, 2, 2};
    int ord[4];
    sl_java_hashmap_order(k, l, 4, ord);
    CHECK(ord[0] == 1 && ord[1] == 3 && ord[2] == 2 && ord[3] == 0); /* buckets aa 0, k1 6, k2 7, z 10 */
}

static void test_dbz3_envelope(void) {
    sl_dbz_opts o = opts();
    o.provide_tx = true;
    sl_table *t = mk_table(true);
    sl_cell after[4] = {txt("1"), txt("x"), txt("5"), nul()};
    sl_record r;
    fill_rec(&r, t, SL_OP_CREATE);
    r.after = after;
    r.tx_coll_order = 1;
    r.pos.origin = "sub1", r.pos.origin_lsn = 4242;
    const char *v = enc_value(&o, &r, 1);
    CHECK(strstr(v, "\"xmin\":null,\"origin\":\"sub1\",\"origin_lsn\":4242},\"transaction\":{\"id\":\"555:200\","
                    "\"total_order\":3,\"data_collection_order\":1},") != NULL);
    r.pos.origin = NULL;
    /* a snapshot read has the snapshot transaction's txId but no transaction block */
    r.op = SL_OP_READ, r.snapshot = SL_SNAP_TRUE;
    v = enc_value(&o, &r, 1);
    CHECK(strstr(v, "\"txId\":555,") != NULL && strstr(v, "\"transaction\":null,") != NULL);
    static const char *snaps[] = {"first_in_data_collection", "last_in_data_collection"};
    r.op = SL_OP_READ, r.txid = 0;
    for (int i = 0; i < 2; i++) {
        r.snapshot = i ? SL_SNAP_LAST_IN_DC : SL_SNAP_FIRST_IN_DC;
        char want[128];
        snprintf(want, sizeof want, "\"snapshot\":\"%s\"", snaps[i]);
        CHECK(strstr(enc_value(&o, &r, 1), want) != NULL);
    }
    /* BEGIN / END ids carry the record's LSN too */
    sl_record b;
    memset(&b, 0, sizeof b);
    b.op = SL_OP_TX_END, b.txid = 555, b.pos.lsn = 777, b.tx_events = 2;
    b.tx_collections = "[{\"data_collection\":\"public.t\",\"event_count\":2}]";
    CHECK_STR(enc_key(&o, &b), "{\"id\":\"555:777\"}");
    CHECK(strncmp(enc_value(&o, &b, 1), "{\"status\":\"END\",\"id\":\"555:777\",\"event_count\":2,", 46) == 0);
    /* a transactional message has its transaction block; a non-transactional one none */
    sl_record m;
    memset(&m, 0, sizeof m);
    m.op = SL_OP_MESSAGE, m.txid = 555, m.tx_order = 2, m.tx_coll_order = 1, m.pos.lsn = 300;
    m.msg_prefix = "p", m.msg_content = "x", m.msg_len = 1, m.msg_transactional = true;
    CHECK(strstr(enc_value(&o, &m, 1), "},\"transaction\":{\"id\":\"555:300\",\"total_order\":2,"
                                        "\"data_collection_order\":1},\"message\":") != NULL);
    m.txid = 0, m.msg_transactional = false;
    CHECK(strstr(enc_value(&o, &m, 1), "},\"transaction\":null,\"message\":") != NULL);
    sl_table_unref(t);
}

/* TransactionContext: per-table order; END lists the HashMap's order. */
static void test_txmon_order(void) {
    sl_txmon m = {0};
    sl_batch *b = sl_batch_new();
    sl_table *ta = sl_table_new("db", "public", "a", 0), *tb = sl_table_new("db", "public", "b", 0);
    CHECK(sl_txmon_begin(&m, b) != NULL);
    CHECK(sl_txmon_event(&m, b, tb) == NULL && m.coll_order == 1);
    CHECK(sl_txmon_event(&m, b, ta) == NULL && m.coll_order == 1); /* a multi-table TRUNCATE: 1 each */
    CHECK(sl_txmon_event(&m, b, tb) == NULL && m.coll_order == 2);
    CHECK(sl_txmon_event_coll(&m, b, NULL, "LOGICAL_DECODING_MESSAGE") == NULL && m.coll_order == 1);
    sl_record *end = sl_txmon_commit(&m, b);
    CHECK(end && end->tx_events == 4);
    /* buckets: public.a 6, public.b 7, LOGICAL_DECODING_MESSAGE 12 */
    CHECK_STR(end ? end->tx_collections : NULL,
              "[{\"data_collection\":\"public.a\",\"event_count\":1},{\"data_collection\":\"public.b\",\"event_count\":2},"
              "{\"data_collection\":\"LOGICAL_DECODING_MESSAGE\",\"event_count\":1}]");
    /* a transaction without captured events still ends (BEGIN came with the BEGIN message) */
    sl_txmon_begin(&m, b);
    end = sl_txmon_commit(&m, b);
    CHECK(end && end->tx_events == 0);
    CHECK_STR(end ? end->tx_collections : NULL, "[]");
    sl_txmon_free(&m);
    sl_table_unref(ta), sl_table_unref(tb);
    sl_batch_destroy(b);
}

static void gather(void *arg, const char *p, size_t n) { sl_buf_put(arg, p, n); }

/* One cell's JSON through a buffer that spills every 1 KiB, gathered: what a file sink writes. */
static void spilled_value(const sl_dbz_opts *o, uint32_t oid, const char *text, size_t n, sl_buf *all) {
    sl_column c = {.name = "c", .src_type = oid, .typmod = -1, .optional = true};
    sl_pg_type_map(oid, -1, &c);
    sl_cell v = {.data = text, .len = (uint32_t)n};
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_set_spill(&b, gather, all, 1024);
    sl_buf_puts(&b, "[");
    sl_dbz_cell_value(o, &c, &v, &b);
    sl_buf_puts(&b, "]");
    sl_buf_spill(&b);
    sl_buf_free(&b);
    sl_free(c.type_name);
}

/* Large text and bytea values stream through a spilling buffer and come out as they would whole;
 * a large malformed bytea, checked before anything is written, is null. */
static void test_large_values_spill(void) {
    sl_dbz_opts o = opts();
    size_t n = 200000;
    char *text = sl_malloc(n);
    for (size_t i = 0; i < n; i++) text[i] = i % 101 == 0 ? '"' : (char)('a' + i % 26);
    sl_buf all, whole;
    sl_buf_init(&all), sl_buf_init(&whole);
    spilled_value(&o, 25, text, n, &all);
    sl_buf_puts(&whole, "[");
    sl_buf_put_json_str(&whole, text, n);
    sl_buf_puts(&whole, "]");
    CHECK(all.len == whole.len && memcmp(all.data, whole.data, all.len) == 0);
    char *hex = sl_malloc(2 + 2 * n);
    hex[0] = '\\', hex[1] = 'x';
    for (size_t i = 0; i < n; i++) hex[2 + 2 * i] = "0123456789abcdef"[i % 16], hex[3 + 2 * i] = 'f';
    sl_buf_reset(&all), sl_buf_reset(&whole);
    spilled_value(&o, 17, hex, 2 + 2 * n, &all);
    uint8_t *bytes = sl_malloc(n);
    for (size_t i = 0; i < n; i++) bytes[i] = (uint8_t)((i % 16) << 4 | 15);
    sl_buf_puts(&whole, "[\"");
    sl_buf_put_base64(&whole, bytes, n);
    sl_buf_puts(&whole, "\"]");
    sl_free(bytes);
    CHECK(all.len == whole.len && memcmp(all.data, whole.data, all.len) == 0);
    memcpy(text, "a\\9", 3); /* escape format, malformed at its start */
    sl_buf_reset(&all);
    spilled_value(&o, 17, text, n, &all);
    CHECK_STR(sl_buf_cstr(&all), "[null]");
    sl_buf_free(&all), sl_buf_free(&whole);
    sl_free(hex), sl_free(text);
}

int main(void) {
    test_large_values_spill();
    test_schema_change();
    test_pgtypes();
    test_scalars();
    test_floats();
    test_numeric();
    test_money();
    test_binary();
    test_temporal();
    test_named_strings();
    test_arrays();
    test_toast();
    test_envelope_insert();
    test_envelope_ops();
    test_message();
    test_mysql_numbers();
    test_mysql_temporal();
    test_mysql_strings();
    test_mysql_geometry();
    test_mysql_envelope();
    test_dbz3_types();
    test_java_hashmap();
    test_dbz3_envelope();
    test_txmon_order();
    TEST_END();
}
