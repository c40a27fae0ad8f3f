/*
 * bench-mongo's peer: a bare libmongoc change stream loop that reads N
 * events of one collection from an operation time and does nothing with
 * them (no encoding, no sink): the limit of what the server sends and the
 * driver delivers. Prints one JSON line: {"events": N, "seconds": S}.
 *
 * usage: mongo_watch URI DB COLLECTION START_SECONDS N [BATCH_SIZE]
 * START_SECONDS: startAtOperationTime Timestamp(START_SECONDS, 0).
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: mongo_watch URI DB COLLECTION START_SECONDS N [BATCH_SIZE]\n");
        return 2;
    }
    long long want = atoll(argv[5]);
    int batch = argc > 6 ? atoi(argv[6]) : 1000;
    mongoc_init();
    bson_error_t be;
    mongoc_client_t *client = mongoc_client_new(argv[1]);
    if (!client) {
        fprintf(stderr, "mongo_watch: bad URI\n");
        return 1;
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(client, argv[2], argv[3]);
    bson_t *opts = BCON_NEW("startAtOperationTime", BCON_TIMESTAMP((uint32_t)atoll(argv[4]), 0), "batchSize",
                            BCON_INT32(batch), "maxAwaitTimeMS", BCON_INT64(1000));
    bson_t pipeline = BSON_INITIALIZER;
    double t0 = now_s(), last_event = t0;
    mongoc_change_stream_t *cs = mongoc_collection_watch(coll, &pipeline, opts);
    long long n = 0;
    size_t bytes = 0;
    const bson_t *doc;
    int rc = 0;
    while (n < want) {
        if (mongoc_change_stream_next(cs, &doc)) {
            n++;
            bytes += doc->len;
            last_event = now_s();
            continue;
        }
        if (mongoc_change_stream_error_document(cs, &be, NULL)) {
            fprintf(stderr, "mongo_watch: %s\n", be.message);
            rc = 1;
            break;
        }
        if (now_s() - last_event > 30) {
            fprintf(stderr, "mongo_watch: only %lld of %lld events after 30 s idle\n", n, want);
            rc = 1;
            break;
        }
        struct timespec ts = {0, 5 * 1000000L}; /* the test server ignores maxAwaitTimeMS */
        nanosleep(&ts, NULL);
    }
    printf("{\"events\": %lld, \"seconds\": %.3f, \"bytes\": %zu}\n", n, now_s() - t0, bytes);
    mongoc_change_stream_destroy(cs);
    bson_destroy(&pipeline);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return rc;
}
