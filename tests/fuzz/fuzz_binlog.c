/* libFuzzer target: whole binlog events through the parsers the MySQL source runs on them (ROTATE, and the
 * checksum setting of FORMAT_DESCRIPTION). The first byte picks whether a checksum is in effect. */
#include "source/mysql/binlog.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int checksum_len = data[0] & 1 ? 4 : 0;
    char err[256];
    sl_my_rotate r;
    if (sl_my_rotate_parse(data + 1, size - 1, checksum_len, &r, err, sizeof err) == 0 &&
        strlen(r.file) >= sizeof r.file)
        __builtin_trap();
    sl_my_fde_checksum_len(data + 1, size - 1, err, sizeof err);
    return 0;
}
