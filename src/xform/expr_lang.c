/*
 * The expression language (see expr_lang.h; the user reference is
 * docs/transforms-expr.in.md). A recursive-descent parser, one function per
 * precedence level, builds nodes in one array; the evaluator walks it.
 *
 *   cond    := or [ '?' cond ':' cond ]
 *   or      := and { ('or' | '||') and }
 *   and     := not { ('and' | '&&') not }
 *   not     := ('not' | '!') not | cmp
 *   cmp     := add [ ('==' | '!=' | '<' | '<=' | '>' | '>=') add
 *                  | ['not'] 'in' '(' cond { ',' cond } ')'
 *                  | 'is' ['not'] 'null'
 *                  | ['not'] 'matches' STRING
 *                  | ['not'] ('startswith' | 'endswith' | 'contains') add ]
 *   add     := mul { ('+' | '-') mul }
 *   mul     := unary { ('*' | '/' | '%') unary }
 *   unary   := '-' unary | primary
 *   primary := NUMBER | STRING | 'true' | 'false' | 'null' | '(' cond ')' | path
 *   path    := NAME { '.' NAME | '[' (STRING | INTEGER) ']' }
 *
 * Two limits keep the stacks bounded: the parser counts its own recursion
 * (parentheses, prefix operators, '?:'), and every node records the depth of
 * its subtree so that long left-leaning chains (a + b + c + ...) cannot make
 * the evaluator recurse deeper than SL_EXPR_MAX_DEPTH either.
 */
#include "xform/expr_lang.h"
#include "util/arena.h"
#include "util/mem.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum {
    N_LIT, N_PATH, N_NOT, N_AND, N_OR, N_EQ, N_NE, N_LT, N_LE, N_GT, N_GE, N_IN, N_ISNULL,
    N_MATCH, N_STARTS, N_ENDS, N_CONTAINS, N_ADD, N_SUB, N_MUL, N_DIV, N_MOD, N_NEG, N_COND
} nkind;

typedef enum { R_VALUE, R_KEY, R_TOPIC, R_HEADERS, R_TS, R_VSCHEMA, R_KSCHEMA } rkind;

typedef struct seg {
    const char *name; /* NULL: an array index */
    int64_t idx;
} seg;

typedef struct node {
    uint8_t kind;
    uint8_t root;   /* N_PATH */
    bool neg;       /* not in / is not null / not matches / not startswith ... */
    int a, b, c;    /* children; N_IN: b = first item in items, c = count; N_PATH: b = first seg, c = count */
    int depth;      /* of the subtree */
    sl_expr_val lit;
    regex_t *re;
} node;

struct sl_expr {
    node *nodes;
    int n, cap;
    int *items; /* N_IN lists */
    int nitems, capitems;
    seg *segs;
    int nsegs, capsegs;
    int root;
    sl_arena arena; /* literal strings, segment names */
    size_t sused;
    char scratch[SL_EXPR_SCRATCH];
};

/* ---- lexer ---- */

typedef enum {
    T_EOF, T_NUM, T_STR, T_NAME, T_LP, T_RP, T_LB, T_RB, T_COMMA, T_DOT, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
    T_BANG, T_ANDAND, T_OROR, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PCT, T_QUEST, T_COLON
} tkind;

typedef struct parser {
    const char *src;
    size_t len, pos;
    tkind tk;
    size_t tpos, tlen;
    int depth;
    bool failed;
    char *err;
    size_t errsz;
    sl_expr *e;
} parser;

static void fail(parser *p, size_t at, const char *fmt, const char *arg) {
    if (p->failed) return;
    p->failed = true;
    char what[256];
    snprintf(what, sizeof what, fmt, arg ? arg : "");
    snprintf(p->err, p->errsz, "%s at column %zu", what, at + 1);
}

static bool name_char(int c, bool first) { return isalpha(c) || c == '_' || c == '$' || (!first && isdigit(c)); }

/* Reads the next token into p->tk/tpos/tlen. */
static void next(parser *p) {
    const char *s = p->src;
    while (p->pos < p->len && isspace((unsigned char)s[p->pos])) p->pos++;
    size_t b = p->pos;
    p->tpos = b;
    p->tlen = 1;
    if (b >= p->len) {
        p->tk = T_EOF, p->tlen = 0;
        return;
    }
    unsigned char c = (unsigned char)s[b], d = b + 1 < p->len ? (unsigned char)s[b + 1] : 0;
    if (isdigit(c) || (c == '.' && isdigit(d))) {
        size_t i = b;
        while (i < p->len && (isalnum((unsigned char)s[i]) || s[i] == '.' ||
                              ((s[i] == '+' || s[i] == '-') && (s[i - 1] == 'e' || s[i - 1] == 'E'))))
            i++;
        p->tk = T_NUM, p->tlen = i - b;
    } else if (name_char(c, true)) {
        size_t i = b;
        while (i < p->len && name_char((unsigned char)s[i], false)) i++;
        p->tk = T_NAME, p->tlen = i - b;
    } else if (c == '\'' || c == '"') {
        size_t i = b + 1;
        while (i < p->len && (unsigned char)s[i] != c) i += s[i] == '\\' && i + 1 < p->len ? 2 : 1;
        if (i >= p->len) {
            fail(p, b, "unterminated string%s", NULL);
            p->tk = T_EOF;
            return;
        }
        p->tk = T_STR, p->tlen = i + 1 - b;
    } else {
        static const struct { const char *text; tkind tk; } ops[] = {
            {"==", T_EQ}, {"!=", T_NE}, {"<>", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"&&", T_ANDAND},
            {"||", T_OROR}, {"<", T_LT}, {">", T_GT}, {"!", T_BANG}, {"(", T_LP}, {")", T_RP},
            {"[", T_LB}, {"]", T_RB}, {",", T_COMMA}, {".", T_DOT}, {"+", T_PLUS}, {"-", T_MINUS},
            {"*", T_STAR}, {"/", T_SLASH}, {"%", T_PCT}, {"?", T_QUEST}, {":", T_COLON}};
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            size_t n = strlen(ops[k].text);
            if (b + n <= p->len && memcmp(s + b, ops[k].text, n) == 0) {
                p->tk = ops[k].tk, p->tlen = n;
                p->pos = b + n;
                return;
            }
        }
        char ch[8];
        snprintf(ch, sizeof ch, isprint(c) ? "%c" : "\\x%02x", c);
        fail(p, b, c == '=' ? "'=' is not an operator (use '==')%s" : "unexpected character '%s'",
             c == '=' ? NULL : ch);
        p->tk = T_EOF;
        return;
    }
    p->pos = b + p->tlen;
}

