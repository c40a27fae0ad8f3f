/* Batch encoding on several threads (see benc.h). */
#include "format/benc.h"
#include "format/dbz_int.h"
#include "util/mem.h"
#include <string.h>

void sl_benc_init(sl_benc *e, int threads, const char *name) {
    memset(e, 0, sizeof *e);
    /* By default half the cores: the sink's thread shares them with the source's, the client library's
     * (librdkafka compresses on its own threads) and often the database's. On 2 cores a helper cost more
     * than it gave (PostgreSQL -> Kafka snapshot, 2M rows: 6.5-7.3 s alone, 7.8-8.3 s with one). */
    if (threads <= 0) threads = sl_par_cores() / 2 < 1 ? 1 : sl_par_cores() / 2 > 4 ? 4 : sl_par_cores() / 2;
    e->par = sl_par_new(threads - 1, name);
}

void sl_benc_free(sl_benc *e) {
    sl_par_destroy(e->par);
    for (int i = 0; i < SL_PAR_MAX_PARTS; i++) {
        sl_benc_part *p = &e->parts[i];
        sl_buf_free(&p->out), sl_buf_free(&p->scratch), sl_buf_free(&p->aux);
        sl_free(p->ends);
    }
    memset(e, 0, sizeof *e);
}

void sl_benc_piece_end(sl_benc_part *p) { p->ends[p->pieces++] = p->out.len; }

static void run_part(void *arg, int j) {
    sl_benc *e = arg;
    sl_benc_part *p = &e->parts[j];
    sl_buf_reset(&p->out);
    p->pieces = p->done = 0;
    p->aux_key = NULL, p->aux_n = 0;
    for (int i = p->from; i < p->to && p->out.len < e->share; i++) {
        e->fn(e->arg, e->o, p, &e->b->recs[i]);
        p->done++;
    }
}

bool sl_benc_start(sl_benc *e, const sl_dbz_opts *o, const sl_batch *b, int npieces, sl_benc_fn *fn, void *arg) {
    int parts = b->n / SL_BENC_PART;
    if (parts > SL_PAR_MAX_PARTS) parts = SL_PAR_MAX_PARTS;
    e->nparts = 0;
    if (!e->par || parts < 2) return false;
    /* The table caches are filled here, once, so that the parts only read them. */
    const sl_table *last = NULL;
    for (int i = 0; i < b->n; i++) {
        const sl_record *r = &b->recs[i];
        if (r->table && r->table != last) dbz_fill_caches(o, r), last = r->table;
    }
    int per = (b->n + parts - 1) / parts;
    e->nparts = parts, e->waited = 0, e->npieces = npieces;
    e->share = SL_BENC_BYTES / (size_t)parts;
    e->b = b, e->o = o, e->fn = fn, e->arg = arg;
    for (int j = 0; j < parts; j++) {
        sl_benc_part *p = &e->parts[j];
        p->from = j * per;
        p->to = j == parts - 1 ? b->n : p->from + per;
        int need = (p->to - p->from) * npieces;
        if (p->ends_cap < need) {
            p->ends = sl_realloc(p->ends, (size_t)need * sizeof *p->ends);
            p->ends_cap = need;
        }
    }
    sl_par_start(e->par, parts, run_part, e);
    return true;
}

const char *sl_benc_piece(sl_benc *e, int i, int k, size_t *len) {
    if (!e->nparts || i >= e->b->n) return NULL;
    int per = e->parts[0].to;
    int j = i / per < e->nparts ? i / per : e->nparts - 1;
    if (j >= e->waited) {
        sl_par_wait(e->par, j);
        e->waited = j + 1;
    }
    const sl_benc_part *p = &e->parts[j];
    if (i - p->from >= p->done) return NULL;
    int at = (i - p->from) * e->npieces + k;
    size_t start = at ? p->ends[at - 1] : 0;
    *len = p->ends[at] - start;
    return p->out.data + start;
}

void sl_benc_end(sl_benc *e) {
    if (!e->nparts) return;
    sl_par_finish(e->par);
    for (int j = 0; j < e->nparts; j++) {
        sl_benc_part *p = &e->parts[j];
        if (p->out.cap > 2 * e->share) sl_buf_free(&p->out);
    }
    e->nparts = 0;
}
