/*
 * libFuzzer target for the pgoutput decoder. The first input byte chooses
 * in_stream (low bit), the rest is one message. The scratch is static so
 * reuse across inputs (stale capacities, regrowth) is exercised too; on
 * success every returned pointer is touched so ASan checks it lies in the
 * input or the scratch.
 */
#include "source/pg/pgoutput.h"
#include <stddef.h>
#include <stdint.h>

static sl_pgo_scratch scratch;
static volatile unsigned sink;

static void touch(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) sink += b[i];
}

static void touch_str(const char *s) {
    if (s)
        while (*s) sink += (unsigned char)*s++;
}

static void touch_tuple(const sl_pgo_tuple *t) {
    for (int i = 0; i < t->ncols; i++) touch(t->cells[i].data, t->cells[i].len);
}

static void touch_msg(const sl_pgo_msg *m) {
    switch (m->kind) {
    case 'O': touch_str(m->u.origin.name); break;
    case 'Y': touch_str(m->u.type.nspname), touch_str(m->u.type.typname); break;
    case 'R':
        touch_str(m->u.relation.nspname), touch_str(m->u.relation.relname);
        for (int i = 0; i < m->u.relation.ncols; i++) touch_str(m->u.relation.cols[i].name);
        break;
    case 'I':
    case 'U':
    case 'D': touch_tuple(&m->u.change.old), touch_tuple(&m->u.change.new_); break;
    case 'T': touch(m->u.truncate.relids, (size_t)m->u.truncate.nrels * sizeof(uint32_t)); break;
    case 'M':
        touch_str(m->u.message.prefix);
        touch(m->u.message.content, m->u.message.len);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    sl_pgo_msg m;
    char err[128];
    if (sl_pgo_decode((const char *)data + 1, size - 1, data[0] & 1, &m, &scratch, err, sizeof err) == 0)
        touch_msg(&m);
    else
        touch_str(err);
    return 0;
}