static bool is_kw(const parser *p, const char *kw) {
    return p->tk == T_NAME && strlen(kw) == p->tlen && strncasecmp(p->src + p->tpos, kw, p->tlen) == 0;
}

/* A short quote of the current token for messages. */
static const char *tok_text(const parser *p, char *buf, size_t bufsz) {
    if (p->tk == T_EOF) return "end of expression";
    snprintf(buf, bufsz, "'%.*s'", (int)(p->tlen > 24 ? 24 : p->tlen), p->src + p->tpos);
    return buf;
}

static void expected(parser *p, const char *what) {
    char t[40], msg[128];
    snprintf(msg, sizeof msg, "expected %s, found %%s", what);
    fail(p, p->tpos, msg, tok_text(p, t, sizeof t));
}

static bool expect(parser *p, tkind tk, const char *what) {
    if (p->tk != tk) {
        expected(p, what);
        return false;
    }
    next(p);
    return true;
}

/* ---- nodes ---- */

static int mk(parser *p, nkind kind, int a, int b, int c) {
    sl_expr *e = p->e;
    if (p->failed) return -1;
    if (e->n == SL_EXPR_MAX_NODES) {
        fail(p, p->tpos, "expression has too many parts (more than 4096)%s", NULL);
        return -1;
    }
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->nodes = sl_realloc(e->nodes, (size_t)e->cap * sizeof *e->nodes);
    }
    node *nd = &e->nodes[e->n];
    memset(nd, 0, sizeof *nd);
    nd->kind = (uint8_t)kind;
    nd->a = a, nd->b = b, nd->c = c;
    int d = 0;
    if (kind != N_PATH && kind != N_LIT) {
        if (a >= 0 && e->nodes[a].depth > d) d = e->nodes[a].depth;
        if (kind != N_IN && b >= 0 && e->nodes[b].depth > d) d = e->nodes[b].depth;
        if (kind == N_COND && e->nodes[c].depth > d) d = e->nodes[c].depth;
        for (int k = 0; kind == N_IN && k < c; k++)
            if (e->nodes[e->items[b + k]].depth > d) d = e->nodes[e->items[b + k]].depth;
    }
    nd->depth = d + 1;
    if (nd->depth > SL_EXPR_MAX_DEPTH) {
        fail(p, p->tpos, "expression nests too deeply (more than 128 levels)%s", NULL);
        return -1;
    }
    return e->n++;
}

static int mk_lit(parser *p, sl_expr_val v) {
    int i = mk(p, N_LIT, -1, -1, -1);
    if (i >= 0) p->e->nodes[i].lit = v;
    return i;
}

/* Enters one level of parser recursion; false (and an error) past the limit. */
static bool enter(parser *p) {
    if (++p->depth > SL_EXPR_MAX_DEPTH) {
        fail(p, p->tpos, "expression nests too deeply (more than 128 levels)%s", NULL);
        return false;
    }
    return true;
}

/* The decoded text of the current T_STR token, in the program's arena. Escapes: \\ \' \" \n \t \r;
 * a backslash before anything else stays (so regexes like '\d+' read as written). */
static char *str_token(parser *p, size_t *lenp) {
    const char *s = p->src + p->tpos + 1;
    size_t n = p->tlen - 2, o = 0;
    char *out = sl_arena_alloc(&p->e->arena, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char c = s[i + 1];
            char r = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : (c == '\\' || c == '\'' || c == '"') ? c : 0;
            if (r) {
                out[o++] = r;
                i++;
                continue;
            }
        }
        out[o++] = s[i];
    }
    out[o] = 0;
    *lenp = o;
    return out;
}

static int parse_cond(parser *p);
static int parse_add(parser *p);

static int parse_number(parser *p) {
    char buf[64];
    if (p->tlen >= sizeof buf) {
        fail(p, p->tpos, "number too long%s", NULL);
        return -1;
    }
    memcpy(buf, p->src + p->tpos, p->tlen);
    buf[p->tlen] = 0;
    sl_expr_val v = {.t = SL_EV_INT};
    char *end;
    bool is_int = strspn(buf, "0123456789") == p->tlen;
    if (is_int) {
        errno = 0;
        long long n = strtoll(buf, &end, 10);
        if (errno) is_int = false;
        else v.i = n;
    }
    if (!is_int) {
        v.t = SL_EV_REAL;
        v.d = strtod(buf, &end);
        if (*end || !isfinite(v.d)) {
            fail(p, p->tpos, "malformed number '%s'", buf);
            return -1;
        }
    }
    next(p);
    return mk_lit(p, v);
}

