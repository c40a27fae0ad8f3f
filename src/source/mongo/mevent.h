/*
 * MongoDB change events -> pre-encoded sluice records (no I/O, fuzzed).
 *
 * The MongoDB source hands every change stream document (and every document
 * it copies with startup.mode=copy_existing) to sl_mevent_encode, which
 * produces the record's topic, key and value JSON and its op, in the shape
 * of the MongoDB Kafka source connector (mongo-kafka) or, with the Debezium
 * class name, of Debezium's MongoDB connector (mschema.h turns a key or value
 * into a Connect struct for output.format=schema). sl_mjson_* write BSON as
 * JSON in mongo-kafka's three formatters. sl_mongo_error_action decides what
 * a change stream error means (retry, history lost, fatal).
 *
 * Thread: all functions are pure; callers own every buffer.
 */
#ifndef SL_SOURCE_MONGO_MEVENT_H
#define SL_SOURCE_MONGO_MEVENT_H
#include "core/record.h"
#include "util/buf.h"
#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

/* Hard limits for untrusted input. */
#define SL_MEVENT_MAX_DEPTH 100           /* nesting of documents / arrays */
#define SL_MEVENT_MAX_BYTES (48u << 20)   /* a change event is at most 16 MB (+ overhead) in MongoDB */

/* output.json.formatter (plus RELAXED, used for Debezium's key ids). */
typedef enum sl_mjson_mode {
    SL_MJSON_DEFAULT = 0,    /* DefaultJson: Java's JsonMode.STRICT (legacy extended JSON) */
    SL_MJSON_EXTENDED = 1,   /* ExtendedJson: canonical extended JSON v2 */
    SL_MJSON_SIMPLIFIED = 2, /* SimplifiedJson: relaxed, ObjectId/Decimal128 as strings, dates ISO-8601 */
    SL_MJSON_RELAXED = 3,    /* relaxed extended JSON v2 */
} sl_mjson_mode;

/* Appends doc as a JSON object. java_spacing: ": " and ", " as Java's JsonWriter writes them (for JSON
 * that travels inside a JSON string, like Debezium's `after`). Returns 0, -1 when too deep. */
int sl_mjson_doc(sl_buf *out, const bson_t *doc, sl_mjson_mode mode, bool java_spacing);
/* Appends the value the iterator is on. */
int sl_mjson_value(sl_buf *out, const bson_iter_t *it, sl_mjson_mode mode, bool java_spacing);

/* Appends a JSON string literal of n bytes; bytes that are not UTF-8 become U+FFFD. */
void sl_mjson_str(sl_buf *out, const char *s, size_t n);
/* The JSON the Java driver reads in configs (pipelines as MongoDB's docs write them) as strict JSON:
 * unquoted keys ({$match: ...}) get quotes, 'single-quoted' strings become "double-quoted". Everything
 * else is copied; the result still goes through a strict parser. */
void sl_mjson_relaxed(const char *in, sl_buf *out);

typedef struct sl_mevent_opts {
    sl_mjson_mode fmt;
    bool debezium;            /* Debezium's MongoDB envelope instead of mongo-kafka's event */
    bool full_doc_only;       /* publish.full.document.only */
    bool tombstone_on_delete; /* publish.full.document.only.tombstone.on.delete */
    bool doc_key_as_key;      /* change.stream.document.key.as.key: key = documentKey, else {"_id": token} */
    bool key_is_event;        /* output.format.key=schema: the key document is the whole event */
    const char *prefix, *suffix, *sep; /* topic.prefix / topic.suffix / topic.separator */
    const bson_t *ns_map;     /* topic.namespace.map, parsed; NULL: none */
    const char *def_db, *def_coll; /* namespace of events that carry no `ns` */
    const char *server_name;  /* Debezium source.name (topic.prefix) */
    const char *rs_name;      /* Debezium source.rs */
    const char *version;      /* Debezium source.version */
    int64_t now_ms;           /* Debezium ts_ms (processing time) */
} sl_mevent_opts;

/* What one event becomes. Buffers are reset by sl_mevent_encode. */
typedef struct sl_mevent {
    sl_buf topic, key, value;
    sl_buf token;             /* the event's resume token (_id._data), empty for copied documents */
    bool tombstone;           /* value is null */
    bool skip;                /* nothing to publish (e.g. full.document.only without a fullDocument) */
    bool invalidate;          /* operationType invalidate: the stream has ended */
    bool binary_key, binary_value; /* key / value hold BSON bytes (output.format=bson; set by the source) */
    sl_op op;
    int64_t ts_us;            /* from wallTime, else clusterTime; 0 when neither */
    char optype[32];          /* operationType (cut at 31 bytes; "copy" for copied documents) */
} sl_mevent;

void sl_mevent_init(sl_mevent *ev);
void sl_mevent_free(sl_mevent *ev);

/*
 * Encodes one change event given as BSON bytes (validated here: any bytes are
 * safe). copy: data is a document read by copy_existing from namespace
 * copy_db.copy_coll, published as an insert (Debezium: op r) whose key is its
 * _id. Returns 0, or -1 with err set when the bytes are not a valid event.
 */
int sl_mevent_encode(const sl_mevent_opts *o, const uint8_t *data, size_t len, bool copy, const char *copy_db,
                     const char *copy_coll, sl_mevent *ev, char *err, size_t errsz);

/* The topic of namespace db.coll (coll may be empty) per prefix/suffix/separator/namespace map. */
void sl_mevent_topic(const sl_mevent_opts *o, const char *db, const char *coll, sl_buf *out);

/* change.stream.history.lost.policy */
typedef enum sl_mlost_policy { SL_MLOST_FAIL = 0, SL_MLOST_COPY = 1, SL_MLOST_LATEST = 2 } sl_mlost_policy;

typedef enum sl_maction {
    SL_MACT_FAIL = 0,      /* stop the connector with the error */
    SL_MACT_RETRY,         /* connection lost / not primary: SL_RETRY, reopen later */
    SL_MACT_LOST_FAIL,     /* resume point gone, policy fail: stop with a clear message */
    SL_MACT_LOST_COPY,     /* resume point gone: copy the collections again, then stream */
    SL_MACT_LOST_LATEST,   /* resume point gone: continue from now (events in between are lost) */
} sl_maction;

/* True when a server error means the resume token / time is no longer in the oplog
 * (ChangeStreamHistoryLost 286, ChangeStreamFatalError 280, InvalidResumeToken 260,
 * CappedPositionLost 136, and "resume token ... not found / does not exist" messages). */
bool sl_mongo_history_lost(uint32_t code, const char *msg);
/* What to do about an error of a change stream (libmongoc domain and code, server message).
 * resuming: the stream was opened from a stored position. */
sl_maction sl_mongo_error_action(uint32_t domain, uint32_t code, const char *msg, bool resuming,
                                 sl_mlost_policy policy);

#endif
