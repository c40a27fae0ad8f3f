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
static char *secrets[32];
static int nsecrets;
static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void sl_log_set_level(sl_log_level lvl) { level = lvl; }
sl_log_level sl_log_get_level(void) { return level; }

int sl_log_parse_level(const char *s) {
    static const char *lc[] = {"error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, lc[i]) == 0) return i;
    return -1;
}

void sl_log_add_secret(const char *secret) {
    if (!secret || strlen(secret) < 3) return; /* too short to redact without mangling text */
    pthread_mutex_lock(&lock);
    int dup = 0;
    for (int i = 0; i < nsecrets; i++) dup |= strcmp(secrets[i], secret) == 0;
    if (!dup && nsecrets < (int)(sizeof secrets / sizeof *secrets)) secrets[nsecrets++] = sl_strdup(secret);
    pthread_mutex_unlock(&lock);
}

static void redact_locked(char *s) {
    for (int i = 0; i < nsecrets; i++) {
        size_t n = strlen(secrets[i]);
        char *p;
        while ((p = strstr(s, secrets[i])) != NULL) {
            size_t stars = n < 8 ? n : 8;
            memset(p, '*', stars);
            memmove(p + stars, p + n, strlen(p + n) + 1);
        }
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