/* Shorthands for fields of a Debezium envelope: NAME means value.NAME. */
static const char *const shorthands[] = {"op", "before", "after", "source", "ts_ms", "ts_us", "ts_ns", "transaction",
                                         NULL};
static const struct { const char *name; rkind root; } roots[] = {
    {"value", R_VALUE}, {"key", R_KEY}, {"topic", R_TOPIC}, {"headers", R_HEADERS}, {"header", R_HEADERS},
    {"timestamp", R_TS}, {"valueSchema", R_VSCHEMA}, {"keySchema", R_KSCHEMA}};

static void add_seg(parser *p, const char *name, int64_t idx) {
    sl_expr *e = p->e;
    if (e->nsegs == e->capsegs) {
        e->capsegs = e->capsegs ? e->capsegs * 2 : 16;
        e->segs = sl_realloc(e->segs, (size_t)e->capsegs * sizeof *e->segs);
    }
    e->segs[e->nsegs++] = (seg){name, idx};
}

static int parse_path(parser *p) {
    size_t at = p->tpos;
    char *name = sl_arena_strndup(&p->e->arena, p->src + p->tpos, p->tlen);
    int root = -1, first = p->e->nsegs;
    for (size_t k = 0; k < sizeof roots / sizeof roots[0]; k++)
        if (strcmp(name, roots[k].name) == 0) root = (int)roots[k].root;
    for (int k = 0; root < 0 && shorthands[k]; k++)
        if (strcmp(name, shorthands[k]) == 0) {
            root = R_VALUE;
            add_seg(p, name, 0);
        }
    if (root < 0) {
        fail(p, at,
             "unknown name '%s' (a path starts with value, key, topic, headers, timestamp, op, before, after, "
             "source, ts_ms, transaction, valueSchema or keySchema; quote strings)",
             name);
        return -1;
    }
    next(p);
    while (!p->failed && (p->tk == T_DOT || p->tk == T_LB)) {
        if (root == R_TOPIC || root == R_TS) {
            fail(p, p->tpos, "'%s' has no fields", name);
            return -1;
        }
        if (p->tk == T_DOT) {
            next(p);
            if (p->tk != T_NAME) {
                expected(p, "a field name after '.'");
                return -1;
            }
            add_seg(p, sl_arena_strndup(&p->e->arena, p->src + p->tpos, p->tlen), 0);
            next(p);
            continue;
        }
        next(p);
        if (p->tk == T_STR) {
            size_t n;
            add_seg(p, str_token(p, &n), 0);
        } else if (p->tk == T_NUM && strspn(p->src + p->tpos, "0123456789") >= p->tlen && p->tlen < 10) {
            add_seg(p, NULL, strtoll(p->src + p->tpos, NULL, 10));
        } else {
            expected(p, "a quoted field name or an array index in '[ ]'");
            return -1;
        }
        next(p);
        if (!expect(p, T_RB, "']'")) return -1;
    }
    if (p->failed) return -1;
    if (root == R_HEADERS && p->e->nsegs > first && !p->e->segs[first].name) {
        fail(p, at, "'%s' takes a header name, not an index", name);
        return -1;
    }
    int i = mk(p, N_PATH, -1, first, p->e->nsegs - first);
    if (i >= 0) p->e->nodes[i].root = (uint8_t)root;
    return i;
}

static int parse_primary(parser *p) {
    if (p->failed) return -1;
    switch (p->tk) {
    case T_NUM:
        return parse_number(p);
    case T_STR: {
        sl_expr_val v = {.t = SL_EV_STR};
        v.s = str_token(p, &v.n);
        next(p);
        return mk_lit(p, v);
    }
    case T_LP: {
        next(p);
        if (!enter(p)) return -1;
        int i = parse_cond(p);
        p->depth--;
        if (i < 0 || !expect(p, T_RP, "')'")) return -1;
        return i;
    }
    case T_NAME:
        if (is_kw(p, "true") || is_kw(p, "false")) {
            sl_expr_val v = {.t = SL_EV_BOOL, .b = is_kw(p, "true")};
            next(p);
            return mk_lit(p, v);
        }
        if (is_kw(p, "null")) {
            next(p);
            return mk_lit(p, (sl_expr_val){.t = SL_EV_NULL});
        }
        return parse_path(p);
    default:
        expected(p, "a value, a field path or '('");
        return -1;
    }
}

static int parse_unary(parser *p) {
    if (p->tk != T_MINUS) return parse_primary(p);
    next(p);
    if (!enter(p)) return -1;
    int a = parse_unary(p);
    p->depth--;
    if (a < 0) return -1;
    node *n = &p->e->nodes[a];
    if (n->kind == N_LIT && n->lit.t == SL_EV_INT && n->lit.i != INT64_MIN) { /* fold -literal */
        n->lit.i = -n->lit.i;
        return a;
    }
    if (n->kind == N_LIT && n->lit.t == SL_EV_REAL) {
        n->lit.d = -n->lit.d;
        return a;
    }
    return mk(p, N_NEG, a, -1, -1);
}

static int parse_mul(parser *p) {
    int l = parse_unary(p);
    while (l >= 0 && (p->tk == T_STAR || p->tk == T_SLASH || p->tk == T_PCT)) {
        nkind k = p->tk == T_STAR ? N_MUL : p->tk == T_SLASH ? N_DIV : N_MOD;
        next(p);
        int r = parse_unary(p);
        l = r < 0 ? -1 : mk(p, k, l, r, -1);
    }
    return l;
}

