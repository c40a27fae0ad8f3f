/*
 * Unit tests for the pgoutput decoder. The messages below are real bytes
 * captured from PostgreSQL 15.18 with pg_logical_slot_peek_binary_changes
 * (pgoutput, proto_version 1 with 'messages' on, and proto_version 2 with
 * 'streaming' on and logical_decoding_work_mem = 64kB for the stream
 * messages), for this schema:
 *
 *   CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');               -- OID 16385
 *   CREATE TABLE t_def (id int PRIMARY KEY, name text, note varchar(20),
 *                       big text, m mood);                          -- OID 16391
 *   CREATE TABLE t_full (id int PRIMARY KEY, val numeric(10,2),
 *                        ts timestamptz);                           -- OID 16398
 *   ALTER TABLE t_full REPLICA IDENTITY FULL;
 *
 * Each message is decoded from a heap copy of exactly its length, so ASan
 * reports any read past the end; every prefix of every message must fail
 * cleanly, and hand-made malformed messages check each limit.
 */
#include "source/pg/pgoutput.h"
#include "faultsim.h"
#include "test.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Begin of xid 730 (insert into t_def) */
#define BEGIN_730 "420000000001531408000303d27a3b99f3000002da"
/* Type: enum public.mood */
#define TYPE_MOOD "59000040017075626c6963006d6f6f6400"
/* Relation: public.t_def, replica identity default */
#define REL_T_DEF "52000040077075626c696300745f646566006400050169640000000017ffffffff006e616d650000000019ffffffff006e6f7465000000041300000018006269670000000019ffffffff006d0000004001ffffffff"
/* Commit of xid 730 */
#define COMMIT_730 "430000000000015314080000000001531438000303d27a3b99f3"
/* Update t_def set name: 'big' unchanged TOAST ('u') */
#define UPD_TOAST "55000040074e00057400000001317400000003626f626e7574000000056861707079"
/* Update t_def set id = 2: key changed, 'K' old tuple */
#define UPD_KEY "55000040074b00057400000001316e6e6e6e4e00057400000001327400000003626f626e7574000000056861707079"
/* Delete from t_def: 'K' old tuple */
#define DEL_KEY "44000040074b00057400000001326e6e6e6e"
/* Relation: public.t_full, replica identity full */
#define REL_T_FULL "520000400e7075626c696300745f66756c6c006600030169640000000017ffffffff0176616c00000006a4000a000601747300000004a0ffffffff"
/* Insert into t_full (1, 3.14, timestamptz) */
#define INS_FULL "490000400e4e00037400000001317400000004332e31347400000016323032342d30312d30322030333a30343a30352b3030"
/* Insert into t_full (2, NULL, NULL) */
#define INS_NULLS "490000400e4e00037400000001326e6e"
/* Update t_full: 'O' full old row */
#define UPD_FULL "550000400e4f00037400000001317400000004332e31347400000016323032342d30312d30322030333a30343a30352b30304e00037400000001317400000004322e35307400000016323032342d30312d30322030333a30343a30352b3030"
/* Delete from t_full: 'O' full old row */
#define DEL_FULL "440000400e4f00037400000001326e6e"
/* TRUNCATE t_def, t_full RESTART IDENTITY CASCADE */
#define TRUNCATE_2 "540000000203000040070000400e"
/* pg_logical_emit_message(true, 'pfx', 'hello') */
#define MSG_TX "4d010000000001532d40706678000000000568656c6c6f"
/* pg_logical_emit_message(false, 'pfx', 'bye') */
#define MSG_NONTX "4d000000000001532e907066780000000003627965"
/* Begin of xid 738 (contains MSG_TX) */
#define BEGIN_738 "420000000001532e20000303d27a3ba0e8000002e2"
/* Commit of xid 738 */
#define COMMIT_738 "43000000000001532e200000000001532e50000303d27a3ba0e8"
/* Begin of a transaction replayed from origin 'upstream1' */
#define BEGIN_ORIGIN "4200000000015331b80002bac280198840000002e4"
/* Origin: upstream1 at 0/ABCDEF */
#define ORIGIN "4f0000000000abcdef757073747265616d3100"
/* Insert into t_def (7, 'gil', 'short', NULL, 'sad') */
#define INS_ENUM "49000040074e0005740000000137740000000367696c740000000573686f72746e7400000003736164"
/* Insert into t_full with 'binary' 'true': 'b' cells */
#define INS_BIN "490000400e4e0003620000000400000001620000000c00020000000000020003057862000000080002b0ec8515f340"
/* v2: Stream Start, first segment of xid 742 */
#define S_START_FIRST "53000002e601"
/* v2: Relation inside a stream */
#define S_REL "52000002e60000400e7075626c696300745f66756c6c006600030169640000000017ffffffff0176616c00000006a4000a000601747300000004a0ffffffff"
/* v2: Insert inside a stream */
#define S_INS "49000002e60000400e4e0003740000000331303074000000063130302e30306e"
/* v2: Stream Stop */
#define S_STOP "45"
/* v2: Stream Start, later segment */
#define S_START "53000002e600"
/* v2: Insert of subtransaction 743 inside the stream of 742 */
#define S_INS_SUB "49000002e70000400e4e00037400000004333030307400000007333030302e30306e"
/* v2: Stream Abort of subtransaction 743 (ROLLBACK TO SAVEPOINT) */
#define S_ABORT_SUB "41000002e6000002e7"
/* v2: transactional message inside a stream */
#define S_MSG "4d000002e60100000000015b2880737066780000000009696e2073747265616d"
/* v2: Type inside a stream */
#define S_TYPE "59000002e8000040017075626c6963006d6f6f6400"
/* v2: Insert into t_def inside a stream */
#define S_INS_ENUM "49000002e8000040074e0005740000000138740000000368616c6e6e74000000026f6b"
/* v2: Stream Commit of xid 742 */
#define S_COMMIT "63000002e60000000000015b290800000000015b2940000303d27ac744cf"
/* v2: Stream Abort of the whole xid 745 (ROLLBACK) */
#define S_ABORT_TOP "41000002e9000002e9"

