/* Debezium's __debezium.context.* headers (see ctxhdr.h). */
#include "core/ctxhdr.h"
#include "util/timeutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sl_ctxhdr_init(sl_ctxhdr *x, const char *logical_name, const char *connector_name) {
    memset(x, 0, sizeof *x);
    x->logical_name = logical_name;
    x->connector_name = connector_name;
    uint8_t r[16];
    if (getentropy(r, sizeof r) != 0)
        for (size_t i = 0; i < sizeof r; i++) r[i] = (uint8_t)rand();
    uint64_t ms = (uint64_t)sl_wall_us() / 1000;
    uint64_t msb = ms << 16 | ((uint64_t)(r[0] << 8 | r[1]) & 0x0fff) | 0x7000;
    uint64_t lsb = 0;
    for (int i = 2; i < 10; i++) lsb = lsb << 8 | r[i];
    lsb = (lsb & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    snprintf(x->run_id, sizeof x->run_id, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(msb >> 32),
             (unsigned)(msb >> 16 & 0xffff), (unsigned)(msb & 0xffff), (unsigned)(lsb >> 48),
             (unsigned long long)(lsb & 0xffffffffffffULL));
}

void sl_ctxhdr_add(sl_ctxhdr *x, sl_batch *b, sl_record *r) {
    sl_arena *a = &b->arena;
    if (x->batch != b) {
        const char *vals[4] = {x->logical_name, "0", x->connector_name, x->run_id};
        static const char *keys[4] = {"__debezium.context.connectorLogicalName", "__debezium.context.taskId",
                                      "__debezium.context.connectorName", "__debezium.context.runId"};
        x->h = sl_arena_alloc(a, 4 * sizeof *x->h);
        for (int i = 0; i < 4; i++)
            x->h[i] = (sl_header){keys[i], sl_arena_strndup(a, vals[i], strlen(vals[i])), (uint32_t)strlen(vals[i]),
                                  false};
        x->batch = b;
    }
    if (!r->nheaders) {
        r->headers = x->h;
        r->nheaders = 4;
        return;
    }
    sl_header *h = sl_arena_alloc(a, (size_t)(r->nheaders + 4) * sizeof *h);
    memcpy(h, r->headers, (size_t)r->nheaders * sizeof *h);
    memcpy(h + r->nheaders, x->h, 4 * sizeof *h);
    r->headers = h;
    r->nheaders += 4;
}
