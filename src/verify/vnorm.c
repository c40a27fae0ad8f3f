/* sluice verify's value normalisation (see vnorm.h). */
#include "verify/vnorm.h"
#include "format/dbz_json.h"
#include "format/sql_row.h"
#include "util/civil.h"
#include "util/codec.h"
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[] = {"text", "int",  "dec",  "float",  "bool",     "bytes",  "date", "time",
                                         "ts",   "tstz", "json", "uuid",   "timetz", "interval", "hstore",
                                         "bits", "array", "point", "geometry", "mkey",
                                         "doc"};

const char *sl_ckind_name(sl_ckind k) {
    return (unsigned)k < sizeof kind_names / sizeof *kind_names ? kind_names[k] : "?";
}

/* ---- exact decimals ---- */

/* A decimal's parts: sign, integer digits without leading zeros, fraction digits without trailing zeros. */
typedef struct dec {
    bool neg;
    const char *ip, *fp;
    size_t in, fn;
} dec;

static bool dec_read(const char *s, size_t n, dec *d) {
    size_t i = 0;
    while (i < n && isspace((unsigned char)s[i])) i++;
    while (n > i && isspace((unsigned char)s[n - 1])) n--;
    memset(d, 0, sizeof *d);
    if (i < n && (s[i] == '-' || s[i] == '+')) d->neg = s[i++] == '-';
    size_t a = i;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    size_t b = i, c = i, e = i;
    if (i < n && s[i] == '.') {
        c = ++i;
        while (i < n && isdigit((unsigned char)s[i])) i++;
        e = i;
    }
    if (i != n || (b == a && e == c)) return false;
    while (a < b && s[a] == '0') a++;
    while (e > c && s[e - 1] == '0') e--;
    d->ip = s + a, d->in = b - a, d->fp = s + c, d->fn = e - c;
    if (!d->in && !d->fn) d->neg = false; /* -0 = 0 */
    return true;
}

/* Magnitude order of two decimals' absolute values. */
static int dec_cmp_abs(const dec *x, const dec *y) {
    if (x->in != y->in) return x->in < y->in ? -1 : 1;
    int c = memcmp(x->ip, y->ip, x->in);
    if (c) return c;
    size_t m = x->fn < y->fn ? x->fn : y->fn;
    if ((c = memcmp(x->fp, y->fp, m))) return c;
    return x->fn == y->fn ? 0 : x->fn < y->fn ? -1 : 1;
}

static int dec_cmp(const dec *x, const dec *y) {
    if (x->neg != y->neg) return x->neg ? -1 : 1;
    int c = dec_cmp_abs(x, y);
    return x->neg ? -c : c;
}

/* x cut to `scale` fraction digits, rounded half up (away from zero) unless trunc; the digits land in buf. */
static void dec_round(const dec *x, int scale, bool trunc, char *buf, size_t bufsz, dec *out) {
    *out = *x;
    if ((size_t)scale >= x->fn || x->in + (size_t)scale + 2 > bufsz) return;
    size_t n = x->in + (size_t)scale;
    buf[0] = '0'; /* room for a carry */
    memcpy(buf + 1, x->ip, x->in);
    memcpy(buf + 1 + x->in, x->fp, (size_t)scale);
    if (!trunc && x->fp[scale] >= '5')
        for (size_t i = n; i > 0; i--) {
            if (buf[i] < '9') {
                buf[i]++;
                break;
            }
            buf[i] = '0';
            if (i == 1) buf[0] = '1';
        }
    char text[256];
    size_t k = 0;
    if (x->neg) text[k++] = '-';
    memcpy(text + k, buf, x->in + 1), k += x->in + 1;
    text[k++] = '.';
    memcpy(text + k, buf + 1 + x->in, (size_t)scale), k += (size_t)scale;
    memcpy(buf, text, k); /* dec_read points into buf */
    dec_read(buf, k, out);
}

/* Money text ("$1,234.56", "-$5.00") as a plain decimal in buf; false when it is not such text. */
static bool money_text(const char *s, size_t n, char *buf, size_t bufsz, size_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < bufsz; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || c == '.' || c == '-') buf[k++] = c;
        else if (c != '$' && c != ',' && c != ' ') return false;
    }
    *out = k;
    return k > 0;
}

/* Scientific text (1.5E+3, 12E-5: Decimal128's form for some values) as plain digits in buf. */
static bool sci_text(const char *s, size_t n, char *buf, size_t bufsz, size_t *out) {
    const char *e = memchr(s, 'E', n);
    if (!e) e = memchr(s, 'e', n);
    if (!e) return false;
    char num[64];
    size_t en = n - (size_t)(e - s) - 1;
    if (en == 0 || en >= sizeof num) return false;
    memcpy(num, e + 1, en);
    num[en] = 0;
    char *end;
    long exp = strtol(num, &end, 10);
    if (*end || exp > 60 || exp < -60) return false;
    char digits[128];
    size_t nd = 0, point = 0;
    bool neg = false, seen_point = false;
    for (const char *p = s; p < e; p++) {
        if (p == s && (*p == '-' || *p == '+')) neg = *p == '-';
        else if (*p == '.' && !seen_point) seen_point = true, point = nd;
        else if (isdigit((unsigned char)*p) && nd < sizeof digits) digits[nd++] = *p;
        else return false;
    }
    if (!nd) return false;
    if (!seen_point) point = nd;
    long at = (long)point + exp; /* the decimal point's place among the digits */
    size_t k = 0;
    if (neg) buf[k++] = '-';
    if (at <= 0) {
        buf[k++] = '0', buf[k++] = '.';
        for (long i = at; i < 0 && k + 2 < bufsz; i++) buf[k++] = '0';
        for (size_t i = 0; i < nd && k + 1 < bufsz; i++) buf[k++] = digits[i];
    } else {
        for (long i = 0; i < at && k + 2 < bufsz; i++) buf[k++] = i < (long)nd ? digits[i] : '0';
        if ((size_t)at < nd) {
            buf[k++] = '.';
            for (size_t i = (size_t)at; i < nd && k + 1 < bufsz; i++) buf[k++] = digits[i];
        }
    }
    *out = k;
    return true;
}

