/*
 * /metrics: the Prometheus text exposition (format 0.0.4) of the process and
 * its connectors. The renderer is a pure function of what the caller copied
 * out of the connectors (sl_connector_get_metrics) plus a few reads of
 * /proc/self, so the REST thread can call it without holding any lock of the
 * runtime. The metric names are the SL_M_* defines below: `sluice status`
 * (src/cli/status.c) reads the same names back, and docs/metrics.md lists
 * every one.
 */
#ifndef SL_REST_METRICS_H
#define SL_REST_METRICS_H
#include "runtime/connector.h"
#include "verify/verify.h"
#include "util/buf.h"

/* The content type of what sl_metrics_render writes. */
#define SL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Names the status command reads back (the renderer writes many more). */
#define SL_M_RECORDS_READ "sluice_connector_records_read_total"
#define SL_M_RECORDS_WRITTEN "sluice_connector_records_written_total"
#define SL_M_SOURCE_LAG_MS "sluice_connector_source_lag_milliseconds"
#define SL_M_BEHIND_BYTES "sluice_connector_source_behind_bytes"
#define SL_M_BEHIND_RECORDS "sluice_connector_source_behind_records"
#define SL_M_STATE "sluice_connector_state"
#define SL_M_INFO "sluice_connector_info"
#define SL_M_SLOT_RETAINED "sluice_connector_slot_retained_wal_bytes"
#define SL_M_SLOT_RETAINED_WARN "sluice_connector_slot_retained_wal_warn_bytes"
#define SL_M_SNAPSHOT_ROWS "sluice_connector_snapshot_rows"
#define SL_M_SNAPSHOT_ROWS_ESTIMATE "sluice_connector_snapshot_rows_estimate"
#define SL_M_SNAPSHOT_DONE "sluice_connector_snapshot_done"
#define SL_M_SNAPSHOT_CHUNKS "sluice_connector_snapshot_chunks"
#define SL_M_SNAPSHOT_CHUNKS_DONE "sluice_connector_snapshot_chunks_done"

/* The states of sluice_connector_state, in the order they are rendered. */
#define SL_METRICS_NSTATES 5
extern const char *const sl_metrics_states[SL_METRICS_NSTATES];

typedef struct sl_metrics_conn {
    const char *name, *state, *source, *sink; /* state: one of sl_metrics_states */
    const sl_connector_metrics *m;            /* NULL when the connector is not running (STOPPED) */
    const sl_source_retained *retained;       /* what the source's server holds for it (any state); NULL: none */
    const sl_verify_info *verify;             /* its last verify run; NULL: none */
} sl_metrics_conn;

/*
 * Appends the exposition of the process (memory, CPU, uptime, build) and of
 * these n connectors to out. Every family has its # HELP and # TYPE once,
 * also when no connector has a sample for it. Reads the conns only; any
 * thread.
 */
void sl_metrics_render(sl_buf *out, const sl_metrics_conn *conns, int n);

/* Appends the families of the sluice migrate plans a daemon runs: states[i] is the i-th plan's state (its state
 * file's JSON, sl_migration_state). */
void sl_metrics_render_migrations(sl_buf *out, struct json_t *const *states, int n);

/* Appends v as an exposition label value: \ " and newline escaped. */
void sl_metrics_put_label_value(sl_buf *out, const char *v);
/* Distributed mode: the worker's task slots (owned of total), its rebalances, and which worker runs each task of
 * each connector (names[i], tasks[i]; workers[i]: its worker id, "" not known). */
void sl_metrics_render_group(sl_buf *out, const char *worker_id, int owned, int total, uint64_t rebalances,
                             const char *const *names, const int *tasks, const char *const *workers, int n);

#endif
