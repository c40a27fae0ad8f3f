/*
 * libFuzzer target for sluice verify's normalisation (src/verify/vnorm.c),
 * which reads value text from the two stores it compares. The first byte
 * chooses the kind and the scales, the rest is "a\0b". What must hold:
 * equality is reflexive and symmetric, and a value equal to itself orders
 * equal to itself; nothing reads past the text (ASan), also where two JSON
 * values first differ and when two query rows are the same.
 */
#include "verify/vnorm.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    sl_vcol s = {"c", (sl_ckind)(data[0] % 21), (data[0] >> 4) % 8 - 1, (data[0] & 0x80) != 0, false};
    sl_vcol t = s;
    t.scale = (data[1] % 8) - 1;
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    const char *z = memchr(p, 0, n);
    size_t an = z ? (size_t)(z - p) : n;
    char *a = malloc(an ? an : 1), *b = malloc(n - an + 1);
    memcpy(a, p, an);
    size_t bn = z ? n - an - 1 : 0;
    memcpy(b, z ? z + 1 : "", bn);
    if (!sl_vnorm_equal(&s, a, an, &s, a, an)) abort();
    if (sl_vnorm_equal(&s, a, an, &s, b, bn) != sl_vnorm_equal(&s, b, bn, &s, a, an)) abort();
    if (sl_vnorm_cmp(&s, a, an, &s, a, an) != 0) abort();
    (void)sl_vnorm_equal(&s, a, an, &t, b, bn);
    if (s.kind == SL_CK_JSON) { /* where two documents first differ */
        sl_buf path;
        sl_buf_init(&path);
        (void)sl_vnorm_json_diff_path(a, an, b, bn, &path);
        sl_buf_reset(&path);
        (void)sl_vnorm_rows_same(a, an, b, bn, (data[1] & 1) != 0, &path); /* query pairs' rows */
        sl_buf_free(&path);
    }
    free(a);
    free(b);
    return 0;
}
