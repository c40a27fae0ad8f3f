/* Debezium JSON encoder: column classification (which Debezium type mapping a column gets). */
#include "format/dbz_int.h"
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------
 * Column classification
 */

bool dbz_is_variable_numeric(const sl_column *c) { return c->precision <= 0 || c->scale < 0; }

/* MySQL fractional-second digits (the binlog fsp): Debezium's column length, -1/0 when none. */
int dbz_my_fsp(const sl_column *c) { return c->scale > 0 ? c->scale : 0; }

/* type_name is `name` ignoring case, maybe followed by "(..." or " ..." ("bigint(20) unsigned"). */
bool dbz_type_is(const sl_column *c, const char *name) {
    size_t n = strlen(name);
    return c->type_name && strncasecmp(c->type_name, name, n) == 0 &&
           (c->type_name[n] == 0 || c->type_name[n] == '(' || c->type_name[n] == ' ');
}

enum { MYSQL_TYPE_LONGLONG = 8 };

/*
 * BIGINT UNSIGNED, the type bigint.unsigned.handling.mode applies to (INT
 * UNSIGNED also maps to int64 but always stays a plain int64).
 */
bool dbz_is_my_ubigint(const sl_dbz_opts *o, const sl_column *c) {
    if (c->type != SL_T_INT64 || !c->is_unsigned || !dbz_is_binlog(o)) return false;
    return c->type_name ? dbz_type_is(c, "bigint") || dbz_type_is(c, "int8") : c->src_type == MYSQL_TYPE_LONGLONG;
}

/* POINT columns (MySQL POINT, PostgreSQL point) get io.debezium.data.geometry.Point, every other spatial type Geometry. */
bool dbz_is_my_point(const sl_column *c) {
    return (c->type == SL_T_GEOMETRY && dbz_type_is(c, "point")) ||
           (c->elem == SL_T_GEOMETRY && c->type_name && strcmp(c->type_name, "_point") == 0); /* point[] */
}

/*
 * PostgreSQL extension / text-search types that Debezium names (others of
 * SL_T_STRING are plain strings): a column of the type, or of an array of it
 * (type name "_hstore"; hstore[] and ltree[] only, as Debezium has them).
 */
dbz_pg_ext dbz_pg_ext_type(const sl_dbz_opts *o, const sl_column *c) {
    const char *n = c->type_name;
    if (!n || dbz_is_binlog(o) || !(c->type == SL_T_STRING || (c->type == SL_T_ARRAY && c->elem == SL_T_STRING)))
        return PGX_NONE;
    bool arr = n[0] == '_';
    if (strcmp(n + arr, "hstore") == 0) return PGX_HSTORE;
    if (strcmp(n + arr, "ltree") == 0) return PGX_LTREE;
    if (strcmp(n, "tsvector") == 0) return PGX_TSVECTOR;
    return PGX_NONE;
}

int dbz_frac_digits(const sl_column *c) { return c->scale >= 0 ? c->scale : 6; }

/* bit(n)/varbit(n) length as the JDBC driver reports it; unbounded varbit is Integer.MAX_VALUE. */
int64_t dbz_bits_length(const sl_column *c) {
    if (c->length >= 0) return c->length;
    if (c->src_type == OID_VARBIT || (c->type_name && strcmp(c->type_name, "varbit") == 0)) return 2147483647;
    return 1;
}

bool dbz_has_array_oid(const sl_column *c, uint32_t oid, const char *name) {
    return c->src_type == oid || (c->type_name && strcmp(c->type_name, name) == 0);
}

/*
 * Columns Debezium leaves out of the row: unknown types (with the default
 * include.unknown.datatypes=false) and the arrays PostgresValueConverter
 * has no schema for (money[], name[], interval[], varbit[], xml[]; bit[]
 * gets a non-array schema that then fails conversion). Nested arrays are
 * not a thing in PostgreSQL's type system.
 */
bool dbz_column_omitted(const sl_column *c) {
    if (c->type == SL_T_UNKNOWN) return true;
    if (c->type != SL_T_ARRAY) return false;
    switch (c->elem) {
    case SL_T_UNKNOWN:
    case SL_T_ARRAY:
    case SL_T_MONEY:
    case SL_T_INTERVAL:
    case SL_T_XML:
    case SL_T_GEOMETRY: /* point[] */
    case SL_T_BIT: return true;
    default: return dbz_has_array_oid(c, OID_NAME_ARR, "_name");
    }
}
