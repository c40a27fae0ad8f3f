/*
 * Unit tests of the binlog row-image decoder on bytes captured from a
 * MariaDB 10.11.19 server (binlog_format=ROW, binlog_row_image=FULL,
 * binlog_row_metadata=FULL unless noted): the TABLE_MAP pieces (column
 * types, metadata, null bitmap, optional metadata) and the row images of
 * WRITE/UPDATE/DELETE_ROWS_V1 events, as hex. "{41*70000}" in a hex string
 * stands for 70000 bytes 0x41 so that long captured values stay short here.
 * Every truncation of every image must fail cleanly (heap copies of the
 * exact size, so ASan sees any over-read); hand-made inputs cover absurd
 * lengths and bad metadata.
 */
#include "source/mysql/rowimage.h"
#include "faultsim.h"
#include "test.h"
#include <stdlib.h>

typedef struct tmap {
    int ncols;
    const char *types, *meta, *nulls, *opt;
} tmap;

typedef struct rows_ev {
    const char *present, *present2; /* present2: after image of an update */
    const char *rows;
} rows_ev;

#define N NULL /* expect SQL NULL */
static char unchanged_[1];   /* writable, so never merged with a "" literal */
#define U ((const char *)unchanged_) /* expect "unchanged" (column absent from the image) */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Hex (with "{pattern*count}" runs) → malloc'ed bytes of exactly that size (at least 1 allocated). */
static uint8_t *unhex(const char *s, size_t *np) {
    size_t cap = 64, n = 0;
    uint8_t *out = malloc(cap);
    while (*s) {
        uint8_t pat[8];
        size_t plen = 0, count = 1;
        if (*s == '{') {
            s++;
            while (*s != '*') pat[plen++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1])), s += 2;
            count = strtoul(s + 1, (char **)&s, 10);
            s++; /* '}' */
        } else {
            pat[plen++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1])), s += 2;
        }
        for (size_t k = 0; k < count; k++) {
            if (n + plen > cap) out = realloc(out, cap *= 2);
            memcpy(out + n, pat, plen), n += plen;
        }
    }
    out = realloc(out, n ? n : 1);
    *np = n;
    return out;
}

static char *tohex(const char *p, size_t n) {
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) sprintf(s + 2 * i, "%02x", (unsigned char)p[i]);
    s[2 * n] = 0;
    return s;
}

typedef struct table {
    sl_arena arena;
    sl_my_col cols[32];
    int ncols, *pk, npk;
} table;

/* What the source does with a TABLE_MAP: types + metadata, null bitmap, optional metadata. */
static int load(table *t, const tmap *m) {
    char err[256] = "";
    size_t nt, nm, nn, no;
    uint8_t *types = unhex(m->types, &nt), *meta = unhex(m->meta, &nm), *nulls = unhex(m->nulls, &nn),
            *opt = unhex(m->opt, &no);
    memset(t, 0, sizeof *t);
    sl_arena_init(&t->arena);
    t->ncols = m->ncols;
    int rc = sl_my_parse_meta(types, m->ncols, meta, nm, t->cols, err, sizeof err);
    for (int i = 0; i < m->ncols; i++) t->cols[i].nullable = nulls[i / 8] >> (i % 8) & 1;
    if (rc == 0)
        rc = sl_my_parse_optional_meta(opt, no, t->cols, m->ncols, &t->arena, &t->pk, &t->npk, err, sizeof err);
    if (rc) fprintf(stderr, "load: %s\n", err);
    free(types), free(meta), free(nulls), free(opt);
    return rc;
}

static void check_cell(const char *what, int img, int col, const sl_cell *c, const char *want) {
    char ctx[96];
    snprintf(ctx, sizeof ctx, "%s image %d column %d", what, img, col);
    if (want == N) {
        if (c->flags != SL_CELL_NULL) fprintf(stderr, "%s: want NULL\n", ctx);
        CHECK(c->flags == SL_CELL_NULL && c->data == NULL);
    } else if (want == U) {
        if (c->flags != SL_CELL_UNCHANGED) fprintf(stderr, "%s: want unchanged\n", ctx);
        CHECK(c->flags == SL_CELL_UNCHANGED && c->data == NULL);
    } else if (strncmp(want, "x:", 2) == 0) {
        size_t n;
        uint8_t *w = unhex(want + 2, &n);
        bool ok = c->flags == 0 && c->len == n && (n == 0 || memcmp(c->data, w, n) == 0);
        if (!ok) {
            char *g = tohex(c->data ? c->data : "", c->data ? c->len : 0);
            fprintf(stderr, "%s: got x:%.200s (len %u, flags %u)\n", ctx, g, c->len, c->flags);
            free(g);
        }
        CHECK(ok);
        free(w);
    } else {
        char *g = c->flags == 0 ? strndup(c->data, c->len) : strdup("(null or unchanged)");
        if (strcmp(g, want) != 0) fprintf(stderr, "%s:\n", ctx);
        CHECK_STR(g, want);
        free(g);
    }
}

/* FNV-1a over the cells of an image: flags, length and bytes. */
static uint64_t cells_hash(uint64_t h, const sl_cell *cells, int n) {
    for (int i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)cells[i].data;
        h = (h ^ cells[i].flags) * 1099511628211u;
        h = (h ^ cells[i].len) * 1099511628211u;
        for (uint32_t k = 0; p && k < cells[i].len; k++) h = (h ^ p[k]) * 1099511628211u;
    }
    return h;
}

/* One event's images decoded with each arena allocation failing in turn (faultsim.h); the arena is
 * initialized once and emptied by the cleanup. */
typedef struct fs_rows {
    const table *t;
    const uint8_t *rows, *present, *present2;
    size_t n;
    int nimages;
    sl_arena a;
    uint64_t hash, want_hash;
} fs_rows;

static int fs_rows_run(void *arg) {
    fs_rows *f = arg;
    char err[256];
    sl_cell cells[32];
    size_t off = 0;
    f->hash = 14695981039346656037u;
    for (int img = 0; img < f->nimages; img++) {
        const uint8_t *pr = f->present2 && img % 2 ? f->present2 : f->present;
        long used = sl_my_decode_row(f->t->cols, f->t->ncols, pr, f->t->ncols, f->rows + off, f->n - off, &f->a, cells,
                                     err, sizeof err);
        if (used <= 0) return -1;
        f->hash = cells_hash(f->hash, cells, f->t->ncols);
        off += (size_t)used;
    }
    return off == f->n ? 0 : -1;
}

static void fs_rows_cleanup(void *arg) { sl_arena_free(&((fs_rows *)arg)->a); }

static void fs_rows_done(void *arg, int rc) {
    fs_rows *f = arg;
    CHECK(rc == 0 && f->hash == f->want_hash);
}

/* After a failed allocation the arena takes the whole event again. */
static void fs_rows_failed(void *arg) { fs_rows_done(arg, fs_rows_run(arg)); }

/* Decodes every image of an event, checks each cell, then every truncation of each image, then the
 * whole event with each allocation failing in turn. */
