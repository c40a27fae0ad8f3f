/* stderr logger with levels and secret redaction (see log.h). */
#include "core/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static sl_log_level level = SL_LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * The secrets to redact: a growable array (a daemon with many connectors has
 * many passwords), guarded by lock. Each line is checked against all of them,
 * so a line first notes which 3-byte prefixes occur in it (hashed into a small
 * bitmap) and a secret whose prefix does not occur is skipped without a
 * search: a line that holds no secret costs one pass over it plus a bit test
 * per secret, however many there are.
 */
typedef struct secret {
    char *s;
    size_t len;
    unsigned tri; /* hash of its first 3 bytes */
} secret;
static secret *secrets;
static size_t nsecrets, capsecrets;
enum { TRI_BITS = 8192 };
static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void sl_log_set_level(sl_log_level lvl) { level = lvl; }
sl_log_level sl_log_get_level(void) { return level; }

int sl_log_parse_level(const char *s) {
    static const char *lc[] = {"error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, lc[i]) == 0) return i;
    return -1;
}

static unsigned tri_hash(const char *p) {
    uint32_t v = (uint32_t)(unsigned char)p[0] << 16 | (uint32_t)(unsigned char)p[1] << 8 | (unsigned char)p[2];
    return (v * 2654435761u) >> 19; /* 13 bits: TRI_BITS */
}

void sl_log_add_secret(const char *value) {
    size_t len = value ? strlen(value) : 0;
    if (len < 3) return; /* too short to redact without mangling text */
    unsigned tri = tri_hash(value);
    pthread_mutex_lock(&lock);
    bool dup = false;
    for (size_t i = 0; i < nsecrets && !dup; i++)
        dup = secrets[i].tri == tri && secrets[i].len == len && memcmp(secrets[i].s, value, len) == 0;
    if (!dup) {
        if (nsecrets == capsecrets) {
            capsecrets = capsecrets ? 2 * capsecrets : 16;
            secrets = sl_realloc(secrets, capsecrets * sizeof *secrets);
        }
        secrets[nsecrets++] = (secret){sl_strndup(value, len), len, tri};
    }
    pthread_mutex_unlock(&lock);
}

/* Marks the hashes of the 3-byte runs of s in map. */
static void note_tris(const char *s, uint8_t map[TRI_BITS / 8]) {
    memset(map, 0, TRI_BITS / 8);
    for (size_t i = 0; s[i] && s[i + 1] && s[i + 2]; i++) {
        unsigned h = tri_hash(s + i);
        map[h >> 3] |= (uint8_t)(1u << (h & 7));
    }
}

static void redact_locked(char *s) {
    uint8_t map[TRI_BITS / 8];
    if (!nsecrets) return;
    note_tris(s, map);
    for (size_t i = 0; i < nsecrets; i++) {
        const secret *sc = &secrets[i];
        if (!(map[sc->tri >> 3] & (1u << (sc->tri & 7)))) continue; /* its prefix is nowhere in s */
        char *p;
        bool hit = false;
        while ((p = strstr(s, sc->s)) != NULL) {
            size_t stars = sc->len < 8 ? sc->len : 8;
            memset(p, '*', stars);
            memmove(p + stars, p + sc->len, strlen(p + sc->len) + 1);
            hit = true;
        }
        if (hit) note_tris(s, map); /* the stars made new runs: a later secret may start with them */
    }
}

void sl_log_redact(char *s) {
    pthread_mutex_lock(&lock);
    redact_locked(s);
    pthread_mutex_unlock(&lock);
}

void sl_log(sl_log_level lvl, const char *ctx, const char *fmt, ...) {
    if (lvl > level) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&lock);
    redact_locked(msg);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl], ctx ? ctx : "sluice",
            msg);
    pthread_mutex_unlock(&lock);
}

bool sl_log_limit_pass(sl_log_limit *l, int64_t now_ms, int64_t interval_ms, unsigned long *suppressed) {
    pthread_mutex_lock(&lock);
    bool pass = now_ms >= l->next_ms;
    if (pass) {
        *suppressed = l->suppressed;
        l->suppressed = 0;
        l->next_ms = now_ms + interval_ms;
    } else {
        l->suppressed++;
    }
    pthread_mutex_unlock(&lock);
    return pass;
}

unsigned long sl_log_limit_take(sl_log_limit *l) {
    pthread_mutex_lock(&lock);
    unsigned long n = l->suppressed;
    l->suppressed = 0;
    pthread_mutex_unlock(&lock);
    return n;
}

void sl_log_limited(sl_log_limit *l, sl_log_level lvl, const char *ctx, const char *fmt, ...) {
    unsigned long dropped;
    if (lvl > level || !sl_log_limit_pass(l, sl_mono_ms(), SL_LOG_LIMIT_MS, &dropped)) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (dropped) sl_log(lvl, ctx, "%s (%lu more like it since the previous such line, not logged)", msg, dropped);
    else sl_log(lvl, ctx, "%s", msg);
}
