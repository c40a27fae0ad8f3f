/*
 * The worker (see worker.h): connector entries, the supervisor thread and
 * the job threads that start and stop instances.
 *
 * An entry's wanted state is (target, gen): every config change and restart
 * request bumps gen, and an instance started for an older gen is replaced.
 * The supervisor compares it with what exists and hands the slow part to a
 * job thread: start (build the config, sl_connector_new, sl_connector_start)
 * or stop (sl_connector_stop, wait, destroy). An entry has at most one job at
 * a time; the supervisor joins it once it is done.
 */
#include "worker/worker.h"
#include "migrate/migrate.h"
#include "core/log.h"
#include "state/offsets.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "worker/group.h"
#include "worker/status.h"
#include "worker/store.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define F(x) offsetof(sl_worker_conf, x)
const sl_prop sl_worker_props[] = {
    {"listeners", SL_PT_LIST, "http://127.0.0.1:8083", NULL, 0, 0, 0, F(listeners),
     "Where the REST API listens: comma-separated http://host:port or https://host:port (host empty or 0.0.0.0: "
     "every IPv4 address, [::]: every address; port 0: any free port, logged at start)."},
    {"listeners.https.ssl.certificate.location", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_FILE_IN, F(https_cert),
     "PEM certificate (chain) of the https listeners.", "listeners.https.ssl.cert.location"},
    {"listeners.https.ssl.key.location", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_FILE_IN, F(https_key),
     "PEM private key of the https listeners."},
    {"listeners.https.ssl.key.password", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, F(https_key_password),
     "Password of an encrypted listeners.https.ssl.key.location."},
    {"rest.auth.token", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE, F(auth_token),
     "When set, every request must carry 'Authorization: Bearer <token>' (else 401)."},
    {"rest.advertised.host.name", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(advertised_host),
     "Host shown as the worker_id in statuses (default: the first listener's host, or this machine's name when it "
     "listens on every address)."},
    {"rest.advertised.port", SL_PT_INT, "0", NULL, 0, 65535, 0, F(advertised_port),
     "Port shown in the worker_id (default 0: the first listener's port)."},
    {"rest.connections.max", SL_PT_INT, "256", NULL, 1, 4096, 0, F(rest_max_conns),
     "Most REST connections open at once (each has a thread while open). One over the limit is answered 503 "
     "with Retry-After at once (an https one is closed: the answer would need a TLS handshake)."},
    {"rest.connections.max.per.address", SL_PT_INT, "32", NULL, 1, 4096, 0, F(rest_max_per_addr),
     "Most REST connections open at once from one client address (an IPv6 address counts by its /64; loopback "
     "included), below rest.connections.max so that a few slow or greedy clients cannot take every connection. "
     "One over the limit is answered as over rest.connections.max. Clients behind one address (a proxy, NAT, "
     "this host) share it."},
    {"rest.request.header.timeout.ms", SL_PT_INT, "10000", NULL, 100, 3600000, 0, F(rest_header_ms),
     "Longest time a REST client may take to send a request's headers, from the connection (on a kept-alive "
     "one: from the previous answer, so it is also how long an idle one stays open). Past it the connection is "
     "closed, however steadily bytes trickle in."},
    {"rest.request.body.timeout.ms", SL_PT_INT, "30000", NULL, 100, 3600000, 0, F(rest_body_ms),
     "Longest time a REST client may take to send a request's body (at most 1 MiB), from the end of its "
     "headers. Past it the connection is closed, however steadily bytes trickle in."},
    {"config.storage", SL_PT_ENUM, "sqlite", "sqlite|kafka", 0, 0, 0, F(config_storage),
     "Where every connector's config and target state (RUNNING, PAUSED, STOPPED) are kept across restarts: "
     "sqlite (config.storage.file.filename) or kafka (the compacted topic config.storage.topic, in Kafka Connect's "
     "format, reached through bootstrap.servers and the security keys). Either way a change is durable before "
     "the request is answered; configs are stored as submitted, secrets included."},
    {"config.storage.file.filename", SL_PT_STRING, "./sluice-worker.db", NULL, 0, 0,
     SL_PF_FILE_OUT | SL_PF_FILE_SHARED, F(config_file),
     "SQLite file keeping every connector's config and target state (RUNNING, PAUSED, STOPPED) across restarts "
     "(config.storage=sqlite)."},
    {"config.storage.topic", SL_PT_STRING, "connect-configs", NULL, 0, 0, 0, F(config_topic),
     "Compacted topic of the connector configs and target states (config.storage=kafka): records "
     "connector-<name> {\"properties\": {...}} and target-state-<name> {\"state\": ...}, as Kafka Connect writes "
     "them. Created with one partition when missing; an existing one must have exactly one."},
    {"config.storage.replication.factor", SL_PT_INT, "-1", NULL, -1, 32767, 0, F(config_rf),
     "Replication factor of config.storage.topic when the worker creates it; -1: the broker's default."},
    SL_KAFKA_CLIENT_PROPS_DOC(sl_worker_conf, kafka,
                              "Kafka brokers, host:port[,host:port...]: of the config topic (config.storage=kafka; "
                              "required then), and the bootstrap.servers of every connector that needs Kafka and "
                              "sets none (as in Kafka Connect)."),
    {"offset.storage.file.filename", SL_PT_STRING, "./sluice-offsets.db", NULL, 0, 0,
     SL_PF_FILE_OUT | SL_PF_FILE_SHARED, F(offset_file),
     "Offset store of the connectors whose config does not set offset.storage.file.filename."},
    {"offset.storage.topic", SL_PT_STRING, "connect-offsets", NULL, 0, 0, 0, F(offset_topic),
     "offset.storage.topic of the connectors whose config sets none. A distributed worker's connectors keep their "
     "offsets there (offset.storage=kafka unless the config says target; sqlite is refused: a connector may run "
     "on any worker of the group)."},
    {"offset.storage.partitions", SL_PT_INT, "25", NULL, 1, 10000, 0, F(offset_partitions),
     "offset.storage.partitions of the connectors whose config sets none."},
    {"offset.storage.replication.factor", SL_PT_INT, "-1", NULL, -1, 32767, 0, F(offset_rf),
     "offset.storage.replication.factor of the connectors whose config sets none."},
    {"config.providers.file.param.allowed.paths", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(file_allowed),
     "Directories (absolute, comma-separated) that ${file:...} references in connector configs may read, as Kafka "
     "Connect's FileConfigProvider allowed.paths: a file outside them, after '..' and symlinks are resolved, is "
     "refused with an error naming the config key, the path and this list. Unset: any file the worker can read. "
     "Then every client that may create a connector can read any such file into a topic name or another value it "
     "can see: set this (and rest.auth.token) unless every client is trusted. Connector configs only, not this "
     "worker config."},
    {"config.providers.dir.param.allowed.paths", SL_PT_LIST, NULL, NULL, 0, 0, 0, F(dir_allowed),
     "The same for ${dir:...} references (Kafka's DirectoryConfigProvider). Unset: "
     "config.providers.file.param.allowed.paths."},
    {"config.providers.env.param.allowlist.pattern", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(env_allowlist),
     "Regular expression (POSIX extended) that the whole name of each environment variable a ${env:...} reference "
     "in a connector config reads must match, as Kafka Connect's EnvVarConfigProvider allowlist.pattern; another "
     "name is refused with an error naming the config key. Unset: every variable of the worker's environment."},
    {"task.restart.auto", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(restart_auto),
     "Restart a failed connector by itself, after an exponential backoff (Kafka Connect leaves it FAILED)."},
    {"task.restart.backoff.initial.ms", SL_PT_INT, "1000", NULL, 1, 86400000, 0, F(backoff_initial_ms),
     "Wait before the first automatic restart; doubled after each further failure."},
    {"task.restart.backoff.max.ms", SL_PT_INT, "60000", NULL, 1, 86400000, 0, F(backoff_max_ms),
     "Longest wait between automatic restarts; a connector that ran this long without failing starts over at "
     "the initial backoff."},
    {"log.level", SL_PT_STRING, "info", NULL, 0, 0, 0, F(log_level),
     "error, warn, info, debug or trace. The level is process-wide: a connector whose config sets log.level "
     "changes it when it starts."},
    {"migration.plans", SL_PT_LIST, "", NULL, 0, 0, 0, F(migration_plans),
     "sluice migrate plans the daemon runs, each on a thread of its own as `sluice migrate run` would (state in "
     "the plan's state file, resumed at start): comma-separated paths. GET /migrations and /migrations/<name> "
     "show them, POST /migrations/<name>/approve|rollback|finish asks them (docs/migration.md). A plan that is "
     "not valid stops the daemon from starting."},
    {"group.id", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(group_id),
     "Distributed mode: the workers with the same group.id share the connectors (each runs on one of them; a "
     "worker that is gone has its connectors run elsewhere after session.timeout.ms), through a Kafka consumer "
     "group over task.slots.topic (docs/ARCHITECTURE.md). Needs config.storage=kafka (the workers share the config "
     "topic: a change through any worker's REST API reaches them all). Unset: a standalone worker."},
    {"task.slots.topic", SL_PT_STRING, "connect-task-slots", NULL, 0, 0, 0, F(slots_topic),
     "Distributed mode: the topic whose partitions stand for task slots (nothing is written to it); a connector "
     "runs on the worker the group gives its slot (a hash of its name)."},
    {"task.slots", SL_PT_INT, "32", NULL, 1, 4096, 0, F(slots),
     "Distributed mode: the partitions of task.slots.topic when the worker creates it (an existing topic keeps "
     "its count). More slots than workers spread connectors more evenly."},
    {"task.slots.replication.factor", SL_PT_INT, "-1", NULL, -1, 32767, 0, F(slots_rf),
     "Distributed mode: replication factor of task.slots.topic when the worker creates it (-1: the broker's "
     "default)."},
    {"session.timeout.ms", SL_PT_INT, "10000", NULL, 1000, 3600000, 0, F(session_ms),
     "Distributed mode: a worker not heard from for this long loses its slots to the others; one that restarts "
     "within it (static membership: its worker id) gets them back without a rebalance."},
    {"scheduled.rebalance.max.delay.ms", SL_PT_INT, "0", NULL, 0, 3600000, 0, F(rebalance_delay_ms),
     "Distributed mode: how long the group keeps a departed worker's slots for it, on top of session.timeout.ms, "
     "before the others take them (a worker that comes back meanwhile, by its id, gets them back without a "
     "rebalance). The group's session timeout is the sum, so a worker that is gone is noticed after it too. Kafka "
     "Connect's default is 300000; sluice's is 0, since a restarted worker (static membership) keeps its slots "
     "through session.timeout.ms already."},
    {"heartbeat.interval.ms", SL_PT_INT, "3000", NULL, 100, 3600000, 0, F(heartbeat_ms),
     "Distributed mode: how often a worker tells the group it is alive (below session.timeout.ms / 3)."},
    {"status.storage.topic", SL_PT_STRING, "connect-status", NULL, 0, 0, 0, F(status_topic),
     "Distributed mode: compacted topic of the connectors' states as the workers that run them publish them "
     "(Kafka Connect's records: status-connector-<name>, status-task-<name>-0 {\"state\", \"trace\", "
     "\"worker_id\", \"generation\"}), so that every worker answers a status with the owner's state and id."},
    {"status.storage.partitions", SL_PT_INT, "5", NULL, 1, 1000, 0, F(status_partitions),
     "Distributed mode: partitions of status.storage.topic when the worker creates it."},
    {"status.storage.replication.factor", SL_PT_INT, "-1", NULL, -1, 32767, 0, F(status_rf),
     "Distributed mode: replication factor of status.storage.topic when the worker creates it (-1: the broker's "
     "default)."},
    {NULL}};