/* The bytes of a {"$binary": {"base64": ...}} value (relaxed extended JSON) into out. */
static bool ejson_binary(json_t *v, sl_buf *out) {
    const char *b64 = json_string_value(json_object_get(json_object_get(v, "$binary"), "base64"));
    if (!b64) return false;
    size_t n = strlen(b64), got = 0;
    sl_buf_reset(out);
    sl_buf_reserve(out, n);
    if (!sl_b64_decode(b64, n, (uint8_t *)out->data, &got)) return false;
    out->len = got;
    return true;
}

/* Debezium's VariableScaleDecimal struct {scale, value: unscaled bytes} as a document (a MongoDB target). */
static bool vsd_text(const char *s, size_t n, char *buf, size_t bufsz, size_t *out) {
    if (!n || s[0] != '{') return false;
    json_t *o = json_loadb(s, n, 0, NULL), *sc = json_object_get(o, "scale");
    sl_buf raw, txt;
    sl_buf_init(&raw), sl_buf_init(&txt);
    bool ok = json_is_integer(sc) && ejson_binary(json_object_get(o, "value"), &raw);
    if (ok) {
        sl_put_unscaled_decimal(&txt, (const uint8_t *)(raw.data ? raw.data : ""), raw.len,
                                (int32_t)json_integer_value(sc));
        ok = txt.len < bufsz;
        if (ok) memcpy(buf, txt.data, txt.len), *out = txt.len;
    }
    sl_buf_free(&raw), sl_buf_free(&txt);
    json_decref(o);
    return ok;
}

static bool dec_read_any(const char *s, size_t n, dec *d, char *buf, size_t bufsz) {
    size_t k;
    return dec_read(s, n, d) || (money_text(s, n, buf, bufsz, &k) && dec_read(buf, k, d)) ||
           (sci_text(s, n, buf, bufsz, &k) && dec_read(buf, k, d)) || (vsd_text(s, n, buf, bufsz, &k) && dec_read(buf, k, d));
}

static bool dec_equal(const sl_vcol *sc, const char *a, size_t an, const sl_vcol *tc, const char *b, size_t bn) {
    dec x, y;
    char ma[192], mb[192];
    if (!dec_read_any(a, an, &x, ma, sizeof ma) || !dec_read_any(b, bn, &y, mb, sizeof mb)) return false;
    if (dec_cmp(&x, &y) == 0) return true;
    int scale = sc->scale >= 0 && (tc->scale < 0 || sc->scale <= tc->scale) ? sc->scale : tc->scale;
    if (scale < 0 || scale > 60 || x.in > 120 || y.in > 120) return false;
    for (int trunc = 0; trunc < 2; trunc++) {
        char bx[256], by[256];
        dec rx, ry;
        dec_round(&x, scale, trunc, bx, sizeof bx, &rx);
        dec_round(&y, scale, trunc, by, sizeof by, &ry);
        if (dec_cmp(&rx, &ry) == 0) return true;
    }
    return false;
}

/* ---- the other kinds ---- */

static bool word_bool(const char *s, size_t n, bool *v) {
    if (n == 1 && (s[0] == 0 || s[0] == 1)) return *v = s[0] == 1, true; /* MariaDB's BIT(1), raw */
    static const char *const t[] = {"t", "true", "1", "y", "yes", "on"}, *const f[] = {"f", "false", "0", "n", "no", "off"};
    for (int i = 0; i < 6; i++) {
        if (strlen(t[i]) == n && !strncasecmp(s, t[i], n)) return *v = true, true;
        if (strlen(f[i]) == n && !strncasecmp(s, f[i], n)) return *v = false, true;
    }
    return false;
}

static bool read_double(const char *s, size_t n, double *v) {
    char buf[128];
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    *v = strtod(buf, &end);
    if (*end == 0) return true;
    if (!strcasecmp(buf, "nan")) return *v = NAN, true;
    if (!strcasecmp(buf, "infinity") || !strcasecmp(buf, "inf")) return *v = INFINITY, true;
    if (!strcasecmp(buf, "-infinity") || !strcasecmp(buf, "-inf")) return *v = -INFINITY, true;
    return false;
}

static bool float_equal(bool single, double x, double y) {
    if (isnan(x) || isnan(y)) return isnan(x) && isnan(y);
    if (x == y) return true;
    if (single) { /* MariaDB's text protocol writes a FLOAT with 6 significant digits */
        char a[32], b[32];
        snprintf(a, sizeof a, "%.6g", x);
        snprintf(b, sizeof b, "%.6g", y);
        if (!strcmp(a, b)) return true;
    }
    double tol = single ? 1e-6 : 1e-12, m = fabs(x) > fabs(y) ? fabs(x) : fabs(y);
    return fabs(x - y) <= tol * m;
}

/* A plain integer (Debezium's numeric form of a date, timestamp or time, as a MongoDB target holds it). */
static bool plain_int(const char *s, size_t n, int64_t *v) {
    if (n == 0 || n > 20) return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && !(i == 0 && s[i] == '-' && n > 1)) return false;
    char buf[24];
    memcpy(buf, s, n);
    buf[n] = 0;
    *v = strtoll(buf, NULL, 10);
    return true;
}

/* Microseconds (days for dates) of a temporal value; *inf for PostgreSQL's infinities. scale: the source
 * */
