/*
 * Built-in PostgreSQL types (OIDs from pg_type) mapped to sluice's logical
 * column types, the way Debezium's PostgreSQL connector maps them. One
 * static table row per scalar type, with the OID of its array type, so that
 * arrays are found by the same lookup. The typmod decoding (numeric
 * precision/scale, fractional-second digits, varchar/bpchar/bit lengths)
 * follows PostgreSQL's own typmod layouts, which is also what the JDBC
 * driver reports to Debezium.
 */
#include "source/pg/pgtypes.h"
#include "util/mem.h"
#include <stddef.h>

typedef enum { TM_NONE, TM_NUMERIC, TM_FRAC, TM_INTERVAL, TM_VARLEN, TM_BITS, TM_FIXED } typmod_kind;

typedef struct pg_type_row {
    uint32_t oid, array_oid;
    const char *name, *array_name;
    sl_ctype type;
    typmod_kind tm;
    int fixed_len; /* TM_FIXED: length; otherwise unused */
} pg_type_row;

static const pg_type_row pg_types[] = {
    {16, 1000, "bool", "_bool", SL_T_BOOL, TM_NONE, 0},
    {17, 1001, "bytea", "_bytea", SL_T_BYTES, TM_NONE, 0},
    {18, 1002, "char", "_char", SL_T_STRING, TM_FIXED, 1},
    {19, 1003, "name", "_name", SL_T_STRING, TM_FIXED, 63},
    {20, 1016, "int8", "_int8", SL_T_INT64, TM_NONE, 0},
    {21, 1005, "int2", "_int2", SL_T_INT16, TM_NONE, 0},
    {23, 1007, "int4", "_int4", SL_T_INT32, TM_NONE, 0},
    {25, 1009, "text", "_text", SL_T_STRING, TM_NONE, 0},
    {26, 1028, "oid", "_oid", SL_T_INT64, TM_NONE, 0},
    {114, 199, "json", "_json", SL_T_JSON, TM_NONE, 0},
    {142, 143, "xml", "_xml", SL_T_XML, TM_NONE, 0},
    {650, 651, "cidr", "_cidr", SL_T_STRING, TM_NONE, 0},
    {700, 1021, "float4", "_float4", SL_T_FLOAT32, TM_NONE, 0},
    {701, 1022, "float8", "_float8", SL_T_FLOAT64, TM_NONE, 0},
    {774, 775, "macaddr8", "_macaddr8", SL_T_STRING, TM_NONE, 0},
    {600, 1017, "point", "_point", SL_T_GEOMETRY, TM_NONE, 0}, /* io.debezium.data.geometry.Point */
    {790, 791, "money", "_money", SL_T_MONEY, TM_NONE, 0},
    {829, 1040, "macaddr", "_macaddr", SL_T_STRING, TM_NONE, 0},
    {869, 1041, "inet", "_inet", SL_T_STRING, TM_NONE, 0},
    {1042, 1014, "bpchar", "_bpchar", SL_T_STRING, TM_VARLEN, 0},
    {1043, 1015, "varchar", "_varchar", SL_T_STRING, TM_VARLEN, 0},
    {1082, 1182, "date", "_date", SL_T_DATE, TM_NONE, 0},
    {1083, 1183, "time", "_time", SL_T_TIME, TM_FRAC, 0},
    {1114, 1115, "timestamp", "_timestamp", SL_T_TIMESTAMP, TM_FRAC, 0},
    {1184, 1185, "timestamptz", "_timestamptz", SL_T_TIMESTAMPTZ, TM_FRAC, 0},
    {1186, 1187, "interval", "_interval", SL_T_INTERVAL, TM_INTERVAL, 0},
    {1266, 1270, "timetz", "_timetz", SL_T_TIMETZ, TM_FRAC, 0},
    {1560, 1561, "bit", "_bit", SL_T_BIT, TM_BITS, 0},
    {1562, 1563, "varbit", "_varbit", SL_T_BIT, TM_BITS, 0},
    {1700, 1231, "numeric", "_numeric", SL_T_NUMERIC, TM_NUMERIC, 0},
    {2950, 2951, "uuid", "_uuid", SL_T_UUID, TM_NONE, 0},
    {3614, 3643, "tsvector", "_tsvector", SL_T_STRING, TM_NONE, 0}, /* io.debezium.data.Tsvector */
    {3802, 3807, "jsonb", "_jsonb", SL_T_JSON, TM_NONE, 0},
};

enum { NTYPES = sizeof pg_types / sizeof pg_types[0] };

/* The row whose scalar or array OID is oid; *is_array tells which. */
static const pg_type_row *find_row(uint32_t oid, bool *is_array) {
    for (size_t i = 0; i < NTYPES; i++) {
        if (pg_types[i].oid == oid || pg_types[i].array_oid == oid) {
            *is_array = pg_types[i].array_oid == oid;
            return &pg_types[i];
        }
    }
    return NULL;
}

/*
 * Precision/scale/length from the typmod. Array columns carry their
 * element's typmod (numeric(10,2)[] has the numeric typmod), so the same
 * decoding serves both.
 */
static void apply_typmod(const pg_type_row *t, int32_t typmod, sl_column *c) {
    c->precision = -1, c->scale = -1, c->length = -1;
    switch (t->tm) {
    case TM_NUMERIC:
        if (typmod >= 4) {
            /* PostgreSQL 15 stores the scale as 11-bit two's complement
             * (negative scales); for 0..1000 this equals (typmod-4)&0xffff. */
            c->precision = (int)(((uint32_t)(typmod - 4) >> 16) & 0xffff);
            c->scale = (int)((((uint32_t)(typmod - 4) & 0x7ff) ^ 1024)) - 1024;
        }
        break;
    case TM_FRAC: c->scale = typmod >= 0 ? typmod : 6; break;
    case TM_INTERVAL: {
        int p = typmod >= 0 ? (typmod & 0xffff) : 0xffff;
        c->scale = p == 0xffff ? 6 : p; /* INTERVAL_FULL_PRECISION: not given */
        break;
    }
    case TM_VARLEN: c->length = typmod >= 4 ? typmod - 4 : -1; break;
    case TM_BITS: c->length = typmod >= 0 ? typmod : -1; break;
    case TM_FIXED: c->length = t->fixed_len; break;
    case TM_NONE: break;
    }
    switch (t->type) {
    case SL_T_INT16: c->precision = 5, c->scale = 0; break;
    case SL_T_INT32: c->precision = 10, c->scale = 0; break;
    case SL_T_INT64: c->precision = t->oid == 26 ? 10 : 19, c->scale = 0; break;
    case SL_T_FLOAT32: c->precision = 8; break;
    case SL_T_FLOAT64: c->precision = 17; break;
    case SL_T_MONEY: c->scale = 2; break; /* lc_monetary C: two fraction digits */
    case SL_T_BOOL: c->length = 1; break;
    default: break;
    }
}

bool sl_pg_type_map(uint32_t oid, int32_t typmod, sl_column *c) {
    bool is_array = false;
    const pg_type_row *t = find_row(oid, &is_array);
    if (!t) {
        c->type = SL_T_UNKNOWN;
        return false;
    }
    apply_typmod(t, typmod, c);
    c->type = is_array ? SL_T_ARRAY : t->type;
    c->elem = is_array ? t->type : SL_T_UNKNOWN;
    c->type_name = sl_strdup(is_array ? t->array_name : t->name);
    return true;
}

uint32_t sl_pg_array_elem(uint32_t array_oid) {
    bool is_array = false;
    const pg_type_row *t = find_row(array_oid, &is_array);
    return t && is_array ? t->oid : 0;
}
