/*
 * Errors as values. A failure that crosses threads or decides what the runtime does next is an sl_err: a code
 * from one small list (SL_ERR_CODES below), whether trying again later can help (retriable: the code's default,
 * which the raiser may override where it knows better), and the message that names the culprit (the key, the
 * table, the position). Plugins raise them through the context (ctx/ctx.h: sl_ctx_raise, sl_ctx_fail_code,
 * sl_ctx_open_failed); the runtime reconnects on a retriable one and stops the connector on any other, and the
 * worker logs the code's name with the failure. Fixed size, no pointers: copied between threads as it is.
 */
#ifndef SL_CORE_ERR_H
#define SL_CORE_ERR_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* X(code, name, retriable by default, what it means). The names appear in log lines: never rename one. */
#define SL_ERR_CODES(X)                                                                                          \
    X(NONE, "none", false, "no error")                                                                           \
    X(CONFIG, "config", false,                                                                                   \
      "a setting is wrong, or names something the server does not have or refuses (a table, a publication, a "  \
      "server setting such as wal_level or binlog_format)")                                                     \
    X(CONNECT, "connect", true,                                                                                  \
      "the source's server cannot be reached, or the connection was lost or ended by the server (a restart, a " \
      "failover, a busy replication slot)")                                                                      \
    X(AUTH, "auth", false, "the server refused the credentials or the privileges")                             \
    X(PROTOCOL, "protocol", false,                                                                               \
      "the server sent data sluice cannot read or did not expect (an undecodable message, an error reply)")     \
    X(POSITION_LOST, "position_lost", false,                                                                     \
      "the stored position is gone at the source: binlog purged, replication slot missing, stored LSN past "    \
      "the WAL end, change stream history lost")                                                               \
    X(SINK_REJECTED, "sink_rejected", false,                                                                     \
      "the sink, or the encoding on the way to it, refused a record or a write")                                \
    X(SINK_UNAVAILABLE, "sink_unavailable", true,                                                                \
      "the sink cannot be reached, or did not confirm a write in time")                                          \
    X(RESOURCE, "resource", false,                                                                               \
      "a local resource failed: memory, a file, the offset store")                                              \
    X(INTERNAL, "internal", false,                                                                               \
      "a state sluice did not expect, or a failure its raiser did not classify")                                \
    X(CANCELLED, "cancelled", false, "the connector was stopping while the operation ran")

typedef enum {
#define SL_ERR_ENUM(code, name, retriable, doc) SL_E_##code,
    SL_ERR_CODES(SL_ERR_ENUM)
#undef SL_ERR_ENUM
    SL_E__COUNT
} sl_err_code;

typedef struct sl_err {
    sl_err_code code;
    bool retriable; /* trying again later may succeed: the code's default unless the raiser overrode it */
    char msg[1024];
} sl_err;

/* The code's name ("connect"), what it means, its default retriable flag; "?" / false out of range. */
const char *sl_err_name(sl_err_code code);
const char *sl_err_doc(sl_err_code code);
bool sl_err_code_retriable(sl_err_code code);
/* Fills e: the code, its default retriable flag (override by setting e->retriable after), the message. */
void sl_err_set(sl_err *e, sl_err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sl_err_vset(sl_err *e, sl_err_code code, const char *fmt, va_list ap);
/* No error: SL_E_NONE, not retriable, empty message. */
void sl_err_clear(sl_err *e);

#endif
