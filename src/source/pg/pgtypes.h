/*
 * PostgreSQL type OIDs to sluice's logical column types, following
 * Debezium's PostgreSQL type mapping. Custom types (enums, domains, arrays of
 * them) are resolved by the source from the catalog and then mapped here.
 */
#ifndef SL_SOURCE_PG_PGTYPES_H
#define SL_SOURCE_PG_PGTYPES_H
#include <stdbool.h>
#include <stdint.h>
#include "core/record.h"

/*
 * Fills c->type, c->elem, c->precision, c->scale, c->length and c->type_name
 * (sl_strdup'ed; freed by sl_table_unref) for a built-in type OID and its
 * typmod. Returns false (and leaves c->type = SL_T_UNKNOWN) when the OID is
 * not a built-in type this table knows.
 */
bool sl_pg_type_map(uint32_t oid, int32_t typmod, sl_column *c);
/* Element type OID of a built-in array type OID, or 0. */
uint32_t sl_pg_array_elem(uint32_t array_oid);

#endif
