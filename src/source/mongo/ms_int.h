/*
 * The MongoDB source's settings, shared by its files (mongo_source.c: the
 * change stream; mongo_verify.c: the source as one side of sluice verify).
 */
#ifndef SL_SOURCE_MONGO_MS_INT_H
#define SL_SOURCE_MONGO_MS_INT_H
#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { FD_DEFAULT, FD_UPDATE_LOOKUP, FD_WHEN_AVAILABLE, FD_REQUIRED };
enum { FDB_DEFAULT, FDB_WHEN_AVAILABLE, FDB_REQUIRED, FDB_OFF };
enum { SM_LATEST, SM_TIMESTAMP, SM_COPY };
enum { OF_JSON, OF_BSON, OF_SCHEMA };

typedef struct ms_conf {
    char *uri, *database, *collection, *pipeline;
    int full_doc, full_doc_before;
    bool full_doc_only, tombstone_on_delete, doc_key_as_key;
    int startup_mode;
    char *start_at;
    bool copy_legacy;
    char *copy_regex, *copy_pipeline;
    int64_t copy_threads, copy_queue;
    bool copy_disk;
    int64_t batch_size, await_ms;
    int64_t hb_ms;
    char *hb_topic;
    int out_key, out_value, formatter;
    char *schema_key, *schema_value;
    bool schema_infer;
    char *topic_prefix, *topic_suffix, *topic_sep, *ns_map;
    char *partition_name;
    int lost_policy;
    char *skipped_origins;
} ms_conf;

/* topic.namespace.map's JSON object as BSON (values checked: strings); NULL with why. */
bson_t *ms_parse_ns_map(const char *text, char *why, size_t whysz);

struct sl_vside;
/* sluice verify: the collections the source captures, read in _id order (mongo_verify.c). */
int ms_verify_open(void *settings, struct sl_vside **out, char *errstr, size_t errsz);
int ms_position_passed(const char *offset, const char *pos);

#endif