static int parse_add(parser *p) {
    int l = parse_mul(p);
    while (l >= 0 && (p->tk == T_PLUS || p->tk == T_MINUS)) {
        nkind k = p->tk == T_PLUS ? N_ADD : N_SUB;
        next(p);
        int r = parse_mul(p);
        l = r < 0 ? -1 : mk(p, k, l, r, -1);
    }
    return l;
}

static bool is_cmp(tkind t) { return t >= T_EQ && t <= T_GE; }

/* End of the bracket expression opening at re[i] ('['): the index of its closing ']' (n if none). */
static size_t bracket_end(const char *re, size_t i, size_t n) {
    size_t j = i + 1;
    if (j < n && re[j] == '^') j++;
    if (j < n && re[j] == ']') j++; /* a leading ']' is a member */
    for (; j < n && re[j] != ']'; j++)
        if (re[j] == '[' && j + 1 < n && (re[j + 1] == ':' || re[j + 1] == '.' || re[j + 1] == '=')) {
            char close = re[j + 1];
            for (j += 2; j + 1 < n && !(re[j] == close && re[j + 1] == ']'); j++) {}
            j++;
        }
    return j;
}

/*
 * Checks a regex before regcomp: bounded length and nesting, no back-references (matching them is
 * exponential), and a bounded compiled size. glibc copies the operand of '+' and of '{m,n}' (n copies),
 * so nested or stacked repetitions multiply (a{100}{100}, ((a+)+)+...): each group's size is estimated
 * with those factors and the whole may be at most RE_MAX_NODES. Stacked operators (a**) are refused:
 * POSIX leaves them undefined and glibc takes seconds on a few dozen. An unmatched ')' is refused: it
 * would close the group the caller wraps the regex in, and a repetition after it would go uncounted.
 * Repeating what can match nothing ('(){9}', '(a*)+', '(^|x)*') is refused too: glibc's closures over
 * the empty steps grow with the square of the copies (gigabytes for '(){1,3555}'), and such a
 * repetition means nothing the operand alone does not.
 */
enum { RE_MAX_NODES = 10000, RE_MAX_GROUPS = 32 };
static bool re_ok(parser *p, const char *re, size_t n) {
    if (n > SL_EXPR_MAX_RE) {
        fail(p, p->tpos, "regex longer than 1024 bytes%s", NULL);
        return false;
    }
    double sum[RE_MAX_GROUPS + 1] = {0}, last[RE_MAX_GROUPS + 1] = {0}; /* per open group: size, last atom */
    /* per open group: whether one of its closed alternatives, the current one so far, the current one before
     * its last atom, and that atom can match nothing */
    bool g_null[RE_MAX_GROUPS + 1] = {0}, a_null[RE_MAX_GROUPS + 1] = {true}, pre_null[RE_MAX_GROUPS + 1] = {true},
         l_null[RE_MAX_GROUPS + 1] = {0};
    int d = 0;
    bool after_rep = false; /* the previous token was a repetition operator */
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        double atom = 1;
        bool atom_null = false; /* (the atom ^ or $, or a group that can match nothing) */
        bool rep = c == '*' || c == '?' || c == '+' || c == '{';
        if (rep && after_rep) { /* a** a+? a{2}*: undefined in POSIX, slow in glibc */
            fail(p, p->tpos, "regex stacks repetition operators (like '**' or '+?')%s", NULL);
            return false;
        }
        if (rep && c != '?' && l_null[d]) {
            fail(p, p->tpos, "regex repeats what can match nothing (like '()*', '(a*)+' or '(^|x){2}')%s", NULL);
            return false;
        }
        after_rep = rep;
        if (c == '\\' && i + 1 < n && isdigit((unsigned char)re[i + 1])) {
            fail(p, p->tpos, "regex back-references (\\%s) are not supported", (char[]){re[i + 1], 0});
            return false;
        } else if (c == '\\') {
            i++;
        } else if (c == '[') {
            i = bracket_end(re, i, n);
        } else if (c == '(') {
            if (++d > RE_MAX_GROUPS) {
                fail(p, p->tpos, "regex nests groups too deeply (more than 32)%s", NULL);
                return false;
            }
            sum[d] = last[d] = 0;
            g_null[d] = l_null[d] = false, a_null[d] = pre_null[d] = true;
            continue;
        } else if (c == ')') {
            if (d == 0) { /* it would close the wrapper's group: ^(x)){9}...$ */
                fail(p, p->tpos, "regex has an unmatched ')'%s", NULL);
                return false;
            }
            atom_null = g_null[d] || a_null[d];
            atom = sum[d--] + 1;
        } else if (c == '|') {
            last[d] = 0;
            g_null[d] = g_null[d] || a_null[d], a_null[d] = pre_null[d] = true, l_null[d] = false;
            continue;
        } else if (c == '^' || c == '$') {
            atom_null = true;
        } else if (c == '*' || c == '?' || c == '+' || c == '{') {
            double k = 2, lo = 1;
            if (c == '{') {
                double m = 0, hi = 0;
                bool comma = false;
                for (i++; i < n && (isdigit((unsigned char)re[i]) || re[i] == ','); i++)
                    if (re[i] == ',') hi = m, m = 0, comma = true;
                    else m = m * 10 + (re[i] - '0');
                lo = comma ? hi : m;
                k = (m > hi ? m : hi) + 1;
            }
            if (c == '*' || c == '?' || lo == 0) /* the atom repeated can now match nothing */
                l_null[d] = true, a_null[d] = pre_null[d];
            if (c == '*' || c == '?') continue;
            sum[d] += last[d] * (k - 1);
            last[d] *= k;
            atom = 0;
        }
        if (atom > 0) {
            sum[d] += atom, last[d] = atom;
            pre_null[d] = a_null[d], a_null[d] = a_null[d] && atom_null, l_null[d] = atom_null;
        }
        if (sum[d] > RE_MAX_NODES) {
            fail(p, p->tpos, "regex too large once compiled (nested or stacked repetitions)%s", NULL);
            return false;
        }
    }
    return true;
}