static bool read_temporal(sl_ckind k, const char *s, size_t n, int64_t *v, int *inf) {
    *inf = 0;
    *v = 0; /* an infinity has no value */
    switch (k) {
    case SL_CK_DATE: {
        if (n > 10 && (s[10] == ' ' || s[10] == 'T')) n = 10; /* a date kept as a timestamp */
        return sl_dbz_read_timestamp(s, n, false, true, inf, v);
    }
    case SL_CK_TIME: return sl_dbz_read_time(s, n, v);
    case SL_CK_TS:
        if (n == 10) return sl_dbz_read_timestamp(s, n, false, true, inf, v) && (*v *= 86400000000LL, true);
        return sl_dbz_read_timestamp(s, n, false, false, inf, v) ||
               sl_dbz_read_timestamp(s, n, true, false, inf, v); /* a zone that says nothing: dropped */
    case SL_CK_TSTZ:
        /* text without an offset (MariaDB TIMESTAMP read with time_zone +00:00): UTC */
        return sl_dbz_read_timestamp(s, n, true, false, inf, v) || sl_dbz_read_timestamp(s, n, false, false, inf, v);
    default: return false;
    }
}

/* A time of day with an optional offset (10:00:00+02, 08:00:00Z) -> microseconds of the day in UTC. */
static bool read_timetz(const char *s, size_t n, int64_t *us) {
    size_t t = 0;
    while (t < n && s[t] != '+' && s[t] != '-' && s[t] != 'Z') t++;
    if (!sl_dbz_read_time(s, t, us)) return false;
    int64_t off = 0;
    if (t < n && s[t] != 'Z') {
        int64_t h = 0, m = 0, sec = 0;
        char z[16]; /* the offset, NUL-terminated: s is not (sscanf would run past its end) */
        size_t zn = n - t - 1 < sizeof z - 1 ? n - t - 1 : sizeof z - 1;
        memcpy(z, s + t + 1, zn);
        z[zn] = 0;
        int k = sscanf(z, "%2" SCNd64 ":%2" SCNd64 ":%2" SCNd64, &h, &m, &sec);
        if (k < 1) return false;
        off = (s[t] == '-' ? -1 : 1) * ((h * 60 + m) * 60 + sec) * 1000000;
    }
    const int64_t day = 86400000000LL;
    *us = ((*us - off) % day + day) % day;
    return true;
}

/* PostgreSQL interval text (IntervalStyle postgres: "1 year 2 mons 3 days -04:05:06.5") or a plain H:MM:SS ->
 * microseconds, a month as 30.4375 days and a year as 12 months (Debezium's MicroDuration). */
static bool read_interval(const char *s, size_t n, double *us) {
    char buf[256];
    if (n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *e;
    double plain = strtod(buf, &e);
    if (n && *e == 0 && !strchr(buf, ':')) return *us = plain, true; /* a target without intervals: microseconds */
    double total = 0;
    const double day = 86400e6;
    char *p = buf;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        if (strchr(p, ':') && (strchr(p, ' ') == NULL || strchr(p, ':') < strchr(p, ' '))) { /* [-]H:MM:SS[.f] */
            char *end = p + strcspn(p, " "), *q = p;
            bool neg = *q == '-';
            q += neg || *q == '+';
            char *colon = strchr(q, ':');
            int64_t t;
            if (!colon || colon == q || colon > end || !sl_dbz_read_time(colon - 1, (size_t)(end - colon + 1), &t))
                return false; /* any number of hours: they are read here, the rest as 0:MM:SS */
            double hours = 0;
            for (char *h = q; h < colon - 1; h++) {
                if (*h < '0' || *h > '9') return false;
                hours = hours * 10 + (*h - '0');
            }
            double part = hours * 36000e6 + (double)t; /* the digit before the colon was read as hours by t */
            total += neg ? -part : part;
            p = end;
            continue;
        }
        char *end;
        double v = strtod(p, &end);
        if (end == p || *end != ' ') return false;
        p = end + 1;
        size_t w = strcspn(p, " ");
        if (!strncmp(p, "year", 4)) total += v * 12 * 30.4375 * day;
        else if (!strncmp(p, "mon", 3)) total += v * 30.4375 * day;
        else if (!strncmp(p, "day", 3)) total += v * day;
        else return false;
        p += w;
    }
    *us = total;
    return true;
}

/* hstore text ("k"=>"v", "k2"=>NULL) as a JSON object; NULL when it is not such text. */
static json_t *hstore_json(const char *s, size_t n) {
    json_t *o = json_object();
    size_t i = 0;
    sl_buf k, v;
    sl_buf_init(&k), sl_buf_init(&v);
    bool ok = true;
    while (ok) {
        while (i < n && (s[i] == ' ' || s[i] == ',')) i++;
        if (i >= n) break;
        sl_buf *parts[2] = {&k, &v};
        bool null_value = false;
        for (int part = 0; part < 2 && ok; part++) {
            sl_buf_reset(parts[part]);
            if (part == 1) {
                while (i < n && s[i] == ' ') i++;
                if (n - i < 2 || s[i] != '=' || s[i + 1] != '>') ok = false;
                i += 2;
                while (i < n && s[i] == ' ') i++;
                if (ok && n - i >= 4 && !strncmp(s + i, "NULL", 4)) {
                    null_value = true;
                    i += 4;
                    break;
                }
            }
            if (!ok || i >= n || s[i] != '"') {
                ok = false;
                break;
            }
            for (i++; i < n && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < n) i++;
                sl_buf_putc(parts[part], s[i]);
            }
            if (i >= n) ok = false;
            i++;
        }
        if (ok) json_object_set_new(o, sl_buf_cstr(&k), null_value ? json_null() : json_stringn(sl_buf_cstr(&v), v.len));
    }
    sl_buf_free(&k), sl_buf_free(&v);
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

