/*
 * Batch encoding on several threads: the records of a large batch are cut into
 * consecutive parts of SL_BENC_PART records, and the helper threads of an
 * sl_par pool encode parts ahead, each into its own buffer, with the same
 * encoders the sink uses one record at a time. The sink reads the records'
 * pieces in order (sl_benc_piece), encoding a part itself when no helper has
 * taken it yet, so that it writes part i while the helpers encode the parts
 * after it, and what it writes is byte for byte what the sequential path writes.
 *
 * Before the parts start, sl_benc_start fills the schema caches of every table
 * in the batch on the calling thread; the encoders then only read shared
 * state, and a part touches only its own records and buffers.
 *
 * The parts of a run hold at most about SL_BENC_BYTES together: a part stops
 * at its share, and sl_benc_piece returns NULL for the records it left, which
 * the sink encodes itself (with its own, spilling buffers, so a batch of huge
 * values is not held twice).
 *
 * Thread: the sink thread; the encode function runs on the encoding threads at once.
 */
#ifndef SL_FORMAT_BENC_H
#define SL_FORMAT_BENC_H
#include <stdbool.h>
#include <stddef.h>
#include "core/record.h"
#include "format/dbz_json.h"
#include "util/buf.h"
#include "util/par.h"

enum { SL_BENC_PART = 256, SL_BENC_BYTES = 16 << 20, SL_BENC_MAX_PIECES = 4 };

typedef struct sl_benc_part {
    sl_buf out;             /* the pieces of records [from, from + done) */
    size_t *ends;           /* the end offset in out of each piece, record after record */
    int ends_cap, pieces;
    int from, to, done;
    /* free for the encode function: a scratch buffer, and a buffer it may keep between the records of one
     * part with a key of its choice (aux_key is NULL at the start of each part) */
    sl_buf scratch, aux;
    const void *aux_key;
    int aux_n;
} sl_benc_part;

/* Appends record r's pieces to p->out, calling sl_benc_piece_end after each one (npieces per record); o is
 * the options given to sl_benc_start. */
typedef void sl_benc_fn(void *arg, const sl_dbz_opts *o, sl_benc_part *p, const sl_record *r);

typedef struct sl_benc {
    sl_par *par;
    sl_benc_part parts[SL_PAR_MAX_PARTS];
    int nparts;             /* of the current run; 0: none */
    int waited;             /* parts [0, waited) are known done */
    int npieces;
    size_t share;           /* bytes a part may hold */
    const sl_batch *b;
    const sl_dbz_opts *o;
    sl_benc_fn *fn;
    void *arg;
} sl_benc;

/* threads: the encoding threads in all, the caller included (0: half of sl_par_cores(), 1 to 4; 1: none added). */
void sl_benc_init(sl_benc *e, int threads, const char *name);
void sl_benc_free(sl_benc *e);
/* Starts encoding b's records with fn, each as npieces pieces, when b is large enough to be shared out and
 * there are helpers; false: nothing started, the caller encodes every record. */
bool sl_benc_start(sl_benc *e, const sl_dbz_opts *o, const sl_batch *b, int npieces, sl_benc_fn *fn, void *arg);
/* Piece k of record i of a started run, waiting for (or encoding) its part; NULL when i is not encoded (the part
 * reached its share of bytes first, or no run). Records are asked for in order. */
const char *sl_benc_piece(sl_benc *e, int i, int k, size_t *len);
/* Ends the run (also when the caller stops early); lets go of part buffers a huge record grew. */
void sl_benc_end(sl_benc *e);
/* Inside the encode function: the piece being written ends here. */
void sl_benc_piece_end(sl_benc_part *p);

#endif
