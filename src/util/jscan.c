/* JSON text read in place (see jscan.h). */
#include "util/jscan.h"
#include "util/buf.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH: every value counts, the top one is 1 */

typedef struct scan {
    const char *s, *end, *p;
    sl_jscan_err *err;
    sl_jscan_top *top; /* what to note about the top-level value, or NULL */
    size_t ws;         /* whitespace bytes outside strings */
    int top_depth;     /* the depth of the value top is about (1: the top-level value) */
} scan;

static int fail(scan *x, const char *fmt, ...) {
    if (x->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->err->text, sizeof x->err->text, fmt, ap);
        va_end(ap);
        int line = 1, col = 0;
        for (const char *q = x->s; q < x->p && q < x->end; q++) {
            if (*q == '\n') line++, col = 0;
            else if (((unsigned char)*q & 0xc0) != 0x80) col++; /* characters, not bytes */
        }
        x->err->line = line, x->err->column = col;
    }
    return -1;
}

static void skip_ws(scan *x) {
    const char *p0 = x->p;
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r')) x->p++;
    x->ws += (size_t)(x->p - p0);
}

/* A member of the top-level object: counted, and noted when its key (raw bytes) is one of top->keys. */
static void note_member(scan *x, const char *k, size_t kn, const char *v, size_t vn) {
    sl_jscan_top *t = x->top;
    t->members++;
    if (memchr(k, '\\', kn)) t->escaped = true;
    for (int i = 0; i < t->nkeys; i++)
        if (strlen(t->keys[i]) == kn && memcmp(t->keys[i], k, kn) == 0) {
            t->vals[i] = (sl_jval){v, vn};
            t->found |= 1u << i;
        }
}

static int hex4(const char *p, const char *end, unsigned *v) {
    if (end - p < 4) return -1;
    unsigned r = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        r = r << 4 | (unsigned)d;
    }
    *v = r;
    return 0;
}

/* At the opening quote; leaves p after the closing one. The input is valid UTF-8 (checked first). */
static int scan_string(scan *x, bool key) {
    x->p++;
    for (;;) {
        const char *p = x->p;
        while (p < x->end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
        x->p = p;
        if (p == x->end) return fail(x, "premature end of input in a string");
        if (*p == '"') {
            x->p++;
            return 0;
        }
        if (*p != '\\') return fail(x, "control character 0x%x in a string", (unsigned)(unsigned char)*p);
        if (p + 1 == x->end) return fail(x, "premature end of input in a string");
        char e = p[1];
        if (e != 'u') {
            if (!strchr("\"\\/bfnrt", e) || !e) return fail(x, "invalid escape '\\%c' in a string", e);
            x->p = p + 2;
            continue;
        }
        unsigned v;
        if (hex4(p + 2, x->end, &v) < 0) return fail(x, "invalid \\u escape in a string");
        x->p = p + 6;
        if (v >= 0xDC00 && v <= 0xDFFF) return fail(x, "invalid Unicode '\\u%04X'", v);
        if (v >= 0xD800 && v <= 0xDBFF) { /* a high surrogate needs its low one next */
            unsigned lo;
            if (x->end - x->p < 6 || x->p[0] != '\\' || x->p[1] != 'u' || hex4(x->p + 2, x->end, &lo) < 0 ||
                lo < 0xDC00 || lo > 0xDFFF)
                return fail(x, "invalid Unicode '\\u%04X'", v);
            x->p += 6;
        }
        if (v == 0 && key) return fail(x, "NUL byte in object key not supported");
    }
}

static bool digit(char c) { return c >= '0' && c <= '9'; }

static int scan_number(scan *x) {
    const char *start = x->p, *p = x->p;
    if (p < x->end && *p == '-') p++;
    if (p == x->end || !digit(*p)) return fail(x, "invalid number");
    const char *int_start = p;
    if (*p == '0') {
        p++;
        if (p < x->end && digit(*p)) return fail(x, "invalid number (leading zero)");
    } else {
        while (p < x->end && digit(*p)) p++;
    }
    size_t int_digits = (size_t)(p - int_start);
    bool exp = false;
    if (p < x->end && *p == '.') {
        p++;
        if (p == x->end || !digit(*p)) return fail(x, "invalid number (no digit after '.')");
        while (p < x->end && digit(*p)) p++;
    }
    if (p < x->end && (*p == 'e' || *p == 'E')) {
        exp = true;
        p++;
        if (p < x->end && (*p == '+' || *p == '-')) p++;
        if (p == x->end || !digit(*p)) return fail(x, "invalid number (no digit in the exponent)");
        while (p < x->end && digit(*p)) p++;
    }
    x->p = p;
    /* Every number is read as a double (JSON_DECODE_INT_AS_REAL): one that overflows it is an error. Only
     * an exponent or more than 308 integer digits can. */
    if (exp || int_digits > 308) {
        size_t n = (size_t)(p - start);
        char small[64], *t = n < sizeof small ? small : malloc(n + 1);
        if (!t) return fail(x, "out of memory");
        memcpy(t, start, n);
        t[n] = 0;
        errno = 0;
        double d = strtod(t, NULL);
        bool over = errno == ERANGE && isinf(d);
        if (t != small) free(t);
        if (over) return fail(x, "real number overflow");
    }
    return 0;
}

static int literal(scan *x, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(x->end - x->p) < n || memcmp(x->p, word, n) != 0) return fail(x, "invalid token");
    x->p += n;
    return 0;
}

