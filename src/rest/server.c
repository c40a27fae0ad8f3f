/*
 * libmicrohttpd glue for the REST API (see server.h).
 *
 * sluice binds the listeners itself: rest/gate.h accepts each connection and
 * hands the ones within its limits to the listener's MHD daemon
 * (MHD_add_connection); MHD's connection notifications and the request
 * callbacks tell the gate where each request is, for its deadlines.
 *
 * The raw request target comes from MHD's URI log callback (before MHD
 * unescapes it) so that rest/route.c sees the path as sent. The first call
 * of the access handler checks the bearer token, before any body is read;
 * the next ones collect the body (at most SL_REST_BODY_MAX bytes); the last
 * one routes and answers.
 */
#include "rest/server.h"
#include "core/log.h"
#include "rest/api.h"
#include "rest/gate.h"
#include "rest/route.h"
#include "util/buf.h"
#include "util/mem.h"
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct sl_rest_server {
    sl_worker *w;
    const char *token;               /* NULL: no auth */
    sl_rest_gate *gate;
    struct MHD_Daemon *d[SL_REST_LISTENERS_MAX]; /* by the gate's listener index */
    int nd;
    char *tls_key, *tls_cert;        /* PEM text, kept while the daemons run */
    char worker_id[300];
    sl_log_limit mhd_log;            /* MHD's messages */
};

/* Per-request state, from the URI log callback to the completion callback. */
typedef struct request {
    char *target;
    bool started;
    bool too_big;
    sl_buf body;
} request;

int sl_listener_parse(const char *spec, sl_listener *out, char *errstr, size_t errsz) {
    memset(out, 0, sizeof *out);
    const char *p;
    if (strncasecmp(spec, "http://", 7) == 0) p = spec + 7;
    else if (strncasecmp(spec, "https://", 8) == 0) p = spec + 8, out->https = true;
    else goto bad;
    const char *colon;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close || close[1] != ':' || (size_t)(close - p - 1) >= sizeof out->host) goto bad;
        snprintf(out->host, sizeof out->host, "%.*s", (int)(close - p - 1), p + 1);
        colon = close + 1;
    } else {
        colon = strrchr(p, ':');
        if (!colon || (size_t)(colon - p) >= sizeof out->host || memchr(p, '/', (size_t)(colon - p))) goto bad;
        snprintf(out->host, sizeof out->host, "%.*s", (int)(colon - p), p);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end && strcmp(end, "/") != 0) || port < 0 || port > 65535) goto bad;
    out->port = (int)port;
    return 0;
bad:
    snprintf(errstr, errsz, "listeners: '%s' is not http://host:port or https://host:port", spec);
    return -1;
}

/* ---- requests ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    request *rq = sl_calloc(1, sizeof *rq);
    rq->target = sl_strdup(uri ? uri : "/");
    sl_buf_init(&rq->body);
    return rq;
}

/* The gate's handle of c (NULL: none). */
static sl_rest_gate_conn *gate_conn(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void on_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                    enum MHD_ConnectionNotificationCode code) {
    sl_rest_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? sl_rest_gate_opened(s->gate, ci->connect_fd) : NULL;
    } else {
        sl_rest_gate_closed(s->gate, *socket_context); /* MHD closes the socket after this */
        *socket_context = NULL;
    }
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    sl_rest_server *s = cls;
    sl_rest_gate_set_phase(s->gate, gate_conn(c), SL_GATE_HEADERS); /* a kept-alive connection's next request */
    request *rq = *con_cls;
    if (!rq) return;
    sl_buf_free(&rq->body);
    sl_free(rq->target);
    sl_free(rq);
    *con_cls = NULL;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, sl_rest_resp *r) {
    struct MHD_Response *mr = MHD_create_response_from_buffer(r->body.len, r->body.len ? r->body.data : (void *)"",
                                                              MHD_RESPMEM_MUST_COPY);
    if (!mr) {
        sl_buf_free(&r->body);
        return MHD_NO;
    }
    if (r->body.len) MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->location[0]) MHD_add_response_header(mr, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->status == 401) MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"sluice\"");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    sl_buf_free(&r->body);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg) {
    sl_rest_resp r;
    memset(&r, 0, sizeof r);
    sl_buf_init(&r.body);
    sl_rest_api_error(&r, status, msg);
    return send_resp(c, &r);
}

/* Compares without an early exit, so the time taken does not tell how much of the token matched. */
static bool token_equal(const char *got, size_t gotlen, const char *want) {
    size_t n = strlen(want);
    unsigned char diff = gotlen != n;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(want[i] ^ (i < gotlen ? got[i] : 0));
    return diff == 0;
}

