/*
 * Decoder for MySQL/MariaDB binlog row images (the rows of WRITE/UPDATE/
 * DELETE_ROWS events), given the column types and metadata of the table's
 * TABLE_MAP event. Pure: no I/O, every length checked before it is read,
 * unit-tested on captured binlog bytes and fuzzed.
 *
 * Each present column becomes one sl_cell whose bytes are the value in the
 * canonical text form the Debezium encoder reads for the column's sl_ctype
 * (see "Cell forms" below); the text is written into the caller's arena.
 */
#ifndef SL_SOURCE_MYSQL_ROWIMAGE_H
#define SL_SOURCE_MYSQL_ROWIMAGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/record.h"
#include "util/arena.h"

#define SL_MY_MAX_COLS 4096

/* One column as the binlog describes it. */
/* sl_my_col.known: the binlog's optional metadata gave the column's signedness / charset. Without
   it (binlog_row_metadata=NO_LOG, or a server before MySQL 8.0.1 / MariaDB 10.5) they come from
   information_schema. */
#define SL_MY_KNOWN_SIGN 0x01
#define SL_MY_KNOWN_CHARSET 0x02

typedef struct sl_my_col {
    uint8_t type;          /* binlog type byte (MYSQL_TYPE_*); for MYSQL_TYPE_STRING the real type
                              (ENUM/SET/STRING) recovered from the metadata */
    uint16_t meta;         /* type metadata (length bytes, precision/scale, fsp, ...) */
    bool is_unsigned;      /* from the optional SIGNEDNESS metadata */
    bool nullable;         /* from the table map's null bitmap */
    bool binary;           /* BINARY/VARBINARY/BLOB (charset 63) rather than text */
    uint32_t charset;      /* collation id (e.g. 45 utf8mb4_general_ci, 8 latin1, 63 binary), 0 unknown */
    uint8_t known;         /* SL_MY_KNOWN_*: what the optional metadata said of this column */
    const char *name;      /* from COLUMN_NAME optional metadata, or NULL */
    /* ENUM / SET labels in declaration order (from optional metadata or information_schema). */
    int nlabels;
    const char *const *labels;
} sl_my_col;

/*
 * Parses the metadata block of a TABLE_MAP event (one entry per column,
 * 0-2 bytes each depending on the type) into cols[i].meta, and fixes up
 * cols[i].type for MYSQL_TYPE_STRING columns that are really ENUM or SET.
 * Returns 0 or -1 with errstr.
 */
int sl_my_parse_meta(const uint8_t *types, int ncols, const uint8_t *meta, size_t meta_len, sl_my_col *cols,
                     char *errstr, size_t errstr_size);

/*
 * Parses the optional metadata of a TABLE_MAP event (binlog_row_metadata=
 * MINIMAL/FULL: SIGNEDNESS, DEFAULT_CHARSET, COLUMN_CHARSET, COLUMN_NAME,
 * SET_STR_VALUE, ENUM_STR_VALUE, GEOMETRY_TYPE, SIMPLE_PRIMARY_KEY,
 * ENUM_AND_SET_DEFAULT_CHARSET, ...) into cols; strings and label arrays are
 * allocated in arena. *pk_out (optional) receives a bitmap-free list of
 * primary key column indexes, *npk their count (0 when absent).
 */
int sl_my_parse_optional_meta(const uint8_t *p, size_t len, sl_my_col *cols, int ncols, sl_arena *arena,
                              int **pk_out, int *npk, char *errstr, size_t errstr_size);

/*
 * Decodes one row image starting at p (at most len bytes): a null bitmap
 * over the columns present in `present` (bit i of byte i/8 set: column i is
 * in the image), then each non-null present value. Fills cells[i] for every
 * present column (absent columns: flags SL_CELL_UNCHANGED, data NULL).
 * Returns the number of bytes consumed, or -1 with errstr naming the column
 * and what is wrong.
 */
long sl_my_decode_row(const sl_my_col *cols, int ncols, const uint8_t *present, int present_bits, const uint8_t *p,
                      size_t len, sl_arena *arena, sl_cell *cells, char *errstr, size_t errstr_size);

/* The sl_ctype a binlog column maps to (Debezium's MySQL mapping). */
sl_ctype sl_my_ctype(const sl_my_col *c);

/*
 * Cell forms (what sl_my_decode_row writes, by binlog type):
 *   TINY/SHORT/INT24/LONG/LONGLONG  decimal digits, '-' when negative (unsigned per is_unsigned)
 *   FLOAT / DOUBLE                  shortest round-trip decimal ("1.5", "-2.25E-10" form is fine: strtod-able),
 *                                   "NaN"/"Infinity"/"-Infinity" never occur in MySQL
 *   NEWDECIMAL                      decimal text "-123.450" with exactly `scale` fraction digits
 *   DATE / NEWDATE                  "YYYY-MM-DD" ("0000-00-00" for zero dates)
 *   TIME / TIME2                    "[-]H..H:MM:SS[.ffffff]" (hours may exceed 24; fraction per fsp)
 *   DATETIME / DATETIME2            "YYYY-MM-DD HH:MM:SS[.ffffff]"
 *   TIMESTAMP / TIMESTAMP2          "YYYY-MM-DD HH:MM:SS[.ffffff]+00" (UTC); zero timestamp: "0000-00-00 00:00:00+00"
 *   YEAR                            "YYYY" (0 for the zero year)
 *   BIT                             '0'/'1' characters, most significant bit first, length = bits (PostgreSQL's bit text form)
 *   ENUM                            the label (empty string for index 0)
 *   SET                             labels joined with ','
 *   VARCHAR/STRING/BLOB (text)      the bytes, converted to UTF-8 when the charset is latin1
 *   VARCHAR/STRING/BLOB (binary)    the raw bytes (the column's repr is SL_REPR_RAW)
 *   JSON (MariaDB: LONGTEXT)        the text
 *   GEOMETRY                        the raw bytes: 4-byte little-endian SRID, then WKB
 */

#endif
