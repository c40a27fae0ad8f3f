/*
 * Decoder for the pgoutput logical replication protocol (protocol versions
 * 1 and 2): one call decodes one message (the payload of an XLogData
 * message) into a struct whose strings and cell values point into the input
 * buffer. Every length is checked against the buffer before it is read; a
 * malformed message is an error, never a crash. Pure: no I/O, no global
 * state, so it is unit-tested on captured bytes and fuzzed.
 */
#ifndef SL_SOURCE_PG_PGOUTPUT_H
#define SL_SOURCE_PG_PGOUTPUT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/record.h"

/* Hard limits: anything above is rejected as malformed. */
#define SL_PGO_MAX_COLS 1664 /* PostgreSQL's MaxTupleAttributeNumber */
#define SL_PGO_MAX_TRUNC_RELS 65536

typedef struct sl_pgo_col {
    uint8_t flags;        /* 1 = part of the key */
    const char *name;
    uint32_t type_oid;
    int32_t typmod;
} sl_pgo_col;

/* A tuple: ncols cells; 'n' -> SL_CELL_NULL, 'u' -> SL_CELL_UNCHANGED, 't' -> text, 'b' -> binary (kept as data). */
typedef struct sl_pgo_tuple {
    int ncols;
    sl_cell *cells;
} sl_pgo_tuple;

typedef struct sl_pgo_msg {
    char kind;            /* 'B','C','O','R','Y','I','U','D','T','M','S','E','c','A' */
    uint32_t xid;         /* streamed transactions (v2): xid prefix of the message, else 0 */
    union {
        struct { uint64_t final_lsn; int64_t commit_ts; uint32_t xid; } begin;
        struct { uint8_t flags; uint64_t commit_lsn, end_lsn; int64_t commit_ts; } commit;
        struct { uint64_t lsn; const char *name; } origin;
        struct {
            uint32_t relid;
            const char *nspname, *relname;
            char replident;
            int ncols;
            sl_pgo_col *cols;
        } relation;
        struct { uint32_t oid; const char *nspname, *typname; } type;
        /* 'I','U','D': old is filled for U with 'K'/'O' and for D; old_kind tells which. */
        struct {
            uint32_t relid;
            char old_kind;    /* 'K' (key only), 'O' (full old row) or 0 */
            sl_pgo_tuple old, new_;
        } change;
        struct { int nrels; uint8_t options; uint32_t *relids; } truncate;
        struct {
            uint8_t flags;    /* 1 = transactional */
            uint64_t lsn;
            const char *prefix;
            const char *content;
            uint32_t len;
        } message;
        struct { uint32_t xid; uint8_t first; } stream_start;
        struct { uint32_t xid; uint8_t flags; uint64_t commit_lsn, end_lsn; int64_t commit_ts; } stream_commit;
        struct { uint32_t xid, subxid; } stream_abort;
    } u;
} sl_pgo_msg;

/* Growable arrays reused across calls (cells, columns, relids). */
typedef struct sl_pgo_scratch {
    sl_cell *cells;
    int cells_cap;
    sl_pgo_col *cols;
    int cols_cap;
    uint32_t *relids;
    int relids_cap;
} sl_pgo_scratch;

void sl_pgo_scratch_free(sl_pgo_scratch *s);

/*
 * Decodes buf[0..len). in_stream: inside a Stream Start/Stop block of
 * protocol version 2, where data messages carry a leading xid.
 * Returns 0, or -1 with errstr naming what is malformed (message kind and offset).
 */
int sl_pgo_decode(const char *buf, size_t len, bool in_stream, sl_pgo_msg *out, sl_pgo_scratch *scratch,
                  char *errstr, size_t errstr_size);

/* PostgreSQL epoch (2000-01-01) microseconds to Unix epoch microseconds. */
#define SL_PG_EPOCH_OFFSET_US 946684800000000LL

#endif
