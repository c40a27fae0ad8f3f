/*
 * A small fork-join pool for work cut into ordered parts. sl_par_start(p,
 * parts, fn, arg) has the pool's helper threads run fn(arg, i) for the parts
 * i = 0, 1, ... in that order of taking; the caller consumes them in order
 * with sl_par_wait(p, i), which until part i is done runs the next part nobody
 * has taken (part i itself, if no helper has taken it yet), so the caller works
 * instead of waiting and uses part i while the helpers go on with later ones. sl_par_finish ends the run: parts nobody has
 * taken are dropped, those under way are waited for. Parts must not depend on
 * each other.
 *
 * Thread: one caller at a time per pool (the thread that owns it, e.g. a
 * sink thread). The helpers block every signal and sleep between runs.
 */
#ifndef SL_UTIL_PAR_H
#define SL_UTIL_PAR_H
#include <stdbool.h>

typedef struct sl_par sl_par;
typedef void sl_par_fn(void *arg, int part);

/* A pool of `helpers` threads named `name` (15 characters are shown); NULL when helpers <= 0 or no thread can
 * be started (sl_par_run then runs every part on the caller; start/wait/finish need a pool). */
sl_par *sl_par_new(int helpers, const char *name);
void sl_par_destroy(sl_par *p);
/* Threads that work on a run: the helpers and the caller (1 for NULL). */
int sl_par_width(const sl_par *p);
/* At most SL_PAR_MAX_PARTS parts. */
enum { SL_PAR_MAX_PARTS = 64 };
/* Starts a run of parts (at most SL_PAR_MAX_PARTS) on p (not NULL). */
void sl_par_start(sl_par *p, int parts, sl_par_fn *fn, void *arg);
/* Part i has run (on a helper or here) when this returns; parts before i need not have been waited for. */
void sl_par_wait(sl_par *p, int i);
void sl_par_finish(sl_par *p);
/* sl_par_start, then every part waited for, then sl_par_finish; every part on the caller for a NULL pool. */
void sl_par_run(sl_par *p, int parts, sl_par_fn *fn, void *arg);
/* Cores this process may run on (sched_getaffinity), at least 1. */
int sl_par_cores(void);

#endif
