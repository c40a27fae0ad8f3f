/*
 * The binlog event parsers of the MySQL source (src/source/mysql/binlog.c)
 * that sluice runs on whole events: ROTATE and the checksum setting of
 * FORMAT_DESCRIPTION, on events captured from a MariaDB 10.11.19 binlog dump
 * (the common header onwards, as hex). Rotates come real (end of a file) and
 * fake (sent by the server before each file's FORMAT_DESCRIPTION), each with
 * and without a CRC32 checksum: files written with binlog_checksum=CRC32 and
 * =NONE. Every truncation fails cleanly (heap copies of the exact size, so
 * ASan sees any over-read).
 */
#include "source/mysql/binlog.h"
#include "test.h"
#include <stdlib.h>

/* fake rotate at the start of a dump, @master_binlog_checksum = CRC32 */
#define FAKE_CRC "0000000004010000003100000000000000200004000000000000006d6172696164622d62696e2e303030303131130d684d"
/* real rotate at the end of mariadb-bin.000011 (CRC32) */
#define REAL_CRC "34b2146b04010000003100000035050000000004000000000000006d6172696164622d62696e2e303030303132c0a290ff"
/* fake rotate to mariadb-bin.000012, after a CRC32 file */
#define FAKE_CRC2 "0000000004010000003100000000000000200004000000000000006d6172696164622d62696e2e303030303132a95c61d4"
/* real and fake rotate to mariadb-bin.000014 written with binlog_checksum=NONE */
#define REAL_NONE "34b2146b04010000002d00000071020000000004000000000000006d6172696164622d62696e2e303030303134"
#define FAKE_NONE "0000000004010000002d00000000000000200004000000000000006d6172696164622d62696e2e303030303134"
/* FORMAT_DESCRIPTION of a CRC32 file and of a NONE file (they differ in the algorithm byte and checksum) */
#define FDE_HEAD                                                                                              \
    "0f01000000fc000000000100000000040031302e31312e31392d4d6172696144422d302b646562313275312d6c6f670000000000" \
    "0000000000000000000000000000000000000013380d000800120004040404120000e400041a08000000080808020000000a0a0a" \
    "0000000000000a0a0a00000000000000000000000000000000000000000000000000000000000000000000000000000000000000" \
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" \
    "000000000000000000000000000000000000000000000000041304000d0808080a0a0a"
#define FDE_CRC "34b2146b" FDE_HEAD "01307dddfa"
#define FDE_NONE "34b2146b" FDE_HEAD "00a64dda8d"

/* Hex → malloc'ed bytes of exactly that size (at least 1 allocated). */
static uint8_t *unhex(const char *s, size_t *np) {
    size_t n = strlen(s) / 2;
    uint8_t *out = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    *np = n;
    return out;
}

/* Parses hex as a rotate; returns "file:pos[ fake]" or "error: <message>". */
static const char *rotate(const char *hex, int checksum_len) {
    static char out[512];
    size_t n;
    uint8_t *ev = unhex(hex, &n);
    sl_my_rotate r;
    char err[256];
    if (sl_my_rotate_parse(ev, n, checksum_len, &r, err, sizeof err) < 0) snprintf(out, sizeof out, "error: %s", err);
    else snprintf(out, sizeof out, "%s:%llu%s", r.file, (unsigned long long)r.pos, r.fake ? " fake" : "");
    free(ev);
    return out;
}

static int fde(const char *hex) {
    size_t n;
    uint8_t *ev = unhex(hex, &n);
    char err[256];
    int rc = sl_my_fde_checksum_len(ev, n, err, sizeof err);
    free(ev);
    return rc;
}

/* Every proper prefix of the event fails, and reads nothing past it. */
static void truncations(const char *hex, int checksum_len, bool is_fde) {
    size_t n;
    uint8_t *ev = unhex(hex, &n);
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, ev, k);
        sl_my_rotate r;
        char err[256];
        CHECK((is_fde ? sl_my_fde_checksum_len(cut, k, err, sizeof err)
                      : sl_my_rotate_parse(cut, k, checksum_len, &r, err, sizeof err)) == -1);
        free(cut);
    }
    free(ev);
}

