/*
 * Helpers of Kafka Connect's built-in transforms (see connect_int.h): schema
 * and list utilities, Java's number printing, java.util.regex through PCRE2
 * (whole-string matches as Matcher.matches(), Matcher's replacement syntax)
 * and the common subset of java.text.SimpleDateFormat, in UTC.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "xform/connect_int.h"
#include "util/jnum.h"
#include "util/mem.h"
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- schemas ---- */

const char *cx_vtype(sl_vheap *h, sl_val *schema) {
    const char *t = sl_v_strval(h, sl_v_get(h, schema, "type"), NULL);
    return t ? t : "";
}

const char *cx_vname(sl_vheap *h, sl_val *schema) {
    const char *n = sl_v_strval(h, sl_v_get(h, schema, "name"), NULL);
    return n ? n : "";
}

bool cx_voptional(sl_vheap *h, sl_val *schema) {
    sl_val *o = sl_v_get(h, schema, "optional");
    return sl_v_kind(h, o) == SL_V_BOOL && o->b;
}

sl_val *cx_vfields(sl_vheap *h, sl_val *s) {
    sl_val *f = sl_v_get(h, s, "fields");
    return sl_v_kind(h, f) == SL_V_ARR ? f : NULL;
}

const char *cx_vfield_name(sl_vheap *h, sl_val *fs) { return sl_v_strval(h, sl_v_get(h, fs, "field"), NULL); }

void cx_vkeep_field(sl_vheap *h, sl_val *ns, sl_val *fs) { sl_v_push(h, sl_v_get(h, ns, "fields"), fs); }

sl_val *cx_vstruct_like(sl_vheap *h, sl_val *s) {
    sl_val *n = sl_v_obj(h, 7);
    sl_v_set_ref(h, n, "type", 4, sl_v_str_ref(h, "struct", 6));
    sl_v_set_ref(h, n, "fields", 6, sl_v_arr(h, 0));
    sl_v_set_ref(h, n, "optional", 8, sl_v_bool(h, false));
    static const char *const basics[] = {"name", "version", "doc", "parameters"};
    for (size_t i = 0; i < sizeof basics / sizeof *basics; i++) {
        sl_val *v = sl_v_get(h, s, basics[i]);
        if (v) sl_v_set_ref(h, n, basics[i], strlen(basics[i]), v); /* shared: nothing changes them in place */
    }
    return n;
}

sl_val *cx_vget_at(sl_vheap *h, sl_val *obj, sl_val *fs, long at, bool with_default) {
    size_t len;
    const char *name = sl_v_strval(h, sl_v_get(h, fs, "field"), &len);
    sl_val *v = NULL;
    if (name) {
        sl_v_force(h, obj);
        if (at >= 0 && obj && obj->kind == SL_V_OBJ && (size_t)at < obj->n && obj->m[at].len == len &&
            !memcmp(obj->m[at].name, name, len))
            v = obj->m[at].v; /* members mostly follow the schema's fields */
        else v = sl_v_get(h, obj, name);
    }
    sl_val *def = with_default ? sl_v_get(h, fs, "default") : NULL; /* the null test only where it matters */
    return def && sl_v_is_null(h, v) ? sl_v_copy(h, def) : v;
}

sl_val *cx_vget(sl_vheap *h, sl_val *obj, sl_val *fs, bool with_default) { return cx_vget_at(h, obj, fs, -1, with_default); }

const char *cx_vjtype(sl_vheap *h, sl_val *v) {
    switch (sl_v_kind(h, v)) {
    case SL_V_OBJ: return "Map";
    case SL_V_ARR: return "List";
    case SL_V_STR: return "String";
    case SL_V_INT: return "Long";
    case SL_V_REAL: return "Double";
    case SL_V_BOOL: return "Boolean";
    default: return "null";
    }
}

int cx_vneed_map(sl_vheap *h, sl_val *v, const char *purpose, char *errstr, size_t errsz) {
    if (sl_v_kind(h, v) == SL_V_OBJ) return 0;
    snprintf(errstr, errsz, "only a Map (JSON object) is supported in absence of schema for [%s], found: %s", purpose,
             cx_vjtype(h, v));
    return -1;
}

