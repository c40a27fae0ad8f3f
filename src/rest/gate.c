/*
 * Connection admission and request deadlines of the REST API (see gate.h).
 *
 * The gate keeps one entry per connection it admitted, in a list shared
 * with the HTTP side's threads under g->lock. An entry is "opened" once the
 * HTTP side serves its socket; only then may the gate shut that socket
 * down, and since the HTTP side calls sl_rest_gate_closed before it closes
 * the socket, a socket the gate shuts down is never someone else's. An entry
 * that is never opened (the library refused it) expires at its deadline.
 *
 * A refused connection gets its 503 at once, without waiting for the
 * request; the gate then shuts its sending side and reads (and drops) what
 * the client still sends for up to LINGER_MS before closing, so that the
 * close does not reset the connection before the client read the answer.
 */
#include "rest/gate.h"
#include "core/log.h"
#include "rest/api.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ACCEPT_BATCH 64     /* connections accepted per wake-up and listener */
#define LINGER_MAX 256      /* refused connections read until they close */
#define LINGER_MS 2000
#define TICK_MS 1000        /* longest sleep: how late a deadline set by another thread may be noticed */
#define ACCEPT_PAUSE_MS 250 /* after accept failed (out of file descriptors): leave the listener alone */
#define RETRY_AFTER_S 1

/* A client address as the per-address limit counts it: IPv4 whole, IPv6 by its /64. */
typedef struct addr_key {
    int family;
    unsigned char b[8];
} addr_key;

struct sl_rest_gate_conn {
    sl_rest_gate_conn *next;
    int fd;
    bool opened;              /* served by the HTTP side */
    bool cut;                 /* shut down past its deadline */
    bool kept_alive;          /* answered a request already */
    sl_rest_gate_phase phase;
    int64_t deadline;         /* monotonic ms; 0: none */
    addr_key key;
    char host[INET6_ADDRSTRLEN];
};

typedef struct listener {
    int fd;
    bool tls;
    int64_t paused_until;
} listener;

typedef struct lingering {
    int fd;
    int64_t until;
} lingering;

struct sl_rest_gate {
    sl_rest_gate_limits lim;
    sl_rest_gate_take_fn take;
    void *take_arg;
    listener l[SL_REST_LISTENERS_MAX];
    int nl;
    int wake[2];             /* written by sl_rest_gate_stop */
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;    /* conns, nconns */
    sl_rest_gate_conn *conns;
    int nconns;
    lingering linger[LINGER_MAX]; /* the gate thread's */
    int nlinger;
    sl_log_limit refused_log, cut_log[2]; /* cut_log: past the headers' deadline, the body's */
};

static addr_key key_of(const struct sockaddr *sa, char *host, size_t hostsz) {
    addr_key k;
    memset(&k, 0, sizeof k);
    k.family = sa->sa_family;
    snprintf(host, hostsz, "?");
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        memcpy(k.b, &a->sin_addr, 4);
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hostsz);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        memcpy(k.b, &a->sin6_addr, 8);
        inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hostsz);
    }
    return k;
}

sl_rest_gate *sl_rest_gate_new(const sl_rest_gate_limits *lim, sl_rest_gate_take_fn take, void *arg) {
    sl_rest_gate *g = sl_calloc(1, sizeof *g);
    g->lim = *lim;
    g->take = take;
    g->take_arg = arg;
    g->wake[0] = g->wake[1] = -1;
    pthread_mutex_init(&g->lock, NULL);
    return g;
}

int sl_rest_gate_listen(sl_rest_gate *g, int fd, bool tls) {
    assert(!g->running);
    if (g->nl == SL_REST_LISTENERS_MAX) {
        close(fd);
        return -1;
    }
    g->l[g->nl] = (listener){fd, tls, 0};
    return g->nl++;
}

/* ---- refusing ---- */

