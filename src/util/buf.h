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

typedef struct sl_buf {
    char *data;
    size_t len;
    size_t cap;
} sl_buf;

void sl_buf_init(sl_buf *b);
void sl_buf_free(sl_buf *b);
void sl_buf_reset(sl_buf *b);
/* Slow path of sl_buf_reserve: grows the allocation. */
void sl_buf_grow(sl_buf *b, size_t extra);

/* The appenders are inline: they run several times per encoded value. */
static inline void sl_buf_reserve(sl_buf *b, size_t extra) {
    if (b->len + extra + 1 > b->cap) sl_buf_grow(b, extra);
}
static inline void sl_buf_put(sl_buf *b, const void *p, size_t n) {
    sl_buf_reserve(b, n);
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
