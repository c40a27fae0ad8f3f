/*
 * Unit tests of the two-way sync's echo filter (source/mongo/mecho.c): which change events are the writes of
 * a sink whose origin the source skips. Events are MongoDB's documented shapes; the marks are the MongoDB
 * sink's ("<origin>/<ms>-<n>", "/d" before a delete).
 */
#include "source/mongo/mecho.h"
#include "test.h"
#include <stdio.h>

/* An event of operationType ot on document _id `id` at wall time `ms`; `extra`: more members. */
static bool ev(sl_mecho *e, const char *ot, int id, long long ms, const char *extra) {
    char json[2048];
    snprintf(json, sizeof json,
             "{\"operationType\":\"%s\",\"wallTime\":{\"$date\":{\"$numberLong\":\"%lld\"}},"
             "\"documentKey\":{\"_id\":%d}%s%s}",
             ot, ms, id, extra ? "," : "", extra ? extra : "");
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &be);
    if (!b) {
        fprintf(stderr, "bad fixture: %s: %s\n", be.message, json);
        return false;
    }
    bool skip = sl_mecho_skip(e, b);
    bson_destroy(b);
    return skip;
}

#define UPD(f) "\"updateDescription\":{\"updatedFields\":{" f "},\"removedFields\":[]}"
#define DOC(f) "\"fullDocument\":{\"_id\":1" f "}"

int main(void) {
    sl_mecho e = {.origins = "a,fwd"};
    long long t = 1700000000000LL;
    /* updates: by the mark in updatedFields only */
    CHECK(ev(&e, "update", 1, t, UPD("\"x\":1,\"__sluice_origin\":\"fwd/1700000000000-1\"")));
    CHECK(!ev(&e, "update", 1, t, UPD("\"x\":2")));                                      /* the application's */
    CHECK(!ev(&e, "update", 1, t, UPD("\"__sluice_origin\":\"other/1700000000000-2\""))); /* an origin not skipped */
    CHECK(!ev(&e, "update", 1, t, UPD("\"__sluice_origin\":\"fw/1700000000000-2\"")));    /* names match whole */
    /* inserts / replaces: a new mark of a skipped origin, made near the event's time */
    CHECK(ev(&e, "insert", 2, t + 5, DOC(",\"__sluice_origin\":\"a/1700000000000-3\"")));
    CHECK(!ev(&e, "replace", 2, t + 9000, DOC(",\"y\":1,\"__sluice_origin\":\"a/1700000000000-3\""))); /* a copy */
    CHECK(ev(&e, "replace", 2, t + 9500, DOC(",\"__sluice_origin\":\"a/1700000009500-4\"")));
    CHECK(!ev(&e, "replace", 3, t + 10 * 60000, DOC(",\"__sluice_origin\":\"a/1700000000000-5\""))); /* old mark */
    CHECK(!ev(&e, "insert", 4, t, DOC(",\"z\":1")));
    /* deletes: skipped when the mark before them announced them */
    CHECK(ev(&e, "update", 5, t, UPD("\"__sluice_origin\":\"fwd/1700000000000-6/d\"")));
    CHECK(ev(&e, "delete", 5, t, NULL));
    CHECK(!ev(&e, "delete", 5, t, NULL)); /* once */
    CHECK(!ev(&e, "delete", 6, t, NULL));
    /* no origins: nothing is skipped; events without documentKey or operationType pass */
    sl_mecho none = {.origins = ""};
    CHECK(!ev(&none, "update", 1, t, UPD("\"__sluice_origin\":\"fwd/1700000000000-1\"")));
    CHECK(!ev(&e, "drop", 1, t, NULL));
    CHECK(e.skipped == 5);
    /* a full memory is forgotten, not grown */
    for (int i = 0; i < 70000; i++) ev(&e, "update", 1000 + i, t, UPD("\"__sluice_origin\":\"a/1700000000000-9\""));
    CHECK(e.n < e.cap);
    sl_mecho_free(&e);
    sl_mecho_free(&none);
    TEST_END();
}
