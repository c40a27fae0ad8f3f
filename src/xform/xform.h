/*
 * Single Message Transforms: the stage between source and sink.
 *
 * A transform sees a record as Kafka Connect does: a topic, a key and a value
 * each with an optional Connect schema (JSON trees, jansson), headers and a
 * timestamp. The chain turns each change record of a batch into that view
 * (the Debezium event with schemas, as the JsonConverter would write it),
 * runs the configured transforms in order, and writes the survivors back into
 * the batch as pre-encoded records (sl_record.raw) in the connector's
 * converter settings, so every sink takes them unchanged. A transform may
 * drop a record; a delete's tombstone (tombstones.on.delete) goes through
 * the chain as a record of its own, as in Kafka Connect.
 *
 * Config, as Kafka Connect: transforms=a,b; transforms.a.type=<type or Java
 * class>; transforms.a.<option>=...; transforms.a.predicate=p and
 * transforms.a.negate=true; predicates=p; predicates.p.type=...;
 * predicates.p.<option>=....
 *
 * Threads: a chain belongs to one connector and runs on its sink thread.
 */
#ifndef SL_XFORM_XFORM_H
#define SL_XFORM_XFORM_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "core/conf.h"
#include "core/val.h"
#include "core/record.h"
#include "core/vside.h"
#include "format/dbz_json.h"
#include "util/buf.h"

/*
 * One record as transforms see it, in one of two forms:
 *
 * - the view (sl_val values in r->heap: vkey, vvalue, their schemas and
 *   vheaders), which the chain builds from the batch's cells without
 *   encoding anything (format/dbz_json.h sl_dbz_view) and which the
 *   emitter writes out; a transform type with apply_v works on it;
 * - JSON trees (jansson: key, value, their schemas and headers), for a
 *   transform type with apply; the chain converts the record when a step
 *   needs the other form, so a chain of view steps never builds a tree.
 *
 * Only the fields of the current form are set (json_form tells which). In
 * the view, schemas are frozen values shared with the chain's per-table
 * cache (sl_v_thaw before changing one, one level at a time); payloads
 * belong to the record. In JSON form every json_t is owned by the record
 * (a transform that replaces one decrefs the old), and schemas may be
 * shared, except while a step that is not schema_readonly runs (it gets
 * private copies). A schema is NULL when the part is schemaless (converter
 * schemas off, or a transform dropped it); the value is NULL for a
 * tombstone, the key NULL for a record without a key.
 */
typedef struct sl_xrec {
    char *topic;              /* owned (sl_strdup) */
    bool json_form;           /* the JSON fields hold the record, else the view fields */
    json_t *key_schema, *key;
    json_t *value_schema, *value;
    json_t *headers;          /* array of {"key": name, "value": JSON value or null}; never NULL in JSON form */
    sl_val *vkey_schema, *vkey;
    sl_val *vvalue_schema, *vvalue;
    sl_val *vheaders;         /* array of {"key": name, "value": value or null}; never NULL in the view */
    sl_vheap *heap;           /* where the view's values live */
    int64_t ts_ms;            /* the record's timestamp (source commit time, or the Kafka message's) */
    int32_t partition;        /* target partition, -1: chosen by the sink from the key */
    /* Read-only context */
    const sl_record *src;     /* the change this record came from */
    bool tombstone;           /* the tombstone that follows a delete */
    int32_t kafka_partition;  /* Kafka source: where it was read (-1 otherwise) */
    int64_t kafka_offset;
    sl_vheap *own_heap;       /* the heap when the record made its own (single-record entry points) */
    void *cache;              /* private: the chain's schema cache (schemas shared by both forms) */
    int step;                 /* private: the step running (its derived schemas), -1: none */
} sl_xrec;

/* Replaces a field: decrefs *slot and stores v (a new reference is taken over). */
void sl_xrec_set(json_t **slot, json_t *v);
/* Sets the topic (copied). */
void sl_xrec_set_topic(sl_xrec *r, const char *topic);
/* Appends a header (value: a new reference, NULL for a null header). JSON form. */
void sl_xrec_add_header(sl_xrec *r, const char *key, json_t *value);
/* Appends a header (value in r->heap, NULL for a null header). View form. */
void sl_xrec_add_vheader(sl_xrec *r, const char *key, sl_val *value);
/*
 * Schemas a step derived, kept per step (as Connect's transforms keep a
 * schemaUpdateCache): the schema the running step derived before from the
 * frozen schema `in` and `variant` (whatever else the derivation depends
 * on), or NULL. memo_put keeps a frozen copy of out and returns it (or out
 * itself when in is not frozen or r is outside a chain). A step that reads a
 * per-record input (a header, the value) to make a schema must not use them.
 */
