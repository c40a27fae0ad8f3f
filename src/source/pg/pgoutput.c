/*
 * pgoutput decoder: turns one logical replication message (protocol v1/v2,
 * PostgreSQL "Logical Replication Message Formats") into an sl_pgo_msg.
 *
 * The bytes come from the network, so they are untrusted: all reads go
 * through a small cursor that checks the remaining length first and records
 * the first error (kind and offset) in a sticky flag; later reads then return
 * zero without touching the buffer, which keeps each per-kind decoder a
 * straight sequence of reads. Strings must end with a NUL inside the buffer
 * and are returned in place, as are cell values; nothing is copied.
 *
 * Strictness: every message must be consumed exactly. The layout of each
 * kind is fixed by the negotiated protocol version, so trailing bytes mean a
 * version mismatch or corruption and are rejected rather than skipped.
 *
 * Variable-size parts (columns, cells, truncated relids) live in the
 * caller's scratch, grown on demand and reused across calls. Old and new
 * tuples of an Update share one cell array (old first, then new); tuple
 * pointers are set only after both are decoded, so a realloc while decoding
 * the new tuple cannot leave the old tuple's pointer dangling.
 */
#include "source/pg/pgoutput.h"
#include "util/mem.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Smallest encoding of one Relation column: flags, "" name, type OID, typmod. */
#define MIN_REL_COL_BYTES 10

typedef struct cursor {
    const unsigned char *buf;
    size_t len, pos;
    const char *what;     /* message kind name, for errors */
    bool failed;
    char *errstr;
    size_t errstr_size;
} cursor;

static const char *kind_name(char kind) {
    switch (kind) {
    case 'B': return "Begin";
    case 'C': return "Commit";
    case 'O': return "Origin";
    case 'R': return "Relation";
    case 'Y': return "Type";
    case 'I': return "Insert";
    case 'U': return "Update";
    case 'D': return "Delete";
    case 'T': return "Truncate";
    case 'M': return "Message";
    case 'S': return "Stream Start";
    case 'E': return "Stream Stop";
    case 'c': return "Stream Commit";
    case 'A': return "Stream Abort";
    default: return NULL;
    }
}