#undef F

void sl_worker_files(const sl_worker_conf *wc, sl_file_uses *u) {
    int first = u->n;
    sl_file_uses_add_props(u, sl_worker_props, wc, "the worker", 0);
    if (wc->config_storage == 1) sl_file_uses_drop(u, first, "config.storage.file.filename"); /* unused */
}

sl_conf_refs sl_worker_conf_refs(const sl_worker_conf *wc) {
    return (sl_conf_refs){wc->file_allowed, wc->dir_allowed ? wc->dir_allowed : wc->file_allowed, wc->env_allowlist};
}

int sl_werr_status(sl_werr_code code) {
    static const int status[] = {
#define SL_WERR_STATUS(name, st) st,
        SL_WERR_CODES(SL_WERR_STATUS)
#undef SL_WERR_STATUS
    };
    return status[code];
}

const char *sl_werr_name(sl_werr_code code) {
    static const char *names[] = {
#define SL_WERR_NAME(name, st) #name,
        SL_WERR_CODES(SL_WERR_NAME)
#undef SL_WERR_NAME
    };
    return names[code];
}

static int werr(sl_werr *e, sl_werr_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int werr(sl_werr *e, sl_werr_code code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    sl_log_redact(e->msg);
    e->code = code;
    return -1;
}

const char *sl_target_name(sl_target t) {
    static const char *n[] = {"RUNNING", "PAUSED", "STOPPED"};
    return n[t];
}

static int parse_target(const char *s) {
    for (int t = SL_TARGET_RUNNING; t <= SL_TARGET_STOPPED; t++)
        if (strcmp(s, sl_target_name((sl_target)t)) == 0) return t;
    return -1;
}

typedef struct wconn {
    char *name;
    int task;                 /* 0: the connector (and its task 0); above: one more of its tasks (tasks.max) */
    int ntasks;               /* the connector's tasks (task 0 only; set by sync_tasks) */
    uint64_t ntasks_gen;      /* ... for gen + 1 (0: not yet) */
    uint64_t bump;            /* task above 0: its own restarts (its gen is the connector's plus these) */
    json_t *config;           /* as submitted */
    sl_target target;
    uint64_t gen;             /* bumped by config changes and restart requests */
    bool deleted;             /* gone from the API; freed once its instance is */
    sl_connector *conn;       /* the instance (NULL: none) */
    sl_config *cfg;           /* conn's config: destroyed after it */
    uint64_t conn_gen;        /* gen conn was started for */
    int64_t running_since_ms;
    bool job;                 /* a job thread owns the start or stop of an instance */
    bool job_done;            /* ... and has finished: the supervisor joins it */
    pthread_t job_thr;
    int offsets_busy;         /* an offsets request is reading or writing the store: do not start */
    bool failed, finished;    /* finished: the source ended by itself without an error */
    char *trace;
    int restarts;             /* automatic restarts */
    int fails;                /* failures in a row: the backoff exponent */
    int64_t next_start_ms;
    sl_file_uses files;       /* the files its config names (for clashes with another's) */
    /* sluice verify: the last run (POST /connectors/<name>/verify) */
    bool verifying;           /* its thread exists (joined by the supervisor once verify.running is false) */
    pthread_t verify_thr;
    _Atomic int verify_cancel;
    bool has_verify;
    sl_verify_info verify;
    char *verify_report;      /* DONE: the JSON report */
    char *verify_error;       /* FAILED */
    char status_put[16];      /* distributed mode: the state last published ("-": the tombstone) */
} wconn;

struct sl_worker {
    const sl_worker_conf *wc;
    sl_wstore *store;
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* broadcast when a job ends */
    pthread_cond_t wake;      /* wakes the supervisor before its next tick: something changed */
    wconn **cs;
    int n, cap;
    pthread_t sup;
    bool sup_started;
    _Atomic int stop_sup;
    _Atomic int shutting_down;
    int log_level;
    char id[256];
    sl_file_uses files;       /* the worker's own: its config store, offset store, TLS files */
    sl_migration **migs;      /* migration.plans */
    int nmigs;
    sl_wgroup *group;         /* distributed mode: which connectors this worker runs (group.id); NULL standalone */
    sl_wstatus *status;       /* distributed mode: the states every worker publishes */
    int64_t status_gen;       /* ... and the generation this worker publishes with (since its last assignment) */
};

static bool distributed(const sl_worker *w) { return w->wc->group_id && *w->wc->group_id; }

/* Distributed mode: whether this worker runs e now (its slot is this worker's). Worker lock held. */
/* What places an entry on a task slot: the connector's name for task 0 (as Connect names tasks: <name>-<id>
 * for the others). */
static void task_key(const wconn *e, char *out, size_t n) {
    if (e->task) snprintf(out, n, "%s-%d", e->name, e->task);
    else snprintf(out, n, "%s", e->name);
}

static bool mine(const sl_worker *w, const wconn *e) {
    if (!distributed(w)) return true;
    char key[600];
    task_key(e, key, sizeof key);
    return w->group && sl_wgroup_owns(w->group, key);
}

/* ---- entries (worker lock held) ---- */

static wconn *find_task(sl_worker *w, const char *name, int task) {
    for (int i = 0; i < w->n; i++)
        if (!w->cs[i]->deleted && w->cs[i]->task == task && strcmp(w->cs[i]->name, name) == 0) return w->cs[i];
    return NULL;
}

static wconn *find(sl_worker *w, const char *name) { return find_task(w, name, 0); }

static wconn *add(sl_worker *w, const char *name, json_t *config, sl_target target) {
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->cs = sl_realloc(w->cs, (size_t)w->cap * sizeof *w->cs);
    }
    wconn *e = sl_calloc(1, sizeof *e);
    e->name = sl_strdup(name);
    e->config = config;
    e->target = target;
    e->gen = 1;
    e->ntasks = 1;
    w->cs[w->n++] = e;
    return e;
}

static void entry_free(wconn *e) {
    sl_free(e->verify_report);
    sl_free(e->verify_error);
    sl_file_uses_free(&e->files);
    json_decref(e->config);
    sl_free(e->trace);
    sl_free(e->name);
    sl_free(e);
}

/* A deleted entry of the same name still holding an instance: the new one waits for it (same slot, same files). */
static bool predecessor_alive(sl_worker *w, const wconn *e) {
    for (int i = 0; i < w->n; i++) {
        const wconn *o = w->cs[i];
        if (o != e && o->deleted && (o->conn || o->job) && o->task == e->task && strcmp(o->name, e->name) == 0)
            return true;
    }
    return false;
}

/* Forgets a failure: the next start is a fresh one (config change, restart request). */
static void clear_failure(wconn *e) {
    e->failed = e->finished = false;
    e->fails = 0;
    e->next_start_ms = 0;
    sl_free(e->trace);
    e->trace = NULL;
}