sl_val *sl_xrec_memo_get(const sl_xrec *r, const sl_val *in, int variant);
sl_val *sl_xrec_memo_put(sl_xrec *r, const sl_val *in, int variant, sl_val *out);
/* Either form: the value is null (a tombstone); header `name` exists. */
bool sl_xrec_value_is_null(const sl_xrec *r);
bool sl_xrec_has_header(const sl_xrec *r, const char *name);
/* Puts r in the view / in JSON form (no-op when it is). to_view: 0, or -1 with errstr when a JSON value
 * cannot be read (a bug, not data). */
int sl_xrec_to_view(sl_xrec *r, char *errstr, size_t errsz);
void sl_xrec_to_json(sl_xrec *r);

/* Result of a transform or a whole chain on one record. */
enum { SL_X_KEEP = 1, SL_X_DROP = 0, SL_X_ERROR = -1 };

/* A transform type. Options come from a property table applied under the prefix "transforms.<name>.". */
typedef struct sl_xform_ops {
    const char *name;         /* native name, e.g. "unwrap" */
    const char *aliases;      /* "a|b": Java class names */
    const char *doc;
    const sl_prop *props;
    size_t settings_size;
    /* Checks cross-key rules and compiles (regexes, field lists); errors name the full key
     * (prefix + option). The settings stay alive while the state does; cfg does not (keep no
     * pointers into it). Returns NULL on error. */
    void *(*init)(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs);
    /* SL_X_KEEP, SL_X_DROP, or SL_X_ERROR with errstr set (the connector fails: a bad record the
     * transform cannot handle, e.g. a missing field it was told to use). */
    int (*apply)(void *state, sl_xrec *r, char *errstr, size_t errsz);
    void (*free)(void *state);
    /* Optional: everything this transform returned so far is durable in the sink (and, with exactly-once,
     * committed with its source offset). Sink thread. E.g. the outbox router's purge of published rows. */
    void (*durable)(void *state);
    /* True when apply never changes key_schema / value_schema in place (it may replace them with
     * sl_xrec_set). Otherwise the chain gives the step private copies of schemas that are shared
     * (parsed once per table and shared by its records: copy on write). */
    bool schema_readonly;
    /* True when apply reads and writes only topic, partition and ts_ms: it runs on either form. */
    bool any_form;
    /* apply on the view (r->json_form is false); a type has apply or apply_v. */
    int (*apply_v)(void *state, sl_xrec *r, char *errstr, size_t errsz);
    /* Optional (sluice verify): what the transform makes of a table's rows, as sl_vmap_fn (core/vside.h) does;
     * a type without it cannot be verified through. */
    int (*vmap)(void *state, sl_vtable *t, char *errstr, size_t errsz);
} sl_xform_ops;

/* A predicate type (predicates.<name>.type). */
typedef struct sl_xpred_ops {
    const char *name;
    const char *aliases;
    const char *doc;
    const sl_prop *props;
    size_t settings_size;
    void *(*init)(void *settings, sl_config *cfg, const char *prefix, sl_errs *errs);
    /* Reads r through topic, ts_ms and the either-form helpers (sl_xrec_value_is_null, sl_xrec_has_header). */
    bool (*test)(void *state, const sl_xrec *r);
    void (*free)(void *state);
    /* test reads only the topic, and a record that is not a tombstone (sluice verify can tell which tables'
     * rows it selects) */
    bool by_topic;
} sl_xpred_ops;

/*
 * The registry: each file of transform types exports one NULL-terminated
 * group; xform.c searches them in this order (lookup and docs).
 */
extern const sl_xform_ops *const sl_xforms_connect[];  /* connect.c: Kafka Connect's built-ins */
extern const sl_xform_ops *const sl_xforms_debezium[]; /* debezium.c: ExtractNewRecordState, EventRouter */
extern const sl_xform_ops *const sl_xforms_expr[];     /* expr.c: filter and content-based router */
extern const sl_xform_ops *const sl_xforms_embed[];    /* embed.c: relational -> document embedding */
extern const sl_xpred_ops *const sl_xpreds_connect[];  /* connect.c: TopicNameMatches, HasHeaderKey, ... */
const sl_xform_ops *sl_xform_find(const char *name);
/* Adds a type at run time (tests, embedders), before chains are built; -1 when full. Not thread-safe. */
int sl_xform_add(const sl_xform_ops *ops);
const sl_xpred_ops *sl_xpred_find(const char *name);

