/*
 * Kafka Connect keys and values -> BSON documents, as mongo-kafka's
 * SinkConverter makes them (pure: no I/O). The MongoDB sink sends every key
 * and value through here, whether it was read from Kafka (JsonConverter,
 * StringConverter text) or encoded in this process by dbz_json with its
 * Connect schema, so both paths give the same BSON types:
 *
 *   {"schema": S, "payload": P}  (JsonConverter, schemas.enable=true):
 *       P follows S like SchemaRecordConverter: int8/int16/int32 -> Int32,
 *       int64 -> Int64 (also small values), float32/float64 -> Double (a
 *       float32 is rounded to float first, as Java widens it), boolean,
 *       string, bytes -> BinData subtype 0, structs and maps -> documents,
 *       arrays -> arrays; the logical types Decimal -> Decimal128, Date /
 *       Time / Timestamp -> dates; null with a schema default -> the
 *       default. A string payload is parsed as extended JSON (mongo-kafka's
 *       StringRecordConverter: a MongoDB source's JSON with its STRING
 *       schema).
 *   a bare JSON object (schemas.enable=false): MapRecordConverter's types:
 *       every integer is an Int64, other numbers Doubles (extended JSON
 *       wrappers such as {"$oid": ...} are read as their types, which
 *       Connect would not).
 *   a JSON string (StringConverter): its text parsed as extended JSON.
 *
 * Compiled schemas are cached by their text, so a topic's schema is read
 * once. Limits: nesting depth SL_MCONV_MAX_DEPTH, schema cache entries.
 *
 * Thread: an sl_mconv is used by one thread at a time (the sink thread).
 */
#ifndef SL_SINK_MONGO_CONV_H
#define SL_SINK_MONGO_CONV_H
#include <bson/bson.h>
#include "core/val.h"
#include <stdbool.h>
#include <stddef.h>

#define SL_MCONV_MAX_DEPTH 100

typedef struct sl_mconv sl_mconv;

sl_mconv *sl_mconv_new(void);
void sl_mconv_destroy(sl_mconv *c);

/*
 * Converts one key or value (JSON text of len bytes) into *out (a new
 * document the caller destroys). Returns 1 with *out set, 0 when the value
 * is null (JSON null, or a null payload), -1 with err set when it is not
 * convertible (not a document, a payload that does not follow its schema,
 * an inexact Decimal128, ...). *enveloped tells whether the text was a
 * {"schema", "payload"} envelope (may be NULL). text: a JSON object that is
 * not an envelope is the text of a string (a MongoDB source's event in this
 * process, which mongo-kafka publishes with a STRING schema): read as
 * extended JSON with its exact types instead of the schemaless rules.
 */
int sl_mconv_json(sl_mconv *c, const char *json, size_t len, bool text, bson_t **out, bool *enveloped, char *err,
                  size_t errsz);

/* As sl_mconv_json for an envelope whose schema and payload texts the caller already found (the Kafka source
 * notes them while it validates a record). */
int sl_mconv_parts(sl_mconv *c, const char *schema, size_t slen, const char *payload, size_t plen, bson_t **out,
                   char *err, size_t errsz);

/*
 * A source in this process encodes each table's rows with one schema: the
 * sink compiles it once (from one record's envelope JSON) and converts the
 * payloads alone. sl_mconv_schema_new sets *out (NULL when the schema is
 * JSON null) and returns 0, or -1 with err; the caller frees *out.
 */
typedef struct sl_mconv_schema sl_mconv_schema;
int sl_mconv_schema_new(const char *json, size_t len, sl_mconv_schema **out, char *err, size_t errsz);
void sl_mconv_schema_free(sl_mconv_schema *s);
/* As sl_mconv_json for a payload's JSON text under s (NULL: the schemaless rules). */
int sl_mconv_payload_json(const sl_mconv_schema *s, const char *payload, size_t len, bson_t **out, char *err,
                          size_t errsz);

/*
 * A payload of the record view (sl_dbz_view) under s, with no JSON text in
 * between: 1 with *out set, 0 for null, -1 with err. Only for schemas that
 * sl_mconv_schema_view_safe accepts (structs of fixed types, no field name
 * starting with '$', no maps): the text path reads those through libbson's
 * extended-JSON reader, which a view would not imitate.
 */
bool sl_mconv_schema_view_safe(const sl_mconv_schema *s);
int sl_mconv_payload_view(const sl_mconv_schema *s, sl_vheap *h, sl_val *payload, bson_t **out, char *err,
                          size_t errsz);

/* The payload of a {"schema", "payload"} envelope: sets *p / *n to its text and returns true; false when
 * json is not such an envelope. */
bool sl_mconv_payload(const char *json, size_t len, const char **p, size_t *n);

#endif
