/* Values of the record view (see val.h): making, reading, changing, JSON in and out. */
#include "core/val.h"
#include "util/jnum.h"
#include "util/mem.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_vheap_init(sl_vheap *h) {
    sl_arena_init(&h->arena);
    sl_buf_init(&h->scratch);
}

void sl_vheap_reset(sl_vheap *h) {
    sl_arena_reset(&h->arena);
    sl_buf_reset(&h->scratch);
}

void sl_vheap_free(sl_vheap *h) {
    sl_arena_free(&h->arena);
    sl_buf_free(&h->scratch);
}

static sl_val *node(sl_vheap *h, sl_vkind k) {
    sl_val *v = sl_arena_alloc(&h->arena, sizeof *v);
    memset(v, 0, sizeof *v);
    v->kind = (uint8_t)k;
    return v;
}

sl_val *sl_v_null(sl_vheap *h) { return node(h, SL_V_NULL); }

sl_val *sl_v_bool(sl_vheap *h, bool b) {
    sl_val *v = node(h, SL_V_BOOL);
    v->b = b;
    return v;
}

sl_val *sl_v_int(sl_vheap *h, int64_t i) {
    sl_val *v = node(h, SL_V_INT);
    v->i = i;
    return v;
}

sl_val *sl_v_real(sl_vheap *h, double d) {
    sl_val *v = node(h, SL_V_REAL);
    v->d = d;
    return v;
}

sl_val *sl_v_str_ref(sl_vheap *h, const char *s, size_t n) {
    sl_val *v = node(h, SL_V_STR);
    v->s = s;
    v->n = (uint32_t)n;
    return v;
}

sl_val *sl_v_strn(sl_vheap *h, const char *s, size_t n) { return sl_v_str_ref(h, sl_arena_strndup(&h->arena, s, n), n); }

sl_val *sl_v_str(sl_vheap *h, const char *s) { return sl_v_strn(h, s, strlen(s)); }

sl_val *sl_v_obj(sl_vheap *h, uint32_t cap) {
    sl_val *v = node(h, SL_V_OBJ);
    v->cap = cap;
    v->m = cap ? sl_arena_alloc(&h->arena, cap * sizeof *v->m) : NULL;
    return v;
}

sl_val *sl_v_arr(sl_vheap *h, uint32_t cap) {
    sl_val *v = node(h, SL_V_ARR);
    v->cap = cap;
    v->e = cap ? sl_arena_alloc(&h->arena, cap * sizeof *v->e) : NULL;
    return v;
}

sl_val *sl_v_lazy(sl_vheap *h, const sl_vlazy_ops *ops, const void *p0, const void *p1, const void *p2,
                  const void *p3, uint32_t flags) {
    sl_val *v = node(h, SL_V_LAZY);
    v->z.ops = ops;
    v->z.p[0] = p0, v->z.p[1] = p1, v->z.p[2] = p2, v->z.p[3] = p3;
    v->z.flags = flags;
    return v;
}

/* ---- reading ---- */

void sl_v_force(sl_vheap *h, sl_val *v) {
    if (!v || v->kind != SL_V_LAZY) return;
    if (v->z.ops->force) {
        v->z.ops->force(v, h);
        return;
    }
    /* By its text: the one writer of the value is also the one reader. The scratch buffer may be in use
     * by an outer force, so the text goes after what it holds. */
    char err[128];
    sl_val *built;
    if (v->z.text) {
        built = sl_v_parse(h, v->z.text, v->z.tlen, err, sizeof err);
    } else {
        size_t from = h->scratch.len;
        v->z.ops->put_json(v, &h->scratch);
        built = sl_v_parse(h, h->scratch.data + from, h->scratch.len - from, err, sizeof err);
        h->scratch.len = from;
    }
    bool frozen = v->frozen;
    if (built) *v = *built;
    else *v = (sl_val){.kind = SL_V_NULL}; /* the encoder wrote what it cannot read back: a bug, not data */
    v->frozen = frozen;
}