/* The restart policy is the same for every kind of failure (code is logged): a retriable one may pass, and a
 * fatal one may have been fixed at the server meanwhile (a purged binlog, a missing slot, a privilege). */
static void record_failure(sl_worker *w, wconn *e, const char *err, sl_err_code code) {
    e->failed = true;
    e->fails++;
    int64_t delay = w->wc->backoff_initial_ms;
    for (int i = 1; i < e->fails && delay < w->wc->backoff_max_ms; i++) delay *= 2;
    if (delay > w->wc->backoff_max_ms) delay = w->wc->backoff_max_ms;
    e->next_start_ms = sl_mono_ms() + delay;
    char plan[256];
    if (w->wc->restart_auto)
        snprintf(plan, sizeof plan, "automatic restart %d in %lld ms (failures in a row: %d)", e->restarts + 1,
                 (long long)delay, e->fails);
    else
        snprintf(plan, sizeof plan, "task.restart.auto=false: restart it with POST /connectors/%s/restart", e->name);
    size_t n = strlen(err) + strlen(plan) + 64;
    sl_free(e->trace);
    e->trace = sl_malloc(n);
    snprintf(e->trace, n, "%s\n\tsluice: %s", err, plan);
    SL_ERR("worker", "connector failed: connector=%s restarts=%d code=%s error=%s next=%s", e->name, e->restarts,
           sl_err_name(code), err, plan);
}

/* Connect's type, and the source and sink plugins that will run, from the config alone. */
static const char *type_of(const json_t *config, char *source, size_t srcsz, char *sink, size_t sinksz) {
    const char *cls = json_string_value(json_object_get(config, "connector.class"));
    const char *st = json_string_value(json_object_get(config, "sink.type"));
    const sl_source_ops *so = cls ? sl_source_find(cls) : NULL;
    const sl_sink_ops *as_sink = !so && cls ? sl_sink_find(cls) : NULL; /* a Connect sink config: topics -> it */
    const sl_sink_ops *si = sl_sink_find(st ? st : as_sink ? as_sink->name : sl_connector_default_sink());
    const sl_source_ops *topics = sl_source_of_topics();
    snprintf(source, srcsz, "%s", so ? so->name : as_sink && topics ? topics->name : cls ? cls : "");
    snprintf(sink, sinksz, "%s", si ? si->name : st ? st : "");
    return so ? "source" : as_sink ? "sink" : "unknown";
}

static const char *state_of(const wconn *e) {
    if (e->target == SL_TARGET_STOPPED) return "STOPPED";
    if (e->conn && e->conn_gen == e->gen && sl_connector_running(e->conn))
        return sl_connector_paused(e->conn) ? "PAUSED" : "RUNNING";
    if (e->failed) return "FAILED";
    if (e->finished) return "STOPPED";
    if (e->target == SL_TARGET_PAUSED && !e->conn && !e->job) return "PAUSED";
    return "UNASSIGNED";
}

static void info_fill(const wconn *e, bool metrics, sl_wconn_info *out) {
    memset(out, 0, sizeof *out);
    out->name = sl_strdup(e->name);
    out->config = json_deep_copy(e->config);
    out->type = type_of(e->config, out->source, sizeof out->source, out->sink, sizeof out->sink);
    out->target = e->target;
    out->state = state_of(e);
    out->trace = e->failed && e->trace ? sl_strdup(e->trace) : NULL;
    out->restarts = e->restarts;
    out->has_task = e->target != SL_TARGET_STOPPED && !e->finished;
    if (metrics && e->conn) {
        out->has_metrics = true;
        sl_connector_get_metrics(e->conn, &out->metrics);
    }
    out->has_verify = e->has_verify;
    out->verify = e->verify;
}

/* Distributed mode: a task another worker runs shows that worker's published state and id (owner, owner_state;
 * task 0: the connector's record). Worker lock held. */
static void task_owner(const sl_worker *w, const wconn *e, char *state, size_t ssz, char *owner, size_t osz) {
    if (!w->status || mine(w, e) || e->target == SL_TARGET_STOPPED) return;
    if (sl_wstatus_get(w->status, e->name, e->task, state, ssz, owner, osz) && !strcmp(owner, w->id))
        owner[0] = 0; /* what this worker published before it gave the task up: its own view is newer */
}

/* The connector's owner, and its tasks above 0 (each from its entry and, run elsewhere, its owner's record). */
static void info_owner(sl_worker *w, const wconn *e, sl_wconn_info *out) {
    task_owner(w, e, out->owner_state, sizeof out->owner_state, out->owner, sizeof out->owner);
    out->ntasks = out->has_task ? e->ntasks : 0;
    if (out->ntasks > 1) out->more = sl_calloc((size_t)out->ntasks - 1, sizeof *out->more);
    for (int t = 1; t < out->ntasks; t++) {
        sl_wtask_info *ti = &out->more[t - 1];
        const wconn *c = find_task(w, e->name, t);
        ti->state = c ? state_of(c) : "UNASSIGNED";
        if (!c) continue;
        if (c->failed && c->trace) ti->trace = sl_strdup(c->trace);
        task_owner(w, c, ti->owner_state, sizeof ti->owner_state, ti->owner, sizeof ti->owner);
        if (ti->owner[0]) ti->state = ti->owner_state;
    }
}

/* Distributed mode: another worker runs (or stops) the connector: its published state is not STOPPED yet. */
static bool runs_elsewhere(const sl_worker *w, const wconn *e) {
    char st[16], owner[256];
    if (!w->status || mine(w, e) || !sl_wstatus_get(w->status, e->name, 0, st, sizeof st, owner, sizeof owner))
        return false;
    return strcmp(owner, w->id) != 0 && strcmp(st, "STOPPED") != 0 && strcmp(st, "UNASSIGNED") != 0;
}

void sl_wconn_info_free(sl_wconn_info *info) {
    if (!info) return;
    sl_free(info->name);
    json_decref(info->config);
    sl_free(info->trace);
    for (int t = 1; t < info->ntasks; t++) sl_free(info->more[t - 1].trace);
    sl_free(info->more);
    memset(info, 0, sizeof *info);
}

/* ---- configs ---- */

sl_config *sl_worker_build_config(const sl_worker *w, const char *name, const json_t *config, char *errstr,
                                  size_t errsz) {
    json_t *doc = json_object();
    json_object_set_new(doc, "name", json_string(name));
    json_object_set(doc, "config", (json_t *)config);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char origin[300];
    snprintf(origin, sizeof origin, "connector %s", name);
    sl_conf_refs refs = w ? sl_worker_conf_refs(w->wc) : (sl_conf_refs){0};
    sl_config *cfg = text ? sl_config_parse_json_refs(text, origin, &refs, errstr, errsz) : NULL;
    if (!text) snprintf(errstr, errsz, "%s: the config cannot be encoded (invalid UTF-8?)", origin);
    free(text);
    if (!cfg || !w) return cfg;
    const sl_worker_conf *wc = w->wc;
    char num[3][24];
    snprintf(num[0], sizeof num[0], "%lld", (long long)wc->offset_partitions);
    snprintf(num[1], sizeof num[1], "%lld", (long long)wc->offset_rf);
    const char *defaults[][2] = {{"offset.storage.file.filename", wc->offset_file},
                                 {"offset.storage.topic", wc->offset_topic},
                                 {"offset.storage.partitions", num[0]},
                                 {"offset.storage.replication.factor", num[1]},
                                 /* distributed: the connector may run on any worker, and an older instance may
                                  * still run on one that lost it */
                                 {"offset.storage", distributed(w) ? "kafka" : NULL},
                                 {"task.fencing", distributed(w) ? "true" : NULL}};
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
        if (defaults[i][1] && !sl_config_get(cfg, defaults[i][0])) sl_config_set(cfg, defaults[i][0], defaults[i][1]);
    const char *st = sl_config_get(cfg, "offset.storage");
    if (distributed(w) && st && !strcmp(st, "sqlite")) {
        snprintf(errstr, errsz, "offset.storage: sqlite keeps offsets in a file of one machine, and a distributed "
                                "worker's connector runs on any worker of group.id %s: use kafka (the default "
                                "here: the worker's offset.storage.topic) or target", wc->group_id);
        sl_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

void sl_worker_invalid_msg(const sl_errs *errs, char *out, size_t outsz) {
    size_t n = (size_t)snprintf(out, outsz, "Connector configuration is invalid and contains the following %d error(s):",
                                errs->n);
    for (int i = 0; i < errs->n && n < outsz; i++) n += (size_t)snprintf(out + n, outsz - n, "\n%s", errs->msg[i]);
    if (n < outsz)
        snprintf(out + n, outsz - n, "\nYou can also find the above list of errors at the endpoint "
                                     "`/connector-plugins/{connectorType}/config/validate`");
}

/* msg with the resolved value of each ${...} reference of config replaced by [hidden]: an error message
 * must not show what a reference read (a file's content, an environment variable). New string. */
static char *hide_refs_str(const json_t *config, const sl_config *cfg, const char *msg) {
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, msg);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)config, k, v) {
        const char *raw = json_string_value(v), *val = cfg ? sl_config_get(cfg, k) : NULL;
        if (!raw || !strstr(raw, "${") || !val || strlen(val) < 4 || strcmp(raw, val) == 0) continue;
        sl_buf out;
        sl_buf_init(&out);
        const char *p = sl_buf_cstr(&b), *hit;
        while ((hit = strstr(p, val)) != NULL) {
            sl_buf_put(&out, p, (size_t)(hit - p));
            sl_buf_puts(&out, "[hidden]");
            p = hit + strlen(val);
        }
        sl_buf_puts(&out, p);
        sl_buf_free(&b);
        b = out;
    }
    sl_buf_cstr(&b);
    return b.data;
}

