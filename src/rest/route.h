/*
 * The REST API's request parsing and routing, as pure functions (no sockets,
 * no worker, no threads) so that a fuzzer can drive them: method and raw
 * request target in, the endpoint and its decoded parameters out; then the
 * endpoint's JSON body checked and normalized.
 *
 * The routes are Kafka Connect's (one X-macro table below). A path that
 * matches a route under another method is 405, one that matches none is 404.
 * Path segments are split before percent-decoding, so a connector named
 * "a/b" is addressed as /connectors/a%2Fb and never confused with a route.
 */
#ifndef SL_REST_ROUTE_H
#define SL_REST_ROUTE_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SL_REST_NAME_MAX 255          /* bytes of a connector or plugin name */
#define SL_REST_URI_MAX 8192          /* bytes of the request target */
#define SL_REST_BODY_MAX (1 << 20)    /* bytes of a request body */
#define SL_REST_CONFIG_KEYS_MAX 4096  /* keys of one config */
#define SL_REST_KEY_MAX 1024          /* bytes of a config key */
#define SL_REST_VALUE_MAX (256 << 10) /* bytes of a config value */
#define SL_REST_OFFSETS_MAX 100000    /* partitions in one offsets request */

/* What a body must be: nothing read, a create request, a flat config, a config patch, KIP-875 offsets, the
 * options of a verify run (optional). */
typedef enum { SL_BODY_NONE, SL_BODY_CREATE, SL_BODY_CONFIG, SL_BODY_PATCH, SL_BODY_OFFSETS, SL_BODY_VERIFY,
               SL_BODY_SIGNAL } sl_rest_body;

/* id, method, path pattern ({name}: a name segment, {task}: a task number), body */
#define SL_REST_ROUTES(X)                                                                                     \
    X(ROOT, "GET", "/", NONE)                                                                                 \
    X(HEALTH, "GET", "/health", NONE)                                                                         \
    X(METRICS, "GET", "/metrics", NONE)                                                                       \
    X(LIST, "GET", "/connectors", NONE)                                                                       \
    X(CREATE, "POST", "/connectors", CREATE)                                                                  \
    X(INFO, "GET", "/connectors/{name}", NONE)                                                                \
    X(DELETE, "DELETE", "/connectors/{name}", NONE)                                                           \
    X(CONFIG_GET, "GET", "/connectors/{name}/config", NONE)                                                   \
    X(CONFIG_PUT, "PUT", "/connectors/{name}/config", CONFIG)                                                 \
    X(CONFIG_PATCH, "PATCH", "/connectors/{name}/config", PATCH)                                              \
    X(STATUS, "GET", "/connectors/{name}/status", NONE)                                                       \
    X(RESTART, "POST", "/connectors/{name}/restart", NONE)                                                    \
    X(PAUSE, "PUT", "/connectors/{name}/pause", NONE)                                                         \
    X(RESUME, "PUT", "/connectors/{name}/resume", NONE)                                                       \
    X(STOP, "PUT", "/connectors/{name}/stop", NONE)                                                           \
    X(TASKS, "GET", "/connectors/{name}/tasks", NONE)                                                         \
    X(TASK_STATUS, "GET", "/connectors/{name}/tasks/{task}/status", NONE)                                     \
    X(TASK_RESTART, "POST", "/connectors/{name}/tasks/{task}/restart", NONE)                                  \
    X(OFFSETS_GET, "GET", "/connectors/{name}/offsets", NONE)                                                 \
    X(OFFSETS_PATCH, "PATCH", "/connectors/{name}/offsets", OFFSETS)                                          \
    X(OFFSETS_DELETE, "DELETE", "/connectors/{name}/offsets", NONE)                                           \
    X(VERIFY_START, "POST", "/connectors/{name}/verify", VERIFY)                                              \
    X(VERIFY_GET, "GET", "/connectors/{name}/verify", NONE)                                                   \
    X(SIGNAL, "POST", "/connectors/{name}/signals", SIGNAL)                                                   \
    X(PLUGINS, "GET", "/connector-plugins", NONE)                                                             \
    X(PLUGIN_CONFIG, "GET", "/connector-plugins/{name}/config", NONE)                                         \
    X(PLUGIN_VALIDATE, "PUT", "/connector-plugins/{name}/config/validate", CONFIG)                           \
    X(MIGRATIONS, "GET", "/migrations", NONE)                                                                 \
    X(MIGRATION_GET, "GET", "/migrations/{name}", NONE)                                                       \
    X(MIGRATION_APPROVE, "POST", "/migrations/{name}/approve", NONE)                                          \
    X(MIGRATION_ROLLBACK, "POST", "/migrations/{name}/rollback", NONE)                                        \
    X(MIGRATION_FINISH, "POST", "/migrations/{name}/finish", NONE)

typedef enum {
#define SL_ROUTE_ENUM(id, method, pattern, body) SL_ROUTE_##id,
    SL_REST_ROUTES(SL_ROUTE_ENUM)
#undef SL_ROUTE_ENUM
    SL_ROUTE_COUNT
} sl_route;

typedef struct sl_rest_req {
    sl_route route;
    sl_rest_body body;
    char name[SL_REST_NAME_MAX + 1]; /* {name}, decoded: connector or plugin */
    int task;                        /* {task} */
    bool expand, expand_status, expand_info; /* GET /connectors?expand=status&expand=info (or status,info) */
    bool include_tasks, only_failed; /* POST .../restart?includeTasks=true&onlyFailed=true */
} sl_rest_req;

/*
 * Routes method + target (path and optional ?query, as sent: still
 * percent-encoded). Returns 0 with *r filled, or the HTTP status (400, 404,
 * 405, 414) with msg set.
 */
int sl_rest_route(const char *method, const char *target, sl_rest_req *r, char *msg, size_t msgsz);
const char *sl_rest_route_name(sl_route route);

/*
 * Checks and normalizes the body a route takes (r->body). Config values must
 * be strings; numbers and booleans are accepted and turned into their text,
 * as Connect's JSON mapping does. Returns a new reference:
 *   CREATE  {"name": ..., "config": {...}} (config["name"] set to the name)
 *   CONFIG  the config object (PUT .../config: config["name"] set to r->name)
 *   PATCH   the patch object (null values kept: they remove keys)
 *   OFFSETS the "offsets" array, each item {"partition": {...}, "offset": {...} | null}
 *   VERIFY  the options object ({} for no body): until_consistent_seconds (> 0), max_differences (>= 0),
 *           rate (> 0), strict_missing (boolean)
 *   SIGNAL  a signal {"id": string (optional), "type": string, "data": object (optional)}
 * or NULL with the HTTP status (400) and msg set.
 */
json_t *sl_rest_parse_body(const sl_rest_req *r, const char *body, size_t len, int *status, char *msg, size_t msgsz);

/* Checks a connector name (non-empty, at most SL_REST_NAME_MAX bytes, no '/', no control characters,
 * no surrounding spaces). Returns 0 or -1 with msg. */
int sl_rest_check_name(const char *name, char *msg, size_t msgsz);

/* True when a config key holds a secret: flagged sensitive in any property table (core, sources, sinks;
 * by name, alias or as the suffix of a pass-through key such as producer.override.sasl.password), or its
 * name says so (password, secret, jaas). */
bool sl_rest_key_sensitive(const char *key);
/* Replaces the value of every sensitive key of a config object with "[hidden]". */
void sl_rest_hide_secrets(json_t *config);

#endif