static void check_event(const char *what, const table *t, const rows_ev *ev, const char *const *want, int nimages) {
    char err[256];
    size_t n, np, np2 = 0;
    uint8_t *rows = unhex(ev->rows, &n), *present = unhex(ev->present, &np);
    uint8_t *present2 = ev->present2 ? unhex(ev->present2, &np2) : NULL;
    sl_arena a;
    sl_arena_init(&a);
    sl_cell cells[32];
    size_t off = 0;
    uint64_t hash = 14695981039346656037u;
    for (int img = 0; img < nimages; img++) {
        const uint8_t *pr = present2 && img % 2 ? present2 : present;
        long used = sl_my_decode_row(t->cols, t->ncols, pr, t->ncols, rows + off, n - off, &a, cells, err, sizeof err);
        if (used < 0) fprintf(stderr, "%s image %d: %s\n", what, img, err);
        CHECK(used > 0);
        if (used <= 0) break;
        for (int i = 0; i < t->ncols; i++) check_cell(what, img, i, &cells[i], want[img * t->ncols + i]);
        hash = cells_hash(hash, cells, t->ncols);
        /* truncations: all of them for small images, a sample of the 70 KB one */
        int wrong = 0;
        size_t len = (size_t)used;
        for (size_t k = 0; k < len; k += len > 4096 && k > 2048 && k + 2048 < len ? 509 : 1) {
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, rows + off, k);
            sl_arena b;
            sl_arena_init(&b);
            err[0] = 0;
            if (sl_my_decode_row(t->cols, t->ncols, pr, t->ncols, cut, k, &b, cells, err, sizeof err) != -1 || !err[0]) {
                fprintf(stderr, "%s image %d: truncated to %zu bytes did not fail\n", what, img, k);
                wrong++;
            }
            sl_arena_free(&b);
            free(cut);
        }
        CHECK(wrong == 0);
        off += (size_t)used;
    }
    if (off != n) fprintf(stderr, "%s: %zu of %zu bytes decoded\n", what, off, n);
    CHECK(off == n);
    sl_arena_free(&a);
    fs_rows f = {.t = t, .rows = rows, .present = present, .present2 = present2, .n = n, .nimages = nimages,
                 .want_hash = hash};
    sl_arena_init(&f.a);
    faultsim_ops ops = {.run = fs_rows_run, .cleanup = fs_rows_cleanup, .done = fs_rows_done,
                        .failed = fs_rows_failed, .strict = true};
    long nalloc = faultsim(what, &ops, &f, NULL);
    CHECK(nalloc >= 1);
    free(rows), free(present), free(present2);
}

/* ------------------------------------------------------------------------
 * Captured data. Tables (MariaDB 10.11.19, time_zone +00:00, sql_mode ''):
 *   t_int  (id INT PK, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
 *           mi MEDIUMINT, mu MEDIUMINT UNSIGNED, ii INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED)
 *   t_num  (id, f FLOAT, d DOUBLE, d52 DECIMAL(5,2), d3810 DECIMAL(38,10), du DECIMAL(10,0) UNSIGNED,
 *           b1 BIT(1), b10 BIT(10), y YEAR NOT NULL)
 *   t_time (id, da DATE, t0 TIME, t6 TIME(6), dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6),
 *           ts0 TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL)
 *   t_str  (id, c10 CHAR(10) utf8mb4, cl CHAR(10) latin1, c100 CHAR(100) utf8mb4, vc VARCHAR(300) utf8mb4,
 *           vl VARCHAR(20) latin1, bn BINARY(4), vb VARBINARY(10), tb TINYBLOB, tx TEXT utf8mb4,
 *           mb MEDIUMBLOB, lt LONGTEXT latin1, j JSON, e ENUM('a','bé','c'), s SET('x','y','z'),
 *           g GEOMETRY, pt POINT) DEFAULT CHARSET=utf8mb4
 *   t_old  (id, t0 TIME, t3 TIME(3), t6 TIME(6), dt0 DATETIME, dt2 DATETIME(2), dt6 DATETIME(6),
 *           ts0 TIMESTAMP NULL, ts4 TIMESTAMP(4) NULL) created with mysql56_temporal_format=OFF
 *   t_old2 (id, t1 TIME(1), t5 TIME(5), dt1 DATETIME(1), dt4 DATETIME(4), ts2 TIMESTAMP(2) NULL,
 *           ts6 TIMESTAMP(6) NULL), mysql56_temporal_format=OFF
 *   t_old3 (id INT PK, t2 TIME(2), t4 TIME(4), dt3 DATETIME(3), dt5 DATETIME(5), ts1 TIMESTAMP(1) NULL,
 *           ts3 TIMESTAMP(3) NULL, ts5 TIMESTAMP(5) NULL), mysql56_temporal_format=OFF (with t_old and
 *           t_old2: every precision of the three hires layouts)
 *   t_frac (id, t1..t5 TIME(1..5), dt1 DATETIME(1), dt5 DATETIME(5), ts2 TIMESTAMP(2) NULL, ts3 TIMESTAMP(3) NULL)
 *   x_sig  (a YEAR, b INT, c BIT(3), d TINYINT UNSIGNED)
 *   x_cs   (id INT PK, a VARCHAR(10), b TEXT, e ENUM('ä','ö') latin1, s SET('ü','b') latin1, e2 ENUM('z','ß'))
 *          DEFAULT CHARSET=utf8mb4; M_CS_MINIMAL: the same table under binlog_row_metadata=MINIMAL
 *   x_l1   (id INT, a VARCHAR(10), b CHAR(3), e ENUM('ä','ö')) DEFAULT CHARSET=latin1
 * U_INT3_MINIMAL: UPDATE t_int SET ti=6, iu=7 WHERE id=3 under binlog_row_image=MINIMAL.
 */

/* t_int */
static const tmap M_INT = {11,
    "0301010202090903030808",
    "",
    "fe07",
    "01022aa00421026964027469027475027369027375026d69026d75026969026975026269026275080100"};
/* t_num */
static const tmap M_NUM = {9,
    "030405f6f6f610100d",
    "04080502260a0a0001000201",
    "fe00",
    "010106041d0269640166016403643532056433383130026475026231036231300179080100"};
/* t_time */
static const tmap M_TIME = {9,
    "030a13131212121111",
    "00060003060006",
    "fe01",
    "01010004200269640264610274300274360364743003647433036474360374733003747336080100"};
/* t_str */
static const tmap M_STR = {17,
    "03fefefe0f0ffe0ffcfcfcfcfcfefeffff",
    "fe28fe0aee90b0041400fe040a000102030404f701f8010404",
    "feff01",
    "010100030e2d082d2d083f3f3f2d3f082e3f3f0702000104320269640363313002636c046331303002766302766c02626e02"
    "7662027462027478026d62026c74016a0165017301670270740a012d05070301780179017a06090301610362c3a901630801"
    "00"};
/* t_old */
static const tmap M_OLD = {9,
    "030b0b0b0c0c0c0707",
    "",
    "fe01",
    "01010004200269640274300274330274360364743003647432036474360374733003747334080100"};
/* x_sig */
static const tmap M_SIG = {4,
    "0d031001",
    "0300",
    "0f",
    "0101a004080161016201630164"};
/* x_cs */
static const tmap M_CS = {6,
    "030ffcfefefe",
    "280002f701f801f701",
    "3e",
    "01010002012d040e02696401610162016501730265320a0308022d05050201fc0162060b0201e401f602017a02c39f080100"};
/* x_l1 */
static const tmap M_L1 = {4,
    "030ffefe",
    "0a00fe03f701",
    "0f",
    "01010002010804090269640161016201650a010806050201e401f6"};
/* x_cs */
static const tmap M_CS_MINIMAL = {6,
    "030ffcfefefe",
    "280002f701f801f701",
    "3e",
    "01010002012d"};
