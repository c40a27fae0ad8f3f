/* TABLE_MAP body parser (see binlog.h). */
#include "source/mysql/binlog.h"
#include "source/mysql/rowimage.h"
#include <stdio.h>
#include <string.h>

/* Length-encoded integer of the MySQL protocol. */
static int lenenc(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    if (*p >= end) return -1;
    uint8_t b = *(*p)++;
    int n = b < 0xfb ? 0 : b == 0xfc ? 2 : b == 0xfd ? 3 : b == 0xfe ? 8 : -1;
    if (n < 0 || end - *p < n) return -1;
    *v = n ? 0 : b;
    for (int i = 0; i < n; i++) *v |= (uint64_t)(*p)[i] << (8 * i);
    *p += n;
    return 0;
}

int sl_my_tmap_parse(const uint8_t *b, size_t len, sl_my_tmap *t, char *errstr, size_t errsz) {
    const uint8_t *p = b, *end = b + len;
    const char *what = "header";
    uint64_t ncols, metalen;
#define NEED(n) do { if ((uint64_t)(end - p) < (uint64_t)(n)) goto bad; } while (0)
    NEED(9);
    t->table_id = 0;
    for (int i = 0; i < 6; i++) t->table_id |= (uint64_t)p[i] << (8 * i);
    p += 8;
    what = "database name";
    uint8_t n = *p++;
    NEED((size_t)n + 2);
    memcpy(t->db, p, n), t->db[n] = 0;
    p += n + 1;
    what = "table name";
    n = *p++;
    NEED((size_t)n + 1);
    memcpy(t->table, p, n), t->table[n] = 0;
    p += n + 1;
    what = "column count";
    if (lenenc(&p, end, &ncols) < 0 || ncols == 0 || ncols > SL_MY_MAX_COLS) goto bad;
    what = "column types";
    NEED(ncols);
    t->ncols = (int)ncols;
    t->types = p;
    p += ncols;
    what = "metadata";
    if (lenenc(&p, end, &metalen) < 0) goto bad;
    NEED(metalen);
    t->meta = p, t->meta_len = (size_t)metalen;
    p += metalen;
    what = "null bitmap";
    NEED((ncols + 7) / 8);
    t->nulls = p;
    p += (ncols + 7) / 8;
    t->opt = p, t->opt_len = (size_t)(end - p);
#undef NEED
    return 0;
bad:
    snprintf(errstr, errsz, "malformed TABLE_MAP event: %s (%zu bytes)", what, len);
    return -1;
}