/* The 3000-byte TOASTed insert (xid 730), captured too; its 'x' run is expanded at run time. */
#define INS_BIG_HEAD "49000040074e00057400000001317400000005616c6963656e7400000bb8"
#define INS_BIG_TAIL "74000000056861707079"

static sl_pgo_scratch S;
static char err[256];
static char *cur; /* heap copy of the message being decoded, exactly its length */

static size_t unhex(const char *hex, char *out) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

/* Decodes raw bytes from an exact-size heap copy (kept until the next call). */
static int dec_raw(const char *bytes, size_t len, bool in_stream, sl_pgo_msg *m) {
    free(cur);
    cur = malloc(len ? len : 1);
    memcpy(cur, bytes, len);
    err[0] = 0;
    return sl_pgo_decode(cur, len, in_stream, m, &S, err, sizeof err);
}

static int dec(const char *hex, bool in_stream, sl_pgo_msg *m) {
    char *tmp = malloc(strlen(hex) / 2 + 1);
    size_t len = unhex(hex, tmp);
    int rc = dec_raw(tmp, len, in_stream, m);
    free(tmp);
    return rc;
}

static bool cell_is(const sl_cell *c, const char *s) {
    return c->flags == 0 && c->data && c->len == strlen(s) && memcmp(c->data, s, c->len) == 0;
}

static bool cell_null(const sl_cell *c) { return c->flags == SL_CELL_NULL && !c->data && c->len == 0; }
static bool cell_unchanged(const sl_cell *c) { return c->flags == SL_CELL_UNCHANGED && !c->data && c->len == 0; }
static bool in_cur(const void *p, size_t len) { return (const char *)p >= cur && (const char *)p < cur + len; }

/* A plausible commit time: after 2020-01-01, in PostgreSQL-epoch microseconds. */
static bool ts_plausible(int64_t pg_us) { return pg_us + SL_PG_EPOCH_OFFSET_US > 1577836800000000LL; }

