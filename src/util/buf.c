/* Growable buffer and the JSON/base64 writers every encoder shares. */
#include "util/buf.h"
#include "util/mem.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sl_buf_init(sl_buf *b) { memset(b, 0, sizeof *b); }
void sl_buf_free(sl_buf *b) { sl_free(b->data), sl_buf_init(b); }
void sl_buf_reset(sl_buf *b) { b->len = 0; }

void sl_buf_set_spill(sl_buf *b, sl_buf_spill_fn *fn, void *arg, size_t spill_at) {
    b->spill = fn, b->spill_arg = arg, b->spill_at = spill_at;
}

void sl_buf_spill(sl_buf *b) {
    if (!b->spill || b->hold || !b->len) return;
    b->spill(b->spill_arg, b->data, b->len);
    b->len = 0;
}

/* Whether a write of extra more bytes should hand the buffer on instead of growing it. */
static bool spills(const sl_buf *b, size_t extra) { return b->spill && !b->hold && b->len + extra + 1 > b->spill_at; }

void sl_buf_grow(sl_buf *b, size_t extra) {
    if (spills(b, extra)) {
        sl_buf_spill(b);
        if (extra + 1 <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = sl_realloc(b->data, cap);
    b->cap = cap;
}

void sl_buf_put_slow(sl_buf *b, const void *p, size_t n) {
    if (spills(b, n)) {
        sl_buf_spill(b);
        if (n + 1 > b->spill_at) { /* too large to gather: straight through */
            b->spill(b->spill_arg, p, n);
            return;
        }
    }
    sl_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sl_buf_printf(sl_buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    if ((size_t)n < sizeof tmp) {
        sl_buf_put(b, tmp, (size_t)n);
        return;
    }
    sl_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sl_buf_put_u64(sl_buf *b, uint64_t v) {
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[24];
    int i = sizeof tmp;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        tmp[--i] = pairs[d + 1];
        tmp[--i] = pairs[d];
    }
    if (v >= 10) {
        tmp[--i] = pairs[v * 2 + 1];
        tmp[--i] = pairs[v * 2];
    } else {
        tmp[--i] = (char)('0' + v);
    }
    sl_buf_put(b, tmp + i, sizeof tmp - (size_t)i);
}

void sl_buf_put_i64(sl_buf *b, int64_t v) {
    if (v < 0) {
        sl_buf_putc(b, '-');
        sl_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sl_buf_put_u64(b, (uint64_t)v);
    }
}

void sl_buf_put_json_str(sl_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF"; /* Jackson writes upper-case \u escapes */
    sl_buf_reserve(b, (n < 65536 ? n : 65536) + 2); /* not all of a huge string: it may spill */
    b->data[b->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sl_buf_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sl_buf_put(b, "\\\"", 2); break;
        case '\\': sl_buf_put(b, "\\\\", 2); break;
        case '\n': sl_buf_put(b, "\\n", 2); break;
        case '\r': sl_buf_put(b, "\\r", 2); break;
        case '\t': sl_buf_put(b, "\\t", 2); break;
        case '\b': sl_buf_put(b, "\\b", 2); break;
        case '\f': sl_buf_put(b, "\\f", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sl_buf_put(b, e, 6);
        }
        }
    }
    sl_buf_put(b, s + run, n - run);
    sl_buf_putc(b, '"');
}

bool sl_decimal_text_ok(const char *s, bool fraction) {
    const char *p = s + (*s == '-');
    size_t n = strspn(p, "0123456789");
    if (n == 0) return false;
    if (fraction && p[n] == '.') p += n + 1, n = strspn(p, "0123456789");
    return p[n] == 0;
}

void sl_buf_put_decimal_scaled(sl_buf *b, const char *s, int scale) {
    const char *dot = strchr(s, '.');
    size_t have = dot ? strlen(dot + 1) : 0;
    sl_buf_put(b, s, dot ? (size_t)(dot - s) : strlen(s));
    if (scale > 0) sl_buf_putc(b, '.');
    for (int i = 0; i < scale; i++) sl_buf_putc(b, (size_t)i < have ? dot[1 + i] : '0');
}

long sl_utf8_invalid_at(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* ASCII eight bytes at a time: most text is ASCII, and numbers and dates always are */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (len == 0 || i + len > n) return (long)i;
        unsigned char c1 = s[i + 1];
        /* the second byte's range excludes overlong forms, surrogates and code points above U+10FFFF */
        unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        if (c1 < lo || c1 > hi) return (long)i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return (long)i;
        i += len;
    }
    return -1;
}

void sl_buf_put_base64(sl_buf *b, const void *p, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    sl_buf_reserve(b, (n + 2) / 3 * 4);
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        *o++ = t[s[i] >> 2];
        *o++ = t[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        *o++ = t[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
        *o++ = t[s[i + 2] & 63];
    }
    if (i < n) {
        *o++ = t[s[i] >> 2];
        if (i + 1 < n) {
            *o++ = t[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
            *o++ = t[(s[i + 1] & 15) << 2];
        } else {
            *o++ = t[(s[i] & 3) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
}

const char *sl_buf_cstr(sl_buf *b) {
    sl_buf_reserve(b, 0);
    b->data[b->len] = 0;
    return b->data;
}
