/*
 * sluice migrate: a module's SQL -> MongoDB migration as a declarative plan
 * (docs/migration.md) that sluice runs phase by phase, checkpoints, resumes
 * after a crash and can roll back.
 *
 * The plan (JSON) names the forward connector (e.g. PostgreSQL orders +
 * order_items -> MongoDB with embed), the reverse one (MongoDB -> the same
 * tables with unembed, the inverse mapping) and the phases in their fixed
 * order, each with its gates:
 *
 *   sync     forward runs (snapshot, then changes); gate: snapshot done, lag
 *            below a bound for a duration
 *   verify   sluice verify through the forward mapping, with rechecks; gate:
 *            differences at most a bound
 *   shadow   the application reads MongoDB; verify runs again and again;
 *            gate: differences at most a bound over a window, and an
 *            operator's approval when asked (`sluice migrate approve`)
 *   cutover  writes move to MongoDB: forward runs to the source's position,
 *            stops, MongoDB's operation time is recorded and reverse starts
 *            there; gate: reverse lag below a bound for a duration
 *   done     both directions stay as they are until `sluice migrate finish`
 *            stops them and records a last verify
 *
 * The state (phase, each step of a cutover or rollback that has happened,
 * approvals, the last gate values) is a JSON file written atomically at each
 * step, so that `sluice migrate run` killed in any phase resumes there. The
 * commands approve / rollback / finish leave a request file beside the state
 * that the runner takes up (at once, or when it next runs). The two
 * connectors get replication origins (and skipped origins) of their own
 * unless the plan sets them, so that neither sends the other's writes back.
 *
 * Thread: the runner is one thread; the connectors run their own.
 */
#ifndef SL_MIGRATE_MIGRATE_H
#define SL_MIGRATE_MIGRATE_H
#include <signal.h>

#include "core/conf.h"
#include <jansson.h>

/* ---- a plan run by the daemon (sluice serve's migration.plans) ---- */

typedef struct sl_migration sl_migration;

/* Reads and checks the plan at path (touches no database); NULL with every problem in errs. */
sl_migration *sl_migration_open(const char *path, sl_errs *errs);
/* Runs the plan on a thread of its own (as `sluice migrate run`); 0, or -1 with errstr. */
int sl_migration_start(sl_migration *m, char *errstr, size_t errsz);
/* Stops the run (its connectors drain and commit, the state is kept) and frees m. */
void sl_migration_free(sl_migration *m);
const char *sl_migration_name(const sl_migration *m);
/* The state as the state file has it ({"plan", "phase": "not started"} before the first run), plus "running"
 * and "plan_file". A new reference. */
json_t *sl_migration_state(sl_migration *m);
/* Asks the run for approve, rollback or finish (as the commands do). 0, or -1 with why (not in a phase that takes
 * it, ...). */
int sl_migration_request(sl_migration *m, const char *cmd, char *errstr, size_t errsz);

/* `sluice migrate COMMAND PLAN`: argv[0] is the command (run, status, validate, approve, rollback, finish).
 * stop: set (by a signal) to end `run` (connectors stopped cleanly, state kept). Exit codes as the CLI's. */
int sl_migrate_main(int argc, char **argv, volatile sig_atomic_t *stop);

#endif