void sl_worker_hide_refs(const json_t *config, const sl_config *cfg, sl_errs *errs) {
    for (int i = 0; i < errs->n; i++) {
        char *h = hide_refs_str(config, cfg, errs->msg[i]);
        sl_free(errs->msg[i]);
        errs->msg[i] = h;
    }
}

static void owner_of(const char *name, char *out, size_t outsz) { snprintf(out, outsz, "connector %s", name); }

/*
 * Two keys naming one file: the files of connector `name` against each other, the worker's own and every other
 * connector's. Errors to errs, naming both keys (and the other connector). Worker lock held.
 */
static int check_files_locked(sl_worker *w, const char *name, const sl_file_uses *files, sl_errs *errs) {
    sl_file_uses u = {0};
    sl_file_uses_append(&u, files);
    sl_file_uses_append(&u, &w->files);
    for (int i = 0; i < w->n; i++)
        if (!w->cs[i]->deleted && strcmp(w->cs[i]->name, name) != 0) sl_file_uses_append(&u, &w->cs[i]->files);
    int bad = sl_file_uses_check(&u, files->n, errs);
    sl_file_uses_free(&u);
    return bad;
}

int sl_worker_check_files(sl_worker *w, const char *name, const sl_connector *c, sl_errs *errs) {
    char owner[300];
    owner_of(name, owner, sizeof owner);
    sl_file_uses files = {0};
    sl_connector_files(c, owner, 0, &files);
    pthread_mutex_lock(&w->lock);
    int bad = check_files_locked(w, name, &files, errs);
    pthread_mutex_unlock(&w->lock);
    sl_file_uses_free(&files);
    return bad;
}

/* Builds and validates a config the way a start will: 0 and the files it names added to files (NULL: not
 * wanted), or -1 with a 400 naming the keys. */
static int validate(const sl_worker *w, const char *name, const json_t *config, sl_file_uses *files, sl_werr *e) {
    char err[1024];
    sl_config *cfg = sl_worker_build_config(w, name, config, err, sizeof err);
    sl_errs errs = {0};
    if (!cfg) sl_errs_add(&errs, "%s", err);
    sl_connector *c = cfg ? sl_connector_new(cfg, &errs) : NULL;
    int rc = 0;
    if (c && files) {
        char owner[300];
        owner_of(name, owner, sizeof owner);
        sl_connector_files(c, owner, 0, files);
    }
    if (!c) {
        sl_worker_hide_refs(config, cfg, &errs);
        sl_worker_invalid_msg(&errs, e->msg, sizeof e->msg);
        e->code = SL_WERR_INVALID;
        rc = -1;
    }
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    sl_errs_free(&errs);
    return rc;
}

/* ---- jobs ---- */

typedef struct job {
    sl_worker *w;
    wconn *e;
    uint64_t gen;
    json_t *config;      /* start: the config to start with */
    sl_connector *conn;  /* stop: the detached instance */
    sl_config *cfg;
    bool ended;          /* stop: its threads had ended by themselves */
} job;

static void job_finish(job *j) {
    sl_worker *w = j->w;
    j->e->job_done = true;
    pthread_cond_broadcast(&w->changed);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    json_decref(j->config);
    sl_free(j);
}

/* Job thread: starts an instance for gen j->gen and attaches it, unless the entry moved on meanwhile. */
static void *start_main(void *arg) {
    job *j = arg;
    sl_worker *w = j->w;
    wconn *e = j->e;
    char err[1024] = "";
    sl_errs errs = {0};
    sl_config *cfg = sl_worker_build_config(w, e->name, j->config, err, sizeof err);
    if (cfg && e->task) { /* (e->task never changes) */
        char id[16];
        snprintf(id, sizeof id, "%d", e->task);
        sl_config_set(cfg, "task.id", id);
    }
    sl_connector *c = cfg ? sl_connector_new(cfg, &errs) : NULL;
    if (cfg && !c) sl_worker_invalid_msg(&errs, err, sizeof err);
    sl_errs_free(&errs);
    pthread_mutex_lock(&w->lock);
    bool start_paused = e->target == SL_TARGET_PAUSED; /* not a record read before the pause applies */
    pthread_mutex_unlock(&w->lock);
    if (c && start_paused) sl_connector_pause(c);
    int rc = c ? sl_connector_start(c, err, sizeof err) : -1;
    sl_err_code code = c ? sl_connector_error_code(c) : SL_E_CONFIG; /* without a connector: its config */
    if (cfg && !sl_config_get(cfg, "log.level")) sl_log_set_level((sl_log_level)w->log_level);
    if (rc < 0) {
        char *h = hide_refs_str(j->config, cfg, err);
        snprintf(err, sizeof err, "%s", h);
        sl_free(h);
        sl_log_redact(err);
        sl_connector_destroy(c);
        sl_config_destroy(cfg);
        c = NULL, cfg = NULL;
    }
    pthread_mutex_lock(&w->lock);
    bool wanted = e->gen == j->gen && !e->deleted && e->target != SL_TARGET_STOPPED;
    if (rc == 0 && wanted) {
        e->conn = c, e->cfg = cfg, e->conn_gen = j->gen;
        e->running_since_ms = sl_mono_ms();
        e->failed = e->finished = false;
        if (e->target == SL_TARGET_PAUSED) sl_connector_pause(c);
        else sl_connector_resume(c); /* resumed while it started */
        c = NULL, cfg = NULL;
    } else if (rc < 0 && wanted) {
        record_failure(w, e, err, code);
    }
    if (c) { /* superseded while starting: stop it before the entry may start another */
        pthread_mutex_unlock(&w->lock);
        sl_connector_stop(c);
        sl_connector_wait(c, err, sizeof err);
        sl_connector_destroy(c);
        sl_config_destroy(cfg);
        pthread_mutex_lock(&w->lock);
    }
    job_finish(j);
    return NULL;
}

/* Job thread: stops a detached instance (drain and commit) and records how it ended. */
static void *stop_main(void *arg) {
    job *j = arg;
    sl_worker *w = j->w;
    wconn *e = j->e;
    char err[1024] = "";
    sl_connector_stop(j->conn);
    int rc = sl_connector_wait(j->conn, err, sizeof err);
    sl_err_code code = sl_connector_error_code(j->conn);
    sl_connector_destroy(j->conn);
    sl_config_destroy(j->cfg);
    pthread_mutex_lock(&w->lock);
    if (j->ended && !e->deleted && e->gen == j->gen) {
        if (rc < 0) {
            record_failure(w, e, err, code);
        } else {
            e->finished = true;
            SL_INFO("worker", "connector finished: its source ended by itself connector=%s", e->name);
        }
    } else if (rc < 0) {
        SL_WARN("worker", "connector failed while stopping: connector=%s error=%s", e->name, err);
    } else {
        SL_INFO("worker", "connector stopped cleanly connector=%s", e->name);
    }
    job_finish(j);
    return NULL;
}

static void spawn(sl_worker *w, wconn *e, void *(*fn)(void *), job *j) {
    j->w = w, j->e = e;
    e->job = true;
    e->job_done = false;
    int rc = pthread_create(&e->job_thr, NULL, fn, j);
    if (rc != 0) {
        SL_ERR("worker", "cannot create a thread: %s", strerror(rc));
        abort(); /* as on OOM: the worker cannot make progress */
    }
}

/* ---- supervisor ---- */

/* One entry's step; returns true when the entry was freed. Worker lock held. */
static bool reconcile(sl_worker *w, wconn *e, int64_t now) {
    if (e->job && e->job_done) {
        pthread_join(e->job_thr, NULL);
        e->job = false;
    }
    if (e->verifying && !e->verify.running) {
        pthread_join(e->verify_thr, NULL);
        e->verifying = false;
    }
    if (e->job) return false;
    if (e->conn) {
        bool ended = !sl_connector_running(e->conn);
        if (ended || e->deleted || e->target == SL_TARGET_STOPPED || e->conn_gen != e->gen || !mine(w, e)) {
            job *j = sl_calloc(1, sizeof *j);
            j->conn = e->conn, j->cfg = e->cfg, j->gen = e->conn_gen, j->ended = ended;
            e->conn = NULL, e->cfg = NULL;
            spawn(w, e, stop_main, j);
            return false;
        }
        if (e->target == SL_TARGET_PAUSED && !sl_connector_paused(e->conn)) sl_connector_pause(e->conn);
        if (e->target == SL_TARGET_RUNNING && sl_connector_paused(e->conn)) sl_connector_resume(e->conn);
        if (e->fails && now - e->running_since_ms >= w->wc->backoff_max_ms) e->fails = 0; /* stable again */
        return false;
    }
    if (e->deleted) {
        if (e->offsets_busy || e->verifying) return false;
        entry_free(e);
        return true;
    }
    if (e->target != SL_TARGET_RUNNING || e->finished || e->offsets_busy || atomic_load(&w->shutting_down) ||
        !mine(w, e))
        return false;
    if (e->failed && (!w->wc->restart_auto || now < e->next_start_ms)) return false;
    if (predecessor_alive(w, e)) return false;
    if (e->failed) {
        e->restarts++;
        SL_INFO("worker", "restarting failed connector connector=%s restart=%d", e->name, e->restarts);
    }
    job *j = sl_calloc(1, sizeof *j);
    j->gen = e->gen;
    j->config = json_deep_copy(e->config);
    spawn(w, e, start_main, j);
    return false;
}