static int scan_value(scan *x, int depth) {
    if (depth > MAX_DEPTH) return fail(x, "maximum parsing depth reached");
    skip_ws(x);
    if (x->p == x->end) return fail(x, "premature end of input");
    switch (*x->p) {
    case '{':
        x->p++;
        skip_ws(x);
        if (x->p < x->end && *x->p == '}') {
            x->p++;
            return 0;
        }
        for (;;) {
            skip_ws(x);
            if (x->p == x->end || *x->p != '"') return fail(x, "string or '}' expected");
            const char *k = x->p + 1;
            if (scan_string(x, true) < 0) return -1;
            size_t kn = (size_t)(x->p - 1 - k);
            skip_ws(x);
            if (x->p == x->end || *x->p != ':') return fail(x, "':' expected");
            x->p++;
            skip_ws(x);
            const char *v = x->p;
            if (scan_value(x, depth + 1) < 0) return -1;
            if (depth == x->top_depth && x->top) note_member(x, k, kn, v, (size_t)(x->p - v));
            skip_ws(x);
            if (x->p < x->end && *x->p == ',') {
                x->p++;
                continue;
            }
            if (x->p < x->end && *x->p == '}') {
                x->p++;
                return 0;
            }
            return fail(x, "'}' expected");
        }
    case '[':
        x->p++;
        skip_ws(x);
        if (x->p < x->end && *x->p == ']') {
            x->p++;
            return 0;
        }
        for (;;) {
            if (scan_value(x, depth + 1) < 0) return -1;
            skip_ws(x);
            if (x->p < x->end && *x->p == ',') {
                x->p++;
                continue;
            }
            if (x->p < x->end && *x->p == ']') {
                x->p++;
                return 0;
            }
            return fail(x, "']' expected");
        }
    case '"': return scan_string(x, false);
    case 't': return literal(x, "true");
    case 'f': return literal(x, "false");
    case 'n': return literal(x, "null");
    default: return scan_number(x);
    }
}

int sl_jscan_validate_top(const char *s, size_t n, sl_jscan_err *err, sl_jscan_top *top) {
    scan x = {s, s + n, s, err, top, 0, 1};
    if (top) top->found = 0, top->members = 0, top->ws = 0, top->escaped = false;
    long bad = sl_utf8_invalid_at(s, n);
    if (bad >= 0) {
        x.p = s + bad;
        return fail(&x, "unable to decode byte 0x%x", (unsigned)(unsigned char)s[bad]);
    }
    skip_ws(&x);
    if (top && (x.p == x.end || *x.p != '{')) top->members = -1;
    if (scan_value(&x, 1) < 0) return -1;
    skip_ws(&x);
    if (x.p != x.end) return fail(&x, "end of file expected");
    if (top) top->ws = x.ws;
    return 0;
}