/* Answers 503 (plain http) and lingers, or closes (TLS). Gate thread. */
static void refuse(sl_rest_gate *g, const listener *l, int fd, const char *host, const char *why) {
    if (!l->tls) {
        char msg[300];
        snprintf(msg, sizeof msg, "Too many connections: %s; retry later", why);
        sl_rest_resp r;
        memset(&r, 0, sizeof r);
        sl_buf_init(&r.body);
        sl_rest_api_error(&r, 503, msg);
        sl_buf out;
        sl_buf_init(&out);
        sl_buf_printf(&out,
                      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Retry-After: %d\r\nConnection: close\r\n\r\n",
                      r.content_type, r.body.len, RETRY_AFTER_S);
        sl_buf_put(&out, r.body.data, r.body.len);
        /* A fresh socket's send buffer takes it whole. */
        (void)!send(fd, out.data, out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        sl_buf_free(&out);
        sl_buf_free(&r.body);
        shutdown(fd, SHUT_WR);
    }
    if (!l->tls && g->nlinger < LINGER_MAX) g->linger[g->nlinger++] = (lingering){fd, sl_mono_ms() + LINGER_MS};
    else close(fd);
    sl_log_limited(&g->refused_log, SL_LOG_WARN, "http", "REST connection from %s refused%s: %s", host,
                   l->tls ? "" : " with 503", why);
}

/* Reads and drops what refused clients still send; closes those that closed or lingered long enough. */
static void linger_drain(sl_rest_gate *g, const struct pollfd *p, int64_t now) {
    char buf[4096];
    int k = 0;
    for (int i = 0; i < g->nlinger; i++) {
        lingering *x = &g->linger[i];
        bool done = now >= x->until;
        if (!done && p && p[i].revents) {
            ssize_t n = 0;
            for (int r = 0; r < 16 && (n = recv(x->fd, buf, sizeof buf, MSG_DONTWAIT)) > 0; r++) {}
            done = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        }
        if (done) close(x->fd);
        else g->linger[k++] = *x;
    }
    g->nlinger = k;
}

/* ---- admitting ---- */

static void unlink_conn(sl_rest_gate *g, sl_rest_gate_conn *c) {
    for (sl_rest_gate_conn **pp = &g->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            g->nconns--;
            return;
        }
}

/* Admits fd (an entry, handed over) or refuses it. Gate thread. */
static void admit(sl_rest_gate *g, int li, int fd, const struct sockaddr_storage *ss, socklen_t sslen) {
    char host[INET6_ADDRSTRLEN];
    addr_key key = key_of((const struct sockaddr *)ss, host, sizeof host);
    char why[200] = "";
    pthread_mutex_lock(&g->lock);
    /* An entry never opened with this descriptor is stale: the library closed it without telling. */
    for (sl_rest_gate_conn *c = g->conns, *next; c; c = next) {
        next = c->next;
        if (c->fd == fd && !c->opened) {
            unlink_conn(g, c);
            sl_free(c);
        }
    }
    int same = 0;
    for (sl_rest_gate_conn *c = g->conns; c; c = c->next) same += memcmp(&c->key, &key, sizeof key) == 0;
    if (g->nconns >= g->lim.max_conns)
        snprintf(why, sizeof why, "%d connections are open (rest.connections.max)", g->nconns);
    else if (same >= g->lim.max_per_addr)
        snprintf(why, sizeof why, "%d connections from %s are open (rest.connections.max.per.address)", same, host);
    else {
        sl_rest_gate_conn *c = sl_calloc(1, sizeof *c);
        c->fd = fd;
        c->key = key;
        c->phase = SL_GATE_HEADERS;
        c->deadline = sl_mono_ms() + g->lim.header_ms;
        snprintf(c->host, sizeof c->host, "%s", host);
        c->next = g->conns;
        g->conns = c;
        g->nconns++;
    }
    pthread_mutex_unlock(&g->lock);
    if (why[0]) refuse(g, &g->l[li], fd, host, why);
    else g->take(g->take_arg, li, fd, (const struct sockaddr *)ss, sslen);
}

static void accept_some(sl_rest_gate *g, int li, int64_t now) {
    listener *l = &g->l[li];
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(g, li, fd, &ss, sslen);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) { /* EMFILE, ENFILE, ENOBUFS: try again a little later */
            sl_log_limited(&g->refused_log, SL_LOG_WARN, "http", "cannot accept REST connections: %s",
                           strerror(errno));
            l->paused_until = now + ACCEPT_PAUSE_MS;
        }
        return;
    }
}

/* Shuts down the opened connections past their deadline, drops the entries never opened by theirs. Returns
 * the next deadline (at most now + TICK_MS). Gate thread. */
static int64_t sweep(sl_rest_gate *g, int64_t now) {
    int64_t next = now + TICK_MS;
    pthread_mutex_lock(&g->lock);
    for (sl_rest_gate_conn *c = g->conns, *nx; c; c = nx) {
        nx = c->next;
        if (!c->deadline || c->cut) continue;
        if (c->deadline > now) {
            if (c->deadline < next) next = c->deadline;
            continue;
        }
        if (!c->opened) {
            unlink_conn(g, c);
            sl_free(c);
            continue;
        }
        /* The HTTP side's thread sees the end of the stream and closes the connection. */
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
        bool body = c->phase == SL_GATE_BODY;
        if (c->kept_alive && !body) { /* most likely idle, as a keep-alive timeout closes it anywhere */
            SL_DEBUG("http", "REST connection from %s closed: no further request within %lld ms "
                     "(rest.request.header.timeout.ms)", c->host, (long long)g->lim.header_ms);
            continue;
        }
        sl_log_limited(&g->cut_log[body], SL_LOG_WARN, "http",
                       "REST connection from %s closed: its request %s not in within %lld ms (%s)", c->host,
                       body ? "body was" : "headers were", (long long)(body ? g->lim.body_ms : g->lim.header_ms),
                       body ? "rest.request.body.timeout.ms" : "rest.request.header.timeout.ms");
    }
    pthread_mutex_unlock(&g->lock);
    return next;
}