static void test_rotate(void) {
    CHECK_STR(rotate(FAKE_CRC, 4), "mariadb-bin.000011:4 fake");
    CHECK_STR(rotate(REAL_CRC, 4), "mariadb-bin.000012:4");
    CHECK_STR(rotate(FAKE_CRC2, 4), "mariadb-bin.000012:4 fake");
    CHECK_STR(rotate(REAL_NONE, 0), "mariadb-bin.000014:4");
    CHECK_STR(rotate(FAKE_NONE, 0), "mariadb-bin.000014:4 fake");
    /* the checksum taken for part of the name, or 4 bytes of the name for a checksum: not a binlog name */
    CHECK_STR(rotate(REAL_CRC, 0), "error: malformed ROTATE event: file name (49 bytes, without checksum)");
    CHECK_STR(rotate(FAKE_NONE, 4), "error: malformed ROTATE event: file name (45 bytes, with a checksum)");
    /* the header's event length bounds the name, whatever follows in the packet */
    CHECK_STR(rotate(REAL_NONE "00000000", 0), "mariadb-bin.000014:4");
    CHECK_STR(rotate("34b2146b04010000002c00000071020000000004000000000000006d6172696164622d62696e2e303030303134", 0),
              "error: malformed ROTATE event: file name (45 bytes, without checksum)"); /* 44: five digits */
    /* an event length past the bytes at hand, or too short for a position and a name */
    CHECK_STR(rotate("34b2146b04010000002e00000071020000000004000000000000006d6172696164622d62696e2e303030303134", 0),
              "error: malformed ROTATE event: event length (45 bytes, without checksum)");
    CHECK_STR(rotate("34b2146b04010000001b00000071020000000004000000000000006d6172696164622d62696e2e303030303134", 0),
              "error: malformed ROTATE event: event length (45 bytes, without checksum)");
    /* a NUL inside the name, a name without a dot or digits */
    CHECK_STR(rotate("34b2146b04010000002d00000071020000000004000000000000006d6172696164002d62696e2e303030303134", 0),
              "error: malformed ROTATE event: file name (45 bytes, without checksum)");
    CHECK_STR(rotate("34b2146b04010000002200000071020000000004000000000000002e303030303134", 0),
              "error: malformed ROTATE event: file name (34 bytes, without checksum)");
    CHECK_STR(rotate("34b2146b04010000002600000071020000000004000000000000006d6172696164622d62696e", 0),
              "error: malformed ROTATE event: file name (38 bytes, without checksum)");
    /* a name of 255 bytes fits, 256 do not */
    for (int len = 255; len <= 256; len++) {
        char hex[1024];
        int total = SL_MY_EVENT_HEADER_LEN + 8 + len;
        int o = snprintf(hex, sizeof hex, "0000000004" "01000000" "%02x%02x0000" "00000000" "2000" "0400000000000000",
                         total & 0xff, total >> 8);
        for (int i = 0; i < len - 7; i++) o += snprintf(hex + o, sizeof hex - (size_t)o, "61");
        snprintf(hex + o, sizeof hex - (size_t)o, "2e303030303031"); /* ".000001" */
        const char *got = rotate(hex, 0);
        if (len == 255) CHECK(strncmp(got, "aaaa", 4) == 0 && strstr(got, "a.000001:4 fake"));
        else CHECK(strncmp(got, "error: ", 7) == 0);
    }
    truncations(FAKE_CRC, 4, false);
    truncations(REAL_NONE, 0, false);
}

static void test_fde(void) {
    CHECK(fde(FDE_CRC) == 4);
    CHECK(fde(FDE_NONE) == 0);
    /* an unknown algorithm byte */
    CHECK(fde("34b2146b" FDE_HEAD "07307dddfa") == -1);
    truncations(FDE_CRC, 0, true);
}

int main(void) {
    test_rotate();
    test_fde();
    TEST_END();
}