bool sl_v_is_null(sl_vheap *h, sl_val *v) {
    if (!v || v->kind == SL_V_NULL) return true;
    if (v->kind != SL_V_LAZY) return false;
    if (v->z.ops->kind != SL_V_LAZY) return v->z.ops->kind == SL_V_NULL;
    if (!v->z.text) {
        size_t from = h->scratch.len;
        v->z.ops->put_json(v, &h->scratch);
        v->z.tlen = (uint32_t)(h->scratch.len - from);
        v->z.text = sl_arena_memdup(&h->arena, h->scratch.data + from, v->z.tlen);
        h->scratch.len = from;
    }
    return v->z.tlen == 4 && memcmp(v->z.text, "null", 4) == 0;
}

sl_vkind sl_v_kind(sl_vheap *h, sl_val *v) {
    if (!v) return SL_V_NULL;
    if (v->kind == SL_V_LAZY) {
        if (v->z.ops->kind != SL_V_LAZY) return v->z.ops->kind;
        sl_v_force(h, v);
    }
    return (sl_vkind)v->kind;
}

static sl_vmember *find(sl_val *obj, const char *name, size_t len) {
    for (uint32_t i = 0; i < obj->n; i++)
        if (obj->m[i].len == len && memcmp(obj->m[i].name, name, len) == 0) return &obj->m[i];
    return NULL;
}

sl_val *sl_v_get(sl_vheap *h, sl_val *v, const char *name) {
    if (!v) return NULL;
    if (v->kind == SL_V_LAZY && v->z.ops->get) return v->z.ops->get(v, h, name);
    sl_v_force(h, v);
    if (v->kind != SL_V_OBJ) return NULL;
    sl_vmember *m = find(v, name, strlen(name));
    return m ? m->v : NULL;
}

sl_val *sl_v_at(sl_vheap *h, sl_val *v, size_t i) {
    if (!v) return NULL;
    sl_v_force(h, v);
    return v->kind == SL_V_ARR && i < v->n ? v->e[i] : NULL;
}

const char *sl_v_strval(sl_vheap *h, sl_val *v, size_t *n) {
    if (sl_v_kind(h, v) != SL_V_STR) return NULL;
    if (n) *n = v->n;
    return v->s;
}

bool sl_v_equal(sl_vheap *h, sl_val *a, sl_val *b) {
    sl_vkind ka = sl_v_kind(h, a), kb = sl_v_kind(h, b);
    if (ka == SL_V_OBJ && a->kind == SL_V_LAZY) sl_v_force(h, a);
    if (kb == SL_V_OBJ && b->kind == SL_V_LAZY) sl_v_force(h, b);
    if (ka != kb) return false;
    switch (ka) {
    case SL_V_NULL: return true;
    case SL_V_BOOL: return a->b == b->b;
    case SL_V_INT: return a->i == b->i;
    case SL_V_REAL: return a->d == b->d;
    case SL_V_STR: return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
    case SL_V_ARR:
        if (a->n != b->n) return false;
        for (uint32_t i = 0; i < a->n; i++)
            if (!sl_v_equal(h, a->e[i], b->e[i])) return false;
        return true;
    case SL_V_OBJ:
        if (a->n != b->n) return false;
        for (uint32_t i = 0; i < a->n; i++) {
            sl_vmember *m = find(b, a->m[i].name, a->m[i].len);
            if (!m || !sl_v_equal(h, a->m[i].v, m->v)) return false;
        }
        return true;
    case SL_V_LAZY: break;
    }
    return false;
}

/* ---- changing ---- */

static void grow(sl_vheap *h, sl_val *v, size_t elem) {
    if (v->n < v->cap) return;
    uint32_t cap = v->cap ? v->cap * 2 : 8;
    void *p = sl_arena_alloc(&h->arena, cap * elem);
    void *old = v->kind == SL_V_OBJ ? (void *)v->m : (void *)v->e;
    if (v->n) memcpy(p, old, v->n * elem);
    if (v->kind == SL_V_OBJ) v->m = p;
    else v->e = p;
    v->cap = cap;
}

void sl_v_set_ref(sl_vheap *h, sl_val *obj, const char *name, size_t len, sl_val *v) {
    sl_v_force(h, obj);
    if (obj->kind != SL_V_OBJ || obj->frozen) abort(); /* a caller's bug: never data */
    sl_vmember *m = find(obj, name, len);
    if (m) {
        m->v = v;
        return;
    }
    grow(h, obj, sizeof *obj->m);
    obj->m[obj->n++] = (sl_vmember){name, (uint32_t)len, v};
}

