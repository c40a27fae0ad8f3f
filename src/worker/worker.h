/*
 * The worker of `sluice serve`: owns connectors by name, as a Kafka Connect
 * worker does. For each it keeps the configuration as submitted, a target
 * state (RUNNING, PAUSED, STOPPED) persisted in the config store
 * (worker/store.h) before any request is answered, and at most one running
 * sl_connector.
 *
 * Requests only change the wanted state; a supervisor thread (woken by each change, else every 100 ms)
 * makes it so. Starting and stopping an instance can take seconds (a
 * database connection, a drain and commit), so each runs on a short-lived
 * job thread of its own and never under the worker's lock. The supervisor
 * also notices instances whose threads ended: a failure is recorded with its
 * reason (the task's "trace") and, with task.restart.auto, the connector is
 * started again after an exponential backoff.
 *
 * Locking: one mutex guards every connector entry; the config store is used
 * only under it. An instance is attached to and detached from its entry under
 * the lock and destroyed after detaching, so a reader holding the lock never
 * sees a freed connector. An instance's sl_config is destroyed after it.
 */
#ifndef SL_WORKER_WORKER_H
#define SL_WORKER_WORKER_H
#include "core/conf.h"
#include "runtime/connector.h"
#include "verify/verify.h"
#include "kafka/kclient.h"
#include <jansson.h>
#include <stdbool.h>

/* The worker's settings (`sluice serve --config worker.json`). */
typedef struct sl_worker_conf {
    char *listeners;
    char *https_cert, *https_key, *https_key_password;
    char *auth_token;
    char *config_file;
    int config_storage;      /* 0: sqlite (config_file), 1: kafka (config_topic) */
    char *config_topic;
    int64_t config_rf;       /* of a config topic the worker creates; -1: the broker's default */
    sl_kafka_client kafka;   /* config.storage=kafka: bootstrap.servers and the security keys */
    char *offset_file;
    char *offset_topic;      /* offset.storage.* of connectors that set none */
    int64_t offset_partitions, offset_rf;
    char *file_allowed, *dir_allowed, *env_allowlist; /* config.providers.*: what connector configs may read */
    bool restart_auto;
    int64_t backoff_initial_ms, backoff_max_ms;
    char *log_level;
    char *advertised_host;
    int64_t advertised_port; /* 0: the first listener's */
    int64_t rest_max_conns, rest_max_per_addr;     /* connections in all, from one client address */
    int64_t rest_header_ms, rest_body_ms;          /* deadlines of a request's headers and body */
    char *migration_plans;   /* sluice migrate plans the daemon runs (comma-separated paths) */
    char *group_id;          /* distributed mode (worker/group.h); NULL or "": standalone */
    char *slots_topic;
    int64_t slots, slots_rf;
    int64_t session_ms, heartbeat_ms, rebalance_delay_ms;
    char *status_topic;
    int64_t status_partitions, status_rf;
} sl_worker_conf;

extern const sl_prop sl_worker_props[];

/* The files the worker's keys name (its SQLite stores, TLS files), added to u. */
void sl_worker_files(const sl_worker_conf *wc, sl_file_uses *u);
/* What the references of connector configs may read, per the worker's config.providers.* keys. */
sl_conf_refs sl_worker_conf_refs(const sl_worker_conf *wc);

/* Errors that reach the REST API: one code per kind, with its HTTP status. */
#define SL_WERR_CODES(X)                                                                                       \
    X(OK, 200)                                                                                                 \
    X(NOT_FOUND, 404)   /* no such connector or task */                                                        \
    X(EXISTS, 409)      /* created twice */                                                                    \
    X(INVALID, 400)     /* a bad config, or the connector is not in the state the request needs */            \
    X(BUSY, 409)        /* the connector is still stopping: try again */                                       \
    X(UNAVAILABLE, 503) /* the worker is shutting down */                                                      \
    X(INTERNAL, 500)    /* the config or offset store failed */

typedef enum {
#define SL_WERR_ENUM(name, status) SL_WERR_##name,
    SL_WERR_CODES(SL_WERR_ENUM)
#undef SL_WERR_ENUM
} sl_werr_code;