int sl_jscan_validate(const char *s, size_t n, sl_jscan_err *err) { return sl_jscan_validate_top(s, n, err, NULL); }

bool sl_jscan_last_member(const char *s, size_t n, size_t from, sl_jval *v, sl_jscan_top *top) {
    /* The prefix ends at an ASCII ':', so no UTF-8 sequence spans the cut. */
    if (from >= n || sl_utf8_invalid_at(s + from, n - from) >= 0) return false;
    scan x = {s, s + n, s + from, NULL, top, 0, 2};
    if (top) top->found = 0, top->members = s[from] == '{' ? 0 : -1, top->ws = 0, top->escaped = false;
    const char *v0 = x.p;
    if (scan_value(&x, 2) < 0 || x.ws || x.end - x.p != 1 || *x.p != '}') return false;
    *v = (sl_jval){v0, (size_t)(x.p - v0)};
    return true;
}

/* ---- reading well-formed text ---- */

/* Past the string whose opening quote is at p (well-formed text). */
static const char *skip_string(const char *p, const char *end) {
    const char *s0 = ++p;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return end;
        const char *b = q;
        while (b > s0 && b[-1] == '\\') b--;
        if (((q - b) & 1) == 0) return q + 1; /* not escaped: an even run of backslashes before it */
        p = q + 1;
    }
}

/* Past the value at p (well-formed), without checking anything. */
static const char *skip_value(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p == end) return p;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int level = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (c == '{' || c == '[') level++;
            else if ((c == '}' || c == ']') && --level == 0) return p + 1;
            p++;
        }
        return p;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
    return p;
}

sl_jval sl_jval_trim(sl_jval v) {
    const char *p = v.p, *e = v.p + v.n;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) e--;
    return (sl_jval){p, (size_t)(e - p)};
}

char sl_jval_kind(sl_jval v) {
    v = sl_jval_trim(v);
    if (!v.n) return 0;
    char c = v.p[0];
    return c == '{' || c == '[' || c == '"' || c == 'n' || c == 't' || c == 'f' ? c : '0';
}

/* Decodes string text (at its opening quote) into out; returns the decoded length. */
static size_t decode_string(const char *p, const char *end, char *out, size_t outsz) {
    size_t n = 0;
    for (p++; p < end && *p != '"'; p++) {
        unsigned cp;
        if (*p != '\\') {
            if (n + 1 < outsz) out[n] = *p;
            n++;
            continue;
        }
        p++;
        switch (*p) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            hex4(p + 1, end, &cp);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* well-formed: its low surrogate follows */
                unsigned lo = 0xDC00;
                hex4(p + 3, end, &lo);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            break;
        default: cp = (unsigned char)*p; break;
        }
        char u[4];
        int k = cp < 0x80 ? (u[0] = (char)cp, 1)
                : cp < 0x800 ? (u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), 2)
                : cp < 0x10000 ? (u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
                                  u[2] = (char)(0x80 | (cp & 0x3F)), 3)
                               : (u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
                                  u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), 4);
        for (int i = 0; i < k; i++, n++)
            if (n + 1 < outsz) out[n] = u[i];
    }
    if (outsz) out[n < outsz ? n : outsz - 1] = 0;
    return n;
}

long sl_jval_string(sl_jval v, char *out, size_t outsz) {
    v = sl_jval_trim(v);
    if (!v.n || v.p[0] != '"') return -1;
    return (long)decode_string(v.p, v.p + v.n, out, outsz);
}

/* Calls fn for each member of object v (key at its opening quote, value) until fn returns true. */
typedef bool member_fn(void *arg, const char *key, const char *end, sl_jval value);