void sl_v_set(sl_vheap *h, sl_val *obj, const char *name, sl_val *v) {
    size_t len = strlen(name);
    sl_v_set_ref(h, obj, sl_arena_strndup(&h->arena, name, len), len, v);
}

bool sl_v_del(sl_vheap *h, sl_val *obj, const char *name) {
    sl_v_force(h, obj);
    if (obj->kind != SL_V_OBJ) return false;
    if (obj->frozen) abort();
    sl_vmember *m = find(obj, name, strlen(name));
    if (!m) return false;
    size_t i = (size_t)(m - obj->m);
    memmove(&obj->m[i], &obj->m[i + 1], (obj->n - i - 1) * sizeof *obj->m);
    obj->n--;
    return true;
}

void sl_v_push(sl_vheap *h, sl_val *arr, sl_val *v) {
    sl_v_force(h, arr);
    if (arr->kind != SL_V_ARR || arr->frozen) abort();
    grow(h, arr, sizeof *arr->e);
    arr->e[arr->n++] = v;
}

void sl_v_remove(sl_vheap *h, sl_val *arr, size_t i) {
    sl_v_force(h, arr);
    if (arr->kind != SL_V_ARR || arr->frozen) abort();
    if (i >= arr->n) return;
    memmove(&arr->e[i], &arr->e[i + 1], (arr->n - i - 1) * sizeof *arr->e);
    arr->n--;
}

void sl_v_assign(sl_val *v, const sl_val *src) {
    if (v->frozen) abort();
    *v = *src;
    v->frozen = false;
}

/* ---- sharing ---- */

void sl_v_freeze(sl_vheap *h, sl_val *v) {
    if (!v) return;
    sl_v_force(h, v);
    v->frozen = true;
    if (v->kind == SL_V_OBJ)
        for (uint32_t i = 0; i < v->n; i++) sl_v_freeze(h, v->m[i].v);
    else if (v->kind == SL_V_ARR)
        for (uint32_t i = 0; i < v->n; i++) sl_v_freeze(h, v->e[i]);
}

sl_val *sl_v_thaw(sl_vheap *h, sl_val *v) {
    if (!v) return NULL;
    sl_v_force(h, v);
    return v->frozen ? sl_v_clone(h, v) : v;
}

sl_val *sl_v_clone(sl_vheap *h, sl_val *v) {
    if (!v) return NULL;
    sl_v_force(h, v);
    sl_val *c = node(h, (sl_vkind)v->kind);
    *c = *v;
    c->frozen = false;
    if (v->kind == SL_V_OBJ) {
        c->cap = v->n;
        c->m = v->n ? sl_arena_memdup(&h->arena, v->m, v->n * sizeof *v->m) : NULL;
    } else if (v->kind == SL_V_ARR) {
        c->cap = v->n;
        c->e = v->n ? sl_arena_memdup(&h->arena, v->e, v->n * sizeof *v->e) : NULL;
    }
    return c;
}

sl_val *sl_v_copy(sl_vheap *h, const sl_val *v) {
    if (!v) return NULL;
    sl_val *c = node(h, (sl_vkind)v->kind);
    *c = *v;
    c->frozen = false;
    if (v->kind == SL_V_OBJ) {
        c->cap = v->n;
        c->m = v->n ? sl_arena_alloc(&h->arena, v->n * sizeof *c->m) : NULL;
        for (uint32_t i = 0; i < v->n; i++) c->m[i] = (sl_vmember){v->m[i].name, v->m[i].len, sl_v_copy(h, v->m[i].v)};
    } else if (v->kind == SL_V_ARR) {
        c->cap = v->n;
        c->e = v->n ? sl_arena_alloc(&h->arena, v->n * sizeof *c->e) : NULL;
        for (uint32_t i = 0; i < v->n; i++) c->e[i] = sl_v_copy(h, v->e[i]);
    }
    return c;
}