static void test_begin_commit(void) {
    sl_pgo_msg m;
    CHECK(dec(BEGIN_730, false, &m) == 0);
    CHECK(m.kind == 'B' && m.xid == 0);
    CHECK(m.u.begin.xid == 730);
    CHECK(m.u.begin.final_lsn == 0x1531408);
    CHECK(ts_plausible(m.u.begin.commit_ts));
    int64_t ts = m.u.begin.commit_ts;
    uint64_t final_lsn = m.u.begin.final_lsn;

    CHECK(dec(COMMIT_730, false, &m) == 0);
    CHECK(m.kind == 'C' && m.u.commit.flags == 0);
    CHECK(m.u.commit.commit_lsn == final_lsn);
    CHECK(m.u.commit.end_lsn == 0x1531438 && m.u.commit.end_lsn > m.u.commit.commit_lsn);
    CHECK(m.u.commit.commit_ts == ts);
}

static void test_origin(void) {
    sl_pgo_msg m;
    CHECK(dec(BEGIN_ORIGIN, false, &m) == 0);
    CHECK(m.u.begin.xid == 740);
    /* pg_replication_origin_xact_setup('0/ABCDEF', '2024-05-06 07:08:09+00') sets the commit time. */
    CHECK(m.u.begin.commit_ts + SL_PG_EPOCH_OFFSET_US == 1714979289000000LL);
    CHECK(dec(ORIGIN, false, &m) == 0);
    CHECK(m.kind == 'O' && m.u.origin.lsn == 0xABCDEF);
    CHECK_STR(m.u.origin.name, "upstream1");
    CHECK(in_cur(m.u.origin.name, 19));
}

static void test_type(void) {
    sl_pgo_msg m;
    CHECK(dec(TYPE_MOOD, false, &m) == 0);
    CHECK(m.kind == 'Y' && m.u.type.oid == 16385);
    CHECK_STR(m.u.type.nspname, "public");
    CHECK_STR(m.u.type.typname, "mood");
}

static void test_relation(void) {
    static const char *names[] = {"id", "name", "note", "big", "m"};
    static const uint32_t oids[] = {23, 25, 1043, 25, 16385};
    static const int32_t typmods[] = {-1, -1, 24, -1, -1};
    sl_pgo_msg m;
    CHECK(dec(REL_T_DEF, false, &m) == 0);
    CHECK(m.kind == 'R' && m.u.relation.relid == 16391);
    CHECK_STR(m.u.relation.nspname, "public");
    CHECK_STR(m.u.relation.relname, "t_def");
    CHECK(m.u.relation.replident == 'd');
    CHECK(m.u.relation.ncols == 5 && m.u.relation.cols == S.cols);
    for (int i = 0; i < 5 && m.u.relation.ncols == 5; i++) {
        const sl_pgo_col *c = &m.u.relation.cols[i];
        CHECK_STR(c->name, names[i]);
        CHECK(c->type_oid == oids[i] && c->typmod == typmods[i]);
        CHECK(c->flags == (i == 0)); /* only the primary key column is part of the identity */
    }

    CHECK(dec(REL_T_FULL, false, &m) == 0);
    CHECK(m.u.relation.relid == 16398 && m.u.relation.replident == 'f');
    CHECK_STR(m.u.relation.relname, "t_full");
    CHECK(m.u.relation.ncols == 3);
    if (m.u.relation.ncols == 3) {
        const sl_pgo_col *c = m.u.relation.cols;
        CHECK(c[0].flags == 1 && c[1].flags == 1 && c[2].flags == 1); /* FULL: every column */
        CHECK_STR(c[1].name, "val");
        CHECK(c[1].type_oid == 1700 && c[1].typmod == ((10 << 16) | 2) + 4);
        CHECK_STR(c[2].name, "ts");
        CHECK(c[2].type_oid == 1184 && c[2].typmod == -1);
    }
}

