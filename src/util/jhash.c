/* Java HashMap iteration order (see jhash.h). */
#include "util/jhash.h"
#include "util/mem.h"
#include <stdlib.h>

static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i) {
    unsigned c = s[(*i)++];
    if (c < 0x80) return c;
    int extra = c >= 0xF0 && c < 0xF8 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
    if (extra < 0 || *i + (size_t)extra > n) return 0xFFFD;
    uint32_t cp = c & (0x3Fu >> extra);
    for (int k = 0; k < extra; k++) {
        if ((s[*i] & 0xC0) != 0x80) return 0xFFFD;
        cp = cp << 6 | (s[(*i)++] & 0x3F);
    }
    return cp;
}

int32_t sl_java_string_hash(const char *s, size_t n) {
    uint32_t h = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp = utf8_next(u, n, &i);
        if (cp >= 0x10000) { /* a surrogate pair in UTF-16 */
            cp -= 0x10000;
            h = 31 * h + (0xD800 + (cp >> 10));
            h = 31 * h + (0xDC00 + (cp & 0x3FF));
        } else {
            h = 31 * h + cp;
        }
    }
    return (int32_t)h;
}

typedef struct slot {
    uint32_t bucket;
    int idx;
} slot;

static int by_bucket(const void *a, const void *b) {
    const slot *x = a, *y = b;
    if (x->bucket != y->bucket) return x->bucket < y->bucket ? -1 : 1;
    return x->idx - y->idx;
}

void sl_java_hashmap_order(const char *const *keys, const size_t *lens, int n, int *order) {
    uint32_t cap = 16;
    while ((uint64_t)n * 4 > (uint64_t)cap * 3) cap <<= 1; /* resize once size > threshold (0.75 cap) */
    slot *sl = sl_malloc(sizeof *sl * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        uint32_t h = (uint32_t)sl_java_string_hash(keys[i], lens[i]);
        sl[i] = (slot){(h ^ (h >> 16)) & (cap - 1), i};
    }
    qsort(sl, (size_t)n, sizeof *sl, by_bucket);
    for (int i = 0; i < n; i++) order[i] = sl[i].idx;
    sl_free(sl);
}