typedef struct sl_werr {
    sl_werr_code code;
    char msg[1024];
} sl_werr;

int sl_werr_status(sl_werr_code code);
const char *sl_werr_name(sl_werr_code code);

typedef enum { SL_TARGET_RUNNING, SL_TARGET_PAUSED, SL_TARGET_STOPPED } sl_target;
const char *sl_target_name(sl_target t);

/* A task above 0 of a connector (tasks.max): its state, failure trace and, run by another worker, that worker's id
 * and published state (state points there then). */
typedef struct sl_wtask_info {
    const char *state;
    char *trace;
    char owner[256];
    char owner_state[16];
} sl_wtask_info;

/* One connector as the REST API shows it: a copy taken under the worker's lock. */
typedef struct sl_wconn_info {
    char *name;
    json_t *config;    /* as submitted, secrets included (the REST layer hides them) */
    const char *type;  /* "source", "sink" or "unknown" */
    sl_target target;
    const char *state; /* UNASSIGNED, RUNNING, PAUSED, STOPPED or FAILED */
    char *trace;       /* FAILED: the reason and the restart plan; else NULL */
    int restarts;      /* automatic restarts so far */
    bool has_task;     /* false when STOPPED (Connect lists no tasks then) */
    char source[64], sink[64]; /* the source and sink plugins it runs */
    bool has_metrics;  /* an instance exists: metrics are set */
    sl_connector_metrics metrics;
    bool has_retained; /* sl_worker_measure_retained found something the server holds: retained is set */
    sl_source_retained retained;
    bool has_verify;   /* a verify run was started (since the worker started): verify is set */
    sl_verify_info verify;
    char owner[256];   /* distributed mode, run by another worker: its id ("": this worker's view) */
    char owner_state[16]; /* ... and the state it published (state points here) */
    int ntasks;        /* its tasks (0 when STOPPED); task 0 is the fields above */
    sl_wtask_info *more; /* tasks 1 .. ntasks - 1 */
} sl_wconn_info;

void sl_wconn_info_free(sl_wconn_info *info);

typedef struct sl_worker sl_worker;

/* Opens the config store and loads the connectors (started by sl_worker_start). wc must outlive the worker. */
sl_worker *sl_worker_new(const sl_worker_conf *wc, char *errstr, size_t errstr_size);
/* "host:port", shown as worker_id. Set before sl_worker_start. */
void sl_worker_set_id(sl_worker *w, const char *worker_id);
const char *sl_worker_id(const sl_worker *w);
/* The id of the Kafka cluster of the config store (config.storage=kafka), else "". */
const char *sl_worker_cluster_id(const sl_worker *w);
/* Starts the supervisor thread, which starts the connectors per their target states (distributed mode: first
 * joins the group, and runs the connectors of the slots it is given). 0, or -1 with errstr (the group). */
int sl_worker_start(sl_worker *w, char *errstr, size_t errstr_size);
/* Distributed mode: the task slots this worker holds (into out, at most max), the total in *nslots and the
 * rebalances it took part in (rebalances: NULL or set); -1 when the worker is standalone. */
int sl_worker_group_owned(sl_worker *w, int *out, int max, int *nslots, uint64_t *rebalances);
/* From now on health answers 503 and changes are refused. Async-signal-safe. */
void sl_worker_begin_shutdown(sl_worker *w);
bool sl_worker_shutting_down(const sl_worker *w);
/* Stops the supervisor and every connector (drain and commit), then frees everything. NULL: no-op. */
void sl_worker_destroy(sl_worker *w);

/*
 * A connector's sl_config from its JSON config object (values are strings):
 * ${env:...}/${file:...} resolved within the worker's config.providers.* limits
 * (w NULL: none), the worker's offset.storage.file.filename
 * added when the config has none. NULL with errstr set when a reference
 * cannot be resolved. The caller destroys it (after any connector using it).
 */
sl_config *sl_worker_build_config(const sl_worker *w, const char *name, const json_t *config, char *errstr,
                                  size_t errstr_size);
/* Replaces, in each message, the resolved value of every ${...} reference of config with [hidden]: errors
 * must not show what a reference read. cfg: the config built from it (NULL: nothing to hide). */