static bool each_member(sl_jval v, member_fn *fn, void *arg) {
    v = sl_jval_trim(v);
    const char *p = v.p, *end = v.p + v.n;
    if (p == end || *p != '{') return false;
    for (p++;;) {
        while (p < end && *p != '"' && *p != '}') p++;
        if (p == end || *p == '}') return true;
        const char *key = p;
        p = skip_string(p, end);
        while (p < end && *p != ':') p++;
        const char *vstart = ++p;
        p = skip_value(p, end);
        if (fn(arg, key, end, (sl_jval){vstart, (size_t)(p - vstart)})) return true;
        while (p < end && *p != ',' && *p != '}') p++;
        if (p < end && *p == ',') p++;
    }
}

/* Whether the string text at key decodes to exactly want[0, wn). */
static bool key_is(const char *key, const char *end, const char *want, size_t wn) {
    const char *q = key + 1;
    if ((size_t)(end - q) > wn && memcmp(q, want, wn) == 0 && q[wn] == '"') return true; /* no escapes */
    if (!memchr(q, '\\', (size_t)(end - q) < wn + 64 ? (size_t)(end - q) : wn + 64)) return false;
    char buf[256];
    size_t n = decode_string(key, end, buf, sizeof buf);
    return n == wn && n < sizeof buf && memcmp(buf, want, wn) == 0;
}

typedef struct find {
    const char *key;
    size_t kn;
    sl_jval out;
    bool found;
} find;

static bool find_member(void *arg, const char *key, const char *end, sl_jval value) {
    find *f = arg;
    if (key_is(key, end, f->key, f->kn)) f->out = value, f->found = true; /* the last one wins */
    return false;
}

bool sl_jval_member(sl_jval v, const char *key, sl_jval *out) {
    find f = {key, strlen(key), {NULL, 0}, false};
    if (!each_member(v, find_member, &f) || !f.found) return false;
    *out = sl_jval_trim(f.out);
    return true;
}

typedef struct multi {
    const char *const *keys;
    sl_jval *out;
    int nkeys;
    unsigned found;
    const char *seen[64];
    int nseen, distinct;
} multi;

static bool keys_equal(const char *a, const char *b, const char *end) {
    char x[256], y[256];
    size_t xn = decode_string(a, end, x, sizeof x), yn = decode_string(b, end, y, sizeof y);
    return xn == yn && xn < sizeof x && memcmp(x, y, xn) == 0;
}

static bool multi_member(void *arg, const char *key, const char *end, sl_jval value) {
    multi *m = arg;
    for (int i = 0; i < m->nkeys; i++)
        if (key_is(key, end, m->keys[i], strlen(m->keys[i]))) m->out[i] = sl_jval_trim(value), m->found |= 1u << i;
    for (int i = 0; i < m->nseen; i++)
        if (keys_equal(key, m->seen[i], end)) return false; /* a repeated key */
    if (m->nseen < 64) m->seen[m->nseen++] = key;
    m->distinct++;
    return false;
}

int sl_jval_members(sl_jval v, const char *const *keys, int nkeys, sl_jval *out, unsigned *found) {
    multi m = {keys, out, nkeys < 32 ? nkeys : 32, 0, {0}, 0, 0};
    bool ok = each_member(v, multi_member, &m);
    *found = m.found;
    return ok ? m.distinct : -1;
}

typedef struct count {
    const char *keys[64];
    int n, distinct;
} count;

static bool count_member(void *arg, const char *key, const char *end, sl_jval value) {
    (void)value;
    count *c = arg;
    char a[256], b[256];
    size_t an = decode_string(key, end, a, sizeof a);
    for (int i = 0; i < c->n && i < 64; i++) {
        size_t bn = decode_string(c->keys[i], end, b, sizeof b);
        if (an == bn && an < sizeof a && memcmp(a, b, an) == 0) return false; /* a repeated key */
    }
    if (c->n < 64) c->keys[c->n++] = key;
    c->distinct++;
    return false;
}

int sl_jval_object_size(sl_jval v) {
    count c = {.n = 0};
    if (!each_member(v, count_member, &c)) return -1;
    return c.distinct; /* beyond 64 keys repeats are not looked for: only small objects are asked about */
}