static void test_insert(void) {
    sl_pgo_msg m;
    CHECK(dec(INS_ENUM, false, &m) == 0);
    CHECK(m.kind == 'I' && m.u.change.relid == 16391 && m.u.change.old_kind == 0);
    CHECK(m.u.change.old.ncols == 0 && m.u.change.old.cells == NULL);
    CHECK(m.u.change.new_.ncols == 5);
    if (m.u.change.new_.ncols == 5) {
        const sl_cell *c = m.u.change.new_.cells;
        CHECK(cell_is(&c[0], "7") && cell_is(&c[1], "gil") && cell_is(&c[2], "short"));
        CHECK(cell_null(&c[3]) && cell_is(&c[4], "sad"));
        CHECK(in_cur(c[4].data, 41));
    }

    CHECK(dec(INS_NULLS, false, &m) == 0);
    CHECK(m.u.change.relid == 16398 && m.u.change.new_.ncols == 3);
    if (m.u.change.new_.ncols == 3) {
        const sl_cell *c = m.u.change.new_.cells;
        CHECK(cell_is(&c[0], "2") && cell_null(&c[1]) && cell_null(&c[2]));
    }

    CHECK(dec(INS_FULL, false, &m) == 0);
    CHECK(m.u.change.new_.ncols == 3);
    if (m.u.change.new_.ncols == 3) {
        const sl_cell *c = m.u.change.new_.cells;
        CHECK(cell_is(&c[0], "1") && cell_is(&c[1], "3.14") && cell_is(&c[2], "2024-01-02 03:04:05+00"));
    }
}

static void test_insert_toast(void) {
    size_t hl = strlen(INS_BIG_HEAD) / 2, tl = strlen(INS_BIG_TAIL) / 2, len = hl + 3000 + tl;
    char *b = malloc(len);
    unhex(INS_BIG_HEAD, b);
    memset(b + hl, 'x', 3000);
    unhex(INS_BIG_TAIL, b + hl + 3000);
    sl_pgo_msg m;
    CHECK(dec_raw(b, len, false, &m) == 0);
    CHECK(m.u.change.new_.ncols == 5);
    if (m.u.change.new_.ncols == 5) {
        const sl_cell *c = m.u.change.new_.cells;
        CHECK(cell_is(&c[0], "1") && cell_is(&c[1], "alice") && cell_null(&c[2]));
        CHECK(c[3].flags == 0 && c[3].len == 3000 && c[3].data[0] == 'x' && c[3].data[2999] == 'x');
        CHECK(cell_is(&c[4], "happy"));
    }
    int bad = 0;
    for (size_t n = 0; n < len; n++) bad += dec_raw(b, n, false, &m) != -1;
    CHECK(bad == 0);
    free(b);
}

static void test_update(void) {
    sl_pgo_msg m;
    CHECK(dec(UPD_TOAST, false, &m) == 0);
    CHECK(m.kind == 'U' && m.u.change.relid == 16391 && m.u.change.old_kind == 0);
    CHECK(m.u.change.old.ncols == 0 && m.u.change.old.cells == NULL);
    CHECK(m.u.change.new_.ncols == 5);
    if (m.u.change.new_.ncols == 5) {
        const sl_cell *c = m.u.change.new_.cells;
        CHECK(cell_is(&c[0], "1") && cell_is(&c[1], "bob") && cell_null(&c[2]));
        CHECK(cell_unchanged(&c[3])); /* the TOASTed 'big' was not sent */
        CHECK(cell_is(&c[4], "happy"));
    }

    CHECK(dec(UPD_KEY, false, &m) == 0);
    CHECK(m.u.change.old_kind == 'K');
    CHECK(m.u.change.old.ncols == 5 && m.u.change.new_.ncols == 5);
    if (m.u.change.old.ncols == 5 && m.u.change.new_.ncols == 5) {
        const sl_cell *o = m.u.change.old.cells, *n = m.u.change.new_.cells;
        CHECK(cell_is(&o[0], "1"));
        CHECK(cell_null(&o[1]) && cell_null(&o[2]) && cell_null(&o[3]) && cell_null(&o[4]));
        CHECK(cell_is(&n[0], "2") && cell_is(&n[1], "bob") && cell_unchanged(&n[3]));
    }
}

