/*
 * The worker's config store: one SQLite file (config.storage.file.filename)
 * holding, per connector, its configuration as submitted (JSON text, config
 * provider references unresolved) and its target state. Every change is
 * committed (WAL, synchronous=FULL) before the REST answer goes out, so a
 * worker killed at any moment comes back with every connector in the state
 * it was last told. Connect keeps the same in its config topic.
 *
 * A handle is used by one thread at a time (the worker's lock).
 */
#ifndef SL_WORKER_STORE_H
#define SL_WORKER_STORE_H
#include <stddef.h>

typedef struct sl_wstore sl_wstore;

sl_wstore *sl_wstore_open(const char *path, char *errstr, size_t errstr_size);
void sl_wstore_close(sl_wstore *s);
/* Inserts or replaces a connector: config is a JSON object text, target "RUNNING"|"PAUSED"|"STOPPED". */
int sl_wstore_put(sl_wstore *s, const char *name, const char *config, const char *target, char *errstr,
                  size_t errstr_size);
int sl_wstore_set_target(sl_wstore *s, const char *name, const char *target, char *errstr, size_t errstr_size);
int sl_wstore_delete(sl_wstore *s, const char *name, char *errstr, size_t errstr_size);
/* Calls cb for every stored connector, in name order. */
int sl_wstore_load(sl_wstore *s, void (*cb)(const char *name, const char *config, const char *target, void *arg),
                   void *arg, char *errstr, size_t errstr_size);

#endif