sl_val *sl_v_detach(sl_vheap *h, sl_val *v) {
    if (!v) return NULL;
    sl_v_force(h, v);
    sl_val *c = node(h, (sl_vkind)v->kind);
    *c = *v;
    c->frozen = false;
    if (v->kind == SL_V_STR) {
        c->s = sl_arena_strndup(&h->arena, v->s, v->n);
    } else if (v->kind == SL_V_OBJ) {
        c->cap = v->n;
        c->m = v->n ? sl_arena_alloc(&h->arena, v->n * sizeof *c->m) : NULL;
        for (uint32_t i = 0; i < v->n; i++)
            c->m[i] = (sl_vmember){sl_arena_strndup(&h->arena, v->m[i].name, v->m[i].len), v->m[i].len,
                                   sl_v_detach(h, v->m[i].v)};
    } else if (v->kind == SL_V_ARR) {
        c->cap = v->n;
        c->e = v->n ? sl_arena_alloc(&h->arena, v->n * sizeof *c->e) : NULL;
        for (uint32_t i = 0; i < v->n; i++) c->e[i] = sl_v_detach(h, v->e[i]);
    }
    return c;
}

/* ---- JSON out ---- */

void sl_v_put_json(sl_buf *out, const sl_val *v) {
    if (!v) {
        sl_buf_puts(out, "null");
        return;
    }
    switch ((sl_vkind)v->kind) {
    case SL_V_NULL: sl_buf_puts(out, "null"); break;
    case SL_V_BOOL: sl_buf_puts(out, v->b ? "true" : "false"); break;
    case SL_V_INT: sl_buf_put_i64(out, v->i); break;
    case SL_V_REAL: sl_jnum_put_json(out, v->d, false); break;
    case SL_V_STR: sl_buf_put_json_str(out, v->s, v->n); break;
    case SL_V_OBJ:
        sl_buf_putc(out, '{');
        for (uint32_t i = 0; i < v->n; i++) {
            if (i) sl_buf_putc(out, ',');
            sl_buf_put_json_str(out, v->m[i].name, v->m[i].len);
            sl_buf_putc(out, ':');
            sl_v_put_json(out, v->m[i].v);
        }
        sl_buf_putc(out, '}');
        break;
    case SL_V_ARR:
        sl_buf_putc(out, '[');
        for (uint32_t i = 0; i < v->n; i++) {
            if (i) sl_buf_putc(out, ',');
            sl_v_put_json(out, v->e[i]);
        }
        sl_buf_putc(out, ']');
        break;
    case SL_V_LAZY:
        if (v->z.text) sl_buf_put(out, v->z.text, v->z.tlen);
        else v->z.ops->put_json(v, out);
        break;
    }
}

/* ---- JSON in ---- */

enum { MAX_DEPTH = 2048 }; /* levels of nesting, as jansson */

typedef struct parser {
    sl_vheap *h;
    const char *p, *end;
    const char *err;
} parser;

static void ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at ps->p (past the opening quote): decoded into the heap; *n its length. */
static const char *string(parser *ps, uint32_t *n) {
    const char *s = ps->p;
    const char *q = s;
    bool esc = false;
    while (q < ps->end && *q != '"') {
        if (*q == '\\') {
            esc = true;
            q++;
        } else if ((unsigned char)*q < 0x20) {
            ps->err = "control character in a string";
            return NULL;
        }
        q++;
    }
    if (q >= ps->end) {
        ps->err = "unterminated string";
        return NULL;
    }
    ps->p = q + 1;
    if (!esc) {
        *n = (uint32_t)(q - s);
        return sl_arena_strndup(&ps->h->arena, s, (size_t)(q - s));
    }
    char *o = sl_arena_alloc(&ps->h->arena, (size_t)(q - s) + 1); /* decoding never grows it */
    size_t k = 0;
    for (const char *c = s; c < q; c++) {
        if (*c != '\\') {
            o[k++] = *c;
            continue;
        }
        c++;
        switch (*c) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            int u = q - c >= 5 ? hex4(c + 1) : -1;
            if (u < 0) {
                ps->err = "bad \\u escape";
                return NULL;
            }
            c += 4;
            uint32_t cp = (uint32_t)u;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = q - c >= 7 && c[1] == '\\' && c[2] == 'u' ? hex4(c + 3) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    ps->err = "unpaired surrogate escape";
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                c += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                ps->err = "unpaired surrogate escape";
                return NULL;
            }
            k += put_utf8(o + k, cp);
            break;
        }
        default: ps->err = "bad escape"; return NULL;
        }
    }
    o[k] = 0;
    *n = (uint32_t)k;
    return o;
}