/* Old and new tuples must not alias, even when the second tuple grows the scratch. */
static void test_update_full_no_alias(void) {
    sl_pgo_scratch fresh = {0};
    char b[128];
    size_t len = unhex(UPD_FULL, b);
    sl_pgo_msg m;
    CHECK(sl_pgo_decode(b, len, false, &m, &fresh, err, sizeof err) == 0);
    CHECK(m.u.change.old_kind == 'O' && m.u.change.relid == 16398);
    CHECK(m.u.change.old.ncols == 3 && m.u.change.new_.ncols == 3);
    CHECK(m.u.change.old.cells == fresh.cells && m.u.change.new_.cells == fresh.cells + 3);
    CHECK(fresh.cells_cap >= 6);
    if (m.u.change.old.ncols == 3 && m.u.change.new_.ncols == 3) {
        const sl_cell *o = m.u.change.old.cells, *n = m.u.change.new_.cells;
        CHECK(cell_is(&o[0], "1") && cell_is(&o[1], "3.14") && cell_is(&o[2], "2024-01-02 03:04:05+00"));
        CHECK(cell_is(&n[0], "1") && cell_is(&n[1], "2.50") && cell_is(&n[2], "2024-01-02 03:04:05+00"));
        CHECK(o[2].data != n[2].data);
    }
    sl_pgo_scratch_free(&fresh);
    CHECK(fresh.cells == NULL && fresh.cells_cap == 0);
    sl_pgo_scratch_free(&fresh); /* idempotent */
    sl_pgo_scratch_free(NULL);
}

static void test_delete(void) {
    sl_pgo_msg m;
    CHECK(dec(DEL_KEY, false, &m) == 0);
    CHECK(m.kind == 'D' && m.u.change.relid == 16391 && m.u.change.old_kind == 'K');
    CHECK(m.u.change.new_.ncols == 0 && m.u.change.new_.cells == NULL);
    CHECK(m.u.change.old.ncols == 5);
    if (m.u.change.old.ncols == 5) CHECK(cell_is(&m.u.change.old.cells[0], "2") && cell_null(&m.u.change.old.cells[4]));

    CHECK(dec(DEL_FULL, false, &m) == 0);
    CHECK(m.u.change.relid == 16398 && m.u.change.old_kind == 'O' && m.u.change.old.ncols == 3);
    if (m.u.change.old.ncols == 3) {
        const sl_cell *o = m.u.change.old.cells;
        CHECK(cell_is(&o[0], "2") && cell_null(&o[1]) && cell_null(&o[2]));
    }
}

static void test_truncate(void) {
    sl_pgo_msg m;
    CHECK(dec(TRUNCATE_2, false, &m) == 0);
    CHECK(m.kind == 'T' && m.u.truncate.nrels == 2);
    CHECK(m.u.truncate.options == 3); /* CASCADE | RESTART IDENTITY */
    CHECK(m.u.truncate.relids == S.relids);
    if (m.u.truncate.nrels == 2) CHECK(m.u.truncate.relids[0] == 16391 && m.u.truncate.relids[1] == 16398);
}

static void test_message(void) {
    sl_pgo_msg m;
    CHECK(dec(BEGIN_738, false, &m) == 0);
    uint64_t final_lsn = m.u.begin.final_lsn;

    CHECK(dec(MSG_TX, false, &m) == 0);
    CHECK(m.kind == 'M' && m.xid == 0 && m.u.message.flags == 1);
    CHECK(m.u.message.lsn == 0x1532d40 && m.u.message.lsn < final_lsn);
    CHECK_STR(m.u.message.prefix, "pfx");
    CHECK(m.u.message.len == 5 && memcmp(m.u.message.content, "hello", 5) == 0);

    CHECK(dec(COMMIT_738, false, &m) == 0);
    CHECK(m.u.commit.commit_lsn == final_lsn);
    uint64_t end_lsn = m.u.commit.end_lsn;

    CHECK(dec(MSG_NONTX, false, &m) == 0);
    CHECK(m.u.message.flags == 0 && m.u.message.lsn == 0x1532e90 && m.u.message.lsn > end_lsn);
    CHECK_STR(m.u.message.prefix, "pfx");
    CHECK(m.u.message.len == 3 && memcmp(m.u.message.content, "bye", 3) == 0);
    CHECK(in_cur(m.u.message.content, 21));
}

static void test_binary(void) {
    static const char one[] = {0, 0, 0, 1};
    sl_pgo_msg m;
    CHECK(dec(INS_BIN, false, &m) == 0);
    CHECK(m.u.change.new_.ncols == 3);
    if (m.u.change.new_.ncols == 3) {
        const sl_cell *c = m.u.change.new_.cells;
        CHECK(c[0].flags == 0 && c[0].len == 4 && memcmp(c[0].data, one, 4) == 0); /* int4 send format */
        CHECK(c[1].flags == 0 && c[1].len == 12);                                  /* numeric send format */
        CHECK(c[2].flags == 0 && c[2].len == 8);                                   /* timestamptz: Int64 */
    }
}

