/* Debezium JSON encoder: integers, Java-formatted floating point, decimals and bit strings. */
#include "format/dbz_int.h"
#include "util/jnum.h"
#include "util/mem.h"
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Numbers: integers, Java-formatted floating point, decimals
 */

bool dbz_parse_i64(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == n) return false;
    uint64_t lim = neg ? (uint64_t)0 - (uint64_t)lo : (uint64_t)hi, v = 0;
    for (; i < n; i++) {
        if (!dbz_is_digit(s[i])) return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = !neg ? (int64_t)v : v == 0 ? 0 : -(int64_t)(v - 1) - 1;
    return true;
}

bool dbz_parse_dectext(const char *s, size_t len, dectext *x) {
    size_t i = 0;
    int exp10 = 0, ndigits = 0; /* position of the decimal point relative to the first digit seen */
    int lead = -1, point = -1, seen = 0;
    x->neg = false, x->more = false, x->n = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) x->neg = s[i++] == '-';
    for (; i < len; i++) {
        char ch = s[i];
        if (ch == '.' && point < 0) {
            point = seen;
            continue;
        }
        if (!dbz_is_digit(ch)) break;
        if (lead < 0 && ch != '0') lead = seen;
        if (lead >= 0) {
            if (x->n < MAXSIG) x->d[x->n++] = ch;
            else if (ch != '0') x->more = true;
        }
        seen++;
        ndigits++;
    }
    if (ndigits == 0) return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int64_t e;
        size_t j = i + 1;
        if (!dbz_parse_i64(s + j, len - j, -100000000, 100000000, &e)) return false;
        exp10 = (int)e;
        i = len;
    }
    if (i != len) return false;
    if (point < 0) point = seen;
    while (x->n > 0 && x->d[x->n - 1] == '0') x->n--;
    x->k = lead < 0 ? 0 : point - lead - 1 + exp10;
    return true;
}

/*
 * A decimal text (PostgreSQL float4/float8/numeric output) as Java would
 * print Double.valueOf(text) / Float.valueOf(text) / BigDecimal.doubleValue().
 * Up to 15 (6 for float) significant digits the text's digits are already
 * the shortest round-trip digits; otherwise go through strtod/strtof.
 */
bool dbz_put_float_text(sl_buf *b, const char *s, size_t n, bool is_float) {
    if (n == 3 && memcmp(s, "NaN", 3) == 0) return sl_buf_puts(b, "\"NaN\""), true;
    if ((n == 8 && memcmp(s, "Infinity", 8) == 0) || (n == 9 && memcmp(s, "+Infinity", 9) == 0))
        return sl_buf_puts(b, "\"Infinity\""), true;
    if (n == 9 && memcmp(s, "-Infinity", 9) == 0) return sl_buf_puts(b, "\"-Infinity\""), true;
    dectext x;
    if (!dbz_parse_dectext(s, n, &x)) return false;
    int maxfast = is_float ? 6 : 15, krange = is_float ? 36 : 306;
    if (!x.more && x.n <= maxfast && x.k > -krange && x.k < krange) {
        sl_jnum_put_digits(b, x.neg, x.d, x.n, x.k);
        return true;
    }
    char stack[512], *tmp = n < sizeof stack ? stack : sl_malloc(n + 1);
    memcpy(tmp, s, n);
    tmp[n] = 0;
    double v = is_float ? (double)strtof(tmp, NULL) : strtod(tmp, NULL);
    if (tmp != stack) sl_free(tmp);
    sl_jnum_put_json(b, v, is_float);
    return true;
}

