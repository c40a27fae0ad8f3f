/*
 * bench-mongo part (b)'s peer: a bare libmongoc bulk-write loop. Reads
 * documents (one extended-JSON object per line, each with an _id) from a
 * file into memory, then writes them with ordered bulk writes of BATCH
 * replaceOne({_id}, doc, upsert) operations, the write model the MongoDB
 * sink uses for change events, and times only the writes. Prints one JSON
 * line: {"documents": N, "seconds": S}.
 *
 * usage: mongo_bulk URI DB COLLECTION FILE [BATCH]
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: mongo_bulk URI DB COLLECTION FILE [BATCH]\n");
        return 2;
    }
    int batch = argc > 5 ? atoi(argv[5]) : 1000;
    FILE *f = fopen(argv[4], "r");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    size_t n = 0, cap = 1024;
    bson_t **docs = malloc(cap * sizeof *docs);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    bson_error_t be;
    while ((len = getline(&line, &lcap, f)) > 0) {
        if (n == cap) docs = realloc(docs, (cap *= 2) * sizeof *docs);
        if (!(docs[n] = bson_new_from_json((const uint8_t *)line, len, &be))) {
            fprintf(stderr, "mongo_bulk: line %zu: %s\n", n + 1, be.message);
            return 1;
        }
        n++;
    }
    free(line);
    fclose(f);
    mongoc_init();
    mongoc_client_t *client = mongoc_client_new(argv[1]);
    if (!client) {
        fprintf(stderr, "mongo_bulk: bad URI\n");
        return 1;
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(client, argv[2], argv[3]);
    bson_t *bulk_opts = BCON_NEW("ordered", BCON_BOOL(true));
    bson_t *upsert = BCON_NEW("upsert", BCON_BOOL(true));
    double t0 = now_s();
    for (size_t i = 0; i < n; i += (size_t)batch) {
        mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, bulk_opts);
        for (size_t j = i; j < n && j < i + (size_t)batch; j++) {
            bson_iter_t it;
            bson_t filter = BSON_INITIALIZER;
            if (bson_iter_init_find(&it, docs[j], "_id")) bson_append_iter(&filter, "_id", 3, &it);
            if (!mongoc_bulk_operation_replace_one_with_opts(bulk, &filter, docs[j], upsert, &be)) {
                fprintf(stderr, "mongo_bulk: %s\n", be.message);
                return 1;
            }
            bson_destroy(&filter);
        }
        bson_t reply;
        if (!mongoc_bulk_operation_execute(bulk, &reply, &be)) {
            fprintf(stderr, "mongo_bulk: bulk write failed: %s\n", be.message);
            return 1;
        }
        bson_destroy(&reply);
        mongoc_bulk_operation_destroy(bulk);
    }
    double secs = now_s() - t0;
    printf("{\"documents\": %zu, \"seconds\": %.3f}\n", n, secs);
    for (size_t i = 0; i < n; i++) bson_destroy(docs[i]);
    free(docs);
    bson_destroy(bulk_opts);
    bson_destroy(upsert);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return 0;
}