/* t_frac */
static const tmap M_FRAC = {10,
    "03131313131312121111",
    "010203040501050203",
    "fe03",
    "010100042202696402743102743202743302743402743503647431036474350374733203747333080100"};
/* t_old2 */
static const tmap M_OLD2 = {7,
    "030b0b0c0c0707",
    "",
    "7e",
    "010100041902696402743102743503647431036474340374733203747336080100"};
/* t_old3 */
static const tmap M_OLD3 = {8,
    "030b0b0c0c070707",
    "",
    "fe",
    "010100041d0269640274320274340364743303647435037473310374733303747335080100"};
/* t_int, event type 23 */
static const rows_ev W_INT1 = {"ff07", NULL,
    "00f801000000800000800000000080000000000000800000000000000000000000800000000000000000"};
/* t_int, event type 23 */
static const rows_ev W_INT2 = {"ff07", NULL,
    "00f8020000007fffff7fffffffff7fffffffffffff7fffffffffffffffffffffff7fffffffffffffffff"};
/* t_int, event type 23 */
static const rows_ev W_INT3 = {"ff07", NULL,
    "06f803000000ffff0100ffffff010000ffffffff01000000ffffffffffffffff0100000000000000"};
/* t_num, event type 23 */
static const rows_ev W_NUM1 = {"ff01", NULL,
    "00fe010000000000c03f72b512d57beceebd807b2d810dfb38d2075bcd1500bc614e00bc614e09841194d7ff0102017c"};
/* t_num, event type 23 */
static const rows_ev W_NUM2 = {"ff01", NULL,
    "00fe02000000ffff7fffffffffffffffef7f7c189c7ef204c72df8a432eaff439eb1ff439eb1f6800000000000000000"};
/* t_num, event type 23 */
static const rows_ev W_NUM3 = {"ff01", NULL,
    "40fe03000000000000000000000000000000800000800000000000000000000000000000000000800000000103ff01"};
/* t_num, event type 23 */
static const rows_ev W_NUM4 = {"ff01", NULL,
    "20fe04000000cdcccc3d9a9999999999b93f7ffffa7ffffffffffffffffffffffffffffffffffe010155ff"};
/* t_time, event type 23 */
static const rows_ev W_TIME1 = {"ff01", NULL,
    "00fe010000005dd00f80c8b84b910500000099b2bb7efb99b2bb7efb04ce8cb24200000000017fffffff65e071c009fbf1"};
/* t_time, event type 23 */
static const rows_ev W_TIME2 = {"ff01", NULL,
    "00fe0200000021d0077fffffb46efb0f423ffef3ff7efb80000000000000fef3ff7efb0f423f0000000100000001000001"};
/* t_time, event type 23 */
static const rows_ev W_TIME3 = {"ff01", NULL,
    "00fe030000000000007f37487fffffffffff800000000099644200001388996442000007a1200000000000000000000000"};
/* t_time, event type 23 */
static const rows_ev W_TIME4 = {"ff01", NULL,
    "f2ff040000008640007fef7cf9e580"};
/* t_str, event type 23 */
static const rows_ev W_STR1 = {"ffff01", NULL,
    "0000fe010000000a68c3a96c6c6f20e282ac0768e96c6c6f20ffc800{c3a9*100}2c01{78*300}02c76104000102030200ff"
    "04deadbeef08007465787420e29c93701101{41*70000}060000006c6f6e6720f1150000007b2261223a205b312c20322e35"
    "2c2022c3a9225d7d02052d000000e6100000010200000002{00*25}f03f000000000000f03f1900000000000000010100000"
    "0000000000000f83f00000000000000c0"};
/* t_str, event type 23 */
static const rows_ev W_STR2 = {"ffff01", NULL,
    "0000fe020000000000000000000001610000000000000000000000020000005b5d0000190000000000000001010000000000"
    "00000000000000000000000000001900000000000000010100000000000000000000000000000000000000"};
/* t_str, event type 23 */
static const rows_ev W_STR3 = {"ffff01", NULL,
    "feffff03000000"};
/* t_str, event type 23 */
static const rows_ev W_STR4 = {"ffff01", NULL,
    "fe9fff040000000307"};
/* t_int, event type 24 */
static const rows_ev U_INT3 = {"ff07", "ff07",
    "06f803000000ffff0100ffffff010000ffffffff01000000ffffffffffffffff010000000000000004f80300000005ffff01"
    "00ffffff010000ffffffff01000000ffffffffffffffff2a00000000000000"};
/* t_str, event type 24 */
static const rows_ev U_STR2 = {"ffff01", "ffff01",
    "0000fe020000000000000000000001610000000000000000000000020000005b5d0000190000000000000001010000000000"
    "000000000000000000000000000019000000000000000101000000000000000000000000000000000000000000fe02000000"
    "0000000003007570640001610000000000000000000000020000005b5d010019000000000000000101000000000000000000"
    "000000000000000000001900000000000000010100000000000000000000000000000000000000"};
/* t_num, event type 25 */
static const rows_ev D_NUM4 = {"ff01", NULL,
    "20fe04000000cdcccc3d9a9999999999b93f7ffffa7ffffffffffffffffffffffffffffffffffe010155ff"};
/* t_time, event type 25 */
static const rows_ev D_TIME4 = {"ff01", NULL,
    "f2ff040000008640007fef7cf9e580"};
/* t_old, event type 23 */
static const rows_ev W_OLD1 = {"ff01", NULL,
    "00fe01000000590a8000b6bad21502be5ff6033cf77cac8b68120000069df8ce93a8007fb403f9236001ffffff7f65e071c0"
    "198f"};
/* t_old, event type 23 */
static const rows_ev W_OLD2 = {"ff01", NULL,
    "00fe0200000000000000b407a57f057e7bbcf7ff000000000000000000000000000004fcee3943bfffff0000000000000001"
    "0001"};
/* x_sig, event type 23 */
static const rows_ev W_SIG = {"0f", NULL,
    "f064010000000507"};
/* x_cs, event type 23 */
static const rows_ev W_CS = {"3f", NULL,
    "c00100000002c3a40200c3b6020302"};
/* x_l1, event type 23 */
static const rows_ev W_L1 = {"0f", NULL,
    "f00100000001e401ff02"};
/* t_int, event type 24 */
static const rows_ev U_INT3_MINIMAL = {"0100", "0201",
    "fe03000000fc0607000000"};
/* x_cs, event type 23 */
static const rows_ev W_CS_MINIMAL = {"3f", NULL,
    "c00200000002c3a40200c3b6020302"};
/* t_frac, event type 23 */
static const rows_ev W_FRAC1 = {"ff03", NULL,
    "00fc010000007fefffce7fffffff7f3fffd8fa7ffffeffff4b9105f0bdca99b24431053c99b244310501e23a3b9aca006366"
    "81f17f000a"};
/* t_frac, event type 23 */
static const rows_ev W_FRAC2 = {"ff03", NULL,
    "00fc02000000801000328000000180c00027068000010001b46efa0f4236800000000000fef3ff7efb0f4236000000000100"
    "0000000000"};
/* t_frac, event type 23 */
static const rows_ev W_FRAC3 = {"ff03", NULL,
    "c0ff030000007ffffff68000000080000000007de00000007ffffffffff6"};
/* t_old2, event type 23 */
static const rows_ev W_OLD2_1 = {"7f", NULL,
    "800100000001cce05f50b269af7100a96298ed78028dc9d7afffff3b9aca00636681f17f000001"};