bool dbz_parse_numtext(const char *s, size_t n, numtext *x) {
    memset(x, 0, sizeof *x);
    if (n == 3 && memcmp(s, "NaN", 3) == 0) return x->kind = NUM_NAN, true;
    if ((n == 8 && memcmp(s, "Infinity", 8) == 0) || (n == 9 && memcmp(s, "+Infinity", 9) == 0))
        return x->kind = NUM_PINF, true;
    if (n == 9 && memcmp(s, "-Infinity", 9) == 0) return x->kind = NUM_NINF, true;
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) x->neg = s[i++] == '-';
    size_t start = i;
    while (i < n && dbz_is_digit(s[i])) i++;
    size_t iend = i;
    if (i < n && s[i] == '.') {
        x->fp = s + ++i;
        while (i < n && dbz_is_digit(s[i])) i++;
        x->fn = (size_t)(s + i - x->fp);
    }
    if (i != n || (iend == start && x->fn == 0)) return false;
    while (start < iend && s[start] == '0') start++;
    x->ip = s + start, x->in = iend - start;
    return true;
}

/*
 * base64 of BigInteger.toByteArray() for the integer written by the digit
 * spans (then `zeros` more zero digits), negated when neg: the minimal
 * big-endian two's complement, bitLength/8 + 1 bytes.
 */
void dbz_put_unscaled_b64(sl_buf *out, bool neg, const char *d1, size_t n1, const char *d2, size_t n2,
                          size_t zeros) {
    static const uint32_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
    size_t total = n1 + n2 + zeros, cap = total / 9 + 2, nl = 0;
    uint32_t stack[128], *limb = cap <= 128 ? stack : sl_malloc(cap * sizeof *limb);
    uint32_t chunk = 0;
    int clen = 0;
    for (size_t i = 0; i < total; i++) {
        char ch = i < n1 ? d1[i] : i < n1 + n2 ? d2[i - n1] : '0';
        chunk = chunk * 10 + (uint32_t)(ch - '0');
        if (++clen == 9 || i + 1 == total) {
            uint64_t carry = chunk;
            for (size_t j = 0; j < nl; j++) {
                uint64_t t = (uint64_t)limb[j] * pow10[clen] + carry;
                limb[j] = (uint32_t)t;
                carry = t >> 32;
            }
            if (carry) limb[nl++] = (uint32_t)carry;
            chunk = 0, clen = 0;
        }
    }
    while (nl > 0 && limb[nl - 1] == 0) nl--;
    if (nl == 0) neg = false;
    if (neg) /* -m is ~(m-1) */
        for (size_t j = 0; j < nl && limb[j]-- == 0; j++) {}
    while (nl > 0 && limb[nl - 1] == 0) nl--;
    size_t bitlen = nl ? (nl - 1) * 32 + (32 - (size_t)__builtin_clz(limb[nl - 1])) : 0;
    size_t nbytes = bitlen / 8 + 1;
    bsink bs;
    dbz_bs_begin(&bs, out, BS_B64);
    for (size_t i = nbytes; i-- > 0;) {
        uint8_t byte = i / 4 < nl ? (uint8_t)(limb[i / 4] >> (8 * (i % 4))) : 0;
        dbz_bs_byte(&bs, neg ? (uint8_t)~byte : byte);
    }
    dbz_bs_end(&bs);
    if (limb != stack) sl_free(limb);
}

/* Unscaled digits of x at `scale` (padding or dropping fraction digits) as Connect Decimal bytes. */
void dbz_put_decimal_at_scale(sl_buf *out, const numtext *x, int scale) {
    if (scale < 0) { /* PostgreSQL 15 negative scale: integer digits beyond the scale are zeros */
        size_t drop = (size_t)-scale;
        dbz_put_unscaled_b64(out, x->neg, x->ip, x->in > drop ? x->in - drop : 0, NULL, 0, 0);
    } else if ((size_t)scale >= x->fn) {
        dbz_put_unscaled_b64(out, x->neg, x->ip, x->in, x->fp, x->fn, (size_t)scale - x->fn);
    } else {
        dbz_put_unscaled_b64(out, x->neg, x->ip, x->in, x->fp, (size_t)scale, 0);
    }
}

