/* Ordered range readers (see ranges.h): per range a queue of blocks, taken by the consumer in range order. */
#include "util/ranges.h"
#include "util/mem.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct rblock {
    struct rblock *next;
    size_t len, cap;
    char *data;
} rblock;

typedef struct range {
    rblock *head, *tail;
    int queued;
    bool done; /* its reader is through: no block follows the queued ones */
    void *arg;
} range;

struct sl_ranges {
    pthread_mutex_t mu;
    pthread_cond_t cv_main, cv_read; /* the consumer waits on cv_main, the readers on cv_read */
    int n, nstarted;
    pthread_t *th;
    void **readers;
    sl_range_fn *fn;
    /* the job */
    void *job;
    range *r;
    int nranges, cap; /* ranges known so far */
    bool open;        /* more may be added */
    void (*free_arg)(void *);
    int next;   /* the next range a reader starts */
    int taking; /* the range the consumer takes: none starts a range more than n past it */
    int busy;   /* readers in fn */
    bool stop;
    char err[640];
    rblock *held; /* the block the consumer was given last */
};

struct sl_range_out {
    sl_ranges *p;
    int k;
    rblock *b;
    bool said; /* an open job's range said whether one follows */
};

static void block_free(rblock *b) {
    if (b) sl_free(b->data), sl_free(b);
}

/* Queues b on range k, waiting while the range has its blocks queued; false when stopping (b freed). */
static bool push(sl_ranges *p, int k, rblock *b) {
    pthread_mutex_lock(&p->mu);
    while (p->r[k].queued >= SL_RANGE_BLOCKS && !p->stop) pthread_cond_wait(&p->cv_read, &p->mu);
    bool ok = !p->stop;
    if (ok) {
        range *r = &p->r[k];
        if (r->tail) r->tail->next = b;
        else r->head = b;
        r->tail = b;
        r->queued++;
        pthread_cond_signal(&p->cv_main);
    }
    pthread_mutex_unlock(&p->mu);
    if (!ok) block_free(b);
    return ok;
}

char *sl_range_room(sl_range_out *o, size_t need) {
    rblock *b = o->b;
    if (b && b->len + need > b->cap) {
        o->b = NULL;
        if (!push(o->p, o->k, b)) return NULL;
        b = NULL;
    }
    if (__atomic_load_n(&o->p->stop, __ATOMIC_RELAXED)) return NULL; /* unlocked: a late look costs a block */
    if (!b) {
        b = o->b = sl_calloc(1, sizeof *b);
        b->cap = need > SL_RANGE_BLOCK_BYTES ? need : SL_RANGE_BLOCK_BYTES;
        b->data = sl_malloc(b->cap);
    }
    char *at = b->data + b->len;
    b->len += need;
    return at;
}

static void grow(sl_ranges *p, int need) {
    if (need <= p->cap) return;
    int cap = p->cap ? p->cap : 16;
    while (cap < need) cap *= 2;
    p->r = sl_realloc(p->r, sizeof *p->r * (size_t)cap);
    memset(p->r + p->cap, 0, sizeof *p->r * (size_t)(cap - p->cap));
    p->cap = cap;
}

void sl_range_add(sl_range_out *o, void *arg) {
    sl_ranges *p = o->p;
    pthread_mutex_lock(&p->mu);
    if (p->open && !o->said && o->k == p->nranges - 1) {
        grow(p, p->nranges + 1);
        p->r[p->nranges++].arg = arg;
        arg = NULL;
        pthread_cond_broadcast(&p->cv_read);
        pthread_cond_broadcast(&p->cv_main);
    }
    o->said = true;
    pthread_mutex_unlock(&p->mu);
    if (arg && p->free_arg) p->free_arg(arg); /* not an open job's newest range: nothing to add */
}

void sl_range_last(sl_range_out *o) {
    sl_ranges *p = o->p;
    pthread_mutex_lock(&p->mu);
    if (p->open && !o->said && o->k == p->nranges - 1) {
        p->open = false;
        pthread_cond_broadcast(&p->cv_read);
        pthread_cond_broadcast(&p->cv_main);
    }
    o->said = true;
    pthread_mutex_unlock(&p->mu);
}

static void set_error(sl_ranges *p, const char *msg) {
    if (!p->err[0]) snprintf(p->err, sizeof p->err, "%s", msg);
    __atomic_store_n(&p->stop, true, __ATOMIC_RELAXED); /* read unlocked by sl_range_room */
    pthread_cond_broadcast(&p->cv_main);
    pthread_cond_broadcast(&p->cv_read);
}

int sl_range_fail(sl_range_out *o, const char *fmt, ...) {
    char m[sizeof o->p->err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&o->p->mu);
    set_error(o->p, m);
    pthread_mutex_unlock(&o->p->mu);
    return -1;
}