/* t_old2, event type 23 */
static const rows_ev W_OLD2_2 = {"7f", NULL,
    "80020000000399c0bf00000000010000000000000cc4f1366fd8f100000000000000000007a120"};
/* t_old3, event type 23 */
static const rows_ev W_OLD3_1 = {"ff", NULL,
    "00010000001200c3bf000000000100422bb811c7ff0cc53398e9f0017fffffff090000000100016681f17f003039"};
/* t_old3, event type 23 */
static const rows_ev W_OLD3_2 = {"ff", NULL,
    "00020000002401871c07084c77000146e4ebd7fc180000000000000000000001000000000000003b9aca00000000"};
/* t_old3, event type 23 */
static const rows_ev W_OLD3_3 = {"ff", NULL,
    "e00300000011bba5b207062725ff00422bb57e9bf41989e26cdfffff"};

/* ------------------------------------------------------------------------ */

static void test_int(void) {
    table t;
    CHECK(load(&t, &M_INT) == 0);
    static const char *const names[] = {"id", "ti", "tu", "si", "su", "mi", "mu", "ii", "iu", "bi", "bu"};
    static const sl_ctype ct[] = {SL_T_INT32, SL_T_INT16, SL_T_INT16, SL_T_INT16, SL_T_INT32, SL_T_INT32,
                                  SL_T_INT32, SL_T_INT32, SL_T_INT64, SL_T_INT64, SL_T_INT64};
    for (int i = 0; i < 11; i++) {
        CHECK_STR(t.cols[i].name, names[i]);
        CHECK(t.cols[i].is_unsigned == (i >= 2 && i % 2 == 0));
        CHECK(sl_my_ctype(&t.cols[i]) == ct[i]);
        CHECK(t.cols[i].nullable == (i != 0));
    }
    CHECK(t.npk == 1 && t.pk && t.pk[0] == 0);
    static const char *const w1[] = {"1", "-128", "0", "-32768", "0", "-8388608", "0", "-2147483648", "0",
                                      "-9223372036854775808", "0"};
    static const char *const w2[] = {"2",       "127",        "255",        "32767",
                                     "65535",   "8388607",    "16777215",   "2147483647",
                                     "4294967295", "9223372036854775807", "18446744073709551615"};
    static const char *const w3[] = {"3", N, N, "-1", "1", "-1", "1", "-1", "1", "-1", "1"};
    static const char *const u3[] = {"3", N, N, "-1", "1", "-1", "1", "-1", "1", "-1", "1",
                                     "3", "5", N, "-1", "1", "-1", "1", "-1", "1", "-1", "42"};
    static const char *const um[] = {"3", U, U, U, U, U, U, U, U, U, U, /* before: the key only */
                                     U, "6", U, U, U, U, U, U, "7", U, U};
    check_event("t_int insert 1", &t, &W_INT1, w1, 1);
    check_event("t_int insert 2", &t, &W_INT2, w2, 1);
    check_event("t_int insert 3", &t, &W_INT3, w3, 1);
    check_event("t_int update", &t, &U_INT3, u3, 2);
    check_event("t_int update minimal", &t, &U_INT3_MINIMAL, um, 2);
    sl_arena_free(&t.arena);
}

static void test_num(void) {
    table t;
    CHECK(load(&t, &M_NUM) == 0);
    CHECK(t.cols[1].type == 4 && t.cols[1].meta == 4 && sl_my_ctype(&t.cols[1]) == SL_T_FLOAT32);
    CHECK(t.cols[2].type == 5 && t.cols[2].meta == 8 && sl_my_ctype(&t.cols[2]) == SL_T_FLOAT64);
    CHECK(t.cols[3].type == 246 && t.cols[3].meta == (5 << 8 | 2) && sl_my_ctype(&t.cols[3]) == SL_T_NUMERIC);
    CHECK(t.cols[4].meta == (38 << 8 | 10) && !t.cols[4].is_unsigned);
    CHECK(t.cols[5].meta == (10 << 8 | 0) && t.cols[5].is_unsigned);
    CHECK(t.cols[6].type == 16 && t.cols[6].meta == 1 && sl_my_ctype(&t.cols[6]) == SL_T_BIT);
    CHECK(t.cols[7].meta == (1 << 8 | 2));
    CHECK(t.cols[8].type == 13 && sl_my_ctype(&t.cols[8]) == SL_T_YEAR && !t.cols[8].nullable);
    CHECK(t.cols[8].is_unsigned); /* MariaDB counts YEAR in SIGNEDNESS, as unsigned */
    static const char *const w1[] = {"1", "1.5", "-2.25e-10", "123.45", "1234567890123456789012345678.0123456789",
                                     "4294967295", "1", "1000000001", "2024"};
    static const char *const w2[] = {"2", "-3.4028235e+38", "1.7976931348623157e+308", "-999.99",
                                     "-1234567890123456789012345678.0123456789", "0", "0", "0000000000", "0"};
    static const char *const w3[] = {"3", "0", "0", "0.00", "0.0000000000", "1", N, "1111111111", "1901"};
    static const char *const w4[] = {"4", "0.1", "0.1", "-0.05", "-0.0000000001", N, "1", "0101010101", "2155"};
    check_event("t_num insert 1", &t, &W_NUM1, w1, 1);
    check_event("t_num insert 2", &t, &W_NUM2, w2, 1);
    check_event("t_num insert 3", &t, &W_NUM3, w3, 1);
    check_event("t_num insert 4", &t, &W_NUM4, w4, 1);
    check_event("t_num delete 4", &t, &D_NUM4, w4, 1);
    sl_arena_free(&t.arena);
}