int cx_vneed_struct(sl_vheap *h, sl_val *v, const char *purpose, char *errstr, size_t errsz) {
    if (sl_v_kind(h, v) == SL_V_OBJ) return 0;
    snprintf(errstr, errsz, "only a Struct is supported for [%s], found: %s", purpose, cx_vjtype(h, v));
    return -1;
}

/* ---- lists ---- */

void cx_list_parse(cx_list *l, const char *s) {
    l->v = NULL;
    l->n = 0;
    for (const char *p = s ? s : ""; *p;) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && isspace((unsigned char)t[-1])) t--;
        if (t > p) {
            l->v = sl_realloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
            l->v[l->n++] = sl_strndup(p, (size_t)(t - p));
        }
        p = e;
    }
}

void cx_list_free(cx_list *l) {
    for (int i = 0; i < l->n; i++) sl_free(l->v[i]);
    sl_free(l->v);
    l->v = NULL;
    l->n = 0;
}

bool cx_list_has(const cx_list *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0) return true;
    return false;
}

/* ---- Java numbers ---- */

sl_val *cx_vfloat(sl_vheap *h, float f) {
    if (!isfinite(f)) return NULL;
    char t[SL_JNUM_BUFSZ];
    sl_jnum_float(t, f);
    return sl_v_real(h, strtod(t, NULL));
}

/* ---- regexes ---- */

struct cx_regex {
    pcre2_code *code;
    pcre2_match_data *md;
    uint32_t ngroups;
};

cx_regex *cx_regex_new(const char *pattern, const char *key, sl_errs *errs) {
    int ec;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                     &ec, &off, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        sl_errs_add(errs, "%s: '%s' is not a valid regular expression: %s at offset %zu", key, pattern, (char *)msg,
                    (size_t)off);
        return NULL;
    }
    cx_regex *re = sl_calloc(1, sizeof *re);
    re->code = code;
    re->md = pcre2_match_data_create_from_pattern(code, NULL);
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->ngroups);
    return re;
}

void cx_regex_free(cx_regex *re) {
    if (!re) return;
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    sl_free(re);
}

bool cx_regex_matches(const cx_regex *re, const char *s) {
    return pcre2_match(re->code, (PCRE2_SPTR)s, strlen(s), 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, re->md, NULL) >= 0;
}

/* Walks a Matcher replacement: calls lit(text, n) for literal text and grp(number) for group references;
 * -1 with why set on a syntax error. */
typedef struct repl_walk {
    const cx_regex *re;
    const char *subject;
    sl_buf *out;
    char why[160];
} repl_walk;

static int group_of(const cx_regex *re, const char *name) {
    int n = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);
    return n >= 0 ? n : -1;
}

static int walk_repl(repl_walk *w, const char *repl) {
    for (const char *p = repl; *p;) {
        if (*p == '\\') {
            if (!p[1]) {
                snprintf(w->why, sizeof w->why, "character to be escaped is missing");
                return -1;
            }
            if (w->out) sl_buf_putc(w->out, p[1]);
            p += 2;
            continue;
        }
        if (*p != '$') {
            if (w->out) sl_buf_putc(w->out, *p);
            p++;
            continue;
        }
        p++;
        int g;
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (!e || e == p + 1) {
                snprintf(w->why, sizeof w->why, "named capturing group is missing trailing '}'");
                return -1;
            }
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(e - p - 1), p + 1);
            if ((g = group_of(w->re, name)) < 0) {
                snprintf(w->why, sizeof w->why, "no group with name {%s}", name);
                return -1;
            }
            p = e + 1;
        } else if (isdigit((unsigned char)*p)) {
            g = *p++ - '0'; /* Java: further digits while the number is still a group */
            while (isdigit((unsigned char)*p) && g * 10 + (*p - '0') <= (int)w->re->ngroups) g = g * 10 + (*p++ - '0');
            if (g > (int)w->re->ngroups) {
                snprintf(w->why, sizeof w->why, "no group %d (the regex has %u)", g, w->re->ngroups);
                return -1;
            }
        } else {
            snprintf(w->why, sizeof w->why, "illegal group reference: '$' must be followed by a group number or {name}");
            return -1;
        }
        if (w->out) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->re->md);
            if (ov[2 * g] != PCRE2_UNSET) sl_buf_put(w->out, w->subject + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        }
    }
    return 0;
}

