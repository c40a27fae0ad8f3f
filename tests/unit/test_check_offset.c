/* The sources' check_offset: offsets given through PATCH /connectors/<name>/offsets, by shape and type; and
 * position_passed: whether a committed offset covers a verify snapshot's log position. */
#include "core/plugin.h"
#include "test.h"
#include <jansson.h>

/* Runs the named source's check on partition and offset JSON; 0 or -1, the message in err. */
static int check(const char *source, const char *partition, const char *offset, char *err, size_t errsz) {
    const sl_source_ops *ops = sl_source_find(source);
    json_t *p = json_loads(partition, 0, NULL), *o = json_loads(offset, 0, NULL);
    int rc = ops && ops->check_offset && p && o ? ops->check_offset(p, o, err, errsz) : -2;
    json_decref(p), json_decref(o);
    return rc;
}

static bool ok(const char *source, const char *partition, const char *offset) {
    char err[512] = "";
    int rc = check(source, partition, offset, err, sizeof err);
    if (rc != 0) fprintf(stderr, "  %s %s: %s\n", source, offset, err);
    return rc == 0;
}

/* Refused, with a message that starts with want (the field). */
static bool bad(const char *source, const char *partition, const char *offset, const char *want) {
    char err[512] = "";
    int rc = check(source, partition, offset, err, sizeof err);
    if (rc != -1 || strncmp(err, want, strlen(want)) != 0)
        fprintf(stderr, "  %s %s: rc %d, %s (want %s...)\n", source, offset, rc, err, want);
    return rc == -1 && strncmp(err, want, strlen(want)) == 0;
}

static void test_postgres(void) {
    const char *p = "{\"server\":\"inv\"}";
    CHECK(ok("postgres", p, "{\"lsn\":23876736,\"lsn_commit\":23876736,\"txId\":750,\"ts_usec\":1700000000000000}"));
    CHECK(ok("postgres", p, "{\"lsn\":1,\"snapshot\":true,\"last_snapshot_record\":false}"));
    CHECK(ok("postgres", p, "{\"lsn\":0,\"lsn_proc\":5,\"xmin\":null,\"messageType\":\"INSERT\"}")); /* Debezium's */
    CHECK(bad("postgres", p, "{\"lsn\":\"garbage\"}", "offset.lsn: must be a non-negative integer, not \"garbage\""));
    CHECK(bad("postgres", p, "{\"lsn\":-1}", "offset.lsn: "));
    CHECK(bad("postgres", p, "{\"lsn\":1.5}", "offset.lsn: "));
    CHECK(bad("postgres", p, "{\"txId\":3}", "offset.lsn: missing (must be a non-negative integer)"));
    CHECK(bad("postgres", p, "{\"lsn\":1,\"txId\":\"3\"}", "offset.txId: "));
    CHECK(bad("postgres", p, "{\"lsn\":1,\"snapshot\":\"true\"}", "offset.snapshot: must be true or false"));
    CHECK(bad("postgres", "{\"srv\":\"inv\"}", "{\"lsn\":1}", "partition.server: missing (must be a string)"));
}

static void test_mysql(void) {
    const char *p = "{\"server\":\"inv\"}";
    CHECK(ok("mysql", p, "{\"file\":\"mysql-bin.000003\",\"pos\":154,\"gtids\":\"\",\"ts_sec\":1700000000}"));
    CHECK(ok("mariadb", p, "{\"file\":\"mariadb-bin.000001\",\"pos\":4,\"gtids\":\"0-1-42,1-2-7\"}"));
    CHECK(ok("mariadb", p, "{\"file\":\"b.1\",\"pos\":4,\"gtids\":\"0-1-42, 1-2-7\",\"snapshot\":true,"
                           "\"snapshot_progress\":{\"table\":\"t\"}}"));
    CHECK(ok("mysql", p, "{\"file\":\"binlog.000002\",\"pos\":0,\"row\":1,\"event\":2,\"server_id\":223344,"
                         "\"gtids\":\"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:11,\\n"
                         "4e11fa47-71ca-11e1-9e33-c80aa9429562:tag_1:3\"}"));
    CHECK(bad("mysql", p, "{\"pos\":4}", "offset.file: missing (must be a string)"));
    CHECK(bad("mysql", p, "{\"file\":\"mysql-bin\",\"pos\":4}", "offset.file: must be a binlog file name"));
    CHECK(bad("mysql", p, "{\"file\":\"../x.000001\",\"pos\":4}", "offset.file: "));
    CHECK(bad("mysql", p, "{\"file\":\".000001\",\"pos\":4}", "offset.file: "));
    CHECK(bad("mysql", p, "{\"file\":\"b.000001\",\"pos\":\"4\"}", "offset.pos: must be a non-negative integer"));
    CHECK(bad("mysql", p, "{\"file\":\"b.000001\"}", "offset.pos: "));
    CHECK(bad("mariadb", p, "{\"file\":\"b.1\",\"pos\":4,\"gtids\":\"0-1\"}", "offset.gtids: must be a GTID set"));
    CHECK(bad("mariadb", p, "{\"file\":\"b.1\",\"pos\":4,\"gtids\":\"0-1-2,,\"}", "offset.gtids: "));
    CHECK(bad("mysql", p, "{\"file\":\"b.1\",\"pos\":4,\"gtids\":\"3E11FA47-71CA-11E1-9E33-C80AA9429562\"}",
              "offset.gtids: "));
    CHECK(bad("mysql", p, "{\"file\":\"b.1\",\"pos\":4,\"gtids\":7}", "offset.gtids: must be a string"));
    CHECK(bad("mysql", p, "{\"file\":\"b.1\",\"pos\":4,\"snapshot_progress\":[]}", "offset.snapshot_progress: "));
}

