/*
 * libFuzzer target for the expression language: the input (up to its first
 * NUL) is parsed as an expression; when it parses, it is evaluated against
 * fixed records (a Debezium update with schemas, a tombstone, a heartbeat
 * without an envelope). Beyond memory safety and bounded stacks it checks
 * that every parse error carries a reason and a column inside the text (or
 * the length limit), that every string result is as long as it says, and
 * that evaluating twice gives the same result (no state leaks between
 * evaluations through the scratch area).
 */
#include "xform/expr_lang.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned sink;
static sl_xrec recs[3];
static bool ready;

static void setup(void) {
    sl_xrec_from_text(&recs[0], "inv.public.orders", "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"id\":7}}",
                      "{\"schema\":{\"type\":\"struct\",\"name\":\"inv.public.orders.Envelope\"},\"payload\":{"
                      "\"before\":{\"id\":7,\"status\":\"new\",\"price\":1.5},\"after\":{\"id\":7,\"status\":"
                      "\"shipped\",\"price\":12.5,\"tags\":[\"a\",\"b\",3,null,{\"k\":[]}],\"first name\":\"Ann\"},"
                      "\"source\":{\"table\":\"orders\",\"lsn\":9223372036854775807,\"db\":\"shop\"},\"op\":\"u\","
                      "\"ts_ms\":1700000000123}}");
    sl_xrec_add_header(&recs[0], "h1", json_string("one"));
    sl_xrec_add_header(&recs[0], "n", json_integer(-9));
    sl_xrec_add_header(&recs[0], "nul", NULL);
    sl_xrec_from_text(&recs[1], "inv.public.orders", "{\"id\":7}", NULL);
    sl_xrec_from_text(&recs[2], "__debezium-heartbeat.inv", NULL, "{\"ts_ms\":1700000000999}");
    for (int i = 0; i < 3; i++) sl_xrec_to_view(&recs[i], NULL, 0);
    ready = true;
}

static void touch(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) sink += (unsigned char)s[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) setup();
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    size_t len = strlen(text);
    char err[512] = "";
    sl_expr *e = sl_expr_parse(text, err, sizeof err);
    if (!e) {
        const char *col = NULL; /* the last one: messages quote the input, which may say " at column " too */
        for (const char *c = err; (c = strstr(c, " at column ")) != NULL; c++) col = c;
        if (col) {
            long c = strtol(col + 11, NULL, 10);
            if (c < 1 || (size_t)c > len + 1) abort();
        } else if (!strstr(err, "longer than")) {
            abort();
        }
        free(text);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        sl_expr_val v;
        char s1[256], s2[256];
        int rc = sl_expr_eval(e, &recs[i], &v, err, sizeof err);
        if (rc < 0 && !err[0]) abort();
        if (rc == 0 && v.t == SL_EV_STR) {
            if (!v.s || v.s[v.n] != 0) abort();
            touch(v.s, v.n);
        }
        sl_expr_val_str(&v, s1, sizeof s1);
        touch(sl_expr_type_name(&v), 1);
        int rc2 = sl_expr_eval(e, &recs[i], &v, err, sizeof err);
        sl_expr_val_str(&v, s2, sizeof s2);
        if (rc != rc2 || strcmp(s1, s2) != 0) abort();
        sink += sl_expr_test(e, &recs[i]);
    }
    sl_expr_free(e);
    free(text);
    return 0;
}