void sl_worker_hide_refs(const json_t *config, const sl_config *cfg, sl_errs *errs);
/* Connect's 400 message for a config that sl_connector_new rejected. */
void sl_worker_invalid_msg(const sl_errs *errs, char *out, size_t outsz);

/* Adds an error to errs for each file the connector c (to be named name) names that its other keys, the worker
 * or another connector also name (as sl_file_uses_check). Returns how many. */
int sl_worker_check_files(sl_worker *w, const char *name, const sl_connector *c, sl_errs *errs);

/* Every connector, in name order; *out is sl_malloc'ed (free each with sl_wconn_info_free, then the array). */
int sl_worker_list(sl_worker *w, bool metrics, sl_wconn_info **out);
int sl_worker_get(sl_worker *w, const char *name, bool metrics, sl_wconn_info *out, sl_werr *e);
/* Fills has_retained / retained of each of the n infos whose source can tell what its server keeps for it
 * (sl_source_ops.retained: a PostgreSQL slot's WAL), whatever the connector's state. Opens a short database
 * connection per such connector: call without any lock (the REST thread of a /metrics scrape). */
void sl_worker_measure_retained(const sl_worker *w, sl_wconn_info *v, int n);

typedef enum { SL_PUT_CREATE, SL_PUT_UPSERT, SL_PUT_UPDATE } sl_put_mode;
/* Validates (400 naming the keys), persists and (re)starts the connector with config (a JSON object of
 * strings; not owned). CREATE: 409 when it exists; UPDATE: 404 when it does not. */
int sl_worker_put(sl_worker *w, const char *name, const json_t *config, sl_put_mode mode, bool *created,
                  sl_werr *e);
/* Stops the connector and forgets its config (its offsets stay). */
int sl_worker_delete(sl_worker *w, const char *name, sl_werr *e);
/* pause / resume / stop. */
int sl_worker_set_target(sl_worker *w, const char *name, sl_target target, sl_werr *e);
/* Restarts the connector and its tasks (only_failed: only those FAILED); *restarting tells whether any does. */
int sl_worker_restart(sl_worker *w, const char *name, bool only_failed, bool *restarting, sl_werr *e);
/* Restarts one task (0: the connector's own instance, with the others). 404 when it has no such task. */
int sl_worker_restart_task(sl_worker *w, const char *name, int task, sl_werr *e);

/* sluice verify of the connector's stores (docs/verify.md), on a thread of its own: starts a run with o (its
 * output and cancel fields are the worker's); 409 while one runs. The run reads the config as it is now, whatever
 * the connector's state. */
int sl_worker_verify_start(sl_worker *w, const char *name, const sl_verify_opts *o, sl_werr *e);
/* POST /connectors/<name>/signals: hands a signal (its JSON text) to the running connector's source. */
int sl_worker_signal(sl_worker *w, const char *name, const char *json, sl_werr *e);
/* The last run: {"connector", "state": NONE | RUNNING | DONE | FAILED, "started", "ended", "seconds",
 * "report": the JSON report (DONE), "error" (FAILED)} (caller decrefs). */
json_t *sl_worker_verify_get(sl_worker *w, const char *name, sl_werr *e);

/* Offsets (KIP-875): a JSON array [{"partition": {...}, "offset": {...}}] (caller decrefs). */
json_t *sl_worker_offsets_get(sl_worker *w, const char *name, sl_werr *e);
/* Only when STOPPED. offsets: [{"partition": {...}, "offset": {...} | null}] (null removes). */
int sl_worker_offsets_alter(sl_worker *w, const char *name, const json_t *offsets, sl_werr *e);
int sl_worker_offsets_reset(sl_worker *w, const char *name, sl_werr *e);

/* The sluice migrate plans the worker runs (migration.plans, docs/migration.md): how many, the i-th, by name. */
struct sl_migration;
int sl_worker_migration_count(const sl_worker *w);
struct sl_migration *sl_worker_migration(const sl_worker *w, int i);
struct sl_migration *sl_worker_migration_find(const sl_worker *w, const char *name);

#endif
