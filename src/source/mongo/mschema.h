/*
 * mongo-kafka's schema output (output.format.key / .value = schema), pure:
 * Connect schemas from output.schema.key / .value (Avro schema JSON, as
 * mongo-kafka's AvroSchema reads it: records, arrays, maps, primitives,
 * unions with null for optional fields) or inferred from a document
 * (output.schema.infer.value, BsonDocumentToSchema), and the JSON that Kafka
 * Connect's JsonConverter writes for a document under such a schema
 * (BsonValueToSchemaAndValue, then JsonConverter: the schema JSON and the
 * payload JSON).
 *
 * Thread: all functions are pure; a schema is immutable once built.
 */
#ifndef SL_SOURCE_MONGO_MSCHEMA_H
#define SL_SOURCE_MONGO_MSCHEMA_H
#include "source/mongo/mevent.h"
#include "util/buf.h"
#include <bson/bson.h>

/* mongo-kafka's DEFAULT_AVRO_KEY_SCHEMA / DEFAULT_AVRO_VALUE_SCHEMA (AvroSchemaDefaults). */
extern const char SL_MSCHEMA_DEFAULT_KEY[];
extern const char SL_MSCHEMA_DEFAULT_VALUE[];

typedef struct sl_mschema sl_mschema;

/* An Avro schema (JSON text) whose top level is a record; NULL with err naming the problem. */
sl_mschema *sl_mschema_from_avro(const char *json, char *err, size_t errsz);
/* The schema mongo-kafka infers for doc (a required struct named "default"). */
sl_mschema *sl_mschema_infer(const bson_t *doc);
void sl_mschema_free(sl_mschema *s);

/* Appends JsonConverter's JSON form of s. */
void sl_mschema_json(const sl_mschema *s, sl_buf *out);
/*
 * Appends the payload JSON of doc under s (struct fields in the schema's
 * order; documents that a string field holds are JSON in fmt). Returns 0, or
 * -1 with err set as mongo-kafka's DataException (a missing required field,
 * a value of another type).
 */
int sl_mschema_value(const sl_mschema *s, const bson_t *doc, sl_mjson_mode fmt, sl_buf *out, char *err,
                     size_t errsz);

#endif