/* Distributed mode: the state of a connector this worker runs, published when it changed (its tombstone once
 * deleted). The worker a connector's slot went to publishes next; a worker gone leaves its last state until then. */
static void publish_status(sl_worker *w, wconn *e) {
    if (!w->status || !mine(w, e)) return;
    const char *st = e->deleted ? "-" : state_of(e);
    if (!strcmp(st, e->status_put)) return;
    sl_wstatus_put(w->status, e->name, e->task, e->deleted ? NULL : st, e->failed ? e->trace : NULL, w->status_gen);
    snprintf(e->status_put, sizeof e->status_put, "%s", st);
}

/* How many tasks the entry's config runs (sl_connector_tasks; 1 when it cannot be built: its start says why). */
static int tasks_of(const sl_worker *w, const wconn *e) {
    char err[1024];
    sl_errs errs = {0};
    sl_config *cfg = sl_worker_build_config(w, e->name, e->config, err, sizeof err);
    sl_connector *c = cfg ? sl_connector_new(cfg, &errs) : NULL;
    int n = c ? sl_connector_tasks(c) : 1;
    sl_connector_destroy(c);
    sl_config_destroy(cfg);
    sl_errs_free(&errs);
    return n;
}

/* The entries of tasks above 0 follow their connector's: one for each task tasks.max gives it, with its config,
 * target and generation (plus the task's own restarts); gone with it. Worker lock held. */
static void sync_tasks(sl_worker *w) {
    for (int i = 0; i < w->n; i++) {
        wconn *e = w->cs[i];
        if (e->deleted || e->task) continue;
        if (e->ntasks_gen != e->gen + 1) {
            int n = tasks_of(w, e);
            if (n != e->ntasks) SL_INFO("worker", "connector=%s runs %d task(s)", e->name, n);
            e->ntasks = n, e->ntasks_gen = e->gen + 1;
        }
        for (int t = 1; t < e->ntasks; t++) {
            wconn *c = find_task(w, e->name, t);
            if (!c) {
                c = add(w, e->name, json_incref(e->config), e->target), c->task = t; /* (may move w->cs) */
                e = w->cs[i];
            }
            if (c->config != e->config) json_decref(c->config), c->config = json_incref(e->config);
            if (c->target != e->target && e->target == SL_TARGET_RUNNING) c->finished = false;
            c->target = e->target;
            if (c->gen != e->gen + c->bump) c->gen = e->gen + c->bump, clear_failure(c); /* (a change, a restart) */
        }
    }
    for (int i = 0; i < w->n; i++) {
        wconn *c = w->cs[i];
        if (c->deleted || !c->task) continue;
        const wconn *e = find(w, c->name);
        if (!e || c->task >= e->ntasks) c->deleted = true;
    }
}

/* Every 100 ms, and at once when a request or a job wakes it. */
static void *supervisor_main(void *arg) {
    sl_worker *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!atomic_load(&w->stop_sup)) {
        int64_t now = sl_mono_ms();
        sync_tasks(w);
        for (int i = 0; i < w->n; i++)
            if (publish_status(w, w->cs[i]), reconcile(w, w->cs[i], now)) {
                memmove(&w->cs[i], &w->cs[i + 1], (size_t)(w->n - i - 1) * sizeof *w->cs);
                w->n--, i--;
            }
        pthread_cond_broadcast(&w->changed);
        struct timespec until = sl_mono_deadline(100);
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- lifecycle ---- */

/* A stored entry's config (an object) and target, or false (logged: the entry is skipped). */
static bool entry_of(const char *name, const char *config, const char *target, json_t **cfg, int *t) {
    *cfg = json_loads(config, 0, NULL);
    *t = parse_target(target);
    if (json_is_object(*cfg) && *t >= 0) return true;
    SL_ERR("worker", "config store: connector %s has an unreadable entry, skipped", name);
    json_decref(*cfg);
    return false;
}

/* A stored connector joins the worker's (a config that no longer validates fails at its start, with the reason). */
static wconn *add_stored(sl_worker *w, const char *name, json_t *cfg, int t) {
    wconn *e = add(w, name, cfg, (sl_target)t);
    sl_werr ignored;
    validate(w, name, cfg, &e->files, &ignored);
    return e;
}

static void load_one(const char *name, const char *config, const char *target, void *arg) {
    json_t *cfg;
    int t;
    if (!entry_of(name, config, target, &cfg, &t)) return;
    add_stored(arg, name, cfg, t);
    SL_INFO("worker", "loaded connector=%s target=%s", name, target);
}

sl_worker *sl_worker_new(const sl_worker_conf *wc, char *errstr, size_t errsz) {
    sl_worker *w = sl_calloc(1, sizeof *w);
    w->wc = wc;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->changed, &ca);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    w->log_level = sl_log_get_level();
    snprintf(w->id, sizeof w->id, "127.0.0.1:8083");
    /* As in Kafka Connect, a connector without bootstrap.servers uses the worker's. */
    sl_kafka_set_worker_bootstrap(wc->kafka.bootstrap);
    sl_wstore_conf sc = {wc->config_storage == 1 ? SL_WSTORE_KAFKA : SL_WSTORE_SQLITE, wc->config_file, &wc->kafka,
                         wc->config_topic, (int)wc->config_rf};
    sl_worker_files(wc, &w->files);
    if (distributed(w) && wc->config_storage != 1) {
        snprintf(errstr, errsz, "group.id: a distributed worker needs config.storage=kafka (the workers of a group "
                                "share the config topic), not config.storage=sqlite");
        goto err;
    }
    if (!(w->store = sl_wstore_open(&sc, errstr, errsz))) goto err;
    if (sl_wstore_load(w->store, load_one, w, errstr, errsz) < 0) goto err;
    SL_INFO("worker", "config store: %s connectors=%d", sl_wstore_where(w->store), w->n);
    for (const char *q = wc->migration_plans ? wc->migration_plans : ""; *q;) {
        while (*q == ',' || *q == ' ') q++;
        size_t len = strcspn(q, ",");
        if (!len) break;
        char path[4096];
        snprintf(path, sizeof path, "%.*s", (int)len, q);
        q += len;
        sl_errs errs = {0};
        sl_migration *m = sl_migration_open(path, &errs);
        if (!m) {
            snprintf(errstr, errsz, "migration.plans: %s%s", errs.n ? errs.msg[0] : path,
                     errs.n > 1 ? " (and more: sluice migrate validate shows every problem)" : "");
            sl_errs_free(&errs);
            goto err;
        }
        w->migs = sl_realloc(w->migs, (size_t)(w->nmigs + 1) * sizeof *w->migs);
        w->migs[w->nmigs++] = m;
        for (int i = 0; i + 1 < w->nmigs; i++)
            if (!strcmp(sl_migration_name(w->migs[i]), sl_migration_name(m))) {
                snprintf(errstr, errsz, "migration.plans: two plans are named %s", sl_migration_name(m));
                goto err;
            }
    }
    return w;
err:
    sl_worker_destroy(w);
    return NULL;
}

void sl_worker_set_id(sl_worker *w, const char *worker_id) { snprintf(w->id, sizeof w->id, "%s", worker_id); }
const char *sl_worker_id(const sl_worker *w) { return w->id; }

/* ---- distributed mode (the group's thread) ---- */

/* A change another worker stored: the entry follows it (as a request of this worker's would have changed it). */
static void follow_one(const char *name, const char *config, const char *target, void *arg) {
    sl_worker *w = arg;
    wconn *e = find(w, name);
    if (!config) {
        if (e) {
            e->deleted = true;
            atomic_store(&e->verify_cancel, 1);
            SL_INFO("worker", "deleted connector=%s (through another worker)", name);
        }
        return;
    }
    json_t *cfg;
    int t;
    if (!entry_of(name, config, target, &cfg, &t)) return;
    if (!e) {
        e = add_stored(w, name, cfg, t);
        SL_INFO("worker", "created connector=%s target=%s (through another worker)", name, target);
    } else if (!json_equal(e->config, cfg)) {
        json_decref(e->config);
        e->config = cfg;
        e->gen++;
        sl_file_uses_free(&e->files);
        sl_werr ignored;
        validate(w, name, cfg, &e->files, &ignored);
        clear_failure(e);
        SL_INFO("worker", "reconfigured connector=%s (through another worker)", name);
    } else {
        json_decref(cfg);
    }
    if (e->target != (sl_target)t) {
        e->target = (sl_target)t;
        if (t == SL_TARGET_RUNNING) e->finished = false;
        SL_INFO("worker", "connector=%s target=%s (through another worker)", name, target);
    }
}