static void test_stream(void) {
    sl_pgo_msg m;
    CHECK(dec(S_START_FIRST, false, &m) == 0);
    CHECK(m.kind == 'S' && m.u.stream_start.xid == 742 && m.u.stream_start.first == 1 && m.xid == 0);
    CHECK(dec(S_START, false, &m) == 0);
    CHECK(m.u.stream_start.xid == 742 && m.u.stream_start.first == 0);

    CHECK(dec(S_REL, true, &m) == 0);
    CHECK(m.kind == 'R' && m.xid == 742 && m.u.relation.relid == 16398 && m.u.relation.ncols == 3);
    CHECK_STR(m.u.relation.relname, "t_full");

    CHECK(dec(S_INS, true, &m) == 0);
    CHECK(m.kind == 'I' && m.xid == 742 && m.u.change.relid == 16398 && m.u.change.new_.ncols == 3);
    if (m.u.change.new_.ncols == 3) CHECK(cell_is(&m.u.change.new_.cells[1], "100.00"));
    CHECK(dec(S_INS, false, &m) == -1); /* the xid prefix is not a relation id */
    CHECK(dec(INS_ENUM, true, &m) == -1);

    CHECK(dec(S_INS_SUB, true, &m) == 0);
    CHECK(m.xid == 743 && m.u.change.new_.ncols == 3);
    if (m.u.change.new_.ncols == 3) CHECK(cell_is(&m.u.change.new_.cells[0], "3000"));

    CHECK(dec(S_STOP, false, &m) == 0);
    CHECK(m.kind == 'E');
    CHECK(dec(S_ABORT_SUB, false, &m) == 0);
    CHECK(m.kind == 'A' && m.u.stream_abort.xid == 742 && m.u.stream_abort.subxid == 743);

    CHECK(dec(S_MSG, true, &m) == 0);
    CHECK(m.kind == 'M' && m.xid == 742 && m.u.message.flags == 1);
    CHECK_STR(m.u.message.prefix, "spfx");
    CHECK(m.u.message.len == 9 && memcmp(m.u.message.content, "in stream", 9) == 0);

    CHECK(dec(S_TYPE, true, &m) == 0);
    CHECK(m.kind == 'Y' && m.xid == 744 && m.u.type.oid == 16385);
    CHECK_STR(m.u.type.typname, "mood");
    CHECK(dec(S_INS_ENUM, true, &m) == 0);
    CHECK(m.xid == 744 && m.u.change.new_.ncols == 5);
    if (m.u.change.new_.ncols == 5) CHECK(cell_is(&m.u.change.new_.cells[4], "ok"));

    CHECK(dec(S_COMMIT, false, &m) == 0);
    CHECK(m.kind == 'c' && m.u.stream_commit.xid == 742 && m.u.stream_commit.flags == 0);
    CHECK(m.u.stream_commit.commit_lsn == 0x15b2908 && m.u.stream_commit.end_lsn == 0x15b2940);
    CHECK(ts_plausible(m.u.stream_commit.commit_ts));
    CHECK(dec(S_ABORT_TOP, false, &m) == 0);
    CHECK(m.u.stream_abort.xid == 745 && m.u.stream_abort.subxid == 745);
}