/* Debezium's decimal string: BigDecimal.toPlainString() of the value at the column's scale. */
void dbz_put_plain_decimal(sl_buf *out, const numtext *x, int scale) {
    sl_buf_putc(out, '"');
    if (x->neg) sl_buf_putc(out, '-');
    if (x->in) sl_buf_put(out, x->ip, x->in);
    else sl_buf_putc(out, '0');
    size_t fn = scale > 0 && (size_t)scale > x->fn ? (size_t)scale : x->fn;
    if (fn) {
        sl_buf_putc(out, '.');
        if (x->fn) sl_buf_put(out, x->fp, x->fn);
        for (size_t i = x->fn; i < fn; i++) sl_buf_putc(out, '0');
    }
    sl_buf_putc(out, '"');
}

static bool put_numeric_parsed(const sl_dbz_opts *o, const numtext *x, const char *s, size_t n, int scale,
                               bool variable, sl_buf *out) {
    if (x->kind != NUM_FINITE) {
        /* special values: "string" → SpecialValueDecimal name; "double" → NaN/±Infinity; precise throws in Debezium */
        static const char *names[] = {"", "\"NAN\"", "\"POSITIVE_INFINITY\"", "\"NEGATIVE_INFINITY\""};
        static const char *dbl[] = {"", "\"NaN\"", "\"Infinity\"", "\"-Infinity\""};
        if (o->decimal_mode == SL_DEC_PRECISE) return false;
        sl_buf_puts(out, o->decimal_mode == SL_DEC_STRING ? names[x->kind] : dbl[x->kind]);
        return true;
    }
    switch (o->decimal_mode) {
    case SL_DEC_DOUBLE: return dbz_put_float_text(out, s, n, false);
    case SL_DEC_STRING: dbz_put_plain_decimal(out, x, variable ? 0 : scale); return true;
    case SL_DEC_PRECISE: break;
    }
    if (!variable) {
        dbz_put_decimal_at_scale(out, x, scale);
        return true;
    }
    /* VariableScaleDecimal: stripTrailingZeros(), negative scales set back to 0 */
    size_t fn = x->fn;
    while (fn > 0 && x->fp[fn - 1] == '0') fn--;
    sl_buf_puts(out, "{\"scale\":");
    sl_buf_put_u64(out, fn);
    sl_buf_puts(out, ",\"value\":");
    dbz_put_unscaled_b64(out, x->neg, x->ip, x->in, x->fp, fn, 0);
    sl_buf_putc(out, '}');
    return true;
}

bool dbz_put_numeric(const sl_dbz_opts *o, const sl_column *c, const char *s, size_t n, sl_buf *out) {
    numtext x;
    if (!dbz_parse_numtext(s, n, &x)) return false;
    return put_numeric_parsed(o, &x, s, n, c->scale, dbz_is_variable_numeric(c), out);
}

/* ---------------------------------------------------------------------------
 * Bit strings
 */

/*
 * bit(n>1)/varbit: Debezium builds a BitSet where the last character is bit
 * 0 and emits BitSet.toByteArray() (little-endian, only as many bytes as the
 * highest set bit needs: "00" gives no bytes at all). bit(1): boolean.
 * MySQL BIT(n) then pads to min_bytes (JdbcValueConverters.padLittleEndian
 * to ceil(n/8) bytes); PostgreSQL passes 0.
 */
bool dbz_put_bits(const sl_column *c, const char *s, size_t n, size_t min_bytes, sl_buf *out) {
    size_t first_one = n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '0' && s[i] != '1') return false;
        if (s[i] == '1' && first_one == n) first_one = i;
    }
    if (dbz_bits_length(c) <= 1) {
        dbz_put_bool(out, first_one < n);
        return true;
    }
    size_t nbytes = first_one == n ? 0 : (n - 1 - first_one) / 8 + 1;
    if (nbytes < min_bytes) nbytes = min_bytes;
    bsink bs;
    dbz_bs_begin(&bs, out, BS_B64);
    for (size_t j = 0; j < nbytes; j++) {
        uint8_t byte = 0;
        for (size_t bit = 0; bit < 8; bit++) {
            size_t k = 8 * j + bit;
            if (k < n && s[n - 1 - k] == '1') byte |= (uint8_t)(1u << bit);
        }
        dbz_bs_byte(&bs, byte);
    }
    dbz_bs_end(&bs);
    return true;
}
