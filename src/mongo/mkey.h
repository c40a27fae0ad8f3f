/*
 * Documents as sluice verify reads them (core/vside.h), shared by the
 * MongoDB source and sink sides: an _id as typed text (SL_CK_MKEY: a type
 * letter and the value, ordered as MongoDB orders _id values, see
 * verify/vnorm.c) and back, and a whole document less its _id as relaxed
 * extended JSON.
 *
 *   z          null
 *   n<number>  int32, int64, double, decimal128 (as written: 42, -1.5, 1E+3)
 *   s<bytes>   string
 *   j<json>    document, array, binary and anything else: its canonical extended JSON
 *   o<hex>     ObjectId (24 lowercase hex digits)
 *   b<0|1>     boolean
 *   d<ms>      date (milliseconds since the epoch)
 */
#ifndef SL_MONGO_MKEY_H
#define SL_MONGO_MKEY_H
#include "util/buf.h"
#include <mongoc/mongoc.h>
#include <stdbool.h>

/*
 * The field the MongoDB sink marks each write with when it has an origin (replication.origin.name):
 * "<origin>/<ms>-<n>" (milliseconds of the write, a counter), "/d" appended on the update that precedes a
 * delete. A MongoDB source with the origin in its skipped.origins leaves those writes out (no echo in a two-way
 * sync). Fields named "__sluice..." are sluice's: never data (verify and unembed leave them out).
 */
#define SL_MONGO_ORIGIN_FIELD "__sluice_origin"

/* Appends the value at it alone as extended JSON (canonical or relaxed). */
void sl_mvalue_json(const bson_iter_t *it, bool canonical, sl_buf *out);
/* Appends the typed text of the value at it. */
void sl_mkey_put(const bson_iter_t *it, sl_buf *out);
/* Appends the value of typed text t (n bytes) to d as field key; false when t is not such a text. */
bool sl_mkey_append(bson_t *d, const char *key, const char *t, size_t n);
/* Appends doc less its _id (and the origin mark) as relaxed extended JSON ({} when nothing else). */
void sl_mdoc_put(const bson_t *doc, sl_buf *out);

/* A find of db.coll matching filter with opts (a sort, a projection: verify's reads), 1000 documents a batch; NULL
 * with errstr. */
mongoc_cursor_t *sl_mread_find(mongoc_client_t *client, const char *db, const char *coll, const bson_t *filter,
                               bson_t *opts, char *errstr, size_t errsz);
/* Query pairs: a read-only query of the store given as JSON, {"collection", "database"?, "filter"?,
 * "projection"?, "sort"?, "limit"?} or {"collection", "database"?, "aggregate": [stages]} (no $out, no $merge);
 * db: the database when the query names none. NULL with errstr. */
mongoc_cursor_t *sl_mread_query(mongoc_client_t *client, const char *db, const char *spec, char *errstr, size_t errsz);
/* A document as relaxed extended JSON (a query's row). */
void sl_mread_json(const bson_t *doc, sl_buf *out);
/* The next document of a find of db.coll: 1 with *doc, 0 at the end, -1 with errstr. */
int sl_mread_next(mongoc_cursor_t *cursor, const bson_t **doc, const char *db, const char *coll, char *errstr,
                  size_t errsz);

#endif
