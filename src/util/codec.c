#include "util/codec.h"
#include "util/mem.h"
#include <string.h>

static int b64val(unsigned char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

bool sl_b64_decode(const char *s, size_t n, uint8_t *out, size_t *outn) {
    while (n && s[n - 1] == '=') n--;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    *outn = k;
    return true;
}

size_t sl_unscaled_digits(const uint8_t *b, size_t n, char *dig, bool *neg) {
    uint8_t small[64], *mag = n <= sizeof small ? small : sl_malloc(n);
    size_t nd = 0;
    *neg = n && (b[0] & 0x80);
    if (n) memcpy(mag, b, n);
    if (*neg) { /* two's complement: invert and add one */
        for (size_t i = 0; i < n; i++) mag[i] = (uint8_t)~mag[i];
        for (size_t i = n; i-- > 0;)
            if (++mag[i]) break;
    }
    size_t from = 0; /* leading zero bytes need no more division */
    for (;;) {       /* repeated division by 10, least significant digit first */
        unsigned rem = 0;
        while (from < n && mag[from] == 0) from++;
        for (size_t i = from; i < n; i++) {
            unsigned cur = (rem << 8) | mag[i];
            mag[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
        }
        dig[nd++] = (char)('0' + rem);
        while (from < n && mag[from] == 0) from++;
        if (from == n) break;
    }
    if (mag != small) sl_free(mag);
    return nd;
}

void sl_put_unscaled_decimal(sl_buf *out, const uint8_t *b, size_t n, int32_t scale) {
    char small[160], *dig = n * 241 / 100 + 2 <= sizeof small ? small : sl_malloc(n * 241 / 100 + 2);
    bool neg;
    size_t nd = sl_unscaled_digits(b, n, dig, &neg);
    bool zero = nd == 1 && dig[0] == '0';
    if (neg && !zero) sl_buf_putc(out, '-');
    if (scale <= 0) {
        for (size_t i = nd; i-- > 0;) sl_buf_putc(out, dig[i]);
        if (!zero)
            for (int32_t i = 0; i < -scale; i++) sl_buf_putc(out, '0');
    } else {
        size_t sc = (size_t)scale;
        if (nd <= sc) {
            sl_buf_puts(out, "0.");
            for (size_t i = nd; i < sc; i++) sl_buf_putc(out, '0');
            for (size_t i = nd; i-- > 0;) sl_buf_putc(out, dig[i]);
        } else {
            for (size_t i = nd; i-- > sc;) sl_buf_putc(out, dig[i]);
            sl_buf_putc(out, '.');
            for (size_t i = sc; i-- > 0;) sl_buf_putc(out, dig[i]);
        }
    }
    if (dig != small) sl_free(dig);
}