typedef struct sl_xchain sl_xchain;

/* Builds the chain of `transforms` (a comma-separated list; "" or NULL: returns NULL, no error).
 * Claims every transforms.* / predicates.* key it uses; problems go to errs (NULL is returned). */
sl_xchain *sl_xchain_new(sl_config *cfg, const char *transforms, sl_errs *errs);
void sl_xchain_free(sl_xchain *x);

/*
 * Runs the chain over a batch in place: each record (and a delete's
 * tombstone when `tombstones`) becomes zero or more pre-encoded records,
 * keeping order; b->offset_n is moved to count the records its offset now
 * covers. Records that are not data (heartbeats, transaction markers, op m)
 * go through the chain too, as in Kafka Connect. Returns the number of
 * records transforms dropped, or -1 with errstr naming the transform and
 * the record. A record the chain fails on is handed to fail (when not
 * NULL) with the reason: it answers 0 to leave the record out and go on
 * (errors.tolerance=all, its own business to log and count it), or -1 with
 * errstr to stop.
 */
typedef int (*sl_xfail_fn)(void *arg, const sl_record *rec, const char *reason, char *errstr, size_t errstr_size);
int sl_xchain_apply(sl_xchain *x, const sl_dbz_opts *o, bool tombstones, sl_batch *b, sl_xfail_fn fail, void *arg,
                    char *errstr, size_t errsz);

/* sluice verify: maps t (a captured table) through the chain as its rows go through it (sl_vmap_fn). */
int sl_xchain_vmap(void *chain, sl_vtable *t, char *errstr, size_t errsz);
/* For types whose rows come out as they went in (header and routing steps that keep the topic). */
int sl_xform_vmap_same(void *state, sl_vtable *t, char *errstr, size_t errsz);

/* Tells every transform with a durable callback that all records the chain returned so far are durable. */
void sl_xchain_durable(sl_xchain *x);
/* True when some transform of the chain (NULL: none) has a durable callback. */
bool sl_xchain_has_durable(const sl_xchain *x);

/* Single-record entry points (tests, the fuzzer): */
/* Fills r from a change record (tombstone: the tombstone after a delete). */
void sl_xrec_from_record(sl_xrec *r, const sl_dbz_opts *o, const sl_record *rec, bool tombstone);
/* Fills r from converter output (JSON text: {"schema","payload"} or a bare payload; NULL: null); src is NULL. */
void sl_xrec_from_text(sl_xrec *r, const char *topic, const char *key, const char *value);
/* Runs the chain on one record: SL_X_KEEP, SL_X_DROP or SL_X_ERROR; r ends in JSON form. */
int sl_xchain_run(sl_xchain *x, sl_xrec *r, char *errstr, size_t errsz);
void sl_xrec_clear(sl_xrec *r);
/* Key or value as the JsonConverter writes it: {"schema":..,"payload":..} when schemas and a schema
 * exist, else the payload; "null" for none. Returns a malloc'd string. */
char *sl_xrec_encode(const json_t *schema, const json_t *payload, bool schemas);

/* Writes docs/transforms.md's generated part: every type's and predicate's option table. */
void sl_xform_doc(FILE *out);

/* ---- helpers shared by transform types ---- */

/* The Connect schema of field `name` in struct schema s, or NULL. */
json_t *sl_schema_field(const json_t *s, const char *name);
/* Removes field `name` from struct schema s (no-op when absent). */
void sl_schema_del_field(json_t *s, const char *name);
/* Appends (or replaces) field `name` with schema `fs` (new reference taken over) in struct schema s. */
void sl_schema_put_field(json_t *s, const char *name, json_t *fs);
/* A new primitive field schema {"type": type, "optional": optional} (name/version/params may be added). */
json_t *sl_schema_prim(const char *type, bool optional);
/* The view's schema helpers, as the JSON ones above (s thawed by the caller before a change). */
sl_val *sl_vschema_field(sl_vheap *h, sl_val *s, const char *name);
void sl_vschema_del_field(sl_vheap *h, sl_val *s, const char *name);
/* fs: not frozen (it gets a "field" member). */
void sl_vschema_put_field(sl_vheap *h, sl_val *s, const char *name, sl_val *fs);
sl_val *sl_vschema_prim(sl_vheap *h, const char *type, bool optional);
/* Appends v as compact JSON (object keys in their order; doubles in the shortest form that reads back
 * the same, as Java prints them). NULL writes null. */
void sl_json_put(sl_buf *out, const json_t *v);

#endif