static void test_time(void) {
    table t;
    CHECK(load(&t, &M_TIME) == 0);
    static const uint8_t types[] = {3, 10, 19, 19, 18, 18, 18, 17, 17};
    static const uint16_t metas[] = {0, 0, 0, 6, 0, 3, 6, 0, 6};
    static const sl_ctype ct[] = {SL_T_INT32, SL_T_DATE, SL_T_TIME, SL_T_TIME, SL_T_TIMESTAMP, SL_T_TIMESTAMP,
                                  SL_T_TIMESTAMP, SL_T_TIMESTAMPTZ, SL_T_TIMESTAMPTZ};
    for (int i = 0; i < 9; i++)
        CHECK(t.cols[i].type == types[i] && t.cols[i].meta == metas[i] && sl_my_ctype(&t.cols[i]) == ct[i]);
    static const char *const w1[] = {"1", "2024-02-29", "12:34:56", "-838:59:59.000000", "2024-02-29 23:59:59",
                                     "2024-02-29 23:59:59.123", "1000-01-01 00:00:00.000001",
                                     "2038-01-19 03:14:07+00", "2024-02-29 12:00:00.654321+00"};
    static const char *const w2[] = {"2", "1000-01-01", "-00:00:01", "838:59:59.999999", "9999-12-31 23:59:59",
                                     "0000-00-00 00:00:00.000", "9999-12-31 23:59:59.999999",
                                     "1970-01-01 00:00:01+00", "1970-01-01 00:00:01.000001+00"};
    static const char *const w3[] = {"3", "0000-00-00", "-12:34:56", "-00:00:00.000001", "0000-00-00 00:00:00",
                                     "2000-01-01 00:00:00.500", "2000-01-01 00:00:00.500000",
                                     "0000-00-00 00:00:00+00", "0000-00-00 00:00:00+00"};
    static const char *const w4[] = {"4", N, "100:00:00", "-01:02:03.400000", N, N, N, N, N};
    check_event("t_time insert 1", &t, &W_TIME1, w1, 1);
    check_event("t_time insert 2", &t, &W_TIME2, w2, 1);
    check_event("t_time insert 3", &t, &W_TIME3, w3, 1);
    check_event("t_time insert 4", &t, &W_TIME4, w4, 1);
    check_event("t_time delete 4", &t, &D_TIME4, w4, 1);
    sl_arena_free(&t.arena);

    /* TIME2/DATETIME2/TIMESTAMP2 with every fsp; negative times with a fraction in 1, 2 and 3 bytes */
    CHECK(load(&t, &M_FRAC) == 0);
    for (int i = 1; i <= 5; i++) CHECK(t.cols[i].type == 19 && t.cols[i].meta == i);
    static const char *const f1[] = {"1",
                                     "-01:00:00.5",
                                     "-00:00:00.01",
                                     "-12:00:00.999",
                                     "-00:00:01.0001",
                                     "-838:59:58.99999",
                                     "2024-01-02 03:04:05.6",
                                     "2024-01-02 03:04:05.12345",
                                     "2001-09-09 01:46:40.99+00",
                                     "2024-06-30 23:59:59.001+00"};
    static const char *const f2[] = {"2",
                                     "01:00:00.5",
                                     "00:00:00.01",
                                     "12:00:00.999",
                                     "00:00:01.0001",
                                     "838:59:58.99999",
                                     "0000-00-00 00:00:00.0",
                                     "9999-12-31 23:59:59.99999",
                                     "1970-01-01 00:00:00.01+00",
                                     "0000-00-00 00:00:00+00"};
    static const char *const f3[] = {"3", "-00:00:00.1", "00:00:00.00", "00:00:00.000", "-34:00:00.0000",
                                     "-00:00:00.00001", N, N, N, N};
    check_event("t_frac insert 1", &t, &W_FRAC1, f1, 1);
    check_event("t_frac insert 2", &t, &W_FRAC2, f2, 1);
    check_event("t_frac insert 3", &t, &W_FRAC3, f3, 1);
    sl_arena_free(&t.arena);
}

/* MariaDB 5.3 temporal formats: no metadata in the table map; the caller supplies the fsp. */
static void test_old_temporal(void) {
    table t;
    CHECK(load(&t, &M_OLD) == 0);
    static const uint8_t types[] = {3, 11, 11, 11, 12, 12, 12, 7, 7};
    static const uint16_t fsp[] = {0, 0, 3, 6, 0, 2, 6, 0, 4};
    for (int i = 0; i < 9; i++) {
        CHECK(t.cols[i].type == types[i] && t.cols[i].meta == 0);
        t.cols[i].meta = fsp[i]; /* information_schema.COLUMNS.DATETIME_PRECISION */
    }
    CHECK(sl_my_ctype(&t.cols[1]) == SL_T_TIME && sl_my_ctype(&t.cols[4]) == SL_T_TIMESTAMP &&
          sl_my_ctype(&t.cols[7]) == SL_T_TIMESTAMPTZ);
    static const char *const w1[] = {"1",
                                     "-838:59:59",
                                     "12:34:56.789",
                                     "-01:02:03.000004",
                                     "2024-02-29 23:59:59",
                                     "2024-02-29 23:59:59.12",
                                     "1000-01-01 00:00:00.000001",
                                     "2038-01-19 03:14:07+00",
                                     "2024-02-29 12:00:00.6543+00"};
    static const char *const w2[] = {"2",
                                     "00:00:00",
                                     "-00:00:00.001",
                                     "838:59:59.999999",
                                     "0000-00-00 00:00:00",
                                     "0000-00-00 00:00:00.00",
                                     "9999-12-31 23:59:59.999999",
                                     "0000-00-00 00:00:00+00",
                                     "1970-01-01 00:00:01.0001+00"};
    check_event("t_old insert 1", &t, &W_OLD1, w1, 1);
    check_event("t_old insert 2", &t, &W_OLD2, w2, 1);
    sl_arena_free(&t.arena);

    CHECK(load(&t, &M_OLD2) == 0);
    static const uint16_t fsp2[] = {0, 1, 5, 1, 4, 2, 6};
    for (int i = 0; i < 7; i++) t.cols[i].meta = fsp2[i];
    static const char *const v1[] = {"1",
                                     "-00:00:00.1",
                                     "123:45:06.54321",
                                     "2024-01-02 03:04:05.6",
                                     "1999-12-31 23:59:59.9999",
                                     "2001-09-09 01:46:40.99+00",
                                     "2024-06-30 23:59:59.000001+00"};
    static const char *const v2[] = {"2",
                                     "838:59:59.9",
                                     "-838:59:59.99999",
                                     "0000-00-00 00:00:00.0",
                                     "9999-12-31 23:59:59.0001",
                                     "0000-00-00 00:00:00+00",
                                     "1970-01-01 00:00:00.500000+00"};
    check_event("t_old2 insert 1", &t, &W_OLD2_1, v1, 1);
    check_event("t_old2 insert 2", &t, &W_OLD2_2, v2, 1);
    sl_arena_free(&t.arena);

    CHECK(load(&t, &M_OLD3) == 0);
    static const uint16_t fsp3[] = {0, 2, 4, 3, 5, 1, 3, 5};
    for (int i = 0; i < 8; i++) t.cols[i].meta = fsp3[i];
    static const char *const x1[] = {"1",
                                     "-00:00:00.01",
                                     "-838:59:59.9999",
                                     "2024-02-29 23:59:59.999",
                                     "1000-01-01 00:00:00.00001",
                                     "2038-01-19 03:14:07.9+00",
                                     "1970-01-01 00:00:01.001+00",
                                     "2024-06-30 23:59:59.12345+00"};
    static const char *const x2[] = {"2",
                                     "838:59:59.00",
                                     "00:00:00.0000",
                                     "9999-12-31 23:59:59.000",
                                     "0000-00-00 00:00:00.00000",
                                     "1970-01-01 00:00:01.0+00",
                                     "0000-00-00 00:00:00+00",
                                     "2001-09-09 01:46:40.00000+00"};
    static const char *const x3[] = {"3", "-12:34:56.78", "-01:00:00.0001", "2024-02-29 12:00:00.500",
                                     "1999-12-31 23:59:59.99999", N, N, N};
    check_event("t_old3 insert 1", &t, &W_OLD3_1, x1, 1);
    check_event("t_old3 insert 2", &t, &W_OLD3_2, x2, 1);
    check_event("t_old3 insert 3", &t, &W_OLD3_3, x3, 1);
    /* Without the precision (the table map has none) the hires bytes are misread: TIME(2)'s 4 bytes
       read as the classic 3-byte HHMMSS give an impossible time. */
    t.cols[1].meta = 0;
    {
        char err[256] = "";
        size_t n, np;
        uint8_t *rows = unhex(W_OLD3_1.rows, &n), *present = unhex(W_OLD3_1.present, &np);
        sl_arena a;
        sl_cell cells[8];
        sl_arena_init(&a);
        CHECK(sl_my_decode_row(t.cols, t.ncols, present, t.ncols, rows, n, &a, cells, err, sizeof err) == -1);
        CHECK(strstr(err, "column 1 (t2, type 11): time out of range") != NULL);
        sl_arena_free(&a);
        free(rows), free(present);
    }
    sl_arena_free(&t.arena);
}

#define POINT00 "x:00000000010100000000000000000000000000000000000000"