/* A hex digit's value (the caller checked isxdigit). Values are not NUL-terminated: no sscanf on them (its strlen
 * would run past their end). */
static int hex_digit(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* A bit string as its binary digits without leading zeros ("0" for none): text of 0 and 1, or raw bytes. */
static void bits_of(const char *s, size_t n, sl_buf *out) {
    if (n >= 2 && s[0] == '\\' && s[1] == 'x') { /* Debezium's Bits bytes (a MongoDB target): little-endian */
        sl_buf raw;
        sl_buf_init(&raw);
        for (size_t i = n; i >= 4 && isxdigit((unsigned char)s[i - 1]) && isxdigit((unsigned char)s[i - 2]); i -= 2) {
            sl_buf_putc(&raw, (char)(hex_digit(s[i - 2]) << 4 | hex_digit(s[i - 1])));
        }
        bits_of(raw.data ? raw.data : "", raw.len, out);
        sl_buf_free(&raw);
        return;
    }
    bool text = n > 0;
    for (size_t i = 0; i < n && text; i++) text = s[i] == '0' || s[i] == '1';
    sl_buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (text) sl_buf_putc(out, s[i]);
        else
            for (int b = 7; b >= 0; b--) sl_buf_putc(out, (char)('0' + (((unsigned char)s[i] >> b) & 1)));
    }
    size_t z = 0;
    while (z + 1 < out->len && out->data[z] == '0') z++;
    if (!out->len) sl_buf_putc(out, '0');
    else if (z) memmove(out->data, out->data + z, out->len - z), out->len -= z;
}

/* A PostgreSQL array literal ({1,"a b",NULL,{2}}) as a JSON array: unquoted elements that read as numbers are
 * numbers, others strings; NULL is null. NULL when it is not such text. */
static json_t *pg_array(const char *s, size_t n, size_t *at, int depth) {
    if (depth > 16 || *at >= n || s[*at] != '{') return NULL;
    json_t *a = json_array();
    (*at)++;
    sl_buf e;
    sl_buf_init(&e);
    bool ok = true;
    if (*at < n && s[*at] == '}') {
        (*at)++;
        goto done;
    }
    while (ok) {
        if (*at < n && s[*at] == '{') {
            json_t *sub = pg_array(s, n, at, depth + 1);
            if (!sub) ok = false;
            else json_array_append_new(a, sub);
        } else if (*at < n && s[*at] == '"') {
            sl_buf_reset(&e);
            for ((*at)++; *at < n && s[*at] != '"'; (*at)++) {
                if (s[*at] == '\\' && *at + 1 < n) (*at)++;
                sl_buf_putc(&e, s[*at]);
            }
            if (*at >= n) ok = false;
            else (*at)++, json_array_append_new(a, json_stringn(e.data ? e.data : "", e.len));
        } else {
            size_t b = *at;
            while (*at < n && s[*at] != ',' && s[*at] != '}') (*at)++;
            sl_buf_reset(&e);
            sl_buf_put(&e, s + b, *at - b);
            const char *t = sl_buf_cstr(&e);
            char *end;
            double d = strtod(t, &end);
            if (!strcmp(t, "NULL")) json_array_append_new(a, json_null());
            else if (e.len && *end == 0 && strchr(t, '.') == NULL && strchr(t, 'e') == NULL && strchr(t, 'E') == NULL)
                json_array_append_new(a, json_integer((json_int_t)strtoll(t, NULL, 10)));
            else if (e.len && *end == 0) json_array_append_new(a, json_real(d));
            else json_array_append_new(a, json_stringn(t, e.len));
        }
        if (!ok || *at >= n) {
            ok = false;
            break;
        }
        if (s[*at] == '}') {
            (*at)++;
            break;
        }
        if (s[*at] != ',') ok = false;
        (*at)++;
    }
done:
    sl_buf_free(&e);
    if (!ok) json_decref(a);
    return ok ? a : NULL;
}

static json_t *array_json(const char *s, size_t n) {
    size_t at = 0;
    json_t *a = pg_array(s, n, &at, 0);
    if (a && at == n) return a;
    json_decref(a);
    return json_loadb(s, n, 0, NULL);
}

/* Bytes of a binary value written as "\x" hex, plain hex, or raw. */
static void raw_bytes(const char *s, size_t n, sl_buf *out) {
    sl_buf_reset(out);
    bool prefixed = n >= 2 && s[0] == '\\' && s[1] == 'x';
    if (prefixed) s += 2, n -= 2;
    bool hex = n % 2 == 0;
    for (size_t i = 0; i < n && hex; i++) hex = isxdigit((unsigned char)s[i]);
    if (!hex) return sl_buf_put(out, s - (prefixed ? 2 : 0), n + (prefixed ? 2 : 0));
    for (size_t i = 0; i < n; i += 2)
        sl_buf_putc(out, (char)(hex_digit(s[i]) << 4 | hex_digit(s[i + 1])));
}

/* Bytes of a geometry: raw or hex WKB, or Debezium's Geometry struct {wkb, srid} as a document. */
static void geometry_bytes(const char *s, size_t n, sl_buf *out) {
    if (n && s[0] == '{') {
        json_t *o = json_loadb(s, n, 0, NULL);
        bool ok = o && ejson_binary(json_object_get(o, "wkb"), out);
        json_decref(o);
        if (ok) return;
    }
    raw_bytes(s, n, out);
}

