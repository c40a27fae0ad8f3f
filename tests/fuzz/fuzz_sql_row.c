/*
 * libFuzzer target for the SQL-row emitter (src/format/sql_row.c), which
 * reads values that come from Kafka records. The first input byte chooses
 * the dialect (bit 0) and whether a time is a duration (bit 1); the rest is
 * JSON text [field schema, value]. What must hold: a value is written, or
 * refused with a message; a PostgreSQL COPY field never holds a raw tab,
 * newline or carriage return; a MariaDB value never holds a raw newline and
 * its quotes are balanced (every quote inside a literal is escaped).
 */
#include "format/sql_row.h"
#include "util/jscan.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static sl_vheap h;
static bool ready;

static void check_my(const sl_buf *b) {
    bool in = false;
    for (size_t i = 0; i < b->len; i++) {
        char c = b->data[i];
        if (c == '\n') abort();
        if (in && c == '\\') {
            if (++i >= b->len) abort();
        } else if (c == '\'') in = !in;
    }
    if (in) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!ready) sl_vheap_init(&h), ready = true;
    sl_sql_dialect d = data[0] & 1 ? SL_SQL_MY : SL_SQL_PG;
    bool duration = data[0] & 2;
    const char *text = (const char *)data + 1;
    size--;
    sl_jscan_err je;
    if (sl_jscan_validate(text, size, &je) < 0) return 0;
    char err[512];
    sl_vheap_reset(&h);
    sl_val *pair = sl_v_parse(&h, text, size, err, sizeof err);
    if (!pair || sl_v_kind(&h, pair) != SL_V_ARR || pair->n != 2) return 0;
    sl_sqlcol c;
    if (sl_sqlcol_compile(&h, sl_v_at(&h, pair, 0), &c, err, sizeof err) < 0) return 0;
    c.duration = duration;
    sl_buf b;
    sl_buf_init(&b);
    err[0] = 0;
    int rc = sl_sql_put_value(&c, d, &h, sl_v_at(&h, pair, 1), &b, err, sizeof err);
    if (rc < 0 && !err[0]) abort();
    if (rc == 0 && d == SL_SQL_PG && b.len && (memchr(b.data, '\t', b.len) || memchr(b.data, '\n', b.len) ||
                                               memchr(b.data, '\r', b.len)))
        abort();
    if (rc == 0 && d == SL_SQL_MY) check_my(&b);
    sl_buf_reset(&b);
    sl_sql_put_type(&c, d, false, &b);
    if (!b.len) abort();
    sl_buf_free(&b);
    sl_sqlcol_free(&c);
    return 0;
}