static int parse_match(parser *p, int l, bool neg) {
    if (p->tk != T_STR) {
        expected(p, "a quoted regex after 'matches'");
        return -1;
    }
    size_t n;
    char *pat = str_token(p, &n);
    if (strlen(pat) != n || !re_ok(p, pat, n)) {
        if (!p->failed) fail(p, p->tpos, "regex contains a NUL character%s", NULL);
        return -1;
    }
    /* Whole-string match, as Java's String.matches and Groovy's ==~ */
    char *full = sl_malloc(n + 5);
    snprintf(full, n + 5, "^(%s)$", pat);
    regex_t *re = sl_malloc(sizeof *re);
    int rc = regcomp(re, full, REG_EXTENDED | REG_NOSUB);
    sl_free(full);
    if (rc != 0) {
        char msg[200];
        regerror(rc, re, msg, sizeof msg);
        sl_free(re);
        fail(p, p->tpos, "invalid regex: %s", msg);
        return -1;
    }
    next(p);
    int i = mk(p, N_MATCH, l, -1, -1);
    if (i < 0) {
        regfree(re);
        sl_free(re);
        return -1;
    }
    p->e->nodes[i].re = re;
    p->e->nodes[i].neg = neg;
    return i;
}

static int parse_in(parser *p, int l, bool neg) {
    if (!expect(p, T_LP, "'(' after 'in'")) return -1;
    if (!enter(p)) return -1;
    int *tmp = NULL, n = 0, cap = 0; /* items may hold in-lists of their own: collect them apart */
    do {
        if (n && p->tk == T_COMMA) next(p);
        int it = parse_cond(p);
        if (it < 0) break;
        if (n == cap) tmp = sl_realloc(tmp, (size_t)(cap = cap ? cap * 2 : 8) * sizeof *tmp);
        tmp[n++] = it;
    } while (p->tk == T_COMMA);
    p->depth--;
    if (p->failed || !expect(p, T_RP, "',' or ')'")) {
        sl_free(tmp);
        return -1;
    }
    sl_expr *e = p->e;
    if (e->nitems + n > e->capitems) {
        e->capitems = (e->nitems + n) * 2;
        e->items = sl_realloc(e->items, (size_t)e->capitems * sizeof *e->items);
    }
    memcpy(e->items + e->nitems, tmp, (size_t)n * sizeof *tmp);
    e->nitems += n;
    sl_free(tmp);
    int i = mk(p, N_IN, l, e->nitems - n, n);
    if (i >= 0) e->nodes[i].neg = neg;
    return i;
}

static int parse_cmp(parser *p) {
    int l = parse_add(p);
    if (l < 0) return -1;
    if (is_cmp(p->tk)) {
        static const nkind k[] = {[T_EQ] = N_EQ, [T_NE] = N_NE, [T_LT] = N_LT,
                                  [T_LE] = N_LE, [T_GT] = N_GT, [T_GE] = N_GE};
        nkind kind = k[p->tk];
        next(p);
        int r = parse_add(p);
        if (r < 0) return -1;
        if (is_cmp(p->tk)) {
            fail(p, p->tpos, "comparisons do not chain (use 'and')%s", NULL);
            return -1;
        }
        return mk(p, kind, l, r, -1);
    }
    if (is_kw(p, "is")) {
        next(p);
        bool neg = is_kw(p, "not");
        if (neg) next(p);
        if (!is_kw(p, "null")) {
            expected(p, neg ? "'null' after 'is not'" : "'null' or 'not null' after 'is'");
            return -1;
        }
        next(p);
        int i = mk(p, N_ISNULL, l, -1, -1);
        if (i >= 0) p->e->nodes[i].neg = neg;
        return i;
    }
    bool neg = false;
    if (is_kw(p, "not")) {
        next(p);
        neg = true;
        if (!is_kw(p, "in") && !is_kw(p, "matches") && !is_kw(p, "startswith") && !is_kw(p, "endswith") &&
            !is_kw(p, "contains")) {
            expected(p, "'in', 'matches', 'startswith', 'endswith' or 'contains' after 'not'");
            return -1;
        }
    }
    if (is_kw(p, "in")) {
        next(p);
        return parse_in(p, l, neg);
    }
    if (is_kw(p, "matches")) {
        next(p);
        return parse_match(p, l, neg);
    }
    nkind kind = is_kw(p, "startswith") ? N_STARTS
                 : is_kw(p, "endswith") ? N_ENDS
                 : is_kw(p, "contains") ? N_CONTAINS
                                        : N_LIT;
    if (kind == N_LIT) return l;
    next(p);
    int r = parse_add(p);
    int i = r < 0 ? -1 : mk(p, kind, l, r, -1);
    if (i >= 0) p->e->nodes[i].neg = neg;
    return i;
}

