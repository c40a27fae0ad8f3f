/* libFuzzer target: TABLE_MAP bodies through the parsers the MySQL source runs on them. */
#include "source/mysql/binlog.h"
#include "source/mysql/rowimage.h"
#include "util/arena.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_my_tmap tm;
    char err[256];
    if (sl_my_tmap_parse(data, size, &tm, err, sizeof err) < 0) return 0;
    sl_arena a;
    sl_arena_init(&a);
    sl_my_col *cols = sl_arena_alloc(&a, sizeof *cols * (size_t)tm.ncols);
    memset(cols, 0, sizeof *cols * (size_t)tm.ncols);
    for (int i = 0; i < tm.ncols; i++) cols[i].type = tm.types[i];
    if (sl_my_parse_meta(tm.types, tm.ncols, tm.meta, tm.meta_len, cols, err, sizeof err) == 0) {
        int *pk = NULL, npk = 0;
        sl_my_parse_optional_meta(tm.opt, tm.opt_len, cols, tm.ncols, &a, &pk, &npk, err, sizeof err);
    }
    sl_arena_free(&a);
    return 0;
}