static const struct capture {
    const char *name, *hex;
    bool in_stream;
} captures[] = {
    {"BEGIN_730", BEGIN_730, false},     {"TYPE_MOOD", TYPE_MOOD, false},
    {"REL_T_DEF", REL_T_DEF, false},     {"COMMIT_730", COMMIT_730, false},
    {"UPD_TOAST", UPD_TOAST, false},     {"UPD_KEY", UPD_KEY, false},
    {"DEL_KEY", DEL_KEY, false},         {"REL_T_FULL", REL_T_FULL, false},
    {"INS_FULL", INS_FULL, false},       {"INS_NULLS", INS_NULLS, false},
    {"UPD_FULL", UPD_FULL, false},       {"DEL_FULL", DEL_FULL, false},
    {"TRUNCATE_2", TRUNCATE_2, false},   {"MSG_TX", MSG_TX, false},
    {"MSG_NONTX", MSG_NONTX, false},     {"BEGIN_738", BEGIN_738, false},
    {"COMMIT_738", COMMIT_738, false},   {"BEGIN_ORIGIN", BEGIN_ORIGIN, false},
    {"ORIGIN", ORIGIN, false},           {"INS_ENUM", INS_ENUM, false},
    {"INS_BIN", INS_BIN, false},         {"S_START_FIRST", S_START_FIRST, false},
    {"S_REL", S_REL, true},              {"S_INS", S_INS, true},
    {"S_STOP", S_STOP, false},           {"S_START", S_START, false},
    {"S_INS_SUB", S_INS_SUB, true},      {"S_ABORT_SUB", S_ABORT_SUB, false},
    {"S_MSG", S_MSG, true},              {"S_TYPE", S_TYPE, true},
    {"S_INS_ENUM", S_INS_ENUM, true},    {"S_COMMIT", S_COMMIT, false},
    {"S_ABORT_TOP", S_ABORT_TOP, false},
};

/* Every proper prefix of every captured message is an error, never a crash or overread. */
static void test_truncated_prefixes(void) {
    for (size_t i = 0; i < sizeof captures / sizeof *captures; i++) {
        char b[256];
        size_t len = unhex(captures[i].hex, b);
        sl_pgo_msg m;
        int bad = 0;
        for (size_t n = 0; n < len; n++) {
            if (dec_raw(b, n, captures[i].in_stream, &m) != -1 || strncmp(err, "pgoutput: ", 10) != 0) {
                fprintf(stderr, "%s: prefix of %zu bytes: %s\n", captures[i].name, n, err);
                bad++;
            }
        }
        CHECK(bad == 0);
        CHECK(dec_raw(b, len, captures[i].in_stream, &m) == 0);
    }
}

/* Decodes hex that must be rejected with an error containing want. */
static void check_reject(const char *hex, bool in_stream, const char *want) {
    sl_pgo_msg m;
    int rc = dec(hex, in_stream, &m);
    CHECK(rc == -1);
    if (rc == -1 && !strstr(err, want)) {
        fprintf(stderr, "error for %.40s: \"%s\" lacks \"%s\"\n", hex, err, want);
        CHECK(strstr(err, want) != NULL);
    }
}

static void test_errors(void) {
    sl_pgo_msg m;
    CHECK(dec_raw("", 0, false, &m) == -1);
    CHECK_STR(err, "pgoutput: empty message");
    check_reject("5a00000000", false, "unknown message kind 'Z' (0x5a)");
    check_reject("01", false, "unknown message kind 0x01");
    check_reject("ff" BEGIN_730, false, "unknown message kind 0xff");
    /* A Begin body behind the Commit kind byte is too short for a Commit. */
    check_reject("43" "0000000001531408000303d27a3b99f3000002da", false, "truncated Commit message at offset 18");
    check_reject(BEGIN_730 "00", false, "Begin message has 1 trailing bytes at offset 21");
    check_reject(S_STOP "00", false, "Stream Stop message has 1 trailing bytes");

    CHECK(dec("49000040074e000574000000013774", false, &m) == -1); /* cut inside a length */
    CHECK_STR(err, "pgoutput: truncated Insert message at offset 15");

    /* Column counts: above the hard limit, and more than the bytes left. */
    check_reject("49000040074e0681", false, "1665 columns exceed limit 1664");
    check_reject("49000040074effff", false, "65535 columns exceed limit");
    check_reject("49000040074e00056e", false, "truncated Insert message at offset 8");
    check_reject("52000040077075626c696300745f64656600640681", false, "1665 columns exceed limit");
    check_reject("52000040077075626c696300745f646566006400ff", false, "truncated Relation");

    /* Cell values. */
    check_reject("49000040074e000174ffffffff", false, "negative length -1");
    check_reject("49000040074e0001627fffffff41", false, "truncated Insert message at offset 13");
    check_reject("49000040074e000178", false, "unknown column kind 0x78");

    /* Tuple markers. */
    check_reject("550000400758", false, "expected tuple marker 'K', 'O' or 'N', got 0x58");
    check_reject("55000040074b00016e4b00016e", false, "expected tuple marker 'K', 'O' or 'N', got 0x4b");
    check_reject("49000040074b00016e", false, "expected tuple marker 'N', got 0x4b");
    check_reject("44000040074e00016e", false, "expected tuple marker 'K' or 'O', got 0x4e");

    /* Strings without NUL before the end. */
    check_reject("59000040017075626c6963006d6f6f64", false, "string without NUL terminator");
    check_reject("52000040077075626c6963", false, "Relation message at offset 5: string without NUL");
    check_reject("4d000000000000000000707878", false, "string without NUL");

    /* Truncate relation counts and Message lengths. */
    check_reject("54ffffffff00", false, "relation count -1 out of range");
    check_reject("540001000100", false, "relation count 65537 out of range");
    check_reject("54000000640000004007", false, "truncated Truncate");
    check_reject("4d0000000000000000007000ffffffff", false, "negative length");
    check_reject("4d0000000000000000007000000000ff41", false, "truncated Message");

    /* Replica identity outside d/n/f/i. */
    check_reject("520000400e7075626c696300745f66756c6c007a0000", false, "unknown replica identity 0x7a");

    /* Small and absent error buffers are safe. */
    char small[12];
    CHECK(sl_pgo_decode("Z", 1, false, &m, &S, small, sizeof small) == -1);
    CHECK(strlen(small) == sizeof small - 1);
    CHECK(sl_pgo_decode("Z", 1, false, &m, &S, NULL, 0) == -1);
}