static void *gate_main(void *arg) {
    sl_rest_gate *g = arg;
    struct pollfd p[1 + SL_REST_LISTENERS_MAX + LINGER_MAX];
    int lidx[SL_REST_LISTENERS_MAX];
    for (;;) {
        int64_t now = sl_mono_ms();
        int64_t next = sweep(g, now);
        int n = 0, nlis = 0;
        p[n++] = (struct pollfd){g->wake[0], POLLIN, 0};
        for (int i = 0; i < g->nl; i++) {
            if (g->l[i].paused_until > now) {
                if (g->l[i].paused_until < next) next = g->l[i].paused_until;
                continue;
            }
            lidx[nlis++] = i;
            p[n++] = (struct pollfd){g->l[i].fd, POLLIN, 0};
        }
        int first_linger = n;
        for (int i = 0; i < g->nlinger; i++) {
            p[n++] = (struct pollfd){g->linger[i].fd, POLLIN, 0};
            if (g->linger[i].until < next) next = g->linger[i].until;
        }
        int rc = poll(p, (nfds_t)n, (int)(next > now ? next - now : 0));
        if (rc < 0 && errno != EINTR) SL_ERR("http", "REST API: poll: %s", strerror(errno));
        if (rc < 0) continue;
        if (p[0].revents) break;
        now = sl_mono_ms();
        linger_drain(g, p + first_linger, now); /* before accepting: refuse() appends to the list */
        for (int i = 0; i < nlis; i++)
            if (p[1 + i].revents) accept_some(g, lidx[i], now);
    }
    return NULL;
}

int sl_rest_gate_start(sl_rest_gate *g, char *errstr, size_t errsz) {
    if (pipe2(g->wake, O_CLOEXEC) < 0) {
        snprintf(errstr, errsz, "REST API: pipe: %s", strerror(errno));
        return -1;
    }
    int rc = pthread_create(&g->thread, NULL, gate_main, g);
    if (rc != 0) {
        snprintf(errstr, errsz, "REST API: cannot start its thread: %s", strerror(rc));
        return -1;
    }
    g->running = true;
    return 0;
}

void sl_rest_gate_stop(sl_rest_gate *g) {
    if (g->running) {
        (void)!write(g->wake[1], "x", 1);
        pthread_join(g->thread, NULL);
        g->running = false;
    }
    for (int i = 0; i < g->nl; i++) close(g->l[i].fd);
    g->nl = 0;
    for (int i = 0; i < g->nlinger; i++) close(g->linger[i].fd);
    g->nlinger = 0;
    for (int i = 0; i < 2; i++)
        if (g->wake[i] >= 0) close(g->wake[i]), g->wake[i] = -1;
    unsigned long refused = sl_log_limit_take(&g->refused_log);
    unsigned long cut = sl_log_limit_take(&g->cut_log[0]) + sl_log_limit_take(&g->cut_log[1]);
    if (refused || cut)
        SL_WARN("http", "REST API: %lu more refused and %lu more timed-out connections were not logged", refused, cut);
}

void sl_rest_gate_destroy(sl_rest_gate *g) {
    if (!g) return;
    sl_rest_gate_stop(g);
    while (g->conns) {
        sl_rest_gate_conn *c = g->conns;
        g->conns = c->next;
        sl_free(c);
    }
    pthread_mutex_destroy(&g->lock);
    sl_free(g);
}

/* ---- the HTTP side's hooks ---- */

sl_rest_gate_conn *sl_rest_gate_opened(sl_rest_gate *g, int fd) {
    sl_rest_gate_conn *found = NULL;
    pthread_mutex_lock(&g->lock);
    for (sl_rest_gate_conn *c = g->conns; c && !found; c = c->next)
        if (c->fd == fd && !c->opened) found = c;
    if (found) found->opened = true;
    pthread_mutex_unlock(&g->lock);
    return found;
}

void sl_rest_gate_set_phase(sl_rest_gate *g, sl_rest_gate_conn *c, sl_rest_gate_phase ph) {
    if (!c) return;
    int64_t now = sl_mono_ms();
    pthread_mutex_lock(&g->lock);
    c->phase = ph;
    c->kept_alive |= ph == SL_GATE_HEADERS;
    c->deadline = ph == SL_GATE_HEADERS ? now + g->lim.header_ms : ph == SL_GATE_BODY ? now + g->lim.body_ms : 0;
    pthread_mutex_unlock(&g->lock);
}

void sl_rest_gate_closed(sl_rest_gate *g, sl_rest_gate_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&g->lock);
    unlink_conn(g, c);
    pthread_mutex_unlock(&g->lock);
    sl_free(c);
}