/* The same WKB, one side perhaps with MariaDB's 4-byte SRID before it. */
static bool wkb_same(const char *a, size_t an, const char *b, size_t bn) {
    sl_buf x, y;
    sl_buf_init(&x), sl_buf_init(&y);
    geometry_bytes(a, an, &x);
    geometry_bytes(b, bn, &y);
    const char *p = x.data ? x.data : "", *q = y.data ? y.data : "";
    size_t pn = x.len, qn = y.len;
    if (pn == qn + 4) p += 4, pn -= 4;
    else if (qn == pn + 4) q += 4, qn -= 4;
    bool same = pn == qn && memcmp(p, q, pn) == 0;
    sl_buf_free(&x), sl_buf_free(&y);
    return same;
}

/* A point's coordinates: "(x,y)" text, or WKB of a point (after MariaDB's 4-byte SRID, or hex of either). */
static bool read_point(const char *s, size_t n, double *x, double *y) {
    char buf[128];
    if (n && s[0] == '{') { /* Debezium's Point struct {x, y, wkb, srid} as a document */
        json_t *o = json_loadb(s, n, 0, NULL), *jx = json_object_get(o, "x"), *jy = json_object_get(o, "y");
        bool ok = json_is_number(jx) && json_is_number(jy);
        if (ok) *x = json_number_value(jx), *y = json_number_value(jy);
        json_decref(o);
        return ok;
    }
    if (n && s[0] == '(' && n < sizeof buf) {
        memcpy(buf, s, n);
        buf[n] = 0;
        return sscanf(buf, "(%lf,%lf)", x, y) == 2;
    }
    unsigned char raw[64];
    size_t rn = 0;
    if (n >= 2 && s[0] == '\\' && s[1] == 'x') s += 2, n -= 2;
    bool hex = n % 2 == 0 && n / 2 <= sizeof raw;
    for (size_t i = 0; i < n && hex; i++) hex = isxdigit((unsigned char)s[i]);
    if (hex)
        for (size_t i = 0; i < n; i += 2) raw[rn++] = (unsigned char)(hex_digit(s[i]) << 4 | hex_digit(s[i + 1]));
    else if (n <= sizeof raw) memcpy(raw, s, n), rn = n;
    const unsigned char *w = raw;
    if (rn == 25) w += 4, rn = 21; /* SRID first */
    if (rn != 21 || (w[0] != 1 && w[0] != 0)) return false;
    uint32_t type = w[0] ? (uint32_t)w[1] | (uint32_t)w[2] << 8 | (uint32_t)w[3] << 16 | (uint32_t)w[4] << 24
                         : (uint32_t)w[4] | (uint32_t)w[3] << 8 | (uint32_t)w[2] << 16 | (uint32_t)w[1] << 24;
    if (type != 1) return false;
    unsigned char bx[8], by[8];
    for (int i = 0; i < 8; i++) /* to the machine's order (little endian here) */
        bx[i] = w[0] ? w[5 + i] : w[12 - i], by[i] = w[0] ? w[13 + i] : w[20 - i];
    memcpy(x, bx, 8);
    memcpy(y, by, 8);
    return true;
}

static int frac_digits(const sl_vcol *c) { return c->scale >= 0 && c->scale < 6 ? c->scale : 6; }

/* x and y (µs, days for dates) are the same at the coarser precision of the two columns. */
static bool same_at_precision(const sl_vcol *sc, const sl_vcol *tc, int64_t x, int64_t y) {
    if (x == y) return true;
    if (sc->kind == SL_CK_DATE) return false;
    int p = frac_digits(sc) < frac_digits(tc) ? frac_digits(sc) : frac_digits(tc);
    int64_t f = 1;
    for (int i = p; i < 6; i++) f *= 10;
    if (f == 1) return false;
    int64_t fx = x / f - (x % f < 0), fy = y / f - (y % f < 0); /* floor */
    if (fx == fy) return true;
    int64_t rx = fx + ((x - fx * f) * 2 >= f), ry = fy + ((y - fy * f) * 2 >= f);
    return rx == ry;
}

/* One side's temporal value: text, or Debezium's number (epoch days; a timestamp or time in ms or µs, which the
 * number alone does not say: *scales holds the readings to try, µs first). */
static bool temporal_side(sl_ckind k, const char *s, size_t n, int64_t *v, int *nv, int *inf) {
    int64_t i;
    if (k != SL_CK_TSTZ && plain_int(s, n, &i)) {
        *inf = k == SL_CK_DATE ? sl_sql_infinite_date(i)
                               : sl_sql_infinite_ts(i, 1000000) ? sl_sql_infinite_ts(i, 1000000) : sl_sql_infinite_ts(i, 1000);
        v[0] = i;
        *nv = 1;
        if (k != SL_CK_DATE && !__builtin_mul_overflow(i, 1000, &v[1])) *nv = 2;
        return true;
    }
    *nv = 1;
    return read_temporal(k, s, n, v, inf);
}

static bool temporal_equal(const sl_vcol *sc, const char *a, size_t an, const sl_vcol *tc, const char *b, size_t bn) {
    int64_t x[2], y[2];
    int nx, ny, ix, iy;
    if (!temporal_side(sc->kind, a, an, x, &nx, &ix) || !temporal_side(sc->kind, b, bn, y, &ny, &iy)) return false;
    if (ix || iy) { /* a target without infinities holds its type's last or first day (the SQL sink's rule) */
        if (ix && iy) return ix == iy;
        int inf = ix ? ix : iy;
        int64_t v = ix ? y[0] : x[0];
        bool date = sc->kind == SL_CK_DATE;
        int64_t last = date ? 2932896 : 2932896 * 86400000000LL + 86399000000LL, first = date ? -719162 : -719162 * 86400000000LL;
        return inf > 0 ? v >= last : v <= first;
    }
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++)
            if (same_at_precision(sc, tc, x[i], y[j])) return true;
    return false;
}

