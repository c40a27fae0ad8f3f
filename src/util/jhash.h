/*
 * Java's java.util.HashMap iteration order for string keys.
 *
 * Debezium fills several JSON objects and arrays from a HashMap (hstore
 * values through pgjdbc's HStoreConverter, a transaction's per-table event
 * counts), so their order is the map's bucket order: String.hashCode over
 * UTF-16 code units, spread as h ^ (h >>> 16), bucket hash & (capacity - 1)
 * with the capacity doubling from 16 while size > 0.75 * capacity, and
 * insertion order inside a bucket (resizes keep it). Bins that Java would
 * turn into trees (8+ colliding keys) are not modelled.
 */
#ifndef SL_UTIL_JHASH_H
#define SL_UTIL_JHASH_H
#include <stddef.h>
#include <stdint.h>

/* String.hashCode() of UTF-8 text (invalid bytes count as U+FFFD, as Java's decoder makes them). */
int32_t sl_java_string_hash(const char *s, size_t n);
/* Fills order[0..n) with the indexes of the n distinct keys, in the order a
 * HashMap that had them put in index order iterates them. */
void sl_java_hashmap_order(const char *const *keys, const size_t *lens, int n, int *order);

#endif
