/*
 * libFuzzer target for the binlog row-image decoder. Input layout:
 *   ncols (1 byte, 1..64 used: b % 64 + 1; with its top bit set the rows event claims one column less
 *   than the table map, as a malformed event may), the column types (ncols bytes),
 *   metadata length (1 byte) and the TABLE_MAP metadata block,
 *   optional-metadata length (2 bytes LE) and the optional metadata,
 *   one byte of fractional precision for the old TIME/DATETIME/TIMESTAMP
 *   columns (as the caller would set from information_schema, b % 7),
 *   the columns-present bitmap ((ncols + 7) / 8 bytes),
 *   then row images back to back until one fails or the input ends.
 * Each input gets a fresh arena, freed at the end; every decoded cell and
 * every parsed name and label is touched so ASan checks it.
 */
#include "source/mysql/rowimage.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXC 64

static volatile unsigned sink;

static void touch(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) sink += b[i];
}

static void touch_str(const char *s) {
    if (s)
        while (*s) sink += (unsigned char)*s++;
}

typedef struct in {
    const uint8_t *p;
    size_t n;
} in;

static const uint8_t *take(in *x, size_t k) {
    if (x->n < k) return NULL;
    const uint8_t *r = x->p;
    x->p += k, x->n -= k;
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    in x = {data, size};
    const uint8_t *b, *types, *meta, *opt, *present;
    char err[256];
    if (!(b = take(&x, 1))) return 0;
    int ncols = b[0] % MAXC + 1;
    int present_bits = b[0] & 0x80 ? ncols - 1 : ncols;
    if (!(types = take(&x, (size_t)ncols)) || !(b = take(&x, 1))) return 0;
    size_t meta_len = b[0];
    if (!(meta = take(&x, meta_len)) || !(b = take(&x, 2))) return 0;
    size_t opt_len = (size_t)b[0] | (size_t)b[1] << 8;
    if (!(opt = take(&x, opt_len)) || !(b = take(&x, 1))) return 0;
    int fsp = b[0] % 7;
    if (!(present = take(&x, (size_t)(ncols + 7) / 8))) return 0;

    sl_my_col cols[MAXC];
    memset(cols, 0, sizeof cols);
    if (sl_my_parse_meta(types, ncols, meta, meta_len, cols, err, sizeof err) != 0) return touch_str(err), 0;
    sl_arena arena;
    sl_arena_init(&arena);
    int *pk = NULL, npk = 0;
    if (sl_my_parse_optional_meta(opt, opt_len, cols, ncols, &arena, &pk, &npk, err, sizeof err) != 0) {
        touch_str(err);
    } else {
        touch(pk, (size_t)npk * sizeof *pk);
        for (int i = 0; i < ncols; i++) {
            touch_str(cols[i].name);
            for (int k = 0; k < cols[i].nlabels; k++) touch_str(cols[i].labels[k]);
            if (cols[i].type == 7 || cols[i].type == 11 || cols[i].type == 12) cols[i].meta = (uint16_t)fsp;
            sink += sl_my_ctype(&cols[i]);
        }
    }
    /* the bitmap in a buffer of exactly the rows event's size: a read past it is an ASan error */
    size_t nbits = (size_t)(present_bits + 7) / 8;
    uint8_t *bits = malloc(nbits ? nbits : 1);
    memcpy(bits, present, nbits);
    sl_cell cells[MAXC];
    for (int rows = 0; x.n && rows < 64; rows++) {
        long used = sl_my_decode_row(cols, ncols, bits, present_bits, x.p, x.n, &arena, cells, err, sizeof err);
        if (used < 0) {
            touch_str(err);
            break;
        }
        for (int i = 0; i < ncols; i++)
            if (cells[i].data) touch(cells[i].data, cells[i].len);
        take(&x, (size_t)used);
        if (used == 0) break;
    }
    free(bits);
    sl_arena_free(&arena);
    return 0;
}