static void test_str(void) {
    table t;
    CHECK(load(&t, &M_STR) == 0);
    /* types after the ENUM/SET fix-up; STRING meta decoded to the byte length (incl. the > 255 trick) */
    static const uint8_t types[] = {3, 254, 254, 254, 15, 15, 254, 15, 252, 252, 252, 252, 252, 247, 248, 255, 255};
    static const uint16_t metas[] = {0, 40, 10, 400, 1200, 20, 4, 10, 1, 2, 3, 4, 4, 1, 1, 4, 4};
    static const uint32_t cs[] = {0, 45, 8, 45, 45, 8, 63, 63, 63, 45, 63, 8, 46, 45, 45, 63, 63};
    static const sl_ctype ct[] = {SL_T_INT32,  SL_T_STRING, SL_T_STRING, SL_T_STRING, SL_T_STRING, SL_T_STRING,
                                  SL_T_BYTES,  SL_T_BYTES,  SL_T_BYTES,  SL_T_STRING, SL_T_BYTES,  SL_T_STRING,
                                  SL_T_STRING, SL_T_ENUM,   SL_T_SET,    SL_T_GEOMETRY, SL_T_GEOMETRY};
    for (int i = 0; i < 17; i++) {
        if (t.cols[i].type != types[i] || t.cols[i].meta != metas[i] || t.cols[i].charset != cs[i] ||
            sl_my_ctype(&t.cols[i]) != ct[i])
            fprintf(stderr, "t_str column %d: type %u meta %u charset %u\n", i, t.cols[i].type, t.cols[i].meta,
                    t.cols[i].charset);
        CHECK(t.cols[i].type == types[i] && t.cols[i].meta == metas[i] && t.cols[i].charset == cs[i]);
        CHECK(sl_my_ctype(&t.cols[i]) == ct[i]);
        CHECK(t.cols[i].binary == (cs[i] == 63));
    }
    CHECK_STR(t.cols[12].name, "j"); /* MariaDB JSON is LONGTEXT utf8mb4_bin in the binlog */
    CHECK(t.cols[13].nlabels == 3 && strcmp(t.cols[13].labels[1], "bé") == 0);
    CHECK(t.cols[14].nlabels == 3 && strcmp(t.cols[14].labels[2], "z") == 0);
    CHECK(t.npk == 1 && t.pk[0] == 0);

    static const char *const w1[] = {
        "1",
        "héllo €",
        "héllo ÿ",
        "x:{c3a9*100}",
        "x:{78*300}",
        "Ça",
        "x:00010203",
        "x:00ff",
        "x:deadbeef",
        "text ✓",
        "x:{41*70000}",
        "long ñ",
        "{\"a\": [1, 2.5, \"é\"]}",
        "bé",
        "x,z",
        "x:e610000001020000000200000000000000000000000000000000000000000000000000f03f000000000000f03f",
        "x:000000000101000000000000000000f83f00000000000000c0"};
    /* BINARY(4) 0x61: the binlog has the byte without its zero padding, the cell has the padding back */
    static const char *const w2[] = {"2", "", "", "", "", "", "x:61000000", "x:", "x:", "", "x:", "", "[]", "", "",
                                     POINT00, POINT00};
    static const char *const w3[] = {"3", N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N};
    static const char *const w4[] = {"4", N, N, N, N, N, N, N, N, N, N, N, N, "c", "x,y,z", N, N};
    static const char *const u2[] = {
        "2", "", "", "", "",    "", "x:61000000", "x:", "x:", "", "x:", "", "[]", "",  "", POINT00, POINT00,
        "2", "", "", "", "upd", "", "x:61000000", "x:", "x:", "", "x:", "", "[]", "a", "", POINT00, POINT00};
    check_event("t_str insert 1", &t, &W_STR1, w1, 1);
    check_event("t_str insert 2", &t, &W_STR2, w2, 1);
    check_event("t_str insert 3", &t, &W_STR3, w3, 1);
    check_event("t_str insert 4", &t, &W_STR4, w4, 1);
    check_event("t_str update", &t, &U_STR2, u2, 2);
    sl_arena_free(&t.arena);
}

static void test_charsets(void) {
    table t;
    /* SIGNEDNESS: YEAR counted (unsigned), BIT not */
    CHECK(load(&t, &M_SIG) == 0);
    CHECK(t.cols[0].is_unsigned && !t.cols[1].is_unsigned && !t.cols[2].is_unsigned && t.cols[3].is_unsigned);
    CHECK(t.cols[2].meta == 3 && sl_my_ctype(&t.cols[3]) == SL_T_INT16);
    CHECK(t.npk == 0 && t.pk == NULL);
    static const char *const s1[] = {"2000", "1", "101", "7"};
    check_event("x_sig insert", &t, &W_SIG, s1, 1);
    sl_arena_free(&t.arena);

    /* DEFAULT_CHARSET + ENUM_AND_SET_DEFAULT_CHARSET with an exception; latin1 labels become UTF-8 */
    CHECK(load(&t, &M_CS) == 0);
    CHECK(t.cols[1].charset == 45 && t.cols[2].charset == 45 && t.cols[3].charset == 8 && t.cols[4].charset == 8 &&
          t.cols[5].charset == 45);
    CHECK(t.cols[3].nlabels == 2 && strcmp(t.cols[3].labels[0], "ä") == 0);
    CHECK(t.cols[4].nlabels == 2 && strcmp(t.cols[4].labels[0], "ü") == 0);
    CHECK(t.cols[5].nlabels == 2 && strcmp(t.cols[5].labels[1], "ß") == 0);
    static const char *const c1[] = {"1", "ä", "ö", "ö", "ü,b", "ß"};
    check_event("x_cs insert", &t, &W_CS, c1, 1);
    sl_arena_free(&t.arena);

    /* latin1 table: CHAR/VARCHAR bytes and ENUM labels converted */
    CHECK(load(&t, &M_L1) == 0);
    CHECK(t.cols[1].charset == 8 && t.cols[2].charset == 8 && t.cols[3].charset == 8);
    static const char *const l1[] = {"1", "ä", "ÿ", "ö"};
    check_event("x_l1 insert", &t, &W_L1, l1, 1);
    sl_arena_free(&t.arena);

    /* binlog_row_metadata=MINIMAL: no names, no labels: the ENUM cannot be decoded without them */
    CHECK(load(&t, &M_CS_MINIMAL) == 0);
    CHECK(t.cols[1].name == NULL && t.cols[1].charset == 45 && t.cols[3].nlabels == 0);
    {
        char err[256] = "";
        size_t n, np;
        uint8_t *rows = unhex(W_CS_MINIMAL.rows, &n), *pr = unhex(W_CS_MINIMAL.present, &np);
        sl_cell cells[6];
        CHECK(sl_my_decode_row(t.cols, 6, pr, 6, rows, n, &t.arena, cells, err, sizeof err) == -1);
        CHECK(strstr(err, "column 3") && strstr(err, "ENUM index 2"));
        /* labels from information_schema (UTF-8) make it decodable */
        static const char *const e[] = {"ä", "ö"}, *const s[] = {"ü", "b"}, *const e2[] = {"z", "ß"};
        t.cols[3].labels = e, t.cols[3].nlabels = 2;
        t.cols[4].labels = s, t.cols[4].nlabels = 2;
        t.cols[5].labels = e2, t.cols[5].nlabels = 2;
        CHECK(sl_my_decode_row(t.cols, 6, pr, 6, rows, n, &t.arena, cells, err, sizeof err) == (long)n);
        CHECK(cells[4].len == 4 && memcmp(cells[4].data, "ü,b", 4) == 0);
        free(rows), free(pr);
    }
    sl_arena_free(&t.arena);
}