int cx_regex_check_replacement(const cx_regex *re, const char *repl, const char *key, sl_errs *errs) {
    repl_walk w = {.re = re};
    if (walk_repl(&w, repl) == 0) return 0;
    sl_errs_add(errs, "%s: '%s' is not a valid replacement: %s", key, repl, w.why);
    return -1;
}

char *cx_regex_replace_first(const cx_regex *re, const char *s, const char *repl) {
    size_t n = strlen(s);
    if (pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, re->md, NULL) < 0) return sl_strdup(s);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    size_t a = ov[0], b = ov[1];
    sl_buf out;
    sl_buf_init(&out);
    sl_buf_put(&out, s, a);
    repl_walk w = {.re = re, .subject = s, .out = &out};
    walk_repl(&w, repl);
    sl_buf_put(&out, s + b, n - b);
    char *r = sl_strdup(sl_buf_cstr(&out));
    sl_buf_free(&out);
    return r;
}

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (any month, day: lenient). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y += (m - 1) >= 0 ? (m - 1) / 12 : -((12 - m) / 12);
    m = ((m - 1) % 12 + 12) % 12 + 1;
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 + (d - 1);
}

typedef struct civil {
    int64_t year;
    int month, day, hour, min, sec, ms, wday, yday;
} civil;

static civil civil_from_ms(int64_t ms) {
    civil c;
    int64_t days = ms >= 0 ? ms / CX_MS_PER_DAY : -((-ms + CX_MS_PER_DAY - 1) / CX_MS_PER_DAY);
    int64_t rem = ms - days * CX_MS_PER_DAY;
    c.hour = (int)(rem / 3600000), c.min = (int)(rem / 60000 % 60), c.sec = (int)(rem / 1000 % 60);
    c.ms = (int)(rem % 1000);
    c.wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday; 0 = Sunday */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    c.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c.year = yoe + era * 400 + (c.month <= 2);
    c.yday = (int)(days - days_from_civil(c.year, 1, 1) + 1);
    return c;
}

static const char *const months[] = {"January", "February", "March",     "April",   "May",      "June",
                                     "July",    "August",   "September", "October", "November", "December"};
static const char *const wdays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

typedef struct dtok {
    char letter; /* 0: literal */
    int count;
    char *text;
} dtok;

struct cx_datefmt {
    char *pattern;
    dtok *t;
    int n;
};

static void add_tok(cx_datefmt *f, char letter, int count, const char *text, size_t len) {
    f->t = sl_realloc(f->t, (size_t)(f->n + 1) * sizeof *f->t);
    f->t[f->n++] = (dtok){letter, count, text ? sl_strndup(text, len) : NULL};
}

void cx_datefmt_free(cx_datefmt *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) sl_free(f->t[i].text);
    sl_free(f->t);
    sl_free(f->pattern);
    sl_free(f);
}

const char *cx_datefmt_pattern(const cx_datefmt *f) { return f->pattern; }

static cx_datefmt *compile_fmt(const char *pattern, char *why, size_t whysz) {
    cx_datefmt *f = sl_calloc(1, sizeof *f);
    f->pattern = sl_strdup(pattern);
    sl_buf lit;
    sl_buf_init(&lit);
    for (const char *p = pattern; *p;) {
        if (*p == '\'') {
            if (p[1] == '\'') { /* '' is a quote */
                sl_buf_putc(&lit, '\'');
                p += 2;
                continue;
            }
            for (p++;; p++) {
                if (!*p) {
                    snprintf(why, whysz, "unterminated quote");
                    goto fail;
                }
                if (*p == '\'' && p[1] == '\'') sl_buf_putc(&lit, '\''), p++;
                else if (*p == '\'') break;
                else sl_buf_putc(&lit, *p);
            }
            p++;
            continue;
        }
        if (!isalpha((unsigned char)*p)) {
            sl_buf_putc(&lit, *p++);
            continue;
        }
        if (lit.len) add_tok(f, 0, 0, lit.data, lit.len), sl_buf_reset(&lit);
        const char *s = p;
        while (*p == *s) p++;
        if (!strchr("yMdDHhkKmsSaEZXz", *s)) {
            if (strchr("GwWFuYL", *s))
                snprintf(why, whysz, "pattern letter '%c' is not supported (supported: y M d D H h k K m s S a E Z X z "
                                     "and 'quoted text')", *s);
            else snprintf(why, whysz, "illegal pattern character '%c'", *s);
            goto fail;
        }
        add_tok(f, *s, (int)(p - s), NULL, 0);
    }
    if (lit.len) add_tok(f, 0, 0, lit.data, lit.len);
    sl_buf_free(&lit);
    return f;
fail:
    sl_buf_free(&lit);
    cx_datefmt_free(f);
    return NULL;
}

