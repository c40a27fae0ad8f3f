/* Parsers of the binlog events sluice reads itself (see binlog.h). */
#include "source/mysql/binlog.h"
#include "source/mysql/rowimage.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The event's length from its common header, at least min and within the len bytes at hand. */
static int event_len(const uint8_t *ev, size_t len, size_t min, size_t *out) {
    if (len < SL_MY_EVENT_HEADER_LEN) return -1;
    uint64_t n = le(ev + 9, 4);
    if (n < min || n > len) return -1;
    *out = (size_t)n;
    return 0;
}

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
    t->table_id = le(p, 6);
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

int sl_my_rotate_parse(const uint8_t *ev, size_t len, int checksum_len, sl_my_rotate *out, char *errstr,
                       size_t errsz) {
    assert(checksum_len == 0 || checksum_len == 4);
    enum { POS = SL_MY_EVENT_HEADER_LEN, NAME = POS + 8 };
    size_t n;
    const char *what = "event length";
    if (event_len(ev, len, NAME + 1 + (size_t)checksum_len, &n) < 0) goto bad;
    size_t name_len = n - NAME - (size_t)checksum_len;
    what = "file name";
    if (name_len >= sizeof out->file) goto bad;
    memcpy(out->file, ev + NAME, name_len);
    out->file[name_len] = 0;
    /* Binlog names are <basename>.NNNNNN: anything else is a misread event and must not become a position. */
    const char *dot = strrchr(out->file, '.');
    if (strlen(out->file) != name_len || !dot || dot == out->file || strlen(dot + 1) < 6 ||
        strspn(dot + 1, "0123456789") != strlen(dot + 1))
        goto bad;
    out->pos = le(ev + POS, 8);
    out->fake = le(ev, 4) == 0 || (le(ev + 17, 2) & SL_MY_EVENT_ARTIFICIAL_F);
    return 0;
bad:
    snprintf(errstr, errsz, "malformed ROTATE event: %s (%zu bytes, %s checksum)", what, len,
             checksum_len ? "with a" : "without");
    return -1;
}

int sl_my_fde_checksum_len(const uint8_t *ev, size_t len, char *errstr, size_t errsz) {
    /* body: binlog version 2, server version 50, create time 4, header length 1, one post-header length per
     * event type, then (servers with checksums) the checksum algorithm 1 and the checksum field 4 */
    enum { VERSION = SL_MY_EVENT_HEADER_LEN + 2, VERSION_LEN = 50, FIXED = VERSION + VERSION_LEN + 4 + 1 };
    size_t n;
    if (event_len(ev, len, FIXED, &n) < 0) goto bad;
    char ver[VERSION_LEN + 1];
    memcpy(ver, ev + VERSION, VERSION_LEN);
    ver[VERSION_LEN] = 0;
    unsigned a, b, c;
    /* Checksums came with MariaDB 5.3 and MySQL 5.6.1; older servers' events carry no algorithm byte. */
    if (sscanf(ver, "%u.%u.%u", &a, &b, &c) == 3 &&
        (uint64_t)a * 10000 + b * 100 + c < (strstr(ver, "MariaDB") ? 50300u : 50601u))
        return 0;
    if (n < FIXED + 5) goto bad;
    switch (ev[n - 5]) {
    case 0:    /* OFF */
    case 0xff: /* UNDEF */
        return 0;
    case 1: /* CRC32 */
        return 4;
    }
bad:
    snprintf(errstr, errsz, "malformed FORMAT_DESCRIPTION event (%zu bytes)", len);
    return -1;
}
