/* Ordered fork-join pool (see par.h): a generation counter wakes the helpers, parts are taken in index order. */
#include "util/par.h"
#include "util/mem.h"
#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

struct sl_par {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int nthreads;
    pthread_t *th;
    uint64_t gen; /* bumped by each run */
    bool quit;
    sl_par_fn *fn;
    void *arg;
    int parts, next, running;
    bool finished[SL_PAR_MAX_PARTS];
};

/* Runs part i on this thread; called and returns with mu held. */
static void run_one(sl_par *p, int i) {
    p->running++;
    pthread_mutex_unlock(&p->mu);
    p->fn(p->arg, i);
    pthread_mutex_lock(&p->mu);
    p->finished[i] = true;
    p->running--;
    pthread_cond_broadcast(&p->done);
}

static void *helper_main(void *a) {
    sl_par *p = a;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && (p->gen == seen || p->next >= p->parts)) {
            if (p->gen != seen) seen = p->gen; /* a run with nothing left to take */
            pthread_cond_wait(&p->go, &p->mu);
        }
        if (p->quit) break;
        run_one(p, p->next++);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

sl_par *sl_par_new(int helpers, const char *name) {
    if (helpers <= 0) return NULL;
    sl_par *p = sl_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->th = sl_calloc((size_t)helpers, sizeof *p->th);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* the helpers inherit a mask that blocks everything */
    for (; p->nthreads < helpers; p->nthreads++) {
        if (pthread_create(&p->th[p->nthreads], NULL, helper_main, p) != 0) break;
        char n[16];
        snprintf(n, sizeof n, "%s", name ? name : "sl-par");
        pthread_setname_np(p->th[p->nthreads], n);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nthreads == 0) {
        sl_par_destroy(p);
        return NULL;
    }
    return p;
}

void sl_par_destroy(sl_par *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++) pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    sl_free(p->th);
    sl_free(p);
}

int sl_par_width(const sl_par *p) { return p ? p->nthreads + 1 : 1; }

void sl_par_start(sl_par *p, int parts, sl_par_fn *fn, void *arg) {
    assert(p && parts <= SL_PAR_MAX_PARTS);
    pthread_mutex_lock(&p->mu);
    p->fn = fn, p->arg = arg, p->parts = parts, p->next = 0;
    for (int i = 0; i < parts; i++) p->finished[i] = false;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
}

void sl_par_wait(sl_par *p, int i) {
    pthread_mutex_lock(&p->mu);
    /* Rather than sleep while a helper has part i, the caller takes the next part nobody has taken. */
    while (!p->finished[i]) {
        if (p->next < p->parts) run_one(p, p->next++);
        else pthread_cond_wait(&p->done, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

void sl_par_finish(sl_par *p) {
    pthread_mutex_lock(&p->mu);
    p->parts = p->next; /* nobody takes another part */
    while (p->running) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void sl_par_run(sl_par *p, int parts, sl_par_fn *fn, void *arg) {
    if (!p) {
        for (int i = 0; i < parts; i++) fn(arg, i);
        return;
    }
    sl_par_start(p, parts, fn, arg);
    for (int i = 0; i < parts; i++) sl_par_wait(p, i);
    sl_par_finish(p);
}

int sl_par_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}