static void test_mongo_kafka(void) {
    const char *p = "{\"ns\":\"mongodb://h:27017/db.c\"}";
    CHECK(ok("mongodb", p, "{\"_id\":\"{\\\"_data\\\": \\\"8263A1\\\"}\"}"));
    CHECK(ok("mongodb", p, "{\"start_ts\":\"1700000000,3\",\"copy\":\"true\",\"copyingData\":true,"
                           "\"copy_ns\":\"db.c\",\"copy_last_id\":\"{\\\"_id\\\": 5}\"}"));
    CHECK(ok("mongodb", p, "{\"_id\":\"{\\\"_data\\\": \\\"82\\\"}\",\"HEARTBEAT\":\"true\"}"));
    CHECK(bad("mongodb", p, "{\"_id\":\"not json\"}", "offset._id: must be a resume token as JSON text"));
    CHECK(bad("mongodb", p, "{\"_id\":{\"_data\":\"82\"}}", "offset._id: must be a string"));
    CHECK(bad("mongodb", p, "{}", "offset._id: "));
    CHECK(bad("mongodb", p, "{\"start_ts\":\"yesterday\"}", "offset.start_ts: must be an operation time"));
    CHECK(bad("mongodb", p, "{\"start_ts\":\"1,2\",\"copy\":\"yes\"}", "offset.copy: must be \"true\" or \"false\""));
    CHECK(bad("mongodb", "{\"server\":\"x\"}", "{\"start_ts\":\"1,2\"}", "partition.ns: "));
    const char *g = "{\"group\":\"connect-x\"}";
    CHECK(ok("kafka", g, "{\"orders/0\":42,\"a/b/11\":0}"));
    CHECK(bad("kafka", g, "{\"orders\":42}", "offset.orders: keys must be <topic>/<partition>"));
    CHECK(bad("kafka", g, "{\"orders/0\":-1}", "offset.orders/0: must be a non-negative integer"));
    CHECK(bad("kafka", "{}", "{}", "partition.group: "));
}

int main(void) {
    test_postgres();
    test_mysql();
    test_mongo_kafka();
    /* position_passed (sluice verify's gated rechecks) */
    const sl_source_ops *pg = sl_source_find("postgres"), *my = sl_source_find("mysql");
    CHECK(pg && pg->position_passed && my && my->position_passed);
    if (pg && pg->position_passed && my && my->position_passed) {
        CHECK(pg->position_passed("{\"lsn\": 4294967396, \"txId\": 7}", "1/64") == 1); /* 1/64 = 2^32 + 100 */
        CHECK(pg->position_passed("{\"lsn\": 4294967395}", "1/64") == 0);
        CHECK(pg->position_passed("{\"lsn\": 10, \"lsn_commit\": 4294967400}", "1/64") == 1);
        CHECK(pg->position_passed("{\"ts_usec\": 1}", "1/64") == -1);
        CHECK(pg->position_passed("{\"lsn\": 1}", "") == -1);
        CHECK(my->position_passed("{\"file\": \"mysql-bin.000003\", \"pos\": 500}", "mysql-bin.000003:500") == 1);
        CHECK(my->position_passed("{\"file\": \"mysql-bin.000003\", \"pos\": 499}", "mysql-bin.000003:500") == 0);
        CHECK(my->position_passed("{\"file\": \"mysql-bin.000004\", \"pos\": 4}", "mysql-bin.000003:500") == 1);
        CHECK(my->position_passed("{\"file\": \"mysql-bin.000002\", \"pos\": 9000}", "mysql-bin.000003:500") == 0);
        CHECK(my->position_passed("{\"gtids\": \"0-1-5\"}", "mysql-bin.000003:500") == -1);
    }
    /* MongoDB: the resume token's timestamp (0x82, then seconds and increment big-endian) against an
     * operation time; 0x6752A1B0 = 1733468592 */
    const sl_source_ops *mo = sl_source_find("mongodb");
    CHECK(mo && mo->position_passed);
    if (mo && mo->position_passed) {
        const char *tok = "{\"_id\": \"{\\\"_data\\\": \\\"826752A1B000000005010000\\\"}\"}";
        CHECK(mo->position_passed(tok, "1733468592,5") == 1);
        CHECK(mo->position_passed(tok, "1733468592,4") == 1);
        CHECK(mo->position_passed(tok, "1733468592,6") == 0);
        CHECK(mo->position_passed(tok, "1733468593,0") == 0);
        CHECK(mo->position_passed("{\"_id\": \"{\\\"_data\\\": \\\"826752a1b100000001\\\"}\"}", "1733468592,9") == 1);
        CHECK(mo->position_passed("{\"_id\": \"{\\\"_data\\\": \\\"not-hex\\\"}\"}", "1733468592,9") == -1);
        CHECK(mo->position_passed("{\"start_ts\": \"1733468592,5\"}", "1733468592,5") == 1);
        CHECK(mo->position_passed("{\"start_ts\": \"1733468591,9\"}", "1733468592,5") == 0);
        CHECK(mo->position_passed("{\"copy\": \"true\", \"_id\": \"{\\\"_data\\\": \\\"826752A1B000000005\\\"}\"}",
                                  "1733468592,1") == 0);
        CHECK(mo->position_passed(tok, "") == -1);
    }
    TEST_END();
}