cx_datefmt *cx_datefmt_new(const char *pattern, const char *key, sl_errs *errs) {
    char why[256];
    cx_datefmt *f = compile_fmt(pattern, why, sizeof why);
    if (!f) sl_errs_add(errs, "%s: '%s' is not a supported SimpleDateFormat pattern: %s", key, pattern, why);
    return f;
}

static void put_num(sl_buf *out, int64_t v, int width) {
    if (v < 0) sl_buf_putc(out, '-'), v = -v;
    sl_buf_printf(out, "%0*lld", width, (long long)v);
}

void cx_datefmt_format(const cx_datefmt *f, int64_t ms, sl_buf *out) {
    civil c = civil_from_ms(ms);
    for (int i = 0; i < f->n; i++) {
        const dtok *t = &f->t[i];
        int n = t->count;
        switch (t->letter) {
        case 0: sl_buf_puts(out, t->text); break;
        case 'y': n == 2 ? put_num(out, (c.year % 100 + 100) % 100, 2) : put_num(out, c.year, n); break;
        case 'M':
            if (n >= 4) sl_buf_puts(out, months[c.month - 1]);
            else if (n == 3) sl_buf_put(out, months[c.month - 1], 3);
            else put_num(out, c.month, n);
            break;
        case 'd': put_num(out, c.day, n); break;
        case 'D': put_num(out, c.yday, n); break;
        case 'H': put_num(out, c.hour, n); break;
        case 'k': put_num(out, c.hour ? c.hour : 24, n); break;
        case 'K': put_num(out, c.hour % 12, n); break;
        case 'h': put_num(out, c.hour % 12 ? c.hour % 12 : 12, n); break;
        case 'm': put_num(out, c.min, n); break;
        case 's': put_num(out, c.sec, n); break;
        case 'S': put_num(out, c.ms, n); break;
        case 'a': sl_buf_puts(out, c.hour < 12 ? "AM" : "PM"); break;
        case 'E': n >= 4 ? sl_buf_puts(out, wdays[c.wday]) : sl_buf_put(out, wdays[c.wday], 3); break;
        case 'Z': sl_buf_puts(out, "+0000"); break;
        case 'X': sl_buf_putc(out, 'Z'); break;
        case 'z': sl_buf_puts(out, n >= 4 ? "Coordinated Universal Time" : "UTC"); break;
        }
    }
}

void cx_format_ms(const char *pattern, int64_t ms, sl_buf *out) {
    char why[128];
    cx_datefmt *f = compile_fmt(pattern, why, sizeof why);
    if (f) cx_datefmt_format(f, ms, out);
    cx_datefmt_free(f);
}

/* Reads a number: exactly `fixed` digits when fixed > 0, else all digits; -1 when none. */
static int read_num(const char **p, int fixed, int64_t *v, int *ndig) {
    const char *s = *p;
    bool neg = false;
    if (!fixed && *s == '-' && isdigit((unsigned char)s[1])) neg = true, s++;
    int64_t n = 0;
    int d = 0;
    while (isdigit((unsigned char)*s) && (!fixed || d < fixed) && d < 9) n = n * 10 + (*s++ - '0'), d++;
    if (d == 0 || (fixed && d < fixed)) return -1;
    *v = neg ? -n : n;
    *ndig = d;
    *p = s;
    return 0;
}