static int parse_not(parser *p) {
    if (p->tk != T_BANG && !is_kw(p, "not")) return parse_cmp(p);
    next(p);
    if (!enter(p)) return -1;
    int a = parse_not(p);
    p->depth--;
    return a < 0 ? -1 : mk(p, N_NOT, a, -1, -1);
}

static int parse_and(parser *p) {
    int l = parse_not(p);
    while (l >= 0 && (p->tk == T_ANDAND || is_kw(p, "and"))) {
        next(p);
        int r = parse_not(p);
        l = r < 0 ? -1 : mk(p, N_AND, l, r, -1);
    }
    return l;
}

static int parse_or(parser *p) {
    int l = parse_and(p);
    while (l >= 0 && (p->tk == T_OROR || is_kw(p, "or"))) {
        next(p);
        int r = parse_and(p);
        l = r < 0 ? -1 : mk(p, N_OR, l, r, -1);
    }
    return l;
}

static int parse_cond(parser *p) {
    int c = parse_or(p);
    if (c < 0 || p->tk != T_QUEST) return c;
    next(p);
    if (!enter(p)) return -1;
    int a = parse_cond(p);
    if (a < 0 || !expect(p, T_COLON, "':'")) return -1;
    int b = parse_cond(p);
    p->depth--;
    return b < 0 ? -1 : mk(p, N_COND, c, a, b);
}

void sl_expr_free(sl_expr *e) {
    if (!e) return;
    for (int i = 0; i < e->n; i++)
        if (e->nodes[i].re) {
            regfree(e->nodes[i].re);
            sl_free(e->nodes[i].re);
        }
    sl_free(e->nodes);
    sl_free(e->items);
    sl_free(e->segs);
    sl_arena_free(&e->arena);
    sl_free(e);
}

sl_expr *sl_expr_parse(const char *text, char *errstr, size_t errsz) {
    size_t len = strlen(text);
    if (len > SL_EXPR_MAX_LEN) {
        snprintf(errstr, errsz, "expression longer than %d bytes", SL_EXPR_MAX_LEN);
        return NULL;
    }
    sl_expr *e = sl_calloc(1, sizeof *e);
    sl_arena_init(&e->arena);
    parser p = {.src = text, .len = len, .err = errstr, .errsz = errsz, .e = e};
    next(&p);
    e->root = p.failed ? -1 : parse_cond(&p);
    if (e->root >= 0 && p.tk != T_EOF) {
        char t[40];
        fail(&p, p.tpos, "unexpected %s (an operator or the end was expected)", tok_text(&p, t, sizeof t));
    }
    if (p.failed || e->root < 0) {
        if (!p.failed) snprintf(errstr, errsz, "invalid expression");
        sl_expr_free(e);
        return NULL;
    }
    return e;
}

/* ---- evaluation ---- */

static void from_val(sl_vheap *h, sl_val *j, sl_expr_val *v) {
    memset(v, 0, sizeof *v);
    switch (sl_v_kind(h, j)) {
    case SL_V_NULL:
    case SL_V_LAZY:
        v->t = SL_EV_NULL;
        break;
    case SL_V_BOOL:
        v->t = SL_EV_BOOL, v->b = j->b;
        break;
    case SL_V_INT:
        v->t = SL_EV_INT, v->i = j->i;
        break;
    case SL_V_REAL:
        v->t = SL_EV_REAL, v->d = j->d;
        break;
    case SL_V_STR:
        v->t = SL_EV_STR, v->s = j->s, v->n = j->n;
        break;
    case SL_V_OBJ:
    case SL_V_ARR:
        sl_v_force(h, j);
        v->t = SL_EV_JSON, v->j = j, v->h = h;
        break;
    }
}

static sl_val *header(const sl_xrec *r, const char *name) {
    sl_val *found = NULL;
    for (uint32_t i = 0; i < r->vheaders->n; i++) {
        sl_val *hd = r->vheaders->e[i];
        const char *k = sl_v_strval(r->heap, sl_v_get(r->heap, hd, "key"), NULL);
        if (k && strcmp(k, name) == 0) found = sl_v_get(r->heap, hd, "value");
    }
    return found;
}

static void eval_path(const sl_expr *e, const node *n, const sl_xrec *r, sl_expr_val *out) {
    sl_val *j = NULL;
    int k = n->b, end = n->b + n->c;
    switch ((rkind)n->root) {
    case R_TOPIC:
        *out = (sl_expr_val){.t = SL_EV_STR, .s = r->topic ? r->topic : "", .n = r->topic ? strlen(r->topic) : 0};
        return;
    case R_TS:
        *out = (sl_expr_val){.t = SL_EV_INT, .i = r->ts_ms};
        return;
    case R_VALUE: j = r->vvalue; break;
    case R_KEY: j = r->vkey; break;
    case R_VSCHEMA: j = r->vvalue_schema; break;
    case R_KSCHEMA: j = r->vkey_schema; break;
    case R_HEADERS:
        j = r->vheaders;
        if (k < end) j = header(r, e->segs[k++].name);
        break;
    }
    for (; j && k < end; k++) {
        const seg *s = &e->segs[k];
        j = s->name ? sl_v_get(r->heap, j, s->name) : s->idx >= 0 ? sl_v_at(r->heap, j, (size_t)s->idx) : NULL;
    }
    from_val(r->heap, j, out);
}

static bool is_num(const sl_expr_val *v) { return v->t == SL_EV_INT || v->t == SL_EV_REAL; }
static double num(const sl_expr_val *v) { return v->t == SL_EV_INT ? (double)v->i : v->d; }

