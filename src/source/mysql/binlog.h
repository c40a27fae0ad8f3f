/*
 * Pure parsers of binlog events that sluice reads itself (the rest comes
 * parsed from Connector/C): TABLE_MAP, ROTATE and the checksum setting of
 * FORMAT_DESCRIPTION. Bounds-checked, fuzzed.
 */
#ifndef SL_SOURCE_MYSQL_BINLOG_H
#define SL_SOURCE_MYSQL_BINLOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The common header of every binlog event (v4): timestamp 4, type 1, server id 4, event length 4
 * (header, body and checksum), next position 4, flags 2. */
#define SL_MY_EVENT_HEADER_LEN 19
#define SL_MY_EVENT_ARTIFICIAL_F 0x20 /* LOG_EVENT_ARTIFICIAL_F: made up by the server, not in a binlog */

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

/* A ROTATE event: the binlog file (and position in it) the events after it come from. */
typedef struct sl_my_rotate {
    uint64_t pos;
    char file[256];
    bool fake; /* sent by the server at the start of a dump and after each file, not read from a binlog */
} sl_my_rotate;

/* Parses a whole ROTATE event from ev (len bytes from its 19-byte header on): an 8-byte position, then
 * the file name up to the end of the event (its header's length) less checksum_len bytes of checksum
 * (4 while CRC32 is in effect, else 0; see sl_my_fde_checksum_len). The name must end in .NNNNNN as
 * binlog names do. 0, or -1 with errstr. */
int sl_my_rotate_parse(const uint8_t *ev, size_t len, int checksum_len, sl_my_rotate *out, char *errstr,
                       size_t errstr_size);

/* The checksum length of the events after a FORMAT_DESCRIPTION event (and of the fake ROTATE the server
 * sends after that file): 4 for CRC32, 0 for none, from the whole event (len bytes from its header on),
 * or -1 with errstr when it is malformed. */
int sl_my_fde_checksum_len(const uint8_t *ev, size_t len, char *errstr, size_t errstr_size);

#endif
