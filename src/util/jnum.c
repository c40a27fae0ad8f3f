/*
 * Java's Double.toString / Float.toString (see jnum.h for the rule).
 *
 * The digits come from the C library, which converts exactly both ways:
 * printf("%.*e") gives the decimal of a given length nearest to the value
 * (ties to even), strtod/strtof whether a decimal reads back as the value.
 * For a length L the candidates are that nearest decimal and, when it does
 * not read back (at a power of two the values that round to x reach twice as
 * far above x as below), its neighbour on the other side of x. For a normal
 * value one try at DBL_DIG (FLT_DIG) digits settles all but 16- and
 * 17-digit values; subnormals bisect the length. Checked against JDK 25's
 * output for 12 million values (random bits, powers of two and their
 * neighbours, all small subnormals, short decimals), none different. About
 * 1-2 us a value; an exact shortest algorithm (Ryu, Schubfach) would be
 * faster but needs large power-of-ten tables, and the hot decoders skip this
 * for text that already holds the shortest digits (dbz_json.c put_float_text).
 */
#include "util/jnum.h"
#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal of len significant digits: d[0].d[1..len) x 10^k. */
typedef struct dec {
    char d[SL_JNUM_MAXDIG + 1];
    int len, k;
} dec;

/* The len-digit decimal nearest to v > 0. */
static void nearest(double v, int len, dec *c) {
    char t[48];
    snprintf(t, sizeof t, "%.*e", len - 1, v); /* D.DDDe+XX */
    const char *p = t;
    c->len = 0;
    for (; *p != 'e'; p++)
        if (*p != '.') c->d[c->len++] = *p;
    c->k = atoi(p + 1);
}

/* Whether c reads back as v (as a float when is_float); *side is c's side of v otherwise. */
static bool reads_back(const dec *c, double v, bool is_float, int *side) {
    char t[48];
    snprintf(t, sizeof t, "%c.%.*se%d", c->d[0], c->len - 1, c->d + 1, c->k);
    double r = is_float ? (double)strtof(t, NULL) : strtod(t, NULL);
    *side = r < v ? -1 : r > v; /* reading is monotonic: r < v only when c < v */
    return r == v;
}

/* The next len-digit decimal above (dir 1) or below (dir -1) c. */
static void step(dec *c, int dir) {
    int i = c->len - 1;
    if (dir > 0) {
        for (; i >= 0 && c->d[i] == '9'; i--) c->d[i] = '0';
        if (i >= 0) c->d[i]++;
        else c->d[0] = '1', c->k++; /* 9.99 -> 10.0 */
    } else {
        for (; i > 0 && c->d[i] == '0'; i--) c->d[i] = '9';
        c->d[i]--; /* the first digit is never 0 */
        if (c->d[0] == '0') {
            for (int j = 0; j < c->len; j++) c->d[j] = '9'; /* 1.00 -> 0.999 */
            c->k--;
        }
    }
}

/* The decimal of len digits Java would pick for v among those that read back, if there is one. */
static bool pick(double v, int len, bool is_float, dec *out) {
    int side;
    nearest(v, len, out);
    if (reads_back(out, v, is_float, &side)) return true;
    step(out, -side);
    return reads_back(out, v, is_float, &side);
}

int sl_jnum_digits(double v, bool is_float, char dig[SL_JNUM_MAXDIG], int *k) {
    v = fabs(v);
    assert(isfinite(v) && v != 0);
    dec best;
    int len = is_float ? FLT_DIG : DBL_DIG, max = is_float ? 9 : 17; /* max digits always read back */
    if (v >= (is_float ? FLT_MIN : DBL_MIN)) {
        /* Decimals of FLT_DIG (DBL_DIG) digits lie further apart than the values that read back as a
         * normal v spread, so at most one of them does: if one does, it is Java's pick, shorter once
         * its trailing zeros go. Otherwise 16 or 17 digits (7 to 9 for a float). */
        while (!pick(v, len, is_float, &best)) len++;
    } else { /* subnormal: bisect from Java's minimum of 2 */
        int lo = 2, hi = max, have = 0;
        dec c;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (pick(v, mid, is_float, &c)) hi = mid, have = mid, best = c;
            else lo = mid + 1;
        }
        if (have != lo) pick(v, lo, is_float, &best);
    }
    int n = best.len;
    while (n > 1 && best.d[n - 1] == '0') n--;
    memcpy(dig, best.d, (size_t)n);
    *k = best.k;
    return n;
}

/* Java's layout of [-]d[0].d[1..n) x 10^k into o (SL_JNUM_BUFSZ bytes); returns the length. */
static size_t layout(char *o, bool neg, const char *d, int n, int k) {
    assert(n <= SL_JNUM_MAXDIG);
    size_t w = 0;
    if (neg) o[w++] = '-';
    if (n == 0) {
        memcpy(o + w, "0.0", 4);
        return w + 3;
    }
    if (k >= -3 && k < 7) { /* 1e-3 <= |v| < 1e7: plain */
        if (k >= 0) {
            for (int i = 0; i <= k; i++) o[w++] = i < n ? d[i] : '0';
            o[w++] = '.';
            if (n > k + 1) memcpy(o + w, d + k + 1, (size_t)(n - k - 1)), w += (size_t)(n - k - 1);
            else o[w++] = '0';
        } else {
            o[w++] = '0', o[w++] = '.';
            for (int i = 0; i < -k - 1; i++) o[w++] = '0';
            memcpy(o + w, d, (size_t)n), w += (size_t)n;
        }
        o[w] = 0;
        return w;
    }
    o[w++] = d[0]; /* computerized scientific notation */
    o[w++] = '.';
    if (n > 1) memcpy(o + w, d + 1, (size_t)(n - 1)), w += (size_t)(n - 1);
    else o[w++] = '0';
    return w + (size_t)snprintf(o + w, SL_JNUM_BUFSZ - w, "E%d", k);
}

static size_t to_string(char *out, double v, bool is_float) {
    if (isnan(v)) return memcpy(out, "NaN", 4), 3;
    if (isinf(v)) return v > 0 ? (memcpy(out, "Infinity", 9), 8) : (memcpy(out, "-Infinity", 10), 9);
    if (v == 0) return layout(out, signbit(v), NULL, 0, 0);
    char dig[SL_JNUM_MAXDIG];
    int k, n = sl_jnum_digits(v, is_float, dig, &k);
    return layout(out, v < 0, dig, n, k);
}

size_t sl_jnum_double(char *out, double d) { return to_string(out, d, false); }
size_t sl_jnum_float(char *out, float f) { return to_string(out, f, true); }

void sl_jnum_put_double(sl_buf *b, double d) {
    char t[SL_JNUM_BUFSZ];
    sl_buf_put(b, t, sl_jnum_double(t, d));
}

void sl_jnum_put_float(sl_buf *b, float f) {
    char t[SL_JNUM_BUFSZ];
    sl_buf_put(b, t, sl_jnum_float(t, f));
}

void sl_jnum_put_json(sl_buf *b, double v, bool is_float) {
    char t[SL_JNUM_BUFSZ];
    size_t n = is_float ? sl_jnum_float(t, (float)v) : sl_jnum_double(t, v);
    bool quote = !isfinite(v);
    if (quote) sl_buf_putc(b, '"');
    sl_buf_put(b, t, n);
    if (quote) sl_buf_putc(b, '"');
}

void sl_jnum_put_digits(sl_buf *b, bool neg, const char *d, int n, int k) {
    char t[SL_JNUM_BUFSZ];
    sl_buf_put(b, t, layout(t, neg, d, n, k));
}
