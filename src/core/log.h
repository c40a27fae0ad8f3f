/*
 * Logging to stderr: level, context and a message with key=value fields.
 * Every line passes through the secret redactor: values of sensitive config
 * keys registered with sl_log_add_secret() are replaced by ******** wherever
 * they appear (log lines and the error strings that end up in them).
 * Thread-safe: one lock around formatting and the write.
 */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SL_LOG_ERROR = 0, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG, SL_LOG_TRACE } sl_log_level;

void sl_log_set_level(sl_log_level lvl);
sl_log_level sl_log_get_level(void);
/* Parses "error|warn|info|debug|trace"; -1 if unknown. */
int sl_log_parse_level(const char *s);
void sl_log_add_secret(const char *secret);
void sl_log(sl_log_level lvl, const char *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Replaces registered secrets in s (in place; the result is never longer). */
void sl_log_redact(char *s);

/*
 * A warning that a client or a peer can repeat at will (one per connection, per bad request) is
 * rate-limited: at most one line per SL_LOG_LIMIT_MS for each limiter, and the next line that passes says
 * how many were dropped meanwhile. A limiter is zero-initialized and may be shared by threads.
 */
#define SL_LOG_LIMIT_MS 10000
typedef struct sl_log_limit {
    int64_t next_ms;          /* monotonic time from which the next line passes */
    unsigned long suppressed; /* lines dropped since the last one that passed */
} sl_log_limit;

/* True when a line may be logged at now_ms (*suppressed: how many were dropped before it; the count starts
 * over); false when it is dropped (and counted). At most one line passes per interval_ms. */
bool sl_log_limit_pass(sl_log_limit *l, int64_t now_ms, int64_t interval_ms, unsigned long *suppressed);
/* Takes the count of lines dropped since the last one that passed (to report it at shutdown). */
unsigned long sl_log_limit_take(sl_log_limit *l);
/* sl_log through l, every SL_LOG_LIMIT_MS at most; a line that passes after drops ends with their count. */
void sl_log_limited(sl_log_limit *l, sl_log_level lvl, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define sl_log_enabled(lvl) ((lvl) <= sl_log_get_level())
#define SL_ERR(ctx, ...) sl_log(SL_LOG_ERROR, ctx, __VA_ARGS__)
#define SL_WARN(ctx, ...) sl_log(SL_LOG_WARN, ctx, __VA_ARGS__)
#define SL_INFO(ctx, ...) sl_log(SL_LOG_INFO, ctx, __VA_ARGS__)
#define SL_DEBUG(ctx, ...) \
    do { if (sl_log_enabled(SL_LOG_DEBUG)) sl_log(SL_LOG_DEBUG, ctx, __VA_ARGS__); } while (0)

#endif
