/*
 * The REST API's HTTP side, on libmicrohttpd: one daemon per listener
 * (http or https), a thread per connection (a request may wait seconds for a
 * connector to stop, others go on meanwhile), bearer-token auth, body limits.
 * Requests are routed by rest/route.h and answered by rest/api.h.
 */
#ifndef SL_REST_SERVER_H
#define SL_REST_SERVER_H
#include <stddef.h>
#include "worker/worker.h"

typedef struct sl_rest_server sl_rest_server;

/* One parsed entry of `listeners`. */
typedef struct sl_listener {
    bool https;
    char host[256]; /* "" (every IPv4 address), a name, an IPv4 or IPv6 address (without brackets) */
    int port;
} sl_listener;

/* Parses "http://host:port" or "https://[v6]:port". Returns 0, or -1 with errstr naming the key. */
int sl_listener_parse(const char *spec, sl_listener *out, char *errstr, size_t errstr_size);

/* Binds every listener of wc and serves w's API. NULL with errstr when one cannot start (nothing is left
 * listening then). w and wc must outlive the server. */
sl_rest_server *sl_rest_server_start(sl_worker *w, const sl_worker_conf *wc, char *errstr, size_t errstr_size);
/* "host:port" of the first listener as bound (port 0 resolved; an any-address host replaced by
 * rest.advertised.host.name or this machine's name): the worker_id. */
const char *sl_rest_server_worker_id(const sl_rest_server *s);
/* Stops listening and waits for requests in progress. NULL: no-op. */
void sl_rest_server_stop(sl_rest_server *s);

#endif
