/*
 * Growable byte buffer, the one output primitive of the encoders: JSON is
 * written straight into it (no intermediate DOM), then handed to the sink.
 */
#ifndef SL_UTIL_BUF_H
#define SL_UTIL_BUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Takes n bytes a spilling buffer hands on (e.g. writes them to a file); errors are its own to keep. */
typedef void sl_buf_spill_fn(void *arg, const char *p, size_t n);

typedef struct sl_buf {
    char *data;
    size_t len;
    size_t cap;
    /* Optional (sl_buf_set_spill): instead of growing past spill_at bytes, the buffer hands what it
     * holds to spill and starts again empty, and a single write larger than spill_at goes to spill
     * directly, so that one very large value is never whole in memory. Not while hold > 0 (a
     * writer that may still take back what it wrote: sl_buf_hold). */
    sl_buf_spill_fn *spill;
    void *spill_arg;
    size_t spill_at;
    int hold;
} sl_buf;

void sl_buf_init(sl_buf *b);
void sl_buf_free(sl_buf *b);
void sl_buf_reset(sl_buf *b);
/* Makes b spill (see sl_buf) at spill_at bytes; fn NULL: an ordinary buffer again. */
void sl_buf_set_spill(sl_buf *b, sl_buf_spill_fn *fn, void *arg, size_t spill_at);
/* Hands what b holds to its spill function now (nothing without one, or while held). */
void sl_buf_spill(sl_buf *b);
/* A writer that may set len back to a mark taken before (a value that turns out malformed) holds
 * the buffer meanwhile, so nothing after the mark is handed on. */
static inline void sl_buf_hold(sl_buf *b) { b->hold++; }
static inline void sl_buf_unhold(sl_buf *b) { b->hold--; }
/* Slow path of sl_buf_reserve: spills or grows the allocation. */
void sl_buf_grow(sl_buf *b, size_t extra);
/* Slow path of sl_buf_put. */
void sl_buf_put_slow(sl_buf *b, const void *p, size_t n);

/* The appenders are inline: they run several times per encoded value. */
static inline void sl_buf_reserve(sl_buf *b, size_t extra) {
    if (b->len + extra + 1 > b->cap) sl_buf_grow(b, extra);
}
static inline void sl_buf_put(sl_buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        sl_buf_put_slow(b, p, n);
        return;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
static inline void sl_buf_puts(sl_buf *b, const char *s) { sl_buf_put(b, s, strlen(s)); }
static inline void sl_buf_putc(sl_buf *b, char c) {
    sl_buf_reserve(b, 1);
    b->data[b->len++] = c;
}
void sl_buf_printf(sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_buf_put_i64(sl_buf *b, int64_t v);
void sl_buf_put_u64(sl_buf *b, uint64_t v);
/* A JSON string literal, quotes included, escaping per RFC 8259. */
void sl_buf_put_json_str(sl_buf *b, const char *s, size_t n);
/* Standard base64 (with padding) of n bytes. */
void sl_buf_put_base64(sl_buf *b, const void *p, size_t n);
/* True when s is a decimal number as SQL writes a literal: [-]digits, or with fraction also [-]digits.digits. */
bool sl_decimal_text_ok(const char *s, bool fraction);
/* Appends the decimal text s ([-]digits[.digits]) with exactly `scale` fraction digits (cut or zero-filled). */
void sl_buf_put_decimal_scaled(sl_buf *b, const char *s, int scale);
/* Index of the first byte of s[0, n) that does not start a well-formed UTF-8 sequence (RFC 3629: no
   overlong forms, no surrogates, nothing above U+10FFFF), or -1 when all of it is UTF-8. */
long sl_utf8_invalid_at(const char *s, size_t n);
/* Ensures data[len] == 0 (not counted in len) and returns data. */
const char *sl_buf_cstr(sl_buf *b);

#endif