static void *reader_main(void *arg) {
    void **slot = arg;
    sl_ranges *p = slot[0];
    void *reader = slot[1];
    sl_free(slot);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && (p->next >= p->nranges || p->next > p->taking + p->n)) pthread_cond_wait(&p->cv_read, &p->mu);
        if (p->stop) break;
        sl_range_out o = {.p = p, .k = p->next++};
        void *job = p->job, *rarg = p->r[o.k].arg;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        int rc = p->fn(reader, job, o.k, rarg, &o);
        bool ok = rc == 0 && (!o.b || push(p, o.k, o.b));
        if (rc != 0) block_free(o.b);
        pthread_mutex_lock(&p->mu);
        if (rc != 0 && !p->stop) set_error(p, "a range reader failed");
        if (ok && p->open && !o.said && o.k == p->nranges - 1) { /* said nothing: the last */
            p->open = false;
            pthread_cond_broadcast(&p->cv_read);
        }
        if (ok) p->r[o.k].done = true;
        p->busy--;
        pthread_cond_broadcast(&p->cv_main);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

sl_ranges *sl_ranges_start(int n, void *const *readers, sl_range_fn *fn, const char *name) {
    sl_ranges *p = sl_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_main, NULL);
    pthread_cond_init(&p->cv_read, NULL);
    p->n = n;
    p->fn = fn;
    p->th = sl_calloc((size_t)n, sizeof *p->th);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* the readers inherit a mask that blocks everything */
    for (; p->nstarted < n; p->nstarted++) {
        void **slot = sl_malloc(2 * sizeof *slot);
        slot[0] = p, slot[1] = readers[p->nstarted];
        if (pthread_create(&p->th[p->nstarted], NULL, reader_main, slot) != 0) {
            sl_free(slot);
            break;
        }
        char tn[16];
        snprintf(tn, sizeof tn, "%s", name ? name : "sl-range");
        pthread_setname_np(p->th[p->nstarted], tn);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nstarted < n) {
        sl_ranges_end(p);
        return NULL;
    }
    return p;
}

/* Frees the job's blocks and arguments. Under mu, with no reader in the job. */
static void drop_job(sl_ranges *p) {
    for (int k = 0; k < p->nranges; k++) {
        for (rblock *b = p->r[k].head, *nb; b; b = nb) nb = b->next, block_free(b);
        if (p->r[k].arg && p->free_arg) p->free_arg(p->r[k].arg);
    }
    if (p->r) memset(p->r, 0, sizeof *p->r * (size_t)p->cap);
    p->nranges = p->next = p->taking = 0;
    p->open = false;
}

void sl_ranges_end(sl_ranges *p) {
    if (!p) return;
    sl_ranges_stop(p);
    for (int i = 0; i < p->nstarted; i++) pthread_join(p->th[i], NULL);
    drop_job(p);
    block_free(p->held);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_main);
    pthread_cond_destroy(&p->cv_read);
    sl_free(p->r);
    sl_free(p->th);
    sl_free(p);
}

void sl_ranges_job(sl_ranges *p, void *job, int nranges, bool open, void (*free_arg)(void *)) {
    block_free(p->held);
    p->held = NULL;
    pthread_mutex_lock(&p->mu);
    drop_job(p);
    grow(p, nranges > 0 ? nranges : 1);
    p->job = job;
    p->nranges = nranges > 0 ? nranges : 0;
    p->open = open && nranges > 0;
    p->free_arg = free_arg;
    pthread_cond_broadcast(&p->cv_read);
    pthread_mutex_unlock(&p->mu);
}

int sl_ranges_take(sl_ranges *p, int k, const char **data, size_t *len) {
    block_free(p->held);
    p->held = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->taking != k) {
        p->taking = k;
        pthread_cond_broadcast(&p->cv_read);
    }
    int rc;
    for (;;) {
        if (p->stop) {
            rc = -1;
            break;
        }
        if (k >= p->nranges) {
            if (!p->open) {
                rc = 2;
                break;
            }
        } else if (p->r[k].head) {
            range *r = &p->r[k];
            p->held = r->head;
            r->head = r->head->next;
            if (!r->head) r->tail = NULL;
            r->queued--;
            pthread_cond_broadcast(&p->cv_read);
            *data = p->held->data, *len = p->held->len;
            rc = 1;
            break;
        } else if (p->r[k].done) {
            rc = 0;
            break;
        }
        pthread_cond_wait(&p->cv_main, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void *sl_ranges_arg(sl_ranges *p, int k) {
    pthread_mutex_lock(&p->mu);
    void *a = k >= 0 && k < p->nranges ? p->r[k].arg : NULL;
    pthread_mutex_unlock(&p->mu);
    return a;
}

void sl_ranges_stop(sl_ranges *p) {
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->stop, true, __ATOMIC_RELAXED); /* read unlocked by sl_range_room */
    pthread_cond_broadcast(&p->cv_read);
    pthread_cond_broadcast(&p->cv_main);
    while (p->busy) pthread_cond_wait(&p->cv_main, &p->mu); /* the job may go once no reader is in it */
    pthread_mutex_unlock(&p->mu);
}

const char *sl_ranges_error(sl_ranges *p) { return p->err; }