/* -1, 0, 1; or 2 when the two cannot be ordered (different types, not numbers or strings, NaN). */
static int order(const sl_expr_val *a, const sl_expr_val *b) {
    if (a->t == SL_EV_INT && b->t == SL_EV_INT) return (a->i > b->i) - (a->i < b->i);
    if (is_num(a) && is_num(b)) {
        double x = num(a), y = num(b);
        return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    }
    if (a->t == SL_EV_STR && b->t == SL_EV_STR) {
        int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
        if (c == 0) c = (a->n > b->n) - (a->n < b->n);
        return c < 0 ? -1 : c > 0;
    }
    return 2;
}

static bool equal(const sl_expr_val *a, const sl_expr_val *b) {
    if (is_num(a) || a->t == SL_EV_STR) return order(a, b) == 0;
    if (a->t != b->t) return false;
    switch (a->t) {
    case SL_EV_NULL: return true;
    case SL_EV_BOOL: return a->b == b->b;
    case SL_EV_JSON: return sl_v_equal(a->h, a->j, b->j);
    default: return false;
    }
}

static void put_bool(sl_expr_val *out, bool b) { *out = (sl_expr_val){.t = SL_EV_BOOL, .b = b}; }
static bool truth(const sl_expr_val *v) { return v->t == SL_EV_BOOL && v->b; }

/* Text of a scalar for concatenation; false for null, objects and arrays. */
static bool text_of(const sl_expr_val *v, char *tmp, size_t tmpsz, const char **s, size_t *n) {
    switch (v->t) {
    case SL_EV_STR: *s = v->s, *n = v->n; return true;
    case SL_EV_BOOL: *s = v->b ? "true" : "false"; break;
    case SL_EV_INT: snprintf(tmp, tmpsz, "%lld", (long long)v->i), *s = tmp; break;
    case SL_EV_REAL:
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, tmpsz, "%.*g", prec, v->d);
            if (strtod(tmp, NULL) == v->d) break;
        }
        *s = tmp;
        break;
    default: return false;
    }
    *n = strlen(*s);
    return true;
}

static int concat(sl_expr *e, const sl_expr_val *a, const sl_expr_val *b, sl_expr_val *out, char *errstr,
                  size_t errsz) {
    char ta[40], tb[40];
    const char *sa, *sb;
    size_t na, nb;
    if (!text_of(a, ta, sizeof ta, &sa, &na) || !text_of(b, tb, sizeof tb, &sb, &nb)) {
        *out = (sl_expr_val){.t = SL_EV_NULL};
        return 0;
    }
    /* a at the end of the scratch area (the left side of a chain): extend it in place */
    uintptr_t pa = (uintptr_t)sa, ps = (uintptr_t)e->scratch;
    bool in_place = pa >= ps && pa < ps + SL_EXPR_SCRATCH && pa + na + 1 == ps + e->sused;
    size_t start = in_place ? (size_t)(sa - e->scratch) : e->sused;
    size_t need = start + na + nb + 1;
    if (need > SL_EXPR_SCRATCH) {
        snprintf(errstr, errsz, "concatenated strings longer than %d bytes", SL_EXPR_SCRATCH);
        return -1;
    }
    if (!in_place) memmove(e->scratch + start, sa, na);
    memmove(e->scratch + start + na, sb, nb);
    e->scratch[start + na + nb] = 0;
    e->sused = need;
    *out = (sl_expr_val){.t = SL_EV_STR, .s = e->scratch + start, .n = na + nb};
    return 0;
}

static void arith(nkind k, const sl_expr_val *a, const sl_expr_val *b, sl_expr_val *out) {
    *out = (sl_expr_val){.t = SL_EV_NULL};
    if (!is_num(a) || !is_num(b)) return;
    if (a->t == SL_EV_INT && b->t == SL_EV_INT) {
        int64_t x = a->i, y = b->i, z;
        bool ovf = false;
        switch (k) {
        case N_ADD: ovf = __builtin_add_overflow(x, y, &z); break;
        case N_SUB: ovf = __builtin_sub_overflow(x, y, &z); break;
        case N_MUL: ovf = __builtin_mul_overflow(x, y, &z); break;
        case N_DIV:
        case N_MOD:
            if (y == 0) return;
            if (x == INT64_MIN && y == -1) ovf = k == N_DIV, z = 0; /* the quotient does not fit */
            else z = k == N_DIV ? x / y : x % y;
            break;
        default: return;
        }
        if (!ovf) {
            *out = (sl_expr_val){.t = SL_EV_INT, .i = z};
            return;
        }
    }
    double x = num(a), y = num(b), z;
    switch (k) {
    case N_ADD: z = x + y; break;
    case N_SUB: z = x - y; break;
    case N_MUL: z = x * y; break;
    case N_DIV: if (y == 0) return; z = x / y; break;
    case N_MOD: if (y == 0) return; z = fmod(x, y); break;
    default: return;
    }
    *out = (sl_expr_val){.t = SL_EV_REAL, .d = z};
}

static bool str_op(nkind k, const sl_expr_val *a, const sl_expr_val *b) {
    if (k == N_CONTAINS && a->t == SL_EV_JSON && a->j->kind == SL_V_ARR) { /* array contains element */
        for (uint32_t i = 0; i < a->j->n; i++) {
            sl_expr_val v;
            from_val(a->h, a->j->e[i], &v);
            if (equal(&v, b)) return true;
        }
        return false;
    }
    if (a->t != SL_EV_STR || b->t != SL_EV_STR || b->n > a->n) return false;
    if (k == N_STARTS) return memcmp(a->s, b->s, b->n) == 0;
    if (k == N_ENDS) return memcmp(a->s + a->n - b->n, b->s, b->n) == 0;
    return b->n == 0 || memmem(a->s, a->n, b->s, b->n) != NULL;
}