static sl_val *number(parser *ps) {
    const char *s = ps->p;
    const char *q = s;
    bool real = false;
    if (q < ps->end && *q == '-') q++;
    if (q >= ps->end || *q < '0' || *q > '9') {
        ps->err = "bad number";
        return NULL;
    }
    if (*q == '0') q++;
    else
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    if (q < ps->end && *q == '.') {
        real = true;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            ps->err = "bad number";
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        real = true;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            ps->err = "bad number";
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    ps->p = q;
    char tmp[64];
    size_t len = (size_t)(q - s);
    char *txt = len < sizeof tmp ? tmp : sl_arena_alloc(&ps->h->arena, len + 1);
    memcpy(txt, s, len);
    txt[len] = 0;
    if (!real) {
        errno = 0;
        long long i = strtoll(txt, NULL, 10);
        if (errno == 0) return sl_v_int(ps->h, i);
    }
    errno = 0;
    double d = strtod(txt, NULL);
    if (errno == ERANGE && (d > 1 || d < -1)) {
        ps->err = "number out of range";
        return NULL;
    }
    return sl_v_real(ps->h, d);
}

static bool lit(parser *ps, const char *w, size_t n) {
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) {
        ps->err = "unexpected text";
        return false;
    }
    ps->p += n;
    return true;
}

static sl_val *value(parser *ps, int depth) {
    if (depth >= MAX_DEPTH) {
        ps->err = "too deeply nested";
        return NULL;
    }
    ws(ps);
    if (ps->p >= ps->end) {
        ps->err = "unexpected end of text";
        return NULL;
    }
    switch (*ps->p) {
    case '{': {
        ps->p++;
        sl_val *o = sl_v_obj(ps->h, 0);
        ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return o;
        }
        for (;;) {
            ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                ps->err = "expected a member name";
                return NULL;
            }
            ps->p++;
            uint32_t kn;
            const char *k = string(ps, &kn);
            if (!k) return NULL;
            ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                ps->err = "expected ':'";
                return NULL;
            }
            ps->p++;
            sl_val *v = value(ps, depth + 1);
            if (!v) return NULL;
            sl_vmember *m = find(o, k, kn);
            if (m) m->v = v; /* a repeated key: the last one wins, in the first one's place */
            else {
                grow(ps->h, o, sizeof *o->m);
                o->m[o->n++] = (sl_vmember){k, kn, v};
            }
            ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                return o;
            }
            ps->err = "expected ',' or '}'";
            return NULL;
        }
    }
    case '[': {
        ps->p++;
        sl_val *a = sl_v_arr(ps->h, 0);
        ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return a;
        }
        for (;;) {
            sl_val *v = value(ps, depth + 1);
            if (!v) return NULL;
            grow(ps->h, a, sizeof *a->e);
            a->e[a->n++] = v;
            ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                return a;
            }
            ps->err = "expected ',' or ']'";
            return NULL;
        }
    }
    case '"': {
        ps->p++;
        uint32_t n;
        const char *s = string(ps, &n);
        return s ? sl_v_str_ref(ps->h, s, n) : NULL;
    }
    case 't': return lit(ps, "true", 4) ? sl_v_bool(ps->h, true) : NULL;
    case 'f': return lit(ps, "false", 5) ? sl_v_bool(ps->h, false) : NULL;
    case 'n': return lit(ps, "null", 4) ? sl_v_null(ps->h) : NULL;
    default: return number(ps);
    }
}

sl_val *sl_v_parse(sl_vheap *h, const char *text, size_t len, char *errstr, size_t errsz) {
    parser ps = {h, text, text + len, NULL};
    sl_val *v = value(&ps, 0);
    if (v) {
        ws(&ps);
        if (ps.p != ps.end) {
            ps.err = "text after the value";
            v = NULL;
        }
    }
    if (!v && errstr) snprintf(errstr, errsz, "%s at byte %ld", ps.err ? ps.err : "bad JSON", (long)(ps.p - text));
    return v;
}