/* ------------------------------------------------------------------------
 * Hand-made bad input
 */

/* Decodes one value of a single-column table; returns the result and leaves the text in out. */
static long one(uint8_t type, uint16_t meta, const char *hex, char *out, size_t outsz, char *err, size_t errsz) {
    sl_my_col col = {.type = type, .meta = meta, .name = "c"};
    uint8_t present = 1;
    size_t n;
    uint8_t *p = unhex(hex, &n);
    sl_arena a;
    sl_arena_init(&a);
    sl_cell cell;
    err[0] = out[0] = 0;
    long r = sl_my_decode_row(&col, 1, &present, 1, p, n, &a, &cell, err, errsz);
    if (r >= 0) snprintf(out, outsz, "%.*s", (int)cell.len, cell.data ? cell.data : "");
    sl_arena_free(&a);
    free(p);
    return r;
}

static void test_bad_values(void) {
    char out[128], err[256];
    /* absurd lengths */
    CHECK(one(15, 300, "00ffff41", out, sizeof out, err, sizeof err) == -1 && strstr(err, "length 65535"));
    CHECK(one(252, 4, "00ffffffff41", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(252, 4, "0003000000414243", out, sizeof out, err, sizeof err) == 8 && strcmp(out, "ABC") == 0);
    CHECK(one(254, 10, "0005414243", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(15, 2, "0003414243", out, sizeof out, err, sizeof err) == -1 && strstr(err, "above"));
    CHECK(one(254, 2, "0003414243", out, sizeof out, err, sizeof err) == -1 && strstr(err, "above"));
    CHECK(one(15, 3, "0003414243", out, sizeof out, err, sizeof err) == 5 && strcmp(out, "ABC") == 0);
    CHECK(one(255, 4, "00ffffff7f", out, sizeof out, err, sizeof err) == -1);
    /* corrupt decimal: a 9-digit group of 0xffffffff; DECIMAL(5,2) takes exactly 3 bytes */
    CHECK(one(246, 20 << 8 | 0, "0080ffffffff00000000", out, sizeof out, err, sizeof err) == -1 &&
          strstr(err, "DECIMAL"));
    CHECK(one(246, 5 << 8 | 2, "00807b39", out, sizeof out, err, sizeof err) == 4 && strcmp(out, "123.57") == 0);
    /* metadata the decoder would trust */
    CHECK(one(246, 66 << 8 | 2, "00", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(246, 5 << 8 | 6, "00", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(16, 9 << 8, "00", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(16, 8, "00", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(18, 7, "00", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(252, 5, "00", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(247, 3, "00", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(245, 4, "0000000000", out, sizeof out, err, sizeof err) == -1 && strstr(err, "JSON"));
    CHECK(one(6, 0, "00", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(0, 0, "00", out, sizeof out, err, sizeof err) == -1);
    /* out-of-range dates and times */
    CHECK(one(10, 0, "00ff01", out, sizeof out, err, sizeof err) == -1);                 /* month 15 */
    CHECK(one(18, 0, "00ffffffffff", out, sizeof out, err, sizeof err) == -1);           /* hour 31 */
    CHECK(one(18, 0, "007fffffffff", out, sizeof out, err, sizeof err) == -1);           /* negative */
    CHECK(one(18, 2, "0099b2bb7efbff", out, sizeof out, err, sizeof err) == -1);         /* fraction 255 */
    CHECK(one(12, 0, "00ffffffffffffffff", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(7, 4, "0000000000ffff", out, sizeof out, err, sizeof err) == -1);          /* fraction 65535 */
    CHECK(one(19, 0, "00801f80", out, sizeof out, err, sizeof err) == -1);               /* minute 62 */
    /* ENUM / SET without labels or beyond them */
    CHECK(one(247, 1, "0001", out, sizeof out, err, sizeof err) == -1 && strstr(err, "ENUM index 1"));
    CHECK(one(247, 2, "000000", out, sizeof out, err, sizeof err) == 3 && strcmp(out, "") == 0);
    CHECK(one(248, 8, "000000000000000080", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(248, 1, "0000", out, sizeof out, err, sizeof err) == 2 && strcmp(out, "") == 0);
    /* floats: NaN and infinity never come from the server; the shortest form otherwise */
    CHECK(one(4, 4, "000000c07f", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(5, 8, "00000000000000f07f", out, sizeof out, err, sizeof err) == -1);
    CHECK(one(4, 4, "00cdcccc3d", out, sizeof out, err, sizeof err) == 5 && strcmp(out, "0.1") == 0);
    CHECK(one(5, 8, "000000000000000080", out, sizeof out, err, sizeof err) == 9 && strcmp(out, "-0") == 0);
    /* BIT(64), YEAR, MEDIUMINT sign extension */
    CHECK(one(16, 8 << 8, "008000000000000001", out, sizeof out, err, sizeof err) == 9 &&
          strcmp(out, "1000000000000000000000000000000000000000000000000000000000000001") == 0);
    CHECK(one(13, 0, "00ff", out, sizeof out, err, sizeof err) == 2 && strcmp(out, "2155") == 0);
    CHECK(one(9, 0, "00feffff", out, sizeof out, err, sizeof err) == 4 && strcmp(out, "-2") == 0);
    /* latin1 text: cp1252 in 0x80-0x9f, the five holes as C1 controls (what the server converts them to) */
    {
        sl_my_col col = {.type = 15, .meta = 20, .charset = 8, .name = "l"};
        uint8_t present = 1, row[] = {0, 9, 0x80, 0x81, 0x8d, 0x8f, 0x90, 0x9d, 0x9f, 0xa0, 0xff};
        sl_arena a;
        sl_arena_init(&a);
        sl_cell cell;
        CHECK(sl_my_decode_row(&col, 1, &present, 1, row, sizeof row, &a, &cell, err, sizeof err) == (long)sizeof row);
        char *h = tohex(cell.data, cell.len);
        CHECK_STR(h, "e282acc281c28dc28fc290c29dc5b8c2a0c3bf");
        free(h);
        sl_arena_free(&a);
    }
    /* column count limits */
    {
        sl_my_col col = {.type = 3};
        uint8_t present = 1, row[] = {0, 1, 0, 0, 0};
        sl_arena a;
        sl_arena_init(&a);
        sl_cell cell;
        CHECK(sl_my_decode_row(&col, 0, &present, 0, row, sizeof row, &a, &cell, err, sizeof err) == -1);
        CHECK(sl_my_decode_row(&col, SL_MY_MAX_COLS + 1, &present, SL_MY_MAX_COLS + 1, row, sizeof row, &a, &cell, err,
                               sizeof err) == -1);
        /* a rows event whose own column count is not its table map's: refused before its bitmap is read */
        CHECK(sl_my_decode_row(&col, 1, &present, 0, row, sizeof row, &a, &cell, err, sizeof err) == -1);
        CHECK(strstr(err, "the rows event has 0 columns, its table map 1") != NULL);
        sl_arena_free(&a);
    }
}

static int parse_opt(const char *hex, sl_my_col *cols, int ncols, sl_arena *a) {
    char err[256];
    size_t n;
    uint8_t *p = unhex(hex, &n);
    int rc = sl_my_parse_optional_meta(p, n, cols, ncols, a, NULL, NULL, err, sizeof err);
    free(p);
    return rc;
}

static void test_bad_meta(void) {
    char err[256];
    sl_my_col cols[4];
    uint8_t types[] = {246, 254, 16, 15};
    uint8_t meta[] = {5, 2, 0xee, 0x90, 2, 1, 0x2c, 0x01};
    memset(cols, 0, sizeof cols);
    CHECK(sl_my_parse_meta(types, 4, meta, sizeof meta, cols, err, sizeof err) == 0);
    CHECK(cols[1].type == 254 && cols[1].meta == 400 && cols[2].meta == 0x0102 && cols[3].meta == 300);
    /* every shorter metadata block fails, and so does a longer one */
    int wrong = 0;
    for (size_t k = 0; k < sizeof meta; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, meta, k);
        wrong += sl_my_parse_meta(types, 4, cut, k, cols, err, sizeof err) != -1;
        free(cut);
    }
    CHECK(wrong == 0);
    uint8_t longer[] = {5, 2, 0xee, 0x90, 2, 1, 0x2c, 0x01, 0};
    CHECK(sl_my_parse_meta(types, 4, longer, sizeof longer, cols, err, sizeof err) == -1 && strstr(err, "left"));
    /* bad values */
    uint8_t dec0[] = {0, 0}, dec66[] = {66, 2}, str_bad[] = {0xf6, 4}, bit_bad[] = {8, 0}, u20[] = {20};
    CHECK(sl_my_parse_meta(types, 1, dec0, 2, cols, err, sizeof err) == -1 && strstr(err, "DECIMAL"));
    CHECK(sl_my_parse_meta(types, 1, dec66, 2, cols, err, sizeof err) == -1);
    CHECK(sl_my_parse_meta(types + 1, 1, str_bad, 2, cols, err, sizeof err) == -1);
    CHECK(sl_my_parse_meta(types + 2, 1, bit_bad, 2, cols, err, sizeof err) == -1);
    CHECK(sl_my_parse_meta(u20, 1, NULL, 0, cols, err, sizeof err) == -1 && strstr(err, "unsupported"));
    uint8_t blob[] = {252}, blob5[] = {5}, enum_meta[] = {0xf7, 3}, set_meta[] = {0xf8, 9};
    CHECK(sl_my_parse_meta(blob, 1, blob5, 1, cols, err, sizeof err) == -1);
    CHECK(sl_my_parse_meta(types + 1, 1, enum_meta, 2, cols, err, sizeof err) == -1);
    CHECK(sl_my_parse_meta(types + 1, 1, set_meta, 2, cols, err, sizeof err) == -1);
    CHECK(sl_my_parse_meta(types, 0, meta, sizeof meta, cols, err, sizeof err) == -1);
    CHECK(sl_my_parse_meta(types, SL_MY_MAX_COLS + 1, meta, sizeof meta, cols, err, sizeof err) == -1);

    /* optional metadata */
    sl_arena a;
    sl_arena_init(&a);
    int *pk, npk;
    uint8_t itypes[] = {3, 3, 15};
    uint8_t imeta[] = {10, 0};
    sl_my_col ic[3];
    memset(ic, 0, sizeof ic);
    CHECK(sl_my_parse_meta(itypes, 3, imeta, 2, ic, err, sizeof err) == 0);
    static const struct {
        const char *hex;
        int rc;
    } cases[] = {
        {"0101c0", 0},                 /* both INTs unsigned */
        {"0100", -1},                  /* SIGNEDNESS too short */
        {"010a", -1},                  /* field length past the end */
        {"01fb", -1},                  /* bad packed length */
        {"0302083f", -1},              /* COLUMN_CHARSET: one column too many */
        {"0300", -1},                  /* COLUMN_CHARSET: none */
        {"0201080102", -1},            /* DEFAULT_CHARSET: exception for a column that does not exist */
        {"020108", 0},                 /* DEFAULT_CHARSET latin1 */
        {"0403016101", -1},            /* COLUMN_NAME: truncated */
        {"0406016101620163", 0},       /* COLUMN_NAME */
        {"040701610162016301", -1},    /* COLUMN_NAME: one too many */
        {"080103", -1},                /* PK column out of range */
        {"08020102", 0},               /* PK (1, 2) */
        {"0903010005", -1},            /* PK with prefix: truncated pair */
        {"09020105", 0},               /* PK with prefix (1, prefix 5) */
        {"630201fe", 0},               /* unknown field: skipped */
        {"0c0100", 0},                 /* COLUMN_VISIBILITY: skipped */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *p = unhex(cases[i].hex, &n);
        int rc = sl_my_parse_optional_meta(p, n, ic, 3, &a, &pk, &npk, err, sizeof err);
        if (rc != cases[i].rc) fprintf(stderr, "optional metadata %s: rc %d (%s)\n", cases[i].hex, rc, err);
        CHECK(rc == cases[i].rc);
        free(p);
    }
    CHECK(ic[0].is_unsigned && ic[1].is_unsigned && ic[2].charset == 8 && strcmp(ic[2].name, "c") == 0);
    CHECK(sl_my_parse_optional_meta((const uint8_t *)"\x08\x02\x01\x02", 4, ic, 3, &a, &pk, &npk, err,
                                    sizeof err) == 0);
    CHECK(npk == 2 && pk[0] == 1 && pk[1] == 2);
    CHECK(parse_opt("0b00", ic, 3, &a) == 0);   /* ENUM_AND_SET_COLUMN_CHARSET, no such columns */
    CHECK(parse_opt("0b0108", ic, 3, &a) == -1); /* ... naming one that does not exist */

    /* ENUM labels: a count larger than the field, a truncated label */
    uint8_t etypes[] = {254}, emeta[] = {0xf7, 1};
    sl_my_col ec[1];
    memset(ec, 0, sizeof ec);
    CHECK(sl_my_parse_meta(etypes, 1, emeta, 2, ec, err, sizeof err) == 0 && ec[0].type == 247);
    CHECK(parse_opt("0602fcff", ec, 1, &a) == -1);   /* 0xffff labels in a 2-byte field */
    CHECK(parse_opt("0603010561", ec, 1, &a) == -1); /* label of 5 bytes, 1 there */
    CHECK(parse_opt("0603010161", ec, 1, &a) == 0);
    CHECK(ec[0].nlabels == 1 && strcmp(ec[0].labels[0], "a") == 0);
    sl_arena_free(&a);

    /* every truncation of the captured optional metadata parses or fails, without over-reads */
    size_t n;
    uint8_t *opt = unhex(M_STR.opt, &n), *ty = unhex(M_STR.types, &(size_t){0}), *me;
    size_t nm;
    me = unhex(M_STR.meta, &nm);
    for (size_t k = 0; k <= n; k++) {
        sl_my_col sc[17];
        memset(sc, 0, sizeof sc);
        CHECK(sl_my_parse_meta(ty, 17, me, nm, sc, err, sizeof err) == 0);
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, opt, k);
        sl_arena_init(&a);
        int rc = sl_my_parse_optional_meta(cut, k, sc, 17, &a, &pk, &npk, err, sizeof err);
        CHECK(rc == 0 || rc == -1);
        sl_arena_free(&a);
        free(cut);
    }
    free(opt), free(ty), free(me);
}

int main(void) {
    test_int();
    test_num();
    test_time();
    test_old_temporal();
    test_str();
    test_charsets();
    test_bad_values();
    test_bad_meta();
    TEST_END();
}
