/*
 * Two-way sync on MongoDB: which change events are the writes of a sink whose
 * origin the source skips (skipped.origins), so that they are not sent back
 * where they came from. The MongoDB sink marks each write with its origin
 * (mongo/mkey.h SL_MONGO_ORIGIN_FIELD, "<origin>/<ms>-<n>", new on each
 * write):
 *
 *   update          skipped when its updatedFields set the mark to a skipped
 *                   origin's (an application's update leaves the mark alone);
 *                   a mark ending in "/d" announces the sink's delete of the
 *                   document, which is then skipped too
 *   insert/replace  skipped when the document carries such a mark that this
 *                   document has not carried before and that was made within
 *                   a minute of the event (an application that copies the
 *                   whole document back, mark included, is not the sink)
 *   delete          skipped when announced as above
 *
 * The memory of marks and announced deletes is per document key, bounded
 * (forgotten when full), and rebuilt from the stream after a restart (the
 * events are read again from the stored position).
 *
 * Thread: one per source; pure apart from its own memory.
 */
#ifndef SL_SOURCE_MONGO_MECHO_H
#define SL_SOURCE_MONGO_MECHO_H
#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_mecho {
    const char *origins; /* comma-separated names (borrowed) */
    uint64_t *keys, *vals; /* open addressing: document key hash -> mark hash, or SL_MECHO_DELETE */
    size_t cap, n;
    uint64_t skipped;    /* events left out so far */
} sl_mecho;

/* How far the time in a mark may be from the event's (ms). */
#define SL_MECHO_WINDOW_MS 60000

/* True when ev (a change event) is a write of a skipped origin's sink. */
bool sl_mecho_skip(sl_mecho *e, const bson_t *ev);
void sl_mecho_free(sl_mecho *e);

#endif