static bool authorized(const sl_rest_server *s, struct MHD_Connection *c) {
    if (!s->token || !*s->token) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    return token_equal(h, n, s->token);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    sl_rest_server *s = cls;
    request *rq = *con_cls;
    if (!rq) *con_cls = rq = on_uri(NULL, url, c);
    if (!rq->started) {
        rq->started = true;
        sl_rest_gate_set_phase(s->gate, gate_conn(c), SL_GATE_BODY); /* the headers are in */
        if (!authorized(s, c)) {
            sl_rest_gate_set_phase(s->gate, gate_conn(c), SL_GATE_BUSY);
            SL_DEBUG("http", "%s %s -> 401", method, rq->target);
            return send_error(c, 401, "Authentication required: send 'Authorization: Bearer <rest.auth.token>'");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->body.len + *upload_size > SL_REST_BODY_MAX) rq->too_big = true;
        else sl_buf_put(&rq->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    /* The request is in: handling it may take long (a connector stopping), answering it has MHD's idle timeout. */
    sl_rest_gate_set_phase(s->gate, gate_conn(c), SL_GATE_BUSY);
    if (rq->too_big) return send_error(c, 413, "Request body too large");
    sl_rest_req req;
    char msg[512];
    int st = sl_rest_route(method, rq->target, &req, msg, sizeof msg);
    if (st) {
        SL_DEBUG("http", "%s %s -> %d", method, rq->target, st);
        return send_error(c, st, msg);
    }
    sl_rest_resp resp;
    sl_rest_api_handle(s->w, &req, rq->body.data, rq->body.len, &resp);
    SL_DEBUG("http", "%s %s -> %d", method, rq->target, resp.status);
    return send_resp(c, &resp);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    sl_rest_server *s = cls;
    sl_log_limited(&s->mhd_log, SL_LOG_WARN, "http", "%s", msg); /* mostly about one connection: a client can repeat it */
}

/* ---- listeners ---- */

static char *read_pem(const char *key, const char *path, char *errstr, size_t errsz) {
    if (!path || !*path) {
        snprintf(errstr, errsz, "%s: required for https listeners (a PEM file)", key);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errsz, "%s: cannot open %s: %s", key, path, strerror(errno));
        return NULL;
    }
    sl_buf b;
    sl_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && b.len < (1 << 20)) sl_buf_put(&b, tmp, n);
    fclose(f);
    sl_buf_cstr(&b);
    return b.data;
}

