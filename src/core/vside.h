/*
 * One side of `sluice verify` (src/verify): a read-only view of a store's
 * tables, read in one consistent snapshot where the store has them. A source
 * gives one over its database (the tables it captures, as it would capture
 * them), a sink over its target (where each source table's rows went).
 *
 * Rows are read in key order: numbers by value, text by its bytes (the "C" /
 * binary collation), so that both sides of a pair come in the same order and
 * can be merged in one pass with bounded memory. Values come as text in the
 * store's own rendering (bytes as lowercase hex); verify's normalisation
 * (verify/vnorm.h) makes the two sides' texts comparable by the column's kind.
 *
 * Verify writes nothing through a side. The one optional write op serves the
 * conflict resolution of a two-way sync (sluice migrate, src/migrate).
 */
#ifndef SL_CORE_VSIDE_H
#define SL_CORE_VSIDE_H
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a column's values are, as verify compares them (from the source column's type). */
typedef enum {
    SL_CK_TEXT,  /* bytes as they are */
    SL_CK_INT,   /* an integer (also booleans kept as 0/1) */
    SL_CK_DEC,   /* an exact decimal: compared by value, within the scale */
    SL_CK_FLOAT, /* binary floating point: compared at its precision (single: float4 / FLOAT) */
    SL_CK_BOOL,
    SL_CK_BYTES, /* lowercase hex */
    SL_CK_DATE,
    SL_CK_TIME,  /* time of day (or a MySQL TIME duration) */
    SL_CK_TS,    /* a timestamp without a zone */
    SL_CK_TSTZ,  /* an instant: text with an offset, compared in UTC */
    SL_CK_JSON,  /* compared as parsed JSON (object member order does not count) */
    SL_CK_UUID,  /* case does not count */
    SL_CK_TIMETZ,   /* a time of day with an offset: compared in UTC */
    SL_CK_INTERVAL, /* a duration: compared in microseconds, a month as 30.4375 days (Debezium's MicroDuration) */
    SL_CK_HSTORE,   /* PostgreSQL hstore text against the JSON object Debezium makes of it */
    SL_CK_BITS,     /* a bit string (text of 0 and 1, or raw bytes): compared as a number */
    SL_CK_ARRAY,    /* a PostgreSQL array literal, or the JSON array a target without arrays holds */
    SL_CK_POINT,    /* a point: "(x,y)" text or WKB (with MariaDB's 4-byte SRID before it) */
    SL_CK_GEOMETRY, /* WKB, raw or hex, with or without MariaDB's 4-byte SRID before it */
    SL_CK_MKEY,     /* a MongoDB _id as typed text (mongo/mkey.h), ordered as MongoDB orders _id values */
    SL_CK_DOC,      /* a document (less its _id) as JSON: compared member by member as query rows are */
} sl_ckind;

typedef struct sl_vcol {
    char name[128]; /* as this side spells it */
    sl_ckind kind;
    int scale;      /* decimals: the scale; times: fractional-second digits; -1 unknown */
    bool single;    /* SL_CK_FLOAT of single precision */
    bool hex;       /* the column holds bytes: read as lowercase hex */
    /* Set by the mapping (sl_vmap_fn) of rows embedded in documents: */
    bool parent;    /* the value is the parent document's (name: a path in it), not the embedded row's */
    bool required;  /* a source row with a null here does not reach the target (it has no parent) */
} sl_vcol;

/* A table of one side. Key columns come first (nkeys of them, in key order). */
typedef struct sl_vtable {
    char schema[128];  /* what qualifies the table on its server: schema (PostgreSQL) or database (MariaDB); ""
                        * the connection's */
    char db[128];      /* sources: the database (the source block's db) */
    char table[128];
    char topic[384];   /* sources: the topic its records go to */
    int ncols, nkeys;
    sl_vcol *cols;     /* sl_malloc'ed */
    int *src_col;      /* targets, and a mapped source table: for each column, the index of the source column it
                        * holds (-1: none; sl_malloc'ed) */
    /* What the stage between source and sink makes of the table's records (sl_vmap_fn), which the sink's
     * target() reads: */
    bool transformed;  /* records reach the sink through transforms: topic is the one they end with */
    bool flat;         /* the value is the row itself (unwrapped), not a change event */
    char deleted[128]; /* a field that holds "true" in the rows of deleted keys (unwrap's rewrite mode); "" none */
    bool documents;    /* rows are whole documents (a MongoDB source): an _id column (SL_CK_MKEY) and "$$ROOT",
                        * the document less its _id as JSON (SL_CK_DOC); a SQL target's table of them is read as
                        * its key (as typed text) and its other columns as one JSON object */
    bool docs;         /* the transforms write documents themselves: column names are paths in them, the topic
                        * names the collection */
    char within[128];  /* docs: the path of the array, sub-document (within_kind) that holds each row in its
                        * parent document, "" the documents themselves; merged: the row's fields are the parent's */
    int within_kind;   /* SL_VW_* */
    int layout;        /* targets: how the target holds the table's keys (the sink's own note for its scans) */
} sl_vtable;

enum { SL_VW_ARRAY = 1, SL_VW_OBJECT, SL_VW_MERGE };

void sl_vtable_clear(sl_vtable *t);
/* A deep copy of t (src_col: identity when t has none). */
void sl_vtable_copy(sl_vtable *dst, const sl_vtable *t);
/*
 * A MongoDB _id as a SQL target holds it (a column of kind k: JSON holds mongo-kafka's extended JSON, {"$oid":
 * ..} and the like; text a string; numbers a number) and back as typed text (SL_CK_MKEY): appends it to out.
 * False when the value has no such form.
 */