static void group_tick(void *arg) {
    sl_worker *w = arg;
    char err[1024];
    pthread_mutex_lock(&w->lock);
    int n = w->n;
    if (sl_wstore_follow(w->store, w->id, follow_one, w, err, sizeof err) < 0) SL_ERR("worker", "%s", err);
    if (w->status) sl_wstatus_poll(w->status);
    if (w->n != n) pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

static void group_assigned(void *arg) {
    sl_worker *w = arg;
    pthread_mutex_lock(&w->lock);
    if (w->status) {
        sl_wstatus_poll(w->status); /* (what the others wrote up to now: the new generation is above it) */
        w->status_gen = sl_wstatus_next_generation(w->status);
        for (int i = 0; i < w->n; i++) w->cs[i]->status_put[0] = 0; /* republished with it */
    }
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

/* Slots taken away: returns once their connectors have stopped (the supervisor stops them: mine() is false), so
 * that the worker they go to never runs one beside this one. */
static void group_revoke(void *arg, const bool *slots, int nslots) {
    sl_worker *w = arg;
    int64_t until = sl_mono_ms() + 120000;
    pthread_mutex_lock(&w->lock);
    pthread_cond_signal(&w->wake);
    for (;;) {
        int busy = 0;
        for (int i = 0; i < w->n; i++) {
            char key[600];
            task_key(w->cs[i], key, sizeof key);
            busy += (w->cs[i]->conn || w->cs[i]->job) && slots[sl_wgroup_slot_of(key, nslots)];
        }
        if (!busy || atomic_load(&w->shutting_down)) break;
        if (sl_mono_ms() > until) {
            SL_ERR("worker", "%d connectors of slots taken away have not stopped after 120 s", busy);
            break;
        }
        struct timespec t = sl_mono_deadline(100);
        pthread_cond_timedwait(&w->changed, &w->lock, &t);
    }
    pthread_mutex_unlock(&w->lock);
}

const char *sl_worker_cluster_id(const sl_worker *w) { return sl_wstore_cluster_id(w->store); }

int sl_worker_group_owned(sl_worker *w, int *out, int max, int *nslots, uint64_t *rebalances) {
    *nslots = 0;
    if (rebalances) *rebalances = w->group ? sl_wgroup_rebalances(w->group) : 0;
    if (!distributed(w)) return -1;
    return w->group ? sl_wgroup_owned(w->group, out, max, nslots) : 0; /* (not joined yet: none) */
}

int sl_worker_start(sl_worker *w, char *errstr, size_t errsz) {
    if (distributed(w)) {
        sl_wstatus *st = sl_wstatus_open(&w->wc->kafka, w->wc->status_topic, (int)w->wc->status_partitions,
                                         (int)w->wc->status_rf, w->id, errstr, errsz);
        if (!st) return -1;
        pthread_mutex_lock(&w->lock);
        w->status = st;
        pthread_mutex_unlock(&w->lock);
        sl_wgroup_conf gc = {&w->wc->kafka, w->wc->group_id, w->id, w->wc->slots_topic, (int)w->wc->slots,
                             (int)w->wc->slots_rf, w->wc->session_ms + w->wc->rebalance_delay_ms, w->wc->heartbeat_ms,
                             group_assigned, group_revoke, group_tick, w};
        sl_wgroup *g = sl_wgroup_start(&gc, errstr, errsz);
        if (!g) return -1;
        pthread_mutex_lock(&w->lock);
        w->group = g;
        pthread_mutex_unlock(&w->lock);
    }
    if (pthread_create(&w->sup, NULL, supervisor_main, w) != 0) abort();
    w->sup_started = true;
    for (int i = 0; i < w->nmigs; i++) {
        char err[256];
        if (sl_migration_start(w->migs[i], err, sizeof err) < 0) SL_ERR("worker", "%s", err);
    }
    return 0;
}

int sl_worker_migration_count(const sl_worker *w) { return w->nmigs; }
sl_migration *sl_worker_migration(const sl_worker *w, int i) { return i >= 0 && i < w->nmigs ? w->migs[i] : NULL; }
sl_migration *sl_worker_migration_find(const sl_worker *w, const char *name) {
    for (int i = 0; i < w->nmigs; i++)
        if (!strcmp(sl_migration_name(w->migs[i]), name)) return w->migs[i];
    return NULL;
}

void sl_worker_begin_shutdown(sl_worker *w) { atomic_store(&w->shutting_down, 1); }
bool sl_worker_shutting_down(const sl_worker *w) { return atomic_load(&w->shutting_down) != 0; }

void sl_worker_destroy(sl_worker *w) {
    if (!w) return;
    atomic_store(&w->shutting_down, 1);
    if (w->sup_started) {
        pthread_mutex_lock(&w->lock);
        atomic_store(&w->stop_sup, 1);
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->sup, NULL);
    }
    sl_wgroup_stop(w->group); /* (its slots stay this worker's until the session ends: a restart takes them back) */
    w->group = NULL;
    sl_wstatus_close(w->status);
    w->status = NULL;
    for (int i = 0; i < w->nmigs; i++) sl_migration_free(w->migs[i]); /* their connectors drain and commit */
    sl_free(w->migs);
    w->migs = NULL, w->nmigs = 0;
    /* No supervisor and no requests any more: finish the jobs and cancel the verify runs, then stop every
     * instance at once. */
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < w->n; i++) atomic_store(&w->cs[i]->verify_cancel, 1);
    for (int i = 0; i < w->n; i++) {
        wconn *e = w->cs[i];
        if (!e->job && !e->verifying) continue;
        pthread_mutex_unlock(&w->lock);
        if (e->job) pthread_join(e->job_thr, NULL);
        if (e->verifying) pthread_join(e->verify_thr, NULL);
        pthread_mutex_lock(&w->lock);
        e->job = e->verifying = false;
    }
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->n; i++)
        if (w->cs[i]->conn) sl_connector_stop(w->cs[i]->conn);
    for (int i = 0; i < w->n; i++) {
        wconn *e = w->cs[i];
        if (!e->conn) continue;
        char err[1024];
        if (sl_connector_wait(e->conn, err, sizeof err) < 0)
            SL_ERR("worker", "connector failed while stopping: connector=%s error=%s", e->name, err);
        else
            SL_INFO("worker", "connector stopped cleanly connector=%s", e->name);
        sl_connector_destroy(e->conn);
        sl_config_destroy(e->cfg);
    }
    for (int i = 0; i < w->n; i++) entry_free(w->cs[i]);
    sl_free(w->cs);
    sl_file_uses_free(&w->files);
    sl_wstore_close(w->store);
    sl_kafka_set_worker_bootstrap(NULL);
    pthread_cond_destroy(&w->changed);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    sl_free(w);
}

/* ---- requests ---- */

static int cmp_info(const void *a, const void *b) {
    return strcmp(((const sl_wconn_info *)a)->name, ((const sl_wconn_info *)b)->name);
}

int sl_worker_list(sl_worker *w, bool metrics, sl_wconn_info **out) {
    pthread_mutex_lock(&w->lock);
    sl_wconn_info *v = sl_calloc((size_t)w->n + 1, sizeof *v);
    int n = 0;
    for (int i = 0; i < w->n; i++)
        if (!w->cs[i]->deleted && !w->cs[i]->task) info_fill(w->cs[i], metrics, &v[n]), info_owner(w, w->cs[i], &v[n++]);
    pthread_mutex_unlock(&w->lock);
    qsort(v, (size_t)n, sizeof *v, cmp_info);
    *out = v;
    return n;
}

int sl_worker_get(sl_worker *w, const char *name, bool metrics, sl_wconn_info *out, sl_werr *e) {
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    if (x) info_fill(x, metrics, out), info_owner(w, x, out);
    pthread_mutex_unlock(&w->lock);
    return x ? 0 : werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
}

void sl_worker_measure_retained(const sl_worker *w, sl_wconn_info *v, int n) {
    for (int i = 0; i < n; i++) {
        const sl_source_ops *ops = sl_source_find(v[i].source);
        if (!ops || !ops->retained) continue; /* nothing to measure: no need to build its config */
        char err[1024];
        sl_errs errs = {0};
        sl_connector *conn = NULL;
        sl_config *cfg = sl_worker_build_config(w, v[i].name, v[i].config, err, sizeof err);
        if (cfg) conn = sl_connector_new(cfg, &errs);
        int rc = conn ? sl_connector_source_retained(conn, &v[i].retained, err, sizeof err) : 1;
        v[i].has_retained = rc == 0;
        if (rc < 0) SL_DEBUG("worker", "connector=%s: cannot measure what the source retains: %s", v[i].name, err);
        sl_errs_free(&errs);
        sl_connector_destroy(conn);
        sl_config_destroy(cfg);
    }
}

#define REFUSE_WHEN_SHUTTING_DOWN(w, e)                                                                          \
    do {                                                                                                         \
        if (atomic_load(&(w)->shutting_down))                                                                    \
            return werr(e, SL_WERR_UNAVAILABLE, "The worker is shutting down; try again once it is back");      \
    } while (0)