/* Every captured message through a fresh scratch with each of its allocations failing in turn, then a
 * malformed one: a failure leaves the scratch the caller's to free and still fit to decode with, and a
 * run that gets through decodes as without the hook. */
typedef struct fs_pgo {
    sl_pgo_scratch s;
    int ncols_sum, nrels_sum; /* what the decoded messages held */
    char err[256];
} fs_pgo;

static int fs_pgo_run(void *arg) {
    fs_pgo *f = arg;
    char b[256];
    f->ncols_sum = f->nrels_sum = 0;
    for (size_t i = 0; i < sizeof captures / sizeof *captures; i++) {
        sl_pgo_msg m;
        size_t len = unhex(captures[i].hex, b);
        if (sl_pgo_decode(b, len, captures[i].in_stream, &m, &f->s, f->err, sizeof f->err) < 0) return -1;
        if (m.kind == 'R') f->ncols_sum += m.u.relation.ncols;
        if (m.kind == 'I' || m.kind == 'U' || m.kind == 'D') f->ncols_sum += m.u.change.new_.ncols + m.u.change.old.ncols;
        if (m.kind == 'T') f->nrels_sum += m.u.truncate.nrels;
    }
    sl_pgo_msg m;
    size_t len = unhex(REL_T_DEF, b);
    return sl_pgo_decode(b, len - 1, false, &m, &f->s, f->err, sizeof f->err); /* truncated: an error */
}

static void fs_pgo_cleanup(void *arg) { sl_pgo_scratch_free(&((fs_pgo *)arg)->s); }

static void fs_pgo_done(void *arg, int rc) {
    fs_pgo *f = arg;
    CHECK(rc == -1 && strncmp(f->err, "pgoutput: ", 10) == 0);
    CHECK(f->ncols_sum > 20 && f->nrels_sum == 2);
}

/* After a failed allocation (the hook has fired, nothing fails now) the half-grown scratch decodes everything. */
static void fs_pgo_failed(void *arg) { fs_pgo_done(arg, fs_pgo_run(arg)); }

static void test_alloc_failures(void) {
    fs_pgo f = {0};
    faultsim_ops ops = {
        .run = fs_pgo_run, .cleanup = fs_pgo_cleanup, .done = fs_pgo_done, .failed = fs_pgo_failed, .strict = true};
    long n = faultsim("pgoutput", &ops, &f, NULL);
    CHECK(n >= 3); /* cells, columns and relids at least */
}

int main(void) {
    test_begin_commit();
    test_origin();
    test_type();
    test_relation();
    test_insert();
    test_insert_toast();
    test_update();
    test_update_full_no_alias();
    test_delete();
    test_truncate();
    test_message();
    test_binary();
    test_stream();
    test_truncated_prefixes();
    test_errors();
    test_alloc_failures();
    sl_pgo_scratch_free(&S);
    free(cur);
    TEST_END();
}
