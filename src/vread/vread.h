/*
 * Readers for sluice verify (core/vside.h) on a connection a source or sink
 * opened: a read-only snapshot, and one table's rows in key order, streamed
 * (a server-side cursor on PostgreSQL, an unbuffered result on MariaDB), so
 * memory stays bounded whatever the table's size. Used by the PostgreSQL and
 * MariaDB sources and by the SQL sink's two dialects.
 */
#ifndef SL_VREAD_VREAD_H
#define SL_VREAD_VREAD_H
#include "core/vside.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct vread vread; /* a scan in progress */

/* A verify side over one PostgreSQL or MariaDB connection (the first member of a source's or sink's side): the
 * scan, next and position ops; its owner adds tables or target, and close (which calls vread_side_close). */
typedef struct vread_side {
    sl_vside base;
    void *conn; /* PGconn or MYSQL, the owner's */
    bool pg;
    char pos[300];
    vread *scan;
    sl_buf norm;   /* the normal forms of norm_of's columns (range_hash with norm) */
    char *norm_of; /* "schema.table.ncols" */
} vread_side;

/* Starts the snapshot on s->conn and keeps its position: PostgreSQL (UTC, ISO dates, exact floats) REPEATABLE READ
 * READ ONLY and the WAL insert position; MariaDB/MySQL (time_zone +00:00) WITH CONSISTENT SNAPSHOT, READ ONLY and
 * the snapshot's binlog file:position. */
int vread_side_begin(vread_side *s, char *errstr, size_t errsz);
int vread_side_scan(sl_vside *v, const sl_vtable *t, char *errstr, size_t errsz);
int vread_side_next(sl_vside *v, const char *const **vals, const size_t **lens, char *errstr, size_t errsz);
const char *vread_side_position(sl_vside *v);
int vread_side_scan_keys(sl_vside *v, const sl_vtable *t, const char *const *keys, const size_t *lens, size_t nrows,
                         char *errstr, size_t errsz);
/* Query pairs: q (a SELECT) through a cursor in the snapshot; each row a JSON object by the result's column
 * names (numbers and booleans as such, json columns as JSON, everything else as strings). */
int vread_side_query(sl_vside *v, const char *q, char *errstr, size_t errsz);
/* Levels (core/vside.h range_hash, scan_range): count and md5-based sum of the rows of a key range (norm: of
 * their columns' normal forms, the same on PostgreSQL and MariaDB), and the rows of a key range. */
int vread_side_range_hash(sl_vside *v, const sl_vtable *t, bool norm, const char *lo, const char *hi, long long *count,
                          char *sum, size_t sumsz, char *min, char *max, size_t msz, char *errstr, size_t errsz);
int vread_side_scan_range(sl_vside *v, const sl_vtable *t, const char *lo, const char *hi, char *errstr, size_t errsz);
/* core/vside.h write (PostgreSQL: touch and remove; MariaDB: remove). */
long vread_side_write(sl_vside *v, const sl_vtable *t, int op, const char *const *cols, const char *const *vals,
                      const size_t *lens, int n, const char *origin, char *errstr, size_t errsz);
/* Ends the snapshot and starts a new one (and a new position). */
int vread_side_refresh(sl_vside *v, char *errstr, size_t errsz);
/* Ends a scan still open. */
void vread_side_end(vread_side *s);
/* Ends a scan still open and frees what s holds (before the owner closes its connection). */
void vread_side_close(vread_side *s);

#endif