static bool re_test(const regex_t *re, const sl_expr_val *v) {
    if (v->t != SL_EV_STR) return false;
#ifdef REG_STARTEND
    regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)v->n}};
    return regexec(re, v->s, 1, m, REG_STARTEND) == 0;
#else
    return strlen(v->s) == v->n && regexec(re, v->s, 0, NULL, 0) == 0;
#endif
}

static int eval(sl_expr *e, int idx, const sl_xrec *r, sl_expr_val *out, char *errstr, size_t errsz) {
    const node *n = &e->nodes[idx];
    sl_expr_val a, b;
#define EV(i, v)                                              \
    do {                                                      \
        if (eval(e, (i), r, (v), errstr, errsz) < 0) return -1; \
    } while (0)
    switch ((nkind)n->kind) {
    case N_LIT: *out = n->lit; return 0;
    case N_PATH: eval_path(e, n, r, out); return 0;
    case N_NOT: EV(n->a, &a); put_bool(out, !truth(&a)); return 0;
    case N_AND:
        EV(n->a, &a);
        if (!truth(&a)) return put_bool(out, false), 0;
        EV(n->b, &b);
        put_bool(out, truth(&b));
        return 0;
    case N_OR:
        EV(n->a, &a);
        if (truth(&a)) return put_bool(out, true), 0;
        EV(n->b, &b);
        put_bool(out, truth(&b));
        return 0;
    case N_COND: EV(n->a, &a); return eval(e, truth(&a) ? n->b : n->c, r, out, errstr, errsz);
    case N_ISNULL: EV(n->a, &a); put_bool(out, (a.t == SL_EV_NULL) != n->neg); return 0;
    case N_MATCH: EV(n->a, &a); put_bool(out, re_test(n->re, &a) != n->neg); return 0;
    case N_NEG:
        EV(n->a, &a);
        if (a.t == SL_EV_INT && a.i != INT64_MIN) *out = (sl_expr_val){.t = SL_EV_INT, .i = -a.i};
        else if (is_num(&a)) *out = (sl_expr_val){.t = SL_EV_REAL, .d = -num(&a)};
        else *out = (sl_expr_val){.t = SL_EV_NULL};
        return 0;
    case N_IN: {
        EV(n->a, &a);
        bool hit = false;
        for (int k = 0; k < n->c && !hit; k++) {
            EV(e->items[n->b + k], &b);
            hit = equal(&a, &b);
        }
        put_bool(out, hit != n->neg);
        return 0;
    }
    default: break;
    }
    EV(n->a, &a);
    EV(n->b, &b);
    switch ((nkind)n->kind) {
    case N_EQ: put_bool(out, equal(&a, &b)); break;
    case N_NE: put_bool(out, !equal(&a, &b)); break;
    case N_LT: { int o = order(&a, &b); put_bool(out, o == -1); break; }
    case N_LE: { int o = order(&a, &b); put_bool(out, o == -1 || o == 0); break; }
    case N_GT: { int o = order(&a, &b); put_bool(out, o == 1); break; }
    case N_GE: { int o = order(&a, &b); put_bool(out, o == 1 || o == 0); break; }
    case N_STARTS:
    case N_ENDS:
    case N_CONTAINS: put_bool(out, str_op((nkind)n->kind, &a, &b) != n->neg); break;
    case N_ADD:
        if (a.t == SL_EV_STR || b.t == SL_EV_STR) return concat(e, &a, &b, out, errstr, errsz);
        arith(N_ADD, &a, &b, out);
        break;
    default: arith((nkind)n->kind, &a, &b, out); break;
    }
    return 0;
#undef EV
}

int sl_expr_eval(sl_expr *e, const sl_xrec *r, sl_expr_val *out, char *errstr, size_t errsz) {
    e->sused = 0;
    if (eval(e, e->root, r, out, errstr, errsz) < 0) {
        *out = (sl_expr_val){.t = SL_EV_NULL};
        return -1;
    }
    return 0;
}

bool sl_expr_test(sl_expr *e, const sl_xrec *r) {
    sl_expr_val v;
    char err[128];
    return sl_expr_eval(e, r, &v, err, sizeof err) == 0 && truth(&v);
}

const char *sl_expr_type_name(const sl_expr_val *v) {
    switch (v->t) {
    case SL_EV_NULL: return "null";
    case SL_EV_BOOL: return "boolean";
    case SL_EV_INT:
    case SL_EV_REAL: return "number";
    case SL_EV_STR: return "string";
    case SL_EV_JSON: return v->j->kind == SL_V_ARR ? "array" : "object";
    }
    return "?";
}

void sl_expr_val_str(const sl_expr_val *v, char *out, size_t outsz) {
    char tmp[40];
    const char *s;
    size_t n;
    if (text_of(v, tmp, sizeof tmp, &s, &n)) {
        snprintf(out, outsz, "%.*s", (int)n, s);
    } else if (v->t == SL_EV_JSON) {
        sl_buf b;
        sl_buf_init(&b);
        sl_v_put_json(&b, v->j);
        snprintf(out, outsz, "%s", sl_buf_cstr(&b));
        sl_buf_free(&b);
    } else {
        snprintf(out, outsz, "null");
    }
}