static bool json_same(const char *a, size_t an, const char *b, size_t bn) {
    json_t *x = json_loadb(a, an, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *y = x ? json_loadb(b, bn, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    bool eq = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

/* The path of the first difference of x and y (both differ), appended to path. */
static void diff_path(const json_t *x, const json_t *y, sl_buf *path, int depth) {
    if (depth > 64 || json_typeof(x) != json_typeof(y)) return;
    if (json_is_object(x)) {
        /* the members in name order: the first that differs (or is on one side only) */
        const char *best = NULL, *k;
        json_t *v;
        json_object_foreach((json_t *)x, k, v) {
            json_t *w = json_object_get(y, k);
            if ((!w || !json_equal(v, w)) && (!best || strcmp(k, best) < 0)) best = k;
        }
        json_object_foreach((json_t *)y, k, v) {
            if (!json_object_get(x, k) && (!best || strcmp(k, best) < 0)) best = k;
        }
        if (!best) return;
        sl_buf_printf(path, ".%s", best);
        json_t *a = json_object_get(x, best), *b = json_object_get(y, best);
        if (a && b) diff_path(a, b, path, depth + 1);
    } else if (json_is_array(x)) {
        size_t n = json_array_size(x), m = json_array_size(y), i = 0;
        while (i < n && i < m && json_equal(json_array_get(x, i), json_array_get(y, i))) i++;
        sl_buf_printf(path, "[%zu]", i);
        if (i < n && i < m) diff_path(json_array_get(x, i), json_array_get(y, i), path, depth + 1);
    }
}

bool sl_vnorm_json_diff_path(const char *a, size_t an, const char *b, size_t bn, sl_buf *path) {
    json_t *x = json_loadb(a, an, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *y = x ? json_loadb(b, bn, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    if (x && y) diff_path(x, y, path, 0);
    bool ok = x && y;
    json_decref(x);
    json_decref(y);
    return ok;
}

/* ---- query pairs: rows as JSON ---- */

enum { QN_NULL, QN_BOOL, QN_NUM, QN_STR, QN_DATE, QN_OBJ, QN_ARR, QN_OTHER };

typedef struct qval {
    int kind;
    const json_t *j;  /* QN_OBJ, QN_ARR, QN_OTHER: the value */
    char num[80];     /* QN_NUM: the number as text */
    const char *s;    /* QN_STR */
    size_t n;
    int64_t ms;       /* QN_DATE */
    bool b;
} qval;

/* A JSON value with MongoDB's extended JSON wrappers read as what they stand for. */
static void qread(const json_t *v, qval *q) {
    memset(q, 0, sizeof *q);
    q->j = v;
    if (!v || json_is_null(v)) return;
    if (json_is_boolean(v)) {
        q->kind = QN_BOOL, q->b = json_is_true(v);
        return;
    }
    if (json_is_integer(v)) {
        q->kind = QN_NUM;
        snprintf(q->num, sizeof q->num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    }
    if (json_is_real(v)) {
        q->kind = QN_NUM;
        snprintf(q->num, sizeof q->num, "%.17g", json_real_value(v));
        return;
    }
    if (json_is_string(v)) {
        q->kind = QN_STR, q->s = json_string_value(v), q->n = json_string_length(v);
        return;
    }
    q->kind = json_is_array(v) ? QN_ARR : json_is_object(v) ? QN_OBJ : QN_OTHER;
    if (!json_is_object(v) || json_object_size(v) != 1) return;
    const char *k = json_object_iter_key(json_object_iter((json_t *)v));
    const json_t *w = json_object_iter_value(json_object_iter((json_t *)v));
    if ((!strcmp(k, "$numberDecimal") || !strcmp(k, "$numberLong") || !strcmp(k, "$numberInt") ||
         !strcmp(k, "$numberDouble")) && json_is_string(w)) {
        q->kind = QN_NUM;
        snprintf(q->num, sizeof q->num, "%s", json_string_value(w));
    } else if (!strcmp(k, "$oid") && json_is_string(w)) {
        q->kind = QN_STR, q->s = json_string_value(w), q->n = json_string_length(w);
    } else if (!strcmp(k, "$date")) {
        int inf;
        int64_t us;
        const json_t *nl = json_is_object(w) ? json_object_get(w, "$numberLong") : NULL;
        if (json_is_string(w) && read_temporal(SL_CK_TSTZ, json_string_value(w), json_string_length(w), &us, &inf))
            q->kind = QN_DATE, q->ms = sl_floor_div(us, 1000);
        else if (json_is_integer(w))
            q->kind = QN_DATE, q->ms = json_integer_value(w);
        else if (json_is_string(nl))
            q->kind = QN_DATE, q->ms = strtoll(json_string_value(nl), NULL, 10);
    }
}

static bool qnum_same(const char *a, const char *b) {
    dec x, y;
    if (dec_read(a, strlen(a), &x) && dec_read(b, strlen(b), &y) && dec_cmp(&x, &y) == 0) return true;
    double p, q;
    if (!read_double(a, strlen(a), &p) || !read_double(b, strlen(b), &q)) return false;
    return p == q || fabs(p - q) <= 1e-9 * fmax(fabs(p), fabs(q));
}

static bool qsame(const json_t *x, const json_t *y, bool strict, sl_buf *path, int depth);

/* Objects member by member (a member on one side only: a null, unless strict). */
static bool qobj_same(const json_t *x, const json_t *y, bool strict, sl_buf *path, int depth) {
    const char *k;
    json_t *v;
    for (int side = 0; side < 2; side++)
        json_object_foreach((json_t *)(side ? y : x), k, v) {
            json_t *o = json_object_get(side ? x : y, k);
            if (side && o) continue; /* compared on the first pass */
            if (!o && strict) {
                sl_buf_printf(path, ".%s", k);
                return false;
            }
            size_t mark = path->len;
            sl_buf_printf(path, ".%s", k);
            if (!(side ? qsame(o, v, strict, path, depth + 1) : qsame(v, o, strict, path, depth + 1))) return false;
            path->len = mark;
            sl_buf_cstr(path);
        }
    return true;
}

/* A string holding a JSON document or array (a JSON column a SQL store reads back as text), parsed; NULL if not. */
static json_t *qjson_text(const json_t *v) {
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (!s || (s[0] != '{' && s[0] != '[')) return NULL;
    return json_loadb(s, json_string_length(v), JSON_DECODE_ANY, NULL);
}

static bool qsame(const json_t *x, const json_t *y, bool strict, sl_buf *path, int depth) {
    if (depth > 64) return json_equal(x, y);
    if (json_is_string(x) != json_is_string(y)) { /* a JSON column's text against a sub-document */
        json_t *p = qjson_text(json_is_string(x) ? x : y);
        if (p) {
            bool same = json_is_string(x) ? qsame(p, y, strict, path, depth + 1) : qsame(x, p, strict, path, depth + 1);
            json_decref(p);
            return same;
        }
    }
    qval a, b;
    qread(x, &a);
    qread(y, &b);
    if (a.kind == QN_BOOL && b.kind == QN_NUM) a.kind = QN_NUM, snprintf(a.num, sizeof a.num, "%d", a.b);
    if (b.kind == QN_BOOL && a.kind == QN_NUM) b.kind = QN_NUM, snprintf(b.num, sizeof b.num, "%d", b.b);
    if (a.kind == QN_STR && (b.kind == QN_NUM || b.kind == QN_DATE)) { /* a number or a timestamp as text */
        int inf;
        int64_t us;
        if (b.kind == QN_NUM && a.n < sizeof a.num) a.kind = QN_NUM, snprintf(a.num, sizeof a.num, "%s", a.s);
        else if (b.kind == QN_DATE && read_temporal(SL_CK_TSTZ, a.s, a.n, &us, &inf)) a.kind = QN_DATE, a.ms = sl_floor_div(us, 1000);
    }
    if (b.kind == QN_STR && (a.kind == QN_NUM || a.kind == QN_DATE)) {
        int inf;
        int64_t us;
        if (a.kind == QN_NUM && b.n < sizeof b.num) b.kind = QN_NUM, snprintf(b.num, sizeof b.num, "%s", b.s);
        else if (a.kind == QN_DATE && read_temporal(SL_CK_TSTZ, b.s, b.n, &us, &inf)) b.kind = QN_DATE, b.ms = sl_floor_div(us, 1000);
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
    case QN_NULL: return true;
    case QN_BOOL: return a.b == b.b;
    case QN_NUM: return qnum_same(a.num, b.num);
    case QN_STR: return a.n == b.n && memcmp(a.s, b.s, a.n) == 0;
    case QN_DATE: return a.ms == b.ms;
    case QN_OBJ: return qobj_same(x, y, strict, path, depth);
    case QN_ARR: {
        size_t n = json_array_size(x);
        if (n != json_array_size(y)) return false;
        for (size_t i = 0; i < n; i++) {
            size_t mark = path->len;
            sl_buf_printf(path, "[%zu]", i);
            if (!qsame(json_array_get(x, i), json_array_get(y, i), strict, path, depth + 1)) return false;
            path->len = mark;
            sl_buf_cstr(path);
        }
        return true;
    }
    default: return json_equal(x, y);
    }
}

bool sl_vnorm_rows_same(const char *a, size_t an, const char *b, size_t bn, bool strict_missing, sl_buf *path) {
    json_t *x = json_loadb(a, an, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *y = x ? json_loadb(b, bn, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    bool same = x && y && qsame(x, y, strict_missing, path, 0);
    json_decref(x);
    json_decref(y);
    return same;
}

/* Hex text without a "\x" prefix, compared without case. */
static bool hex_same(const char *a, size_t an, const char *b, size_t bn) {
    if (an >= 2 && a[0] == '\\' && a[1] == 'x') a += 2, an -= 2;
    if (bn >= 2 && b[0] == '\\' && b[1] == 'x') b += 2, bn -= 2;
    return an == bn && strncasecmp(a, b, an) == 0;
}

static int mkey_cmp(const char *a, size_t an, const char *b, size_t bn);

bool sl_vnorm_equal(const sl_vcol *sc, const char *a, size_t an, const sl_vcol *tc, const char *b, size_t bn) {
    if (!a || !b) return !a && !b;
    if (an == bn && memcmp(a, b, an) == 0) return true;
    switch (sc->kind) {
    case SL_CK_TEXT: return false;
    case SL_CK_INT: {
        bool x, y;
        if (word_bool(a, an, &x) && word_bool(b, bn, &y)) return x == y;
        if (word_bool(a, an, &x)) a = x ? "1" : "0", an = 1;
        if (word_bool(b, bn, &y)) b = y ? "1" : "0", bn = 1;
        dec p, q;
        return dec_read(a, an, &p) && dec_read(b, bn, &q) && !p.fn && !q.fn && dec_cmp(&p, &q) == 0;
    }
    case SL_CK_DEC: return dec_equal(sc, a, an, tc, b, bn);
    case SL_CK_FLOAT: {
        double x, y;
        return read_double(a, an, &x) && read_double(b, bn, &y) && float_equal(sc->single || tc->single, x, y);
    }
    case SL_CK_BOOL: {
        bool x, y;
        return word_bool(a, an, &x) && word_bool(b, bn, &y) && x == y;
    }
    case SL_CK_BYTES: return hex_same(a, an, b, bn);
    case SL_CK_DATE:
    case SL_CK_TIME:
    case SL_CK_TS:
    case SL_CK_TSTZ: return temporal_equal(sc, a, an, tc, b, bn);
    case SL_CK_JSON: return json_same(a, an, b, bn);
    case SL_CK_UUID: return an == bn && strncasecmp(a, b, an) == 0;
    case SL_CK_TIMETZ: {
        int64_t x, y;
        return read_timetz(a, an, &x) && read_timetz(b, bn, &y) && x == y;
    }
    case SL_CK_INTERVAL: {
        double x, y;
        return read_interval(a, an, &x) && read_interval(b, bn, &y) && fabs(x - y) < 1.0;
    }
    case SL_CK_HSTORE: {
        json_t *x = json_loadb(a, an, 0, NULL), *y = json_loadb(b, bn, 0, NULL);
        if (!x) x = hstore_json(a, an);
        if (!y) y = hstore_json(b, bn);
        bool same = x && y && json_equal(x, y);
        json_decref(x), json_decref(y);
        return same;
    }
    case SL_CK_BITS: {
        sl_buf x, y;
        sl_buf_init(&x), sl_buf_init(&y);
        bits_of(a, an, &x);
        bits_of(b, bn, &y);
        bool same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
        sl_buf_free(&x), sl_buf_free(&y);
        return same;
    }
    case SL_CK_ARRAY: {
        json_t *x = array_json(a, an), *y = array_json(b, bn);
        bool same = x && y && json_equal(x, y);
        json_decref(x), json_decref(y);
        return same;
    }
    case SL_CK_GEOMETRY: return wkb_same(a, an, b, bn);
    case SL_CK_MKEY: return mkey_cmp(a, an, b, bn) == 0;
    case SL_CK_DOC: {
        sl_buf path;
        sl_buf_init(&path);
        bool same = sl_vnorm_rows_same(a, an, b, bn, false, &path);
        sl_buf_free(&path);
        return same;
    }
    case SL_CK_POINT: {
        double ax, ay, bx, by;
        return read_point(a, an, &ax, &ay) && read_point(b, bn, &bx, &by) && float_equal(false, ax, bx) &&
               float_equal(false, ay, by);
    }
    }
    return false;
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn, bool nocase) {
    size_t m = an < bn ? an : bn;
    int c = nocase ? strncasecmp(a, b, m) : memcmp(a, b, m);
    if (c) return c < 0 ? -1 : 1;
    return an == bn ? 0 : an < bn ? -1 : 1;
}

/* The rank of a typed _id text's type, in MongoDB's order of BSON types (null < numbers < strings < documents,
 * arrays, binary < ObjectId < booleans < dates). */
static int mkey_rank(char t) {
    switch (t) {
    case 'z': return 1;
    case 'n': return 2;
    case 's': return 3;
    case 'j': return 4;
    case 'o': return 7;
    case 'b': return 8;
    case 'd': return 9;
    default: return 10;
    }
}

static int mkey_cmp(const char *a, size_t an, const char *b, size_t bn) {
    if (!an || !bn) return an == bn ? 0 : !an ? -1 : 1;
    int ra = mkey_rank(a[0]), rb = mkey_rank(b[0]);
    if (ra != rb) return ra < rb ? -1 : 1;
    if ((a[0] == 'n' || a[0] == 'd') && an < 64 && bn < 64) { /* by value */
        char x[64], y[64];
        snprintf(x, sizeof x, "%.*s", (int)an - 1, a + 1);
        snprintf(y, sizeof y, "%.*s", (int)bn - 1, b + 1);
        long double p = strtold(x, NULL), q = strtold(y, NULL);
        if (isnan(p) || isnan(q)) return isnan(p) && isnan(q) ? 0 : isnan(p) ? -1 : 1; /* NaN first */
        if (p != q) return p < q ? -1 : 1;
        return 0;
    }
    return bytes_cmp(a, an, b, bn, false);
}

int sl_vnorm_cmp(const sl_vcol *c, const char *a, size_t an, const sl_vcol *tc, const char *b, size_t bn) {
    (void)tc;
    if (!a || !b) return !a && !b ? 0 : !a ? -1 : 1;
    switch (c->kind) {
    case SL_CK_MKEY: return mkey_cmp(a, an, b, bn);
    case SL_CK_INT:
    case SL_CK_DEC: {
        dec x, y;
        bool bx, by;
        if (word_bool(a, an, &bx)) a = bx ? "1" : "0", an = 1;
        if (word_bool(b, bn, &by)) b = by ? "1" : "0", bn = 1;
        if (dec_read(a, an, &x) && dec_read(b, bn, &y)) return dec_cmp(&x, &y);
        break;
    }
    case SL_CK_FLOAT: {
        double x, y;
        if (read_double(a, an, &x) && read_double(b, bn, &y)) return x < y ? -1 : x > y ? 1 : 0;
        break;
    }
    case SL_CK_BOOL: {
        bool x, y;
        if (word_bool(a, an, &x) && word_bool(b, bn, &y)) return (int)x - (int)y;
        break;
    }
    case SL_CK_DATE:
    case SL_CK_TIME:
    case SL_CK_TS:
    case SL_CK_TSTZ: {
        int64_t x, y;
        int ix, iy;
        if (read_temporal(c->kind, a, an, &x, &ix) && read_temporal(c->kind, b, bn, &y, &iy)) {
            if (ix != iy) return ix < iy ? -1 : 1;
            if (ix) return 0;
            return x < y ? -1 : x > y ? 1 : 0;
        }
        break;
    }
    case SL_CK_UUID:
    case SL_CK_BYTES: return bytes_cmp(a, an, b, bn, true);
    default: break;
    }
    return bytes_cmp(a, an, b, bn, false);
}