/* Records the first error only: it is the one that names the real culprit. */
static void fail(cursor *c, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = true;
    if (!c->errstr || !c->errstr_size) return;
    int n = snprintf(c->errstr, c->errstr_size, "pgoutput: ");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < c->errstr_size) vsnprintf(c->errstr + n, c->errstr_size - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool need(cursor *c, size_t n) {
    if (c->failed) return false;
    if (c->len - c->pos >= n) return true;
    fail(c, "truncated %s message at offset %zu", c->what, c->pos);
    return false;
}

static uint64_t get_be(cursor *c, size_t n) {
    uint64_t v = 0;
    if (!need(c, n)) return 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | c->buf[c->pos + i];
    c->pos += n;
    return v;
}

static uint8_t get_u8(cursor *c) { return (uint8_t)get_be(c, 1); }
static uint16_t get_u16(cursor *c) { return (uint16_t)get_be(c, 2); }
static uint32_t get_u32(cursor *c) { return (uint32_t)get_be(c, 4); }
static uint64_t get_u64(cursor *c) { return get_be(c, 8); }

static const char *get_bytes(cursor *c, size_t n) {
    if (!need(c, n)) return NULL;
    const char *p = (const char *)c->buf + c->pos;
    c->pos += n;
    return p;
}

static const char *get_str(cursor *c) {
    if (!need(c, 1)) return NULL;
    const unsigned char *p = c->buf + c->pos;
    const unsigned char *nul = memchr(p, 0, c->len - c->pos);
    if (!nul) {
        fail(c, "%s message at offset %zu: string without NUL terminator", c->what, c->pos);
        return NULL;
    }
    c->pos += (size_t)(nul - p) + 1;
    return (const char *)p;
}

/* A signed Int32 length that must not be negative. */
static uint32_t get_len(cursor *c) {
    size_t at = c->pos;
    int32_t n = (int32_t)get_u32(c);
    if (n < 0) fail(c, "%s message at offset %zu: negative length %d", c->what, at, (int)n);
    return n < 0 ? 0 : (uint32_t)n;
}

/* Grows *arr to hold need elements; doubling keeps reallocs rare across calls. The capacity changes only
 * once the allocation succeeded, so a scratch whose growth failed still says what it holds. */
static void *grow(void *arr, int *cap, int need_n, size_t elem) {
    if (need_n <= *cap) return arr;
    int n = *cap * 2 > need_n ? *cap * 2 : need_n;
    arr = sl_realloc(arr, (size_t)n * elem);
    *cap = n;
    return arr;
}

static void decode_cell(cursor *c, sl_cell *cell) {
    size_t at = c->pos;
    uint8_t k = get_u8(c);
    memset(cell, 0, sizeof *cell);
    switch (k) {
    case 'n': cell->flags = SL_CELL_NULL; break;
    case 'u': cell->flags = SL_CELL_UNCHANGED; break;
    case 't':
    case 'b':
        cell->len = get_len(c);
        cell->data = get_bytes(c, cell->len);
        break;
    default:
        fail(c, "%s message at offset %zu: unknown column kind 0x%02x", c->what, at, k);
    }
}

/* TupleData into scratch cells [base, base + ncols); returns ncols (0 on error). */
static int decode_tuple(cursor *c, sl_pgo_scratch *s, int base) {
    size_t at = c->pos;
    int n = get_u16(c);
    if (n > SL_PGO_MAX_COLS) fail(c, "%s message at offset %zu: %d columns exceed limit %d", c->what, at, n,
                                  SL_PGO_MAX_COLS);
    if (!need(c, (size_t)n)) return 0; /* each column takes at least its kind byte */
    s->cells = grow(s->cells, &s->cells_cap, base + n, sizeof *s->cells);
    for (int i = 0; i < n && !c->failed; i++) decode_cell(c, &s->cells[base + i]);
    return c->failed ? 0 : n;
}

static void expect_marker(cursor *c, uint8_t got, size_t at, const char *want) {
    fail(c, "%s message at offset %zu: expected tuple marker %s, got 0x%02x", c->what, at, want, got);
}

/* Insert 'N' tuple; Update ['K'|'O' tuple] 'N' tuple; Delete 'K'|'O' tuple. */
static void decode_change(cursor *c, sl_pgo_msg *m, sl_pgo_scratch *s) {
    int nold = 0, nnew = 0;
    m->u.change.relid = get_u32(c);
    size_t at = c->pos;
    uint8_t t = get_u8(c);
    if (m->kind != 'I' && (t == 'K' || t == 'O')) {
        m->u.change.old_kind = (char)t;
        nold = decode_tuple(c, s, 0);
        if (m->kind == 'U') {
            at = c->pos;
            t = get_u8(c);
        }
    }
    if (m->kind == 'D') {
        if (!m->u.change.old_kind) expect_marker(c, t, at, "'K' or 'O'");
    } else if (t != 'N') {
        expect_marker(c, t, at, m->kind == 'U' ? "'K', 'O' or 'N'" : "'N'");
    } else {
        nnew = decode_tuple(c, s, nold);
    }
    if (c->failed) return;
    /* Only now: decoding the new tuple may have moved s->cells. */
    if (m->u.change.old_kind) m->u.change.old = (sl_pgo_tuple){nold, s->cells};
    if (m->kind != 'D') m->u.change.new_ = (sl_pgo_tuple){nnew, s->cells + nold};
}

static void decode_relation(cursor *c, sl_pgo_msg *m, sl_pgo_scratch *s) {
    m->u.relation.relid = get_u32(c);
    m->u.relation.nspname = get_str(c);
    m->u.relation.relname = get_str(c);
    size_t at = c->pos;
    uint8_t ri = get_u8(c);
    if (!c->failed && !memchr("dnfi", ri, 4))
        fail(c, "Relation message at offset %zu: unknown replica identity 0x%02x", at, ri);
    at = c->pos;
    int n = get_u16(c);
    if (n > SL_PGO_MAX_COLS)
        fail(c, "Relation message at offset %zu: %d columns exceed limit %d", at, n, SL_PGO_MAX_COLS);
    if (!need(c, (size_t)n * MIN_REL_COL_BYTES)) return;
    s->cols = grow(s->cols, &s->cols_cap, n, sizeof *s->cols);
    for (int i = 0; i < n && !c->failed; i++) {
        sl_pgo_col *col = &s->cols[i];
        col->flags = get_u8(c);
        col->name = get_str(c);
        col->type_oid = get_u32(c);
        col->typmod = (int32_t)get_u32(c);
    }
    m->u.relation.replident = (char)ri;
    m->u.relation.ncols = n;
    m->u.relation.cols = s->cols;
}

static void decode_truncate(cursor *c, sl_pgo_msg *m, sl_pgo_scratch *s) {
    size_t at = c->pos;
    int32_t n = (int32_t)get_u32(c);
    if (n < 0 || n > SL_PGO_MAX_TRUNC_RELS)
        fail(c, "Truncate message at offset %zu: relation count %d out of range", at, (int)n);
    m->u.truncate.options = get_u8(c);
    if (!need(c, (size_t)n * 4)) return;
    s->relids = grow(s->relids, &s->relids_cap, n, sizeof *s->relids);
    for (int i = 0; i < n; i++) s->relids[i] = get_u32(c);
    m->u.truncate.nrels = n;
    m->u.truncate.relids = s->relids;
}

static void decode_message(cursor *c, sl_pgo_msg *m) {
    m->u.message.flags = get_u8(c);
    m->u.message.lsn = get_u64(c);
    m->u.message.prefix = get_str(c);
    m->u.message.len = get_len(c);
    m->u.message.content = get_bytes(c, m->u.message.len);
}

/* Messages with only fixed-size fields (and Origin/Type's strings). */
static void decode_simple(cursor *c, sl_pgo_msg *m) {
    switch (m->kind) {
    case 'B':
        m->u.begin.final_lsn = get_u64(c);
        m->u.begin.commit_ts = (int64_t)get_u64(c);
        m->u.begin.xid = get_u32(c);
        break;
    case 'C':
        m->u.commit.flags = get_u8(c);
        m->u.commit.commit_lsn = get_u64(c);
        m->u.commit.end_lsn = get_u64(c);
        m->u.commit.commit_ts = (int64_t)get_u64(c);
        break;
    case 'O':
        m->u.origin.lsn = get_u64(c);
        m->u.origin.name = get_str(c);
        break;
    case 'Y':
        m->u.type.oid = get_u32(c);
        m->u.type.nspname = get_str(c);
        m->u.type.typname = get_str(c);
        break;
    case 'S':
        m->u.stream_start.xid = get_u32(c);
        m->u.stream_start.first = get_u8(c);
        break;
    case 'E': break;
    case 'c':
        m->u.stream_commit.xid = get_u32(c);
        m->u.stream_commit.flags = get_u8(c);
        m->u.stream_commit.commit_lsn = get_u64(c);
        m->u.stream_commit.end_lsn = get_u64(c);
        m->u.stream_commit.commit_ts = (int64_t)get_u64(c);
        break;
    case 'A':
        m->u.stream_abort.xid = get_u32(c);
        m->u.stream_abort.subxid = get_u32(c);
        break;
    }
}

int sl_pgo_decode(const char *buf, size_t len, bool in_stream, sl_pgo_msg *out, sl_pgo_scratch *scratch,
                  char *errstr, size_t errstr_size) {
    cursor c = {(const unsigned char *)buf, len, 0, "", false, errstr, errstr_size};
    memset(out, 0, sizeof *out);
    if (len == 0) {
        fail(&c, "empty message");
        return -1;
    }
    char kind = buf[0];
    c.what = kind_name(kind);
    if (!c.what) {
        unsigned char k = (unsigned char)kind;
        if (k >= 0x20 && k < 0x7f) fail(&c, "unknown message kind '%c' (0x%02x) at offset 0", k, k);
        else fail(&c, "unknown message kind 0x%02x at offset 0", k);
        return -1;
    }
    out->kind = kind;
    c.pos = 1;
    /* Inside a stream, data messages carry the (sub)transaction's xid first. */
    if (in_stream && memchr("RYIUDTM", kind, 7)) out->xid = get_u32(&c);
    switch (kind) {
    case 'I':
    case 'U':
    case 'D': decode_change(&c, out, scratch); break;
    case 'R': decode_relation(&c, out, scratch); break;
    case 'T': decode_truncate(&c, out, scratch); break;
    case 'M': decode_message(&c, out); break;
    default: decode_simple(&c, out); break;
    }
    if (!c.failed && c.pos != len)
        fail(&c, "%s message has %zu trailing bytes at offset %zu", c.what, len - c.pos, c.pos);
    return c.failed ? -1 : 0;
}

void sl_pgo_scratch_free(sl_pgo_scratch *s) {
    if (!s) return;
    sl_free(s->cells);
    sl_free(s->cols);
    sl_free(s->relids);
    memset(s, 0, sizeof *s);
}
