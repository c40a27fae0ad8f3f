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
 *   j<json>    document, array, binary and anything else: canonical extended JSON
 *   o<hex>     ObjectId (24 lowercase hex digits)
 *   b<0|1>     boolean
 *   d<ms>      date (milliseconds since the epoch)
 */
#ifndef SL_MONGO_MKEY_H
#define SL_MONGO_MKEY_H
#include "util/buf.h"
#include <bson/bson.h>
#include <stdbool.h>

/* Appends the typed text of the value at it. */
void sl_mkey_put(const bson_iter_t *it, sl_buf *out);
/* Appends the value of typed text t (n bytes) to d as field key; false when t is not such a text. */
bool sl_mkey_append(bson_t *d, const char *key, const char *t, size_t n);
/* Appends doc less its _id as relaxed extended JSON ({} when nothing else). */
void sl_mdoc_put(const bson_t *doc, sl_buf *out);

#endif
