/*
 * The Kafka source's input converters: the bytes of a Kafka message key or
 * value -> JSON text for an sl_raw record, as Kafka Connect's converters
 * read them.
 *
 *   JsonConverter       the message's JSON, checked by parsing it; with
 *                       schemas.enable it must be a {"schema","payload"}
 *                       envelope (Connect's rule). The text is kept as it
 *                       came, minus whitespace outside strings, so that a
 *                       record stays on one line in line-oriented sinks.
 *   StringConverter     a JSON string of the UTF-8 text (invalid sequences
 *                       become U+FFFD, as Java's decoder makes them).
 *   ByteArrayConverter  a JSON string of the base64 of the bytes.
 *
 * For a value, the converter also finds the record's op: a Debezium envelope
 * (payload, or the bare object without schemas, with "op" in c/u/d/r/t and a
 * "source" object) gives its op; a JSON null payload is a delete; anything
 * else is a create.
 *
 * Pure functions over bytes (no librdkafka, no I/O), so they are unit tested
 * and fuzzed (tests/fuzz/fuzz_kafka_convert.c). Thread-agnostic.
 */
#ifndef SL_SOURCE_KAFKA_KCONVERT_H
#define SL_SOURCE_KAFKA_KCONVERT_H
#include <stdbool.h>
#include <stddef.h>
#include "core/record.h"
#include "util/buf.h"

typedef enum sl_kconv_kind { SL_KCONV_JSON = 0, SL_KCONV_STRING, SL_KCONV_BYTES } sl_kconv_kind;

/* Allowed values of key.converter / value.converter: the Java class names,
 * then the short names, in sl_kconv_kind order (index % 3 is the kind). */
#define SL_KCONV_NAMES                                                                                                \
    "org.apache.kafka.connect.json.JsonConverter|org.apache.kafka.connect.storage.StringConverter|"                    \
    "org.apache.kafka.connect.converters.ByteArrayConverter|json|string|bytes"

/* Largest key or value converted: keeps every output under 4 GiB (sl_raw's
 * lengths are 32-bit; a JSON-escaped string can grow six-fold). */
#define SL_KCONV_MAX_INPUT (512u * 1024u * 1024u)

static inline sl_kconv_kind sl_kconv_from_index(int i) { return (sl_kconv_kind)(i % 3); }
/* The converter's Java class name (for logs and DLQ headers). */
const char *sl_kconv_class(sl_kconv_kind k);

/*
 * Converts len bytes at data (a present key or value: not NULL) and appends
 * the JSON text to out. When op is not NULL it receives the record's op (see
 * above). Returns 0, or -1 with errstr set to the reason (the message of the
 * DataException Connect would throw); out may then hold a partial result.
 */
/* Where a JsonConverter (schemas.enable) {"schema": S, "payload": P} value's parts are in the text appended to
 * out, as byte offsets from where it starts; lengths 0 when not known. */
typedef struct sl_kconv_parts {
    uint32_t schema_at, schema_len, payload_at, payload_len;
} sl_kconv_parts;
/* As sl_kconv_convert, noting the parts too (parts may be NULL). */
int sl_kconv_convert_parts(sl_kconv_kind kind, bool schemas, const void *data, size_t len, sl_buf *out, sl_op *op,
                           sl_kconv_parts *parts, char *errstr, size_t errsz);
int sl_kconv_convert(sl_kconv_kind kind, bool schemas, const void *data, size_t len, sl_buf *out, sl_op *op,
                     char *errstr, size_t errstr_size);
/*
 * What a JsonConverter (schemas.enable) remembers of the last compact
 * {"schema": S, "payload": P} value it read: the text before P. A topic's
 * records mostly carry the same schema; one that starts with the same bytes
 * has only its payload checked (the schema is most of the text). Zeroed to
 * start; sl_kconv_memo_free releases it.
 */
typedef struct sl_kconv_memo {
    char *prefix;
    size_t n, cap;
    uint32_t schema_at, schema_len;
} sl_kconv_memo;
/* As sl_kconv_convert_parts, with memo (NULL: none): the same results. */
int sl_kconv_convert_memo(sl_kconv_kind kind, bool schemas, const void *data, size_t len, sl_buf *out, sl_op *op,
                          sl_kconv_parts *parts, sl_kconv_memo *memo, char *errstr, size_t errsz);
void sl_kconv_memo_free(sl_kconv_memo *memo);

/* Appends s as valid UTF-8: each malformed sequence becomes U+FFFD. */
void sl_kconv_put_utf8(sl_buf *out, const char *s, size_t n);

#endif