/* Resolves the listener's address; *v6 tells the family. */
static int resolve(const sl_listener *l, struct sockaddr_storage *ss, socklen_t *sslen, bool *v6, char *errstr,
                   size_t errsz) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_family = l->host[0] ? AF_UNSPEC : AF_INET;
    char port[8];
    snprintf(port, sizeof port, "%d", l->port);
    int rc = getaddrinfo(l->host[0] ? l->host : NULL, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(errstr, errsz, "listeners: cannot resolve '%s': %s", l->host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

/* A bound, listening, non-blocking socket for l (*port: the port bound), or -1 with errstr. */
static int listen_on(const sl_listener *l, bool *v6, int *port, char *errstr, size_t errsz) {
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (resolve(l, &ss, &sslen, v6, errstr, errsz) < 0) return -1;
    int one = 1, fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (*v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, SOMAXCONN) < 0) {
        snprintf(errstr, errsz, "listeners: cannot listen on %s://%s%s%s:%d: %s", l->https ? "https" : "http",
                 *v6 ? "[" : "", l->host, *v6 ? "]" : "", l->port, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    sslen = sizeof ss;
    *port = getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0
                ? ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port)
                : l->port;
    return fd;
}

/* Gate thread: an admitted connection goes to its listener's daemon (which closes it if it cannot take it). */
static void take(void *arg, int li, int fd, const struct sockaddr *sa, socklen_t salen) {
    sl_rest_server *s = arg;
    if (MHD_add_connection(s->d[li], fd, sa, salen) != MHD_YES)
        SL_DEBUG("http", "MHD refused a connection: %s", strerror(errno));
}

static int start_one(sl_rest_server *s, const sl_worker_conf *wc, const sl_listener *l, char *errstr, size_t errsz) {
    if (s->nd == SL_REST_LISTENERS_MAX) {
        snprintf(errstr, errsz, "listeners: at most %d", SL_REST_LISTENERS_MAX);
        return -1;
    }
    /* The gate accepts: the daemon has no listening socket of its own, and a thread per connection. */
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (l->https) {
        if (!s->tls_cert && !(s->tls_cert = read_pem("listeners.https.ssl.certificate.location", wc->https_cert,
                                                     errstr, errsz)))
            return -1;
        if (!s->tls_key &&
            !(s->tls_key = read_pem("listeners.https.ssl.key.location", wc->https_key, errstr, errsz)))
            return -1;
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
                                   {wc->https_key_password ? MHD_OPTION_HTTPS_KEY_PASSWORD : MHD_OPTION_END, 0,
                                    wc->https_key_password},
                                   {MHD_OPTION_END, 0, NULL}};
    struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
    /* The gate keeps the connections under rest.connections.max: MHD's own limit never closes one unanswered. */
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                         MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
                         MHD_OPTION_NOTIFY_CONNECTION, on_conn, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)wc->rest_max_conns + 16, MHD_OPTION_ARRAY,
                         l->https ? tls : none, MHD_OPTION_END);
    if (!d) {
        snprintf(errstr, errsz, "listeners: cannot serve %s://%s:%d%s", l->https ? "https" : "http", l->host,
                 l->port, l->https ? " (a bad TLS key or certificate?)" : "");
        return -1;
    }
    s->d[s->nd++] = d;
    bool v6;
    int port;
    int fd = listen_on(l, &v6, &port, errstr, errsz);
    if (fd < 0) return -1;
    sl_rest_gate_listen(s->gate, fd, l->https); /* its index is the daemon's, s->nd - 1 */
    SL_INFO("http", "REST API listening on %s://%s%s%s:%d%s", l->https ? "https" : "http", v6 ? "[" : "",
            l->host[0] ? l->host : "0.0.0.0", v6 ? "]" : "", port,
            s->token ? " (authentication: bearer token required)" : " (authentication: off, rest.auth.token not set)");
    if (s->nd == 1) {
        const char *host = l->host;
        char name[256];
        bool any = !host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
        if (wc->advertised_host && *wc->advertised_host) host = wc->advertised_host;
        else if (any && gethostname(name, sizeof name) == 0) name[sizeof name - 1] = 0, host = name;
        snprintf(s->worker_id, sizeof s->worker_id, "%s:%d", host,
                 wc->advertised_port > 0 ? (int)wc->advertised_port : port);
    }
    bool loopback = !strcmp(l->host, "127.0.0.1") || !strcmp(l->host, "::1") || !strcmp(l->host, "localhost");
    if (!s->token && !loopback)
        SL_WARN("http", "the REST API on %s:%d takes requests from anyone who can reach it: set rest.auth.token",
                l->host[0] ? l->host : "0.0.0.0", port);
    return 0;
}

sl_rest_server *sl_rest_server_start(sl_worker *w, const sl_worker_conf *wc, char *errstr, size_t errsz) {
    sl_rest_server *s = sl_calloc(1, sizeof *s);
    s->w = w;
    s->token = wc->auth_token && *wc->auth_token ? wc->auth_token : NULL;
    sl_rest_gate_limits lim = {(int)wc->rest_max_conns, (int)wc->rest_max_per_addr, wc->rest_header_ms,
                               wc->rest_body_ms};
    s->gate = sl_rest_gate_new(&lim, take, s);
    char *list = sl_strdup(wc->listeners ? wc->listeners : ""), *save = NULL;
    int n = 0;
    for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save), n++) {
        sl_listener l;
        if (sl_listener_parse(t, &l, errstr, errsz) < 0 || start_one(s, wc, &l, errstr, errsz) < 0) goto err;
    }
    if (n == 0) {
        snprintf(errstr, errsz, "listeners: empty (e.g. http://127.0.0.1:8083)");
        goto err;
    }
    if (sl_rest_gate_start(s->gate, errstr, errsz) < 0) goto err;
    sl_free(list);
    return s;
err:
    sl_free(list);
    sl_rest_server_stop(s);
    return NULL;
}

const char *sl_rest_server_worker_id(const sl_rest_server *s) { return s->worker_id; }

void sl_rest_server_stop(sl_rest_server *s) {
    if (!s) return;
    if (s->gate) sl_rest_gate_stop(s->gate); /* no new connections */
    for (int i = 0; i < s->nd; i++) MHD_stop_daemon(s->d[i]);
    sl_rest_gate_destroy(s->gate);
    unsigned long dropped = sl_log_limit_take(&s->mhd_log);
    if (dropped) SL_WARN("http", "REST API: %lu more libmicrohttpd messages were not logged", dropped);
    if (s->tls_key) explicit_bzero(s->tls_key, strlen(s->tls_key)); /* a private key */
    sl_free(s->tls_cert);
    sl_free(s->tls_key);
    sl_free(s);
}
