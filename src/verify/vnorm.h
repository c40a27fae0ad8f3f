/*
 * sluice verify's normalisation: when a source value and a target value are
 * the same, by the kind of the source column (core/vside.h). Pure: no I/O.
 *
 *   int     by value (t/true/f/false count as 1/0: booleans kept as integers)
 *   dec     by value (1.50 = 1.5, -0 = 0); within the smaller known scale of
 *           the two columns, rounded half up or truncated
 *   float   by value at the column's precision (single: the same 6 significant
 *           digits, as MariaDB writes a FLOAT, or within 1e-6; double: within
 *           1e-12, relative); NaN equals NaN
 *   bool    t/true/1/y/yes/on against f/false/0/n/no/off
 *   bytes   lowercase hex ("\x" prefix ignored)
 *   date    the calendar day
 *   time, ts, tstz   microseconds (tstz: in UTC, from the text's offset),
 *           compared at the coarser of the two columns' fractional digits
 *           (truncated or rounded: a target that keeps milliseconds holds
 *           either)
 *   json    parsed: object member order does not count, array order does
 *   mkey    a MongoDB _id as typed text (mongo/mkey.h): numbers by value
 *   doc     a document less its _id: member by member as query rows (sl_vnorm_rows_same)
 *   uuid    case does not count
 *   text    the bytes
 * A value that does not read as its kind is compared by its bytes.
 */
#ifndef SL_VERIFY_VNORM_H
#define SL_VERIFY_VNORM_H
#include "core/vside.h"
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>

/* True when source value a of column sc and target value b of column tc are the same (NULL: SQL null). */
bool sl_vnorm_equal(const sl_vcol *sc, const char *a, size_t an, const sl_vcol *tc, const char *b, size_t bn);
/* Orders two key values of one kind (NULL first): <0, 0, >0. */
int sl_vnorm_cmp(const sl_vcol *c, const char *a, size_t an, const sl_vcol *tc, const char *b, size_t bn);
/* Two JSON texts that differ: appends the path of their first difference (".a.b[2]"; "" for the whole value)
 * and returns true, or false when either is not JSON. */
bool sl_vnorm_json_diff_path(const char *a, size_t an, const char *b, size_t bn, sl_buf *path);
/*
 * Query pairs: two rows (JSON objects: a SQL row by column name, a document as relaxed extended JSON) are the
 * same when each member is, whatever their order: numbers by value (exact decimals, else within 1e-9 relative:
 * a sum of doubles), $numberDecimal / $numberLong as numbers, booleans against 1 / 0, $date against timestamp
 * text (in UTC, to the millisecond), $oid against its hex text, a JSON column's text against a sub-document,
 * objects member by member, arrays in order; a missing member is a null unless strict_missing. False (appending the path of the first difference to path)
 * when they differ or either is not JSON.
 */
bool sl_vnorm_rows_same(const char *a, size_t an, const char *b, size_t bn, bool strict_missing, sl_buf *path);
/* The kind's name: "int", "dec", ... */
const char *sl_ckind_name(sl_ckind k);

#endif
