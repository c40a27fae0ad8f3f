/*
 * bench-verify's peer: a bare libmongoc read of a whole collection in _id
 * order (the order sluice verify reads a MongoDB target in), doing nothing
 * with the documents: the limit of what the server sends and the driver
 * delivers. Prints one JSON line: {"documents": N, "seconds": S}.
 *
 * usage: mongo_scan URI DB COLLECTION
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: mongo_scan URI DB COLLECTION\n");
        return 2;
    }
    mongoc_init();
    mongoc_client_t *client = mongoc_client_new(argv[1]);
    if (!client) {
        fprintf(stderr, "mongo_scan: bad URI\n");
        return 1;
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(client, argv[2], argv[3]);
    bson_t filter = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "batchSize", BCON_INT32(1000));
    double t0 = now_s();
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    const bson_t *doc;
    long long n = 0;
    size_t bytes = 0;
    while (mongoc_cursor_next(cur, &doc)) n++, bytes += doc->len;
    bson_error_t be;
    int rc = 0;
    if (mongoc_cursor_error(cur, &be)) {
        fprintf(stderr, "mongo_scan: %s\n", be.message);
        rc = 1;
    }
    printf("{\"documents\": %lld, \"bytes\": %zu, \"seconds\": %.3f}\n", n, bytes, now_s() - t0);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return rc;
}
