/*
 * Admission of the REST API's connections, in front of the HTTP library
 * (rest/server.c), so that slow or numerous clients cannot take every
 * connection thread:
 *
 *  - the gate accepts every connection itself and hands it over only when
 *    fewer than max_conns are open in all and fewer than max_per_addr from
 *    its client address (an IPv6 address counts by its /64). One over a
 *    limit never reaches a thread: it is answered 503 at once, with Kafka
 *    Connect's error body, Retry-After and Connection: close (on a TLS
 *    listener it is closed: an answer would need a handshake);
 *  - a request's headers must be complete within header_ms of the
 *    connection (on a kept-alive one: of the previous answer), its body
 *    within body_ms of the headers. A connection past its deadline is shut
 *    down, however steadily its bytes trickle in: the library's own timeout
 *    only counts idle time.
 *
 * One thread accepts, answers the refused connections and enforces the
 * deadlines (checked at least once a second); its warnings are rate-limited.
 */
#ifndef SL_REST_GATE_H
#define SL_REST_GATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SL_REST_LISTENERS_MAX 8

typedef struct sl_rest_gate sl_rest_gate;
typedef struct sl_rest_gate_conn sl_rest_gate_conn;

typedef struct sl_rest_gate_limits {
    int max_conns, max_per_addr;
    int64_t header_ms, body_ms;
} sl_rest_gate_limits;

/* Where a connection's current request is: its deadline follows. */
typedef enum {
    SL_GATE_HEADERS, /* reading the headers: header_ms */
    SL_GATE_BODY,    /* reading the body: body_ms */
    SL_GATE_BUSY     /* handling it and answering: no deadline (a request may wait for a connector to stop) */
} sl_rest_gate_phase;

/* Hands an admitted connection to the HTTP side, on the gate's thread; listener is the index given by
 * sl_rest_gate_listen. It owns fd from then on, taken or not. */
typedef void (*sl_rest_gate_take_fn)(void *arg, int listener, int fd, const struct sockaddr *sa, socklen_t salen);

sl_rest_gate *sl_rest_gate_new(const sl_rest_gate_limits *lim, sl_rest_gate_take_fn take, void *arg);
/* Adds a bound, listening socket (taken, also on failure); tls: its answers need TLS. Returns its index, or -1
 * when there are SL_REST_LISTENERS_MAX already. Before sl_rest_gate_start. */
int sl_rest_gate_listen(sl_rest_gate *g, int fd, bool tls);
/* Starts accepting. 0, or -1 with errstr. */
int sl_rest_gate_start(sl_rest_gate *g, char *errstr, size_t errstr_size);
/* Stops accepting: joins the thread, closes the listening sockets and the refused connections, logs how many
 * warnings the rate limit dropped. Connections handed over stay known until sl_rest_gate_closed. Idempotent. */
void sl_rest_gate_stop(sl_rest_gate *g);
/* Stops and frees the gate, once the HTTP side has closed every connection. NULL: no-op. */
void sl_rest_gate_destroy(sl_rest_gate *g);

/* The HTTP side's hooks, from any thread. */

/* The handed-over socket fd is being served: its handle for the calls below, or NULL when the gate no longer
 * knows it (those calls then do nothing). */
sl_rest_gate_conn *sl_rest_gate_opened(sl_rest_gate *g, int fd);
/* The connection's current request entered phase ph (its deadline starts now). */
void sl_rest_gate_set_phase(sl_rest_gate *g, sl_rest_gate_conn *c, sl_rest_gate_phase ph);
/* The connection is about to be closed (its socket is still open): frees c. */
void sl_rest_gate_closed(sl_rest_gate *g, sl_rest_gate_conn *c);

#endif