bool sl_mkey_from_sql(sl_ckind k, const char *v, size_t n, sl_buf *out);
bool sl_mkey_to_sql(sl_ckind k, const char *t, size_t n, sl_buf *out);

/* The index of column `name` in t, or -1. */
int sl_vtable_col(const sl_vtable *t, const char *name);
/* Removes column i (and its src_col). */
void sl_vtable_drop(sl_vtable *t, int i);

/*
 * How the records of a captured table reach the sink (the connector's transforms): maps t in place (column
 * names as the sink sees them, columns it does not get removed, src_col kept; topic, flat, deleted). 0, or -1
 * with errstr when the mapping cannot be followed (the pair cannot be compared).
 */
typedef struct sl_vmap {
    int (*fn)(void *arg, sl_vtable *t, char *errstr, size_t errsz);
    void *arg;
} sl_vmap;

struct sl_column;
struct sl_table;
/* The kind of a captured column's values (scale: fraction digits or decimal scale, -1 unknown). */
sl_ckind sl_ckind_of(const struct sl_column *c, int *scale, bool *single);
/* A captured table as a verify table: key columns first. */
int sl_vtable_of(const struct sl_table *t, sl_vtable *out);

typedef struct sl_vside sl_vside;

typedef struct sl_vside_ops {
    /* Sources: the tables captured (sl_malloc'ed array, each to sl_vtable_clear). */
    int (*tables)(sl_vside *v, sl_vtable **out, int *n, char *errstr, size_t errsz);
    /* Sinks: where the rows of source table src go, with the target's columns that hold source columns (an
     * absent table: 0 with out->ncols == 0). */
    int (*target)(sl_vside *v, const sl_vtable *src, sl_vtable *out, char *errstr, size_t errsz);
    /* Starts reading t's rows (its columns, in that order) in key order. */
    int (*scan)(sl_vside *v, const sl_vtable *t, char *errstr, size_t errsz);
    /* Starts reading the rows of t whose key columns equal one of nrows tuples (keys: nrows * t->nkeys values as
     * text, in key order), in key order. */
    int (*scan_keys)(sl_vside *v, const sl_vtable *t, const char *const *keys, const size_t *lens, size_t nrows,
                     char *errstr, size_t errsz);
    /* Ends the snapshot and reads from a new one (the rechecks of keys that differed). */
    int (*refresh)(sl_vside *v, char *errstr, size_t errsz);
    /* The next row of the scan: 1 with vals/lens (NULL value: SQL null; valid until the next call), 0 at the
     * end, -1 with errstr. */
    int (*next)(sl_vside *v, const char *const **vals, const size_t **lens, char *errstr, size_t errsz);
    /* Query pairs: starts one read-only query of the store, whose rows next() then gives, one value each: the
     * row as a JSON object (SQL stores: q is the SQL text, read in the snapshot; MongoDB: q is a JSON object,
     * {"collection", "filter", "projection", "sort", "limit"} or {"collection", "aggregate": [stages]}, a row
     * a document as relaxed extended JSON). NULL: the side has no queries. */
    int (*query)(sl_vside *v, const char *q, char *errstr, size_t errsz);
    /* Optional (levels): the rows of t (its first key column an integer) whose first key lies in [lo, hi]
     * (decimal text; NULL: unbounded): how many, the sum of their row hashes (decimal text) and their smallest
     * and largest first key ("" when none). Two sides' sums are comparable when their `hashes` names are equal
     * (the server's own text of each column), or when both hash with norm (each column's normal form, which is
     * the same text on every server that has norm_hashes). 1 when t cannot be hashed with norm here (a column
     * without a normal form). */
    int (*range_hash)(sl_vside *v, const sl_vtable *t, bool norm, const char *lo, const char *hi, long long *count,
                      char *sum, size_t sumsz, char *min, char *max, size_t msz, char *errstr, size_t errsz);
    /* Optional (levels): starts reading the rows of t whose first key lies in [lo, hi], in key order. */
    int (*scan_range)(sl_vside *v, const sl_vtable *t, const char *lo, const char *hi, char *errstr, size_t errsz);
    /* Optional (conflict resolution, src/migrate): writes the rows of t whose columns cols[0..n) (t's names; a
     * MongoDB side: t's key columns, cols unused) equal vals. SL_VWRITE_TOUCH writes each again unchanged, so
     * that the store logs a change of it which a sync reading the log carries again; SL_VWRITE_REMOVE deletes
     * them. origin: the write is that sync's own (PostgreSQL: its replication origin; MariaDB: its server id,
     * as text; MongoDB: its origin mark), so that a sync skipping the origin leaves it out; NULL: an ordinary write. The rows matched, or -1
     * with errstr. A snapshot in progress ends; the side reads from a new one afterwards. */
    long (*write)(sl_vside *v, const sl_vtable *t, int op, const char *const *cols, const char *const *vals,
                  const size_t *lens, int n, const char *origin, char *errstr, size_t errsz);
    /* Where the side stands: the source's position in its log at the snapshot (text; "" when unknown). */
    const char *(*position)(sl_vside *v);
    void (*close)(sl_vside *v);
} sl_vside_ops;

enum { SL_VWRITE_TOUCH = 1, SL_VWRITE_REMOVE };

/* A value a document does not have (the field is missing), as a side's next() gives it: not NULL (SQL null). */
extern const char sl_vmissing[];

struct sl_vside {
    const sl_vside_ops *ops;
    char what[640];     /* "PostgreSQL 127.0.0.1:5432 database app" */
    const char *hashes; /* range_hash's way of hashing a row (NULL: none): the same on both sides, or no levels */
    bool norm_hashes;   /* range_hash hashes normal forms too (norm) */
};

#endif