int sl_worker_put(sl_worker *w, const char *name, const json_t *config, sl_put_mode mode, bool *created,
                  sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    sl_file_uses files = {0};
    if (validate(w, name, config, &files, e) < 0) return -1;
    char *text = json_dumps(config, JSON_COMPACT);
    char err[1024];
    int rc = 0;
    sl_errs clashes = {0};
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    if (x && mode == SL_PUT_CREATE) rc = werr(e, SL_WERR_EXISTS, "Connector %s already exists", name);
    else if (!x && mode == SL_PUT_UPDATE) rc = werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
    else if (check_files_locked(w, name, &files, &clashes)) { /* checked and stored under one lock: no race */
        sl_worker_invalid_msg(&clashes, e->msg, sizeof e->msg);
        e->code = SL_WERR_INVALID;
        rc = -1;
    } else if (sl_wstore_put(w->store, name, text, sl_target_name(x ? x->target : SL_TARGET_RUNNING), err,
                           sizeof err) < 0)
        rc = werr(e, SL_WERR_INTERNAL, "%s", err);
    else {
        *created = !x;
        if (!x) x = add(w, name, json_deep_copy(config), SL_TARGET_RUNNING);
        else json_decref(x->config), x->config = json_deep_copy(config), x->gen++;
        sl_file_uses_free(&x->files);
        x->files = files;
        files = (sl_file_uses){0};
        clear_failure(x);
        SL_INFO("worker", "%s connector=%s target=%s", *created ? "created" : "reconfigured", name,
                sl_target_name(x->target));
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    sl_errs_free(&clashes);
    sl_file_uses_free(&files);
    free(text);
    return rc;
}

int sl_worker_delete(sl_worker *w, const char *name, sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    char err[1024];
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    if (!x) rc = werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
    else if (sl_wstore_delete(w->store, name, err, sizeof err) < 0) rc = werr(e, SL_WERR_INTERNAL, "%s", err);
    else {
        x->deleted = true;
        atomic_store(&x->verify_cancel, 1); /* a verify run of it ends */
        pthread_cond_signal(&w->wake);
        SL_INFO("worker", "deleted connector=%s (its offsets are kept)", name);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int sl_worker_set_target(sl_worker *w, const char *name, sl_target target, sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    char err[1024];
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    if (!x) rc = werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
    else if (x->target != target && sl_wstore_set_target(w->store, name, sl_target_name(target), err, sizeof err) < 0)
        rc = werr(e, SL_WERR_INTERNAL, "%s", err);
    else {
        if (x->target != target) SL_INFO("worker", "connector=%s target=%s", name, sl_target_name(target));
        x->target = target;
        if (target == SL_TARGET_RUNNING) x->finished = false;
        /* Right away rather than on the next tick: records read after the answer would surprise. */
        if (x->conn && target == SL_TARGET_PAUSED) sl_connector_pause(x->conn);
        if (x->conn && target == SL_TARGET_RUNNING) sl_connector_resume(x->conn);
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int sl_worker_restart(sl_worker *w, const char *name, bool only_failed, bool *restarting, sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    int rc = 0;
    *restarting = false;
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    if (!x) rc = werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
    else if (x->target != SL_TARGET_STOPPED && (!only_failed || x->failed)) {
        *restarting = true;
        x->gen++; /* (its other tasks follow) */
        clear_failure(x);
        SL_INFO("worker", "restart requested connector=%s", name);
        pthread_cond_signal(&w->wake);
    } else if (x->target != SL_TARGET_STOPPED) { /* only the failed ones of its other tasks */
        for (int t = 1; t < x->ntasks; t++) {
            wconn *c = find_task(w, name, t);
            if (c && c->failed) c->bump++, c->gen++, clear_failure(c), *restarting = true;
        }
        if (*restarting) pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int sl_worker_restart_task(sl_worker *w, const char *name, int task, sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    bool restarting;
    if (task == 0) return sl_worker_restart(w, name, false, &restarting, e); /* (the connector's own) */
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name), *c = x ? find_task(w, name, task) : NULL;
    if (!c) rc = werr(e, SL_WERR_NOT_FOUND, "Unknown task: %s-%d", name, task);
    else if (c->target != SL_TARGET_STOPPED) {
        c->bump++, c->gen++;
        clear_failure(c);
        SL_INFO("worker", "restart requested connector=%s task=%d", name, task);
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* ---- offsets ---- */

/* Takes the entry for an offsets request: its config, and for changes the guarantee that no instance runs
 * (target STOPPED; a stop in progress is waited for) and none starts until offsets_end. */
static wconn *offsets_begin(sl_worker *w, const char *name, bool change, json_t **config, sl_werr *e) {
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    if (!x) {
        werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
        goto out;
    }
    if (change && x->target != SL_TARGET_STOPPED) {
        werr(e, SL_WERR_INVALID,
             "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for "
             "the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint",
             name);
        x = NULL;
        goto out;
    }
    /* Stopped, or stopping: wait until the instance is gone, so that its last offsets are in the answer
     * (and nothing writes the store while it is changed). offsets_busy keeps the entry from being freed. */
    x->offsets_busy++;
    struct timespec until = sl_mono_deadline(60000);
    while (x->target == SL_TARGET_STOPPED && (x->conn || x->job || runs_elsewhere(w, x)) && !x->deleted)
        if (pthread_cond_timedwait(&w->changed, &w->lock, &until) != 0) break;
    if (change && (x->conn || x->job || runs_elsewhere(w, x) || x->deleted || x->target != SL_TARGET_STOPPED)) {
        werr(e, SL_WERR_BUSY, "Connector %s is still stopping (or was changed meanwhile); try again", name);
        x->offsets_busy--;
        x = NULL;
        goto out;
    }
    *config = json_deep_copy(x->config);
out:
    pthread_mutex_unlock(&w->lock);
    return x;
}

static void offsets_end(sl_worker *w, wconn *x, json_t *config) {
    pthread_mutex_lock(&w->lock);
    x->offsets_busy--;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    json_decref(config);
}

/* ---- sluice verify ---- */

typedef struct vjob {
    sl_worker *w;
    wconn *e;              /* kept alive while e->verifying */
    json_t *config;
    sl_verify_opts o;
} vjob;

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Verify thread: reads both stores through the connector's mapping and keeps the report. */
static void *verify_main(void *arg) {
    vjob *j = arg;
    sl_worker *w = j->w;
    wconn *e = j->e;
    char err[1024] = "";
    sl_errs errs = {0};
    sl_connector *conn = NULL;
    sl_vside *src = NULL, *dst = NULL;
    sl_vmap map = {0};
    sl_verify_stats stats = {0};
    char *report = NULL;
    size_t len = 0;
    int rc = -1;
    sl_config *cfg = sl_worker_build_config(w, e->name, j->config, err, sizeof err);
    if (cfg && !(conn = sl_connector_new(cfg, &errs))) {
        sl_worker_hide_refs(j->config, cfg, &errs);
        sl_worker_invalid_msg(&errs, err, sizeof err);
    }
    j->o.gate = sl_connector_position_passed, j->o.gate_arg = conn;
    if (conn && sl_connector_verify_open(conn, &src, &dst, &map, err, sizeof err) == 0) {
        FILE *out = open_memstream(&report, &len);
        rc = out ? sl_verify_run(src, dst, &map, &j->o, out, &stats, err, sizeof err) : -1;
        if (out) fclose(out);
        if (!out) snprintf(err, sizeof err, "out of memory");
    }
    if (src) src->ops->close(src);
    if (dst) dst->ops->close(dst);
    sl_errs_free(&errs);
    sl_connector_destroy(conn);
    if (rc < 0) {
        char *h = hide_refs_str(j->config, cfg, err);
        snprintf(err, sizeof err, "%s", h);
        sl_free(h);
        sl_log_redact(err);
    }
    sl_config_destroy(cfg);
    if (rc < 0) SL_WARN("worker", "verify failed connector=%s error=%s", e->name, err);
    else SL_INFO("worker", "verify done connector=%s rows=%lld differences=%lld", e->name, stats.rows, stats.differences);
    pthread_mutex_lock(&w->lock);
    sl_free(e->verify_report);
    sl_free(e->verify_error);
    e->verify_report = rc >= 0 && report ? sl_strdup(report) : NULL;
    e->verify_error = rc < 0 ? sl_strdup(err) : NULL;
    e->verify.failed = rc < 0;
    e->verify.result = rc < 0 ? 0 : rc;
    e->verify.stats = stats;
    e->verify.ended_ms = wall_ms();
    e->verify.running = false; /* the supervisor joins the thread */
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    free(report); /* open_memstream's */
    json_decref(j->config);
    sl_free(j);
    return NULL;
}

int sl_worker_signal(sl_worker *w, const char *name, const char *json, sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    int rc = 0;
    char err[512];
    if (!x) rc = werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
    else if (!x->conn)
        rc = werr(e, SL_WERR_INVALID, "Connector %s is not running (state %s): signals go to a running or paused "
                                      "connector", name, x->target == SL_TARGET_STOPPED ? "STOPPED" : "not started");
    else if (sl_connector_signal(x->conn, json, err, sizeof err) < 0)
        rc = werr(e, SL_WERR_INVALID, "%s", err);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int sl_worker_verify_start(sl_worker *w, const char *name, const sl_verify_opts *o, sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    int rc = 0;
    if (!x) rc = werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
    else if (x->verifying)
        rc = werr(e, x->verify.running ? SL_WERR_EXISTS : SL_WERR_BUSY, "A verify run of connector %s %s", name,
                  x->verify.running ? "is under way (GET /connectors/<name>/verify shows its progress)"
                                    : "has just ended; try again");
    if (rc == 0) {
        vjob *j = sl_calloc(1, sizeof *j);
        j->w = w, j->e = x, j->config = json_deep_copy(x->config), j->o = *o;
        j->o.json = true;
        j->o.cancel = &x->verify_cancel;
        x->has_verify = x->verifying = true;
        x->verify = (sl_verify_info){.running = true, .started_ms = wall_ms()};
        int prc = pthread_create(&x->verify_thr, NULL, verify_main, j);
        if (prc != 0) {
            SL_ERR("worker", "cannot create a thread: %s", strerror(prc));
            abort(); /* as on OOM */
        }
        SL_INFO("worker", "verify started connector=%s", name);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

static json_t *iso_ms(int64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[64];
    snprintf(s, sizeof s, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(s);
}

json_t *sl_worker_verify_get(sl_worker *w, const char *name, sl_werr *e) {
    pthread_mutex_lock(&w->lock);
    wconn *x = find(w, name);
    if (!x) {
        pthread_mutex_unlock(&w->lock);
        werr(e, SL_WERR_NOT_FOUND, "Connector %s not found", name);
        return NULL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "connector", json_string(name));
    const sl_verify_info *v = &x->verify;
    const char *state = !x->has_verify ? "NONE" : v->running ? "RUNNING" : v->failed ? "FAILED" : "DONE";
    json_object_set_new(o, "state", json_string(state));
    if (x->has_verify) {
        json_object_set_new(o, "started", iso_ms(v->started_ms));
        if (!v->running) {
            json_object_set_new(o, "ended", iso_ms(v->ended_ms));
            json_object_set_new(o, "seconds", json_real((double)(v->ended_ms - v->started_ms) / 1000.0));
        }
    }
    if (x->verify_report && !v->running) {
        json_t *r = json_loads(x->verify_report, 0, NULL);
        json_object_set_new(o, "report", r ? r : json_string(x->verify_report));
    }
    if (x->verify_error && !v->running) json_object_set_new(o, "error", json_string(x->verify_error));
    pthread_mutex_unlock(&w->lock);
    return o;
}

/* Opens the connector's offset store as its runtime does (SQLite, or the Kafka topic). */
static sl_offsets *store_of(sl_worker *w, const char *name, const json_t *config, sl_config **cfg,
                            sl_connector **conn, sl_werr *e) {
    char err[1024];
    sl_errs errs = {0};
    *conn = NULL;
    if (!(*cfg = sl_worker_build_config(w, name, config, err, sizeof err))) sl_errs_add(&errs, "%s", err);
    else *conn = sl_connector_new(*cfg, &errs);
    if (!*conn) {
        sl_worker_hide_refs(config, *cfg, &errs);
        sl_worker_invalid_msg(&errs, e->msg, sizeof e->msg);
        e->code = SL_WERR_INVALID;
    }
    sl_errs_free(&errs);
    if (!*conn) return NULL;
    const sl_core_conf *core = sl_connector_core(*conn);
    if (core->offset_storage == 2) {
        werr(e, SL_WERR_INVALID, "offset.storage=target keeps the offsets in the sink's target database (its offsets "
                                 "table), written with the rows: read or change them there");
        return NULL;
    }
    sl_offsets *s = sl_connector_open_offsets(*conn, err, sizeof err);
    if (!s) werr(e, SL_WERR_INTERNAL, "%s", err);
    return s;
}

static void store_done(sl_offsets *s, sl_config *cfg, sl_connector *conn) {
    sl_offsets_close(s);
    sl_connector_destroy(conn);
    sl_config_destroy(cfg);
}

static json_t *parse_or_text(const char *text) {
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

/* Rows as stored: partition text (kept: it is the key), parsed partition, offset text. */
typedef struct off_row {
    char *part, *offset;
    json_t *part_json;
} off_row;

typedef struct off_rows {
    off_row *v;
    int n, cap;
} off_rows;

static void collect(const char *connector, const char *part, const char *offset, int64_t ms, void *arg) {
    off_rows *r = arg;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->v = sl_realloc(r->v, (size_t)r->cap * sizeof *r->v);
    }
    r->v[r->n++] = (off_row){sl_strdup(part), offset ? sl_strdup(offset) : NULL, parse_or_text(part)};
}

static void rows_free(off_rows *r) {
    for (int i = 0; i < r->n; i++) sl_free(r->v[i].part), sl_free(r->v[i].offset), json_decref(r->v[i].part_json);
    sl_free(r->v);
}

json_t *sl_worker_offsets_get(sl_worker *w, const char *name, sl_werr *e) {
    json_t *config = NULL;
    wconn *x = offsets_begin(w, name, false, &config, e);
    if (!x) return NULL;
    sl_config *cfg;
    sl_connector *conn;
    sl_offsets *s = store_of(w, name, config, &cfg, &conn, e);
    json_t *out = NULL;
    off_rows rows = {0};
    char err[1024];
    if (s && sl_offsets_list(s, name, collect, &rows, err, sizeof err) < 0) werr(e, SL_WERR_INTERNAL, "%s", err);
    else if (s) {
        out = json_array();
        for (int i = 0; i < rows.n; i++)
            json_array_append_new(out, json_pack("{s:O, s:o}", "partition", rows.v[i].part_json, "offset",
                                                 rows.v[i].offset ? parse_or_text(rows.v[i].offset) : json_null()));
    }
    rows_free(&rows);
    store_done(s, cfg, conn);
    offsets_end(w, x, config);
    return out;
}

int sl_worker_offsets_reset(sl_worker *w, const char *name, sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    json_t *config = NULL;
    wconn *x = offsets_begin(w, name, true, &config, e);
    if (!x) return -1;
    sl_config *cfg;
    sl_connector *conn;
    sl_offsets *s = store_of(w, name, config, &cfg, &conn, e);
    char err[1024];
    int removed = 0, rc = -1;
    if (s && sl_offsets_delete(s, name, &removed, err, sizeof err) < 0) werr(e, SL_WERR_INTERNAL, "%s", err);
    else if (s) {
        rc = 0;
        SL_INFO("worker", "offsets reset connector=%s removed=%d", name, removed);
    }
    store_done(s, cfg, conn);
    offsets_end(w, x, config);
    return rc;
}

/*
 * Applies the request to the store, one partition at a time: an offset is
 * written, a null offset removes the partition's row (matched by JSON value,
 * so the stored text of that partition is the key).
 */
static int alter(sl_offsets *s, const char *name, off_rows *rows, const json_t *offsets, sl_werr *e) {
    char err[1024];
    size_t i;
    json_t *item;
    json_array_foreach(offsets, i, item) {
        json_t *part = json_object_get(item, "partition"), *off = json_object_get(item, "offset");
        int k = 0;
        while (k < rows->n && !json_equal(rows->v[k].part_json, part)) k++;
        bool remove = !off || json_is_null(off);
        if (remove && k == rows->n) continue; /* removing what is not there */
        char *pt = k < rows->n ? NULL : json_dumps(part, JSON_COMPACT);
        const char *part_text = k < rows->n ? rows->v[k].part : pt;
        int rc;
        if (remove) {
            rc = sl_offsets_remove(s, name, part_text, err, sizeof err);
        } else {
            char *t = json_dumps(off, JSON_COMPACT);
            rc = sl_offsets_put(s, name, part_text, t, err, sizeof err);
            free(t);
        }
        free(pt);
        if (rc < 0) return werr(e, SL_WERR_INTERNAL, "%s", err);
    }
    return 0;
}

/* Every offset given has the shape its source writes (sl_source_ops.check_offset): checked before any is
 * stored, so that a bad one changes nothing. */
static int check_offsets(const sl_connector *conn, const json_t *offsets, sl_werr *e) {
    char err[512];
    size_t i;
    json_t *item;
    json_array_foreach(offsets, i, item) {
        json_t *off = json_object_get(item, "offset");
        if (!off || json_is_null(off)) continue; /* a removal: any partition may go */
        if (sl_connector_check_offset(conn, json_object_get(item, "partition"), off, err, sizeof err) < 0)
            return werr(e, SL_WERR_INVALID, "offsets[%zu].%s", i, err);
    }
    return 0;
}

int sl_worker_offsets_alter(sl_worker *w, const char *name, const json_t *offsets, sl_werr *e) {
    REFUSE_WHEN_SHUTTING_DOWN(w, e);
    json_t *config = NULL;
    wconn *x = offsets_begin(w, name, true, &config, e);
    if (!x) return -1;
    sl_config *cfg;
    sl_connector *conn;
    sl_offsets *s = store_of(w, name, config, &cfg, &conn, e);
    off_rows rows = {0};
    char err[1024];
    int rc = -1;
    if (s && check_offsets(conn, offsets, e) == 0) {
        if (sl_offsets_list(s, name, collect, &rows, err, sizeof err) < 0) werr(e, SL_WERR_INTERNAL, "%s", err);
        else if ((rc = alter(s, name, &rows, offsets, e)) == 0)
            SL_INFO("worker", "offsets altered connector=%s partitions=%zu", name, json_array_size(offsets));
    }
    rows_free(&rows);
    store_done(s, cfg, conn);
    offsets_end(w, x, config);
    return rc;
}