/* Matches one of names (full, or the first three letters) case-insensitively; the index, or -1. */
static int read_name(const char **p, const char *const *names, int n) {
    for (int full = 1; full >= 0; full--)
        for (int i = 0; i < n; i++) {
            size_t len = full ? strlen(names[i]) : 3;
            if (strncasecmp(*p, names[i], len) == 0) {
                *p += len;
                return i;
            }
        }
    return -1;
}

/* A zone: Z, UTC, GMT, or [GMT|UTC]+hh[:]mm / +hh. Sets *off_ms. */
static int read_zone(const char **p, int64_t *off_ms) {
    const char *s = *p;
    *off_ms = 0;
    if (*s == 'Z') {
        *p = s + 1;
        return 0;
    }
    if (strncmp(s, "GMT", 3) == 0 || strncmp(s, "UTC", 3) == 0) s += 3;
    if (*s != '+' && *s != '-') {
        if (s == *p) return -1;
        *p = s;
        return 0;
    }
    int sign = *s++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1])) return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = 0;
    s += 2;
    if (*s == ':') s++;
    if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1])) m = (s[0] - '0') * 10 + (s[1] - '0'), s += 2;
    *off_ms = sign * ((int64_t)h * 3600000 + (int64_t)m * 60000);
    *p = s;
    return 0;
}

/* A field read as digits (for abutting fields, which are read by width). */
static bool numeric_tok(const dtok *t) {
    return t->letter && (strchr("ydDHhkKmsS", t->letter) || (t->letter == 'M' && t->count < 3));
}

int cx_datefmt_parse(const cx_datefmt *f, const char *str, int64_t *ms) {
    int64_t year = 1970, month = 1, day = 1, yday = -1, hour = 0, min = 0, sec = 0, milli = 0, zone = 0;
    int pm = -1;
    bool h12 = false;
    const char *p = str;
    for (int i = 0; i < f->n; i++) {
        const dtok *t = &f->t[i];
        bool abut = i + 1 < f->n && numeric_tok(&f->t[i + 1]);
        int fixed = abut ? t->count : 0, nd;
        int64_t v = 0;
        switch (t->letter) {
        case 0:
            if (strncmp(p, t->text, strlen(t->text)) != 0) return -1;
            p += strlen(t->text);
            continue;
        case 'M':
            if (t->count >= 3) {
                int m = read_name(&p, months, 12);
                if (m < 0) return -1;
                month = m + 1;
                continue;
            }
            break;
        case 'E':
            if (read_name(&p, wdays, 7) < 0) return -1;
            continue;
        case 'a': {
            static const char *const ampm[] = {"AM", "PM"};
            if ((pm = read_name(&p, ampm, 2)) < 0) return -1;
            continue;
        }
        case 'Z':
        case 'X':
        case 'z':
            if (read_zone(&p, &zone) < 0) return -1;
            continue;
        }
        if (read_num(&p, fixed, &v, &nd) < 0) return -1;
        switch (t->letter) {
        case 'y':
            year = v;
            if (t->count <= 2 && nd == 2) { /* two-digit year: within 80 years before and 20 after now */
                time_t now = time(NULL);
                struct tm tm;
                gmtime_r(&now, &tm);
                int64_t start = tm.tm_year + 1900 - 80;
                year = start - start % 100 + v;
                if (year < start) year += 100;
            }
            break;
        case 'M': month = v; break;
        case 'd': day = v; break;
        case 'D': yday = v; break;
        case 'H': hour = v; break;
        case 'k': hour = v == 24 ? 0 : v; break;
        case 'K': hour = v, h12 = true; break;
        case 'h': hour = v == 12 ? 0 : v, h12 = true; break;
        case 'm': min = v; break;
        case 's': sec = v; break;
        case 'S': milli = v; break;
        }
    }
    if (h12 && pm == 1) hour += 12;
    else if (!h12 && pm == 1 && hour < 12) hour += 12;
    int64_t days = yday >= 0 ? days_from_civil(year, 1, 1) + yday - 1 : days_from_civil(year, month, day);
    if (days > 100000000 || days < -100000000) return -1; /* numbers have at most 9 digits: no overflow */
    *ms = days * CX_MS_PER_DAY + hour * 3600000 + min * 60000 + sec * 1000 + milli - zone;
    return 0;
}
