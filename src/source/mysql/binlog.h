/*
 * Pure parsers of binlog event bodies that sluice reads itself (the rest
 * comes parsed from Connector/C): TABLE_MAP. Bounds-checked, fuzzed.
 */
#ifndef SL_SOURCE_MYSQL_BINLOG_H
#define SL_SOURCE_MYSQL_BINLOG_H
#include <stddef.h>
#include <stdint.h>

/* A TABLE_MAP body, with pointers into the parsed buffer. */
typedef struct sl_my_tmap {
    uint64_t table_id;
    char db[256], table[256];
    int ncols;
    const uint8_t *types;     /* ncols bytes */
    const uint8_t *meta;      /* meta_len bytes */
    size_t meta_len;
    const uint8_t *nulls;     /* (ncols + 7) / 8 bytes */
    const uint8_t *opt;       /* optional metadata, opt_len bytes (may be 0) */
    size_t opt_len;
} sl_my_tmap;

/* Parses a TABLE_MAP event body (after the 19-byte header, without checksum). 0 or -1 with errstr. */
int sl_my_tmap_parse(const uint8_t *body, size_t len, sl_my_tmap *out, char *errstr, size_t errstr_size);

#endif
